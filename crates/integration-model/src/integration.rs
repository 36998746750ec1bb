//! One integration: everything the setup guide lists, validated as a whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::quote;
use crate::flow::{AccessFlow, Pattern};
use crate::node::{Node, Table, parse_item};
use crate::{AccessDuration, AccessLevel};
use crate::{
    AuthType, AwsEndpointUrl, AwsProfile, AwsSettings, Endpoint, Host, Identifier, InstanceId,
    IntegrationName, ModelError, Region, ResourcePath, ResourceType, ResourceTypes, RotationPeriod,
    SecretRef, SslMode, TagFilter, TagFilters, TagKey, TagValue,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        IntegrationBuilder {
            name: name.as_ref().to_owned(),
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

// ---------------------------------------------------------------------------------------
// Reading from a settings tree.

const KEYS: &[&str] = &[
    "name",
    "region",
    "auth",
    "connector_user",
    "holder_role",
    "database",
    "lock_database",
    "ssl_mode",
    "ssl_root_cert",
    "allow_unverified_password",
    "credentials_rotation_days",
    "resource_types",
    "endpoint_overrides",
    "instance",
    "secret",
    "endpoint",
    "aws",
    "access_flow",
];

/// Whether a top-level key belongs to the single-integration form.
pub(crate) fn is_integration_key(key: &str) -> bool {
    KEYS.contains(&key)
}

/// Reads one integration from its table (the document, or an `[[integration]]` entry).
pub(crate) fn from_table(t: &Table<'_>) -> Result<Integration, ModelError> {
    t.check_keys(KEYS)?;
    let name: IntegrationName = t.require(
        "name",
        "give the integration a unique name, e.g. name = \"orders-prod\"",
    )?;
    let region: Region = t.require("region", "give one AWS region, e.g. region = \"us-east-1\"")?;
    let mut b = Integration::builder(name, region);
    if let Some(auth) = t.parse::<AuthType>("auth")? {
        b = b.auth(auth);
    }
    if let Some(user) = t.parse::<Identifier>("connector_user")? {
        b = b.connector_user(user);
    }
    if let Some(role) = t.parse::<Identifier>("holder_role")? {
        b = b.holder_role(role);
    }
    if let Some(database) = t.parse::<Identifier>("database")? {
        b = b.database(database);
    }
    if let Some(database) = t.parse::<Identifier>("lock_database")? {
        b = b.lock_database(database);
    }
    if let Some(mode) = t.parse::<SslMode>("ssl_mode")? {
        b = b.ssl_mode(mode);
    }
    if let Some(path) = t.str("ssl_root_cert")? {
        if path.is_empty() || path.contains('\0') {
            return Err(ModelError::invalid(
                &t.key_path("ssl_root_cert"),
                path,
                "is not a usable file path",
            ));
        }
        b = b.ssl_root_cert(path);
    }
    match t.get("allow_unverified_password") {
        None => {}
        Some(Node::Bool(allow)) => b = b.allow_unverified_password(*allow),
        Some(other) => {
            return Err(ModelError::invalid_bare(
                &t.key_path("allow_unverified_password"),
                other.describe(),
                "must be true or false",
            ));
        }
    }
    if let Some(days) = t.int("credentials_rotation_days")? {
        let period = u16::try_from(days)
            .map_err(|_| {
                ModelError::invalid_bare("", days, "is not a whole number of days in 1..=365")
            })
            .and_then(RotationPeriod::from_days)
            .map_err(|e| e.at(&t.key_path("credentials_rotation_days")))?;
        b = b.credentials_rotation(period);
    }
    if let Some(items) = t.array("resource_types")? {
        let key = t.key_path("resource_types");
        let types = items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_item::<ResourceType>(item, &format!("{key}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        b = b.resource_types(ResourceTypes::new(types).map_err(|e| e.at(&key))?);
    }
    let overrides_path = t.key_path("endpoint_overrides");
    if let Some(overrides) = t.table("endpoint_overrides", &overrides_path)? {
        for (key, value) in overrides.entries() {
            let id: InstanceId = key.parse().map_err(|e: ModelError| e.at(&overrides_path))?;
            let endpoint: Endpoint = parse_item(value, &overrides.key_path(key))?;
            b = b.endpoint_override(id, endpoint);
        }
    }

    let instance_path = t.key_path("instance");
    if let Some(instance) = t.table("instance", &instance_path)? {
        b = read_instance(&instance, b)?;
    }
    let secret_path = t.key_path("secret");
    if let Some(secret) = t.table("secret", &secret_path)? {
        secret.check_keys(&["id", "env"])?;
        let id = secret.parse("id")?.map(SecretRef::SecretsManager);
        let env = secret.parse("env")?.map(SecretRef::Env);
        b = match (id, env) {
            (Some(_), Some(_)) => {
                return Err(ModelError::conflict(
                    &secret_path,
                    "id and env are exclusive; give one",
                ));
            }
            (Some(s), None) | (None, Some(s)) => b.secret(s),
            (None, None) => {
                return Err(ModelError::missing(
                    &secret_path,
                    "give secret.id (Secrets Manager ARN or name) or secret.env",
                ));
            }
        };
    }
    let endpoint_path = t.key_path("endpoint");
    if let Some(endpoint) = t.table("endpoint", &endpoint_path)? {
        endpoint.check_keys(&["host", "port"])?;
        let host: Host =
            endpoint.require("host", "give the host name or IP address to connect to")?;
        let port_path = endpoint.key_path("port");
        let port = endpoint.int("port")?.ok_or_else(|| {
            ModelError::missing(&port_path, "give the TCP port, e.g. port = 5432")
        })?;
        let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
            ModelError::invalid_bare(&port_path, port, "is not a TCP port (1..=65535)")
        })?;
        b = b.endpoint(Endpoint::new(host, port).map_err(|e| e.at(&port_path))?);
    }
    let aws_path = t.key_path("aws");
    if let Some(aws) = t.table("aws", &aws_path)? {
        aws.check_keys(&["endpoint_url", "profile"])?;
        if let Some(url) = aws.parse("endpoint_url")? {
            b = b.aws_endpoint_url(url);
        }
        if let Some(profile) = aws.parse("profile")? {
            b = b.aws_profile(profile);
        }
    }
    if let Some(flows) = t.array("access_flow")? {
        let flows_path = t.key_path("access_flow");
        for (i, item) in flows.iter().enumerate() {
            let path = format!("{flows_path}[{i}]");
            b = b.access_flow(read_flow(&Table::new(item, &path)?)?);
        }
    }
    b.build().map_err(|e| e.under(t.path()))
}

/// One `[[access_flow]]` entry.
fn read_flow(t: &Table<'_>) -> Result<AccessFlow, ModelError> {
    t.check_keys(&[
        "name",
        "requesters",
        "resources",
        "levels",
        "max_duration",
        "approval",
    ])?;
    let name_path = t.key_path("name");
    let name = t
        .str("name")?
        .ok_or_else(|| ModelError::missing(&name_path, "name the flow, e.g. name = \"analysts\""))?
        .to_owned();
    let list = |key: &str| -> Result<Vec<Pattern>, ModelError> {
        let path = t.key_path(key);
        let items = t.array(key)?.ok_or_else(|| {
            ModelError::missing(&path, "list at least one pattern (\"**\" for any)")
        })?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_item::<Pattern>(item, &format!("{path}[{i}]")))
            .collect()
    };
    let requesters = list("requesters")?;
    let resources = list("resources")?;
    let levels_path = t.key_path("levels");
    let levels = t
        .array("levels")?
        .ok_or_else(|| ModelError::missing(&levels_path, "list the levels it allows"))?
        .iter()
        .enumerate()
        .map(|(i, item)| parse_item::<AccessLevel>(item, &format!("{levels_path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let max_duration: AccessDuration = t.require(
        "max_duration",
        "give the longest access, e.g. max_duration = \"8h\"",
    )?;
    let approval = match t.get("approval") {
        None => false,
        Some(Node::Bool(b)) => *b,
        Some(other) => {
            return Err(ModelError::invalid_bare(
                &t.key_path("approval"),
                other.describe(),
                "must be true or false",
            ));
        }
    };
    Ok(AccessFlow::new(
        name,
        requesters,
        resources,
        levels,
        max_duration,
        approval,
    ))
}

fn read_instance(
    t: &Table<'_>,
    mut b: IntegrationBuilder,
) -> Result<IntegrationBuilder, ModelError> {
    t.check_keys(&["id", "tags", "tag_keys"])?;
    if let Some(id) = t.parse::<InstanceId>("id")? {
        b = b.instance_id(id);
    }
    let mut filters = Vec::new();
    let tags_path = t.key_path("tags");
    if let Some(tags) = t.table("tags", &tags_path)? {
        if tags.entries().is_empty() && t.get("tag_keys").is_none() {
            return Err(ModelError::invalid_bare(
                &tags_path,
                "{}",
                "selects nothing; give at least one tag",
            ));
        }
        for (key, value) in tags.entries() {
            let tag_key: TagKey = key.parse().map_err(|e: ModelError| e.at(&tags_path))?;
            let value: TagValue = parse_item(value, &tags.key_path(key))?;
            filters.push(TagFilter::equals(tag_key, value));
        }
    }
    if let Some(keys) = t.array("tag_keys")? {
        let keys_path = t.key_path("tag_keys");
        if keys.is_empty() && filters.is_empty() {
            return Err(ModelError::invalid_bare(
                &keys_path,
                "[]",
                "selects nothing; give at least one tag key",
            ));
        }
        for (i, item) in keys.iter().enumerate() {
            let item_path = format!("{keys_path}[{i}]");
            let key: TagKey = parse_item(item, &item_path)?;
            if filters.iter().any(|f| *f.key() == key) {
                return Err(ModelError::conflict(
                    &item_path,
                    format!(
                        "{} is also in {tags_path}; a key is either matched by value or by presence",
                        quote(key.as_str())
                    ),
                ));
            }
            filters.push(TagFilter::present(key));
        }
    }
    Ok(b.tags(filters))
}

// ---------------------------------------------------------------------------------------
// Serde: the settings-file shape.

#[derive(Serialize)]
struct Shape<'a> {
    name: &'a IntegrationName,
    region: &'a Region,
    auth: AuthType,
    connector_user: &'a Identifier,
    holder_role: &'a Identifier,
    database: &'a Identifier,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock_database: Option<&'a Identifier>,
    ssl_mode: SslMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_root_cert: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials_rotation_days: Option<RotationPeriod>,
    resource_types: ResourceTypes,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    endpoint_overrides: &'a BTreeMap<InstanceId, Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<InstanceShape<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<SecretShape<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<EndpointShape<'a>>,
    #[serde(skip_serializing_if = "AwsShape::is_empty")]
    aws: AwsShape<'a>,
    #[serde(rename = "access_flow", skip_serializing_if = "<[_]>::is_empty")]
    access_flows: &'a [AccessFlow],
}

#[derive(Serialize)]
struct InstanceShape<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a InstanceId>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tag_keys: Vec<&'a str>,
}

#[derive(Serialize)]
struct SecretShape<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'a str>,
}

#[derive(Serialize)]
struct EndpointShape<'a> {
    host: &'a Host,
    port: u16,
}

#[derive(Serialize)]
struct AwsShape<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_url: Option<&'a AwsEndpointUrl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a AwsProfile>,
}

impl AwsSettings {
    fn shape(&self) -> AwsShape<'_> {
        AwsShape {
            endpoint_url: self.endpoint_url(),
            profile: self.profile(),
        }
    }
}

impl AwsShape<'_> {
    fn is_empty(&self) -> bool {
        self.endpoint_url.is_none() && self.profile.is_none()
    }
}

impl Serialize for Integration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let instance = self.instance.as_ref().map(|selector| match selector {
            InstanceSelector::Id(id) => InstanceShape {
                id: Some(id),
                tags: BTreeMap::new(),
                tag_keys: Vec::new(),
            },
            InstanceSelector::Tags(filters) => InstanceShape {
                id: None,
                tags: filters
                    .iter()
                    .filter_map(|f| f.value().map(|v| (f.key().as_str(), v.as_str())))
                    .collect(),
                tag_keys: filters
                    .iter()
                    .filter(|f| f.value().is_none())
                    .map(|f| f.key().as_str())
                    .collect(),
            },
        });
        let secret = self.secret.as_ref().map(|secret| match secret {
            SecretRef::SecretsManager(id) => SecretShape {
                id: Some(id.as_str()),
                env: None,
            },
            SecretRef::Env(name) => SecretShape {
                id: None,
                env: Some(name.as_str()),
            },
        });
        Shape {
            name: &self.name,
            region: &self.region,
            auth: self.auth,
            connector_user: &self.connector_user,
            holder_role: &self.holder_role,
            database: &self.database,
            lock_database: (self.lock_database.as_str() != DEFAULT_LOCK_DATABASE)
                .then_some(&self.lock_database),
            ssl_mode: self.ssl_mode,
            ssl_root_cert: self.ssl_root_cert.as_deref(),
            credentials_rotation_days: self.credentials_rotation,
            resource_types: self.resource_types,
            endpoint_overrides: &self.endpoint_overrides,
            instance,
            secret,
            endpoint: self.endpoint.as_ref().map(|e| EndpointShape {
                host: e.host(),
                port: e.port(),
            }),
            aws: self.aws.shape(),
            access_flows: &self.access_flows,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Integration {
    /// Reads the settings-file shape of one integration, with every check of
    /// [`Settings`](crate::Settings).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let node = Node::deserialize(deserializer)?;
        Table::new(&node, "")
            .and_then(|t| from_table(&t))
            .map_err(serde::de::Error::custom)
    }
}
