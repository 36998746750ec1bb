//! Death points: named places inside the service's changes where a test can make the process
//! stop, to kill it there (`kill -9`) and check what a restart recovers.
//!
//! Only in builds with debug assertions (tests, `cargo build` without `--release`); a release
//! build has none, and no settings key reaches them. In a debug build they are off unless the
//! environment variable `RDSPG_TEST_PAUSE_AT` is `POINT@MARKER`: on reaching `POINT`, the
//! process writes the file `MARKER` (its content: the point's name) and waits forever, for the
//! test to kill it. The points:
//!
//! | point | where |
//! |---|---|
//! | `sweep:before-change` | a sweep's intent record written, the revocation not started |
//! | `sweep:after-change` | the revocation committed, its outcome record not written |
//! | `rotate:before-change` | the rotation's `AWSPENDING` version made and its intents written, no password set |
//! | `rotate:after-set` | the new password set on the instances, not tested or promoted |
//! | `rotate:after-promote` | `AWSCURRENT` moved, `AWSPENDING` not cleared |
//! | `rotate:after-finish` | the rotation finished, its outcome records not written |
//! | `sync:locked` | a sync holding its job lock, inventory not read |

/// The environment variable that arms one death point (debug builds only).
pub const PAUSE_AT_ENV: &str = "RDSPG_TEST_PAUSE_AT";

/// Stops here forever when `RDSPG_TEST_PAUSE_AT` names `point` (debug builds only; see the
/// module docs), after writing the marker file.
pub(crate) async fn point(point: &str) {
    #[cfg(debug_assertions)]
    {
        static ARMED: std::sync::OnceLock<Option<(String, std::path::PathBuf)>> =
            std::sync::OnceLock::new();
        let armed = ARMED.get_or_init(|| {
            let spec = std::env::var(PAUSE_AT_ENV).ok()?;
            let (name, marker) = spec.split_once('@')?;
            Some((name.to_owned(), std::path::PathBuf::from(marker)))
        });
        if let Some((name, marker)) = armed
            && name == point
        {
            tracing::warn!(point, "death point reached: waiting to be killed");
            if let Err(error) = std::fs::write(marker, point) {
                tracing::error!(%error, "cannot write the death point's marker");
            }
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}
