//! `edgepath serve` as a process, without the lab: it binds, answers `/metrics` with its
//! own metrics in OpenMetrics text, refuses an unknown module (400), an unknown path
//! (404) and a POST (405) with a message, ends on SIGTERM with exit 0, and exits 2 at
//! start on a bad configuration, naming the file and line. Probing for real is the
//! Prometheus lab test's part.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_edgepath");

fn status_and_body(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
    match r {
        Ok(mut resp) => (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(ureq::Error::StatusCode(code)) => (code, String::new()),
        Err(e) => panic!("{e}"),
    }
}

/// The exporter, ended by its PID when the test ends, also when it fails.
struct Ended(std::process::Child);

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running exporter on a free port with `config`: the process, its log from the line
/// after "listening on", that line, and the address it chose (warnings about the
/// endpoint data's age may come first).
fn start(
    config: &std::path::Path,
    extra: &[&str],
) -> (Ended, BufReader<std::process::ChildStderr>, String, String) {
    let mut child = Ended(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .args(extra)
            .env_remove("EDGEPATH_ENDPOINTS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut first = String::new();
    while !first.contains("listening on") {
        first.clear();
        assert!(
            err.read_line(&mut first).unwrap() > 0,
            "serve ended before listening"
        );
    }
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    (child, err, first, addr)
}

/// Every line the exporter logs, as it comes.
fn follow(err: BufReader<std::process::ChildStderr>) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line logged that holds `what`, within 20 s.
fn logged(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(_) => panic!("serve never logged {what:?}"),
        }
    }
}

/// SIGHUP to the exporter.
fn hup(child: &Ended) {
    let sent = Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// An HTTP client that returns 4xx and 5xx answers instead of failing on them.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

#[test]
fn serve_answers_and_refuses_clearly_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("edgepath-serve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sites.toml");
    std::fs::write(
        &config,
        "[modules.office]\nduration = 1\n\n[modules.home]\nproxy = \"none\"\n",
    )
    .unwrap();
    let (mut child, _log, first, addr) = start(&config, &[]);
    assert!(first.contains("modules: home, office"), "{first}");
    let agent = agent();
    let get = |path: &str| status_and_body(agent.get(&format!("http://{addr}{path}")).call());
    let (code, body) = get("/metrics");
    assert_eq!(code, 200);
    assert!(
        body.contains("edgepath_exporter_probes_total{module=\"office\"} 0"),
        "{body}"
    );
    assert!(body.contains("edgepath_exporter_modules 2"), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    let (code, body) = get("/probe?module=nope");
    assert_eq!(code, 400);
    assert!(
        body.contains("unknown module `nope`; modules: home, office"),
        "{body}"
    );
    // Two modules: one must be named.
    let (code, body) = get("/probe");
    assert_eq!(code, 400);
    assert!(body.contains("say which module"), "{body}");
    let (code, _) = get("/elsewhere");
    assert_eq!(code, 404);
    let (code, body) = status_and_body(agent.post(&format!("http://{addr}/probe")).send(""));
    assert_eq!(code, 405, "{body}");
    // The requests were counted, per path and code.
    let (_, body) = get("/metrics");
    assert!(
        body.contains("edgepath_exporter_requests_total{path=\"/probe\",code=\"400\"} 2"),
        "{body}"
    );
    let kill = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));

    // A bad configuration: exit 2 at start, naming the file and line.
    std::fs::write(
        &config,
        "[modules.office]\nduration = 1\nprofle = \"legacy\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sites.toml:3:") && err.contains("profle"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGHUP reloads the configuration: a module added is served, the exporter's metrics
/// say the reload succeeded; a configuration that does not load keeps the modules
/// loaded before, with a log line naming the file and line and
/// `edgepath_exporter_config_last_reload_successful 0`.
#[test]
fn sighup_reloads_and_a_bad_reload_keeps_the_modules_in_use() {
    let dir = std::env::temp_dir().join(format!("edgepath-serve-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sites.toml");
    std::fs::write(&config, "[modules.office]\nduration = 1\n").unwrap();
    let (child, err, _, addr) = start(&config, &[]);
    let rx = follow(err);
    let wait_for = |what: &str| logged(&rx, what);
    let agent = agent();
    let get = |path: &str| status_and_body(agent.get(&format!("http://{addr}{path}")).call());
    let hup = || hup(&child);
    // A SIGHUP as soon as it says it listens reloads (it does not end it).
    std::fs::write(
        &config,
        "[modules.office]\nduration = 1\n\n[modules.home]\nproxy = \"none\"\n",
    )
    .unwrap();
    hup();
    let line = wait_for("configuration reloaded");
    assert!(line.contains("modules: home, office"), "{line}");
    let (_, body) = get("/metrics");
    assert!(
        body.contains("edgepath_exporter_config_last_reload_successful 1"),
        "{body}"
    );
    let (code, body) = get("/probe?module=nope");
    assert_eq!(code, 400);
    assert!(body.contains("modules: home, office"), "{body}");
    let (_, body) = get("/metrics");
    for want in [
        "edgepath_exporter_modules 2",
        "edgepath_exporter_config_reloads_total{result=\"success\"} 1",
        "edgepath_exporter_probes_total{module=\"home\"} 0",
    ] {
        assert!(body.contains(want), "{want} in {body}");
    }

    std::fs::write(&config, "[modules.office]\nduration = \"soon\"\n").unwrap();
    hup();
    let line = wait_for("reload failed");
    assert!(
        line.contains("(home, office)") && line.contains("sites.toml:2"),
        "{line}"
    );
    let (code, body) = get("/probe?module=nope");
    assert_eq!(code, 400);
    assert!(body.contains("modules: home, office"), "{body}");
    let (_, body) = get("/metrics");
    for want in [
        "edgepath_exporter_config_last_reload_successful 0",
        "edgepath_exporter_config_reloads_total{result=\"failure\"} 1",
    ] {
        assert!(body.contains(want), "{want} in {body}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--web-config` is reloaded on SIGHUP like the modules: basic auth added answers 401
/// without the password (with `WWW-Authenticate`) and 200 with it; a web configuration
/// that does not load keeps the one in use.
#[test]
fn web_config_basic_auth_is_reloaded_on_sighup() {
    let dir = std::env::temp_dir().join(format!("edgepath-serve-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("serve.toml");
    std::fs::write(&config, "[modules.office]\nduration = 1\n").unwrap();
    let web = dir.join("web.yml");
    std::fs::write(&web, "# nothing yet\n").unwrap();
    let (child, err, first, addr) = start(&config, &["--web-config", web.to_str().unwrap()]);
    assert!(first.contains("plain HTTP, no authentication"), "{first}");
    let rx = follow(err);
    let wait_for = |what: &str| logged(&rx, what);
    let agent = agent();
    let get = |auth: Option<&str>| {
        let mut req = agent.get(&format!("http://{addr}/metrics"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        match req.call() {
            Ok(resp) => (
                resp.status().as_u16(),
                resp.headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            ),
            Err(e) => panic!("{e}"),
        }
    };
    let hup = || hup(&child);
    assert_eq!(get(None).0, 200);
    // bcrypt of "scrape-secret" (cost 4).
    std::fs::write(
        &web,
        "basic_auth_users:\n  prometheus: $2b$04$szVMNpquV3m1K/JD9sv0tOTc/J/NpJzEn2tnpFd1A42.ag0YSB1gu\n",
    )
    .unwrap();
    hup();
    wait_for("configuration reloaded");
    let (code, challenge) = get(None);
    assert_eq!(code, 401);
    assert_eq!(challenge.as_deref(), Some("Basic realm=\"edgepath\""));
    // prometheus:scrape-secret, then a wrong password.
    assert_eq!(get(Some("Basic cHJvbWV0aGV1czpzY3JhcGUtc2VjcmV0")).0, 200);
    assert_eq!(get(Some("Basic cHJvbWV0aGV1czp3cm9uZw==")).0, 401);
    // A web configuration that does not load: the one in use stays.
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plaintext\n").unwrap();
    hup();
    let line = wait_for("reload failed");
    assert!(
        line.contains("basic_auth_users.prometheus: not a bcrypt hash"),
        "{line}"
    );
    assert_eq!(get(None).0, 401);
    assert_eq!(get(Some("Basic cHJvbWV0aGV1czpzY3JhcGUtc2VjcmV0")).0, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
