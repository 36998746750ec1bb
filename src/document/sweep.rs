//! [`SweepDocument`]: what a sweep revoked, and what it could not, per instance.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::{errors_of, ok_of};
use crate::error::error_chain;
use crate::report::{FleetReport, SweepReport};

/// An expired user the sweep revoked.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SweepRevoked {
    /// The database user.
    pub user: String,
    /// The request it was created for.
    pub request_id: String,
    /// Dropped or kept by this sweep (`false`: another replica was first).
    pub dropped: bool,
    /// Revoked and kept until its cleanup (`user_cleanup_days`), not dropped.
    pub retained: bool,
    /// Dropped because its cleanup period had passed.
    pub cleanup: bool,
}

/// A grant the sweep ended while its user kept others.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SweepEndedGrant {
    /// The database user.
    pub user: String,
    /// The grant's request.
    pub request_id: String,
}

/// An expired user the sweep could not revoke (the next sweep tries again).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SweepFailure {
    /// The database user.
    pub user: String,
    /// The request it was created for.
    pub request_id: String,
    /// It can no longer log in.
    pub login_disabled: bool,
    /// Why the revocation failed.
    pub error: String,
}

/// What the sweep did on one instance.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SweepInstance {
    /// Another replica was sweeping it.
    pub skipped: bool,
    /// The users revoked.
    pub revoked: Vec<SweepRevoked>,
    /// The users not revoked.
    pub failed: Vec<SweepFailure>,
    /// Grants that ended while their users kept others.
    pub ended_grants: Vec<SweepEndedGrant>,
    /// Users revoked and kept whose cleanup is still ahead.
    pub retained: usize,
    /// Marked roles refused as managed users (never altered, never revoked), with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<pg_grants::RefusedRole>,
    #[serde(skip)]
    clean: bool,
}

/// What [`AccessManager::sweep`](crate::AccessManager::sweep) did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SweepDocument {
    /// Per instance where the sweep ran.
    pub instances: BTreeMap<String, SweepInstance>,
    /// The instances that failed, with why.
    pub errors: BTreeMap<String, String>,
}

impl SweepDocument {
    /// The document of a sweep report.
    pub fn new(report: &FleetReport<SweepReport>) -> Self {
        Self {
            instances: ok_of(report, |r| SweepInstance {
                skipped: r.skipped,
                revoked: r
                    .swept
                    .iter()
                    .map(|s| SweepRevoked {
                        user: s.user.clone(),
                        request_id: s.request_id.clone(),
                        dropped: s.dropped_here,
                        retained: s.retained,
                        cleanup: s.cleanup,
                    })
                    .collect(),
                ended_grants: r
                    .ended_grants
                    .iter()
                    .map(|e| SweepEndedGrant {
                        user: e.user.clone(),
                        request_id: e.request_id.clone(),
                    })
                    .collect(),
                retained: r.retained.unwrap_or(0),
                refused: r.refused.clone(),
                failed: r
                    .failed
                    .iter()
                    .map(|f| SweepFailure {
                        user: f.user.clone(),
                        request_id: f.request_id.clone(),
                        login_disabled: f.login_disabled,
                        error: error_chain(&f.error),
                    })
                    .collect(),
                clean: r.is_clean(),
            }),
            errors: errors_of(report),
        }
    }

    /// Whether every instance that ran revoked every expired user it found (and no lock was
    /// squatted).
    pub fn all_revoked(&self) -> bool {
        self.instances.values().all(|i| i.clean)
    }
}

/// A line per instance and per user.
impl fmt::Display for SweepDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (instance, r) in &self.instances {
            if r.skipped {
                writeln!(f, "{instance}: skipped (another connector is sweeping it)")?;
            } else if r.revoked.is_empty() && r.ended_grants.is_empty() {
                writeln!(f, "{instance}: nothing expired")?;
            }
            for e in &r.ended_grants {
                writeln!(
                    f,
                    "{instance}: ended request {} of {} (its other access stays)",
                    e.request_id, e.user
                )?;
            }
            for s in &r.revoked {
                let how = if s.cleanup {
                    "deleted (cleanup period over)"
                } else if s.retained {
                    "revoked and kept (disabled until its cleanup)"
                } else {
                    "revoked"
                };
                writeln!(f, "{instance}: {how} {} (request {})", s.user, s.request_id)?;
            }
            for refused in &r.refused {
                writeln!(
                    f,
                    "{instance}: NOT a managed user, left alone: {} ({})",
                    refused.name, refused.reason
                )?;
            }
            for failure in &r.failed {
                writeln!(
                    f,
                    "{instance}: NOT revoked {} (request {}; login {}): {}",
                    failure.user,
                    failure.request_id,
                    if failure.login_disabled {
                        "disabled"
                    } else {
                        "STILL ENABLED"
                    },
                    failure.error
                )?;
            }
        }
        Ok(())
    }
}
