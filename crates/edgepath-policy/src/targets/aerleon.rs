//! Aerleon's input: a policy (YAML) and its definitions (networks per endpoint set and
//! family, services per flow), from the same flows every other target renders. Aerleon's
//! generators (`aclgen`) then write PAN-OS, FortiOS, Junos, SRX, ASA, nftables, iptables
//! and Windows configurations from it; edgepath does not reimplement thirty vendors.
//!
//! Only juniper gets QoS from this: Junos filters can set DSCP (`dscp-set`) by source
//! port, so a second filter marks the media ranges; the other platforms mark QoS
//! elsewhere (class-of-service, policy-based QoS), which the output says.

use std::fmt::Write;

use crate::format::{comment_lines, one_line};
use crate::{AerleonPlatform, Flow, Proto, Provenance, RuleSet, TargetOptions};

/// Where each file goes under `--out-dir`, as aclgen expects them.
pub const POLICY_FILE: &str = "policies/pol/edgepath-teams.yaml";
/// The definitions file.
pub const DEFINITIONS_FILE: &str = "def/edgepath.yaml";
/// aclgen's configuration, naming the two directories and the output one.
pub const CONFIG_FILE: &str = "aerleon.yml";

/// A YAML double-quoted scalar: backslash, quote and every control or line-separator
/// character escaped, so no value can end the string or the line.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `SKYPE_11`: the flow's key as an Aerleon token.
fn token(f: &Flow) -> String {
    f.key.to_ascii_uppercase()
}

/// `skype-11-udp`: a term name (letters, digits, `-`).
fn term_name(f: &Flow) -> String {
    format!("{}-{}", f.key.replace('_', "-"), f.proto.name())
}

/// The DSCP name Aerleon's grammar takes.
fn dscp_name(v: u8) -> String {
    match v {
        46 => "ef".into(),
        34 => "af41".into(),
        26 => "af31".into(),
        18 => "af21".into(),
        0 => "be".into(),
        v => format!("b{v:06b}"),
    }
}

fn header_target(p: AerleonPlatform, opts: &TargetOptions) -> String {
    let zones = match (&opts.from_zone, &opts.to_zone) {
        (Some(a), Some(b)) => format!("from-zone {a} to-zone {b}"),
        _ => String::new(),
    };
    match p {
        AerleonPlatform::Paloalto => format!("{zones} mixed"),
        AerleonPlatform::Fortigate => format!("{zones} mixed"),
        AerleonPlatform::Srx => zones,
        AerleonPlatform::Ciscoasa => "edgepath-teams".into(),
        AerleonPlatform::Juniper => "edgepath-teams inet".into(),
        // Host firewalls: the client's own outbound traffic, default drop.
        AerleonPlatform::Nftables => "mixed output".into(),
        AerleonPlatform::Iptables => "OUTPUT DROP".into(),
        AerleonPlatform::WindowsAdvfirewall => "out".into(),
    }
}

/// The flows a packet filter can express: those with addresses.
fn address_flows(rules: &RuleSet) -> Vec<&Flow> {
    rules.flows.iter().filter(|f| f.has_addresses()).collect()
}

fn terms(rules: &RuleSet, opts: &TargetOptions, indent: &str) -> String {
    let mut out = String::new();
    if !opts.dns.is_empty() {
        let _ = writeln!(
            out,
            "{indent}- name: dns\n{indent}  comment: {}\n{indent}  destination-address: EDGEPATH_DNS\n{indent}  destination-port: DNS\n{indent}  protocol: udp tcp\n{indent}  action: accept",
            quote("DNS: the clients' resolvers (--dns), so Microsoft's names resolve")
        );
    }
    for f in address_flows(rules) {
        let mut dest = Vec::new();
        if !f.v4.is_empty() {
            dest.push(format!("{}_V4", token(f)));
        }
        if !f.v6.is_empty() {
            dest.push(format!("{}_V6", token(f)));
        }
        let _ = writeln!(out, "{indent}- name: {}", term_name(f));
        let _ = writeln!(out, "{indent}  comment: {}", quote(&f.label()));
        let _ = writeln!(out, "{indent}  destination-address: {}", dest.join(" "));
        let _ = writeln!(
            out,
            "{indent}  destination-port: {}_{}",
            token(f),
            f.proto.name().to_ascii_uppercase()
        );
        if f.source.is_some() {
            let _ = writeln!(out, "{indent}  source-port: TEAMS_MEDIA_SOURCE");
        }
        let _ = writeln!(out, "{indent}  protocol: {}", f.proto.name());
        let _ = writeln!(out, "{indent}  action: accept");
    }
    out
}

/// The policy file.
fn policy(rules: &RuleSet, opts: &TargetOptions, prov: &Provenance, notes: &[String]) -> String {
    let platforms = opts.platforms();
    let mut out = String::new();
    for line in [
        "Aerleon policy for Skype for Business Online / Microsoft Teams clients: outbound allows to Microsoft 365".to_owned(),
        format!("Endpoint data: {}", prov.endpoint_data),
        format!("Made by: {}", prov.command),
    ]
    .iter()
    .chain(notes.iter().map(|n| format!("Note: {n}")).collect::<Vec<_>>().iter())
    {
        out.push_str(&comment_lines("# ", &one_line(line)));
    }
    out.push_str("#\n# Run: aclgen --config_file aerleon.yml (from this directory); definitions in def/.\n\nfilters:\n");
    let _ = writeln!(
        out,
        "  - header:\n      comment: {}\n      targets:",
        quote("edgepath: Skype for Business Online / Microsoft Teams clients")
    );
    for p in &platforms {
        let _ = writeln!(out, "        {}: {}", p.name(), header_target(*p, opts));
    }
    out.push_str("    terms:\n");
    out.push_str(&terms(rules, opts, "      "));
    if platforms.contains(&AerleonPlatform::Juniper) {
        // Junos filters are per family: the same terms again for IPv6.
        let _ = writeln!(out, "  - header:\n      comment: {}\n      targets:\n        juniper: edgepath-teams-inet6 inet6\n    terms:", quote("edgepath: the same allows for IPv6 (Junos filters are per family)"));
        out.push_str(&terms(rules, opts, "      "));
        // QoS: mark media by source range; everything else passes unchanged.
        let _ = writeln!(out, "  - header:\n      comment: {}\n      targets:\n        juniper: edgepath-teams-qos inet\n    terms:", quote("edgepath: DSCP by media source range, Microsoft's QoS (apply as an output filter)"));
        for (q, mods) in rules.qos.iter().zip(&rules.qos_modalities) {
            let name = mods.join("-").replace('_', "-");
            let _ = writeln!(
                out,
                "      - name: qos-{name}\n        comment: {}\n        source-port: TEAMS_{}_SOURCE\n        protocol: udp tcp\n        dscp-set: {}\n        action: accept",
                quote(&format!("{} from {}: DSCP {}", mods.join(" and "), q.ports, q.dscp.value())),
                name.to_ascii_uppercase().replace('-', "_"),
                dscp_name(q.dscp.value())
            );
        }
        out.push_str("      - name: qos-rest\n        comment: \"everything else, unmarked\"\n        action: accept\n");
    }
    out
}

fn ports_yaml(out: &mut String, name: &str, proto: Proto, ranges: &[(u16, u16)]) {
    let _ = writeln!(out, "  {name}:");
    for (a, b) in ranges {
        let port = if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        };
        let _ = writeln!(out, "    - port: {port}\n      protocol: {}", proto.name());
    }
}

/// The definitions file: networks per endpoint set and family, services per flow.
fn definitions(rules: &RuleSet, opts: &TargetOptions, prov: &Provenance) -> String {
    let mut out = comment_lines(
        "# ",
        &one_line(&format!(
            "Aerleon definitions for edgepath's Teams policy; endpoint data: {}",
            prov.endpoint_data
        )),
    );
    out.push_str("\nnetworks:\n");
    let mut seen = std::collections::BTreeSet::new();
    for f in address_flows(rules) {
        if !seen.insert(token(f)) {
            continue; // one network per set, shared by its TCP and UDP flows
        }
        for (family, nets) in [
            (
                "V4",
                f.v4.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ),
            ("V6", f.v6.iter().map(ToString::to_string).collect()),
        ] {
            if nets.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  {}_{family}:\n    values:", token(f));
            for n in nets {
                let _ = writeln!(
                    out,
                    "      - address: {n}\n        comment: {}",
                    quote(&format!("endpoint set {}", f.set_id))
                );
            }
        }
    }
    if !opts.dns.is_empty() {
        out.push_str("  EDGEPATH_DNS:\n    values:\n");
        for d in &opts.dns {
            let net = if d.is_ipv4() {
                format!("{d}/32")
            } else {
                format!("{d}/128")
            };
            let _ = writeln!(out, "      - address: {net}\n        comment: \"--dns\"");
        }
    }
    out.push_str("\nservices:\n");
    if !opts.dns.is_empty() {
        out.push_str(
            "  DNS:\n    - port: 53\n      protocol: udp\n    - port: 53\n      protocol: tcp\n",
        );
    }
    for f in address_flows(rules) {
        let ranges: Vec<(u16, u16)> = f
            .ports
            .ranges()
            .iter()
            .map(|r| (r.first(), r.last()))
            .collect();
        ports_yaml(
            &mut out,
            &format!("{}_{}", token(f), f.proto.name().to_ascii_uppercase()),
            f.proto,
            &ranges,
        );
    }
    if let Some(src) = rules.flows.iter().find_map(|f| f.source) {
        ports_yaml(
            &mut out,
            "TEAMS_MEDIA_SOURCE",
            Proto::Udp,
            &[(src.first(), src.last())],
        );
    }
    for (q, mods) in rules.qos.iter().zip(&rules.qos_modalities) {
        let name = format!("TEAMS_{}_SOURCE", mods.join("_").to_ascii_uppercase());
        let _ = writeln!(out, "  {name}:");
        for proto in ["udp", "tcp"] {
            let _ = writeln!(
                out,
                "    - port: {}-{}\n      protocol: {proto}",
                q.ports.first(),
                q.ports.last()
            );
        }
    }
    out
}

/// aclgen's configuration: the directories, relative to the one it is in.
fn config() -> String {
    "# aclgen --config_file aerleon.yml: edgepath's policy and definitions, output in out/\nbase_directory: ./policies\ndefinitions_directory: ./def\noutput_directory: ./out\n".into()
}

/// What the command prints: the files and how to run aclgen.
fn summary(opts: &TargetOptions) -> String {
    let platforms: Vec<&str> = opts.platforms().iter().map(|p| p.name()).collect();
    let no_qos: Vec<&str> = platforms
        .iter()
        .copied()
        .filter(|p| *p != "juniper")
        .collect();
    let mut s = format!(
        "Aerleon policy for {}:\n  {POLICY_FILE}\n  {DEFINITIONS_FILE}\n  {CONFIG_FILE}\nRun Aerleon's generators (pip install aerleon) in that directory:\n  aclgen --config_file {CONFIG_FILE}\nThey write one configuration per platform into out/.\n",
        platforms.join(", ")
    );
    if platforms.contains(&"juniper") {
        s.push_str(
            "QoS: juniper gets a DSCP-marking filter (edgepath-teams-qos) by media source range.\n",
        );
    }
    if !no_qos.is_empty() {
        let _ = writeln!(
            s,
            "No QoS from this for: {} (Aerleon cannot mark DSCP there; mark by source port in the platform's QoS policy, see `edgepath rules --target checklist`).",
            no_qos.join(", ")
        );
    }
    s
}

/// The files and the summary.
pub fn render(
    rules: &RuleSet,
    opts: &TargetOptions,
    prov: &Provenance,
    notes: &[String],
) -> (String, Vec<(String, String)>) {
    let files = vec![
        (POLICY_FILE.to_owned(), policy(rules, opts, prov, notes)),
        (DEFINITIONS_FILE.to_owned(), definitions(rules, opts, prov)),
        (CONFIG_FILE.to_owned(), config()),
    ];
    (summary(opts), files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_names() {
        assert_eq!(
            quote("a\"b\\c\nd\u{2028}"),
            "\"a\\\"b\\\\c\\u000ad\\u2028\""
        );
        assert_eq!(dscp_name(46), "ef");
        assert_eq!(dscp_name(34), "af41");
        assert_eq!(dscp_name(18), "af21");
        assert_eq!(dscp_name(40), "b101000");
    }
}
