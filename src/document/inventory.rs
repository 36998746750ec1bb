//! [`InventoryLine`]: one item of an inventory, as a line of NDJSON or text.

use std::fmt;

use integration_model::InstanceId;
use serde::Serialize;

use crate::report::InventoryEntry;

/// One item of an inventory, as [`AccessManager::inventory`](crate::AccessManager::inventory)
/// and [`sync`](crate::AccessManager::sync) stream them: JSON `{instance, type, database,
/// ...}` (one object per line), or a text line.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct InventoryLine {
    /// The instance.
    pub instance: String,
    /// `database`, `schema`, `table` or `other`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The database.
    pub database: String,
    /// The schema (schemas and tables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The table (tables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The relation kind (tables: `Table`, `View`, `Sequence`, ...).
    #[serde(rename = "kind", skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// The owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Whether a table is a partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<bool>,
    /// An item of a kind this version does not know, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl InventoryLine {
    /// The line of `entry`, found in `database` on `instance`.
    pub fn new(instance: &InstanceId, database: &str, entry: &InventoryEntry) -> Self {
        let mut line = Self {
            instance: instance.to_string(),
            kind: "other",
            database: database.to_owned(),
            schema: None,
            table: None,
            relation: None,
            owner: None,
            partition: None,
            detail: None,
        };
        match entry {
            InventoryEntry::Database(d) => {
                line.kind = "database";
                line.owner = Some(d.owner.clone());
            }
            InventoryEntry::Schema(s) => {
                line.kind = "schema";
                line.schema = Some(s.name.to_string());
                line.owner = Some(s.owner.clone());
            }
            InventoryEntry::Table(t) => {
                line.kind = "table";
                line.schema = Some(t.schema.to_string());
                line.table = Some(t.name.to_string());
                line.relation = Some(format!("{:?}", t.kind));
                line.owner = Some(t.owner.clone());
                line.partition = Some(t.is_partition);
            }
            InventoryEntry::Other(text) => line.detail = Some(text.clone()),
        }
        line
    }
}

/// `instance/database[/schema[/table]]  kind  owner NAME`.
impl fmt::Display for InventoryLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (instance, database) = (&self.instance, &self.database);
        let owner = self.owner.as_deref().unwrap_or_default();
        match (self.kind, &self.schema, &self.table) {
            ("database", _, _) => write!(f, "{instance}/{database}  database  owner {owner}"),
            ("schema", Some(schema), _) => {
                write!(f, "{instance}/{database}/{schema}  schema  owner {owner}")
            }
            ("table", Some(schema), Some(table)) => write!(
                f,
                "{instance}/{database}/{schema}/{table}  {}  owner {owner}",
                self.relation.as_deref().unwrap_or_default()
            ),
            _ => write!(
                f,
                "{instance}/{database}  {}",
                self.detail.as_deref().unwrap_or_default()
            ),
        }
    }
}
