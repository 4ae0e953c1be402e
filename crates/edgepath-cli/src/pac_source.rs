//! `check`'s proxy from a PAC file: fetched (a file, or a URL fetched directly, as
//! clients fetch their PAC), run by the one PAC engine the project has (the policy
//! crate's, which `audit` uses) for every name `check` probes, with `dnsResolve` and
//! `myIpAddress` answered from this host, and decided by [`edgepath_probe::pac`].
//!
//! Bounded everywhere: the fetch (5 s, 1 MiB), each PAC call (the engine's limits),
//! each name lookup the PAC asks for (2 s), each proxy's connection test (2.5 s).

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use edgepath_model::{Catalog, Category};
use edgepath_policy::audit::pac::{self as engine, PacChoice};
use edgepath_probe::check::probe_names;
use edgepath_probe::pac::{decide, Asked, Decision, Hop};

/// The largest PAC file read.
const MAX_PAC: u64 = 1 << 20;
/// How long a name lookup asked for by the PAC may take.
const RESOLVE_LIMIT: Duration = Duration::from_secs(2);
/// How long a proxy may take to accept a connection.
const CONNECT_LIMIT: Duration = Duration::from_millis(2500);

/// Where a PAC comes from: a file or a URL, and who named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacSource {
    /// The path or URL.
    pub location: String,
    /// `--pac`, `EDGEPATH_PAC`, Internet Settings' AutoConfigURL.
    pub named_by: String,
}

impl PacSource {
    /// `http://wpad/wpad.dat, named by --pac`.
    pub fn label(&self) -> String {
        format!("{}, named by {}", self.location, self.named_by)
    }
}

/// Fetches the PAC's text.
pub fn fetch(source: &PacSource) -> Result<String> {
    let loc = source.location.as_str();
    if loc.starts_with("http://") || loc.starts_with("https://") {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            // A client fetches its PAC directly, never through a proxy.
            .proxy(None)
            .user_agent(concat!("edgepath/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut resp = agent
            .get(loc)
            .call()
            .map_err(|e| anyhow!("the PAC {}: {e}", source.label()))?;
        resp.body_mut()
            .with_config()
            .limit(MAX_PAC)
            .read_to_string()
            .map_err(|e| anyhow!("the PAC {}: could not read it: {e}", source.label()))
    } else {
        let path = loc.strip_prefix("file://").unwrap_or(loc);
        let bytes = std::fs::read(path).map_err(|e| anyhow!("the PAC {path}: {e}"))?;
        if bytes.len() as u64 > MAX_PAC {
            bail!(
                "the PAC {path}: {} bytes, more than a PAC file has (1 MiB)",
                bytes.len()
            );
        }
        String::from_utf8(bytes).map_err(|e| {
            anyhow!(
                "the PAC {path}: not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            )
        })
    }
}

/// WPAD: the first of `candidates` (PAC URLs in the order a client tries them, each
/// with where it came from) whose name resolves and whose PAC can be fetched, with its
/// text; else what each attempt met.
pub fn discover(
    candidates: &[(String, String)],
) -> std::result::Result<(PacSource, String), Vec<String>> {
    let mut tried = Vec::new();
    for (url, named_by) in candidates {
        let host = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        if resolve(host).is_none() {
            tried.push(format!("{host}: no address"));
            continue;
        }
        let source = PacSource {
            location: url.clone(),
            named_by: named_by.clone(),
        };
        match fetch(&source) {
            Ok(text) => return Ok((source, text)),
            Err(e) => tried.push(e.to_string()),
        }
    }
    Err(tried)
}

/// Runs the PAC for every name `check` probes and decides the proxy. A PAC that does
/// not run at all is an error (the caller says what clients do then).
pub fn evaluate(source: &PacSource, text: &str, catalog: &Catalog) -> Result<Decision> {
    let pac = engine::read(&source.location, text).map_err(|e| anyhow!("{e}"))?;
    let names = probe_names(catalog);
    let mut asked_names: Vec<String> = names.services.iter().map(|(_, n)| n.clone()).collect();
    asked_names.extend(names.relay.iter().cloned());
    asked_names.dedup();
    let my_ip = names
        .relay
        .iter()
        .find_map(|n| resolve(n))
        .and_then(source_towards)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let engine = engine::Engine::new(&pac, Box::new(|n: &str| resolve(n)), my_ip.to_string())
        .map_err(|(line, e)| match line {
            Some(l) => anyhow!("the PAC {}: line {l}: {e}", source.label()),
            None => anyhow!("the PAC {}: {e}", source.label()),
        })?;
    let asked: Vec<Asked> = asked_names
        .iter()
        .map(|name| {
            let url = format!("https://{name}/");
            let a = engine.find(&url, name);
            Asked {
                name: name.clone(),
                url,
                answer: a.text,
                hops: a.choices.into_iter().map(hop).collect(),
                line: a.line,
                error: a.error,
            }
        })
        .collect();
    let mut decision = decide(&source.label(), &asked, &mut accepts);
    // Microsoft's advice: Optimize traffic (Teams media, the relay names) bypasses
    // proxies; a PAC that sends it to one is said, with the line.
    let optimize: Vec<&str> = names
        .services
        .iter()
        .filter(|(id, _)| catalog.service(*id).category == Some(Category::Optimize))
        .map(|(_, n)| n.as_str())
        .chain(names.relay.iter().map(String::as_str))
        .collect();
    for a in &decision.report.answers {
        if a.hop.starts_with("PROXY") && optimize.contains(&a.name.as_str()) {
            decision.report.notes.push(format!(
                "{} is in Microsoft's Optimize category and the PAC sends it to {}{}: Microsoft advises Optimize endpoints DIRECT, bypassing proxies (`edgepath rules --target pac`)",
                a.name,
                a.hop.trim_start_matches("PROXY "),
                a.line.map(|l| format!(" (line {l})")).unwrap_or_default()
            ));
        }
    }
    Ok(decision)
}

fn hop(c: PacChoice) -> Hop {
    match c {
        PacChoice::Direct => Hop::Direct,
        PacChoice::Proxy { host, port } => Hop::Proxy { host, port },
        PacChoice::Socks(s) => Hop::Other(s),
    }
}

/// The first address of `name` from the system resolver, or `None` after
/// [`RESOLVE_LIMIT`] (the lookup thread is left to finish on its own).
fn resolve(name: &str) -> Option<IpAddr> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Some(ip);
    }
    let (tx, rx) = mpsc::channel();
    let query = format!("{name}:443");
    std::thread::spawn(move || {
        let first = query
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .map(|a| a.ip());
        let _ = tx.send(first);
    });
    rx.recv_timeout(RESOLVE_LIMIT).ok().flatten()
}

/// The address this host sends from towards `ip` (what `myIpAddress()` answers): a
/// connected UDP socket's local address; nothing is sent.
fn source_towards(ip: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if ip.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(bind).ok()?;
    s.connect((ip, 3478)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// Whether the proxy takes a TCP connection within [`CONNECT_LIMIT`].
fn accepts(host: &str, port: u16) -> bool {
    resolve(host)
        .is_some_and(|ip| TcpStream::connect_timeout(&(ip, port).into(), CONNECT_LIMIT).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgepath_model::{EndpointData, Profile};
    use std::path::Path;

    fn file(name: &str, bytes: &[u8]) -> PacSource {
        let dir = std::env::temp_dir().join(format!("edgepath-pac-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        PacSource {
            location: path.display().to_string(),
            named_by: "--pac".into(),
        }
    }

    fn lab_catalog() -> Catalog {
        let json = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/catalog.json"),
        )
        .expect("lab catalog");
        Catalog::build(
            EndpointData::parse(&json).expect("parses"),
            Profile::Current,
        )
        .expect("builds")
    }

    #[test]
    fn a_pac_that_cannot_be_read_is_said_with_its_place() {
        let missing = PacSource {
            location: "/nonexistent/edgepath.pac".into(),
            named_by: "--pac".into(),
        };
        let e = fetch(&missing).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/edgepath.pac"), "{e}");
        let big = file("big.pac", &vec![b' '; (MAX_PAC + 1) as usize]);
        let e = fetch(&big).unwrap_err().to_string();
        assert!(e.contains("more than a PAC file has"), "{e}");
        let binary = file(
            "bin.pac",
            b"function FindProxyForURL(u, h) { return \"\xff\"; }",
        );
        let e = fetch(&binary).unwrap_err().to_string();
        assert!(e.contains("not UTF-8 text (byte 41)"), "{e}");
        // A URL nothing answers at: the error names it.
        let url = PacSource {
            location: "http://127.0.0.1:1/wpad.dat".into(),
            named_by: "--pac".into(),
        };
        let e = fetch(&url).unwrap_err().to_string();
        assert!(e.contains("http://127.0.0.1:1/wpad.dat"), "{e}");
    }

    #[test]
    fn every_name_probed_is_asked_and_a_dead_proxy_falls_over_to_direct() {
        let src = file(
            "failover.pac",
            b"function FindProxyForURL(url, host) {\n  if (host == \"teams.microsoft.com\")\n    return \"DIRECT\";\n  return \"PROXY 127.0.0.1:1; DIRECT\";\n}\n",
        );
        let text = fetch(&src).expect("reads");
        let d = evaluate(&src, &text, &lab_catalog()).expect("runs");
        assert!(d.proxy.is_none(), "{:?}", d.proxy);
        let names: Vec<&str> = d.report.answers.iter().map(|a| a.name.as_str()).collect();
        assert!(names.contains(&"teams.microsoft.com"), "{names:?}");
        assert!(
            names.iter().any(|n| n.contains(".tr.teams.microsoft.com")),
            "the relay names are asked: {names:?}"
        );
        for a in &d.report.answers {
            assert_eq!(a.hop, "DIRECT", "{a:?}");
            let want = if a.name == "teams.microsoft.com" {
                3
            } else {
                4
            };
            assert_eq!(a.line, Some(want), "{a:?}");
        }
        assert_eq!(
            d.report.notes,
            vec!["the proxy 127.0.0.1:1 does not accept connections: clients go on to the answer's next hop"]
        );
    }

    #[test]
    fn a_pac_that_does_not_run_is_an_error_with_its_line() {
        let src = file(
            "broken.pac",
            b"function FindProxyForURL(url, host) {\n  return (;\n}\n",
        );
        let text = fetch(&src).expect("reads");
        let e = match evaluate(&src, &text, &lab_catalog()) {
            Err(e) => e.to_string(),
            Ok(d) => panic!("a broken PAC ran: {:?}", d.report),
        };
        assert!(e.contains("broken.pac"), "{e}");
    }
}
