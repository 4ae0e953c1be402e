//! Running a real Prometheus against exporters in the lab: the processes started (ended
//! by their PID on drop, also when an assertion fails), free ports, waiting, and the
//! HTTP API's instant queries.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Processes started here, ended (by their PID) and waited for on drop, also when an
/// assertion fails.
pub struct Started(pub Vec<(String, Child)>);

impl Drop for Started {
    fn drop(&mut self) {
        // Last started first: Prometheus and the bridges, then the labs (whose exporter
        // is ended by its PID so that lab/run tears the lab down itself).
        while let Some((what, mut child)) = self.0.pop() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    _ if Instant::now() > deadline => {
                        eprintln!("{what} did not end in 60 s; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn get(url: &str) -> Option<Value> {
    let mut resp = ureq::get(url).call().ok()?;
    let text = resp.body_mut().read_to_string().ok()?;
    serde_json::from_str(&text).ok()
}

/// Prometheus' answer to an instant query: (labels, value) per series.
pub fn query(base: &str, q: &str) -> Vec<(Value, f64)> {
    let url = format!(
        "{base}/api/v1/query?query={}",
        q.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            })
            .collect::<String>()
    );
    let Some(doc) = get(&url) else {
        return Vec::new();
    };
    doc["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let v = r["value"][1]
                .as_str()
                .unwrap_or("nan")
                .parse()
                .unwrap_or(f64::NAN);
            (r["metric"].clone(), v)
        })
        .collect()
}

/// Starts lab scenario `site` with `edgepath serve --listen 127.0.0.1:9788 ARGS` in its
/// client namespace (stderr to `dir/serve-SITE.log`); `exec` makes the shell's PID the
/// exporter's, so ending that PID ends the command and lab/run tears its lab down.
pub fn start_lab_exporter(started: &mut Started, dir: &Path, site: &str, args: &str) {
    let script = format!(
        "ip netns identify > {d}/ns-{site}.tmp && mv {d}/ns-{site}.tmp {d}/ns-{site} && echo $$ > {d}/pid-{site} && exec {BIN} serve --listen 127.0.0.1:9788 {args} 2> {d}/serve-{site}.log",
        d = dir.display(),
        BIN = env!("CARGO_BIN_EXE_edgepath"),
    );
    let child = Command::new(super::lab_dir().join("run"))
        .args([
            "--edgepath",
            env!("CARGO_BIN_EXE_edgepath"),
            site,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join(format!("lab-{site}.log"))).unwrap(),
        ))
        .spawn()
        .unwrap();
    started.0.push((format!("lab/run {site}"), child));
}

/// Once lab `site` is up, a socat bridge from 127.0.0.1:`port` here to its exporter
/// (the namespaces have no route to this one): each connection becomes one inside the
/// namespace (through a script: socat's address syntax would read the inner address's
/// colons). TLS passes through untouched.
pub fn bridge_to_lab_exporter(started: &mut Started, dir: &Path, site: &str, port: u16) {
    let ns_file = dir.join(format!("ns-{site}"));
    wait_for(&format!("the {site} lab"), Duration::from_secs(120), || {
        ns_file.exists()
    });
    let ns = std::fs::read_to_string(&ns_file).unwrap().trim().to_owned();
    assert!(!ns.is_empty(), "{site}: no namespace name");
    let hop = dir.join(format!("hop-{site}.sh"));
    std::fs::write(
        &hop,
        format!("#!/bin/sh\nexec ip netns exec {ns} socat STDIO TCP:127.0.0.1:9788\n"),
    )
    .unwrap();
    let chmod = Command::new("chmod").arg("+x").arg(&hop).status().unwrap();
    assert!(chmod.success());
    let bridge = Command::new("socat")
        .args([
            format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
            format!("EXEC:{}", hop.display()),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    started.0.push((format!("socat bridge to {site}"), bridge));
}

/// contrib's alert rules with every `for:` set to 0 s, so they fire within a test.
pub fn alert_rules_firing_at_once() -> String {
    std::fs::read_to_string(super::repo().join("contrib/prometheus/edgepath-alerts.yml"))
        .unwrap()
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for:") {
            Some(_) => format!("{}for: 0s\n", &l[..l.len() - l.trim_start().len()]),
            None => format!("{l}\n"),
        })
        .collect()
}

/// Whether this test must be skipped: no root, no lab packages or no prometheus. Said
/// loudly; under CI a failure instead (CI installs all of it).
pub fn skipped(test: &str) -> bool {
    let Some(why) = super::unavailable().or_else(|| {
        Command::new("prometheus")
            .arg("--version")
            .output()
            .is_err()
            .then(|| "no prometheus (Debian package prometheus)".to_owned())
    }) else {
        return false;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "the {test} cannot run under CI: {why}"
    );
    eprintln!("SKIPPED the {test}: {why}");
    true
}
