//! RFC 9457 problem documents: every refusal and failure of the access API is one
//! (`application/problem+json`), naming the field or value at fault.

use hyper::StatusCode;
use rds_pg_access::AccessError;
use rds_pg_access::pg_auth::AuthError;
use rds_pg_access::pg_grants::GrantsError;
use serde::Serialize;

/// The media type of a [`Problem`].
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document (RFC 9457): `type` is a stable URI per kind of problem
/// (`urn:rdspg:problem:<kind>`), `title` its short summary, `detail` this occurrence.
///
/// ```
/// use rds_pg_access_service::api::Problem;
/// let p = Problem::bad_request("duration", "\"forever\" is not a duration");
/// let json = serde_json::to_value(&p)?;
/// assert_eq!(json["status"], 400);
/// assert_eq!(json["field"], "duration");
/// assert_eq!(json["type"], "urn:rdspg:problem:invalid-field");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct Problem {
    /// The kind of problem (`invalid-field`, `not-allowed`, ...): `type` is its URN.
    #[serde(rename = "type", serialize_with = "urn")]
    #[schemars(with = "String")]
    pub kind: &'static str,
    /// Its summary.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened this time.
    pub detail: String,
    /// The body field (or header, or path part) at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The operation's report when it ran and failed on some instance (the same document a
    /// success returns, without any credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<serde_json::Value>>,
    /// For 405: the methods the path takes (sent as `Allow`).
    #[serde(skip)]
    pub allow: Option<&'static str>,
    /// For 503 when busy: seconds to wait (sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

fn urn<S: serde::Serializer>(kind: &&'static str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("urn:rdspg:problem:{kind}"))
}

impl Problem {
    /// A problem of `status` and kind `kind` (the last part of its `type` URI).
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            report: None,
            allow: None,
            retry_after: None,
        }
    }

    /// 400 naming `field`.
    pub fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-field", detail).at(field)
    }

    /// Names the field at fault.
    #[must_use]
    pub fn at(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    /// Attaches the operation's report.
    #[must_use]
    pub fn with_report(mut self, report: Option<serde_json::Value>) -> Self {
        self.report = report.map(Box::new);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The problem of an error of the library: its status ([`classify`]) and its message
    /// with causes.
    pub fn of(error: &AccessError) -> Self {
        let (status, kind, field) = classify(error);
        let mut problem = Self::new(status, kind, rds_pg_access::error_chain(error));
        problem.field = field.map(str::to_owned);
        problem
    }

    /// The problem of an operation that failed on the instances of `failures`
    /// ([`classify_failures`]), with `detail`.
    pub fn of_failures<'a>(
        failures: impl Iterator<Item = &'a AccessError>,
        detail: impl Into<String>,
    ) -> Self {
        let (status, kind, field) = classify_failures(failures);
        let mut problem = Self::new(status, kind, detail);
        problem.field = field.map(str::to_owned);
        problem
    }
}

/// The HTTP status, problem kind and body field of a library error: 400 for a request that
/// does not validate, 403 when no access flow allows it, 404 for a grant that is not held, 409
/// for a conflict with the user's state (a request id reused for something else, a password
/// in use, a revocation under way, a role of that name the connector did not make), 503 for
/// everything the database, AWS or the network answered (retry later; what was applied is in
/// the message).
pub fn classify(error: &AccessError) -> (StatusCode, &'static str, Option<&'static str>) {
    match error {
        AccessError::Model(_) => (StatusCode::BAD_REQUEST, "invalid-request", None),
        AccessError::UnknownInstance { .. } => (
            StatusCode::BAD_REQUEST,
            "unknown-instance",
            Some("resources"),
        ),
        AccessError::NotAllowed(_) | AccessError::ExtendNotAllowed { .. } => {
            (StatusCode::FORBIDDEN, "not-allowed", None)
        }
        AccessError::GrantNotHeld { .. } => {
            (StatusCode::NOT_FOUND, "grant-not-held", Some("request_id"))
        }
        AccessError::PasswordInUse { .. } | AccessError::RevocationStarted { .. } => {
            (StatusCode::CONFLICT, "user-state", Some("user"))
        }
        AccessError::Grants(e) => match e {
            GrantsError::RequestConflict { .. }
            | GrantsError::RequestOfAnother { .. }
            | GrantsError::RequestExpired { .. } => {
                (StatusCode::CONFLICT, "request-conflict", Some("request_id"))
            }
            GrantsError::TooManyGrants { .. } => (StatusCode::CONFLICT, "user-state", Some("user")),
            GrantsError::NotManaged { .. } => {
                (StatusCode::CONFLICT, "role-not-managed", Some("user"))
            }
            GrantsError::RoleNotFound { .. } => {
                (StatusCode::NOT_FOUND, "no-managed-user", Some("user"))
            }
            GrantsError::ReservedRoleName { .. } => {
                (StatusCode::BAD_REQUEST, "invalid-request", Some("user"))
            }
            GrantsError::ReasonTooLong { .. } => {
                (StatusCode::BAD_REQUEST, "invalid-request", Some("reason"))
            }
            GrantsError::InvalidGrant { .. } | GrantsError::ObjectNotFound { .. } => (
                StatusCode::BAD_REQUEST,
                "invalid-request",
                Some("resources"),
            ),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "instance-failed", None),
        },
        AccessError::Auth(AuthError::InvalidConfig { .. }) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "connector-settings",
            None,
        ),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "instance-failed", None),
    }
}

/// The classification of an operation that failed on some instances: the first refusal a
/// retry cannot fix (4xx) when there is one, else 503. A grant undone because another
/// instance failed says nothing of its own.
pub fn classify_failures<'a>(
    failures: impl Iterator<Item = &'a AccessError>,
) -> (StatusCode, &'static str, Option<&'static str>) {
    let mut worst = None;
    for error in failures {
        if matches!(error, AccessError::GrantUndone { .. }) {
            continue;
        }
        let classified = classify(error);
        if classified.0.is_client_error() {
            return classified;
        }
        worst.get_or_insert(classified);
    }
    worst.unwrap_or((StatusCode::SERVICE_UNAVAILABLE, "instance-failed", None))
}
