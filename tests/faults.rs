//! Issue 15, "faults at every round trip" (the PostgreSQL side): grant, revoke, extend, sweep
//! and the connector-password rotation's PostgreSQL step, each broken at every one of its round
//! trips in turn by pg-testkit's [`FaultProxy`] between the library and a real cluster.
//!
//! For each operation: a clean run through the proxy records its round trips (every
//! connection's, numbered in order; the proxy's module docs define them) and the catalog it
//! leaves ("wanted"). Then, for every round trip *k* and both faults — the request cut before
//! it reaches the server, and the server's answer lost after it acted (a `COMMIT` committed,
//! the client never hears) — from the same starting state ("before"):
//!
//! - the operation reports failure (or success, when the fault fell after what it needed);
//! - the catalog equals "before" or "wanted", never a third state: roles with their
//!   attributes and whether their password changed, memberships with grantor and options,
//!   comments on roles, per-role settings, owners and ACLs of databases, schemas, tables,
//!   sequences, functions, columns and default ACLs, comments on objects, and the rows of the
//!   user's own table (revocation never destroys data);
//! - each failure says what it did: [`AccessError::applied`] is `NotApplied` only when the
//!   catalog is "before", never when the change happened;
//! - a failed grant hands out no password;
//! - the same operation run again without faults completes, and the catalog equals "wanted".
//!
//! "Before" is rebuilt for every cut point on the same cluster: what a previous attempt created
//! is dropped as the superuser and the catalog is checked equal to the cluster's pristine
//! snapshot before the operation's own set-up runs again (a fresh cluster per cut point would
//! cost seconds each).
//!
//! `RDSPG_FAULT_VERSIONS` (default `15`) lists the PostgreSQL versions; CI runs 15, the long run
//! is `RDSPG_FAULT_VERSIONS=15,17,18 cargo test --test faults` (see RELIABILITY.md).

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use pg_testkit::{
    Action, At, FLEET_INSTANCE_A, FLEET_SECRET, Fault, FaultProxy, MotoFleet, MotoServer,
    TestCluster,
};
use rds_pg_access::integration_model::{AccessLevel, Integration, Settings};
use rds_pg_access::pg_auth::{Clock, ManualClock};
use rds_pg_access::pg_auth::{ConnectOptions, SdkConfig, SecretsManagerSource, SslMode};
use rds_pg_access::{AccessError, AccessManager, Applied, ManagerOptions, RotateOutcome};
use tokio_postgres::{Client, NoTls};

const HOUR: Duration = Duration::from_secs(3600);
const USER: &str = "gina";
/// The expired users a sweep revokes: `RDSPG_FAULT_SWEPT` of them (default 2, at most 5; the
/// long run, `scripts/faults`, sweeps 3).
fn swept() -> Vec<&'static str> {
    let n = std::env::var("RDSPG_FAULT_SWEPT")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(2)
        .clamp(2, 5);
    ["sam", "sue", "sid", "sol", "sky"][..n].to_vec()
}

/// The versions to run, from `RDSPG_FAULT_VERSIONS` (default 15).
fn versions() -> Vec<u32> {
    std::env::var("RDSPG_FAULT_VERSIONS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or_else(
            || vec![15],
            |v| {
                v.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| s.trim().parse().expect("RDSPG_FAULT_VERSIONS: numbers"))
                    .collect()
            },
        )
}

/// A cluster, a proxy in front of it, superuser sessions for snapshots and restores.
struct Lab {
    cluster: TestCluster,
    proxy: FaultProxy,
    rt: tokio::runtime::Runtime,
    /// Superuser sessions (direct, not through the proxy), per database.
    su: Vec<(String, Client)>,
    /// The roles of the pristine cluster.
    pristine_roles: BTreeSet<String>,
    /// The pristine cluster's password verifiers, per role.
    pristine_passwords: Vec<(String, Option<String>)>,
    /// The verifiers a snapshot calls `same` (the pristine ones, or those at the start of a
    /// rotation attempt).
    reference: std::sync::Mutex<Vec<(String, Option<String>)>>,
    /// The rotation's AWS side (moto) and its SDK configuration.
    aws: Option<(MotoServer, SdkConfig)>,
    pristine: String,
    /// A fixed start time: every run's records and expiries are the same.
    t0: SystemTime,
}

fn integration(port: u16) -> Integration {
    let text = format!(
        "name = \"faults\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         database = \"appdb\"\n[secret]\nenv = \"UNUSED\"\n[endpoint]\nhost = \"127.0.0.1\"\n\
         port = {port}\n"
    );
    Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone()
}

impl Lab {
    fn start(version: u32) -> Lab {
        Self::on(common::cluster_with_owner_fix(version), None)
    }

    fn on(cluster: TestCluster, aws: Option<(MotoServer, SdkConfig)>) -> Lab {
        let proxy = FaultProxy::for_cluster(&cluster).expect("proxy");
        let rt = common::runtime();
        let databases: Vec<String> = cluster
            .sql(
                "postgres",
                "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database \
                 WHERE datallowconn AND NOT datistemplate",
            )
            .expect("databases")
            .split(',')
            .map(str::to_owned)
            .collect();
        let su = databases
            .iter()
            .map(|db| {
                let conn = cluster.conn_string(cluster.superuser(), db);
                let client = rt.block_on(async {
                    let (client, connection) = tokio_postgres::connect(&conn, NoTls)
                        .await
                        .expect("superuser");
                    tokio::spawn(connection);
                    client
                });
                (db.clone(), client)
            })
            .collect();
        let mut lab = Lab {
            cluster,
            proxy,
            rt,
            su,
            pristine_roles: BTreeSet::new(),
            pristine_passwords: Vec::new(),
            reference: std::sync::Mutex::new(Vec::new()),
            aws,
            pristine: String::new(),
            t0: SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000),
        };
        let rows = lab
            .rt
            .block_on(
                lab.su("postgres")
                    .query("SELECT rolname::text, rolpassword FROM pg_authid", &[]),
            )
            .expect("roles");
        lab.pristine_passwords = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        lab.pristine_roles = lab
            .pristine_passwords
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        *lab.reference.lock().expect("reference") = lab.pristine_passwords.clone();
        lab.pristine = lab.snapshot();
        lab
    }

    /// The passwords as they are now become those a snapshot calls `same`.
    fn rebase_passwords(&self) {
        let rows = self
            .rt
            .block_on(
                self.su("postgres")
                    .query("SELECT rolname::text, rolpassword FROM pg_authid", &[]),
            )
            .expect("roles");
        *self.reference.lock().expect("reference") =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    }

    fn su(&self, db: &str) -> &Client {
        &self
            .su
            .iter()
            .find(|(d, _)| d == db)
            .unwrap_or_else(|| panic!("no session on {db}"))
            .1
    }

    /// A manager at `now` connecting to `port` (the proxy's or the cluster's), with short
    /// timeouts: a cut connection fails at once, nothing here should hang.
    fn manager(&self, port: u16, now: SystemTime) -> AccessManager {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now));
        let manager = match &self.aws {
            Some((moto, aws)) => {
                let text = format!(
                    "name = \"orders\"\nregion = \"{}\"\nauth = \"password\"\n\
                     ssl_mode = \"disable\"\nconnector_rotation_days = 30\n\
                     [instance]\nid = \"{FLEET_INSTANCE_A}\"\n[secret]\nid = \"{FLEET_SECRET}\"\n\
                     [endpoint_overrides]\n{FLEET_INSTANCE_A} = \"127.0.0.1:{port}\"\n",
                    moto.region()
                );
                let integration = Settings::from_toml_str(&text)
                    .expect("settings")
                    .integrations()[0]
                    .clone();
                AccessManager::from_integration_with_aws(integration, aws).expect("manager")
            }
            None => common::cluster_manager(&self.cluster, integration(port)),
        };
        manager.with_clock(clock).with_options(
            ManagerOptions::default()
                .connect_timeout(Duration::from_secs(5))
                .instance_timeout(Duration::from_secs(30)),
        )
    }

    fn direct(&self, now: SystemTime) -> AccessManager {
        self.manager(self.cluster.port(), now)
    }

    fn proxied(&self, now: SystemTime) -> AccessManager {
        self.manager(self.proxy.port(), now)
    }

    /// Everything the operations may change, by name (no OIDs), sorted. A password shows as
    /// `none`, `same` (the verifier it had at the start) or `new`; a NULL ACL shows as the
    /// default it stands for (PostgreSQL treats the two alike, and a revoke down to the
    /// owner's rights leaves the explicit form).
    fn snapshot(&self) -> String {
        self.rt.block_on(async {
            let mut lines: Vec<String> = Vec::new();
            let pg = self.su("postgres");
            let v16 = self.cluster.version() >= 16;
            let members = if v16 {
                "SELECT format('member %s of %s by %s admin=%s inherit=%s set=%s', \
                 member::regrole, roleid::regrole, grantor::regrole, admin_option, \
                 inherit_option, set_option) FROM pg_auth_members"
            } else {
                "SELECT format('member %s of %s by %s admin=%s', member::regrole, \
                 roleid::regrole, grantor::regrole, admin_option) FROM pg_auth_members"
            };
            for sql in [
                "SELECT format('role %s super=%s inherit=%s createrole=%s createdb=%s login=%s \
                 repl=%s bypassrls=%s conn=%s until=%s', rolname, rolsuper, rolinherit, \
                 rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, \
                 rolconnlimit, rolvaliduntil) FROM pg_authid",
                members,
                "SELECT format('role comment %s: %s', a.rolname, d.description) \
                 FROM pg_shdescription d JOIN pg_authid a ON a.oid = d.objoid \
                 WHERE d.classoid = 'pg_authid'::regclass",
                "SELECT format('setting %s in %s: %s', s.setrole::regrole, \
                 coalesce(d.datname, '*'), s.setconfig) FROM pg_db_role_setting s \
                 LEFT JOIN pg_database d ON d.oid = s.setdatabase",
                "SELECT format('database %s owner=%s acl=%s', datname, datdba::regrole, \
                 coalesce(datacl, acldefault('d'::\"char\", datdba))) \
                 FROM pg_database",
            ] {
                for row in pg.query(sql, &[]).await.expect("global snapshot") {
                    lines.push(row.get(0));
                }
            }
            for row in pg
                .query("SELECT rolname::text, rolpassword FROM pg_authid", &[])
                .await
                .expect("passwords")
            {
                let (name, pw): (String, Option<String>) = (row.get(0), row.get(1));
                let state = match pw {
                    None => "none",
                    Some(pw)
                        if self
                            .reference
                            .lock()
                            .expect("reference")
                            .iter()
                            .any(|(n, p)| *n == name && p.as_deref() == Some(pw.as_str())) =>
                    {
                        "same"
                    }
                    Some(_) => "new",
                };
                lines.push(format!("password {name}: {state}"));
            }
            for (db, client) in &self.su {
                for sql in [
                    "SELECT format('schema %s owner=%s acl=%s', nspname, nspowner::regrole, \
                     coalesce(nspacl, acldefault('n'::\"char\", nspowner))) FROM pg_namespace WHERE nspname NOT LIKE 'pg_temp%' \
                     AND nspname NOT LIKE 'pg_toast_temp%'",
                    "SELECT format('class %s.%s %s owner=%s acl=%s', n.nspname, c.relname, \
                     c.relkind, c.relowner::regrole, coalesce(c.relacl, acldefault((CASE c.relkind \
                     WHEN 'S' THEN 's' ELSE 'r' END)::\"char\", c.relowner))) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
                    "SELECT format('column %s.%s acl=%s', a.attrelid::regclass, a.attname, \
                     a.attacl) FROM pg_attribute a WHERE a.attacl IS NOT NULL",
                    "SELECT format('function %s owner=%s acl=%s', p.oid::regprocedure, \
                     p.proowner::regrole, coalesce(p.proacl, acldefault('f'::\"char\", p.proowner))) FROM pg_proc p \
                     JOIN pg_namespace n ON n.oid = p.pronamespace \
                     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')",
                    "SELECT format('default acl %s in %s on %s: %s', defaclrole::regrole, \
                     coalesce(defaclnamespace::regnamespace::text, '*'), defaclobjtype, \
                     defaclacl) FROM pg_default_acl",
                    "SELECT format('comment %s', pg_describe_object(classoid, objoid, objsubid)) \
                     || ': ' || description FROM pg_description WHERE objoid >= 16384",
                ] {
                    for row in client.query(sql, &[]).await.expect("database snapshot") {
                        let line: String = row.get(0);
                        lines.push(format!("[{db}] {line}"));
                    }
                }
                // Every table's row count, one query per table (`query_to_xml` would do it in
                // one, but needs a server built with libxml, which the PostgreSQL 18 wheels are
                // not).
                let tables = client
                    .query(
                        "SELECT c.oid::regclass::text FROM pg_class c \
                         JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', \
                         'information_schema', 'pg_toast')",
                        &[],
                    )
                    .await
                    .expect("tables");
                for row in tables {
                    let table: String = row.get(0);
                    let n: i64 = client
                        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                        .await
                        .expect("row count")
                        .get(0);
                    lines.push(format!("[{db}] rows {table}: {n}"));
                }
            }
            let mut lines: Vec<String> = lines.iter().map(|l| holder_names(l)).collect();
            lines.sort();
            lines.join("\n")
        })
    }

    /// The connector's secret (AWSCURRENT, or AWSPENDING by the source's fallback) logs in,
    /// directly.
    fn secret_logs_in(&self) {
        let Some((_, aws)) = &self.aws else { return };
        let source = SecretsManagerSource::new(aws, FLEET_SECRET)
            .expect("source")
            .with_user("apono_connector");
        let options = ConnectOptions::builder(self.cluster.host())
            .port(self.cluster.port())
            .dbname("postgres")
            .ssl_mode(SslMode::Disable)
            .build()
            .expect("options");
        self.rt
            .block_on(rds_pg_access::pg_auth::ping(&options, &source))
            .expect("the connector's secret must log in");
    }

    /// Back to the pristine cluster: every role created since is dropped with what it owns and
    /// was granted (as the superuser), every pristine password restored; checked.
    fn restore(&self) {
        self.rt.block_on(async {
            // Sessions of a cut attempt may still be ending.
            let pg = self.su("postgres");
            pg.batch_execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
                 AND usename <> current_user",
            )
            .await
            .expect("terminate");
            let roles: Vec<String> = pg
                .query("SELECT rolname::text FROM pg_authid", &[])
                .await
                .expect("roles")
                .iter()
                .map(|r| r.get::<_, String>(0))
                .filter(|r| !self.pristine_roles.contains(r))
                .collect();
            if !roles.is_empty() {
                let list = roles
                    .iter()
                    .map(|r| format!("\"{r}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                for (_, client) in &self.su {
                    client
                        .batch_execute(&format!("DROP OWNED BY {list} CASCADE"))
                        .await
                        .expect("drop owned");
                }
                pg.batch_execute(&format!("DROP ROLE {list}"))
                    .await
                    .expect("drop roles");
            }
            for (name, pw) in &self.pristine_passwords {
                if let Some(pw) = pw {
                    let sql = format!("ALTER ROLE \"{name}\" PASSWORD '{pw}'");
                    pg.batch_execute(&sql).await.expect("password");
                }
            }
        });
        let now = self.snapshot();
        assert!(
            now == self.pristine,
            "the restore left the cluster unlike its pristine self:\n{}",
            diff(&self.pristine, &now)
        );
    }
}

/// `line` with every holder role's random suffix (`rdspg_holder_` and 16 hex digits, new for
/// each revocation) as `rdspg_holder_<h>`: which holder a revocation made is not part of its
/// outcome, that the user's objects went to its holder is.
fn holder_names(line: &str) -> String {
    const PREFIX: &str = "rdspg_holder_";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(PREFIX) {
        let after = &rest[at + PREFIX.len()..];
        let hex = after.chars().take_while(char::is_ascii_hexdigit).count();
        out.push_str(&rest[..at + PREFIX.len()]);
        if hex == 16 {
            out.push_str("<h>");
            rest = &after[16..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The lines only in `a` (`-`) and only in `b` (`+`).
fn diff(a: &str, b: &str) -> String {
    let a: BTreeSet<&str> = a.lines().collect();
    let b: BTreeSet<&str> = b.lines().collect();
    let mut out = String::new();
    for l in a.difference(&b) {
        let _ = writeln!(out, "- {l}");
    }
    for l in b.difference(&a) {
        let _ = writeln!(out, "+ {l}");
    }
    out
}

/// The operations under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Grant,
    Revoke,
    Extend,
    Sweep,
    /// The connector's password rotation (Secrets Manager on moto, the PostgreSQL step
    /// through the proxy).
    Rotate,
}

/// What one run of an operation reported.
#[derive(Debug)]
struct Ran {
    complete: bool,
    /// Each failure's message and what it says about the change.
    failures: Vec<(String, Applied)>,
    /// A password was handed out.
    credential: bool,
}

fn failures<'a>(errors: impl Iterator<Item = &'a AccessError>) -> Vec<(String, Applied)> {
    errors
        .map(|e| (rds_pg_access::error_chain(e), e.applied()))
        .collect()
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Grant => "grant",
            Op::Revoke => "revoke",
            Op::Extend => "extend",
            Op::Sweep => "sweep",
            Op::Rotate => "rotate",
        }
    }

    /// The state the operation starts from, made without the proxy.
    fn setup(self, lab: &Lab) {
        let m = lab.direct(lab.t0);
        match self {
            Op::Grant => {
                // Another user's grant first: the steady state (marker, grantor, access roles
                // exist); `grant_first` below covers the first grant on an instance.
            }
            Op::Revoke | Op::Extend => {
                // For the revocation, admin: the user makes a table of its own.
                let request = if self == Op::Revoke {
                    common::access_request(
                        &m,
                        USER,
                        "req-1",
                        AccessLevel::Admin,
                        "1h",
                        &["appdb/inventory"],
                    )
                } else {
                    grant_request(&m, USER)
                };
                let out = lab.rt.block_on(m.grant(&request)).expect("grant");
                assert!(out.is_complete(), "{out:?}");
                if self == Op::Revoke {
                    // The user's own table: revocation must keep it and its row.
                    let pw = common::password_of(&out);
                    lab.cluster
                        .sql_as(
                            &common::as_user(USER, &pw),
                            "appdb",
                            "CREATE TABLE inventory.gina_notes (n text); \
                             INSERT INTO inventory.gina_notes VALUES ('kept')",
                        )
                        .expect("the user's table");
                }
            }
            Op::Rotate => {}
            Op::Sweep => {
                for user in swept() {
                    let out = lab
                        .rt
                        .block_on(m.grant(&grant_request(&m, user)))
                        .expect("grant");
                    assert!(out.is_complete(), "{out:?}");
                }
            }
        }
    }

    /// One run through `m`.
    fn run(self, lab: &Lab, m: &AccessManager) -> Ran {
        lab.rt.block_on(async {
            match self {
                Op::Grant => match m.grant(&grant_request(m, USER)).await {
                    // What a failed grant says it left: after its undo (`GrantOutcome::applied`).
                    Ok(out) => Ran {
                        complete: out.is_complete(),
                        failures: out
                            .instances
                            .failures()
                            .map(|(_, e)| {
                                (
                                    rds_pg_access::error_chain(e),
                                    out.applied().unwrap_or(Applied::Unknown),
                                )
                            })
                            .collect(),
                        credential: out.password.is_some(),
                    },
                    Err(e) => Ran {
                        complete: false,
                        failures: failures(std::iter::once(&e)),
                        credential: false,
                    },
                },
                Op::Revoke => match m.revoke(&USER.parse().expect("user")).await {
                    Ok(report) => Ran {
                        complete: report.all_ok(),
                        failures: failures(report.failures().map(|(_, e)| e)),
                        credential: false,
                    },
                    Err(e) => Ran {
                        complete: false,
                        failures: failures(std::iter::once(&e)),
                        credential: false,
                    },
                },
                Op::Extend => {
                    let until = time::OffsetDateTime::from(lab.t0) + time::Duration::hours(5);
                    let request =
                        rds_pg_access::ExtendRequest::new(USER.parse().expect("user"), until)
                            .request("req-1");
                    match m.extend(&request).await {
                        Ok(report) => Ran {
                            complete: report.all_ok()
                                && report
                                    .results
                                    .values()
                                    .all(|r| r.as_ref().is_ok_and(Option::is_some)),
                            failures: failures(report.failures().map(|(_, e)| e)),
                            credential: false,
                        },
                        Err(e) => Ran {
                            complete: false,
                            failures: failures(std::iter::once(&e)),
                            credential: false,
                        },
                    }
                }
                Op::Rotate => match m.rotate(true).await {
                    Ok(RotateOutcome::Rotated(report)) => Ran {
                        complete: report.finished && report.instances.all_ok(),
                        failures: failures(report.instances.failures().map(|(_, e)| e)),
                        credential: false,
                    },
                    Ok(RotateOutcome::Incomplete(report)) => Ran {
                        complete: false,
                        failures: failures(report.instances.failures().map(|(_, e)| e)),
                        credential: false,
                    },
                    Ok(other) => panic!("a forced rotation: {other:?}"),
                    Err(e) => Ran {
                        complete: false,
                        failures: vec![(rds_pg_access::error_chain(&e), Applied::Unknown)],
                        credential: false,
                    },
                },
                Op::Sweep => match m.sweep().await {
                    Ok(report) => {
                        let mut fails = failures(report.failures().map(|(_, e)| e));
                        let mut complete = report.all_ok();
                        for r in report.results.values().flatten() {
                            if r.skipped || !r.failed.is_empty() {
                                complete = false;
                            }
                            fails.extend(r.failed.iter().map(|f| {
                                (
                                    format!("{}: {}", f.user, rds_pg_access::error_chain(&f.error)),
                                    f.error.applied(),
                                )
                            }));
                        }
                        Ran {
                            complete,
                            failures: fails,
                            credential: false,
                        }
                    }
                    Err(e) => Ran {
                        complete: false,
                        failures: failures(std::iter::once(&e)),
                        credential: false,
                    },
                },
            }
        })
    }

    /// For a revocation (revoke, and each user of a sweep): the states a revocation passes
    /// through on purpose. Its steps commit one by one so that a revocation stopped anywhere
    /// keeps the user out (DESIGN.md, "Revocation": logins stop first, then the record ends,
    /// the connector acts for the user and its holder, privileges go database by database,
    /// objects go to the holder, the role goes), and a sweep revokes each user on its own. A
    /// state is such a checkpoint when, against "before" and "wanted":
    ///
    /// - nothing is lost: every table's row count is as before;
    /// - it fails closed: every revoked user still there is `NOLOGIN`, or untouched yet (its
    ///   role as before: a sweep revokes one user after the other);
    /// - nothing the operation keeps changed: no line of both "before" and "wanted" is gone;
    /// - every new line (in neither) is one of the steps: the user's role `NOLOGIN`, its record
    ///   (comment), the connector a member of the user or of a holder, a holder role, or an ACL
    ///   holding a subset of its entries before, the missing ones the revoked users'.
    ///
    /// Returns how many revoked users are gone, at a checkpoint and untouched, or `None` for
    /// a third state.
    fn checkpoint(self, before: &str, wanted: &str, after: &str) -> Option<String> {
        let users: Vec<&str> = match self {
            Op::Revoke => vec![USER],
            Op::Sweep => swept(),
            _ => return None,
        };
        let (b, w, a): (BTreeSet<&str>, BTreeSet<&str>, BTreeSet<&str>) = (
            before.lines().collect(),
            wanted.lines().collect(),
            after.lines().collect(),
        );
        if b.iter().any(|l| l.contains("] rows ") && !a.contains(l)) {
            return None;
        }
        if b.intersection(&w).any(|l| !a.contains(l)) {
            return None;
        }
        let acl = |l: &str| -> Option<(String, BTreeSet<String>)> {
            let open = l.find(" acl={")?;
            let close = l.rfind('}')?;
            let entries = l[open + 6..close]
                .split(',')
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect();
            Some((l[..open].to_owned(), entries))
        };
        let holder = "rdspg_holder_<h>";
        let (mut nologin, mut untouched) = (0, 0);
        for user in &users {
            let role = format!("role {user} ");
            if let Some(line) = a.iter().find(|l| l.starts_with(&role)) {
                if b.contains(line) {
                    // Not reached yet (a sweep revokes one user after the other).
                    untouched += 1;
                } else if line.contains(" login=f ") {
                    nologin += 1;
                } else {
                    return None;
                }
            }
        }
        for line in a.iter().filter(|l| !b.contains(*l) && !w.contains(*l)) {
            let step = users.iter().any(|u| {
                line.starts_with(&format!("role {u} "))
                    || line.starts_with(&format!("role comment {u}: "))
                    || line.starts_with(&format!("member apono_connector of {u} by "))
            }) || line.starts_with(&format!("member apono_connector of {holder} by "))
                || line.starts_with(&format!("role {holder} "))
                || line.starts_with(&format!("role comment {holder}: "))
                || line.starts_with(&format!("password {holder}: "))
                || acl(line).is_some_and(|(object, entries)| {
                    b.iter().filter_map(|l| acl(l)).any(|(o, was)| {
                        o == object
                            && entries.is_subset(&was)
                            && was
                                .difference(&entries)
                                .all(|e| users.iter().any(|u| e.starts_with(&format!("{u}="))))
                    })
                });
            if !step {
                return None;
            }
        }
        Some(format!(
            "{} of {} users gone, {nologin} at a checkpoint, {untouched} untouched",
            users.len() - nologin - untouched,
            users.len()
        ))
    }

    /// When the operation runs: the sweep after the grants expired.
    fn at(self, lab: &Lab) -> SystemTime {
        match self {
            Op::Sweep => lab.t0 + 2 * HOUR,
            _ => lab.t0 + Duration::from_secs(60),
        }
    }
}

fn grant_request(m: &AccessManager, user: &str) -> rds_pg_access::integration_model::AccessRequest {
    common::access_request(
        m,
        user,
        "req-1",
        AccessLevel::ReadWrite,
        "1h",
        &["appdb/inventory"],
    )
}

/// What every cut point of one operation gave.
#[derive(Debug, Default)]
struct Tally {
    round_trips: usize,
    tried: usize,
    before: usize,
    wanted: usize,
    reruns: usize,
    outcomes: std::collections::BTreeMap<String, usize>,
    /// Sweeps re-run more than once: the first re-run found the job lock still held by the
    /// cut session.
    skipped_reruns: usize,
    /// Revocation checkpoints (see [`Op::checkpoint`]): revoke and sweep only.
    checkpoints: usize,
    checkpoint_kinds: std::collections::BTreeMap<String, usize>,
    /// Third states and failed re-runs, each described (must stay empty).
    problems: Vec<String>,
    /// One line per cut point, for `RDSPG_FAULT_REPORT` (see [`report_points`]).
    points: Vec<String>,
}

/// Appends `tally`'s cut points to the file `RDSPG_FAULT_REPORT` names, when set: one
/// Markdown table row per cut point (version, operation, round trip, connection, request,
/// fault, the catalog's state after it, what the error said, whether the re-run completed),
/// the listing RELIABILITY.md points to.
fn report_points(tally: &Tally) {
    let Some(path) = std::env::var_os("RDSPG_FAULT_REPORT") else {
        return;
    };
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("RDSPG_FAULT_REPORT {}: {e}", path.to_string_lossy()));
    for line in &tally.points {
        writeln!(file, "{line}").expect("writing the fault report");
    }
}

/// Runs `op` clean, then cut at every round trip with each action; returns the tally.
fn every_round_trip(lab: &Lab, op: Op, first_grant: bool) -> Tally {
    let setup = |lab: &Lab| {
        if op == Op::Rotate {
            // Each attempt starts from the password the last one left (the secret's
            // AWSCURRENT): "same" is that one.
            lab.secret_logs_in();
            lab.rebase_passwords();
            return lab.snapshot();
        }
        lab.restore();
        if op == Op::Grant && !first_grant {
            let m = lab.direct(lab.t0);
            let out = lab
                .rt
                .block_on(m.grant(&grant_request(&m, "warm")))
                .expect("warm grant");
            assert!(out.is_complete(), "{out:?}");
        }
        op.setup(lab);
        lab.snapshot()
    };
    let label = format!(
        "PostgreSQL {} {}{}",
        lab.cluster.version(),
        op.name(),
        if first_grant { " (first)" } else { "" }
    );
    // The clean run, recorded.
    let before = setup(lab);
    lab.proxy.reset();
    let clean = op.run(lab, &lab.proxied(op.at(lab)));
    assert!(clean.complete, "{label}: the clean run failed: {clean:?}");
    let trace = lab.proxy.trace();
    let wanted = lab.snapshot();
    assert_ne!(before, wanted, "{label}: the clean run changed nothing");
    eprintln!(
        "{label}: {} round trips on {} connections recorded",
        trace.len(),
        trace.iter().map(|r| r.connection).max().unwrap_or(0)
    );
    let mut tally = Tally {
        round_trips: trace.len(),
        ..Tally::default()
    };
    for k in 1..=trace.len() {
        for action in [Action::Cut, Action::LoseAnswer] {
            let at = format!("{label}, round trip {k} {:?}, {action:?}", trace[k - 1]);
            let start = setup(lab);
            assert!(
                start == before,
                "{at}: the set-up is not the recorded one:\n{}",
                diff(&before, &start)
            );
            lab.proxy.reset();
            lab.proxy.arm(Fault::new(At::RoundTrip(k), action));
            let ran = op.run(lab, &lab.proxied(op.at(lab)));
            let fired = !lab.proxy.fired().is_empty();
            lab.proxy.disarm();
            let after = lab.snapshot();
            tally.tried += 1;
            let state = if after == before {
                tally.before += 1;
                "before"
            } else if after == wanted {
                tally.wanted += 1;
                "wanted"
            } else if let Some(checkpoint) = op.checkpoint(&before, &wanted, &after) {
                tally.checkpoints += 1;
                *tally.checkpoint_kinds.entry(checkpoint).or_default() += 1;
                "checkpoint"
            } else {
                tally.problems.push(format!(
                    "{at}: a third state (neither before nor wanted); ran {ran:?}\n\
                     against before:\n{}against wanted:\n{}",
                    diff(&before, &after),
                    diff(&wanted, &after)
                ));
                "other"
            };
            if !fired {
                assert!(ran.complete, "{at}: no fault fired, yet {ran:?}");
            }
            if ran.complete {
                if state != "wanted" {
                    tally.problems.push(format!(
                        "{at}: reported complete, the catalog is {state}:\n{}",
                        diff(&wanted, &after)
                    ));
                }
            } else {
                assert!(
                    !ran.failures.is_empty(),
                    "{at}: incomplete without an error"
                );
                assert!(
                    !ran.credential,
                    "{at}: a failed grant handed out a password"
                );
                for (message, applied) in &ran.failures {
                    if state != "before" && *applied == Applied::No {
                        tally.problems.push(format!(
                            "{at}: the catalog is {state}, the error says nothing changed: \
                             {message}"
                        ));
                    }
                    *tally
                        .outcomes
                        .entry(format!("{state}/{applied:?}"))
                        .or_default() += 1;
                }
            }
            // Whatever happened, the connector's secret still logs in.
            lab.secret_logs_in();
            // Again without faults: completes, and the catalog is the wanted one.
            lab.proxy.reset();
            let mut again = op.run(lab, &lab.proxied(op.at(lab)));
            // A sweep whose job lock was taken by the cut session reports itself skipped
            // ("another replica is sweeping") until the server has ended that session: the
            // re-run comes again, as the scheduler's next round would.
            let mut tries = 1;
            while op == Op::Sweep && !again.complete && again.failures.is_empty() && tries < 50 {
                std::thread::sleep(Duration::from_millis(100));
                again = op.run(lab, &lab.proxied(op.at(lab)));
                tries += 1;
            }
            if tries > 1 {
                tally.skipped_reruns += 1;
            }
            let end = lab.snapshot();
            let rt = &trace[k - 1];
            let said: Vec<String> = ran.failures.iter().map(|(_, a)| format!("{a:?}")).collect();
            tally.points.push(format!(
                "| {} | {}{} | {k} | {} | {:?} `{}` | {action:?} | {state} | {} | {} |",
                lab.cluster.version(),
                op.name(),
                if first_grant { " (first)" } else { "" },
                rt.connection,
                rt.kind,
                rt.statement
                    .as_deref()
                    .unwrap_or("")
                    .replace(['\n', '|'], " ")
                    .chars()
                    .take(48)
                    .collect::<String>(),
                if ran.complete {
                    "complete".to_owned()
                } else {
                    said.join(", ")
                },
                if end == wanted { "yes" } else { "no" },
            ));
            if end != wanted {
                tally.problems.push(format!(
                    "{at}: the re-run did not reach the wanted state ({again:?}):\n{}",
                    diff(&wanted, &end)
                ));
            } else if op == Op::Grant && !again.credential {
                // A re-run of a request the user holds always gets a new password: the
                // answer with the earlier one may have been lost.
                tally.problems.push(format!(
                    "{at}: the re-run completed the grant without handing out a password: \
                     {again:?}"
                ));
            } else if !(again.complete || (state != "before" && op != Op::Grant)) {
                tally
                    .problems
                    .push(format!("{at}: the re-run failed: {again:?}"));
            } else {
                tally.reruns += 1;
            }
        }
    }
    for p in &tally.problems {
        eprintln!("PROBLEM {p}");
    }
    report_points(&tally);
    tally
}

fn run_all(ops: &[(Op, bool)]) {
    for version in versions() {
        let lab = Lab::start(version);
        for &(op, first) in ops {
            let started = Instant::now();
            let tally = every_round_trip(&lab, op, first);
            eprintln!(
                "RESULT PostgreSQL {version} {}{}: {} round trips, {} cut points, before {}, \
                 wanted {}, other (third states) {}, reruns {}, outcomes {:?}, {:.1} s",
                op.name(),
                if first { " (first)" } else { "" },
                tally.round_trips,
                tally.tried,
                tally.before,
                tally.wanted,
                tally.tried - tally.before - tally.wanted - tally.checkpoints,
                tally.reruns,
                tally.outcomes,
                started.elapsed().as_secs_f64()
            );
            eprintln!(
                "RESULT   checkpoints {} {:?}, re-runs skipped first {}",
                tally.checkpoints, tally.checkpoint_kinds, tally.skipped_reruns
            );
            assert!(
                tally.problems.is_empty(),
                "{} problems (above)",
                tally.problems.len()
            );
            assert_eq!(tally.tried, 2 * tally.round_trips);
            assert_eq!(tally.before + tally.wanted + tally.checkpoints, tally.tried);
        }
    }
}

#[test]
fn grant_cut_at_every_round_trip() {
    run_all(&[(Op::Grant, true), (Op::Grant, false)]);
}

#[test]
fn revoke_cut_at_every_round_trip() {
    run_all(&[(Op::Revoke, false)]);
}

#[test]
fn extend_cut_at_every_round_trip() {
    run_all(&[(Op::Extend, false)]);
}

#[test]
fn sweep_of_expired_users_cut_at_every_round_trip() {
    run_all(&[(Op::Sweep, false)]);
}

/// The rotation on the fleet fixture's instance A (PostgreSQL 15: the fixture starts that
/// version), its secret on moto.
#[test]
fn rotation_cut_at_every_round_trip() {
    let fleet = MotoFleet::builder()
        .start()
        .unwrap_or_else(|e| panic!("moto_server and PostgreSQL are required: {e}"));
    let MotoFleet { moto, a, .. } = fleet;
    let aws = moto.sdk_config();
    let lab = Lab::on(a, Some((moto, aws)));
    let started = Instant::now();
    let tally = every_round_trip(&lab, Op::Rotate, false);
    eprintln!(
        "RESULT PostgreSQL {} rotate: {} round trips, {} cut points, before {}, wanted {}, \
         other {}, reruns {}, outcomes {:?}, {:.1} s",
        lab.cluster.version(),
        tally.round_trips,
        tally.tried,
        tally.before,
        tally.wanted,
        tally.tried - tally.before - tally.wanted,
        tally.reruns,
        tally.outcomes,
        started.elapsed().as_secs_f64()
    );
    assert!(
        tally.problems.is_empty(),
        "{} problems (above)",
        tally.problems.len()
    );
    assert_eq!(tally.tried, 2 * tally.round_trips);
    assert_eq!(tally.before + tally.wanted, tally.tried);
}

/// Regression (found by the enumeration above): the answer to a new user's `CREATE ROLE`
/// COMMIT lost left the user (LOGIN, a password nobody was given) because the failed grant did
/// not know it had created it; and a failed first grant on an instance left the marker role it
/// had created in a transaction of its own. Now the marker is created in the user's
/// transaction, the grant undoes a user whose creation's outcome is unknown, and the undo drops
/// the marker it created when nobody holds it: after every lost COMMIT of a first grant the
/// cluster is exactly as it was, no password is handed out, and the re-run hands out one that
/// logs in.
#[test]
fn a_first_grant_whose_commit_answer_is_lost_leaves_the_instance_as_it_was() {
    first_grant_with_a_lost_commit_answer(15);
}

/// Regression (found by the enumeration on PostgreSQL 17): a first grant through an access role
/// whose privileges `COMMIT`'s answer was lost left the access role and the grantor role it had
/// created (the undo dropped the user, so nobody held them) and said nothing had changed. Now
/// the undo drops the request's access roles that nobody holds, and the grantor role when it is
/// left administering none (under its lock, which every transaction giving it an access role
/// takes).
#[test]
fn a_first_grant_through_an_access_role_whose_commit_answer_is_lost_leaves_the_instance_as_it_was()
{
    first_grant_with_a_lost_commit_answer(17);
}

/// A first grant on the pristine cluster through the proxy, clean: the catalog it leaves
/// ("wanted") and the round trips of its `COMMIT`s (the user's creation, its privileges, its
/// login), where the tests below put their faults.
fn clean_first_grant(lab: &Lab) -> (String, Vec<usize>) {
    lab.restore();
    lab.proxy.reset();
    let clean = Op::Grant.run(lab, &lab.proxied(Op::Grant.at(lab)));
    assert!(clean.complete, "{clean:?}");
    let commits: Vec<usize> = lab
        .proxy
        .trace()
        .iter()
        .filter(|r| r.statement.as_deref() == Some("COMMIT"))
        .map(|r| r.index)
        .collect();
    assert!(
        commits.len() >= 2,
        "the user's creation and its privileges: {commits:?}"
    );
    (lab.snapshot(), commits)
}

fn first_grant_with_a_lost_commit_answer(version: u32) {
    let lab = Lab::start(version);
    let (wanted, commits) = clean_first_grant(&lab);
    for k in commits {
        lab.restore();
        lab.proxy.reset();
        lab.proxy
            .arm(Fault::new(At::RoundTrip(k), Action::LoseAnswer));
        let ran = Op::Grant.run(&lab, &lab.proxied(Op::Grant.at(&lab)));
        if ran.complete {
            // A lost answer the library recovered from (the login's enabling, the last step,
            // is repeated on a new connection): then the grant is whole, exactly as wanted.
            assert!(ran.credential, "COMMIT {k}: {ran:?}");
            let after = lab.snapshot();
            assert!(
                after == wanted,
                "COMMIT {k}: a complete grant left:\n{}",
                diff(&wanted, &after)
            );
            continue;
        }
        assert!(!ran.credential, "COMMIT {k}: {ran:?}");
        assert!(
            ran.failures.iter().all(|(_, a)| *a == Applied::No),
            "COMMIT {k}: undone, so nothing changed: {ran:?}"
        );
        let after = lab.snapshot();
        assert!(
            after == lab.pristine,
            "COMMIT {k}: the failed grant left:\n{}",
            diff(&lab.pristine, &after)
        );
        lab.proxy.reset();
        let m = lab.proxied(Op::Grant.at(&lab));
        let out = lab
            .rt
            .block_on(m.grant(&grant_request(&m, USER)))
            .expect("grant");
        assert!(out.is_complete(), "COMMIT {k}: {out:?}");
        let password = common::password_of(&out);
        lab.cluster
            .sql_as(&common::as_user(USER, &password), "appdb", "SELECT 1")
            .unwrap_or_else(|e| panic!("COMMIT {k}: the re-run's password logs in: {e}"));
    }
}

/// Regression (found by the enumeration on PostgreSQL 17): a sweep cut while it aged the access
/// roles left without members (its last step, `sweep_access_roles`) reported itself complete:
/// the lost connection was filed as one database's roles "not swept" beside a clean result.
/// Now a server that stops answering fails the instance's sweep (its users' revocations stay
/// reported in the audit), and the next sweep finishes the aging.
#[test]
fn a_sweep_cut_while_aging_access_roles_says_it_did_not_finish() {
    let lab = Lab::start(17);
    let run = |lab: &Lab| Op::Sweep.run(lab, &lab.proxied(Op::Sweep.at(lab)));
    lab.restore();
    Op::Sweep.setup(&lab);
    lab.proxy.reset();
    let clean = run(&lab);
    assert!(clean.complete, "{clean:?}");
    let wanted = lab.snapshot();
    // The aging's transaction is the sweep's last: its COMMIT is the last round trip.
    let last_commit = lab
        .proxy
        .trace()
        .iter()
        .rev()
        .find(|r| r.statement.as_deref() == Some("COMMIT"))
        .map(|r| r.index)
        .expect("a COMMIT");
    for action in [Action::Cut, Action::LoseAnswer] {
        lab.restore();
        Op::Sweep.setup(&lab);
        lab.proxy.reset();
        lab.proxy
            .arm(Fault::new(At::RoundTrip(last_commit), action));
        let ran = run(&lab);
        lab.proxy.disarm();
        let after = lab.snapshot();
        if action == Action::Cut {
            assert!(
                !ran.complete,
                "{action:?}: a sweep whose last step was cut reported itself complete"
            );
            assert!(
                ran.failures.iter().all(|(_, a)| *a != Applied::No),
                "{action:?}: the users were revoked, so not `No`: {ran:?}"
            );
            assert_ne!(after, wanted, "{action:?}: the cut step did not run");
        }
        // Whatever it said, the next sweep finishes it.
        lab.proxy.reset();
        let again = run(&lab);
        assert!(again.complete, "{action:?}: {again:?}");
        let end = lab.snapshot();
        assert!(end == wanted, "{action:?}:\n{}", diff(&wanted, &end));
    }
}

/// The fault kinds the enumeration does not use, on a real operation (PostgreSQL 15, a first
/// grant): connections refused; a reset (RST) at each `COMMIT`; and each of the last two
/// `COMMIT`s (the privileges, the login's enabling) stalled past the instance's time budget
/// and delivered to the server after the grant gave up, while its undo runs. Each time: no
/// password handed out by a failed grant, no `No` for a change, once the stall is over the
/// catalog is as it was or as wanted, and a re-run completes with a password that logs in.
#[test]
fn a_grant_meets_refused_connections_resets_and_stalls() {
    let lab = Lab::start(15);
    let (wanted, commits) = clean_first_grant(&lab);
    let budget = Duration::from_secs(3);
    let stall = Duration::from_secs(5);
    let check = |what: &str, ran: &Ran| {
        let after = lab.snapshot();
        let state = if after == lab.pristine {
            "before"
        } else if after == wanted {
            "wanted"
        } else {
            panic!(
                "{what}: a third state ({ran:?}):\n{}",
                diff(&wanted, &after)
            );
        };
        if ran.complete {
            assert_eq!(state, "wanted", "{what}");
            assert!(ran.credential, "{what}: {ran:?}");
        } else {
            assert!(
                !ran.credential,
                "{what}: a failed grant handed out a password"
            );
            assert!(
                !ran.failures.is_empty(),
                "{what}: incomplete without an error"
            );
            if state != "before" {
                assert!(
                    ran.failures.iter().all(|(_, a)| *a != Applied::No),
                    "{what}: the catalog changed, the error says it did not: {ran:?}"
                );
            }
        }
        // Again, without faults: complete, and the password logs in.
        lab.proxy.reset();
        let m = lab.proxied(Op::Grant.at(&lab));
        let out = lab
            .rt
            .block_on(m.grant(&grant_request(&m, USER)))
            .expect("grant");
        assert!(out.is_complete(), "{what}: the re-run: {out:?}");
        let end = lab.snapshot();
        assert!(
            end == wanted,
            "{what}: the re-run left:\n{}",
            diff(&wanted, &end)
        );
        let password = common::password_of(&out);
        lab.cluster
            .sql_as(&common::as_user(USER, &password), "appdb", "SELECT 1")
            .unwrap_or_else(|e| panic!("{what}: the re-run's password logs in: {e}"));
        state
    };
    // Refused connections: nothing is tried, nothing changes, the error says so.
    lab.restore();
    lab.proxy.reset();
    lab.proxy.refuse_connections(true);
    let ran = Op::Grant.run(&lab, &lab.proxied(Op::Grant.at(&lab)));
    lab.proxy.refuse_connections(false);
    assert!(lab.proxy.refused() > 0);
    assert!(!ran.complete, "{ran:?}");
    assert_eq!(check("refused connections", &ran), "before");
    for &k in &commits {
        lab.restore();
        lab.proxy.reset();
        lab.proxy.arm(Fault::new(At::RoundTrip(k), Action::Reset));
        let ran = Op::Grant.run(&lab, &lab.proxied(Op::Grant.at(&lab)));
        lab.proxy.disarm();
        let state = check(&format!("reset at COMMIT {k}"), &ran);
        eprintln!("reset at COMMIT {k}: {state}, {ran:?}");
    }
    for &k in commits.iter().rev().take(2) {
        lab.restore();
        lab.proxy.reset();
        lab.proxy
            .arm(Fault::new(At::RoundTrip(k), Action::Stall(stall)));
        let m = lab.proxied(Op::Grant.at(&lab)).with_options(
            ManagerOptions::default()
                .connect_timeout(Duration::from_secs(5))
                .instance_timeout(budget),
        );
        let started = Instant::now();
        let ran = Op::Grant.run(&lab, &m);
        // The stalled COMMIT reaches the server in the end: judge the catalog after it.
        std::thread::sleep((stall + Duration::from_secs(1)).saturating_sub(started.elapsed()));
        lab.proxy.disarm();
        let state = check(&format!("COMMIT {k} stalled {stall:?}"), &ran);
        eprintln!("COMMIT {k} stalled: {state}, {ran:?}");
    }
}
