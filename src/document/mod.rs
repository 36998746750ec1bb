//! Documents: the stable shapes in which the library's reports are handed over, as JSON
//! (`Serialize`) and as text lines (`Display`). `rdspg --output json` prints exactly these, and
//! an access API answers with them.
//!
//! Stability: fields are only ever added (never renamed or removed) within a major version;
//! times are RFC 3339 in UTC; per-instance maps are keyed by instance id; every document that
//! covers a fleet has `errors`, the instances that failed with their error chain in one line
//! (`error: cause: cause`). Secrets (a password, a URI holding it) appear only in
//! [`GrantDocument`], only after a complete grant, and never in `Debug`.
//!
//! | document | from | shape (JSON) |
//! |---|---|---|
//! | [`GrantDocument`] | [`AccessManager::grant`](crate::AccessManager::grant) | `{user, password?, host, port, database, sslmode, expires_at, level, uri, request_id, instances: [..], errors, undone}` |
//! | [`PlanDocument`] | [`AccessManager::plan`](crate::AccessManager::plan) | `{plans: {instance: {database: [sql]}}, errors}` |
//! | [`RevokeDocument`] | [`AccessManager::revoke`](crate::AccessManager::revoke) | `{user, revoked: {instance: {dropped, sessions_terminated, databases, holder, moved}}, errors}` |
//! | [`InspectDocument`] | [`AccessManager::inspect`](crate::AccessManager::inspect) | `{user, privileges: [{instance, database, kind, object, privileges}], errors}` |
//! | [`ExtendDocument`] | [`AccessManager::extend`](crate::AccessManager::extend) | `{user, expires_at, instances: {instance: {found}}, errors}` |
//! | [`SweepDocument`] | [`AccessManager::sweep`](crate::AccessManager::sweep) | `{instances: {instance: {skipped, revoked, failed}}, errors}` |
//! | [`InventoryLine`] | [`AccessManager::inventory`](crate::AccessManager::inventory) | one object per line: `{instance, type, database, ...}` |
//! | [`RotationDocument`] | [`AccessManager::rotate`](crate::AccessManager::rotate) | `{status, ...}` |
//! | [`CheckReport`](crate::CheckReport) | [`AccessManager::check`](crate::AccessManager::check) | `[{instance, item, ok, detail, fix}]` |

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::error_chain;
use crate::report::FleetReport;

mod access;
mod check;
mod grant;
mod inventory;
mod rotation;
mod sweep;

pub use access::{
    ExtendDocument, Found, InspectDocument, MovedObject, PlanDocument, PrivilegeRow,
    RevokeDocument, RevokeRequestDocument, Revoked, UsersDocument,
};
pub use grant::{GrantDocument, InstanceAccess, Secret, Undone};
pub use inventory::InventoryLine;
pub use rotation::{InstanceRotationDocument, RotationDocument};
pub use sweep::{SweepDocument, SweepEndedGrant, SweepFailure, SweepInstance, SweepRevoked};

/// The failed instances of a report, each with its error chain in one line.
pub(crate) fn errors_of<T>(report: &FleetReport<T>) -> BTreeMap<String, String> {
    report
        .failures()
        .map(|(instance, error)| (instance.to_string(), error_chain(error)))
        .collect()
}

/// The succeeded instances of a report, each rendered by `render`.
pub(crate) fn ok_of<T, U>(
    report: &FleetReport<T>,
    render: impl Fn(&T) -> U,
) -> BTreeMap<String, U> {
    report
        .results
        .iter()
        .filter_map(|(instance, outcome)| {
            outcome
                .as_ref()
                .ok()
                .map(|r| (instance.to_string(), render(r)))
        })
        .collect()
}

/// RFC 3339 in UTC, whole seconds.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}
