//! The questions an audit asks the firewall, from the model: per modality, UDP
//! 3478-3481 from its source range to the media ranges, then TCP 443 to the relays;
//! per service, TCP 443 to its ranges. The answers in `check`'s words (path, status,
//! reachable, via), each flow with the rules that decide it, and for a modality short
//! of `relay-udp` the smallest change that gives it.
//!
//! One room per concern: [`question`] puts one flow to the rules, [`media`],
//! [`services`] and [`families`] ask theirs and judge them by the model's rulebook (as
//! `check` does), [`pac`] and [`vpn`] bring the clients' PAC and tunnel in, [`fixes`]
//! writes the changes and [`report`] holds what is reported.

use std::net::IpAddr;

use edgepath_model::{Family, FlowVerdict, MediaRanges, Modality};
use ipnet::IpNet;
use serde::Serialize;

use super::ir::{Hook, Ruleset};
use super::pac::Pac;
use super::squid::Squid;
use super::vpn::Tunnel;
use crate::flows::{Flow, Proto, RuleSet};

mod families;
mod fixes;
mod media;
mod pac;
mod question;
mod report;
mod services;
mod vpn;

pub use report::{
    Asked, AuditReport, FamilyAudit, Fix, FlowAudit, ModalityAudit, PacAudit, PacQuestion,
    RangeAudit, RouteTaken, ServiceAudit, VpnAudit,
};

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

/// Audits `rules` (every file given, merged) against the flows of `model`.
pub fn audit(
    rules: Vec<Ruleset>,
    model: &RuleSet,
    ranges: &MediaRanges,
    opts: &AuditOptions,
) -> AuditReport {
    let no_firewall = rules.is_empty();
    let merged = merge(rules, opts);
    let mut ev = question::Paths::new(&merged, opts);
    // The tunnel's own packets go to its server outside the tunnel, through the local
    // rules; asked before the tunnel is in place.
    let carriers = vpn::carriers(&ev, opts);
    ev.with_tunnel(opts.tunnel.as_ref(), &carriers);
    let relay_udp: Vec<&Flow> = model
        .flows
        .iter()
        .filter(|f| f.media && f.proto == Proto::Udp)
        .collect();
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
    let pac = opts
        .pac
        .as_ref()
        .map(|p| pac::ask_pac(p, model, opts, &relay_udp, &mut notes));
    let https = question::Https {
        ev: &ev,
        opts,
        proxy: pac::proxy_asked(pac.as_ref(), opts, &mut notes),
    };
    let sides = fixes::Sides::of(opts);
    let relays = media::relay_tcp(&https, &relay_udp);
    let ladder = pac::ladder_for(pac.as_ref(), "relays");
    let media = media::MediaQuestion {
        ev: &ev,
        opts,
        relay_udp: &relay_udp,
        relays: &relays,
        ladder: ladder.as_deref(),
        sides: &sides,
    };
    let mut modalities: Vec<ModalityAudit> = Modality::ALL
        .iter()
        .map(|&m| media.modality(m, question::source_range(ranges, m)))
        .collect();
    notes.extend(families::family_assumptions(&modalities, &opts.families));
    let services = services::services(&https, model, pac.as_ref(), &sides);
    let families = families::per_family(&relays, &modalities, &services);
    let media_nets: Vec<IpNet> = relay_udp
        .iter()
        .flat_map(|f| {
            opts.families
                .iter()
                .flat_map(|fam| question::nets_of(f, *fam))
        })
        .collect();
    let vpn = vpn::tunnel_audit(opts, &media_nets, &services, carriers, &mut modalities);
    notes.extend(opts.squid.iter().flat_map(|s| s.notes.iter().cloned()));
    notes.extend(vpn::tunnel_notes(opts));
    AuditReport {
        hook: opts.hook,
        interfaces: opts.interfaces.clone(),
        unknown: unknown_answers(&relays, &modalities, &services),
        modalities,
        services,
        families,
        warnings: merged.warnings,
        notes,
        vpn,
        pac: pac.map(pac::PacAnswers::into_audit),
    }
}

/// Every firewall file given as one ruleset, with the other inputs' warnings. No
/// firewall given at all (a proxy, PAC or VPN file alone): none is in the way of
/// either family (the notes say so); otherwise only the families the files describe
/// are known.
fn merge(rules: Vec<Ruleset>, opts: &AuditOptions) -> Ruleset {
    let mut merged = if rules.is_empty() {
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
    merged
}

/// How many questions had an unknown answer, each asked once: TCP to the relays once
/// per family (the modalities repeat it), UDP per modality, each service's flows.
fn unknown_answers(
    relays: &[media::RelayTcp],
    modalities: &[ModalityAudit],
    services: &[ServiceAudit],
) -> usize {
    let relay_tcp = relays.iter().flat_map(|r| r.direct.iter().chain(&r.via));
    let udp = modalities
        .iter()
        .flat_map(|m| &m.flows)
        .filter(|f| f.protocol == Asked::Udp);
    let services = services.iter().flat_map(|s| s.flows.iter().chain(&s.http));
    relay_tcp
        .chain(udp)
        .chain(services)
        .filter(|f| f.verdict == FlowVerdict::Unknown)
        .count()
}

#[cfg(test)]
mod tests;
