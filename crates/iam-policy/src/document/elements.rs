//! The value types of policy elements: [`OneOrMany`], [`PolicyVersion`], [`Effect`],
//! [`Principal`], [`ConditionBlock`] and [`ConditionValue`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::PolicyError;

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
    fn condition_value_as_text() {
        assert_eq!(ConditionValue::Bool(true).as_text(), "true");
        assert_eq!(ConditionValue::Number(42.into()).as_text(), "42");
        assert_eq!(ConditionValue::from("x").as_text(), "x");
    }
}
