//! contrib/: the Prometheus alert rules pass `promtool check rules` and their unit
//! tests (`promtool test rules`), and the Grafana dashboard is well formed: unique panel
//! ids, panels inside the 24-column grid and not overlapping, every query naming only
//! edgepath metrics the alert rules or the exporter's page (docs/serve.md) lists, a datasource and a
//! site variable. That the metrics exist in a real scrape is the Prometheus lab test's
//! part (tests/prometheus.rs).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{metric_names, repo};
use serde_json::Value;

fn promtool() -> bool {
    let ok = Command::new("promtool").arg("--version").output().is_ok();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing under CI (.ci/run installs the Debian package prometheus)"
        );
        eprintln!("SKIPPED: no promtool (Debian package prometheus)");
    }
    ok
}

#[test]
fn alert_rules_pass_promtool_check_and_their_tests() {
    if !promtool() {
        return;
    }
    let dir = repo().join("contrib/prometheus");
    for args in [
        vec!["check", "rules", "edgepath-alerts.yml"],
        vec!["test", "rules", "edgepath-alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_grafana_dashboard_is_well_formed() {
    let path = repo().join("contrib/grafana/edgepath-dashboard.json");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    // The metrics `serve`'s page documents.
    let readme = std::fs::read_to_string(repo().join("docs/serve.md")).unwrap();
    let documented = metric_names(&readme);
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(u64, u64, u64, u64, String)> = Vec::new();
    for p in panels {
        let title = p["title"].as_str().unwrap().to_owned();
        assert!(ids.insert(p["id"].as_u64().unwrap()), "{title}: id twice");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: outside the grid");
        for (bx, by, bw, bh, other) in &boxes {
            let apart = x + w <= *bx || *bx + bw <= x || y + h <= *by || *by + bh <= y;
            assert!(apart, "{title} overlaps {other}");
        }
        boxes.push((x, y, w, h, title.clone()));
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            assert!(
                expr.contains("instance=~\"$instance\""),
                "{title}: not per site"
            );
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: {expr}");
            for n in names {
                assert!(
                    documented.contains(&n),
                    "{title}: {n} is not in docs/serve.md's metric list"
                );
            }
        }
    }
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "instance"]);
    // The alert rules name documented metrics too.
    let rules =
        std::fs::read_to_string(repo().join("contrib/prometheus/edgepath-alerts.yml")).unwrap();
    for n in metric_names(&rules) {
        assert!(
            documented.contains(&n),
            "alert rules: {n} is not in docs/serve.md's metric list"
        );
    }
}
