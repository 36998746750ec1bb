//! The server's notices: warnings that mean a `GRANT` or `REVOKE` did nothing arrive on the
//! connection, not as errors; [`drive_connection`] records them and a session given the log
//! turns them into errors.

use std::sync::{Arc, Mutex};

use tokio_postgres::{AsyncMessage, Connection};

use super::Session;

/// A notice or warning the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notice {
    /// `WARNING`, `NOTICE`, ...
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    /// The message.
    pub message: String,
}

impl Notice {
    /// Whether this warning means a `GRANT`/`REVOKE` did nothing.
    pub fn means_nothing_happened(&self) -> bool {
        // 01007 warning_privilege_not_granted, 01006 warning_privilege_not_revoked
        // (https://www.postgresql.org/docs/current/errcodes-appendix.html); membership
        // warnings carry the generic 01000 so they are recognised by their text.
        self.code == "01007"
            || self.code == "01006"
            || (self.severity == "WARNING"
                && (self.message.contains("is not a member of role")
                    || self.message.contains("has not been granted membership")))
    }
}

/// Notices received on a connection driven by [`drive_connection`].
#[derive(Debug, Clone, Default)]
pub struct NoticeLog(Arc<Mutex<Vec<Notice>>>);

impl NoticeLog {
    fn push(&self, n: Notice) {
        if let Ok(mut v) = self.0.lock() {
            v.push(n);
        }
    }

    /// Removes and returns the notices received so far.
    pub fn take(&self) -> Vec<Notice> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// Spawns a task driving `connection` (as `tokio::spawn(connection)` would) that records the
/// server's notices in the returned [`NoticeLog`]. The task ends when the client is dropped.
pub fn drive_connection<S, T>(
    mut connection: Connection<S, T>,
) -> (
    NoticeLog,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let log = NoticeLog::default();
    let sink = log.clone();
    let handle = tokio::spawn(async move {
        loop {
            match futures_util::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notice(n))) => sink.push(Notice {
                    severity: n.severity().to_owned(),
                    code: n.code().code().to_owned(),
                    message: n.message().to_owned(),
                }),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    (log, handle)
}

impl Session<'_> {
    /// The first recorded warning meaning that nothing happened, if any (the log is emptied).
    pub(super) fn bad_notice(&self) -> Option<Notice> {
        self.notices
            .as_ref()
            .and_then(|l| l.take().into_iter().find(Notice::means_nothing_happened))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(severity: &str, code: &str, message: &str) -> Notice {
        Notice {
            severity: severity.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn warnings_that_mean_nothing_happened() {
        // Messages and codes as PostgreSQL's aclchk.c and user.c emit them.
        let rows = [
            (
                n(
                    "WARNING",
                    "01007",
                    "no privileges were granted for \"orders\"",
                ),
                true,
            ),
            (
                n(
                    "WARNING",
                    "01007",
                    "not all privileges were granted for \"orders\"",
                ),
                true,
            ),
            (
                n(
                    "WARNING",
                    "01006",
                    "no privileges could be revoked for \"orders\"",
                ),
                true,
            ),
            (
                n(
                    "WARNING",
                    "01000",
                    "role \"a\" is not a member of role \"b\"",
                ),
                true,
            ),
            (
                n(
                    "WARNING",
                    "01000",
                    "role \"a\" has not been granted membership in role \"b\" by role \"c\"",
                ),
                true,
            ),
            (
                n(
                    "NOTICE",
                    "00000",
                    "role \"a\" is already a member of role \"b\"",
                ),
                false,
            ),
            (
                n("NOTICE", "00000", "relation \"x\" already exists, skipping"),
                false,
            ),
        ];
        for (notice, want) in rows {
            assert_eq!(notice.means_nothing_happened(), want, "{notice:?}");
        }
    }
}
