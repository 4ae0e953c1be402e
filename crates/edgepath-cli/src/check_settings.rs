//! One typed `check` configuration: what `check`'s flags, a `monitor` run and each
//! module of `serve` say about a check, before it is turned into the probe's
//! [`CheckConfig`](edgepath_probe::check::CheckConfig) by [`crate::check_cmd::config`].
//!
//! Why a type of its own rather than `CheckArgs`: a `serve` module is written in TOML,
//! not on a command line, and used to be turned into flags and parsed again. The
//! environment's defaults (EDGEPATH_CA, EDGEPATH_PAC, the TURN and proxy credentials,
//! the endpoint data) stay declared once, on the flags: [`CheckSettings::from_env`]
//! reads them through an empty `check` command line, and a module overrides them field
//! by field.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Parser;
use edgepath_model::Profile;

use crate::args::{CheckArgs, Cli, Command, EndpointArgs};

/// Where `check` takes its proxy from, as the user said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySetting {
    /// As a client finds it: HTTPS_PROXY, the system's settings, WPAD.
    Auto,
    /// None: direct paths only (`--no-proxy`).
    Direct,
    /// This proxy (`--proxy URL`).
    Url(String),
    /// The proxy a PAC file gives (`--pac FILE|URL`).
    Pac(String),
    /// The PAC file WPAD finds (`--wpad`, `--proxy-source wpad`).
    Wpad,
    /// HTTPS_PROXY only (`--proxy-source env`).
    Env,
    /// The operating system's settings only (`--proxy-source system`).
    System,
}

/// Where `check` looks for its proxy when no flag names one (`--proxy-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxySource {
    /// As a client: HTTPS_PROXY, the system's settings, WPAD.
    #[default]
    Auto,
    /// HTTPS_PROXY only.
    Env,
    /// The operating system's settings only.
    System,
    /// WPAD only.
    Wpad,
}

impl ProxySource {
    /// Each value's name on the command line.
    const NAMES: [(&'static str, ProxySource); 4] = [
        ("auto", ProxySource::Auto),
        ("env", ProxySource::Env),
        ("system", ProxySource::System),
        ("wpad", ProxySource::Wpad),
    ];
}

impl std::str::FromStr for ProxySource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
                format!("`{s}` is not a proxy source; one of: {}", names.join(", "))
            })
    }
}

/// The TURN credentials given, checked later (a password or a shared secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnSetting {
    /// The username.
    pub user: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// coturn's REST-API shared secret, instead of a password.
    pub secret: Option<String>,
}

/// What a check is asked to do.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// Port profile.
    pub profile: Profile,
    /// The endpoint data to use.
    pub endpoints: EndpointArgs,
    /// Provisioning whose media port ranges the probes use.
    pub provisioning: Option<PathBuf>,
    /// Extra trusted root CA files.
    pub ca: Vec<PathBuf>,
    /// Where the proxy comes from.
    pub proxy: ProxySetting,
    /// Proxy credentials, `user:password`.
    pub proxy_user: Option<String>,
    /// The tenant's SIP domain.
    pub tenant: Option<String>,
    /// TURN credentials.
    pub turn: TurnSetting,
    /// Seconds of quality measurement, 1 to [`MAX_DURATION`].
    pub duration: u64,
    /// Legacy high ports to try under the legacy profile.
    pub legacy_ports: Vec<u16>,
}

/// The longest quality measurement: a day.
pub const MAX_DURATION: u64 = 86_400;

impl CheckSettings {
    /// What `check`'s flags say.
    pub fn from_args(args: &CheckArgs) -> Result<Self> {
        let proxy = match (&args.proxy, args.no_proxy, &args.pac, args.wpad) {
            (Some(_), true, ..) => bail!("--proxy and --no-proxy contradict each other"),
            (Some(url), ..) => ProxySetting::Url(url.clone()),
            (None, true, ..) => ProxySetting::Direct,
            (None, false, Some(pac), _) => ProxySetting::Pac(pac.clone()),
            (None, false, None, true) => ProxySetting::Wpad,
            (None, false, None, false) => match args.proxy_source {
                ProxySource::Auto => ProxySetting::Auto,
                ProxySource::Env => ProxySetting::Env,
                ProxySource::System => ProxySetting::System,
                ProxySource::Wpad => ProxySetting::Wpad,
            },
        };
        Ok(CheckSettings {
            profile: args.profile,
            endpoints: args.endpoints.clone(),
            provisioning: args.provisioning.clone(),
            ca: args.ca.clone(),
            proxy,
            proxy_user: args.proxy_user.clone(),
            tenant: args.tenant.clone(),
            turn: TurnSetting {
                user: args.turn_user.clone(),
                password: args.turn_password.clone(),
                secret: args.turn_secret.clone(),
            },
            duration: args.duration,
            legacy_ports: args.legacy_ports.clone(),
        })
    }

    /// `check`'s defaults with what the environment sets for its flags, measuring
    /// `duration` seconds: where a `serve` module starts from.
    pub fn from_env(duration: u64) -> Result<Self> {
        let cli = Cli::try_parse_from(["edgepath", "check"]).map_err(|e| {
            // clap's own message (a malformed EDGEPATH_ variable), without its usage.
            let msg = e.to_string();
            anyhow!(
                "{}",
                msg.lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ")
            )
        })?;
        let Command::Check(args) = cli.command else {
            bail!("not a check");
        };
        let mut s = Self::from_args(&args)?;
        s.set_duration(duration)?;
        Ok(s)
    }

    /// Sets the quality measurement's length, refusing 0 and more than a day.
    pub fn set_duration(&mut self, seconds: u64) -> Result<()> {
        if !(1..=MAX_DURATION).contains(&seconds) {
            bail!("duration {seconds}: from 1 to {MAX_DURATION} seconds");
        }
        self.duration = seconds;
        Ok(())
    }

    /// Sets the legacy high ports, each in 50000-59999 as the relays' high ports are.
    pub fn set_legacy_ports(&mut self, ports: &[u16]) -> Result<()> {
        if let Some(p) = ports.iter().find(|p| !(50000..=59999).contains(*p)) {
            bail!("legacy port {p}: the relays' high ports are 50000-59999");
        }
        self.legacy_ports = ports.to_vec();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(argv: &[&str]) -> Result<CheckSettings> {
        let mut full = vec!["edgepath", "check"];
        full.extend_from_slice(argv);
        let Command::Check(args) = Cli::try_parse_from(full)?.command else {
            bail!("not a check");
        };
        CheckSettings::from_args(&args)
    }

    #[test]
    fn the_proxy_flags_become_one_setting() {
        let cases: &[(&[&str], ProxySetting)] = &[
            (&[], ProxySetting::Auto),
            (&["--no-proxy"], ProxySetting::Direct),
            (
                &["--proxy", "http://10.0.0.2:3128"],
                ProxySetting::Url("http://10.0.0.2:3128".into()),
            ),
            (&["--pac", "corp.pac"], ProxySetting::Pac("corp.pac".into())),
            (&["--wpad"], ProxySetting::Wpad),
            (&["--proxy-source", "auto"], ProxySetting::Auto),
            (&["--proxy-source", "env"], ProxySetting::Env),
            (&["--proxy-source", "system"], ProxySetting::System),
            (&["--proxy-source", "wpad"], ProxySetting::Wpad),
        ];
        for (argv, want) in cases {
            assert_eq!(&settings(argv).unwrap().proxy, want, "{argv:?}");
        }
        let e = settings(&["--proxy", "http://p:3128", "--no-proxy"]).unwrap_err();
        assert!(e.to_string().contains("contradict"), "{e}");
        let e = settings(&["--proxy-source", "dhcp"]).unwrap_err();
        assert!(
            e.to_string().contains("one of: auto, env, system, wpad"),
            "{e}"
        );
        let e = settings(&["--proxy-source", "env", "--wpad"]).unwrap_err();
        assert!(e.to_string().contains("cannot be used with"), "{e}");
    }

    #[test]
    fn a_module_is_held_to_the_flags_ranges() {
        let mut s = settings(&[]).unwrap();
        for bad in [0, MAX_DURATION + 1] {
            assert!(s.set_duration(bad).is_err(), "{bad}");
        }
        s.set_duration(5).unwrap();
        assert_eq!(s.duration, 5);
        assert!(s.set_legacy_ports(&[50000, 3478]).is_err());
        s.set_legacy_ports(&[59999]).unwrap();
        assert_eq!(s.legacy_ports, [59999]);
    }
}
