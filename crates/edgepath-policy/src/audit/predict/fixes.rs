//! The smallest change that lets a blocked flow through: an accept for exactly that
//! flow (between the interfaces given), placed before the rule that blocks it or at
//! the end of the chain whose policy does. The command is written by the target that
//! owns the syntax ([`crate::targets::nftables::accept_command`],
//! [`crate::targets::iptables::accept_command`]).

use edgepath_model::{FlowVerdict, PortRange};

use super::report::{Asked, Fix, FlowAudit};
use super::AuditOptions;
use crate::audit::ir::{Hook, Origin, Slot};
use crate::flows::Proto;
use crate::targets::{iptables, nftables, Acceptance};

/// The interfaces a fix names: the clients' side in and the way out, where given
/// (a host's own packets have no input interface).
pub(super) struct Sides<'a> {
    inn: Option<&'a str>,
    out: Option<&'a str>,
}

impl<'a> Sides<'a> {
    pub(super) fn of(opts: &'a AuditOptions) -> Self {
        Sides {
            inn: opts
                .interfaces
                .client_in
                .as_deref()
                .filter(|_| opts.hook != Hook::Output),
            out: opts.interfaces.out.as_deref(),
        }
    }
}

/// Whether a flow was asked about every address (a set listed by name only).
fn any_destination(f: &FlowAudit) -> bool {
    f.destinations.iter().any(|d| d == "any")
}

/// The fixes for the `asked` flows among `flows` that are blocked (from source ports
/// `src`, when they matter), one per rule or policy that blocks them.
pub(super) fn fixes(
    flows: &[FlowAudit],
    asked: Asked,
    src: Option<PortRange>,
    sides: &Sides<'_>,
) -> Vec<Fix> {
    let proto = if asked == Asked::Udp {
        Proto::Udp
    } else {
        Proto::Tcp
    };
    let mut out = Vec::new();
    for f in &spans(flows, asked) {
        let flow = Acceptance {
            family: f.family,
            proto,
            destinations: (!any_destination(f)).then_some(f.destinations.as_slice()),
            source_ports: src,
            ports: f.ports,
            iface_in: sides.inn,
            iface_out: sides.out,
        };
        for o in &f.origins {
            let (command, slot) = match o {
                Origin::Iptables {
                    table, chain, slot, ..
                } => (iptables::accept_command(table, chain, *slot, &flow), slot),
                Origin::Nftables {
                    table, chain, slot, ..
                } => (nftables::accept_command(table, chain, *slot, &flow), slot),
                // Not a rule of a chain: nothing to place a fix beside.
                Origin::Implicit | Origin::Line { .. } => continue,
            };
            let reason = match slot {
                Slot::Policy => format!("{o} drops it by its policy"),
                Slot::Rule(_) => format!("before {o}, which blocks it"),
            };
            let fix = Fix { command, reason };
            if !out.contains(&fix) {
                out.push(fix);
            }
        }
    }
    out
}

/// The blocked `asked` flows, those to the same destinations joined into one span of
/// ports (the relay ports were asked one by one: one fix opens the span of those
/// blocked), with every rule that blocks them.
fn spans(flows: &[FlowAudit], asked: Asked) -> Vec<FlowAudit> {
    let blocked = |f: &&FlowAudit| {
        matches!(
            f.verdict,
            FlowVerdict::Dropped
                | FlowVerdict::Rejected
                | FlowVerdict::Blocked
                | FlowVerdict::Partly
        )
    };
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
    spans
}
