//! TLS handshakes with SNI (rustls, ring provider) that record who vouched for the
//! certificate chain.
//!
//! Three sets of roots, tried in order: the public roots (Mozilla's, via webpki-roots),
//! the roots the admin declares with `--ca` / `EDGEPATH_CA` (a private edge, the lab),
//! and the machine's system store (where companies install their inspection CAs). A
//! chain trusted only by the system store is TLS interception, and its issuer is named.
//! A chain no set trusts fails the handshake: verification is never turned off.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};

/// Which root set vouched for a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    /// The public roots.
    Public,
    /// Roots given with `--ca`.
    Declared,
    /// The machine's system store only.
    System,
}

/// Why trust could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TrustError {
    /// The file at fault.
    pub path: PathBuf,
    /// What was wrong.
    pub message: String,
}

/// The three root sets.
#[derive(Debug, Clone)]
pub struct Trust {
    provider: Arc<CryptoProvider>,
    public: Arc<WebPkiServerVerifier>,
    declared: Option<Arc<WebPkiServerVerifier>>,
    system: Option<Arc<WebPkiServerVerifier>>,
    /// How many system roots were loaded, and problems reading them.
    pub system_roots: usize,
    /// Problems reading the system store (reported, not fatal).
    pub system_errors: Vec<String>,
}

fn verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<WebPkiServerVerifier>> {
    if roots.is_empty() {
        return None;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .ok()
}

impl Trust {
    /// Loads the public roots, the declared CA files and the system store.
    pub fn load(ca_files: &[PathBuf]) -> Result<Trust, TrustError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut public = RootCertStore::empty();
        public.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut declared = RootCertStore::empty();
        for path in ca_files {
            load_pem(path, &mut declared)?;
        }
        let native = rustls_native_certs::load_native_certs();
        let mut system = RootCertStore::empty();
        let (added, _) = system.add_parsable_certificates(native.certs);
        let public = verifier(public, &provider).ok_or_else(|| TrustError {
            path: "webpki-roots".into(),
            message: "the public root store could not be built".into(),
        })?;
        Ok(Trust {
            public,
            declared: verifier(declared, &provider),
            system: verifier(system, &provider),
            system_roots: added,
            system_errors: native.errors.iter().map(|e| e.to_string()).collect(),
            provider,
        })
    }
}

fn load_pem(path: &Path, store: &mut RootCertStore) -> Result<(), TrustError> {
    let err = |message: String| TrustError {
        path: path.to_owned(),
        message,
    };
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut count = 0;
    for (i, cert) in iter.enumerate() {
        let cert = cert.map_err(|e| err(format!("certificate {} is not valid PEM: {e}", i + 1)))?;
        store
            .add(cert)
            .map_err(|e| err(format!("certificate {} is not a usable CA: {e}", i + 1)))?;
        count += 1;
    }
    if count == 0 {
        return Err(err("no PEM certificate in the file".into()));
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    anchor: Option<Anchor>,
    error: Option<String>,
}

/// A verifier that asks the three root sets in turn and records the answer.
#[derive(Debug)]
struct Recorder {
    trust: Trust,
    seen: Mutex<Seen>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        let sets = [
            (Anchor::Public, Some(&self.trust.public)),
            (Anchor::Declared, self.trust.declared.as_ref()),
            (Anchor::System, self.trust.system.as_ref()),
        ];
        let mut first_error = None;
        for (anchor, v) in sets {
            let Some(v) = v else { continue };
            match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                Ok(ok) => {
                    if let Ok(mut s) = self.seen.lock() {
                        *s = Seen {
                            chain,
                            anchor: Some(anchor),
                            error: None,
                        };
                    }
                    return Ok(ok);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let e = first_error.unwrap_or(TlsError::General("no roots to verify with".into()));
        if let Ok(mut s) = self.seen.lock() {
            *s = Seen {
                chain,
                anchor: None,
                error: Some(e.to_string()),
            };
        }
        Err(e)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.trust.public.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.trust.public.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.trust.public.supported_verify_schemes()
    }
}

/// What a handshake showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsReport {
    /// Whether the handshake completed (with a trusted chain).
    pub handshake: bool,
    /// Which root set vouched for the chain.
    pub verified_by: Option<Anchor>,
    /// The leaf certificate's issuer (common name, else the whole name).
    pub issuer: Option<String>,
    /// The leaf certificate's subject.
    pub subject: Option<String>,
    /// The leaf's DNS names (subjectAltName).
    pub names: Vec<String>,
    /// The negotiated protocol version.
    pub version: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Interception: a chain only the system store trusts, or (through a proxy) one
    /// that no root trusts.
    pub intercepted: bool,
}

fn describe_leaf(der: &CertificateDer<'_>, report: &mut TlsReport) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        report
            .error
            .get_or_insert_with(|| "the server's certificate cannot be parsed".into());
        return;
    };
    let name = |n: &x509_parser::x509::X509Name<'_>| {
        n.iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| n.to_string())
    };
    report.issuer = Some(name(cert.issuer()));
    report.subject = Some(name(cert.subject()));
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for g in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = g {
                report.names.push((*d).to_owned());
            }
        }
    }
}

/// Runs a TLS handshake with SNI `server_name` over `stream`. `via_proxy` says whether
/// a proxy is in the path (an untrusted chain there is reported as interception).
pub async fn handshake<S>(
    stream: S,
    server_name: &str,
    trust: &Trust,
    timeout: Duration,
    via_proxy: bool,
) -> TlsReport
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut report = TlsReport::default();
    let Ok(sni) = ServerName::try_from(server_name.to_owned()) else {
        report.error = Some(format!("`{server_name}` is not a valid TLS server name"));
        return report;
    };
    let recorder = Arc::new(Recorder {
        trust: trust.clone(),
        seen: Mutex::new(Seen::default()),
    });
    let config = match ClientConfig::builder_with_provider(trust.provider.clone())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth(),
        Err(e) => {
            report.error = Some(format!("TLS setup failed: {e}"));
            return report;
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(timeout, connector.connect(sni, stream)).await {
        Err(_) => {
            report.error = Some(format!(
                "no TLS handshake within {} ms",
                timeout.as_millis()
            ))
        }
        Ok(Err(e)) => report.error = Some(format!("TLS handshake failed: {e}")),
        Ok(Ok(tls)) => {
            report.handshake = true;
            report.version = tls.get_ref().1.protocol_version().map(|v| format!("{v:?}"));
        }
    }
    if let Ok(seen) = recorder.seen.lock() {
        report.verified_by = seen.anchor;
        if let Some(leaf) = seen.chain.first() {
            describe_leaf(leaf, &mut report);
        }
        if let (Some(e), None) = (&seen.error, &report.error) {
            report.error = Some(e.clone());
        }
        report.intercepted = seen.anchor == Some(Anchor::System)
            || (via_proxy && !seen.chain.is_empty() && seen.anchor.is_none());
    }
    report
}
