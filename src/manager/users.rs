//! A managed user's grants on one instance: the privileges its active grants add up to, and
//! the changes that end some of them (one revoked or expired, a failed grant undone) or all of
//! them (the user revoked: dropped, or kept for `user_cleanup_days`).
//!
//! A user holds any number of grants at once, one per access request, each recorded in its
//! role's comment ([`pg_grants::GrantRecord`]) with its level, resources and expiry. Its
//! privileges in a database are the union of what its *active* grants give there, applied with
//! the plan/diff of [`Session::apply_to`]: applying that union in every database a grant of the
//! user touches removes exactly what no remaining grant still covers.

use std::collections::{BTreeMap, BTreeSet};

use integration_model::{InstanceId, ResourcePath};
use pg_grants::quote::Ident;
use pg_grants::{
    GrantRecord, GrantsError, ManagedRecord, ManagedRole, RevokeReport, Scope, Session,
};
use time::OffsetDateTime;

use crate::error::AccessError;
use crate::report::DatabasePlan;
use crate::target::Target;

use super::AccessManager;

/// The privileges the grants of `record` give on `instance`, per database: every grant, or
/// (`active_at`) only those active then. A database a grant names maps to its grants even when
/// they are empty here, so applying the map removes what ended.
///
/// # Errors
/// [`GrantsError::InvalidRecord`] for a grant that records no resources (made by 0.1, before
/// they were recorded: its privileges cannot be told from another grant's), or an unreadable
/// one.
pub(crate) fn wanted_on(
    role: &Ident,
    record: &ManagedRecord,
    instance: &InstanceId,
    active_at: Option<OffsetDateTime>,
) -> Result<BTreeMap<Ident, Vec<pg_grants::Grant>>, AccessError> {
    let mut out: BTreeMap<Ident, Vec<pg_grants::Grant>> = BTreeMap::new();
    for grant in &record.grants {
        let active = active_at.is_none_or(|now| !grant.is_expired(now));
        for (database, scope) in scopes_on(role, grant, instance)? {
            let grants = out.entry(database).or_default();
            if active {
                let grant = pg_grants::Grant::new(scope, grant.level);
                if !grants.contains(&grant) {
                    grants.push(grant);
                }
            }
        }
    }
    Ok(out)
}

/// The databases and scopes `grant` covers on `instance`.
fn scopes_on(
    role: &Ident,
    grant: &GrantRecord,
    instance: &InstanceId,
) -> Result<Vec<(Ident, Scope)>, AccessError> {
    if grant.resources.is_empty() {
        return Err(GrantsError::InvalidRecord {
            role: role.to_string(),
            reason: format!(
                "request {:?} records no resources (made before 0.2), so its privileges cannot \
                 be told from other grants': revoke the user and grant anew",
                grant.request_id
            ),
        }
        .into());
    }
    let mut out = Vec::new();
    for text in &grant.resources {
        let path: ResourcePath = text.parse().map_err(|e| GrantsError::InvalidRecord {
            role: role.to_string(),
            reason: format!(
                "request {:?} records resource {text:?}: {e}",
                grant.request_id
            ),
        })?;
        if path.instance() == instance {
            out.push(Scope::from_resource(path.resource()));
        }
    }
    Ok(out)
}

/// How a change that ends every grant of a user ends the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserEnd {
    /// As the integration says: dropped (`user_cleanup_days = 0`) or kept, revoked at this time.
    BySettings(OffsetDateTime),
    /// Dropped whatever the settings (a user a failed grant created).
    Drop,
}

/// What ending some of a user's grants did on one instance.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The user held none of them: nothing changed.
    Nothing,
    /// Those grants ended; the user keeps its other grants (the record as it is now) and the
    /// privileges they cover.
    Grants {
        /// The grants that ended.
        ended: Vec<GrantRecord>,
        /// The SQL applied per database.
        plans: Vec<DatabasePlan>,
    },
    /// They were the user's last: the user was revoked (dropped, or kept: see
    /// [`RevokeReport::dropped`]).
    User(RevokeReport),
}

impl AccessManager {
    /// Applies the union of `role`'s grants active at `now` (its current record) in every
    /// database of `databases` and those its grants name on `target`: one session per
    /// database, `home` reused for the integration's home database.
    pub(crate) async fn apply_record(
        &self,
        target: &Target,
        home: &Session<'_>,
        role: &mut ManagedRole,
        also: &BTreeSet<Ident>,
        now: OffsetDateTime,
    ) -> Result<Vec<DatabasePlan>, AccessError> {
        let wanted = wanted_on(&role.name, &role.record, &target.name, Some(now))?;
        let mut databases: BTreeSet<Ident> = wanted.keys().cloned().collect();
        databases.extend(also.iter().cloned());
        let mut applied = Vec::new();
        // Every database is applied even when one fails: what ended in one never waits for
        // another (a grant there that cannot be given, an access role somebody spoiled, a
        // database that does not answer). The first failure is returned once all were tried.
        let mut failed: Option<AccessError> = None;
        for database in databases {
            let grants = wanted.get(&database).map_or(&[][..], Vec::as_slice);
            let report = if database.as_str() == home.database() {
                home.apply_to(role, grants).await.map_err(AccessError::from)
            } else {
                self.apply_in(target, database.as_str(), role, grants).await
            };
            match report {
                Ok(report) => applied.push(DatabasePlan {
                    database: database.to_string(),
                    sql: report
                        .plan
                        .statements()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                }),
                Err(error) => {
                    tracing::warn!(instance = %target.name, user = %role.name, %database,
                        error = %crate::error_chain(&error),
                        "applying a user's grants failed in one database; the others are still applied");
                    failed.get_or_insert(error);
                }
            }
        }
        match failed {
            Some(error) => Err(error),
            None => Ok(applied),
        }
    }

    /// [`Session::apply_to`] in `database` of `target`, on a pooled connection.
    async fn apply_in(
        &self,
        target: &Target,
        database: &str,
        role: &mut ManagedRole,
        grants: &[pg_grants::Grant],
    ) -> Result<pg_grants::ApplyReport, AccessError> {
        let other = self.pooled(target, database).await?;
        Ok(Session::new(other.client(), self.inner.grants.clone())
            .await?
            .apply_to(role, grants)
            .await?)
    }

    /// Ends the grants of `current` that `which` selects, the caller holding the role's lock:
    /// first their privileges go (the union of the remaining active grants applied in every
    /// database the user's grants name), then the record; a failure between leaves them in the
    /// record, so that running it again (a sweep) finishes. When no grant remains, the user is
    /// revoked as `end` says.
    pub(crate) async fn end_grants(
        &self,
        target: &Target,
        session: &Session<'_>,
        mut current: ManagedRole,
        which: &(dyn Fn(&GrantRecord) -> bool + Sync),
        end: UserEnd,
        now: OffsetDateTime,
    ) -> Result<Ended, AccessError> {
        let ended: Vec<GrantRecord> = current
            .record
            .grants
            .iter()
            .filter(|g| which(g))
            .cloned()
            .collect();
        if ended.is_empty() {
            return Ok(Ended::Nothing);
        }
        let mut remaining = current.record.clone();
        remaining.grants.retain(|g| !which(g));
        if remaining.active_grants(now).next().is_none() {
            return Ok(Ended::User(
                self.end_user(target, session, &current, end).await?,
            ));
        }
        let touched: BTreeSet<Ident> =
            wanted_on(&current.name, &current.record, &target.name, None)?
                .into_keys()
                .collect();
        current.record = remaining;
        let plans = self
            .apply_record(target, session, &mut current, &touched, now)
            .await?;
        session.write_record(&current.name, &current.record).await?;
        Ok(Ended::Grants { ended, plans })
    }

    /// Revokes the managed user `current` (whose grants all ended), the caller holding its
    /// lock: logins stop and its sessions end first; then it is dropped (its objects moved to
    /// its holder) or, with `user_cleanup_days` above 0, kept, powerless, until its cleanup. A
    /// user already kept stays so, from when it was revoked.
    pub(crate) async fn end_user(
        &self,
        target: &Target,
        session: &Session<'_>,
        current: &ManagedRole,
        end: UserEnd,
    ) -> Result<RevokeReport, AccessError> {
        // First the record: every grant still running ends now. A revocation that stops
        // half-way leaves the user `NOLOGIN`; with its grants still active in its record, the
        // next request (`add_grant`) would take it for a user a sweep disabled and enable it
        // with every grant this revocation was ending.
        // Whole seconds, as records keep them.
        let now = self.now();
        if current.record.active_grants(now).next().is_some() {
            let mut ended = current.record.clone();
            for grant in &mut ended.grants {
                grant.expires_at = grant.expires_at.min(now);
            }
            session.write_record(&current.name, &ended).await?;
        }
        let connector = self.database_connector(target);
        let keep_since = match end {
            UserEnd::Drop => None,
            UserEnd::BySettings(_) if self.cleanup_period().is_zero() => None,
            UserEnd::BySettings(now) => Some(current.record.revoked_at.unwrap_or(now)),
        };
        Ok(match keep_since {
            None => session.revoke_role(&current.name, &connector).await?,
            Some(at) => session.retire_role(&current.name, &connector, at).await?,
        })
    }

    /// How long a revoked user is kept (`user_cleanup_days`; zero: dropped at revocation).
    pub(crate) fn cleanup_period(&self) -> time::Duration {
        time::Duration::days(i64::from(self.inner.integration.user_cleanup().days()))
    }

    /// Under the role's lock on `target`: ends the grants of `role` that `which` selects (see
    /// [`AccessManager::end_grants`]).
    pub(crate) async fn end_grants_on(
        &self,
        target: &Target,
        role: &Ident,
        which: &(dyn Fn(&GrantRecord) -> bool + Sync),
        end: UserEnd,
    ) -> Result<Ended, AccessError> {
        let _role_lock = self.role_lock(target, role).await?;
        let connection = self
            .connect(target, self.inner.integration.database().as_str())
            .await?;
        let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
        let current = match session.managed_role(role).await {
            Ok(current) => current,
            Err(GrantsError::RoleNotFound { .. }) => return Ok(Ended::Nothing),
            Err(e) => return Err(e.into()),
        };
        let now = self.now();
        self.end_grants(target, &session, current, which, end, now)
            .await
    }
}
