use super::*;

fn mapping(language_attr: &str) -> String {
    format!(
        r#"
version: 1
backend:
  base_url: http://127.0.0.1:9
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    id: {{ field: id }}
    operations:
      list: {{ path: /u, items: "$.items[*]", total: "$.total", paging: {{ style: offset, max_page_size: 100 }} }}
      get: {{ path: "/u/{{id}}" }}
    attributes:
      - {{ scim: userName, field: login, required: true }}
      - {language_attr}
"#
    )
}

fn schema_attr<'a>(r: &'a ResourcePlan, name: &str) -> &'a SchemaAttr {
    r.schemas[0].attrs.iter().find(|a| a.name == name).unwrap()
}

#[test]
fn unknown_key_gets_a_suggestion_and_keeps_line_and_column() {
    let errs = compile_text(
        "m.yaml",
        &mapping("{ scim: preferredLanguage, field: lang, trasforms: [language_only] }"),
        None,
        &None,
    )
    .unwrap_err();
    let m = &errs[0].message;
    assert!(
        m.contains("unknown key `trasforms` — did you mean `transforms`?"),
        "{m}"
    );
    assert!(m.contains("line 15 column"), "{m}");
    assert!(!m.contains("expected one of"), "{m}");
}

#[test]
fn canonical_values_are_advertised_in_the_schema() {
    let plans = compile_text(
        "m.yaml",
        &mapping("{ scim: preferredLanguage, field: lang, canonical_values: [nl, fr] }"),
        None,
        &None,
    )
    .unwrap();
    assert_eq!(
        schema_attr(&plans[0], "preferredLanguage").canonical_values,
        ["nl", "fr"]
    );
}

#[test]
fn canonical_values_default_to_the_value_map_keys() {
    let plans = compile_text(
        "m.yaml",
        &mapping("{ scim: title, field: t, values: { Boss: B, Clerk: C } }"),
        None,
        &None,
    )
    .unwrap();
    assert_eq!(
        schema_attr(&plans[0], "title").canonical_values,
        ["Boss", "Clerk"]
    );
}

#[test]
fn canonical_values_are_checked() {
    let errs = compile_text(
        "m.yaml",
        &mapping("{ scim: active, field: a, type: boolean, canonical_values: [x] }"),
        None,
        &None,
    )
    .unwrap_err();
    assert!(
        errs[0].message.contains("string attributes only"),
        "{errs:?}"
    );
    let errs = compile_text(
        "m.yaml",
        &mapping("{ scim: title, field: t, values: { Boss: B }, canonical_values: [Clerk] }"),
        None,
        &None,
    )
    .unwrap_err();
    assert!(
        errs[0].message.contains("not a key of `values`"),
        "{errs:?}"
    );
}

/// Fuzzing found this (fuzz/regressions/attr_path): the JSONPath parser took
/// over a second on it. Long or deeply nested JSONPaths are refused up front.
#[test]
fn oversized_or_deeply_nested_jsonpaths_are_refused_before_parsing() {
    let found = include_str!("../../../fuzz/regressions/attr_path/slow-jsonpath-nested-filters");
    let e = compile_read(found.lines().next().unwrap()).unwrap_err();
    assert!(e.contains("longer than 256 characters"), "{e}");
    let nested = format!("$.a{}{}", "[?(@.b".repeat(4), ")]".repeat(4));
    let e = compile_read(&nested).unwrap_err();
    assert!(e.contains("nested 8 deep (at most 6)"), "{e}");
    // Real filters stay well inside both limits.
    assert!(compile_read("$.data[?(@.kind == 'office')].number").is_ok());
}

#[test]
fn conflict_defaults_follow_the_version_style() {
    let base = mapping("{ scim: displayName, field: dn }");
    let with = |extra: &str| {
        let text = base.replace("    operations:", &format!("{extra}    operations:"));
        compile_text("t.yaml", &text, None, &None)
            .unwrap()
            .remove(0)
    };
    assert_eq!(
        with("").conflict_status,
        None,
        "no version: no conflict status"
    );
    assert_eq!(
        with("    version: { field: v }\n").conflict_status,
        Some(409)
    );
    assert_eq!(
        with("    version: { etag: true }\n").conflict_status,
        Some(412)
    );
    assert_eq!(
        with("    version: { etag: true, field: v }\n    conflict: { status: 409 }\n")
            .conflict_status,
        Some(409)
    );
}

/// A filter `param` may carry brackets (`filter[username]`): accepted, and
/// percent-encoded on the wire.
#[test]
fn bracketed_filter_param_is_accepted_and_encoded() {
    let text = mapping("{ scim: displayName, field: dn }").replace(
        "    attributes:",
        "    filters:\n      - { scim: userName, param: \"filter[username]\" }\n    attributes:",
    );
    let r = compile_text("t.yaml", &text, None, &None)
        .unwrap()
        .remove(0);
    assert_eq!(r.filters[0].param, "filter[username]");
    let path = r
        .ops
        .list
        .page_path(&[(r.filters[0].param.as_str(), "j doe&x".into())], 0, 10);
    assert!(
        path.ends_with("&filter%5Busername%5D=j%20doe%26x"),
        "{path}"
    );
}

fn versioned(extra: &str, patch_omit: &str) -> String {
    mapping("{ scim: displayName, field: name }")
        .replace(
            "    id: { field: id }\n",
            &format!("    id: {{ field: id }}\n    version: {{ field: rev }}\n{extra}"),
        )
        .replace(
            "      get: { path: \"/u/{id}\" }\n",
            &format!("      get: {{ path: \"/u/{{id}}\" }}\n      patch: {{ method: PATCH, path: \"/u/{{id}}\"{patch_omit} }}\n"),
        )
}

#[test]
fn merge_patch_may_not_omit_the_version_field() {
    let ok = compile_text(
        "m.yaml",
        &versioned("    update: merge_patch\n", ""),
        None,
        &None,
    );
    let r = ok.unwrap_or_else(|e| panic!("{e:?}"));
    // Without `version` no conflict is detected unless declared; with one, 409.
    assert_eq!(r[0].conflict_status, Some(409));
    let errs = compile_text(
        "m.yaml",
        &versioned("    update: merge_patch\n", ", omit: [rev]"),
        None,
        &None,
    )
    .unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("`rev` is the version field")),
        "{errs:?}"
    );
}

#[test]
fn no_version_means_no_conflict_status_unless_declared() {
    let r = compile_text(
        "m.yaml",
        &mapping("{ scim: displayName, field: name }"),
        None,
        &None,
    )
    .unwrap();
    assert_eq!(r[0].conflict_status, None);
    let declared = mapping("{ scim: displayName, field: name }").replace(
        "    id: { field: id }\n",
        "    id: { field: id }\n    conflict: { status: 409, code: STALE }\n",
    );
    let r = compile_text("m.yaml", &declared, None, &None).unwrap();
    assert_eq!(r[0].conflict_status, Some(409));
    assert_eq!(r[0].conflict_code.as_deref(), Some("STALE"));
}

fn with_lifecycle(lifecycle: &str) -> String {
    mapping("{ scim: active, field: disabled, type: boolean, transforms: [invert] }").replace(
        "    attributes:",
        &format!("      patch: {{ path: \"/u/{{id}}\" }}\n    update: merge_patch\n    lifecycle:\n{lifecycle}    attributes:"),
    )
}

fn lifecycle_errors(lifecycle: &str) -> Vec<String> {
    match compile_text("m.yaml", &with_lifecycle(lifecycle), None, &None) {
        Ok(_) => Vec::new(),
        Err(errs) => errs.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn lifecycle_calls_compile_and_wrong_uses_are_explained() {
    let ok = "      call: { path: \"/u/{id}/archive\" }\n      deleted: { archived: true }\n      restore: { call: { path: \"/u/{id}/restore\" }, set: { archived: null } }\n      deleted_reads: inactive\n";
    assert_eq!(lifecycle_errors(ok), Vec::<String>::new());
    let plans = compile_text("m.yaml", &with_lifecycle(ok), None, &None).unwrap();
    let sd = plans[0].soft_delete.as_ref().unwrap();
    assert_eq!(
        sd.call.as_ref().unwrap().method,
        Method::POST,
        "POST by default"
    );
    assert!(plans[0].is_soft_deleted(&serde_json::json!({"archived": true})));
    assert!(!plans[0].is_soft_deleted(&serde_json::json!({"archived": false})));

    let cases = [
        ("      deleted_reads: inactive\n", "m.yaml: resources.User.lifecycle: a soft delete needs `set`"),
        ("      call: { path: \"/u/{id}/gone\" }\n", "resources.User.lifecycle.deleted: with only `call`"),
        ("      call: { path: /u/gone }\n      deleted: { gone: true }\n", "resources.User.lifecycle.call.path: \"/u/gone\" must name the record with {id}"),
        ("      set: { gone: true }\n      restore: { set: { gone: null } }\n", "resources.User.lifecycle.restore: restore needs `deleted_reads: inactive`"),
        ("      set: { gone: true }\n      deleted_reads: inactive\n      list_query: { gone: \"false\" }\n", "resources.User.lifecycle.list_query: with `deleted_reads: inactive`"),
        ("      set: { gone: true }\n      restore: { cal: { path: \"/u/{id}\" } }\n", "unknown key `cal` — did you mean `call`?"),
        ("      set: { gone: true }\n      list_qery: { gone: \"false\" }\n", "did you mean `list_query`?"),
        ("      call: { path: \"/u/{id}/gone\", wrap: person }\n      deleted: { gone: true }\n", "resources.User.lifecycle.call: a lifecycle call is sent without a body"),
    ];
    for (lc, want) in cases {
        let errs = lifecycle_errors(lc);
        assert!(errs.iter().any(|e| e.contains(want)), "{lc}: {errs:?}");
    }
}

#[test]
fn multiple_needs_a_typed_path_and_an_element_field() {
    let errs = |attr: &str| match compile_text("m.yaml", &mapping(attr), None, &None) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    assert_eq!(
        errs("{ scim: 'phoneNumbers[type eq \"work\"].value', field: 'phones[kind=office].number', multiple: true }"),
        Vec::<String>::new()
    );
    for (attr, want) in [
        ("{ scim: title, field: 'phones[kind=office].number', multiple: true }", "(title).multiple: `multiple` maps a typed path"),
        ("{ scim: 'phoneNumbers[type eq \"work\"].value', field: phone, multiple: true }", ".field: \"phone\" must select the elements with exactly one [key=value] segment"),
        ("{ scim: 'phoneNumbers[type eq \"work\"].value', field: 'phones[kind=office]', multiple: true }", "must name the element's field after the selector"),
        ("{ scim: 'phoneNumbers[type eq \"work\"].value', read: '$.phones[0].number', multiple: true }", "`multiple` needs `field`"),
        ("{ scim: 'phoneNumbers[type eq \"work\"].value', field: 'phones[kind=office].number', multiple: true, default: x }", "does not go with `default`"),
        ("{ scim: 'phoneNumbers[type eq \"work\"].value', field: 'phones[kind=office].number', multipel: true }", "unknown key `multipel` — did you mean `multiple`?"),
    ] {
        let e = errs(attr);
        assert!(e.iter().any(|m| m.contains(want)), "{attr}: {e:?}");
    }
}

#[test]
fn reference_display_is_checked_like_every_key() {
    let ok = "{ scim: title, field: boss, reference: { resource: /Users, display: true } }";
    let plans = compile_text("m.yaml", &mapping(ok), None, &None).unwrap();
    let title = schema_attr(&plans[0], "title");
    let dn = title.subs.iter().find(|s| s.name == "displayName").unwrap();
    assert_eq!(dn.mutability, Mutability::ReadOnly);
    let errs = compile_text(
        "m.yaml",
        &mapping("{ scim: title, field: boss, reference: { resource: /Users, dispaly: true } }"),
        None,
        &None,
    )
    .unwrap_err();
    assert!(
        errs[0]
            .message
            .contains("unknown key `dispaly` — did you mean `display`?"),
        "{errs:?}"
    );
}

/// `send_only` keeps a record body to the named top-level fields, and the
/// mapping is refused when it would leave out a field the bridge writes
/// (an attribute, a constant, the version), or names a nested one.
#[test]
fn send_only_must_let_through_every_field_the_bridge_writes() {
    let with_replace = |send_only: &str| {
        versioned("", "").replace(
            "      patch: { method: PATCH, path: \"/u/{id}\" }\n",
            &format!(
                "      create: {{ method: POST, path: /u, send_only: [login, name, tier] }}\n      replace: {{ method: PUT, path: \"/u/{{id}}\", send_only: {send_only} }}\n",
            ),
        ) + "    constants:\n      - { field: tier, value: basic, when: create }\n"
    };
    let r = compile_text(
        "m.yaml",
        &with_replace("[login, name, rev, role]"),
        None,
        &None,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let replace = r[0].ops.replace.as_ref().unwrap();
    let body = replace.body_for(serde_json::json!({
        "id": 7, "login": "a", "name": "A", "rev": 3, "role": "x",
        "createdAt": "2024-01-01T00:00:00Z", "lastLoginAt": "then"
    }));
    assert_eq!(
        body,
        serde_json::json!({"login": "a", "name": "A", "rev": 3, "role": "x"})
    );
    for (send_only, missing) in [
        (
            "[login, rev]",
            "`name`, which attributes[1] (displayName) writes",
        ),
        ("[login, name]", "`rev`, which version writes"),
        (
            "[login, name, rev, contact.email]",
            "name a top-level backend field",
        ),
    ] {
        let errs = compile_text("m.yaml", &with_replace(send_only), None, &None).unwrap_err();
        assert!(
            errs.iter().any(|e| e.message.contains(missing)),
            "{send_only}: {errs:?}"
        );
    }
    // Not on an operation that sends no record.
    let text = with_replace("[login, name, rev]").replace(
        "      get: { path: \"/u/{id}\" }\n",
        "      get: { path: \"/u/{id}\", send_only: [login] }\n",
    );
    let errs = compile_text("m.yaml", &text, None, &None).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("`send_only` does not apply")),
        "{errs:?}"
    );
    // The create's constant must be sent too.
    let text = with_replace("[login, name, rev]")
        .replace("send_only: [login, name, tier]", "send_only: [login, name]");
    let errs = compile_text("m.yaml", &text, None, &None).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("`tier`, which constants[0] writes")),
        "{errs:?}"
    );
}

/// `Allow` follows what each method can reach: no DELETE when a lifecycle's
/// writes have no update operation, PATCH for a members-only group.
#[test]
fn allow_lists_the_methods_the_operations_can_serve() {
    let text = versioned("", "").replace(
        "    id: { field: id }\n",
        "    id: { field: id }\n    lifecycle: { set: { gone: true } }\n",
    );
    // `update` defaults to replace; only `patch` exists: nothing to write through.
    let r = compile_text("m.yaml", &text, None, &None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(r[0].allow_item(), "GET, HEAD");
    assert_eq!(r[0].allow_collection(), "GET, HEAD");
    let with_replace = text.replace(
        "      patch: { method: PATCH, path: \"/u/{id}\" }\n",
        "      replace: { method: PUT, path: \"/u/{id}\" }\n      create: { method: POST, path: /u }\n",
    );
    let r = compile_text("m.yaml", &with_replace, None, &None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(r[0].allow_item(), "GET, HEAD, PUT, PATCH, DELETE");
    assert_eq!(r[0].allow_collection(), "GET, HEAD, POST");
}

fn compile_errors(text: &str) -> Vec<String> {
    match compile_text("m.yaml", text, None, &None) {
        Ok(_) => Vec::new(),
        Err(errs) => errs.iter().map(ToString::to_string).collect(),
    }
}

/// An operation acting on one record (or member) must say which: without
/// `{id}` / `{member}` the bridge would call the collection or the whole
/// member list, which many REST APIs read as "all".
#[test]
fn item_and_member_operations_must_name_their_record() {
    let group = |ops: &str| {
        mapping("{ scim: displayName, field: dn }").replace(
            "      get: { path: \"/u/{id}\" }\n",
            &format!("      get: {{ path: \"/u/{{id}}\" }}\n{ops}"),
        ) + "      - { scim: groups, field: members, members: { id_type: string } }\n"
    };
    let ok = group(
        "      replace: { path: \"/u/{id}\" }\n      delete: { path: \"/u/{id}\" }\n      add_member: { path: \"/u/{id}/members\", body: { uid: \"{member}\" } }\n      remove_member: { path: \"/u/{id}/members/{member}\" }\n",
    );
    assert_eq!(compile_errors(&ok), Vec::<String>::new());
    let cases = [
        (
            ok.replace("get: { path: \"/u/{id}\" }", "get: { path: /u }"),
            "m.yaml: resources.User.operations.get.path: \"/u\" must name the record with {id}",
        ),
        (
            ok.replace("delete: { path: \"/u/{id}\" }", "delete: { path: /u }"),
            "m.yaml: resources.User.operations.delete.path: \"/u\" must name the record with {id}",
        ),
        (
            ok.replace("replace: { path: \"/u/{id}\" }", "replace: { path: /u }"),
            "m.yaml: resources.User.operations.replace.path: \"/u\" must name the record with {id}",
        ),
        (
            ok.replace("replace: { path: \"/u/{id}\" }", "patch: { path: /u }"),
            "m.yaml: resources.User.operations.patch.path: \"/u\" must name the record with {id}",
        ),
        (
            ok.replace("/u/{id}/members/{member}", "/u/{id}/members"),
            "m.yaml: resources.User.operations.remove_member.path: \"/u/{id}/members\" must name the member with {member}",
        ),
        (
            ok.replace("body: { uid: \"{member}\" }", "body: { uid: x }"),
            "m.yaml: resources.User.operations.add_member.path: \"/u/{id}/members\" must name the member with {member}",
        ),
        // A key is never filled in: only values are.
        (
            ok.replace("body: { uid: \"{member}\" }", "body: { \"{member}\": true }"),
            "m.yaml: resources.User.operations.add_member.path: \"/u/{id}/members\" must name the member with {member}",
        ),
        (
            ok.replace("/u/{id}/members/{member}", "/u/members/{member}"),
            "m.yaml: resources.User.operations.remove_member.path: \"/u/members/{member}\" must name the record with {id}",
        ),
        // Placeholders are not filled in `query` or `headers`.
        (
            ok.replace(
                "remove_member: { path: \"/u/{id}/members/{member}\" }",
                "remove_member: { path: \"/u/{id}/members\", query: { uid: \"{member}\" } }",
            ),
            "m.yaml: resources.User.operations.remove_member.query.uid: \"{member}\": placeholders such as {member} are filled in the `path`",
        ),
        (
            ok.replace(
                "delete: { path: \"/u/{id}\" }",
                "delete: { path: \"/u/{id}\", headers: { X-Record: \"rec-{id}\" } }",
            ),
            "m.yaml: resources.User.operations.delete.headers.X-Record: \"rec-{id}\": placeholders such as {id}",
        ),
        (
            ok.replace("list: { path: /u,", "list: { path: /u, query: { owner: \"{id}\" },"),
            "m.yaml: resources.User.operations.list.query.owner: \"{id}\": placeholders",
        ),
    ];
    for (text, want) in cases {
        let errs = compile_errors(&text);
        assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
    }
    // `${…}` references, `$$` and JSON-looking values are no placeholders.
    let env = ok.replace(
        "delete: { path: \"/u/{id}\" }",
        "delete: { path: \"/u/{id}\", query: { a: \"${NOPE:-x}\", b: \"$$x\" }, headers: { X-J: '{\"a\": 1}' } }",
    );
    assert_eq!(compile_errors(&env), Vec::<String>::new());
}

/// The PUT of `update: replace` must carry the version read, as the merge
/// patch does: without it every update is refused as stale (or blind).
#[test]
fn replace_may_not_omit_the_version_field() {
    let with_replace = |omit: &str| {
        versioned("", "").replace(
            "      patch: { method: PATCH, path: \"/u/{id}\" }\n",
            &format!("      replace: {{ method: PUT, path: \"/u/{{id}}\"{omit} }}\n"),
        )
    };
    assert_eq!(compile_errors(&with_replace("")), Vec::<String>::new());
    assert_eq!(
        compile_errors(&with_replace(", omit: [badge]")),
        Vec::<String>::new()
    );
    let errs = compile_errors(&with_replace(", omit: [badge, rev]"));
    assert!(
        errs.iter().any(|e| e.contains(
            "m.yaml: resources.User.operations.replace.omit: `rev` is the version field: with update `replace` it must be sent so the backend can refuse a stale write"
        )),
        "{errs:?}"
    );
}

/// Two mapped backend fields where one holds the other: a write of the
/// outer one replaces the inner one's value (and the other way round).
#[test]
fn nested_backend_fields_of_two_mappings_are_refused() {
    let attrs = |extra: &str| {
        versioned("", "")
            + "      - { scim: name.givenName, field: profile.first }\n"
            + "      - { scim: 'phoneNumbers[type eq \"work\"].value', field: 'phones[label=work].number' }\n"
            + "      - { scim: 'phoneNumbers[type eq \"mobile\"].value', field: 'phones[label=mobile].number' }\n"
            + "      - { scim: 'emails[type eq \"work\"].value', field: 'mails[kind=work].addr', multiple: true }\n"
            + "      - { scim: 'emails[type eq \"home\"].value', field: 'mails[kind=home].addr' }\n"
            + extra
    };
    assert_eq!(compile_errors(&attrs("")), Vec::<String>::new());
    // Reading one field twice is fine: only writes collide.
    assert_eq!(
        compile_errors(&attrs(
            "      - { scim: nickName, field: profile, mutability: readOnly }\n"
        )),
        Vec::<String>::new()
    );
    for (extra, want) in [
        (
            "      - { scim: nickName, field: profile }\n",
            "m.yaml: resources.User.attributes[7] (nickName).field: `profile` overlaps `profile.first`, the field of attributes[2] (name.givenName).field: `profile` holds `profile.first`",
        ),
        (
            "      - { scim: title, field: phones }\n",
            "resources.User.attributes[7] (title).field: `phones` overlaps `phones[label=work].number`, the field of attributes[3]",
        ),
        (
            "      - { scim: title, field: name.x }\n",
            "resources.User.attributes[7] (title).field: `name.x` overlaps `name`, the field of attributes[1] (displayName).field",
        ),
        (
            "      - { scim: title, field: rev.n }\n",
            "resources.User.attributes[7] (title).field: `rev.n` overlaps `rev`, the field of version.field",
        ),
        (
            "      - { scim: title, field: id.n }\n",
            "resources.User.attributes[7] (title).field: `id.n` overlaps `id`, the field of id.field",
        ),
        (
            "    constants:\n      - { field: profile.first.x, value: 1 }\n",
            "resources.User.attributes[2] (name.givenName).field: `profile.first` overlaps `profile.first.x`, the field of constants[0].field: `profile.first` holds `profile.first.x`",
        ),
    ] {
        let errs = compile_errors(&attrs(extra));
        assert!(errs.iter().any(|e| e.contains(want)), "{extra}: {errs:?}");
    }
}

/// RFC 7643 fixes the attribute names of the core User and Group schemas
/// and the enterprise extension: another name there is a typo.
#[test]
fn names_outside_the_standard_schemas_are_typos() {
    let ext = |attr: &str| {
        mapping(attr).replace(
            "    id: { field: id }\n",
            "    extensions: [urn:ietf:params:scim:schemas:extension:enterprise:2.0:User, urn:example:scim:Custom]\n    id: { field: id }\n",
        )
    };
    for ok in [
        "{ scim: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department, field: dept }",
        "{ scim: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager, field: boss, reference: { resource: /Users } }",
        "{ scim: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value, field: boss }",
        "{ scim: urn:example:scim:Custom:badgeColour, field: badge }",
        "{ scim: 'addresses[type eq \"work\"].postalCode', field: zip }",
        "{ scim: 'EMAILS[Type eq \"work\"].Value', field: mail }",
        "{ scim: name.honorificPrefix, field: hp }",
        "{ scim: externalId, field: ext }",
    ] {
        assert_eq!(compile_errors(&ext(ok)), Vec::<String>::new(), "{ok}");
    }
    for (attr, want) in [
        (
            "{ scim: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:departmnet, field: dept }",
            "m.yaml: resources.User.attributes[1] (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:departmnet).scim: RFC 7643 defines no attribute \"departmnet\" in the enterprise User extension (User) — did you mean `department`?",
        ),
        (
            "{ scim: titel, field: t }",
            "resources.User.attributes[1] (titel).scim: RFC 7643 defines no attribute \"titel\" in the core schema (User) — did you mean `title`?",
        ),
        (
            "{ scim: dispalyName, field: dn }",
            "did you mean `displayName`?",
        ),
        (
            "{ scim: name.givenNmae, field: first }",
            "resources.User.attributes[1] (name.givenNmae).scim: RFC 7643 defines no sub-attribute \"givenNmae\" of name in the core schema (User) — did you mean `givenName`?",
        ),
        (
            "{ scim: 'emails[type eq \"work\"].addr', field: mail }",
            "RFC 7643 defines no sub-attribute \"addr\" of emails in the core schema (User) (it defines value, display, type, primary, $ref)",
        ),
        (
            "{ scim: 'emails[kind eq \"work\"].value', field: mail }",
            "RFC 7643 defines no sub-attribute \"kind\" of emails",
        ),
        (
            "{ scim: title.x, field: t }",
            "RFC 7643 defines no sub-attribute \"x\" of title in the core schema (User) (title has no sub-attributes)",
        ),
        (
            "{ scim: badgeColour, field: badge }",
            "custom attributes go under a custom extension URN",
        ),
    ] {
        let errs = compile_errors(&ext(attr));
        assert!(errs.iter().any(|e| e.contains(want)), "{attr}: {errs:?}");
    }
}
