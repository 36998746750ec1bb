//! Applying a grant plan: pg-grants' `Session::apply` (the plan sent in ONE round trip inside a
//! transaction) against the usual way of running the same SQL, one statement per round trip, on a
//! real PostgreSQL (pg-testkit, RDS emulation).
//!
//! The plan is read-only on a schema of 50 tables: `GRANT USAGE ON SCHEMA` plus 50
//! `GRANT SELECT ON TABLE`, 51 statements. Each measured iteration starts from a role without those
//! privileges (one untimed `REVOKE` batch restores that state), then runs one of:
//!
//! * `session_apply`: `Session::apply(&role, &grants)`, everything the library does: check the
//!   role's marks, inspect the catalogs, send `BEGIN` + lock + the 51 statements in one batch,
//!   inspect again inside the transaction to prove the catalogs match, `COMMIT`;
//! * `one_batch`: the same 51 statements as one `BEGIN; …; COMMIT;` batch, the single round trip
//!   at the core of `Session::apply`, without its checks (a floor);
//! * `peer_batch_execute_each`: `BEGIN`, then each statement with its own `batch_execute` (simple
//!   query protocol, one round trip each), `COMMIT`: 53 round trips;
//! * `peer_execute_each`: `BEGIN`, then each statement with `client.execute(sql, &[])` (extended
//!   protocol: tokio-postgres prepares, then executes, two round trips each), `COMMIT`.
//! * `session_plan` (reference, grants nothing): `Session::plan`, the catalog inspection and diff
//!   that `Session::apply` runs before and again inside its transaction;
//! * `inspect_prepared` (reference, grants nothing): the same inspection query
//!   (`pg_grants::plan::inspect_sql()`) prepared once and only executed, to split its cost into
//!   planning (paid on every call today) and execution.
//!
//! Every variant runs over two links: `loopback` (straight to the server on 127.0.0.1, a
//! round trip costs tens of microseconds) and `rtt_1ms` (through an in-process TCP relay that
//! delays each direction by 0.5 ms, the order of a round trip to RDS inside one AWS region).
//!
//! Run: `cargo bench --bench apply_round_trips` (needs PostgreSQL 15 installed, see
//! `pg_testkit`'s docs; the bench fails with the install command when it is missing).

mod common;
#[path = "common/relay.rs"]
mod relay;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use relay::DelayRelay;

use criterion::SamplingMode;
use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{
    AccessLevel, Grant, ManagedRecord, NoticeLog, Scope, Session, Settings, Statement,
    drive_connection,
};
use pg_testkit::{TestCluster, rds};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

const SCHEMA: &str = "bench";
const TABLES: usize = 50;
/// One-way delay of the `rtt_1ms` link.
const ONE_WAY_DELAY: Duration = Duration::from_micros(500);

#[derive(Debug, Clone, Copy)]
enum Variant {
    SessionApply,
    OneBatch,
    PeerBatchExecuteEach,
    PeerExecuteEach,
    SessionPlan,
    InspectPrepared,
}

impl Variant {
    const ALL: [Variant; 6] = [
        Variant::SessionApply,
        Variant::OneBatch,
        Variant::PeerBatchExecuteEach,
        Variant::PeerExecuteEach,
        Variant::SessionPlan,
        Variant::InspectPrepared,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::SessionApply => "session_apply",
            Variant::OneBatch => "one_batch",
            Variant::PeerBatchExecuteEach => "peer_batch_execute_each",
            Variant::PeerExecuteEach => "peer_execute_each",
            Variant::SessionPlan => "session_plan",
            Variant::InspectPrepared => "inspect_prepared",
        }
    }

    /// Whether the variant grants the plan (all but the two references).
    fn grants(self) -> bool {
        !matches!(self, Variant::SessionPlan | Variant::InspectPrepared)
    }
}

/// One link to the server: a connection as the connector, a managed role of its own, the plan's
/// SQL and the batch that takes the plan back.
struct Link<'c> {
    client: &'c Client,
    session: Session<'c>,
    role: Ident,
    grants: Vec<Grant>,
    statements: Vec<String>,
    one_batch: String,
    reset: String,
    /// `pg_grants::plan::inspect_sql()`, prepared once.
    inspect: tokio_postgres::Statement,
}

impl Link<'_> {
    async fn run(&self, variant: Variant) {
        match variant {
            Variant::SessionApply => {
                let report = self
                    .session
                    .apply(&self.role, &self.grants)
                    .await
                    .expect("Session::apply");
                assert_eq!(report.plan.statements().len(), self.statements.len());
            }
            Variant::OneBatch => self
                .client
                .batch_execute(&self.one_batch)
                .await
                .expect("the one-batch transaction"),
            Variant::PeerBatchExecuteEach => {
                self.client.batch_execute("BEGIN").await.expect("BEGIN");
                for sql in &self.statements {
                    self.client.batch_execute(sql).await.expect("a statement");
                }
                self.client.batch_execute("COMMIT").await.expect("COMMIT");
            }
            Variant::PeerExecuteEach => {
                self.client.batch_execute("BEGIN").await.expect("BEGIN");
                for sql in &self.statements {
                    self.client
                        .execute(sql.as_str(), &[])
                        .await
                        .expect("a statement");
                }
                self.client.batch_execute("COMMIT").await.expect("COMMIT");
            }
            Variant::SessionPlan => {
                let plan = self
                    .session
                    .plan(&self.role, &self.grants)
                    .await
                    .expect("Session::plan");
                assert_eq!(plan.statements().len(), self.statements.len());
            }
            Variant::InspectPrepared => {
                let no_tables: Vec<String> = Vec::new();
                let rows = self
                    .client
                    .query(
                        &self.inspect,
                        &[
                            &self.role.as_str(),
                            &false,
                            &vec![SCHEMA],
                            &no_tables,
                            &no_tables,
                            &pg_grants::marker::DEFAULT_GRANTOR_ROLE,
                        ],
                    )
                    .await
                    .expect("the prepared inspection query");
                assert!(rows.len() > TABLES, "the schema and its tables");
            }
        }
    }

    async fn reset(&self) {
        self.client
            .batch_execute(&self.reset)
            .await
            .expect("revoking the plan's privileges");
    }

    async fn pending(&self) -> usize {
        self.session
            .plan(&self.role, &self.grants)
            .await
            .expect("planning")
            .statements()
            .len()
    }
}

fn transaction(statements: &[Statement]) -> String {
    let body: Vec<&str> = statements.iter().map(Statement::sql).collect();
    format!("BEGIN;\n{}\nCOMMIT;", body.join("\n"))
}

async fn connect(config: &tokio_postgres::Config) -> (Client, NoticeLog) {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .expect("connecting as the connector");
    let (notices, _driver) = drive_connection(connection);
    (client, notices)
}

async fn link<'c>(client: &'c Client, notices: NoticeLog, role_name: &str) -> Link<'c> {
    let session = Session::new(client, Settings::default())
        .await
        .expect("opening a pg-grants session")
        .with_notices(notices);
    let role = Ident::new(role_name).expect("a valid role name");
    let record = ManagedRecord::new(
        format!("bench-{role_name}"),
        AccessLevel::ReadOnly,
        time::OffsetDateTime::now_utc() + time::Duration::days(1),
        session.connector().as_str(),
    );
    session
        .create_role(&NewRole::new(
            role.clone(),
            LoginAuth::Password(Password::generate()),
            record,
        ))
        .await
        .expect("creating the managed role");
    let grants = vec![Grant::new(
        Scope::Schema(Ident::new(SCHEMA).expect("a valid schema name")),
        AccessLevel::ReadOnly,
    )];
    let plan = session.plan(&role, &grants).await.expect("planning");
    let statements = plan.statements();
    assert_eq!(
        statements.len(),
        TABLES + 1,
        "read-only on the schema: USAGE on it and SELECT on each table:\n{plan}"
    );
    // The plan's reverse, from the library itself: apply once, plan the empty grant list.
    session.apply(&role, &grants).await.expect("applying once");
    let revoke = session.plan(&role, &[]).await.expect("planning the revoke");
    assert_eq!(revoke.statements().len(), TABLES + 1);
    let link = Link {
        client,
        session,
        role,
        grants,
        one_batch: transaction(&statements),
        statements: statements.iter().map(|s| s.sql().to_owned()).collect(),
        reset: transaction(&revoke.statements()),
        inspect: client
            .prepare(&pg_grants::plan::inspect_sql())
            .await
            .expect("preparing the inspection query"),
    };
    link.reset().await;
    assert_eq!(
        link.pending().await,
        TABLES + 1,
        "the reset revokes everything"
    );
    // Every variant reaches the same state: nothing left to grant.
    for variant in Variant::ALL.into_iter().filter(|v| v.grants()) {
        link.run(variant).await;
        assert_eq!(
            link.pending().await,
            0,
            "{} grants the whole plan",
            variant.name()
        );
        link.reset().await;
    }
    link
}

/// Removes the dead catalog rows that every grant and revoke leaves in `pg_class` (thousands per
/// sample), so that no variant pays for the churn of the ones measured before it.
fn vacuum_catalog(cluster: &TestCluster) {
    cluster
        .sql(
            rds::APP_DB,
            "VACUUM pg_catalog.pg_class, pg_catalog.pg_namespace",
        )
        .expect("vacuuming the catalog as the superuser");
}

/// One timed run of `variant` from the reset state.
fn timed_run(rt: &Runtime, link: &Link<'_>, variant: Variant) -> Duration {
    rt.block_on(link.reset());
    let start = Instant::now();
    rt.block_on(link.run(variant));
    start.elapsed()
}

fn bench_link(
    c: &mut criterion::Criterion,
    rt: &Runtime,
    cluster: &TestCluster,
    name: &str,
    link: &Link<'_>,
) {
    let mut group = c.benchmark_group(format!("apply_{name}"));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1600));
    for variant in Variant::ALL {
        group.bench_function(variant.name(), |b| {
            b.iter_custom(|iters| {
                vacuum_catalog(cluster);
                (0..iters).map(|_| timed_run(rt, link, variant)).sum()
            })
        });
    }
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let cluster = TestCluster::builder()
        .rds_emulation(true)
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL for the bench: {e}"));
    // The connector owns the schema and its tables, so the plan needs no owner membership.
    cluster
        .sql(
            rds::APP_DB,
            &format!("CREATE SCHEMA {SCHEMA} AUTHORIZATION {};", rds::CONNECTOR),
        )
        .expect("creating the bench schema");
    let tables: String = (0..TABLES)
        .map(|i| format!("CREATE TABLE {SCHEMA}.t{i:02} (id int PRIMARY KEY, v text);\n"))
        .collect();
    cluster
        .sql_as(cluster.connector(), rds::APP_DB, &tables)
        .expect("creating the bench tables as the connector");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let upstream: SocketAddr = format!("{}:{}", cluster.host(), cluster.port())
        .parse()
        .expect("the cluster listens on an IP address");
    let relay = DelayRelay::start(upstream, ONE_WAY_DELAY);

    let creds = cluster.connector();
    let config_for = |port: u16| {
        let mut config = tokio_postgres::Config::new();
        config
            .host(cluster.host())
            .port(port)
            .user(&creds.user)
            .password(&creds.password)
            .dbname(rds::APP_DB);
        config
    };
    let config = config_for(cluster.port());
    let delayed = config_for(relay.addr.port());

    let (direct_client, direct_notices) = rt.block_on(connect(&config));
    let (delayed_client, delayed_notices) = rt.block_on(connect(&delayed));
    let direct = rt.block_on(link(&direct_client, direct_notices, "bench_loopback"));
    let slow = rt.block_on(link(&delayed_client, delayed_notices, "bench_rtt_1ms"));

    // Requests each variant sends (client-to-server flushes seen by the relay; each waits for
    // its answer, so this is the number of round trips).
    println!("client-to-server flushes per operation (= round trips), counted by the relay:");
    for variant in Variant::ALL {
        rt.block_on(slow.reset());
        let before = relay.client_chunks();
        rt.block_on(slow.run(variant));
        println!(
            "  {:<24} {}",
            variant.name(),
            relay.client_chunks() - before
        );
    }

    let mut c = common::criterion();
    bench_link(&mut c, &rt, &cluster, "loopback", &direct);
    bench_link(&mut c, &rt, &cluster, "rtt_1ms", &slow);
    c.final_summary();

    if common::measuring() {
        println!("\n== apply_round_trips: interleaved pairs (median of per-round ratios) ==");
        for (name, link, rounds) in [("loopback", &direct, 41), ("rtt_1ms", &slow, 11)] {
            vacuum_catalog(&cluster);
            let rt = &rt;
            let run = |variant| move || timed_run(rt, link, variant);
            common::print_paired(
                &format!("{name}: peer_batch_execute_each / session_apply"),
                rounds,
                run(Variant::PeerBatchExecuteEach),
                run(Variant::SessionApply),
            );
            common::print_paired(
                &format!("{name}: peer_execute_each / session_apply"),
                rounds,
                run(Variant::PeerExecuteEach),
                run(Variant::SessionApply),
            );
            common::print_paired(
                &format!("{name}: session_apply / one_batch"),
                rounds,
                run(Variant::SessionApply),
                run(Variant::OneBatch),
            );
        }
    }

    let mut ratios = Vec::new();
    for link in ["apply_loopback", "apply_rtt_1ms"] {
        let n = |v: &str| format!("{link}/{v}");
        ratios.push(common::ratio(
            n("peer_batch_execute_each"),
            n("session_apply"),
            "one statement per round trip (simple protocol) vs Session::apply: above 1, apply is faster",
        ));
        ratios.push(common::ratio(
            n("peer_execute_each"),
            n("session_apply"),
            "client.execute per statement (extended protocol) vs Session::apply",
        ));
        ratios.push(common::ratio(
            n("session_apply"),
            n("one_batch"),
            "Session::apply vs its bare one-round-trip core: the cost of its checks",
        ));
        ratios.push(common::ratio(
            n("session_plan"),
            n("one_batch"),
            "one Session::plan (catalog inspection, which apply runs twice) vs the one-batch apply",
        ));
        ratios.push(common::ratio(
            n("session_plan"),
            n("inspect_prepared"),
            "Session::plan (prepares its query each call) vs the same query prepared once",
        ));
        ratios.push(common::ratio(
            n("peer_batch_execute_each"),
            n("one_batch"),
            "one statement per round trip vs one batch: the round trips alone",
        ));
    }
    common::print_ratios("apply_round_trips", started, &ratios);
    // Links, then clients, then the cluster (declared first) are dropped in reverse order.
}
