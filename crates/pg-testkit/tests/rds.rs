//! The RDS emulation: the facts the other crates' tests rely on.

use pg_testkit::{ALL_VERSIONS, TestCluster, for_each_version, rds};

fn bool_of(s: &str) -> bool {
    match s {
        "t" => true,
        "f" => false,
        other => panic!("not a boolean: {other:?}"),
    }
}

fn check_rds_model(cluster: &TestCluster) {
    let q = |sql: &str| cluster.sql(rds::APP_DB, sql).expect("rds fact query");
    let attrs = |role: &str| {
        q(&format!(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = '{role}'"
        ))
    };
    // rds_superuser and rds_iam are NOLOGIN group roles.
    assert_eq!(attrs(rds::RDS_SUPERUSER), "f|f|f|f");
    assert_eq!(attrs(rds::RDS_IAM), "f|f|f|f");
    // Master: no superuser, CREATEROLE CREATEDB, admin of rds_superuser.
    assert_eq!(attrs(rds::MASTER), "f|t|t|t");
    assert!(bool_of(&q(&format!(
        "SELECT pg_has_role('{}', '{}', 'USAGE WITH ADMIN OPTION')",
        rds::MASTER,
        rds::RDS_SUPERUSER
    ))));
    // Connector: no superuser, CREATEROLE, member of rds_superuser, not of app_owner.
    assert_eq!(attrs(rds::CONNECTOR), "f|t|f|t");
    assert!(bool_of(&q(&format!(
        "SELECT pg_has_role('{}', '{}', 'MEMBER')",
        rds::CONNECTOR,
        rds::RDS_SUPERUSER
    ))));
    assert!(!bool_of(&q(&format!(
        "SELECT pg_has_role('{}', '{}', 'MEMBER')",
        rds::CONNECTOR,
        rds::APP_OWNER
    ))));
    // rds_iam administered by rds_superuser from 16 on.
    let iam_admin = bool_of(&q(&format!(
        "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
         JOIN pg_roles g ON g.oid = m.member WHERE r.rolname = '{}' AND g.rolname = '{}' AND m.admin_option)",
        rds::RDS_IAM,
        rds::RDS_SUPERUSER
    )));
    assert_eq!(
        iam_admin,
        cluster.version() >= 16,
        "version {}",
        cluster.version()
    );

    // Ownership of the sample objects.
    assert_eq!(
        q(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname IN ('appdb', 'analytics') ORDER BY datname"
        ),
        format!("{}\n{}", rds::MASTER, rds::MASTER)
    );
    assert_eq!(
        q(
            "SELECT nspname || ':' || pg_get_userbyid(nspowner) FROM pg_namespace \
           WHERE nspname IN ('sales', 'inventory') ORDER BY nspname"
        ),
        format!("inventory:{}\nsales:{}", rds::APP_OWNER, rds::MASTER)
    );
    assert_eq!(
        q(
            "SELECT relname || ':' || relkind::text FROM pg_class WHERE relnamespace = 'sales'::regnamespace \
           AND relkind IN ('r', 'v', 'S', 'm') ORDER BY relname"
        ),
        "customers:r\ninvoice_numbers:S\norder_summary:m\norder_totals:v\norders:r\norders_id_seq:S"
    );
    assert_eq!(
        q("SELECT relkind FROM pg_class WHERE oid = 'inventory.movements'::regclass"),
        "p"
    );
    assert_eq!(
        q("SELECT count(*) FROM sales.orders"),
        rds::ORDERS_ROWS.to_string()
    );
    assert_eq!(
        q("SELECT count(*) FROM inventory.items"),
        rds::ITEMS_ROWS.to_string()
    );
    assert_eq!(
        cluster
            .sql(rds::OTHER_DB, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'reports.daily'::regclass")
            .expect("rds fact query"),
        rds::MASTER
    );

    // What the connector meets, logged in with its password over TCP.
    let connector = cluster.connector();
    assert_eq!(
        cluster
            .sql_as(connector, rds::APP_DB, "SELECT current_user")
            .expect("rds fact query"),
        rds::CONNECTOR
    );
    let denied = cluster
        .sql_as(connector, rds::APP_DB, "SELECT * FROM inventory.items")
        .expect_err("must be refused");
    assert!(denied.to_string().contains("permission denied"), "{denied}");
    // The master reads its own tables, but not app_owner's.
    assert_eq!(
        cluster
            .sql_as(
                cluster.master(),
                rds::APP_DB,
                "SELECT count(*) FROM sales.orders"
            )
            .expect("rds fact query"),
        "3"
    );
    let denied = cluster
        .sql_as(
            cluster.master(),
            rds::APP_DB,
            "SELECT * FROM inventory.items",
        )
        .expect_err("must be refused");
    assert!(denied.to_string().contains("permission denied"), "{denied}");
    assert_eq!(
        cluster
            .sql_as(
                cluster.app_owner(),
                rds::APP_DB,
                "SELECT count(*) FROM inventory.items"
            )
            .expect("rds fact query"),
        "3"
    );
    // A wrong password is refused.
    let mut wrong = connector.clone();
    wrong.password.push('x');
    let err = cluster
        .sql_as(&wrong, rds::APP_DB, "SELECT 1")
        .expect_err("must be refused");
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
}

#[test]
fn rds_model_on_every_version() {
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = TestCluster::builder()
            .version(v)
            .start()
            .expect("rds fact query");
        let num: u32 = cluster
            .sql("postgres", "SHOW server_version_num")
            .expect("rds fact query")
            .parse()
            .expect("rds fact query");
        assert_eq!(num / 10000, v);
        check_rds_model(&cluster);
    });
}
