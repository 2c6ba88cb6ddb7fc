//! The HTTP side: accept loop, graceful shutdown, bearer auth, body limits,
//! routing of SCIM paths to [`crate::service`], and rendering of answers.

mod routes;
pub mod tls;

use crate::backend::BackendClient;
use crate::config::Settings;
use crate::mapping::Plan;
use crate::scim::error::ScimError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// How long in-flight requests may run after a shutdown signal.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(25);

/// Everything a request needs; shared by all connections.
pub struct AppState {
    pub settings: Settings,
    pub plan: Plan,
    pub client: BackendClient,
    /// Source of request ids when the client sends no `X-Request-Id`.
    next_request_id: AtomicU64,
}

impl AppState {
    pub fn new(settings: Settings, plan: Plan) -> AppState {
        let client = BackendClient::new(settings.backend_read_retries, &settings.backend_tls);
        AppState {
            settings,
            plan,
            client,
            next_request_id: AtomicU64::new(1),
        }
    }

    fn request_id(&self) -> String {
        format!(
            "sb-{:x}-{}",
            std::process::id(),
            self.next_request_id.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Serves plain HTTP until `shutdown` completes, then lets in-flight
/// requests finish (up to [`SHUTDOWN_DEADLINE`]). Tests pass a listener
/// bound to port 0. See [`run_with`] for TLS.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_with(listener, state, None, shutdown).await
}

/// [`run`], terminating TLS with `tls` when given (see [`tls::TlsServer`]).
/// The handshake runs in the connection's own task, bounded by
/// [`tls::HANDSHAKE_TIMEOUT`]; a failed handshake closes that connection only.
pub async fn run_with(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<tls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = {
        let mut b = auto::Builder::new(TokioExecutor::new());
        b.http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .max_buf_size(64 * 1024);
        b
    };
    // Handshakes still under way when shutdown starts are abandoned (their
    // clients sent no request yet), so they do not hold shutdown up.
    let (stop_handshakes, handshakes_stopped) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(state, req, peer).await) }
                });
                let watcher = graceful.watcher();
                match &tls {
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                        tokio::spawn(finish(watcher.watch(conn)));
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let builder = builder.clone();
                        let mut stopped = handshakes_stopped.clone();
                        tokio::spawn(async move {
                            let stream = tokio::select! {
                                s = tls_handshake(&acceptor, stream, peer) => s,
                                _ = stopped.wait_for(|stop| *stop) => None,
                            };
                            let Some(stream) = stream else {
                                return;
                            };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                            finish(watcher.watch(conn)).await;
                        });
                    }
                }
            }
            _ = &mut shutdown => {
                info!("shutdown requested; finishing in-flight requests");
                break;
            }
        }
    }
    drop(listener);
    let _ = stop_handshakes.send(true);
    tokio::select! {
        _ = graceful.shutdown() => info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_DEADLINE) => warn!("shutdown deadline reached; closing remaining connections"),
    }
    Ok(())
}

async fn finish<E: std::fmt::Display>(conn: impl Future<Output = Result<(), E>>) {
    if let Err(e) = conn.await {
        debug!(error = %e, "connection ended with an error");
    }
}

/// Runs the server side of a TLS handshake; `None` (logged) when it fails
/// or takes longer than [`tls::HANDSHAKE_TIMEOUT`].
async fn tls_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &tls::TlsAcceptor,
    stream: S,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<S>> {
    match tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        // Port probes and TCP health checks close without a ClientHello.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            debug!(%peer, error = %e, "connection closed during the TLS handshake");
            None
        }
        Ok(Err(e)) => {
            info!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            info!(%peer, timeout_s = tls::HANDSHAKE_TIMEOUT.as_secs(), "TLS handshake timed out");
            None
        }
    }
}

pub type Resp = Response<Full<Bytes>>;

/// Logs, and renders errors; the routing itself is in `routes::handle_inner`.
async fn handle(state: Arc<AppState>, req: http::Request<Incoming>, peer: SocketAddr) -> Resp {
    let started = std::time::Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| state.request_id());
    let method = req.method().clone();
    let mut route = String::from("-");
    let result = tokio::time::timeout(
        state.settings.request_timeout,
        routes::handle_inner(&state, req, &request_id, &mut route),
    )
    .await
    .unwrap_or_else(|_| {
        Err(ScimError::new(
            StatusCode::GATEWAY_TIMEOUT,
            None,
            "the request took too long",
        ))
    });
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() {
                warn!(request_id, status = e.status.as_u16(), detail = %e.detail, "request failed");
            }
            error_response(&e)
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    info!(
        request_id,
        %peer,
        %method,
        route,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

pub const SCIM_JSON: &str = "application/scim+json";

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_JSON),
    );
    r
}

/// The one function that turns a [`ScimError`] into an HTTP answer.
pub fn error_response(e: &ScimError) -> Resp {
    let mut r = json_response(e.status, &e.body());
    if let Some(secs) = e.retry_after {
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if e.status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim-bridge\""),
        );
    }
    r
}
