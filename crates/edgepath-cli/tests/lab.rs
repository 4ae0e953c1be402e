//! The scenario lab, validated with independent tools (coturn's turnutils, curl,
//! openssl, socat) as part of the test command: every scenario must build, hold its
//! expectations and tear down clean. Needs root and the lab's Debian packages; where
//! those are missing it says so loudly, and under CI it fails instead.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

mod common;
use common::{lab_dir, unavailable};

/// The file where every lab this test process builds writes its name prefix
/// (`EDGEPATH_LAB_PREFIXES`, read by lab/edgelab/net.py), so that the leak check looks
/// at this run's namespaces only and a lab running beside it is not taken for a leak.
fn prefix_ledger() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("edgepath-lab-prefixes-{}", std::process::id()))
}

/// `lab/run ARGS... --edgepath BIN`: its output, stdout printed for the test's log.
fn lab_run(args: &[&str]) -> std::process::Output {
    let out = Command::new(lab_dir().join("run"))
        .args(args)
        .env("EDGEPATH_LAB_PREFIXES", prefix_ledger())
        .args(["--edgepath", env!("CARGO_BIN_EXE_edgepath")])
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    out
}

/// What a failed `lab/run` said at its end: the failed reports it repeats after
/// "failed:" and its count (the whole output is printed above, but a long log is often
/// cut in the middle, and a panic message is read at the end), or its last lines.
fn failures(stdout: &str) -> String {
    match stdout.rfind("\nfailed:\n") {
        Some(at) => stdout[at + 1..].to_owned(),
        None => {
            let lines: Vec<&str> = stdout.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        }
    }
}

#[test]
fn every_scenario_validates_and_edgepath_check_agrees() {
    if let Some(why) = unavailable() {
        if std::env::var_os("CI").is_some() {
            panic!("the lab cannot run under CI: {why}");
        }
        eprintln!("SKIPPED the scenario lab: {why}");
        return;
    }
    // A ledger left by an earlier process of the same id is not this run's.
    let _ = std::fs::remove_file(prefix_ledger());
    // Scenarios whose router loads `edgepath rules` output need the binary too.
    // Two labs at a time: they share nothing but the two cores.
    let out = lab_run(&["--validate-all", "--jobs", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "a scenario's expectations did not hold:\n{}",
        failures(&stdout)
    );
    let listed = Command::new(lab_dir().join("run"))
        .arg("--list")
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let count = names.len();
    assert!(
        count >= 13,
        "expected the eleven scenarios of the lab issue and the two of generated rules, found {count}"
    );
    assert!(
        stdout.contains(&format!("{count} passed, 0 failed")),
        "{}",
        failures(&stdout)
    );
    // Nothing of this run's labs is left behind (another lab beside it is not ours).
    let ours = std::fs::read_to_string(prefix_ledger()).unwrap_or_default();
    let ours: Vec<&str> = ours.lines().collect();
    assert!(
        ours.len() >= count,
        "lab/run recorded {} lab prefixes for {count} scenarios",
        ours.len()
    );
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left: Vec<_> = String::from_utf8_lossy(&ns.stdout)
        .lines()
        .filter(|l| ours.iter().any(|p| l.starts_with(&format!("{p}-"))))
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");

    // Then edgepath's own verdicts, scenario by scenario: two labs at a time, and the
    // scenarios with impaired quality after them, alone (lab/run sees to it), so that
    // their loss and round-trip figures are not disturbed by a second lab.
    let mut check = vec!["--check", "--jobs", "2"];
    check.extend(names.iter().map(String::as_str));
    let out = lab_run(&check);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "edgepath check disagrees with a scenario:\n{}\n{}",
        failures(&stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{} passed, 0 failed", names.len())),
        "{}",
        failures(&stdout)
    );

    // The policy lens on the same labs: `edgepath audit` of each router's exported
    // ruleset (and proxy's squid.conf; the VPN client's file and the company's ruleset)
    // agrees with the expectations and with check, in every scenario.
    let out = lab_run(&["--audit-all", "--jobs", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("{} passed, 0 failed", names.len())),
        "edgepath audit disagrees with a scenario or with check:\n{}\n{}",
        failures(&stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The capture lens on the lab's own traffic: what `edgepath check` did, captured
    // with dumpcap in the client namespace, read back by `edgepath capture`.
    let proxy = capture_during_check("corporate-proxy");
    let flows = proxy["flows"].as_array().unwrap();
    let tunnel = flows
        .iter()
        .find(|f| f["path"] == "relay-tcp-proxy")
        .unwrap_or_else(|| panic!("no media through the proxy in {flows:?}"));
    assert_eq!(tunnel["service"], "av-edge");
    assert_eq!(tunnel["proxy"]["target"], "203.0.113.10:443");
    assert_eq!(tunnel["proxy"]["status"], 200);
    let sip = flows
        .iter()
        .find(|f| f["service"] == "sip" && f["tls"]["sni"] == "sipdir.online.lync.com")
        .expect("the SIP front door through the proxy");
    assert_eq!(sip["server"], "10.0.0.2:3128");
    assert_eq!(sip["tls"]["sni"], "sipdir.online.lync.com");
    // The lab's TLS server speaks TLS 1.3: the certificate is encrypted, so a capture
    // cannot name the issuer (and must not guess one).
    assert_eq!(sip["tls"]["version"], "1.3");
    assert_eq!(sip["tls"]["issuer"], Value::Null);
    let kinds: Vec<&str> = proxy["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"media-through-proxy"), "{kinds:?}");
    assert!(
        kinds.contains(&"relay-no-answer"),
        "UDP to the relay is blocked: {kinds:?}"
    );

    let open = capture_during_check("home-nat");
    let flows = open["flows"].as_array().unwrap();
    let udp: Vec<&Value> = flows.iter().filter(|f| f["path"] == "relay-udp").collect();
    assert!(
        udp.len() >= 16,
        "one flow per modality and port: {}",
        udp.len()
    );
    assert!(
        udp.iter().all(|f| f["packets"][1].as_u64().unwrap() > 0),
        "every UDP relay flow answered"
    );
    assert!(udp
        .iter()
        .any(|f| f["modality"] == "audio" && f["server"] == "203.0.113.10:3478"));
    assert!(!open["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "relay-no-answer" || f["kind"] == "media-through-proxy"));

    a_long_check_stops_on_ctrl_c_and_still_reports();
    qos_marks_show_on_the_wan_side_only();
}

/// `generated-rules` loads `edgepath rules --target nftables`, which marks DSCP by media
/// source range in postrouting: a capture on the router's WAN link shows the marks, one
/// on the client's side does not, and the capture lens says so for each.
fn qos_marks_show_on_the_wan_side_only() {
    let dir = std::env::temp_dir().join(format!("edgepath-lab-qos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (lan, wan) = (dir.join("lan.pcapng"), dir.join("wan.pcapng"));
    let script = format!(
        "dumpcap -q -i any -f udp -w {lan} 2>/dev/null & L=$!; \
         ip netns exec $EDGEPATH_LAB_ROUTER_NS dumpcap -q -i $EDGEPATH_LAB_ROUTER_WAN -f udp -w {wan} 2>/dev/null & W=$!; \
         sleep 1.5; {bin} check --duration 2 >/dev/null; sleep 0.5; kill $L $W; wait $L $W; chmod 644 {lan} {wan}",
        bin = env!("CARGO_BIN_EXE_edgepath"),
        lan = lan.display(),
        wan = wan.display()
    );
    let out = Command::new(lab_dir().join("run"))
        // The router loads `edgepath rules`: this build's binary, not a release one
        // that a fresh checkout does not have.
        .args(["--edgepath", env!("CARGO_BIN_EXE_edgepath")])
        .args(["generated-rules", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        lan.exists() && wan.exists(),
        "no captures: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let analyze = |pcap: &std::path::Path| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_edgepath"))
            .args(["capture", pcap.to_str().unwrap(), "--json", "--endpoints"])
            .arg(lab_dir().join("catalog.json"))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (lan, wan) = (analyze(&lan), analyze(&wan));
    std::fs::remove_dir_all(&dir).unwrap();
    // The relay flows of each side: (modality, DSCP values client-to-server).
    let marks = |r: &Value| -> Vec<(String, Vec<u64>)> {
        r["flows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["path"] == "relay-udp" && f["modality"].is_string())
            .map(|f| {
                let values = f["dscp"][0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["value"].as_u64().unwrap())
                    .collect();
                (f["modality"].as_str().unwrap().to_owned(), values)
            })
            .collect()
    };
    let kinds = |r: &Value, kind: &str| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == kind)
            .count()
    };
    let (lan_marks, wan_marks) = (marks(&lan), marks(&wan));
    assert!(
        lan_marks.len() >= 4 && wan_marks.len() >= 4,
        "{lan_marks:?} {wan_marks:?}"
    );
    assert!(lan_marks.iter().all(|(_, v)| v == &[0]), "{lan_marks:?}");
    for (modality, values) in &wan_marks {
        let want = match modality.as_str() {
            "audio" => 46,
            "video" => 34,
            _ => 18,
        };
        assert_eq!(values, &[want], "{modality} on the WAN side: {wan_marks:?}");
    }
    assert!(
        kinds(&lan, "qos-unmarked") >= lan_marks.len(),
        "{}",
        lan["findings"]
    );
    assert_eq!(
        kinds(&wan, "qos-unmarked") + kinds(&wan, "qos-wrong-mark"),
        0,
        "{}",
        wan["findings"]
    );
}

/// A 60 s quality run without credentials, interrupted after 7 s: the report still
/// comes, its figures cover what was sent, and --windows-out has every window so far.
fn a_long_check_stops_on_ctrl_c_and_still_reports() {
    let dir = std::env::temp_dir().join(format!("edgepath-lab-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (csv, json) = (dir.join("windows.csv"), dir.join("check.json"));
    let script = format!(
        "env -u EDGEPATH_TURN_USER -u EDGEPATH_TURN_PASSWORD {bin} check --duration 60 --windows-out {csv} --json > {json} & P=$!; sleep 7; kill -INT $P; wait $P; echo exit=$?; chmod 644 {csv} {json}",
        bin = env!("CARGO_BIN_EXE_edgepath"),
        csv = csv.display(),
        json = json.display()
    );
    let t0 = std::time::Instant::now();
    let out = Command::new(lab_dir().join("run"))
        .args(["--edgepath", env!("CARGO_BIN_EXE_edgepath")])
        .args(["home-nat", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("exit=0"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t0.elapsed().as_secs() < 30,
        "Ctrl-C ended the 60 s run early"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let q = &doc["modalities"][0]["quality"];
    assert_eq!(q["method"], "stun-round-trip");
    let sent = q["overall"]["sent"].as_u64().unwrap();
    assert!(
        (50..=60 * 25).contains(&sent) && sent < 60 * 25,
        "stopped early: {sent} sent"
    );
    let lines: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        lines[0].starts_with("start_s,sent,received,loss_pct"),
        "{lines:?}"
    );
    assert_eq!(
        lines.len() - 1,
        q["windows"].as_array().unwrap().len(),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("0,125,125,0,0,"), "{lines:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Builds SCENARIO, captures the client's traffic while `edgepath check` runs, and
/// returns `edgepath capture --json` of it.
fn capture_during_check(scenario: &str) -> Value {
    let pcap = std::env::temp_dir().join(format!(
        "edgepath-lab-{scenario}-{}.pcapng",
        std::process::id()
    ));
    let bin = env!("CARGO_BIN_EXE_edgepath");
    let script = format!(
        "dumpcap -q -i any -w {p} 2>/dev/null & P=$!; sleep 1.5; {bin} check --duration 2 >/dev/null; sleep 0.5; kill $P; wait $P; chmod 644 {p}",
        p = pcap.display()
    );
    let out = Command::new(lab_dir().join("run"))
        .args(["--edgepath", env!("CARGO_BIN_EXE_edgepath")])
        .args([scenario, "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        pcap.exists(),
        "no capture: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin)
        .args(["capture", pcap.to_str().unwrap(), "--json", "--endpoints"])
        .arg(lab_dir().join("catalog.json"))
        .output()
        .unwrap();
    std::fs::remove_file(&pcap).unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn scenario_files_are_checked_before_anything_is_built() {
    let dir = std::env::temp_dir().join(format!("edgepath-lab-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "description = \"x\"\n[firewall]\npolcy = \"drop\"\n").unwrap();
    // Schema errors come before any root-only step, so this runs anywhere.
    let out = Command::new(lab_dir().join("run"))
        .args(["--validate", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown key(s) in [firewall]: polcy"), "{err}");
    let out = Command::new(lab_dir().join("run"))
        .args(["--validate", "no-such-scenario"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario `no-such-scenario`"));
    let both = dir.join("both.toml");
    std::fs::write(&both, "[firewall]\ngenerated = true\npolicy = \"accept\"\n").unwrap();
    let out = Command::new(lab_dir().join("run"))
        .args(["--validate", both.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("generated = true takes its policy"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
