//! SCIM Groups over the legacy teams API: what only Peripass has (member
//! endpoints that can fail midway, large teams). Entra's group shapes, with
//! the writes each backend gets, are in `entra_both`.
use crate::support::*;
use serde_json::{json, Value};

fn opts(users: usize) -> peripass::Options {
    peripass::Options {
        seed_users: users,
        ..Default::default()
    }
}

async fn create_group(s: &PeripassStack, name: &str) -> String {
    let r = s
        .scim()
        .post(
            "/Groups",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"8aa1a0c0-0000-4000-8000-000000000001","displayName":name,"meta":{"resourceType":"Group"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["displayName"], name);
    assert!(r
        .header("location")
        .unwrap()
        .ends_with(&format!("/Groups/{}", j["id"].as_str().unwrap())));
    j["id"].as_str().unwrap().to_string()
}

fn member_ids(team: &Value) -> Vec<u64> {
    team["memberIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

fn methods(s: &PeripassStack) -> Vec<String> {
    s.backend
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path_and_query.split('?').next().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn unknown_member_is_rejected_before_any_call() {
    let s = PeripassStack::start(opts(2)).await;
    let id = create_group(&s, "Ops").await;
    s.backend.clear_requests();
    let add = patch_ops(
        json!([{"op":"Add","path":"members","value":[{"value":"1"},{"value":"999"},{"value":"abc"}]}]),
    );
    let r = s.scim().patch(&format!("/Groups/{id}"), &add).await;
    let e = r.assert_scim_error(400, Some("invalidValue"));
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.contains("999") || detail.contains("abc"), "{detail}");
    assert!(
        !methods(&s).iter().any(|m| m.starts_with("POST")),
        "no membership call was made"
    );
    assert_eq!(member_ids(&s.backend.team(&id).unwrap()), Vec::<u64>::new());
}

/// Entra removes a member whose user was deleted after the bridge checked
/// it and before its membership call: the backend answers that call
/// `404 USER_NOT_FOUND` (the contract), and the member is gone either way,
/// so the removal succeeds.
#[tokio::test]
async fn removing_a_member_deleted_meanwhile_succeeds() {
    let s = PeripassStack::start(opts(3)).await;
    let id = create_group(&s, "Ops").await;
    let add =
        patch_ops(json!([{"op":"Add","path":"members","value":[{"value":"1"},{"value":"2"}]}]));
    assert_eq!(
        s.scim().patch(&format!("/Groups/{id}"), &add).await.status,
        200
    );
    assert_eq!(member_ids(&s.backend.team(&id).unwrap()), vec![1, 2]);
    s.backend
        .delete_user_before("DELETE", &format!("/teams/{id}/members/2"), 2);
    s.backend.clear_requests();
    let rm = patch_ops(json!([{"op":"Remove","path":"members","value":[{"value":"2"}]}]));
    let r = s.scim().patch(&format!("/Groups/{id}"), &rm).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The call was made, and the backend refused it as the contract says.
    let m = methods(&s);
    assert!(
        m.contains(&format!("DELETE /api/v1/teams/{id}/members/2")),
        "{m:?}"
    );
    assert!(s.backend.user(2).is_none());
    assert_eq!(member_ids(&s.backend.team(&id).unwrap()), vec![1]);
    let shown: Vec<String> = r.json()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, vec!["1"]);
}

/// Entra adds two members, one of which is deleted after the bridge checked
/// it: that add is `invalidValue` naming it, and the other add is undone.
#[tokio::test]
async fn adding_a_member_deleted_meanwhile_is_invalid_value_and_undone() {
    let s = PeripassStack::start(opts(3)).await;
    let id = create_group(&s, "Ops").await;
    let v0 = s.backend.team(&id).unwrap()["version"].clone();
    s.backend
        .delete_user_before("POST", &format!("/teams/{id}/members"), 2);
    let add =
        patch_ops(json!([{"op":"Add","path":"members","value":[{"value":"1"},{"value":"2"}]}]));
    let r = s.scim().patch(&format!("/Groups/{id}"), &add).await;
    let e = r.assert_scim_error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("'2'"), "{e}");
    assert!(s.backend.user(2).is_none());
    assert!(s.backend.user(1).is_some());
    let team = s.backend.team(&id).unwrap();
    assert_eq!(
        member_ids(&team),
        Vec::<u64>::new(),
        "the add of 1 was undone"
    );
    assert_ne!(team["version"], v0, "1 was added, then removed");
}

#[tokio::test]
async fn large_group_reads_and_member_changes() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 10_001,
        seed_teams: 1,
        seed_team_members: 10_000,
        ..Default::default()
    })
    .await;
    s.backend.clear_requests();
    let r = s
        .scim()
        .get("/Groups/T-0001?excludedAttributes=members")
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json().get("members").is_none());
    assert!(
        r.body.len() < 2000,
        "no member list built: {} bytes",
        r.body.len()
    );
    assert_eq!(s.backend.request_count(), 1, "one backend call");

    let r = s.scim().get("/Groups/T-0001").await;
    assert_eq!(r.json()["members"].as_array().unwrap().len(), 10_000);

    s.backend.clear_requests();
    let add = patch_ops(
        json!([{"op":"Add","path":"members","value":[{"value":"10001"}]},{"op":"Remove","path":"members","value":[{"value":"1"}]}]),
    );
    let r = s
        .scim()
        .send(
            http::Method::PATCH,
            "/Groups/T-0001?excludedAttributes=members",
            Some(&add.to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json().get("members").is_none());
    let m = methods(&s);
    assert!(!m.iter().any(|x| x.starts_with("PUT")), "{m:?}");
    assert_eq!(
        m.iter().filter(|x| x.contains("/members")).count(),
        2,
        "{m:?}"
    );
    let ids = member_ids(&s.backend.team("T-0001").unwrap());
    assert_eq!(ids.len(), 10_000);
    assert!(ids.contains(&10_001) && !ids.contains(&1));
}

/// RFC 7643 §4.2: a member may be named by its `$ref` alone. The bridge takes
/// the id from it in a POST, a PUT and a PATCH (membership operations and
/// path-less values alike); a `$ref` outside `/Users`, or one that names
/// another user than the member's `value`, is `400 invalidValue` before any
/// write.
#[tokio::test]
async fn members_named_by_ref_alone_are_written() {
    let s = PeripassStack::start(opts(4)).await;
    const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    let base = s.scim().base.clone();
    let r = s
        .scim()
        .post(
            "/Groups",
            &json!({"schemas":[GROUP],"displayName":"By ref","members":[{"$ref": format!("{base}/Users/1")}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(member_ids(&s.backend.team(&id).unwrap()), vec![1]);

    // PATCH add: a relative `$ref`, and one beside the value it names.
    let add = patch_ops(json!([{"op":"Add","path":"members","value":[
        {"$ref":"/scim/v2/Users/2"},
        {"value":"3","$ref":format!("{base}/Users/3")}
    ]}]));
    let r = s.scim().patch(&format!("/Groups/{id}"), &add).await;
    assert!(
        r.status == 200 || r.status == 204,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let mut got = member_ids(&s.backend.team(&id).unwrap());
    got.sort();
    assert_eq!(got, vec![1, 2, 3]);

    // PUT with members by `$ref` only.
    let put = json!({"schemas":[GROUP],"displayName":"By ref","members":[{"$ref": format!("{base}/Users/4")}]});
    let r = s.scim().put(&format!("/Groups/{id}"), &put).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(member_ids(&s.backend.team(&id).unwrap()), vec![4]);

    // Refused, nothing written: another endpoint, and value and `$ref` at odds.
    s.backend.clear_requests();
    for bad in [
        json!([{"$ref": format!("{base}/Groups/{id}")}]),
        json!([{"value":"1","$ref": format!("{base}/Users/2")}]),
    ] {
        let r = s
            .scim()
            .patch(
                &format!("/Groups/{id}"),
                &patch_ops(json!([{"op":"Add","path":"members","value":bad}])),
            )
            .await;
        r.assert_scim_error(400, Some("invalidValue"));
        let r = s
            .scim()
            .patch(
                &format!("/Groups/{id}"),
                &patch_ops(json!([{"op":"Replace","value":{"members":bad}}])),
            )
            .await;
        r.assert_scim_error(400, Some("invalidValue"));
        let r = s
            .scim()
            .post(
                "/Groups",
                &json!({"schemas":[GROUP],"displayName":"Bad ref","members":bad}),
            )
            .await;
        r.assert_scim_error(400, Some("invalidValue"));
    }
    assert!(
        methods(&s).iter().all(|m| m.starts_with("GET")),
        "{:?}",
        methods(&s)
    );
    assert_eq!(member_ids(&s.backend.team(&id).unwrap()), vec![4]);
}
