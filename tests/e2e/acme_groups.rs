//! SCIM Groups against the "Acme Directory" fixture's circles, driven only by
//! `tests/fixtures/acme.yaml`. Unlike Peripass teams, circles have no member
//! endpoints: `members: [{"uuid": …}]` is part of the record and is replaced
//! as a whole by the merge-patch update (with If-Match). These tests prove
//! that this second membership style is expressible in the mapping alone,
//! with Entra's exact group requests. Entra's group shapes, with the
//! writes each backend gets, are in `entra_both`; here what only Acme has.

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

    /// Requests that change something (anything but GET).
    fn writes(&self) -> Vec<Recorded> {
        self.backend
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }
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
