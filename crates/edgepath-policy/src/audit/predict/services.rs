//! Services: per service, TCP 443 to its addresses by the ways the clients try in order
//! (directly, through the proxy and its CONNECT rules); TCP 80 reported beside it.

use edgepath_model::rulebook::SERVICES_OVER_TCP_443;
use edgepath_model::{FlowVerdict, PortRange, ServiceId, Via};
use ipnet::IpNet;

use super::fixes::{fixes, Sides};
use super::pac::{ladder_for, PacAnswers};
use super::question::{climb, connect, nets_of, Https, Rung};
use super::report::{Asked, FlowAudit, ServiceAudit};
use crate::flows::{Proto, RuleSet};

/// Every service `check` asks about over TCP 443.
pub(super) fn services(
    https: &Https<'_>,
    model: &RuleSet,
    pac: Option<&PacAnswers>,
    sides: &Sides<'_>,
) -> Vec<ServiceAudit> {
    SERVICES_OVER_TCP_443
        .iter()
        .map(|&s| service(https, model, s, ladder_for(pac, s.id()).as_deref(), sides))
        .collect()
}

/// The model's TCP flows of service `s` on `port`.
fn tcp_flows(
    model: &RuleSet,
    s: ServiceId,
    port: u16,
) -> impl Iterator<Item = &crate::flows::Flow> {
    model
        .flows
        .iter()
        .filter(move |f| f.services.contains(&s) && f.proto == Proto::Tcp && f.ports.contains(port))
}

fn service(
    https: &Https<'_>,
    model: &RuleSet,
    s: ServiceId,
    ladder: Option<&[Rung]>,
    sides: &Sides<'_>,
) -> ServiceAudit {
    let opts = https.opts;
    let mut flows = Vec::new();
    let mut via = Vec::new();
    let mut http = Vec::new();
    for &family in &opts.families {
        for f in tcp_flows(model, s, 80) {
            let nets = nets_of(f, family);
            if nets.is_empty() && f.has_addresses() {
                continue;
            }
            http.push(https.direct_to(family, &nets, PortRange::HTTP));
            http.extend(https.onwards_to(family, &nets, PortRange::HTTP));
        }
        for f in tcp_flows(model, s, 443) {
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
    // Reachable when some family passes for all of the service's destinations. An
    // intercepting proxy still reaches a service (the client sees another issuer);
    // media through it does not.
    let passes = |list: &[FlowAudit]| {
        opts.families.iter().any(|fam| {
            let mine: Vec<&FlowAudit> = list.iter().filter(|v| v.family == *fam).collect();
            !mine.is_empty()
                && mine
                    .iter()
                    .all(|v| v.accepted() || v.verdict == FlowVerdict::Intercepted)
        })
    };
    let via_kind = climb(
        ladder,
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
        fixes(&flows, Asked::Tcp, None, sides)
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
    ServiceAudit {
        service: s,
        reachable: via_kind.map(|v| v != Via::None),
        via: via_kind,
        intercepted,
        flows,
        http,
        fix,
    }
}
