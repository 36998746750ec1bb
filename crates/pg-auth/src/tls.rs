//! TLS policy per SSL mode, following libpq.
//!
//! | mode | first attempt | fallback | certificate checks |
//! |---|---|---|---|
//! | `disable` | plaintext | none | — |
//! | `allow` | plaintext | TLS if the server sent an error | chain only if a root cert is given |
//! | `prefer` | TLS (plaintext on the same socket if the server says `N`) | plaintext if the handshake failed or the server sent an error over TLS | chain only if a root cert is given |
//! | `require` | TLS | none (`N` is an error) | chain only if a root cert is given |
//! | `verify-ca` | TLS | none | chain (root cert required) |
//! | `verify-full` | TLS | none | chain and host name (DNS SANs, IP SANs for IP hosts) |
//!
//! Sources: <https://www.postgresql.org/docs/current/libpq-ssl.html> ("If a root CA file
//! exists, the behavior of sslmode=require will be the same as that of verify-ca") and
//! libpq's `fe-connect.c` / `fe-secure-openssl.c` (which load an existing root file and verify
//! the chain in every mode that uses TLS, and retry as in the table).

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};

use crate::AuthError;
use crate::guard::Guarded;

pub use integration_model::SslMode;

/// A set of trusted root certificates (a PEM bundle such as RDS's `global-bundle.pem`).
#[derive(Clone)]
pub struct RootCertificates {
    certs: Arc<Vec<native_tls::Certificate>>,
    origin: String,
}

impl fmt::Debug for RootCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCertificates")
            .field("origin", &self.origin)
            .field("count", &self.certs.len())
            .finish()
    }
}

/// The largest CA bundle file [`RootCertificates::from_pem_file`] reads: 1 MiB (RDS's global
/// bundle, <https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem>, is about 170 KB).
pub const MAX_ROOT_CERT_FILE_SIZE: u64 = 1024 * 1024;

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

impl RootCertificates {
    /// Parses every certificate of a PEM bundle. Fails when the text holds none or one is invalid.
    pub fn from_pem(pem: &[u8]) -> Result<Self, AuthError> {
        Self::parse(pem, "in-memory PEM".to_owned())
    }

    /// Reads and parses a PEM bundle file of at most [`MAX_ROOT_CERT_FILE_SIZE`] bytes (RDS's
    /// global bundle is about 170 KB). A larger file, or one that is not a regular file
    /// (`/dev/zero`, a FIFO, a directory), is refused with [`AuthError::RootCert`] naming the
    /// path and the limit, without reading it whole.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        use crate::file::{FileError, read_bounded};

        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = read_bounded(path, MAX_ROOT_CERT_FILE_SIZE).map_err(|e| {
            let (reason, source): (String, Option<Box<dyn std::error::Error + Send + Sync>>) =
                match e {
                    FileError::NotRegular => (
                        "not a regular file (a CA bundle is a PEM file, not a device, FIFO or \
                         directory)"
                            .to_owned(),
                        None,
                    ),
                    FileError::TooLarge { limit } => (
                        format!(
                            "the file is larger than the limit of {limit} bytes for a CA bundle"
                        ),
                        None,
                    ),
                    FileError::Io(io) => ("cannot read the file".to_owned(), Some(Box::new(io))),
                };
            AuthError::RootCert {
                origin: origin.clone(),
                reason,
                source,
            }
        })?;
        Self::parse(&bytes, origin)
    }

    fn parse(pem: &[u8], origin: String) -> Result<Self, AuthError> {
        let error = |reason: String| AuthError::RootCert {
            origin: origin.clone(),
            reason,
            source: None,
        };
        let failed =
            |reason: &str, source: Box<dyn std::error::Error + Send + Sync>| AuthError::RootCert {
                origin: origin.clone(),
                reason: reason.to_owned(),
                source: Some(source),
            };
        let text = std::str::from_utf8(pem).map_err(|_| error("the PEM is not text".into()))?;
        let mut certs = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(PEM_BEGIN) {
            let after = &rest[start..];
            let end = after.find(PEM_END).ok_or_else(|| {
                error(format!("certificate #{} has no END line", certs.len() + 1))
            })? + PEM_END.len();
            let block = &after[..end];
            let cert = native_tls::Certificate::from_pem(block.as_bytes()).map_err(|e| {
                failed(
                    &format!("certificate #{} does not parse", certs.len() + 1),
                    Box::new(e),
                )
            })?;
            certs.push(cert);
            rest = &after[end..];
        }
        if certs.is_empty() {
            return Err(error("no \"BEGIN CERTIFICATE\" block found".into()));
        }
        Ok(Self {
            certs: Arc::new(certs),
            origin,
        })
    }

    /// Number of certificates in the bundle.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Always false: a bundle holds at least one certificate.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// How the attempts for one connection are made, derived from the SSL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Plaintext only.
    Plain,
    /// Plaintext; after a server error, TLS (plaintext again if the server says `N`).
    PlainThenTls,
    /// TLS (plaintext on `N`); after a failed handshake or a server error over TLS, plaintext.
    TlsThenPlain,
    /// TLS only; `N` is an error.
    TlsOnly,
}

/// The TLS side of a connection: plan plus a configured connector.
#[derive(Clone)]
pub(crate) struct TlsPolicy {
    pub(crate) plan: Plan,
    connector: Option<native_tls::TlsConnector>,
    /// A root certificate is given, so every TLS session checked the server's chain.
    pub(crate) verifies: bool,
}

impl fmt::Debug for TlsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPolicy")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl TlsPolicy {
    pub(crate) fn new(
        mode: SslMode,
        roots: Option<&RootCertificates>,
        host: &str,
        port: u16,
    ) -> Result<Self, AuthError> {
        // The order of attempts of the modes that may send plaintext (libpq's fe-connect.c);
        // every other mode is TLS only.
        let plan = match mode {
            SslMode::Disable => Plan::Plain,
            SslMode::Allow => Plan::PlainThenTls,
            SslMode::Prefer => Plan::TlsThenPlain,
            other if other.may_be_plaintext() => {
                return Err(AuthError::InvalidConfig {
                    field: "ssl_mode",
                    reason: format!("{other:?} is not supported by this version of pg-auth"),
                });
            }
            _ => Plan::TlsOnly,
        };
        let verify_host = mode == SslMode::VerifyFull;
        if mode.verifies() && roots.is_none() {
            return Err(AuthError::RootCertMissing {
                mode: mode.as_str().to_owned(),
            });
        }
        if plan == Plan::Plain {
            return Ok(Self {
                plan,
                connector: None,
                verifies: false,
            });
        }
        let mut builder = native_tls::TlsConnector::builder();
        builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
        match roots {
            // libpq verifies the chain whenever a root certificate exists, in every mode.
            Some(roots) => {
                builder.disable_built_in_roots(true);
                for cert in roots.certs.iter() {
                    builder.add_root_certificate(cert.clone());
                }
            }
            None => {
                builder.danger_accept_invalid_certs(true);
            }
        }
        builder.danger_accept_invalid_hostnames(!verify_host);
        let connector = builder.build().map_err(|e| AuthError::Tls {
            host: host.to_owned(),
            port,
            detail: "cannot build the TLS connector".into(),
            source: Box::new(e),
        })?;
        Ok(Self {
            plan,
            connector: Some(connector),
            verifies: roots.is_some(),
        })
    }

    /// A tokio-postgres TLS maker that records whether a handshake was started and guards the
    /// TLS stream ([`Guarded`]): a revealing password request is answered only when the chain
    /// was verified or `allow_unverified_password` is set.
    pub(crate) fn maker(
        &self,
        allow_unverified_password: bool,
    ) -> Option<(TrackingTls, Arc<AtomicBool>)> {
        let connector = self.connector.clone()?;
        let started = Arc::new(AtomicBool::new(false));
        Some((
            TrackingTls {
                inner: postgres_native_tls::MakeTlsConnector::new(connector),
                started: started.clone(),
                may_reveal: self.verifies || allow_unverified_password,
            },
            started,
        ))
    }
}

/// Wraps the native-tls maker to note that the server accepted the SSLRequest ('S').
#[derive(Clone)]
pub(crate) struct TrackingTls {
    inner: postgres_native_tls::MakeTlsConnector,
    started: Arc<AtomicBool>,
    may_reveal: bool,
}

impl fmt::Debug for TrackingTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackingTls").finish_non_exhaustive()
    }
}

impl<S> MakeTlsConnect<S> for TrackingTls
where
    S: AsyncRead + AsyncWrite + Unpin + 'static + Send,
{
    type Stream = Guarded<postgres_native_tls::TlsStream<S>>;
    type TlsConnect = TrackingConnect;
    type Error = native_tls::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<TrackingConnect, native_tls::Error> {
        let inner = MakeTlsConnect::<S>::make_tls_connect(&mut self.inner, domain)?;
        Ok(TrackingConnect {
            inner,
            started: self.started.clone(),
            may_reveal: self.may_reveal,
        })
    }
}

/// One TLS handshake, flagged as started when tokio-postgres runs it.
pub(crate) struct TrackingConnect {
    inner: postgres_native_tls::TlsConnector,
    started: Arc<AtomicBool>,
    may_reveal: bool,
}

impl fmt::Debug for TrackingConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackingConnect").finish_non_exhaustive()
    }
}

impl<S> TlsConnect<S> for TrackingConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Guarded<postgres_native_tls::TlsStream<S>>;
    type Error = native_tls::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, native_tls::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        // Only called after the server answered 'S' to the SSLRequest.
        self.started.store(true, Ordering::SeqCst);
        let handshake = TlsConnect::<S>::connect(self.inner, stream);
        let may_reveal = self.may_reveal;
        Box::pin(async move { Ok(Guarded::new(handshake.await?, may_reveal)) })
    }
}

pub(crate) fn started(flag: &AtomicBool) -> bool {
    flag.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_A_CERT: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

    #[test]
    fn root_bundle_errors_name_the_problem() {
        let err = RootCertificates::from_pem(b"hello")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no \"BEGIN CERTIFICATE\" block"), "{err}");
        let err = RootCertificates::from_pem(NOT_A_CERT.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("certificate #1 does not parse"), "{err}");
        let err = RootCertificates::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no END line"), "{err}");
        let err = RootCertificates::from_pem_file("/nonexistent/ca.pem")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn plans_follow_libpq() {
        // Source: libpq-ssl.html, table "SSL Mode Descriptions"; fe-connect.c retry rules.
        let rows = [
            (SslMode::Disable, Plan::Plain),
            (SslMode::Allow, Plan::PlainThenTls),
            (SslMode::Prefer, Plan::TlsThenPlain),
            (SslMode::Require, Plan::TlsOnly),
        ];
        for (mode, plan) in rows {
            assert_eq!(
                TlsPolicy::new(mode, None, "h", 5432).unwrap().plan,
                plan,
                "{mode}"
            );
        }
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            let err = TlsPolicy::new(mode, None, "h", 5432).unwrap_err();
            assert!(matches!(err, AuthError::RootCertMissing { .. }), "{mode}");
        }
    }

    #[test]
    fn plans_agree_with_the_model() {
        // The model's predicates decide: a mode that may not send plaintext is TLS only, and a
        // verifying mode needs a root certificate.
        for mode in [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            match TlsPolicy::new(mode, None, "h", 5432) {
                Ok(policy) => {
                    assert!(!mode.verifies(), "{mode}");
                    assert_eq!(
                        policy.plan == Plan::TlsOnly,
                        !mode.may_be_plaintext(),
                        "{mode}"
                    );
                }
                Err(err) => {
                    assert!(mode.verifies(), "{mode}");
                    assert!(!mode.may_be_plaintext(), "{mode}");
                    assert!(matches!(err, AuthError::RootCertMissing { .. }), "{mode}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn bundle_parser_never_panics(text in "(-----BEGIN CERTIFICATE-----|-----END CERTIFICATE-----|\\PC){0,20}") {
            let _ = RootCertificates::from_pem(text.as_bytes());
        }
    }
}
