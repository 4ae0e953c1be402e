//! Windows' proxy settings: the user's Internet Settings (what the Internet Options
//! dialog and Group Policy write, and what Teams and Edge WebView2 follow):
//! `ProxyEnable`, `ProxyServer` (one
//! `host:port` for every protocol, or `http=...;https=...` per protocol), `ProxyOverride`
//! (the bypass list: `<local>`, `*.contoso.com`, `10.*`), `AutoConfigURL` (a PAC file)
//! and auto-detection (WPAD). The machine's settings replace the user's when the policy
//! `ProxySettingsPerUser` is 0. Reading the registry is `registry.rs`'s; this module
//! only decides, so its rules are tested on any system.

use super::SystemProxy;
use crate::proxy::Proxy;

/// The values of one `Internet Settings` key that decide the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InternetSettings {
    /// `ProxyEnable` is 1.
    pub proxy_enable: bool,
    /// `ProxyServer`.
    pub proxy_server: Option<String>,
    /// `ProxyOverride`.
    pub proxy_override: Option<String>,
    /// `AutoConfigURL`: a PAC file.
    pub auto_config_url: Option<String>,
    /// "Automatically detect settings" (WPAD), from `Connections\DefaultConnectionSettings`;
    /// `None` where that value is missing (Windows' default is on).
    pub auto_detect: Option<bool>,
}

/// Whether a `DefaultConnectionSettings` value has "Automatically detect settings" on:
/// its flags are the little-endian DWORD at byte 8 (1 direct, 2 proxy, 4 the PAC URL, 8
/// auto-detect). `None` for a value too short to hold them.
pub fn auto_detect_flag(connection_settings: &[u8]) -> Option<bool> {
    let flags = connection_settings.get(8..12)?;
    Some(u32::from_le_bytes([flags[0], flags[1], flags[2], flags[3]]) & 0x08 != 0)
}

/// The proxy for HTTPS from `s`; `source` names where the settings came from (for the
/// report). A malformed `ProxyServer` is an error naming it.
pub fn from_internet_settings(s: &InternetSettings, source: &str) -> Result<SystemProxy, String> {
    let mut out = SystemProxy {
        pac_url: s
            .auto_config_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
        auto_detect: s.auto_detect.unwrap_or(true),
        source: source.to_owned(),
        pac_setting: "AutoConfigURL",
        ..SystemProxy::default()
    };
    if !s.proxy_enable {
        return Ok(out);
    }
    let Some(server) = s
        .proxy_server
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        out.warnings.push(format!(
            "{source}: ProxyEnable is 1 but ProxyServer is empty: direct"
        ));
        return Ok(out);
    };
    let Some(hostport) = https_entry(server) else {
        // Per protocol, and none for HTTPS: WinINet sends HTTPS direct.
        return Ok(out);
    };
    let mut proxy = Proxy::parse(hostport, source)
        .map_err(|e| format!("{source}: ProxyServer `{server}`: {e}"))?;
    proxy.no_proxy = s
        .proxy_override
        .as_deref()
        .unwrap_or_default()
        .split(';')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    out.proxy = Some(proxy);
    Ok(out)
}

/// The `host:port` HTTPS goes to: the whole value when it names no protocol, else the
/// `https=` entry (`None` when there is none).
fn https_entry(server: &str) -> Option<&str> {
    if !server.contains('=') {
        return Some(server);
    }
    server.split(';').find_map(|e| {
        let (proto, hostport) = e.split_once('=')?;
        (proto.trim().eq_ignore_ascii_case("https")).then(|| hostport.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(enable: bool, server: &str, bypass: &str, pac: &str) -> InternetSettings {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        InternetSettings {
            proxy_enable: enable,
            proxy_server: opt(server),
            proxy_override: opt(bypass),
            auto_config_url: opt(pac),
            auto_detect: None,
        }
    }

    #[test]
    fn the_auto_detect_flag_of_default_connection_settings() {
        // As Windows 10 writes them: version 0x46, a counter, then the flags.
        let on = [0x46, 0, 0, 0, 0x05, 0, 0, 0, 0x09, 0, 0, 0, 0, 0, 0, 0];
        let off = [0x46, 0, 0, 0, 0x05, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(auto_detect_flag(&on), Some(true));
        assert_eq!(auto_detect_flag(&off), Some(false));
        assert_eq!(auto_detect_flag(&on[..10]), None);
        let mut s = settings(false, "", "", "");
        assert!(
            from_internet_settings(&s, "x").unwrap().auto_detect,
            "Windows' default"
        );
        s.auto_detect = Some(false);
        assert!(!from_internet_settings(&s, "x").unwrap().auto_detect);
    }

    #[test]
    fn the_https_proxy_and_its_bypass_list() {
        type Case<'a> = (InternetSettings, Option<(&'a str, u16)>, usize);
        let cases: &[Case<'_>] = &[
            (
                settings(true, "10.0.0.2:3128", "", ""),
                Some(("10.0.0.2", 3128)),
                0,
            ),
            (settings(false, "10.0.0.2:3128", "", ""), None, 0),
            // Per protocol: HTTPS's entry, or direct when it has none.
            (
                settings(true, "http=web:80;https=secure:8443;ftp=f:21", "", ""),
                Some(("secure", 8443)),
                0,
            ),
            (settings(true, "http=web:80;ftp=f:21", "", ""), None, 0),
            // No port: 8080, as for HTTPS_PROXY.
            (
                settings(true, "proxy.contoso.com", "", ""),
                Some(("proxy.contoso.com", 8080)),
                0,
            ),
            (settings(true, "", "", ""), None, 1),
            // A PAC file beside the static proxy: both kept (the PAC first, the
            // static proxy where it cannot be had).
            (
                settings(true, "10.0.0.2:3128", "", "http://wpad/wpad.dat"),
                Some(("10.0.0.2", 3128)),
                0,
            ),
            (settings(false, "", "", "http://wpad/wpad.dat"), None, 0),
        ];
        for (s, want, warnings) in cases {
            let got = from_internet_settings(s, "Internet Settings").unwrap();
            assert_eq!(
                got.proxy.as_ref().map(|p| (p.host.as_str(), p.port)),
                *want,
                "{s:?}"
            );
            assert_eq!(got.warnings.len(), *warnings, "{s:?}: {:?}", got.warnings);
            assert_eq!(got.pac_url, s.auto_config_url, "{s:?}");
        }
        let bad = settings(true, "https://proxy:3128", "", "");
        let err = from_internet_settings(&bad, "Internet Settings").unwrap_err();
        assert!(err.contains("ProxyServer `https://proxy:3128`"), "{err}");
    }

    #[test]
    fn bypass_entries_as_wininet_reads_them() {
        let s = settings(
            true,
            "10.0.0.2:3128",
            "<local>; *.contoso.com;10.*;Login.Example.net",
            "",
        );
        let p = from_internet_settings(&s, "Internet Settings")
            .unwrap()
            .proxy
            .unwrap();
        let cases = [
            ("intranet", true),
            ("portal.contoso.com", true),
            ("contoso.com", false),
            ("10.1.2.3", true),
            ("110.1.2.3", false),
            ("login.example.net", true),
            ("teams.microsoft.com", false),
            ("52.112.0.1", false),
        ];
        for (host, bypassed) in cases {
            assert_eq!(p.bypasses(host), bypassed, "{host}");
        }
    }
}
