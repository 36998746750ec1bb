//! Revocation: end a managed role's access and remove it without losing its data.
//!
//! [`Session::revoke_role`] runs, in order:
//!
//! 1. make sure the connector has the role's privileges (`GRANT role TO connector`, with
//!    `INHERIT TRUE` on 16+, where the creator's implicit membership carries only `ADMIN`):
//!    `REASSIGN OWNED` requires it;
//! 2. `ALTER ROLE … NOLOGIN` (committed first, so no new session starts), then
//!    `pg_terminate_backend` of the role's sessions;
//! 3. in every database where `pg_shdepend` shows the role (and the current one):
//!    `REASSIGN OWNED BY role TO new_owner; DROP OWNED BY role;` in one locked transaction, so
//!    the tables it created keep their rows under the new owner (the connector unless
//!    [`Settings::reassign_to`](crate::Settings::reassign_to) says otherwise);
//! 4. `DROP ROLE`.
//!
//! If a database cannot be reached, the role stays `NOLOGIN` and the error
//! ([`GrantsError::RevokeIncomplete`]) lists what is left; running the revocation again finishes.
//! To take away one grant without dropping the role, call [`Session::apply`] with the remaining
//! grants.

use std::future::Future;

use crate::error::{GrantsError, col};
use crate::quote::Ident;
use crate::role;
use crate::session::Session;
use crate::statement::Statement;

/// Opens connections, as the connector, to other databases of the same server.
///
/// Implemented for closures `Fn(String) -> impl Future<Output = Result<Client, GrantsError>>`.
#[async_trait::async_trait]
pub trait DatabaseConnector: Send + Sync {
    /// A client connected to `database`.
    async fn connect(&self, database: &str) -> Result<tokio_postgres::Client, GrantsError>;
}

#[async_trait::async_trait]
impl<F, Fut> DatabaseConnector for F
where
    F: Fn(String) -> Fut + Send + Sync,
    Fut: Future<Output = Result<tokio_postgres::Client, GrantsError>> + Send,
{
    async fn connect(&self, database: &str) -> Result<tokio_postgres::Client, GrantsError> {
        self(database.to_owned()).await
    }
}

/// What [`Session::revoke_role`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevokeReport {
    /// Databases where ownership was reassigned and privileges dropped.
    pub databases: Vec<String>,
    /// Sessions of the role that were terminated.
    pub sessions_terminated: u64,
    /// False when the role was already gone (a re-run after success).
    pub dropped: bool,
}

/// The advisory-lock namespace of whole revocations.
const REVOKE_LOCK: &str = "rdspg-revoke";

impl Session<'_> {
    /// Revokes the managed `role` entirely: see the [module docs](crate::revoke).
    ///
    /// # Errors
    /// [`GrantsError::NotManaged`] and [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::RevokeIncomplete`] when a
    /// database could not be cleaned (the role stays `NOLOGIN`; run again);
    /// [`GrantsError::Database`].
    pub async fn revoke_role(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
    ) -> Result<RevokeReport, GrantsError> {
        // One revocation of a role at a time, across replicas: its steps span several
        // transactions and databases, so the per-transaction lock is not enough (a second
        // revoker would find the role half-revoked and fail at DROP ROLE). A session-level
        // lock on this connection, released whatever happens.
        self.session_lock(REVOKE_LOCK, role).await?;
        let result = self.revoke_role_locked(role, databases).await;
        let unlocked = self.session_unlock(REVOKE_LOCK, role).await;
        let report = result?;
        unlocked?;
        Ok(report)
    }

    async fn revoke_role_locked(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
    ) -> Result<RevokeReport, GrantsError> {
        match self.managed_role(role).await {
            Ok(_) => {}
            Err(GrantsError::RoleNotFound { .. }) => {
                return Ok(RevokeReport {
                    databases: Vec::new(),
                    sessions_terminated: 0,
                    dropped: false,
                });
            }
            Err(e) => return Err(e),
        }
        // Before anything changes: on 16+ every step below needs ADMIN OPTION on the role.
        self.ensure_can_administer(role, "revoke").await?;
        let rules = self.rules();
        let connector = self.connector().clone();

        // 1 and 2: act for the role, stop logins.
        let has_privs: bool = self
            .client()
            .query_one(
                "SELECT pg_catalog.pg_has_role(current_user, $1::pg_catalog.text, 'USAGE')",
                &[&role.as_str()],
            )
            .await
            .map_err(|e| GrantsError::db(format!("checking membership in {role}"), e))
            .and_then(|r| col(&r, 0, "checking membership"))?;
        let mut first = Vec::new();
        if !has_privs {
            first.push(Statement::new(
                rules.grant_privileges_of_sql(role, &connector),
            ));
        }
        first.push(role::disable_login(role));
        self.run_locked(&format!("disabling logins of {role}"), role, &first)
            .await?;
        let terminated = self
            .client()
            .query(
                role::terminate_sessions(role)?.sql().trim_end_matches(';'),
                &[],
            )
            .await
            .map_err(|e| GrantsError::db(format!("terminating the sessions of {role}"), e))?
            .len() as u64;

        // 3: every database holding its objects or privileges.
        let rows = self
            .client()
            .query(
                "SELECT DISTINCT d.datname::pg_catalog.text FROM pg_catalog.pg_shdepend s
                   JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.dbid
                  WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                    AND s.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles
                                                            WHERE rolname OPERATOR(pg_catalog.=) $1)
                  ORDER BY 1",
                &[&role.as_str()],
            )
            .await
            .map_err(|e| GrantsError::db(format!("finding the databases of {role}"), e))?;
        let mut dbs: Vec<String> = rows
            .iter()
            .map(|r| col(r, 0, "finding databases"))
            .collect::<Result<_, _>>()?;
        if !dbs.iter().any(|d| d == self.database()) {
            dbs.insert(0, self.database().to_owned());
        }
        let new_owner = self
            .settings()
            .reassign_to
            .clone()
            .unwrap_or_else(|| connector.clone());
        let stmts = role::reassign_and_drop_owned(role, &new_owner);
        let mut cleaned = Vec::new();
        let mut failed: Vec<(String, String)> = Vec::new();
        for db in dbs {
            let action = format!("reassigning and dropping what {role} owns in {db}");
            let result = if db == self.database() {
                self.clean_database(role, &action, &stmts).await
            } else {
                match databases.connect(&db).await {
                    Ok(client) => match Session::new(&client, self.settings().clone()).await {
                        Ok(other) => other.clean_database(role, &action, &stmts).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(()) => cleaned.push(db),
                Err(e) => {
                    tracing::warn!(%role, database = %db, error = %e, "revocation step failed");
                    failed.push((db, e.to_string()));
                }
            }
        }
        if let Some((_, reason)) = failed.first() {
            return Err(GrantsError::RevokeIncomplete {
                role: role.to_string(),
                remaining: failed.iter().map(|(d, _)| d.clone()).collect(),
                reason: reason.clone(),
            });
        }

        // 4.
        self.run_locked(
            &format!("dropping role {role}"),
            role,
            &[role::drop_role(role)],
        )
        .await
        .map_err(|e| GrantsError::RevokeIncomplete {
            role: role.to_string(),
            remaining: Vec::new(),
            reason: e.to_string(),
        })?;
        Ok(RevokeReport {
            databases: cleaned,
            sessions_terminated: terminated,
            dropped: true,
        })
    }

    /// Revokes every privilege explicitly (verified, see [`Session::apply`]), then reassigns and
    /// drops what the role owns. The explicit revoke comes first because `DROP OWNED` may pick a
    /// different grantor than the one that granted (seen on 15 when the connector both holds a
    /// grant option and is a member of the owner) and then silently leaves the privilege.
    /// Default-privilege entries naming the role are left to `DROP OWNED`, which removes them
    /// whoever their creator is.
    async fn clean_database(
        &self,
        role: &Ident,
        action: &str,
        stmts: &[Statement],
    ) -> Result<(), GrantsError> {
        self.apply_with(role, &[], false).await?;
        self.run_locked(action, role, stmts).await.map(|_| ())
    }
}
