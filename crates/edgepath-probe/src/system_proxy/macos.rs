//! macOS's proxy settings, from the output of `scutil --proxy` (the System
//! Configuration's current proxies, the dictionary CFNetwork and so Teams use):
//! `ProxyAutoDiscoveryEnable` (WPAD), `ProxyAutoConfigEnable` with
//! `ProxyAutoConfigURLString` (a PAC), `HTTPSEnable` with `HTTPSProxy`/`HTTPSPort` (the
//! static proxy for HTTPS), `ExceptionsList` and `ExcludeSimpleHostnames` (its bypass
//! list). Only the top-level keys count: `__SCOPED__` repeats them per interface.

use std::collections::HashMap;

use super::SystemProxy;
use crate::proxy::Proxy;

/// Where the report says the settings came from.
pub const SOURCE: &str = "macOS proxy settings (scutil --proxy)";

/// The settings in `text`. A line the dictionary's grammar does not allow is an error
/// naming it.
pub fn from_scutil(text: &str) -> Result<SystemProxy, String> {
    let mut keys: HashMap<&str, &str> = HashMap::new();
    let mut exceptions = Vec::new();
    let mut depth = 0usize;
    let mut in_exceptions = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line == "}" {
            depth = depth
                .checked_sub(1)
                .ok_or_else(|| format!("{SOURCE}: line {}: a '}}' closes nothing", n + 1))?;
            in_exceptions = false;
            continue;
        }
        if line == "<dictionary> {" && depth == 0 {
            depth = 1;
            continue;
        }
        let Some((key, value)) = line.split_once(" : ") else {
            return Err(format!(
                "{SOURCE}: line {}: not KEY : VALUE: `{line}`",
                n + 1
            ));
        };
        if value.ends_with('{') {
            in_exceptions = depth == 1 && key == "ExceptionsList";
            depth += 1;
            continue;
        }
        if in_exceptions && depth == 2 {
            exceptions.push(value.trim().to_ascii_lowercase());
        } else if depth == 1 {
            keys.insert(key.trim(), value.trim());
        }
    }
    if depth != 0 {
        return Err(format!("{SOURCE}: the dictionary is not closed"));
    }
    let on = |k: &str| keys.get(k).is_some_and(|v| *v == "1");
    // `<NULL>` is scutil's way of printing a key with no value.
    let text_of = |k: &str| {
        keys.get(k)
            .copied()
            .filter(|v| !v.is_empty() && *v != "<NULL>")
    };
    let mut out = SystemProxy {
        source: SOURCE.to_owned(),
        auto_detect: on("ProxyAutoDiscoveryEnable"),
        pac_url: on("ProxyAutoConfigEnable")
            .then(|| text_of("ProxyAutoConfigURLString"))
            .flatten()
            .map(str::to_owned),
        pac_setting: "ProxyAutoConfigURLString",
        ..SystemProxy::default()
    };
    if on("ProxyAutoConfigEnable") && out.pac_url.is_none() {
        out.warnings.push(format!(
            "{SOURCE}: automatic proxy configuration is on but has no URL"
        ));
    }
    if on("HTTPSEnable") {
        let Some(host) = text_of("HTTPSProxy") else {
            out.warnings.push(format!(
                "{SOURCE}: HTTPSEnable is 1 but HTTPSProxy is empty: direct"
            ));
            return Ok(out);
        };
        let port = match text_of("HTTPSPort") {
            None => 443,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{SOURCE}: HTTPSPort `{p}` is not a port"))?,
        };
        let hostport = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut proxy = Proxy::parse(&hostport, SOURCE).map_err(|e| format!("{SOURCE}: {e}"))?;
        proxy.no_proxy = exceptions;
        if on("ExcludeSimpleHostnames") {
            proxy.no_proxy.push("<local>".into());
        }
        out.proxy = Some(proxy);
    }
    Ok(out)
}

/// The settings of this Mac.
#[cfg(target_os = "macos")]
pub fn read() -> Result<SystemProxy, String> {
    super::command_output("scutil", &["--proxy"]).and_then(|text| from_scutil(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `scutil --proxy` prints with nothing set (macOS' defaults).
    const DEFAULTS: &str = "<dictionary> {
  ExceptionsList : <array> {
    0 : *.local
    1 : 169.254/16
  }
  FTPPassive : 1
}
";

    /// With a PAC, auto-discovery and a static HTTPS proxy, and the per-interface copy
    /// (`__SCOPED__`) whose values must not count.
    const ALL: &str = "<dictionary> {
  ExceptionsList : <array> {
    0 : *.local
    1 : 169.254/16
    2 : *.corp.example
  }
  ExcludeSimpleHostnames : 1
  FTPPassive : 1
  HTTPEnable : 1
  HTTPPort : 8080
  HTTPProxy : proxy.corp.example
  HTTPSEnable : 1
  HTTPSPort : 3128
  HTTPSProxy : proxy.corp.example
  ProxyAutoConfigEnable : 1
  ProxyAutoConfigURLString : http://pac.corp.example/proxy.pac
  ProxyAutoDiscoveryEnable : 1
  __SCOPED__ : <dictionary> {
    en0 : <dictionary> {
      HTTPSEnable : 1
      HTTPSPort : 9999
      HTTPSProxy : other.example
    }
  }
}
";

    #[test]
    fn the_settings_as_macos_clients_read_them() {
        let s = from_scutil(DEFAULTS).unwrap();
        assert!(s.proxy.is_none() && s.pac_url.is_none() && !s.auto_detect);
        assert!(s.warnings.is_empty());

        let s = from_scutil(ALL).unwrap();
        assert!(s.auto_detect);
        assert_eq!(
            s.pac_url.as_deref(),
            Some("http://pac.corp.example/proxy.pac")
        );
        let p = s.proxy.unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.corp.example", 3128));
        assert_eq!(
            p.no_proxy,
            ["*.local", "169.254/16", "*.corp.example", "<local>"]
        );

        let http_only = ALL.replace(
            "HTTPSEnable : 1\n  HTTPSPort : 3128",
            "HTTPSEnable : 0\n  HTTPSPort : 3128",
        );
        assert!(from_scutil(&http_only).unwrap().proxy.is_none());

        let null = ALL.replace("HTTPSProxy : proxy.corp.example", "HTTPSProxy : <NULL>");
        let s = from_scutil(&null).unwrap();
        assert!(s.proxy.is_none());
        assert!(
            s.warnings[0].contains("HTTPSProxy is empty"),
            "{:?}",
            s.warnings
        );

        let v6 = ALL.replace(
            "HTTPSProxy : proxy.corp.example",
            "HTTPSProxy : 2001:db8::2",
        );
        assert_eq!(from_scutil(&v6).unwrap().proxy.unwrap().host, "2001:db8::2");
    }

    #[test]
    fn bad_output_is_an_error_naming_where() {
        let cases = [
            (
                ALL.replace("HTTPSPort : 3128", "HTTPSPort : 70000"),
                "HTTPSPort `70000`",
            ),
            (
                ALL.replace("  FTPPassive : 1\n", "  FTPPassive\n"),
                "line 8",
            ),
            (
                DEFAULTS.trim_end().trim_end_matches('}').to_owned(),
                "not closed",
            ),
            (format!("{DEFAULTS}}}\n"), "closes nothing"),
        ];
        for (text, want) in cases {
            let e = from_scutil(&text).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
