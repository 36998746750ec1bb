//! Access roles: on PostgreSQL 16 and later, users hold their privileges through membership in
//! a shared, marked `NOLOGIN` role per (database, scope, level), not as ACL entries of their own.
//!
//! # Why
//!
//! PostgreSQL keeps an object's ACL in its catalog row, and `pg_class` has no TOAST table: a
//! table's ACL holds about 2,400 grantees before `UPDATE` fails with `row is too big`. Granting
//! each user `SELECT` directly puts a ceiling on how many users may read one table at once, and
//! makes every grant rewrite the ACL of every table in scope (a 100-table schema: 100 row
//! updates, and 100 more on revoke). Through an access role the privileges are granted once, to
//! the role, and each user gets one membership row (`pg_auth_members`, one row per member): no
//! ceiling, and a grant or revoke costs the same for the 10,000th member as for the first.
//!
//! # What an access role is
//!
//! * Named `<prefix>_<16 hex digits>` ([`AccessKey::role_name`]; prefix
//!   [`DEFAULT_ACCESS_PREFIX`], `rdspg_access`), the digits an FNV-1a 64 hash of its key: the
//!   database, the scope (database, schema, or schema and table), the level and whether it
//!   follows new tables. Stable, so every replica and every grant finds the same role.
//! * Created by the connector with no rights of its own (`NOLOGIN NOSUPERUSER NOCREATEDB
//!   NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS`), marked by a comment holding its key,
//!   one line of JSON ([`AccessKey::comment`]):
//!
//!   ```text
//!   {"rdspg":1,"kind":"access","database":"appdb","schema":"sales","level":"read-only","follow_new_tables":false}
//!   ```
//!
//!   (`idle_since` is added while it has no member, see below).
//! * Given exactly the level's privileges on its scope by the same plan/apply that gives them to
//!   a user ([`Session::apply`](crate::Session::apply)), at every grant that uses it: drift (a
//!   privilege granted to it or revoked from it by hand) is repaired then.
//! * Members: the users the grantor role (below) granted it to, `WITH INHERIT TRUE, SET FALSE`
//!   (and no `ADMIN OPTION`), the grantor role (`ADMIN OPTION` only), and the connector itself
//!   (the `ADMIN OPTION` PostgreSQL gives a role's creator). A user thus *uses* the privileges
//!   but can never act *as* the access role: it cannot `SET ROLE` to it, so nothing it creates
//!   is owned by the access role and nothing it does outlives its own revocation. It cannot
//!   grant the role to anyone either (no `ADMIN`).
//!
//! Before the library uses an access role it checks, in one query, that the role is exactly
//! that ([`Session::access_role_problems`](crate::Session::access_role_problems)): its comment
//! names the same key, the connector administers it as its creator, it has no attribute and
//! is a member of no role, it owns nothing (on any
//! database: `pg_shdepend`), it holds no privilege in another database, and every member is the
//! connector, the grantor role as the connector made it, or a role the connector or the
//! grantor role granted it to without `ADMIN` or `SET`. A role failing any
//! of these is refused with [`GrantsError::UnsafeServiceRole`]
//! (a `CREATEROLE` tenant that created a role under that name first is its `ADMIN`, and so is
//! refused) and the grant fails, changing nothing.
//!
//! # The grantor role
//!
//! On PostgreSQL 16+ a `CREATEROLE` role is made a member, with `ADMIN OPTION`, of every role it
//! creates, and PostgreSQL decides whether a role may grant or revoke a membership, comment on
//! or alter a role by walking *every* membership of that role, each time (no cache for
//! `ADMIN OPTION`): the connector, after creating 10,000 users, pays about 50–100 ms per such
//! statement (measured on 17: `COMMENT ON ROLE` 0.2 ms with no managed user, 100–170 ms with
//! 10,000; a superuser 0.3 ms). A grant's one `GRANT` of a membership would cost as much.
//!
//! So memberships in access roles are granted and revoked by a second service role, the
//! *grantor role* ([`RoleNames::grantor`](crate::role::RoleNames), `rdspg_grantor`): `NOLOGIN`,
//! no rights, marked `{"rdspg":1,"kind":"grantor"}`, created by the connector (which keeps the
//! creator's `ADMIN OPTION` and gives itself `SET`, never `INHERIT`). Each access role is
//! granted to it `WITH ADMIN OPTION, INHERIT FALSE, SET FALSE` when created: it may grant and
//! revoke memberships in the access roles, and holds none of their privileges. The connector
//! runs exactly one statement as it, inside its own transaction:
//!
//! ```text
//! SET LOCAL ROLE "rdspg_grantor"; GRANT "rdspg_access_…" TO "alice" WITH INHERIT TRUE, SET FALSE; SET LOCAL ROLE NONE;
//! ```
//!
//! `GRANT`/`REVOKE` of a role runs no user code, and `SET LOCAL` ends with the transaction
//! whatever happens. The grantor role is a member of a few access roles only, so PostgreSQL's
//! walk is short: the membership `GRANT` costs 0.2 ms with 10,000 managed users, and the `SET
//! ROLE` 2–3 ms (it reads the connector's memberships once; see `BENCHMARKS.md`, `grantees`).
//!
//! Before it acts as the grantor role the library checks it in the same round trip as the plans
//! (`GRANTOR_CHECK`): its comment; the connector administers it as its creator (a `CREATEROLE`
//! tenant who made `rdspg_grantor` first is refused); no attribute; no member but the
//! connector (anyone else could act as it and grant itself any access role), which must not
//! inherit from it (`SET` only); granted by the
//! connector only `ADMIN OPTION` on access roles, neither `INHERIT` nor `SET`; it owns
//! nothing. What *others* give it is not judged (a tenant's role granted to it, privileges,
//! policies or default privileges naming it, which any login may set for its own objects):
//! nobody can use any of it (nothing inherits from it, and the connector runs only a
//! membership's `GRANT`/`REVOKE` as it), and judging it would let one login stop every grant on
//! the server. A grant through an unfit grantor role is refused with
//! [`GrantsError::UnsafeServiceRole`] (purpose `grantor`) and changes nothing; memberships are
//! still *revoked* through it (that gives nobody anything), so no grant outlives its end.
//! Memberships the connector granted itself (before the grantor role existed) are kept while
//! wanted and revoked by the connector; an access role made before it is given to the grantor
//! role's administration by the next grant that uses it, and a connector that lost its `SET`
//! gets it back.
//!
//! Creating a *user* still walks the connector's memberships (its `COMMENT`, the marker's and
//! `rds_iam`'s `GRANT`s are the connector's): named in `BENCHMARKS.md`.
//!
//! # Versions
//!
//! Only PostgreSQL 16 added per-membership `SET` and `INHERIT` options. Before it, every
//! membership allows `SET ROLE`: a member could act as the shared role and create objects it
//! owns wherever `PUBLIC` may create (schema `public` on 13 and 14, any schema granting
//! `CREATE` to `PUBLIC`, on any database of the cluster, since the role may connect to all of
//! them). A `SECURITY DEFINER` function created that way runs with the access role's
//! privileges for anyone who may call it (`PUBLIC`, by default), after its author's
//! revocation. That holds for every level, not only those that include `CREATE`. So on 13 to
//! 15 the library grants directly, as before, and the ceiling of about 2,400 grantees per
//! object remains there (see the README).
//!
//! # Lifecycle
//!
//! A user's memberships are planned like its privileges: the plan of a grant on 16+ gives the
//! user no direct privileges (removing any it held, e.g. from before an upgrade or granted by
//! hand) and exactly the memberships its active grants want in that database
//! ([`Plan::memberships`](crate::plan::Plan::memberships)); only memberships the connector or
//! the grantor role granted count. Ending a grant removes the membership, first and on its own, so that nothing
//! about the remaining grants (an access role a member spoiled, say) can keep it; revoking the
//! user removes them all (a dropped role's memberships go with it). The rest of a grant is one
//! transaction (roles created, marks cleared, privileges, memberships).
//!
//! An access role without members (other than the connector) is marked `idle_since` by the
//! sweep, and dropped by a later sweep once idle for the grace period; a grant that uses it
//! meanwhile clears the mark. Dropping revokes its privileges (the same plan with nothing
//! wanted) and drops it in one transaction, under its advisory lock, which every transaction
//! adding a member also takes. A role the server will not drop (something in another database
//! depends on it) is reported and left. Each sweep also gives every role in use its grant's
//! privileges again: with `INHERIT`, any member may `DROP OWNED BY` the role, which removes the
//! default privileges its scope's owner set for it (PostgreSQL cannot forbid that).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use integration_model::AccessLevel;

use crate::error::GrantsError;
use crate::privilege::{Grant, Scope};
use crate::quote::{Ident, QualifiedName, QuoteError};

/// The default prefix of access role names: `rdspg_access_<16 hex digits>`.
pub const DEFAULT_ACCESS_PREFIX: &str = "rdspg_access";

/// The format of access roles' comments (`{"rdspg":1,"kind":"access",…}`).
pub const ACCESS_ROLE_FORMAT: u32 = 1;

/// How long an access role without members is kept before the sweep drops it (one day): long
/// enough that a user granted again soon after its last grant ended finds the same role, its
/// privileges in place.
pub const ACCESS_ROLE_GRACE: time::Duration = time::Duration::days(1);

/// What an access role gives: the level's privileges on one scope of one database.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessKey {
    /// The database.
    pub database: String,
    /// The schema (absent for a database scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The table (only with a schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The level.
    pub level: AccessLevel,
    /// Whether the role also gets the privileges on tables created later
    /// ([`Grant::follow_new_tables`]).
    pub follow_new_tables: bool,
}

/// An access role's comment: `rdspg`, `kind`, the key, and `idle_since` while it has no member.
#[derive(Serialize, Deserialize)]
struct Comment {
    rdspg: u32,
    kind: String,
    #[serde(flatten)]
    key: AccessKey,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    idle_since: Option<OffsetDateTime>,
}

const KIND: &str = "access";

impl AccessKey {
    /// The key of `grant` in `database`.
    pub fn new(database: &str, grant: &Grant) -> Self {
        let (schema, table) = match &grant.scope {
            Scope::Database => (None, None),
            Scope::Schema(s) => (Some(s.as_str().to_owned()), None),
            Scope::Table(q) => (
                Some(q.schema.as_str().to_owned()),
                Some(q.name.as_str().to_owned()),
            ),
        };
        Self {
            database: database.to_owned(),
            schema,
            table,
            level: grant.level,
            follow_new_tables: grant.follow_new_tables,
        }
    }

    /// The grant the role holds in [`AccessKey::database`].
    ///
    /// # Errors
    /// [`GrantsError::Quote`] for a name that is no identifier (never for a key read back from
    /// a comment this crate wrote).
    pub fn grant(&self) -> Result<Grant, GrantsError> {
        let scope = match (&self.schema, &self.table) {
            (None, _) => Scope::Database,
            (Some(s), None) => Scope::Schema(Ident::new(s.as_str())?),
            (Some(s), Some(t)) => Scope::Table(QualifiedName::new(
                Ident::new(s.as_str())?,
                Ident::new(t.as_str())?,
            )),
        };
        Ok(Grant::new(scope, self.level).follow_new_tables(self.follow_new_tables))
    }

    /// The role's name: `<prefix>_<16 hex digits>`, the FNV-1a 64 hash of the key's comment
    /// (without `idle_since`).
    ///
    /// # Errors
    /// [`QuoteError::IdentTooLong`] for a prefix longer than 46 bytes.
    pub fn role_name(&self, prefix: &Ident) -> Result<Ident, QuoteError> {
        let hash = crate::marker::fnv1a64(self.comment(None).as_bytes());
        Ident::new(format!("{}_{hash:016x}", prefix.as_str()))
    }

    /// The comment marking the role, with `idle_since` when given.
    pub fn comment(&self, idle_since: Option<OffsetDateTime>) -> String {
        let c = Comment {
            rdspg: ACCESS_ROLE_FORMAT,
            kind: KIND.to_owned(),
            key: self.clone(),
            idle_since: idle_since.map(crate::marker::whole_seconds),
        };
        // A struct of strings, booleans and a keyword: serialising cannot fail.
        serde_json::to_string(&c).unwrap_or_default()
    }

    /// The key and `idle_since` of an access role's comment, when `text` is one.
    pub fn from_comment(text: &str) -> Option<(AccessKey, Option<OffsetDateTime>)> {
        let c: Comment = serde_json::from_str(text).ok()?;
        (c.rdspg == ACCESS_ROLE_FORMAT && c.kind == KIND).then_some((c.key, c.idle_since))
    }

    /// How every access role's comment begins (what SQL matches to find them).
    pub(crate) const COMMENT_PREFIX: &'static str = r#"{"rdspg":1,"kind":"access","#;
}

/// An access role as the library found it, with its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessRole {
    /// Its name.
    pub name: Ident,
    /// What it gives.
    pub key: AccessKey,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn id(s: &str) -> Ident {
        Ident::new(s).unwrap()
    }

    #[test]
    fn comment_has_the_documented_shape_and_round_trips() {
        let key = AccessKey::new(
            "appdb",
            &Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly),
        );
        assert_eq!(
            key.comment(None),
            r#"{"rdspg":1,"kind":"access","database":"appdb","schema":"sales","level":"read-only","follow_new_tables":false}"#
        );
        assert!(key.comment(None).starts_with(AccessKey::COMMENT_PREFIX));
        let idle = datetime!(2026-12-06 10:00:00.7 UTC);
        let text = key.comment(Some(idle));
        assert!(
            text.ends_with(r#""idle_since":"2026-12-06T10:00:00Z"}"#),
            "{text}"
        );
        let (back, since) = AccessKey::from_comment(&text).unwrap();
        assert_eq!(back, key);
        assert_eq!(since, Some(datetime!(2026-12-06 10:00:00 UTC)));
        assert_eq!(
            back.grant().unwrap(),
            Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly)
        );
    }

    #[test]
    fn names_differ_per_key_and_ignore_idleness() {
        let prefix = id(DEFAULT_ACCESS_PREFIX);
        let ro = AccessKey::new(
            "appdb",
            &Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly),
        );
        let rw = AccessKey::new(
            "appdb",
            &Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadWrite),
        );
        let other_db = AccessKey::new(
            "otherdb",
            &Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly),
        );
        let table = AccessKey::new(
            "appdb",
            &Grant::new(
                Scope::Table(QualifiedName::new(id("sales"), id("orders"))),
                AccessLevel::ReadOnly,
            ),
        );
        let follow = AccessKey::new(
            "appdb",
            &Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly).follow_new_tables(true),
        );
        let names: std::collections::BTreeSet<_> = [&ro, &rw, &other_db, &table, &follow]
            .iter()
            .map(|k| k.role_name(&prefix).unwrap())
            .collect();
        assert_eq!(names.len(), 5);
        let name = ro.role_name(&prefix).unwrap();
        assert!(
            name.as_str().starts_with("rdspg_access_") && name.as_str().len() == 29,
            "{name}"
        );
        assert_eq!(ro.role_name(&prefix).unwrap(), name);
        // A prefix that leaves no room for the digits is refused, not truncated.
        assert!(ro.role_name(&id(&"p".repeat(47))).is_err());
    }

    #[test]
    fn other_comments_are_not_access_roles() {
        for text in [
            r#"{"rdspg":1,"kind":"holder","of":"alice"}"#,
            r#"{"rdspg":2,"kind":"access","database":"d","level":"read-only","follow_new_tables":false}"#,
            r#"{"rdspg":1,"kind":"access","database":"d","level":"owner","follow_new_tables":false}"#,
            "not json",
        ] {
            assert!(AccessKey::from_comment(text).is_none(), "{text}");
        }
    }
}
