//! TLS for the access API (rustls): the server's certificate and key from PEM files, reloaded
//! on SIGHUP and when the files change, and optionally client certificates (mutual TLS)
//! verified against a CA, whose names map to callers
//! ([`Caller::certificate`](crate::api::Caller)).
//!
//! Why reload in place: a certificate renewed by cert-manager, certbot or a secrets agent is
//! written over the old files; the connector must pick it up without a restart, which would
//! stop its scheduled revocations. A reload that fails (a half-written file, a key that does
//! not match) keeps the certificate in use and says why in the log; the next change tries
//! again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::scheduler::CancellationToken;

/// How often the files are looked at for a change (besides SIGHUP).
pub const RELOAD_POLL: Duration = Duration::from_secs(5);

/// How long a client has for the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the API's TLS material is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// The server's certificate chain (PEM, end-entity first).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that sign the client certificates callers may present; `None`:
    /// no mutual TLS (callers send bearer tokens).
    pub client_ca: Option<PathBuf>,
    /// How often the files are looked at for a change ([`RELOAD_POLL`] by default).
    pub poll: Duration,
}

impl TlsSettings {
    /// The certificate and key files, without mutual TLS.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
            poll: RELOAD_POLL,
        }
    }

    /// Client certificates signed by the CAs of `path` may identify callers.
    #[must_use]
    pub fn client_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(path.into());
        self
    }

    /// Looks at the files every `poll`.
    #[must_use]
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }
}

/// Why the TLS material could not be used (nothing starts with it; a reload keeps the old).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("TLS file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The certificate, key or CA was refused.
    #[error("TLS: {0}")]
    Rustls(String),
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The bytes of a PEM file (a regular file of at most 1 MiB, as every settings file).
fn read_pem(path: &Path) -> Result<String, TlsError> {
    rds_pg_access::read_text_file(path)
        .map_err(|e| file_error(path, rds_pg_access::error_chain(&e)))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certified_key(settings: &TlsSettings) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_pem = read_pem(&settings.cert)?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&settings.cert, e))?;
    if chain.is_empty() {
        return Err(file_error(&settings.cert, "no CERTIFICATE in it"));
    }
    let key_pem = read_pem(&settings.key)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| file_error(&settings.key, e))?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        TlsError::Rustls(format!(
            "{} with {}: {e}",
            settings.cert.display(),
            settings.key.display()
        ))
    })?;
    Ok(Arc::new(certified))
}

/// The certificate in use, swapped on reload.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// The API's TLS: a rustls acceptor whose certificate reloads ([`ApiTls::watch`]).
pub struct ApiTls {
    settings: TlsSettings,
    resolver: Arc<Reloading>,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for ApiTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ApiTls {
    /// Reads the files and builds the acceptor.
    ///
    /// ```no_run
    /// use rds_pg_access_service::tls::{ApiTls, TlsSettings};
    /// let tls = ApiTls::new(TlsSettings::new("/etc/rdspg/api.pem", "/etc/rdspg/api.key"))?;
    /// # Ok::<(), rds_pg_access_service::tls::TlsError>(())
    /// ```
    ///
    /// # Errors
    /// [`TlsError`] naming the file or what rustls refused.
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let resolver = Arc::new(Reloading {
            current: RwLock::new(load_certified_key(&settings)?),
        });
        let verifier = match &settings.client_ca {
            None => WebPkiClientVerifier::no_client_auth(),
            Some(path) => {
                let pem = read_pem(path)?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| file_error(path, e))?;
                    roots.add(cert).map_err(|e| file_error(path, e))?;
                }
                if roots.is_empty() {
                    return Err(file_error(path, "no CERTIFICATE in it"));
                }
                // Callers without a certificate still connect, and send a bearer token.
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| file_error(path, e))?
            }
        };
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            settings,
            resolver,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The acceptor for new connections.
    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    /// Reads the certificate and key again; on success new connections get them.
    ///
    /// # Errors
    /// [`TlsError`]: the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = load_certified_key(&self.settings)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner()) = certified;
        Ok(())
    }

    fn stamp(&self) -> Vec<Option<SystemTime>> {
        [&self.settings.cert, &self.settings.key]
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }

    /// Reloads on SIGHUP and whenever the files' modification times change, until
    /// `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: the TLS files are only polled");
                None
            }
        };
        let mut seen = self.stamp();
        let mut tick = tokio::time::interval(self.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let why = tokio::select! {
                () = shutdown.cancelled() => return,
                Some(()) = async {
                    match &mut hangup {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => "SIGHUP",
                _ = tick.tick() => {
                    let now = self.stamp();
                    if now == seen {
                        continue;
                    }
                    "the files changed"
                }
            };
            seen = self.stamp();
            match self.reload() {
                Ok(()) => tracing::info!(reason = why, cert = %self.settings.cert.display(),
                    "TLS certificate reloaded"),
                Err(e) => tracing::error!(reason = why, error = %e,
                    "TLS certificate not reloaded; the one in use stays"),
            }
        }
    }
}

/// The names a verified client certificate carries: its SAN DNS names, e-mail addresses and
/// URIs, or, only when it has no subject alternative name, its subject's common names (as
/// RFC 6125 does for servers: a CA that checks the SANs it signs may not check the CN of a
/// request, so a CN beside SANs names nobody).
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(n)
                | x509_parser::extensions::GeneralName::RFC822Name(n)
                | x509_parser::extensions::GeneralName::URI(n) => names.push((*n).to_owned()),
                _ => {}
            }
        }
    }
    // A SAN extension, even one that does not parse, rules the common name out.
    let has_san = !matches!(cert.subject_alternative_name(), Ok(None));
    if !has_san {
        for cn in cert.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str() {
                names.push(cn.to_owned());
            }
        }
    }
    names
}
