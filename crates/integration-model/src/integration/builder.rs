//! [`IntegrationBuilder`]: an [`Integration`] built in code, with the checks of a settings file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{
    DEFAULT_CONNECTOR_USER, DEFAULT_DATABASE, DEFAULT_HOLDER_ROLE, DEFAULT_LOCK_DATABASE,
    InstanceSelector, Integration, MAX_HOLDER_PREFIX_BYTES,
};
use crate::error::quote;
use crate::flow::AccessFlow;
use crate::{
    AuthType, AwsEndpointUrl, AwsProfile, AwsSettings, Endpoint, Identifier, InstanceId,
    IntegrationName, ModelError, Region, ResourceTypes, RotationPeriod, SecretRef, SslMode,
    TagFilter, TagFilters,
};

/// Builds an [`Integration`] in code, with the same checks as loading settings. Errors name
/// the settings key that corresponds to the builder method (`auth`, `instance`, ...).
#[derive(Debug, Clone)]
#[must_use]
pub struct IntegrationBuilder {
    name: String,
    region: Region,
    auth: Option<AuthType>,
    connector_user: Option<Identifier>,
    holder_role: Option<Identifier>,
    database: Option<Identifier>,
    lock_database: Option<Identifier>,
    instance_id: Option<InstanceId>,
    tags: Vec<TagFilter>,
    secret: Option<SecretRef>,
    ssl_mode: SslMode,
    ssl_root_cert: Option<PathBuf>,
    allow_unverified_password: bool,
    credentials_rotation: Option<RotationPeriod>,
    resource_types: Option<ResourceTypes>,
    endpoint: Option<Endpoint>,
    endpoint_overrides: Vec<(InstanceId, Endpoint)>,
    aws_endpoint_url: Option<AwsEndpointUrl>,
    aws_profile: Option<AwsProfile>,
    access_flows: Vec<AccessFlow>,
}

impl IntegrationBuilder {
    /// An empty builder: only `name` and `region` set.
    pub(super) fn new(name: &str, region: Region) -> Self {
        IntegrationBuilder {
            name: name.to_owned(),
            region,
            auth: None,
            connector_user: None,
            holder_role: None,
            database: None,
            lock_database: None,
            instance_id: None,
            tags: Vec::new(),
            secret: None,
            ssl_mode: SslMode::default(),
            ssl_root_cert: None,
            allow_unverified_password: false,
            credentials_rotation: None,
            resource_types: None,
            endpoint: None,
            endpoint_overrides: Vec::new(),
            aws_endpoint_url: None,
            aws_profile: None,
            access_flows: Vec::new(),
        }
    }

    /// Adds an access flow (checked by [`IntegrationBuilder::build`]).
    pub fn access_flow(mut self, flow: AccessFlow) -> Self {
        self.access_flows.push(flow);
        self
    }

    /// How the connector logs in (required).
    pub fn auth(mut self, auth: AuthType) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The connector's PostgreSQL user (default `apono_connector`).
    pub fn connector_user(mut self, user: Identifier) -> Self {
        self.connector_user = Some(user);
        self
    }

    /// The prefix of the per-user holder roles for revoked users' objects (default
    /// `rdspg_holder`, at most [`MAX_HOLDER_PREFIX_BYTES`] bytes).
    pub fn holder_role(mut self, role: Identifier) -> Self {
        self.holder_role = Some(role);
        self
    }

    /// The database the connector logs in to (default `postgres`).
    pub fn database(mut self, database: Identifier) -> Self {
        self.database = Some(database);
        self
    }

    /// The database the connector takes its advisory locks in (default `postgres`); see
    /// [`Integration::lock_database`].
    pub fn lock_database(mut self, database: Identifier) -> Self {
        self.lock_database = Some(database);
        self
    }

    /// Selects one instance or Aurora cluster by identifier.
    pub fn instance_id(mut self, id: InstanceId) -> Self {
        self.instance_id = Some(id);
        self
    }

    /// Adds a tag filter (selects a fleet; exclusive with [`instance_id`](Self::instance_id)).
    pub fn tag(mut self, filter: TagFilter) -> Self {
        self.tags.push(filter);
        self
    }

    /// Adds tag filters.
    pub fn tags(mut self, filters: impl IntoIterator<Item = TagFilter>) -> Self {
        self.tags.extend(filters);
        self
    }

    /// Where the password lives (password auth only).
    pub fn secret(mut self, secret: SecretRef) -> Self {
        self.secret = Some(secret);
        self
    }

    /// The SSL mode (default `require`).
    pub fn ssl_mode(mut self, mode: SslMode) -> Self {
        self.ssl_mode = mode;
        self
    }

    /// The CA bundle path.
    pub fn ssl_root_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssl_root_cert = Some(path.into());
        self
    }

    /// Lab setups only: send a cleartext or MD5 password (an IAM token is always cleartext) to
    /// a server whose identity was not verified (default `false`; see
    /// [`Integration::allow_unverified_password`]).
    pub fn allow_unverified_password(mut self, allow: bool) -> Self {
        self.allow_unverified_password = allow;
        self
    }

    /// The credentials-rotation period.
    pub fn credentials_rotation(mut self, period: RotationPeriod) -> Self {
        self.credentials_rotation = Some(period);
        self
    }

    /// The resource types to sync (default all).
    pub fn resource_types(mut self, types: ResourceTypes) -> Self {
        self.resource_types = Some(types);
        self
    }

    /// A fixed endpoint.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// Replaces the discovered endpoint of `instance`.
    pub fn endpoint_override(mut self, instance: InstanceId, endpoint: Endpoint) -> Self {
        self.endpoint_overrides.push((instance, endpoint));
        self
    }

    /// The AWS endpoint URL (tests, emulators).
    pub fn aws_endpoint_url(mut self, url: AwsEndpointUrl) -> Self {
        self.aws_endpoint_url = Some(url);
        self
    }

    /// The AWS shared-config profile.
    pub fn aws_profile(mut self, profile: AwsProfile) -> Self {
        self.aws_profile = Some(profile);
        self
    }

    /// Checks every rule and builds the integration.
    ///
    /// Cross-field rules: `password` auth needs a secret; `iam` auth takes none and cannot
    /// run over `ssl_mode = "disable"` (RDS accepts IAM tokens only over TLS); `instance.id`
    /// and tags are exclusive; an instance selector or a fixed endpoint is required; a fixed
    /// endpoint goes with one instance (`instance.id`) or none, not with tags; endpoint
    /// overrides need discovery (no fixed endpoint) and, with `instance.id`, can only name
    /// that instance; a CA bundle is refused with `ssl_mode = "disable"` (it would be ignored).
    pub fn build(self) -> Result<Integration, ModelError> {
        let name: IntegrationName = self.name.parse().map_err(|e: ModelError| e.at("name"))?;
        let auth = self.auth.ok_or_else(|| {
            ModelError::missing(
                "auth",
                "set \"iam\" or \"password\" (the method the connector user was created with)",
            )
        })?;
        let connector_user = match self.connector_user {
            Some(user) => user,
            None => DEFAULT_CONNECTOR_USER.parse()?,
        };
        connector_user.check_role_name("connector_user")?;
        let holder_role = match self.holder_role {
            Some(role) => role,
            None => DEFAULT_HOLDER_ROLE.parse()?,
        };
        holder_role.check_role_name("holder_role")?;
        if holder_role.as_str().len() > MAX_HOLDER_PREFIX_BYTES {
            return Err(ModelError::invalid(
                "holder_role",
                holder_role.as_str(),
                format!(
                    "is {} bytes long; it is the prefix of holder names (`<prefix>_` and 16 hex \
                     digits, at most 63 bytes), so at most {MAX_HOLDER_PREFIX_BYTES} bytes",
                    holder_role.as_str().len()
                ),
            ));
        }
        if holder_role == connector_user {
            return Err(ModelError::conflict(
                "holder_role",
                "cannot be the connector user: revoked users' objects would run with the \
                 connector's rights; use a name of its own (default \"rdspg_holder\")",
            ));
        }
        let database = match self.database {
            Some(database) => database,
            None => DEFAULT_DATABASE.parse()?,
        };
        let lock_database = match self.lock_database {
            Some(database) => database,
            None => DEFAULT_LOCK_DATABASE.parse()?,
        };

        let instance = match (self.instance_id, self.tags.is_empty()) {
            (Some(_), false) => {
                return Err(ModelError::conflict(
                    "instance",
                    "id and tags are exclusive; select one instance by id, or a fleet by tags",
                ));
            }
            (Some(id), true) => Some(InstanceSelector::Id(id)),
            (None, false) => Some(InstanceSelector::Tags(TagFilters::new(self.tags)?)),
            (None, true) => None,
        };
        match (&instance, &self.endpoint) {
            (None, None) => {
                return Err(ModelError::missing(
                    "instance",
                    "give instance.id, instance.tags (or instance.tag_keys), or a fixed [endpoint]",
                ));
            }
            (Some(InstanceSelector::Tags(_)), Some(_)) => {
                return Err(ModelError::conflict(
                    "endpoint",
                    "a fixed endpoint cannot serve a fleet selected by tags; use instance.id, or endpoint_overrides per instance",
                ));
            }
            _ => {}
        }

        match (auth, &self.secret) {
            (AuthType::Password, None) => {
                return Err(ModelError::conflict(
                    "auth",
                    "\"password\" needs [secret] (secret.id = a Secrets Manager ARN or name, or secret.env = an environment variable)",
                ));
            }
            (AuthType::Iam, Some(_)) => {
                return Err(ModelError::conflict(
                    "secret",
                    "auth \"iam\" takes no secret (the connector signs an IAM token); remove [secret] or set auth = \"password\"",
                ));
            }
            _ => {}
        }
        if auth == AuthType::Iam && self.ssl_mode == SslMode::Disable {
            return Err(ModelError::conflict(
                "ssl_mode",
                "\"disable\" cannot carry auth \"iam\": RDS accepts IAM tokens only over TLS; use \"require\" or a verify mode",
            ));
        }
        if let Some(path) = &self.ssl_root_cert {
            if path.as_os_str().is_empty() {
                return Err(ModelError::invalid(
                    "ssl_root_cert",
                    "",
                    "is empty; give the path of a PEM CA bundle",
                ));
            }
            if self.ssl_mode == SslMode::Disable {
                return Err(ModelError::conflict(
                    "ssl_root_cert",
                    "ssl_mode \"disable\" never uses a CA bundle; remove ssl_root_cert or choose a TLS mode",
                ));
            }
        }

        if self.allow_unverified_password
            && self.ssl_root_cert.is_some()
            && matches!(
                self.ssl_mode,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
            )
        {
            return Err(ModelError::conflict(
                "allow_unverified_password",
                "has no effect: with ssl_root_cert and this ssl_mode every server is verified; remove it",
            ));
        }

        let mut endpoint_overrides = BTreeMap::new();
        for (instance_id, endpoint) in self.endpoint_overrides {
            let key = crate::node::join("endpoint_overrides", instance_id.as_str());
            if self.endpoint.is_some() {
                return Err(ModelError::conflict(
                    &key,
                    "cannot be used with a fixed [endpoint]: both say where to connect; keep one",
                ));
            }
            if let Some(InstanceSelector::Id(only)) = &instance
                && *only != instance_id
            {
                return Err(ModelError::conflict(
                    &key,
                    format!(
                        "names {} but the integration selects only {}; the override would never apply",
                        quote(instance_id.as_str()),
                        quote(only.as_str())
                    ),
                ));
            }
            if endpoint_overrides.contains_key(&instance_id) {
                return Err(ModelError::duplicate(
                    "endpoint_overrides",
                    instance_id.as_str(),
                ));
            }
            endpoint_overrides.insert(instance_id, endpoint);
        }

        for (i, flow) in self.access_flows.iter().enumerate() {
            let path = format!("access_flow[{i}]");
            flow.validate(&path)?;
            if self
                .access_flows
                .iter()
                .take(i)
                .any(|f| f.name == flow.name)
            {
                return Err(ModelError::duplicate(
                    &crate::node::join(&path, "name"),
                    &flow.name,
                ));
            }
        }

        Ok(Integration {
            name,
            region: self.region,
            auth,
            connector_user,
            holder_role,
            database,
            lock_database,
            instance,
            secret: self.secret,
            ssl_mode: self.ssl_mode,
            ssl_root_cert: self.ssl_root_cert,
            allow_unverified_password: self.allow_unverified_password,
            credentials_rotation: self.credentials_rotation,
            resource_types: self.resource_types.unwrap_or_default(),
            endpoint: self.endpoint,
            endpoint_overrides,
            aws: AwsSettings::new(self.aws_endpoint_url, self.aws_profile),
            access_flows: self.access_flows,
        })
    }
}
