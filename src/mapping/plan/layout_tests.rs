//! The layout against the tree at its edges: mapping shapes at the edge
//! of what a layout expresses, the order of selected elements, the
//! shortcut for strings read as they are, and records with repeated and
//! escaped keys. Each renders `to_scim`'s bytes, from a `Value` and from a
//! `Raw`.

use super::render_tests::{
    compile, json_value, oracle, plans, record, rendered, shaped_record, tree_projections,
};
use super::*;
use crate::mapping::record::{Arena, Raw};
use crate::scim::query::Projection;
use proptest::prelude::*;
use serde_json::json;

/// A string attribute read as it is is written straight from a `Raw`'s
/// text (the layout's shortcut); one with a value map or a transform that
/// changes what it reads, or a string with escapes, goes through its rules.
/// Each must give `to_scim`'s bytes.
#[test]
fn strings_read_as_they_are_are_written_straight_and_the_rest_by_their_rules() {
    let res = &compile(
        "as-is.yaml",
        &edge_mapping(
            "",
            "- { scim: displayName, field: first, values: { \"Ann\": A } }\n\
             - { scim: locale, field: loc, transforms: [locale_underscore] }\n\
             - { scim: nickName, field: nick, transforms: [trim] }\n\
             - { scim: title, field: title }\n\
             - { scim: profileUrl, field: url }\n\
             - { scim: timezone, field: tz }\n\
             - { scim: 'urn:example:ext:1.0:User:flag', field: flag, type: boolean }",
        ),
    )[0];
    assert!(res.layout.is_some());
    let text = r#"{"id":"7","login":"a","first":"A","loc":"en_US","nick":"n\u00e9","title":"x\"y","url":"","tz":null,"flag":"true"}"#;
    let record: Value = serde_json::from_str(text).unwrap();
    let arena = Arena::for_text(text.len());

    let raw = Raw::parse(text, &arena).unwrap();
    let p = Projection::default();
    let mut got = Vec::new();
    assert!(res.write_scim(&raw, None, "https://h/scim/v2", true, &p, &mut got));
    let want = oracle(res, &record, None, true, &p);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
    let got: Value = serde_json::from_slice(&got).unwrap();
    // The value map and the transform applied; the texts as they are; an
    // empty string and `null` left out; a boolean's text read as one.
    assert_eq!(got["displayName"], "Ann");
    assert_eq!(got["urn:example:ext:1.0:User"]["flag"], true);
    assert_eq!(got["locale"], "en-US");
    assert_eq!(got["nickName"], "n\u{e9}");
    assert_eq!(got["title"], "x\"y");
    assert_eq!(got["userName"], "a");
    assert!(got.get("profileUrl").is_none() && got.get("timezone").is_none());
}

/// Elements picked by selectors come in the order of the first attribute
/// with a value, not of the mapping's first attribute for each: the
/// layout's order is the tree's.
#[test]
fn selected_elements_keep_the_order_values_come_in() {
    let text = edge_mapping(
        "",
        "- { scim: 'emails[type eq \"work\"].value', field: work }\n\
         - { scim: 'emails[type eq \"home\"].value', field: home }\n\
         - { scim: 'emails[type eq \"work\"].display', field: label }",
    );
    let res = &compile("order.yaml", &text)[0];
    assert!(res.layout.is_some());
    for record in [
        json!({"id": "1", "home": "h@x", "label": "Work"}),
        json!({"id": "1", "work": "w@x", "home": "h@x", "label": "Work"}),
        json!({"id": "1", "label": "Work"}),
        json!({"id": "1"}),
    ] {
        let want = oracle(res, &record, None, true, &Projection::default());
        let got = rendered(res, &record, None, true, &Projection::default()).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }
}

/// Mapping shapes at the edge of what a layout expresses: each compiles,
/// has a layout or not as listed (a broken refusal rule fails here), and
/// renders `to_scim`'s bytes either way, from a `Value` and from a `Raw`.
const EDGE_HEAD: &str = r#"
version: 1
backend: { base_url: "http://127.0.0.1:1" }
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    extensions: [urn:ietf:params:scim:schemas:extension:enterprise:2.0:User, "urn:example:ext:1.0:User"]
    id: { field: id }
    LIFECYCLE
    operations:
      list: { path: /u, items: "$.data[*]", total: "$.total", paging: { style: offset, max_page_size: 10 } }
      get: { path: "/u/{id}" }
      create: { path: /u }
      replace: { path: "/u/{id}" }
    attributes:
      - { scim: userName, field: login }
"#;

/// [`EDGE_HEAD`] with `lifecycle` and the attribute lines `attrs` (each
/// `- { … }`) after `userName`.
pub(super) fn edge_mapping(lifecycle: &str, attrs: &str) -> String {
    let attrs: String = attrs
        .lines()
        .map(|l| format!("      {}\n", l.trim()))
        .collect();
    EDGE_HEAD.replace("LIFECYCLE", lifecycle) + &attrs
}

const SOFT: &str = "lifecycle: { set: { state: gone }, deleted_reads: inactive }";
const ENT_MANAGER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

/// (name, lifecycle, attributes, laid out?)
fn edge_shapes() -> Vec<(&'static str, &'static str, String, bool)> {
    let x = "urn:example:ext:1.0:User";
    vec![
        ("soft delete, active mapped", SOFT, "- { scim: active, field: status, type: boolean, values: { \"true\": ACTIVE, \"false\": DISABLED } }".into(), true),
        ("soft delete, active not mapped", SOFT, "- { scim: displayName, field: first }".into(), true),
        ("active in an extension, soft delete", SOFT, format!("- {{ scim: '{x}:active', field: status }}"), true),
        ("boolean selectors", "", "- { scim: 'roles[primary eq true].value', field: first }\n- { scim: 'roles[primary eq false].value', field: last }".into(), true),
        ("selectors in an extension", "", format!("- {{ scim: '{x}:emails[type eq \"work\"].value', field: first }}\n- {{ scim: '{x}:emails[type eq \"home\"].value', field: last }}"), true),
        ("extension attributes named id and schemas", "", format!("- {{ scim: '{x}:id', field: first }}\n- {{ scim: '{x}:schemas', field: last }}"), true),
        ("groups writing different sub-attributes", "", "- { scim: 'emails[type eq \"work\"].value', field: first }\n- { scim: 'emails[type eq \"home\"].primary', field: last, type: boolean }\n- { scim: 'emails[type eq \"work\"].display', field: kind }".into(), true),
        ("references in two extensions", "", format!("- {{ scim: '{ENT_MANAGER}', field: boss, reference: {{ resource: /Users }} }}\n- {{ scim: '{x}:boss', field: boss, reference: {{ resource: /Users }} }}"), true),
        ("a template in a selected element", "", "- { scim: 'emails[type eq \"work\"].value', template: \"{first}@{last}\" }\n- { scim: 'emails[type eq \"work\"].display', field: kind }".into(), true),
        ("two address groups and a template", "", "- { scim: 'addresses[type eq \"work\"].streetAddress', field: 'addresses[kind=work].number' }\n- { scim: 'addresses[type eq \"work\"].locality', field: 'addresses[kind=work].label' }\n- { scim: 'addresses[type eq \"home\"].locality', field: 'addresses[kind=home].label' }\n- { scim: 'addresses[type eq \"work\"].formatted', template: \"{first} {last}\" }".into(), true),
        ("selector values 1 and \"1\"", "", format!("- {{ scim: '{x}:x[n eq 1].value', field: first }}\n- {{ scim: '{x}:x[n eq \"1\"].value', field: last }}"), true),
        ("value maps to numbers", "", format!("- {{ scim: '{x}:flag', field: status, type: boolean, values: {{ \"true\": 1, \"false\": 0 }} }}\n- {{ scim: '{x}:n', field: number, type: integer }}"), true),
        ("selector values differing in case", "", "- { scim: 'emails[type eq \"work\"].value', field: first }\n- { scim: 'emails[type eq \"Work\"].display', field: last }".into(), false),
        ("a whole attribute and its sub-attribute", "", "- { scim: name, field: names }\n- { scim: name.givenName, field: first }".into(), false),
        ("a reference and a sub-attribute beside it", "", format!("- {{ scim: '{ENT_MANAGER}.value', field: boss, reference: {{ resource: /Users }} }}\n- {{ scim: '{ENT_MANAGER}.displayName', field: first }}"), false),
        ("a selected and a plain path at one name", "", format!("- {{ scim: '{x}:x[n eq 1].value', field: first }}\n- {{ scim: '{x}:x.value', field: last }}"), false),
        ("two selector keys at one name", "", format!("- {{ scim: '{x}:things[type eq \"a\"].value', field: first }}\n- {{ scim: '{x}:things[kind eq \"a\"].display', field: last }}"), false),
        ("a sub-attribute named as the selector key", "", "- { scim: 'emails[type eq \"work\"].value', field: first }\n- { scim: 'emails[type eq \"home\"].Type', field: last }".into(), false),
    ]
}

fn edge_plans() -> &'static [(&'static str, ResourcePlan)] {
    static PLANS: std::sync::OnceLock<Vec<(&'static str, ResourcePlan)>> =
        std::sync::OnceLock::new();
    PLANS.get_or_init(|| {
        edge_shapes()
            .into_iter()
            .map(|(name, life, attrs, laid_out)| {
                let res = compile(name, &edge_mapping(life, &attrs)).remove(0);
                assert_eq!(res.layout.is_some(), laid_out, "{name}: layout");
                assert!(
                    res.renders_raw(&res.ops.get, &Projection::default()),
                    "{name}"
                );
                (name, res)
            })
            .collect()
    })
}

/// `record` printed with an earlier decoy value for some keys and some
/// keys `\u`-escaped: the same `Value` when read, and a `Raw` that must
/// read the same.
fn with_repeats(v: &Value, decoy: &Value, n: &mut usize, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                *n += 1;
                let key = if *n % 3 == 0 && k.chars().all(|c| (c as u32) < 0x10000) {
                    let esc: String = k.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
                    format!("\"{esc}\"")
                } else {
                    serde_json::to_string(k).unwrap()
                };
                if *n % 2 == 0 {
                    out.push_str(&format!("{key}:{decoy},"));
                }
                out.push_str(&key);
                out.push(':');
                with_repeats(x, decoy, n, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                with_repeats(x, decoy, n, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn edge_shapes_render_as_to_scim(record in prop_oneof![record(), shaped_record()]) {
        let text = serde_json::to_string(&record).unwrap();
        let arena = Arena::for_text(text.len());

        let raw = Raw::parse(&text, &arena).unwrap();
        for (name, res) in edge_plans() {
            for p in tree_projections(&res.schema) {
                let want = oracle(res, &record, None, true, &p);
                let got = rendered(res, &record, None, true, &p).unwrap();
                prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{}", name);
                let mut from_raw = Vec::new();
                res.write_scim(&raw, None, "https://h/scim/v2", true, &p, &mut from_raw);
                prop_assert_eq!(String::from_utf8_lossy(&from_raw), String::from_utf8_lossy(&want), "{} from a Raw", name);
            }
        }
    }

    /// Repeated and escaped keys: a `Raw` reads the last value, as a
    /// `Value` does, through the render, `to_scim`, the hidden check and ids.
    #[test]
    fn repeated_keys_render_as_to_scim(
        record in prop_oneof![record(), shaped_record()],
        decoy in json_value(),
        start in 0usize..6,
    ) {
        let mut text = String::new();
        with_repeats(&record, &decoy, &mut { start }, &mut text);
        prop_assert_eq!(&serde_json::from_str::<Value>(&text).unwrap(), &record);
        let arena = Arena::for_text(text.len());

        let raw = Raw::parse(&text, &arena).unwrap();
        let all = plans().iter().chain(edge_plans().iter().map(|(_, r)| r));
        for res in all.filter(|r| r.renders_raw(&r.ops.get, &Projection::default())) {
            let want = oracle(res, &record, Some("W/\"e\""), true, &Projection::default());
            let mut got = Vec::new();
            res.write_scim(&raw, Some("W/\"e\""), "https://h/scim/v2", true, &Projection::default(), &mut got);
            prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{}", res.file);
            prop_assert_eq!(res.to_scim(&raw, None, "b", true), res.to_scim(&record, None, "b", true));
            prop_assert_eq!(res.is_hidden(&raw), res.is_hidden(&record));
            prop_assert_eq!(res.id_of(&raw), res.id_of(&record));
        }
    }
}
