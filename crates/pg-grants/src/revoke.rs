//! Revocation: end a managed role's access and remove it without losing its data, and without
//! handing anything it leaves behind to a role with rights.
//!
//! [`Session::revoke_role`] runs, in order:
//!
//! 1. `ALTER ROLE … NOLOGIN` (committed first, under no advisory lock, so no new session
//!    starts), then `pg_terminate_backend` of the role's sessions (as
//!    [`Session::disable_login`]);
//! 2. make sure the connector has the role's privileges (`GRANT role TO connector`, with
//!    `INHERIT TRUE` on 16+, where the creator's implicit membership carries only `ADMIN`):
//!    `REASSIGN OWNED` requires it;
//! 3. when the role owns anything, make sure its own holder role exists and has no rights
//!    (below); otherwise stop with [`GrantsError::UnsafeServiceRole`]: the role stays `NOLOGIN`,
//!    nothing is reassigned or dropped;
//! 4. in every database where `pg_shdepend` shows the role (and the current one), in one locked
//!    transaction: check the holder again, disable the triggers on relations it does not own
//!    that run its code ([`ForeignTrigger`], reported in [`RevokeReport::disabled_triggers`];
//!    below), list what the role owns ([`OwnedObject`], reported in
//!    [`RevokeReport::moved`]), make its `SECURITY DEFINER` functions and procedures
//!    `SECURITY INVOKER`, (15+) its views `security_invoker`, its tables' rules disabled (and
//!    the write privileges it granted on views with rules revoked), `REASSIGN OWNED BY role TO
//!    holder`, then `DROP OWNED BY role`, which then only drops privileges: the tables it created
//!    keep their rows under the holder;
//! 5. `DROP ROLE`.
//!
//! # The holder
//!
//! Objects go to the user's own holder role, never to the connector: a `SECURITY DEFINER`
//! function, a trigger function or a view left by the user runs with, or reads through, its
//! owner's rights, and the connector's are `CREATEROLE` and `rds_superuser`.
//!
//! Each revoked user that owns something gets a holder of its own, named by
//! [`holder_role_name`] `<prefix>_<16 hex digits>`: the prefix
//! [`Settings::reassign_to`](crate::Settings::reassign_to) (default
//! [`DEFAULT_HOLDER_ROLE`](crate::marker::DEFAULT_HOLDER_ROLE)), the digits a stable hash of the
//! user's OID and name, so that a re-run of a half-done revocation finds the same holder. One
//! holder for every user would own every user's leftovers, and whatever runs as the owner of one
//! user's object (an index expression run by autovacuum or `ANALYZE`, a view before
//! PostgreSQL 15) would reach the others'. Running as a user's holder reaches only what that user
//! owned (and what others granted the holder), never more than the user itself had.
//!
//! A holder is created by the library when missing and has no rights of its own: `NOLOGIN
//! NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS`, a member of no role,
//! no privilege on anything, and no member but the connector. Before every reassignment, in the
//! same transaction, the library checks exactly that, and that the role carries the comment of
//! this user's holder (`{"rdspg":1,"kind":"holder","of":"alice"}`), so the connector, the master
//! user, any other role it did not create, or another user's holder under that name is refused.
//! Holders stay after their user is gone: they own its data.
//!
//! The connector must act as the holder to reassign objects to it (`REASSIGN OWNED` needs the
//! privileges of both roles; 16+ also the right to `SET ROLE` to the new owner), so it is a
//! member of the holder (16+: `WITH INHERIT TRUE, SET TRUE`). That gives the connector nothing,
//! as the holder has nothing; no user is ever made a member of it.
//!
//! Objects such as functions may be given only to an owner that may create in their schema; for
//! the moment of the reassignment the holder receives `CREATE` on those schemas (granted by the
//! connector, which must be able to), and loses it again in the same transaction.
//!
//! `SECURITY DEFINER` routines the user owned become `SECURITY INVOKER` before they move, and on
//! PostgreSQL 15+ its views get `security_invoker = true`: a routine running as the holder (for
//! example one that executes any SQL it is given) would let its callers read, change or drop
//! everything the user left, tables its grantees could not read included, and a view would
//! show them the user's tables. The report lists each routine with
//! [`OwnedObject::security_definer`] and each view ([`OwnedObject::is_view`]), so an
//! administrator can review them and decide. Before 15 views have no such option: a view the
//! user left reads, as its holder, the user's own tables (never another user's, which belong to
//! another holder). Rewrite rules run
//! their actions with the rights of their table's owner too: rules on the user's tables are
//! disabled (`ALTER TABLE … DISABLE RULE`, kept), and as a view's rules cannot be disabled and
//! fire only on writes, the write privileges the user granted on its views with rules are
//! revoked (on the view and on its columns). On 17+ the `MAINTAIN` privilege it granted on its relations is revoked too:
//! `ANALYZE` or `REFRESH MATERIALIZED VIEW` by a grantee runs index expressions and view
//! queries with the owner's rights.
//!
//! # Triggers on relations the user does not own
//!
//! A trigger runs its function, and its `WHEN` condition, with the rights of whoever writes to
//! the relation. A user that could create triggers on an owner's table (the `TRIGGER` privilege,
//! granted by the `admin` level of 0.1.0) leaves a function it owns behind a trigger on that
//! table; moving the function to the holder changes nothing about who runs it: the owner's, the
//! master user's or the application's next write would run the user's code (for example SQL
//! queued by an accomplice) with the writer's rights. So, in the transaction that moves the
//! user's objects and before they move, every enabled, non-internal trigger on a relation the
//! user does not own whose function, or anything its `WHEN` condition uses, the user owns (and
//! each partition's clone of such a trigger) is disabled, acting for the relation's owner
//! (`ALTER TABLE … DISABLE TRIGGER …`; the trigger and its function are kept). When the
//! connector cannot act for that owner (on 16+ the master user that created the connector is a
//! member of it), or the relation is a view (PostgreSQL cannot disable a view's `INSTEAD OF`
//! trigger), the revocation stops with [`GrantsError::TriggersNotDisabled`], naming each
//! trigger, its relation and the SQL its owner runs; nothing moves and the role stays `NOLOGIN`.
//! Event triggers need a superuser, which no grantee is. Triggers on the user's own tables move
//! with them.
//!
//! If a database cannot be reached, the role stays `NOLOGIN` and the error
//! ([`GrantsError::RevokeIncomplete`]) lists what is left; running the revocation again finishes.
//! To take away one grant without dropping the role, call [`Session::apply`] with the remaining
//! grants.

use std::future::Future;

use crate::error::{GrantsError, col};
use crate::marker::{ServiceRole, holder_role_name};
use crate::quote::Ident;
use crate::role;
use crate::session::{Attempt, Session};
use crate::sql;
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

/// An object a role owns, as the catalogs name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct OwnedObject {
    /// The database it lives in.
    pub database: String,
    /// Its kind, as `pg_identify_object` names it: `table`, `view`, `materialized view`,
    /// `sequence`, `function`, `procedure`, `schema`, `type`, ...
    pub kind: String,
    /// Its schema-qualified name as SQL (`sales.run(text)` for a function), from
    /// `pg_identify_object`.
    pub name: String,
    /// A function or procedure declared `SECURITY DEFINER` (it runs with its owner's rights).
    /// In [`RevokeReport::moved`]: it was, and revocation made it `SECURITY INVOKER`.
    pub security_definer: bool,
    /// A function returning `trigger`.
    pub trigger_function: bool,
}

impl OwnedObject {
    /// Whether it is a view or materialized view (it reads its tables with its owner's rights).
    pub fn is_view(&self) -> bool {
        self.kind == "view" || self.kind == "materialized view"
    }
}

/// A trigger whose code the revoked user owns — its function, or a function, operator or type
/// its `WHEN` condition uses (or those of the partitioned table's trigger it was cloned from) —
/// on a relation the user does not own, or on one of its own tables. A trigger runs as whoever
/// writes to the relation, so once the user is gone its code would run with the rights of the
/// owner, the master user or the application on their next write (to an application table, or
/// to a table the user left behind). Revocation disables it (`ALTER TABLE … DISABLE TRIGGER`,
/// acting for the relation's owner; the trigger and its function are kept).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ForeignTrigger {
    /// The database it lives in.
    pub database: String,
    /// The relation it is on, `schema.relation` (unquoted names).
    pub table: String,
    /// Whether that relation is a view (whose `INSTEAD OF` triggers PostgreSQL cannot disable).
    pub view: bool,
    /// The trigger's name.
    pub trigger: String,
    /// The trigger function, as `regprocedure` names it (`sales.fire()`).
    pub function: String,
    /// The relation's owner.
    pub owner: String,
    /// The statement that takes the trigger out of use: in [`RevokeReport::disabled_triggers`]
    /// the `ALTER TABLE … DISABLE TRIGGER …;` the connector ran; in
    /// [`GrantsError::TriggersNotDisabled`] the one for the owner to run (`ALTER TABLE … DISABLE
    /// TRIGGER …;`, or for a view, which cannot disable a trigger, `DROP TRIGGER … ON …;` after
    /// review).
    pub fix_sql: String,
}

impl std::fmt::Display for ForeignTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "in database {:?}, trigger {:?} on {} {:?} (function {}) owned by {:?}: as {:?} run `{}`",
            self.database,
            self.trigger,
            if self.view { "view" } else { "table" },
            self.table,
            self.function,
            self.owner,
            self.owner,
            self.fix_sql
        )
    }
}

/// What [`Session::revoke_role`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RevokeReport {
    /// Databases where ownership was reassigned and privileges dropped.
    pub databases: Vec<String>,
    /// Sessions of the role that were terminated.
    pub sessions_terminated: u64,
    /// False when the role was already gone (a re-run after success).
    pub dropped: bool,
    /// The user's own holder role (see [the module docs](self#the-holder)), which received its
    /// objects; created only when the user owned something (else `moved` is empty and the role
    /// may not exist). Empty when the role was already gone.
    pub holder: String,
    /// Every object that moved to the holder, read from the catalogs (`pg_shdepend`) in the
    /// transaction that moved it.
    pub moved: Vec<OwnedObject>,
    /// The triggers on relations the user did not own that ran its code, disabled (kept) in the
    /// transaction that moved its objects (see [`ForeignTrigger`]); the partitions' clones of a
    /// partitioned table's trigger are listed each.
    pub disabled_triggers: Vec<ForeignTrigger>,
}

/// One row of [`sql::OWNED_OBJECTS`].
pub(crate) struct OwnedRow {
    pub(crate) object: OwnedObject,
    pub(crate) is_schema: bool,
    pub(crate) holder_needs_create_in: Option<String>,
}

/// A grantee as SQL: `PUBLIC` for `''`, else the quoted role name.
fn grantee_sql(grantee: String) -> Result<String, GrantsError> {
    Ok(if grantee.is_empty() {
        "PUBLIC".to_owned()
    } else {
        Ident::new(grantee)?.quoted().to_string()
    })
}

impl Session<'_> {
    /// What `role` owns in this database; `holder` names the role whose `CREATE` rights are
    /// checked (any existing role when no reassignment follows).
    pub(crate) async fn owned_objects(
        &self,
        role: &Ident,
        holder: &Ident,
    ) -> Result<Vec<OwnedRow>, GrantsError> {
        let action = format!("listing the objects {role} owns in {}", self.database());
        let rows = self
            .client()
            .query(sql::OWNED_OBJECTS, &[&role.as_str(), &holder.as_str()])
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                Ok(OwnedRow {
                    object: OwnedObject {
                        database: self.database().to_owned(),
                        kind: col(row, 0, &action)?,
                        name: col(row, 1, &action)?,
                        security_definer: col(row, 2, &action)?,
                        trigger_function: col(row, 3, &action)?,
                    },
                    is_schema: col(row, 4, &action)?,
                    holder_needs_create_in: col(row, 5, &action)?,
                })
            })
            .collect()
    }

    /// The `SECURITY DEFINER` functions and procedures `role` owns in this database.
    pub(crate) async fn owned_security_definers(
        &self,
        role: &Ident,
    ) -> Result<Vec<OwnedObject>, GrantsError> {
        Ok(self
            .owned_objects(role, role)
            .await?
            .into_iter()
            .map(|r| r.object)
            .filter(|o| o.security_definer)
            .collect())
    }

    /// Creates the holder role of user `user` when missing, checks that it has no rights and is
    /// marked as that user's holder, and makes the connector able to act as it (see the
    /// [module docs](self#the-holder)).
    async fn ensure_holder(&self, holder: &Ident, user: &Ident) -> Result<(), GrantsError> {
        if holder == self.connector() {
            return Err(GrantsError::UnsafeServiceRole {
                role: holder.to_string(),
                purpose: ServiceRole::Holder.as_str(),
                problems: vec!["it is the connector itself".to_owned()],
            });
        }
        self.ensure_service_role(holder, ServiceRole::Holder, Some(user.as_str()))
            .await?;
        let rules = self.rules();
        let (expr, grant) = if rules.membership_options() {
            (
                "pg_catalog.pg_has_role(CURRENT_USER, $1::pg_catalog.text, 'USAGE') \
                 AND pg_catalog.pg_has_role(CURRENT_USER, $1::pg_catalog.text, 'SET')",
                format!(
                    "GRANT {} TO {} WITH INHERIT TRUE, SET TRUE;",
                    holder.quoted(),
                    self.connector().quoted()
                ),
            )
        } else {
            (
                "pg_catalog.pg_has_role(CURRENT_USER, $1::pg_catalog.text, 'USAGE')",
                format!(
                    "GRANT {} TO {};",
                    holder.quoted(),
                    self.connector().quoted()
                ),
            )
        };
        let action = format!("checking that the connector may act as holder {holder}");
        let row = self
            .client()
            .query_one(&format!("SELECT {expr}"), &[&holder.as_str()])
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        if !col::<bool>(&row, 0, &action)? {
            self.run_locked(
                &format!("letting the connector act as holder {holder}"),
                holder,
                &[Statement::new(grant)],
            )
            .await?;
        }
        Ok(())
    }
}

/// The advisory-lock namespace of whole revocations.
const REVOKE_LOCK: &str = "rdspg-revoke";

impl Session<'_> {
    /// Revokes the managed `role` entirely: see the [module docs](crate::revoke).
    ///
    /// # Errors
    /// [`GrantsError::NotManaged`] and [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::TriggersNotDisabled`] when the user left triggers on others' relations the
    /// connector cannot disable (the role stays `NOLOGIN`; run again after the owners' fix);
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
                    holder: String::new(),
                    moved: Vec::new(),
                    disabled_triggers: Vec::new(),
                });
            }
            Err(e) => return Err(e),
        }
        // Before anything changes: on 16+ every step below needs ADMIN OPTION on the role.
        self.ensure_can_administer(role, "revoke").await?;
        // The user's own holder (see the module docs), named before anything changes.
        let oid: u32 = self
            .client()
            .query_one(sql::ROLE_OID, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(format!("finding the OID of {role}"), e))
            .and_then(|r| col(&r, 0, "finding the role's OID"))?;
        let holder = holder_role_name(&self.settings().reassign_to, oid, role.as_str())?;
        let rules = self.rules();
        let connector = self.connector().clone();

        // 1 and 2: stop logins (no lock a grantee could hold delays it), act for the role.
        let terminated = self.stop_logins(role).await?;
        let has_privs: bool = self
            .client()
            .query_one(sql::HAS_PRIVILEGES_OF, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(format!("checking membership in {role}"), e))
            .and_then(|r| col(&r, 0, "checking membership"))?;
        if !has_privs {
            let grant = Statement::new(rules.grant_privileges_of_sql(role, &connector));
            self.run_locked(&format!("acting for {role}"), role, &[grant])
                .await?;
        }

        // 3: the user's own holder, checked before anything moves; on refusal the role stays
        // NOLOGIN. Created only when the user owns something, in any database (read now that
        // its sessions are gone).
        let owns_something: bool = self
            .client()
            .query_one(sql::OWNS_SOMETHING, &[&oid])
            .await
            .map_err(|e| GrantsError::db(format!("finding what {role} owns"), e))
            .and_then(|r| col(&r, 0, "finding what the role owns"))?;
        if owns_something {
            self.ensure_holder(&holder, role).await?;
        }

        // 4: every database holding its objects or privileges.
        let rows = self
            .client()
            .query(sql::ROLE_DATABASES, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(format!("finding the databases of {role}"), e))?;
        let mut dbs: Vec<String> = rows
            .iter()
            .map(|r| col(r, 0, "finding databases"))
            .collect::<Result<_, _>>()?;
        if !dbs.iter().any(|d| d == self.database()) {
            dbs.insert(0, self.database().to_owned());
        }
        let mut cleaned = Vec::new();
        let mut moved = Vec::new();
        let mut disabled_triggers = Vec::new();
        let mut failed: Vec<(String, String)> = Vec::new();
        let mut blocked: Vec<ForeignTrigger> = Vec::new();
        for db in dbs {
            let action = format!("reassigning and dropping what {role} owns in {db}");
            let result = if db == self.database() {
                self.clean_database(role, &holder, &action).await
            } else {
                match databases.connect(&db).await {
                    Ok(client) => match Session::new(&client, self.settings().clone()).await {
                        Ok(other) => other.clean_database(role, &holder, &action).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(done) => {
                    moved.extend(done.moved);
                    disabled_triggers.extend(done.disabled_triggers);
                    cleaned.push(db);
                }
                Err(GrantsError::TriggersNotDisabled { triggers, .. }) => {
                    tracing::warn!(%role, database = %db, triggers = triggers.len(),
                        "revocation stopped: triggers the connector cannot disable");
                    blocked.extend(triggers);
                }
                Err(e) => {
                    tracing::warn!(%role, database = %db, error = %e, "revocation step failed");
                    failed.push((db, e.to_string()));
                }
            }
        }
        if !blocked.is_empty() {
            return Err(GrantsError::TriggersNotDisabled {
                role: role.to_string(),
                triggers: blocked,
            });
        }
        if let Some((_, reason)) = failed.first() {
            return Err(GrantsError::RevokeIncomplete {
                role: role.to_string(),
                remaining: failed.iter().map(|(d, _)| d.clone()).collect(),
                reason: reason.clone(),
            });
        }

        // 5.
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
            holder: holder.to_string(),
            moved,
            disabled_triggers,
        })
    }

    /// Revokes every privilege explicitly (verified, see [`Session::apply`]), then moves what the
    /// role owns to the holder and drops what is left (privileges). The explicit revoke comes
    /// first because `DROP OWNED` may pick a different grantor than the one that granted (seen
    /// on 15 when the connector both holds a grant option and is a member of the owner) and
    /// then silently leaves the privilege. Default-privilege entries naming the role are left to
    /// `DROP OWNED`, which removes them whoever their creator is.
    async fn clean_database(
        &self,
        role: &Ident,
        holder: &Ident,
        action: &str,
    ) -> Result<Cleaned, GrantsError> {
        // Its marks, again in this database's session, before any change here.
        self.managed_role(role).await?;
        self.apply_with(role, &[], false).await?;
        self.with_retries(action, |_| async move {
            self.begin_with(action, role, &[]).await?;
            let moved = match self.reassign_in_transaction(role, holder).await {
                Ok(moved) => moved,
                Err(e) => {
                    self.rollback().await;
                    return Err(Attempt::Transient(e));
                }
            };
            self.commit(action).await.map_err(Attempt::Transient)?;
            Ok(moved)
        })
        .await
    }

    /// The triggers on relations `role` does not own that run its code (see [`ForeignTrigger`]),
    /// each with whether the connector may disable it (it has the owner's privileges and the
    /// relation is not a view).
    async fn foreign_triggers(
        &self,
        role: &Ident,
    ) -> Result<Vec<(ForeignTrigger, bool)>, GrantsError> {
        let action = format!(
            "listing the triggers running code of {role} in {}",
            self.database()
        );
        let rows = self
            .client()
            .query(sql::FOREIGN_TRIGGERS, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                let schema = Ident::new(col::<String>(row, 0, &action)?)?;
                let relation = Ident::new(col::<String>(row, 1, &action)?)?;
                let relkind: String = col(row, 2, &action)?;
                let trigger = Ident::new(col::<String>(row, 3, &action)?)?;
                let acts_for_owner: bool = col(row, 6, &action)?;
                let view = relkind == "v";
                let name = format!("{}.{}", schema.quoted(), relation.quoted());
                let fix_sql = if view {
                    format!("DROP TRIGGER {} ON {name};", trigger.quoted())
                } else {
                    format!("ALTER TABLE {name} DISABLE TRIGGER {};", trigger.quoted())
                };
                Ok((
                    ForeignTrigger {
                        database: self.database().to_owned(),
                        table: format!("{}.{}", schema.as_str(), relation.as_str()),
                        view,
                        trigger: trigger.as_str().to_owned(),
                        function: col(row, 5, &action)?,
                        owner: col(row, 4, &action)?,
                        fix_sql,
                    },
                    acts_for_owner && !view,
                ))
            })
            .collect()
    }

    /// What takes out of use the parts of the role's relations that run with their owner's
    /// rights, soon the holder's: a rule's actions run so (tables: `ALTER TABLE … DISABLE RULE`,
    /// kept; views cannot disable a rule, and rules fire only on writes, so the write privileges
    /// the owner granted on them are revoked), and so do the index expressions and view queries
    /// that `MAINTAIN` (17+) lets others run (`ANALYZE`, `REFRESH MATERIALIZED VIEW`): the
    /// `MAINTAIN` the owner granted is revoked.
    async fn rule_statements(&self, role: &Ident) -> Result<Vec<Statement>, GrantsError> {
        let action = format!("listing the rules of {role} in {}", self.database());
        let rows = self
            .client()
            .query(sql::ENABLED_RULES, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        let mut out = Vec::new();
        if self.rules().has_maintain() {
            let rows = self
                .client()
                .query(sql::MAINTAIN_GRANTS, &[&role.as_str()])
                .await
                .map_err(|e| GrantsError::db(action.clone(), e))?;
            for row in &rows {
                let schema = Ident::new(col::<String>(row, 0, &action)?)?;
                let relation = Ident::new(col::<String>(row, 1, &action)?)?;
                for grantee in col::<Vec<String>>(row, 2, &action)? {
                    out.push(Statement::new(format!(
                        "REVOKE MAINTAIN ON {}.{} FROM {} CASCADE;",
                        schema.quoted(),
                        relation.quoted(),
                        grantee_sql(grantee)?
                    )));
                }
            }
        }
        let mut views_done: Vec<String> = Vec::new();
        for row in &rows {
            let schema = Ident::new(col::<String>(row, 0, &action)?)?;
            let relation = Ident::new(col::<String>(row, 1, &action)?)?;
            let relkind: String = col(row, 2, &action)?;
            let rule = Ident::new(col::<String>(row, 3, &action)?)?;
            let grantees: Vec<String> = col(row, 4, &action)?;
            let name = format!("{}.{}", schema.quoted(), relation.quoted());
            // Only tables can disable a rule (not views, nor foreign tables).
            if relkind != "r" && relkind != "p" {
                if views_done.contains(&name) {
                    continue;
                }
                for grantee in grantees {
                    out.push(Statement::new(format!(
                        "REVOKE INSERT, UPDATE, DELETE ON {name} FROM {} CASCADE;",
                        grantee_sql(grantee)?
                    )));
                }
                views_done.push(name);
            } else {
                out.push(Statement::new(format!(
                    "ALTER TABLE {name} DISABLE RULE {};",
                    rule.quoted()
                )));
            }
        }
        Ok(out)
    }

    /// Inside the open transaction: lists what the role owns, checks the holder (when the role
    /// owns something here), and moves it.
    async fn reassign_in_transaction(
        &self,
        role: &Ident,
        holder: &Ident,
    ) -> Result<Cleaned, GrantsError> {
        if self.owned_objects(role, role).await?.is_empty() {
            // Nothing to move (the holder may not exist): only privileges are left to drop.
            self.client()
                .batch_execute(&format!("DROP OWNED BY {};", role.quoted()))
                .await
                .map_err(|e| {
                    GrantsError::db(
                        format!("dropping the privileges of {role} in {}", self.database()),
                        e,
                    )
                })?;
            return Ok(Cleaned::default());
        }
        let problems = self
            .service_role_problems(holder, ServiceRole::Holder, Some(role.as_str()))
            .await?
            .unwrap_or_else(|| {
                vec![
                    "it does not exist (the user came to own objects while it was being \
                     revoked); run the revocation again"
                        .to_owned(),
                ]
            });
        if !problems.is_empty() {
            return Err(GrantsError::UnsafeServiceRole {
                role: holder.to_string(),
                purpose: ServiceRole::Holder.as_str(),
                problems,
            });
        }
        // Triggers on others' relations running the user's code: disabled here, before its
        // objects move, or the revocation stops (nothing moves, the user stays NOLOGIN).
        let (triggers, blocked): (Vec<_>, Vec<_>) = self
            .foreign_triggers(role)
            .await?
            .into_iter()
            .partition(|(_, can)| *can);
        if !blocked.is_empty() {
            return Err(GrantsError::TriggersNotDisabled {
                role: role.to_string(),
                triggers: blocked.into_iter().map(|(t, _)| t).collect(),
            });
        }
        let triggers: Vec<ForeignTrigger> = triggers.into_iter().map(|(t, _)| t).collect();
        let owned = self.owned_objects(role, holder).await?;
        let mut stmts: Vec<Statement> = triggers
            .iter()
            .map(|t| Statement::new(t.fix_sql.clone()))
            .collect();
        stmts.extend(self.rule_statements(role).await?);
        let mut temporary = Vec::new();
        for row in &owned {
            let o = &row.object;
            if o.security_definer {
                stmts.push(Statement::new(format!(
                    "ALTER ROUTINE {} SECURITY INVOKER;",
                    o.name
                )));
            }
            if o.kind == "view" && self.rules().version().major() >= 15 {
                // A view reads its tables with its owner's rights, and the holder owns the
                // tables every revoked user left: from now on it reads with its caller's.
                stmts.push(Statement::new(format!(
                    "ALTER VIEW {} SET (security_invoker = true);",
                    o.name
                )));
            }
            if row.is_schema {
                // Moved first, so that the holder may own what is in it.
                stmts.push(Statement::new(format!(
                    "ALTER SCHEMA {} OWNER TO {};",
                    o.name,
                    holder.quoted()
                )));
            }
            if let Some(schema) = &row.holder_needs_create_in {
                let schema = Ident::new(schema.clone())?;
                if !temporary.contains(&schema) {
                    temporary.push(schema);
                }
            }
        }
        for schema in &temporary {
            stmts.push(Statement::new(format!(
                "GRANT CREATE ON SCHEMA {} TO {};",
                schema.quoted(),
                holder.quoted()
            )));
        }
        let mut tail = role::reassign_and_drop_owned(role, holder).into_iter();
        stmts.extend(tail.next());
        for schema in &temporary {
            stmts.push(Statement::new(format!(
                "REVOKE CREATE ON SCHEMA {} FROM {};",
                schema.quoted(),
                holder.quoted()
            )));
        }
        stmts.extend(tail);
        let sql: Vec<&str> = stmts.iter().map(Statement::sql).collect();
        tracing::debug!(%role, %holder, database = %self.database(), objects = owned.len(), "reassigning to the holder");
        self.client()
            .batch_execute(&sql.join("\n"))
            .await
            .map_err(|e| {
                GrantsError::db(
                    format!(
                        "reassigning what {role} owns in {} to {holder}",
                        self.database()
                    ),
                    e,
                )
            })?;
        Ok(Cleaned {
            moved: owned.into_iter().map(|r| r.object).collect(),
            disabled_triggers: triggers,
        })
    }
}

/// What cleaning one database did.
#[derive(Default)]
struct Cleaned {
    moved: Vec<OwnedObject>,
    disabled_triggers: Vec<ForeignTrigger>,
}
