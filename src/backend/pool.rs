//! Kept-alive connections to the backend, and the sending of one request
//! over one of them.
//!
//! A bridge talks to a handful of backend origins at most (one per
//! mapping's `base_url`, two across a reload that moved one), so the pool
//! is a stack of idle HTTP/1.1 connections, each tagged with its origin,
//! and a short list of shared HTTP/2 connections, one per origin (when TLS
//! negotiated `h2`). It does what hyper-util's pool did for the bridge,
//! with a plain comparison instead of hashing an origin key twice per
//! call:
//! - an idle connection is used again only within `idle_timeout` of its
//!   last answer, and the newest first; a sweeper task closes older ones;
//! - at most `max_idle` connections wait idle; with a zero `idle_timeout`
//!   none does (a new connection per call);
//! - a request a kept-alive connection refuses before writing any of it
//!   (closed meanwhile) is sent again on another connection; one refused
//!   by a new connection is an error;
//! - HTTP/1.1 requests go out in origin form with a `Host` header;
//! - a shared HTTP/2 connection is pinged while calls use it, so one the
//!   network dropped silently is closed (and replaced) within seconds.
//!
//! An HTTP/1.1 call writes its request and reads its answer itself
//! ([`super::h1`]): no connection task, no channel between the call and
//! its connection. An idle connection is checked at checkout (nothing
//! arrived, not closed) without waiting. HTTP/2 connections are hyper's,
//! each driven by a task of its own.

use super::h1::{self, Failed, H1};
use super::outgoing::{Origin, OutgoingRequest};
use super::{BackendError, BackendResponse, MAX_BACKEND_BODY};
use bytes::Bytes;
use http::header::HOST;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http2;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tower_service::Service;
use tracing::debug;

type Body = Full<Bytes>;

/// A backend connection's stream, plain or TLS, as tokio reads it.
type Io = TokioIo<MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>>;

/// An HTTP/1.1 connection, boxed: with its TLS state it is over a
/// kilobyte, copied whenever the pool or a call's future moved it.
type Conn1 = Box<Line>;

/// An HTTP/1.1 connection and the timer of its calls' deadlines.
///
/// The timer is made once per connection and kept for its calls' deadlines
/// ([`until`]): a timer per call cloned the runtime's handle (an `Arc`
/// both worker threads write) and was inserted into and removed from the
/// timer wheel under its lock. A call whose deadline is later than the
/// timer's leaves it alone; when the timer rings before the call's
/// deadline it is moved on to it.
struct Line {
    h1: H1<Io>,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Line {
    fn new(h1: H1<Io>) -> Conn1 {
        Box::new(Line {
            h1,
            // Set to each call's deadline before the call.
            timer: Box::pin(tokio::time::sleep(Duration::from_secs(86_400))),
        })
    }
}

/// Waits on a connection's `timer` until `deadline`. The timer is moved
/// only when it would otherwise ring late: a deadline earlier than the
/// timer's moves it at once; a later one (each call's, under a fixed
/// timeout) leaves it where the call before set it, and when it rings
/// early it is moved on then, once, instead of on every call. Moving a
/// timer takes the wheel's entry from under the other worker thread
/// (about 80 ns a call, docs/performance.md, twenty-eighth round).
async fn until(mut timer: std::pin::Pin<&mut tokio::time::Sleep>, deadline: tokio::time::Instant) {
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    loop {
        timer.as_mut().await;
        if timer.deadline() >= deadline {
            return;
        }
        timer.as_mut().reset(deadline);
    }
}

/// Idle connections kept per backend at most, whatever the concurrency
/// cap (`max_rps = 0` with a huge `max_concurrency` must not keep thousands).
pub const MAX_IDLE_PER_HOST: usize = 1024;

/// A shared HTTP/2 connection in use is pinged this often; one that does
/// not answer within the timeout is closed, and the next call connects
/// anew (a backend that vanished without closing would otherwise hold
/// every call until TCP gives up, minutes later).
const H2_PING_EVERY: Duration = Duration::from_secs(10);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Pool {
    connector: HttpsConnector<HttpConnector>,
    max_idle: usize,
    idle_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
    h2: Mutex<Vec<Shared>>,
    /// Whether `h2` may hold a connection: read on every call, so that a
    /// pool without HTTP/2 connections takes no lock for them (a lock is a
    /// write every worker thread makes). Written under `h2`'s lock.
    h2_any: AtomicBool,
    sweeping: AtomicBool,
}

/// An HTTP/1.1 connection waiting for its next call.
struct Idle {
    origin: Origin,
    conn: Conn1,
    since: Instant,
}

impl Idle {
    /// Idle for less than `idle_timeout` at `now` (the backend may be
    /// closing an older one), and neither closed nor sent anything
    /// meanwhile.
    fn usable(&mut self, idle_timeout: Duration, now: Instant) -> bool {
        now.saturating_duration_since(self.since) < idle_timeout && self.conn.h1.alive()
    }
}

/// The HTTP/2 connection every call to its origin shares; `since` is its
/// last call's start.
struct Shared {
    origin: Origin,
    sender: http2::SendRequest<Body>,
    since: Instant,
}

impl Shared {
    /// Open, and used within `idle_timeout` before `now` (the backend may
    /// be closing an older one).
    fn usable(&self, idle_timeout: Duration, now: Instant) -> bool {
        now.saturating_duration_since(self.since) < idle_timeout && !self.sender.is_closed()
    }
}

impl Pool {
    pub(super) fn new(
        tls: rustls::ClientConfig,
        max_idle: usize,
        idle_timeout: Duration,
    ) -> Arc<Pool> {
        let max_idle = if idle_timeout.is_zero() {
            0
        } else {
            max_idle.clamp(1, MAX_IDLE_PER_HOST)
        };
        Arc::new(Pool {
            connector: https_connector(tls),
            max_idle,
            idle_timeout,
            idle: Mutex::new(Vec::new()),
            h2: Mutex::new(Vec::new()),
            h2_any: AtomicBool::new(false),
            sweeping: AtomicBool::new(false),
        })
    }

    /// Sends `req` (an absolute URI) and reads its answer in full (at most
    /// [`MAX_BACKEND_BODY`] bytes), within `timeout` of `started` (when the
    /// call began): connecting, sending again on another connection,
    /// reading the whole body, all of it. A kept-alive connection is taken
    /// if it was idle for less than the idle timeout at `started`. The
    /// clock read once for the caller's timing, the deadline and the pool
    /// instead of three times (each read is about 25 ns here;
    /// docs/performance.md, twenty-second round).
    pub(super) async fn call(
        self: &Arc<Self>,
        req: OutgoingRequest,
        started: Instant,
        timeout: Duration,
    ) -> Result<BackendResponse, BackendError> {
        let deadline = tokio::time::Instant::from_std(started) + timeout;
        let late = || BackendError::Timeout(timeout);
        let origin = req.origin.clone();
        // The HTTP/1.1 request's bytes, written once whichever connection
        // carries them.
        let mut wire: Option<Vec<u8>> = None;
        loop {
            let (conn, reused) = match self.take(&origin, started) {
                Some(c) => (c, true),
                // Boxed: the TLS and HTTP/2 handshakes make a large future,
                // which would otherwise be copied with every call's.
                None => (
                    tokio::time::timeout_at(deadline, Box::pin(self.connect(&origin)))
                        .await
                        .map_err(|_| late())??,
                    false,
                ),
            };
            let mut conn = match conn {
                // Boxed: an HTTP/2 call's state would size every HTTP/1 call's.
                Conn::H2(sender) => {
                    match tokio::time::timeout_at(deadline, Box::pin(h2_call(sender, &req)))
                        .await
                        .map_err(|_| late())?
                    {
                        // Not sent: as for HTTP/1.1 below.
                        Err((true, e)) if reused => {
                            debug!(error = %e, "kept-alive backend connection refused a call; sending it again");
                            continue;
                        }
                        result => return result.map_err(|(_, e)| e),
                    }
                }
                Conn::H1(c) => c,
            };
            let bytes = match &wire {
                Some(w) => w,
                None => wire.insert(h1_request(&req)?),
            };
            let head_request = req.method == Method::HEAD;
            let Line { h1, timer } = &mut *conn;
            let answer = tokio::select! {
                biased;
                a = h1.call(bytes, head_request, MAX_BACKEND_BODY) => a,
                // The connection goes with the call (a late answer would
                // be taken for the next call's).
                () = until(timer.as_mut(), deadline) => return Err(late()),
            };
            match answer {
                Ok(a) => {
                    if a.keep && !h1::asks_to_close(&req.headers) {
                        self.give_back(origin, conn);
                    }
                    return Ok(BackendResponse {
                        status: a.status,
                        headers: a.headers,
                        body: a.body,
                    });
                }
                // Not a byte of it written: a kept-alive connection closed
                // meanwhile. Another one (or a new one) gets it.
                Err(Failed::NotWritten(e)) if reused => {
                    debug!(error = %e, "kept-alive backend connection refused a call; sending it again");
                }
                Err(f) => return Err(h1_error(f)),
            }
        }
    }

    /// Keeps a connection whose answer was read in full for the next call.
    fn give_back(self: &Arc<Self>, origin: Origin, conn: Conn1) {
        if self.max_idle == 0 {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < self.max_idle {
            idle.push(Idle {
                origin,
                conn,
                since: Instant::now(),
            });
        }
        drop(idle);
        self.sweep_later();
    }

    /// A kept-alive connection to `origin`, ready for a call at `now`.
    fn take(&self, origin: &Origin, now: Instant) -> Option<Conn> {
        if let Some(sender) = self.shared(origin, now) {
            return Some(Conn::H2(sender));
        }
        loop {
            // The newest first: the one least likely to be closing.
            let mut found = {
                let mut idle = lock(&self.idle);
                let at = idle.iter().rposition(|i| i.origin.is(origin))?;
                idle.swap_remove(at)
            };
            if found.usable(self.idle_timeout, now) {
                return Some(Conn::H1(found.conn));
            }
        }
    }

    /// The live HTTP/2 connection to `origin`, if any; closed ones and ones
    /// idle for `idle_timeout` (the backend may be closing them) go.
    fn shared(&self, origin: &Origin, now: Instant) -> Option<http2::SendRequest<Body>> {
        // A connection added meanwhile is found by a later call.
        if !self.h2_any.load(Ordering::Relaxed) {
            return None;
        }
        let mut h2 = lock(&self.h2);
        self.prune_h2(&mut h2, now);
        let shared = h2.iter_mut().find(|s| s.origin.is(origin))?;
        shared.since = now;
        Some(shared.sender.clone())
    }

    async fn connect(self: &Arc<Self>, origin: &Origin) -> Result<Conn, BackendError> {
        let dst = Uri::builder()
            .scheme(origin.scheme.clone())
            .authority(origin.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(super::bad_uri)?;
        let io = self
            .connector
            .clone()
            .call(dst)
            .await
            .map_err(|e| connect_error(&*e))?;
        if !io.connected().is_negotiated_h2() {
            return Ok(Conn::H1(Line::new(H1::new(TokioIo::new(io)))));
        }
        let (mut sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(H2_PING_EVERY)
            .keep_alive_timeout(H2_PING_TIMEOUT)
            .handshake(io)
            .await
            .map_err(connect_failed)?;
        drive(conn);
        sender.ready().await.map_err(connect_failed)?;
        if self.max_idle > 0 {
            let mut h2 = lock(&self.h2);
            self.prune_h2(&mut h2, Instant::now());
            // Concurrent first calls each connected: the first one in
            // stays shared, the others serve their own call and close.
            if let Some(live) = h2.iter().find(|s| s.origin.is(origin)) {
                return Ok(Conn::H2(live.sender.clone()));
            }
            h2.push(Shared {
                origin: origin.clone(),
                sender: sender.clone(),
                since: Instant::now(),
            });
            self.h2_any.store(true, Ordering::Relaxed);
            drop(h2);
            self.sweep_later();
        }
        Ok(Conn::H2(sender))
    }

    /// Starts the task that closes connections idle for longer than
    /// `idle_timeout`, once per pool; it ends with the pool.
    fn sweep_later(self: &Arc<Self>) {
        // Read first: a swap is a write, on every call, to memory every
        // worker thread reads.
        if self.sweeping.load(Ordering::Relaxed) || self.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool: Weak<Pool> = Arc::downgrade(self);
        let every = (self.idle_timeout / 2).max(Duration::from_millis(100));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(pool) = pool.upgrade() else {
                    return;
                };
                pool.sweep();
            }
        });
    }

    fn sweep(&self) {
        let (timeout, now) = (self.idle_timeout, Instant::now());
        let mut gone = Vec::new();
        {
            let mut idle = lock(&self.idle);
            for mut i in std::mem::take(&mut *idle) {
                if i.usable(timeout, now) {
                    idle.push(i);
                } else {
                    gone.push(i);
                }
            }
        }
        // Closed outside the lock.
        drop(gone);
        self.prune_h2(&mut lock(&self.h2), now);
    }

    /// Drops the HTTP/2 connections closed or idle for `idle_timeout` (the
    /// backend may be closing them) from `h2` (its lock held), and says in
    /// [`Pool::h2_any`] whether any is left.
    fn prune_h2(&self, h2: &mut Vec<Shared>, now: Instant) {
        h2.retain(|s| s.usable(self.idle_timeout, now));
        self.h2_any.store(!h2.is_empty(), Ordering::Relaxed);
    }

    /// Idle HTTP/1.1 connections (tests).
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        lock(&self.idle).len()
    }
}

enum Conn {
    H1(Conn1),
    H2(http2::SendRequest<Body>),
}

/// The HTTP/1.1 bytes of `req`: origin form, `Host` from the origin
/// unless the headers name one.
fn h1_request(req: &OutgoingRequest) -> Result<Vec<u8>, BackendError> {
    let host = match req.headers.get(&HOST) {
        Some(_) => None,
        None => Some(
            req.origin
                .host_header()
                .ok_or_else(|| super::bad_uri("no host"))?,
        ),
    };
    let target = req.target.as_str();
    Ok(h1::encode(
        &req.method,
        target,
        host.as_ref(),
        &req.headers,
        req.body.as_deref(),
    ))
}

fn h1_error(f: Failed) -> BackendError {
    let closed = |written: bool, e: &dyn std::fmt::Display| BackendError::Closed {
        written,
        error: e.to_string(),
    };
    match f {
        Failed::NotWritten(e) => closed(false, &e),
        Failed::Closed => closed(true, &"connection closed before the answer was complete"),
        Failed::TooLarge => BackendError::TooLarge,
        Failed::Invalid(what) => BackendError::Io(format!("invalid HTTP answer: {what}")),
        Failed::Io(e) => call_failed(&e),
    }
}

/// One call on a shared HTTP/2 connection, its answer read in full. The
/// error says whether the request was not sent at all (the connection had
/// closed).
async fn h2_call(
    mut sender: http2::SendRequest<Body>,
    req: &OutgoingRequest,
) -> Result<BackendResponse, (bool, BackendError)> {
    let mut out = Request::new(Full::new(req.body.clone().unwrap_or_default()));
    *out.method_mut() = req.method.clone();
    *out.uri_mut() = req.uri().map_err(|e| (false, super::bad_uri(e)))?;
    let headers = out.headers_mut();
    headers.reserve(req.headers.iter().count());
    for (k, v) in req.headers.iter() {
        headers.insert(k.clone(), v.clone());
    }
    let resp = match sender.try_send_request(out).await {
        Ok(resp) => resp,
        Err(mut e) => {
            let not_sent = e.take_message().is_some();
            return Err((not_sent, call_failed(&e.into_error())));
        }
    };
    let (parts, body) = resp.into_parts();
    let body = Limited::new(body, MAX_BACKEND_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                (false, BackendError::TooLarge)
            } else {
                // A stream the backend reset in the middle of its answer
                // reads as one reset before it (`closed_by_backend`).
                (false, call_failed(&*e))
            }
        })?
        .to_bytes();
    Ok(BackendResponse {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Runs a connection (HTTP/1.1 or HTTP/2) until it closes.
fn drive(conn: impl std::future::Future<Output = hyper::Result<()>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            debug!(error = %e, "backend connection ended");
        }
    });
}

/// A handshake that failed, or a new connection that closed before it was
/// ready.
fn connect_failed(e: hyper::Error) -> BackendError {
    BackendError::Connect(error_chain(&e))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `Tls` when TLS with the backend failed somewhere in `e`'s chain
/// (logged once here, with what to check).
fn tls_failed(e: &(dyn std::error::Error + 'static)) -> Option<BackendError> {
    let t = BackendTlsFailure::find(e)?;
    tracing::warn!(error = %t, "TLS with the backend failed (check backend.ca_file, backend.client_cert_file and the backend's certificate)");
    Some(BackendError::Tls(t))
}

fn connect_error(e: &(dyn std::error::Error + 'static)) -> BackendError {
    // The whole chain: the connector's own message alone does not tell a
    // name that does not resolve from a refused port.
    tls_failed(e).unwrap_or_else(|| BackendError::Connect(error_chain(e)))
}

/// A call that failed once connected (HTTP/1.1 or HTTP/2).
fn call_failed(e: &(dyn std::error::Error + 'static)) -> BackendError {
    // TLS 1.3: a backend refusing the client certificate says so after the
    // bridge's side of the handshake finished, on the first read.
    if let Some(tls) = tls_failed(e) {
        return tls;
    }
    // With its sources: hyper's own text says only "http2 error", the
    // HTTP/2 reason is the source's.
    match closed_by_backend(e) {
        Some(written) => BackendError::Closed {
            written,
            error: error_chain(e),
        },
        None => BackendError::Io(error_chain(e)),
    }
}

/// HTTP/1.1 and HTTP/2 over `https://` (with `tls`) or plain `http://`.
pub fn https_connector(tls: rustls::ClientConfig) -> HttpsConnector<HttpConnector> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build()
}

/// `e` and its sources, each once, joined by `: ` (connector errors name
/// neither the URL nor credentials).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let text = err.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = err.source();
    }
    out
}

/// Whether `e` says the backend closed (or reset) the connection before
/// answering: `Some(false)` when the backend cannot have acted on the
/// request (not a byte of it written: hyper hands such a request back as
/// canceled; or an HTTP/2 stream the backend refused), `Some(true)` when
/// the request was written, or may have been, so the backend may have
/// acted on it (a connection closed or reset under the call; an HTTP/2
/// stream the backend cut short). HTTP/2 streams: [`h2_stream_end`].
fn closed_by_backend(e: &(dyn std::error::Error + 'static)) -> Option<bool> {
    use std::io::ErrorKind;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(written) = err.downcast_ref::<h2::Error>().and_then(h2_stream_end) {
            return Some(written);
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_canceled() {
                return Some(false);
            }
            if h.is_incomplete_message() {
                return Some(true);
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            ) {
                return Some(true);
            }
        }
        cur = err.source();
    }
    None
}

/// How the backend ended an HTTP/2 stream, when it did (`RST_STREAM` or
/// `GOAWAY` from the backend: h2's `is_remote`):
/// - `Some(false)`, not processed, so that sending the request again
///   cannot do it twice: `RST_STREAM` with `REFUSED_STREAM` (RFC 9113 §8.7:
///   "closed prior to any processing"); h2 gives a stream that error only
///   from that frame;
/// - `Some(true)`, cut short before or during its answer the way a restart
///   or a failure of the backend's own does (`NO_ERROR`, `INTERNAL_ERROR`,
///   `CANCEL`): a call closed under it, as a connection would be, which a
///   read may repeat;
/// - `None` otherwise: a reason that says the bridge's own use of HTTP/2
///   was wrong (`PROTOCOL_ERROR`, `HTTP_1_1_REQUIRED`, `ENHANCE_YOUR_CALM`,
///   …) would end the next attempt the same way.
///
/// A stream above the last stream id of a `GOAWAY` (§6.8) was not
/// processed either, but the error it gets is not only its own: hyper
/// hands the connection's `GOAWAY` error to a request whose stream it had
/// just opened, and whose `HEADERS` may still go out, when the
/// connection refuses the next one (hyper's `ClientTask::poll_pipe` path,
/// `poll_ready` after `send_request`), and a graceful shutdown's first
/// `GOAWAY` names no stream as unprocessed. So a `GOAWAY` counts as cut
/// short: such a call stays one the backend may have acted on.
fn h2_stream_end(e: &h2::Error) -> Option<bool> {
    use h2::Reason;
    if !e.is_remote() {
        return None;
    }
    match e.reason()? {
        Reason::REFUSED_STREAM if e.is_reset() => Some(false),
        Reason::NO_ERROR | Reason::INTERNAL_ERROR | Reason::CANCEL => Some(true),
        _ => None,
    }
}

/// Why TLS with the backend failed, in words safe to show a SCIM client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendTlsFailure {
    /// The backend's certificate did not verify; the reason is rustls' own
    /// (unknown issuer, expired, not valid for the host name, …).
    Untrusted(String),
    /// Anything else: an alert from the backend (e.g. it wants a client
    /// certificate), no common protocol version or suite.
    Handshake(String),
}

impl std::fmt::Display for BackendTlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendTlsFailure::Untrusted(r) => {
                write!(f, "the backend's TLS certificate was not trusted ({r})")
            }
            BackendTlsFailure::Handshake(r) => {
                write!(f, "the TLS handshake with the backend failed ({r})")
            }
        }
    }
}

impl BackendTlsFailure {
    /// Finds a rustls error in an error's source chain. hyper-rustls wraps
    /// it in `io::Error`s (sometimes two deep), whose `source()` skips the
    /// wrapped error, so those are opened with `get_ref`.
    pub fn find(e: &(dyn std::error::Error + 'static)) -> Option<BackendTlsFailure> {
        fn walk<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
            if let Some(t) = e.downcast_ref::<rustls::Error>() {
                return Some(t);
            }
            if let Some(inner) = e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                if let Some(t) = walk(inner) {
                    return Some(t);
                }
            }
            e.source().and_then(walk)
        }
        walk(e).map(|t| match t {
            rustls::Error::InvalidCertificate(c) => {
                BackendTlsFailure::Untrusted(cert_error_words(c))
            }
            other => BackendTlsFailure::Handshake(other.to_string()),
        })
    }
}

fn cert_error_words(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => "issued by a CA the bridge does not trust".into(),
        C::Expired | C::ExpiredContext { .. } => "expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "not valid for the backend's host name".into()
        }
        C::Revoked => "revoked".into(),
        C::BadSignature => "bad signature".into(),
        C::BadEncoding => "malformed certificate".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Response;
    use hyper::body::Incoming;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    /// A backend answering `200 {"n":N}` on HTTP/1.1 keep-alive, where N
    /// counts the TCP connections it accepted; each connection answers
    /// `per_conn` requests and then closes. Every request's head is
    /// recorded.
    async fn backend(per_conn: usize) -> (Uri, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/api/v1/users?x=1", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (accepted.clone(), heads.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut sock = BufReader::new(sock);
                    for _ in 0..per_conn {
                        let mut head = String::new();
                        loop {
                            let mut line = String::new();
                            if sock.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            head.push_str(&line);
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        let mut body = vec![0; length];
                        sock.read_exact(&mut body).await.unwrap();
                        seen.lock().unwrap().push(head);
                        let answer = format!("{{\"n\":{n}}}");
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        sock.get_mut().write_all(reply.as_bytes()).await.unwrap();
                    }
                    // Closes the connection.
                });
            }
        });
        (uri, accepted, heads)
    }

    fn tls() -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    }

    pub(super) async fn call(
        pool: &Arc<Pool>,
        uri: &Uri,
        method: http::Method,
    ) -> Result<String, BackendError> {
        call_within(pool, uri, method, Duration::from_secs(10)).await
    }

    async fn call_within(
        pool: &Arc<Pool>,
        uri: &Uri,
        method: http::Method,
        timeout: Duration,
    ) -> Result<String, BackendError> {
        let req = OutgoingRequest {
            method,
            origin: Origin::of(uri).unwrap(),
            target: super::super::outgoing::Target::new(uri.path_and_query().unwrap().to_string())
                .unwrap(),
            headers: Default::default(),
            body: Some(Bytes::from_static(b"{}")),
        };
        let answer = pool.call(req, Instant::now(), timeout).await?;
        Ok(String::from_utf8(answer.body.to_vec()).unwrap())
    }

    /// A kept-alive connection's timer keeps each call's own deadline: a
    /// later one (answered after the deadline before it had passed), an
    /// earlier one than the call before, one set after the timer ran out
    /// while the connection was idle, and a new connection's first. The
    /// backend answers the calls it is told to, each after its delay, and
    /// leaves the others hanging.
    #[tokio::test]
    async fn each_call_on_a_kept_connection_keeps_its_own_deadline() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/x", l.local_addr().unwrap())
            .parse()
            .unwrap();
        // Answered at once, answered after 500 ms, hangs (one connection);
        // then answered, hangs; then a connection that hangs from its
        // first call.
        tokio::spawn(async move {
            let scripts: [&[u64]; 3] = [&[0, 500], &[0], &[]];
            for delays in scripts {
                let (s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let (r, mut w) = s.into_split();
                    let mut r = BufReader::new(r);
                    for &delay in delays {
                        let mut line = String::new();
                        while r.read_line(&mut line).await.unwrap() > 0
                            && !line.ends_with("\r\n\r\n")
                        {}
                        let mut body = [0u8; 2];
                        r.read_exact(&mut body).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await
                            .unwrap();
                    }
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop((r, w));
                });
            }
        });
        let pool = Pool::new(tls(), 32, Duration::from_secs(10));
        let get = http::Method::GET;
        let timed = |timeout| {
            let (pool, uri, get) = (pool.clone(), uri.clone(), get.clone());
            async move {
                let t0 = Instant::now();
                let r = call_within(&pool, &uri, get, timeout).await;
                (r, t0.elapsed())
            }
        };
        let ms = Duration::from_millis;
        // A short deadline, then a long one answered after the short one
        // has passed: the timer rings early and moves on.
        assert_eq!(timed(ms(300)).await.0.unwrap(), "ok");
        let (r, took) = timed(ms(5000)).await;
        assert_eq!(r.unwrap(), "ok");
        assert!(took >= ms(490), "{took:?}");
        // Then a short one again, on the same connection, unanswered.
        let (r, took) = timed(ms(300)).await;
        assert!(matches!(r, Err(BackendError::Timeout(_))), "{r:?}");
        assert!(took >= ms(290) && took < ms(2000), "{took:?}");
        // A new connection: answered, then idle past its deadline (the
        // timer runs out), then a call that hangs.
        assert_eq!(timed(ms(200)).await.0.unwrap(), "ok");
        tokio::time::sleep(ms(400)).await;
        let (r, took) = timed(ms(300)).await;
        assert!(matches!(r, Err(BackendError::Timeout(_))), "{r:?}");
        assert!(took >= ms(290) && took < ms(2000), "{took:?}");
        // A new connection's timer, set for the first time.
        let (r, took) = timed(ms(300)).await;
        assert!(matches!(r, Err(BackendError::Timeout(_))), "{r:?}");
        assert!(took >= ms(290) && took < ms(2000), "{took:?}");
    }

    #[tokio::test]
    async fn one_connection_carries_sequential_calls_in_origin_form_with_a_host() {
        let (uri, accepted, heads) = backend(100).await;
        let pool = Pool::new(tls(), 32, Duration::from_secs(10));
        for _ in 0..5 {
            assert_eq!(
                call(&pool, &uri, http::Method::GET).await.unwrap(),
                r#"{"n":1}"#
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
        let heads = heads.lock().unwrap();
        let first = heads[0].to_ascii_lowercase();
        assert!(
            first.starts_with("get /api/v1/users?x=1 http/1.1\r\n"),
            "{first}"
        );
        let port = uri.port_u16().unwrap();
        assert!(
            first.contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")),
            "{first}"
        );
    }

    #[tokio::test]
    async fn concurrent_calls_open_connections_and_keep_at_most_max_idle() {
        let (uri, accepted, _) = backend(100).await;
        let pool = Pool::new(tls(), 2, Duration::from_secs(10));
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let (pool, uri) = (pool.clone(), uri.clone());
                tokio::spawn(async move { call(&pool, &uri, http::Method::GET).await.unwrap() })
            })
            .collect();
        for c in calls {
            c.await.unwrap();
        }
        assert!(accepted.load(Ordering::SeqCst) >= 2);
        assert_eq!(pool.idle_count(), 2);
    }

    #[tokio::test]
    async fn a_zero_idle_timeout_keeps_no_connection() {
        let (uri, accepted, _) = backend(100).await;
        let pool = Pool::new(tls(), 32, Duration::ZERO);
        for _ in 0..3 {
            call(&pool, &uri, http::Method::GET).await.unwrap();
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn connections_idle_past_the_timeout_are_not_used_and_are_swept() {
        let (uri, accepted, _) = backend(100).await;
        let pool = Pool::new(tls(), 32, Duration::from_millis(150));
        call(&pool, &uri, http::Method::GET).await.unwrap();
        assert_eq!(pool.idle_count(), 1);
        tokio::time::sleep(Duration::from_millis(400)).await;
        // The sweeper closed it.
        assert_eq!(pool.idle_count(), 0);
        assert_eq!(
            call(&pool, &uri, http::Method::GET).await.unwrap(),
            r#"{"n":2}"#
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// Whether a kept-alive connection is too old is judged at the call's
    /// start, the moment the call passes in, not at a clock read of its own.
    #[tokio::test]
    async fn a_connection_is_judged_idle_at_the_moment_the_call_began() {
        let (uri, _, _) = backend(100).await;
        let pool = Pool::new(tls(), 32, Duration::from_secs(30));
        let origin = Origin::of(&uri).unwrap();
        call(&pool, &uri, http::Method::GET).await.unwrap();
        assert_eq!(pool.idle_count(), 1);
        let late = Instant::now() + Duration::from_secs(31);
        assert!(
            pool.take(&origin, late).is_none(),
            "idle 31 s at that moment"
        );
        assert_eq!(pool.idle_count(), 0, "and dropped");
        call(&pool, &uri, http::Method::GET).await.unwrap();
        let soon = Instant::now() + Duration::from_secs(29);
        assert!(
            pool.take(&origin, soon).is_some(),
            "idle 29 s at that moment"
        );
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_not_used() {
        // The backend closes each connection after one answer.
        let (uri, accepted, _) = backend(1).await;
        let pool = Pool::new(tls(), 32, Duration::from_secs(10));
        assert_eq!(
            call(&pool, &uri, http::Method::GET).await.unwrap(),
            r#"{"n":1}"#
        );
        // The close reaches the idle connection; the next call (a write,
        // which must not meet a dead connection) gets a new one.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            call(&pool, &uri, http::Method::POST).await.unwrap(),
            r#"{"n":2}"#
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// The sweeper also closes idle connections the backend closed, before
    /// their idle timeout.
    #[tokio::test]
    async fn connections_the_backend_closed_are_swept_before_their_timeout() {
        let (uri, _, _) = backend(1).await;
        // Idle timeout 2 s: the sweeper runs every second, so by 1.5 s it
        // has run once, on a connection younger than its timeout.
        let pool = Pool::new(tls(), 32, Duration::from_secs(2));
        call(&pool, &uri, http::Method::GET).await.unwrap();
        assert_eq!(pool.idle_count(), 1);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let uri: Uri = format!("http://{}/x", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(listener);
        let pool = Pool::new(tls(), 32, Duration::from_secs(10));
        match call(&pool, &uri, http::Method::GET).await {
            Err(BackendError::Connect(e)) => assert!(e.to_lowercase().contains("refused"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    /// An `https://` backend on `localhost` with `cert` that negotiates
    /// `h2` and answers each request with its version and URI: its port and
    /// the connections it accepted.
    async fn h2_backend(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> (u16, Arc<AtomicUsize>) {
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        let acceptor = h2_acceptor(cert);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let tls = acceptor.accept(tcp).await.unwrap();
                    let svc = service_fn(|req: Request<Incoming>| async move {
                        let text = format!("{:?} {}", req.version(), req.uri());
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            text,
                        ))))
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        (port, accepted)
    }

    /// TLS with `cert`, offering `h2` first.
    pub(super) fn h2_acceptor(
        cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    ) -> tokio_rustls::TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
            )
            .unwrap();
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(server))
    }

    pub(super) fn localhost_cert() -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap()
    }

    /// A client configuration that trusts `cert`.
    pub(super) fn trusting(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
    }

    /// An `https://` backend that negotiates `h2`: every call, sequential
    /// or at once, shares one connection.
    #[tokio::test]
    async fn an_h2_backend_gets_one_shared_connection() {
        let cert = localhost_cert();
        let (port, accepted) = h2_backend(&cert).await;
        let pool = Pool::new(trusting(&cert), 32, Duration::from_secs(10));
        let uri: Uri = format!("https://localhost:{port}/api/v1/users/1")
            .parse()
            .unwrap();
        for _ in 0..3 {
            assert_eq!(
                call(&pool, &uri, http::Method::GET).await.unwrap(),
                format!("HTTP/2.0 https://localhost:{port}/api/v1/users/1")
            );
        }
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (pool, uri) = (pool.clone(), uri.clone());
                tokio::spawn(async move { call(&pool, &uri, http::Method::POST).await.unwrap() })
            })
            .collect();
        for c in calls {
            assert!(c.await.unwrap().starts_with("HTTP/2.0 "));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 0);
    }

    /// Two `h2` backends (two mappings' `base_url`s) called in turn keep a
    /// shared connection each, instead of replacing each other's at every
    /// call; concurrent first calls to a third leave one shared connection,
    /// which the next calls use; one idle past `idle_timeout` is not used.
    #[tokio::test]
    async fn h2_connections_are_kept_per_backend() {
        let cert = localhost_cert();
        let (port_a, accepted_a) = h2_backend(&cert).await;
        let (port_b, accepted_b) = h2_backend(&cert).await;
        let (port_c, accepted_c) = h2_backend(&cert).await;
        let pool = Pool::new(trusting(&cert), 32, Duration::from_secs(1));
        let uri = |port: u16| -> Uri { format!("https://localhost:{port}/x").parse().unwrap() };
        for _ in 0..5 {
            for port in [port_a, port_b] {
                assert!(call(&pool, &uri(port), http::Method::GET)
                    .await
                    .unwrap()
                    .starts_with("HTTP/2.0 "));
            }
        }
        assert_eq!(accepted_a.load(Ordering::SeqCst), 1);
        assert_eq!(accepted_b.load(Ordering::SeqCst), 1);
        let first: Vec<_> = (0..6)
            .map(|_| {
                let (pool, uri) = (pool.clone(), uri(port_c));
                tokio::spawn(async move { call(&pool, &uri, http::Method::GET).await.unwrap() })
            })
            .collect();
        for c in first {
            c.await.unwrap();
        }
        let opened = accepted_c.load(Ordering::SeqCst);
        for _ in 0..3 {
            call(&pool, &uri(port_c), http::Method::GET).await.unwrap();
        }
        assert_eq!(accepted_c.load(Ordering::SeqCst), opened);
        // Past the idle timeout a call connects anew (the sweeper runs
        // every 500 ms here, the check at checkout covers the gap).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        call(&pool, &uri(port_a), http::Method::GET).await.unwrap();
        assert_eq!(accepted_a.load(Ordering::SeqCst), 2);
    }
}

#[cfg(test)]
#[path = "h2_tests.rs"]
mod h2_tests;
