//! How a role shows that this library manages it.
//!
//! Every role this crate creates carries two marks, both set in the transaction that creates it:
//!
//! 1. membership in a `NOLOGIN` marker role, [`DEFAULT_MARKER_ROLE`] (`rdspg_managed`) unless
//!    configured otherwise, created by the library when missing (on 16+ the membership has
//!    `INHERIT FALSE, SET FALSE`: it grants nothing);
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
//! ([`GrantsError::NotManaged`](crate::GrantsError::NotManaged)).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use integration_model::AccessLevel;

use crate::error::GrantsError;

/// The marker role's default name.
pub const DEFAULT_MARKER_ROLE: &str = "rdspg_managed";

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
