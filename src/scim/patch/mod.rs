//! SCIM 2.0 PATCH engine (RFC 7644 §3.5.2).
//!
//! [`parse_patch`] validates a PatchOp request body into typed [`PatchOp`]s and
//! [`apply_patch`] applies them to a resource in SCIM JSON shape (core attributes
//! at top level, extension attributes inside `resource["<urn>"]`).
//!
//! Microsoft Entra ID's provisioning client departs from the RFC in well-known
//! ways — capitalised op names, `"False"` strings for booleans, dotted
//! `name.givenName` keys in path-less values, `remove members` with a value list,
//! bare-string managers, filtered paths aimed at elements that do not exist yet.
//! All of them are accepted, because rejecting them breaks provisioning.
//!
//! Mutability and unmapped attributes are the caller's business: unknown
//! attributes are written verbatim under the client's spelling and never cause
//! an error; only the server-owned `id`, `meta` and `schemas` are skipped here.

use serde_json::{Map, Value};

use crate::scim::attr::SchemaInfo;
use crate::scim::filter::PatchPath;
use crate::scim::json;

type Object = Map<String, Value>;

/// The message schema a PATCH body must declare (RFC 7644 §3.5.2).
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The RFC sets no bound; one keeps a single request from monopolising the server.
const MAX_OPERATIONS: usize = 1000;

/// Server-owned core attributes (RFC 7643 §3.1) besides `id`. Clients echo
/// them back, so operations on them are skipped instead of failing the whole
/// request. (`id` is checked before these: an operation that would change it
/// is refused, `mutability`.)
const SERVER_OWNED: [&str; 2] = ["meta", "schemas"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

impl OpKind {
    /// Case-insensitive because Entra sends `Add`/`Replace`/`Remove`.
    fn parse(s: &str) -> Option<Self> {
        [OpKind::Add, OpKind::Remove, OpKind::Replace]
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
    }

    fn name(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Remove => "remove",
            OpKind::Replace => "replace",
        }
    }
}

/// One validated operation. `value: Some(Value::Null)` is kept distinct from an
/// absent value: for add/replace it clears the target (RFC 7643 §2.5).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A failed PATCH; `scim_type` is the RFC 7644 §3.12 `scimType` of the 400 reply:
/// `invalidSyntax`, `invalidPath`, `noTarget`, `invalidValue` or `mutability`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{detail}")]
pub struct PatchError {
    pub scim_type: &'static str,
    pub detail: String,
}

impl PatchError {
    fn new(scim_type: &'static str, detail: impl Into<String>) -> Self {
        PatchError {
            scim_type,
            detail: detail.into(),
        }
    }
}

/// Client text in an error detail is clipped after this many characters.
const QUOTE_CHARS: usize = 200;

/// JSON-quotes client text for an error detail, clipped so a huge input is not echoed whole.
fn quote(s: &str) -> String {
    json::quote(s, QUOTE_CHARS)
}

fn invalid_syntax(detail: impl Into<String>) -> PatchError {
    PatchError::new("invalidSyntax", detail)
}

fn invalid_value(detail: impl Into<String>) -> PatchError {
    PatchError::new("invalidValue", detail)
}

/// `operation 2 (replace "emails[type eq \"work\"].value")` — 1-based, so it
/// reads like prose; the path is JSON-quoted so it can be pasted back.
fn describe(n: usize, op: OpKind, path: Option<&str>) -> String {
    match path {
        Some(p) => format!("operation {n} ({} {})", op.name(), quote(p)),
        None => format!("operation {n} ({})", op.name()),
    }
}

mod engine;
mod members;
mod parse;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
mod values;

use engine::Engine;
pub use members::{member_delta, member_value, split_member_ops};
pub use parse::parse_patch;
pub use values::coerce;
use values::render_path;

/// Counts the values one request gives each multi-valued attribute
/// (`members`, `emails`, …), over all its operations, and refuses more than
/// `cap` for any one attribute (`invalidValue`). Attributes are counted by
/// the path or key the client wrote, case-insensitively.
pub fn check_value_cap(ops: &[PatchOp], cap: usize) -> Result<(), PatchError> {
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for op in ops {
        match (&op.path, &op.value) {
            (Some(p), Some(v)) => {
                let key = match &p.attr.urn {
                    Some(u) => format!("{u}:{}", p.attr.name),
                    None => p.attr.name.clone(),
                };
                let n = match v {
                    Value::Array(a) => a.len(),
                    _ => 1,
                };
                *counts.entry(key.to_ascii_lowercase()).or_default() += n;
            }
            (None, Some(v)) => count_arrays(v, "", 0, &mut counts),
            _ => {}
        }
    }
    check_counts(counts, cap)
}

/// [`check_value_cap`] for a resource body (POST, PUT): every array in it,
/// at the top level and inside extension objects.
pub fn check_body_value_cap(body: &Value, cap: usize) -> Result<(), PatchError> {
    let mut counts = Default::default();
    count_arrays(body, "", 0, &mut counts);
    check_counts(counts, cap)
}

fn count_arrays(
    v: &Value,
    prefix: &str,
    depth: usize,
    counts: &mut std::collections::HashMap<String, usize>,
) {
    let Value::Object(o) = v else { return };
    for (k, v) in o {
        let key = format!("{prefix}{}", k.to_ascii_lowercase());
        match v {
            Value::Array(a) => *counts.entry(key).or_default() += a.len(),
            Value::Object(_) if depth == 0 => count_arrays(v, &format!("{key}:"), 1, counts),
            _ => {}
        }
    }
}

fn check_counts(
    counts: std::collections::HashMap<String, usize>,
    cap: usize,
) -> Result<(), PatchError> {
    match counts.into_iter().filter(|(_, n)| *n > cap).max_by_key(|(_, n)| *n) {
        None => Ok(()),
        Some((attr, n)) => Err(invalid_value(format!(
            "too many values for {}: {n} in one request, at most {cap} (scim.max_values_per_attribute); send them in several requests",
            quote(&attr)
        ))),
    }
}

/// Applies `ops` in order, atomically: they run on a clone that replaces
/// `resource` only if every operation succeeded.
pub fn apply_patch(
    resource: &mut Value,
    ops: &[PatchOp],
    schema: &dyn SchemaInfo,
) -> Result<(), PatchError> {
    let mut work = resource.clone();
    let root = work
        .as_object_mut()
        .ok_or_else(|| invalid_value("the resource is not a JSON object"))?;
    let engine = Engine { schema };
    for (i, op) in ops.iter().enumerate() {
        engine.apply(root, op).map_err(|e| {
            let path = op.path.as_ref().map(render_path);
            let ctx = describe(i + 1, op.op, path.as_deref());
            PatchError::new(e.scim_type, format!("{ctx}: {}", e.detail))
        })?;
    }
    *resource = work;
    Ok(())
}
