//! With every log level on (`RUST_LOG=trace`, and the `log` records of tokio-postgres bridged
//! into tracing), no password and no part of a SCRAM verifier reaches the process's logs.
//!
//! tokio-postgres logs at DEBUG the text of every `batch_execute`/`simple_query`
//! (`executing statement batch: …`), every prepared query (`preparing query …`) and the `Debug`
//! of every bound parameter (`executing statement … with parameters: […]`). A verifier is not
//! the password, but it is enough for an offline guessing attack and, with its StoredKey,
//! enough to log in to a server that accepts it, so it must never be written anywhere.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{AccessLevel, ManagedRecord, Session, Settings};
use pg_testkit::{ALL_VERSIONS, for_each_version, rds};
use secrecy::{ExposeSecret, SecretString};
use time::macros::datetime;

/// Everything every subscriber layer wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

/// Installs the process-wide subscriber: TRACE for every target, `log` records included
/// (`try_init` installs the `tracing-log` bridge).
fn capture_everything() -> Captured {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    captured
}

/// The parts of a stored `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` verifier.
fn verifier_parts(stored: &str) -> Vec<String> {
    let rest = stored
        .strip_prefix("SCRAM-SHA-256$")
        .unwrap_or_else(|| panic!("not a SCRAM verifier: {stored}"));
    let (iter_salt, keys) = rest.split_once('$').expect("verifier shape");
    let (_, salt) = iter_salt.split_once(':').expect("verifier shape");
    let (stored_key, server_key) = keys.split_once(':').expect("verifier shape");
    vec![
        stored.to_owned(),
        salt.to_owned(),
        stored_key.to_owned(),
        server_key.to_owned(),
    ]
}

#[test]
fn no_password_or_verifier_reaches_the_logs_at_trace() {
    let captured = capture_everything();
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        let mut secrets: Vec<String> = Vec::new();
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            let name = Ident::new("dora").unwrap();
            let first = Password::generate();
            let record = ManagedRecord::new(
                "req-dora",
                AccessLevel::ReadOnly,
                datetime!(2099-01-01 0:00 UTC),
                rds::CONNECTOR,
            );
            s.create_role(&NewRole::new(
                name.clone(),
                LoginAuth::Password(first.clone()),
                record,
            ))
            .await
            .unwrap();
            secrets.push(first.expose().expose_secret().to_owned());
            secrets.extend(verifier_parts(&su(
                &cluster,
                "postgres",
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'dora'",
            )));

            let second = Password::generate();
            s.set_password(&name, &second).await.unwrap();
            secrets.push(second.expose().expose_secret().to_owned());
            secrets.extend(verifier_parts(&su(
                &cluster,
                "postgres",
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'dora'",
            )));
            let third = s.rotate_password(&name).await.unwrap();
            secrets.push(third.expose().expose_secret().to_owned());
            secrets.extend(verifier_parts(&su(
                &cluster,
                "postgres",
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'dora'",
            )));
            // The requester logs in with the last one: the password really was set.
            try_connect(
                &cluster,
                "dora",
                third.expose().expose_secret(),
                rds::APP_DB,
            )
            .await
            .expect("dora logs in with the rotated password");

            // The connector's own password (rotation), set to the same value so the cluster
            // stays usable.
            let own =
                Password::from_secret(SecretString::from(cluster.connector().password.clone()));
            s.set_own_password(&own).await.unwrap();
            secrets.extend(verifier_parts(&su(
                &cluster,
                "postgres",
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'apono_connector'",
            )));
            try_connect(
                &cluster,
                rds::CONNECTOR,
                &cluster.connector().password,
                rds::APP_DB,
            )
            .await
            .expect("the connector logs in with its password");

            // A password change the server refuses (a marked superuser role: only superusers
            // may alter it): the error, as shown and as debugged, carries no verifier either
            // (the inner ALTER ROLE's context would quote it).
            let admin = if v >= 16 {
                "GRANT vic TO apono_connector WITH ADMIN OPTION;"
            } else {
                ""
            };
            su(
                &cluster,
                "postgres",
                &format!(
                    "CREATE ROLE vic SUPERUSER NOLOGIN; GRANT rdspg_managed TO vic; {admin} \
                     COMMENT ON ROLE vic IS '{{\"rdspg\":1,\"request_id\":\"req-vic\",\"level\":\"read-only\",\"expires_at\":\"2099-01-01T00:00:00Z\",\"creator\":\"apono_connector\"}}'"
                ),
            );
            let err = s
                .set_password(&Ident::new("vic").unwrap(), &Password::generate())
                .await
                .expect_err("altering a superuser's password is refused");
            let shown = format!("{err} / {err:?}");
            assert!(shown.to_lowercase().contains("superuser"), "{shown}");
            assert!(!shown.contains("SCRAM-SHA-256$"), "verifier in the error: {shown}");
        });
        let logs = captured.text();
        // The capture works: tokio-postgres' own debug records are in it.
        assert!(
            logs.contains("executing statement batch") || logs.contains("preparing query"),
            "the log bridge must capture tokio-postgres' statements at DEBUG"
        );
        assert!(
            logs.contains("dora"),
            "the statements about the role are logged"
        );
        let leaked: Vec<&String> = secrets
            .iter()
            .filter(|s| logs.contains(s.as_str()))
            .collect();
        let lines: Vec<&str> = logs
            .lines()
            .filter(|l| {
                leaked.iter().any(|s| l.contains(s.as_str())) || l.contains("SCRAM-SHA-256$")
            })
            .collect();
        assert!(
            leaked.is_empty() && lines.is_empty(),
            "PostgreSQL {v}: {} secret part(s) found in the logs, in:\n{}",
            leaked.len(),
            lines.join("\n")
        );
    });
}
