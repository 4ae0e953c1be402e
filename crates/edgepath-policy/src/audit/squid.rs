//! Reads a Squid configuration (squid.conf(5)) for what decides a client's CONNECT:
//! `http_port`, `acl` (src, dst, dstdomain, port, method, ssl::server_name, at_step,
//! and the built-in `all`), `http_access` (the first matching line wins; with none, the
//! opposite of the last line's action) and `ssl_bump` (peek and stare look on, splice
//! passes through, bump intercepts, terminate closes). Other acl types, and acls whose
//! values are in files, make a line that needs them unknown, named.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::ir::{addr, cidr, Values};
use super::AuditError;

/// One acl: its type and values.
#[derive(Debug, Clone)]
enum Acl {
    All,
    Src(Values),
    Dst(Values),
    Domain(Vec<String>),
    Port(Values),
    Method(Vec<String>),
    /// `at_step SslBump1/2/3`.
    Step(Vec<u8>),
    /// `proxy_auth`: holds for a client that authenticates (Teams clients do, with the
    /// user's credentials, when the proxy asks).
    Auth,
    /// Not modelled: the type, or why.
    Unknown(String),
}

/// One `http_access` or `ssl_bump` line: its action and its (possibly negated) acls.
#[derive(Debug, Clone)]
struct Line {
    action: String,
    acls: Vec<(bool, String)>,
    line: usize,
    text: String,
}

/// A Squid configuration, as far as CONNECT decisions go.
#[derive(Debug, Clone, Default)]
pub struct Squid {
    file: String,
    /// The addresses it listens on (`http_port`), with whether TLS bumping is on.
    pub ports: Vec<(Option<IpAddr>, u16, bool)>,
    acls: HashMap<String, Vec<Acl>>,
    access: Vec<Line>,
    bump: Vec<Line>,
    /// What was not understood.
    pub warnings: Vec<String>,
    /// What the audit assumed.
    pub notes: Vec<String>,
}

/// A CONNECT as a client sends it.
#[derive(Debug, Clone)]
pub struct Connect<'a> {
    /// The client's address, if known.
    pub client: Option<IpAddr>,
    /// The host name asked for (also the TLS server name), if any.
    pub name: Option<&'a str>,
    /// The addresses it stands for (`dst` acls are about them).
    pub addresses: &'a [(u128, u128)],
    /// The port.
    pub port: u16,
}

/// Why a decision is unknown when a dst acl covers only part of the addresses.
const PARTLY: &str = "a dst acl covering part of the destination";

/// What Squid does with a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyDecision {
    /// `Some(true)` allowed, `Some(false)` denied, `None` unknown.
    pub allowed: Option<bool>,
    /// `Some(true)` when the TLS inside is bumped (intercepted), `None` unknown.
    pub bumped: Option<bool>,
    /// The deciding lines, `file:line: text`.
    pub by: Vec<String>,
    /// Why unknown, when it is.
    pub unknown: Option<String>,
}

fn parse_values<T>(vals: &[&str], one: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    vals.iter().map(|v| one(v)).collect()
}

/// `ADDR`, `ADDR/LEN`, `ADDR/MASK` or Squid's `ADDR-ADDR[/MASK]` range.
fn src_dst(v: &str) -> Option<(u128, u128)> {
    if let Some((a, b)) = v.split_once('-') {
        let (a, b): (IpAddr, IpAddr) = (a.parse().ok()?, b.split('/').next()?.parse().ok()?);
        return Some((addr(a), addr(b)));
    }
    cidr(v)
}

/// Reads the text of `file`.
pub fn read(file: &str, text: &str) -> Result<Squid, AuditError> {
    let mut sq = Squid {
        file: file.to_owned(),
        ..Squid::default()
    };
    let syntax = |line: usize, what: String| AuditError::Syntax {
        file: file.to_owned(),
        line,
        what,
    };
    let mut pending = String::new();
    let mut start = 0;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        // A line ending in a backslash continues on the next.
        if pending.is_empty() {
            start = line_no;
        }
        if let Some(body) = raw.strip_suffix('\\') {
            pending.push_str(body);
            pending.push(' ');
            continue;
        }
        pending.push_str(raw);
        let line = std::mem::take(&mut pending);
        let line = line.split('#').next().unwrap_or_default().trim().to_owned();
        if line.is_empty() {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[0] {
            "http_port" => {
                let at = w
                    .get(1)
                    .ok_or_else(|| syntax(start, "http_port without a port".into()))?;
                let bump = w.contains(&"ssl-bump");
                if let Ok(sa) = at.parse::<SocketAddr>() {
                    sq.ports.push((Some(sa.ip()), sa.port(), bump));
                } else if let Ok(p) = at.parse::<u16>() {
                    sq.ports.push((None, p, bump));
                } else if let Some((_, p)) = at.rsplit_once(':') {
                    let p = p
                        .parse()
                        .map_err(|_| syntax(start, format!("http_port {at}")))?;
                    sq.ports.push((None, p, bump));
                } else {
                    return Err(syntax(start, format!("http_port {at}: not a port")));
                }
            }
            "acl" => {
                if w.len() < 3 {
                    return Err(syntax(start, format!("`{line}`: acl NAME TYPE VALUES...")));
                }
                let (name, kind) = (w[1], w[2]);
                let mut vals: Vec<&str> = w[3..]
                    .iter()
                    .copied()
                    .filter(|v| !v.starts_with('-'))
                    .collect();
                vals.retain(|v| !v.is_empty());
                let acl = if vals.iter().any(|v| v.starts_with('"')) {
                    Acl::Unknown(format!("acl {name}: values in a file ({})", vals.join(" ")))
                } else {
                    match kind {
                        "src" | "dst" => match parse_values(&vals, src_dst) {
                            Some(v) => {
                                let v = Values::new(v);
                                if kind == "src" {
                                    Acl::Src(v)
                                } else {
                                    Acl::Dst(v)
                                }
                            }
                            None => {
                                return Err(syntax(
                                    start,
                                    format!("acl {name} {kind}: an address in {}", vals.join(" ")),
                                ))
                            }
                        },
                        "dstdomain" | "ssl::server_name" => {
                            Acl::Domain(vals.iter().map(|v| v.to_ascii_lowercase()).collect())
                        }
                        "port" => match parse_values(&vals, |v| {
                            let (a, b) = v.split_once('-').unwrap_or((v, v));
                            Some((
                                a.parse::<u16>().ok()? as u128,
                                b.parse::<u16>().ok()? as u128,
                            ))
                        }) {
                            Some(v) => Acl::Port(Values::new(v)),
                            None => {
                                return Err(syntax(
                                    start,
                                    format!("acl {name} port: {}", vals.join(" ")),
                                ))
                            }
                        },
                        "proxy_auth" | "proxy_auth_regex" => {
                            sq.notes.push(format!(
                                "{file}:{start}: the proxy asks for authentication (acl {name} {kind}): \
                                 clients are assumed to give it"
                            ));
                            Acl::Auth
                        }
                        "method" => {
                            Acl::Method(vals.iter().map(|v| v.to_ascii_uppercase()).collect())
                        }
                        "at_step" => Acl::Step(
                            vals.iter()
                                .filter_map(|v| {
                                    v.strip_prefix("SslBump").and_then(|n| n.parse().ok())
                                })
                                .collect(),
                        ),
                        other => Acl::Unknown(format!("acl {name} of type {other} (not modelled)")),
                    }
                };
                if let Acl::Unknown(w) = &acl {
                    sq.warnings.push(format!("{file}:{start}: {w}"));
                }
                sq.acls.entry(name.to_owned()).or_default().push(acl);
            }
            "http_access" | "ssl_bump" => {
                let action = w
                    .get(1)
                    .ok_or_else(|| syntax(start, format!("{} without an action", w[0])))?;
                let acls = w[2..]
                    .iter()
                    .map(|a| match a.strip_prefix('!') {
                        Some(n) => (true, n.to_owned()),
                        None => (false, (*a).to_owned()),
                    })
                    .collect();
                let l = Line {
                    action: (*action).to_owned(),
                    acls,
                    line: start,
                    text: line.clone(),
                };
                if w[0] == "http_access" {
                    if !matches!(*action, "allow" | "deny") {
                        return Err(syntax(
                            start,
                            format!("http_access {action}: allow or deny"),
                        ));
                    }
                    sq.access.push(l);
                } else {
                    sq.bump.push(l);
                }
            }
            "include" => sq.warnings.push(format!(
                "{file}:{start}: `{line}` is not followed: give the included files' lines in the \
                 configuration if they hold acl, http_access or ssl_bump lines"
            )),
            _ => {} // other directives decide nothing about CONNECT
        }
    }
    // Squid's predefined acls, unless the file defines its own.
    let loopback = Values::new(vec![(127 << 24, (128 << 24) - 1), (1, 1)]);
    for (name, acl) in [
        ("localhost", Acl::Src(loopback.clone())),
        ("to_localhost", Acl::Dst(loopback)),
        // The cache manager's own requests: never a client's CONNECT to 443.
        ("manager", Acl::Method(vec!["CACHE_OBJECT".into()])),
        ("CONNECT", Acl::Method(vec!["CONNECT".into()])),
    ] {
        sq.acls.entry(name.to_owned()).or_insert_with(|| vec![acl]);
    }
    Ok(sq)
}

/// Whether an acl holds for a request at a bump step.
fn holds(acl: &Acl, c: &Connect<'_>, step: u8) -> Result<bool, String> {
    Ok(match acl {
        Acl::All => true,
        Acl::Src(v) => match c.client {
            Some(ip) => v.0.iter().any(|&(a, b)| (a..=b).contains(&addr(ip))),
            None => {
                return Err("a src acl, and the client's address is not given (--client)".into())
            }
        },
        Acl::Dst(v) => {
            let inside = |(lo, hi): (u128, u128)| v.0.iter().any(|&(a, b)| a <= lo && hi <= b);
            let outside = |(lo, hi): (u128, u128)| v.0.iter().all(|&(a, b)| hi < a || b < lo);
            if !c.addresses.is_empty() && c.addresses.iter().all(|r| inside(*r)) {
                true
            } else if c.addresses.iter().all(|r| outside(*r)) {
                false
            } else {
                return Err(PARTLY.into());
            }
        }
        Acl::Domain(names) => match c.name {
            Some(n) => {
                let n = n.to_ascii_lowercase();
                names.iter().any(|d| match d.strip_prefix('.') {
                    Some(base) => n == base || n.ends_with(d.as_str()),
                    None => n == *d,
                })
            }
            None => false,
        },
        Acl::Port(v) => {
            v.0.iter()
                .any(|&(a, b)| (a..=b).contains(&u128::from(c.port)))
        }
        Acl::Method(m) => m.iter().any(|x| x == "CONNECT"),
        Acl::Step(s) => s.contains(&step),
        Acl::Auth => true,
        Acl::Unknown(w) => return Err(w.clone()),
    })
}

impl Squid {
    /// The proxy's file name.
    pub fn file(&self) -> &str {
        &self.file
    }

    fn line_holds(&self, l: &Line, c: &Connect<'_>, step: u8) -> Result<bool, String> {
        for (negated, name) in &l.acls {
            // An acl defined on several lines holds when any of them does.
            let Some(defs) = (if name == "all" {
                Some(&vec![Acl::All])
            } else {
                self.acls.get(name)
            }) else {
                return Err(format!("acl {name} is not defined"));
            };
            let mut any = false;
            for d in defs {
                if holds(d, c, step)? {
                    any = true;
                    break;
                }
            }
            if any == *negated {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn cite(&self, l: &Line) -> String {
        format!("{}:{}: {}", self.file, l.line, l.text)
    }

    /// What the proxy does with `c`.
    pub fn decide(&self, c: &Connect<'_>) -> ProxyDecision {
        let d = self.decide_one(c);
        if d.unknown.as_deref() != Some(PARTLY) {
            return d;
        }
        // A dst acl covers part of the addresses: the CONNECT goes to one of them. Cut
        // them at every dst acl's edges and decide each part; when all parts agree,
        // that is the answer (and the lines of every part decide it).
        let mut cuts: Vec<u128> = Vec::new();
        for acl in self.acls.values().flatten() {
            if let Acl::Dst(v) = acl {
                for &(a, b) in &v.0 {
                    cuts.push(a);
                    cuts.extend(b.checked_add(1));
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut parts: Vec<(u128, u128)> = Vec::new();
        for &(lo, hi) in c.addresses {
            let mut start = lo;
            for &cut in cuts.iter().filter(|&&x| x > lo && x <= hi) {
                parts.push((start, cut - 1));
                start = cut;
            }
            parts.push((start, hi));
            if parts.len() > 4096 {
                return d;
            }
        }
        let mut joined: Option<ProxyDecision> = None;
        for part in parts {
            let one = self.decide_one(&Connect {
                addresses: &[part],
                ..*c
            });
            if one.unknown.is_some() {
                return one;
            }
            match &mut joined {
                None => joined = Some(one),
                Some(j) if (j.allowed, j.bumped) == (one.allowed, one.bumped) => {
                    for b in one.by {
                        if !j.by.contains(&b) {
                            j.by.push(b);
                        }
                    }
                }
                Some(_) => return d,
            }
        }
        joined.unwrap_or(d)
    }

    /// [`Squid::decide`] for addresses each dst acl covers wholly or not at all (else
    /// unknown: [`PARTLY`]).
    fn decide_one(&self, c: &Connect<'_>) -> ProxyDecision {
        let mut d = ProxyDecision {
            allowed: None,
            bumped: Some(false),
            by: Vec::new(),
            unknown: None,
        };
        // http_access: the first line that holds decides; none: the opposite of the
        // last line's action (squid.conf(5)).
        let mut decided = false;
        for l in &self.access {
            match self.line_holds(l, c, 1) {
                Ok(true) => {
                    d.allowed = Some(l.action == "allow");
                    d.by.push(self.cite(l));
                    decided = true;
                    break;
                }
                Ok(false) => {}
                Err(w) => {
                    d.unknown = Some(w);
                    d.by.push(self.cite(l));
                    return d;
                }
            }
        }
        if !decided {
            d.allowed = Some(self.access.last().is_some_and(|l| l.action == "deny"));
            d.by.push(format!(
                "{}: no http_access line holds (default)",
                self.file
            ));
        }
        // ssl_bump: peek and stare look at steps 1 and 2; the first splice, bump or
        // terminate that holds at step 2 or 3 decides; none: splice.
        for step in [1u8, 2, 3] {
            for l in &self.bump {
                match self.line_holds(l, c, step) {
                    Ok(true) => match l.action.as_str() {
                        "peek" | "stare" if step < 3 => break,
                        "splice" | "none" => return d,
                        "bump" | "client-first" | "server-first" => {
                            d.bumped = Some(true);
                            d.by.push(self.cite(l));
                            return d;
                        }
                        "terminate" => {
                            d.allowed = Some(false);
                            d.by.push(self.cite(l));
                            return d;
                        }
                        _ => {}
                    },
                    Ok(false) => {}
                    Err(w) => {
                        d.bumped = None;
                        d.unknown = Some(w);
                        d.by.push(self.cite(l));
                        return d;
                    }
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (allowed, bumped, the deciding line)
    type Outcome = (Option<bool>, Option<bool>, Option<usize>);

    /// A dst acl that covers part of the addresses: decided when every part agrees.
    #[test]
    fn partial_dst_acls_split_the_destination() {
        let wide = [(
            addr("52.96.0.0".parse().unwrap()),
            addr("52.127.255.255".parse().unwrap()),
        )];
        type Case<'a> = (&'a str, Option<bool>);
        let cases: &[Case<'_>] = &[
            // Spliced either way: decided.
            ("ssl_bump splice relays\nssl_bump splice all\n", Some(false)),
            // Bumped in one part only: unknown.
            ("ssl_bump bump relays\nssl_bump splice all\n", None),
            ("ssl_bump bump relays\nssl_bump bump all\n", Some(true)),
        ];
        for (bump, want) in cases {
            let conf = format!("acl relays dst 52.112.0.0/14\nhttp_access allow all\n{bump}");
            let sq = read("squid.conf", &conf).unwrap();
            let d = sq.decide(&Connect {
                client: None,
                name: Some("x.example"),
                addresses: &wide,
                port: 443,
            });
            assert_eq!(d.allowed, Some(true), "{bump}");
            assert_eq!(d.bumped, *want, "{bump}: {d:?}");
        }
    }

    fn decide(conf: &str, client: &str, name: &str, port: u16) -> Outcome {
        let sq = read("squid.conf", conf).unwrap();
        let relay = [(
            addr("52.112.0.1".parse().unwrap()),
            addr("52.112.0.1".parse().unwrap()),
        )];
        let d = sq.decide(&Connect {
            client: client.parse().ok(),
            name: Some(name),
            addresses: &relay,
            port,
        });
        let line = d.by.first().and_then(|b| b.split(':').nth(1)?.parse().ok());
        (d.allowed, d.bumped, line)
    }

    #[test]
    fn connect_decisions_first_match_defaults_and_bumping() {
        let lan = "acl lan src 192.168.0.0/16\nacl SSL_ports port 443\n";
        // (configuration after `lan`, client, name, port, (allowed, bumped, deciding line))
        type Case<'a> = (&'a str, &'a str, &'a str, u16, Outcome);
        let cases: &[Case] = &[
            // The first line that holds decides.
            ("http_access allow lan\nhttp_access deny all", "192.168.1.10", "teams.microsoft.com", 443, (Some(true), Some(false), Some(3))),
            ("http_access allow lan\nhttp_access deny all", "10.0.0.5", "teams.microsoft.com", 443, (Some(false), Some(false), Some(4))),
            // CONNECT only to SSL ports (CONNECT is predefined).
            ("http_access deny CONNECT !SSL_ports\nhttp_access allow lan", "192.168.1.10", "x.example", 8443, (Some(false), Some(false), Some(3))),
            // No line holds: the opposite of the last line's action.
            ("http_access deny !lan", "192.168.1.10", "teams.microsoft.com", 443, (Some(true), Some(false), None)),
            // dstdomain with a leading dot covers the domain and its subdomains.
            ("acl ms dstdomain .microsoft.com\nhttp_access allow ms\nhttp_access deny all", "192.168.1.10", "worldaz.tr.teams.microsoft.com", 443, (Some(true), Some(false), Some(4))),
            ("acl ms dstdomain microsoft.com\nhttp_access allow ms\nhttp_access deny all", "192.168.1.10", "teams.microsoft.com", 443, (Some(false), Some(false), Some(5))),
            // Peek at step 1, then bump: intercepted.
            ("http_access allow lan\nacl step1 at_step SslBump1\nssl_bump peek step1\nssl_bump bump all", "192.168.1.10", "teams.microsoft.com", 443, (Some(true), Some(true), Some(3))),
            // Splice what is Microsoft's, bump the rest.
            ("http_access allow lan\nacl ms ssl::server_name .microsoft.com\nacl step1 at_step SslBump1\nssl_bump peek step1\nssl_bump splice ms\nssl_bump bump all", "192.168.1.10", "teams.microsoft.com", 443, (Some(true), Some(false), Some(3))),
            ("http_access allow lan\nssl_bump terminate all", "192.168.1.10", "teams.microsoft.com", 443, (Some(false), Some(false), Some(3))),
            // An acl whose values are in a file: unknown, with the line named.
            ("acl blocked dstdomain \"/etc/squid/blocked\"\nhttp_access deny blocked\nhttp_access allow lan", "192.168.1.10", "teams.microsoft.com", 443, (None, Some(false), Some(4))),
        ];
        for (conf, client, name, port, want) in cases {
            let conf = format!("{lan}{conf}");
            assert_eq!(&decide(&conf, client, name, *port), want, "{conf}");
        }
    }

    #[test]
    fn bad_lines_are_named() {
        for (conf, line) in [
            ("acl x src not-an-address\n", 1),
            ("\nhttp_access maybe all\n", 2),
            ("acl y\n", 1),
        ] {
            match read("s.conf", conf) {
                Err(AuditError::Syntax { line: l, .. }) => assert_eq!(l, line, "{conf}"),
                other => panic!("{conf}: {other:?}"),
            }
        }
    }
}
