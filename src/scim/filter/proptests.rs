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
