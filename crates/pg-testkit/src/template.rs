//! A cached `initdb` result per version, copied for each new cluster.
//!
//! `initdb` takes about a second, most of a cluster's start. The kit runs it once per
//! installation and server account into `/tmp/rdspg-testkit/templates/` (shared by the test
//! processes, built in a staging dir and renamed into place, so a half-written template is never
//! used) and copies that directory for each cluster. Where the cache cannot be used, the cluster
//! runs `initdb` itself.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use crate::TestkitError;
use crate::binaries::{KIT_TMP_ROOT, PgBinaries, make_public_dir};
use crate::os_user::ServerUser;
use crate::rds;

/// `initdb`'s options (besides `-D`); part of the template's cache key.
/// 1 MB WAL segments instead of 16 MB: a fresh data directory shrinks from ~39 MB to ~24 MB,
/// which is most of what each cluster start writes.
const INITDB_ARGS: [&str; 10] = [
    "-U",
    rds::SUPERUSER,
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--no-locale",
    "--no-sync",
    "--no-instructions",
    "--wal-segsize=1",
];

/// Creates `data_dir` with a fresh cluster: a copy of the cached template, or `initdb`.
pub(crate) fn init_data_dir(
    bins: &PgBinaries,
    user: ServerUser,
    data_dir: &Path,
) -> Result<(), TestkitError> {
    if let Ok(template) = cached_template(bins, user)
        && copy_private(&template, data_dir, user).is_ok()
    {
        return Ok(());
    }
    // Start from a clean directory if a copy failed halfway.
    if data_dir.exists() {
        fs::remove_dir_all(data_dir)
            .map_err(|e| TestkitError::io(format!("removing {}", data_dir.display()), e))?;
    }
    initdb(bins, user, data_dir)
}

/// `initdb` with the kit's fixed options; the bootstrap superuser is `rdsadmin`.
pub(crate) fn initdb(
    bins: &PgBinaries,
    user: ServerUser,
    data_dir: &Path,
) -> Result<(), TestkitError> {
    let mut cmd = Command::new(bins.program("initdb"));
    cmd.arg("-D")
        .arg(data_dir)
        .args(INITDB_ARGS)
        .stdin(Stdio::null());
    user.apply(&mut cmd);
    let output = cmd.output().map_err(|e| {
        TestkitError::io(format!("running {}", bins.program("initdb").display()), e)
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    stderr.push_str(&String::from_utf8_lossy(&output.stdout));
    Err(TestkitError::CommandFailed {
        program: "initdb".to_owned(),
        status: output.status.to_string(),
        context: format!(", data directory {}", data_dir.display()),
        stderr: stderr.trim_end().to_owned(),
    })
}

/// The template's data directory, made on first use.
fn cached_template(bins: &PgBinaries, user: ServerUser) -> Result<PathBuf, TestkitError> {
    // One initdb at a time in this process: parallel tests wait for the first one's template
    // instead of each making their own.
    static CREATING: Mutex<()> = Mutex::new(());
    let _guard = CREATING.lock().unwrap_or_else(PoisonError::into_inner);
    let meta = fs::metadata(bins.program("postgres"))
        .map_err(|e| TestkitError::io(format!("stat {}", bins.bin_dir.display()), e))?;
    let mut hasher = DefaultHasher::new();
    bins.bin_dir.hash(&mut hasher);
    meta.mtime().hash(&mut hasher);
    meta.size().hash(&mut hasher);
    INITDB_ARGS.hash(&mut hasher);
    let owner = match user {
        ServerUser::Switch { uid, .. } => uid,
        ServerUser::Current => fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX),
    };
    let base = Path::new(KIT_TMP_ROOT).join("templates");
    let dest = base.join(format!("{:016x}-u{owner}", hasher.finish()));
    if dest.join("PG_VERSION").is_file() {
        return Ok(dest);
    }
    make_public_dir(Path::new(KIT_TMP_ROOT))?;
    make_public_dir(&base)?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&base)
        .map_err(|e| {
            TestkitError::io(format!("creating a staging dir in {}", base.display()), e)
        })?;
    user.chown(staging.path())?;
    let staged = staging.path().join("data");
    initdb(bins, user, &staged)?;
    if fs::rename(&staged, &dest).is_err() && !dest.join("PG_VERSION").is_file() {
        return Err(TestkitError::io(
            format!("moving the initdb template into {}", dest.display()),
            std::io::Error::other("rename failed and no complete template exists"),
        ));
    }
    Ok(dest)
}

/// Copies a data directory: directories 0700, files 0600, everything owned by the server account.
fn copy_private(from: &Path, to: &Path, user: ServerUser) -> Result<(), TestkitError> {
    let io = |what: &str, p: &Path, e| TestkitError::io(format!("{what} {}", p.display()), e);
    fs::create_dir(to).map_err(|e| io("creating", to, e))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o700)).map_err(|e| io("chmod", to, e))?;
    user.chown(to)?;
    for entry in fs::read_dir(from).map_err(|e| io("reading", from, e))? {
        let entry = entry.map_err(|e| io("reading", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io("stat", &src, e))?;
        if kind.is_dir() {
            copy_private(&src, &dst, user)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst).map_err(|e| io("copying", &src, e))?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o600))
                .map_err(|e| io("chmod", &dst, e))?;
            user.chown(&dst)?;
        } else {
            // A fresh initdb has neither symlinks nor special files; do not guess.
            return Err(io(
                "unexpected file type in the initdb template",
                &src,
                std::io::Error::other("not a file or directory"),
            ));
        }
    }
    Ok(())
}
