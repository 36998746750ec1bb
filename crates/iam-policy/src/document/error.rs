//! [`PolicyError`]: what is wrong with a policy's JSON or grammar, and where.

use super::pointer::at;

/// Errors from reading a policy document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is not JSON (or an object repeats a key). The source, the JSON parser's
    /// error, says what and where (line and column).
    #[error("policy is not valid JSON (or an object repeats a key); fix the JSON syntax")]
    Json {
        /// The JSON parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// An element has the wrong JSON type. (In every variant, `pointer` is an RFC 6901 JSON
    /// pointer into the document; `""` is the document itself.)
    #[error("{} must be {expected}, found {found}", at(.pointer))]
    WrongType {
        /// JSON pointer of the element.
        pointer: String,
        /// What the grammar allows there.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// An object has a key the policy grammar does not know (keys are case-sensitive).
    #[error("unknown key `{key}` in {}; allowed keys are {allowed}", at(.pointer))]
    UnknownKey {
        /// JSON pointer of the object holding the key.
        pointer: String,
        /// The unknown key.
        key: String,
        /// The keys allowed there.
        allowed: &'static str,
    },
    /// A required element is missing.
    #[error("{} is missing the required `{field}`", at(.pointer))]
    MissingField {
        /// JSON pointer of the object that lacks the element.
        pointer: String,
        /// The missing key.
        field: &'static str,
    },
    /// `Version` is neither `2012-10-17` nor `2008-10-17`.
    #[error("unsupported policy Version `{value}`; use \"2012-10-17\"")]
    UnsupportedVersion {
        /// The version as written.
        value: String,
    },
    /// `Effect` is neither `Allow` nor `Deny` (case-sensitive).
    #[error("invalid Effect `{value}` at `{pointer}`; use \"Allow\" or \"Deny\"")]
    InvalidEffect {
        /// JSON pointer of the `Effect`.
        pointer: String,
        /// The effect as written.
        value: String,
    },
    /// `Principal` is a string other than `"*"`.
    #[error(
        "invalid Principal `{value}` at `{pointer}`; use \"*\" or an object such as {{\"AWS\": \"arn:...\"}}"
    )]
    InvalidPrincipal {
        /// JSON pointer of the principal.
        pointer: String,
        /// The string as written.
        value: String,
    },
    /// A statement has both elements of an exclusive pair, e.g. `Action` and `NotAction`.
    #[error("statement {}{} has both `{first}` and `{second}`; keep only one", at(.pointer), sid_suffix(.sid))]
    ConflictingElements {
        /// JSON pointer of the statement.
        pointer: String,
        /// The statement's `Sid`, if any.
        sid: Option<String>,
        /// The first element of the pair.
        first: &'static str,
        /// The second element of the pair.
        second: &'static str,
    },
    /// A statement has neither `Action` nor `NotAction`.
    #[error("statement {}{} has neither `Action` nor `NotAction`; add one", at(.pointer), sid_suffix(.sid))]
    MissingAction {
        /// JSON pointer of the statement.
        pointer: String,
        /// The statement's `Sid`, if any.
        sid: Option<String>,
    },
}

fn sid_suffix(sid: &Option<String>) -> String {
    match sid {
        Some(sid) => format!(" (Sid \"{sid}\")"),
        None => String::new(),
    }
}
