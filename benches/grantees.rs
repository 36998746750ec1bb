//! No ceiling on grantees (issue 19): `RDSPG_BENCH_GRANTEES` (10,000 by default) users, each
//! granted read-only on the same schema of 100 tables, on PostgreSQL 16+ through the schema's
//! access role (one membership each). Direct ACL entries fail near the 2,444th grantee
//! (`row is too big`, a table's ACL lives in its `pg_class` row, which has no TOAST); through
//! the access role every grant succeeds and the last costs what the first did.
//!
//! Printed: the time to create the users (IAM users: no password hashing), the median and p99
//! of the first 100 grants and of the last 100, their ratio, the access role's member count and
//! the ACL entries on one table, and a real login of the last user reading a table. Then every
//! grant ends and the same figures for the first and last 100 revocations.
//!
//! Run: `cargo bench --bench grantees` (PostgreSQL 17; `RDSPG_BENCH_VERSIONS=18`,
//! `RDSPG_BENCH_GRANTEES=2000`). Without `--bench` it grants 30 users: a smoke test.

use std::time::Instant;

use secrecy::ExposeSecret;

use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{AccessLevel, Grant, ManagedRecord, Scope, Session, Settings, drive_connection};
use pg_testkit::{TestCluster, rds};
use tokio_postgres::{Client, NoTls};

const TABLES: usize = 100;
const SCHEMA: &str = "shared";

async fn connect(cluster: &TestCluster, user: &str, password: &str) -> Client {
    let mut config = tokio_postgres::Config::new();
    config
        .host(cluster.host())
        .port(cluster.port())
        .user(user)
        .password(password)
        .dbname(rds::APP_DB);
    let (client, connection) = config.connect(NoTls).await.expect("connecting");
    drop(drive_connection(connection));
    client
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len().saturating_sub(1);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank in a short list"
    )]
    let i = (q * last as f64).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn summary(label: &str, ms: &[f64]) -> f64 {
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    let p50 = quantile(&v, 0.5);
    println!(
        "  {label:<30} p50 {p50:>7.2} ms   p99 {:>7.2} ms   ({} ops)",
        quantile(&v, 0.99),
        v.len()
    );
    p50
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let n: usize = if measuring {
        std::env::var("RDSPG_BENCH_GRANTEES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000)
    } else {
        30
    };
    let window = (n / 10).clamp(1, 100);
    let version: u32 = std::env::var("RDSPG_BENCH_VERSIONS")
        .ok()
        .and_then(|s| s.split(',').next().and_then(|v| v.trim().parse().ok()))
        .unwrap_or(17);
    let cluster = TestCluster::builder()
        .version(version)
        .rds_emulation(true)
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL {version}: {e}"));
    cluster
        .sql(
            rds::APP_DB,
            &format!("CREATE SCHEMA {SCHEMA} AUTHORIZATION {};", rds::CONNECTOR),
        )
        .expect("creating the schema");
    let tables: String = (0..TABLES)
        .map(|i| format!("CREATE TABLE {SCHEMA}.t{i:03} (id int PRIMARY KEY, v text);\n"))
        .collect();
    cluster
        .sql_as(cluster.connector(), rds::APP_DB, &tables)
        .expect("creating the tables as the connector");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "== grantees: {n} users read-only on one schema of {TABLES} tables, PostgreSQL {version} =="
    );
    rt.block_on(async {
        let creds = cluster.connector();
        let client = connect(&cluster, &creds.user, &creds.password).await;
        let s = Session::new(&client, Settings::default()).await.expect("session");
        println!("  access roles: {}", s.uses_access_roles());
        let grants = [Grant::new(
            Scope::Schema(Ident::new(SCHEMA).expect("name")),
            AccessLevel::ReadOnly,
        )];
        let expires = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        let started = Instant::now();
        let mut roles = Vec::with_capacity(n);
        let last_password = Password::generate();
        for i in 0..n {
            let name = Ident::new(format!("g{i:05}")).expect("name");
            let record = ManagedRecord::new(
                format!("req-{i}"),
                AccessLevel::ReadOnly,
                expires,
                s.connector().as_str(),
            );
            // The last one logs in with a password; the rest are IAM users (no hashing).
            let auth = if i + 1 == n {
                LoginAuth::Password(last_password.clone())
            } else {
                LoginAuth::Iam
            };
            let created = s
                .create_or_complete(&NewRole::new(name, auth, record))
                .await
                .expect("creating a user");
            roles.push(created.role);
        }
        println!(
            "  created {n} users in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut grant_ms = Vec::with_capacity(n);
        let started = Instant::now();
        for (i, role) in roles.iter_mut().enumerate() {
            let t = Instant::now();
            if let Err(e) = s.apply_to(role, &grants).await {
                panic!("grant {} of {n} failed: {e}", i + 1);
            }
            grant_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "  granted all {n} in {:.1} s ({:.0} grants/s)",
            started.elapsed().as_secs_f64(),
            n as f64 / started.elapsed().as_secs_f64()
        );
        let first = summary("first grants", grant_ms.get(..window).unwrap_or_default());
        let last = summary("last grants", grant_ms.get(n - window..).unwrap_or_default());
        println!("  last / first (p50): {:.2}x", last / first);
        let holder = if s.uses_access_roles() {
            s.access_role_of(&grants[0]).expect("name").name.to_string()
        } else {
            "(direct grants)".to_owned()
        };
        println!(
            "  members of {holder}: {}; grantees in the ACL of {SCHEMA}.t000 (owner included): {}",
            cluster
                .sql(
                    "postgres",
                    &format!(
                        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
                         WHERE r.rolname = '{holder}' AND m.member <> '{}'::regrole",
                        rds::CONNECTOR
                    )
                )
                .unwrap_or_default(),
            cluster
                .sql(
                    rds::APP_DB,
                    &format!("SELECT count(DISTINCT grantee) FROM aclexplode((SELECT relacl FROM pg_class WHERE oid = '{SCHEMA}.t000'::regclass))")
                )
                .unwrap_or_default()
        );
        let last_name = format!("g{:05}", n - 1);
        let user = connect(&cluster, &last_name, last_password.expose().expose_secret()).await;
        let rows = user
            .query_one(&format!("SELECT count(*) FROM {SCHEMA}.t099"), &[])
            .await
            .expect("the last user reads");
        println!("  {last_name} logs in and reads {SCHEMA}.t099 ({} rows)", rows.get::<_, i64>(0));
        drop(user);
        let mut end_ms = Vec::with_capacity(n);
        for role in &mut roles {
            let t = Instant::now();
            s.apply_to(role, &[]).await.expect("ending a grant");
            end_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let first = summary("first grant ends", end_ms.get(..window).unwrap_or_default());
        let last = summary("last grant ends", end_ms.get(n - window..).unwrap_or_default());
        println!("  last / first (p50): {:.2}x", last / first);
    });
}
