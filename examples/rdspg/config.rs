//! Reading settings files, and `rdspg validate`.

use std::path::Path;
use std::process::ExitCode;

use integration_model::Settings;

use crate::cli::ValidateArgs;
use crate::output::{Failure, Output, print_json};

/// The largest settings file read, in bytes (1 MiB): far more than any real configuration,
/// small enough that `--config /dev/zero` or a huge file cannot exhaust memory.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads a settings or policy file: a regular file (not a device, FIFO or directory) of at
/// most [`MAX_CONFIG_BYTES`], as UTF-8.
pub(crate) fn read_bounded(path: &Path) -> Result<String, Failure> {
    use std::io::Read;
    let cannot = |why: String| Failure::usage(format!("cannot read {}: {why}", path.display()));
    let not_regular = || cannot("not a regular file (give a plain file)".to_owned());
    // Before opening: opening a FIFO blocks until someone writes to it.
    if !std::fs::metadata(path)
        .map_err(|e| cannot(e.to_string()))?
        .is_file()
    {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path).map_err(|e| cannot(e.to_string()))?;
    // And what was opened (the path may have been replaced in between).
    if !file
        .metadata()
        .map_err(|e| cannot(e.to_string()))?
        .is_file()
    {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(cannot(format!(
            "larger than the limit of {MAX_CONFIG_BYTES} bytes (1 MiB)"
        )));
    }
    String::from_utf8(bytes).map_err(|e| cannot(format!("not UTF-8 text: {e}")))
}

/// Reads and validates a settings file: TOML, or JSON when the name ends in `.json`; at most
/// 1 MiB, a regular file.
pub(crate) fn load_settings(path: &Path) -> Result<Settings, Failure> {
    let text = read_bounded(path)?;
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        Settings::from_json_str(&text)
    } else {
        Settings::from_toml_str(&text)
    };
    parsed.map_err(|e| Failure::usage(format!("{}: {}", path.display(), Failure::chain(&e))))
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
