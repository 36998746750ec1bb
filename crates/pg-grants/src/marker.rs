//! How a role shows that this library manages it, and the two service roles it relies on.
//!
//! Every role this crate creates carries two marks, both set in the transaction that creates it:
//!
//! 1. the `NOLOGIN NOINHERIT` marker role, [`DEFAULT_MARKER_ROLE`] (`rdspg_managed`) unless
//!    configured otherwise, created by the library when missing, is made a **member of the
//!    managed role** (`GRANT <user> TO rdspg_managed`, on 16+ `WITH INHERIT FALSE, SET FALSE`);
//! 2. a `COMMENT ON ROLE` holding a [`ManagedRecord`] as one line of JSON (format 2):
//!
//! ```text
//! {"rdspg":2,"creator":"apono_connector","grants":[{"request_id":"req-42","level":"read-only","expires_at":"2026-11-24T18:00:00Z","resources":["orders/appdb/sales"]}],"password_set_at":"2026-11-24T10:00:00Z"}
//! ```
//!
//! | key | meaning |
//! |---|---|
//! | `rdspg` | format version of the record, `2` |
//! | `creator` | the connector role that created it |
//! | `grants` | the access requests the user holds at once, in the order they came ([`GrantRecord`]); empty once revoked |
//! | `grants[].request_id` | the access request |
//! | `grants[].level` | `read-only`, `read-write` or `admin` (`integration_model::AccessLevel`) |
//! | `grants[].expires_at` | RFC 3339 UTC instant after which a sweep ends this grant; the latest one is the role's `VALID UNTIL` |
//! | `grants[].resources` | the request's resources, `INSTANCE/DATABASE[/SCHEMA[/TABLE]]`: what the grant covers (only when recorded) |
//! | `grants[].approved_by` | who approved the request (only when recorded) |
//! | `grants[].reason` | why access was requested, at most [`ManagedRecord::MAX_REASON_CHARS`] characters (only when recorded) |
//! | `password_set_at` | when the library last set the password (password users; rotation by age) |
//! | `revoked_at` | when the user was revoked and kept, unable to log in and without privileges (`user_cleanup_days`) |
//!
//! Format 1 (0.1 to 0.3), `{"rdspg":1,"request_id":…,"level":…,"expires_at":…,"creator":…}`, one
//! request per role, is still read, as a record of one grant; the next change writes format 2.
//! A user holds at most [`MAX_GRANTS`] grants at once.
//!
//! A role lacking either mark is never altered, revoked or dropped
//! ([`GrantsError::NotManaged`]).
//!
//! # Who counts as managed
//!
//! **PostgreSQL 16 and later.** A role with `CREATEROLE` (a team lead's login, not
//! `rds_superuser`) administers the roles it creates, so it could give a role of its own both
//! marks: grant it to the marker, grant it to the connector `WITH ADMIN OPTION`, write a record
//! (retained, password just set) and make itself a member; a real requester of that name would
//! then have its grants added to a role whose password, and membership, the tenant holds. On
//! 16+ `pg_auth_members.grantor` says who granted each membership, and only a role with the
//! grantor's privileges can record it. So a role counts as managed only when, besides the
//! record:
//!
//! * the mark (or the 0.1.0 mark) was granted by the connector (or by the bootstrap superuser,
//!   the grantor PostgreSQL records for a superuser's grants);
//! * every other membership in it is the connector's own (granted by itself, or the implicit
//!   `ADMIN` PostgreSQL records, with the bootstrap superuser as grantor, when the connector
//!   creates the role), or one the connector granted without `ADMIN` (which retirement
//!   removes): no other role holds `ADMIN` on it, and no membership in it was granted by
//!   anyone but the connector. The role's creator, when it was not the connector, is recorded
//!   as a member with `ADMIN`, so a role created by anybody else never counts.
//!
//! Anything else is [`GrantsError::NotManaged`] with the reason (the grantors and members
//! found), and is never altered; [`Session::managed_roles`](crate::Session::managed_roles),
//! hence the sweep, skips it (and logs a warning). Both apply one SQL definition.
//!
//! **Before PostgreSQL 16** the rule is the marks alone, as always: `CREATEROLE` may grant,
//! revoke, alter and drop every non-superuser role, managed users included, so a role holding
//! it is as powerful as the connector over them and no membership grantor (which before 16
//! records whoever ran the `GRANT`, unchecked) could tell the connector's marks from its.
//! Keep `CREATEROLE` to the connector (and administrators) on 13 to 15.
//!
//! # Why the marker is a member of the user, not the other way round
//!
//! Version 0.1.0 made each user a member of the marker. Before PostgreSQL 16 every membership
//! allows `SET ROLE`, so a user could act as the marker and create objects it owns (in any
//! schema where `PUBLIC` may create, as temporary objects, ...), which outlived the user's
//! revocation and which every other managed user could use in turn. The mark now points the other
//! way: the marker is a member of each managed role, so
//!
//! * no user is a member of the marker, hence no user can `SET ROLE` to it, on any version;
//! * the marker gains nothing from its memberships: it is `NOINHERIT` (and each membership has
//!   `INHERIT FALSE, SET FALSE` on 16+) and `NOLOGIN`, so no session ever runs as the marker;
//! * the user cannot remove the mark: revoking membership in a role needs `ADMIN OPTION` on it
//!   (or `CREATEROLE` before 16), which the user does not have; nor can it change its record
//!   (`COMMENT ON ROLE` needs the same);
//! * [`Session::managed_roles`](crate::Session::managed_roles) still finds every managed role in
//!   one query (the roles the marker is a member of).
//!
//! Roles marked the 0.1.0 way are still recognised ([`ManagedRole::legacy_mark`](crate::ManagedRole::legacy_mark)),
//! and their mark is turned around (old membership revoked) the next time the library changes
//! them ([`Session::set_expiry`](crate::Session::set_expiry),
//! [`Session::set_password`](crate::Session::set_password), [`Session::apply`](crate::Session::apply),
//! [`Session::migrate_mark`](crate::Session::migrate_mark), for all at once
//! [`Session::migrate_marks`](crate::Session::migrate_marks)). The marker itself is checked to be
//! rightless ([`ServiceRole`]) before the library relies on it: no attribute, no member but
//! 0.1.0-marked users, its comment. Privileges or memberships someone else *gives* it (an
//! object's owner, a `CREATEROLE` tenant) are logged as a warning and do not stop the library:
//! they reach only 0.1.0-marked users, whom the giver could give the same directly, never a
//! user marked now, the connector or anything the library runs; refusing would let any such
//! login stop every user's creation.
//!
//! # The holder role
//!
//! A revoked user's objects are never dropped: they are reassigned to **that user's holder**
//! role, [`holder_role_name`]: the prefix [`DEFAULT_HOLDER_ROLE`] (`rdspg_holder`, unless
//! configured otherwise), `_` and 16 hex digits of a stable hash of the user's OID and name; one
//! per revoked user that owned something, created by the library when needed and kept after the
//! user is gone. It has no rights of its own (`NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
//! NOINHERIT NOREPLICATION NOBYPASSRLS`, member of no role, no privileges, nobody but the
//! connector a member of it), so a `SECURITY DEFINER` function, a trigger function or a view left
//! by a revoked user never runs with the connector's rights, and as no holder owns two users'
//! objects, nothing running as one user's holder reaches another user's leftovers. See
//! [`revoke`](crate::revoke).
//!
//! Both service roles carry a comment of their own kind, `{"rdspg":1,"kind":"marker"}` and
//! `{"rdspg":1,"kind":"holder","of":"alice"}` ([`ServiceRole::comment`],
//! [`ServiceRole::holder_comment`]); a holder without it, or marked for another user, is refused.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use integration_model::AccessLevel;

use crate::error::GrantsError;

/// The marker role's default name.
pub const DEFAULT_MARKER_ROLE: &str = "rdspg_managed";

/// The grantor role's default name (PostgreSQL 16+, see
/// [`access`](crate::access#the-grantor-role)).
pub const DEFAULT_GRANTOR_ROLE: &str = "rdspg_grantor";

/// The default prefix of holder role names (see [the module docs](self#the-holder-role)): user
/// `alice`'s holder is `rdspg_holder_<16 hex digits>` ([`holder_role_name`]).
pub const DEFAULT_HOLDER_ROLE: &str = "rdspg_holder";

/// The longest holder prefix: `prefix_` and 16 hex digits must fit in 63 bytes.
pub const MAX_HOLDER_PREFIX_BYTES: usize = crate::quote::MAX_IDENT_BYTES - 17;

/// The holder role of the user `role` (whose OID is `oid`): `<prefix>_<16 hex digits>`, the
/// digits an FNV-1a 64 hash of `"<oid>:<role>"`. Stable, so that running a half-done
/// revocation again finds the same holder; different for every user, so that no holder owns
/// two users' leftovers (see [the module docs](self#the-holder-role)).
///
/// # Errors
/// [`QuoteError::IdentTooLong`](crate::quote::QuoteError::IdentTooLong) when `prefix` is longer
/// than [`MAX_HOLDER_PREFIX_BYTES`].
pub fn holder_role_name(
    prefix: &crate::quote::Ident,
    oid: u32,
    role: &str,
) -> Result<crate::quote::Ident, crate::quote::QuoteError> {
    let hash = fnv1a64(format!("{oid}:{role}").as_bytes());
    crate::quote::Ident::new(format!("{}_{hash:016x}", prefix.as_str()))
}

/// The FNV-1a 64 hash of `bytes` (holder and access role names: stable across versions and
/// platforms, which `std`'s hasher does not promise).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// The record format version this crate writes. It reads this one and format 1 (0.1 to 0.3:
/// one request per role), which [`ManagedRecord::from_comment`] turns into one grant.
pub const RECORD_FORMAT: u32 = 2;

/// The format of the service roles' comments (`{"rdspg":1,"kind":…}`), unchanged since 0.1.
pub const SERVICE_ROLE_FORMAT: u32 = 1;

/// How the comment of a managed user begins, in every format this crate reads: the SQL that
/// tells managed users from other roles by their comment matches these prefixes.
pub const USER_RECORD_PREFIXES: [&str; 2] =
    [r#"{"rdspg":1,"request_id":"#, r#"{"rdspg":2,"creator":"#];

/// The most grants one user holds at once (a record is a role comment, read on every sweep).
pub const MAX_GRANTS: usize = 64;

/// One access request a managed user holds (see [the module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct GrantRecord {
    /// The access request.
    pub request_id: String,
    /// The access level granted.
    pub level: AccessLevel,
    /// When this grant ends (UTC, whole seconds).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schemars", schemars(with = "String"))]
    pub expires_at: OffsetDateTime,
    /// The request's resources (`INSTANCE/DATABASE[/SCHEMA[/TABLE]]`, every instance of the
    /// request): what the grant covers, and what an extension is checked against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Who approved the request, when an access flow needed an approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Why access was requested, when the request said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who made the request (the access API's caller), when recorded: only it may repeat the
    /// request ([`GrantsError::RequestOfAnother`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl GrantRecord {
    /// A grant of `level` under `request_id` until `expires_at` (kept in UTC, whole seconds).
    pub fn new(
        request_id: impl Into<String>,
        level: AccessLevel,
        expires_at: OffsetDateTime,
    ) -> Self {
        Self {
            request_id: request_id.into(),
            level,
            expires_at: whole_seconds(expires_at),
            resources: Vec::new(),
            approved_by: None,
            reason: None,
            requested_by: None,
        }
    }

    /// Whether this grant has ended at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }

    /// Whether `other` asks for the same access (level and resources; expiry, approver and
    /// reason aside): what a request id may be reused for.
    pub fn same_access(&self, other: &GrantRecord) -> bool {
        let sorted = |r: &[String]| {
            let mut r = r.to_vec();
            r.sort();
            r.dedup();
            r
        };
        self.level == other.level && sorted(&self.resources) == sorted(&other.resources)
    }
}

/// Where a managed user stands at some instant ([`ManagedRecord::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum UserState {
    /// At least one grant is active; access ends at `until` (the latest expiry).
    Active {
        /// The latest expiry of its grants.
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "schemars", schemars(with = "String"))]
        until: OffsetDateTime,
    },
    /// Every grant has ended and the user is not revoked yet: the next sweep revokes it.
    Expired {
        /// When its last grant ended.
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "schemars", schemars(with = "String"))]
        since: OffsetDateTime,
    },
    /// Revoked and kept, unable to log in and without privileges, until its cleanup.
    Disabled {
        /// When it was revoked.
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "schemars", schemars(with = "String"))]
        since: OffsetDateTime,
    },
}

pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0).unwrap_or(t)
}

/// The JSON record kept in a managed role's comment (format 2; see [the module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManagedRecord {
    /// Format version ([`RECORD_FORMAT`]).
    #[serde(rename = "rdspg")]
    pub format: u32,
    /// The connector role that created the role.
    pub creator: String,
    /// The grants the user holds, one per access request, in the order they came. Empty once
    /// revoked.
    #[serde(default)]
    pub grants: Vec<GrantRecord>,
    /// When the library last set the user's password (`None`: IAM users, and users made by
    /// 0.3 or earlier, whose next request gets a new one).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub password_set_at: Option<OffsetDateTime>,
    /// When the user was revoked and kept (see `user_cleanup_days`); `None` while it holds
    /// grants.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Format 1, as 0.1 to 0.3 wrote it: one request per role.
#[derive(Deserialize)]
struct RecordV1 {
    request_id: String,
    level: AccessLevel,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    creator: String,
    #[serde(default)]
    approved_by: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct FormatOnly {
    rdspg: u32,
}

impl ManagedRecord {
    /// The longest reason kept in a record, in characters (as `AccessRequest` allows): the
    /// record is a role comment, read on every sweep, so it stays small.
    pub const MAX_REASON_CHARS: usize = 1024;

    /// A record of the current format holding one grant. `expires_at` is stored in UTC, to
    /// whole seconds.
    pub fn new(
        request_id: impl Into<String>,
        level: AccessLevel,
        expires_at: OffsetDateTime,
        creator: impl Into<String>,
    ) -> Self {
        Self {
            format: RECORD_FORMAT,
            creator: creator.into(),
            grants: vec![GrantRecord::new(request_id, level, expires_at)],
            password_set_at: None,
            revoked_at: None,
        }
    }

    fn last_mut(&mut self) -> Option<&mut GrantRecord> {
        self.grants.last_mut()
    }

    /// Records the resources of the newest grant.
    #[must_use]
    pub fn with_resources(mut self, resources: impl IntoIterator<Item = String>) -> Self {
        if let Some(g) = self.last_mut() {
            g.resources = resources.into_iter().collect();
        }
        self
    }

    /// Records why the newest grant was requested.
    ///
    /// # Errors
    /// [`GrantsError::ReasonTooLong`] beyond [`ManagedRecord::MAX_REASON_CHARS`] characters.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Result<Self, GrantsError> {
        let reason = reason.into();
        let chars = reason.chars().count();
        if chars > Self::MAX_REASON_CHARS {
            return Err(GrantsError::ReasonTooLong {
                chars,
                max: Self::MAX_REASON_CHARS,
            });
        }
        if let Some(g) = self.last_mut() {
            g.reason = Some(reason);
        }
        Ok(self)
    }

    /// Records the approver of the newest grant.
    #[must_use]
    pub fn with_approver(mut self, approver: impl Into<String>) -> Self {
        if let Some(g) = self.last_mut() {
            g.approved_by = Some(approver.into());
        }
        self
    }

    /// Records who made the newest grant's request.
    #[must_use]
    pub fn with_requester(mut self, requester: impl Into<String>) -> Self {
        if let Some(g) = self.last_mut() {
            g.requested_by = Some(requester.into());
        }
        self
    }

    /// Records when the password was set.
    #[must_use]
    pub fn with_password_set_at(mut self, at: OffsetDateTime) -> Self {
        self.password_set_at = Some(whole_seconds(at));
        self
    }

    /// The record as comment text (one line of JSON).
    pub fn to_comment(&self) -> String {
        // Serializing plain strings, an enum and formatted dates cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a record from comment text, of this format or format 1 (read as one grant).
    ///
    /// # Errors
    /// A human-readable reason when the text is not a record of a known format.
    pub fn from_comment(text: &str) -> Result<Self, String> {
        let format = serde_json::from_str::<FormatOnly>(text)
            .map_err(|e| format!("not a management record: {e}"))?
            .rdspg;
        match format {
            1 => {
                let v1: RecordV1 = serde_json::from_str(text)
                    .map_err(|e| format!("not a management record: {e}"))?;
                let mut grant = GrantRecord::new(v1.request_id, v1.level, v1.expires_at);
                grant.resources = v1.resources;
                grant.approved_by = v1.approved_by;
                grant.reason = v1.reason;
                Ok(Self {
                    format: RECORD_FORMAT,
                    creator: v1.creator,
                    grants: vec![grant],
                    password_set_at: None,
                    revoked_at: None,
                })
            }
            RECORD_FORMAT => {
                let rec: Self = serde_json::from_str(text)
                    .map_err(|e| format!("not a management record: {e}"))?;
                if rec.grants.is_empty() && rec.revoked_at.is_none() {
                    return Err("a record without grants must say when it was revoked".to_owned());
                }
                Ok(rec)
            }
            other => Err(format!(
                "record format {other} is not supported (this version reads 1 and {RECORD_FORMAT})"
            )),
        }
    }

    /// The latest expiry of its grants (the role's `VALID UNTIL`); for a revoked user, when it
    /// was revoked.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.grants
            .iter()
            .map(|g| g.expires_at)
            .max()
            .or(self.revoked_at)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The grant of `request_id`, when the user holds it.
    pub fn grant(&self, request_id: &str) -> Option<&GrantRecord> {
        self.grants.iter().find(|g| g.request_id == request_id)
    }

    /// The grant that ends last (the newest on a tie), when it holds any.
    pub fn latest_grant(&self) -> Option<&GrantRecord> {
        self.grants.iter().rev().max_by_key(|g| g.expires_at)
    }

    /// The grants still active at `now`.
    pub fn active_grants(&self, now: OffsetDateTime) -> impl Iterator<Item = &GrantRecord> {
        self.grants.iter().filter(move |g| !g.is_expired(now))
    }

    /// Whether access has ended at `now`: no grant is active (also for a revoked user).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.active_grants(now).next().is_none()
    }

    /// Whether the user was revoked and kept.
    pub fn is_retained(&self) -> bool {
        self.revoked_at.is_some() && self.grants.is_empty()
    }

    /// Where the user stands at `now`.
    pub fn state(&self, now: OffsetDateTime) -> UserState {
        match self.revoked_at {
            Some(since) if self.grants.is_empty() => UserState::Disabled { since },
            _ if self.is_expired(now) => UserState::Expired {
                since: self.expires_at(),
            },
            _ => UserState::Active {
                until: self.expires_at(),
            },
        }
    }

    /// The record with `grant` added (replacing the grant of the same request id, whose access
    /// must be the same: see [`GrantRecord::same_access`]); a revoked user is active again.
    ///
    /// # Errors
    /// [`GrantsError::RequestConflict`] when the request id is held for other access;
    /// [`GrantsError::TooManyGrants`] beyond [`MAX_GRANTS`].
    pub fn with_grant(mut self, role: &str, grant: GrantRecord) -> Result<Self, GrantsError> {
        if let Some(held) = self
            .grants
            .iter_mut()
            .find(|g| g.request_id == grant.request_id)
        {
            if held.requested_by != grant.requested_by {
                return Err(GrantsError::RequestOfAnother {
                    role: role.to_owned(),
                    request_id: grant.request_id,
                    held_by: held.requested_by.clone(),
                });
            }
            if !held.same_access(&grant) {
                return Err(GrantsError::RequestConflict {
                    role: role.to_owned(),
                    request_id: grant.request_id,
                    held_level: held.level,
                    held_resources: held.resources.clone(),
                });
            }
            // A re-run keeps the expiry it has; approver and reason follow the request.
            held.approved_by = grant.approved_by;
            held.reason = grant.reason;
        } else {
            if self.grants.len() >= MAX_GRANTS {
                return Err(GrantsError::TooManyGrants {
                    role: role.to_owned(),
                    max: MAX_GRANTS,
                });
            }
            self.grants.push(grant);
        }
        self.revoked_at = None;
        Ok(self)
    }

    /// The record without the grants that ended at `now`.
    #[must_use]
    pub fn without_expired(mut self, now: OffsetDateTime) -> Self {
        self.grants.retain(|g| !g.is_expired(now));
        self
    }

    /// The record without the grant of `request_id`.
    #[must_use]
    pub fn without_grant(mut self, request_id: &str) -> Self {
        self.grants.retain(|g| g.request_id != request_id);
        self
    }

    /// The record of a user revoked at `at` and kept: no grants, `revoked_at` set.
    #[must_use]
    pub fn revoked(mut self, at: OffsetDateTime) -> Self {
        self.grants.clear();
        self.revoked_at = Some(whole_seconds(at));
        self
    }

    /// When a user revoked at `revoked_at` is deleted, `cleanup_days` later.
    pub fn deletes_on(&self, cleanup: Duration) -> Option<OffsetDateTime> {
        self.revoked_at.map(|at| at + cleanup)
    }
}

/// The roles the library creates for itself, each marked by a comment of its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceRole {
    /// The marker role, a member of every managed role.
    Marker,
    /// A holder role, owner of one revoked user's objects.
    Holder,
    /// The grantor role (PostgreSQL 16+): administers the access roles, and grants and
    /// revokes users' memberships in them (see [`access`](crate::access#the-grantor-role)).
    Grantor,
}

impl ServiceRole {
    /// The kind as written in the comment (`marker`, `holder`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marker => "marker",
            Self::Holder => "holder",
            Self::Grantor => "grantor",
        }
    }

    /// The comment marking the role: `{"rdspg":1,"kind":"holder"}`.
    pub fn comment(self) -> String {
        format!(
            r#"{{"rdspg":{SERVICE_ROLE_FORMAT},"kind":"{}"}}"#,
            self.as_str()
        )
    }

    /// Whether `text` is this kind's comment (extra keys are allowed, for later versions).
    pub fn is_comment(self, text: &str) -> bool {
        Self::parse(text).is_some_and(|k| k.rdspg == SERVICE_ROLE_FORMAT && k.kind == self.as_str())
    }

    /// The comment marking the holder of user `of`:
    /// `{"rdspg":1,"kind":"holder","of":"alice"}`.
    pub fn holder_comment(of: &str) -> String {
        // Serialising a string cannot fail; JSON-escaped so that any role name round-trips.
        let of = serde_json::Value::String(of.to_owned());
        format!(
            r#"{{"rdspg":{SERVICE_ROLE_FORMAT},"kind":"{}","of":{of}}}"#,
            Self::Holder.as_str()
        )
    }

    /// The user a holder's comment names (its `of`), when `text` is a holder's comment that
    /// names one.
    pub fn holder_of(text: &str) -> Option<String> {
        Self::parse(text)
            .filter(|k| k.rdspg == SERVICE_ROLE_FORMAT && k.kind == Self::Holder.as_str())
            .and_then(|k| k.of)
    }

    fn parse(text: &str) -> Option<Kind> {
        serde_json::from_str::<Kind>(text).ok()
    }
}

/// The keys of a service role's comment.
#[derive(Deserialize)]
struct Kind {
    rdspg: u32,
    kind: String,
    #[serde(default)]
    of: Option<String>,
}

impl std::fmt::Display for ServiceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn comment_round_trips_and_has_documented_shape() {
        let rec = ManagedRecord::new(
            "req-42",
            AccessLevel::ReadOnly,
            datetime!(2026-11-24 19:00:00.5 +01:00),
            "apono_connector",
        );
        let text = rec.to_comment();
        assert_eq!(
            text,
            r#"{"rdspg":2,"creator":"apono_connector","grants":[{"request_id":"req-42","level":"read-only","expires_at":"2026-11-24T18:00:00Z"}]}"#
        );
        assert_eq!(ManagedRecord::from_comment(&text).unwrap(), rec);
        assert!(rec.is_expired(datetime!(2026-11-24 18:00:00 UTC)));
        assert!(!rec.is_expired(datetime!(2026-11-24 17:59:59 UTC)));
    }

    #[test]
    fn service_role_check_recognises_records_by_their_start() {
        let rec = ManagedRecord::new("r", AccessLevel::Admin, datetime!(2026-01-01 0:00 UTC), "c");
        assert!(rec.to_comment().starts_with(USER_RECORD_PREFIXES[1]));
        for prefix in USER_RECORD_PREFIXES {
            assert_eq!(
                crate::sql::SERVICE_ROLE_CHECK
                    .matches(&format!("'{prefix}'"))
                    .count(),
                2,
                "{prefix}"
            );
        }
        assert_eq!(
            crate::sql::SERVICE_ROLE_CHECK
                .matches(r#"'{"rdspg":1,"kind":"holder"'"#)
                .count(),
            1
        );
    }

    #[test]
    fn service_role_comments() {
        assert_eq!(
            ServiceRole::Holder.comment(),
            r#"{"rdspg":1,"kind":"holder"}"#
        );
        assert!(ServiceRole::Holder.is_comment(&ServiceRole::Holder.comment()));
        assert!(!ServiceRole::Marker.is_comment(&ServiceRole::Holder.comment()));
        assert!(!ServiceRole::Holder.is_comment(r#"{"rdspg":2,"kind":"holder"}"#));
        assert!(!ServiceRole::Holder.is_comment("holder"));
        let alice = ServiceRole::holder_comment("alice");
        assert_eq!(alice, r#"{"rdspg":1,"kind":"holder","of":"alice"}"#);
        assert!(ServiceRole::Holder.is_comment(&alice));
        assert_eq!(ServiceRole::holder_of(&alice).as_deref(), Some("alice"));
        assert_eq!(ServiceRole::holder_of(&ServiceRole::Holder.comment()), None);
        assert_eq!(
            ServiceRole::holder_of(r#"{"rdspg":1,"kind":"marker","of":"alice"}"#),
            None
        );
        assert_eq!(
            ServiceRole::holder_of(&ServiceRole::holder_comment(r#"a"b'c"#)).as_deref(),
            Some(r#"a"b'c"#)
        );
        // A service role's comment is never a user's record.
        assert!(ManagedRecord::from_comment(&ServiceRole::Holder.comment()).is_err());
    }

    #[test]
    fn the_reason_is_kept_only_when_given_and_bounded() {
        let rec = ManagedRecord::new(
            "r",
            AccessLevel::Admin,
            datetime!(2026-11-24 18:00 UTC),
            "c",
        );
        assert!(!rec.to_comment().contains("reason"));
        let with = rec
            .clone()
            .with_reason("incident 4711")
            .expect("short reason");
        assert!(with.to_comment().contains(r#""reason":"incident 4711""#));
        assert_eq!(
            ManagedRecord::from_comment(&with.to_comment()).unwrap(),
            with
        );
        let long = "x".repeat(ManagedRecord::MAX_REASON_CHARS + 1);
        let err = rec.with_reason(long).expect_err("too long");
        assert!(err.to_string().contains("1025"), "{err}");
    }

    #[test]
    fn foreign_comments_are_refused() {
        for text in [
            "",
            "hello",
            "{}",
            r#"{"rdspg":3,"request_id":"r","level":"admin","expires_at":"2026-11-24T18:00:00Z","creator":"c"}"#,
            r#"{"rdspg":2,"creator":"c","grants":[]}"#,
            r#"{"rdspg":2,"request_id":"r","level":"admin","expires_at":"2026-11-24T18:00:00Z","creator":"c"}"#,
        ] {
            assert!(ManagedRecord::from_comment(text).is_err(), "{text}");
        }
    }

    #[test]
    fn format_1_is_read_as_one_grant() {
        let text = r#"{"rdspg":1,"request_id":"req-1","level":"read-write","expires_at":"2026-11-24T18:00:00Z","creator":"c","approved_by":"bob","resources":["i/db/s"],"reason":"why"}"#;
        let rec = ManagedRecord::from_comment(text).unwrap();
        assert_eq!(rec.format, RECORD_FORMAT);
        assert_eq!(rec.creator, "c");
        assert_eq!(rec.grants.len(), 1);
        let g = &rec.grants[0];
        assert_eq!(g.request_id, "req-1");
        assert_eq!(g.level, AccessLevel::ReadWrite);
        assert_eq!(g.resources, vec!["i/db/s".to_owned()]);
        assert_eq!(g.approved_by.as_deref(), Some("bob"));
        assert_eq!(g.reason.as_deref(), Some("why"));
        assert_eq!(rec.password_set_at, None);
        assert!(text.starts_with(USER_RECORD_PREFIXES[0]));
        // Written back in format 2, which reads the same.
        assert_eq!(ManagedRecord::from_comment(&rec.to_comment()).unwrap(), rec);
    }

    #[test]
    fn grants_add_replace_expire_and_revoke() {
        let t0 = datetime!(2026-11-24 10:00 UTC);
        let one = ManagedRecord::new("a", AccessLevel::ReadOnly, t0 + Duration::hours(1), "c")
            .with_resources(["i/db/s".to_owned()])
            .with_password_set_at(t0);
        let mut b = GrantRecord::new("b", AccessLevel::ReadWrite, t0 + Duration::hours(3));
        b.resources = vec!["i/db/s/t".to_owned()];
        let two = one.clone().with_grant("u", b.clone()).unwrap();
        assert_eq!(two.grants.len(), 2);
        assert_eq!(two.expires_at(), t0 + Duration::hours(3));
        assert_eq!(two.latest_grant().unwrap().request_id, "b");
        assert_eq!(two.active_grants(t0 + Duration::hours(2)).count(), 1);
        assert!(!two.is_expired(t0 + Duration::hours(2)));
        assert!(two.is_expired(t0 + Duration::hours(3)));
        assert_eq!(
            two.state(t0),
            UserState::Active {
                until: t0 + Duration::hours(3)
            }
        );
        // A re-run of a held request keeps its expiry.
        let mut again = b.clone();
        again.expires_at = t0 + Duration::hours(9);
        let rerun = two.clone().with_grant("u", again).unwrap();
        assert_eq!(rerun, two);
        // The same request id for other access is refused.
        let mut other = b.clone();
        other.level = AccessLevel::Admin;
        let err = two.clone().with_grant("u", other).unwrap_err();
        assert!(matches!(err, GrantsError::RequestConflict { .. }), "{err}");
        assert!(err.to_string().contains("\"b\""), "{err}");
        // The same request from another requester is refused too, whatever it asks.
        let mut theirs = b.clone();
        theirs.requested_by = Some("portal".to_owned());
        let refused = two.clone().with_grant("u", theirs.clone()).unwrap_err();
        assert!(
            matches!(refused, GrantsError::RequestOfAnother { held_by: None, .. }),
            "{refused}"
        );
        let mut held = b.clone();
        held.request_id = "c".to_owned();
        held.requested_by = Some("portal".to_owned());
        let three = two.clone().with_grant("u", held.clone()).unwrap();
        assert!(three.clone().with_grant("u", held.clone()).is_ok());
        let mut bot = held;
        bot.requested_by = Some("bot".to_owned());
        let refused = three.with_grant("u", bot).unwrap_err();
        assert!(refused.to_string().contains("\"portal\""), "{refused}");
        // Expiry removes one grant at a time.
        let left = two.clone().without_expired(t0 + Duration::hours(2));
        assert_eq!(left.grants, vec![b]);
        assert_eq!(two.clone().without_grant("b").grants.len(), 1);
        // Revoked and kept: no grants, the revocation time as its expiry.
        let gone = two.revoked(t0 + Duration::hours(4));
        assert!(gone.is_retained());
        assert_eq!(gone.expires_at(), t0 + Duration::hours(4));
        assert_eq!(
            gone.state(t0 + Duration::hours(5)),
            UserState::Disabled {
                since: t0 + Duration::hours(4)
            }
        );
        assert_eq!(
            gone.deletes_on(Duration::days(7)),
            Some(t0 + Duration::hours(4) + Duration::days(7))
        );
        assert_eq!(gone.password_set_at, Some(t0));
        let text = gone.to_comment();
        assert!(
            text.contains(r#""grants":[]"#)
                && text.contains(r#""revoked_at":"2026-11-24T14:00:00Z""#),
            "{text}"
        );
        assert_eq!(ManagedRecord::from_comment(&text).unwrap(), gone);
        // A new grant enables it again.
        let back = gone
            .with_grant(
                "u",
                GrantRecord::new("c", AccessLevel::ReadOnly, t0 + Duration::days(1)),
            )
            .unwrap();
        assert_eq!(back.revoked_at, None);
        assert_eq!(back.grants.len(), 1);
    }

    #[test]
    fn a_record_holds_a_bounded_number_of_grants() {
        let t = datetime!(2026-11-24 10:00 UTC);
        let mut rec = ManagedRecord::new("0", AccessLevel::ReadOnly, t, "c");
        for i in 1..MAX_GRANTS {
            rec = rec
                .with_grant(
                    "u",
                    GrantRecord::new(i.to_string(), AccessLevel::ReadOnly, t),
                )
                .unwrap();
        }
        let err = rec
            .with_grant("u", GrantRecord::new("x", AccessLevel::ReadOnly, t))
            .unwrap_err();
        assert!(
            matches!(
                err,
                GrantsError::TooManyGrants {
                    max: MAX_GRANTS,
                    ..
                }
            ),
            "{err}"
        );
    }
}
