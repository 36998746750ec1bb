//! The audit trail: one [`AuditRecord`] per grant, extend, revoke, swept role and rotation, per
//! instance, handed to an [`AuditSink`] (JSON lines on stdout, an append-only file, or your
//! own).
//!
//! A record names who got what, where, until when, for which request, approved by whom, and
//! whether it worked. It never carries a secret: records are built from names, levels, times
//! and error messages only, never from a password or token.
//!
//! # Surviving process death: intent, then outcome
//!
//! The changes the service makes on its own (a sweep's revocations, a rotation's new password)
//! are written twice: an *intent* record ([`AuditOutcome::Pending`]) before the change, and an
//! *outcome* record after it, both under the same [`AuditRecord::id`] and naming the change
//! ([`AuditRecord::change`]). [`AppendFileSink`] fsyncs every record before the call returns,
//! so an intent is on disk before the database is touched. A process killed between the two
//! (`kill -9`, an OOM kill, a lost node) leaves an intent without an outcome; the next sweep of
//! that instance (or the next rotation), from any replica or after a restart, resolves it
//! from the database state: it takes the role's operation lock (or the rotation locks) so that
//! no live process is still inside that change, reads the sink again (the change's own process
//! may have written the outcome meanwhile), then looks: is the role gone, its grant ended, the
//! secret's version current? The outcome it writes says so ([`AuditOutcome::Success`] or
//! [`AuditOutcome::Interrupted`], with [`AuditRecord::recovered`] set); an interrupted change
//! is made again by the same sweep or rotation, under a new intent.
//!
//! Why intents and not outcomes derived from the database alone: a dropped role leaves no
//! trace in the database to derive a record from, and the library keeps no table of its own.
//! Why resolve under the operation's own locks: a replica starting next to a live one must not
//! resolve (and so duplicate) an outcome the live one is about to write.
//!
//! Reading the pairs: every intent has outcome records under its id; an outcome appears once
//! per (id, request) (a sweep that ends several grants of one user writes one outcome per
//! grant under the intent's id). Recovery reads back only from sinks that can be read
//! ([`AuditSink::unresolved`]: the file sink; standard output cannot), so with `stdout` an
//! unpaired intent stays in the stream for its reader to check against the database. Grants,
//! extensions and revocations on request write their outcome once, after the change, as
//! before: their caller is there to see the result.
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

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use integration_model::{AccessRequest, Identifier, InstanceId};
use pg_grants::{ManagedRecord, ManagedRole, RevokeReport};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::report::{DatabasePlan, FleetReport, SweptRole};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A call to the connector's access API (`rds-pg-access-service`), whatever it asked:
    /// [`AuditRecord::call`] says which, [`AuditRecord::actor`] who. The changes it made are
    /// recorded apart, under their own actions and the same actor.
    ApiCall,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// An intent: the change is about to be made; its outcome follows under the same
    /// [`AuditRecord::id`] (see [the module docs](self#surviving-process-death-intent-then-outcome)).
    Pending,
    /// The process making the change stopped before it was made (found by recovery from the
    /// database state, [`AuditRecord::recovered`]); the sweep or rotation that found it makes
    /// it again under a new intent.
    Interrupted,
    /// The change was made.
    Success,
    /// Nothing needed to change (the user was already gone, or does not exist there).
    NoChange,
    /// The change failed; [`AuditRecord::error`] says why.
    Failure,
    /// A call refused before anything ran (authentication, scope, bad input):
    /// [`AuditRecord::error`] says why.
    Refused,
}

/// The change an intent announces (and its outcome reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditChange {
    /// Revoke a user whose grants all ended (dropped, or revoked and kept).
    RevokeUser,
    /// End the expired grants of a user who keeps others.
    EndGrants,
    /// Drop a revoked-and-kept user whose cleanup period has passed.
    DeleteUser,
    /// Set the connector's new password (a rotation's version) on the instance.
    SetPassword,
}

/// One audited event on one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The change's id (a random UUID): an intent and its outcome records share it, so a
    /// reader pairs them and sees a duplicate. Records of older versions have none (empty).
    #[serde(default)]
    pub id: String,
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
    /// Why it failed (with [`AuditOutcome::Failure`]), or what recovery found.
    pub error: Option<String>,
    /// For intents and their outcomes: the change.
    #[serde(default)]
    pub change: Option<AuditChange>,
    /// Whether recovery wrote this outcome, for an intent whose process stopped before
    /// writing it.
    #[serde(default)]
    pub recovered: bool,
    /// Who asked for it, when a caller did: the access API's authenticated caller, or
    /// whatever name the code around the operation gave with [`acting_as`]. `None` for the
    /// scheduler's own jobs and direct library calls (then absent from the JSON line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// With [`AuditAction::ApiCall`]: the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<ApiCall>,
}

/// A call to the access API, as its [`AuditRecord`] names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiCall {
    /// The HTTP method.
    pub method: String,
    /// The path (without the query).
    pub path: String,
    /// The answer's HTTP status.
    pub status: u16,
}

impl ApiCall {
    /// A call of `method` on `path` answered with `status`.
    pub fn new(method: impl Into<String>, path: impl Into<String>, status: u16) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            status,
        }
    }
}

tokio::task_local! {
    static ACTOR: String;
}

/// Runs `operation` with `actor` as the [`AuditRecord::actor`] of every record it writes
/// (a task-local value: it reaches everything `operation` awaits in this task, not tasks it
/// spawns). The access API wraps each caller's operation in it.
///
/// ```
/// use rds_pg_access::audit::{acting_as, current_actor};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(current_actor(), None);
/// let seen = acting_as("portal", async { current_actor() }).await;
/// assert_eq!(seen.as_deref(), Some("portal"));
/// # }
/// ```
pub async fn acting_as<F: std::future::Future>(
    actor: impl Into<String>,
    operation: F,
) -> F::Output {
    ACTOR.scope(actor.into(), operation).await
}

/// The actor [`acting_as`] set for the running task, if any.
pub fn current_actor() -> Option<String> {
    ACTOR.try_with(Clone::clone).ok()
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
            id: uuid::Uuid::new_v4().to_string(),
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
            change: None,
            recovered: false,
            actor: None,
            call: None,
        }
    }

    /// Whether this is an intent record ([`AuditOutcome::Pending`]).
    pub fn is_intent(&self) -> bool {
        self.outcome == AuditOutcome::Pending
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
    /// The sink could not be read back (recovery of intents); nothing was resolved.
    #[error("reading the audit records of {sink}")]
    Read {
        /// The file's path.
        sink: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Where audit records go. Implement it to send them to your own store; it must be cheap or
/// buffer internally, since records are written as changes complete.
///
/// An intent record ([`AuditRecord::is_intent`]) must be stored durably before `record`
/// returns: the change follows at once.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Writes one record.
    ///
    /// # Errors
    /// When the record could not be written; the caller logs it (the change is already made).
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError>;

    /// The intent records without an outcome record yet, read back from the store (see
    /// [the module docs](self#surviving-process-death-intent-then-outcome)). The default,
    /// for sinks that cannot be read back, is none: nothing is recovered.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn unresolved(&self) -> Result<Vec<AuditRecord>, AuditError> {
        Ok(Vec::new())
    }
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
/// in one write and fsynced before [`AuditSink::record`] returns, so several processes may
/// share the file and a record written survives the process). It reads itself back for
/// [`AuditSink::unresolved`], incrementally (each call reads what was appended since the
/// last); a line that does not parse (a record cut by a crash mid-write) is skipped.
#[derive(Debug)]
pub struct AppendFileSink {
    path: PathBuf,
    file: Mutex<File>,
    index: Mutex<Index>,
}

/// What [`AppendFileSink::unresolved`] has read so far.
#[derive(Debug, Default)]
struct Index {
    /// Bytes read (whole lines only).
    offset: u64,
    /// Intents without an outcome, by id.
    open: BTreeMap<String, AuditRecord>,
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
            index: Mutex::new(Index::default()),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_error(&self, source: std::io::Error) -> AuditError {
        AuditError::Read {
            sink: self.path.display().to_string(),
            source,
        }
    }
}

impl AuditSink for AppendFileSink {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = record.to_json_line()?;
        line.push('\n');
        // A poisoned lock only means another writer panicked mid-call; the file is still fine.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // fsync: an intent must be on disk before the change it announces, and an outcome
        // must not be lost with the machine once the change is made.
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_data())
            .map_err(|source| AuditError::Write {
                sink: self.path.display().to_string(),
                source,
            })
    }

    fn unresolved(&self) -> Result<Vec<AuditRecord>, AuditError> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = File::open(&self.path).map_err(|e| self.read_error(e))?;
        let length = file.metadata().map_err(|e| self.read_error(e))?.len();
        if length < index.offset {
            // Truncated or replaced (log rotation): read the new file from its start.
            *index = Index::default();
        }
        file.seek(SeekFrom::Start(index.offset))
            .map_err(|e| self.read_error(e))?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| self.read_error(e))?;
            // Only whole lines: one being written now is read by the next call.
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            index.offset += n as u64;
            let Ok(record) = serde_json::from_slice::<AuditRecord>(&line) else {
                continue;
            };
            if record.id.is_empty() {
                continue;
            }
            if record.is_intent() {
                index.open.insert(record.id.clone(), record);
            } else {
                index.open.remove(&record.id);
            }
        }
        Ok(index.open.values().cloned().collect())
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
        let mut record = AuditRecord::new(self.time, action, self.integration, instance, outcome);
        record.actor = current_actor();
        record
    }

    /// A record for `action`, under `intent`'s id and change when there is one.
    fn outcome_of(
        &self,
        intent: Option<&AuditRecord>,
        action: AuditAction,
        instance: &str,
        outcome: AuditOutcome,
    ) -> AuditRecord {
        let mut record = self.record(action, instance, outcome);
        if let Some(intent) = intent {
            record.id.clone_from(&intent.id);
            record.change = intent.change;
        }
        record
    }

    /// The sink, if any.
    pub(crate) fn sink(&self) -> Option<&'a dyn AuditSink> {
        self.sink
    }

    /// Writes the intent record of `change` (fsynced by the file sink) and returns it, for
    /// the outcome to carry its id. Without a sink it is built and not written.
    pub(crate) fn intent(
        &self,
        action: AuditAction,
        instance: &InstanceId,
        change: AuditChange,
        user: &str,
        request_id: Option<&str>,
        expires_at: Option<OffsetDateTime>,
    ) -> AuditRecord {
        let mut record = self.record(action, instance.as_str(), AuditOutcome::Pending);
        record.change = Some(change);
        record.user = Some(user.to_owned());
        record.request_id = request_id.map(str::to_owned);
        record.expires_at = expires_at;
        self.write(&record);
        record
    }

    /// The outcome of `intent` as recovery found it in the database (`note` says what).
    pub(crate) fn recovered(&self, intent: &AuditRecord, outcome: AuditOutcome, note: String) {
        let mut record = intent.clone();
        record.time = self.time;
        record.outcome = outcome;
        record.error = Some(note);
        record.recovered = true;
        self.write(&record);
    }

    /// The outcome of `intent` when its change failed as a whole.
    pub(crate) fn failed(&self, intent: &AuditRecord, error: &dyn std::error::Error) {
        let mut record = intent.clone();
        record.time = self.time;
        record.outcome = AuditOutcome::Failure;
        record.error = Some(crate::error_chain(error));
        self.write(&record);
    }

    /// The outcome of `intent` when the change found nothing to do.
    pub(crate) fn no_change(&self, intent: &AuditRecord) {
        let mut record = intent.clone();
        record.time = self.time;
        record.outcome = AuditOutcome::NoChange;
        self.write(&record);
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

    pub(crate) fn rotate(
        &self,
        outcome: &crate::report::rotation::RotateOutcome,
        intents: &BTreeMap<InstanceId, AuditRecord>,
    ) {
        use crate::report::rotation::RotateOutcome;
        let (RotateOutcome::Rotated(report) | RotateOutcome::Incomplete(report)) = outcome else {
            return; // nothing changed: not due, busy elsewhere, nothing to rotate
        };
        for (instance, result) in &report.instances.results {
            let (mut outcome, error) = Self::outcome(result);
            if result.as_ref().is_ok_and(|r| !r.password_set) {
                outcome = AuditOutcome::NoChange;
            }
            let mut record = self.outcome_of(
                intents.get(instance),
                AuditAction::Rotate,
                instance.as_str(),
                outcome,
            );
            record.user = Some(self.connector.to_owned());
            record.request_id = report.version_id.clone();
            record.error = error;
            self.write(&record);
        }
    }

    /// One role a sweep revoked (written as it goes).
    pub(crate) fn swept(
        &self,
        intent: Option<&AuditRecord>,
        instance: &InstanceId,
        role: &SweptRole,
    ) {
        let outcome = if role.dropped_here {
            AuditOutcome::Success
        } else {
            AuditOutcome::NoChange
        };
        let mut record = self.outcome_of(intent, AuditAction::Sweep, instance.as_str(), outcome);
        record.user = Some(role.user.clone());
        record.request_id = Some(role.request_id.clone());
        record.expires_at = Some(role.expired_at);
        self.write(&record);
    }

    /// A grant a sweep ended while its user kept others.
    pub(crate) fn grant_ended(
        &self,
        intent: Option<&AuditRecord>,
        instance: &InstanceId,
        ended: &crate::report::EndedGrant,
    ) {
        let mut record = self.outcome_of(
            intent,
            AuditAction::Sweep,
            instance.as_str(),
            AuditOutcome::Success,
        );
        record.user = Some(ended.user.clone());
        record.request_id = Some(ended.request_id.clone());
        record.expires_at = Some(ended.expired_at);
        self.write(&record);
    }

    /// An expired role a sweep could not revoke (the sweep goes on with the next).
    pub(crate) fn sweep_failed(
        &self,
        intent: Option<&AuditRecord>,
        instance: &InstanceId,
        role: &ManagedRole,
        error: &crate::AccessError,
    ) {
        let mut record = self.outcome_of(
            intent,
            AuditAction::Sweep,
            instance.as_str(),
            AuditOutcome::Failure,
        );
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
    fn the_file_sink_reads_back_the_intents_without_an_outcome_incrementally() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.jsonl");
        // A record of an older version (no id) and garbage are skipped.
        std::fs::write(&path, "{\"earlier\":true}\nnot json\n").expect("seed");
        let sink = AppendFileSink::open(&path).expect("open");
        let at = datetime!(2026-01-02 03:04:05 UTC);
        let intent = |user: &str| {
            let mut r =
                AuditRecord::new(at, AuditAction::Sweep, "orders", "a", AuditOutcome::Pending);
            r.user = Some(user.to_owned());
            r.change = Some(AuditChange::RevokeUser);
            r
        };
        let (one, two) = (intent("one"), intent("two"));
        sink.record(&one).expect("write");
        sink.record(&two).expect("write");
        let open: Vec<String> = sink
            .unresolved()
            .expect("read")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(open.len(), 2);
        assert!(open.contains(&one.id) && open.contains(&two.id));
        // Another process (another sink on the same file) writes one's outcome.
        let mut outcome = one.clone();
        outcome.outcome = AuditOutcome::Success;
        AppendFileSink::open(&path)
            .expect("open")
            .record(&outcome)
            .expect("write");
        let open = sink.unresolved().expect("read");
        assert_eq!(open.len(), 1);
        assert_eq!(open[0], two);
        // A line cut by a crash mid-write is not read until it is whole.
        let mut line = two.clone();
        line.outcome = AuditOutcome::Interrupted;
        let text = line.to_json_line().expect("json");
        let (head, tail) = text.split_at(text.len() / 2);
        let mut file = OpenOptions::new().append(true).open(&path).expect("append");
        file.write_all(head.as_bytes()).expect("half");
        assert_eq!(sink.unresolved().expect("read").len(), 1);
        file.write_all(tail.as_bytes()).expect("rest");
        file.write_all(b"\n").expect("newline");
        assert!(sink.unresolved().expect("read").is_empty());
        // Read back as written: a record survives the round trip.
        let back: AuditRecord = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, line);
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
