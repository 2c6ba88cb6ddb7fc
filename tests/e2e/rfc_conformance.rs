//! RFC 7644 conformance points found by an outside review: filter type
//! rules, discovery endpoints and filters, member types, conditional GETs
//! and writes, projections.

use crate::support::*;
use serde_json::json;

fn seeded(n: usize) -> peripass::Options {
    peripass::Options {
        seed_users: n,
        ..Default::default()
    }
}

/// RFC 7644 §3.4.2.2: `gt`/`ge`/`lt`/`le` on a Boolean attribute "SHALL
/// cause a failed response (HTTP status code 400) with "scimType" of
/// "invalidFilter"", whatever the value; a dateTime compared with
/// something that is not one is as meaningless.
#[tokio::test]
async fn filters_the_attribute_type_forbids_are_400_invalid_filter() {
    let s = PeripassStack::start(seeded(1)).await;
    s.backend.clear_requests();
    for f in [
        "active gt \"a\"",
        "active lt 5",
        "active ge \"true\"",
        "userName eq \"x\" or active le \"b\"",
        "meta.created gt \"notadate\"",
        "meta.lastModified lt 5",
    ] {
        filter_get(&s, f)
            .await
            .assert_scim_error_for(f, 400, Some("invalidFilter"));
        s.scim()
            .post("/Users/.search", &json!({ "filter": f }))
            .await
            .assert_scim_error_for(f, 400, Some("invalidFilter"));
    }
    assert_eq!(s.backend.request_count(), 0);
    for f in [
        "active eq true",
        "active eq \"True\"",
        "meta.created gt \"2011-05-13T04:42:34Z\"",
    ] {
        let r = filter_get(&s, f).await;
        assert_eq!(r.status, 200, "{f}: {}", String::from_utf8_lossy(&r.body));
    }
}

async fn filter_get(s: &PeripassStack, filter: &str) -> Resp {
    s.scim()
        .get(&format!("/Users?filter={}", entra_filter(filter)))
        .await
}

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// RFC 7643 §4.2: a member's `type` names its resource type. A member
/// declared a `Group` where the mapping's members are Users is `400
/// invalidValue` in a POST, a PUT and a PATCH, before any backend write
/// (taken as the User with that id, it would grant that user membership).
#[tokio::test]
async fn a_member_of_another_type_is_400_invalid_value() {
    let s = PeripassStack::start(seeded(3)).await;
    let r = s
        .scim()
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Ops"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{id}");
    s.backend.clear_requests();
    for t in ["Group", "group", "Users"] {
        let members = json!([{"value": "1"}, {"value": "2", "type": t}]);
        s.scim()
            .post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": "Other", "members": members}),
            )
            .await
            .assert_scim_error_for(&format!("POST {t}"), 400, Some("invalidValue"));
        s.scim()
            .put(
                &path,
                &json!({"schemas": [GROUP], "displayName": "Ops", "members": members}),
            )
            .await
            .assert_scim_error_for(&format!("PUT {t}"), 400, Some("invalidValue"));
        for op in ["add", "replace"] {
            let ops = patch_ops(json!([{"op": op, "path": "members", "value": members}]));
            s.scim().patch(&path, &ops).await.assert_scim_error_for(
                &format!("PATCH {op} {t}"),
                400,
                Some("invalidValue"),
            );
        }
    }
    assert!(
        s.backend.requests().iter().all(|r| r.method == "GET"),
        "no backend write"
    );
    assert_eq!(s.backend.team(&id).unwrap()["memberIds"], json!([]));
    // The members' own type, in any case, is taken.
    let ops = patch_ops(json!([{"op": "add", "path": "members",
        "value": [{"value": "1", "type": "user"}, {"value": "2", "type": ""}]}]));
    let r = s.scim().patch(&path, &ops).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.backend.team(&id).unwrap()["memberIds"], json!([1, 2]));
}

/// `excludedAttributes` naming every sub-attribute a complex attribute
/// holds leaves it out, rather than rendering `"name": {}`.
#[tokio::test]
async fn an_object_emptied_by_excluded_attributes_is_omitted() {
    let s = PeripassStack::start(seeded(1)).await;
    let full = s.scim().get("/Users/1").await.json();
    let name = full["name"].as_object().expect("user 1 has a name").clone();
    let subs: Vec<String> = name.keys().map(|k| format!("name.{k}")).collect();
    for path in [
        format!("/Users/1?excludedAttributes={}", subs.join(",")),
        format!("/Users?excludedAttributes={}", subs.join(",")),
    ] {
        let r = s.scim().get(&path).await;
        assert_eq!(r.status, 200, "{path}");
        let j = r.json();
        let user = if j.get("Resources").is_some() {
            j["Resources"][0].clone()
        } else {
            j
        };
        assert!(user.get("name").is_none(), "{path}: {user}");
        assert_eq!(user["userName"], full["userName"], "{path}");
    }
    // One sub-attribute left: the object stays.
    let r = s
        .scim()
        .get(&format!("/Users/1?excludedAttributes={}", subs[0]))
        .await;
    let user = r.json();
    assert_eq!(
        user["name"].as_object().unwrap().len(),
        name.len() - 1,
        "{user}"
    );
}

/// RFC 7644 §4: "If a "filter" is provided, the service provider SHOULD
/// respond with HTTP status code 403 (Forbidden)" on the discovery
/// endpoints, which take none: the whole list is no answer to a filter.
#[tokio::test]
async fn a_filter_on_a_discovery_endpoint_is_403() {
    let s = PeripassStack::start(seeded(1)).await;
    for path in [
        "/Schemas?filter=id+eq+%22x%22",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User?filter=id+eq+%22x%22",
        "/ResourceTypes?FILTER=name+eq+%22User%22",
        "/ResourceTypes/User?filter=",
        "/ServiceProviderConfig?count=1&filter=x+eq+1",
    ] {
        let e = s
            .scim()
            .get(path)
            .await
            .assert_scim_error_for(path, 403, None);
        assert_eq!(e["status"], "403", "{path}");
    }
    for path in ["/Schemas", "/ResourceTypes/User", "/ServiceProviderConfig"] {
        assert_eq!(s.scim().get(path).await.status, 200, "{path}");
    }
}

/// RFC 7644 §3.14 / RFC 7232 §3.2: a GET whose `If-None-Match` matches the
/// current version (weakly; `*` any) is `304` with an empty body and the
/// ETag; a write whose `If-None-Match` matches is `412`, with no backend
/// write.
#[tokio::test]
async fn if_none_match_is_304_on_get_and_412_on_writes() {
    use http::Method;
    let s = PeripassStack::start(seeded(2)).await;
    let r = s.scim().get("/Users/1").await;
    let etag = r.header("etag").expect("an ETag").to_string();
    assert_eq!(etag, "W/\"1\"");
    for h in [etag.as_str(), "\"1\"", "W/\"7\", W/\"1\"", "*"] {
        for m in [Method::GET, Method::HEAD] {
            let r = s
                .scim()
                .send(m.clone(), "/Users/1", None, &[("if-none-match", h)])
                .await;
            assert_eq!(r.status, 304, "{m} {h}");
            assert!(r.body.is_empty(), "{m} {h}");
            assert_eq!(r.header("etag"), Some(etag.as_str()), "{m} {h}");
        }
    }
    let r = s
        .scim()
        .send(
            Method::GET,
            "/Users/1",
            None,
            &[("if-none-match", "W/\"0\"")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], "1");

    let rename = |n: &str| {
        patch_ops(json!([{"op": "replace", "path": "displayName", "value": n}])).to_string()
    };
    let put = |n: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "user1@example.com", "displayName": n})
        .to_string()
    };
    s.backend.clear_requests();
    for h in ["*", "W/\"1\"", "W/\"5\", \"1\""] {
        for (m, body) in [
            (Method::PATCH, Some(rename("No"))),
            (Method::PUT, Some(put("No"))),
            (Method::DELETE, None),
        ] {
            s.scim()
                .send(
                    m.clone(),
                    "/Users/1",
                    body.as_deref(),
                    &[("if-none-match", h)],
                )
                .await
                .assert_scim_error_for(&format!("{m} {h}"), 412, None);
        }
    }
    assert!(
        s.backend.requests().iter().all(|r| r.method == "GET"),
        "no backend write"
    );
    assert_eq!(s.backend.user(1).unwrap()["version"], 1);
    // Another version: the write goes through. The header is checked
    // against the record read under the write lock, which the write then
    // goes over: one read, not a read of its own beforehand (a change
    // landing between that read and the write's was not seen).
    s.backend.clear_requests();
    let r = s
        .scim()
        .send(
            Method::PATCH,
            "/Users/1",
            Some(&rename("Yes")),
            &[("if-none-match", "W/\"0\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["displayName"], "Yes");
    let calls: Vec<String> = s
        .backend
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("GET")).count(),
        1,
        "{calls:?}"
    );
    let r = s
        .scim()
        .send(
            Method::DELETE,
            "/Users/2",
            None,
            &[("if-none-match", "W/\"9\"")],
        )
        .await;
    assert_eq!(r.status, 204);
}

/// A PATCH path naming an attribute the resource type does not have, or a
/// sub-attribute RFC 7643 does not define, is `400 invalidPath` before any
/// write (it used to be answered `200` and change nothing). Attributes of
/// the schema the mapping leaves unmapped, and anything under an extension
/// the resource type does not declare, are still accepted and ignored.
#[tokio::test]
async fn patch_paths_naming_no_attribute_are_400_invalid_path() {
    let s = PeripassStack::start(seeded(1)).await;
    let c = s.scim();
    for path in [
        "bogus",
        "name.bogus",
        "name.givenNmae",
        "emails[type eq \"work\"].bogus",
        "members",
        "userName.x",
    ] {
        s.backend.clear_requests();
        let r = c
            .patch(
                "/Users/1",
                &patch_ops(json!([{"op": "replace", "path": path, "value": "x"}])),
            )
            .await;
        r.assert_scim_error(400, Some("invalidPath"));
        assert_eq!(s.backend.request_count(), 0, "{path}");
    }
    for path in [
        "title",
        "name.middleName",
        // Enterprise attributes Entra may name without their URN.
        "manager",
        "employeeNumber",
        "manager[value eq \"42\"]",
        "urn:ietf:params:scim:schemas:extension:CustomExtension:2.0:User:badge",
    ] {
        let r = c
            .patch(
                "/Users/1",
                &patch_ops(json!([{"op": "replace", "path": path, "value": "x"}])),
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.json());
    }
}

/// RFC 7232 §3.1: a GET whose `If-Match` names no current version is `412`;
/// one that names it (weakly, or `*`) is answered as usual.
#[tokio::test]
async fn if_match_on_get_is_412_when_it_names_another_version() {
    use http::Method;
    let s = PeripassStack::start(seeded(1)).await;
    for (h, status) in [
        ("W/\"1\"", 200),
        ("\"1\"", 200),
        ("W/\"9\", W/\"1\"", 200),
        ("*", 200),
        ("W/\"9\"", 412),
    ] {
        let r = s
            .scim()
            .send(Method::GET, "/Users/1", None, &[("if-match", h)])
            .await;
        assert_eq!(r.status, status, "{h}");
        if status == 412 {
            r.assert_scim_error(412, None);
        }
    }
}
