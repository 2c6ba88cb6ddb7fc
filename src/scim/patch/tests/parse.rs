//! `parse_patch`: the PatchOp envelope and its operations.

use super::*;

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
