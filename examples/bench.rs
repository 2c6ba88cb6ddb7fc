//! The performance bench: how close the bridge comes to a bare proxy hop.
//!
//!     cargo run --release --example bench -- [--concurrency 32] [--seconds 5] [--warmup 1]
//!         [--rounds 4] [--kinds get,filter,patch] [--targets backend,hop,bridge] [--rate 1000]
//!         [--users 1000] [--log-format pretty|json] [--bridge-bin target/release/scim-bridge]
//!
//! In one run, all on 127.0.0.1:0, it starts
//! - a **stub backend**: a fixed fast answerer of pre-rendered Peripass users for
//!   the routes the shipped mapping uses (`GET /api/v1/users/{id}`,
//!   `GET /api/v1/users?login=…`, `PUT /api/v1/users/{id}`), counting its calls;
//! - a **hop**: a minimal hyper pass-through proxy (a pooled hyper-util client
//!   forwarding each request to the stub unchanged, nothing else) — the limit a
//!   translating proxy can approach;
//! - the **bridge**, in this process through the crate's public API, with the
//!   shipped settings and mapping, the backend rate cap lifted and default
//!   logging on (`info`: one line per request, formatted and written to a sink
//!   that only counts lines).
//!
//! Hop and bridge run in the same runtime as the load, so each pays the same
//! overheads. Each target then gets the same closed-loop load: `--concurrency`
//! keep-alive connections, each sending its next request as soon as the last
//! answer is read, for `--warmup` + `--seconds` per request kind, the seconds cut
//! into `--rounds` slices that the targets take in turn (hop, bridge, hop,
//! bridge, …; 200 ms of warm-up before each later slice): the ratio is the
//! median of the rounds' ratios, each between two slices run one after the
//! other, so a shared machine slowing down part way falls on both. The bridge gets
//! SCIM requests (`GET /Users/{id}`, `GET /Users?filter=userName eq "…"`, a PATCH
//! mix as Entra sends it); the hop and the backend get the backend request each
//! of them turns into (the PATCH's PUT, i.e. one call where the bridge needs a
//! read and a write).
//!
//! `--rate R` adds an open-loop run at a steady R requests/s per kind (latency
//! counted from the scheduled send time, so queueing shows). `--bridge-bin`
//! also starts the real binary as a separate process (and this bench, as a hop,
//! in a separate process too, for a fair pair), and reports its start-to-first
//! `/healthz` time and its RSS idle, after the load and at peak.
//!
//! Everything stays on loopback; the run is bounded in time and stops by itself.
//! Absolute numbers depend on the machine: compare ratios, and compare runs made
//! on the same machine.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "bench-token-0123456789";
const API_KEY: &str = "bench-api-key";
const USAGE: &str = "\
usage: cargo run --release --example bench -- [FLAGS]

  --concurrency N       closed-loop connections per run (default 32); a comma list runs each (e.g. 32,1)
  --seconds S           measured seconds per target and request kind (default 5, max 120)
  --warmup S            unmeasured seconds before each run (default 1)
  --rounds N            slices the seconds are cut into, the targets taking turns; the ratio is
                        the median of the rounds' (default 4; the README's runs use --seconds 8
                        --rounds 8: a 1 s slice on a shared machine can read 0.5 or 1.1)
  --rate R              also run open-loop at a steady R requests/s per kind (default off)
  --kinds LIST          request kinds, from get,filter,patch (default all three)
  --targets LIST        from backend,hop,bridge,hop-proc,bridge-proc (default all; the last two
                        only with --bridge-bin)
  --users N             distinct users the stub serves and the load cycles through (default 1000)
  --log-format F        bridge log format, pretty or json (default pretty, the shipped one)
  --bridge-bin PATH     also run the scim-bridge binary (and a hop) as separate processes:
                        startup time, RSS idle / after load / peak, and the same load
";

// ---------------------------------------------------------------------------
// Cost per request: allocations counted in this process, CPU time read from /proc
// ---------------------------------------------------------------------------

/// Heap allocations (and reallocations) made by this process so far.
static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// The allocator `scim-bridge` uses (jemalloc; the system allocator when
/// built without the `jemalloc` feature), counting every allocation:
/// the in-process rows report allocations per request (load generator and
/// stub included, the same for the hop and the bridge, so their difference
/// is the bridge's own).
struct CountingAlloc;

#[cfg(not(feature = "jemalloc"))]
use std::alloc::System as Inner;
#[cfg(feature = "jemalloc")]
use tikv_jemallocator::Jemalloc as Inner;

// SAFETY: every call is forwarded unchanged to the inner allocator.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        Inner.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        Inner.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        Inner.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        Inner.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// CPU time (user + system) a process has used, from `/proc/PID/stat`
/// (this process for `None`), in microseconds. The kernel counts in
/// USER_HZ = 100 ticks/s, so a run of a few seconds is exact to ~1 %.
fn cpu_micros(pid: Option<u32>) -> Option<u64> {
    let file = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(file).ok()?;
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000)
}

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Get,
    Filter,
    Patch,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Get => "GET /Users/{id}",
            Kind::Filter => "filter userName eq",
            Kind::Patch => "PATCH (replace)",
        }
    }
}

struct Args {
    concurrency: Vec<usize>,
    seconds: f64,
    warmup: f64,
    rate: Option<u32>,
    kinds: Vec<Kind>,
    /// None: backend, hop, bridge (and hop-proc, bridge-proc with --bridge-bin).
    targets: Option<Vec<String>>,
    users: usize,
    log_json: bool,
    bridge_bin: Option<PathBuf>,
    /// Closed-loop measurements are cut into this many slices per target,
    /// taken in turn (hop, bridge, hop, bridge, …).
    rounds: usize,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        concurrency: vec![32],
        seconds: 5.0,
        warmup: 1.0,
        rate: None,
        kinds: vec![Kind::Get, Kind::Filter, Kind::Patch],
        targets: None,
        users: 1000,
        log_json: false,
        bridge_bin: None,
        rounds: 4,
    };
    while let Some(flag) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let num = |name: &str, v: String| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{name} needs a number, not {v:?}"))
        };
        match flag.as_str() {
            "--concurrency" | "--connections" | "-c" => {
                let v = val("--concurrency")?;
                a.concurrency = v
                    .split(',')
                    .map(|c| num("--concurrency", c.to_string()).map(|n| (n as usize).clamp(1, 1024)))
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" | "-s" => {
                a.seconds = num("--seconds", val("--seconds")?)?.clamp(0.1, 120.0)
            }
            "--warmup" => a.warmup = num("--warmup", val("--warmup")?)?.min(30.0),
            "--rounds" => {
                a.rounds = (num("--rounds", val("--rounds")?)? as usize).clamp(1, 100)
            }
            "--rate" => {
                a.rate = Some((num("--rate", val("--rate")?)? as u32).clamp(1, 100_000))
            }
            "--users" => a.users = (num("--users", val("--users")?)? as usize).clamp(1, 100_000),
            "--kinds" => {
                a.kinds = val("--kinds")?
                    .split(',')
                    .map(|k| match k.trim() {
                        "get" => Ok(Kind::Get),
                        "filter" => Ok(Kind::Filter),
                        "patch" => Ok(Kind::Patch),
                        other => Err(format!("unknown kind {other:?} (get, filter, patch)")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--targets" => {
                a.targets = Some(
                    val("--targets")?
                        .split(',')
                        .map(|t| match t.trim() {
                            t @ ("backend" | "hop" | "bridge" | "hop-proc" | "bridge-proc") => {
                                Ok(t.to_string())
                            }
                            other => Err(format!(
                                "unknown target {other:?} (backend, hop, bridge, hop-proc, bridge-proc)"
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            "--log-format" => {
                a.log_json = match val("--log-format")?.as_str() {
                    "json" => true,
                    "pretty" => false,
                    other => return Err(format!("--log-format is pretty or json, not {other:?}")),
                }
            }
            "--bridge-bin" => a.bridge_bin = Some(PathBuf::from(val("--bridge-bin")?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

// ---------------------------------------------------------------------------
// The stub backend: pre-rendered Peripass answers, one counter
// ---------------------------------------------------------------------------

struct Stub {
    users: Vec<Bytes>,
    lists: Vec<Bytes>,
    empty_list: Bytes,
    not_found: Bytes,
    calls: AtomicU64,
    writes: AtomicU64,
}

fn login(n: usize) -> String {
    format!("user{n}@bench.example")
}

impl Stub {
    fn new(users: usize) -> Stub {
        let user = |n: usize| {
            serde_json::json!({
                "userId": n,
                "login": login(n),
                "firstName": format!("First{n}"),
                "lastName": format!("Last{n}"),
                "displayName": format!("First{n} Last{n}"),
                "contact": { "email": login(n), "mobile": "+32 470 12 34 56" },
                "language": "nl",
                "status": "ACTIVE",
                "externalRef": format!("0a3c5e2f-4b8e-4a5e-9b1c-{n:012}"),
                "role": "Operator",
                "createdAt": "2024-05-01T09:12:00Z",
                "updatedAt": "2024-05-03T16:40:12Z",
                "version": 3
            })
        };
        Stub {
            users: (1..=users)
                .map(|n| Bytes::from(user(n).to_string()))
                .collect(),
            lists: (1..=users)
                .map(|n| {
                    Bytes::from(
                        serde_json::json!({
                            "data": [user(n)],
                            "paging": { "page": 1, "pageSize": 50, "totalItems": 1 }
                        })
                        .to_string(),
                    )
                })
                .collect(),
            empty_list: Bytes::from_static(
                br#"{"data":[],"paging":{"page":1,"pageSize":50,"totalItems":0}}"#,
            ),
            not_found: Bytes::from_static(
                br#"{"error":{"code":"USER_NOT_FOUND","message":"no such user"}}"#,
            ),
            calls: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

    fn user_index(&self, id: &str) -> Option<usize> {
        let n: usize = id.parse().ok()?;
        (1..=self.users.len()).contains(&n).then_some(n - 1)
    }

    /// The `login=` query parameter, as the bench's logins encode it.
    fn login_index(&self, query: &str) -> Option<usize> {
        let v = query
            .split('&')
            .find_map(|p| p.strip_prefix("login="))?
            .replace("%40", "@");
        let n = v.strip_prefix("user")?.strip_suffix("@bench.example")?;
        self.user_index(n)
    }

    async fn answer(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let method = req.method().clone();
        let path = req.uri().path();
        let (status, body) = if let Some(id) = path.strip_prefix("/api/v1/users/") {
            match (self.user_index(id), &method) {
                (Some(i), &Method::GET) => (StatusCode::OK, self.users[i].clone()),
                (Some(i), &Method::PUT) => {
                    self.writes.fetch_add(1, Ordering::Relaxed);
                    let _ = req.into_body().collect().await;
                    (StatusCode::OK, self.users[i].clone())
                }
                _ => (StatusCode::NOT_FOUND, self.not_found.clone()),
            }
        } else if path == "/api/v1/users" && method == Method::GET {
            match self.login_index(req.uri().query().unwrap_or("")) {
                Some(i) => (StatusCode::OK, self.lists[i].clone()),
                None => (StatusCode::OK, self.empty_list.clone()),
            }
        } else {
            (StatusCode::NOT_FOUND, self.not_found.clone())
        };
        let mut resp = Response::new(Full::new(body));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}

async fn serve_stub(listener: TcpListener, stub: Arc<Stub>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stub = stub.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let stub = stub.clone();
                async move { Ok::<_, Infallible>(stub.answer(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------
// The hop: a minimal pass-through proxy
// ---------------------------------------------------------------------------

type HopBody = Either<Incoming, Full<Bytes>>;

async fn serve_hop(listener: TcpListener, backend: SocketAddr) {
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http();
    let authority: http::uri::Authority = backend.to_string().parse().expect("authority");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, authority) = (client.clone(), authority.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |mut req: Request<Incoming>| {
                let (client, authority) = (client.clone(), authority.clone());
                async move {
                    let mut parts = req.uri().clone().into_parts();
                    parts.scheme = Some(http::uri::Scheme::HTTP);
                    parts.authority = Some(authority);
                    *req.uri_mut() = http::Uri::from_parts(parts).expect("uri");
                    req.headers_mut().remove(HOST);
                    let resp: Response<HopBody> = match client.request(req).await {
                        Ok(r) => r.map(Either::Left),
                        Err(_) => {
                            let mut r = Response::new(Either::Right(Full::new(Bytes::new())));
                            *r.status_mut() = StatusCode::BAD_GATEWAY;
                            r
                        }
                    };
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------
// The bridge's log sink: formatting happens, the bytes are only counted
// ---------------------------------------------------------------------------

static LOG_LINES: AtomicU64 = AtomicU64::new(0);

struct LineCounter;

impl std::io::Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = buf.iter().filter(|b| **b == b'\n').count() as u64;
        LOG_LINES.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bridge_env(backend: SocketAddr) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("PERIPASS_URL".into(), format!("http://{backend}"));
    env.insert("PERIPASS_API_KEY".into(), API_KEY.into());
    env.insert("SCIM_BRIDGE_TOKEN".into(), TOKEN.into());
    // A published, short token: asked for explicitly (loopback only).
    env.insert(
        "SCIM_BRIDGE__AUTH__INSECURE_ALLOW_WEAK_TOKENS".into(),
        "true".into(),
    );
    // Measure the bridge, not its backend protection: no rate cap, room for every connection.
    env.insert("SCIM_BRIDGE__BACKEND__MAX_RPS".into(), "0".into());
    env.insert(
        "SCIM_BRIDGE__BACKEND__MAX_CONCURRENCY".into(),
        "4096".into(),
    );
    env
}

fn settings_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scim-bridge.toml")
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// SCIM requests, as Entra sends them (the bridge).
    Scim,
    /// The backend request each SCIM request becomes (the hop and the stub).
    Backend,
}

struct Target {
    name: String,
    addr: SocketAddr,
    style: Style,
    base_path: String,
    /// RSS is read from this process, when it is a separate one.
    pid: Option<u32>,
}

struct Bodies {
    put: Vec<Bytes>,
}

fn build_request(
    t: &Target,
    kind: Kind,
    n: u64,
    users: usize,
    bodies: &Bodies,
) -> Request<Full<Bytes>> {
    let u = (n as usize % users) + 1;
    let b = Request::builder().header(HOST, t.addr.to_string());
    let (b, body) = match (t.style, kind) {
        (Style::Scim, Kind::Get) => (
            b.method(Method::GET)
                .uri(format!("{}/Users/{u}", t.base_path)),
            Bytes::new(),
        ),
        (Style::Scim, Kind::Filter) => (
            b.method(Method::GET).uri(format!(
                "{}/Users?filter=userName+eq+%22user{u}%40bench.example%22",
                t.base_path
            )),
            Bytes::new(),
        ),
        (Style::Scim, Kind::Patch) => {
            // The shapes Entra sends, in rotation; every one changes the user
            // as the stub holds it (a no-op PATCH could skip the write).
            let op = match n % 3 {
                0 => format!(r#"{{"op":"Replace","path":"displayName","value":"Bench {n}"}}"#),
                1 => r#"{"op":"Replace","path":"active","value":"False"}"#.to_string(),
                _ => format!(
                    r#"{{"op":"replace","value":{{"displayName":"Bench {n}","name.givenName":"B{n}"}}}}"#
                ),
            };
            (
                b.method(Method::PATCH)
                    .uri(format!("{}/Users/{u}", t.base_path))
                    .header(CONTENT_TYPE, "application/scim+json"),
                Bytes::from(format!(
                    r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{op}]}}"#
                )),
            )
        }
        (Style::Backend, Kind::Get) => (
            b.method(Method::GET).uri(format!("/api/v1/users/{u}")),
            Bytes::new(),
        ),
        (Style::Backend, Kind::Filter) => (
            b.method(Method::GET).uri(format!(
                "/api/v1/users?login=user{u}%40bench.example&page=1&pageSize=50"
            )),
            Bytes::new(),
        ),
        (Style::Backend, Kind::Patch) => (
            b.method(Method::PUT)
                .uri(format!("/api/v1/users/{u}"))
                .header(CONTENT_TYPE, "application/json"),
            bodies.put[u - 1].clone(),
        ),
    };
    let b = match t.style {
        Style::Scim => b.header("authorization", format!("Bearer {TOKEN}")),
        Style::Backend => b.header("x-api-key", API_KEY),
    };
    b.body(Full::new(body)).expect("valid request")
}

#[derive(Default)]
struct Sample {
    latencies_ns: Vec<u64>,
    errors: u64,
    measured: Duration,
    /// Every request sent, warm-up included (all of them were answered).
    sent: u64,
}

impl Sample {
    fn merge(&mut self, o: Sample) {
        self.latencies_ns.extend(o.latencies_ns);
        self.errors += o.errors;
    }
    /// Another round's measurement of the same target and kind.
    fn add(&mut self, o: Sample) {
        self.measured += o.measured;
        self.sent += o.sent;
        self.merge(o);
        self.latencies_ns.sort_unstable();
    }
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies_ns.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies_ns.len() as f64 - 1.0) * p).round() as usize;
        Duration::from_nanos(self.latencies_ns[i.min(self.latencies_ns.len() - 1)])
    }
    fn rps(&self) -> f64 {
        self.latencies_ns.len() as f64 / self.measured.as_secs_f64().max(1e-9)
    }
}

/// At most this many latencies are kept per connection (memory bound).
const MAX_SAMPLES_PER_CONN: usize = 4_000_000;

/// Closed loop: `conns` connections, each sending its next request when the
/// last answer is read; only answers completed in the measured window count.
async fn closed_loop(
    t: &Target,
    kind: Kind,
    conns: usize,
    warmup: Duration,
    measure: Duration,
    users: usize,
    bodies: &Arc<Bodies>,
) -> anyhow::Result<Sample> {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (from, until) = (start + warmup, start + warmup + measure);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let stream = TcpStream::connect(t.addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let target = Target {
            name: t.name.clone(),
            addr: t.addr,
            style: t.style,
            base_path: t.base_path.clone(),
            pid: None,
        };
        let (counter, bodies) = (counter.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = Sample::default();
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let req = build_request(&target, kind, n, users, &bodies);
                if sender.ready().await.is_err() {
                    s.errors += 1;
                    break;
                }
                let ok = match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        resp.into_body().collect().await.is_ok() && status.is_success()
                    }
                    Err(_) => false,
                };
                let done = Instant::now();
                if done >= from && done < until {
                    if !ok {
                        s.errors += 1;
                    } else if s.latencies_ns.len() < MAX_SAMPLES_PER_CONN {
                        s.latencies_ns.push((done - sent).as_nanos() as u64);
                    }
                }
                if !ok && done >= until {
                    break;
                }
            }
            s
        }));
    }
    let mut all = Sample::default();
    for task in tasks {
        all.merge(task.await?);
    }
    all.measured = measure;
    all.sent = counter.load(Ordering::Relaxed);
    all.latencies_ns.sort_unstable();
    Ok(all)
}

/// Open loop: requests scheduled at a steady `rate`, latency counted from the
/// scheduled time (a late send is latency too), on a pooled client.
async fn open_loop(
    t: &Target,
    kind: Kind,
    rate: u32,
    warmup: Duration,
    measure: Duration,
    users: usize,
    bodies: &Arc<Bodies>,
) -> anyhow::Result<Sample> {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http();
    let limit = Arc::new(tokio::sync::Semaphore::new(2048));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, u64)>();
    let start = Instant::now();
    let total = ((warmup + measure).as_secs_f64() * rate as f64) as u64;
    let warm = (warmup.as_secs_f64() * rate as f64) as u64;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let target = Arc::new(Target {
        name: t.name.clone(),
        addr: t.addr,
        style: t.style,
        base_path: t.base_path.clone(),
        pid: None,
    });
    let uri_base = format!("http://{}", t.addr);
    // The schedule is kept by a thread of its own: std's sleep wakes within
    // tens of µs, tokio's timer only on its 1 ms ticks, which would put up
    // to 1 ms of the bench's own lateness into every latency.
    let (tick_tx, mut ticks) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let pacer = std::thread::spawn(move || {
        for n in 0..total {
            let due = start + period.mul_f64(n as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if tick_tx.send((n, due)).is_err() {
                break;
            }
        }
    });
    while let Some((n, due)) = ticks.recv().await {
        let permit = limit.clone().acquire_owned().await?;
        let (client, tx, target, bodies) =
            (client.clone(), tx.clone(), target.clone(), bodies.clone());
        let uri_base = uri_base.clone();
        tokio::spawn(async move {
            let mut req = build_request(&target, kind, n, users, &bodies);
            let full = format!("{uri_base}{}", req.uri());
            *req.uri_mut() = full.parse().expect("uri");
            let ok = match client.request(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    resp.into_body().collect().await.is_ok() && status.is_success()
                }
                Err(_) => false,
            };
            if n >= warm {
                let _ = tx.send((ok, due.elapsed().as_nanos() as u64));
            }
            drop(permit);
        });
    }
    let _ = pacer.join();
    drop(tx);
    let mut s = Sample::default();
    while let Some((ok, ns)) = rx.recv().await {
        if ok {
            s.latencies_ns.push(ns);
        } else {
            s.errors += 1;
        }
    }
    s.measured = measure;
    s.sent = total;
    s.latencies_ns.sort_unstable();
    Ok(s)
}

// ---------------------------------------------------------------------------
// Memory, startup
// ---------------------------------------------------------------------------

fn status_kib(pid: Option<u32>, key: &str) -> Option<u64> {
    let file = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// Polls `GET /healthz` until it answers 200; the time it took.
async fn wait_healthy(addr: SocketAddr, since: Instant) -> anyhow::Result<Duration> {
    let deadline = since + Duration::from_secs(30);
    loop {
        if let Ok(stream) = TcpStream::connect(addr).await {
            if let Ok((mut sender, conn)) =
                hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await
            {
                tokio::spawn(conn);
                let req = Request::get("/healthz")
                    .header(HOST, addr.to_string())
                    .body(Full::new(Bytes::new()))?;
                if let Ok(r) = sender.send_request(req).await {
                    if r.status() == StatusCode::OK {
                        return Ok(since.elapsed());
                    }
                }
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("{addr} did not answer /healthz within 30 s");
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Kills the child when dropped (the bench never leaves a process behind).
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

struct Row {
    target: String,
    kind: Kind,
    mode: String,
    sample: Sample,
    backend_calls: u64,
    log_lines: Option<u64>,
    /// CPU time of the target's process during the run (in process: the
    /// whole bench, load generator and stub included).
    cpu_micros: Option<u64>,
    /// Allocations in this process during the run (in-process targets only).
    allocs: Option<u64>,
    /// Requests per second in each round, in the order they ran.
    round_rps: Vec<f64>,
}

impl Row {
    fn cpu_per_req(&self) -> Option<f64> {
        self.cpu_micros
            .map(|c| c as f64 / self.sample.sent.max(1) as f64)
    }
    fn allocs_per_req(&self) -> Option<f64> {
        self.allocs
            .map(|a| a as f64 / self.sample.sent.max(1) as f64)
    }
}

fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("--serve-hop") {
        // Internal: this bench as a separate hop process (see --bridge-bin).
        argv.next();
        let listen: SocketAddr = argv.next().unwrap_or_default().parse()?;
        let backend: SocketAddr = argv.next().unwrap_or_default().parse()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return rt.block_on(async move {
            serve_hop(TcpListener::bind(listen).await?, backend).await;
            Ok(())
        });
    }
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench: {e}");
            }
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    // The same multi-threaded runtime `scim-bridge serve` builds, shared by
    // the load, the stub, the hop and the bridge.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let rss_start = status_kib(None, "VmRSS:");
    let stub = Arc::new(Stub::new(args.users));
    let bodies = Arc::new(Bodies {
        put: stub.users.clone(),
    });
    let stub_l = TcpListener::bind("127.0.0.1:0").await?;
    let stub_addr = stub_l.local_addr()?;
    tokio::spawn(serve_stub(stub_l, stub.clone()));

    let hop_l = TcpListener::bind("127.0.0.1:0").await?;
    let hop_addr = hop_l.local_addr()?;
    tokio::spawn(serve_hop(hop_l, stub_addr));

    // The bridge, in process, with the shipped settings and mapping.
    let format = if args.log_json {
        scim_bridge::config::LogFormat::Json
    } else {
        scim_bridge::config::LogFormat::Pretty
    };
    let started = Instant::now();
    let env = bridge_env(stub_addr);
    let (settings, plan) = scim_bridge::load(&settings_file(), Some(env.clone()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let log_level = settings.log_level.clone();
    // Without colours whatever this process's standard output is: the
    // lines go to a counter, as `serve`'s go to a pipe or a file.
    let sub = scim_bridge::logging::subscriber(format, &log_level, || LineCounter, false);
    tracing::subscriber::set_global_default(sub)?;
    let bridge_l = TcpListener::bind("127.0.0.1:0").await?;
    let bridge_addr = bridge_l.local_addr()?;
    let base_path = settings.base_path.clone();
    let state = Arc::new(scim_bridge::AppState::new(settings, plan).with_env(Some(env.clone())));
    let stop = Arc::new(tokio::sync::Notify::new());
    let stop_rx = stop.clone();
    let server = tokio::spawn(scim_bridge::run(bridge_l, state, async move {
        stop_rx.notified().await
    }));
    let inproc_start = wait_healthy(bridge_addr, started).await?;
    let rss_idle = status_kib(None, "VmRSS:");

    let mut targets = Vec::new();
    for t in ["backend", "hop", "bridge"] {
        targets.push(match t {
            "backend" => Target {
                name: "backend".into(),
                addr: stub_addr,
                style: Style::Backend,
                base_path: String::new(),
                pid: None,
            },
            "hop" => Target {
                name: "hop".into(),
                addr: hop_addr,
                style: Style::Backend,
                base_path: String::new(),
                pid: None,
            },
            _ => Target {
                name: "bridge".into(),
                addr: bridge_addr,
                style: Style::Scim,
                base_path: base_path.clone(),
                pid: None,
            },
        });
    }

    // Separate processes: the real binary, and a hop to compare it with.
    let mut children = Vec::new();
    let mut proc_report = Vec::new();
    if let Some(bin) = &args.bridge_bin {
        let hop_addr = free_port()?;
        let me = std::env::current_exe()?;
        children.push(ChildGuard(
            std::process::Command::new(me)
                .args(["--serve-hop", &hop_addr.to_string(), &stub_addr.to_string()])
                .stdin(std::process::Stdio::null())
                .spawn()?,
        ));
        let hop_pid = children.last().map(|c| c.0.id());
        wait_healthy_any(hop_addr).await?;
        let addr = free_port()?;
        let t0 = Instant::now();
        let mut cmd = std::process::Command::new(bin);
        cmd.args(["serve", "--config"])
            .arg(settings_file())
            .args(["--listen", &addr.to_string()])
            .envs(&env)
            .env_remove("SCIM_BRIDGE_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        children.push(ChildGuard(cmd.spawn()?));
        let pid = children.last().map(|c| c.0.id());
        let startup = wait_healthy(addr, t0).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        proc_report.push(format!(
            "bridge process: start to first /healthz {startup:.1?}; idle RSS {}",
            mib(status_kib(pid, "VmRSS:"))
        ));
        targets.push(Target {
            name: "hop-proc".into(),
            addr: hop_addr,
            style: Style::Backend,
            base_path: String::new(),
            pid: hop_pid,
        });
        targets.push(Target {
            name: "bridge-proc".into(),
            addr,
            style: Style::Scim,
            base_path: base_path.clone(),
            pid,
        });
    }

    if let Some(keep) = &args.targets {
        targets.retain(|t| keep.contains(&t.name));
    }
    if targets.is_empty() {
        anyhow::bail!("no target left to measure (--targets, --bridge-bin)");
    }
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure = Duration::from_secs_f64(args.seconds);
    let mut rows: Vec<Row> = Vec::new();
    let mut modes: Vec<(String, Option<usize>)> = args
        .concurrency
        .iter()
        .map(|c| (format!("{c} conn"), Some(*c)))
        .collect();
    if let Some(r) = args.rate {
        modes.push((format!("{r}/s open"), None));
    }
    eprintln!(
        "bench: {} targets x {} kinds x {} modes, {:.1} s + {:.1} s warm-up each",
        targets.len(),
        args.kinds.len(),
        modes.len(),
        args.seconds,
        args.warmup
    );
    for (mode, conns) in &modes {
        for kind in &args.kinds {
            // Closed loops run in rounds, the targets taking turns, so that
            // a change in the machine's speed (a shared host's neighbours)
            // falls on hop and bridge alike; an open loop runs once.
            let rounds = if conns.is_some() { args.rounds } else { 1 };
            let first = rows.len();
            for round in 0..rounds {
                for (ti, t) in targets.iter().enumerate() {
                    // A full warm-up before the first round; after that, a
                    // short one (the connections are new each round).
                    let warm = if round == 0 {
                        warmup
                    } else {
                        warmup.min(Duration::from_millis(200))
                    };
                    let slice = measure / rounds as u32;
                    let calls0 = stub.calls.load(Ordering::Relaxed);
                    let lines0 = LOG_LINES.load(Ordering::Relaxed);
                    let (cpu0, allocs0) = (cpu_micros(t.pid), ALLOCS.load(Ordering::Relaxed));
                    let sample = match conns {
                        Some(c) => {
                            closed_loop(t, *kind, *c, warm, slice, args.users, &bodies).await?
                        }
                        None => {
                            open_loop(
                                t,
                                *kind,
                                args.rate.unwrap_or(1000),
                                warm,
                                slice,
                                args.users,
                                &bodies,
                            )
                            .await?
                        }
                    };
                    // Let the last answers' backend calls and log lines land.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let calls = stub.calls.load(Ordering::Relaxed) - calls0;
                    let lines = LOG_LINES.load(Ordering::Relaxed) - lines0;
                    let cpu = cpu_micros(t.pid)
                        .zip(cpu0)
                        .map(|(b, a)| b.saturating_sub(a));
                    // Allocations are counted in this process only.
                    let allocs = t
                        .pid
                        .is_none()
                        .then(|| ALLOCS.load(Ordering::Relaxed) - allocs0);
                    let rps = sample.rps();
                    if round == 0 {
                        rows.push(Row {
                            target: t.name.clone(),
                            kind: *kind,
                            mode: mode.clone(),
                            sample,
                            backend_calls: calls,
                            log_lines: (t.name == "bridge").then_some(lines),
                            cpu_micros: cpu,
                            allocs,
                            round_rps: vec![rps],
                        });
                    } else {
                        let row = &mut rows[first + ti];
                        row.sample.add(sample);
                        row.backend_calls += calls;
                        row.log_lines = row.log_lines.map(|l| l + lines);
                        row.cpu_micros = row.cpu_micros.zip(cpu).map(|(a, b)| a + b);
                        row.allocs = row.allocs.zip(allocs).map(|(a, b)| a + b);
                        row.round_rps.push(rps);
                    }
                }
            }
            for row in &rows[first..] {
                eprintln!(
                    "  {mode:>10} {:<20} {:<12} {:>9.0} req/s",
                    kind.name(),
                    row.target,
                    row.sample.rps()
                );
            }
        }
    }
    let rss_after = status_kib(None, "VmRSS:");
    let hwm = status_kib(None, "VmHWM:");
    for t in &targets {
        if let Some(pid) = t.pid {
            if t.name == "bridge-proc" {
                proc_report.push(format!(
                    "bridge process after the load: RSS {}, peak {}",
                    mib(status_kib(Some(pid), "VmRSS:")),
                    mib(status_kib(Some(pid), "VmHWM:"))
                ));
            }
        }
    }

    print_table(&rows);
    println!();
    println!(
        "in-process bridge: start (load settings + mapping, bind, serve) to first /healthz {inproc_start:.1?}"
    );
    println!(
        "this process (stub + hop + bridge + load generator): RSS at start {}, bridge idle {}, after the load {}, peak {}",
        mib(rss_start),
        mib(rss_idle),
        mib(rss_after),
        mib(hwm)
    );
    for l in proc_report {
        println!("{l}");
    }
    stop.notify_one();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    drop(children);
    Ok(())
}

/// Waits until `addr` accepts a connection (the hop has no `/healthz`).
async fn wait_healthy_any(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            anyhow::bail!("{addr} did not start within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<10} {:<12} {:<20} {:>9} {:>10} {:>10} {:>6} {:>10} {:>9} {:>10} {:>9} {:>8} {:>8} {:>9} {:>9}  ratio per round",
        "mode",
        "target",
        "kind",
        "req/s",
        "p50",
        "p99",
        "errors",
        "calls/req",
        "ratio",
        "p50 added",
        "log/req",
        "cpu/req",
        "cpu +",
        "alloc/req",
        "alloc +",
    );
    for r in rows {
        // The hop this target is compared with.
        let hop = match r.target.as_str() {
            "bridge" => Some("hop"),
            "bridge-proc" => Some("hop-proc"),
            _ => None,
        }
        .and_then(|h| {
            rows.iter()
                .find(|o| o.target == h && o.kind == r.kind && o.mode == r.mode)
        });
        let opt = |v: Option<f64>, unit: &str| v.map_or(String::new(), |v| format!("{v:.1}{unit}"));
        let plus = |v: Option<f64>, unit: &str| {
            v.map_or(String::new(), |v| {
                format!("{}{v:.1}{unit}", if v >= 0.0 { "+" } else { "" })
            })
        };
        let diff = |f: fn(&Row) -> Option<f64>| hop.and_then(|h| Some(f(r)? - f(h)?));
        let (cpu_added, allocs_added) = (diff(Row::cpu_per_req), diff(Row::allocs_per_req));
        let (ratio, added) = match hop {
            Some(h) => (
                format!("{:.2}", median_ratio(&r.round_rps, &h.round_rps)),
                {
                    let (a, b) = (r.sample.percentile(0.5), h.sample.percentile(0.5));
                    if a >= b {
                        format!("+{}", fmt_dur(a - b))
                    } else {
                        format!("-{}", fmt_dur(b - a))
                    }
                },
            ),
            None => ("".into(), "".into()),
        };
        // Backend calls include those of the warm-up and of answers that
        // landed after the window: divided by every request sent in the run.
        println!(
            "{:<10} {:<12} {:<20} {:>9.0} {:>10} {:>10} {:>6} {:>10} {:>9} {:>10} {:>9} {:>8} {:>8} {:>9} {:>9}  {}",
            r.mode,
            r.target,
            r.kind.name(),
            r.sample.rps(),
            fmt_dur(r.sample.percentile(0.5)),
            fmt_dur(r.sample.percentile(0.99)),
            r.sample.errors,
            per_request(r.backend_calls, r.sample.sent),
            ratio,
            added,
            r.log_lines
                .map_or(String::new(), |l| per_request(l, r.sample.sent)),
            opt(r.cpu_per_req(), "µs"),
            plus(cpu_added, "µs"),
            opt(r.allocs_per_req(), ""),
            plus(allocs_added, ""),
            hop.map_or(String::new(), |h| round_ratios(&r.round_rps, &h.round_rps)),
        );
    }
}

/// The median over rounds of this target's rate over the hop's in the same
/// round (the two ran one after the other).
fn median_ratio(mine: &[f64], hop: &[f64]) -> f64 {
    let mut r: Vec<f64> = mine.iter().zip(hop).map(|(a, b)| a / b.max(1e-9)).collect();
    r.sort_by(f64::total_cmp);
    match r.len() {
        0 => 0.0,
        n if n % 2 == 1 => r[n / 2],
        n => (r[n / 2 - 1] + r[n / 2]) / 2.0,
    }
}

/// Each round's ratio, for the table's last column.
fn round_ratios(mine: &[f64], hop: &[f64]) -> String {
    mine.iter()
        .zip(hop)
        .map(|(a, b)| format!("{:.2}", a / b.max(1e-9)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn per_request(count: u64, requests: u64) -> String {
    format!("{:.2}", count as f64 / requests.max(1) as f64)
}
