//! Every request shape Entra sends (see `entra-scim-client.md`) that applies
//! to both fixture backends, written once and run against each (Peripass:
//! integer ids, PUT with version; Acme: UUIDs, wrapped bodies, merge-patch
//! with If-Match). Each step checks what the backend stored, through a small
//! per-backend view of a user, not only the SCIM answer. What only one
//! backend has (its wire format, its unmapped fields) stays in
//! `users_entra` and `acme_users`.
use crate::support::*;
use serde_json::{json, Value};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// One of the two fixture backends with a bridge in front of it.
enum Fixture {
    Peripass(PeripassStack),
    Acme(AcmeStack),
}

/// A user as the backend stores it, in backend-neutral terms (the language
/// as the backend spells it).
#[derive(Debug, PartialEq, Clone)]
struct Stored {
    user_name: String,
    active: bool,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    work_email: Option<String>,
    mobile: Option<String>,
    external_id: Option<String>,
    language: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// What [`entra_user_body`] leaves in the backend (`language` per backend).
fn entra_stored(f: &Fixture, user_name: &str) -> Stored {
    Stored {
        user_name: user_name.into(),
        active: true,
        display_name: Some("John Doe".into()),
        given_name: Some("John".into()),
        family_name: Some("Doe".into()),
        work_email: Some("john.doe@contoso.com".into()),
        mobile: Some("+32 470 12 34 56".into()),
        external_id: Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef".into()),
        language: Some(f.language().0.into()),
    }
}

impl Fixture {
    async fn start(peripass: bool, seed: usize) -> Fixture {
        if peripass {
            Fixture::Peripass(
                PeripassStack::start(peripass::Options {
                    seed_users: seed,
                    ..Default::default()
                })
                .await,
            )
        } else {
            Fixture::Acme(AcmeStack::start(seed).await)
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Fixture::Peripass(_) => "peripass",
            Fixture::Acme(_) => "acme",
        }
    }

    fn scim(&self) -> &TestClient {
        match self {
            Fixture::Peripass(s) => s.scim(),
            Fixture::Acme(s) => s.scim(),
        }
    }

    fn base(&self) -> &str {
        match self {
            Fixture::Peripass(s) => &s.bridge.base,
            Fixture::Acme(s) => &s.bridge.base,
        }
    }

    /// The stored user, or `None` when the backend has no such record.
    fn stored(&self, id: &str) -> Option<Stored> {
        match self {
            Fixture::Peripass(s) => {
                let u = s.backend.user(id.parse().ok()?)?;
                Some(Stored {
                    user_name: u["login"].as_str()?.to_string(),
                    active: u["status"] == "ACTIVE",
                    display_name: text(&u["displayName"]),
                    given_name: text(&u["firstName"]),
                    family_name: text(&u["lastName"]),
                    work_email: text(&u["contact"]["email"]),
                    mobile: text(&u["contact"]["mobile"]),
                    external_id: text(&u["externalRef"]),
                    language: text(&u["language"]),
                })
            }
            Fixture::Acme(s) => {
                let p = s.backend.person(id)?;
                let kind = |list: &str, key: &str, kind: &str, value: &str| {
                    p[list]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|e| e[key] == kind)
                        .and_then(|e| text(&e[value]))
                };
                Some(Stored {
                    user_name: p["handle"].as_str()?.to_string(),
                    active: p["disabled"] == false,
                    display_name: text(&p["fullName"]),
                    given_name: text(&p["names"]["first"]),
                    family_name: text(&p["names"]["last"]),
                    work_email: kind("addresses", "kind", "work", "email"),
                    mobile: kind("phones", "label", "mobile", "number"),
                    external_id: text(&p["source"]),
                    language: text(&p["locale"]),
                })
            }
        }
    }

    #[track_caller]
    fn must(&self, id: &str) -> Stored {
        self.stored(id)
            .unwrap_or_else(|| panic!("{}: no stored user {id}", self.name()))
    }

    fn count(&self) -> usize {
        match self {
            Fixture::Peripass(s) => s.backend.user_count(),
            Fixture::Acme(s) => s.backend.people().len(),
        }
    }

    /// The backend's own revision of the record (Peripass `version`, Acme's
    /// ETag revision): it moves on every write.
    fn version(&self, id: &str) -> u64 {
        match self {
            Fixture::Peripass(s) => s.backend.user(id.parse().unwrap()).unwrap()["version"]
                .as_u64()
                .unwrap(),
            Fixture::Acme(s) => s.backend.revision(id).unwrap(),
        }
    }

    /// The SCIM version (ETag) of backend revision `v`.
    fn etag(&self, v: u64) -> String {
        match self {
            Fixture::Peripass(_) => format!("W/\"{v}\""),
            Fixture::Acme(_) => format!("W/\"r{v}\""),
        }
    }

    /// A well-formed id no record has.
    fn unknown_id(&self) -> &'static str {
        match self {
            Fixture::Peripass(_) => "999",
            Fixture::Acme(_) => "00000000-0000-4000-8000-000000000000",
        }
    }

    /// Ids that cannot exist in this backend (the bridge must answer 404
    /// without asking it); `real` is an existing id.
    fn impossible_ids(&self, real: &str) -> Vec<String> {
        let list: &[&str] = match self {
            Fixture::Peripass(_) => &[
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
            ],
            Fixture::Acme(_) => &["42", "not-a-uuid", "..%2Fcircles"],
        };
        let mut ids: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        if let Fixture::Acme(_) = self {
            // Acme mints lowercase UUIDs only.
            ids.push(real.to_uppercase());
        }
        ids
    }

    /// The requests the backend received, as (method, path and query).
    fn requests(&self) -> Vec<(String, String)> {
        match self {
            Fixture::Peripass(s) => s
                .backend
                .requests()
                .into_iter()
                .map(|r| (r.method, r.path_and_query))
                .collect(),
            Fixture::Acme(s) => s
                .backend
                .requests()
                .into_iter()
                .map(|r| (r.method, r.path_and_query))
                .collect(),
        }
    }

    fn clear_requests(&self) {
        match self {
            Fixture::Peripass(s) => s.backend.clear_requests(),
            Fixture::Acme(s) => s.backend.clear_requests(),
        }
    }

    /// Requests other than GET the backend received.
    fn writes(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .filter(|(m, _)| m != "GET")
            .collect()
    }

    /// The backend's list calls (path and query).
    fn list_calls(&self) -> Vec<String> {
        let prefix = match self {
            Fixture::Peripass(_) => "/api/v1/users?",
            Fixture::Acme(_) => "/dir/v2/people?",
        };
        self.requests()
            .into_iter()
            .filter(|(m, p)| m == "GET" && p.starts_with(prefix))
            .map(|(_, p)| p)
            .collect()
    }

    /// The path of the backend's record `id`.
    fn record_path(&self, id: &str) -> String {
        match self {
            Fixture::Peripass(_) => format!("/api/v1/users/{id}"),
            Fixture::Acme(_) => format!("/dir/v2/people/{id}"),
        }
    }

    /// The backend's query parameters for `userName` and `externalId`.
    fn params(&self) -> (&'static str, &'static str) {
        match self {
            Fixture::Peripass(_) => ("login", "externalRef"),
            Fixture::Acme(_) => ("handle", "source"),
        }
    }

    /// `nl-BE` as stored and as answered (Peripass keeps the language only).
    fn language(&self) -> (&'static str, &'static str) {
        match self {
            Fixture::Peripass(_) => ("nl", "nl"),
            Fixture::Acme(_) => ("nl_BE", "nl-BE"),
        }
    }

    /// Whether the mapping stores a home email (Acme does, Peripass not).
    fn maps_home_email(&self) -> bool {
        matches!(self, Fixture::Acme(_))
    }

    /// Another writer sets a field the mapping does not cover (the revision
    /// moves on); returns the field's value.
    async fn set_unmapped(&self, id: &str) -> Value {
        match self {
            Fixture::Peripass(s) => {
                let l = s
                    .legacy()
                    .update_user(id, |u| u["role"] = json!("Administrator"))
                    .await;
                l["role"].clone()
            }
            Fixture::Acme(s) => {
                // `archived` is an Acme member this mapping does not cover.
                assert!(s.backend.edit_person(id, json!({"archived": true})));
                json!(true)
            }
        }
    }

    /// The field [`Fixture::set_unmapped`] sets, as stored now (before it
    /// was set: Peripass's default role, nothing at Acme).
    fn unmapped(&self, id: &str) -> Value {
        match self {
            Fixture::Peripass(s) => s.backend.user(id.parse().unwrap()).unwrap()["role"].clone(),
            Fixture::Acme(s) => s.backend.person(id).unwrap()["archived"].clone(),
        }
    }

    fn unmapped_default(&self) -> Value {
        match self {
            Fixture::Peripass(_) => json!("Operator"),
            Fixture::Acme(_) => Value::Null,
        }
    }

    /// Another writer disables the user directly in the backend.
    async fn disable_directly(&self, id: &str) {
        match self {
            Fixture::Peripass(s) => {
                s.legacy()
                    .update_user(id, |u| u["status"] = json!("DISABLED"))
                    .await;
            }
            Fixture::Acme(s) => assert!(s.backend.edit_person(id, json!({"disabled": true}))),
        }
        assert!(!self.must(id).active);
    }

    /// A POST /Users that must create; returns the id and the answer.
    async fn post_user(&self, body: &Value) -> (String, Value) {
        let r = self.scim().post("/Users", body).await;
        assert_eq!(
            r.status,
            201,
            "{}: {}",
            self.name(),
            String::from_utf8_lossy(&r.body)
        );
        let u = r.json();
        (u["id"].as_str().expect("id").to_string(), u)
    }

    /// Entra's create with [`entra_user_body`]; returns the id after checking
    /// the stored record.
    async fn create(&self, user_name: &str) -> String {
        let (id, _) = self
            .post_user(&entra_user_body(user_name, json!(true)))
            .await;
        assert_eq!(
            self.stored(&id),
            Some(entra_stored(self, user_name)),
            "{}",
            self.name()
        );
        id
    }

    /// A user created by Entra, then given an unmapped field by another
    /// writer; returns its id and backend revision.
    async fn user_with_unmapped(&self) -> (String, u64) {
        let id = self.create("jdoe@contoso.com").await;
        self.set_unmapped(&id).await;
        let v = self.version(&id);
        assert_eq!(v, 2, "{}", self.name());
        (id, v)
    }

    /// A PATCH that must succeed; checks the answer's id and that its ETag
    /// is its `meta.version`; returns the answer.
    async fn patch_ok(&self, id: &str, ops: Value) -> Value {
        patch_user_ok(self.scim(), self.name(), id, ops).await
    }

    /// A filter query that must succeed; returns the ListResponse.
    async fn search(&self, filter: &str) -> Value {
        let r = self
            .scim()
            .get(&format!("/Users?filter={}", entra_filter(filter)))
            .await;
        assert_eq!(
            r.status,
            200,
            "{}: {filter}: {}",
            self.name(),
            String::from_utf8_lossy(&r.body)
        );
        let j = r.json();
        assert_eq!(j["schemas"], json!([LIST]));
        j
    }
}

/// Runs the scenario `async fn $name(f: Fixture)` against both backends,
/// as the tests `$name::peripass` and `$name::acme` (seeded with `$seed`
/// users, default none).
macro_rules! both {
    ($name:ident) => {
        both!($name, 0);
    };
    ($name:ident, $seed:expr) => {
        mod $name {
            use super::Fixture;
            #[tokio::test]
            async fn peripass() {
                super::$name(Fixture::start(true, $seed).await).await
            }
            #[tokio::test]
            async fn acme() {
                super::$name(Fixture::start(false, $seed).await).await
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Test Connection and matching
// ---------------------------------------------------------------------------

both!(
    test_connection_is_an_exact_empty_list_and_one_pushed_down_call,
    3
);
async fn test_connection_is_an_exact_empty_list_and_one_pushed_down_call(f: Fixture) {
    let n = f.name();
    f.clear_requests();
    let r = f
        .scim()
        .get(&format!(
            "/Users?filter={}",
            entra_filter("userName eq \"5ac6fd01-66a4-4c2f-a1a4-6b2b5e3e3c2f\"")
        ))
        .await;
    assert_eq!(r.status, 200, "{n}");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));
    let empty =
        json!({"schemas":[LIST],"totalResults":0,"Resources":[],"startIndex":1,"itemsPerPage":0});
    assert_eq!(r.json(), empty, "{n}");
    // Pushed down as one exact-match query, and nothing else.
    let reqs = f.requests();
    assert_eq!(reqs.len(), 1, "{n}: {reqs:?}");
    let calls = f.list_calls();
    assert_eq!(calls.len(), 1, "{n}: {calls:?}");
    assert_eq!(
        query_param(&calls[0], f.params().0),
        vec!["5ac6fd01-66a4-4c2f-a1a4-6b2b5e3e3c2f"],
        "{n}"
    );
    assert_eq!(f.count(), 3, "{n}");
    // Entra also probes /Groups, which must answer too.
    let g = f.scim().get("/Groups").await;
    assert_eq!(g.status, 200, "{n}");
    assert_eq!(g.json(), empty, "{n}");
    let g = f
        .scim()
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            entra_filter("displayName eq \"Gate Operators\"")
        ))
        .await;
    assert_eq!(g.status, 200, "{n}");
    assert_eq!(g.json()["totalResults"], 0, "{n}");
}

both!(matching_filters_are_pushed_down);
async fn matching_filters_are_pushed_down(f: Fixture) {
    let n = f.name();
    let (login, ext_param) = f.params();
    let id = f.create("jdoe@contoso.com").await;
    let other = f.create("other@contoso.com").await;
    let ext = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";
    f.clear_requests();
    // userName: case-insensitive, one call with the backend's parameter.
    let j = f.search("userName eq \"JDOE@CONTOSO.COM\"").await;
    assert_eq!(j["totalResults"], 1, "{n}: {j}");
    assert_eq!(ids(&j), vec![id.clone()]);
    assert_eq!(j["Resources"][0]["userName"], "jdoe@contoso.com");
    assert_eq!(f.requests().len(), 1, "{n}: one backend call");
    let calls = f.list_calls();
    assert_eq!(calls.len(), 1, "{n}: {calls:?}");
    assert_eq!(
        query_param(&calls[0], login),
        vec!["JDOE%40CONTOSO.COM"],
        "{n}"
    );
    // externalId: pushed down and case-exact (both users share it).
    f.clear_requests();
    let j = f.search(&format!("externalId eq \"{ext}\"")).await;
    let mut got = ids(&j);
    got.sort();
    let mut want = vec![id.clone(), other.clone()];
    want.sort();
    assert_eq!(got, want, "{n}");
    assert_eq!(j["Resources"][0]["externalId"], ext);
    let calls = f.list_calls();
    assert_eq!(calls.len(), 1, "{n}: {calls:?}");
    assert_eq!(query_param(&calls[0], ext_param), vec![ext], "{n}");
    let j = f
        .search(&format!("externalId eq \"{}\"", ext.to_uppercase()))
        .await;
    assert_eq!(j["totalResults"], 0, "{n}");
    // Both at once: two parameters, still one call.
    f.clear_requests();
    let j = f
        .search(&format!(
            "userName eq \"Jdoe@contoso.com\" and externalId eq \"{ext}\""
        ))
        .await;
    assert_eq!(ids(&j), vec![id.clone()], "{n}");
    let calls = f.list_calls();
    assert_eq!(calls.len(), 1, "{n}: {calls:?}");
    assert_eq!(query_param(&calls[0], login), vec!["Jdoe%40contoso.com"]);
    assert_eq!(query_param(&calls[0], ext_param), vec![ext]);
    let j = f
        .search("userName eq \"jdoe@contoso.com\" and externalId eq \"other\"")
        .await;
    assert_eq!(j["totalResults"], 0, "{n}");
    // A pushed term and a bridge-side term.
    let j = f
        .search(
            "userName eq \"jdoe@contoso.com\" and emails[type eq \"work\"].value eq \"nobody@x\"",
        )
        .await;
    assert_eq!(j["totalResults"], 0, "{n}");
    let j = f
        .search("userName eq \"other@contoso.com\" and active eq true")
        .await;
    assert_eq!(ids(&j), vec![other.clone()], "{n}");
    // The work email is not a backend filter: the bridge scans, in any case.
    f.scim()
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "Bee@Contoso.com"}])),
        )
        .await;
    assert_eq!(f.must(&id).work_email.as_deref(), Some("Bee@Contoso.com"));
    f.clear_requests();
    let j = f
        .search("emails[type eq \"work\"].value eq \"bee@contoso.com\"")
        .await;
    assert_eq!(ids(&j), vec![id.clone()], "{n}");
    assert_eq!(
        j["Resources"][0]["emails"],
        json!([{"type": "work", "value": "Bee@Contoso.com"}])
    );
    assert!(
        f.list_calls()
            .iter()
            .all(|c| query_param(c, login).is_empty()),
        "{n}"
    );
    // The RFC form of the same question.
    let j = f
        .search("emails[type eq \"work\" and value eq \"bee@contoso.com\"]")
        .await;
    assert_eq!(ids(&j), vec![id.clone()], "{n}");
    let j = f
        .search("emails[type eq \"home\"].value eq \"bee@contoso.com\"")
        .await;
    assert_eq!(j["totalResults"], 0, "{n}");
    // id eq: one read of the record.
    f.clear_requests();
    let j = f.search(&format!("id eq \"{id}\"")).await;
    assert_eq!(ids(&j), vec![id.clone()], "{n}");
    assert_eq!(
        f.requests(),
        vec![("GET".to_string(), f.record_path(&id))],
        "{n}"
    );
    // A well-formed unknown id: empty.
    let j = f.search(&format!("id eq \"{}\"", f.unknown_id())).await;
    assert_eq!(j["totalResults"], 0, "{n}");
}

both!(impossible_ids_are_404_without_a_backend_call, 1);
async fn impossible_ids_are_404_without_a_backend_call(f: Fixture) {
    let n = f.name();
    let real = f.scim().get("/Users").await.json()["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    f.clear_requests();
    let patch = patch_ops(json!([{"op": "Replace", "path": "active", "value": false}]));
    let user = json!({"schemas": [CORE], "userName": "x@contoso.com"});
    for bad in f.impossible_ids(&real) {
        let path = format!("/Users/{bad}");
        f.scim().get(&path).await.assert_scim_error(404, None);
        for (m, body) in [
            (http::Method::PATCH, &patch),
            (http::Method::PUT, &user),
            // A PATCH body on PUT: the id is refused first.
            (http::Method::PUT, &patch),
        ] {
            let r = f
                .scim()
                .send(m.clone(), &path, Some(&body.to_string()), &[])
                .await;
            assert_eq!(r.status, 404, "{n}: {m} {bad}");
        }
        let r = f.scim().delete(&path).await;
        assert_eq!(r.status, 404, "{n}: DELETE {bad}");
        let j = f.search(&format!("id eq \"{bad}\"")).await;
        assert_eq!(
            j,
            json!({"schemas":[LIST],"totalResults":0,"Resources":[],"startIndex":1,"itemsPerPage":0}),
            "{n}: {bad}"
        );
    }
    assert_eq!(f.requests(), vec![], "{n}: the backend was called");
    assert_eq!(f.count(), 1);
    // The unknown but well-formed id is asked for and is 404; the real one works.
    f.scim()
        .get(&format!("/Users/{}", f.unknown_id()))
        .await
        .assert_scim_error(404, None);
    assert_eq!(f.scim().get(&format!("/Users/{real}")).await.status, 200);
}

// ---------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------

both!(create_with_the_entra_body);
async fn create_with_the_entra_body(f: Fixture) {
    let n = f.name();
    let r = f
        .scim()
        .post("/Users", &entra_user_body("jdoe@contoso.com", json!(true)))
        .await;
    assert_eq!(r.status, 201, "{n}: {}", String::from_utf8_lossy(&r.body));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));
    let u = r.json();
    let id = u["id"].as_str().expect("id").to_string();
    let location = format!("{}/Users/{id}", f.base());
    assert_eq!(r.header("location"), Some(location.as_str()), "{n}");
    assert_eq!(u["meta"]["location"], location.as_str(), "{n}");
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(u["meta"]["version"], f.etag(1).as_str(), "{n}");
    assert_eq!(r.header("etag"), Some(f.etag(1).as_str()), "{n}");
    assert!(u["meta"]["created"].is_string(), "{n}: {u}");
    assert!(u["meta"]["lastModified"].is_string(), "{n}: {u}");
    assert_eq!(u["userName"], "jdoe@contoso.com");
    assert_eq!(u["active"], true);
    assert_eq!(u["displayName"], "John Doe");
    assert_eq!(u["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(
        u["name"],
        json!({"givenName": "John", "familyName": "Doe", "formatted": "John Doe"}),
        "{n}"
    );
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "john.doe@contoso.com"}]),
        "{n}"
    );
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+32 470 12 34 56"}]),
        "{n}"
    );
    assert_eq!(u["preferredLanguage"], f.language().1, "{n}");
    for unmapped in ["roles", "title", "addresses", "nickName"] {
        assert!(u.get(unmapped).is_none(), "{n}: {unmapped} in {u}");
    }
    // What the backend stored.
    assert_eq!(
        f.stored(&id),
        Some(entra_stored(&f, "jdoe@contoso.com")),
        "{n}"
    );
    assert_eq!(f.version(&id), 1, "{n}");
    assert_eq!(f.unmapped(&id), f.unmapped_default(), "{n}");
    assert_eq!(f.writes().len(), 1, "{n}: one write: {:?}", f.writes());
}

both!(create_accepts_active_as_a_string);
async fn create_accepts_active_as_a_string(f: Fixture) {
    for (user, active, want) in [
        ("t@contoso.com", "True", true),
        ("f@contoso.com", "False", false),
    ] {
        let (id, u) = f.post_user(&entra_user_body(user, json!(active))).await;
        assert_eq!(u["active"], want, "{}: {active}", f.name());
        assert_eq!(f.must(&id).active, want, "{}: {active}", f.name());
    }
}

both!(create_minimal_and_with_null_attributes);
async fn create_minimal_and_with_null_attributes(f: Fixture) {
    let n = f.name();
    let (id, u) = f
        .post_user(
            &json!({"schemas": [CORE], "userName": "min@contoso.com", "active": null,
                    "displayName": null, "emails": null, "phoneNumbers": null,
                    "name": null, "preferredLanguage": null, "externalId": null}),
        )
        .await;
    // active defaults to true
    assert_eq!(u["active"], true, "{n}");
    for absent in [
        "displayName",
        "emails",
        "phoneNumbers",
        "name",
        "preferredLanguage",
        "externalId",
    ] {
        assert!(u.get(absent).is_none(), "{n}: {absent} in {u}");
    }
    assert_eq!(
        f.must(&id),
        Stored {
            user_name: "min@contoso.com".into(),
            active: true,
            display_name: None,
            given_name: None,
            family_name: None,
            work_email: None,
            mobile: None,
            external_id: None,
            language: None,
        },
        "{n}"
    );
    assert_eq!(f.unmapped(&id), f.unmapped_default(), "{n}");
}

both!(create_with_several_work_emails_stores_the_primary_one);
async fn create_with_several_work_emails_stores_the_primary_one(f: Fixture) {
    let (id, _) = f
        .post_user(&json!({"schemas": [CORE], "userName": "two@contoso.com",
                "emails": [{"type": "work", "value": "a@contoso.com"},
                           {"type": "work", "value": "b@contoso.com", "primary": true},
                           {"type": "work", "value": "c@contoso.com"}]}))
        .await;
    assert_eq!(
        f.must(&id).work_email.as_deref(),
        Some("b@contoso.com"),
        "{}",
        f.name()
    );
}

both!(duplicate_user_name_is_409_and_changes_nothing, 2);
async fn duplicate_user_name_is_409_and_changes_nothing(f: Fixture) {
    let n = f.name();
    let id = f.create("dup@contoso.com").await;
    let other = f.create("other@contoso.com").await;
    // Another case of a taken userName, by POST, PATCH and PUT.
    let mut body = entra_user_body("DUP@contoso.com", json!(true));
    body["externalId"] = json!("another");
    let e = f
        .scim()
        .post("/Users", &body)
        .await
        .assert_scim_error(409, Some("uniqueness"));
    // The detail names the backend's field.
    assert!(
        e["detail"].as_str().unwrap().contains(f.params().0),
        "{n}: {e}"
    );
    assert_eq!(f.count(), 4, "{n}");
    f.scim()
        .patch(
            &format!("/Users/{other}"),
            &patch_ops(json!([{"op": "Replace", "path": "userName", "value": "Dup@Contoso.com"}])),
        )
        .await
        .assert_scim_error(409, Some("uniqueness"));
    f.scim()
        .put(
            &format!("/Users/{other}"),
            &json!({"schemas": [CORE], "userName": "dup@contoso.com"}),
        )
        .await
        .assert_scim_error(409, Some("uniqueness"));
    assert_eq!(f.must(&other), entra_stored(&f, "other@contoso.com"), "{n}");
    assert_eq!(f.version(&other), 1, "{n}");
    assert_eq!(f.must(&id), entra_stored(&f, "dup@contoso.com"), "{n}");
}

both!(create_without_user_name_is_400_and_calls_nothing);
async fn create_without_user_name_is_400_and_calls_nothing(f: Fixture) {
    let mut body = entra_user_body("x@contoso.com", json!(true));
    body.as_object_mut().unwrap().remove("userName");
    let r = f.scim().post("/Users", &body).await;
    r.assert_scim_error(400, Some("invalidValue"));
    body["userName"] = Value::Null;
    let r = f.scim().post("/Users", &body).await;
    r.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(f.requests(), vec![], "{}", f.name());
    assert_eq!(f.count(), 0);
}

both!(an_unsupported_language_is_400_invalid_value);
async fn an_unsupported_language_is_400_invalid_value(f: Fixture) {
    let n = f.name();
    let mut body = entra_user_body("lang@contoso.com", json!(true));
    body["preferredLanguage"] = json!("klingon");
    let e = f
        .scim()
        .post("/Users", &body)
        .await
        .assert_scim_error(400, Some("invalidValue"));
    let field = match f {
        Fixture::Peripass(_) => "language",
        Fixture::Acme(_) => "locale",
    };
    assert!(e["detail"].as_str().unwrap().contains(field), "{n}: {e}");
    assert_eq!(f.count(), 0, "{n}");
    let id = f.create("jdoe@contoso.com").await;
    f.scim()
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "Replace", "path": "preferredLanguage", "value": "klingon"}])),
        )
        .await
        .assert_scim_error(400, Some("invalidValue"));
    assert_eq!(f.must(&id), entra_stored(&f, "jdoe@contoso.com"), "{n}");
    assert_eq!(f.version(&id), 1, "{n}");
}

// ---------------------------------------------------------------------------
// PATCH in every Entra shape
// ---------------------------------------------------------------------------

both!(disable_and_enable_in_every_shape_entra_sends);
async fn disable_and_enable_in_every_shape_entra_sends(f: Fixture) {
    let n = f.name();
    let (id, v0) = f.user_with_unmapped().await;
    let kept = f.unmapped(&id);
    let mut want = entra_stored(&f, "jdoe@contoso.com");
    for (i, (op, value, active)) in [
        ("Replace", json!("False"), false),
        ("Replace", json!("True"), true),
        ("replace", json!(false), false),
        ("replace", json!(true), true),
    ]
    .into_iter()
    .enumerate()
    {
        let u = f
            .patch_ok(&id, json!([{"op": op, "path": "active", "value": value}]))
            .await;
        assert_eq!(u["active"], active, "{n}: {u}");
        want.active = active;
        // Nothing else moved; one write each.
        assert_eq!(f.must(&id), want, "{n}: {op} {value}");
        assert_eq!(f.unmapped(&id), kept, "{n}: unmapped field kept");
        assert_eq!(f.version(&id), v0 + 1 + i as u64, "{n}");
        assert_eq!(
            u["meta"]["version"],
            f.etag(v0 + 1 + i as u64).as_str(),
            "{n}"
        );
    }
}

both!(pathless_replace_with_dotted_keys_and_nested_objects);
async fn pathless_replace_with_dotted_keys_and_nested_objects(f: Fixture) {
    let n = f.name();
    let (id, v0) = f.user_with_unmapped().await;
    let kept = f.unmapped(&id);
    let u = f
        .patch_ok(
            &id,
            json!([{"op": "replace", "value": {"displayName": "A", "name.givenName": "B", "name.familyName": "C"}}]),
        )
        .await;
    assert_eq!(u["displayName"], "A");
    assert_eq!(
        u["name"],
        json!({"givenName": "B", "familyName": "C", "formatted": "B C"}),
        "{n}"
    );
    let mut want = entra_stored(&f, "jdoe@contoso.com");
    want.display_name = Some("A".into());
    want.given_name = Some("B".into());
    want.family_name = Some("C".into());
    assert_eq!(f.must(&id), want, "{n}");
    assert_eq!(f.unmapped(&id), kept, "{n}");
    assert_eq!(f.version(&id), v0 + 1, "{n}");

    // Path-less with nested objects and a capitalised op.
    let u = f
        .patch_ok(
            &id,
            json!([{"op": "Replace", "value": {"active": "False", "name": {"givenName": "Jo"}, "emails": [{"type": "work", "value": "jo@contoso.com", "primary": true}]}}]),
        )
        .await;
    assert_eq!(u["active"], false);
    assert_eq!(u["name"]["givenName"], "Jo");
    assert_eq!(u["name"]["familyName"], "C");
    want.active = false;
    want.given_name = Some("Jo".into());
    want.work_email = Some("jo@contoso.com".into());
    assert_eq!(f.must(&id), want, "{n}");
    assert_eq!(f.unmapped(&id), kept, "{n}");
    assert_eq!(f.version(&id), v0 + 2, "{n}");
}

both!(filtered_value_paths);
async fn filtered_value_paths(f: Fixture) {
    let n = f.name();
    let (id, v0) = f.user_with_unmapped().await;
    let kept = f.unmapped(&id);
    let mut want = entra_stored(&f, "jdoe@contoso.com");
    let steps = [
        (
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"}]),
            "emails",
            json!([{"type": "work", "value": "new@contoso.com"}]),
        ),
        // Remove without a value member.
        (
            json!([{"op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value"}]),
            "phoneNumbers",
            Value::Null,
        ),
        // Add on a filtered path whose element does not exist yet creates it.
        (
            json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}]),
            "phoneNumbers",
            json!([{"type": "mobile", "value": "+1 555"}]),
        ),
        (
            json!([{"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 777"}]),
            "phoneNumbers",
            json!([{"type": "mobile", "value": "+1 777"}]),
        ),
        // Remove with a value member.
        (
            json!([{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"}]),
            "emails",
            Value::Null,
        ),
        // Replace on a filtered path whose element does not exist creates it too.
        (
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "back@contoso.com"}]),
            "emails",
            json!([{"type": "work", "value": "back@contoso.com"}]),
        ),
    ];
    for (i, (ops, attr, answer)) in steps.into_iter().enumerate() {
        let u = f.patch_ok(&id, ops.clone()).await;
        if answer.is_null() {
            assert!(u.get(attr).is_none(), "{n}: {ops}: {u}");
        } else {
            assert_eq!(u[attr], answer, "{n}: {ops}");
        }
        let value = answer[0]["value"].as_str().map(str::to_string);
        match attr {
            "emails" => want.work_email = value,
            _ => want.mobile = value,
        }
        assert_eq!(f.must(&id), want, "{n}: {ops}");
        assert_eq!(f.unmapped(&id), kept, "{n}");
        assert_eq!(f.version(&id), v0 + 1 + i as u64, "{n}: {ops}");
    }
}

both!(add_to_a_multi_valued_attribute_stores_the_new_value);
async fn add_to_a_multi_valued_attribute_stores_the_new_value(f: Fixture) {
    let n = f.name();
    let (id, v0) = f.user_with_unmapped().await;
    let kept = f.unmapped(&id);
    let mut want = entra_stored(&f, "jdoe@contoso.com");
    // RFC-style add of a whole element next to the stored work email (SCIM
    // `add` appends, so the client's view briefly holds two work emails; the
    // backend holds one, and it must become the one just sent).
    let u = f
        .patch_ok(
            &id,
            json!([{"op": "Add", "path": "emails", "value": [{"type": "work", "value": "second@contoso.com", "primary": true}]}]),
        )
        .await;
    assert!(
        u["emails"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "work", "value": "second@contoso.com"})),
        "{n}: {u}"
    );
    want.work_email = Some("second@contoso.com".into());
    assert_eq!(f.must(&id), want, "{n}");
    assert_eq!(f.version(&id), v0 + 1, "{n}");

    let u = f
        .patch_ok(
            &id,
            json!([{"op": "add", "path": "phoneNumbers", "value": [{"type": "mobile", "value": "+1 555 0101"}]}]),
        )
        .await;
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0101"}]),
        "{n}"
    );
    want.mobile = Some("+1 555 0101".into());
    assert_eq!(f.must(&id), want, "{n}");
    assert_eq!(f.unmapped(&id), kept, "{n}");

    // Path-less add of the same shape, without a primary flag.
    f.patch_ok(
        &id,
        json!([{"op": "Add", "value": {"emails": [{"type": "work", "value": "third@contoso.com"}]}}]),
    )
    .await;
    want.work_email = Some("third@contoso.com".into());
    assert_eq!(f.must(&id), want, "{n}");
    assert_eq!(f.version(&id), v0 + 3, "{n}");
    // Elements of other types do not touch the mapped work email (and are
    // written only where the mapping stores them).
    let u = f
        .patch_ok(
            &id,
            json!([{"op": "Add", "path": "emails", "value": [{"type": "home", "value": "home@x.com"}]}]),
        )
        .await;
    assert_eq!(f.must(&id), want, "{n}");
    if f.maps_home_email() {
        assert!(
            u["emails"]
                .as_array()
                .unwrap()
                .contains(&json!({"type": "home", "value": "home@x.com"})),
            "{n}: {u}"
        );
        assert_eq!(f.version(&id), v0 + 4, "{n}");
    } else {
        assert_eq!(f.version(&id), v0 + 3, "{n}: no write for an unmapped type");
    }
}

both!(add_mobile_on_a_user_without_one);
async fn add_mobile_on_a_user_without_one(f: Fixture) {
    let n = f.name();
    let (id, _) = f
        .post_user(&json!({"schemas": [CORE], "userName": "bare@x.com"}))
        .await;
    assert_eq!(f.must(&id).mobile, None, "{n}");
    let u = f
        .patch_ok(
            &id,
            json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}]),
        )
        .await;
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}]),
        "{n}"
    );
    assert_eq!(f.must(&id).mobile.as_deref(), Some("+1 555 0100"), "{n}");
    assert_eq!(f.version(&id), 2, "{n}");
}

both!(name_and_simple_attributes_in_one_write);
async fn name_and_simple_attributes_in_one_write(f: Fixture) {
    let n = f.name();
    let (id, v0) = f.user_with_unmapped().await;
    let kept = f.unmapped(&id);
    let u = f
        .patch_ok(
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
    let mut want = entra_stored(&f, "john.janssens@contoso.com");
    want.family_name = Some("Janssens".into());
    want.display_name = Some("John Janssens".into());
    want.external_id = Some("ext-2".into());
    want.language = Some(
        match f {
            Fixture::Peripass(_) => "fr",
            Fixture::Acme(_) => "fr_BE",
        }
        .into(),
    );
    assert_eq!(
        u["preferredLanguage"],
        match f {
            Fixture::Peripass(_) => "fr",
            Fixture::Acme(_) => "fr-BE",
        },
        "{n}"
    );
    assert_eq!(f.must(&id), want, "{n}");
    assert_eq!(f.unmapped(&id), kept, "{n}");
    assert_eq!(f.version(&id), v0 + 1, "{n}: several ops are one write");

    // Remove a simple attribute.
    let u = f
        .patch_ok(&id, json!([{"op": "Remove", "path": "displayName"}]))
        .await;
    assert!(u.get("displayName").is_none(), "{n}");
    want.display_name = None;
    assert_eq!(f.must(&id), want, "{n}");

    // The readOnly computed name.formatted is accepted and ignored.
    let u = f
        .patch_ok(
            &id,
            json!([{"op": "Replace", "path": "name.formatted", "value": "Something Else"}]),
        )
        .await;
    assert_eq!(u["name"]["formatted"], "John Janssens");
    assert_eq!(f.must(&id), want, "{n}");
    assert_eq!(f.version(&id), v0 + 2, "{n}");
}

both!(op_names_in_any_case);
async fn op_names_in_any_case(f: Fixture) {
    let n = f.name();
    let (id, _) = f.user_with_unmapped().await;
    let kept = f.unmapped(&id);
    f.patch_ok(
        &id,
        json!([
            {"op": "ADD", "path": "displayName", "value": "One"},
            {"op": "rEpLaCe", "path": "name.givenName", "value": "Two"},
            {"op": "REMOVE", "path": "externalId"}
        ]),
    )
    .await;
    let mut want = entra_stored(&f, "jdoe@contoso.com");
    want.display_name = Some("One".into());
    want.given_name = Some("Two".into());
    want.external_id = None;
    assert_eq!(f.must(&id), want, "{n}");
    assert_eq!(f.unmapped(&id), kept, "{n}");
}

both!(a_patch_that_changes_nothing_writes_nothing);
async fn a_patch_that_changes_nothing_writes_nothing(f: Fixture) {
    let n = f.name();
    let (id, v0) = f.user_with_unmapped().await;
    let before = f.must(&id);
    f.clear_requests();
    for ops in [
        json!([{"op": "Replace", "path": "displayName", "value": "John Doe"}]),
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "john.doe@contoso.com"}]),
        json!([{"op": "Replace", "path": "preferredLanguage", "value": "nl-BE"}]),
        json!([{"op": "Remove", "path": "emails[type eq \"home\"].value"}]),
        json!([{"op": "replace", "value": {"name.givenName": "John", "name.familyName": "Doe"}}]),
    ] {
        let u = f.patch_ok(&id, ops.clone()).await;
        assert_eq!(u["meta"]["version"], f.etag(v0).as_str(), "{n}: {ops}");
    }
    assert_eq!(f.writes(), vec![], "{n}");
    assert_eq!(f.version(&id), v0, "{n}");
    assert_eq!(f.must(&id), before, "{n}");
}

/// A request that must be refused: (name, user id, body, status, scimType).
type Refusal<'a> = (&'a str, &'a str, Value, u16, Option<&'a str>);

/// Sends each case with `method` and checks its SCIM error, that the
/// backend got no write and that `id` kept its revision 1.
async fn refused_without_writes(
    f: &Fixture,
    method: http::Method,
    id: &str,
    cases: &[Refusal<'_>],
) {
    let n = f.name();
    f.clear_requests();
    for (case, user, body, status, scim_type) in cases {
        let r = f
            .scim()
            .send(
                method.clone(),
                &format!("/Users/{user}"),
                Some(&body.to_string()),
                &[],
            )
            .await;
        r.assert_scim_error_for(&format!("{n}: {method} {case}"), *status, *scim_type);
        assert_eq!(f.writes(), vec![], "{n}: {method} {case}");
        assert_eq!(f.version(id), 1, "{n}: {method} {case}");
    }
}

both!(patch_errors_change_nothing);
async fn patch_errors_change_nothing(f: Fixture) {
    let n = f.name();
    let id = f.create("jdoe@contoso.com").await;
    let replace_display = json!([{"op": "Replace", "path": "displayName", "value": "x"}]);
    let unknown = f.unknown_id().to_string();
    let cases: [Refusal; _] = [
        (
            "unknown user",
            unknown.as_str(),
            patch_ops(replace_display.clone()),
            404,
            None,
        ),
        (
            "unterminated filter",
            id.as_str(),
            patch_ops(json!([{"op": "Replace", "path": "emails[type eq", "value": "x"}])),
            400,
            Some("invalidPath"),
        ),
        (
            "unknown op",
            id.as_str(),
            patch_ops(json!([{"op": "frobnicate", "path": "displayName", "value": "x"}])),
            400,
            Some("invalidSyntax"),
        ),
        (
            "not a boolean",
            id.as_str(),
            patch_ops(json!([{"op": "Replace", "path": "active", "value": "maybe"}])),
            400,
            Some("invalidValue"),
        ),
        (
            "required attribute removed",
            id.as_str(),
            patch_ops(json!([{"op": "Remove", "path": "userName"}])),
            400,
            Some("mutability"),
        ),
        (
            "no schemas",
            id.as_str(),
            json!({ "Operations": replace_display }),
            400,
            Some("invalidSyntax"),
        ),
    ];
    refused_without_writes(&f, http::Method::PATCH, &id, &cases).await;
    assert_eq!(f.must(&id), entra_stored(&f, "jdoe@contoso.com"), "{n}");
    assert_eq!(f.count(), 1);
}

// ---------------------------------------------------------------------------
// PUT, If-Match, DELETE
// ---------------------------------------------------------------------------

both!(put_replaces_mapped_attributes_and_keeps_unmapped_fields);
async fn put_replaces_mapped_attributes_and_keeps_unmapped_fields(f: Fixture) {
    let n = f.name();
    let (id, v0) = f.user_with_unmapped().await;
    let kept = f.unmapped(&id);
    let body = json!({
        "schemas": [CORE],
        "id": id,
        "userName": "john.doe@contoso.com",
        "active": false,
        "displayName": "Johnny",
        "name": {"givenName": "Johnny", "familyName": "Doe"},
        "emails": [{"type": "work", "value": "johnny@contoso.com", "primary": true}]
    });
    let r = f.scim().put(&format!("/Users/{id}"), &body).await;
    assert_eq!(r.status, 200, "{n}: {}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    assert_eq!(r.header("etag"), u["meta"]["version"].as_str(), "{n}");
    assert_eq!(u["meta"]["version"], f.etag(v0 + 1).as_str(), "{n}");
    for gone in [
        "phoneNumbers",
        "externalId",
        "preferredLanguage",
        ENTERPRISE,
    ] {
        assert!(u.get(gone).is_none(), "{n}: {gone} in {u}");
    }
    assert_eq!(u["userName"], "john.doe@contoso.com");
    assert_eq!(u["active"], false);
    assert_eq!(u["displayName"], "Johnny");
    assert_eq!(
        f.must(&id),
        Stored {
            user_name: "john.doe@contoso.com".into(),
            active: false,
            display_name: Some("Johnny".into()),
            given_name: Some("Johnny".into()),
            family_name: Some("Doe".into()),
            work_email: Some("johnny@contoso.com".into()),
            mobile: None,
            external_id: None,
            language: None,
        },
        "{n}: omitted attributes are cleared"
    );
    assert_eq!(f.unmapped(&id), kept, "{n}: unmapped field kept");
    assert_eq!(f.version(&id), v0 + 1, "{n}");
}

both!(put_without_active_keeps_the_status);
/// A PUT without `active`, or a PATCH removing it, asserts nothing: a
/// disabled user stays disabled (the mapping's default fills only a status
/// the backend does not hold).
async fn put_without_active_keeps_the_status(f: Fixture) {
    let n = f.name();
    let id = f.create("jdoe@contoso.com").await;
    f.disable_directly(&id).await;
    let r = f
        .scim()
        .put(
            &format!("/Users/{id}"),
            &json!({"schemas": [CORE], "userName": "jdoe@contoso.com", "displayName": "Only"}),
        )
        .await;
    assert_eq!(r.status, 200, "{n}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["active"], false, "{n}");
    let s = f.must(&id);
    assert!(!s.active, "{n}");
    assert_eq!(s.display_name.as_deref(), Some("Only"));
    assert_eq!((s.given_name, s.language, s.work_email), (None, None, None));
    assert_eq!(f.unmapped(&id), f.unmapped_default(), "{n}");

    // PATCH remove of a defaulted attribute likewise.
    f.patch_ok(&id, json!([{"op": "Remove", "path": "active"}]))
        .await;
    assert!(!f.must(&id).active, "{n}");
}

both!(put_errors_change_nothing, 1);
async fn put_errors_change_nothing(f: Fixture) {
    let n = f.name();
    let id = f.create("jdoe@contoso.com").await;
    let unknown = f.unknown_id().to_string();
    let cases: [Refusal; _] = [
        (
            "missing userName",
            id.as_str(),
            json!({"schemas": [CORE], "displayName": "x"}),
            400,
            Some("invalidValue"),
        ),
        (
            "unknown user",
            unknown.as_str(),
            json!({"schemas": [CORE], "userName": "x@y"}),
            404,
            None,
        ),
    ];
    refused_without_writes(&f, http::Method::PUT, &id, &cases).await;
    assert_eq!(f.version(&id), 1, "{n}");
    assert_eq!(f.must(&id), entra_stored(&f, "jdoe@contoso.com"), "{n}");
    assert_eq!(f.count(), 2);
}

both!(if_match_is_checked_on_put_patch_and_delete);
async fn if_match_is_checked_on_put_patch_and_delete(f: Fixture) {
    let n = f.name();
    let id = f.create("jdoe@contoso.com").await;
    let path = format!("/Users/{id}");
    let put = json!({"schemas": [CORE], "userName": "jdoe@contoso.com", "displayName": "Put"})
        .to_string();
    let patch = patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "Patched"}]))
        .to_string();
    let stale = f.etag(7);
    let fx = &f;
    let send = |m: http::Method, body: Option<String>, etag: String| {
        let path = path.clone();
        async move {
            fx.scim()
                .send(m, &path, body.as_deref(), &[("if-match", etag.as_str())])
                .await
        }
    };
    // A stale If-Match: 412, nothing written.
    for (m, body) in [
        (http::Method::PUT, Some(put.clone())),
        (http::Method::PATCH, Some(patch.clone())),
        (http::Method::DELETE, None),
    ] {
        send(m.clone(), body, stale.clone())
            .await
            .assert_scim_error(412, None);
        assert_eq!(
            f.must(&id),
            entra_stored(&f, "jdoe@contoso.com"),
            "{n}: {m}"
        );
        assert_eq!(f.version(&id), 1, "{n}: {m}");
    }
    // The current one: PUT, then PATCH with the PUT's version.
    let r = send(http::Method::PUT, Some(put.clone()), f.etag(1)).await;
    assert_eq!(r.status, 200, "{n}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("etag"), Some(f.etag(2).as_str()), "{n}");
    assert_eq!(r.json()["meta"]["version"], f.etag(2).as_str(), "{n}");
    assert_eq!(f.must(&id).display_name.as_deref(), Some("Put"));
    // The version the PUT replaced is stale now.
    send(http::Method::PATCH, Some(patch.clone()), f.etag(1))
        .await
        .assert_scim_error(412, None);
    assert_eq!(f.must(&id).display_name.as_deref(), Some("Put"), "{n}");
    let r = send(http::Method::PATCH, Some(patch), f.etag(2)).await;
    assert_eq!(r.status, 200, "{n}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("etag"), Some(f.etag(3).as_str()), "{n}");
    assert_eq!(f.must(&id).display_name.as_deref(), Some("Patched"));
    // DELETE: stale refused, the record stays; current deletes.
    send(http::Method::DELETE, None, f.etag(2))
        .await
        .assert_scim_error(412, None);
    assert!(f.stored(&id).is_some(), "{n}");
    let r = send(http::Method::DELETE, None, f.etag(3)).await;
    assert_eq!(r.status, 204, "{n}");
    assert!(f.stored(&id).is_none(), "{n}");
    assert_eq!(f.count(), 0);
}

both!(soft_then_hard_delete, 2);
async fn soft_then_hard_delete(f: Fixture) {
    let n = f.name();
    let id = f.create("gone@contoso.com").await;
    f.patch_ok(
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert!(!f.must(&id).active, "{n}");
    f.clear_requests();
    let r = f.scim().delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204, "{n}");
    assert!(r.body.is_empty(), "{n}");
    assert!(f.stored(&id).is_none(), "{n}");
    assert_eq!(f.count(), 2, "{n}: only that one");
    f.scim()
        .delete(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
    let deletes: Vec<_> = f
        .requests()
        .into_iter()
        .filter(|(m, _)| m == "DELETE")
        .collect();
    assert_eq!(
        deletes,
        vec![("DELETE".to_string(), f.record_path(&id)); 2],
        "{n}"
    );
    f.scim()
        .get(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
    f.scim()
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "Replace", "path": "active", "value": false}])),
        )
        .await
        .assert_scim_error(404, None);
    let j = f.search("userName eq \"gone@contoso.com\"").await;
    assert_eq!(j["totalResults"], 0, "{n}");
    assert_eq!(f.count(), 2, "{n}");
}

// ---------------------------------------------------------------------------
// The tenant URL flag, POST .search, the whole cycle
// ---------------------------------------------------------------------------

both!(tenant_url_flag_and_search_endpoint);
async fn tenant_url_flag_and_search_endpoint(f: Fixture) {
    let n = f.name();
    let id = f.create("jdoe@contoso.com").await;
    f.create("other@contoso.com").await;
    // Entra's Tenant URL may carry `?aadOptscim062020`.
    let r = f
        .scim()
        .get(&format!(
            "/Users?aadOptscim062020&filter={}",
            entra_filter("userName eq \"jdoe@contoso.com\"")
        ))
        .await;
    assert_eq!(r.status, 200, "{n}");
    assert_eq!(ids(&r.json()), vec![id.clone()], "{n}");
    let r = f
        .scim()
        .patch(
            &format!("/Users/{id}?aadOptscim062020"),
            &patch_ops(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, 200, "{n}");
    assert!(!f.must(&id).active, "{n}");

    let r = f
        .scim()
        .post(
            "/Users/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": "userName eq \"JDOE@contoso.com\"",
                    "attributes": ["userName"], "startIndex": 1, "count": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{n}: {}", String::from_utf8_lossy(&r.body));
    // Acme stores the enterprise employeeNumber of the Entra body, so its
    // schemas name the extension too.
    let schemas = match f {
        Fixture::Peripass(_) => json!([CORE]),
        Fixture::Acme(_) => json!([CORE, ENTERPRISE]),
    };
    assert_eq!(
        r.json()["Resources"],
        json!([{"id": id, "schemas": schemas, "userName": "jdoe@contoso.com"}]),
        "{n}"
    );
}

both!(entra_provisioning_cycle, 2);
async fn entra_provisioning_cycle(f: Fixture) {
    let n = f.name();
    // Match: no such user → create.
    let j = f.search("userName eq \"cycle@contoso.com\"").await;
    assert_eq!(j["totalResults"], 0, "{n}");
    let id = f.create("cycle@contoso.com").await;
    // Next cycle: match finds exactly one → PATCH the differences.
    let j = f.search("userName eq \"Cycle@Contoso.com\"").await;
    assert_eq!(ids(&j), vec![id.clone()], "{n}");
    f.patch_ok(
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "Cycle User"}]),
    )
    .await;
    assert_eq!(
        f.must(&id).display_name.as_deref(),
        Some("Cycle User"),
        "{n}"
    );
    // Soft delete, then hard delete.
    f.patch_ok(
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert!(!f.must(&id).active, "{n}");
    assert_eq!(f.scim().delete(&format!("/Users/{id}")).await.status, 204);
    assert!(f.stored(&id).is_none(), "{n}");
    assert_eq!(f.scim().delete(&format!("/Users/{id}")).await.status, 404);
    assert_eq!(f.count(), 2, "{n}");
}

// ---------------------------------------------------------------------------
// Groups: Peripass teams (member endpoints) and Acme circles (the member
// array, rewritten by a merge patch)
// ---------------------------------------------------------------------------

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// `[{"$ref": null, "value": id}, …]`, as Entra sends members.
fn refs(ids: &[&String]) -> Value {
    Value::Array(
        ids.iter()
            .map(|u| json!({"$ref": null, "value": u}))
            .collect(),
    )
}

impl Fixture {
    /// The id of the seeded user `i` (1-based).
    fn user_id(&self, i: usize) -> String {
        match self {
            Fixture::Peripass(_) => i.to_string(),
            Fixture::Acme(s) => s.backend.people()[i - 1]["uuid"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }

    /// The stored group: its name and member ids (in the backend's order).
    fn group(&self, id: &str) -> Option<(String, Vec<String>)> {
        match self {
            Fixture::Peripass(s) => {
                let t = s.backend.team(id)?;
                let members = t["memberIds"]
                    .as_array()?
                    .iter()
                    .map(|v| v.as_u64().unwrap().to_string())
                    .collect();
                Some((t["name"].as_str()?.to_string(), members))
            }
            Fixture::Acme(s) => {
                let c = s.backend.circle(id)?;
                let members = c["members"]
                    .as_array()?
                    .iter()
                    .map(|m| m["uuid"].as_str().unwrap().to_string())
                    .collect();
                Some((c["title"].as_str()?.to_string(), members))
            }
        }
    }

    /// The stored group's member ids, sorted.
    #[track_caller]
    fn members(&self, id: &str) -> Vec<String> {
        let mut m = self
            .group(id)
            .unwrap_or_else(|| panic!("{}: no stored group {id}", self.name()))
            .1;
        m.sort();
        m
    }

    /// The backend's parameter for `displayName` on groups.
    fn group_name_param(&self) -> &'static str {
        match self {
            Fixture::Peripass(_) => "name",
            Fixture::Acme(_) => "title",
        }
    }

    /// Entra's create of an empty group; returns its id after checking the
    /// answer, the stored group and (Acme) the wrapped body sent.
    async fn create_group(&self, name: &str) -> String {
        let n = self.name();
        self.clear_requests();
        let r = self
            .scim()
            .post(
                "/Groups",
                &json!({"schemas":[GROUP],"externalId":"8aa1a0c0-0000-4000-8000-000000000001","displayName":name,"meta":{"resourceType":"Group"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{n}: {}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        assert_eq!(j["displayName"], name, "{n}");
        let id = j["id"].as_str().unwrap().to_string();
        assert!(
            r.header("location")
                .is_some_and(|l| l.ends_with(&format!("/scim/v2/Groups/{id}"))),
            "{n}"
        );
        assert_eq!(self.group(&id), Some((name.to_string(), vec![])), "{n}");
        if let Fixture::Acme(s) = self {
            assert_eq!(j["members"], json!([]), "{j}");
            assert_eq!(r.header("etag"), Some("W/\"r1\""));
            let writes: Vec<_> = s
                .backend
                .requests()
                .into_iter()
                .filter(|r| r.method != "GET")
                .collect();
            assert_eq!(writes.len(), 1, "{writes:#?}");
            let body: Value = serde_json::from_str(&writes[0].body).unwrap();
            assert_eq!(
                body,
                json!({"circle": {"title": name}}),
                "wrapped, nothing unmapped"
            );
        }
        id
    }

    /// A group PATCH that must succeed and leave `expect` as the members (in
    /// this order where the backend keeps one), written the backend's way:
    /// Peripass one member call per added or removed member and never a
    /// team rewrite; Acme one merge patch (with If-Match) carrying the whole
    /// new array. Returns the answer.
    async fn patch_members_ok(
        &self,
        id: &str,
        ops: Value,
        added: usize,
        removed: usize,
        expect: &[&String],
    ) -> Value {
        let n = self.name();
        self.clear_requests();
        let r = self
            .scim()
            .patch(&format!("/Groups/{id}"), &patch_ops(ops.clone()))
            .await;
        assert_eq!(
            r.status,
            200,
            "{n}: {ops}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let mut want: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
        match self {
            Fixture::Peripass(_) => {
                let writes = self.writes();
                let team = format!("/api/v1/teams/{id}/");
                let count = |m: &str| {
                    writes
                        .iter()
                        .filter(|(wm, p)| wm == m && p.starts_with(&team))
                        .count()
                };
                assert_eq!(count("POST"), added, "{n}: {ops}: {writes:?}");
                assert_eq!(count("DELETE"), removed, "{n}: {ops}: {writes:?}");
                assert!(
                    !writes.iter().any(|(m, _)| m == "PUT"),
                    "{n}: no team rewrite: {writes:?}"
                );
                want.sort();
                assert_eq!(self.members(id), want, "{n}: {ops}");
            }
            Fixture::Acme(s) => {
                let writes: Vec<_> = s
                    .backend
                    .requests()
                    .into_iter()
                    .filter(|r| r.method != "GET")
                    .collect();
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
                let array: Vec<Value> = want.iter().map(|u| json!({ "uuid": u })).collect();
                if array.is_empty() {
                    // Emptied by a merge-patch null (or an empty array).
                    assert!(
                        body["members"].is_null() || body["members"] == json!([]),
                        "{body}"
                    );
                    assert!(body.get("members").is_some(), "{body}");
                } else {
                    assert_eq!(body["members"], Value::Array(array), "{body}");
                }
                assert_eq!(self.group(id).unwrap().1, want, "{n}: {ops}");
                let shown: Vec<String> = r.json()["members"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|m| m["value"].as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(shown, want);
            }
        }
        r.json()
    }
}

both!(group_create_find_rename_delete, 2);
async fn group_create_find_rename_delete(f: Fixture) {
    let n = f.name();
    let u1 = f.user_id(1);
    let id = f.create_group("Gate Operators").await;
    // A member, so that "members must not be returned" means something.
    f.patch_members_ok(
        &id,
        json!([{"op":"Add","path":"members","value": refs(&[&u1])}]),
        1,
        0,
        &[&u1],
    )
    .await;

    f.clear_requests();
    let r = f
        .scim()
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            entra_filter("displayName eq \"gate operators\"")
        ))
        .await;
    assert_eq!(r.status, 200, "{n}: {}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["totalResults"], 1, "{n}: {j}");
    assert_eq!(j["Resources"][0]["id"], id.as_str());
    assert_eq!(j["Resources"][0]["displayName"], "Gate Operators");
    assert!(j["Resources"][0].get("members").is_none(), "{n}: {j}");
    let reqs = f.requests();
    assert_eq!(reqs.len(), 1, "{n}: one pushed-down list call: {reqs:?}");
    assert_eq!(
        query_param(&reqs[0].1, f.group_name_param()),
        vec!["gate%20operators"],
        "{n}: {reqs:?}"
    );
    // No match: an empty list.
    let r = f
        .scim()
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            entra_filter("displayName eq \"Nobody\"")
        ))
        .await;
    assert_eq!(r.json()["totalResults"], 0, "{n}");

    // A full GET shows the members as references.
    let g = f.scim().get(&format!("/Groups/{id}")).await.json();
    assert_eq!(g["members"][0]["value"], u1.as_str(), "{n}: {g}");
    assert!(g["members"][0]["$ref"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Users/{u1}")));
    assert_eq!(g["meta"]["resourceType"], "Group");
    assert_eq!(g["meta"]["version"], f.etag(2).as_str(), "{n}: {g}");

    // Rename.
    f.clear_requests();
    let r = f
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Replace","path":"displayName","value":"Night Shift"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{n}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["displayName"], "Night Shift");
    assert_eq!(
        f.group(&id),
        Some(("Night Shift".to_string(), vec![u1.clone()])),
        "{n}"
    );
    if let Fixture::Acme(s) = &f {
        // One merge patch with only the title.
        let w: Vec<_> = s
            .backend
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect();
        assert_eq!(w.len(), 1);
        assert_eq!(
            serde_json::from_str::<Value>(&w[0].body).unwrap(),
            json!({"title": "Night Shift"})
        );
    }

    // A taken name in another case: 409, by create and by rename.
    let other = f.create_group("Other").await;
    f.scim()
        .post(
            "/Groups",
            &json!({"schemas":[GROUP],"displayName":"night shift"}),
        )
        .await
        .assert_scim_error(409, Some("uniqueness"));
    f.scim()
        .patch(
            &format!("/Groups/{other}"),
            &patch_ops(json!([{"op":"Replace","path":"displayName","value":"NIGHT SHIFT"}])),
        )
        .await
        .assert_scim_error(409, Some("uniqueness"));
    assert_eq!(f.group(&other), Some(("Other".to_string(), vec![])), "{n}");

    // Delete, then again.
    assert_eq!(
        f.scim().delete(&format!("/Groups/{id}")).await.status,
        204,
        "{n}"
    );
    assert!(f.group(&id).is_none(), "{n}");
    f.scim()
        .delete(&format!("/Groups/{id}"))
        .await
        .assert_scim_error(404, None);
    f.scim()
        .get(&format!("/Groups/{id}"))
        .await
        .assert_scim_error(404, None);
    f.scim()
        .get("/Groups/not-a-group")
        .await
        .assert_scim_error(404, None);
}

both!(group_membership_in_every_entra_shape, 5);
async fn group_membership_in_every_entra_shape(f: Fixture) {
    let n = f.name();
    let u: Vec<String> = (1..=5).map(|i| f.user_id(i)).collect();
    let id = f.create_group("Ops").await;

    // Add with $ref: null, several at once.
    f.patch_members_ok(
        &id,
        json!([{"op":"Add","path":"members","value": refs(&[&u[0], &u[1], &u[2]])}]),
        3,
        0,
        &[&u[0], &u[1], &u[2]],
    )
    .await;
    // Adding a member again changes nothing and writes nothing.
    f.clear_requests();
    let r = f
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"Add","path":"members","value": refs(&[&u[1]])}])),
        )
        .await;
    assert_eq!(r.status, 200, "{n}");
    assert_eq!(f.writes(), vec![], "{n}");
    // Remove with a value array removes only the listed ones, never all.
    f.patch_members_ok(
        &id,
        json!([{"op":"Remove","path":"members","value": refs(&[&u[0], &u[2]])}]),
        0,
        2,
        &[&u[1]],
    )
    .await;
    // Remove by value filter.
    f.patch_members_ok(
        &id,
        json!([{"op":"Add","path":"members","value": refs(&[&u[3]])}]),
        1,
        0,
        &[&u[1], &u[3]],
    )
    .await;
    f.patch_members_ok(
        &id,
        json!([{"op":"remove","path": format!("members[value eq \"{}\"]", u[1])}]),
        0,
        1,
        &[&u[3]],
    )
    .await;
    // Replace with an array: where the backend has member calls only the
    // difference is written.
    f.patch_members_ok(
        &id,
        json!([{"op":"replace","path":"members","value": refs(&[&u[4], &u[3], &u[0]])}]),
        2,
        0,
        &[&u[4], &u[3], &u[0]],
    )
    .await;
    // Members are returned as references (Peripass in id order).
    let g = f.scim().get(&format!("/Groups/{id}")).await.json();
    let vals: Vec<String> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = vals.clone();
    sorted.sort();
    assert_eq!(sorted, f.members(&id), "{n}");
    if let Fixture::Peripass(_) = f {
        assert_eq!(vals, vec!["1", "4", "5"], "{n}");
    }
    for m in g["members"].as_array().unwrap() {
        let v = m["value"].as_str().unwrap();
        assert!(
            m["$ref"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/Users/{v}")),
            "{n}: {m}"
        );
    }
    // Path-less replace of displayName together with a member removal
    // (Peripass renames with a team PUT besides the member call).
    let r = f
        .scim()
        .patch(
            &format!("/Groups/{id}"),
            &patch_ops(json!([{"op":"replace","value":{"displayName":"Ops 2"}},{"op":"Remove","path":"members","value": refs(&[&u[4]])}])),
        )
        .await;
    assert_eq!(r.status, 200, "{n}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(f.group(&id).unwrap().0, "Ops 2", "{n}");
    let mut want = vec![u[3].clone(), u[0].clone()];
    want.sort();
    assert_eq!(f.members(&id), want, "{n}");
    // Removing the last members empties the group.
    f.patch_members_ok(
        &id,
        json!([{"op":"Remove","path":"members","value": refs(&[&u[3], &u[0]])}]),
        0,
        2,
        &[],
    )
    .await;
    let g = f.scim().get(&format!("/Groups/{id}")).await.json();
    assert!(
        g["members"].as_array().is_none_or(|a| a.is_empty()),
        "{n}: {g}"
    );
    // Deleting a user removes it from the group; the bridge shows the
    // backend's truth.
    f.patch_members_ok(
        &id,
        json!([{"op":"Add","path":"members","value": refs(&[&u[0], &u[1]])}]),
        2,
        0,
        &[&u[0], &u[1]],
    )
    .await;
    assert_eq!(
        f.scim().delete(&format!("/Users/{}", u[0])).await.status,
        204
    );
    let g = f.scim().get(&format!("/Groups/{id}")).await.json();
    assert_eq!(g["members"].as_array().unwrap().len(), 1, "{n}: {g}");
    assert_eq!(g["members"][0]["value"], u[1].as_str(), "{n}");
}
