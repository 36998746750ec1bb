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

    /// Discovery returned exactly `current` (usable or not): sources kept for any other target
    /// may be dropped. [`AccessManager`](crate::AccessManager) calls this after each
    /// resolution; the default keeps everything.
    fn retain_targets(&self, current: &[InstanceId]) {
        let _ = current;
    }
}

/// How many targets' credential sources [`IntegrationCredentials`] keeps at most: beyond that
/// the least recently used is dropped (and built again when needed), so a fleet that churns
/// through instances does not grow the cache without end. Targets discovery no longer returns
/// are dropped at once ([`ConnectorCredentials::retain_targets`]).
pub const MAX_CACHED_TARGETS: usize = 1024;

/// The integration's own choice: an environment variable with password auth (one source for
/// every target), a Secrets Manager secret (a source per target, each with its own cache and
/// rotation fallback), or an IAM token per target (signed for that target's discovered
/// endpoint).
pub struct IntegrationCredentials {
    kind: Kind,
    per_target: Mutex<Cache>,
}

/// Sources per target, each with the tick of its last use (for least-recently-used eviction).
#[derive(Default)]
struct Cache {
    sources: HashMap<InstanceId, (Arc<dyn CredentialSource>, u64)>,
    tick: u64,
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
            per_target: Mutex::new(Cache::default()),
        })
    }

    /// Uses `source` for every target (e.g. a static password in tests or a custom store).
    pub fn shared(source: Arc<dyn CredentialSource>) -> Self {
        Self {
            kind: Kind::Shared(source),
            per_target: Mutex::new(Cache::default()),
        }
    }
}

impl ConnectorCredentials for IntegrationCredentials {
    fn source_for(&self, target: &Target) -> Result<Arc<dyn CredentialSource>, AccessError> {
        if let Kind::Shared(source) = &self.kind {
            return Ok(Arc::clone(source));
        }
        let mut cache = self.cache();
        cache.tick += 1;
        let tick = cache.tick;
        if let Some((source, used)) = cache.sources.get_mut(&target.name) {
            *used = tick;
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
        if cache.sources.len() >= MAX_CACHED_TARGETS
            && let Some(oldest) = cache
                .sources
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(name, _)| name.clone())
        {
            cache.sources.remove(&oldest);
        }
        cache
            .sources
            .insert(target.name.clone(), (Arc::clone(&source), tick));
        Ok(source)
    }

    fn retain_targets(&self, current: &[InstanceId]) {
        self.cache()
            .sources
            .retain(|name, _| current.contains(name));
    }
}

impl IntegrationCredentials {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.per_target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many targets have a cached source.
    #[cfg(test)]
    fn cached_targets(&self) -> usize {
        self.cache().sources.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn aws() -> SdkConfig {
        use aws_credential_types::Credentials;
        use aws_credential_types::provider::SharedCredentialsProvider;
        SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                None,
                None,
                "test",
            )))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    fn target(name: &str) -> Target {
        let endpoint =
            integration_model::Endpoint::new(format!("{name}.example.com").parse().unwrap(), 5432)
                .unwrap();
        Target {
            name: name.parse().unwrap(),
            connect_to: endpoint,
            discovered: None,
            instance: None,
        }
    }

    fn iam_credentials() -> IntegrationCredentials {
        let settings = integration_model::Settings::from_toml_str(
            "name = \"fleet\"\nregion = \"us-east-1\"\nauth = \"iam\"\n\
             [instance]\ntags = { env = \"prod\" }\n",
        )
        .expect("settings");
        IntegrationCredentials::from_integration(&settings.integrations()[0], Some(&aws()))
            .expect("credentials")
    }

    #[test]
    fn the_source_cache_is_bounded_and_forgets_gone_targets() {
        let credentials = iam_credentials();
        // A churning fleet: many more targets over time than the cache keeps.
        for i in 0..(MAX_CACHED_TARGETS + 200) {
            credentials
                .source_for(&target(&format!("db-{i}")))
                .expect("source");
        }
        assert_eq!(credentials.cached_targets(), MAX_CACHED_TARGETS);
        // The most recently used stay cached (the same source comes back).
        let recent = target(&format!("db-{}", MAX_CACHED_TARGETS + 199));
        let a = credentials.source_for(&recent).expect("source");
        let b = credentials.source_for(&recent).expect("source");
        assert!(Arc::ptr_eq(&a, &b));

        // Discovery no longer returns most of them: their sources go.
        let current: Vec<InstanceId> = vec![recent.name.clone(), "db-3".parse().unwrap()];
        credentials.retain_targets(&current);
        assert_eq!(credentials.cached_targets(), 1);
    }
}
