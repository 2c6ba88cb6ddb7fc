//! A membership PATCH is atomic (RFC 7644 §3.5.2): when a membership call
//! fails part-way, the calls already made are undone; only when the undo
//! fails too does the error say exactly which members were left applied.
//! Failures are injected deterministically with the example backend's
//! `fail_nth` test hook.
use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

async fn stack_with_team(members: &[u64]) -> (PeripassStack, String) {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 10,
        ..Default::default()
    })
    .await;
    let r = s
        .scim()
        .post(
            "/Groups",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Ops",
                "members": members.iter().map(|m| json!({"value": m.to_string()})).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(team_members(&s, &id), members.iter().copied().collect());
    s.backend.clear_requests();
    (s, id)
}

fn team_members(s: &PeripassStack, id: &str) -> BTreeSet<u64> {
    s.backend.team(id).unwrap()["memberIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

fn count(s: &PeripassStack, method: &str) -> usize {
    s.backend
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path_and_query.contains("/members"))
        .count()
}

fn values(ids: &[u64]) -> Value {
    Value::Array(
        ids.iter()
            .map(|m| json!({"$ref": null, "value": m.to_string()}))
            .collect(),
    )
}

#[tokio::test]
async fn failed_add_part_way_is_undone_and_answered_with_the_error() {
    let (s, id) = stack_with_team(&[1, 2]).await;
    // The third of five member additions fails.
    s.backend.fail_nth("POST", "/members", 3);
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Add","path":"members","value": values(&[3, 4, 5, 6, 7])}])),
        )
        .await;
    let e = r.assert_scim_error(503, None);
    assert!(
        !e["detail"].as_str().unwrap().contains("still applied"),
        "{e}"
    );
    // Four additions went through and were removed again.
    assert_eq!(count(&s, "POST"), 5);
    assert_eq!(count(&s, "DELETE"), 4);
    assert_eq!(team_members(&s, &id), BTreeSet::from([1, 2]));
}

/// A member call the backend carried out but answered `500` (the bridge
/// cannot tell whether it was made) is undone with the others: the group
/// ends as it was, never with part of the change.
#[tokio::test]
async fn a_call_that_failed_after_being_applied_is_undone_too() {
    let (s, id) = stack_with_team(&[1, 2]).await;
    s.backend.fail_nth_after_applying("POST", "/members", 2);
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Add","path":"members","value": values(&[6, 7, 8])}])),
        )
        .await;
    let e = r.assert_scim_error(503, None);
    assert!(
        !e["detail"].as_str().unwrap().contains("still applied"),
        "{e}"
    );
    assert_eq!(team_members(&s, &id), BTreeSet::from([1, 2]));
    // The same for a removal: the member removed despite the error is back.
    s.backend.clear_requests();
    s.backend.fail_nth_after_applying("DELETE", "/members", 1);
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Remove","path":"members","value": values(&[1])}])),
        )
        .await;
    r.assert_scim_error(503, None);
    assert_eq!(team_members(&s, &id), BTreeSet::from([1, 2]));
    assert_eq!(count(&s, "POST"), 1, "re-added");
}

#[tokio::test]
async fn failed_remove_after_adds_undoes_both_kinds() {
    let (s, id) = stack_with_team(&[1, 2, 3]).await;
    // replace → add 4, 5 and remove 1, 2; the second removal fails.
    s.backend.fail_nth("DELETE", "/members", 2);
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"replace","path":"members","value": values(&[3, 4, 5])}])),
        )
        .await;
    r.assert_scim_error(503, None);
    assert_eq!(team_members(&s, &id), BTreeSet::from([1, 2, 3]));
    // A later retry of the same PATCH succeeds.
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"replace","path":"members","value": values(&[3, 4, 5])}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(team_members(&s, &id), BTreeSet::from([3, 4, 5]));
}

#[tokio::test]
async fn failed_undo_lists_exactly_the_members_left_applied() {
    let (s, id) = stack_with_team(&[1]).await;
    // The fourth of five additions fails; while undoing, the second removal
    // fails too, asking for a wait (Retry-After) longer than the membership
    // deadline, so the undo does not retry it.
    s.backend.set_retry_after_secs(3600);
    s.backend.fail_nth("POST", "/members", 4);
    s.backend.fail_nth("DELETE", "/members", 2);
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Add","path":"members","value": values(&[2, 3, 4, 5, 6])}])),
        )
        .await;
    let e = r.assert_scim_error(503, None);
    let detail = e["detail"].as_str().unwrap().to_string();
    let now = team_members(&s, &id);
    let left: Vec<u64> = now.iter().copied().filter(|m| *m != 1).collect();
    assert_eq!(left.len(), 1, "one undo failed: {now:?}");
    assert!(now.contains(&1));
    let (_, listed) = detail
        .split_once("still applied: ")
        .unwrap_or_else(|| panic!("detail names what is left: {detail}"));
    let listed: Vec<&str> = listed.split(", ").collect();
    assert_eq!(listed, vec![format!("added {}", left[0])], "{detail}");
    // Counted, for alerting.
    // `/metrics` on the main listener needs the token (TestClient sends it).
    let r = TestClient::new(format!("http://{}", s.bridge.addr))
        .get("/metrics")
        .await;
    assert_eq!(r.status, 200);
    let metrics = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "scim_bridge_membership_undo_failures_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn failed_readd_during_undo_is_listed_as_removed() {
    let (s, id) = stack_with_team(&[1, 2, 3]).await;
    // Removing three members: the third removal fails, and re-adding one of
    // the two already removed fails as well (asking for a wait longer than
    // the membership deadline: not retried).
    s.backend.set_retry_after_secs(3600);
    s.backend.fail_nth("DELETE", "/members", 3);
    s.backend.fail_nth("POST", "/members", 1);
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Remove","path":"members","value": values(&[1, 2, 3])}])),
        )
        .await;
    let e = r.assert_scim_error(503, None);
    let detail = e["detail"].as_str().unwrap().to_string();
    let now = team_members(&s, &id);
    assert_eq!(now.len(), 2, "one member stays removed: {now:?}");
    let gone: Vec<u64> = [1, 2, 3].into_iter().filter(|m| !now.contains(m)).collect();
    assert!(
        detail.ends_with(&format!("still applied: removed {}", gone[0])),
        "{detail}"
    );
}

/// An undo call that meets a transient failure (here `503` with
/// `Retry-After: 1`) is sent again: the group ends as it was, and no undo
/// failure is counted.
#[tokio::test]
async fn a_transient_failure_of_an_undo_call_is_retried() {
    let (s, id) = stack_with_team(&[1]).await;
    // The fourth of five additions fails; the first undo call fails once.
    s.backend.fail_nth("POST", "/members", 4);
    s.backend.fail_nth("DELETE", "/members", 1);
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Add","path":"members","value": values(&[2, 3, 4, 5, 6])}])),
        )
        .await;
    let e = r.assert_scim_error(503, None);
    assert!(
        !e["detail"].as_str().unwrap().contains("still applied"),
        "{e}"
    );
    assert_eq!(team_members(&s, &id), BTreeSet::from([1]));
    // Four additions made and undone, one of them sent twice.
    assert_eq!(count(&s, "POST"), 5);
    assert_eq!(count(&s, "DELETE"), 5);
    let r = TestClient::new(format!("http://{}", s.bridge.addr))
        .get("/metrics")
        .await;
    assert_eq!(r.status, 200);
    let metrics = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "scim_bridge_membership_undo_failures_total 0"),
        "{metrics}"
    );
}

/// Member ids are checked before the first change; the first one missing
/// ends the check (no read starts after it): a body of 40 bad ids costs a
/// handful of reads, not 40.
#[tokio::test]
async fn the_first_missing_member_ends_the_existence_check() {
    let (s, id) = stack_with_team(&[1]).await;
    let bad: Vec<u64> = (960..1000).collect();
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Add","path":"members","value": values(&bad)}])),
        )
        .await;
    r.assert_scim_error(400, Some("invalidValue"));
    let reads = s
        .backend
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path_and_query.starts_with("/api/v1/users/"))
        .count();
    assert!(reads <= 16, "{reads} member reads for 40 bad ids");
    assert_eq!(count(&s, "POST"), 0);
    assert_eq!(team_members(&s, &id), BTreeSet::from([1]));
}

/// A mistake in a non-member operation that the bridge itself can see (a
/// value of the wrong type) is refused before any member call: no member
/// is added and then removed again, and the group's version is unchanged.
#[tokio::test]
async fn a_type_error_beside_member_changes_is_refused_before_any_member_call() {
    let (s, id) = stack_with_team(&[1]).await;
    let version = s.scim().get(&format!("/Groups/{id}")).await.json()["meta"]["version"].clone();
    for bad in [json!(5), json!(["x"]), json!({"a": 1})] {
        for ops in [
            json!([{"op": "add", "path": "members", "value": values(&[5, 6])},
                   {"op": "replace", "path": "displayName", "value": bad}]),
            json!([{"op": "replace", "path": "displayName", "value": bad},
                   {"op": "add", "path": "members", "value": values(&[5, 6])}]),
        ] {
            let r = s
                .scim()
                .patch(&format!("/Groups/{id}"), &patch_ops(ops.clone()))
                .await;
            r.assert_scim_error(400, Some("invalidValue"));
            assert_eq!(count(&s, "POST") + count(&s, "DELETE"), 0, "{ops}");
        }
    }
    assert_eq!(team_members(&s, &id), [1].into_iter().collect());
    let after = s.scim().get(&format!("/Groups/{id}")).await.json()["meta"]["version"].clone();
    assert_eq!(after, version);
}

/// A membership change that is made but cannot be read back for the
/// answer (the backend refuses the re-read) is answered `204 No Content`,
/// not "retry later": the change stands, and a client told to retry a
/// change it believes was not made would count it as failed.
#[tokio::test]
async fn a_change_made_but_not_read_back_is_answered_204() {
    let (s, id) = stack_with_team(&[1]).await;
    // The first read (under the lock) passes; the re-read and its retries fail.
    s.backend.fail_nth("GET", &format!("/teams/{id}"), 2);
    for _ in 0..3 {
        s.backend.fail_nth("GET", &format!("/teams/{id}"), 1);
    }
    let r = s
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op": "add", "path": "members", "value": values(&[5, 6])}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.is_empty());
    assert_eq!(team_members(&s, &id), [1, 5, 6].into_iter().collect());
}

/// A member call that gets no answer (it outlives the backend timeout) is
/// undone at once, but the backend may still carry it out after its undo:
/// nothing tells the bridge. The error and the log say which members are in
/// doubt, and the undo-failure metric counts it, so the group gets a look.
#[tokio::test]
async fn a_member_call_without_an_answer_is_reported_in_doubt() {
    let tap = LogTap::open();
    let s = PeripassStack::start_custom(
        peripass::Options {
            seed_users: 10,
            seed_teams: 1,
            ..Default::default()
        },
        StackConfig {
            backend_extra: "timeout_ms = 300",
            ..Default::default()
        },
    )
    .await;
    // The member call is held past the bridge's timeout, then carried out.
    s.backend.hold_until_together_at_most(
        "POST",
        "/members",
        2,
        std::time::Duration::from_millis(900),
    );
    let r = s
        .scim()
        .patch(
            "/Groups/T-0001",
            &patch_ops(json!([{"op": "add", "path": "members", "value": values(&[5])}])),
        )
        .await;
    assert!(r.status.is_server_error(), "{:?}", r.json());
    let e = r.assert_scim_error(r.status.as_u16(), None);
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains("without an answer") && detail.ends_with(": 5"),
        "{detail}"
    );
    assert!(tap.text().contains("may still carry them out"));
    let admin = TestClient::new(format!("http://{}", s.bridge.addr));
    let m = String::from_utf8(admin.get("/metrics").await.body.to_vec()).unwrap();
    assert!(
        m.lines().any(
            |l| l.starts_with("scim_bridge_membership_undo_failures_total") && l.ends_with(" 1")
        ),
        "{m}"
    );
}
