//! A grantee who turns hostile plants functions, operators and views on the connector's
//! `search_path`; none of them may ever run as the connector.
//!
//! The attack: PostgreSQL resolves an unqualified function, operator, type or relation through
//! `search_path`, and picks the *best-matching* candidate over all of its schemas. The
//! connector's default path is `"$user", public` (with `pg_catalog` implicitly first). A grantee
//! with `CREATE` on the database creates a schema named like the connector; one with `CREATE` on
//! `public` plants there. A look-alike such as `hashtextextended(text, integer)` then matches
//! `hashtextextended('key', 0)` better than `pg_catalog.hashtextextended(text, bigint)` and runs
//! with the connector's rights (`CREATEROLE`, `rds_superuser`).
//!
//! The test, per server version:
//!
//! 1. runs every operation of the library once, with statement logging on;
//! 2. harvests every statement the connector sent from the server log and *generates* from
//!    that text the list of functions called, operators used (also the ones `IN`, `LIKE`,
//!    `CASE x WHEN` … resolve), relations read and cast types, so a new call in the code is
//!    covered without touching this test;
//! 3. as the hostile grantee, plants look-alikes of each of them in `public` and in a schema
//!    named like the connector: every `pg_catalog` overload mirrored, and variants with each
//!    argument changed to `text`, `name`, `varchar`, `integer`, `bigint`, `oid`,
//!    `anyelement`, `regrole`, …; every operator over those types; views named like the
//!    catalogs. Each look-alike writes a marker to the server log (`RAISE LOG`, which survives
//!    a rollback) naming the role it runs as;
//! 4. runs every operation again, with the default path and with the path
//!    `"$user", public, pg_catalog` (the world before connections pinned it: `pg_catalog`
//!    searched last), and asserts:
//!    * statically: every call is `pg_catalog.`-qualified, every operator is
//!      `OPERATOR(pg_catalog.…)`, every relation and cast type is `pg_catalog.`-qualified;
//!    * dynamically: no marker was logged by the connector, while a control shows the
//!      look-alikes do run for a session that resolves names the unqualified way.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use pg_grants::password::Password;
use pg_grants::quote::{Ident, QualifiedName};
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{AccessLevel, Grant, GrantsError, ManagedRecord, Scope, Session, Settings};
use pg_testkit::{ALL_VERSIONS, Credentials, TestCluster, for_each_version, rds};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};
use tokio_postgres::NoTls;

/// What every planted look-alike writes to the server log when it runs.
const MARK: &str = "rdspg-planted-ran";
/// The hostile grantee.
const MALLORY: &str = "mallory";
/// The search path of connections before they pinned it: `pg_catalog` searched last.
const HOSTILE_PATH: &str = "\"$user\",public,pg_catalog";

fn id(s: &str) -> Ident {
    Ident::new(s).expect("valid identifier in test")
}

// ---------------------------------------------------------------------------------------------
// Connections

async fn connect_with(
    cluster: &TestCluster,
    creds: &Credentials,
    db: &str,
    search_path: Option<&str>,
) -> Result<Conn, String> {
    let mut config: tokio_postgres::Config = cluster
        .conn_string(creds, db)
        .parse()
        .map_err(|e| format!("{e}"))?;
    if let Some(path) = search_path {
        config.options(format!("-c search_path={path}"));
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| format!("connecting as {} to {db}: {e}", creds.user))?;
    let (notices, _task) = pg_grants::drive_connection(connection);
    Ok(Conn { client, notices })
}

type Connector<'a> = Box<
    dyn Fn(
            String,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<tokio_postgres::Client, GrantsError>>
                    + Send
                    + 'a,
            >,
        > + Send
        + Sync
        + 'a,
>;

/// Connects as the connector to other databases, with the same search path.
fn connector_for<'a>(cluster: &'a TestCluster, search_path: Option<&'a str>) -> Connector<'a> {
    Box::new(move |db: String| {
        Box::pin(async move {
            connect_with(cluster, cluster.connector(), &db, search_path)
                .await
                .map(|c| c.client)
                .map_err(|e| GrantsError::Connect {
                    database: db,
                    source: e.into(),
                })
        })
    })
}

fn record(level: AccessLevel, hours: i64) -> ManagedRecord {
    ManagedRecord::new(
        "req-hostile",
        level,
        OffsetDateTime::now_utc() + Duration::hours(hours),
        rds::CONNECTOR,
    )
}

/// Records a failed operation (the test goes on, so that every planted function gets its
/// chance to run; failures are asserted at the end).
fn note<T, E: std::fmt::Display>(
    errors: &mut Vec<String>,
    what: &str,
    r: Result<T, E>,
) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(format!("{what}: {e}"));
            None
        }
    }
}

/// Lets the connector act for every owner in the session's database, running the fix SQL the
/// library reports (as an administrator would). The error of a failed plan, if any.
async fn allow_owners(cluster: &TestCluster, s: &Session<'_>) -> Option<String> {
    let probe = id("rdspg_check_probe");
    match s
        .plan(&probe, &[Grant::new(Scope::Database, AccessLevel::Admin)])
        .await
    {
        Err(GrantsError::OwnerMembershipMissing { fixes }) => {
            let mut sql: Vec<(String, String)> = fixes
                .iter()
                .map(|f| (f.fix_sql.clone(), f.database.clone()))
                .collect();
            sql.sort();
            sql.dedup();
            for (stmt, db) in sql {
                su(cluster, &db, &stmt);
            }
            None
        }
        Ok(_) => None,
        Err(e) => Some(format!("planning for the probe in {}: {e}", s.database())),
    }
}

// ---------------------------------------------------------------------------------------------
// The operations

/// Runs every operation of the library that sends SQL, as the connector, with `search_path`
/// set on its connections (none: the server default). Returns the failures.
async fn operations(cluster: &TestCluster, search_path: Option<&str>, tag: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let e = &mut errors;
    let (c, c2) = match (
        connect_with(cluster, cluster.connector(), rds::APP_DB, search_path).await,
        connect_with(cluster, cluster.connector(), rds::OTHER_DB, search_path).await,
    ) {
        (Ok(c), Ok(c2)) => (c, c2),
        (a, b) => {
            return vec![format!("connecting: {:?} {:?}", a.err(), b.err())];
        }
    };
    // A marker role of its own per round, so that creating the marker runs in every round too.
    let settings = Settings::default().marker_role(id(&format!("rdspg_managed_{tag}")));
    note(
        e,
        "ServerRules::detect",
        pg_grants::ServerRules::detect(&c.client).await,
    );
    let Some(s) = note(
        e,
        "session",
        Session::new(&c.client, settings.clone()).await,
    ) else {
        return errors;
    };
    let s = s.with_notices(c.notices.clone());
    let Some(s2) = note(
        e,
        "session 2",
        Session::new(&c2.client, settings.clone()).await,
    ) else {
        return errors;
    };
    let s2 = s2.with_notices(c2.notices.clone());

    // Roles: password and IAM.
    let user = id(&format!("user_{tag}"));
    let iam = id(&format!("iam_{tag}"));
    note(
        e,
        "create password role",
        s.create_role(&NewRole::new(
            user.clone(),
            LoginAuth::Password(Password::generate()),
            record(AccessLevel::ReadWrite, 8),
        ))
        .await,
    );
    note(
        e,
        "create IAM role",
        s.create_role(&NewRole::new(
            iam.clone(),
            LoginAuth::Iam,
            record(AccessLevel::ReadOnly, 8),
        ))
        .await,
    );

    // Grants at every level and scope, following new tables.
    let grants = [
        Grant::new(Scope::Database, AccessLevel::ReadOnly),
        // Following new tables of app_owner (on 16+ the master, who created the connector, cannot
        // be followed).
        Grant::new(Scope::Schema(id(rds::INVENTORY_SCHEMA)), AccessLevel::Admin)
            .follow_new_tables(true),
        Grant::new(
            Scope::Table(QualifiedName::new(
                id(rds::SALES_SCHEMA),
                id(rds::ORDERS_TABLE),
            )),
            AccessLevel::ReadWrite,
        ),
    ];
    note(e, "apply", s.apply(&user, &grants).await);
    if let Some(p) = note(e, "plan", s.plan(&user, &grants).await)
        && !p.is_empty()
    {
        e.push(format!("plan after apply is not empty: {p}"));
    }
    note(e, "inspect", s.inspect(&user, &grants).await);
    note(
        e,
        "apply IAM",
        s.apply(
            &iam,
            &[Grant::new(
                Scope::Schema(id(rds::SALES_SCHEMA)),
                AccessLevel::ReadOnly,
            )],
        )
        .await,
    );
    note(
        e,
        "apply in analytics",
        s2.apply(
            &user,
            &[Grant::new(
                Scope::Schema(id(rds::REPORTS_SCHEMA)),
                AccessLevel::ReadOnly,
            )],
        )
        .await,
    );

    // Lifecycle.
    note(
        e,
        "set_expiry",
        s.set_expiry(&user, OffsetDateTime::now_utc() + Duration::hours(2))
            .await,
    );
    note(
        e,
        "set_password",
        s.set_password(&user, &Password::generate()).await,
    );
    note(e, "rotate_password", s.rotate_password(&user).await);
    let own = Password::from_secret(SecretString::from(cluster.connector().password.clone()));
    note(e, "set_own_password", s.set_own_password(&own).await);
    note(e, "managed_roles", s.managed_roles().await);
    note(
        e,
        "expired_roles",
        s.expired_roles(OffsetDateTime::now_utc()).await,
    );

    // Inventory and jobs.
    note(e, "databases", s.databases().await);
    for session in [&s, &s2] {
        use futures_util::TryStreamExt;
        match session.inventory().await {
            Ok(items) => {
                futures_util::pin_mut!(items);
                loop {
                    match items.try_next().await {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(err) => {
                            e.push(format!("inventory item: {err}"));
                            break;
                        }
                    }
                }
            }
            Err(err) => e.push(format!("inventory: {err}")),
        }
    }
    let job = format!("sweep-{tag}");
    if note(e, "try_job_lock", s.try_job_lock(&job).await) != Some(true) {
        e.push("try_job_lock did not get the free lock".into());
    }
    // Who holds a lock (asked when a job lock is busy): nobody else here.
    if note(e, "job_lock_holders", s.job_lock_holders(&job).await).is_some_and(|h| !h.is_empty()) {
        e.push("job_lock_holders found a holder of a lock nobody else holds".into());
    }
    note(e, "release_job_lock", s.release_job_lock(&job).await);

    // Revocation of a role owning objects in two databases.
    let leaver = id(&format!("leaver_{tag}"));
    let pw = Password::generate();
    note(
        e,
        "create leaver",
        s.create_role(&NewRole::new(
            leaver.clone(),
            LoginAuth::Password(pw.clone()),
            record(AccessLevel::Admin, 8),
        ))
        .await,
    );
    note(
        e,
        "apply leaver",
        s.apply(
            &leaver,
            &[Grant::new(
                Scope::Schema(id(rds::SALES_SCHEMA)),
                AccessLevel::Admin,
            )],
        )
        .await,
    );
    note(
        e,
        "apply leaver in analytics",
        s2.apply(
            &leaver,
            &[Grant::new(
                Scope::Schema(id(rds::REPORTS_SCHEMA)),
                AccessLevel::Admin,
            )],
        )
        .await,
    );
    let pw = pw.expose().expose_secret().to_owned();
    for (db, schema) in [
        (rds::APP_DB, rds::SALES_SCHEMA),
        (rds::OTHER_DB, rds::REPORTS_SCHEMA),
    ] {
        match try_connect(cluster, leaver.as_str(), &pw, db).await {
            Ok(client) => {
                let sql = format!(
                    "CREATE TABLE {schema}.notes_{tag} (id int); INSERT INTO {schema}.notes_{tag} VALUES (1)"
                );
                note(
                    e,
                    "leaver creates a table",
                    client.batch_execute(&sql).await,
                );
            }
            Err(err) => e.push(format!("leaver logs in to {db}: {err}")),
        }
    }
    let databases = connector_for(cluster, search_path);
    if let Some(report) = note(e, "revoke leaver", s.revoke_role(&leaver, &databases).await)
        && (!report.dropped || report.databases.len() < 2)
    {
        e.push(format!("revoke leaver: {report:?}"));
    }
    note(e, "revoke IAM role", s.revoke_role(&iam, &databases).await);
    errors
}

// ---------------------------------------------------------------------------------------------
// The server log

/// `log_line_prefix` of the test clusters: the session user, so that the connector's statements
/// can be told from everyone else's.
const PREFIX: &str = "log_line_prefix = '<<%u>> '";

/// The log's entries as (session user, message); continuation lines (multi-line statements)
/// are joined to their entry.
fn log_entries(log: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in log.lines() {
        if let Some((user, msg)) = line.strip_prefix("<<").and_then(|r| r.split_once(">> ")) {
            out.push((user.to_owned(), msg.to_owned()));
            continue;
        }
        if let Some(last) = out.last_mut() {
            last.1.push('\n');
            last.1.push_str(line);
        }
    }
    out
}

/// Every statement the connector sent (simple and extended protocol).
fn connector_statements(log: &str) -> Vec<String> {
    log_entries(log)
        .into_iter()
        .filter(|(user, _)| user == rds::CONNECTOR)
        .filter_map(|(_, msg)| {
            if let Some(sql) = msg.strip_prefix("LOG:  statement: ") {
                Some(sql.to_owned())
            } else {
                msg.strip_prefix("LOG:  execute ")
                    .and_then(|rest| rest.split_once(": "))
                    .map(|(_, sql)| sql.to_owned())
            }
        })
        .collect()
}

/// The planted markers logged by sessions of `user`, with their counts.
fn markers_of(log: &str, user: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (u, msg) in log_entries(log) {
        if let Some(at) = msg.find(MARK).filter(|_| u == user) {
            let marker = msg[at..].lines().next().unwrap_or("").to_owned();
            *out.entry(marker).or_insert(0) += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading SQL

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str,
    Param,
    Num,
    Punct(&'static str),
    Op(String),
}

const OP_CHARS: &str = "+-*/<>=~!@#%^&|`?";

/// PostgreSQL's lexer, as far as this crate's SQL needs it. Dollar-quoted bodies (`DO`
/// blocks) are read as SQL too: they are our own code.
fn lex(sql: &str) -> Vec<Tok> {
    let c: Vec<char> = sql.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '-' && next == Some('-') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            i += 2;
            while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if ch == '\'' || ch == '"' {
            let mut s = String::new();
            i += 1;
            while i < c.len() {
                if c[i] == ch {
                    if c.get(i + 1) == Some(&ch) {
                        s.push(ch);
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(c[i]);
                i += 1;
            }
            i += 1;
            out.push(if ch == '"' { Tok::Quoted(s) } else { Tok::Str });
        } else if ch == '$' && next.is_some_and(|n| n.is_ascii_digit()) {
            i += 1;
            while i < c.len() && c[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Tok::Param);
        } else if ch == '$' {
            // A dollar-quote delimiter `$tag$`: skipped, its body is lexed as SQL.
            i += 1;
            while i < c.len() && c[i] != '$' {
                i += 1;
            }
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let mut s = String::new();
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                s.push(c[i].to_ascii_lowercase());
                i += 1;
            }
            out.push(Tok::Word(s));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num);
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::Punct("::"));
            i += 2;
        } else if ch == ':' && next == Some('=') {
            out.push(Tok::Punct(":="));
            i += 2;
        } else if let Some(p) = ["(", ")", ",", ";", "[", "]", ".", ":"]
            .into_iter()
            .find(|p| p.starts_with(ch))
        {
            out.push(Tok::Punct(p));
            i += 1;
        } else if OP_CHARS.contains(ch) {
            let mut s = String::new();
            while i < c.len() && OP_CHARS.contains(c[i]) {
                s.push(c[i]);
                i += 1;
            }
            out.push(Tok::Op(s));
        } else {
            i += 1;
        }
    }
    out
}

/// Words that are followed by `(` without being a function call.
const NOT_CALLS: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "in",
    "exists",
    "any",
    "all",
    "some",
    "array",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "values",
    "as",
    "on",
    "using",
    "join",
    "then",
    "when",
    "else",
    "case",
    "end",
    "with",
    "over",
    "filter",
    "within",
    "rows",
    "lateral",
    "operator",
    "into",
    "set",
    "if",
    "returns",
    "return",
    "begin",
    "execute",
    "by",
    "union",
    "except",
    "intersect",
    "row",
    "is",
    "null",
    "distinct",
    "cast",
    "like",
    "ilike",
    "between",
    "for",
    "of",
    "only",
    "table",
    "routine",
    "function",
    "procedure",
    "do",
    "raise",
    "using",
    "perform",
    "loop",
    "declare",
    "left",
    "right",
    "inner",
    "outer",
    "full",
    "cross",
    "to",
    "grant",
    "revoke",
    "privileges",
    "exception",
    "group",
    "order",
    "having",
    "limit",
];

/// What the connector's SQL uses, and which of it is not qualified with `pg_catalog`.
#[derive(Debug, Default)]
struct Usage {
    /// Function names called (without schema).
    functions: BTreeSet<String>,
    /// Operator symbols used (also those `IN`, `LIKE`, … resolve).
    operators: BTreeSet<String>,
    /// Relations read (without schema).
    relations: BTreeSet<String>,
    /// Types in casts (without schema).
    types: BTreeSet<String>,
    /// Unqualified uses: (what, an example statement).
    unqualified: BTreeMap<String, String>,
}

impl Usage {
    fn flag(&mut self, what: String, sql: &str) {
        let example: String = sql.chars().take(300).collect();
        self.unqualified.entry(what).or_insert(example);
    }

    /// Reads every statement of `sql` (a batch, or one statement).
    fn read(&mut self, sql: &str) {
        let tokens = lex(sql);
        for statement in tokens.split(|t| *t == Tok::Punct(";")) {
            self.read_statement(statement, sql);
        }
    }

    fn read_statement(&mut self, t: &[Tok], sql: &str) {
        let word = |i: usize| match t.get(i) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        };
        let punct = |i: usize, p: &str| matches!(t.get(i), Some(Tok::Punct(q)) if *q == p);
        let first = word(0).unwrap_or("");
        let utility = matches!(
            first,
            "grant" | "revoke" | "alter" | "create" | "comment" | "reassign" | "drop" | "set"
        );
        // CTE names: `name AS (`.
        let ctes: BTreeSet<&str> = (0..t.len())
            .filter(|&i| word(i + 1) == Some("as") && punct(i + 2, "("))
            .filter_map(word)
            .collect();
        let mut i = 0;
        while i < t.len() {
            match &t[i] {
                Tok::Word(w) if w == "raise" || w == "diagnostics" => {
                    // PL/pgSQL option syntax (`USING ERRCODE = …`): no operators.
                    while i < t.len() && !punct(i, ";") {
                        i += 1;
                    }
                }
                Tok::Word(w) if w == "operator" && punct(i + 1, "(") => {
                    match (word(i + 2), punct(i + 3, "."), t.get(i + 4)) {
                        (Some(schema), true, Some(Tok::Op(op))) => {
                            self.operators.insert(op.clone());
                            if schema != "pg_catalog" {
                                self.flag(format!("operator {schema}.{op}"), sql);
                            }
                        }
                        _ => self.flag("operator OPERATOR(…) without schema".into(), sql),
                    }
                    while i < t.len() && !punct(i, ")") {
                        i += 1;
                    }
                }
                Tok::Word(w) if punct(i + 1, "(") && !NOT_CALLS.contains(&w.as_str()) => {
                    let after_cast = i >= 1 && punct(i - 1, "::");
                    let alias = i >= 1 && word(i - 1) == Some("as");
                    let qualified = i >= 2 && punct(i - 1, ".");
                    // The session's own temporary schema (the verifier's table, `CREATE
                    // TEMPORARY TABLE pg_temp.x (…)`): nobody else can create anything there.
                    let own_temp = qualified && word(i - 2) == Some("pg_temp");
                    if !after_cast && !alias && !own_temp {
                        self.functions.insert(w.clone());
                        if !(qualified && word(i - 2) == Some("pg_catalog")) {
                            self.flag(format!("function {w}()"), sql);
                        }
                    }
                }
                Tok::Word(w) if w == "in" && punct(i + 1, "(") => {
                    self.operators.insert("=".into());
                    self.flag("operator = (IN list or subquery)".into(), sql);
                }
                Tok::Word(w) if matches!(w.as_str(), "like" | "ilike" | "similar") => {
                    let negated = i >= 1 && word(i - 1) == Some("not");
                    let op = match (w.as_str(), negated) {
                        ("ilike", false) => "~~*",
                        ("ilike", true) => "!~~*",
                        (_, false) => "~~",
                        (_, true) => "!~~",
                    };
                    self.operators.insert(op.into());
                    self.flag(format!("operator {op} ({})", w.to_uppercase()), sql);
                }
                Tok::Word(w) if w == "between" => {
                    self.operators.extend([">=".to_owned(), "<=".to_owned()]);
                    self.flag("operators >= <= (BETWEEN)".into(), sql);
                }
                Tok::Word(w)
                    if w == "distinct" && i >= 1 && matches!(word(i - 1), Some("is" | "not")) =>
                {
                    self.operators.insert("=".into());
                    self.flag("operator = (IS DISTINCT FROM)".into(), sql);
                }
                Tok::Word(w)
                    if (w == "case" && word(i + 1) != Some("when"))
                        || (w == "nullif" && punct(i + 1, "(")) =>
                {
                    self.operators.insert("=".into());
                    self.flag(format!("operator = ({})", w.to_uppercase()), sql);
                }
                // `COPY … FROM STDIN` reads the client's data, no relation.
                Tok::Word(w)
                    if matches!(w.as_str(), "from" | "join") && !utility && first != "copy" =>
                {
                    if let Some(name) = word(i + 1) {
                        if name == "pg_temp" {
                            // The session's own temporary schema: nothing can be planted there.
                        } else if punct(i + 2, ".") {
                            if let Some(rel) = word(i + 3).filter(|_| !punct(i + 4, "(")) {
                                self.relations.insert(rel.to_owned());
                                if name != "pg_catalog" {
                                    self.flag(format!("relation {name}.{rel}"), sql);
                                }
                            }
                        } else if !punct(i + 2, "(")
                            && !ctes.contains(name)
                            && !matches!(name, "rows" | "lateral" | "only")
                        {
                            self.relations.insert(name.to_owned());
                            self.flag(format!("relation {name}"), sql);
                        }
                    }
                }
                Tok::Punct("::") => match (t.get(i + 1), punct(i + 2, "."), t.get(i + 3)) {
                    (Some(Tok::Word(schema)), true, Some(Tok::Word(ty) | Tok::Quoted(ty))) => {
                        self.types.insert(ty.clone());
                        if schema != "pg_catalog" {
                            self.flag(format!("type {schema}.{ty}"), sql);
                        }
                    }
                    (Some(Tok::Word(ty) | Tok::Quoted(ty)), _, _) => {
                        self.types.insert(ty.clone());
                        self.flag(format!("type {ty}"), sql);
                    }
                    _ => {}
                },
                Tok::Op(op) if !utility => {
                    let star = op == "*"
                        && i >= 1
                        && (word(i - 1) == Some("select")
                            || punct(i - 1, "(")
                            || punct(i - 1, ",")
                            || punct(i - 1, "."));
                    if !star {
                        self.operators.insert(op.clone());
                        self.flag(format!("operator {op}"), sql);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

#[test]
fn the_reader_finds_unqualified_uses() {
    // The harvester itself must see what it is there to see.
    let mut u = Usage::default();
    u.read(
        "SELECT pg_advisory_xact_lock(hashtextextended('k', 0)) FROM pg_roles r \
         WHERE r.rolname = $1 AND x IN (1) AND n NOT LIKE 'a%' AND y::text <> 'z' \
         AND CASE r.k WHEN 'S' THEN true END;          DO $x$BEGIN IF a = b THEN PERFORM planted(); END IF; END$x$",
    );
    let flagged: Vec<&str> = u.unqualified.keys().map(String::as_str).collect();
    for want in [
        "function pg_advisory_xact_lock()",
        "function hashtextextended()",
        "relation pg_roles",
        "operator =",
        "operator <>",
        "operator = (IN list or subquery)",
        "operator !~~ (LIKE)",
        "operator = (CASE)",
        "type text",
    ] {
        assert!(flagged.contains(&want), "{want} not in {flagged:?}");
    }
    // Inside a DO block too, also right after its BEGIN.
    let mut d = Usage::default();
    d.read("DO $x$BEGIN IF a = b THEN PERFORM planted(); END IF; END$x$");
    assert_eq!(
        d.unqualified.keys().map(String::as_str).collect::<Vec<_>>(),
        ["function planted()", "operator ="]
    );
    let mut q = Usage::default();
    q.read(
        "WITH r AS (SELECT 1) SELECT pg_catalog.format('%I', x::pg_catalog.text) \
         FROM pg_catalog.pg_roles g, r WHERE g.oid OPERATOR(pg_catalog.=) $1 \
         AND EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest($2)) AS u(a)); \
         DO $d$BEGIN EXECUTE pg_catalog.format('x'); EXCEPTION WHEN OTHERS THEN \
         RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM; END$d$",
    );
    assert!(q.unqualified.is_empty(), "{:?}", q.unqualified);
    assert_eq!(
        q.functions.iter().map(String::as_str).collect::<Vec<_>>(),
        ["format", "unnest"]
    );
    assert!(q.operators.contains("="));
}

// ---------------------------------------------------------------------------------------------
// Planting

/// Argument types the look-alikes try in each position.
const VARIANTS: &[&str] = &[
    "text",
    "name",
    "character varying",
    "integer",
    "bigint",
    "oid",
    "anyelement",
    "regrole",
    "regclass",
    "\"char\"",
    "text[]",
    "anyarray",
    "boolean",
];

const POLYMORPHIC: &[&str] = &[
    "anyelement",
    "anyarray",
    "anynonarray",
    "anyenum",
    "anyrange",
    "anymultirange",
    "anycompatible",
    "anycompatiblearray",
    "anycompatiblenonarray",
    "anycompatiblerange",
    "anycompatiblemultirange",
];

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One overload of a `pg_catalog` function, as the hostile grantee reads it.
struct Overload {
    name: String,
    args: Vec<String>,
    outs: Vec<String>,
    result: String,
    retset: bool,
    variadic: bool,
}

/// `CREATE FUNCTION` statements of look-alikes of `o` in `schema`.
fn function_lookalikes(schema: &str, o: &Overload, seen: &mut BTreeSet<String>) -> Vec<String> {
    let mut lists: Vec<Vec<String>> = Vec::new();
    let bases: Vec<Vec<String>> = if o.variadic {
        let fixed = o.args[..o.args.len() - 1].to_vec();
        (0..=3)
            .map(|k| {
                let mut l = fixed.clone();
                l.extend(std::iter::repeat_n("text".to_owned(), k));
                l
            })
            .collect()
    } else {
        vec![o.args.clone()]
    };
    for base in bases {
        lists.push(base.clone());
        for i in 0..base.len() {
            for v in VARIANTS {
                let mut l = base.clone();
                l[i] = (*v).to_owned();
                lists.push(l);
            }
        }
        if !base.is_empty() {
            for v in VARIANTS {
                lists.push(vec![(*v).to_owned(); base.len()]);
            }
        }
    }
    let mut out = Vec::new();
    for args in lists {
        let key = format!("{schema}.{}({})", o.name, args.join(","));
        if !seen.insert(key.clone()) {
            continue;
        }
        let poly_args = args.iter().any(|a| POLYMORPHIC.contains(&a.as_str()));
        let mut params: Vec<String> = args.iter().map(|a| format!("IN {a}")).collect();
        params.extend(o.outs.iter().map(|x| format!("OUT {x}")));
        let result = if !o.outs.is_empty() {
            if o.retset {
                "SETOF record".to_owned()
            } else {
                "record".to_owned()
            }
        } else {
            let base = if POLYMORPHIC.contains(&o.result.as_str()) && !poly_args {
                "text".to_owned()
            } else {
                o.result.clone()
            };
            if o.retset {
                format!("SETOF {base}")
            } else {
                base
            }
        };
        let ret = if o.retset || !o.outs.is_empty() || o.result == "void" {
            "RETURN;"
        } else {
            "RETURN NULL;"
        };
        out.push(format!(
            "CREATE FUNCTION {schema}.{name}({params}) RETURNS {result} LANGUAGE plpgsql AS $f$ \
             BEGIN RAISE LOG '{MARK}: % as %', {what}, current_user; {ret} END $f$",
            name = o.name,
            params = params.join(", "),
            what = lit(&format!("function {key}")),
        ));
    }
    out
}

/// Plants look-alikes of everything `usage` lists, as `MALLORY`, in `public` and in a schema
/// named like the connector, in database `db`. Returns what was planted per name.
async fn plant(mallory: &tokio_postgres::Client, usage: &Usage) -> BTreeMap<String, usize> {
    mallory
        .batch_execute(&format!(
            "CREATE SCHEMA {c}; GRANT USAGE ON SCHEMA {c} TO PUBLIC;
             CREATE SCHEMA mallory_tools;
             CREATE FUNCTION mallory_tools.try_all(stmts pg_catalog.text[]) RETURNS pg_catalog.int4
               LANGUAGE plpgsql AS $f$
               DECLARE s pg_catalog.text; n pg_catalog.int4 := 0;
               BEGIN
                 FOREACH s IN ARRAY stmts LOOP
                   BEGIN EXECUTE s; n := n OPERATOR(pg_catalog.+) 1;
                   EXCEPTION WHEN OTHERS THEN NULL; END;
                 END LOOP;
                 RETURN n;
               END $f$;",
            c = rds::CONNECTOR
        ))
        .await
        .expect("mallory creates her schemas");
    let schemas = [rds::CONNECTOR, "public"];
    let mut stmts = Vec::new();

    // Functions: every pg_catalog overload of every name our SQL calls.
    let names: Vec<&str> = usage.functions.iter().map(String::as_str).collect();
    let rows = mallory
        .query(
            "SELECT p.proname::pg_catalog.text,
                    p.proargtypes::pg_catalog.oid[]::pg_catalog.regtype[]::pg_catalog.text[],
                    COALESCE(ARRAY(SELECT pg_catalog.format('%s %s', a.n, pg_catalog.format_type(a.t, NULL))
                                     FROM ROWS FROM (pg_catalog.unnest(p.proargnames), pg_catalog.unnest(p.proallargtypes),
                                                     pg_catalog.unnest(p.proargmodes)) AS a(n, t, m)
                                    WHERE a.m OPERATOR(pg_catalog.=) 'o'), ARRAY[]::pg_catalog.text[]),
                    pg_catalog.format_type(p.prorettype, NULL), p.proretset,
                    p.provariadic OPERATOR(pg_catalog.<>) 0
               FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
                AND p.prokind OPERATOR(pg_catalog.=) 'f'
                AND p.proname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[])",
            &[&names],
        )
        .await
        .expect("reading pg_catalog overloads");
    let mut seen = BTreeSet::new();
    for row in &rows {
        let o = Overload {
            name: row.get(0),
            args: row.get(1),
            outs: row.get(2),
            result: row.get(3),
            retset: row.get(4),
            variadic: row.get(5),
        };
        for schema in schemas {
            stmts.extend(function_lookalikes(schema, &o, &mut seen));
        }
    }

    // Aggregates (`bool_and`, `count`, ...): a look-alike aggregate per pg_catalog overload
    // and per variant of its argument type, whose transition function records that it ran.
    let rows = mallory
        .query(
            "SELECT p.proname::pg_catalog.text,
                    p.proargtypes::pg_catalog.oid[]::pg_catalog.regtype[]::pg_catalog.text[],
                    pg_catalog.format_type(p.prorettype, NULL)
               FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
                AND p.prokind OPERATOR(pg_catalog.=) 'a'
                AND p.proname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[])",
            &[&names],
        )
        .await
        .expect("reading pg_catalog aggregates");
    let mut aggregates: BTreeSet<(String, Vec<String>, String)> = BTreeSet::new();
    for row in &rows {
        let (name, args, result): (String, Vec<String>, String) =
            (row.get(0), row.get(1), row.get(2));
        let concrete = |t: &str| !POLYMORPHIC.contains(&t) && t != "\"any\"";
        if args.iter().all(|a| concrete(a)) {
            aggregates.insert((name.clone(), args.clone(), result.clone()));
        }
        for i in 0..args.len() {
            for v in VARIANTS.iter().filter(|v| concrete(v)) {
                let mut l = args.clone();
                l[i] = (*v).to_owned();
                if l.iter().all(|a| concrete(a)) {
                    aggregates.insert((name.clone(), l, result.clone()));
                }
            }
        }
    }
    for (n, (name, args, result)) in aggregates.iter().enumerate() {
        let state = if POLYMORPHIC.contains(&result.as_str()) {
            "text"
        } else {
            result.as_str()
        };
        for schema in schemas {
            let f = format!("mallory_tools.rdspg_agg_{n}_{}", schema.replace('"', ""));
            let params: Vec<String> = std::iter::once(state.to_owned())
                .chain(args.iter().cloned())
                .collect();
            stmts.push(format!(
                "CREATE FUNCTION {f}({params}) RETURNS {state} LANGUAGE plpgsql AS $f$ \
                 BEGIN RAISE LOG '{MARK}: % as %', {what}, current_user; RETURN $1; END $f$",
                params = params.join(", "),
                what = lit(&format!("aggregate {schema}.{name}({})", args.join(","))),
            ));
            stmts.push(format!(
                "CREATE AGGREGATE {schema}.{name}({args}) (SFUNC = {f}, STYPE = {state})",
                args = args.join(", "),
            ));
        }
    }

    // Operators: every pg_catalog binary operator of each symbol, and each symbol over every
    // pair of the variant types.
    let symbols: Vec<&str> = usage.operators.iter().map(String::as_str).collect();
    let rows = mallory
        .query(
            "SELECT o.oprname::pg_catalog.text, pg_catalog.format_type(o.oprleft, NULL),
                    pg_catalog.format_type(o.oprright, NULL), pg_catalog.format_type(o.oprresult, NULL)
               FROM pg_catalog.pg_operator o
              WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
                AND o.oprkind OPERATOR(pg_catalog.=) 'b'
                AND o.oprname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[])",
            &[&symbols],
        )
        .await
        .expect("reading pg_catalog operators");
    let mut pairs: BTreeSet<(String, String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    for sym in &symbols {
        for l in VARIANTS {
            for r in VARIANTS {
                pairs.insert((
                    (*sym).to_owned(),
                    (*l).to_owned(),
                    (*r).to_owned(),
                    "boolean".to_owned(),
                ));
            }
        }
    }
    for (n, (sym, l, r, result)) in pairs.iter().enumerate() {
        let result = if POLYMORPHIC.contains(&result.as_str()) {
            "boolean"
        } else {
            result
        };
        for schema in schemas {
            let f = format!("{schema}.rdspg_op_{n}");
            stmts.push(format!(
                "CREATE FUNCTION {f}({l}, {r}) RETURNS {result} LANGUAGE plpgsql AS $f$ \
                 BEGIN RAISE LOG '{MARK}: % as %', {what}, current_user; RETURN NULL; END $f$",
                what = lit(&format!("operator {schema}.{sym}({l}, {r})")),
            ));
            stmts.push(format!(
                "CREATE OPERATOR {schema}.{sym} (LEFTARG = {l}, RIGHTARG = {r}, FUNCTION = {f})"
            ));
        }
    }

    // Relations: views named like the catalogs we read, calling a marker function.
    for schema in schemas {
        stmts.push(format!(
            "CREATE FUNCTION {schema}.rdspg_mark(what pg_catalog.text) RETURNS pg_catalog.bool \
             LANGUAGE plpgsql AS $f$ BEGIN RAISE LOG '{MARK}: % as %', what, current_user; \
             RETURN true; END $f$"
        ));
        for rel in &usage.relations {
            stmts.push(format!(
                "CREATE VIEW {schema}.{rel} AS SELECT * FROM pg_catalog.{rel} \
                 WHERE {schema}.rdspg_mark({what})",
                what = lit(&format!("relation {schema}.{rel}"))
            ));
            // A catalog with a pseudo-type column (`pg_attribute.attmissingval`, `anyarray`)
            // cannot be copied by `SELECT *`: the look-alike gets every other column.
            stmts.push(format!(
                "DO $d$ BEGIN EXECUTE (SELECT pg_catalog.format( \
                   $t$CREATE VIEW {schema}.{rel} AS SELECT %s FROM pg_catalog.{rel} \
                      WHERE {schema}.rdspg_mark({what})$t$, \
                   pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)) \
                 FROM pg_catalog.pg_attribute a \
                WHERE a.attrelid OPERATOR(pg_catalog.=) 'pg_catalog.{rel}'::pg_catalog.regclass \
                  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped \
                  AND a.atttypid OPERATOR(pg_catalog.<>) 'pg_catalog.anyarray'::pg_catalog.regtype); END $d$",
                what = lit(&format!("relation {schema}.{rel}"))
            ));
            stmts.push(format!("GRANT SELECT ON {schema}.{rel} TO PUBLIC"));
        }
    }
    let total = stmts.len();
    let row = mallory
        .query_one(
            "SELECT mallory_tools.try_all($1::pg_catalog.text[])",
            &[&stmts],
        )
        .await
        .expect("planting");
    let created: i32 = row.get(0);
    eprintln!("planted {created} of {total} look-alike statements");

    // What is there now, per name, in the connector's would-be path.
    let rows = mallory
        .query(
            "SELECT p.proname::pg_catalog.text, pg_catalog.count(*)
               FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) ANY (ARRAY[$1::pg_catalog.text::pg_catalog.regnamespace,
                                                                      'public'::pg_catalog.regnamespace])
              GROUP BY 1
             UNION ALL
             SELECT 'operator ' OPERATOR(pg_catalog.||) o.oprname, pg_catalog.count(*)
               FROM pg_catalog.pg_operator o
              WHERE o.oprnamespace OPERATOR(pg_catalog.=) ANY (ARRAY[$1::pg_catalog.text::pg_catalog.regnamespace,
                                                                      'public'::pg_catalog.regnamespace])
              GROUP BY o.oprname
             UNION ALL
             SELECT 'relation ' OPERATOR(pg_catalog.||) c.relname, pg_catalog.count(*)
               FROM pg_catalog.pg_class c
              WHERE c.relnamespace OPERATOR(pg_catalog.=) ANY (ARRAY[$1::pg_catalog.text::pg_catalog.regnamespace,
                                                                      'public'::pg_catalog.regnamespace])
              GROUP BY c.relname",
            &[&rds::CONNECTOR],
        )
        .await
        .expect("counting the look-alikes");
    rows.iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                usize::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The test

#[test]
fn no_planted_function_operator_or_view_runs_as_the_connector() {
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = TestCluster::builder()
            .version(v)
            .rds_emulation(true)
            .log_statements(true)
            .config_line(PREFIX)
            .start()
            .unwrap_or_else(|e| panic!("starting PostgreSQL {v}: {e}"));
        runtime().block_on(async {
            // Setup: the connector may act for the sample owners; mallory gets admin on both
            // databases and on schema public (so she may create schemas and plant in public).
            let c = connect_with(&cluster, cluster.connector(), rds::APP_DB, None).await.unwrap();
            let s = Session::new(&c.client, Settings::default()).await.unwrap().with_notices(c.notices.clone());
            let c2 = connect_with(&cluster, cluster.connector(), rds::OTHER_DB, None).await.unwrap();
            let s2 = Session::new(&c2.client, Settings::default()).await.unwrap().with_notices(c2.notices.clone());
            for s in [&s, &s2] {
                assert_eq!(allow_owners(&cluster, s).await, None);
            }
            let mallory_pw = new_user(&s, MALLORY, AccessLevel::Admin).await;
            let admin = [
                Grant::new(Scope::Database, AccessLevel::Admin),
                Grant::new(Scope::Schema(id("public")), AccessLevel::Admin),
            ];
            s.apply(&id(MALLORY), &admin).await.expect("granting mallory admin in appdb");
            s2.apply(&id(MALLORY), &admin).await.expect("granting mallory admin in analytics");

            // 1. Every operation once, before anything is planted.
            let mut errors: Vec<String> = operations(&cluster, None, "r1")
                .await
                .into_iter()
                .map(|e| format!("round 1 (clean): {e}"))
                .collect();

            // 2. What our SQL uses.
            let mut usage = Usage::default();
            for sql in connector_statements(&cluster.server_log().unwrap()) {
                usage.read(&sql);
            }
            assert!(usage.functions.contains("hashtextextended") && usage.operators.contains("="),
                "the harvest must see the advisory lock and the inspection: {usage:?}");

            // 3. Mallory plants look-alikes in both databases.
            let mallory = Credentials { user: MALLORY.to_owned(), password: mallory_pw };
            let mut planted = BTreeMap::new();
            for db in [rds::APP_DB, rds::OTHER_DB] {
                let m = connect_with(&cluster, &mallory, db, None).await.unwrap();
                planted = plant(&m.client, &usage).await;
            }
            let missing: Vec<String> = usage.functions.iter().cloned()
                .chain(usage.operators.iter().map(|o| format!("operator {o}")))
                .chain(usage.relations.iter().map(|r| format!("relation {r}")))
                .filter(|name| planted.get(name).copied().unwrap_or(0) < 2)
                .collect();
            assert!(missing.is_empty(), "no look-alike could be planted for {missing:?}");
            // The connector may act for mallory's new objects (as check's fix SQL would say).
            for s in [&s, &s2] {
                errors.extend(allow_owners(&cluster, s).await);
            }

            // Control: a session resolving names the unqualified way runs the look-alikes.
            let control = connect_with(&cluster, &mallory, rds::APP_DB, Some(&format!("{},public,pg_catalog", rds::CONNECTOR))).await.unwrap();
            control.client.batch_execute(
                "SELECT pg_advisory_unlock(hashtextextended('control', 0)); \
                 SELECT count(*) FROM pg_roles WHERE rolname = 'x'",
            ).await.expect("control statements");

            // 4. Every operation again: default path, then pg_catalog searched last.
            for (round, path) in [("r2", None), ("r3", Some(HOSTILE_PATH))] {
                errors.extend(
                    operations(&cluster, path, round).await.into_iter()
                        .map(|e| format!("round {round} (path {}): {e}", path.unwrap_or("default"))),
                );
            }

            let log = cluster.server_log().unwrap();
            let mut all = Usage::default();
            let statements = connector_statements(&log);
            for sql in &statements {
                all.read(sql);
            }
            let ran = markers_of(&log, rds::CONNECTOR);
            let control_ran = markers_of(&log, MALLORY);
            eprintln!(
                "PostgreSQL {v}: {} statements harvested; {} functions: {:?}; {} operators: {:?}; \
                 {} relations: {:?}; {} cast types: {:?}; {} look-alike names planted",
                statements.len(),
                all.functions.len(), all.functions,
                all.operators.len(), all.operators,
                all.relations.len(), all.relations,
                all.types.len(), all.types,
                planted.len()
            );
            assert!(
                control_ran.keys().any(|m| m.contains("function") && m.contains("hashtextextended"))
                    && control_ran.keys().any(|m| m.contains("operator"))
                    && control_ran.keys().any(|m| m.contains("relation")),
                "the control must show that the look-alikes run when resolved unqualified: {control_ran:?}"
            );
            let unqualified: Vec<String> = all.unqualified.iter().map(|(what, sql)| format!("  {what}\n      in: {sql}")).collect();
            assert!(
                ran.is_empty() && unqualified.is_empty() && errors.is_empty(),
                "PostgreSQL {v}:\n\
                 {} planted look-alike(s) ran as the connector:\n  {}\n\
                 {} unqualified use(s) in the connector's SQL:\n{}\n\
                 {} failed operation(s):\n  {}",
                ran.len(),
                ran.iter().map(|(m, n)| format!("{m} ({n}x)")).collect::<Vec<_>>().join("\n  "),
                unqualified.len(),
                unqualified.join("\n"),
                errors.len(),
                errors.join("\n  ")
            );
        });
    });
}
