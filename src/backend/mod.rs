//! The pooled HTTP(S) client that calls the legacy API, and the translation
//! of its failures into SCIM errors.

mod guard;

pub use guard::{Guard, Refusal};

use crate::config::{BackendLimits, BackendTlsSettings};
use crate::mapping::plan::{BackendPlan, ReadExpr};
use crate::scim::error::ScimError;
use crate::tls_files::TlsFileError;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
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
                format!("{failure}; an operator must check the bridge's backend TLS settings"),
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
            BackendError::Io(_) | BackendError::TooLarge => ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                "the backend gave an unusable answer",
            ),
        }
    }
}

/// One backend answer, body read.
#[derive(Debug)]
pub struct BackendResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl BackendResponse {
    pub fn json(&self) -> Option<Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
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
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    read_retries: u32,
    /// `explain`: record calls and answer from a script instead of the network.
    script: Option<std::sync::Arc<Script>>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    limits: BackendLimits,
    /// One [`Guard`] per backend base URL, shared by every request.
    guards: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Guard>>>>,
}

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

/// A random number below `n` (0 when `n` is 0), from [`jitter_random`].
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

/// A backend call as `explain` shows it (secret header values masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

type Responder = Box<dyn Fn(&RecordedCall) -> BackendResponse + Send + Sync>;

/// Recorded calls and the function that answers them.
pub struct Script {
    pub calls: std::sync::Mutex<Vec<RecordedCall>>,
    responder: Responder,
}

impl BackendClient {
    pub fn with_metrics(mut self, m: std::sync::Arc<crate::metrics::Metrics>) -> BackendClient {
        self.metrics = Some(m);
        self
    }

    /// Caps applied to each backend this client calls.
    pub fn with_limits(mut self, limits: BackendLimits) -> BackendClient {
        self.limits = limits;
        self
    }

    /// The guard of the backend at `base_url` (created on first use).
    pub fn guard(&self, base_url: &str) -> Arc<Guard> {
        let mut g = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        g.entry(base_url.to_string())
            .or_insert_with(|| Arc::new(Guard::new(self.limits)))
            .clone()
    }

    /// A client that sends nothing: every call is recorded and answered by `responder`.
    pub fn scripted(responder: Responder) -> (BackendClient, std::sync::Arc<Script>) {
        let script = std::sync::Arc::new(Script {
            calls: Default::default(),
            responder,
        });
        let mut c = BackendClient::new(0, &Default::default());
        c.script = Some(script.clone());
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
    pub fn new(read_retries: u32, tls: &BackendTlsSettings) -> BackendClient {
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
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(connector);
        BackendClient {
            client,
            read_retries,
            script: None,
            metrics: None,
            limits: BackendLimits::UNLIMITED,
            guards: Default::default(),
        }
    }

    /// Sends a call; idempotent calls (GET) are retried on connect errors and
    /// 502/503/504 with jittered backoff; others only when the connection
    /// failed before anything was sent.
    pub async fn send(
        &self,
        backend: &BackendPlan,
        call: Call<'_>,
    ) -> Result<BackendResponse, BackendError> {
        let idempotent = call.method == Method::GET;
        let guard = self.guard(&backend.base_url);
        let mut attempt = 0u32;
        loop {
            let admitted = match guard.admit().await {
                Ok(a) => a,
                Err(refusal) => {
                    if let Some(m) = &self.metrics {
                        m.backend_rejections.inc();
                    }
                    warn!(
                        operation = call.op,
                        ?refusal,
                        "backend call refused to protect the backend"
                    );
                    return Err(BackendError::Refused(refusal));
                }
            };
            if admitted.waited {
                if let Some(m) = &self.metrics {
                    m.backend_rate_limit_waits.inc();
                }
            }
            let started = Instant::now();
            let result = self.send_once(backend, &call).await;
            let elapsed = started.elapsed();
            drop(admitted);
            let _ = CALL_STATS.try_with(|s| s.record(elapsed));
            if let Ok(r) = &result {
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
            // `Connect` means the connector failed (TCP or proxy): the
            // request was never written, so even a write may be retried.
            // Anything else may have reached the backend: reads only.
            let retryable = match &result {
                Err(BackendError::Connect(_)) => attempt < self.read_retries.max(1),
                Err(_) => false,
                Ok(r) => {
                    idempotent
                        && matches!(r.status.as_u16(), 502..=504)
                        && attempt < self.read_retries
                }
            };
            if let Some(m) = &self.metrics {
                let status = match &result {
                    Ok(r) => r.status.as_str().to_string(),
                    Err(BackendError::Timeout(_)) => "timeout".into(),
                    Err(BackendError::Connect(_)) => "connect_error".into(),
                    Err(_) => "error".into(),
                };
                m.record_backend(call.op, &status, elapsed);
                if matches!(&result, Ok(r) if r.status == StatusCode::TOO_MANY_REQUESTS) {
                    m.backend_rate_limited.inc();
                }
            }
            match &result {
                Ok(r) => {
                    debug!(method = %call.method, status = r.status.as_u16(), ms = elapsed.as_millis() as u64, attempt, "backend call")
                }
                Err(e) => {
                    debug!(method = %call.method, error = %e, ms = elapsed.as_millis() as u64, attempt, "backend call failed")
                }
            }
            if !retryable {
                return result;
            }
            attempt += 1;
            if let Some(m) = &self.metrics {
                m.backend_retries
                    .get_or_create(&crate::metrics::OpOnly {
                        operation: call.op.into(),
                    })
                    .inc();
            }
            tokio::time::sleep(retry_backoff(attempt)).await;
        }
    }

    async fn send_once(
        &self,
        backend: &BackendPlan,
        call: &Call<'_>,
    ) -> Result<BackendResponse, BackendError> {
        let uri = format!("{}{}", backend.base_url, call.path_and_query);
        let mut req = Request::builder().method(call.method.clone()).uri(&uri);
        let headers = req.headers_mut().expect("builder is valid before body");
        for (k, v) in backend.headers.iter().chain(call.headers.iter()) {
            headers.insert(k.clone(), v.clone());
        }
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        if let Some(id) = call.request_id.and_then(|i| HeaderValue::from_str(i).ok()) {
            headers.insert(HeaderName::from_static("x-request-id"), id);
        }
        let body = match &call.body {
            Some((ct, b)) => {
                headers.insert(http::header::CONTENT_TYPE, ct.clone());
                Full::new(b.clone())
            }
            None => Full::new(Bytes::new()),
        };
        let req = req
            .body(body)
            .map_err(|e| BackendError::Io(format!("bad request URI: {e}")))?;
        if let Some(script) = &self.script {
            let rec = RecordedCall {
                method: req.method().to_string(),
                url: uri.clone(),
                headers: req
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        let shown = if v.is_sensitive() {
                            "***".to_string()
                        } else {
                            v.to_str().unwrap_or("?").to_string()
                        };
                        (k.to_string(), shown)
                    })
                    .collect(),
                body: call
                    .body
                    .as_ref()
                    .map(|(_, b)| String::from_utf8_lossy(b).into_owned()),
            };
            let resp = (script.responder)(&rec);
            script
                .calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(rec);
            return Ok(resp);
        }
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| {
                if let Some(t) = BackendTlsFailure::find(&e) {
                    warn!(error = %t, "TLS with the backend failed (check backend.ca_file, backend.client_cert_file and the backend's certificate)");
                    BackendError::Tls(t)
                } else if e.is_connect() {
                    BackendError::Connect(e.to_string())
                } else {
                    BackendError::Io(e.to_string())
                }
            })?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_BACKEND_BODY)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        BackendError::TooLarge
                    } else {
                        BackendError::Io(e.to_string())
                    }
                })?
                .to_bytes();
            Ok(BackendResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(backend.timeout, fut)
            .await
            .map_err(|_| BackendError::Timeout(backend.timeout))?
    }
}

/// The backend's error code, per the mapping's `errors.code` JSONPath.
pub fn error_code(backend: &BackendPlan, body: Option<&Value>) -> Option<String> {
    let body = body?;
    backend
        .errors
        .code
        .as_ref()
        .and_then(|e| e.first(body))
        .and_then(scalar_text)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_text(expr: Option<&ReadExpr>, body: &Value) -> Option<String> {
    expr.and_then(|e| e.first(body)).and_then(|v| match v {
        Value::Object(m) => Some(
            m.iter()
                .map(|(k, v)| format!("{k}: {}", scalar_text(v).unwrap_or_else(|| v.to_string())))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => scalar_text(other),
    })
}

/// Translates a non-2xx backend answer into the SCIM error the client sees:
/// the mapping's rules first, then the built-in table.
pub fn translate_error(backend: &BackendPlan, resp: &BackendResponse, what: &str) -> ScimError {
    let body = resp.json();
    let code = error_code(backend, body.as_ref());
    let status = resp.status;
    let mut message = body
        .as_ref()
        .and_then(|b| read_text(backend.errors.message.as_ref(), b))
        .unwrap_or_default();
    if let Some(fields) = body
        .as_ref()
        .and_then(|b| read_text(backend.errors.fields.as_ref(), b))
    {
        if !fields.is_empty() {
            message = if message.is_empty() {
                fields
            } else {
                format!("{message} ({fields})")
            };
        }
    }
    let backend_says = |default: &str| {
        if message.is_empty() {
            default.to_string()
        } else {
            format!("{default}: {message}")
        }
    };
    for rule in &backend.errors.rules {
        let status_ok = rule.status.is_none_or(|s| s == status.as_u16());
        let code_ok = match (&rule.code, &code) {
            (None, _) => true,
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => false,
        };
        if status_ok && code_ok {
            if rule.scim_status.is_server_error() {
                warn!(backend_status = status.as_u16(), code = ?code, "backend error mapped to {}", rule.scim_status);
            }
            let detail = match rule.scim_status.as_u16() {
                404 => format!("{what} not found"),
                409 if rule.scim_type == Some("uniqueness") => {
                    backend_says(&format!("{what} conflicts with an existing resource"))
                }
                _ => backend_says(&format!(
                    "the backend rejected the request ({})",
                    status.as_u16()
                )),
            };
            return ScimError::new(rule.scim_status, rule.scim_type, detail)
                .with_retry_after(resp.retry_after());
        }
    }
    match status.as_u16() {
        400 | 422 => ScimError::invalid_value(backend_says("the backend rejected a value")),
        404 => ScimError::not_found(format!("{what} not found")),
        409 => ScimError::new(
            StatusCode::CONFLICT,
            Some("uniqueness"),
            backend_says(&format!("{what} conflicts with an existing resource")),
        ),
        412 => ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("{what} was changed by someone else"),
        ),
        401 | 403 => {
            warn!(backend_status = status.as_u16(), "the backend rejected the bridge's own credentials (check backend.auth in the mapping)");
            ScimError::new(StatusCode::BAD_GATEWAY, None, "the backend rejected the bridge's credentials (an operator must check the bridge's backend configuration)")
        }
        429 => ScimError::new(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            "the backend is rate limiting; retry later",
        )
        .with_retry_after(Some(resp.retry_after().unwrap_or(1))),
        500..=599 => {
            warn!(backend_status = status.as_u16(), code = ?code, "backend server error");
            ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "the backend is temporarily unavailable",
            )
            .with_retry_after(Some(resp.retry_after().unwrap_or(5)))
        }
        other => {
            warn!(backend_status = other, code = ?code, "unexpected backend answer (check the mapping's operations)");
            ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                format!("the backend answered {other} unexpectedly"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
