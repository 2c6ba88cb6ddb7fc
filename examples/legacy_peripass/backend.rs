//! The example "legacy Peripass" REST backend.
//!
//! An in-memory implementation of the legacy Peripass user API (v1) exactly
//! as described in `legacy-peripass-api.md`, plus the test-only extras the
//! contract allows (seeding and fault injection). It is deliberately
//! un-SCIM-like and strict: the SCIM bridge in front of it must adapt.
//!
//! This file is self-contained (std + the crates of the project only) so it
//! can be used both as the `legacy_peripass` example and, through
//! `#[path = ...] mod backend;`, from integration tests.
//!
//! Order of processing for every request:
//! 1. the request (method, raw path and query, headers, body) is recorded;
//! 2. fault injection (`max_rps`, `fail_rate`, `rate_limit_rate`, and the
//!    test-only [`Running::fail_nth`] rules);
//! 3. authentication (`X-Api-Key`);
//! 4. body size (over 10 MiB: `413`);
//! 5. routing (`404 NOT_FOUND` for unknown routes, `405` for a known route
//!    with another method and for PATCH anywhere), path ids (`404` when not in
//!    canonical form), `415` content type, `422` malformed JSON / duplicate
//!    keys, `404` unknown resource, `422` field validation, `409` version
//!    conflict, `409` login/name taken;
//! 6. the answer is delayed by `latency_ms` (if any) and sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::request::Parts;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use percent_encoding::percent_decode_str;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// Largest request body accepted; larger ones are answered `413`.
#[allow(dead_code)]
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Command-line usage of the example binary.
#[allow(dead_code)]
pub const USAGE: &str = "\
usage: legacy-peripass [FLAGS]

An in-memory example of the legacy Peripass user API (v1).

flags:
  --listen HOST:PORT        address to listen on (default 127.0.0.1:0; \":0\" picks a free port)
  --api-key KEY             the key clients must send in X-Api-Key (default peripass-demo-key)
  --seed-users N            create N users at start (user1@example.com, ...)
  --seed-teams N            create N teams at start (Team 1 / T-0001, ...)
  --seed-team-members N     put the first N seeded users in the first seeded team
  --latency-ms N            delay every answer by N milliseconds
  --fail-rate F             answer this fraction (0..1) of requests 503 with Retry-After
  --rate-limit-rate F       answer this fraction (0..1) of requests 429 RATE_LIMITED with Retry-After
  --max-rps N               answer 429 with Retry-After beyond N requests per second
  --retry-after N           the Retry-After (seconds) of those answers (default 1)
  --help                    print this help
";

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// How the backend is started (the command-line flags of the example).
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to listen on, `HOST:PORT` (default `127.0.0.1:0`).
    pub listen: String,
    /// The key clients must send in `X-Api-Key`.
    pub api_key: String,
    /// Users created at start (`user1@example.com`, ids 1..=N).
    pub seed_users: usize,
    /// Teams created at start (`Team 1` / `T-0001`, ...).
    pub seed_teams: usize,
    /// The first N seeded users are members of the first seeded team.
    pub seed_team_members: usize,
    /// Delay every answer by this many milliseconds.
    pub latency_ms: u64,
    /// Fraction (0..=1) of requests answered `503` with `Retry-After`.
    pub fail_rate: f64,
    /// Fraction (0..=1) of requests answered `429 RATE_LIMITED` with `Retry-After`.
    pub rate_limit_rate: f64,
    /// Requests beyond this many in the current second are answered `429`.
    pub max_rps: Option<u32>,
    /// The `Retry-After` (seconds) of every injected `429`/`503` (default 1).
    pub retry_after_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: "127.0.0.1:0".to_string(),
            api_key: "peripass-demo-key".to_string(),
            seed_users: 0,
            seed_teams: 0,
            seed_team_members: 0,
            latency_ms: 0,
            fail_rate: 0.0,
            rate_limit_rate: 0.0,
            max_rps: None,
            retry_after_secs: 1,
        }
    }
}

#[allow(dead_code)]
impl Options {
    /// Parses command-line flags (without the program name). Both
    /// `--flag VALUE` and `--flag=VALUE` are accepted. `--help` yields
    /// `Err(USAGE)`; callers wanting a zero exit status for `--help` check for
    /// it first.
    pub fn from_args(args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut opts = Options::default();
        let mut args = args;
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Err(USAGE.to_string());
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            const FLAGS: [&str; 10] = [
                "--listen",
                "--api-key",
                "--seed-users",
                "--seed-teams",
                "--seed-team-members",
                "--latency-ms",
                "--fail-rate",
                "--rate-limit-rate",
                "--max-rps",
                "--retry-after",
            ];
            if !FLAGS.contains(&flag.as_str()) {
                return Err(if arg.starts_with('-') {
                    format!("unknown flag `{arg}`")
                } else {
                    format!("unexpected argument `{arg}`")
                });
            }
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| format!("flag `{flag}` needs a value"))?,
            };
            match flag.as_str() {
                "--listen" => opts.listen = parse_listen(&value)?,
                "--api-key" => {
                    if value.is_empty() {
                        return Err("--api-key must not be empty".to_string());
                    }
                    opts.api_key = value;
                }
                "--seed-users" => opts.seed_users = parse_flag_num(&flag, &value)?,
                "--seed-teams" => opts.seed_teams = parse_flag_num(&flag, &value)?,
                "--seed-team-members" => opts.seed_team_members = parse_flag_num(&flag, &value)?,
                "--latency-ms" => opts.latency_ms = parse_flag_num(&flag, &value)?,
                "--fail-rate" => opts.fail_rate = parse_fraction(&flag, &value)?,
                "--rate-limit-rate" => opts.rate_limit_rate = parse_fraction(&flag, &value)?,
                "--retry-after" => opts.retry_after_secs = parse_flag_num(&flag, &value)?,
                "--max-rps" => {
                    let n: u32 = parse_flag_num(&flag, &value)?;
                    if n == 0 {
                        return Err("--max-rps must be at least 1".to_string());
                    }
                    opts.max_rps = Some(n);
                }
                _ => return Err(format!("unknown flag `{flag}`")),
            }
        }
        opts.validate()?;
        Ok(opts)
    }

    /// Checks the consistency of the options (also done by [`spawn`]).
    pub fn validate(&self) -> Result<(), String> {
        if self.api_key.is_empty() {
            return Err("the api key must not be empty".to_string());
        }
        for (name, f) in [
            ("fail rate", self.fail_rate),
            ("rate-limit rate", self.rate_limit_rate),
        ] {
            if !(0.0..=1.0).contains(&f) {
                return Err(format!("the {name} must be between 0 and 1, got {f}"));
            }
        }
        if self.seed_team_members > 0 && self.seed_teams == 0 {
            return Err("--seed-team-members needs --seed-teams of at least 1".to_string());
        }
        if self.seed_team_members > self.seed_users {
            return Err(format!(
                "--seed-team-members ({}) exceeds --seed-users ({})",
                self.seed_team_members, self.seed_users
            ));
        }
        if self.max_rps == Some(0) {
            return Err("--max-rps must be at least 1".to_string());
        }
        Ok(())
    }
}

fn parse_listen(value: &str) -> Result<String, String> {
    let addr = if value.starts_with(':') {
        format!("127.0.0.1{value}")
    } else {
        value.to_string()
    };
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(addr),
        _ => Err(format!(
            "--listen expects HOST:PORT (or :PORT), got `{value}`"
        )),
    }
}

fn parse_flag_num<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{flag} expects a non-negative integer, got `{value}`"
        ));
    }
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is out of range"))
}

fn parse_fraction(flag: &str, value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "{flag} expects a number between 0 and 1, got `{value}`"
        )),
    }
}

// ---------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------

/// One request as the backend received it (recorded before anything else,
/// so rejected requests are there too).
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Raw path and query as received (not decoded).
    pub path_and_query: String,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (lossy UTF-8); empty when it exceeded the 10 MiB limit.
    pub body: String,
    /// When the request's body had been read (before any injected latency).
    pub at: std::time::Instant,
}

#[allow(dead_code)]
impl Recorded {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running backend. Dropping it stops accepting connections; prefer
/// [`Running::shutdown`], which also waits for open connections to finish.
#[allow(dead_code)]
pub struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("addr", &self.addr).finish()
    }
}

/// Binds `opts.listen`, seeds the store and serves in a tokio task.
#[allow(dead_code)]
pub async fn spawn(opts: Options) -> std::io::Result<Running> {
    let listen = parse_listen(&opts.listen)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    spawn_on(listener, opts).await
}

/// Like [`spawn`], on a listener the caller bound (`opts.listen` is ignored):
/// tests that stop and restart the backend on one address keep the port
/// reserved in between instead of hoping to get it back.
pub async fn spawn_on(
    listener: tokio::net::TcpListener,
    opts: Options,
) -> std::io::Result<Running> {
    opts.validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let addr = listener.local_addr()?;
    let mut store = Store::default();
    store.seed(&opts);
    let shared = Arc::new(Shared {
        api_key: opts.api_key.clone(),
        store: Mutex::new(store),
        log: Mutex::new(Vec::new()),
        latency_ms: AtomicU64::new(opts.latency_ms),
        fail_rate: AtomicU64::new(clamp_rate(opts.fail_rate).to_bits()),
        rate_limit_rate: AtomicU64::new(clamp_rate(opts.rate_limit_rate).to_bits()),
        max_rps: AtomicU64::new(opts.max_rps.map_or(0, u64::from)),
        retry_after_secs: AtomicU64::new(opts.retry_after_secs),
        pinned_second: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        version_conflicts: AtomicU64::new(0),
        holds: Mutex::new(Vec::new()),
        deletions: Mutex::new(Vec::new()),
        extra_read_field: Mutex::new(None),
        window: Mutex::new((0, 0)),
        rng: Mutex::new(seed_rng()),
        in_flight: AtomicU64::new(0),
        peak_in_flight: AtomicU64::new(0),
        fail_rules: Mutex::new(Vec::new()),
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(serve(listener, shared.clone(), rx));
    Ok(Running {
        addr,
        shared,
        stop: Some(tx),
        task: Some(task),
    })
}

#[allow(dead_code)]
impl Running {
    /// The address actually bound (real port when `:0` was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (a loopback address when bound to the
    /// unspecified address).
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}")
    }

    /// The key clients must send.
    pub fn api_key(&self) -> String {
        self.shared.api_key.clone()
    }

    /// Every request received so far, in order (rejected ones included).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the recorded requests (and resets [`Running::peak_in_flight`]).
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
        self.shared.peak_in_flight.store(0, Ordering::Relaxed);
    }

    /// The most requests that were being handled at once (latency included).
    pub fn peak_in_flight(&self) -> u64 {
        self.shared.peak_in_flight.load(Ordering::Relaxed)
    }

    /// How many requests were received (since the last `clear_requests`).
    pub fn request_count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// The stored user, as `GET /api/v1/users/{id}` would return it.
    pub fn user(&self, id: u64) -> Option<Value> {
        let store = lock(&self.shared.store);
        store
            .users
            .get(&id)
            .and_then(|u| serde_json::to_value(u).ok())
    }

    /// The stored team (`T-0001`, ...), as `GET /api/v1/teams/{id}` would
    /// return it.
    pub fn team(&self, id: &str) -> Option<Value> {
        let num = parse_team_id(id)?;
        let store = lock(&self.shared.store);
        store
            .teams
            .get(&num)
            .and_then(|t| serde_json::to_value(t.view()).ok())
    }

    /// Number of stored users.
    pub fn user_count(&self) -> usize {
        lock(&self.shared.store).users.len()
    }

    /// Number of stored teams.
    pub fn team_count(&self) -> usize {
        lock(&self.shared.store).teams.len()
    }

    /// Connections accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Changes the delay of every answer.
    pub fn set_latency_ms(&self, ms: u64) {
        self.shared.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Changes the fraction of requests answered `503` (clamped to 0..=1).
    pub fn set_fail_rate(&self, f: f64) {
        self.shared
            .fail_rate
            .store(clamp_rate(f).to_bits(), Ordering::Relaxed);
    }

    /// Changes the fraction of requests answered `429` (clamped to 0..=1).
    pub fn set_rate_limit_rate(&self, f: f64) {
        self.shared
            .rate_limit_rate
            .store(clamp_rate(f).to_bits(), Ordering::Relaxed);
    }

    /// Changes the requests-per-second limit (`None` or `Some(0)`: no limit).
    pub fn set_max_rps(&self, max: Option<u32>) {
        self.shared
            .max_rps
            .store(max.map_or(0, u64::from), Ordering::Relaxed);
        *lock(&self.shared.window) = (0, 0);
    }

    /// Test hook for deterministic partial failures: from now on, let
    /// `nth - 1` requests with `method` whose path contains `path_contains`
    /// through and answer the `nth` one `503 SERVICE_UNAVAILABLE` (changing
    /// nothing); the rule is then spent. Several rules may be armed at once;
    /// `nth` is 1-based (0 counts as 1). Not reachable over HTTP.
    pub fn fail_nth(&self, method: &str, path_contains: &str, nth: usize) {
        self.arm(method, path_contains, nth, false);
    }

    /// Like [`Self::fail_nth`], but the `nth` request is carried out before
    /// it is answered `500 INTERNAL_ERROR`: a backend that fails after
    /// making the change, so the caller cannot tell whether it was made.
    pub fn fail_nth_after_applying(&self, method: &str, path_contains: &str, nth: usize) {
        self.arm(method, path_contains, nth, true);
    }

    fn arm(&self, method: &str, path_contains: &str, nth: usize, after_applying: bool) {
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        lock(&self.shared.fail_rules).push(FailRule {
            method,
            path_contains: path_contains.to_string(),
            skip: nth.saturating_sub(1),
            after_applying,
        });
    }

    /// Test hook: the `max_rps` window counts requests in this unix second
    /// instead of the clock's (`None`: the clock again), so rate tests do
    /// not depend on how fast the machine is.
    pub fn pin_rate_second(&self, second: Option<u64>) {
        self.shared
            .pinned_second
            .store(second.unwrap_or(0), Ordering::Relaxed);
    }

    /// How many `409 VERSION_CONFLICT` answers were sent so far.
    pub fn version_conflicts(&self) -> u64 {
        self.shared.version_conflicts.load(Ordering::SeqCst)
    }

    /// Sets the `Retry-After` (seconds) of injected `429`/`503` answers.
    pub fn set_retry_after_secs(&self, secs: u64) {
        self.shared.retry_after_secs.store(secs, Ordering::Relaxed);
    }

    /// Test hook for deterministic races: the next `n` requests with
    /// `method` whose path contains `path_contains` are held (before their
    /// answer is computed) until all `n` have arrived, then answered
    /// together; e.g. two clients both read version 1 before either writes.
    /// A rendezvous that never fills releases its requests after 10 s.
    pub fn hold_until_together(&self, method: &str, path_contains: &str, n: usize) {
        self.hold_until_together_at_most(method, path_contains, n, Duration::from_secs(10));
    }

    /// [`Self::hold_until_together`], releasing a rendezvous that does not
    /// fill after `max_wait` (a test expecting the requests never to meet).
    pub fn hold_until_together_at_most(
        &self,
        method: &str,
        path_contains: &str,
        n: usize,
        max_wait: Duration,
    ) {
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let (tx, rx) = tokio::sync::watch::channel(false);
        lock(&self.shared.holds).push(Hold {
            method,
            path_contains: path_contains.to_string(),
            left: n,
            max_wait,
            release: tx,
            released: rx,
        });
    }

    /// Test hook for a newer API version: every user and team answered
    /// carries the extra field `name` (`None`: none again). The API still
    /// refuses it in a request body, as every unknown field.
    pub fn set_extra_read_field(&self, field: Option<(&str, Value)>) {
        *lock(&self.shared.extra_read_field) = field.map(|(n, v)| (n.to_string(), v));
    }

    /// Test hook for "deleted meanwhile" races: when the next request with
    /// `method` whose path contains `path_contains` arrives, user `uid` is
    /// deleted (as by `DELETE /api/v1/users/{uid}`: removed from every team)
    /// just before that request is answered.
    pub fn delete_user_before(&self, method: &str, path_contains: &str, uid: u64) {
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        lock(&self.shared.deletions).push((method, path_contains.to_string(), uid));
    }

    /// Stops accepting, lets open connections finish (at most 5 s), and
    /// waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

struct Shared {
    api_key: String,
    store: Mutex<Store>,
    log: Mutex<Vec<Recorded>>,
    latency_ms: AtomicU64,
    /// f64 bits.
    fail_rate: AtomicU64,
    /// f64 bits.
    rate_limit_rate: AtomicU64,
    /// 0 = unlimited.
    max_rps: AtomicU64,
    /// `Retry-After` of injected faults, in seconds.
    retry_after_secs: AtomicU64,
    /// The unix second the `max_rps` window uses instead of the clock (0: the clock).
    pinned_second: AtomicU64,
    /// `409 VERSION_CONFLICT` answers so far.
    version_conflicts: AtomicU64,
    /// Rendezvous armed by [`Running::hold_until_together`].
    holds: Mutex<Vec<Hold>>,
    /// Deletions armed by [`Running::delete_user_before`]: (method, path part, user).
    deletions: Mutex<Vec<(Method, String, u64)>>,
    /// A field added to every user and team this API answers with (test hook).
    extra_read_field: Mutex<Option<(String, Value)>>,
    /// (unix second, requests seen in it).
    window: Mutex<(u64, u64)>,
    rng: Mutex<u64>,
    /// Connections accepted so far.
    accepted: AtomicU64,
    /// Requests being handled now, and the most seen at once.
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    /// Deterministic faults armed by [`Running::fail_nth`].
    fail_rules: Mutex<Vec<FailRule>>,
}

/// A rendezvous armed by [`Running::hold_until_together`].
struct Hold {
    method: Method,
    path_contains: String,
    /// Matching requests still expected before all are released.
    left: usize,
    /// How long a request waits for the others at most.
    max_wait: Duration,
    release: tokio::sync::watch::Sender<bool>,
    released: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    /// The user to delete before answering this request (spends the rule).
    fn deletion_before(&self, method: &Method, path: &str) -> Option<u64> {
        let mut d = lock(&self.deletions);
        let i = d
            .iter()
            .position(|(m, p, _)| m == method && path.contains(p.as_str()))?;
        Some(d.remove(i).2)
    }

    /// If a rendezvous matches this request: a future that completes when
    /// the rendezvous is full (at once for the last one to arrive).
    /// Bounded: a rendezvous that never fills lets everyone go after its
    /// `max_wait` (the test then fails on what it asserts, instead of hanging).
    fn hold(&self, method: &Method, path: &str) -> Option<impl std::future::Future<Output = ()>> {
        let mut holds = lock(&self.holds);
        let i = holds
            .iter()
            .position(|h| h.method == *method && path.contains(&h.path_contains))?;
        holds[i].left = holds[i].left.saturating_sub(1);
        let mut rx = holds[i].released.clone();
        let max_wait = holds[i].max_wait;
        if holds[i].left == 0 {
            let h = holds.remove(i);
            let _ = h.release.send(true);
        }
        Some(async move {
            let _ = tokio::time::timeout(max_wait, rx.wait_for(|r| *r)).await;
        })
    }
}

/// "Answer the `nth` request with `method` whose path contains `path_contains`
/// with a 503" (test hook; counted from when the rule is armed).
struct FailRule {
    method: Method,
    path_contains: String,
    /// Matching requests still to let through before failing one.
    skip: usize,
    /// Carry the request out, then answer `500` (else `503`, changing nothing).
    after_applying: bool,
}

/// Locks a mutex, ignoring poisoning (nothing here panics while holding one,
/// but a poisoned lock must never take the server down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn clamp_rate(f: f64) -> f64 {
    if f.is_nan() {
        0.0
    } else {
        f.clamp(0.0, 1.0)
    }
}

fn seed_rng() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    // splitmix64 of the time, never zero (xorshift needs a non-zero state).
    let mut z = nanos.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if z == 0 {
        1
    } else {
        z
    }
}

impl Shared {
    /// Uniform in [0, 1) (xorshift64*).
    fn random(&self) -> f64 {
        let mut state = lock(&self.rng);
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether a [`Running::fail_nth`] rule fails this request (and spends
    /// it): `Some(after_applying)`.
    fn armed_fault(&self, method: &Method, path: &str) -> Option<bool> {
        let mut rules = lock(&self.fail_rules);
        let i = rules
            .iter()
            .position(|r| r.method == *method && path.contains(&r.path_contains))?;
        if rules[i].skip > 0 {
            rules[i].skip -= 1;
            None
        } else {
            Some(rules.remove(i).after_applying)
        }
    }

    /// The injected fault for this request, if any.
    fn fault(&self) -> Option<Response<Full<Bytes>>> {
        let max = self.max_rps.load(Ordering::Relaxed);
        if max > 0 {
            let pinned = self.pinned_second.load(Ordering::Relaxed);
            let now = if pinned > 0 {
                pinned
            } else {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            };
            let mut window = lock(&self.window);
            if window.0 != now {
                *window = (now, 0);
            }
            window.1 = window.1.saturating_add(1);
            if window.1 > max {
                return Some(self.retry_after(error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    "too many requests per second",
                )));
            }
        }
        let fail = f64::from_bits(self.fail_rate.load(Ordering::Relaxed));
        if fail > 0.0 && self.random() < fail {
            return Some(self.retry_after(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "the service is temporarily unavailable",
            )));
        }
        let limit = f64::from_bits(self.rate_limit_rate.load(Ordering::Relaxed));
        if limit > 0.0 && self.random() < limit {
            return Some(self.retry_after(error(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "rate limit exceeded",
            )));
        }
        None
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    let shared = shared.clone();
                    let service = service_fn(move |req: Request<Incoming>| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(shared, req).await) }
                    });
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                // e.g. too many open files: back off a little and go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
}

enum BodyState {
    Read(Bytes),
    TooLarge,
    Broken,
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    /// Decrements the in-flight count even when the client goes away.
    struct InFlight<'a>(&'a AtomicU64);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.peak_in_flight.fetch_max(now, Ordering::SeqCst);
    let _counted = InFlight(&shared.in_flight);
    handle_counted(&shared, req).await
}

async fn handle_counted(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let declared_too_large = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64);
    let body = if declared_too_large {
        BodyState::TooLarge
    } else {
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => BodyState::Read(collected.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => BodyState::TooLarge,
            Err(_) => BodyState::Broken,
        }
    };
    let recorded = Recorded {
        method: parts.method.as_str().to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: match &body {
            BodyState::Read(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        },
        at: std::time::Instant::now(),
    };
    lock(&shared.log).push(recorded);
    if let Some(released) = shared.hold(&parts.method, parts.uri.path()) {
        released.await;
    }
    if let Some(uid) = shared.deletion_before(&parts.method, parts.uri.path()) {
        let _ = delete_user(shared, uid);
    }

    let mut response = respond(shared, &parts, body);
    let extra = lock(&shared.extra_read_field).clone();
    if let Some((name, value)) = extra {
        response = with_extra_field(response, &name, &value).await;
    }

    let latency = shared.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    response
}

fn respond(shared: &Shared, parts: &Parts, body: BodyState) -> Response<Full<Bytes>> {
    match shared.armed_fault(&parts.method, parts.uri.path()) {
        Some(false) => {
            return shared.retry_after(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "the service is temporarily unavailable (injected)",
            ))
        }
        Some(true) => {
            drop(respond_unfaulted(shared, parts, body));
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "internal error after the change was made (injected)",
            );
        }
        None => {}
    }
    respond_unfaulted(shared, parts, body)
}

fn respond_unfaulted(shared: &Shared, parts: &Parts, body: BodyState) -> Response<Full<Bytes>> {
    if let Some(fault) = shared.fault() {
        return fault;
    }
    let authorized = parts
        .headers
        .get("x-api-key")
        .is_some_and(|v| v.as_bytes() == shared.api_key.as_bytes());
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "invalid api key");
    }
    let body = match body {
        BodyState::Read(b) => b,
        BodyState::TooLarge => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "the request body exceeds 10 MiB",
            )
        }
        BodyState::Broken => {
            return error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the request body could not be read",
            )
        }
    };
    let req = Req {
        method: &parts.method,
        headers: &parts.headers,
        query: parts.uri.query().unwrap_or(""),
        body: &body,
    };
    route(shared, parts.uri.path(), &req)
}

struct Req<'a> {
    method: &'a Method,
    headers: &'a http::HeaderMap,
    query: &'a str,
    body: &'a [u8],
}

fn route(shared: &Shared, path: &str, req: &Req<'_>) -> Response<Full<Bytes>> {
    if req.method == Method::PATCH {
        return method_not_allowed(None);
    }
    // Segments are split on the raw '/' and then percent-decoded, so an
    // encoded slash stays inside its segment.
    let decoded: Vec<String> = path
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let rest = match segments.as_slice() {
        ["", "api", "v1", rest @ ..] => rest,
        _ => return route_not_found(),
    };
    let m = req.method;
    match rest {
        ["users"] => match *m {
            Method::GET => list_users(shared, req),
            Method::POST => create_user(shared, req),
            _ => method_not_allowed(Some("GET, POST")),
        },
        ["users", id] => {
            if !matches!(*m, Method::GET | Method::PUT | Method::DELETE) {
                return method_not_allowed(Some("GET, PUT, DELETE"));
            }
            let Some(id) = parse_user_id(id) else {
                return user_not_found();
            };
            match *m {
                Method::GET => get_user(shared, id),
                Method::PUT => replace_user(shared, id, req),
                _ => delete_user(shared, id),
            }
        }
        ["teams"] => match *m {
            Method::GET => list_teams(shared, req),
            Method::POST => create_team(shared, req),
            _ => method_not_allowed(Some("GET, POST")),
        },
        ["teams", id] => {
            if !matches!(*m, Method::GET | Method::PUT | Method::DELETE) {
                return method_not_allowed(Some("GET, PUT, DELETE"));
            }
            let Some(num) = parse_team_id(id) else {
                return team_not_found();
            };
            match *m {
                Method::GET => get_team(shared, num),
                Method::PUT => replace_team(shared, num, req),
                _ => delete_team(shared, num),
            }
        }
        ["teams", id, "members"] => {
            if *m != Method::POST {
                return method_not_allowed(Some("POST"));
            }
            let Some(num) = parse_team_id(id) else {
                return team_not_found();
            };
            add_member(shared, num, req)
        }
        ["teams", id, "members", user] => {
            if *m != Method::DELETE {
                return method_not_allowed(Some("DELETE"));
            }
            let Some(num) = parse_team_id(id) else {
                return team_not_found();
            };
            remove_member(shared, num, user)
        }
        _ => route_not_found(),
    }
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

fn with_body(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// `response` with `name: value` added to each user or team it carries
/// (one record, or a list page's `data` / `items`).
async fn with_extra_field(
    response: Response<Full<Bytes>>,
    name: &str,
    value: &Value,
) -> Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Full::new(bytes));
    };
    let add = |v: &mut Value| {
        if let Some(o) = v.as_object_mut() {
            if o.contains_key("userId") || o.contains_key("teamId") {
                o.insert(name.to_string(), value.clone());
            }
        }
    };
    add(&mut doc);
    for list in ["data", "items"] {
        if let Some(Value::Array(items)) = doc.get_mut(list) {
            items.iter_mut().for_each(add);
        }
    }
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    let mut resp = Response::from_parts(parts, Full::new(Bytes::from(body)));
    resp.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    resp
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => with_body(status, body),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "could not encode the answer",
        ),
    }
}

fn no_content() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

fn error_with_fields(
    status: StatusCode,
    code: &str,
    message: &str,
    fields: Option<&BTreeMap<String, String>>,
) -> Response<Full<Bytes>> {
    #[derive(Serialize)]
    struct Inner<'a> {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        fields: Option<&'a BTreeMap<String, String>>,
    }
    #[derive(Serialize)]
    struct Envelope<'a> {
        error: Inner<'a>,
    }
    let envelope = Envelope {
        error: Inner {
            code,
            message,
            fields,
        },
    };
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    with_body(status, body)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    error_with_fields(status, code, message, None)
}

impl Shared {
    fn retry_after(&self, mut resp: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
        let secs = self.retry_after_secs.load(Ordering::Relaxed);
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        resp
    }

    fn version_conflict(&self, sent: u64, current: u64) -> Response<Full<Bytes>> {
        self.version_conflicts.fetch_add(1, Ordering::SeqCst);
        error(
            StatusCode::CONFLICT,
            "VERSION_CONFLICT",
            &format!("version {sent} is not the current version {current}"),
        )
    }
}

fn validation_failed(fields: &BTreeMap<String, String>) -> Response<Full<Bytes>> {
    error_with_fields(
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
        "the request is not valid",
        Some(fields),
    )
}

fn unprocessable(message: &str) -> Response<Full<Bytes>> {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
        message,
    )
}

fn method_not_allowed(allow: Option<&'static str>) -> Response<Full<Bytes>> {
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "method not allowed on this resource",
    );
    if let Some(allow) = allow {
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
    }
    resp
}

fn route_not_found() -> Response<Full<Bytes>> {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such resource")
}

fn user_not_found() -> Response<Full<Bytes>> {
    error(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "user not found")
}

fn team_not_found() -> Response<Full<Bytes>> {
    error(StatusCode::NOT_FOUND, "TEAM_NOT_FOUND", "team not found")
}

fn with_location(mut resp: Response<Full<Bytes>>, location: String) -> Response<Full<Bytes>> {
    if let Ok(v) = HeaderValue::try_from(location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

// ---------------------------------------------------------------------------
// Ids, query strings, bodies
// ---------------------------------------------------------------------------

/// Canonical positive decimal: no sign, no leading zero, fits u64.
fn parse_user_id(s: &str) -> Option<u64> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes[0] == b'0' || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok()
}

/// `T-` followed by at least four digits, and exactly the form the backend
/// gives out (`T-0007`, `T-12345`): `T-00007` is not the id of team 7.
fn parse_team_id(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("T-")?;
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    (format_team_id(n) == s).then_some(n)
}

fn format_team_id(n: u64) -> String {
    format!("T-{n:04}")
}

/// `(name, value)` pairs of a raw query string, `+` as space, percent-decoded.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let s = s.replace('+', " ");
        percent_decode_str(&s).decode_utf8_lossy().into_owned()
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// An integer query parameter in `min..=max` (ASCII digits only).
fn query_int(
    pairs: &[(String, String)],
    name: &str,
    default: u64,
    min: u64,
    max: u64,
    problems: &mut BTreeMap<String, String>,
) -> u64 {
    let values: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect();
    let describe = if max == u64::MAX {
        format!("must be an integer >= {min}")
    } else {
        format!("must be an integer between {min} and {max}")
    };
    match values.as_slice() {
        [] => default,
        [v] => {
            let parsed = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                v.parse::<u64>().ok()
            } else {
                None
            };
            match parsed {
                Some(n) if (min..=max).contains(&n) => n,
                _ => {
                    problems.insert(name.to_string(), describe);
                    default
                }
            }
        }
        _ => {
            problems.insert(name.to_string(), "must be given at most once".to_string());
            default
        }
    }
}

fn query_values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `application/json`, optionally with `charset=utf-8` (case-insensitive).
fn is_json_content_type(headers: &http::HeaderMap) -> bool {
    let mut all = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (all.next(), all.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mut parts = value.split(';');
    let mime = parts.next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return false;
    }
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let Some((name, val)) = param.split_once('=') else {
            return false;
        };
        let val = val.trim();
        let val = val
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(val);
        if !name.trim().eq_ignore_ascii_case("charset") || !val.eq_ignore_ascii_case("utf-8") {
            return false;
        }
    }
    true
}

/// A JSON value parsed with duplicate keys rejected at every level.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictValue::deserialize(d).map(|v| v.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Content type check and strict JSON-object parse of a request body.
/// The error is boxed: a `Response` is large and this is the cold path.
fn json_object(req: &Req<'_>) -> Result<Map<String, Value>, Box<Response<Full<Bytes>>>> {
    if !is_json_content_type(req.headers) {
        return Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be sent as application/json (charset utf-8)",
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(req.body);
    let parsed = StrictValue::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(StrictValue(Value::Object(map))) => Ok(map),
        Ok(_) => Err(Box::new(unprocessable("the body must be a JSON object"))),
        Err(e) => Err(Box::new(unprocessable(&format!("invalid JSON body: {e}")))),
    }
}

// ---------------------------------------------------------------------------
// Field validation
// ---------------------------------------------------------------------------

/// Lowercase ISO 639-1 codes (sorted, for binary search).
const ISO_639_1: [&str; 184] = [
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh",
    "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da",
    "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr",
    "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz",
    "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj",
    "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb",
    "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi",
    "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk",
    "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti",
    "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo",
    "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

const MAX_TEXT: usize = 256;

/// Collects field problems (`fields` of the 422 envelope).
#[derive(Default)]
struct Problems(BTreeMap<String, String>);

impl Problems {
    fn add(&mut self, field: &str, problem: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| problem.into());
    }

    fn unknown_fields(&mut self, obj: &Map<String, Value>, allowed: &[&str], prefix: &str) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.add(&format!("{prefix}{key}"), "unknown field");
            }
        }
    }

    /// Optional string (absent or null: `None`), at most `max` chars.
    fn opt_string(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        field: &str,
        max: Option<usize>,
    ) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                if let Some(max) = max {
                    if s.chars().count() > max {
                        self.add(field, format!("must be at most {max} characters"));
                        return None;
                    }
                }
                Some(s.clone())
            }
            Some(_) => {
                self.add(field, "must be a string or null");
                None
            }
        }
    }

    /// Required non-null string of `1..=max` chars.
    fn req_string(&mut self, obj: &Map<String, Value>, key: &str, max: usize) -> Option<String> {
        match obj.get(key) {
            None => {
                self.add(key, "is required");
                None
            }
            Some(Value::Null) => {
                self.add(key, "must not be null");
                None
            }
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n == 0 || n > max {
                    self.add(key, format!("must be 1 to {max} characters"));
                    None
                } else {
                    Some(s.clone())
                }
            }
            Some(_) => {
                self.add(key, "must be a string");
                None
            }
        }
    }

    /// Optional enumerated string: absent → `None`; null or another value
    /// is a problem.
    fn opt_enum(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        let value = obj.get(key)?;
        let found = value
            .as_str()
            .and_then(|s| allowed.iter().copied().find(|a| *a == s));
        if found.is_none() {
            self.add(key, format!("must be one of {}", allowed.join(", ")));
        }
        found
    }

    /// `version`: required non-negative integer (PUT).
    fn version(&mut self, obj: &Map<String, Value>) -> Option<u64> {
        match obj.get("version") {
            None => {
                self.add("version", "is required");
                None
            }
            Some(v) => {
                let n = v.as_u64();
                if n.is_none() {
                    self.add("version", "must be an integer");
                }
                n
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A validated user body.
struct UserInput {
    login: String,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    contact: Option<Contact>,
    language: Option<String>,
    status: &'static str,
    external_ref: Option<String>,
    /// `None`: absent (only allowed on PUT, where it keeps the current role).
    role: Option<&'static str>,
    /// PUT only.
    version: u64,
}

const USER_FIELDS: [&str; 13] = [
    "userId",
    "login",
    "firstName",
    "lastName",
    "displayName",
    "contact",
    "language",
    "status",
    "externalRef",
    "role",
    "createdAt",
    "updatedAt",
    "version",
];
const STATUSES: [&str; 2] = ["ACTIVE", "DISABLED"];
const ROLES: [&str; 3] = ["Operator", "Administrator", "Viewer"];

/// `path_id`: `None` for a create (POST), `Some(id)` for a replacement (PUT).
fn validate_user(
    obj: &Map<String, Value>,
    path_id: Option<u64>,
) -> Result<UserInput, BTreeMap<String, String>> {
    let mut p = Problems::default();
    p.unknown_fields(obj, &USER_FIELDS, "");
    let mut version = 0;
    match path_id {
        None => {
            for key in ["userId", "version"] {
                if obj.contains_key(key) {
                    p.add(key, "is assigned by the API and must not be sent on create");
                }
            }
        }
        Some(id) => {
            if let Some(v) = obj.get("userId") {
                if v.as_u64() != Some(id) {
                    p.add("userId", "must equal the id in the path");
                }
            }
            version = p.version(obj).unwrap_or(0);
        }
    }
    let login = p.req_string(obj, "login", MAX_TEXT);
    let first_name = p.opt_string(obj, "firstName", "firstName", Some(MAX_TEXT));
    let last_name = p.opt_string(obj, "lastName", "lastName", Some(MAX_TEXT));
    let display_name = p.opt_string(obj, "displayName", "displayName", Some(MAX_TEXT));
    let external_ref = p.opt_string(obj, "externalRef", "externalRef", Some(MAX_TEXT));
    let contact = match obj.get("contact") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => {
            p.unknown_fields(c, &["email", "mobile"], "contact.");
            Some(Contact {
                email: p.opt_string(c, "email", "contact.email", None),
                mobile: p.opt_string(c, "mobile", "contact.mobile", None),
            })
        }
        Some(_) => {
            p.add("contact", "must be an object or null");
            None
        }
    };
    let language = match obj.get("language") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if ISO_639_1.binary_search(&s.as_str()).is_ok() => Some(s.clone()),
        Some(_) => {
            p.add(
                "language",
                "must be a lowercase ISO 639-1 two-letter code or null",
            );
            None
        }
    };
    let status = p.opt_enum(obj, "status", &STATUSES).unwrap_or("ACTIVE");
    let role = p.opt_enum(obj, "role", &ROLES);
    if path_id.is_none() && !obj.contains_key("role") {
        p.add("role", "is required");
    }
    match login {
        Some(login) if p.is_empty() => Ok(UserInput {
            login,
            first_name,
            last_name,
            display_name,
            contact,
            language,
            status,
            external_ref,
            role,
            version,
        }),
        _ => Err(p.0),
    }
}

/// A validated team body.
struct TeamInput {
    name: String,
    description: Option<String>,
    members: BTreeSet<u64>,
    version: u64,
}

const TEAM_FIELDS: [&str; 7] = [
    "teamId",
    "name",
    "description",
    "memberIds",
    "version",
    "createdAt",
    "updatedAt",
];

/// `path_id`: `None` for a create (POST), `Some(number)` for a PUT.
/// Member existence is checked by the caller (needs the store).
fn validate_team(
    obj: &Map<String, Value>,
    path_id: Option<u64>,
) -> Result<TeamInput, BTreeMap<String, String>> {
    let mut p = Problems::default();
    // createdAt/updatedAt are "ignored wherever sent" (contract, Create rule).
    p.unknown_fields(obj, &TEAM_FIELDS, "");
    let mut version = 0;
    match path_id {
        None => {
            for key in ["teamId", "version"] {
                if obj.contains_key(key) {
                    p.add(key, "is assigned by the API and must not be sent on create");
                }
            }
        }
        Some(num) => {
            if let Some(v) = obj.get("teamId") {
                if v.as_str() != Some(format_team_id(num).as_str()) {
                    p.add("teamId", "must equal the id in the path");
                }
            }
            version = p.version(obj).unwrap_or(0);
        }
    }
    let name = p.req_string(obj, "name", MAX_TEXT);
    let description = p.opt_string(obj, "description", "description", Some(MAX_TEXT));
    let mut members = BTreeSet::new();
    match obj.get("memberIds") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ids)) => {
            for id in ids {
                match id.as_u64() {
                    Some(n) if n > 0 => {
                        // Duplicates are harmless: memberIds is a set.
                        members.insert(n);
                    }
                    _ => {
                        p.add("memberIds", "must be an array of positive integer user ids");
                        break;
                    }
                }
            }
        }
        Some(_) => p.add("memberIds", "must be an array of user ids or null"),
    }
    match name {
        Some(name) if p.is_empty() => Ok(TeamInput {
            name,
            description,
            members,
            version,
        }),
        _ => Err(p.0),
    }
}

// ---------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
struct Contact {
    email: Option<String>,
    mobile: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct User {
    user_id: u64,
    login: String,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    contact: Option<Contact>,
    language: Option<String>,
    status: &'static str,
    external_ref: Option<String>,
    role: &'static str,
    created_at: String,
    updated_at: String,
    version: u64,
}

#[derive(Debug)]
struct Team {
    number: u64,
    name: String,
    description: Option<String>,
    members: BTreeSet<u64>,
    version: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TeamView<'a> {
    team_id: String,
    name: &'a str,
    description: &'a Option<String>,
    member_ids: &'a BTreeSet<u64>,
    version: u64,
}

impl Team {
    fn view(&self) -> TeamView<'_> {
        TeamView {
            team_id: format_team_id(self.number),
            name: &self.name,
            description: &self.description,
            member_ids: &self.members,
            version: self.version,
        }
    }
}

#[derive(Default)]
struct Store {
    users: BTreeMap<u64, User>,
    /// Lowercased login → userId.
    logins: HashMap<String, u64>,
    next_user: u64,
    /// Team number (`T-0007` → 7) → team.
    teams: BTreeMap<u64, Team>,
    /// Lowercased team name → team number.
    team_names: HashMap<String, u64>,
    next_team: u64,
    /// userId → numbers of the teams it belongs to (so deleting a user does
    /// not scan every team).
    user_teams: HashMap<u64, BTreeSet<u64>>,
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// RFC 3339 UTC, seconds precision, `Z`.
fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Store {
    fn seed(&mut self, opts: &Options) {
        let now = now_rfc3339();
        for _ in 0..opts.seed_users {
            let id = self.alloc_user_id();
            let login = format!("user{id}@example.com");
            let first = format!("First{id}");
            let last = format!("Last{id}");
            self.logins.insert(fold(&login), id);
            self.users.insert(
                id,
                User {
                    user_id: id,
                    display_name: Some(format!("{first} {last}")),
                    first_name: Some(first),
                    last_name: Some(last),
                    contact: Some(Contact {
                        email: Some(login.clone()),
                        mobile: None,
                    }),
                    login,
                    language: Some("en".to_string()),
                    status: "ACTIVE",
                    external_ref: None,
                    role: "Operator",
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    version: 1,
                },
            );
        }
        for i in 0..opts.seed_teams {
            let num = self.alloc_team_number();
            let name = format!("Team {}", i + 1);
            self.team_names.insert(fold(&name), num);
            self.teams.insert(
                num,
                Team {
                    number: num,
                    name,
                    description: None,
                    members: BTreeSet::new(),
                    version: 1,
                },
            );
        }
        if opts.seed_team_members > 0 {
            if let Some(first_team) = self.teams.keys().next().copied() {
                let members: Vec<u64> = self
                    .users
                    .keys()
                    .take(opts.seed_team_members)
                    .copied()
                    .collect();
                for uid in &members {
                    self.user_teams.entry(*uid).or_default().insert(first_team);
                }
                if let Some(team) = self.teams.get_mut(&first_team) {
                    team.members.extend(members);
                }
            }
        }
    }

    fn alloc_user_id(&mut self) -> u64 {
        self.next_user += 1;
        self.next_user
    }

    fn alloc_team_number(&mut self) -> u64 {
        self.next_team += 1;
        self.next_team
    }

    /// Sets the members of a team, keeping the reverse index in step.
    /// Returns whether the member set changed.
    fn set_members(&mut self, num: u64, members: BTreeSet<u64>) -> bool {
        let Some(team) = self.teams.get_mut(&num) else {
            return false;
        };
        if team.members == members {
            return false;
        }
        for removed in team.members.difference(&members) {
            if let Some(set) = self.user_teams.get_mut(removed) {
                set.remove(&num);
                if set.is_empty() {
                    self.user_teams.remove(removed);
                }
            }
        }
        for added in members.difference(&team.members) {
            self.user_teams.entry(*added).or_default().insert(num);
        }
        team.members = members;
        true
    }

    fn unknown_members(&self, members: &BTreeSet<u64>) -> Option<BTreeMap<String, String>> {
        let unknown: Vec<String> = members
            .iter()
            .filter(|id| !self.users.contains_key(id))
            .take(20)
            .map(u64::to_string)
            .collect();
        if unknown.is_empty() {
            return None;
        }
        let mut fields = BTreeMap::new();
        fields.insert(
            "memberIds".to_string(),
            format!("unknown user id(s): {}", unknown.join(", ")),
        );
        Some(fields)
    }
}

// ---------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------

fn list_users(shared: &Shared, req: &Req<'_>) -> Response<Full<Bytes>> {
    let pairs = query_pairs(req.query);
    let mut problems = BTreeMap::new();
    let page = query_int(&pairs, "page", 1, 1, u64::MAX, &mut problems);
    let page_size = query_int(&pairs, "pageSize", 50, 1, 200, &mut problems);
    if !problems.is_empty() {
        return validation_failed(&problems);
    }
    let logins = query_values(&pairs, "login");
    let refs = query_values(&pairs, "externalRef");
    let statuses = query_values(&pairs, "status");
    let any_empty = logins
        .iter()
        .chain(&refs)
        .chain(&statuses)
        .any(|v| v.is_empty());

    let store = lock(&shared.store);
    let matches = |u: &&User| {
        logins.iter().all(|l| fold(l) == fold(&u.login))
            && refs.iter().all(|r| u.external_ref.as_deref() == Some(*r))
            && statuses.iter().all(|s| u.status == *s)
    };
    let selected: Vec<&User> = if any_empty {
        Vec::new()
    } else if let Some(first) = logins.first() {
        store
            .logins
            .get(&fold(first))
            .and_then(|id| store.users.get(id))
            .into_iter()
            .filter(matches)
            .collect()
    } else {
        store.users.values().filter(matches).collect()
    };
    let skip = usize::try_from((page - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
    let data: Vec<&User> = selected
        .iter()
        .skip(skip)
        .take(page_size as usize)
        .copied()
        .collect();

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Paging {
        page: u64,
        page_size: u64,
        total_items: usize,
    }
    #[derive(Serialize)]
    struct Page<'a> {
        data: Vec<&'a User>,
        paging: Paging,
    }
    json_response(
        StatusCode::OK,
        &Page {
            data,
            paging: Paging {
                page,
                page_size,
                total_items: selected.len(),
            },
        },
    )
}

fn get_user(shared: &Shared, id: u64) -> Response<Full<Bytes>> {
    let store = lock(&shared.store);
    match store.users.get(&id) {
        Some(user) => json_response(StatusCode::OK, user),
        None => user_not_found(),
    }
}

fn create_user(shared: &Shared, req: &Req<'_>) -> Response<Full<Bytes>> {
    let obj = match json_object(req) {
        Ok(obj) => obj,
        Err(resp) => return *resp,
    };
    let input = match validate_user(&obj, None) {
        Ok(input) => input,
        Err(fields) => return validation_failed(&fields),
    };
    let mut store = lock(&shared.store);
    let key = fold(&input.login);
    if store.logins.contains_key(&key) {
        return error(
            StatusCode::CONFLICT,
            "LOGIN_TAKEN",
            "the login is already taken",
        );
    }
    let id = store.alloc_user_id();
    let now = now_rfc3339();
    let user = User {
        user_id: id,
        login: input.login,
        first_name: input.first_name,
        last_name: input.last_name,
        display_name: input.display_name,
        contact: input.contact,
        language: input.language,
        status: input.status,
        external_ref: input.external_ref,
        role: input.role.unwrap_or("Operator"),
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    store.logins.insert(key, id);
    let resp = json_response(StatusCode::CREATED, &user);
    store.users.insert(id, user);
    with_location(resp, format!("/api/v1/users/{id}"))
}

fn replace_user(shared: &Shared, id: u64, req: &Req<'_>) -> Response<Full<Bytes>> {
    let obj = match json_object(req) {
        Ok(obj) => obj,
        Err(resp) => return *resp,
    };
    let mut store = lock(&shared.store);
    let Some(current) = store.users.get(&id) else {
        return user_not_found();
    };
    let input = match validate_user(&obj, Some(id)) {
        Ok(input) => input,
        Err(fields) => return validation_failed(&fields),
    };
    if input.version != current.version {
        return shared.version_conflict(input.version, current.version);
    }
    let new_key = fold(&input.login);
    if store.logins.get(&new_key).is_some_and(|owner| *owner != id) {
        return error(
            StatusCode::CONFLICT,
            "LOGIN_TAKEN",
            "the login is already taken",
        );
    }
    let old_key = fold(&current.login);
    let user = User {
        user_id: id,
        login: input.login,
        first_name: input.first_name,
        last_name: input.last_name,
        display_name: input.display_name,
        contact: input.contact,
        language: input.language,
        status: input.status,
        external_ref: input.external_ref,
        role: input.role.unwrap_or(current.role),
        created_at: current.created_at.clone(),
        updated_at: now_rfc3339(),
        version: current.version + 1,
    };
    store.logins.remove(&old_key);
    store.logins.insert(new_key, id);
    let resp = json_response(StatusCode::OK, &user);
    store.users.insert(id, user);
    resp
}

fn delete_user(shared: &Shared, id: u64) -> Response<Full<Bytes>> {
    let mut store = lock(&shared.store);
    let Some(user) = store.users.remove(&id) else {
        return user_not_found();
    };
    store.logins.remove(&fold(&user.login));
    // Deleting a user removes it from every team; those teams' memberIds
    // change, so their version goes up.
    if let Some(teams) = store.user_teams.remove(&id) {
        for num in teams {
            if let Some(team) = store.teams.get_mut(&num) {
                if team.members.remove(&id) {
                    team.version += 1;
                }
            }
        }
    }
    no_content()
}

// ---------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------

fn list_teams(shared: &Shared, req: &Req<'_>) -> Response<Full<Bytes>> {
    let pairs = query_pairs(req.query);
    let mut problems = BTreeMap::new();
    let offset = query_int(&pairs, "offset", 0, 0, u64::MAX, &mut problems);
    let limit = query_int(&pairs, "limit", 100, 1, 500, &mut problems);
    if !problems.is_empty() {
        return validation_failed(&problems);
    }
    let names = query_values(&pairs, "name");
    let store = lock(&shared.store);
    let selected: Vec<&Team> = if names.iter().any(|n| n.is_empty()) {
        Vec::new()
    } else if let Some(first) = names.first() {
        store
            .team_names
            .get(&fold(first))
            .and_then(|num| store.teams.get(num))
            .into_iter()
            .filter(|t| names.iter().all(|n| fold(n) == fold(&t.name)))
            .collect()
    } else {
        store.teams.values().collect()
    };
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let items: Vec<TeamView<'_>> = selected
        .iter()
        .skip(skip)
        .take(limit as usize)
        .map(|t| t.view())
        .collect();

    #[derive(Serialize)]
    struct List<'a> {
        items: Vec<TeamView<'a>>,
        total: usize,
    }
    json_response(
        StatusCode::OK,
        &List {
            items,
            total: selected.len(),
        },
    )
}

fn get_team(shared: &Shared, num: u64) -> Response<Full<Bytes>> {
    let store = lock(&shared.store);
    match store.teams.get(&num) {
        Some(team) => json_response(StatusCode::OK, &team.view()),
        None => team_not_found(),
    }
}

fn create_team(shared: &Shared, req: &Req<'_>) -> Response<Full<Bytes>> {
    let obj = match json_object(req) {
        Ok(obj) => obj,
        Err(resp) => return *resp,
    };
    let input = match validate_team(&obj, None) {
        Ok(input) => input,
        Err(fields) => return validation_failed(&fields),
    };
    let mut store = lock(&shared.store);
    if let Some(fields) = store.unknown_members(&input.members) {
        return validation_failed(&fields);
    }
    let key = fold(&input.name);
    if store.team_names.contains_key(&key) {
        return error(
            StatusCode::CONFLICT,
            "NAME_TAKEN",
            "the team name is already taken",
        );
    }
    let num = store.alloc_team_number();
    store.team_names.insert(key, num);
    store.teams.insert(
        num,
        Team {
            number: num,
            name: input.name,
            description: input.description,
            members: BTreeSet::new(),
            version: 1,
        },
    );
    store.set_members(num, input.members);
    let resp = match store.teams.get(&num) {
        Some(team) => json_response(StatusCode::CREATED, &team.view()),
        None => team_not_found(),
    };
    with_location(resp, format!("/api/v1/teams/{}", format_team_id(num)))
}

/// PUT is a full replacement. Team version policy: like a user, a team's
/// version goes up by one on every successful PUT (a PUT is a write), so it
/// certainly goes up whenever `memberIds` changes; the membership endpoints
/// and user deletions bump it only when `memberIds` actually changes (their
/// idempotent no-ops leave it alone).
fn replace_team(shared: &Shared, num: u64, req: &Req<'_>) -> Response<Full<Bytes>> {
    let obj = match json_object(req) {
        Ok(obj) => obj,
        Err(resp) => return *resp,
    };
    let mut store = lock(&shared.store);
    let Some(current) = store.teams.get(&num) else {
        return team_not_found();
    };
    let input = match validate_team(&obj, Some(num)) {
        Ok(input) => input,
        Err(fields) => return validation_failed(&fields),
    };
    if input.version != current.version {
        return shared.version_conflict(input.version, current.version);
    }
    let old_key = fold(&current.name);
    if let Some(fields) = store.unknown_members(&input.members) {
        return validation_failed(&fields);
    }
    let new_key = fold(&input.name);
    if store
        .team_names
        .get(&new_key)
        .is_some_and(|owner| *owner != num)
    {
        return error(
            StatusCode::CONFLICT,
            "NAME_TAKEN",
            "the team name is already taken",
        );
    }
    store.team_names.remove(&old_key);
    store.team_names.insert(new_key, num);
    let members_changed = store.set_members(num, input.members);
    match store.teams.get_mut(&num) {
        Some(team) => {
            // A PUT that changes nothing is a no-op: the version stays.
            let changed =
                members_changed || team.name != input.name || team.description != input.description;
            team.name = input.name;
            team.description = input.description;
            if changed {
                team.version += 1;
            }
            json_response(StatusCode::OK, &team.view())
        }
        None => team_not_found(),
    }
}

fn delete_team(shared: &Shared, num: u64) -> Response<Full<Bytes>> {
    let mut store = lock(&shared.store);
    let Some(team) = store.teams.remove(&num) else {
        return team_not_found();
    };
    store.team_names.remove(&fold(&team.name));
    for uid in &team.members {
        if let Some(set) = store.user_teams.get_mut(uid) {
            set.remove(&num);
            if set.is_empty() {
                store.user_teams.remove(uid);
            }
        }
    }
    no_content()
}

fn add_member(shared: &Shared, num: u64, req: &Req<'_>) -> Response<Full<Bytes>> {
    let obj = match json_object(req) {
        Ok(obj) => obj,
        Err(resp) => return *resp,
    };
    let mut store = lock(&shared.store);
    if !store.teams.contains_key(&num) {
        return team_not_found();
    }
    let mut p = Problems::default();
    p.unknown_fields(&obj, &["userId"], "");
    let uid = match obj.get("userId") {
        None => {
            p.add("userId", "is required");
            None
        }
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                p.add("userId", "must be a positive integer");
                None
            }
        },
    };
    let uid = match uid {
        Some(uid) if p.is_empty() => uid,
        _ => return validation_failed(&p.0),
    };
    if !store.users.contains_key(&uid) {
        return user_not_found();
    }
    let Some(team) = store.teams.get_mut(&num) else {
        return team_not_found();
    };
    if team.members.insert(uid) {
        team.version += 1;
        store.user_teams.entry(uid).or_default().insert(num);
    }
    no_content()
}

fn remove_member(shared: &Shared, num: u64, user: &str) -> Response<Full<Bytes>> {
    let mut store = lock(&shared.store);
    if !store.teams.contains_key(&num) {
        return team_not_found();
    }
    let Some(uid) = parse_user_id(user) else {
        return user_not_found();
    };
    // The contract: `404 USER_NOT_FOUND` when the user does not exist (a
    // deleted user is in no team any more); 204 for an existing non-member.
    if !store.users.contains_key(&uid) {
        return user_not_found();
    }
    let Some(team) = store.teams.get_mut(&num) else {
        return team_not_found();
    };
    if team.members.remove(&uid) {
        team.version += 1;
        if let Some(set) = store.user_teams.get_mut(&uid) {
            set.remove(&num);
            if set.is_empty() {
                store.user_teams.remove(&uid);
            }
        }
    }
    no_content()
}
