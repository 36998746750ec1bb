//! Which RDS statuses still take connections (issue 14): an instance that is backing up,
//! being modified or having its storage optimized is reachable, so expired users on it are
//! still swept; only statuses in which RDS documents the engine as down or inaccessible are
//! skipped. Driven through `AwsDirectory` with `aws-smithy-mocks` (moto cannot set statuses).

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::types::{DbCluster, DbClusterMember, DbInstance, Endpoint};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use integration_model as im;
use rds_discovery::{AwsDirectory, DiscoveryError, InstanceDirectory};

/// (status, reachable). Source: Amazon RDS User Guide, "Viewing Amazon RDS DB instance
/// status" (Overview.DBInstance.Status), and for Aurora clusters "Viewing DB cluster status".
const STATUSES: &[(&str, bool)] = &[
    ("available", true),
    ("backing-up", true),
    ("configuring-enhanced-monitoring", true),
    ("configuring-iam-database-auth", true),
    ("configuring-log-exports", true),
    ("modifying", true),
    ("storage-optimization", true),
    ("storage-initialization", true),
    ("storage-config-upgrade", true),
    ("maintenance", true),
    ("upgrading", true),
    ("renaming", true),
    ("resetting-master-credentials", true),
    ("rebooting", true),
    ("storage-full", true),
    ("failing-over", true),
    ("promoting", true),
    // A status AWS adds later is tried: a refused connection is reported like a skip, while a
    // skip would never revoke anything.
    ("some-future-status", true),
    ("creating", false),
    ("deleting", false),
    ("delete-precheck", false),
    ("stopped", false),
    ("stopping", false),
    ("starting", false),
    ("failed", false),
    ("inaccessible-encryption-credentials", false),
    ("inaccessible-encryption-credentials-recoverable", false),
    ("incompatible-network", false),
    ("incompatible-option-group", false),
    ("incompatible-parameters", false),
    ("incompatible-restore", false),
    ("insufficient-capacity", false),
    ("restore-error", false),
    ("converting-to-vpc", false),
    ("moving-to-vpc", false),
];

fn row(name: &str, status: &str) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(name)
        .db_instance_arn(format!("arn:aws:rds:us-east-1:123456789012:db:{name}"))
        .dbi_resource_id("db-ABCDEFGHIJKL01234567890ABC")
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_status(status)
        .endpoint(
            Endpoint::builder()
                .address(format!("{name}.abc.us-east-1.rds.amazonaws.com"))
                .port(5432)
                .build(),
        )
        .iam_database_authentication_enabled(true)
        .build()
}

fn directory(client: Client) -> AwsDirectory {
    AwsDirectory::from_sdk_client(client).expect("the mock client has a region")
}

#[tokio::test]
async fn busy_but_reachable_instances_are_usable() {
    let instances = mock!(Client::describe_db_instances).then_compute_output(|req| {
        let status = req.db_instance_identifier().unwrap_or_default();
        DescribeDbInstancesOutput::builder()
            .db_instances(row(status, status))
            .build()
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances]);
    let dir = directory(client);
    for (status, reachable) in STATUSES {
        // The mock answers with the status named by the requested id.
        let id: im::InstanceId = status.parse().unwrap();
        let db = dir.instance(&id).await.unwrap();
        assert_eq!(db.status.as_ref().map(|s| s.as_str()), Some(*status));
        let usable = db.ensure_usable(im::AuthType::Iam);
        assert_eq!(usable.is_ok(), *reachable, "{status}: {usable:?}");
        if let Err(err) = usable {
            assert!(
                matches!(&err, DiscoveryError::NotAvailable { status: s, .. } if s.as_str() == *status),
                "{status}: {err:?}"
            );
            assert!(err.to_string().contains(status), "{err}");
        }
    }
}

#[tokio::test]
async fn an_aurora_cluster_backing_up_is_usable() {
    // The integration names the cluster: no instance has that id, the cluster's status counts.
    let instances = mock!(Client::describe_db_instances)
        .then_output(|| DescribeDbInstancesOutput::builder().build());
    let clusters = mock!(Client::describe_db_clusters).then_output(|| {
        DescribeDbClustersOutput::builder()
            .db_clusters(
                DbCluster::builder()
                    .db_cluster_identifier("orders")
                    .db_cluster_arn("arn:aws:rds:us-east-1:123456789012:cluster:orders")
                    .db_cluster_resource_id("cluster-ORDERS")
                    .engine("aurora-postgresql")
                    .status("backing-up")
                    .iam_database_authentication_enabled(true)
                    .endpoint("orders.cluster-abc.us-east-1.rds.amazonaws.com")
                    .port(5432)
                    .db_cluster_members(
                        DbClusterMember::builder()
                            .db_instance_identifier("orders-1")
                            .is_cluster_writer(true)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);
    let db = directory(client)
        .instance(&"orders".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(db.status.as_ref().map(|s| s.as_str()), Some("backing-up"));
    db.ensure_usable(im::AuthType::Iam).unwrap();
}
