//! The connector service under hostile or careless settings (issue 14, item 6): an absurd
//! `--sweep-every` must not make `/healthz` panic; an instance that RDS is backing up (busy,
//! but serving) is still swept.

mod common;

use common::{free_port, http_get};
use common::{rdspg_path, wait_for};

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::integration_model::{
    AccessDuration, AccessLevel, AccessRequest, Endpoint, InstanceId, Settings, TagFilters,
};
use rds_pg_access::pg_auth::{Clock, ManualClock, SecretString, StaticPassword};
use rds_pg_access::rds_discovery::{
    DbInstance, DiscoveryError, InstanceDirectory, InstanceStatus, StaticDirectory,
};
use rds_pg_access::{AccessManager, IntegrationCredentials};

/// Kills the child when the test ends, whatever happens.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_huge_sweep_interval_keeps_healthz_answering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("huge.toml");
    // Nothing listens on the endpoint: the runs fail, which /healthz only reports after two
    // intervals; what matters here is that /healthz answers at all.
    let text = format!(
        "name = \"huge\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         [secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n[endpoint]\nhost = \"127.0.0.1\"\n\
         port = {}\n",
        free_port()
    );
    std::fs::write(&config, text).expect("write config");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let serve = Command::new(rdspg_path())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &addr.to_string()])
        .args([
            "--sweep-every",
            "18446744073709551615s",
            "--sync-every",
            "213503982334601d",
            "--rotate-every",
            "1h",
        ])
        .env("RDSPG_CONNECTOR_PASSWORD", "unused")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rdspg serve");
    let _reap = Reap(serve);
    // Twice: the first answer may come before the first round has finished.
    for round in 0..2 {
        let (status, body) = wait_for("an answer from /healthz", 30, || http_get(addr, "/healthz"));
        assert_eq!(status, 200, "round {round}: {body}");
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (status, body) = http_get(addr, "/metrics").expect("metrics answers");
    assert_eq!(status, 200, "{body}");
}

/// Discovery that reports every instance with one RDS status.
#[derive(Debug)]
struct WithStatus(StaticDirectory, &'static str);

#[async_trait::async_trait]
impl InstanceDirectory for WithStatus {
    async fn instance(&self, id: &InstanceId) -> Result<DbInstance, DiscoveryError> {
        let mut db = self.0.instance(id).await?;
        db.status = Some(InstanceStatus::new(self.1));
        Ok(db)
    }

    async fn instances_by_tags(
        &self,
        _filters: &TagFilters,
    ) -> Result<Vec<DbInstance>, DiscoveryError> {
        Ok(Vec::new())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_user_on_an_instance_that_is_backing_up_is_swept() {
    let cluster = TestCluster::start().expect("start a cluster with the RDS emulation");
    cluster
        .sql("appdb", "GRANT app_owner TO apono_connector")
        .expect("owner fix");
    let text = "name = \"orders\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
                ssl_mode = \"disable\"\n[instance]\nid = \"orders\"\n[secret]\nenv = \"UNUSED\"\n";
    let integration = Settings::from_toml_str(text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let directory = |status| {
        Arc::new(WithStatus(
            StaticDirectory::new().with_endpoint(
                "orders".parse().expect("id"),
                Endpoint::new("127.0.0.1".parse().expect("host"), cluster.port()).expect("ep"),
            ),
            status,
        ))
    };
    let password = SecretString::from(cluster.connector().password.clone());
    let credentials = Arc::new(IntegrationCredentials::shared(Arc::new(
        StaticPassword::new("apono_connector", password),
    )));
    let manager = |status| {
        AccessManager::new(integration.clone(), directory(status), credentials.clone())
            .expect("manager")
    };

    // Granted two hours ago for one hour, while the instance was available.
    let past: Arc<dyn Clock> = Arc::new(ManualClock::new(
        SystemTime::now() - Duration::from_secs(7200),
    ));
    let granter = manager("available").with_clock(past);
    let request = AccessRequest::builder(
        "busy_expired".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(granter.resource_path("appdb/inventory").expect("path"))
    .build()
    .expect("request");
    let granted = granter.grant(&request).await.expect("grant");
    assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    assert!(common::role_exists(&cluster, "busy_expired"));

    // Now RDS is taking a backup: the instance serves, and the sweep revokes the user.
    let report = manager("backing-up").sweep().await.expect("sweep");
    let orders = report.results.values().next().expect("one instance");
    let orders = orders
        .as_ref()
        .expect("a busy instance is swept, not skipped");
    assert_eq!(orders.swept.len(), 1, "{orders:?}");
    assert!(!common::role_exists(&cluster, "busy_expired"));

    // A stopped instance is still reported as unusable, naming its status.
    let report = manager("stopped").sweep().await.expect("sweep");
    let error = report.results.values().next().expect("one instance");
    let error = error
        .as_ref()
        .expect_err("a stopped instance takes no connections");
    assert!(error.to_string().contains("stopped"), "{error}");
}
