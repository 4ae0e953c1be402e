//! iptables-save / ip6tables-save text: the filter table with a chain `EDGEPATH-TEAMS`
//! that FORWARD and OUTPUT jump to, and the mangle table's DSCP marking. iptables has
//! no sets without ipset, so there is one rule per address range.
//!
//! `iptables-restore` replaces the whole filter and mangle tables it is given; the
//! header says so, and `--noflush` is the way to add to existing tables.

use std::fmt::Write;

use ipnet::IpNet;

use super::{Acceptance, Generator};
use crate::audit::ir::Slot;
use crate::format::{range_colon, shell_word};
use crate::{ChainPolicy, Flow, Provenance, RuleSet, TargetOptions};

/// Which address family to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    fn addresses(self, f: &Flow) -> Vec<IpNet> {
        match self {
            Family::V4 => f.v4.iter().copied().map(IpNet::V4).collect(),
            Family::V6 => f.v6.iter().copied().map(IpNet::V6).collect(),
        }
    }
}

const CHAIN: &str = "EDGEPATH-TEAMS";

/// `--target iptables` and `ip6tables`: the family is the generator.
impl Generator for Family {
    fn title(&self, _opts: &TargetOptions) -> String {
        format!(
            "{}-restore rules for Skype for Business Online / Microsoft Teams clients ({}): outbound allows to Microsoft 365 and DSCP marking by media source port",
            self.tool(),
            if *self == Family::V4 { "IPv4" } else { "IPv6" }
        )
    }

    fn body(&self, rules: &RuleSet, opts: &TargetOptions, _prov: &Provenance, out: &mut String) {
        let fam = *self;
        let tool = fam.tool();
        let policy = match opts.policy.unwrap_or_default() {
            ChainPolicy::Drop => "DROP",
            ChainPolicy::Accept => "ACCEPT",
        };
        let _ = writeln!(
        out,
        "#\n# Load with `{tool}-restore < FILE`: it replaces the filter and mangle tables (add --noflush\n# to keep yours, then the chain policies below still apply). FORWARD and OUTPUT {}.\n",
        if policy == "DROP" {
            "drop what is not allowed (an allow-list)"
        } else {
            "accept everything (--policy accept); the rules only count"
        }
    );
        let _ = writeln!(
        out,
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD {policy} [0:0]\n:OUTPUT {policy} [0:0]\n:{CHAIN} - [0:0]"
    );
        out.push_str("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
        out.push_str("-A FORWARD -m conntrack --ctstate INVALID -j DROP\n");
        let _ = writeln!(out, "-A FORWARD -j {CHAIN}");
        out.push_str("-A OUTPUT -o lo -j ACCEPT\n");
        out.push_str("-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
        out.push_str("-A OUTPUT -m conntrack --ctstate INVALID -j DROP\n");
        if fam == Family::V6 {
            // IPv6 does not work without neighbour discovery.
            for t in [
                "neighbour-solicitation",
                "neighbour-advertisement",
                "router-solicitation",
            ] {
                let _ = writeln!(
                    out,
                    "-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT"
                );
            }
        }
        let _ = writeln!(out, "-A OUTPUT -j {CHAIN}");
        for dns in opts
            .dns
            .iter()
            .filter(|a| a.is_ipv4() == (fam == Family::V4))
        {
            for proto in ["udp", "tcp"] {
                let _ = writeln!(
                out,
                "-A {CHAIN} -d {} -p {proto} -m {proto} --dport 53 -m comment --comment \"edgepath DNS\" -j ACCEPT",
                IpNet::from(*dns)
            );
            }
        }
        for f in &rules.flows {
            let nets = fam.addresses(f);
            if nets.is_empty() {
                continue;
            }
            let proto = f.proto.name();
            let dports: Vec<String> = f.ports.ranges().iter().map(|r| range_colon(*r)).collect();
            let dport = if dports.len() == 1 {
                format!("-m {proto} --dport {}", dports[0])
            } else {
                format!("-m multiport --dports {}", dports.join(","))
            };
            // The protocol match carries --sport next to a single --dport; after multiport
            // (which has only --sports) it needs its own protocol match.
            let sport = match (f.source, dports.len()) {
                (None, _) => String::new(),
                (Some(r), 1) => format!(" --sport {}", range_colon(r)),
                (Some(r), _) => format!(" -m {proto} --sport {}", range_colon(r)),
            };
            let comment = format!("edgepath set {} {}", f.set_id, f.category);
            for net in nets {
                let _ = writeln!(
                out,
                "-A {CHAIN} -d {net} -p {proto} {dport}{sport} -m comment --comment \"{comment}\" -j ACCEPT"
            );
            }
        }
        out.push_str("COMMIT\n");
        out.push_str("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
        for (q, mods) in rules.qos.iter().zip(&rules.qos_modalities) {
            for proto in ["udp", "tcp"] {
                let _ = writeln!(
                out,
                "-A POSTROUTING -p {proto} -m {proto} --sport {} -m comment --comment \"edgepath QoS {}\" -j DSCP --set-dscp {}",
                range_colon(q.ports),
                mods.join(" "),
                q.dscp.value()
            );
            }
        }
        out.push_str("COMMIT\n");
    }
}

/// The command that accepts `flow` in chain `chain` of table `table` of an existing
/// iptables ruleset: inserted before rule number `slot` (or at the top when its
/// number is not known), or appended, before the chain's policy.
pub(crate) fn accept_command(
    table: &str,
    chain: &str,
    slot: Slot,
    flow: &Acceptance<'_>,
) -> String {
    let tool = match flow.family {
        edgepath_model::Family::Ipv4 => "iptables",
        edgepath_model::Family::Ipv6 => "ip6tables",
    };
    let chain = shell_word(chain);
    let place = match slot {
        Slot::Rule(Some(n)) => format!("-I {chain} {n}"),
        Slot::Rule(None) => format!("-I {chain}"),
        Slot::Policy => format!("-A {chain}"),
    };
    let mut sides = String::new();
    for (flag, name) in flow.interfaces("-i", "-o") {
        let _ = write!(sides, " {flag} {}", shell_word(name));
    }
    let to = flow
        .destinations
        .map_or_else(String::new, |d| format!(" -d {}", d.join(",")));
    let from = flow.source_ports.map_or_else(String::new, |s| {
        format!(" --sport {}:{}", s.first(), s.last())
    });
    format!(
        "{tool} -t {} {place}{sides} -p {}{to}{from} --dport {} -j ACCEPT",
        shell_word(table),
        flow.proto.name(),
        flow.port_span(':'),
    )
}
