//! Properties of the read/write translation of every shipped and test
//! mapping (`config/mappings/*.yaml`, `tests/fixtures/*.yaml`) over random
//! backend records holding values the mapping cannot read (unknown enum
//! values, wrong types, nulls, nested objects, arrays) and unmapped fields:
//! - a read→write round trip with no change writes the record back unchanged;
//! - writing the SCIM view read from a record gives a record that reads the same;
//! - after random PATCH operations, every backend field that no operation
//!   targets is exactly what the backend returned.
use crate::support::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use scim_bridge::mapping::plan::{AttrPlan, ResourcePlan, WriteMode};
use scim_bridge::scim::attr::AttrKind;
use scim_bridge::scim::patch::{apply_patch, parse_patch, PATCH_OP_URN};
use serde_json::{json, Value};

/// Every mapping the project ships or tests with, compiled.
fn all_resources() -> Vec<(String, ResourcePlan)> {
    let env: std::collections::HashMap<String, String> = [
        ("ACME_URL", "http://127.0.0.1:9"),
        ("ACME_PASSWORD", "property-test-password"),
        ("PERIPASS_API_KEY", "property-test-key"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    register_secret("property-test-password");
    register_secret("property-test-key");
    let mut out = Vec::new();
    for dir in ["config/mappings", "tests/fixtures"] {
        let mut files: Vec<_> = std::fs::read_dir(repo_path(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let mut text = std::fs::read_to_string(&f).unwrap();
            if !text.contains("base_url:") {
                text = text.replacen(
                    "\nbackend:\n",
                    "\nbackend:\n  base_url: http://127.0.0.1:9\n",
                    1,
                );
            }
            let name = f.display().to_string();
            let plans =
                scim_bridge::mapping::compile::compile_text(&name, &text, None, &Some(env.clone()))
                    .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            out.extend(plans.into_iter().map(|p| (name.clone(), p)));
        }
    }
    assert!(out.len() >= 3, "expected the shipped and test mappings");
    out
}

/// A backend value of one of several shapes; `valid` is one the mapping can read.
fn field_value(a: &AttrPlan, choice: u8, s: &str, n: i64) -> Option<Value> {
    let valid = || -> Value {
        if let Some((_, b)) = a
            .values
            .get(n.unsigned_abs() as usize % a.values.len().max(1))
        {
            return b.clone();
        }
        match a.kind {
            AttrKind::Boolean => Value::Bool(n % 2 == 0),
            AttrKind::Integer | AttrKind::Decimal => Value::from(n),
            _ => Value::String(s.to_string()),
        }
    };
    match choice % 8 {
        0 => None,
        1 => Some(Value::Null),
        2 => Some(json!("LOCKED")),
        3 => Some(json!({"nested": {"deep": s}, "n": n})),
        4 => Some(json!([s, n, null])),
        5 => Some(json!("")),
        _ => Some(valid()),
    }
}

#[derive(Debug, Clone)]
struct Seed {
    choices: Vec<u8>,
    strings: Vec<String>,
    numbers: Vec<i64>,
    unmapped: Value,
}

fn seed() -> impl Strategy<Value = Seed> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-zA-Z0-9 ]{0,8}".prop_map(Value::String),
    ];
    let unmapped = leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,5}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    (
        prop::collection::vec(any::<u8>(), 64),
        prop::collection::vec("[a-zA-Z0-9@. ]{1,10}", 64),
        prop::collection::vec(-5i64..1000, 64),
        unmapped,
    )
        .prop_map(|(choices, strings, numbers, unmapped)| Seed {
            choices,
            strings,
            numbers,
            unmapped,
        })
}

/// A random backend record for `res`.
fn record(res: &ResourcePlan, seed: &Seed) -> Value {
    let mut r = json!({"zz_unmapped": seed.unmapped, "zz_other": {"keep": [1, {"a": null}]}});
    res.id.field.set(&mut r, json!(7)).unwrap();
    for (i, a) in res.attributes.iter().enumerate() {
        let Some(field) = &a.write else { continue };
        if field.get(&r).is_some() {
            continue; // two attributes on one field: the first decides
        }
        let (c, s, n) = (
            seed.choices[i % 64],
            &seed.strings[i % 64],
            seed.numbers[i % 64],
        );
        if let Some(v) = field_value(a, c, s, n) {
            let _ = field.set(&mut r, v);
        }
    }
    r
}

fn view(res: &ResourcePlan, r: &Value) -> Value {
    res.to_scim(r, None, "https://bridge.test/scim/v2", true)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn read_then_write_without_change_sends_the_record_back_unchanged() {
    for (file, res) in all_resources() {
        runner()
            .run(&seed(), |s| {
                let r = record(&res, &s);
                let scim = view(&res, &r);
                let written = res.to_backend_update(&scim, &scim, &r, true).unwrap();
                prop_assert_eq!(&written, &r, "{} {}", file, res.name);
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn writing_what_was_read_reads_the_same() {
    for (file, res) in all_resources() {
        runner()
            .run(&seed(), |s| {
                let r = record(&res, &s);
                let scim = view(&res, &r);
                // The whole view written over the record (as a PUT of what
                // a GET returned would be) reads back the same values.
                let Ok(written) = res.to_backend_opts(&scim, Some(&r), WriteMode::Replace, true)
                else {
                    return Ok(()); // e.g. a required attribute the record lacks
                };
                // (An attribute the view lacks may come back as its
                // `default`: that is what a full write of a view without it means.)
                let again = view(&res, &written);
                // Normalizing transforms (`language_only`: "nl-BE" → "nl")
                // may change what they are given once.
                let normalized = |k: &str| {
                    res.attributes
                        .iter()
                        .any(|a| !a.transforms.is_empty() && a.target.name.eq_ignore_ascii_case(k))
                };
                for (k, v) in scim.as_object().unwrap() {
                    if k != "meta" && !normalized(k) {
                        prop_assert_eq!(again.get(k), Some(v), "{} {}: {}", file, res.name, k);
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}

/// A PATCH operation on one mapped attribute of `res`, and the SCIM
/// attribute name it targets.
fn operation(
    res: &ResourcePlan,
    pick: usize,
    kind: u8,
    s: &str,
    n: i64,
) -> Option<(Value, String)> {
    let candidates: Vec<&AttrPlan> = res
        .attributes
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            a.writable() && !(Some(*i) == res.members_attr && res.ops.add_member.is_some())
        })
        .map(|(_, a)| a)
        .collect();
    let a = candidates.get(pick % candidates.len().max(1))?;
    let value = if let Some((k, _)) = a
        .values
        .get(n.unsigned_abs() as usize % a.values.len().max(1))
    {
        json!(k)
    } else if Some(a.target.name.as_str())
        == res
            .members_attr
            .map(|m| res.attributes[m].target.name.as_str())
    {
        json!([{"value": n.unsigned_abs().to_string()}])
    } else {
        match a.kind {
            AttrKind::Boolean => json!(n % 2 == 0),
            AttrKind::Integer | AttrKind::Decimal => json!(n),
            _ => json!(s),
        }
    };
    let op = match kind % 3 {
        0 => json!({"op": "replace", "path": a.scim_text, "value": value}),
        1 => json!({"op": "add", "path": a.scim_text, "value": value}),
        _ => json!({"op": "remove", "path": a.scim_text}),
    };
    Some((op, a.target.name.clone()))
}

#[test]
fn patch_leaves_every_untargeted_backend_field_as_the_backend_returned_it() {
    for (file, res) in all_resources() {
        let written_some = std::cell::Cell::new(0);
        let strategy = (
            seed(),
            prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        );
        runner()
            .run(&strategy, |(s, picks)| {
                let r = record(&res, &s);
                let before = view(&res, &r);
                let mut ops = Vec::new();
                let mut targeted = Vec::new();
                for (j, (pick, kind)) in picks.iter().enumerate() {
                    if let Some((op, name)) =
                        operation(&res, *pick, *kind, &s.strings[j], s.numbers[j])
                    {
                        ops.push(op);
                        targeted.push(name);
                    }
                }
                let body = json!({"schemas": [PATCH_OP_URN], "Operations": ops});
                let Ok(ops) = parse_patch(&body) else {
                    return Ok(());
                };
                let mut after = before.clone();
                if apply_patch(&mut after, &ops, &res).is_err() {
                    return Ok(());
                }
                // Refused writes (a value of the wrong type, an immutable
                // attribute) send nothing.
                let Ok(written) = res.to_backend_update(&before, &after, &r, true) else {
                    return Ok(());
                };
                written_some.set(written_some.get() + 1);
                let (mut want, mut got) = (r.clone(), written.clone());
                for a in &res.attributes {
                    if targeted
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(&a.target.name))
                    {
                        if let Some(f) = &a.write {
                            if f.to_string().contains('[') {
                                // An element of a backend array chosen by a
                                // selector: the element is the target.
                                want.as_object_mut().unwrap().remove(f.root_key());
                                got.as_object_mut().unwrap().remove(f.root_key());
                            }
                            f.remove(&mut want);
                            f.remove(&mut got);
                        }
                    }
                }
                for c in res.constants.iter().filter(|c| c.always) {
                    c.field.remove(&mut want);
                    c.field.remove(&mut got);
                }
                prune_new_empty_objects(&mut got, &want);
                prop_assert_eq!(got, want, "{} {}: {:?}", file, res.name, body);
                Ok(())
            })
            .unwrap();
        let n = written_some.get();
        assert!(n > 20, "{file} {}: only {n} writes", res.name);
    }
}

/// Drops empty objects of `got` that `want` does not have: the containers a
/// targeted nested field (`contact.mobile`) was written into.
fn prune_new_empty_objects(got: &mut Value, want: &Value) {
    let Value::Object(g) = got else { return };
    g.retain(|k, v| !(v.as_object().is_some_and(|o| o.is_empty()) && want.get(k).is_none()));
    for (k, v) in g.iter_mut() {
        if let Some(w) = want.get(k) {
            prune_new_empty_objects(v, w);
        } else {
            prune_new_empty_objects(v, &Value::Null);
        }
    }
    g.retain(|k, v| !(v.as_object().is_some_and(|o| o.is_empty()) && want.get(k).is_none()));
}
