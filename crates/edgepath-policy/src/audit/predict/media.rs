//! Media: per modality, UDP to the relays from its source ports (one port that passes
//! is enough), else TCP 443 to the relays by the ways the clients try in order
//! (directly, through the proxy); the best family's path, by the rulebook's ladder.

use std::collections::BTreeMap;

use edgepath_model::{rulebook, Family, FlowVerdict, MediaPath, Modality, PortRange};
use ipnet::IpNet;

use super::fixes::{fixes, Sides};
use super::question::{ask, climb, connect, nets_of, Https, Paths, Rung};
use super::report::{Asked, FlowAudit, ModalityAudit};
use super::AuditOptions;
use crate::flows::{Flow, Proto};
use edgepath_model::ServiceId;

/// TCP 443 to the relays in one family: it does not depend on the modality, so it is
/// asked once per family.
pub(super) struct RelayTcp {
    /// The family.
    pub(super) family: Family,
    /// Directly from the client.
    pub(super) direct: Vec<FlowAudit>,
    /// Through the proxy: from it onwards, to it, and its CONNECT rules.
    pub(super) via: Vec<FlowAudit>,
}

/// TCP 443 to the relays (the addresses media goes to, as `check` probes them), per
/// family: directly and, with a proxy, to the proxy and from the proxy.
pub(super) fn relay_tcp(https: &Https<'_>, relay_udp: &[&Flow]) -> Vec<RelayTcp> {
    let opts = https.opts;
    opts.families
        .iter()
        .map(|&family| {
            let mut direct = Vec::new();
            let mut via = Vec::new();
            for f in relay_udp {
                let nets = nets_of(f, family);
                if nets.is_empty() {
                    continue;
                }
                direct.push(https.direct(family, &nets));
                via.extend(https.onwards(family, &nets));
            }
            via.extend(https.to_proxy(family));
            if let (Some(sq), Some(_)) = (&opts.squid, https.proxy(family)) {
                let nets: Vec<IpNet> = relay_udp.iter().flat_map(|f| nets_of(f, family)).collect();
                via.push(connect(sq, opts.client, family, ServiceId::AvEdge, &nets));
            }
            RelayTcp {
                family,
                direct,
                via,
            }
        })
        .collect()
}

/// What a modality's media is asked, and how it is judged.
pub(super) struct MediaQuestion<'a> {
    pub(super) ev: &'a Paths<'a>,
    pub(super) opts: &'a AuditOptions,
    pub(super) relay_udp: &'a [&'a Flow],
    pub(super) relays: &'a [RelayTcp],
    /// The ways to the relays over TCP, in the clients' order (`None`: unknown).
    pub(super) ladder: Option<&'a [Rung]>,
    pub(super) sides: &'a Sides<'a>,
}

impl MediaQuestion<'_> {
    /// The modality `m` from its source ports `src`.
    pub(super) fn modality(&self, m: Modality, src: PortRange) -> ModalityAudit {
        let mut flows = Vec::new();
        let mut family_paths = BTreeMap::new();
        let mut best: Option<MediaPath> = Some(MediaPath::None);
        let mut undecided = false;
        for relay in self.relays {
            let (udp, udp_ok) = self.udp(relay.family, src);
            let path = self.path((&udp, udp_ok), relay);
            if path.is_none() {
                undecided = true;
            }
            family_paths.insert(relay.family, path);
            if let (Some(p), Some(b)) = (path, best) {
                if rulebook::rank(p) < rulebook::rank(b) {
                    best = Some(p);
                }
            }
            flows.extend(udp);
            flows.extend(relay.direct.iter().cloned());
            flows.extend(relay.via.iter().cloned());
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
            fixes(&flows, Asked::Udp, Some(src), self.sides)
        };
        ModalityAudit {
            modality: m,
            path,
            status: path.map(MediaPath::base_status),
            source_ports: src,
            family_paths,
            flows,
            fix,
        }
    }

    /// UDP from `src` to each relay flow of the family, and whether every flow has a
    /// port that passes. The client needs one relay port that passes (media works on
    /// 3478 alone): the four standard ports are asked one by one, a wider range (the
    /// legacy high ports) as a whole.
    fn udp(&self, family: Family, src: PortRange) -> (Vec<FlowAudit>, bool) {
        let mut udp = Vec::new();
        let mut every_flow_passes = true;
        for f in self.relay_udp {
            let nets = nets_of(f, family);
            if nets.is_empty() {
                continue;
            }
            let first = udp.len();
            for p in f.ports.ranges() {
                let ports: Vec<PortRange> = if p.last() - p.first() < 8 {
                    (p.first()..=p.last())
                        .filter_map(|x| PortRange::single(x).ok())
                        .collect()
                } else {
                    vec![*p]
                };
                for ports in ports {
                    udp.push(ask(
                        self.ev,
                        self.opts,
                        family,
                        Proto::Udp,
                        src,
                        &nets,
                        ports,
                    ));
                }
            }
            every_flow_passes &= udp[first..].iter().any(FlowAudit::accepted);
        }
        (udp, every_flow_passes)
    }

    /// The family's path: UDP when every relay flow has a port that passes; unknown when
    /// a UDP answer is; else over TCP, the first way in the ladder that passes.
    fn path(&self, (udp, udp_ok): (&[FlowAudit], bool), relay: &RelayTcp) -> Option<MediaPath> {
        if !udp.is_empty() && udp_ok {
            return Some(MediaPath::RelayUdp);
        }
        if udp.iter().any(|v| v.verdict == FlowVerdict::Unknown) {
            return None;
        }
        climb(
            self.ladder,
            |rung| match rung {
                Rung::Direct => &relay.direct,
                Rung::Proxy => &relay.via,
            },
            |list| !list.is_empty() && list.iter().all(FlowAudit::accepted),
        )
        .map(|r| match r {
            Some(Rung::Direct) => MediaPath::RelayTcp,
            Some(Rung::Proxy) => MediaPath::RelayTcpProxy,
            None => MediaPath::None,
        })
    }
}
