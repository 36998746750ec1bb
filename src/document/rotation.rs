//! [`RotationDocument`]: what a rotation of the connector's password did.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::error::error_chain;
use crate::report::rotation::{AcceptedStage, RotateOutcome, RotationReport};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What a rotation did on one instance.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct InstanceRotationDocument {
    /// The secret stage whose password the instance accepted at the start (`AWSCURRENT`,
    /// `AWSPENDING`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub had: Option<&'static str>,
    /// The new password was set here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_set: Option<bool>,
    /// A login with the new password was tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_tested: Option<bool>,
    /// Why it failed here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What [`AccessManager::rotate`](crate::AccessManager::rotate) did: `status` is
/// `nothing-to-rotate`, `not-due`, `busy`, `rotated` or `incomplete`, with the fields of that
/// status.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RotationDocument {
    /// What happened.
    pub status: &'static str,
    /// Why there is nothing to rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Not due: when the password was last rotated (`null`: unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotated: Option<Option<String>>,
    /// Not due: when it is due (`null`: no `connector_rotation_days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Option<String>>,
    /// Busy: the instance whose lock another connector holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Rotated or incomplete: the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Rotated or incomplete: the new secret version (`null`: none was put).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<Option<String>>,
    /// An earlier run's rotation was finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<bool>,
    /// `AWSCURRENT` is the new version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<bool>,
    /// Per instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<BTreeMap<String, InstanceRotationDocument>>,
    #[serde(skip)]
    ok: bool,
    #[serde(skip)]
    not_due_without_period: bool,
}

impl RotationDocument {
    fn status(status: &'static str, ok: bool) -> Self {
        Self {
            status,
            reason: None,
            last_rotated: None,
            due_at: None,
            instance: None,
            secret: None,
            version_id: None,
            resumed: None,
            finished: None,
            instances: None,
            ok,
            not_due_without_period: false,
        }
    }

    /// The document of a rotation's outcome.
    pub fn new(outcome: &RotateOutcome) -> Self {
        match outcome {
            RotateOutcome::NothingToRotate { reason } => Self {
                reason: Some(reason.to_string()),
                ..Self::status("nothing-to-rotate", true)
            },
            RotateOutcome::NotDue {
                last_rotated,
                due_at,
            } => Self {
                last_rotated: Some(last_rotated.map(exact)),
                due_at: Some(due_at.map(exact)),
                not_due_without_period: due_at.is_none(),
                ..Self::status("not-due", true)
            },
            RotateOutcome::Busy { instance } => Self {
                instance: Some(instance.to_string()),
                ..Self::status("busy", false)
            },
            RotateOutcome::Rotated(report) => Self::report("rotated", report),
            RotateOutcome::Incomplete(report) => Self::report("incomplete", report),
        }
    }

    fn report(status: &'static str, report: &RotationReport) -> Self {
        let instances = report
            .instances
            .results
            .iter()
            .map(|(instance, outcome)| {
                let doc = match outcome {
                    Ok(r) => InstanceRotationDocument {
                        had: Some(match r.accepted_at_start {
                            AcceptedStage::Current => "AWSCURRENT",
                            AcceptedStage::Pending => "AWSPENDING",
                        }),
                        password_set: Some(r.password_set),
                        login_tested: Some(r.login_tested),
                        error: None,
                    },
                    Err(e) => InstanceRotationDocument {
                        had: None,
                        password_set: None,
                        login_tested: None,
                        error: Some(error_chain(e)),
                    },
                };
                (instance.to_string(), doc)
            })
            .collect();
        Self {
            secret: Some(report.secret_id.clone()),
            version_id: Some(report.version_id.clone()),
            resumed: Some(report.resumed),
            finished: Some(report.finished),
            instances: Some(instances),
            ..Self::status(status, report.finished)
        }
    }

    /// Whether the command succeeded: nothing to do, not due, or rotated to the end.
    pub fn is_ok(&self) -> bool {
        self.ok
    }
}

/// A line per instance and one for the secret, or one line saying why nothing ran.
impl fmt::Display for RotationDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            "nothing-to-rotate" => writeln!(
                f,
                "nothing to rotate: {}",
                self.reason.as_deref().unwrap_or_default()
            ),
            "not-due" => match self.due_at.as_ref().and_then(Option::as_ref) {
                Some(due) if !self.not_due_without_period => writeln!(
                    f,
                    "not due: the password is rotated again at {due} (--force to rotate now)"
                ),
                _ => writeln!(
                    f,
                    "not due: the integration has no connector_rotation_days (--force to rotate now)"
                ),
            },
            "busy" => writeln!(
                f,
                "skipped: another connector is rotating (it holds the lock of {})",
                self.instance.as_deref().unwrap_or_default()
            ),
            "rotated" | "incomplete" => {
                for (instance, r) in self.instances.iter().flatten() {
                    match &r.error {
                        Some(e) => writeln!(f, "{instance}: failed: {e}")?,
                        None => writeln!(
                            f,
                            "{instance}: {}, login with the new password {}",
                            if r.password_set == Some(true) {
                                "password set"
                            } else {
                                "already had the new password"
                            },
                            if r.login_tested == Some(true) {
                                "ok"
                            } else {
                                "not tested"
                            }
                        )?,
                    }
                }
                let secret = self.secret.as_deref().unwrap_or_default();
                let version = self
                    .version_id
                    .as_ref()
                    .and_then(Option::as_deref)
                    .unwrap_or_default();
                if self.finished == Some(true) {
                    writeln!(
                        f,
                        "secret {secret}: AWSCURRENT is now version {version}{}",
                        if self.resumed == Some(true) {
                            " (an earlier run finished)"
                        } else {
                            ""
                        }
                    )
                } else {
                    writeln!(
                        f,
                        "secret {secret}: AWSCURRENT unchanged (the new password is AWSPENDING {version}); run again to finish"
                    )
                }
            }
            _ => writeln!(f, "unknown outcome"),
        }
    }
}

/// RFC 3339 with the time's own precision (as `rdspg rotate` has always printed it).
fn exact(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}
