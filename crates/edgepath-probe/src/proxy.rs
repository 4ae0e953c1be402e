//! HTTP proxies: the configuration (flag or HTTPS_PROXY/NO_PROXY) and a CONNECT
//! tunnel, with every refusal named (407 is "proxy requires authentication").

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An explicit HTTP proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Host name or address.
    pub host: String,
    /// The proxy's TCP port (3128, 8080, ...).
    pub port: u16,
    /// Basic credentials (user, password).
    pub credentials: Option<(String, String)>,
    /// Bypass entries, lowercase: a name or its suffix (NO_PROXY's form), a pattern with
    /// `*` wildcards (`*` alone bypasses all; Windows' `*.contoso.com`, `10.*`), or
    /// `<local>` (names without a dot, as Windows reads it).
    pub no_proxy: Vec<String>,
    /// Where the setting came from (`--proxy`, `HTTPS_PROXY`, ...).
    pub source: String,
}

// Credentials never appear in output or logs.
impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Proxy({}:{}, from {}{})",
            self.host,
            self.port,
            self.source,
            if self.credentials.is_some() {
                ", with credentials"
            } else {
                ""
            }
        )
    }
}

impl Proxy {
    /// Reads `http://[user:pass@]host[:port]` (port 8080 by default, as curl does).
    pub fn parse(url: &str, source: &str) -> Result<Proxy, String> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("HTTP://"))
            .unwrap_or(url);
        if rest.contains("://") {
            return Err(format!(
                "proxy `{}`: only http:// proxies are supported",
                redact(url)
            ));
        }
        let rest = rest.trim_end_matches('/');
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
                h.trim_matches(['[', ']']).to_owned(),
                p.parse::<u16>()
                    .map_err(|_| format!("proxy `{}`: `{p}` is not a port", redact(url)))?,
            ),
            _ => (hostport.to_owned(), 8080),
        };
        if host.is_empty() {
            return Err(format!("proxy `{}` names no host", redact(url)));
        }
        let credentials = creds.map(split_credentials).transpose()?;
        Ok(Proxy {
            host,
            port,
            credentials,
            no_proxy: Vec::new(),
            source: source.to_owned(),
        })
    }

    /// The proxy from the environment: HTTPS_PROXY, https_proxy (then ALL_PROXY), with
    /// NO_PROXY/no_proxy.
    pub fn from_env() -> Option<Result<Proxy, String>> {
        let var = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            .into_iter()
            .find_map(|k| {
                std::env::var(k)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (k, v))
            })?;
        Some(Proxy::parse(var.1.trim(), var.0).map(|mut p| {
            let no = std::env::var("NO_PROXY")
                .or_else(|_| std::env::var("no_proxy"))
                .unwrap_or_default();
            p.no_proxy = no
                .split(',')
                .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect();
            p
        }))
    }

    /// Whether the bypass list sends `host` direct.
    pub fn bypasses(&self, host: &str) -> bool {
        let h = host.to_ascii_lowercase();
        self.no_proxy.iter().any(|n| {
            if n == "<local>" {
                !h.contains('.') && !h.contains(':')
            } else if n.contains('*') {
                wildcard(n, &h)
            } else {
                h == *n || h.ends_with(&format!(".{n}"))
            }
        })
    }

    /// `host:port` for reports.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Whether `text` matches `pattern`, whose `*` stands for any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    // split always yields a first part; the pattern holds a star, so a last one too.
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut middle: Vec<&str> = parts.collect();
    let last = middle.pop().unwrap_or_default();
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Splits `user:password`.
pub fn split_credentials(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((u, p)) if !u.is_empty() => Ok((u.to_owned(), p.to_owned())),
        _ => Err("proxy credentials must be user:password".into()),
    }
}

/// A URL with its credentials removed, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(a)) if a > s => format!("{}***@{}", &url[..s + 3], &url[a + 1..]),
        (None, Some(a)) => format!("***@{}", &url[a + 1..]),
        _ => url.to_owned(),
    }
}

/// Why a tunnel could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy itself could not be reached.
    #[error("the proxy {0} cannot be reached: {1}")]
    Unreachable(String, String),
    /// 407 without (or with rejected) credentials.
    #[error("proxy requires authentication (407){0}")]
    AuthRequired(String),
    /// Any other refusal, with the proxy's status line.
    #[error("the proxy refused the tunnel: {0} {1}")]
    Refused(u16, String),
    /// The proxy answered something that is not HTTP.
    #[error("the proxy answered something that is not HTTP: {0}")]
    Protocol(String),
    /// No answer in time.
    #[error("the proxy did not answer within {0} ms")]
    Timeout(u64),
}

/// Standard base64 (RFC 4648) with padding.
pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Opens a CONNECT tunnel to `host:port` through `proxy`.
pub async fn connect(
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ProxyError> {
    let ms = timeout.as_millis() as u64;
    tokio::time::timeout(timeout, connect_inner(proxy, host, port))
        .await
        .map_err(|_| ProxyError::Timeout(ms))?
}

async fn connect_inner(proxy: &Proxy, host: &str, port: u16) -> Result<TcpStream, ProxyError> {
    let mut s = TcpStream::connect((proxy.host.as_str(), proxy.port))
        .await
        .map_err(|e| ProxyError::Unreachable(proxy.address(), e.to_string()))?;
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: edgepath/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some((u, p)) = &proxy.credentials {
        req.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64(format!("{u}:{p}").as_bytes())
        ));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| ProxyError::Unreachable(proxy.address(), e.to_string()))?;
    // Read the response head byte by byte: nothing of the tunnel may be consumed.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(ProxyError::Protocol("a response head over 16 KiB".into()));
        }
        match s.read(&mut byte).await {
            Ok(0) => {
                return Err(ProxyError::Protocol(format!(
                    "the connection closed after {} bytes of answer",
                    head.len()
                )))
            }
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(ProxyError::Unreachable(proxy.address(), e.to_string())),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (version, code, reason) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").trim(),
    );
    if !version.starts_with("HTTP/") {
        return Err(ProxyError::Protocol(status_line.chars().take(80).collect()));
    }
    let code: u16 = code
        .parse()
        .map_err(|_| ProxyError::Protocol(status_line.chars().take(80).collect()))?;
    match code {
        200..=299 => Ok(s),
        407 => Err(ProxyError::AuthRequired(if proxy.credentials.is_some() {
            ": the credentials given were rejected".into()
        } else {
            String::new()
        })),
        _ => Err(ProxyError::Refused(code, reason.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls() {
        let p = Proxy::parse("http://alice:s3cret@10.0.0.2:3128/", "test").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("10.0.0.2", 3128));
        assert_eq!(p.credentials, Some(("alice".into(), "s3cret".into())));
        assert!(!format!("{p:?}").contains("s3cret"));
        assert_eq!(Proxy::parse("proxy.corp", "t").unwrap().port, 8080);
        assert_eq!(
            Proxy::parse("http://[2001:db8::1]:3128", "t").unwrap().host,
            "2001:db8::1"
        );
        assert!(Proxy::parse("socks5://x:1", "t").is_err());
        assert!(Proxy::parse("http://x:notaport", "t").is_err());
        assert_eq!(redact("http://a:b@h:1"), "http://***@h:1");
    }

    #[test]
    fn no_proxy_suffixes() {
        let mut p = Proxy::parse("http://p:1", "t").unwrap();
        p.no_proxy = vec!["lync.com".into()];
        assert!(p.bypasses("webdir.online.lync.com") && p.bypasses("LYNC.com"));
        assert!(!p.bypasses("notlync.com"));
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
