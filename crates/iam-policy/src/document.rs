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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A value that AWS accepts either as a single item or as an array; the written form is preserved.
///
/// `One` serialises as the bare value, `Many` as an array (even with zero or one element).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A bare value, e.g. `"Action": "rds-db:connect"`.
    One(T),
    /// An array, e.g. `"Action": ["rds-db:connect"]`.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// Iterates over the item(s), in written order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            OneOrMany::One(item) => std::slice::from_ref(item).iter(),
            OneOrMany::Many(items) => items.iter(),
        }
    }

    /// Number of items (1 for `One`).
    pub fn len(&self) -> usize {
        match self {
            OneOrMany::One(_) => 1,
            OneOrMany::Many(items) => items.len(),
        }
    }

    /// True only for an empty array.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when written as an array.
    pub fn is_many(&self) -> bool {
        matches!(self, OneOrMany::Many(_))
    }
}

impl<'a, T> IntoIterator for &'a OneOrMany<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl From<&str> for OneOrMany<String> {
    fn from(value: &str) -> Self {
        OneOrMany::One(value.to_owned())
    }
}

impl From<String> for OneOrMany<String> {
    fn from(value: String) -> Self {
        OneOrMany::One(value)
    }
}

impl<T> From<Vec<T>> for OneOrMany<T> {
    fn from(value: Vec<T>) -> Self {
        OneOrMany::Many(value)
    }
}

impl<const N: usize> From<[&str; N]> for OneOrMany<String> {
    fn from(value: [&str; N]) -> Self {
        OneOrMany::Many(value.iter().map(|s| (*s).to_owned()).collect())
    }
}

/// The policy language version (`"Version"`).
///
/// Only `2012-10-17` substitutes policy variables such as `${aws:username}`; under
/// `2008-10-17` (or without `Version`, which AWS treats as `2008-10-17`) they are literal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyVersion {
    /// `"2012-10-17"`, the current version.
    V2012_10_17,
    /// `"2008-10-17"`, the old version (no policy variables).
    V2008_10_17,
}

impl PolicyVersion {
    /// The version as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyVersion::V2012_10_17 => "2012-10-17",
            PolicyVersion::V2008_10_17 => "2008-10-17",
        }
    }
}

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyVersion {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2012-10-17" => Ok(PolicyVersion::V2012_10_17),
            "2008-10-17" => Ok(PolicyVersion::V2008_10_17),
            other => Err(PolicyError::UnsupportedVersion {
                value: other.to_owned(),
            }),
        }
    }
}

impl Serialize for PolicyVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `"Effect"` of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

impl Effect {
    /// The effect as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Effect {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `"Principal"` / `"NotPrincipal"`: the string `"*"` or a map such as
/// `{"AWS": ["arn:aws:iam::123456789012:root"], "Federated": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The string `"*"` (everyone, including anonymous callers).
    Any,
    /// Principal type (`AWS`, `Service`, `Federated`, `CanonicalUser`) → identifier(s), as written.
    Map(BTreeMap<String, OneOrMany<String>>),
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Principal::Any => serializer.serialize_str("*"),
            Principal::Map(map) => map.serialize(serializer),
        }
    }
}

/// Operator as written (e.g. `"StringLikeIfExists"`, `"ForAnyValue:StringEquals"`) → condition
/// key as written (e.g. `"saml:sub_type"`) → value(s).
pub type ConditionBlock = BTreeMap<String, BTreeMap<String, OneOrMany<ConditionValue>>>;

/// A condition value: JSON string, bool or number; serialises back in the same JSON kind.
///
/// Numbers keep their JSON form as `serde_json` reads it: integers up to 64 bits exactly,
/// others as `f64`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionValue {
    /// A JSON string, e.g. `"persistent"`.
    String(String),
    /// A JSON boolean, e.g. `true` for `Bool`/`Null` operators.
    Bool(bool),
    /// A JSON number, e.g. `3600` for `NumericLessThan`.
    Number(serde_json::Number),
}

impl ConditionValue {
    /// The value as AWS compares it: `"true"`, `"42"`, or the string itself.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            ConditionValue::String(s) => Cow::Borrowed(s),
            ConditionValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            ConditionValue::Number(n) => Cow::Owned(n.to_string()),
        }
    }
}

impl From<&str> for ConditionValue {
    fn from(value: &str) -> Self {
        ConditionValue::String(value.to_owned())
    }
}

impl From<String> for ConditionValue {
    fn from(value: String) -> Self {
        ConditionValue::String(value)
    }
}

impl From<bool> for ConditionValue {
    fn from(value: bool) -> Self {
        ConditionValue::Bool(value)
    }
}

/// One statement of a policy.
///
/// Build one with [`Statement::allow`] or [`Statement::deny`] and the `with_*` setters:
///
/// ```
/// use iam_policy::{Effect, Statement};
///
/// let st = Statement::allow()
///     .with_sid("Connect")
///     .with_action("rds-db:connect")
///     .with_resource(["arn:aws:rds-db:*:*:dbuser:*/alice"])
///     .with_condition("StringEquals", "saml:sub_type", "persistent");
/// assert_eq!(st.effect, Effect::Allow);
/// assert_eq!(st.sid.as_deref(), Some("Connect"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Statement {
    /// `"Sid"`: optional statement id.
    #[serde(rename = "Sid", skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `"Effect"`.
    #[serde(rename = "Effect")]
    pub effect: Effect,
    /// `"Principal"` (resource-based policies).
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// `"NotPrincipal"`.
    #[serde(rename = "NotPrincipal", skip_serializing_if = "Option::is_none")]
    pub not_principal: Option<Principal>,
    /// `"Action"`.
    #[serde(rename = "Action", skip_serializing_if = "Option::is_none")]
    pub action: Option<OneOrMany<String>>,
    /// `"NotAction"`.
    #[serde(rename = "NotAction", skip_serializing_if = "Option::is_none")]
    pub not_action: Option<OneOrMany<String>>,
    /// `"Resource"`.
    #[serde(rename = "Resource", skip_serializing_if = "Option::is_none")]
    pub resource: Option<OneOrMany<String>>,
    /// `"NotResource"`.
    #[serde(rename = "NotResource", skip_serializing_if = "Option::is_none")]
    pub not_resource: Option<OneOrMany<String>>,
    /// `"Condition"`.
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionBlock>,
}

impl Statement {
    /// A statement with the given effect and nothing else (add an action before using it:
    /// AWS requires exactly one of `Action`/`NotAction`).
    pub fn new(effect: Effect) -> Self {
        Statement {
            sid: None,
            effect,
            principal: None,
            not_principal: None,
            action: None,
            not_action: None,
            resource: None,
            not_resource: None,
            condition: None,
        }
    }

    /// `Statement::new(Effect::Allow)`.
    pub fn allow() -> Self {
        Statement::new(Effect::Allow)
    }

    /// `Statement::new(Effect::Deny)`.
    pub fn deny() -> Self {
        Statement::new(Effect::Deny)
    }

    /// Sets `Sid`.
    #[must_use]
    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Sets `Principal`.
    #[must_use]
    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Sets `NotPrincipal`.
    #[must_use]
    pub fn with_not_principal(mut self, principal: Principal) -> Self {
        self.not_principal = Some(principal);
        self
    }

    /// Sets `Action` (a `&str`/`String` gives a bare string, an array or `Vec` gives an array).
    #[must_use]
    pub fn with_action(mut self, action: impl Into<OneOrMany<String>>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Sets `NotAction`.
    #[must_use]
    pub fn with_not_action(mut self, action: impl Into<OneOrMany<String>>) -> Self {
        self.not_action = Some(action.into());
        self
    }

    /// Sets `Resource` (a `&str`/`String` gives a bare string, an array or `Vec` gives an array).
    #[must_use]
    pub fn with_resource(mut self, resource: impl Into<OneOrMany<String>>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets `NotResource`.
    #[must_use]
    pub fn with_not_resource(mut self, resource: impl Into<OneOrMany<String>>) -> Self {
        self.not_resource = Some(resource.into());
        self
    }

    /// Adds one condition `operator → key → value(s)`, replacing an earlier entry for the same
    /// operator and key.
    #[must_use]
    pub fn with_condition(
        mut self,
        operator: impl Into<String>,
        key: impl Into<String>,
        values: impl Into<OneOrMany<ConditionValue>>,
    ) -> Self {
        self.condition
            .get_or_insert_with(BTreeMap::new)
            .entry(operator.into())
            .or_default()
            .insert(key.into(), values.into());
        self
    }
}

impl From<&str> for OneOrMany<ConditionValue> {
    fn from(value: &str) -> Self {
        OneOrMany::One(ConditionValue::from(value))
    }
}

impl From<bool> for OneOrMany<ConditionValue> {
    fn from(value: bool) -> Self {
        OneOrMany::One(ConditionValue::Bool(value))
    }
}

impl From<ConditionValue> for OneOrMany<ConditionValue> {
    fn from(value: ConditionValue) -> Self {
        OneOrMany::One(value)
    }
}

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
        let mut map = Map::new();
        if let Some(version) = self.version {
            map.insert("Version".into(), Value::String(version.as_str().into()));
        }
        if let Some(id) = &self.id {
            map.insert("Id".into(), Value::String(id.clone()));
        }
        let statement = match &self.statement {
            OneOrMany::One(st) => statement_to_value(st),
            OneOrMany::Many(sts) => Value::Array(sts.iter().map(statement_to_value).collect()),
        };
        map.insert("Statement".into(), statement);
        Value::Object(map)
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

fn statement_to_value(st: &Statement) -> Value {
    fn list(v: &OneOrMany<String>) -> Value {
        match v {
            OneOrMany::One(s) => Value::String(s.clone()),
            OneOrMany::Many(items) => {
                Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
            }
        }
    }
    fn principal(p: &Principal) -> Value {
        match p {
            Principal::Any => Value::String("*".into()),
            Principal::Map(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), list(v))).collect())
            }
        }
    }
    fn cond_value(v: &ConditionValue) -> Value {
        match v {
            ConditionValue::String(s) => Value::String(s.clone()),
            ConditionValue::Bool(b) => Value::Bool(*b),
            ConditionValue::Number(n) => Value::Number(n.clone()),
        }
    }
    let mut map = Map::new();
    if let Some(sid) = &st.sid {
        map.insert("Sid".into(), Value::String(sid.clone()));
    }
    map.insert("Effect".into(), Value::String(st.effect.as_str().into()));
    let lists = [
        ("Action", &st.action),
        ("NotAction", &st.not_action),
        ("Resource", &st.resource),
        ("NotResource", &st.not_resource),
    ];
    for (key, value) in lists {
        if let Some(v) = value {
            map.insert(key.into(), list(v));
        }
    }
    if let Some(p) = &st.principal {
        map.insert("Principal".into(), principal(p));
    }
    if let Some(p) = &st.not_principal {
        map.insert("NotPrincipal".into(), principal(p));
    }
    if let Some(block) = &st.condition {
        let ops = block
            .iter()
            .map(|(op, keys)| {
                let keys = keys
                    .iter()
                    .map(|(k, vals)| {
                        let v = match vals {
                            OneOrMany::One(v) => cond_value(v),
                            OneOrMany::Many(vs) => {
                                Value::Array(vs.iter().map(cond_value).collect())
                            }
                        };
                        (k.clone(), v)
                    })
                    .collect();
                (op.clone(), Value::Object(keys))
            })
            .collect();
        map.insert("Condition".into(), Value::Object(ops));
    }
    Value::Object(map)
}

/// Errors from reading a policy document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is not JSON (or an object repeats a key).
    #[error("policy is not valid JSON: {source}; fix the JSON syntax")]
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

/// A JSON pointer for messages: the root pointer `""` reads as "the document".
fn at(pointer: &str) -> String {
    if pointer.is_empty() {
        "the document".to_owned()
    } else {
        format!("`{pointer}`")
    }
}

fn sid_suffix(sid: &Option<String>) -> String {
    match sid {
        Some(sid) => format!(" (Sid \"{sid}\")"),
        None => String::new(),
    }
}

/// Escapes one JSON-pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub(crate) fn pointer_token(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(pointer: &str, expected: &'static str, found: &Value) -> PolicyError {
    PolicyError::WrongType {
        pointer: pointer.to_owned(),
        expected,
        found: type_name(found),
    }
}

fn check_keys(
    map: &Map<String, Value>,
    pointer: &str,
    allowed: &[&str],
    allowed_text: &'static str,
) -> Result<(), PolicyError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(PolicyError::UnknownKey {
            pointer: pointer.to_owned(),
            key: key.clone(),
            allowed: allowed_text,
        }),
        None => Ok(()),
    }
}

fn parse_document(value: &Value) -> Result<PolicyDocument, PolicyError> {
    let Value::Object(map) = value else {
        return Err(wrong_type("", "an object", value));
    };
    check_keys(
        map,
        "",
        &["Version", "Id", "Statement"],
        "Version, Id, Statement",
    )?;
    let version = match map.get("Version") {
        None => None,
        Some(Value::String(s)) => Some(s.parse()?),
        Some(other) => return Err(wrong_type("/Version", "a string", other)),
    };
    let id = match map.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(wrong_type("/Id", "a string", other)),
    };
    let statement = match map.get("Statement") {
        None => {
            return Err(PolicyError::MissingField {
                pointer: String::new(),
                field: "Statement",
            });
        }
        Some(Value::Array(items)) => OneOrMany::Many(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_statement(item, &format!("/Statement/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Some(obj @ Value::Object(_)) => OneOrMany::One(parse_statement(obj, "/Statement")?),
        Some(other) => {
            return Err(wrong_type(
                "/Statement",
                "an object or an array of objects",
                other,
            ));
        }
    };
    Ok(PolicyDocument {
        version,
        id,
        statement,
    })
}

const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn parse_statement(value: &Value, pointer: &str) -> Result<Statement, PolicyError> {
    let Value::Object(map) = value else {
        return Err(wrong_type(pointer, "an object", value));
    };
    check_keys(
        map,
        pointer,
        STATEMENT_KEYS,
        "Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition",
    )?;
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(wrong_type(&format!("{pointer}/Sid"), "a string", other)),
    };
    let effect = match map.get("Effect") {
        None => {
            return Err(PolicyError::MissingField {
                pointer: pointer.to_owned(),
                field: "Effect",
            });
        }
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(Value::String(s)) => {
            return Err(PolicyError::InvalidEffect {
                pointer: format!("{pointer}/Effect"),
                value: s.clone(),
            });
        }
        Some(other) => return Err(wrong_type(&format!("{pointer}/Effect"), "a string", other)),
    };
    let list = |key: &str| -> Result<Option<OneOrMany<String>>, PolicyError> {
        map.get(key)
            .map(|v| parse_string_list(v, &format!("{pointer}/{key}")))
            .transpose()
    };
    let principal = |key: &str| -> Result<Option<Principal>, PolicyError> {
        map.get(key)
            .map(|v| parse_principal(v, &format!("{pointer}/{key}")))
            .transpose()
    };
    let statement = Statement {
        effect,
        principal: principal("Principal")?,
        not_principal: principal("NotPrincipal")?,
        action: list("Action")?,
        not_action: list("NotAction")?,
        resource: list("Resource")?,
        not_resource: list("NotResource")?,
        condition: map
            .get("Condition")
            .map(|v| parse_condition(v, &format!("{pointer}/Condition")))
            .transpose()?,
        sid,
    };
    let pairs = [
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ];
    for (first, second) in pairs {
        if map.contains_key(first) && map.contains_key(second) {
            return Err(PolicyError::ConflictingElements {
                pointer: pointer.to_owned(),
                sid: statement.sid,
                first,
                second,
            });
        }
    }
    if statement.action.is_none() && statement.not_action.is_none() {
        return Err(PolicyError::MissingAction {
            pointer: pointer.to_owned(),
            sid: statement.sid,
        });
    }
    Ok(statement)
}

fn parse_string_list(value: &Value, pointer: &str) -> Result<OneOrMany<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(OneOrMany::One(s.clone())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type(&format!("{pointer}/{i}"), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(OneOrMany::Many),
        other => Err(wrong_type(
            pointer,
            "a string or an array of strings",
            other,
        )),
    }
}

fn parse_principal(value: &Value, pointer: &str) -> Result<Principal, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::String(s) => Err(PolicyError::InvalidPrincipal {
            pointer: pointer.to_owned(),
            value: s.clone(),
        }),
        Value::Object(map) => map
            .iter()
            .map(|(kind, ids)| {
                let ids = parse_string_list(ids, &format!("{pointer}/{}", pointer_token(kind)))?;
                Ok((kind.clone(), ids))
            })
            .collect::<Result<_, _>>()
            .map(Principal::Map),
        other => Err(wrong_type(pointer, "\"*\" or an object", other)),
    }
}

fn parse_condition(value: &Value, pointer: &str) -> Result<ConditionBlock, PolicyError> {
    let Value::Object(ops) = value else {
        return Err(wrong_type(pointer, "an object", value));
    };
    let mut block = ConditionBlock::new();
    for (op, keys) in ops {
        let op_pointer = format!("{pointer}/{}", pointer_token(op));
        let Value::Object(keys) = keys else {
            return Err(wrong_type(&op_pointer, "an object", keys));
        };
        let mut parsed = BTreeMap::new();
        for (key, values) in keys {
            let key_pointer = format!("{op_pointer}/{}", pointer_token(key));
            let values = match values {
                Value::Array(items) => OneOrMany::Many(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| parse_condition_value(v, &format!("{key_pointer}/{i}")))
                        .collect::<Result<_, _>>()?,
                ),
                single => OneOrMany::One(parse_condition_value(single, &key_pointer)?),
            };
            parsed.insert(key.clone(), values);
        }
        block.insert(op.clone(), parsed);
    }
    Ok(block)
}

fn parse_condition_value(value: &Value, pointer: &str) -> Result<ConditionValue, PolicyError> {
    match value {
        Value::String(s) => Ok(ConditionValue::String(s.clone())),
        Value::Bool(b) => Ok(ConditionValue::Bool(*b)),
        Value::Number(n) => Ok(ConditionValue::Number(n.clone())),
        other => Err(wrong_type(
            pointer,
            "a string, boolean or number (or an array of them)",
            other,
        )),
    }
}

/// A `serde_json::Value` whose objects may not repeat a key (serde_json keeps the last one
/// silently, which could hide a second `"Effect"`).
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_none<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<StrictValue, D::Error> {
        StrictValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(StrictValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictValue, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{key}` in an object"
                )));
            }
            map.insert(key, value);
        }
        Ok(StrictValue(Value::Object(map)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_many_iter_len() {
        let one: OneOrMany<String> = "a".into();
        let many: OneOrMany<String> = ["a", "b"].into();
        let empty: OneOrMany<String> = Vec::<String>::new().into();
        assert_eq!(one.len(), 1);
        assert_eq!(
            many.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(empty.is_empty());
        assert!(!one.is_many());
    }

    #[test]
    fn pointer_token_escapes() {
        assert_eq!(
            pointer_token("aws:PrincipalTag/a~b"),
            "aws:PrincipalTag~1a~0b"
        );
        assert_eq!(pointer_token("plain"), "plain");
    }

    #[test]
    fn duplicate_key_is_rejected() {
        let err = PolicyDocument::from_json(
            r#"{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*"}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("duplicate key `Effect`"), "{err}");
    }

    #[test]
    fn to_value_equals_serde_output() {
        let doc = PolicyDocument::new(vec![
            Statement::allow()
                .with_sid("A")
                .with_action("rds-db:connect")
                .with_resource(["x", "y"])
                .with_principal(Principal::Any)
                .with_condition("Bool", "aws:SecureTransport", true),
        ])
        .with_id("id");
        let via_serde: Value = serde_json::from_str(&doc.to_json()).unwrap();
        assert_eq!(via_serde, doc.to_value());
    }

    #[test]
    fn condition_value_as_text() {
        assert_eq!(ConditionValue::Bool(true).as_text(), "true");
        assert_eq!(ConditionValue::Number(42.into()).as_text(), "42");
        assert_eq!(ConditionValue::from("x").as_text(), "x");
    }
}
