//! HTTP/2 streams a backend refused (RFC 9113 §8.7: `RST_STREAM` with
//! `REFUSED_STREAM`, not processed) are told apart from the ones it may
//! have acted on: only they are `Closed { written: false }`, which the
//! client sends again (writes included) instead of answering `502`.

use super::tests::{call, h2_acceptor, localhost_cert, trusting};
use super::*;
use std::sync::atomic::AtomicUsize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Tls = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// How a test backend treats the first request it gets.
#[derive(Clone, Copy)]
enum First {
    /// `RST_STREAM` with this reason.
    Reset(h2::Reason),
    /// The answer's head and part of its body, then `RST_STREAM` with
    /// this reason.
    ResetMidBody(h2::Reason),
    /// `GOAWAY` with last stream id 0 (the request's stream is above it)
    /// and this error code, written frame by frame.
    GoAway(u32),
}

/// An `h2` backend on `localhost` that treats its first request as `first`
/// says and answers every later one `200 answer N` (N counting requests,
/// the first included): its port, the connections it accepted and the
/// requests it saw.
async fn backend(
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    first: First,
) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let acceptor = h2_acceptor(cert);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (count, seen) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let tls = acceptor.accept(tcp).await.unwrap();
                match first {
                    First::GoAway(code) if n == 0 => going_away(tls, code, &seen).await,
                    _ => answering(tls, first, &seen).await,
                }
            });
        }
    });
    (port, accepted, requests)
}

async fn answering(tls: Tls, first: First, seen: &AtomicUsize) {
    let mut conn = h2::server::handshake(tls).await.unwrap();
    while let Some(Ok((_req, mut respond))) = conn.accept().await {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        match first {
            First::Reset(reason) if n == 1 => respond.send_reset(reason),
            First::ResetMidBody(reason) if n == 1 => {
                let mut body = respond
                    .send_response(http::Response::new(()), false)
                    .unwrap();
                body.send_data(Bytes::from_static(b"{\"par"), false)
                    .unwrap();
                // After the client has the head and waits for the rest.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    body.send_reset(reason);
                });
            }
            _ => {
                let mut body = respond
                    .send_response(http::Response::new(()), false)
                    .unwrap();
                body.send_data(Bytes::from(format!("answer {n}")), true)
                    .unwrap();
            }
        }
    }
}

/// The HTTP/2 server side by hand, as far as a `GOAWAY` for the first
/// request: the preface, the settings and their acknowledgement, then, on
/// the request's `HEADERS`, `GOAWAY` naming stream 0 as the last one
/// processed.
async fn going_away(mut tls: Tls, code: u32, seen: &AtomicUsize) {
    let frame = |kind: u8, flags: u8, payload: &[u8]| {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    };
    let mut preface = [0; 24];
    if tls.read_exact(&mut preface).await.is_err() {
        return;
    }
    let _ = tls.write_all(&frame(0x4, 0, &[])).await;
    let _ = tls.flush().await;
    let mut head = [0; 9];
    while tls.read_exact(&mut head).await.is_ok() {
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        if tls.read_exact(&mut payload).await.is_err() {
            return;
        }
        let reply = match (head[3], head[4] & 0x1) {
            // SETTINGS (not an acknowledgement): acknowledged.
            (0x4, 0) => frame(0x4, 0x1, &[]),
            // HEADERS: last stream id 0, then the code.
            (0x1, _) => {
                seen.fetch_add(1, Ordering::SeqCst);
                frame(
                    0x7,
                    0,
                    &[&0u32.to_be_bytes()[..], &code.to_be_bytes()].concat(),
                )
            }
            _ => continue,
        };
        let _ = tls.write_all(&reply).await;
        let _ = tls.flush().await;
    }
}

async fn first_call(
    first: First,
) -> (
    Result<String, BackendError>,
    Arc<Pool>,
    Uri,
    Arc<AtomicUsize>,
) {
    let cert = localhost_cert();
    let (port, accepted, _) = backend(&cert, first).await;
    let pool = Pool::new(trusting(&cert), 32, Duration::from_secs(10));
    let uri: Uri = format!("https://localhost:{port}/api/v1/users")
        .parse()
        .unwrap();
    (call(&pool, &uri, Method::POST).await, pool, uri, accepted)
}

/// A refused stream was not processed: a request never sent. The
/// connection stays shared and carries the next call.
#[tokio::test]
async fn a_refused_stream_is_a_request_never_sent() {
    let (answer, pool, uri, accepted) = first_call(First::Reset(h2::Reason::REFUSED_STREAM)).await;
    match answer {
        Err(BackendError::Closed { written: false, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(call(&pool, &uri, Method::POST).await.unwrap(), "answer 2");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// Any other end may come after the backend acted on the request: a
/// reset with another reason, and a `GOAWAY`, graceful or not (hyper may
/// hand a request whose `HEADERS` still go out the connection's `GOAWAY`
/// error). After a `GOAWAY` the next call connects anew.
#[tokio::test]
async fn other_stream_ends_may_have_been_processed() {
    for (first, connections) in [
        (First::Reset(h2::Reason::INTERNAL_ERROR), 1),
        (First::Reset(h2::Reason::CANCEL), 1),
        (First::GoAway(0), 2),
        (First::GoAway(0x2), 2),
    ] {
        let (answer, pool, uri, accepted) = first_call(first).await;
        match answer {
            Err(BackendError::Closed { written: false, .. }) | Ok(_) => panic!("sent again"),
            Err(e) => {
                let shown = format!("{e:?}");
                assert!(
                    crate::backend::errors::may_have_reached(&e.into()),
                    "{shown}"
                )
            }
        }
        assert_eq!(call(&pool, &uri, Method::POST).await.unwrap(), "answer 2");
        assert_eq!(accepted.load(Ordering::SeqCst), connections);
    }
}

/// A client trusting `cert` with `read_retries`, and a backend plan for
/// `https://localhost:{port}`.
fn client_for(
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    port: u16,
    read_retries: u32,
) -> (
    crate::backend::BackendClient,
    crate::mapping::plan::BackendPlan,
) {
    let ca = std::env::temp_dir().join(format!(
        "scim-bridge-h2-ca-{}-{port}.pem",
        std::process::id()
    ));
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let tls = crate::config::BackendTlsSettings {
        ca_file: Some(ca.clone()),
        ..Default::default()
    };
    let client = crate::backend::BackendClient::new(
        read_retries,
        &tls,
        crate::config::BackendLimits::default(),
    );
    std::fs::remove_file(&ca).unwrap();
    let base_url = format!("https://localhost:{port}");
    let backend = crate::mapping::plan::BackendPlan {
        uri_base: crate::mapping::plan::UriBase::of(&base_url),
        base_url,
        ..crate::backend::tests::plan()
    };
    (client, backend)
}

fn backend_call(method: Method) -> crate::backend::Call<'static> {
    crate::backend::Call {
        op: "test",
        body: (method != Method::GET).then(|| {
            (
                http::HeaderValue::from_static("application/json"),
                Bytes::from_static(b"{}"),
            )
        }),
        method,
        path_and_query: "/api/v1/users".into(),
        headers: &[],
        request_id: None,
    }
}

/// Through the client: a write whose stream the backend refused is sent
/// again and answered; the backend saw it twice, acted on it once.
#[tokio::test]
async fn a_write_on_a_refused_stream_is_sent_again() {
    let cert = localhost_cert();
    let (port, accepted, requests) = backend(&cert, First::Reset(h2::Reason::REFUSED_STREAM)).await;
    let (client, backend) = client_for(&cert, port, 0);
    let answer = client
        .send(&backend, backend_call(Method::POST))
        .await
        .unwrap();
    assert_eq!(answer.status, http::StatusCode::OK);
    assert_eq!(&answer.body[..], b"answer 2");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// Through the client: a stream the backend reset, before or during its
/// answer, or cut short with a `GOAWAY`, is a call closed before its
/// answer. A read is sent again (`read_retries`) and answered; a write is
/// not, and fails as one the backend may have acted on.
#[tokio::test]
async fn a_stream_reset_or_cut_short_retries_reads_only() {
    for first in [
        First::Reset(h2::Reason::INTERNAL_ERROR),
        First::ResetMidBody(h2::Reason::CANCEL),
        First::GoAway(0),
    ] {
        let cert = localhost_cert();
        let (port, _, requests) = backend(&cert, first).await;
        let (client, plan) = client_for(&cert, port, 1);
        let answer = client.send(&plan, backend_call(Method::GET)).await.unwrap();
        assert_eq!(&answer.body[..], b"answer 2");
        assert_eq!(requests.load(Ordering::SeqCst), 2);

        let (port, _, requests) = backend(&cert, first).await;
        let (client, plan) = client_for(&cert, port, 1);
        match client.send(&plan, backend_call(Method::POST)).await {
            Err(e @ BackendError::Closed { written: true, .. }) => {
                assert!(crate::backend::errors::may_have_reached(&e.into()))
            }
            other => panic!("{:?}", other.map(|r| r.status)),
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }
}

/// A reset that says the bridge's use of HTTP/2 was wrong would end the
/// next attempt too: a read is not repeated.
#[tokio::test]
async fn a_protocol_error_reset_is_not_retried() {
    let cert = localhost_cert();
    let (port, _, requests) = backend(&cert, First::Reset(h2::Reason::PROTOCOL_ERROR)).await;
    let (client, plan) = client_for(&cert, port, 2);
    match client.send(&plan, backend_call(Method::GET)).await {
        // The reason, for the log's warning.
        Err(BackendError::Io(cause)) => assert!(cause.contains("protocol error"), "{cause}"),
        other => panic!("{:?}", other.map(|r| r.status)),
    }
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}
