//! Access requests: who gets which level on which resources, for how long.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{is_invisible_format_char, quote};
use crate::text::{keyword_enum, string_newtype};
use crate::{AccessDuration, Identifier, ModelError, ResourcePath};

keyword_enum! {
    /// How much a grantee may do on a resource.
    pub enum AccessLevel ("level") {
        /// Read data (SELECT; USAGE on schemas; CONNECT on databases).
        ReadOnly = "read-only",
        /// Read and change data (adds INSERT, UPDATE, DELETE, ...).
        ReadWrite = "read-write",
        /// Everything the owner may do, short of ownership.
        Admin = "admin",
    }
}

/// The caller's identifier for a request (a ticket number, a workflow id): 1 to 128
/// printable characters; control characters and invisible formatting characters (zero
/// width, bidi overrides) are refused, as are leading or trailing spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

impl RequestId {
    /// The longest id, in characters.
    pub const MAX_CHARS: usize = 128;
}

impl FromStr for RequestId {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "request_id";
        if text.is_empty() {
            return Err(ModelError::invalid(KEY, text, "is empty"));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| c.is_control() || is_invisible_format_char(*c))
        {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("contains the unprintable character {bad:?}"),
            ));
        }
        if text.trim() != text {
            return Err(ModelError::invalid(
                KEY,
                text,
                "starts or ends with a space",
            ));
        }
        let chars = text.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("is {chars} characters long; the limit is 128"),
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(RequestId);

/// A request for time-bound access: grantee, resources, level, duration, and optionally a
/// reason and the caller's request id.
///
/// * `grantee` is the PostgreSQL role that receives the access (created by the library);
///   names PostgreSQL reserves (`pg_*`, `public`, ...) are refused.
/// * `resources` are full [`ResourcePath`]s: at least one, no repeats.
/// * `duration` is 1 minute to 365 days ([`AccessDuration`]).
/// * `reason` is free text up to 1024 characters, printable (newlines and tabs allowed).
///
/// Serde shape (JSON): `{"grantee": "alice", "resources": ["orders-db/app/public"],
/// "level": "read-only", "duration": "2h", "reason": "...", "request_id": "..."}`; unknown
/// keys are errors.
///
/// ```
/// use integration_model::{AccessLevel, AccessRequest};
/// let request = AccessRequest::builder("alice".parse()?, AccessLevel::ReadOnly, "2h".parse()?)
///     .resource("orders-db/app/public".parse()?)
///     .reason("incident 4711")
///     .build()?;
/// assert_eq!(request.resources().len(), 1);
/// assert_eq!(request.duration().as_secs(), 7200);
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessRequest {
    grantee: Identifier,
    resources: Vec<ResourcePath>,
    level: AccessLevel,
    duration: AccessDuration,
    reason: Option<String>,
    request_id: Option<RequestId>,
    approved_by: Option<String>,
    requested_by: Option<String>,
}

impl AccessRequest {
    /// The longest reason, in characters.
    pub const MAX_REASON_CHARS: usize = 1024;

    /// Starts a request; add resources, then [`AccessRequestBuilder::build`].
    pub fn builder(
        grantee: Identifier,
        level: AccessLevel,
        duration: AccessDuration,
    ) -> AccessRequestBuilder {
        AccessRequestBuilder {
            grantee,
            level,
            duration,
            resources: Vec::new(),
            reason: None,
            request_id: None,
            approved_by: None,
            requested_by: None,
        }
    }

    /// The role that receives access.
    pub fn grantee(&self) -> &Identifier {
        &self.grantee
    }

    /// The resources, in the order given.
    pub fn resources(&self) -> &[ResourcePath] {
        &self.resources
    }

    /// The access level.
    pub fn level(&self) -> AccessLevel {
        self.level
    }

    /// How long the access lasts.
    pub fn duration(&self) -> AccessDuration {
        self.duration
    }

    /// Why access is requested.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Who approved the request, when an access flow needs an approver.
    pub fn approved_by(&self) -> Option<&str> {
        self.approved_by.as_deref()
    }

    /// The caller's id for the request.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }

    /// Who made the request, when recorded (the access API's caller): only it may repeat the
    /// request id.
    pub fn requested_by(&self) -> Option<&str> {
        self.requested_by.as_deref()
    }
}

/// Builds an [`AccessRequest`]; created by [`AccessRequest::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct AccessRequestBuilder {
    grantee: Identifier,
    level: AccessLevel,
    duration: AccessDuration,
    resources: Vec<ResourcePath>,
    reason: Option<String>,
    request_id: Option<RequestId>,
    approved_by: Option<String>,
    requested_by: Option<String>,
}

impl AccessRequestBuilder {
    /// Adds one resource.
    pub fn resource(mut self, resource: ResourcePath) -> Self {
        self.resources.push(resource);
        self
    }

    /// Adds resources.
    pub fn resources(mut self, resources: impl IntoIterator<Item = ResourcePath>) -> Self {
        self.resources.extend(resources);
        self
    }

    /// Sets the reason (checked by [`build`](Self::build)).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the caller's request id.
    pub fn request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = Some(request_id);
        self
    }

    /// Records who made the request (printable, at most 128 characters, checked by
    /// [`AccessRequestBuilder::build`]): the grant keeps it, and a re-run of its request id by
    /// anyone else is refused.
    pub fn requested_by(mut self, requester: impl Into<String>) -> Self {
        self.requested_by = Some(requester.into());
        self
    }

    /// Records who approved the request (printable, at most 128 characters, checked by
    /// [`AccessRequestBuilder::build`]).
    pub fn approved_by(mut self, approver: impl Into<String>) -> Self {
        self.approved_by = Some(approver.into());
        self
    }

    /// Checks the request: a usable grantee name, at least one resource and no repeats, a
    /// printable reason within 1024 characters.
    pub fn build(self) -> Result<AccessRequest, ModelError> {
        self.grantee.check_role_name("grantee")?;
        if self.resources.is_empty() {
            return Err(ModelError::missing(
                "resources",
                "name at least one INSTANCE/DATABASE[/SCHEMA[/TABLE]]",
            ));
        }
        for (i, resource) in self.resources.iter().enumerate() {
            if self
                .resources
                .iter()
                .take(i)
                .any(|earlier| earlier == resource)
            {
                return Err(ModelError::duplicate(
                    &format!("resources[{i}]"),
                    &resource.to_string(),
                ));
            }
        }
        if let Some(reason) = &self.reason {
            check_reason(reason)?;
        }
        if let Some(approver) = &self.approved_by {
            // The same rules as a request id: printable, no invisible characters, 1-128.
            approver
                .parse::<RequestId>()
                .map_err(|e| e.at("approved_by"))?;
        }
        if let Some(requester) = &self.requested_by {
            requester
                .parse::<RequestId>()
                .map_err(|e| e.at("requested_by"))?;
        }
        Ok(AccessRequest {
            grantee: self.grantee,
            resources: self.resources,
            level: self.level,
            duration: self.duration,
            reason: self.reason,
            request_id: self.request_id,
            approved_by: self.approved_by,
            requested_by: self.requested_by,
        })
    }
}

fn check_reason(reason: &str) -> Result<(), ModelError> {
    const KEY: &str = "reason";
    if reason.trim().is_empty() {
        return Err(ModelError::invalid(
            KEY,
            reason,
            "is blank; leave the reason out instead",
        ));
    }
    if let Some(bad) = reason
        .chars()
        .find(|c| (c.is_control() && !matches!(c, '\n' | '\t')) || is_invisible_format_char(*c))
    {
        return Err(ModelError::invalid(
            KEY,
            reason,
            format!("contains the unprintable character {bad:?}"),
        ));
    }
    let chars = reason.chars().count();
    if chars > AccessRequest::MAX_REASON_CHARS {
        return Err(ModelError::InvalidValue {
            key: KEY.to_owned(),
            value: quote(&reason.chars().take(40).collect::<String>()) + "...",
            reason: format!(
                "is {chars} characters long; the limit is {}",
                AccessRequest::MAX_REASON_CHARS
            ),
        });
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestShape {
    grantee: Identifier,
    resources: Vec<ResourcePath>,
    level: AccessLevel,
    duration: AccessDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<RequestId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requested_by: Option<String>,
}

impl Serialize for AccessRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RequestShape {
            grantee: self.grantee.clone(),
            resources: self.resources.clone(),
            level: self.level,
            duration: self.duration,
            reason: self.reason.clone(),
            request_id: self.request_id.clone(),
            approved_by: self.approved_by.clone(),
            requested_by: self.requested_by.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AccessRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let shape = RequestShape::deserialize(deserializer)?;
        let mut builder = AccessRequest::builder(shape.grantee, shape.level, shape.duration)
            .resources(shape.resources);
        if let Some(reason) = shape.reason {
            builder = builder.reason(reason);
        }
        if let Some(request_id) = shape.request_id {
            builder = builder.request_id(request_id);
        }
        if let Some(approver) = shape.approved_by {
            builder = builder.approved_by(approver);
        }
        if let Some(requester) = shape.requested_by {
            builder = builder.requested_by(requester);
        }
        builder.build().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> AccessRequestBuilder {
        AccessRequest::builder(
            "alice".parse().unwrap(),
            AccessLevel::ReadWrite,
            "30m".parse().unwrap(),
        )
    }

    #[test]
    fn builder_rules() {
        let r = base().resource("db1/app".parse().unwrap()).build().unwrap();
        assert_eq!(r.level(), AccessLevel::ReadWrite);
        assert_eq!(
            base().build().unwrap_err().to_string(),
            "resources: missing; name at least one INSTANCE/DATABASE[/SCHEMA[/TABLE]]"
        );
        let dup = base()
            .resources(["db1/app".parse().unwrap(), "db1/app".parse().unwrap()])
            .build()
            .unwrap_err()
            .to_string();
        assert_eq!(dup, "resources[1]: duplicate \"db1/app\"");
        let reserved = AccessRequest::builder(
            "pg_monitor".parse().unwrap(),
            AccessLevel::Admin,
            AccessDuration::MIN,
        )
        .resource("db1/app".parse().unwrap())
        .build()
        .unwrap_err()
        .to_string();
        assert!(
            reserved.starts_with("grantee: \"pg_monitor\" is reserved"),
            "{reserved}"
        );
        let bad_reason = base()
            .resource("db1/app".parse().unwrap())
            .reason("a\u{202E}b")
            .build();
        assert!(bad_reason.is_err());
        let long = base()
            .resource("db1/app".parse().unwrap())
            .reason("x".repeat(1025))
            .build();
        assert!(long.unwrap_err().to_string().contains("1025 characters"));
        let multi_line = base()
            .resource("db1/app".parse().unwrap())
            .reason("line 1\nline 2")
            .build();
        assert!(multi_line.is_ok());
    }

    #[test]
    fn request_ids() {
        assert!("JIRA-4711".parse::<RequestId>().is_ok());
        assert!("x".repeat(128).parse::<RequestId>().is_ok());
        assert!("x".repeat(129).parse::<RequestId>().is_err());
        assert!("a\tb".parse::<RequestId>().is_err());
        assert!(" a".parse::<RequestId>().is_err());
        assert!("a\u{200B}b".parse::<RequestId>().is_err());
        assert!("".parse::<RequestId>().is_err());
    }

    #[test]
    fn levels() {
        for level in AccessLevel::ALL {
            assert_eq!(level.to_string().parse::<AccessLevel>().unwrap(), *level);
        }
        assert!("readonly".parse::<AccessLevel>().is_err());
    }
}
