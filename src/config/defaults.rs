//! Documented defaults, in one place.

/// Loopback: a bridge is exposed on purpose, never by accident.
pub const LISTEN: &str = "127.0.0.1:8080";
/// The path Entra's tenant URL ends with.
pub const BASE_PATH: &str = "/scim/v2";
/// 1 MiB: far above any SCIM user or group PATCH Entra sends.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Whole-request deadline for one SCIM request (several backend calls).
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
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
/// Demo token, used only when `SCIM_BRIDGE_TOKEN` is unset.
pub const DEMO_TOKEN: &str = "scim-demo-token";
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
