//! Whether a directory may hold programs this process runs: the test kit and the quickstart
//! execute `postgres`, `initdb` and `psql` from the tools directory and from the mirror under
//! `/tmp` (as root, in containers). A directory another local user can write to, or replace,
//! would let that user choose what runs.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::os_user::current_euid;

/// `Ok` when `dir` is a real directory (not a symlink), owned by this process's effective user
/// or by root, and not writable by group or others; else why not, naming `dir`.
pub(crate) fn check_private_dir(dir: &Path) -> Result<(), String> {
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(format!(
            "{} is not a directory of its own (a symlink or a file)",
            dir.display()
        ));
    }
    let euid = current_euid().map_err(|e| e.to_string())?;
    if meta.uid() != euid && meta.uid() != 0 {
        return Err(format!(
            "{} is owned by uid {}, not by this user (uid {euid}) or root",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by group or others (mode {:o}): anyone could replace the programs in it",
            dir.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn only_own_unwritable_real_directories_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_private_dir(dir.path()).is_ok());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_private_dir(dir.path()).unwrap_err();
        assert!(err.contains("writable by group or others"), "{err}");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o775)).unwrap();
        assert!(check_private_dir(dir.path()).is_err());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let err = check_private_dir(&link).unwrap_err();
        assert!(err.contains("symlink"), "{err}");
        assert!(check_private_dir(&dir.path().join("missing")).is_err());
    }
}
