//! The grant entry point ([`Session::create_or_complete`], then [`Session::apply_to`] in each
//! database): one session per database and one read of the role's marks per instance, counted
//! in the server's statement log.

mod common;

use common::*;
use integration_model::error_chain;
use pg_grants::password::Password;
use pg_grants::quote::QualifiedName;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::setup::ConnectorSetup;
use pg_grants::{
    AccessLevel, AdvisoryKey, AdvisoryLocks, CreateOutcome, Grant, ManagedRecord, Scope, Session,
    Settings,
};
use pg_testkit::rds;
use time::macros::datetime;

/// The start of the marks query (`sql::MANAGED_ROLES`, a lookup of one role or the listing of all).
const MARK_READ: &str = "SELECT r.rolname::pg_catalog.text, r.rolcanlogin, pg_catalog.shobj_description(r.oid, 'pg_authid')";
/// The start of a session (`Session::new`: server version, connector, database).
const SESSION_START: &str = "current_setting('server_version_num')";

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[test]
fn a_grant_on_two_databases_opens_one_session_each_and_reads_the_mark_once() {
    let cluster = start(15, true);
    su(
        &cluster,
        rds::OTHER_DB,
        "GRANT USAGE ON SCHEMA reports TO apono_connector WITH GRANT OPTION; \
         GRANT SELECT ON reports.daily TO apono_connector WITH GRANT OPTION",
    );
    su(&cluster, rds::APP_DB, "GRANT app_owner TO apono_connector");
    let before = cluster.server_log().expect("server log");
    runtime().block_on(async {
        let home = connect(&cluster, cluster.connector(), rds::APP_DB).await;
        let other = connect(&cluster, cluster.connector(), rds::OTHER_DB).await;
        let new = NewRole::new(
            id("counted"),
            LoginAuth::Password(Password::generate()),
            ManagedRecord::new(
                "req-counted",
                AccessLevel::ReadOnly,
                datetime!(2099-01-01 0:00 UTC),
                rds::CONNECTOR,
            ),
        );
        let s = Session::new(&home.client, Settings::default())
            .await
            .unwrap()
            .with_notices(home.notices.clone());
        let mut found = s.create_or_complete(&new).await.unwrap();
        assert_eq!(found.outcome, CreateOutcome::Created);
        let sales = [Grant::new(
            Scope::Schema(id(rds::INVENTORY_SCHEMA)),
            AccessLevel::ReadOnly,
        )];
        let report = s.apply_to(&mut found.role, &sales).await.unwrap();
        assert!(!report.plan.is_empty());
        let o = Session::new(&other.client, Settings::default())
            .await
            .unwrap()
            .with_notices(other.notices.clone());
        let daily = [Grant::new(
            Scope::Table(QualifiedName::new(id("reports"), id("daily"))),
            AccessLevel::ReadOnly,
        )];
        let report = o.apply_to(&mut found.role, &daily).await.unwrap();
        assert!(!report.plan.is_empty());
        // Granted in both databases: nothing left to plan.
        assert!(s.plan(&id("counted"), &sales).await.unwrap().is_empty());
        assert!(o.plan(&id("counted"), &daily).await.unwrap().is_empty());

        let log = cluster.server_log().expect("server log");
        let log = log.strip_prefix(before.as_str()).unwrap_or(&log);
        assert_eq!(count(log, MARK_READ), 1, "one read of the mark:\n{log}");
        assert_eq!(
            count(log, SESSION_START),
            2,
            "one session per database:\n{log}"
        );

        // The counter sees a read: `apply` (which checks the marks itself) reads them again,
        // and a second request-id run completes the role without creating it.
        s.apply(&id("counted"), &sales).await.unwrap();
        let again = s.create_or_complete(&new).await.unwrap();
        assert!(matches!(again.outcome, CreateOutcome::AlreadyExists(_)));
        let log = cluster.server_log().expect("server log");
        let log = log.strip_prefix(before.as_str()).unwrap_or(&log);
        assert_eq!(count(log, MARK_READ), 3, "{log}");
    });
}

/// The public advisory-lock API: a lock taken by one connection is busy for another, which
/// sees its holder; past `lock_timeout` the error carries SQLSTATE 55P03, its message names
/// the lock without repeating the server's text, which is in the error's source chain.
#[test]
fn advisory_locks_take_wait_release_and_name_their_holders() {
    let cluster = start(15, false);
    runtime().block_on(async {
        let a = connect(&cluster, cluster.connector(), rds::APP_DB).await;
        let b = connect(&cluster, cluster.connector(), rds::APP_DB).await;
        let key = AdvisoryKey::new("rdspg-role", &id("carol"));
        let (la, lb) = (AdvisoryLocks::new(&a.client), AdvisoryLocks::new(&b.client));
        assert!(la.try_lock(&key).await.unwrap());
        assert!(!lb.try_lock(&key).await.unwrap());
        let holders = lb.holders(&key).await.unwrap();
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert_eq!(holders[0].user, rds::CONNECTOR);
        assert!(!holders[0].is_squatter(), "the connector has CREATEROLE");
        assert!(lb.squatters(&key).await.unwrap().is_empty());

        b.client
            .batch_execute("SET lock_timeout = '50ms'")
            .await
            .unwrap();
        let err = lb.lock(&key).await.unwrap_err();
        assert_eq!(err.sqlstate(), Some("55P03"), "{err}");
        let message = err.to_string();
        assert!(message.contains("rdspg-role:carol"), "{message}");
        assert!(!message.contains("lock timeout"), "{message}");
        assert!(
            error_chain(&err).contains("lock timeout"),
            "{}",
            error_chain(&err)
        );

        assert!(la.unlock(&key).await.unwrap());
        assert!(!la.unlock(&key).await.unwrap(), "released once");
        assert!(lb.try_lock(&key).await.unwrap());
    });
}

/// A server without the RDS roles (a lab PostgreSQL 16+): reading the connector's setup works
/// and says what is missing, instead of failing on `pg_has_role` of a role that does not exist.
#[test]
fn the_setup_reads_on_a_server_without_rds_iam() {
    let cluster = start(17, false);
    su(&cluster, "postgres", "DROP ROLE rds_iam");
    runtime().block_on(async {
        let c = connect(&cluster, cluster.connector(), "postgres").await;
        let setup = ConnectorSetup::read(&c.client).await.expect("setup read");
        assert!(setup.createrole);
        assert!(!setup.rds_iam);
        assert_eq!(setup.may_grant_rds_iam, Some(false));
        assert!(
            !setup
                .fixes(&id(rds::CONNECTOR), false)
                .iter()
                .any(|f| f.contains("rds_iam"))
        );
    });
}
