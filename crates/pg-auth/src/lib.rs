//! Connector credentials, libpq-exact TLS modes, connections and pools for PostgreSQL
//! (built for AWS RDS, usable with any server).
//!
//! - [`CredentialSource`]: where the user name and secret come from: [`StaticPassword`],
//!   [`EnvPassword`] and, with the default `aws` feature, [`SecretsManagerSource`] and
//!   [`IamTokenSource`] (tokens signed exactly as botocore, see [`generate_auth_token`]).
//! - [`SecretsManagerRotation`]: the Secrets Manager steps of rotating the connector's password
//!   (a new `AWSPENDING` version, the move of `AWSCURRENT`); see [`rotation`].
//! - [`SslMode`] (from `integration-model`) and [`RootCertificates`]: TLS behaving as libpq
//!   for all six modes (checked against `psql` cell by cell in `tests/libpq_conformance.rs`):
//!
//! | mode | attempts | certificate checks |
//! |---|---|---|
//! | `disable` | plaintext | — |
//! | `allow` | plaintext; TLS if the server answered with an error | chain if a root cert is given |
//! | `prefer` | TLS (plaintext if the server has none); plaintext if the handshake failed or the server sent an error over TLS | chain if a root cert is given |
//! | `require` | TLS only | chain if a root cert is given (libpq's rule for an existing root file) |
//! | `verify-ca` | TLS only | chain; a root cert is required |
//! | `verify-full` | TLS only | chain and host name (DNS SANs; IP SANs for IP hosts) |
//!
//! - [`connect`] / [`ping`] with [`ConnectOptions`]: one connection, retried once with a fresh
//!   credential after an authentication failure. Every session starts with
//!   `search_path = pg_catalog, pg_temp` ([`SESSION_SEARCH_PATH`]) and bounded `lock_timeout`,
//!   `statement_timeout` and `idle_in_transaction_session_timeout`, sent as startup options
//!   (they outrank `ALTER ROLE/DATABASE … SET`). A cleartext or MD5 password request (how IAM
//!   tokens are sent) is answered only by a server whose certificate chain was verified;
//!   otherwise [`AuthError::UnverifiedServer`], before anything is sent.
//! - [`Pool`]: a deadpool pool whose every new physical connection asks the source; a returned
//!   connection inside a transaction, holding an advisory lock or with `SET` state is
//!   discarded ([`SESSION_STATE_CHECK`]).
//! - [`Clock`]: injectable time for signing, expiry and cache decisions.
//! - [`AuthError`]: the one error type; it never contains a secret.
//!
//! ```no_run
//! # async fn example() -> Result<(), pg_auth::AuthError> {
//! use std::sync::Arc;
//! use pg_auth::{ConnectOptions, Pool, PoolOptions, RootCertificates, SslMode, StaticPassword};
//!
//! let options = ConnectOptions::builder("mydb.abc.eu-west-1.rds.amazonaws.com")
//!     .dbname("appdb")
//!     .ssl_mode(SslMode::VerifyFull)
//!     .root_certificates(RootCertificates::from_pem_file("global-bundle.pem")?)
//!     .build()?;
//! let source = Arc::new(StaticPassword::new("apono_connector", "secret".into()));
//! let report = pg_auth::ping(&options, source.as_ref()).await?;
//! println!("TLS: {}, server {}", report.tls, report.server_version);
//!
//! let pool = Pool::new(options, source, PoolOptions::builder().max_size(4).build()?)?;
//! let client = pool.get().await?;
//! client.simple_query("SELECT 1").await.map_err(|source| pg_auth::AuthError::Query { context: "example", source })?;
//! # Ok(()) }
//! ```

mod clock;
mod connect;
mod credential;
mod error;
pub mod file;
mod guard;
mod pool;
#[cfg(feature = "aws")]
pub mod rotation;
#[cfg(feature = "aws")]
mod secret;
#[cfg(feature = "aws")]
mod secrets_manager;
mod source;
mod tls;
#[cfg(feature = "aws")]
mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use connect::{
    ConnectOptions, ConnectOptionsBuilder, Connection, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT, DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT,
    PingReport, SESSION_SEARCH_PATH, TargetSessionAttrs, connect, ping,
};
pub use credential::Credential;
pub use error::{AuthError, is_read_only_failure};
pub use pool::{
    ConnectBackoff, Pool, PoolManager, PoolObject, PoolOptions, PoolOptionsBuilder, PoolStatus,
    PooledConnection, RecycleCheck, SESSION_STATE_CHECK,
};
#[cfg(feature = "aws")]
pub use rotation::{SecretStages, SecretVersion, SecretsManagerRotation};
#[cfg(feature = "aws")]
pub use secret::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, RdsSecret};
#[cfg(feature = "aws")]
pub use secrets_manager::{DEFAULT_SECRET_TTL, SecretsManagerSource};
pub use source::{CredentialSource, EnvPassword, StaticPassword};
pub use tls::{MAX_ROOT_CERT_FILE_SIZE, RootCertificates, SslMode};
#[cfg(feature = "aws")]
pub use token::{
    DEFAULT_REFRESH_MARGIN, IamTokenSource, TOKEN_LIFETIME, TokenRequest, generate_auth_token,
};

/// The AWS SDK's shared configuration (region, credentials, endpoint, retries), re-exported so
/// that callers can load it once and hand it to [`SecretsManagerSource`] and
/// [`IamTokenSource`] without depending on `aws-config` themselves.
#[cfg(feature = "aws")]
pub use aws_config::SdkConfig;

/// Re-exported so that users need not depend on `secrecy` to build credentials.
pub use secrecy::{ExposeSecret, SecretString};
