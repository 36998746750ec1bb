//! Serde for [`Integration`]: the settings-file shape, written back as it is read.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{DEFAULT_LOCK_DATABASE, InstanceSelector, Integration, from_table};
use crate::flow::AccessFlow;
use crate::node::{Node, Table};
use crate::{
    AuthType, AwsSettings, Endpoint, Host, Identifier, InstanceId, IntegrationName, Region,
    ResourceTypes, RotationPeriod, SecretRef, SslMode,
};

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
    #[serde(skip_serializing_if = "AwsSettings::is_empty")]
    aws: &'a AwsSettings,
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
            aws: &self.aws,
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
