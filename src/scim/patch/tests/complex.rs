//! Complex single-valued attributes (`name`).

use super::*;

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
