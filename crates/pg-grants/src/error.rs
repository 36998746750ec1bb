//! The crate's error type.

use crate::password::PasswordError;
use crate::quote::QuoteError;

/// A privilege change the connector cannot make because it is not (a member of) an object's
/// owner, with the SQL an administrator runs to allow it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct OwnerFix {
    /// Database the object lives in.
    pub database: String,
    /// What the object is (`table`, `schema`, `database`, ...).
    pub kind: &'static str,
    /// The object's name (`schema.table`, schema name or database name).
    pub object: String,
    /// The object's owner.
    pub owner: String,
    /// SQL that lets the connector act for `owner` on this server version.
    pub fix_sql: String,
    /// Who can run `fix_sql`.
    pub run_as: String,
}

impl std::fmt::Display for OwnerFix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?} in database {:?} is owned by {:?}: as {} run `{}`",
            self.kind, self.object, self.database, self.owner, self.run_as, self.fix_sql
        )
    }
}

/// The fixes grouped by what fixes them: one entry per (database, owner, fix) naming every
/// object it covers, so that a schema of 200 tables owned by one role reads as one fix.
fn list_fixes(fixes: &[OwnerFix]) -> String {
    let mut groups: Vec<(&OwnerFix, Vec<String>)> = Vec::new();
    for fix in fixes {
        let object = format!("{} {:?}", fix.kind, fix.object);
        match groups.iter_mut().find(|(g, _)| {
            g.database == fix.database && g.owner == fix.owner && g.fix_sql == fix.fix_sql
        }) {
            Some((_, objects)) => objects.push(object),
            None => groups.push((fix, vec![object])),
        }
    }
    groups
        .iter()
        .map(|(fix, objects)| {
            format!(
                "in database {:?}, {} owned by {:?}: as {} run `{}`",
                fix.database,
                objects.join(", "),
                fix.owner,
                fix.run_as,
                fix.fix_sql
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Everything that can go wrong in `pg-grants`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrantsError {
    /// An identifier or literal was refused before any SQL was built.
    #[error(transparent)]
    Quote(#[from] QuoteError),
    /// A password could not be made.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The server is older than PostgreSQL 13.
    #[error(
        "PostgreSQL server_version_num {version_num} is not supported: use PostgreSQL 13 or newer"
    )]
    UnsupportedServer {
        /// The reported `server_version_num`.
        version_num: u32,
    },
    /// A statement failed on the server (or the connection failed). The message names what
    /// this crate was doing and the SQLSTATE; the server's own text is the
    /// [`source`](std::error::Error::source) (and [`message`](GrantsError::Database::message)).
    #[error("{action} failed{}", code.as_deref().map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default())]
    Database {
        /// What this crate was doing.
        action: String,
        /// The server's SQLSTATE, when the server answered.
        code: Option<String>,
        /// The server's message with its detail (or the client error), as the source says it;
        /// not part of this error's `Display`.
        message: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server answered a statement with a warning meaning nothing happened.
    #[error(
        "{action}: the server warned {message:?}, so nothing changed; check the grantor's privileges"
    )]
    NothingHappened {
        /// What this crate was doing.
        action: String,
        /// The warning's text.
        message: String,
    },
    /// The role exists but carries no mark of this library, so it is not touched.
    #[error(
        "role {role:?} is not managed by this library ({reason}; a managed user carries the mark \
         of {marker:?}, placed by the connector, and a valid record in its comment): refusing \
         to alter, revoke or drop it"
    )]
    NotManaged {
        /// The refused role.
        role: String,
        /// The marker role looked for.
        marker: String,
        /// Why: no mark, no record, or (16+) marks another role could have placed (a mark not
        /// granted by the connector, a member or `ADMIN` holder other than the marker and the
        /// connector), one reason after the other.
        reason: String,
    },
    /// A request id the user already holds, reused for other access (level or resources).
    #[error(
        "role {role:?} already holds request {request_id:?} as {held_level} on {held_resources:?}: \
         a request id names one access; use a new request id for other access"
    )]
    RequestConflict {
        /// The role.
        role: String,
        /// The reused request id.
        request_id: String,
        /// The level the request holds.
        held_level: integration_model::AccessLevel,
        /// The resources the request holds.
        held_resources: Vec<String>,
    },
    /// A re-run of a request by another requester than the one who made it (the access API's
    /// callers): a request id is its requester's; a re-run sets a new password, which only the
    /// requester that holds the grant may ask for.
    #[error(
        "role {role:?} holds request {request_id:?} made by {}: only its requester may repeat \
         it; use a new request id",
        held_by.as_deref().map_or_else(|| "a direct caller of the library".to_owned(), |b| format!("{b:?}"))
    )]
    RequestOfAnother {
        /// The role.
        role: String,
        /// The reused request id.
        request_id: String,
        /// Who made the request the role holds (`None`: no requester was recorded).
        held_by: Option<String>,
    },
    /// A re-run of a request whose grant has ended: it grants nothing any more.
    #[error(
        "request {request_id:?} of role {role:?} ended at {expired_at}: ask for access with a new request"
    )]
    RequestExpired {
        /// The role.
        role: String,
        /// The request.
        request_id: String,
        /// When its grant ended.
        expired_at: time::OffsetDateTime,
    },
    /// The user holds as many grants at once as a record keeps.
    #[error(
        "role {role:?} already holds {max} grants at once, the most a record keeps: revoke or \
         let some expire first"
    )]
    TooManyGrants {
        /// The role.
        role: String,
        /// The limit ([`MAX_GRANTS`](crate::marker::MAX_GRANTS)).
        max: usize,
    },
    /// The role does not exist.
    #[error("role {role:?} does not exist")]
    RoleNotFound {
        /// The missing role.
        role: String,
    },
    /// A managed role's comment is not a record this version can read.
    #[error("role {role:?} has an unreadable management record: {reason}")]
    InvalidRecord {
        /// The role.
        role: String,
        /// Why the record was refused.
        reason: String,
    },
    /// The connector is not (a member of) the owner of objects it must grant on; nothing changed.
    #[error("the connector cannot grant on objects it does not own: {}", list_fixes(.fixes))]
    OwnerMembershipMissing {
        /// One entry per object.
        fixes: Vec<OwnerFix>,
    },
    /// The connector may not grant membership in a role it needs (for example `rds_iam`).
    #[error(
        "the connector {connector:?} may not grant membership in {role:?}; as an administrator run: {fix_sql}"
    )]
    CannotGrantRole {
        /// The role that cannot be granted.
        role: String,
        /// The connector.
        connector: String,
        /// SQL that allows it on this server version.
        fix_sql: String,
    },
    /// The connector may no longer alter or drop a role it manages: on 16+ its `ADMIN OPTION` on
    /// the role (implicit when it created it) was removed, or the role was created by another
    /// connector user; before 16 it lacks `CREATEROLE`. Nothing changed.
    #[error(
        "the connector {connector:?} may not {action} managed role {role:?}: {needs}; nothing was changed; as an administrator run: {fix_sql}"
    )]
    CannotAdministerRole {
        /// The managed role.
        role: String,
        /// The connector.
        connector: String,
        /// What was refused (`revoke`, `change the expiry of`, `set the password of`).
        action: &'static str,
        /// What this server version requires, and what is missing.
        needs: String,
        /// SQL that gives the connector that right back on this server version.
        fix_sql: String,
    },
    /// A grant asks for something its scope cannot give; nothing changed.
    #[error("invalid grant on {scope}: {reason}")]
    InvalidGrant {
        /// The grant's scope, as text.
        scope: String,
        /// What is wrong and what to use instead.
        reason: &'static str,
    },
    /// A grant asks to follow new tables made by a role the connector can never act for: that
    /// role is a member of the connector (on 16+ the role that created the connector, usually
    /// the master user), so the connector cannot join it, and privileges on the tables it
    /// creates later could be revoked by that role only. Nothing changed.
    #[error(
        "cannot follow new tables created by {creator:?} in schema {schema:?} of database \
         {database:?}: {creator:?} is a member of the connector {connector:?} (on PostgreSQL 16+ \
         the role that created the connector is), so the connector cannot act for it and could \
         not revoke privileges on the tables it creates later; grant without following new \
         tables there, or let a role the connector can join create the tables"
    )]
    CannotFollowNewTables {
        /// Database of the schema.
        database: String,
        /// The schema.
        schema: String,
        /// The role whose future tables would be covered.
        creator: String,
        /// The connector.
        connector: String,
    },
    /// The scope names an object that does not exist.
    #[error("{kind} {name:?} does not exist in database {database:?}")]
    ObjectNotFound {
        /// Database searched.
        database: String,
        /// `schema` or `table`.
        kind: &'static str,
        /// The missing name.
        name: String,
    },
    /// A connection to another database could not be opened.
    #[error("cannot connect to database {database:?}")]
    Connect {
        /// The database.
        database: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A role the library relies on having no rights of its own (a user's holder, which receives
    /// that revoked user's objects, or the marker) is not exactly such a role, or the holder name
    /// names a role the library does not manage or another user's holder. Nothing was reassigned, dropped or granted; a
    /// revocation that stops here leaves the user `NOLOGIN` with everything it owns in place.
    #[error(
        "refusing to use role {role:?} as the {purpose} role: {}; nothing was reassigned or \
         dropped (a revoked user stays NOLOGIN); make it a role with no rights (NOLOGIN \
         NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS, no \
         memberships, no privileges) or configure another name, then run again",
        problems.join("; ")
    )]
    UnsafeServiceRole {
        /// The role.
        role: String,
        /// `holder` or `marker`.
        purpose: &'static str,
        /// What is wrong with it, one entry per finding.
        problems: Vec<String>,
    },
    /// The session acts as another role than its login (`current_user` is not
    /// `session_user`): a `role` setting of the database (its owner's to set) or of the login,
    /// or a `SET ROLE`. The library acts only as the login it was given.
    #[error(
        "the session of {login:?} on database {database:?} acts as role {role:?} (a `role` \
         setting of the database or of the login, or SET ROLE): the library acts only as its \
         login; remove the setting (ALTER DATABASE … RESET role) and connect again"
    )]
    SessionRoleChanged {
        /// The login (`session_user`).
        login: String,
        /// The role the session acts as (`current_user`).
        role: String,
        /// The database.
        database: String,
    },
    /// A user may not have the name of one of the library's own roles (the marker, the grantor
    /// role, a holder's or an access role's prefix): it would take the name from the library's
    /// role, and the library would refuse that role (every grant through the grantor role, say)
    /// while the user exists.
    #[error(
        "refusing to create user {role:?}: the name is the library's, for a {service} role; \
         choose another name"
    )]
    ReservedRoleName {
        /// The name asked for.
        role: String,
        /// `marker`, `grantor`, `holder` or `access`.
        service: &'static str,
    },
    /// A revocation stopped part way; the role cannot log in. Run the revocation again.
    #[error(
        "revoking role {role:?} is incomplete: it can no longer log in, but databases {remaining:?} \
         still hold its objects or privileges ({reason}); run the revocation again when they are reachable"
    )]
    RevokeIncomplete {
        /// The role.
        role: String,
        /// Databases not yet cleaned.
        remaining: Vec<String>,
        /// The first failure.
        reason: String,
    },
    /// A revocation stopped before moving anything in a database: the user attached triggers to
    /// relations it does not own that run its code, and the connector cannot take them out of
    /// use (it cannot act for the relation's owner, or the relation is a view, whose triggers
    /// PostgreSQL cannot disable). Left as they are, every write by the owner would run the
    /// user's code with the owner's rights. The user stays `NOLOGIN`; its objects stay where
    /// they are. Each owner runs the listed SQL (after review), then the revocation is run
    /// again.
    #[error(
        "revoking role {role:?} stopped: it attached triggers running its own code to relations it does not own, and the connector cannot disable them; nothing was moved there and the role stays NOLOGIN; {}; then run the revocation again",
        .triggers.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    TriggersNotDisabled {
        /// The role being revoked.
        role: String,
        /// Each trigger, with the SQL its relation's owner runs.
        triggers: Vec<crate::revoke::ForeignTrigger>,
    },
    /// A retirement ([`Session::retire_role`](crate::Session::retire_role)) stopped: the user
    /// is still a member of roles (or has members) the connector cannot remove, on 16+ because
    /// their grantor is a role whose privileges the connector lacks. The role stays `NOLOGIN`
    /// and its record untouched; each grantor runs the listed SQL, then the retirement is run
    /// again.
    #[error(
        "retiring role {role:?} stopped: it can no longer log in, but the connector cannot \
         remove its memberships: {}; then run the retirement again",
        .memberships.iter().map(|m| format!("{m}: as {:?} run `{}`", m.grantor, m.fix_sql)).collect::<Vec<_>>().join("; ")
    )]
    MembershipsNotRemoved {
        /// The role being retired.
        role: String,
        /// Each membership left, with the SQL that removes it.
        memberships: Vec<crate::revoke::Membership>,
    },
    /// A reason too long to keep in a role's management record (nothing was changed).
    #[error("the reason is {chars} characters long; a management record keeps at most {max}")]
    ReasonTooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit ([`ManagedRecord::MAX_REASON_CHARS`](crate::ManagedRecord::MAX_REASON_CHARS)).
        max: usize,
    },
}

/// What a failed operation had done to the database when it failed, as far as the library can
/// tell: [`GrantsError::applied`], and the facade's `AccessError::applied`.
///
/// Every operation of this library can be run again after any failure: a re-run completes what
/// is missing or finds it done (plans diff against the catalogs; revocations and retirements
/// go on where they stopped). So the answer only tells what state the database may be in now,
/// never whether a re-run is safe.
///
/// ```
/// use pg_grants::{Applied, GrantsError};
/// let refused = GrantsError::RoleNotFound { role: "alice".into() };
/// assert_eq!(refused.applied(), Applied::No);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Applied {
    /// Nothing was changed: the failure came before the first change, or the server refused
    /// the change and rolled its transaction back (or the operation undid it).
    No,
    /// Part of the change was made and committed (the error says which part, e.g. a
    /// revocation that left the role `NOLOGIN`); running the operation again completes it.
    Partly,
    /// Unknown: the connection was lost or the time ran out while a change may have been on
    /// its way; a `COMMIT` may have been committed with its answer lost. The database holds
    /// either the state before or a state on the operation's way to done; running the
    /// operation again completes it (or finds it done).
    Unknown,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::No => "nothing was changed",
            Self::Partly => "part of the change was made; run it again to complete it",
            Self::Unknown => {
                "the outcome is unknown (the connection was lost while a change may have been \
                 committed); run it again to complete it"
            }
        })
    }
}

/// Reads column `idx` of a catalog row without panicking on an unexpected type.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    idx: usize,
    action: &str,
) -> Result<T, GrantsError> {
    row.try_get(idx).map_err(|e| GrantsError::db(action, e))
}

/// Whether SQLSTATE `code` says the server is not serving writes now (class 08 connection,
/// class 57 operator intervention, 53300 too many connections, 25006 read-only), whatever the
/// statement: see [`GrantsError::server_unavailable`].
pub fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57") || code == "53300" || code == "25006"
}

impl GrantsError {
    /// Whether the server is not serving writes now rather than refusing this statement: no
    /// answer (the connection), or SQLSTATE class 08 (connection) or 57 (operator
    /// intervention, shutting down), 53300 (too many connections) or 25006 (read-only: a
    /// standby after a failover). Such a failure ends a multi-step job; a refusal does not.
    pub fn server_unavailable(&self) -> bool {
        match self {
            Self::Database { code, .. } => code.as_deref().is_none_or(unavailable_sqlstate),
            _ => false,
        }
    }

    pub(crate) fn db(action: impl Into<String>, source: tokio_postgres::Error) -> Self {
        let (code, message) = match source.as_db_error() {
            Some(db) => (
                Some(db.code().code().to_owned()),
                match db.detail() {
                    Some(d) => format!("{} ({d})", db.message()),
                    None => db.message().to_owned(),
                },
            ),
            None => (
                source.code().map(|c| c.code().to_owned()),
                source.to_string(),
            ),
        };
        Self::Database {
            action: action.into(),
            code,
            message,
            source,
        }
    }

    /// What the failed call had done to the database (see [`Applied`]).
    ///
    /// Refusals found before the first change are [`Applied::No`]; a revocation or retirement
    /// that stopped part way is [`Applied::Partly`] (the role is `NOLOGIN`); a statement that
    /// failed, or a connection lost, is [`Applied::Unknown`]: the call may have committed an
    /// earlier transaction, or its last `COMMIT` may have been committed with the answer lost.
    pub fn applied(&self) -> Applied {
        match self {
            Self::Database { .. } | Self::Connect { .. } | Self::SessionRoleChanged { .. } => {
                Applied::Unknown
            }
            Self::RevokeIncomplete { .. }
            | Self::TriggersNotDisabled { .. }
            | Self::UnsafeServiceRole { .. }
            | Self::MembershipsNotRemoved { .. } => Applied::Partly,
            Self::Quote(_)
            | Self::Password(_)
            | Self::UnsupportedServer { .. }
            | Self::NothingHappened { .. }
            | Self::NotManaged { .. }
            | Self::RequestConflict { .. }
            | Self::RequestOfAnother { .. }
            | Self::RequestExpired { .. }
            | Self::TooManyGrants { .. }
            | Self::RoleNotFound { .. }
            | Self::InvalidRecord { .. }
            | Self::OwnerMembershipMissing { .. }
            | Self::CannotGrantRole { .. }
            | Self::CannotAdministerRole { .. }
            | Self::InvalidGrant { .. }
            | Self::CannotFollowNewTables { .. }
            | Self::ObjectNotFound { .. }
            | Self::ReservedRoleName { .. }
            | Self::ReasonTooLong { .. } => Applied::No,
        }
    }

    /// The SQLSTATE of a server error, if any.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Database { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod fix_tests {
    use super::*;

    fn fix(object: &str, owner: &str) -> OwnerFix {
        OwnerFix {
            database: "appdb".to_owned(),
            kind: "table",
            object: object.to_owned(),
            owner: owner.to_owned(),
            fix_sql: format!("GRANT \"{owner}\" TO \"apono_connector\";"),
            run_as: "a role with CREATEROLE".to_owned(),
        }
    }

    #[test]
    fn fixes_are_grouped_per_owner_and_fix() {
        let err = GrantsError::OwnerMembershipMissing {
            fixes: vec![
                fix("sales.orders", "postgres"),
                fix("inv.items", "app_owner"),
                fix("sales.customers", "postgres"),
            ],
        };
        assert_eq!(
            err.to_string(),
            "the connector cannot grant on objects it does not own: in database \"appdb\", \
             table \"sales.orders\", table \"sales.customers\" owned by \"postgres\": as a role \
             with CREATEROLE run `GRANT \"postgres\" TO \"apono_connector\";`; in database \
             \"appdb\", table \"inv.items\" owned by \"app_owner\": as a role with CREATEROLE run \
             `GRANT \"app_owner\" TO \"apono_connector\";`"
        );
    }
}
