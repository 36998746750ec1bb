//! [`DbInstance`]: what discovery knows about one PostgreSQL instance, and the checks that
//! decide whether the integration can use it.

use crate::error::DiscoveryError;
use crate::model::{AuthType, Endpoint, Host, InstanceId, Region};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A PostgreSQL engine of RDS, as the `Engine` field of `DescribeDBInstances` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Engine {
    /// RDS for PostgreSQL (`postgres`).
    #[serde(rename = "postgres")]
    Postgres,
    /// Aurora PostgreSQL-Compatible Edition (`aurora-postgresql`).
    #[serde(rename = "aurora-postgresql")]
    AuroraPostgresql,
}

impl Engine {
    /// Every engine this crate discovers, in the spelling of the RDS API (used as the `engine`
    /// filter of `DescribeDBInstances`).
    pub const ALL: [Engine; 2] = [Engine::Postgres, Engine::AuroraPostgresql];

    /// The RDS API spelling, e.g. `aurora-postgresql`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::AuroraPostgresql => "aurora-postgresql",
        }
    }

    /// The engine named by an RDS API engine string, `None` for any non-PostgreSQL engine.
    pub fn from_rds(engine: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|e| e.as_str() == engine)
    }

    /// Whether this is an Aurora engine.
    pub fn is_aurora(self) -> bool {
        matches!(self, Engine::AuroraPostgresql)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `DBInstanceStatus` of an instance (or the `Status` of an Aurora cluster), e.g.
/// `available`, `stopped`, `backing-up`.
///
/// Kept as AWS spells it: RDS has dozens of statuses and adds new ones. Many of them describe
/// work RDS does on an instance that keeps serving (a backup, a modification, storage
/// optimization), so [`accepts_connections`](Self::accepts_connections) says which ones are
/// reachable; only statuses in which AWS documents the engine as down or inaccessible are not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct InstanceStatus(String);

impl InstanceStatus {
    /// The status of a healthy instance.
    pub const AVAILABLE: &'static str = "available";

    /// A status as AWS reports it.
    pub fn new(status: impl Into<String>) -> Self {
        Self(status.into())
    }

    /// The status text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the instance is `available`.
    pub fn is_available(&self) -> bool {
        self.0 == Self::AVAILABLE
    }

    /// Whether an instance in this status is worth connecting to: `false` only for statuses in
    /// which the engine is down, not yet there, or inaccessible.
    ///
    /// Source: Amazon RDS User Guide, "Viewing Amazon RDS DB instance status"
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html>), and
    /// the Aurora User Guide's DB cluster statuses. A status not in either list (one AWS adds
    /// later) counts as reachable: a refused connection is reported per instance just like a
    /// skip, but a skip would leave expired users of a serving instance unrevoked.
    pub fn accepts_connections(&self) -> bool {
        match self.0.as_str() {
            // Serving; RDS works beside the engine.
            "available"
            | "backing-up"
            | "configuring-enhanced-monitoring"
            | "configuring-iam-database-auth"
            | "configuring-log-exports"
            | "update-iam-db-auth"
            // "modifying": most modifications apply online; those that restart the engine show
            // as `rebooting` while it is down.
            | "modifying"
            // Storage work happens under a running engine ("the instance is operational").
            | "storage-optimization"
            | "storage-initialization"
            | "storage-config-upgrade"
            // Maintenance and engine upgrades take the engine down for part of the time only;
            // a connection during that part fails and is reported, the next run retries.
            | "maintenance"
            | "upgrading"
            | "rebooting"
            | "failing-over"
            | "promoting"
            | "migrating"
            // The engine runs; the endpoint or the master password change.
            | "renaming"
            | "resetting-master-credentials"
            // The engine still answers; statements that write fail and are reported.
            | "storage-full" => true,
            // Not there yet, going away, stopped, or unable to run (AWS: "inaccessible",
            // "cannot start", "the DB instance is being moved").
            "creating"
            | "deleting"
            | "delete-precheck"
            | "stopped"
            | "stopping"
            | "starting"
            | "failed"
            | "inaccessible-encryption-credentials"
            | "inaccessible-encryption-credentials-recoverable"
            | "incompatible-network"
            | "incompatible-option-group"
            | "incompatible-parameters"
            | "incompatible-restore"
            | "insufficient-capacity"
            | "restore-error"
            | "converting-to-vpc"
            | "moving-to-vpc"
            | "cloning-failed"
            | "migration-failed"
            // Aurora MySQL only; never a PostgreSQL instance.
            | "backtracking" => false,
            _ => true,
        }
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The DB cluster an instance belongs to (Aurora, or a Multi-AZ DB cluster), from
/// `DescribeDBClusters`.
///
/// Aurora readers are read-only: changes (roles, grants) go through the writer, so connect to
/// [`writer_endpoint`](Self::writer_endpoint), which follows fail-overs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Cluster {
    /// The `DBClusterIdentifier`.
    pub id: String,
    /// The `DbClusterResourceId` (`cluster-…`): for Aurora, IAM `rds-db:connect` ARNs name the
    /// cluster by this id (see [`DbInstance::iam_resource_id`]).
    pub resource_id: Option<String>,
    /// The member instance that is the writer now (`DBClusterMembers`, `IsClusterWriter`).
    pub writer_instance: Option<String>,
    /// The cluster (writer) endpoint host; `None` while the cluster is being created.
    pub writer_endpoint: Option<Host>,
    /// The reader endpoint host (load-balanced over the replicas); `None` when AWS gives none.
    pub reader_endpoint: Option<Host>,
    /// The port of both endpoints.
    pub port: Option<u16>,
}

/// One PostgreSQL instance, as discovered. Serializes (e.g. for `rdspg discover --output json`)
/// to an object with exactly these snake_case keys; `cluster` is present only for instances of
/// a DB cluster.
///
/// When an integration names an Aurora DB *cluster* by identifier, the
/// [`AwsDirectory`](crate::AwsDirectory) returns the cluster as one entry: `id`, `arn`,
/// `status`, `tags` and `iam_auth` are the cluster's, `dbi_resource_id` is the
/// `DbClusterResourceId`, `host`/`port` are the writer endpoint, and `cluster.id == id`
/// ([`DbInstance::is_cluster_entry`]).
///
/// Fields that only AWS knows are `Option`: an instance from a
/// [`StaticDirectory`](crate::StaticDirectory) has `None` there (and `null` in JSON), which
/// means "unknown", never "false" or "empty". [`DbInstance::is_static`] tells the two kinds
/// apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DbInstance {
    /// The `DBInstanceIdentifier` (or the name of a static endpoint).
    pub id: InstanceId,
    /// The instance ARN, e.g. `arn:aws:rds:eu-west-1:123456789012:db:orders`.
    pub arn: Option<String>,
    /// The 12-digit AWS account id, read from the ARN.
    pub account: Option<String>,
    /// The region the instance lives in.
    pub region: Option<Region>,
    /// The `DbiResourceId` (`db-…`): IAM `rds-db:connect` ARNs name the instance by this id,
    /// not by its identifier.
    pub dbi_resource_id: Option<String>,
    /// The engine.
    pub engine: Option<Engine>,
    /// The engine version, e.g. `16.4`.
    pub engine_version: Option<String>,
    /// The instance status.
    pub status: Option<InstanceStatus>,
    /// The endpoint host name; `None` while an instance is being created.
    pub host: Option<Host>,
    /// The endpoint port.
    pub port: Option<u16>,
    /// Whether IAM database authentication is enabled.
    pub iam_auth: Option<bool>,
    /// The CA certificate identifier of the server certificate, e.g. `rds-ca-rsa2048-g1`.
    pub ca_certificate: Option<String>,
    /// The instance's AWS tags (empty for static endpoints).
    pub tags: BTreeMap<String, String>,
    /// The DB cluster the instance belongs to, for Aurora (and Multi-AZ DB clusters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Cluster>,
}

impl DbInstance {
    /// An instance known only by name and endpoint, with every AWS field unknown.
    pub(crate) fn from_static(id: InstanceId, endpoint: &Endpoint) -> Self {
        Self {
            id,
            arn: None,
            account: None,
            region: None,
            dbi_resource_id: None,
            engine: None,
            engine_version: None,
            status: None,
            host: Some(endpoint.host().clone()),
            port: Some(endpoint.port()),
            iam_auth: None,
            ca_certificate: None,
            tags: BTreeMap::new(),
            cluster: None,
        }
    }

    /// Whether this instance comes from static settings rather than from AWS (it has no ARN).
    pub fn is_static(&self) -> bool {
        self.arn.is_none()
    }

    /// Whether this entry stands for a whole DB cluster (an integration that names a cluster).
    pub fn is_cluster_entry(&self) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|c| c.id == self.id.as_str())
    }

    /// Whether this instance is the writer of its DB cluster (`None` outside clusters or when
    /// AWS does not say).
    pub fn is_cluster_writer(&self) -> Option<bool> {
        let cluster = self.cluster.as_ref()?;
        if self.is_cluster_entry() {
            return Some(true);
        }
        cluster
            .writer_instance
            .as_deref()
            .map(|writer| writer.eq_ignore_ascii_case(self.id.as_str()))
    }

    /// The resource id that IAM `rds-db:connect` ARNs
    /// (`arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/USER`) must name: the cluster's
    /// `DbClusterResourceId` for Aurora ("Creating and using an IAM policy for IAM database
    /// access", Aurora User Guide), the instance's `DbiResourceId` otherwise.
    pub fn iam_resource_id(&self) -> Option<&str> {
        match (&self.engine, &self.cluster) {
            (Some(Engine::AuroraPostgresql), Some(cluster)) => cluster.resource_id.as_deref(),
            _ => self.dbi_resource_id.as_deref(),
        }
    }

    /// The endpoint to connect to, when the instance has one.
    pub fn endpoint(&self) -> Option<Endpoint> {
        match (&self.host, self.port) {
            (Some(host), Some(port)) => Endpoint::new(host.clone(), port).ok(),
            _ => None,
        }
    }

    /// Fails with [`DiscoveryError::NotAvailable`] when AWS reports a status in which the
    /// instance takes no connections ([`InstanceStatus::accepts_connections`]): `stopped`,
    /// `creating`, ...; a busy but serving instance (`backing-up`, `modifying`,
    /// `storage-optimization`, `configuring-*`) passes. An unknown status (static endpoint)
    /// passes.
    pub fn ensure_available(&self) -> Result<(), DiscoveryError> {
        match &self.status {
            Some(status) if !status.accepts_connections() => Err(DiscoveryError::NotAvailable {
                id: self.id.clone(),
                status: status.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Fails with [`DiscoveryError::IamAuthDisabled`] when the integration authenticates with
    /// IAM and AWS reports IAM database authentication disabled on this instance. Password
    /// authentication always passes, and so does an unknown setting (static endpoint).
    pub fn ensure_supports_auth(&self, auth: AuthType) -> Result<(), DiscoveryError> {
        match (auth, self.iam_auth) {
            (AuthType::Iam, Some(false)) => Err(DiscoveryError::IamAuthDisabled {
                id: self.id.clone(),
                cluster: self.cluster.as_ref().map(|c| c.id.clone()),
            }),
            _ => Ok(()),
        }
    }

    /// Both checks: the instance takes connections and accepts the integration's authentication.
    pub fn ensure_usable(&self, auth: AuthType) -> Result<(), DiscoveryError> {
        self.ensure_available()?;
        self.ensure_supports_auth(auth)
    }
}

/// The account id of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:…`), when the ARN has that
/// shape and the account is 12 digits.
pub(crate) fn account_from_arn(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(_service), Some(_region), Some(account), Some(_)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> InstanceId {
        s.parse().unwrap()
    }

    #[test]
    fn account_is_read_from_arns() {
        // ARN format: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
        let cases = [
            (
                "arn:aws:rds:eu-west-1:123456789012:db:orders",
                Some("123456789012"),
            ),
            (
                "arn:aws-cn:rds:cn-north-1:210987654321:db:x",
                Some("210987654321"),
            ),
            (
                "arn:aws-us-gov:rds:us-gov-west-1:000000000001:cluster:c",
                Some("000000000001"),
            ),
            ("arn:aws:rds:eu-west-1:12345:db:orders", None),
            ("arn:aws:rds:eu-west-1:12345678901a:db:orders", None),
            ("arn:aws:rds:eu-west-1:123456789012", None),
            ("not-an-arn", None),
            ("", None),
        ];
        for (arn, want) in cases {
            assert_eq!(account_from_arn(arn).as_deref(), want, "{arn}");
        }
    }

    #[test]
    fn engines_round_trip_and_reject_others() {
        for engine in Engine::ALL {
            assert_eq!(Engine::from_rds(engine.as_str()), Some(engine));
            assert_eq!(engine.to_string(), engine.as_str());
        }
        for other in [
            "mysql",
            "aurora-mysql",
            "Postgres",
            "aurora",
            "oracle-ee",
            "",
        ] {
            assert_eq!(Engine::from_rds(other), None, "{other}");
        }
    }

    #[test]
    fn checks_follow_status_and_iam_setting() {
        let endpoint = Endpoint::new("h".parse().unwrap(), 5432).unwrap();
        let mut db = DbInstance::from_static(id("db1"), &endpoint);
        // Unknown (static) passes both checks.
        assert!(db.ensure_usable(AuthType::Iam).is_ok());

        db.status = Some(InstanceStatus::new("stopped"));
        let err = db.ensure_available().unwrap_err();
        assert!(
            matches!(&err, DiscoveryError::NotAvailable { status, .. } if status.as_str() == "stopped")
        );
        assert!(err.to_string().contains("`db1` is `stopped`"), "{err}");

        db.status = Some(InstanceStatus::new("available"));
        db.iam_auth = Some(false);
        assert!(db.ensure_supports_auth(AuthType::Password).is_ok());
        let err = db.ensure_usable(AuthType::Iam).unwrap_err();
        assert!(matches!(&err, DiscoveryError::IamAuthDisabled { id, .. } if id.as_str() == "db1"));
        assert!(
            err.to_string()
                .contains("modify-db-instance --db-instance-identifier db1"),
            "{err}"
        );

        db.cluster = Some(Cluster {
            id: "orders".to_owned(),
            resource_id: None,
            writer_instance: None,
            writer_endpoint: None,
            reader_endpoint: None,
            port: None,
        });
        let err = db.ensure_supports_auth(AuthType::Iam).unwrap_err();
        assert!(
            err.to_string()
                .contains("modify-db-cluster --db-cluster-identifier orders"),
            "{err}"
        );
        db.cluster = None;

        db.iam_auth = Some(true);
        assert!(db.ensure_usable(AuthType::Iam).is_ok());
    }
}
