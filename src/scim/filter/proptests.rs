//! Properties of the filter parser: it never panics, and printing a filter
//! then parsing the text gives the same tree.

use super::*;
use proptest::prelude::*;

fn attr_path() -> impl Strategy<Value = AttrPath> {
    let names = prop::sample::select(vec!["userName", "emails", "name", "active", "x_1"]);
    let subs = prop::option::of(prop::sample::select(vec!["value", "givenName", "type"]));
    let urn = prop::option::of(Just(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_string(),
    ));
    (urn, names, subs).prop_map(|(urn, name, sub)| AttrPath {
        urn,
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        "[a-z\"\\\\ ]{0,8}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

/// Comparisons the grammar allows: `co`/`sw`/`ew` take strings, ordering
/// operators strings or numbers, `eq`/`ne` anything.
fn compare() -> impl Strategy<Value = Filter> {
    let op = prop::sample::select(CompareOp::ALL.to_vec());
    (attr_path(), op, value())
        .prop_filter("a value the operator takes", |(_, op, v)| match op {
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => v.is_string(),
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                v.is_string() || v.is_number()
            }
            CompareOp::Eq | CompareOp::Ne => true,
        })
        .prop_map(|(p, op, v)| Filter::Compare(p, op, v))
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![attr_path().prop_map(Filter::Present), compare()];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(a.into(), b.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(a.into(), b.into())),
            inner.clone().prop_map(|a| Filter::Not(a.into())),
            // A value filter's inner paths are relative: no URN, no sub-attribute.
            (
                prop::sample::select(vec!["emails", "addresses"]),
                inner.prop_filter("no URN inside a value filter", |f| {
                    !f.to_string().contains("urn:") && !f.to_string().contains('[')
                })
            )
                .prop_map(|(n, f)| Filter::ValuePath(AttrPath::new(n), f.into())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsing_any_text_never_panics(s in any::<String>()) {
        let _ = parse_filter(&s);
        let _ = parse_patch_path(&s);
    }

    #[test]
    fn parsing_filter_shaped_text_never_panics(
        s in "[a-zA-Z .:\\[\\]()\"\\\\0-9-]{0,64}"
    ) {
        if let Ok(f) = parse_filter(&s) {
            // What parses prints to text that parses to the same tree.
            prop_assert_eq!(parse_filter(&f.to_string()), Ok(f));
        }
    }

    #[test]
    fn printing_then_parsing_gives_the_same_tree(f in filter()) {
        let text = f.to_string();
        prop_assert_eq!(parse_filter(&text), Ok(f), "printed as {}", text);
    }
}

/// Text near the plain comparison's shape, mostly in it: names with dots,
/// colons and brackets; any operator word; one space, two, a tab or none;
/// backslashes, quotes, tabs and non-ASCII in the literal; something after.
fn near_plain_comparison() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "userName",
        "name.givenName",
        "not",
        "and",
        "$ref",
        "urn:x:a",
        "a.b.c",
        "1a",
        "é",
        "emails[type",
        "x",
        "a.",
    ]);
    let sep = prop_oneof![8 => Just(" "), 1 => Just("  "), 1 => Just("\t"), 1 => Just("")];
    let op = prop::sample::select(vec![
        "eq", "EQ", "Ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "eqq", "",
    ]);
    let body = "([a-z @.é]|\\\\|\\\\\"|\\\\u00e9|\t|\")*";
    let end = prop_oneof![8 => Just("\""), 1 => Just("\" "), 1 => Just(""), 1 => Just("\"]")];
    (word, sep.clone(), op, sep, body, end)
        .prop_map(|(w, s1, op, s2, body, end)| format!("{w}{s1}{op}{s2}\"{body}{end}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The shortcut reads each such text as the parser does, or leaves it
    /// to the parser.
    #[test]
    fn plain_comparison_is_what_the_parser_reads(s in near_plain_comparison()) {
        prop_assert_eq!(parse_filter(&s), parse_tokens(&s), "{:?}", s);
    }
}

/// The shortcut is taken for what Entra sends (the property above would
/// pass if it never were), and not for what it must leave alone.
#[test]
fn plain_comparison_takes_entra_lookups_only() {
    use super::parser::plain_comparison;
    let taken = [
        r#"userName eq "bjensen@example.com""#,
        r#"externalId eq "0a3c5e2f-4b8e""#,
        r#"displayName EQ "Group One""#,
        r#"name.givenName sw "J""#,
        r#"userName eq """#,
    ];
    for s in taken {
        let f = plain_comparison(s).unwrap_or_else(|| panic!("{s:?} not taken"));
        assert_eq!(Ok(f), parse_tokens(s), "{s:?}");
    }
    let left = [
        r#"userName eq "a\"b""#,
        r#"userName  eq "x""#,
        r#"userName eq "x" "#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
        r#"emails[type eq "work"]"#,
        r#"userName pr"#,
        r#"active eq true"#,
        r#"userName eq "a" and x eq "b""#,
        "userName\teq \"x\"",
        r#"userName eq "a\\b""#,
        r#"userName eq "\u00e9""#,
        "userName eq \"a\tb\"",
        "userName eq \"a\u{1}\"",
        r#"a. eq "x""#,
        r#"a.b.c eq "x""#,
    ];
    for s in left {
        assert!(plain_comparison(s).is_none(), "{s:?} taken");
        assert_eq!(parse_filter(s), parse_tokens(s), "{s:?}");
    }
    let long = format!("a eq \"{}\"", "x".repeat(super::MAX_FILTER_LEN));
    assert!(plain_comparison(&long).is_none());
    assert!(parse_filter(&long).is_err());
}
