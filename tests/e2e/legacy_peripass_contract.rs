//! The example legacy Peripass backend, checked through HTTP against the
//! contract (`legacy-peripass-api.md`).

use crate::support::peripass as backend;

use std::time::{Duration, Instant};

use backend::{spawn, Options, Running};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

const KEY: &str = "peripass-demo-key";

// ---------------------------------------------------------------------------
// A tiny client
// ---------------------------------------------------------------------------

struct Api {
    server: Running,
    client: Client<HttpConnector, Full<Bytes>>,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// Asserts an error answer with the envelope and returns it.
    #[track_caller]
    fn expect_error(&self, status: u16, code: &str) -> Value {
        let body = self.json();
        assert_eq!(
            (self.status, body["error"]["code"].as_str()),
            (status, Some(code)),
            "unexpected answer: {body}"
        );
        assert!(body["error"]["message"].is_string(), "no message in {body}");
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/json")
        );
        body
    }

    /// Asserts a 422 naming `field` in `fields`.
    #[track_caller]
    fn expect_invalid(&self, field: &str) {
        let body = self.expect_error(422, "VALIDATION_FAILED");
        assert!(
            body["error"]["fields"][field].is_string(),
            "field `{field}` not reported in {body}"
        );
    }
}

impl Api {
    async fn start(opts: Options) -> Api {
        let server = spawn(opts).await.expect("backend starts");
        Api {
            server,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn new() -> Api {
        Api::start(Options::default()).await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server.base_url()));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let resp = self.client.request(req).await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: &str, path: &str) -> Resp {
        self.raw(method, path, &[("x-api-key", KEY)], None).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call("GET", path).await
    }

    async fn send_text(&self, method: &str, path: &str, body: &str) -> Resp {
        self.raw(
            method,
            path,
            &[("x-api-key", KEY), ("content-type", "application/json")],
            Some(body.as_bytes().to_vec()),
        )
        .await
    }

    async fn send(&self, method: &str, path: &str, body: &Value) -> Resp {
        self.send_text(method, path, &body.to_string()).await
    }

    async fn create_user(&self, login: &str) -> Value {
        let r = self
            .send(
                "POST",
                "/api/v1/users",
                &json!({"login": login, "role": "Operator"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.json());
        r.json()
    }

    async fn create_team(&self, body: Value) -> Value {
        let r = self.send("POST", "/api/v1/teams", &body).await;
        assert_eq!(r.status, 201, "{:?}", r.json());
        r.json()
    }

    async fn team(&self, id: &str) -> Value {
        let r = self.get(&format!("/api/v1/teams/{id}")).await;
        assert_eq!(r.status, 200);
        r.json()
    }
}

fn seeded(users: usize, teams: usize, members: usize) -> Options {
    Options {
        seed_users: users,
        seed_teams: teams,
        seed_team_members: members,
        ..Options::default()
    }
}

fn ids(list: &Value, key: &str) -> Vec<Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].clone())
        .collect()
}

const USER_KEYS: [&str; 13] = [
    "userId",
    "login",
    "firstName",
    "lastName",
    "displayName",
    "contact",
    "language",
    "status",
    "externalRef",
    "role",
    "createdAt",
    "updatedAt",
    "version",
];

fn assert_timestamp(v: &Value) {
    let s = v.as_str().expect("timestamp is a string");
    assert!(
        chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z') && s.len() == 20,
        "not an RFC 3339 UTC timestamp with seconds: {s}"
    );
}

// ---------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------

#[tokio::test]
async fn user_crud_round_trip() {
    let api = Api::new().await;
    let body = json!({
        "login": "jdoe@contoso.com",
        "firstName": "John",
        "lastName": "Doe",
        "displayName": "John Doe",
        "contact": {"email": "john.doe@contoso.com", "mobile": "+32 470 12 34 56"},
        "language": "nl",
        "status": "DISABLED",
        "externalRef": "0a3c5e2f",
        "role": "Administrator",
        "createdAt": "1999-01-01T00:00:00Z",
        "updatedAt": "not even a date"
    });
    let r = api.send("POST", "/api/v1/users", &body).await;
    assert_eq!(r.status, 201);
    let created = r.json();
    let id = created["userId"].as_u64().unwrap();
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/api/v1/users/{id}").as_str())
    );
    for key in USER_KEYS {
        assert!(created.get(key).is_some(), "missing {key} in {created}");
    }
    assert_eq!(created.as_object().unwrap().len(), USER_KEYS.len());
    assert_eq!(created["login"], "jdoe@contoso.com");
    assert_eq!(created["contact"]["mobile"], "+32 470 12 34 56");
    assert_eq!(created["status"], "DISABLED");
    assert_eq!(created["role"], "Administrator");
    assert_eq!(created["version"], 1);
    assert_ne!(created["createdAt"], "1999-01-01T00:00:00Z");
    assert_timestamp(&created["createdAt"]);
    assert_timestamp(&created["updatedAt"]);

    let got = api.get(&format!("/api/v1/users/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), created);
    assert_eq!(api.server.user(id), Some(created.clone()));

    // Full replacement.
    let r = api
        .send(
            "PUT",
            &format!("/api/v1/users/{id}"),
            &json!({"userId": id, "login": "JDoe@Contoso.com", "version": 1, "lastName": "Doe"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    let replaced = r.json();
    assert_eq!(replaced["version"], 2);
    assert_eq!(replaced["login"], "JDoe@Contoso.com");
    assert_eq!(replaced["firstName"], Value::Null);
    assert_eq!(replaced["lastName"], "Doe");
    assert_eq!(replaced["contact"], Value::Null);
    assert_eq!(replaced["language"], Value::Null);
    assert_eq!(replaced["externalRef"], Value::Null);
    assert_eq!(replaced["status"], "ACTIVE", "absent status becomes ACTIVE");
    assert_eq!(replaced["role"], "Administrator", "absent role is kept");
    assert_eq!(replaced["createdAt"], created["createdAt"]);
    assert_timestamp(&replaced["updatedAt"]);
    assert_eq!(api.server.user(id), Some(replaced.clone()));

    // Stale version.
    let r = api
        .send(
            "PUT",
            &format!("/api/v1/users/{id}"),
            &json!({"login": "x", "version": 1}),
        )
        .await;
    r.expect_error(409, "VERSION_CONFLICT");
    let r = api
        .send(
            "PUT",
            &format!("/api/v1/users/{id}"),
            &json!({"login": "x", "version": 3}),
        )
        .await;
    r.expect_error(409, "VERSION_CONFLICT");

    let r = api.call("DELETE", &format!("/api/v1/users/{id}")).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    api.get(&format!("/api/v1/users/{id}"))
        .await
        .expect_error(404, "USER_NOT_FOUND");
    api.call("DELETE", &format!("/api/v1/users/{id}"))
        .await
        .expect_error(404, "USER_NOT_FOUND");
    api.send(
        "PUT",
        &format!("/api/v1/users/{id}"),
        &json!({"login": "x", "version": 2}),
    )
    .await
    .expect_error(404, "USER_NOT_FOUND");
    assert_eq!(api.server.user(id), None);
    // The login is free again.
    api.create_user("jdoe@contoso.com").await;
}

#[tokio::test]
async fn contact_is_null_or_an_object_with_both_keys() {
    let api = Api::new().await;
    let u = api.create_user("a@x").await;
    assert_eq!(u["contact"], Value::Null);
    let r = api
        .send(
            "POST",
            "/api/v1/users",
            &json!({"login": "b@x", "role": "Viewer", "contact": {"email": "b@x"}}),
        )
        .await;
    assert_eq!(r.json()["contact"], json!({"email": "b@x", "mobile": null}));
    let r = api
        .send(
            "POST",
            "/api/v1/users",
            &json!({"login": "c@x", "role": "Viewer", "contact": null, "firstName": null, "language": null}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["contact"], Value::Null);
}

#[tokio::test]
async fn user_ids_increase_and_list_is_id_ascending() {
    let api = Api::new().await;
    let a = api.create_user("a@x").await["userId"].as_u64().unwrap();
    let b = api.create_user("b@x").await["userId"].as_u64().unwrap();
    let c = api.create_user("c@x").await["userId"].as_u64().unwrap();
    assert!(a < b && b < c);
    let list = api.get("/api/v1/users").await.json();
    assert_eq!(
        ids(&list["data"], "userId"),
        vec![json!(a), json!(b), json!(c)]
    );
}

#[tokio::test]
async fn create_user_validation() {
    let api = Api::new().await;
    let long = "x".repeat(257);
    let max = "é".repeat(256); // 256 chars, 512 bytes: allowed
    let cases: Vec<(Value, &str)> = vec![
        (json!({"role": "Operator"}), "login"),
        (json!({"login": null, "role": "Operator"}), "login"),
        (json!({"login": "", "role": "Operator"}), "login"),
        (json!({"login": long, "role": "Operator"}), "login"),
        (json!({"login": 5, "role": "Operator"}), "login"),
        (json!({"login": "a"}), "role"),
        (json!({"login": "a", "role": null}), "role"),
        (json!({"login": "a", "role": "operator"}), "role"),
        (json!({"login": "a", "role": "Admin"}), "role"),
        (
            json!({"login": "a", "role": "Operator", "status": null}),
            "status",
        ),
        (
            json!({"login": "a", "role": "Operator", "status": "active"}),
            "status",
        ),
        (
            json!({"login": "a", "role": "Operator", "status": 1}),
            "status",
        ),
        (
            json!({"login": "a", "role": "Operator", "language": "EN"}),
            "language",
        ),
        (
            json!({"login": "a", "role": "Operator", "language": "eng"}),
            "language",
        ),
        (
            json!({"login": "a", "role": "Operator", "language": "en-US"}),
            "language",
        ),
        (
            json!({"login": "a", "role": "Operator", "language": "xx"}),
            "language",
        ),
        (
            json!({"login": "a", "role": "Operator", "language": ""}),
            "language",
        ),
        (
            json!({"login": "a", "role": "Operator", "language": 7}),
            "language",
        ),
        (
            json!({"login": "a", "role": "Operator", "firstName": long}),
            "firstName",
        ),
        (
            json!({"login": "a", "role": "Operator", "lastName": 1}),
            "lastName",
        ),
        (
            json!({"login": "a", "role": "Operator", "displayName": ["x"]}),
            "displayName",
        ),
        (
            json!({"login": "a", "role": "Operator", "externalRef": long}),
            "externalRef",
        ),
        (
            json!({"login": "a", "role": "Operator", "externalRef": 12}),
            "externalRef",
        ),
        (
            json!({"login": "a", "role": "Operator", "contact": "a@x"}),
            "contact",
        ),
        (
            json!({"login": "a", "role": "Operator", "contact": []}),
            "contact",
        ),
        (
            json!({"login": "a", "role": "Operator", "contact": {"email": 3}}),
            "contact.email",
        ),
        (
            json!({"login": "a", "role": "Operator", "contact": {"mobile": true}}),
            "contact.mobile",
        ),
        (
            json!({"login": "a", "role": "Operator", "contact": {"phone": "1"}}),
            "contact.phone",
        ),
        (
            json!({"login": "a", "role": "Operator", "emails": []}),
            "emails",
        ),
        (
            json!({"login": "a", "role": "Operator", "userId": 9}),
            "userId",
        ),
        (
            json!({"login": "a", "role": "Operator", "userId": null}),
            "userId",
        ),
        (
            json!({"login": "a", "role": "Operator", "version": 1}),
            "version",
        ),
    ];
    for (body, field) in cases {
        let r = api.send("POST", "/api/v1/users", &body).await;
        assert_eq!(r.status, 422, "{body} should be rejected");
        r.expect_invalid(field);
    }
    assert_eq!(api.server.user(1), None, "nothing was created");

    // Limits are inclusive and counted in characters.
    let r = api
        .send(
            "POST",
            "/api/v1/users",
            &json!({"login": max, "role": "Viewer", "firstName": max, "externalRef": max}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    for lang in ["nl", "en", "fr", "de", "zh"] {
        let r = api
            .send(
                "POST",
                "/api/v1/users",
                &json!({"login": format!("{lang}@x"), "role": "Viewer", "language": lang}),
            )
            .await;
        assert_eq!(r.status, 201, "{lang}: {}", r.json());
    }
}

#[tokio::test]
async fn login_is_unique_case_insensitively() {
    let api = Api::new().await;
    let a = api.create_user("Alice@Example.com").await;
    let b = api.create_user("bob@example.com").await;
    api.send(
        "POST",
        "/api/v1/users",
        &json!({"login": "alice@EXAMPLE.com", "role": "Viewer"}),
    )
    .await
    .expect_error(409, "LOGIN_TAKEN");
    // PUT to a login taken by another user.
    let bid = b["userId"].as_u64().unwrap();
    api.send(
        "PUT",
        &format!("/api/v1/users/{bid}"),
        &json!({"login": "ALICE@example.com", "version": 1}),
    )
    .await
    .expect_error(409, "LOGIN_TAKEN");
    // PUT changing only the case of one's own login is fine.
    let aid = a["userId"].as_u64().unwrap();
    let r = api
        .send(
            "PUT",
            &format!("/api/v1/users/{aid}"),
            &json!({"login": "alice@example.com", "version": 1}),
        )
        .await;
    assert_eq!(r.status, 200);
    // After a rename, the old login is free and the new one is taken.
    let r = api
        .send(
            "PUT",
            &format!("/api/v1/users/{aid}"),
            &json!({"login": "carol@example.com", "version": 2}),
        )
        .await;
    assert_eq!(r.status, 200);
    api.create_user("ALICE@example.com").await;
    api.send(
        "POST",
        "/api/v1/users",
        &json!({"login": "Carol@Example.com", "role": "Viewer"}),
    )
    .await
    .expect_error(409, "LOGIN_TAKEN");
}

#[tokio::test]
async fn put_user_rules() {
    let api = Api::new().await;
    let u = api.create_user("a@x").await;
    let id = u["userId"].as_u64().unwrap();
    let path = format!("/api/v1/users/{id}");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"login": "a@x"}), "version"),
        (json!({"login": "a@x", "version": null}), "version"),
        (json!({"login": "a@x", "version": "1"}), "version"),
        (json!({"login": "a@x", "version": 1.5}), "version"),
        (
            json!({"login": "a@x", "version": 1, "userId": id + 1}),
            "userId",
        ),
        (
            json!({"login": "a@x", "version": 1, "userId": id.to_string()}),
            "userId",
        ),
        (
            json!({"login": "a@x", "version": 1, "userId": null}),
            "userId",
        ),
        (json!({"version": 1}), "login"),
        (json!({"login": null, "version": 1}), "login"),
        (
            json!({"login": "a@x", "version": 1, "status": null}),
            "status",
        ),
        (json!({"login": "a@x", "version": 1, "role": null}), "role"),
        (
            json!({"login": "a@x", "version": 1, "role": "Root"}),
            "role",
        ),
        (
            json!({"login": "a@x", "version": 1, "nickName": "x"}),
            "nickName",
        ),
        (
            json!({"login": "a@x", "version": 1, "contact": {"fax": "1"}}),
            "contact.fax",
        ),
        (
            json!({"login": "a@x", "version": 1, "language": "NL"}),
            "language",
        ),
    ];
    for (body, field) in cases {
        let r = api.send("PUT", &path, &body).await;
        assert_eq!(r.status, 422, "{body} should be rejected");
        r.expect_invalid(field);
    }
    assert_eq!(
        api.server.user(id).unwrap()["version"],
        1,
        "no write happened"
    );

    // Role change, then an absent role keeps it; createdAt/updatedAt ignored.
    let r = api
        .send(
            "PUT",
            &path,
            &json!({"login": "a@x", "version": 1, "role": "Viewer", "userId": id,
                    "createdAt": "x", "updatedAt": 3, "contact": {"email": null, "mobile": "1"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["role"], "Viewer");
    assert_eq!(r.json()["contact"], json!({"email": null, "mobile": "1"}));
    let r = api
        .send("PUT", &path, &json!({"login": "a@x", "version": 2}))
        .await;
    assert_eq!(r.json()["role"], "Viewer");
    assert_eq!(r.json()["version"], 3);
}

// ---------------------------------------------------------------------------
// Bodies and content types
// ---------------------------------------------------------------------------

#[tokio::test]
async fn content_type_must_be_json_utf8() {
    let api = Api::new().await;
    let body = br#"{"login":"a@x","role":"Operator"}"#.to_vec();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("application/json; charset=latin1"),
        Some("application/json; charset=utf-16"),
        Some("application/jsonx"),
        Some("application/scim+json"),
        Some("application/json; boundary=x"),
    ] {
        let mut headers = vec![("x-api-key", KEY)];
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        let r = api
            .raw("POST", "/api/v1/users", &headers, Some(body.clone()))
            .await;
        r.expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    for (i, ct) in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/json; charset=\"utf-8\"",
    ]
    .into_iter()
    .enumerate()
    {
        let body = format!(r#"{{"login":"u{i}@x","role":"Operator"}}"#).into_bytes();
        let r = api
            .raw(
                "POST",
                "/api/v1/users",
                &[("x-api-key", KEY), ("content-type", ct)],
                Some(body),
            )
            .await;
        assert_eq!(r.status, 201, "{ct}");
    }
    // Every body-carrying endpoint checks it.
    let u = api.create_user("m@x").await;
    let t = api.create_team(json!({"name": "T"})).await;
    for (method, path) in [
        ("PUT", format!("/api/v1/users/{}", u["userId"])),
        ("POST", "/api/v1/teams".to_string()),
        (
            "PUT",
            format!("/api/v1/teams/{}", t["teamId"].as_str().unwrap()),
        ),
        (
            "POST",
            format!("/api/v1/teams/{}/members", t["teamId"].as_str().unwrap()),
        ),
    ] {
        let r = api
            .raw(
                method,
                &path,
                &[("x-api-key", KEY), ("content-type", "text/json")],
                Some(b"{}".to_vec()),
            )
            .await;
        r.expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
}

#[tokio::test]
async fn malformed_json_and_duplicate_keys_are_422() {
    let api = Api::new().await;
    let t = api.create_team(json!({"name": "T"})).await;
    let members = format!("/api/v1/teams/{}/members", t["teamId"].as_str().unwrap());
    let bad = [
        "",
        "{",
        "{\"login\":\"a\",}",
        "{\"login\":\"a\",\"role\":\"Operator\"} x",
        "[]",
        "null",
        "\"a\"",
        "42",
        "{\"login\":\"a\",\"role\":\"Operator\",\"login\":\"b\"}",
        "{\"login\":\"a\",\"role\":\"Operator\",\"contact\":{\"email\":\"a\",\"email\":\"b\"}}",
        "{\"login\":\"a\",\"role\":\"Operator\",\"contact\":{\"email\":null,\"email\":null}}",
        "{\"login\":\"a\",\"role\":\"Operator\",\"createdAt\":[{\"k\":1,\"k\":2}]}",
        "{\"login\":\"a\",\"role\":\"Operator\",\"firstName\":\"\\ud800\"}",
    ];
    for body in bad {
        let r = api.send_text("POST", "/api/v1/users", body).await;
        r.expect_error(422, "VALIDATION_FAILED");
    }
    let invalid_utf8 = api
        .raw(
            "POST",
            "/api/v1/users",
            &[("x-api-key", KEY), ("content-type", "application/json")],
            Some(b"{\"login\":\"\xff\",\"role\":\"Operator\"}".to_vec()),
        )
        .await;
    invalid_utf8.expect_error(422, "VALIDATION_FAILED");
    // Deep nesting does not crash the server.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    api.send_text("POST", "/api/v1/users", &deep)
        .await
        .expect_error(422, "VALIDATION_FAILED");
    for body in ["{\"name\":\"a\",\"name\":\"b\"}", "{"] {
        api.send_text("POST", "/api/v1/teams", body)
            .await
            .expect_error(422, "VALIDATION_FAILED");
    }
    api.send_text("POST", &members, "{\"userId\":1,\"userId\":1}")
        .await
        .expect_error(422, "VALIDATION_FAILED");
    assert_eq!(api.server.user(1), None);
}

#[tokio::test]
async fn bodies_over_10_mib_are_413() {
    let api = Api::new().await;
    let huge = format!(
        "{{\"login\":\"a\",\"role\":\"Operator\",\"firstName\":\"{}\"}}",
        "x".repeat(10 * 1024 * 1024)
    );
    api.send_text("POST", "/api/v1/users", &huge)
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    // Just under the limit is parsed (and then rejected for its length).
    let big = format!(
        "{{\"login\":\"a\",\"role\":\"Operator\",\"firstName\":\"{}\"}}",
        "x".repeat(10 * 1024 * 1024 - 100)
    );
    api.send_text("POST", "/api/v1/users", &big)
        .await
        .expect_invalid("firstName");
    // The server is still fine.
    api.create_user("a@x").await;
}

// ---------------------------------------------------------------------------
// Routing, ids, auth
// ---------------------------------------------------------------------------

#[tokio::test]
async fn non_canonical_ids_are_404() {
    let api = Api::start(seeded(50, 1, 0)).await;
    assert_eq!(api.get("/api/v1/users/42").await.status, 200);
    // Path segments are percent-decoded before validation.
    let r = api.get("/api/v1/users/%34%32").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["userId"], 42);
    for bad in [
        "0",
        "042",
        "+42",
        "-42",
        "42.0",
        "4e1",
        "%2B42",
        "%2042",
        "42%20",
        "abc",
        "18446744073709551616",
        "99999999999999999999999",
        "%FF",
        "",
    ] {
        for method in ["GET", "DELETE"] {
            api.call(method, &format!("/api/v1/users/{bad}"))
                .await
                .expect_error(404, "USER_NOT_FOUND");
        }
        api.send(
            "PUT",
            &format!("/api/v1/users/{bad}"),
            &json!({"login": "x", "version": 1}),
        )
        .await
        .expect_error(404, "USER_NOT_FOUND");
    }
    api.get("/api/v1/users/18446744073709551615")
        .await
        .expect_error(404, "USER_NOT_FOUND");

    assert_eq!(api.get("/api/v1/teams/T-0001").await.status, 200);
    assert_eq!(api.get("/api/v1/teams/T%2D0001").await.status, 200);
    for bad in [
        "T-001", "T-00001", "t-0001", "T0001", "T-0001x", "T-+001", "T--001", "1", "T-", "T-abcd",
        "T-0002", "T-9999",
    ] {
        for method in ["GET", "DELETE"] {
            api.call(method, &format!("/api/v1/teams/{bad}"))
                .await
                .expect_error(404, "TEAM_NOT_FOUND");
        }
        api.send(
            "POST",
            &format!("/api/v1/teams/{bad}/members"),
            &json!({"userId": 1}),
        )
        .await
        .expect_error(404, "TEAM_NOT_FOUND");
        api.call("DELETE", &format!("/api/v1/teams/{bad}/members/1"))
            .await
            .expect_error(404, "TEAM_NOT_FOUND");
    }
    for bad in ["01", "+1", "x", "0"] {
        api.call("DELETE", &format!("/api/v1/teams/T-0001/members/{bad}"))
            .await
            .expect_error(404, "USER_NOT_FOUND");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let api = Api::start(seeded(1, 1, 0)).await;
    for path in [
        "/",
        "/api",
        "/api/v1",
        "/api/v2/users",
        "/api/v1/groups",
        "/api/v1/users/1/teams",
        "/api/v1/teams/T-0001/owners",
        "/api/v1/teams/T-0001/members/1/x",
        "/Users",
        "/scim/v2/Users",
    ] {
        api.get(path).await.expect_error(404, "NOT_FOUND");
    }
    for path in [
        "/api/v1/users",
        "/api/v1/users/1",
        "/api/v1/teams",
        "/api/v1/teams/T-0001",
        "/api/v1/teams/T-0001/members",
        "/api/v1/teams/T-0001/members/1",
        "/api/v1/nowhere",
    ] {
        let r = api.send("PATCH", path, &json!({})).await;
        r.expect_error(405, "METHOD_NOT_ALLOWED");
    }
    for (method, path) in [
        ("DELETE", "/api/v1/users"),
        ("PUT", "/api/v1/users"),
        ("POST", "/api/v1/users/1"),
        ("DELETE", "/api/v1/teams"),
        ("POST", "/api/v1/teams/T-0001"),
        ("GET", "/api/v1/teams/T-0001/members"),
        ("DELETE", "/api/v1/teams/T-0001/members"),
        ("GET", "/api/v1/teams/T-0001/members/1"),
        ("PUT", "/api/v1/teams/T-0001/members/1"),
        ("OPTIONS", "/api/v1/users"),
    ] {
        api.call(method, path)
            .await
            .expect_error(405, "METHOD_NOT_ALLOWED");
    }
    // Nothing changed.
    assert!(api.server.user(1).is_some());
    assert_eq!(api.server.team("T-0001").unwrap()["version"], 1);
}

#[tokio::test]
async fn api_key_is_checked_first_and_everything_is_recorded() {
    let api = Api::start(Options {
        api_key: {
            crate::support::register_secret("s3cret");
            "s3cret".to_string()
        },
        ..seeded(1, 0, 0)
    })
    .await;
    let expected = json!({"error": {"code": "UNAUTHORIZED", "message": "invalid api key"}});
    for headers in [
        vec![],
        vec![("x-api-key", "wrong")],
        vec![("x-api-key", "S3CRET")],
    ] {
        for (method, path) in [
            ("GET", "/api/v1/users"),
            ("GET", "/nowhere"),
            ("PATCH", "/api/v1/users/1"),
            ("DELETE", "/api/v1/users/1"),
            ("GET", "/api/v1/users/0"),
        ] {
            let r = api.raw(method, path, &headers, None).await;
            assert_eq!(r.status, 401);
            assert_eq!(r.json(), expected);
        }
    }
    assert!(api.server.user(1).is_some());
    let r = api
        .raw("GET", "/api/v1/users/1", &[("X-Api-Key", "s3cret")], None)
        .await;
    assert_eq!(r.status, 200);

    let recorded = api.server.requests();
    assert_eq!(recorded.len(), 16);
    assert_eq!(api.server.request_count(), 16);
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].path_and_query, "/api/v1/users");
    assert_eq!(recorded[5].header("x-api-key"), Some("wrong"));
    assert!(recorded[15]
        .headers
        .iter()
        .any(|(n, v)| n == "x-api-key" && v == "s3cret"));

    api.server.clear_requests();
    assert_eq!(api.server.request_count(), 0);
    let r = api
        .raw(
            "POST",
            "/api/v1/users?a=%20b+c",
            &[("content-type", "application/json")],
            Some(b"{\"login\":\"z\"}".to_vec()),
        )
        .await;
    assert_eq!(r.status, 401);
    let recorded = api.server.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path_and_query, "/api/v1/users?a=%20b+c");
    assert_eq!(recorded[0].body, "{\"login\":\"z\"}");
    assert_eq!(recorded[0].header("Content-Type"), Some("application/json"));
}

// ---------------------------------------------------------------------------
// Listing users
// ---------------------------------------------------------------------------

#[tokio::test]
async fn user_paging() {
    let api = Api::start(seeded(120, 0, 0)).await;
    let r = api.get("/api/v1/users").await.json();
    assert_eq!(
        r["paging"],
        json!({"page": 1, "pageSize": 50, "totalItems": 120})
    );
    assert_eq!(r["data"].as_array().unwrap().len(), 50);
    assert_eq!(r["data"][0]["userId"], 1);
    assert_eq!(r["data"][0]["login"], "user1@example.com");
    assert_eq!(r["data"][0]["role"], "Operator");
    assert_eq!(r["data"][0]["status"], "ACTIVE");
    assert_eq!(r["data"][0]["language"], "en");
    assert!(r["data"][0]["firstName"].is_string());
    assert!(r["data"][0]["lastName"].is_string());
    assert!(r["data"][0]["displayName"].is_string());
    assert_eq!(r["data"][0].as_object().unwrap().len(), USER_KEYS.len());

    let r = api.get("/api/v1/users?page=3").await.json();
    assert_eq!(r["data"].as_array().unwrap().len(), 20);
    assert_eq!(r["data"][0]["userId"], 101);
    assert_eq!(r["paging"]["page"], 3);
    let r = api.get("/api/v1/users?page=4&pageSize=50").await.json();
    assert_eq!(r["data"], json!([]));
    assert_eq!(
        r["paging"],
        json!({"page": 4, "pageSize": 50, "totalItems": 120})
    );
    let r = api
        .get("/api/v1/users?page=18446744073709551615&pageSize=200")
        .await
        .json();
    assert_eq!(r["data"], json!([]));
    let r = api.get("/api/v1/users?pageSize=200").await.json();
    assert_eq!(r["data"].as_array().unwrap().len(), 120);
    let r = api.get("/api/v1/users?pageSize=7&page=2").await.json();
    let got: Vec<u64> = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_u64().unwrap())
        .collect();
    assert_eq!(got, (8..=14).collect::<Vec<u64>>());
    let r = api.get("/api/v1/users?pageSize=1").await.json();
    assert_eq!(r["data"].as_array().unwrap().len(), 1);

    for (query, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=1.0", "page"),
        ("page=", "page"),
        ("page=a", "page"),
        ("page=+1", "page"),
        ("page=%201", "page"),
        ("page=18446744073709551616", "page"),
        ("page=1&page=2", "page"),
        ("pageSize=0", "pageSize"),
        ("pageSize=201", "pageSize"),
        ("pageSize=2e1", "pageSize"),
        ("pageSize=-5", "pageSize"),
        ("pageSize", "pageSize"),
    ] {
        api.get(&format!("/api/v1/users?{query}"))
            .await
            .expect_invalid(field);
    }
}

#[tokio::test]
async fn user_filters() {
    let api = Api::start(seeded(5, 0, 0)).await;
    let mk = |login: &str, ext: Option<&str>, status: &str| json!({"login": login, "role": "Viewer", "externalRef": ext, "status": status});
    for body in [
        mk("Jean Dupont@x.be", Some("e1"), "ACTIVE"),
        mk("plus+sign@x.be", Some("e 2"), "DISABLED"),
        mk("c@x.be", Some("e1"), "DISABLED"),
        mk("d@x.be", None, "DISABLED"),
    ] {
        assert_eq!(api.send("POST", "/api/v1/users", &body).await.status, 201);
    }
    let logins = |q: &'static str| {
        let api = &api;
        async move {
            let r = api.get(&format!("/api/v1/users?{q}")).await;
            assert_eq!(r.status, 200, "{q}");
            let body = r.json();
            let list: Vec<String> = body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["login"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(body["paging"]["totalItems"], list.len(), "{q}");
            list
        }
    };
    assert_eq!(
        logins("login=USER3%40EXAMPLE.COM").await,
        ["user3@example.com"]
    );
    assert_eq!(
        logins("login=user3@example.com").await,
        ["user3@example.com"]
    );
    assert_eq!(
        logins("login=jean+dupont%40x.be").await,
        ["Jean Dupont@x.be"]
    );
    assert_eq!(
        logins("login=jean%20dupont@x.be").await,
        ["Jean Dupont@x.be"]
    );
    assert_eq!(logins("login=plus%2Bsign%40x.be").await, ["plus+sign@x.be"]);
    assert!(logins("login=plus+sign%40x.be").await.is_empty());
    assert!(logins("login=user3").await.is_empty());
    assert!(logins("login=").await.is_empty());
    assert!(logins("login").await.is_empty());
    assert_eq!(
        logins("externalRef=e1").await,
        ["Jean Dupont@x.be", "c@x.be"]
    );
    assert!(
        logins("externalRef=E1").await.is_empty(),
        "externalRef is exact"
    );
    assert_eq!(logins("externalRef=e+2").await, ["plus+sign@x.be"]);
    assert!(logins("externalRef=").await.is_empty());
    assert_eq!(
        logins("status=DISABLED").await,
        ["plus+sign@x.be", "c@x.be", "d@x.be"]
    );
    assert!(logins("status=disabled").await.is_empty());
    assert!(logins("status=").await.is_empty());
    assert_eq!(logins("status=DISABLED&externalRef=e1").await, ["c@x.be"]);
    assert_eq!(
        logins("login=c@x.be&status=DISABLED&externalRef=e1").await,
        ["c@x.be"]
    );
    assert!(logins("login=c@x.be&status=ACTIVE").await.is_empty());
    // Repeated parameters are ANDed.
    assert!(logins("status=ACTIVE&status=DISABLED").await.is_empty());
    assert_eq!(logins("status=DISABLED&status=DISABLED").await.len(), 3);
    assert_eq!(logins("login=c@x.be&login=C@X.BE").await, ["c@x.be"]);
    assert!(logins("login=c@x.be&login=d@x.be").await.is_empty());
    assert!(logins("externalRef=e1&externalRef=").await.is_empty());
    // Unknown parameters are ignored.
    assert_eq!(
        logins("filter=userName%20eq%20%22x%22&sort=login")
            .await
            .len(),
        9
    );
    // Filters combine with paging; totalItems counts the filtered set.
    let r = api
        .get("/api/v1/users?status=DISABLED&pageSize=2&page=2")
        .await
        .json();
    assert_eq!(r["data"].as_array().unwrap().len(), 1);
    assert_eq!(r["data"][0]["login"], "d@x.be");
    assert_eq!(
        r["paging"],
        json!({"page": 2, "pageSize": 2, "totalItems": 3})
    );
}

// ---------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------

#[tokio::test]
async fn team_crud_round_trip() {
    let api = Api::start(seeded(5, 0, 0)).await;
    let r = api
        .send(
            "POST",
            "/api/v1/teams",
            &json!({"name": "Gate Operators", "description": "Night shift", "memberIds": [3, 1, 3]}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/api/v1/teams/T-0001")
    );
    let t = r.json();
    assert_eq!(
        t,
        json!({"teamId": "T-0001", "name": "Gate Operators", "description": "Night shift",
               "memberIds": [1, 3], "version": 1})
    );
    assert_eq!(api.team("T-0001").await, t);
    assert_eq!(api.server.team("T-0001"), Some(t.clone()));
    let t2 = api.create_team(json!({"name": "Second"})).await;
    assert_eq!(
        t2,
        json!({"teamId": "T-0002", "name": "Second", "description": null, "memberIds": [], "version": 1})
    );
    let t3 = api
        .create_team(
            json!({"name": "Third", "description": null, "memberIds": null, "createdAt": "x"}),
        )
        .await;
    assert_eq!(t3["teamId"], "T-0003");
    assert_eq!(t3["memberIds"], json!([]));

    // PUT: full replacement.
    let r = api
        .send(
            "PUT",
            "/api/v1/teams/T-0001",
            &json!({"teamId": "T-0001", "name": "Gate Ops", "version": 1, "memberIds": [2]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(
        r.json(),
        json!({"teamId": "T-0001", "name": "Gate Ops", "description": null, "memberIds": [2], "version": 2})
    );
    // Absent memberIds becomes [].
    let r = api
        .send(
            "PUT",
            "/api/v1/teams/T-0001",
            &json!({"name": "Gate Ops", "description": "d", "version": 2}),
        )
        .await;
    assert_eq!(r.json()["memberIds"], json!([]));
    assert_eq!(r.json()["version"], 3);
    // A PUT that changes nothing is an idempotent no-op: the version stays
    // (the contract: "idempotent no-ops do not change the version").
    let r = api
        .send(
            "PUT",
            "/api/v1/teams/T-0001",
            &json!({"name": "Gate Ops", "description": "d", "version": 3}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], 3);
    assert_eq!(api.team("T-0001").await["version"], 3);
    // A change of the description alone is a write.
    let r = api
        .send(
            "PUT",
            "/api/v1/teams/T-0001",
            &json!({"name": "Gate Ops", "description": "e", "version": 3}),
        )
        .await;
    assert_eq!(r.json()["version"], 4);
    api.send(
        "PUT",
        "/api/v1/teams/T-0001",
        &json!({"name": "Gate Ops", "version": 3}),
    )
    .await
    .expect_error(409, "VERSION_CONFLICT");
    api.send(
        "PUT",
        "/api/v1/teams/T-0009",
        &json!({"name": "x", "version": 1}),
    )
    .await
    .expect_error(404, "TEAM_NOT_FOUND");

    // Delete.
    assert_eq!(api.call("DELETE", "/api/v1/teams/T-0002").await.status, 204);
    api.get("/api/v1/teams/T-0002")
        .await
        .expect_error(404, "TEAM_NOT_FOUND");
    api.call("DELETE", "/api/v1/teams/T-0002")
        .await
        .expect_error(404, "TEAM_NOT_FOUND");
    assert_eq!(api.server.team("T-0002"), None);
    // Ids are not reused; the name is free again.
    let t4 = api.create_team(json!({"name": "second"})).await;
    assert_eq!(t4["teamId"], "T-0004");
}

#[tokio::test]
async fn team_validation_and_conflicts() {
    let api = Api::start(seeded(3, 0, 0)).await;
    api.create_team(json!({"name": "Alpha", "memberIds": [1]}))
        .await;
    api.create_team(json!({"name": "Beta"})).await;
    let long = "x".repeat(257);
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": 3}), "name"),
        (json!({"name": long}), "name"),
        (json!({"name": "n", "description": long}), "description"),
        (json!({"name": "n", "description": 1}), "description"),
        (json!({"name": "n", "memberIds": [1, 99]}), "memberIds"),
        (json!({"name": "n", "memberIds": [0]}), "memberIds"),
        (json!({"name": "n", "memberIds": [-1]}), "memberIds"),
        (json!({"name": "n", "memberIds": ["1"]}), "memberIds"),
        (json!({"name": "n", "memberIds": [1.5]}), "memberIds"),
        (json!({"name": "n", "memberIds": [null]}), "memberIds"),
        (json!({"name": "n", "memberIds": 1}), "memberIds"),
        (json!({"name": "n", "memberIds": {"1": true}}), "memberIds"),
        (json!({"name": "n", "teamId": "T-0009"}), "teamId"),
        (json!({"name": "n", "version": 1}), "version"),
        (json!({"name": "n", "members": []}), "members"),
        (json!({"name": "n", "displayName": "x"}), "displayName"),
    ];
    for (body, field) in cases {
        let r = api.send("POST", "/api/v1/teams", &body).await;
        assert_eq!(r.status, 422, "{body} should be rejected");
        r.expect_invalid(field);
    }
    api.send("POST", "/api/v1/teams", &json!({"name": "ALPHA"}))
        .await
        .expect_error(409, "NAME_TAKEN");

    let put_cases: Vec<(Value, &str)> = vec![
        (json!({"name": "Beta"}), "version"),
        (json!({"name": "Beta", "version": "1"}), "version"),
        (
            json!({"name": "Beta", "version": 1, "teamId": "T-0001"}),
            "teamId",
        ),
        (json!({"name": "Beta", "version": 1, "teamId": 2}), "teamId"),
        (json!({"name": null, "version": 1}), "name"),
        (json!({"version": 1}), "name"),
        (
            json!({"name": "Beta", "version": 1, "memberIds": [42]}),
            "memberIds",
        ),
        (json!({"name": "Beta", "version": 1, "extra": 1}), "extra"),
    ];
    for (body, field) in put_cases {
        let r = api.send("PUT", "/api/v1/teams/T-0002", &body).await;
        assert_eq!(r.status, 422, "{body} should be rejected");
        r.expect_invalid(field);
    }
    api.send(
        "PUT",
        "/api/v1/teams/T-0002",
        &json!({"name": "alpha", "version": 1}),
    )
    .await
    .expect_error(409, "NAME_TAKEN");
    assert_eq!(api.team("T-0002").await["version"], 1, "nothing written");
    // Renaming to another case of its own name is fine.
    let r = api
        .send(
            "PUT",
            "/api/v1/teams/T-0002",
            &json!({"name": "BETA", "version": 1, "teamId": "T-0002"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "BETA");
}

#[tokio::test]
async fn team_listing() {
    let api = Api::start(seeded(0, 250, 0)).await;
    let r = api.get("/api/v1/teams").await.json();
    assert_eq!(r["total"], 250);
    assert_eq!(r["items"].as_array().unwrap().len(), 100);
    assert_eq!(r["items"][0]["teamId"], "T-0001");
    assert_eq!(r["items"][0]["name"], "Team 1");
    assert_eq!(r["items"][99]["teamId"], "T-0100");
    let r = api.get("/api/v1/teams?offset=240&limit=500").await.json();
    assert_eq!(r["items"].as_array().unwrap().len(), 10);
    assert_eq!(r["items"][0]["teamId"], "T-0241");
    assert_eq!(r["total"], 250);
    let r = api.get("/api/v1/teams?offset=250").await.json();
    assert_eq!(r, json!({"items": [], "total": 250}));
    let r = api
        .get("/api/v1/teams?offset=18446744073709551615")
        .await
        .json();
    assert_eq!(r["items"], json!([]));
    let r = api.get("/api/v1/teams?offset=0&limit=1").await.json();
    assert_eq!(ids(&r["items"], "teamId"), [json!("T-0001")]);

    let r = api.get("/api/v1/teams?name=team+7").await.json();
    assert_eq!(ids(&r["items"], "teamId"), [json!("T-0007")]);
    assert_eq!(r["total"], 1);
    let r = api.get("/api/v1/teams?name=TEAM%207&offset=1").await.json();
    assert_eq!(r, json!({"items": [], "total": 1}));
    for q in ["name=", "name=Team", "name=Team+7&name=Team+8", "name"] {
        let r = api.get(&format!("/api/v1/teams?{q}")).await.json();
        assert_eq!(r, json!({"items": [], "total": 0}), "{q}");
    }
    let r = api
        .get("/api/v1/teams?name=Team+7&name=team%207&x=y")
        .await
        .json();
    assert_eq!(r["total"], 1);

    for (q, field) in [
        ("offset=-1", "offset"),
        ("offset=a", "offset"),
        ("offset=1.0", "offset"),
        ("offset=", "offset"),
        ("offset=1&offset=1", "offset"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("limit=", "limit"),
    ] {
        api.get(&format!("/api/v1/teams?{q}"))
            .await
            .expect_invalid(field);
    }

    // Ids keep at least four digits and grow past 9999.
    let big = Api::start(seeded(0, 10_001, 0)).await;
    assert_eq!(big.team("T-9999").await["name"], "Team 9999");
    assert_eq!(big.team("T-10000").await["name"], "Team 10000");
    big.get("/api/v1/teams/T-010000")
        .await
        .expect_error(404, "TEAM_NOT_FOUND");
}

#[tokio::test]
async fn membership_endpoints_and_versions() {
    let api = Api::start(seeded(3, 1, 0)).await;
    let members = "/api/v1/teams/T-0001/members";
    let add = |uid: Value| {
        let api = &api;
        async move { api.send("POST", members, &json!({ "userId": uid })).await }
    };
    let r = add(json!(2)).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(api.team("T-0001").await["memberIds"], json!([2]));
    assert_eq!(api.team("T-0001").await["version"], 2);
    // Idempotent: no change, no version bump.
    assert_eq!(add(json!(2)).await.status, 204);
    assert_eq!(api.team("T-0001").await["version"], 2);
    assert_eq!(add(json!(1)).await.status, 204);
    let t = api.team("T-0001").await;
    assert_eq!(t["memberIds"], json!([1, 2]));
    assert_eq!(t["version"], 3);

    add(json!(99)).await.expect_error(404, "USER_NOT_FOUND");
    api.send(
        "POST",
        "/api/v1/teams/T-0002/members",
        &json!({"userId": 1}),
    )
    .await
    .expect_error(404, "TEAM_NOT_FOUND");
    api.send(
        "POST",
        "/api/v1/teams/T-0002/members",
        &json!({"userId": 99}),
    )
    .await
    .expect_error(404, "TEAM_NOT_FOUND");
    for (body, field) in [
        (json!({}), "userId"),
        (json!({"userId": null}), "userId"),
        (json!({"userId": "1"}), "userId"),
        (json!({"userId": 0}), "userId"),
        (json!({"userId": -1}), "userId"),
        (json!({"userId": 1.5}), "userId"),
        (json!({"userId": 1, "role": "x"}), "role"),
        (json!({"value": 1}), "value"),
    ] {
        api.send("POST", members, &body).await.expect_invalid(field);
    }
    api.send_text("POST", members, "[1]")
        .await
        .expect_error(422, "VALIDATION_FAILED");
    assert_eq!(api.team("T-0001").await["version"], 3);

    // Removal, idempotent for an existing non-member; an unknown
    // (well-formed) user is 404 USER_NOT_FOUND (the contract).
    let r = api.call("DELETE", "/api/v1/teams/T-0001/members/2").await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let t = api.team("T-0001").await;
    assert_eq!(t["memberIds"], json!([1]));
    assert_eq!(t["version"], 4);
    assert_eq!(
        api.call("DELETE", "/api/v1/teams/T-0001/members/2")
            .await
            .status,
        204
    );
    api.call("DELETE", "/api/v1/teams/T-0001/members/424242")
        .await
        .expect_error(404, "USER_NOT_FOUND");
    assert_eq!(api.team("T-0001").await["version"], 4);
    api.call("DELETE", "/api/v1/teams/T-0002/members/1")
        .await
        .expect_error(404, "TEAM_NOT_FOUND");

    // A user's version does not change through memberships.
    assert_eq!(api.server.user(1).unwrap()["version"], 1);
}

#[tokio::test]
async fn deleting_a_user_removes_it_from_every_team() {
    let api = Api::start(seeded(4, 0, 0)).await;
    api.create_team(json!({"name": "A", "memberIds": [1, 2]}))
        .await;
    api.create_team(json!({"name": "B", "memberIds": [2, 3]}))
        .await;
    api.create_team(json!({"name": "C", "memberIds": [3]}))
        .await;
    // Membership through PUT and the endpoint keep the reverse index right.
    api.send(
        "PUT",
        "/api/v1/teams/T-0003",
        &json!({"name": "C", "memberIds": [2, 3], "version": 1}),
    )
    .await;
    api.send(
        "POST",
        "/api/v1/teams/T-0001/members",
        &json!({"userId": 4}),
    )
    .await;
    assert_eq!(api.call("DELETE", "/api/v1/users/2").await.status, 204);
    let a = api.team("T-0001").await;
    assert_eq!(
        (a["memberIds"].clone(), a["version"].clone()),
        (json!([1, 4]), json!(3))
    );
    let b = api.team("T-0002").await;
    assert_eq!(
        (b["memberIds"].clone(), b["version"].clone()),
        (json!([3]), json!(2))
    );
    let c = api.team("T-0003").await;
    assert_eq!(
        (c["memberIds"].clone(), c["version"].clone()),
        (json!([3]), json!(3))
    );
    // A user in no team: no team version changes.
    api.send(
        "PUT",
        "/api/v1/teams/T-0001",
        &json!({"name": "A", "memberIds": [1], "version": 3}),
    )
    .await;
    assert_eq!(api.call("DELETE", "/api/v1/users/4").await.status, 204);
    assert_eq!(api.team("T-0001").await["version"], 4);
    // Deleting a team then a former member works too.
    assert_eq!(api.call("DELETE", "/api/v1/teams/T-0002").await.status, 204);
    assert_eq!(api.call("DELETE", "/api/v1/users/3").await.status, 204);
    let c = api.team("T-0003").await;
    assert_eq!(
        (c["memberIds"].clone(), c["version"].clone()),
        (json!([]), json!(4))
    );
    // A deleted user cannot be added.
    api.send(
        "POST",
        "/api/v1/teams/T-0001/members",
        &json!({"userId": 3}),
    )
    .await
    .expect_error(404, "USER_NOT_FOUND");
    api.send(
        "POST",
        "/api/v1/teams",
        &json!({"name": "D", "memberIds": [3]}),
    )
    .await
    .expect_invalid("memberIds");
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fail_rate_and_rate_limit_rate() {
    let api = Api::start(Options {
        fail_rate: 1.0,
        ..seeded(1, 0, 0)
    })
    .await;
    for _ in 0..5 {
        let r = api.get("/api/v1/users/1").await;
        r.expect_error(503, "SERVICE_UNAVAILABLE");
        assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    }
    // Faults come before auth.
    let r = api.raw("GET", "/api/v1/users/1", &[], None).await;
    assert_eq!(r.status, 503);
    // Failed requests are recorded and change nothing.
    api.send(
        "PUT",
        "/api/v1/users/1",
        &json!({"login": "x", "version": 1, "role": "Viewer"}),
    )
    .await
    .expect_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(api.server.request_count(), 7);
    assert_eq!(api.server.user(1).unwrap()["version"], 1);

    api.server.set_fail_rate(0.0);
    api.server.set_rate_limit_rate(1.0);
    let r = api.get("/api/v1/users/1").await;
    r.expect_error(429, "RATE_LIMITED");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    // The Retry-After is configurable (so a client's hard-coded pause shows).
    api.server.set_retry_after_secs(5);
    let r = api.get("/api/v1/users/1").await;
    r.expect_error(429, "RATE_LIMITED");
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    api.server.set_retry_after_secs(1);

    // A fraction: some pass, some fail.
    api.server.set_rate_limit_rate(0.0);
    api.server.set_fail_rate(0.5);
    let mut failed = 0;
    for _ in 0..200 {
        match api.get("/api/v1/users/1").await.status {
            503 => failed += 1,
            200 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((40..=160).contains(&failed), "{failed} of 200 failed");

    api.server.set_fail_rate(0.0);
    assert_eq!(api.get("/api/v1/users/1").await.status, 200);
}

#[tokio::test]
async fn max_rps_limits_each_second() {
    let api = Api::start(Options {
        max_rps: Some(5),
        ..seeded(1, 0, 0)
    })
    .await;
    // The rate window's clock is pinned, so the burst is in one second
    // however slow the machine is.
    api.server.pin_rate_second(Some(1_000));
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..20 {
        let r = api.get("/api/v1/users/1").await;
        match r.status {
            200 => ok += 1,
            429 => {
                r.expect_error(429, "RATE_LIMITED");
                assert!(r.header("retry-after").is_some());
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 5, "{ok} ok, {limited} limited");
    assert_eq!(limited, 15);
    // The next second has a fresh budget (of 5 again).
    api.server.pin_rate_second(Some(1_001));
    for _ in 0..5 {
        assert_eq!(api.get("/api/v1/users/1").await.status, 200);
    }
    assert_eq!(api.get("/api/v1/users/1").await.status, 429);
    api.server.pin_rate_second(None);
    api.server.set_max_rps(None);
    for _ in 0..20 {
        assert_eq!(api.get("/api/v1/users/1").await.status, 200);
    }
}

#[tokio::test]
async fn latency_delays_answers() {
    let api = Api::start(Options {
        latency_ms: 150,
        ..seeded(1, 0, 0)
    })
    .await;
    let start = Instant::now();
    assert_eq!(api.get("/api/v1/users/1").await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
    // Switched off again: an answer that would take an hour comes at once
    // (well within a generous timeout).
    api.server.set_latency_ms(3_600_000);
    api.server.set_latency_ms(0);
    let r = tokio::time::timeout(Duration::from_secs(60), api.get("/api/v1/users/1")).await;
    assert_eq!(r.expect("no latency any more").status, 200);
}

// ---------------------------------------------------------------------------
// Scale, protocols, options
// ---------------------------------------------------------------------------

#[tokio::test]
async fn seeding_20000_users_and_a_10000_member_team() {
    // No wall-clock bound (a loaded CI machine is slow): the sizes are the point.
    let api = Api::start(seeded(20_000, 2, 10_000)).await;

    let t = api.team("T-0001").await;
    let members = t["memberIds"].as_array().unwrap();
    assert_eq!(members.len(), 10_000);
    assert_eq!(members[0], 1);
    assert_eq!(members[9_999], 10_000);
    assert_eq!(t["version"], 1);
    assert_eq!(api.team("T-0002").await["memberIds"], json!([]));
    let r = api.get("/api/v1/users?page=100&pageSize=200").await.json();
    assert_eq!(r["paging"]["totalItems"], 20_000);
    assert_eq!(r["data"][199]["userId"], 20_000);
    let r = api
        .get("/api/v1/users?login=USER19999%40example.com")
        .await
        .json();
    assert_eq!(r["data"][0]["userId"], 19_999);

    // Membership changes and deletions on a large team.
    for uid in 1..=200u64 {
        let r = api
            .call("DELETE", &format!("/api/v1/teams/T-0001/members/{uid}"))
            .await;
        assert_eq!(r.status, 204);
        let r = api
            .call("DELETE", &format!("/api/v1/users/{}", uid + 200))
            .await;
        assert_eq!(r.status, 204);
    }
    let t = api.server.team("T-0001").unwrap();
    assert_eq!(t["memberIds"].as_array().unwrap().len(), 9_600);
    assert_eq!(t["version"], 401);

    // A PUT with the full 10,000-member list.
    let all: Vec<u64> = (10_001..=20_000).collect();
    let r = api
        .send(
            "PUT",
            "/api/v1/teams/T-0002",
            &json!({"name": "Team 2", "memberIds": all, "version": 1}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["memberIds"].as_array().unwrap().len(), 10_000);
}

#[tokio::test]
async fn serves_http2_prior_knowledge() {
    let api = Api::start(seeded(1, 0, 0)).await;
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let req = http::Request::builder()
        .uri(format!("{}/api/v1/users/1", api.server.base_url()))
        .header("x-api-key", KEY)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let user: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(user["login"], "user1@example.com");
    let rec = api.server.requests();
    assert_eq!(rec.last().unwrap().path_and_query, "/api/v1/users/1");
}

#[tokio::test]
async fn concurrent_creates_get_distinct_ids() {
    let api = Api::new().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = api.client.clone();
        let url = format!("{}/api/v1/users", api.server.base_url());
        tasks.push(tokio::spawn(async move {
            let req = http::Request::builder()
                .method("POST")
                .uri(url)
                .header("x-api-key", KEY)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(
                    json!({"login": format!("u{i}"), "role": "Viewer"}).to_string(),
                )))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            assert_eq!(resp.status(), 201);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = api.get("/api/v1/users?pageSize=200").await.json();
    assert_eq!(r["paging"]["totalItems"], 50);
    let got: Vec<u64> = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_u64().unwrap())
        .collect();
    assert_eq!(got, (1..=50).collect::<Vec<u64>>());
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let api = Api::new().await;
    let addr = api.server.addr();
    assert!(api.server.base_url().starts_with("http://127.0.0.1:"));
    assert_ne!(addr.port(), 0);
    api.create_user("a@x").await;
    let Api { server, client } = api;
    drop(client);
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown finishes");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[test]
fn options_from_args() {
    let args = |a: &[&str]| Options::from_args(a.iter().map(|s| s.to_string()));
    let o = args(&[]).unwrap();
    assert_eq!(o.listen, "127.0.0.1:0");
    assert_eq!(o.api_key, "peripass-demo-key");
    assert_eq!(
        (
            o.seed_users,
            o.seed_teams,
            o.seed_team_members,
            o.latency_ms
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(
        (o.fail_rate, o.rate_limit_rate, o.max_rps),
        (0.0, 0.0, None)
    );
    assert_eq!(o.retry_after_secs, 1);
    assert_eq!(args(&["--retry-after", "7"]).unwrap().retry_after_secs, 7);
    assert_eq!(args(&["--retry-after=0"]).unwrap().retry_after_secs, 0);

    let o = args(&[
        "--listen",
        ":0",
        "--api-key",
        "k",
        "--seed-users",
        "10",
        "--seed-teams=2",
        "--seed-team-members",
        "5",
        "--latency-ms",
        "25",
        "--fail-rate",
        "0.1",
        "--rate-limit-rate=0.25",
        "--max-rps",
        "100",
    ])
    .unwrap();
    assert_eq!(o.listen, "127.0.0.1:0");
    assert_eq!(o.api_key, "k");
    assert_eq!(
        (
            o.seed_users,
            o.seed_teams,
            o.seed_team_members,
            o.latency_ms
        ),
        (10, 2, 5, 25)
    );
    assert_eq!(
        (o.fail_rate, o.rate_limit_rate, o.max_rps),
        (0.1, 0.25, Some(100))
    );
    assert_eq!(
        args(&["--listen", "0.0.0.0:8080"]).unwrap().listen,
        "0.0.0.0:8080"
    );
    assert_eq!(
        args(&["--listen", ":9000"]).unwrap().listen,
        "127.0.0.1:9000"
    );
    assert_eq!(args(&["--listen", "[::1]:0"]).unwrap().listen, "[::1]:0");

    for bad in [
        &["--bogus"][..],
        &["stray"],
        &["--seed-users"],
        &["--seed-users", "-1"],
        &["--seed-users", "x"],
        &["--latency-ms", "1.5"],
        &["--fail-rate", "2"],
        &["--fail-rate", "-0.1"],
        &["--fail-rate", "NaN"],
        &["--rate-limit-rate", "x"],
        &["--max-rps", "0"],
        &["--max-rps", "4294967296"],
        &["--listen", "nowhere"],
        &["--listen", "host:99999"],
        &["--api-key", ""],
        &["--seed-team-members", "5", "--seed-users", "10"],
        &[
            "--seed-team-members",
            "5",
            "--seed-users",
            "3",
            "--seed-teams",
            "1",
        ],
    ] {
        assert!(args(bad).is_err(), "{bad:?} should be rejected");
    }
    let help = args(&["--help"]).unwrap_err();
    assert!(help.contains("--seed-team-members") && help.contains("--max-rps"));
    assert!(backend::USAGE.contains("--listen"));
}

#[tokio::test]
async fn spawn_rejects_inconsistent_options() {
    let err = spawn(Options {
        seed_team_members: 3,
        ..Options::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
