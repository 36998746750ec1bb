//! The one error type of the kit.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while starting or using a test server.
///
/// Every message says what happened and what to do about it; the cause from a lower layer (an
/// I/O error, the certificate generator) is the [`source`](std::error::Error::source), not part
/// of the message. `Debug` prints the message and its sources joined with `: `, so that
/// `.unwrap()` in a test shows a readable message (with the server log tail on its own lines)
/// rather than escaped fields.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// The binaries of a PostgreSQL major version are not on this machine.
    #[error("PostgreSQL {version}: `{program}` not found (looked in: {searched}); {install_hint}")]
    BinariesNotFound {
        /// Requested major version.
        version: u32,
        /// The program looked for (`initdb`, `postgres`, ...).
        program: String,
        /// The places that were searched, joined by `, `.
        searched: String,
        /// The command that installs this version.
        install_hint: String,
    },
    /// No server binaries are installed and fetching them failed too.
    #[error(
        "PostgreSQL {version}: no server binaries found (looked in: {searched}) and fetching \
         them failed; {install_hint}"
    )]
    FetchFailed {
        /// Requested major version.
        version: u32,
        /// The places that were searched, joined by `, `.
        searched: String,
        /// The command that installs this version.
        install_hint: String,
        /// What failed while fetching (offline, unsupported platform, hash mismatch, ...).
        #[source]
        source: Box<crate::fetch::FetchError>,
    },
    /// A builder option has a value the kit cannot honour.
    #[error("invalid test cluster option `{option}`: {reason}")]
    InvalidOption {
        /// Name of the option (builder method).
        option: &'static str,
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// TLS was requested from binaries built without OpenSSL.
    #[error(
        "PostgreSQL {version} at {bin_dir} was built without OpenSSL, so `ssl(true)` cannot work; \
         run TLS tests on one of {tls_versions:?} (pg_testkit::TLS_VERSIONS)"
    )]
    TlsUnsupported {
        /// Requested major version.
        version: u32,
        /// Where the binaries are.
        bin_dir: PathBuf,
        /// Versions whose binaries support TLS.
        tls_versions: &'static [u32],
    },
    /// A file system or process operation failed.
    #[error("{action} failed")]
    Io {
        /// What the kit was doing, naming the path or program.
        action: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A helper program (`initdb`, `pg_ctl`, `psql`, `python3`, ...) exited with an error.
    #[error("`{program}` failed ({status}){context}:\n{stderr}")]
    CommandFailed {
        /// The program and what it was asked to do.
        program: String,
        /// Exit status as text.
        status: String,
        /// Extra context, e.g. the database and user of a SQL command (starts with `, ` when set).
        context: String,
        /// What the program printed on stderr (and the server log tail where relevant).
        stderr: String,
    },
    /// The server did not become ready, or exited while starting.
    #[error(
        "PostgreSQL {version} on port {port} did not start: {reason}\n--- server log (tail) ---\n{log_tail}"
    )]
    StartFailed {
        /// Major version.
        version: u32,
        /// Port it was asked to listen on.
        port: u16,
        /// Why the kit gave up.
        reason: String,
        /// The last lines of the server log.
        log_tail: String,
    },
    /// The unprivileged account the server must run as (PostgreSQL refuses root) is missing.
    #[error(
        "running as root, but user `{user}` (the unprivileged account the PostgreSQL server runs as) \
         is not in /etc/passwd; create it with `useradd --system {user}` or set RDSPG_TEST_OS_USER \
         to an existing unprivileged user"
    )]
    ServerUserMissing {
        /// Account name looked up.
        user: String,
    },
    /// Generating the test certificates failed.
    #[error("could not generate test certificate {what}")]
    Certificate {
        /// Which certificate (CA, server, other CA).
        what: &'static str,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// `moto_server` (or boto3) is not installed.
    #[error("`{program}` not found on PATH; install with: pip install 'moto[server]' boto3")]
    MotoNotFound {
        /// The missing program.
        program: String,
    },
    /// `moto_server` started but did not answer in time, or exited.
    #[error(
        "moto_server on port {port} did not start: {reason}\n--- moto_server output (tail) ---\n{log_tail}"
    )]
    MotoStartFailed {
        /// Port it was asked to listen on.
        port: u16,
        /// Why the kit gave up.
        reason: String,
        /// The last lines of its output.
        log_tail: String,
    },
}

impl fmt::Debug for TestkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl TestkitError {
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}
