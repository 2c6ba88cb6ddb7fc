//! Multi-valued attributes in general.

use super::*;

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
