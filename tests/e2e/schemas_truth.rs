//! `/Schemas` tells the truth about what the Peripass backend stores, so that
//! schema-driven clients (compliance testers, provisioning tools) only send
//! values that can be kept.
use crate::support::*;
use serde_json::{json, Value};

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

async fn user_attr(s: &PeripassStack, name: &str) -> Value {
    let r = s.scim().get(&format!("/Schemas/{USER_URN}")).await;
    assert_eq!(r.status, 200);
    r.json()["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in the User schema"))
}

/// Every advertised canonical value of preferredLanguage is stored and read
/// back unchanged (Peripass keeps ISO 639-1 codes only).
#[tokio::test]
async fn preferred_language_canonical_values_round_trip() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 1,
        ..Default::default()
    })
    .await;
    let attr = user_attr(&s, "preferredLanguage").await;
    let values = attr["canonicalValues"]
        .as_array()
        .expect("preferredLanguage advertises canonicalValues");
    assert_eq!(values.len(), 184, "the ISO 639-1 codes");
    for v in values {
        let r = s
            .scim()
            .patch(
                "/Users/1",
                &patch_ops(json!([{"op": "replace", "path": "preferredLanguage", "value": v}])),
            )
            .await;
        assert_eq!(r.status, 200, "{v}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["preferredLanguage"], *v);
        // Stored as sent, not only echoed.
        assert_eq!(s.backend.user(1).unwrap()["language"], *v);
    }
    // A region subtag is still accepted (and dropped): canonical values are advisory.
    let r = s
        .scim()
        .patch(
            "/Users/1",
            &patch_ops(json!([{"op": "replace", "path": "preferredLanguage", "value": "nl-BE"}])),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["preferredLanguage"], "nl");
    assert_eq!(s.backend.user(1).unwrap()["language"], "nl");
}
