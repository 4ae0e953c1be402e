//! A Markdown checklist of every rule, for firewalls edgepath has no generator for.

use std::fmt::Write;

use super::Generator;
use crate::format::{one_line, ports_text};
use crate::{Provenance, RuleSet, TargetOptions};

/// `--target checklist`: the opening is an HTML comment, hidden when rendered.
pub(crate) struct Checklist;

impl Generator for Checklist {
    const COMMENT: &'static str = "";
    const FIRST_LINE: &'static str = "<!--\n";

    fn title(&self, _opts: &TargetOptions) -> String {
        "Firewall, QoS, proxy and VPN checklist for Skype for Business Online / Microsoft Teams clients".into()
    }

    /// Only `>` can end an HTML comment (`-->`, `--!>`): none may come from a path.
    fn escape_opening(&self, text: String) -> String {
        text.replace('>', "&gt;")
    }

    fn body(&self, rules: &RuleSet, opts: &TargetOptions, prov: &Provenance, out: &mut String) {
        out.push_str(
            "-->\n# Skype for Business Online / Microsoft Teams: what the network must allow\n\n",
        );
        let _ = writeln!(
            out,
            "Endpoint data: {}  \nMade by: {}\n",
            markdown_text(&one_line(&prov.endpoint_data)),
            code_span(&one_line(&prov.command))
        );
        out.push_str("## Outbound allows\n\n");
        out.push_str("| # | Protocol | Destination ports | Destinations | Source ports | Category | Endpoint set | Used for |\n");
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        let mut n = 0;
        if !opts.dns.is_empty() {
            n += 1;
            let dns: Vec<String> = opts.dns.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "| {n} | UDP, TCP | 53 | {} | any | - | - | DNS: resolving Microsoft's names |",
                dns.join(", ")
            );
        }
        for f in &rules.flows {
            n += 1;
            let mut dest: Vec<String> = f.names.iter().map(|x| format!("`{x}`")).collect();
            if !opts.by_name {
                dest.extend(f.v4.iter().map(ToString::to_string));
                dest.extend(f.v6.iter().map(ToString::to_string));
            }
            if dest.is_empty() {
                dest.push("(addresses only; see the next rows)".into());
            }
            let used = f.services_text();
            let _ = writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {} | {} ({}{}) | {used} |",
                f.proto.name().to_ascii_uppercase(),
                ports_text(&f.ports),
                dest.join(", "),
                f.source.map_or("any".to_owned(), |r| r.to_string()),
                f.category,
                f.set_id,
                f.area,
                if f.required { "" } else { ", optional" },
            );
        }
        out.push_str("\nReturn traffic of these connections must be allowed too (a stateful firewall does this).\n");
        if opts.by_name {
            out.push_str("Destinations are listed by name only (--by-name): a firewall that matches names by TLS SNI or DNS can use them.\n");
        }
        out.push_str("\n## QoS: DSCP by client source port (TCP and UDP)\n\n| Modality | Source ports | DSCP |\n|---|---|---|\n");
        for (q, mods) in rules.qos.iter().zip(&rules.qos_modalities) {
            let _ = writeln!(out, "| {} | {} | {} |", mods.join(", "), q.ports, q.dscp);
        }
        out.push_str("\n## Proxy and VPN\n\n");
        let all: Vec<&crate::OptimizeSet> = rules.optimize.iter().collect();
        let (v4, v6) = RuleSet::ranges_of(&all);
        let opt: Vec<String> = v4
            .iter()
            .map(ToString::to_string)
            .chain(v6.iter().map(ToString::to_string))
            .collect();
        let _ = writeln!(
            out,
            "- Send the Optimize ranges directly, around the proxy and outside the VPN tunnel: {}.",
            if opt.is_empty() {
                "(none in this data)".to_owned()
            } else {
                opt.join(", ")
            }
        );
        out.push_str("- Do not inspect (bump) TLS to the Optimize and Allow names; TURN over TCP does not survive it.\n");
        out.push_str("- Media takes the first of: UDP to the relays on 3478-3481, TCP 443 directly, TCP 443 through the proxy. Only the first is good for calls.\n");
    }
}

/// Text with every character Markdown (or the HTML it may carry) gives a meaning
/// backslash-escaped, so a path or value shows as it is.
fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Markdown code span whose fence is longer than any run of backticks inside.
fn code_span(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    format!("{fence} {s} {fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes() {
        assert_eq!(markdown_text("a_b*<x>|`"), "a\\_b\\*\\<x\\>\\|\\`");
        assert_eq!(code_span("edgepath rules"), "` edgepath rules `");
        assert_eq!(code_span("a ``b` c"), "``` a ``b` c ```");
    }
}
