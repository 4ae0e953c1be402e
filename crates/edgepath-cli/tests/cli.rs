//! The `edgepath` binary, driven as users drive it, on the shared fixtures.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

mod common;
use common::run_with_stdin;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

/// A fresh, private cache directory per test, removed when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cache_dir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("edgepath-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    TempDir(d)
}

fn edgepath(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgepath"))
        .args(args)
        .env("EDGEPATH_CACHE_DIR", cache)
        .env_remove("EDGEPATH_ENDPOINTS")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_tmp(cache: &Path, name: &str, content: &[u8]) -> PathBuf {
    std::fs::create_dir_all(cache).unwrap();
    let p = cache.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn provisioning_reads_the_pasted_excerpt() {
    let c = cache_dir("prov");
    let f = shared("fixtures/provisioning-excerpt.txt");
    let out = edgepath(&c, &["provisioning", f.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "repairs are findings: {}",
        stderr(&out)
    );
    let v = json(&out);
    assert_eq!(v["port_range_enabled"], true);
    assert_eq!(v["ranges"]["media"], "50000-50059");
    assert_eq!(v["ranges"]["audio"], "50000-50019");
    assert_eq!(v["ranges"]["video"], "50020-50039");
    assert_eq!(v["ranges"]["app_sharing"], "50040-50059");
    assert_eq!(v["ranges"]["file_transfer"], "50040-50059");
    assert_eq!(v["ranges"]["sip_dynamic"], "7100-7102");
    assert_eq!(
        v["qos"][0],
        serde_json::json!({"modality": "audio", "ports": "50000-50019", "dscp": 46})
    );
    assert_eq!(v["qos"][1]["dscp"], 34);
    assert_eq!(v["qos"][2]["dscp"], 18);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 3);
}

#[test]
fn provisioning_from_stdin_and_text_output() {
    let c = cache_dir("prov-stdin");
    let out = run_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_edgepath"))
            .args(["provisioning", "-"])
            .env("EDGEPATH_CACHE_DIR", &*c),
        &std::fs::read(shared("fixtures/provisioning-excerpt.txt")).unwrap(),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Provisioning read from standard input"));
    assert!(
        text.contains("audio          50000-50019   46 (EF)"),
        "{text}"
    );
    assert!(text.contains("lacks its closing quote"));
}

#[test]
fn provisioning_bad_inputs_exit_2_naming_the_file() {
    let c = cache_dir("prov-bad");
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty.txt", b"", "empty.txt: the input is empty"),
        ("prose.txt", b"just some words", "prose.txt: no XML found"),
        ("html.xml", b"<html><p>hi</p></html>", "html.xml: no port range elements"),
        (
            "bad-value.xml",
            b"<provisionGroupList>\n<provisionGroup name=\"ServerConfiguration\">\n<ucMinAudioPort>5o000</ucMinAudioPort>",
            "bad-value.xml: line 3: <ucMinAudioPort> is `5o000`",
        ),
        (
            "json.txt",
            br#"{"ranges": {"audio": "50000-50019"}}"#,
            "json.txt: no XML found",
        ),
    ];
    for (name, content, expect) in cases {
        let p = write_tmp(&c, name, content);
        let out = edgepath(&c, &["provisioning", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
        assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
    }
    let out = edgepath(&c, &["provisioning", "/nonexistent/file.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot open /nonexistent/file.txt"));
}

#[test]
fn catalog_json_shape_and_profiles() {
    let c = cache_dir("catalog");
    let out = edgepath(&c, &["catalog", "--json"]);
    // The embedded list is Microsoft's 2025063000: stale after 2025-08-04, a finding
    // of `catalog` (exit 1) and a warning on stderr.
    let stale = days_since_epoch() > days_from(2025, 8, 4);
    assert_eq!(
        out.status.code(),
        Some(i32::from(stale)),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).contains("days old"), stale, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["endpoints"]["version"], "2025063000");
    assert_eq!(v["endpoints"]["date"], "2025-06-30");
    assert_eq!(
        v["endpoints"]["age_days"],
        days_since_epoch() - days_from(2025, 6, 30)
    );
    assert_eq!(v["endpoints"]["stale"], stale);
    assert_eq!(
        v["services"][3]["ips"],
        serde_json::json!(["52.112.0.0/14", "52.122.0.0/15", "2603:1063::/38"])
    );
    let ids: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "sip",
            "web-services",
            "data-edge",
            "av-edge",
            "ews",
            "office-web-apps"
        ]
    );
    let av = &v["services"][3];
    assert_eq!(av["udp_ports"], serde_json::json!(["3478-3481"]));
    assert_eq!(av["tcp_ports"], serde_json::json!(["443"]));
    assert_eq!(av["source_ports"]["class"], "media");
    assert_eq!(v["endpoints"]["kind"], "embedded");
    assert!(v.get("endpoint_sets").is_none());

    let out = edgepath(&c, &["catalog", "--profile", "legacy", "--json"]);
    let v = json(&out);
    assert_eq!(v["profile"], "legacy");
    assert_eq!(
        v["services"][3]["udp_ports"],
        serde_json::json!(["3478-3481", "50000-59999"])
    );
    assert_eq!(
        v["services"][3]["tcp_ports"],
        serde_json::json!(["443", "50000-59999"])
    );
    assert_eq!(v["services"][0]["tcp_ports"], serde_json::json!(["443"]));

    let out = edgepath(&c, &["catalog", "--profile", "ancient"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown profile `ancient`"));
}

#[test]
fn catalog_import_keeps_the_file_for_later_runs_and_reset_forgets_it() {
    let c = cache_dir("import");
    let f = shared("fixtures/o365-endpoints-worldwide.json");
    let out = edgepath(&c, &["catalog", "import", f.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    let sets = v["endpoint_sets"].as_array().unwrap();
    let relays = sets.iter().find(|s| s["id"] == 11).unwrap();
    assert_eq!(relays["service_area"], "Skype");
    assert_eq!(relays["category"], "Optimize");
    assert_eq!(relays["required"], true);
    assert_eq!(relays["udp_ports"], serde_json::json!(["3478-3481"]));
    assert_eq!(relays["tcp_ports"], serde_json::json!([]));
    assert!(relays["ips"]
        .as_array()
        .unwrap()
        .contains(&"52.112.0.0/14".into()));
    assert_eq!(v["endpoints"]["kind"], "cache");
    // 52.112.0.0/14 is listed by set 11 (Optimize) and sets 12, 13, 22 (Allow): Optimize wins.
    let addr = v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["net"] == "52.112.0.0/14")
        .unwrap();
    assert_eq!(addr["category"], "Optimize");
    assert_eq!(addr["set_ids"], serde_json::json!([11, 12, 13, 22]));

    // Later runs use it.
    let v = json(&edgepath(&c, &["catalog", "--json"]));
    assert_eq!(v["endpoints"]["kind"], "cache");
    // --endpoints wins over the cache for one run.
    let v = json(&edgepath(
        &c,
        &["catalog", "--json", "--endpoints", f.to_str().unwrap()],
    ));
    assert_eq!(v["endpoints"]["kind"], "file");

    let out = edgepath(&c, &["catalog", "reset"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&edgepath(&c, &["catalog", "--json"]));
    assert_eq!(v["endpoints"]["kind"], "embedded");
}

#[test]
fn catalog_import_dry_run_keeps_nothing() {
    let c = cache_dir("dry");
    let f = shared("fixtures/o365-endpoints-worldwide.json");
    let out = edgepath(&c, &["catalog", "import", "--dry-run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!c.join("endpoints.json").exists());
}

#[test]
fn endpoint_bad_inputs_exit_2_with_the_place() {
    let c = cache_dir("ep-bad");
    let cases: [(&str, &str, &str); 7] = [
        (
            "empty.json",
            "",
            "empty.json: not valid JSON at line 1, column 0",
        ),
        (
            "syntax.json",
            "[{\"id\": 1,\n \"x\": }]",
            "syntax.json: not valid JSON at line 2, column 7",
        ),
        (
            "object.json",
            "{\"id\": 1}",
            "object.json: at $: expected an array",
        ),
        (
            "cidr.json",
            r#"[{"id": 11, "serviceArea": "Skype", "category": "Optimize", "ips": ["52.112.0.0/40"], "udpPorts": "3478"}]"#,
            "cidr.json: at [0].ips[0]: `52.112.0.0/40` is not an IPv4 or IPv6 address range",
        ),
        (
            "ports.json",
            r#"[{"id": 11, "serviceArea": "Skype", "category": "Optimize", "udpPorts": "3478-99999"}]"#,
            "ports.json: at [0].udpPorts: invalid port list `3478-99999`",
        ),
        (
            "noskype.json",
            r#"[{"id": 1, "serviceArea": "Exchange", "category": "Optimize", "tcpPorts": "443"}]"#,
            "noskype.json: the endpoint data has no Skype service area",
        ),
        (
            "wrongtype.json",
            r#"[{"id": "11", "serviceArea": "Skype", "category": "Optimize"}]"#,
            "wrongtype.json: at [0].id: expected a number, found a string",
        ),
    ];
    for (name, content, expect) in cases {
        let p = write_tmp(&c, name, content.as_bytes());
        for args in [
            vec!["catalog", "import", p.to_str().unwrap()],
            vec!["catalog", "--endpoints", p.to_str().unwrap()],
        ] {
            let out = edgepath(&c, &args);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}");
            assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
        }
    }
    assert!(!c.join("endpoints.json").exists(), "nothing bad was kept");
}

#[test]
fn endpoints_env_variable_is_honoured() {
    let c = cache_dir("env");
    let f = shared("fixtures/o365-endpoints-worldwide.json");
    let out = Command::new(env!("CARGO_BIN_EXE_edgepath"))
        .args(["catalog", "--json"])
        .env("EDGEPATH_CACHE_DIR", &*c)
        .env("EDGEPATH_ENDPOINTS", &f)
        .output()
        .unwrap();
    assert_eq!(json(&out)["endpoints"]["kind"], "file");
}

/// A minimal HTTP/1.1 server standing in for Microsoft's web service on
/// loopback; it records each request line.
fn serve(
    version: &'static str,
    endpoints: String,
    requests: usize,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            log2.lock().unwrap().push(line.trim().to_owned());
            let body = if line.contains("/version/") {
                format!("{{\"instance\":\"Worldwide\",\"latest\":\"{version}\"}}")
            } else if line.contains("/endpoints/") {
                endpoints.clone()
            } else {
                String::new()
            };
            let status = if body.is_empty() {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), log)
}

#[test]
fn catalog_update_checks_the_version_first_and_keeps_the_list() {
    let c = cache_dir("update");
    let data = std::fs::read_to_string(shared("fixtures/o365-endpoints-worldwide.json")).unwrap();
    let (url, log) = serve("2026112500", data, 3);
    let out = edgepath(&c, &["catalog", "update", "--service-url", &url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["status"], "updated");
    assert_eq!(v["version"], "2026112500");
    // Same version again: only the version is asked for.
    let out = edgepath(&c, &["catalog", "update", "--service-url", &url, "--json"]);
    assert_eq!(json(&out)["status"], "up_to_date", "{}", stderr(&out));
    let reqs = log.lock().unwrap().clone();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert!(reqs[0].starts_with("GET /version/Worldwide?ClientRequestId="));
    assert!(reqs[1].starts_with("GET /endpoints/Worldwide?ClientRequestId="));
    assert!(reqs[2].starts_with("GET /version/Worldwide?ClientRequestId="));
    // One stable request id per machine.
    let id = |r: &str| {
        r.split("ClientRequestId=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(id(&reqs[0]), id(&reqs[2]));
    assert_eq!(id(&reqs[0]).len(), 36);
    // Later runs use the fetched list and say which version it is.
    let v = json(&edgepath(&c, &["catalog", "--json"]));
    assert_eq!(v["endpoints"]["kind"], "cache");
    assert_eq!(v["endpoints"]["version"], "2026112500");
}

#[test]
fn catalog_update_refuses_bad_data_and_keeps_the_old() {
    let c = cache_dir("update-bad");
    let (url, _log) = serve("2026112600", "[{\"id\": \"x\"}]".into(), 2);
    let out = edgepath(&c, &["catalog", "update", "--service-url", &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/endpoints/Worldwide"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("at [0].id: expected a number"),
        "{}",
        stderr(&out)
    );
    assert!(!c.join("endpoints.json").exists());
}

#[test]
fn catalog_update_offline_says_so() {
    let c = cache_dir("offline");
    // A port nothing listens on: bind, note it, close it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = edgepath(&c, &["catalog", "update", "--service-url", &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("could not ask for the current version"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let c = cache_dir("usage");
    let out = edgepath(&c, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = edgepath(&c, &["provisioning"]);
    assert_eq!(out.status.code(), Some(2));
    let out = edgepath(&c, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let c = cache_dir("pipe");
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgepath"))
        .args(["catalog", "--json"])
        .env("EDGEPATH_CACHE_DIR", &*c)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end before it writes.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("error"), "{}", stderr(&out));
    // 1: the embedded data is stale (a finding of `catalog`), not a failure.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{:?}", out.status);
}

/// Today as days since 1970-01-01 (UTC), as edgepath counts data age.
fn days_since_epoch() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (secs / 86_400) as i64
}

/// Days since 1970-01-01 of a date (the civil-from-days inverse, for tests).
fn days_from(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

#[test]
fn catalog_update_lists_what_changed_between_two_microsoft_lists() {
    let c = cache_dir("update-changes");
    let old = std::fs::read_to_string(shared("fixtures/o365-endpoints-worldwide.json")).unwrap();
    let new = std::fs::read_to_string(shared("fixtures/o365-endpoints-worldwide-2025013000.json"))
        .unwrap();
    // The web service as it was (the old list, given a version from before 2022) ...
    let (url, _) = serve("2021100100", old, 2);
    let out = edgepath(&c, &["catalog", "update", "--service-url", &url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    // Against the embedded 2025063000 list, the old one lacks the new media ranges.
    assert!(v["changes"]["against"]
        .as_str()
        .unwrap()
        .contains("Microsoft version 2025063000 (2025-06-30)"));
    let media = set_change(&v, 11);
    assert_eq!(
        media["ips"]["removed"],
        serde_json::json!(["52.122.0.0/15", "2603:1063::/38"])
    );
    // ... warns that it is stale, and is named by its version from now on.
    assert!(
        stderr(&out).is_empty(),
        "update itself does not warn: {}",
        stderr(&out)
    );
    let out = edgepath(&c, &["rules", "--target", "nftables"]);
    assert!(
        stderr(&out).contains("Microsoft version 2021100100 (2021-10-01)"),
        "{}",
        stderr(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("# Endpoint data: Microsoft's Worldwide endpoint list fetched "));

    // ... and as it is now.
    let (url, _) = serve("2025013000", new, 2);
    let out = edgepath(&c, &["catalog", "update", "--service-url", &url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["previous_version"], "2021100100");
    assert!(v["changes"]["against"]
        .as_str()
        .unwrap()
        .contains("Microsoft version 2021100100 (2021-10-01)"));
    let media = set_change(&v, 11);
    assert_eq!(
        media["ips"]["added"],
        serde_json::json!(["52.122.0.0/15", "2603:1063::/38"])
    );
    assert_eq!(
        media["ips"]["removed"],
        serde_json::json!(["13.107.64.0/18", "52.120.0.0/14"])
    );
    let signalling = set_change(&v, 12);
    let names: Vec<&str> = signalling["urls"]["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(names.contains(&"*.teams.cloud.microsoft") && names.contains(&"teams.cloud.microsoft"));
    let removed: Vec<u64> = v["changes"]["sets_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(removed, [13, 15, 22, 26, 29]);
    // The same list as text, for people.
    let (url, _) = serve("2025013000", String::new(), 1);
    let out = edgepath(&c, &["catalog", "update", "--service-url", &url]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("still Microsoft version 2025013000"));
    let out = edgepath(
        &c,
        &[
            "catalog",
            "diff",
            shared("fixtures/o365-endpoints-worldwide.json")
                .to_str()
                .unwrap(),
            shared("fixtures/o365-endpoints-worldwide-2025013000.json")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "changes found: {}",
        stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("~ set 11 (Skype):\n      + addresses: 52.122.0.0/15, 2603:1063::/38\n      - addresses: 13.107.64.0/18, 52.120.0.0/14\n"), "{text}");
    assert!(text.contains("- set 29 (Skype"), "{text}");
    let same = shared("fixtures/o365-endpoints-worldwide.json");
    let out = edgepath(
        &c,
        &[
            "catalog",
            "diff",
            same.to_str().unwrap(),
            same.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no changes"));
}

fn set_change(v: &serde_json::Value, id: u64) -> serde_json::Value {
    v["changes"]["sets_changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("set {id} changed: {v}"))
        .clone()
}

#[test]
fn import_records_the_version_and_lists_changes() {
    let c = cache_dir("import-version");
    let old = shared("fixtures/o365-endpoints-worldwide.json");
    let out = edgepath(
        &c,
        &[
            "catalog",
            "import",
            old.to_str().unwrap(),
            "--endpoints-version",
            "2021100100",
            "--json",
        ],
    );
    // Stale data is a finding of `catalog`: exit 1, and the warning once.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("days old").count(),
        1,
        "{}",
        stderr(&out)
    );
    let v = json(&out);
    assert_eq!(v["endpoints"]["version"], "2021100100");
    assert_eq!(v["endpoints"]["stale"], true);
    assert_eq!(
        set_change(&v, 11)["ips"]["added"],
        serde_json::json!(["13.107.64.0/18", "52.120.0.0/14"])
    );
    let out = edgepath(
        &c,
        &[
            "catalog",
            "import",
            old.to_str().unwrap(),
            "--endpoints-version",
            "2021023000",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("2021-02-30 is not a date"),
        "{}",
        stderr(&out)
    );
    // Without a version the age is unknown: said, never guessed.
    let v = json(&edgepath(
        &c,
        &["catalog", "--endpoints", old.to_str().unwrap(), "--json"],
    ));
    assert_eq!(v["endpoints"]["version"], serde_json::Value::Null);
    assert_eq!(v["endpoints"]["stale"], serde_json::Value::Null);
    assert!(v["endpoints"]["description"]
        .as_str()
        .unwrap()
        .contains("Microsoft's version not recorded"));
}

#[test]
fn sites_checks_an_inventory_as_cqd_does_and_answers_lookups() {
    let c = cache_dir("sites");
    std::fs::create_dir_all(&*c).unwrap();
    let clean = c.join("clean.csv");
    std::fs::write(
        &clean,
        "192.168.1.0,USA/Seattle/SEATTLE-SEA-1,26,SEATTLE-SEA-1,Contoso,IT Termination,Engineering,Seattle,98001,US,WA,MSUS,1,0,0\n",
    )
    .unwrap();
    let out = edgepath(
        &c,
        &[
            "sites",
            clean.to_str().unwrap(),
            "--lookup",
            "192.168.1.9",
            "10.0.0.1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 site(s), 1 subnet(s)"), "{text}");
    assert!(
        text.contains("192.168.1.9 is in SEATTLE-SEA-1 (192.168.1.0/26, line 1)"),
        "{text}"
    );
    assert!(text.contains("10.0.0.1 is in no site"), "{text}");
    assert!(
        text.contains("No problems: CQD would take this file."),
        "{text}"
    );
    // A file CQD refuses: exit 1, each problem with file and line, the rest still read.
    let bad = c.join("bad.csv");
    std::fs::write(
        &bad,
        "NetworkIP,NetworkName,NetworkRange\n10.1.0.0,a,16,A,,,,,,,,,1,0\n10.1.2.0,b,24,B,,,,,,,,,1,0\n",
    )
    .unwrap();
    let out = edgepath(&c, &["sites", bad.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["format"], "cqd-building");
    assert_eq!(v["accepted"], false);
    let kinds: Vec<(u64, &str)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [(1, "header"), (3, "overlap")]);
    assert_eq!(v["subnets"].as_array().unwrap().len(), 2);
    // A file that cannot be read: exit 2.
    let out = edgepath(&c, &["sites", "/nonexistent/sites.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot open /nonexistent/sites.csv"),
        "{}",
        stderr(&out)
    );
}
