//! The proxy a PAC file gives the names `check` probes, decided the way a client
//! decides it: per name, the answer's hops in order (`PROXY a:3128; PROXY b:3128;
//! DIRECT`), the first proxy that accepts a connection, or `DIRECT`; an answer that
//! cannot be had (the PAC throws, runs too long) is `DIRECT`, as browsers and WinINet
//! fall back. Pure: the PAC is run elsewhere (the policy crate's engine, the one
//! `audit` uses) and whether a proxy accepts is asked through a function, so the
//! decision is tested table by table.
//!
//! `check` probes one proxy: the one most names are sent to. Names the PAC sends
//! `DIRECT` become that proxy's bypass list; a name sent to another proxy is said in a
//! note, not probed through it.

use serde::Serialize;

use crate::proxy::Proxy;

/// One hop of a PAC answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop {
    /// Straight to the server.
    Direct,
    /// Through an HTTP proxy.
    Proxy {
        /// As written: an address or a name.
        host: String,
        /// Its port.
        port: u16,
    },
    /// What `check` cannot go through (SOCKS), as written.
    Other(String),
}

/// The PAC's answer for one name, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacAnswer {
    /// The name asked (`sipdir.online.lync.com`).
    pub name: String,
    /// The URL asked with (`https://NAME/`).
    pub url: String,
    /// The answer as the PAC returned it (`PROXY 10.0.0.2:3128; DIRECT`).
    pub answer: String,
    /// The line of the `return` that gave it.
    pub line: Option<usize>,
    /// Why there is no answer (the PAC threw, ran too long).
    pub error: Option<String>,
    /// The hop a client takes: `DIRECT` or `PROXY host:port`.
    pub hop: String,
}

/// Where the PAC came from and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacReport {
    /// The file or URL, and who named it (`http://wpad/wpad.dat, named by --pac`).
    pub source: String,
    /// Per name asked.
    pub answers: Vec<PacAnswer>,
    /// What the decision leaves out or falls back on.
    pub notes: Vec<String>,
}

/// One name's question and what the PAC engine made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// The name.
    pub name: String,
    /// The URL asked with.
    pub url: String,
    /// The answer's text.
    pub answer: String,
    /// Its hops, in order.
    pub hops: Vec<Hop>,
    /// The deciding line.
    pub line: Option<usize>,
    /// The engine's error.
    pub error: Option<String>,
}

/// What `check` does with a PAC's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The proxy probed (with the names the PAC sends direct as its bypass list), or
    /// `None`: every name goes direct.
    pub proxy: Option<Proxy>,
    /// The report.
    pub report: PacReport,
}

/// Decides, per name, the hop a client takes, and from those the one proxy `check`
/// probes. `accepts(host, port)` says whether a proxy takes a TCP connection (asked
/// once per proxy).
pub fn decide(
    source: &str,
    asked: &[Asked],
    accepts: &mut dyn FnMut(&str, u16) -> bool,
) -> Decision {
    // Each proxy is asked once; one that refuses is said once.
    let mut verdicts: Vec<(String, u16, bool)> = Vec::new();
    let mut dead = Vec::new();
    let mut accepted = |host: &str, port: u16| -> bool {
        if let Some((_, _, ok)) = verdicts.iter().find(|(h, p, _)| h == host && *p == port) {
            return *ok;
        }
        let ok = accepts(host, port);
        if !ok {
            dead.push(format!(
                "the proxy {host}:{port} does not accept connections: clients go on to the answer's next hop"
            ));
        }
        verdicts.push((host.to_owned(), port, ok));
        ok
    };
    let mut notes = Vec::new();
    // Why names got no answer, and how many: one note per reason.
    let mut unanswered: Vec<(String, usize)> = Vec::new();
    let mut answers = Vec::new();
    // Per name: the proxy it goes through, `None` direct.
    let mut chosen: Vec<(String, Option<(String, u16)>)> = Vec::new();
    for a in asked {
        let hop = if a.error.is_some() || a.hops.is_empty() {
            let why = a.error.as_deref().unwrap_or("an empty answer").to_owned();
            match unanswered.iter_mut().find(|(w, _)| *w == why) {
                Some((_, n)) => *n += 1,
                None => unanswered.push((why, 1)),
            }
            None
        } else {
            first_hop(a, &mut accepted, &mut notes)
        };
        answers.push(PacAnswer {
            name: a.name.clone(),
            url: a.url.clone(),
            answer: a.answer.clone(),
            line: a.line,
            error: a.error.clone(),
            hop: match &hop {
                Some((h, p)) => format!("PROXY {h}:{p}"),
                None => "DIRECT".into(),
            },
        });
        chosen.push((a.name.clone(), hop));
    }
    notes.splice(0..0, dead);
    for (why, n) in unanswered {
        notes.push(format!(
            "the PAC gave no answer for {n} {} ({why}): clients go DIRECT",
            if n == 1 { "name" } else { "names" }
        ));
    }
    // The proxy most names go through; the first of equals.
    let mut counts: Vec<((String, u16), usize)> = Vec::new();
    for (_, hop) in &chosen {
        if let Some(h) = hop {
            match counts.iter_mut().find(|(k, _)| k == h) {
                Some((_, n)) => *n += 1,
                None => counts.push((h.clone(), 1)),
            }
        }
    }
    let probed = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, n))| (*n, std::cmp::Reverse(*i)))
        .map(|(_, (k, _))| k.clone());
    let proxy = probed.map(|(host, port)| {
        for (name, hop) in &chosen {
            if let Some((h, p)) = hop {
                if (h, *p) != (&host, port) {
                    notes.push(format!(
                        "{name} goes through the proxy {h}:{p}; check probes one proxy, {host}:{port}"
                    ));
                }
            }
        }
        Proxy {
            host: host.clone(),
            port,
            credentials: None,
            no_proxy: chosen
                .iter()
                .filter(|(_, hop)| hop.is_none())
                .map(|(n, _)| n.to_ascii_lowercase())
                .collect(),
            source: format!("PAC {source}"),
        }
    });
    Decision {
        proxy,
        report: PacReport {
            source: source.to_owned(),
            answers,
            notes,
        },
    }
}

/// The first hop of `a` a client can take: a proxy that accepts, or direct; when
/// nothing accepts and the answer has no DIRECT, its first proxy (the client fails
/// there, and so does the probe, saying why).
fn first_hop(
    a: &Asked,
    accepted: &mut dyn FnMut(&str, u16) -> bool,
    notes: &mut Vec<String>,
) -> Option<(String, u16)> {
    let mut first_proxy = None;
    for hop in &a.hops {
        match hop {
            Hop::Direct => return None,
            Hop::Proxy { host, port } => {
                first_proxy.get_or_insert((host.clone(), *port));
                if accepted(host, *port) {
                    return Some((host.clone(), *port));
                }
            }
            Hop::Other(what) => notes.push(format!(
                "{}: `{what}` is not a hop check can take (SOCKS): skipped",
                a.name
            )),
        }
    }
    first_proxy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(h: &str) -> Hop {
        Hop::Proxy {
            host: h.into(),
            port: 3128,
        }
    }

    fn asked(name: &str, hops: Vec<Hop>) -> Asked {
        Asked {
            name: name.into(),
            url: format!("https://{name}/"),
            answer: String::new(),
            hops,
            line: Some(3),
            error: None,
        }
    }

    /// (names and their hops, the proxies that accept) -> (proxy probed, its bypass
    /// list, each name's hop).
    #[test]
    fn the_hop_a_client_takes_and_the_proxy_check_probes() {
        type Case = (
            Vec<Asked>,
            Vec<&'static str>,
            Option<&'static str>,
            Vec<&'static str>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            // Everything to the proxy.
            (
                vec![
                    asked("sip", vec![proxy("p")]),
                    asked("relay", vec![proxy("p")]),
                ],
                vec!["p"],
                Some("p"),
                vec![],
                vec!["PROXY p:3128", "PROXY p:3128"],
            ),
            // The relay direct, as Microsoft advises: it is the proxy's bypass.
            (
                vec![
                    asked("sip", vec![proxy("p")]),
                    asked("relay", vec![Hop::Direct]),
                ],
                vec!["p"],
                Some("p"),
                vec!["relay"],
                vec!["PROXY p:3128", "DIRECT"],
            ),
            // Failover: the first proxy is dead, the second answers.
            (
                vec![asked("sip", vec![proxy("dead"), proxy("p"), Hop::Direct])],
                vec!["p"],
                Some("p"),
                vec![],
                vec!["PROXY p:3128"],
            ),
            // Every proxy dead, DIRECT last: direct.
            (
                vec![asked("sip", vec![proxy("dead"), Hop::Direct])],
                vec![],
                None,
                vec![],
                vec!["DIRECT"],
            ),
            // Every proxy dead, no DIRECT: the first proxy, where the client fails.
            (
                vec![asked("sip", vec![proxy("dead"), proxy("dead2")])],
                vec![],
                Some("dead"),
                vec![],
                vec!["PROXY dead:3128"],
            ),
            // SOCKS is skipped.
            (
                vec![asked(
                    "sip",
                    vec![Hop::Other("SOCKS s:1080".into()), Hop::Direct],
                )],
                vec![],
                None,
                vec![],
                vec!["DIRECT"],
            ),
            // No answer: direct.
            (
                vec![Asked {
                    error: Some("the PAC threw".into()),
                    ..asked("sip", vec![])
                }],
                vec!["p"],
                None,
                vec![],
                vec!["DIRECT"],
            ),
            // Two proxies: the one most names use is probed.
            (
                vec![
                    asked("a", vec![proxy("q")]),
                    asked("b", vec![proxy("p")]),
                    asked("c", vec![proxy("p")]),
                ],
                vec!["p", "q"],
                Some("p"),
                vec![],
                vec!["PROXY q:3128", "PROXY p:3128", "PROXY p:3128"],
            ),
        ];
        for (asked, up, want_proxy, want_bypass, want_hops) in cases {
            let mut calls = Vec::new();
            let d = decide("test.pac", &asked, &mut |h: &str, _| {
                calls.push(h.to_owned());
                up.contains(&h)
            });
            let names: Vec<&str> = asked.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(
                d.proxy.as_ref().map(|p| p.host.as_str()),
                want_proxy,
                "{names:?}"
            );
            assert_eq!(
                d.proxy
                    .as_ref()
                    .map(|p| p.no_proxy.clone())
                    .unwrap_or_default(),
                want_bypass,
                "{names:?}"
            );
            let hops: Vec<&str> = d.report.answers.iter().map(|a| a.hop.as_str()).collect();
            assert_eq!(hops, want_hops, "{names:?}");
            let mut unique = calls.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(
                unique.len(),
                calls.len(),
                "each proxy asked once: {calls:?}"
            );
        }
    }

    #[test]
    fn the_probed_proxy_names_the_pac_and_other_proxies_are_noted() {
        let d = decide(
            "http://wpad/wpad.dat, named by --pac",
            &[
                asked("a", vec![proxy("q")]),
                asked("b", vec![proxy("p")]),
                asked("c", vec![proxy("p")]),
            ],
            &mut |_, _| true,
        );
        let p = d.proxy.unwrap();
        assert_eq!(p.source, "PAC http://wpad/wpad.dat, named by --pac");
        assert!(
            d.report
                .notes
                .iter()
                .any(|n| n.starts_with("a goes through the proxy q:3128")),
            "{:?}",
            d.report.notes
        );
    }
}
