//! Unassigning attributes with PUT (left out) and PATCH (`remove`), RFC 7644
//! §3.5.1 and §3.5.2.2. Peripass cannot store "no status": an unassigned
//! `active` keeps the status the backend holds (the mapping's default, true,
//! would re-enable a disabled user); other attributes are cleared.
use crate::support::*;
use serde_json::json;

async fn disabled_user(s: &PeripassStack) {
    let r = s
        .scim()
        .patch(
            "/Users/1",
            &patch_ops(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.legacy().user("1").await["status"], "DISABLED");
}

#[tokio::test]
async fn put_without_active_keeps_the_status() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 1,
        ..Default::default()
    })
    .await;
    disabled_user(&s).await;
    let r = s
        .scim()
        .put(
            "/Users/1",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "user1@example.com",
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    assert_eq!(u["active"], false);
    assert!(u.get("displayName").is_none(), "{u}");
    let legacy = s.legacy().user("1").await;
    assert_eq!(legacy["status"], "DISABLED");
    assert_eq!(legacy["displayName"], serde_json::Value::Null);
}

#[tokio::test]
async fn patch_remove_active_keeps_the_status() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 1,
        ..Default::default()
    })
    .await;
    disabled_user(&s).await;
    let r = s
        .scim()
        .patch(
            "/Users/1",
            &patch_ops(json!([
                {"op": "remove", "path": "active"},
                {"op": "remove", "path": "displayName"}
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    assert_eq!(u["active"], false);
    assert!(u.get("displayName").is_none(), "{u}");
    let legacy = s.legacy().user("1").await;
    assert_eq!(legacy["status"], "DISABLED");
    assert_eq!(legacy["displayName"], serde_json::Value::Null);
    // Replacing it with null is the same unassignment.
    let r = s
        .scim()
        .patch(
            "/Users/1",
            &patch_ops(json!([{"op": "replace", "path": "active", "value": null}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["active"], false);
    assert_eq!(s.legacy().user("1").await["status"], "DISABLED");
}

/// RFC 7644 §3.5.2.2: removing a required attribute is answered 400 with
/// scimType "mutability", and nothing is written.
#[tokio::test]
async fn patch_remove_of_a_required_attribute_is_a_mutability_error() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 1,
        ..Default::default()
    })
    .await;
    for op in [
        json!({"op": "remove", "path": "userName"}),
        json!({"op": "replace", "path": "userName", "value": null}),
        json!({"op": "replace", "value": {"userName": null}}),
    ] {
        let r = s.scim().patch("/Users/1", &patch_ops(json!([op]))).await;
        r.assert_scim_error(400, Some("mutability"));
    }
    let legacy = s.legacy().user("1").await;
    assert_eq!(legacy["login"], "user1@example.com");
    assert_eq!(legacy["version"], 1);
    // A PUT without it is a missing value, not a mutability problem.
    let r = s
        .scim()
        .put(
            "/Users/1",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "active": true}),
        )
        .await;
    r.assert_scim_error(400, Some("invalidValue"));
}
