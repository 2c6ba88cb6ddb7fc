//! Entra's user lifecycle written once and run against both fixture
//! backends (Peripass: integer ids, PUT with version; Acme: UUIDs, wrapped
//! bodies, merge-patch with If-Match). Each step checks what the backend
//! stored, through a small per-backend view of a user.
use crate::support::*;
use serde_json::{json, Value};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// One of the two fixture backends with a bridge in front of it.
enum Fixture {
    Peripass(PeripassStack),
    Acme(AcmeStack),
}

/// A user as the backend stores it, in backend-neutral terms.
#[derive(Debug, PartialEq)]
struct Stored {
    user_name: String,
    active: bool,
    display_name: Option<String>,
}

impl Fixture {
    async fn start(peripass: bool) -> Fixture {
        if peripass {
            Fixture::Peripass(PeripassStack::start(Default::default()).await)
        } else {
            Fixture::Acme(AcmeStack::start(0).await)
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

    /// The stored user, or `None` when the backend has no such record.
    fn stored(&self, id: &str) -> Option<Stored> {
        match self {
            Fixture::Peripass(s) => {
                let u = s.backend.user(id.parse().ok()?)?;
                Some(Stored {
                    user_name: u["login"].as_str()?.to_string(),
                    active: u["status"] == "ACTIVE",
                    display_name: u["displayName"].as_str().map(str::to_string),
                })
            }
            Fixture::Acme(s) => {
                let p = s.backend.person(id)?;
                Some(Stored {
                    user_name: p["handle"].as_str()?.to_string(),
                    active: p["disabled"] == false,
                    display_name: p["fullName"].as_str().map(str::to_string),
                })
            }
        }
    }

    fn count(&self) -> usize {
        match self {
            Fixture::Peripass(s) => s.backend.user_count(),
            Fixture::Acme(s) => s.backend.people().len(),
        }
    }

    /// Entra's create; returns the id after checking the stored record.
    async fn create(&self, user_name: &str) -> String {
        let r = self
            .scim()
            .post(
                "/Users",
                &json!({
                    "schemas": [CORE],
                    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                    "userName": user_name,
                    "active": true,
                    "displayName": "John Doe",
                    "emails": [{"primary": true, "type": "work", "value": "jdoe@contoso.com"}],
                    "meta": {"resourceType": "User"},
                    "name": {"formatted": "John Doe", "familyName": "Doe", "givenName": "John"},
                    "roles": []
                }),
            )
            .await;
        assert_eq!(
            r.status,
            201,
            "{}: {}",
            self.name(),
            String::from_utf8_lossy(&r.body)
        );
        let id = r.json()["id"].as_str().unwrap().to_string();
        assert_eq!(
            self.stored(&id),
            Some(Stored {
                user_name: user_name.into(),
                active: true,
                display_name: Some("John Doe".into()),
            }),
            "{}",
            self.name()
        );
        id
    }

    /// A PATCH that must succeed; returns the answer.
    async fn patch_ok(&self, id: &str, ops: Value) -> Value {
        let r = self
            .scim()
            .patch(&format!("/Users/{id}"), &patch_ops(ops))
            .await;
        assert_eq!(
            r.status,
            200,
            "{}: {}",
            self.name(),
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }
}

/// Runs the scenario `async fn $name(f: Fixture)` against both backends,
/// as the tests `$name::peripass` and `$name::acme`.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            use super::Fixture;
            #[tokio::test]
            async fn peripass() {
                super::$name(Fixture::start(true).await).await
            }
            #[tokio::test]
            async fn acme() {
                super::$name(Fixture::start(false).await).await
            }
        }
    };
}

both!(disable_and_enable_in_every_shape_entra_sends);
async fn disable_and_enable_in_every_shape_entra_sends(f: Fixture) {
    let id = f.create("jdoe@contoso.com").await;
    for (op, value, active) in [
        ("Replace", json!("False"), false),
        ("Replace", json!("True"), true),
        ("replace", json!(false), false),
        ("replace", json!(true), true),
    ] {
        let u = f
            .patch_ok(&id, json!([{"op": op, "path": "active", "value": value}]))
            .await;
        assert_eq!(u["active"], active, "{}: {u}", f.name());
        let stored = f.stored(&id).unwrap();
        assert_eq!(stored.active, active, "{}", f.name());
        // Nothing else moved.
        assert_eq!(stored.user_name, "jdoe@contoso.com");
        assert_eq!(stored.display_name.as_deref(), Some("John Doe"));
    }
}

both!(pathless_replace_of_display_name);
async fn pathless_replace_of_display_name(f: Fixture) {
    let id = f.create("jdoe@contoso.com").await;
    let u = f
        .patch_ok(
            &id,
            json!([{"op": "replace", "value": {"displayName": "Johnny"}}]),
        )
        .await;
    assert_eq!(u["displayName"], "Johnny");
    let stored = f.stored(&id).unwrap();
    assert_eq!(
        stored.display_name.as_deref(),
        Some("Johnny"),
        "{}",
        f.name()
    );
    assert!(stored.active);
}

both!(duplicate_user_name_is_409_and_creates_nothing);
async fn duplicate_user_name_is_409_and_creates_nothing(f: Fixture) {
    f.create("dup@contoso.com").await;
    let r = f
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE], "userName": "dup@contoso.com", "active": true}),
        )
        .await;
    r.assert_scim_error(409, Some("uniqueness"));
    assert_eq!(f.count(), 1, "{}", f.name());
}

both!(soft_then_hard_delete);
async fn soft_then_hard_delete(f: Fixture) {
    let id = f.create("gone@contoso.com").await;
    f.patch_ok(
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert!(!f.stored(&id).unwrap().active);
    let r = f.scim().delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204, "{}", f.name());
    assert!(f.stored(&id).is_none(), "{}", f.name());
    f.scim()
        .delete(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
    f.scim()
        .get(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
    assert_eq!(f.count(), 0);
}

both!(test_connection_filter_finds_nothing_and_changes_nothing);
async fn test_connection_filter_finds_nothing_and_changes_nothing(f: Fixture) {
    let filter = entra_filter("userName eq \"entra-probe-0000@contoso.com\"");
    let r = f.scim().get(&format!("/Users?filter={filter}")).await;
    assert_eq!(r.status, 200, "{}", f.name());
    let j = r.json();
    assert_eq!(j["totalResults"], 0, "{}: {j}", f.name());
    assert_eq!(ids(&j), Vec::<String>::new());
    assert_eq!(f.count(), 0);
}
