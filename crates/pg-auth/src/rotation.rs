//! The Secrets Manager side of rotating a password: the version stages of a secret, its values
//! by stage, a new `AWSPENDING` version and the move of `AWSCURRENT`.
//!
//! [`SecretsManagerRotation`] wraps the four Secrets Manager calls of AWS's rotation protocol
//! (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html>):
//!
//! | step | AWS's name | here | Secrets Manager call |
//! |---|---|---|---|
//! | 1 | `createSecret` | [`SecretsManagerRotation::put_pending`] | `PutSecretValue` with stage `AWSPENDING` and a client request token |
//! | 2 | `setSecret` | (the database: `pg_grants::Session::set_own_password`) | — |
//! | 3 | `testSecret` | (a login with the `AWSPENDING` value) | `GetSecretValue` with stage `AWSPENDING` |
//! | 4 | `finishSecret` | [`SecretsManagerRotation::promote`], then [`SecretsManagerRotation::clear_pending`] | `UpdateSecretVersionStage` |
//!
//! The state of a rotation is kept in the secret itself (which version has which stage), so
//! that whoever runs next, after any crash, can see where the last run stopped:
//! [`SecretStages`] (from `DescribeSecret`) says which version is `AWSCURRENT` and which, if
//! any, is `AWSPENDING`.
//!
//! The new version copies the current value and changes only `password`: a secret in RDS's
//! JSON shape keeps its `username`, `host`, `port`, `dbname`, `engine` and any other field; a
//! plain-string secret becomes the new password.
//!
//! Between steps 2 and 4 the database accepts the `AWSPENDING` password while `AWSCURRENT`
//! still holds the old one: [`SecretsManagerSource`](crate::SecretsManagerSource) therefore
//! tries `AWSPENDING` after the server rejected `AWSCURRENT`, as AWS's own rotation functions
//! do.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use aws_sdk_secretsmanager::primitives::DateTime;
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;

use crate::AuthError;
use crate::secret::{AWSCURRENT, RdsSecret, checked_secret_id};
// Kept at their old path (`pg_auth::rotation::AWSPENDING`).
pub use crate::secret::{AWSPENDING, AWSPREVIOUS};

/// Which version of a secret has which stage, and its dates (`DescribeSecret`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretStages {
    /// The secret's ARN, as Secrets Manager returned it.
    pub arn: Option<String>,
    /// Every version that has at least one stage, with its stages.
    pub versions: BTreeMap<String, Vec<String>>,
    /// When Secrets Manager's own rotation last ran (`LastRotatedDate`; `None` when the secret
    /// is not rotated by Secrets Manager).
    pub last_rotated: Option<SystemTime>,
    /// When the secret last changed (`LastChangedDate`).
    pub last_changed: Option<SystemTime>,
    /// When the secret was created (`CreatedDate`).
    pub created: Option<SystemTime>,
}

impl SecretStages {
    /// The version that has `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// The `AWSCURRENT` version.
    pub fn current(&self) -> Option<&str> {
        self.version_with(AWSCURRENT)
    }

    /// The `AWSPENDING` version, if a rotation was begun and not finished.
    pub fn pending(&self) -> Option<&str> {
        self.version_with(AWSPENDING)
    }
}

/// One version of a secret: its id, stages, creation time and value.
///
/// `Debug` redacts the value.
#[derive(Clone)]
#[non_exhaustive]
pub struct SecretVersion {
    /// The version id.
    pub version_id: String,
    /// Its stages.
    pub stages: Vec<String>,
    /// When this version was created (`CreatedDate`): for the `AWSCURRENT` version, when the
    /// password in use was set.
    pub created: Option<SystemTime>,
    /// The value, parsed.
    pub secret: RdsSecret,
    text: SecretString,
}

impl fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVersion")
            .field("version_id", &self.version_id)
            .field("stages", &self.stages)
            .field("created", &self.created)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl SecretVersion {
    /// The value of a new version that has `password` and everything else of this one: the
    /// JSON with only `password` replaced (other fields kept; key order may change), or
    /// `password` itself for a plain-string secret.
    ///
    /// # Errors
    /// [`AuthError::SecretFormat`] when the JSON no longer parses (never with the value).
    pub fn with_password(
        &self,
        secret_id: &str,
        password: &SecretString,
    ) -> Result<SecretString, AuthError> {
        let text = self.text.expose_secret();
        if !text.trim_start().starts_with('{') {
            return Ok(password.clone());
        }
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| AuthError::SecretFormat {
                secret_id: secret_id.to_owned(),
                reason: format!(
                    "its JSON does not parse (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| AuthError::SecretFormat {
                secret_id: secret_id.to_owned(),
                reason: "its JSON is not an object".into(),
            })?;
        object.insert(
            "password".to_owned(),
            serde_json::Value::String(password.expose_secret().to_owned()),
        );
        Ok(SecretString::from(value.to_string()))
    }
}

/// The Secrets Manager calls of a password rotation, for one secret (see the
/// [module docs](crate::rotation)).
///
/// ```no_run
/// # async fn demo(config: &pg_auth::SdkConfig) -> Result<(), pg_auth::AuthError> {
/// use pg_auth::SecretsManagerRotation;
///
/// let rotation = SecretsManagerRotation::new(config, "rds/orders-connector")?;
/// let stages = rotation.describe().await?;
/// let current = rotation.version(pg_auth::AWSCURRENT).await?;
/// let pending = match stages.pending() {
///     Some(_) => rotation.version(pg_auth::AWSPENDING).await?, // a run that did not finish
///     None => {
///         let id = rotation.put_pending(&current, &"new-password".into()).await?;
///         rotation.version_by_id(&id).await?
///     }
/// };
/// // ... set pending.secret.password in the database and test a login with it, then:
/// rotation.promote(&pending.version_id, &current.version_id).await?;
/// rotation.clear_pending(&pending.version_id).await?;
/// # Ok(()) }
/// ```
pub struct SecretsManagerRotation {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    user: Option<String>,
}

impl fmt::Debug for SecretsManagerRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsManagerRotation")
            .field("secret_id", &self.secret_id)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerRotation {
    /// Rotation calls for `secret_id` (name or ARN) with the AWS settings in `config`.
    ///
    /// # Errors
    /// [`AuthError::InvalidConfig`] for an empty secret id.
    pub fn new(
        config: &aws_config::SdkConfig,
        secret_id: impl Into<String>,
    ) -> Result<Self, AuthError> {
        let secret_id = checked_secret_id(secret_id.into())?;
        Ok(Self {
            client: aws_sdk_secretsmanager::Client::new(config),
            secret_id,
            user: None,
        })
    }

    /// User name for a plain-string secret, or for a JSON secret without `username`.
    #[must_use]
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The secret's name or ARN.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    fn error(
        &self,
        operation: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> AuthError {
        AuthError::SecretRotation {
            secret_id: self.secret_id.clone(),
            operation,
            source: Box::new(e),
        }
    }

    /// Which version has which stage (`DescribeSecret`).
    ///
    /// # Errors
    /// [`AuthError::SecretRotation`] (the secret does not exist, no access, no answer).
    pub async fn describe(&self) -> Result<SecretStages, AuthError> {
        let span =
            tracing::info_span!("aws.secretsmanager.describe_secret", secret_id = %self.secret_id);
        let out = self
            .client
            .describe_secret()
            .secret_id(&self.secret_id)
            .send()
            .instrument(span)
            .await
            .map_err(|e| self.error("DescribeSecret", e))?;
        let versions = out
            .version_ids_to_stages()
            .map(|m| {
                m.iter()
                    .filter(|(_, stages)| !stages.is_empty())
                    .map(|(id, stages)| (id.clone(), stages.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(SecretStages {
            arn: out.arn().map(ToOwned::to_owned),
            versions,
            last_rotated: out.last_rotated_date().and_then(system_time),
            last_changed: out.last_changed_date().and_then(system_time),
            created: out.created_date().and_then(system_time),
        })
    }

    /// The version that has `stage` (`GetSecretValue`).
    ///
    /// # Errors
    /// [`AuthError::SecretRotation`] (also when no version has `stage`),
    /// [`AuthError::SecretFormat`].
    pub async fn version(&self, stage: &str) -> Result<SecretVersion, AuthError> {
        self.get(Some(stage), None).await
    }

    /// The version `version_id` (`GetSecretValue`).
    ///
    /// # Errors
    /// As [`SecretsManagerRotation::version`].
    pub async fn version_by_id(&self, version_id: &str) -> Result<SecretVersion, AuthError> {
        self.get(None, Some(version_id)).await
    }

    async fn get(
        &self,
        stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<SecretVersion, AuthError> {
        let span = tracing::info_span!(
            "aws.secretsmanager.get_secret_value",
            secret_id = %self.secret_id,
            version_stage = stage.unwrap_or(""),
            version_id = version_id.unwrap_or("")
        );
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .set_version_stage(stage.map(ToOwned::to_owned))
            .set_version_id(version_id.map(ToOwned::to_owned))
            .send()
            .instrument(span)
            .await
            .map_err(|e| self.error("GetSecretValue", e))?;
        let text = out.secret_string().ok_or_else(|| AuthError::SecretFormat {
            secret_id: self.secret_id.clone(),
            reason: "it has no SecretString (binary secrets are not supported)".into(),
        })?;
        let secret = RdsSecret::parse(&self.secret_id, text, self.user.as_deref())?;
        let version_id = out
            .version_id()
            .ok_or_else(|| AuthError::SecretFormat {
                secret_id: self.secret_id.clone(),
                reason: "GetSecretValue returned no VersionId".into(),
            })?
            .to_owned();
        Ok(SecretVersion {
            version_id,
            stages: out.version_stages().to_vec(),
            created: out.created_date().and_then(system_time),
            secret,
            text: SecretString::from(text.to_owned()),
        })
    }

    /// Step 1: writes a new version holding `password` and everything else of `current`, with
    /// the stage `AWSPENDING` only (`AWSCURRENT` does not move), and returns its version id.
    /// The `AWSPENDING` stage leaves any older version that had it. A fresh client request
    /// token makes the call idempotent across the SDK's own retries.
    ///
    /// # Errors
    /// [`AuthError::SecretRotation`], [`AuthError::SecretFormat`].
    pub async fn put_pending(
        &self,
        current: &SecretVersion,
        password: &SecretString,
    ) -> Result<String, AuthError> {
        let value = current.with_password(&self.secret_id, password)?;
        let token = client_request_token();
        let span = tracing::info_span!(
            "aws.secretsmanager.put_secret_value",
            secret_id = %self.secret_id,
            version_stage = AWSPENDING,
            version_id = %token
        );
        let out = self
            .client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(value.expose_secret())
            .client_request_token(&token)
            .version_stages(AWSPENDING)
            .send()
            .instrument(span)
            .await
            .map_err(|e| self.error("PutSecretValue", e))?;
        Ok(out.version_id().map_or(token, ToOwned::to_owned))
    }

    /// Step 4a: moves `AWSCURRENT` from `from_version_id` to `version_id`
    /// (`UpdateSecretVersionStage`; Secrets Manager gives `from_version_id` the stage
    /// `AWSPREVIOUS`).
    ///
    /// # Errors
    /// [`AuthError::SecretRotation`].
    pub async fn promote(&self, version_id: &str, from_version_id: &str) -> Result<(), AuthError> {
        let span = tracing::info_span!(
            "aws.secretsmanager.update_secret_version_stage",
            secret_id = %self.secret_id,
            version_stage = AWSCURRENT,
            move_to = version_id,
            remove_from = from_version_id
        );
        self.client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage(AWSCURRENT)
            .move_to_version_id(version_id)
            .remove_from_version_id(from_version_id)
            .send()
            .instrument(span)
            .await
            .map_err(|e| self.error("UpdateSecretVersionStage (AWSCURRENT)", e))?;
        Ok(())
    }

    /// Step 4b: removes `AWSPENDING` from `version_id`, ending the rotation.
    ///
    /// # Errors
    /// [`AuthError::SecretRotation`].
    pub async fn clear_pending(&self, version_id: &str) -> Result<(), AuthError> {
        let span = tracing::info_span!(
            "aws.secretsmanager.update_secret_version_stage",
            secret_id = %self.secret_id,
            version_stage = AWSPENDING,
            remove_from = version_id
        );
        self.client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage(AWSPENDING)
            .remove_from_version_id(version_id)
            .send()
            .instrument(span)
            .await
            .map_err(|e| self.error("UpdateSecretVersionStage (AWSPENDING)", e))?;
        Ok(())
    }
}

fn system_time(t: &DateTime) -> Option<SystemTime> {
    SystemTime::try_from(*t).ok()
}

/// A client request token (which becomes the version id): 38 characters, unique per call.
/// It is not a secret, so a hash of the time, the process and a counter under std's randomly
/// keyed hasher is enough; Secrets Manager asks for 32 to 64 characters.
fn client_request_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = (
        SystemTime::now(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    );
    let a = RandomState::new().hash_one(seed);
    let b = RandomState::new().hash_one((seed, a));
    format!("rdspg-{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> SecretVersion {
        SecretVersion {
            version_id: "v1".into(),
            stages: vec![AWSCURRENT.into()],
            created: None,
            secret: RdsSecret::parse("id", text, Some("conn")).unwrap(),
            text: text.to_owned().into(),
        }
    }

    #[test]
    fn new_value_changes_only_the_password() {
        // The RDS JSON shape: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html
        let v = version(
            r#"{"engine":"postgres","host":"db.x","username":"conn","password":"old","dbname":"appdb","port":5432,"extra":[1,2]}"#,
        );
        let new = v.with_password("id", &"n3w-Pw".into()).unwrap();
        let before: serde_json::Value = serde_json::from_str(v.text.expose_secret()).unwrap();
        let mut after: serde_json::Value = serde_json::from_str(new.expose_secret()).unwrap();
        assert_eq!(after["password"], "n3w-Pw");
        after["password"] = "old".into();
        assert_eq!(after, before);
        // A plain string becomes the new password.
        let plain = version("old-plain");
        assert_eq!(
            plain
                .with_password("id", &"n3w".into())
                .unwrap()
                .expose_secret(),
            "n3w"
        );
        assert!(!format!("{v:?}").contains("old"));
    }

    #[test]
    fn tokens_are_unique_and_in_length_bounds() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let token = client_request_token();
            assert!((32..=64).contains(&token.len()), "{token}");
            assert!(seen.insert(token));
        }
    }

    #[test]
    fn stages_find_current_and_pending() {
        let stages = SecretStages {
            arn: None,
            versions: BTreeMap::from([
                ("a".into(), vec![AWSPREVIOUS.into()]),
                ("b".into(), vec![AWSCURRENT.into()]),
                ("c".into(), vec![AWSPENDING.into()]),
            ]),
            last_rotated: None,
            last_changed: None,
            created: None,
        };
        assert_eq!(stages.current(), Some("b"));
        assert_eq!(stages.pending(), Some("c"));
        assert_eq!(stages.version_with("nope"), None);
    }
}
