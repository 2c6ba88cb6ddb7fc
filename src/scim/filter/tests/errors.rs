//! Error messages and the parser's limits (depth, length).

use super::*;

// ----- error messages ----------------------------------------------------

#[test]
fn error_for_unknown_operator() {
    let e = parse_err(r#"userName equals "x""#);
    assert_eq!(
        e.message,
        r#"expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after "userName", found "equals""#
    );
    assert_eq!(e.position, 9);
    assert_eq!(e.to_string(), format!("{} (at character 9)", e.message));
}

#[test]
fn error_for_unterminated_string() {
    let e = parse_err(r#"userName eq "abc"#);
    assert!(e.message.contains("unterminated string"), "{e}");
    assert_eq!(e.position, 12);
    let e = parse_err(r#"a eq "abc\""#);
    assert!(e.message.contains("unterminated string"), "{e}");
    assert_eq!(e.position, 5);
}

#[test]
fn error_for_missing_closing_parenthesis() {
    let e = parse_err("(userName pr");
    assert!(e.message.contains("unbalanced parenthesis"), "{e}");
    assert!(e.message.contains("found end of input"), "{e}");
    assert_eq!(e.position, 12);
    let e = parse_err("(a pr b pr)");
    assert!(e.message.contains(r#"expected "and", "or" or ")""#), "{e}");
    assert_eq!(e.position, 6);
}

#[test]
fn error_for_extra_closing_parenthesis() {
    let e = parse_err("userName pr)");
    assert!(e.message.contains("unbalanced parenthesis"), "{e}");
    assert!(
        e.message.contains(r#"unexpected trailing input ")""#),
        "{e}"
    );
    assert_eq!(e.position, 11);
}

#[test]
fn error_for_trailing_input() {
    let e = parse_err("userName pr foo");
    assert_eq!(
        e.message,
        r#"unexpected trailing input "foo": expected "and", "or" or the end of the filter"#
    );
    assert_eq!(e.position, 12);
}

#[test]
fn error_for_empty_filter() {
    for input in ["", "   ", "\t\n"] {
        assert_eq!(parse_err(input), error("empty filter", 0));
    }
    let e = parse_err("()");
    assert!(
        e.message
            .contains(r#"expected an attribute path, "not" or "(", found ")""#),
        "{e}"
    );
    assert_eq!(e.position, 1);
}

#[test]
fn error_for_missing_or_bare_value() {
    let e = parse_err("userName eq");
    assert!(
        e.message.contains(
            r#"expected a comparison value (a JSON string, number, true, false or null) after "eq""#
        ),
        "{e}"
    );
    assert!(e.message.contains("found end of input"), "{e}");
    assert_eq!(e.position, 11);
    let e = parse_err("userName eq bob");
    assert!(e.message.contains(r#"found "bob""#), "{e}");
    assert_eq!(e.position, 12);
}

#[test]
fn error_for_present_with_value() {
    for bad in [r#"title pr "x""#, "title pr true", "title pr 1"] {
        let e = parse_err(bad);
        assert!(
            e.message.contains(r#""pr" takes no comparison value"#),
            "{bad}: {e}"
        );
        assert_eq!(e.position, 9, "{bad}");
    }
}

#[test]
fn error_for_ordering_with_boolean_or_null() {
    for bad in ["a gt true", "a ge false", "a lt null", "a le NULL"] {
        let e = parse_err(bad);
        assert!(
            e.message.contains("booleans and null cannot be ordered"),
            "{bad}: {e}"
        );
        assert_eq!(e.position, 5, "{bad}");
    }
}

#[test]
fn error_for_substring_with_non_string() {
    for (bad, op) in [("a co 5", "co"), ("a sw true", "sw"), ("a ew null", "ew")] {
        let e = parse_err(bad);
        assert!(
            e.message
                .contains(&format!("expected a string value after \"{op}\"")),
            "{e}"
        );
        assert_eq!(e.position, 5);
    }
}

#[test]
fn error_for_dangling_logical_operator() {
    let e = parse_err("a pr and");
    assert!(e.message.contains("expected an attribute path"), "{e}");
    assert!(e.message.contains("found end of input"), "{e}");
    assert_eq!(e.position, 8);
    let e = parse_err("or a pr");
    assert!(e.message.contains(r#"after "or", found "a""#), "{e}");
    assert_eq!(e.position, 3);
}

#[test]
fn error_positions_count_characters_not_bytes() {
    let e = parse_err(r#"a eq "é" ]"#);
    assert!(e.message.contains("unexpected trailing input"), "{e}");
    assert_eq!(e.position, 9);
}

#[test]
fn error_messages_truncate_long_tokens() {
    let long = "x".repeat(500);
    let e = parse_err(&format!("a pr {long}"));
    assert!(e.message.len() < 200, "{}", e.message);
    assert!(
        e.message.contains(&format!("\"{}\"...", "x".repeat(40))),
        "{e}"
    );
}

#[test]
fn control_characters_outside_strings_are_errors() {
    for bad in ["userName\u{0}eq \"x\"", "a\u{7} pr", "a pr \u{1b}[0m"] {
        assert!(parse_filter(bad).is_err(), "{bad:?}");
    }
}

// ----- limits ------------------------------------------------------------

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let e = parse_err(&"(".repeat(8000));
    assert_eq!(e.message, "filter nests deeper than 64 levels");
    assert_eq!(e.position, 64);
    let e = parse_err(&"not (".repeat(1600));
    assert_eq!(e.message, "filter nests deeper than 64 levels");
    assert_eq!(e.position, 64 * 5 + 4);
    // 10,000 levels are refused by the length limit first.
    assert!(parse_filter(&"(".repeat(10_000)).is_err());
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    let ok = format!("{}a pr{}", "(".repeat(64), ")".repeat(64));
    assert_eq!(parse(&ok), pr("a"));
    let too_deep = format!("{}a pr{}", "(".repeat(65), ")".repeat(65));
    assert!(parse_err(&too_deep).message.contains("deeper than 64"));
    // A value filter's bracket counts as a level too.
    let bracket = format!("{}emails[a pr]{}", "(".repeat(64), ")".repeat(64));
    assert_eq!(parse_err(&bracket).position, 70);
}

#[test]
fn length_limit_is_enforced() {
    let value = "x".repeat(MAX_FILTER_LEN - 7);
    let ok = format!("a eq \"{value}\"");
    assert_eq!(ok.len(), MAX_FILTER_LEN);
    assert_eq!(parse(&ok), cmp("a", CompareOp::Eq, json!(value)));
    let e = parse_err(&format!("a eq \"{value}x\""));
    assert_eq!(e, error("filter longer than 8192 bytes", 0));
}

#[test]
fn longest_possible_and_chain_parses_displays_and_evaluates() {
    // ~900 left-nested And nodes: the deepest tree the length limit allows.
    let input = format!("{}userName pr", "userName pr and ".repeat(500)).replace("userName", "a");
    assert!(input.len() <= MAX_FILTER_LEN);
    let f = parse(&input);
    assert_eq!(parse(&f.to_string()), f);
    assert!(matches(&f, &json!({"a": 1}), &TestSchema));
    assert!(!matches(&f, &json!({"b": 1}), &TestSchema));
    assert_eq!(eq_assignments(&f), vec![]);
}

#[test]
fn every_prefix_of_a_complex_filter_is_handled_without_panic() {
    let full = r#"not (emails[type eq "wörk" and value co "@x"].value pr) or (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value ge "b\"\u00e9" and a lt -1.5e2)"#;
    let mut ok = 0;
    for (i, _) in full.char_indices() {
        if let Ok(f) = parse_filter(&full[..i]) {
            assert_eq!(parse(&f.to_string()), f);
            ok += 1;
        }
    }
    assert!(parse_filter(full).is_ok());
    assert!(ok > 0);
}

// ----- type checks against the schema (RFC 7644 §3.4.2.2) -----------------

fn type_check(input: &str) -> Result<(), String> {
    check_types(&parse(input), &TestSchema)
}

#[test]
fn ordering_a_boolean_attribute_is_refused_whatever_the_value() {
    for f in [
        r#"active gt "a""#,
        "active lt 5",
        r#"active ge "true""#,
        r#"ACTIVE le "x""#,
        r#"userName eq "x" or not (active gt "a")"#,
        r#"emails[type eq "work" and primary gt "a"]"#,
        r#"emails.primary lt 1"#,
    ] {
        let e = type_check(f).expect_err(f);
        assert!(e.contains("Boolean"), "{f}: {e}");
    }
    assert_eq!(type_check(r#"active eq "True""#), Ok(()));
    assert_eq!(type_check("active ne false"), Ok(()));
    assert_eq!(type_check(r#"emails[primary eq true]"#), Ok(()));
    // Unknown attributes are the caller's business.
    assert_eq!(type_check(r#"nosuch gt "a""#), Ok(()));
}

#[test]
fn a_date_time_attribute_takes_only_date_times() {
    for f in [
        r#"meta.created gt "notadate""#,
        r#"meta.lastModified le "2011-05-13""#,
        "meta.created lt 5",
        r#"meta.created eq "yesterday""#,
    ] {
        let e = type_check(f).expect_err(f);
        assert!(e.contains("dateTime"), "{f}: {e}");
    }
    assert_eq!(
        type_check(r#"meta.created gt "2011-05-13T04:42:34Z""#),
        Ok(())
    );
    assert_eq!(
        type_check(r#"meta.lastModified ge "2011-05-13T04:42:34.5+02:00""#),
        Ok(())
    );
    assert_eq!(type_check("meta.created eq null"), Ok(()));
    // Substring operators on a dateTime are left alone.
    assert_eq!(type_check(r#"meta.created sw "2011""#), Ok(()));
    // Strings are still ordered.
    assert_eq!(type_check(r#"userName gt "a""#), Ok(()));
}
