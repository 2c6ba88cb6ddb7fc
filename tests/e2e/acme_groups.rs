//! SCIM Groups against the "Acme Directory" fixture's circles, driven only by
//! `tests/fixtures/acme.yaml`. Unlike Peripass teams, circles have no member
//! endpoints: `members: [{"uuid": …}]` is part of the record and is replaced
//! as a whole by the merge-patch update (with If-Match). These tests prove
//! that this second membership style is expressible in the mapping alone,
//! with Entra's exact group requests.

use crate::support::acme::Recorded;
use crate::support::*;
use serde_json::{json, Value};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The shared Acme stack with circle helpers.
struct Stack(AcmeStack);

impl std::ops::Deref for Stack {
    type Target = AcmeStack;
    fn deref(&self) -> &AcmeStack {
        &self.0
    }
}

impl Stack {
    async fn start(seed_people: usize) -> Stack {
        Stack(AcmeStack::start(seed_people).await)
    }

    /// UUID of the seeded person `user<i>` (1-based).
    fn person_id(&self, i: usize) -> String {
        self.backend.people()[i - 1]["uuid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn circle(&self, id: &str) -> Value {
        self.backend
            .circle(id)
            .unwrap_or_else(|| panic!("no Acme circle {id}"))
    }

    /// Member uuids of the stored circle, in its order.
    fn circle_members(&self, id: &str) -> Vec<String> {
        self.circle(id)["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["uuid"].as_str().unwrap().to_string())
            .collect()
    }

    /// Entra's create: an empty group with an externalId and meta.
    async fn create_group(&self, name: &str) -> String {
        let r = self
            .scim()
            .post(
                "/Groups",
                &json!({"schemas":[GROUP],"externalId":"8aa1a0c0-0000-4000-8000-000000000001","displayName":name,"meta":{"resourceType":"Group"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        assert_eq!(j["displayName"], name);
        assert_eq!(j["members"], json!([]), "{j}");
        let id = j["id"].as_str().unwrap().to_string();
        assert!(r
            .header("location")
            .is_some_and(|l| l.ends_with(&format!("/scim/v2/Groups/{id}"))));
        assert_eq!(r.header("etag"), Some("W/\"r1\""));
        id
    }

    async fn patch(&self, id: &str, ops: Value) -> Resp {
        self.scim()
            .patch(&format!("/Groups/{id}"), &patch_ops(ops))
            .await
    }

    /// PATCH that must succeed, issuing exactly one merge-patch write (with
    /// If-Match) whose `members` is the whole new array; returns that body.
    async fn patch_members_ok(&self, id: &str, ops: Value, expect: &[String]) -> Value {
        self.backend.clear_requests();
        let r = self.patch(id, ops).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let writes = self.writes();
        assert_eq!(writes.len(), 1, "one write: {writes:#?}");
        let w = &writes[0];
        assert_eq!(w.method, "PATCH");
        assert_eq!(w.path_and_query, format!("/dir/v2/circles/{id}"));
        assert_eq!(
            w.header("content-type"),
            Some("application/merge-patch+json")
        );
        let re = regex::Regex::new("^\"r[0-9]+\"$").unwrap();
        assert!(
            w.header("if-match").is_some_and(|m| re.is_match(m)),
            "{w:?}"
        );
        let body: Value = serde_json::from_str(&w.body).unwrap();
        let want: Vec<Value> = expect.iter().map(|u| json!({ "uuid": u })).collect();
        assert_eq!(body["members"], Value::Array(want), "{body}");
        assert_eq!(self.circle_members(id), expect);
        // The answer shows the new member list.
        let shown: Vec<String> = r.json()["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(shown, expect);
        body
    }

    /// Requests that change something (anything but GET).
    fn writes(&self) -> Vec<Recorded> {
        self.backend
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }
}

fn refs(ids: &[&String]) -> Value {
    Value::Array(
        ids.iter()
            .map(|u| json!({"$ref": null, "value": u}))
            .collect(),
    )
}

#[tokio::test]
async fn create_empty_group_and_find_it_by_display_name_without_members() {
    let s = Stack::start(2).await;
    let id = s.create_group("Ops Team").await;
    let c = s.circle(&id);
    assert_eq!(c["title"], "Ops Team");
    assert_eq!(c["members"], json!([]));
    let posts: Vec<Recorded> = s.writes();
    assert_eq!(posts.len(), 1);
    let body: Value = serde_json::from_str(&posts[0].body).unwrap();
    assert_eq!(
        body,
        json!({"circle": {"title": "Ops Team"}}),
        "wrapped, nothing unmapped"
    );

    // Give it a member so "members must not be returned" means something.
    let u1 = s.person_id(1);
    s.patch_members_ok(
        &id,
        json!([{"op":"Add","path":"members","value": refs(&[&u1])}]),
        std::slice::from_ref(&u1),
    )
    .await;

    s.backend.clear_requests();
    let r = s
        .scim()
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            entra_filter("displayName eq \"ops team\"")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["totalResults"], 1, "{j}");
    assert_eq!(j["Resources"][0]["id"], id.as_str());
    assert_eq!(j["Resources"][0]["displayName"], "Ops Team");
    assert!(j["Resources"][0].get("members").is_none(), "{j}");
    let reqs = s.backend.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert!(
        reqs[0].path_and_query.starts_with("/dir/v2/circles?")
            && reqs[0].path_and_query.contains("title=ops%20team"),
        "{}",
        reqs[0].path_and_query
    );

    // No match: an empty list, still one call.
    let r = s
        .scim()
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            entra_filter("displayName eq \"Nobody\"")
        ))
        .await;
    assert_eq!(r.json()["totalResults"], 0);

    // A full GET shows the members as references.
    let g = s.scim().get(&format!("/Groups/{id}")).await.json();
    assert_eq!(g["members"][0]["value"], u1.as_str());
    assert!(g["members"][0]["$ref"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Users/{u1}")));
    assert_eq!(g["meta"]["resourceType"], "Group");
    assert_eq!(g["meta"]["version"], "W/\"r2\"");
}

#[tokio::test]
async fn entra_membership_patches_rewrite_the_whole_array_once() {
    let s = Stack::start(5).await;
    let u: Vec<String> = (1..=5).map(|i| s.person_id(i)).collect();
    let id = s.create_group("Ops").await;

    // Add with $ref: null, several at once.
    s.patch_members_ok(
        &id,
        json!([{"op":"Add","path":"members","value": refs(&[&u[0], &u[1], &u[2]])}]),
        &[u[0].clone(), u[1].clone(), u[2].clone()],
    )
    .await;

    // Adding an existing member again changes nothing and writes nothing.
    s.backend.clear_requests();
    let r = s
        .patch(
            &id,
            json!([{"op":"Add","path":"members","value": refs(&[&u[1]])}]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(s.writes().is_empty(), "{:#?}", s.writes());

    // Remove with a value array removes only the listed ones.
    s.patch_members_ok(
        &id,
        json!([{"op":"Remove","path":"members","value": refs(&[&u[0], &u[2]])}]),
        &[u[1].clone()],
    )
    .await;

    // Remove by value filter.
    s.patch_members_ok(
        &id,
        json!([{"op":"Add","path":"members","value": refs(&[&u[3]])}]),
        &[u[1].clone(), u[3].clone()],
    )
    .await;
    s.patch_members_ok(
        &id,
        json!([{"op":"remove","path": format!("members[value eq \"{}\"]", u[1])}]),
        &[u[3].clone()],
    )
    .await;

    // Replace with an array.
    s.patch_members_ok(
        &id,
        json!([{"op":"replace","path":"members","value": refs(&[&u[4], &u[3], &u[0]])}]),
        &[u[4].clone(), u[3].clone(), u[0].clone()],
    )
    .await;

    // Rename: one merge patch with only the title.
    s.backend.clear_requests();
    let r = s
        .patch(
            &id,
            json!([{"op":"Replace","path":"displayName","value":"Night Shift"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["displayName"], "Night Shift");
    let w = s.writes();
    assert_eq!(w.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&w[0].body).unwrap(),
        json!({"title": "Night Shift"})
    );
    assert_eq!(s.circle(&id)["title"], "Night Shift");
    assert_eq!(
        s.circle_members(&id),
        vec![u[4].clone(), u[3].clone(), u[0].clone()]
    );

    // Removing the last members: the circle is emptied, the group has no members.
    s.backend.clear_requests();
    let r = s
        .patch(
            &id,
            json!([{"op":"Remove","path":"members","value": refs(&[&u[4], &u[3], &u[0]])}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.circle_members(&id), Vec::<String>::new());
    assert_eq!(s.writes().len(), 1);
    let g = s.scim().get(&format!("/Groups/{id}")).await.json();
    assert!(g["members"].as_array().is_none_or(|a| a.is_empty()), "{g}");

    // Deleting a person removes it from circles; the bridge shows the backend's truth.
    s.patch_members_ok(
        &id,
        json!([{"op":"Add","path":"members","value": refs(&[&u[0], &u[1]])}]),
        &[u[0].clone(), u[1].clone()],
    )
    .await;
    assert_eq!(
        s.scim().delete(&format!("/Users/{}", u[0])).await.status,
        204
    );
    let g = s.scim().get(&format!("/Groups/{id}")).await.json();
    assert_eq!(g["members"].as_array().unwrap().len(), 1, "{g}");
    assert_eq!(g["members"][0]["value"], u[1].as_str());
}

#[tokio::test]
async fn duplicate_title_is_409_uniqueness() {
    let s = Stack::start(0).await;
    s.create_group("Ops").await;
    let other = s.create_group("Other").await;
    let r = s
        .scim()
        .post("/Groups", &json!({"schemas":[GROUP],"displayName":"OPS"}))
        .await;
    r.assert_scim_error(409, Some("uniqueness"));
    // Renaming onto a taken title too.
    let r = s
        .patch(
            &other,
            json!([{"op":"Replace","path":"displayName","value":"ops"}]),
        )
        .await;
    r.assert_scim_error(409, Some("uniqueness"));
    assert_eq!(s.circle(&other)["title"], "Other");
}

#[tokio::test]
async fn unknown_member_is_400_naming_it_and_nothing_is_written() {
    let s = Stack::start(2).await;
    let u1 = s.person_id(1);
    let id = s.create_group("Ops").await;
    // Well-formed but unknown, and not even UUID-shaped.
    for bad in ["0f0e0d0c-0b0a-4909-8807-060504030201", "no-such-user"] {
        s.backend.clear_requests();
        let r = s
            .patch(
                &id,
                json!([{"op":"Add","path":"members","value":[{"$ref":null,"value":u1},{"value":bad}]}]),
            )
            .await;
        let e = r.assert_scim_error(400, Some("invalidValue"));
        assert!(e["detail"].as_str().unwrap().contains(bad), "{e}");
        assert!(s.writes().is_empty(), "{:#?}", s.writes());
        assert_eq!(s.circle_members(&id), Vec::<String>::new());
    }
    // Also on create.
    s.backend.clear_requests();
    let r = s
        .scim()
        .post(
            "/Groups",
            &json!({"schemas":[GROUP],"displayName":"New","members":[{"value":"0f0e0d0c-0b0a-4909-8807-060504030201"}]}),
        )
        .await;
    let e = r.assert_scim_error(400, Some("invalidValue"));
    assert!(e["detail"]
        .as_str()
        .unwrap()
        .contains("0f0e0d0c-0b0a-4909-8807-060504030201"));
    assert!(s.writes().is_empty());
    assert_eq!(s.backend.circles().len(), 1);
}

#[tokio::test]
async fn delete_is_204_then_404() {
    let s = Stack::start(0).await;
    let id = s.create_group("Ops").await;
    assert_eq!(s.scim().delete(&format!("/Groups/{id}")).await.status, 204);
    assert!(s.backend.circle(&id).is_none());
    s.scim()
        .delete(&format!("/Groups/{id}"))
        .await
        .assert_scim_error(404, None);
    s.scim()
        .get(&format!("/Groups/{id}"))
        .await
        .assert_scim_error(404, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_member_additions_lose_none() {
    let s = Stack::start(8).await;
    let u: Vec<String> = (1..=8).map(|i| s.person_id(i)).collect();
    let id = s.create_group("Crowd").await;
    s.backend.clear_requests();
    let mut tasks = Vec::new();
    for m in &u {
        let client = s.scim().clone();
        let path = format!("/Groups/{id}");
        let ops =
            patch_ops(json!([{"op":"Add","path":"members","value":[{"$ref":null,"value":m}]}]));
        tasks.push(tokio::spawn(async move { client.patch(&path, &ops).await }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let mut have = s.circle_members(&id);
    have.sort();
    let mut want = u.clone();
    want.sort();
    assert_eq!(have, want);
    // One write per PATCH, each with a strong If-Match: revision 1 + 8.
    let r = s.scim().get(&format!("/Groups/{id}")).await;
    assert_eq!(r.header("etag"), Some("W/\"r9\""));
    let patches: Vec<Recorded> = s.writes();
    assert!(patches.len() >= u.len());
    assert!(patches
        .iter()
        .all(|p| p.method == "PATCH" && p.header("if-match").is_some()));
}
