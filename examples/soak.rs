//! A bounded soak: the example Peripass backend (in this process, with
//! injected faults) behind the real `scim-bridge` release binary (a child
//! process), driven at a fixed rate with Microsoft Entra ID's request mix.
//!
//!     cargo build --release
//!     cargo run --release --example soak -- --minutes 30 --rate 500
//!
//! Flags (all optional): `--minutes N` (1..=240, default 30), `--rate N`
//! Entra operations per second (1..=5000, default 500), `--seed-users N`
//! (default 1000), `--teams N` (default 100), `--latency-ms N` (backend
//! latency, default 20), `--fail-rate F` (backend 503s, default 0.05),
//! `--rate-limit-rate F` (backend 429s, default 0.02), `--seed N` (random
//! seed, default 1), `--max-in-flight N` (default 4096), `--max-rss-growth P`
//! (percent, default 5), `--fd-slack N` (default 64), `--bin PATH` (default
//! `target/release/scim-bridge`), `--steady` (below).
//!
//! `--steady` keeps the data set the same size, for a leak check: before the
//! schedule the soak creates a pool of `--seed-users / 10` users of its own
//! (faults still off); every create then hard-deletes
//! (`DELETE /Users/{id}`, as Entra does on de-provisioning) another idle
//! user of that pool, so the number of users stays where the schedule
//! started. Group members are drawn from the seeded users only, and only
//! soak-created users are deleted, so a deleted user is never a group member
//! (the backend would drop it from its teams). Adding and removing members
//! are equally likely and both take 1-3 members; a group more than 20 above
//! its starting size only loses members, one more than 20 below only gains.
//!
//! Every 10 s the bridge's resident memory (`VmRSS` in `/proc/<pid>/status`)
//! and open descriptors (`/proc/<pid>/fd`) are sampled. Each operation is
//! retried on `429`/`5xx` the way Entra does (honouring `Retry-After`), and
//! every write the client meant to make is kept in a ledger. Writes to one
//! user or group are serialized (as Entra does per object), so the ledger
//! knows the exact final state the backend must hold. At the end the backend's
//! own state is read directly and compared with the ledger.
//!
//! Exit status 0 only when: no unexpected 5xx (a bridge `5xx` not explained by
//! an injected backend fault), no unexpected 4xx or transport error, no lost,
//! doubled or stale write, RSS growth after warm-up (the first sample at or
//! after `--warmup-secs`: 300 for runs of 10 minutes or more, else 60) below
//! `--max-rss-growth`, and descriptors at the end no more than `--fd-slack`
//! above the warm-up sample. Five minutes because at these rates the bridge's
//! resident memory takes about four to level off (docs/robustness.md); the report also
//! gives the growth from 60 s and the RSS trend after the warm-up (least
//! squares, kB/min), which is what shows a leak. Loopback only; the run
//! stops by itself.

#[path = "legacy_peripass/backend.rs"]
mod backend;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

const TOKEN: &str = "soak-test-token-0123456789";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Attempts per operation (the first plus retries) before the client gives up.
const MAX_ATTEMPTS: u32 = 12;
/// Longest single request before the client counts a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the operations still running when the schedule ends.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

struct Args {
    minutes: u64,
    rate: u64,
    seed_users: usize,
    teams: usize,
    latency_ms: u64,
    fail_rate: f64,
    rate_limit_rate: f64,
    seed: u64,
    max_in_flight: usize,
    max_rss_growth: f64,
    /// Seconds before the RSS baseline (None: 300 for runs of 10 minutes or
    /// more, 60 for shorter ones).
    warmup_secs: Option<u64>,
    fd_slack: i64,
    bin: PathBuf,
    steady: bool,
}

const USAGE: &str = "usage: cargo run --release --example soak -- [--minutes N] [--rate N] [--seed-users N] [--teams N] [--latency-ms N] [--fail-rate F] [--rate-limit-rate F] [--seed N] [--max-in-flight N] [--max-rss-growth P] [--warmup-secs S] [--fd-slack N] [--bin PATH] [--steady]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        minutes: 30,
        rate: 500,
        seed_users: 1000,
        teams: 100,
        latency_ms: 20,
        fail_rate: 0.05,
        rate_limit_rate: 0.02,
        seed: 1,
        max_in_flight: 4096,
        max_rss_growth: 5.0,
        warmup_secs: None,
        fd_slack: 64,
        bin: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/scim-bridge"),
        steady: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if flag == "--steady" {
            a.steady = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |lo: u64, hi: u64| -> Result<u64, String> {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(|| format!("{flag} expects a whole number in {lo}..={hi}"))
        };
        let frac = || -> Result<f64, String> {
            value
                .parse::<f64>()
                .ok()
                .filter(|f| (0.0..=1.0).contains(f))
                .ok_or_else(|| format!("{flag} expects a number in 0..=1"))
        };
        match flag.as_str() {
            "--minutes" => a.minutes = num(1, 240)?,
            "--rate" => a.rate = num(1, 5000)?,
            "--seed-users" => a.seed_users = num(10, 200_000)? as usize,
            "--teams" => a.teams = num(1, 1000)? as usize,
            "--latency-ms" => a.latency_ms = num(0, 5000)?,
            "--fail-rate" => a.fail_rate = frac()?,
            "--rate-limit-rate" => a.rate_limit_rate = frac()?,
            "--seed" => a.seed = num(0, u64::MAX)?,
            "--max-in-flight" => a.max_in_flight = num(1, 100_000)? as usize,
            "--max-rss-growth" => {
                a.max_rss_growth = value
                    .parse()
                    .map_err(|_| "--max-rss-growth expects a number".to_string())?
            }
            "--fd-slack" => a.fd_slack = num(0, 100_000)? as i64,
            "--warmup-secs" => a.warmup_secs = Some(num(0, 14_400)?),
            "--bin" => a.bin = PathBuf::from(value),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

// ---------------------------------------------------------------------------
// Randomness (deterministic per operation: the run is reproducible by --seed)
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

// ---------------------------------------------------------------------------
// Ledger
// ---------------------------------------------------------------------------

/// What the backend must hold for one user once every confirmed write landed.
#[derive(Clone, Debug, PartialEq)]
struct UserState {
    display_name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    active: bool,
    email: Option<String>,
    mobile: Option<String>,
}

impl UserState {
    /// Reads the backend's record (Peripass field names).
    fn from_backend(record: &Value) -> UserState {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        UserState {
            display_name: s(record.get("displayName")),
            first_name: s(record.get("firstName")),
            last_name: s(record.get("lastName")),
            active: record.get("status").and_then(Value::as_str) == Some("ACTIVE"),
            email: s(record.pointer("/contact/email")),
            mobile: s(record.pointer("/contact/mobile")),
        }
    }
}

struct UserEntry {
    /// The SCIM id (the backend's userId).
    id: u64,
    login: String,
    state: Arc<tokio::sync::Mutex<UserLedger>>,
}

struct UserLedger {
    expected: UserState,
    /// A write whose outcome the client never learned (it gave up): the
    /// entry is then reported, not verified field by field.
    uncertain: bool,
    writes: u64,
    /// Deleted by the soak (`--steady`): never picked again, and checked to
    /// be gone at the end (with `uncertain`, the delete's outcome is unknown).
    deleted: bool,
}

struct GroupEntry {
    id: String,
    name: String,
    state: Arc<tokio::sync::Mutex<GroupLedger>>,
}

struct GroupLedger {
    members: BTreeSet<u64>,
    uncertain: bool,
    writes: u64,
    /// Members at the start (`--steady` keeps the size within 20 of it).
    start_size: usize,
}

/// How far a group may drift from its starting size under `--steady`.
const STEADY_BAND: usize = 20;

#[derive(Default)]
struct Counters {
    by_status: Mutex<BTreeMap<u16, u64>>,
    /// (status, detail) of answers no injected fault explains.
    unexpected: Mutex<BTreeMap<String, u64>>,
    unexpected_5xx: AtomicU64,
    unexpected_4xx: AtomicU64,
    transport_errors: AtomicU64,
    /// Each transport error's text, with how often it came, when (seconds
    /// into the run) and on which request it was first seen: a failed soak
    /// says what failed.
    transport_detail: Mutex<BTreeMap<String, (u64, f64, String)>>,
    explained_5xx: AtomicU64,
    explained_429: AtomicU64,
    retries: AtomicU64,
    gave_up: AtomicU64,
    ops_done: AtomicU64,
    ops_skipped: AtomicU64,
    writes_intended: AtomicU64,
    writes_confirmed: AtomicU64,
    stale_reads: AtomicU64,
    read_mismatches: AtomicU64,
    creates_after_409: AtomicU64,
    /// Operations dropped because every object picked was busy.
    busy_skips: AtomicU64,
    deletes_confirmed: AtomicU64,
    /// Deletes answered 404 after a retry (an earlier attempt was applied).
    deletes_after_404: AtomicU64,
    /// `--steady` creates that found no idle pool user to delete.
    unbalanced_creates: AtomicU64,
}

struct Ctx {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    users: RwLock<Vec<Arc<UserEntry>>>,
    groups: Vec<Arc<GroupEntry>>,
    counters: Counters,
    run_tag: String,
    next_login: AtomicU64,
    /// Creates whose outcome the client never learned (it gave up).
    uncertain_creates: AtomicU64,
    /// `--steady`: users are deleted, groups stay within their band.
    steady: bool,
    /// The first `seed_users` entries of `users` are the seeded users
    /// (ids 1..=seed_users); the soak's own users follow.
    seed_users: usize,
    /// Users the soak deleted (kept for the final check).
    deleted: Mutex<Vec<Arc<UserEntry>>>,
    /// When the context was made (the times in the report count from it).
    started: Instant,
}

struct Answer {
    status: u16,
    body: Value,
    /// Requests sent for this answer (1 when the first attempt answered).
    attempts: u32,
}

/// Is this bridge answer the visible effect of an injected backend fault
/// (a backend 503 or 429, or the bridge's pause after a backend 429)?
fn explained_by_fault(status: u16, body: &Value) -> bool {
    let detail = body
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match status {
        503 => {
            detail.contains("temporarily unavailable")
                || detail.contains("rate limiting")
                || detail.contains("busy")
        }
        429 => detail.contains("rate limiting"),
        _ => false,
    }
}

/// An error with its sources (`client error (SendRequest): connection
/// closed before message completed`, not only the first part).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Ctx {
    /// Counts a transport error and keeps what it said.
    fn transport_error(&self, request: String, error: String) {
        self.counters
            .transport_errors
            .fetch_add(1, Ordering::Relaxed);
        let at = self.started.elapsed().as_secs_f64();
        let mut detail = self.counters.transport_detail.lock().unwrap();
        detail.entry(error).or_insert((0, at, request)).0 += 1;
    }

    /// Sends one request, retrying as Entra does: `429` and `5xx` (after
    /// `Retry-After`, capped at 5 s) and transport errors; anything else is
    /// returned. `None` when every attempt failed.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<Answer> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            let req = http::Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.base))
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/scim+json; charset=utf-8")
                .body(Full::new(Bytes::from(
                    body.map(Value::to_string).unwrap_or_default(),
                )))
                .expect("valid request");
            let sent = tokio::time::timeout(REQUEST_TIMEOUT, async {
                let resp = self.client.request(req).await.map_err(|e| chain(&e))?;
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let bytes = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| chain(&e))?
                    .to_bytes();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                Ok::<_, String>((status, retry_after, body))
            })
            .await;
            let sent =
                sent.unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")));
            let (status, retry_after, body) = match sent {
                Ok(x) => x,
                Err(e) => {
                    self.transport_error(format!("{method} {path}"), e);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            *self
                .counters
                .by_status
                .lock()
                .unwrap()
                .entry(status)
                .or_default() += 1;
            if status == 429 || status >= 500 {
                if explained_by_fault(status, &body) {
                    let c = if status == 429 {
                        &self.counters.explained_429
                    } else {
                        &self.counters.explained_5xx
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                } else {
                    if status >= 500 {
                        self.counters.unexpected_5xx.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.counters.unexpected_4xx.fetch_add(1, Ordering::Relaxed);
                    }
                    self.note_unexpected(method, path, status, &body);
                }
                let wait = retry_after.unwrap_or(1).clamp(1, 5);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            return Some(Answer {
                status,
                body,
                attempts: attempt + 1,
            });
        }
        self.counters.gave_up.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn note_unexpected(&self, method: &str, path: &str, status: u16, body: &Value) {
        let what = path.split(['?', '/']).nth(1).unwrap_or_default();
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("(no SCIM detail)");
        let key = format!("{status} {method} /{what}: {detail}");
        *self
            .counters
            .unexpected
            .lock()
            .unwrap()
            .entry(key)
            .or_default() += 1;
    }

    /// Counts an answer the operation did not expect (a 4xx or odd 2xx).
    fn unexpected_answer(&self, method: &str, path: &str, a: &Answer) {
        if a.status >= 500 {
            self.counters.unexpected_5xx.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.unexpected_4xx.fetch_add(1, Ordering::Relaxed);
        }
        self.note_unexpected(method, path, a.status, &a.body);
    }

    /// A user no other operation is working on (Entra handles one object
    /// at a time); `None` (counted) when several picks were all busy.
    fn idle_user(
        &self,
        rng: &mut Rng,
    ) -> Option<(Arc<UserEntry>, tokio::sync::OwnedMutexGuard<UserLedger>)> {
        for _ in 0..8 {
            let u = self.random_user(rng);
            if let Ok(g) = u.state.clone().try_lock_owned() {
                // Deleted while this pick waited for the lock.
                if !g.deleted {
                    return Some((u, g));
                }
            }
        }
        self.counters.busy_skips.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn idle_group(
        &self,
        rng: &mut Rng,
    ) -> Option<(Arc<GroupEntry>, tokio::sync::OwnedMutexGuard<GroupLedger>)> {
        for _ in 0..8 {
            let g = self.groups[rng.below(self.groups.len())].clone();
            if let Ok(l) = g.state.clone().try_lock_owned() {
                return Some((g, l));
            }
        }
        self.counters.busy_skips.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn random_user(&self, rng: &mut Rng) -> Arc<UserEntry> {
        let users = self.users.read().unwrap();
        users[rng.below(users.len())].clone()
    }
}

fn load_u(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn patch_body(ops: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_URN], "Operations": ops})
}

fn filter_query(attr: &str, value: &str) -> String {
    // Entra encodes spaces as '+'.
    let f = format!("{attr} eq \"{value}\"");
    let enc: String = percent_encoding::utf8_percent_encode(&f, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%20", "+");
    enc
}

// ---------------------------------------------------------------------------
// Operations (Entra's mix)
// ---------------------------------------------------------------------------

async fn op_filter_user(ctx: &Ctx, rng: &mut Rng) {
    // Under --steady users are deleted: the one looked up is held, so no
    // delete runs on it meanwhile.
    let mut _held = None;
    let (login, want) = if rng.chance(20) {
        // Test Connection / a user not provisioned yet.
        (format!("{:016x}@absent.example.com", rng.next()), 0)
    } else if ctx.steady {
        let Some((user, ledger)) = ctx.idle_user(rng) else {
            return;
        };
        _held = Some(ledger);
        (user.login.clone(), 1)
    } else {
        (ctx.random_user(rng).login.clone(), 1)
    };
    let path = format!("/Users?filter={}", filter_query("userName", &login));
    if let Some(a) = ctx.call("GET", &path, None).await {
        let total = a.body.get("totalResults").and_then(Value::as_u64);
        if a.status != 200 {
            ctx.unexpected_answer("GET", &path, &a);
        } else if total != Some(want) {
            ctx.counters.read_mismatches.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn op_get_user(ctx: &Ctx, rng: &mut Rng) {
    let Some((user, ledger)) = ctx.idle_user(rng) else {
        return;
    };
    let path = format!("/Users/{}", user.id);
    if let Some(a) = ctx.call("GET", &path, None).await {
        if a.status != 200 {
            ctx.unexpected_answer("GET", &path, &a);
        } else if !ledger.uncertain {
            let got = a.body.get("displayName").and_then(Value::as_str);
            if got != ledger.expected.display_name.as_deref() {
                ctx.counters.stale_reads.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn op_patch_user(ctx: &Ctx, rng: &mut Rng, n: u64) {
    let Some((user, mut ledger)) = ctx.idle_user(rng) else {
        return;
    };
    let mut next = ledger.expected.clone();
    let mut ops = Vec::new();
    let tag = format!("{}-{n}", ctx.run_tag);
    for _ in 0..1 + rng.below(3) {
        match rng.below(7) {
            0 => {
                let v = format!("Soak User {tag}");
                ops.push(json!({"op": "Replace", "path": "displayName", "value": v}));
                next.display_name = Some(v);
            }
            1 => {
                let v = format!("Given{tag}");
                ops.push(json!({"op": "Replace", "path": "name.givenName", "value": v}));
                next.first_name = Some(v);
            }
            2 => {
                let v = format!("Family{tag}");
                ops.push(json!({"op": "Replace", "path": "name.familyName", "value": v}));
                next.last_name = Some(v);
            }
            3 => {
                // Both shapes Entra sends: "False"/"True" strings and booleans.
                let active = !ledger.expected.active || rng.chance(30);
                let value = if rng.chance(50) {
                    json!(if active { "True" } else { "False" })
                } else {
                    json!(active)
                };
                ops.push(json!({"op": "Replace", "path": "active", "value": value}));
                next.active = active;
            }
            4 => {
                let v = format!("mail-{tag}@contoso.example");
                ops.push(
                    json!({"op": "Replace", "path": "emails[type eq \"work\"].value", "value": v}),
                );
                next.email = Some(v);
            }
            5 => {
                let v = format!("+32 470 {:06}", rng.next() % 1_000_000);
                ops.push(json!({"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": v}));
                next.mobile = Some(v);
            }
            _ => {
                // Path-less replace with dotted keys (aadOptscim062020).
                let (d, g) = (format!("Dotted {tag}"), format!("G{tag}"));
                ops.push(
                    json!({"op": "replace", "value": {"displayName": d, "name.givenName": g}}),
                );
                next.display_name = Some(d);
                next.first_name = Some(g);
            }
        }
    }
    ctx.counters.writes_intended.fetch_add(1, Ordering::Relaxed);
    let path = format!("/Users/{}", user.id);
    // Until a definite answer the outcome is unknown (also if the run ends
    // and this operation is dropped mid-way).
    let was_uncertain = std::mem::replace(&mut ledger.uncertain, true);
    let answer = ctx.call("PATCH", &path, Some(&patch_body(ops))).await;
    if answer.is_some() {
        ledger.uncertain = was_uncertain;
    }
    match answer {
        Some(a) if a.status == 200 || a.status == 204 => {
            ledger.expected = next;
            ledger.writes += 1;
            ctx.counters
                .writes_confirmed
                .fetch_add(1, Ordering::Relaxed);
        }
        Some(a) => {
            // A definite refusal: nothing may have changed.
            ctx.unexpected_answer("PATCH", &path, &a);
        }
        None => {}
    }
}

async fn op_create_user(ctx: &Ctx, rng: &mut Rng) {
    let created = create_user(ctx, rng).await;
    if !ctx.steady {
        return;
    }
    // --steady: each create is balanced by deleting another pool user.
    let balanced = match created {
        Some(new) => delete_pool_user(ctx, rng, new.id).await,
        // Nothing created (a definite refusal, counted as unexpected), or an
        // unknown outcome (counted as uncertain).
        None => true,
    };
    if !balanced {
        ctx.counters
            .unbalanced_creates
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Entra's match-then-create; the new user once the create is confirmed.
async fn create_user(ctx: &Ctx, rng: &mut Rng) -> Option<Arc<UserEntry>> {
    let k = ctx.next_login.fetch_add(1, Ordering::Relaxed);
    let login = format!("soak-{}-{k}@contoso.example", ctx.run_tag);
    // Entra matches first; 0 results → POST.
    let q = format!("/Users?filter={}", filter_query("userName", &login));
    match ctx.call("GET", &q, None).await {
        Some(a) if a.status == 200 => {
            if a.body.get("totalResults").and_then(Value::as_u64) != Some(0) {
                ctx.counters.read_mismatches.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        Some(a) => {
            ctx.unexpected_answer("GET", &q, &a);
            return None;
        }
        None => return None,
    }
    let state = UserState {
        display_name: Some(format!("New {k}")),
        first_name: Some(format!("New{k}")),
        last_name: Some(format!("Soak{k}")),
        active: rng.chance(90),
        email: Some(login.clone()),
        mobile: rng
            .chance(50)
            .then(|| format!("+32 470 {:06}", rng.next() % 1_000_000)),
    };
    let mut body = json!({
        "schemas": [USER_URN],
        "externalId": format!("ext-{}-{k}", ctx.run_tag),
        "userName": login,
        "active": state.active,
        "displayName": state.display_name,
        "name": {"givenName": state.first_name, "familyName": state.last_name,
                 "formatted": format!("New{k} Soak{k}")},
        "emails": [{"primary": true, "type": "work", "value": login}],
        "meta": {"resourceType": "User"},
        "roles": []
    });
    if let Some(m) = &state.mobile {
        body["phoneNumbers"] = json!([{"type": "mobile", "value": m}]);
    }
    ctx.counters.writes_intended.fetch_add(1, Ordering::Relaxed);
    let id = match ctx.call("POST", "/Users", Some(&body)).await {
        Some(a) if a.status == 201 => a.body.get("id").and_then(Value::as_str).map(str::to_string),
        Some(a) if a.status == 409 => {
            // Only possible if an earlier attempt of this POST was applied.
            ctx.counters
                .creates_after_409
                .fetch_add(1, Ordering::Relaxed);
            match ctx.call("GET", &q, None).await {
                Some(r) if r.status == 200 => r
                    .body
                    .pointer("/Resources/0/id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            }
        }
        Some(a) => {
            ctx.unexpected_answer("POST", "/Users", &a);
            return None;
        }
        None => {
            // Unknown outcome: the user may or may not exist; only counted.
            ctx.uncertain_creates.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    };
    let Some(id) = id.and_then(|s| s.parse::<u64>().ok()) else {
        ctx.counters.read_mismatches.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    ctx.counters
        .writes_confirmed
        .fetch_add(1, Ordering::Relaxed);
    let user = Arc::new(UserEntry {
        id,
        login,
        state: Arc::new(tokio::sync::Mutex::new(UserLedger {
            expected: state,
            uncertain: false,
            writes: 1,
            deleted: false,
        })),
    });
    ctx.users.write().unwrap().push(user.clone());
    Some(user)
}

/// `--steady`: hard-deletes an idle user the soak created (never `except`,
/// never a seeded one). False when none was deleted for certain or
/// possibly (every pick busy, or a definite refusal).
async fn delete_pool_user(ctx: &Ctx, rng: &mut Rng, except: u64) -> bool {
    let mut picked = None;
    for _ in 0..8 {
        let u = {
            let users = ctx.users.read().unwrap();
            let pool = users.len() - ctx.seed_users;
            if pool == 0 {
                break;
            }
            users[ctx.seed_users + rng.below(pool)].clone()
        };
        if u.id == except {
            continue;
        }
        if let Ok(g) = u.state.clone().try_lock_owned() {
            if !g.deleted {
                picked = Some((u, g));
                break;
            }
        }
    }
    let Some((user, mut ledger)) = picked else {
        ctx.counters.busy_skips.fetch_add(1, Ordering::Relaxed);
        return false;
    };
    ctx.counters.writes_intended.fetch_add(1, Ordering::Relaxed);
    let path = format!("/Users/{}", user.id);
    let was_uncertain = std::mem::replace(&mut ledger.uncertain, true);
    let answer = ctx.call("DELETE", &path, None).await;
    match answer {
        Some(a) if a.status == 204 || a.status == 200 || (a.status == 404 && a.attempts > 1) => {
            if a.status == 404 {
                // Only expected if an earlier attempt of this DELETE was applied.
                ctx.counters
                    .deletes_after_404
                    .fetch_add(1, Ordering::Relaxed);
            }
            ledger.uncertain = was_uncertain;
            ctx.counters
                .writes_confirmed
                .fetch_add(1, Ordering::Relaxed);
            ctx.counters
                .deletes_confirmed
                .fetch_add(1, Ordering::Relaxed);
        }
        Some(a) => {
            // A definite refusal: the user is still there.
            ledger.uncertain = was_uncertain;
            ctx.unexpected_answer("DELETE", &path, &a);
            return false;
        }
        // Unknown outcome: the user may or may not exist; it stays uncertain
        // and is never picked again.
        None => {}
    }
    ledger.deleted = true;
    {
        let mut users = ctx.users.write().unwrap();
        if let Some(i) = users[ctx.seed_users..].iter().position(|u| u.id == user.id) {
            // The seeded users stay in front: only pool entries move.
            users.swap_remove(ctx.seed_users + i);
        }
    }
    ctx.deleted.lock().unwrap().push(user);
    true
}

async fn op_group_members(ctx: &Ctx, rng: &mut Rng, add: bool) {
    let Some((group, mut ledger)) = ctx.idle_group(rng) else {
        return;
    };
    let mut chosen = BTreeSet::new();
    if ctx.steady {
        // Adds and removes alike (the caller tosses the coin), 1-3 members,
        // the size kept within STEADY_BAND of the start; members are seeded
        // users only, which are never deleted.
        let add = if ledger.members.len() > ledger.start_size + STEADY_BAND {
            false
        } else if ledger.members.len() + STEADY_BAND < ledger.start_size {
            true
        } else {
            add
        };
        let current: Vec<u64> = ledger.members.iter().copied().collect();
        for _ in 0..1 + rng.below(3) {
            if add {
                let id = 1 + rng.below(ctx.seed_users) as u64;
                if !ledger.members.contains(&id) {
                    chosen.insert(id);
                }
            } else if !current.is_empty() {
                chosen.insert(current[rng.below(current.len())]);
            }
        }
        return patch_members(ctx, rng, &group, &mut ledger, add, chosen).await;
    }
    if add {
        for _ in 0..1 + rng.below(5) {
            let u = ctx.random_user(rng);
            if u.id != 0 && !ledger.members.contains(&u.id) {
                chosen.insert(u.id);
            }
        }
    } else {
        let current: Vec<u64> = ledger.members.iter().copied().collect();
        for _ in 0..1 + rng.below(3) {
            if !current.is_empty() {
                chosen.insert(current[rng.below(current.len())]);
            }
        }
    }
    patch_members(ctx, rng, &group, &mut ledger, add, chosen).await;
}

async fn patch_members(
    ctx: &Ctx,
    rng: &mut Rng,
    group: &GroupEntry,
    ledger: &mut GroupLedger,
    add: bool,
    chosen: BTreeSet<u64>,
) {
    if chosen.is_empty() {
        return;
    }
    let values: Vec<Value> = chosen
        .iter()
        .map(|id| json!({"$ref": null, "value": id.to_string()}))
        .collect();
    let op = if add {
        json!({"op": "Add", "path": "members", "value": values})
    } else if chosen.len() == 1 && rng.chance(50) {
        let id = chosen.iter().next().copied().unwrap_or_default();
        json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})
    } else {
        json!({"op": "Remove", "path": "members", "value": values})
    };
    ctx.counters.writes_intended.fetch_add(1, Ordering::Relaxed);
    let path = format!("/Groups/{}", group.id);
    let was_uncertain = std::mem::replace(&mut ledger.uncertain, true);
    let answer = ctx.call("PATCH", &path, Some(&patch_body(vec![op]))).await;
    if answer.is_some() {
        ledger.uncertain = was_uncertain;
    }
    match answer {
        Some(a) if a.status == 200 || a.status == 204 => {
            for id in &chosen {
                if add {
                    ledger.members.insert(*id);
                } else {
                    ledger.members.remove(id);
                }
            }
            ledger.writes += 1;
            ctx.counters
                .writes_confirmed
                .fetch_add(1, Ordering::Relaxed);
        }
        Some(a) => ctx.unexpected_answer("PATCH", &path, &a),
        None => {}
    }
}

async fn op_filter_group(ctx: &Ctx, rng: &mut Rng) {
    let group = &ctx.groups[rng.below(ctx.groups.len())];
    let path = format!(
        "/Groups?excludedAttributes=members&filter={}",
        filter_query("displayName", &group.name)
    );
    if let Some(a) = ctx.call("GET", &path, None).await {
        if a.status != 200 {
            ctx.unexpected_answer("GET", &path, &a);
        } else if a.body.get("totalResults").and_then(Value::as_u64) != Some(1) {
            ctx.counters.read_mismatches.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn run_op(ctx: Arc<Ctx>, seed: u64, n: u64) {
    let mut rng = Rng::new(seed, n);
    match rng.below(100) {
        0..=24 => op_filter_user(&ctx, &mut rng).await,
        25..=39 => op_get_user(&ctx, &mut rng).await,
        40..=69 => op_patch_user(&ctx, &mut rng, n).await,
        70..=77 => op_create_user(&ctx, &mut rng).await,
        // --steady: adds and removes equally likely.
        78..=95 if ctx.steady => {
            let add = rng.chance(50);
            op_group_members(&ctx, &mut rng, add).await
        }
        78..=87 => op_group_members(&ctx, &mut rng, true).await,
        88..=95 => op_group_members(&ctx, &mut rng, false).await,
        _ => op_filter_group(&ctx, &mut rng).await,
    }
    ctx.counters.ops_done.fetch_add(1, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// The bridge process and its samples
// ---------------------------------------------------------------------------

/// Kills the bridge (our own child, by its handle) when dropped.
struct Bridge(Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Duration,
    rss_kb: u64,
    fds: u64,
}

/// RSS growth from `from` to `to`, in percent of `from`.
fn rss_growth(from: Sample, to: Sample) -> f64 {
    (to.rss_kb as f64 - from.rss_kb as f64) / from.rss_kb.max(1) as f64 * 100.0
}

fn sample(pid: u32, at: Duration) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample { at, rss_kb, fds })
}

/// `GET /ServiceProviderConfig` answers 200 (outside the counted requests).
async fn probe(ctx: &Ctx) -> bool {
    let req = http::Request::builder()
        .uri(format!("{}/ServiceProviderConfig", ctx.base))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ctx.client.request(req)).await,
        Ok(Ok(r)) if r.status() == http::StatusCode::OK
    )
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("soak: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match soak(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn soak(args: Args) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.bin.is_file(),
        "{} not found: build it first with `cargo build --release`",
        args.bin.display()
    );
    let legacy = backend::spawn(backend::Options {
        seed_users: args.seed_users,
        seed_teams: args.teams,
        seed_team_members: args.seed_users.min(50),
        latency_ms: args.latency_ms,
        ..Default::default()
    })
    .await?;
    // Seeded users are read straight from the backend before any fault is on.
    let mut users = Vec::with_capacity(args.seed_users);
    for id in 1..=args.seed_users as u64 {
        let record = legacy
            .user(id)
            .ok_or_else(|| anyhow::anyhow!("seeded user {id} missing"))?;
        users.push(Arc::new(UserEntry {
            id,
            login: record["login"].as_str().unwrap_or_default().to_string(),
            state: Arc::new(tokio::sync::Mutex::new(UserLedger {
                expected: UserState::from_backend(&record),
                uncertain: false,
                writes: 0,
                deleted: false,
            })),
        }));
    }
    let mut groups = Vec::with_capacity(args.teams);
    for n in 1..=args.teams {
        let id = format!("T-{n:04}");
        let team = legacy
            .team(&id)
            .ok_or_else(|| anyhow::anyhow!("seeded team {id} missing"))?;
        let members: BTreeSet<u64> = team["memberIds"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        groups.push(Arc::new(GroupEntry {
            id,
            name: team["name"].as_str().unwrap_or_default().to_string(),
            state: Arc::new(tokio::sync::Mutex::new(GroupLedger {
                start_size: members.len(),
                members,
                uncertain: false,
                writes: 0,
            })),
        }));
    }

    let port = free_port()?;
    let settings = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scim-bridge.toml");
    let log_path =
        std::env::temp_dir().join(format!("scim-bridge-soak-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path)?;
    let child = Command::new(&args.bin)
        .args(["serve", "--config"])
        .arg(&settings)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("PERIPASS_URL", legacy.base_url())
        .env("PERIPASS_API_KEY", legacy.api_key())
        .env("SCIM_BRIDGE_TOKEN", TOKEN)
        // A loopback test tool: its fixed token is allowed explicitly.
        .env("SCIM_BRIDGE__AUTH__INSECURE_ALLOW_WEAK_TOKENS", "true")
        .env("SCIM_BRIDGE__LOG__LEVEL", "error")
        .env("SCIM_BRIDGE__LOG__FORMAT", "json")
        // The soak's calls per second (a PATCH is two backend calls, a
        // membership change more) exceed the shipped cap of 100/s, and the
        // rate cap is not what is measured here. The concurrency cap stays
        // the shipped one (32): with 1,024, the calls released together
        // after a backend 429 pause opened up to ~270 backend connections,
        // kept idle in the pool, and the bridge's RSS followed that count.
        .env("SCIM_BRIDGE__BACKEND__MAX_RPS", "0")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let mut bridge = Bridge(child);
    let pid = bridge.0.id();
    let ctx = Arc::new(Ctx {
        client: Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http(),
        base: format!("http://127.0.0.1:{port}/scim/v2"),
        users: RwLock::new(users),
        groups,
        counters: Counters::default(),
        run_tag: format!("{:x}", args.seed),
        next_login: AtomicU64::new(1),
        uncertain_creates: AtomicU64::new(0),
        steady: args.steady,
        seed_users: args.seed_users,
        deleted: Mutex::default(),
        started: Instant::now(),
    });
    // Wait for the bridge to answer (faults are still off).
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        if probe(&ctx).await {
            break;
        }
        anyhow::ensure!(
            Instant::now() < ready_by,
            "the bridge did not come up (log: {})",
            log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if args.steady {
        // The pool the balancing deletes draw from, created (through the
        // bridge, faults still off) before the schedule starts.
        let pool = (args.seed_users / 10).max(1);
        let mut creates = tokio::task::JoinSet::new();
        for i in 0..pool as u64 {
            if creates.len() >= 32 {
                creates.join_next().await;
            }
            let (ctx, seed) = (ctx.clone(), args.seed);
            creates.spawn(async move {
                create_user(&ctx, &mut Rng::new(seed, u64::MAX - i)).await;
            });
        }
        while creates.join_next().await.is_some() {}
        let created = ctx.users.read().unwrap().len() - args.seed_users;
        anyhow::ensure!(
            created == pool,
            "--steady: only {created} of the {pool} pool users were created"
        );
    }
    let users_at_start = legacy.user_count();
    legacy.set_fail_rate(args.fail_rate);
    legacy.set_rate_limit_rate(args.rate_limit_rate);
    println!(
        "soak: {} min at {} ops/s; backend {} (latency {} ms, {:.0} % 503, {:.0} % 429), {} users, {} groups; bridge pid {pid} on 127.0.0.1:{port}, log {}",
        args.minutes,
        args.rate,
        legacy.base_url(),
        args.latency_ms,
        args.fail_rate * 100.0,
        args.rate_limit_rate * 100.0,
        users_at_start,
        args.teams,
        log_path.display()
    );
    if args.steady {
        println!(
            "steady: {} of those users created by the soak; each create deletes one of them",
            users_at_start - args.seed_users
        );
    }

    let started = Instant::now();
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    if let Some(s) = sample(pid, Duration::ZERO) {
        samples.lock().unwrap().push(s);
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight));
    let sampler = {
        let (samples, ctx, limit) = (samples.clone(), ctx.clone(), limit.clone());
        let max_in_flight = args.max_in_flight;
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + SAMPLE_EVERY, SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let at = started.elapsed();
                match sample(pid, at) {
                    Some(s) => {
                        println!(
                            "  {:>5.0}s  rss {:>7} kB  fds {:>4}  ops {:>8}  in flight {:>5}",
                            at.as_secs_f64(),
                            s.rss_kb,
                            s.fds,
                            ctx.counters.ops_done.load(Ordering::Relaxed),
                            max_in_flight - limit.available_permits()
                        );
                        samples.lock().unwrap().push(s);
                    }
                    None => {
                        println!("  {:>5.0}s  the bridge process is gone", at.as_secs_f64());
                        break;
                    }
                }
            }
        })
    };

    // The fixed-rate schedule.
    let total_ops = args.minutes * 60 * args.rate;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total_ops {
        let due = started + Duration::from_secs_f64(n as f64 / args.rate as f64);
        tokio::time::sleep_until(due.into()).await;
        if n % 4096 == 0 {
            // The backend records every request; keep the soak's own memory flat.
            legacy.clear_requests();
            while tasks.try_join_next().is_some() {}
        }
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            ctx.counters.ops_skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let ctx = ctx.clone();
        let seed = args.seed;
        tasks.spawn(async move {
            run_op(ctx, seed, n).await;
            drop(permit);
        });
    }
    let scheduled_for = started.elapsed();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    tasks.abort_all();
    sampler.abort();
    if let Some(s) = sample(pid, started.elapsed()) {
        samples.lock().unwrap().push(s);
    }
    let elapsed = started.elapsed();
    // Faults off before the verification reads (which go to the store directly anyway).
    legacy.set_fail_rate(0.0);
    legacy.set_rate_limit_rate(0.0);

    // ---------------------------------------------------------------------
    // Verification against the backend's own state
    // ---------------------------------------------------------------------
    let mut lost = Vec::new();
    let mut uncertain = 0usize;
    let mut user_writes = 0u64;
    let users: Vec<Arc<UserEntry>> = ctx.users.read().unwrap().clone();
    let mut known_ids = BTreeSet::new();
    for u in &users {
        let ledger = u.state.lock().await;
        user_writes += ledger.writes;
        if ledger.uncertain {
            uncertain += 1;
            continue;
        }
        known_ids.insert(u.id);
        match legacy.user(u.id) {
            None => lost.push(format!("user {} ({}) is missing", u.id, u.login)),
            Some(record) => {
                let got = UserState::from_backend(&record);
                if record["login"].as_str() != Some(u.login.as_str()) {
                    lost.push(format!(
                        "user {}: login {:?}, expected {:?}",
                        u.id, record["login"], u.login
                    ));
                }
                if got != ledger.expected {
                    lost.push(format!(
                        "user {}: backend {:?}, ledger {:?}",
                        u.id, got, ledger.expected
                    ));
                }
            }
        }
    }
    // Deleted users must be gone (a deleted user still there is a lost write).
    let deleted: Vec<Arc<UserEntry>> = ctx.deleted.lock().unwrap().clone();
    let mut uncertain_deletes = 0usize;
    for u in &deleted {
        let ledger = u.state.lock().await;
        user_writes += ledger.writes;
        if ledger.uncertain {
            uncertain += 1;
            uncertain_deletes += 1;
            continue;
        }
        known_ids.insert(u.id);
        if legacy.user(u.id).is_some() {
            lost.push(format!(
                "user {} ({}) was deleted but is still there",
                u.id, u.login
            ));
        }
    }
    let mut group_writes = 0u64;
    let (mut size_min, mut size_max) = (usize::MAX, 0usize);
    let mut out_of_band = Vec::new();
    for g in &ctx.groups {
        let ledger = g.state.lock().await;
        group_writes += ledger.writes;
        size_min = size_min.min(ledger.members.len());
        size_max = size_max.max(ledger.members.len());
        // At the band's edge one more change of up to 3 members is allowed.
        let slack = STEADY_BAND + 3;
        if ctx.steady
            && (ledger.members.len() > ledger.start_size + slack
                || ledger.members.len() + slack < ledger.start_size)
        {
            out_of_band.push(format!(
                "group {}: {} members, {} at the start",
                g.id,
                ledger.members.len(),
                ledger.start_size
            ));
        }
        if ledger.uncertain {
            uncertain += 1;
            continue;
        }
        match legacy.team(&g.id) {
            None => lost.push(format!("group {} is missing", g.id)),
            Some(team) => {
                let got: Vec<u64> = team["memberIds"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let got_set: BTreeSet<u64> = got.iter().copied().collect();
                if got_set != ledger.members || got.len() != got_set.len() {
                    let missing: Vec<_> = ledger.members.difference(&got_set).collect();
                    let extra: Vec<_> = got_set.difference(&ledger.members).collect();
                    lost.push(format!(
                        "group {}: members missing {missing:?}, unexpected {extra:?}",
                        g.id
                    ));
                }
            }
        }
    }
    // Doubled writes: more users than the ledger created (a create applied twice,
    // or a create the client never confirmed beyond the uncertain ones).
    let uncertain_creates = load_u(&ctx.uncertain_creates) as usize;
    uncertain += uncertain_creates;
    let expected_users = users.len();
    let backend_users = legacy.user_count();
    let mut doubled = Vec::new();
    if backend_users > expected_users + uncertain_creates + uncertain_deletes {
        doubled.push(format!(
            "the backend holds {backend_users} users, the ledger {expected_users}"
        ));
    } else if backend_users < expected_users {
        lost.push(format!(
            "the backend holds {backend_users} users, the ledger {expected_users}"
        ));
    }
    if legacy.team_count() != ctx.groups.len() {
        doubled.push(format!(
            "the backend holds {} teams, the ledger {}",
            legacy.team_count(),
            ctx.groups.len()
        ));
    }

    // ---------------------------------------------------------------------
    // Report
    // ---------------------------------------------------------------------
    let c = &ctx.counters;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let by_status = c.by_status.lock().unwrap().clone();
    let requests: u64 = by_status.values().sum();
    println!(
        "\nschedule: {total_ops} operations in {:.1?} (+{:.1?} to drain{}), {} done, {} skipped (more than {} in flight)",
        scheduled_for,
        elapsed.saturating_sub(scheduled_for),
        if drained { "" } else { ", NOT drained" },
        load(&c.ops_done),
        load(&c.ops_skipped),
        args.max_in_flight
    );
    println!(
        "requests: {requests} ({:.0}/s), retries {}, transport errors {}, operations given up {}",
        requests as f64 / elapsed.as_secs_f64().max(1.0),
        load(&c.retries),
        load(&c.transport_errors),
        load(&c.gave_up)
    );
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    println!("by status: {}", statuses.join(", "));
    println!(
        "explained by injected faults: {} x 503, {} x 429; unexpected 5xx: {}; unexpected 4xx: {}",
        load(&c.explained_5xx),
        load(&c.explained_429),
        load(&c.unexpected_5xx),
        load(&c.unexpected_4xx)
    );
    for (what, n) in c.unexpected.lock().unwrap().iter().take(15) {
        println!("  {n:>6} x {what}");
    }
    for (what, (n, at, first)) in c.transport_detail.lock().unwrap().iter().take(15) {
        println!("  {n:>6} x transport error: {what} (first at {at:.1}s: {first})");
    }
    println!(
        "writes: {} intended, {} confirmed ({} user, {} group, {} delete), {} with unknown outcome; creates answered 409 on retry: {}; deletes answered 404 on retry: {}; operations skipped on busy objects: {}",
        load(&c.writes_intended),
        load(&c.writes_confirmed),
        user_writes,
        group_writes,
        load(&c.deletes_confirmed),
        uncertain,
        load(&c.creates_after_409),
        load(&c.deletes_after_404),
        load(&c.busy_skips)
    );
    if ctx.steady {
        println!(
            "steady: backend users {users_at_start} at the start of the schedule, {backend_users} at the end ({} deleted, {} creates not balanced by a delete); group sizes {size_min}..={size_max} at the end",
            deleted.len(),
            load(&c.unbalanced_creates)
        );
        for o in out_of_band.iter().take(5) {
            println!("  {o}");
        }
    }
    println!(
        "verification: {} users and {} groups checked; lost writes {}, doubled writes {}, stale reads {}, read mismatches {}",
        known_ids.len(),
        ctx.groups.len(),
        lost.len(),
        doubled.len(),
        load(&c.stale_reads),
        load(&c.read_mismatches)
    );
    for l in lost.iter().chain(&doubled).take(10) {
        println!("  {l}");
    }
    let samples = samples.lock().unwrap().clone();
    let warmup = Duration::from_secs(
        args.warmup_secs
            .unwrap_or(if args.minutes >= 10 { 300 } else { 60 })
            .min(args.minutes * 60),
    );
    let at_or_after = |t: Duration| samples.iter().find(|s| s.at >= t).copied();
    let warm = at_or_after(warmup).or(samples.first().copied());
    let end = samples.last().copied();
    // The trend after the warm-up (least squares over every sample): a leak
    // shows as a steady slope, a working set that has filled up as none.
    let after: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.at >= warmup)
        .map(|s| (s.at.as_secs_f64() / 60.0, s.rss_kb as f64))
        .collect();
    if after.len() >= 3 {
        let n = after.len() as f64;
        let (mx, my) = (
            after.iter().map(|p| p.0).sum::<f64>() / n,
            after.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = after.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = after.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let (lo, hi) = after
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
        println!(
            "bridge RSS after warm-up: min {lo:.0} kB, max {hi:.0} kB, trend {slope:+.1} kB/min ({:+.2} % per hour of the mean)",
            slope * 60.0 / my.max(1.0) * 100.0
        );
    }
    if warmup > Duration::from_secs(60) {
        if let (Some(m), Some(e)) = (at_or_after(Duration::from_secs(60)), end) {
            println!(
                "bridge RSS from 60s: {} kB at {:.0}s, {} kB at the end: {:+.1} % (for comparison with runs measured from 60s)",
                m.rss_kb,
                m.at.as_secs_f64(),
                e.rss_kb,
                rss_growth(m, e)
            );
        }
    }
    let (fd_min, fd_max) = samples
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s.fds), hi.max(s.fds)));
    let mut ok = true;
    let mut fail = |what: String| {
        println!("FAILED: {what}");
        ok = false;
    };
    match (warm, end) {
        (Some(w), Some(e)) => {
            let growth = rss_growth(w, e);
            println!(
                "bridge RSS: {} kB at warm-up ({:.0}s), {} kB at the end ({:.0}s): {growth:+.1} %; fds min {fd_min}, max {fd_max} (warm-up {}, end {}); {} samples",
                w.rss_kb,
                w.at.as_secs_f64(),
                e.rss_kb,
                e.at.as_secs_f64(),
                w.fds,
                e.fds,
                samples.len()
            );
            if growth >= args.max_rss_growth {
                fail(format!(
                    "RSS grew {growth:.1} % after warm-up (limit {} %)",
                    args.max_rss_growth
                ));
            }
            if e.fds as i64 - w.fds as i64 > args.fd_slack {
                fail(format!(
                    "open descriptors grew from {} to {} (slack {})",
                    w.fds, e.fds, args.fd_slack
                ));
            }
        }
        _ => fail("no sample of the bridge process".to_string()),
    }
    if load(&c.unexpected_5xx) > 0 {
        fail(format!("{} unexpected 5xx", load(&c.unexpected_5xx)));
    }
    if load(&c.unexpected_4xx) > 0 {
        fail(format!("{} unexpected 4xx", load(&c.unexpected_4xx)));
    }
    if load(&c.transport_errors) > 0 {
        fail(format!("{} transport errors", load(&c.transport_errors)));
    }
    if !lost.is_empty() {
        fail(format!("{} lost writes", lost.len()));
    }
    if !doubled.is_empty() {
        fail(format!("{} doubled writes", doubled.len()));
    }
    if !out_of_band.is_empty() {
        fail(format!(
            "{} groups outside their band of {STEADY_BAND} members (--steady)",
            out_of_band.len()
        ));
    }
    if load(&c.stale_reads) + load(&c.read_mismatches) > 0 {
        fail(format!(
            "{} stale reads, {} read mismatches",
            load(&c.stale_reads),
            load(&c.read_mismatches)
        ));
    }
    if uncertain > 0 || load(&c.gave_up) > 0 {
        fail(format!(
            "{} operations given up after {MAX_ATTEMPTS} attempts ({uncertain} objects with an unknown write outcome)",
            load(&c.gave_up)
        ));
    }
    if load(&c.ops_skipped) > 0 || !drained {
        fail(format!(
            "the client could not keep the rate ({} operations skipped{})",
            load(&c.ops_skipped),
            if drained { "" } else { ", not drained" }
        ));
    }
    if let Ok(Some(code)) = bridge.0.try_wait() {
        fail(format!("the bridge exited early: {code}"));
    }
    drop(bridge);
    legacy.shutdown().await;
    // What the bridge logged at error level (informational: e.g. a membership
    // change whose undo also met an injected fault).
    let mut logged: BTreeMap<String, u64> = BTreeMap::new();
    for line in std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
    {
        let msg = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| {
                v.pointer("/fields/message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| line.chars().take(120).collect());
        *logged.entry(msg).or_default() += 1;
    }
    println!("bridge errors logged: {}", logged.values().sum::<u64>());
    for (msg, n) in logged.iter().take(10) {
        println!("  {n:>6} x {msg}");
    }
    println!("{}", if ok { "soak: PASSED" } else { "soak: FAILED" });
    if ok {
        let _ = std::fs::remove_file(&log_path);
    } else {
        println!("bridge log (errors only): {}", log_path.display());
    }
    Ok(ok)
}
