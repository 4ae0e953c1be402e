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
            destinations: f.destinations.listed(),
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
        match spans
            .iter_mut()
            .find(|g| g.family == f.family && g.destinations == f.destinations)
        {
            Some(g) => {
                g.ports = g.ports.hull(f.ports);
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

#[cfg(test)]
mod tests {
    use edgepath_model::Family;

    use super::*;

    #[test]
    fn each_target_writes_its_own_command_and_quotes_what_the_user_named() {
        let relays = ["52.112.0.0/14".to_owned(), "52.122.0.0/15".to_owned()];
        let media = Acceptance {
            family: Family::Ipv4,
            proto: Proto::Udp,
            destinations: Some(&relays),
            source_ports: PortRange::new(50000, 50019).ok(),
            ports: PortRange::new(3478, 3481).unwrap(),
            iface_in: Some("br-lan"),
            iface_out: Some("wan 0'; rm -rf /"),
        };
        let web = Acceptance {
            family: Family::Ipv6,
            proto: Proto::Tcp,
            destinations: None,
            source_ports: None,
            ports: PortRange::HTTPS,
            iface_in: None,
            iface_out: None,
        };
        let cases: &[(&str, Slot, &Acceptance<'_>, String)] = &[
            (
                "nft",
                Slot::Rule(Some(7)),
                &media,
                "nft insert rule inet lab forward position 7 iifname br-lan oifname '\"wan 0'\\''; rm -rf /\"' ip daddr { 52.112.0.0/14, 52.122.0.0/15 } udp sport 50000-50019 udp dport 3478-3481 accept".into(),
            ),
            (
                "nft",
                Slot::Policy,
                &web,
                "nft add rule inet lab forward meta nfproto ipv6 tcp dport 443 accept".into(),
            ),
            (
                "nft",
                Slot::Rule(None),
                &web,
                "nft insert rule inet lab forward meta nfproto ipv6 tcp dport 443 accept".into(),
            ),
            (
                "iptables",
                Slot::Rule(Some(4)),
                &media,
                "iptables -t filter -I FORWARD 4 -i br-lan -o 'wan 0'\\''; rm -rf /' -p udp -d 52.112.0.0/14,52.122.0.0/15 --sport 50000:50019 --dport 3478:3481 -j ACCEPT".into(),
            ),
            (
                "iptables",
                Slot::Policy,
                &web,
                "ip6tables -t filter -A FORWARD -p tcp --dport 443 -j ACCEPT".into(),
            ),
        ];
        for (tool, slot, flow, want) in cases {
            let got = match *tool {
                "nft" => nftables::accept_command("inet lab", "forward", *slot, flow),
                _ => iptables::accept_command("filter", "FORWARD", *slot, flow),
            };
            assert_eq!(&got, want);
        }
    }
}
