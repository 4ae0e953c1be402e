//! The report's types: what an audit predicts per modality, service and family, in
//! `check`'s words, each flow with the rules that decide it. Serialised as the
//! `edgepath audit --json` document (docs/json.md).

use std::collections::BTreeMap;

use edgepath_model::{
    Family, FlowVerdict, MediaPath, Modality, PortRange, ServiceId, Status, Via, VpnState,
};
use serde::Serialize;

use super::Interfaces;
use crate::audit::ir::{Hook, Origin};
use crate::audit::vpn::TunnelKind;
use crate::flows::Proto;

/// What the PAC answered for one request, in the report.
#[derive(Debug, Clone, Serialize)]
pub struct PacQuestion {
    /// What it is for: a service, or `relays` (media over TCP).
    pub target: String,
    /// The URL asked about.
    pub url: String,
    /// `FindProxyForURL`'s answer.
    pub answer: String,
    /// The `return` that gave it, as `file:line: text`.
    pub decided_by: Option<String>,
    /// Why there is no answer, when there is none.
    pub error: Option<String>,
}

/// The PAC part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct PacAudit {
    /// The file.
    pub file: String,
    /// The proxy it names (the first), as `host:port`, and the address asked about.
    pub proxy: Option<String>,
    /// Each question and its answer.
    pub questions: Vec<PacQuestion>,
}

/// One question put to the firewall and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct FlowAudit {
    /// `ipv4` or `ipv6`.
    pub family: Family,
    /// `udp`, `tcp`, or `http-connect` (a question to the proxy).
    pub protocol: Asked,
    /// Destination ranges (or the name a proxy is asked for) asked about.
    pub destinations: Destinations,
    /// Destination ports (`3478`, `3478-3481`).
    pub ports: PortRange,
    /// Client source ports (`-` in JSON for a question to the proxy, which has none).
    #[serde(serialize_with = "source_text")]
    pub source_ports: Option<PortRange>,
    /// `accepted`, `dropped`, `rejected`, `partly` (some of the destinations or ports
    /// only) or `unknown`.
    pub verdict: FlowVerdict,
    /// The deciding rules, as `file:line: rule` or `file table T chain C handle H: rule`.
    pub decided_by: Vec<String>,
    /// Why it is unknown, when it is.
    pub unknown: Option<String>,
    /// With a VPN configuration: whether the destinations go `direct`, through the
    /// `tunnel`, or `split` between the two.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteTaken>,
    /// The VPN configuration's lines that route it (none: the system's default route).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routed_by: Vec<String>,
    /// The deciding rules themselves, for the fix.
    #[serde(skip)]
    pub(super) origins: Vec<Origin>,
}

/// Which way a flow's destinations are routed when a VPN is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteTaken {
    /// Outside the tunnel.
    Direct,
    /// Through it.
    Tunnel,
    /// Part each.
    Split,
}

impl RouteTaken {
    /// From whether some destinations go direct and some through the tunnel.
    pub(super) fn of(direct: bool, tunnel: bool) -> Option<RouteTaken> {
        match (direct, tunnel) {
            (true, true) => Some(RouteTaken::Split),
            (false, true) => Some(RouteTaken::Tunnel),
            (true, false) => Some(RouteTaken::Direct),
            (false, false) => None,
        }
    }
}

/// What the VPN configuration does to Teams media, in `check`'s words.
#[derive(Debug, Clone, Serialize)]
pub struct VpnAudit {
    /// `none`, `split`, `forced`, `partial` (as `check`'s `vpn.state`).
    pub state: VpnState,
    /// `wireguard` or `openvpn`.
    pub tunnel: TunnelKind,
    /// The configuration file.
    pub file: String,
    /// Each media range and the way it is routed.
    pub media: Vec<RangeAudit>,
    /// The tunnel's own packets to its server, asked of the local rules.
    pub carriers: Vec<FlowAudit>,
    /// Whether a ruleset for the company's egress was given (`--egress`).
    pub egress_given: bool,
    /// What it means, in a sentence.
    pub note: String,
    /// The change that takes media out of the tunnel, when it is in it.
    pub fix: Vec<Fix>,
    /// What the reader assumed.
    pub notes: Vec<String>,
}

/// One media range and its route.
#[derive(Debug, Clone, Serialize)]
pub struct RangeAudit {
    /// The range.
    pub net: String,
    /// `direct`, `tunnel` or `split`.
    pub route: RouteTaken,
    /// The routes that decide it.
    pub routed_by: Vec<String>,
}

impl RangeAudit {
    /// "direct", "through the tunnel", "partly through the tunnel".
    pub fn route_word(&self) -> &'static str {
        match self.route {
            RouteTaken::Direct => "direct",
            RouteTaken::Tunnel => "through the tunnel",
            RouteTaken::Split => "partly through the tunnel",
        }
    }
}

impl FlowAudit {
    /// Whether all of it passes.
    pub(super) fn accepted(&self) -> bool {
        self.verdict == FlowVerdict::Accepted
    }
}

/// What kind of question a flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Asked {
    /// UDP through the firewall.
    Udp,
    /// TCP through the firewall.
    Tcp,
    /// A CONNECT the proxy decides.
    HttpConnect,
}

impl From<Proto> for Asked {
    fn from(p: Proto) -> Self {
        match p {
            Proto::Udp => Asked::Udp,
            Proto::Tcp => Asked::Tcp,
        }
    }
}

fn source_text<S: serde::Serializer>(span: &Option<PortRange>, s: S) -> Result<S::Ok, S::Error> {
    match span {
        Some(r) => s.collect_str(r),
        None => s.serialize_str("-"),
    }
}

/// What a question is about: any address, or these ranges (or a proxy's name and its
/// addresses). In JSON a list, `["any"]` for any address, as it always was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destinations {
    /// Any address of the family.
    Any,
    /// These, as written.
    These(Vec<String>),
}

impl Destinations {
    /// The destinations listed; `None` for any address.
    pub fn listed(&self) -> Option<&[String]> {
        match self {
            Destinations::Any => None,
            Destinations::These(v) => Some(v),
        }
    }
}

impl std::fmt::Display for Destinations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destinations::Any => f.write_str("any"),
            Destinations::These(v) => f.write_str(&v.join(", ")),
        }
    }
}

impl Serialize for Destinations {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Destinations::Any => ["any"].serialize(s),
            Destinations::These(v) => v.serialize(s),
        }
    }
}

/// A modality's predicted path.
#[derive(Debug, Clone, Serialize)]
pub struct ModalityAudit {
    /// The modality.
    pub modality: Modality,
    /// The best path the rules leave (null when a rule the audit cannot evaluate decides).
    pub path: Option<MediaPath>,
    /// Its status, from the path alone (no configuration shows loss or delay).
    pub status: Option<Status>,
    /// The source ports asked about.
    pub source_ports: PortRange,
    /// The path per family.
    pub family_paths: BTreeMap<Family, Option<MediaPath>>,
    /// The flows asked about.
    pub flows: Vec<FlowAudit>,
    /// The smallest change that gives `relay-udp`, when it is not.
    pub fix: Vec<Fix>,
}

/// One change to the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// The command, in the configuration's own tool (`nft ...`, `iptables ...`).
    pub command: String,
    /// Why: the rule or policy it gets past.
    pub reason: String,
}

/// A service's predicted reachability.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceAudit {
    /// The service.
    pub service: ServiceId,
    /// Whether TCP 443 to its addresses passes.
    pub reachable: Option<bool>,
    /// `direct`, `proxy` (with `--proxy` or a squid.conf) or `none`.
    pub via: Option<Via>,
    /// Whether the proxy bumps (intercepts) its TLS, from the squid.conf's `ssl_bump`
    /// (a transparent device on a direct path cannot be seen in a configuration).
    pub intercepted: Option<bool>,
    /// The flows asked about.
    pub flows: Vec<FlowAudit>,
    /// TCP 80 to the same addresses, directly (and from the proxy): reported, not
    /// needed for `reachable` (certificate revocation checks and redirects use it;
    /// `check` does not test it either).
    pub http: Vec<FlowAudit>,
    /// When it is not reached: the smallest change that lets TCP 443 to it through
    /// directly.
    pub fix: Vec<Fix>,
}

/// Per family, as `check` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyAudit {
    /// The family.
    pub family: Family,
    /// The best media path in it.
    pub path: Option<MediaPath>,
    /// UDP to the relays: `accepted`, `dropped`, ...
    pub udp: FlowVerdict,
    /// TCP 443 to the relays.
    pub tcp: FlowVerdict,
    /// Services whose TCP 443 passes.
    pub services_reachable: Vec<ServiceId>,
}

/// What the audit predicts.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// `forward` or `output`.
    pub hook: Hook,
    /// The interfaces given (`in`, `out`, `proxy_in`; null when not given).
    pub interfaces: Interfaces,
    /// Per modality.
    pub modalities: Vec<ModalityAudit>,
    /// Per service.
    pub services: Vec<ServiceAudit>,
    /// Per family.
    pub families: Vec<FamilyAudit>,
    /// What the readers did not understand.
    pub warnings: Vec<String>,
    /// How many questions had an unknown answer.
    pub unknown: usize,
    /// What is out of scope.
    pub notes: Vec<String>,
    /// With a VPN configuration: where it sends Teams media (null without one).
    pub vpn: Option<VpnAudit>,
    /// With a PAC file: its answers (null without one).
    pub pac: Option<PacAudit>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_questions_serialise_as_the_strings_they_always_were() {
        let flow = |destinations, ports, source_ports| FlowAudit {
            family: Family::Ipv4,
            protocol: Asked::Udp,
            destinations,
            ports,
            source_ports,
            verdict: FlowVerdict::Accepted,
            decided_by: Vec::new(),
            unknown: None,
            route: None,
            routed_by: Vec::new(),
            origins: Vec::new(),
        };
        let json = |f: &FlowAudit| serde_json::to_value(f).unwrap();
        let any = flow(
            Destinations::Any,
            PortRange::new(3478, 3481).unwrap(),
            Some(PortRange::new(50000, 50019).unwrap()),
        );
        let v = json(&any);
        assert_eq!(v["destinations"], serde_json::json!(["any"]));
        assert_eq!(v["ports"], "3478-3481");
        assert_eq!(v["source_ports"], "50000-50019");
        assert_eq!(any.destinations.listed(), None);
        assert_eq!(any.destinations.to_string(), "any");

        let proxy = flow(
            Destinations::These(vec!["sip.example".into(), "52.112.0.0/14".into()]),
            PortRange::HTTPS,
            None,
        );
        let v = json(&proxy);
        assert_eq!(
            v["destinations"],
            serde_json::json!(["sip.example", "52.112.0.0/14"])
        );
        assert_eq!(v["ports"], "443");
        assert_eq!(v["source_ports"], "-");
        assert_eq!(proxy.destinations.to_string(), "sip.example, 52.112.0.0/14");
    }
}
