//! A proxy auto-config file: Microsoft's "type 2" (Optimize and Allow endpoints go
//! `DIRECT`, everything else to the proxy) or "type 1" (only Optimize direct).
//!
//! Names are matched on the host alone (`shExpMatch` and `==`), never resolved: a PAC
//! file that calls `dnsResolve` for every request slows every browser down. Hosts
//! given as IPv4 literals (TURN relays are reached by address) are matched with
//! `isInNet` against the same endpoint sets' ranges, IPv6 literals with `isInNetEx`
//! where the browser has it.

use std::collections::BTreeSet;
use std::fmt::Write;

use edgepath_model::Category;

use super::Generator;
use crate::{PacType, Provenance, RuleSet, TargetOptions};

/// `--target pac`.
pub(crate) struct PacFile;

impl Generator for PacFile {
    const COMMENT: &'static str = "// ";

    fn title(&self, opts: &TargetOptions) -> String {
        let pac_type = opts.pac_type.unwrap_or_default();
        format!(
            "Proxy auto-config (PAC) for Skype for Business Online / Microsoft Teams: {} go DIRECT, everything else to the proxy (Microsoft's type {})",
            match pac_type {
                PacType::OptimizeOnly => "the Optimize endpoints",
                PacType::OptimizeAndAllow => "the Optimize and Allow endpoints",
            },
            match pac_type {
                PacType::OptimizeOnly => 1,
                PacType::OptimizeAndAllow => 2,
            }
        )
    }

    fn body(&self, rules: &RuleSet, opts: &TargetOptions, _prov: &Provenance, out: &mut String) {
        let pac_type = opts.pac_type.unwrap_or_default();
        let direct = |c: Category| match pac_type {
            PacType::OptimizeOnly => c == Category::Optimize,
            PacType::OptimizeAndAllow => c >= Category::Allow,
        };
        let proxy = opts
            .proxy
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut exact = BTreeSet::new();
        let mut wild = BTreeSet::new();
        let mut nets = Vec::new();
        let mut nets6 = Vec::new();
        for f in rules.flows.iter().filter(|f| direct(f.category)) {
            for n in &f.names {
                if n.contains('*') {
                    wild.insert(n.clone());
                } else {
                    exact.insert(n.clone());
                }
            }
            if !opts.by_name {
                nets.extend(f.v4.iter().copied());
                nets6.extend(f.v6.iter().copied());
            }
        }
        out.push_str("\nfunction FindProxyForURL(url, host) {\n");
        let _ = writeln!(
            out,
            "    var direct = \"DIRECT\";\n    var proxy = \"PROXY {proxy}\";"
        );
        out.push_str("    host = host.toLowerCase();\n");
        if !exact.is_empty() {
            out.push_str("\n    // Names Microsoft lists exactly\n    if (");
            let conds: Vec<String> = exact.iter().map(|n| format!("host == \"{n}\"")).collect();
            out.push_str(&conds.join("\n        || "));
            out.push_str(")\n        return direct;\n");
        }
        if !wild.is_empty() {
            out.push_str("\n    // Wildcard names\n    if (");
            let conds: Vec<String> = wild
                .iter()
                .map(|n| format!("shExpMatch(host, \"{n}\")"))
                .collect();
            out.push_str(&conds.join("\n        || "));
            out.push_str(")\n        return direct;\n");
        }
        let nets = ipnet::Ipv4Net::aggregate(&nets);
        if !nets.is_empty() {
            out.push_str(
                "\n    // Hosts given as IPv4 addresses (relays are reached by address)\n",
            );
            out.push_str("    if (/^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(host) && (");
            let conds: Vec<String> = nets
                .iter()
                .map(|n| format!("isInNet(host, \"{}\", \"{}\")", n.network(), n.netmask()))
                .collect();
            out.push_str(&conds.join("\n        || "));
            out.push_str("))\n        return direct;\n");
        }
        let nets6 = ipnet::Ipv6Net::aggregate(&nets6);
        if !nets6.is_empty() {
            // isInNet is IPv4 only; isInNetEx (Microsoft's IPv6 extension, in Chromium
            // and Windows) takes a CIDR. Where it is missing, IPv6 literals go to the proxy.
            out.push_str(
                "\n    // Hosts given as IPv6 addresses, where the browser has isInNetEx\n",
            );
            out.push_str(
                "    if (host.indexOf(\":\") >= 0 && typeof isInNetEx == \"function\" && (",
            );
            let conds: Vec<String> = nets6
                .iter()
                .map(|n| format!("isInNetEx(host, \"{n}\")"))
                .collect();
            out.push_str(&conds.join("\n        || "));
            out.push_str("))\n        return direct;\n");
        }
        out.push_str("\n    return proxy;\n}\n");
    }
}
