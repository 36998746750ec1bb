//! Pure conversions from the SDK's response shapes to this crate's types.

use crate::error::DiscoveryError;
use crate::instance::{Cluster, DbInstance, Engine, InstanceStatus, account_from_arn};
use crate::model::{Host, InstanceId, Region};
use aws_sdk_rds::types as sdk;
use std::collections::BTreeMap;

use super::{DESCRIBE_CLUSTERS, DESCRIBE_INSTANCES};

/// A cluster row of `DescribeDBClusters`, with its tags (for tag matching).
#[derive(Debug, Clone)]
pub(crate) struct ClusterRow {
    pub(crate) cluster: Cluster,
    pub(crate) tags: BTreeMap<String, String>,
    /// The cluster's `IAMDatabaseAuthenticationEnabled`.
    pub(crate) iam_auth: Option<bool>,
}

impl ClusterRow {
    /// Attaches this cluster to one of its instances. For Aurora, IAM database authentication
    /// is a cluster setting (RDS API `ModifyDBInstance`, `EnableIAMDatabaseAuthentication`:
    /// "doesn't apply to Amazon Aurora. Mapping … IAM accounts to database accounts is managed
    /// by the DB cluster"), so the cluster's value wins when it reports one.
    pub(crate) fn attach_to(&self, db: &mut DbInstance) {
        if self.iam_auth.is_some() {
            db.iam_auth = self.iam_auth;
        }
        db.cluster = Some(self.cluster.clone());
    }
}

/// The tags of a `TagList`; a tag without key is dropped, a tag without value has value `""`
/// (as in the console).
pub(crate) fn tags_of(list: &[sdk::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|tag| {
            let key = tag.key()?;
            Some((key.to_owned(), tag.value().unwrap_or_default().to_owned()))
        })
        .collect()
}

/// The identifier of an instance row.
pub(crate) fn instance_id(raw: &sdk::DbInstance) -> Result<InstanceId, DiscoveryError> {
    let text = raw
        .db_instance_identifier()
        .ok_or_else(|| DiscoveryError::InvalidResponse {
            action: DESCRIBE_INSTANCES,
            detail: format!(
                "an instance without DBInstanceIdentifier (ARN {})",
                raw.db_instance_arn().unwrap_or("unknown")
            ),
        })?;
    text.parse().map_err(|e| DiscoveryError::InvalidResponse {
        action: DESCRIBE_INSTANCES,
        detail: format!("instance identifier `{text}` is not valid: {e}"),
    })
}

fn port(action: &'static str, value: i32, what: &str, owner: &str) -> Result<u16, DiscoveryError> {
    match u16::try_from(value) {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(DiscoveryError::InvalidResponse {
            action,
            detail: format!("{what} of `{owner}` is {value}, not a TCP port"),
        }),
    }
}

fn host(
    action: &'static str,
    text: Option<&str>,
    what: &str,
    owner: &str,
) -> Result<Option<Host>, DiscoveryError> {
    text.map(|t| {
        t.parse().map_err(|e| DiscoveryError::InvalidResponse {
            action,
            detail: format!("{what} of `{owner}` is `{t}`, not a host name: {e}"),
        })
    })
    .transpose()
}

/// Converts one instance row. Fails with [`DiscoveryError::NotPostgres`] for other engines.
/// The `cluster` field is left `None`; the caller attaches it from `DescribeDBClusters`.
pub(crate) fn instance(
    raw: &sdk::DbInstance,
    region: &Region,
) -> Result<DbInstance, DiscoveryError> {
    let id = instance_id(raw)?;
    let engine_text = raw.engine().unwrap_or_default();
    let Some(engine) = Engine::from_rds(engine_text) else {
        return Err(DiscoveryError::NotPostgres {
            id,
            engine: engine_text.to_owned(),
        });
    };
    let endpoint = raw.endpoint();
    let port = match endpoint.and_then(|e| e.port()) {
        Some(p) => Some(port(DESCRIBE_INSTANCES, p, "endpoint port", id.as_str())?),
        None => None,
    };
    let host = host(
        DESCRIBE_INSTANCES,
        endpoint.and_then(|e| e.address()),
        "endpoint address",
        id.as_str(),
    )?;
    let arn = raw.db_instance_arn().map(str::to_owned);
    Ok(DbInstance {
        account: arn.as_deref().and_then(account_from_arn),
        arn,
        region: Some(region.clone()),
        dbi_resource_id: raw.dbi_resource_id().map(str::to_owned),
        engine: Some(engine),
        engine_version: raw.engine_version().map(str::to_owned),
        status: raw.db_instance_status().map(InstanceStatus::new),
        host,
        port,
        iam_auth: raw.iam_database_authentication_enabled(),
        ca_certificate: raw.ca_certificate_identifier().map(str::to_owned),
        tags: tags_of(raw.tag_list()),
        cluster: None,
        id,
    })
}

/// Converts a DB cluster into one entry standing for the whole cluster (an integration that
/// names a cluster): the cluster's ARN, status, tags and IAM setting, its
/// `DbClusterResourceId` as resource id, the writer endpoint as host, and the CA of the
/// cluster (or of its writer instance, `writer`, when the cluster reports none).
pub(crate) fn cluster_entry(
    raw: &sdk::DbCluster,
    row: &ClusterRow,
    writer: Option<&sdk::DbInstance>,
    region: &Region,
) -> Result<DbInstance, DiscoveryError> {
    let text = row.cluster.id.as_str();
    let id: InstanceId = text.parse().map_err(|e| DiscoveryError::InvalidResponse {
        action: DESCRIBE_CLUSTERS,
        detail: format!("DB cluster identifier `{text}` is not valid: {e}"),
    })?;
    let engine_text = raw.engine().unwrap_or_default();
    let Some(engine) = Engine::from_rds(engine_text) else {
        return Err(DiscoveryError::NotPostgres {
            id,
            engine: engine_text.to_owned(),
        });
    };
    let arn = raw.db_cluster_arn().map(str::to_owned);
    let ca_certificate = raw
        .certificate_details()
        .and_then(|c| c.ca_identifier())
        .or_else(|| writer.and_then(|w| w.ca_certificate_identifier()))
        .map(str::to_owned);
    Ok(DbInstance {
        account: arn.as_deref().and_then(account_from_arn),
        arn,
        region: Some(region.clone()),
        dbi_resource_id: row.cluster.resource_id.clone(),
        engine: Some(engine),
        engine_version: raw.engine_version().map(str::to_owned),
        status: raw.status().map(InstanceStatus::new),
        host: row.cluster.writer_endpoint.clone(),
        port: row.cluster.port,
        iam_auth: row.iam_auth,
        ca_certificate,
        tags: row.tags.clone(),
        cluster: Some(row.cluster.clone()),
        id,
    })
}

/// Converts one cluster row; rows without identifier are dropped (nothing can refer to them).
pub(crate) fn cluster(raw: &sdk::DbCluster) -> Result<Option<ClusterRow>, DiscoveryError> {
    let Some(id) = raw.db_cluster_identifier() else {
        return Ok(None);
    };
    let port = match raw.port() {
        Some(p) => Some(port(DESCRIBE_CLUSTERS, p, "port of DB cluster", id)?),
        None => None,
    };
    Ok(Some(ClusterRow {
        cluster: Cluster {
            id: id.to_owned(),
            resource_id: raw.db_cluster_resource_id().map(str::to_owned),
            writer_instance: raw
                .db_cluster_members()
                .iter()
                .find(|m| m.is_cluster_writer() == Some(true))
                .and_then(|m| m.db_instance_identifier())
                .map(str::to_owned),
            writer_endpoint: host(
                DESCRIBE_CLUSTERS,
                raw.endpoint(),
                "endpoint of DB cluster",
                id,
            )?,
            reader_endpoint: host(
                DESCRIBE_CLUSTERS,
                raw.reader_endpoint(),
                "reader endpoint of DB cluster",
                id,
            )?,
            port,
        },
        tags: tags_of(raw.tag_list()),
        iam_auth: raw.iam_database_authentication_enabled(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region() -> Region {
        "eu-west-1".parse().unwrap()
    }

    fn full_row() -> sdk::DbInstance {
        sdk::DbInstance::builder()
            .db_instance_identifier("orders")
            .db_instance_arn("arn:aws:rds:eu-west-1:123456789012:db:orders")
            .dbi_resource_id("db-ABCDEFGHIJKLMNOPQRSTUVWXY")
            .engine("postgres")
            .engine_version("16.4")
            .db_instance_status("available")
            .endpoint(
                sdk::Endpoint::builder()
                    .address("orders.abc.eu-west-1.rds.amazonaws.com")
                    .port(5432)
                    .build(),
            )
            .iam_database_authentication_enabled(true)
            .ca_certificate_identifier("rds-ca-rsa2048-g1")
            .tag_list(sdk::Tag::builder().key("env").value("prod").build())
            .tag_list(sdk::Tag::builder().key("flag").build())
            .tag_list(sdk::Tag::builder().value("keyless").build())
            .build()
    }

    #[test]
    fn every_field_is_carried_over() {
        let db = instance(&full_row(), &region()).unwrap();
        assert_eq!(db.id.as_str(), "orders");
        assert_eq!(
            db.arn.as_deref(),
            Some("arn:aws:rds:eu-west-1:123456789012:db:orders")
        );
        assert_eq!(db.account.as_deref(), Some("123456789012"));
        assert_eq!(db.region, Some(region()));
        assert_eq!(
            db.dbi_resource_id.as_deref(),
            Some("db-ABCDEFGHIJKLMNOPQRSTUVWXY")
        );
        assert_eq!(db.engine, Some(Engine::Postgres));
        assert_eq!(db.engine_version.as_deref(), Some("16.4"));
        assert_eq!(
            db.status.as_ref().map(InstanceStatus::as_str),
            Some("available")
        );
        assert_eq!(
            db.host.as_ref().map(|h| h.as_str()),
            Some("orders.abc.eu-west-1.rds.amazonaws.com")
        );
        assert_eq!(db.port, Some(5432));
        assert_eq!(db.iam_auth, Some(true));
        assert_eq!(db.ca_certificate.as_deref(), Some("rds-ca-rsa2048-g1"));
        let tags: Vec<_> = db
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(tags, [("env", "prod"), ("flag", "")]);
        assert!(!db.is_static());
    }

    #[test]
    fn instance_being_created_has_no_endpoint() {
        let row = sdk::DbInstance::builder()
            .db_instance_identifier("new")
            .engine("aurora-postgresql")
            .db_instance_status("creating")
            .build();
        let db = instance(&row, &region()).unwrap();
        assert_eq!((db.host, db.port), (None, None));
        assert_eq!(db.engine, Some(Engine::AuroraPostgresql));
        assert_eq!(db.account, None);
    }

    #[test]
    fn other_engines_and_broken_rows_are_typed_errors() {
        let mysql = sdk::DbInstance::builder()
            .db_instance_identifier("shop")
            .engine("mysql")
            .build();
        let err = instance(&mysql, &region()).unwrap_err();
        assert!(
            matches!(&err, DiscoveryError::NotPostgres { engine, .. } if engine == "mysql"),
            "{err}"
        );
        assert!(
            err.to_string().contains("`shop` runs engine `mysql`"),
            "{err}"
        );

        let no_id = sdk::DbInstance::builder().engine("postgres").build();
        assert!(matches!(
            instance(&no_id, &region()),
            Err(DiscoveryError::InvalidResponse { .. })
        ));

        let bad_port = sdk::DbInstance::builder()
            .db_instance_identifier("p")
            .engine("postgres")
            .endpoint(sdk::Endpoint::builder().address("h").port(70000).build())
            .build();
        let err = instance(&bad_port, &region()).unwrap_err();
        assert!(err.to_string().contains("70000"), "{err}");
    }

    #[test]
    fn cluster_rows_keep_endpoints_and_tags() {
        let row = sdk::DbCluster::builder()
            .db_cluster_identifier("c1")
            .endpoint("c1.cluster-x.eu-west-1.rds.amazonaws.com")
            .reader_endpoint("c1.cluster-ro-x.eu-west-1.rds.amazonaws.com")
            .port(5432)
            .tag_list(sdk::Tag::builder().key("env").value("prod").build())
            .build();
        let got = cluster(&row).unwrap().unwrap();
        assert_eq!(got.cluster.id, "c1");
        assert_eq!(
            got.cluster.reader_endpoint.as_ref().map(|h| h.as_str()),
            Some("c1.cluster-ro-x.eu-west-1.rds.amazonaws.com")
        );
        assert_eq!(got.tags.get("env").map(String::as_str), Some("prod"));
        assert!(
            cluster(&sdk::DbCluster::builder().build())
                .unwrap()
                .is_none()
        );
    }
}
