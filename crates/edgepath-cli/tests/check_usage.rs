//! `edgepath check`'s usage and input errors: exit 2 with the reason, before any
//! probe is sent. (Its verdicts are tested in the lab: tests/lab.rs.)
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn check(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgepath"));
    c.arg("check").args(args);
    for k in [
        "EDGEPATH_TURN_USER",
        "EDGEPATH_TURN_PASSWORD",
        "EDGEPATH_TURN_SECRET",
        "EDGEPATH_CA",
        "EDGEPATH_PROXY_USER",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Arguments, environment, and what stderr must say.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn contradictions_and_bad_inputs_exit_2() {
    let dir = std::env::temp_dir().join(format!("edgepath-check-usage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let cases: Vec<Case> = vec![
        (
            vec!["--proxy", "http://p:3128", "--no-proxy"],
            vec![],
            "--proxy and --no-proxy contradict",
        ),
        (
            vec!["--turn-password", "x"],
            vec![],
            "--turn-password needs --turn-user",
        ),
        (
            vec!["--turn-user", "u"],
            vec![],
            "--turn-user needs --turn-password or --turn-secret",
        ),
        (
            vec![
                "--turn-user",
                "u",
                "--turn-password",
                "p",
                "--turn-secret",
                "s",
            ],
            vec![],
            "not both",
        ),
        (
            vec!["--proxy-user", "a:b"],
            vec![],
            "--proxy-user needs a proxy",
        ),
        (
            vec!["--proxy", "socks5://p:1"],
            vec![],
            "only http:// proxies",
        ),
        (
            vec!["--ca", not_pem.to_str().unwrap()],
            vec![],
            "no PEM certificate",
        ),
        (vec!["--ca", "/nonexistent.pem"], vec![], "cannot read"),
        (
            vec!["--tenant", "not a domain"],
            vec![],
            "is not a domain name",
        ),
        (vec!["--duration", "0"], vec![], "0 is not in 1..=86400"),
        (
            vec!["--duration", "86401"],
            vec![],
            "86401 is not in 1..=86400",
        ),
        (
            vec!["--windows-out", "/tmp/edgepath-windows.txt"],
            vec![],
            "say the format by the extension, .csv or .jsonl",
        ),
        (
            vec!["--windows-out", "/nonexistent/dir/w.csv"],
            vec![],
            "--windows-out: cannot create /nonexistent/dir/w.csv",
        ),
        (
            vec!["--profile", "legacy", "--legacy-port", "443"],
            vec![],
            "443 is not in 50000..=59999",
        ),
        (
            vec![],
            vec![("HTTPS_PROXY", "http://p:notaport")],
            "HTTPS_PROXY",
        ),
        (
            vec![],
            vec![("EDGEPATH_CA", "/nonexistent.pem")],
            "--ca / EDGEPATH_CA",
        ),
    ];
    for (args, env, expect) in cases {
        let (code, err) = check(&args, &env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {err}");
        assert!(err.contains(expect), "{args:?} {env:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_password_never_shows_in_errors() {
    let (_, err) = check(&["--proxy", "socks5://alice:hunter2@p:1"], &[]);
    assert!(!err.contains("hunter2"), "{err}");
}
