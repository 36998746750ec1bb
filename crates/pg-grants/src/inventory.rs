//! What a server holds: databases, schemas, tables and their owners.
//!
//! [`Session::databases`] lists the databases (not templates, not RDS's own `rdsadmin`, not those
//! refusing connections). [`Session::inventory`] reads the schemas and relations of the
//! session's database with one query whose rows are *streamed* (`query_raw`): a catalog with
//! 100,000 tables is never held in memory at once.
//!
//! ```no_run
//! # async fn demo(session: &pg_grants::Session<'_>) -> Result<(), pg_grants::GrantsError> {
//! use futures_util::TryStreamExt;
//! use pg_grants::inventory::InventoryItem;
//!
//! let items = session.inventory().await?;
//! futures_util::pin_mut!(items);
//! while let Some(item) = items.try_next().await? {
//!     if let InventoryItem::Table(t) = item {
//!         println!("{}.{} ({:?}) owned by {}", t.schema, t.name, t.kind, t.owner);
//!     }
//! }
//! # Ok(()) }
//! ```

use futures_util::{Stream, StreamExt};

use crate::error::{GrantsError, col};
use crate::quote::Ident;
use crate::session::Session;
use crate::sql;

/// A database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DatabaseInfo {
    /// Its name.
    pub name: Ident,
    /// Its owner.
    pub owner: String,
}

/// A schema of the session's database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SchemaInfo {
    /// Its name.
    pub name: Ident,
    /// Its owner.
    pub owner: String,
}

/// Kinds of relations (`pg_class.relkind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TableKind {
    /// `r`: ordinary table.
    Table,
    /// `p`: partitioned table.
    PartitionedTable,
    /// `v`: view.
    View,
    /// `m`: materialized view.
    MaterializedView,
    /// `f`: foreign table.
    ForeignTable,
    /// `S`: sequence.
    Sequence,
}

impl TableKind {
    fn from_relkind(c: i8) -> Option<Self> {
        match u8::try_from(c).ok()? {
            b'r' => Some(Self::Table),
            b'p' => Some(Self::PartitionedTable),
            b'v' => Some(Self::View),
            b'm' => Some(Self::MaterializedView),
            b'f' => Some(Self::ForeignTable),
            b'S' => Some(Self::Sequence),
            _ => None,
        }
    }
}

/// A table, view, sequence or other relation of the session's database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TableInfo {
    /// Its schema.
    pub schema: Ident,
    /// Its name.
    pub name: Ident,
    /// What it is.
    pub kind: TableKind,
    /// Its owner.
    pub owner: String,
    /// Whether it is a partition of another table.
    pub is_partition: bool,
}

/// One row of [`Session::inventory`]: schemas come first, then relations, each sorted by name.
/// As JSON: the item's fields with `"item": "schema"` or `"item": "table"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InventoryItem {
    /// A schema.
    Schema(SchemaInfo),
    /// A relation.
    Table(TableInfo),
}

fn item(row: &tokio_postgres::Row) -> Result<Option<InventoryItem>, GrantsError> {
    let read = |e| GrantsError::db("reading the inventory", e);
    let sort: i32 = row.try_get(0).map_err(read)?;
    let schema: String = row.try_get(1).map_err(read)?;
    let owner: String = row.try_get(4).map_err(read)?;
    if sort == 0 {
        return Ok(Some(InventoryItem::Schema(SchemaInfo {
            name: Ident::new(schema)?,
            owner,
        })));
    }
    let name: String = row.try_get(2).map_err(read)?;
    let kind: i8 = row.try_get(3).map_err(read)?;
    let Some(kind) = TableKind::from_relkind(kind) else {
        return Ok(None);
    };
    Ok(Some(InventoryItem::Table(TableInfo {
        schema: Ident::new(schema)?,
        name: Ident::new(name)?,
        kind,
        owner,
        is_partition: row.try_get(5).map_err(read)?,
    })))
}

impl Session<'_> {
    /// The server's databases, except templates, `rdsadmin` and those refusing connections.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn databases(&self) -> Result<Vec<DatabaseInfo>, GrantsError> {
        let rows = self
            .client()
            .query_typed(sql::DATABASES, &[])
            .await
            .map_err(|e| GrantsError::db("listing databases", e))?;
        rows.iter()
            .map(|r| {
                Ok(DatabaseInfo {
                    name: Ident::new(col::<String>(r, 0, "listing databases")?)?,
                    owner: col(r, 1, "listing databases")?,
                })
            })
            .collect()
    }

    /// The schemas and relations of this session's database, streamed row by row from one query.
    ///
    /// # Errors
    /// [`GrantsError::Database`] when the query cannot start; each item may carry a later error.
    pub async fn inventory(
        &self,
    ) -> Result<impl Stream<Item = Result<InventoryItem, GrantsError>> + Send + 'static, GrantsError>
    {
        let rows = self
            .client()
            .query_raw(sql::INVENTORY, std::iter::empty::<&str>())
            .await
            .map_err(|e| GrantsError::db("reading the inventory", e))?;
        Ok(rows.filter_map(|row| async move {
            match row {
                Ok(row) => item(&row).transpose(),
                Err(e) => Some(Err(GrantsError::db("reading the inventory", e))),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_serialize_tagged_with_names_as_strings() {
        let table = InventoryItem::Table(TableInfo {
            schema: Ident::new("sales").unwrap(),
            name: Ident::new("order lines").unwrap(),
            kind: TableKind::PartitionedTable,
            owner: "postgres".into(),
            is_partition: false,
        });
        assert_eq!(
            serde_json::to_value(&table).unwrap(),
            serde_json::json!({"item": "table", "schema": "sales", "name": "order lines",
                "kind": "partitioned_table", "owner": "postgres", "is_partition": false})
        );
        let schema = InventoryItem::Schema(SchemaInfo {
            name: Ident::new("sales").unwrap(),
            owner: "postgres".into(),
        });
        assert_eq!(
            serde_json::to_value(&schema).unwrap(),
            serde_json::json!({"item": "schema", "name": "sales", "owner": "postgres"})
        );
    }
}
