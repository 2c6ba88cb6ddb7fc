//! The pooled HTTP(S) client that calls the legacy API, and the translation
//! of its failures into SCIM errors.

mod errors;
mod guard;
#[doc(hidden)]
pub mod h1;
mod outgoing;
mod pool;
mod transport;

pub use errors::{error_code, may_have_reached, needs_operator, translate_error, unanswered};
pub use guard::{Guard, Refusal};
pub use pool::{https_connector, BackendTlsFailure};
pub use transport::{RecordedCall, Responder, Script, Transport};

use crate::config::{BackendLimits, BackendTlsSettings};
use crate::mapping::plan::BackendPlan;
use crate::scim::error::ScimError;
use crate::tls_files::TlsFileError;
use bytes::Bytes;
use guard::Admitted;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use outgoing::{Fields, Origin, OutgoingRequest, Target};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Largest backend answer read into memory (a 10,000-member team is ~100 KiB).
pub const MAX_BACKEND_BODY: usize = 64 * 1024 * 1024;

/// Why a backend call produced no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect to the backend: {0}")]
    Connect(String),
    #[error("backend call failed: {0}")]
    Io(String),
    /// The backend closed (or reset) the connection without answering in
    /// full: typically a kept-alive connection it closed as idle just as
    /// the call was sent on it; over HTTP/2, a stream it refused
    /// unprocessed, reset, or cut short with `GOAWAY`. `written`: the
    /// request was (or may have been) written, so the backend may have
    /// acted on it.
    #[error("the backend closed the connection before answering: {error}")]
    Closed { written: bool, error: String },
    #[error("backend answer is larger than {MAX_BACKEND_BODY} bytes")]
    TooLarge,
    /// The TLS handshake with the backend failed. Never retried: the same
    /// certificate fails the same way.
    #[error("TLS with the backend failed: {0}")]
    Tls(BackendTlsFailure),
    /// Refused before sending, to protect the backend (caps or a pause it asked for).
    #[error("backend call refused by the bridge's limits: {0:?}")]
    Refused(Refusal),
}

impl From<BackendError> for ScimError {
    fn from(e: BackendError) -> ScimError {
        match e {
            BackendError::Timeout(_) => ScimError::new(
                StatusCode::GATEWAY_TIMEOUT,
                None,
                "the backend did not answer in time",
            ),
            BackendError::Connect(_) => ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "the backend is unreachable",
            )
            .with_retry_after(Some(5)),
            BackendError::Tls(failure) => ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                format!(
                    "{failure}; {} the bridge's backend TLS settings",
                    errors::OPERATOR_MUST_CHECK
                ),
            ),
            BackendError::Refused(Refusal::Busy { retry_after }) => ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "the backend is busy; retry later",
            )
            .with_retry_after(Some(retry_after)),
            BackendError::Refused(Refusal::Paused { retry_after }) => ScimError::new(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "the backend is rate limiting; retry later",
            )
            .with_retry_after(Some(retry_after)),
            BackendError::Closed { written: false, .. } => {
                ScimError::new(StatusCode::BAD_GATEWAY, None, errors::NEVER_SENT)
            }
            BackendError::Closed { written: true, .. } => ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                "the backend closed the connection before answering",
            ),
            BackendError::TooLarge => {
                ScimError::new(StatusCode::BAD_GATEWAY, None, errors::TOO_LARGE)
            }
            BackendError::Io(_) => ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                "the backend gave an unusable answer",
            ),
        }
    }
}

/// `scheme://host[:port]` of a backend URL, without credentials, path or
/// query (for log lines).
pub fn origin(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(u) => {
            let mut o = format!(
                "{}://{}",
                u.scheme_str().unwrap_or("http"),
                u.host().unwrap_or("")
            );
            if let Some(p) = u.port_u16() {
                o.push_str(&format!(":{p}"));
            }
            o
        }
        Err(_) => crate::secret::mask_userinfo(url),
    }
}

/// One backend answer, body read.
#[derive(Debug)]
pub struct BackendResponse {
    pub status: StatusCode,
    /// What the bridge reads of them: `ETag`, `Retry-After`, `Location`.
    /// An HTTP/1.1 answer keeps only these (`h1::KEPT_FIELDS`); a field
    /// read anywhere else must be added there.
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl BackendResponse {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(self.text()?).ok()
    }

    /// The body as text: `None` when empty or not UTF-8. Checked once for
    /// the whole answer (serde_json's `from_slice` checks every string on
    /// its own: 12 % more work for a user record).
    pub fn text(&self) -> Option<&str> {
        if self.body.is_empty() {
            return None;
        }
        std::str::from_utf8(&self.body).ok()
    }

    pub fn etag(&self) -> Option<&str> {
        self.headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
    }

    /// `Retry-After` in seconds (the delta-seconds form).
    pub fn retry_after(&self) -> Option<u64> {
        self.headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
    }
}

/// A request to send.
pub struct Call<'a> {
    /// Operation name for metrics (`get`, `list`, …).
    pub op: &'static str,
    pub method: Method,
    /// Path and query, appended to the backend's base URL.
    pub path_and_query: String,
    pub headers: &'a [(HeaderName, HeaderValue)],
    pub body: Option<(HeaderValue, Bytes)>,
    pub request_id: Option<&'a str>,
}

/// Shared, pooled client. Cheap to clone.
#[derive(Clone)]
pub struct BackendClient {
    transport: Transport,
    read_retries: u32,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// `[[tenants]]`: the tenant label of this client's calls in metrics.
    tenant: Option<Arc<str>>,
    limits: BackendLimits,
    /// One [`Guard`] per backend base URL, shared by every request. A list:
    /// the mappings name a handful of URLs at most (usually one), and a
    /// comparison costs less than hashing the URL on every call. Read
    /// without a lock (a lock is a write every worker thread makes on each
    /// call); a URL met for the first time is added by copying the list.
    guards: Arc<arc_swap::ArcSwap<Guards>>,
}

/// Each backend base URL with its [`Guard`].
type Guards = Vec<(String, Arc<Guard>)>;

tokio::task_local! {
    /// Backend calls made while serving the current request (for its log line).
    pub static CALL_STATS: Arc<CallStats>;
}

/// Number and total duration of the backend calls of one request.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: std::sync::atomic::AtomicU32,
    micros: std::sync::atomic::AtomicU64,
}

impl CallStats {
    fn record(&self, took: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.calls.fetch_add(1, Relaxed);
        self.micros.fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// (calls, total milliseconds)
    pub fn snapshot(&self) -> (u32, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.calls.load(Relaxed), self.micros.load(Relaxed) / 1000)
    }
}

/// A cheap per-process random number (xorshift64*, seeded from the clock
/// and the process id); good enough for retry jitter, not for secrets.
fn jitter_random() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let step = |mut x: u64| {
        if x == 0 {
            x = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9E37_79B9_7F4A_7C15)
                ^ ((std::process::id() as u64) << 32)
                | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x
    };
    let prev = STATE
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
        .unwrap_or(0);
    step(prev).wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// A random number below `n` (0 when `n` is 0), from `jitter_random`.
pub fn random_below(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        jitter_random() % n
    }
}

/// Backoff before retry `attempt` (1-based): half of `50 ms × 2^attempt`
/// fixed, the other half random ("equal jitter").
pub fn retry_backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(5);
    Duration::from_millis(base / 2 + random_below(base / 2 + 1))
}

impl BackendClient {
    /// Counts this client's calls for tenant `t` too (`[[tenants]]`).
    pub fn with_tenant(mut self, t: &str) -> BackendClient {
        self.tenant = Some(t.into());
        self
    }

    pub fn with_metrics(mut self, m: std::sync::Arc<crate::metrics::Metrics>) -> BackendClient {
        self.metrics = Some(m);
        self
    }

    /// The metrics this client reports to, if any.
    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.metrics.as_deref()
    }

    /// Caps applied to each backend this client calls.
    pub fn with_limits(mut self, limits: BackendLimits) -> BackendClient {
        self.limits = limits;
        self
    }

    /// Takes over the guards of `prev`, the client this one replaces on a
    /// reload (see [`Guard::succeeding`]): before, every reload started each
    /// backend's caps afresh, so quick reloads let several times
    /// `max_concurrency` calls reach a slow backend, and a `429` pause was
    /// forgotten.
    pub fn succeeding(mut self, prev: &BackendClient) -> BackendClient {
        if prev.limits == self.limits {
            // The same guards, those the old client makes later included.
            self.guards = prev.guards.clone();
            return self;
        }
        let carried: Guards = prev
            .guards
            .load()
            .iter()
            .map(|(url, g)| (url.clone(), Arc::new(Guard::succeeding(g, self.limits))))
            .collect();
        self.guards.store(Arc::new(carried));
        self
    }

    /// The guard of the backend at `base_url` (created on first use).
    pub fn guard(&self, base_url: &str) -> Arc<Guard> {
        let find = |list: &Guards| {
            list.iter()
                .find(|(url, _)| url == base_url)
                .map(|(_, g)| g.clone())
        };
        if let Some(g) = find(&self.guards.load()) {
            return g;
        }
        // Made once: `rcu` may run its function again when another URL is
        // added meanwhile, and the URL may be added by another call.
        let made = Arc::new(Guard::new(self.limits));
        let old = self.guards.rcu(|list| {
            let mut list = Guards::clone(list);
            if find(&list).is_none() {
                list.push((base_url.to_string(), made.clone()));
            }
            list
        });
        find(&old).unwrap_or(made)
    }

    /// A client that sends nothing: every call is recorded and answered by `responder`.
    pub fn scripted(responder: Responder) -> (BackendClient, std::sync::Arc<Script>) {
        let script = Arc::new(Script::new(responder));
        let c = BackendClient::with_transport(0, Transport::Recording(script.clone()));
        (c, script)
    }
}

/// The rustls client configuration for backend calls (see
/// [`BackendTlsSettings::client_config`]).
pub fn tls_client_config(tls: &BackendTlsSettings) -> Result<rustls::ClientConfig, TlsFileError> {
    tls.client_config()
}

impl BackendClient {
    /// A client trusting what `tls` says. Settings validation has already
    /// loaded the same files; should they have become unreadable since,
    /// the error is logged and every HTTPS call fails verification (no
    /// trust anchors) rather than trusting anything.
    /// Its caps are `limits`; the connection pool keeps up to
    /// `limits.max_concurrency` idle connections per backend host, each for
    /// at most `limits.pool_idle_timeout`.
    pub fn new(
        read_retries: u32,
        tls: &BackendTlsSettings,
        limits: BackendLimits,
    ) -> BackendClient {
        let config = tls_client_config(tls).unwrap_or_else(|e| {
            error!(error = %e, "backend TLS settings unusable; HTTPS backend calls will fail");
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
        });
        BackendClient::with_transport(
            read_retries,
            Transport::http(config, limits.max_concurrency, limits.pool_idle_timeout),
        )
        .with_limits(limits)
    }

    /// A client over this one's transport (its connection pool), with
    /// `read_retries` and `limits` of its own (a reload that changed
    /// neither the TLS settings nor the pool's).
    pub fn with_same_transport(&self, read_retries: u32, limits: BackendLimits) -> BackendClient {
        BackendClient::with_transport(read_retries, self.transport.clone()).with_limits(limits)
    }

    /// A client carrying its calls over `transport`.
    pub fn with_transport(read_retries: u32, transport: Transport) -> BackendClient {
        BackendClient {
            transport,
            read_retries,
            metrics: None,
            tenant: None,
            limits: BackendLimits::UNLIMITED,
            guards: Default::default(),
        }
    }

    /// Sends a call: admit (the backend's guard) → call (the transport) →
    /// observe (metrics, logs, a `429` pause) → retry decision. Idempotent
    /// calls (GET) are retried on connect errors and 502/503/504 with
    /// jittered backoff, or after the answer's `Retry-After` when that is
    /// longer (not at all when it outlasts the queue timeout); others only
    /// when the connection failed before anything was sent.
    pub async fn send(
        &self,
        backend: &BackendPlan,
        call: Call<'_>,
    ) -> Result<BackendResponse, BackendError> {
        let guard = self.guard(&backend.base_url);
        let mut attempt = 0u32;
        loop {
            let admitted = self.admit(&guard, &call).await?;
            let started = Instant::now();
            let result = match request(backend, &call) {
                Ok(req) => self.transport.call(req, started, backend.timeout).await,
                Err(e) => Err(e),
            };
            let elapsed = started.elapsed();
            drop(admitted);
            self.observe(&guard, backend, &call, &result, elapsed, attempt);
            if !self.should_retry(&call, &result, attempt) {
                return result;
            }
            let Some(wait) = self.retry_wait(&call, &result, attempt + 1) else {
                return result;
            };
            attempt += 1;
            if let Some(m) = &self.metrics {
                m.backend_retries
                    .get_or_create(&crate::metrics::OpOnly {
                        operation: call.op.into(),
                    })
                    .inc();
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// How long to wait before retry `attempt` (1-based): the jittered
    /// backoff, or the answer's `Retry-After` when it asks for longer. A
    /// `Retry-After` beyond the queue timeout (the longest a call waits for
    /// a `429` pause too) is `None`: no retry, the answer goes back to the
    /// client with its `Retry-After`, and the backend gets no call sooner
    /// than it asked for.
    fn retry_wait(
        &self,
        call: &Call<'_>,
        result: &Result<BackendResponse, BackendError>,
        attempt: u32,
    ) -> Option<Duration> {
        let backoff = retry_backoff(attempt);
        let asked = match result {
            Ok(r) => r.retry_after().map(Duration::from_secs),
            Err(_) => None,
        };
        match asked {
            Some(asked) if asked > backoff => {
                if asked > self.limits.queue_timeout {
                    info!(
                        operation = call.op,
                        retry_after_s = asked.as_secs(),
                        "backend asked not to be called again for longer than the queue timeout; not retrying"
                    );
                    None
                } else {
                    Some(asked)
                }
            }
            _ => Some(backoff),
        }
    }

    /// Waits for the guard's concurrency slot, rate token or pause; a
    /// refusal is counted and logged.
    async fn admit<'g>(
        &self,
        guard: &'g Guard,
        call: &Call<'_>,
    ) -> Result<Admitted<'g>, BackendError> {
        match guard.admit().await {
            Ok(admitted) => {
                if admitted.waited {
                    if let Some(m) = &self.metrics {
                        m.backend_rate_limit_waits.inc();
                    }
                }
                Ok(admitted)
            }
            Err(refusal) => {
                if let Some(m) = &self.metrics {
                    m.backend_rejections.inc();
                }
                warn!(
                    operation = call.op,
                    ?refusal,
                    "backend call refused to protect the backend"
                );
                Err(BackendError::Refused(refusal))
            }
        }
    }

    /// Records one attempt: the request's call stats, a backend `429`
    /// pause, metrics and the debug log line.
    fn observe(
        &self,
        guard: &Guard,
        backend: &BackendPlan,
        call: &Call<'_>,
        result: &Result<BackendResponse, BackendError>,
        elapsed: Duration,
        attempt: u32,
    ) {
        let _ = CALL_STATS.try_with(|s| s.record(elapsed));
        if let Err(BackendError::Connect(cause)) = result {
            if guard.warn_unreachable() {
                warn!(
                    backend = %origin(&backend.base_url),
                    error = %cause,
                    "cannot connect to the backend"
                );
            }
        }
        if let Err(BackendError::Io(cause)) = result {
            // Not HTTP as the bridge reads it (or a failing connection): the
            // client gets a bare `502`, the operator the reason.
            warn!(
                backend = %origin(&backend.base_url),
                error = %cause,
                "the backend gave an unusable answer"
            );
        }
        if let Ok(r) = result {
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                if let Some(secs) = r.retry_after() {
                    info!(
                        retry_after_s = secs,
                        "backend asked to slow down; pausing calls to it"
                    );
                    guard.pause(secs);
                }
            }
        }
        if let Some(m) = &self.metrics {
            let status = match result {
                Ok(r) => crate::metrics::status_label(r.status),
                Err(BackendError::Timeout(_)) => "timeout".into(),
                Err(BackendError::Connect(_)) => "connect_error".into(),
                Err(_) => "error".into(),
            };
            if let Some(t) = &self.tenant {
                m.record_tenant_backend(t, call.op, &status);
            }
            m.record_backend(call.op, status, elapsed);
            if matches!(result, Ok(r) if r.status == StatusCode::TOO_MANY_REQUESTS) {
                m.backend_rate_limited.inc();
            }
        }
        match result {
            Ok(r) => {
                debug!(method = %call.method, status = r.status.as_u16(), ms = elapsed.as_millis() as u64, attempt, "backend call")
            }
            Err(e) => {
                debug!(method = %call.method, error = %e, ms = elapsed.as_millis() as u64, attempt, "backend call failed")
            }
        }
    }

    /// `Connect` means the connector failed (TCP or proxy): the request was
    /// never written, so even a write may be retried. The same for a
    /// connection the backend closed before any of the request was written,
    /// once. Anything else may have reached the backend: reads only (a
    /// connection closed after the request was written included).
    fn should_retry(
        &self,
        call: &Call<'_>,
        result: &Result<BackendResponse, BackendError>,
        attempt: u32,
    ) -> bool {
        match result {
            Err(BackendError::Connect(_)) => attempt < self.read_retries.max(1),
            Err(BackendError::Closed { written: false, .. }) => {
                attempt
                    < if call.method == Method::GET {
                        self.read_retries.max(1)
                    } else {
                        1
                    }
            }
            Err(BackendError::Closed { written: true, .. }) => {
                call.method == Method::GET && attempt < self.read_retries
            }
            Err(_) => false,
            Ok(r) => {
                call.method == Method::GET
                    && matches!(r.status.as_u16(), 502..=504)
                    && attempt < self.read_retries
            }
        }
    }
}

/// The request id's header, read from the client, sent to the backend and
/// returned in the answer (a constant: a name given as text is parsed on
/// every use).
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request the bridge cannot send: its URI (or the part of it named) is
/// not one.
fn bad_uri(why: impl std::fmt::Display) -> BackendError {
    BackendError::Io(format!("bad request URI: {why}"))
}

/// The HTTP request for `call`: the backend's base URL and headers, the
/// call's own headers, `Accept`, `X-Request-Id` and the body.
fn request(backend: &BackendPlan, call: &Call<'_>) -> Result<OutgoingRequest, BackendError> {
    let (origin, target) = match &backend.uri_base {
        // The scheme and authority were parsed at load; the target is only
        // checked (no URI is built for an HTTP/1.1 call).
        Some(base) => (
            Origin {
                scheme: base.scheme.clone(),
                authority: base.authority.clone(),
            },
            base.target(&call.path_and_query),
        ),
        None => {
            let mut url = String::with_capacity(backend.base_url.len() + call.path_and_query.len());
            url.push_str(&backend.base_url);
            url.push_str(&call.path_and_query);
            let uri = http::Uri::try_from(url).map_err(bad_uri)?;
            let origin = Origin::of(&uri).ok_or_else(|| bad_uri("no scheme or host"))?;
            let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
            (origin, target)
        }
    };
    let target = Target::new(target).map_err(bad_uri)?;
    let mut headers = Fields::with_capacity(backend.headers.len() + call.headers.len() + 4);
    // First, so a `Host` among the mapping's headers still wins.
    if let Some(h) = &backend.host {
        headers.set(http::header::HOST, h.clone());
    }
    for (k, v) in backend.headers.iter().chain(call.headers.iter()) {
        headers.set(k.clone(), v.clone());
    }
    headers.set(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    if let Some(id) = call.request_id.and_then(|i| HeaderValue::from_str(i).ok()) {
        headers.set(X_REQUEST_ID, id);
    }
    let body = call.body.as_ref().map(|(ct, b)| {
        headers.set(http::header::CONTENT_TYPE, ct.clone());
        b.clone()
    });
    Ok(OutgoingRequest {
        method: call.method.clone(),
        origin,
        target,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reads_utf8_answers_and_refuses_the_rest() {
        let answer = |body: &'static [u8]| BackendResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        };
        assert_eq!(
            answer("{\"name\":\"Zoë 😀\",\"n\":[1,2.5,null]}".as_bytes()).json(),
            Some(serde_json::json!({"name": "Zoë 😀", "n": [1, 2.5, null]}))
        );
        assert_eq!(answer(b"{\"name\":\"Zo\xeb\"}").json(), None);
        assert_eq!(answer(b"{\"name\":").json(), None);
        assert_eq!(answer(b"").json(), None);
    }

    pub(super) fn plan() -> BackendPlan {
        BackendPlan {
            base_url: "http://backend.invalid".into(),
            uri_base: crate::mapping::plan::UriBase::of("http://backend.invalid"),
            host: None,
            headers: vec![],
            timeout: Duration::from_secs(5),
            errors: crate::mapping::plan::ErrorPlan {
                code: None,
                message: None,
                fields: None,
                rules: vec![],
            },
            auth_summary: String::new(),
        }
    }

    /// A client whose every call is answered `503` with `Retry-After: secs`.
    fn unavailable(secs: u64, queue_timeout_ms: u64) -> (BackendClient, Arc<Script>) {
        let (client, script) = BackendClient::scripted(Box::new(move |_| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
            BackendResponse {
                status: StatusCode::SERVICE_UNAVAILABLE,
                headers,
                body: Bytes::new(),
            }
        }));
        let limits = BackendLimits {
            queue_timeout: Duration::from_millis(queue_timeout_ms),
            ..BackendLimits::UNLIMITED
        };
        let mut client = client.with_limits(limits);
        client.read_retries = 2;
        (client, script)
    }

    fn get() -> Call<'static> {
        Call {
            op: "get",
            method: Method::GET,
            path_and_query: "/users/1".into(),
            headers: &[],
            body: None,
            request_id: None,
        }
    }

    /// A backend that cannot be reached is reported with the cause (a
    /// refused port here, a name that does not resolve elsewhere), not only
    /// hyper's "client error (Connect)"; log lines name its origin without
    /// credentials, and a backend down warns once per interval, not per call.
    #[tokio::test]
    async fn an_unreachable_backend_is_reported_with_its_cause_and_origin() {
        // Bound but not listening: connections are refused, and no other
        // test can take the port meanwhile.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        let base_url = format!("http://127.0.0.1:{port}");
        let backend = BackendPlan {
            uri_base: crate::mapping::plan::UriBase::of(&base_url),
            base_url,
            ..plan()
        };
        let client = BackendClient::new(
            0,
            &crate::config::BackendTlsSettings::default(),
            BackendLimits::default(),
        );
        match client.send(&backend, get()).await {
            Err(BackendError::Connect(cause)) => {
                assert!(cause.to_lowercase().contains("refused"), "{cause}")
            }
            other => panic!("{:?}", other.map(|r| r.status)),
        }
        assert_eq!(
            origin("https://svc:p4ss@backend.example:8443/api/v1?k=v"),
            "https://backend.example:8443"
        );
        assert_eq!(
            origin("http://backend.example/api"),
            "http://backend.example"
        );
        let guard = client.guard(&backend.base_url);
        // The call above warned already.
        assert!(!guard.warn_unreachable());
    }

    #[tokio::test]
    async fn a_503_retry_after_beyond_the_queue_timeout_is_not_retried() {
        let (client, script) = unavailable(30, 2000);
        let started = Instant::now();
        let r = client.send(&plan(), get()).await.unwrap();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.retry_after(), Some(30));
        assert_eq!(
            script.calls.lock().unwrap().len(),
            1,
            "retried sooner than asked"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_503_retry_after_within_the_queue_timeout_is_waited_for() {
        let (client, script) = unavailable(1, 2000);
        let started = Instant::now();
        let r = client.send(&plan(), get()).await.unwrap();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            script.calls.lock().unwrap().len(),
            3,
            "one call, two retries"
        );
        // Two retries, each at least the second the backend asked for.
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn retry_backoff_is_jittered_and_bounded() {
        let waits: Vec<Duration> = (0..50).map(|_| retry_backoff(1)).collect();
        assert!(waits
            .iter()
            .all(|w| *w >= Duration::from_millis(50) && *w <= Duration::from_millis(100)));
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 10, "{waits:?}");
        assert!(retry_backoff(2) >= Duration::from_millis(100));
    }
}
