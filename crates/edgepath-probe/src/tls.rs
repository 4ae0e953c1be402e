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
    /// The name the chain must be valid for, when it is not the one asked for in SNI
    /// (a connection to a bare address still expects the relay's certificate).
    verify_as: Option<ServerName<'static>>,
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
        let server_name = self.verify_as.as_ref().unwrap_or(server_name);
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
    let peer = Peer {
        sni: Some(server_name),
        verify_as: server_name,
        address: None,
    };
    connect(stream, peer, trust, timeout, via_proxy).await.0
}

/// Whom a TLS connection is for: the name sent as SNI (none for a bare address, as
/// RFC 6066 allows no address there), and the name the certificate must be valid for.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// The SNI name, or `None` to connect by address alone.
    pub sni: Option<&'a str>,
    /// The name the chain is verified for.
    pub verify_as: &'a str,
    /// The address connected to (needed when there is no SNI).
    pub address: Option<std::net::IpAddr>,
}

/// Runs a TLS handshake over `stream` for `peer` and returns what it showed, with the
/// encrypted stream when it completed (TURN over TLS goes on inside it).
pub async fn connect<S>(
    stream: S,
    peer: Peer<'_>,
    trust: &Trust,
    timeout: Duration,
    via_proxy: bool,
) -> (TlsReport, Option<tokio_rustls::client::TlsStream<S>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut report = TlsReport::default();
    let Ok(verify_as) = ServerName::try_from(peer.verify_as.to_owned()) else {
        report.error = Some(format!(
            "`{}` is not a valid TLS server name",
            peer.verify_as
        ));
        return (report, None);
    };
    let sni = match (peer.sni, peer.address) {
        (Some(name), _) => match ServerName::try_from(name.to_owned()) {
            Ok(n) => n,
            Err(_) => {
                report.error = Some(format!("`{name}` is not a valid TLS server name"));
                return (report, None);
            }
        },
        (None, Some(ip)) => ServerName::IpAddress(ip.into()),
        (None, None) => verify_as.clone(),
    };
    let recorder = Arc::new(Recorder {
        trust: trust.clone(),
        seen: Mutex::new(Seen::default()),
        verify_as: (peer.sni != Some(peer.verify_as)).then_some(verify_as),
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
            return (report, None);
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut tls = None;
    match tokio::time::timeout(timeout, connector.connect(sni, stream)).await {
        Err(_) => {
            report.error = Some(format!(
                "no TLS handshake within {} ms",
                timeout.as_millis()
            ))
        }
        Ok(Err(e)) => report.error = Some(format!("TLS handshake failed: {e}")),
        Ok(Ok(s)) => {
            report.handshake = true;
            report.version = s.get_ref().1.protocol_version().map(|v| format!("{v:?}"));
            tls = Some(s);
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
    (report, tls)
}
