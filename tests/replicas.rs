//! Three connector replicas (three schedulers, each with its own manager and connections) over
//! two real clusters. One is killed in the middle of a sweep: it has revoked some users and
//! waits at the next. The others take over in the next round: every expired user is revoked
//! exactly once (one `success` audit record per instance and user, from whichever replica
//! dropped it), and no replica reports a failure or conflict.

mod common;

use common::{role_exists, wait_for};

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::audit::AppendFileSink;
use rds_pg_access::integration_model::{
    AccessDuration, AccessLevel, AccessRequest, Endpoint, Integration, Settings,
};
use rds_pg_access::pg_auth::{Clock, ManualClock, SecretString, StaticPassword};
use rds_pg_access::rds_discovery::StaticDirectory;
use rds_pg_access::{AccessManager, IntegrationCredentials};
use rds_pg_access_service::scheduler::{InstanceRun, Intervals, JobKind, Scheduler, ServiceState};

const USERS: [&str; 6] = ["r0", "r1", "r2", "r3", "r4", "r5"];

struct Replica {
    state: Arc<ServiceState>,
    shutdown: rds_pg_access_service::scheduler::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn replica(manager: AccessManager) -> Replica {
    let scheduler = Scheduler::builder()
        .integration(manager)
        .jobs([JobKind::Sweep])
        .intervals(Intervals::default().sweep(Duration::from_secs(1)))
        .build()
        .expect("scheduler");
    Replica {
        state: scheduler.state(),
        shutdown: scheduler.shutdown_token(),
        task: tokio::spawn(scheduler.run()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_killed_mid_sweep_revoke_every_user_exactly_once() {
    let a = TestCluster::start().expect("start cluster a");
    let b = TestCluster::start().expect("start cluster b");
    let password = a.connector().password.clone();
    b.sql(
        "postgres",
        &format!("ALTER ROLE apono_connector PASSWORD '{password}'"),
    )
    .expect("one connector password for both");
    for cluster in [&a, &b] {
        cluster
            .sql_as(
                cluster.master(),
                "appdb",
                "GRANT postgres TO apono_connector",
            )
            .expect("owner fix");
    }
    let settings = Settings::from_toml_str(
        "name = \"orders\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         [instance]\ntags = { team = \"orders\" }\n[secret]\nenv = \"UNUSED\"\n",
    )
    .expect("settings");
    let integration: Integration = settings.integrations()[0].clone();
    let directory = Arc::new(common::EveryInstance(
        StaticDirectory::new()
            .with_endpoint(
                "orders-a".parse().expect("id"),
                Endpoint::new("127.0.0.1".parse().expect("host"), a.port()).expect("endpoint"),
            )
            .with_endpoint(
                "orders-b".parse().expect("id"),
                Endpoint::new("127.0.0.1".parse().expect("host"), b.port()).expect("endpoint"),
            ),
    ));
    let credentials = Arc::new(IntegrationCredentials::shared(Arc::new(
        StaticPassword::new("apono_connector", SecretString::from(password)),
    )));
    let dir = tempfile::tempdir().expect("dir");
    let audit_path = dir.path().join("audit.jsonl");
    let manager = |clock: Option<Arc<dyn Clock>>| {
        let m = AccessManager::new(integration.clone(), directory.clone(), credentials.clone())
            .expect("manager")
            .with_audit(Arc::new(
                AppendFileSink::open(&audit_path).expect("audit file"),
            ));
        match clock {
            Some(clock) => m.with_clock(clock),
            None => m,
        }
    };

    // Six users on both instances whose hour ended an hour ago.
    let past: Arc<dyn Clock> = Arc::new(ManualClock::new(
        SystemTime::now() - Duration::from_secs(7200),
    ));
    let granter = manager(Some(past));
    for user in USERS {
        let request = AccessRequest::builder(
            user.parse().expect("user"),
            AccessLevel::ReadOnly,
            "1h".parse::<AccessDuration>().expect("duration"),
        )
        .resource(granter.resource_path("orders-a/appdb/sales").expect("path"))
        .resource(granter.resource_path("orders-b/appdb/sales").expect("path"))
        .build()
        .expect("request");
        let granted = granter.grant(&request).await.expect("grant");
        assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    }

    // Hold r2's revocation lock on a: the first replica revokes r0 and r1 there and waits.
    let (holder, connection) = tokio_postgres::connect(
        &a.conn_string(a.superuser(), "postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect to a as superuser");
    tokio::spawn(connection);
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtextextended('rdspg-revoke:r2', 0))",
            &[],
        )
        .await
        .expect("hold r2's revocation lock");
    let first = replica(manager(None));
    let waiting = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                   WHERE l.locktype = 'advisory' AND NOT l.granted \
                   AND a.application_name = 'rds-pg-access'";
    wait_for("the first replica to wait at r2 on a", 30, || {
        (a.sql("postgres", waiting).ok()?.trim() == "1").then_some(())
    });
    assert!(!role_exists(&a, "r0") && !role_exists(&a, "r1") && role_exists(&a, "r2"));
    // Its sweep of b is not held up: let it finish there, so that the kill lands at a known
    // point (waiting at r2 on a) rather than between a commit and its audit record.
    wait_for("the first replica to finish b", 30, || {
        let text = std::fs::read_to_string(&audit_path).ok()?;
        let on_b = text
            .lines()
            .filter(|l| {
                l.contains("\"action\":\"sweep\"")
                    && l.contains("\"orders-b\"")
                    && !l.contains("\"outcome\":\"pending\"")
            })
            .count();
        (on_b == USERS.len()).then_some(())
    });

    // Two more replicas join; then the first dies mid-sweep (its task and connections go).
    let others = [replica(manager(None)), replica(manager(None))];
    first.task.abort();
    assert!(first.task.await.is_err_and(|e| e.is_cancelled()));
    drop(first.state);
    holder
        .execute(
            "SELECT pg_advisory_unlock(hashtextextended('rdspg-revoke:r2', 0))",
            &[],
        )
        .await
        .expect("release the lock");

    wait_for("every user revoked on both instances", 30, || {
        USERS
            .iter()
            .all(|u| !role_exists(&a, u) && !role_exists(&b, u))
            .then_some(())
    });
    // One more round each, so that both have seen the finished state.
    let rounds: Vec<u64> = others.iter().map(|r| r.state.jobs()[0].runs).collect();
    wait_for("another round on both replicas", 30, || {
        others
            .iter()
            .zip(&rounds)
            .all(|(r, n)| {
                let job = &r.state.jobs()[0];
                job.runs > *n + 1 && !job.in_progress
            })
            .then_some(())
    });
    for replica in &others {
        replica.shutdown.cancel();
    }
    let mut statuses = Vec::new();
    for replica in others {
        replica.task.await.expect("replica stops cleanly");
        statuses.push(replica.state.jobs()[0].clone());
    }

    // Nothing reported as a conflict: no failed run, every instance done or skipped.
    for status in &statuses {
        assert_eq!(status.failures, 0, "{status:?}");
        assert!(status.runs >= 2, "{status:?}");
        for (instance, st) in &status.instances {
            assert!(
                matches!(
                    st.last_run,
                    Some(InstanceRun::Done { .. } | InstanceRun::Skipped)
                ),
                "{instance}: {st:?}"
            );
        }
    }

    // Exactly once: one success record per instance and user, and no failure record.
    let text = std::fs::read_to_string(&audit_path).expect("audit");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect();
    assert!(records.iter().all(|r| r["outcome"] != "failure"), "{text}");
    for instance in ["orders-a", "orders-b"] {
        for user in USERS {
            let dropped = records
                .iter()
                .filter(|r| {
                    r["action"] == "sweep"
                        && r["outcome"] == "success"
                        && r["instance"] == instance
                        && r["user"] == user
                })
                .count();
            assert_eq!(dropped, 1, "{instance}/{user}: {text}");
        }
    }
    // The killed replica's intent (r2 on a) was resolved by another one: every intent has an
    // outcome (issue 15).
    for intent in records.iter().filter(|r| r["outcome"] == "pending") {
        assert!(
            records
                .iter()
                .any(|r| r["id"] == intent["id"] && r["outcome"] != "pending"),
            "intent without outcome: {intent}"
        );
    }
    assert!(
        records
            .iter()
            .any(|r| r["recovered"] == true && r["user"] == "r2" && r["outcome"] == "interrupted"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_skips_an_instance_while_another_replica_holds_its_lock() {
    let cluster = TestCluster::start().expect("start a cluster");
    let settings = Settings::from_toml_str(&format!(
        "name = \"local\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
         ssl_mode = \"disable\"\n[secret]\nenv = \"UNUSED\"\n[endpoint]\n\
         host = \"127.0.0.1\"\nport = {}\n",
        cluster.port()
    ))
    .expect("settings");
    let credentials = IntegrationCredentials::shared(Arc::new(StaticPassword::new(
        "apono_connector",
        SecretString::from(cluster.connector().password.clone()),
    )));
    let manager = AccessManager::new(
        settings.integrations()[0].clone(),
        Arc::new(StaticDirectory::new()),
        Arc::new(credentials),
    )
    .expect("manager");
    // Another replica's sync of this integration on this server.
    let (holder, connection) = tokio_postgres::connect(
        &cluster.conn_string(cluster.superuser(), "postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect as superuser");
    tokio::spawn(connection);
    let key = "SELECT pg_advisory_lock(hashtextextended('rdspg-job:sync:local', 0))";
    holder.execute(key, &[]).await.expect("hold the sync lock");

    let scheduler = Scheduler::builder()
        .integration(manager)
        .jobs([JobKind::Sync])
        .intervals(Intervals::default().sync(Duration::from_secs(1)))
        .build()
        .expect("scheduler");
    let state = scheduler.state();
    let shutdown = scheduler.shutdown_token();
    let task = tokio::spawn(scheduler.run());
    let last_run = |state: &ServiceState| {
        let job = state.jobs().into_iter().next()?;
        (job.runs >= 1 && !job.in_progress)
            .then(|| job.instances.get("local").and_then(|i| i.last_run.clone()))
            .flatten()
    };
    let skipped = wait_for("a sync round", 30, || last_run(&state));
    assert_eq!(skipped, InstanceRun::Skipped);
    assert!(state.health(SystemTime::now()).is_healthy());

    holder
        .execute(&key.replace("pg_advisory_lock", "pg_advisory_unlock"), &[])
        .await
        .expect("release");
    let done = wait_for("a sync that ran", 30, || {
        last_run(&state).filter(|r| matches!(r, InstanceRun::Done { .. }))
    });
    let InstanceRun::Done { counts } = done else {
        unreachable!("filtered above")
    };
    // appdb, its schemas and tables, and the other databases: the default resource types.
    assert!(counts.items.is_some_and(|n| n > 3), "{counts:?}");
    shutdown.cancel();
    task.await.expect("stops");
    assert_eq!(state.jobs()[0].failures, 0);
}
