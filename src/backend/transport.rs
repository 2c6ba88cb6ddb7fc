//! What carries one backend call: the real HTTP(S) transport (pooled
//! hyper client, rustls), or the recording transport `explain` uses, which
//! sends nothing and answers every call from a script.

use super::{BackendError, BackendResponse, MAX_BACKEND_BODY};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::warn;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Idle connections kept per backend host at most, whatever the concurrency
/// cap (`max_rps = 0` with a huge `max_concurrency` must not keep thousands).
pub const MAX_IDLE_PER_HOST: usize = 1024;

/// A built request: `None` body for calls without one.
pub type OutgoingRequest = Request<Option<Bytes>>;

/// Carries calls to a backend.
#[derive(Clone)]
pub enum Transport {
    Http(Box<HttpClient>),
    /// `explain`: record calls and answer from a script instead of the network.
    Recording(Arc<Script>),
}

impl Transport {
    /// A pooled HTTP(S) client using `tls` for `https://` backends, keeping
    /// up to `max_idle_per_host` idle connections per backend: sized to the
    /// backend concurrency cap, so every call the cap lets through at once
    /// finds a kept-alive connection next time instead of opening one. An
    /// idle connection is not used after `idle_timeout` (and is closed by
    /// the pool's timer); `ZERO` keeps none.
    ///
    /// A request that meets a kept-alive connection found closed before any
    /// of it was written is sent again on another connection by hyper-util
    /// itself (`retry_canceled_requests`, set here so it does not depend on
    /// a default).
    pub fn http(
        tls: rustls::ClientConfig,
        max_idle_per_host: usize,
        idle_timeout: Duration,
    ) -> Transport {
        let max_idle = if idle_timeout.is_zero() {
            0
        } else {
            max_idle_per_host.clamp(1, MAX_IDLE_PER_HOST)
        };
        Transport::Http(Box::new(
            Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(idle_timeout)
                .pool_max_idle_per_host(max_idle)
                .retry_canceled_requests(true)
                .build(https_connector(tls)),
        ))
    }

    /// One call, its answer's body read, within `timeout`.
    pub async fn call(
        &self,
        req: OutgoingRequest,
        timeout: Duration,
    ) -> Result<BackendResponse, BackendError> {
        match self {
            Transport::Recording(script) => Ok(script.answer(&req)),
            Transport::Http(client) => tokio::time::timeout(timeout, http_call(client, req))
                .await
                .map_err(|_| BackendError::Timeout(timeout))?,
        }
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

async fn http_call(
    client: &HttpClient,
    req: OutgoingRequest,
) -> Result<BackendResponse, BackendError> {
    let req = req.map(|b| Full::new(b.unwrap_or_default()));
    let resp = client.request(req).await.map_err(|e| {
        if let Some(t) = BackendTlsFailure::find(&e) {
            warn!(error = %t, "TLS with the backend failed (check backend.ca_file, backend.client_cert_file and the backend's certificate)");
            BackendError::Tls(t)
        } else if e.is_connect() {
            // The whole chain: "client error (Connect)" alone does not tell
            // a name that does not resolve from a refused port.
            BackendError::Connect(error_chain(&e))
        } else if let Some(written) = closed_by_backend(&e) {
            BackendError::Closed {
                written,
                error: e.to_string(),
            }
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
}

/// `e` and its sources, each once, joined by `: ` (connector errors name
/// neither the URL nor credentials).
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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
/// answering: `Some(false)` when not a byte of the request was written
/// (hyper hands such a request back as canceled; hyper-util already resent
/// it if the connection was a kept-alive one), `Some(true)` when the request
/// was written, or may have been, so the backend may have acted on it.
fn closed_by_backend(e: &(dyn std::error::Error + 'static)) -> Option<bool> {
    use std::io::ErrorKind;
    let mut cur = Some(e);
    while let Some(err) = cur {
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

/// A backend call as `explain` shows it (secret header values masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

pub type Responder = Box<dyn Fn(&RecordedCall) -> BackendResponse + Send + Sync>;

/// Recorded calls and the function that answers them.
pub struct Script {
    pub calls: Mutex<Vec<RecordedCall>>,
    responder: Responder,
}

impl Script {
    pub fn new(responder: Responder) -> Script {
        Script {
            calls: Default::default(),
            responder,
        }
    }

    /// Records `req` (secret header values masked) and answers it.
    fn answer(&self, req: &OutgoingRequest) -> BackendResponse {
        let rec = RecordedCall {
            method: req.method().to_string(),
            url: crate::secret::mask_userinfo(&req.uri().to_string()),
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
            body: req
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
        };
        let resp = (self.responder)(&rec);
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rec);
        resp
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
