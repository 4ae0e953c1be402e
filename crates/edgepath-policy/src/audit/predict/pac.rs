//! The PAC's part: what it answers for each service's first name and for the relays,
//! with the line that decided it, as the ladder of ways the clients try; and which
//! proxy the rules are asked about.

use std::net::IpAddr;

use edgepath_model::rulebook::SERVICES_OVER_TCP_443;

use super::question::{Rung, LADDER};
use super::report::{PacAudit, PacQuestion};
use super::AuditOptions;
use crate::audit::pac::{Engine, Pac, PacAnswer, PacChoice};
use crate::flows::{Flow, RuleSet};

/// The PAC's answers for the services and the relays.
pub(super) struct PacAnswers {
    file: String,
    /// (target, url, answer, the line's text).
    answers: Vec<(String, String, PacAnswer, Option<String>)>,
    /// Every proxy the answers name, in the order first named.
    proxies: Vec<(String, u16)>,
}

impl PacAnswers {
    /// The ladder for `target`: the PAC's choices in order (SOCKS left out: not a way
    /// the audit models); DIRECT alone when it gave no answer (the PAC threw or ran
    /// too long), as clients fall back, and as `check` does (`None`: never asked).
    pub(super) fn ladder(&self, target: &str) -> Option<Vec<Rung>> {
        let (_, _, a, _) = self.answers.iter().find(|(t, ..)| t == target)?;
        if a.error.is_some() {
            return Some(vec![Rung::Direct]);
        }
        let mut out = Vec::new();
        for c in &a.choices {
            let rung = match c {
                PacChoice::Direct => Rung::Direct,
                PacChoice::Proxy { .. } => Rung::Proxy,
                PacChoice::Socks(_) => continue,
            };
            if !out.contains(&rung) {
                out.push(rung);
            }
        }
        Some(out)
    }

    /// The report's part.
    pub(super) fn into_audit(self) -> PacAudit {
        PacAudit {
            proxy: self.proxies.first().map(|(h, p)| format!("{h}:{p}")),
            questions: self
                .answers
                .into_iter()
                .map(|(target, url, a, text)| PacQuestion {
                    target,
                    url,
                    answer: a.text,
                    decided_by: a
                        .line
                        .map(|l| format!("{}:{l}: {}", self.file, text.unwrap_or_default())),
                    error: a.error,
                })
                .collect(),
            file: self.file,
        }
    }
}

/// Runs the PAC for every service's first name and for the first relay address, with
/// `dnsResolve` answered from the model's names.
pub(super) fn ask_pac(
    pac: &Pac,
    model: &RuleSet,
    opts: &AuditOptions,
    relay_udp: &[&Flow],
    notes: &mut Vec<String>,
) -> PacAnswers {
    // name pattern -> an address of its first flow (IPv4 first); the first host of a
    // range rather than its network address.
    let mut names: Vec<(String, IpAddr)> = Vec::new();
    for f in &model.flows {
        let first =
            f.v4.first()
                .map(|n| {
                    let a = u32::from(n.network());
                    IpAddr::from(std::net::Ipv4Addr::from(if n.prefix_len() < 31 {
                        a + 1
                    } else {
                        a
                    }))
                })
                .or_else(|| f.v6.first().map(|n| IpAddr::from(n.network())));
        if let Some(a) = first {
            for n in &f.names {
                names.push((n.to_ascii_lowercase(), a));
            }
        }
    }
    let resolve = move |host: &str| {
        names.iter().find_map(|(pattern, a)| {
            let hit = match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => host == pattern,
            };
            hit.then_some(*a)
        })
    };
    let my_ip = opts
        .client
        .map_or_else(|| "127.0.0.1".to_owned(), |c| c.to_string());
    let mut out = PacAnswers {
        file: pac.file.clone(),
        answers: Vec::new(),
        proxies: Vec::new(),
    };
    let engine = match Engine::new(pac, Box::new(resolve), my_ip) {
        Ok(e) => e,
        Err((_, e)) => {
            notes.push(format!("{}: {e}", pac.file));
            return out;
        }
    };
    let mut questions: Vec<(String, String, String)> = SERVICES_OVER_TCP_443
        .iter()
        .filter_map(|s| {
            let name = s.def().probe_names.first()?;
            Some((
                s.id().to_owned(),
                format!("https://{name}/"),
                (*name).to_owned(),
            ))
        })
        .collect();
    // The relays are reached by address (as the provisioning gives them).
    if let Some(relay) = relay_udp
        .iter()
        .find_map(|f| f.v4.first().map(|n| IpAddr::from(n.network())))
    {
        questions.push((
            "relays".into(),
            format!("https://{relay}/"),
            relay.to_string(),
        ));
    }
    for (target, url, host) in questions {
        let a = engine.find(&url, &host);
        for c in &a.choices {
            if let PacChoice::Proxy { host, port } = c {
                if !out.proxies.contains(&(host.clone(), *port)) {
                    out.proxies.push((host.clone(), *port));
                }
            }
        }
        if let Some(e) = &a.error {
            notes.push(format!(
                "{}: the PAC gave no answer for {target} ({e}): clients go DIRECT, and the audit follows them",
                pac.file
            ));
        }
        let text = a.line.and_then(|l| {
            pac.source
                .lines()
                .nth(l.saturating_sub(1))
                .map(|t| t.trim().to_owned())
        });
        out.answers.push((target, url, a, text));
    }
    out
}

/// The proxy the rules are asked about: the PAC's, when it names one by address; a
/// name is taken to be the proxy given by --proxy or the squid.conf. Where the PAC
/// names several (a failover list), the one audit was given is asked about: clients
/// reach it when the ones before it do not answer.
pub(super) fn proxy_asked(
    pac: Option<&PacAnswers>,
    opts: &AuditOptions,
    notes: &mut Vec<String>,
) -> Option<(IpAddr, u16)> {
    let configured_proxy = opts.proxy.or_else(|| {
        opts.squid.as_ref().and_then(|s| {
            s.ports
                .iter()
                .find_map(|(ip, port, _)| ip.map(|ip| (ip, *port)))
        })
    });
    let pac_proxy = pac.and_then(|p| {
        let given = configured_proxy.and_then(|(ip, port)| {
            p.proxies
                .iter()
                .find(|(h, pp)| *pp == port && h.parse::<IpAddr>().ok() == Some(ip))
        });
        if let (Some((h, pp)), Some((first_h, first_p))) = (given, p.proxies.first()) {
            if (h, pp) != (first_h, first_p) {
                notes.push(format!(
                    "the PAC names {first_h}:{first_p} before {h}:{pp}, the proxy audit was given: clients reach {h}:{pp} when the proxies before it do not answer, and that is the one asked about"
                ));
            }
        }
        given.or(p.proxies.first()).cloned()
    });
    match pac_proxy {
        Some((host, port)) => match host.parse::<IpAddr>() {
            Ok(ip) => Some((ip, port)),
            Err(_) => {
                if configured_proxy.is_none() {
                    notes.push(format!(
                        "the PAC's proxy {host}:{port} is a name: give --proxy ADDR:PORT to ask the rules about it"
                    ));
                }
                configured_proxy
            }
        },
        None => configured_proxy,
    }
}

/// The ways the clients try for `target`, in order: the PAC's, or without one direct
/// first, then the proxy (as `check` tries them). `None`: unknown.
pub(super) fn ladder_for(pac: Option<&PacAnswers>, target: &str) -> Option<Vec<Rung>> {
    match pac {
        Some(p) => p.ladder(target),
        None => Some(LADDER.to_vec()),
    }
}
