//! The thin layer that runs this crate's SQL on one connection.
//!
//! A [`Session`] wraps a `tokio_postgres::Client` connected as the connector to one database. It
//! reads the server version once ([`ServerRules`]), checks marks before touching any role, and runs
//! every change in a transaction under `pg_advisory_xact_lock` keyed by the role name, so several
//! connector replicas can work side by side. Serialization failures (`40001`), deadlocks
//! (`40P01`) and `tuple concurrently updated` (`XX000`) are retried.
//!
//! Warnings that mean nothing happened (`no privileges were granted`, `no privileges could be
//! revoked`, `role … is not a member of role …`) arrive as notices on the connection, which
//! tokio-postgres hands to whoever drives it. [`drive_connection`] drives it and records them in
//! a [`NoticeLog`]; a session given that log ([`Session::with_notices`]) turns them into errors and
//! rolls back. Independently of notices, [`Session::apply`] re-inspects the catalogs inside its
//! transaction and rolls back unless the plan is then empty.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio_postgres::{AsyncMessage, Client, Connection};

use crate::error::{GrantsError, col};
use crate::marker::{DEFAULT_HOLDER_ROLE, ManagedRecord, ServiceRole};
use crate::password::Password;
use crate::plan::{self, Inspection, Plan};
use crate::privilege::{Grant, LevelPolicy};
use crate::quote::{Ident, Literal, SET_STANDARD_STRINGS};
use crate::role::{self, LoginAuth, NewRole, RoleNames};
use crate::statement::{RedactedText, Statement};
use crate::version::ServerRules;

/// A notice or warning the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notice {
    /// `WARNING`, `NOTICE`, ...
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    /// The message.
    pub message: String,
}

impl Notice {
    /// Whether this warning means a `GRANT`/`REVOKE` did nothing.
    pub fn means_nothing_happened(&self) -> bool {
        // 01007 warning_privilege_not_granted, 01006 warning_privilege_not_revoked
        // (https://www.postgresql.org/docs/current/errcodes-appendix.html); membership
        // warnings carry the generic 01000 so they are recognised by their text.
        self.code == "01007"
            || self.code == "01006"
            || (self.severity == "WARNING"
                && (self.message.contains("is not a member of role")
                    || self.message.contains("has not been granted membership")))
    }
}

/// Notices received on a connection driven by [`drive_connection`].
#[derive(Debug, Clone, Default)]
pub struct NoticeLog(Arc<Mutex<Vec<Notice>>>);

impl NoticeLog {
    fn push(&self, n: Notice) {
        if let Ok(mut v) = self.0.lock() {
            v.push(n);
        }
    }

    /// Removes and returns the notices received so far.
    pub fn take(&self) -> Vec<Notice> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// Spawns a task driving `connection` (as `tokio::spawn(connection)` would) that records the
/// server's notices in the returned [`NoticeLog`]. The task ends when the client is dropped.
pub fn drive_connection<S, T>(
    mut connection: Connection<S, T>,
) -> (
    NoticeLog,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let log = NoticeLog::default();
    let sink = log.clone();
    let handle = tokio::spawn(async move {
        loop {
            match futures_util::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notice(n))) => sink.push(Notice {
                    severity: n.severity().to_owned(),
                    code: n.code().code().to_owned(),
                    message: n.message().to_owned(),
                }),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    (log, handle)
}

/// Options of a [`Session`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Marker and IAM role names.
    pub names: RoleNames,
    /// What each level grants.
    pub policy: LevelPolicy,
    /// The prefix of the holder roles that receive revoked roles' objects
    /// ([`DEFAULT_HOLDER_ROLE`] by default, at most
    /// [`MAX_HOLDER_PREFIX_BYTES`](crate::marker::MAX_HOLDER_PREFIX_BYTES)): each revoked role
    /// that owns something gets a holder of its own, `<prefix>_<16 hex digits>`
    /// ([`holder_role_name`](crate::marker::holder_role_name)), with no rights of its own, created
    /// by the library when missing and checked before every reassignment (see
    /// [`revoke`](crate::revoke)). It is never the connector or any role the library did not
    /// create.
    pub reassign_to: Ident,
    /// Attempts for a transaction that hits a serialization failure or deadlock (at least 1).
    pub max_attempts: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            names: RoleNames::default(),
            policy: LevelPolicy::default(),
            reassign_to: Ident::known_valid(DEFAULT_HOLDER_ROLE),
            max_attempts: 5,
        }
    }
}

impl Settings {
    /// Uses `marker` as the marker role.
    #[must_use]
    pub fn marker_role(mut self, marker: Ident) -> Self {
        self.names.marker = marker;
        self
    }

    /// Uses `policy` for the level table.
    #[must_use]
    pub fn policy(mut self, policy: LevelPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Names revoked roles' holders `<prefix>_<16 hex digits>` instead of
    /// `rdspg_holder_…` ([`DEFAULT_HOLDER_ROLE`]). A prefix longer than
    /// [`MAX_HOLDER_PREFIX_BYTES`](crate::marker::MAX_HOLDER_PREFIX_BYTES) fails the revocation
    /// before anything changes ([`GrantsError::Quote`]); an existing role under a holder's name
    /// that is not that user's holder made by this library is refused
    /// ([`GrantsError::UnsafeServiceRole`]).
    #[must_use]
    pub fn reassign_to(mut self, prefix: Ident) -> Self {
        self.reassign_to = prefix;
        self
    }
}

/// A role this library manages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagedRole {
    /// The role's name.
    pub name: Ident,
    /// Its record.
    pub record: ManagedRecord,
    /// Whether it may log in (false once revocation started).
    pub can_login: bool,
    /// Whether it still carries the 0.1.0 mark (a member of the marker role, which before
    /// PostgreSQL 16 let it `SET ROLE` to the marker); the next change turns the mark around
    /// (see [`marker`](crate::marker)).
    pub legacy_mark: bool,
}

/// What [`Session::create_role`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateOutcome {
    /// The role was created.
    Created,
    /// A managed role of that name for the same request already existed; nothing changed.
    AlreadyExists(ManagedRecord),
}

/// What [`Session::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyReport {
    /// The plan that was executed (empty when nothing was needed).
    pub plan: Plan,
    /// Transactions tried (more than one after retries).
    pub attempts: u32,
}

pub(crate) fn is_retryable(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code == "40001"
                || code == "40P01"
                || (code == "XX000" && db.message().contains("tuple concurrently updated"))
        }
        None => false,
    }
}

fn lock_stmt(role: &Ident) -> Result<String, GrantsError> {
    let key = Literal::new(format!("rdspg:{role}"))?;
    Ok(format!(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended({}, 0));",
        key.quoted()
    ))
}

/// Another session holding one of the library's advisory locks (see
/// [`Session::advisory_lock_holders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockHolder {
    /// Its backend process id.
    pub pid: i32,
    /// Its user (empty when the server does not say).
    pub user: String,
    /// Whether that user is a superuser or has `CREATEROLE`, as a connector does. A holder
    /// without it (any grantee, any rightless login) is squatting the lock.
    pub may_create_roles: bool,
}

impl LockHolder {
    /// Whether this holder squats the lock (it cannot be a connector doing the job).
    pub fn is_squatter(&self) -> bool {
        !self.may_create_roles
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.user, self.pid)
    }
}

/// One connection, as the connector, to one database.
#[derive(Debug)]
pub struct Session<'c> {
    client: &'c Client,
    rules: ServerRules,
    connector: Ident,
    database: String,
    settings: Settings,
    notices: Option<NoticeLog>,
}

impl<'c> Session<'c> {
    /// Reads the server version, current user and database (one round trip).
    ///
    /// # Errors
    /// [`GrantsError::Database`], [`GrantsError::UnsupportedServer`].
    pub async fn new(client: &'c Client, settings: Settings) -> Result<Self, GrantsError> {
        let row = client
            .query_one(
                "SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4, \
                 current_user::pg_catalog.text, pg_catalog.current_database()::pg_catalog.text",
                &[],
            )
            .await
            .map_err(|e| GrantsError::db("reading the server version", e))?;
        let action = "reading the server version";
        let num: i32 = col(&row, 0, action)?;
        let version = crate::version::ServerVersion::from_num(u32::try_from(num).unwrap_or(0))?;
        let user: String = col(&row, 1, action)?;
        Ok(Self {
            client,
            rules: ServerRules::new(version),
            connector: Ident::new(user)?,
            database: col(&row, 2, action)?,
            settings,
            notices: None,
        })
    }

    /// Turns the warnings recorded in `log` (see [`drive_connection`]) into errors.
    #[must_use]
    pub fn with_notices(mut self, log: NoticeLog) -> Self {
        self.notices = Some(log);
        self
    }

    /// The server's rules.
    pub fn rules(&self) -> ServerRules {
        self.rules
    }

    /// The connector (the session's `current_user`).
    pub fn connector(&self) -> &Ident {
        &self.connector
    }

    /// The database this session is connected to.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn client(&self) -> &Client {
        self.client
    }

    pub(crate) async fn rollback(&self) {
        // The transaction may already be gone; nothing to report then.
        let _ = self.client.batch_execute("ROLLBACK").await;
    }

    fn bad_notice(&self) -> Option<Notice> {
        self.notices
            .as_ref()
            .and_then(|l| l.take().into_iter().find(Notice::means_nothing_happened))
    }

    /// Sends `BEGIN`, the lock for `role` and `stmts` in one round trip, leaving the transaction
    /// open. On error the transaction is rolled back.
    pub(crate) async fn begin_with(
        &self,
        action: &str,
        role: &Ident,
        stmts: &[Statement],
    ) -> Result<(), tokio_postgres::Error> {
        if let Some(l) = &self.notices {
            l.take();
        }
        tracing::debug!(database = %self.database, %role, action, statements = stmts.len(), "sending batch");
        match self.send_batch(role, stmts).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    /// `BEGIN`, the lock and `stmts` in one round trip, except that a statement setting a
    /// password is preceded by binding its verifier as a parameter (see [`Statement`]): one
    /// more round trip, and the verifier is in no statement text.
    async fn send_batch(
        &self,
        role: &Ident,
        stmts: &[Statement],
    ) -> Result<(), tokio_postgres::Error> {
        let mut batch = format!(
            "BEGIN;\n{SET_STANDARD_STRINGS}\n{}",
            lock_stmt(role).unwrap_or_default()
        );
        for stmt in stmts {
            if let Some(bound) = stmt.bound_verifier() {
                self.client.batch_execute(&batch).await?;
                batch.clear();
                let role_name = bound.role.as_ref().map_or("", Ident::as_str);
                self.client
                    .execute(
                        role::BIND_VERIFIER_SQL,
                        &[&RedactedText(&bound.verifier), &role_name],
                    )
                    .await?;
                batch.push_str(stmt.sql());
                batch.push('\n');
                batch.push_str(role::CLEAR_VERIFIER_SQL);
            } else {
                batch.push('\n');
                batch.push_str(stmt.sql());
            }
        }
        self.client.batch_execute(&batch).await
    }

    pub(crate) async fn commit(&self, action: &str) -> Result<(), GrantsError> {
        if let Some(n) = self.bad_notice() {
            self.rollback().await;
            return Err(GrantsError::NothingHappened {
                action: action.to_owned(),
                message: n.message,
            });
        }
        self.client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| GrantsError::db(format!("{action} (COMMIT)"), e))
    }

    /// Runs `stmts` in one locked transaction, retrying transient failures.
    /// Calls advisory-lock function `function` (one of this module's constant names, never
    /// input) on the 64-bit hash of `key`; the row holds its result.
    async fn advisory(
        &self,
        function: &str,
        key: &str,
        action: &str,
    ) -> Result<tokio_postgres::Row, GrantsError> {
        let sql = format!("SELECT pg_catalog.{function}(pg_catalog.hashtextextended($1, 0))");
        self.client
            .query_one(&sql, &[&key])
            .await
            .map_err(|e| GrantsError::db(action, e))
    }

    /// Waits for the session-level advisory lock `namespace:name` (held until
    /// [`Session::session_unlock`] or the end of the connection).
    pub(crate) async fn session_lock(
        &self,
        namespace: &str,
        name: &Ident,
    ) -> Result<(), GrantsError> {
        self.advisory(
            "pg_advisory_lock",
            &format!("{namespace}:{name}"),
            "taking an advisory lock",
        )
        .await
        .map(|_| ())
    }

    /// Releases a lock taken with [`Session::session_lock`].
    pub(crate) async fn session_unlock(
        &self,
        namespace: &str,
        name: &Ident,
    ) -> Result<(), GrantsError> {
        self.advisory(
            "pg_advisory_unlock",
            &format!("{namespace}:{name}"),
            "releasing an advisory lock",
        )
        .await
        .map(|_| ())
    }

    /// Tries to take the session-level advisory lock of job `job` on this server (e.g. one
    /// sweep of one instance at a time across connector replicas). `true`: this connection
    /// holds it until [`Session::release_job_lock`] or until the connection ends (also when
    /// the process dies); `false`: another session holds it, skip the job this round.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn try_job_lock(&self, job: &str) -> Result<bool, GrantsError> {
        let action = "taking a job lock";
        let row = self
            .advisory("pg_try_advisory_lock", &format!("rdspg-job:{job}"), action)
            .await?;
        col(&row, 0, action)
    }

    /// The other sessions holding the advisory lock of job `job` (see
    /// [`Session::try_job_lock`]) in this database, for when it could not be taken.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn job_lock_holders(&self, job: &str) -> Result<Vec<LockHolder>, GrantsError> {
        self.advisory_lock_holders(&format!("rdspg-job:{job}"))
            .await
    }

    /// The other sessions holding (in any mode) the advisory lock keyed by the 64-bit hash
    /// of `key` (`hashtextextended(key, 0)`, as the library takes its locks) in this
    /// database, each with its user and whether that user may create roles. The keys are
    /// public and any login role may take them: a holder without `CREATEROLE` (never a
    /// grantee's right) is squatting, not working.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn advisory_lock_holders(&self, key: &str) -> Result<Vec<LockHolder>, GrantsError> {
        // A bigint advisory key k is stored as classid = k >> 32, objid = k & 0xffffffff,
        // objsubid = 1.
        const SQL: &str = "WITH k AS (SELECT pg_catalog.hashtextextended($1::pg_catalog.text, 0) AS k) \
             SELECT l.pid, r.rolname::pg_catalog.text, \
             (r.rolsuper OR r.rolcreaterole) IS TRUE \
             FROM k, pg_catalog.pg_locks l \
             LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid \
             LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.usesysid \
             WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'::pg_catalog.text AND l.granted \
             AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d \
               WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) \
             AND l.classid OPERATOR(pg_catalog.=) ((k.k OPERATOR(pg_catalog.>>) 32) \
               OPERATOR(pg_catalog.&) 4294967295::pg_catalog.int8)::pg_catalog.oid \
             AND l.objid OPERATOR(pg_catalog.=) \
               (k.k OPERATOR(pg_catalog.&) 4294967295::pg_catalog.int8)::pg_catalog.oid \
             AND l.objsubid OPERATOR(pg_catalog.=) 1 \
             AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() \
             ORDER BY l.pid";
        let action = "finding who holds an advisory lock";
        let rows = self
            .client
            .query(SQL, &[&key])
            .await
            .map_err(|e| GrantsError::db(action, e))?;
        rows.iter()
            .map(|row| {
                Ok(LockHolder {
                    pid: col(row, 0, action)?,
                    user: col::<Option<String>>(row, 1, action)?.unwrap_or_default(),
                    may_create_roles: col(row, 2, action)?,
                })
            })
            .collect()
    }

    /// Releases a job lock taken with [`Session::try_job_lock`].
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn release_job_lock(&self, job: &str) -> Result<(), GrantsError> {
        self.advisory(
            "pg_advisory_unlock",
            &format!("rdspg-job:{job}"),
            "releasing a job lock",
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn run_locked(
        &self,
        action: &str,
        role: &Ident,
        stmts: &[Statement],
    ) -> Result<u32, GrantsError> {
        let max = self.settings.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.begin_with(action, role, stmts).await {
                Ok(()) => {
                    self.commit(action).await?;
                    return Ok(attempt);
                }
                Err(e) if is_retryable(&e) && attempt < max => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(GrantsError::db(action, e)),
            }
        }
    }

    // ----- roles -----

    /// Looks `name` up and checks its marks.
    ///
    /// # Errors
    /// [`GrantsError::RoleNotFound`], [`GrantsError::NotManaged`], [`GrantsError::InvalidRecord`].
    pub async fn managed_role(&self, name: &Ident) -> Result<ManagedRole, GrantsError> {
        let row = self
            .client
            .query_opt(
                "SELECT r.rolcanlogin, pg_catalog.shobj_description(r.oid, 'pg_authid'),
                        EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                                  JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.member
                                 WHERE m.roleid OPERATOR(pg_catalog.=) r.oid
                                   AND g.rolname OPERATOR(pg_catalog.=) $2),
                        EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                                  JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
                                 WHERE m.member OPERATOR(pg_catalog.=) r.oid
                                   AND g.rolname OPERATOR(pg_catalog.=) $2)
                   FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1",
                &[&name.as_str(), &self.settings.names.marker.as_str()],
            )
            .await
            .map_err(|e| GrantsError::db(format!("looking up role {name}"), e))?;
        let Some(row) = row else {
            return Err(GrantsError::RoleNotFound {
                role: name.to_string(),
            });
        };
        let action = "reading a role's marks";
        let can_login: bool = col(&row, 0, action)?;
        let comment: Option<String> = col(&row, 1, action)?;
        let marked: bool = col(&row, 2, action)?;
        let legacy_mark: bool = col(&row, 3, action)?;
        let marked = marked || legacy_mark;
        let not_managed = || GrantsError::NotManaged {
            role: name.to_string(),
            marker: self.settings.names.marker.to_string(),
        };
        if !marked {
            return Err(not_managed());
        }
        let comment = comment.ok_or_else(not_managed)?;
        let record =
            ManagedRecord::from_comment(&comment).map_err(|reason| GrantsError::InvalidRecord {
                role: name.to_string(),
                reason,
            })?;
        Ok(ManagedRole {
            name: name.clone(),
            record,
            can_login,
            legacy_mark,
        })
    }

    /// Every role carrying the marker membership (either way, see [`ManagedRole::legacy_mark`])
    /// with a readable record, in one query. Roles with an unreadable record are skipped (and
    /// logged).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn managed_roles(&self) -> Result<Vec<ManagedRole>, GrantsError> {
        let rows = self
            .client
            .query(
                "SELECT r.rolname::pg_catalog.text, r.rolcanlogin, pg_catalog.shobj_description(r.oid, 'pg_authid'),
                        NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members n
                                     WHERE n.roleid OPERATOR(pg_catalog.=) r.oid
                                       AND n.member OPERATOR(pg_catalog.=) g.oid)
                   FROM pg_catalog.pg_roles g, pg_catalog.pg_roles r
                  WHERE g.rolname OPERATOR(pg_catalog.=) $1
                    AND r.oid OPERATOR(pg_catalog.<>) g.oid
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                                 WHERE (m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.=) g.oid)
                                    OR (m.roleid OPERATOR(pg_catalog.=) g.oid AND m.member OPERATOR(pg_catalog.=) r.oid))
                  ORDER BY 1",
                &[&self.settings.names.marker.as_str()],
            )
            .await
            .map_err(|e| GrantsError::db("listing managed roles", e))?;
        let mut out = Vec::new();
        for row in rows {
            let action = "listing managed roles";
            let name: String = col(&row, 0, action)?;
            let comment: Option<String> = col(&row, 2, action)?;
            let can_login: bool = col(&row, 1, action)?;
            let legacy_mark: bool = col(&row, 3, action)?;
            let parsed = comment.as_deref().map(ManagedRecord::from_comment);
            match (Ident::new(name.clone()), parsed) {
                (Ok(name), Some(Ok(record))) => out.push(ManagedRole {
                    name,
                    record,
                    can_login,
                    legacy_mark,
                }),
                _ => tracing::warn!(role = %name, "marked role without a readable record; skipped"),
            }
        }
        Ok(out)
    }

    /// Turns the 0.1.0 mark of the managed role `name` around (see [`marker`](crate::marker));
    /// nothing happens when it already carries the current mark. Returns whether it migrated.
    ///
    /// # Errors
    /// As [`Session::managed_role`]; [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::Database`].
    pub async fn migrate_mark(&self, name: &Ident) -> Result<bool, GrantsError> {
        let role = self.managed_role(name).await?;
        self.migrate_legacy_mark(&role).await
    }

    /// Turns the 0.1.0 mark of every managed role that still carries it around (see
    /// [`marker`](crate::marker)), each on its own: one that cannot be re-marked is logged and
    /// skipped, and the others still are. Returns the roles re-marked. Meant for a sweep, so that
    /// before PostgreSQL 16 no managed user keeps the right to `SET ROLE` to the marker until its
    /// next change.
    ///
    /// # Errors
    /// [`GrantsError::Database`] when the roles cannot be listed.
    pub async fn migrate_marks(&self) -> Result<Vec<Ident>, GrantsError> {
        let mut migrated = Vec::new();
        for role in self.managed_roles().await? {
            if !role.legacy_mark {
                continue;
            }
            match self.migrate_legacy_mark(&role).await {
                Ok(_) => migrated.push(role.name),
                Err(e) => {
                    tracing::warn!(role = %role.name, error = %e, "could not turn a 0.1.0 mark around");
                }
            }
        }
        Ok(migrated)
    }

    /// As [`Session::migrate_mark`] for a role already looked up.
    pub(crate) async fn migrate_legacy_mark(
        &self,
        role: &ManagedRole,
    ) -> Result<bool, GrantsError> {
        if !role.legacy_mark {
            return Ok(false);
        }
        self.ensure_can_administer(&role.name, "re-mark").await?;
        self.ensure_marker().await?;
        let stmts = role::migrate_mark(&role.name, &self.settings.names, &self.rules);
        self.run_locked(
            &format!("turning the mark of {} around", role.name),
            &role.name,
            &stmts,
        )
        .await?;
        tracing::info!(role = %role.name, "0.1.0 marker membership replaced by the current mark");
        Ok(true)
    }

    /// Managed roles whose access ended at `now`.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn expired_roles(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<ManagedRole>, GrantsError> {
        let mut all = self.managed_roles().await?;
        all.retain(|r| r.record.is_expired(now));
        Ok(all)
    }

    async fn can_grant(&self, role: &Ident) -> Result<Option<bool>, GrantsError> {
        self.role_check(role, &self.rules.can_grant_role_expr("$1::pg_catalog.text"))
            .await
    }

    /// Runs the boolean SQL expression `expr` (of `$1`, the role's name) when `role` exists.
    async fn role_check(&self, role: &Ident, expr: &str) -> Result<Option<bool>, GrantsError> {
        let sql = format!(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles \
             WHERE rolname OPERATOR(pg_catalog.=) $1) THEN ({expr}) END"
        );
        let row = self
            .client
            .query_one(&sql, &[&role.as_str()])
            .await
            .map_err(|e| {
                GrantsError::db(
                    format!("checking whether the connector may grant {role}"),
                    e,
                )
            })?;
        col(&row, 0, "checking role grant rights")
    }

    fn cannot_grant(&self, role: &Ident) -> GrantsError {
        GrantsError::CannotGrantRole {
            role: role.to_string(),
            connector: self.connector.to_string(),
            fix_sql: self.rules.allow_granting_role_sql(role, &self.connector),
        }
    }

    /// Fails with [`GrantsError::CannotAdministerRole`] unless the connector may alter and drop
    /// the managed `role` on this server version (16+: `ADMIN OPTION` on it; before: `CREATEROLE`).
    /// Checked before any change, so a refused operation leaves the role as it was.
    pub(crate) async fn ensure_can_administer(
        &self,
        role: &Ident,
        action: &'static str,
    ) -> Result<(), GrantsError> {
        let expr = self.rules.can_administer_role_expr("$1::pg_catalog.text");
        match self.role_check(role, &expr).await? {
            Some(false) => Err(GrantsError::CannotAdministerRole {
                role: role.to_string(),
                connector: self.connector.to_string(),
                action,
                needs: self.rules.administer_role_requirement().to_owned(),
                fix_sql: self.rules.allow_granting_role_sql(role, &self.connector),
            }),
            // A role that vanished in between is reported by the statements themselves.
            Some(true) | None => Ok(()),
        }
    }

    /// Creates the marker role when it is missing, and checks that it has no rights.
    pub(crate) async fn ensure_marker(&self) -> Result<(), GrantsError> {
        let marker = &self.settings.names.marker;
        self.ensure_service_role(marker, ServiceRole::Marker, None)
            .await?;
        match self.can_grant(marker).await? {
            Some(true) => Ok(()),
            _ => Err(self.cannot_grant(marker)),
        }
    }

    /// Creates the service role `name` of `kind` when it is missing (under an advisory lock, so
    /// that two replicas do not both create it), then fails unless it is exactly the rightless
    /// role the library relies on ([`Session::service_role_problems`]). A holder is the holder
    /// of user `holds_for`.
    pub(crate) async fn ensure_service_role(
        &self,
        name: &Ident,
        kind: ServiceRole,
        holds_for: Option<&str>,
    ) -> Result<(), GrantsError> {
        if self
            .service_role_problems(name, kind, holds_for)
            .await?
            .is_none()
        {
            let sql = format!("BEGIN;\n{SET_STANDARD_STRINGS}\n{}", lock_stmt(name)?);
            self.client
                .batch_execute(&sql)
                .await
                .map_err(|e| GrantsError::db(format!("locking the {kind} role"), e))?;
            // Under the lock: another replica may have created it meanwhile.
            let result = match self.service_role_problems(name, kind, holds_for).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => {
                    let create = match holds_for {
                        Some(user) => role::create_holder_role(name, user)?,
                        None => role::create_service_role(name, kind)?,
                    };
                    let sql: Vec<&str> = create.iter().map(Statement::sql).collect();
                    self.client
                        .batch_execute(&sql.join("\n"))
                        .await
                        .map_err(|e| GrantsError::db(format!("creating {kind} role {name}"), e))
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => self.commit(&format!("creating the {kind} role")).await?,
                Err(e) => {
                    self.rollback().await;
                    return Err(e);
                }
            }
        }
        match self.service_role_problems(name, kind, holds_for).await? {
            Some(problems) if problems.is_empty() => Ok(()),
            Some(problems) => Err(GrantsError::UnsafeServiceRole {
                role: name.to_string(),
                purpose: kind.as_str(),
                problems,
            }),
            None => Err(GrantsError::RoleNotFound {
                role: name.to_string(),
            }),
        }
    }

    /// What makes `name` unfit to be the service role `kind` (empty: nothing), or `None` when
    /// no such role exists. Fit means: no attribute granting anything (`NOLOGIN NOSUPERUSER
    /// NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS`), not the connector, no
    /// privilege on a shared object or an object of this database (except what a managed user
    /// granted it on its own table, schema or function), and
    ///
    /// * holder: marked as this library's holder (of user `holds_for` when given: its comment
    ///   names that user), a member of no role, and no member but the connector (which must act
    ///   as the holder to reassign objects to it);
    /// * marker: a member only of managed roles (that is the mark) without any attribute.
    pub(crate) async fn service_role_problems(
        &self,
        name: &Ident,
        kind: ServiceRole,
        holds_for: Option<&str>,
    ) -> Result<Option<Vec<String>>, GrantsError> {
        let action = format!("checking the {kind} role {name}");
        let row = self
            .client
            .query_opt(crate::marker::SERVICE_ROLE_CHECK_SQL, &[&name.as_str()])
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let comment: Option<String> = col(&row, 0, &action)?;
        let attributes: Vec<String> = col(&row, 1, &action)?;
        let is_connector: bool = col(&row, 2, &action)?;
        let member_of: Vec<String> = col(&row, 3, &action)?;
        let member_of_unmanaged: Vec<String> = col(&row, 4, &action)?;
        let members: Vec<String> = col(&row, 5, &action)?;
        let has_privileges: bool = col(&row, 6, &action)?;
        let mut problems = Vec::new();
        if kind == ServiceRole::Holder {
            let of = comment.as_deref().and_then(ServiceRole::holder_of);
            match (holds_for, of) {
                (None, _) if comment.as_deref().is_some_and(|c| kind.is_comment(c)) => {}
                (Some(user), Some(of)) if of == user => {}
                (Some(user), Some(of)) => problems.push(format!(
                    "it holds for {of}, not {user}: the library never gives one user's objects \
                     to another user's holder"
                )),
                (expected, _) => problems.push(format!(
                    "it is not this library's holder (its comment is not {}): the library never \
                     takes over a role it did not create",
                    expected.map_or_else(|| kind.comment(), ServiceRole::holder_comment)
                )),
            }
        }
        if is_connector {
            problems.push("it is the connector itself".to_owned());
        }
        if !attributes.is_empty() {
            problems.push(format!("it has {}", attributes.join(", ")));
        }
        // The marker's members matter less: acting as the marker gives nothing (it holds no
        // privilege and is a member only of users, without INHERIT), and a member that is not
        // a managed user was made one by an administrator. 0.1.0-marked users are members.
        let (member_of, members) = match kind {
            ServiceRole::Holder => (member_of, members),
            _ => (member_of_unmanaged, Vec::new()),
        };
        if !member_of.is_empty() {
            problems.push(format!("it is a member of {}", member_of.join(", ")));
        }
        if !members.is_empty() {
            problems.push(format!("{} are members of it", members.join(", ")));
        }
        if has_privileges {
            problems.push(
                "it holds privileges on objects of this database or shared objects that no \
                 managed user (or holder) owns (pg_shdepend entries of type 'a')"
                    .to_owned(),
            );
        }
        Ok(Some(problems))
    }

    /// Creates `new` with its marks (creating the marker role when missing). Creating again for
    /// the same request is a no-op.
    ///
    /// # Errors
    /// [`GrantsError::NotManaged`] when an unmanaged role has that name;
    /// [`GrantsError::CannotGrantRole`] when the connector may not grant `rds_iam` or the marker
    /// (with the fix SQL for this server version); [`GrantsError::Database`].
    pub async fn create_role(&self, new: &NewRole) -> Result<CreateOutcome, GrantsError> {
        match self.managed_role(&new.name).await {
            Ok(existing) if existing.record.request_id == new.record.request_id => {
                return Ok(CreateOutcome::AlreadyExists(existing.record));
            }
            Ok(existing) => {
                return Err(GrantsError::RoleInUse {
                    role: new.name.to_string(),
                    request_id: existing.record.request_id,
                });
            }
            Err(GrantsError::RoleNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        if matches!(new.auth, LoginAuth::Iam)
            && self.can_grant(&self.settings.names.iam).await? != Some(true)
        {
            return Err(self.cannot_grant(&self.settings.names.iam));
        }
        self.ensure_marker().await?;
        let stmts = role::create_role(new, &self.settings.names, &self.rules)?;
        match self
            .run_locked(&format!("creating role {}", new.name), &new.name, &stmts)
            .await
        {
            Ok(_) => Ok(CreateOutcome::Created),
            // Another replica created it between the check and the lock.
            Err(e) if e.sqlstate() == Some("42710") => match self.managed_role(&new.name).await {
                Ok(r) if r.record.request_id == new.record.request_id => {
                    Ok(CreateOutcome::AlreadyExists(r.record))
                }
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Moves a managed role's expiry (`VALID UNTIL` and its record).
    ///
    /// # Errors
    /// As [`Session::managed_role`]; [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::Database`].
    pub async fn set_expiry(
        &self,
        name: &Ident,
        expires_at: OffsetDateTime,
    ) -> Result<ManagedRecord, GrantsError> {
        let current = self.managed_role(name).await?;
        self.ensure_can_administer(name, "change the expiry of")
            .await?;
        self.migrate_legacy_mark(&current).await?;
        // Everything else the record holds (approver, reason) stays.
        let utc = expires_at.to_offset(time::UtcOffset::UTC);
        let record = ManagedRecord {
            expires_at: utc.replace_nanosecond(0).unwrap_or(utc),
            ..current.record
        };
        let stmts = role::set_expiry(name, &record)?;
        self.run_locked(&format!("changing the expiry of {name}"), name, &stmts)
            .await?;
        Ok(record)
    }

    /// Stops new logins of the managed `role` (`ALTER ROLE … NOLOGIN`, committed at once,
    /// under no advisory lock, so that no session of anybody can delay it) and ends its open
    /// sessions (and with them every lock they held); returns how many sessions were ended. The first step of a
    /// revocation, on its own: a sweep runs it for every expired role before the slower
    /// revocations, so a role whose revocation fails later still cannot log in.
    ///
    /// # Errors
    /// As [`Session::managed_role`] (an unmanaged role is never altered);
    /// [`GrantsError::CannotAdministerRole`] (nothing changes); [`GrantsError::Database`].
    pub async fn disable_login(&self, role: &Ident) -> Result<u64, GrantsError> {
        self.managed_role(role).await?;
        self.ensure_can_administer(role, "disable the login of")
            .await?;
        self.stop_logins(role).await
    }

    /// `ALTER ROLE … NOLOGIN`, then the end of the role's sessions; returns how many ended. The
    /// caller has checked the marks and the connector's right to administer the role.
    ///
    /// No advisory lock here: their keys are public and any login may hold them (a grantee
    /// squatting `rdspg:<itself>` once kept its login this way). `ALTER ROLE` is one statement,
    /// committed at once; a concurrent change of the role's row is retried.
    pub(crate) async fn stop_logins(&self, role: &Ident) -> Result<u64, GrantsError> {
        let action = format!("disabling logins of {role}");
        let stmt = role::disable_login(role);
        let max = self.settings.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.client.batch_execute(stmt.sql()).await {
                Ok(()) => break,
                Err(e) if is_retryable(&e) && attempt < max => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(GrantsError::db(action, e)),
            }
        }
        // Ends the role's sessions everywhere, with every lock they hold.
        let ended = self
            .client
            .query(role::TERMINATE_SESSIONS_SQL, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(format!("terminating the sessions of {role}"), e))?;
        Ok(ended.len() as u64)
    }

    /// Gives a managed role a new random password and returns it.
    ///
    /// # Errors
    /// As [`Session::managed_role`], and [`GrantsError::Database`].
    pub async fn rotate_password(&self, name: &Ident) -> Result<Password, GrantsError> {
        let password = Password::generate();
        self.set_password(name, &password).await?;
        Ok(password)
    }

    /// Sets a managed role's password to `password` (sent as a SCRAM verifier), e.g. the one
    /// password of a request that spans several instances.
    ///
    /// # Errors
    /// As [`Session::managed_role`]; [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::Database`].
    pub async fn set_password(&self, name: &Ident, password: &Password) -> Result<(), GrantsError> {
        let current = self.managed_role(name).await?;
        self.ensure_can_administer(name, "set the password of")
            .await?;
        self.migrate_legacy_mark(&current).await?;
        let stmt = role::set_password(name, password)?;
        self.run_locked(&format!("setting the password of {name}"), name, &[stmt])
            .await
            .map(|_| ())
    }

    /// Sets the connector's own password (the session's `current_user`) to `password`, sent
    /// as its SCRAM verifier (see [`role::set_own_password`]). Sessions already open stay
    /// open; new logins need the new password. Used to rotate the connector's password.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn set_own_password(&self, password: &Password) -> Result<(), GrantsError> {
        let stmt = role::set_own_password(password)?;
        let connector = self.connector.clone();
        self.run_locked(
            &format!("setting the own password of {connector}"),
            &connector,
            &[stmt],
        )
        .await
        .map(|_| ())
    }

    // ----- privileges -----

    /// Reads the role's privileges in this database (one catalog query), covering the objects of
    /// `grants` and every object the role holds privileges on, and the `SECURITY DEFINER`
    /// functions and procedures it owns ([`Inspection::security_definer`], a second query).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn inspect(&self, role: &Ident, grants: &[Grant]) -> Result<Inspection, GrantsError> {
        let mut inspection = self.inspect_privileges(role, grants).await?;
        inspection.security_definer = self.owned_security_definers(role).await?;
        Ok(inspection)
    }

    /// [`Session::inspect`] without [`Inspection::security_definer`] (what planning reads).
    async fn inspect_privileges(
        &self,
        role: &Ident,
        grants: &[Grant],
    ) -> Result<Inspection, GrantsError> {
        let p = plan::scope_params(grants);
        let rows = self
            .client
            .query(
                &plan::inspect_sql(),
                &[
                    &role.as_str(),
                    &p.whole_db,
                    &p.schemas,
                    &p.table_schemas,
                    &p.table_names,
                ],
            )
            .await
            .map_err(|e| GrantsError::db(format!("inspecting the privileges of {role}"), e))?;
        Inspection::from_rows(self.database.clone(), &rows)
    }

    /// Plans the SQL that gives `role` exactly `grants` in this database.
    ///
    /// # Errors
    /// As [`Session::inspect`] and [`plan::plan`].
    pub async fn plan(&self, role: &Ident, grants: &[Grant]) -> Result<Plan, GrantsError> {
        self.plan_with(role, grants, true).await
    }

    /// As [`Session::plan`]; without `defaults`, the role's default-privilege entries are left
    /// out (revocation leaves them to `DROP OWNED`, which needs no membership in their creators).
    async fn plan_with(
        &self,
        role: &Ident,
        grants: &[Grant],
        defaults: bool,
    ) -> Result<Plan, GrantsError> {
        let mut inspection = self.inspect_privileges(role, grants).await?;
        if !defaults {
            inspection.default_acls.clear();
        }
        plan::plan(
            &inspection,
            role,
            grants,
            &self.settings.policy,
            &self.rules,
            &self.connector,
        )
    }

    /// Gives the managed `role` exactly `grants` in this database: plans, then runs the plan in
    /// one transaction sent in one round trip, checks inside it that the catalogs now match, and
    /// commits. Nothing is sent when the plan is empty. Passing fewer grants than before revokes
    /// the rest.
    ///
    /// # Errors
    /// As [`Session::managed_role`] and [`Session::plan`]; [`GrantsError::NothingHappened`] when
    /// the server ignored part of the plan (rolled back).
    pub async fn apply(&self, role: &Ident, grants: &[Grant]) -> Result<ApplyReport, GrantsError> {
        let current = self.managed_role(role).await?;
        self.migrate_legacy_mark(&current).await?;
        self.apply_with(role, grants, true).await
    }

    /// As [`Session::apply`]; `defaults` as in [`Session::plan_with`].
    pub(crate) async fn apply_with(
        &self,
        role: &Ident,
        grants: &[Grant],
        defaults: bool,
    ) -> Result<ApplyReport, GrantsError> {
        self.managed_role(role).await?;
        let action = format!("granting to {role} in database {}", self.database);
        let max = self.settings.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let plan = self.plan_with(role, grants, defaults).await?;
            if plan.is_empty() {
                return Ok(ApplyReport {
                    plan,
                    attempts: attempt - 1,
                });
            }
            match self.begin_with(&action, role, &plan.statements()).await {
                Ok(()) => {
                    // Inside the transaction: the plan must now be empty.
                    let after = match self.plan_with(role, grants, defaults).await {
                        Ok(p) => p,
                        Err(e) => {
                            self.rollback().await;
                            return Err(e);
                        }
                    };
                    if !after.is_empty() {
                        self.rollback().await;
                        return Err(GrantsError::NothingHappened {
                            action,
                            message: format!(
                                "after the plan the catalogs still differ by: {}",
                                after.to_string().trim_end()
                            ),
                        });
                    }
                    self.commit(&action).await?;
                    return Ok(ApplyReport {
                        plan,
                        attempts: attempt,
                    });
                }
                Err(e) if is_retryable(&e) && attempt < max => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(GrantsError::db(action, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(severity: &str, code: &str, message: &str) -> Notice {
        Notice {
            severity: severity.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn warnings_that_mean_nothing_happened() {
        // Messages and codes as PostgreSQL's aclchk.c and user.c emit them.
        let rows = [
            (
                n(
                    "WARNING",
                    "01007",
                    "no privileges were granted for \"orders\"",
                ),
                true,
            ),
            (
                n(
                    "WARNING",
                    "01007",
                    "not all privileges were granted for \"orders\"",
                ),
                true,
            ),
            (
                n(
                    "WARNING",
                    "01006",
                    "no privileges could be revoked for \"orders\"",
                ),
                true,
            ),
            (
                n(
                    "WARNING",
                    "01000",
                    "role \"a\" is not a member of role \"b\"",
                ),
                true,
            ),
            (
                n(
                    "WARNING",
                    "01000",
                    "role \"a\" has not been granted membership in role \"b\" by role \"c\"",
                ),
                true,
            ),
            (
                n(
                    "NOTICE",
                    "00000",
                    "role \"a\" is already a member of role \"b\"",
                ),
                false,
            ),
            (
                n("NOTICE", "00000", "relation \"x\" already exists, skipping"),
                false,
            ),
        ];
        for (notice, want) in rows {
            assert_eq!(notice.means_nothing_happened(), want, "{notice:?}");
        }
    }

    #[test]
    fn lock_key_is_a_quoted_literal() {
        let role = Ident::new("it's").unwrap();
        assert_eq!(
            lock_stmt(&role).unwrap(),
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('rdspg:it''s', 0));"
        );
    }
}
