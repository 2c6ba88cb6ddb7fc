//! Lifecycle policy: a soft delete chosen in the mapping. Entra's disable,
//! restore and deprovision flows end in the intended Acme state, and reads of
//! a soft-deleted record answer what the mapping says (404, or the record
//! with `active: false`).
use crate::support::*;
use serde_json::{json, Value};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn soft_mapping(reads: &str) -> String {
    let m = ACME_MAPPING.replacen(
        "    filters:\n      - { scim: userName, param: handle }",
        &format!(
            "    lifecycle:\n      set: {{ archived: true, disabled: true }}\n      deleted_reads: {reads}\n    filters:\n      - {{ scim: userName, param: handle }}"
        ),
        1,
    );
    assert_ne!(m, ACME_MAPPING);
    m
}

async fn active(s: &AcmeStack, user: &str, v: Value) {
    let r = s
        .scim()
        .patch(
            user,
            &patch_ops(json!([{"op": "Replace", "path": "active", "value": v}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

async fn by_name(s: &AcmeStack, name: &str) -> Value {
    let r = s
        .scim()
        .get(&format!(
            "/Users?filter={}",
            entra_filter(&format!("userName eq \"{name}\""))
        ))
        .await;
    assert_eq!(r.status, 200);
    r.json()
}

#[tokio::test]
async fn soft_delete_reads_not_found() {
    let s = AcmeStack::start_with_mapping(0, ACME_PASSWORD, &soft_mapping("not_found")).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE], "userName": "soft@acme.test"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");
    // Disable ("False" as Entra sends it) and restore: plain field writes.
    active(&s, &user, json!("False")).await;
    assert_eq!(s.backend.person(&id).unwrap()["disabled"], true);
    active(&s, &user, json!(true)).await;
    let p = s.backend.person(&id).unwrap();
    assert_eq!(
        (&p["disabled"], &p["archived"]),
        (&json!(false), &Value::Null)
    );
    // Deprovision: the record stays in Acme, archived and disabled.
    s.backend.clear_requests();
    let r = s.scim().delete(&user).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert!(s.requests("DELETE").is_empty(), "no hard delete");
    let p = s.backend.person(&id).expect("still stored");
    assert_eq!(
        (&p["disabled"], &p["archived"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(p["handle"], "soft@acme.test");
    // Reads: 404, left out of lists and filters; a second DELETE is 404.
    assert_eq!(s.scim().get(&user).await.status, 404);
    assert_eq!(
        ids(&by_name(&s, "soft@acme.test").await),
        Vec::<String>::new()
    );
    assert!(!ids(&s.scim().get("/Users").await.json()).contains(&id));
    assert_eq!(s.scim().delete(&user).await.status, 404);
    let r = s
        .scim()
        .patch(
            &user,
            &patch_ops(json!([{"op": "Replace", "path": "active", "value": true}])),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        s.backend.person(&id).unwrap()["archived"],
        true,
        "nothing written"
    );
}

#[tokio::test]
async fn soft_delete_reads_inactive() {
    let s = AcmeStack::start_with_mapping(0, ACME_PASSWORD, &soft_mapping("inactive")).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE], "userName": "inact@acme.test"}),
        )
        .await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");
    assert_eq!(s.scim().delete(&user).await.status, 204);
    let p = s.backend.person(&id).unwrap();
    assert_eq!(
        (&p["disabled"], &p["archived"]),
        (&json!(true), &json!(true))
    );
    let u = s.scim().get(&user).await;
    assert_eq!(u.status, 200);
    assert_eq!(u.json()["active"], false);
    let found = by_name(&s, "inact@acme.test").await;
    assert_eq!(ids(&found), vec![id.clone()]);
    assert_eq!(found["Resources"][0]["active"], false);
    // A second DELETE is 404, as after a hard delete.
    assert_eq!(s.scim().delete(&user).await.status, 404);
    // Reactivation (Entra re-assigns the user and finds it by userName).
    active(&s, &user, json!(true)).await;
    assert_eq!(s.scim().get(&user).await.json()["active"], true);
    assert_eq!(s.backend.person(&id).unwrap()["disabled"], false);
}
