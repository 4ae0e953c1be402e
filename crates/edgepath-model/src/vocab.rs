//! The words every lens shares: the media path a modality ends on, its status, how a
//! service was reached, what a captured flow is, and how much a finding matters. Each is
//! an enum serialised exactly once, as the stable JSON strings the README documents, so
//! that probe, capture and audit compare values, never strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::service::ServiceId;

/// Reads a vocabulary value back from its stable name (its `FromStr`), so a name that
/// is not one is an error saying which names are.
pub(crate) fn from_name<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// Defines a fieldless enum with one stable name per variant: `name()`, `ALL`,
/// `Display`, `FromStr`, `Serialize` and `Deserialize` all use that name.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name, as in JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                        format!("unknown {} `{s}`; one of: {}", stringify!($name), names.join(", "))
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                from_name(d)
            }
        }
    };
}

named_enum! {
    /// The path media takes, best first (DOMAIN.md section 5).
    pub enum MediaPath {
        /// UDP directly to the peer.
        P2pUdp => "p2p-udp",
        /// UDP to the relay on 3478-3481 (or its high ports).
        RelayUdp => "relay-udp",
        /// TCP to the relay on 443, directly.
        RelayTcp => "relay-tcp",
        /// TCP 443 to the relay through the HTTP proxy.
        RelayTcpProxy => "relay-tcp-proxy",
        /// No path: no media.
        None => "none",
    }
}

impl MediaPath {
    /// The paths to a relay, best first: the ladder `check` climbs, the audit predicts,
    /// the exporter and the reports show (p2p media needs no relay and is not on it).
    pub const LADDER: [MediaPath; 4] = [
        MediaPath::RelayUdp,
        MediaPath::RelayTcp,
        MediaPath::RelayTcpProxy,
        MediaPath::None,
    ];

    /// The status a path has before anything is measured: UDP is good, TCP (direct or
    /// through the proxy) degraded, nothing failing.
    pub fn base_status(self) -> Status {
        match self {
            MediaPath::P2pUdp | MediaPath::RelayUdp => Status::Good,
            MediaPath::RelayTcp | MediaPath::RelayTcpProxy => Status::Degraded,
            MediaPath::None => Status::Failing,
        }
    }
}

named_enum! {
    /// How well a modality fares.
    pub enum Status {
        /// UDP, within Microsoft's targets where measured.
        Good => "good",
        /// A worse path (TCP, the proxy, a tunnel) or a target missed.
        Degraded => "degraded",
        /// No path.
        Failing => "failing",
    }
}

named_enum! {
    /// How TURN is framed on TCP 443 to the relay, declared in the order a Microsoft
    /// client uses them (docs/decisions.md, "TCP framings"): the first that answers is
    /// the one its media takes.
    pub enum TcpFraming {
        /// TLS, then MS-TURN's 4-byte frames: the Teams client (teams.pcap frames 1244 on).
        Tls => "tls",
        /// TLS, then RFC 8656 framing (STUN back to back): "turns" as RFC relays serve it.
        TlsRfc => "tls-rfc",
        /// MS-TURN: the pseudo-TLS handshake, then 4-byte frames ([MS-TURN] 2.1).
        PseudoTls => "pseudo-tls",
        /// RFC 8656: STUN messages back to back on plain TCP.
        Standard => "standard",
    }
}

impl TcpFraming {
    /// Whether the connection is real TLS (what a firewall or proxy sees as such).
    pub fn is_tls(self) -> bool {
        matches!(self, TcpFraming::Tls | TcpFraming::TlsRfc)
    }

    /// The rank in the client's order (0 first).
    pub fn rank(self) -> usize {
        Self::ALL
            .iter()
            .position(|f| *f == self)
            .unwrap_or(usize::MAX)
    }

    /// The framing in a report's words.
    pub fn describe(self) -> &'static str {
        match self {
            TcpFraming::Tls => "TURN over TLS (MS-TURN frames, as the Teams client)",
            TcpFraming::TlsRfc => "TURN over TLS (RFC framing)",
            TcpFraming::PseudoTls => {
                "TURN over TCP (MS pseudo-TLS, [MS-TURN] 2.1; untested against Microsoft's relays)"
            }
            TcpFraming::Standard => "TURN over TCP (plain RFC framing)",
        }
    }
}

named_enum! {
    /// How a service was reached.
    pub enum Via {
        /// Directly.
        Direct => "direct",
        /// Through the HTTP proxy.
        Proxy => "proxy",
        /// Not at all.
        None => "none",
    }
}

named_enum! {
    /// What a captured flow is, in the model's terms: one of the services, or media
    /// between peers, or another Microsoft 365 destination, DNS, or something else.
    pub enum FlowService {
        /// SIP sign-in / registration.
        Sip => "sip",
        /// Web services.
        WebServices => "web-services",
        /// Data Edge (PSOM).
        DataEdge => "data-edge",
        /// The A/V edge: the relays.
        AvEdge => "av-edge",
        /// Exchange Web Services.
        Ews => "ews",
        /// Office Web Apps.
        OfficeWebApps => "office-web-apps",
        /// Media between peers (ICE checks, RTP).
        P2pMedia => "p2p-media",
        /// A Microsoft 365 address or name no service of the model claims.
        MicrosoftOther => "microsoft-other",
        /// DNS.
        Dns => "dns",
        /// Anything else.
        Other => "other",
    }
}

impl From<ServiceId> for FlowService {
    fn from(id: ServiceId) -> Self {
        match id {
            ServiceId::Sip => FlowService::Sip,
            ServiceId::WebServices => FlowService::WebServices,
            ServiceId::DataEdge => FlowService::DataEdge,
            ServiceId::AvEdge => FlowService::AvEdge,
            ServiceId::Ews => FlowService::Ews,
            ServiceId::OfficeWebApps => FlowService::OfficeWebApps,
        }
    }
}

named_enum! {
    /// How much a finding matters. Ordered: `Info < Warn < Error`.
    pub enum Severity {
        /// Worth knowing; nothing to fix.
        Info => "info",
        /// Something to fix.
        Warn => "warn",
        /// Something broken.
        Error => "error",
    }
}

named_enum! {
    /// The layout of a site inventory file (docs/sites.md).
    pub enum SiteFileFormat {
        /// Microsoft's Call Quality Dashboard building data file: no header, 14 or 15
        /// columns (NetworkIP .. ExpressRoute, VPN), comma- or tab-separated.
        CqdBuilding => "cqd-building",
        /// The Teams network topology (regions, sites, subnets, trusted IPs) as a CSV
        /// with a header row named after the Teams cmdlets' parameters.
        TeamsTopology => "teams-topology",
    }
}

named_enum! {
    /// What is wrong with a row of a site inventory.
    pub enum SiteProblemKind {
        /// The first row names the columns; a CQD building file has no header.
        Header => "header",
        /// Not as many columns as the format has.
        Columns => "columns",
        /// NetworkIP, SubnetID or IPAddress is not an IP address.
        Address => "address",
        /// NetworkRange or MaskBits is not a prefix length the format takes, or the
        /// address has bits set beyond it.
        Range => "range",
        /// A Bool column that is not 0 or 1.
        Boolean => "boolean",
        /// A field the format requires is empty.
        Missing => "missing",
        /// The same subnet twice.
        Duplicate => "duplicate",
        /// Two subnets that share addresses.
        Overlap => "overlap",
        /// A VPN subnet as one row: VPNs misreport the subnet, so Microsoft asks for
        /// one /32 row per address or VPN = 1.
        VpnSubnet => "vpn-subnet",
    }
}

named_enum! {
    /// Whether this machine marks a modality's media with Microsoft's DSCP value by a
    /// policy (Windows' policy-based QoS, as Group Policy or `New-NetQosPolicy` sets it).
    pub enum QosState {
        /// Policies mark the whole source range, UDP included, with Microsoft's value.
        Marked => "marked",
        /// A policy marks (part of) the range with another value.
        WrongDscp => "wrong-dscp",
        /// Microsoft's value on part of the range only.
        Partial => "partial",
        /// No policy marks the range.
        Unmarked => "none",
    }
}

named_enum! {
    /// An IP address family.
    pub enum Family {
        /// IPv4.
        Ipv4 => "ipv4",
        /// IPv6.
        Ipv6 => "ipv6",
    }
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: std::net::IpAddr) -> Self {
        if ip.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }

    /// `IPv4` or `IPv6`, for people.
    pub fn label(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }
}

named_enum! {
    /// Where Teams media goes when a VPN is up (the probe finds it from the routing
    /// table, the audit from the VPN's configuration).
    pub enum VpnState {
        /// No tunnel carries anything looked up.
        None => "none",
        /// Media direct, other traffic through a tunnel (Microsoft's advice).
        Split => "split",
        /// Media through the tunnel: a hairpin through the company.
        Forced => "forced",
        /// Some media ranges through the tunnel, some direct: a stale split list.
        Partial => "partial",
        /// Routes could not be looked up.
        Unknown => "unknown",
    }
}

named_enum! {
    /// What a configuration does to one flow an audit asks about.
    pub enum FlowVerdict {
        /// Passes, all of it.
        Accepted => "accepted",
        /// Dropped, all of it.
        Dropped => "dropped",
        /// Rejected, all of it.
        Rejected => "rejected",
        /// Dropped or rejected, part each.
        Blocked => "blocked",
        /// Part passes, part does not (some destinations or ports only).
        Partly => "partly",
        /// The proxy refuses the CONNECT.
        Denied => "denied",
        /// The proxy allows the CONNECT and bumps (intercepts) its TLS.
        Intercepted => "intercepted",
        /// A rule the audit cannot evaluate decides.
        Unknown => "unknown",
        /// Nothing was asked (no flow of the kind).
        NotAsked => "none",
    }
}

named_enum! {
    /// A cloud security service (SSE/SASE) that a company's web traffic may go through,
    /// as `check` recognises it (see [`crate::vendor`] for how, and what each advises).
    pub enum ProxyVendor {
        /// Zscaler Internet Access.
        Zscaler => "zscaler",
        /// Netskope Secure Web Gateway.
        Netskope => "netskope",
        /// Cisco Umbrella Secure Web Gateway.
        CiscoUmbrella => "cisco-umbrella",
        /// Palo Alto Networks Prisma Access.
        PrismaAccess => "prisma-access",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_unknown_names_are_errors() {
        for p in MediaPath::ALL {
            let json = serde_json::to_string(p).unwrap();
            assert_eq!(serde_json::from_str::<MediaPath>(&json).unwrap(), *p);
        }
        let e = serde_json::from_str::<Status>("\"fine\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown Status `fine`"), "{e}");
        assert_eq!(MediaPath::LADDER[0], MediaPath::RelayUdp);
    }

    #[test]
    fn names_round_trip_and_serialise_as_today() {
        for p in MediaPath::ALL {
            assert_eq!(p.name().parse::<MediaPath>().unwrap(), *p);
            assert_eq!(
                serde_json::to_string(p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
        assert_eq!(MediaPath::RelayTcpProxy.name(), "relay-tcp-proxy");
        assert_eq!(Status::Degraded.to_string(), "degraded");
        assert_eq!(FlowService::from(ServiceId::AvEdge).name(), "av-edge");
        for id in ServiceId::ALL {
            assert_eq!(FlowService::from(id).name(), id.id());
        }
        assert!(Severity::Info < Severity::Warn && Severity::Warn < Severity::Error);
        assert!("fast"
            .parse::<Status>()
            .unwrap_err()
            .contains("good, degraded, failing"));
        assert_eq!(MediaPath::RelayTcp.base_status(), Status::Degraded);
    }
}
