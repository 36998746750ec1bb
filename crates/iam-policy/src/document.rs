//! The IAM policy document model: AWS's JSON grammar, read and written faithfully.
//!
//! [`PolicyDocument::from_json`] accepts the grammar of the
//! [IAM JSON policy reference](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html):
//! `Version`, `Id`, `Statement` as one object or an array, and per statement `Sid`, `Effect`,
//! `Principal`/`NotPrincipal`, `Action`/`NotAction`, `Resource`/`NotResource` (a string or an
//! array) and `Condition` (operator → key → value or values). The written form is preserved:
//! a single string stays a string, an array stays an array (even with one element), and a
//! condition value keeps its JSON kind (string, boolean or number), so writing a parsed
//! document back gives the same JSON value.
//!
//! Parsing is strict about structure and lenient about meaning:
//!
//! * unknown keys, wrong JSON types, duplicate object keys, an unknown `Version` or `Effect`,
//!   a statement without `Action`/`NotAction` or with both of a pair
//!   (`Action`+`NotAction`, `Resource`+`NotResource`, `Principal`+`NotPrincipal`) are
//!   [`PolicyError`]s naming the JSON pointer (and the `Sid`, when the statement has one);
//! * semantic problems (empty arrays, malformed ARNs, wildcards, odd `Sid`s...) parse fine and
//!   are reported by [`crate::lint`](mod@crate::lint).
//!
//! ```
//! use iam_policy::{Effect, OneOrMany, PolicyDocument};
//!
//! let doc = PolicyDocument::from_json(
//!     r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"rds-db:connect",
//!         "Resource":["arn:aws:rds-db:*:*:dbuser:*/alice"]}}"#,
//! )?;
//! let st = doc.statements().next().expect("one statement");
//! assert_eq!(st.effect, Effect::Allow);
//! assert!(matches!(st.action, Some(OneOrMany::One(_))));
//! assert!(matches!(st.resource, Some(OneOrMany::Many(_))));
//! // Writing it back keeps the shape: an object statement, a string action, an array resource.
//! let again = PolicyDocument::from_json(&doc.to_json_pretty())?;
//! assert_eq!(again, doc);
//! # Ok::<(), iam_policy::PolicyError>(())
//! ```

mod elements;
mod error;
mod parse;
mod pointer;
mod serialize;
mod statement;
mod strict_json;

use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use elements::{ConditionBlock, ConditionValue, Effect, OneOrMany, PolicyVersion, Principal};
pub use error::PolicyError;
pub(crate) use pointer::pointer_token;
pub use statement::Statement;

use parse::{parse_document, parse_statement};
use strict_json::StrictValue;

/// An IAM policy document.
///
/// Serialises with AWS's key names in the conventional order (`Version`, `Id`, `Statement`).
/// Deserialising (via serde or [`PolicyDocument::from_json`]) applies the same strict grammar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PolicyDocument {
    /// `"Version"`; `None` when absent (AWS then uses `2008-10-17`).
    #[serde(rename = "Version", skip_serializing_if = "Option::is_none")]
    pub version: Option<PolicyVersion>,
    /// `"Id"`.
    #[serde(rename = "Id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `"Statement"`: one object or an array, as written.
    #[serde(rename = "Statement")]
    pub statement: OneOrMany<Statement>,
}

impl PolicyDocument {
    /// A `2012-10-17` document whose `Statement` is an array of `statements`.
    pub fn new(statements: Vec<Statement>) -> Self {
        PolicyDocument {
            version: Some(PolicyVersion::V2012_10_17),
            id: None,
            statement: OneOrMany::Many(statements),
        }
    }

    /// Sets `Version` (`None` removes it).
    #[must_use]
    pub fn with_version(mut self, version: Option<PolicyVersion>) -> Self {
        self.version = version;
        self
    }

    /// Sets `Id`.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Parses policy JSON text. Unknown keys, duplicate keys and wrong JSON types are errors.
    ///
    /// # Errors
    /// [`PolicyError::Json`] for malformed JSON (or a duplicate key); the other variants for
    /// grammar violations, each naming the JSON pointer of the offending element.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let StrictValue(value) =
            serde_json::from_str(text).map_err(|source| PolicyError::Json { source })?;
        Self::from_value(&value)
    }

    /// Parses an already decoded JSON value (duplicate keys can no longer be detected here).
    ///
    /// # Errors
    /// As [`PolicyDocument::from_json`], except [`PolicyError::Json`].
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        parse_document(value)
    }

    /// The document as a JSON value.
    pub fn to_value(&self) -> Value {
        serialize::document_to_value(self)
    }

    /// Pretty-printed JSON (two-space indentation), keys in AWS's conventional order.
    pub fn to_json_pretty(&self) -> String {
        // Serialising this model cannot fail (all map keys are strings and no Serialize impl
        // here returns an error); the fallback renders the same document without key order.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| format!("{:#}", self.to_value()))
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| self.to_value().to_string())
    }

    /// The statements, in written order.
    pub fn statements(&self) -> std::slice::Iter<'_, Statement> {
        self.statement.iter()
    }

    /// The statements with the JSON pointer of each one into this document: `/Statement/N`
    /// when `Statement` is an array, `/Statement` when it is a single object.
    pub fn statements_with_pointers(&self) -> impl Iterator<Item = (String, &Statement)> {
        let many = self.statement.is_many();
        self.statements().enumerate().map(move |(i, st)| {
            let pointer = if many {
                format!("/Statement/{i}")
            } else {
                "/Statement".to_owned()
            };
            (pointer, st)
        })
    }
}

impl FromStr for PolicyDocument {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_json(s)
    }
}

impl<'de> Deserialize<'de> for PolicyDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let StrictValue(value) = StrictValue::deserialize(deserializer)?;
        parse_document(&value).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Statement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let StrictValue(value) = StrictValue::deserialize(deserializer)?;
        parse_statement(&value, "").map_err(de::Error::custom)
    }
}
