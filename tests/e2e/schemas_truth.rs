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
    // Entra's later `remove` carries the value it wrote, `nl-BE`: it names
    // the `nl` stored from it (another language does not).
    let remove = |value: &'static str| {
        let s = &s;
        async move {
            let r = s
                .scim()
                .patch(
                    "/Users/1",
                    &patch_ops(
                        json!([{"op": "Remove", "path": "preferredLanguage", "value": value}]),
                    ),
                )
                .await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            s.backend.user(1).unwrap()["language"].clone()
        }
    };
    assert_eq!(remove("fr-FR").await, "nl");
    assert_eq!(remove("nl-BE").await, Value::Null);
}

/// A `strict` resource type refuses, with `400 invalidValue` and before any
/// backend write, every attribute its mapping cannot store — in a PATCH too
/// (by path, path-less, or beside membership operations), not only in a
/// POST or PUT. Peripass teams have no field for `externalId`.
#[tokio::test]
async fn strict_groups_refuse_unmapped_attributes_in_every_write() {
    let mapping = edited_peripass_mapping(
        "    description: Peripass teams\n",
        "    description: Peripass teams\n    strict: true\n",
        "the Group's description line",
    );
    let PeripassStack { backend, bridge } = PeripassStack::start_with_mapping(
        peripass::Options {
            seed_users: 2,
            seed_teams: 1,
            ..Default::default()
        },
        &mapping,
    )
    .await;
    let scim = &bridge.client;

    let schema = scim
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
        .await
        .json();
    let names: Vec<&str> = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["displayName", "members"],
        "externalId is not advertised"
    );

    backend.clear_requests();
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Night shift",
        "externalId": "8aa1"
    });
    let e = scim
        .post("/Groups", &group)
        .await
        .assert_scim_error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("externalId"), "{e}");
    let bodies = [
        json!([{"op": "add", "path": "externalId", "value": "8aa1"}]),
        json!([{"op": "replace", "value": {"externalId": "8aa1", "displayName": "X"}}]),
        json!([
            {"op": "add", "path": "members", "value": [{"value": "1"}]},
            {"op": "replace", "path": "externalId", "value": "8aa1"}
        ]),
    ];
    for ops in bodies {
        let e = scim
            .patch("/Groups/T-0001", &patch_ops(ops.clone()))
            .await
            .assert_scim_error(400, Some("invalidValue"));
        assert!(
            e["detail"].as_str().unwrap().contains("externalId"),
            "{ops}: {e}"
        );
    }
    let writes: Vec<String> = backend
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert!(writes.is_empty(), "nothing written: {writes:?}");
    assert_eq!(backend.team("T-0001").unwrap()["memberIds"], json!([]));
    assert_eq!(backend.team_count(), 1);

    // What the mapping stores is still written, membership included.
    let r = scim
        .patch(
            "/Groups/T-0001",
            &patch_ops(json!([
                {"op": "add", "path": "members", "value": [{"value": "1"}]},
                {"op": "replace", "path": "displayName", "value": "Renamed"}
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let team = backend.team("T-0001").unwrap();
    assert_eq!(
        (&team["name"], &team["memberIds"]),
        (&json!("Renamed"), &json!([1]))
    );
}

/// A `strict` User type declaring the enterprise extension refuses the
/// extension's unmapped attributes (Entra maps `manager` by default) as it
/// refuses core ones, and never a value that asserts nothing: Entra's
/// create body carries `"roles": []` and nulls, its "null update" `""`.
#[tokio::test]
async fn strict_users_refuse_unmapped_extension_attributes_but_not_empty_values() {
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mapping = edited_peripass_mapping(
        "    description: Peripass users\n",
        &format!("    description: Peripass users\n    strict: true\n    extensions: [{ENT}]\n"),
        "the User's description line",
    );
    let s = PeripassStack::start_with_mapping(
        peripass::Options {
            seed_users: 1,
            ..Default::default()
        },
        &mapping,
    )
    .await;
    let scim = s.scim();
    let user = |extra: Value| {
        let mut u = json!({"schemas": [USER_URN, ENT], "userName": "strict@example.com"});
        u.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        u
    };
    s.backend.clear_requests();
    let e = scim
        .post("/Users", &user(json!({ENT: {"manager": {"value": "1"}}})))
        .await
        .assert_scim_error(400, Some("invalidValue"));
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{ENT}:manager")),
        "{e}"
    );
    for ops in [
        json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": "1"}]),
        json!([{"op": "Add", "value": {format!("{ENT}:costCenter"): "4130"}}]),
    ] {
        scim.patch("/Users/1", &patch_ops(ops.clone()))
            .await
            .assert_scim_error(400, Some("invalidValue"));
    }
    let writes = s
        .backend
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes, 0, "nothing written");

    // Values that assert nothing: accepted, in a POST and in a PATCH.
    let r = scim
        .post(
            "/Users",
            &user(json!({"roles": [], "title": null, "externalId": null,
                         ENT: {"manager": null, "costCenter": ""}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = scim
        .patch(
            "/Users/1",
            &patch_ops(json!([
                {"op": "Replace", "path": "title", "value": ""},
                {"op": "Replace", "path": format!("{ENT}:manager"), "value": null}
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// `/ServiceProviderConfig` claims ETag support only when every resource
/// type has a version: without one, a type's answers carry no `ETag`.
#[tokio::test]
async fn etag_is_advertised_only_when_every_type_has_a_version() {
    let mapping = peripass_groups_without_version();
    let PeripassStack {
        backend: _backend,
        bridge,
    } = PeripassStack::start_with_mapping(
        peripass::Options {
            seed_teams: 1,
            ..Default::default()
        },
        &mapping,
    )
    .await;
    let spc = bridge.client.get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["etag"]["supported"], false, "{spc}");
    let g = bridge.client.get("/Groups/T-0001").await;
    assert_eq!(g.status, 200);
    assert!(g.header("etag").is_none() && g.json()["meta"].get("version").is_none());

    // The shipped mapping versions both types.
    let s = PeripassStack::start(peripass::Options::default()).await;
    let spc = s.scim().get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["etag"]["supported"], true, "{spc}");
}
