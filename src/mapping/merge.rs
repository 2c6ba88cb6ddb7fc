//! RFC 7396 JSON merge patches: applying one, and the minimal one between two records.

use serde_json::{Map, Value};

/// Applies an RFC 7396 merge patch to `target`.
pub fn merge_into(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge_into(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

/// RFC 7396 merge patch turning `old` into `new` (objects recursively; arrays and scalars whole).
pub fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) if ov == nv => {}
                    Some(ov @ Value::Object(_)) if nv.is_object() => {
                        out.insert(k.clone(), merge_diff(ov, nv));
                    }
                    _ => {
                        out.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_into_applies_rfc7396() {
        let mut t = json!({"a": 1, "n": {"x": 1, "y": 2}, "gone": true});
        merge_into(&mut t, json!({"n": {"y": 3}, "gone": null, "arr": [1]}));
        assert_eq!(t, json!({"a": 1, "n": {"x": 1, "y": 3}, "arr": [1]}));
        let old = json!({"a": {"b": 1}, "c": [1, 2]});
        let new = json!({"a": {"b": 2, "d": null}, "c": [2]});
        let mut applied = old.clone();
        merge_into(&mut applied, merge_diff(&old, &new));
        assert_eq!(applied, json!({"a": {"b": 2}, "c": [2]}));
    }

    #[test]
    fn merge_diff_is_minimal() {
        let old = json!({"a": 1, "n": {"x": 1, "y": 2}, "arr": [1, 2], "gone": true});
        let new = json!({"a": 1, "n": {"x": 1, "y": 3}, "arr": [1], "added": "z"});
        assert_eq!(
            merge_diff(&old, &new),
            json!({"n": {"y": 3}, "arr": [1], "added": "z", "gone": null})
        );
    }
}
