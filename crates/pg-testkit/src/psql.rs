//! Running SQL through `psql`, and quoting for what the kit writes.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::TestkitError;
use crate::credentials::Credentials;

/// Where a psql session connects.
#[derive(Debug)]
pub(crate) struct Target {
    /// Host name, address, or socket directory.
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) sslmode: &'static str,
    /// For error messages ("unix socket", "TCP").
    pub(crate) description: &'static str,
}

/// Runs `sql` (one or more statements, fed on stdin) with `psql -X -A -t -q -v ON_ERROR_STOP=1`
/// and returns stdout without its trailing newlines.
pub(crate) fn run(
    psql: &Path,
    target: &Target,
    creds: &Credentials,
    database: &str,
    sql: &str,
) -> Result<String, TestkitError> {
    let mut cmd = Command::new(psql);
    clean_pg_env(&mut cmd);
    let conninfo = format!(
        "host={} port={} user={} dbname={} sslmode={} connect_timeout=10",
        conninfo_value(&target.host),
        target.port,
        conninfo_value(&creds.user),
        conninfo_value(database),
        target.sslmode,
    );
    // The password goes through the environment, not argv (visible in `ps`).
    cmd.env("PGPASSWORD", &creds.password)
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(conninfo)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = psql.display().to_string();
    let mut child = cmd
        .spawn()
        .map_err(|e| TestkitError::io(format!("starting {program}"), e))?;
    let stdin = child.stdin.take();
    // Write on another thread: psql prints while it reads, and a full stdout pipe would block it.
    let output = std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(mut stdin) = stdin {
                // psql may exit early (ON_ERROR_STOP); the error is reported from its output.
                let _ = stdin.write_all(sql.as_bytes());
            }
        });
        child.wait_with_output()
    })
    .map_err(|e| TestkitError::io(format!("running {program}"), e))?;
    if !output.status.success() {
        return Err(TestkitError::CommandFailed {
            program: "psql".to_owned(),
            status: output.status.to_string(),
            context: format!(
                ", database {database:?} as {:?} via {}",
                creds.user, target.description
            ),
            stderr: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_owned(),
        });
    }
    let mut out = String::from_utf8_lossy(&output.stdout).into_owned();
    let trimmed = out.trim_end_matches('\n').len();
    out.truncate(trimmed);
    Ok(out)
}

/// Removes every libpq variable of the caller, so that tests see only what they set, and keeps
/// libpq away from the user's password, service and configuration files.
pub(crate) fn clean_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PGPASSFILE", "/dev/null")
        .env("PGSYSCONFDIR", "/nonexistent")
        .env("PGSERVICEFILE", "/dev/null");
}

/// A libpq conninfo value, always quoted (`'` and `\` escaped).
pub(crate) fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A SQL identifier, always double-quoted.
pub(crate) fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A SQL string literal (standard_conforming_strings = on).
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(conninfo_value("a b'c\\"), r"'a b\'c\\'");
        assert_eq!(conninfo_value(""), "''");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
