//! [`AccessManager::extend`]: a managed user's expiry moved, checked against the access flows.

use integration_model::{AccessRequest, Identifier, ResourcePath};
use pg_grants::quote::Ident;
use pg_grants::{GrantRecord, GrantsError, ManagedRecord, Session};
use time::OffsetDateTime;

use crate::error::AccessError;
use crate::report::FleetReport;
use crate::target::Target;

use super::AccessManager;

/// An extension of a managed role's access (see [`AccessManager::extend`]).
///
/// ```
/// use rds_pg_access::ExtendRequest;
/// let until = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
/// let request = ExtendRequest::new("alice".parse()?, until).approved_by("carol");
/// assert_eq!(request.approved_by.as_deref(), Some("carol"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtendRequest {
    /// The managed database user.
    pub user: Identifier,
    /// The new expiry.
    pub until: OffsetDateTime,
    /// Who approved the extension, when an access flow needs an approver.
    pub approved_by: Option<String>,
    /// The grant to extend (its request id); `None`: every active grant of the user.
    pub request_id: Option<String>,
    /// The access flows that may allow it (default: every flow of the integration).
    pub flows: integration_model::FlowScope,
}

impl ExtendRequest {
    /// Extends `user` until `until`, without an approver.
    pub fn new(user: Identifier, until: OffsetDateTime) -> Self {
        Self {
            user,
            until,
            approved_by: None,
            request_id: None,
            flows: integration_model::FlowScope::Any,
        }
    }

    /// Extends only the grant of `request_id` (a user holds one grant per request).
    ///
    /// ```
    /// use rds_pg_access::ExtendRequest;
    /// let until = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    /// let request = ExtendRequest::new("alice".parse()?, until).request("req-42");
    /// assert_eq!(request.request_id.as_deref(), Some("req-42"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn request(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Extends `user` for `duration` counted from `now` (whole seconds, as a role's
    /// `VALID UNTIL` keeps them), without an approver.
    ///
    /// ```
    /// use rds_pg_access::ExtendRequest;
    /// let now = time::macros::datetime!(2026-12-06 10:00:00.75 UTC);
    /// let request = ExtendRequest::lasting("alice".parse()?, "2h".parse()?, now);
    /// assert_eq!(request.until, time::macros::datetime!(2026-12-06 12:00:00 UTC));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lasting(
        user: Identifier,
        duration: integration_model::AccessDuration,
        now: OffsetDateTime,
    ) -> Self {
        let until = now + duration.as_duration();
        Self::new(user, until.replace_nanosecond(0).unwrap_or(until))
    }

    /// Names the approver (checked as a grant's approver is).
    #[must_use]
    pub fn approved_by(mut self, approver: impl Into<String>) -> Self {
        self.approved_by = Some(approver.into());
        self
    }

    /// Only the access flows within `scope` may allow the extension (a caller limited to some
    /// flows, as the access API's tokens are): see
    /// [`check_flows_within`](integration_model::check_flows_within).
    ///
    /// ```
    /// use rds_pg_access::ExtendRequest;
    /// use rds_pg_access::integration_model::FlowScope;
    /// let until = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    /// let request = ExtendRequest::new("alice".parse()?, until)
    ///     .within(FlowScope::from_names(["analysts"]));
    /// assert!(!request.flows.allows("admins"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn within(mut self, scope: integration_model::FlowScope) -> Self {
        self.flows = scope;
        self
    }
}

impl AccessManager {
    /// Moves the expiry of the managed user `request.user`'s grants on every instance where it
    /// exists to `request.until`: the grant of [`ExtendRequest::request_id`], or every active
    /// one; `VALID UNTIL` follows the latest. Checked on each instance before anything changes
    /// there: the user must still log in (a user whose revocation started, or one revoked and
    /// kept, is refused, [`AccessError::RevocationStarted`]), the grant must be held and active
    /// ([`AccessError::GrantNotHeld`]), and each extended grant must pass the integration's
    /// access flows as a grant of its level and resources (from the record) for the time from
    /// now until `until` would, with the approver the request names
    /// ([`AccessError::ExtendNotAllowed`]). With flows configured, a grant whose record names
    /// no resources (made before they were recorded) is refused.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn extend(
        &self,
        request: &ExtendRequest,
    ) -> Result<FleetReport<Option<ManagedRecord>>, AccessError> {
        let resolution = self.targets().await?;
        let user = &request.user;
        let until = request.until;
        let role = Ident::from(user);
        let now = self.now();
        let report = self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                async move {
                    let home = self.locked_home(&target, &role).await?;
                    let session = Session::new(home.client(), self.inner.grants.clone()).await?;
                    let current = match session.managed_role(&role).await {
                        Ok(current) => current,
                        Err(GrantsError::RoleNotFound { .. }) => return Ok(None),
                        Err(e) => return Err(e.into()),
                    };
                    if !current.can_login || current.record.is_retained() {
                        return Err(AccessError::RevocationStarted {
                            instance: target.name.clone(),
                            user: role.to_string(),
                        });
                    }
                    let chosen = |g: &GrantRecord| {
                        !g.is_expired(now)
                            && request
                                .request_id
                                .as_deref()
                                .is_none_or(|id| g.request_id == id)
                    };
                    if !current.record.grants.iter().any(chosen) {
                        return Err(AccessError::GrantNotHeld {
                            instance: target.name.clone(),
                            user: role.to_string(),
                            request_id: request.request_id.clone().unwrap_or_default(),
                        });
                    }
                    for grant in current.record.grants.iter().filter(|g| chosen(g)) {
                        self.extension_allowed(&target, request, grant, now)?;
                    }
                    let mut record = current.record.clone();
                    let utc = until.to_offset(time::UtcOffset::UTC);
                    let utc = utc.replace_nanosecond(0).unwrap_or(utc);
                    for grant in record.grants.iter_mut().filter(|g| chosen(g)) {
                        grant.expires_at = utc;
                    }
                    session.write_record(&role, &record).await?;
                    Ok(Some(record))
                }
            })
            .await;
        self.audit()
            .extend(user, until, request.approved_by.as_deref(), &report);
        Ok(report)
    }

    /// Checks an extension against the access flows as a grant of the role's recorded level
    /// and resources, for the time from `now` to the new expiry.
    pub(super) fn extension_allowed(
        &self,
        target: &Target,
        request: &ExtendRequest,
        record: &GrantRecord,
        now: OffsetDateTime,
    ) -> Result<(), AccessError> {
        let flows = self.inner.integration.access_flows();
        if flows.is_empty() && request.flows == integration_model::FlowScope::Any {
            return Ok(());
        }
        let refuse = |reason: String| AccessError::ExtendNotAllowed {
            instance: target.name.clone(),
            user: request.user.to_string(),
            reason,
        };
        let seconds = (request.until - now).whole_seconds();
        let duration = u64::try_from(seconds)
            .ok()
            .and_then(|s| integration_model::AccessDuration::from_secs(s).ok())
            .ok_or_else(|| {
                refuse(format!(
                    "the new expiry is {seconds} s from now, outside what any access can last"
                ))
            })?;
        let resources = record
            .resources
            .iter()
            .map(|r| r.parse::<ResourcePath>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| refuse(format!("its record holds an unreadable resource: {e}")))?;
        if resources.is_empty() {
            return Err(refuse(
                "its record names no resources to check against the access flows; \
                 grant anew instead"
                    .to_owned(),
            ));
        }
        let mut as_grant = AccessRequest::builder(request.user.clone(), record.level, duration)
            .resources(resources);
        if let Some(approver) = &request.approved_by {
            as_grant = as_grant.approved_by(approver);
        }
        let as_grant = as_grant.build()?;
        integration_model::check_flows_within(flows, &request.flows, &as_grant)
            .map(|_| ())
            .map_err(|refusal| refuse(refusal.to_string()))
    }
}
