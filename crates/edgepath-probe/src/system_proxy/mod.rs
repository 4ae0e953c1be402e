//! The proxy the operating system tells its clients to use, read where edgepath can
//! read it, and decided by pure functions tested on any system:
//! - Windows: Internet Settings (the registry), [`internet_settings`];
//! - a GNOME desktop (and those built on its settings): `org.gnome.system.proxy`, read
//!   with `gsettings`, [`gnome`];
//! - macOS: the System Configuration's proxies, read with `scutil --proxy`, [`macos`].
//!
//! Each gives the same [`SystemProxy`]: a static proxy for HTTPS with its bypass list, a
//! PAC URL, and whether WPAD discovery is on; `check` takes them in the order the
//! system's clients do (WPAD, then the PAC, then the static proxy).

pub mod gnome;
pub mod internet_settings;
pub mod macos;

pub use internet_settings::{auto_detect_flag, from_internet_settings, InternetSettings};

use crate::proxy::Proxy;

/// What the settings say for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemProxy {
    /// The static proxy for HTTPS, with the bypass list; `None`: direct.
    pub proxy: Option<Proxy>,
    /// The PAC file: clients ask it first and fall back to the static proxy when it
    /// cannot be had.
    pub pac_url: Option<String>,
    /// The setting that names the PAC, in the system's words (`AutoConfigURL`,
    /// `autoconfig-url`, `ProxyAutoConfigURLString`).
    pub pac_setting: &'static str,
    /// Whether WPAD discovery is on (clients try it before the PAC URL).
    pub auto_detect: bool,
    /// Where the settings came from (for the report).
    pub source: String,
    /// Warnings for the user (an entry not read).
    pub warnings: Vec<String>,
}

/// The proxy the operating system is set to use, where edgepath can read it: on
/// Windows the Internet Settings, on macOS `scutil --proxy`, on a GNOME desktop its
/// proxy settings; `None` where there is nothing to read (a server, another desktop):
/// the environment and WPAD are what clients there have.
pub fn read() -> Option<Result<SystemProxy, String>> {
    #[cfg(windows)]
    {
        Some(
            crate::registry::internet_settings()
                .and_then(|(s, source)| from_internet_settings(&s, source)),
        )
    }
    #[cfg(target_os = "macos")]
    {
        Some(macos::read())
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        gnome::read()
    }
}

/// The standard output of `program args`, waited for at most 3 s (a settings tool
/// that hangs, on a broken D-Bus say, must not hang `check`). Read once the program
/// has ended: the outputs read here are a few kilobytes, well inside a pipe's buffer.
#[cfg(unix)]
fn command_output(program: &str, args: &[&str]) -> Result<String, String> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    const LIMIT: Duration = Duration::from_secs(3);
    let what = format!("`{program} {}`", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what} cannot be run: {e}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < LIMIT => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not answer in {} s", LIMIT.as_secs()));
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)
            .map_err(|e| format!("{what}: its output is not text: {e}"))?;
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    if !status.success() {
        return Err(format!("{what} failed ({status}): {}", err.trim()));
    }
    Ok(out)
}
