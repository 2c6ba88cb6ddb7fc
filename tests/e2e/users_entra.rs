//! SCIM Users over the shipped Peripass mapping, driven with the exact request
//! shapes Microsoft Entra sends (see `entra-scim-client.md`). Every test starts
//! its own backend + bridge and checks the legacy record through the legacy API.

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

/// The POST body Entra sends (typical shape from the docs), plus the extras
/// Entra may include: unmapped `roles`, `title`, `addresses`, an enterprise
/// `manager`, and `null` attributes.
fn entra_create_body(user_name: &str, active: Value) -> Value {
    json!({
        "schemas": [CORE, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": active,
        "displayName": "John Doe",
        "title": "Gate operator",
        "nickName": null,
        "preferredLanguage": "nl-BE",
        "emails": [{"primary": true, "type": "work", "value": "john.doe@contoso.com"}],
        "phoneNumbers": [{"type": "mobile", "value": "+32 470 12 34 56"}],
        "addresses": [{"type": "work", "formatted": "Main street 1", "streetAddress": "Main street 1", "locality": "Gent", "country": "BE", "primary": true}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "John Doe", "familyName": "Doe", "givenName": "John", "middleName": null},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "42", "department": null, "manager": {"value": "7"}}
    })
}

async fn scim_create(s: &PeripassStack, user_name: &str) -> Value {
    let r = s
        .scim()
        .post("/Users", &entra_create_body(user_name, json!(true)))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn list_calls(s: &PeripassStack) -> Vec<String> {
    s.backend
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path_and_query.starts_with("/api/v1/users?"))
        .map(|r| r.path_and_query)
        .collect()
}

fn query_param<'a>(path_and_query: &'a str, name: &str) -> Vec<&'a str> {
    let q = path_and_query.split_once('?').map(|x| x.1).unwrap_or("");
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .collect()
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
// 1. Test Connection
// ---------------------------------------------------------------------------

#[tokio::test]
async fn test_connection_is_an_exact_empty_list_response() {
    let s = PeripassStack::start(seeded(3)).await;
    s.backend.clear_requests();
    let r = s
        .scim()
        .get(&format!(
            "/Users?filter={}",
            entra_filter("userName eq \"5ac6fd01-66a4-4c2f-a1a4-6b2b5e3e3c2f\"")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));
    assert_eq!(
        r.json(),
        json!({"schemas":[LIST],"totalResults":0,"Resources":[],"startIndex":1,"itemsPerPage":0})
    );
    // Pushed down as one exact-match query.
    let calls = list_calls(&s);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        query_param(&calls[0], "login"),
        vec!["5ac6fd01-66a4-4c2f-a1a4-6b2b5e3e3c2f"]
    );

    let g = s.scim().get("/Groups").await;
    assert_eq!(g.status, 200);
    assert_eq!(
        g.json(),
        json!({"schemas":[LIST],"totalResults":0,"Resources":[],"startIndex":1,"itemsPerPage":0})
    );
    let g = s
        .scim()
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            entra_filter("displayName eq \"Gate Operators\"")
        ))
        .await;
    assert_eq!(g.status, 200);
    assert_eq!(g.json()["totalResults"], 0);
}

// ---------------------------------------------------------------------------
// 2. Matching filters and pushdown
// ---------------------------------------------------------------------------

#[tokio::test]
async fn username_eq_is_case_insensitive_and_pushed_down_as_login() {
    let s = PeripassStack::start(seeded(5)).await;
    let id = s
        .legacy()
        .create_user(json!({"login": "jdoe@contoso.com", "firstName": "John"}))
        .await;
    s.backend.clear_requests();
    let j = search(&s, "userName eq \"JDOE@CONTOSO.COM\"").await;
    assert_eq!(j["totalResults"], 1);
    assert_eq!(ids(&j), vec![id.clone()]);
    assert_eq!(j["Resources"][0]["userName"], "jdoe@contoso.com");
    let calls = list_calls(&s);
    assert_eq!(
        s.backend.request_count(),
        1,
        "one backend call: {:?}",
        s.backend.requests()
    );
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(query_param(&calls[0], "login"), vec!["JDOE%40CONTOSO.COM"]);
}

#[tokio::test]
async fn external_id_eq_is_pushed_down_and_case_exact() {
    let s = PeripassStack::start(seeded(5)).await;
    let id = s
        .legacy()
        .create_user(json!({"login": "a@contoso.com", "externalRef": "Ext-ABC-1"}))
        .await;
    s.backend.clear_requests();
    let j = search(&s, "externalId eq \"Ext-ABC-1\"").await;
    assert_eq!(ids(&j), vec![id.clone()]);
    assert_eq!(j["Resources"][0]["externalId"], "Ext-ABC-1");
    let calls = list_calls(&s);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(query_param(&calls[0], "externalRef"), vec!["Ext-ABC-1"]);
    // externalId is caseExact: another case does not match.
    let j = search(&s, "externalId eq \"ext-abc-1\"").await;
    assert_eq!(j["totalResults"], 0);
}

#[tokio::test]
async fn work_email_filter_matches_over_a_scan() {
    let s = PeripassStack::start(seeded(5)).await;
    let id = s
        .legacy()
        .create_user(json!({"login": "b@contoso.com", "contact": {"email": "Bee@Contoso.com"}}))
        .await;
    let j = search(&s, "emails[type eq \"work\"].value eq \"bee@contoso.com\"").await;
    assert_eq!(ids(&j), vec![id.clone()]);
    assert_eq!(
        j["Resources"][0]["emails"],
        json!([{"type": "work", "value": "Bee@Contoso.com"}])
    );
    // Standard RFC form of the same question.
    let j = search(
        &s,
        "emails[type eq \"work\" and value eq \"bee@contoso.com\"]",
    )
    .await;
    assert_eq!(ids(&j), vec![id]);
    // Another type does not match: only work emails are stored.
    let j = search(&s, "emails[type eq \"home\"].value eq \"bee@contoso.com\"").await;
    assert_eq!(j["totalResults"], 0);
}

#[tokio::test]
async fn id_eq_reads_one_record_and_impossible_ids_make_no_backend_call() {
    let s = PeripassStack::start(seeded(5)).await;
    s.backend.clear_requests();
    let j = search(&s, "id eq \"3\"").await;
    assert_eq!(ids(&j), vec!["3".to_string()]);
    let reqs = s.backend.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].path_and_query, "/api/v1/users/3");

    s.backend.clear_requests();
    for f in [
        "id eq \"abc\"",
        "id eq \"042\"",
        "id eq \"+42\"",
        "id eq \"../1\"",
    ] {
        let j = search(&s, f).await;
        assert_eq!(
            j,
            json!({"schemas":[LIST],"totalResults":0,"Resources":[],"startIndex":1,"itemsPerPage":0}),
            "{f}"
        );
    }
    assert_eq!(s.backend.request_count(), 0, "{:?}", s.backend.requests());

    // Unknown but well-formed id: one get, empty answer.
    let j = search(&s, "id eq \"999\"").await;
    assert_eq!(j["totalResults"], 0);
}

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
    let calls = list_calls(&s);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(query_param(&calls[0], "status"), vec!["ACTIVE"]);

    s.backend.clear_requests();
    let j = search(&s, "active eq false").await;
    assert_eq!(ids(&j), vec!["2"]);
    assert_eq!(j["Resources"][0]["active"], false);
    let calls = list_calls(&s);
    assert_eq!(query_param(&calls[0], "status"), vec!["DISABLED"]);
}

#[tokio::test]
async fn and_of_two_matching_terms() {
    let s = PeripassStack::start(seeded(3)).await;
    let id = s
        .legacy()
        .create_user(json!({"login": "c@contoso.com", "externalRef": "ext-c"}))
        .await;
    s.backend.clear_requests();
    let j = search(
        &s,
        "userName eq \"C@contoso.com\" and externalId eq \"ext-c\"",
    )
    .await;
    assert_eq!(ids(&j), vec![id.clone()]);
    let calls = list_calls(&s);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(query_param(&calls[0], "login"), vec!["C%40contoso.com"]);
    assert_eq!(query_param(&calls[0], "externalRef"), vec!["ext-c"]);

    let j = search(
        &s,
        "userName eq \"c@contoso.com\" and externalId eq \"other\"",
    )
    .await;
    assert_eq!(j["totalResults"], 0);

    // A pushed term and a bridge-side term.
    let j = search(
        &s,
        "userName eq \"c@contoso.com\" and emails[type eq \"work\"].value eq \"nobody@x\"",
    )
    .await;
    assert_eq!(j["totalResults"], 0);
    let j = search(&s, "userName eq \"user2@example.com\" and active eq true").await;
    assert_eq!(ids(&j), vec!["2"]);
}

// ---------------------------------------------------------------------------
// 3. Create
// ---------------------------------------------------------------------------

#[tokio::test]
async fn create_with_the_entra_body() {
    let s = PeripassStack::start(seeded(0)).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &entra_create_body("jdoe@contoso.com", json!(true)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));
    let u = r.json();
    let id = u["id"].as_str().expect("id").to_string();
    let location = format!("{}/Users/{id}", s.bridge.base);
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(u["meta"]["location"], location.as_str());
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert!(u["meta"]["created"].is_string(), "{u}");
    assert!(u["meta"]["lastModified"].is_string(), "{u}");
    assert_eq!(u["schemas"], json!([CORE]));
    assert_eq!(u["userName"], "jdoe@contoso.com");
    assert_eq!(u["active"], true);
    assert_eq!(u["displayName"], "John Doe");
    assert_eq!(u["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(
        u["name"],
        json!({"givenName": "John", "familyName": "Doe", "formatted": "John Doe"})
    );
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "john.doe@contoso.com"}])
    );
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+32 470 12 34 56"}])
    );
    assert_eq!(u["preferredLanguage"], "nl");
    for unmapped in ["roles", "title", "addresses", ENTERPRISE, "nickName"] {
        assert!(u.get(unmapped).is_none(), "{unmapped} in {u}");
    }

    let l = s.legacy().user(&id).await;
    assert_eq!(l["login"], "jdoe@contoso.com");
    assert_eq!(l["firstName"], "John");
    assert_eq!(l["lastName"], "Doe");
    assert_eq!(l["displayName"], "John Doe");
    assert_eq!(
        l["contact"],
        json!({"email": "john.doe@contoso.com", "mobile": "+32 470 12 34 56"})
    );
    assert_eq!(l["language"], "nl");
    assert_eq!(l["externalRef"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(l["status"], "ACTIVE");
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

#[tokio::test]
async fn create_accepts_active_as_a_string() {
    let s = PeripassStack::start(seeded(0)).await;
    let r = s
        .scim()
        .post("/Users", &entra_create_body("t@contoso.com", json!("True")))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["active"], true);
    assert_eq!(s.legacy().user(&id).await["status"], "ACTIVE");

    let r = s
        .scim()
        .post(
            "/Users",
            &entra_create_body("f@contoso.com", json!("False")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["active"], false);
    assert_eq!(s.legacy().user(&id).await["status"], "DISABLED");
}

#[tokio::test]
async fn create_minimal_and_with_null_attributes() {
    let s = PeripassStack::start(seeded(0)).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE], "userName": "min@contoso.com", "active": null,
                    "displayName": null, "emails": null, "phoneNumbers": null,
                    "name": null, "preferredLanguage": null, "externalId": null}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    let id = u["id"].as_str().unwrap().to_string();
    // active defaults to true
    assert_eq!(u["active"], true);
    for absent in [
        "displayName",
        "emails",
        "phoneNumbers",
        "name",
        "preferredLanguage",
        "externalId",
    ] {
        assert!(u.get(absent).is_none(), "{absent} in {u}");
    }
    let l = s.legacy().user(&id).await;
    assert_eq!(l["login"], "min@contoso.com");
    assert_eq!(l["status"], "ACTIVE");
    assert_eq!(l["role"], "Operator");
    assert!(
        l["firstName"].is_null() && l["displayName"].is_null(),
        "{l}"
    );
}

#[tokio::test]
async fn create_duplicate_username_is_409_uniqueness() {
    let s = PeripassStack::start(seeded(0)).await;
    scim_create(&s, "dup@contoso.com").await;
    let r = s
        .scim()
        .post("/Users", &entra_create_body("DUP@contoso.com", json!(true)))
        .await;
    r.assert_scim_error(409, Some("uniqueness"));
    assert_eq!(s.backend.user_count(), 1);
}

#[tokio::test]
async fn create_without_username_is_400_invalid_value() {
    let s = PeripassStack::start(seeded(0)).await;
    let mut body = entra_create_body("x@contoso.com", json!(true));
    body.as_object_mut().unwrap().remove("userName");
    s.backend.clear_requests();
    let r = s.scim().post("/Users", &body).await;
    r.assert_scim_error(400, Some("invalidValue"));
    body["userName"] = Value::Null;
    let r = s.scim().post("/Users", &body).await;
    r.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(s.backend.request_count(), 0);
    assert_eq!(s.backend.user_count(), 0);
}

#[tokio::test]
async fn create_with_an_unsupported_language_is_400() {
    let s = PeripassStack::start(seeded(0)).await;
    let mut body = entra_create_body("lang@contoso.com", json!(true));
    body["preferredLanguage"] = json!("klingon");
    let r = s.scim().post("/Users", &body).await;
    r.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(s.backend.user_count(), 0);
}

// ---------------------------------------------------------------------------
// 4. Get by id
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

#[tokio::test]
async fn get_unknown_or_malformed_ids_is_404() {
    let s = PeripassStack::start(seeded(3)).await;
    let r = s.scim().get("/Users/999").await;
    r.assert_scim_error(404, None);

    s.backend.clear_requests();
    for bad in [
        "abc",
        "042",
        "+42",
        "%2B42",
        "..%2F1",
        "../1",
        "0",
        "-1",
        "1.0",
        "99999999999999999999",
        "1%20",
    ] {
        let r = s.scim().get(&format!("/Users/{bad}")).await;
        r.assert_scim_error(404, None);
        for m in [http::Method::PUT, http::Method::PATCH] {
            let r = s
                .scim()
                .send(
                    m.clone(),
                    &format!("/Users/{bad}"),
                    Some(
                        &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "x"}]))
                            .to_string(),
                    ),
                    &[],
                )
                .await;
            assert_eq!(r.status, 404, "{m} {bad}");
        }
        let r = s.scim().delete(&format!("/Users/{bad}")).await;
        assert_eq!(r.status, 404, "DELETE {bad}");
    }
    assert_eq!(
        s.backend.request_count(),
        0,
        "backend was called: {:?}",
        s.backend.requests()
    );
}

// ---------------------------------------------------------------------------
// 5. Paging
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
    for c in list_calls(&s) {
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
// 6. PATCH in every Entra shape
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
    let r = s
        .scim()
        .patch(&format!("/Users/{id}"), &patch_ops(ops.clone()))
        .await;
    assert_eq!(
        r.status,
        200,
        "PATCH {ops}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    assert_eq!(body["id"], id);
    assert_eq!(
        r.header("etag"),
        body["meta"]["version"].as_str(),
        "ETag header equals meta.version"
    );
    body
}

#[tokio::test]
async fn patch_disable_both_shapes() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, v0) = admin_user(&s).await;

    let u = patch(
        &s,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(u["active"], false);
    let l = s.legacy().user(&id).await;
    assert_eq!(l["status"], "DISABLED");
    assert_eq!(l["role"], "Administrator");
    assert_eq!(l["version"], v0 + 1);

    let u = patch(
        &s,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    assert_eq!(u["active"], true);
    assert_eq!(s.legacy().user(&id).await["status"], "ACTIVE");

    let u = patch(
        &s,
        &id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    assert_eq!(u["active"], false);
    let l = s.legacy().user(&id).await;
    assert_eq!(l["status"], "DISABLED");
    assert_eq!(l["role"], "Administrator");
    assert_eq!(l["version"], v0 + 3);
    // Nothing else moved.
    assert_eq!(l["login"], "jdoe@contoso.com");
    assert_eq!(l["firstName"], "John");
    assert_eq!(
        l["contact"],
        json!({"email": "john.doe@contoso.com", "mobile": "+32 470 12 34 56"})
    );
    assert_eq!(l["language"], "nl");
    assert_eq!(l["externalRef"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
}

#[tokio::test]
async fn patch_pathless_with_dotted_keys() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, v0) = admin_user(&s).await;
    let u = patch(
        &s,
        &id,
        json!([{"op": "replace", "value": {"displayName": "A", "name.givenName": "B", "name.familyName": "C"}}]),
    )
    .await;
    assert_eq!(u["displayName"], "A");
    assert_eq!(
        u["name"],
        json!({"givenName": "B", "familyName": "C", "formatted": "B C"})
    );
    let l = s.legacy().user(&id).await;
    assert_eq!(
        (&l["displayName"], &l["firstName"], &l["lastName"]),
        (&json!("A"), &json!("B"), &json!("C"))
    );
    assert_eq!(l["role"], "Administrator");
    assert_eq!(l["version"], v0 + 1);

    // Path-less with nested objects and a capitalised op.
    let u = patch(
        &s,
        &id,
        json!([{"op": "Replace", "value": {"active": "False", "name": {"givenName": "Jo"}, "emails": [{"type": "work", "value": "jo@contoso.com", "primary": true}]}}]),
    )
    .await;
    assert_eq!(u["active"], false);
    assert_eq!(u["name"]["givenName"], "Jo");
    assert_eq!(u["name"]["familyName"], "C");
    let l = s.legacy().user(&id).await;
    assert_eq!(l["status"], "DISABLED");
    assert_eq!(l["firstName"], "Jo");
    assert_eq!(l["lastName"], "C");
    assert_eq!(l["contact"]["email"], "jo@contoso.com");
    assert_eq!(l["contact"]["mobile"], "+32 470 12 34 56");
    assert_eq!(l["role"], "Administrator");
}

#[tokio::test]
async fn patch_filtered_value_paths() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, v0) = admin_user(&s).await;
    let u = patch(
        &s,
        &id,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"}]),
    )
    .await;
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "new@contoso.com"}])
    );
    let l = s.legacy().user(&id).await;
    assert_eq!(l["contact"]["email"], "new@contoso.com");
    assert_eq!(l["contact"]["mobile"], "+32 470 12 34 56");
    assert_eq!(l["version"], v0 + 1);

    // Remove without value.
    let u = patch(
        &s,
        &id,
        json!([{"op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value"}]),
    )
    .await;
    assert!(u.get("phoneNumbers").is_none(), "{u}");
    let l = s.legacy().user(&id).await;
    assert!(l["contact"]["mobile"].is_null(), "{l}");
    assert_eq!(l["contact"]["email"], "new@contoso.com");

    // Add on a filtered path whose element does not exist yet creates it.
    let u = patch(
        &s,
        &id,
        json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}]),
    )
    .await;
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
    assert_eq!(s.legacy().user(&id).await["contact"]["mobile"], "+1 555");

    // Remove with a value member.
    let u = patch(
        &s,
        &id,
        json!([{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"}]),
    )
    .await;
    assert!(u.get("emails").is_none(), "{u}");
    let l = s.legacy().user(&id).await;
    assert!(l["contact"]["email"].is_null(), "{l}");
    assert_eq!(l["contact"]["mobile"], "+1 555");
    assert_eq!(l["role"], "Administrator");

    // Replace on a filtered path whose element does not exist creates it too.
    let u = patch(
        &s,
        &id,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "back@contoso.com"}]),
    )
    .await;
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "back@contoso.com"}])
    );
    let l = s.legacy().user(&id).await;
    assert_eq!(l["contact"]["email"], "back@contoso.com");
    assert_eq!(l["version"], v0 + 5);
}

#[tokio::test]
async fn patch_add_to_a_multi_valued_attribute_stores_the_new_value() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, v0) = admin_user(&s).await;
    // RFC-style add of a whole element next to the stored work email.
    let u = patch(
        &s,
        &id,
        json!([{"op": "Add", "path": "emails", "value": [{"type": "work", "value": "second@contoso.com", "primary": true}]}]),
    )
    .await;
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "second@contoso.com"}])
    );
    let l = s.legacy().user(&id).await;
    assert_eq!(l["contact"]["email"], "second@contoso.com");
    assert_eq!(l["version"], v0 + 1);

    let u = patch(
        &s,
        &id,
        json!([{"op": "add", "path": "phoneNumbers", "value": [{"type": "mobile", "value": "+1 555 0101"}]}]),
    )
    .await;
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0101"}])
    );
    let l = s.legacy().user(&id).await;
    assert_eq!(l["contact"]["mobile"], "+1 555 0101");
    assert_eq!(l["contact"]["email"], "second@contoso.com");
    assert_eq!(l["role"], "Administrator");

    // Path-less add of the same shape.
    patch(
        &s,
        &id,
        json!([{"op": "Add", "value": {"emails": [{"type": "work", "value": "third@contoso.com"}]}}]),
    )
    .await;
    assert_eq!(
        s.legacy().user(&id).await["contact"]["email"],
        "third@contoso.com"
    );
    // Elements of other types do not touch the mapped one.
    patch(
        &s,
        &id,
        json!([{"op": "Add", "path": "emails", "value": [{"type": "home", "value": "home@x.com"}]}]),
    )
    .await;
    let l = s.legacy().user(&id).await;
    assert_eq!(l["contact"]["email"], "third@contoso.com");
    assert_eq!(l["version"], v0 + 3);
}

#[tokio::test]
async fn create_with_several_work_emails_stores_the_primary_one() {
    let s = PeripassStack::start(seeded(0)).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE], "userName": "two@contoso.com",
                    "emails": [{"type": "work", "value": "a@contoso.com"},
                               {"type": "work", "value": "b@contoso.com", "primary": true},
                               {"type": "work", "value": "c@contoso.com"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.legacy().user(&id).await["contact"]["email"],
        "b@contoso.com"
    );
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

#[tokio::test]
async fn patch_name_family_name_and_simple_attributes() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, v0) = admin_user(&s).await;
    let u = patch(
        &s,
        &id,
        json!([
            {"op": "Replace", "path": "name.familyName", "value": "Janssens"},
            {"op": "Replace", "path": "displayName", "value": "John Janssens"},
            {"op": "Replace", "path": "externalId", "value": "ext-2"},
            {"op": "Replace", "path": "preferredLanguage", "value": "fr-BE"},
            {"op": "Replace", "path": "userName", "value": "john.janssens@contoso.com"}
        ]),
    )
    .await;
    assert_eq!(u["name"]["familyName"], "Janssens");
    assert_eq!(u["name"]["formatted"], "John Janssens");
    assert_eq!(u["userName"], "john.janssens@contoso.com");
    assert_eq!(u["preferredLanguage"], "fr");
    let l = s.legacy().user(&id).await;
    assert_eq!(l["lastName"], "Janssens");
    assert_eq!(l["displayName"], "John Janssens");
    assert_eq!(l["externalRef"], "ext-2");
    assert_eq!(l["language"], "fr");
    assert_eq!(l["login"], "john.janssens@contoso.com");
    assert_eq!(l["role"], "Administrator");
    assert_eq!(l["version"], v0 + 1, "several ops are one write");

    // Remove a simple attribute.
    let u = patch(&s, &id, json!([{"op": "Remove", "path": "displayName"}])).await;
    assert!(u.get("displayName").is_none());
    assert!(s.legacy().user(&id).await["displayName"].is_null());

    // The readOnly computed name.formatted is accepted and ignored.
    let u = patch(
        &s,
        &id,
        json!([{"op": "Replace", "path": "name.formatted", "value": "Something Else"}]),
    )
    .await;
    assert_eq!(u["name"]["formatted"], "John Janssens");
    assert_eq!(s.legacy().user(&id).await["version"], v0 + 2);
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
async fn patch_op_names_in_any_case() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, _) = admin_user(&s).await;
    patch(
        &s,
        &id,
        json!([
            {"op": "ADD", "path": "displayName", "value": "One"},
            {"op": "rEpLaCe", "path": "name.givenName", "value": "Two"},
            {"op": "REMOVE", "path": "externalId"}
        ]),
    )
    .await;
    let l = s.legacy().user(&id).await;
    assert_eq!(l["displayName"], "One");
    assert_eq!(l["firstName"], "Two");
    assert!(l["externalRef"].is_null());
    assert_eq!(l["role"], "Administrator");
}

#[tokio::test]
async fn noop_patch_does_not_write() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, v0) = admin_user(&s).await;
    s.backend.clear_requests();
    for ops in [
        json!([{"op": "Replace", "path": "displayName", "value": "John Doe"}]),
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "john.doe@contoso.com"}]),
        json!([{"op": "Replace", "path": "preferredLanguage", "value": "nl-BE"}]),
        json!([{"op": "Remove", "path": "emails[type eq \"home\"].value"}]),
        json!([{"op": "replace", "value": {"name.givenName": "John", "name.familyName": "Doe"}}]),
    ] {
        let u = patch(&s, &id, ops).await;
        assert_eq!(u["meta"]["version"], format!("W/\"{v0}\"").as_str());
    }
    assert!(
        s.backend.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        s.backend.requests()
    );
    assert_eq!(s.legacy().user(&id).await["version"], v0);
}

#[tokio::test]
async fn patch_errors() {
    let s = PeripassStack::start(seeded(1)).await;
    let replace_display = json!([{"op": "Replace", "path": "displayName", "value": "x"}]);
    // (user, body, status, scimType)
    let cases = [
        ("999", patch_ops(replace_display.clone()), 404, None),
        (
            "1",
            patch_ops(json!([{"op": "Replace", "path": "emails[type eq", "value": "x"}])),
            400,
            Some("invalidPath"),
        ),
        (
            "1",
            patch_ops(json!([{"op": "frobnicate", "path": "displayName", "value": "x"}])),
            400,
            Some("invalidSyntax"),
        ),
        (
            "1",
            patch_ops(json!([{"op": "Replace", "path": "active", "value": "maybe"}])),
            400,
            Some("invalidValue"),
        ),
        (
            "1",
            patch_ops(json!([{"op": "Remove", "path": "userName"}])),
            400,
            Some("mutability"),
        ),
        (
            "1",
            json!({ "Operations": replace_display }),
            400,
            Some("invalidSyntax"),
        ),
    ];
    for (user, body, status, scim_type) in cases {
        let r = s.scim().patch(&format!("/Users/{user}"), &body).await;
        r.assert_scim_error(status, scim_type);
        // Nothing was written.
        assert_eq!(s.legacy().user("1").await["version"], 1, "{body}");
    }
    assert_eq!(s.backend.user_count(), 1);
}

#[tokio::test]
async fn patch_username_to_a_taken_login_is_409() {
    let s = PeripassStack::start(seeded(2)).await;
    let r = s
        .scim()
        .patch(
            "/Users/1",
            &patch_ops(
                json!([{"op": "Replace", "path": "userName", "value": "USER2@example.com"}]),
            ),
        )
        .await;
    r.assert_scim_error(409, Some("uniqueness"));
    assert_eq!(s.legacy().user("1").await["login"], "user1@example.com");
}

// ---------------------------------------------------------------------------
// 7. PUT
// ---------------------------------------------------------------------------

#[tokio::test]
async fn put_replaces_mapped_attributes_and_keeps_unmapped_fields() {
    let s = PeripassStack::start(seeded(0)).await;
    let (id, v0) = admin_user(&s).await;
    let body = json!({
        "schemas": [CORE],
        "id": id,
        "userName": "jdoe@contoso.com",
        "active": true,
        "displayName": "Johnny",
        "name": {"givenName": "Johnny", "familyName": "Doe"},
        "emails": [{"type": "work", "value": "johnny@contoso.com", "primary": true}]
    });
    let r = s.scim().put(&format!("/Users/{id}"), &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    assert_eq!(r.header("etag"), u["meta"]["version"].as_str());
    assert_eq!(u["meta"]["version"], format!("W/\"{}\"", v0 + 1).as_str());
    assert!(u.get("phoneNumbers").is_none(), "{u}");
    assert!(u.get("externalId").is_none(), "{u}");
    assert!(u.get("preferredLanguage").is_none(), "{u}");
    assert_eq!(u["displayName"], "Johnny");
    let l = s.legacy().user(&id).await;
    assert_eq!(l["displayName"], "Johnny");
    assert_eq!(l["firstName"], "Johnny");
    assert_eq!(l["contact"]["email"], "johnny@contoso.com");
    assert!(l["contact"]["mobile"].is_null(), "phone cleared: {l}");
    assert!(l["externalRef"].is_null(), "{l}");
    assert!(l["language"].is_null(), "{l}");
    assert_eq!(l["role"], "Administrator", "unmapped field kept");
    assert_eq!(l["version"], v0 + 1);

    // If-Match: stale → 412, nothing written.
    let mut body2 = body.clone();
    body2["displayName"] = json!("Stale");
    let r = s
        .scim()
        .send(
            http::Method::PUT,
            &format!("/Users/{id}"),
            Some(&body2.to_string()),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    r.assert_scim_error(412, None);
    assert_eq!(s.legacy().user(&id).await["displayName"], "Johnny");

    // Matching If-Match → 200.
    let current = format!("W/\"{}\"", v0 + 1);
    let r = s
        .scim()
        .send(
            http::Method::PUT,
            &format!("/Users/{id}"),
            Some(&body2.to_string()),
            &[("if-match", current.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("etag"), Some(format!("W/\"{}\"", v0 + 2).as_str()));
    assert_eq!(
        r.json()["meta"]["version"],
        format!("W/\"{}\"", v0 + 2).as_str()
    );
    assert_eq!(s.legacy().user(&id).await["displayName"], "Stale");

    // PATCH honours If-Match too.
    let r = s
        .scim()
        .send(
            http::Method::PATCH,
            &format!("/Users/{id}"),
            Some(
                &patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "P"}]))
                    .to_string(),
            ),
            &[("if-match", current.as_str())],
        )
        .await;
    r.assert_scim_error(412, None);
    assert_eq!(s.legacy().user(&id).await["displayName"], "Stale");
}

#[tokio::test]
async fn put_without_active_sets_the_default() {
    let s = PeripassStack::start(seeded(1)).await;
    s.legacy()
        .update_user("1", |u| u["status"] = json!("DISABLED"))
        .await;
    let r = s
        .scim()
        .put(
            "/Users/1",
            &json!({"schemas": [CORE], "userName": "user1@example.com", "displayName": "Only"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["active"], true);
    let l = s.legacy().user("1").await;
    assert_eq!(l["status"], "ACTIVE");
    assert_eq!(l["displayName"], "Only");
    assert!(l["firstName"].is_null() && l["language"].is_null(), "{l}");
    assert!(l["contact"]["email"].is_null(), "{l}");
    assert_eq!(l["role"], "Operator");

    // PATCH remove of a defaulted attribute likewise.
    s.legacy()
        .update_user("1", |u| u["status"] = json!("DISABLED"))
        .await;
    let r = s
        .scim()
        .patch(
            "/Users/1",
            &patch_ops(json!([{"op": "Remove", "path": "active"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.legacy().user("1").await["status"], "ACTIVE");
}

#[tokio::test]
async fn put_errors() {
    let s = PeripassStack::start(seeded(2)).await;
    // Missing userName.
    let r = s
        .scim()
        .put("/Users/1", &json!({"schemas": [CORE], "displayName": "x"}))
        .await;
    r.assert_scim_error(400, Some("invalidValue"));
    // Unknown user.
    let r = s
        .scim()
        .put("/Users/99", &json!({"schemas": [CORE], "userName": "x@y"}))
        .await;
    r.assert_scim_error(404, None);
    // Taken login.
    let r = s
        .scim()
        .put(
            "/Users/1",
            &json!({"schemas": [CORE], "userName": "user2@example.com"}),
        )
        .await;
    r.assert_scim_error(409, Some("uniqueness"));
    assert_eq!(s.legacy().user("1").await["version"], 1);
}

// ---------------------------------------------------------------------------
// 8. DELETE
// ---------------------------------------------------------------------------

#[tokio::test]
async fn delete_then_delete_again() {
    let s = PeripassStack::start(seeded(3)).await;
    let r = s.scim().delete("/Users/2").await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let (st, _) = s.legacy().get("/api/v1/users/2").await;
    assert_eq!(st, 404);
    let r = s.scim().delete("/Users/2").await;
    r.assert_scim_error(404, None);
    let r = s.scim().get("/Users/2").await;
    r.assert_scim_error(404, None);
    assert_eq!(s.backend.user_count(), 2);
    let j = search(&s, "userName eq \"user2@example.com\"").await;
    assert_eq!(j["totalResults"], 0);
}

#[tokio::test]
async fn delete_honours_if_match() {
    let s = PeripassStack::start(seeded(1)).await;
    let r = s
        .scim()
        .send(
            http::Method::DELETE,
            "/Users/1",
            None,
            &[("if-match", "W/\"7\"")],
        )
        .await;
    r.assert_scim_error(412, None);
    assert_eq!(s.backend.user_count(), 1);
    let r = s
        .scim()
        .send(
            http::Method::DELETE,
            "/Users/1",
            None,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.backend.user_count(), 0);
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

#[tokio::test]
async fn tenant_url_flag_and_search_endpoint() {
    let s = PeripassStack::start(seeded(2)).await;
    // Entra's Tenant URL may carry `?aadOptscim062020`.
    let r = s
        .scim()
        .get(&format!(
            "/Users?aadOptscim062020&filter={}",
            entra_filter("userName eq \"user2@example.com\"")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.json()), vec!["2"]);
    let r = s
        .scim()
        .patch(
            "/Users/2?aadOptscim062020",
            &patch_ops(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.legacy().user("2").await["status"], "DISABLED");

    let r = s
        .scim()
        .post(
            "/Users/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": "userName eq \"USER1@example.com\"",
                    "attributes": ["userName"], "startIndex": 1, "count": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["Resources"],
        json!([{"id": "1", "schemas": [CORE], "userName": "user1@example.com"}])
    );
}

// ---------------------------------------------------------------------------
// The whole Entra cycle
// ---------------------------------------------------------------------------

#[tokio::test]
async fn entra_provisioning_cycle() {
    let s = PeripassStack::start(seeded(2)).await;
    // Match: no such user → create.
    let j = search(&s, "userName eq \"cycle@contoso.com\"").await;
    assert_eq!(j["totalResults"], 0);
    let u = scim_create(&s, "cycle@contoso.com").await;
    let id = u["id"].as_str().unwrap().to_string();
    // Next cycle: match finds exactly one → PATCH the differences.
    let j = search(&s, "userName eq \"Cycle@Contoso.com\"").await;
    assert_eq!(ids(&j), vec![id.clone()]);
    patch(
        &s,
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "Cycle User"}]),
    )
    .await;
    // Soft delete, then hard delete.
    patch(
        &s,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(s.legacy().user(&id).await["status"], "DISABLED");
    assert_eq!(s.scim().delete(&format!("/Users/{id}")).await.status, 204);
    assert_eq!(s.scim().delete(&format!("/Users/{id}")).await.status, 404);
}
