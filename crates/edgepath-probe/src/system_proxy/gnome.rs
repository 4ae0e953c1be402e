//! GNOME's proxy settings (`org.gnome.system.proxy`, what GNOME Settings writes and
//! GLib's and libproxy's GNOME resolvers read), from the output of
//! `gsettings list-recursively org.gnome.system.proxy`:
//! - `mode 'none'`: direct;
//! - `mode 'auto'`: the PAC at `autoconfig-url`, or WPAD when it is empty;
//! - `mode 'manual'`: HTTPS goes to `org.gnome.system.proxy.https` `host`:`port`, or to
//!   the HTTP proxy when the HTTPS host is empty (GLib's rule), with the HTTP proxy's
//!   credentials when `use-authentication` is on; `ignore-hosts` is the bypass list.
//!
//! Read only on a GNOME desktop (`XDG_CURRENT_DESKTOP` names GNOME or Unity): nothing
//! else follows these settings, and a server's defaults (`mode 'none'`) would hide WPAD.

use std::collections::HashMap;

use super::SystemProxy;
use crate::proxy::Proxy;

/// Where the report says the settings came from.
pub const SOURCE: &str = "GNOME proxy settings (org.gnome.system.proxy)";

/// Whether `xdg_current_desktop` (a colon-separated list) names a desktop that follows
/// GNOME's proxy settings.
pub fn is_gnome_desktop(xdg_current_desktop: &str) -> bool {
    xdg_current_desktop.split(':').any(|d| {
        let d = d.trim().to_ascii_lowercase();
        d == "gnome" || d == "unity" || d.ends_with("-gnome") || d == "gnome-classic"
    })
}

/// The settings in `text` (`gsettings list-recursively org.gnome.system.proxy`): a line
/// is `SCHEMA KEY VALUE`, the value in GVariant's text form. An unreadable line or value
/// is an error naming its line.
pub fn from_gsettings(text: &str) -> Result<SystemProxy, String> {
    let mut keys: HashMap<(String, String), Value> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let (Some(schema), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{SOURCE}: line {}: not SCHEMA KEY VALUE", n + 1));
        };
        let value = parse_value(value.trim())
            .map_err(|e| format!("{SOURCE}: line {}: {key}: {e}", n + 1))?;
        keys.insert((schema.to_owned(), key.to_owned()), value);
    }
    let get = |schema: &str, key: &str| {
        keys.get(&(format!("org.gnome.system.proxy{schema}"), key.to_owned()))
    };
    let text_of = |schema: &str, key: &str| match get(schema, key) {
        Some(Value::Text(s)) => s.trim().to_owned(),
        _ => String::new(),
    };
    let int_of = |schema: &str, key: &str| match get(schema, key) {
        Some(Value::Int(i)) => *i,
        _ => 0,
    };
    let mode = text_of("", "mode");
    let mut out = SystemProxy {
        source: format!(
            "{SOURCE}, mode {}",
            if mode.is_empty() { "none" } else { &mode }
        ),
        pac_setting: "autoconfig-url",
        ..SystemProxy::default()
    };
    match mode.as_str() {
        "" | "none" => {}
        "auto" => {
            let url = text_of("", "autoconfig-url");
            if url.is_empty() {
                out.auto_detect = true;
            } else {
                out.pac_url = Some(url);
            }
        }
        "manual" => {
            let https = text_of(".https", "host");
            let (host, port, credentials) = if https.is_empty() {
                let auth = matches!(get(".http", "use-authentication"), Some(Value::Bool(true)));
                let user = text_of(".http", "authentication-user");
                let credentials = (auth && !user.is_empty())
                    .then(|| (user, text_of(".http", "authentication-password")));
                (
                    text_of(".http", "host"),
                    int_of(".http", "port"),
                    credentials,
                )
            } else {
                (https, int_of(".https", "port"), None)
            };
            if host.is_empty() {
                if !text_of(".socks", "host").is_empty() {
                    out.warnings.push(format!(
                        "{SOURCE}: only a SOCKS proxy is set, which check does not go through: direct"
                    ));
                }
                return Ok(out);
            }
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{SOURCE}: the proxy {host} has port {port}"))?;
            let hostport = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let mut proxy =
                Proxy::parse(&hostport, SOURCE).map_err(|e| format!("{SOURCE}: {e}"))?;
            proxy.credentials = credentials;
            if let Some(Value::List(bypass)) = get("", "ignore-hosts") {
                proxy.no_proxy = bypass
                    .iter()
                    .map(|e| e.trim().to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect();
            }
            out.proxy = Some(proxy);
        }
        other => {
            out.warnings.push(format!(
                "{SOURCE}: mode '{other}' is not one GNOME has: direct"
            ));
        }
    }
    Ok(out)
}

/// A GVariant value as `gsettings` prints the ones these settings have.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

fn parse_value(v: &str) -> Result<Value, String> {
    match v {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "@as []" => return Ok(Value::List(Vec::new())),
        _ => {}
    }
    if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let mut items = Vec::new();
        let mut rest = inner.trim();
        while !rest.is_empty() {
            let (item, after) = quoted(rest)?;
            items.push(item);
            rest = after.trim_start();
            rest = match rest.strip_prefix(',') {
                Some(r) => r.trim_start(),
                None if rest.is_empty() => rest,
                None => return Err(format!("expected ',' in the list at `{rest}`")),
            };
        }
        return Ok(Value::List(items));
    }
    if v.starts_with('\'') || v.starts_with('"') {
        let (s, after) = quoted(v)?;
        return if after.trim().is_empty() {
            Ok(Value::Text(s))
        } else {
            Err(format!("text after the string: `{after}`"))
        };
    }
    let number = v
        .strip_prefix("uint32 ")
        .or_else(|| v.strip_prefix("int32 "))
        .unwrap_or(v);
    number
        .parse()
        .map(Value::Int)
        .map_err(|_| format!("not a value gsettings prints: `{v}`"))
}

/// One quoted GVariant string at the start of `s`, and what follows it.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let Some((_, q @ ('\'' | '"'))) = chars.next() else {
        return Err(format!("expected a quoted string at `{s}`"));
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            c if c == q => return Ok((out, &s[i + c.len_utf8()..])),
            c => out.push(c),
        }
    }
    Err(format!("unterminated string `{s}`"))
}

/// The settings of this session, when it is a GNOME desktop's: `None` elsewhere.
#[cfg(all(unix, not(target_os = "macos")))]
pub fn read() -> Option<Result<SystemProxy, String>> {
    let desktop = std::env::var("XDG_CURRENT_DESKTOP").unwrap_or_default();
    if !is_gnome_desktop(&desktop) {
        return None;
    }
    Some(
        super::command_output("gsettings", &["list-recursively", "org.gnome.system.proxy"])
            .and_then(|text| from_gsettings(&text)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `gsettings list-recursively org.gnome.system.proxy` (GLib 2.74, Debian 12) after
    /// GNOME Settings' "Manual" with an HTTPS proxy and two hosts to ignore.
    const MANUAL: &str = "\
org.gnome.system.proxy autoconfig-url ''
org.gnome.system.proxy ignore-hosts ['localhost', '*.corp.example']
org.gnome.system.proxy mode 'manual'
org.gnome.system.proxy use-same-proxy true
org.gnome.system.proxy.ftp host ''
org.gnome.system.proxy.ftp port 0
org.gnome.system.proxy.http authentication-password ''
org.gnome.system.proxy.http authentication-user ''
org.gnome.system.proxy.http enabled false
org.gnome.system.proxy.http host ''
org.gnome.system.proxy.http port 8080
org.gnome.system.proxy.http use-authentication false
org.gnome.system.proxy.https host '10.0.0.2'
org.gnome.system.proxy.https port 3128
org.gnome.system.proxy.socks host ''
org.gnome.system.proxy.socks port 0
";

    fn with(text: &str, replace: &[(&str, &str)]) -> String {
        replace
            .iter()
            .fold(text.to_owned(), |t, (a, b)| t.replace(a, b))
    }

    #[test]
    fn each_mode_as_gnome_clients_read_it() {
        let s = from_gsettings(MANUAL).unwrap();
        let p = s.proxy.unwrap();
        assert_eq!((p.host.as_str(), p.port), ("10.0.0.2", 3128));
        assert_eq!(p.no_proxy, ["localhost", "*.corp.example"]);
        assert!(p.credentials.is_none());
        assert!(s.source.ends_with("mode manual"), "{}", s.source);
        assert!(!s.auto_detect && s.pac_url.is_none());

        // No HTTPS host: the HTTP proxy, with its credentials.
        let http = with(
            MANUAL,
            &[
                ("https host '10.0.0.2'", "https host ''"),
                ("http host ''", "http host 'proxy.corp.example'"),
                ("use-authentication false", "use-authentication true"),
                ("authentication-user ''", "authentication-user 'alice'"),
                // gsettings prints a string with a quote in it between double quotes.
                (
                    "authentication-password ''",
                    "authentication-password \"it's\"",
                ),
            ],
        );
        let p = from_gsettings(&http).unwrap().proxy.unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.corp.example", 8080));
        assert_eq!(p.credentials, Some(("alice".into(), "it's".into())));

        let auto_pac = with(
            MANUAL,
            &[
                ("mode 'manual'", "mode 'auto'"),
                (
                    "autoconfig-url ''",
                    "autoconfig-url 'http://pac.corp.example/proxy.pac'",
                ),
            ],
        );
        let s = from_gsettings(&auto_pac).unwrap();
        assert_eq!(
            s.pac_url.as_deref(),
            Some("http://pac.corp.example/proxy.pac")
        );
        assert!(s.proxy.is_none() && !s.auto_detect);

        let wpad = with(MANUAL, &[("mode 'manual'", "mode 'auto'")]);
        let s = from_gsettings(&wpad).unwrap();
        assert!(s.auto_detect && s.pac_url.is_none() && s.proxy.is_none());

        let none = with(MANUAL, &[("mode 'manual'", "mode 'none'")]);
        let s = from_gsettings(&none).unwrap();
        assert!(s.proxy.is_none() && s.pac_url.is_none() && !s.auto_detect);

        let socks = with(
            MANUAL,
            &[
                ("https host '10.0.0.2'", "https host ''"),
                ("socks host ''", "socks host 's'"),
            ],
        );
        let s = from_gsettings(&socks).unwrap();
        assert!(s.proxy.is_none());
        assert!(s.warnings[0].contains("SOCKS"), "{:?}", s.warnings);

        let empty_list = with(MANUAL, &[("['localhost', '*.corp.example']", "@as []")]);
        assert!(from_gsettings(&empty_list)
            .unwrap()
            .proxy
            .unwrap()
            .no_proxy
            .is_empty());
    }

    #[test]
    fn bad_output_is_an_error_with_its_line() {
        let cases = [
            (with(MANUAL, &[("mode 'manual'", "mode 'manual")]), "line 3"),
            (
                with(MANUAL, &[("https port 3128", "https port 99999")]),
                "port 99999",
            ),
            (
                with(MANUAL, &[("https port 3128", "https port 0")]),
                "port 0",
            ),
            ("org.gnome.system.proxy mode\n".to_owned(), "line 1"),
            (
                with(MANUAL, &[("['localhost', '*.corp.example']", "['a' 'b']")]),
                "line 2",
            ),
        ];
        for (text, want) in cases {
            let e = from_gsettings(&text).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn gnome_desktops_are_told_from_others() {
        for (desktop, gnome) in [
            ("GNOME", true),
            ("ubuntu:GNOME", true),
            ("Unity", true),
            ("GNOME-Classic:GNOME", true),
            ("KDE", false),
            ("XFCE", false),
            ("", false),
        ] {
            assert_eq!(is_gnome_desktop(desktop), gnome, "{desktop}");
        }
    }
}
