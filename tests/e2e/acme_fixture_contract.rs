//! Contract tests of the Acme Directory fixture, spoken over real HTTP.

use crate::support::acme;
use acme::{spawn, Options, Running};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    fn etag(&self) -> String {
        self.header("etag").expect("etag header")
    }
    fn fault(&self) -> (&str, Option<&str>) {
        let f = &self.body["fault"];
        assert!(
            f["reason"].is_string(),
            "fault without reason: {}",
            self.body
        );
        (f["kind"].as_str().unwrap_or(""), f["field"].as_str())
    }
}

struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    auth: Option<String>,
}

fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

impl Api {
    fn new(srv: &Running) -> Api {
        Api {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: srv.base_url(),
            auth: Some(basic("bridge", "acme-secret")),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(a) = &self.auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let resp = self.client.request(req).await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON response body")
        };
        if !body.is_null() {
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json"),
                "JSON body with wrong content-type"
            );
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], "").await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            &[("content-type", JSON)],
            &body.to_string(),
        )
        .await
    }

    async fn patch(&self, path: &str, etag: &str, body: &Value) -> Reply {
        self.send(
            Method::PATCH,
            path,
            &[("content-type", MERGE), ("if-match", etag)],
            &body.to_string(),
        )
        .await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, &[], "").await
    }

    /// Create a person; returns (uuid, etag).
    async fn person(&self, person: Value) -> (String, String) {
        let r = self
            .post("/dir/v2/people", &json!({ "person": person }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            r.body["person"]["uuid"].as_str().unwrap().to_string(),
            r.etag(),
        )
    }

    async fn circle(&self, circle: Value) -> Reply {
        self.post("/dir/v2/circles", &json!({ "circle": circle }))
            .await
    }
}

async fn start(seed: usize) -> (Running, Api) {
    let srv = spawn(Options {
        seed_people: seed,
        ..Options::default()
    })
    .await
    .unwrap();
    let api = Api::new(&srv);
    (srv, api)
}

fn is_uuid_v4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    lens == [8, 4, 4, 4, 12]
        && s.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        && parts[2].starts_with('4')
        && matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b'))
}

#[tokio::test]
async fn basic_auth_is_required() {
    let srv = spawn(Options {
        password: "pw-1".into(),
        ..Options::default()
    })
    .await
    .unwrap();
    let mut api = Api::new(&srv);
    for auth in [
        None,
        Some(basic("bridge", "acme-secret")),
        Some(basic("admin", "pw-1")),
        Some("Bearer pw-1".to_string()),
        Some("Basic !!!notbase64".to_string()),
    ] {
        api.auth = auth;
        let r = api.get("/dir/v2/people").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.fault().0, "Unauthorized");
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    }
    api.auth = Some(basic("bridge", "pw-1"));
    let r = api.get("/dir/v2/people").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"people": [], "count": 0}));
    // Every request is recorded, failed ones too, with lowercase header names.
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 6);
    assert_eq!(reqs[5].method, "GET");
    assert_eq!(reqs[5].path_and_query, "/dir/v2/people");
    assert_eq!(
        reqs[5].header("Authorization"),
        Some(basic("bridge", "pw-1").as_str())
    );
    srv.clear_requests();
    assert!(srv.requests().is_empty());
    srv.shutdown().await;
}

#[tokio::test]
async fn person_crud_with_wrapped_bodies() {
    let (srv, api) = start(0).await;
    let r = api
        .post(
            "/dir/v2/people",
            &json!({"person": {
                "uuid": "ignored", "createdEpoch": 1, "modifiedMillis": 2,
                "handle": "jdoe", "names": {"first": "John", "last": "Doe"},
                "fullName": "John Doe",
                "addresses": [{"kind": "work", "email": "j@x.com"}, {"kind": "home", "email": "j@home"}],
                "phones": [{"label": "mobile", "number": "+1 555"}],
                "locale": "en_US", "employeeNo": "42", "source": "ext-1"
            }}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.etag(), "\"r1\"");
    let p = r.body["person"].clone();
    let id = p["uuid"].as_str().unwrap().to_string();
    assert!(is_uuid_v4(&id), "{id}");
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/dir/v2/people/{id}", srv.base_url())
    );
    assert!(p["createdEpoch"].as_i64().unwrap() > 1_600_000_000);
    assert!(p["modifiedMillis"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(p["disabled"], json!(false));
    assert_eq!(p["names"], json!({"first": "John", "last": "Doe"}));
    assert!(p.get("shoeSize").is_none());
    assert_eq!(
        p["phones"],
        json!([{"label": "mobile", "number": "+1 555"}])
    );
    assert_eq!(
        p["addresses"][1],
        json!({"kind": "home", "email": "j@home"})
    );
    assert_eq!(srv.person(&id).unwrap(), p);

    // Unknown members are refused, at the top level and inside the nested
    // objects, naming the top-level member; nothing is created.
    for (person, field) in [
        (json!({"handle": "x1", "shoeSize": 44}), "shoeSize"),
        (
            json!({"handle": "x2", "names": {"first": "A", "middle": "X"}}),
            "names",
        ),
        (
            json!({"handle": "x3", "addresses": [{"email": "a@x", "zip": "1"}]}),
            "addresses",
        ),
        (
            json!({"handle": "x4", "phones": [{"number": "1", "ext": "2"}]}),
            "phones",
        ),
    ] {
        let r = api
            .post("/dir/v2/people", &json!({ "person": person }))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{person}: {}", r.body);
        assert_eq!(r.fault().0, "Invalid", "{}", r.body);
        assert_eq!(r.body["fault"]["field"], field, "{}", r.body);
    }
    assert_eq!(srv.people().len(), 1);

    let r = api.get(&format!("/dir/v2/people/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.etag(), "\"r1\"");
    assert_eq!(r.body, json!({ "person": p }));

    // Minimal person: only handle.
    let (id2, _) = api.person(json!({"handle": "min"})).await;
    assert_ne!(id, id2);
    let p2 = srv.person(&id2).unwrap();
    assert_eq!(p2["disabled"], json!(false));
    assert!(p2.get("names").is_none() && p2.get("locale").is_none());
    assert_eq!(srv.people().len(), 2);

    let r = api.delete(&format!("/dir/v2/people/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_null());
    let r = api.get(&format!("/dir/v2/people/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.fault().0, "NotFound");
    assert_eq!(
        api.delete(&format!("/dir/v2/people/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(srv.person(&id).is_none());
    for bad in ["not-a-uuid", "12345", &id.to_uppercase()] {
        let r = api.get(&format!("/dir/v2/people/{bad}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        api.get("/dir/v1/people").await.status,
        StatusCode::NOT_FOUND
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn create_validation_and_errors() {
    let (srv, api) = start(0).await;
    api.person(json!({"handle": "JDoe"})).await;
    let cases: Vec<(Value, StatusCode, &str, Option<&str>)> = vec![
        (
            json!({"handle": "x"}),
            StatusCode::BAD_REQUEST,
            "Invalid",
            Some("person"),
        ),
        (
            json!({"person": []}),
            StatusCode::BAD_REQUEST,
            "Invalid",
            Some("person"),
        ),
        (
            json!({"person": {}}),
            StatusCode::BAD_REQUEST,
            "Invalid",
            Some("handle"),
        ),
        (
            json!({"person": {"handle": 7}}),
            StatusCode::BAD_REQUEST,
            "Invalid",
            Some("handle"),
        ),
        (
            json!({"person": {"handle": "a", "locale": "en-US"}}),
            StatusCode::BAD_REQUEST,
            "Invalid",
            Some("locale"),
        ),
        (
            json!({"person": {"handle": "a", "disabled": "no"}}),
            StatusCode::BAD_REQUEST,
            "Invalid",
            Some("disabled"),
        ),
        (
            json!({"person": {"handle": "a", "addresses": [{"kind": "work"}]}}),
            StatusCode::BAD_REQUEST,
            "Invalid",
            Some("addresses"),
        ),
        (
            json!({"person": {"handle": "jdoe"}}),
            StatusCode::CONFLICT,
            "Duplicate",
            Some("handle"),
        ),
    ];
    for (body, status, kind, field) in cases {
        let r = api.post("/dir/v2/people", &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.fault(), (kind, field), "{body}");
    }
    // Malformed JSON.
    let r = api
        .send(
            Method::POST,
            "/dir/v2/people",
            &[("content-type", JSON)],
            "{nope",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.fault().0, "Invalid");
    // Content types: charset is fine, anything else is 415.
    let body = json!({"person": {"handle": "cs"}}).to_string();
    let r = api
        .send(
            Method::POST,
            "/dir/v2/people",
            &[("content-type", "application/json; charset=utf-8")],
            &body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for ct in [Some("text/plain"), Some(MERGE), None] {
        let hs: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
        let r = api.send(Method::POST, "/dir/v2/people", &hs, &body).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(r.fault().0, "Unsupported");
    }
    // No PUT.
    let (id, _) = api.person(json!({"handle": "put"})).await;
    let r = api
        .send(
            Method::PUT,
            &format!("/dir/v2/people/{id}"),
            &[("content-type", JSON)],
            &body,
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.fault().0, "Unsupported");
    assert_eq!(srv.people().len(), 3);
    srv.shutdown().await;
}

#[tokio::test]
async fn paging_with_start_and_max() {
    let (srv, api) = start(25).await;
    let handles = |r: &Reply| -> Vec<String> {
        r.body["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["handle"].as_str().unwrap().to_string())
            .collect()
    };
    let r = api.get("/dir/v2/people").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["count"], json!(25));
    let h = handles(&r);
    assert_eq!(h.len(), 20);
    assert_eq!(h[0], "user1");
    assert_eq!(h[19], "user20");
    let r = api.get("/dir/v2/people?start=20&max=10").await;
    assert_eq!(
        handles(&r),
        ["user21", "user22", "user23", "user24", "user25"]
    );
    assert_eq!(r.body["count"], json!(25));
    let r = api.get("/dir/v2/people?start=3&max=2").await;
    assert_eq!(handles(&r), ["user4", "user5"]);
    let r = api.get("/dir/v2/people?start=25").await;
    assert!(handles(&r).is_empty());
    assert_eq!(r.body["count"], json!(25));
    assert_eq!(handles(&api.get("/dir/v2/people?max=100").await).len(), 25);
    for (q, field) in [
        ("max=0", "max"),
        ("max=101", "max"),
        ("max=abc", "max"),
        ("start=-1", "start"),
        ("start=x", "start"),
    ] {
        let r = api.get(&format!("/dir/v2/people?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.fault(), ("Invalid", Some(field)), "{q}");
    }
    // Creation order holds for new people too.
    api.person(json!({"handle": "aaa-last"})).await;
    let r = api.get("/dir/v2/people?start=25&max=1").await;
    assert_eq!(handles(&r), ["aaa-last"]);
    srv.shutdown().await;
}

#[tokio::test]
async fn exact_filters() {
    let (srv, api) = start(3).await;
    let (id, _) = api
        .person(json!({"handle": "Mixed.Case", "source": "ext-9"}))
        .await;
    for q in [
        "handle=mixed.case",
        "handle=MIXED.CASE",
        "handle=Mixed%2ECase",
        "source=ext-9",
    ] {
        let r = api.get(&format!("/dir/v2/people?{q}")).await;
        assert_eq!(r.body["count"], json!(1), "{q}");
        assert_eq!(r.body["people"][0]["uuid"], json!(id), "{q}");
    }
    for q in ["handle=mixed", "source=EXT-9", "handle=user1&source=ext-9"] {
        let r = api.get(&format!("/dir/v2/people?{q}")).await;
        assert_eq!(r.body, json!({"people": [], "count": 0}), "{q}");
    }
    let r = api.get("/dir/v2/people?handle=user2").await;
    assert_eq!(r.body["people"][0]["handle"], json!("user2"));
    srv.shutdown().await;
}

#[tokio::test]
async fn merge_patch_semantics() {
    let (srv, api) = start(0).await;
    let (id, etag) = api
        .person(json!({
            "handle": "jdoe", "names": {"first": "John", "last": "Doe"}, "fullName": "John Doe",
            "addresses": [{"kind": "work", "email": "j@x.com"}, {"kind": "home", "email": "j@home"}],
            "phones": [{"label": "mobile", "number": "+1 555"}],
            "locale": "en_US", "employeeNo": "42", "source": "ext-1"
        }))
        .await;
    let before = srv.person(&id).unwrap();
    let path = format!("/dir/v2/people/{id}");
    let r = api
        .patch(
            &path,
            &etag,
            &json!({
                "names": {"first": "Johnny"},
                "locale": null,
                "addresses": [{"kind": "other", "email": "new@x.com"}],
                "disabled": true,
                "uuid": "hijack", "createdEpoch": 5
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.etag(), "\"r2\"");
    let p = &r.body["person"];
    assert_eq!(p["uuid"], json!(id));
    assert_eq!(p["createdEpoch"], before["createdEpoch"]);
    assert!(p["modifiedMillis"].as_i64() > before["modifiedMillis"].as_i64());
    assert_eq!(p["names"], json!({"first": "Johnny", "last": "Doe"}));
    assert!(p.get("locale").is_none());
    assert_eq!(
        p["addresses"],
        json!([{"kind": "other", "email": "new@x.com"}])
    );
    assert_eq!(p["phones"], before["phones"]);
    assert_eq!(p["disabled"], json!(true));
    assert_eq!(p["fullName"], json!("John Doe"));
    assert_eq!(&srv.person(&id).unwrap(), p);
    // An unknown member in a merge patch is refused; nothing changes.
    let r = api.patch(&path, "\"r2\"", &json!({"bogus": 1})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["fault"]["field"], "bogus", "{}", r.body);
    assert_eq!(&srv.person(&id).unwrap(), p);

    // Nested null deletes; a whole object null deletes; empty patch still bumps.
    let r = api
        .patch(
            &path,
            "\"r2\"",
            &json!({"names": {"last": null}, "phones": null, "disabled": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let p = &r.body["person"];
    assert_eq!(p["names"], json!({"first": "Johnny"}));
    assert!(p.get("phones").is_none());
    assert_eq!(p["disabled"], json!(false));
    let r = api.patch(&path, "\"r3\"", &json!({})).await;
    assert_eq!(r.etag(), "\"r4\"");
    let r = api.get(&path).await;
    assert_eq!(r.etag(), "\"r4\"");

    // Validation applies to the merged result; failures change nothing.
    for (patch, status, field) in [
        (json!({"handle": null}), StatusCode::BAD_REQUEST, "handle"),
        (
            json!({"locale": "english"}),
            StatusCode::BAD_REQUEST,
            "locale",
        ),
        (json!({"names": "x"}), StatusCode::BAD_REQUEST, "names"),
    ] {
        let r = api.patch(&path, "\"r4\"", &patch).await;
        assert_eq!(r.status, status, "{patch}");
        assert_eq!(r.fault(), ("Invalid", Some(field)));
    }
    let r = api
        .send(
            Method::PATCH,
            &path,
            &[("content-type", MERGE), ("if-match", "\"r4\"")],
            "[1,2]",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    api.person(json!({"handle": "other"})).await;
    let r = api
        .patch(&path, "\"r4\"", &json!({"handle": "OTHER"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.fault(), ("Duplicate", Some("handle")));
    // Re-casing one's own handle is fine.
    let r = api.patch(&path, "\"r4\"", &json!({"handle": "JDOE"})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.etag(), "\"r5\"");
    srv.shutdown().await;
}

#[tokio::test]
async fn if_match_is_enforced() {
    let (srv, api) = start(0).await;
    let (id, etag) = api.person(json!({"handle": "im"})).await;
    let path = format!("/dir/v2/people/{id}");
    let body = json!({"fullName": "I M"}).to_string();

    let r = api
        .send(Method::PATCH, &path, &[("content-type", MERGE)], &body)
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(r.fault().0, "PreconditionRequired");

    for stale in ["\"r9\"", "r1", "W/\"r1\""] {
        let r = api.patch(&path, stale, &json!({"fullName": "I M"})).await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{stale}");
        assert_eq!(r.fault().0, "Stale");
    }
    // Wrong content type is 415, even with a good If-Match.
    let r = api
        .send(
            Method::PATCH,
            &path,
            &[("content-type", JSON), ("if-match", &etag)],
            &body,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.fault().0, "Unsupported");
    assert!(srv.person(&id).unwrap().get("fullName").is_none());

    let r = api.patch(&path, &etag, &json!({"fullName": "I M"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let new = r.etag();
    assert_eq!(new, "\"r2\"");
    // The old ETag is now stale.
    let r = api.patch(&path, &etag, &json!({"fullName": "x"})).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(srv.person(&id).unwrap()["fullName"], json!("I M"));
    // Unknown id is 404 before any precondition.
    let r = api
        .send(
            Method::PATCH,
            "/dir/v2/people/nope",
            &[("content-type", MERGE)],
            &body,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // DELETE needs no If-Match, but honours a stale one.
    let r = api
        .send(Method::DELETE, &path, &[("if-match", "\"r1\"")], "")
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(api.delete(&path).await.status, StatusCode::NO_CONTENT);
    srv.shutdown().await;
}

#[tokio::test]
async fn circles_and_membership() {
    let (srv, api) = start(3).await;
    let ids: Vec<String> = srv
        .people()
        .iter()
        .map(|p| p["uuid"].as_str().unwrap().to_string())
        .collect();
    let r = api
        .circle(json!({"title": "Ops", "note": "on call", "members": [{"uuid": ids[0]}, {"uuid": ids[1]}]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.etag(), "\"r1\"");
    let c = r.body["circle"].clone();
    let cid = c["uuid"].as_str().unwrap().to_string();
    assert!(is_uuid_v4(&cid));
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/dir/v2/circles/{cid}", srv.base_url())
    );
    assert_eq!(c["members"], json!([{"uuid": ids[0]}, {"uuid": ids[1]}]));
    assert_eq!(c["note"], json!("on call"));
    let cpath = format!("/dir/v2/circles/{cid}");
    let r = api.get(&cpath).await;
    assert_eq!(r.body, json!({ "circle": c }));
    assert_eq!(r.etag(), "\"r1\"");

    // Title required and unique; members must exist; wrapper required.
    for (body, status, kind, field) in [
        (json!({"circle": {}}), 400, "Invalid", "title"),
        (
            json!({"circle": {"title": "ops"}}),
            409,
            "Duplicate",
            "title",
        ),
        (
            json!({"circle": {"title": "Dev", "members": [{"uuid": "ghost"}]}}),
            400,
            "Invalid",
            "members",
        ),
        (
            json!({"circle": {"title": "Dev", "members": ["x"]}}),
            400,
            "Invalid",
            "members",
        ),
        (json!({"title": "Dev"}), 400, "Invalid", "circle"),
    ] {
        let r = api.post("/dir/v2/circles", &body).await;
        assert_eq!(r.status.as_u16(), status, "{body}");
        assert_eq!(r.fault(), (kind, Some(field)), "{body}");
    }
    let r = api.circle(json!({"title": "Dev"})).await;
    assert_eq!(r.body["circle"]["members"], json!([]));

    // Listing and the title filter.
    let r = api.get("/dir/v2/circles").await;
    assert_eq!(r.body["count"], json!(2));
    let r = api.get("/dir/v2/circles?title=OPS").await;
    assert_eq!(r.body["count"], json!(1));
    assert_eq!(r.body["circles"][0]["uuid"], json!(cid));
    let r = api.get("/dir/v2/circles?start=1&max=1").await;
    assert_eq!(r.body["circles"][0]["title"], json!("Dev"));
    assert_eq!(r.body["count"], json!(2));

    // Membership is replaced as a whole by PATCH.
    let r = api
        .patch(&cpath, "\"r1\"", &json!({"members": [{"uuid": ids[2]}]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.etag(), "\"r2\"");
    assert_eq!(r.body["circle"]["members"], json!([{"uuid": ids[2]}]));
    assert_eq!(r.body["circle"]["title"], json!("Ops"));
    let r = api
        .patch(
            &cpath,
            "\"r2\"",
            &json!({"members": [{"uuid": ids[2]}, {"uuid": "ghost"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.fault(), ("Invalid", Some("members")));
    assert_eq!(
        srv.circle(&cid).unwrap()["members"],
        json!([{"uuid": ids[2]}])
    );
    let r = api
        .patch(
            &cpath,
            "\"r2\"",
            &json!({"note": null, "members": [{"uuid": ids[0]}, {"uuid": ids[2]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["circle"].get("note").is_none());
    // Patch requirements hold for circles too.
    let r = api
        .send(
            Method::PATCH,
            &cpath,
            &[("content-type", MERGE)],
            "{\"title\":\"x\"}",
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    let r = api.patch(&cpath, "\"r1\"", &json!({"title": "x"})).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = api.patch(&cpath, "\"r3\"", &json!({"title": "dev"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Deleting a person removes them from every circle and bumps its ETag.
    assert_eq!(
        api.delete(&format!("/dir/v2/people/{}", ids[0]))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = api.get(&cpath).await;
    assert_eq!(r.body["circle"]["members"], json!([{"uuid": ids[2]}]));
    assert_eq!(r.etag(), "\"r4\"");

    // No per-member endpoints, no PUT.
    let r = api
        .send(
            Method::POST,
            &format!("{cpath}/members"),
            &[("content-type", JSON)],
            "{}",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api.send(Method::PUT, &cpath, &[], "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    assert_eq!(api.delete(&cpath).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&cpath).await.status, StatusCode::NOT_FOUND);
    assert!(srv.circle(&cid).is_none());
    srv.shutdown().await;
}

#[tokio::test]
async fn injected_busy() {
    let (srv, api) = start(1).await;
    srv.inject_busy(2);
    for _ in 0..2 {
        let r = api.get("/dir/v2/people").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.fault().0, "Busy");
        assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    }
    assert_eq!(api.get("/dir/v2/people").await.status, StatusCode::OK);
    assert_eq!(srv.requests().len(), 3);
    // The Retry-After is configurable (so a client's hard-coded pause shows).
    srv.set_retry_after_secs(4);
    srv.inject_busy(1);
    let r = api.get("/dir/v2/people").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("retry-after").as_deref(), Some("4"));
    srv.shutdown().await;
}
