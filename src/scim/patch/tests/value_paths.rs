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

// A remove's `value` says what to remove (Entra sends the old value): a
// target holding something else stays.

#[test]
fn remove_filtered_sub_value_with_another_value_keeps_the_current_one() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "current@x.com" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "emails[type eq \"work\"].value", "value": "stale@x.com" }]),
    );
    assert_eq!(out, start);
    // The same value in another case is the same address (`emails.value` is not case-exact).
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "emails[type eq \"work\"].value", "value": "CURRENT@x.com" }]),
    );
    assert!(out.get("emails").is_none(), "{out}");
}

#[test]
fn add_new_then_remove_old_in_one_patch_keeps_the_new_value() {
    let start = with(
        user(),
        json!({ "phoneNumbers": [{ "type": "mobile", "value": "+44" }] }),
    );
    let out = patch(
        &start,
        json!([
            { "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+55" },
            { "op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+44" }
        ]),
    );
    assert_eq!(
        out["phoneNumbers"],
        json!([{ "type": "mobile", "value": "+55" }])
    );
}

#[test]
fn remove_filtered_element_with_a_value_removes_only_a_matching_element() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "w@x" }, { "type": "home", "value": "h@x" }] }),
    );
    for stale in [
        json!([{ "value": "old@x" }]),
        json!({ "value": "old@x" }),
        json!("old@x"),
    ] {
        let out = patch(
            &start,
            json!([{ "op": "Remove", "path": "emails[type eq \"work\"]", "value": stale }]),
        );
        assert_eq!(out, start, "{stale}");
    }
    for named in [
        json!([{ "value": "w@x" }]),
        json!({ "value": "W@X" }),
        json!("w@x"),
        json!({ "type": "work" }),
    ] {
        let out = patch(
            &start,
            json!([{ "op": "Remove", "path": "emails[type eq \"work\"]", "value": named }]),
        );
        assert_eq!(
            out["emails"],
            json!([{ "type": "home", "value": "h@x" }]),
            "{named}"
        );
    }
    // An empty object names nothing.
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "emails[type eq \"work\"]", "value": {} }]),
    );
    assert_eq!(out, start);
}

#[test]
fn remove_sub_value_of_every_element_with_a_value_touches_only_matching_ones() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "w@x" }, { "type": "home", "value": "h@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "emails.value", "value": "h@x" }]),
    );
    assert_eq!(out["emails"], json!([{ "type": "work", "value": "w@x" }]));
}

#[test]
fn remove_whole_multi_valued_attribute_with_a_value_compares_per_case_rule() {
    let start = with(
        user(),
        json!({ "emails": [{ "type": "work", "value": "e@x.com" }, { "type": "home", "value": "h@x" }] }),
    );
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "emails", "value": [{ "value": "E@X.com" }] }]),
    );
    assert_eq!(out["emails"], json!([{ "type": "home", "value": "h@x" }]));
}

#[test]
fn remove_single_valued_with_a_value_removes_only_that_value() {
    let start = with(
        user(),
        json!({
            "displayName": "Babs",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "manager": { "value": "m1" } }
        }),
    );
    let manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    for (path, stale) in [
        ("displayName", json!("Someone else")),
        ("name.givenName", json!("Other")),
        ("name", json!({ "givenName": "Other" })),
        (manager, json!({ "value": "m2" })),
        (manager, json!("m2")),
    ] {
        let out = patch(
            &start,
            json!([{ "op": "Remove", "path": path, "value": stale }]),
        );
        assert_eq!(out, start, "{path} {stale}");
    }
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "displayName", "value": "babs" }]),
    );
    assert!(out.get("displayName").is_none(), "{out}");
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "name.givenName", "value": "Barbara" }]),
    );
    assert_eq!(out["name"], json!({ "familyName": "Jensen" }));
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "name", "value": { "givenName": "barbara" } }]),
    );
    assert!(out.get("name").is_none(), "{out}");
    for named in [
        json!({ "value": "m1" }),
        json!("m1"),
        json!([{ "value": "m1" }]),
    ] {
        let out = patch(
            &start,
            json!([{ "op": "Remove", "path": manager, "value": named }]),
        );
        assert!(
            out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
                .get("manager")
                .is_none(),
            "{named}: {out}"
        );
    }
    // Without a value (or with null) the target goes whatever it holds.
    for op in [
        json!({ "op": "Remove", "path": "displayName" }),
        json!({ "op": "Remove", "path": "displayName", "value": null }),
        json!({ "op": "Replace", "path": "displayName", "value": null }),
    ] {
        let out = patch(&start, json!([op]));
        assert!(out.get("displayName").is_none(), "{out}");
    }
}

#[test]
fn remove_from_a_simple_multi_valued_attribute_compares_per_its_case_rule() {
    let start = with(user(), json!({ "tags": ["admin", "ops", 7] }));
    let out = patch(
        &start,
        json!([{ "op": "Remove", "path": "tags", "value": ["ADMIN", 7, "none"] }]),
    );
    assert_eq!(out["tags"], json!(["ops"]));
}
