//! Squid ACLs for an explicit proxy, to include before the final `http_access deny`:
//! CONNECT to the catalog's names (and, unless `--by-name`, address ranges) on their
//! TCP ports is allowed, and TLS to them is never bumped: `peek` at step 1, then
//! `splice`, by `ssl::server_name`. Relay ranges are spliced at step 1 without peeking,
//! since TURN over TCP starts with MS-TURN's pseudo-TLS, which a peek can break.

use std::collections::BTreeSet;
use std::fmt::Write;

use ipnet::{Ipv4Net, Ipv6Net};

use super::Generator;
use crate::{Proto, Provenance, RuleSet, TargetOptions};

/// Squid's dstdomain form: `*.lync.com` is `.lync.com` (which also matches
/// `lync.com`); a name covered by a listed `.domain` is dropped, since Squid warns about
/// (or refuses) such duplicates. Wildcards of another shape go to a regex list.
fn domains(names: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let mut dots = BTreeSet::new();
    let mut regexes = Vec::new();
    let mut exact = BTreeSet::new();
    for n in names {
        match n.strip_prefix("*.") {
            Some(rest) if !rest.contains('*') => {
                dots.insert(format!(".{rest}"));
            }
            _ if n.contains('*') => {
                let re: String = n
                    .chars()
                    .map(|c| match c {
                        '*' => "[a-z0-9.-]*".to_owned(),
                        '.' => "\\.".to_owned(),
                        c => c.to_string(),
                    })
                    .collect();
                regexes.push(format!("^{re}$"));
            }
            _ => {
                exact.insert(n.clone());
            }
        }
    }
    let covered = |name: &str, dots: &BTreeSet<String>| {
        dots.iter().any(|d| {
            let bare = &d[1..];
            (name == bare || name.ends_with(d.as_str())) && name != d
        })
    };
    // A `.sub.example.com` inside `.example.com` is a duplicate too.
    let dots_kept: Vec<String> = dots
        .iter()
        .filter(|d| !dots.iter().any(|o| o != *d && d.ends_with(o.as_str())))
        .cloned()
        .collect();
    let dot_set: BTreeSet<String> = dots_kept.iter().cloned().collect();
    let mut out: Vec<String> = dots_kept;
    out.extend(exact.into_iter().filter(|n| !covered(n, &dot_set)));
    (out, regexes)
}

/// The flows' address ranges, merged per family, IPv4 first, in address order.
fn addresses<'a>(flows: impl Iterator<Item = &'a crate::Flow>) -> Vec<String> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for f in flows {
        v4.extend(f.v4.iter().copied());
        v6.extend(f.v6.iter().copied());
    }
    Ipv4Net::aggregate(&v4)
        .iter()
        .map(ToString::to_string)
        .chain(Ipv6Net::aggregate(&v6).iter().map(ToString::to_string))
        .collect()
}

/// `--target squid`.
pub(crate) struct Squid;

impl Generator for Squid {
    fn title(&self, _opts: &TargetOptions) -> String {
        "Squid ACLs for Skype for Business Online / Microsoft Teams: allow CONNECT to Microsoft 365's names and ranges, and never bump their TLS (peek, then splice)".into()
    }

    fn body(&self, rules: &RuleSet, opts: &TargetOptions, _prov: &Provenance, out: &mut String) {
        out.push_str("#\n# Include this file (squid.conf: include /etc/squid/edgepath-teams.conf) before your final\n# `http_access deny` and before your own ssl_bump rules. Real-time media should not take the\n# proxy at all: let UDP 3478-3481 out directly (edgepath rules --target nftables or checklist).\n\n");
        let names: BTreeSet<String> = rules
            .flows
            .iter()
            .flat_map(|f| f.names.iter().cloned())
            .collect();
        let (dstdomains, regexes) = domains(&names);
        let mut tcp_ports = edgepath_model::PortSet::new();
        for f in rules.flows.iter().filter(|f| f.proto == Proto::Tcp) {
            tcp_ports.extend(&f.ports);
        }
        let ports = tcp_ports.to_strings();
        let _ = writeln!(out, "acl edgepath_connect method CONNECT");
        let _ = writeln!(out, "acl edgepath_ports port {}", ports.join(" "));
        let _ = writeln!(out, "acl edgepath_step1 at_step SslBump1");
        let mut allow_acls = Vec::new();
        if !dstdomains.is_empty() {
            let _ = writeln!(out, "acl edgepath_names dstdomain {}", dstdomains.join(" "));
            let _ = writeln!(
                out,
                "acl edgepath_tls_names ssl::server_name {}",
                dstdomains.join(" ")
            );
            allow_acls.push(("edgepath_names", "edgepath_tls_names"));
        }
        if !regexes.is_empty() {
            let _ = writeln!(
                out,
                "acl edgepath_name_patterns dstdom_regex -i {}",
                regexes.join(" ")
            );
            let _ = writeln!(
                out,
                "acl edgepath_tls_patterns ssl::server_name_regex -i {}",
                regexes.join(" ")
            );
            allow_acls.push(("edgepath_name_patterns", "edgepath_tls_patterns"));
        }
        let relay = addresses(rules.flows.iter().filter(|f| f.media));
        let ranges = addresses(
            rules
                .flows
                .iter()
                .filter(|f| f.proto == Proto::Tcp && !f.media),
        );
        let by_address = !opts.by_name;
        if by_address && !ranges.is_empty() {
            let _ = writeln!(out, "acl edgepath_ranges dst {}", ranges.join(" "));
            allow_acls.push(("edgepath_ranges", ""));
        }
        let splice_relays = by_address && !relay.is_empty();
        if splice_relays {
            let _ = writeln!(out, "acl edgepath_relays dst {}", relay.join(" "));
            allow_acls.push(("edgepath_relays", ""));
        } else if !relay.is_empty() {
            out.push_str("# --by-name: TURN over TCP through the proxy goes to the relays by address, which name\n# ACLs cannot allow; media through this proxy will fail (let UDP 3478-3481 out directly).\n");
        }
        out.push('\n');
        for (dst, _) in &allow_acls {
            let _ = writeln!(
                out,
                "http_access allow edgepath_connect edgepath_ports {dst}"
            );
        }
        if splice_relays {
            out.push_str("ssl_bump splice edgepath_step1 edgepath_relays\n");
        }
        for (_, tls) in allow_acls.iter().filter(|(_, tls)| !tls.is_empty()) {
            let _ = writeln!(out, "ssl_bump peek edgepath_step1 {tls}");
            let _ = writeln!(out, "ssl_bump splice {tls}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squid_domain_forms() {
        let names: BTreeSet<String> = [
            "*.lync.com",
            "teams.microsoft.com",
            "*.teams.microsoft.com",
            "sipdir.online.lync.com",
            "*cdn.onenote.net",
            "a.b.lync.com",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let (d, r) = domains(&names);
        assert_eq!(d, vec![".lync.com", ".teams.microsoft.com"]);
        assert_eq!(r, vec!["^[a-z0-9.-]*cdn\\.onenote\\.net$"]);
    }
}
