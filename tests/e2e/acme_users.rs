//! SCIM Users against the "Acme Directory" fixture, driven only by the mapping
//! file `tests/fixtures/acme.yaml`. Acme differs from Peripass on every axis
//! (Basic auth, UUIDs, wrapped bodies, offset paging, merge-patch + If-Match,
//! its own error envelope), so these tests show that nothing backend-specific
//! is hard-coded in the bridge.

use crate::support::acme::Recorded;
use crate::support::*;
use base64::Engine as _;
use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};

const PASSWORD: &str = ACME_PASSWORD;
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const EMPLOYEE_NUMBER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber";

/// The shared Acme stack with person helpers.
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

    async fn start_with_password(seed_people: usize, bridge_password: &str) -> Stack {
        Stack(AcmeStack::start_with_password(seed_people, bridge_password).await)
    }

    /// The stored Acme person (unwrapped), which must exist.
    fn person(&self, id: &str) -> Value {
        self.backend
            .person(id)
            .unwrap_or_else(|| panic!("no Acme person {id}"))
    }

    /// Creates a user through the bridge and returns its SCIM id.
    async fn create(&self, body: &Value) -> String {
        let r = self.scim().post("/Users", body).await;
        assert_eq!(
            r.status,
            201,
            "create: {}",
            String::from_utf8_lossy(&r.body)
        );
        let id = r.json()["id"].as_str().unwrap().to_string();
        assert_uuid(&id);
        id
    }

    async fn patch_ok(&self, id: &str, ops: Value) -> Value {
        patch_user_ok(self.scim(), "acme", id, ops).await
    }
}

/// Entra's typical POST body (reference: entra-scim-client.md), plus the enterprise extension.
fn entra_user(user_name: &str) -> Value {
    json!({
        "schemas": [CORE, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": true,
        "displayName": "John Doe",
        "preferredLanguage": "nl-BE",
        "emails": [{"primary": true, "type": "work", "value": "jdoe@contoso.com"}],
        "phoneNumbers": [{"type": "mobile", "value": "+32 470 12 34 56"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "John Doe", "familyName": "Doe", "givenName": "John"},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "701"}
    })
}

/// A user without phones, with a work and a home email.
fn two_email_user(user_name: &str) -> Value {
    json!({
        "schemas": [CORE],
        "userName": user_name,
        "active": true,
        "emails": [
            {"type": "work", "value": "work@acme.test", "primary": true},
            {"type": "home", "value": "home@acme.test"}
        ]
    })
}

fn assert_uuid(id: &str) {
    let re =
        regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .unwrap();
    assert!(re.is_match(id), "not an Acme UUID: {id:?}");
}

fn basic_auth() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bridge:{PASSWORD}"))
    )
}

fn body_json(r: &Recorded) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("body of {r:?} is not JSON: {e}"))
}

// ---------------------------------------------------------------------------
// Create, get (Test Connection and the shapes both backends take: entra_both)
// ---------------------------------------------------------------------------

/// What only Acme shows of Entra's create (the shapes and stored fields
/// both backends share: `entra_both::create_with_the_entra_body`).
#[tokio::test]
async fn create_with_entra_body_sends_a_wrapped_person() {
    let s = Stack::start(0).await;
    let r = s
        .scim()
        .post("/Users", &entra_user("jdoe@contoso.com"))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    let id = u["id"].as_str().unwrap().to_string();
    assert_uuid(&id);
    assert!(r
        .header("location")
        .is_some_and(|l| l.ends_with(&format!("/scim/v2/Users/{id}"))));

    // What the bridge sent: the record wrapped in {"person": …}, as JSON, with Basic auth.
    let posts = s.requests("POST");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path_and_query, "/dir/v2/people");
    assert!(posts[0]
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(
        posts[0].header("authorization"),
        Some(basic_auth().as_str())
    );
    let sent = body_json(&posts[0]);
    assert_eq!(
        sent.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["person"],
        "{sent}"
    );

    // The mapped enterprise extension is stored and read back.
    let p = s.person(&id);
    assert_eq!(p["names"], json!({"first": "John", "last": "Doe"}));
    assert_eq!(
        p["addresses"],
        json!([{"kind": "work", "email": "jdoe@contoso.com"}])
    );
    assert_eq!(p["employeeNo"], "701");
    assert_eq!(
        p["phones"],
        json!([{"label": "mobile", "number": "+32 470 12 34 56"}])
    );
    assert_eq!(p["locale"], "nl_BE");
    assert_eq!(u["preferredLanguage"], "nl-BE");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "701");
    let schemas = u["schemas"].as_array().unwrap();
    assert!(schemas.contains(&json!(CORE)) && schemas.contains(&json!(ENTERPRISE)));
}

#[tokio::test]
async fn get_unwraps_the_person_and_derives_meta_from_etag_and_epochs() {
    let s = Stack::start(0).await;
    let id = s.create(&entra_user("jdoe")).await;
    let r = s.scim().get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("etag"), Some("W/\"r1\""));
    let u = r.json();
    assert_eq!(u["id"], id.as_str());
    assert_eq!(u["userName"], "jdoe");
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(u["meta"]["version"], "W/\"r1\"");
    let p = s.person(&id);
    let created = Utc
        .timestamp_opt(p["createdEpoch"].as_i64().unwrap(), 0)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let modified = Utc
        .timestamp_millis_opt(p["modifiedMillis"].as_i64().unwrap())
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    assert_eq!(u["meta"]["created"], created.as_str());
    assert_eq!(u["meta"]["lastModified"], modified.as_str());
    assert!(u["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/Users/{id}")));

    // A write moves the version (Acme's revision) and lastModified.
    s.patch_ok(
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "J. Doe"}]),
    )
    .await;
    let r = s.scim().get(&format!("/Users/{id}")).await;
    assert_eq!(r.header("etag"), Some("W/\"r2\""));
    let u = r.json();
    assert_eq!(u["meta"]["version"], "W/\"r2\"");
    let p = s.person(&id);
    let modified = Utc
        .timestamp_millis_opt(p["modifiedMillis"].as_i64().unwrap())
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    assert_eq!(u["meta"]["lastModified"], modified.as_str());
    assert_eq!(u["meta"]["created"], created.as_str());
}

// ---------------------------------------------------------------------------
// Lists and paging (filters: entra_both)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn list_maps_start_index_and_count_onto_offset_paging() {
    let s = Stack::start(150).await;
    let r = s.scim().get("/Users?startIndex=95&count=10").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let l = r.json();
    assert_eq!(l["totalResults"], 150);
    assert_eq!(l["startIndex"], 95);
    assert_eq!(l["itemsPerPage"], 10);
    let names: Vec<&str> = l["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (95..105).map(|i| format!("user{i}")).collect();
    assert_eq!(names, want);
    let first = &l["Resources"][0];
    assert_eq!(
        first["emails"],
        json!([{"type": "work", "value": "user95@acme.test"}])
    );
    assert_eq!(first[ENTERPRISE]["employeeNumber"], "95");
    assert_eq!(first["active"], true);
    let gets = s.requests("GET");
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(gets[0].path_and_query, "/dir/v2/people?start=94&max=10");

    // More than Acme's page limit (100): two offset pages.
    s.backend.clear_requests();
    let l = s.scim().get("/Users?startIndex=1&count=150").await.json();
    assert_eq!(l["itemsPerPage"], 150);
    assert_eq!(l["Resources"][149]["userName"], "user150");
    let paths: Vec<String> = s
        .requests("GET")
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(
        paths,
        vec![
            "/dir/v2/people?start=0&max=100",
            "/dir/v2/people?start=100&max=100"
        ]
    );

    // A page running past the end is short; past the end is empty.
    let l = s.scim().get("/Users?startIndex=145&count=10").await.json();
    assert_eq!(l["itemsPerPage"], 6);
    assert_eq!(l["totalResults"], 150);
    let l = s.scim().get("/Users?startIndex=400&count=10").await.json();
    assert_eq!(l["itemsPerPage"], 0);
    assert_eq!(l["Resources"], json!([]));
}

// ---------------------------------------------------------------------------
// PATCH: what Acme sends and stores (the shapes themselves: entra_both)
// ---------------------------------------------------------------------------

/// The wire form of Entra's disable at Acme (the shapes themselves:
/// `entra_both::disable_and_enable_in_every_shape_entra_sends`).
#[tokio::test]
async fn patch_disable_with_string_false_sets_disabled_via_merge_patch_and_if_match() {
    let s = Stack::start(0).await;
    let id = s.create(&entra_user("jdoe")).await;
    s.backend.clear_requests();
    let u = s
        .patch_ok(
            &id,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(u["active"], false);
    assert_eq!(u["meta"]["version"], "W/\"r2\"");
    assert_eq!(s.person(&id)["disabled"], true);

    let patches = s.requests("PATCH");
    assert_eq!(patches.len(), 1, "{patches:#?}");
    let p = &patches[0];
    assert_eq!(p.path_and_query, format!("/dir/v2/people/{id}"));
    assert_eq!(
        p.header("content-type"),
        Some("application/merge-patch+json")
    );
    assert_eq!(p.header("if-match"), Some("\"r1\""));
    assert_eq!(p.header("authorization"), Some(basic_auth().as_str()));
    // Only what changed, unwrapped (Acme's merge patch is of the bare person).
    assert_eq!(body_json(p), json!({"disabled": true}));
}

#[tokio::test]
async fn patch_add_mobile_creates_the_phones_element() {
    let s = Stack::start(0).await;
    let id = s.create(&two_email_user("nophone")).await;
    assert!(s.person(&id).get("phones").is_none());
    let u = s
        .patch_ok(
            &id,
            json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}]),
        )
        .await;
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
    assert_eq!(
        s.person(&id)["phones"],
        json!([{"label": "mobile", "number": "+1 555"}])
    );
    // Replace it, then remove it (with and without a value member).
    s.patch_ok(
        &id,
        json!([{"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 777"}]),
    )
    .await;
    assert_eq!(
        s.person(&id)["phones"],
        json!([{"label": "mobile", "number": "+1 777"}])
    );
    let u = s
        .patch_ok(
            &id,
            json!([{"op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 777"}]),
        )
        .await;
    assert!(u.get("phoneNumbers").is_none(), "{u}");
    assert_eq!(s.person(&id)["phones"], json!([]));
}

#[tokio::test]
async fn patch_work_email_leaves_the_home_email_element_untouched() {
    let s = Stack::start(0).await;
    let id = s.create(&two_email_user("emails")).await;
    assert_eq!(
        s.person(&id)["addresses"],
        json!([{"kind": "work", "email": "work@acme.test"}, {"kind": "home", "email": "home@acme.test"}])
    );
    let u = s
        .patch_ok(
            &id,
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new-work@acme.test"}]),
        )
        .await;
    assert_eq!(
        s.person(&id)["addresses"],
        json!([{"kind": "work", "email": "new-work@acme.test"}, {"kind": "home", "email": "home@acme.test"}])
    );
    let emails = u["emails"].as_array().unwrap();
    assert!(emails.contains(&json!({"type": "work", "value": "new-work@acme.test"})));
    assert!(emails.contains(&json!({"type": "home", "value": "home@acme.test"})));

    // Replacing the home one keeps the work one.
    s.patch_ok(
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "new-home@acme.test"}]),
    )
    .await;
    assert_eq!(
        s.person(&id)["addresses"],
        json!([{"kind": "work", "email": "new-work@acme.test"}, {"kind": "home", "email": "new-home@acme.test"}])
    );

    // Removing the work email drops that element only.
    s.patch_ok(
        &id,
        json!([{"op": "Remove", "path": "emails[type eq \"work\"].value"}]),
    )
    .await;
    assert_eq!(
        s.person(&id)["addresses"],
        json!([{"kind": "home", "email": "new-home@acme.test"}])
    );
    // And adding it back appends a work element.
    s.patch_ok(
        &id,
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "back@acme.test"}]),
    )
    .await;
    assert_eq!(
        s.person(&id)["addresses"],
        json!([{"kind": "home", "email": "new-home@acme.test"}, {"kind": "work", "email": "back@acme.test"}])
    );
}

#[tokio::test]
async fn patch_add_to_whole_emails_updates_the_mapped_work_email() {
    // SCIM `add` appends, so the client's view briefly holds two work emails;
    // Acme holds one, and it must become the one the client just sent.
    let s = Stack::start(0).await;
    let id = s.create(&two_email_user("adder")).await;
    let u = s
        .patch_ok(
            &id,
            json!([{"op": "Add", "path": "emails", "value": [{"type": "work", "value": "w2@acme.test", "primary": true}]}]),
        )
        .await;
    assert_eq!(
        s.person(&id)["addresses"],
        json!([{"kind": "work", "email": "w2@acme.test"}, {"kind": "home", "email": "home@acme.test"}])
    );
    assert!(u["emails"]
        .as_array()
        .unwrap()
        .contains(&json!({"type": "work", "value": "w2@acme.test"})));
    // Path-less, without a primary flag.
    s.patch_ok(
        &id,
        json!([{"op": "add", "value": {"emails": [{"type": "work", "value": "w3@acme.test"}]}}]),
    )
    .await;
    assert_eq!(
        s.person(&id)["addresses"],
        json!([{"kind": "work", "email": "w3@acme.test"}, {"kind": "home", "email": "home@acme.test"}])
    );
}

/// The merge patches Acme receives for simple attributes (the shapes
/// themselves: `entra_both::name_and_simple_attributes_in_one_write`).
#[tokio::test]
async fn patch_simple_attributes_send_only_the_changed_members() {
    let s = Stack::start(0).await;
    let id = s.create(&entra_user("jdoe")).await;
    // The nested merge patch only carries the changed member of `names`.
    s.backend.clear_requests();
    s.patch_ok(
        &id,
        json!([
            {"op": "Replace", "path": "name.familyName", "value": "Janssens"},
            {"op": "Replace", "path": "preferredLanguage", "value": "en-US"},
            {"op": "Replace", "path": "externalId", "value": "ext-2"}
        ]),
    )
    .await;
    let patches = s.requests("PATCH");
    assert_eq!(
        body_json(&patches[0]),
        json!({"names": {"last": "Janssens"}, "locale": "en_US", "source": "ext-2"})
    );
    let p = s.person(&id);
    assert_eq!(p["names"], json!({"first": "John", "last": "Janssens"}));
    assert_eq!(p["locale"], "en_US");
    assert_eq!(p["source"], "ext-2");

    // Removing a simple attribute deletes the Acme member (merge patch null).
    s.backend.clear_requests();
    s.patch_ok(&id, json!([{"op": "Remove", "path": "displayName"}]))
        .await;
    assert_eq!(
        body_json(&s.requests("PATCH")[0]),
        json!({"fullName": null})
    );
    assert!(s.person(&id).get("fullName").is_none());
}

#[tokio::test]
async fn patch_enterprise_employee_number_via_urn_path() {
    let s = Stack::start(0).await;
    let id = s.create(&two_email_user("emp")).await;
    assert!(s.person(&id).get("employeeNo").is_none());
    let u = s
        .patch_ok(
            &id,
            json!([{"op": "Replace", "path": EMPLOYEE_NUMBER, "value": "42"}]),
        )
        .await;
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "42");
    assert!(u["schemas"]
        .as_array()
        .unwrap()
        .contains(&json!(ENTERPRISE)));
    assert_eq!(s.person(&id)["employeeNo"], "42");

    // Path-less with the extension object.
    s.patch_ok(
        &id,
        json!([{"op": "add", "value": {ENTERPRISE: {"employeeNumber": "43"}}}]),
    )
    .await;
    assert_eq!(s.person(&id)["employeeNo"], "43");

    // Unmapped enterprise attributes (division) are accepted and ignored.
    // (manager is mapped as a reference: acme_enterprise checks it.)
    let before = s.person(&id);
    s.patch_ok(
        &id,
        json!([{"op": "Add", "path": format!("{ENTERPRISE}:division"), "value": "North"}]),
    )
    .await;
    assert_eq!(s.person(&id)["employeeNo"], "43");
    assert_eq!(s.person(&id), before, "nothing of division stored");
}

// ---------------------------------------------------------------------------
// PUT, DELETE
// ---------------------------------------------------------------------------

#[tokio::test]
async fn put_replaces_through_a_merge_patch() {
    let s = Stack::start(0).await;
    let id = s.create(&entra_user("jdoe")).await;
    s.backend.clear_requests();
    let body = json!({
        "schemas": [CORE],
        "id": id,
        "userName": "john.doe",
        "active": false,
        "name": {"givenName": "Johnny", "familyName": "Doe"},
        "emails": [{"type": "home", "value": "johnny@home.test"}],
        "preferredLanguage": "fr-BE"
    });
    let r = s.scim().put(&format!("/Users/{id}"), &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    assert_eq!(u["userName"], "john.doe");
    assert_eq!(u["active"], false);
    assert!(u.get("displayName").is_none(), "{u}");
    assert!(u.get("phoneNumbers").is_none(), "{u}");
    assert!(u.get(ENTERPRISE).is_none(), "{u}");
    assert_eq!(r.header("etag"), Some("W/\"r2\""));

    let p = s.person(&id);
    assert_eq!(p["handle"], "john.doe");
    assert_eq!(p["disabled"], true);
    assert_eq!(p["names"], json!({"first": "Johnny", "last": "Doe"}));
    assert_eq!(
        p["addresses"],
        json!([{"kind": "home", "email": "johnny@home.test"}])
    );
    assert_eq!(p["phones"], json!([]));
    assert_eq!(p["locale"], "fr_BE");
    for gone in ["fullName", "source", "employeeNo"] {
        assert!(p.get(gone).is_none(), "{gone} should be gone: {p}");
    }
    // No PUT exists at Acme: one merge patch with If-Match.
    assert!(s.requests("PUT").is_empty());
    let patches = s.requests("PATCH");
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].header("if-match"), Some("\"r1\""));
    assert_eq!(
        patches[0].header("content-type"),
        Some("application/merge-patch+json")
    );
}

// ---------------------------------------------------------------------------
// Concurrency: the 412 retry (client If-Match: entra_both)
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_patches_lose_no_update() {
    let s = Stack::start(0).await;
    let id = s.create(&two_email_user("busy")).await;
    let ops = [
        json!([{"op": "Replace", "path": "displayName", "value": "Display"}]),
        json!([{"op": "Replace", "path": "name.givenName", "value": "Given"}]),
        json!([{"op": "Replace", "path": "name.familyName", "value": "Family"}]),
        json!([{"op": "Replace", "path": EMPLOYEE_NUMBER, "value": "77"}]),
        json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 234"}]),
    ];
    let n = ops.len();
    // Another writer changes the person between the bridge's read and its
    // write, twice: each time the write gets 412, and the bridge must
    // re-read and re-apply (one write lock per bridge serialises its own
    // PATCHes, so without this the 412 path would never run).
    let interfering = vec![json!({"source": "hr-feed"}), json!({"locale": "fr_FR"})];
    s.backend.interfere_before_patches(interfering.clone());
    s.backend.clear_requests();
    let mut tasks = Vec::new();
    for op in ops {
        let client = s.scim().clone();
        let path = format!("/Users/{id}");
        tasks.push(tokio::spawn(async move {
            client.patch(&path, &patch_ops(op)).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let p = s.person(&id);
    assert_eq!(p["fullName"], "Display");
    assert_eq!(p["names"], json!({"first": "Given", "last": "Family"}));
    assert_eq!(p["employeeNo"], "77");
    assert_eq!(
        p["phones"],
        json!([{"label": "mobile", "number": "+1 234"}])
    );
    assert_eq!(
        p["addresses"],
        json!([{"kind": "work", "email": "work@acme.test"}, {"kind": "home", "email": "home@acme.test"}])
    );
    // The other writer's changes survived the retries.
    assert_eq!(p["source"], "hr-feed", "{p}");
    assert_eq!(p["locale"], "fr_FR", "{p}");
    // Exactly one successful write per PATCH (plus the other writer's):
    // revision 1 + n + 2.
    let r = s.scim().get(&format!("/Users/{id}")).await;
    assert_eq!(
        r.header("etag"),
        Some(format!("W/\"r{}\"", 1 + n + interfering.len()).as_str())
    );
    // Each interference cost one 412 and one more write.
    assert_eq!(s.backend.stale_answers(), interfering.len());
    let patches = s.requests("PATCH");
    assert_eq!(patches.len(), n + interfering.len(), "{patches:#?}");
    // Every write carried a strong If-Match.
    let re = regex::Regex::new("^\"r[0-9]+\"$").unwrap();
    assert!(patches
        .iter()
        .all(|p| p.header("if-match").is_some_and(|m| re.is_match(m))));
}

// ---------------------------------------------------------------------------
// Errors through Acme's envelope
// ---------------------------------------------------------------------------

/// Acme wants `xx_YY`: a bare language Peripass would take is refused
/// (the refusal of both: `entra_both::an_unsupported_language_is_400_invalid_value`).
#[tokio::test]
async fn a_bare_language_is_400_invalid_value_naming_the_locale() {
    let s = Stack::start(0).await;
    let id = s.create(&entra_user("jdoe")).await;
    let j = s
        .scim()
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "Replace", "path": "preferredLanguage", "value": "nl"}])),
        )
        .await
        .assert_scim_error(400, Some("invalidValue"));
    assert!(j["detail"].as_str().unwrap().contains("locale"), "{j}");
    assert_eq!(s.person(&id)["locale"], "nl_BE");
}

#[tokio::test]
async fn busy_backend_is_503_with_retry_after() {
    let s = Stack::start(2).await;
    // A write is not retried by the bridge: the client gets 503 + Retry-After.
    s.backend.inject_busy(1);
    let r = s.scim().post("/Users", &entra_user("jdoe")).await;
    r.assert_scim_error(503, None);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(s.backend.people().iter().all(|p| p["handle"] != "jdoe"));

    // A read is retried a bounded number of times; a short blip is invisible…
    s.backend.inject_busy(1);
    let r = s.scim().get("/Users").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["totalResults"], 2);
    // …a longer one is a 503 with Retry-After.
    s.backend.inject_busy(10);
    let r = s.scim().get("/Users").await;
    r.assert_scim_error(503, None);
    assert_eq!(r.header("retry-after"), Some("1"));
    // The Retry-After passed on is the backend's own, not a constant.
    s.backend.set_retry_after_secs(7);
    s.backend.inject_busy(10);
    let r = s.scim().get("/Users").await;
    r.assert_scim_error(503, None);
    assert_eq!(r.header("retry-after"), Some("7"));
}

#[tokio::test]
async fn every_backend_request_carries_basic_auth_and_patches_carry_if_match() {
    let s = Stack::start(5).await;
    let id = s.create(&entra_user("jdoe")).await;
    assert_eq!(s.scim().get(&format!("/Users/{id}")).await.status, 200);
    assert_eq!(s.scim().get("/Users?count=3").await.status, 200);
    s.patch_ok(
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(s.person(&id)["disabled"], true);
    let r = s
        .scim()
        .put(&format!("/Users/{id}"), &entra_user("jdoe2"))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.person(&id)["handle"], "jdoe2");
    assert_eq!(s.scim().delete(&format!("/Users/{id}")).await.status, 204);
    assert!(s.backend.person(&id).is_none());
    let reqs = s.backend.requests();
    for m in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(reqs.iter().any(|r| r.method == m), "no {m} in {reqs:#?}");
    }
    let auth = basic_auth();
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some(auth.as_str()), "{r:?}");
        assert!(
            r.path_and_query.starts_with("/dir/v2/people"),
            "{}",
            r.path_and_query
        );
        if r.method == "PATCH" {
            assert_eq!(
                r.header("content-type"),
                Some("application/merge-patch+json")
            );
            assert!(r.header("if-match").is_some(), "{r:?}");
        }
    }
}

#[tokio::test]
async fn wrong_backend_password_is_an_operator_problem_not_a_client_one() {
    let s = Stack::start_with_password(1, "wrong-password").await;
    let r = s.scim().get("/Users").await;
    let j = r.assert_scim_error(502, None);
    assert!(!j.to_string().contains("wrong-password"), "{j}");
    assert_eq!(s.backend.requests().len(), 1);
}

#[tokio::test]
async fn discovery_describes_the_mapped_enterprise_extension() {
    let s = Stack::start(0).await;
    let rt = s.scim().get("/ResourceTypes/User").await.json();
    assert_eq!(rt["schemaExtensions"][0]["schema"], ENTERPRISE, "{rt}");
    let sch = s.scim().get(&format!("/Schemas/{ENTERPRISE}")).await;
    assert_eq!(sch.status, 200);
    let attrs = sch.json()["attributes"].clone();
    assert!(
        attrs
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "employeeNumber"),
        "{attrs}"
    );
}
