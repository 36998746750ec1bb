//! The audit trail: one [`AuditRecord`] per grant, extend, revoke, swept role and rotation, per
//! instance, handed to an [`AuditSink`] (JSON lines on stdout, an append-only file, or your
//! own).
//!
//! A record names who got what, where, until when, for which request, approved by whom, and
//! whether it worked. It never carries a secret: records are built from names, levels, times
//! and error messages only, never from a password or token.
//!
//! ```
//! use std::sync::Arc;
//! use rds_pg_access::audit::{AppendFileSink, AuditSink};
//!
//! let dir = tempfile::tempdir()?;
//! let sink: Arc<dyn AuditSink> = Arc::new(AppendFileSink::open(dir.path().join("audit.jsonl"))?);
//! // `AccessManager::with_audit(sink)` then records every change it makes.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use integration_model::{AccessRequest, Identifier, InstanceId};
use pg_grants::{ManagedRecord, ManagedRole, RevokeReport};
use serde::Serialize;
use time::OffsetDateTime;

use crate::report::{DatabasePlan, FleetReport, SweptRole};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A time-bound user was created or completed and granted privileges.
    Grant,
    /// A managed user's expiry was moved.
    Extend,
    /// A managed user's access was ended on request.
    Revoke,
    /// A managed user's access was ended because it expired.
    Sweep,
    /// A credential was rotated.
    Rotate,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// The change was made.
    Success,
    /// Nothing needed to change (the user was already gone, or does not exist there).
    NoChange,
    /// The change failed; [`AuditRecord::error`] says why.
    Failure,
}

/// One audited event on one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When it was recorded (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// What was done.
    pub action: AuditAction,
    /// The integration.
    pub integration: String,
    /// The instance (or Aurora cluster, or `local`).
    pub instance: String,
    /// The access request, when known.
    pub request_id: Option<String>,
    /// The database user, when the event concerns one.
    pub user: Option<String>,
    /// The resources on this instance (`INSTANCE/DATABASE[/SCHEMA[/TABLE]]`).
    pub resources: Vec<String>,
    /// The access level, when known.
    pub level: Option<String>,
    /// When access ends (grant, extend) or ended (sweep), when known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Who approved the request, when an approver is recorded.
    pub approver: Option<String>,
    /// Why access was requested, when the request said (grant).
    pub reason: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Why it failed (with [`AuditOutcome::Failure`]).
    pub error: Option<String>,
}

impl AuditRecord {
    /// A record with only the required parts; the rest is filled in field by field.
    pub fn new(
        time: OffsetDateTime,
        action: AuditAction,
        integration: impl Into<String>,
        instance: impl Into<String>,
        outcome: AuditOutcome,
    ) -> Self {
        Self {
            time,
            action,
            integration: integration.into(),
            instance: instance.into(),
            request_id: None,
            user: None,
            resources: Vec::new(),
            level: None,
            expires_at: None,
            approver: None,
            reason: None,
            outcome,
            error: None,
        }
    }

    /// The record as one line of JSON (no trailing newline).
    ///
    /// # Errors
    /// [`AuditError::Encode`] (not expected: every field is plain data).
    pub fn to_json_line(&self) -> Result<String, AuditError> {
        serde_json::to_string(self).map_err(AuditError::Encode)
    }
}

/// Writing an audit record failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The record could not be encoded as JSON.
    #[error("encoding an audit record")]
    Encode(#[source] serde_json::Error),
    /// The sink could not be written (disk full, file removed, stdout closed); fix the sink,
    /// the change itself was made.
    #[error("writing an audit record to {sink}")]
    Write {
        /// The sink (`stdout` or the file's path).
        sink: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Where audit records go. Implement it to send them to your own store; it must be cheap or
/// buffer internally, since records are written as changes complete.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Writes one record.
    ///
    /// # Errors
    /// When the record could not be written; the caller logs it (the change is already made).
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError>;
}

/// JSON lines on standard output, one record per line.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct StdoutSink;

impl StdoutSink {
    /// The sink.
    pub fn new() -> Self {
        Self
    }
}

impl AuditSink for StdoutSink {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = record.to_json_line()?;
        line.push('\n');
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| AuditError::Write {
                sink: "stdout".to_owned(),
                source,
            })
    }
}

/// JSON lines appended to a file (opened in append mode: records are only ever added, each
/// in one write, so several processes may share the file).
#[derive(Debug)]
pub struct AppendFileSink {
    path: PathBuf,
    file: Mutex<File>,
}

impl AppendFileSink {
    /// Opens (or creates) `path` for appending.
    ///
    /// # Errors
    /// [`AuditError::Write`] naming the path when it cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| AuditError::Write {
                sink: path.display().to_string(),
                source,
            })?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditSink for AppendFileSink {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = record.to_json_line()?;
        line.push('\n');
        // A poisoned lock only means another writer panicked mid-call; the file is still fine.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|source| AuditError::Write {
                sink: self.path.display().to_string(),
                source,
            })
    }
}

/// Builds and writes the records of one manager operation.
#[derive(Debug)]
pub(crate) struct Emitter<'a> {
    sink: Option<&'a dyn AuditSink>,
    integration: &'a str,
    connector: &'a str,
    time: OffsetDateTime,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(
        sink: Option<&'a dyn AuditSink>,
        integration: &'a str,
        connector: &'a str,
        time: OffsetDateTime,
    ) -> Self {
        Self {
            sink,
            integration,
            connector,
            time,
        }
    }

    fn record(&self, action: AuditAction, instance: &str, outcome: AuditOutcome) -> AuditRecord {
        AuditRecord::new(self.time, action, self.integration, instance, outcome)
    }

    fn write(&self, record: &AuditRecord) {
        if let Some(sink) = self.sink
            && let Err(error) = sink.record(record)
        {
            tracing::error!(error = %crate::error_chain(&error), action = ?record.action,
                instance = %record.instance, "audit record not written");
        }
    }

    fn outcome<T>(result: &Result<T, crate::AccessError>) -> (AuditOutcome, Option<String>) {
        match result {
            Ok(_) => (AuditOutcome::Success, None),
            Err(e) => (AuditOutcome::Failure, Some(crate::error_chain(e))),
        }
    }

    pub(crate) fn grant(
        &self,
        request: &AccessRequest,
        request_id: &str,
        expires_at: OffsetDateTime,
        instances: &FleetReport<Vec<DatabasePlan>>,
        undone: &std::collections::BTreeMap<InstanceId, Result<(), crate::AccessError>>,
    ) {
        if self.sink.is_none() {
            return;
        }
        for (instance, result) in &instances.results {
            let (outcome, mut error) = Self::outcome(result);
            if let Some(Err(e)) = undone.get(instance) {
                error = Some(format!(
                    "{}; removing the role again failed: {}",
                    error.unwrap_or_default(),
                    crate::error_chain(e)
                ));
            }
            let mut record = self.record(AuditAction::Grant, instance.as_str(), outcome);
            record.request_id = Some(request_id.to_owned());
            record.user = Some(request.grantee().to_string());
            record.resources = request
                .resources()
                .iter()
                .filter(|p| p.instance() == instance)
                .map(ToString::to_string)
                .collect();
            record.level = Some(request.level().to_string());
            record.expires_at = Some(expires_at);
            record.approver = request.approved_by().map(str::to_owned);
            record.reason = request.reason().map(str::to_owned);
            record.error = error;
            self.write(&record);
        }
    }

    pub(crate) fn revoke(&self, user: &Identifier, instances: &FleetReport<RevokeReport>) {
        for (instance, result) in &instances.results {
            let (mut outcome, error) = Self::outcome(result);
            if result.as_ref().is_ok_and(|r| !r.dropped && !r.retained) {
                outcome = AuditOutcome::NoChange;
            }
            let mut record = self.record(AuditAction::Revoke, instance.as_str(), outcome);
            record.user = Some(user.to_string());
            record.error = error;
            self.write(&record);
        }
    }

    pub(crate) fn revoke_request(
        &self,
        user: &Identifier,
        request_id: &str,
        instances: &FleetReport<crate::report::GrantRevocation>,
    ) {
        for (instance, result) in &instances.results {
            let (mut outcome, error) = Self::outcome(result);
            if matches!(result, Ok(crate::report::GrantRevocation::NotHeld)) {
                outcome = AuditOutcome::NoChange;
            }
            let mut record = self.record(AuditAction::Revoke, instance.as_str(), outcome);
            record.user = Some(user.to_string());
            record.request_id = Some(request_id.to_owned());
            record.error = error;
            self.write(&record);
        }
    }

    pub(crate) fn extend(
        &self,
        user: &Identifier,
        until: OffsetDateTime,
        approver: Option<&str>,
        instances: &FleetReport<Option<ManagedRecord>>,
    ) {
        for (instance, result) in &instances.results {
            let (mut outcome, error) = Self::outcome(result);
            let mut record_of_role = None;
            match result {
                Ok(None) => outcome = AuditOutcome::NoChange,
                Ok(Some(r)) => record_of_role = Some(r),
                Err(_) => {}
            }
            let mut record = self.record(AuditAction::Extend, instance.as_str(), outcome);
            record.user = Some(user.to_string());
            let grant = record_of_role.and_then(ManagedRecord::latest_grant);
            record.expires_at = Some(record_of_role.map_or(until, ManagedRecord::expires_at));
            record.request_id = grant.map(|g| g.request_id.clone());
            record.level = grant.map(|g| g.level.to_string());
            record.approver = approver.map(str::to_owned);
            record.error = error;
            self.write(&record);
        }
    }

    pub(crate) fn rotate(&self, outcome: &crate::report::rotation::RotateOutcome) {
        use crate::report::rotation::RotateOutcome;
        let (RotateOutcome::Rotated(report) | RotateOutcome::Incomplete(report)) = outcome else {
            return; // nothing changed: not due, busy elsewhere, nothing to rotate
        };
        for (instance, result) in &report.instances.results {
            let (mut outcome, error) = Self::outcome(result);
            if result.as_ref().is_ok_and(|r| !r.password_set) {
                outcome = AuditOutcome::NoChange;
            }
            let mut record = self.record(AuditAction::Rotate, instance.as_str(), outcome);
            record.user = Some(self.connector.to_owned());
            record.request_id = report.version_id.clone();
            record.error = error;
            self.write(&record);
        }
    }

    /// One role a sweep revoked (written as it goes).
    pub(crate) fn swept(&self, instance: &InstanceId, role: &SweptRole) {
        let outcome = if role.dropped_here {
            AuditOutcome::Success
        } else {
            AuditOutcome::NoChange
        };
        let mut record = self.record(AuditAction::Sweep, instance.as_str(), outcome);
        record.user = Some(role.user.clone());
        record.request_id = Some(role.request_id.clone());
        record.expires_at = Some(role.expired_at);
        self.write(&record);
    }

    /// A grant a sweep ended while its user kept others.
    pub(crate) fn grant_ended(&self, instance: &InstanceId, ended: &crate::report::EndedGrant) {
        let mut record = self.record(AuditAction::Sweep, instance.as_str(), AuditOutcome::Success);
        record.user = Some(ended.user.clone());
        record.request_id = Some(ended.request_id.clone());
        record.expires_at = Some(ended.expired_at);
        self.write(&record);
    }

    /// An expired role a sweep could not revoke (the sweep goes on with the next).
    pub(crate) fn sweep_failed(
        &self,
        instance: &InstanceId,
        role: &ManagedRole,
        error: &crate::AccessError,
    ) {
        let mut record = self.record(AuditAction::Sweep, instance.as_str(), AuditOutcome::Failure);
        record.user = Some(role.name.to_string());
        let grant = role.record.latest_grant();
        record.request_id = grant.map(|g| g.request_id.clone());
        record.level = grant.map(|g| g.level.to_string());
        record.expires_at = Some(role.record.expires_at());
        record.error = Some(crate::error_chain(error));
        self.write(&record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_record_is_one_json_line_with_every_field() {
        let mut record = AuditRecord::new(
            datetime!(2026-01-02 03:04:05 UTC),
            AuditAction::Grant,
            "orders",
            "orders-a",
            AuditOutcome::Success,
        );
        record.user = Some("alice".to_owned());
        record.resources = vec!["orders-a/appdb/sales".to_owned()];
        let line = record.to_json_line().expect("encode");
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(value["time"], "2026-01-02T03:04:05Z");
        assert_eq!(value["action"], "grant");
        assert_eq!(value["outcome"], "success");
        assert_eq!(value["resources"][0], "orders-a/appdb/sales");
        for key in [
            "integration",
            "instance",
            "request_id",
            "user",
            "level",
            "expires_at",
            "approver",
            "reason",
            "error",
        ] {
            assert!(value.get(key).is_some(), "{key} missing from {line}");
        }
    }

    #[test]
    fn the_file_sink_appends_and_never_truncates() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"earlier\":true}\n").expect("seed");
        let record = AuditRecord::new(
            datetime!(2026-01-02 03:04:05 UTC),
            AuditAction::Sweep,
            "orders",
            "orders-b",
            AuditOutcome::NoChange,
        );
        for _ in 0..2 {
            let sink = AppendFileSink::open(&path).expect("open");
            sink.record(&record).expect("write");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "{\"earlier\":true}");
        assert!(lines[2].contains("\"no_change\""));
    }

    #[test]
    fn an_unopenable_file_names_its_path() {
        let err = AppendFileSink::open("/nonexistent-dir/audit.jsonl").expect_err("no such dir");
        assert!(
            err.to_string().contains("/nonexistent-dir/audit.jsonl"),
            "{err}"
        );
    }
}
