//! The [`CredentialSource`] trait and the password sources that need no AWS.

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::{AuthError, Credential};

/// Where the connector's user name and secret come from.
///
/// Asked once per new physical connection (so IAM tokens are fresh and rotated passwords are
/// picked up). Object-safe: hold it as `Arc<dyn CredentialSource>`.
#[async_trait]
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// The credential to log in with now.
    async fn credential(&self) -> Result<Credential, AuthError>;

    /// Called after the server rejected the last credential. A caching source drops its cache
    /// and returns `true` when asking again may give a different credential (then the
    /// connection is retried once); the default returns `false`.
    async fn on_auth_failure(&self) -> bool {
        false
    }

    /// Called after the server rejected `rejected`, a credential this source handed out
    /// ([`connect`](crate::connect) calls this one). A source that hands out more than one
    /// kind of credential decides from `rejected` itself, not from what it handed out last:
    /// connections fail concurrently, and the last one handed out may be another. The default
    /// calls [`CredentialSource::on_auth_failure`].
    async fn on_rejected(&self, rejected: &Credential) -> bool {
        let _ = rejected;
        self.on_auth_failure().await
    }
}

#[async_trait]
impl<T: CredentialSource + ?Sized> CredentialSource for std::sync::Arc<T> {
    async fn credential(&self) -> Result<Credential, AuthError> {
        (**self).credential().await
    }
    async fn on_auth_failure(&self) -> bool {
        (**self).on_auth_failure().await
    }
    async fn on_rejected(&self, rejected: &Credential) -> bool {
        (**self).on_rejected(rejected).await
    }
}

/// A fixed user and password.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use pg_auth::{CredentialSource, StaticPassword};
/// let source = StaticPassword::new("apono_connector", "s3cret".into());
/// let credential = source.credential().await?;
/// assert_eq!(credential.user(), "apono_connector");
/// assert!(!format!("{source:?}").contains("s3cret"));
/// # Ok::<(), pg_auth::AuthError>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct StaticPassword {
    user: String,
    password: SecretString,
}

impl StaticPassword {
    /// A source that always returns `user` / `password`.
    pub fn new(user: impl Into<String>, password: SecretString) -> Self {
        Self {
            user: user.into(),
            password,
        }
    }
}

impl fmt::Debug for StaticPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticPassword")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

#[async_trait]
impl CredentialSource for StaticPassword {
    async fn credential(&self) -> Result<Credential, AuthError> {
        Ok(Credential::new(self.user.clone(), self.password.clone()))
    }
}

/// A fixed user whose password is read from an environment variable at every call, so a
/// changed variable is picked up by the next connection.
#[derive(Debug, Clone)]
pub struct EnvPassword {
    user: String,
    variable: String,
}

impl EnvPassword {
    /// A source that returns `user` and the value of the environment variable `variable`.
    pub fn new(user: impl Into<String>, variable: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            variable: variable.into(),
        }
    }
}

#[async_trait]
impl CredentialSource for EnvPassword {
    async fn credential(&self) -> Result<Credential, AuthError> {
        let password = std::env::var(&self.variable).map_err(|_| AuthError::EnvVarMissing {
            name: self.variable.clone(),
        })?;
        Ok(Credential::new(self.user.clone(), password.into()))
    }

    async fn on_auth_failure(&self) -> bool {
        // The variable is re-read at every call anyway; a retry only helps if it changed.
        false
    }
}
