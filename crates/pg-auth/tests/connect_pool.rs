//! connect / ping / pool against real PostgreSQL (pg-testkit), including password rotation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pg_auth::{
    AuthError, ConnectOptions, Credential, CredentialSource, ManualClock, Pool, PoolOptions,
    RecycleCheck, RootCertificates, SecretString, SslMode, StaticPassword,
};
use pg_testkit::{TLS_VERSIONS, TestCluster};

fn tls_cluster() -> TestCluster {
    TestCluster::builder()
        .version(TLS_VERSIONS[0])
        .ssl(true)
        .start()
        .unwrap_or_else(|e| panic!("PostgreSQL with TLS is required: {e}"))
}

fn options(cluster: &TestCluster, mode: SslMode) -> ConnectOptions {
    let mut b = ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .dbname("postgres")
        .ssl_mode(mode)
        .application_name("pg-auth-tests");
    if let Some(ca) = cluster.ca_cert_path() {
        b = b.root_certificates(RootCertificates::from_pem_file(ca).expect("cluster CA parses"));
    }
    b.build().expect("valid options")
}

fn connector_source(cluster: &TestCluster) -> StaticPassword {
    let c = cluster.connector();
    StaticPassword::new(&c.user, SecretString::from(c.password.clone()))
}

/// A source whose password the test changes, counting how often it is asked.
#[derive(Debug)]
struct RotatingSource {
    user: String,
    password: Mutex<String>,
    calls: AtomicUsize,
}

impl RotatingSource {
    fn set(&self, password: &str) {
        *self.password.lock().expect("lock") = password.to_owned();
    }
}

#[async_trait]
impl CredentialSource for RotatingSource {
    async fn credential(&self) -> Result<Credential, AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let password = self.password.lock().expect("lock").clone();
        Ok(Credential::new(&self.user, password.into()))
    }
}

#[tokio::test]
async fn ping_reports_tls_version_and_user() {
    let cluster = tls_cluster();
    let source = connector_source(&cluster);
    let report = pg_auth::ping(&options(&cluster, SslMode::VerifyFull), &source)
        .await
        .unwrap();
    assert!(report.tls);
    assert!(
        report
            .server_version
            .starts_with(&TLS_VERSIONS[0].to_string()),
        "{}",
        report.server_version
    );
    assert_eq!(report.user, cluster.connector().user);
    let plain = pg_auth::ping(&options(&cluster, SslMode::Disable), &source)
        .await
        .unwrap();
    assert!(!plain.tls);
    let conn = pg_auth::connect(&options(&cluster, SslMode::Require), &source)
        .await
        .unwrap();
    assert!(conn.is_tls());
    let app: String = conn
        .client()
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(app, "pg-auth-tests");
}

#[tokio::test]
async fn wrong_password_is_a_typed_authentication_failure() {
    let cluster = tls_cluster();
    let source = StaticPassword::new(&cluster.connector().user, "not-the-password".into());
    let err = pg_auth::connect(&options(&cluster, SslMode::Require), &source)
        .await
        .unwrap_err();
    assert!(err.is_authentication_failure(), "{err:?}");
    assert!(
        err.to_string()
            .contains("password authentication failed for user"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("not-the-password"));
}

#[tokio::test]
async fn server_without_tls_fails_require_like_libpq() {
    let cluster = TestCluster::builder().ssl(false).start().unwrap();
    let source = connector_source(&cluster);
    let options = ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .ssl_mode(SslMode::Require)
        .build()
        .unwrap();
    let err = pg_auth::connect(&options, &source).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "server does not support SSL, but SSL was required"
    );
    assert!(matches!(err, AuthError::TlsNotSupported));
}

#[tokio::test]
async fn every_new_pool_connection_asks_the_source() {
    let cluster = tls_cluster();
    let source = Arc::new(RotatingSource {
        user: cluster.connector().user.clone(),
        password: Mutex::new(cluster.connector().password.clone()),
        calls: AtomicUsize::new(0),
    });
    let pool = Pool::new(
        options(&cluster, SslMode::VerifyFull),
        source.clone(),
        PoolOptions::builder().max_size(3).build().unwrap(),
    )
    .unwrap();
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let c = pool.get().await.unwrap();
    assert_eq!(source.calls.load(Ordering::SeqCst), 3);
    assert!(a.is_tls() && b.is_tls() && c.is_tls());
    drop((a, b, c));
    // Reuse does not ask again.
    for _ in 0..5 {
        let conn = pool.get().await.unwrap();
        conn.simple_query("SELECT 1").await.unwrap();
    }
    assert_eq!(source.calls.load(Ordering::SeqCst), 3);
    assert_eq!(pool.status().size, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_survives_password_rotation() {
    let cluster = tls_cluster();
    let user = cluster.connector().user.clone();
    let old = cluster.connector().password.clone();
    let new = "rotated-Pa55word-2";
    let source = Arc::new(RotatingSource {
        user: user.clone(),
        password: Mutex::new(old.clone()),
        calls: AtomicUsize::new(0),
    });
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000));
    let pool = Pool::with_clock(
        options(&cluster, SslMode::VerifyFull),
        source.clone(),
        PoolOptions::builder()
            .max_size(4)
            .max_lifetime(Some(Duration::from_secs(600)))
            .recycle_check(RecycleCheck::Query)
            .build()
            .unwrap(),
        Arc::new(clock.clone()),
    )
    .unwrap();

    // A connection held across the rotation.
    let held = pool.get().await.unwrap();
    let held_pid: i32 = held
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let run_requests = |n: usize| {
        let pool = pool.clone();
        async move {
            let mut failures = Vec::new();
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        let conn = pool.get().await?;
                        conn.simple_query("SELECT 1")
                            .await
                            .map_err(|source| AuthError::Query {
                                context: "request",
                                source,
                            })?;
                        Ok::<usize, AuthError>(i)
                    })
                })
                .collect();
            for t in tasks {
                if let Err(e) = t.await.unwrap() {
                    failures.push(e.to_string());
                }
            }
            failures
        }
    };
    assert!(run_requests(20).await.is_empty());
    let calls_before = source.calls.load(Ordering::SeqCst);

    // Background load during the rotation; failures count only for requests started after it settled.
    let settled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader = {
        let (pool, settled, stop) = (pool.clone(), settled.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut done, mut late_failures) = (0usize, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                let after_settle = settled.load(Ordering::SeqCst);
                let result = async {
                    let conn = pool.get().await?;
                    conn.simple_query("SELECT 1")
                        .await
                        .map_err(|source| AuthError::Query {
                            context: "load",
                            source,
                        })
                }
                .await;
                done += 1;
                if let (Err(e), true) = (result, after_settle) {
                    late_failures.push(e.to_string());
                }
                tokio::task::yield_now().await;
            }
            (done, late_failures)
        })
    };

    // Rotate: server side, then the source.
    cluster
        .sql("postgres", &format!("ALTER ROLE {user} PASSWORD '{new}'"))
        .unwrap();
    source.set(new);
    // Connections opened before the rotation age out at their next recycle.
    clock.advance(Duration::from_secs(601));
    settled.store(true, Ordering::SeqCst);

    let failures = run_requests(40).await;
    assert!(
        failures.is_empty(),
        "requests failed after rotation: {failures:?}"
    );
    stop.store(true, Ordering::SeqCst);
    let (done, late_failures) = loader.await.unwrap();
    assert!(done > 0);
    assert!(
        late_failures.is_empty(),
        "background requests failed after rotation: {late_failures:?}"
    );
    assert!(
        source.calls.load(Ordering::SeqCst) > calls_before,
        "new physical connections were opened with the new password"
    );
    // The old password is really gone.
    let stale = StaticPassword::new(&user, old.into());
    assert!(
        pg_auth::connect(&options(&cluster, SslMode::VerifyFull), &stale)
            .await
            .unwrap_err()
            .is_authentication_failure()
    );
    // The held connection is unaffected: same backend, still answering.
    let pid_now: i32 = held
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pid_now, held_pid);
}

#[tokio::test]
async fn pool_rejects_bad_options() {
    assert!(PoolOptions::builder().max_size(0).build().is_err());
    assert!(
        PoolOptions::builder()
            .max_lifetime(Some(Duration::ZERO))
            .build()
            .is_err()
    );
    let err = ConnectOptions::builder("db.example.com")
        .ssl_mode(SslMode::VerifyCa)
        .build()
        .unwrap_err();
    assert!(matches!(err, AuthError::RootCertMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("verify-ca"), "{err}");
    assert!(ConnectOptions::builder("").build().is_err());
    assert!(RootCertificates::from_pem(b"not a pem").is_err());
}
