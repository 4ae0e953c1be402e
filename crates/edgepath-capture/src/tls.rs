//! What a TLS handshake shows in clear text, from the first bytes of each direction
//! of a TCP stream: the ClientHello's server name (SNI) and ALPN, and, up to TLS 1.2,
//! the server's certificate chain (subject, names, issuer, validity). Handshake
//! messages may span records and records may span segments; the caller hands in the
//! reassembled prefix and gets `NeedMore` until there is enough.

use serde::Serialize;

use crate::hash::FxMap;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The most handshake bytes edgepath gathers per direction.
pub const MAX_HANDSHAKE: usize = 64 * 1024;

/// A parse that may need more bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse<T> {
    /// Not enough bytes yet.
    NeedMore,
    /// Complete: the parsed value.
    Done(T),
    /// This stream does not carry what was looked for (not TLS, or TLS without it).
    No,
}

/// The client's opening.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ClientHello {
    /// The server name indication.
    pub sni: Option<String>,
    /// ALPN protocols offered.
    pub alpn: Vec<String>,
    /// Whether it carried any extension (every real TLS client sends some; MS-TURN's
    /// pseudo-TLS ClientHello has none).
    #[serde(skip)]
    pub extensions: bool,
}

/// One certificate of the server's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificate {
    /// Subject, as text.
    pub subject: String,
    /// DNS names (subjectAltName), else the subject's common name.
    pub names: Vec<String>,
    /// Issuer, as text.
    pub issuer: String,
    /// The issuer's common name, when it has one.
    pub issuer_cn: Option<String>,
    /// Not valid before (RFC 3339).
    pub not_before: String,
    /// Not valid after (RFC 3339).
    pub not_after: String,
}

/// What the server's side shows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ServerHello {
    /// TLS 1.3 (the certificate is encrypted).
    pub tls13: bool,
    /// The chain as sent, leaf first (empty under TLS 1.3).
    pub chain: Vec<Certificate>,
}

/// Collects handshake message bytes from the records at the start of `stream`.
/// Returns the messages gathered and whether a non-handshake record followed them.
fn handshake_bytes(stream: &[u8]) -> Option<(Vec<u8>, bool)> {
    let mut hs = Vec::new();
    let mut at = 0;
    while at + 5 <= stream.len() {
        let typ = stream[at];
        if stream[at + 1] != 3 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([stream[at + 3], stream[at + 4]]));
        if typ != 22 {
            return matches!(typ, 20 | 21 | 23).then_some((hs, true));
        }
        let end = (at + 5 + len).min(stream.len());
        hs.extend_from_slice(&stream[at + 5..end]);
        at += 5 + len;
    }
    Some((hs, false))
}

/// The handshake messages in `hs`: (type, body); stops at a message not yet complete.
fn messages(hs: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = hs.get(at..at + 4)?;
        let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let body = hs.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        Some((h[0], body))
    })
}

/// A cursor that fails rather than panics.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

fn client_hello_body(body: &[u8]) -> Option<ClientHello> {
    let mut c = Cur(body);
    c.take(2 + 32)?;
    let sid = c.u8()?;
    c.take(sid)?;
    let suites = c.u16()?;
    c.take(suites)?;
    let comp = c.u8()?;
    c.take(comp)?;
    let mut hello = ClientHello::default();
    let Some(ext_len) = c.u16() else {
        return Some(hello); // no extensions (as MS-TURN's pseudo-TLS)
    };
    hello.extensions = ext_len > 0;
    let mut ext = Cur(c.take(ext_len)?);
    while let (Some(typ), Some(len)) = (ext.u16(), ext.u16()) {
        let mut v = Cur(ext.take(len)?);
        match typ {
            0 => {
                let n = v.u16()?;
                let mut list = Cur(v.take(n)?);
                while let Some(kind) = list.u8() {
                    let n = list.u16()?;
                    let name = list.take(n)?;
                    if kind == 0 && hello.sni.is_none() {
                        hello.sni = Some(text(name).to_ascii_lowercase());
                    }
                }
            }
            16 => {
                let n = v.u16()?;
                let mut list = Cur(v.take(n)?);
                while let Some(n) = list.u8() {
                    hello.alpn.push(text(list.take(n)?));
                }
            }
            _ => {}
        }
    }
    Some(hello)
}

/// The ClientHello at the start of a client's stream.
pub fn client_hello(stream: &[u8]) -> Parse<ClientHello> {
    let Some((hs, closed)) = handshake_bytes(stream) else {
        return Parse::No;
    };
    let first = messages(&hs).next();
    match first {
        Some((1, body)) => client_hello_body(body).map_or(Parse::No, Parse::Done),
        Some(_) => Parse::No,
        None if closed || stream.len() >= MAX_HANDSHAKE => Parse::No,
        None => Parse::NeedMore,
    }
}

fn certificate(der: &[u8]) -> Option<Certificate> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = |name: &x509_parser::x509::X509Name| {
        name.iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned)
    };
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        names.extend(cn(cert.subject()).map(|s| s.to_ascii_lowercase()));
    }
    let date = |t: i64| edgepath_model::time::rfc3339(u64::try_from(t).unwrap_or(0));
    Some(Certificate {
        subject: cert.subject().to_string(),
        names,
        issuer: cert.issuer().to_string(),
        issuer_cn: cn(cert.issuer()),
        not_before: date(cert.validity().not_before.timestamp()),
        not_after: date(cert.validity().not_after.timestamp()),
    })
}

/// Certificates already parsed, by their DER bytes. Servers send the same chain on
/// every connection, and parsing X.509 was about 40 % of the analysis of a Teams
/// capture; a hit costs a hash and a compare of the bytes instead.
#[derive(Debug, Default)]
pub struct CertCache {
    parsed: FxMap<Box<[u8]>, Option<Certificate>>,
}

/// Distinct certificates kept; past that, certificates are parsed every time, so
/// memory stays bounded whatever the capture holds.
const MAX_CACHED_CERTS: usize = 4096;

impl CertCache {
    fn certificate(&mut self, der: &[u8]) -> Option<Certificate> {
        if let Some(known) = self.parsed.get(der) {
            return known.clone();
        }
        let cert = certificate(der);
        if self.parsed.len() < MAX_CACHED_CERTS {
            self.parsed.insert(der.into(), cert.clone());
        }
        cert
    }
}

/// The ServerHello and certificate chain at the start of a server's stream.
pub fn server_hello(stream: &[u8], certs: &mut CertCache) -> Parse<ServerHello> {
    let Some((hs, closed)) = handshake_bytes(stream) else {
        return Parse::No;
    };
    let mut out = ServerHello::default();
    let mut saw_hello = false;
    for (typ, body) in messages(&hs) {
        match typ {
            2 => {
                saw_hello = true;
                // supported_versions (43) = 0x0304 means TLS 1.3.
                let mut c = Cur(body);
                let parsed = (|| {
                    c.take(2 + 32)?;
                    let sid = c.u8()?;
                    c.take(sid + 3)?;
                    let n = c.u16()?;
                    let mut ext = Cur(c.take(n)?);
                    while let (Some(t), Some(l)) = (ext.u16(), ext.u16()) {
                        let v = ext.take(l)?;
                        if t == 43 && v == [3, 4] {
                            return Some(true);
                        }
                    }
                    Some(false)
                })();
                if parsed == Some(true) {
                    out.tls13 = true;
                    return Parse::Done(out);
                }
            }
            11 => {
                let mut c = Cur(body);
                let Some(total) = c.u24() else {
                    return Parse::No;
                };
                let Some(list) = c.take(total) else {
                    return Parse::No;
                };
                let mut l = Cur(list);
                while let Some(n) = l.u24() {
                    let Some(der) = l.take(n) else { break };
                    if let Some(cert) = certs.certificate(der) {
                        out.chain.push(cert);
                    }
                }
                return Parse::Done(out);
            }
            // ServerHelloDone without a certificate (MS-TURN's pseudo-TLS, anonymous suites).
            14 => {
                return if saw_hello {
                    Parse::Done(out)
                } else {
                    Parse::No
                }
            }
            _ => {}
        }
    }
    if closed || stream.len() >= MAX_HANDSHAKE {
        return if saw_hello {
            Parse::Done(out)
        } else {
            Parse::No
        };
    }
    Parse::NeedMore
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_panics_on_cut_or_garbage_input() {
        let hello = [
            0x16, 3, 1, 0, 0x2e, 1, 0, 0, 0x2a, 3, 3, // record, handshake header, version
        ];
        for n in 0..hello.len() {
            let _ = client_hello(&hello[..n]);
            let _ = server_hello(&hello[..n], &mut CertCache::default());
        }
        assert_eq!(client_hello(b"GET / HTTP/1.1\r\n"), Parse::No);
        assert_eq!(client_hello(&[0x16, 3, 1, 0, 10, 1, 0]), Parse::NeedMore);
    }

    #[test]
    fn sni_and_alpn() {
        // A minimal ClientHello: version, random, no session, one suite, null compression,
        // SNI teams.microsoft.com and ALPN h2.
        let name = b"teams.microsoft.com";
        let mut sni = vec![0, 0];
        let list_len = 3 + name.len();
        sni.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        sni.extend_from_slice(&(list_len as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        let alpn = [0u8, 16, 0, 5, 0, 3, 2, b'h', b'2'];
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&((sni.len() + alpn.len()) as u16).to_be_bytes());
        body.extend_from_slice(&sni);
        body.extend_from_slice(&alpn);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        let got = client_hello(&rec);
        assert_eq!(
            got,
            Parse::Done(ClientHello {
                sni: Some("teams.microsoft.com".into()),
                alpn: vec!["h2".into()],
                extensions: true
            })
        );
        assert_eq!(client_hello(&rec[..rec.len() - 1]), Parse::NeedMore);
    }
}
