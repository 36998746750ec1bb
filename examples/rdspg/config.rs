//! Reading settings files, and `rdspg validate`.

use std::path::Path;
use std::process::ExitCode;

use integration_model::Settings;

use crate::cli::ValidateArgs;
use crate::output::{Failure, Output, print_json};

/// Reads a settings or policy file (bounded, a regular file, UTF-8): the library's reader.
pub(crate) fn read_bounded(path: &Path) -> Result<String, Failure> {
    rds_pg_access::read_text_file(path).map_err(|e| Failure::usage(rds_pg_access::error_chain(&e)))
}

/// Reads and validates a settings file: TOML, or JSON when the name ends in `.json`.
pub(crate) fn load_settings(path: &Path) -> Result<Settings, Failure> {
    rds_pg_access::load_settings(path).map_err(|e| Failure::usage(rds_pg_access::error_chain(&e)))
}

pub(crate) fn run_validate(args: &ValidateArgs, output: Output) -> Result<ExitCode, Failure> {
    let settings = load_settings(&args.config)?;
    match output {
        Output::Json => print_json(&settings)?,
        Output::Text => {
            for integration in settings.integrations() {
                println!("{}: valid", integration.name());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The integration `args` name: the only one of the file, or the one `--integration` names.
pub(crate) fn load_integration(
    args: &crate::cli::ConfigArgs,
) -> Result<integration_model::Integration, Failure> {
    let settings = load_settings(&args.config)?;
    let names = || {
        settings
            .integrations()
            .iter()
            .map(|i| i.name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &args.integration {
        Some(name) => settings.get(name).cloned().ok_or_else(|| {
            Failure::usage(format!(
                "--integration {name:?}: {} has no such integration (it has: {})",
                args.config.display(),
                names()
            ))
        }),
        None => match settings.integrations() {
            [only] => Ok(only.clone()),
            _ => Err(Failure::usage(format!(
                "{} holds several integrations ({}): choose one with --integration NAME",
                args.config.display(),
                names()
            ))),
        },
    }
}
