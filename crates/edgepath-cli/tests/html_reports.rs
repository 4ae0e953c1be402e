//! The HTML reports in a real browser: headless Chromium (Debian package chromium)
//! renders each (`--dump-dom`), the tests assert on the rendered DOM, and a screenshot
//! of each is kept in target/tmp/html-reports/ for people to look at. Every report is
//! one file that fetches nothing (no src, href, link, import or url()) and stays under
//! 500 KB; what comes from outside is escaped (a history line whose time is markup
//! renders as text). `check --html` is rendered from the hotel lab (root), where
//! `monitor` also runs twice into a history that `monitor --summary` reads back.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{edgepath_in_repo, lab_dir, unavailable};

const BIN: &str = env!("CARGO_BIN_EXE_edgepath");

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing under CI (.ci/run installs the Debian package chromium)"
        );
        eprintln!("SKIPPED the HTML reports in Chromium: no chromium");
    }
    found
}

fn artefacts() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-reports");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The DOM Chromium renders from `html`, and a screenshot beside it.
fn render(browser: &str, html: &Path) -> String {
    let profile = artefacts().join(format!(
        "profile-{}",
        html.file_stem().unwrap().to_string_lossy()
    ));
    let common_args = |c: &mut Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    };
    let mut dump = Command::new(browser);
    common_args(&mut dump);
    let out = dump
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = html.with_extension("png");
    let mut shot = Command::new(browser);
    common_args(&mut shot);
    let out2 = shot
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,1600")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        out2.status.success() && png.exists(),
        "screenshot of {}",
        html.display()
    );
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8(out.stdout).unwrap()
}

/// One file, nothing fetched, not too big.
fn self_contained(html: &Path) {
    let text = std::fs::read_to_string(html).unwrap();
    assert!(
        text.len() < 500_000,
        "{}: {} bytes",
        html.display(),
        text.len()
    );
    for bad in [" src=\"", " href=\"", "<link", "@import", "url(", "<script"] {
        assert!(!text.contains(bad), "{}: contains {bad}", html.display());
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn capture_and_monitor_reports_render_in_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = artefacts();
    // capture --html on the real Teams capture.
    let cap = dir.join("capture-teams.html");
    let out = edgepath_in_repo(
        "html",
        &[
            "capture",
            "../shared/captures/teams.pcap",
            "--html",
            cap.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let flows = report["flows"].as_array().unwrap().len();
    let findings = report["findings"].as_array().unwrap().len();
    self_contained(&cap);
    let dom = render(browser, &cap);
    assert!(dom.contains("id=\"timeline\""), "no timeline");
    assert!(
        count(&dom, "class=\"flow\"") >= 10,
        "few flows on the timeline"
    );
    assert!(
        count(&dom, "class=\"allocation\"") >= 1,
        "no relay allocation marked"
    );
    let table = &dom[dom.find("id=\"flows\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(count(table, "<tr>") - 1, flows.min(300), "flow table rows");
    let f = &dom[dom.find("id=\"findings\"").unwrap()..];
    let f = &f[..f.find("</table>").unwrap()];
    assert_eq!(count(f, "<tr>") - 1, findings.min(300), "finding rows");
    assert!(dom.contains("relay-udp"), "no media path shown");

    // monitor --summary --html on a history, one of whose lines carries markup.
    let history = dir.join("history.jsonl");
    let line = |time: &str, path: &str, loss: f64| {
        format!(
            "{{\"time\":\"{time}\",\"elapsed_ms\":900,\"modalities\":[{{\"modality\":\"audio\",\"path\":\"{path}\",\"status\":\"good\",\"loss_ratio\":{loss},\"rtt_ms\":21.5,\"jitter_ms\":2.0}}],\"services\":[{{\"service\":\"sip\",\"via\":\"direct\",\"intercepted\":false}}],\"vpn\":\"none\",\"endpoints_version\":null}}\n"
        )
    };
    let text = [
        line("2026-11-26T10:00:00Z", "relay-udp", 0.0),
        line("2026-11-26T10:05:00Z", "relay-udp", 0.02),
        line("<img src=x onerror=alert(1)>", "relay-tcp", 0.01),
    ]
    .concat();
    std::fs::write(&history, text).unwrap();
    let page = dir.join("monitor.html");
    let out = Command::new(BIN)
        .args(["monitor", "--summary"])
        .arg(&history)
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    self_contained(&page);
    let dom = render(browser, &page);
    assert!(
        !dom.contains("<img"),
        "markup from the history became an element"
    );
    assert!(
        dom.contains("&lt;img src=x"),
        "the history's text is not shown as text"
    );
    assert!(count(&dom, "<polyline") >= 3, "quality charts");
    assert!(dom.contains(">67 %<"), "relay-udp share of the runs");
    let runs = &dom[dom.find("id=\"runs\"").unwrap()..];
    assert_eq!(
        count(&runs[..runs.find("</table>").unwrap()], "<tr>") - 1,
        3
    );
}

#[test]
fn check_report_renders_in_chromium() {
    if let Some(why) = unavailable() {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot run under CI: {why}"
        );
        eprintln!("SKIPPED check --html in the lab: {why}");
        return;
    }
    let Some(browser) = chromium() else { return };
    let page = artefacts().join("check-hotel.html");
    let history = artefacts().join("hotel-history.jsonl");
    let _ = std::fs::remove_file(&history);
    // In the same lab: the check with its page, then `monitor` twice, 10 s apart.
    let script = format!(
        "{BIN} check --duration 3 --html {} > /dev/null; {BIN} monitor --history {} --count 2 --interval 10s --duration 1",
        page.display(),
        history.display()
    );
    let out = Command::new(lab_dir().join("run"))
        .args(["--edgepath", BIN, "hotel", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The history: two runs on TCP, summarised.
    let lines = std::fs::read_to_string(&history).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    let summary = Command::new(BIN)
        .args(["monitor", "--json", "--summary"])
        .arg(&history)
        .output()
        .unwrap();
    assert_eq!(summary.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(doc["runs"], 2);
    for m in doc["modalities"].as_array().unwrap() {
        assert_eq!(m["paths"]["relay-tcp"], 2, "{m}");
        assert_eq!(m["paths"]["relay-udp"], 0, "{m}");
    }
    self_contained(&page);
    let dom = render(browser, &page);
    for m in ["audio", "video", "app_sharing", "file_transfer"] {
        assert!(
            dom.contains(&format!("data-modality=\"{m}\" data-path=\"relay-tcp\"")),
            "{m}: not relay-tcp in the hotel"
        );
    }
    assert_eq!(count(&dom, "data-status=\"degraded\""), 4);
    assert!(
        count(&dom, "class=\"ladder\"") == 4,
        "a ladder per modality"
    );
    assert!(dom.contains("<strong>Fix</strong>"), "no fix");
    assert!(dom.contains("edgepath Lab Root CA"), "no TLS issuer");
    assert!(
        dom.contains("Proxy: none (HTTPS_PROXY: not set; "),
        "the proxy search is not on the page"
    );
    let services = &dom[dom.find("id=\"services\"").unwrap()..];
    assert_eq!(
        count(&services[..services.find("</table>").unwrap()], "<tr>") - 1,
        5
    );
}
