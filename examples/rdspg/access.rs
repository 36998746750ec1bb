//! What the access commands share: the manager with a progress spinner, flag parsing, the
//! exit code of a fleet operation, printing a document.

use std::fmt::Display;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use integration_model::{InstanceId, Integration};
use rds_pg_access::{AccessError, AccessManager, FleetReport};
use serde::Serialize;

use crate::output::{Failure, Output, print_json};

/// Parses a flag's value, naming the flag in the error.
pub(crate) fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, Failure>
where
    T::Err: Display,
{
    value
        .parse()
        .map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

/// The integration's manager, with a progress spinner on a terminal.
pub(crate) async fn manager(
    integration: Integration,
    output: Output,
) -> Result<AccessManager, Failure> {
    let manager = AccessManager::from_integration(integration)
        .await
        .map_err(|e| Failure::job_error(&e))?;
    Ok(match Progress::on_terminal(output) {
        Some(progress) => manager.with_observer(Arc::new(progress)),
        None => manager,
    })
}

/// A spinner on stderr counting instances as they finish, on a terminal in text mode only
/// (quiet with `--output json` or when not a terminal). Cleared when the manager is dropped.
#[derive(Debug)]
struct Progress {
    bar: indicatif::ProgressBar,
    done: AtomicUsize,
}

impl Progress {
    fn on_terminal(output: Output) -> Option<Self> {
        use std::io::IsTerminal;
        if output != Output::Text || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("working on the integration's instances");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(Self {
            bar,
            done: AtomicUsize::new(0),
        })
    }
}

impl rds_pg_access::FleetObserver for Progress {
    fn instance_finished(&self, instance: &InstanceId, outcome: Result<(), &AccessError>) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let state = if outcome.is_ok() { "done" } else { "failed" };
        self.bar
            .set_message(format!("{n} instance(s) finished; {instance} {state}"));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Exit 0 when every instance succeeded, 1 otherwise; failures printed one line each on stderr.
pub(crate) fn fleet_exit<T>(report: &FleetReport<T>) -> ExitCode {
    let mut failed = false;
    for (instance, error) in report.failures() {
        failed = true;
        eprintln!("rdspg: {instance}: {}", Failure::job_error(error).message());
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints a document: JSON, or its text lines.
pub(crate) fn print_doc<D: Serialize + Display>(doc: &D, output: Output) -> Result<(), Failure> {
    match output {
        Output::Json => print_json(doc),
        Output::Text => {
            print!("{doc}");
            Ok(())
        }
    }
}
