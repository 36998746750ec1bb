//! The operating-system account the PostgreSQL server runs as.
//!
//! PostgreSQL refuses to run as root (`initdb: error: cannot be run as root`). When the tests run
//! as root, the kit runs `initdb`, `postgres` and `pg_ctl` as an unprivileged account (`nobody` by
//! default, or `RDSPG_TEST_OS_USER`) through `CommandExt::{uid, gid}`, and hands it the cluster's
//! private directory. Otherwise everything runs as the current user.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::TestkitError;

/// Environment variable naming the account to run the server as when the tests run as root.
pub(crate) const OS_USER_ENV: &str = "RDSPG_TEST_OS_USER";
const DEFAULT_OS_USER: &str = "nobody";

/// Who runs the server processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerUser {
    /// The current (non-root) user.
    Current,
    /// Switch to this uid/gid (we are root).
    Switch { uid: u32, gid: u32 },
}

impl ServerUser {
    /// Picks the account: the current user, or the unprivileged one when we are root.
    pub(crate) fn detect() -> Result<Self, TestkitError> {
        if current_euid()? != 0 {
            return Ok(Self::Current);
        }
        let name = std::env::var(OS_USER_ENV).unwrap_or_else(|_| DEFAULT_OS_USER.to_owned());
        let passwd = fs::read_to_string("/etc/passwd")
            .map_err(|e| TestkitError::io("reading /etc/passwd", e))?;
        lookup_passwd(&passwd, &name)
            .map(|(uid, gid)| Self::Switch { uid, gid })
            .ok_or(TestkitError::ServerUserMissing { user: name })
    }

    /// Makes `cmd` run as this account.
    pub(crate) fn apply(self, cmd: &mut Command) {
        if let Self::Switch { uid, gid } = self {
            // std also clears root's supplementary groups when it switches uid as root.
            cmd.uid(uid).gid(gid);
            // The account's HOME (e.g. /nonexistent) does not matter; root's must not be used.
            cmd.env("HOME", "/tmp");
        }
    }

    /// Gives `path` to this account (no-op for the current user).
    pub(crate) fn chown(self, path: &Path) -> Result<(), TestkitError> {
        if let Self::Switch { uid, gid } = self {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| TestkitError::io(format!("chown {}", path.display()), e))?;
        }
        Ok(())
    }

    /// True when this account can reach (search) every directory above and including `dir`.
    pub(crate) fn can_traverse(self, dir: &Path) -> bool {
        let Self::Switch { uid, gid } = self else {
            return true;
        };
        dir.ancestors().all(|d| match fs::metadata(d) {
            Ok(m) => {
                let mode = m.mode();
                if m.uid() == uid {
                    mode & 0o100 != 0
                } else if m.gid() == gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                }
            }
            Err(_) => false,
        })
    }
}

/// The effective uid of this process, without libc or unsafe: the owner of `/proc/self`, or else
/// of a file we just created.
pub(crate) fn current_euid() -> Result<u32, TestkitError> {
    // /proc/self is owned by the process's effective uid.
    match fs::metadata("/proc/self") {
        Ok(m) => Ok(m.uid()),
        Err(_) => {
            let f =
                tempfile::tempfile().map_err(|e| TestkitError::io("creating a temp file", e))?;
            let m = f
                .metadata()
                .map_err(|e| TestkitError::io("reading temp file metadata", e))?;
            Ok(m.uid())
        }
    }
}

/// `(uid, gid)` of `name` in `/etc/passwd` text.
fn lookup_passwd(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lookup() {
        let text = "root:x:0:0:root:/root:/bin/bash\n\
                    nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                    broken:x:abc:1::/:/bin/sh\n";
        assert_eq!(lookup_passwd(text, "nobody"), Some((65534, 65534)));
        assert_eq!(lookup_passwd(text, "root"), Some((0, 0)));
        assert_eq!(lookup_passwd(text, "broken"), None);
        assert_eq!(lookup_passwd(text, "nobod"), None);
        assert_eq!(lookup_passwd(text, "missing"), None);
    }
}
