//! `edgepath audit` against real configurations: every generated firewall, proxy, PAC
//! and VPN file audited back, Debian's and OpenWrt's default rulesets, Microsoft's own
//! PAC files, fixes applied with the real nft and iptables and audited again, bad
//! input named by file and line. Golden files live in `tests/rules/audit-*`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::generated::*;
use common::run_with_stdin;
use serde_json::Value;

/// `edgepath audit` of every firewall `rules` writes (nftables through `nft -j list
/// ruleset` in a scratch namespace, iptables and ip6tables as written) predicts the
/// best path for every modality and direct reach for every service, on both hooks.
#[test]
fn audit_of_every_generated_firewall_predicts_relay_udp_and_direct_services() {
    let nft = available("nft", true) && available("unshare", false);
    let targets = ["nftables", "iptables", "ip6tables"];
    for (file, args) in CASES.iter().filter(|(_, a)| targets.contains(&a[1])) {
        let text = rules(args);
        let path = if args[1] == "nftables" {
            if !nft {
                continue;
            }
            let p = write_tmp(file, &text);
            let script = format!("nft -f {} && nft -j list ruleset", p.display());
            let out = in_new_netns(&["sh", "-c", &script], None);
            assert_ok(&format!("nft -f then -j list ({file})"), &out);
            write_tmp(
                &format!("{file}.json"),
                &String::from_utf8_lossy(&out.stdout),
            )
        } else {
            write_tmp(file, &text)
        };
        let family = if args[1] == "ip6tables" {
            "ipv6"
        } else if args[1] == "iptables" {
            "ipv4"
        } else {
            "both"
        };
        for hook in ["forward", "output"] {
            let mut audit = vec![
                "audit",
                path.to_str().unwrap(),
                "--json",
                "--hook",
                hook,
                "--family",
                family,
                "--endpoints",
                FIXTURE,
                "--endpoints-version",
                FIXTURE_VERSION,
            ];
            // The same model the rules were made from.
            for flag in ["--profile", "--provisioning"] {
                if let Some(i) = args.iter().position(|a| *a == flag) {
                    audit.extend_from_slice(&[flag, args[i + 1]]);
                }
            }
            let out = edgepath(&audit);
            let doc: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|_| panic!("{file}: {}", String::from_utf8_lossy(&out.stderr)));
            for m in doc["modalities"].as_array().unwrap() {
                assert_eq!(m["path"], "relay-udp", "{file} {hook}: {m}");
            }
            for s in doc["services"].as_array().unwrap() {
                assert_eq!(s["via"], "direct", "{file} {hook}: {s}");
            }
            assert_eq!(doc["unknown"], 0, "{file} {hook}");
            assert_eq!(out.status.code(), Some(0), "{file} {hook}");
        }
    }
}

/// `edgepath audit` of every proxy, PAC and VPN configuration `rules` writes: media
/// keeps UDP to the relays (relay-udp, good: a split tunnel leaves it out), services
/// are reached as the file intends (direct; Microsoft's type 1 PAC sends only the
/// Optimize names direct, the rest to the proxy), nothing is unknown; behind a
/// firewall that lets clients out only through the proxy, the generated squid.conf
/// lets every service through without bumping it.
#[test]
fn audit_of_every_generated_proxy_pac_and_vpn_file_keeps_media_direct() {
    let targets = ["squid", "pac", "wireguard", "openvpn"];
    let proxy_only = write_tmp(
        "round-trip-proxy-only.rules",
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.2 -j ACCEPT\n-A FORWARD -d 10.0.0.2 -p tcp --dport 3128 -j ACCEPT\nCOMMIT\n",
    );
    for (file, args) in CASES.iter().filter(|(_, a)| targets.contains(&a[1])) {
        let mut text = rules(args);
        if args[1] == "openvpn" {
            // The lines go into a client configuration that sends the rest through the
            // tunnel, as the file's own comment says.
            text = format!("remote 198.51.100.7 1194\nredirect-gateway def1 ipv6\n{text}");
        }
        let path = write_tmp(file, &text);
        let mut audit = vec![
            "audit",
            path.to_str().unwrap(),
            "--json",
            "--endpoints",
            FIXTURE,
            "--endpoints-version",
            FIXTURE_VERSION,
            "--proxy",
            "10.0.0.2:3128",
            "--client",
            "192.168.1.10",
        ];
        let out = edgepath(&audit);
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{file}: {}", String::from_utf8_lossy(&out.stderr)));
        for m in doc["modalities"].as_array().unwrap() {
            assert_eq!(m["path"], "relay-udp", "{file}: {m}");
            assert_eq!(m["status"], "good", "{file}: {m}");
        }
        let type1 = args.contains(&"--pac-type");
        for s in doc["services"].as_array().unwrap() {
            assert_eq!(s["reachable"], true, "{file}: {s}");
            let want = if type1 && s["service"] != "ews" {
                "proxy"
            } else {
                "direct"
            };
            assert_eq!(s["via"], want, "{file}: {s}");
        }
        assert_eq!(doc["unknown"], 0, "{file}");
        match args[1] {
            "wireguard" | "openvpn" => {
                assert_eq!(doc["vpn"]["state"], "split", "{file}: {}", doc["vpn"]);
                assert!(
                    !doc["vpn"]["media"].as_array().unwrap().is_empty(),
                    "{file}"
                );
            }
            "pac" => {
                let q = doc["pac"]["questions"].as_array().unwrap();
                assert_eq!(q.len(), 6, "{file}");
                assert!(q.iter().all(|q| q["error"].is_null()), "{file}: {q:?}");
                let relays = q.iter().find(|q| q["target"] == "relays").unwrap();
                assert_eq!(relays["answer"], "DIRECT", "{file}");
            }
            _ => {
                // Through the proxy only: Squid decides, and lets everything through.
                // (IPv4: the firewall is iptables.)
                audit.extend_from_slice(&[proxy_only.to_str().unwrap(), "--family", "ipv4"]);
                let out = edgepath(&audit);
                let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
                for s in doc["services"].as_array().unwrap() {
                    assert_eq!(s["via"], "proxy", "{file}: {s}");
                    assert_eq!(s["intercepted"], false, "{file}: {s}");
                }
                for m in doc["modalities"].as_array().unwrap() {
                    assert_eq!(m["path"], "relay-tcp-proxy", "{file}: {m}");
                }
            }
        }
    }
}

/// Malformed configurations exit 2 naming the file and the line.
#[test]
fn audit_names_the_file_and_line_of_bad_input() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "bad.json",
            "{\"nftables\": [\n  {\"table\": }\n]}",
            "bad.json:2: not JSON",
        ),
        (
            "bad.rules",
            "*filter\n:FORWARD DROP [0:0]\nthis is not a rule\nCOMMIT\n",
            "bad.rules:3: expected `-A CHAIN",
        ),
        (
            "quote.rules",
            "*filter\n-A FORWARD -m comment --comment \"open -j ACCEPT\nCOMMIT\n",
            "quote.rules:2: an unclosed quote",
        ),
        (
            "port.rules",
            "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p udp --dport 99999 -j ACCEPT\nCOMMIT\n",
            "port.rules:3: port `99999`",
        ),
        (
            "plain.txt",
            "hello\n",
            "plain.txt: not a configuration audit reads",
        ),
    ];
    for (name, text, want) in cases {
        let p = write_tmp(name, text);
        let out = edgepath(&["audit", p.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
}

/// `edgepath audit --json` (IPv4, the endpoint fixture) of `files` with `extra` options;
/// `what` names the case in a failure.
fn audit_json(what: &str, files: &[&Path], extra: &[&str]) -> Value {
    let mut args = vec![
        "audit",
        "--json",
        "--family",
        "ipv4",
        "--endpoints",
        FIXTURE,
        "--endpoints-version",
        FIXTURE_VERSION,
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend(extra);
    let out = edgepath(&args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: {e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// `load`, then `extra` commands, then `export` in a scratch network namespace; what
/// `export` printed, in a file named after `name`.
fn exported(name: &str, load: &str, extra: &str, export: &str) -> PathBuf {
    let script = format!("{load} && {extra} {export}");
    let out = in_new_netns(&["sh", "-c", &script], None);
    assert_ok(&format!("{name}: {script}"), &out);
    write_tmp(
        &format!("{name}.export"),
        &String::from_utf8_lossy(&out.stdout),
    )
}

/// The distinct fix commands of every entry of `items` (modalities or services), as
/// one shell line of `cmd && ` parts; `what` names the case.
fn fix_script(what: &str, items: &Value) -> String {
    let mut commands: Vec<String> = Vec::new();
    for m in items.as_array().unwrap() {
        for fix in m["fix"].as_array().unwrap() {
            let c = format!("{} && ", fix["command"].as_str().unwrap());
            if !commands.contains(&c) {
                commands.push(c);
            }
        }
    }
    assert!(!commands.is_empty(), "{what}: no fix proposed");
    commands.concat()
}

/// The fixes `audit` proposes are real commands: applied with nft and iptables to the
/// configuration in a scratch namespace, exported again and audited, every modality has
/// UDP to the relays (where UDP was dropped), every service is reached directly (where
/// TCP was).
#[test]
fn audit_fixes_applied_with_the_real_tools_give_relay_udp() {
    if !available("nft", true)
        || !available("unshare", false)
        || !available("iptables-restore", false)
    {
        return;
    }
    let nft = "table inet site {\n  chain forward {\n    type filter hook forward priority filter; policy drop;\n    ct state established,related accept\n    tcp dport { 80, 443 } accept\n    udp dport 3478-3481 drop\n  }\n}\n";
    let ipt = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -p tcp -m multiport --dports 80,443 -j ACCEPT\n-A FORWARD -p udp --dport 3478:3481 -j DROP\nCOMMIT\n";
    let nft_udp_only = "table inet site {\n  chain forward {\n    type filter hook forward priority filter; policy drop;\n    udp dport 3478-3481 accept\n  }\n}\n";
    let ipt_udp_only =
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p udp --dport 3478:3481 -j ACCEPT\nCOMMIT\n";
    // (file, text, load, export, whose fixes: modalities or services)
    let cases = [
        (
            "fix.nft",
            nft,
            "nft -f {f}",
            "nft -j list ruleset",
            "modalities",
        ),
        (
            "fix.rules",
            ipt,
            "iptables-restore < {f}",
            "iptables-save",
            "modalities",
        ),
        (
            "fix-svc.nft",
            nft_udp_only,
            "nft -f {f}",
            "nft -j list ruleset",
            "services",
        ),
        (
            "fix-svc.rules",
            ipt_udp_only,
            "iptables-restore < {f}",
            "iptables-save",
            "services",
        ),
    ];
    for (name, text, load, export, part) in cases {
        let f = write_tmp(name, text);
        let load = load.replace("{f}", f.to_str().unwrap());
        let exported = |extra: &str| exported(name, &load, extra, export);
        let audit = |p: &Path| audit_json(name, &[p], &[]);
        let before = audit(&exported(""));
        for m in before[part].as_array().unwrap() {
            if part == "modalities" {
                assert_eq!(m["path"], "relay-tcp", "{name}: {m}");
            } else {
                assert_eq!(m["via"], "none", "{name}: {m}");
            }
        }
        let commands = fix_script(name, &before[part]);
        let after = audit(&exported(&commands));
        for m in after[part].as_array().unwrap() {
            if part == "modalities" {
                assert_eq!(m["path"], "relay-udp", "{name} after {commands:?}: {m}");
            } else {
                assert_eq!(m["via"], "direct", "{name} after {commands:?}: {m}");
            }
        }
    }
}

/// `audit` of configurations no one here wrote, as Debian installs them: the default
/// /etc/nftables.conf (loaded and exported with `nft -j`) and the default
/// /etc/squid/squid.conf behind a firewall that lets clients out only through the
/// proxy. Golden outputs in tests/rules/audit-*.txt (EDGEPATH_BLESS=1 rewrites them).
#[test]
fn audit_of_debian_defaults_matches_its_golden_files() {
    if !available("nft", true) || !available("unshare", false) {
        return;
    }
    let (nft_conf, squid_conf) = (
        Path::new("/etc/nftables.conf"),
        Path::new("/etc/squid/squid.conf"),
    );
    for p in [nft_conf, squid_conf] {
        if !p.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing under CI (.ci/run installs nftables and squid-openssl)",
                p.display()
            );
            eprintln!("SKIPPED audit of Debian's defaults: no {}", p.display());
            return;
        }
    }
    // nft -f loads the file as Debian ships it (it flushes only the scratch namespace).
    let out = in_new_netns(
        &[
            "sh",
            "-c",
            "nft -f /etc/nftables.conf && nft -j list ruleset",
        ],
        None,
    );
    assert_ok("nft -f /etc/nftables.conf", &out);
    let debian_nft = write_tmp(
        "debian-nftables.json",
        &String::from_utf8_lossy(&out.stdout),
    );
    // Out only through the proxy at 10.0.0.2:3128, which may go anywhere.
    let proxy_only = write_tmp(
        "proxy-only.rules",
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.2 -j ACCEPT\n-A FORWARD -d 10.0.0.2 -p tcp --dport 3128 -j ACCEPT\nCOMMIT\n",
    );
    let squid = write_tmp("squid.conf", &std::fs::read_to_string(squid_conf).unwrap());
    // The rules ufw writes when enabled (default: deny incoming, allow outgoing, deny
    // routed) with one allow, in a scratch network namespace and a private mount of a
    // copy of /etc/ufw, so this machine's own ufw is not touched.
    let ufw_copy = write_tmp("ufw", "").with_extension("d");
    let _ = std::fs::remove_dir_all(&ufw_copy);
    let copy = Command::new("cp")
        .args(["-a", "/etc/ufw"])
        .arg(&ufw_copy)
        .status()
        .unwrap();
    assert!(copy.success(), "cp -a /etc/ufw");
    let script = format!(
        "mount --bind {} /etc/ufw && ufw --force enable >/dev/null && ufw allow 22/tcp >/dev/null && iptables-save",
        ufw_copy.display()
    );
    let out = run_with_stdin(
        Command::new("unshare").args(["--net", "--mount", "sh", "-c", &script]),
        b"",
    );
    assert_ok("ufw enable in a scratch namespace", &out);
    // iptables-save's header and counters carry the date: keep the rules.
    let saved: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let ufw = write_tmp("ufw.rules", &saved);
    let cases: [(&str, Vec<&str>); 4] = [
        (
            "audit-debian-nftables.txt",
            vec![debian_nft.to_str().unwrap()],
        ),
        (
            "audit-ufw-output.txt",
            vec![ufw.to_str().unwrap(), "--hook", "output"],
        ),
        (
            "audit-ufw-forward.txt",
            vec![ufw.to_str().unwrap(), "--hook", "forward"],
        ),
        (
            "audit-debian-squid.txt",
            vec![
                proxy_only.to_str().unwrap(),
                squid.to_str().unwrap(),
                "--proxy",
                "10.0.0.2:3128",
                "--client",
                "192.168.1.10",
            ],
        ),
    ];
    for (golden, files) in cases {
        audit_matches_golden(golden, &files);
    }
}

/// `edgepath audit FILES...` (IPv4, the endpoint fixture) against tests/rules/GOLDEN;
/// EDGEPATH_BLESS=1 rewrites it.
fn audit_matches_golden(golden: &str, files: &[&str]) {
    let mut args = vec![
        "audit",
        "--family",
        "ipv4",
        "--endpoints",
        FIXTURE,
        "--endpoints-version",
        FIXTURE_VERSION,
    ];
    args.extend(files);
    let out = edgepath(&args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{golden}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The scratch files' directory differs per run.
    let dir = write_tmp("x", "").parent().unwrap().display().to_string();
    let got = String::from_utf8_lossy(&out.stdout).replace(&dir, "TMP");
    let path = golden_dir().join(golden);
    if std::env::var_os("EDGEPATH_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (EDGEPATH_BLESS=1 writes it)", path.display()));
    assert_eq!(
        got, want,
        "{golden} differs (EDGEPATH_BLESS=1 after a deliberate change)"
    );
}

/// `audit` of PAC files with the logic and layout of Microsoft's Get-PacFile (types 1
/// and 2, tests/audit/microsoft_pac.py from the endpoint fixture), behind a firewall
/// that lets clients out only through the proxy the PAC names: names the PAC sends
/// DIRECT are blocked, the relays (reached by address, which Microsoft's PAC does not
/// match) go through the proxy. Golden outputs in tests/rules/audit-microsoft-pac-*.txt.
#[test]
fn audit_of_microsoft_pac_files_matches_its_golden_files() {
    let proxy_only = write_tmp(
        "pac-proxy-only.rules",
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.2 -j ACCEPT\n-A FORWARD -d 10.0.0.2 -p tcp --dport 3128 -j ACCEPT\nCOMMIT\n",
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit");
    for kind in ["1", "2"] {
        // The PAC is regenerated from the fixture, so the committed copy cannot drift.
        let out = Command::new("python3")
            .arg(dir.join("microsoft_pac.py"))
            .args([FIXTURE, kind, "10.0.0.2:3128"])
            .current_dir(common::repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read(dir.join(format!("microsoft-type{kind}.pac"))).unwrap();
        assert_eq!(
            out.stdout, committed,
            "microsoft-type{kind}.pac is not what the script writes"
        );
        let pac = write_tmp(
            &format!("microsoft-type{kind}.pac"),
            &String::from_utf8_lossy(&out.stdout),
        );
        audit_matches_golden(
            &format!("audit-microsoft-pac-type{kind}.txt"),
            &[
                pac.to_str().unwrap(),
                proxy_only.to_str().unwrap(),
                "--proxy",
                "10.0.0.2:3128",
                "--client",
                "192.168.1.10",
            ],
        );
    }
}

/// A router whose every decision sits behind an interface match (OpenWrt's fw4 layout,
/// and the same zones in iptables-save), loaded into a scratch namespace by the real
/// tools and exported: without --in/--out the audit says it cannot decide and why;
/// with them, the LAN gets relay-udp and the guest zone (web only) relay-tcp, with a
/// fix scoped to the guest's interfaces that, applied with the real tool, gives
/// relay-udp.
#[test]
fn audit_of_a_router_with_zones_uses_the_interfaces_given() {
    if !available("nft", true)
        || !available("unshare", false)
        || !available("iptables-restore", false)
    {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit");
    let fw4 = dir.join("openwrt-fw4.nft");
    let zones = dir.join("zones.rules");
    // (name, load, export)
    let cases = [
        (
            "fw4",
            format!("nft -f {}", fw4.display()),
            "nft -j list ruleset",
        ),
        (
            "zones",
            format!("iptables-restore < {}", zones.display()),
            "iptables-save",
        ),
    ];
    for (name, load, export) in cases {
        let exported = |extra: &str| exported(name, &load, extra, export);
        let audit = |p: &Path, sides: &[&str]| audit_json(name, &[p], sides);
        let paths = |doc: &Value| -> Vec<Value> {
            doc["modalities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["path"].clone())
                .collect()
        };
        let file = exported("");

        let blind = audit(&file, &[]);
        assert!(paths(&blind).iter().all(Value::is_null), "{name}: {blind}");
        assert!(blind["unknown"].as_u64().unwrap() > 0, "{name}");
        let why = blind.to_string();
        assert!(why.contains("(--in NAME)"), "{name}: {why}");

        let lan = audit(&file, &["--in", "br-lan", "--out", "wan"]);
        assert!(
            paths(&lan).iter().all(|p| p == "relay-udp"),
            "{name}: {lan}"
        );
        assert_eq!(lan["unknown"], 0, "{name}: {lan}");
        assert_eq!(lan["interfaces"]["in"], "br-lan");
        for s in lan["services"].as_array().unwrap() {
            assert_eq!(s["via"], "direct", "{name}: {s}");
        }
        // Out by another interface than `wan*`: nothing passes.
        let elsewhere = audit(&file, &["--in", "br-lan", "--out", "eth9"]);
        assert!(paths(&elsewhere).iter().all(|p| p == "none"), "{name}");

        let guest = audit(&file, &["--in", "br-guest", "--out", "wan0"]);
        assert!(
            paths(&guest).iter().all(|p| p == "relay-tcp"),
            "{name}: {guest}"
        );
        let commands = fix_script(name, &guest["modalities"]);
        for c in commands.split(" && ").filter(|c| !c.is_empty()) {
            assert!(
                c.contains("br-guest") && c.contains("wan0"),
                "{name}: a fix not scoped to the guest's interfaces: {c}"
            );
        }
        let fixed = exported(&commands);
        let after = audit(&fixed, &["--in", "br-guest", "--out", "wan0"]);
        assert!(
            paths(&after).iter().all(|p| p == "relay-udp"),
            "{name}: {after}"
        );
        // The fix is the guest's alone: the same ruleset still gives another zone
        // nothing new.
        let other = audit(&fixed, &["--in", "br-iot", "--out", "wan0"]);
        assert!(paths(&other).iter().all(|p| p == "none"), "{name}: {other}");
    }
}

/// An iptables ruleset that lets media out only to the addresses in an ipset, the sets
/// made by the real ipset tool in a scratch namespace and saved with `ipset save`:
/// without the sets the audit cannot decide and says which file is missing; with them
/// it predicts relay-udp, and with a stale set (no 52.122.0.0/15, Microsoft's newer
/// relay range) it says media UDP passes only partly, which rule drops the rest, and
/// proposes the rule for it.
#[test]
fn audit_resolves_ipsets_from_ipset_save() {
    if !available("ipset", true)
        || !available("unshare", false)
        || !available("iptables-restore", false)
    {
        return;
    }
    let rules = "iptables -P FORWARD DROP \
        && iptables -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT \
        && iptables -A FORWARD -p udp -m set --match-set teams-media dst --dport 3478:3481 -j ACCEPT \
        && iptables -A FORWARD -m set ! --match-set web-out dst,dst -j DROP \
        && iptables -A FORWARD -p tcp -j ACCEPT";
    // (name, the media set's entries)
    let cases = [
        ("current", "52.112.0.0/14 52.122.0.0/15"),
        ("stale", "52.112.0.0/14"),
    ];
    let mut docs = Vec::new();
    for (name, media) in cases {
        let adds: String = media
            .split(' ')
            .map(|n| format!(" && ipset add teams-media {n}"))
            .collect();
        let script = format!(
            "ipset create teams-media hash:net family inet{adds} \
             && ipset create web-out hash:net,port family inet \
             && ipset add web-out 0.0.0.0/1,tcp:443 && ipset add web-out 128.0.0.0/1,tcp:443 \
             && ipset add web-out 0.0.0.0/1,tcp:80 && ipset add web-out 128.0.0.0/1,tcp:80 \
             && {rules} && ipset save > {sets} && iptables-save",
            sets = write_tmp(&format!("{name}.ipset"), "").display()
        );
        let out = in_new_netns(&["sh", "-c", &script], None);
        assert_ok(&format!("ipset and iptables ({name})"), &out);
        let saved = write_tmp(
            &format!("{name}.rules"),
            &String::from_utf8_lossy(&out.stdout),
        );
        let sets = saved.with_extension("ipset");
        let audit = |files: &[&Path]| audit_json(name, files, &[]);
        docs.push((name, audit(&[&saved]), audit(&[&saved, &sets])));
    }
    for (name, blind, seen) in &docs {
        let text = blind.to_string();
        assert!(
            blind["modalities"][0]["path"].is_null() && text.contains("ipset save"),
            "{name}: {text}"
        );
        assert_eq!(seen["unknown"], 0, "{name}: {seen}");
        for s in seen["services"].as_array().unwrap() {
            assert_eq!(s["via"], "direct", "{name}: {s}");
        }
    }
    let current = &docs[0].2;
    for m in current["modalities"].as_array().unwrap() {
        assert_eq!(m["path"], "relay-udp", "{m}");
    }
    let stale = &docs[1].2;
    let audio = &stale["modalities"][0];
    let udp = audio["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["protocol"] == "udp")
        .unwrap();
    assert_eq!(udp["verdict"], "partly", "{udp}");
    // The part the set misses falls to the next rule, which names the other set.
    assert!(
        udp["decided_by"][0]
            .as_str()
            .unwrap()
            .contains("--match-set web-out"),
        "{udp}"
    );
    let fix = audio["fix"][0]["command"].as_str().unwrap_or_default();
    assert!(fix.contains("52.122.0.0/15"), "{audio}");
}
