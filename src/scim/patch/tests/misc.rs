//! Everything else: op names, server-owned and unknown attributes, atomicity.

use super::*;

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
    let id = user()["id"].clone();
    let out = patch(
        &user(),
        json!([
            { "op": "replace", "path": "id", "value": id },
            { "op": "replace", "value": { "ID": id, "displayName": "x" } },
            { "op": "remove", "path": "meta" },
            { "op": "replace", "path": "meta.resourceType", "value": "Group" },
            { "op": "add", "value": { "schemas": ["x"], "displayName": "ok" } }
        ]),
    );
    assert_eq!(out, with(user(), json!({ "displayName": "ok" })));
}

/// RFC 7644 §3.5.2: `id` is readOnly, so an operation that would change or
/// remove it is refused, with a path or inside a path-less value.
#[test]
fn changing_or_removing_the_id_is_refused() {
    for ops in [
        json!([{ "op": "replace", "path": "id", "value": "hijack" }]),
        json!([{ "op": "add", "path": "ID", "value": "hijack" }]),
        json!([{ "op": "remove", "path": "id" }]),
        json!([{ "op": "replace", "path": "id", "value": null }]),
        json!([{ "op": "replace", "path": "id", "value": 7 }]),
        json!([{ "op": "replace", "value": { "id": "hijack", "displayName": "x" } }]),
        json!([{ "op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:id", "value": "h" }]),
    ] {
        let e = patch_err(&user(), ops.clone());
        assert_eq!(e.scim_type, "mutability", "{ops}");
        assert!(e.detail.contains("readOnly"), "{ops}: {}", e.detail);
    }
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
