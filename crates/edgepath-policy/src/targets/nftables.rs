//! nftables: one `inet` table with a named interval set per endpoint set and address
//! family, the allows in a regular chain `teams` that the `forward` and `output` base
//! chains jump to, and DSCP marking by media source range in `postrouting`.
//!
//! Why one table of our own that is deleted and re-created: loading it twice replaces
//! it, and it never touches the admin's other tables. In nftables every base chain on a
//! hook must accept a packet, so an allow-list beside another dropping table does
//! nothing; the header says to merge chain `teams` instead.

use std::collections::BTreeSet;
use std::fmt::Write;

use edgepath_model::Family;

use super::{Acceptance, Generator};
use crate::audit::ir::Slot;
use crate::format::{plain, ports_nft, shell_word};
use crate::{ChainPolicy, Flow, Provenance, RuleSet, TargetOptions};

/// `--target nftables`.
pub(crate) struct Nftables;

impl Generator for Nftables {
    const FIRST_LINE: &'static str = "#!/usr/sbin/nft -f\n";

    fn title(&self, _opts: &TargetOptions) -> String {
        "nftables rules for Skype for Business Online / Microsoft Teams clients: outbound allows to Microsoft 365 and DSCP marking by media source port".into()
    }

    fn body(&self, rules: &RuleSet, opts: &TargetOptions, _prov: &Provenance, out: &mut String) {
        let policy = opts.policy.unwrap_or_default();
        let _ = writeln!(
        out,
        "#\n# Load with `nft -f FILE`. Table inet edgepath is replaced on every load.\n{}",
        match policy {
            ChainPolicy::Drop => "# An allow-list: the forward and output chains drop everything these rules do not\n# allow. nftables lets a packet through only when every base chain on its hook accepts\n# it, so beside another dropping filter table, copy chain `teams` into that one instead.",
            ChainPolicy::Accept => "# --policy accept: nothing is dropped; the rules count what they match. Merge chain\n# `teams` into your own filter chain to make it the policy.",
        }
    );
        out.push_str(
            "\ntable inet edgepath\ndelete table inet edgepath\n\ntable inet edgepath {\n",
        );
        let mut declared = BTreeSet::new();
        for f in rules.flows.iter().filter(|f| f.has_addresses()) {
            if !declared.insert(f.key.clone()) {
                continue;
            }
            set(
                out,
                f,
                "v4",
                "ipv4_addr",
                f.v4.iter().map(ToString::to_string).collect(),
            );
            set(
                out,
                f,
                "v6",
                "ipv6_addr",
                f.v6.iter().map(ToString::to_string).collect(),
            );
        }
        out.push_str("\tchain teams {\n");
        if !opts.dns.is_empty() {
            out.push_str("\t\t# DNS: the clients must resolve Microsoft's names\n");
            let v4: Vec<String> = opts
                .dns
                .iter()
                .filter(|a| a.is_ipv4())
                .map(ToString::to_string)
                .collect();
            let v6: Vec<String> = opts
                .dns
                .iter()
                .filter(|a| a.is_ipv6())
                .map(ToString::to_string)
                .collect();
            for (fam, list) in [("ip", v4), ("ip6", v6)] {
                if !list.is_empty() {
                    let _ = writeln!(
                        out,
                        "\t\t{fam} daddr {{ {} }} meta l4proto {{ tcp, udp }} th dport 53 accept",
                        list.join(", ")
                    );
                }
            }
        }
        for f in rules.flows.iter().filter(|f| f.has_addresses()) {
            let _ = writeln!(out, "\t\t# {}", f.label());
            let proto = f.proto.name();
            let sport = f
                .source
                .map(|r| format!("{proto} sport {r} "))
                .unwrap_or_default();
            for (fam, suffix, has) in [
                ("ip", "v4", !f.v4.is_empty()),
                ("ip6", "v6", !f.v6.is_empty()),
            ] {
                if has {
                    let _ = writeln!(
                    out,
                    "\t\t{fam} daddr @{}_{suffix} {sport}{proto} dport {} counter accept comment \"{}\"",
                    f.key,
                    ports_nft(&f.ports),
                    comment(f)
                );
                }
            }
        }
        out.push_str("\t}\n\n");
        let _ = writeln!(
        out,
        "\tchain forward {{\n\t\ttype filter hook forward priority filter; policy {};\n\t\tct state established,related accept\n\t\tct state invalid drop\n\t\tjump teams\n\t}}\n",
        policy.name()
    );
        let _ = writeln!(
        out,
        "\tchain output {{\n\t\ttype filter hook output priority filter; policy {};\n\t\toifname \"lo\" accept\n\t\tct state established,related accept\n\t\tct state invalid drop\n\t\t# IPv6 does not work without neighbour discovery\n\t\ticmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit }} accept\n\t\tjump teams\n\t}}\n",
        policy.name()
    );
        out.push_str("\t# QoS: Microsoft's DSCP per media source range (both TCP and UDP, as Windows' QoS policies)\n");
        out.push_str(
        "\tchain postrouting {\n\t\ttype filter hook postrouting priority mangle; policy accept;\n",
    );
        for (q, mods) in rules.qos.iter().zip(&rules.qos_modalities) {
            let dscp = q.dscp.value();
            for fam in ["ip", "ip6"] {
                let _ = writeln!(
                out,
                "\t\tmeta l4proto {{ tcp, udp }} th sport {} {fam} dscp set {dscp} comment \"{}\"",
                q.ports,
                mods.join(", ")
            );
            }
        }
        out.push_str("\t}\n}\n");
    }
}

fn set(out: &mut String, f: &Flow, suffix: &str, ty: &str, elements: Vec<String>) {
    if elements.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\t# {}\n\tset {}_{suffix} {{\n\t\ttype {ty}\n\t\tflags interval\n\t\telements = {{\n\t\t\t{}\n\t\t}}\n\t}}\n",
        f.label(),
        f.key,
        elements.join(",\n\t\t\t")
    );
}

/// A rule comment: plain text without quotes (nftables comments are quoted strings).
fn comment(f: &Flow) -> String {
    let media = if f.media { " media" } else { "" };
    format!("edgepath set {} {}{media}", f.set_id, f.category)
}

/// The command that accepts `flow` in chain `chain` of table `table` (`inet lab`) of an
/// existing ruleset: inserted before the rule with handle `slot` (or at the top when
/// its handle is not known), or added at the end, before the chain's policy.
pub(crate) fn accept_command(
    table: &str,
    chain: &str,
    slot: Slot,
    flow: &Acceptance<'_>,
) -> String {
    let table: Vec<String> = table.split(' ').map(shell_word).collect();
    let (table, chain) = (table.join(" "), shell_word(chain));
    let place = match slot {
        Slot::Rule(Some(h)) => format!("insert rule {table} {chain} position {h}"),
        Slot::Rule(None) => format!("insert rule {table} {chain}"),
        Slot::Policy => format!("add rule {table} {chain}"),
    };
    let mut sides = String::new();
    for (key, n) in flow.interfaces("iifname", "oifname") {
        // nft reads a plain name bare; anything else needs its quotes, kept from the
        // shell by single quotes.
        let word = if plain(n) {
            n.to_owned()
        } else {
            shell_word(&format!("\"{n}\""))
        };
        let _ = write!(sides, "{key} {word} ");
    }
    let proto = flow.proto.name();
    let to = match flow.destinations {
        None => format!("meta nfproto {}", flow.family),
        Some(d) => {
            let ip = match flow.family {
                Family::Ipv4 => "ip",
                Family::Ipv6 => "ip6",
            };
            format!("{ip} daddr {{ {} }}", d.join(", "))
        }
    };
    let from = flow.source_ports.map_or_else(String::new, |s| {
        format!(" {proto} sport {}-{}", s.first(), s.last())
    });
    format!(
        "nft {place} {sides}{to}{from} {proto} dport {} accept",
        flow.port_span('-')
    )
}
