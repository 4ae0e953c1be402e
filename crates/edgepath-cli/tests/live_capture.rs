//! `edgepath capture --interface` in the lab: a live capture on the client's link while
//! `edgepath check` runs must report exactly what `edgepath capture` reports on the
//! pcapng file it wrote. Needs the `live` feature (libpcap), root and the lab's
//! packages: `cargo test -p edgepath-cli --features live --test live_capture`
//! (.ci/run runs it).
#![allow(clippy::unwrap_used)]

#[cfg(feature = "live")]
mod common;

#[cfg(not(feature = "live"))]
#[test]
fn live_capture_is_tested_with_the_live_feature() {
    eprintln!(
        "SKIPPED live capture: this build has no `live` feature \
         (cargo test -p edgepath-cli --features live --test live_capture; .ci/run runs it)"
    );
}

#[cfg(feature = "live")]
mod live {
    use std::process::Command;

    use serde_json::Value;

    use super::common::{lab_dir, unavailable};

    const BIN: &str = env!("CARGO_BIN_EXE_edgepath");

    #[test]
    fn a_bad_interface_or_filter_is_a_clear_error() {
        let out = Command::new(BIN)
            .args([
                "capture",
                "--interface",
                "edgepath-none0",
                "--duration",
                "1",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("cannot capture on edgepath-none0"), "{err}");
        if unavailable().is_some() {
            return; // the filter is compiled only once the interface is open (root)
        }
        let out = Command::new(BIN)
            .args([
                "capture",
                "-i",
                "lo",
                "--duration",
                "1",
                "--filter",
                "udp port banana",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--filter \"udp port banana\""), "{err}");
    }

    #[test]
    fn the_live_report_is_the_report_of_the_written_file() {
        if let Some(why) = unavailable() {
            if std::env::var_os("CI").is_some() {
                panic!("the lab cannot run under CI: {why}");
            }
            eprintln!("SKIPPED the live capture lab test: {why}");
            return;
        }
        let dir = std::env::temp_dir().join(format!("edgepath-lab-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pcap, live, file) = (
            dir.join("live.pcapng"),
            dir.join("live.json"),
            dir.join("file.json"),
        );
        // Capture until Ctrl-C (SIGINT), which ends it as on a terminal; then the file.
        let script = format!(
            "{BIN} capture --interface $EDGEPATH_LAB_CLIENT_IF --write {p} --json > {live} & P=$!; \
             sleep 1.5; {BIN} check --duration 2 >/dev/null; sleep 0.5; kill -INT $P; wait $P; \
             echo capture-exit=$?; {BIN} capture {p} --json > {file}; chmod 644 {p} {live} {file}",
            p = pcap.display(),
            live = live.display(),
            file = file.display()
        );
        let out = Command::new(lab_dir().join("run"))
            .args(["--edgepath", BIN])
            .args(["home-nat", "--", "sh", "-c", &script])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("capture-exit=0") || stdout.contains("capture-exit=1"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut live: Value = serde_json::from_slice(&std::fs::read(&live).unwrap()).unwrap();
        let file: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let info = live.as_object_mut().unwrap().remove("live").unwrap();
        assert!(info["received"].as_u64().unwrap() > 100, "{info}");
        assert_eq!(info["dropped"], 0, "{info}");
        assert!(
            info["filter"].as_str().unwrap().starts_with("udp or"),
            "{info}"
        );
        // What check did: one UDP flow to the relay per modality and port, answered.
        let udp = live["flows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["path"] == "relay-udp" && f["packets"][1].as_u64() > Some(0))
            .count();
        assert!(udp >= 16, "{udp} answered UDP relay flows in {live}");
        assert_eq!(
            live, file,
            "the live report differs from the report of the file it wrote"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
