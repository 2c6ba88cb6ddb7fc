//! The enterprise extension, its URN paths and `manager`.

use super::*;

// ---- enterprise extension and manager ----------------------------------

#[test]
fn entra_enterprise_urn_path_employee_number() {
    let out = patch(
        &user(),
        json!([{ "op": "Add", "path": format!("{ENT}:employeeNumber"), "value": "701984" }]),
    );
    assert_eq!(out[ENT], json!({ "employeeNumber": "701984" }));
    assert_eq!(out["schemas"], json!([CORE, ENT]));
}

#[test]
fn enterprise_urn_path_is_case_insensitive_and_canonical() {
    let start = with(
        user(),
        json!({ "schemas": [CORE, ENT], ENT: { "employeeNumber": "1" } }),
    );
    let path = format!("{}:EMPLOYEENUMBER", ENT.to_lowercase());
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": path, "value": "2" }]),
    );
    assert_eq!(out[ENT], json!({ "employeeNumber": "2" }));
    assert_eq!(out["schemas"], json!([CORE, ENT]));
}

#[test]
fn entra_manager_bare_string_via_path() {
    let out = patch(
        &user(),
        json!([{ "op": "Add", "path": format!("{ENT}:manager"), "value": "m-1" }]),
    );
    assert_eq!(out[ENT]["manager"], json!({ "value": "m-1" }));
}

#[test]
fn entra_manager_as_array() {
    let out = patch(
        &user(),
        json!([{ "op": "Replace", "path": format!("{ENT}:manager"), "value": [{ "value": "m-2" }] }]),
    );
    assert_eq!(out[ENT]["manager"], json!({ "value": "m-2" }));
}

#[test]
fn entra_manager_empty_value_is_set_as_given() {
    let start = with(user(), json!({ ENT: { "manager": { "value": "m-1" } } }));
    let out = patch(
        &start,
        json!([{ "op": "Replace", "path": format!("{ENT}:manager"), "value": { "value": "" } }]),
    );
    assert_eq!(out[ENT]["manager"], json!({ "value": "" }));
}

#[test]
fn entra_manager_bare_string_in_pathless_urn_key() {
    let out = patch(
        &user(),
        json!([{ "op": "Replace", "value": { format!("{ENT}:manager"): "m-3" } }]),
    );
    assert_eq!(out[ENT]["manager"], json!({ "value": "m-3" }));
}

#[test]
fn entra_remove_manager_by_value_filter() {
    let start = with(
        user(),
        json!({ "schemas": [CORE, ENT], ENT: { "employeeNumber": "7", "manager": { "value": "m-1" } } }),
    );
    let path = format!("{ENT}:manager[value eq \"m-1\"]");
    let out = patch(&start, json!([{ "op": "Remove", "path": path }]));
    assert_eq!(out[ENT], json!({ "employeeNumber": "7" }));
    let path = format!("{ENT}:manager[value eq \"other\"]");
    assert_eq!(
        patch(&start, json!([{ "op": "Remove", "path": path }])),
        start
    );
}

#[test]
fn replace_manager_null_removes_it() {
    let start = with(user(), json!({ ENT: { "manager": { "value": "m-1" } } }));
    let out = patch(
        &start,
        json!([{ "op": "Replace", "path": format!("{ENT}:manager"), "value": null }]),
    );
    assert_eq!(out[ENT], json!({}));
}

#[test]
fn pathless_extension_object_key() {
    let out = patch(
        &user(),
        json!([{ "op": "add", "value": { ENT: { "employeeNumber": "9", "manager": "m-9" }, "displayName": "B" } }]),
    );
    assert_eq!(
        out[ENT],
        json!({ "employeeNumber": "9", "manager": { "value": "m-9" } })
    );
    assert_eq!(out["displayName"], json!("B"));
    assert_eq!(out["schemas"], json!([CORE, ENT]));
}

#[test]
fn pathless_full_urn_attribute_key() {
    let out = patch(
        &user(),
        json!([{ "op": "Add", "value": { format!("{ENT}:employeeNumber"): "42" } }]),
    );
    assert_eq!(out[ENT]["employeeNumber"], json!("42"));
}

#[test]
fn pathless_core_urn_object_is_top_level() {
    let out = patch(
        &user(),
        json!([{ "op": "replace", "value": { CORE: { "displayName": "Core" } } }]),
    );
    assert_eq!(out["displayName"], json!("Core"));
    assert!(out.get(CORE).is_none());
}

#[test]
fn core_schema_as_path_targets_the_resource() {
    let out = patch(
        &user(),
        json!([{ "op": "replace", "path": CORE, "value": { "displayName": "X" } }]),
    );
    assert_eq!(out["displayName"], json!("X"));
    let e = patch_err(&user(), json!([{ "op": "remove", "path": CORE }]));
    assert_eq!(e.scim_type, "invalidValue");
}

#[test]
fn add_whole_extension_path_with_object() {
    let out = patch(
        &user(),
        json!([{ "op": "add", "path": ENT, "value": { "EmployeeNumber": "5" } }]),
    );
    assert_eq!(out[ENT], json!({ "employeeNumber": "5" }));
    assert_eq!(out["schemas"], json!([CORE, ENT]));
}

#[test]
fn schema_objects_do_not_nest() {
    let nested = json!({ ENT: { ENT: { "employeeNumber": "1" } } });
    let e = patch_err(&user(), json!([{ "op": "add", "value": nested }]));
    assert_eq!(e.scim_type, "invalidPath");
    let nested = json!({ CORE: { CORE: { "displayName": "x" } } });
    assert_eq!(
        patch_err(&user(), json!([{ "op": "add", "value": nested }])).scim_type,
        "invalidPath"
    );
}

#[test]
fn remove_whole_extension_path() {
    let start = with(
        user(),
        json!({ "schemas": [CORE, ENT], ENT: { "employeeNumber": "7" } }),
    );
    let out = patch(&start, json!([{ "op": "remove", "path": ENT }]));
    assert!(out.get(ENT).is_none(), "{out}");
    assert_eq!(out["schemas"], json!([CORE]));
}

#[test]
fn remove_from_missing_extension_is_a_no_op() {
    let out = patch(
        &user(),
        json!([{ "op": "remove", "path": format!("{ENT}:employeeNumber") }]),
    );
    assert_eq!(out, user());
}

// ---- one attribute set twice in a path-less value -----------------------

#[test]
fn pathless_value_setting_one_attribute_twice_is_refused() {
    let twice = [
        json!({ "displayName": "a", format!("{CORE}:displayName"): "b" }),
        json!({ "displayName": "a", "DISPLAYNAME": "b" }),
        json!({ "name": { "givenName": "a" }, "name.givenName": "b" }),
        json!({ CORE: { "displayName": "a" }, "displayName": "b" }),
        json!({ ENT: { "employeeNumber": "1" }, format!("{ENT}:employeeNumber"): "2" }),
        json!({ ENT: null, format!("{ENT}:employeeNumber"): "2" }),
        json!({ "emails": [{ "value": "a@x" }], "emails.value": "b@x" }),
        // A value filter: beside the whole attribute, the same sub-attribute
        // of every element, the whole element, or the same filter spelt
        // another way.
        json!({ "emails": [{ "value": "a@x" }], "emails[type eq \"work\"].value": "b@x" }),
        json!({ "emails.value": "a@x", "emails[type eq \"work\"].value": "b@x" }),
        json!({ "emails[type eq \"work\"]": { "value": "a@x" }, "emails[type eq \"work\"].value": "b@x" }),
        json!({ "emails[type eq \"work\"].value": "a@x", "EMAILS[Type EQ  \"Work\"].Value": "b@x" }),
    ];
    for value in twice {
        let e = patch_err(
            &user(),
            json!([{ "op": "replace", "value": value.clone() }]),
        );
        assert_eq!(e.scim_type, "invalidValue", "{value}");
        assert!(e.detail.contains("twice"), "{value}: {}", e.detail);
    }
}

#[test]
fn pathless_value_with_different_value_filters_applies_each() {
    let out = patch(
        &user(),
        json!([{ "op": "replace", "value": {
            "emails[type eq \"work\"].value": "w@x",
            "emails[type eq \"home\"].value": "h@x",
            "emails[type eq \"work\"].primary": true,
        } }]),
    );
    let emails = out["emails"].as_array().unwrap();
    let of = |t: &str| emails.iter().find(|e| e["type"] == t).cloned().unwrap();
    assert_eq!(of("work")["value"], json!("w@x"), "{out}");
    assert_eq!(of("work")["primary"], json!(true), "{out}");
    assert_eq!(of("home")["value"], json!("h@x"), "{out}");
}

#[test]
fn pathless_value_setting_different_sub_attributes_applies_both() {
    for op in ["add", "replace"] {
        let out = patch(
            &user(),
            json!([{ "op": op, "value": {
                "name": { "familyName": "F" }, "name.givenName": "G",
                ENT: { "employeeNumber": "7" }, format!("{ENT}:department"): "D",
            } }]),
        );
        assert_eq!(out["name"]["givenName"], json!("G"), "{op}");
        assert_eq!(out["name"]["familyName"], json!("F"), "{op}");
        assert_eq!(out[ENT]["employeeNumber"], json!("7"), "{op}");
        assert_eq!(out[ENT]["department"], json!("D"), "{op}");
    }
}
