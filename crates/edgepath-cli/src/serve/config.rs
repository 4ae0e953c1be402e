//! The exporter's modules: named check settings from a TOML file, each validated at
//! start (a bad file or module exits 2 naming the file and line). Secrets are never in
//! the file: a module names the environment variables that hold them.
//!
//! ```toml
//! [modules.office]
//! profile = "current"               # or "legacy"
//! provisioning = "office-sip.xml"   # relative to this file
//! proxy = "http://10.0.0.2:3128"    # or "none"; default: HTTPS_PROXY
//! duration = 5                      # seconds of quality measurement
//! turn_user_env = "OFFICE_TURN_USER"
//! turn_password_env = "OFFICE_TURN_PASSWORD"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use serde::Deserialize;

use crate::args::{CheckArgs, Cli, Command};

/// The file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    modules: BTreeMap<String, toml::Spanned<ModuleConf>>,
}

/// One module as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleConf {
    profile: Option<String>,
    endpoints: Option<PathBuf>,
    endpoints_version: Option<String>,
    provisioning: Option<PathBuf>,
    proxy: Option<String>,
    proxy_user_env: Option<String>,
    tenant: Option<String>,
    #[serde(default)]
    ca: Vec<PathBuf>,
    duration: Option<u64>,
    #[serde(default)]
    legacy_ports: Vec<u16>,
    turn_user_env: Option<String>,
    turn_password_env: Option<String>,
    turn_secret_env: Option<String>,
}

/// The quality measurement of a scrape when a module does not say: short enough for
/// Prometheus' default 10 s scrape timeout.
pub const DEFAULT_DURATION: u64 = 5;

/// A module: its name and the `check` arguments it stands for.
#[derive(Debug)]
pub struct Module {
    /// The name in `/probe?module=NAME`.
    pub name: String,
    /// What `check` would be given.
    pub args: CheckArgs,
    /// Where it is written (`file:line`), for errors found later.
    pub place: String,
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    // Bytes, not a str slice: an offset inside a multi-byte character cannot panic.
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The modules of `path`, or the one module `default` (check's defaults) without a file.
pub fn load(path: Option<&Path>) -> Result<Vec<Module>> {
    let Some(path) = path else {
        return Ok(vec![Module {
            name: "default".into(),
            args: check_args(&[]).map_err(|e| anyhow!("the default module: {e}"))?,
            place: "the default module".into(),
        }]);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{shown}"))?;
    let file: File = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(&text, s.start));
        anyhow!("{shown}:{line}: {}", e.message())
    })?;
    if file.modules.is_empty() {
        bail!("{shown}: no [modules.NAME] table: nothing to probe");
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (name, conf) in file.modules {
        let place = format!("{shown}:{}", line_of(&text, conf.span().start));
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            bail!("{place}: module name `{name}`: letters, digits, `_` and `-` only");
        }
        let argv = argv(conf.get_ref(), dir).map_err(|e| anyhow!("{place}: module {name}: {e}"))?;
        let args = check_args(&argv).map_err(|e| anyhow!("{place}: module {name}: {e}"))?;
        out.push(Module { name, args, place });
    }
    Ok(out)
}

/// The environment variable `var` names, which must be set.
fn env(var: &str, what: &str) -> Result<String> {
    std::env::var(var).map_err(|_| anyhow!("{what}: environment variable {var} is not set"))
}

/// `check`'s arguments for a module.
fn argv(m: &ModuleConf, dir: &Path) -> Result<Vec<String>> {
    let path = |p: &PathBuf| dir.join(p).display().to_string();
    let mut a: Vec<String> = Vec::new();
    let push = |a: &mut Vec<String>, k: &str, v: String| {
        a.push(k.to_owned());
        a.push(v);
    };
    if let Some(p) = &m.profile {
        push(&mut a, "--profile", p.clone());
    }
    if let Some(p) = &m.endpoints {
        push(&mut a, "--endpoints", path(p));
    }
    if let Some(v) = &m.endpoints_version {
        push(&mut a, "--endpoints-version", v.clone());
    }
    if let Some(p) = &m.provisioning {
        push(&mut a, "--provisioning", path(p));
    }
    match m.proxy.as_deref() {
        Some("none") => a.push("--no-proxy".into()),
        Some(url) => push(&mut a, "--proxy", url.to_owned()),
        None => {}
    }
    if let Some(var) = &m.proxy_user_env {
        push(&mut a, "--proxy-user", env(var, "proxy_user_env")?);
    }
    if let Some(t) = &m.tenant {
        push(&mut a, "--tenant", t.clone());
    }
    for c in &m.ca {
        push(&mut a, "--ca", path(c));
    }
    push(
        &mut a,
        "--duration",
        m.duration.unwrap_or(DEFAULT_DURATION).to_string(),
    );
    for p in &m.legacy_ports {
        push(&mut a, "--legacy-port", p.to_string());
    }
    if let Some(var) = &m.turn_user_env {
        push(&mut a, "--turn-user", env(var, "turn_user_env")?);
    }
    if let Some(var) = &m.turn_password_env {
        push(&mut a, "--turn-password", env(var, "turn_password_env")?);
    }
    if let Some(var) = &m.turn_secret_env {
        push(&mut a, "--turn-secret", env(var, "turn_secret_env")?);
    }
    Ok(a)
}

/// Parses `argv` as `check`'s arguments, so a module means exactly what the same flags
/// mean to `check`.
fn check_args(argv: &[String]) -> Result<CheckArgs> {
    let mut full = vec!["edgepath".to_owned(), "check".to_owned()];
    if argv.is_empty() {
        full.extend(["--duration".to_owned(), DEFAULT_DURATION.to_string()]);
    }
    full.extend(argv.iter().cloned());
    let cli = Cli::try_parse_from(&full).map_err(|e| {
        // clap's own message, without its usage lines.
        let msg = e.to_string();
        let first = msg
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ");
        anyhow!("{first}")
    })?;
    match cli.command {
        Command::Check(args) => Ok(args),
        _ => bail!("not a check"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("edgepath-serve-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn modules_and_their_settings() {
        let p = write(
            "ok.toml",
            "[modules.office]\nprofile = \"legacy\"\nproxy = \"none\"\nduration = 3\n\n[modules.home]\n",
        );
        let m = load(Some(&p)).unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["home", "office"]);
        assert_eq!(m[1].args.duration, 3);
        assert!(m[1].args.no_proxy);
        assert_eq!(m[0].args.duration, DEFAULT_DURATION);
        assert!(m[1].place.ends_with(":1"), "{}", m[1].place);
    }

    #[test]
    fn bad_files_name_the_line() {
        type Case<'a> = (&'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (
                "[modules.a]\nprofile = \"current\"\nduration = \"five\"\n",
                ":3:",
            ),
            ("[modules.a]\nprofle = \"current\"\n", ":2:"),
            (
                "[modules.a]\n\n[modules.b]\nprofile = \"new\"\n",
                ":3: module b",
            ),
            (
                "[modules.a]\nturn_user_env = \"EDGEPATH_TEST_SURELY_UNSET\"\n",
                "EDGEPATH_TEST_SURELY_UNSET",
            ),
            ("[modules.\"a b\"]\n", "module name"),
            ("", "no [modules.NAME]"),
            ("[modules.a\n", ":1:"),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            let p = write(&format!("bad{i}.toml"), text);
            let e = load(Some(&p)).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.contains("bad"), "{e}");
        }
    }
}
