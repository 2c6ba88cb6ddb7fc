//! The enterprise User extension on Acme: discovery lists it, resources
//! carry it under its URN (and in `schemas` only when they hold any of its
//! attributes), and filters, PATCH paths and pathless replaces take
//! URN-prefixed names, as Entra sends them. Checked in Acme's own records.
use crate::support::*;
use serde_json::{json, Value};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn schemas_of(u: &Value) -> Vec<String> {
    u["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn discovery_lists_the_extension_and_its_mapped_attributes() {
    let s = AcmeStack::start(0).await;
    let rt = s.scim().get("/ResourceTypes/User").await;
    assert_eq!(rt.status, 200);
    assert_eq!(
        rt.json()["schemaExtensions"],
        json!([{"schema": ENT, "required": false}])
    );
    let sc = s.scim().get(&format!("/Schemas/{ENT}")).await;
    assert_eq!(sc.status, 200);
    let mut names: Vec<String> = sc.json()["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    // Exactly what tests/fixtures/acme.yaml maps under the URN.
    let mapping: Value = serde_yaml_ng::from_str(ACME_MAPPING).unwrap();
    let mut mapped: Vec<String> = mapping["resources"]["User"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["scim"].as_str()?.strip_prefix(&format!("{ENT}:")))
        .map(str::to_string)
        .collect();
    mapped.sort();
    assert_eq!(names, mapped);
    assert_eq!(
        names,
        ["costCenter", "department", "employeeNumber", "manager"]
    );
}

#[tokio::test]
async fn extension_attributes_round_trip_through_urn_paths() {
    let s = AcmeStack::start(0).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE, ENT], "userName": "ent@acme.test",
                    "preferredLanguage": "en-us",
                    ENT: {"employeeNumber": "E-1", "department": "Ops"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(schemas_of(&u), [CORE, ENT]);
    assert_eq!(
        u[ENT],
        json!({"employeeNumber": "E-1", "department": "Ops"})
    );
    // Locale case fixed on the way in, SCIM form on the way out.
    assert_eq!(u["preferredLanguage"], "en-US");
    let p = s.backend.person(&id).unwrap();
    assert_eq!(
        (&p["employeeNo"], &p["unit"], &p["locale"]),
        (&json!("E-1"), &json!("Ops"), &json!("en_US"))
    );

    // A URN-prefixed PATCH path, as Entra sends it.
    let r = s
        .scim()
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(
                json!([{"op": "Replace", "path": format!("{ENT}:department"), "value": "Sales"}]),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()[ENT]["department"], "Sales");
    assert_eq!(s.backend.person(&id).unwrap()["unit"], "Sales");

    // A pathless replace with URN-prefixed keys.
    let r = s
        .scim()
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "Replace", "value": {
                format!("{ENT}:employeeNumber"): "E-9",
                format!("{ENT}:costCenter"): "CC-7"
            }}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let p = s.backend.person(&id).unwrap();
    assert_eq!(
        (&p["employeeNo"], &p["costCentre"], &p["unit"]),
        (&json!("E-9"), &json!("CC-7"), &json!("Sales"))
    );

    // URN-prefixed filters find it (evaluated by the bridge).
    for f in [
        format!("{ENT}:employeeNumber eq \"E-9\""),
        format!("{ENT}:department eq \"sales\" and userName eq \"ent@acme.test\""),
    ] {
        let r = s
            .scim()
            .get(&format!("/Users?filter={}", entra_filter(&f)))
            .await;
        assert_eq!(r.status, 200, "{f}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(ids(&r.json()), vec![id.clone()], "{f}");
    }
    let r = s
        .scim()
        .get(&format!(
            "/Users?filter={}",
            entra_filter(&format!("{ENT}:employeeNumber eq \"E-1\""))
        ))
        .await;
    assert_eq!(ids(&r.json()), Vec::<String>::new());

    // Removing every extension attribute drops the URN from `schemas`.
    let r = s
        .scim()
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([
                {"op": "Remove", "path": format!("{ENT}:department")},
                {"op": "Remove", "path": format!("{ENT}:employeeNumber")},
                {"op": "Replace", "path": format!("{ENT}:costCenter"), "value": ""}
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let u = r.json();
    assert!(u.get(ENT).is_none(), "{u}");
    assert_eq!(schemas_of(&u), [CORE]);
    let p = s.backend.person(&id).unwrap();
    for f in ["employeeNo", "unit", "costCentre"] {
        assert!(p[f].is_null(), "{f}: {p}");
    }
    assert_eq!(p["handle"], "ent@acme.test");
}

async fn create(s: &AcmeStack, user_name: &str, ent: Value) -> String {
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE, ENT], "userName": user_name, ENT: ent}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_string()
}

/// The manager reference in every shape Entra sends, checked in Acme's
/// record (which holds the manager's uuid) and in the object form answered.
#[tokio::test]
async fn manager_reference_in_every_entra_shape() {
    let s = AcmeStack::start(0).await;
    let boss = create(&s, "boss@acme.test", json!({})).await;
    let boss2 = create(&s, "boss2@acme.test", json!({})).await;
    // Create with the object form.
    let id = create(&s, "emp@acme.test", json!({"manager": {"value": boss}})).await;
    assert_eq!(s.backend.person(&id).unwrap()["manager"], boss);
    let u = s.scim().get(&format!("/Users/{id}")).await.json();
    assert_eq!(u[ENT]["manager"]["value"], boss);
    assert!(
        u[ENT]["manager"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{boss}")),
        "{u}"
    );
    let path = format!("{ENT}:manager");
    let user = format!("/Users/{id}");
    let manager_after = |ops: Value| {
        let (s, user) = (&s, user.clone());
        async move {
            let r = s.scim().patch(&user, &patch_ops(ops)).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let answered = r.json()[ENT]["manager"].clone();
            let stored =
                s.backend.person(user.rsplit('/').next().unwrap()).unwrap()["manager"].clone();
            (answered, stored)
        }
    };
    // Remove: the plain path.
    let (a, st) = manager_after(json!([{"op": "Remove", "path": path}])).await;
    assert!(a.is_null() && st.is_null(), "{a} {st}");
    // Add with a plain string.
    let (a, st) = manager_after(json!([{"op": "Add", "path": path, "value": boss}])).await;
    assert_eq!(
        (a["value"].as_str(), st.as_str()),
        (Some(boss.as_str()), Some(boss.as_str()))
    );
    assert!(a.is_object(), "responses use the object form: {a}");
    // Replace with the object form, and as a one-element array.
    let (a, st) =
        manager_after(json!([{"op": "Replace", "path": path, "value": {"value": boss2}}])).await;
    assert_eq!(
        (a["value"].as_str(), st.as_str()),
        (Some(boss2.as_str()), Some(boss2.as_str()))
    );
    let (a, st) =
        manager_after(json!([{"op": "Replace", "path": path, "value": [{"value": boss}]}])).await;
    assert_eq!(
        (a["value"].as_str(), st.as_str()),
        (Some(boss.as_str()), Some(boss.as_str()))
    );
    // Remove by value filter.
    let (a, st) =
        manager_after(json!([{"op": "Remove", "path": format!("{path}[value eq \"{boss}\"]")}]))
            .await;
    assert!(a.is_null() && st.is_null(), "{a} {st}");
    // The same without the URN, as Entra may send it: applied to the
    // extension's manager, not ignored.
    let _ = manager_after(json!([{"op": "Add", "path": path, "value": boss}])).await;
    let (a, st) =
        manager_after(json!([{"op": "Remove", "path": format!("manager[value eq \"{boss}\"]")}]))
            .await;
    assert!(a.is_null() && st.is_null(), "{a} {st}");
    // A pathless replace with the URN key; then a replace with an empty value clears.
    let (a, st) = manager_after(json!([{"op": "Replace", "value": {path.clone(): boss2}}])).await;
    assert_eq!(st.as_str(), Some(boss2.as_str()), "{a}");
    let (a, st) =
        manager_after(json!([{"op": "Replace", "path": path, "value": {"value": ""}}])).await;
    assert!(a.is_null() && st.is_null(), "{a} {st}");
    let _ = manager_after(json!([{"op": "Add", "path": path, "value": boss}])).await;
    let (a, st) = manager_after(json!([{"op": "Replace", "path": path, "value": ""}])).await;
    assert!(a.is_null() && st.is_null(), "{a} {st}");

    // An unknown manager id: 400 invalidValue naming it, nothing written.
    let _ = manager_after(json!([{"op": "Add", "path": path, "value": boss}])).await;
    let before = s.backend.person(&id).unwrap();
    s.backend.clear_requests();
    for ghost in ["0a0a0a0a-0000-4000-8000-000000000000", "not-a-uuid"] {
        let r = s
            .scim()
            .patch(
                &user,
                &patch_ops(json!([{"op": "Replace", "path": path, "value": ghost}])),
            )
            .await;
        let e = r.assert_scim_error(400, Some("invalidValue"));
        assert!(e["detail"].as_str().unwrap().contains(ghost), "{e}");
    }
    assert_eq!(s.backend.person(&id).unwrap(), before);
    assert!(s.requests("PATCH").is_empty(), "nothing written");
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE, ENT], "userName": "orphan@acme.test",
                    ENT: {"manager": "0a0a0a0a-0000-4000-8000-000000000000"}}),
        )
        .await;
    r.assert_scim_error(400, Some("invalidValue"));
    assert!(s.requests("POST").is_empty(), "nothing created");
    assert_eq!(s.backend.people().len(), 3);

    // POST and PUT take the one-element array as PATCH does: written, and
    // an unknown id in it refused (it was read as absent: dropped on POST,
    // and a PUT cleared the manager).
    let listed = create(
        &s,
        "listed@acme.test",
        json!({"manager": [{"value": boss}]}),
    )
    .await;
    assert_eq!(s.backend.person(&listed).unwrap()["manager"], boss);
    let put = |manager: Value| {
        let (s, user) = (&s, format!("/Users/{listed}"));
        async move {
            s.scim()
                .put(
                    &user,
                    &json!({"schemas": [CORE, ENT], "userName": "listed@acme.test",
                            ENT: {"manager": manager}}),
                )
                .await
        }
    };
    assert_eq!(put(json!([{"value": boss2}])).await.status, 200);
    assert_eq!(s.backend.person(&listed).unwrap()["manager"], boss2);
    // Two managers for a single-valued attribute: refused, nothing cleared.
    put(json!([{"value": boss}, {"value": boss2}]))
        .await
        .assert_scim_error(400, Some("invalidValue"));
    assert_eq!(s.backend.person(&listed).unwrap()["manager"], boss2);
    let ghost = "0a0a0a0a-0000-4000-8000-000000000000";
    put(json!([{"value": ghost}]))
        .await
        .assert_scim_error(400, Some("invalidValue"));
    assert_eq!(s.backend.person(&listed).unwrap()["manager"], boss2);
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE, ENT], "userName": "orphan2@acme.test",
                    ENT: {"manager": [{"value": ghost}]}}),
        )
        .await;
    r.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(s.backend.people().len(), 4);

    // /Schemas describes manager as a complex value with a writable $ref.
    let sc = s.scim().get(&format!("/Schemas/{ENT}")).await.json();
    let m = sc["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "manager")
        .unwrap()
        .clone();
    assert_eq!(m["type"], "complex");
    assert_eq!(m["multiValued"], false);
    let subs: Vec<&str> = m["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["value", "$ref"]);
    assert_eq!(m["subAttributes"][1]["mutability"], "readWrite");
}

/// RFC 7643 §4.3: a client may name the manager by its URI (`$ref`) alone; the
/// bridge stores the id it names, and refuses a `$ref` and `value` that
/// disagree, a `$ref` outside `/Users`, or one naming no user.
#[tokio::test]
async fn manager_by_ref_uri() {
    let s = AcmeStack::start(0).await;
    let boss = create(&s, "boss@acme.test", json!({})).await;
    let boss2 = create(&s, "boss2@acme.test", json!({})).await;
    let uri = |id: &str| format!("{}/Users/{id}", s.scim().base);
    let id = create(
        &s,
        "emp@acme.test",
        json!({"manager": {"$ref": uri(&boss)}}),
    )
    .await;
    assert_eq!(s.backend.person(&id).unwrap()["manager"], boss);
    let user = format!("/Users/{id}");
    let path = format!("{ENT}:manager");
    let patch = |ops: Value| {
        let (s, user) = (&s, user.clone());
        async move { s.scim().patch(&user, &patch_ops(ops)).await }
    };
    // Replace the whole object with a `$ref` only.
    let r = patch(json!([{"op": "replace", "path": path, "value": {"$ref": uri(&boss2)}}])).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()[ENT]["manager"]["value"], boss2.as_str());
    assert_eq!(s.backend.person(&id).unwrap()["manager"], boss2);
    // The sub-attribute `$ref` alone, then `value` alone (the `$ref` read is re-rendered).
    let r = patch(json!([{"op": "replace", "path": format!("{path}.$ref"), "value": uri(&boss)}]))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.backend.person(&id).unwrap()["manager"], boss);
    let r =
        patch(json!([{"op": "replace", "path": format!("{path}.value"), "value": boss2}])).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()[ENT]["manager"]["$ref"]
        .as_str()
        .unwrap()
        .ends_with(&boss2));
    assert_eq!(s.backend.person(&id).unwrap()["manager"], boss2);
    // PUT with both, agreeing.
    let mut u = s.scim().get(&user).await.json();
    u[ENT]["manager"] = json!({"value": boss, "$ref": uri(&boss)});
    let r = s.scim().put(&user, &u).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.backend.person(&id).unwrap()["manager"], boss);

    // Refused, nothing written: a new value and a new $ref that disagree
    // (the manager is `boss`), a $ref outside /Users, one naming no user.
    let before = s.backend.person(&id).unwrap();
    s.backend.clear_requests();
    let ghost = "0a0a0a0a-0000-4000-8000-000000000000";
    let base = s.scim().base.clone();
    for m in [
        json!({"value": boss2, "$ref": uri(&id)}),
        json!({"$ref": format!("{base}/Groups/{boss}")}),
        json!({"$ref": uri(ghost)}),
    ] {
        let r = patch(json!([{"op": "replace", "path": path, "value": m.clone()}])).await;
        r.assert_scim_error(400, Some("invalidValue"));
    }
    assert_eq!(s.backend.person(&id).unwrap(), before);
    assert!(s.requests("PATCH").is_empty(), "nothing written");
}

/// `reference: { display: true }`: a single GET fills the manager's
/// `displayName` (one extra Acme call), lists never do, and `/Schemas`
/// describes it read-only.
#[tokio::test]
async fn manager_display_name_on_single_get_only() {
    let m = ACME_MAPPING.replacen(
        "reference: { resource: /Users }",
        "reference: { resource: /Users, display: true }",
        1,
    );
    assert_ne!(m, ACME_MAPPING);
    let s = AcmeStack::start_with_mapping(0, ACME_PASSWORD, &m).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE], "userName": "boss@acme.test", "displayName": "Big Boss"}),
        )
        .await;
    let boss = r.json()["id"].as_str().unwrap().to_string();
    let id = create(&s, "emp@acme.test", json!({"manager": boss})).await;
    let user = format!("/Users/{id}");
    s.backend.clear_requests();
    let u = s.scim().get(&user).await.json();
    assert_eq!(u[ENT]["manager"]["value"], boss);
    assert_eq!(u[ENT]["manager"]["displayName"], "Big Boss", "{u}");
    let gets: Vec<String> = s
        .requests("GET")
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(
        gets,
        [
            format!("/dir/v2/people/{id}"),
            format!("/dir/v2/people/{boss}")
        ]
    );
    // The manager renamed in Acme: the next GET shows the new name.
    assert!(s
        .backend
        .edit_person(&boss, json!({"fullName": "Bigger Boss"})));
    assert_eq!(
        s.scim().get(&user).await.json()[ENT]["manager"]["displayName"],
        "Bigger Boss"
    );
    // Lists and write answers carry no displayName (no extra calls).
    let list = s.scim().get("/Users").await.json();
    let emp = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(emp[ENT]["manager"]["value"], boss);
    assert!(emp[ENT]["manager"].get("displayName").is_none(), "{emp}");
    // A manager that is gone: the GET still answers, without displayName.
    assert_eq!(s.scim().delete(&format!("/Users/{boss}")).await.status, 204);
    let u = s.scim().get(&user).await;
    assert_eq!(u.status, 200);
    assert!(u.json()[ENT]["manager"].get("displayName").is_none());
    // /Schemas: manager.displayName, read-only.
    let sc = s.scim().get(&format!("/Schemas/{ENT}")).await.json();
    let manager = sc["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "manager")
        .unwrap()
        .clone();
    let dn = manager["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "displayName")
        .unwrap_or_else(|| panic!("{manager}"))
        .clone();
    assert_eq!(dn["mutability"], "readOnly");
    assert_eq!(dn["type"], "string");
}
