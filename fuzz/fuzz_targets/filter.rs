//! Filter parse + evaluate: any text is parsed; a parsed filter must print in
//! a form that parses back to the same tree, and evaluates (without panicking)
//! against a rich SCIM user, the bridge's view of a backend user and a group.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::filter::{eq_assignments, matches, parse_filter};
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
            (group_plan().to_scim(&team_record(), None, base, true), false),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = parse_filter(text) else {
        return;
    };
    let printed = filter.to_string();
    let reparsed = parse_filter(&printed)
        .unwrap_or_else(|e| panic!("printed filter {printed:?} does not parse: {e}"));
    assert_eq!(reparsed, filter, "print/parse round trip of {printed:?}");
    let _ = eq_assignments(&filter);
    for (resource, is_user) in resources() {
        let schema = if *is_user { user_plan() } else { group_plan() };
        let _ = matches(&filter, resource, schema);
    }
});
