//! Parser tests: what parses to which tree, what is rejected.

use super::*;

// ----- parsing ---------------------------------------------------------

#[test]
fn parses_simple_equality() {
    assert_eq!(
        parse(r#"userName eq "bjensen""#),
        cmp("userName", CompareOp::Eq, json!("bjensen"))
    );
}

#[test]
fn parses_every_comparison_operator() {
    for (word, op) in [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ] {
        assert_eq!(
            parse(&format!("title {word} \"x\"")),
            cmp("title", op, json!("x"))
        );
    }
}

#[test]
fn parses_present() {
    assert_eq!(parse("title pr"), pr("title"));
}

#[test]
fn operators_and_keywords_are_case_insensitive() {
    assert_eq!(
        parse(r#"userName EQ "x" AnD title PR Or NOT (a Gt 1)"#),
        or(
            and(cmp("userName", CompareOp::Eq, json!("x")), pr("title")),
            not(cmp("a", CompareOp::Gt, json!(1)))
        )
    );
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        parse("a eq 1 or b eq 2 and c eq 3"),
        or(
            cmp("a", CompareOp::Eq, json!(1)),
            and(
                cmp("b", CompareOp::Eq, json!(2)),
                cmp("c", CompareOp::Eq, json!(3))
            )
        )
    );
    assert_eq!(
        parse("a eq 1 and b eq 2 or c eq 3"),
        or(
            and(
                cmp("a", CompareOp::Eq, json!(1)),
                cmp("b", CompareOp::Eq, json!(2))
            ),
            cmp("c", CompareOp::Eq, json!(3))
        )
    );
}

#[test]
fn and_or_are_left_associative() {
    assert_eq!(
        parse("a pr or b pr or c pr"),
        or(or(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(
        parse("a pr and b pr and c pr"),
        and(and(pr("a"), pr("b")), pr("c"))
    );
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(
        parse("(a eq 1 or b eq 2) and c eq 3"),
        and(
            or(
                cmp("a", CompareOp::Eq, json!(1)),
                cmp("b", CompareOp::Eq, json!(2))
            ),
            cmp("c", CompareOp::Eq, json!(3))
        )
    );
    assert_eq!(parse("((a pr))"), pr("a"));
}

#[test]
fn not_binds_tighter_than_and() {
    assert_eq!(parse("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
    assert_eq!(parse("not(a pr)"), not(pr("a")));
    assert_eq!(parse("not (not (a pr))"), not(not(pr("a"))));
}

#[test]
fn not_is_an_attribute_name_when_an_operator_follows() {
    assert_eq!(
        parse(r#"not eq "x""#),
        cmp("not", CompareOp::Eq, json!("x"))
    );
    assert_eq!(parse("not pr"), pr("not"));
    assert_eq!(parse("a pr and and pr"), and(pr("a"), pr("and")));
}

#[test]
fn not_requires_parentheses() {
    let e = parse_err("not a pr");
    assert!(e.message.contains(r#"expected "(" after "not""#), "{e}");
    assert!(e.message.contains(r#"found "a""#), "{e}");
    assert_eq!(e.position, 4);
}

#[test]
fn parses_bare_literals_case_insensitively() {
    assert_eq!(parse("a eq TRUE"), cmp("a", CompareOp::Eq, json!(true)));
    assert_eq!(parse("a eq False"), cmp("a", CompareOp::Eq, json!(false)));
    assert_eq!(parse("a eq NULL"), cmp("a", CompareOp::Eq, Value::Null));
}

#[test]
fn parses_json_numbers() {
    assert_eq!(parse("a eq 42"), cmp("a", CompareOp::Eq, json!(42)));
    assert_eq!(parse("a gt -1.5"), cmp("a", CompareOp::Gt, json!(-1.5)));
    assert_eq!(parse("a lt 1e3"), cmp("a", CompareOp::Lt, json!(1000.0)));
    assert_eq!(parse("a le 2.5E-1"), cmp("a", CompareOp::Le, json!(0.25)));
    assert_eq!(parse("a eq 0"), cmp("a", CompareOp::Eq, json!(0)));
}

#[test]
fn rejects_malformed_numbers() {
    for bad in [
        "a eq 01",
        "a eq 1e400",
        "a eq +1",
        "a eq .5",
        "a eq 1.",
        "a eq 0x10",
    ] {
        let e = parse_err(bad);
        assert!(
            e.message.contains("expected a comparison value"),
            "{bad}: {e}"
        );
        assert_eq!(e.position, 5, "{bad}");
    }
}

#[test]
fn decodes_json_string_escapes() {
    assert_eq!(
        parse(r#"a eq "q\"b\\s\/\b\f\n\r\t""#),
        cmp("a", CompareOp::Eq, json!("q\"b\\s/\u{8}\u{c}\n\r\t"))
    );
}

#[test]
fn decodes_unicode_escapes_and_surrogate_pairs() {
    assert_eq!(
        parse(r#"a eq "\u00e9\ud83d\ude00""#),
        cmp("a", CompareOp::Eq, json!("é😀"))
    );
    assert_eq!(
        parse(r#"a eq "日本""#),
        cmp("a", CompareOp::Eq, json!("日本"))
    );
}

#[test]
fn rejects_bad_string_literals() {
    for bad in [
        r#"a eq "\ud800""#,
        r#"a eq "\q""#,
        "a eq \"tab\there\"",
        "a eq \"\u{1}\"",
    ] {
        let e = parse_err(bad);
        assert!(e.message.contains("invalid string literal"), "{bad:?}: {e}");
        assert_eq!(e.position, 5, "{bad:?}");
    }
}

#[test]
fn strings_may_contain_filter_syntax() {
    assert_eq!(
        parse(r#"userName eq "a\") or (\"b""#),
        cmp("userName", CompareOp::Eq, json!("a\") or (\"b"))
    );
    assert_eq!(
        parse(r#"a eq "x]) or (""#),
        cmp("a", CompareOp::Eq, json!("x]) or ("))
    );
}

#[test]
fn injection_attempt_with_bare_number_is_an_error() {
    let e = parse_err(r#"userName eq "x" or 1 eq 1"#);
    assert!(e.message.contains(r#"invalid attribute path "1""#), "{e}");
    assert_eq!(e.position, 19);
}

#[test]
fn whitespace_is_lenient() {
    let expected = and(cmp("userName", CompareOp::Eq, json!("x")), pr("b"));
    assert_eq!(parse("  userName\t eq   \"x\"\tand  b   pr  "), expected);
    assert_eq!(parse("(userName eq\"x\")and(b pr)"), expected);
}

#[test]
fn parses_urn_prefixed_paths() {
    assert_eq!(
        parse(&format!("{ENT}:employeeNumber eq \"701984\"")),
        Filter::Compare(
            urn_path(ENT, "employeeNumber", None),
            CompareOp::Eq,
            json!("701984")
        )
    );
    assert_eq!(
        parse(&format!("{ENT}:manager.value pr")),
        Filter::Present(urn_path(ENT, "manager", Some("value")))
    );
    let upper = "URN:IETF:params:scim:schemas:core:2.0:User";
    assert_eq!(
        parse(&format!("{upper}:name.givenName pr")),
        Filter::Present(urn_path(upper, "name", Some("givenName")))
    );
}

#[test]
fn rejects_malformed_urn_paths() {
    let e = parse_err("urn:foo pr");
    assert!(e.message.contains("urn:<schema>:<attribute>"), "{e}");
    let e = parse_err(&format!("{ENT}: pr"));
    assert!(e.message.contains("expected an attribute name"), "{e}");
    assert_eq!(e.position, 0);
}

#[test]
fn accepts_ref_and_attribute_name_characters() {
    assert_eq!(
        parse("members.$ref pr"),
        Filter::Present(AttrPath::with_sub("members", "$ref"))
    );
    assert_eq!(parse("x-a_b$1 pr"), pr("x-a_b$1"));
    assert_eq!(
        parse(r#"members[$ref eq "u"]"#),
        vp("members", cmp("$ref", CompareOp::Eq, json!("u")))
    );
}

#[test]
fn rejects_invalid_attribute_paths() {
    for (bad, why) in [
        ("1abc pr", "names start with a letter"),
        ("user@name pr", "names start with a letter"),
        ("a..b pr", "only one sub-attribute level"),
        ("a.b.c pr", "only one sub-attribute level"),
        (".a pr", "expected an attribute name"),
        ("a. pr", "names start with a letter"),
        ("$foo pr", "names start with a letter"),
    ] {
        let e = parse_err(bad);
        assert!(
            e.message.starts_with("invalid attribute path"),
            "{bad}: {e}"
        );
        assert!(e.message.contains(why), "{bad}: {e}");
        assert_eq!(e.position, 0, "{bad}");
    }
}

#[test]
fn parses_value_paths() {
    assert_eq!(
        parse(r#"emails[type eq "work" and value co "@example.com"]"#),
        vp(
            "emails",
            and(
                cmp("type", CompareOp::Eq, json!("work")),
                cmp("value", CompareOp::Co, json!("@example.com"))
            )
        )
    );
}

#[test]
fn value_paths_combine_with_logical_operators() {
    assert_eq!(
        parse(r#"userType eq "Employee" and (emails[type eq "work"] or not (ims[value pr]))"#),
        and(
            cmp("userType", CompareOp::Eq, json!("Employee")),
            or(
                vp("emails", cmp("type", CompareOp::Eq, json!("work"))),
                not(vp("ims", pr("value")))
            )
        )
    );
}

#[test]
fn entra_value_path_with_sub_attribute_comparison() {
    assert_eq!(
        parse(r#"emails[type eq "work"].value eq "x""#),
        vp(
            "emails",
            and(
                cmp("type", CompareOp::Eq, json!("work")),
                cmp("value", CompareOp::Eq, json!("x"))
            )
        )
    );
    assert_eq!(
        parse(r#"emails[type eq "work"].value pr and active eq true"#),
        and(
            vp(
                "emails",
                and(cmp("type", CompareOp::Eq, json!("work")), pr("value"))
            ),
            cmp("active", CompareOp::Eq, json!(true))
        )
    );
}

#[test]
fn entra_sub_attribute_must_be_followed_by_an_operator() {
    let e = parse_err(r#"emails[type eq "work"].value"#);
    assert!(e.message.contains(r#"after "emails[...].value""#), "{e}");
    assert!(e.message.contains("found end of input"), "{e}");
    assert_eq!(e.position, 28);
    let e = parse_err(r#"emails[type eq "work"].va!ue eq "x""#);
    assert!(e.message.contains("invalid sub-attribute"), "{e}");
    assert_eq!(e.position, 22);
}

#[test]
fn rejects_nested_value_paths() {
    let e = parse_err("emails[sub[a pr]]");
    assert!(
        e.message.contains("nested value filters are not allowed"),
        "{e}"
    );
    assert_eq!(e.position, 10);
}

#[test]
fn rejects_value_path_after_sub_attribute() {
    let e = parse_err("name.given[a pr]");
    assert!(e.message.contains("cannot follow a sub-attribute"), "{e}");
    assert_eq!(e.position, 0);
}

#[test]
fn rejects_unterminated_value_path() {
    let e = parse_err(r#"emails[type eq "work""#);
    assert!(e.message.contains("unterminated value filter"), "{e}");
    assert_eq!(e.position, 21);
    let e = parse_err(r#"emails[type eq "work")"#);
    assert!(e.message.contains(r#"expected "and", "or" or "]""#), "{e}");
    assert!(e.message.contains(r#"found ")""#), "{e}");
    assert_eq!(e.position, 21);
}
