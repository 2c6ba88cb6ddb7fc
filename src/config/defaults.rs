//! Documented defaults, in one place.

/// Loopback: a bridge is exposed on purpose, never by accident.
pub const LISTEN: &str = "127.0.0.1:8080";
/// The path Entra's tenant URL ends with.
pub const BASE_PATH: &str = "/scim/v2";
/// 1 MiB: far above any SCIM user or group PATCH Entra sends.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Whole-request deadline for one SCIM request (several backend calls).
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// How long a group membership PATCH may go on starting member calls
/// (independent of the request's deadline; past it, what was done is undone).
pub const MEMBERSHIP_DEADLINE_MS: u64 = 120_000;
/// Longest `server.membership_deadline_ms` accepted (one hour).
pub const MAX_MEMBERSHIP_DEADLINE_MS: u64 = 3_600_000;
/// How long a shutdown lets work in flight finish (below Kubernetes'
/// default 30 s grace period).
pub const SHUTDOWN_TIMEOUT_MS: u64 = 25_000;
/// `server.shutdown_timeout_ms` accepted: 1 s to one hour.
pub const SHUTDOWN_TIMEOUT_RANGE_MS: (u64, u64) = (1_000, 3_600_000);
/// One backend call.
pub const BACKEND_TIMEOUT_MS: u64 = 10_000;
/// Retries of idempotent backend reads on connect errors and 502/503/504.
pub const BACKEND_READ_RETRIES: u32 = 2;
/// SCIM `count` when the client sends none.
pub const DEFAULT_COUNT: usize = 100;
/// Largest SCIM `count` honoured (advertised as `filter.maxResults`).
pub const MAX_COUNT: usize = 1000;
/// Backend records a filter the backend cannot answer may scan before `400 tooMany`.
pub const SCAN_LIMIT: usize = 10_000;
/// Re-read-and-reapply attempts after a backend version conflict.
pub const CONFLICT_RETRIES: u32 = 5;
/// Values one request may give one multi-valued attribute (members, emails, …).
pub const MAX_VALUES_PER_ATTRIBUTE: usize = 10_000;
/// The demo's token (`cargo run --example demo` when `SCIM_BRIDGE_TOKEN` is
/// unset); refused everywhere else, see [`PUBLISHED_TOKENS`].
pub const DEMO_TOKEN: &str = "scim-demo-token";
/// Shortest bearer token accepted (`openssl rand -base64 32` gives 44).
pub const MIN_TOKEN_LEN: usize = 32;
/// Bearer tokens written in this repository (demo, docs, tests, examples):
/// anyone can read them, so `serve` refuses them unless
/// `auth.insecure_allow_weak_tokens` is set (the demo and the tests). Those
/// shorter than [`MIN_TOKEN_LEN`] are refused anyway; a unit test checks
/// that every longer token literal in the repository is listed here.
pub const PUBLISHED_TOKENS: &[&str] = &[
    DEMO_TOKEN,
    "test-token-0123456789",
    "bench-token-0123456789",
    "load-test-token-123",
    "a-long-enough-token",
    "Sup3r-Secret-token-0123456789-abcdefghij",
    "New-Rotated-token-0123456789-abcdefghijk",
    "fuzz-token-0123456789abcdefghijklmnopqrstuvwxyz",
];
/// How often `[tls]` certificate and key files are checked for changes
/// (0 turns polling off; SIGHUP still reloads).
pub const TLS_RELOAD_INTERVAL_MS: u64 = 1000;
/// Backend calls in flight at once, per backend (further calls queue).
pub const BACKEND_MAX_CONCURRENCY: usize = 32;
/// Backend calls started per second, per backend and per process (token
/// bucket; 0: no cap). Entra sends up to ~25 requests/s per tenant and a
/// PATCH costs two calls (read, write): 100 carries that with room to spare.
pub const BACKEND_MAX_RPS: u32 = 100;
/// How long a call may queue for a concurrency slot, a rate token or a
/// backend `Retry-After` pause before the SCIM client gets `503`/`429`.
pub const BACKEND_QUEUE_TIMEOUT_MS: u64 = 2000;
/// How often `/readyz`'s backend probe runs (0: no probe).
pub const BACKEND_PROBE_INTERVAL_MS: u64 = 5000;
/// Longest a kept-alive backend connection waits idle in the pool for its
/// next call. Below the 5 s keep-alive timeout of Apache httpd
/// (`KeepAliveTimeout`), Node.js and uvicorn, with a second to spare for the
/// moments between the server's last write and the bridge's read: a pooled
/// connection the server is closing at that moment makes a write fail with
/// `502` (it cannot be retried: the backend may have got it). Reconnecting
/// after 4 s idle costs one TCP (and TLS) handshake, nothing at these rates.
pub const BACKEND_POOL_IDLE_TIMEOUT_MS: u64 = 4000;
/// Slow-loris guard: a client must send a request's whole header block
/// within this time, or the connection is closed (no answer).
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Total size of a request's header names and values answered with a SCIM
/// `431`. Entra's requests carry well under 8 KiB, a JWT included. hyper's
/// own read buffer is twice this (beyond it hyper answers a bare `431`).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Header fields per request answered with a SCIM `431` beyond this;
/// hyper stops parsing at twice this (bare `431`).
pub const MAX_HEADERS: usize = 64;
/// Requests handled at once; beyond it `503` with `Retry-After: 1` at once
/// (health checks and `/metrics` exempt). Entra runs a handful in parallel.
pub const MAX_CONCURRENT_REQUESTS: usize = 256;
/// Nesting of `{`/`[` in a request body; deeper is `400 invalidSyntax`
/// before parsing (serde_json itself stops at 128). SCIM needs about 4.
pub const MAX_JSON_DEPTH: usize = 64;
/// After a `413`, up to this many times `server.max_body_bytes` of the rest
/// of the body is read and discarded, so the answer reaches a client that
/// is still sending instead of a connection reset.
pub const BODY_DRAIN_FACTOR: usize = 4;
/// …for at most this long.
pub const BODY_DRAIN_TIMEOUT_MS: u64 = 10_000;
/// `[auth.jwt]`: how often signing keys are re-read (Entra rotates its keys
/// every few weeks and publishes new ones well ahead).
pub const JWKS_REFRESH_S: u64 = 3600;
/// `[auth.jwt]`: an unknown `kid` re-reads the keys at most this often.
pub const JWKS_UNKNOWN_KID_INTERVAL_S: u64 = 60;
/// `[auth.jwt]`: clock skew allowed on `exp` and `nbf`.
pub const JWT_LEEWAY_S: u64 = 60;

// --- [auth.oauth] and [audit] ---
/// `[auth.oauth]`: lifetime of an issued access token (Entra accepts 60–360 minutes).
pub const OAUTH_TOKEN_TTL_S: u64 = 3600;
/// `[auth.oauth]`: failed client authentications allowed per client id and
/// per source address within `failure_window_s` before `429`.
pub const OAUTH_MAX_FAILURES: u32 = 5;
pub const OAUTH_FAILURE_WINDOW_S: u64 = 300;
/// `[auth.oauth]`: client ids and addresses tracked at once (oldest forgotten first).
pub const OAUTH_TRACKED_MAX: usize = 10_000;
/// `[audit]`: the file is rotated beyond this size.
pub const AUDIT_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// `[audit]`: rotated files kept (`audit.jsonl.1` … `.N`).
pub const AUDIT_MAX_FILES: usize = 5;

// --- connections ---
/// Connections open at once on the main listener; beyond it a new
/// connection is closed at once (existing ones are served). Entra uses a
/// handful; the systemd unit and the Kubernetes manifest allow 4096 files.
pub const MAX_CONNECTIONS: usize = 1024;
/// A new connection must deliver its first whole request head (after the
/// TLS handshake) within this time, or it is closed without an answer.
pub const FIRST_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// A connection (HTTP/1 keep-alive or HTTP/2) with no request in flight
/// for this long is closed (HTTP/2: after a GOAWAY).
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// HTTP/2 keep-alive: a PING this often; no answer within as long closes
/// the connection (0: no pings).
pub const HTTP2_KEEPALIVE_INTERVAL_MS: u64 = 20_000;
/// Connections from one address that have not yet made a request with a
/// valid token (`server.max_untrusted_connections_per_ip`): anyone can open
/// those, so one address may not hold more than a quarter of the default
/// cap. A connection counts until its first authenticated request (Entra
/// authenticates on its first); health probes without a token count.
/// Behind a proxy that terminates connections every client shares its
/// address: 0 there, and per-client limits at the proxy.
pub const MAX_UNTRUSTED_CONNECTIONS_PER_IP: usize = 256;
/// Connections open at once on the admin listener (`[metrics] listen`).
pub const ADMIN_MAX_CONNECTIONS: usize = 64;
