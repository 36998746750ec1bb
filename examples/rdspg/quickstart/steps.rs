//! The quickstart's steps: a line each (with a spinner while it runs, on a terminal in text
//! mode), or one JSON document.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::output::{Failure, Output, print_json};

/// Prints one line per step (with a spinner while it runs, on a terminal in text mode), or
/// collects the steps for one JSON document.
pub(super) struct Steps {
    pub(super) output: Output,
    pub(super) spinner: bool,
    done: Vec<serde_json::Value>,
}

impl Steps {
    pub(super) fn new(output: Output) -> Self {
        Self {
            output,
            spinner: output == Output::Text && std::io::stdout().is_terminal(),
            done: Vec::new(),
        }
    }

    /// Runs `step`; `Ok(detail)` is a step that did what it says.
    pub(super) fn run<T>(
        &mut self,
        name: &str,
        step: impl FnOnce() -> Result<(T, String), String>,
    ) -> Result<T, Failure> {
        let bar = self.spinner.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(name.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        let result = step();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let (ok, detail, value) = match result {
            Ok((value, detail)) => (true, detail, Some(value)),
            Err(detail) => (false, detail, None),
        };
        match self.output {
            Output::Text => println!("{} {name}: {detail}", if ok { "ok  " } else { "FAIL" }),
            Output::Json => self
                .done
                .push(json!({ "step": name, "ok": ok, "detail": detail })),
        }
        value.ok_or_else(|| Failure::job(format!("quickstart step {name:?} failed: {detail}")))
    }

    pub(super) fn finish(self, failure: Option<Failure>) -> Result<ExitCode, Failure> {
        if self.output == Output::Json {
            print_json(&json!({ "ok": failure.is_none(), "steps": self.done }))?;
        }
        match failure {
            None => Ok(ExitCode::SUCCESS),
            Some(f) => Err(f),
        }
    }
}
