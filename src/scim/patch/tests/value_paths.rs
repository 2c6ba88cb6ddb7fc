//! Filtered value paths (`emails[type eq "work"].value`).

use super::*;

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
