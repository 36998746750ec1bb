//! Output format, exit codes and the one-line failure message.

use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Human-readable lines.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Why a command did not succeed; each kind has its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or bad settings: exit 2.
    Usage(String),
    /// The job ran and failed: exit 1.
    Job(String),
}

impl Failure {
    pub(crate) fn usage(message: impl std::fmt::Display) -> Self {
        Failure::Usage(bounded_line(&integration_model::one_line(
            &message.to_string(),
        )))
    }

    pub(crate) fn job(message: impl std::fmt::Display) -> Self {
        Failure::Job(bounded_line(&integration_model::one_line(
            &message.to_string(),
        )))
    }

    /// A job failure from an error, with its chain of causes (`error: cause: cause`).
    pub(crate) fn job_error(error: &(dyn std::error::Error + 'static)) -> Self {
        Failure::job(rds_pg_access::error_chain(error))
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Job(m) => m,
        }
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Job(_) => ExitCode::from(1),
        }
    }
}

/// The longest failure line printed, in bytes: a message that echoes a huge value (a 1 MiB
/// setting, a 100 KiB argument) keeps its start (what is wrong, where) and its end (the rule),
/// with the middle left out.
pub(crate) const MAX_LINE: usize = 2048;

/// `line` when it fits in [`MAX_LINE`] bytes; otherwise its first and last parts with
/// `[… N bytes left out …]` between them (cut at character boundaries).
pub(crate) fn bounded_line(line: &str) -> String {
    if line.len() <= MAX_LINE {
        return line.to_owned();
    }
    let floor = |mut at: usize| {
        while !line.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let head = floor(MAX_LINE / 2);
    let tail = floor(line.len() - MAX_LINE / 4);
    let (start, end) = (&line[..head], &line[tail..]);
    format!(
        "{start}[… {} bytes left out …]{end}",
        line.len() - start.len() - end.len()
    )
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::job(format!("cannot render JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A current-thread Tokio runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::job(format!("cannot start the async runtime: {e}")))
}
