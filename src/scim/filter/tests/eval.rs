//! Evaluation of filters against a resource.

use super::*;

// ----- evaluation --------------------------------------------------------

#[test]
fn eq_strings_are_case_insensitive_by_default() {
    assert!(is_match(r#"userName eq "BJENSEN@example.com""#));
    assert!(is_match(r#"USERNAME eq "bjensen@example.com""#));
    assert!(!is_match(r#"userName eq "bjensen""#));
}

#[test]
fn case_exact_attributes_compare_exactly() {
    assert!(is_match(r#"externalId eq "Bjensen""#));
    assert!(!is_match(r#"externalId eq "bjensen""#));
    assert!(!is_match(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
    assert!(is_match(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
    assert!(is_match(r#"externalId co "jen""#));
    assert!(!is_match(r#"externalId sw "bj""#));
    assert!(is_match(r#"externalId gt "B""#));
    assert!(!is_match(r#"externalId gt "b""#));
}

#[test]
fn ne_is_the_negation_of_eq() {
    assert!(is_match(r#"userName ne "x""#));
    assert!(!is_match(r#"userName ne "BJENSEN@EXAMPLE.COM""#));
    assert!(is_match(r#"missing ne "x""#));
    assert!(!is_match(r#"emails.type ne "work""#));
    assert!(is_match(r#"emails.type ne "other""#));
}

#[test]
fn substring_operators() {
    assert!(is_match(r#"userName co "JENSEN@""#));
    assert!(is_match(r#"userName sw "BJ""#));
    assert!(is_match(r#"userName ew ".COM""#));
    assert!(!is_match(r#"userName sw "jensen""#));
    assert!(!is_match(r#"userName ew "example""#));
    assert!(!is_match(r#"missing co "x""#));
    assert!(!is_match(r#"count co "3""#));
}

#[test]
fn ordering_on_strings() {
    assert!(is_match(r#"userName gt "a""#));
    assert!(!is_match(r#"userName lt "a""#));
    assert!(is_match(r#"userName ge "BJENSEN@EXAMPLE.COM""#));
    assert!(is_match(r#"userName le "BJENSEN@EXAMPLE.COM""#));
    assert!(!is_match(r#"userName gt "BJENSEN@EXAMPLE.COM""#));
    assert!(!is_match(r#"missing gt "a""#));
    assert!(!is_match(r#"active gt "a""#));
}

#[test]
fn numbers_compare_numerically() {
    assert!(is_match("score gt 7"));
    assert!(is_match("score eq 7.5"));
    assert!(!is_match("score lt 7.5"));
    assert!(is_match("score le 7.5"));
    assert!(is_match("count eq 3.0"));
    assert!(is_match("count ge 3"));
    assert!(!is_match("count gt 3"));
    assert!(!is_match(r#"count eq "3""#));
}

#[test]
fn large_integers_compare_exactly() {
    assert!(is_match("big eq 9007199254740993"));
    assert!(!is_match("big eq 9007199254740992"));
    assert!(is_match("big gt 9007199254740992"));
}

#[test]
fn integer_attributes_accept_numeric_strings() {
    assert!(is_match("loginCount eq 42"));
    assert!(is_match("loginCount gt 9"));
    assert!(is_match(r#"loginCount lt "100""#));
    // Without schema knowledge a numeric string is just a string.
    assert!(!is_match("zip eq 12345"));
    assert!(!is_match("zip gt 1"));
}

#[test]
fn booleans_and_boolean_strings() {
    assert!(is_match("active eq true"));
    assert!(!is_match("active eq false"));
    assert!(is_match("active ne false"));
    assert!(is_match(r#"active eq "True""#));
    assert!(is_match("flag eq TRUE"));
    assert!(!is_match("flag eq false"));
    assert!(is_match("disabled eq false"));
    assert!(is_match("emails.primary eq true"));
}

#[test]
fn null_and_absence() {
    assert!(is_match("title eq null"));
    assert!(is_match("missing eq null"));
    assert!(!is_match("userName eq null"));
    assert!(!is_match("title ne null"));
    assert!(is_match("userName ne null"));
    assert!(!is_match(r#"title eq "x""#));
}

#[test]
fn present_ignores_null_and_empty_values() {
    assert!(is_match("userName pr"));
    assert!(is_match("emails pr"));
    assert!(is_match("disabled pr"));
    assert!(is_match("count pr"));
    assert!(!is_match("title pr"));
    assert!(!is_match("nickName pr"));
    assert!(!is_match("phoneNumbers pr"));
    assert!(!is_match("extra pr"));
    assert!(!is_match("missing pr"));
    assert!(!is_match("name.middleName pr"));
    assert!(is_match("emails.type pr"));
}

#[test]
fn multi_valued_attributes_match_any_element() {
    assert!(is_match(r#"emails.value eq "babs@jensen.org""#));
    assert!(!is_match(r#"emails.type eq "other""#));
    assert!(is_match(r#"emails eq "BABS@jensen.org""#));
    assert!(is_match(r#"emails co "jensen.org""#));
    assert!(is_match(r#"roles eq "admin""#));
    assert!(is_match(r#"roles eq "DEV""#));
    assert!(!is_match(r#"roles eq "ops""#));
}

#[test]
fn value_path_requires_one_element_to_satisfy_all_terms() {
    assert!(is_match(
        r#"emails[type eq "work" and value co "example.com"]"#
    ));
    assert!(!is_match(
        r#"emails[type eq "home" and value co "example.com"]"#
    ));
    // Without a value path the terms may match different elements.
    assert!(is_match(
        r#"emails.type eq "home" and emails.value co "example.com""#
    ));
    assert!(is_match(r#"emails[not (type eq "work")]"#));
    assert!(!is_match(r#"phoneNumbers[type pr]"#));
}

#[test]
fn value_path_over_primitive_elements_uses_value() {
    assert!(is_match(r#"roles[value eq "ADMIN"]"#));
    assert!(!is_match(r#"roles[value eq "ops"]"#));
    assert!(!is_match(r#"roles[type eq "admin"]"#));
}

#[test]
fn entra_value_path_sub_attribute_evaluates() {
    assert!(is_match(
        r#"emails[type eq "work"].value eq "bjensen@example.com""#
    ));
    assert!(!is_match(
        r#"emails[type eq "work"].value eq "babs@jensen.org""#
    ));
    assert!(is_match(r#"emails[type eq "home"].value ew "JENSEN.ORG""#));
}

#[test]
fn value_path_uses_sub_attribute_case_rule() {
    assert!(is_match(r#"ims[value eq "SomeIM"]"#));
    assert!(!is_match(r#"ims[value eq "someim"]"#));
    assert!(!is_match(r#"ims.value eq "someim""#));
    assert!(!is_match(r#"ims eq "someim""#));
    assert!(is_match(r#"ims[type eq "AIM"]"#));
}

#[test]
fn single_complex_attributes() {
    assert!(is_match(r#"name.givenName eq "barbara""#));
    assert!(is_match(r#"NAME.GIVENNAME sw "Bar""#));
    assert!(is_match(
        r#"name[givenName eq "Barbara" and familyName eq "JENSEN"]"#
    ));
    assert!(!is_match(r#"name eq "Barbara""#));
}

#[test]
fn urn_paths_resolve_extensions_and_core() {
    assert!(is_match(&format!("{ENT}:employeeNumber eq \"E701984\"")));
    assert!(!is_match(&format!("{ENT}:employeeNumber eq \"e701984\"")));
    assert!(is_match(&format!(
        "{}:EMPLOYEENUMBER pr",
        ENT.to_uppercase()
    )));
    assert!(is_match(&format!("{ENT}:manager.value sw \"26118915\"")));
    assert!(is_match(&format!("{ENT}:manager[value pr]")));
    assert!(is_match(&format!(
        "{CORE}:userName eq \"bjensen@example.com\""
    )));
    assert!(is_match(&format!(
        "{}:name.givenName pr",
        CORE.to_lowercase()
    )));
    // Unprefixed names do not search extensions; unknown URNs find nothing.
    assert!(!is_match("employeeNumber pr"));
    assert!(!is_match("urn:x:y:employeeNumber pr"));
}

#[test]
fn date_times_compare_as_instants() {
    assert!(is_match(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#));
    assert!(!is_match(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
    assert!(is_match(
        r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#
    ));
    assert!(is_match(
        r#"meta.lastModified eq "2011-05-13t04:42:34.000z""#
    ));
    // 04:56:22+02:00 is 02:56:22Z, earlier than 03:00Z though it sorts later as text.
    assert!(is_match(r#"meta.created lt "2010-01-23T03:00:00Z""#));
    // Unparseable values fall back to text order.
    assert!(is_match(r#"meta.lastModified gt "2011""#));
}

#[test]
fn rfc3339_parsing() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
    assert_eq!(
        parse_rfc3339("2011-05-13T04:42:34Z"),
        Some((1_305_261_754, 0))
    );
    assert_eq!(
        parse_rfc3339("2000-03-01T00:00:00Z"),
        Some((951_868_800, 0))
    );
    assert_eq!(
        parse_rfc3339("1900-01-01T00:00:00Z"),
        Some((-2_208_988_800, 0))
    );
    assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some((-1, 0)));
    assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some((0, 0)));
    assert_eq!(
        parse_rfc3339("1970-01-01T00:00:00.5Z"),
        Some((0, 500_000_000))
    );
    assert_eq!(
        parse_rfc3339("1970-01-01T00:00:00.1234567891Z"),
        Some((0, 123_456_789))
    );
    assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
    for bad in [
        "2001-02-29T00:00:00Z",
        "2011-13-01T00:00:00Z",
        "2011-05-13T24:00:00Z",
        "2011-05-13T04:42:34",
        "2011-05-13T04:42:34.Z",
        "2011-05-13T04:42:34+0200",
        "2011-05-13T04:42:34Zjunk",
        "2011-05-13",
        "２011-05-13T04:42:34Z",
        "",
    ] {
        assert_eq!(parse_rfc3339(bad), None, "{bad}");
    }
}

#[test]
fn logical_operators_evaluate() {
    assert!(is_match(r#"not (userName eq "x") and active eq true"#));
    assert!(!is_match(r#"not (userName pr)"#));
    assert!(is_match(r#"userName eq "x" or active eq true"#));
    assert!(!is_match(r#"userName eq "x" or active eq false"#));
    assert!(is_match(
        r#"userName eq "x" or active eq false or count eq 3"#
    ));
    assert!(!is_match(
        r#"(userName eq "x" or active eq true) and count eq 4"#
    ));
}

#[test]
fn odd_json_never_panics() {
    let filters = [
        r#"a eq "x""#,
        "a eq 1",
        "a pr",
        "a.b gt 2",
        r#"a[b eq "x"]"#,
        r#"a co "x""#,
        "a eq null",
    ];
    let resources = [
        json!(null),
        json!("string"),
        json!([1, 2]),
        json!({"a": [[1, 2], [3]]}),
        json!({"a": {"b": [{"c": 1}]}}),
        json!({"a": "1", "A": 1}),
        json!({"a": [null, {}, [], ""]}),
        json!({"a": {"value": {"x": 1}}}),
    ];
    for f in filters {
        let f = parse(f);
        for r in &resources {
            let _ = matches(&f, r, &TestSchema);
        }
    }
    assert!(!matches(&parse("a pr"), &json!(null), &TestSchema));
    assert!(!matches(
        &parse("a eq 1"),
        &json!({"a": [[1, 2], [3]]}),
        &TestSchema
    ));
    assert!(matches(
        &parse("a pr"),
        &json!({"a": [[1, 2], [3]]}),
        &TestSchema
    ));
    assert!(!matches(
        &parse("a pr"),
        &json!({"a": [null, {}, [], ""]}),
        &TestSchema
    ));
    assert!(matches(
        &parse("a eq null"),
        &json!({"a": [null, {}, [], ""]}),
        &TestSchema
    ));
    assert!(matches(
        &parse("a.b pr"),
        &json!({"a": {"b": [{"c": 1}]}}),
        &TestSchema
    ));
    assert!(!matches(
        &parse(r#"a[b eq "x"]"#),
        &json!({"a": "x"}),
        &TestSchema
    ));
}

#[test]
fn resolve_flattens_multi_valued_attributes() {
    let user = user();
    let values = resolve(&user, &AttrPath::with_sub("emails", "value"), &TestSchema);
    assert_eq!(
        values,
        vec![&json!("bjensen@example.com"), &json!("babs@jensen.org")]
    );
    assert_eq!(resolve(&user, &path("roles"), &TestSchema).len(), 2);
    assert_eq!(
        resolve(&user, &path("Title"), &TestSchema),
        vec![&Value::Null]
    );
    assert!(resolve(&user, &path("missing"), &TestSchema).is_empty());
    let manager = urn_path(ENT, "manager", Some("value"));
    assert_eq!(
        resolve(&user, &manager, &TestSchema),
        vec![&json!("26118915-6090-4610-87e4-49d8ca9f808d")]
    );
    assert_eq!(
        resolve(
            &user,
            &urn_path(CORE, "name", Some("givenName")),
            &TestSchema
        ),
        vec![&json!("Barbara")]
    );
}

/// `eq_text` answers as `eq_value` does for the same text as a `Value`,
/// for every kind an attribute can have, either case rule, and literals
/// of every type (a dateTime, booleans as text, numbers as text).
#[test]
fn eq_text_is_eq_value_of_a_string() {
    use crate::scim::attr::{AttrKind, AttrMeta};
    let texts = [
        "",
        "a",
        "A",
        "zoë",
        "ZOË",
        " true",
        "true",
        "False",
        "12",
        "12.0",
        "1e3",
        " 7 ",
        "2020-01-01T00:00:00Z",
        "2020-01-01T01:00:00+01:00",
    ];
    let literals = [
        json!("a"),
        json!("zoë"),
        json!("TRUE"),
        json!(true),
        json!(false),
        json!(12),
        json!(12.0),
        json!(1000),
        json!(null),
        json!("2020-01-01T00:00:00Z"),
        json!(["a"]),
    ];
    let kinds = [
        AttrKind::String,
        AttrKind::Boolean,
        AttrKind::Integer,
        AttrKind::Decimal,
        AttrKind::DateTime,
        AttrKind::Reference,
        AttrKind::Binary,
        AttrKind::Complex,
    ];
    let mut metas = vec![None];
    for kind in kinds {
        for case_exact in [false, true] {
            metas.push(Some(AttrMeta {
                name: "x",
                kind,
                multi_valued: false,
                case_exact,
            }));
        }
    }
    for t in texts {
        for l in &literals {
            for m in &metas {
                assert_eq!(
                    eq_text(t, l, *m),
                    eq_value(&json!(t), l, *m),
                    "{t:?} {l} {m:?}"
                );
            }
        }
    }
}
