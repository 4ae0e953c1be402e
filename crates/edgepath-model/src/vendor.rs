//! The cloud security services (SSE/SASE) `check` can name, from what it already sees:
//! the issuer of a certificate that intercepted TLS, and the host names of the proxies
//! the client is told to use (the proxy setting, the PAC's answers). Every mark is one
//! the vendor documents (the name of the CA it signs intercepted certificates with, the
//! host names of its proxies); anything else stays unknown, never guessed from a likeness.
//! What each vendor advises for Teams media, and where it says so: docs/vendors.md.

use crate::vocab::ProxyVendor;

/// What is known of one vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorProfile {
    /// The vendor.
    pub vendor: ProxyVendor,
    /// Its product's name, for people.
    pub product: &'static str,
    /// Word sequences (lowercase) in the name of the CA that signs the certificates it
    /// intercepts with; a word with a dot is a DNS suffix (`goskope.com` matches
    /// `ca.contoso.goskope.com`).
    pub issuer_marks: &'static [&'static str],
    /// DNS suffixes of its proxy hosts.
    pub host_suffixes: &'static [&'static str],
    /// What the vendor documents for Microsoft 365 and Teams media.
    pub advice: &'static str,
    /// Where it documents it.
    pub reference: &'static str,
}

/// Every vendor `check` recognises, with its marks.
pub const VENDORS: &[VendorProfile] = &[
    VendorProfile {
        vendor: ProxyVendor::Zscaler,
        product: "Zscaler Internet Access",
        // Its root, "Zscaler Root CA", and intermediates such as
        // "Zscaler Intermediate Root CA (zscalertwo.net)".
        issuer_marks: &["zscaler"],
        // The Zscaler clouds a PAC or proxy setting names (gateway.<cloud>).
        host_suffixes: &[
            "zscaler.net",
            "zscalerone.net",
            "zscalertwo.net",
            "zscalerthree.net",
            "zscloud.net",
            "zscalerbeta.net",
            "zscalergov.net",
            "zscalerten.net",
            "zspreview.net",
        ],
        advice: "in ZIA's SSL inspection policy select \"M365 Exempted\" (Microsoft's \
                 recommended setting: no SSL inspection of Microsoft 365), and let Teams \
                 media to the Optimize ranges (UDP 3478-3481) leave directly, outside \
                 the Zscaler tunnel and PAC, as Microsoft advises for Optimize",
        reference: "https://help.zscaler.com/unified/reviewing-ssl-inspection",
    },
    VendorProfile {
        vendor: ProxyVendor::Netskope,
        product: "Netskope Secure Web Gateway",
        // Netskope Inc's CA, "ca.<tenant>.goskope.com".
        issuer_marks: &["netskope", "goskope.com"],
        host_suffixes: &["goskope.com"],
        advice: "add a steering exception for Microsoft Teams (Steering Configuration > \
                 Exceptions: the application, or the Optimize ranges as a destination \
                 location) so its media goes directly, or at least an SSL decryption \
                 bypass for Microsoft Teams (Policies > SSL Decryption)",
        reference: "https://docs.netskope.com/en/add-bypasses-in-netskope.html",
    },
    VendorProfile {
        vendor: ProxyVendor::CiscoUmbrella,
        product: "Cisco Umbrella Secure Web Gateway",
        // "Cisco Umbrella Root CA" and its subordinate CAs.
        issuer_marks: &["cisco umbrella"],
        // The secure web gateway's proxy, swg-url-proxy-https.sigproxy.qq.opendns.com.
        host_suffixes: &["sigproxy.qq.opendns.com"],
        advice: "turn on Microsoft 365 Compatibility (Web Policy > Global Settings: \
                 Microsoft's Optimize and Allow domains pass undecrypted); it still sends \
                 them through Umbrella's proxy, so route Teams media (the Optimize ranges, \
                 UDP 3478-3481) directly, with External Domains entries or on the device",
        reference: "https://docs.umbrella.com/umbrella-user-guide/docs/manage-global-settings",
    },
    VendorProfile {
        vendor: ProxyVendor::PrismaAccess,
        product: "Palo Alto Networks Prisma Access",
        // Prisma Access inspects with the company's own forward-trust CA: no name of
        // Palo Alto's own to recognise.
        issuer_marks: &[],
        // The explicit proxy, <name>.proxy.prismaaccess.com.
        host_suffixes: &["prismaaccess.com"],
        advice: "exclude Microsoft's Optimize ranges from the GlobalProtect tunnel (split \
                 tunnel, Exclude access routes) and from the explicit proxy's PAC, as Palo \
                 Alto Networks' \"Split Tunnel Use Case: Optimize Office 365 Traffic\" \
                 describes",
        reference: "https://docs.paloaltonetworks.com/globalprotect/administration/globalprotect-gateways/split-tunnel-traffic-on-globalprotect-gateways/configure-a-split-tunnel-based-on-the-access-route/split-tunnel-use-case-optimize-office-365-traffic",
    },
];

impl ProxyVendor {
    /// What is known of the vendor.
    pub fn profile(self) -> &'static VendorProfile {
        VENDORS
            .iter()
            .find(|p| p.vendor == self)
            .unwrap_or(&VENDORS[0])
    }
}

/// One thing `check` saw that may name a vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence<'a> {
    /// The issuer of a certificate that intercepted TLS.
    InterceptingIssuer(&'a str),
    /// A proxy host the client is told to use.
    ProxyHost(&'a str),
    /// A tunnel adapter that Teams media is routed through, which the route lookup
    /// already knows as the vendor's client's (Zscaler Client Connector's).
    TunnelAdapter {
        /// Its vendor.
        vendor: ProxyVendor,
        /// The interface, as the route lookup named it.
        interface: &'a str,
    },
}

/// A vendor named, and by what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised {
    /// The vendor.
    pub vendor: ProxyVendor,
    /// What named it, for people (`the interception certificate's issuer "Zscaler Root CA"`).
    pub by: String,
}

/// The vendor the first telling piece of `evidence` names; `None` when nothing does.
pub fn recognise<'a>(evidence: impl IntoIterator<Item = Evidence<'a>>) -> Option<Recognised> {
    evidence.into_iter().find_map(|e| {
        let (vendor, by) = match e {
            Evidence::InterceptingIssuer(issuer) => (
                VENDORS
                    .iter()
                    .find(|p| p.issuer_marks.iter().any(|m| issuer_has(issuer, m)))?,
                format!("the interception certificate's issuer \"{issuer}\""),
            ),
            Evidence::TunnelAdapter { vendor, interface } => (
                vendor.profile(),
                format!("the tunnel adapter Teams media is routed through ({interface})"),
            ),
            Evidence::ProxyHost(host) => (
                VENDORS
                    .iter()
                    .find(|p| p.host_suffixes.iter().any(|s| in_domain(host, s)))?,
                format!("the proxy host {host}"),
            ),
        };
        Some(Recognised {
            vendor: vendor.vendor,
            by,
        })
    })
}

/// Whether `host` is `suffix` or a name under it.
fn in_domain(host: &str, suffix: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == suffix
        || host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Whether the words of `mark` appear in `issuer` one after the other, as whole words
/// (a word with a dot matches as a DNS suffix).
fn issuer_has(issuer: &str, mark: &str) -> bool {
    let words: Vec<String> = issuer
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let wanted: Vec<&str> = mark.split(' ').collect();
    words.windows(wanted.len()).any(|w| {
        w.iter().zip(&wanted).all(|(word, want)| {
            if want.contains('.') {
                in_domain(word, want)
            } else {
                word == want
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(e: Evidence<'_>) -> Option<ProxyVendor> {
        recognise([e]).map(|r| r.vendor)
    }

    #[test]
    fn documented_marks_name_their_vendor_and_nothing_else_does() {
        use Evidence::{InterceptingIssuer as Issuer, ProxyHost as Host};
        let cases = [
            (Issuer("Zscaler Root CA"), Some(ProxyVendor::Zscaler)),
            (
                Issuer("Zscaler Intermediate Root CA (zscalertwo.net) (t)"),
                Some(ProxyVendor::Zscaler),
            ),
            (
                Issuer("ca.contoso.goskope.com"),
                Some(ProxyVendor::Netskope),
            ),
            (Issuer("Netskope Inc CA"), Some(ProxyVendor::Netskope)),
            (
                Issuer("Cisco Umbrella Secondary SubCA ams-SG"),
                Some(ProxyVendor::CiscoUmbrella),
            ),
            (Host("gateway.zscalertwo.net"), Some(ProxyVendor::Zscaler)),
            (Host("GATEWAY.ZSCALER.NET."), Some(ProxyVendor::Zscaler)),
            (
                Host("eproxy-contoso.goskope.com"),
                Some(ProxyVendor::Netskope),
            ),
            (
                Host("swg-url-proxy-https.sigproxy.qq.opendns.com"),
                Some(ProxyVendor::CiscoUmbrella),
            ),
            (
                Host("contoso.proxy.prismaaccess.com"),
                Some(ProxyVendor::PrismaAccess),
            ),
            // Unknown stays unknown: a likeness is not a mark.
            (Issuer("edgepath Lab Inspection CA"), None),
            (Issuer("Umbrella Corp Root"), None),
            (Issuer("NotZscaler Root"), None),
            (Issuer("Contoso Forward Trust CA"), None),
            (Host("notzscaler.net"), None),
            (Host("zscaler.net.evil.example"), None),
            (Host("10.0.0.2"), None),
            (Host("opendns.com"), None),
        ];
        for (evidence, want) in cases {
            assert_eq!(named(evidence), want, "{evidence:?}");
        }
    }

    #[test]
    fn the_first_telling_evidence_names_the_vendor_and_says_how() {
        let tunnel = Evidence::TunnelAdapter {
            vendor: ProxyVendor::Zscaler,
            interface: "Ethernet 3",
        };
        assert_eq!(
            recognise([Evidence::ProxyHost("10.0.0.2"), tunnel])
                .unwrap()
                .by,
            "the tunnel adapter Teams media is routed through (Ethernet 3)"
        );
        let r = recognise([
            Evidence::ProxyHost("10.0.0.2"),
            Evidence::InterceptingIssuer("Zscaler Root CA"),
            Evidence::ProxyHost("eproxy-contoso.goskope.com"),
        ])
        .unwrap();
        assert_eq!(r.vendor, ProxyVendor::Zscaler);
        assert_eq!(
            r.by,
            "the interception certificate's issuer \"Zscaler Root CA\""
        );
        assert_eq!(recognise([]), None);
    }

    #[test]
    fn every_vendor_has_one_profile_with_advice_and_a_reference() {
        for v in ProxyVendor::ALL {
            let p = v.profile();
            assert_eq!(p.vendor, *v);
            assert!(p.reference.starts_with("https://"), "{v}");
            assert!(!p.advice.is_empty() && !p.host_suffixes.is_empty(), "{v}");
        }
        assert_eq!(VENDORS.len(), ProxyVendor::ALL.len());
    }
}
