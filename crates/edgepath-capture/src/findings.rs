//! Findings: what the flows say an admin should change or know.

use std::collections::HashSet;
use std::net::IpAddr;

use edgepath_model::{Dscp, FlowService, MediaPath, MediaRanges, Modality, Severity};

use crate::analyze::Endpoint;
use crate::classify::Class;
use crate::report::{DscpCount, Finding, FlowRef, FlowReport};

/// Issuers Microsoft's own certificates chain to; a Microsoft name shown with a
/// certificate from anyone else is being intercepted.
const MICROSOFT_ISSUERS: &[&str] = &["Microsoft", "DigiCert", "Baltimore CyberTrust"];

fn at(flow: &FlowReport) -> Option<FlowRef> {
    Some(FlowRef {
        client: flow.client.clone(),
        server: flow.server.clone(),
    })
}

/// What the whole capture says about its clients.
#[derive(Debug, Default)]
pub struct Context {
    /// Clients that talk to Microsoft's relays: Teams clients.
    pub teams_clients: HashSet<IpAddr>,
    /// Teams clients that got answers from a relay over UDP.
    pub udp_relay_works: HashSet<IpAddr>,
}

/// QoS by source port, as the client sent it (the first direction): media from a
/// modality's range should carry Microsoft's mark for it (audio EF 46, video AF41 34,
/// sharing and file transfer AF21 18); other traffic should not carry a media mark.
/// Marks the far end or the internet set or cleared are not the client's: the second
/// direction is reported, never judged. Unmarked media is `info` (QoS is Microsoft's
/// advice, not a requirement, and clients mark only where a policy says so); another
/// mark is `warn` (a policy or a router is wrong).
fn qos(
    sent: &[DscpCount],
    media: Option<Modality>,
    client_port: u16,
) -> Option<(Severity, &'static str, String)> {
    let total: u64 = sent.iter().map(|c| c.packets).sum();
    let count = |keep: &dyn Fn(Dscp) -> bool| {
        sent.iter()
            .filter(|c| keep(c.value))
            .map(|c| c.packets)
            .sum::<u64>()
    };
    let marks = || {
        sent.iter()
            .map(|c| format!("{} x{}", c.value, c.packets))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match media {
        Some(m) => {
            let want = m.default_dscp();
            let off = total - count(&|d| d == want);
            if off == 0 {
                return None;
            }
            let (severity, kind, what) = if count(&|d| d.value() == 0) == off {
                (Severity::Info, "qos-unmarked", "unmarked instead of")
            } else {
                (Severity::Warn, "qos-wrong-mark", "with another mark than")
            };
            Some((
                severity,
                kind,
                format!(
                    "{} media from source port {client_port}: {off} of {total} packets {what} Microsoft's {want} ({}): a QoS policy by source port marks it (edgepath rules --target windows), or a router rewrote it",
                    m.id(),
                    marks()
                ),
            ))
        }
        None => {
            let marked = count(&|d| [Dscp::EF, Dscp::AF41, Dscp::AF21].contains(&d));
            (marked > 0).then(|| {
                (
                    Severity::Info,
                    "qos-media-mark-on-other-traffic",
                    format!(
                        "{marked} of {total} packets of traffic that is not Teams media carry a media mark ({}): it competes with media in the media queues",
                        marks()
                    ),
                )
            })
        }
    }
}

/// The findings about one flow; `client` and `server` are its endpoints (the report
/// holds them only as text).
pub fn for_flow(
    flow: &FlowReport,
    (client, client_port): Endpoint,
    (_, server_port): Endpoint,
    class: &Class,
    ranges: &MediaRanges,
    ctx: &Context,
    out: &mut Vec<Finding>,
) {
    let mut add = |severity, kind, message: String| {
        out.push(Finding {
            severity,
            kind,
            flow: at(flow),
            message,
        })
    };
    // A relay that never answered: the path is blocked; nothing else about the flow
    // matters (no media ran on it).
    if class.service == FlowService::AvEdge && flow.packets[1] == 0 {
        add(
            Severity::Warn,
            "relay-no-answer",
            format!(
                "{} packet(s) to the relay and no answer: {} {} is blocked on the way (edgepath rules)",
                flow.packets[0],
                flow.transport.to_ascii_uppercase(),
                server_port
            ),
        );
        return;
    }
    // Peer-to-peer media of other software (SIP phones, other apps) is not held to
    // Teams' media ranges: only a Teams client's media is.
    let media = class.service == FlowService::AvEdge
        || (class.service == FlowService::P2pMedia && ctx.teams_clients.contains(&client));
    if media && !ranges.media.contains(client_port) {
        add(
            Severity::Warn,
            "media-source-port-outside-range",
            format!(
                "media from source port {client_port}, outside the media range {}: QoS by source port does not mark it, and source-port firewall rules drop it (is the client provisioned with ucPortRangeEnabled?)",
                ranges.media
            ),
        );
    }
    // A flow from a media range that is not Teams media (another app's peer-to-peer
    // media) is judged neither way.
    let teams_media = class.modality.filter(|_| media);
    if media == teams_media.is_some() {
        if let Some((severity, kind, message)) = qos(&flow.dscp[0], teams_media, client_port) {
            add(severity, kind, message);
        }
    }
    let udp_works = ctx.udp_relay_works.contains(&client);
    match class.path {
        Some(MediaPath::RelayTcp | MediaPath::RelayTcpProxy) if udp_works => add(
            Severity::Info,
            "tcp-relay-candidate",
            "the client also reached the relay over TCP: a TCP candidate gathered beside UDP (normal ICE); UDP to the relays works from this client".into(),
        ),
        Some(MediaPath::RelayTcp) => add(
            Severity::Warn,
            "media-over-tcp",
            "media to the relay over TCP 443, and no UDP relay flow of this client got an answer: UDP 3478-3481 to the relays is blocked or failing (edgepath rules)".into(),
        ),
        Some(MediaPath::RelayTcpProxy) => add(
            Severity::Warn,
            "media-through-proxy",
            "media tunnelled through the HTTP proxy: the worst path; let UDP 3478-3481 out directly and bypass the proxy for the Optimize ranges".into(),
        ),
        _ => {}
    }
    if class.service == FlowService::AvEdge && (50000..=59999).contains(&server_port) {
        add(
            Severity::Info,
            "legacy-high-port-media",
            "media to the relay's high ports 50000-59999 (not required since 2017, used when open)"
                .into(),
        );
    }
    // Answered, but the relay said no (401 and 438 are the normal first answers).
    if let Some(stun) = flow
        .stun
        .as_ref()
        .filter(|s| class.service == FlowService::AvEdge && !s.allocated())
    {
        let hard: Vec<String> = stun
            .errors
            .iter()
            .filter(|c| !matches!(c, 401 | 438))
            .map(ToString::to_string)
            .collect();
        if !hard.is_empty() {
            add(
                Severity::Warn,
                "relay-allocation-failed",
                format!(
                    "the relay refused the allocation (error {})",
                    hard.join(", ")
                ),
            );
        }
    }
    if let Some(tls) = &flow.tls {
        let microsoft_name = !matches!(class.service, FlowService::Other | FlowService::Dns);
        if let (true, Some(issuer)) = (microsoft_name, tls.issuer.as_deref()) {
            if !MICROSOFT_ISSUERS.iter().any(|m| issuer.contains(m)) {
                add(
                    Severity::Error,
                    "tls-interception",
                    format!(
                        "{} is shown with a certificate issued by `{issuer}`, not by Microsoft's CAs: TLS inspection; exempt Microsoft 365's Optimize and Allow names",
                        class.name.as_deref().unwrap_or("a Microsoft service")
                    ),
                );
            }
        }
    }
    for r in flow
        .rtcp_reports
        .iter()
        .filter(|r| r.fraction_lost_pct > 1.0)
    {
        add(
            Severity::Warn,
            "rtcp-reported-loss",
            format!(
                "RTCP: {} reports {:.2} % of stream {} lost (cumulative {}; target < 1 %)",
                r.reporter, r.fraction_lost_pct, r.source, r.cumulative_lost
            ),
        );
    }
    for s in &flow.rtp {
        if s.expected < 50 {
            continue;
        }
        if s.loss_pct > 1.0 {
            add(
                Severity::Warn,
                "rtp-loss",
                format!(
                    "RTP stream {} ({}) lost {:.2} % of {} packets (target < 1 %)",
                    s.ssrc, s.direction, s.loss_pct, s.expected
                ),
            );
        }
        if let Some(j) = s.jitter_ms.filter(|j| *j > 30.0) {
            add(
                Severity::Warn,
                "rtp-jitter",
                format!(
                    "RTP stream {} ({}) has {j:.1} ms jitter (target < 30 ms)",
                    s.ssrc, s.direction
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(m: &[(u8, u64)]) -> Vec<DscpCount> {
        m.iter()
            .map(|&(v, packets)| DscpCount {
                value: Dscp::new(v).unwrap(),
                packets,
            })
            .collect()
    }

    #[test]
    fn qos_marks_are_judged_by_the_modality_of_the_source_range() {
        use Modality::*;
        // (DSCP values seen with their packet counts, the source range's modality, finding)
        type Case<'a> = (&'a [(u8, u64)], Option<Modality>, Option<&'a str>);
        let cases: &[Case] = &[
            (&[(46, 50)], Some(Audio), None),
            (&[(34, 50)], Some(Video), None),
            (&[(18, 9)], Some(FileTransfer), None),
            (&[(0, 50)], Some(Audio), Some("qos-unmarked")),
            (&[(0, 3), (46, 47)], Some(Audio), Some("qos-unmarked")),
            (&[(34, 50)], Some(Audio), Some("qos-wrong-mark")),
            (&[(0, 2), (18, 48)], Some(Video), Some("qos-wrong-mark")),
            (&[(0, 500)], None, None),
            (
                &[(46, 1), (0, 99)],
                None,
                Some("qos-media-mark-on-other-traffic"),
            ),
            (&[(24, 10)], None, None),
            (&[], Some(Audio), None),
        ];
        for (sent, modality, want) in cases {
            let got = qos(&marks(sent), *modality, 50000).map(|f| f.1);
            assert_eq!(got, *want, "{sent:?} {modality:?}");
        }
        let (severity, _, message) = qos(&marks(&[(0, 3), (46, 47)]), Some(Audio), 50001).unwrap();
        assert_eq!(severity, Severity::Info);
        assert!(
            message.contains("3 of 50 packets unmarked instead of"),
            "{message}"
        );
        assert!(message.contains("46 (EF)"), "{message}");
    }
}
