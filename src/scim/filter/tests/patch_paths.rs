//! PATCH path parsing (`parse_patch_path`).

use super::*;

// ----- PATCH paths -------------------------------------------------------

fn patch(input: &str) -> PatchPath {
    parse_patch_path(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

fn patch_err(input: &str) -> FilterError {
    match parse_patch_path(input) {
        Ok(p) => panic!("{input:?} should fail, parsed as {p:?}"),
        Err(e) => e,
    }
}

fn plain(attr: AttrPath) -> PatchPath {
    PatchPath {
        attr,
        filter: None,
        value_sub: None,
    }
}

#[test]
fn patch_path_plain_attributes() {
    assert_eq!(patch("active"), plain(path("active")));
    assert_eq!(patch("emails"), plain(path("emails")));
    assert_eq!(
        patch("name.familyName"),
        plain(AttrPath::with_sub("name", "familyName"))
    );
    assert_eq!(
        patch("  name.familyName \t"),
        plain(AttrPath::with_sub("name", "familyName"))
    );
}

#[test]
fn patch_path_with_filters() {
    let work = cmp("type", CompareOp::Eq, json!("work"));
    assert_eq!(
        patch(r#"emails[type eq "work"]"#),
        PatchPath {
            attr: path("emails"),
            filter: Some(work.clone()),
            value_sub: None
        }
    );
    assert_eq!(
        patch(r#" emails[type eq "work"].value "#),
        PatchPath {
            attr: path("emails"),
            filter: Some(work),
            value_sub: Some("value".to_string())
        }
    );
    assert_eq!(
        patch(r#"members[value eq "2819c223"]"#).filter,
        Some(cmp("value", CompareOp::Eq, json!("2819c223")))
    );
}

#[test]
fn patch_path_urn_forms() {
    assert_eq!(
        patch(&format!("{ENT}:employeeNumber")),
        plain(urn_path(ENT, "employeeNumber", None))
    );
    assert_eq!(
        patch(&format!("{ENT}:manager")),
        plain(urn_path(ENT, "manager", None))
    );
    assert_eq!(
        patch(&format!("{ENT}:manager.value")),
        plain(urn_path(ENT, "manager", Some("value")))
    );
    assert_eq!(
        patch(&format!("{ENT}:manager[value eq \"x\"]")),
        PatchPath {
            attr: urn_path(ENT, "manager", None),
            filter: Some(cmp("value", CompareOp::Eq, json!("x"))),
            value_sub: None
        }
    );
    assert_eq!(
        patch(&format!("{CORE}:name.givenName")),
        plain(urn_path(CORE, "name", Some("givenName")))
    );
}

#[test]
fn patch_path_filter_values_may_contain_delimiters() {
    assert_eq!(
        patch(r#"emails[value eq "a.b:c]d[" or display co "]."].display"#),
        PatchPath {
            attr: path("emails"),
            filter: Some(or(
                cmp("value", CompareOp::Eq, json!("a.b:c]d[")),
                cmp("display", CompareOp::Co, json!("]."))
            )),
            value_sub: Some("display".to_string())
        }
    );
}

#[test]
fn patch_path_filter_feeds_eq_assignments() {
    let p = patch(r#"emails[type eq "work" and primary eq true]"#);
    let filter = p.filter.expect("filter");
    assert_eq!(
        eq_assignments(&filter),
        vec![
            (&path("type"), &json!("work")),
            (&path("primary"), &json!(true))
        ]
    );
}

#[test]
fn patch_path_errors() {
    assert_eq!(patch_err(""), error("empty path", 0));
    assert_eq!(patch_err("   "), error("empty path", 0));
    for (bad, fragment, position) in [
        ("emails[", "found end of input", 7),
        (r#"emails[type eq "work""#, "unterminated value filter", 21),
        (
            r#"emails[type eq "work"]foo"#,
            r#"unexpected trailing input "foo" after the path"#,
            22,
        ),
        (
            r#"emails[type eq "work"] .value"#,
            "unexpected trailing input",
            23,
        ),
        (
            r#"emails[type eq "work"]]"#,
            "unexpected trailing input",
            22,
        ),
        (
            r#"emails[type eq "work"].value.x"#,
            "invalid sub-attribute",
            22,
        ),
        (r#"emails[type eq "work"]."#, "invalid sub-attribute", 22),
        ("a..b", "only one sub-attribute level", 0),
        (".a", "expected an attribute name", 0),
        ("a.b.c", "only one sub-attribute level", 0),
        ("emails value", "unexpected trailing input", 7),
        (
            r#"name.givenName[type eq "x"]"#,
            "cannot follow a sub-attribute",
            0,
        ),
        ("emails[a[b pr]]", "nested value filters", 8),
        (
            "emails[]",
            r#"expected an attribute path, "not" or "(", found "]""#,
            7,
        ),
        ("(emails)", r#"expected an attribute path, found "(""#, 0),
        (r#""emails""#, "expected an attribute path", 0),
        ("emails[type gt true]", "cannot be ordered", 15),
        ("urn:foo", "urn:<schema>:<attribute>", 0),
    ] {
        let e = patch_err(bad);
        assert!(e.message.contains(fragment), "{bad}: {e}");
        assert_eq!(e.position, position, "{bad}: {e}");
    }
}

#[test]
fn patch_path_length_limit() {
    let e = patch_err(&"a".repeat(MAX_FILTER_LEN + 1));
    assert_eq!(e, error("path longer than 8192 bytes", 0));
}
