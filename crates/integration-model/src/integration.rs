//! One integration: everything the setup guide lists, validated as a whole.

mod builder;
mod read;
mod shape;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::flow::AccessFlow;
use crate::{
    AuthType, AwsSettings, Endpoint, Identifier, InstanceId, IntegrationName, ModelError, Region,
    ResourcePath, ResourceTypes, RotationPeriod, SecretRef, SslMode, TagFilters,
};

/// The connector user when none is given (the setup guide's name).
pub const DEFAULT_CONNECTOR_USER: &str = "apono_connector";
/// The prefix of holder role names when none is given: each revoked user's objects go to a
/// holder of its own, `rdspg_holder_<16 hex digits>`, with no rights of its own (see
/// `pg_grants::revoke`).
pub const DEFAULT_HOLDER_ROLE: &str = "rdspg_holder";

/// The longest `holder_role` prefix: `<prefix>_` and 16 hex digits must fit in 63 bytes.
pub const MAX_HOLDER_PREFIX_BYTES: usize = 46;
/// The database the connector logs in to when none is given.
pub const DEFAULT_DATABASE: &str = "postgres";

/// The database the connector takes its advisory locks in when none is given: `postgres`,
/// which RDS creates on every instance.
pub const DEFAULT_LOCK_DATABASE: &str = "postgres";

/// Which instances an integration covers.
///
/// Serialises as `{"id": "orders-prod"}` or `{"tags": ["team=data", "env"]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InstanceSelector {
    /// One RDS DB instance or Aurora DB cluster, by identifier (`instance.id`).
    Id(InstanceId),
    /// Every instance whose tags match all filters (`instance.tags`, `instance.tag_keys`).
    Tags(TagFilters),
}

/// A validated integration. Build one with [`Integration::builder`] or load it with
/// [`Settings`](crate::Settings); both apply the same rules.
///
/// ```
/// use integration_model::{AuthType, Integration, SslMode};
/// let integration = Integration::builder("orders-prod", "us-east-1".parse()?)
///     .auth(AuthType::Iam)
///     .instance_id("orders-db".parse()?)
///     .ssl_mode(SslMode::VerifyFull)
///     .ssl_root_cert("/etc/ssl/rds-global-bundle.pem")
///     .build()?;
/// assert_eq!(integration.connector_user().as_str(), "apono_connector");
/// assert_eq!(integration.single_instance().map(|i| i.as_str()), Some("orders-db"));
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Integration {
    name: IntegrationName,
    region: Region,
    auth: AuthType,
    connector_user: Identifier,
    holder_role: Identifier,
    database: Identifier,
    lock_database: Identifier,
    instance: Option<InstanceSelector>,
    secret: Option<SecretRef>,
    ssl_mode: SslMode,
    ssl_root_cert: Option<PathBuf>,
    allow_unverified_password: bool,
    credentials_rotation: Option<RotationPeriod>,
    resource_types: ResourceTypes,
    endpoint: Option<Endpoint>,
    endpoint_overrides: BTreeMap<InstanceId, Endpoint>,
    aws: AwsSettings,
    access_flows: Vec<AccessFlow>,
}

impl Integration {
    /// Starts an integration with its two always-required values. `name` is checked by
    /// [`IntegrationBuilder::build`] (as `name`).
    pub fn builder(name: impl AsRef<str>, region: Region) -> IntegrationBuilder {
        IntegrationBuilder::new(name.as_ref(), region)
    }

    /// The access flows requests are checked against (`[[access_flow]]`); empty: the caller
    /// decides.
    pub fn access_flows(&self) -> &[AccessFlow] {
        &self.access_flows
    }

    /// The unique name.
    pub fn name(&self) -> &IntegrationName {
        &self.name
    }

    /// The AWS region of the instances.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// How the connector logs in.
    pub fn auth(&self) -> AuthType {
        self.auth
    }

    /// The connector's PostgreSQL user (default `apono_connector`).
    pub fn connector_user(&self) -> &Identifier {
        &self.connector_user
    }

    /// The prefix of the holder roles that receive revoked users' objects (default
    /// `rdspg_holder`, at most [`MAX_HOLDER_PREFIX_BYTES`]): each revoked user that owns
    /// something gets a holder of its own, `<prefix>_<16 hex digits>`, with no rights, created
    /// and checked by the library, never the connector.
    pub fn holder_role(&self) -> &Identifier {
        &self.holder_role
    }

    /// The database the connector logs in to (default `postgres`).
    pub fn database(&self) -> &Identifier {
        &self.database
    }

    /// The database the connector takes its advisory locks in (default `postgres`).
    ///
    /// PostgreSQL advisory locks belong to one database: two integrations of one instance
    /// with different home databases (or a sweep and a rotation) would take "the same" lock
    /// in different databases and not exclude each other. Every job lock and every per-role
    /// lock is therefore taken in this one database per instance, whatever the integration's
    /// `database`. Integrations sharing an instance must give it the same value.
    pub fn lock_database(&self) -> &Identifier {
        &self.lock_database
    }

    /// The instance selector; `None` for an integration with only a fixed [`endpoint`](Self::endpoint).
    pub fn instance(&self) -> Option<&InstanceSelector> {
        self.instance.as_ref()
    }

    /// The instance when the integration selects exactly one by id: the default instance for
    /// short resource paths (see [`Integration::resource_path`]).
    pub fn single_instance(&self) -> Option<&InstanceId> {
        match &self.instance {
            Some(InstanceSelector::Id(id)) => Some(id),
            _ => None,
        }
    }

    /// The tag filters when the integration selects a fleet by tags.
    pub fn tag_filters(&self) -> Option<&TagFilters> {
        match &self.instance {
            Some(InstanceSelector::Tags(tags)) => Some(tags),
            _ => None,
        }
    }

    /// Where the password lives (password auth only).
    pub fn secret(&self) -> Option<&SecretRef> {
        self.secret.as_ref()
    }

    /// The SSL mode (default `require`).
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The CA bundle file to verify the server with (the path only; nothing is read).
    pub fn ssl_root_cert(&self) -> Option<&Path> {
        self.ssl_root_cert.as_deref()
    }

    /// Whether every connection verifies the server's identity: a CA bundle is given and the
    /// SSL mode never falls back to plaintext (`require`, `verify-ca`, `verify-full`). Only
    /// then is a cleartext password (every IAM token) or an MD5 password sent.
    pub fn verifies_server(&self) -> bool {
        self.ssl_root_cert.is_some()
            && matches!(
                self.ssl_mode,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
            )
    }

    /// Lab setups only (`allow_unverified_password`, default `false`): send a cleartext or MD5
    /// password (an IAM token is always cleartext) even to a server whose identity was not
    /// verified.
    pub fn allow_unverified_password(&self) -> bool {
        self.allow_unverified_password
    }

    /// How often the connector's password rotates.
    pub fn credentials_rotation(&self) -> Option<RotationPeriod> {
        self.credentials_rotation
    }

    /// The resource types to sync (default all).
    pub fn resource_types(&self) -> ResourceTypes {
        self.resource_types
    }

    /// A fixed host and port to connect to. Without an instance selector, there is no
    /// discovery; with `instance.id`, discovery still runs (ARNs, checks) and this says where
    /// to connect (e.g. a tunnel).
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref()
    }

    /// Per-instance replacements for discovered endpoints.
    pub fn endpoint_overrides(&self) -> &BTreeMap<InstanceId, Endpoint> {
        &self.endpoint_overrides
    }

    /// The override for one instance, if any.
    pub fn endpoint_override(&self, instance: &InstanceId) -> Option<&Endpoint> {
        self.endpoint_overrides.get(instance)
    }

    /// The `[aws]` client settings.
    pub fn aws(&self) -> &AwsSettings {
        &self.aws
    }

    /// Parses a resource path as users of this integration write it: the short
    /// `DATABASE[/SCHEMA[/TABLE]]` when it selects one instance by id, the full
    /// `INSTANCE/DATABASE[/SCHEMA[/TABLE]]` otherwise (see [`ResourcePath::parse_in`]).
    pub fn resource_path(&self, text: &str) -> Result<ResourcePath, ModelError> {
        ResourcePath::parse_in(text, self.single_instance())
    }
}

pub use builder::IntegrationBuilder;
pub(crate) use read::{from_table, is_integration_key};
