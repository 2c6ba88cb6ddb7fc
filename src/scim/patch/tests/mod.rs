//! Unit tests of the PATCH engine: shared helpers here, the tests
//! in the files beside this one by concern.

use super::*;
use crate::scim::attr::{AttrKind, AttrPath};
use crate::scim::test_schema::{TestSchema, CORE, ENT};
use serde_json::json;

fn body(ops: Value) -> Value {
    json!({ "schemas": [PATCH_OP_URN], "Operations": ops })
}

fn try_patch(resource: &Value, ops: Value) -> Result<Value, PatchError> {
    let ops = parse_patch(&body(ops))?;
    let mut out = resource.clone();
    apply_patch(&mut out, &ops, &TestSchema)?;
    Ok(out)
}

fn patch(resource: &Value, ops: Value) -> Value {
    try_patch(resource, ops).expect("patch should apply")
}

fn patch_err(resource: &Value, ops: Value) -> PatchError {
    try_patch(resource, ops).expect_err("patch should fail")
}

fn parse_err(body: Value) -> PatchError {
    parse_patch(&body).expect_err("body should be rejected")
}

fn user() -> Value {
    json!({ "schemas": [CORE], "id": "42", "userName": "bjensen", "meta": { "resourceType": "User" } })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

fn group(members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    json!({ "schemas": [CORE], "id": "g1", "displayName": "G", "members": members })
}

mod coerce;
mod complex;
mod extension;
mod members;
mod misc;
mod multi_valued;
mod parse;
mod simple;
mod value_paths;
