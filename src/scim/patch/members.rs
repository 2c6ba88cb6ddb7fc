//! Analysis of PATCH operations on a group's `members` for backends that
//! change membership one member at a time: which operations touch members,
//! and which member ids they add and remove.

use super::{invalid_value, OpKind, PatchError, PatchOp};
use crate::scim::attr::SchemaInfo;
use crate::scim::filter::{matches, parse_patch_path};
use crate::scim::json::get_ci;
use serde_json::{json, Value};

/// `value` of a member object (or a bare id string).
pub fn member_value(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(_) => get_ci(v, "value")?.as_str(),
        _ => None,
    }
}

/// Splits PATCH operations into those touching `members` and the rest
/// (a path-less value object is split key by key).
pub fn split_member_ops(ops: &[PatchOp], members: &str) -> (Vec<PatchOp>, Vec<PatchOp>) {
    let (mut m, mut other) = (Vec::new(), Vec::new());
    for op in ops {
        match &op.path {
            Some(p) if p.attr.name.eq_ignore_ascii_case(members) && p.attr.urn.is_none() => {
                m.push(op.clone())
            }
            Some(_) => other.push(op.clone()),
            None => match &op.value {
                Some(Value::Object(obj)) if obj.keys().any(|k| k.eq_ignore_ascii_case(members)) => {
                    let mut rest = obj.clone();
                    let key = obj
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(members))
                        .cloned()
                        .unwrap_or_default();
                    let v = rest.remove(&key);
                    m.push(PatchOp {
                        op: op.op,
                        path: parse_patch_path(members).ok(),
                        value: v,
                    });
                    if !rest.is_empty() {
                        other.push(PatchOp {
                            op: op.op,
                            path: None,
                            value: Some(Value::Object(rest)),
                        });
                    }
                }
                _ => other.push(op.clone()),
            },
        }
    }
    (m, other)
}

/// Applies member operations to the current member list; returns (to add, to remove).
///
/// `member_type` is what the mapping says the members are (`User`): a filter
/// such as `members[type eq "User" and value eq "7"]` is matched against
/// `{"value": <id>, "type": <member_type>}`.
pub fn member_delta(
    current: &[String],
    ops: &[PatchOp],
    name: &str,
    member_type: &str,
    schema: &dyn SchemaInfo,
) -> Result<(Vec<String>, Vec<String>), PatchError> {
    use std::collections::HashSet;
    let mut set: Vec<String> = current.to_vec();
    let mut present: HashSet<String> = current.iter().cloned().collect();
    let values = |v: &Option<Value>| -> Result<Vec<String>, PatchError> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    member_value(x).map(str::to_string).ok_or_else(|| {
                        invalid_value(format!("{name}: each member needs a \"value\""))
                    })
                })
                .collect(),
            Some(x) => member_value(x)
                .map(|s| vec![s.to_string()])
                .ok_or_else(|| invalid_value(format!("{name}: each member needs a \"value\""))),
        }
    };
    for (i, op) in ops.iter().enumerate() {
        let p = op.path.as_ref().expect("member ops have a path");
        if p.attr.sub.is_some() || p.value_sub.is_some() {
            return Err(PatchError::new(
                "invalidPath",
                format!(
                    "operation {}: sub-attributes of {name} cannot be changed",
                    i + 1
                ),
            ));
        }
        match (op.op, &p.filter) {
            (OpKind::Add, None) => {
                for m in values(&op.value)? {
                    if present.insert(m.clone()) {
                        set.push(m);
                    }
                }
            }
            (OpKind::Replace, None) => {
                let new = values(&op.value)?;
                present = new.iter().cloned().collect();
                set = Vec::with_capacity(new.len());
                let mut seen = HashSet::new();
                for m in new {
                    if seen.insert(m.clone()) {
                        set.push(m);
                    }
                }
            }
            (OpKind::Remove, None) => match &op.value {
                None | Some(Value::Null) => {
                    set.clear();
                    present.clear();
                }
                v => {
                    let gone: HashSet<String> = values(v)?.into_iter().collect();
                    set.retain(|m| !gone.contains(m));
                    present.retain(|m| !gone.contains(m));
                }
            },
            (OpKind::Remove, Some(f)) => {
                // With a `value` too, only the members both name go (as the
                // engine's remove with a value).
                let listed: Option<HashSet<String>> = match &op.value {
                    None | Some(Value::Null) => None,
                    v => Some(values(v)?.into_iter().collect()),
                };
                let gone: HashSet<String> = set
                    .iter()
                    .filter(|m| listed.as_ref().is_none_or(|l| l.contains(*m)))
                    .filter(|m| matches(f, &json!({"value": m, "type": member_type}), schema))
                    .cloned()
                    .collect();
                set.retain(|m| !gone.contains(m));
                present.retain(|m| !gone.contains(m));
            }
            (_, Some(_)) => {
                return Err(PatchError::new(
                    "invalidPath",
                    format!("operation {}: add/replace with a filter on {name} is not supported; add or remove members by value", i + 1),
                ))
            }
        }
    }
    let before: HashSet<&String> = current.iter().collect();
    let to_add = set
        .iter()
        .filter(|m| !before.contains(m))
        .cloned()
        .collect();
    let to_remove = current
        .iter()
        .filter(|m| !present.contains(*m))
        .cloned()
        .collect();
    Ok((to_add, to_remove))
}
