//! The connector's access API: request, extend, inspect and revoke access over authenticated
//! HTTP, where the connector's credentials live.
//!
//! | method and path (under `/v1/integrations/{name}/`) | action | answer |
//! |---|---|---|
//! | `POST grants` | `grant` | 201 [`GrantDocument`](rds_pg_access::document::GrantDocument): the credentials, once |
//! | `GET users/{user}` | `inspect` | 200 [`InspectDocument`](rds_pg_access::document::InspectDocument) with each instance's status |
//! | `POST users/{user}/extend` | `extend` | 200 [`ExtendDocument`](rds_pg_access::document::ExtendDocument) |
//! | `DELETE users/{user}` (`?request=ID`: that grant only) | `revoke` | 200 [`RevokeDocument`](rds_pg_access::document::RevokeDocument) |
//! | `GET inventory` | `inventory` | 200 NDJSON: one [`InventoryLine`](rds_pg_access::document::InventoryLine) per item, then `{"type":"end",...}` |
//! | `GET check` | `check` | 200 the [`CheckReport`](rds_pg_access::CheckReport) list |
//!
//! Bodies are the documents `rdspg --output json` prints. Every refusal and failure is an RFC
//! 9457 problem document ([`Problem`]) naming the field at fault; an operation that ran and
//! failed on some instance carries its report in the problem's `report` member.
//!
//! **Who may call.** Each request carries `Authorization: Bearer <token>`; the settings
//! ([`Callers`]) hold only each token's SHA-256, with the integrations, actions and access flows
//! its caller may use. A grant or extension is checked against the caller's flows as the
//! library checks the integration's (`check_flows_within`); a caller limited to some flows
//! may inspect, extend and revoke only users whose every grant those flows cover.
//!
//! **Approval.** A flow with `approval = true` needs an approver other than the requester,
//! and here the approver is authenticated, never free text from the requester: either the
//! approver's own token in the `Rdspg-Approval: Bearer <token>` header (a different caller
//! with the `approve` action), or an `approver` named in the body by a caller that holds the
//! `approve` action itself (an access platform that ran its own approval step and attests
//! who approved). A caller cannot approve its own call, and the library refuses an approver
//! equal to the grantee.
//!
//! **Idempotency.** A grant's `request_id` is required and is the idempotency key. A retry of
//! the same request (its answer was lost) grants again, which hands out a new password for
//! the same user: no second user, and the retry's answer holds a working credential. The same
//! id for another level or resources is refused by the library (409); for another user, by a
//! scan of the managed users first (409), under a per-id lock within this process.
//!
//! **Fail closed.** The operations that change something run in a task of their own: a
//! client that disconnects mid-request leaves a grant, extension or revocation that finishes
//! (or is undone) exactly as if it had stayed; the retry then finds it. Every call is an
//! [`AuditRecord`](rds_pg_access::audit::AuditRecord) of action `api_call` naming the caller,
//! and the changes it makes are recorded under their own actions with the caller as `actor`.

mod callers;
mod openapi;
mod problem;
mod request;

pub use callers::{Action, Caller, Callers, CallersError, token_sha256_hex};
pub use openapi::openapi_document;
pub use problem::{PROBLEM_JSON, Problem, classify, classify_failures};
pub use request::{MAX_BODY_BYTES, MAX_RESOURCES};

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use rds_pg_access::audit::{ApiCall, AuditAction, AuditOutcome, AuditRecord, AuditSink, acting_as};
use rds_pg_access::document::{
    ExtendDocument, GrantDocument, InspectDocument, InventoryLine, RevokeDocument,
    RevokeRequestDocument,
};
use rds_pg_access::integration_model::{
    AccessDuration, AccessFlow, AccessLevel, AccessRequest, FlowScope, Identifier, RequestId,
    check_flows_within,
};
use rds_pg_access::{AccessError, AccessManager, ExtendRequest, FleetReport};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use request::{EXTEND_FIELDS, Fields, GRANT_FIELDS, field_of_model_key};

/// The names of the client certificate a TLS connection presented and the server verified
/// ([`crate::tls::certificate_names`]), in each request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCertificate {
    /// SAN DNS names, e-mail addresses and URIs, then common names.
    pub names: Arc<Vec<String>>,
}

/// The body of an API answer: a whole document, or an NDJSON stream.
pub type ApiBody = BoxBody<Bytes, Infallible>;

/// How long a client has to send a request's body (its head has
/// [`HEADER_TIMEOUT`](crate::http::HEADER_TIMEOUT)).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How many inventories stream at once (each holds a connection per instance being read).
pub const MAX_INVENTORIES: usize = 2;

/// How long an inventory stream waits for its client to take a line before it ends.
pub const LINE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The header that carries the approver's own token.
pub const APPROVAL_HEADER: &str = "Rdspg-Approval";

/// The access API of a set of integrations: their managers (shared with the scheduler, so
/// the pools are too), the callers, the audit sink. Serve it with
/// [`http::serve_with_api`](crate::http::serve_with_api) or through
/// [`ServiceConfig::api`](crate::ServiceConfig).
///
/// ```no_run
/// # fn demo(manager: rds_pg_access::AccessManager, callers: rds_pg_access_service::api::Callers) {
/// use rds_pg_access_service::api::Api;
/// let api = Api::new(callers).integration(manager);
/// # }
/// ```
#[derive(Debug)]
pub struct Api {
    managers: BTreeMap<String, AccessManager>,
    callers: Callers,
    audit: Option<Arc<dyn AuditSink>>,
    /// Per (integration, request id): held while a grant of that id checks and runs.
    request_locks: Mutex<RequestLocks>,
    tasks: TaskTracker,
    inventories: Arc<tokio::sync::Semaphore>,
    max_inventories: usize,
    line_timeout: std::time::Duration,
}

/// Per (integration, request id), the lock a grant of it holds.
type RequestLocks = HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

/// What a call was about, for its audit record.
#[derive(Debug, Default)]
struct CallFacts {
    integration: String,
    caller: Option<String>,
    user: Option<String>,
    request_id: Option<String>,
}

type Answer = Result<Response<ApiBody>, Problem>;

impl Api {
    /// An API for `callers`, with no integration yet.
    pub fn new(callers: Callers) -> Self {
        Self {
            managers: BTreeMap::new(),
            callers,
            audit: None,
            request_locks: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
            inventories: Arc::new(tokio::sync::Semaphore::new(MAX_INVENTORIES)),
            max_inventories: MAX_INVENTORIES,
            line_timeout: LINE_TIMEOUT,
        }
    }

    /// Serves `manager`'s integration (under its name).
    #[must_use]
    pub fn integration(mut self, manager: AccessManager) -> Self {
        self.managers
            .insert(manager.integration().name().to_string(), manager);
        self
    }

    /// At most `streams` inventories stream at once (default [`MAX_INVENTORIES`]; 0 turns
    /// `GET inventory` off), each ended when its client takes no line for `line_timeout`
    /// (default [`LINE_TIMEOUT`]).
    #[must_use]
    pub fn inventory_limits(mut self, streams: usize, line_timeout: std::time::Duration) -> Self {
        self.inventories = Arc::new(tokio::sync::Semaphore::new(streams));
        self.max_inventories = streams;
        self.line_timeout = line_timeout;
        self
    }

    /// The managers of the integrations it serves, by name.
    pub fn managers(&self) -> impl Iterator<Item = &AccessManager> {
        self.managers.values()
    }

    /// The caller of the bearer token in `headers` if it may read the status page.
    pub(crate) fn status_caller(
        &self,
        headers: &HeaderMap,
        certificate: Option<&ClientCertificate>,
    ) -> Option<&Caller> {
        self.authenticate(headers, certificate)
            .ok()
            .filter(|c| c.may(Action::Status))
    }

    /// Writes an audit record of every call to `sink` (the managers write their own records
    /// of the changes to theirs).
    #[must_use]
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Waits until every operation a call started has finished (also those whose client
    /// went away). New calls still start operations: stop the listener first.
    pub async fn finish(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }

    /// The answer to `request`, whose path starts with `/v1/`.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<ApiBody> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let mut facts = CallFacts::default();
        let answer = self.route(request, &mut facts).await;
        let (response, error) = match answer {
            Ok(response) => (response, None),
            Err(problem) => {
                let detail = problem.detail.clone();
                (problem_response(&problem), Some(detail))
            }
        };
        self.record_call(&method, &path, response.status(), facts, error);
        response
    }

    fn record_call(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        facts: CallFacts,
        error: Option<String>,
    ) {
        let Some(sink) = &self.audit else { return };
        let outcome = if status.is_success() {
            AuditOutcome::Success
        } else if status.is_client_error() {
            AuditOutcome::Refused
        } else {
            AuditOutcome::Failure
        };
        let mut record = AuditRecord::new(
            time::OffsetDateTime::now_utc(),
            AuditAction::ApiCall,
            facts.integration,
            "",
            outcome,
        );
        record.actor = facts.caller;
        record.user = facts.user;
        record.request_id = facts.request_id;
        record.error = error;
        // The path as asked, cut: a hostile caller does not get to write megabytes.
        record.call = Some(ApiCall::new(
            method.as_str(),
            path.chars().take(512).collect::<String>(),
            status.as_u16(),
        ));
        if let Err(e) = sink.record(&record) {
            tracing::error!(error = %rds_pg_access::error_chain(&e), "audit record of an API call not written");
        }
    }

    async fn route(&self, request: Request<Incoming>, facts: &mut CallFacts) -> Answer {
        // The description of the API is public: it holds no secret and no state.
        if request.uri().path() == "/v1/openapi.json" && request.method() == Method::GET {
            return Ok(json_response(StatusCode::OK, openapi_document()));
        }
        let route = Route::parse(request.uri().path())?;
        facts.integration = route.integration.chars().take(128).collect();
        let action = route.action(request.method())?;
        let caller = self.authenticate(
            request.headers(),
            request.extensions().get::<ClientCertificate>(),
        )?;
        facts.caller = Some(caller.name.clone());
        if !caller.may_use(&route.integration) || !caller.may(action) {
            let problem = Problem::new(
                StatusCode::FORBIDDEN,
                "out-of-scope",
                format!(
                    "caller {:?} may not {action} on integration {:?}",
                    caller.name, route.integration
                ),
            );
            return Err(if caller.may_use(&route.integration) {
                problem
            } else {
                problem.at("integration")
            });
        }
        let manager = self.managers.get(&route.integration).ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-integration",
                format!(
                    "no integration named {:?} is served here",
                    route.integration
                ),
            )
            .at("integration")
        })?;
        let user = match &route.user {
            Some(text) => {
                let user: Identifier = text.parse().map_err(|e| {
                    Problem::bad_request("user", format!("user {text:?} in the path: {e}"))
                })?;
                facts.user = Some(user.to_string());
                Some(user)
            }
            None => None,
        };
        let query = request.uri().query().map(str::to_owned);
        match (action, user) {
            (Action::Grant, _) => {
                let headers = request.headers().clone();
                let body = read_json_body(request).await?;
                self.grant(caller, manager, &headers, &body, facts).await
            }
            (Action::Inspect, Some(user)) => {
                let database = query_value(query.as_deref(), "database")?
                    .map(|d| {
                        d.parse::<Identifier>()
                            .map_err(|e| Problem::bad_request("database", format!("database: {e}")))
                    })
                    .transpose()?;
                self.inspect(caller, manager, &user, database.as_ref())
                    .await
            }
            (Action::Extend, Some(user)) => {
                let headers = request.headers().clone();
                let body = read_json_body(request).await?;
                self.extend(caller, manager, &user, &headers, &body, facts)
                    .await
            }
            (Action::Revoke, Some(user)) => {
                let request_id = query_value(query.as_deref(), "request")?;
                if let Some(id) = &request_id {
                    id.parse::<RequestId>()
                        .map_err(|e| Problem::bad_request("request", format!("request: {e}")))?;
                    facts.request_id = Some(id.clone());
                }
                self.revoke(caller, manager, &user, request_id).await
            }
            (Action::Inventory, _) => self.inventory(caller, manager),
            (Action::Check, _) => {
                let report = acting_as(caller.name.clone(), manager.check())
                    .await
                    .map_err(|e| Problem::of(&e))?;
                Ok(json_response(StatusCode::OK, &report))
            }
            _ => Err(Problem::new(
                StatusCode::NOT_FOUND,
                "no-such-path",
                "no such path",
            )),
        }
    }

    /// The caller of a request: by its bearer token, or by the client certificate the TLS
    /// layer verified ([`ClientCertificate`]). Both given and naming different callers: refused.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate: Option<&ClientCertificate>,
    ) -> Result<&Caller, Problem> {
        let unauthenticated = |detail: &str| {
            Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail).at("Authorization")
        };
        let by_certificate =
            certificate.and_then(|c| self.callers.by_certificate(c.names.as_slice()));
        let Some(token) = bearer(headers, "Authorization")? else {
            return by_certificate.ok_or_else(|| {
                unauthenticated(
                    "send `Authorization: Bearer <token>` (or a client certificate of a caller)",
                )
            });
        };
        let caller = self
            .callers
            .authenticate(token)
            .ok_or_else(|| unauthenticated("the bearer token is not one of a caller's"))?;
        if let Some(other) = by_certificate
            && other.name != caller.name
        {
            return Err(unauthenticated(
                "the bearer token and the client certificate are different callers'",
            ));
        }
        Ok(caller)
    }

    /// The approver of a grant or extension by `caller` (see [the module docs](self)), with
    /// the access flows of an approving caller (`Rdspg-Approval`), which the request must be
    /// within as well.
    fn approver(
        &self,
        caller: &Caller,
        integration: &str,
        headers: &HeaderMap,
        named: Option<String>,
    ) -> Result<Option<(String, Option<FlowScope>)>, Problem> {
        let refuse = |field: &str, detail: String| {
            Problem::new(StatusCode::FORBIDDEN, "approval-refused", detail).at(field)
        };
        if let Some(token) = bearer(headers, APPROVAL_HEADER)? {
            let approver = self.callers.authenticate(token).ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "the approval token is not one of a caller's",
                )
                .at("Rdspg-Approval")
            })?;
            if !approver.may_use(integration) || !approver.may(Action::Approve) {
                return Err(refuse(
                    "Rdspg-Approval",
                    format!(
                        "caller {:?} may not approve on integration {integration:?}",
                        approver.name
                    ),
                ));
            }
            if approver.name == caller.name {
                return Err(refuse(
                    "Rdspg-Approval",
                    format!("caller {:?} cannot approve its own request", caller.name),
                ));
            }
            if let Some(named) = named
                && named != approver.name
            {
                return Err(Problem::bad_request(
                    "approver",
                    format!(
                        "approver {named:?} is not the caller of the Rdspg-Approval token ({:?})",
                        approver.name
                    ),
                ));
            }
            return Ok(Some((approver.name.clone(), Some(approver.flows.clone()))));
        }
        let Some(named) = named else { return Ok(None) };
        if !caller.may(Action::Approve) {
            return Err(refuse(
                "approver",
                format!(
                    "caller {:?} may not name an approver (it lacks the approve action): send \
                     the approver's own token in Rdspg-Approval",
                    caller.name
                ),
            ));
        }
        if named == caller.name {
            return Err(refuse(
                "approver",
                format!("caller {:?} cannot approve its own request", caller.name),
            ));
        }
        Ok(Some((named, None)))
    }

    async fn grant(
        &self,
        caller: &Caller,
        manager: &AccessManager,
        headers: &HeaderMap,
        body: &[u8],
        facts: &mut CallFacts,
    ) -> Answer {
        let mut fields = Fields::parse(body, GRANT_FIELDS)?;
        let user_text = fields.required("user")?;
        let user: Identifier = user_text
            .parse()
            .map_err(|e| Problem::bad_request("user", format!("user: {e}")))?;
        facts.user = Some(user.to_string());
        let level: AccessLevel = fields
            .required("level")?
            .parse()
            .map_err(|e| Problem::bad_request("level", format!("level: {e}")))?;
        let duration: AccessDuration = fields
            .required("duration")?
            .parse()
            .map_err(|e| Problem::bad_request("duration", format!("duration: {e}")))?;
        let request_id_text = fields.required("request_id")?;
        let request_id: RequestId = request_id_text
            .parse()
            .map_err(|e| Problem::bad_request("request_id", format!("request_id: {e}")))?;
        facts.request_id = Some(request_id_text.clone());
        let mut resources = Vec::new();
        for (i, text) in fields
            .strings("resources", MAX_RESOURCES)?
            .iter()
            .enumerate()
        {
            resources.push(manager.resource_path(text).map_err(|e| {
                Problem::bad_request(
                    &format!("resources[{i}]"),
                    format!("resources[{i}]: {}", rds_pg_access::error_chain(&e)),
                )
            })?);
        }
        let reason = fields.string("reason")?;
        let named = fields.string("approver")?;
        let approver = self.approver(caller, &facts.integration, headers, named)?;
        // The request id is the caller's: a re-run by another caller is refused by the
        // library (`RequestOfAnother`), so nobody resets a password it was not handed.
        let mut builder = AccessRequest::builder(user.clone(), level, duration)
            .resources(resources)
            .request_id(request_id)
            .requested_by(caller.name.clone());
        if let Some(reason) = reason {
            builder = builder.reason(reason);
        }
        let mut approver_scope = None;
        if let Some((approver, scope)) = approver {
            builder = builder.approved_by(approver);
            approver_scope = scope;
        }
        let request = builder.build().map_err(|e| {
            let field = e.key().map(field_of_model_key);
            let mut problem = Problem::new(StatusCode::BAD_REQUEST, "invalid-field", e.to_string());
            problem.field = field;
            problem
        })?;
        check_flows_within(
            manager.integration().access_flows(),
            &caller.flows,
            &request,
        )
        .map_err(|refusal| {
            Problem::new(StatusCode::FORBIDDEN, "not-allowed", refusal.to_string())
        })?;
        if let Some(scope) = &approver_scope {
            check_flows_within(manager.integration().access_flows(), scope, &request).map_err(
                |refusal| {
                    Problem::new(
                        StatusCode::FORBIDDEN,
                        "approval-refused",
                        format!("the approving caller's access flows do not cover it: {refusal}"),
                    )
                    .at("Rdspg-Approval")
                },
            )?;
        }
        // One grant of a request id at a time here, from the check that no other user holds
        // it until the grant has run.
        let lock = self.request_lock(&facts.integration, &request_id_text);
        let guard = lock.lock_owned().await;
        self.request_id_unused_by_others(manager, &user, &request_id_text)
            .await?;
        let task = {
            let manager = manager.clone();
            let request = request.clone();
            let actor = caller.name.clone();
            self.tasks.spawn(async move {
                let outcome = acting_as(actor, manager.grant(&request)).await;
                drop(guard);
                outcome
            })
        };
        let outcome = task
            .await
            .map_err(|e| internal(format!("the grant's task failed: {e}")))?
            .map_err(|e| Problem::of(&e))?;
        let doc = GrantDocument::new(&outcome, &request, manager.integration().ssl_mode());
        if doc.is_complete() {
            let mut response = json_response(StatusCode::CREATED, &doc);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(response);
        }
        Err(Problem::of_failures(
            outcome.instances.failures().map(|(_, e)| e),
            "the grant failed on some instance and was undone everywhere (see report.errors \
             and report.undone); nothing was handed out",
        )
        .with_report(serde_json::to_value(&doc).ok()))
    }

    fn request_lock(&self, integration: &str, request_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.request_locks.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the locks nobody holds or waits for (only this map refers to them).
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(
            locks
                .entry((integration.to_owned(), request_id.to_owned()))
                .or_default(),
        )
    }

    /// Refuses a request id that another managed user's grant already carries (fail closed:
    /// an instance that cannot be read refuses the grant).
    async fn request_id_unused_by_others(
        &self,
        manager: &AccessManager,
        user: &Identifier,
        request_id: &str,
    ) -> Result<(), Problem> {
        let users = manager.users().await.map_err(|e| Problem::of(&e))?;
        for (instance, result) in &users.results {
            let statuses = result.as_ref().map_err(|e| {
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "instance-failed",
                    format!(
                        "cannot check on {instance} that no other user holds request {request_id:?}: {}",
                        rds_pg_access::error_chain(e)
                    ),
                )
            })?;
            if let Some(other) = statuses.iter().find(|s| {
                s.user != user.as_str() && s.grants.iter().any(|g| g.request_id == request_id)
            }) {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "request-conflict",
                    format!(
                        "request {request_id:?} is already granted to another user ({:?} on {instance}); \
                         give each request its own id",
                        other.user
                    ),
                )
                .at("request_id"));
            }
        }
        Ok(())
    }

    /// The managed user `user` on every instance, read once: 404 when a role of that name
    /// there is not the connector's, or when no instance has it; for a caller limited to some
    /// access flows, 403 when one of its grants lies outside them, and 503 when an instance
    /// cannot be read (its grants could not be checked). Other callers get the failures in the
    /// report.
    async fn managed_status(
        &self,
        caller: &Caller,
        manager: &AccessManager,
        user: &Identifier,
    ) -> Result<FleetReport<Option<rds_pg_access::UserStatus>>, Problem> {
        let status = manager
            .user_status(user)
            .await
            .map_err(|e| Problem::of(&e))?;
        // Only managed users: the API never describes or acts on the connector's or another
        // tenant's roles.
        if status.failures().any(|(_, e)| is_unmanaged(e)) {
            return Err(not_managed(user));
        }
        if caller.flows != FlowScope::Any {
            if status.failures().next().is_some() {
                return Err(failures_problem(
                    &status,
                    "to check the caller's access flows",
                ));
            }
            let flows = manager.integration().access_flows();
            for (instance, found) in &status.results {
                let Ok(Some(found)) = found else { continue };
                if let Err(outside) =
                    within_flows(flows, &caller.flows, user.as_str(), &found.grants)
                {
                    let which = outside.map_or_else(
                        || "no grant, and is no requester of them".to_owned(),
                        |g| format!("a grant (request {:?}) outside them", g.request_id),
                    );
                    return Err(Problem::new(
                        StatusCode::FORBIDDEN,
                        "out-of-scope",
                        format!(
                            "{user:?} holds on {instance} {which}: the access flows of caller {:?} \
                             do not cover it",
                            caller.name
                        ),
                    ));
                }
            }
        }
        if status.all_ok() && status.results.values().all(|r| matches!(r, Ok(None))) {
            return Err(not_managed(user));
        }
        Ok(status)
    }

    async fn inspect(
        &self,
        caller: &Caller,
        manager: &AccessManager,
        user: &Identifier,
        database: Option<&Identifier>,
    ) -> Answer {
        let status = self.managed_status(caller, manager, user).await?;
        // Nothing is inspected unless every instance could say whose the role is there.
        if status.failures().next().is_some() {
            return Err(failures_problem(&status, "to inspect it"));
        }
        let report = acting_as(caller.name.clone(), manager.inspect(user, database))
            .await
            .map_err(|e| Problem::of(&e))?;
        let doc = InspectDocument::new(user, &report).with_status(&status);
        fleet_answer(&doc, &report)
    }

    async fn extend(
        &self,
        caller: &Caller,
        manager: &AccessManager,
        user: &Identifier,
        headers: &HeaderMap,
        body: &[u8],
        facts: &mut CallFacts,
    ) -> Answer {
        let mut fields = Fields::parse(body, EXTEND_FIELDS)?;
        let duration: AccessDuration = fields
            .required("duration")?
            .parse()
            .map_err(|e| Problem::bad_request("duration", format!("duration: {e}")))?;
        let request_id = fields.string("request_id")?;
        if let Some(id) = &request_id {
            id.parse::<RequestId>()
                .map_err(|e| Problem::bad_request("request_id", format!("request_id: {e}")))?;
            facts.request_id = Some(id.clone());
        }
        let named = fields.string("approver")?;
        // The approving caller's own flows are not checked on an extension (the library
        // checks one scope: the requester's); see SECURITY.md's limits.
        let approver = self
            .approver(caller, &facts.integration, headers, named)?
            .map(|(name, _)| name);
        // Checked before anything runs, as for a revocation: an extension runs on every
        // instance where the user is managed, so a role of that name the connector did not
        // make elsewhere must stop it first, not be found after the others were extended.
        self.managed_status(caller, manager, user).await?;
        let mut request =
            ExtendRequest::lasting(user.clone(), duration, time::OffsetDateTime::now_utc())
                .within(caller.flows.clone());
        if let Some(approver) = approver {
            request = request.approved_by(approver);
        }
        if let Some(id) = request_id {
            request = request.request(id);
        }
        let task = {
            let manager = manager.clone();
            let request = request.clone();
            let actor = caller.name.clone();
            self.tasks
                .spawn(async move { acting_as(actor, manager.extend(&request)).await })
        };
        let report = task
            .await
            .map_err(|e| internal(format!("the extension's task failed: {e}")))?
            .map_err(|e| Problem::of(&e))?;
        let unmanaged = report.failures().any(|(_, e)| is_unmanaged(e));
        if unmanaged || (report.all_ok() && report.results.values().all(|r| matches!(r, Ok(None))))
        {
            return Err(not_managed(user));
        }
        let doc = ExtendDocument::new(user, request.until, &report);
        fleet_answer(&doc, &report)
    }

    async fn revoke(
        &self,
        caller: &Caller,
        manager: &AccessManager,
        user: &Identifier,
        request_id: Option<String>,
    ) -> Answer {
        // A role the connector did not make, or none of that name, is no user (404), with
        // nothing run against it; an instance that cannot be read does not stop the others.
        self.managed_status(caller, manager, user).await?;
        let manager = manager.clone();
        let user = user.clone();
        let actor = caller.name.clone();
        let task = self.tasks.spawn(async move {
            acting_as(actor, async {
                match request_id {
                    Some(id) => {
                        let report = manager.revoke_request(&user, &id).await?;
                        let doc = RevokeRequestDocument::new(&user, &id, &report);
                        Ok::<_, AccessError>(fleet_answer(&doc, &report))
                    }
                    None => {
                        let report = manager.revoke(&user).await?;
                        let doc = RevokeDocument::new(&user, &report);
                        Ok(fleet_answer(&doc, &report))
                    }
                }
            })
            .await
        });
        task.await
            .map_err(|e| internal(format!("the revocation's task failed: {e}")))?
            .map_err(|e| Problem::of(&e))?
    }

    /// Streams the inventory: the task reading the instances hands each line to a bounded
    /// channel (on a multi-thread runtime it waits, off the async workers, while the client
    /// reads slowly; on a single-thread one, where nothing else could run meanwhile, the lines
    /// queue) and stops when the client goes away.
    fn inventory(&self, caller: &Caller, manager: &AccessManager) -> Answer {
        // Each stream holds a connection per instance being read: a few at a time, and a
        // client that stops reading for the line timeout loses its stream.
        let Ok(permit) = Arc::clone(&self.inventories).try_acquire_owned() else {
            let mut problem = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!(
                    "{} inventories are streaming; try again when one ends",
                    self.max_inventories
                ),
            );
            problem.retry_after = Some(10);
            return Err(problem);
        };
        let (tx, rx) = mpsc::channel::<Bytes>(256);
        let (queued_tx, queued_rx) = mpsc::unbounded_channel::<Bytes>();
        let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
        // Only one of the two carries the lines; the other is closed at once.
        let queued_tx = (!multi_thread).then_some(queued_tx);
        let queued_rx = (!multi_thread).then_some(queued_rx);
        let manager = manager.clone();
        let actor = caller.name.clone();
        let stalled = CancellationToken::new();
        let line_timeout = self.line_timeout;
        let task = tokio::spawn(async move {
            let _permit = permit;
            let lines = tx.clone();
            let stalled_sink = stalled.clone();
            let sink = move |instance: &_, database: &str, entry: &_| {
                if stalled_sink.is_cancelled() {
                    return;
                }
                let line = InventoryLine::new(instance, database, entry);
                if let Ok(mut bytes) = serde_json::to_vec(&line) {
                    bytes.push(b'\n');
                    let bytes = Bytes::from(bytes);
                    match &queued_tx {
                        Some(queued) => {
                            let _ = queued.send(bytes);
                        }
                        None => {
                            let sent = tokio::task::block_in_place(|| {
                                tokio::runtime::Handle::current()
                                    .block_on(lines.send_timeout(bytes, line_timeout))
                            });
                            if sent.is_err() {
                                stalled_sink.cancel();
                            }
                        }
                    }
                }
            };
            let report = tokio::select! {
                report = acting_as(actor, manager.inventory(sink)) => report,
                // The client stopped reading (or left): the stream ends without its end line,
                // and the instances' connections close.
                () = stalled.cancelled() => return,
            };
            let end = match report {
                Ok(report) => InventoryEnd::of(&report),
                Err(e) => InventoryEnd {
                    kind: "end",
                    complete: false,
                    items: BTreeMap::new(),
                    errors: BTreeMap::from([(String::new(), rds_pg_access::error_chain(&e))]),
                },
            };
            if let Ok(mut bytes) = serde_json::to_vec(&end) {
                bytes.push(b'\n');
                // The end line waits no longer than a data line: the stream and its permit end
                // either way.
                let _ = tx.send_timeout(Bytes::from(bytes), line_timeout).await;
            }
        });
        let body = ChannelBody {
            queued: queued_rx,
            rx,
            task: AbortOnDrop(task),
        };
        let mut response = Response::new(BoxBody::new(body));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        Ok(response)
    }
}

/// The last line of an inventory stream.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct InventoryEnd {
    #[serde(rename = "type")]
    kind: &'static str,
    /// Whether every instance was read whole.
    complete: bool,
    /// Items sent per instance.
    items: BTreeMap<String, u64>,
    /// Per instance that failed (or `""` for the whole run), why.
    errors: BTreeMap<String, String>,
}

impl InventoryEnd {
    fn of(report: &FleetReport<rds_pg_access::InventoryCounts>) -> Self {
        let mut end = Self {
            kind: "end",
            complete: report.all_ok(),
            items: BTreeMap::new(),
            errors: BTreeMap::new(),
        };
        for (instance, result) in &report.results {
            match result {
                Ok(counts) => {
                    end.items.insert(
                        instance.to_string(),
                        counts.databases + counts.schemas + counts.tables,
                    );
                }
                Err(e) => {
                    end.errors
                        .insert(instance.to_string(), rds_pg_access::error_chain(e));
                }
            }
        }
        end
    }
}

/// Whether `caller` may see `user` of `manager`'s integration ([`within_flows`]).
pub(crate) fn covers_user(
    caller: &Caller,
    manager: &AccessManager,
    user: &rds_pg_access::UserStatus,
) -> bool {
    within_flows(
        manager.integration().access_flows(),
        &caller.flows,
        &user.user,
        &user.grants,
    )
    .is_ok()
}

/// Whether the grants of `grantee` all lie within the flows of `scope`: `Err` with the first
/// that does not. A user without grants (revoked and kept) is within them only when one of
/// those flows lists it among its requesters: an empty list covers no one.
fn within_flows<'a>(
    flows: &[AccessFlow],
    scope: &FlowScope,
    grantee: &str,
    grants: &'a [rds_pg_access::pg_grants::GrantRecord],
) -> Result<(), Option<&'a rds_pg_access::pg_grants::GrantRecord>> {
    if *scope == FlowScope::Any {
        return Ok(());
    }
    if grants.is_empty() {
        let listed = flows
            .iter()
            .filter(|f| scope.allows(&f.name))
            .any(|f| f.requesters.iter().any(|p| p.matches(grantee)));
        return if listed { Ok(()) } else { Err(None) };
    }
    match grants.iter().find(|g| !covered(flows, scope, grantee, g)) {
        Some(outside) => Err(Some(outside)),
        None => Ok(()),
    }
}

/// Whether a flow within `scope` covers `grant` of `grantee`: its requesters, levels and
/// resources (not the duration: that was checked when it was granted or extended).
fn covered(
    flows: &[AccessFlow],
    scope: &FlowScope,
    grantee: &str,
    grant: &rds_pg_access::pg_grants::GrantRecord,
) -> bool {
    !grant.resources.is_empty()
        && flows.iter().filter(|f| scope.allows(&f.name)).any(|f| {
            f.requesters.iter().any(|p| p.matches(grantee))
                && f.levels.contains(&grant.level)
                && grant
                    .resources
                    .iter()
                    .all(|r| f.resources.iter().any(|p| p.matches(r)))
        })
}

/// `doc` (200) when `report` holds no failure, else a problem carrying it.
fn fleet_answer<T>(doc: &impl Serialize, report: &FleetReport<T>) -> Answer {
    if report.failures().next().is_none() {
        return Ok(json_response(StatusCode::OK, doc));
    }
    Err(Problem::of_failures(
        report.failures().map(|(_, e)| e),
        "the operation failed on some instance (see report.errors); running it again is safe",
    )
    .with_report(serde_json::to_value(doc).ok()))
}

/// The problem of the instances where `report` failed, `purpose` saying what reading them was
/// for.
fn failures_problem<T>(report: &FleetReport<T>, purpose: &str) -> Problem {
    let detail = report
        .failures()
        .map(|(instance, e)| format!("{instance}: {}", rds_pg_access::error_chain(e)))
        .collect::<Vec<_>>()
        .join("; ");
    Problem::of_failures(
        report.failures().map(|(_, e)| e),
        format!("cannot read the user {purpose}: {detail}"),
    )
}

/// Whether `error` says a role of that name exists and the connector did not make it.
fn is_unmanaged(error: &AccessError) -> bool {
    matches!(
        error,
        AccessError::Grants(rds_pg_access::pg_grants::GrantsError::NotManaged { .. })
    )
}

fn not_managed(user: &Identifier) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no-managed-user",
        format!("no instance of the integration has a user {user:?} made by this connector"),
    )
    .at("user")
}

fn internal(detail: String) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
}

/// The path of an API call.
#[derive(Debug, PartialEq, Eq)]
struct Route {
    integration: String,
    kind: RouteKind,
    user: Option<String>,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum RouteKind {
    Grants,
    User,
    Extend,
    Inventory,
    Check,
}

impl Route {
    fn parse(path: &str) -> Result<Self, Problem> {
        let not_found = || {
            Problem::new(
                StatusCode::NOT_FOUND,
                "no-such-path",
                "no such path: see /v1/integrations/{name}/grants, users/{user}, \
                 users/{user}/extend, inventory, check",
            )
        };
        let rest = path
            .strip_prefix("/v1/integrations/")
            .ok_or_else(not_found)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let decode = |part: &str, field: &str| -> Result<String, Problem> {
            let text = percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map_err(|_| {
                    Problem::bad_request(field, format!("{field} in the path is not UTF-8"))
                })?;
            if text.is_empty() {
                return Err(not_found());
            }
            Ok(text.into_owned())
        };
        let (integration, kind, user) = match parts.as_slice() {
            [name, "grants"] => (*name, RouteKind::Grants, None),
            [name, "inventory"] => (*name, RouteKind::Inventory, None),
            [name, "check"] => (*name, RouteKind::Check, None),
            [name, "users", user] => (*name, RouteKind::User, Some(decode(user, "user")?)),
            [name, "users", user, "extend"] => {
                (*name, RouteKind::Extend, Some(decode(user, "user")?))
            }
            _ => return Err(not_found()),
        };
        Ok(Self {
            integration: decode(integration, "integration")?,
            kind,
            user,
        })
    }

    fn action(&self, method: &Method) -> Result<Action, Problem> {
        let (action, allow) = match (self.kind, method) {
            (RouteKind::Grants, &Method::POST) => (Some(Action::Grant), "POST"),
            (RouteKind::Grants, _) => (None, "POST"),
            (RouteKind::User, &Method::GET) => (Some(Action::Inspect), "GET, DELETE"),
            (RouteKind::User, &Method::DELETE) => (Some(Action::Revoke), "GET, DELETE"),
            (RouteKind::User, _) => (None, "GET, DELETE"),
            (RouteKind::Extend, &Method::POST) => (Some(Action::Extend), "POST"),
            (RouteKind::Extend, _) => (None, "POST"),
            (RouteKind::Inventory, &Method::GET) => (Some(Action::Inventory), "GET"),
            (RouteKind::Inventory, _) => (None, "GET"),
            (RouteKind::Check, &Method::GET) => (Some(Action::Check), "GET"),
            (RouteKind::Check, _) => (None, "GET"),
        };
        action.ok_or_else(|| {
            let mut problem = Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                format!("{method} is not taken here; use {allow}"),
            );
            problem.allow = Some(allow);
            problem
        })
    }
}

/// The token of `Bearer <token>` in header `name`, if the header is there.
fn bearer<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Problem> {
    let mut values = headers.get_all(name.to_ascii_lowercase()).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let malformed = |why: &str| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("{name}: {why}; send `Bearer <token>`"),
        )
        .at(name)
    };
    if values.next().is_some() {
        return Err(malformed("given twice"));
    }
    let text = value.to_str().map_err(|_| malformed("not ASCII"))?;
    let (scheme, token) = text.split_once(' ').ok_or_else(|| malformed("no scheme"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed("not a bearer token"));
    }
    Ok(Some(token.trim()))
}

/// The value of `key` in a query string (`a=1&b=2`), percent-decoded.
fn query_value(query: Option<&str>, key: &str) -> Result<Option<String>, Problem> {
    let Some(query) = query else { return Ok(None) };
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != key {
            return Err(Problem::bad_request(
                k,
                format!(
                    "unknown query parameter {:?}",
                    k.chars().take(64).collect::<String>()
                ),
            ));
        }
        if found.is_some() {
            return Err(Problem::bad_request(key, format!("{key} is given twice")));
        }
        let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
            .decode_utf8()
            .map_err(|_| Problem::bad_request(key, format!("{key} is not UTF-8")))?
            .into_owned();
        found = Some(v);
    }
    Ok(found)
}

/// Reads a JSON body: `Content-Type: application/json` (415 otherwise), at most
/// [`MAX_BODY_BYTES`] (413 otherwise).
async fn read_json_body(request: Request<Incoming>) -> Result<Bytes, Problem> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as Content-Type: application/json",
        )
        .at("Content-Type"));
    }
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    if request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let read = Limited::new(request.into_body(), MAX_BODY_BYTES).collect();
    let Ok(read) = tokio::time::timeout(BODY_TIMEOUT, read).await else {
        return Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            format!(
                "the body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        ));
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            format!("the body could not be read: {e}"),
        )),
    }
}

fn json_response(status: StatusCode, doc: &impl Serialize) -> Response<ApiBody> {
    match serde_json::to_vec(doc) {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => problem_response(&internal(format!("encoding the answer: {e}"))),
    }
}

/// A problem as an answer.
pub fn problem_response(problem: &Problem) -> Response<ApiBody> {
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = problem.status();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if problem.status == 401 {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"rdspg\""),
        );
    }
    if let Some(allow) = problem.allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if let Some(seconds) = problem.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Aborts the task when the body is dropped (the client went away).
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A body read from a channel, ending when every sender is gone: first the queued lines
/// (single-thread runtimes), then the bounded channel, whose last message is the end line.
#[derive(Debug)]
struct ChannelBody {
    queued: Option<mpsc::UnboundedReceiver<Bytes>>,
    rx: mpsc::Receiver<Bytes>,
    #[allow(dead_code)] // held for its Drop
    task: AbortOnDrop,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(queued) = &mut self.queued {
            match queued.poll_recv(cx) {
                Poll::Ready(Some(bytes)) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
                // Every queued line was read and the sink is gone: the end line follows.
                Poll::Ready(None) => self.queued = None,
                Poll::Pending => return Poll::Pending,
            }
        }
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_or_are_refused() {
        let route =
            Route::parse("/v1/integrations/orders/users/alice%40corp.io/extend").expect("route");
        assert_eq!(route.integration, "orders");
        assert_eq!(route.kind, RouteKind::Extend);
        assert_eq!(route.user.as_deref(), Some("alice@corp.io"));
        for bad in [
            "/v1/integrations/",
            "/v1/integrations/orders",
            "/v1/integrations/orders/grants/",
            "/v1/integrations//grants",
            "/v1/integrations/orders/users/",
            "/v1/integrations/orders/users/a/b",
            "/v2/integrations/orders/grants",
        ] {
            assert_eq!(Route::parse(bad).expect_err(bad).status, 404, "{bad}");
        }
        assert_eq!(
            Route::parse("/v1/integrations/orders/users/%FF")
                .expect_err("not UTF-8")
                .field
                .as_deref(),
            Some("user")
        );
        let route = Route::parse("/v1/integrations/orders/grants").expect("route");
        let refused = route.action(&Method::GET).expect_err("GET grants");
        assert_eq!((refused.status, refused.allow), (405, Some("POST")));
    }

    #[test]
    fn a_user_without_grants_is_within_only_flows_that_list_it() {
        let flow = AccessFlow::new(
            "analysts",
            vec!["analyst-*".parse().expect("pattern")],
            vec!["**".parse().expect("pattern")],
            vec![AccessLevel::ReadOnly],
            "8h".parse().expect("duration"),
            false,
        );
        let flows = [flow];
        let scope = FlowScope::from_names(["analysts"]);
        // Revoked and kept: no grants. An empty list must not cover everyone.
        assert!(within_flows(&flows, &scope, "admin-bob", &[]).is_err());
        assert!(within_flows(&flows, &scope, "analyst-1", &[]).is_ok());
        assert!(within_flows(&flows, &FlowScope::Any, "admin-bob", &[]).is_ok());
        let grant = rds_pg_access::pg_grants::GrantRecord::new(
            "r1",
            AccessLevel::Admin,
            time::OffsetDateTime::now_utc(),
        );
        let mut in_flow = grant.clone();
        in_flow.level = AccessLevel::ReadOnly;
        in_flow.resources = vec!["local/appdb".to_owned()];
        assert!(within_flows(&flows, &scope, "analyst-1", &[in_flow.clone()]).is_ok());
        assert_eq!(
            within_flows(&flows, &scope, "analyst-1", &[in_flow, grant.clone()]),
            Err(Some(&grant))
        );
    }

    #[test]
    fn queries_take_only_their_key() {
        assert_eq!(query_value(None, "request").expect("none"), None);
        assert_eq!(
            query_value(Some("request=REQ%2D1"), "request").expect("one"),
            Some("REQ-1".to_owned())
        );
        assert!(query_value(Some("request=a&request=b"), "request").is_err());
        assert!(query_value(Some("cascade=1"), "request").is_err());
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers, "Authorization").expect("absent"), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers, "authorization").expect("ok"), Some("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc"] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(
                bearer(&headers, "authorization").expect_err(bad).status,
                401
            );
        }
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert!(bearer(&headers, "authorization").is_err());
    }
}
