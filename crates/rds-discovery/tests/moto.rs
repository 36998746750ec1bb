//! `AwsDirectory` against a real `moto_server` (through `pg-testkit`'s `MotoServer`): instances
//! and clusters are created with boto3, then discovered through the public API.
//!
//! Gaps of moto 5.x, checked here so that a moto upgrade that closes them is noticed, and never
//! papered over in the library:
//! - every instance has the same `DbiResourceId` (`db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U`), where AWS
//!   gives each its own;
//! - `CACertificateIdentifier` is `rds-ca-default`, not a real CA name such as
//!   `rds-ca-rsa2048-g1`;
//! - Aurora member instances report `IAMDatabaseAuthenticationEnabled = false` even when the
//!   cluster enables it (the crate takes the cluster's value for cluster members, as AWS
//!   documents that the cluster manages it).

use integration_model::{AuthType, InstanceId, TagFilters};
use pg_testkit::MotoServer;
use rds_discovery::{
    AwsDirectory, AwsOptions, DbInstance, DiscoveryError, Engine, InstanceDirectory,
};

/// The single `DbiResourceId` moto gives every instance.
const MOTO_DBI_RESOURCE_ID: &str = "db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U";
/// moto's account id.
const MOTO_ACCOUNT: &str = "123456789012";

fn start_moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("these tests need moto_server: {e}"))
}

async fn directory(moto: &MotoServer) -> AwsDirectory {
    AwsDirectory::from_sdk_config(&moto.sdk_config())
        .expect("moto config has region and credentials")
}

fn id(text: &str) -> InstanceId {
    text.parse().expect("test instance ids are valid")
}

fn tags(spec: &[&str]) -> TagFilters {
    TagFilters::new(
        spec.iter()
            .map(|s| s.parse().expect("test tag filters are valid")),
    )
    .expect("test tag filter sets are non-empty")
}

fn ids(found: &[DbInstance]) -> Vec<&str> {
    found.iter().map(|db| db.id.as_str()).collect()
}

/// boto3 helpers defined before each script.
const HELPERS: &str = r#"
def pg(name, engine="postgres", iam=False, tags=(), **extra):
    rds.create_db_instance(
        DBInstanceIdentifier=name, Engine=engine, DBInstanceClass="db.t3.micro",
        MasterUsername="master", MasterUserPassword="password-1", AllocatedStorage=20,
        EnableIAMDatabaseAuthentication=iam,
        Tags=[{"Key": k, "Value": v} for k, v in tags], **extra)

def aurora(cluster, members, iam=False, tags=()):
    rds.create_db_cluster(
        DBClusterIdentifier=cluster, Engine="aurora-postgresql", MasterUsername="master",
        MasterUserPassword="password-1", EnableIAMDatabaseAuthentication=iam,
        Tags=[{"Key": k, "Value": v} for k, v in tags])
    for name, member_tags in members:
        rds.create_db_instance(
            DBInstanceIdentifier=name, DBClusterIdentifier=cluster, Engine="aurora-postgresql",
            DBInstanceClass="db.r5.large", Tags=[{"Key": k, "Value": v} for k, v in member_tags])
"#;

fn boto3(moto: &MotoServer, script: &str) {
    let program = format!("{HELPERS}\n{script}");
    moto.boto3(&program)
        .unwrap_or_else(|e| panic!("boto3 setup failed: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_250_is_read_to_the_end_and_filtered_by_tags() {
    let moto = start_moto();
    boto3(
        &moto,
        r#"
for i in range(250):
    pg(f"pg-{i:03d}", tags=[("env", "prod" if i % 2 == 0 else "dev"), ("team", "data")])
for i in range(3):
    pg(f"shop-{i}", engine="mysql", tags=[("env", "prod"), ("team", "data")])
"#,
    );
    let dir = directory(&moto).await;

    let prod = dir.instances_by_tags(&tags(&["env=prod"])).await.unwrap();
    assert_eq!(
        prod.len(),
        125,
        "250 instances span 3 pages of 100; all were read"
    );
    assert_eq!(ids(&prod).first(), Some(&"pg-000"));
    assert_eq!(ids(&prod).last(), Some(&"pg-248"));
    assert!(
        prod.iter().all(|db| db.engine == Some(Engine::Postgres)),
        "MySQL is never listed"
    );

    let everyone = dir.instances_by_tags(&tags(&["team"])).await.unwrap();
    assert_eq!(everyone.len(), 250);
    let both = dir
        .instances_by_tags(&tags(&["env=dev", "team=data"]))
        .await
        .unwrap();
    assert_eq!(both.len(), 125);

    let err = dir
        .instances_by_tags(&tags(&["env=staging"]))
        .await
        .unwrap_err();
    assert!(matches!(&err, DiscoveryError::NoMatch { .. }), "{err:?}");
    assert!(err.to_string().contains("env=staging"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_instances_carry_every_field_and_fail_with_typed_errors() {
    let moto = start_moto();
    boto3(
        &moto,
        r#"
pg("orders", iam=True, tags=[("env", "prod"), ("owner", "")], EngineVersion="16.4")
pg("legacy", iam=False, EngineVersion="13.15")
pg("shop", engine="mysql")
pg("paused")
rds.stop_db_instance(DBInstanceIdentifier="paused")
"#,
    );
    let dir = directory(&moto).await;

    let orders = dir.instance(&id("orders")).await.unwrap();
    assert_eq!(
        orders.arn.as_deref(),
        Some("arn:aws:rds:us-east-1:123456789012:db:orders")
    );
    assert_eq!(orders.account.as_deref(), Some(MOTO_ACCOUNT));
    assert_eq!(
        orders.region.as_ref().map(|r| r.as_str()),
        Some("us-east-1")
    );
    assert_eq!(orders.engine, Some(Engine::Postgres));
    assert_eq!(orders.engine_version.as_deref(), Some("16.4"));
    assert_eq!(
        orders.status.as_ref().map(|s| s.as_str()),
        Some("available")
    );
    assert_eq!(
        orders.host.as_ref().map(|h| h.as_str()),
        Some("orders.aaaaaaaaaa.us-east-1.rds.amazonaws.com")
    );
    assert_eq!(orders.port, Some(5432));
    assert_eq!(orders.iam_auth, Some(true));
    assert_eq!(orders.tags.get("env").map(String::as_str), Some("prod"));
    assert_eq!(orders.tags.get("owner").map(String::as_str), Some(""));
    assert!(orders.cluster.is_none());
    // moto gaps (see the file docs): one resource id for all, a placeholder CA name.
    assert_eq!(
        orders.dbi_resource_id.as_deref(),
        Some(MOTO_DBI_RESOURCE_ID)
    );
    assert_eq!(orders.iam_resource_id(), Some(MOTO_DBI_RESOURCE_ID));
    assert_eq!(orders.ca_certificate.as_deref(), Some("rds-ca-default"));
    orders.ensure_usable(AuthType::Iam).unwrap();

    let legacy = dir.instance(&id("legacy")).await.unwrap();
    assert_eq!(legacy.iam_auth, Some(false));
    legacy.ensure_usable(AuthType::Password).unwrap();
    let err = legacy.ensure_usable(AuthType::Iam).unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::IamAuthDisabled { id, .. } if id.as_str() == "legacy"),
        "{err:?}"
    );

    let paused = dir.instance(&id("paused")).await.unwrap();
    let err = paused.ensure_usable(AuthType::Password).unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::NotAvailable { status, .. } if status.as_str() == "stopped"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`paused` is `stopped`"), "{err}");

    let err = dir.instance(&id("shop")).await.unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::NotPostgres { engine, .. } if engine == "mysql"),
        "{err:?}"
    );

    let err = dir.instance(&id("ghost")).await.unwrap_err();
    assert!(matches!(&err, DiscoveryError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("`ghost` not found in region us-east-1"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aurora_clusters_give_endpoints_and_select_by_cluster_tags() {
    let moto = start_moto();
    boto3(
        &moto,
        r#"
aurora("orders", [("orders-1", []), ("orders-2", [])], iam=True, tags=[("env", "prod")])
aurora("billing", [("billing-1", [("env", "prod")])])
aurora("scratch", [("scratch-1", [])], tags=[("env", "dev")])
pg("solo", tags=[("env", "prod")])
"#,
    );
    let dir = directory(&moto).await;

    let prod = dir.instances_by_tags(&tags(&["env=prod"])).await.unwrap();
    assert_eq!(ids(&prod), ["billing-1", "orders-1", "orders-2", "solo"]);

    let orders_1 = prod.iter().find(|db| db.id.as_str() == "orders-1").unwrap();
    assert_eq!(orders_1.engine, Some(Engine::AuroraPostgresql));
    let cluster = orders_1.cluster.as_ref().unwrap();
    assert_eq!(cluster.id, "orders");
    let writer = cluster.writer_endpoint.as_ref().unwrap().as_str();
    let reader = cluster.reader_endpoint.as_ref().unwrap().as_str();
    assert!(
        writer.starts_with("orders.cluster-") && writer.ends_with(".us-east-1.rds.amazonaws.com"),
        "{writer}"
    );
    assert!(reader.starts_with("orders.cluster-ro-"), "{reader}");
    assert_eq!(cluster.port, Some(5432));
    let resource_id = cluster.resource_id.as_deref().unwrap();
    assert!(resource_id.starts_with("cluster-"), "{resource_id}");
    assert_eq!(orders_1.iam_resource_id(), Some(resource_id));
    // The cluster enables IAM auth; moto's member rows say false, the cluster's value wins.
    assert_eq!(orders_1.iam_auth, Some(true));
    let billing_1 = prod
        .iter()
        .find(|db| db.id.as_str() == "billing-1")
        .unwrap();
    assert_eq!(billing_1.iam_auth, Some(false));
    let err = billing_1.ensure_usable(AuthType::Iam).unwrap_err();
    assert!(
        err.to_string()
            .contains("modify-db-cluster --db-cluster-identifier billing"),
        "{err}"
    );
    let writers: Vec<_> = prod
        .iter()
        .filter(|db| db.is_cluster_writer() == Some(true))
        .collect();
    assert_eq!(
        writers.len(),
        2,
        "one writer in orders, one in billing: {writers:?}"
    );

    // An integration may name the cluster itself: one entry for the whole cluster.
    let entry = dir.instance(&id("orders")).await.unwrap();
    assert!(entry.is_cluster_entry());
    assert_eq!(entry.host.as_ref().map(|h| h.as_str()), Some(writer));
    assert_eq!(entry.dbi_resource_id.as_deref(), Some(resource_id));
    assert_eq!(
        entry.arn.as_deref(),
        Some("arn:aws:rds:us-east-1:123456789012:cluster:orders")
    );
    assert_eq!(entry.tags.get("env").map(String::as_str), Some("prod"));
    assert_eq!(entry.iam_auth, Some(true));
    assert_eq!(entry.ca_certificate.as_deref(), Some("rds-ca-default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_of_a_discovered_instance_has_the_documented_keys() {
    let moto = start_moto();
    boto3(
        &moto,
        r#"
pg("plain", iam=True, tags=[("env", "prod")])
aurora("orders", [("orders-1", [("env", "prod")])])
"#,
    );
    let dir = directory(&moto).await;
    let found = dir.instances_by_tags(&tags(&["env=prod"])).await.unwrap();
    let json = serde_json::to_value(&found).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let mut base = vec![
        "account",
        "arn",
        "ca_certificate",
        "dbi_resource_id",
        "engine",
        "engine_version",
        "host",
        "iam_auth",
        "id",
        "port",
        "region",
        "status",
        "tags",
    ];
    base.sort_unstable();
    assert_eq!(json[1]["id"], "plain");
    assert_eq!(keys(&json[1]), base, "no `cluster` key outside clusters");
    assert_eq!(json[1]["tags"], serde_json::json!({"env": "prod"}));
    assert_eq!(json[1]["iam_auth"], true);
    let mut with_cluster = base.clone();
    with_cluster.push("cluster");
    with_cluster.sort_unstable();
    assert_eq!(json[0]["id"], "orders-1");
    assert_eq!(keys(&json[0]), with_cluster);
    assert_eq!(json[0]["cluster"]["id"], "orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_reach_moto_and_bad_options_are_refused() {
    let moto = start_moto();
    let options = AwsOptions::new(moto.region().parse().unwrap())
        .endpoint_url(moto.endpoint_url().parse().unwrap())
        .profile(
            "rds-discovery-test-profile-that-does-not-exist"
                .parse()
                .unwrap(),
        )
        .max_attempts(1);
    let dir = AwsDirectory::from_options(&options).await.unwrap();
    assert_eq!(dir.region().as_str(), "us-east-1");
    // The named profile does not exist, so the credential chain has nothing to sign with.
    let err = dir.instance(&id("orders")).await.unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::CredentialsMissing { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("rds-discovery-test-profile-that-does-not-exist"),
        "{text}"
    );

    let err = AwsDirectory::from_options(&options.clone().max_attempts(0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            DiscoveryError::InvalidOption {
                field: "max_attempts",
                ..
            }
        ),
        "{err:?}"
    );
}
