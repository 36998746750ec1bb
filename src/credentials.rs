//! Which credential logs the connector in to a target: the seam between settings and `pg-auth`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use integration_model::{AuthType, InstanceId, Integration, SecretRef};
use pg_auth::{
    CredentialSource, EnvPassword, IamTokenSource, SdkConfig, SecretsManagerSource, TokenRequest,
};

use crate::error::AccessError;
use crate::target::Target;

/// Gives the credential source the connector logs in with on a target. Implement it to plug
/// in your own secret store; [`IntegrationCredentials`] follows the integration's settings.
pub trait ConnectorCredentials: Send + Sync + fmt::Debug {
    /// The source for `target`. Called once per target per manager; sources cache what they
    /// fetch (Secrets Manager values, IAM tokens) and refresh it themselves.
    ///
    /// # Errors
    /// When the source cannot be built (e.g. an IAM token request for an invalid host).
    fn source_for(&self, target: &Target) -> Result<Arc<dyn CredentialSource>, AccessError>;
}

/// The integration's own choice: an environment variable with password auth (one source for
/// every target), a Secrets Manager secret (a source per target, each with its own cache and
/// rotation fallback), or an IAM token per target (signed for that target's discovered
/// endpoint).
pub struct IntegrationCredentials {
    kind: Kind,
    per_target: Mutex<HashMap<InstanceId, Arc<dyn CredentialSource>>>,
}

enum Kind {
    Shared(Arc<dyn CredentialSource>),
    /// One Secrets Manager source per target: each has its own cache and its own
    /// AWSCURRENT/AWSPENDING fallback, so that mid-rotation, with one instance on the new
    /// password and another still on the old one, neither flips the other's choice.
    SecretsManager {
        secret_id: String,
        user: String,
        aws: Box<SdkConfig>,
    },
    Iam {
        user: String,
        region: String,
        aws: Option<Box<SdkConfig>>,
    },
}

impl fmt::Debug for IntegrationCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Shared(source) => format!("shared({source:?})"),
            Kind::SecretsManager {
                secret_id, user, ..
            } => format!("secrets-manager({secret_id}, user {user})"),
            Kind::Iam { user, region, .. } => format!("iam(user {user}, region {region})"),
        };
        f.debug_struct("IntegrationCredentials")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl IntegrationCredentials {
    /// Follows `integration`'s `auth` and `[secret]`. `aws` is the AWS configuration to use
    /// for Secrets Manager and IAM tokens (required for those; not used with `env`).
    ///
    /// # Errors
    /// [`AccessError::Auth`] when the secret reference cannot be used.
    pub fn from_integration(
        integration: &Integration,
        aws: Option<&SdkConfig>,
    ) -> Result<Self, AccessError> {
        let user = integration.connector_user().as_str().to_owned();
        let kind = match (integration.auth(), integration.secret()) {
            (AuthType::Password, Some(SecretRef::Env(var))) => {
                Kind::Shared(Arc::new(EnvPassword::new(user, var.to_string())))
            }
            (AuthType::Password, Some(SecretRef::SecretsManager(id))) => {
                let aws = aws.ok_or_else(missing_aws("a Secrets Manager secret"))?;
                // Checked once here, so that a bad reference fails before any target.
                SecretsManagerSource::new(aws, id.to_string())?;
                Kind::SecretsManager {
                    secret_id: id.to_string(),
                    user,
                    aws: Box::new(aws.clone()),
                }
            }
            _ => Kind::Iam {
                user,
                region: integration.region().as_str().to_owned(),
                aws: aws.cloned().map(Box::new),
            },
        };
        Ok(Self {
            kind,
            per_target: Mutex::new(HashMap::new()),
        })
    }

    /// Uses `source` for every target (e.g. a static password in tests or a custom store).
    pub fn shared(source: Arc<dyn CredentialSource>) -> Self {
        Self {
            kind: Kind::Shared(source),
            per_target: Mutex::new(HashMap::new()),
        }
    }
}

impl ConnectorCredentials for IntegrationCredentials {
    fn source_for(&self, target: &Target) -> Result<Arc<dyn CredentialSource>, AccessError> {
        if let Kind::Shared(source) = &self.kind {
            return Ok(Arc::clone(source));
        }
        let mut cache = self
            .per_target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(source) = cache.get(&target.name) {
            return Ok(Arc::clone(source));
        }
        let source: Arc<dyn CredentialSource> = match &self.kind {
            Kind::SecretsManager {
                secret_id,
                user,
                aws,
            } => Arc::new(SecretsManagerSource::new(aws, secret_id.clone())?.with_user(user)),
            Kind::Iam { user, region, aws } => iam_source(target, user, region, aws.as_deref())?,
            Kind::Shared(source) => Arc::clone(source),
        };
        cache.insert(target.name.clone(), Arc::clone(&source));
        Ok(source)
    }
}

/// An IAM token source for `target`, signed for its discovered endpoint.
fn iam_source(
    target: &Target,
    user: &str,
    region: &str,
    aws: Option<&SdkConfig>,
) -> Result<Arc<dyn CredentialSource>, AccessError> {
    let aws = aws.ok_or_else(missing_aws("IAM authentication"))?;
    let endpoint = target.signing_endpoint();
    let request = TokenRequest::new(endpoint.host().as_str(), endpoint.port(), user, region)?;
    Ok(Arc::new(IamTokenSource::from_sdk_config(aws, request)?))
}

fn missing_aws(what: &'static str) -> impl FnOnce() -> AccessError {
    move || {
        AccessError::Auth(pg_auth::AuthError::InvalidConfig {
            field: "aws",
            reason: format!("{what} needs an AWS configuration"),
        })
    }
}
