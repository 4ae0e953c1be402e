//! The VPN's part: the tunnel's own packets asked of the local rules, where its routes
//! send the media ranges (in `check`'s VPN words), what a tunnel does to the media's
//! status (the rulebook's rule, as `check`), and the change that takes media out of it.

use std::net::IpAddr;

use edgepath_model::rulebook::status_through_tunnel;
use edgepath_model::{Family, PortRange, VpnState};
use ipnet::IpNet;

use super::question::{ask_from, net_range, Paths, Sender, EPHEMERAL};
use super::report::{
    Fix, FlowAudit, ModalityAudit, RangeAudit, RouteTaken, ServiceAudit, VpnAudit,
};
use super::AuditOptions;
use crate::audit::vpn::{Piece, Tunnel, TunnelKind, TunnelRoute};

/// The tunnel's own packets to its servers, asked of the local rules (before the
/// tunnel is in place: they go outside it).
pub(super) fn carriers(ev: &Paths<'_>, opts: &AuditOptions) -> Vec<FlowAudit> {
    opts.tunnel
        .iter()
        .flat_map(|t| &t.carriers)
        .filter_map(|c| {
            let a = c.address?;
            Some(ask_from(
                ev,
                Sender::Client(opts.client),
                Family::of(a),
                c.proto,
                EPHEMERAL,
                &[IpNet::from(a)],
                PortRange::single(c.port).ok()?,
            ))
        })
        .collect()
}

/// The VPN part of the report, when a tunnel was given; media through a forced or
/// partial tunnel is degraded at best (`check`'s rule), and taking it out of the
/// tunnel is each modality's first fix.
pub(super) fn tunnel_audit(
    opts: &AuditOptions,
    media: &[IpNet],
    services: &[ServiceAudit],
    carriers: Vec<FlowAudit>,
    modalities: &mut [ModalityAudit],
) -> Option<VpnAudit> {
    let t = opts.tunnel.as_ref()?;
    let services_tunnelled = services
        .iter()
        .flat_map(|s| &s.flows)
        .any(|f| matches!(f.route, Some(RouteTaken::Tunnel | RouteTaken::Split)));
    let v = vpn_audit(
        t,
        media,
        services_tunnelled,
        carriers,
        opts.egress.is_some(),
    );
    if matches!(v.state, VpnState::Forced | VpnState::Partial) {
        for m in modalities {
            m.status = m.status.map(status_through_tunnel);
            // Taking media out of the tunnel first: the better path, whatever the
            // company's egress does.
            m.fix.splice(0..0, v.fix.iter().cloned());
        }
    }
    Some(v)
}

/// What the audit assumed of the tunnel: the reader's notes, no egress, servers by name.
pub(super) fn tunnel_notes(opts: &AuditOptions) -> Vec<String> {
    let Some(t) = &opts.tunnel else {
        return Vec::new();
    };
    let mut notes = t.notes.clone();
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
    notes
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
    let lines = |routes: &mut dyn Iterator<Item = &TunnelRoute>| {
        let mut v: Vec<String> = routes
            .filter_map(|r| Some(format!("{}:{}", r.origin.file()?, r.origin.line()?)))
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
