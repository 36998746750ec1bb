//! [`AwsFaultProxy`]: an HTTP/1.1 forwarder in front of [`MotoServer`] that answers chosen AWS
//! API calls with faults moto cannot produce: throttling in the error shape of the call's
//! protocol, a 503, a delay, a connection closed without an answer, or an answer lost after
//! moto carried the call out.
//!
//! Hand-rolled on `std::net` (one thread per connection) rather than hyper: the test kit is
//! synchronous and has no async runtime of its own, the AWS SDK sends one small request with a
//! `Content-Length` per call, and closing the connection after each answer keeps the
//! forwarding trivial (no keep-alive, no chunked bodies) while still being plain HTTP/1.1 to
//! the SDK. About 250 lines against hyper's server, client and a runtime.
//!
//! Calls are told apart by their operation: `X-Amz-Target: secretsmanager.PutSecretValue`
//! (AWS JSON 1.1, Secrets Manager) or `Action=DescribeDBInstances` in a form body (AWS query,
//! RDS).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{MotoServer, TestkitError};

/// Largest request head or body the proxy reads (the SDK's calls are a few KiB).
const MAX_REQUEST: usize = 1 << 20;

/// What the proxy does to a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsFault {
    /// `400` with the protocol's throttling error: `ThrottlingException` (JSON, Secrets
    /// Manager) or `Throttling` (query XML, RDS); the SDK's standard retry retries both.
    Throttle,
    /// `503 Service Unavailable` with the protocol's `ServiceUnavailable` error.
    Unavailable,
    /// Waits this long, then forwards the call (slower than the client's timeout: the client
    /// gives up, and moto may still carry the call out, as AWS may).
    Delay(Duration),
    /// Closes the connection after reading the call, without forwarding or answering.
    Drop,
    /// Forwards the call to moto (which carries it out), then closes the connection without
    /// the answer: the change is made but the client sees a failure.
    LoseAnswer,
}

/// A fault for calls of one operation: the first `skip` matching calls pass, the next
/// `times` get the fault, later ones pass.
#[derive(Debug, Clone)]
struct Rule {
    operation: String,
    fault: AwsFault,
    skip: usize,
    times: usize,
    matched: usize,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    /// Calls seen per operation, and faults applied per operation.
    calls: BTreeMap<String, usize>,
    faults: BTreeMap<String, usize>,
    /// Calls read and not yet answered (a delayed call waits here).
    in_flight: usize,
}

/// An HTTP forwarder in front of a [`MotoServer`] on a free 127.0.0.1 port, injecting
/// [`AwsFault`]s into chosen calls. Stopped on drop.
///
/// ```
/// use pg_testkit::{AwsFaultProxy, AwsFault, MotoServer};
/// let moto = MotoServer::start()?;
/// let proxy = AwsFaultProxy::start(&moto)?;
/// proxy.inject("DescribeDBInstances", AwsFault::Throttle, 0, 1);
/// assert!(proxy.endpoint_url().starts_with("http://127.0.0.1:"));
/// assert_eq!(proxy.calls("DescribeDBInstances"), 0);
/// # Ok::<(), pg_testkit::TestkitError>(())
/// ```
#[derive(Debug)]
pub struct AwsFaultProxy {
    endpoint: String,
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    moto: aws_config::SdkConfig,
}

impl AwsFaultProxy {
    /// Starts forwarding to `moto`.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start(moto: &MotoServer) -> Result<AwsFaultProxy, TestkitError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| TestkitError::io("binding the AWS fault proxy", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| TestkitError::io("reading the AWS fault proxy's port", e))?
            .port();
        let upstream = moto.port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("aws-fault-proxy".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let state = Arc::clone(&state);
                        let _ = std::thread::Builder::new()
                            .name("aws-fault-proxy-conn".into())
                            .spawn(move || serve(stream, upstream, &state));
                    }
                })
                .map_err(|e| TestkitError::io("starting the AWS fault proxy thread", e))?
        };
        Ok(AwsFaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            state,
            stop,
            accept: Some(accept),
            moto: moto.sdk_config(),
        })
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// Moto's SDK configuration ([`MotoServer::sdk_config`]) with the proxy as endpoint.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        self.moto
            .to_builder()
            .endpoint_url(self.endpoint.clone())
            .build()
    }

    /// Applies `fault` to calls of `operation` (`PutSecretValue`, `DescribeDBInstances`, ...):
    /// the first `skip` such calls from now pass, the next `times` get the fault.
    pub fn inject(&self, operation: &str, fault: AwsFault, skip: usize, times: usize) {
        self.lock().rules.push(Rule {
            operation: operation.to_owned(),
            fault,
            skip,
            times,
            matched: 0,
        });
    }

    /// Removes every fault; calls pass from now on.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// How many calls of `operation` reached the proxy so far.
    pub fn calls(&self, operation: &str) -> usize {
        self.lock().calls.get(operation).copied().unwrap_or(0)
    }

    /// How many calls of `operation` got a fault so far.
    pub fn faults(&self, operation: &str) -> usize {
        self.lock().faults.get(operation).copied().unwrap_or(0)
    }

    /// Waits until no call is in the proxy (a delayed call may still reach moto after the
    /// client gave up, as AWS may carry out a call whose answer timed out), at most `limit`.
    /// Returns whether it is idle.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if self.lock().in_flight == 0 {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for AwsFaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

/// One request from the client: its head lines and body.
struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }

    /// The operation and whether the call speaks AWS JSON (else the query protocol).
    fn operation(&self) -> (String, bool) {
        if let Some(target) = self.header("x-amz-target") {
            let op = target.rsplit('.').next().unwrap_or(target);
            return (op.to_owned(), true);
        }
        let body = String::from_utf8_lossy(&self.body);
        let op = body
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .unwrap_or("unknown");
        (op.to_owned(), false)
    }

    /// The request as sent upstream, asking for the connection to close after the answer.
    fn upstream_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for (index, line) in self.head.iter().enumerate() {
            let is_connection = index > 0
                && line
                    .split_once(':')
                    .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"));
            if !is_connection {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).ok()?;
        size += n;
        if n == 0 || size > MAX_REQUEST {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let mut request = Request {
        head,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return None;
    }
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).ok()?;
    Some(request)
}

/// Serves one connection: one request, then the connection is closed.
fn serve(mut client: TcpStream, upstream: u16, state: &Mutex<State>) {
    let Some(request) = read_request(&client) else {
        return;
    };
    let (operation, json) = request.operation();
    let fault = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        *state.calls.entry(operation.clone()).or_default() += 1;
        state.in_flight += 1;
        let fault = state
            .rules
            .iter_mut()
            .filter(|r| r.operation == operation)
            .find_map(|rule| {
                rule.matched += 1;
                (rule.matched > rule.skip && rule.matched <= rule.skip + rule.times)
                    .then_some(rule.fault)
            });
        if fault.is_some() {
            *state.faults.entry(operation.clone()).or_default() += 1;
        }
        fault
    };
    match fault {
        None => {
            let _ = forward(&request, upstream, &mut client);
        }
        Some(AwsFault::Throttle) => {
            let _ = client.write_all(&error_answer(json, 400, "Bad Request", THROTTLING));
        }
        Some(AwsFault::Unavailable) => {
            let _ = client.write_all(&error_answer(json, 503, "Service Unavailable", UNAVAILABLE));
        }
        Some(AwsFault::Delay(wait)) => {
            std::thread::sleep(wait);
            let _ = forward(&request, upstream, &mut client);
        }
        Some(AwsFault::Drop) => {}
        Some(AwsFault::LoseAnswer) => {
            let mut sink = Vec::new();
            let _ = forward(&request, upstream, &mut sink);
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .in_flight -= 1;
}

/// Sends the request to moto and copies its whole answer (moto closes after it) to `to`.
fn forward(request: &Request, upstream: u16, to: &mut impl Write) -> std::io::Result<()> {
    let mut moto = TcpStream::connect(("127.0.0.1", upstream))?;
    moto.write_all(&request.upstream_bytes())?;
    let mut answer = Vec::new();
    moto.read_to_end(&mut answer)?;
    to.write_all(&answer)
}

/// (JSON `__type`, query `Code`, message)
type ErrorShape = (&'static str, &'static str, &'static str);
const THROTTLING: ErrorShape = ("ThrottlingException", "Throttling", "Rate exceeded");
const UNAVAILABLE: ErrorShape = (
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "Service is unavailable",
);

/// An AWS error answer: JSON 1.1 (`__type`) or the query protocol's XML `ErrorResponse`.
fn error_answer(json: bool, status: u16, reason: &str, shape: ErrorShape) -> Vec<u8> {
    let (json_type, query_code, message) = shape;
    let (content_type, body) = if json {
        (
            "application/x-amz-json-1.1",
            format!("{{\"__type\":\"{json_type}\",\"message\":\"{message}\"}}"),
        )
    } else {
        (
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\
                 <Error><Type>Sender</Type><Code>{query_code}</Code>\
                 <Message>{message}</Message></Error>\
                 <RequestId>aws-fault-proxy</RequestId></ErrorResponse>"
            ),
        )
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         x-amzn-RequestId: aws-fault-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_have_the_protocol_shape() {
        let json =
            String::from_utf8(error_answer(true, 400, "Bad Request", THROTTLING)).expect("utf-8");
        assert!(json.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{json}");
        assert!(
            json.ends_with("{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}")
        );
        let xml =
            String::from_utf8(error_answer(false, 400, "Bad Request", THROTTLING)).expect("utf-8");
        assert!(xml.contains("<Code>Throttling</Code>"), "{xml}");
        let body_len = xml.split("\r\n\r\n").nth(1).map_or(0, str::len);
        assert!(xml.contains(&format!("Content-Length: {body_len}\r\n")));
    }

    #[test]
    fn operations_come_from_the_target_header_or_the_form_body() {
        let json = Request {
            head: vec![
                "POST / HTTP/1.1".into(),
                "X-Amz-Target: secretsmanager.PutSecretValue".into(),
            ],
            body: b"{}".to_vec(),
        };
        assert_eq!(json.operation(), ("PutSecretValue".to_owned(), true));
        let query = Request {
            head: vec!["POST / HTTP/1.1".into(), "connection: keep-alive".into()],
            body: b"Action=DescribeDBInstances&Version=2014-10-31".to_vec(),
        };
        assert_eq!(query.operation(), ("DescribeDBInstances".to_owned(), false));
        let upstream = String::from_utf8(query.upstream_bytes()).expect("utf-8");
        assert!(!upstream.contains("keep-alive"), "{upstream}");
        assert!(
            upstream.contains("Connection: close\r\n\r\nAction="),
            "{upstream}"
        );
    }
}
