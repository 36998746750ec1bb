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

// The module's parts, one file each: `holder` (acting for the user and for its holder), `locks`
// (the lock of whole revocations), `databases` (ending access database by database), `drop`
// (`revoke_role`: reassignment to the holder), `retire` (`retire_role`: retention), `neutralise`
// (the statements both run on what the user owns) and `memberships` (those retirement removes).
mod databases;
mod drop;
mod holder;
mod locks;
mod memberships;
mod neutralise;
mod retire;

use std::future::Future;

use crate::error::GrantsError;
use crate::session::LockHolder;
#[cfg(doc)]
use crate::{marker::holder_role_name, session::Session};

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
