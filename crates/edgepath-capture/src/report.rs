//! The report: flows in the model's terms, findings, and counters; serialised as the
//! documented JSON (README, `edgepath capture --json`).

use serde::Serialize;

use crate::rtpstats::RtpStream;
use crate::stunflow::StunSummary;
use crate::tls::Certificate;

/// TLS as the flow showed it.
#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    /// The ClientHello's server name.
    pub sni: Option<String>,
    /// ALPN offered.
    pub alpn: Vec<String>,
    /// `1.3` when the server chose TLS 1.3 (the certificate is then encrypted).
    pub version: Option<&'static str>,
    /// The leaf certificate's names.
    pub server_names: Vec<String>,
    /// The leaf certificate's issuer (common name, else the whole name).
    pub issuer: Option<String>,
    /// The chain as sent, leaf first.
    pub chain: Vec<Certificate>,
}

/// A CONNECT tunnel through a proxy.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyReport {
    /// `host:port` the client asked the proxy for.
    pub target: String,
    /// The proxy's answer (200 = tunnel open, 407 = authentication required).
    pub status: Option<u16>,
}

/// One flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    /// `ip:port` of the side that opened it (`[v6]:port` for IPv6).
    pub client: String,
    /// `ip:port` of the other side.
    pub server: String,
    /// `tcp` or `udp`.
    pub transport: &'static str,
    /// The service in the model's terms.
    pub service: edgepath_model::FlowService,
    /// `audio`, `video`, `app_sharing`, `file_transfer` or null.
    pub modality: Option<edgepath_model::Modality>,
    /// `p2p-udp`, `relay-udp`, `relay-tcp`, `relay-tcp-proxy` or null.
    pub path: Option<edgepath_model::MediaPath>,
    /// The server's name (SNI, CONNECT target, certificate or DNS), when known.
    pub name: Option<String>,
    /// What the flow carried: `tls`, `ms-pseudo-tls`, `turn-tcp`, `stun`, `ms-turn`,
    /// `rtp`, `sip`, `dns`, `http-connect`, `dtls`, or null.
    pub protocol: Option<&'static str>,
    /// Packets client-to-server, server-to-client.
    pub packets: [u64; 2],
    /// IP bytes client-to-server, server-to-client.
    pub bytes: [u64; 2],
    /// The DSCP marks seen client-to-server and server-to-client, with their packets.
    pub dscp: [Vec<DscpCount>; 2],
    /// Seconds from the capture's first packet to the flow's first.
    pub start_s: f64,
    /// Seconds from the flow's first packet to its last.
    pub duration_s: f64,
    /// TLS, when seen.
    pub tls: Option<TlsReport>,
    /// STUN / TURN / MS-TURN, when seen.
    pub stun: Option<StunSummary>,
    /// RTP streams (one per SSRC and direction).
    pub rtp: Vec<RtpStream>,
    /// RTCP packets.
    pub rtcp_packets: u64,
    /// What the RTCP reports said about each stream (the far end's loss and jitter).
    pub rtcp_reports: Vec<crate::rtpstats::RtcpReport>,
    /// The CONNECT tunnel, for flows to a proxy.
    pub proxy: Option<ProxyReport>,
}

/// A DSCP mark and how many packets of one direction carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DscpCount {
    /// The code point, 0 to 63.
    pub value: edgepath_model::Dscp,
    /// Packets with it.
    pub packets: u64,
}

/// The two ends of a flow, to point a finding at.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRef {
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
}

/// Something an admin should know.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `info`, `warn` or `error`.
    pub severity: edgepath_model::Severity,
    /// A stable identifier of the kind of finding.
    pub kind: &'static str,
    /// The flow it is about, when one.
    pub flow: Option<FlowRef>,
    /// What it means, in a sentence.
    pub message: String,
}

/// Packets not followed, by reason.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Skipped {
    /// Not IPv4/IPv6.
    pub not_ip: u64,
    /// Not TCP/UDP.
    pub other_protocol: u64,
    /// Non-first fragments.
    pub fragments: u64,
    /// Cut or inconsistent headers.
    pub malformed: u64,
}

/// Counters for the whole capture.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Packets read.
    pub packets: u64,
    /// Captured bytes read.
    pub bytes: u64,
    /// Flows followed (TCP and UDP 5-tuples).
    pub flows: u64,
    /// Flows per service.
    pub services: std::collections::BTreeMap<&'static str, u64>,
    /// Packets not followed.
    pub skipped: Skipped,
    /// The first packet's time (RFC 3339), when any.
    pub start: Option<String>,
    /// Seconds from the first to the last packet.
    pub duration_s: f64,
    /// Whether the file ended early or broke off (see warnings).
    pub truncated: bool,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every flow, in order of its first packet.
    pub flows: Vec<FlowReport>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Packets, bytes, flows by service and what was not followed.
    pub stats: Stats,
    /// Problems reading the file (where it was cut, and why).
    pub warnings: Vec<String>,
}
