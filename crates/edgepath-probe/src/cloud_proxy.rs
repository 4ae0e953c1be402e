//! The cloud security service (SSE/SASE) in the path, named for `check`'s report from
//! the evidence it already has: the issuers of intercepted service certificates first
//! (the strongest: that CA broke the TLS), then a tunnel adapter Teams media is routed
//! through that only one vendor's client makes, then the proxy probed, then every proxy
//! the PAC names. Which marks name which vendor is the model's (`edgepath_model::vendor`).

use edgepath_model::pac_answer::{parse_answer, PacChoice};
use edgepath_model::vendor::{self, Evidence};
use edgepath_model::ProxyVendor;
use serde::Serialize;

use crate::check::ServiceVerdict;
use crate::pac::PacReport;
use crate::proxy::Proxy;
use crate::vpn::RangeRoute;

/// A cloud security service named, by what, and what its vendor advises for Teams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VendorReport {
    /// The vendor.
    pub vendor: ProxyVendor,
    /// Its product, for people.
    pub product: &'static str,
    /// What named it (the interception certificate's issuer, a proxy host).
    pub by: String,
    /// What the vendor documents for Microsoft 365 and Teams media.
    pub advice: &'static str,
    /// Where it documents it.
    pub reference: &'static str,
}

/// The vendor the evidence names, taken in the order the module's opening gives.
fn from_evidence(
    intercepting_issuers: &[&str],
    media_routes: &[&RangeRoute],
    proxy_host: Option<&str>,
    pac: Option<&PacReport>,
) -> Option<VendorReport> {
    let pac_hosts: Vec<String> = pac
        .into_iter()
        .flat_map(|r| &r.answers)
        .flat_map(|a| parse_answer(&a.answer))
        .filter_map(|c| match c {
            PacChoice::Proxy { host, .. } => Some(host),
            _ => None,
        })
        .collect();
    let issuers = intercepting_issuers
        .iter()
        .map(|i| Evidence::InterceptingIssuer(i));
    let tunnels = media_routes.iter().filter_map(|r| {
        Some(Evidence::TunnelAdapter {
            vendor: r.tunnel_kind?.vendor()?,
            interface: r.interface.as_deref().unwrap_or("?"),
        })
    });
    let hosts = proxy_host
        .into_iter()
        .chain(pac_hosts.iter().map(String::as_str))
        .map(Evidence::ProxyHost);
    let found = vendor::recognise(issuers.chain(tunnels).chain(hosts))?;
    let profile = found.vendor.profile();
    Some(VendorReport {
        vendor: found.vendor,
        product: profile.product,
        by: found.by,
        advice: profile.advice,
        reference: profile.reference,
    })
}

/// The vendor named by what `check` saw, if anything names one.
pub fn named(
    services: &[ServiceVerdict],
    media_routes: &[&RangeRoute],
    proxy: Option<&Proxy>,
    pac: Option<&PacReport>,
) -> Option<VendorReport> {
    let intercepting: Vec<&str> = services
        .iter()
        .filter_map(|s| s.tls.as_ref())
        .filter(|t| t.intercepted)
        .filter_map(|t| t.issuer.as_deref())
        .collect();
    from_evidence(
        &intercepting,
        media_routes,
        proxy.map(|p| p.host.as_str()),
        pac,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::TunnelKind;

    /// Intercepting issuers, the proxy's host, the PAC's report: the vendor named.
    type Case<'a> = (
        &'a [&'a str],
        &'a [&'a RangeRoute],
        Option<&'a str>,
        Option<&'a PacReport>,
        Option<ProxyVendor>,
    );

    fn pac_answering(answer: &str) -> PacReport {
        PacReport {
            source: "http://wpad.corp.example/wpad.dat, named by WPAD".into(),
            answers: vec![crate::pac::PacAnswer {
                name: "teams.microsoft.com".into(),
                url: "https://teams.microsoft.com/".into(),
                answer: answer.into(),
                line: Some(3),
                error: None,
                hop: "DIRECT".into(),
            }],
            notes: vec![],
        }
    }

    #[test]
    fn the_vendor_is_named_by_interception_first_then_the_proxy_then_the_pac() {
        let zscaler_pac = pac_answering("PROXY gateway.zscalertwo.net:9400; DIRECT");
        let route = |kind: Option<TunnelKind>| RangeRoute {
            net: "52.112.0.0/14".into(),
            endpoint_set: Some(11),
            media: true,
            interface: Some("Ethernet 3".into()),
            gateway: None,
            tunnel: kind.is_some(),
            tunnel_kind: kind,
            error: None,
        };
        let zscaler_tunnel = route(Some(TunnelKind::Zscaler));
        let other_tunnel = route(Some(TunnelKind::GlobalProtect));
        let cases: [Case<'_>; 9] = [
            (&[], &[], None, None, None),
            (
                &["edgepath Lab Inspection CA"],
                &[],
                Some("10.0.0.2"),
                None,
                None,
            ),
            (
                &[],
                &[],
                None,
                Some(&zscaler_pac),
                Some(ProxyVendor::Zscaler),
            ),
            (
                &[],
                &[],
                Some("eproxy-contoso.goskope.com"),
                Some(&zscaler_pac),
                Some(ProxyVendor::Netskope),
            ),
            (
                &["Cisco Umbrella Secondary SubCA"],
                &[&zscaler_tunnel],
                Some("eproxy-contoso.goskope.com"),
                Some(&zscaler_pac),
                Some(ProxyVendor::CiscoUmbrella),
            ),
            (
                &[],
                &[],
                None,
                Some(&pac_answering("DIRECT; SOCKS5 gateway.zscaler.net:1080")),
                None,
            ),
            // Zscaler Client Connector's adapter carries the media: Zscaler, before
            // any proxy named.
            (
                &[],
                &[&zscaler_tunnel],
                Some("eproxy-contoso.goskope.com"),
                None,
                Some(ProxyVendor::Zscaler),
            ),
            // GlobalProtect's adapter serves firewalls too: no vendor from it.
            (&[], &[&other_tunnel], None, None, None),
            (&[], &[&route(None)], Some("10.0.0.2"), None, None),
        ];
        for (issuers, routes, host, pac, want) in cases {
            let got = from_evidence(issuers, routes, host, pac);
            assert_eq!(got.as_ref().map(|v| v.vendor), want, "{issuers:?} {host:?}");
            if let Some(v) = got {
                assert_eq!(v.reference, v.vendor.profile().reference);
            }
        }
    }
}
