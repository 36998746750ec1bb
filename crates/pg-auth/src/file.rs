//! Reading a small file a setting names (a CA bundle, a settings or policy file) without
//! trusting what is at the path: a regular file only (a FIFO would block the reader, a device
//! such as `/dev/zero` would never end), checked before opening and again on the open file,
//! and never more than a limit read into memory.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("a.pem");
//! std::fs::write(&path, "hello")?;
//! assert_eq!(pg_auth::file::read_bounded(&path, 1024)?, b"hello");
//! assert!(matches!(
//!     pg_auth::file::read_bounded(&path, 3),
//!     Err(pg_auth::file::FileError::TooLarge { limit: 3 })
//! ));
//! assert!(matches!(
//!     pg_auth::file::read_bounded(dir.path(), 1024),
//!     Err(pg_auth::file::FileError::NotRegular)
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Read;
use std::path::Path;

/// Why a file could not be read. The caller adds which file and what it is for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Not a regular file (a directory, device, FIFO or socket).
    #[error("not a regular file (give a plain file, not a device, FIFO or directory)")]
    NotRegular,
    /// Larger than the limit.
    #[error("larger than the limit of {limit} bytes ({})", human(*limit))]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Reading failed (missing, permissions, I/O).
    #[error("I/O error")]
    Io(#[source] std::io::Error),
}

/// The bytes of the regular file at `path`, at most `limit` of them.
///
/// # Errors
/// [`FileError`]: not a regular file, larger than `limit` (also when it grows while being
/// read), or an I/O error.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    // Checked before opening: opening a FIFO for reading blocks until a writer appears.
    if !std::fs::metadata(path).map_err(FileError::Io)?.is_file() {
        return Err(FileError::NotRegular);
    }
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    // And again on the open file, in case the path was swapped in between.
    let metadata = file.metadata().map_err(FileError::Io)?;
    if !metadata.is_file() {
        return Err(FileError::NotRegular);
    }
    if metadata.len() > limit {
        return Err(FileError::TooLarge { limit });
    }
    // The file may grow between the check and the read: read one byte past the limit.
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// `1 MiB`, `64 KiB`, `100 B`.
fn human(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}
