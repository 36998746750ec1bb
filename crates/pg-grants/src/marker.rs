//! How a role shows that this library manages it, and the two service roles it relies on.
//!
//! Every role this crate creates carries two marks, both set in the transaction that creates it:
//!
//! 1. the `NOLOGIN NOINHERIT` marker role, [`DEFAULT_MARKER_ROLE`] (`rdspg_managed`) unless
//!    configured otherwise, created by the library when missing, is made a **member of the
//!    managed role** (`GRANT <user> TO rdspg_managed`, on 16+ `WITH INHERIT FALSE, SET FALSE`);
//! 2. a `COMMENT ON ROLE` holding a [`ManagedRecord`] as one line of JSON:
//!
//! ```text
//! {"rdspg":1,"request_id":"req-42","level":"read-only","expires_at":"2026-11-24T18:00:00Z","creator":"apono_connector"}
//! ```
//!
//! | key | meaning |
//! |---|---|
//! | `rdspg` | format version of the record, `1` |
//! | `request_id` | the access request the role was made for |
//! | `level` | `read-only`, `read-write` or `admin` (`integration_model::AccessLevel`) |
//! | `expires_at` | RFC 3339 UTC instant after which a sweep revokes the role (also its `VALID UNTIL`) |
//! | `creator` | the connector role that created it |
//! | `approved_by` | who approved the request (only when recorded) |
//! | `resources` | the request's resources, `INSTANCE/DATABASE[/SCHEMA[/TABLE]]` (only when recorded; `extend` checks access flows against them) |
//! | `reason` | why access was requested, at most [`ManagedRecord::MAX_REASON_CHARS`] characters (only when recorded) |
//!
//! A role lacking either mark is never altered, revoked or dropped
//! ([`GrantsError::NotManaged`]).
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
//! rightless ([`ServiceRole`]) before the library relies on it.
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
use time::OffsetDateTime;

use integration_model::AccessLevel;

use crate::error::GrantsError;

/// The marker role's default name.
pub const DEFAULT_MARKER_ROLE: &str = "rdspg_managed";

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
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = format!("{oid}:{role}")
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    crate::quote::Ident::new(format!("{}_{hash:016x}", prefix.as_str()))
}

/// The record format version this crate writes and reads.
pub const RECORD_FORMAT: u32 = 1;

/// The JSON record kept in a managed role's comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManagedRecord {
    /// Format version ([`RECORD_FORMAT`]).
    #[serde(rename = "rdspg")]
    pub format: u32,
    /// The access request the role was made for.
    pub request_id: String,
    /// The access level granted.
    pub level: AccessLevel,
    /// When access ends.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The connector role that created the role.
    pub creator: String,
    /// Who approved the request, when an access flow needed an approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The request's resources (`INSTANCE/DATABASE[/SCHEMA[/TABLE]]`, every instance of the
    /// request), so that an extension can be checked against access flows as the grant was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Why access was requested, when the request said ([`ManagedRecord::with_reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ManagedRecord {
    /// The longest reason kept in a record, in characters (as `AccessRequest` allows): the
    /// record is a role comment, read on every sweep, so it stays small.
    pub const MAX_REASON_CHARS: usize = 1024;

    /// A record of the current format. `expires_at` is stored in UTC, to whole seconds.
    pub fn new(
        request_id: impl Into<String>,
        level: AccessLevel,
        expires_at: OffsetDateTime,
        creator: impl Into<String>,
    ) -> Self {
        let expires_at = expires_at
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(expires_at);
        Self {
            format: RECORD_FORMAT,
            request_id: request_id.into(),
            level,
            expires_at,
            creator: creator.into(),
            approved_by: None,
            resources: Vec::new(),
            reason: None,
        }
    }

    /// Records the request's resources.
    #[must_use]
    pub fn with_resources(mut self, resources: impl IntoIterator<Item = String>) -> Self {
        self.resources = resources.into_iter().collect();
        self
    }

    /// Records why access was requested.
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
        self.reason = Some(reason);
        Ok(self)
    }

    /// Records the approver.
    #[must_use]
    pub fn with_approver(mut self, approver: impl Into<String>) -> Self {
        self.approved_by = Some(approver.into());
        self
    }

    /// The record as comment text (one line of JSON).
    pub fn to_comment(&self) -> String {
        // Serializing plain strings, an enum and a formatted date cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a record from comment text.
    ///
    /// # Errors
    /// A human-readable reason when the text is not a record of a known format.
    pub fn from_comment(text: &str) -> Result<Self, String> {
        let rec: Self =
            serde_json::from_str(text).map_err(|e| format!("not a management record: {e}"))?;
        if rec.format != RECORD_FORMAT {
            return Err(format!(
                "record format {} is not supported (this version reads {RECORD_FORMAT})",
                rec.format
            ));
        }
        Ok(rec)
    }

    /// Whether access has ended at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

/// The two roles the library creates for itself, each marked by a comment of its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceRole {
    /// The marker role, a member of every managed role.
    Marker,
    /// A holder role, owner of one revoked user's objects.
    Holder,
}

impl ServiceRole {
    /// The kind as written in the comment (`marker`, `holder`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marker => "marker",
            Self::Holder => "holder",
        }
    }

    /// The comment marking the role: `{"rdspg":1,"kind":"holder"}`.
    pub fn comment(self) -> String {
        format!(r#"{{"rdspg":{RECORD_FORMAT},"kind":"{}"}}"#, self.as_str())
    }

    /// Whether `text` is this kind's comment (extra keys are allowed, for later versions).
    pub fn is_comment(self, text: &str) -> bool {
        Self::parse(text).is_some_and(|k| k.rdspg == RECORD_FORMAT && k.kind == self.as_str())
    }

    /// The comment marking the holder of user `of`:
    /// `{"rdspg":1,"kind":"holder","of":"alice"}`.
    pub fn holder_comment(of: &str) -> String {
        // Serialising a string cannot fail; JSON-escaped so that any role name round-trips.
        let of = serde_json::Value::String(of.to_owned());
        format!(
            r#"{{"rdspg":{RECORD_FORMAT},"kind":"{}","of":{of}}}"#,
            Self::Holder.as_str()
        )
    }

    /// The user a holder's comment names (its `of`), when `text` is a holder's comment that
    /// names one.
    pub fn holder_of(text: &str) -> Option<String> {
        Self::parse(text)
            .filter(|k| k.rdspg == RECORD_FORMAT && k.kind == Self::Holder.as_str())
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
            r#"{"rdspg":1,"request_id":"req-42","level":"read-only","expires_at":"2026-11-24T18:00:00Z","creator":"apono_connector"}"#
        );
        assert_eq!(ManagedRecord::from_comment(&text).unwrap(), rec);
        assert!(rec.is_expired(datetime!(2026-11-24 18:00:00 UTC)));
        assert!(!rec.is_expired(datetime!(2026-11-24 17:59:59 UTC)));
    }

    #[test]
    fn service_role_check_recognises_records_by_their_start() {
        let rec = ManagedRecord::new("r", AccessLevel::Admin, datetime!(2026-01-01 0:00 UTC), "c");
        assert!(rec.to_comment().starts_with(r#"{"rdspg":1,"request_id":"#));
        assert_eq!(
            crate::sql::SERVICE_ROLE_CHECK
                .matches(r#"'{"rdspg":1,"request_id":'"#)
                .count(),
            2
        );
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
            r#"{"rdspg":2,"request_id":"r","level":"admin","expires_at":"2026-11-24T18:00:00Z","creator":"c"}"#,
        ] {
            assert!(ManagedRecord::from_comment(text).is_err(), "{text}");
        }
    }
}
