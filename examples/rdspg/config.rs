//! Reading settings files, and `rdspg validate`.

use std::path::Path;
use std::process::ExitCode;

use integration_model::Settings;

use crate::cli::ValidateArgs;
use crate::output::{Failure, Output, print_json};

/// Reads and validates a settings file: TOML, or JSON when the name ends in `.json`.
pub(crate) fn load_settings(path: &Path) -> Result<Settings, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        Settings::from_json_str(&text)
    } else {
        Settings::from_toml_str(&text)
    };
    parsed.map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
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
