//! Recovery of the audit intents a process left without an outcome (it died between the two):
//! each resolved from the state of the database or the secret, under the locks of the change
//! it announces (see [`crate::audit`]).

use pg_grants::quote::Ident;
use pg_grants::{GrantsError, Session, UserState};

use crate::audit::{AuditAction, AuditChange, AuditOutcome, AuditRecord};
use crate::target::Target;

use super::AccessManager;
use super::locks::LockSession;

impl AccessManager {
    /// The open intents of this integration for which `keep` holds.
    fn open_intents(&self, keep: impl Fn(&AuditRecord) -> bool) -> Vec<AuditRecord> {
        let Some(sink) = self.audit().sink() else {
            return Vec::new();
        };
        let integration = self.integration().name().as_str();
        match sink.unresolved() {
            Ok(open) => open
                .into_iter()
                .filter(|r| r.integration == integration && keep(r))
                .collect(),
            Err(error) => {
                tracing::error!(error = %crate::error_chain(&error),
                    "cannot read the audit sink back: intents left by a stopped process stay open");
                Vec::new()
            }
        }
    }

    /// Whether the intent `id` is still without an outcome (its own process, or another
    /// recovery, may have written one since it was listed).
    fn still_open(&self, id: &str) -> bool {
        !self.open_intents(|r| r.id == id).is_empty()
    }

    /// Resolves the sweep intents left open on `target`: called by a sweep holding the
    /// instance's job lock; each under the role's operation lock, so that a live process
    /// inside that change (a revocation on request, a grant) finishes it first.
    pub(super) async fn recover_sweep_intents(
        &self,
        target: &Target,
        locks: &LockSession,
        session: &Session<'_>,
    ) {
        let instance = target.name.as_str();
        let open = self.open_intents(|r| {
            r.instance == instance
                && r.action == AuditAction::Sweep
                && matches!(
                    r.change,
                    Some(
                        AuditChange::RevokeUser | AuditChange::EndGrants | AuditChange::DeleteUser
                    )
                )
        });
        for intent in open {
            let Some(user) = intent.user.as_deref().and_then(|u| Ident::new(u).ok()) else {
                continue;
            };
            let held = match locks.lock_role(&user).await {
                Ok(squatters) => squatters.is_empty(),
                Err(error) => {
                    tracing::error!(instance, user = %user, error = %crate::error_chain(&error),
                        "cannot lock a role to resolve its audit intent");
                    continue;
                }
            };
            if self.still_open(&intent.id) {
                match session.managed_role(&user).await {
                    Ok(role) => {
                        let (outcome, note) = resolve_role(&intent, &role, self.now());
                        self.audit().recovered(&intent, outcome, note);
                    }
                    Err(GrantsError::RoleNotFound { .. }) => self.audit().recovered(
                        &intent,
                        AuditOutcome::Success,
                        "recovered: the role is gone, the change was made before its process \
                         stopped"
                            .to_owned(),
                    ),
                    Err(GrantsError::NotManaged { .. }) => self.audit().recovered(
                        &intent,
                        AuditOutcome::Success,
                        "recovered: the role was dropped before its process stopped (a role of \
                         that name now exists, not managed)"
                            .to_owned(),
                    ),
                    Err(error) => {
                        tracing::error!(instance, user = %user, error = %crate::error_chain(&error),
                            "cannot read a role to resolve its audit intent");
                    }
                }
            }
            if held {
                let _ = locks.unlock_role(&user).await;
            }
        }
    }

    /// Whether rotation intents of this integration are open.
    pub(super) fn has_open_rotation_intents(&self) -> bool {
        !self
            .open_intents(|r| r.change == Some(AuditChange::SetPassword))
            .is_empty()
    }

    /// Resolves the rotation intents left open: called by a rotation holding the rotation lock
    /// of every instance, with the secret's stages as read under them.
    /// `locked` is the rotation's report so far: which stage each instance accepted when it
    /// was locked (an instance that logs in with the pending version has its password set).
    pub(super) fn recover_rotation_intents(
        &self,
        stages: &pg_auth::SecretStages,
        locked: &crate::report::FleetReport<crate::report::rotation::InstanceRotation>,
    ) {
        let open = self.open_intents(|r| {
            r.action == AuditAction::Rotate && r.change == Some(AuditChange::SetPassword)
        });
        for intent in open {
            let Some(version) = intent.request_id.as_deref() else {
                continue;
            };
            let stages_of = stages.versions.get(version);
            let has = |stage: &str| stages_of.is_some_and(|s| s.iter().any(|x| x == stage));
            let (outcome, note) = if has(pg_auth::AWSCURRENT) || has(pg_auth::AWSPREVIOUS) {
                (
                    AuditOutcome::Success,
                    format!(
                        "recovered: version {version} became AWSCURRENT before its process \
                         stopped"
                    ),
                )
            } else if has(pg_auth::AWSPENDING)
                && locked.results.iter().any(|(name, r)| {
                    name.as_str() == intent.instance
                        && r.as_ref().is_ok_and(|r| {
                            r.accepted_at_start == crate::report::rotation::AcceptedStage::Pending
                        })
                })
            {
                (
                    AuditOutcome::Success,
                    format!(
                        "recovered: version {version} (still AWSPENDING) logs in on the                          instance, its password was set before its process stopped; this                          rotation finishes it"
                    ),
                )
            } else if has(pg_auth::AWSPENDING) {
                (
                    AuditOutcome::Interrupted,
                    format!(
                        "recovered: version {version} is still AWSPENDING; this rotation \
                         finishes it"
                    ),
                )
            } else {
                (
                    AuditOutcome::Interrupted,
                    format!(
                        "recovered: version {version} is neither current nor pending; its \
                         rotation was abandoned"
                    ),
                )
            };
            self.audit().recovered(&intent, outcome, note);
        }
    }
}

/// A sweep intent's outcome from its role as it is now.
fn resolve_role(
    intent: &AuditRecord,
    role: &pg_grants::ManagedRole,
    now: time::OffsetDateTime,
) -> (AuditOutcome, String) {
    let done = match intent.change {
        // Revoked and kept counts as revoked.
        Some(AuditChange::RevokeUser) => {
            matches!(role.record.state(now), UserState::Disabled { .. })
        }
        // No expired grant left in its record.
        Some(AuditChange::EndGrants) => !role.record.grants.iter().any(|g| g.is_expired(now)),
        _ => false,
    };
    if done {
        (
            AuditOutcome::Success,
            "recovered: the change was made before its process stopped".to_owned(),
        )
    } else {
        (
            AuditOutcome::Interrupted,
            "recovered: the process stopped before the change was made; the role is still \
             there and this sweep revokes it"
                .to_owned(),
        )
    }
}
