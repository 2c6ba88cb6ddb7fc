//! A bounded load generator: starts the example legacy Peripass backend and a
//! bridge in this process (both on 127.0.0.1:0), then drives a mix of Entra's
//! requests against the bridge from N concurrent clients for a fixed number of
//! requests, and prints throughput and latency percentiles per request kind.
//!
//!     cargo run --release --example load -- [--clients 16] [--requests 20000] [--users 1000] [--latency-ms 0]
//!
//! Everything stays on loopback; the run stops by itself. This is how the
//! bridge's overhead is measured (compare `--latency-ms 0` runs before and
//! after a change); there are no timed assertions in the test suite.

#[path = "legacy_peripass/backend.rs"]
mod backend;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    clients: usize,
    requests: usize,
    users: usize,
    latency_ms: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        clients: 16,
        requests: 20_000,
        users: 1_000,
        latency_ms: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--clients" => a.clients = num("--clients")?.clamp(1, 512) as usize,
            "--requests" => a.requests = num("--requests")?.clamp(1, 1_000_000) as usize,
            "--users" => a.users = num("--users")?.clamp(1, 100_000) as usize,
            "--latency-ms" => a.latency_ms = num("--latency-ms")?.min(10_000),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    errors: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("load: {e}");
            }
            eprintln!("usage: cargo run --release --example load -- [--clients N] [--requests N] [--users N] [--latency-ms N]");
            std::process::exit(2);
        }
    };
    let legacy = backend::spawn(backend::Options {
        seed_users: args.users,
        latency_ms: args.latency_ms,
        ..Default::default()
    })
    .await?;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("PERIPASS_URL".into(), legacy.base_url());
    env.insert("PERIPASS_API_KEY".into(), legacy.api_key());
    env.insert("SCIM_BRIDGE_TOKEN".into(), "load-test-token-123".into());
    // A published, short token: asked for explicitly (loopback only).
    env.insert(
        "SCIM_BRIDGE__AUTH__INSECURE_ALLOW_WEAK_TOKENS".into(),
        "true".into(),
    );
    env.insert("SCIM_BRIDGE__LOG__LEVEL".into(), "warn".into());
    // Measure the bridge, not its backend protection: no rate cap, room for every client.
    env.insert("SCIM_BRIDGE__BACKEND__MAX_RPS".into(), "0".into());
    env.insert(
        "SCIM_BRIDGE__BACKEND__MAX_CONCURRENCY".into(),
        "1024".into(),
    );
    let settings_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scim-bridge.toml");
    let (settings, plan) =
        scim_bridge::load(&settings_file, Some(env.clone())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}{}", settings.base_path);
    let state = Arc::new(scim_bridge::AppState::new(settings, plan).with_env(Some(env)));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(scim_bridge::run(listener, state, async {
        let _ = stop_rx.await;
    }));

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let next = Arc::new(AtomicUsize::new(0));
    let kinds = ["filter userName", "get by id", "list page", "patch"];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, next, base) = (client.clone(), next.clone(), base.clone());
        let users = args.users;
        let total = args.requests;
        tasks.push(tokio::spawn(async move {
            let mut stats: Vec<Stats> = (0..4).map(|_| Stats::default()).collect();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let user = n % users + 1;
                let kind = n % 4;
                let (method, path, body) = match kind {
                    0 => ("GET", format!("/Users?filter=userName+eq+%22user{user}%40example.com%22"), None),
                    1 => ("GET", format!("/Users/{user}"), None),
                    2 => ("GET", format!("/Users?startIndex={}&count=20", user % 200 + 1), None),
                    _ => (
                        "PATCH",
                        format!("/Users/{user}"),
                        Some(format!(
                            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"Replace","path":"displayName","value":"Load {n}"}}]}}"#
                        )),
                    ),
                };
                let req = http::Request::builder()
                    .method(method)
                    .uri(format!("{base}{path}"))
                    .header("authorization", "Bearer load-test-token-123")
                    .header("content-type", "application/scim+json; charset=utf-8")
                    .body(Full::new(Bytes::from(body.unwrap_or_default())))
                    .expect("valid request");
                let t = Instant::now();
                let ok = match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = resp.into_body().collect().await;
                        status.is_success()
                    }
                    Err(_) => false,
                };
                let s = &mut stats[kind];
                s.latencies.push(t.elapsed());
                if !ok {
                    s.errors += 1;
                }
            }
            stats
        }));
    }
    let mut all: Vec<Stats> = (0..4).map(|_| Stats::default()).collect();
    for t in tasks {
        for (i, s) in t.await?.into_iter().enumerate() {
            all[i].latencies.extend(s.latencies);
            all[i].errors += s.errors;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{} requests from {} clients in {:.2?}: {:.0} req/s (backend latency {} ms, {} users)",
        args.requests,
        args.clients,
        elapsed,
        args.requests as f64 / elapsed.as_secs_f64(),
        args.latency_ms,
        args.users
    );
    println!(
        "{:<16} {:>8} {:>7} {:>10} {:>10} {:>10}",
        "kind", "count", "errors", "p50", "p95", "p99"
    );
    for (i, s) in all.iter_mut().enumerate() {
        s.latencies.sort();
        println!(
            "{:<16} {:>8} {:>7} {:>10.2?} {:>10.2?} {:>10.2?}",
            kinds[i],
            s.latencies.len(),
            s.errors,
            percentile(&s.latencies, 0.50),
            percentile(&s.latencies, 0.95),
            percentile(&s.latencies, 0.99)
        );
    }
    println!("backend requests: {}", legacy.request_count());
    let _ = stop_tx.send(());
    let _ = server.await;
    legacy.shutdown().await;
    Ok(())
}
