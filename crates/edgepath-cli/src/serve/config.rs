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
//! target = "relay"                  # what /probe?target=T names: "relay" or "tenant"
//! turn_user_env = "OFFICE_TURN_USER"
//! turn_password_env = "OFFICE_TURN_PASSWORD"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use edgepath_model::DataVersion;
use serde::Deserialize;

use crate::check_settings::{CheckSettings, ProxySetting};

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
    target: Option<String>,
}

/// What `/probe?module=M&target=T` names (the multi-target pattern: one module, many
/// targets, as prometheus-operator's Probe resource and blackbox-style scrape configs
/// write them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetKind {
    /// The relay name (or address) to probe instead of the catalog's.
    #[default]
    Relay,
    /// The tenant's SIP domain (its lyncdiscover and sip names are resolved too).
    Tenant,
}

/// The quality measurement of a scrape when a module does not say: short enough for
/// Prometheus' default 10 s scrape timeout.
pub const DEFAULT_DURATION: u64 = 5;

/// A module: its name and the check it stands for.
#[derive(Debug)]
pub struct Module {
    /// The name in `/probe?module=NAME`.
    pub name: String,
    /// What the check is asked to do.
    pub settings: CheckSettings,
    /// Where it is written (`file:line`), for errors found later.
    pub place: String,
    /// What a scrape's `target` parameter names.
    pub target: TargetKind,
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
            settings: CheckSettings::from_env(DEFAULT_DURATION)
                .map_err(|e| anyhow!("the default module: {e}"))?,
            place: "the default module".into(),
            target: TargetKind::Relay,
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
        let settings =
            settings(conf.get_ref(), dir).map_err(|e| anyhow!("{place}: module {name}: {e}"))?;
        let target = match conf.get_ref().target.as_deref() {
            None | Some("relay") => TargetKind::Relay,
            Some("tenant") => TargetKind::Tenant,
            Some(other) => {
                bail!("{place}: module {name}: target `{other}`: \"relay\" or \"tenant\"")
            }
        };
        out.push(Module {
            name,
            settings,
            place,
            target,
        });
    }
    Ok(out)
}

/// The environment variable `var` names, which must be set.
fn env(var: &str, what: &str) -> Result<String> {
    std::env::var(var).map_err(|_| anyhow!("{what}: environment variable {var} is not set"))
}

/// The check a module stands for: `check`'s defaults and the environment's, then
/// what the module says, each field as the flag of the same name would set it.
fn settings(m: &ModuleConf, dir: &Path) -> Result<CheckSettings> {
    let mut s = CheckSettings::from_env(m.duration.unwrap_or(DEFAULT_DURATION))?;
    // Paths are relative to the configuration file.
    let path = |p: &PathBuf| dir.join(p);
    if let Some(p) = &m.profile {
        s.profile = p.parse().map_err(|e: String| anyhow!("profile: {e}"))?;
    }
    if let Some(p) = &m.endpoints {
        s.endpoints.endpoints = Some(path(p));
    }
    if let Some(v) = &m.endpoints_version {
        s.endpoints.endpoints_version =
            Some(DataVersion::parse(v).map_err(|e| anyhow!("endpoints_version: {e}"))?);
    }
    if let Some(p) = &m.provisioning {
        s.provisioning = Some(path(p));
    }
    match m.proxy.as_deref() {
        Some("none") => s.proxy = ProxySetting::Direct,
        Some(url) => s.proxy = ProxySetting::Url(url.to_owned()),
        None => {}
    }
    if let Some(var) = &m.proxy_user_env {
        s.proxy_user = Some(env(var, "proxy_user_env")?);
    }
    if let Some(t) = &m.tenant {
        s.tenant = Some(t.clone());
    }
    if !m.ca.is_empty() {
        s.ca = m.ca.iter().map(path).collect();
    }
    if !m.legacy_ports.is_empty() {
        s.set_legacy_ports(&m.legacy_ports)?;
    }
    if let Some(var) = &m.turn_user_env {
        s.turn.user = Some(env(var, "turn_user_env")?);
    }
    if let Some(var) = &m.turn_password_env {
        s.turn.password = Some(env(var, "turn_password_env")?);
    }
    if let Some(var) = &m.turn_secret_env {
        s.turn.secret = Some(env(var, "turn_secret_env")?);
    }
    Ok(s)
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
        assert_eq!(m[1].settings.duration, 3);
        assert_eq!(m[1].settings.proxy, ProxySetting::Direct);
        assert_eq!(m[1].settings.profile, edgepath_model::Profile::Legacy);
        assert_eq!(m[0].settings.duration, DEFAULT_DURATION);
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
