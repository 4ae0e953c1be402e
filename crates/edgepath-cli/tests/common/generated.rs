//! What `tests/rules.rs` and `tests/audit.rs` share: the endpoints fixture, running
//! `rules` on it, every golden case, and running the real firewall tools in a scratch
//! network namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{edgepath_in_repo, run_with_stdin};

/// Microsoft's complete list, version 2025063000: the golden files and every real-tool
/// check run on it (IPv6 media included). The old trimmed snapshot is only used by
/// the change-list tests.
pub const FIXTURE: &str = "../shared/fixtures/o365-endpoints-worldwide-2025063000.json";
pub const FIXTURE_VERSION: &str = "2025063000";
pub const PROVISIONING: &str = "../shared/fixtures/provisioning-excerpt.txt";

pub fn edgepath(args: &[&str]) -> Output {
    edgepath_in_repo("rules", args)
}

pub fn rules(args: &[&str]) -> String {
    let mut all = vec![
        "rules",
        "--endpoints",
        FIXTURE,
        "--endpoints-version",
        FIXTURE_VERSION,
    ];
    all.extend_from_slice(args);
    let out = edgepath(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "edgepath {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every golden case: file name and arguments.
pub const CASES: &[(&str, &[&str])] = &[
    ("nftables.ref", &["--target", "nftables"]),
    (
        "nftables-legacy-restricted.ref",
        &[
            "--target",
            "nftables",
            "--profile",
            "legacy",
            "--restrict-source-ports",
            "--provisioning",
            PROVISIONING,
            "--dns",
            "192.0.2.53",
            "--dns",
            "2001:db8::53",
        ],
    ),
    ("iptables.ref", &["--target", "iptables"]),
    (
        "iptables-restricted.ref",
        &[
            "--target",
            "iptables",
            "--restrict-source-ports",
            "--dns",
            "192.0.2.53",
            "--policy",
            "accept",
        ],
    ),
    (
        "ip6tables.ref",
        &["--target", "ip6tables", "--dns", "2001:db8::53"],
    ),
    (
        "windows.ref",
        &[
            "--target",
            "windows",
            "--app",
            "C:\\Program Files\\Teams\\ms-teams.exe",
        ],
    ),
    (
        "pac.ref",
        &["--target", "pac", "--proxy", "proxy.example.com:3128"],
    ),
    (
        "pac-type1.ref",
        &[
            "--target",
            "pac",
            "--proxy",
            "proxy.example.com:3128",
            "--pac-type",
            "1",
        ],
    ),
    ("squid.ref", &["--target", "squid"]),
    ("squid-by-name.ref", &["--target", "squid", "--by-name"]),
    ("wireguard.ref", &["--target", "wireguard"]),
    (
        "wireguard-teams-media.ref",
        &["--target", "wireguard", "--split", "teams-media"],
    ),
    ("openvpn.ref", &["--target", "openvpn"]),
    (
        "checklist.ref",
        &["--target", "checklist", "--provisioning", PROVISIONING],
    ),
    (
        "nftables-by-name.ref",
        &["--target", "nftables", "--by-name"],
    ),
];

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

/// Whether a tool can run here; under CI a missing tool fails the test instead.
pub fn available(tool: &str, needs_root: bool) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    let root = !needs_root
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if found && root {
        return true;
    }
    let why = if found {
        "needs root"
    } else {
        "is not installed"
    };
    if std::env::var_os("CI").is_some() {
        panic!("{tool} {why}; .ci/run installs it and runs as root");
    }
    eprintln!("SKIPPED checks with {tool}: it {why}");
    false
}

pub fn write_tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgepath-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `cmd` in a new, empty network namespace (nothing is applied to this machine's
/// own rules, even by mistake), feeding `stdin`.
pub fn in_new_netns(cmd: &[&str], stdin: Option<&str>) -> Output {
    run_with_stdin(
        Command::new("unshare").arg("--net").args(cmd),
        stdin.unwrap_or_default().as_bytes(),
    )
}

pub fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} refused it: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
