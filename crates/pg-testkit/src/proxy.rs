//! [`FaultProxy`]: a TCP proxy between a client and a PostgreSQL server that counts the
//! protocol's round trips and breaks the connection at a chosen one.
//!
//! The proxy listens on `127.0.0.1` and forwards every connection to one upstream address (a
//! [`TestCluster`](crate::TestCluster)). It reads PostgreSQL's wire framing in both directions
//! (the [protocol's message formats]: the startup packets `SSLRequest`, `GSSENCRequest`,
//! `CancelRequest` and `StartupMessage` carry no type byte, every later message is one type byte
//! and a four-byte length) and faults are set at run time through the proxy (it is `Sync`: share
//! it by reference or in an `Arc`).
//!
//! # Round trips
//!
//! A **round trip** is one client request the client then waits on, with the server's whole
//! answer to it. Requests are the messages after which a client waits: `SSLRequest` and
//! `GSSENCRequest` (answered by one byte), `StartupMessage` and each authentication message `p`
//! (answered by the next authentication request, an error or, at the end of the startup,
//! `ReadyForQuery`), a simple `Query` `Q`, an extended-protocol `Sync` `S` and a `FunctionCall`
//! `F` (answered up to `ReadyForQuery` `Z`). The extended protocol's `Parse`/`Bind`/`Describe`/
//! `Execute`/`Close` before a `Sync` belong to that `Sync`'s round trip: the proxy holds them
//! and forwards the whole flight when its `Sync` comes, so that "cut before round trip *k*"
//! means the server received nothing of request *k*. A transaction's `COMMIT` is a round trip
//! of its own, and so is every statement of a simple-protocol batch sent as one `Query` (one
//! round trip, one implicit transaction).
//!
//! Round trips are numbered from 1 in the order the proxy sees them, over every connection of
//! the current epoch ([`FaultProxy::reset`] starts one), and also per connection. A clean run
//! in an epoch gives the [`trace`](FaultProxy::trace), whose length is the number of cut points
//! a test enumerates.
//!
//! # Faults
//!
//! A [`Fault`] is a trigger ([`At`]: the *k*-th round trip of the epoch or of one connection,
//! the *k*-th client message, the *k*-th connection) and an [`Action`]:
//!
//! - [`Action::Cut`]: both sides are closed (FIN) before the request reaches the server;
//! - [`Action::LoseAnswer`]: the request reaches the server, the server answers in full (for a
//!   `COMMIT`: the transaction is committed), the client receives none of that answer and both
//!   sides are closed: "it happened, but nobody heard";
//! - [`Action::CutAfterSend`]: the request reaches the server and both sides are closed at
//!   once, without waiting for the answer (the server may or may not have acted);
//! - [`Action::Reset`]: both sides are reset (RST, `SO_LINGER` 0) before the request reaches
//!   the server;
//! - [`Action::Stall`]: the request is held for a while, then forwarded.
//!
//! Each armed fault fires once ([`FaultProxy::fired`] lists those that did). Besides faults,
//! [`FaultProxy::refuse_connections`] resets every new connection as it is accepted, and
//! [`FaultProxy::cut_all`] closes every open one.
//!
//! # TLS
//!
//! After the server accepts an `SSLRequest` (or when the client opens with TLS directly, as
//! PostgreSQL 17's `sslnegotiation=direct` does), the bytes are encrypted: the proxy then counts
//! TLS records (a five-byte header, then the record) as client messages, so [`At::ClientMessage`]
//! and [`At::ConnectionMessage`] still cut a TLS connection at every record of its handshake and
//! after; round trips inside TLS cannot be told apart and are not counted.
//!
//! # Example
//!
//! ```
//! use pg_testkit::{Action, At, Fault, FaultProxy, TestCluster};
//!
//! let cluster = TestCluster::start()?;
//! let proxy = FaultProxy::for_cluster(&cluster)?;
//! // Clients connect to 127.0.0.1:proxy.port() instead of the cluster's port. A clean run
//! // records its round trips; then the same run is broken at each of them in turn.
//! proxy.reset();
//! // ... run the operation through the proxy ...
//! let cut_points = proxy.round_trips();
//! for k in 1..=cut_points {
//!     proxy.reset();
//!     proxy.arm(Fault::new(At::RoundTrip(k), Action::LoseAnswer));
//!     // ... run it again: the server does round trip k, the client never hears ...
//! }
//! assert!(proxy.fired().is_empty());
//! # Ok::<(), pg_testkit::TestkitError>(())
//! ```
//!
//! [protocol's message formats]: https://www.postgresql.org/docs/current/protocol-message-formats.html

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::TestkitError;

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// A TLS handshake record's first byte (content type 22).
const TLS_HANDSHAKE: u8 = 0x16;
/// A message longer than this is taken for garbage: the proxy then forwards bytes unparsed.
const MAX_MESSAGE: usize = 1 << 30;

/// What a client request is (see the module docs for which messages are requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// `SSLRequest`: answered by one byte, `S` (TLS follows) or `N`.
    SslRequest,
    /// `GSSENCRequest`: answered by one byte.
    GssEncRequest,
    /// `StartupMessage`: the user and database.
    Startup,
    /// An authentication message (`p`: password, SASL initial response or response).
    Auth,
    /// A simple-protocol `Query`.
    Query,
    /// An extended-protocol `Sync` ending `Parse`/`Bind`/`Execute`… messages.
    Sync,
    /// A `FunctionCall`.
    FunctionCall,
}

impl RequestKind {
    /// Whether this request belongs to the connection's setup (TLS negotiation, startup,
    /// authentication) rather than to a statement.
    pub fn is_setup(self) -> bool {
        matches!(
            self,
            Self::SslRequest | Self::GssEncRequest | Self::Startup | Self::Auth
        )
    }
}

/// One round trip as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundTrip {
    /// Its number in the epoch, from 1.
    pub index: usize,
    /// The connection it was on, numbered from 1 in the epoch in the order they were accepted
    /// (connections accepted before the epoch keep their old number, 0 when older than every
    /// epoch).
    pub connection: usize,
    /// Its number on that connection, from 1 (counted since the connection opened).
    pub in_connection: usize,
    /// What the request was.
    pub kind: RequestKind,
    /// The statement of a `Query`, or of the last `Parse` of a `Sync`'s flight: its first 60
    /// characters, cut before the word `password` (any case) so that no secret is kept.
    pub statement: Option<String>,
}

/// When a [`Fault`] fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum At {
    /// The epoch's *k*-th round trip (from 1), on whatever connection it happens.
    RoundTrip(usize),
    /// The *k*-th round trip (from 1) of the epoch's connection number `connection`.
    ConnectionRoundTrip {
        /// The connection's number in the epoch.
        connection: usize,
        /// The round trip's number on it.
        round_trip: usize,
    },
    /// The epoch's *k*-th client message (from 1), counting startup packets, typed messages and,
    /// once a connection is encrypted, TLS records.
    ClientMessage(usize),
    /// The *k*-th client message (from 1) of the epoch's connection number `connection`.
    ConnectionMessage {
        /// The connection's number in the epoch.
        connection: usize,
        /// The message's number on it.
        message: usize,
    },
    /// The epoch's *k*-th connection (from 1), as it is accepted: before any byte is read.
    Connection(usize),
}

/// What a [`Fault`] does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Close both sides (FIN) before the request or message reaches the server.
    Cut,
    /// Forward the request, let the server answer it in full, deliver nothing of the answer,
    /// then close both sides. On a client-message trigger the answer waited for is that of the
    /// round trip the message belongs to.
    LoseAnswer,
    /// Forward the request or message, then close both sides at once.
    CutAfterSend,
    /// Reset both sides (RST) before the request or message reaches the server.
    Reset,
    /// Hold the request or message this long, then forward it.
    Stall(Duration),
}

/// A trigger and an action, armed with [`FaultProxy::arm`]; fires once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// When it fires.
    pub at: At,
    /// What it does.
    pub action: Action,
}

impl Fault {
    /// A fault doing `action` `at`.
    pub fn new(at: At, action: Action) -> Self {
        Self { at, action }
    }
}

/// A fault that fired, and on what.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fired {
    /// The fault.
    pub fault: Fault,
    /// The round trip it fired on (for a client-message trigger: the request that message
    /// belongs to, when it is one; for a connection trigger: none).
    pub round_trip: Option<RoundTrip>,
}

/// A fault-injecting TCP proxy in front of a PostgreSQL server (see the [module docs](self)).
/// Dropping it stops listening and closes every connection through it.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct State {
    /// Incremented by each [`FaultProxy::reset`]; a connection keeps the one it was accepted in.
    epoch: u64,
    round_trips: usize,
    messages: usize,
    connections: usize,
    trace: Vec<RoundTrip>,
    armed: Vec<Fault>,
    fired: Vec<Fired>,
    refused: usize,
    open: Vec<Weak<Conn>>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
    refuse: AtomicBool,
    stop: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread leaves counters that are still right.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl FaultProxy {
    /// A proxy on a free `127.0.0.1` port forwarding to `upstream`.
    ///
    /// # Errors
    /// [`TestkitError::Io`] when `upstream` does not resolve or no port can be bound.
    pub fn start(upstream: impl ToSocketAddrs) -> Result<Self, TestkitError> {
        let upstream = upstream
            .to_socket_addrs()
            .map_err(|e| TestkitError::io("resolving the proxy's upstream address", e))?
            .next()
            .ok_or_else(|| {
                TestkitError::io(
                    "resolving the proxy's upstream address",
                    io::Error::new(io::ErrorKind::NotFound, "no address"),
                )
            })?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| TestkitError::io("binding the fault proxy on 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TestkitError::io("reading the fault proxy's address", e))?;
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State::default()),
            refuse: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .map_err(|e| TestkitError::io("starting the fault proxy's thread", e))?;
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// A proxy in front of `cluster`'s TCP port.
    ///
    /// # Errors
    /// As [`FaultProxy::start`].
    pub fn for_cluster(cluster: &crate::TestCluster) -> Result<Self, TestkitError> {
        Self::start((cluster.host(), cluster.port()))
    }

    /// The host to connect to (`127.0.0.1`).
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts a new epoch: round trips, messages and connections are numbered from 1 again,
    /// the trace and the fired list are emptied, armed faults are dropped and new connections
    /// are accepted again. Open connections go on (their later round trips count in the new
    /// epoch).
    pub fn reset(&self) {
        let mut state = self.shared.state();
        let open = std::mem::take(&mut state.open);
        let epoch = state.epoch.wrapping_add(1);
        *state = State {
            open,
            epoch,
            ..State::default()
        };
        self.shared.refuse.store(false, Ordering::SeqCst);
    }

    /// Arms `fault` (in addition to those armed already).
    pub fn arm(&self, fault: Fault) {
        self.shared.state().armed.push(fault);
    }

    /// Drops every armed fault that has not fired.
    pub fn disarm(&self) {
        self.shared.state().armed.clear();
    }

    /// The round trips of the epoch so far.
    pub fn trace(&self) -> Vec<RoundTrip> {
        self.shared.state().trace.clone()
    }

    /// How many round trips the epoch has seen.
    pub fn round_trips(&self) -> usize {
        self.shared.state().round_trips
    }

    /// How many client messages the epoch has seen.
    pub fn client_messages(&self) -> usize {
        self.shared.state().messages
    }

    /// How many connections the epoch has accepted (refused ones included).
    pub fn connections(&self) -> usize {
        self.shared.state().connections
    }

    /// How many connections were refused ([`FaultProxy::refuse_connections`]) in the epoch.
    pub fn refused(&self) -> usize {
        self.shared.state().refused
    }

    /// The faults that fired in the epoch, in order.
    pub fn fired(&self) -> Vec<Fired> {
        self.shared.state().fired.clone()
    }

    /// While `on`, every new connection is reset as soon as it is accepted (the client sees
    /// its connection refused or reset before any byte).
    pub fn refuse_connections(&self, on: bool) {
        self.shared.refuse.store(on, Ordering::SeqCst);
    }

    /// Closes every open connection through the proxy now (FIN to both sides).
    pub fn cut_all(&self) {
        let open = std::mem::take(&mut self.shared.state().open);
        for conn in open.iter().filter_map(Weak::upgrade) {
            conn.close(false);
        }
    }

    /// How many connections through the proxy are open now.
    pub fn open_connections(&self) -> usize {
        let mut state = self.shared.state();
        state
            .open
            .retain(|c| c.upgrade().is_some_and(|c| !c.is_dead()));
        state.open.len()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        self.cut_all();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = stream else { continue };
        let _ = client.set_nodelay(true);
        let (number, epoch) = {
            let mut state = shared.state();
            state.connections += 1;
            (state.connections, state.epoch)
        };
        if shared.refuse.load(Ordering::SeqCst) {
            shared.state().refused += 1;
            reset_now(&client);
            continue;
        }
        let fault = {
            let mut state = shared.state();
            take_fault(&mut state, |at| at == At::Connection(number)).inspect(|&fault| {
                state.fired.push(Fired {
                    fault,
                    round_trip: None,
                });
            })
        };
        match fault.map(|f| f.action) {
            Some(Action::Reset) => {
                reset_now(&client);
                continue;
            }
            Some(Action::Cut | Action::CutAfterSend | Action::LoseAnswer) => {
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
            Some(Action::Stall(d)) => std::thread::sleep(d),
            None => {}
        }
        let Ok(upstream) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(10))
        else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = upstream.set_nodelay(true);
        let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
            continue;
        };
        let conn = Arc::new(Conn {
            number,
            epoch,
            client,
            upstream,
            dead: AtomicBool::new(false),
            inner: Mutex::new(ConnState::default()),
        });
        shared.state().open.push(Arc::downgrade(&conn));
        let (c1, s1) = (Arc::clone(&conn), Arc::clone(shared));
        let spawned = std::thread::Builder::new()
            .name(format!("fault-proxy-c{number}"))
            .spawn(move || client_to_server(&c1, &s1, client2, upstream2));
        let (c2, s2) = (Arc::clone(&conn), Arc::clone(shared));
        let spawned2 = conn.upstream.try_clone().and_then(|up| {
            let client = conn.client.try_clone()?;
            std::thread::Builder::new()
                .name(format!("fault-proxy-s{number}"))
                .spawn(move || server_to_client(&c2, &s2, up, client))
        });
        if spawned.is_err() || spawned2.is_err() {
            conn.close(false);
        }
    }
}

/// Removes and returns the first armed fault whose trigger `matches`.
fn take_fault(state: &mut State, matches: impl Fn(At) -> bool) -> Option<Fault> {
    let pos = state.armed.iter().position(|f| matches(f.at))?;
    Some(state.armed.remove(pos))
}

fn reset_now(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
    // Dropping the last handle closes it; with a zero linger the close sends RST.
}

#[derive(Debug)]
struct Conn {
    number: usize,
    /// The epoch it was accepted in: its client messages count (for [`At::ClientMessage`])
    /// only in that epoch, so that a connection of an earlier epoch still sending (a client's
    /// late `Terminate`) cannot take the message number a new client's first message should
    /// have.
    epoch: u64,
    client: TcpStream,
    upstream: TcpStream,
    dead: AtomicBool,
    inner: Mutex<ConnState>,
}

#[derive(Debug, Default)]
struct ConnState {
    /// Requests forwarded and not answered yet, oldest first.
    pending: VecDeque<Pending>,
    /// Round trips on this connection.
    round_trips: usize,
    /// Client messages on this connection.
    messages: usize,
    /// Both directions carry TLS records from now on.
    tls: bool,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    kind: RequestKind,
    /// Withhold the answer and close once it is complete.
    lose_answer: bool,
}

impl Conn {
    fn state(&self) -> MutexGuard<'_, ConnState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Closes both sides: FIN, or RST when `reset`.
    fn close(&self, reset: bool) {
        if self.dead.swap(true, Ordering::SeqCst) {
            return;
        }
        if reset {
            for s in [&self.client, &self.upstream] {
                let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
                // Wakes the threads without sending anything; their handles close on exit,
                // and the last close sends the RST.
                let _ = s.shutdown(Shutdown::Read);
            }
        } else {
            let _ = self.client.shutdown(Shutdown::Both);
            let _ = self.upstream.shutdown(Shutdown::Both);
        }
    }
}

/// Client bytes parsed into messages.
#[derive(Debug)]
enum Phase {
    /// Untyped startup packets.
    Startup,
    /// Typed messages.
    Typed,
    /// TLS records (both directions).
    Tls,
    /// Unparsable: bytes are forwarded as they come.
    Raw,
}

/// The client's message (or TLS record) starting `buf`: `(length, request kind, statement)`,
/// or `None` while incomplete. A length of 0 means "unparsable".
fn client_message(
    phase: &Phase,
    buf: &[u8],
) -> Option<(usize, Option<RequestKind>, Option<String>)> {
    match phase {
        Phase::Startup => {
            let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
            if !(8..=MAX_MESSAGE).contains(&len) {
                return Some((0, None, None));
            }
            let code = u32::from_be_bytes(buf.get(4..8)?.try_into().ok()?);
            if buf.len() < len {
                return None;
            }
            let kind = match code {
                SSL_REQUEST => Some(RequestKind::SslRequest),
                GSSENC_REQUEST => Some(RequestKind::GssEncRequest),
                CANCEL_REQUEST => None,
                _ => Some(RequestKind::Startup),
            };
            Some((len, kind, None))
        }
        Phase::Typed => {
            let ty = *buf.first()?;
            let len = u32::from_be_bytes(buf.get(1..5)?.try_into().ok()?) as usize;
            if !(4..=MAX_MESSAGE).contains(&len) {
                return Some((0, None, None));
            }
            if buf.len() < len + 1 {
                return None;
            }
            let body = &buf[5..=len];
            let (kind, statement) = match ty {
                b'Q' => (Some(RequestKind::Query), Some(statement_of(body))),
                b'S' => (Some(RequestKind::Sync), None),
                b'p' => (Some(RequestKind::Auth), None),
                b'F' => (Some(RequestKind::FunctionCall), None),
                // Parse: statement name, then the query.
                b'P' => {
                    let query = body
                        .iter()
                        .position(|&b| b == 0)
                        .map_or(&[][..], |end| &body[end + 1..]);
                    (None, Some(statement_of(query)))
                }
                _ => (None, None),
            };
            Some((len + 1, kind, statement))
        }
        Phase::Tls => {
            let header = buf.get(..5)?;
            let len = u16::from_be_bytes([header[3], header[4]]) as usize + 5;
            if buf.len() < len {
                return None;
            }
            Some((len, None, None))
        }
        Phase::Raw => (!buf.is_empty()).then_some((buf.len(), None, None)),
    }
}

/// The first 60 characters of a NUL-terminated statement, cut before `password`.
fn statement_of(body: &[u8]) -> String {
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    let text = String::from_utf8_lossy(&body[..end]);
    let lower = text.to_lowercase();
    let cut = match lower.find("password") {
        Some(at) => text.get(..at).unwrap_or(""),
        None => &text,
    };
    let short: String = cut.chars().take(60).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// Whether a typed client message of type `ty` may wait in a flight for its `Sync`.
fn joins_flight(ty: u8) -> bool {
    matches!(ty, b'P' | b'B' | b'D' | b'E' | b'C')
}

fn client_to_server(
    conn: &Arc<Conn>,
    shared: &Arc<Shared>,
    mut from: TcpStream,
    mut to: TcpStream,
) {
    let mut phase = Phase::Startup;
    let mut buf: Vec<u8> = Vec::new();
    // Messages held until the request that ends their flight.
    let mut flight: Vec<u8> = Vec::new();
    let mut flight_statement: Option<String> = None;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if conn.is_dead() {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            if conn.state().tls && !matches!(phase, Phase::Tls | Phase::Raw) {
                phase = Phase::Tls;
            }
            if matches!(phase, Phase::Startup) && buf.first() == Some(&TLS_HANDSHAKE) {
                // Direct TLS: no SSLRequest.
                conn.state().tls = true;
                phase = Phase::Tls;
            }
            let Some((len, kind, statement)) = client_message(&phase, &buf) else {
                break;
            };
            if len == 0 {
                phase = Phase::Raw;
                continue;
            }
            let message: Vec<u8> = buf.drain(..len).collect();
            let ty = message.first().copied().unwrap_or(0);
            if statement.is_some() {
                flight_statement = statement.clone();
            }
            // Count it and find the fault it triggers.
            let (fault, round_trip) = {
                let mut state = shared.state();
                let mut cs = conn.state();
                let this_epoch = conn.epoch == state.epoch;
                if this_epoch {
                    state.messages += 1;
                }
                cs.messages += 1;
                let (global_msg, conn_msg) = (state.messages, cs.messages);
                let round_trip = kind.map(|kind| {
                    state.round_trips += 1;
                    cs.round_trips += 1;
                    let rt = RoundTrip {
                        index: state.round_trips,
                        connection: conn.number,
                        in_connection: cs.round_trips,
                        kind,
                        statement: if kind == RequestKind::Query {
                            statement.clone()
                        } else {
                            flight_statement.take()
                        },
                    };
                    state.trace.push(rt.clone());
                    rt
                });
                let number = conn.number;
                let fault = take_fault(&mut state, |at| match at {
                    At::ClientMessage(k) => this_epoch && k == global_msg,
                    At::ConnectionMessage {
                        connection,
                        message,
                    } => connection == number && message == conn_msg,
                    At::RoundTrip(k) => round_trip.as_ref().is_some_and(|rt| rt.index == k),
                    At::ConnectionRoundTrip {
                        connection,
                        round_trip: k,
                    } => {
                        connection == number
                            && round_trip.as_ref().is_some_and(|rt| rt.in_connection == k)
                    }
                    At::Connection(_) => false,
                });
                if let Some(fault) = fault {
                    state.fired.push(Fired {
                        fault,
                        round_trip: round_trip.clone(),
                    });
                }
                (fault, round_trip)
            };
            let action = fault.map(|f| f.action);
            match action {
                Some(Action::Cut) => {
                    conn.close(false);
                    return;
                }
                Some(Action::Reset) => {
                    conn.close(true);
                    return;
                }
                Some(Action::Stall(d)) => std::thread::sleep(d),
                _ => {}
            }
            let is_typed = matches!(phase, Phase::Typed);
            flight.extend_from_slice(&message);
            if is_typed && kind.is_none() && joins_flight(ty) && action.is_none() {
                continue;
            }
            if let Some(rt) = &round_trip {
                conn.state().pending.push_back(Pending {
                    kind: rt.kind,
                    lose_answer: action == Some(Action::LoseAnswer),
                });
            } else if action == Some(Action::LoseAnswer) {
                // A message inside a flight: lose the answer of the request that ends it.
                conn.state().pending.push_back(Pending {
                    kind: RequestKind::Sync,
                    lose_answer: true,
                });
            }
            if matches!(kind, Some(RequestKind::Startup)) {
                phase = Phase::Typed;
            }
            if to.write_all(&flight).is_err() {
                conn.close(false);
                return;
            }
            flight.clear();
            if action == Some(Action::CutAfterSend) {
                conn.close(false);
                return;
            }
        }
    }
    conn.close(false);
}

fn server_to_client(
    conn: &Arc<Conn>,
    _shared: &Arc<Shared>,
    mut from: TcpStream,
    mut to: TcpStream,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut raw = false;
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if conn.is_dead() {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut out: Vec<u8> = Vec::new();
        let mut cut = false;
        loop {
            if buf.is_empty() {
                break;
            }
            let mut cs = conn.state();
            if raw || cs.tls {
                out.append(&mut buf);
                break;
            }
            let front = cs.pending.front().copied();
            // One byte answers an SSLRequest or GSSENCRequest.
            if let Some(
                p @ Pending {
                    kind: RequestKind::SslRequest | RequestKind::GssEncRequest,
                    ..
                },
            ) = front
            {
                let byte = buf.remove(0);
                cs.pending.pop_front();
                if (p.kind == RequestKind::SslRequest && byte == b'S')
                    || (p.kind == RequestKind::GssEncRequest && byte == b'G')
                {
                    cs.tls = true;
                }
                if p.lose_answer {
                    cut = true;
                    break;
                }
                out.push(byte);
                continue;
            }
            let Some(len_bytes) = buf.get(1..5) else {
                break;
            };
            let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            if !(4..=MAX_MESSAGE).contains(&len) {
                raw = true;
                continue;
            }
            if buf.len() < len + 1 {
                break;
            }
            let message: Vec<u8> = buf.drain(..=len).collect();
            let ty = message[0];
            let ends = match front.map(|p| p.kind) {
                Some(RequestKind::Startup | RequestKind::Auth) => match ty {
                    // An authentication request the client answers (not Ok 0, not SASLFinal 12).
                    b'R' => {
                        let code = message
                            .get(5..9)
                            .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                        code != 0 && code != 12
                    }
                    b'E' | b'Z' => true,
                    _ => false,
                },
                Some(_) => ty == b'Z',
                None => false,
            };
            let lose = front.is_some_and(|p| p.lose_answer);
            if ends {
                cs.pending.pop_front();
            }
            if lose {
                if ends {
                    cut = true;
                    break;
                }
                continue;
            }
            out.extend_from_slice(&message);
        }
        if !out.is_empty() && to.write_all(&out).is_err() {
            break;
        }
        if cut {
            conn.close(false);
            return;
        }
    }
    conn.close(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_cut_before_a_password() {
        assert_eq!(
            statement_of(b"ALTER ROLE x PASSWORD 'SCRAM-SHA-256$secret'\0"),
            "ALTER ROLE x …"
        );
        assert_eq!(statement_of(b"SELECT 1\0"), "SELECT 1");
        assert_eq!(statement_of(&[b'x'; 100]).chars().count(), 61);
    }

    #[test]
    fn startup_packets_and_typed_messages_are_framed() {
        let ssl = [0, 0, 0, 8, 4, 210, 22, 47];
        assert_eq!(
            client_message(&Phase::Startup, &ssl),
            Some((8, Some(RequestKind::SslRequest), None))
        );
        assert_eq!(client_message(&Phase::Startup, &ssl[..5]), None);
        let q = b"Q\0\0\0\x0dSELECT 1\0";
        assert_eq!(
            client_message(&Phase::Typed, q),
            Some((14, Some(RequestKind::Query), Some("SELECT 1".to_owned())))
        );
        assert_eq!(
            client_message(&Phase::Typed, b"Q\0\0\0\x02"),
            Some((0, None, None))
        );
        let record = [0x16, 3, 1, 0, 2, 1, 2];
        assert_eq!(client_message(&Phase::Tls, &record), Some((7, None, None)));
    }
}
