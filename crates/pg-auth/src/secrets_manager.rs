//! Credentials from AWS Secrets Manager, in RDS's JSON shape or as a plain string.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::clock::{SharedClock, system_clock};
use crate::secret::{AWSCURRENT, AWSPENDING, RdsSecret, checked_secret_id};
use crate::{AuthError, Clock, Credential, CredentialSource};

/// Default time a fetched secret is reused before it is read again.
pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);

struct Cached {
    secret: RdsSecret,
    fetched_at: SystemTime,
}

/// The origin of a credential of the configured stage.
const CONFIGURED: &str = "configured";

/// What the source remembers between calls.
#[derive(Default)]
struct State {
    /// The configured stage's value.
    configured: Option<Cached>,
    /// The `AWSPENDING` value, while the server accepts it instead of `AWSCURRENT`.
    pending: Option<Cached>,
    /// The server rejected `AWSCURRENT` last: hand out `AWSPENDING` (while it exists).
    use_pending: bool,
}

/// A [`CredentialSource`] reading a secret from AWS Secrets Manager.
///
/// The secret is addressed by name or ARN, version stage `AWSCURRENT` unless configured. It is
/// cached for a TTL (default 5 minutes) and read again after the server rejected the password,
/// so a rotated secret is picked up by the next connection.
///
/// While a password rotation is under way (see [`crate::rotation`]) the database may already
/// have the `AWSPENDING` password while `AWSCURRENT` still holds the old one. So, reading
/// `AWSCURRENT`, the source alternates after each rejection: `AWSCURRENT` rejected → the next
/// credential is `AWSPENDING` (or a fresh `AWSCURRENT` when no version is pending); `AWSPENDING`
/// rejected → a fresh `AWSCURRENT` again. One retry of [`connect`](crate::connect) thus logs in
/// whichever of the two the server has, as AWS's rotation functions do. When the rotation has
/// finished (no `AWSPENDING` any more), the source is back on `AWSCURRENT` at the next read.
/// [`SecretsManagerSource::without_pending_fallback`] turns this off.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    version_stage: String,
    user: Option<String>,
    ttl: Duration,
    clock: SharedClock,
    pending_fallback: bool,
    cached: Mutex<State>,
}

impl fmt::Debug for SecretsManagerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsManagerSource")
            .field("secret_id", &self.secret_id)
            .field("version_stage", &self.version_stage)
            .field("user", &self.user)
            .field("ttl", &self.ttl)
            .field("pending_fallback", &self.pending_fallback)
            .finish_non_exhaustive()
    }
}
impl SecretsManagerSource {
    /// A source for `secret_id` (name or ARN) using the AWS settings in `config`
    /// (region, credentials, endpoint).
    pub fn new(
        config: &aws_config::SdkConfig,
        secret_id: impl Into<String>,
    ) -> Result<Self, AuthError> {
        let secret_id = checked_secret_id(secret_id.into())?;
        Ok(Self {
            client: aws_sdk_secretsmanager::Client::new(config),
            secret_id,
            version_stage: AWSCURRENT.to_owned(),
            user: None,
            ttl: DEFAULT_SECRET_TTL,
            clock: system_clock(),
            pending_fallback: true,
            cached: Mutex::new(State::default()),
        })
    }

    /// Reads this version stage instead of `AWSCURRENT` (e.g. `AWSPENDING` while rotating).
    pub fn with_version_stage(mut self, stage: impl Into<String>) -> Result<Self, AuthError> {
        let stage = stage.into();
        if stage.trim().is_empty() {
            return Err(AuthError::InvalidConfig {
                field: "version_stage",
                reason: "the version stage is empty".into(),
            });
        }
        self.version_stage = stage;
        Ok(self)
    }

    /// User name for a plain-string secret, or for a JSON secret without `username`.
    #[must_use]
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// How long a fetched secret is reused (zero: read at every call).
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Never falls back to `AWSPENDING` after the server rejected `AWSCURRENT` (see the type's
    /// docs); a rejected credential is then only read again.
    #[must_use]
    pub fn without_pending_fallback(mut self) -> Self {
        self.pending_fallback = false;
        self
    }

    /// Uses `clock` for cache decisions (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The whole secret (endpoint fields included) of the configured stage, from the cache
    /// when it is fresh.
    pub async fn secret(&self) -> Result<RdsSecret, AuthError> {
        let mut state = self.cached.lock().await;
        self.configured(&mut state).await
    }

    async fn configured(&self, state: &mut State) -> Result<RdsSecret, AuthError> {
        let now = self.clock.now();
        if let Some(secret) = self.fresh(state.configured.as_ref(), now) {
            return Ok(secret);
        }
        let stage = &self.version_stage;
        let secret = self
            .fetch(stage)
            .await?
            .ok_or_else(|| AuthError::SecretsManager {
                secret_id: self.secret_id.clone(),
                version_stage: stage.clone(),
                source: format!("no version of the secret has stage {stage}").into(),
            })?;
        state.configured = Some(Cached {
            secret: secret.clone(),
            fetched_at: now,
        });
        Ok(secret)
    }

    /// The `AWSPENDING` value, or `None` when no version is pending (the rotation finished).
    async fn pending(&self, state: &mut State) -> Result<Option<RdsSecret>, AuthError> {
        let now = self.clock.now();
        if let Some(secret) = self.fresh(state.pending.as_ref(), now) {
            return Ok(Some(secret));
        }
        let secret = self.fetch(AWSPENDING).await?;
        state.pending = secret.clone().map(|secret| Cached {
            secret,
            fetched_at: now,
        });
        Ok(secret)
    }

    fn fresh(&self, entry: Option<&Cached>, now: SystemTime) -> Option<RdsSecret> {
        let entry = entry?;
        let age = now
            .duration_since(entry.fetched_at)
            .unwrap_or(Duration::ZERO);
        (age < self.ttl).then(|| entry.secret.clone())
    }

    /// Reads `stage`; `None` when the secret exists but no version has that stage.
    async fn fetch(&self, stage: &str) -> Result<Option<RdsSecret>, AuthError> {
        let span = tracing::info_span!(
            "aws.secretsmanager.get_secret_value",
            secret_id = %self.secret_id,
            version_stage = %stage
        );
        let result = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .instrument(span)
            .await;
        let output = match result {
            Ok(output) => output,
            // ResourceNotFound for a stage: no version has it (or the secret is gone, which
            // the read of AWSCURRENT that follows reports).
            Err(e)
                if stage != self.version_stage
                    && e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(AuthError::SecretsManager {
                    secret_id: self.secret_id.clone(),
                    version_stage: stage.to_owned(),
                    source: Box::new(e),
                });
            }
        };
        let text = output
            .secret_string()
            .ok_or_else(|| AuthError::SecretFormat {
                secret_id: self.secret_id.clone(),
                reason: "it has no SecretString (binary secrets are not supported)".into(),
            })?;
        RdsSecret::parse(&self.secret_id, text, self.user.as_deref()).map(Some)
    }

    fn falls_back(&self) -> bool {
        self.pending_fallback && self.version_stage == AWSCURRENT
    }
}

#[async_trait]
impl CredentialSource for SecretsManagerSource {
    async fn credential(&self) -> Result<Credential, AuthError> {
        let mut state = self.cached.lock().await;
        if state.use_pending && self.falls_back() {
            if let Some(secret) = self.pending(&mut state).await? {
                return Ok(
                    Credential::new(secret.username, secret.password).with_origin(AWSPENDING)
                );
            }
            // No rotation under way any more: back to AWSCURRENT.
            state.use_pending = false;
        }
        let secret = self.configured(&mut state).await?;
        Ok(Credential::new(secret.username, secret.password).with_origin(CONFIGURED))
    }

    async fn on_auth_failure(&self) -> bool {
        let mut state = self.cached.lock().await;
        state.configured = None;
        state.pending = None;
        // AWSCURRENT rejected: the database may have the AWSPENDING password of a rotation
        // under way; AWSPENDING rejected: a fresh AWSCURRENT (the rotation may have finished
        // or been undone).
        state.use_pending = self.falls_back() && !state.use_pending;
        true
    }

    async fn on_rejected(&self, rejected: &Credential) -> bool {
        let Some(origin) = rejected.origin() else {
            return self.on_auth_failure().await;
        };
        let mut state = self.cached.lock().await;
        state.configured = None;
        state.pending = None;
        // From what was rejected, not from a flag flipped at each rejection: two connections
        // rejected at once with AWSCURRENT must both go on with AWSPENDING (flipping twice
        // sent the second back to AWSCURRENT, rejected again, while the database had the
        // pending password of a rotation whose process died).
        state.use_pending = self.falls_back() && origin != AWSPENDING;
        true
    }
}
