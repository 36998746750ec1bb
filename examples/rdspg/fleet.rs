//! `rdspg inventory|sync|check|sweep`: the integration's whole fleet.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;

use integration_model::InstanceId;
use rds_pg_access::InventoryEntry;
use rds_pg_access::document::{InventoryLine, SweepDocument};

use crate::access::{fleet_exit, manager, print_doc};
use crate::cli::ConfigArgs;
use crate::config::load_integration;
use crate::output::{Failure, Output, runtime};

/// Prints the inventory as it streams: a line (or a JSON object per line with `--output json`)
/// per database, schema and table.
pub(crate) fn run_inventory(
    args: &ConfigArgs,
    output: Output,
    sync: bool,
) -> Result<ExitCode, Failure> {
    let integration = load_integration(args)?;
    let stdout = Mutex::new(std::io::stdout());
    let print = |instance: &InstanceId, database: &str, entry: &InventoryEntry| {
        let line = InventoryLine::new(instance, database, entry);
        let text = match output {
            Output::Json => serde_json::to_string(&line).unwrap_or_default(),
            Output::Text => line.to_string(),
        };
        if let Ok(mut out) = stdout.lock() {
            let _ = writeln!(out, "{text}");
        }
    };
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        let report = if sync {
            manager.sync(print).await
        } else {
            manager.inventory(print).await
        };
        report.map_err(|e| Failure::job_error(&e))
    })?;
    Ok(fleet_exit(&report))
}

pub(crate) fn run_check(args: &ConfigArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(args)?;
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        manager.check().await.map_err(|e| Failure::job_error(&e))
    })?;
    print_doc(&report, output)?;
    Ok(if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn run_sweep(args: &ConfigArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(args)?;
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        manager.sweep().await.map_err(|e| Failure::job_error(&e))
    })?;
    let doc = SweepDocument::new(&report);
    print_doc(&doc, output)?;
    let code = fleet_exit(&report);
    if !doc.all_revoked() {
        eprintln!(
            "rdspg: some expired users could not be revoked (see \"failed\"); the next sweep tries again"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(code)
}
