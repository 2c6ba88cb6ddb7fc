//! SCIM Users over the Peripass mapping: request errors, backend failures,
//! filter safety (injection, scans, `or`), and discovery.

use crate::support::*;
use http::Method;
use serde_json::{json, Value};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn seeded(n: usize) -> peripass::Options {
    peripass::Options {
        seed_users: n,
        ..Default::default()
    }
}

fn user_body(user_name: &str) -> Value {
    json!({"schemas": [CORE], "userName": user_name, "active": true, "displayName": "X"})
}

/// The query pairs of a recorded request, still percent-encoded.
fn raw_pairs(path_and_query: &str) -> Vec<(String, String)> {
    let q = path_and_query.split_once('?').map(|x| x.1).unwrap_or("");
    q.split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

async fn filter_get(s: &PeripassStack, filter: &str) -> Resp {
    s.scim()
        .get(&format!("/Users?filter={}", entra_filter(filter)))
        .await
}

// ---------------------------------------------------------------------------
// Request errors
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_400_invalid_syntax() {
    let s = PeripassStack::start(seeded(1)).await;
    s.backend.clear_requests();
    for (m, path) in [
        (Method::POST, "/Users"),
        (Method::PUT, "/Users/1"),
        (Method::PATCH, "/Users/1"),
        (Method::POST, "/Users/.search"),
    ] {
        for body in [
            "{\"userName\": ",
            "[1,2]",
            "",
            "\"str\"",
            "{\"a\":1}}",
            // A name twice (in any case) is ambiguous: taking either could
            // drop a filter (a widened search) or a value.
            "{\"filter\":\"userName eq \\\"user1@example.com\\\"\",\"filter\":null}",
            "{\"Filter\":\"userName eq \\\"user1@example.com\\\"\",\"filter\":null}",
            "{\"userName\":\"dup@x.com\",\"active\":null,\"Active\":false}",
        ] {
            let r = s.scim().send(m.clone(), path, Some(body), &[]).await;
            r.assert_scim_error_for(&format!("{m} {path} {body:?}"), 400, Some("invalidSyntax"));
        }
    }
    assert_eq!(s.backend.request_count(), 0);
    assert_eq!(s.backend.user_count(), 1);
    assert_eq!(s.backend.user(1).unwrap()["version"], 1);
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let s = PeripassStack::start(seeded(1)).await;
    s.backend.clear_requests();
    let body = user_body("ct@x.com").to_string();
    for (m, path) in [
        (Method::POST, "/Users"),
        (Method::PUT, "/Users/1"),
        (Method::PATCH, "/Users/1"),
    ] {
        for ct in ["text/plain", "application/scim+json; charset=latin1"] {
            let r = s
                .scim()
                .send(m.clone(), path, Some(&body), &[("content-type", ct)])
                .await;
            r.assert_scim_error_for(&format!("{m} {path} {ct}"), 415, None);
        }
        // Two content types (the first one a good one) are ambiguous too.
        let r = s
            .scim()
            .send(
                m.clone(),
                path,
                Some(&body),
                &[
                    ("content-type", "application/scim+json"),
                    ("content-type", "text/plain"),
                ],
            )
            .await;
        r.assert_scim_error_for(&format!("{m} {path} two types"), 415, None);
    }
    assert_eq!(s.backend.request_count(), 0);
    assert_eq!(s.backend.user_count(), 1);
    assert_eq!(s.backend.user(1).unwrap()["version"], 1);
    // Both JSON media types are accepted.
    let r = s
        .scim()
        .send(
            Method::POST,
            "/Users",
            Some(&body),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn huge_body_is_413() {
    let s = PeripassStack::start(seeded(1)).await;
    s.backend.clear_requests();
    let big = "x".repeat(2 * 1024 * 1024);
    let body = json!({"schemas": [CORE], "userName": "big@x.com", "displayName": big}).to_string();
    let r = s
        .scim()
        .send(Method::POST, "/Users", Some(&body), &[])
        .await;
    r.assert_scim_error(413, None);
    let ops = patch_ops(json!([{"op": "Replace", "path": "displayName", "value": big}]));
    let r = s.scim().patch("/Users/1", &ops).await;
    r.assert_scim_error(413, None);
    assert_eq!(s.backend.request_count(), 0);
    assert_eq!(s.backend.user_count(), 1);
}

/// RFC 7644 §3.5.2: a PATCH that would change `id` (readOnly) is `400
/// mutability` and writes nothing; one that echoes the id it has applies.
#[tokio::test]
async fn patch_changing_the_id_is_400_mutability() {
    let s = PeripassStack::start(seeded(1)).await;
    let before = s.backend.user(1).unwrap();
    s.backend.clear_requests();
    for op in [
        json!({"op": "Replace", "path": "id", "value": "2"}),
        json!({"op": "Remove", "path": "id"}),
        json!({"op": "Replace", "value": {"id": "2", "displayName": "Moved"}}),
        json!({"op": "Replace", "value": {"ID": "5"}}),
        json!({"op": "add", "path": "ID", "value": "5"}),
    ] {
        let r = s.scim().patch("/Users/1", &patch_ops(json!([op]))).await;
        r.assert_scim_error(400, Some("mutability"));
    }
    assert!(
        s.backend.requests().iter().all(|r| r.method == "GET"),
        "a write reached the backend: {:?}",
        s.backend.requests()
    );
    assert_eq!(s.backend.user(1).unwrap(), before);
    let ops = patch_ops(json!([{"op": "Replace", "value": {"id": "1", "displayName": "Same id"}}]));
    let r = s.scim().patch("/Users/1", &ops).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.backend.user(1).unwrap()["displayName"], json!("Same id"));
}

#[tokio::test]
async fn invalid_filters_are_400_invalid_filter() {
    let s = PeripassStack::start(seeded(1)).await;
    s.backend.clear_requests();
    for f in [
        "userName eq",
        "userName",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "userName eq \"a\" and",
        "emails[type eq \"work\"",
        "userName eq \"unterminated",
        "userName gt true",
    ] {
        let r = filter_get(&s, f).await;
        r.assert_scim_error_for(f, 400, Some("invalidFilter"));
    }
    let r = s
        .scim()
        .post("/Users/.search", &json!({"filter": "userName eq"}))
        .await;
    r.assert_scim_error(400, Some("invalidFilter"));
    assert_eq!(s.backend.request_count(), 0);
}

#[tokio::test]
async fn filter_values_cannot_inject_backend_parameters() {
    let s = PeripassStack::start(seeded(3)).await;
    let tricky = s
        .legacy()
        .create_user(json!({"login": "a&login=user1@example.com"}))
        .await;
    for (filter, login, want) in [
        (
            "userName eq \"a&login=user1@example.com\"",
            "a&login=user1@example.com",
            vec![tricky.clone()],
        ),
        ("userName eq \"a&login=b\"", "a&login=b", vec![]),
        (
            "userName eq \"x\\\" or \\\"1\\\" eq \\\"1\"",
            "x\" or \"1\" eq \"1",
            vec![],
        ),
        (
            "userName eq \"user1@example.com&status=DISABLED\"",
            "user1@example.com&status=DISABLED",
            vec![],
        ),
        ("userName eq \"%26page%3D2\"", "%26page%3D2", vec![]),
        ("userName eq \"a+b c#d?e/f\"", "a+b c#d?e/f", vec![]),
        ("userName eq \"ünï©ødé\"", "ünï©ødé", vec![]),
    ] {
        s.backend.clear_requests();
        let r = filter_get(&s, filter).await;
        assert_eq!(
            r.status,
            200,
            "{filter}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let j = r.json();
        assert_eq!(ids(&j), want, "{filter}");
        assert_eq!(j["totalResults"], want.len(), "{filter}");
        let calls = s.list_calls();
        assert_eq!(calls.len(), 1, "{filter}: {calls:?}");
        let pairs = raw_pairs(&calls[0]);
        let logins: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "login")
            .map(|(_, v)| decode(v))
            .collect();
        assert_eq!(logins, vec![login.to_string()], "{filter}: {}", calls[0]);
        // Nothing but paging and the one login parameter.
        let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, vec!["login", "page", "pageSize"], "{}", calls[0]);
        for (_, v) in &pairs {
            assert!(
                !v.contains(['&', '=', ' ', '"', '#', '?', '+']),
                "not encoded: {}",
                calls[0]
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

#[tokio::test]
async fn missing_or_wrong_token_is_401_and_never_reaches_the_backend() {
    let s = PeripassStack::start(seeded(1)).await;
    s.backend.clear_requests();
    let no = s.scim().without_token();
    let wrong = s.scim().with_token("not-the-token");
    let body = user_body("auth@x.com");
    for c in [&no, &wrong] {
        for r in [
            c.get("/Users").await,
            c.get(&format!(
                "/Users?filter={}",
                entra_filter("userName eq \"a\"")
            ))
            .await,
            c.get("/Users/1").await,
            c.post("/Users", &body).await,
            c.put("/Users/1", &body).await,
            c.patch(
                "/Users/1",
                &patch_ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
            )
            .await,
            c.delete("/Users/1").await,
            c.get("/Groups").await,
            c.get("/Schemas").await,
            c.get("/ServiceProviderConfig").await,
        ] {
            r.assert_scim_error(401, None);
            let www = r.header("www-authenticate").unwrap_or("");
            assert!(www.starts_with("Bearer"), "WWW-Authenticate: {www:?}");
        }
    }
    // Other schemes and malformed headers.
    for h in [
        format!("Basic {TOKEN}"),
        TOKEN.to_string(),
        "Bearer".to_string(),
        format!("Bearer {TOKEN}x"),
        format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
    ] {
        let r = no
            .send(
                Method::GET,
                "/Users",
                None,
                &[("authorization", h.as_str())],
            )
            .await;
        r.assert_scim_error(401, None);
    }
    assert_eq!(s.backend.request_count(), 0, "{:?}", s.backend.requests());
    assert_eq!(s.backend.user(1).unwrap()["status"], "ACTIVE");
}

// ---------------------------------------------------------------------------
// Backend failures
// ---------------------------------------------------------------------------

/// How a backend failure is staged for one row of [`backend_failures`].
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Every call answers 503.
    Failing,
    /// Every call answers 429 (`Retry-After: 1`).
    RateLimited,
    /// The bridge sends a key the backend refuses (401).
    WrongKey,
    /// The backend is gone (after a first call pooled a connection).
    Down,
}

/// What a row's `Retry-After` must be.
#[derive(Clone, Copy)]
enum RetryAfter {
    Absent,
    AtLeastOne,
    Exactly(&'static str),
}

/// The SCIM requests a row sends, by name.
const LIST: &str = "GET /Users";
const GET: &str = "GET /Users/1";
const CREATE: &str = "POST /Users";
const PATCH: &str = "PATCH /Users/1";
const DELETE: &str = "DELETE /Users/1";

async fn send_named(c: &TestClient, request: &str) -> Resp {
    let ops = patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "x"}]));
    match request {
        LIST => c.get("/Users").await,
        GET => c.get("/Users/1").await,
        CREATE => c.post("/Users", &user_body("f@x.com")).await,
        PATCH => c.patch("/Users/1", &ops).await,
        DELETE => c.delete("/Users/1").await,
        other => unreachable!("{other}"),
    }
}

/// Every backend failure, as one table: (fault, requests, status,
/// `Retry-After`). Each row starts its own stack with one user and checks
/// that nothing was written.
#[tokio::test]
async fn backend_failures() {
    let all = [LIST, GET, CREATE, PATCH, DELETE];
    let rows: [(Fault, &[&str], u16, RetryAfter); 4] = [
        (Fault::Failing, &all, 503, RetryAfter::AtLeastOne),
        (Fault::RateLimited, &all, 429, RetryAfter::Exactly("1")),
        (
            Fault::WrongKey,
            &[LIST, GET, CREATE, DELETE],
            502,
            RetryAfter::Absent,
        ),
        (
            Fault::Down,
            &[GET, LIST, CREATE, PATCH],
            503,
            RetryAfter::AtLeastOne,
        ),
    ];
    for (fault, requests, status, retry_after) in rows {
        let s = PeripassStack::start_custom(
            seeded(1),
            StackConfig {
                bridge_api_key: matches!(fault, Fault::WrongKey).then_some("wrong-key"),
                ..Default::default()
            },
        )
        .await;
        match fault {
            Fault::Failing => s.backend.set_fail_rate(1.0),
            Fault::RateLimited => s.backend.set_rate_limit_rate(1.0),
            Fault::WrongKey => {}
            Fault::Down => {
                // A first call opens a pooled connection to the backend.
                assert_eq!(s.scim().get("/Users/1").await.status, 200, "{fault:?}");
            }
        }
        let PeripassStack { backend, bridge } = s;
        let backend = match fault {
            Fault::Down => {
                backend.shutdown().await;
                None
            }
            _ => Some(backend),
        };
        for request in requests {
            let r = send_named(&bridge.client, request).await;
            r.assert_scim_error_for(&format!("{fault:?}: {request}"), status, None);
            match retry_after {
                RetryAfter::Absent => {
                    assert!(r.header("retry-after").is_none(), "{fault:?}: {request}")
                }
                RetryAfter::AtLeastOne => {
                    let ra: u64 = r
                        .header("retry-after")
                        .unwrap_or_else(|| panic!("{fault:?}: {request}: no Retry-After"))
                        .parse()
                        .unwrap();
                    assert!(ra >= 1, "{fault:?}: {request}");
                }
                RetryAfter::Exactly(v) => {
                    assert_eq!(r.header("retry-after"), Some(v), "{fault:?}: {request}")
                }
            }
            // Not the client's credential that failed.
            assert!(
                r.header("www-authenticate").is_none(),
                "{fault:?}: {request}"
            );
        }
        let Some(backend) = backend else { continue };
        // Nothing was created, changed or deleted.
        assert_eq!(backend.user_count(), 1, "{fault:?}");
        assert_eq!(backend.user(1).unwrap()["version"], 1, "{fault:?}");
        match fault {
            Fault::Failing => {
                backend.set_fail_rate(0.0);
                assert_eq!(bridge.client.get("/Users/1").await.status, 200);
            }
            Fault::RateLimited => {
                // The Retry-After passed on is the backend's own, not a
                // constant (the bridge's pause from the first 429s has
                // ended by now, or is waited out).
                backend.set_retry_after_secs(3);
                let r = bridge.client.get("/Users/1").await;
                r.assert_scim_error(429, None);
                assert_eq!(r.header("retry-after"), Some("3"));
            }
            Fault::WrongKey => {
                // The bridge did send its (wrong) key.
                assert!(backend
                    .requests()
                    .iter()
                    .all(|r| r.header("x-api-key") == Some("wrong-key")));
            }
            Fault::Down => unreachable!(),
        }
    }
}

#[tokio::test]
async fn backend_slower_than_the_timeout_is_504() {
    let s = PeripassStack::start_custom(
        seeded(1),
        StackConfig {
            backend_extra: "timeout_ms = 200",
            ..Default::default()
        },
    )
    .await;
    // A backend that takes a minute: both calls give up at the 200 ms
    // timeout, long before (generous bound, no race with a loaded machine).
    s.backend.set_latency_ms(60_000);
    let started = std::time::Instant::now();
    let r = s.scim().get("/Users/1").await;
    r.assert_scim_error(504, None);
    let r = s.scim().get("/Users").await;
    r.assert_scim_error(504, None);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    s.backend.set_latency_ms(0);
    assert_eq!(s.scim().get("/Users/1").await.status, 200);
}

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

#[tokio::test]
async fn discovery_is_read_only() {
    let s = PeripassStack::start(seeded(0)).await;
    for path in [
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        &format!("/Schemas/{CORE}"),
        "/ResourceTypes/User",
    ] {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let r = s.scim().send(m.clone(), path, Some("{}"), &[]).await;
            r.assert_scim_error(405, None);
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{m} {path}");
        }
        let get = s.scim().get(path).await;
        assert_eq!(get.status, 200, "GET {path}");
        // HEAD is GET without the body (RFC 9110 §9.3.2).
        let head = s.scim().send(Method::HEAD, path, None, &[]).await;
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path}");
        assert_eq!(
            head.header("content-length"),
            Some(get.body.len().to_string().as_str()),
            "HEAD {path}"
        );
    }
    // A resource says what it takes, HEAD included.
    let r = s
        .scim()
        .send(Method::POST, "/Users/1", Some("{}"), &[])
        .await;
    r.assert_scim_error(405, None);
    assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, PATCH, DELETE"));
    let r = s.scim().send(Method::HEAD, "/Users", None, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

fn attr<'a>(attrs: &'a Value, name: &str) -> &'a Value {
    attrs
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {attrs}"))
}

fn names(attrs: &Value) -> Vec<String> {
    let mut v: Vec<String> = attrs
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn schemas_describe_exactly_the_mapping() {
    let s = PeripassStack::start(seeded(0)).await;
    let r = s.scim().get("/Schemas").await;
    assert_eq!(r.status, 200);
    let list = r.json();
    assert_eq!(list["totalResults"], 2, "User and Group: {list}");
    let schema = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == CORE)
        .unwrap();
    assert_eq!(schema["id"], CORE);
    assert_eq!(
        s.scim().get(&format!("/Schemas/{CORE}")).await.json(),
        *schema
    );
    let attrs = &schema["attributes"];
    assert_eq!(
        names(attrs),
        vec![
            "active",
            "displayName",
            "emails",
            "externalId",
            "name",
            "phoneNumbers",
            "preferredLanguage",
            "userName"
        ]
    );
    // externalId is mapped, so it is described (issue 12, item 7).
    let external_id = attr(attrs, "externalId");
    assert_eq!(external_id["caseExact"], true);
    assert_eq!(external_id["mutability"], "readWrite");
    let user_name = attr(attrs, "userName");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["mutability"], "readWrite");
    assert_eq!(attr(attrs, "active")["type"], "boolean");
    assert_eq!(attr(attrs, "active")["required"], false);

    let name = attr(attrs, "name");
    assert_eq!(name["type"], "complex");
    assert_eq!(name["multiValued"], false);
    assert_eq!(name["mutability"], "readWrite");
    assert_eq!(
        names(&name["subAttributes"]),
        vec!["familyName", "formatted", "givenName"]
    );
    assert_eq!(
        attr(&name["subAttributes"], "formatted")["mutability"],
        "readOnly"
    );
    assert_eq!(
        attr(&name["subAttributes"], "givenName")["mutability"],
        "readWrite"
    );

    for (multi, kind) in [("emails", "work"), ("phoneNumbers", "mobile")] {
        let a = attr(attrs, multi);
        assert_eq!(a["type"], "complex");
        assert_eq!(a["multiValued"], true);
        assert_eq!(a["mutability"], "readWrite");
        assert_eq!(names(&a["subAttributes"]), vec!["type", "value"], "{a}");
        assert_eq!(
            attr(&a["subAttributes"], "type")["canonicalValues"],
            json!([kind])
        );
        assert_eq!(attr(&a["subAttributes"], "value")["type"], "string");
        assert_eq!(attr(&a["subAttributes"], "value")["multiValued"], false);
    }

    let rt = s.scim().get("/ResourceTypes").await.json();
    assert_eq!(rt["totalResults"], 2);
    let user_rt = rt["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "User")
        .unwrap();
    assert_eq!(user_rt["endpoint"], "/Users");
    assert_eq!(user_rt["schema"], CORE);
    assert!(user_rt.get("schemaExtensions").is_none());
    let group_rt = rt["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "Group")
        .unwrap();
    assert_eq!(group_rt["endpoint"], "/Groups");

    let spc = s.scim().get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["sort"]["supported"], false);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
}

// ---------------------------------------------------------------------------
// Filters evaluated in the bridge
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unanswerable_filter_is_evaluated_over_a_scan() {
    let s = PeripassStack::start(seeded(30)).await;
    s.backend.clear_requests();
    let r = filter_get(&s, "displayName co \"First1\"").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    let want: Vec<String> = [1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(ids(&j), want);
    assert_eq!(j["totalResults"], 11);
    for c in s.list_calls() {
        let keys: Vec<String> = raw_pairs(&c).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["page", "pageSize"], "{c}");
    }
    // Case-insensitive like the attribute.
    let j = filter_get(&s, "displayName co \"first1\"").await.json();
    assert_eq!(j["totalResults"], 11);
    let j = filter_get(&s, "name.familyName ew \"t30\"").await.json();
    assert_eq!(ids(&j), vec!["30"]);
    let j = filter_get(&s, "emails pr and displayName sw \"First2\"")
        .await
        .json();
    assert_eq!(j["totalResults"], 11); // 2, 20..29
    let j = filter_get(&s, "phoneNumbers pr").await.json();
    assert_eq!(j["totalResults"], 0);
}

#[tokio::test]
async fn scan_beyond_the_limit_is_400_too_many() {
    let s = PeripassStack::start_with(seeded(30), "[scim]\nscan_limit = 10").await;
    let r = filter_get(&s, "displayName co \"First1\"").await;
    r.assert_scim_error(400, Some("tooMany"));
    let r = filter_get(
        &s,
        "userName eq \"user1@example.com\" or userName eq \"user2@example.com\"",
    )
    .await;
    r.assert_scim_error(400, Some("tooMany"));
    // What the backend answers is not limited by the scan limit.
    let j = filter_get(&s, "userName eq \"user7@example.com\"")
        .await
        .json();
    assert_eq!(ids(&j), vec!["7"]);
    let r = filter_get(&s, "active eq true").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["totalResults"], 30);
    assert_eq!(ids(&j).len(), 30);
    let j = s
        .scim()
        .get(&format!(
            "/Users?startIndex=12&count=3&filter={}",
            entra_filter("active eq true")
        ))
        .await
        .json();
    assert_eq!(ids(&j), vec!["12", "13", "14"]);
    assert_eq!(j["totalResults"], 30);
    // A pushed term narrowing a bridge-side one.
    let j = filter_get(
        &s,
        "userName eq \"user12@example.com\" and displayName co \"First1\"",
    )
    .await
    .json();
    assert_eq!(ids(&j), vec!["12"]);
}

#[tokio::test]
async fn or_filters_are_exact_and_never_widen() {
    let s = PeripassStack::start(seeded(6)).await;
    s.legacy()
        .update_user("2", |u| u["status"] = json!("DISABLED"))
        .await;
    s.legacy()
        .update_user("3", |u| u["externalRef"] = json!("ext-3"))
        .await;
    for (f, want) in [
        (
            "userName eq \"user1@example.com\" or userName eq \"USER2@example.com\"",
            vec!["1", "2"],
        ),
        (
            "userName eq \"user1@example.com\" or externalId eq \"ext-3\"",
            vec!["1", "3"],
        ),
        (
            "userName eq \"user1@example.com\" or displayName eq \"nobody\"",
            vec!["1"],
        ),
        (
            "(userName eq \"user1@example.com\" or userName eq \"user2@example.com\") and active eq false",
            vec!["2"],
        ),
        (
            "active eq false or externalId eq \"ext-3\"",
            vec!["2", "3"],
        ),
        ("id eq \"4\" or id eq \"5\"", vec!["4", "5"]),
        ("id eq \"4\" or id eq \"abc\"", vec!["4"]),
        ("id eq \"4\" and id eq \"5\"", vec![]),
        ("not (active eq true)", vec!["2"]),
        (
            "userName eq \"user1@example.com\" and (externalId eq \"ext-3\" or active eq true)",
            vec!["1"],
        ),
        (
            "userName eq \"user3@example.com\" and (externalId eq \"nope\" or active eq false)",
            vec![],
        ),
        ("userName ne \"user1@example.com\" and active eq false", vec!["2"]),
    ] {
        let r = filter_get(&s, f).await;
        assert_eq!(r.status, 200, "{f}: {}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        assert_eq!(ids(&j), want, "{f}");
        assert_eq!(j["totalResults"], want.len(), "{f}");
    }
}

/// A 405 names the methods the path takes, as the mapping's operations
/// allow them: without `delete`, neither the resource's Allow nor a DELETE's
/// 405 offers DELETE.
#[tokio::test]
async fn allow_follows_the_mappings_operations() {
    let mapping = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml"))
        .unwrap()
        .replacen(
            "      delete: { method: DELETE, path: \"/api/v1/users/{id}\" }\n",
            "",
            1,
        );
    let s = PeripassStack::start_with_mapping(seeded(1), &mapping).await;
    for m in [Method::DELETE, Method::POST] {
        let r = s.scim().send(m.clone(), "/Users/1", None, &[]).await;
        r.assert_scim_error(405, None);
        assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, PATCH"), "{m}");
    }
    let r = s.scim().send(Method::PUT, "/Users", Some("{}"), &[]).await;
    r.assert_scim_error(405, None);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
}

/// A complex attribute given in another JSON shape (`"name": "x"`,
/// `"emails": "x"`) is a 400 before any write: read as absent, it would
/// clear the names or the email. Entra's bare `manager` id stays accepted.
#[tokio::test]
async fn a_complex_attribute_in_another_shape_is_400_and_writes_nothing() {
    let s = PeripassStack::start(seeded(1)).await;
    let before = s.backend.user(1).unwrap();
    let full = s.scim().get("/Users/1").await.json();
    for (key, bad) in [
        ("name", json!("oops")),
        ("emails", json!("oops")),
        ("emails", json!([["nested"]])),
        ("phoneNumbers", json!(true)),
    ] {
        let mut body = full.clone();
        body[key] = bad.clone();
        s.scim().put("/Users/1", &body).await.assert_scim_error_for(
            &format!("PUT {key}={bad}"),
            400,
            Some("invalidValue"),
        );
        let mut new = user_body(&format!("shape-{key}@x.com"));
        new[key] = bad.clone();
        s.scim().post("/Users", &new).await.assert_scim_error_for(
            &format!("POST {key}={bad}"),
            400,
            Some("invalidValue"),
        );
    }
    assert_eq!(s.backend.user(1).unwrap(), before);
    assert_eq!(s.backend.user_count(), 1);
    // Entra's shapes still pass.
    let mut body = full.clone();
    body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({"manager": "7"});
    assert_eq!(s.scim().put("/Users/1", &body).await.status, 200);
}
