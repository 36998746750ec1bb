//! Inventory against real PostgreSQL with RDS emulation, as the (non-superuser) connector.

mod common;

use common::*;
use futures_util::StreamExt;
use pg_grants::inventory::{InventoryItem, TableKind};
use pg_grants::{Session, Settings};
use pg_testkit::{for_each_version, rds};

#[test]
fn inventory_lists_databases_schemas_and_tables_streamed() {
    for_each_version(&[17], |v| {
        let cluster = start(v, false);
        su(&cluster, "postgres", "CREATE DATABASE rdsadmin");
        su(
            &cluster,
            rds::APP_DB,
            "CREATE SCHEMA bulk; DO $$ BEGIN FOR i IN 1..1500 LOOP EXECUTE format('CREATE TABLE bulk.t%s (i int)', i); END LOOP; END $$;",
        );
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap();

            let dbs: Vec<String> = s
                .databases()
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.name.to_string())
                .collect();
            assert_eq!(
                dbs,
                ["analytics", "appdb", "postgres"],
                "templates and rdsadmin are left out"
            );

            let mut schemas = Vec::new();
            let mut tables = Vec::new();
            let mut stream = Box::pin(s.inventory().await.unwrap());
            while let Some(item) = stream.next().await {
                match item.unwrap() {
                    InventoryItem::Schema(sc) => {
                        assert!(tables.is_empty(), "schemas come first");
                        schemas.push((sc.name.to_string(), sc.owner));
                    }
                    InventoryItem::Table(t) => tables.push(t),
                    other => panic!("{other:?}"),
                }
            }
            let names: Vec<&str> = schemas.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["bulk", "inventory", "public", "sales"]);
            assert!(schemas.contains(&("inventory".to_owned(), "app_owner".to_owned())));
            assert_eq!(
                tables
                    .iter()
                    .filter(|t| t.schema.as_str() == "bulk")
                    .count(),
                1500
            );
            let find = |s: &str, n: &str| {
                tables
                    .iter()
                    .find(|t| t.schema.as_str() == s && t.name.as_str() == n)
                    .unwrap_or_else(|| panic!("{s}.{n} missing"))
            };
            let rows = [
                ("sales", "orders", TableKind::Table, "postgres", false),
                ("sales", "order_totals", TableKind::View, "postgres", false),
                (
                    "sales",
                    "order_summary",
                    TableKind::MaterializedView,
                    "postgres",
                    false,
                ),
                (
                    "sales",
                    "invoice_numbers",
                    TableKind::Sequence,
                    "postgres",
                    false,
                ),
                ("inventory", "items", TableKind::Table, "app_owner", false),
                (
                    "inventory",
                    "movements",
                    TableKind::PartitionedTable,
                    "app_owner",
                    false,
                ),
                (
                    "inventory",
                    "movements_2025",
                    TableKind::Table,
                    "app_owner",
                    true,
                ),
            ];
            for (schema, name, kind, owner, part) in rows {
                let t = find(schema, name);
                assert_eq!(
                    (t.kind, t.owner.as_str(), t.is_partition),
                    (kind, owner, part),
                    "{schema}.{name}"
                );
            }
            assert!(!tables.iter().any(|t| t.schema.as_str().starts_with("pg_")
                || t.schema.as_str() == "information_schema"));
        });
    });
}
