//! No ceiling on grantees (issue 19): `RDSPG_BENCH_GRANTEES` (10,000 by default) users, each
//! granted read-only on the same schema of 100 tables, on PostgreSQL 16+ through the schema's
//! access role (one membership each). Direct ACL entries fail near the 2,444th grantee
//! (`row is too big`, a table's ACL lives in its `pg_class` row, which has no TOAST); through
//! the access role every grant succeeds and the last costs what the first did.
//!
//! Printed: the time to create the users (IAM users: no password hashing; the first and last 100
//! through the library, timed, those in between by SQL exactly as the library leaves them), the
//! median and p99 of the first 100 grants and of the last 100, their ratio, the access role's
//! member count and
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
        // The first and the last `window` users are created through the library (timed: what
        // creating a user costs with few and with n managed users); those in between by SQL
        // run as the superuser, leaving exactly what the library leaves (the same statements'
        // effects, the grantors PostgreSQL records for the connector's own statements, the
        // connector's ADMIN OPTION from its creation). Through the library, PostgreSQL 16+
        // makes each creation walk every membership of the connector (one per role it
        // created), several times: 10,000 took 2,511 s (BENCHMARKS.md). Every grant below
        // goes through the library.
        let started = Instant::now();
        let mut roles = Vec::with_capacity(n);
        let mut create_ms = Vec::with_capacity(2 * window);
        let last_password = Password::generate();
        let connector = s.connector().as_str().to_owned();
        let marker = Settings::default().names.marker.as_str().to_owned();
        let new_role = |i: usize| {
            let name = Ident::new(format!("g{i:05}")).expect("name");
            let record = ManagedRecord::new(
                format!("req-{i}"),
                AccessLevel::ReadOnly,
                expires,
                connector.as_str(),
            );
            // The last one logs in with a password; the rest are IAM users (no hashing).
            let auth = if i + 1 == n {
                LoginAuth::Password(last_password.clone())
            } else {
                LoginAuth::Iam
            };
            NewRole::new(name, auth, record)
        };
        let bulk = |from: usize, to: usize| -> String {
            let mut sql = String::from("BEGIN;\n");
            for i in from..to {
                let new = new_role(i);
                let name = new.name.quoted();
                let comment = pg_grants::quote::Literal::new(new.record.to_comment())
                    .expect("a comment");
                let comment = comment.quoted();
                let until = new.record.expires_at().format(&time::format_description::well_known::Rfc3339).expect("a time");
                sql.push_str(&format!(
                    "CREATE ROLE {name} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS PASSWORD NULL VALID UNTIL '{until}';\n\
                     GRANT {name} TO {connector} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE GRANTED BY {su};\n\
                     GRANT {name} TO {marker} WITH INHERIT FALSE, SET FALSE GRANTED BY {connector};\n\
                     GRANT {iam} TO {name} GRANTED BY {rds_superuser};\n\
                     COMMENT ON ROLE {name} IS {comment};\n",
                    su = rds::SUPERUSER,
                    iam = rds::RDS_IAM,
                    rds_superuser = rds::RDS_SUPERUSER,
                ));
            }
            sql.push_str("COMMIT;");
            sql
        };
        let mut grant_ms = Vec::with_capacity(n);
        for i in 0..n {
            if i == window {
                // The first users are granted now, with only `window` managed users on the
                // server: the first grants are measured as on a fresh instance, the last ones
                // with n users and n members.
                for (k, role) in roles.iter_mut().enumerate() {
                    let t = Instant::now();
                    if let Err(e) = s.apply_to(role, &grants).await {
                        panic!("grant {} of {n} failed: {e}", k + 1);
                    }
                    grant_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            if i == window && n > 2 * window {
                // In between, by SQL, 500 a transaction.
                let mut from = window;
                while from < n - window {
                    let to = (from + 500).min(n - window);
                    cluster.sql(rds::APP_DB, &bulk(from, to)).expect("creating users by SQL");
                    from = to;
                }
                println!(
                    "  {} users made by SQL as the library makes them ({:.1} s)",
                    n - 2 * window,
                    started.elapsed().as_secs_f64()
                );
            }
            if i >= window && i < n - window {
                let new = new_role(i);
                roles.push(s.managed_role(&new.name).await.expect("a user made by SQL is managed"));
                continue;
            }
            let t = Instant::now();
            let created = s
                .create_or_complete(&new_role(i))
                .await
                .expect("creating a user");
            create_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            roles.push(created.role);
        }
        println!(
            "  created {n} users in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let first = summary("first creations (library)", create_ms.get(..window).unwrap_or_default());
        let last = summary(
            "last creations (library)",
            create_ms.get(create_ms.len().saturating_sub(window)..).unwrap_or_default(),
        );
        println!("  last / first creation (p50): {:.2}x", last / first);
        let started = Instant::now();
        for (i, role) in roles.iter_mut().enumerate().skip(grant_ms.len()) {
            let t = Instant::now();
            if let Err(e) = s.apply_to(role, &grants).await {
                panic!("grant {} of {n} failed: {e}", i + 1);
            }
            grant_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "  granted all {n} (the last {} in {:.1} s, {:.0} grants/s)",
            n - window,
            started.elapsed().as_secs_f64(),
            (n - window) as f64 / started.elapsed().as_secs_f64()
        );
        let first = summary(
            "first grants (few users)",
            grant_ms.get(..window).unwrap_or_default(),
        );
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
                         WHERE r.rolname = '{holder}' AND m.member <> '{}'::regrole \
                         AND m.member::regrole::text <> '{}'",
                        rds::CONNECTOR,
                        pg_grants::marker::DEFAULT_GRANTOR_ROLE
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
