//! Booleans and simple attributes, in the shapes Entra sends.

use super::*;

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
