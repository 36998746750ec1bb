//! A format-neutral value tree (from TOML, JSON or any serde format) and a reader that
//! tracks key paths, so that every settings error names its key.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::ModelError;

/// The key under which the `toml` crate hands over a date-time through serde.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Node>),
    Table(Vec<(String, Node)>),
    Datetime(String),
}

impl Node {
    /// What this is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Bool(b) => format!("boolean {b}"),
            Self::Int(i) => format!("integer {i}"),
            Self::Float(x) => format!("number {x}"),
            Self::Str(s) => format!("text {}", crate::error::quote(s)),
            Self::Array(_) => "an array".to_owned(),
            Self::Table(_) => "a table".to_owned(),
            Self::Datetime(d) => format!("date-time {d}"),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a settings value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        // Seen keys in a hash set: a linear scan of `entries` per key made a 1 MiB file of
        // distinct keys take a minute (quadratic).
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == TOML_DATETIME_KEY {
                let text: String = map.next_value()?;
                return Ok(Node::Datetime(text));
            }
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "duplicate key {}",
                    crate::error::quote(&key)
                )));
            }
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Node::Table(entries))
    }
}

/// Joins a key to a path, quoting keys that are not TOML bare keys (and long keys, which
/// quoting shortens).
pub(crate) fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key.len() <= crate::error::MAX_QUOTED_CHARS
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare {
        key.to_owned()
    } else {
        crate::error::quote(key)
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &Node) -> ModelError {
    ModelError::WrongType {
        key: if key.is_empty() {
            "(document)".to_owned()
        } else {
            key.to_owned()
        },
        expected,
        found: found.describe(),
    }
}

/// A table being read, with its key path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table<'a> {
    path: &'a str,
    entries: &'a [(String, Node)],
}

impl<'a> Table<'a> {
    pub(crate) fn new(node: &'a Node, path: &'a str) -> Result<Self, ModelError> {
        match node {
            Node::Table(entries) => Ok(Self { path, entries }),
            other => Err(wrong_type(path, "a table", other)),
        }
    }

    pub(crate) fn path(&self) -> &'a str {
        self.path
    }

    pub(crate) fn entries(&self) -> &'a [(String, Node)] {
        self.entries
    }

    pub(crate) fn key_path(&self, key: &str) -> String {
        join(self.path, key)
    }

    /// Refuses keys outside `allowed`.
    pub(crate) fn check_keys(&self, allowed: &[&str]) -> Result<(), ModelError> {
        match self
            .entries
            .iter()
            .find(|(key, _)| !allowed.contains(&key.as_str()))
        {
            Some((key, _)) => Err(ModelError::UnknownKey {
                key: self.key_path(key),
                expected: allowed.join(", "),
            }),
            None => Ok(()),
        }
    }

    /// The value of `key`; JSON `null` counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !matches!(v, Node::Null))
    }

    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Str(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(&self.key_path(key), "text", other)),
        }
    }

    /// Reads a text value and parses it; the error gets this key's path.
    pub(crate) fn parse<T: FromStr<Err = ModelError>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, ModelError> {
        self.str(key)?
            .map(|text| text.parse::<T>().map_err(|e| e.at(&self.key_path(key))))
            .transpose()
    }

    pub(crate) fn require<T: FromStr<Err = ModelError>>(
        &self,
        key: &str,
        hint: &str,
    ) -> Result<T, ModelError> {
        self.parse(key)?
            .ok_or_else(|| ModelError::missing(&self.key_path(key), hint))
    }

    pub(crate) fn int(&self, key: &str) -> Result<Option<i128>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Int(i)) => Ok(Some(*i)),
            Some(other) => Err(wrong_type(&self.key_path(key), "an integer", other)),
        }
    }

    pub(crate) fn table(&self, key: &str, path: &'a str) -> Result<Option<Table<'a>>, ModelError> {
        self.get(key).map(|node| Table::new(node, path)).transpose()
    }

    pub(crate) fn array(&self, key: &str) -> Result<Option<&'a [Node]>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Array(items)) => Ok(Some(items)),
            Some(other) => Err(wrong_type(&self.key_path(key), "an array", other)),
        }
    }
}

/// Parses an array element (or table value) that must be text.
pub(crate) fn parse_item<T: FromStr<Err = ModelError>>(
    node: &Node,
    path: &str,
) -> Result<T, ModelError> {
    match node {
        Node::Str(s) => s.parse::<T>().map_err(|e| e.at(path)),
        other => Err(wrong_type(path, "text", other)),
    }
}

/// Parses TOML text into a tree, with a clean syntax error.
pub(crate) fn from_toml_str(text: &str) -> Result<Node, ModelError> {
    toml::from_str::<Node>(text).map_err(|error| {
        let (line, column) = error
            .span()
            .map_or((0, 0), |span| line_column(text, span.start));
        let mut message = error.message().trim().to_owned();
        // toml's own message may not say what it points at (e.g. "duplicate key"): add the
        // text under its span when that is short.
        if let Some(culprit) = error
            .span()
            .and_then(|span| text.get(span))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.chars().count() <= 40 && !t.contains('\n'))
        {
            message = format!("{message} (at {culprit:?})");
        }
        ModelError::Syntax {
            format: "TOML",
            line,
            column,
            message,
            source: Box::new(error),
        }
    })
}

/// Parses JSON text into a tree, with a clean syntax error.
pub(crate) fn from_json_str(text: &str) -> Result<Node, ModelError> {
    serde_json::from_str::<Node>(text).map_err(|error| {
        let full = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        ModelError::Syntax {
            format: "JSON",
            line: error.line(),
            column: error.column(),
            message,
            source: Box::new(error),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_give_the_same_tree() {
        let toml = from_toml_str("a = 1\nb = \"x\"\n[c]\nd = [true]\n").unwrap();
        let json = from_json_str(r#"{"a": 1, "b": "x", "c": {"d": [true]}}"#).unwrap();
        assert_eq!(toml, json);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = from_toml_str("a = 1\na = 2\n").unwrap_err();
        let ModelError::Syntax { message, .. } = &err else {
            panic!("{err}")
        };
        assert!(message.contains("duplicate key (at \"a\")"), "{message}");
        let chain = crate::error_chain(&err);
        assert!(chain.contains("duplicate key"), "{chain}");
        assert!(!err.to_string().contains("duplicate key"), "{err}");
        let err = from_toml_str("a = 1\nb = \n").unwrap_err();
        let ModelError::Syntax { line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*line, 2);
        assert!(!err.to_string().contains('\n'), "{err}");
        let err = from_json_str("{\"a\": 1, \"a\": 2}").unwrap_err();
        let err = crate::error_chain(&err);
        assert!(err.starts_with("JSON syntax error at line 1"), "{err}");
        assert!(err.contains("duplicate key \"a\""), "{err}");
    }

    #[test]
    fn toml_datetime_is_reported_as_such() {
        let node = from_toml_str("a = 1979-05-27T07:32:00Z").unwrap();
        let table = Table::new(&node, "").unwrap();
        let err = table.str("a").unwrap_err().to_string();
        assert_eq!(
            err,
            "a: expected text, found date-time 1979-05-27T07:32:00Z"
        );
    }

    #[test]
    fn paths_quote_odd_keys() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("x", "a.b"), "x.\"a.b\"");
    }
}
