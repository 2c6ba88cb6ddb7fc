//! Validation of a PatchOp request body into typed [`PatchOp`]s.

use super::{
    describe, invalid_syntax, quote, OpKind, PatchError, PatchOp, MAX_OPERATIONS, PATCH_OP_URN,
};
use crate::scim::filter::parse_patch_path;
use crate::scim::json::get_in;
use serde_json::Value;

/// Validates a PATCH request body. Member names are matched case-insensitively
/// (`Operations`/`operations`, `op`/`Op`) since clients disagree on them.
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOp>, PatchError> {
    let body = body
        .as_object()
        .ok_or_else(|| invalid_syntax("the PATCH body must be a JSON object"))?;
    let is_patch_urn = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_URN))
    };
    let declared = match get_in(body, "schemas") {
        Some(Value::Array(list)) => list.iter().any(is_patch_urn),
        Some(other) => is_patch_urn(other),
        None => false,
    };
    if !declared {
        return Err(invalid_syntax(format!(
            "\"schemas\" must contain \"{PATCH_OP_URN}\""
        )));
    }
    let ops = match get_in(body, "Operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => return Err(invalid_syntax("\"Operations\" must not be empty")),
        Some(_) => return Err(invalid_syntax("\"Operations\" must be an array")),
        None => return Err(invalid_syntax("\"Operations\" is missing")),
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(invalid_syntax(format!(
            "too many operations ({}; at most {MAX_OPERATIONS})",
            ops.len()
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(i + 1, op))
        .collect()
}

pub(super) fn parse_op(n: usize, raw: &Value) -> Result<PatchOp, PatchError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| invalid_syntax(format!("operation {n}: must be a JSON object")))?;
    let op = match get_in(obj, "op") {
        Some(Value::String(s)) => OpKind::parse(s)
            .ok_or_else(|| invalid_syntax(format!("operation {n}: unknown op {}", quote(s))))?,
        _ => {
            return Err(invalid_syntax(format!(
                "operation {n}: \"op\" must be \"add\", \"remove\" or \"replace\""
            )))
        }
    };
    let raw_path = match get_in(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            let detail = format!("{}: \"path\" must be a string", describe(n, op, None));
            return Err(PatchError::new("invalidPath", detail));
        }
    };
    let ctx = describe(n, op, raw_path);
    let path = raw_path
        .map(|p| {
            parse_patch_path(p).map_err(|e| {
                let detail = format!("{ctx}: {} (at character {})", e.message, e.position);
                PatchError::new("invalidPath", detail)
            })
        })
        .transpose()?;
    let value = get_in(obj, "value").cloned();
    match op {
        OpKind::Remove if path.is_none() => Err(PatchError::new(
            "noTarget",
            format!("{ctx}: remove requires a \"path\""),
        )),
        OpKind::Add | OpKind::Replace if value.is_none() => {
            Err(invalid_syntax(format!("{ctx}: \"value\" is required")))
        }
        _ => Ok(PatchOp { op, path, value }),
    }
}
