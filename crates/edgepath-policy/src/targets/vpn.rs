//! Split tunnels: the Optimize ranges (the media relays) stay outside the VPN, as
//! Microsoft recommends for real-time media (DOMAIN.md section 6).

use std::fmt::Write;

use crate::complement::{complement_v4, complement_v6};
use crate::format::header;
use crate::{Provenance, RuleSet};

fn excluded(rules: &RuleSet) -> String {
    rules
        .optimize_v4
        .iter()
        .map(ToString::to_string)
        .chain(rules.optimize_v6.iter().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `AllowedIPs` line: all of IPv4 and IPv6 except the Optimize ranges, as the
/// fewest CIDRs.
pub fn wireguard(rules: &RuleSet, prov: &Provenance, notes: &[String]) -> String {
    let mut out = header(
        "# ",
        "WireGuard split tunnel for Skype for Business Online / Microsoft Teams: everything through the tunnel except Microsoft's Optimize ranges (the media relays)",
        prov,
        notes,
    );
    let _ = writeln!(
        out,
        "#\n# Put the line in the company peer's [Peer] section. Left outside the tunnel: {}\n# Keep the VPN server's own address outside the tunnel as usual.",
        excluded(rules)
    );
    let all: Vec<String> = complement_v4(&rules.optimize_v4)
        .iter()
        .map(ToString::to_string)
        .chain(
            complement_v6(&rules.optimize_v6)
                .iter()
                .map(ToString::to_string),
        )
        .collect();
    let _ = writeln!(out, "AllowedIPs = {}", all.join(", "));
    out
}

/// `route NET MASK net_gateway` per Optimize range: the relays bypass the tunnel.
pub fn openvpn(rules: &RuleSet, prov: &Provenance, notes: &[String]) -> String {
    let mut out = header(
        "# ",
        "OpenVPN split tunnel for Skype for Business Online / Microsoft Teams: Microsoft's Optimize ranges (the media relays) bypass the tunnel",
        prov,
        notes,
    );
    out.push_str("#\n# In the client config, or pushed by the server as push \"route ...\". route-ipv6 with\n# net_gateway needs OpenVPN 2.5 or later.\n");
    for n in &rules.optimize_v4 {
        let _ = writeln!(out, "route {} {} net_gateway", n.network(), n.netmask());
    }
    for n in &rules.optimize_v6 {
        let _ = writeln!(out, "route-ipv6 {n} net_gateway");
    }
    out
}
