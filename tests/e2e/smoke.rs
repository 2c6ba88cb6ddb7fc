use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn entra_test_connection_returns_empty_list() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 2,
        ..Default::default()
    })
    .await;
    let r = s
        .scim()
        .get(&format!(
            "/Users?filter={}",
            entra_filter("userName eq \"8f1e0b6a-1b5c-4c7e-9a53-0d0c6a0f5d1e\"")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[],"startIndex":1,"itemsPerPage":0})
    );
    let g = s.scim().get("/Groups").await;
    assert_eq!(g.status, 200);
}
