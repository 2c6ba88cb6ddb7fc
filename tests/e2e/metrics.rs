//! Metrics counters move as expected after a known sequence of requests.
use crate::support::*;
use serde_json::json;

/// The value of one series; panics when the series is missing (a renamed
/// metric or label must not read as 0).
fn value(text: &str, prefix: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no series {prefix} in /metrics:\n{text}"));
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {line}"))
}

#[tokio::test]
async fn counters_follow_a_known_sequence() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 3,
        ..Default::default()
    })
    .await;
    let admin = TestClient::new(format!("http://{}", s.bridge.addr));
    for _ in 0..2 {
        assert_eq!(s.scim().get("/Users").await.status, 200);
    }
    let body =
        json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"m@x.com"});
    assert_eq!(s.scim().post("/Users", &body).await.status, 201);
    assert_eq!(s.scim().get("/Users/999").await.status, 404);
    assert_eq!(s.scim().get("/Users/abc").await.status, 404);
    assert_eq!(s.scim().without_token().get("/Users").await.status, 401);

    let r = admin.get("/metrics").await;
    assert_eq!(r.status, 200, "metrics with the token");
    let m = String::from_utf8(r.body.to_vec()).unwrap();
    let req = |op: &str, status: u16| {
        value(&m, &format!("scim_bridge_requests_total{{resource=\"Users\",operation=\"{op}\",status=\"{status}\"}}"))
    };
    assert_eq!(req("list", 200), 2.0, "{m}");
    assert_eq!(req("create", 201), 1.0);
    assert_eq!(req("get", 404), 2.0);
    let backend = |op: &str, status: &str| {
        value(
            &m,
            &format!("scim_bridge_backend_calls_total{{operation=\"{op}\",status=\"{status}\"}}"),
        )
    };
    assert_eq!(backend("list", "200"), 2.0, "{m}");
    assert_eq!(backend("create", "201"), 1.0);
    assert_eq!(
        backend("get", "404"),
        1.0,
        "the invalid id made no backend call"
    );
    assert!(m.contains("scim_bridge_request_duration_seconds_bucket"));
    assert!(m.contains("scim_bridge_backend_call_duration_seconds_count{operation=\"list\"} 2"));
    assert_eq!(
        value(&m, "scim_bridge_in_flight_requests"),
        1.0,
        "only the /metrics request itself"
    );
    // Nothing personal or secret in the metrics.
    for needle in ["m@x.com", TOKEN, "peripass-demo-key", "/Users/999"] {
        assert!(!m.contains(needle), "{needle} leaked into metrics");
    }
}
