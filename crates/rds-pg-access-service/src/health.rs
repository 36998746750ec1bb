//! The `/healthz` document: whether every job succeeded within two of its intervals, and the
//! problems when not.
//!
//! ```
//! use std::time::SystemTime;
//! use rds_pg_access_service::HealthDocument;
//! use rds_pg_access_service::scheduler::Health;
//!
//! let doc = HealthDocument::from(&Health::default());
//! assert!(doc.is_healthy());
//! assert_eq!(serde_json::to_string(&doc)?, r#"{"status":"ok","problems":[]}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::Serialize;

use crate::scheduler::{Health, HealthProblem};

/// The `/healthz` JSON: `{"status": "ok" | "failing", "problems": [...]}`. Stable shape: fields
/// are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HealthDocument {
    /// `ok` or `failing`.
    pub status: &'static str,
    /// One entry per job (and instance) without a success within two intervals.
    pub problems: Vec<ProblemDocument>,
}

/// One problem of a [`HealthDocument`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProblemDocument {
    /// The integration.
    pub integration: String,
    /// The job (`sweep`, `sync`, `rotate`).
    pub job: &'static str,
    /// The instance, or `null` when the job failed as a whole.
    pub instance: Option<String>,
    /// The last error, if one is known.
    pub error: Option<String>,
    /// The problem in one sentence.
    pub message: String,
}

impl HealthDocument {
    /// Whether `status` is `ok`.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl From<&HealthProblem> for ProblemDocument {
    fn from(p: &HealthProblem) -> Self {
        Self {
            integration: p.integration.clone(),
            job: p.kind.as_str(),
            instance: p.instance.clone(),
            error: p.error.clone(),
            message: p.to_string(),
        }
    }
}

impl From<&Health> for HealthDocument {
    fn from(health: &Health) -> Self {
        Self {
            status: if health.is_healthy() { "ok" } else { "failing" },
            problems: health.problems.iter().map(ProblemDocument::from).collect(),
        }
    }
}
