//! Issue 19: what a grant, its revoke and a plan cost as the database grows with objects that
//! have nothing to do with the grant, on PostgreSQL 15 (direct grants) and 17 (access roles),
//! and the same grant by pgroles, side by side.
//!
//! For each version (`RDSPG_BENCH_VERSIONS`, default `15,17`) and size N (default 1,000 and
//! 20,000 tables; `RDSPG_BENCH_SIZES=1000,20000,200000` for the long run), a fresh cluster
//! (pg-testkit, RDS emulation) gets N unrelated tables in 200 schemas, plus schema `target` with
//! 100 tables owned by the connector. A managed role `scale_user` then gets read-only on
//! `target`. Measured with criterion, group `pg<version>_<N>`:
//!
//! * `grant_library`: `Session::apply(&role, [read-only on schema target])`, everything the
//!   library does (marks, plans, one batch with the check inside the transaction, commit). On
//!   17 this is the steady state: the schema's access role exists, with another member
//!   (`scale_other`), and the user joins it;
//! * `grant_floor`: floor (a), the minimal direct-grant SQL on the same link, one batch:
//!   `BEGIN; GRANT USAGE ON SCHEMA target TO r; GRANT SELECT ON TABLE target.t000, …,
//!   target.t099 TO r; COMMIT;` (the tables named: `ON ALL TABLES IN SCHEMA` reads all of
//!   `pg_class`, so it grows with the catalog; on 15 it is also measured, as
//!   `grant_floor_all_tables`, the floor of the first version of this bench);
//! * `revoke_library` / `revoke_floor`: the same back to nothing (`Session::apply(&role, [])`
//!   against the two `REVOKE`s);
//! * `plan_library` (reference): `Session::plan`, the inspections and diff alone;
//! * on 17 only: `grant_floor_member` and `revoke_floor_member`, floor (b), the membership alone:
//!   `BEGIN; SET LOCAL ROLE rdspg_grantor; GRANT <access role> TO r WITH INHERIT TRUE, SET
//!   FALSE; COMMIT;` (and `REVOKE`), as the grantor role, which holds the memberships;
//!   `first_grant_library`, the grant that creates the access role (it gives the role its 100
//!   tables, then the membership), against `first_grant_floor`, the same by hand:
//!   `BEGIN; CREATE ROLE <access role> NOLOGIN; GRANT USAGE …; GRANT SELECT ON TABLE …;
//!   GRANT <access role> TO r WITH INHERIT TRUE, SET FALSE; COMMIT;`.
//!
//! Each timed iteration starts from the state the operation starts from (set up untimed,
//! naming the tables, so the setup does not grow with the catalog either). After the run the
//! ratio report prints, per version and size, `library / floor` (goal: at most 2) and, per
//! library operation, `size / smallest size` (goal: at most 1.5).
//!
//! Then, per version and size, whole processes, interleaved round by round
//! (`RDSPG_BENCH_ROUNDS`, 5): the `rdspg` example's `grant` of a new user (it creates the user
//! too), pgroles' `apply --mode additive` of a `viewer` profile on `target` with one member
//! (the first apply creates the profile's role) and with a second member (the next member), and
//! `psql -c` with the floor SQL (`RDSPG_BENCH_ROUNDS=0`: none). pgroles is `RDSPG_BENCH_PGROLES`, else
//! `<target dir>/bench-tools/pgroles/bin/pgroles` (`cargo install pgroles-cli --version 0.15.0
//! --root <target dir>/bench-tools/pgroles`); without it that part says so and is skipped.
//! `rdspg` is `RDSPG_BIN`, else the example of this bench's profile.
//!
//! Diagnosis: `RDSPG_BENCH_EXPLAIN=1` prints the inspection's `EXPLAIN (ANALYZE, BUFFERS)` per
//! size; `RDSPG_BENCH_LOG_MS=0` makes the server log every statement's duration, and the bench
//! prints, after each benchmark and each set of process rounds, the server-side time per
//! statement (count, median, total).
//!
//! Run: `cargo bench --bench catalog_scale` (~6 min; the 200,000 run adds ~10 min per version
//! for building the catalog). Without `--bench` (as `cargo test --benches` runs it): 1,000
//! tables and one round of processes.

#[allow(dead_code)] // the paired-sample helpers are for the other benches
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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
/// On 16+: a second member of the access role, so that it is in use (the steady state).
const OTHER: &str = "scale_other";
/// pgroles' role for profile `viewer` on schema `target` (its default `{schema}-{profile}`).
const PGROLES_ROLE: &str = "target-viewer";
/// The psql floor's shared role (the process part).
const FLOOR_ROLE: &str = "floor_viewer";

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|text| {
            text.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{name}: comma-separated numbers"))
                })
                .collect()
        })
        .unwrap_or_else(|| default.to_vec())
}

fn uptime() -> String {
    Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| format!("(uptime: {e})"))
}

/// `target.t000, …, target.t099`.
fn table_list() -> String {
    (0..TARGET_TABLES)
        .map(|i| format!("{TARGET}.t{i:03}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The direct grant of read-only on `target` to `role`, the tables named (no transaction).
fn direct_grant(role: &str) -> String {
    format!(
        "GRANT USAGE ON SCHEMA {TARGET} TO {role}; GRANT SELECT ON TABLE {} TO {role};",
        table_list()
    )
}

/// Its revoke.
fn direct_revoke(role: &str) -> String {
    format!(
        "REVOKE SELECT ON TABLE {} FROM {role}; REVOKE USAGE ON SCHEMA {TARGET} FROM {role};",
        table_list()
    )
}

/// The grantor role (the library's default name), which grants and revokes memberships in
/// access roles on 16+.
const GRANTOR: &str = "\"rdspg_grantor\"";

/// `change` (a membership's `GRANT` or `REVOKE`) run as the grantor role, then back to the
/// connector: outside a transaction, so `SET ROLE` and `RESET ROLE`.
fn as_grantor(change: &str) -> String {
    format!("SET ROLE {GRANTOR}; {change} RESET ROLE;")
}

/// Drops `role` when it exists, after revoking what it holds on `target` (one `DO` block).
fn drop_holder(role: &str) -> String {
    format!(
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{name}') THEN \
         EXECUTE '{revoke} DROP ROLE {role}'; END IF; END $$;",
        name = role.trim_matches('"'),
        revoke = direct_revoke(role).replace('\'', "''"),
    )
}

/// The statements the server logged (`RDSPG_BENCH_LOG_MS`) since the last call, grouped by
/// kind (parse, bind, execute, statement) and their first 90 characters: count, median and
/// total time, most total first. For finding what grows with the catalog, server side.
fn print_logged_statements(cluster: &TestCluster, seen: &mut usize, during: &str) {
    let log = cluster.server_log().unwrap_or_default();
    let new = log.get(*seen..).unwrap_or_default().to_owned();
    *seen = log.len();
    let mut by_statement: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for line in new.lines() {
        let Some((_, rest)) = line.split_once("duration: ") else {
            continue;
        };
        let Some((ms, statement)) = rest.split_once(" ms") else {
            continue;
        };
        let Ok(ms) = ms.trim().parse::<f64>() else {
            continue;
        };
        let statement = statement.trim_start_matches([' ', ':']);
        let key = match statement.split_once(": ") {
            Some((kind, sql)) => format!(
                "{:<9} {}",
                kind.split_whitespace().next().unwrap_or(kind),
                sql.chars().take(90).collect::<String>()
            ),
            None => statement.chars().take(100).collect(),
        };
        by_statement.entry(key).or_default().push(ms);
    }
    let mut rows: Vec<(String, usize, f64, f64)> = by_statement
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, v.len(), v[v.len() / 2], v.iter().sum())
        })
        .collect();
    rows.sort_by(|a, b| b.3.total_cmp(&a.3));
    eprintln!("  server-side statements during {during} (count, median, total):");
    for (statement, count, median, total) in rows.iter().take(14) {
        eprintln!("    {count:>5} {median:>8.3} ms {total:>9.1} ms  {statement}");
    }
}

/// A cluster of `version` with `size` unrelated tables in 200 schemas and the target schema.
fn populated(version: u32, size: usize) -> TestCluster {
    let mut builder = TestCluster::builder();
    if let Ok(ms) = std::env::var("RDSPG_BENCH_LOG_MS") {
        builder = builder.config_line(format!("log_min_duration_statement = {ms}"));
    }
    let cluster = builder
        .version(version)
        .rds_emulation(true)
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL {version} for the bench: {e}"));
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
        "catalog_scale: PostgreSQL {version}, {size} unrelated tables built in {:.1} s ({})",
        built.elapsed().as_secs_f64(),
        uptime()
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

/// What a timed iteration measures.
#[derive(Clone, Copy, Debug)]
enum Case {
    /// `Session::apply` of the grant (on 16+: joining an access role in use).
    Grant,
    /// Floor (a): the direct grant, one batch.
    GrantFloor,
    /// The first version's floor: `GRANT SELECT ON ALL TABLES IN SCHEMA` (15 only).
    GrantFloorAllTables,
    /// Floor (b), 16+: the membership alone.
    GrantFloorMember,
    /// `Session::apply` with nothing.
    Revoke,
    /// Floor (a) of the revoke.
    RevokeFloor,
    /// Floor (b) of the revoke, 16+.
    RevokeFloorMember,
    /// `Session::plan` of the grant.
    Plan,
    /// 16+: `Session::apply` of the grant when the access role does not exist.
    FirstGrant,
    /// 16+: the access role made by hand, one batch.
    FirstGrantFloor,
}

/// The state a case starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// The user holds nothing (on 16+: the access role exists, in use, the user not a member).
    Nothing,
    /// The user holds the grant directly (on 16+: and is no member).
    Direct,
    /// 16+: the user is a member of the access role, holding nothing directly.
    Member,
    /// 16+: the access role does not exist; the user holds nothing.
    NoAccessRole,
}

impl Case {
    fn from(self, access_roles: bool) -> State {
        match self {
            Case::Grant
            | Case::GrantFloor
            | Case::GrantFloorAllTables
            | Case::GrantFloorMember
            | Case::Plan => State::Nothing,
            Case::Revoke if access_roles => State::Member,
            Case::Revoke | Case::RevokeFloor => State::Direct,
            Case::RevokeFloorMember => State::Member,
            Case::FirstGrant | Case::FirstGrantFloor => State::NoAccessRole,
        }
    }
}

struct Bench<'c> {
    client: &'c Client,
    session: Session<'c>,
    role: Ident,
    other: Ident,
    grants: Vec<Grant>,
    /// The access role of `grants` (16+).
    access_role: Option<Ident>,
}

impl Bench<'_> {
    fn access_role(&self) -> &str {
        self.access_role
            .as_ref()
            .map(Ident::as_str)
            .expect("an access role on 16+")
    }

    /// The SQL taking the user to `state` (the access role, on 16+, as `ensure_access_role`
    /// left it, except for `NoAccessRole`).
    fn state_sql(&self, state: State) -> String {
        let r = ROLE;
        let Some(ar) = &self.access_role else {
            return match state {
                State::Direct => direct_grant(r),
                _ => direct_revoke(r),
            };
        };
        let ar = ar.quoted().to_string();
        // Memberships are the grantor role's, as the library grants them (see
        // `pg_grants::access`, the grantor role): a `REVOKE` run as the connector would not
        // remove one.
        let member = |change: &str| as_grantor(change);
        match state {
            State::Nothing => format!(
                "{} {}",
                member(&format!("REVOKE {ar} FROM {r};")),
                direct_revoke(r)
            ),
            State::Direct => format!(
                "{} {}",
                member(&format!("REVOKE {ar} FROM {r};")),
                direct_grant(r)
            ),
            State::Member => format!(
                "{} {}",
                member(&format!("GRANT {ar} TO {r} WITH INHERIT TRUE, SET FALSE;")),
                direct_revoke(r)
            ),
            State::NoAccessRole => format!("{} {}", drop_holder(&ar), direct_revoke(r)),
        }
    }

    async fn set(&self, state: State) {
        self.client
            .batch_execute(&self.state_sql(state))
            .await
            .expect("setting up");
    }

    /// On 16+: the access role made and marked by the library, in use by `scale_other`.
    async fn ensure_access_role(&self) {
        if let Some(ar) = &self.access_role {
            self.client
                .batch_execute(&drop_holder(&ar.quoted().to_string()))
                .await
                .expect("dropping the access role");
            self.session
                .apply(&self.other, &self.grants)
                .await
                .expect("granting the other member");
        }
    }

    fn statements(&self, first: bool) -> usize {
        match (&self.access_role, first) {
            (None, _) => TARGET_TABLES + 1,
            // The access role's privileges and the membership.
            (Some(_), true) => TARGET_TABLES + 2,
            (Some(_), false) => 1,
        }
    }

    async fn run(&self, case: Case) {
        let batch = |sql: String| async move {
            self.client
                .batch_execute(&sql)
                .await
                .expect("a floor batch");
        };
        let r = ROLE;
        match case {
            Case::Grant | Case::FirstGrant => {
                let report = self.session.apply(&self.role, &self.grants).await;
                assert_eq!(
                    report.expect("apply").plan.statements().len(),
                    self.statements(matches!(case, Case::FirstGrant))
                );
            }
            Case::Revoke => {
                let report = self.session.apply(&self.role, &[]).await;
                assert_eq!(
                    report.expect("apply").plan.statements().len(),
                    self.statements(false)
                );
            }
            Case::Plan => {
                let plan = self.session.plan(&self.role, &self.grants).await;
                assert_eq!(
                    plan.expect("plan").statements().len(),
                    self.statements(false)
                );
            }
            Case::GrantFloor => batch(format!("BEGIN; {} COMMIT;", direct_grant(r))).await,
            Case::RevokeFloor => batch(format!("BEGIN; {} COMMIT;", direct_revoke(r))).await,
            Case::GrantFloorAllTables => {
                batch(format!(
                    "BEGIN; GRANT USAGE ON SCHEMA {TARGET} TO {r}; \
                     GRANT SELECT ON ALL TABLES IN SCHEMA {TARGET} TO {r}; COMMIT;"
                ))
                .await;
            }
            Case::GrantFloorMember => {
                batch(format!(
                    "BEGIN; SET LOCAL ROLE {GRANTOR}; GRANT {} TO {r} WITH INHERIT TRUE, SET FALSE; COMMIT;",
                    Ident::new(self.access_role()).expect("name").quoted()
                ))
                .await;
            }
            Case::RevokeFloorMember => {
                batch(format!(
                    "BEGIN; SET LOCAL ROLE {GRANTOR}; REVOKE {} FROM {r}; COMMIT;",
                    Ident::new(self.access_role()).expect("name").quoted()
                ))
                .await;
            }
            Case::FirstGrantFloor => {
                let ar = Ident::new(self.access_role())
                    .expect("name")
                    .quoted()
                    .to_string();
                batch(format!(
                    "BEGIN; CREATE ROLE {ar} NOLOGIN; {} GRANT {ar} TO {r} WITH INHERIT TRUE, SET FALSE; COMMIT;",
                    direct_grant(&ar)
                ))
                .await;
            }
        }
    }

    /// One timed run from the state the case starts from.
    fn timed(&self, rt: &Runtime, case: Case) -> Duration {
        rt.block_on(self.set(case.from(self.access_role.is_some())));
        let start = Instant::now();
        rt.block_on(self.run(case));
        start.elapsed()
    }
}

// ---------------------------------------------------------------------------------------------
// Whole processes: rdspg, pgroles, psql.

/// `rdspg`: `RDSPG_BIN`, else the example next to this bench's profile directory.
fn rdspg_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RDSPG_BIN") {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/catalog_scale-<hash> -> target/<profile>/examples/rdspg
    let path = exe.parent()?.parent()?.join("examples").join("rdspg");
    path.exists().then_some(path)
}

/// pgroles: `RDSPG_BENCH_PGROLES`, else `<target dir>/bench-tools/pgroles/bin/pgroles`.
fn pgroles_path() -> PathBuf {
    if let Some(path) = std::env::var_os("RDSPG_BENCH_PGROLES") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench-tools/pgroles/bin/pgroles")
}

/// pgroles' manifest: profile `viewer` (USAGE on the schema, SELECT on its tables; no default
/// privileges, as the library's grant without `follow_new_tables`) on `target`, `members`
/// members of its role.
fn pgroles_manifest(members: &[&str]) -> String {
    let mut yaml = String::from(
        "profiles:\n  viewer:\n    grants:\n      - privileges: [USAGE]\n        object: { type: schema }\n\
         \x20     - privileges: [SELECT]\n        object: { type: table, name: \"*\" }\n\
         schemas:\n  - name: target\n    profiles: [viewer]\n\
         memberships:\n  - role: target-viewer\n    members:\n",
    );
    for m in members {
        yaml.push_str(&format!("      - name: {m}\n"));
    }
    yaml
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn run_process(what: &str, cmd: &mut Command) -> Result<Duration, String> {
    cmd.stdin(Stdio::null());
    let start = Instant::now();
    let out: Output = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    let took = start.elapsed();
    if std::env::var_os("RDSPG_BENCH_VERBOSE").is_some() {
        eprintln!(
            "catalog_scale: {what} took {:.1} ms:\n{}{}",
            took.as_secs_f64() * 1e3,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if out.status.success() {
        Ok(took)
    } else {
        Err(format!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn median_ms(values: &[Duration]) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Processes<'a> {
    cluster: &'a TestCluster,
    version: u32,
    rdspg: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl Processes<'_> {
    fn sql(&self, sql: &str) {
        self.cluster
            .sql_as(self.cluster.connector(), rds::APP_DB, sql)
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    fn rdspg_grant(&self, rdspg: &Path, user: &str) -> Result<Duration, String> {
        let config = self.dir.path().join("rdspg.toml");
        run_process(
            "rdspg grant",
            Command::new(rdspg)
                .args(["--output", "json", "grant", "--user", user, "--level"])
                .args(["read-only", "--database", rds::APP_DB, "--schema", TARGET])
                .args(["--for", "1h", "--config"])
                .arg(&config)
                .env(
                    "RDSPG_CONNECTOR_PASSWORD",
                    &self.cluster.connector().password,
                ),
        )
    }

    fn pgroles_apply(&self, pgroles: &Path, members: &[&str]) -> Result<Duration, String> {
        let file = self
            .dir
            .path()
            .join(format!("pgroles-{}.yaml", members.len()));
        std::fs::write(&file, pgroles_manifest(members)).expect("writing the manifest");
        let creds = self.cluster.connector();
        let url = format!(
            "postgres://{}:{}@{}:{}/{}?sslmode=disable",
            percent_encode(&creds.user),
            percent_encode(&creds.password),
            self.cluster.host(),
            self.cluster.port(),
            rds::APP_DB
        );
        run_process(
            "pgroles apply",
            Command::new(pgroles)
                .args(["apply", "--mode", "additive", "-f"])
                .arg(&file)
                .env("DATABASE_URL", url),
        )
    }

    fn psql(&self, sql: &str) -> Result<Duration, String> {
        let creds = self.cluster.connector();
        run_process(
            "psql",
            self.cluster
                .psql_command()
                .args(["-q", "-v", "ON_ERROR_STOP=1", "-U", &creds.user, "-d"])
                .arg(rds::APP_DB)
                .arg("-c")
                .arg(sql)
                .env("PGPASSWORD", &creds.password),
        )
    }

    /// Whether `role` may use schema `target` and read its last table (what every tool gives).
    fn reads(&self, role: &str) -> bool {
        let sql = format!(
            "SELECT has_schema_privilege('{role}', '{TARGET}', 'USAGE') \
             AND has_table_privilege('{role}', '{TARGET}.t{:03}', 'SELECT')",
            TARGET_TABLES - 1
        );
        self.cluster
            .sql_as(self.cluster.connector(), rds::APP_DB, &sql)
            .map(|out| out.trim() == "t")
            .unwrap_or(false)
    }

    fn membership_options(&self) -> &'static str {
        if self.version >= 16 {
            " WITH INHERIT TRUE, SET FALSE"
        } else {
            ""
        }
    }
}

/// Per kind ("first" / "member"): the times of each tool.
#[derive(Default)]
struct ProcessTimes {
    rdspg: Vec<Duration>,
    pgroles: Vec<Duration>,
    psql: Vec<Duration>,
}

/// Whole processes, interleaved; prints the medians and ratios.
fn processes(
    rt: &Runtime,
    bench: &Bench<'_>,
    cluster: &TestCluster,
    (size, rounds): (usize, usize),
    pgroles: &mut Option<PathBuf>,
    log_seen: Option<&mut usize>,
) {
    let version = cluster.version();
    let p = Processes {
        cluster,
        version,
        rdspg: rdspg_path(),
        dir: tempfile::tempdir().expect("temp dir"),
    };
    std::fs::write(
        p.dir.path().join("rdspg.toml"),
        format!(
            "name = \"local\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
             ssl_mode = \"disable\"\n[secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n\
             [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
            cluster.port()
        ),
    )
    .expect("writing the rdspg settings");
    if p.rdspg.is_none() {
        println!(
            "catalog_scale: no rdspg example next to this bench or at RDSPG_BIN (build it with \
             the same profile, `cargo build --example rdspg`): its processes are skipped"
        );
    }
    // The members pgroles and psql give access to: plain login roles, made untimed.
    p.sql(&format!(
        "CREATE ROLE pgr_a LOGIN; CREATE ROLE pgr_b LOGIN; CREATE ROLE psql_a LOGIN; \
         CREATE ROLE {FLOOR_ROLE} NOLOGIN; {}",
        direct_grant(FLOOR_ROLE)
    ));
    let pgroles_role = Ident::new(PGROLES_ROLE).expect("name").quoted().to_string();
    let mut first = ProcessTimes::default();
    let mut member = ProcessTimes::default();
    // First grants: nobody has the schema yet (on 17 the library's access role is dropped,
    // pgroles' profile role is dropped; the floor grants directly, its least).
    for round in 0..rounds {
        for turn in 0..3 {
            match (round + turn) % 3 {
                0 => {
                    if let Some(rdspg) = &p.rdspg {
                        if let Some(ar) = &bench.access_role {
                            p.sql(&drop_holder(&ar.quoted().to_string()));
                        }
                        let user = format!("rdspg_first_{round}");
                        let took = p
                            .rdspg_grant(rdspg, &user)
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert!(p.reads(&user), "rdspg's user reads the schema");
                        first.rdspg.push(took);
                        p.sql(&format!("{} DROP ROLE {user};", direct_revoke(&user)));
                    }
                }
                1 => {
                    if let Some(pgr) = pgroles.clone() {
                        p.sql(&drop_holder(&pgroles_role));
                        match p.pgroles_apply(&pgr, &["pgr_a"]) {
                            Ok(took) => {
                                assert!(p.reads("pgr_a"), "pgroles' member reads the schema");
                                first.pgroles.push(took);
                            }
                            Err(e) => {
                                println!("catalog_scale: pgroles skipped from here on: {e}");
                                *pgroles = None;
                            }
                        }
                    }
                }
                _ => {
                    p.sql(&direct_revoke("psql_a"));
                    let took = p
                        .psql(&format!("BEGIN; {} COMMIT;", direct_grant("psql_a")))
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert!(p.reads("psql_a"));
                    first.psql.push(took);
                }
            }
        }
    }
    p.sql(&direct_revoke("psql_a"));
    let mut log_seen = log_seen;
    if let Some(seen) = log_seen.as_deref_mut() {
        print_logged_statements(cluster, seen, "the first-grant processes");
    }
    // The next member: the shared role exists and is in use.
    rt.block_on(bench.ensure_access_role());
    if let Some(pgr) = pgroles.as_deref() {
        p.sql(&drop_holder(&pgroles_role));
        p.pgroles_apply(pgr, &["pgr_a"])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for round in 0..rounds {
        for turn in 0..3 {
            match (round + turn) % 3 {
                0 => {
                    if let Some(rdspg) = &p.rdspg {
                        let user = format!("rdspg_member_{round}");
                        let took = p
                            .rdspg_grant(rdspg, &user)
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert!(p.reads(&user), "rdspg's user reads the schema");
                        member.rdspg.push(took);
                        p.sql(&format!("{} DROP ROLE {user};", direct_revoke(&user)));
                    }
                }
                1 => {
                    if let Some(pgr) = pgroles.as_deref() {
                        p.sql(&format!("REVOKE {pgroles_role} FROM pgr_b;"));
                        let took = p
                            .pgroles_apply(pgr, &["pgr_a", "pgr_b"])
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert!(p.reads("pgr_b"), "pgroles' next member reads the schema");
                        member.pgroles.push(took);
                    }
                }
                _ => {
                    p.sql(&format!("REVOKE {FLOOR_ROLE} FROM psql_a;"));
                    let took = p
                        .psql(&format!(
                            "BEGIN; GRANT {FLOOR_ROLE} TO psql_a{}; COMMIT;",
                            p.membership_options()
                        ))
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert!(p.reads("psql_a"));
                    member.psql.push(took);
                }
            }
        }
    }
    if let Some(seen) = log_seen {
        print_logged_statements(cluster, seen, "the next-member processes");
    }
    println!(
        "\n== catalog_scale processes: PostgreSQL {version}, {size} unrelated tables, {rounds} \
         interleaved rounds ({}) ==",
        uptime()
    );
    for (kind, times, floor) in [
        ("first grant", &first, "psql: the direct grant, one batch"),
        (
            "next member",
            &member,
            "psql: GRANT <shared role> TO user, one batch",
        ),
    ] {
        let (r, g, f) = (
            median_ms(&times.rdspg),
            median_ms(&times.pgroles),
            median_ms(&times.psql),
        );
        // A side that was skipped (no binary) has no median: shown as a dash.
        let shown = |value: f64, unit: &str| {
            if value.is_finite() {
                format!("{value:>8.2}{unit}")
            } else {
                format!("{:>8}{unit}", "—")
            }
        };
        println!(
            "  {kind:<12} rdspg grant {}   pgroles apply {}   {floor} {}",
            shown(r, " ms"),
            shown(g, " ms"),
            shown(f, " ms")
        );
        println!(
            "  {kind:<12} pgroles / rdspg {}   rdspg / psql {}   pgroles / psql {}",
            shown(g / r, "x"),
            shown(r / f, "x"),
            shown(g / f, "x")
        );
    }
}

fn main() {
    let started = SystemTime::now();
    let measuring = common::measuring();
    let mut c = common::criterion();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let versions = env_list("RDSPG_BENCH_VERSIONS", &[15, 17]);
    let sizes = if measuring {
        env_list("RDSPG_BENCH_SIZES", &[1_000, 20_000])
    } else {
        vec![1_000]
    };
    let rounds = if measuring {
        env_list("RDSPG_BENCH_ROUNDS", &[5])
            .first()
            .copied()
            .unwrap_or(5)
    } else {
        1
    };
    let mut pgroles = Some(pgroles_path()).filter(|p| p.exists());
    if pgroles.is_none() {
        println!(
            "catalog_scale: pgroles not found at {} (install it with `cargo install pgroles-cli \
             --version 0.15.0 --root <target dir>/bench-tools/pgroles`, or set \
             RDSPG_BENCH_PGROLES): the side-by-side part is skipped",
            pgroles_path().display()
        );
    }
    println!("catalog_scale: load at start: {}", uptime());
    for &version in &versions {
        let version = u32::try_from(version).expect("a version");
        for &size in &sizes {
            let cluster = populated(version, size);
            let client = rt.block_on(connect(&cluster));
            let session = rt
                .block_on(Session::new(&client, Settings::default()))
                .expect("a pg-grants session");
            let grants = vec![Grant::new(
                Scope::Schema(Ident::new(TARGET).expect("schema")),
                AccessLevel::ReadOnly,
            )];
            let access_role = session
                .uses_access_roles()
                .then(|| session.access_role_of(&grants[0]).expect("name").name);
            for name in [ROLE, OTHER] {
                let record = ManagedRecord::new(
                    "bench",
                    AccessLevel::ReadOnly,
                    time::OffsetDateTime::now_utc() + time::Duration::days(1),
                    session.connector().as_str(),
                );
                rt.block_on(session.create_role(&NewRole::new(
                    Ident::new(name).expect("role name"),
                    LoginAuth::Password(Password::generate()),
                    record,
                )))
                .expect("creating a managed role");
            }
            let bench = Bench {
                client: &client,
                session,
                role: Ident::new(ROLE).expect("role name"),
                other: Ident::new(OTHER).expect("role name"),
                grants,
                access_role,
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
                        &[
                            &ROLE,
                            &false,
                            &vec![TARGET.to_owned()],
                            &no,
                            &no,
                            &pg_grants::marker::DEFAULT_GRANTOR_ROLE,
                        ],
                    ))
                    .expect("explain");
                for row in rows {
                    eprintln!("{}", row.get::<_, String>(0));
                }
            }
            let mut group = c.benchmark_group(format!("pg{version}_{size}"));
            group
                .sampling_mode(SamplingMode::Flat)
                .sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(2));
            let cases: &[(&str, Case)] = if bench.access_role.is_some() {
                &[
                    ("first_grant_library", Case::FirstGrant),
                    ("first_grant_floor", Case::FirstGrantFloor),
                    // (the access role is made anew below, in use, before these)
                    ("grant_library", Case::Grant),
                    ("grant_floor", Case::GrantFloor),
                    ("grant_floor_member", Case::GrantFloorMember),
                    ("revoke_library", Case::Revoke),
                    ("revoke_floor", Case::RevokeFloor),
                    ("revoke_floor_member", Case::RevokeFloorMember),
                    ("plan_library", Case::Plan),
                ]
            } else {
                &[
                    ("grant_library", Case::Grant),
                    ("grant_floor", Case::GrantFloor),
                    ("grant_floor_all_tables", Case::GrantFloorAllTables),
                    ("revoke_library", Case::Revoke),
                    ("revoke_floor", Case::RevokeFloor),
                    ("plan_library", Case::Plan),
                ]
            };
            let logging = std::env::var_os("RDSPG_BENCH_LOG_MS").is_some();
            let mut seen = cluster.server_log().map(|l| l.len()).unwrap_or(0);
            for &(name, case) in cases {
                if matches!(case, Case::Grant) {
                    rt.block_on(bench.ensure_access_role());
                }
                if logging {
                    print_logged_statements(&cluster, &mut seen, "the setup");
                }
                group.bench_function(name, |b| {
                    b.iter_custom(|iters| (0..iters).map(|_| bench.timed(&rt, case)).sum())
                });
                if logging {
                    print_logged_statements(&cluster, &mut seen, name);
                }
            }
            group.finish();
            if rounds > 0 {
                processes(
                    &rt,
                    &bench,
                    &cluster,
                    (size, rounds),
                    &mut pgroles,
                    logging.then_some(&mut seen),
                );
            }
        }
    }
    println!("catalog_scale: load at end: {}", uptime());
    let mut ratios = Vec::new();
    const FLOOR: &str = "the library against floor (a), the direct grant, same size (goal <= 2)";
    for &version in &versions {
        let access = version >= 16;
        for &size in &sizes {
            let g = format!("pg{version}_{size}");
            for op in ["grant", "revoke"] {
                ratios.push(common::ratio(
                    format!("{g}/{op}_library"),
                    format!("{g}/{op}_floor"),
                    FLOOR,
                ));
            }
            if access {
                for op in ["grant", "revoke"] {
                    ratios.push(common::ratio(
                        format!("{g}/{op}_library"),
                        format!("{g}/{op}_floor_member"),
                        "the library against floor (b), the membership alone (goal <= 2)",
                    ));
                }
                ratios.push(common::ratio(
                    format!("{g}/first_grant_library"),
                    format!("{g}/first_grant_floor"),
                    "the first grant against making the access role by hand (goal <= 2)",
                ));
                ratios.push(common::ratio(
                    format!("{g}/first_grant_library"),
                    format!("{g}/grant_floor"),
                    FLOOR,
                ));
            } else {
                ratios.push(common::ratio(
                    format!("{g}/grant_floor_all_tables"),
                    format!("{g}/grant_floor"),
                    "ON ALL TABLES IN SCHEMA against the tables named (it reads all of pg_class)",
                ));
            }
            if size != sizes[0] {
                let ops: &[&str] = if access {
                    &[
                        "first_grant_library",
                        "grant_library",
                        "revoke_library",
                        "plan_library",
                    ]
                } else {
                    &["grant_library", "revoke_library", "plan_library"]
                };
                for op in ops {
                    ratios.push(common::ratio(
                        format!("{g}/{op}"),
                        format!("pg{version}_{}/{op}", sizes[0]),
                        "the same operation against the smallest size (goal <= 1.5)",
                    ));
                }
            }
        }
    }
    common::print_ratios("catalog_scale", started, &ratios);
}
