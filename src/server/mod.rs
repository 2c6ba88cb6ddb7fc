//! The HTTP side: accept loop, graceful shutdown, bearer auth, body limits,
//! routing of SCIM paths to [`crate::service`], and rendering of answers.

mod admin;
mod audited;
mod auth;
mod body;
pub mod conn;
mod deadline;
mod front;
mod headers;
pub mod jwt;
pub mod oauth;
#[cfg(test)]
mod offload_tests;
mod probe;
mod reload;
pub mod router;
mod routes;
pub mod tenants;
pub mod tls;

use crate::config::stamp::Stamp;
pub use front::handle_request;
pub use probe::ProbeStatus;
use reload::loaded_stamps;
pub use reload::{ReloadStatus, WATCH_INTERVAL};

use crate::backend::BackendClient;
use crate::config::Settings;
use crate::mapping::Plan;
use crate::metrics::Metrics;
use crate::scim::error::ScimError;
use crate::service::WriteLocks;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// What one request runs on: settings, compiled plan and backend client.
/// A reload builds a new `Live` and swaps it in atomically; requests already
/// running keep the one they started with.
pub struct Live {
    pub settings: Settings,
    pub plan: Plan,
    pub client: BackendClient,
    /// `[auth.jwt]`: verifies JWT bearer tokens, caching the signing keys.
    pub jwt: Option<jwt::Verifier>,
    /// `[auth.oauth]`: issues and verifies the bridge's own access tokens.
    pub oauth: Option<oauth::Issuer>,
    /// The watched files as they were when this configuration was read.
    stamps: Vec<Stamp>,
}

impl Live {
    pub fn new(settings: Settings, plan: Plan) -> Live {
        let stamps = loaded_stamps(&settings);
        Self::with_stamps(settings, plan, stamps, None, None)
    }

    /// With a given backend client (`explain` uses a recording one).
    pub fn with_client(settings: Settings, plan: Plan, client: BackendClient) -> Live {
        let stamps = loaded_stamps(&settings);
        Live {
            jwt: settings.jwt.as_ref().map(jwt::Verifier::new),
            oauth: settings.oauth.as_ref().and_then(oauth::Issuer::new),
            settings,
            plan,
            client,
            stamps,
        }
    }

    /// `prev`: the state this one replaces on a reload, whose backend caps
    /// it carries on ([`BackendClient::succeeding`]).
    fn with_stamps(
        settings: Settings,
        plan: Plan,
        stamps: Vec<Stamp>,
        metrics: Option<Arc<Metrics>>,
        prev: Option<&Live>,
    ) -> Live {
        // The connection pool (and its warm connections) stays when nothing
        // it is built from changed: no TLS files of its own to read again,
        // the same pool size and idle timeout.
        let same_pool = |p: &&Live| {
            let (old, new) = (&p.settings, &settings);
            new.backend_tls == crate::config::BackendTlsSettings::default()
                && old.backend_tls == new.backend_tls
                && old.backend_limits.max_concurrency == new.backend_limits.max_concurrency
                && old.backend_limits.pool_idle_timeout == new.backend_limits.pool_idle_timeout
        };
        let mut client = match prev.filter(same_pool) {
            Some(p) => p
                .client
                .with_same_transport(settings.backend_read_retries, settings.backend_limits),
            None => BackendClient::new(
                settings.backend_read_retries,
                &settings.backend_tls,
                settings.backend_limits,
            ),
        };
        if let Some(prev) = prev {
            client = client.succeeding(&prev.client);
        }
        if let Some(m) = metrics {
            client = client.with_metrics(m);
        }
        if let Some(t) = &settings.tenant {
            client = client.with_tenant(t);
        }
        let jwt = settings
            .jwt
            .as_ref()
            .map(|cfg| match prev.and_then(|p| p.jwt.as_ref()) {
                Some(old) => jwt::Verifier::succeeding(cfg, old),
                None => jwt::Verifier::new(cfg),
            });
        let oauth = settings.oauth.as_ref().and_then(|cfg| {
            let issuer = oauth::Issuer::new(cfg)?;
            Some(
                match prev.and_then(|p| Some((p.oauth.as_ref()?, p.settings.oauth.as_ref()?))) {
                    Some((old, old_cfg)) => issuer.succeeding(old, old_cfg.clients == cfg.clients),
                    None => issuer,
                },
            )
        });
        Live {
            jwt,
            oauth,
            settings,
            plan,
            client,
            stamps,
        }
    }
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
    /// Work going on after its request ended (membership changes, audit
    /// lines of requests already gone): a shutdown waits for it. Shared by
    /// every tenant's state.
    pub ongoing: crate::service::Ongoing,
    /// `server.max_concurrent_requests` permits (sized at start; a change needs a restart).
    concurrency: Arc<crate::slots::Slots>,
    /// Token endpoint requests being answered (`[auth.oauth]`): a pool of
    /// their own, so that requests nobody has authenticated yet never hold
    /// the SCIM requests' permits.
    token_slots: Arc<oauth::TokenSlots>,
    /// The last result of the periodic backend probe (`/readyz`).
    pub probe: std::sync::Mutex<ProbeStatus>,
    /// `[auth.oauth]` failed client authentications (kept across reloads).
    pub oauth_limiter: oauth::Limiter,
    /// `[audit]` as configured at start (a change needs a restart).
    pub audit: Option<Arc<crate::audit::Sink>>,
    /// `[[tenants]]`: each tenant's own state ([`tenants`]).
    tenants: Vec<Arc<AppState>>,
    /// In a tenant's state: which tenant, and how it reloads.
    tenant: Option<Arc<tenants::TenantOf>>,
}

impl AppState {
    pub fn new(settings: Settings, plan: Plan) -> AppState {
        let metrics = Arc::new(Metrics::new());
        let stamps = loaded_stamps(&settings);
        let mut s = Self::from_live(Live::with_stamps(
            settings,
            plan,
            stamps,
            Some(metrics.clone()),
            None,
        ));
        s.metrics = metrics;
        if let Some(a) = &s.audit {
            s.metrics.audit_sink_failing.set(i64::from(a.failing()));
        }
        s
    }

    pub fn from_live(live: Live) -> AppState {
        let audit = live
            .settings
            .audit
            .clone()
            .map(|a| Arc::new(crate::audit::Sink::new(a)));
        AppState {
            token_slots: Default::default(),
            concurrency: Arc::new(crate::slots::Slots::new(
                live.settings.max_concurrent_requests,
            )),
            live: arc_swap::ArcSwap::from_pointee(live),
            metrics: Arc::new(Metrics::new()),
            env: None,
            reload_status: Default::default(),
            failed_stamps: Default::default(),
            write_locks: WriteLocks::default(),
            ongoing: Default::default(),
            probe: Default::default(),
            oauth_limiter: Default::default(),
            audit,
            tenants: Vec::new(),
            tenant: None,
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

    /// The client's `X-Request-Id` when it is one (1–128 visible ASCII
    /// characters), else a new one ([`Self::request_id`]).
    fn request_id_of<B>(&self, req: &http::Request<B>) -> String {
        req.headers()
            .get(crate::backend::X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_string)
            .unwrap_or_else(|| self.request_id())
    }

    /// `resp` with the `X-Request-Id` header `id` ([`Self::request_id_of`]
    /// allows only header-safe text, so it always fits).
    fn tag_request_id(resp: &mut Resp, id: &str) {
        if let Ok(v) = HeaderValue::from_str(id) {
            resp.headers_mut().insert(crate::backend::X_REQUEST_ID, v);
        }
    }

    /// `sb-<8 hex>-<16 hex>`: a random prefix chosen once per process and
    /// the request's number put through a keyed permutation
    /// ([`RequestIds`]): unique within the process (a permutation of a
    /// counter), unique across replicas with near certainty (the prefix),
    /// and telling neither the process id nor how many requests came before.
    fn request_id(&self) -> String {
        RequestIds::get().id(request_number())
    }
}

/// How many request numbers a thread takes from [`NEXT_REQUEST`] at once.
const REQUEST_NUMBERS: u64 = 1024;

/// The next request number not handed to a thread yet, shared by every
/// state of the process (a tenant's too): numbers, and so ids, are unique
/// in the process.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// A number no other request of this process gets. Each thread takes
/// [`REQUEST_NUMBERS`] at a time from [`NEXT_REQUEST`], so that the two
/// worker threads do not both write that counter on every request.
fn request_number() -> u64 {
    thread_local! {
        /// This thread's block: the next number, and the end of the block.
        static BLOCK: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
    }
    BLOCK.with(|b| {
        let (mut next, mut end) = b.get();
        if next == end {
            next = NEXT_REQUEST.fetch_add(REQUEST_NUMBERS, Ordering::Relaxed);
            end = next + REQUEST_NUMBERS;
        }
        b.set((next + 1, end));
        next
    })
}

/// The per-process secrets behind generated request ids: a random prefix,
/// and the key of a 4-round Feistel permutation of 64-bit numbers whose
/// round function is SipHash-1-3 of (round, half) under a random 128-bit key
/// (drawn from std's `RandomState`, seeded from the operating system).
/// Without the keys, two ids say nothing about how far apart their requests
/// were; the permutation keeps distinct numbers distinct. SipHash is written
/// out for one 8-byte word ([`sip13`]): through `Hasher` it cost four times
/// as much, about 700 instructions per request.
struct RequestIds {
    /// `sb-<8 hex>-`.
    prefix: String,
    key: (u64, u64),
}

impl RequestIds {
    fn get() -> &'static RequestIds {
        static IDS: std::sync::OnceLock<RequestIds> = std::sync::OnceLock::new();
        IDS.get_or_init(RequestIds::new)
    }

    fn new() -> RequestIds {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        let random = RandomState::new();
        let key = (random.hash_one(1u8), random.hash_one(2u8));
        // Its own key: the prefix reveals nothing of the permutation's.
        let prefix = RandomState::new().hash_one(0u8) as u32;
        let mut p = String::from("sb-");
        push_hex(&mut p, u64::from(prefix), 8);
        p.push('-');
        RequestIds { prefix: p, key }
    }

    /// A permutation of the 64-bit numbers (a balanced Feistel network).
    fn permute(&self, n: u64) -> u64 {
        let (mut l, mut r) = ((n >> 32) as u32, n as u32);
        for round in 0u64..4 {
            let f = sip13(self.key, (round << 32) | u64::from(r)) as u32;
            (l, r) = (r, l ^ f);
        }
        (u64::from(l) << 32) | u64::from(r)
    }

    fn id(&self, n: u64) -> String {
        let mut id = String::with_capacity(self.prefix.len() + 16);
        id.push_str(&self.prefix);
        push_hex(&mut id, self.permute(n), 16);
        id
    }
}

/// SipHash-1-3 (Aumasson and Bernstein; the variant std's `HashMap` uses)
/// of the 8-byte message `m` (little-endian) under `key`.
fn sip13(key: (u64, u64), m: u64) -> u64 {
    siphash(key, m, 1, 3)
}

/// SipHash-c-d of one 8-byte message.
fn siphash(key: (u64, u64), m: u64, c: usize, d: usize) -> u64 {
    let mut v = [
        key.0 ^ 0x736f_6d65_7073_6575,
        key.1 ^ 0x646f_7261_6e64_6f6d,
        key.0 ^ 0x6c79_6765_6e65_7261,
        key.1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    // The message word, then the last block: the length (8) in the top
    // byte and no bytes left over.
    for block in [m, 8u64 << 56] {
        v[3] ^= block;
        for _ in 0..c {
            round(&mut v);
        }
        v[0] ^= block;
    }
    v[2] ^= 0xff;
    for _ in 0..d {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// `v`'s lowest `digits` hex digits, zero-padded, lower case.
fn push_hex(s: &mut String, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let digits = digits.min(16) as usize;
    for (i, b) in buf[..digits].iter_mut().enumerate() {
        *b = HEX[((v >> (4 * (digits - 1 - i))) & 0xf) as usize];
    }
    s.push_str(std::str::from_utf8(&buf[..digits]).unwrap_or_default());
}

/// Serves plain HTTP until `shutdown` completes, then lets in-flight
/// requests finish (up to `server.shutdown_timeout_ms`). Tests pass a listener
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
/// [`tls::HANDSHAKE_TIMEOUT`] and the first-request deadline; a failed
/// handshake closes that connection only. Connections beyond
/// `server.max_connections` are closed at once; see [`conn`] for the
/// deadlines every connection lives under.
pub async fn run_with(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<tls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (builder, limits) = {
        let live = state.live();
        (
            Arc::new(conn::builder(&live.settings)),
            live.settings.connections,
        )
    };
    let cap = conn::Cap::new("main", limits.max_connections)
        .with_metrics(&state.metrics)
        .with_untrusted_per_ip(limits.max_untrusted_per_ip);
    // Connections and handshakes still under way see the shutdown's
    // deadline when it starts: handshakes are abandoned (their clients sent
    // no request yet), connections finish their in-flight requests by then.
    let (stop_tx, stop) = tokio::sync::watch::channel(None);
    tokio::pin!(shutdown);
    let watcher = tokio::spawn(reload::watch_config(state.clone()));
    // With tenants the process's own state serves no SCIM: each tenant
    // watches and probes on its own.
    let prober = state
        .tenants
        .is_empty()
        .then(|| tokio::spawn(probe::probe_backend(state.clone())));
    let tenant_tasks = tenants::spawn_tasks(&state);
    let admin_addr = {
        let live = state.live();
        live.settings
            .metrics_listen
            .filter(|_| live.settings.metrics_enabled)
    };
    // Before the admin listener's line, so that whoever waits for the
    // listeners to be logged also sees this warning.
    let admin_conns = if admin_addr.is_some() {
        crate::config::defaults::ADMIN_MAX_CONNECTIONS
    } else {
        0
    };
    conn::check_file_limit(limits.max_connections + admin_conns);
    let admin = match admin_addr {
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            info!(addr = %l.local_addr()?, "admin listener (metrics, health, readiness)");
            Some(tokio::spawn(admin::serve_admin(
                l,
                state.clone(),
                stop.clone(),
            )))
        }
        _ => None,
    };
    loop {
        tokio::select! {
            (stream, peer) = conn::accept_with_backoff("main", || listener.accept()) => {
                let opened = tokio::time::Instant::now();
                let Some(slot) = cap.admit(peer) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = front::ConnState::new(state.clone());
                // Until a request authenticates, each carries the handle that
                // stops the connection counting against its address.
                let untrusted = slot.untrusted();
                let handler = move |mut req: http::Request<hyper::body::Incoming>| {
                    if let Some(u) = untrusted.as_ref().filter(|u| !u.is_trusted()) {
                        req.extensions_mut().insert(conn::ConnTrust(u.clone()));
                    }
                    front::handle(state.clone(), req, peer)
                };
                let builder = builder.clone();
                let mut stopped = stop.clone();
                let stop = stop.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    match tls {
                        None => conn::serve(&builder, stream, peer, opened, limits, stop, handler).await,
                        Some(acceptor) => {
                            let deadline = opened + tls::HANDSHAKE_TIMEOUT.min(limits.first_request_timeout);
                            let stream = tokio::select! {
                                s = tls_handshake(&acceptor, stream, peer, deadline) => s,
                                _ = stopped.wait_for(Option::is_some) => None,
                            };
                            let Some(stream) = stream else {
                                return;
                            };
                            conn::serve(&builder, stream, peer, opened, limits, stop, handler).await;
                        }
                    }
                });
            }
            _ = &mut shutdown => {
                info!("shutdown requested; finishing in-flight requests");
                break;
            }
        }
    }
    drop(listener);
    watcher.abort();
    for t in prober.into_iter().chain(tenant_tasks) {
        t.abort();
    }
    if let Some(a) = admin {
        a.abort();
    }
    let timeout = state.live().settings.shutdown_timeout;
    let now = tokio::time::Instant::now();
    let deadline = now + timeout;
    let _ = stop_tx.send(Some(deadline));
    // Membership changes still going on at 60 % of the timeout start no
    // further member call, give up calls still without an answer at
    // 77.5 %, and undo the ones made by 95 % (see `service::membership`):
    // stopping the runtime would otherwise cut them off part-way, with
    // nothing said. The rest is for their log lines.
    let wind_down = {
        let ongoing = state.ongoing.clone();
        let (from, by) = (now + timeout.mul_f64(0.6), now + timeout.mul_f64(0.95));
        tokio::spawn(async move {
            tokio::time::sleep_until(from).await;
            if !ongoing.is_empty() {
                warn!(
                    ongoing = ongoing.len(),
                    "shutdown deadline near: membership changes still going on are stopped and undone"
                );
            }
            ongoing.wind_down(by);
        })
    };
    if cap.drained(deadline).await {
        info!("all connections closed");
    } else {
        warn!("shutdown deadline reached; closing remaining connections");
    }
    // Membership changes whose client left, and audit lines still being
    // written: stopping the runtime would cut them off part-way.
    let ongoing = state.ongoing.len();
    if ongoing > 0 {
        info!(
            ongoing,
            "waiting for membership changes and audit lines still going on"
        );
    }
    if !state.ongoing.settled(deadline).await {
        warn!(
            ongoing = state.ongoing.len(),
            "shutdown deadline reached; work still going on is cut off"
        );
    }
    wind_down.abort();
    Ok(())
}

/// Runs the server side of a TLS handshake; `None` (logged) when it fails
/// or is not done by `deadline`.
async fn tls_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &tls::TlsAcceptor,
    stream: S,
    peer: SocketAddr,
    deadline: tokio::time::Instant,
) -> Option<tokio_rustls::server::TlsStream<S>> {
    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
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
            info!(%peer, "TLS handshake timed out");
            None
        }
    }
}

pub type Resp = Response<Full<Bytes>>;

pub const SCIM_JSON: &str = "application/scim+json";

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Resp {
    // One buffer sized for a typical resource: no regrowth while writing it.
    let mut bytes = Vec::with_capacity(1024);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes.clear();
    }
    json_bytes(status, bytes)
}

/// A SCIM answer whose body is JSON already written.
pub fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_JSON),
    );
    r
}

/// The answer to a HEAD: the GET's status and headers, its length in
/// `Content-Length`, no body.
pub(crate) fn without_body(resp: &mut Resp) {
    use hyper::body::Body as _;
    let len = resp.body().size_hint().exact().unwrap_or(0);
    *resp.body_mut() = http_body_util::Full::new(Bytes::new());
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
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
    if let Some(allow) = e.allow {
        r.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    }
    if e.status == StatusCode::PAYLOAD_TOO_LARGE || e.status == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body is discarded, not read: do not reuse the connection.
        r.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

#[cfg(test)]
mod request_id_tests {
    use super::RequestIds;
    use std::collections::HashSet;

    /// Request numbers are distinct across threads and within each, and
    /// a thread's come in order.
    #[test]
    fn request_numbers_are_unique_across_threads() {
        let per_thread: Vec<Vec<u64>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..3000).map(|_| super::request_number()).collect()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<u64> = per_thread.concat();
        for t in &per_thread {
            assert!(t.windows(2).all(|w| w[0] < w[1]));
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all[0] >= 1);
    }

    /// The SipHash written out for request ids is SipHash: with 2 and 4
    /// rounds it gives std's (deprecated, but still SipHash-2-4) `SipHasher`.
    #[test]
    #[allow(deprecated)]
    fn siphash_matches_std() {
        use std::hash::Hasher;
        for (k0, k1, m) in [
            (0, 0, 0),
            (
                0x0706_0504_0302_0100,
                0x0f0e_0d0c_0b0a_0908,
                0x0706_0504_0302_0100,
            ),
            (u64::MAX, 1, 3 << 32),
            (0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321, u64::MAX),
        ] {
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            h.write(&m.to_le_bytes());
            assert_eq!(super::siphash((k0, k1), m, 2, 4), h.finish());
        }
    }

    /// Generated ids tell neither the process id nor the request count:
    /// consecutive requests get unrelated ids (not `sb-<pid>-<n>`,
    /// `<n+1>`), and they stay distinct.
    #[test]
    fn generated_request_ids_reveal_neither_pid_nor_count() {
        let ids = RequestIds::get();
        let pid = format!("-{:x}-", std::process::id());
        let all: Vec<String> = (1..=20_000u64).map(|n| ids.id(n)).collect();
        let distinct: HashSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        let suffix = |id: &str| u64::from_str_radix(&id[12..], 16).unwrap();
        let mut near = 0;
        for w in all.windows(2) {
            assert!(w[0].starts_with("sb-") && w[0].len() == 28, "{}", w[0]);
            assert_eq!(w[0][..12], w[1][..12], "one prefix per process");
            assert!(!w[0].starts_with(&format!("sb{pid}")), "{}", w[0]);
            if suffix(&w[0]).abs_diff(suffix(&w[1])) < 1 << 40 {
                near += 1;
            }
        }
        // Unrelated 64-bit numbers are that close about once in 2^23 pairs.
        assert!(near <= 2, "{near} consecutive ids are numerically close");
        // A permutation: distinct inputs never collide, whatever their bits.
        let edge = [0, 1, u64::MAX, 1 << 32, (1 << 32) + 1, u64::MAX - 1];
        let out: HashSet<u64> = edge.iter().map(|&n| ids.permute(n)).collect();
        assert_eq!(out.len(), edge.len());
    }
}
