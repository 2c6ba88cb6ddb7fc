//! Lifecycle and operations: `/readyz` from a periodic backend probe,
//! graceful shutdown, the per-request log line, and no secret in any log.

use crate::support::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn one_user() -> peripass::Options {
    peripass::Options {
        seed_users: 1,
        ..Default::default()
    }
}

async fn readyz(bridge: &Bridge) -> (u16, Value, Duration) {
    let started = Instant::now();
    // With the token: the details (without it, the status only).
    let r = TestClient::new(format!("http://{}", bridge.addr))
        .get("/readyz")
        .await;
    (r.status.as_u16(), r.json(), started.elapsed())
}

/// Polls `/readyz` until it answers `status` (at most `within`).
async fn wait_ready(bridge: &Bridge, status: u16, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (s, body, _) = readyz(bridge).await;
        if s == status {
            return body;
        }
        assert!(
            started.elapsed() < within,
            "/readyz still {s} after {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A backend that rate-limits is up: `/readyz` stays `200` (Kubernetes must
/// not take every replica out of the Service while the backend is busy),
/// and its details say the backend is rate limiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_rate_limiting_keeps_readyz_ready() {
    let stack = PeripassStack::start_custom(
        one_user(),
        StackConfig {
            backend_extra: "probe_interval_ms = 200",
            ..Default::default()
        },
    )
    .await;
    wait_ready(&stack.bridge, 200, Duration::from_secs(30)).await;
    stack.backend.set_retry_after_secs(60);
    stack.backend.set_rate_limit_rate(1.0);
    let r = stack.scim().get("/Users/1").await;
    r.assert_scim_error(429, None);
    // The next probes meet the bridge's 60 s pause (or a 429 of their own).
    let started = Instant::now();
    let (status, body) = loop {
        let (s, body, _) = readyz(&stack.bridge).await;
        if body["backend"] != "ok" {
            break (s, body);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no probe after the 429: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert!(
        body["backend"].as_str().unwrap().contains("rate limiting"),
        "{body}"
    );
    // Still ready a few probes later.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, body, _) = readyz(&stack.bridge).await;
    assert_eq!(status, 200, "{body}");
    stack.bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_from_the_last_probe_without_waiting_for_the_backend() {
    let stack = PeripassStack::start_custom(
        one_user(),
        StackConfig {
            backend_extra: "probe_interval_ms = 200\nread_retries = 0",
            backend_reuse_port: true,
            ..Default::default()
        },
    )
    .await;
    let body = wait_ready(&stack.bridge, 200, Duration::from_secs(30)).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["resourceTypes"], 2);
    assert!(body["lastReloadError"].is_null());
    // The probe is an authenticated one-item list of the first resource type.
    let probe = stack
        .backend
        .requests()
        .into_iter()
        .find(|r| r.header("x-request-id") == Some("readyz-probe"))
        .expect("probe call");
    assert_eq!(probe.method, "GET");
    // The first resource type in the plan (Peripass teams), one item.
    assert!(
        probe.path_and_query.starts_with("/api/v1/teams?")
            && probe.path_and_query.contains("limit=1"),
        "{}",
        probe.path_and_query
    );
    assert_eq!(
        probe.header("x-api-key"),
        Some(stack.backend.api_key().as_str())
    );

    // A backend that takes a minute to answer: once a probe is stuck in
    // it, /readyz still answers (from the last result), long before the
    // probe could return.
    stack.backend.set_latency_ms(60_000);
    let seen = stack.backend.request_count();
    let waited = Instant::now();
    while stack.backend.request_count() == seen {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "no probe reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let (s, _, took) = tokio::time::timeout(Duration::from_secs(30), readyz(&stack.bridge))
            .await
            .expect("/readyz waited for the stuck probe");
        assert_eq!(s, 200);
        slowest = slowest.max(took);
    }
    println!("/readyz with a stuck probe: slowest of 10 answers {slowest:?}");
    // The stuck probe then times out, and says so; once the backend is
    // quick again, the next probe makes it ready again.
    let body = wait_ready(&stack.bridge, 503, Duration::from_secs(60)).await;
    assert!(
        body["backend"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{body}"
    );
    stack.backend.set_latency_ms(0);
    wait_ready(&stack.bridge, 200, Duration::from_secs(30)).await;

    // The backend stops: 503 after the next probe, with a short reason.
    let PeripassStack { backend, bridge } = stack;
    let addr = backend.addr();
    let key = backend.api_key();
    // Keep the address reserved while the backend is down: a second socket
    // bound to it (SO_REUSEPORT) that does not listen yet, so connections
    // are refused and no other process can take the port.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.set_reuseport(true).unwrap();
    reserved.bind(addr).unwrap();
    let t = Instant::now();
    backend.shutdown().await;
    let body = wait_ready(&bridge, 503, Duration::from_secs(30)).await;
    println!(
        "/readyz 503 {:?} after the backend stopped: {body}",
        t.elapsed()
    );
    assert_eq!(body["status"], "not ready");
    let reason = body["backend"].as_str().unwrap();
    assert!(reason.contains("unreachable"), "{reason}");
    assert!(!body.to_string().contains(&key));
    assert!(!body.to_string().contains(TOKEN));

    // It comes back on the same address: 200 again.
    let backend = peripass::spawn_on(reserved.listen(128).unwrap(), one_user())
        .await
        .unwrap();
    let t = Instant::now();
    wait_ready(&bridge, 200, Duration::from_secs(30)).await;
    println!("/readyz 200 {:?} after the backend came back", t.elapsed());
    bridge.shutdown().await;
    backend.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    let stack = PeripassStack::start(peripass::Options {
        latency_ms: 1000,
        ..one_user()
    })
    .await;
    let PeripassStack {
        backend,
        mut bridge,
    } = stack;
    let client = bridge.client.clone();
    let started = Instant::now();
    let in_flight = tokio::spawn(async move { client.get("/Users/1").await });
    // Shut down once the request is in flight (at the backend, which holds
    // it for a second).
    while backend.request_count() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no backend call"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bridge.signal_shutdown();
    // New connections are refused soon (polled), while the request is
    // still in flight.
    loop {
        if tokio::net::TcpStream::connect(bridge.addr).await.is_err() {
            break;
        }
        assert!(
            !in_flight.is_finished(),
            "a new connection was still accepted after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["id"], "1");
    let t = Instant::now();
    bridge.shutdown().await;
    println!(
        "in-flight request done in {:?}; server stopped {:?} after it",
        started.elapsed(),
        t.elapsed()
    );
    // It stops once the request is done, not at the shutdown deadline
    // (generous bound below that deadline: no wall-clock race).
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(
        scim_bridge::config::defaults::SHUTDOWN_TIMEOUT_MS,
        25_000,
        "the default shutdown timeout this bound is below"
    );
    backend.shutdown().await;
}

/// A kept-alive connection waiting for its next request is closed as soon
/// as a shutdown starts, not when its idle timeout (60 s) or the shutdown
/// deadline (25 s) comes: the connection's loop, asleep with nothing to do,
/// is woken by the signal itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_when_a_shutdown_starts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let PeripassStack {
        backend,
        mut bridge,
    } = PeripassStack::start(one_user()).await;
    let mut conn = tokio::net::TcpStream::connect(bridge.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // Idle: the connection's task has gone to sleep.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    bridge.signal_shutdown();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(8), conn.read(&mut buf))
            .await
            .expect("the idle connection was not closed within 8 s of the shutdown")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
    }
    println!(
        "idle connection closed {:?} after the shutdown began",
        t.elapsed()
    );
    bridge.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    backend.shutdown().await;
}

/// A whole scenario at TRACE level (every crate, hyper and h2 included),
/// logged as JSON: one `request` line per request with its backend calls,
/// and no token, API key or password anywhere in the logs of every test that
/// ran meanwhile (the tap sees the whole process). Request lines are told
/// apart by this test's own request ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_request_lines_and_no_secret_in_any_log() {
    const API_KEY: &str = "pk-live-7f3a9c1e5b2d4086";
    const PASSWORD: &str = "S3cr3t-Basic-Passw0rd";
    let buf = LogTap::open();
    register_secret(API_KEY);
    register_basic("admin", PASSWORD);
    let stack = PeripassStack::start_custom(
        peripass::Options {
            api_key: API_KEY.into(),
            ..one_user()
        },
        StackConfig {
            backend_extra: "probe_interval_ms = 100",
            ..Default::default()
        },
    )
    .await;
    let scim = stack.scim();
    assert_eq!(
        scim.send(
            http::Method::GET,
            "/Users/1",
            None,
            &[("x-request-id", "req-log-test-1")]
        )
        .await
        .status,
        200
    );
    let created = scim
        .send(
            http::Method::POST,
            "/Users",
            Some(
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "logged@example.com",
                    "active": true,
                    "displayName": "Logged User",
                    "name": {"givenName": "Logged", "familyName": "User"},
                    "emails": [{"value": "logged@example.com", "type": "work", "primary": true}]
                })
                .to_string(),
            ),
            &[("x-request-id", "req-log-test-2")],
        )
        .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()["id"].as_str().unwrap().to_string();
    let patched = scim
        .send(
            http::Method::PATCH,
            &format!("/Users/{id}"),
            Some(
                &patch_ops(json!([{"op": "Replace", "path": "active", "value": false}]))
                    .to_string(),
            ),
            &[("x-request-id", "req-log-test-3")],
        )
        .await;
    assert_eq!(patched.status, 200);
    // Wrong credentials of both kinds.
    assert_eq!(
        scim.with_token("not-the-token-123")
            .send(
                http::Method::GET,
                "/Users",
                None,
                &[("x-request-id", "req-log-test-4")]
            )
            .await
            .status,
        401
    );
    let basic = base64_basic("admin", PASSWORD);
    let r = scim
        .without_token()
        .send(
            http::Method::GET,
            "/Users",
            None,
            &[
                ("authorization", basic.as_str()),
                ("x-request-id", "req-log-test-5"),
            ],
        )
        .await;
    assert_eq!(r.status, 401);
    let (s, _, _) = readyz(&stack.bridge).await;
    assert_eq!(s, 200);
    let PeripassStack { backend, bridge } = stack;
    bridge.shutdown().await;
    backend.shutdown().await;

    let text = buf.text();
    std::fs::write(
        std::env::temp_dir().join("scim-bridge-lifecycle-log.jsonl"),
        &text,
    )
    .unwrap();
    assert!(text.lines().count() > 10, "{text}");
    for (what, secret) in [
        ("bearer token", TOKEN),
        ("backend API key", API_KEY),
        ("other tests' backend API key", "peripass-demo-key"),
        ("Basic password", PASSWORD),
        ("Basic credentials", basic.trim_start_matches("Basic ")),
    ] {
        assert!(!text.contains(secret), "the {what} was logged");
    }
    // Every line is JSON; one `request` line per request.
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        // Other tests log meanwhile: only this test's requests.
        .filter(|l| {
            l["fields"]["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("req-log-test-"))
        })
        .collect();
    let get = requests
        .iter()
        .find(|l| l["fields"]["request_id"] == "req-log-test-1")
        .expect("the GET's request line");
    let f = &get["fields"];
    println!("request line: {get}");
    assert_eq!(get["level"], "INFO");
    assert_eq!(f["method"], "GET");
    assert_eq!(f["route"], "/Users/{id}");
    assert_eq!(f["resource_type"], "Users");
    assert_eq!(f["status"], 200);
    assert_eq!(f["backend_calls"], 1);
    assert!(f["backend_ms"].is_u64() && f["ms"].is_u64(), "{f}");
    let patch = requests
        .iter()
        .find(|l| l["fields"]["method"] == "PATCH")
        .expect("the PATCH's request line");
    assert!(
        patch["fields"]["backend_calls"].as_u64().unwrap() >= 2,
        "a PATCH reads then writes: {patch}"
    );
    let unauthorized = requests
        .iter()
        .filter(|l| l["fields"]["status"] == 401)
        .count();
    assert_eq!(unauthorized, 2);
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
