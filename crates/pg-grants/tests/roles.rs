//! Role lifecycle against real PostgreSQL with RDS emulation (the connector is not superuser).

mod common;

use common::*;
use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{AccessLevel, CreateOutcome, GrantsError, ManagedRecord, Session, Settings};
use pg_testkit::{ALL_VERSIONS, for_each_version, rds};
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use time::macros::datetime;

fn record(request: &str, expires: OffsetDateTime) -> ManagedRecord {
    ManagedRecord::new(request, AccessLevel::ReadOnly, expires, rds::CONNECTOR)
}

fn id(s: &str) -> Ident {
    Ident::new(s).expect("valid identifier in test")
}

#[test]
fn password_role_logs_in_and_the_plaintext_never_reaches_the_server_log() {
    for_each_version(&[15], |v| {
        let cluster = start(v, true);
        let plain = runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            let pw = Password::generate();
            let plain = pw.expose().expose_secret().to_owned();
            let name = "Alice \"the analyst\"; --";
            let new = NewRole::new(
                id(name),
                LoginAuth::Password(pw.clone()),
                record("req-1", datetime!(2099-01-01 0:00 UTC)),
            );
            assert_eq!(s.create_role(&new).await.unwrap(), CreateOutcome::Created);
            // The requester logs in with the plaintext over a real connection.
            let client = try_connect(&cluster, name, &plain, rds::APP_DB)
                .await
                .unwrap();
            let who: String = client
                .query_one("SELECT current_user::text", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(who, name);
            // A wrong password is refused.
            assert!(
                try_connect(
                    &cluster,
                    name,
                    "wrong-password-wrong-password-xx",
                    rds::APP_DB
                )
                .await
                .is_err()
            );
            plain
        });
        let log = cluster.server_log().unwrap();
        assert!(
            log.contains("CREATE ROLE"),
            "statement logging must be on for this test to mean anything"
        );
        // The server stored a verifier, and it travelled as COPY data: in no log line, not
        // even as a bound parameter (issue 15, secret hygiene).
        let stored = su(
            &cluster,
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'Alice \"the analyst\"; --'",
        );
        assert!(stored.trim().starts_with("SCRAM-SHA-256$4096:"), "{stored}");
        assert!(
            log.contains("COPY pg_temp.rdspg_verifier FROM STDIN"),
            "the verifier went as COPY data"
        );
        assert!(
            !log.contains(stored.trim()) && !log.contains("SCRAM-SHA-256$"),
            "a verifier in the server log"
        );
        assert!(
            !log.contains(&plain),
            "plaintext password found in the server log"
        );
    });
}

#[test]
fn rotated_passwords_work_and_never_reach_the_server_log() {
    for_each_version(&[17], |v| {
        let cluster = start(v, true);
        let plain = runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap();
            let pw = Password::generate();
            let new = NewRole::new(
                id("bob"),
                LoginAuth::Password(pw.clone()),
                record("req-2", datetime!(2099-01-01 0:00 UTC)),
            );
            s.create_role(&new).await.unwrap();
            let rotated = s.rotate_password(&id("bob")).await.unwrap();
            let old = pw.expose().expose_secret().to_owned();
            let new_pw = rotated.expose().expose_secret().to_owned();
            assert!(
                try_connect(&cluster, "bob", &old, rds::APP_DB)
                    .await
                    .is_err(),
                "old password must stop working"
            );
            try_connect(&cluster, "bob", &new_pw, rds::APP_DB)
                .await
                .unwrap();
            vec![old, new_pw]
        });
        let log = cluster.server_log().unwrap();
        // The verifier travels as COPY data (which no server log records), never in the
        // statement text nor as a bound parameter.
        assert!(
            log.contains("COPY pg_temp.rdspg_verifier FROM STDIN"),
            "statement logging is on"
        );
        assert!(
            !log.contains("SCRAM-SHA-256$"),
            "a verifier in the server log"
        );
        assert!(
            !log.contains("WITH PASSWORD 'SCRAM-SHA-256$"),
            "verifier in statement text"
        );
        for p in plain {
            assert!(
                !log.contains(&p),
                "plaintext password found in the server log"
            );
        }
    });
}

/// Snapshot of what the refused operations could have changed.
fn role_snapshot(cluster: &pg_testkit::TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolvaliduntil, md5(coalesce(rolpassword, '')), shobj_description(oid, 'pg_authid'), \
         (SELECT string_agg(roleid::regrole::text, ',' ORDER BY 1) FROM pg_auth_members WHERE member = a.oid) \
         FROM pg_authid a WHERE rolname = '{role}'"
        ),
    )
}

#[test]
fn lifecycle_marks_refusals_and_iam_per_version() {
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap().with_notices(c.notices.clone());
            assert_eq!(s.rules().version().major(), v);

            // Create with marks.
            let expires = datetime!(2099-03-04 05:06:07 UTC);
            let new = NewRole::new(id("carol"), LoginAuth::Password(Password::generate()), record("req-c", expires))
                .connection_limit(2);
            assert_eq!(s.create_role(&new).await.unwrap(), CreateOutcome::Created);
            let row = su(&cluster, "postgres", "SELECT rolcanlogin, rolconnlimit, rolvaliduntil AT TIME ZONE 'UTC', \
                shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'carol'");
            assert_eq!(row, "t|2|2099-03-04 05:06:07|{\"rdspg\":2,\"creator\":\"apono_connector\",\"grants\":[{\"request_id\":\"req-c\",\"level\":\"read-only\",\"expires_at\":\"2099-03-04T05:06:07Z\"}]}");
            // The mark: the marker is a member of carol, carol is not a member of the marker.
            assert_eq!(su(&cluster, "postgres", "SELECT pg_has_role('rdspg_managed', 'carol', 'MEMBER'), pg_has_role('carol', 'rdspg_managed', 'MEMBER')"), "t|f");
            assert_eq!(su(&cluster, "postgres", "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'rdspg_managed'"), "f");
            let managed = s.managed_role(&id("carol")).await.unwrap();
            assert_eq!(managed.record.grants[0].request_id, "req-c");

            // Same request again: nothing changes; another request: a second grant of the
            // same user; the same request id for another level: refused.
            assert!(matches!(s.create_role(&new).await.unwrap(), CreateOutcome::AlreadyExists(_)));
            assert_eq!(s.managed_role(&id("carol")).await.unwrap().record, managed.record);
            let other = NewRole::new(id("carol"), LoginAuth::Password(Password::generate()), record("req-other", expires));
            assert!(matches!(s.create_role(&other).await.unwrap(), CreateOutcome::AlreadyExists(_)));
            let both = s.managed_role(&id("carol")).await.unwrap().record;
            assert_eq!(both.grants.iter().map(|g| g.request_id.as_str()).collect::<Vec<_>>(), ["req-c", "req-other"]);
            let mut changed = record("req-other", expires);
            changed.grants[0].level = AccessLevel::Admin;
            let changed = NewRole::new(id("carol"), LoginAuth::Iam, changed);
            assert!(matches!(s.create_role(&changed).await, Err(GrantsError::RequestConflict { .. })));
            assert_eq!(s.managed_role(&id("carol")).await.unwrap().record, both);

            // Extend / shorten.
            let shorter = datetime!(2098-01-01 00:00:00 UTC);
            s.set_expiry(&id("carol"), shorter).await.unwrap();
            assert_eq!(su(&cluster, "postgres", "SELECT rolvaliduntil AT TIME ZONE 'UTC' FROM pg_roles WHERE rolname = 'carol'"), "2098-01-01 00:00:00");
            assert_eq!(s.managed_role(&id("carol")).await.unwrap().record.expires_at(), shorter);
            let listed: Vec<String> = s.managed_roles().await.unwrap().into_iter().map(|r| r.name.to_string()).collect();
            assert_eq!(listed, ["carol"]);
            assert!(s.expired_roles(datetime!(2098-06-01 0:00 UTC)).await.unwrap().len() == 1);
            assert!(s.expired_roles(datetime!(2097-06-01 0:00 UTC)).await.unwrap().is_empty());

            // Unmarked roles are refused and unchanged: the master user and the connector itself.
            for victim in [rds::MASTER, rds::CONNECTOR, rds::APP_OWNER] {
                let before = role_snapshot(&cluster, victim);
                let err = s.set_expiry(&id(victim), shorter).await.unwrap_err();
                assert!(matches!(err, GrantsError::NotManaged { .. }), "{err}");
                assert!(err.to_string().contains("refusing"), "{err}");
                assert!(matches!(s.rotate_password(&id(victim)).await, Err(GrantsError::NotManaged { .. })));
                assert!(matches!(s.apply(&id(victim), &[]).await, Err(GrantsError::NotManaged { .. })));
                assert_eq!(role_snapshot(&cluster, victim), before, "{victim} changed");
            }
            // A marked role whose comment was replaced is refused too.
            su(&cluster, "postgres", "CREATE ROLE fake LOGIN; GRANT rdspg_managed TO fake; COMMENT ON ROLE fake IS 'hello'");
            assert!(matches!(s.set_expiry(&id("fake"), shorter).await, Err(GrantsError::InvalidRecord { .. })));

            // IAM with the RDS setup as it is (on 16+ rds_superuser holds ADMIN on rds_iam).
            let iam = NewRole::new(id("dave@corp.io"), LoginAuth::Iam, record("req-d", expires));
            assert_eq!(s.create_role(&iam).await.unwrap(), CreateOutcome::Created);
            assert_eq!(su(&cluster, "postgres", "SELECT pg_has_role('dave@corp.io', 'rds_iam', 'MEMBER'), rolpassword IS NULL FROM pg_authid WHERE rolname = 'dave@corp.io'"), "t|t");
        });
    });
}

/// Everything the refused IAM grant could have changed: roles, memberships, comments.
fn roles_snapshot(cluster: &pg_testkit::TestCluster) -> String {
    su(
        cluster,
        "postgres",
        "SELECT (SELECT string_agg(rolname || ':' || coalesce(shobj_description(oid, 'pg_authid'), ''), ',' ORDER BY rolname) FROM pg_authid), \
                (SELECT string_agg(roleid::regrole || '>' || member::regrole, ',' ORDER BY 1) FROM pg_auth_members)",
    )
}

#[test]
fn iam_grant_needs_admin_option_on_rds_iam_from_16() {
    // PG 16 release notes: granting membership needs ADMIN OPTION, CREATEROLE no longer suffices.
    // Same setup on every version: the connector holds no ADMIN OPTION on rds_iam, by any path.
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        if v >= 16 {
            su(
                &cluster,
                "postgres",
                "REVOKE ADMIN OPTION FOR rds_iam FROM rds_superuser",
            );
        }
        assert_eq!(
            su(
                &cluster,
                "postgres",
                "SELECT pg_has_role('apono_connector', 'rds_iam', 'MEMBER WITH ADMIN OPTION')"
            ),
            "f"
        );
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap().with_notices(c.notices.clone());
            let iam = NewRole::new(id("erin"), LoginAuth::Iam, record("req-e", datetime!(2099-01-01 0:00 UTC)));
            if v >= 16 {
                let before = roles_snapshot(&cluster);
                let err = s.create_role(&iam).await.unwrap_err();
                match &err {
                    GrantsError::CannotGrantRole { fix_sql, role, .. } => {
                        assert_eq!(role, "rds_iam");
                        assert_eq!(fix_sql, r#"GRANT "rds_iam" TO "apono_connector" WITH ADMIN OPTION;"#);
                    }
                    other => panic!("{v}: {other}"),
                }
                assert!(err.to_string().contains("WITH ADMIN OPTION"), "{err}");
                assert_eq!(roles_snapshot(&cluster), before, "{v}: the refused grant changed something");
                // The fix, run by an administrator, is enough.
                su(&cluster, "postgres", r#"GRANT "rds_iam" TO "apono_connector" WITH ADMIN OPTION;"#);
            }
            // On 15, CREATEROLE alone grants rds_iam.
            assert_eq!(s.create_role(&iam).await.unwrap(), CreateOutcome::Created);
            assert_eq!(
                su(&cluster, "postgres", "SELECT pg_has_role('erin', 'rds_iam', 'MEMBER'), rolpassword IS NULL FROM pg_authid WHERE rolname = 'erin'"),
                "t|t"
            );
        });
    });
}

#[test]
fn awkward_names_reach_the_server_exactly() {
    for_each_version(&[18], |v| {
        // Quoting checked by the server itself: each name is created and read back unchanged.
        let cluster = start(v, false);
        let names = [
            "UPPER lower",
            "semi;colon -- comment",
            "quote\"double",
            "quote'single",
            "back\\slash\\'",
            "$$dollar$$",
            "🐘 elephant",
            &"é".repeat(31),                  // 62 bytes
            &format!("{}x", "🐘".repeat(15)), // 61 bytes
            &"a".repeat(63),
        ];
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap();
            for (i, name) in names.iter().enumerate() {
                let new = NewRole::new(
                    id(name),
                    LoginAuth::Iam,
                    record(&format!("req-{i}"), datetime!(2099-01-01 0:00 UTC)),
                );
                s.create_role(&new).await.unwrap();
                let back: String = c
                    .client
                    .query_one(
                        "SELECT rolname::text FROM pg_roles WHERE rolname = $1",
                        &[name],
                    )
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(&back, name);
            }
            let managed = s.managed_roles().await.unwrap();
            assert_eq!(managed.len(), names.len());
        });
        // 64 bytes never reaches the server.
        assert!(Ident::new("a".repeat(64)).is_err());
    });
}

/// Where the connector may not create temporary tables (`REVOKE TEMPORARY … FROM PUBLIC`), the
/// verifier falls back to a bound parameter: the password is still set and works; the server
/// logs that parameter under `log_statement = 'all'` (the one case where it does: give the
/// connector `TEMPORARY` on the database to avoid it).
#[test]
fn without_temporary_tables_the_verifier_is_bound_and_the_password_works() {
    for_each_version(&[15], |v| {
        let cluster = start(v, true);
        su(
            &cluster,
            "postgres",
            &format!("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC", rds::APP_DB),
        );
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap();
            let pw = Password::generate();
            let new = NewRole::new(
                id("tmpless"),
                LoginAuth::Password(pw.clone()),
                record("req-3", datetime!(2099-01-01 0:00 UTC)),
            );
            assert_eq!(s.create_role(&new).await.unwrap(), CreateOutcome::Created);
            try_connect(
                &cluster,
                "tmpless",
                pw.expose().expose_secret(),
                rds::APP_DB,
            )
            .await
            .unwrap();
        });
        let log = cluster.server_log().unwrap();
        assert!(
            !log.contains("COPY pg_temp.rdspg_verifier"),
            "no temporary table"
        );
        assert!(log.contains("pg_catalog.set_config('rdspg.verifier', $1, true)"));
    });
}

#[test]
fn a_copy_row_escapes_what_copy_text_format_reads_specially() {
    // Through the public behaviour: a role whose name holds a tab, a backslash and a line
    // break gets its password (the name travels in the same COPY row).
    for_each_version(&[15], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap();
            let name = "tab\there back\\slash\nline \\.";
            let pw = Password::generate();
            let new = NewRole::new(
                id(name),
                LoginAuth::Password(pw.clone()),
                record("req-4", datetime!(2099-01-01 0:00 UTC)),
            );
            assert_eq!(s.create_role(&new).await.unwrap(), CreateOutcome::Created);
            let rotated = s.rotate_password(&id(name)).await.unwrap();
            try_connect(
                &cluster,
                name,
                rotated.expose().expose_secret(),
                rds::APP_DB,
            )
            .await
            .unwrap();
        });
    });
}
