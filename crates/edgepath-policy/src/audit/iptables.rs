//! Reads `iptables-save` and `ip6tables-save` output into the audit's rules: the
//! filter table's chains and policies, `-A` rules with -s/-d (negated too), -p,
//! --sport/--dport, multiport, conntrack/state, iprange, -i/-o (`eth+` for a prefix),
//! comments; targets ACCEPT, DROP, REJECT, RETURN, LOG, user chains (-j, -g). Other
//! matches (marks, TCP flags) make the rule unknown, named; `-m set --match-set` is
//! resolved against `ipset save` output when it is given (ipset.rs), unknown otherwise. Other tables are read and not
//! evaluated (NAT is out of scope).

use std::net::IpAddr;

use edgepath_model::Family;

use super::ir::{
    addr, cidr, ifname_range, loopback, Action, Base, Chain, Condition, Dim, Hook, Match, Origin,
    Rule, Ruleset, Slot, Values,
};
use super::AuditError;

/// Splits a line into words, honouring the double quotes iptables-save writes around
/// comments (with `\"` inside); ipset save quotes the same way.
pub(super) fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("an unclosed quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Reads the text of `file`. The family is IPv6 when the header says ip6tables-save or
/// an address is IPv6, else IPv4.
pub fn read(file: &str, text: &str) -> Result<Ruleset, AuditError> {
    let six = text.contains("ip6tables-save")
        || text.lines().filter(|l| l.starts_with("-A")).any(|l| {
            l.split_whitespace()
                .any(|w| w.contains("::") || w.matches(':').count() > 1 && w.contains('/'))
        });
    let family = if six { Family::Ipv6 } else { Family::Ipv4 };
    let fam = if six { "ip6" } else { "ip" };
    // An iptables-save says nothing of the other family (ip6tables keeps its own).
    let mut rs = Ruleset::describing(&[family]);
    let mut table: Option<String> = None;
    let syntax = |line: usize, what: String| AuditError::Syntax {
        file: file.to_owned(),
        line,
        what,
    };
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(t) = line.strip_prefix('*') {
            table = Some(t.trim().to_owned());
            continue;
        }
        if line == "COMMIT" {
            table = None;
            continue;
        }
        let Some(t) = table.clone() else {
            return Err(syntax(
                line_no,
                format!("`{line}` outside a table (no `*filter` before it)"),
            ));
        };
        if let Some(decl) = line.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let name = parts
                .next()
                .ok_or_else(|| syntax(line_no, "a chain declaration without a name".into()))?;
            let policy = parts.next().unwrap_or("-");
            let hook = match (t.as_str(), name) {
                ("filter", "FORWARD") => Some(Hook::Forward),
                ("filter", "OUTPUT") => Some(Hook::Output),
                (_, "INPUT" | "FORWARD" | "OUTPUT" | "PREROUTING" | "POSTROUTING") => {
                    Some(Hook::Other)
                }
                _ => None,
            };
            let base = hook.map(|hook| {
                let policy = match policy {
                    "DROP" => Action::Drop,
                    _ => Action::Accept,
                };
                Base {
                    hook,
                    priority: 0,
                    policy_origin: Origin::Iptables {
                        file: file.to_owned(),
                        line: line_no,
                        text: format!(
                            ":{name} {} (policy)",
                            if policy == Action::Drop {
                                "DROP"
                            } else {
                                "ACCEPT"
                            }
                        ),
                        table: t.clone(),
                        chain: name.to_owned(),
                        slot: Slot::Policy,
                    },
                    policy,
                }
            });
            if base.is_none() && policy != "-" {
                return Err(syntax(
                    line_no,
                    format!("chain {name} has policy {policy}, but only built-in chains have one"),
                ));
            }
            rs.chains.push(Chain {
                table: format!("{fam} {t}"),
                family: Some(family),
                name: name.to_owned(),
                base,
                rules: Vec::new(),
            });
            continue;
        }
        let w = words(line).map_err(|e| syntax(line_no, e))?;
        if w.first().map(String::as_str) != Some("-A") || w.len() < 2 {
            return Err(syntax(
                line_no,
                format!(
                    "expected `-A CHAIN ...`, `:CHAIN POLICY`, `*table` or COMMIT, found `{line}`"
                ),
            ));
        }
        let chain_name = w[1].clone();
        let (matches, action, unknown) = rule_words(&w[2..]).map_err(|e| syntax(line_no, e))?;
        for u in &unknown {
            rs.warnings.push(format!("{file}:{line_no}: {u}"));
        }
        let table_key = format!("{fam} {t}");
        let idx = match rs
            .chains
            .iter()
            .position(|c| c.table == table_key && c.name == chain_name)
        {
            Some(i) => i,
            None => {
                rs.warnings.push(format!(
                    "{file}:{line_no}: chain {chain_name} was not declared"
                ));
                rs.chains.push(Chain {
                    table: table_key,
                    family: Some(family),
                    name: chain_name.clone(),
                    base: None,
                    rules: Vec::new(),
                });
                rs.chains.len() - 1
            }
        };
        let position = rs.chains[idx].rules.len() + 1;
        rs.chains[idx].rules.push(Rule {
            matches,
            action,
            origin: Origin::Iptables {
                file: file.to_owned(),
                line: line_no,
                text: line.to_owned(),
                table: t.clone(),
                chain: chain_name,
                slot: Slot::Rule(u64::try_from(position).ok()),
            },
        });
    }
    Ok(rs)
}

fn ports(s: &str) -> Result<Values, String> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        let p = |x: &str, dflt: u16| -> Result<u128, String> {
            if x.is_empty() {
                return Ok(u128::from(dflt));
            }
            x.parse::<u16>()
                .map(u128::from)
                .map_err(|_| format!("port `{x}`"))
        };
        v.push((p(a, 0)?, p(b, u16::MAX)?));
    }
    Ok(Values::new(v))
}

fn addresses(s: &str) -> Result<Values, String> {
    s.split(',')
        .map(|part| cidr(part).ok_or_else(|| format!("address `{part}`")))
        .collect::<Result<Vec<_>, _>>()
        .map(Values::new)
}

fn ip_range(s: &str) -> Result<Values, String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: IpAddr = a.parse().map_err(|_| format!("range `{s}`"))?;
    let b: IpAddr = b.parse().map_err(|_| format!("range `{s}`"))?;
    Ok(Values::new(vec![(addr(a), addr(b))]))
}

fn protocol(s: &str) -> Result<Option<Values>, String> {
    Ok(Some(Values::one(match s {
        "tcp" | "6" => 6,
        "udp" | "17" => 17,
        "icmp" | "1" => 1,
        "ipv6-icmp" | "icmpv6" | "58" => 58,
        "sctp" | "132" => 132,
        "all" | "0" => return Ok(None),
        other => other
            .parse::<u8>()
            .map(u128::from)
            .map_err(|_| format!("protocol `{other}`"))?,
    })))
}

/// A rule's words after `-A CHAIN`: its matches, its action, and what is not modelled.
fn rule_words(w: &[String]) -> Result<(Vec<Match>, Action, Vec<String>), String> {
    let mut matches = Vec::new();
    let mut unknown = Vec::new();
    let mut action = Action::Continue;
    let mut i = 0;
    let mut negate = false;
    let arg = |i: usize| {
        w.get(i + 1)
            .cloned()
            .ok_or_else(|| format!("`{}` without a value", w[i]))
    };
    let cond = |d: Dim, v: Values, neg: bool| {
        Match::Fields(if neg {
            Condition::is_not(d, v)
        } else {
            Condition::is(d, v)
        })
    };
    while i < w.len() {
        let opt = w[i].as_str();
        if opt == "!" {
            negate = true;
            i += 1;
            continue;
        }
        let neg = std::mem::take(&mut negate);
        match opt {
            "-s" | "--source" => matches.push(cond(Dim::SrcAddr, addresses(&arg(i)?)?, neg)),
            "-d" | "--destination" => matches.push(cond(Dim::DstAddr, addresses(&arg(i)?)?, neg)),
            "-p" | "--protocol" => {
                if let Some(v) = protocol(&arg(i)?)? {
                    matches.push(cond(Dim::L4Proto, v, neg));
                }
            }
            "--sport" | "--source-port" | "--sports" | "--source-ports" => {
                matches.push(cond(Dim::SrcPort, ports(&arg(i)?)?, neg))
            }
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                matches.push(cond(Dim::DstPort, ports(&arg(i)?)?, neg))
            }
            "--src-range" => matches.push(cond(Dim::SrcAddr, ip_range(&arg(i)?)?, neg)),
            "--dst-range" => matches.push(cond(Dim::DstAddr, ip_range(&arg(i)?)?, neg)),
            "--ctstate" | "--state" => {
                let new = arg(i)?.split(',').any(|s| s.eq_ignore_ascii_case("NEW"));
                matches.push(Match::NewConnection(new != neg));
            }
            "-m" | "--match" => {
                let m = arg(i)?;
                let share = matches!(m.as_str(), "limit" | "hashlimit" | "statistic");
                if !matches!(
                    m.as_str(),
                    "tcp"
                        | "udp"
                        | "multiport"
                        | "conntrack"
                        | "state"
                        | "iprange"
                        | "comment"
                        | "set"
                ) {
                    // Its options follow; the match as a whole is not modelled, or is a
                    // share of packets (loss or rate limiting, not a block).
                    if share {
                        unknown.push(format!(
                            "a rule matches a share of packets or at a rate (-m {m}): loss or \
                             rate limiting, not a block; it decides no path"
                        ));
                        matches.push(Match::Share(format!("-m {m}")));
                    } else {
                        let what = format!("match -m {m} (not modelled)");
                        unknown.push(what.clone());
                        matches.push(Match::Unknown(what));
                    }
                    i += 2;
                    while i < w.len()
                        && w[i].starts_with("--")
                        && !matches!(w[i].as_str(), "--jump" | "--goto")
                    {
                        i += if w.get(i + 1).is_some_and(|n| !n.starts_with('-')) {
                            2
                        } else {
                            1
                        };
                    }
                    continue;
                }
            }
            "--comment" => {}
            // `-m set`: the set's members come from `ipset save` (see ipset.rs).
            "--match-set" | "--set" => {
                let name = arg(i)?;
                let flags = w
                    .get(i + 2)
                    .ok_or_else(|| format!("`{opt} {name}` without src/dst flags"))?;
                let src = flags
                    .split(',')
                    .map(|f| match f {
                        "src" => Ok(true),
                        "dst" => Ok(false),
                        other => Err(format!("`{other}` in `{opt} {name} {flags}`: src or dst")),
                    })
                    .collect::<Result<Vec<bool>, String>>()?;
                matches.push(Match::IpSet {
                    name,
                    src,
                    negated: neg,
                });
                i += 3;
                continue;
            }
            // How a set match counts or treats `nomatch` entries: nothing a path needs.
            "--return-nomatch" | "--update-counters" | "--update-subcounters" => {
                i += 1;
                continue;
            }
            // The first packet of a TCP connection is a SYN.
            "--syn" => {
                i += 1;
                continue;
            }
            "--tcp-flags" => {
                let what = "match --tcp-flags (not modelled)".to_owned();
                unknown.push(what.clone());
                matches.push(Match::Unknown(what));
                i += 3;
                continue;
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" if arg(i)? == "lo" => {
                let d = if opt.starts_with("-o") || opt == "--out-interface" {
                    Dim::DstAddr
                } else {
                    Dim::SrcAddr
                };
                matches.push(cond(d, loopback(), neg));
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let d = if opt.starts_with("-o") || opt == "--out-interface" {
                    Dim::OutIface
                } else {
                    Dim::InIface
                };
                // `eth+`: every interface whose name starts with `eth`.
                let name = arg(i)?;
                let range = match name.strip_suffix('+') {
                    Some(stem) => ifname_range(stem, true),
                    None => ifname_range(&name, false),
                }
                .ok_or_else(|| format!("interface name {name:?}: 1 to 15 characters"))?;
                matches.push(cond(d, Values::new(vec![range]), neg));
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let t = arg(i)?;
                action = match t.as_str() {
                    "ACCEPT" => Action::Accept,
                    "DROP" => Action::Drop,
                    "REJECT" => Action::Reject,
                    "RETURN" => Action::Return,
                    "LOG" | "NFLOG" | "ULOG" | "MARK" | "CONNMARK" | "DSCP" | "TOS"
                    | "CLASSIFY" | "TCPMSS" | "CT" | "NOTRACK" | "MASQUERADE" | "SNAT" | "DNAT"
                    | "REDIRECT" => Action::Continue,
                    "NFQUEUE" | "QUEUE" | "TPROXY" => {
                        let what = format!("target {t} (not modelled)");
                        unknown.push(what.clone());
                        Action::Unknown(what)
                    }
                    chain if opt == "-g" || opt == "--goto" => Action::Goto(chain.to_owned()),
                    chain => Action::Jump(chain.to_owned()),
                };
                // The target's own options (--reject-with, --log-prefix) follow.
                i += 2;
                while i < w.len() {
                    i += 1;
                }
                continue;
            }
            _ if opt.starts_with('-') => {
                let what = format!("option {opt} (not modelled)");
                unknown.push(what.clone());
                matches.push(Match::Unknown(what));
                if w.get(i + 1).is_some_and(|n| !n.starts_with('-')) {
                    i += 1;
                }
                i += 1;
                continue;
            }
            other => return Err(format!("unexpected word `{other}`")),
        }
        i += 2;
    }
    Ok((matches, action, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quoted_comments_whole() {
        let w =
            words(r#"-A FORWARD -m comment --comment "edgepath \"set\" 11" -j ACCEPT"#).unwrap();
        assert_eq!(w[4], "--comment");
        assert_eq!(w[5], "edgepath \"set\" 11");
        assert!(words(r#"-A X -m comment --comment "open"#).is_err());
    }
}
