//! The administrator's part: the integration and manager, the check, the owner fix the
//! master user runs, and a sync.

use std::sync::Arc;

use integration_model::{Integration, Settings};
use pg_auth::StaticPassword;
use pg_testkit::TestCluster;
use rds_discovery::StaticDirectory;
use rds_pg_access::{AccessManager, IntegrationCredentials, error_chain};
use tokio::runtime::Runtime;

use super::server::Demo;
use super::steps::Steps;
use super::{DATABASE, SCHEMA};
use crate::output::Failure;

/// The connector's manager for the demo's cluster.
pub(super) fn manager(demo: &Demo) -> Result<AccessManager, Failure> {
    let cluster = &demo.cluster;
    let integration = integration(cluster, demo.ca.as_deref())
        .map_err(|e| Failure::job(format!("quickstart settings: {}", error_chain(&e))))?;
    let connector = cluster.connector().clone();
    AccessManager::new(
        integration.clone(),
        Arc::new(StaticDirectory::new()),
        Arc::new(IntegrationCredentials::shared(Arc::new(
            StaticPassword::new(connector.user.clone(), connector.password.clone().into()),
        ))),
    )
    .map_err(|e| Failure::job_error(&e))
}

/// Check, the owner fix, sync.
pub(super) fn prepare(
    rt: &Runtime,
    demo: &Demo,
    manager: &AccessManager,
    steps: &mut Steps,
) -> Result<(), Failure> {
    let cluster = &demo.cluster;
    let fixes = steps.run("check", || {
        let report = rt.block_on(manager.check()).map_err(|e| error_chain(&e))?;
        let mut fixes = Vec::new();
        let mut problems = Vec::new();
        for item in &report.items {
            match (item.ok, item.item, &item.fix) {
                (true, ..) => {}
                // Expected on a fresh RDS: the connector is not a member of the master user.
                (false, "owners", Some(fix)) if item.detail.contains("owned by postgres") => {
                    if item.detail.starts_with(&format!("database {DATABASE}:")) {
                        fixes.push(fix.clone());
                    }
                }
                (false, "owners", _) => {}
                (false, what, _) => problems.push(format!("{what}: {}", item.detail)),
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        if fixes.is_empty() {
            return Err(format!(
                "expected the check to report that the connector cannot grant on {SCHEMA} \
                 (owned by the master user)"
            ));
        }
        let detail = format!(
            "login, TLS, CREATEROLE and rds_superuser ok; the connector cannot yet grant on \
             objects the master user owns, fix: {}",
            fixes.join(" ")
        );
        Ok((fixes, detail))
    })?;

    steps.run("apply the fix as the master user", || {
        let master = cluster.master().clone();
        for fix in &fixes {
            cluster
                .sql_as(&master, DATABASE, fix)
                .map_err(|e| error_chain(&e))?;
        }
        let report = rt.block_on(manager.check()).map_err(|e| error_chain(&e))?;
        let still = report.items.iter().any(|i| {
            !i.ok
                && i.item == "owners"
                && i.detail.starts_with(&format!("database {DATABASE}:"))
                && i.detail.contains("owned by postgres")
        });
        if still {
            return Err("the check still reports objects the master user owns".to_owned());
        }
        Ok((
            (),
            format!("ran as postgres in {DATABASE}: {}", fixes.join(" ")),
        ))
    })?;

    steps.run("sync", || {
        let counts = std::sync::Mutex::new((0u64, 0u64, 0u64));
        let report = rt
            .block_on(manager.sync(|_, _, entry| {
                if let Ok(mut c) = counts.lock() {
                    match entry {
                        rds_pg_access::InventoryEntry::Database(_) => c.0 += 1,
                        rds_pg_access::InventoryEntry::Schema(_) => c.1 += 1,
                        rds_pg_access::InventoryEntry::Table(_) => c.2 += 1,
                        _ => {}
                    }
                }
            }))
            .map_err(|e| error_chain(&e))?;
        if let Some((_, e)) = report.failures().next() {
            return Err(error_chain(e));
        }
        let (d, s, t) = counts.lock().map(|c| *c).map_err(|e| e.to_string())?;
        if t == 0 {
            return Err("the inventory found no tables".to_owned());
        }
        Ok((
            (),
            format!("{d} databases, {s} schemas, {t} tables and views"),
        ))
    })?;

    Ok(())
}

/// The quickstart's integration: a fixed endpoint, password auth, `verify-full` with the
/// cluster's CA (or `disable` where the server has no TLS).
fn integration(
    cluster: &TestCluster,
    ca: Option<&std::path::Path>,
) -> Result<Integration, integration_model::ModelError> {
    let tls = match ca {
        Some(ca) => format!(
            "ssl_mode = \"verify-full\"\nssl_root_cert = {}\n",
            toml_string(&ca.display().to_string())
        ),
        None => "ssl_mode = \"disable\"\n".to_owned(),
    };
    let text = format!(
        "name = \"quickstart\"\nregion = \"us-east-1\"\nauth = \"password\"\n{tls}\
         [secret]\nenv = \"RDSPG_QUICKSTART_PASSWORD\"\n\
         [endpoint]\nhost = \"localhost\"\nport = {}\n",
        cluster.port()
    );
    let settings = Settings::from_toml_str(&text)?;
    Ok(settings.into_integrations().remove(0))
}

fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}
