//! Lifecycle and operations: `/readyz` from a periodic backend probe,
//! graceful shutdown, the per-request log line, and no secret in any log.

mod support;

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

fn one_user() -> peripass::Options {
    peripass::Options {
        seed_users: 1,
        ..Default::default()
    }
}

async fn readyz(bridge: &Bridge) -> (u16, Value, Duration) {
    let started = Instant::now();
    let r = TestClient::new(format!("http://{}", bridge.addr))
        .without_token()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_from_the_last_probe_without_waiting_for_the_backend() {
    capture();
    let stack = PeripassStack::start_custom(
        one_user(),
        StackConfig {
            backend_extra: "probe_interval_ms = 200\nread_retries = 0",
            ..Default::default()
        },
    )
    .await;
    let body = wait_ready(&stack.bridge, 200, Duration::from_secs(3)).await;
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

    // A slow backend: /readyz still answers at once, from the last result.
    stack.backend.set_latency_ms(2000);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let (s, _, took) = readyz(&stack.bridge).await;
        assert_eq!(s, 200);
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("/readyz with a 2 s backend: slowest of 10 answers {slowest:?}");
    assert!(slowest < Duration::from_millis(100), "{slowest:?}");
    stack.backend.set_latency_ms(0);

    // The backend stops: 503 after the next probe, with a short reason.
    let PeripassStack { backend, bridge } = stack;
    let addr = backend.addr();
    let key = backend.api_key();
    let t = Instant::now();
    backend.shutdown().await;
    let body = wait_ready(&bridge, 503, Duration::from_secs(5)).await;
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
    let backend = peripass::spawn(peripass::Options {
        listen: addr.to_string(),
        ..one_user()
    })
    .await
    .unwrap();
    let t = Instant::now();
    wait_ready(&bridge, 200, Duration::from_secs(5)).await;
    println!("/readyz 200 {:?} after the backend came back", t.elapsed());
    bridge.shutdown().await;
    backend.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    capture();
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    bridge.signal_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::net::TcpStream::connect(bridge.addr).await;
    assert!(
        refused.is_err(),
        "a new connection was accepted after shutdown"
    );
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
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        scim_bridge::server::SHUTDOWN_DEADLINE,
        Duration::from_secs(25)
    );
    backend.shutdown().await;
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every test of this file logs, at TRACE level and as JSON, into one
/// buffer (a process-wide subscriber: thread-local ones miss events whose
/// callsites another test thread registered first).
fn capture() -> Captured {
    static BUF: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Captured::default();
        let sub =
            scim_bridge::logging::subscriber(scim_bridge::config::LogFormat::Json, "trace", {
                let buf = buf.clone();
                move || buf.clone()
            });
        tracing_subscriber::util::SubscriberInitExt::try_init(sub).expect("the only subscriber");
        buf
    })
    .clone()
}

/// A whole scenario at TRACE level (every crate, hyper and h2 included),
/// logged as JSON: one `request` line per request with its backend calls,
/// and no token, API key or password anywhere in the logs of this file's
/// tests so far (backend stopped, shutdown, slow backend included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_request_lines_and_no_secret_in_any_log() {
    const API_KEY: &str = "pk-live-7f3a9c1e5b2d4086";
    const PASSWORD: &str = "S3cr3t-Basic-Passw0rd";
    let buf = capture();
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
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "logged@example.com",
                "active": true,
                "displayName": "Logged User",
                "name": {"givenName": "Logged", "familyName": "User"},
                "emails": [{"value": "logged@example.com", "type": "work", "primary": true}]
            }),
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
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "Replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(patched.status, 200);
    // Wrong credentials of both kinds.
    assert_eq!(
        scim.with_token("not-the-token-123")
            .get("/Users")
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
            &[("authorization", basic.as_str())],
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
