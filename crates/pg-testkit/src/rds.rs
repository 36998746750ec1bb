//! The RDS permission model emulated by [`crate::TestCluster`], and the names of its
//! roles and sample objects.
//!
//! On Amazon RDS nobody gets `SUPERUSER`: the service keeps a hidden superuser (`rdsadmin`), and the
//! customer's master user is a `CREATEROLE CREATEDB` role holding `rds_superuser` WITH ADMIN
//! OPTION. The emulation builds the same picture:
//!
//! 1. as the bootstrap superuser [`SUPERUSER`] (`initdb -U rdsadmin`): the NOLOGIN roles
//!    [`RDS_SUPERUSER`], [`RDS_IAM`], [`RDS_PASSWORD`], [`RDS_REPLICATION`]; `pg_monitor`,
//!    `pg_signal_backend`, `rds_password`, `rds_replication` granted to `rds_superuser` WITH ADMIN
//!    OPTION; on PostgreSQL 16 and later also `GRANT rds_iam TO rds_superuser WITH ADMIN OPTION`
//!    (since 16 a CREATEROLE role may grant only roles it administers); the master [`MASTER`]
//!    (`LOGIN CREATEROLE CREATEDB`, member of `rds_superuser` WITH ADMIN OPTION), owner of the
//!    `postgres` database;
//! 2. as the master, the setup guide's statements verbatim (with a password, since the guide's
//!    password form is MySQL syntax):
//!    `CREATE USER apono_connector WITH PASSWORD '…'; ALTER USER apono_connector WITH CREATEROLE;
//!    GRANT rds_superuser TO apono_connector;`, the application role [`APP_OWNER`] (LOGIN, the
//!    connector is not a member), and the databases [`APP_DB`] and [`OTHER_DB`];
//! 3. sample objects:
//!
//! | database | schema | owner | objects |
//! |---|---|---|---|
//! | `appdb` | `sales` | master | tables `customers` (3 rows), `orders` (3 rows, `serial` id), view `order_totals`, sequence `invoice_numbers`, materialized view `order_summary` |
//! | `appdb` | `inventory` | `app_owner` | table `items` (3 rows), partitioned table `movements` with partitions `movements_2025`, `movements_2026` |
//! | `appdb` | `public` | (default, `pg_database_owner`) | nothing |
//! | `analytics` | `reports` | master | table `daily` (2 rows) |

use crate::TestkitError;
use crate::cluster::TestCluster;
use crate::psql::{quote_ident, quote_literal};

/// The bootstrap superuser, named like RDS's hidden one.
pub const SUPERUSER: &str = "rdsadmin";
/// RDS's administrative group role.
pub const RDS_SUPERUSER: &str = "rds_superuser";
/// RDS's IAM-authentication marker role.
pub const RDS_IAM: &str = "rds_iam";
/// RDS's role allowed to manage passwords when `rds.restrict_password_commands` is on.
pub const RDS_PASSWORD: &str = "rds_password";
/// RDS's replication role.
pub const RDS_REPLICATION: &str = "rds_replication";
/// The master user (not superuser).
pub const MASTER: &str = "postgres";
/// The connector user of the setup guide.
pub const CONNECTOR: &str = "apono_connector";
/// Application role owning [`INVENTORY_SCHEMA`]; the connector is not a member.
pub const APP_OWNER: &str = "app_owner";

/// Sample application database (owner: master).
pub const APP_DB: &str = "appdb";
/// Second sample database (owner: master).
pub const OTHER_DB: &str = "analytics";

/// Schema in [`APP_DB`] owned by the master.
pub const SALES_SCHEMA: &str = "sales";
/// Table `sales.customers` (3 rows).
pub const CUSTOMERS_TABLE: &str = "customers";
/// Table `sales.orders` (3 rows; its `serial` column owns sequence `orders_id_seq`).
pub const ORDERS_TABLE: &str = "orders";
/// Number of rows in `sales.orders`.
pub const ORDERS_ROWS: u32 = 3;
/// View `sales.order_totals`.
pub const ORDER_TOTALS_VIEW: &str = "order_totals";
/// Stand-alone sequence `sales.invoice_numbers`.
pub const INVOICE_SEQUENCE: &str = "invoice_numbers";
/// Materialized view `sales.order_summary`.
pub const ORDER_SUMMARY_MATVIEW: &str = "order_summary";

/// Schema in [`APP_DB`] owned by [`APP_OWNER`].
pub const INVENTORY_SCHEMA: &str = "inventory";
/// Table `inventory.items` (3 rows).
pub const ITEMS_TABLE: &str = "items";
/// Number of rows in `inventory.items`.
pub const ITEMS_ROWS: u32 = 3;
/// Partitioned table `inventory.movements`.
pub const MOVEMENTS_TABLE: &str = "movements";

/// Schema in [`OTHER_DB`] owned by the master.
pub const REPORTS_SCHEMA: &str = "reports";
/// Table `reports.daily` (2 rows).
pub const DAILY_TABLE: &str = "daily";

/// Builds the model on a freshly started cluster.
pub(crate) fn emulate(cluster: &TestCluster) -> Result<(), TestkitError> {
    let version = cluster.version();
    let master = cluster.master();
    let connector = cluster.connector();
    let app_owner = cluster.app_owner();

    let mut admin = format!(
        "CREATE ROLE {RDS_SUPERUSER} NOLOGIN;\n\
         CREATE ROLE {RDS_IAM} NOLOGIN;\n\
         CREATE ROLE {RDS_PASSWORD} NOLOGIN;\n\
         CREATE ROLE {RDS_REPLICATION} NOLOGIN;\n\
         GRANT pg_monitor, pg_signal_backend, {RDS_PASSWORD}, {RDS_REPLICATION} TO {RDS_SUPERUSER} WITH ADMIN OPTION;\n"
    );
    if version >= 16 {
        admin.push_str(&format!(
            "GRANT {RDS_IAM} TO {RDS_SUPERUSER} WITH ADMIN OPTION;\n"
        ));
    }
    admin.push_str(&format!(
        "CREATE ROLE {m} LOGIN CREATEROLE CREATEDB PASSWORD {p};\n\
         GRANT {RDS_SUPERUSER} TO {m} WITH ADMIN OPTION;\n\
         ALTER DATABASE postgres OWNER TO {m};\n",
        m = quote_ident(&master.user),
        p = quote_literal(&master.password),
    ));
    cluster.sql("postgres", &admin)?;

    // What an operator runs as the master user (setup guide, step 1-2, password variant).
    let c = quote_ident(&connector.user);
    let guide = format!(
        "CREATE USER {c} WITH PASSWORD {p};\n\
         ALTER USER {c} WITH CREATEROLE;\n\
         GRANT {RDS_SUPERUSER} TO {c};\n",
        p = quote_literal(&connector.password),
    );
    cluster.sql_as_local(master, "postgres", &guide)?;

    let a = quote_ident(&app_owner.user);
    cluster.sql_as_local(
        master,
        "postgres",
        &format!(
            "CREATE ROLE {a} LOGIN PASSWORD {p};\n\
             CREATE DATABASE {APP_DB};\n\
             CREATE DATABASE {OTHER_DB};\n\
             GRANT CREATE ON DATABASE {APP_DB} TO {a};\n",
            p = quote_literal(&app_owner.password),
        ),
    )?;

    cluster.sql_as_local(
        master,
        APP_DB,
        &format!(
            "CREATE SCHEMA {SALES_SCHEMA};\n\
             CREATE TABLE {SALES_SCHEMA}.{CUSTOMERS_TABLE} (id int PRIMARY KEY, name text NOT NULL);\n\
             INSERT INTO {SALES_SCHEMA}.{CUSTOMERS_TABLE} VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Linus');\n\
             CREATE TABLE {SALES_SCHEMA}.{ORDERS_TABLE} (\n\
                 id serial PRIMARY KEY,\n\
                 customer_id int NOT NULL REFERENCES {SALES_SCHEMA}.{CUSTOMERS_TABLE} (id),\n\
                 amount numeric(10, 2) NOT NULL,\n\
                 ordered_on date NOT NULL DEFAULT DATE '2026-01-15');\n\
             INSERT INTO {SALES_SCHEMA}.{ORDERS_TABLE} (customer_id, amount) VALUES (1, 10.50), (1, 4.25), (2, 99.99);\n\
             CREATE VIEW {SALES_SCHEMA}.{ORDER_TOTALS_VIEW} AS\n\
                 SELECT customer_id, sum(amount) AS total FROM {SALES_SCHEMA}.{ORDERS_TABLE} GROUP BY customer_id;\n\
             CREATE SEQUENCE {SALES_SCHEMA}.{INVOICE_SEQUENCE};\n\
             CREATE MATERIALIZED VIEW {SALES_SCHEMA}.{ORDER_SUMMARY_MATVIEW} AS\n\
                 SELECT count(*) AS orders, sum(amount) AS total FROM {SALES_SCHEMA}.{ORDERS_TABLE};\n"
        ),
    )?;

    cluster.sql_as_local(
        app_owner,
        APP_DB,
        &format!(
            "CREATE SCHEMA {INVENTORY_SCHEMA};\n\
             CREATE TABLE {INVENTORY_SCHEMA}.{ITEMS_TABLE} (id int PRIMARY KEY, sku text NOT NULL, qty int NOT NULL);\n\
             INSERT INTO {INVENTORY_SCHEMA}.{ITEMS_TABLE} VALUES (1, 'BOLT-1', 100), (2, 'NUT-2', 250), (3, 'GEAR-3', 7);\n\
             CREATE TABLE {INVENTORY_SCHEMA}.{MOVEMENTS_TABLE} (\n\
                 item_id int NOT NULL, moved_on date NOT NULL, qty int NOT NULL) PARTITION BY RANGE (moved_on);\n\
             CREATE TABLE {INVENTORY_SCHEMA}.{MOVEMENTS_TABLE}_2025 PARTITION OF {INVENTORY_SCHEMA}.{MOVEMENTS_TABLE}\n\
                 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n\
             CREATE TABLE {INVENTORY_SCHEMA}.{MOVEMENTS_TABLE}_2026 PARTITION OF {INVENTORY_SCHEMA}.{MOVEMENTS_TABLE}\n\
                 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n\
             INSERT INTO {INVENTORY_SCHEMA}.{MOVEMENTS_TABLE} VALUES (1, '2025-06-01', 10), (3, '2026-02-01', -2);\n"
        ),
    )?;

    cluster.sql_as_local(
        master,
        OTHER_DB,
        &format!(
            "CREATE SCHEMA {REPORTS_SCHEMA};\n\
             CREATE TABLE {REPORTS_SCHEMA}.{DAILY_TABLE} (day date PRIMARY KEY, orders int NOT NULL);\n\
             INSERT INTO {REPORTS_SCHEMA}.{DAILY_TABLE} VALUES ('2026-01-14', 2), ('2026-01-15', 3);\n"
        ),
    )?;
    Ok(())
}
