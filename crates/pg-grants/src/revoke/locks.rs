//! The session-level advisory lock of whole revocations and retirements, and the squatters
//! named in their reports.

use crate::error::GrantsError;
use crate::quote::Ident;
use crate::session::{AdvisoryKey, LockHolder, Session};

use super::RevokeReport;

/// The advisory-lock namespace of whole revocations.
pub(super) const REVOKE_LOCK: &str = "rdspg-revoke";

impl Session<'_> {
    /// Ends a revocation or retirement run under [`REVOKE_LOCK`]: releases the lock unless it
    /// was squatted (`revoke_squatters` not empty: it was never taken), and names in the
    /// report the squatters of that lock and of the role's transaction lock.
    pub(super) async fn finish_locked(
        &self,
        role: &Ident,
        revoke_squatters: Vec<LockHolder>,
        result: Result<RevokeReport, GrantsError>,
    ) -> Result<RevokeReport, GrantsError> {
        let unlocked = if revoke_squatters.is_empty() {
            self.session_unlock(REVOKE_LOCK, role).await
        } else {
            Ok(())
        };
        let mut report = result?;
        unlocked?;
        report.lock_squatters = revoke_squatters;
        // The role's transaction lock may have been squatted too (each transaction logged it).
        for holder in self
            .advisory_locks()
            .squatters(&AdvisoryKey::role(role))
            .await?
        {
            if !report.lock_squatters.contains(&holder) {
                report.lock_squatters.push(holder);
            }
        }
        Ok(report)
    }
}
