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

//!
//! The session's parts, one file each: [`notice`] (the server's warnings), `transaction` (one
//! locked transaction and the one retry loop every change goes through), [`lock`] (advisory
//! locks: [`AdvisoryLocks`], [`LockHolder`]), `roles` (marks and role lifecycle),
//! `service_role` (the marker and holder roles), `privileges` (inspect, plan, apply) and
//! `grant` (create or complete a role, then grant: [`Session::create_or_complete`] and
//! [`Session::apply_to`]). The SQL they read is in the crate's one (private) `sql` module.

pub mod access;
mod grant;
pub mod lock;
pub mod notice;
mod privileges;
mod roles;
mod service_role;
mod transaction;

use tokio_postgres::Client;

use crate::error::{GrantsError, col};
use crate::marker::{DEFAULT_HOLDER_ROLE, ManagedRecord};
use crate::plan::Plan;
use crate::privilege::LevelPolicy;
use crate::quote::Ident;
use crate::role::RoleNames;
use crate::version::ServerRules;

pub use access::{AccessRoleCheck, AccessRoleState, AccessSweep};
pub use grant::RoleOnInstance;
pub use lock::{AdvisoryKey, AdvisoryLocks, LockHolder};
pub use notice::{Notice, NoticeLog, drive_connection};
pub use roles::{MarkedRoles, RefusedRole};
pub(crate) use transaction::{Attempt, lock_stmt};

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
    /// Attempts for a transaction that hits a serialization failure, a deadlock or `tuple
    /// concurrently updated` (at least 1; default 8, waiting a random, growing time between
    /// them: at most about 2.5 s in all).
    pub max_attempts: u32,
    /// The prefix of access role names on PostgreSQL 16+ (see [`access`](crate::access)):
    /// [`DEFAULT_ACCESS_PREFIX`](crate::access::DEFAULT_ACCESS_PREFIX) by default, at most 46
    /// bytes (a longer one fails every grant on 16+ before anything changes).
    pub access_prefix: Ident,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            names: RoleNames::default(),
            policy: LevelPolicy::default(),
            reassign_to: Ident::known_valid(DEFAULT_HOLDER_ROLE),
            max_attempts: 8,
            access_prefix: Ident::known_valid(crate::access::DEFAULT_ACCESS_PREFIX),
        }
    }
}

impl Settings {
    /// The kind of the library's own role `name` is, or would be, named for (`None`: a name a
    /// user may have): the marker or the grantor role, or a name with the holders' or the
    /// access roles' prefix. Names are free to requesters, and a user created under one of
    /// these would squat it (the library refuses a role it did not make as its own, so every
    /// grant through the grantor role, or of one access role, would stop).
    pub(crate) fn reserved(&self, name: &Ident) -> Option<&'static str> {
        let prefixed = |prefix: &Ident| {
            name.as_str()
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with('_'))
        };
        if *name == self.names.marker {
            Some(crate::marker::ServiceRole::Marker.as_str())
        } else if *name == self.names.grantor {
            Some(crate::marker::ServiceRole::Grantor.as_str())
        } else if prefixed(&self.reassign_to) {
            Some(crate::marker::ServiceRole::Holder.as_str())
        } else if prefixed(&self.access_prefix) {
            Some("access")
        } else {
            None
        }
    }

    /// Uses `marker` as the marker role.
    #[must_use]
    pub fn marker_role(mut self, marker: Ident) -> Self {
        self.names.marker = marker;
        self
    }

    /// Uses `grantor` as the grantor role (PostgreSQL 16+, see
    /// [`access`](crate::access#the-grantor-role)).
    #[must_use]
    pub fn grantor_role(mut self, grantor: Ident) -> Self {
        self.names.grantor = grantor;
        self
    }

    /// Uses `policy` for the level table.
    #[must_use]
    pub fn policy(mut self, policy: LevelPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Names access roles `<prefix>_<16 hex digits>` instead of `rdspg_access_…`.
    #[must_use]
    pub fn access_prefix(mut self, prefix: Ident) -> Self {
        self.access_prefix = prefix;
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
/// As JSON: `{"outcome": "created"}` or `{"outcome": "already_exists", "record": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", content = "record", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CreateOutcome {
    /// The role was created.
    Created,
    /// A managed role of that name already existed, with this record (as it was before):
    /// the request's grant was added to it (or was there already, for a re-run), and a user
    /// revoked and kept was enabled again.
    AlreadyExists(ManagedRecord),
}

/// What [`Session::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ApplyReport {
    /// The plan that was executed (empty when nothing was needed).
    pub plan: Plan,
    /// Transactions tried (more than one after retries).
    pub attempts: u32,
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
    /// Whether the connector may create temporary tables in this database: then a password's
    /// verifier travels as `COPY` data (see `send_batch`).
    temp: bool,
}

impl<'c> Session<'c> {
    /// Reads the server version, current user and database (one round trip).
    ///
    /// The session must act as its login: the connector is `current_user`, and the library
    /// returns to the login (`SET LOCAL ROLE NONE`) after acting as the grantor role. A session
    /// whose `current_user` is another role is refused: a database's owner may `ALTER DATABASE
    /// … SET role` to any role of its own that it granted the connector (`SET`), so that a
    /// session there starts as that role, and everything the library made would be that
    /// role's (a `CREATEROLE` tenant would administer the users created there).
    ///
    /// # Errors
    /// [`GrantsError::Database`], [`GrantsError::UnsupportedServer`],
    /// [`GrantsError::SessionRoleChanged`].
    pub async fn new(client: &'c Client, settings: Settings) -> Result<Self, GrantsError> {
        let row = client
            .query_typed_one(crate::sql::SESSION_START, &[])
            .await
            .map_err(|e| GrantsError::db("reading the server version", e))?;
        let action = "reading the server version";
        let num: i32 = col(&row, 0, action)?;
        let version = crate::version::ServerVersion::from_num(u32::try_from(num).unwrap_or(0))?;
        let user: String = col(&row, 1, action)?;
        let login: String = col(&row, 3, action)?;
        if user != login {
            return Err(GrantsError::SessionRoleChanged {
                login,
                role: user,
                database: col(&row, 2, action)?,
            });
        }
        Ok(Self {
            client,
            rules: ServerRules::new(version),
            connector: Ident::new(user)?,
            database: col(&row, 2, action)?,
            settings,
            notices: None,
            temp: col(&row, 4, action)?,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use integration_model::AccessLevel;
    use time::macros::datetime;

    #[test]
    fn reports_serialize_to_the_documented_json() {
        let record = ManagedRecord::new(
            "req-1",
            AccessLevel::ReadOnly,
            datetime!(2026-11-24 18:00 UTC),
            "apono_connector",
        );
        let role = ManagedRole {
            name: Ident::known_valid("alice@example.com"),
            record,
            can_login: true,
            legacy_mark: false,
        };
        let json = serde_json::to_value(&role).unwrap();
        assert_eq!(json["name"], "alice@example.com");
        assert_eq!(json["can_login"], true);
        assert_eq!(json["legacy_mark"], false);
        assert_eq!(json["record"]["grants"][0]["level"], "read-only");
        let report = ApplyReport {
            plan: Plan {
                database: "appdb".into(),
                role: Ident::known_valid("alice@example.com"),
                changes: Vec::new(),
                default_changes: Vec::new(),
                memberships: Vec::new(),
                access: Vec::new(),
            },
            attempts: 1,
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::json!({
                "plan": {"database": "appdb", "role": "alice@example.com", "changes": [],
                         "default_changes": [], "memberships": [], "access": [], "sql": []},
                "attempts": 1
            })
        );
        let holder = LockHolder {
            pid: 7,
            user: "mallory".into(),
            may_create_roles: false,
            prepared_transaction: None,
        };
        assert_eq!(
            serde_json::to_value(&holder).unwrap(),
            serde_json::json!({"pid": 7, "user": "mallory", "may_create_roles": false})
        );
        assert_eq!(holder.to_string(), "mallory (pid 7)");
        let prepared = LockHolder {
            pid: 0,
            user: "mallory".into(),
            may_create_roles: false,
            prepared_transaction: Some("x".into()),
        };
        assert_eq!(
            serde_json::to_value(&prepared).unwrap(),
            serde_json::json!({"pid": 0, "user": "mallory", "may_create_roles": false,
                               "prepared_transaction": "x"})
        );
        assert_eq!(prepared.to_string(), "mallory (prepared transaction \"x\")");
    }
}
