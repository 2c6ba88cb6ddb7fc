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

/// The Acme mapping with `lifecycle` (YAML lines at resource level, indented
/// by four spaces) in front of its filters.
fn with_lifecycle(lifecycle: &str) -> String {
    let m = ACME_MAPPING.replacen(
        "    filters:\n      - { scim: userName, param: handle }",
        &format!("{lifecycle}    filters:\n      - {{ scim: userName, param: handle }}"),
        1,
    );
    assert_ne!(m, ACME_MAPPING);
    m
}

const BY_CALL: &str = "    lifecycle:
      call: { method: POST, path: \"/dir/v2/people/{id}/archive\" }
      deleted: { archived: true }
      restore:
        call: { method: POST, path: \"/dir/v2/people/{id}/unarchive\" }
      deleted_reads: inactive
";

fn posts_to(s: &AcmeStack, suffix: &str) -> usize {
    s.requests("POST")
        .iter()
        .filter(|r| r.path_and_query.ends_with(suffix))
        .count()
}

#[tokio::test]
async fn soft_delete_and_restore_by_dedicated_calls() {
    let s = AcmeStack::start_with_mapping(0, ACME_PASSWORD, &with_lifecycle(BY_CALL)).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE], "userName": "call@acme.test", "displayName": "Call Me"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");
    s.backend.clear_requests();
    // Deprovision: the archive endpoint, nothing else written.
    assert_eq!(s.scim().delete(&user).await.status, 204);
    assert_eq!(posts_to(&s, &format!("/people/{id}/archive")), 1);
    assert!(s.requests("DELETE").is_empty(), "no hard delete");
    assert!(s.requests("PATCH").is_empty(), "nothing but the call");
    let p = s.backend.person(&id).expect("still stored");
    assert_eq!(
        (&p["archived"], &p["disabled"]),
        (&json!(true), &json!(true))
    );
    // Reads: `inactive`.
    let u = s.scim().get(&user).await;
    assert_eq!(u.status, 200);
    assert_eq!(u.json()["active"], false);
    assert_eq!(
        by_name(&s, "call@acme.test").await["Resources"][0]["active"],
        false
    );
    assert_eq!(
        s.scim().delete(&user).await.status,
        404,
        "already soft-deleted"
    );
    assert_eq!(posts_to(&s, "/archive"), 1, "no second archive call");
    // A write that leaves `active` alone does not restore.
    let r = s
        .scim()
        .patch(
            &user,
            &patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "Still Gone"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(posts_to(&s, "/unarchive"), 0);
    assert_eq!(s.backend.person(&id).unwrap()["archived"], true);
    // Restore (Entra's `active: true`, here with another change): the
    // unarchive call, then the change on the restored record.
    let r = s
        .scim()
        .patch(
            &user,
            &patch_ops(json!([
                {"op": "Replace", "path": "active", "value": "True"},
                {"op": "Replace", "path": "displayName", "value": "Back Again"}
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["active"], true);
    assert_eq!(posts_to(&s, &format!("/people/{id}/unarchive")), 1);
    let p = s.backend.person(&id).unwrap();
    assert_eq!(
        (&p["archived"], &p["disabled"]),
        (&Value::Null, &json!(false))
    );
    assert_eq!(p["fullName"], "Back Again");
    assert_eq!(s.scim().get(&user).await.json()["active"], true);
    // A restored record can be soft-deleted again.
    assert_eq!(s.scim().delete(&user).await.status, 204);
    assert_eq!(s.backend.person(&id).unwrap()["archived"], true);
}

#[tokio::test]
async fn soft_delete_by_call_with_not_found_reads() {
    let lc = "    lifecycle:
      call: { method: POST, path: \"/dir/v2/people/{id}/archive\" }
      deleted: { archived: true }
";
    let s = AcmeStack::start_with_mapping(2, ACME_PASSWORD, &with_lifecycle(lc)).await;
    let id = s.backend.people()[0]["uuid"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");
    assert_eq!(s.scim().delete(&user).await.status, 204);
    assert_eq!(s.backend.person(&id).unwrap()["archived"], true);
    assert_eq!(s.scim().get(&user).await.status, 404);
    assert_eq!(s.scim().delete(&user).await.status, 404);
    assert_eq!(posts_to(&s, "/archive"), 1);
}

/// Every id of an unfiltered list read page by page (`count` per page),
/// checking each page's `totalResults`, `startIndex` and `itemsPerPage`.
async fn all_pages(s: &AcmeStack, query: &str, count: usize, want_total: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 1;
    while start <= want_total + count {
        let sep = if query.is_empty() { "" } else { "&" };
        let r = s
            .scim()
            .get(&format!(
                "/Users?{query}{sep}startIndex={start}&count={count}"
            ))
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(v["totalResults"], want_total, "page at {start}: {v}");
        assert_eq!(v["startIndex"], start);
        let page = ids(&v);
        assert_eq!(v["itemsPerPage"], page.len());
        let expect = want_total.saturating_sub(start - 1).min(count);
        assert_eq!(page.len(), expect, "page at {start}: {v}");
        out.extend(page);
        start += count;
    }
    out
}

async fn delete_some(s: &AcmeStack, which: &[usize]) -> (Vec<String>, Vec<String>) {
    let people: Vec<String> = s
        .backend
        .people()
        .iter()
        .map(|p| p["uuid"].as_str().unwrap().to_string())
        .collect();
    let mut gone = Vec::new();
    for i in which {
        assert_eq!(
            s.scim()
                .delete(&format!("/Users/{}", people[*i]))
                .await
                .status,
            204
        );
        gone.push(people[*i].clone());
    }
    let kept = people.into_iter().filter(|p| !gone.contains(p)).collect();
    (kept, gone)
}

#[tokio::test]
async fn not_found_lists_count_only_live_records_when_the_bridge_scans() {
    // `set` only, no `list_query`: the bridge scans to count.
    let s = AcmeStack::start_with_mapping(7, ACME_PASSWORD, &soft_mapping("not_found")).await;
    let (kept, _) = delete_some(&s, &[0, 3, 4]).await;
    assert_eq!(
        all_pages(&s, "", 2, 4).await,
        kept,
        "every live record once, in order"
    );
    assert_eq!(all_pages(&s, "", 3, 4).await, kept);
    // A filter the backend cannot answer: the same honest count.
    let f = entra_filter("userName sw \"user\"");
    assert_eq!(all_pages(&s, &format!("filter={f}"), 3, 4).await, kept);
    // A deleted user's own name finds nothing.
    assert_eq!(by_name(&s, "user1").await["totalResults"], 0);
}

#[tokio::test]
async fn not_found_lists_push_the_soft_delete_down_with_list_query() {
    let lc = "    lifecycle:
      call: { method: POST, path: \"/dir/v2/people/{id}/archive\" }
      deleted: { archived: true }
      list_query: { archived: \"false\" }
";
    let s = AcmeStack::start_with_mapping(7, ACME_PASSWORD, &with_lifecycle(lc)).await;
    let (kept, _) = delete_some(&s, &[1, 2, 6]).await;
    s.backend.clear_requests();
    assert_eq!(all_pages(&s, "", 2, 4).await, kept);
    let lists: Vec<_> = s
        .requests("GET")
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/dir/v2/people?"))
        .collect();
    assert!(!lists.is_empty());
    for r in &lists {
        assert!(
            r.path_and_query.contains("archived=false"),
            "{}",
            r.path_and_query
        );
    }
    // The backend pages: one list call per SCIM page, no scan.
    assert_eq!(lists.len(), 3, "{lists:?}");
    let f = entra_filter("userName eq \"user2\"");
    assert_eq!(
        s.scim().get(&format!("/Users?filter={f}")).await.json()["totalResults"],
        0
    );
}

#[tokio::test]
async fn restore_by_fields_and_restore_call_with_if_match() {
    // `restore.set` only: the reactivating write clears `archived` with it.
    let lc = "    lifecycle:
      set: { archived: true, disabled: true }
      restore: { set: { archived: null } }
      deleted_reads: inactive
";
    let s = AcmeStack::start_with_mapping(1, ACME_PASSWORD, &with_lifecycle(lc)).await;
    let id = s.backend.people()[0]["uuid"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");
    assert_eq!(s.scim().delete(&user).await.status, 204);
    assert_eq!(s.backend.person(&id).unwrap()["archived"], true);
    active(&s, &user, json!(true)).await;
    let p = s.backend.person(&id).unwrap();
    assert_eq!(
        (&p["archived"], &p["disabled"]),
        (&Value::Null, &json!(false))
    );

    // `restore.call` with the client's If-Match (the version it read while
    // the record was soft-deleted): the call, then the change, no 412.
    let s = AcmeStack::start_with_mapping(1, ACME_PASSWORD, &with_lifecycle(BY_CALL)).await;
    let id = s.backend.people()[0]["uuid"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");
    assert_eq!(s.scim().delete(&user).await.status, 204);
    let version = s.scim().get(&user).await.json()["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .scim()
        .send(
            http::Method::PATCH,
            &user,
            Some(
                &patch_ops(json!([{"op": "Replace", "path": "active", "value": true}])).to_string(),
            ),
            &[("if-match", &version)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(posts_to(&s, "/unarchive"), 1);
    assert_eq!(s.backend.person(&id).unwrap()["archived"], Value::Null);
    // A stale If-Match still fails before anything is called.
    assert_eq!(s.scim().delete(&user).await.status, 204);
    let r = s
        .scim()
        .send(
            http::Method::PATCH,
            &user,
            Some(
                &patch_ops(json!([{"op": "Replace", "path": "active", "value": true}])).to_string(),
            ),
            &[("if-match", &version)],
        )
        .await;
    assert_eq!(r.status, 412);
    assert_eq!(posts_to(&s, "/unarchive"), 1, "no second restore call");
}
