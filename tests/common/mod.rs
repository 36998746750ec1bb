//! Helpers shared by the end-to-end tests (each test file uses the ones it needs).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pg_testkit::TestCluster;

/// The `rdspg` example built by `cargo test`, next to the running test executable.
pub(crate) fn rdspg_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/examples/rdspg
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join("rdspg");
    assert!(
        path.exists(),
        "{} does not exist: run `cargo test --workspace` (which builds the examples) or \
         `cargo build --example rdspg` first",
        path.display()
    );
    path
}

/// Polls `check` every 50 ms until it gives a value; fails the test after `secs` seconds.
pub(crate) fn wait_for<T>(what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `role` exists on `cluster` (`role` is a test constant, not input).
pub(crate) fn role_exists(cluster: &TestCluster, role: &str) -> bool {
    cluster
        .sql(
            "postgres",
            &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"),
        )
        .expect("query roles")
        .trim()
        == "1"
}

/// A free loopback port (bound, then released for the server to take).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` over plain HTTP/1.1: (status, body), or `None` while nothing answers.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// The connector's credentials on a test cluster: the test kit's connector (`apono_connector`)
/// with `password`.
pub(crate) fn connector_credentials(password: &str) -> rds_pg_access::IntegrationCredentials {
    rds_pg_access::IntegrationCredentials::shared(std::sync::Arc::new(
        rds_pg_access::pg_auth::StaticPassword::new(
            "apono_connector",
            rds_pg_access::pg_auth::SecretString::from(password.to_owned()),
        ),
    ))
}

/// An integration `name` over `cluster`'s fixed endpoint (password auth, no TLS), with `extra`
/// top-level TOML (e.g. `database = "appdb"`).
pub(crate) fn fixed_endpoint_integration(
    cluster: &TestCluster,
    name: &str,
    extra: &str,
) -> rds_pg_access::integration_model::Integration {
    let text = format!(
        "name = \"{name}\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         {extra}\n[secret]\nenv = \"UNUSED\"\n[endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
        cluster.port()
    );
    rds_pg_access::integration_model::Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone()
}

/// The connector's manager for `integration` on `cluster`: no discovery, the cluster's
/// connector password.
pub(crate) fn cluster_manager(
    cluster: &TestCluster,
    integration: rds_pg_access::integration_model::Integration,
) -> rds_pg_access::AccessManager {
    rds_pg_access::AccessManager::new(
        integration,
        std::sync::Arc::new(rds_pg_access::rds_discovery::StaticDirectory::new()),
        std::sync::Arc::new(connector_credentials(&cluster.connector().password)),
    )
    .expect("manager")
}

/// A PostgreSQL `version` cluster with the owner fix `rdspg check` prints for schema
/// `inventory` (owned by app_owner), granted by the superuser.
pub(crate) fn cluster_with_owner_fix(version: u32) -> TestCluster {
    let cluster = TestCluster::builder()
        .version(version)
        .start()
        .unwrap_or_else(|e| panic!("PostgreSQL {version} is required: {e}"));
    cluster
        .sql("appdb", "GRANT app_owner TO apono_connector")
        .expect("owner fix");
    cluster
}

/// A two-worker runtime, as the tests that drive the library run it.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A directory whose tag selector answers with every instance it knows (a fleet of test
/// clusters).
#[derive(Debug)]
pub(crate) struct EveryInstance(pub(crate) rds_pg_access::rds_discovery::StaticDirectory);

#[async_trait::async_trait]
impl rds_pg_access::rds_discovery::InstanceDirectory for EveryInstance {
    async fn instance(
        &self,
        id: &rds_pg_access::integration_model::InstanceId,
    ) -> Result<
        rds_pg_access::rds_discovery::DbInstance,
        rds_pg_access::rds_discovery::DiscoveryError,
    > {
        self.0.instance(id).await
    }

    async fn instances_by_tags(
        &self,
        _filters: &rds_pg_access::integration_model::TagFilters,
    ) -> Result<
        Vec<rds_pg_access::rds_discovery::DbInstance>,
        rds_pg_access::rds_discovery::DiscoveryError,
    > {
        let mut out = Vec::new();
        for name in self.0.names() {
            out.push(self.0.instance(name).await?);
        }
        Ok(out)
    }
}

/// A manager on `cluster` (home database appdb, integration `name`) whose clock is `clock`,
/// with `extra` top-level settings (e.g. `user_cleanup_days = 7`).
pub(crate) fn clocked_manager(
    cluster: &TestCluster,
    name: &str,
    clock: &rds_pg_access::pg_auth::ManualClock,
    extra: &str,
) -> rds_pg_access::AccessManager {
    let integration =
        fixed_endpoint_integration(cluster, name, &format!("database = \"appdb\"\n{extra}"));
    let clock: std::sync::Arc<dyn rds_pg_access::pg_auth::Clock> =
        std::sync::Arc::new(clock.clone());
    cluster_manager(cluster, integration).with_clock(clock)
}

/// A request of `user` under request id `id` for `level` lasting `duration` on `resources`
/// (paths as `rdspg --resource` takes them).
pub(crate) fn access_request(
    manager: &rds_pg_access::AccessManager,
    user: &str,
    id: &str,
    level: rds_pg_access::integration_model::AccessLevel,
    duration: &str,
    resources: &[&str],
) -> rds_pg_access::integration_model::AccessRequest {
    let mut builder = rds_pg_access::integration_model::AccessRequest::builder(
        user.parse().expect("user"),
        level,
        duration
            .parse::<rds_pg_access::integration_model::AccessDuration>()
            .expect("duration"),
    )
    .request_id(id.parse().expect("request id"));
    for r in resources {
        builder = builder.resource(manager.resource_path(r).expect("resource"));
    }
    builder.build().expect("request")
}

/// Login credentials of a granted user.
pub(crate) fn as_user(user: &str, password: &str) -> pg_testkit::Credentials {
    pg_testkit::Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    }
}

/// The password a grant handed out (fails the test when there is none).
pub(crate) fn password_of(outcome: &rds_pg_access::GrantOutcome) -> String {
    use rds_pg_access::pg_auth::ExposeSecret;
    outcome
        .password
        .as_ref()
        .expect("a password is handed out")
        .expose_secret()
        .to_owned()
}
