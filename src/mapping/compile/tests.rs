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
