//! The questions an audit asks the firewall, from the model: per modality, UDP
//! 3478-3481 from its source range to the media ranges, then TCP 443 to the relays;
//! per service, TCP 443 to its ranges. The answers in `check`'s words (path, status,
//! reachable, via), each flow with the rules that decide it, and for a modality short
//! of `relay-udp` the smallest change that gives it.

use std::net::IpAddr;

use edgepath_model::rulebook;
use edgepath_model::{
    Family, FlowVerdict, MediaPath, MediaRanges, Modality, PortRange, ServiceId, Status, Via,
    VpnState,
};
use ipnet::IpNet;
use serde::Serialize;

use super::eval::{Decision, Evaluator, Region, Verdict};
use super::ir::{addr, ifname};
use super::ir::{Dim, Hook, Origin, Ruleset};
use super::pac::{Engine, Pac, PacAnswer, PacChoice};
use super::squid::{Connect, Squid};
use super::vpn::{Piece, Tunnel, TunnelKind};
use crate::flows::{Proto, RuleSet};

/// How to audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// `Forward` for a router, `Output` for a host firewall.
    pub hook: Hook,
    /// The families the clients have (a single-stack network: only IPv4).
    pub families: Vec<Family>,
    /// The client's address, when rules depend on it; otherwise any address.
    pub client: Option<IpAddr>,
    /// The explicit proxy the clients use (address, port), if any. Its own traffic to
    /// the internet is asked of the same rules (a proxy in a DMZ behind the same
    /// firewall); it is assumed to allow CONNECT to port 443 (its configuration is
    /// not read yet).
    pub proxy: Option<(IpAddr, u16)>,
    /// The proxy's Squid configuration, when given: its CONNECT rules and TLS bumping
    /// are asked too (and its `http_port` gives the proxy's address without --proxy).
    pub squid: Option<Squid>,
    /// The VPN client's configuration, when given: destinations its routes send into
    /// the tunnel are asked of `egress` instead of the local rules (with a host
    /// firewall, `--hook output`, of both), and only while the local rules pass the
    /// tunnel's own packets to its server.
    pub tunnel: Option<Tunnel>,
    /// The firewall where tunnelled traffic leaves the company (`--egress`); none given:
    /// it passes everything.
    pub egress: Option<Ruleset>,
    /// The clients' PAC file, when given: it decides per service (and for the relays'
    /// TCP) whether a request goes direct or to which proxy, in its order.
    pub pac: Option<Pac>,
    /// The interfaces the audited firewall sees the traffic on.
    pub interfaces: Interfaces,
}

/// The interfaces the audited firewall sees the traffic on (`--in`, `--out`,
/// `--proxy-in`): a rule that matches an interface decides only when its side is given,
/// and is unknown otherwise. Traffic in the VPN tunnel leaves by the tunnel's
/// interface, and the egress firewall's interfaces are not known: rules there that
/// match one are unknown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Interfaces {
    /// Where the clients' packets come in (a router's LAN side).
    #[serde(rename = "in")]
    pub client_in: Option<String>,
    /// Where the packets leave towards Microsoft (the WAN side).
    pub out: Option<String>,
    /// The proxy's side (a DMZ): where its own packets come in, and the clients'
    /// packets to it leave.
    pub proxy_in: Option<String>,
}

/// An interface as a region's interval: the one name given, every name when none was.
fn iface_range(name: Option<&str>) -> (u128, u128) {
    match name.and_then(ifname) {
        Some(n) => (n, n),
        None => (0, u128::MAX),
    }
}

/// One way to the relays' or a service's TCP 443, in the order a client tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rung {
    Direct,
    Proxy,
}

/// Without a PAC: direct first, then the proxy (as `check` tries them).
const LADDER: [Rung; 2] = [Rung::Direct, Rung::Proxy];

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
    /// Destination ranges asked about.
    pub destinations: Vec<String>,
    /// Destination ports (`3478`, `3478-3481`).
    #[serde(serialize_with = "span_text")]
    pub ports: (u16, u16),
    /// Client source ports.
    pub source_ports: String,
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
    origins: Vec<Origin>,
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
    fn of(direct: bool, tunnel: bool) -> Option<RouteTaken> {
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
    fn accepted(&self) -> bool {
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

fn span_text<S: serde::Serializer>(span: &(u16, u16), s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&range_text(*span))
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
    pub source_ports: String,
    /// The path per family.
    pub family_paths: std::collections::BTreeMap<&'static str, Option<MediaPath>>,
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
    pub hook: &'static str,
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

const SERVICES: [ServiceId; 5] = edgepath_model::rulebook::SERVICES_OVER_TCP_443;

fn full(f: Family) -> (u128, u128) {
    match f {
        Family::Ipv4 => (0, u128::from(u32::MAX)),
        Family::Ipv6 => (0, u128::MAX),
    }
}

fn net_range(n: &IpNet) -> (u128, u128) {
    (addr(n.network()), addr(n.broadcast()))
}

/// Whether the tunnel can carry anything: the local rules' answer to its own packets.
enum CarrierState {
    /// Some server is reachable, or none could be asked (a name): it carries.
    Up,
    /// Every server is blocked: tunnelled flows end in these decisions.
    Down(Vec<Decision>),
}

/// The rules a flow meets: the local ones, and with a VPN the company's egress for
/// what the tunnel carries.
struct Paths<'a> {
    local: Evaluator<'a>,
    hook: Hook,
    /// The intervals of `Dim::InIface` for the clients' and the proxy's packets, and of
    /// `Dim::OutIface` outside the tunnel.
    client_in: (u128, u128),
    proxy_in: (u128, u128),
    out: (u128, u128),
    tunnel: Option<&'a Tunnel>,
    egress: Option<Evaluator<'a>>,
    carrier: CarrierState,
}

impl Paths<'_> {
    /// The decisions for a region the tunnel carries: the carrier's when it is down;
    /// else (a host firewall sees the inner packet too) the local rules', then the
    /// egress' from any source (the tunnel's address, or the company's NAT).
    fn through_tunnel(&self, region: Region) -> Vec<Decision> {
        if let CarrierState::Down(d) = &self.carrier {
            return d.clone();
        }
        let local = if self.hook == Hook::Output {
            self.local.evaluate(region)
        } else {
            vec![(
                region,
                Decision {
                    verdict: Verdict::Accept,
                    by: Vec::new(),
                },
            )]
        };
        let mut out = Vec::new();
        for (mut r, d) in local {
            match (&self.egress, &d.verdict) {
                (Some(e), Verdict::Accept) => {
                    r.range[Dim::SrcAddr as usize] = full(r.family);
                    r.range[Dim::InIface as usize] = iface_range(None);
                    r.range[Dim::OutIface as usize] = iface_range(None);
                    out.extend(e.evaluate(r).into_iter().map(|(_, d)| d));
                }
                _ => out.push(d),
            }
        }
        out
    }
}

/// Asks one question: `proto` from `sports` to `nets` (any address when none) on
/// `dports`; the answer over all of it.
fn ask(
    ev: &Paths<'_>,
    opts: &AuditOptions,
    family: Family,
    proto: Proto,
    sports: (u16, u16),
    nets: &[IpNet],
    dports: (u16, u16),
) -> FlowAudit {
    ask_from(
        ev,
        Sender::Client(opts.client),
        family,
        proto,
        sports,
        nets,
        dports,
    )
}

/// Whose packets a question is about, and so which interfaces they cross: the
/// client's towards Microsoft (from its address, or any when not given), the client's
/// to its proxy (out on the proxy's side), or the proxy's own.
#[derive(Debug, Clone, Copy)]
enum Sender {
    Client(Option<IpAddr>),
    ClientToProxy(Option<IpAddr>),
    Proxy(IpAddr),
}

/// The TCP questions every route asks: HTTPS from the client, to the proxy, and from
/// the proxy onwards.
struct Https<'a> {
    ev: &'a Paths<'a>,
    opts: &'a AuditOptions,
    proxy: Option<(IpAddr, u16)>,
}

/// A client's TCP source ports.
const EPHEMERAL: (u16, u16) = (1024, 65535);

impl Https<'_> {
    fn proxy(&self, family: Family) -> Option<(IpAddr, u16)> {
        self.proxy.filter(|(ip, _)| Family::of(*ip) == family)
    }

    /// TCP 443 from the client to `nets`.
    fn direct(&self, family: Family, nets: &[IpNet]) -> FlowAudit {
        self.direct_to(family, nets, 443)
    }

    /// TCP `port` from the client to `nets`.
    fn direct_to(&self, family: Family, nets: &[IpNet], port: u16) -> FlowAudit {
        ask(
            self.ev,
            self.opts,
            family,
            Proto::Tcp,
            EPHEMERAL,
            nets,
            (port, port),
        )
    }

    /// TCP 443 from the proxy to `nets`, when there is a proxy of the family.
    fn onwards(&self, family: Family, nets: &[IpNet]) -> Option<FlowAudit> {
        self.onwards_to(family, nets, 443)
    }

    /// TCP `port` from the proxy to `nets`, when there is a proxy of the family.
    fn onwards_to(&self, family: Family, nets: &[IpNet], port: u16) -> Option<FlowAudit> {
        let (proxy, _) = self.proxy(family)?;
        Some(ask_from(
            self.ev,
            Sender::Proxy(proxy),
            family,
            Proto::Tcp,
            EPHEMERAL,
            nets,
            (port, port),
        ))
    }

    /// TCP from the client to the proxy's port, when there is a proxy of the family.
    fn to_proxy(&self, family: Family) -> Option<FlowAudit> {
        let (proxy, port) = self.proxy(family)?;
        Some(ask_from(
            self.ev,
            Sender::ClientToProxy(self.opts.client),
            family,
            Proto::Tcp,
            EPHEMERAL,
            &[IpNet::from(proxy)],
            (port, port),
        ))
    }
}

/// [`ask`] from a given source (any address when none or of the other family).
fn ask_from(
    ev: &Paths<'_>,
    from: Sender,
    family: Family,
    proto: Proto,
    sports: (u16, u16),
    nets: &[IpNet],
    dports: (u16, u16),
) -> FlowAudit {
    let (ip, in_iface, out_iface) = match from {
        Sender::Client(ip) => (ip, ev.client_in, ev.out),
        Sender::ClientToProxy(ip) => (ip, ev.client_in, ev.proxy_in),
        Sender::Proxy(ip) => (Some(ip), ev.proxy_in, ev.out),
    };
    let src = match ip {
        Some(ip) if Family::of(ip) == family => (addr(ip), addr(ip)),
        _ => full(family),
    };
    let dsts: Vec<(u128, u128)> = if nets.is_empty() {
        vec![full(family)]
    } else {
        nets.iter().map(net_range).collect()
    };
    let mut decisions: Vec<Decision> = Vec::new();
    let (mut direct, mut tunnelled) = (false, false);
    let mut routed_by: Vec<String> = Vec::new();
    for dst in dsts {
        let pieces = match ev.tunnel {
            Some(t) => t.split(family, dst),
            None => vec![Piece {
                range: dst,
                route: None,
            }],
        };
        for piece in pieces {
            let region = Region {
                family,
                range: [
                    match proto {
                        Proto::Tcp => (6, 6),
                        Proto::Udp => (17, 17),
                    },
                    src,
                    (u128::from(sports.0), u128::from(sports.1)),
                    piece.range,
                    (u128::from(dports.0), u128::from(dports.1)),
                    in_iface,
                    // Into the tunnel, the packets leave by its interface, not named.
                    if piece.tunnelled() {
                        iface_range(None)
                    } else {
                        out_iface
                    },
                ],
            };
            if let Some(r) = piece.route {
                let text = r.origin.to_string();
                if !routed_by.contains(&text) {
                    routed_by.push(text);
                }
            }
            if piece.tunnelled() {
                tunnelled = true;
                decisions.extend(ev.through_tunnel(region));
            } else {
                direct = true;
                decisions.extend(ev.local.evaluate(region).into_iter().map(|(_, d)| d));
            }
        }
    }
    let unknown = decisions.iter().find_map(|d| match &d.verdict {
        Verdict::Unknown(w) => Some(w.clone()),
        _ => None,
    });
    let all = |v: &Verdict| decisions.iter().all(|d| &d.verdict == v);
    let verdict = if unknown.is_some() {
        FlowVerdict::Unknown
    } else if all(&Verdict::Accept) {
        FlowVerdict::Accepted
    } else if all(&Verdict::Drop) {
        FlowVerdict::Dropped
    } else if all(&Verdict::Reject) {
        FlowVerdict::Rejected
    } else if decisions.iter().all(|d| d.verdict != Verdict::Accept) {
        FlowVerdict::Blocked
    } else {
        FlowVerdict::Partly
    };
    // The deciding rules: for a block, the blocking ones; else every one, once.
    let mut by: Vec<String> = Vec::new();
    let mut origins = Vec::new();
    let blocking = decisions.iter().any(|d| d.verdict != Verdict::Accept);
    for d in &decisions {
        if blocking && d.verdict == Verdict::Accept {
            continue;
        }
        for o in &d.by {
            let s = origin_text(o);
            if !s.is_empty() && !by.contains(&s) {
                by.push(s);
                origins.push(o.clone());
            }
        }
    }
    if decisions.iter().all(|d| d.by.is_empty())
        && decisions.iter().all(|d| d.verdict == Verdict::Accept)
    {
        by.push(format!(
            "no {} chain on this hook: everything passes",
            family
        ));
    }
    FlowAudit {
        family,
        protocol: proto.into(),
        destinations: if nets.is_empty() {
            vec!["any".into()]
        } else {
            nets.iter().map(ToString::to_string).collect()
        },
        ports: dports,
        source_ports: range_text(sports),
        verdict,
        decided_by: by,
        unknown,
        route: ev.tunnel.and_then(|_| RouteTaken::of(direct, tunnelled)),
        routed_by,
        origins,
    }
}

/// What the proxy does with a CONNECT to the service's first probe name and addresses
/// on 443, as one of the questions.
fn connect(
    sq: &Squid,
    client: Option<IpAddr>,
    family: Family,
    service: ServiceId,
    nets: &[IpNet],
) -> FlowAudit {
    let name = service.def().probe_names.first().copied();
    let ranges: Vec<(u128, u128)> = nets.iter().map(net_range).collect();
    let d = sq.decide(&Connect {
        client,
        name,
        addresses: &ranges,
        port: 443,
    });
    let verdict = match (d.allowed, d.bumped) {
        (None, _) | (Some(true), None) => FlowVerdict::Unknown,
        (Some(false), _) => FlowVerdict::Denied,
        (Some(true), Some(true)) => FlowVerdict::Intercepted,
        (Some(true), Some(false)) => FlowVerdict::Accepted,
    };
    let mut destinations: Vec<String> = name.map(str::to_owned).into_iter().collect();
    destinations.extend(nets.iter().map(ToString::to_string));
    FlowAudit {
        family,
        protocol: Asked::HttpConnect,
        destinations,
        ports: (443, 443),
        source_ports: "-".into(),
        verdict,
        decided_by: d.by,
        unknown: d.unknown,
        route: None,
        routed_by: Vec::new(),
        origins: Vec::new(),
    }
}

fn origin_text(o: &Origin) -> String {
    if o.file.is_empty() {
        return String::new();
    }
    o.to_string()
}

fn range_text((a, b): (u16, u16)) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

fn source_range(ranges: &MediaRanges, m: Modality) -> PortRange {
    match m {
        Modality::Audio => ranges.audio,
        Modality::Video => ranges.video,
        Modality::AppSharing => ranges.app_sharing,
        Modality::FileTransfer => ranges.file_transfer,
    }
}

fn nets_of(flow: &crate::flows::Flow, family: Family) -> Vec<IpNet> {
    match family {
        Family::Ipv4 => flow.v4.iter().map(|n| IpNet::V4(*n)).collect(),
        Family::Ipv6 => flow.v6.iter().map(|n| IpNet::V6(*n)).collect(),
    }
}

/// Audits `rules` (every file given, merged) against the flows of `model`.
pub fn audit(
    rules: Vec<Ruleset>,
    model: &RuleSet,
    ranges: &MediaRanges,
    opts: &AuditOptions,
) -> AuditReport {
    // No firewall given at all (a proxy, PAC or VPN file alone): none is in the way of
    // either family, and the notes say so. Otherwise only the families the files
    // describe are known.
    let no_firewall = rules.is_empty();
    let mut merged = if no_firewall {
        Ruleset::describing(&[Family::Ipv4, Family::Ipv6])
    } else {
        Ruleset::default()
    };
    for r in rules {
        merged.merge(r);
    }
    if let Some(sq) = &opts.squid {
        merged.warnings.extend(sq.warnings.iter().cloned());
    }
    for extra in [
        opts.tunnel.as_ref().map(|t| &t.warnings),
        opts.egress.as_ref().map(|e| &e.warnings),
    ]
    .into_iter()
    .flatten()
    {
        merged.warnings.extend(extra.iter().cloned());
    }
    let ifaces = &opts.interfaces;
    let sides = Sides::of(opts);
    let client_in = match opts.hook {
        // A host's own packets come in on no interface: `iifname` never matches them.
        Hook::Output => (0, 0),
        _ => iface_range(ifaces.client_in.as_deref()),
    };
    let mut ev = Paths {
        local: Evaluator::new(&merged, opts.hook),
        hook: opts.hook,
        client_in,
        proxy_in: iface_range(ifaces.proxy_in.as_deref()),
        out: iface_range(ifaces.out.as_deref()),
        tunnel: None,
        egress: opts
            .egress
            .as_ref()
            .map(|e| Evaluator::new(e, Hook::Forward)),
        carrier: CarrierState::Up,
    };
    // The tunnel's own packets go to its server outside the tunnel, through the local
    // rules; asked before the tunnel is in place.
    let carriers: Vec<FlowAudit> = opts
        .tunnel
        .iter()
        .flat_map(|t| &t.carriers)
        .filter_map(|c| {
            let a = c.address?;
            Some(ask_from(
                &ev,
                Sender::Client(opts.client),
                Family::of(a),
                c.proto,
                EPHEMERAL,
                &[IpNet::from(a)],
                (c.port, c.port),
            ))
        })
        .collect();
    if !carriers.is_empty() && !carriers.iter().any(FlowAudit::accepted) {
        ev.carrier = CarrierState::Down(
            carriers
                .iter()
                .map(|c| Decision {
                    verdict: match c.verdict {
                        FlowVerdict::Rejected => Verdict::Reject,
                        FlowVerdict::Unknown => {
                            Verdict::Unknown(c.unknown.clone().unwrap_or_else(|| "unknown".into()))
                        }
                        _ => Verdict::Drop,
                    },
                    by: c.origins.clone(),
                })
                .collect(),
        );
    }
    ev.tunnel = opts.tunnel.as_ref();
    let relay_udp: Vec<&crate::flows::Flow> = model
        .flows
        .iter()
        .filter(|f| f.media && f.proto == Proto::Udp)
        .collect();
    let mut unknown = 0;
    let mut count = |v: &FlowAudit| {
        if v.verdict == FlowVerdict::Unknown {
            unknown += 1;
        }
    };
    let mut per_family: Vec<FamilyAudit> = Vec::new();
    let mut modalities = Vec::new();
    // TCP 443 to the relays (the addresses media goes to, as `check` probes them) does
    // not depend on the modality: asked once per family, directly and, with a proxy,
    // to the proxy and from the proxy.
    let mut notes = vec![
        "NAT is out of scope: rules are read as filters on the client's own addresses and ports."
            .to_owned(),
    ];
    if no_firewall {
        notes.push(
            "no firewall ruleset was given: no packet filter is taken to be in the way (give \
             `nft -j list ruleset` or iptables-save output to audit one)"
                .to_owned(),
        );
    }
    let configured_proxy = opts.proxy.or_else(|| {
        opts.squid.as_ref().and_then(|s| {
            s.ports
                .iter()
                .find_map(|(ip, port, _)| ip.map(|ip| (ip, *port)))
        })
    });
    let pac = opts
        .pac
        .as_ref()
        .map(|p| ask_pac(p, model, opts, &relay_udp, &mut notes));
    // The PAC's proxy, when it names one by address; a name is taken to be the proxy
    // given by --proxy or the squid.conf. Where the PAC names several (a failover
    // list), the one audit was given is asked about: clients reach it when the ones
    // before it do not answer.
    let pac_proxy = pac.as_ref().and_then(|p| {
        let given = configured_proxy.and_then(|(ip, port)| {
            p.proxies
                .iter()
                .find(|(h, pp)| *pp == port && h.parse::<IpAddr>().ok() == Some(ip))
        });
        if let (Some((h, pp)), Some((first_h, first_p))) = (given, p.proxies.first()) {
            if (h, pp) != (first_h, first_p) {
                notes.push(format!(
                    "the PAC names {first_h}:{first_p} before {h}:{pp}, the proxy audit was given: clients reach {h}:{pp} when the proxies before it do not answer, and that is the one asked about"
                ));
            }
        }
        given.or(p.proxies.first()).cloned()
    });
    let proxy = match pac_proxy {
        Some((host, port)) => match host.parse::<IpAddr>() {
            Ok(ip) => Some((ip, port)),
            Err(_) => {
                if configured_proxy.is_none() {
                    notes.push(format!(
                        "the PAC's proxy {host}:{port} is a name: give --proxy ADDR:PORT to ask the rules about it"
                    ));
                }
                configured_proxy
            }
        },
        None => configured_proxy,
    };
    let https = Https {
        ev: &ev,
        opts,
        proxy,
    };
    let mut tcp_relay: Vec<(Family, Vec<FlowAudit>)> = Vec::new();
    let mut proxy_relay: Vec<(Family, Vec<FlowAudit>)> = Vec::new();
    for &family in &opts.families {
        let mut v = Vec::new();
        let mut via = Vec::new();
        for f in &relay_udp {
            let nets = nets_of(f, family);
            if nets.is_empty() {
                continue;
            }
            v.push(https.direct(family, &nets));
            via.extend(https.onwards(family, &nets));
        }
        via.extend(https.to_proxy(family));
        if let (Some(sq), Some(_)) = (&opts.squid, https.proxy(family)) {
            let nets: Vec<IpNet> = relay_udp.iter().flat_map(|f| nets_of(f, family)).collect();
            via.push(connect(sq, opts.client, family, ServiceId::AvEdge, &nets));
        }
        v.iter().chain(&via).for_each(&mut count);
        tcp_relay.push((family, v));
        proxy_relay.push((family, via));
    }
    let relay_ladder = match &pac {
        Some(p) => p.ladder("relays"),
        None => Some(LADDER.to_vec()),
    };
    for m in Modality::ALL.iter().copied() {
        let src = source_range(ranges, m);
        let mut flows = Vec::new();
        let mut family_paths = std::collections::BTreeMap::new();
        let mut best: Option<MediaPath> = Some(MediaPath::None);
        let mut undecided = false;
        for ((family, tcp), (_, via)) in tcp_relay.iter().zip(&proxy_relay) {
            let mut udp = Vec::new();
            let mut udp_ok = true;
            for f in &relay_udp {
                let nets = nets_of(f, *family);
                if nets.is_empty() {
                    continue;
                }
                // The client needs one relay port that passes (media works on 3478
                // alone): the four standard ports are asked one by one, a wider range
                // (the legacy high ports) as a whole.
                let first = udp.len();
                for p in f.ports.ranges() {
                    let ports: Vec<(u16, u16)> = if p.last() - p.first() < 8 {
                        (p.first()..=p.last()).map(|x| (x, x)).collect()
                    } else {
                        vec![(p.first(), p.last())]
                    };
                    for ports in ports {
                        udp.push(ask(
                            &ev,
                            opts,
                            *family,
                            Proto::Udp,
                            (src.first(), src.last()),
                            &nets,
                            ports,
                        ));
                    }
                }
                udp_ok &= udp[first..].iter().any(FlowAudit::accepted);
            }
            udp.iter().for_each(&mut count);
            let path = if !udp.is_empty() && udp_ok {
                Some(MediaPath::RelayUdp)
            } else if udp.iter().any(|v| v.verdict == FlowVerdict::Unknown) {
                None
            } else {
                // Over TCP, the ways the PAC gives (or direct, then the proxy), in order.
                climb(
                    relay_ladder.as_deref(),
                    |rung| match rung {
                        Rung::Direct => tcp,
                        Rung::Proxy => via,
                    },
                    |list| !list.is_empty() && list.iter().all(FlowAudit::accepted),
                )
                .map(|r| match r {
                    Some(Rung::Direct) => MediaPath::RelayTcp,
                    Some(Rung::Proxy) => MediaPath::RelayTcpProxy,
                    None => MediaPath::None,
                })
            };
            if path.is_none() {
                undecided = true;
            }
            family_paths.insert(family.name(), path);
            if let (Some(p), Some(b)) = (path, best) {
                if rulebook::rank(p) < rulebook::rank(b) {
                    best = Some(p);
                }
            }
            flows.extend(udp);
            flows.extend(tcp.iter().cloned());
            flows.extend(via.iter().cloned());
        }
        // A family that surely works beats one that is unknown; otherwise unknown.
        let path = match best {
            Some(MediaPath::RelayUdp) => best,
            _ if undecided => None,
            b => b,
        };
        let fix = if path == Some(MediaPath::RelayUdp) {
            Vec::new()
        } else {
            fixes(&flows, Asked::Udp, Some(src), &sides)
        };
        modalities.push(ModalityAudit {
            modality: m,
            path,
            status: path.map(MediaPath::base_status),
            source_ports: range_text((src.first(), src.last())),
            family_paths,
            flows,
            fix,
        });
    }
    notes.extend(family_assumptions(&modalities, &opts.families));
    let mut services = Vec::new();
    for s in SERVICES {
        let mut flows = Vec::new();
        let mut via = Vec::new();
        let mut http = Vec::new();
        for &family in &opts.families {
            for f in model.flows.iter().filter(|f| {
                f.services.contains(&s) && f.proto == Proto::Tcp && f.ports.contains(80)
            }) {
                let nets = nets_of(f, family);
                if nets.is_empty() && f.has_addresses() {
                    continue;
                }
                http.push(https.direct_to(family, &nets, 80));
                http.extend(https.onwards_to(family, &nets, 80));
            }
            for f in model.flows.iter().filter(|f| {
                f.services.contains(&s) && f.proto == Proto::Tcp && f.ports.contains(443)
            }) {
                let nets = nets_of(f, family);
                if nets.is_empty() && f.has_addresses() {
                    continue;
                }
                flows.push(https.direct(family, &nets));
                via.extend(https.onwards(family, &nets));
            }
            if let Some(to_proxy) = https.to_proxy(family) {
                via.push(to_proxy);
                if let Some(sq) = &opts.squid {
                    let nets: Vec<IpNet> = model
                        .flows
                        .iter()
                        .filter(|f| f.services.contains(&s) && f.proto == Proto::Tcp)
                        .flat_map(|f| nets_of(f, family))
                        .collect();
                    via.push(connect(sq, opts.client, family, s, &nets));
                }
            }
        }
        flows.iter().chain(&via).chain(&http).for_each(&mut count);
        // Reachable when some family passes for all of the service's destinations.
        // An intercepting proxy still reaches a service (the client sees another
        // issuer); media through it does not.
        let passes = |list: &[FlowAudit]| {
            opts.families.iter().any(|fam| {
                let mine: Vec<&FlowAudit> = list.iter().filter(|v| v.family == *fam).collect();
                !mine.is_empty()
                    && mine
                        .iter()
                        .all(|v| v.accepted() || v.verdict == FlowVerdict::Intercepted)
            })
        };
        let ladder = match &pac {
            Some(p) => p.ladder(s.id()),
            None => Some(LADDER.to_vec()),
        };
        let via_kind = climb(
            ladder.as_deref(),
            |rung| match rung {
                Rung::Direct => &flows,
                Rung::Proxy => &via,
            },
            |list| passes(list),
        )
        .map(|r| match r {
            Some(Rung::Direct) => Via::Direct,
            Some(Rung::Proxy) => Via::Proxy,
            None => Via::None,
        });
        // Not reached: open TCP 443 to it directly (the best route), before what blocks it.
        let fix = if via_kind == Some(Via::None) {
            fixes(&flows, Asked::Tcp, None, &sides)
        } else {
            Vec::new()
        };
        flows.extend(via);
        let intercepted = if via_kind == Some(Via::Proxy) {
            Some(flows.iter().any(|v| v.verdict == FlowVerdict::Intercepted))
        } else if via_kind.is_some() {
            Some(false)
        } else {
            None
        };
        services.push(ServiceAudit {
            service: s,
            reachable: via_kind.map(|v| v != Via::None),
            via: via_kind,
            intercepted,
            flows,
            http,
            fix,
        });
    }
    for (family, tcp) in &tcp_relay {
        let path = modalities
            .first()
            .and_then(|m| m.family_paths.get(family.name()).copied().flatten());
        let udp = modalities
            .first()
            .map(|m| {
                let mine: Vec<&FlowAudit> = m
                    .flows
                    .iter()
                    .filter(|v| v.family == *family && v.protocol == Asked::Udp)
                    .collect();
                // As `check`: the relay answers on UDP when some port of it passes.
                if m.family_paths.get(family.name()) == Some(&Some(MediaPath::RelayUdp)) {
                    FlowVerdict::Accepted
                } else {
                    summary(&mine)
                }
            })
            .unwrap_or(FlowVerdict::NotAsked);
        per_family.push(FamilyAudit {
            family: *family,
            path,
            udp,
            tcp: summary(&tcp.iter().collect::<Vec<_>>()),
            services_reachable: services
                .iter()
                .filter(|s| {
                    let mine: Vec<&FlowAudit> =
                        s.flows.iter().filter(|v| v.family == *family).collect();
                    !mine.is_empty() && mine.iter().all(|v| v.accepted())
                })
                .map(|s| s.service)
                .collect(),
        });
    }
    let vpn = opts.tunnel.as_ref().map(|t| {
        let media: Vec<IpNet> = relay_udp
            .iter()
            .flat_map(|f| opts.families.iter().flat_map(|fam| nets_of(f, *fam)))
            .collect();
        let services_tunnelled = services
            .iter()
            .flat_map(|s| &s.flows)
            .any(|f| matches!(f.route, Some(RouteTaken::Tunnel | RouteTaken::Split)));
        vpn_audit(
            t,
            &media,
            services_tunnelled,
            carriers,
            opts.egress.is_some(),
        )
    });
    if let Some(v) = &vpn {
        if matches!(v.state, VpnState::Forced | VpnState::Partial) {
            // The rule `check` applies: media through the tunnel is degraded at best.
            for m in &mut modalities {
                m.status = m
                    .status
                    .map(edgepath_model::rulebook::status_through_tunnel);
                // Taking media out of the tunnel first: the better path, whatever the
                // company's egress does.
                m.fix.splice(0..0, v.fix.iter().cloned());
            }
        }
    }
    notes.extend(opts.squid.iter().flat_map(|s| s.notes.iter().cloned()));
    if let Some(t) = &opts.tunnel {
        notes.extend(t.notes.iter().cloned());
        if opts.egress.is_none() {
            notes.push(
                "no --egress ruleset: what the tunnel carries is taken to pass the company's egress"
                    .to_owned(),
            );
        }
        if t.carriers.iter().any(|c| c.address.is_none()) {
            notes.push(format!(
                "the tunnel's server {} is a name: its packets are not asked of the local rules",
                t.carriers
                    .iter()
                    .filter(|c| c.address.is_none())
                    .map(|c| c.host.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    AuditReport {
        hook: match opts.hook {
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Other => "other",
        },
        interfaces: opts.interfaces.clone(),
        modalities,
        services,
        families: per_family,
        warnings: merged.warnings,
        unknown,
        notes,
        vpn,
        pac: pac.map(PacAnswers::into_audit),
    }
}

/// Climbs a ladder of ways: the first whose flows `pass` (`Some(Some(rung))`); none
/// (`Some(None)`); or unknown (`None`) when a way before the one that passes is
/// unknown, or the ladder itself is (the PAC failed).
fn climb<'a>(
    ladder: Option<&[Rung]>,
    flows: impl Fn(Rung) -> &'a [FlowAudit],
    pass: impl Fn(&[FlowAudit]) -> bool,
) -> Option<Option<Rung>> {
    for &rung in ladder? {
        let list = flows(rung);
        if pass(list) {
            return Some(Some(rung));
        }
        if list.iter().any(|v| v.verdict == FlowVerdict::Unknown) {
            return None;
        }
    }
    Some(None)
}

/// The PAC's answers for the services and the relays.
struct PacAnswers {
    file: String,
    /// (target, url, answer, the line's text).
    answers: Vec<(String, String, PacAnswer, Option<String>)>,
    /// Every proxy the answers name, in the order first named.
    proxies: Vec<(String, u16)>,
}

impl PacAnswers {
    /// The ladder for `target`: the PAC's choices in order (SOCKS left out: not a way
    /// the audit models); DIRECT alone when it gave no answer (the PAC threw or ran
    /// too long), as clients fall back, and as `check` does (`None`: never asked).
    fn ladder(&self, target: &str) -> Option<Vec<Rung>> {
        let (_, _, a, _) = self.answers.iter().find(|(t, ..)| t == target)?;
        if a.error.is_some() {
            return Some(vec![Rung::Direct]);
        }
        let mut out = Vec::new();
        for c in &a.choices {
            let rung = match c {
                PacChoice::Direct => Rung::Direct,
                PacChoice::Proxy { .. } => Rung::Proxy,
                PacChoice::Socks(_) => continue,
            };
            if !out.contains(&rung) {
                out.push(rung);
            }
        }
        Some(out)
    }

    fn into_audit(self) -> PacAudit {
        PacAudit {
            proxy: self.proxies.first().map(|(h, p)| format!("{h}:{p}")),
            questions: self
                .answers
                .into_iter()
                .map(|(target, url, a, text)| PacQuestion {
                    target,
                    url,
                    answer: a.text,
                    decided_by: a
                        .line
                        .map(|l| format!("{}:{l}: {}", self.file, text.unwrap_or_default())),
                    error: a.error,
                })
                .collect(),
            file: self.file,
        }
    }
}

/// Runs the PAC for every service's first name and for the first relay address, with
/// `dnsResolve` answered from the model's names.
fn ask_pac(
    pac: &Pac,
    model: &RuleSet,
    opts: &AuditOptions,
    relay_udp: &[&crate::flows::Flow],
    notes: &mut Vec<String>,
) -> PacAnswers {
    // name pattern -> an address of its first flow (IPv4 first); the first host of a
    // range rather than its network address.
    let mut names: Vec<(String, IpAddr)> = Vec::new();
    for f in &model.flows {
        let first =
            f.v4.first()
                .map(|n| {
                    let a = u32::from(n.network());
                    IpAddr::from(std::net::Ipv4Addr::from(if n.prefix_len() < 31 {
                        a + 1
                    } else {
                        a
                    }))
                })
                .or_else(|| f.v6.first().map(|n| IpAddr::from(n.network())));
        if let Some(a) = first {
            for n in &f.names {
                names.push((n.to_ascii_lowercase(), a));
            }
        }
    }
    let resolve = move |host: &str| {
        names.iter().find_map(|(pattern, a)| {
            let hit = match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => host == pattern,
            };
            hit.then_some(*a)
        })
    };
    let my_ip = opts
        .client
        .map_or_else(|| "127.0.0.1".to_owned(), |c| c.to_string());
    let mut out = PacAnswers {
        file: pac.file.clone(),
        answers: Vec::new(),
        proxies: Vec::new(),
    };
    let engine = match Engine::new(pac, Box::new(resolve), my_ip) {
        Ok(e) => e,
        Err((_, e)) => {
            notes.push(format!("{}: {e}", pac.file));
            return out;
        }
    };
    let mut questions: Vec<(String, String, String)> = SERVICES
        .iter()
        .filter_map(|s| {
            let name = s.def().probe_names.first()?;
            Some((
                s.id().to_owned(),
                format!("https://{name}/"),
                (*name).to_owned(),
            ))
        })
        .collect();
    // The relays are reached by address (as the provisioning gives them).
    if let Some(relay) = relay_udp
        .iter()
        .find_map(|f| f.v4.first().map(|n| IpAddr::from(n.network())))
    {
        questions.push((
            "relays".into(),
            format!("https://{relay}/"),
            relay.to_string(),
        ));
    }
    for (target, url, host) in questions {
        let a = engine.find(&url, &host);
        for c in &a.choices {
            if let PacChoice::Proxy { host, port } = c {
                if !out.proxies.contains(&(host.clone(), *port)) {
                    out.proxies.push((host.clone(), *port));
                }
            }
        }
        if let Some(e) = &a.error {
            notes.push(format!(
                "{}: the PAC gave no answer for {target} ({e}): clients go DIRECT, and the audit follows them",
                pac.file
            ));
        }
        let text = a.line.and_then(|l| {
            pac.source
                .lines()
                .nth(l.saturating_sub(1))
                .map(|t| t.trim().to_owned())
        });
        out.answers.push((target, url, a, text));
    }
    out
}

/// Where the tunnel sends the media ranges, in `check`'s VPN words, and the change
/// that takes them out of it.
fn vpn_audit(
    t: &Tunnel,
    media: &[IpNet],
    services_tunnelled: bool,
    carriers: Vec<FlowAudit>,
    egress_given: bool,
) -> VpnAudit {
    let mut ranges = Vec::new();
    let mut inside: Vec<IpNet> = Vec::new();
    for net in media {
        let pieces = t.split(Family::of(net.addr()), net_range(net));
        let tunnelled = pieces.iter().any(Piece::tunnelled);
        let direct = pieces.iter().any(|p| !p.tunnelled());
        let mut routed_by: Vec<String> = Vec::new();
        for r in pieces.iter().filter_map(|p| p.route) {
            let text = r.origin.to_string();
            if !routed_by.contains(&text) {
                routed_by.push(text);
            }
        }
        if tunnelled && !inside.contains(net) {
            inside.push(*net);
        }
        if let Some(route) = RouteTaken::of(direct, tunnelled) {
            ranges.push(RangeAudit {
                net: net.to_string(),
                route,
                routed_by,
            });
        }
    }
    let any_direct = ranges.iter().any(|r| r.route != RouteTaken::Tunnel);
    let names = inside
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let (state, note) = if inside.is_empty() {
        if services_tunnelled {
            (
                VpnState::Split,
                format!(
                    "split tunnel: Teams media goes direct, other traffic through {}",
                    t.label()
                ),
            )
        } else {
            (
                VpnState::None,
                format!("{} carries none of the destinations asked about", t.label()),
            )
        }
    } else if any_direct {
        (
            VpnState::Partial,
            format!(
                "partial split tunnel: {names} through {}, the other media ranges direct: the split list is out of date",
                t.label()
            ),
        )
    } else {
        (
            VpnState::Forced,
            format!(
                "forced tunnel: Teams media goes through {} to the company and back out (a hairpin)",
                t.label()
            ),
        )
    };
    let fix = if inside.is_empty() {
        Vec::new()
    } else {
        tunnel_fix(t, media, &inside)
    };
    VpnAudit {
        state,
        tunnel: t.kind,
        file: t.file.clone(),
        media: ranges,
        carriers,
        egress_given,
        note,
        fix,
        notes: t.notes.clone(),
    }
}

/// The smallest change to the VPN configuration that routes every media range outside
/// the tunnel: WireGuard's AllowedIPs without them; OpenVPN's `net_gateway` routes.
fn tunnel_fix(t: &Tunnel, media: &[IpNet], inside: &[IpNet]) -> Vec<Fix> {
    let lines = |routes: &mut dyn Iterator<Item = &super::vpn::TunnelRoute>| {
        let mut v: Vec<String> = routes
            .filter_map(|r| r.origin.line.map(|l| format!("{}:{l}", r.origin.file)))
            .collect();
        v.dedup();
        v.join(", ")
    };
    let reason = format!(
        "{} leave the tunnel (Microsoft's VPN split-tunnel advice; `edgepath rules --target {}` writes the whole list)",
        inside
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        match t.kind {
            TunnelKind::Wireguard => "wireguard",
            TunnelKind::Openvpn => "openvpn",
        }
    );
    match t.kind {
        TunnelKind::Wireguard => {
            let mut allowed: Vec<String> = Vec::new();
            for family in [Family::Ipv4, Family::Ipv6] {
                let from: Vec<(u128, u128)> = t
                    .routes
                    .iter()
                    .filter(|r| r.family == family && r.tunnel)
                    .map(|r| r.range)
                    .collect();
                let minus: Vec<(u128, u128)> = media
                    .iter()
                    .filter(|n| Family::of(n.addr()) == family)
                    .map(net_range)
                    .collect();
                let bits = if family == Family::Ipv4 { 32 } else { 128 };
                for (a, len) in crate::complement::subtract(from, minus, bits) {
                    let ip = match family {
                        // The value came from an IPv4 range: it fits in 32 bits.
                        Family::Ipv4 => IpAddr::from(std::net::Ipv4Addr::from(a as u32)),
                        Family::Ipv6 => IpAddr::from(std::net::Ipv6Addr::from(a)),
                    };
                    allowed.push(format!("{ip}/{len}"));
                }
            }
            vec![Fix {
                command: format!("AllowedIPs = {}", allowed.join(", ")),
                reason: format!(
                    "instead of the AllowedIPs at {}: {reason}",
                    lines(&mut t.routes.iter())
                ),
            }]
        }
        TunnelKind::Openvpn => inside
            .iter()
            .map(|n| Fix {
                command: match n {
                    IpNet::V4(v4) => {
                        format!("route {} {} net_gateway", v4.network(), v4.netmask())
                    }
                    IpNet::V6(v6) => format!("route-ipv6 {v6} net_gateway"),
                },
                reason: format!("add to {}: {reason}", t.file),
            })
            .collect(),
    }
}

/// What a modality's verdict assumes of the clients' families: where the best path is
/// only one family's, a note names it and what the others give (a client without that
/// family gets less), one note per distinct case.
fn family_assumptions(modalities: &[ModalityAudit], families: &[Family]) -> Vec<String> {
    let mut cases: Vec<(String, Vec<&str>)> = Vec::new();
    for m in modalities {
        let Some(best) = m.path else { continue };
        let (giving, others): (Vec<Family>, Vec<Family>) = families
            .iter()
            .partition(|f| m.family_paths.get(f.name()) == Some(&Some(best)));
        if others.is_empty() || giving.is_empty() {
            continue;
        }
        let without: Vec<String> = others
            .iter()
            .map(|f| match m.family_paths.get(f.name()).copied().flatten() {
                Some(p) => format!("{f} gives {p}"),
                None => format!("{f} is unknown"),
            })
            .collect();
        let names: Vec<String> = giving.iter().map(ToString::to_string).collect();
        // `others` is not empty: more than one family was asked, so `--family both`.
        let case = format!(
            "{best} only over {} ({}): the verdict takes the clients to have {} (--family \
             both); if they do not, give --family {}",
            names.join(" and "),
            without.join(", "),
            names.join(" and "),
            others[0],
        );
        match cases.iter_mut().find(|(c, _)| *c == case) {
            Some((_, ms)) => ms.push(m.modality.id()),
            None => cases.push((case, vec![m.modality.id()])),
        }
    }
    cases
        .into_iter()
        .map(|(case, ms)| format!("{}: {case}", ms.join(", ")))
        .collect()
}

fn summary(v: &[&FlowAudit]) -> FlowVerdict {
    if v.is_empty() {
        FlowVerdict::NotAsked
    } else if v.iter().all(|f| f.verdict == v[0].verdict) {
        v[0].verdict
    } else if v.iter().any(|f| f.verdict == FlowVerdict::Unknown) {
        FlowVerdict::Unknown
    } else {
        FlowVerdict::Partly
    }
}

/// Whether a flow was asked about every address (a set listed by name only).
fn any_destination(f: &FlowAudit) -> bool {
    f.destinations.iter().any(|d| d == "any")
}

/// The interfaces a fix names: the clients' side in and the way out, where given
/// (a host's own packets have no input interface).
struct Sides<'a> {
    inn: Option<&'a str>,
    out: Option<&'a str>,
}

impl<'a> Sides<'a> {
    fn of(opts: &'a AuditOptions) -> Self {
        Sides {
            inn: opts
                .interfaces
                .client_in
                .as_deref()
                .filter(|_| opts.hook != Hook::Output),
            out: opts.interfaces.out.as_deref(),
        }
    }

    /// ` -i IN -o OUT` for iptables.
    fn iptables(&self) -> String {
        let mut s = String::new();
        for (flag, name) in [("-i", self.inn), ("-o", self.out)] {
            if let Some(n) = name {
                s += &format!(" {flag} {}", shell_word(n));
            }
        }
        s
    }

    /// `iifname IN oifname OUT ` for nftables.
    fn nft(&self) -> String {
        let mut s = String::new();
        for (key, name) in [("iifname", self.inn), ("oifname", self.out)] {
            if let Some(n) = name {
                // nft reads a plain name bare; anything else needs its quotes, kept
                // from the shell by single quotes.
                let word = if plain(n) {
                    n.to_owned()
                } else {
                    shell_word(&format!("\"{n}\""))
                };
                s += &format!("{key} {word} ");
            }
        }
        s
    }
}

/// Letters, digits, `.`, `_` and `-`: safe bare for the shell and for nft.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `s` as one shell word: bare when plain, else in single quotes.
fn shell_word(s: &str) -> String {
    if plain(s) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The smallest change that lets the blocked UDP through, as a command in the
/// configuration's own language: an accept for exactly that flow (between the
/// interfaces given), inserted before the rule that drops it, or appended before the
/// policy that does.
fn fixes(flows: &[FlowAudit], asked: Asked, src: Option<PortRange>, sides: &Sides<'_>) -> Vec<Fix> {
    let proto = if asked == Asked::Udp { "udp" } else { "tcp" };
    let mut out = Vec::new();
    let blocked = |f: &&FlowAudit| {
        matches!(
            f.verdict,
            FlowVerdict::Dropped
                | FlowVerdict::Rejected
                | FlowVerdict::Blocked
                | FlowVerdict::Partly
        )
    };
    // The relay ports were asked one by one: one fix opens the span of those blocked
    // for the same destinations.
    let mut spans: Vec<FlowAudit> = Vec::new();
    for f in flows.iter().filter(|f| f.protocol == asked).filter(blocked) {
        let (a, b) = f.ports;
        match spans
            .iter_mut()
            .find(|g| g.family == f.family && g.destinations == f.destinations)
        {
            Some(g) => {
                let (c, d) = g.ports;
                g.ports = (a.min(c), b.max(d));
                for o in &f.origins {
                    if !g.origins.contains(o) {
                        g.origins.push(o.clone());
                    }
                }
            }
            None => spans.push(f.clone()),
        }
    }
    for f in &spans {
        for o in &f.origins {
            let Some((table, chain)) = &o.chain else {
                continue;
            };
            // A chain's policy has no place among its rules (no handle, no position);
            // its text is not read: a rule's comment may say "policy".
            let by_policy = o.handle.is_none() && o.position.is_none();
            let line = if o.line.is_some() {
                // iptables: -I before the rule, -A (before the policy) otherwise.
                let tool = if f.family == Family::Ipv6 {
                    "ip6tables"
                } else {
                    "iptables"
                };
                let place = match (by_policy, o.position) {
                    (false, Some(p)) => format!("-I {chain} {p}"),
                    _ => format!("-A {chain}"),
                };
                let to = match any_destination(f) {
                    true => String::new(),
                    false => format!(" -d {}", f.destinations.join(",")),
                };
                let from = src.map_or_else(String::new, |s| {
                    format!(" --sport {}:{}", s.first(), s.last())
                });
                format!(
                    "{tool} -t {table} {place}{} -p {proto}{to}{from} --dport {} -j ACCEPT",
                    sides.iptables(),
                    range_text(f.ports).replace('-', ":")
                )
            } else {
                let ip = if f.family == Family::Ipv6 {
                    "ip6"
                } else {
                    "ip"
                };
                let place = match (by_policy, o.handle) {
                    (false, Some(h)) => format!("insert rule {table} {chain} position {h}"),
                    _ => format!("add rule {table} {chain}"),
                };
                let to = match any_destination(f) {
                    true => format!("meta nfproto {}", f.family),
                    false => format!("{ip} daddr {{ {} }}", f.destinations.join(", ")),
                };
                let from = src.map_or_else(String::new, |s| {
                    format!(" {proto} sport {}-{}", s.first(), s.last())
                });
                format!(
                    "nft {place} {}{to}{from} {proto} dport {} accept",
                    sides.nft(),
                    range_text(f.ports)
                )
            };
            let reason = if by_policy {
                format!("{} drops it by its policy", origin_text(o))
            } else {
                format!("before {}, which blocks it", origin_text(o))
            };
            let fix = Fix {
                command: line,
                reason,
            };
            if !out.contains(&fix) {
                out.push(fix);
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
