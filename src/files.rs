//! Settings and policy files as a connector reads them: bounded (1 MiB), regular files only
//! (never a FIFO, device or directory), UTF-8; settings as TOML, or JSON when the name ends in
//! `.json`. The reading itself is [`pg_auth::file::read_bounded`], the one bounded reader of
//! the workspace (CA bundles go through it too).

use std::path::Path;

use integration_model::Settings;
use pg_auth::file::{FileError, read_bounded};

/// The largest settings or policy file read, in bytes (1 MiB): far more than any real
/// configuration, small enough that `/dev/zero` or a huge file cannot exhaust memory.
pub const MAX_SETTINGS_FILE_SIZE: u64 = 1024 * 1024;

/// Why a settings or policy file could not be used; the message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsFileError {
    /// The file could not be read (not a regular file, too large, missing, unreadable).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: FileError,
    },
    /// The file is not UTF-8 text.
    #[error("cannot read {path}: not UTF-8 text")]
    NotText {
        /// The file.
        path: String,
    },
    /// The settings do not validate (the source names the key path and the rule).
    #[error("{path}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        #[source]
        source: integration_model::ModelError,
    },
}

/// The text of a settings or policy file.
///
/// # Errors
/// [`SettingsFileError::Read`] or [`SettingsFileError::NotText`], naming the file.
pub fn read_text_file(path: &Path) -> Result<String, SettingsFileError> {
    let bytes =
        read_bounded(path, MAX_SETTINGS_FILE_SIZE).map_err(|source| SettingsFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
    String::from_utf8(bytes).map_err(|_| SettingsFileError::NotText {
        path: path.display().to_string(),
    })
}

/// Reads and validates a settings file: TOML, or JSON when the name ends in `.json`.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("orders.toml");
/// std::fs::write(&path, "name = \"orders\"\nregion = \"eu-west-1\"\nauth = \"iam\"\n[instance]\nid = \"orders-db\"\n")?;
/// let settings = rds_pg_access::load_settings(&path)?;
/// assert!(settings.get("orders").is_some());
/// assert!(rds_pg_access::load_settings(dir.path()).is_err()); // a directory
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`SettingsFileError`], naming the file (and, when invalid, the key path).
pub fn load_settings(path: &Path) -> Result<Settings, SettingsFileError> {
    let text = read_text_file(path)?;
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        Settings::from_json_str(&text)
    } else {
        Settings::from_toml_str(&text)
    };
    parsed.map_err(|source| SettingsFileError::Invalid {
        path: path.display().to_string(),
        source,
    })
}
