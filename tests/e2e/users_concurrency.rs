//! Concurrent writes to one Peripass user through the bridge: the
//! read-modify-write loop must never lose an update.

use crate::support::*;
use serde_json::{json, Value};

fn one_user() -> peripass::Options {
    peripass::Options {
        seed_users: 1,
        ..Default::default()
    }
}

/// One PATCH per single-valued mapped attribute; the values carry `tag`.
fn distinct_changes(tag: &str) -> Vec<(Value, &'static str, Value)> {
    // (PATCH operation, legacy field (dotted), expected legacy value)
    let lang = if tag == "a" { "fr" } else { "de" };
    let active = if tag == "a" { "False" } else { "True" };
    let status = if tag == "a" { "DISABLED" } else { "ACTIVE" };
    vec![
        (
            json!({"op": "Replace", "path": "displayName", "value": format!("D-{tag}")}),
            "displayName",
            json!(format!("D-{tag}")),
        ),
        (
            json!({"op": "Replace", "path": "name.givenName", "value": format!("G-{tag}")}),
            "firstName",
            json!(format!("G-{tag}")),
        ),
        (
            json!({"op": "Replace", "path": "name.familyName", "value": format!("F-{tag}")}),
            "lastName",
            json!(format!("F-{tag}")),
        ),
        (
            json!({"op": "Replace", "path": "externalId", "value": format!("ext-{tag}")}),
            "externalRef",
            json!(format!("ext-{tag}")),
        ),
        (
            json!({"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": format!("+32 {tag}")}),
            "contact.mobile",
            json!(format!("+32 {tag}")),
        ),
        (
            json!({"op": "Replace", "path": "emails[type eq \"work\"].value", "value": format!("{tag}@mail.example")}),
            "contact.email",
            json!(format!("{tag}@mail.example")),
        ),
        (
            json!({"op": "Replace", "path": "preferredLanguage", "value": format!("{lang}-BE")}),
            "language",
            json!(lang),
        ),
        (
            json!({"op": "Replace", "path": "active", "value": active}),
            "status",
            json!(status),
        ),
        (
            json!({"op": "Replace", "path": "userName", "value": format!("login-{tag}@example.com")}),
            "login",
            json!(format!("login-{tag}@example.com")),
        ),
    ]
}

fn field<'a>(record: &'a Value, dotted: &str) -> &'a Value {
    dotted.split('.').fold(record, |v, k| &v[k])
}

async fn concurrent_patches(s: &PeripassStack, ops: Vec<Value>) -> Vec<Resp> {
    let mut tasks = Vec::new();
    for op in ops {
        let c = s.scim().clone();
        tasks.push(tokio::spawn(async move {
            c.patch("/Users/1", &patch_ops(json!([op]))).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_distinct_attributes_lose_nothing() {
    let s = PeripassStack::start(one_user()).await;
    s.legacy()
        .update_user("1", |u| u["role"] = json!("Viewer"))
        .await;
    let v0 = s.legacy().user("1").await["version"].as_u64().unwrap();
    let mut expected_version = v0;
    for tag in ["a", "b"] {
        let changes = distinct_changes(tag);
        let resps = concurrent_patches(&s, changes.iter().map(|c| c.0.clone()).collect()).await;
        for (r, c) in resps.iter().zip(&changes) {
            assert_eq!(
                r.status,
                200,
                "{}: {}",
                c.0,
                String::from_utf8_lossy(&r.body)
            );
        }
        expected_version += changes.len() as u64;
        let l = s.legacy().user("1").await;
        for (op, f, want) in &changes {
            assert_eq!(field(&l, f), want, "lost update of {op}: {l}");
        }
        assert_eq!(l["role"], "Viewer");
        assert_eq!(
            l["version"], expected_version,
            "one backend write per change: {l}"
        );
        // Every answer reflects its own change and a distinct version.
        let mut versions: Vec<String> = resps
            .iter()
            .map(|r| r.json()["meta"]["version"].as_str().unwrap().to_string())
            .collect();
        versions.sort();
        versions.dedup();
        assert_eq!(versions.len(), changes.len(), "{versions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_patches_of_one_attribute_all_apply() {
    let s = PeripassStack::start(one_user()).await;
    let v0 = s.legacy().user("1").await["version"].as_u64().unwrap();
    let ops: Vec<Value> = (0..20)
        .map(|i| json!({"op": "Replace", "path": "displayName", "value": format!("name-{i}")}))
        .collect();
    let resps = concurrent_patches(&s, ops).await;
    let mut last: Option<(u64, String)> = None;
    for r in &resps {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        let v: u64 = j["meta"]["version"]
            .as_str()
            .unwrap()
            .trim_start_matches("W/\"")
            .trim_end_matches('"')
            .parse()
            .unwrap();
        if last.as_ref().is_none_or(|(lv, _)| v > *lv) {
            last = Some((v, j["displayName"].as_str().unwrap().to_string()));
        }
    }
    let l = s.legacy().user("1").await;
    assert_eq!(l["version"], v0 + 20, "{l}");
    let (lv, name) = last.unwrap();
    assert_eq!(lv, v0 + 20);
    assert_eq!(l["displayName"], name.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_racing_a_direct_legacy_put_keeps_both_changes() {
    let s = PeripassStack::start(one_user()).await;
    // Every backend answer takes 400 ms (computed on arrival, sent after the
    // delay): the bridge reads version 1, the legacy PUT lands meanwhile, and
    // the bridge's write then hits VERSION_CONFLICT and must re-apply.
    s.backend.set_latency_ms(400);
    s.backend.clear_requests();
    let c = s.scim().clone();
    let patch = tokio::spawn(async move {
        c.patch(
            "/Users/1",
            &patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "From SCIM"}])),
        )
        .await
    });
    // Once the bridge's read has arrived (its answer, version 1, is
    // computed on arrival), the legacy write lands.
    let waited = std::time::Instant::now();
    while !s.backend.requests().iter().any(|r| r.method == "GET") {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(30),
            "the bridge never read the user"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let legacy = s.legacy();
    let mut u = s.backend.user(1).unwrap();
    u["firstName"] = json!("FromLegacy");
    u["role"] = json!("Administrator");
    let (st, v) = legacy
        .send(http::Method::PUT, "/api/v1/users/1", Some(&u))
        .await;
    assert_eq!(st, 200, "{v}");
    let r = patch.await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    s.backend.set_latency_ms(0);
    let l = s.legacy().user("1").await;
    assert_eq!(l["displayName"], "From SCIM");
    assert_eq!(l["firstName"], "FromLegacy");
    assert_eq!(l["role"], "Administrator");
    assert_eq!(l["version"], 3);
    assert_eq!(r.json()["name"]["givenName"], "FromLegacy");
    assert_eq!(r.json()["meta"]["version"], "W/\"3\"");
    assert_eq!(s.backend.version_conflicts(), 1);
    // The conflict did happen: two PUTs from the bridge plus the legacy one.
    let puts = s
        .backend
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_username_yield_one_user() {
    let s = PeripassStack::start(one_user()).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let c = s.scim().clone();
        tasks.push(tokio::spawn(async move {
            c.post(
                "/Users",
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": if i % 2 == 0 { "race@contoso.com" } else { "RACE@contoso.com" },
                        "displayName": format!("R{i}")}),
            )
            .await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            201 => created += 1,
            409 => {
                r.assert_scim_error(409, Some("uniqueness"));
            }
            other => panic!("{other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(s.backend.user_count(), 2);
}

/// Two bridges (e.g. two replicas behind a load balancer) in front of one
/// backend: the in-process write serialization does not help, only the
/// version-conflict retries do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_through_two_bridges_all_apply() {
    let s = PeripassStack::start(one_user()).await;
    let env = peripass_env(&s.backend);
    let second = Bridge::start(&peripass_settings(""), &[], env).await;
    let v0 = s.legacy().user("1").await["version"].as_u64().unwrap();
    // Slow answers, and the first two reads of the user are answered only
    // once both have arrived: both bridges read the same version, so one
    // write must hit VERSION_CONFLICT and be re-applied.
    s.backend.set_latency_ms(20);
    s.backend.hold_until_together("GET", "/api/v1/users/1", 2);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = if i % 2 == 0 {
            s.scim().clone()
        } else {
            second.client.clone()
        };
        tasks.push(tokio::spawn(async move {
            c.patch(
                "/Users/1",
                &patch_ops(
                    json!([{"op": "Replace", "path": "displayName", "value": format!("n-{i}")}]),
                ),
            )
            .await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    s.backend.set_latency_ms(0);
    assert_eq!(s.legacy().user("1").await["version"], v0 + 16);
    assert!(
        s.backend.version_conflicts() >= 1,
        "no version conflict: the retry path was not exercised"
    );
    let puts = s
        .backend
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert!(puts > 16, "more writes than PATCHes: {puts}");
}

/// A DELETE with `If-Match` and a PATCH of the same user are serialized:
/// Peripass' DELETE carries no version, so if both read version 1 side by
/// side, the PATCH's `200` would be deleted away by a delete whose check had
/// passed. Under the write lock the second read only comes after the first
/// write (the rendezvous below then runs out after 1 s instead of letting
/// both reads meet): either the PATCH wins and the DELETE is `412`, or the
/// DELETE wins and the PATCH is `404`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_delete_and_a_patch_never_both_succeed() {
    let s = PeripassStack::start(one_user()).await;
    let v = s.legacy().user("1").await["version"].as_u64().unwrap();
    s.backend.hold_until_together_at_most(
        "GET",
        "/api/v1/users/1",
        2,
        std::time::Duration::from_secs(1),
    );
    let etag = format!("W/\"{v}\"");
    let if_match = [("if-match", etag.as_str())];
    let ops = patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "kept?"}]));
    let (d, p) = tokio::join!(
        s.scim()
            .send(http::Method::DELETE, "/Users/1", None, &if_match),
        s.scim().patch("/Users/1", &ops)
    );
    match (d.status.as_u16(), p.status.as_u16()) {
        (412, 200) => assert_eq!(s.legacy().user("1").await["displayName"], "kept?"),
        (204, 404) => assert_eq!(s.backend.user_count(), 0),
        other => panic!(
            "{other:?}: DELETE {} / PATCH {}",
            String::from_utf8_lossy(&d.body),
            String::from_utf8_lossy(&p.body)
        ),
    }
}
