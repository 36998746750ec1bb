//! One locked transaction (`BEGIN`, the role's transaction-level advisory lock, the statements,
//! in one round trip) and the one retry loop every change goes through.
//!
//! The lock `rdspg:<role>` ([`AdvisoryKey::role`]) is public: [`lock_stmt`] takes it unless
//! only squatters hold it (see [squatters](crate::session::lock#squatters)), in the same statement, so
//! that no rightless login holding it can block a change (a revocation above all).

use std::time::Duration;

use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::Type;

use crate::error::GrantsError;
use crate::quote::{Ident, Literal, SET_STANDARD_STRINGS};
use crate::role;
use crate::sql;
use crate::statement::{RedactedText, Statement};

use super::{AdvisoryKey, Session};

/// Why one attempt of [`Session::with_retries`] failed.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// A statement failed: retried when transient ([`is_retryable`]).
    Sql(tokio_postgres::Error),
    /// A failure of ours (a step that maps its own errors, a `COMMIT`): retried when it is a
    /// [`GrantsError::Database`] whose server error is transient.
    Transient(GrantsError),
    /// Anything else: never retried.
    Failed(GrantsError),
}

impl From<tokio_postgres::Error> for Attempt {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<GrantsError> for Attempt {
    fn from(e: GrantsError) -> Self {
        Self::Failed(e)
    }
}

pub(crate) fn is_retryable(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code == "40001"
                || code == "40P01"
                || (code == "XX000" && db.message().contains("tuple concurrently updated"))
        }
        None => false,
    }
}

/// How long to wait after failed attempt `n` (1, 2, ...) before the next: a random time
/// between a quarter of and the whole of 20 ms × 2^(n-1), at most 1.28 s.
///
/// Random, because the failures retried are collisions: two transactions granting on the
/// same schema or table at once (`tuple concurrently updated`), a serialization failure, a
/// deadlock. With a fixed schedule the transactions that collided retry at the same moment
/// and collide again; under load (tests/load_replicas.rs: four replicas and four clients on
/// 500 users) a grant lost all five attempts that way. Growing, so a busy object gets room.
pub(crate) fn retry_delay(n: u32) -> Duration {
    let ceiling = 20u64 << n.saturating_sub(1).min(6);
    Duration::from_millis(rand::random_range(ceiling / 4..=ceiling))
}

/// The statement taking the transaction-level lock of `role` ([`AdvisoryKey::role`]) unless
/// only squatters hold it ([`sql::xact_lock_unless_squatted`]): its one row is `NULL` when
/// the lock is held (taken, or waited for while a connector held it), else the squatters'
/// names; read it with [`Session::execute_locking`].
pub(crate) fn lock_stmt(role: &Ident) -> Result<String, GrantsError> {
    let key = Literal::new(AdvisoryKey::role(role).as_str())?;
    Ok(sql::xact_lock_unless_squatted(&key.quoted().to_string()))
}

impl Session<'_> {
    /// Rolls the open transaction back.
    pub(crate) async fn rollback(&self) {
        // The transaction may already be gone; nothing to report then.
        let _ = self.client.batch_execute("ROLLBACK").await;
    }

    /// Sends `BEGIN`, the lock for `role` and `stmts` in one round trip, leaving the transaction
    /// open. On error the transaction is rolled back.
    pub(crate) async fn begin_with(
        &self,
        action: &str,
        role: &Ident,
        stmts: &[Statement],
    ) -> Result<(), tokio_postgres::Error> {
        if let Some(l) = &self.notices {
            l.take();
        }
        tracing::debug!(database = %self.database, %role, action, statements = stmts.len(), "sending batch");
        match self.send_batch(role, stmts).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    /// `BEGIN`, the lock and `stmts` in one round trip, except that a statement setting a
    /// password is preceded by sending its verifier apart (see [`Statement`]): as `COPY` data
    /// into a temporary table where the connector may create one (no server log records
    /// `COPY` data, even with `log_statement = 'all'`), else as a bound parameter (which that
    /// setting logs); the verifier is in no statement text either way.
    async fn send_batch(
        &self,
        role: &Ident,
        stmts: &[Statement],
    ) -> Result<(), tokio_postgres::Error> {
        let mut batch = format!(
            "BEGIN;\n{SET_STANDARD_STRINGS}\n{}",
            lock_stmt(role).unwrap_or_default()
        );
        let mut locking = Some(role);
        for stmt in stmts {
            if let Some(bound) = stmt.bound_verifier() {
                let role_name = bound.role.as_ref().map_or("", Ident::as_str);
                if self.temp {
                    batch.push('\n');
                    batch.push_str(role::VERIFIER_TABLE_SQL);
                    self.execute_locking(&batch, locking.take()).await?;
                    batch.clear();
                    self.copy_verifier(&bound.verifier, role_name).await?;
                    batch.push_str(role::LOAD_VERIFIER_SQL);
                    batch.push('\n');
                } else {
                    self.execute_locking(&batch, locking.take()).await?;
                    batch.clear();
                    self.client
                        .query_typed(
                            role::BIND_VERIFIER_SQL,
                            &[
                                (&RedactedText(&bound.verifier), Type::TEXT),
                                (&role_name, Type::TEXT),
                            ],
                        )
                        .await?;
                }
                batch.push_str(stmt.sql());
                batch.push('\n');
                batch.push_str(role::CLEAR_VERIFIER_SQL);
            } else {
                batch.push('\n');
                batch.push_str(stmt.sql());
            }
        }
        self.execute_locking(&batch, locking).await
    }

    /// Sends `verifier` and `role` as the one row of [`role::COPY_VERIFIER_SQL`].
    async fn copy_verifier(&self, verifier: &str, role: &str) -> Result<(), tokio_postgres::Error> {
        use futures_util::SinkExt as _;
        let sink = self
            .client
            .copy_in::<_, bytes::Bytes>(role::COPY_VERIFIER_SQL)
            .await?;
        let mut sink = std::pin::pin!(sink);
        sink.send(bytes::Bytes::from(role::copy_row(&[verifier, role])))
            .await?;
        sink.as_mut().finish().await.map(|_| ())
    }

    /// Runs `batch` (as `batch_execute`). With `locking`, the batch holds the [`lock_stmt`] of
    /// that role, the first statement returning a row: when it says the lock was squatted, the
    /// squatters are logged as a warning (the batch went on without the lock).
    pub(crate) async fn execute_locking(
        &self,
        batch: &str,
        locking: Option<&Ident>,
    ) -> Result<(), tokio_postgres::Error> {
        let Some(role) = locking else {
            return self.client.batch_execute(batch).await;
        };
        let messages = self.client.simple_query(batch).await?;
        let squatters = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0)),
            _ => None,
        });
        if let Some(Some(squatters)) = squatters {
            tracing::warn!(database = %self.database, lock = %AdvisoryKey::role(role), squatters,
                "sessions without CREATEROLE hold the advisory lock: squatted, going on without it");
        }
        Ok(())
    }

    pub(crate) async fn commit(&self, action: &str) -> Result<(), GrantsError> {
        if let Some(n) = self.bad_notice() {
            self.rollback().await;
            return Err(GrantsError::NothingHappened {
                action: action.to_owned(),
                message: n.message,
            });
        }
        self.client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| GrantsError::db(format!("{action} (COMMIT)"), e))
    }

    /// Runs `stmts` in one locked transaction, retrying transient failures; returns the
    /// transactions tried.
    pub(crate) async fn run_locked(
        &self,
        action: &str,
        role: &Ident,
        stmts: &[Statement],
    ) -> Result<u32, GrantsError> {
        self.with_retries(action, |attempt| async move {
            self.begin_with(action, role, stmts).await?;
            self.commit(action).await?;
            Ok(attempt)
        })
        .await
    }

    /// The one retry loop: runs `attempt` (given its number, from 1) until it succeeds, fails
    /// with anything but a transient server error ([`is_retryable`]: serialization failure,
    /// deadlock, `tuple concurrently updated`), or [`Settings::max_attempts`](super::Settings)
    /// attempts failed; sleeps a little longer after each failure.
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        action: &str,
        mut attempt: F,
    ) -> Result<T, GrantsError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let max = self.settings.max_attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            match attempt(n).await {
                Ok(done) => return Ok(done),
                Err(Attempt::Sql(e)) if is_retryable(&e) && n < max => {
                    tokio::time::sleep(retry_delay(n)).await;
                }
                Err(Attempt::Sql(e)) => return Err(GrantsError::db(action, e)),
                Err(Attempt::Transient(e))
                    if n < max
                        && matches!(&e, GrantsError::Database { source, .. } if is_retryable(source)) =>
                {
                    tokio::time::sleep(retry_delay(n)).await;
                }
                Err(Attempt::Transient(e)) => return Err(e),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_a_random_growing_time() {
        for n in 1..=12 {
            let ceiling = 20u64 << (n - 1).min(6);
            let waits: Vec<u64> = (0..200)
                .map(|_| u64::try_from(retry_delay(n).as_millis()).unwrap_or(u64::MAX))
                .collect();
            assert!(
                waits.iter().all(|w| (ceiling / 4..=ceiling).contains(w)),
                "attempt {n}: {waits:?}"
            );
            // Two transactions that collided do not retry in step.
            let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
            assert!(distinct.len() > 3, "attempt {n}: {waits:?}");
        }
    }

    #[test]
    fn lock_key_is_a_quoted_literal() {
        let role = Ident::new("it's").unwrap();
        let stmt = lock_stmt(&role).unwrap();
        assert!(
            stmt.ends_with("FROM (SELECT pg_catalog.hashtextextended('rdspg:it''s', 0) AS k) k;"),
            "{stmt}"
        );
        // Tries first, waits only in the last branch; one statement.
        let try_at = stmt.find("pg_try_advisory_xact_lock(k.k)").unwrap();
        let wait_at = stmt.find("pg_advisory_xact_lock(k.k)").unwrap();
        assert!(try_at < wait_at, "{stmt}");
        assert_eq!(stmt.matches(';').count(), 1, "{stmt}");
    }
}
