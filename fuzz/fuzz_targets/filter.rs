//! Filter parse + evaluate: any text is parsed; a parsed filter must print in
//! a form that parses back to the same tree, and evaluates (without panicking)
//! against a rich SCIM user, the bridge's view of a backend user and a group.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::filter::{eq_assignments, matches, parse_filter, parse_tokens, Filter};
use scim_bridge_fuzz::{group_plan, rich_scim_user, team_record, user_plan, user_record};
use serde_json::Value;
use std::sync::OnceLock;

fn resources() -> &'static [(Value, bool)] {
    static R: OnceLock<Vec<(Value, bool)>> = OnceLock::new();
    R.get_or_init(|| {
        let base = "https://scim.example.com/scim/v2";
        vec![
            (rich_scim_user(), true),
            (user_plan().to_scim(&user_record(), None, base, true), true),
            (
                group_plan().to_scim(&team_record(), None, base, true),
                false,
            ),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The shortcut for a plain comparison reads what the parser reads.
    let parsed = parse_filter(text);
    assert_eq!(parsed, parse_tokens(text), "{text:?}");
    let Ok(filter) = parsed else {
        return;
    };
    let printed = filter.to_string();
    let reparsed = parse_filter(&printed)
        .unwrap_or_else(|e| panic!("printed filter {printed:?} does not parse: {e}"));
    // Strict equality, except that a float literal may move by one unit in
    // the last place: serde_json (without its `float_roundtrip` feature)
    // parses a long integer literal 1 ULP off, and the printed (shortest,
    // exact) form then parses to the neighbouring f64. Known finding, see
    // fuzz/regressions/filter/float-roundtrip-big-integer-min
    // (`a eq 100018246367653187477759`). FUZZ_STRICT_FLOATS=1 fails on it.
    if std::env::var_os("FUZZ_STRICT_FLOATS").is_some() {
        assert_eq!(reparsed, filter, "print/parse round trip of {printed:?}");
    } else {
        assert!(
            same(&reparsed, &filter),
            "print/parse round trip of {printed:?}: {reparsed:?} != {filter:?}"
        );
    }
    let _ = eq_assignments(&filter);
    for (resource, is_user) in resources() {
        let schema = if *is_user { user_plan() } else { group_plan() };
        let _ = matches(&filter, resource, schema);
    }
});

fn same(a: &Filter, b: &Filter) -> bool {
    match (a, b) {
        (Filter::Compare(pa, oa, va), Filter::Compare(pb, ob, vb)) => {
            pa == pb && oa == ob && (va == vb || close_floats(va, vb))
        }
        (Filter::And(a1, a2), Filter::And(b1, b2)) | (Filter::Or(a1, a2), Filter::Or(b1, b2)) => {
            same(a1, b1) && same(a2, b2)
        }
        (Filter::Not(a), Filter::Not(b)) => same(a, b),
        (Filter::ValuePath(pa, a), Filter::ValuePath(pb, b)) => pa == pb && same(a, b),
        _ => a == b,
    }
}

fn close_floats(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_f64() && b.is_f64() => x.to_bits().abs_diff(y.to_bits()) <= 1,
        _ => false,
    }
}
