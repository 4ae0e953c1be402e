//! `edgepath rules`: golden files per target from the shared endpoints fixture, the real
//! tools accepting the output (nft, iptables-restore, ip6tables-restore, squid, a PAC
//! evaluated in node), the split-tunnel complement checked exactly, and bad input.
//!
//! Golden files live in `tests/rules/`; `EDGEPATH_BLESS=1 cargo test --test rules`
//! rewrites them after a deliberate change, to be reviewed in the diff.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::generated::*;
use common::{repo, run_with_stdin};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde_json::Value;

#[test]
fn every_target_matches_its_golden_file() {
    let bless = std::env::var_os("EDGEPATH_BLESS").is_some();
    let mut differ = Vec::new();
    for (file, args) in CASES {
        let got = rules(args);
        let path = golden_dir().join(file);
        if bless {
            std::fs::create_dir_all(golden_dir()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (EDGEPATH_BLESS=1 writes it)", path.display()));
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            differ.push(format!("{file}: first difference at line {}", line + 1));
        }
    }
    assert!(
        differ.is_empty(),
        "outputs differ from the golden files (review, then EDGEPATH_BLESS=1): {differ:?}"
    );
}

#[test]
fn every_output_says_what_it_is_and_where_it_came_from() {
    for (file, args) in CASES {
        let text = rules(args);
        let head = unwrapped_header(&text);
        assert!(
            head.contains("Skype for Business Online / Microsoft Teams"),
            "{file}: {head}"
        );
        assert!(
            head.contains(&format!(
                "Endpoint data: endpoint data from {FIXTURE}, Microsoft version 2025063000 (2025-06-30)"
            )),
            "{file}: {head}"
        );
        assert!(
            head.contains("Made by: edgepath rules --target"),
            "{file}: {head}"
        );
    }
}

/// The opening comment as one line: markers and the wrapping indent removed.
fn unwrapped_header(text: &str) -> String {
    text.lines()
        .take(16)
        .map(|l| {
            l.trim_start_matches("<!--")
                .trim_start_matches("//")
                .trim_start_matches('#')
                .trim()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn nft_accepts_the_nftables_output() {
    if !available("nft", true) || !available("unshare", false) {
        return;
    }
    for (file, args) in CASES.iter().filter(|(_, a)| a[1] == "nftables") {
        let path = write_tmp(file, &rules(args));
        let out = in_new_netns(&["nft", "-c", "-f", path.to_str().unwrap()], None);
        assert_ok(&format!("nft -c -f ({file})"), &out);
    }
}

#[test]
fn iptables_restore_accepts_the_iptables_outputs() {
    if !available("iptables-restore", true) || !available("ip6tables-restore", true) {
        return;
    }
    for (file, args) in CASES.iter().filter(|(_, a)| a[1].ends_with("iptables")) {
        let tool = if args[1] == "ip6tables" {
            "ip6tables-restore"
        } else {
            "iptables-restore"
        };
        let out = in_new_netns(&[tool, "--test"], Some(&rules(args)));
        assert_ok(&format!("{tool} --test ({file})"), &out);
    }
}

#[test]
fn squid_parses_the_acls_included_in_a_minimal_config() {
    if !available("squid", false) {
        return;
    }
    for (file, args) in CASES.iter().filter(|(_, a)| a[1] == "squid") {
        let acls = write_tmp(file, &rules(args));
        let conf = write_tmp(
            &format!("{file}.conf"),
            &format!(
                "http_port 127.0.0.1:3128\ninclude {}\nhttp_access deny all\ncache_log /dev/null\naccess_log none\npid_filename none\n",
                acls.display()
            ),
        );
        let out = Command::new("squid")
            .args(["-k", "parse", "-f", conf.to_str().unwrap()])
            .output()
            .unwrap();
        assert_ok(&format!("squid -k parse ({file})"), &out);
        let log = String::from_utf8_lossy(&out.stderr);
        let complaints: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARNING") || l.contains("ERROR") || l.contains("FATAL"))
            .collect();
        assert!(
            complaints.is_empty(),
            "squid complained about {file}: {complaints:?}"
        );
        assert!(
            log.contains("Processing: ssl_bump splice edgepath_tls_names"),
            "{log}"
        );
    }
}

fn eval_pac(pac: &str, hosts: &[&str]) -> BTreeMap<String, String> {
    eval_pac_in(pac, hosts, true)
}

/// Evaluates in node, with or without Microsoft's isInNetEx (Chromium and Windows have
/// it, Firefox does not).
fn eval_pac_in(pac: &str, hosts: &[&str], with_ex: bool) -> BTreeMap<String, String> {
    let path = write_tmp(&format!("test-{with_ex}.pac"), pac);
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pac/pac_eval.js");
    let mut cmd = Command::new("node");
    if !with_ex {
        cmd.env("PAC_NO_EX", "1");
    }
    let out = cmd.arg(harness).arg(&path).args(hosts).output().unwrap();
    assert_ok("node (PAC)", &out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_pac_file_sends_microsoft_direct_and_the_rest_to_the_proxy() {
    if !available("node", false) {
        return;
    }
    let proxy = "PROXY proxy.example.com:3128";
    let type2 = eval_pac(
        &rules(&["--target", "pac", "--proxy", "proxy.example.com:3128"]),
        &[
            "webdir.online.lync.com",
            "teams.microsoft.com",
            "SIPDIR.online.lync.com",
            "52.113.10.1",
            "www.example.com",
            "lync.com.example.net",
            "8.8.8.8",
            "aka.ms",
            "52.122.0.1",
            "2603:1063::1",
            "2001:db8::1",
            "teams.cloud.microsoft",
        ],
    );
    assert_eq!(
        type2["52.122.0.1"], "DIRECT",
        "a relay range new in 2025013000"
    );
    assert_eq!(type2["2603:1063::1"], "DIRECT", "IPv6 media (isInNetEx)");
    assert_eq!(type2["2001:db8::1"], proxy);
    assert_eq!(type2["teams.cloud.microsoft"], "DIRECT");
    let pac = rules(&["--target", "pac", "--proxy", "proxy.example.com:3128"]);
    let firefox = eval_pac_in(&pac, &["2603:1063::1", "52.122.0.1"], false);
    assert_eq!(
        firefox["2603:1063::1"], proxy,
        "no isInNetEx: IPv6 literals take the proxy"
    );
    assert_eq!(firefox["52.122.0.1"], "DIRECT");
    assert_eq!(type2["webdir.online.lync.com"], "DIRECT");
    assert_eq!(type2["teams.microsoft.com"], "DIRECT");
    assert_eq!(
        type2["SIPDIR.online.lync.com"], "DIRECT",
        "host names are not case-sensitive"
    );
    assert_eq!(type2["52.113.10.1"], "DIRECT", "a relay address (Optimize)");
    assert_eq!(type2["www.example.com"], proxy);
    assert_eq!(type2["lync.com.example.net"], proxy);
    assert_eq!(type2["8.8.8.8"], proxy);
    assert_eq!(
        type2["aka.ms"], proxy,
        "a Default-category name goes through the proxy"
    );
    // Type 1: only Optimize direct; the signalling names (Allow) take the proxy.
    let type1 = eval_pac(
        &rules(&[
            "--target",
            "pac",
            "--proxy",
            "proxy.example.com:3128",
            "--pac-type",
            "1",
        ]),
        &[
            "webdir.online.lync.com",
            "outlook.office365.com",
            "52.113.10.1",
        ],
    );
    assert_eq!(type1["webdir.online.lync.com"], proxy);
    assert_eq!(type1["outlook.office365.com"], "DIRECT");
    assert_eq!(type1["52.113.10.1"], "DIRECT");
}

fn to_range(n: &IpNet) -> (u128, u128) {
    match n {
        IpNet::V4(v) => (
            u32::from(v.network()).into(),
            u32::from(v.broadcast()).into(),
        ),
        IpNet::V6(v) => (v.network().into(), v.broadcast().into()),
    }
}

/// Complement plus excluded covers the family's whole space exactly once.
fn assert_partition(mut parts: Vec<(u128, u128)>, max: u128, family: &str) {
    parts.sort_unstable();
    let mut next = 0u128;
    for (a, b) in &parts {
        assert_eq!(*a, next, "{family}: gap or overlap at {next:#x}");
        if *b == max {
            assert_eq!(Some(&(*a, *b)), parts.last(), "{family}: past the end");
            return;
        }
        next = b + 1;
    }
    panic!("{family}: the space is not covered to the end");
}

#[test]
fn the_wireguard_split_tunnel_is_the_exact_complement_of_the_optimize_ranges() {
    let text = rules(&["--target", "wireguard"]);
    let line = text
        .lines()
        .find(|l| l.starts_with("AllowedIPs = "))
        .unwrap();
    let allowed: Vec<IpNet> = line["AllowedIPs = ".len()..]
        .split(", ")
        .map(|s| s.parse().unwrap())
        .collect();
    // The excluded ranges, from the JSON document of the same data: every Optimize
    // set (Exchange 1, SharePoint 31, Teams media 11), Microsoft's advice.
    let doc: Value = serde_json::from_str(&rules(&["--target", "wireguard", "--json"])).unwrap();
    assert_eq!(doc["split"]["mode"], "optimize");
    let outside = doc["split"]["outside_tunnel"].as_array().unwrap();
    let ids: Vec<u64> = outside
        .iter()
        .map(|s| s["endpoint_set"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 31, 11]);
    assert!(doc["split"]["inside_tunnel"].as_array().unwrap().is_empty());
    let excluded: Vec<IpNet> = outside
        .iter()
        .flat_map(|f| f["addresses"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect();
    for net in ["52.112.0.0/14", "52.122.0.0/15", "2603:1063::/38"] {
        assert!(excluded.iter().any(|n| n.to_string() == net), "{net}");
    }
    assert!(text.contains("#   set 31 (SharePoint): "), "{text}");
    let v4_excl = Ipv4Net::aggregate(
        &excluded
            .iter()
            .filter_map(|n| match n {
                IpNet::V4(v) => Some(*v),
                _ => None,
            })
            .collect(),
    );
    let v6_excl = Ipv6Net::aggregate(
        &excluded
            .iter()
            .filter_map(|n| match n {
                IpNet::V6(v) => Some(*v),
                _ => None,
            })
            .collect(),
    );
    let v4: Vec<(u128, u128)> = allowed
        .iter()
        .filter(|n| matches!(n, IpNet::V4(_)))
        .map(to_range)
        .chain(v4_excl.iter().map(|n| to_range(&IpNet::V4(*n))))
        .collect();
    let v6: Vec<(u128, u128)> = allowed
        .iter()
        .filter(|n| matches!(n, IpNet::V6(_)))
        .map(to_range)
        .chain(v6_excl.iter().map(|n| to_range(&IpNet::V6(*n))))
        .collect();
    assert_partition(v4, u32::MAX.into(), "IPv4");
    assert_partition(v6, u128::MAX, "IPv6");
    // Minimal: no two listed blocks are halves of one larger block.
    for w in allowed.windows(2) {
        if let (IpNet::V4(a), IpNet::V4(b)) = (w[0], w[1]) {
            assert!(
                a.prefix_len() != b.prefix_len() || a.supernet() != b.supernet(),
                "{a} {b}"
            );
        }
        if let (IpNet::V6(a), IpNet::V6(b)) = (w[0], w[1]) {
            assert!(
                a.prefix_len() != b.prefix_len() || a.supernet() != b.supernet(),
                "{a} {b}"
            );
        }
    }
    // And the relays are outside the tunnel, an ordinary address inside.
    let inside = |ip: std::net::IpAddr| allowed.iter().any(|n| n.contains(&ip));
    assert!(!inside(Ipv4Addr::new(52, 113, 1, 1).into()));
    assert!(!inside(Ipv4Addr::new(52, 123, 1, 1).into()));
    assert!(!inside("2603:1063::1".parse::<Ipv6Addr>().unwrap().into()));
    assert!(inside(Ipv4Addr::new(192, 0, 2, 1).into()));
    assert!(inside("2001:db8::1".parse::<Ipv6Addr>().unwrap().into()));
}

#[test]
fn the_json_document_lists_flows_qos_and_the_config() {
    let doc: Value = serde_json::from_str(&rules(&["--target", "nftables", "--json"])).unwrap();
    assert_eq!(doc["target"], "nftables");
    assert!(doc["config"]
        .as_str()
        .unwrap()
        .starts_with("#!/usr/sbin/nft -f"));
    let relay = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["endpoint_set"] == 11)
        .unwrap();
    assert_eq!(relay["protocol"], "udp");
    assert_eq!(relay["ports"], serde_json::json!(["3478-3481"]));
    assert_eq!(relay["media"], true);
    assert_eq!(relay["source_ports"], Value::Null);
    assert_eq!(
        doc["qos"][0],
        serde_json::json!({"modality": "audio", "ports": "50000-50019", "dscp": 46})
    );
    assert!(doc["notes"][0]
        .as_str()
        .unwrap()
        .contains("names but no addresses"));
}

#[test]
fn bad_options_and_data_exit_2_with_a_clear_message() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["rules", "--target", "cisco"],
            "unknown target `cisco`; one of: nftables",
        ),
        (&["rules"], "--target"),
        (
            &["rules", "--target", "pac"],
            "--target pac needs --proxy HOST:PORT",
        ),
        (
            &["rules", "--target", "nftables", "--proxy", "p:3128"],
            "--proxy does not apply to --target nftables (only to pac)",
        ),
        (
            &["rules", "--target", "pac", "--proxy", "p:99999"],
            "`p:99999` is not HOST:PORT",
        ),
        (
            &["rules", "--target", "pac", "--proxy", "p\"x:1"],
            "is not HOST:PORT",
        ),
        (
            &[
                "rules",
                "--target",
                "pac",
                "--proxy",
                "p:1",
                "--pac-type",
                "3",
            ],
            "`3` is not a PAC type",
        ),
        (
            &["rules", "--target", "wireguard", "--restrict-source-ports"],
            "--restrict-source-ports does not apply to --target wireguard",
        ),
        (
            &["rules", "--target", "nftables", "--split", "teams-media"],
            "--split does not apply to --target nftables (only to wireguard, openvpn)",
        ),
        (
            &["rules", "--target", "wireguard", "--split", "all"],
            "unknown split `all`",
        ),
        (
            &["rules", "--target", "squid", "--app", "x.exe"],
            "--app does not apply to --target squid (only to windows)",
        ),
        (
            &["rules", "--target", "windows", "--policy", "drop"],
            "--policy does not apply to --target windows",
        ),
        (
            &["rules", "--target", "nftables", "--dns", "resolver"],
            "invalid value 'resolver' for '--dns <ADDRESS>'",
        ),
        (
            &[
                "rules",
                "--target",
                "nftables",
                "--provisioning",
                "/nonexistent/prov.txt",
            ],
            "/nonexistent/prov.txt",
        ),
    ];
    for (args, want) in cases {
        let out = edgepath(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: nothing on stdout on an error"
        );
    }
    // Endpoint data without a Skype area: refused, naming the file.
    let exchange_only = write_tmp(
        "exchange-only.json",
        r#"[{"id": 1, "serviceArea": "Exchange", "category": "Optimize", "required": true, "urls": ["outlook.office365.com"], "ips": ["13.107.6.152/31"], "tcpPorts": "443"}]"#,
    );
    let out = edgepath(&[
        "rules",
        "--target",
        "nftables",
        "--endpoints",
        exchange_only.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exchange-only.json") && err.contains("no Skype service area"),
        "{err}"
    );
}

#[test]
fn restricting_source_ports_uses_the_provisioned_media_range() {
    let text = rules(&[
        "--target",
        "nftables",
        "--restrict-source-ports",
        "--provisioning",
        PROVISIONING,
    ]);
    assert!(
        text.contains("ip daddr @skype_11_v4 udp sport 50000-50059 udp dport 3478-3481"),
        "{text}"
    );
    // Signalling is never filtered by source port.
    assert!(
        text.contains("ip daddr @skype_12_v4 tcp dport { 80, 443 }"),
        "{text}"
    );
    let legacy = rules(&["--target", "nftables", "--profile", "legacy"]);
    assert!(
        legacy.contains("ip daddr @skype_11_v4 udp dport { 3478-3481, 50000-59999 }"),
        "{legacy}"
    );
    assert!(
        legacy.contains("ip daddr @skype_11_v4 tcp dport 50000-59999"),
        "{legacy}"
    );
}

#[test]
fn a_teams_only_split_keeps_exchange_and_sharepoint_in_the_tunnel_and_says_so() {
    let doc: Value = serde_json::from_str(&rules(&[
        "--target",
        "openvpn",
        "--split",
        "teams-media",
        "--json",
    ]))
    .unwrap();
    assert_eq!(doc["split"]["mode"], "teams-media");
    let ids = |k: &str| -> Vec<u64> {
        doc["split"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["endpoint_set"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids("outside_tunnel"), [11]);
    assert_eq!(ids("inside_tunnel"), [1, 31]);
    let text = doc["config"].as_str().unwrap();
    let routes: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        routes,
        [
            "route 52.112.0.0 255.252.0.0 net_gateway",
            "route 52.122.0.0 255.254.0.0 net_gateway",
            "route-ipv6 2603:1063::/38 net_gateway"
        ]
    );
    assert!(text.contains("# Optimize sets left inside the tunnel (--split teams-media):"));
    assert!(text.contains("#   set 31 (SharePoint): "), "{text}");
}

#[test]
fn every_target_carries_the_ipv6_media_range_and_the_new_relay_range() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--target", "nftables"],
            &["2603:1063::/38", "52.122.0.0/15"],
        ),
        (&["--target", "iptables"], &["52.122.0.0/15"]),
        (&["--target", "ip6tables"], &["2603:1063::/38"]),
        (
            &["--target", "windows"],
            &["2603:1063::/38", "52.122.0.0/15"],
        ),
        (
            &["--target", "pac", "--proxy", "p.example:8080"],
            &[
                "isInNetEx(host, \"2603:1063::/38\")",
                "\"52.122.0.0\", \"255.254.0.0\"",
            ],
        ),
        (&["--target", "squid"], &["2603:1063::/38", "52.122.0.0/15"]),
        (
            &["--target", "wireguard"],
            &["#   set 11 (Skype): 52.112.0.0/14, 52.122.0.0/15, 2603:1063::/38"],
        ),
        (
            &["--target", "openvpn"],
            &[
                "route-ipv6 2603:1063::/38 net_gateway",
                "route 52.122.0.0 255.254.0.0 net_gateway",
            ],
        ),
        (
            &["--target", "checklist"],
            &["2603:1063::/38", "52.122.0.0/15"],
        ),
    ];
    for (args, wants) in cases {
        let text = rules(args);
        for want in *wants {
            assert!(text.contains(want), "{args:?}: no `{want}`");
        }
        // (WireGuard lists the complement, which may contain any other block.)
        if args[1] != "wireguard" {
            assert!(
                !text.contains("13.107.64.0/18"),
                "{args:?}: a range Microsoft no longer lists"
            );
        }
    }
}

/// A directory whose name breaks every comment syntax we write: newlines, a carriage
/// return, JavaScript's line and paragraph separators, quotes, a comment closer.
fn hostile_dir() -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("edgepath-hostile-{}", std::process::id()))
        .join("x\nadd table ip pwned\r\n-A OUTPUT -j ACCEPT\u{2028}alert(1)\u{2029}*/ \"'\u{85}");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn hostile_paths_and_values_do_not_break_any_generated_file() {
    let dir = hostile_dir();
    let endpoints = dir.join("endpoints\nhttp_access allow all.json");
    std::fs::copy(repo().join(FIXTURE), &endpoints).unwrap();
    let provisioning = dir.join("prov\nacl all src all.txt");
    std::fs::copy(repo().join(PROVISIONING), &provisioning).unwrap();
    let (e, p) = (endpoints.to_str().unwrap(), provisioning.to_str().unwrap());
    let app = "C:\\Users\\O'Brien\u{2019}s\\Teams\\ms-teams.exe";
    let run = |extra: &[&str]| -> String {
        let mut args = vec!["rules", "--endpoints", e, "--provisioning", p];
        args.extend_from_slice(extra);
        let out = edgepath(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let targets: &[&[&str]] = &[
        &["--target", "nftables"],
        &["--target", "iptables"],
        &["--target", "ip6tables"],
        &["--target", "windows", "--app", app],
        &["--target", "pac", "--proxy", "proxy.example.com:3128"],
        &["--target", "squid"],
        &["--target", "wireguard"],
        &["--target", "openvpn"],
        &["--target", "checklist"],
    ];
    let mut outputs = BTreeMap::new();
    for t in targets {
        let text = run(t);
        // The header is still comments only, and says the path with visible escapes.
        let marker = if t[1] == "pac" {
            "//"
        } else if t[1] == "checklist" {
            ""
        } else {
            "#"
        };
        let head: Vec<&str> = text
            .lines()
            .take_while(|l| !l.is_empty() && !l.starts_with("table"))
            .collect();
        if !marker.is_empty() {
            for l in head.iter().take(4) {
                assert!(
                    l.starts_with(marker),
                    "{t:?}: a header line escaped its comment: {l:?}"
                );
            }
        }
        assert!(
            unwrapped_header(&text).contains("x\\nadd table ip pwned\\r\\n-A OUTPUT"),
            "{t:?}: {}",
            &text[..600.min(text.len())]
        );
        assert!(
            !text.contains('\u{2028}') && !text.contains('\u{2029}') && !text.contains('\u{85}')
        );
        outputs.insert(t[1], text);
    }
    // Windows: the program path is one PowerShell single-quoted string, quotes doubled.
    assert!(outputs["windows"]
        .contains("-Program 'C:\\Users\\O''Brien\u{2019}\u{2019}s\\Teams\\ms-teams.exe'"));
    // Each loaded into its real tool.
    if available("nft", true) && available("unshare", false) {
        let path = write_tmp("hostile.nft", &outputs["nftables"]);
        assert_ok(
            "nft -c (hostile)",
            &in_new_netns(&["nft", "-c", "-f", path.to_str().unwrap()], None),
        );
    }
    if available("iptables-restore", true) {
        assert_ok(
            "iptables-restore (hostile)",
            &in_new_netns(&["iptables-restore", "--test"], Some(&outputs["iptables"])),
        );
        assert_ok(
            "ip6tables-restore (hostile)",
            &in_new_netns(
                &["ip6tables-restore", "--test"],
                Some(&outputs["ip6tables"]),
            ),
        );
    }
    if available("squid", false) {
        let acls = write_tmp("hostile-squid.conf", &outputs["squid"]);
        let conf = write_tmp(
            "hostile-squid-main.conf",
            &format!(
                "http_port 127.0.0.1:3128\ninclude {}\nhttp_access deny all\ncache_log /dev/null\naccess_log none\npid_filename none\n",
                acls.display()
            ),
        );
        let out = Command::new("squid")
            .args(["-k", "parse", "-f", conf.to_str().unwrap()])
            .output()
            .unwrap();
        assert_ok("squid -k parse (hostile)", &out);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            !log.contains("http_access allow all"),
            "the path became a directive: {log}"
        );
    }
    if available("node", false) {
        let got = eval_pac(&outputs["pac"], &["teams.microsoft.com", "example.com"]);
        assert_eq!(got["teams.microsoft.com"], "DIRECT");
        assert_eq!(got["example.com"], "PROXY proxy.example.com:3128");
    }
    if available("wg", false) && available("wireguard-go", true) {
        assert!(!wg_allowed_ips(&outputs["wireguard"]).is_empty());
    }
    if available("openvpn", false) {
        openvpn_parses(&outputs["openvpn"]);
    }
    for t in ["wireguard", "openvpn"] {
        let directives: Vec<&str> = outputs[t].lines().filter(|l| !l.starts_with('#')).collect();
        assert!(
            directives.iter().all(|l| l.starts_with("AllowedIPs = ")
                || l.starts_with("route ")
                || l.starts_with("route-ipv6 ")),
            "{t}: {directives:?}"
        );
    }
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// Loads a WireGuard output into a real WireGuard interface (wireguard-go in a new
/// network namespace: this kernel may have no WireGuard module) with `wg setconf`, and
/// returns the allowed IPs `wg show` reports.
fn wg_allowed_ips(fragment: &str) -> Vec<IpNet> {
    let key = |args: &[&str], input: Option<&str>| -> String {
        let out = run_with_stdin(
            Command::new("wg").args(args),
            input.unwrap_or_default().as_bytes(),
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let private = key(&["genkey"], None);
    let peer = key(&["pubkey"], Some(&key(&["genkey"], None)));
    let conf = write_tmp(
        "wg-test.conf",
        &format!("[Interface]\nPrivateKey = {private}\n\n[Peer]\nPublicKey = {peer}\n{fragment}"),
    );
    // A name of our own per run; wireguard-go ends (and removes its socket) on TERM.
    let ifname = format!("epwg{}", std::process::id() % 100_000);
    let script = format!(
        "WG_PROCESS_FOREGROUND=1 wireguard-go {ifname} >/dev/null 2>&1 & pid=$!; \
         for i in $(seq 50); do [ -S /var/run/wireguard/{ifname}.sock ] && break; sleep 0.1; done; \
         wg setconf {ifname} {conf}; rc=$?; wg show {ifname} allowed-ips; kill $pid; wait $pid; exit $rc",
        conf = conf.display()
    );
    let out = in_new_netns(&["sh", "-c", &script], None);
    assert_ok("wg setconf", &out);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .skip(1) // the peer's public key
        .map(|n| n.parse().unwrap())
        .collect()
}

/// Parses an OpenVPN output with OpenVPN's own option parser (its crypto self-test
/// mode reads the whole configuration and then exits).
fn openvpn_parses(config: &str) -> String {
    let conf = write_tmp("openvpn-test.conf", config);
    let key = write_tmp("openvpn-test.key", "");
    let out = Command::new("openvpn")
        .args(["--genkey", "secret", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok("openvpn --genkey", &out);
    let out = Command::new("openvpn")
        .args([
            "--config",
            conf.to_str().unwrap(),
            "--test-crypto",
            "--secret",
        ])
        .arg(&key)
        .args(["--cipher", "AES-256-CBC", "--verb", "4"])
        .output()
        .unwrap();
    assert_ok("openvpn --config (parse)", &out);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(log.contains("self-test mode SUCCEEDED"), "{log}");
    log
}

#[test]
fn wireguard_and_openvpn_accept_the_split_tunnels() {
    for split in ["optimize", "teams-media"] {
        let wg = rules(&["--target", "wireguard", "--split", split]);
        let ovpn = rules(&["--target", "openvpn", "--split", split]);
        for text in [&wg, &ovpn] {
            assert!(
                text.lines()
                    .all(|l| l.len() < 256 || l.starts_with("AllowedIPs")),
                "OpenVPN refuses lines of 256 characters and more"
            );
        }
        if available("wg", false) && available("wireguard-go", true) {
            let want: Vec<IpNet> = wg
                .lines()
                .find_map(|l| l.strip_prefix("AllowedIPs = "))
                .unwrap()
                .split(", ")
                .map(|n| n.parse().unwrap())
                .collect();
            let mut got = wg_allowed_ips(&wg);
            let mut want_sorted = want.clone();
            got.sort();
            want_sorted.sort();
            assert_eq!(
                got, want_sorted,
                "{split}: wg took other ranges than written"
            );
        }
        if available("openvpn", false) {
            let log = openvpn_parses(&ovpn);
            assert!(
                log.contains("route 52.112.0.0/255.252.0.0/net_gateway"),
                "{log}"
            );
            assert!(
                log.contains("route 52.122.0.0/255.254.0.0/net_gateway"),
                "{log}"
            );
            let exchange = log.contains("route 52.96.0.0/255.252.0.0/net_gateway");
            assert_eq!(
                exchange,
                split == "optimize",
                "{split}: Exchange outside the tunnel"
            );
        }
    }
}
