//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub)]

use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{
    AccessLevel, Grant, GrantsError, ManagedRecord, NoticeLog, Scope, Session, drive_connection,
};
use pg_testkit::rds;
use pg_testkit::{Credentials, TestCluster};
use secrecy::ExposeSecret;
use time::macros::datetime;
use tokio_postgres::{Client, NoTls};

/// An identifier the test knows to be valid.
pub fn id(s: &str) -> Ident {
    Ident::new(s).expect("valid identifier in test")
}

/// One connection being opened by [`connector_for`].
pub type Connecting<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Client, GrantsError>> + Send + 'a>>;

/// Connects as the connector to any database of `cluster`, except those in `unreachable`
/// (a simulated network failure).
pub fn connector_except<'a>(
    cluster: &'a TestCluster,
    unreachable: &'a [&'a str],
) -> impl Fn(String) -> Connecting<'a> + Send + Sync + 'a {
    move |db: String| -> Connecting<'a> {
        let conn = cluster.conn_string(cluster.connector(), &db);
        let down = unreachable.contains(&db.as_str());
        Box::pin(async move {
            if down {
                return Err(GrantsError::Connect {
                    database: db,
                    source: "network unreachable (simulated)".into(),
                });
            }
            let (client, connection) =
                tokio_postgres::connect(&conn, NoTls)
                    .await
                    .map_err(|e| GrantsError::Connect {
                        database: db,
                        source: Box::new(e),
                    })?;
            tokio::spawn(connection);
            Ok(client)
        })
    }
}

/// Connects as the connector to any database of `cluster`.
pub fn connector_for<'a>(
    cluster: &'a TestCluster,
) -> impl Fn(String) -> Connecting<'a> + Send + Sync + 'a {
    connector_except(cluster, &[])
}

/// A connection with its notice log; the driver task ends when the client drops.
pub struct Conn {
    pub client: Client,
    pub notices: NoticeLog,
}

pub async fn connect(cluster: &TestCluster, creds: &Credentials, db: &str) -> Conn {
    let (client, connection) = tokio_postgres::connect(&cluster.conn_string(creds, db), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting as {} to {db}: {e}", creds.user));
    let (notices, _task) = drive_connection(connection);
    Conn { client, notices }
}

/// Tries to connect; the error text on failure.
pub async fn try_connect(
    cluster: &TestCluster,
    user: &str,
    password: &str,
    db: &str,
) -> Result<Client, String> {
    let creds = Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    };
    match tokio_postgres::connect(&cluster.conn_string(&creds, db), NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Ok(client)
        }
        Err(e) => Err(e.to_string()),
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn start(version: u32, log_statements: bool) -> TestCluster {
    TestCluster::builder()
        .version(version)
        .rds_emulation(true)
        .log_statements(log_statements)
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL {version}: {e}"))
}

/// Runs SQL as the bootstrap superuser.
pub fn su(cluster: &TestCluster, db: &str, sql: &str) -> String {
    cluster
        .sql(db, sql)
        .unwrap_or_else(|e| panic!("superuser SQL failed: {sql}: {e}"))
}

/// The server's error text of a failed statement ("" when it succeeded).
pub async fn try_sql(client: &Client, sql: &str) -> Result<(), String> {
    client.batch_execute(sql).await.map_err(|e| {
        e.as_db_error()
            .map(|d| format!("{}: {}", d.code().code(), d.message()))
            .unwrap_or_else(|| e.to_string())
    })
}

/// Creates a managed password role and returns its password.
pub async fn new_user(s: &Session<'_>, name: &str, level: AccessLevel) -> String {
    try_new_user(s, name, level)
        .await
        .expect("creating a test role")
}

/// As [`new_user`], returning the library's refusal.
pub async fn try_new_user(
    s: &Session<'_>,
    name: &str,
    level: AccessLevel,
) -> Result<String, GrantsError> {
    let pw = Password::generate();
    let rec = ManagedRecord::new(
        format!("req-{name}"),
        level,
        datetime!(2099-01-01 0:00 UTC),
        rds::CONNECTOR,
    );
    s.create_role(&NewRole::new(
        id(name),
        LoginAuth::Password(pw.clone()),
        rec,
    ))
    .await?;
    Ok(pw.expose().expose_secret().to_owned())
}

/// Lets the connector act for the sample objects' owners, running the fix SQL the library
/// reported (so the test also proves that SQL is sufficient on this version).
pub async fn fix_owners(cluster: &TestCluster, s: &Session<'_>) -> Vec<String> {
    new_user(s, "probe", AccessLevel::ReadOnly).await;
    let err = s
        .apply(
            &id("probe"),
            &[Grant::new(Scope::Database, AccessLevel::Admin)],
        )
        .await
        .expect_err("granting before the owner fixes must fail");
    let GrantsError::OwnerMembershipMissing { fixes } = err else {
        panic!("expected missing owner memberships, got {err}");
    };
    // Nothing was granted.
    assert_eq!(
        su(
            cluster,
            rds::APP_DB,
            "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = 'probe'::regrole"
        ),
        "0"
    );
    let mut sql: Vec<(String, String)> = fixes
        .iter()
        .map(|f| (f.fix_sql.clone(), f.database.clone()))
        .collect();
    sql.sort();
    sql.dedup();
    for (stmt, db) in &sql {
        // Memberships are cluster-wide, grant options per database: run each where reported.
        su(cluster, db, stmt);
    }
    sql.into_iter().map(|(s, _)| s).collect()
}

/// Runs SQL as the master user (`SET ROLE` in a superuser session: the grantor recorded is the
/// master, as on RDS where the master runs it).
pub fn as_master(cluster: &TestCluster, db: &str, sql: &str) -> String {
    su(cluster, db, &format!("SET ROLE {}; {sql}", rds::MASTER))
}

/// Whether `role` exists and may log in: `"t"`, `"f"`, or `""` when it does not exist.
pub fn can_login(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'"),
    )
}

/// The roles `role` is a member of, then `|`, then its members, each sorted and comma-separated.
pub fn memberships(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT coalesce((SELECT string_agg(roleid::regrole::text, ',' ORDER BY 1) \
                                FROM pg_auth_members WHERE member = '{role}'::regrole), '') \
                    || '|' || \
                    coalesce((SELECT string_agg(DISTINCT member::regrole::text, ',' ORDER BY member::regrole::text) \
                                FROM pg_auth_members WHERE roleid = '{role}'::regrole), '')"
        ),
    )
}

/// The ACL entries naming `role` anywhere on the server (`pg_shdepend` `'a'` rows: as grantee
/// or grantor, on objects of any database and on shared objects).
pub fn acl_entries(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass \
             AND refobjid = '{role}'::regrole AND deptype = 'a'"
        ),
    )
}

/// Who holds `user`'s privileges of `grant` in `s`'s database: the grant's access role on
/// PostgreSQL 16+ (see `pg_grants::access`), `user` itself before.
#[allow(dead_code)]
pub fn grantee(s: &Session<'_>, user: &str, grant: &Grant) -> String {
    if s.uses_access_roles() {
        s.access_role_of(grant)
            .expect("the default prefix leaves room")
            .name
            .to_string()
    } else {
        user.to_owned()
    }
}

/// Read-only on schema `sales`.
pub fn sales_ro() -> Grant {
    Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly)
}

/// Read-only on schema `inventory`.
pub fn inventory_ro() -> Grant {
    Grant::new(Scope::Schema(id("inventory")), AccessLevel::ReadOnly)
}

/// A session as the connector on `c`, collecting its notices, with the owners' objects made
/// grantable to it ([`fix_owners`]).
pub async fn owner_fixed_session<'a>(cluster: &TestCluster, c: &'a Conn) -> Session<'a> {
    let s = Session::new(&c.client, pg_grants::Settings::default())
        .await
        .expect("a session as the connector")
        .with_notices(c.notices.clone());
    fix_owners(cluster, &s).await;
    s
}

/// `member:grantor:admin,inherit,set` of every membership in `role`, sorted.
pub fn members_of(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT string_agg(x, ' ' ORDER BY x) FROM (SELECT m.member::regrole::text || ':' \
             || m.grantor::regrole::text || ':' || m.admin_option || ',' || m.inherit_option || ',' \
             || m.set_option AS x FROM pg_auth_members m WHERE m.roleid = '{role}'::regrole) s"
        ),
    )
}
