//! Helpers the integration tests share: where the repository is, running edgepath from
//! there with its own endpoint cache, feeding a command's standard input, and where
//! the scenario lab is and whether it can run here.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a part of this

pub mod generated;
pub mod prom;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root: tests run the binary from there, so the command lines in the
/// generated headers (and so the golden files) do not depend on where cargo runs them.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs edgepath from the repository root with `args`, ignoring `EDGEPATH_ENDPOINTS`
/// and keeping its data in a cache directory of its own (`edgepath-<cache>-test-cache`).
pub fn edgepath_in_repo(cache: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgepath"))
        .args(args)
        .current_dir(repo())
        .env_remove("EDGEPATH_ENDPOINTS")
        .env(
            "EDGEPATH_CACHE_DIR",
            std::env::temp_dir().join(format!("edgepath-{cache}-test-cache")),
        )
        .output()
        .unwrap()
}

/// Runs `cmd` with `input` on its standard input (closed after it) and collects its
/// output.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The scenario lab's directory.
pub fn lab_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab")
}

/// Why the lab cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root: network namespaces need root".into());
    }
    let missing: Vec<&str> = [
        "ip",
        "nft",
        "turnserver",
        "turnutils_uclient",
        "dnsmasq",
        "squid",
        "curl",
        "openssl",
        "socat",
        "dumpcap",
        "tshark",
        "wg",
        "wireguard-go",
        "openvpn",
    ]
    .into_iter()
    .filter(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
    })
    .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "missing tools: {} (.ci/run installs them)",
            missing.join(", ")
        )
    })
}

/// `edgepath_...` names in `text`.
pub fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("edgepath_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}
