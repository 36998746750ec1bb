//! A settings file: one integration, or several `[[integration]]` entries.

use serde::{Deserialize, Serialize};

use crate::integration::{from_table, is_integration_key};
use crate::node::{self, Node, Table};
use crate::{Integration, ModelError};

/// The integrations of one settings file, with unique names, in file order.
///
/// A file holds either the keys of one integration at the top level, or `[[integration]]`
/// entries (a JSON `"integration"` array), each with the same keys. Mixing the two forms is
/// an error. Entries are numbered from 0 in messages: `integration[1].name: duplicate
/// "orders-prod"`.
///
/// ```
/// use integration_model::Settings;
/// let settings = Settings::from_toml_str(r#"
///     [[integration]]
///     name = "orders-prod"
///     region = "us-east-1"
///     auth = "iam"
///     instance = { id = "orders-db" }
///
///     [[integration]]
///     name = "fleet"
///     region = "eu-west-3"
///     auth = "iam"
///     instance = { tags = { team = "orders" }, tag_keys = ["backup"] }
/// "#)?;
/// assert_eq!(settings.integrations().len(), 2);
/// assert_eq!(settings.get("fleet").unwrap().region().as_str(), "eu-west-3");
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    integrations: Vec<Integration>,
}

impl Settings {
    /// Settings from integrations built in code; names must be unique, and there must be at
    /// least one.
    pub fn new(integrations: impl IntoIterator<Item = Integration>) -> Result<Self, ModelError> {
        let integrations: Vec<Integration> = integrations.into_iter().collect();
        if integrations.is_empty() {
            return Err(ModelError::invalid_bare(
                "integration",
                "[]",
                "holds no integration; add at least one",
            ));
        }
        for (i, integration) in integrations.iter().enumerate() {
            if integrations
                .iter()
                .take(i)
                .any(|earlier| earlier.name() == integration.name())
            {
                return Err(ModelError::duplicate(
                    &format!("integration[{i}].name"),
                    integration.name().as_str(),
                ));
            }
        }
        Ok(Self { integrations })
    }

    /// Loads settings from TOML text (the `rdspg --config FILE` format).
    pub fn from_toml_str(text: &str) -> Result<Self, ModelError> {
        Self::from_node(&node::from_toml_str(text)?)
    }

    /// Loads settings from JSON text (same keys as TOML).
    pub fn from_json_str(text: &str) -> Result<Self, ModelError> {
        Self::from_node(&node::from_json_str(text)?)
    }

    fn from_node(node: &Node) -> Result<Self, ModelError> {
        let root = Table::new(node, "")?;
        let Some(entries) = root
            .entries()
            .iter()
            .find(|(key, _)| key == "integration")
            .map(|(_, v)| v)
        else {
            return Self::new([from_table(&root)?]);
        };
        if let Some((key, _)) = root.entries().iter().find(|(key, _)| key != "integration") {
            return Err(if is_integration_key(key) {
                ModelError::conflict(
                    &node::join("", key),
                    "cannot stand at the top level next to [[integration]] entries; move it into an entry",
                )
            } else {
                ModelError::UnknownKey {
                    key: node::join("", key),
                    expected: "integration (or the keys of a single integration)".to_owned(),
                }
            });
        }
        let Node::Array(items) = entries else {
            return Err(ModelError::WrongType {
                key: "integration".to_owned(),
                expected: "an array of tables ([[integration]])",
                found: match entries {
                    Node::Table(_) => "a table ([integration]); write [[integration]]".to_owned(),
                    other => other.describe(),
                },
            });
        };
        let paths: Vec<String> = (0..items.len())
            .map(|i| format!("integration[{i}]"))
            .collect();
        let integrations = items
            .iter()
            .zip(&paths)
            .map(|(item, path)| Table::new(item, path).and_then(|t| from_table(&t)))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(integrations)
    }

    /// The integrations, in file order.
    pub fn integrations(&self) -> &[Integration] {
        &self.integrations
    }

    /// The integration called `name`.
    pub fn get(&self, name: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.name().as_str() == name)
    }

    /// The integrations, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Integration> {
        self.integrations.iter()
    }

    /// Takes the integrations out.
    pub fn into_integrations(self) -> Vec<Integration> {
        self.integrations
    }
}

impl<'a> IntoIterator for &'a Settings {
    type Item = &'a Integration;
    type IntoIter = std::slice::Iter<'a, Integration>;
    fn into_iter(self) -> Self::IntoIter {
        self.integrations.iter()
    }
}

#[derive(Serialize)]
struct Shape<'a> {
    integration: &'a [Integration],
}

impl Serialize for Settings {
    /// Always the `[[integration]]` form, which also holds a single integration.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Shape {
            integration: &self.integrations,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Settings {
    /// Reads either form, with the same checks as [`Settings::from_toml_str`].
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let node = Node::deserialize(deserializer)?;
        Self::from_node(&node).map_err(serde::de::Error::custom)
    }
}
