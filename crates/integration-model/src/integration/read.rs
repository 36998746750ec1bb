//! Reading an [`Integration`] from a settings tree (TOML or JSON), key by key.

use super::{Integration, IntegrationBuilder};
use crate::error::quote;
use crate::flow::{AccessFlow, Pattern};
use crate::node::{Node, Table, parse_item};
use crate::{AccessDuration, AccessLevel};
use crate::{
    AuthType, Endpoint, Host, Identifier, InstanceId, IntegrationName, ModelError, Region,
    ResourceType, ResourceTypes, RotationPeriod, SecretRef, SslMode, TagFilter, TagKey, TagValue,
};

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
