//! Split tunnels: Microsoft's Optimize ranges stay outside the VPN, as Microsoft's VPN
//! split-tunnel guidance advises (DOMAIN.md section 6): every Optimize set (Exchange,
//! SharePoint, Teams media) by default, or only the Teams media set with
//! `--split teams-media`. The output names the sets left outside the tunnel and those
//! kept inside.

use std::fmt::Write;

use super::Generator;
use crate::complement::{complement_v4, complement_v6};
use crate::format::comment_lines;
use crate::{OptimizeSet, Provenance, RuleSet, SplitTunnel, TargetOptions};

/// The comment lines that say which sets bypass the tunnel and which stay in it.
fn describe(bypass: &[&OptimizeSet], kept: &[&OptimizeSet], split: SplitTunnel) -> String {
    let list = |sets: &[&OptimizeSet]| {
        sets.iter()
            .map(|s| {
                let nets: Vec<String> =
                    s.v4.iter()
                        .map(ToString::to_string)
                        .chain(s.v6.iter().map(ToString::to_string))
                        .collect();
                comment_lines("#   ", &format!("{}: {}", s.label(), nets.join(", ")))
            })
            .collect::<String>()
    };
    let mut out = format!(
        "#\n# Split: {} ({}). Outside the tunnel:\n{}",
        split.name(),
        match split {
            SplitTunnel::Optimize =>
                "every Optimize endpoint set, Microsoft's VPN split-tunnel advice",
            SplitTunnel::TeamsMedia =>
                "the Teams media set only; --split optimize follows Microsoft's advice",
        },
        if bypass.is_empty() {
            "#   (none: the endpoint data lists no such ranges)\n".to_owned()
        } else {
            list(bypass)
        }
    );
    if !kept.is_empty() {
        let _ = write!(
            out,
            "# Optimize sets left inside the tunnel (--split teams-media):\n{}",
            list(kept)
        );
    }
    out
}

/// The split asked for, the sets that bypass the tunnel and those kept in it.
type Split<'a> = (SplitTunnel, Vec<&'a OptimizeSet>, Vec<&'a OptimizeSet>);

fn split_of<'a>(rules: &'a RuleSet, opts: &TargetOptions) -> Split<'a> {
    let split = opts.split.unwrap_or_default();
    let (bypass, kept) = rules.split_tunnel(split);
    (split, bypass, kept)
}

/// One `AllowedIPs` line: all of IPv4 and IPv6 except the ranges that bypass the
/// tunnel, as the fewest CIDRs.
/// `--target wireguard`.
pub(crate) struct Wireguard;

impl Generator for Wireguard {
    fn title(&self, _opts: &TargetOptions) -> String {
        "WireGuard split tunnel for Skype for Business Online / Microsoft Teams: everything through the tunnel except Microsoft's Optimize ranges".into()
    }

    fn body(&self, rules: &RuleSet, opts: &TargetOptions, _prov: &Provenance, out: &mut String) {
        let (split, bypass, kept) = split_of(rules, opts);
        out.push_str(&describe(&bypass, &kept, split));
        out.push_str("#\n# Put the line in the company peer's [Peer] section. Keep the VPN server's own address\n# outside the tunnel as usual.\n");
        let (v4, v6) = RuleSet::ranges_of(&bypass);
        let all: Vec<String> = complement_v4(&v4)
            .iter()
            .map(ToString::to_string)
            .chain(complement_v6(&v6).iter().map(ToString::to_string))
            .collect();
        let _ = writeln!(out, "AllowedIPs = {}", all.join(", "));
    }
}

/// `route NET MASK net_gateway` per bypassing range.
/// `--target openvpn`.
pub(crate) struct Openvpn;

impl Generator for Openvpn {
    fn title(&self, _opts: &TargetOptions) -> String {
        "OpenVPN split tunnel for Skype for Business Online / Microsoft Teams: Microsoft's Optimize ranges bypass the tunnel".into()
    }

    fn body(&self, rules: &RuleSet, opts: &TargetOptions, _prov: &Provenance, out: &mut String) {
        let (split, bypass, kept) = split_of(rules, opts);
        out.push_str(&describe(&bypass, &kept, split));
        out.push_str("#\n# In the client config, or pushed by the server as push \"route ...\". route-ipv6 with\n# net_gateway needs OpenVPN 2.5 or later.\n");
        let (v4, v6) = RuleSet::ranges_of(&bypass);
        for n in &v4 {
            let _ = writeln!(out, "route {} {} net_gateway", n.network(), n.netmask());
        }
        for n in &v6 {
            let _ = writeln!(out, "route-ipv6 {n} net_gateway");
        }
    }
}
