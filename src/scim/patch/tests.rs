use super::*;
use crate::scim::attr::{AttrKind, AttrPath};
use crate::scim::test_schema::{TestSchema, CORE, ENT};
use serde_json::json;

fn body(ops: Value) -> Value {
    json!({ "schemas": [PATCH_OP_URN], "Operations": ops })
}

fn try_patch(resource: &Value, ops: Value) -> Result<Value, PatchError> {
    let ops = parse_patch(&body(ops))?;
    let mut out = resource.clone();
    apply_patch(&mut out, &ops, &TestSchema)?;
    Ok(out)
}

fn patch(resource: &Value, ops: Value) -> Value {
    try_patch(resource, ops).expect("patch should apply")
}

fn patch_err(resource: &Value, ops: Value) -> PatchError {
    try_patch(resource, ops).expect_err("patch should fail")
}

fn parse_err(body: Value) -> PatchError {
    parse_patch(&body).expect_err("body should be rejected")
}

fn user() -> Value {
    json!({ "schemas": [CORE], "id": "42", "userName": "bjensen", "meta": { "resourceType": "User" } })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

fn group(members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    json!({ "schemas": [CORE], "id": "g1", "displayName": "G", "members": members })
}

// ---- parse_patch -------------------------------------------------------

#[test]
fn parse_accepts_op_names_in_any_case() {
    let ops = parse_patch(&body(json!([
        { "op": "Add", "path": "displayName", "value": "a" },
        { "op": "add", "path": "displayName", "value": "a" },
        { "op": "ADD", "path": "displayName", "value": "a" },
        { "op": "Replace", "path": "displayName", "value": "a" },
        { "op": "REPLACE", "path": "displayName", "value": "a" },
        { "op": "Remove", "path": "displayName" },
        { "op": "remove", "path": "displayName" },
    ])))
    .unwrap();
    let kinds: Vec<OpKind> = ops.iter().map(|o| o.op).collect();
    use OpKind::*;
    assert_eq!(kinds, [Add, Add, Add, Replace, Replace, Remove, Remove]);
}

#[test]
fn parse_keeps_path_structure_and_value() {
    let ops = parse_patch(&body(json!([
        { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "x@y" }
    ])))
    .unwrap();
    let path = ops[0].path.as_ref().unwrap();
    assert_eq!(path.attr, AttrPath::new("emails"));
    assert_eq!(path.value_sub.as_deref(), Some("value"));
    assert!(path.filter.is_some());
    assert_eq!(ops[0].value, Some(json!("x@y")));
}

#[test]
fn parse_accepts_case_insensitive_member_names() {
    let ops = parse_patch(&json!({
        "Schemas": [PATCH_OP_URN.to_uppercase()],
        "operations": [{ "Op": "Replace", "Path": "active", "Value": false }]
    }))
    .unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].op, OpKind::Replace);
    assert_eq!(ops[0].value, Some(json!(false)));
}

#[test]
fn parse_keeps_null_value_as_present() {
    let ops = parse_patch(&body(
        json!([{ "op": "replace", "path": "displayName", "value": null }]),
    ))
    .unwrap();
    assert_eq!(ops[0].value, Some(Value::Null));
}

#[test]
fn parse_treats_empty_path_as_absent() {
    let ops = parse_patch(&body(
        json!([{ "op": "add", "path": "", "value": { "displayName": "x" } }]),
    ))
    .unwrap();
    assert_eq!(ops[0].path, None);
}

#[test]
fn parse_rejects_non_object_body() {
    assert_eq!(parse_err(json!([1, 2])).scim_type, "invalidSyntax");
}

#[test]
fn parse_rejects_missing_schemas() {
    let e = parse_err(json!({ "Operations": [{ "op": "remove", "path": "x" }] }));
    assert_eq!(e.scim_type, "invalidSyntax");
    assert!(e.detail.contains(PATCH_OP_URN), "{}", e.detail);
}

#[test]
fn parse_rejects_wrong_schema() {
    let e =
        parse_err(json!({ "schemas": [CORE], "Operations": [{ "op": "remove", "path": "x" }] }));
    assert_eq!(e.scim_type, "invalidSyntax");
}

#[test]
fn parse_rejects_missing_operations() {
    let e = parse_err(json!({ "schemas": [PATCH_OP_URN] }));
    assert_eq!(
        (e.scim_type, e.detail.as_str()),
        ("invalidSyntax", "\"Operations\" is missing")
    );
}

#[test]
fn parse_rejects_empty_or_non_array_operations() {
    assert_eq!(
        parse_err(body(json!([]))).detail,
        "\"Operations\" must not be empty"
    );
    assert_eq!(
        parse_err(body(json!({ "op": "add" }))).detail,
        "\"Operations\" must be an array"
    );
}

#[test]
fn parse_rejects_more_than_1000_operations() {
    let ops = vec![json!({ "op": "remove", "path": "displayName" }); 1001];
    let e = parse_err(body(Value::Array(ops)));
    assert_eq!(e.scim_type, "invalidSyntax");
    assert!(e.detail.contains("1001"), "{}", e.detail);
    let ok = vec![json!({ "op": "remove", "path": "displayName" }); 1000];
    assert_eq!(parse_patch(&body(Value::Array(ok))).unwrap().len(), 1000);
}

#[test]
fn parse_rejects_unknown_op() {
    let e = parse_err(body(json!([
        { "op": "add", "path": "displayName", "value": "x" },
        { "op": "merge", "path": "displayName", "value": "x" }
    ])));
    assert_eq!(e.scim_type, "invalidSyntax");
    assert_eq!(e.detail, "operation 2: unknown op \"merge\"");
}

#[test]
fn error_details_clip_huge_client_text() {
    let long = "x".repeat(10_000);
    let e = parse_err(body(json!([{ "op": long, "path": "a" }])));
    assert_eq!(
        e.detail,
        format!("operation 1: unknown op \"{}\"...", "x".repeat(200))
    );
    let e = parse_err(body(
        json!([{ "op": "add", "path": format!("a.{long}"), "value": 1 }]),
    ));
    assert_eq!(e.scim_type, "invalidPath");
    assert!(e.detail.len() < 1000, "{}", e.detail.len());
}

#[test]
fn parse_rejects_missing_op_and_non_object_op() {
    assert_eq!(
        parse_err(body(json!([{ "path": "x" }]))).scim_type,
        "invalidSyntax"
    );
    assert_eq!(
        parse_err(body(json!(["add"]))).detail,
        "operation 1: must be a JSON object"
    );
}

#[test]
fn parse_remove_without_path_is_no_target() {
    let e = parse_err(body(
        json!([{ "op": "Remove", "value": { "displayName": "x" } }]),
    ));
    assert_eq!(e.scim_type, "noTarget");
    assert_eq!(e.detail, "operation 1 (remove): remove requires a \"path\"");
}

#[test]
fn parse_add_or_replace_without_value_is_invalid_syntax() {
    for op in ["add", "replace"] {
        let e = parse_err(body(json!([{ "op": op, "path": "displayName" }])));
        assert_eq!(e.scim_type, "invalidSyntax");
        assert_eq!(
            e.detail,
            format!("operation 1 ({op} \"displayName\"): \"value\" is required")
        );
    }
}

#[test]
fn parse_bad_path_is_invalid_path_with_parser_message() {
    let e = parse_err(body(
        json!([{ "op": "replace", "path": "emails[type eq \"work\"", "value": "x" }]),
    ));
    assert_eq!(e.scim_type, "invalidPath");
    assert!(
        e.detail
            .starts_with("operation 1 (replace \"emails[type eq \\\"work\\\"\"): "),
        "{}",
        e.detail
    );
    assert!(e.detail.contains("(at character"), "{}", e.detail);
    let e = parse_err(body(json!([{ "op": "remove", "path": 7 }])));
    assert_eq!(e.scim_type, "invalidPath");
}

// ---- Entra shapes: booleans and simple attributes ----------------------

#[test]
fn entra_replace_active_string_false() {
    let out = patch(
        &user(),
        json!([{ "op": "Replace", "path": "active", "value": "False" }]),
    );
    assert_eq!(out["active"], json!(false));
}

#[test]
fn entra_replace_active_bool_false() {
    let out = patch(
        &with(user(), json!({ "active": true })),
        json!([{ "op": "replace", "path": "active", "value": false }]),
    );
    assert_eq!(out["active"], json!(false));
}

#[test]
fn replace_active_string_true_any_case() {
    let out = patch(
        &user(),
        json!([{ "op": "Replace", "path": "active", "value": "TRUE" }]),
    );
    assert_eq!(out["active"], json!(true));
}

#[test]
fn pathless_replace_coerces_booleans_and_integers() {
    let out = patch(
        &user(),
        json!([{ "op": "Replace", "value": { "active": "True", "loginCount": "7" } }]),
    );
    assert_eq!(out["active"], json!(true));
    assert_eq!(out["loginCount"], json!(7));
}

#[test]
fn entra_pathless_dotted_keys() {
    let start = with(user(), json!({ "name": { "formatted": "Babs J" } }));
    let out = patch(
        &start,
        json!([{ "op": "Replace", "value": { "displayName": "A", "name.givenName": "B", "name.familyName": "C" } }]),
    );
    assert_eq!(out["displayName"], json!("A"));
    assert_eq!(
        out["name"],
        json!({ "givenName": "B", "familyName": "C", "formatted": "Babs J" })
    );
}

#[test]
fn pathless_add_dotted_keys_create_complex() {
    let out = patch(
        &user(),
        json!([{ "op": "Add", "value": { "name.givenName": "B" } }]),
    );
    assert_eq!(out["name"], json!({ "givenName": "B" }));
}

#[test]
fn names_resolve_case_insensitively_to_canonical_spelling() {
    let out = patch(
        &user(),
        json!([
            { "op": "replace", "path": "USERNAME", "value": "babs" },
            { "op": "add", "path": "Name.GIVENNAME", "value": "Barbara" }
        ]),
    );
    assert_eq!(out["userName"], json!("babs"));
    assert_eq!(out["name"], json!({ "givenName": "Barbara" }));
    assert!(out.get("USERNAME").is_none());
}

#[test]
fn existing_key_with_other_case_is_renamed_not_duplicated() {
    let start = json!({ "username": "old" });
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": "userName", "value": "new" }]),
    );
    assert_eq!(out, json!({ "userName": "new" }));
}

#[test]
fn core_urn_prefixed_path_is_top_level() {
    let out = patch(
        &user(),
        json!([{ "op": "replace", "path": format!("{CORE}:displayName"), "value": "Babs" }]),
    );
    assert_eq!(out["displayName"], json!("Babs"));
}

// ---- value paths -------------------------------------------------------

#[test]
fn entra_add_filtered_phone_creates_element() {
    let out = patch(
        &user(),
        json!([{ "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555" }]),
    );
    assert_eq!(
        out["phoneNumbers"],
        json!([{ "type": "mobile", "value": "+1 555" }])
    );
}

#[test]
fn add_filtered_sub_updates_only_matching_element() {
    let start = with(
        user(),
        json!({ "phoneNumbers": [{ "type": "work", "value": "1" }, { "type": "mobile", "value": "2" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "3" }]),
    );
    assert_eq!(
        out["phoneNumbers"],
        json!([{ "type": "work", "value": "1" }, { "type": "mobile", "value": "3" }])
    );
}

#[test]
fn replace_filtered_sub_creates_when_nothing_matches() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "home", "value": "h@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x" }]),
    );
    assert_eq!(
        out["emails"],
        json!([{ "type": "home", "value": "h@x" }, { "type": "work", "value": "w@x" }])
    );
}

#[test]
fn replace_filtered_sub_matches_filter_case_insensitively() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "Work", "value": "old@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": "emails[TYPE eq \"work\"].VALUE", "value": "new@x" }]),
    );
    assert_eq!(out["emails"], json!([{ "type": "Work", "value": "new@x" }]));
}

#[test]
fn filtered_primary_sub_is_coerced_and_exclusive() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "home", "value": "h@x", "primary": true }, { "type": "work", "value": "w@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": "emails[type eq \"work\"].primary", "value": "True" }]),
    );
    assert_eq!(
        out["emails"],
        json!([{ "type": "home", "value": "h@x", "primary": false }, { "type": "work", "value": "w@x", "primary": true }])
    );
}

#[test]
fn entra_remove_filtered_sub_value_without_value_member() {
    let start = with(
        user(),
        json!({ "phoneNumbers": [{ "type": "mobile", "value": "1" }, { "type": "work", "value": "2" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value" }]),
    );
    assert_eq!(
        out["phoneNumbers"],
        json!([{ "type": "work", "value": "2" }])
    );
}

#[test]
fn entra_remove_filtered_sub_value_with_value_member() {
    let start = with(
        user(),
        json!({ "phoneNumbers": [{ "type": "mobile", "value": "1" }, { "type": "work", "value": "2" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "1" }]),
    );
    assert_eq!(
        out["phoneNumbers"],
        json!([{ "type": "work", "value": "2" }])
    );
}

#[test]
fn remove_filtered_last_element_removes_attribute() {
    let start = with(
        user(),
        json!({ "phoneNumbers": [{ "type": "mobile", "value": "1" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value" }]),
    );
    assert!(out.get("phoneNumbers").is_none(), "{out}");
}

#[test]
fn remove_filtered_other_sub_keeps_element() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "remove", "path": "emails[type eq \"work\"].type" }]),
    );
    assert_eq!(out["emails"], json!([{ "value": "w@x" }]));
}

#[test]
fn remove_filtered_without_match_is_a_no_op() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }]),
    );
    assert_eq!(out, start);
}

#[test]
fn add_value_path_without_sub_merges_into_match() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "add", "path": "emails[type eq \"work\"]", "value": { "primary": "true" } }]),
    );
    assert_eq!(
        out["emails"],
        json!([{ "type": "work", "value": "w@x", "primary": true }])
    );
}

#[test]
fn replace_value_path_without_sub_replaces_match_keeping_eq_terms() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "w@x", "display": "W" }, { "type": "home", "value": "h@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": "emails[type eq \"work\"]", "value": { "value": "n@x" } }]),
    );
    assert_eq!(
        out["emails"],
        json!([{ "type": "work", "value": "n@x" }, { "type": "home", "value": "h@x" }])
    );
}

#[test]
fn value_path_without_sub_creates_from_eq_terms_and_value() {
    let out = patch(
        &user(),
        json!([{ "op": "replace", "path": "emails[type eq \"work\"]", "value": { "Value": "w@x" } }]),
    );
    assert_eq!(out["emails"], json!([{ "type": "work", "value": "w@x" }]));
}

#[test]
fn filter_without_eq_terms_and_no_match_is_no_target() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
    );
    let e = patch_err(
        &start,
        json!([{ "op": "add", "path": "emails[value co \"@nowhere\"].type", "value": "other" }]),
    );
    assert_eq!(e.scim_type, "noTarget");
    assert!(
        e.detail
            .starts_with("operation 1 (add \"emails[value co \\\"@nowhere\\\"].type\"): "),
        "{}",
        e.detail
    );
}

#[test]
fn value_path_on_simple_attribute_is_invalid_path() {
    let e = patch_err(
        &user(),
        json!([{ "op": "replace", "path": "userName[value eq \"x\"]", "value": "y" }]),
    );
    assert_eq!(e.scim_type, "invalidPath");
    let e = patch_err(
        &user(),
        json!([{ "op": "replace", "path": "active.value", "value": true }]),
    );
    assert_eq!(e.scim_type, "invalidPath");
}

#[test]
fn sub_path_on_multi_valued_sets_every_element() {
    let start = with(
        user(),
        json!({ "emails": [{ "value": "a@x" }, { "value": "b@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": "emails.type", "value": "work" }]),
    );
    assert_eq!(
        out["emails"],
        json!([{ "value": "a@x", "type": "work" }, { "value": "b@x", "type": "work" }])
    );
}

// ---- complex single-valued ---------------------------------------------

#[test]
fn add_complex_merges_sub_attributes() {
    let start = with(
        user(),
        json!({ "name": { "givenName": "Barbara", "familyName": "Jensen" } }),
    );
    let out = patch(
        &start,
        json!([{ "op": "add", "path": "name", "value": { "FamilyName": "J", "formatted": "B J" } }]),
    );
    assert_eq!(
        out["name"],
        json!({ "givenName": "Barbara", "familyName": "J", "formatted": "B J" })
    );
}

#[test]
fn replace_complex_merges_and_null_sub_removes() {
    let start = with(
        user(),
        json!({ "name": { "givenName": "Barbara", "familyName": "Jensen" } }),
    );
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": "name", "value": { "givenName": "Babs", "familyName": null } }]),
    );
    assert_eq!(out["name"], json!({ "givenName": "Babs" }));
}

#[test]
fn remove_sub_attribute_and_empty_parent() {
    let start = with(
        user(),
        json!({ "name": { "givenName": "Barbara", "familyName": "Jensen" } }),
    );
    let out = patch(
        &start,
        json!([{ "op": "remove", "path": "name.givenName" }]),
    );
    assert_eq!(out["name"], json!({ "familyName": "Jensen" }));
    let out = patch(&out, json!([{ "op": "remove", "path": "name.familyName" }]));
    assert!(out.get("name").is_none(), "{out}");
}

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

// ---- members -----------------------------------------------------------

#[test]
fn entra_add_members_array_of_several() {
    let out = patch(
        &group(&["u1"]),
        json!([{ "op": "Add", "path": "members", "value": [{ "value": "u2" }, { "value": "u3" }, { "value": "u1" }] }]),
    );
    assert_eq!(
        out["members"],
        json!([{ "value": "u1" }, { "value": "u2" }, { "value": "u3" }])
    );
}

#[test]
fn add_members_to_group_without_members_ignores_null_refs() {
    let start = json!({ "displayName": "G" });
    let out = patch(
        &start,
        json!([{ "op": "add", "path": "members", "value": [{ "$ref": null, "value": "u1" }] }]),
    );
    assert_eq!(out["members"], json!([{ "value": "u1" }]));
}

#[test]
fn entra_remove_members_with_value_array_removes_only_listed() {
    let out = patch(
        &group(&["u1", "u2", "u3"]),
        json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": "u1" }, { "value": "u3" }] }]),
    );
    assert_eq!(out["members"], json!([{ "value": "u2" }]));
}

#[test]
fn remove_members_value_match_is_case_sensitive() {
    let out = patch(
        &group(&["u1"]),
        json!([{ "op": "Remove", "path": "members", "value": [{ "value": "U1" }] }]),
    );
    assert_eq!(out["members"], json!([{ "value": "u1" }]));
}

#[test]
fn remove_members_with_empty_value_list_removes_nothing() {
    let out = patch(
        &group(&["u1", "u2"]),
        json!([{ "op": "Remove", "path": "members", "value": [] }]),
    );
    assert_eq!(
        out["members"],
        json!([{ "value": "u1" }, { "value": "u2" }])
    );
}

#[test]
fn remove_all_listed_members_unassigns_attribute() {
    let out = patch(
        &group(&["u1"]),
        json!([{ "op": "remove", "path": "members", "value": { "value": "u1" } }]),
    );
    assert!(out.get("members").is_none(), "{out}");
}

#[test]
fn remove_members_value_filter() {
    let out = patch(
        &group(&["u1", "u2"]),
        json!([{ "op": "remove", "path": "members[value eq \"u1\"]" }]),
    );
    assert_eq!(out["members"], json!([{ "value": "u2" }]));
}

#[test]
fn remove_members_without_value_removes_all() {
    let out = patch(
        &group(&["u1", "u2"]),
        json!([{ "op": "remove", "path": "members" }]),
    );
    assert!(out.get("members").is_none(), "{out}");
}

#[test]
fn replace_members_with_array() {
    let out = patch(
        &group(&["u1", "u2"]),
        json!([{ "op": "Replace", "path": "members", "value": [{ "value": "u3" }, { "value": "u4" }] }]),
    );
    assert_eq!(
        out["members"],
        json!([{ "value": "u3" }, { "value": "u4" }])
    );
}

#[test]
fn replace_members_with_empty_array_unassigns_attribute() {
    let out = patch(
        &group(&["u1"]),
        json!([{ "op": "replace", "path": "members", "value": [] }]),
    );
    assert!(out.get("members").is_none(), "{out}");
}

#[test]
fn pathless_replace_members_replaces_array() {
    let out = patch(
        &group(&["u1"]),
        json!([{ "op": "replace", "value": { "members": [{ "value": "u9" }] } }]),
    );
    assert_eq!(out["members"], json!([{ "value": "u9" }]));
}

// ---- multi-valued general ----------------------------------------------

#[test]
fn add_single_email_object_appends_with_canonical_keys() {
    let start = with(user(), json!({ "emails": [{ "value": "a@x" }] }));
    let out = patch(
        &start,
        json!([{ "op": "add", "path": "emails", "value": { "VALUE": "b@x", "Type": "work" } }]),
    );
    assert_eq!(
        out["emails"],
        json!([{ "value": "a@x" }, { "value": "b@x", "type": "work" }])
    );
}

#[test]
fn replace_multi_valued_with_single_value_wraps_it() {
    let start = with(
        user(),
        json!({ "emails": [{ "value": "a@x" }, { "value": "b@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "replace", "path": "emails", "value": "c@x" }]),
    );
    assert_eq!(out["emails"], json!([{ "value": "c@x" }]));
}

#[test]
fn added_primary_clears_other_primaries() {
    let start = with(
        user(),
        json!({ "emails": [{ "value": "a@x", "primary": true }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "add", "path": "emails", "value": [{ "value": "b@x", "primary": "True" }] }]),
    );
    assert_eq!(
        out["emails"],
        json!([{ "value": "a@x", "primary": false }, { "value": "b@x", "primary": true }])
    );
}

#[test]
fn null_value_on_add_or_replace_removes_target() {
    let start = with(
        user(),
        json!({ "displayName": "B", "emails": [{ "value": "a@x" }] }),
    );
    let out = patch(
        &start,
        json!([
            { "op": "add", "path": "displayName", "value": null },
            { "op": "replace", "value": { "emails": null } }
        ]),
    );
    assert!(
        out.get("displayName").is_none() && out.get("emails").is_none(),
        "{out}"
    );
}

// ---- misc --------------------------------------------------------------

#[test]
fn op_names_in_every_case_apply() {
    let out = patch(
        &user(),
        json!([
            { "op": "ADD", "path": "displayName", "value": "a" },
            { "op": "Replace", "path": "preferredLanguage", "value": "en" },
            { "op": "add", "path": "externalId", "value": "e" },
            { "op": "REMOVE", "path": "externalId" },
            { "op": "replace", "path": "displayName", "value": "b" }
        ]),
    );
    assert_eq!(out["displayName"], json!("b"));
    assert_eq!(out["preferredLanguage"], json!("en"));
    assert!(out.get("externalId").is_none());
}

#[test]
fn remove_plain_and_missing_attributes() {
    let start = with(user(), json!({ "displayName": "B" }));
    let out = patch(
        &start,
        json!([{ "op": "remove", "path": "displayName" }, { "op": "remove", "path": "nickName" }]),
    );
    assert_eq!(out, user());
}

#[test]
fn server_owned_attributes_are_ignored() {
    let out = patch(
        &user(),
        json!([
            { "op": "replace", "path": "id", "value": "hijack" },
            { "op": "remove", "path": "meta" },
            { "op": "replace", "path": "meta.resourceType", "value": "Group" },
            { "op": "add", "value": { "schemas": ["x"], "ID": "y", "displayName": "ok" } }
        ]),
    );
    assert_eq!(out, with(user(), json!({ "displayName": "ok" })));
}

#[test]
fn unknown_attributes_are_written_as_given() {
    let out = patch(
        &user(),
        json!([
            { "op": "add", "path": "nickName", "value": "Babs" },
            { "op": "add", "value": { "Title": "Dr", "x-custom.level": 3, "weird key!": true } },
            { "op": "add", "path": "roles[type eq \"app\"].value", "value": "admin" }
        ]),
    );
    assert_eq!(out["nickName"], json!("Babs"));
    assert_eq!(out["Title"], json!("Dr"));
    assert_eq!(out["x-custom"], json!({ "level": 3 }));
    assert_eq!(out["weird key!"], json!(true));
    assert_eq!(out["roles"], json!([{ "type": "app", "value": "admin" }]));
}

#[test]
fn unknown_urn_path_writes_into_its_own_object() {
    let out = patch(
        &user(),
        json!([{ "op": "add", "path": "urn:example:ext:1.0:User:level", "value": "5" }]),
    );
    assert_eq!(out["urn:example:ext:1.0:User"], json!({ "level": "5" }));
    assert_eq!(out["schemas"], json!([CORE, "urn:example:ext:1.0:User"]));
}

#[test]
fn unknown_urn_key_with_object_is_an_extension() {
    let out = patch(
        &user(),
        json!([{ "op": "add", "value": { "urn:example:ext:1.0:User": { "level": 5 } } }]),
    );
    assert_eq!(out["urn:example:ext:1.0:User"], json!({ "level": 5 }));
}

#[test]
fn pathless_non_object_value_is_invalid_value() {
    let e = patch_err(&user(), json!([{ "op": "replace", "value": "x" }]));
    assert_eq!(e.scim_type, "invalidValue");
    assert!(
        e.detail.starts_with("operation 1 (replace): "),
        "{}",
        e.detail
    );
    let e = patch_err(&user(), json!([{ "op": "add", "value": { ENT: 5 } }]));
    assert_eq!(e.scim_type, "invalidValue");
}

#[test]
fn error_in_third_operation_leaves_resource_untouched() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
    );
    let mut resource = start.clone();
    let ops = parse_patch(&body(json!([
        { "op": "replace", "path": "displayName", "value": "changed" },
        { "op": "remove", "path": "emails" },
        { "op": "replace", "path": "emails[value sw \"z\"]", "value": { "value": "z@x" } }
    ])))
    .unwrap();
    let e = apply_patch(&mut resource, &ops, &TestSchema).unwrap_err();
    assert_eq!(e.scim_type, "noTarget");
    assert!(
        e.detail
            .starts_with("operation 3 (replace \"emails[value sw \\\"z\\\"]\"): "),
        "{}",
        e.detail
    );
    assert_eq!(resource, start);
}

#[test]
fn non_object_resource_is_rejected_unchanged() {
    let mut resource = json!(["not", "a", "resource"]);
    let ops = parse_patch(&body(json!([{ "op": "remove", "path": "x" }]))).unwrap();
    assert_eq!(
        apply_patch(&mut resource, &ops, &TestSchema)
            .unwrap_err()
            .scim_type,
        "invalidValue"
    );
    assert_eq!(resource, json!(["not", "a", "resource"]));
}

#[test]
fn pathless_value_path_key_behaves_like_path() {
    let out = patch(
        &user(),
        json!([{ "op": "add", "value": { "emails[type eq \"work\"].value": "w@x" } }]),
    );
    assert_eq!(out["emails"], json!([{ "type": "work", "value": "w@x" }]));
}

#[test]
fn filtered_sub_on_single_valued_manager() {
    let start = with(user(), json!({ ENT: { "manager": { "value": "m-1" } } }));
    let path = format!("{ENT}:manager[value eq \"m-1\"].displayName");
    let out = patch(
        &start,
        json!([{ "op": "add", "path": path, "value": "Boss" }]),
    );
    assert_eq!(
        out[ENT]["manager"],
        json!({ "value": "m-1", "displayName": "Boss" })
    );
}

#[test]
fn odd_inputs_never_panic_and_failures_leave_resource_unchanged() {
    let start = json!({
        "schemas": [CORE, ENT], "id": "1", "userName": "u", "roles": ["a", "b"],
        "name": { "givenName": "G" }, "emails": [{ "type": "work", "value": "w@x", "primary": true }, "bare"],
        "members": [{ "value": "u1" }, 7], ENT: { "manager": "legacy-id" }
    });
    let ent_manager = format!("{ENT}:manager");
    let ent_manager_value = format!("{ENT}:manager.value");
    let paths = [
        None,
        Some("emails"),
        Some("emails.value"),
        Some("emails[type eq \"work\"]"),
        Some("emails[value pr]"),
        Some("emails[not (type eq \"x\")].type"),
        Some("name"),
        Some("name.givenName"),
        Some("roles"),
        Some("roles[value eq \"a\"]"),
        Some("members[value eq \"u1\"].display"),
        Some("members"),
        Some(ENT),
        Some(&ent_manager),
        Some(&ent_manager_value),
        Some("urn:x:y"),
        Some("id"),
        Some("$ref"),
        Some("userName"),
    ];
    let values = [
        None,
        Some(json!(null)),
        Some(json!(true)),
        Some(json!("True")),
        Some(json!(1)),
        Some(json!("x")),
        Some(json!([])),
        Some(json!([null])),
        Some(json!([1, "a", {}])),
        Some(json!({})),
        Some(json!({ "value": null })),
        Some(json!({ "a": { "b": [1] }, "primary": "true" })),
        Some(json!([[1]])),
    ];
    let mut applied = 0;
    for op in ["add", "replace", "remove"] {
        for path in paths {
            for value in &values {
                let mut raw = json!({ "op": op });
                if let Some(p) = path {
                    raw["path"] = json!(p);
                }
                if let Some(v) = value {
                    raw["value"] = v.clone();
                }
                let Ok(ops) = parse_patch(&body(json!([raw]))) else {
                    continue;
                };
                let mut resource = start.clone();
                match apply_patch(&mut resource, &ops, &TestSchema) {
                    Ok(()) => applied += 1,
                    Err(e) => assert_eq!(resource, start, "{raw}: {e}"),
                }
            }
        }
    }
    assert!(applied > 500, "{applied}");
}

// ---- coerce ------------------------------------------------------------

#[test]
fn coerce_booleans() {
    assert_eq!(coerce(json!("True"), AttrKind::Boolean), json!(true));
    assert_eq!(coerce(json!("false"), AttrKind::Boolean), json!(false));
    assert_eq!(coerce(json!("yes"), AttrKind::Boolean), json!("yes"));
    assert_eq!(coerce(json!("true"), AttrKind::String), json!("true"));
    assert_eq!(
        coerce(json!(["True", "False"]), AttrKind::Boolean),
        json!([true, false])
    );
}

#[test]
fn coerce_integers() {
    assert_eq!(coerce(json!("42"), AttrKind::Integer), json!(42));
    assert_eq!(coerce(json!("-7"), AttrKind::Integer), json!(-7));
    assert_eq!(
        coerce(json!("18446744073709551615"), AttrKind::Integer),
        json!(u64::MAX)
    );
    assert_eq!(coerce(json!("4.5"), AttrKind::Integer), json!("4.5"));
    assert_eq!(
        coerce(json!("99999999999999999999"), AttrKind::Integer),
        json!("99999999999999999999")
    );
}

#[test]
fn coerce_decimals_only_when_lossless() {
    assert_eq!(coerce(json!("1.5"), AttrKind::Decimal), json!(1.5));
    assert_eq!(coerce(json!("10"), AttrKind::Decimal), json!(10));
    assert_eq!(coerce(json!("2.5e3"), AttrKind::Decimal), json!(2500.0));
    for lossy in [
        "0.12345678901234567",
        "1e400",
        "1e-400",
        "NaN",
        "inf",
        "1.2.3",
        ".",
        "abc",
    ] {
        assert_eq!(
            coerce(json!(lossy), AttrKind::Decimal),
            json!(lossy),
            "{lossy}"
        );
    }
}

#[test]
fn member_ops_split_from_the_rest_key_by_key() {
    let ops = parse_patch(&body(json!([
        {"op": "add", "path": "members", "value": [{"value": "1"}]},
        {"op": "replace", "value": {"Members": [{"value": "2"}], "displayName": "x"}},
        {"op": "replace", "path": "displayName", "value": "y"}
    ])))
    .unwrap();
    let (members, other) = split_member_ops(&ops, "members");
    assert_eq!(members.len(), 2);
    assert_eq!(members[1].value, Some(json!([{"value": "2"}])));
    assert_eq!(other.len(), 2);
    assert_eq!(other[0].value, Some(json!({"displayName": "x"})));
}

#[test]
fn member_delta_matches_filters_against_the_mapped_member_type() {
    let current = vec!["1".to_string(), "2".to_string()];
    let ops = parse_patch(&body(json!([
        {"op": "remove", "path": "members[type eq \"Group\" and value eq \"1\"]"},
        {"op": "add", "path": "members", "value": [{"value": "3"}, "2"]}
    ])))
    .unwrap();
    let (add, remove) = member_delta(&current, &ops, "members", "Group", &TestSchema).unwrap();
    assert_eq!(
        (add, remove),
        (vec!["3".to_string()], vec!["1".to_string()])
    );
    // The same filter names no member when the members are users.
    let (_, remove) = member_delta(&current, &ops, "members", "User", &TestSchema).unwrap();
    assert!(remove.is_empty());
    let bad = parse_patch(&body(
        json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}]),
    ))
    .unwrap();
    let e = member_delta(&current, &bad, "members", "User", &TestSchema).unwrap_err();
    assert_eq!(e.scim_type, "invalidValue");
}
