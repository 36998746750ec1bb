//! Time-bound PostgreSQL roles and privileges for just-in-time access, built for RDS, where
//! nobody is a superuser.
//!
//! The crate knows PostgreSQL only (through `tokio-postgres`), nothing of AWS. Its parts:
//!
//! * [`quote`]: the one place that turns text into SQL identifiers and literals;
//! * [`password`]: random passwords and their SCRAM-SHA-256 verifiers;
//! * [`version`]: [`ServerRules`], every version-dependent decision in one place;
//! * [`marker`]: how managed roles are marked ([`ManagedRecord`]);
//! * [`role`]: pure builders of role lifecycle SQL;
//! * [`privilege`]: privileges, scopes and the [`LevelPolicy`] table of what each level grants;
//! * [`plan`]: one catalog query to inspect a role, and the pure diff to the wanted state;
//! * [`Session`] ([`session`]): the thin layer that runs all of it on one connection, with
//!   [`AdvisoryLocks`] and the grant entry point ([`Session::create_or_complete`], then
//!   [`Session::apply_to`]);
//! * [`revoke`]: ending access without losing data;
//! * [`inventory`]: databases, schemas and tables, streamed;
//! * [`setup`]: the connector's own setup (attributes, memberships) and the SQL that fixes it.
//!
//! All SQL is built by pure functions returning [`Statement`]s, so a plan can be printed before
//! it is applied; [`Session`] only executes them.
//!
//! # What each level grants
//!
//! | object kind | `read-only` | `read-write` | `admin` |
//! |---|---|---|---|
//! | database | `CONNECT` | `CONNECT`, `TEMPORARY` | `CONNECT`, `CREATE`, `TEMPORARY` |
//! | schema | `USAGE` | `USAGE` | `USAGE`, `CREATE` |
//! | table, view, materialized view, partitioned and foreign table | `SELECT` | `SELECT`, `INSERT`, `UPDATE`, `DELETE` | `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `REFERENCES`, and `MAINTAIN` on 17+; not `TRIGGER` (below) |
//! | sequence | `SELECT` | `SELECT`, `USAGE` | `SELECT`, `USAGE`, `UPDATE` |
//! | function, procedure | none | none | `EXECUTE` |
//!
//! No level grants `TRIGGER`. A trigger runs its function with the rights of whoever writes to
//! the table: a grantee holding `TRIGGER` on a table it does not own creates a function it owns
//! and a trigger on that table, and every write by the table's owner, the master user or the
//! application then runs the grantee's code with the writer's rights (for example SQL an
//! accomplice queues in a table the grantee left writable), during the grant and, with the
//! function moved to the user's holder, after it. Revocation also disables such triggers (see
//! [`revoke`]); applying the grants again removes `TRIGGER` from roles granted by 0.1.0.
//!
//! Change any cell with [`LevelPolicy::set`]. Privileges `PUBLIC` already holds are neither
//! granted nor revoked. Scopes (database, schema, table) are described in [`privilege`].
//!
//! # Marks
//!
//! Every role this crate creates has the `NOLOGIN NOINHERIT` marker role (`rdspg_managed`) as a
//! member (the marker is a member of the user, never the reverse, so no user can act as the
//! marker) and carries a JSON comment such as
//! `{"rdspg":1,"request_id":"req-42","level":"read-only","expires_at":"2026-11-24T18:00:00Z","creator":"apono_connector"}`
//! (see [`marker`]). Roles without both marks are never altered, revoked or dropped. Roles
//! marked by 0.1.0 (members of the marker) are still recognised and re-marked on their next
//! change.
//!
//! # What a revoked user leaves behind
//!
//! Nothing is dropped: a revoked user's objects go to that user's own holder role
//! (`rdspg_holder_<16 hex digits>`), which has no rights of its own, never to the connector nor
//! to another user's holder; its `SECURITY DEFINER` routines become
//! `SECURITY INVOKER`; triggers it attached to tables it did not own are disabled (kept), or the
//! revocation stops with [`GrantsError::TriggersNotDisabled`] and the SQL their owners run; the
//! [`RevokeReport`] lists every object that moved and every trigger disabled (see [`revoke`]).
//! [`Session::retire_role`] revokes a user and keeps it (`user_cleanup_days`): no login, no
//! membership, no privilege on anything it does not own, its own objects neutralised in place,
//! so that its next request gets the same user back (see
//! [revocation with retention](revoke#revocation-with-retention)).
//!
//! # Acting for object owners
//!
//! To grant on an object the connector must own it, be a member of its owner (with `INHERIT`
//! on 16+), or hold the privilege `WITH GRANT OPTION`. [`plan::plan`] checks this before any
//! change and fails with [`GrantsError::OwnerMembershipMissing`], listing each object, its owner
//! and the SQL that fixes it on this server version: `GRANT owner TO connector` (15),
//! `GRANT owner TO connector WITH INHERIT TRUE, SET FALSE` (16+), or, when the owner is itself a
//! member of the connector (on 16+ the master user that created it), the owner's
//! `GRANT … ON object TO connector WITH GRANT OPTION`.
//!
//! # Following new tables
//!
//! [`Grant::follow_new_tables`] adds `ALTER DEFAULT PRIVILEGES FOR ROLE <creator> IN SCHEMA …`
//! entries ([`plan::DefaultChange`]), planned, applied and removed like privileges.
//!
//! # When the connector lost a right
//!
//! Every refusal names the SQL that fixes it on the server's version:
//! [`GrantsError::OwnerMembershipMissing`] (acting for owners), [`GrantsError::CannotGrantRole`]
//! (`rds_iam` or the marker: `ADMIN OPTION` on 16+, `CREATEROLE` before) and
//! [`GrantsError::CannotAdministerRole`] (altering, revoking or dropping a managed role whose
//! `ADMIN OPTION` the connector lost on 16+). Each is raised before any change.
//!
//! # JSON
//!
//! The report types serialize (`serde::Serialize`) to a stable shape: field names in
//! `snake_case` as in Rust; names ([`quote::Ident`], [`quote::QualifiedName`]), privileges
//! (`"SELECT"`), object kinds (`"table"`), SQL statements and the server version as strings; a
//! [`PrivilegeSet`] as an array of keywords; times as RFC 3339. [`ManagedRole`] (`name`,
//! `record`, `can_login`, `legacy_mark`, with the record as its role comment stores it),
//! [`CreateOutcome`] (`{"outcome": "created"}` / `{"outcome": "already_exists", "record": …}`),
//! [`RoleOnInstance`], [`ApplyReport`] (`plan`, `attempts`), [`plan::Plan`] (`database`,
//! `role`, `changes`, `default_changes`, `sql`), [`RevokeReport`] (with [`OwnedObject`],
//! [`ForeignTrigger`] and [`Membership`]), [`inventory::InventoryItem`] (tagged `"item": "schema" | "table"`),
//! [`LockHolder`], [`OwnerFix`] and [`setup::ConnectorSetup`]. No report carries a password or
//! a verifier: a [`password::Password`] does not serialize, and statements that set one are
//! never part of a plan.
//!
//! ```
//! use pg_grants::{CreateOutcome, ManagedRecord, AccessLevel};
//! use time::macros::datetime;
//!
//! let created = serde_json::to_value(CreateOutcome::Created)?;
//! assert_eq!(created, serde_json::json!({"outcome": "created"}));
//! let record = ManagedRecord::new("req-42", AccessLevel::ReadOnly,
//!     datetime!(2026-11-24 18:00 UTC), "apono_connector");
//! let found = serde_json::to_value(CreateOutcome::AlreadyExists(record))?;
//! assert_eq!(found["outcome"], "already_exists");
//! assert_eq!(found["record"]["grants"][0]["request_id"], "req-42");
//! assert_eq!(found["record"]["grants"][0]["expires_at"], "2026-11-24T18:00:00Z");
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Example
//!
//! ```no_run
//! use pg_grants::role::{LoginAuth, NewRole};
//! use pg_grants::password::Password;
//! use pg_grants::quote::Ident;
//! use pg_grants::{AccessLevel, Grant, ManagedRecord, Scope, Session, Settings, drive_connection};
//! use time::{Duration, OffsetDateTime};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, connection) = tokio_postgres::connect(
//!     "host=db.example user=apono_connector dbname=appdb", tokio_postgres::NoTls).await?;
//! let (notices, _driver) = drive_connection(connection);
//! let session = Session::new(&client, Settings::default()).await?.with_notices(notices);
//!
//! let role = Ident::new("alice@example.com")?;
//! let password = Password::generate();
//! let record = ManagedRecord::new("req-42", AccessLevel::ReadOnly,
//!     OffsetDateTime::now_utc() + Duration::hours(8), session.connector().as_str());
//! session.create_role(&NewRole::new(role.clone(), LoginAuth::Password(password.clone()), record)).await?;
//!
//! let grants = [Grant::new(Scope::Schema(Ident::new("sales")?), AccessLevel::ReadOnly)];
//! println!("{}", session.plan(&role, &grants).await?);   // the SQL, for review
//! session.apply(&role, &grants).await?;                   // one transaction, one round trip
//! assert!(session.plan(&role, &grants).await?.is_empty());
//! # Ok(()) }
//! ```

pub mod access;
pub mod error;
pub mod inventory;
pub mod marker;
pub mod password;
pub mod plan;
pub mod privilege;
pub mod quote;
pub mod revoke;
pub mod role;
pub mod session;
pub mod setup;
mod sql;
pub mod statement;
pub mod version;

pub use access::{AccessKey, AccessRole};
pub use error::{Applied, GrantsError, OwnerFix};
pub use integration_model::AccessLevel;
pub use marker::{GrantRecord, ManagedRecord, ServiceRole, UserState};
pub use privilege::{Grant, LevelPolicy, ObjectKind, Privilege, PrivilegeSet, Scope};
pub use revoke::{DatabaseConnector, ForeignTrigger, Membership, OwnedObject, RevokeReport};
pub use session::{
    AccessRoleCheck, AccessRoleState, AccessSweep, AdvisoryKey, AdvisoryLocks, ApplyReport,
    CreateOutcome, LockHolder, ManagedRole, MarkedRoles, NoticeLog, RefusedRole, RoleOnInstance,
    Session, Settings, drive_connection,
};
pub use statement::Statement;
pub use version::{ServerRules, ServerVersion};
