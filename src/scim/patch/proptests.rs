//! Properties of the PATCH engine over random resources and operations:
//! untargeted attributes are kept, add-then-remove restores the resource,
//! replace is idempotent, and the indexed `remove` matching agrees with the
//! element rule it replaces.

use super::values::{same_element, Listed};
use super::*;
use crate::scim::test_schema::{TestSchema, CORE};
use proptest::prelude::*;
use serde_json::json;

const SINGLE: [&str; 4] = ["userName", "displayName", "preferredLanguage", "externalId"];

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 @._-]{1,12}"
}

fn email() -> impl Strategy<Value = Value> {
    (text(), prop::sample::select(vec!["work", "home", "other"]))
        .prop_map(|(v, t)| json!({"value": v, "type": t}))
}

fn emails() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(email(), 0..6).prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|e| seen.insert(e["value"].as_str().unwrap_or_default().to_string()));
        v
    })
}

/// A user with a random subset of attributes, including one the schema does not know.
fn resource() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(prop::option::of(text()), SINGLE.len()),
        prop::option::of(any::<bool>()),
        emails(),
        prop::option::of(text()),
    )
        .prop_map(|(singles, active, emails, custom)| {
            let mut r = json!({"schemas": [CORE], "id": "42"});
            for (name, v) in SINGLE.iter().zip(singles) {
                if let Some(v) = v {
                    r[*name] = Value::String(v);
                }
            }
            if let Some(a) = active {
                r["active"] = Value::Bool(a);
            }
            if !emails.is_empty() {
                r["emails"] = Value::Array(emails);
            }
            if let Some(c) = custom {
                r["x_custom"] = Value::String(c);
            }
            r
        })
}

/// One operation (as JSON) and the attribute it targets.
fn operation() -> impl Strategy<Value = (Value, &'static str)> {
    let kind = prop::sample::select(vec!["add", "replace", "remove", "Replace", "Add"]);
    let target = prop_oneof![
        prop::sample::select(SINGLE.to_vec())
            .prop_flat_map(|n| text().prop_map(move |v| (n, Value::String(v)))),
        any::<bool>().prop_map(|b| ("active", Value::Bool(b))),
        emails().prop_map(|e| ("emails", Value::Array(e))),
    ];
    (kind, target).prop_map(|(kind, (name, value))| {
        let op = if kind == "remove" {
            json!({"op": kind, "path": name})
        } else {
            json!({"op": kind, "path": name, "value": value})
        };
        (op, name)
    })
}

fn apply(resource: &Value, ops: &[Value]) -> Result<Value, PatchError> {
    let body = json!({"schemas": [PATCH_OP_URN], "Operations": ops});
    let ops = parse_patch(&body)?;
    let mut out = resource.clone();
    apply_patch(&mut out, &ops, &TestSchema)?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn untargeted_attributes_are_kept(
        r in resource(),
        ops in prop::collection::vec(operation(), 1..4),
    ) {
        let targeted: Vec<&str> = ops.iter().map(|(_, n)| *n).collect();
        let json_ops: Vec<Value> = ops.into_iter().map(|(o, _)| o).collect();
        let out = apply(&r, &json_ops).expect("valid operations apply");
        let keys: std::collections::BTreeSet<&String> = r
            .as_object()
            .unwrap()
            .keys()
            .chain(out.as_object().unwrap().keys())
            .collect();
        for k in keys {
            if targeted.iter().any(|t| t.eq_ignore_ascii_case(k)) {
                continue;
            }
            prop_assert_eq!(r.get(k), out.get(k), "attribute {} changed", k);
        }
    }

    #[test]
    fn add_then_remove_restores_a_single_valued_attribute(
        r in resource(),
        name in prop::sample::select(SINGLE.to_vec()),
        v in text(),
    ) {
        let mut r = r;
        r.as_object_mut().unwrap().remove(name);
        let out = apply(&r, &[
            json!({"op": "add", "path": name, "value": v}),
            json!({"op": "remove", "path": name}),
        ]).unwrap();
        prop_assert_eq!(out, r);
    }

    #[test]
    fn add_then_remove_restores_a_multi_valued_attribute(
        r in resource(),
        new in email(),
    ) {
        let fresh = format!("{}#new", new["value"].as_str().unwrap());
        let mut el = new;
        el["value"] = Value::String(fresh.clone());
        let out = apply(&r, &[
            json!({"op": "add", "path": "emails", "value": [el]}),
            json!({"op": "remove", "path": format!("emails[value eq {}]", Value::String(fresh))}),
        ]).unwrap();
        prop_assert_eq!(out, r);
    }

    #[test]
    fn replace_is_idempotent(r in resource(), (op, _) in operation()) {
        let mut op = op;
        op["op"] = json!("replace");
        if op.get("value").is_some() {
            let once = apply(&r, std::slice::from_ref(&op)).unwrap();
            let twice = apply(&once, &[op]).unwrap();
            prop_assert_eq!(twice, once);
        }
    }

    #[test]
    fn indexed_remove_matches_like_the_element_rule(
        listed in prop::collection::vec(prop_oneof![
            email(),
            text().prop_map(Value::String),
            Just(json!({"type": "work"})),
            Just(json!({"value": null, "type": "home"})),
        ], 0..5),
        elems in prop::collection::vec(prop_oneof![
            email(),
            text().prop_map(Value::String),
            Just(json!({"type": "work"})),
        ], 0..8),
    ) {
        let index = Listed::new(&listed, false);
        for e in &elems {
            prop_assert_eq!(index.names(e), listed.iter().any(|w| same_element(w, e)));
        }
        // Folded (`emails`: `value` not case-exact; a simple multi-valued
        // attribute's strings): ids and bare strings compare lower-cased,
        // whole objects still exactly.
        let index = Listed::new(&listed, true);
        for e in &elems {
            prop_assert_eq!(index.names(e), listed.iter().any(|w| same_element_folded(w, e)));
        }
    }

    #[test]
    fn folded_remove_names_an_element_by_its_value_in_any_case(e in email()) {
        let upper = json!({"value": e["value"].as_str().unwrap_or_default().to_uppercase()});
        let listed = std::slice::from_ref(&upper);
        prop_assert!(Listed::new(listed, true).names(&e));
        prop_assert_eq!(Listed::new(listed, false).names(&e), upper["value"] == e["value"]);
    }
}

/// [`same_element`] with `value`s and bare strings compared case-insensitively.
fn same_element_folded(wanted: &Value, el: &Value) -> bool {
    let id = |v: &Value| {
        v.as_object()
            .and_then(|o| o.get("value"))
            .filter(|v| !v.is_null())
            .map(|v| v.as_str().map_or(v.clone(), |s| json!(s.to_lowercase())))
    };
    let lower = |v: &Value| v.as_str().map_or(v.clone(), |s| json!(s.to_lowercase()));
    match (wanted, id(wanted)) {
        (_, Some(want)) => id(el) == Some(want),
        (Value::Object(o), None) => {
            let mut o = o.clone();
            o.retain(|_, v| !v.is_null());
            *el == Value::Object(o)
        }
        (scalar, None) => lower(el) == lower(scalar) || id(el) == Some(lower(scalar)),
    }
}
