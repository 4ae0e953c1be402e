//! One PAC engine for both lenses: `check` (which runs the PAC to find its proxy) and
//! `audit` (which reads the PAC as a configuration) give the same answer, decided by the
//! same line, for the same PAC and name. `check` runs in the lab (the proxies the PAC
//! names are lab hosts); needs root, as the lab does.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{lab_dir, unavailable};

/// A PAC with a branch per kind of name: signalling direct, Teams through the proxy
/// with a fallback, everything else through the proxy.
const PAC: &str = r#"function FindProxyForURL(url, host) {
  if (shExpMatch(host, "*.lync.com"))
    return "DIRECT";
  if (dnsDomainIs(host, "teams.microsoft.com"))
    return "PROXY 10.0.0.2:3128; DIRECT";
  return "PROXY 10.0.0.2:3128";
}
"#;

#[test]
fn check_and_audit_give_the_same_answer_for_the_same_pac() {
    if let Some(why) = unavailable() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the lab cannot run under CI: {why}"
        );
        eprintln!("SKIPPED check and audit on one PAC: {why}");
        return;
    }
    let file = std::env::temp_dir().join(format!("edgepath-pac-lenses-{}.pac", std::process::id()));
    std::fs::write(&file, PAC).unwrap();
    let file_s = file.display().to_string();

    // check, inside corporate-proxy (Squid on 10.0.0.2:3128), told the PAC.
    let out = Command::new(lab_dir().join("run"))
        .args(["corporate-proxy", "--"])
        .arg(env!("CARGO_BIN_EXE_edgepath"))
        .args(["check", "--json", "--duration", "1", "--pac", &file_s])
        .output()
        .unwrap();
    let check: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check gave no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let by_check: BTreeMap<String, (String, Option<u64>)> = check["pac"]["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                (a["answer"].as_str().unwrap().to_owned(), a["line"].as_u64()),
            )
        })
        .collect();

    // audit of the same file, with the same endpoint data.
    let out = Command::new(env!("CARGO_BIN_EXE_edgepath"))
        .args(["audit", &file_s, "--json", "--endpoints"])
        .arg(lab_dir().join("catalog.json"))
        .output()
        .unwrap();
    let audit: Value = serde_json::from_slice(&out.stdout).unwrap();
    std::fs::remove_file(&file).ok();
    let mut compared = 0;
    for q in audit["pac"]["questions"].as_array().unwrap() {
        if q["target"] == "relays" {
            continue; // audit asks by address, check by name
        }
        let url = q["url"].as_str().unwrap();
        let name = url.trim_start_matches("https://").trim_end_matches('/');
        let line = q["decided_by"]
            .as_str()
            .and_then(|d| d.strip_prefix(&format!("{file_s}:")))
            .and_then(|d| d.split(':').next())
            .and_then(|l| l.parse::<u64>().ok());
        let (answer, check_line) = by_check
            .get(name)
            .unwrap_or_else(|| panic!("check did not ask the PAC about {name}: {by_check:?}"));
        assert_eq!(answer, q["answer"].as_str().unwrap(), "{name}");
        assert_eq!(*check_line, line, "{name}: the deciding line");
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} answers compared");
    // The three branches were taken.
    let lines: std::collections::BTreeSet<_> = by_check.values().filter_map(|(_, l)| *l).collect();
    assert_eq!(lines.len(), 3, "{by_check:?}");
}
