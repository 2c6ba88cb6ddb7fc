//! SCIM Users over the shipped Peripass mapping: what only Peripass has
//! (its query parameters, paging, unmapped fields, seeded records). The
//! Entra request shapes both backends take are in `entra_both`. Every test
//! starts its own backend + bridge and checks the legacy record through the
//! legacy API.

use crate::support::*;
use serde_json::{json, Value};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

fn seeded(n: usize) -> peripass::Options {
    peripass::Options {
        seed_users: n,
        ..Default::default()
    }
}

/// [`entra_user_body`] with an enterprise `manager` too (Peripass maps no
/// part of the extension).
fn entra_body_with_manager(user_name: &str, active: Value) -> Value {
    let mut body = entra_user_body(user_name, active);
    body[ENTERPRISE]["manager"] = json!({"value": "7"});
    body
}

async fn scim_create(s: &PeripassStack, user_name: &str) -> Value {
    let r = s
        .scim()
        .post("/Users", &entra_body_with_manager(user_name, json!(true)))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn search(s: &PeripassStack, filter: &str) -> Value {
    let r = s
        .scim()
        .get(&format!("/Users?filter={}", entra_filter(filter)))
        .await;
    assert_eq!(
        r.status,
        200,
        "{filter}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let j = r.json();
    assert_eq!(j["schemas"], json!([LIST]));
    j
}

// ---------------------------------------------------------------------------
// Filters Peripass answers itself
// ---------------------------------------------------------------------------

#[tokio::test]
async fn active_eq_true_is_pushed_down_as_status() {
    let s = PeripassStack::start(seeded(4)).await;
    s.legacy()
        .update_user("2", |u| u["status"] = json!("DISABLED"))
        .await;
    s.backend.clear_requests();
    let j = search(&s, "active eq true").await;
    assert_eq!(j["totalResults"], 3);
    assert_eq!(ids(&j), vec!["1", "3", "4"]);
    let calls = s.list_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(query_param(&calls[0], "status"), vec!["ACTIVE"]);

    s.backend.clear_requests();
    let j = search(&s, "active eq false").await;
    assert_eq!(ids(&j), vec!["2"]);
    assert_eq!(j["Resources"][0]["active"], false);
    let calls = s.list_calls();
    assert_eq!(query_param(&calls[0], "status"), vec!["DISABLED"]);
}

// ---------------------------------------------------------------------------
// Create (the shapes of both backends: entra_both)
// ---------------------------------------------------------------------------

/// Entra's body with every extra (a `manager` reference, enterprise
/// attributes, `title`, `addresses`) reaches Peripass as contract fields
/// only; what both backends do with it is `entra_both::create_with_the_entra_body`.
#[tokio::test]
async fn create_sends_only_contract_fields_and_drops_the_extension() {
    let s = PeripassStack::start(seeded(0)).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &entra_body_with_manager("jdoe@contoso.com", json!(true)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    let id = u["id"].as_str().expect("id").to_string();
    assert_eq!(u["schemas"], json!([CORE]));
    assert_eq!(u["preferredLanguage"], "nl");
    for unmapped in ["roles", "title", "addresses", ENTERPRISE, "nickName"] {
        assert!(u.get(unmapped).is_none(), "{unmapped} in {u}");
    }

    let l = s.legacy().user(&id).await;
    assert_eq!(l["login"], "jdoe@contoso.com");
    assert_eq!(
        l["contact"],
        json!({"email": "john.doe@contoso.com", "mobile": "+32 470 12 34 56"})
    );
    assert_eq!(l["language"], "nl");
    assert_eq!(l["role"], "Operator");
    assert_eq!(l["version"], 1);

    // The body the backend received carries only contract fields.
    let post = s
        .backend
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    let sent: Value = serde_json::from_str(&post.body).unwrap();
    let keys: Vec<&str> = sent
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in &keys {
        assert!(
            [
                "login",
                "firstName",
                "lastName",
                "displayName",
                "contact",
                "language",
                "status",
                "externalRef",
                "role"
            ]
            .contains(k),
            "unexpected field {k} sent on create: {sent}"
        );
    }
}

// ---------------------------------------------------------------------------
// Get by id
// ---------------------------------------------------------------------------

#[tokio::test]
async fn get_by_id_with_projection() {
    let s = PeripassStack::start(seeded(3)).await;
    let r = s.scim().get("/Users/2").await;
    assert_eq!(r.status, 200);
    let u = r.json();
    assert_eq!(u["id"], "2");
    assert_eq!(u["userName"], "user2@example.com");
    assert_eq!(
        u["name"],
        json!({"givenName": "First2", "familyName": "Last2", "formatted": "First2 Last2"})
    );
    assert_eq!(u["displayName"], "First2 Last2");
    assert_eq!(u["preferredLanguage"], "en");
    assert_eq!(u["active"], true);
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(
        u["meta"]["location"],
        format!("{}/Users/2", s.bridge.base).as_str()
    );

    let r = s
        .scim()
        .get("/Users/2?attributes=userName,name.givenName")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"id": "2", "schemas": [CORE], "userName": "user2@example.com", "name": {"givenName": "First2"}})
    );

    let r = s
        .scim()
        .get("/Users/2?excludedAttributes=emails,name,meta")
        .await;
    assert_eq!(r.status, 200);
    let u = r.json();
    assert!(u.get("emails").is_none() && u.get("name").is_none() && u.get("meta").is_none());
    assert_eq!(u["userName"], "user2@example.com");
    assert_eq!(u["id"], "2");

    // Projections on a list as well.
    let r = s
        .scim()
        .get(&format!(
            "/Users?attributes=userName&filter={}",
            entra_filter("userName eq \"user3@example.com\"")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["Resources"],
        json!([{"id": "3", "schemas": [CORE], "userName": "user3@example.com"}])
    );
}

// ---------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------

#[tokio::test]
async fn list_paging_unaligned_windows() {
    let s = PeripassStack::start(seeded(25)).await;
    let r = s.scim().get("/Users?startIndex=7&count=5").await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["totalResults"], 25);
    assert_eq!(j["startIndex"], 7);
    assert_eq!(j["itemsPerPage"], 5);
    assert_eq!(ids(&j), vec!["7", "8", "9", "10", "11"]);

    let j = s.scim().get("/Users?startIndex=24&count=5").await.json();
    assert_eq!(ids(&j), vec!["24", "25"]);
    assert_eq!(j["itemsPerPage"], 2);
    assert_eq!(j["totalResults"], 25);

    let j = s.scim().get("/Users?startIndex=26&count=5").await.json();
    assert_eq!(ids(&j), Vec::<String>::new());
    assert_eq!(j["totalResults"], 25);
    assert_eq!(j["startIndex"], 26);

    // Default: everything (25 < default count).
    let j = s.scim().get("/Users").await.json();
    assert_eq!(ids(&j).len(), 25);
    assert_eq!(j["startIndex"], 1);

    // count=0: only the total.
    s.backend.clear_requests();
    let j = s.scim().get("/Users?count=0").await.json();
    assert_eq!(j["totalResults"], 25);
    assert_eq!(j["itemsPerPage"], 0);
    assert_eq!(j["Resources"].as_array().map(Vec::len).unwrap_or(0), 0);

    // startIndex=0 (and negatives) are treated as 1.
    let j = s.scim().get("/Users?startIndex=0&count=2").await.json();
    assert_eq!(j["startIndex"], 1);
    assert_eq!(ids(&j), vec!["1", "2"]);
    let j = s.scim().get("/Users?startIndex=-3&count=2").await.json();
    assert_eq!(j["startIndex"], 1);
    assert_eq!(ids(&j), vec!["1", "2"]);

    // Windows through a filter the backend answers.
    let j = s
        .scim()
        .get(&format!(
            "/Users?startIndex=3&count=2&filter={}",
            entra_filter("active eq true")
        ))
        .await
        .json();
    assert_eq!(j["totalResults"], 25);
    assert_eq!(ids(&j), vec!["3", "4"]);
    // ... and through one evaluated in the bridge.
    let j = s
        .scim()
        .get(&format!(
            "/Users?startIndex=2&count=3&filter={}",
            entra_filter("displayName sw \"First1\"")
        ))
        .await
        .json();
    // First1, First10..First19 = 11 users
    assert_eq!(j["totalResults"], 11);
    assert_eq!(ids(&j), vec!["10", "11", "12"]);
}

#[tokio::test]
async fn list_paging_across_backend_pages() {
    let s = PeripassStack::start(seeded(250)).await;
    s.backend.clear_requests();
    let j = s.scim().get("/Users?startIndex=199&count=3").await.json();
    assert_eq!(ids(&j), vec!["199", "200", "201"]);
    assert_eq!(j["totalResults"], 250);
    assert_eq!(j["startIndex"], 199);

    let j = s.scim().get("/Users?startIndex=150&count=120").await.json();
    let got = ids(&j);
    assert_eq!(got.len(), 101);
    assert_eq!(got.first().map(String::as_str), Some("150"));
    assert_eq!(got.last().map(String::as_str), Some("250"));
    let want: Vec<String> = (150..=250).map(|i| i.to_string()).collect();
    assert_eq!(got, want);

    let j = s.scim().get("/Users?startIndex=1&count=250").await.json();
    let want: Vec<String> = (1..=250).map(|i| i.to_string()).collect();
    assert_eq!(ids(&j), want);
    assert_eq!(j["itemsPerPage"], 250);

    // Every backend call respected the contract's page size.
    for c in s.list_calls() {
        let size: usize = query_param(&c, "pageSize")[0].parse().unwrap();
        assert!((1..=200).contains(&size), "{c}");
    }
}

#[tokio::test]
async fn list_count_above_max_is_clamped() {
    let s = PeripassStack::start_with(seeded(25), "[scim]\nmax_count = 10").await;
    let j = s.scim().get("/Users?count=50").await.json();
    assert_eq!(j["totalResults"], 25);
    assert_eq!(j["itemsPerPage"], 10);
    assert_eq!(ids(&j).len(), 10);
    let j = s.scim().get("/Users?count=999999999").await.json();
    assert_eq!(ids(&j).len(), 10);
    let spc = s.scim().get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["filter"]["maxResults"], 10);
}

// ---------------------------------------------------------------------------
// PATCH: what only Peripass has (the shapes of both: entra_both)
// ---------------------------------------------------------------------------

/// A user created through SCIM, then given the role `Administrator` directly
/// in the backend (a field the mapping does not cover).
async fn admin_user(s: &PeripassStack) -> (String, u64) {
    let u = scim_create(s, "jdoe@contoso.com").await;
    let id = u["id"].as_str().unwrap().to_string();
    let l = s
        .legacy()
        .update_user(&id, |u| u["role"] = json!("Administrator"))
        .await;
    assert_eq!(l["role"], "Administrator");
    (id, l["version"].as_u64().unwrap())
}

async fn patch(s: &PeripassStack, id: &str, ops: Value) -> Value {
    patch_user_ok(s.scim(), "peripass", id, ops).await
}

#[tokio::test]
async fn patch_add_mobile_on_a_user_without_contact() {
    let s = PeripassStack::start(seeded(0)).await;
    let id = s.legacy().create_user(json!({"login": "bare@x.com"})).await;
    let u = patch(
        &s,
        &id,
        json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}]),
    )
    .await;
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    let l = s.legacy().user(&id).await;
    assert_eq!(l["contact"]["mobile"], "+1 555 0100");
    assert_eq!(l["version"], 2);
}

/// Entra's `Remove` of a filtered sub-value carries the value it removes:
/// the old number goes, a number put there by an earlier operation of the
/// same PATCH stays, and a stale value removes nothing (no write at all).
#[tokio::test]
async fn patch_remove_with_a_value_removes_only_that_value() {
    let s = PeripassStack::start(seeded(0)).await;
    let id = s
        .legacy()
        .create_user(json!({"login": "m@x.com", "contact": {"email": "m@x.com", "mobile": "+44"}}))
        .await;
    let u = patch(
        &s,
        &id,
        json!([
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+55"},
            {"op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+44"}
        ]),
    )
    .await;
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+55"}])
    );
    let l = s.legacy().user(&id).await;
    assert_eq!(l["contact"]["mobile"], "+55");
    let version = l["version"].clone();
    s.backend.clear_requests();
    let u = patch(
        &s,
        &id,
        json!([{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "stale@x.com"}]),
    )
    .await;
    assert_eq!(u["emails"], json!([{"type": "work", "value": "m@x.com"}]));
    assert!(
        s.backend.requests().iter().all(|r| r.method == "GET"),
        "nothing to write: {:?}",
        s.backend.requests()
    );
    assert_eq!(s.legacy().user(&id).await["version"], version);
    // The address in another case is the same address (`emails.value` is not case-exact).
    patch(
        &s,
        &id,
        json!([{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "M@X.com"}]),
    )
    .await;
    assert_eq!(s.legacy().user(&id).await["contact"]["email"], Value::Null);
}

/// A newer backend adds a field to its answers (read-only to the bridge):
/// the shipped mapping's `send_only` keeps it, and the server-assigned
/// `createdAt`/`updatedAt`, out of every write, as the contract asks (the
/// API refuses unknown fields with 422). Fields the mapping does not cover
/// but the contract lists (`role`) are still sent back as read.
#[tokio::test]
async fn fields_the_backend_adds_to_its_answers_are_never_written_back() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 1,
        seed_teams: 1,
        ..Default::default()
    })
    .await;
    s.backend
        .set_extra_read_field(Some(("lastLoginAt", json!("2024-01-01T00:00:00Z"))));
    let u = patch(
        &s,
        "1",
        json!([{"op": "Replace", "path": "displayName", "value": "New name"}]),
    )
    .await;
    assert_eq!(u["displayName"], "New name");
    let mut full = s.scim().get("/Users/1").await.json();
    full["name"]["familyName"] = json!("Put");
    let r = s.scim().put("/Users/1", &full).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = s
        .scim()
        .patch(
            "/Groups/T-0001",
            &patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "Renamed"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let created = scim_create(&s, "new@contoso.com").await;
    assert!(created["id"].is_string());
    let writes: Vec<_> = s
        .backend
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" || r.method == "POST")
        .collect();
    assert_eq!(writes.len(), 4, "{writes:?}");
    for w in &writes {
        for field in ["lastLoginAt", "createdAt", "updatedAt", "userId", "teamId"] {
            assert!(
                !w.body.contains(field),
                "{field} sent: {} {}",
                w.path_and_query,
                w.body
            );
        }
    }
    let user_put = writes
        .iter()
        .find(|w| w.method == "PUT" && w.path_and_query.contains("/users/"))
        .unwrap();
    assert!(user_put.body.contains("\"role\""), "{}", user_put.body);
}

#[tokio::test]
async fn patch_enterprise_attributes_are_accepted_and_ignored() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, v0) = admin_user(&s).await;
    let before = s.legacy().user(&id).await;
    s.backend.clear_requests();
    let shapes = [
        json!([{"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "42"}]),
        json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": [{"value": "17"}]}]),
        json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": "17"}]),
        json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": ""}}]),
        json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager[value eq \"17\"]")}]),
        json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}]),
        json!([{"op": "replace", "value": {format!("{ENTERPRISE}:department"): "Ops", "title": "Boss"}}]),
        json!([{"op": "add", "value": {ENTERPRISE: {"employeeNumber": "43"}}}]),
        json!([{"op": "Replace", "path": "roles", "value": [{"value": "admin"}]}]),
    ];
    for ops in shapes {
        let u = patch(&s, &id, ops.clone()).await;
        assert!(u.get(ENTERPRISE).is_none(), "{ops}: {u}");
        assert_eq!(u["schemas"], json!([CORE]));
        assert_eq!(u["meta"]["version"], format!("W/\"{v0}\"").as_str());
    }
    // Nothing was written.
    assert_eq!(s.legacy().user(&id).await, before);
    assert!(
        s.backend.requests().iter().all(|r| r.method == "GET"),
        "no write for ignored attributes: {:?}",
        s.backend.requests()
    );
}

#[tokio::test]
async fn backend_validation_errors_are_400_invalid_value() {
    let s = PeripassStack::start(seeded(1)).await;
    let r = s
        .scim()
        .patch(
            "/Users/1",
            &patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "x".repeat(300)}])),
        )
        .await;
    let e = r.assert_scim_error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("displayName"), "{e}");
    assert_eq!(s.legacy().user("1").await["version"], 1);
}
