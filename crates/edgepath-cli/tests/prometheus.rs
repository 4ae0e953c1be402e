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
use std::process::{Command, Stdio};
use std::time::Duration;

use common::prom::{
    alert_rules_firing_at_once, bridge_to_lab_exporter, free_port, get, query, skipped,
    start_lab_exporter, wait_for, Started,
};
use common::{metric_names, repo};
use serde_json::Value;

fn site_value(rows: &[(Value, f64)], site: &str, modality: &str) -> Option<f64> {
    rows.iter()
        .find(|(m, _)| m["site"] == site && m["modality"] == modality)
        .map(|(_, v)| *v)
}

#[test]
fn prometheus_scrapes_two_lab_sites_and_the_fallback_alert_fires() {
    if skipped("Prometheus lab test") {
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
    let serve_args = format!("--config {}", config.display());
    for (site, _) in &sites {
        start_lab_exporter(&mut started, &dir, site, &serve_args);
    }
    for (site, port) in &sites {
        bridge_to_lab_exporter(&mut started, &dir, site, *port);
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
    let rules = alert_rules_firing_at_once();
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
