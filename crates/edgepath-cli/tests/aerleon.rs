//! `edgepath rules --target aerleon`: our Aerleon input against Aerleon itself. aclgen
//! (PyPI `aerleon`, installed by .ci/run into a virtual environment on PATH) writes the
//! eight default platforms' configurations; each must carry the Teams media ranges and
//! ports; nftables' is loaded with `nft -c`, iptables' with `iptables-restore --test`;
//! aclcheck accepts UDP from 50000 to 52.112.0.1:3478 and not to 8.8.8.8. The policy and
//! definitions themselves are golden files.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{edgepath_in_repo, repo, run_with_stdin};

const FIXTURE: &str = "../shared/fixtures/o365-endpoints-worldwide-2025063000.json";

fn edgepath(args: &[&str]) -> Output {
    edgepath_in_repo("aerleon", args)
}

/// Writes the Aerleon input for the shared 2025063000 list into `dir` (relative to the
/// repository, so the header's command line is the same wherever tests run).
fn generate(dir: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "rules",
        "--target",
        "aerleon",
        "--endpoints",
        FIXTURE,
        "--endpoints-version",
        "2025063000",
        "--out-dir",
        dir,
    ];
    args.extend_from_slice(extra);
    edgepath(&args)
}

fn available(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} is not installed; .ci/run installs aerleon into a virtual environment on PATH");
        }
        eprintln!("SKIPPED checks with {tool}: it is not installed (pip install aerleon)");
    }
    found
}

fn ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn our_policy_and_definitions_match_their_golden_files() {
    let dir = "target/edgepath-aerleon-golden";
    let out = generate(
        dir,
        &[
            "--from-zone",
            "trust",
            "--to-zone",
            "untrust",
            "--dns",
            "192.0.2.53",
        ],
    );
    ok("edgepath rules --target aerleon", &out);
    let bless = std::env::var_os("EDGEPATH_BLESS").is_some();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
    for (file, golden_name) in [
        ("policies/pol/edgepath-teams.yaml", "aerleon-policy.ref"),
        ("def/edgepath.yaml", "aerleon-definitions.ref"),
    ] {
        let got = std::fs::read_to_string(repo().join(dir).join(file)).unwrap();
        let path = golden.join(golden_name);
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (EDGEPATH_BLESS=1 writes it)", path.display()));
        assert!(
            got == want,
            "{file} differs from {golden_name} (review, then EDGEPATH_BLESS=1)"
        );
    }
}

#[test]
fn zones_and_out_dir_are_asked_for_clearly() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[],
            "paloalto, fortigate, srx need --from-zone and --to-zone",
        ),
        (
            &["--from-zone", "trust"],
            "--from-zone and --to-zone together",
        ),
        (
            &["--from-zone", "in side", "--to-zone", "out"],
            "is not a zone name",
        ),
        (
            &["--aerleon-platform", "checkpoint"],
            "`checkpoint` is not an Aerleon platform",
        ),
    ];
    for (extra, want) in cases {
        let out = generate("target/edgepath-aerleon-bad", extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    // Without zones, the platforms that need none.
    let out = generate(
        "target/edgepath-aerleon-nozones",
        &["--aerleon-platform", "nftables,iptables,juniper"],
    );
    ok("aerleon without zones", &out);
    let out = edgepath(&[
        "rules",
        "--target",
        "aerleon",
        "--from-zone",
        "a",
        "--to-zone",
        "b",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --out-dir DIR"));
    let out = edgepath(&["rules", "--target", "nftables", "--out-dir", "x"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--out-dir applies to --target aerleon only")
    );
    let out = edgepath(&[
        "rules",
        "--target",
        "nftables",
        "--from-zone",
        "a",
        "--to-zone",
        "b",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from-zone/--to-zone does not apply"));
}

#[test]
fn aclgen_writes_every_default_platform_and_the_real_tools_accept_them() {
    if !available("aclgen") || !available("aclcheck") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("edgepath-aerleon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = generate(
        dir.to_str().unwrap(),
        &[
            "--from-zone",
            "trust",
            "--to-zone",
            "untrust",
            "--restrict-source-ports",
        ],
    );
    ok("edgepath rules --target aerleon", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No QoS from this for: paloalto, fortigate, srx, ciscoasa, nftables, iptables, windows_advfirewall"), "{text}");
    let gen = Command::new("aclgen")
        .args(["--config_file", "aerleon.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    ok("aclgen", &gen);
    let log = String::from_utf8_lossy(&gen.stderr);
    assert!(!log.contains("error"), "aclgen reported errors:\n{log}");
    // One configuration per platform, each with the media ranges and ports in its own
    // syntax (ASA and FortiGate write masks).
    let outputs: &[(&str, &str, &[&str])] = &[
        (
            "paloalto",
            "edgepath-teams.xml",
            &[
                "52.112.0.0/14",
                "52.122.0.0/15",
                "2603:1063::/38",
                "3478-3481",
            ],
        ),
        (
            "fortigate",
            "edgepath-teams.fgacl",
            &[
                "52.112.0.0 255.252.0.0",
                "52.122.0.0 255.254.0.0",
                "2603:1063::/38",
                "3478-3481",
            ],
        ),
        (
            "srx",
            "edgepath-teams.srx",
            &[
                "52.112.0.0/14",
                "52.122.0.0/15",
                "2603:1063::/38",
                "3478-3481",
            ],
        ),
        (
            "ciscoasa",
            "edgepath-teams.asa",
            &[
                "52.112.0.0 255.252.0.0",
                "52.122.0.0 255.254.0.0",
                "range 3478 3481",
            ],
        ),
        (
            "juniper",
            "edgepath-teams.jcl",
            &[
                "52.112.0.0/14",
                "52.122.0.0/15",
                "2603:1063::/38",
                "3478-3481",
                "dscp ef;",
            ],
        ),
        (
            "nftables",
            "edgepath-teams.nft",
            &[
                "52.112.0.0/14",
                "52.122.0.0/15",
                "2603:1063::/38",
                "3478-3481",
            ],
        ),
        (
            "iptables",
            "edgepath-teams",
            &["52.112.0.0/14", "52.122.0.0/15", "3478:3481"],
        ),
        (
            "windows_advfirewall",
            "edgepath-teams.bat",
            &[
                "52.112.0.0/14",
                "52.122.0.0/15",
                "2603:1063::/38",
                "3478-3481",
            ],
        ),
    ];
    for (platform, file, wants) in outputs {
        let path = dir.join("out").join(file);
        let config = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{platform}: no {}: {e}", path.display()));
        for w in *wants {
            assert!(config.contains(w), "{platform}: {file} lacks `{w}`");
        }
        // The media range restricts the source port where asked.
        assert!(
            config.contains("50000"),
            "{platform}: no media source range"
        );
    }
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if as_root && available("nft") && available("iptables-restore") {
        let nft = Command::new("unshare")
            .args(["--net", "nft", "-c", "-f"])
            .arg(dir.join("out/edgepath-teams.nft"))
            .output()
            .unwrap();
        ok("nft -c -f (Aerleon's nftables)", &nft);
        // Aerleon's iptables output is the rule lines iptables takes one by one; in a
        // table block, iptables-restore checks them all at once.
        let rules = std::fs::read_to_string(dir.join("out/edgepath-teams")).unwrap();
        let body: String = rules
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let restored = run_with_stdin(
            Command::new("unshare").args(["--net", "iptables-restore", "--test"]),
            format!("*filter\n{body}COMMIT\n").as_bytes(),
        );
        ok("iptables-restore --test (Aerleon's iptables)", &restored);
    } else if std::env::var_os("CI").is_some() {
        panic!("nft and iptables-restore need root and must be installed under CI");
    }
    let check = |dest: &str, sport: &str| -> String {
        let o = Command::new("aclcheck")
            .args([
                "--config_file",
                "aerleon.yml",
                "--policy-file",
                "policies/pol/edgepath-teams.yaml",
            ])
            .args([
                "--source",
                "10.0.0.5",
                "--sport",
                sport,
                "--destination",
                dest,
                "--protocol",
                "udp",
                "--dport",
                "3478",
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        ok("aclcheck", &o);
        // The QoS filter passes everything (it only marks DSCP): leave its section out.
        let mut keep = true;
        let mut out = String::new();
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some(name) = line.trim().strip_prefix("filter: ") {
                keep = name != "edgepath-teams-qos";
            }
            if keep {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    };
    let media = check("52.112.0.1", "50000");
    assert!(
        media.contains("term: skype-11-udp") && media.contains("accept"),
        "{media}"
    );
    let other = check("8.8.8.8", "50000");
    assert!(
        !other.contains("skype-11-udp") && !other.contains("accept"),
        "8.8.8.8 must not be accepted: {other}"
    );
    let outside_range = check("52.112.0.1", "40000");
    assert!(
        !outside_range.contains("skype-11-udp"),
        "restricted to the media source range: {outside_range}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hostile_path_stays_in_its_yaml_comment() {
    if !available("aclgen") {
        return;
    }
    let base =
        std::env::temp_dir().join(format!("edgepath-aerleon-hostile-{}", std::process::id()));
    let evil = base.join("x\nfilters: []\n\u{2028}\"'");
    std::fs::create_dir_all(&evil).unwrap();
    let data = evil.join("endpoints\n  - header: {}.json");
    std::fs::copy(repo().join(FIXTURE), &data).unwrap();
    let out_dir = base.join("out dir");
    let out = edgepath(&[
        "rules",
        "--target",
        "aerleon",
        "--endpoints",
        data.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--aerleon-platform",
        "nftables,juniper",
    ]);
    ok("edgepath rules --target aerleon (hostile path)", &out);
    let policy = std::fs::read_to_string(out_dir.join("policies/pol/edgepath-teams.yaml")).unwrap();
    assert_eq!(policy.matches("\nfilters:").count(), 1, "{policy}");
    let gen = Command::new("aclgen")
        .args(["--config_file", "aerleon.yml"])
        .current_dir(&out_dir)
        .output()
        .unwrap();
    ok("aclgen (hostile path)", &gen);
    assert!(out_dir.join("out/edgepath-teams.nft").exists());
    let _ = std::fs::remove_dir_all(&base);
}
