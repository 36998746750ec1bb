//! Revocation against real PostgreSQL with RDS emulation.

mod common;

use common::*;
use pg_grants::quote::Ident;
use pg_grants::{AccessLevel, Grant, GrantsError, Scope, Session, Settings};
use pg_testkit::{TestCluster, for_each_version, rds};
use tokio_postgres::NoTls;

fn id(s: &str) -> Ident {
    Ident::new(s).expect("valid identifier in test")
}

/// Connects as the connector to any database, except those in `unreachable`.
fn connector_for<'a>(
    cluster: &'a TestCluster,
    unreachable: &'a [&'a str],
) -> impl Fn(
    String,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<tokio_postgres::Client, GrantsError>> + Send + 'a>,
> + Send
+ Sync
+ 'a {
    move |db: String| {
        let conn = cluster.conn_string(cluster.connector(), &db);
        let down = unreachable.contains(&db.as_str());
        Box::pin(async move {
            if down {
                return Err(GrantsError::Connect {
                    database: db,
                    source: "network unreachable (simulated)".into(),
                });
            }
            let (client, connection) =
                tokio_postgres::connect(&conn, NoTls)
                    .await
                    .map_err(|e| GrantsError::Connect {
                        database: db,
                        source: Box::new(e),
                    })?;
            tokio::spawn(connection);
            Ok(client)
        })
    }
}

#[test]
fn revocation_keeps_data_ends_sessions_and_resumes_after_failure() {
    for_each_version(&[15, 17, 18], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap().with_notices(c.notices.clone());
            let o = connect(&cluster, cluster.connector(), rds::OTHER_DB).await;
            let s_other = Session::new(&o.client, Settings::default()).await.unwrap();
            fix_owners(&cluster, &s).await;

            // A user with admin on appdb and read-only on analytics, connected, owning a table.
            let pw = new_user(&s, "leaver", AccessLevel::Admin).await;
            s.apply(&id("leaver"), &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)]).await.unwrap();
            su(&cluster, rds::OTHER_DB, r#"GRANT USAGE ON SCHEMA reports TO apono_connector WITH GRANT OPTION; GRANT SELECT ON reports.daily TO apono_connector WITH GRANT OPTION"#);
            s_other.apply(&id("leaver"), &[Grant::new(Scope::Schema(id("reports")), AccessLevel::ReadOnly)]).await.unwrap();
            let u = try_connect(&cluster, "leaver", &pw, rds::APP_DB).await.unwrap();
            u.batch_execute("CREATE TABLE sales.leaver_notes (id int); INSERT INTO sales.leaver_notes VALUES (1), (2), (3)").await.unwrap();

            // Unmanaged roles are refused and unchanged.
            for victim in [rds::MASTER, rds::CONNECTOR] {
                let err = s.revoke_role(&id(victim), &connector_for(&cluster, &[])).await.unwrap_err();
                assert!(matches!(err, GrantsError::NotManaged { .. }), "{err}");
                assert_eq!(su(&cluster, "postgres", &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{victim}'")), "t");
            }

            // analytics is unreachable: the role can no longer log in, and the error says what is left.
            let err = s.revoke_role(&id("leaver"), &connector_for(&cluster, &[rds::OTHER_DB])).await.unwrap_err();
            match &err {
                GrantsError::RevokeIncomplete { remaining, .. } => assert_eq!(remaining, &[rds::OTHER_DB]),
                other => panic!("{other}"),
            }
            assert_eq!(su(&cluster, "postgres", "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'leaver'"), "f");
            assert!(try_connect(&cluster, "leaver", &pw, rds::APP_DB).await.is_err(), "login must be refused");
            // The open session was terminated.
            assert!(u.query_one("SELECT 1", &[]).await.is_err(), "session must be gone");

            // Running again finishes.
            let report = s.revoke_role(&id("leaver"), &connector_for(&cluster, &[])).await.unwrap();
            assert!(report.dropped);
            assert!(report.databases.contains(&rds::OTHER_DB.to_owned()), "{report:?}");
            assert_eq!(su(&cluster, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'leaver'"), "0");
            // Its table kept every row, now owned by the connector.
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT pg_get_userbyid(relowner), (SELECT count(*) FROM sales.leaver_notes) FROM pg_class WHERE oid = 'sales.leaver_notes'::regclass"),
                "apono_connector|3"
            );
            // A third run is a no-op.
            let again = s.revoke_role(&id("leaver"), &connector_for(&cluster, &[])).await.unwrap();
            assert!(!again.dropped);
        });
    });
}
