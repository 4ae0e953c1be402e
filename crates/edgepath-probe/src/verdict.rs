//! The verdicts, from probe results alone: per modality the path a client ends on,
//! its status, the evidence and the advice; per service reachability and interception;
//! NAT; the per-family evidence; what a VPN tunnel does to media. Pure functions, no
//! sockets and no clock, so every rule is tested table by table without root.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use edgepath_model::{rulebook, Family, MediaPath, Modality, ServiceId, Status, Via};

use crate::check::{CheckConfig, ModalityVerdict, Nat, Route, ServiceVerdict, TlsSummary};
use crate::dns::Resolution;
use crate::error::ProbeError;
use crate::family::{self, FamilyReport};
use crate::nat::{Mapping, NatMapping};
use crate::quality::{Method, Quality};
use crate::relay::UdpProbe;
use crate::relay_tcp::{Framing, TcpProbe};
use crate::vpn::{VpnReport, VpnState};

/// Media through a tunnel is degraded, whatever the relay answered: the evidence names
/// the interface, the advice the fix.
pub(crate) fn tunnel_verdict(v: &mut ModalityVerdict, vpn: &VpnReport) {
    if !vpn.media_tunnelled() || v.path == MediaPath::None {
        return;
    }
    let through = vpn.tunnelled_media();
    let nets: Vec<&str> = through.iter().map(|r| r.net.as_str()).collect();
    let via = through.first().map(|r| r.via()).unwrap_or_default();
    v.evidence.push(match vpn.state {
        VpnState::Forced => format!(
            "media to the relay goes through the VPN tunnel {via} ({})",
            nets.join(", ")
        ),
        _ => format!(
            "part of the media goes through the VPN tunnel {via}: {}",
            nets.join(", ")
        ),
    });
    v.status = rulebook::status_through_tunnel(v.status);
    v.advice.extend(vpn.advice.iter().cloned());
}

pub(crate) fn nat_verdict(udp: &[(Modality, UdpProbe)], probe: Option<NatMapping>) -> Nat {
    let mapping = probe.as_ref().map_or(Mapping::Unknown, NatMapping::mapping);
    // NAT is an IPv4 matter (IPv6 is routed): judge by the IPv4 probes when there are
    // any, so an IPv6 answer never reads as "no NAT".
    let any_v4 = udp.iter().any(|(_, p)| p.destination.is_ipv4());
    let answered: Vec<&UdpProbe> = udp
        .iter()
        .map(|(_, p)| p)
        .filter(|p| p.answer.is_some() && (!any_v4 || p.destination.is_ipv4()))
        .collect();
    let mut public: Vec<SocketAddr> = answered
        .iter()
        .filter_map(|p| p.answer.as_ref().and_then(|a| a.mapped))
        .collect();
    public.sort();
    public.dedup();
    let local = answered.iter().find_map(|p| p.local_ip);
    let present = match (local, public.first()) {
        (Some(l), Some(p)) => Some(l != p.ip()),
        _ => None,
    };
    let (mapping_kind, note) = match mapping {
        Mapping::EndpointIndependent(_) => ("endpoint-independent", "the same public address and port towards two relay ports: peer-to-peer media can work through this NAT"),
        Mapping::Dependent(..) => ("address-port-dependent", "a new public port per destination (symmetric NAT): peer-to-peer media will likely fail; calls go through the relay"),
        Mapping::Unknown => ("unknown", "the relay gave no two answers to compare"),
    };
    Nat {
        present,
        local,
        public: public.into_iter().take(8).collect(),
        mapping: mapping_kind,
        note: match present {
            Some(true) => format!("present; {note}."),
            Some(false) => "none: the relay sees the local address.".into(),
            None => format!("unknown; {note}."),
        },
    }
}

pub(crate) fn service_verdict(
    service: ServiceId,
    name: String,
    direct: Route,
    direct_ipv6: Option<Route>,
    via_proxy: Option<Route>,
) -> ServiceVerdict {
    let (reachable, via, used) = if ok_route(&direct) {
        (true, Via::Direct, Some(&direct))
    } else if let Some(r6) = direct_ipv6.as_ref().filter(|r| ok_route(r)) {
        (true, Via::Direct, Some(r6))
    } else if let Some(p) = via_proxy.as_ref().filter(|p| ok_route(p)) {
        (true, Via::Proxy, Some(p))
    } else {
        // Report the TLS facts of whatever handshake got furthest (an untrusted chain
        // through the proxy is interception too).
        (
            false,
            Via::None,
            via_proxy
                .as_ref()
                .filter(|p| p.tls.is_some())
                .or(direct.tls.as_ref().map(|_| &direct)),
        )
    };
    let tls = used.and_then(|r| r.tls.as_ref()).map(|t| TlsSummary {
        intercepted: t.intercepted,
        issuer: t.issuer.clone(),
        verified_by: t.verified_by,
    });
    ServiceVerdict {
        service,
        name,
        reachable,
        via,
        tls,
        direct,
        direct_ipv6,
        proxy: via_proxy,
    }
}

/// The per-family evidence: what the relay probes showed over IPv4 and over IPv6,
/// and which services answered directly over each.
pub(crate) fn family_reports(
    relay_v4: Option<IpAddr>,
    relay_v6: Option<IpAddr>,
    relay_v6_listed: Option<IpAddr>,
    v6_source: Option<IpAddr>,
    udp: &[(Modality, UdpProbe)],
    tcp: &[TcpProbe],
    services: &[ServiceVerdict],
) -> Vec<FamilyReport> {
    let udp: Vec<&UdpProbe> = udp.iter().map(|(_, p)| p).collect();
    let tcp: Vec<&TcpProbe> = tcp.iter().collect();
    let reachable = |v6: bool| -> Vec<ServiceId> {
        services
            .iter()
            .filter(|s| {
                let route = if v6 {
                    s.direct_ipv6.as_ref()
                } else {
                    Some(&s.direct).filter(|r| r.via.is_ipv4_address())
                };
                route.is_some_and(ok_route)
            })
            .map(|s| s.service)
            .collect()
    };
    let v4 = family::report(
        Family::Ipv4,
        relay_v4,
        None,
        &udp,
        &tcp,
        reachable(false),
        relay_v4
            .is_none()
            .then(|| "the relay name has no IPv4 address".to_owned()),
    );
    let why_not_v6 = match (relay_v6_listed, v6_source, relay_v6) {
        (_, _, Some(_)) => None,
        (None, _, None) => Some("the relay name has no IPv6 (AAAA) address".to_owned()),
        (Some(_), None, None) => {
            Some("this host has no IPv6 address and route towards the relay".to_owned())
        }
        (Some(_), Some(_), None) => None,
    };
    let v6 = family::report(
        Family::Ipv6,
        relay_v6,
        v6_source,
        &udp,
        &tcp,
        reachable(true),
        why_not_v6,
    );
    vec![v4, v6]
}

pub(crate) fn describe_udp(p: &UdpProbe) -> String {
    let from = p
        .source_port
        .map_or_else(|| "no local port".to_owned(), |s| format!("from {s}"));
    match (&p.answer, &p.error) {
        (Some(a), _) => format!(
            "UDP {} {from}: answered ({} {} {}{}, {} ms)",
            p.destination,
            a.protocol,
            a.method,
            a.class,
            a.code.map(|c| format!(" {c}")).unwrap_or_default(),
            a.rtt_ms
        ),
        (None, Some(e)) => format!("UDP {} {from}: {e}", p.destination),
        (None, None) => format!("UDP {} {from}: no answer", p.destination),
    }
}

pub(crate) fn describe_tcp(p: &TcpProbe) -> String {
    let mut how = p.framing.describe().to_owned();
    if p.framing.is_tls() {
        match &p.sni {
            Some(name) => how.push_str(&format!(", SNI {name}")),
            None => how.push_str(", by bare address (no SNI)"),
        }
    }
    match (&p.proxy, p.source_port) {
        (Some(px), _) => how.push_str(&format!(" through the proxy {px}")),
        (None, Some(port)) => how.push_str(&format!(" from {port}")),
        (None, None) => {}
    }
    let cert = p
        .tls
        .as_ref()
        .filter(|t| t.handshake)
        .map(|t| {
            format!(
                " [{}, certificate {} issued by {}{}]",
                t.version.as_deref().unwrap_or("TLS"),
                t.subject.as_deref().unwrap_or("?"),
                t.issuer.as_deref().unwrap_or("?"),
                if t.intercepted { ", INTERCEPTED" } else { "" }
            )
        })
        .unwrap_or_default();
    match (&p.answer, &p.error) {
        (Some(a), _) => format!(
            "{how} to {}{cert}: answered ({} {} {}{})",
            p.destination,
            a.protocol,
            a.method,
            a.class,
            a.code.map(|c| format!(" {c}")).unwrap_or_default()
        ),
        (None, Some(e)) => format!("{how} to {}{cert}: {e}", p.destination),
        (None, None) => format!("{how} to {}{cert}: no answer", p.destination),
    }
}

/// The framing media takes over TCP on one path (direct, or through the proxy): the
/// first the client uses that answered by name.
pub(crate) fn client_framing(tcp: &[TcpProbe], via_proxy: bool) -> Option<Framing> {
    tcp.iter()
        .filter(|p| p.proxy.is_some() == via_proxy && p.answer.is_some())
        .filter(|p| !p.framing.is_tls() || p.sni.is_some())
        .map(|p| p.framing)
        .min_by_key(|f| f.rank())
}

/// What the TLS attempts to the relay say beyond the path: interception (Microsoft asks
/// for no inspection of media), a relay reachable in an older framing but not in TLS,
/// TLS by name but not by bare address. Returns (evidence, advice).
pub(crate) fn tls_findings(tcp: &[TcpProbe], path: MediaPath) -> (Vec<String>, Vec<String>) {
    let (mut evidence, mut advice) = (Vec::new(), Vec::new());
    let tls: Vec<&TcpProbe> = tcp.iter().filter(|p| p.framing.is_tls()).collect();
    if let Some(p) = tls.iter().find(|p| p.intercepted()) {
        let issuer = p
            .tls
            .as_ref()
            .and_then(|t| t.issuer.clone())
            .unwrap_or_else(|| "an unknown issuer".into());
        let where_ = p.proxy.as_ref().map_or_else(
            || "on the way".to_owned(),
            |px| format!("by the proxy {px}"),
        );
        let broken = !tls.iter().any(|q| q.intercepted() && q.answer.is_some());
        evidence.push(format!(
            "the TLS to the relay {} is intercepted {where_} (a certificate issued by {issuer}, not the relay's): media over TCP {}",
            p.destination,
            if broken { "breaks inside it" } else { "is decrypted and inspected" }
        ));
        advice.push("exempt the relay names (*.relay.teams.microsoft.com, *.tr.teams.microsoft.com) and the Optimize ranges from TLS inspection, as Microsoft asks for Optimize traffic (`edgepath rules --target squid` writes the splice rules)".into());
    }
    let direct_tls_ok = tls
        .iter()
        .any(|p| p.proxy.is_none() && p.answer.is_some() && p.sni.is_some());
    if path == MediaPath::RelayTcp && !direct_tls_ok {
        if let Some(f) = client_framing(tcp, false) {
            let why = tls
                .iter()
                .filter(|p| p.proxy.is_none())
                .find_map(|p| p.error.clone())
                .unwrap_or_else(|| "no answer".into());
            advice.push(format!(
                "the relay answers {} but not TURN over TLS ({why}): the Teams client speaks TLS on 443 (teams.pcap), so its media over TCP may still fail; let TLS to the relay's 443 through uninspected",
                f.describe()
            ));
        }
    }
    let bare_failed = tls
        .iter()
        .find(|p| p.proxy.is_none() && p.sni.is_none() && p.answer.is_none());
    if let (true, Some(p)) = (direct_tls_ok, bare_failed) {
        advice.push(format!(
            "TLS to the relay works by name but not by bare address ({}): clients also connect to relay addresses without a name, so allow the relay ranges by address, not only by SNI",
            p.error.as_deref().unwrap_or("no answer")
        ));
    }
    (evidence, advice)
}

pub(crate) fn modality_verdict(
    m: Modality,
    cfg: &CheckConfig,
    udp: &[(Modality, UdpProbe)],
    tcp: &[TcpProbe],
    relay_ip: Option<IpAddr>,
    dns: &[Resolution],
    quality: Option<&Result<Quality, ProbeError>>,
) -> ModalityVerdict {
    let mine: Vec<&UdpProbe> = udp
        .iter()
        .filter(|(x, _)| *x == m)
        .map(|(_, p)| p)
        .collect();
    // Name the family on every line when both were probed.
    let both = udp.iter().any(|(_, p)| p.destination.is_ipv4())
        && udp.iter().any(|(_, p)| p.destination.is_ipv6());
    let tag = |ip: IpAddr, line: String| {
        if both {
            format!("{}: {line}", Family::of(ip).label())
        } else {
            line
        }
    };
    let mut evidence: Vec<String> = mine
        .iter()
        .map(|p| tag(p.destination.ip(), describe_udp(p)))
        .collect();
    evidence.extend(tcp.iter().map(|p| tag(p.destination.ip(), describe_tcp(p))));
    let mut family_paths = BTreeMap::new();
    for ip in mine.iter().map(|p| p.destination.ip()) {
        let f = Family::of(ip);
        let udp_ok = mine
            .iter()
            .any(|p| Family::of(p.destination.ip()) == f && p.answer.is_some());
        let tcp_ok = tcp.iter().any(|p| {
            p.proxy.is_none() && Family::of(p.destination.ip()) == f && p.answer.is_some()
        });
        family_paths.insert(f, rulebook::path_from(udp_ok, tcp_ok, false));
    }
    let mut advice = Vec::new();
    if relay_ip.is_none() {
        let why = dns
            .iter()
            .filter(|r| {
                cfg.catalog
                    .service(ServiceId::AvEdge)
                    .probe_names
                    .contains(&r.name.as_str())
            })
            .map(|r| format!("{}: {}", r.name, r.error.as_deref().unwrap_or("no address")))
            .collect::<Vec<_>>()
            .join("; ");
        evidence.insert(
            0,
            format!("the relay names do not resolve ({why}): no relay could be probed"),
        );
        advice.push("let clients resolve the relay names (worldaz.tr.teams.microsoft.com): check DNS and the resolver's forwarding".into());
    }
    let udp_ok = mine.iter().any(|p| p.answer.is_some());
    let tcp_ok = tcp.iter().any(|p| p.proxy.is_none() && p.answer.is_some());
    let proxy_ok = tcp.iter().any(|p| p.proxy.is_some() && p.answer.is_some());
    let proxy_tunnel_opened = tcp.iter().any(|p| p.proxy.is_some() && p.connected);
    // Ports no family answered on (one family's silence is the dual-stack advice's).
    let mut silent: Vec<u16> = mine
        .iter()
        .filter(|p| p.answer.is_none())
        .map(|p| p.destination.port())
        .filter(|port| {
            !mine
                .iter()
                .any(|q| q.destination.port() == *port && q.answer.is_some())
        })
        .collect();
    silent.dedup();
    let path = rulebook::path_from(udp_ok, tcp_ok, proxy_ok);
    let mut status = path.base_status();
    let range = cfg.ranges.range(m);
    match path {
        MediaPath::RelayUdp if !silent.is_empty() && silent.iter().any(|p| (3479..=3481).contains(p)) => advice.push(format!(
            "UDP {} to the relay does not answer: Microsoft asks for UDP 3478-3481 open from the media ports ({range}) to the relay ranges (`edgepath rules`)",
            silent.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        )),
        MediaPath::RelayTcp => advice.push(format!("media falls back to TCP 443: allow UDP 3478-3481 from {range} to the relay ranges, directly (`edgepath rules`)")),
        MediaPath::RelayTcpProxy => advice.push("media goes through the proxy: let UDP 3478-3481 and TCP 443 to the Optimize ranges out directly, bypassing the proxy (`edgepath rules --target pac`, `--target nftables`)".into()),
        MediaPath::None if proxy_tunnel_opened => advice.push("the proxy opens the tunnel but TURN dies inside it (TLS inspection?): exempt the relay ranges from inspection, and let UDP 3478-3481 out directly".into()),
        MediaPath::None => advice.push("no path to the relay: allow UDP 3478-3481 and TCP 443 to the Optimize ranges (`edgepath rules`); calls have no media now".into()),
        _ => {}
    }
    let (tls_evidence, tls_advice) = tls_findings(tcp, path);
    evidence.extend(tls_evidence);
    advice.extend(tls_advice);
    let tcp_framing = match path {
        MediaPath::RelayTcp => client_framing(tcp, false),
        MediaPath::RelayTcpProxy => client_framing(tcp, true),
        _ => None,
    };
    if let Some(f) = tcp_framing {
        evidence.push(format!("media over TCP takes {}", f.describe()));
    }
    let mut q = None;
    if quality.is_none() && path != MediaPath::None {
        evidence.push("quality not measured: no path to the relay answered a measurement".into());
    }
    if let Some(result) = quality {
        match result {
            Ok(quality)
                if path == MediaPath::RelayUdp
                    || (quality.method.over_tcp()
                        && matches!(path, MediaPath::RelayTcp | MediaPath::RelayTcpProxy)) =>
            {
                let o = &quality.overall;
                evidence.push(match quality.method {
                    Method::TcpRoundTrip => format!(
                        "round trips over TCP to the relay ({} s, {} STUN Binding requests/s on one connection{}): RTT {:.1} ms (p95 {:.1}, max {:.1}), round-trip jitter {:.1} ms, {} of {} answered (TCP turns loss into delay)",
                        cfg.duration.as_secs(),
                        quality.rate_per_s,
                        if path == MediaPath::RelayTcpProxy { " through the proxy" } else { "" },
                        o.rtt_ms,
                        o.rtt_p95_ms,
                        o.rtt_max_ms,
                        o.jitter_ms,
                        o.received,
                        o.sent
                    ),
                    Method::TcpRelayedStream => format!(
                        "media stream through the relay over TCP ({} s, audio range, one {} connection{}): RTT {:.0} ms (p95 {:.0}, max {:.0}), jitter {:.1} ms, {} of {} back (TCP turns loss into delay)",
                        cfg.duration.as_secs(),
                        tcp_framing.map_or("TCP", |f| if f.is_tls() { "TLS" } else { "TCP" }),
                        if path == MediaPath::RelayTcpProxy { " through the proxy" } else { "" },
                        o.rtt_ms,
                        o.rtt_p95_ms,
                        o.rtt_max_ms,
                        o.jitter_ms,
                        o.received,
                        o.sent
                    ),
                    Method::RelayedStream => format!(
                        "media stream through the relay ({} s, audio range): loss {:.1} %, worst 200 ms {:.0} %, RTT {:.0} ms, jitter {:.1} ms, reorder {:.2} %",
                        cfg.duration.as_secs(),
                        o.loss_pct,
                        o.burst_loss_pct,
                        o.rtt_ms,
                        o.jitter_ms,
                        o.reorder_pct
                    ),
                    Method::StunRoundTrip => format!(
                        "round trips to the relay ({} s, {} STUN Binding requests/s from the audio range, no credentials needed): loss {:.1} %, worst 200 ms {:.0} %, RTT {:.1} ms (p95 {:.1}, max {:.1}), round-trip jitter {:.1} ms, reorder {:.2} %; graded on these round-trip figures",
                        cfg.duration.as_secs(),
                        quality.rate_per_s,
                        o.loss_pct,
                        o.burst_loss_pct,
                        o.rtt_ms,
                        o.rtt_p95_ms,
                        o.rtt_max_ms,
                        o.jitter_ms,
                        o.reorder_pct
                    ),
                });
                if let Some(r) = &quality.rate_limited {
                    evidence.push(r.clone());
                }
                if let Some(f) = &quality.fallback {
                    evidence.push(f.clone());
                }
                // Over TCP the path is degraded already and only delay and jitter
                // speak; over UDP every missed target degrades the verdict.
                let over_tcp = quality.method.over_tcp();
                if !over_tcp && quality.status != Status::Good {
                    status = quality.status;
                }
                let (even, look_for) = if over_tcp {
                    (
                        " even over TCP",
                        "congestion on the way to the relay (or in the proxy)",
                    )
                } else {
                    ("", "congestion or loss on the way to the relay")
                };
                for g in quality
                    .grades
                    .iter()
                    .filter(|g| !g.ok && (!over_tcp || g.metric.meaningful_over_tcp()))
                {
                    advice.push(format!(
                        "{} {:.2} misses Microsoft's target (below {}){even}: look for {look_for}",
                        g.metric, g.value, g.target
                    ));
                }
                if quality.integrity_failures > 0 {
                    evidence.push(format!(
                        "{} answer(s) from the relay failed MESSAGE-INTEGRITY and were ignored: something else answers for the relay",
                        quality.integrity_failures
                    ));
                }
                if m == Modality::Audio {
                    q = Some(quality.clone());
                }
            }
            Err(e) => evidence.push(format!("media stream not measured: {e}")),
            _ => {}
        }
    }
    ModalityVerdict {
        modality: m,
        path,
        status,
        tcp_framing,
        source_ports: range,
        evidence,
        advice,
        quality: q,
        family_paths,
        qos: None,
    }
}

pub(crate) fn ok_route(r: &Route) -> bool {
    r.tls.as_ref().is_some_and(|t| t.handshake)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use edgepath_model::{snapshot, Catalog, MediaRanges, Profile};
    use edgepath_wire::stun::{attr_type, method, Class, MessageBuilder, Variant};

    use super::*;
    use crate::check::Timeouts;
    use crate::relay::{Answer, Reach};
    use crate::route::TunnelKind;
    use crate::tls::Trust;
    use crate::vpn::{assess, RangeRoute};

    const RELAY: &str = "203.0.113.10";

    fn cfg() -> CheckConfig {
        CheckConfig {
            catalog: Catalog::build(snapshot::endpoint_data(), Profile::Current).unwrap(),
            ranges: MediaRanges::default(),
            profile: Profile::Current,
            legacy_ports: Vec::new(),
            tenant: None,
            relay: None,
            proxy: None,
            pac: None,
            proxy_search: Vec::new(),
            trust: Trust::load(&[]).unwrap(),
            turn: None,
            duration: Duration::from_secs(1),
            timeouts: Timeouts::default(),
        }
    }

    fn answer() -> Answer {
        Answer {
            protocol: Variant::Stun,
            method: "binding".into(),
            class: "success",
            code: None,
            mapped: Some("198.51.100.2:50000".parse().unwrap()),
            rtt_ms: 5,
        }
    }

    /// UDP probes of audio to 3478-3481: `open` says which ports answered.
    fn udp(open: &[u16]) -> Vec<(Modality, UdpProbe)> {
        (3478..=3481)
            .map(|port| {
                let answered = open.contains(&port);
                (
                    Modality::Audio,
                    UdpProbe {
                        destination: format!("{RELAY}:{port}").parse().unwrap(),
                        source_port: Some(50000),
                        local_ip: Some("192.168.1.10".parse().unwrap()),
                        answer: answered.then(answer),
                        error: (!answered).then(|| "no answer within 2500 ms".into()),
                        reach: if answered {
                            Reach::Answered
                        } else {
                            Reach::Silent
                        },
                    },
                )
            })
            .collect()
    }

    fn tcp(proxy: bool, reach: Reach) -> TcpProbe {
        TcpProbe {
            destination: format!("{RELAY}:443").parse().unwrap(),
            framing: Framing::Standard,
            proxy: proxy.then(|| "10.0.0.2:3128".into()),
            source_port: None,
            sni: None,
            tls: None,
            connected: matches!(reach, Reach::Answered | Reach::Opened),
            answer: (reach == Reach::Answered).then(answer),
            error: (reach != Reach::Answered).then(|| "no answer".into()),
            reach,
        }
    }

    /// UDP ports answering, direct TCP, TCP through the proxy; then the path, status
    /// and a piece of the advice expected.
    type Case<'a> = (
        &'a [u16],
        Option<Reach>,
        Option<Reach>,
        MediaPath,
        Status,
        &'a str,
    );

    #[test]
    fn paths_statuses_and_advice_table() {
        use Reach::*;
        // (UDP ports answering, direct TCP, TCP through the proxy) -> path, status, advice
        let cases: &[Case] = &[
            (
                &[3478, 3479, 3480, 3481],
                Some(Answered),
                None,
                MediaPath::RelayUdp,
                Status::Good,
                "",
            ),
            (
                &[3478],
                Some(Answered),
                None,
                MediaPath::RelayUdp,
                Status::Good,
                "UDP 3479, 3480, 3481 to the relay does not answer",
            ),
            (
                &[],
                Some(Answered),
                None,
                MediaPath::RelayTcp,
                Status::Degraded,
                "media falls back to TCP 443",
            ),
            (
                &[],
                Some(Silent),
                Some(Answered),
                MediaPath::RelayTcpProxy,
                Status::Degraded,
                "media goes through the proxy",
            ),
            (
                &[],
                Some(Refused),
                Some(Opened),
                MediaPath::None,
                Status::Failing,
                "TURN dies inside it (TLS inspection?)",
            ),
            (
                &[],
                Some(Silent),
                None,
                MediaPath::None,
                Status::Failing,
                "no path to the relay",
            ),
        ];
        let cfg = cfg();
        for (i, (open, direct, proxy, path, status, advice)) in cases.iter().enumerate() {
            let tcps: Vec<TcpProbe> = [direct.map(|r| tcp(false, r)), proxy.map(|r| tcp(true, r))]
                .into_iter()
                .flatten()
                .collect();
            let v = modality_verdict(
                Modality::Audio,
                &cfg,
                &udp(open),
                &tcps,
                Some(RELAY.parse().unwrap()),
                &[],
                None,
            );
            assert_eq!(
                (v.path, v.status),
                (*path, *status),
                "case {i}: {:?}",
                v.evidence
            );
            if advice.is_empty() {
                assert!(v.advice.is_empty(), "case {i}: {:?}", v.advice);
            } else {
                assert!(
                    v.advice.iter().any(|a| a.contains(advice)),
                    "case {i}: {:?}",
                    v.advice
                );
            }
        }
    }

    #[test]
    fn media_through_a_tunnel_is_degraded_and_names_the_interface() {
        let wg = |net: &str, tunnel: bool| RangeRoute {
            net: net.into(),
            endpoint_set: Some(11),
            media: true,
            interface: Some(if tunnel { "wg0" } else { "eth0" }.into()),
            gateway: None,
            tunnel,
            tunnel_kind: tunnel.then_some(TunnelKind::Wireguard),
            error: None,
        };
        let cfg = cfg();
        for (tunnelled, want) in [(true, Status::Degraded), (false, Status::Good)] {
            let mut v = modality_verdict(
                Modality::Audio,
                &cfg,
                &udp(&[3478, 3479, 3480, 3481]),
                &[],
                Some(RELAY.parse().unwrap()),
                &[],
                None,
            );
            let report = assess(
                Some(wg(RELAY, tunnelled)),
                vec![wg("52.112.0.0/14", tunnelled)],
                None,
                None,
            );
            tunnel_verdict(&mut v, &report);
            assert_eq!(v.status, want);
            assert_eq!(
                v.evidence
                    .iter()
                    .any(|e| e.contains("through the VPN tunnel wg0 (WireGuard)")),
                tunnelled
            );
            // No path stays failing, whatever the tunnel.
            let mut none = modality_verdict(Modality::Audio, &cfg, &udp(&[]), &[], None, &[], None);
            tunnel_verdict(&mut none, &report);
            assert_eq!(none.status, Status::Failing);
        }
    }

    #[test]
    fn nat_verdicts_from_the_mapping_machine() {
        let t0 = Instant::now();
        let req = |id: u8| MessageBuilder::new(method::BINDING, Class::Request, [id; 12]).build();
        let ans = |id: u8, port: u16| {
            let mut b = MessageBuilder::new(method::BINDING, Class::Success, [id; 12]);
            b.add_address(
                attr_type::XOR_MAPPED_ADDRESS,
                SocketAddr::from(([198, 51, 100, 2], port)),
                true,
            );
            b.build()
        };
        let relay: IpAddr = RELAY.parse().unwrap();
        let mut same = NatMapping::new(relay, [req(1), req(2)], t0, Duration::from_millis(250));
        same.handle_input(&ans(1, 50019));
        same.handle_input(&ans(2, 50019));
        let mut other = NatMapping::new(relay, [req(1), req(2)], t0, Duration::from_millis(250));
        other.handle_input(&ans(1, 61001));
        other.handle_input(&ans(2, 61002));
        let probes = udp(&[3478]);
        assert_eq!(
            nat_verdict(&probes, Some(same)).mapping,
            "endpoint-independent"
        );
        let dep = nat_verdict(&probes, Some(other));
        assert_eq!(dep.mapping, "address-port-dependent");
        assert!(dep
            .note
            .starts_with("present; a new public port per destination"));
        assert_eq!(nat_verdict(&probes, None).mapping, "unknown");
    }
}
