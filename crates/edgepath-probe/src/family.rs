//! IPv4 and IPv6 side by side: whether this host can use IPv6 towards a destination,
//! and per family what the relay probes showed (the best relay path over that family,
//! whether its UDP and TCP were answered, refused or silently dropped). The verdict per
//! modality stays one line; this is the evidence per family, and the warning a
//! dual-stack client needs: a family that drops silently costs time at call setup.

use std::net::{IpAddr, SocketAddr};

use edgepath_model::{Family, MediaPath, ServiceId};
use serde::Serialize;

use crate::relay::{Reach, UdpProbe};
use crate::relay_tcp::TcpProbe;

/// The local address this host would send from towards `dest`, when it has a usable
/// one: a connected UDP socket asks the kernel's routing table and sends nothing.
/// Loopback, link-local and unspecified sources do not count (no global address).
pub async fn local_source(dest: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if dest.is_ipv6() {
        "[::]:0".parse().ok()?
    } else {
        "0.0.0.0:0".parse().ok()?
    };
    let sock = tokio::net::UdpSocket::bind(bind).await.ok()?;
    sock.connect(SocketAddr::new(dest, 9)).await.ok()?;
    let ip = sock.local_addr().ok()?.ip();
    usable_source(ip).then_some(ip)
}

/// Whether `ip` can be a source towards the internet.
fn usable_source(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => !(v.is_unspecified() || v.is_loopback() || v.is_link_local()),
        IpAddr::V6(v) => {
            !(v.is_unspecified() || v.is_loopback() || (v.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// What one transport over one family showed, from every probe of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// The relay answered at least one probe.
    Answered,
    /// Connections opened but the relay never answered TURN.
    Opened,
    /// Every probe was refused (ICMP or reset): clients learn it at once.
    Refused,
    /// Every probe went unanswered: silently dropped; clients wait for timeouts.
    Dropped,
    /// No probe of this kind was sent.
    NotProbed,
}

impl Transport {
    fn of(reaches: impl Iterator<Item = Reach>) -> Self {
        let all: Vec<Reach> = reaches.collect();
        if all.is_empty() {
            Transport::NotProbed
        } else if all.contains(&Reach::Answered) {
            Transport::Answered
        } else if all.contains(&Reach::Opened) {
            Transport::Opened
        } else if all.contains(&Reach::Silent) {
            // Some silent is enough: a client waits for the slowest.
            Transport::Dropped
        } else {
            Transport::Refused
        }
    }

    /// `answered`, `dropped`, ...
    pub fn name(self) -> &'static str {
        match self {
            Transport::Answered => "answered",
            Transport::Opened => "opened",
            Transport::Refused => "refused",
            Transport::Dropped => "dropped",
            Transport::NotProbed => "not-probed",
        }
    }
}

/// One address family's evidence.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    /// `ipv4` or `ipv6`.
    pub family: Family,
    /// Whether the relay was probed over this family.
    pub probed: bool,
    /// The relay address probed.
    pub relay: Option<IpAddr>,
    /// The local address used towards it.
    pub source: Option<IpAddr>,
    /// The best direct relay path over this family: `relay-udp`, `relay-tcp` or `none`
    /// (through the proxy is not per family: the proxy resolves).
    pub path: MediaPath,
    /// UDP 3478-3481 from the media ports.
    pub udp: Transport,
    /// TCP 443 (and legacy ports).
    pub tcp: Transport,
    /// Services whose TLS handshake succeeded directly over this family.
    pub services_reachable: Vec<ServiceId>,
    /// Why it was not probed, or what its silence means.
    pub note: Option<String>,
}

/// The evidence for `family` from every probe; `relay` is the address probed (None:
/// not probed, with `why`).
pub fn report(
    family: Family,
    relay: Option<IpAddr>,
    source: Option<IpAddr>,
    udp: &[&UdpProbe],
    tcp: &[&TcpProbe],
    services_reachable: Vec<ServiceId>,
    why_not: Option<String>,
) -> FamilyReport {
    let mine_udp: Vec<&&UdpProbe> = udp
        .iter()
        .filter(|p| Family::of(p.destination.ip()) == family)
        .collect();
    let mine_tcp: Vec<&&TcpProbe> = tcp
        .iter()
        .filter(|p| p.proxy.is_none() && Family::of(p.destination.ip()) == family)
        .collect();
    let udp_t = Transport::of(mine_udp.iter().map(|p| p.reach));
    let tcp_t = Transport::of(mine_tcp.iter().map(|p| p.reach));
    let path = match (udp_t, tcp_t) {
        (Transport::Answered, _) => MediaPath::RelayUdp,
        (_, Transport::Answered) => MediaPath::RelayTcp,
        _ => MediaPath::None,
    };
    let source = source.or_else(|| mine_udp.iter().find_map(|p| p.local_ip));
    FamilyReport {
        family,
        probed: relay.is_some(),
        relay,
        source,
        path,
        udp: udp_t,
        tcp: tcp_t,
        services_reachable,
        note: why_not,
    }
}

/// Warnings for dual-stack clients: one family works where the other drops silently.
pub fn dual_stack_advice(families: &[FamilyReport]) -> Vec<String> {
    let (Some(v4), Some(v6)) = (
        families
            .iter()
            .find(|f| f.family == Family::Ipv4 && f.probed),
        families
            .iter()
            .find(|f| f.family == Family::Ipv6 && f.probed),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (what, a, b) in [
        ("UDP 3478-3481", v4.udp, v6.udp),
        ("TCP 443", v4.tcp, v6.tcp),
    ] {
        match (a, b) {
            (Transport::Answered, Transport::Dropped) => out.push(format!(
                "IPv6 {what} to the relay is silently dropped while IPv4 works: dual-stack clients wait for the IPv6 candidates to time out at call setup; allow it over IPv6 to the relay ranges (2603:1063::/38, `edgepath rules`), or reject it (ICMP) instead of dropping"
            )),
            (Transport::Dropped, Transport::Answered) => out.push(format!(
                "IPv4 {what} to the relay is silently dropped while IPv6 works: media uses IPv6 here, clients without IPv6 lose this path; allow it over IPv4 too (`edgepath rules`)"
            )),
            (Transport::Answered, Transport::Refused) => out.push(format!(
                "IPv6 {what} to the relay is refused while IPv4 works: clients fall back to IPv4 at once"
            )),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(dest: &str, reach: Reach) -> UdpProbe {
        UdpProbe {
            destination: dest.parse().unwrap(),
            source_port: Some(50000),
            local_ip: None,
            answer: None,
            error: None,
            reach,
        }
    }

    fn tcp(dest: &str, reach: Reach) -> TcpProbe {
        TcpProbe {
            destination: dest.parse().unwrap(),
            framing: crate::relay_tcp::Framing::Standard,
            proxy: None,
            source_port: None,
            sni: None,
            tls: None,
            connected: reach == Reach::Opened || reach == Reach::Answered,
            answer: None,
            error: None,
            reach,
        }
    }

    #[test]
    fn transports_from_reaches() {
        use Reach::*;
        let t = |r: &[Reach]| Transport::of(r.iter().copied());
        assert_eq!(t(&[]), Transport::NotProbed);
        assert_eq!(t(&[Silent, Answered]), Transport::Answered);
        assert_eq!(t(&[Silent, Refused]), Transport::Dropped);
        assert_eq!(t(&[Refused, Refused]), Transport::Refused);
        assert_eq!(t(&[Opened, Silent]), Transport::Opened);
    }

    #[test]
    fn per_family_paths_and_advice() {
        let u = [
            udp("192.0.2.10:3478", Reach::Answered),
            udp("[2001:db8::10]:3478", Reach::Silent),
        ];
        let t = [
            tcp("192.0.2.10:443", Reach::Answered),
            tcp("[2001:db8::10]:443", Reach::Answered),
        ];
        let ur: Vec<&UdpProbe> = u.iter().collect();
        let tr: Vec<&TcpProbe> = t.iter().collect();
        let v4 = report(
            Family::Ipv4,
            Some("192.0.2.10".parse().unwrap()),
            None,
            &ur,
            &tr,
            vec![],
            None,
        );
        let v6 = report(
            Family::Ipv6,
            Some("2001:db8::10".parse().unwrap()),
            None,
            &ur,
            &tr,
            vec![],
            None,
        );
        assert_eq!(
            (v4.path, v4.udp),
            (MediaPath::RelayUdp, Transport::Answered)
        );
        assert_eq!(
            (v6.path, v6.udp, v6.tcp),
            (MediaPath::RelayTcp, Transport::Dropped, Transport::Answered)
        );
        let advice = dual_stack_advice(&[v4.clone(), v6.clone()]);
        assert_eq!(advice.len(), 1);
        assert!(advice[0].starts_with("IPv6 UDP 3478-3481 to the relay is silently dropped"));
        // Not probed over IPv6: nothing to compare.
        let none = report(
            Family::Ipv6,
            None,
            None,
            &[],
            &[],
            vec![],
            Some("no AAAA".into()),
        );
        assert_eq!(
            (none.probed, none.path, none.udp),
            (false, MediaPath::None, Transport::NotProbed)
        );
        assert!(dual_stack_advice(&[v4, none]).is_empty());
    }

    #[test]
    fn sources() {
        assert!(!usable_source("::1".parse().unwrap()));
        assert!(!usable_source("fe80::1".parse().unwrap()));
        assert!(usable_source("2001:db8::1".parse().unwrap()));
        assert!(!usable_source("0.0.0.0".parse().unwrap()));
        assert!(usable_source("192.168.1.10".parse().unwrap()));
    }
}
