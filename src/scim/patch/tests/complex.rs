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

#[test]
fn a_bare_scalar_for_a_complex_attribute_without_value_is_refused() {
    for ops in [
        json!([{ "op": "replace", "path": "name", "value": "str" }]),
        json!([{ "op": "add", "value": { "name": 7 } }]),
        json!([{ "op": "replace", "path": "name", "value": ["str"] }]),
    ] {
        let e = patch_err(&user(), ops.clone());
        assert_eq!(e.scim_type, "invalidValue", "{ops}");
    }
    // A complex attribute with a `value` takes a bare scalar as its value.
    let out = patch(
        &user(),
        json!([{ "op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m1" }]),
    );
    assert_eq!(
        out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"],
        json!({ "value": "m1" })
    );
    let out = patch(
        &user(),
        json!([{ "op": "add", "path": "emails", "value": "a@x" }]),
    );
    assert_eq!(out["emails"], json!([{ "value": "a@x" }]));
}
