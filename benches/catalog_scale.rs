//! Issue 19: what a grant, its revoke and a plan cost as the database grows with objects that
//! have nothing to do with the grant.
//!
//! For each size N (default 1,000 and 20,000 tables; `RDSPG_BENCH_SIZES=1000,20000,200000` for
//! the long run), a fresh PostgreSQL 15 (pg-testkit, RDS emulation) gets N unrelated tables in
//! 200 schemas, plus schema `target` with 100 tables owned by the connector. A managed role
//! then gets read-only on `target`, measured as:
//!
//! * `grant/session_apply`: `Session::apply(&role, [read-only on schema target])`, everything
//!   the library does (marks, inspection, one batch, the check inside the transaction);
//! * `grant/floor`: the minimal SQL for the same effect on the same link, one batch:
//!   `BEGIN; GRANT USAGE ON SCHEMA target TO r; GRANT SELECT ON ALL TABLES IN SCHEMA target
//!   TO r; COMMIT;`;
//! * `revoke/session_apply` and `revoke/floor`: the same back to nothing
//!   (`Session::apply(&role, [])` against the two `REVOKE`s);
//! * `plan/session_plan` (reference): `Session::plan`, the inspection and diff alone.
//!
//! Each timed iteration starts from the other state (set up untimed). After the run the ratio
//! report prints, per size, `session_apply / floor` (goal: at most 2) and, per operation,
//! `size / 1,000` (goal: at most 1.5).
//!
//! Run: `cargo bench --bench catalog_scale` (~3 min; the 200,000 run adds ~10 min for building
//! the catalog).

#[allow(dead_code)] // the paired-sample helpers are for the other benches
mod common;

use std::time::{Duration, Instant, SystemTime};

use criterion::SamplingMode;
use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{AccessLevel, Grant, ManagedRecord, Scope, Session, Settings, drive_connection};
use pg_testkit::{TestCluster, rds};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

const TARGET: &str = "target";
const TARGET_TABLES: usize = 100;
const OTHER_SCHEMAS: usize = 200;
const ROLE: &str = "scale_user";

fn sizes() -> Vec<usize> {
    std::env::var("RDSPG_BENCH_SIZES")
        .ok()
        .map(|text| {
            text.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("RDSPG_BENCH_SIZES: comma-separated counts")
                })
                .collect()
        })
        .unwrap_or_else(|| vec![1_000, 20_000])
}

/// A cluster with `size` unrelated tables in 200 schemas and the target schema.
fn populated(size: usize) -> TestCluster {
    let cluster = TestCluster::builder()
        .rds_emulation(true)
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL for the bench: {e}"));
    let per_schema = size.div_ceil(OTHER_SCHEMAS);
    let built = Instant::now();
    for s in 0..OTHER_SCHEMAS {
        let first = s * per_schema;
        let last = (first + per_schema).min(size);
        if first >= last {
            break;
        }
        // One transaction per schema: its locks stay well under the lock table's size.
        cluster
            .sql(
                rds::APP_DB,
                &format!(
                    "CREATE SCHEMA u{s:03} AUTHORIZATION {owner};
                     DO $$ BEGIN FOR i IN {first}..{end} LOOP
                       EXECUTE pg_catalog.format('CREATE TABLE u{s:03}.t%s (id int PRIMARY KEY, v text)', i);
                     END LOOP; END $$;",
                    owner = rds::APP_OWNER,
                    end = last - 1
                ),
            )
            .expect("creating unrelated tables");
    }
    cluster
        .sql(
            rds::APP_DB,
            &format!("CREATE SCHEMA {TARGET} AUTHORIZATION {};", rds::CONNECTOR),
        )
        .expect("creating the target schema");
    let tables: String = (0..TARGET_TABLES)
        .map(|i| format!("CREATE TABLE {TARGET}.t{i:03} (id int PRIMARY KEY, v text);\n"))
        .collect();
    cluster
        .sql_as(cluster.connector(), rds::APP_DB, &tables)
        .expect("creating the target tables as the connector");
    cluster
        .sql(rds::APP_DB, "VACUUM ANALYZE pg_catalog.pg_class, pg_catalog.pg_namespace, pg_catalog.pg_depend, pg_catalog.pg_shdepend")
        .expect("vacuum");
    eprintln!(
        "catalog_scale: {size} unrelated tables built in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    cluster
}

async fn connect(cluster: &TestCluster) -> Client {
    let creds = cluster.connector();
    let mut config = tokio_postgres::Config::new();
    config
        .host(cluster.host())
        .port(cluster.port())
        .user(&creds.user)
        .password(&creds.password)
        .dbname(rds::APP_DB);
    let (client, connection) = config.connect(NoTls).await.expect("connecting");
    let (_notices, _driver) = drive_connection(connection);
    client
}

#[derive(Clone, Copy)]
enum Op {
    Grant,
    Revoke,
    Plan,
}

#[derive(Clone, Copy)]
enum Side {
    Library,
    Floor,
}

struct Bench<'c> {
    client: &'c Client,
    session: Session<'c>,
    role: Ident,
    grants: Vec<Grant>,
}

impl Bench<'_> {
    fn floor_grant() -> String {
        format!(
            "BEGIN; GRANT USAGE ON SCHEMA {TARGET} TO {ROLE}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA {TARGET} TO {ROLE}; COMMIT;"
        )
    }

    fn floor_revoke() -> String {
        format!(
            "BEGIN; REVOKE SELECT ON ALL TABLES IN SCHEMA {TARGET} FROM {ROLE}; \
             REVOKE USAGE ON SCHEMA {TARGET} FROM {ROLE}; COMMIT;"
        )
    }

    async fn set(&self, granted: bool) {
        let sql = if granted {
            Self::floor_grant()
        } else {
            Self::floor_revoke()
        };
        self.client.batch_execute(&sql).await.expect("setting up");
    }

    async fn run(&self, op: Op, side: Side) {
        match (op, side) {
            (Op::Grant, Side::Library) => {
                let r = self.session.apply(&self.role, &self.grants).await;
                assert_eq!(r.expect("apply").plan.statements().len(), TARGET_TABLES + 1);
            }
            (Op::Revoke, Side::Library) => {
                let r = self.session.apply(&self.role, &[]).await;
                assert_eq!(r.expect("apply").plan.statements().len(), TARGET_TABLES + 1);
            }
            (Op::Plan, _) => {
                let plan = self.session.plan(&self.role, &self.grants).await;
                assert_eq!(plan.expect("plan").statements().len(), TARGET_TABLES + 1);
            }
            (Op::Grant, Side::Floor) => self.set(true).await,
            (Op::Revoke, Side::Floor) => self.set(false).await,
        }
    }

    /// One timed run from the state the operation starts from.
    fn timed(&self, rt: &Runtime, op: Op, side: Side) -> Duration {
        rt.block_on(self.set(matches!(op, Op::Revoke)));
        let start = Instant::now();
        rt.block_on(self.run(op, side));
        start.elapsed()
    }
}

fn main() {
    let started = SystemTime::now();
    let mut c = common::criterion();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let sizes = sizes();
    for &size in &sizes {
        let cluster = populated(size);
        let client = rt.block_on(connect(&cluster));
        let session = rt
            .block_on(Session::new(&client, Settings::default()))
            .expect("a pg-grants session");
        let role = Ident::new(ROLE).expect("role name");
        let record = ManagedRecord::new(
            "bench",
            AccessLevel::ReadOnly,
            time::OffsetDateTime::now_utc() + time::Duration::days(1),
            session.connector().as_str(),
        );
        rt.block_on(session.create_role(&NewRole::new(
            role.clone(),
            LoginAuth::Password(Password::generate()),
            record,
        )))
        .expect("creating the managed role");
        let bench = Bench {
            client: &client,
            session,
            role,
            grants: vec![Grant::new(
                Scope::Schema(Ident::new(TARGET).expect("schema")),
                AccessLevel::ReadOnly,
            )],
        };
        if std::env::var_os("RDSPG_BENCH_EXPLAIN").is_some() {
            // The inspection's query plan at this size, for finding what grows with the catalog.
            let no: Vec<String> = Vec::new();
            let rows = rt
                .block_on(client.query(
                    &format!(
                        "EXPLAIN (ANALYZE, BUFFERS) {}",
                        pg_grants::plan::inspect_sql()
                    ),
                    &[&ROLE, &false, &vec![TARGET.to_owned()], &no, &no],
                ))
                .expect("explain");
            for row in rows {
                eprintln!("{}", row.get::<_, String>(0));
            }
        }
        let mut group = c.benchmark_group(format!("scale_{size}"));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for (name, op, side) in [
            ("grant_session_apply", Op::Grant, Side::Library),
            ("grant_floor", Op::Grant, Side::Floor),
            ("revoke_session_apply", Op::Revoke, Side::Library),
            ("revoke_floor", Op::Revoke, Side::Floor),
            ("plan_session_plan", Op::Plan, Side::Library),
        ] {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| (0..iters).map(|_| bench.timed(&rt, op, side)).sum())
            });
        }
        group.finish();
    }
    let mut ratios = Vec::new();
    for &size in &sizes {
        for op in ["grant", "revoke"] {
            ratios.push(common::ratio(
                format!("scale_{size}/{op}_session_apply"),
                format!("scale_{size}/{op}_floor"),
                "the library against the minimal SQL, same size (goal <= 2)",
            ));
        }
        if size != sizes[0] {
            for op in [
                "grant_session_apply",
                "revoke_session_apply",
                "plan_session_plan",
            ] {
                ratios.push(common::ratio(
                    format!("scale_{size}/{op}"),
                    format!("scale_{}/{op}", sizes[0]),
                    "the same operation against the smallest size (goal <= 1.5)",
                ));
            }
        }
    }
    common::print_ratios("catalog_scale", started, &ratios);
}
