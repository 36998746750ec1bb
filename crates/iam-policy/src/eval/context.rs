//! The request being authorised: action, resource and condition context keys.

use std::collections::BTreeMap;

/// The request an evaluation answers: one action on one resource, with the request context (the
/// condition keys and their values, such as `aws:username`, `SAML:sub` or `aws:PrincipalTag/team`).
///
/// Context key names are case-insensitive, as in AWS ("Condition key names are not case-sensitive",
/// IAM User Guide, *IAM JSON policy elements: Condition*); values keep their case. A key can hold one
/// value or several (a *multivalued* key such as `aws:TagKeys`); calling [`with_value`] twice for the
/// same key adds a second value.
///
/// A tag key such as `aws:PrincipalTag/team` is an ordinary context key: the policy variable
/// `${aws:PrincipalTag/team}` and the condition key `aws:PrincipalTag/team` both look it up.
///
/// [`with_value`]: RequestContext::with_value
///
/// ```
/// use iam_policy::eval::RequestContext;
///
/// let request = RequestContext::new(
///     "rds-db:connect",
///     "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/alice",
/// )
/// .with_value("SAML:sub", "alice")
/// .with_values("aws:TagKeys", ["team", "env"]);
///
/// assert_eq!(request.action(), "rds-db:connect");
/// assert_eq!(request.values("saml:SUB"), Some(&["alice".to_owned()][..]));
/// assert_eq!(request.values("aws:tagkeys").map(<[String]>::len), Some(2));
/// assert_eq!(request.values("aws:username"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    action: String,
    resource: String,
    /// Lower-cased key -> (key as first written, values).
    keys: BTreeMap<String, (String, Vec<String>)>,
}

impl RequestContext {
    /// A request for `action` (e.g. `rds-db:connect`) on `resource` (an ARN, or `*` for actions that
    /// take no resource) with an empty context.
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            keys: BTreeMap::new(),
        }
    }

    /// Adds `value` to the context key `key` (case-insensitive); a key given twice becomes
    /// multivalued.
    #[must_use]
    pub fn with_value(mut self, key: impl AsRef<str>, value: impl Into<String>) -> Self {
        self.insert(key.as_ref(), value.into());
        self
    }

    /// Adds every value of `values` to the context key `key`. Adding no value leaves the key absent:
    /// an empty multivalued key and a missing key evaluate the same way.
    #[must_use]
    pub fn with_values<I, V>(mut self, key: impl AsRef<str>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        for value in values {
            self.insert(key.as_ref(), value.into());
        }
        self
    }

    /// Adds `value` to the context key `key` in place (see [`with_value`](Self::with_value)).
    pub fn insert(&mut self, key: &str, value: String) {
        self.keys
            .entry(key.to_lowercase())
            .or_insert_with(|| (key.to_owned(), Vec::new()))
            .1
            .push(value);
    }

    /// The requested action.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The requested resource.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The values of context key `key` (case-insensitive), or `None` when the request does not carry
    /// it.
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.keys
            .get(&key.to_lowercase())
            .map(|(_, values)| values.as_slice())
            .filter(|values| !values.is_empty())
    }

    /// The context keys (as first written) and their values.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.keys
            .values()
            .map(|(key, values)| (key.as_str(), values.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_values_accumulate() {
        let request = RequestContext::new("a:b", "*")
            .with_value("aws:PrincipalTag/Team", "db")
            .with_value("AWS:principaltag/team", "ops");
        assert_eq!(
            request.values("aws:principaltag/TEAM"),
            Some(&["db".to_owned(), "ops".to_owned()][..])
        );
        let keys: Vec<_> = request.keys().collect();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].0, "aws:PrincipalTag/Team");
    }

    #[test]
    fn empty_value_list_is_absent() {
        let request =
            RequestContext::new("a:b", "*").with_values("aws:TagKeys", Vec::<String>::new());
        assert_eq!(request.values("aws:TagKeys"), None);
    }
}
