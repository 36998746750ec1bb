//! A grantee chooses its own login name. With `standard_conforming_strings = off` (which a
//! database owner may set for its database), a backslash in a string literal escapes the quote
//! that follows, so a name like `a\' OR true --` used to break out of the literal of the
//! statement that ends a revoked user's sessions and run as the connector. The name is now bound
//! as a parameter (and pg-auth connections also pin `standard_conforming_strings = on`).

mod common;

use common::*;
use pg_grants::{AccessLevel, Session, Settings};
use pg_testkit::{for_each_version, rds};

#[test]
fn a_login_name_never_breaks_out_of_the_connectors_sql() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        // What a database owner can do for its own database.
        su(
            &cluster,
            "postgres",
            &format!(
                "ALTER DATABASE {} SET standard_conforming_strings = off",
                rds::APP_DB
            ),
        );
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            let off: String = c
                .client
                .query_one("SHOW standard_conforming_strings", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(off, "off", "{v}: the setup took effect");

            // A bystander with an open session, and the hostile name.
            let pw = new_user(&s, "bystander", AccessLevel::ReadOnly).await;
            let bystander = try_connect(&cluster, "bystander", &pw, rds::APP_DB)
                .await
                .unwrap();
            let hostile = r"a\' OR true --";
            new_user(&s, hostile, AccessLevel::ReadOnly).await;

            let report = s
                .revoke_role(&id(hostile), &connector_for(&cluster))
                .await
                .unwrap_or_else(|e| panic!("{v}: revoking {hostile:?}: {e}"));
            assert!(report.dropped, "{v}");
            assert!(
                bystander.simple_query("SELECT 1").await.is_ok(),
                "{v}: the revocation of {hostile:?} ended another user's session"
            );
        });
    });
}
