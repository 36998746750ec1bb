//! Revocation: end a managed role's access and remove it without losing its data, and without
//! handing anything it leaves behind to a role with rights; or end its access and keep it
//! ([revocation with retention](#revocation-with-retention)).
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
//!    that run its code, and every user trigger on its own tables ([`ForeignTrigger`],
//!    reported in [`RevokeReport::disabled_triggers`]; below), list what the role owns
//!    ([`OwnedObject`], reported in [`RevokeReport::moved`]), revoke `EXECUTE` on its routines
//!    from everyone but itself ([below](#its-routines-and-triggers)), make its
//!    `SECURITY DEFINER` functions and procedures `SECURITY INVOKER`, (15+) its views `security_invoker`, its tables' rules disabled (and
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
//! Event triggers need a superuser, which no grantee is. Triggers on the user's own tables are
//! disabled too (below).
//!
//! # Its routines and triggers
//!
//! Much of what a user leaves behind runs **as the caller**, not as its owner: a function
//! called from a row-level security policy runs as whoever reads the table, one called from a
//! column default, a `CHECK` constraint, a generated column or a domain check as whoever
//! writes, and an operator's or a cast's function as whoever uses it. `SECURITY INVOKER` does
//! not help here (it is what makes the function run as the caller), nor does moving the
//! function to the holder. A user that could create a table and a function (the `admin`
//! level) could leave a policy calling its function on a table it granted to `PUBLIC`, and the
//! next reader (the application's owner, the master user) would run it with its own rights.
//!
//! So, in the same transaction, `EXECUTE` on every routine the user owns (functions,
//! procedures, aggregates) is revoked from `PUBLIC` (which holds it by default) and from every
//! other grantee (`REVOKE EXECUTE ON ROUTINE … FROM … CASCADE`, acting for the user).
//! PostgreSQL checks `EXECUTE` for the calling role each time such a function runs, so every
//! path to the user's code (policy, default, constraint, generated column, domain, operator,
//! cast, view, a direct call) now fails closed for everyone but the owner: the user (retained,
//! `NOLOGIN`) or its holder (nobody's login; the connector, a member of both, is the exception).
//! A statement that needs one of them fails with `permission denied for function …`; the
//! owner of the data grants `EXECUTE` again after review if it wants the object back in use.
//!
//! A trigger function is not checked for `EXECUTE` when it fires, so every enabled user
//! (non-internal) trigger on the user's own tables is disabled (`ALTER TABLE … DISABLE TRIGGER
//! …`, kept, listed in [`RevokeReport::disabled_triggers`] with the triggers on others'
//! relations), whatever function it calls: a trigger on its own table would otherwise run as
//! whoever writes to it. What stays usable by others is its tables and views, as they were
//! granted; reading or writing them runs none of its code (a statement that would, through a
//! policy, a default or a constraint, fails).
//!
//! # Locks, and the sessions that squat them
//!
//! A revocation (or retirement) of a role runs under the session-level advisory lock
//! `rdspg-revoke:<role>`, and each of its transactions under the role's (or its holder's)
//! transaction-level lock `rdspg:<role>`: connector replicas never revoke, grant or alter one
//! role at the same time. The keys are public, and any login may take them (a session-level
//! `pg_advisory_lock`, or a transaction it prepares with `PREPARE TRANSACTION`) and hold them
//! forever. Such a holder, whose user (or owner) has neither `CREATEROLE` nor superuser, is never
//! a connector: it squats the lock ([`LockHolder::is_squatter`](crate::LockHolder::is_squatter)),
//! and the revocation goes on without that lock, names it in [`RevokeReport::lock_squatters`]
//! and logs a warning (see [squatters](crate::session::lock#squatters)). Otherwise an
//! accomplice of an expiring user could keep its revocation from ever finishing, and with it
//! the user's privileges, and its `SECURITY DEFINER` routines running with them. A lock held by
//! a connector (or a prepared transaction of a `CREATEROLE` role) is waited for, as long as
//! `lock_timeout` allows.
//!
//! If a database cannot be reached, the role stays `NOLOGIN` and the error
//! ([`GrantsError::RevokeIncomplete`]) lists what is left; running the revocation again finishes.
//! To take away one grant without dropping the role, call [`Session::apply`] with the remaining
//! grants.
//!
//! # Revocation with retention
//!
//! With `user_cleanup_days`, a user whose access ended is revoked and **kept**, so that the same
//! requester gets the same user back at its next request, with its own tables:
//! [`Session::retire_role`] runs, in order (under the same session-level lock as
//! [`Session::revoke_role`], after the same checks: an unmanaged role is refused and
//! unchanged, a missing one is an empty report):
//!
//! 1. `ALTER ROLE … NOLOGIN` (committed at once) and the end of its sessions;
//! 2. `GRANT role TO connector` when needed, so the connector may alter its objects (and a
//!    0.1.0 mark, a membership in the marker, is turned around);
//! 3. every membership that ties it to another role is removed: the roles it is a member of
//!    (`rds_iam`, any role granted by hand) and the roles that are members of it (a member acts
//!    as it; older releases let a role grant itself to an accomplice), the marker's membership
//!    in it (the mark) and the connector's excepted. What cannot be removed (on 16+ a membership
//!    granted by a role whose privileges the connector lacks) fails the retirement with
//!    [`GrantsError::MembershipsNotRemoved`] and the SQL for its grantor, once step 4 is done
//!    (a failure of step 4 is reported first);
//! 4. in every database where `pg_shdepend` shows the role, or whose own ACL names it (and the
//!    current one): every privilege it holds is revoked, verified, default-privilege entries
//!    naming it included ([`Session::apply`] with no grants); then in one locked transaction
//!    its column privileges are revoked (as far as the connector may: what it granted, or what
//!    the owner of a relation it acts for granted) and what it owns is neutralised **in
//!    place**, by the statements revocation runs before its objects move (nothing is moved or
//!    dropped, no `DROP OWNED`): the triggers running its code on relations it does not own,
//!    and every user trigger on its tables, disabled, or
//!    [`GrantsError::TriggersNotDisabled`]; `EXECUTE` on its routines revoked from everyone
//!    but itself; its tables' rules disabled (and the write
//!    privileges it granted on its views with rules, and on 17+ `MAINTAIN`, revoked); its
//!    `SECURITY DEFINER` routines `SECURITY INVOKER`; on 15+ its views `security_invoker`.
//!    In the same transaction the catalogs are checked: no ACL entry may name it (as grantee or
//!    grantor) on anything it does not own, in this database or on a shared object (databases,
//!    tablespaces, parameters); otherwise the transaction rolls back and the retirement fails
//!    with [`GrantsError::RevokeIncomplete`] naming each (`pg_identify_object`);
//! 5. only when every database is clean, its record becomes
//!    [`ManagedRecord::revoked`](crate::ManagedRecord::revoked) at the given time (no grants,
//!    `revoked_at`) and `VALID UNTIL` that time. A retirement that stopped leaves the record
//!    as it was (expired) and the role `NOLOGIN`: running it again finishes. Retiring a
//!    retained user again checks everything again and keeps its `revoked_at`.
//!
//! The [`RevokeReport`] has [`RevokeReport::retained`] set, `dropped` false, no holder and
//! nothing moved; [`RevokeReport::kept`] lists what it still owns (as it was before step 4),
//! [`RevokeReport::memberships_removed`] the memberships it lost.
//!
//! A retained user is exactly as powerless as a dropped one: it cannot log in, no role acts
//! as it (no member but the marker, which is `NOLOGIN NOINHERIT`, and the connector), it holds
//! nothing but its own objects, and nothing it owns runs with its rights for anybody else: no
//! `SECURITY DEFINER` routine, no view reading as its owner (before 15 a view still does, but
//! its owner now reaches only its own objects), no enabled trigger on another's relation or on
//! its own, no enabled rule; and nothing it owns runs with anybody else's rights either: its
//! routines are executable by nobody but itself. What others were granted on its tables and
//! views stays, as after a revocation (where the holder keeps the grants); `EXECUTE` on its
//! routines does not.
//!
//! When the user is enabled again ([`Session::create_or_add`], then [`Session::apply_to`]
//! with its new grants) it logs in with its old password and owns its objects as before, but
//! what retirement neutralised stays changed: its routines stay `SECURITY INVOKER` and
//! executable by itself only, its views `security_invoker`, its rules, the triggers running
//! its code and the triggers on its tables stay disabled, the
//! privileges revoked from its views stay revoked, and its memberships are only those its new
//! grants give (`rds_iam` again for an IAM user). The owner re-enables what it wants back
//! (`ALTER FUNCTION … SECURITY DEFINER`, `GRANT EXECUTE ON FUNCTION …`, `ALTER TABLE … ENABLE
//! RULE …`, or the relation's owner `ENABLE TRIGGER …`). The later cleanup,
//! [`Session::revoke_role`] of the retained user, moves its objects to its holder and drops it
//! as for any user.

use std::future::Future;

use crate::error::{GrantsError, col};
use crate::marker::{ManagedRecord, ServiceRole, holder_role_name};
use crate::quote::Ident;
use crate::role;
use crate::session::{AdvisoryKey, Attempt, LockHolder, Session};
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
/// on a relation the user does not own; or any user trigger on one of its own tables, whatever
/// function it calls. A trigger runs as whoever
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
    /// The triggers on relations the user did not own that ran its code, and every user
    /// trigger on its own tables (whatever function it calls), disabled (kept) in the
    /// transaction that moved or neutralised its objects (see [`ForeignTrigger`]); the
    /// partitions' clones of a partitioned table's trigger are listed each.
    pub disabled_triggers: Vec<ForeignTrigger>,
    /// Whether the user was revoked and kept ([`Session::retire_role`], see
    /// [retention](self#revocation-with-retention)): it still exists, `NOLOGIN`, and owns
    /// [`RevokeReport::kept`]. False for [`Session::revoke_role`].
    pub retained: bool,
    /// What the retained user still owns, as the catalogs listed it in each database before
    /// it was neutralised ([`OwnedObject::security_definer`] as it was: such a routine is
    /// `SECURITY INVOKER` now). Empty for [`Session::revoke_role`] (see
    /// [`RevokeReport::moved`]).
    pub kept: Vec<OwnedObject>,
    /// The memberships of the retained user that were removed (in other roles, and of other
    /// roles in it; the marker's, the mark, stays). Empty for [`Session::revoke_role`], whose
    /// `DROP ROLE` removes them all.
    pub memberships_removed: Vec<Membership>,
    /// Sessions and prepared transactions without `CREATEROLE` (never a connector) that held
    /// the revocation's lock (`rdspg-revoke:<role>`) or the role's transaction lock
    /// (`rdspg:<role>`) in this database: the revocation went on without those locks (see
    /// [squatters](crate::session::lock#squatters)). Each is also logged as a warning.
    pub lock_squatters: Vec<LockHolder>,
}

impl RevokeReport {
    /// The report of a revocation that found no role (a re-run after success).
    fn nothing() -> Self {
        Self {
            databases: Vec::new(),
            sessions_terminated: 0,
            dropped: false,
            holder: String::new(),
            moved: Vec::new(),
            disabled_triggers: Vec::new(),
            retained: false,
            kept: Vec::new(),
            memberships_removed: Vec::new(),
            lock_squatters: Vec::new(),
        }
    }
}

/// A membership tying a user to another role: `member` is a member of `role`, granted by
/// `grantor` (see [`RevokeReport::memberships_removed`] and
/// [`GrantsError::MembershipsNotRemoved`]).
///
/// ```
/// use pg_grants::revoke::Membership;
///
/// # fn show(m: &Membership) {
/// // "\"alice\" is a member of \"rds_iam\" (granted by \"rds_superuser\")"
/// println!("{m}: {}", m.fix_sql);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Membership {
    /// The role whose privileges the member has.
    pub role: String,
    /// The member.
    pub member: String,
    /// Who granted it (`pg_auth_members.grantor`; on 16+ only a role with the grantor's
    /// privileges may revoke it).
    pub grantor: String,
    /// The statement that removes it: on 16+ `REVOKE … FROM … GRANTED BY …;`, to be run by the
    /// grantor (or a role with its privileges); before 16 `REVOKE … FROM …;`.
    pub fix_sql: String,
}

impl std::fmt::Display for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is a member of {:?} (granted by {:?})",
            self.member, self.role, self.grantor
        )
    }
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
    /// Ends a revocation or retirement run under [`REVOKE_LOCK`]: releases the lock unless it
    /// was squatted (`revoke_squatters` not empty: it was never taken), and names in the
    /// report the squatters of that lock and of the role's transaction lock.
    async fn finish_locked(
        &self,
        role: &Ident,
        revoke_squatters: Vec<LockHolder>,
        result: Result<RevokeReport, GrantsError>,
    ) -> Result<RevokeReport, GrantsError> {
        let unlocked = if revoke_squatters.is_empty() {
            self.session_unlock(REVOKE_LOCK, role).await
        } else {
            Ok(())
        };
        let mut report = result?;
        unlocked?;
        report.lock_squatters = revoke_squatters;
        // The role's transaction lock may have been squatted too (each transaction logged it).
        for holder in self
            .advisory_locks()
            .squatters(&AdvisoryKey::role(role))
            .await?
        {
            if !report.lock_squatters.contains(&holder) {
                report.lock_squatters.push(holder);
            }
        }
        Ok(report)
    }

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
        let squatters = self.session_lock(REVOKE_LOCK, role).await?;
        let result = self.revoke_role_locked(role, databases).await;
        self.finish_locked(role, squatters, result).await
    }

    async fn revoke_role_locked(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
    ) -> Result<RevokeReport, GrantsError> {
        match self.managed_role(role).await {
            Ok(_) => {}
            Err(GrantsError::RoleNotFound { .. }) => {
                return Ok(RevokeReport::nothing());
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

        // 1 and 2: stop logins (no lock a grantee could hold delays it), act for the role.
        let terminated = self.stop_logins(role).await?;
        self.act_for(role).await?;

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
        let dbs = self.role_databases(role, sql::ROLE_DATABASES).await?;
        let ended = self
            .end_in_databases(role, dbs, databases, Ending::Reassign { holder: &holder })
            .await?;

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
            databases: ended.databases,
            sessions_terminated: terminated,
            dropped: true,
            holder: holder.to_string(),
            moved: ended.objects,
            disabled_triggers: ended.disabled_triggers,
            ..RevokeReport::nothing()
        })
    }

    /// Makes sure the connector has `role`'s privileges (`GRANT role TO connector`, on 16+
    /// `WITH INHERIT TRUE`): altering or reassigning the role's objects needs them.
    async fn act_for(&self, role: &Ident) -> Result<(), GrantsError> {
        let has_privs: bool = self
            .client()
            .query_one(sql::HAS_PRIVILEGES_OF, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(format!("checking membership in {role}"), e))
            .and_then(|r| col(&r, 0, "checking membership"))?;
        if !has_privs {
            let grant =
                Statement::new(self.rules().grant_privileges_of_sql(role, self.connector()));
            self.run_locked(&format!("acting for {role}"), role, &[grant])
                .await?;
        }
        Ok(())
    }

    /// The databases `query` (of `$1`, the role) lists, the current one first when missing.
    async fn role_databases(&self, role: &Ident, query: &str) -> Result<Vec<String>, GrantsError> {
        let rows = self
            .client()
            .query(query, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(format!("finding the databases of {role}"), e))?;
        let mut dbs: Vec<String> = rows
            .iter()
            .map(|r| col(r, 0, "finding databases"))
            .collect::<Result<_, _>>()?;
        if !dbs.iter().any(|d| d == self.database()) {
            dbs.insert(0, self.database().to_owned());
        }
        Ok(dbs)
    }

    /// Ends `role`'s access in each of `dbs` (the current one in this session, the others in a
    /// session of their own), each on its own: a database that fails does not stop the others.
    /// Fails with [`GrantsError::TriggersNotDisabled`] naming every trigger the connector could
    /// not disable, else with [`GrantsError::RevokeIncomplete`] naming every database left.
    async fn end_in_databases(
        &self,
        role: &Ident,
        dbs: Vec<String>,
        databases: &dyn DatabaseConnector,
        ending: Ending<'_>,
    ) -> Result<Ended, GrantsError> {
        let mut ended = Ended::default();
        let mut failed: Vec<(String, String)> = Vec::new();
        let mut blocked: Vec<ForeignTrigger> = Vec::new();
        for db in dbs {
            let result = if db == self.database() {
                self.end_in_database(role, ending, &db).await
            } else {
                match databases.connect(&db).await {
                    Ok(client) => match Session::new(&client, self.settings().clone()).await {
                        Ok(other) => other.end_in_database(role, ending, &db).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(done) => {
                    ended.objects.extend(done.moved);
                    ended.disabled_triggers.extend(done.disabled_triggers);
                    ended.databases.push(db);
                }
                Err(GrantsError::TriggersNotDisabled { triggers, .. }) => {
                    tracing::warn!(%role, database = %db, triggers = triggers.len(),
                        "revocation stopped: triggers the connector cannot disable");
                    blocked.extend(triggers);
                }
                Err(GrantsError::RevokeIncomplete { reason, .. }) => {
                    tracing::warn!(%role, database = %db, %reason, "revocation step incomplete");
                    failed.push((db, reason));
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
        Ok(ended)
    }

    /// One database of [`Session::end_in_databases`], in this session.
    async fn end_in_database(
        &self,
        role: &Ident,
        ending: Ending<'_>,
        db: &str,
    ) -> Result<Cleaned, GrantsError> {
        match ending {
            Ending::Reassign { holder } => {
                let action = format!("reassigning and dropping what {role} owns in {db}");
                self.clean_database(role, holder, &action).await
            }
            Ending::Retain => {
                let action = format!(
                    "revoking the privileges of {role} in {db} and neutralising what it owns"
                );
                self.retire_database(role, &action).await
            }
        }
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

    /// `REVOKE EXECUTE ON ROUTINE … FROM … CASCADE` for every routine `role` owns here that a
    /// role other than its owner may execute (`PUBLIC` included, which holds `EXECUTE` by
    /// default): a function called from a row-level security policy, a column default, a
    /// `CHECK` constraint, a generated column, a domain check, an operator or a cast runs with
    /// the rights of whoever reads or writes, and PostgreSQL checks that caller's `EXECUTE` each
    /// time, so with these revoked such code runs for nobody but its owner (everyone else's
    /// statement fails). The connector revokes acting for the owner (the owner is the grantor
    /// of record); `CASCADE` takes along what grantees with the grant option passed on.
    async fn execute_revokes(&self, role: &Ident) -> Result<Vec<Statement>, GrantsError> {
        let action = format!("listing the routines of {role} in {}", self.database());
        let rows = self
            .client()
            .query(sql::OWNED_ROUTINE_GRANTEES, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        let mut out = Vec::new();
        for row in &rows {
            let name: String = col(row, 0, &action)?;
            let grantees: Vec<String> = col(row, 1, &action)?;
            if grantees.is_empty() {
                continue;
            }
            let grantees = grantees
                .into_iter()
                .map(grantee_sql)
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Statement::new(format!(
                "REVOKE EXECUTE ON ROUTINE {name} FROM {} CASCADE;",
                grantees.join(", ")
            )));
        }
        Ok(out)
    }

    /// The statements that take out of use whatever of `role`'s would run with rights other
    /// than its callers', built once for both revocation paths (reassignment to the holder and
    /// retention, see the [module docs](self#revocation-with-retention)), inside the open
    /// transaction: the triggers on relations it does not own (and on its own tables) that run
    /// its code, and every user trigger on its own tables, disabled (or
    /// [`GrantsError::TriggersNotDisabled`] when the connector cannot); its rules
    /// ([`Session::rule_statements`]); `EXECUTE` on its routines revoked from everyone but
    /// itself ([`Session::execute_revokes`]); `SECURITY INVOKER` for its `SECURITY DEFINER`
    /// routines; on 15+ `security_invoker` for its views. `owned` is what it owns here, as
    /// [`Session::owned_objects`] listed it.
    async fn neutralising_statements(
        &self,
        role: &Ident,
        owned: &[OwnedRow],
    ) -> Result<Neutralised, GrantsError> {
        // Triggers on others' relations running the user's code: disabled here, before its
        // objects move (or stay), or the revocation stops (the user stays NOLOGIN).
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
        let mut stmts: Vec<Statement> = triggers
            .iter()
            .map(|t| Statement::new(t.fix_sql.clone()))
            .collect();
        stmts.extend(self.rule_statements(role).await?);
        stmts.extend(self.execute_revokes(role).await?);
        for row in owned {
            let o = &row.object;
            if o.security_definer {
                stmts.push(Statement::new(format!(
                    "ALTER ROUTINE {} SECURITY INVOKER;",
                    o.name
                )));
            }
            if o.kind == "view" && self.rules().version().major() >= 15 {
                // A view reads its tables with its owner's rights (the holder owns the tables
                // every revoked user left): from now on it reads with its caller's.
                stmts.push(Statement::new(format!(
                    "ALTER VIEW {} SET (security_invoker = true);",
                    o.name
                )));
            }
        }
        Ok(Neutralised {
            statements: stmts,
            disabled_triggers: triggers,
        })
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
        let owned = self.owned_objects(role, holder).await?;
        let Neutralised {
            statements: mut stmts,
            disabled_triggers: triggers,
        } = self.neutralising_statements(role, &owned).await?;
        let mut temporary = Vec::new();
        for row in &owned {
            if row.is_schema {
                // Moved first, so that the holder may own what is in it.
                stmts.push(Statement::new(format!(
                    "ALTER SCHEMA {} OWNER TO {};",
                    row.object.name,
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

impl Session<'_> {
    /// Revokes the managed `role` and keeps it: see
    /// [revocation with retention](self#revocation-with-retention). The user can no longer log
    /// in, is a member of no role, holds no privilege on anything it does not own, and what it
    /// owns stays its own, neutralised; its record says it was revoked at `at` (whole seconds,
    /// also its `VALID UNTIL`), so that [`Session::create_or_add`] can give the same user back
    /// to its next request and [`Session::revoke_role`] removes it after `user_cleanup_days`.
    /// A missing role is no error (an empty report); retiring a retained user again checks
    /// everything again and keeps its record (its `revoked_at` does not move).
    ///
    /// ```no_run
    /// use pg_grants::quote::Ident;
    /// use pg_grants::{DatabaseConnector, Session};
    ///
    /// # async fn demo(s: &Session<'_>, others: &dyn DatabaseConnector) -> Result<(), pg_grants::GrantsError> {
    /// let report = s
    ///     .retire_role(&Ident::new("alice")?, others, time::OffsetDateTime::now_utc())
    ///     .await?;
    /// assert!(report.retained && !report.dropped);
    /// for object in &report.kept {
    ///     println!("alice still owns {} {} in {}", object.kind, object.name, object.database);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`GrantsError::NotManaged`] and [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// then, the role staying `NOLOGIN` and its record untouched (running again finishes):
    /// [`GrantsError::MembershipsNotRemoved`] for memberships the connector cannot remove
    /// (16+: granted by a role whose privileges it lacks), with the SQL for their grantors
    /// (reported once every database is done: its privileges are revoked all the same);
    /// [`GrantsError::TriggersNotDisabled`] as for [`Session::revoke_role`];
    /// [`GrantsError::RevokeIncomplete`] when a database could not be reached or cleaned, or
    /// the role still holds a privilege on an object it does not own (named in the reason);
    /// [`GrantsError::Database`].
    pub async fn retire_role(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
        at: time::OffsetDateTime,
    ) -> Result<RevokeReport, GrantsError> {
        // The lock of revocations: a retirement and a revocation of one role never overlap.
        let squatters = self.session_lock(REVOKE_LOCK, role).await?;
        let result = self.retire_role_locked(role, databases, at).await;
        self.finish_locked(role, squatters, result).await
    }

    async fn retire_role_locked(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
        at: time::OffsetDateTime,
    ) -> Result<RevokeReport, GrantsError> {
        let current = match self.managed_role(role).await {
            Ok(current) => current,
            Err(GrantsError::RoleNotFound { .. }) => return Ok(RevokeReport::nothing()),
            Err(e) => return Err(e),
        };
        // Before anything changes: on 16+ every step below needs ADMIN OPTION on the role.
        self.ensure_can_administer(role, "retire").await?;

        // 1 and 2: stop logins (no lock a grantee could hold delays it), act for the role.
        let terminated = self.stop_logins(role).await?;
        self.act_for(role).await?;
        // A 0.1.0 mark is a membership in the marker, which step 3 would remove (and with it
        // the mark): turned around first.
        self.migrate_legacy_mark(&current).await?;

        // 3: every membership but the mark. Those left are reported after step 4, which runs
        // all the same: its objects must not run with its privileges meanwhile.
        let memberships = self.remove_memberships(role).await;

        // 4: every database holding its objects or privileges, or whose own ACL names it.
        let dbs = self
            .role_databases(role, sql::ROLE_DATABASES_AND_GRANTS)
            .await?;
        let ended = self
            .end_in_databases(role, dbs, databases, Ending::Retain)
            .await?;
        let memberships_removed = memberships?;

        // 5: only now the record says it is retained; a retained user keeps its record.
        if !current.record.is_retained() {
            self.record_retirement(role, &current.record, at)
                .await
                .map_err(|e| match e {
                    e @ GrantsError::RevokeIncomplete { .. } => e,
                    e => GrantsError::RevokeIncomplete {
                        role: role.to_string(),
                        remaining: Vec::new(),
                        reason: e.to_string(),
                    },
                })?;
        }
        Ok(RevokeReport {
            databases: ended.databases,
            sessions_terminated: terminated,
            disabled_triggers: ended.disabled_triggers,
            retained: true,
            kept: ended.objects,
            memberships_removed,
            ..RevokeReport::nothing()
        })
    }

    /// Writes `found.revoked(at)` (and `VALID UNTIL at`) in one locked transaction, after
    /// checking in it that the record is still `found` and the role still `NOLOGIN`: a grant
    /// added meanwhile ([`Session::create_or_add`] writes under the same lock) is never
    /// overwritten; the retirement then fails and, run again, retires the user as it is.
    async fn record_retirement(
        &self,
        role: &Ident,
        found: &ManagedRecord,
        at: time::OffsetDateTime,
    ) -> Result<(), GrantsError> {
        let stmts = role::set_expiry(role, &found.clone().revoked(at))?;
        let action = format!("recording that {role} was revoked and kept");
        let action = action.as_str();
        let stmts = stmts.as_slice();
        self.with_retries(action, |_| async move {
            self.begin_with(action, role, &[]).await?;
            let now = match self.managed_role(role).await {
                Ok(now) => now,
                Err(e) => {
                    self.rollback().await;
                    return Err(Attempt::Transient(e));
                }
            };
            if now.record != *found || now.can_login {
                self.rollback().await;
                return Err(Attempt::Failed(GrantsError::RevokeIncomplete {
                    role: role.to_string(),
                    remaining: Vec::new(),
                    reason: "its record or login changed while it was being retired (a new \
                             grant?); its record was left as it is"
                        .to_owned(),
                }));
            }
            let sql: Vec<&str> = stmts.iter().map(Statement::sql).collect();
            if let Err(e) = self.client().batch_execute(&sql.join("\n")).await {
                self.rollback().await;
                return Err(Attempt::Sql(e));
            }
            self.commit(action).await.map_err(Attempt::Transient)?;
            Ok(())
        })
        .await
    }

    /// The memberships of `role` other than its mark (see [`sql::ROLE_MEMBERSHIPS`]).
    async fn memberships(&self, role: &Ident) -> Result<Vec<Membership>, GrantsError> {
        let action = format!("listing the memberships of {role}");
        let rows = self
            .client()
            .query(
                sql::ROLE_MEMBERSHIPS,
                &[&role.as_str(), &self.settings().names.marker.as_str()],
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                let is_member: bool = col(row, 0, &action)?;
                let other: String = col(row, 1, &action)?;
                let grantor: String = col(row, 2, &action)?;
                let (granted, member) = if is_member {
                    (Ident::new(other)?, role.clone())
                } else {
                    (role.clone(), Ident::new(other)?)
                };
                let mut fix_sql = format!("REVOKE {} FROM {}", granted.quoted(), member.quoted());
                if self.rules().membership_options() && !grantor.is_empty() {
                    // 16+: one membership per grantor, removed only by a role with its rights.
                    fix_sql.push_str(&format!(
                        " GRANTED BY {}",
                        Ident::new(grantor.clone())?.quoted()
                    ));
                }
                fix_sql.push(';');
                Ok(Membership {
                    role: granted.as_str().to_owned(),
                    member: member.as_str().to_owned(),
                    grantor,
                    fix_sql,
                })
            })
            .collect()
    }

    /// Removes every membership of `role` but the mark, each on its own (one the connector
    /// cannot remove does not keep the others), then checks that none is left: those are
    /// [`GrantsError::MembershipsNotRemoved`]. Returns those removed.
    async fn remove_memberships(&self, role: &Ident) -> Result<Vec<Membership>, GrantsError> {
        let found = self.memberships(role).await?;
        for m in &found {
            if let Err(e) = self
                .run_locked(
                    &format!("removing the membership of {} in {}", m.member, m.role),
                    role,
                    &[Statement::new(m.fix_sql.clone())],
                )
                .await
            {
                tracing::warn!(%role, membership = %m, error = %e, "membership not removed");
            }
        }
        let left = self.memberships(role).await?;
        if !left.is_empty() {
            return Err(GrantsError::MembershipsNotRemoved {
                role: role.to_string(),
                memberships: left,
            });
        }
        Ok(found)
    }

    /// Revokes every privilege of `role` in this database (verified, default-privilege entries
    /// naming it included), then, in one locked transaction, neutralises what it owns
    /// ([`Session::neutralising_statements`]) and checks that it holds no privilege on
    /// anything it does not own, here or on a shared object; else rolls back and fails with
    /// [`GrantsError::RevokeIncomplete`] naming them.
    async fn retire_database(&self, role: &Ident, action: &str) -> Result<Cleaned, GrantsError> {
        // Its marks, again in this database's session, before any change here.
        self.managed_role(role).await?;
        self.apply_with(role, &[], true).await?;
        self.with_retries(action, |_| async move {
            self.begin_with(action, role, &[]).await?;
            let kept = match self.neutralise_in_transaction(role).await {
                Ok(kept) => kept,
                Err(e) => {
                    self.rollback().await;
                    return Err(Attempt::Transient(e));
                }
            };
            self.commit(action).await.map_err(Attempt::Transient)?;
            Ok(kept)
        })
        .await
    }

    /// Inside the open transaction: lists what the role owns, neutralises it, and checks that
    /// no ACL entry names it on anything it does not own.
    async fn neutralise_in_transaction(&self, role: &Ident) -> Result<Cleaned, GrantsError> {
        let owned = self.owned_objects(role, role).await?;
        let Neutralised {
            mut statements,
            disabled_triggers,
        } = self.neutralising_statements(role, &owned).await?;
        statements.extend(self.column_revokes(role).await?);
        if !statements.is_empty() {
            let sql: Vec<&str> = statements.iter().map(Statement::sql).collect();
            tracing::debug!(%role, database = %self.database(), objects = owned.len(), "neutralising what a retained user owns");
            self.client()
                .batch_execute(&sql.join("\n"))
                .await
                .map_err(|e| {
                    GrantsError::db(
                        format!("neutralising what {role} owns in {}", self.database()),
                        e,
                    )
                })?;
        }
        let left = self.acl_leftovers(role).await?;
        if !left.is_empty() {
            return Err(GrantsError::RevokeIncomplete {
                role: role.to_string(),
                remaining: vec![self.database().to_owned()],
                reason: format!(
                    "in database {:?} it still holds privileges on {} (granted by roles the \
                     connector cannot act for: their owners or grantors revoke them)",
                    self.database(),
                    left.join(", ")
                ),
            });
        }
        Ok(Cleaned {
            moved: owned.into_iter().map(|r| r.object).collect(),
            disabled_triggers,
        })
    }

    /// `REVOKE ALL (column) ON relation FROM role` for each column privilege `role` holds on a
    /// relation it does not own ([`Session::apply`] plans tables, not columns). The connector
    /// revokes what it granted, or, acting for the relation's owner, what the owner granted;
    /// what another grantor gave stays, and the check that follows names it.
    async fn column_revokes(&self, role: &Ident) -> Result<Vec<Statement>, GrantsError> {
        let action = format!(
            "listing the column privileges of {role} in {}",
            self.database()
        );
        let rows = self
            .client()
            .query(sql::COLUMN_GRANTS, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                let schema = Ident::new(col::<String>(row, 0, &action)?)?;
                let relation = Ident::new(col::<String>(row, 1, &action)?)?;
                let column = Ident::new(col::<String>(row, 2, &action)?)?;
                Ok(Statement::new(format!(
                    "REVOKE ALL ({}) ON TABLE {}.{} FROM {};",
                    column.quoted(),
                    schema.quoted(),
                    relation.quoted(),
                    role.quoted()
                )))
            })
            .collect()
    }

    /// The objects `role` does not own on which an ACL entry names it, in this database and
    /// among shared objects ([`sql::ACL_LEFTOVERS`]), as `kind name` (`shared` for a shared one).
    async fn acl_leftovers(&self, role: &Ident) -> Result<Vec<String>, GrantsError> {
        let action = format!(
            "checking the privileges left to {role} in {}",
            self.database()
        );
        let rows = self
            .client()
            .query(sql::ACL_LEFTOVERS, &[&role.as_str()])
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                let kind: String = col(row, 0, &action)?;
                let name: Option<String> = col(row, 1, &action)?;
                let shared: bool = col(row, 2, &action)?;
                Ok(format!(
                    "{}{kind} {}",
                    if shared { "shared " } else { "" },
                    name.unwrap_or_default()
                ))
            })
            .collect()
    }
}

/// What [`Session::neutralising_statements`] found: the statements, and the triggers they
/// disable.
struct Neutralised {
    statements: Vec<Statement>,
    disabled_triggers: Vec<ForeignTrigger>,
}

/// How [`Session::end_in_databases`] ends a role's access in each database.
#[derive(Clone, Copy)]
enum Ending<'a> {
    /// Revocation: its objects go to `holder`, its privileges are dropped.
    Reassign { holder: &'a Ident },
    /// Retention: its privileges are revoked, its objects stay its own, neutralised.
    Retain,
}

/// What [`Session::end_in_databases`] did.
#[derive(Default)]
struct Ended {
    /// The databases done.
    databases: Vec<String>,
    /// The objects moved (revocation) or kept (retention).
    objects: Vec<OwnedObject>,
    disabled_triggers: Vec<ForeignTrigger>,
}

/// What cleaning one database did.
#[derive(Default)]
struct Cleaned {
    moved: Vec<OwnedObject>,
    disabled_triggers: Vec<ForeignTrigger>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_report_serializes_what_it_kept_and_removed() {
        let mut report = RevokeReport::nothing();
        report.retained = true;
        report.kept.push(OwnedObject {
            database: "appdb".into(),
            kind: "function".into(),
            name: "sales.whoami()".into(),
            security_definer: true,
            trigger_function: false,
        });
        let m = Membership {
            role: "rds_iam".into(),
            member: "alice".into(),
            grantor: "rds_superuser".into(),
            fix_sql: r#"REVOKE "rds_iam" FROM "alice" GRANTED BY "rds_superuser";"#.into(),
        };
        assert_eq!(
            m.to_string(),
            r#""alice" is a member of "rds_iam" (granted by "rds_superuser")"#
        );
        report.memberships_removed.push(m);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["retained"], true);
        assert_eq!(json["dropped"], false);
        assert_eq!(json["holder"], "");
        assert_eq!(json["kept"][0]["security_definer"], true);
        assert_eq!(json["memberships_removed"][0]["role"], "rds_iam");
        let err = GrantsError::MembershipsNotRemoved {
            role: "alice".into(),
            memberships: report.memberships_removed.clone(),
        };
        assert!(
            err.to_string().contains(
                r#"as "rds_superuser" run `REVOKE "rds_iam" FROM "alice" GRANTED BY "rds_superuser";`"#
            ),
            "{err}"
        );
    }
}
