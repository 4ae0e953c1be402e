// This PAC file will provide proxy config to Microsoft 365 services
//  using data from the public web service for all endpoints
function FindProxyForURL(url, host)
{
    var direct = "DIRECT";
    var proxyServer = "PROXY 10.0.0.2:3128";

    host = host.toLowerCase();

    if(shExpMatch(host, "*.sharepoint.com")
        || shExpMatch(host, "outlook.cloud.microsoft")
        || shExpMatch(host, "outlook.office.com")
        || shExpMatch(host, "outlook.office365.com"))
    {
        return direct;
    }

    return proxyServer;
}
