//! Findings: what the flows say an admin should change or know.

use std::collections::HashSet;
use std::net::IpAddr;

use edgepath_model::{FlowService, MediaPath, MediaRanges, Severity};

use crate::analyze::Endpoint;
use crate::classify::Class;
use crate::report::{Finding, FlowRef, FlowReport};

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
