//! A requester's part: grant, log in and read, a refused write, revoke, the refused login.

use integration_model::{AccessDuration, AccessLevel, AccessRequest};
use pg_auth::{ConnectOptions, RootCertificates, SslMode, StaticPassword};
use pg_testkit::TestCluster;
use rds_pg_access::{AccessManager, error_chain};
use tokio::runtime::Runtime;

use super::server::Demo;
use super::steps::Steps;
use super::{DATABASE, SCHEMA, TABLE, USER};
use crate::output::Failure;

pub(super) fn walk(
    rt: &Runtime,
    demo: &Demo,
    manager: &AccessManager,
    steps: &mut Steps,
) -> Result<(), Failure> {
    let (cluster, ca, tls) = (&demo.cluster, demo.ca.as_deref(), demo.tls);
    let password = steps.run("grant", || {
        let request = AccessRequest::builder(
            USER.parse().map_err(|e| format!("{e}"))?,
            AccessLevel::ReadOnly,
            "5m".parse::<AccessDuration>().map_err(|e| format!("{e}"))?,
        )
        .resource(
            manager
                .resource_path(&format!("{DATABASE}/{SCHEMA}"))
                .map_err(|e| error_chain(&e))?,
        )
        .reason("rdspg quickstart")
        .build()
        .map_err(|e| error_chain(&e))?;
        let granted = rt
            .block_on(manager.grant(&request))
            .map_err(|e| error_chain(&e))?;
        if let Some((_, e)) = granted.instances.failures().next() {
            return Err(error_chain(e));
        }
        let password = granted
            .password
            .ok_or_else(|| "no password was issued".to_owned())?;
        let expires = granted
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| error_chain(&e))?;
        Ok((
            password,
            format!("read-only on {DATABASE}/{SCHEMA} to {USER}, valid until {expires}"),
        ))
    })?;

    let user_options = user_options(cluster, ca)?;
    let user_source = StaticPassword::new(USER, password.clone());
    steps.run("log in as the new user and read", || {
        let count: i64 = rt.block_on(async {
            let connection = pg_auth::connect(&user_options, &user_source)
                .await
                .map_err(|e| error_chain(&e))?;
            let row = connection
                .client()
                .query_one(&format!("SELECT count(*) FROM {TABLE}"), &[])
                .await
                .map_err(|e| error_chain(&e))?;
            row.try_get::<_, i64>(0).map_err(|e| e.to_string())
        })?;
        Ok((
            (),
            format!(
                "{USER} read {count} rows of {TABLE}{}",
                if tls { " over verified TLS" } else { "" }
            ),
        ))
    })?;

    steps.run("a write is refused", || {
        let refused = rt.block_on(async {
            let connection = pg_auth::connect(&user_options, &user_source)
                .await
                .map_err(|e| error_chain(&e))?;
            match connection
                .client()
                .execute(&format!("DELETE FROM {TABLE}"), &[])
                .await
            {
                Ok(n) => Err(format!("the DELETE was allowed and removed {n} rows")),
                Err(e)
                    if e.code()
                        == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
                {
                    Ok(e.as_db_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_owned()))
                }
                Err(e) => Err(format!(
                    "the DELETE failed, but not for lack of privileges: {}",
                    error_chain(&e)
                )),
            }
        })?;
        Ok(((), format!("DELETE FROM {TABLE}: {refused}")))
    })?;

    steps.run("revoke", || {
        let user = USER.parse().map_err(|e| format!("{e}"))?;
        let report = rt
            .block_on(manager.revoke(&user))
            .map_err(|e| error_chain(&e))?;
        let mut dropped = false;
        for outcome in report.results.values() {
            match outcome {
                Ok(r) => dropped |= r.dropped,
                Err(e) => return Err(error_chain(e)),
            }
        }
        if !dropped {
            return Err(format!("{USER} was not dropped"));
        }
        Ok((
            (),
            format!("{USER} dropped; it owned nothing, so nothing needed reassigning"),
        ))
    })?;

    steps.run("the login now fails", || {
        match rt.block_on(pg_auth::connect(&user_options, &user_source)) {
            Ok(_) => Err(format!("{USER} can still log in")),
            Err(e) => Ok(((), format!("refused: {}", error_chain(&e)))),
        }
    })?;

    Ok(())
}

fn user_options(
    cluster: &TestCluster,
    ca: Option<&std::path::Path>,
) -> Result<ConnectOptions, Failure> {
    let mut options = ConnectOptions::builder("localhost")
        .port(cluster.port())
        .dbname(DATABASE)
        .application_name("rdspg quickstart");
    options = match ca {
        Some(ca) => options.ssl_mode(SslMode::VerifyFull).root_certificates(
            RootCertificates::from_pem_file(ca).map_err(|e| Failure::job_error(&e))?,
        ),
        None => options.ssl_mode(SslMode::Disable),
    };
    options.build().map_err(|e| Failure::job_error(&e))
}
