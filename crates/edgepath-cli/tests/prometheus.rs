//! `edgepath serve` scraped by a real Prometheus: two exporters in two lab sites
//! (home-nat: UDP to the relays; hotel: UDP blocked, TCP 443), each in its lab's client
//! namespace, reached from here through a socat bridge (the namespaces have no route to
//! this one); the Debian package's Prometheus, on a private port with its own data
//! directory, scrapes both through `/probe` and evaluates contrib's alert rules (with
//! their `for:` durations set to 0 s, so they fire within the test); its HTTP API must
//! say relay-udp for the first site, relay-tcp for the second, and the fallback alert
//! must fire for the second only. Every scrape of the first site carries a quality
//! measurement, and every metric the dashboard and the alert rules name must be in
//! what Prometheus scraped. Needs root and the lab's packages, plus
//! prometheus; skipped (loudly) elsewhere, and a failure under CI.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{lab_dir, metric_names, repo, unavailable};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_edgepath");

/// Processes started here, ended (by their PID) and waited for on drop, also when an
/// assertion fails.
struct Started(Vec<(String, Child)>);

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn get(url: &str) -> Option<Value> {
    let mut resp = ureq::get(url).call().ok()?;
    let text = resp.body_mut().read_to_string().ok()?;
    serde_json::from_str(&text).ok()
}

/// Prometheus' answer to an instant query: (labels, value) per series.
fn query(base: &str, q: &str) -> Vec<(Value, f64)> {
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

fn site_value(rows: &[(Value, f64)], site: &str, modality: &str) -> Option<f64> {
    rows.iter()
        .find(|(m, _)| m["site"] == site && m["modality"] == modality)
        .map(|(_, v)| *v)
}

#[test]
fn prometheus_scrapes_two_lab_sites_and_the_fallback_alert_fires() {
    if let Some(why) = unavailable().or_else(|| {
        Command::new("prometheus")
            .arg("--version")
            .output()
            .is_err()
            .then(|| "no prometheus (Debian package prometheus)".to_owned())
    }) {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Prometheus lab test cannot run under CI: {why}"
        );
        eprintln!("SKIPPED the Prometheus lab test: {why}");
        return;
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("edgepath-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut started = Started(Vec::new());
    // The exporter's module: a short measurement; the lab catalog given a version so the
    // endpoint data's age is a metric too.
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        "[modules.default]\nduration = 2\nendpoints_version = \"2026110100\"\n",
    )
    .unwrap();
    let sites = [("home-nat", free_port()), ("hotel", free_port())];
    for (site, _) in &sites {
        // `exec` makes the shell's PID the exporter's: ending that PID ends the command
        // and lab/run tears its lab down.
        let script = format!(
            "ip netns identify > {d}/ns-{site}.tmp && mv {d}/ns-{site}.tmp {d}/ns-{site} && echo $$ > {d}/pid-{site} && exec {BIN} serve --listen 127.0.0.1:9788 --config {c} 2> {d}/serve-{site}.log",
            d = dir.display(),
            c = config.display()
        );
        let child = Command::new(lab_dir().join("run"))
            .args(["--edgepath", BIN, site, "--", "sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join(format!("lab-{site}.log"))).unwrap(),
            ))
            .spawn()
            .unwrap();
        started.0.push((format!("lab/run {site}"), child));
    }
    for (site, port) in &sites {
        let ns_file = dir.join(format!("ns-{site}"));
        wait_for(&format!("the {site} lab"), Duration::from_secs(120), || {
            ns_file.exists()
        });
        let ns = std::fs::read_to_string(&ns_file).unwrap().trim().to_owned();
        assert!(!ns.is_empty(), "{site}: no namespace name");
        // Each connection here becomes one to the exporter inside the namespace (a
        // script: socat's address syntax would read the inner address's colons).
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
        wait_for(
            &format!("the {site} exporter"),
            Duration::from_secs(30),
            || {
                ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
                    .call()
                    .is_ok()
            },
        );
    }
    // contrib's rules, every `for:` set to 0 s.
    let rules: String =
        std::fs::read_to_string(repo().join("contrib/prometheus/edgepath-alerts.yml"))
            .unwrap()
            .lines()
            .map(|l| match l.trim_start().strip_prefix("for:") {
                Some(_) => format!("{}for: 0s\n", &l[..l.len() - l.trim_start().len()]),
                None => format!("{l}\n"),
            })
            .collect();
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let targets: String = sites
        .iter()
        .map(|(site, port)| {
            format!("      - targets: [\"127.0.0.1:{port}\"]\n        labels: {{site: {site}}}\n")
        })
        .collect();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 10s\n  scrape_timeout: 9s\n  evaluation_interval: 2s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: edgepath\n    metrics_path: /probe\n    params: {{module: [default]}}\n    static_configs:\n{targets}  - job_name: edgepath-exporter\n    static_configs:\n{targets}"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let prom = Command::new("prometheus")
        .args([
            &format!("--config.file={}", dir.join("prometheus.yml").display()),
            &format!("--storage.tsdb.path={}", dir.join("data").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
            "--log.level=warn",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("prometheus.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    started.0.push(("prometheus".into(), prom));
    let base = format!("http://127.0.0.1:{prom_port}");
    // Both sites scraped (a probe takes a few seconds).
    wait_for("both sites in Prometheus", Duration::from_secs(120), || {
        let rows = query(&base, "edgepath_modality_path == 1");
        ["home-nat", "hotel"]
            .iter()
            .all(|s| rows.iter().any(|(m, _)| m["site"] == *s))
    });
    let udp = query(&base, "edgepath_modality_path{path=\"relay-udp\"}");
    let tcp = query(&base, "edgepath_modality_path{path=\"relay-tcp\"}");
    assert_eq!(site_value(&udp, "home-nat", "audio"), Some(1.0), "{udp:?}");
    assert_eq!(site_value(&tcp, "home-nat", "audio"), Some(0.0), "{tcp:?}");
    assert_eq!(site_value(&udp, "hotel", "audio"), Some(0.0), "{udp:?}");
    assert_eq!(site_value(&tcp, "hotel", "audio"), Some(1.0), "{tcp:?}");
    // The fallback alert, for the hotel only.
    let mut firing: Vec<Value> = Vec::new();
    wait_for("the fallback alert", Duration::from_secs(60), || {
        firing = get(&format!("{base}/api/v1/alerts"))
            .and_then(|d| d["data"]["alerts"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == "TeamsMediaOverTcp" && a["state"] == "firing")
            .collect();
        !firing.is_empty()
    });
    let sites_alerted: BTreeSet<String> = firing
        .iter()
        .map(|a| a["labels"]["site"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        sites_alerted,
        BTreeSet::from(["hotel".to_owned()]),
        "{firing:?}"
    );
    // Every scrape of the first site measured media quality: a second check right
    // after the first (the exporter's case) must not be refused by the relay (a
    // released allocation's 5-tuple is not reused).
    let count = |q: &str| query(&base, q).first().map(|(_, v)| *v).unwrap_or(0.0);
    wait_for("three scrapes of home-nat", Duration::from_secs(90), || {
        count("count_over_time(edgepath_probe_success{site=\"home-nat\"}[5m])") >= 3.0
    });
    let probes = count("count_over_time(edgepath_probe_success{site=\"home-nat\"}[5m])");
    let measured = count(
        "count_over_time(edgepath_quality_loss_ratio{site=\"home-nat\",modality=\"audio\"}[5m])",
    );
    assert_eq!(measured, probes, "scrapes with a quality measurement");
    // And back to back, as `serve` is scraped by two Prometheus servers.
    for i in 0..3 {
        let body = ureq::get(&format!("http://127.0.0.1:{}/probe", sites[0].1))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert!(
            body.contains("edgepath_quality_loss_ratio{"),
            "probe {i} back to back has no quality measurement:\n{body}"
        );
    }
    // Every metric the dashboard and the rules name was scraped.
    let names: BTreeSet<String> = get(&format!("{base}/api/v1/label/__name__/values"))
        .and_then(|d| d["data"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let wanted = [
        repo().join("contrib/grafana/edgepath-dashboard.json"),
        repo().join("contrib/prometheus/edgepath-alerts.yml"),
    ]
    .iter()
    .flat_map(|p| metric_names(&std::fs::read_to_string(p).unwrap()))
    .collect::<BTreeSet<_>>();
    let missing: Vec<&String> = wanted.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "not in any scrape: {missing:?} (scraped: {names:?})"
    );
    // The exporters ran their probes without a failure worth a log line.
    drop(started);
    for (site, _) in &sites {
        let log =
            std::fs::read_to_string(dir.join(format!("serve-{site}.log"))).unwrap_or_default();
        assert!(log.contains("probe took"), "{site}: {log}");
        assert!(!log.contains("the probe failed"), "{site}: {log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!Path::new(&dir).exists());
}
