//! What Microsoft's provisioning validator checks, replayed against both
//! backends: `/Schemas` describes every attribute the mapping serves, and the
//! "null update" (`""`, then `null`) clears optional attributes in the
//! backend's own state.
use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The validator's flattening of `/Schemas`: `userName`, `name.givenName`,
/// `emails[type eq "work"].value` (one per canonical `type`), extension
/// attributes prefixed with their URN. Lowercased (it compares case-insensitively).
fn flatten(schema: &Value) -> BTreeSet<String> {
    let urn = schema["id"].as_str().unwrap();
    let prefix = if urn.contains(":core:") {
        String::new()
    } else {
        format!("{urn}:")
    };
    let mut out = BTreeSet::new();
    for a in schema["attributes"].as_array().unwrap() {
        let name = a["name"].as_str().unwrap();
        let subs = a["subAttributes"].as_array().cloned().unwrap_or_default();
        if a["type"] != "complex" || subs.is_empty() {
            out.insert(format!("{prefix}{name}").to_lowercase());
            continue;
        }
        let types: Vec<String> = subs
            .iter()
            .find(|s| s["name"] == "type")
            .and_then(|s| s["canonicalValues"].as_array())
            .map(|v| v.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        for s in subs.iter().filter(|s| s["name"] != "type") {
            let sub = s["name"].as_str().unwrap();
            if a["multiValued"] == true && !types.is_empty() {
                for t in &types {
                    out.insert(format!("{prefix}{name}[type eq \"{t}\"].{sub}").to_lowercase());
                }
            } else {
                out.insert(format!("{prefix}{name}.{sub}").to_lowercase());
            }
            // A reference's object form may also be mapped by its name alone.
            out.insert(format!("{prefix}{name}").to_lowercase());
        }
    }
    out
}

/// The `scim:` paths a mapping file maps for one resource type.
fn mapped(mapping: &str, resource: &str) -> Vec<String> {
    let m: Value = serde_yaml_ng::from_str(mapping).unwrap();
    m["resources"][resource]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["scim"].as_str().unwrap().to_string())
        .collect()
}

async fn flattened_schemas(c: &TestClient) -> BTreeSet<String> {
    let r = c.get("/Schemas").await;
    assert_eq!(r.status, 200);
    let mut all = BTreeSet::new();
    for s in r.json()["Resources"].as_array().unwrap() {
        all.extend(flatten(s));
    }
    all
}

fn assert_covers(flat: &BTreeSet<String>, mapped: &[String], what: &str) {
    for m in mapped {
        // Group members are matched by name (`members`), as Entra maps them.
        assert!(
            flat.contains(&m.to_lowercase()),
            "{what}: mapped attribute {m:?} is not described by /Schemas: {flat:#?}"
        );
    }
}

#[tokio::test]
async fn schemas_describe_every_mapped_attribute_peripass() {
    let s = PeripassStack::start(peripass::Options::default()).await;
    let flat = flattened_schemas(s.scim()).await;
    let mapping = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    for rt in ["User", "Group"] {
        let m = mapped(&mapping, rt);
        assert!(m.len() >= 2, "{rt}: {m:?}");
        assert_covers(&flat, &m, rt);
    }
    assert!(flat.contains("externalid"), "{flat:#?}");
    // Nothing is described that the mapping does not serve (besides the
    // sub-attribute `type` and membership sub-attributes folded above).
    let served: BTreeSet<String> = ["User", "Group"]
        .iter()
        .flat_map(|rt| mapped(&mapping, rt))
        .map(|m| m.to_lowercase())
        .collect();
    for f in &flat {
        let base = f.split(['[', '.']).next().unwrap();
        assert!(
            served.iter().any(|m| m == f || m.starts_with(base)),
            "/Schemas describes {f:?}, which the mapping does not serve"
        );
    }
}

#[tokio::test]
async fn schemas_describe_every_mapped_attribute_acme() {
    let s = AcmeStack::start(0).await;
    let flat = flattened_schemas(s.scim()).await;
    for rt in ["User", "Group"] {
        assert_covers(&flat, &mapped(ACME_MAPPING, rt), rt);
    }
    assert!(flat.contains("externalid"), "{flat:#?}");
}

/// The validator's null update: `""` on optional attributes (valuePath ops
/// for emails and phones, a pathless replace for the rest), then the same
/// with `null`; the backend keeps nothing and reads leave them out.
fn null_update(v: Value) -> Value {
    patch_ops(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": v},
        {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": v},
        {"op": "Replace", "value": {
            "displayName": v, "externalId": v, "preferredLanguage": v,
            "name.givenName": v, "name.familyName": v
        }}
    ]))
}

const CLEARED: &[&str] = &[
    "displayName",
    "externalId",
    "preferredLanguage",
    "name",
    "emails",
    "phoneNumbers",
];

fn full_user(user_name: &str) -> Value {
    json!({"schemas": [CORE], "userName": user_name, "active": true,
           "displayName": "Null Update", "externalId": "ext-null-1",
           "preferredLanguage": "nl-BE",
           "name": {"givenName": "Null", "familyName": "Update"},
           "emails": [{"type": "work", "value": "null@contoso.com", "primary": true}],
           "phoneNumbers": [{"type": "mobile", "value": "+32 470 00 00 01"}]})
}

fn assert_cleared(u: &Value, when: &str) {
    for a in CLEARED {
        assert!(u.get(*a).is_none(), "{when}: {a} still in {u}");
    }
    assert_eq!(u["active"], true, "{when}: {u}");
}

#[tokio::test]
async fn null_update_clears_optional_attributes_peripass() {
    let s = PeripassStack::start(peripass::Options::default()).await;
    let r = s
        .scim()
        .post("/Users", &full_user("null@contoso.com"))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let n: u64 = id.parse().unwrap();
    assert_eq!(s.backend.user(n).unwrap()["language"], "nl");
    for v in [json!(""), Value::Null] {
        let r = s
            .scim()
            .patch(&format!("/Users/{id}"), &null_update(v.clone()))
            .await;
        assert_eq!(r.status, 200, "{v}: {}", String::from_utf8_lossy(&r.body));
        assert_cleared(&r.json(), &format!("PATCH {v}"));
        assert_cleared(&s.scim().get(&format!("/Users/{id}")).await.json(), "GET");
        let b = s.backend.user(n).unwrap();
        for f in [
            "displayName",
            "externalRef",
            "language",
            "firstName",
            "lastName",
        ] {
            assert!(b[f].is_null(), "{v}: backend {f} = {}", b[f]);
        }
        assert!(
            b["contact"]["email"].is_null() && b["contact"]["mobile"].is_null(),
            "{b}"
        );
        assert_eq!(b["login"], "null@contoso.com");
        assert_eq!(b["status"], "ACTIVE");
    }
}

#[tokio::test]
async fn null_update_clears_optional_attributes_acme() {
    let s = AcmeStack::start(0).await;
    let r = s.scim().post("/Users", &full_user("null@acme.test")).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(s.backend.person(&id).unwrap()["locale"], "nl_BE");
    for v in [json!(""), Value::Null] {
        let r = s
            .scim()
            .patch(&format!("/Users/{id}"), &null_update(v.clone()))
            .await;
        assert_eq!(r.status, 200, "{v}: {}", String::from_utf8_lossy(&r.body));
        assert_cleared(&r.json(), &format!("PATCH {v}"));
        assert_cleared(&s.scim().get(&format!("/Users/{id}")).await.json(), "GET");
        let p = s.backend.person(&id).unwrap();
        for f in ["fullName", "source", "locale"] {
            assert!(p[f].is_null(), "{v}: backend {f} = {}", p[f]);
        }
        assert!(
            p["names"]["first"].is_null() && p["names"]["last"].is_null(),
            "{p}"
        );
        let kept_email = p["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| !a["email"].is_null());
        assert!(!kept_email, "{p}");
        let kept_phone = p["phones"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| !a["number"].is_null());
        assert!(!kept_phone, "{p}");
        assert_eq!(p["handle"], "null@acme.test");
        assert_eq!(p["disabled"], false);
    }
}
