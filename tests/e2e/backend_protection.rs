//! Protecting the legacy backend: rate and concurrency caps (queued, then
//! refused with 503 + Retry-After), the pause after a backend 429, and
//! which failures are retried.

use crate::support::*;
use http::Method;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn one_user(latency_ms: u64) -> peripass::Options {
    peripass::Options {
        seed_users: 1,
        latency_ms,
        ..Default::default()
    }
}

/// A stack whose `/readyz` probe ran once at start and then stays quiet
/// (its calls would count at the backend and take rate tokens).
async fn stack(opts: peripass::Options, backend_extra: &str) -> PeripassStack {
    let extra = format!("{backend_extra}\nprobe_interval_ms = 3600000");
    let s = PeripassStack::start_custom(
        opts,
        StackConfig {
            backend_extra: &extra,
            ..Default::default()
        },
    )
    .await;
    // `/readyz` says "not probed yet" until the probe, retries included, is
    // done: from then on it makes no more calls.
    let admin = TestClient::new(format!("http://{}", s.bridge.addr));
    let started = Instant::now();
    loop {
        let r = admin.get("/readyz").await.json();
        if r["backend"] != "not probed yet" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the probe did not finish: {r}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        s.backend
            .requests()
            .iter()
            .any(|r| r.header("x-request-id") == Some("readyz-probe")),
        "no probe reached the backend"
    );
    // The rate bucket refills with time alone: a second is at least a whole
    // token at every `max_rps` used here (a lower bound, no race).
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.backend.clear_requests();
    s
}

/// The value of a counter in `/metrics`; panics when the series is missing
/// (a renamed metric must not read as 0).
async fn counter(stack: &PeripassStack, name: &str) -> u64 {
    let text = TestClient::new(format!("http://{}", stack.bridge.addr))
        .get("/metrics")
        .await;
    let text = String::from_utf8_lossy(&text.body).into_owned();
    let series = format!("scim_bridge_{name}_total ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&series))
        .unwrap_or_else(|| panic!("no series {series} in /metrics:\n{text}"));
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("not a number: {line}")) as u64
}

/// The most calls that arrived within any `window`.
fn max_within(at: &[Instant], window: Duration) -> usize {
    let mut at = at.to_vec();
    at.sort();
    (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t - at[i] < window).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_cap_holds_under_a_burst() {
    let s = stack(one_user(0), "max_rps = 10\nqueue_timeout_ms = 10000").await;
    s.backend.clear_requests();
    let started = Instant::now();
    let futs: Vec<_> = (0..40)
        .map(|_| {
            let c = s.scim().clone();
            tokio::spawn(async move { c.get("/Users/1").await.status.as_u16() })
        })
        .collect();
    for f in futs {
        assert_eq!(f.await.unwrap(), 200);
    }
    let took = started.elapsed();
    let at: Vec<Instant> = s.backend.requests().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 40, "one backend call per GET");
    // The bucket grants one call per 100 ms (burst = ceil(10/10)). The calls
    // are timed where they arrive, after the bridge's own scheduling on a
    // busy 2-core machine: allow each up to 200 ms of uneven delay (11 grants
    // span at least 1 s, so 11 arrivals span at least 800 ms). Without the
    // cap all 40 arrive within a few milliseconds.
    let peak = max_within(&at, Duration::from_millis(800));
    println!("40 GETs at max_rps 10: {took:?}, at most {peak} backend calls within 800 ms");
    assert!(peak <= 11, "{peak} backend calls within 800 ms");
    assert!(took >= Duration::from_millis(3800), "{took:?}");
    assert!(counter(&s, "backend_rate_limit_waits").await >= 30);
    assert_eq!(counter(&s, "backend_rejections").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_queue_timeout_clients_get_503_with_retry_after() {
    let s = stack(one_user(0), "max_rps = 4\nqueue_timeout_ms = 500").await;
    s.backend.clear_requests();
    const CLIENTS: usize = 24;
    let started = Instant::now();
    let futs: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let c = s.scim().clone();
            tokio::spawn(async move { c.get("/Users/1").await })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for f in futs {
        let r = f.await.unwrap();
        match r.status.as_u16() {
            200 => ok += 1,
            503 => {
                r.assert_scim_error(503, None);
                let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=2).contains(&ra), "{ra}");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let took = started.elapsed();
    println!(
        "max_rps 4, queue 500 ms, {CLIENTS} at once: {ok} served, {refused} refused in {took:?}"
    );
    // Serving all 24 would take 5.75 s of 250 ms grants; a call is refused
    // once its grant lies beyond its 500 ms queue timeout.
    assert!(refused >= 1, "nobody was refused ({ok} served)");
    // A refusal means a call's grant lay beyond its queue timeout: the two
    // grants before it were given (the idle bucket grants the first at once,
    // the next within 250 and 500 ms), so at least three were served however
    // the clients' arrivals spread on a loaded machine.
    assert!(ok >= 3, "{ok} served");
    // The grants are 250 ms apart and all lie within the test's time: no
    // more were served than the elapsed time allows.
    assert!(
        took >= Duration::from_millis(250) * (ok as u32 - 1),
        "{ok} served within {took:?}"
    );
    assert_eq!(ok + refused, CLIENTS);
    assert_eq!(s.backend.request_count(), ok);
    assert_eq!(counter(&s, "backend_rejections").await, refused as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_cap_holds() {
    let s = stack(
        one_user(300),
        "max_concurrency = 2\nmax_rps = 0\nqueue_timeout_ms = 10000",
    )
    .await;
    s.backend.clear_requests();
    let started = Instant::now();
    let futs: Vec<_> = (0..8)
        .map(|_| {
            let c = s.scim().clone();
            tokio::spawn(async move { c.get("/Users/1").await.status.as_u16() })
        })
        .collect();
    for f in futs {
        assert_eq!(f.await.unwrap(), 200);
    }
    let took = started.elapsed();
    let peak = s.backend.peak_in_flight();
    println!(
        "8 GETs, max_concurrency 2, latency 300 ms: {took:?}, peak in flight at the backend {peak}"
    );
    assert_eq!(peak, 2);
    assert!(took >= Duration::from_millis(1200), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_429_pauses_every_call_for_retry_after() {
    let s = stack(one_user(0), "").await;
    // Not 1 s: the pause length must come from the header.
    s.backend.set_retry_after_secs(2);
    s.backend.set_rate_limit_rate(1.0);
    s.backend.clear_requests();
    let r = s.scim().get("/Users/1").await;
    r.assert_scim_error(429, None);
    assert_eq!(r.header("retry-after"), Some("2"));
    s.backend.set_rate_limit_rate(0.0);
    // Another client, another resource: the pause is per backend.
    let started = Instant::now();
    let r2 = s.scim().get("/Users?count=1").await;
    assert_eq!(r2.status, 200);
    let waited = started.elapsed();
    let reqs = s.backend.requests();
    assert_eq!(reqs.len(), 2, "the 429 is not retried");
    let gap = reqs[1].at - reqs[0].at;
    println!("backend call after a 429 with Retry-After: 2 came {gap:?} later (client waited {waited:?})");
    assert!(gap >= Duration::from_secs(2), "{gap:?}");
    assert!(counter(&s, "backend_rate_limit_waits").await >= 1);
}

#[tokio::test]
async fn reads_are_retried_writes_are_not() {
    let s = stack(
        peripass::Options {
            fail_rate: 1.0,
            ..one_user(0)
        },
        "read_retries = 2",
    )
    .await;
    s.backend.clear_requests();
    let r = s.scim().get("/Users/1").await;
    r.assert_scim_error(503, None);
    assert_eq!(s.backend.request_count(), 3, "one call and two retries");
    s.backend.clear_requests();
    let r = s.scim().send(Method::DELETE, "/Users/1", None, &[]).await;
    assert!(r.status.is_server_error(), "{}", r.status);
    let deletes = s
        .backend
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(
        deletes, 1,
        "a write that reached the backend is never retried"
    );
}

#[tokio::test]
async fn a_503_retry_after_longer_than_the_queue_timeout_is_not_retried_at_once() {
    let s = stack(
        peripass::Options {
            fail_rate: 1.0,
            retry_after_secs: 30,
            ..one_user(0)
        },
        "read_retries = 2",
    )
    .await;
    s.backend.clear_requests();
    let started = Instant::now();
    let r = s.scim().get("/Users/1").await;
    r.assert_scim_error(503, None);
    assert_eq!(r.header("retry-after"), Some("30"));
    assert_eq!(
        s.backend.request_count(),
        1,
        "the backend asked for 30 s without calls"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A backend that answers the first request of each connection (keeping it
/// alive) and closes the connection, without answering, on the next one:
/// the moment a server closes a kept-alive connection as idle just as the
/// bridge sends a call on it. Returns its URL and, per request, the
/// connection number, method and whether it was answered.
async fn closes_reused_connections() -> (String, Arc<Mutex<Vec<(usize, String, bool)>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let log = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = log.clone();
    tokio::spawn(async move {
        for conn in 1.. {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut sock = BufReader::new(sock);
                for nth in 0.. {
                    // One request: its head, then its body (Content-Length).
                    let mut method = String::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if sock.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if method.is_empty() {
                            method = line.split(' ').next().unwrap_or("").to_string();
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if sock.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let answered = nth == 0;
                    seen.lock().unwrap().push((conn, method.clone(), answered));
                    if !answered {
                        return; // closes the connection
                    }
                    let user = r#"{"userId":7,"version":1,"login":"jdoe","displayName":"J Doe","status":"ACTIVE","role":"Operator","contact":{"email":"jdoe@example.com","mobile":null}}"#;
                    let answer = if method == "GET" {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{user}",
                            user.len()
                        )
                    } else {
                        "HTTP/1.1 204 No Content\r\n\r\n".to_string()
                    };
                    if sock.get_mut().write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, log)
}

async fn bridge_for(url: String, backend_extra: &str) -> Bridge {
    let env = HashMap::from([
        ("PERIPASS_URL".to_string(), url),
        ("PERIPASS_API_KEY".to_string(), "pool-test-key".to_string()),
    ]);
    Bridge::start(&peripass_settings_with_backend(backend_extra, ""), &[], env).await
}

#[tokio::test]
async fn a_write_on_a_connection_the_backend_closed_says_so_and_is_not_resent() {
    let (url, log) = closes_reused_connections().await;
    let bridge = bridge_for(url, "pool_idle_timeout_ms = 60000").await;
    assert_eq!(bridge.client.get("/Users/7").await.status, 200);
    // Sent on the kept-alive connection, which the backend closes: the
    // DELETE was written, so it is not sent again.
    let r = bridge
        .client
        .send(Method::DELETE, "/Users/7", None, &[])
        .await;
    let body = r.assert_scim_error(502, None);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("closed the connection before answering"),
        "{body}"
    );
    let deletes: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m, _)| m == "DELETE")
        .cloned()
        .collect();
    assert_eq!(deletes, vec![(1, "DELETE".to_string(), false)]);
    // A read meeting the same is sent again, on a new connection.
    assert_eq!(bridge.client.get("/Users/7").await.status, 200);
    let r = bridge.client.get("/Users/7").await;
    assert_eq!(r.status, 200, "{:?}", log.lock().unwrap());
    bridge.shutdown().await;
}

#[tokio::test]
async fn connections_idle_longer_than_pool_idle_timeout_are_not_reused() {
    let (url, log) = closes_reused_connections().await;
    let bridge = bridge_for(url, "pool_idle_timeout_ms = 100").await;
    assert_eq!(bridge.client.get("/Users/7").await.status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = bridge
        .client
        .send(Method::DELETE, "/Users/7", None, &[])
        .await;
    assert_eq!(r.status, 204, "{:?}", log.lock().unwrap());
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (1, "GET".to_string(), true),
            (2, "DELETE".to_string(), true)
        ]
    );
    bridge.shutdown().await;
}
