//! `serve --web-config FILE`: the Prometheus ecosystem's web configuration
//! (exporter-toolkit's `web-config.yml`, as node_exporter and Prometheus itself take
//! it): TLS with a certificate and key, optionally client certificates checked against
//! a CA, and basic-auth users with bcrypt hashes. Paths are relative to the file, as in
//! exporter-toolkit. Keys edgepath does not implement (cipher suites, curves, HTTP
//! headers, HTTP/2, unverified client certificates) are refused by name rather than
//! ignored: a file that asks for more than it gets would be a quiet weakening.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use yaml_rust2::{Yaml, YamlLoader};

use super::bcrypt::Hash;

/// How client certificates are asked for (exporter-toolkit's `client_auth_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// None asked for.
    NoClientCert,
    /// Checked against the client CA when the client sends one.
    VerifyClientCertIfGiven,
    /// Required and checked against the client CA.
    RequireAndVerifyClientCert,
}

/// The file, read and checked: TLS ready to accept with, and the users.
pub struct WebConfig {
    /// The TLS server configuration, when `tls_server_config` is there.
    pub tls: Option<Arc<ServerConfig>>,
    /// Basic-auth users and their hashes; empty: no authentication.
    pub users: BTreeMap<String, Hash>,
    /// What the file asks for, for the startup line (`TLS 1.2-1.3, client certificates
    /// required, basic auth (2 users)`).
    pub summary: String,
}

/// Reads and checks `path`; every mistake names the file, and the line for YAML.
pub fn load(path: &Path) -> Result<WebConfig> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| {
        anyhow!(
            "{shown}:{}:{}: not YAML: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        )
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let doc = match docs.as_slice() {
        [] => return Ok(plain()),
        [d] if d.is_null() => return Ok(plain()),
        [d] => d,
        _ => bail!("{shown}: more than one YAML document"),
    };
    let top = mapping(doc, &format!("{shown}"))?;
    let mut users = BTreeMap::new();
    let mut tls = None;
    let mut parts = Vec::new();
    for (key, value) in top {
        match key.as_str() {
            "tls_server_config" => {
                let (config, said) = tls_config(value, base, &format!("{shown}: tls_server_config"))?;
                tls = Some(config);
                parts.push(said);
            }
            "basic_auth_users" => {
                if value.is_null() {
                    continue;
                }
                users.clear();
                for (user, hash) in mapping(value, &format!("{shown}: basic_auth_users"))? {
                    let hash = hash.as_str().ok_or_else(|| {
                        anyhow!("{shown}: basic_auth_users.{user}: the hash is not a string")
                    })?;
                    let hash = Hash::parse(hash)
                        .map_err(|e| anyhow!("{shown}: basic_auth_users.{user}: {}", e.0))?;
                    users.insert(user, hash);
                }
                if !users.is_empty() {
                    parts.push(format!("basic auth ({} user(s))", users.len()));
                }
            }
            "http_server_config" => bail!(
                "{shown}: http_server_config is not supported by edgepath serve (it speaks HTTP/1.1 and sets no extra headers); remove it"
            ),
            other => bail!(
                "{shown}: unknown key `{other}` (tls_server_config, basic_auth_users)"
            ),
        }
    }
    if tls.is_none() {
        parts.insert(0, "plain HTTP".to_owned());
    }
    if users.is_empty() {
        parts.push("no authentication".to_owned());
    }
    Ok(WebConfig {
        tls,
        users,
        summary: parts.join(", "),
    })
}

fn plain() -> WebConfig {
    WebConfig {
        tls: None,
        users: BTreeMap::new(),
        summary: "plain HTTP, no authentication".to_owned(),
    }
}

/// A YAML mapping's string keys and values, in file order.
fn mapping<'a>(y: &'a Yaml, at: &str) -> Result<Vec<(String, &'a Yaml)>> {
    let Yaml::Hash(h) = y else {
        bail!("{at}: expected a mapping of keys to values");
    };
    h.iter()
        .map(|(k, v)| match k {
            Yaml::String(s) => Ok((s.clone(), v)),
            other => Err(anyhow!("{at}: a key that is not a string: {other:?}")),
        })
        .collect()
}

fn string(y: &Yaml, at: &str) -> Result<String> {
    y.as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{at}: expected a string"))
}

fn tls_version(text: &str, at: &str) -> Result<&'static rustls::SupportedProtocolVersion> {
    match text {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => {
            bail!("{at}: {text} is not offered (TLS 1.2 is the oldest edgepath speaks)")
        }
        other => bail!("{at}: `{other}` is not TLS12 or TLS13"),
    }
}

fn tls_config(y: &Yaml, base: &Path, at: &str) -> Result<(Arc<ServerConfig>, String)> {
    let mut cert_file = None;
    let mut key_file = None;
    let mut ca_file = None;
    let mut auth = ClientAuth::NoClientCert;
    let mut min = "TLS12".to_owned();
    let mut max = "TLS13".to_owned();
    for (key, value) in mapping(y, at)? {
        let here = format!("{at}.{key}");
        match key.as_str() {
            "cert_file" => cert_file = Some(base.join(string(value, &here)?)),
            "key_file" => key_file = Some(base.join(string(value, &here)?)),
            "client_ca_file" => ca_file = Some(base.join(string(value, &here)?)),
            "client_auth_type" => {
                auth = match string(value, &here)?.as_str() {
                    "NoClientCert" => ClientAuth::NoClientCert,
                    "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
                    "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
                    t @ ("RequestClientCert" | "RequireAnyClientCert") => bail!(
                        "{here}: {t} accepts certificates nobody checked; use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file"
                    ),
                    other => bail!("{here}: unknown `{other}` (NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"),
                }
            }
            "min_version" => min = string(value, &here)?,
            "max_version" => max = string(value, &here)?,
            "cipher_suites" | "curve_preferences" | "prefer_server_cipher_suites"
            | "client_allowed_sans" | "cert" | "key" => bail!(
                "{here} is not supported by edgepath serve (rustls' defaults: TLS 1.3 and 1.2 with forward-secret AEAD suites); remove it"
            ),
            other => bail!("{at}: unknown key `{other}`"),
        }
    }
    let cert_file = cert_file.ok_or_else(|| anyhow!("{at}: cert_file is required"))?;
    let key_file = key_file.ok_or_else(|| anyhow!("{at}: key_file is required"))?;
    let (min_v, max_v) = (
        tls_version(&min, &format!("{at}.min_version"))?,
        tls_version(&max, &format!("{at}.max_version"))?,
    );
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        match (min.as_str(), max.as_str()) {
            ("TLS12", "TLS13") => vec![min_v, max_v],
            ("TLS13", "TLS12") => bail!("{at}: min_version TLS13 is above max_version TLS12"),
            _ => vec![min_v],
        };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(Iterator::collect)
        .map_err(|e| anyhow!("{at}.cert_file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        bail!(
            "{at}.cert_file {}: no PEM certificate in it",
            cert_file.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| anyhow!("{at}.key_file {}: {e}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| anyhow!("{at}: {e}"))?;
    let builder = match (auth, &ca_file) {
        (ClientAuth::NoClientCert, _) => builder.with_no_client_auth(),
        (_, None) => bail!("{at}: client_auth_type needs client_ca_file"),
        (_, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| anyhow!("{at}.client_ca_file {}: {e}", ca.display()))?
            {
                roots
                    .add(cert)
                    .map_err(|e| anyhow!("{at}.client_ca_file {}: {e}", ca.display()))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if auth == ClientAuth::VerifyClientCertIfGiven {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(
                v.build()
                    .map_err(|e| anyhow!("{at}.client_ca_file {}: {e}", ca.display()))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| anyhow!("{at}: the key does not go with the certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let said = format!(
        "TLS {} ({})",
        if versions.len() == 2 {
            "1.2-1.3"
        } else if min == "TLS13" {
            "1.3"
        } else {
            "1.2"
        },
        match auth {
            ClientAuth::NoClientCert => "no client certificates",
            ClientAuth::VerifyClientCertIfGiven => "client certificates checked when given",
            ClientAuth::RequireAndVerifyClientCert => "client certificates required",
        }
    );
    Ok((Arc::new(config), said))
}

impl WebConfig {
    /// Whether an `Authorization` header value lets the request in: always without
    /// users; else `Basic base64(user:password)` of a user whose hash the password
    /// matches. `cache` holds digests of headers that passed, so that a scrape every 15 s
    /// does not pay bcrypt's cost each time (exporter-toolkit caches the same way).
    pub fn authorized(&self, header: Option<&str>, cache: &mut Vec<[u8; 32]>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        let digest: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(encoded.trim().as_bytes()).into()
        };
        if cache.contains(&digest) {
            return true;
        }
        let Some(decoded) = base64_decode(encoded.trim()) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let ok = std::str::from_utf8(user)
            .ok()
            .and_then(|u| self.users.get(u))
            .is_some_and(|h| h.verify(password));
        if ok {
            if cache.len() >= 64 {
                cache.remove(0);
            }
            cache.push(digest);
        }
        ok
    }
}

/// RFC 4648 base64 (with or without padding); `None` on anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    super::bcrypt::decode_base64(ALPHABET, text.trim_end_matches('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("edgepath-webcfg-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn basic_auth_users_with_bcrypt_hashes() {
        let d = tmp("auth");
        let p = write(
            &d,
            "web.yml",
            "basic_auth_users:\n  prometheus: $2b$04$szVMNpquV3m1K/JD9sv0tOTc/J/NpJzEn2tnpFd1A42.ag0YSB1gu\n",
        );
        let w = load(&p).unwrap();
        assert!(w.tls.is_none());
        assert_eq!(w.summary, "plain HTTP, basic auth (1 user(s))");
        let mut cache = Vec::new();
        // base64("prometheus:scrape-secret")
        let good = "Basic cHJvbWV0aGV1czpzY3JhcGUtc2VjcmV0";
        assert!(w.authorized(Some(good), &mut cache));
        assert_eq!(cache.len(), 1);
        assert!(w.authorized(Some(good), &mut cache), "from the cache");
        for bad in [
            None,
            Some("Basic cHJvbWV0aGV1czp3cm9uZw=="), // prometheus:wrong
            Some("Basic bm9ib2R5OnNjcmFwZS1zZWNyZXQ="), // nobody:scrape-secret
            Some("Basic !!!"),
            Some("Bearer cHJvbWV0aGV1czpzY3JhcGUtc2VjcmV0"),
            Some("Basic cHJvbWV0aGV1cw=="), // no colon
        ] {
            assert!(!w.authorized(bad, &mut cache), "{bad:?}");
        }
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn mistakes_are_refused_with_the_place() {
        let d = tmp("bad");
        let cases = [
            ("tls_server_config:\n  cert_file: [\n", "web.yml:"),
            ("basic_auth_users:\n  alice: plain\n", "basic_auth_users.alice: not a bcrypt hash"),
            ("tls_server_config:\n  key_file: k.pem\n", "cert_file is required"),
            ("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  cipher_suites: [x]\n", "cipher_suites is not supported"),
            ("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS11\n", "TLS11 is not offered"),
            ("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: RequireAnyClientCert\n", "nobody checked"),
            ("tls_server_config:\n  cert_file: missing.pem\n  key_file: k.pem\n", "missing.pem"),
            ("http_server_config:\n  http2: true\n", "http_server_config is not supported"),
            ("tls_config: {}\n", "unknown key `tls_config`"),
            ("- a\n- b\n", "expected a mapping"),
        ];
        for (text, words) in cases {
            let p = write(&d, "web.yml", text);
            let e = format!(
                "{:#}",
                load(&p).err().unwrap_or_else(|| panic!("{text} loaded"))
            );
            assert!(e.contains(words), "{text}: {e}");
        }
        // An empty file is plain HTTP, as exporter-toolkit takes it.
        let p = write(&d, "web.yml", "");
        assert_eq!(load(&p).unwrap().summary, "plain HTTP, no authentication");
    }
}
