//! Group members: add, remove, replace, and the membership delta.

use super::*;

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

#[test]
fn member_delta_remove_with_filter_and_value_removes_only_members_both_name() {
    let current = vec!["1".to_string(), "2".to_string()];
    let delta = |ops: Value| {
        let ops = parse_patch(&body(ops)).unwrap();
        member_delta(&current, &ops, "members", "User", &TestSchema).unwrap()
    };
    let (_, remove) = delta(json!([
        {"op": "remove", "path": "members[value eq \"1\"]", "value": [{"value": "2"}]}
    ]));
    assert!(remove.is_empty(), "{remove:?}");
    let (_, remove) = delta(json!([
        {"op": "remove", "path": "members[type eq \"User\"]", "value": [{"value": "2"}]}
    ]));
    assert_eq!(remove, vec!["2".to_string()]);
    let (_, remove) = delta(json!([
        {"op": "remove", "path": "members[type eq \"User\"]", "value": null}
    ]));
    assert_eq!(remove, current);
}
