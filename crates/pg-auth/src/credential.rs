//! The credential a [`CredentialSource`](crate::CredentialSource) hands out.

use std::fmt;
use std::time::SystemTime;

use secrecy::{ExposeSecret, SecretString};

/// A user name, its secret (password or IAM token) and, for short-lived secrets, an expiry.
///
/// `Debug` prints `[redacted]` in place of the secret; there is no `Display`.
#[derive(Clone)]
pub struct Credential {
    user: String,
    secret: SecretString,
    expires_at: Option<SystemTime>,
    /// Where the source took it from (a Secrets Manager stage), for
    /// [`CredentialSource::on_rejected`](crate::CredentialSource::on_rejected).
    origin: Option<&'static str>,
}

impl Credential {
    /// A credential that does not expire by itself (a password).
    pub fn new(user: impl Into<String>, secret: SecretString) -> Self {
        Self {
            user: user.into(),
            secret,
            expires_at: None,
            origin: None,
        }
    }

    /// Marks where the source took it from (its Secrets Manager stage).
    pub(crate) fn with_origin(mut self, origin: &'static str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Where the source took it from, if it said.
    pub(crate) fn origin(&self) -> Option<&'static str> {
        self.origin
    }

    /// Sets when the secret stops being accepted (IAM tokens).
    #[must_use]
    pub fn with_expiry(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// The database user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The secret; call `expose_secret()` only where it is sent to the server.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// When the secret expires, if it does.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    pub(crate) fn password_bytes(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .field("secret", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
