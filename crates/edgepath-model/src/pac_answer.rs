//! The grammar of a PAC's answer (`PROXY a:3128; PROXY b:3128; DIRECT`), apart from
//! any engine that runs a PAC: `audit` and `check` run PACs, and `check` also reads
//! the answers back from its report (to name a cloud proxy's vendor).

/// One way a PAC answer lets a request go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacChoice {
    /// Straight to the server.
    Direct,
    /// Through an HTTP proxy (`PROXY` or `HTTP`; `HTTPS` is a TLS proxy, the same here).
    Proxy {
        /// As written: an address or a name.
        host: String,
        /// Its port.
        port: u16,
    },
    /// A SOCKS proxy: not a path the audit models.
    Socks(String),
}

/// `DIRECT; PROXY a:1; SOCKS b:2` into choices (unknown words are skipped).
pub fn parse_answer(text: &str) -> Vec<PacChoice> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut w = part.split_whitespace();
        let kind = w.next().unwrap_or("").to_ascii_uppercase();
        let target = w.next().unwrap_or("");
        match kind.as_str() {
            "DIRECT" => out.push(PacChoice::Direct),
            "PROXY" | "HTTP" | "HTTPS" => {
                let (host, port) = match target.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(':') => (h, p.parse().unwrap_or(0)),
                    _ => (target, if kind == "HTTPS" { 443 } else { 80 }),
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if !host.is_empty() && port != 0 {
                    out.push(PacChoice::Proxy {
                        host: host.to_owned(),
                        port,
                    });
                }
            }
            "SOCKS" | "SOCKS4" | "SOCKS5" => out.push(PacChoice::Socks(part.to_owned())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        assert_eq!(
            parse_answer(
                "PROXY [2001:db8::1]:8080; HTTPS secure.example:443;SOCKS5 s:1080; DIRECT"
            ),
            vec![
                PacChoice::Proxy {
                    host: "2001:db8::1".into(),
                    port: 8080
                },
                PacChoice::Proxy {
                    host: "secure.example".into(),
                    port: 443
                },
                PacChoice::Socks("SOCKS5 s:1080".into()),
                PacChoice::Direct
            ]
        );
        assert!(parse_answer("").is_empty());
    }
}
