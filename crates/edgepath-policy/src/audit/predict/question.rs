//! The question asked: one flow (a protocol, source ports, destinations, destination
//! ports, from the client, to its proxy or from the proxy) put to the firewall's rules,
//! through the VPN tunnel where its routes say so, and the answer with the rules that
//! decide it. The ways a client tries in order (the ladder) and how it is climbed.

use std::net::IpAddr;

use edgepath_model::{Family, FlowVerdict, MediaRanges, Modality, PortRange, ServiceId};
use ipnet::IpNet;

use super::report::{Asked, Destinations, FlowAudit, RouteTaken};
use super::AuditOptions;
use crate::audit::eval::{Decision, Evaluator, Region, Verdict};
use crate::audit::ir::{addr, ifname, Dim, Hook, Ruleset};
use crate::audit::squid::{Connect, Squid};
use crate::audit::vpn::{Piece, Tunnel};
use crate::flows::{Flow, Proto};

/// An interface as a region's interval: the one name given, every name when none was.
fn iface_range(name: Option<&str>) -> (u128, u128) {
    match name.and_then(ifname) {
        Some(n) => (n, n),
        None => (0, u128::MAX),
    }
}

/// One way to the relays' or a service's TCP 443, in the order a client tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rung {
    Direct,
    Proxy,
}

/// Without a PAC: direct first, then the proxy (as `check` tries them).
pub(super) const LADDER: [Rung; 2] = [Rung::Direct, Rung::Proxy];

/// Climbs a ladder of ways: the first whose flows `pass` (`Some(Some(rung))`); none
/// (`Some(None)`); or unknown (`None`) when a way before the one that passes is
/// unknown, or the ladder itself is (the PAC failed).
pub(super) fn climb<'a>(
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

/// Every address of the family.
fn full(f: Family) -> (u128, u128) {
    match f {
        Family::Ipv4 => (0, u128::from(u32::MAX)),
        Family::Ipv6 => (0, u128::MAX),
    }
}

/// A network as an interval of addresses.
pub(super) fn net_range(n: &IpNet) -> (u128, u128) {
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
pub(super) struct Paths<'a> {
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

impl<'a> Paths<'a> {
    /// The local rules (`local`, every file merged) as `opts` asks them, before any
    /// tunnel is in place.
    pub(super) fn new(local: &'a Ruleset, opts: &'a AuditOptions) -> Self {
        let ifaces = &opts.interfaces;
        let client_in = match opts.hook {
            // A host's own packets come in on no interface: `iifname` never matches them.
            Hook::Output => (0, 0),
            _ => iface_range(ifaces.client_in.as_deref()),
        };
        Paths {
            local: Evaluator::new(local, opts.hook),
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
        }
    }

    /// Puts the tunnel in place, carrying what its routes send into it while the local
    /// rules pass one of its `carriers` (its own packets to its server, asked before).
    pub(super) fn with_tunnel(&mut self, tunnel: Option<&'a Tunnel>, carriers: &[FlowAudit]) {
        if !carriers.is_empty() && !carriers.iter().any(FlowAudit::accepted) {
            self.carrier = CarrierState::Down(
                carriers
                    .iter()
                    .map(|c| Decision {
                        verdict: match c.verdict {
                            FlowVerdict::Rejected => Verdict::Reject,
                            FlowVerdict::Unknown => Verdict::Unknown(
                                c.unknown.clone().unwrap_or_else(|| "unknown".into()),
                            ),
                            _ => Verdict::Drop,
                        },
                        by: c.origins.clone(),
                    })
                    .collect(),
            );
        }
        self.tunnel = tunnel;
    }

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
pub(super) fn ask(
    ev: &Paths<'_>,
    opts: &AuditOptions,
    family: Family,
    proto: Proto,
    sports: PortRange,
    nets: &[IpNet],
    dports: PortRange,
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
pub(super) enum Sender {
    Client(Option<IpAddr>),
    ClientToProxy(Option<IpAddr>),
    Proxy(IpAddr),
}

/// The TCP questions every route asks: HTTPS from the client, to the proxy, and from
/// the proxy onwards.
pub(super) struct Https<'a> {
    pub(super) ev: &'a Paths<'a>,
    pub(super) opts: &'a AuditOptions,
    /// The proxy the clients use, when any.
    pub(super) proxy: Option<(IpAddr, u16)>,
}

/// A client's TCP source ports.
pub(super) const EPHEMERAL: PortRange = PortRange::UNPRIVILEGED;

impl Https<'_> {
    /// The proxy, when it is of the family.
    pub(super) fn proxy(&self, family: Family) -> Option<(IpAddr, u16)> {
        self.proxy.filter(|(ip, _)| Family::of(*ip) == family)
    }

    /// TCP 443 from the client to `nets`.
    pub(super) fn direct(&self, family: Family, nets: &[IpNet]) -> FlowAudit {
        self.direct_to(family, nets, PortRange::HTTPS)
    }

    /// TCP `port` from the client to `nets`.
    pub(super) fn direct_to(&self, family: Family, nets: &[IpNet], port: PortRange) -> FlowAudit {
        ask(
            self.ev,
            self.opts,
            family,
            Proto::Tcp,
            EPHEMERAL,
            nets,
            port,
        )
    }

    /// TCP 443 from the proxy to `nets`, when there is a proxy of the family.
    pub(super) fn onwards(&self, family: Family, nets: &[IpNet]) -> Option<FlowAudit> {
        self.onwards_to(family, nets, PortRange::HTTPS)
    }

    /// TCP `port` from the proxy to `nets`, when there is a proxy of the family.
    pub(super) fn onwards_to(
        &self,
        family: Family,
        nets: &[IpNet],
        port: PortRange,
    ) -> Option<FlowAudit> {
        let (proxy, _) = self.proxy(family)?;
        Some(ask_from(
            self.ev,
            Sender::Proxy(proxy),
            family,
            Proto::Tcp,
            EPHEMERAL,
            nets,
            port,
        ))
    }

    /// TCP from the client to the proxy's port, when there is a proxy of the family.
    pub(super) fn to_proxy(&self, family: Family) -> Option<FlowAudit> {
        let (proxy, port) = self.proxy(family)?;
        let port = PortRange::single(port).ok()?;
        Some(ask_from(
            self.ev,
            Sender::ClientToProxy(self.opts.client),
            family,
            Proto::Tcp,
            EPHEMERAL,
            &[IpNet::from(proxy)],
            port,
        ))
    }
}

/// [`ask`] from a given source (any address when none or of the other family).
pub(super) fn ask_from(
    ev: &Paths<'_>,
    from: Sender,
    family: Family,
    proto: Proto,
    sports: PortRange,
    nets: &[IpNet],
    dports: PortRange,
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
                    (u128::from(sports.first()), u128::from(sports.last())),
                    piece.range,
                    (u128::from(dports.first()), u128::from(dports.last())),
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
            let s = o.to_string();
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
            Destinations::Any
        } else {
            Destinations::These(nets.iter().map(ToString::to_string).collect())
        },
        ports: dports,
        source_ports: Some(sports),
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
pub(super) fn connect(
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
        destinations: Destinations::These(destinations),
        ports: PortRange::HTTPS,
        source_ports: None,
        verdict,
        decided_by: d.by,
        unknown: d.unknown,
        route: None,
        routed_by: Vec::new(),
        origins: Vec::new(),
    }
}

/// The modality's client source ports.
pub(super) fn source_range(ranges: &MediaRanges, m: Modality) -> PortRange {
    match m {
        Modality::Audio => ranges.audio,
        Modality::Video => ranges.video,
        Modality::AppSharing => ranges.app_sharing,
        Modality::FileTransfer => ranges.file_transfer,
    }
}

/// A flow's destinations of one family.
pub(super) fn nets_of(flow: &Flow, family: Family) -> Vec<IpNet> {
    match family {
        Family::Ipv4 => flow.v4.iter().map(|n| IpNet::V4(*n)).collect(),
        Family::Ipv6 => flow.v6.iter().map(|n| IpNet::V6(*n)).collect(),
    }
}
