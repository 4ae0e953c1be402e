//! WPAD by DHCP: the PAC URL a DHCP server gave in option 252, as the DHCP client
//! recorded it in its lease file. Clients that look there (WinHTTP, Chromium and
//! Firefox through libproxy) try it before WPAD by DNS. Read from:
//! - ISC dhclient's leases (`/var/lib/dhcp/dhclient*.leases`, NetworkManager's
//!   `/var/lib/NetworkManager/dhclient-*.lease`): `option wpad "URL";` where option 252
//!   is declared (NetworkManager declares it as `wpad`), `option unknown-252 ...` where
//!   it is not; the last lease in a file is the current one;
//! - systemd-networkd's leases (`/run/systemd/netif/leases/*`): `OPTION_252=HEX`, as it
//!   keeps the private options 224-254.
//!
//! `EDGEPATH_DHCP_LEASES` (paths separated by `:`) names the files to read instead.

/// Where a PAC URL was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseWpad {
    /// The PAC's URL.
    pub url: String,
    /// The lease file.
    pub file: String,
}

/// The option 252 of the last lease in an ISC dhclient lease file.
pub fn dhclient_wpad(text: &str) -> Option<String> {
    let mut current: Option<String> = None;
    let mut last = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("lease {") {
            current = None;
        } else if line == "}" {
            last = current.take();
        } else if let Some(rest) = line.strip_prefix("option ") {
            let Some((name, value)) = rest.split_once(' ') else {
                continue;
            };
            if matches!(name, "wpad" | "wpad-url" | "unknown-252") {
                current = option_text(value.trim().trim_end_matches(';').trim());
            }
        }
    }
    last.filter(|u| !u.is_empty())
}

/// The option 252 of a systemd-networkd lease file.
pub fn networkd_wpad(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("OPTION_252="))
        .and_then(|hex| bytes_text(&hex_bytes(hex.trim())?))
}

/// An option's value as dhclient writes it: a quoted string (with `\"` and octal
/// escapes), or bytes as colon-separated hex when it could not print them.
fn option_text(value: &str) -> Option<String> {
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        let mut out = Vec::new();
        let mut bytes = inner.bytes();
        while let Some(b) = bytes.next() {
            if b != b'\\' {
                out.push(b);
                continue;
            }
            let e = bytes.next()?;
            if e.is_ascii_digit() {
                let d2 = bytes.next()?;
                let d3 = bytes.next()?;
                let octal = [e, d2, d3];
                out.push(u8::from_str_radix(std::str::from_utf8(&octal).ok()?, 8).ok()?);
            } else {
                out.push(e);
            }
        }
        return bytes_text(&out);
    }
    let bytes: Option<Vec<u8>> = value
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    bytes_text(&bytes?)
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A URL from option bytes: servers often end it with a NUL or a newline (Windows'
/// DHCP server did, for clients that cut one byte off).
fn bytes_text(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let url = text.trim_end_matches(['\0', '\n', '\r', ' ']).trim();
    (url.starts_with("http://") || url.starts_with("https://")).then(|| url.to_owned())
}

/// The lease files this system's DHCP clients keep.
fn lease_files() -> Vec<String> {
    if let Some(list) = std::env::var_os("EDGEPATH_DHCP_LEASES") {
        return std::env::split_paths(&list)
            .map(|p| p.display().to_string())
            .collect();
    }
    let mut files = Vec::new();
    for (dir, prefix) in [
        ("/var/lib/dhcp", "dhclient"),
        ("/var/lib/dhclient", "dhclient"),
        ("/var/lib/NetworkManager", "dhclient-"),
        ("/run/systemd/netif/leases", ""),
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .map(|p| p.display().to_string())
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// Every PAC URL this host's DHCP leases hold, in file order.
pub fn wpad_urls() -> Vec<LeaseWpad> {
    let mut out: Vec<LeaseWpad> = Vec::new();
    for file in lease_files() {
        // A lease file is small; anything beyond 1 MiB is not one.
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.len() > 1 << 20 {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let url = if text.contains("lease {") {
            dhclient_wpad(&text)
        } else {
            networkd_wpad(&text)
        };
        if let Some(url) = url.filter(|u| !out.iter().any(|o| &o.url == u)) {
            out.push(LeaseWpad { url, file });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ISC dhclient lease file with two leases (the second is current), option 252
    /// declared as `wpad` (`option wpad code 252 = text;`, as NetworkManager does).
    const DHCLIENT: &str = r#"lease {
  interface "eth0";
  fixed-address 192.168.1.120;
  option subnet-mask 255.255.255.0;
  option wpad "http://old.corp.example/wpad.dat";
  option dhcp-lease-time 600;
  renew 6 2026/12/05 10:00:00;
}
lease {
  interface "eth0";
  fixed-address 192.168.1.121;
  option subnet-mask 255.255.255.0;
  option routers 192.168.1.1;
  option wpad "http://10.0.0.2/wpad.dat\012";
  option dhcp-lease-time 600;
  renew 6 2026/12/05 11:00:00;
}
"#;

    #[test]
    fn the_current_lease_gives_the_url() {
        assert_eq!(
            dhclient_wpad(DHCLIENT).as_deref(),
            Some("http://10.0.0.2/wpad.dat")
        );
        // Undeclared: dhclient prints the option by number, as text or as hex bytes.
        let unknown = DHCLIENT.replace(
            "option wpad \"http://10.0.0.2/wpad.dat\\012\"",
            "option unknown-252 68:74:74:70:3a:2f:2f:77:2f:77:2e:64:61:74:00",
        );
        assert_eq!(dhclient_wpad(&unknown).as_deref(), Some("http://w/w.dat"));
        // The current lease has no option 252: none, whatever an old lease said.
        let none = DHCLIENT.replace("  option wpad \"http://10.0.0.2/wpad.dat\\012\";\n", "");
        assert_eq!(dhclient_wpad(&none), None);
        assert_eq!(dhclient_wpad(""), None);
    }

    #[test]
    fn networkd_keeps_it_as_hex() {
        let lease = "# This is private data. Do not parse.\nADDRESS=192.168.1.121\nOPTION_252=687474703A2F2F31302E302E302E322F777061642E64617400\n";
        assert_eq!(
            networkd_wpad(lease).as_deref(),
            Some("http://10.0.0.2/wpad.dat")
        );
        for bad in [
            "OPTION_252=6874G",
            "OPTION_252=687",
            "OPTION_252=4142",
            "ADDRESS=1",
        ] {
            assert_eq!(networkd_wpad(bad), None, "{bad}");
        }
    }

    #[test]
    fn what_is_not_a_url_is_no_url() {
        for value in ["\"wpad.dat\"", "\"\"", "zz:zz", "\"http://a\\", "\"\\0\""] {
            assert_eq!(option_text(value), None, "{value}");
        }
        assert_eq!(
            option_text("\"http://a/\\\"b\"").as_deref(),
            Some("http://a/\"b")
        );
    }
}
