//! PowerShell for Windows: outbound allows with `New-NetFirewallRule` and one
//! `New-NetQosPolicy` per media source range, Microsoft's own recommendation
//! (DOMAIN.md section 2). Everything goes in the group / name prefix `edgepath`, and
//! earlier edgepath rules are removed first, so running the script again replaces them.

use std::fmt::Write;

use super::Generator;
use crate::format::ports_text;
use crate::{Provenance, RuleSet, TargetOptions};

/// A PowerShell single-quoted string: `'` doubles, nothing else is special.
/// A PowerShell single-quoted string. PowerShell ends such a string at any of the
/// four single quotes (ASCII and U+2018-U+201B), so each is doubled; nothing else is
/// special inside single quotes.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// `--target windows`.
pub(crate) struct Windows;

impl Generator for Windows {
    fn title(&self, _opts: &TargetOptions) -> String {
        "Windows Firewall rules and QoS policies (PowerShell) for Skype for Business Online / Microsoft Teams clients".into()
    }

    fn body(&self, rules: &RuleSet, opts: &TargetOptions, _prov: &Provenance, out: &mut String) {
        out.push_str("#\n# Run in an elevated PowerShell. Outbound allows matter where outbound traffic is blocked by\n# default; the QoS policies mark media by source port (apply them by Group Policy on domain\n# machines). Earlier rules and policies named edgepath are removed first.\n#Requires -RunAsAdministrator\n\n");
        out.push_str("Get-NetFirewallRule -Group 'edgepath' -ErrorAction SilentlyContinue | Remove-NetFirewallRule\n");
        out.push_str("Get-NetQosPolicy -ErrorAction SilentlyContinue | Where-Object { $_.Name -like 'edgepath *' } | Remove-NetQosPolicy -Confirm:$false\n\n");
        let program = opts
            .app
            .as_deref()
            .map(|a| format!(" -Program {}", quote(a)))
            .unwrap_or_default();
        if !opts.dns.is_empty() {
            let dns: Vec<String> = opts.dns.iter().map(|a| quote(&a.to_string())).collect();
            for proto in ["UDP", "TCP"] {
                let _ = writeln!(
                out,
                "New-NetFirewallRule -Group 'edgepath' -DisplayName 'edgepath DNS {proto}' -Direction Outbound -Action Allow -Protocol {proto} -RemotePort 53 -RemoteAddress {} | Out-Null",
                dns.join(",")
            );
            }
        }
        for f in rules.flows.iter().filter(|f| f.has_addresses()) {
            let proto = f.proto.name().to_ascii_uppercase();
            let name = format!(
                "edgepath set {} {} {proto} {}",
                f.set_id,
                f.category,
                ports_text(&f.ports).replace(", ", ",")
            );
            let ports: Vec<String> = f
                .ports
                .ranges()
                .iter()
                .map(|r| quote(&r.to_string()))
                .collect();
            let addrs: Vec<String> =
                f.v4.iter()
                    .map(ToString::to_string)
                    .chain(f.v6.iter().map(ToString::to_string))
                    .map(|a| quote(&a))
                    .collect();
            let local = f
                .source
                .map(|r| format!(" -LocalPort {}", quote(&r.to_string())))
                .unwrap_or_default();
            let _ = writeln!(
            out,
            "# {}\nNew-NetFirewallRule -Group 'edgepath' -DisplayName {} -Direction Outbound -Action Allow -Protocol {proto} -RemotePort {}{local} -RemoteAddress {}{program} | Out-Null",
            f.label(),
            quote(&name),
            ports.join(","),
            addrs.join(",")
        );
        }
        out.push_str("\n# QoS: Microsoft's DSCP per media source range, TCP and UDP\n");
        let app = opts
            .app
            .as_deref()
            .map(|a| format!(" -AppPathNameMatchCondition {}", quote(a)))
            .unwrap_or_default();
        for (q, mods) in rules.qos.iter().zip(&rules.qos_modalities) {
            let _ = writeln!(
            out,
            "New-NetQosPolicy -Name {} -NetworkProfile All -IPProtocolMatchCondition Both -IPSrcPortStartMatchCondition {} -IPSrcPortEndMatchCondition {} -DSCPAction {}{app} | Out-Null",
            quote(&format!("edgepath {}", mods.join(" and "))),
            q.ports.first(),
            q.ports.last(),
            q.dscp.value()
        );
        }
    }
}
