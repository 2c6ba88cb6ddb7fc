//! The HTTP side: accept loop, graceful shutdown, bearer auth, body limits,
//! routing of SCIM paths to [`crate::service`], and rendering of answers.

pub mod jwt;
mod routes;
pub mod tls;

use crate::backend::BackendClient;
use crate::config::Settings;
use crate::mapping::Plan;
use crate::metrics::Metrics;
use crate::scim::error::ScimError;
use crate::service::WriteLocks;
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

/// What one request runs on: settings, compiled plan and backend client.
/// A reload builds a new `Live` and swaps it in atomically; requests already
/// running keep the one they started with.
pub struct Live {
    pub settings: Settings,
    pub plan: Plan,
    pub client: BackendClient,
    /// `[auth.jwt]`: verifies JWT bearer tokens, caching the signing keys.
    pub jwt: Option<jwt::Verifier>,
    /// The watched files as they were when this configuration was read.
    stamps: Vec<Stamp>,
}

impl Live {
    pub fn new(settings: Settings, plan: Plan) -> Live {
        let stamps = stamps(&watched_files(&settings));
        Self::with_stamps(settings, plan, stamps, None)
    }

    /// With a given backend client (`explain` uses a recording one).
    pub fn with_client(settings: Settings, plan: Plan, client: BackendClient) -> Live {
        let stamps = stamps(&watched_files(&settings));
        Live {
            jwt: settings.jwt.as_ref().map(jwt::Verifier::new),
            settings,
            plan,
            client,
            stamps,
        }
    }

    fn with_stamps(
        settings: Settings,
        plan: Plan,
        stamps: Vec<Stamp>,
        metrics: Option<Arc<Metrics>>,
    ) -> Live {
        let mut client = BackendClient::new(settings.backend_read_retries, &settings.backend_tls)
            .with_limits(settings.backend_limits);
        if let Some(m) = metrics {
            client = client.with_metrics(m);
        }
        Live {
            jwt: settings.jwt.as_ref().map(jwt::Verifier::new),
            settings,
            plan,
            client,
            stamps,
        }
    }
}

fn watched_files(settings: &Settings) -> Vec<std::path::PathBuf> {
    let mut f = vec![settings.file.clone()];
    f.extend(settings.mappings.iter().cloned());
    f
}

fn stamps(paths: &[std::path::PathBuf]) -> Vec<Stamp> {
    paths.iter().map(|p| stamp(p)).collect()
}

/// The outcome of the last reload attempt (shown by `/readyz`).
#[derive(Debug, Default, Clone)]
pub struct ReloadStatus {
    pub reloads: u64,
    pub failures: u64,
    /// Errors of the last failed reload, cleared by a successful one.
    pub last_error: Option<String>,
}

/// Everything a request needs; shared by all connections.
pub struct AppState {
    live: arc_swap::ArcSwap<Live>,
    pub metrics: Arc<Metrics>,
    /// Where `${VAR}`s and overrides come from on reload (`None`: the process environment).
    env: crate::config::EnvMap,
    pub reload_status: std::sync::Mutex<ReloadStatus>,
    /// Stamps of files whose reload failed (not retried until they change again).
    failed_stamps: std::sync::Mutex<Option<Vec<Stamp>>>,
    /// Serializes PATCH/PUT of one resource (see [`WriteLocks`]).
    pub write_locks: WriteLocks,
    /// Source of request ids when the client sends no `X-Request-Id`.
    next_request_id: AtomicU64,
    /// `server.max_concurrent_requests` permits (sized at start; a change needs a restart).
    concurrency: tokio::sync::Semaphore,
    /// The last result of the periodic backend probe (`/readyz`).
    pub probe: std::sync::Mutex<ProbeStatus>,
}

/// What the last backend probe found.
#[derive(Debug, Clone, Default)]
pub enum ProbeStatus {
    /// No probe has finished yet.
    #[default]
    Pending,
    Ok,
    /// A short reason, without secrets (a SCIM error detail).
    Failed(String),
}

impl AppState {
    pub fn new(settings: Settings, plan: Plan) -> AppState {
        let metrics = Arc::new(Metrics::new());
        let stamps = stamps(&watched_files(&settings));
        let mut s = Self::from_live(Live::with_stamps(
            settings,
            plan,
            stamps,
            Some(metrics.clone()),
        ));
        s.metrics = metrics;
        s
    }

    pub fn from_live(live: Live) -> AppState {
        AppState {
            concurrency: tokio::sync::Semaphore::new(live.settings.max_concurrent_requests),
            live: arc_swap::ArcSwap::from_pointee(live),
            metrics: Arc::new(Metrics::new()),
            env: None,
            reload_status: Default::default(),
            failed_stamps: Default::default(),
            write_locks: WriteLocks::default(),
            next_request_id: AtomicU64::new(1),
            probe: Default::default(),
        }
    }

    /// Reloads will read `${VAR}`s from this map instead of the process environment (tests).
    pub fn with_env(mut self, env: crate::config::EnvMap) -> AppState {
        self.env = env;
        self
    }

    /// The current settings and plan.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Re-reads the settings file and every mapping; swaps them in only when
    /// everything compiles. On error the running plan stays and every error is
    /// logged and kept for `/readyz`.
    pub fn reload(&self) -> Result<(), String> {
        let current = self.live();
        // Stamped before reading, so a write during the load triggers another reload.
        let before = stamps(&watched_files(&current.settings));
        let result = crate::load::load(&current.settings.file, self.env.clone());
        let mut status = self.reload_status.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((mut settings, plan)) => {
                if settings.listen != current.settings.listen {
                    warn!(old = %current.settings.listen, new = %settings.listen, "server.listen changes need a restart; keeping the current address");
                    settings.listen = current.settings.listen;
                }
                let now = stamps(&watched_files(&settings));
                let stamps = if now.len() == before.len() {
                    before
                } else {
                    now
                };
                self.live.store(Arc::new(Live::with_stamps(
                    settings,
                    plan,
                    stamps,
                    Some(self.metrics.clone()),
                )));
                self.metrics.record_reload(true);
                status.reloads += 1;
                status.last_error = None;
                *self.failed_stamps.lock().unwrap_or_else(|p| p.into_inner()) = None;
                info!(
                    resource_types = self.live().plan.resources.len(),
                    "configuration reloaded"
                );
                Ok(())
            }
            Err(e) => {
                let text = e.to_string();
                // Remember what was read so the same broken files are not retried every tick.
                *self.failed_stamps.lock().unwrap_or_else(|p| p.into_inner()) = Some(before);
                status.failures += 1;
                self.metrics.record_reload(false);
                status.last_error = Some(text.clone());
                for line in text.lines() {
                    tracing::error!(
                        error = line,
                        "reload failed; keeping the running configuration"
                    );
                }
                Err(text)
            }
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
        // Header limits: `routes` answers a SCIM 431 beyond the configured
        // ones; hyper's hard limits, twice as large, answer a bare 431 (or
        // close an HTTP/2 stream). Changes need a restart.
        let s = &state.live().settings;
        let mut b = auto::Builder::new(TokioExecutor::new());
        b.http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(s.header_read_timeout)
            .max_buf_size((2 * s.max_header_bytes).max(8192))
            .max_headers(2 * s.max_headers);
        b.http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .max_header_list_size(u32::try_from(2 * s.max_header_bytes).unwrap_or(u32::MAX));
        b
    };
    // Handshakes still under way when shutdown starts are abandoned (their
    // clients sent no request yet), so they do not hold shutdown up.
    let (stop_handshakes, handshakes_stopped) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    let watcher = tokio::spawn(watch_config(state.clone()));
    let prober = tokio::spawn(probe_backend(state.clone()));
    let admin = match state.live().settings.metrics_listen {
        Some(addr) if state.live().settings.metrics_enabled => {
            let l = TcpListener::bind(addr).await?;
            info!(%addr, "metrics listener");
            Some(tokio::spawn(serve_admin(l, state.clone())))
        }
        _ => None,
    };
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
    watcher.abort();
    prober.abort();
    if let Some(a) = admin {
        a.abort();
    }
    let _ = stop_handshakes.send(true);
    tokio::select! {
        _ = graceful.shutdown() => info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_DEADLINE) => warn!("shutdown deadline reached; closing remaining connections"),
    }
    Ok(())
}

/// How often the settings and mapping files are checked for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

type Stamp = Option<(std::time::SystemTime, u64, u64)>;

/// A file's identity and content stamp: an in-place write changes the mtime
/// or size, an editor's rename-over changes the inode.
fn stamp(path: &std::path::Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

/// Polls the settings and mapping files and reloads on change; SIGHUP reloads too.
async fn watch_config(state: Arc<AppState>) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hup_fired = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fired = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = tokio::time::sleep(WATCH_INTERVAL) => false,
            _ = hup_fired => true,
        };
        let live = state.live();
        let now = stamps(&watched_files(&live.settings));
        let failed = state
            .failed_stamps
            .lock()
            .map(|f| f.clone())
            .unwrap_or(None);
        let changed = now != live.stamps && failed.as_ref() != Some(&now);
        if forced || changed {
            if forced {
                info!("SIGHUP: reloading configuration");
            }
            // Let an editor finish writing before reading.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = state.reload();
        }
    }
}

/// Every `backend.probe_interval_ms`, calls the first resource type's list
/// operation for one item, authenticated like any request, and keeps the
/// outcome for `/readyz` (which never waits for a probe).
async fn probe_backend(state: Arc<AppState>) {
    loop {
        let live = state.live();
        let Some(interval) = live.settings.backend_probe_interval else {
            // Probing is off (`probe_interval_ms = 0`); a reload may turn it on.
            *state.probe.lock().unwrap_or_else(|p| p.into_inner()) = ProbeStatus::Pending;
            drop(live);
            tokio::time::sleep(WATCH_INTERVAL).await;
            continue;
        };
        let outcome = match live.plan.resources.first() {
            None => ProbeStatus::Failed("no resource types are mapped".into()),
            Some(res) => {
                let ctx = crate::service::ResourceCtx {
                    res,
                    plan: &live.plan,
                    client: &live.client,
                    write_locks: &state.write_locks,
                    settings: &live.settings,
                    base_url: "",
                    request_id: Some("readyz-probe"),
                };
                match ctx.probe().await {
                    Ok(()) => ProbeStatus::Ok,
                    Err(e) => ProbeStatus::Failed(e.detail.chars().take(200).collect()),
                }
            }
        };
        match &outcome {
            ProbeStatus::Failed(reason) => {
                let was_ok = matches!(
                    *state.probe.lock().unwrap_or_else(|p| p.into_inner()),
                    ProbeStatus::Ok | ProbeStatus::Pending
                );
                if was_ok {
                    warn!(reason = %reason, "backend probe failed; /readyz answers 503");
                }
            }
            ProbeStatus::Ok => {
                let was_failing = matches!(
                    *state.probe.lock().unwrap_or_else(|p| p.into_inner()),
                    ProbeStatus::Failed(_)
                );
                if was_failing {
                    info!("backend probe succeeded again; /readyz answers 200");
                } else {
                    debug!("backend probe succeeded");
                }
            }
            ProbeStatus::Pending => {}
        }
        *state.probe.lock().unwrap_or_else(|p| p.into_inner()) = outcome;
        drop(live);
        tokio::time::sleep(interval).await;
    }
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

/// The separate admin listener: `/metrics` and the health checks only.
async fn serve_admin(listener: TcpListener, state: Arc<AppState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<Incoming>| {
                let state = state.clone();
                async move {
                    let r = match req.uri().path() {
                        "/metrics" => {
                            let mut r =
                                Response::new(Full::new(Bytes::from(state.metrics.encode())));
                            r.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                HeaderValue::from_static(
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                ),
                            );
                            r
                        }
                        "/healthz" => {
                            json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
                        }
                        _ => error_response(&ScimError::not_found("not found")),
                    };
                    Ok::<_, std::convert::Infallible>(r)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

pub type Resp = Response<Full<Bytes>>;

/// Logs, and renders errors; the routing itself is in `routes::handle_inner`.
async fn handle(state: Arc<AppState>, req: http::Request<Incoming>, peer: SocketAddr) -> Resp {
    handle_logged(&state, req, Some(peer)).await
}

/// Serves one request without a connection (used by `explain`).
pub async fn handle_request<B>(state: &AppState, req: http::Request<B>) -> Resp
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    handle_logged(state, req, None).await
}

async fn handle_logged<B>(state: &AppState, req: http::Request<B>, peer: Option<SocketAddr>) -> Resp
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
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
    state.metrics.in_flight.inc();
    let live = state.live();
    let stats = Arc::new(crate::backend::CallStats::default());
    let result = crate::backend::CALL_STATS
        .scope(
            stats.clone(),
            tokio::time::timeout(
                live.settings.request_timeout,
                routes::handle_inner(state, &live, req, &request_id, &mut route),
            ),
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
    state.metrics.in_flight.dec();
    let (resource, operation) = crate::metrics::request_labels(&method, &route);
    if resource != "admin" {
        state.metrics.record_request(
            &resource,
            operation,
            resp.status().as_u16(),
            started.elapsed(),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let (backend_calls, backend_ms) = stats.snapshot();
    info!(
        request_id,
        peer = %peer.map(|p| p.to_string()).unwrap_or_default(),
        %method,
        route,
        resource_type = %resource,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        backend_calls,
        backend_ms,
        "request"
    );
    resp
}

/// `/readyz`: from the last backend probe, never waiting for one.
fn readyz(state: &AppState, live: &Live) -> Resp {
    let st = state
        .reload_status
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let probe = state.probe.lock().map(|p| p.clone()).unwrap_or_default();
    let mut body = serde_json::json!({
        "status": "ready",
        "resourceTypes": live.plan.resources.len(),
        "reloads": st.reloads,
        "reloadFailures": st.failures,
        "lastReloadError": st.last_error,
    });
    let reason = match probe {
        _ if live.settings.backend_probe_interval.is_none() => {
            body["backend"] = "not probed (backend.probe_interval_ms = 0)".into();
            None
        }
        ProbeStatus::Ok => {
            body["backend"] = "ok".into();
            None
        }
        ProbeStatus::Pending => Some("not probed yet".to_string()),
        ProbeStatus::Failed(r) => Some(r),
    };
    let reason = reason.or_else(|| {
        live.plan
            .resources
            .is_empty()
            .then(|| "no resource types are mapped".to_string())
    });
    match reason {
        None => json_response(StatusCode::OK, &body),
        Some(r) => {
            body["status"] = "not ready".into();
            body["backend"] = r.into();
            json_response(StatusCode::SERVICE_UNAVAILABLE, &body)
        }
    }
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
            match e.bearer_error {
                Some("invalid_token") => HeaderValue::from_static(
                    "Bearer realm=\"scim-bridge\", error=\"invalid_token\"",
                ),
                _ => HeaderValue::from_static("Bearer realm=\"scim-bridge\""),
            },
        );
    }
    if e.status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body is discarded, not read: do not reuse the connection.
        r.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}
