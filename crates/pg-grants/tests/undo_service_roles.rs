//! What the undo of a failed grant drops on PostgreSQL 16+ (`Session::drop_unheld_access_roles`,
//! `Session::drop_unused_grantor`), attacked: a membership being granted by a transaction that
//! went on without the access role's advisory lock (a squatter holds it), and a tenant's gift
//! to the grantor role, which PostgreSQL then refuses to drop.

mod common;

use std::time::Duration;

use common::*;
use pg_grants::{AccessLevel, Session, Settings};
use pg_testkit::rds;

/// `ro`'s access role as a failed first grant's undo finds it: alice was granted (which made it)
/// and her grant ended, so it has no member and is not idle-marked. Its name.
async fn unheld_access_role(s: &Session<'_>, ro: &[pg_grants::Grant]) -> String {
    new_user(s, "alice", AccessLevel::ReadOnly).await;
    s.apply(&id("alice"), ro).await.expect("alice's grant");
    let holder = grantee(s, "alice", &ro[0]);
    s.apply(&id("alice"), &[])
        .await
        .expect("alice's grant ends");
    holder
}

/// Before the fix the drop's member check ran before its `GRANT … TO CURRENT_USER`: a
/// membership granted by a transaction still open was not seen, the drop waited on that
/// transaction's lock, and once it committed `DROP ROLE` removed the new member's membership
/// (its grant had reported success). Now the check runs after the `GRANT`, which waits for
/// the open transaction: the role, with its new member, stays.
#[test]
fn an_access_role_being_joined_is_not_dropped_by_the_undo() {
    let cluster = start(17, false);
    runtime().block_on(async {
        let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
        let s = owner_fixed_session(&cluster, &c).await;
        let ro = [sales_ro()];
        new_user(&s, "bob", AccessLevel::ReadOnly).await;
        let holder = unheld_access_role(&s, &ro).await;
        // Another replica's grant to bob, its transaction open, without the advisory lock.
        let other = connect(&cluster, cluster.connector(), rds::APP_DB).await;
        other
            .client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL ROLE rdspg_grantor; \
                 GRANT \"{holder}\" TO bob WITH INHERIT TRUE, SET FALSE; SET LOCAL ROLE NONE;"
            ))
            .await
            .expect("bob's membership, uncommitted");
        let commit_later = async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            other.client.batch_execute("COMMIT").await.expect("commit");
        };
        let (dropped, ()) = tokio::join!(s.drop_unheld_access_roles(&ro), commit_later);
        let dropped = dropped.expect("the undo's drop");
        assert!(
            dropped.is_empty(),
            "dropped {dropped:?} while bob joined it"
        );
        assert!(
            members_of(&cluster, &holder).contains("bob:rdspg_grantor"),
            "bob's membership: {}",
            members_of(&cluster, &holder)
        );
        // Bob reads through it.
        assert_eq!(
            su(
                &cluster,
                rds::APP_DB,
                "SELECT has_table_privilege('bob', 'sales.orders', 'SELECT')"
            ),
            "t"
        );
    });
}

/// A tenant's privilege granted to the grantor role makes PostgreSQL refuse `DROP ROLE`
/// (2BP01): the undo keeps the role (as rightless as before for the library's purposes) and
/// goes on; before, the error ended the undo and the marker role it had created stayed.
#[test]
fn a_gift_to_the_grantor_role_keeps_it_without_failing_the_undo() {
    let cluster = start(17, false);
    runtime().block_on(async {
        let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
        let s = owner_fixed_session(&cluster, &c).await;
        let ro = [sales_ro()];
        let holder = unheld_access_role(&s, &ro).await;
        // The application's owner gives the grantor role a privilege on its own table.
        su(
            &cluster,
            rds::APP_DB,
            &format!(
                "SET ROLE {owner}; CREATE TABLE {schema}.gift (n int); \
                 GRANT SELECT ON {schema}.gift TO rdspg_grantor",
                owner = rds::APP_OWNER,
                schema = rds::INVENTORY_SCHEMA
            ),
        );
        let dropped = s.drop_unheld_access_roles(&ro).await.expect("access roles");
        assert_eq!(
            dropped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            std::slice::from_ref(&holder)
        );
        assert!(
            !s.drop_unused_grantor().await.expect("kept, not an error"),
            "the grantor role cannot be dropped while something depends on it"
        );
        assert_eq!(
            su(
                &cluster,
                "postgres",
                "SELECT count(*) FROM pg_roles WHERE rolname = 'rdspg_grantor'"
            ),
            "1"
        );
        // Without the gift it goes.
        su(
            &cluster,
            rds::APP_DB,
            &format!(
                "SET ROLE {}; DROP TABLE {}.gift",
                rds::APP_OWNER,
                rds::INVENTORY_SCHEMA
            ),
        );
        assert!(s.drop_unused_grantor().await.expect("dropped"));
        let fresh = Session::new(&c.client, Settings::default())
            .await
            .expect("session");
        assert!(fresh.marker_exists().await.expect("marker"));
    });
}
