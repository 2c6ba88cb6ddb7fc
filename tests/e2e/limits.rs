//! Limits: body size (413 that reaches a client still sending), header size
//! and count (431), header read timeout (slow-loris), request deadline (504),
//! concurrent requests (503 + Retry-After), JSON nesting depth (400).

use crate::support::*;
use http::Method;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head`, then streams `total` body bytes slowly (as `chunked` frames
/// when `chunked`), while reading the answer.
async fn slow_upload(addr: SocketAddr, head: String, total: usize, chunked: bool) -> RawResp {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let piece = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            let r = if chunked {
                let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                frame.extend_from_slice(&piece);
                frame.extend_from_slice(b"\r\n");
                wr.write_all(&frame).await
            } else {
                wr.write_all(&piece).await
            };
            if r.is_err() {
                return; // the server stopped reading: fine, the answer counts
            }
            sent += piece.len();
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let _ = wr.write_all(b"0\r\n\r\n").await;
        // Keep the write half open until the test is done.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let resp = tokio::time::timeout(Duration::from_secs(30), read_response(&mut rd))
        .await
        .expect("no answer within 30 s");
    writer.abort();
    resp
}

fn upload_head(extra: &str) -> String {
    format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn body_too_large_answers_413_to_a_client_still_sending() {
    let stack = PeripassStack::start(Default::default()).await;
    let addr = stack.bridge.addr;
    // Declared 5 MiB (over the 1 MiB default), sent slowly: refused at once.
    let five_mib = 5 * 1024 * 1024;
    let r = slow_upload(
        addr,
        upload_head(&format!("Content-Length: {five_mib}\r\n")),
        five_mib,
        false,
    )
    .await;
    let j = r.scim_error(413);
    assert!(j["detail"].as_str().unwrap().contains("1048576"), "{j}");
    assert!(r.head.to_ascii_lowercase().contains("connection: close"));
    // No length: chunked, refused once 1 MiB has arrived.
    let r = slow_upload(
        addr,
        upload_head("Transfer-Encoding: chunked\r\n"),
        five_mib,
        true,
    )
    .await;
    r.scim_error(413);
    // The server is fine afterwards.
    stack.scim().get("/Users").await;
    assert_eq!(stack.scim().get("/Users").await.status, 200);
}

/// A client that writes the whole (too large, under the drain cap) body
/// before it reads: without the drain, the server would close with unread
/// data and the kernel would reset the connection under the answer.
#[tokio::test]
async fn body_too_large_answer_survives_a_client_that_reads_only_after_sending() {
    let stack = PeripassStack::start(Default::default()).await;
    for _ in 0..3 {
        // A small send buffer (no autotuning), so the 3 MiB cannot all sit in
        // the client's own kernel buffer: they must be read by the server.
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_send_buffer_size(64 * 1024).unwrap();
        let mut s = sock.connect(stack.bridge.addr).await.unwrap();
        let len = 3 * 1024 * 1024;
        s.write_all(upload_head(&format!("Content-Length: {len}\r\n")).as_bytes())
            .await
            .unwrap();
        let body = vec![b' '; len];
        // The whole body (under the drain cap) is accepted: without the
        // drain the server stops reading and closes, and this write fails.
        s.write_all(&body)
            .await
            .expect("the server drains a refused body up to its cap");
        let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut s))
            .await
            .unwrap();
        r.scim_error(413);
    }
}

#[tokio::test]
async fn body_too_large_with_expect_continue_is_refused_without_the_body() {
    let stack = PeripassStack::start(Default::default()).await;
    let mut s = TcpStream::connect(stack.bridge.addr).await.unwrap();
    s.write_all(upload_head("Content-Length: 5242880\r\nExpect: 100-continue\r\n").as_bytes())
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), read_response(&mut s))
        .await
        .unwrap();
    r.scim_error(413);
}

#[tokio::test]
async fn header_limits_answer_431() {
    let stack = PeripassStack::start_with(
        Default::default(),
        "[server]\nmax_header_bytes = 8192\nmax_headers = 20\n",
    )
    .await;
    let c = stack.scim();
    // Over the configured size: a SCIM 431.
    let big = "a".repeat(10_000);
    let r = c
        .send(Method::GET, "/Users", None, &[("x-big", &big)])
        .await;
    r.assert_scim_error(431, None);
    // Over the configured count.
    let names: Vec<String> = (0..25).map(|i| format!("x-h{i}")).collect();
    let hs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let r = c.send(Method::GET, "/Users", None, &hs).await;
    r.assert_scim_error(431, None);
    // Over hyper's hard limit (twice the setting): hyper's own bare 431, and
    // the connection is closed cleanly after it.
    let mut s = TcpStream::connect(stack.bridge.addr).await.unwrap();
    let huge = "a".repeat(40_000);
    s.write_all(
        format!("GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-Huge: {huge}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), read_response(&mut s))
        .await
        .unwrap();
    assert_eq!(r.status, 431, "{}", r.head);
    // Normal requests still work.
    assert_eq!(c.get("/Users").await.status, 200);
}

#[tokio::test]
async fn slow_headers_are_cut_off_and_the_server_stays_responsive() {
    let stack = PeripassStack::start_with(
        Default::default(),
        "[server]\nheader_read_timeout_ms = 500\n",
    )
    .await;
    let started = Instant::now();
    let mut s = TcpStream::connect(stack.bridge.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let dribble = tokio::spawn(async move {
        for b in b"Host: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    // Meanwhile others are served.
    assert_eq!(stack.scim().get("/Users").await.status, 200);
    let mut buf = Vec::new();
    // The dribble would take about 25 s; the 500 ms header timeout closes it
    // long before (generous bound, no race with a loaded machine).
    let read = tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut buf)).await;
    let elapsed = started.elapsed();
    assert!(read.is_ok(), "the slow connection was not closed");
    // Closed without an answer (hyper's behaviour), or a 408.
    assert!(
        buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    dribble.abort();
    // A fresh client: the pooled keep-alive connection of the first request sat
    // idle longer than header_read_timeout, so the server closed it (as it
    // closes any idle keep-alive connection after that time).
    let fresh = TestClient::new(stack.bridge.base.clone());
    assert_eq!(fresh.get("/Users").await.status, 200);
}

#[tokio::test]
async fn slow_backend_gives_504_within_the_deadline() {
    let stack = PeripassStack::start_with(
        crate::support::peripass::Options {
            latency_ms: 60_000,
            ..Default::default()
        },
        "[server]\nrequest_timeout_ms = 300\n",
    )
    .await;
    let started = Instant::now();
    let r = stack.scim().get("/Users").await;
    r.assert_scim_error(504, None);
    // Long before the backend's minute (generous: a loaded machine is slow).
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn concurrent_requests_beyond_the_limit_get_503_at_once() {
    let stack = PeripassStack::start_with(
        crate::support::peripass::Options {
            latency_ms: 8000,
            ..Default::default()
        },
        "[server]\nmax_concurrent_requests = 3\n",
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        let c = stack.scim().clone();
        slow.push(tokio::spawn(async move { c.get("/Users").await.status }));
    }
    // The three hold their permits once they are at the backend (8 s).
    let waited = Instant::now();
    while stack.backend.request_count() < 3 {
        assert!(waited.elapsed() < Duration::from_secs(30), "not in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = stack.scim().get("/Users").await;
    r.assert_scim_error(503, None);
    assert_eq!(r.header("retry-after"), Some("1"));
    // At once, by order rather than a clock: the 503 came while all three
    // still held their permits (not queued until one came back).
    assert!(
        slow.iter().all(|s| !s.is_finished()),
        "the 503 came only after a permit was returned"
    );
    assert_eq!(
        stack.backend.request_count(),
        3,
        "the fourth never reached the backend"
    );
    // Health checks are exempt.
    let health = TestClient::new(format!("http://{}", stack.bridge.addr))
        .get("/healthz")
        .await;
    assert_eq!(health.status, 200);
    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }
    // Permits come back.
    stack.backend.set_latency_ms(0);
    assert_eq!(stack.scim().get("/Users").await.status, 200);
}

#[tokio::test]
async fn deeply_nested_json_is_400_invalid_syntax() {
    let stack = PeripassStack::start(Default::default()).await;
    let c = stack.scim();
    for depth in [65, 200, 5000] {
        let body = format!(
            "{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"a@example.com\",\"x\":{}{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let r = c.send(Method::POST, "/Users", Some(&body), &[]).await;
        let j = r.assert_scim_error(400, Some("invalidSyntax"));
        assert!(
            j["detail"].as_str().unwrap().contains("deeper than 64"),
            "{j}"
        );
    }
    assert_eq!(stack.backend.user_count(), 0);
    // Brackets inside strings (with escaped quotes) do not count.
    let name = format!("{}\\\"{}", "[".repeat(100), "{".repeat(100));
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "b@example.com",
        "displayName": serde_json::from_str::<String>(&format!("\"{name}\"")).unwrap(),
        "name": {"givenName": "B", "familyName": "C"},
        "emails": [{"value": "b@example.com", "primary": true, "type": "work"}],
    });
    let r = c.post("/Users", &body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id: u64 = r.json()["id"].as_str().unwrap().parse().unwrap();
    let stored = stack.backend.user(id).expect("created in the backend");
    assert_eq!(stored["displayName"], body["displayName"], "{stored}");
}

/// A Peripass stack with `[auth.oauth]` (one client, `limits`), `extra`
/// settings before it.
async fn oauth_stack(extra: &str) -> PeripassStack {
    let key = "limits-signing-key-0123456789-0123456789";
    let secret = "limits-client-secret-0123456789";
    register_secret(key);
    register_secret(secret);
    PeripassStack::start_with(
        crate::support::peripass::Options {
            seed_users: 1,
            ..Default::default()
        },
        &format!(
            "{extra}[auth.oauth]\nsigning_keys = [{key:?}]\n\
             [[auth.oauth.clients]]\nid = \"limits\"\nsecrets = [{secret:?}]\n"
        ),
    )
    .await
}

/// `n` token requests from 127.0.0.1 whose form never completes (held open
/// while the returned connections live).
async fn trickling_token_requests(stack: &PeripassStack, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut conn = TcpStream::connect(stack.bridge.addr).await.unwrap();
        conn.write_all(
            b"POST /scim/v2/oauth2/token HTTP/1.1\r\nhost: x\r\n\
              content-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type=",
        )
        .await
        .unwrap();
        held.push(conn);
    }
    held
}

/// Requests nobody has authenticated never hold the SCIM requests'
/// permits: token requests whose form trickles in (the token endpoint is
/// open to all) and requests with a wrong token leave every permit to the
/// clients that authenticated.
#[tokio::test]
async fn unauthenticated_requests_never_hold_the_scim_permits() {
    let stack = oauth_stack("[server]\nmax_concurrent_requests = 3\n").await;
    let held = trickling_token_requests(&stack, 8).await;
    let wrong = stack
        .scim()
        .with_token("not-the-token-0123456789-0123456789");
    for _ in 0..8 {
        wrong.get("/Users").await.assert_scim_error(401, None);
    }
    // Give the bridge time to take up the trickling token requests.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        assert_eq!(stack.scim().get("/Users/1").await.status, 200);
    }
    drop(held);
}

/// One address trickling token requests holds at most a few of the token
/// endpoint's slots: a token request from another address is still
/// answered (here `401`, a wrong secret), not `503`.
#[tokio::test]
async fn one_address_cannot_hold_every_token_slot() {
    let stack = oauth_stack("").await;
    let held = trickling_token_requests(&stack, 40).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut conn = sock.connect(stack.bridge.addr).await.unwrap();
    let body =
        "grant_type=client_credentials&client_id=limits&client_secret=wrong-secret-0123456789";
    register_secret("wrong-secret-0123456789");
    conn.write_all(
        format!(
            "POST /scim/v2/oauth2/token HTTP/1.1\r\nhost: x\r\n\
             content-type: application/x-www-form-urlencoded\r\nconnection: close\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    drop(held);
}
