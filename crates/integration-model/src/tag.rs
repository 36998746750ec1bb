//! AWS tag filters that select a fleet of instances.

use std::fmt;
use std::str::FromStr;

use crate::ModelError;
use crate::error::quote;
use crate::resource::reason_of;
use crate::segment::{read_segment, write_segment};
use crate::text::{serde_via_str, string_newtype};

/// Characters RDS allows in tag keys and values besides letters, digits and spaces
/// (RDS `Tag` API reference: `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`).
fn tag_char_ok(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

fn check_tag_text(key: &str, text: &str, max: usize) -> Result<(), ModelError> {
    if let Some(bad) = text.chars().find(|c| !tag_char_ok(*c)) {
        return Err(ModelError::invalid(
            key,
            text,
            format!("contains {bad:?}; AWS tags hold letters, digits, spaces and _ . : / = + - @"),
        ));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(ModelError::invalid(
            key,
            text,
            format!("is {chars} characters long; the limit is {max}"),
        ));
    }
    Ok(())
}

/// An AWS tag key: 1 to 128 Unicode characters (letters, digits, spaces, `_ . : / = + - @`).
///
/// The `aws:` prefix is reserved for AWS's own tags, but filtering on it is fine, so it is
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagKey(String);

impl TagKey {
    /// The longest key, in characters.
    pub const MAX_CHARS: usize = 128;
}

impl FromStr for TagKey {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(ModelError::invalid(
                "tag key",
                text,
                "is empty; tag keys have 1 to 128 characters",
            ));
        }
        check_tag_text("tag key", text, Self::MAX_CHARS)?;
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(TagKey);

/// An AWS tag value: 0 to 256 Unicode characters (letters, digits, spaces, `_ . : / = + - @`).
/// The empty value is a real value, different from "any value".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagValue(String);

impl TagValue {
    /// The longest value, in characters.
    pub const MAX_CHARS: usize = 256;
}

impl FromStr for TagValue {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "*" {
            return Err(ModelError::invalid(
                "tag value",
                text,
                "is not a wildcard here: to match any value, list the key in instance.tag_keys \
                 (or write KEY alone on the command line)",
            ));
        }
        check_tag_text("tag value", text, Self::MAX_CHARS)?;
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(TagValue);

/// One condition on an instance's tags: the key has a given value, or the key is present.
///
/// Text (command-line) form: `KEY=VALUE`, or `KEY` alone for "tag present". The text is
/// split at the first `=`; a key that itself contains `=` or `"` is written in double
/// quotes with `""` for an embedded quote (`"a=b"=c`). In settings, see
/// [`Integration`](crate::Integration): `tags = { team = "orders" }` and
/// `tag_keys = ["team"]`.
///
/// ```
/// use integration_model::TagFilter;
/// let f: TagFilter = "team=orders".parse()?;
/// assert_eq!(f.key().as_str(), "team");
/// assert_eq!(f.value().map(|v| v.as_str()), Some("orders"));
/// let present: TagFilter = "backup".parse()?;
/// assert!(present.value().is_none());
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagFilter {
    key: TagKey,
    value: Option<TagValue>,
}

impl TagFilter {
    /// Matches instances whose tag `key` has exactly `value`.
    pub fn equals(key: TagKey, value: TagValue) -> Self {
        Self {
            key,
            value: Some(value),
        }
    }

    /// Matches instances that have the tag `key`, with any value.
    pub fn present(key: TagKey) -> Self {
        Self { key, value: None }
    }

    /// The tag key.
    pub fn key(&self) -> &TagKey {
        &self.key
    }

    /// The wanted value; `None` means any value.
    pub fn value(&self) -> Option<&TagValue> {
        self.value.as_ref()
    }
}

impl fmt::Display for TagFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_segment(f, self.key.as_str(), '=')?;
        if let Some(value) = &self.value {
            write!(f, "={value}")?;
        }
        Ok(())
    }
}

impl FromStr for TagFilter {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "tag filter";
        let (key, value) =
            read_segment(text, '=').map_err(|reason| ModelError::invalid(KEY, text, reason))?;
        let key = key.parse::<TagKey>().map_err(|e| {
            ModelError::invalid(
                KEY,
                text,
                format!("has a bad key {}: {}", quote(&key), reason_of(e)),
            )
        })?;
        let value = value
            .map(|v| {
                v.parse::<TagValue>().map_err(|e| {
                    ModelError::invalid(
                        KEY,
                        text,
                        format!("has a bad value {}: {}", quote(v), reason_of(e)),
                    )
                })
            })
            .transpose()?;
        Ok(Self { key, value })
    }
}

serde_via_str!(TagFilter);

/// A non-empty set of [`TagFilter`]s that must all match (AND), one per key, sorted by key.
///
/// Serialises as an array of the filters' text forms (`["team=data", "env"]`); unlike
/// `Display`, which joins them for messages, that form is lossless.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct TagFilters(Vec<TagFilter>);

impl TagFilters {
    /// Builds the set; an empty set or two filters on the same key are errors.
    pub fn new(filters: impl IntoIterator<Item = TagFilter>) -> Result<Self, ModelError> {
        const KEY: &str = "instance.tags";
        let mut filters: Vec<TagFilter> = filters.into_iter().collect();
        if filters.is_empty() {
            return Err(ModelError::invalid_bare(
                KEY,
                "{}",
                "selects nothing; give at least one tag",
            ));
        }
        filters.sort();
        if let Some(pair) = filters
            .windows(2)
            .find(|pair| pair.first().map(|f| &f.key) == pair.get(1).map(|f| &f.key))
        {
            let key = pair.first().map(|f| f.key.as_str()).unwrap_or_default();
            return Err(ModelError::duplicate(KEY, key));
        }
        Ok(Self(filters))
    }

    /// The filters, sorted by key.
    pub fn iter(&self) -> std::slice::Iter<'_, TagFilter> {
        self.0.iter()
    }

    /// How many filters (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: the set is never empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an instance with these tags matches every filter.
    pub fn matches<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)> + Clone) -> bool {
        self.0.iter().all(|filter| {
            tags.clone().into_iter().any(|(key, value)| {
                key == filter.key.as_str()
                    && filter
                        .value
                        .as_ref()
                        .is_none_or(|want| want.as_str() == value)
            })
        })
    }
}

impl<'a> IntoIterator for &'a TagFilters {
    type Item = &'a TagFilter;
    type IntoIter = std::slice::Iter<'a, TagFilter>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for TagFilters {
    /// Comma separated filters; a comma inside a value makes this form lossy, so it is for
    /// messages, not for parsing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, filter) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{filter}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_text_forms() {
        let cases = [
            ("team=orders", "team", Some("orders")),
            ("team", "team", None),
            ("team=", "team", Some("")),
            ("a=b=c", "a", Some("b=c")),
            ("\"a=b\"=c", "a=b", Some("c")),
            (
                "aws:cloudformation:stack-name=x",
                "aws:cloudformation:stack-name",
                Some("x"),
            ),
        ];
        for (text, key, value) in cases {
            let f: TagFilter = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(f.key().as_str(), key, "{text}");
            assert_eq!(f.value().map(TagValue::as_str), value, "{text}");
            assert_eq!(f.to_string().parse::<TagFilter>().unwrap(), f);
        }
        assert_eq!(
            "\"a=b\"=c".parse::<TagFilter>().unwrap().to_string(),
            "\"a=b\"=c"
        );
    }

    #[test]
    fn limits_from_aws_tagging_rules() {
        // Source: AWS "Tagging best practices" and the RDS Tag API reference.
        assert!("k".repeat(128).parse::<TagKey>().is_ok());
        assert!("k".repeat(129).parse::<TagKey>().is_err());
        assert!("é".repeat(128).parse::<TagKey>().is_ok()); // characters, not bytes
        assert!("v".repeat(256).parse::<TagValue>().is_ok());
        assert!("v".repeat(257).parse::<TagValue>().is_err());
        assert!("".parse::<TagKey>().is_err());
        assert!("".parse::<TagValue>().is_ok());
        assert!("a*b".parse::<TagKey>().is_err());
        assert!("a\nb".parse::<TagValue>().is_err());
    }

    #[test]
    fn filters_set() {
        let a: TagFilter = "team=orders".parse().unwrap();
        let b: TagFilter = "env".parse().unwrap();
        let set = TagFilters::new([a.clone(), b]).unwrap();
        assert_eq!(set.iter().next().unwrap().key().as_str(), "env");
        assert!(set.matches([("team", "orders"), ("env", "x")]));
        assert!(!set.matches([("team", "orders")]));
        assert!(!set.matches([("team", "billing"), ("env", "x")]));
        let dup = TagFilters::new([a, "team".parse().unwrap()])
            .unwrap_err()
            .to_string();
        assert_eq!(dup, "instance.tags: duplicate \"team\"");
        assert!(TagFilters::new([]).is_err());
    }
}
