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

use serde_json::{Map, Number, Value};

use super::attr::{AttrKind, AttrMeta, AttrPath, SchemaInfo};
use super::filter::{eq_assignments, matches, parse_patch_path, Filter, PatchPath};

type Object = Map<String, Value>;

/// The message schema a PATCH body must declare (RFC 7644 §3.5.2).
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The RFC sets no bound; one keeps a single request from monopolising the server.
const MAX_OPERATIONS: usize = 1000;

/// Server-owned core attributes (RFC 7643 §3.1). Clients echo them back, so
/// operations on them are skipped instead of failing the whole request.
const SERVER_OWNED: [&str; 3] = ["id", "meta", "schemas"];

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

/// JSON-quotes client text for an error detail, clipped so a huge input is not echoed whole.
fn quote(s: &str) -> String {
    const MAX_CHARS: usize = 200;
    match s.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", Value::from(s.get(..cut).unwrap_or_default())),
        None => Value::from(s).to_string(),
    }
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
    let declared = match get_ci(body, "schemas") {
        Some(Value::Array(list)) => list.iter().any(is_patch_urn),
        Some(other) => is_patch_urn(other),
        None => false,
    };
    if !declared {
        return Err(invalid_syntax(format!(
            "\"schemas\" must contain \"{PATCH_OP_URN}\""
        )));
    }
    let ops = match get_ci(body, "Operations") {
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

fn parse_op(n: usize, raw: &Value) -> Result<PatchOp, PatchError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| invalid_syntax(format!("operation {n}: must be a JSON object")))?;
    let op = match get_ci(obj, "op") {
        Some(Value::String(s)) => OpKind::parse(s)
            .ok_or_else(|| invalid_syntax(format!("operation {n}: unknown op {}", quote(s))))?,
        _ => {
            return Err(invalid_syntax(format!(
                "operation {n}: \"op\" must be \"add\", \"remove\" or \"replace\""
            )))
        }
    };
    let raw_path = match get_ci(obj, "path") {
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
    let value = get_ci(obj, "value").cloned();
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

/// Coerces a client value to the schema kind: `"True"`/`"false"` (any case) to
/// booleans, numeric strings to numbers when lossless. Anything else, and
/// every other kind, is returned unchanged for the caller's validation to judge.
/// Arrays are coerced element-wise (one level) for multi-valued attributes.
pub fn coerce(value: Value, kind: AttrKind) -> Value {
    match value {
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| coerce_scalar(v, kind)).collect())
        }
        value => coerce_scalar(value, kind),
    }
}

fn coerce_scalar(value: Value, kind: AttrKind) -> Value {
    let Value::String(s) = &value else {
        return value;
    };
    let s = s.trim();
    let coerced = match kind {
        AttrKind::Boolean if s.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
        AttrKind::Boolean if s.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
        AttrKind::Integer => integer(s),
        AttrKind::Decimal => integer(s).or_else(|| decimal(s)),
        _ => None,
    };
    coerced.unwrap_or(value)
}

fn integer(s: &str) -> Option<Value> {
    s.parse::<i64>()
        .map(Value::from)
        .or_else(|_| s.parse::<u64>().map(Value::from))
        .ok()
}

/// Plain decimal notation with at most 15 significant digits (what an f64
/// always round-trips), excluding overflow and underflow: lossless by construction.
fn decimal(s: &str) -> Option<Value> {
    let mantissa = s.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    let well_formed = s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    if !well_formed || digits.is_empty() || significant > 15 {
        return None;
    }
    let f = s.parse::<f64>().ok()?;
    let exact = if significant == 0 {
        f == 0.0
    } else {
        f.is_normal()
    };
    exact
        .then_some(f)
        .and_then(Number::from_f64)
        .map(Value::Number)
}

type Res = Result<(), PatchError>;

struct Engine<'s> {
    schema: &'s dyn SchemaInfo,
}

/// A resolved attribute: where it lives and what the schema knows about it.
struct Target<'a> {
    /// `None`: top level (core); `Some(urn)`: inside `resource[urn]`.
    scope: Option<&'a str>,
    /// Canonical spelling when the schema knows the attribute, else the client's.
    name: &'a str,
    meta: Option<AttrMeta<'a>>,
    /// The member of the scope object holding it (see [`claim_key`]).
    key: String,
}

impl Target<'_> {
    /// Multi-valued per the schema, or because the resource already holds an array.
    fn multi(&self, existing: Option<&Value>) -> bool {
        self.meta.is_some_and(|m| m.multi_valued) || matches!(existing, Some(Value::Array(_)))
    }

    fn complex(&self) -> bool {
        self.meta.is_some_and(|m| m.kind == AttrKind::Complex)
    }
}

impl Engine<'_> {
    fn apply(&self, root: &mut Object, op: &PatchOp) -> Res {
        match (&op.path, &op.value) {
            (Some(path), value) => self.apply_path(root, op.op, path, value.as_ref(), false),
            (None, _) if op.op == OpKind::Remove => {
                Err(PatchError::new("noTarget", "remove requires a path"))
            }
            (None, Some(Value::Object(obj))) => self.apply_pathless(root, op.op, None, obj, false),
            (None, _) => Err(invalid_value(
                "a path-less add or replace needs a JSON object value",
            )),
        }
    }

    /// Path-less add/replace: each key acts as an operation whose path is the key
    /// (RFC 7644 §3.5.2.1/3), which also covers Entra's dotted `name.givenName`
    /// and URN-prefixed attribute keys. A key naming the core schema or an
    /// extension holds an object of that schema's attributes; `scope` is set while
    /// walking such an object and `nested` stops those containers from nesting.
    fn apply_pathless(
        &self,
        root: &mut Object,
        kind: OpKind,
        scope: Option<&str>,
        obj: &Object,
        nested: bool,
    ) -> Res {
        for (key, value) in obj {
            if !nested {
                if let (true, Value::Object(inner)) =
                    (key.eq_ignore_ascii_case(self.schema.core_schema()), value)
                {
                    self.apply_pathless(root, kind, None, inner, true)?;
                    continue;
                }
                if let Some(ext) = self.schema.extension(key) {
                    self.apply_extension(root, kind, ext, Some(value))?;
                    continue;
                }
            }
            // Keys that are not valid paths can only be unknown attributes: keep them verbatim.
            let mut path = parse_patch_path(key).unwrap_or_else(|_| PatchPath {
                attr: AttrPath::new(key.as_str()),
                filter: None,
                value_sub: None,
            });
            match scope {
                Some(urn) if path.attr.urn.is_none() => path.attr.urn = Some(urn.to_owned()),
                // An object under an unknown `urn:` key is taken as an unknown extension.
                None if !nested
                    && value.is_object()
                    && key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
                    && path.filter.is_none()
                    && !path
                        .attr
                        .urn
                        .as_deref()
                        .is_some_and(|u| self.known_schema(u)) =>
                {
                    self.apply_extension(root, kind, key, Some(value))?;
                    continue;
                }
                _ => {}
            }
            self.apply_path(root, kind, &path, Some(value), true)?;
        }
        Ok(())
    }

    fn known_schema(&self, urn: &str) -> bool {
        urn.eq_ignore_ascii_case(self.schema.core_schema()) || self.schema.extension(urn).is_some()
    }

    /// A whole extension as the target: add/replace apply its members inside the
    /// extension; remove (or a null value) drops it along with its `schemas` entry.
    fn apply_extension(
        &self,
        root: &mut Object,
        kind: OpKind,
        urn: &str,
        value: Option<&Value>,
    ) -> Res {
        match value {
            Some(Value::Object(inner)) if kind != OpKind::Remove => {
                self.apply_pathless(root, kind, Some(urn), inner, true)
            }
            Some(v) if kind != OpKind::Remove && !v.is_null() => Err(invalid_value(format!(
                "the value of extension \"{urn}\" must be a JSON object"
            ))),
            _ => {
                remove_ci(root, urn);
                if let Some(Value::Array(list)) = root.get_mut("schemas") {
                    list.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
                }
                Ok(())
            }
        }
    }

    fn apply_path(
        &self,
        root: &mut Object,
        kind: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
        nested: bool,
    ) -> Res {
        // RFC 7643 §2.5: null means unassigned, so add/replace with null clears the target.
        let value = value.filter(|v| !v.is_null());
        let kind = if value.is_none() {
            OpKind::Remove
        } else {
            kind
        };
        let attr = &path.attr;
        let sub = path.value_sub.as_deref().or(attr.sub.as_deref());
        if let (Some(urn), None, None) = (&attr.urn, &path.filter, sub) {
            // A schema URN as path (`urn:...:enterprise:2.0:User`) parses as urn `...:2.0` + name `User`.
            let full = format!("{urn}:{}", attr.name);
            // Inside a path-less value schema URNs are only recognised as top-level
            // keys; refusing them deeper bounds the recursion whatever the input.
            if nested && self.known_schema(&full) {
                return Err(PatchError::new(
                    "invalidPath",
                    format!("schema \"{full}\" cannot be nested inside another value"),
                ));
            }
            if full.eq_ignore_ascii_case(self.schema.core_schema()) {
                // The core schema is the resource itself: same as a path-less op.
                return match value {
                    Some(Value::Object(obj)) if kind != OpKind::Remove => {
                        self.apply_pathless(root, kind, None, obj, true)
                    }
                    _ => Err(invalid_value(
                        "the core schema can only be the target of add or replace with an object",
                    )),
                };
            }
            if let Some(ext) = self.schema.extension(&full) {
                return self.apply_extension(root, kind, ext, value);
            }
        }
        let scope = match attr.urn.as_deref() {
            Some(urn) if !urn.eq_ignore_ascii_case(self.schema.core_schema()) => {
                Some(self.schema.extension(urn).unwrap_or(urn))
            }
            _ => None,
        };
        if scope.is_none()
            && SERVER_OWNED
                .iter()
                .any(|n| attr.name.eq_ignore_ascii_case(n))
        {
            return Ok(());
        }
        let meta = self.schema.attribute(scope, &attr.name, None);
        if let Some(m) = meta.filter(|m| m.kind != AttrKind::Complex) {
            if sub.is_some() || (path.filter.is_some() && !m.multi_valued) {
                return Err(PatchError::new(
                    "invalidPath",
                    format!(
                        "\"{}\" is a simple attribute: it has no sub-attributes",
                        m.name
                    ),
                ));
            }
        }
        let Some(map) = self.container(root, scope, kind != OpKind::Remove) else {
            return Ok(()); // removing from an extension the resource does not have
        };
        let name = meta.map_or(attr.name.as_str(), |m| m.name);
        let key = claim_key(map, name, meta.is_some());
        let t = Target {
            scope,
            name,
            meta,
            key,
        };
        match (&path.filter, sub) {
            (None, None) => self.set_attr(map, &t, kind, value),
            (None, Some(sub)) => self.set_sub(map, &t, kind, sub, value),
            (Some(filter), sub) => self.set_elements(map, &t, kind, Some(filter), sub, value),
        }
    }

    /// The object holding the target's scope; `create` makes a missing extension
    /// object and lists its URN in `schemas` (RFC 7643 §3).
    fn container<'r>(
        &self,
        root: &'r mut Object,
        scope: Option<&str>,
        create: bool,
    ) -> Option<&'r mut Object> {
        let Some(urn) = scope else {
            return Some(root);
        };
        if !create {
            let key = find_key(root, urn)?;
            return root.get_mut(&key)?.as_object_mut();
        }
        let schemas = claim_key(root, "schemas", true);
        let core = self.schema.core_schema();
        let list = root
            .entry(schemas)
            .or_insert_with(|| Value::Array(vec![core.into()]));
        if let Value::Array(list) = list {
            if !list
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
            {
                list.push(urn.into());
            }
        }
        let key = claim_key(root, urn, self.schema.extension(urn).is_some());
        let slot = root.entry(key).or_insert(Value::Null);
        if !slot.is_object() {
            *slot = Value::Object(Object::new());
        }
        slot.as_object_mut()
    }

    /// A whole attribute (no sub-attribute, no filter).
    ///
    /// Multi-valued: add appends the elements not already present (deep
    /// equality), replace swaps the whole array. Single-valued: complex values
    /// merge into the existing object (RFC 7644 §3.5.2.1/3: unspecified
    /// sub-attributes are left unchanged), anything else is set.
    fn set_attr(&self, map: &mut Object, t: &Target, kind: OpKind, value: Option<&Value>) -> Res {
        let multi = t.multi(map.get(&t.key));
        match (kind, value) {
            // Entra's `remove members` + value list: only the listed members go, never all.
            (OpKind::Remove, Some(listed)) if multi => {
                let listed = as_slice(listed);
                let mut elems = take_elements(map.remove(&t.key));
                elems.retain(|e| !listed.iter().any(|w| same_element(w, e)));
                put_elements(map, &t.key, elems, true);
            }
            (OpKind::Remove, _) | (_, None) => {
                map.remove(&t.key);
            }
            (kind, Some(value)) if multi => {
                let old = take_elements(map.remove(&t.key));
                let mut elems = if kind == OpKind::Add { old } else { Vec::new() };
                let mut touched = Vec::new();
                for item in as_slice(value).iter().filter(|v| !v.is_null()) {
                    let item = self.normalize_item(t, item);
                    if !elems.contains(&item) {
                        elems.push(item);
                        touched.push(elems.len() - 1);
                    }
                }
                settle_primary(&mut elems, &touched);
                put_elements(map, &t.key, elems, true);
            }
            (_, Some(value)) => match (self.normalize_single(t, value), map.get_mut(&t.key)) {
                (None, _) => {
                    map.remove(&t.key);
                }
                (Some(Value::Object(new)), Some(Value::Object(cur))) => {
                    merge(cur, new);
                    if cur.is_empty() {
                        map.remove(&t.key);
                    }
                }
                (Some(new), _) => {
                    map.insert(t.key.clone(), strip_nulls(new));
                }
            },
        }
        Ok(())
    }

    /// `name.givenName`: a sub-attribute of a single complex attribute. On a
    /// multi-valued attribute (`emails.type`) it addresses every element.
    fn set_sub(
        &self,
        map: &mut Object,
        t: &Target,
        kind: OpKind,
        sub: &str,
        value: Option<&Value>,
    ) -> Res {
        if t.multi(map.get(&t.key)) {
            return self.set_elements(map, t, kind, None, Some(sub), value);
        }
        let (sub_name, sub_meta) = self.sub_attr(t, sub);
        let Some(value) = value.filter(|_| kind != OpKind::Remove) else {
            if let Some(Value::Object(cur)) = map.get_mut(&t.key) {
                remove_ci(cur, sub);
                if cur.is_empty() {
                    map.remove(&t.key); // an empty complex value is unassigned
                }
            }
            return Ok(());
        };
        let slot = map.entry(t.key.clone()).or_insert(Value::Null);
        if !slot.is_object() {
            // A bare scalar stored under a complex attribute is its `value`.
            *slot = match slot.take() {
                Value::Null | Value::Array(_) | Value::Object(_) => Value::Object(Object::new()),
                scalar if t.complex() => Value::Object(wrap(scalar)),
                _ => Value::Object(Object::new()),
            };
        }
        if let Value::Object(cur) = slot {
            let k = claim_key(cur, sub_name, sub_meta.is_some());
            cur.insert(k, coerce_with(value.clone(), sub_meta));
        }
        Ok(())
    }

    /// Value-path operations (`emails[type eq "work"].value`); `filter == None`
    /// selects every element. A single-valued complex attribute acts as a list
    /// of at most one element, so `manager[value eq "x"]` works too.
    ///
    /// Deviation from RFC 7644 §3.5.2.3, which answers `noTarget` when a replace
    /// filter matches nothing: add *and* replace then create the element from the
    /// filter's `eq` terms (as Microsoft's reference SCIM code does), because
    /// Entra sends `replace emails[type eq "work"].value` for users without a work
    /// email. `noTarget` remains for filters with no `eq` terms to build from.
    /// A remove that matches nothing succeeds, like removing a missing attribute.
    fn set_elements(
        &self,
        map: &mut Object,
        t: &Target,
        kind: OpKind,
        filter: Option<&Filter>,
        sub: Option<&str>,
        value: Option<&Value>,
    ) -> Res {
        let existing = map.remove(&t.key);
        let multi = t
            .meta
            .map_or(!matches!(existing, Some(Value::Object(_))), |m| {
                m.multi_valued
            })
            || matches!(existing, Some(Value::Array(_)));
        let mut elems = take_elements(existing);
        let hits: Vec<usize> = (0..elems.len())
            .filter(|&i| {
                filter.is_none_or(|f| elems.get(i).is_some_and(|e| matches(f, e, self.schema)))
            })
            .collect();
        let sub = sub.map(|s| self.sub_attr(t, s));
        let Some(value) = value.filter(|_| kind != OpKind::Remove) else {
            let mut i = 0;
            elems.retain_mut(|e| {
                i += 1; // `hits` is ascending
                hits.binary_search(&(i - 1)).is_err()
                    || sub.is_some_and(|(name, _)| drop_sub(e, name))
            });
            put_elements(map, &t.key, elems, multi);
            return Ok(());
        };
        let seed = || filter.and_then(|f| self.seed(t, f)).unwrap_or_default();
        let mut touched = hits;
        let created = touched.is_empty();
        if created {
            if filter.is_some_and(|f| eq_assignments(f).is_empty()) {
                return Err(PatchError::new(
                    "noTarget",
                    "no element matches the filter, and it has no \"eq\" terms to create one from",
                ));
            }
            elems.push(Value::Object(seed()));
            touched.push(elems.len() - 1);
        }
        let new = match sub {
            Some(_) => None,
            None => Some(self.normalize_element(t, value)?),
        };
        for &i in &touched {
            let Some(Value::Object(el)) = elems.get_mut(i) else {
                continue;
            };
            match (sub, &new) {
                (Some((name, meta)), _) => {
                    let k = claim_key(el, name, meta.is_some());
                    el.insert(k, coerce_with(value.clone(), meta));
                }
                // Replace swaps the element but keeps the filter's `eq` terms, so
                // `replace emails[type eq "work"]` with `{"value": …}` stays a work email.
                (None, Some(new)) if kind == OpKind::Replace && !created => {
                    let mut fresh = seed();
                    merge(&mut fresh, new.clone());
                    *el = fresh;
                }
                (None, Some(new)) => merge(el, new.clone()),
                (None, None) => {}
            }
        }
        settle_primary(&mut elems, &touched);
        put_elements(map, &t.key, elems, multi);
        Ok(())
    }

    /// Canonical name and schema entry of a sub-attribute of `t`.
    fn sub_attr<'a>(&'a self, t: &Target<'a>, sub: &'a str) -> (&'a str, Option<AttrMeta<'a>>) {
        let meta = self.schema.attribute(t.scope, t.name, Some(sub));
        (meta.map_or(sub, |m| m.name), meta)
    }

    /// The element a value filter describes, e.g. `{"type": "work"}` for `type eq "work"`.
    fn seed(&self, t: &Target, filter: &Filter) -> Option<Object> {
        let terms = eq_assignments(filter);
        if terms.is_empty() {
            return None;
        }
        let pairs = terms.into_iter().map(|(path, value)| {
            let (name, meta) = self.sub_attr(t, &path.name);
            (name.to_owned(), coerce_with(value.clone(), meta))
        });
        Some(strip_nulls_obj(pairs.collect()))
    }

    /// Canonical sub-attribute names and kinds for a complex value; nulls are kept
    /// because a merge treats them as "remove this sub-attribute".
    fn canon(&self, t: &Target, obj: Object) -> Object {
        obj.into_iter()
            .map(
                |(k, v)| match self.schema.attribute(t.scope, t.name, Some(&k)) {
                    Some(m) => (m.name.to_owned(), coerce(v, m.kind)),
                    None => (k, v),
                },
            )
            .collect()
    }

    /// One element of a multi-valued attribute; a bare scalar for a complex
    /// attribute becomes `{"value": scalar}`.
    fn normalize_item(&self, t: &Target, item: &Value) -> Value {
        match (item, t.meta) {
            (Value::Object(o), _) => Value::Object(strip_nulls_obj(self.canon(t, o.clone()))),
            (scalar, Some(m)) if m.kind == AttrKind::Complex => {
                Value::Object(self.canon(t, wrap(scalar.clone())))
            }
            (scalar, Some(m)) => coerce(scalar.clone(), m.kind),
            (scalar, None) => scalar.clone(),
        }
    }

    /// The value for a single-valued attribute. Complex ones accept Entra's
    /// shapes: a bare id (`"manager": "id"`) or a one-element array; `None`
    /// (an empty array) means clear.
    fn normalize_single(&self, t: &Target, value: &Value) -> Option<Value> {
        match t.meta {
            Some(m) if m.kind == AttrKind::Complex => {
                let value = match value {
                    Value::Array(items) => items.first()?,
                    value => value,
                };
                match value {
                    Value::Null => None,
                    Value::Object(o) => Some(Value::Object(self.canon(t, o.clone()))),
                    scalar => Some(Value::Object(self.canon(t, wrap(scalar.clone())))),
                }
            }
            Some(m) => Some(coerce(value.clone(), m.kind)),
            None => Some(value.clone()),
        }
    }

    /// The value of a value-path op without sub-attribute: one complex value.
    fn normalize_element(&self, t: &Target, value: &Value) -> Result<Object, PatchError> {
        let value = match value {
            Value::Array(items) => match items.as_slice() {
                [one] => one,
                _ => {
                    return Err(invalid_value(
                        "expected a single complex value, not an array",
                    ))
                }
            },
            value => value,
        };
        match value {
            Value::Object(o) => Ok(self.canon(t, o.clone())),
            Value::Null | Value::Array(_) => Err(invalid_value("expected a complex value")),
            scalar => Ok(self.canon(t, wrap(scalar.clone()))),
        }
    }
}

/// Object member lookup: exact first, then ASCII case-insensitive (RFC 7643 §2.1).
fn find_key(map: &Object, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn get_ci<'m>(map: &'m Object, name: &str) -> Option<&'m Value> {
    find_key(map, name).and_then(|k| map.get(&k))
}

fn remove_ci(map: &mut Object, name: &str) -> Option<Value> {
    find_key(map, name).and_then(|k| map.remove(&k))
}

/// The key to write `name` under. A member spelled differently is moved to
/// `name` when that is the canonical spelling, otherwise its spelling is kept,
/// so one attribute never ends up under two keys.
fn claim_key(map: &mut Object, name: &str, canonical: bool) -> String {
    match find_key(map, name) {
        Some(existing) if canonical && existing != name => {
            if let Some(v) = map.remove(&existing) {
                map.insert(name.to_owned(), v);
            }
            name.to_owned()
        }
        Some(existing) => existing,
        None => name.to_owned(),
    }
}

fn as_slice(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        value => std::slice::from_ref(value),
    }
}

fn take_elements(value: Option<Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(value) => vec![value],
    }
}

/// Writes elements back; an empty multi-valued attribute is unassigned (RFC
/// 7644 §3.5.2.2), so its key goes. Single-valued keeps the newest element.
fn put_elements(map: &mut Object, key: &str, mut elems: Vec<Value>, multi: bool) {
    if multi {
        if !elems.is_empty() {
            map.insert(key.to_owned(), Value::Array(elems));
        }
    } else if let Some(last) = elems.pop() {
        map.insert(key.to_owned(), last);
    }
}

fn wrap(value: Value) -> Object {
    Object::from_iter([("value".to_owned(), value)])
}

fn strip_nulls_obj(mut obj: Object) -> Object {
    obj.retain(|_, v| !v.is_null());
    obj
}

/// Null sub-attributes are unassigned (RFC 7643 §2.5); dropping them keeps
/// `{"$ref": null, "value": "u1"}` equal to `{"value": "u1"}` for de-duplication.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(strip_nulls_obj(o)),
        value => value,
    }
}

fn coerce_with(value: Value, meta: Option<AttrMeta>) -> Value {
    match meta {
        Some(m) => coerce(value, m.kind),
        None => value,
    }
}

/// Sets or (for null) removes each member of `new` in `cur`.
fn merge(cur: &mut Object, new: Object) {
    for (k, v) in new {
        let key = claim_key(cur, &k, true);
        if v.is_null() {
            cur.remove(&key);
        } else {
            cur.insert(key, v);
        }
    }
}

/// Removes `sub` from a matched element; returns whether to keep the element.
/// It goes when left empty or when its `value` was what got removed: an email
/// or member without `value` is meaningless, an address without `locality` is not.
fn drop_sub(el: &mut Value, sub: &str) -> bool {
    let Value::Object(o) = el else {
        return true;
    };
    let had_value = get_ci(o, "value").is_some();
    remove_ci(o, sub);
    !(o.is_empty() || (had_value && get_ci(o, "value").is_none()))
}

/// Does a listed value of a `remove` name this element? Objects with a `value`
/// match elements with an equal `value` (case-sensitive: ids are opaque), other
/// objects match equal elements, scalars match equal elements or `value`s.
fn same_element(wanted: &Value, el: &Value) -> bool {
    fn value_of(v: &Value) -> Option<&Value> {
        v.as_object()
            .and_then(|o| get_ci(o, "value"))
            .filter(|v| !v.is_null())
    }
    match (wanted, value_of(wanted)) {
        (_, Some(id)) => value_of(el) == Some(id),
        (Value::Object(o), None) => *el == Value::Object(strip_nulls_obj(o.clone())),
        (scalar, None) => el == scalar || value_of(el) == Some(scalar),
    }
}

/// RFC 7643 §2.4: `primary: true` may appear once; the last touched element
/// that claims it wins and the others are set to `false`.
fn settle_primary(elems: &mut [Value], touched: &[usize]) {
    let is_primary =
        |v: &Value| v.as_object().and_then(|o| get_ci(o, "primary")) == Some(&Value::Bool(true));
    let Some(&winner) = touched
        .iter()
        .rev()
        .find(|&&i| elems.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (i, el) in elems.iter_mut().enumerate() {
        if let (false, Value::Object(o)) = (i == winner, el) {
            if let Some(k) = find_key(o, "primary").filter(|k| o.get(k) == Some(&Value::Bool(true)))
            {
                o.insert(k, Value::Bool(false));
            }
        }
    }
}

/// The path as the client could have written it, for error details.
fn render_path(p: &PatchPath) -> String {
    let Some(filter) = &p.filter else {
        return p.attr.to_string();
    };
    let urn = p
        .attr
        .urn
        .as_ref()
        .map(|u| format!("{u}:"))
        .unwrap_or_default();
    let sub = p
        .value_sub
        .as_ref()
        .map(|s| format!(".{s}"))
        .unwrap_or_default();
    format!("{urn}{}[{filter}]{sub}", p.attr.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    type Row = (&'static str, Option<&'static str>, AttrKind, bool);

    const CORE_ATTRS: &[Row] = &[
        ("userName", None, AttrKind::String, false),
        ("displayName", None, AttrKind::String, false),
        ("active", None, AttrKind::Boolean, false),
        ("loginCount", None, AttrKind::Integer, false),
        ("name", None, AttrKind::Complex, false),
        ("name", Some("givenName"), AttrKind::String, false),
        ("name", Some("familyName"), AttrKind::String, false),
        ("name", Some("formatted"), AttrKind::String, false),
        ("emails", None, AttrKind::Complex, true),
        ("emails", Some("value"), AttrKind::String, false),
        ("emails", Some("type"), AttrKind::String, false),
        ("emails", Some("primary"), AttrKind::Boolean, false),
        ("phoneNumbers", None, AttrKind::Complex, true),
        ("phoneNumbers", Some("value"), AttrKind::String, false),
        ("phoneNumbers", Some("type"), AttrKind::String, false),
        ("preferredLanguage", None, AttrKind::String, false),
        ("externalId", None, AttrKind::String, false),
        ("members", None, AttrKind::Complex, true),
        ("members", Some("value"), AttrKind::String, false),
        ("members", Some("display"), AttrKind::String, false),
        ("members", Some("$ref"), AttrKind::Reference, false),
    ];

    const ENT_ATTRS: &[Row] = &[
        ("employeeNumber", None, AttrKind::String, false),
        ("manager", None, AttrKind::Complex, false),
        ("manager", Some("value"), AttrKind::String, false),
        ("manager", Some("displayName"), AttrKind::String, false),
    ];

    struct TestSchema;

    impl SchemaInfo for TestSchema {
        fn core_schema(&self) -> &str {
            CORE
        }

        fn extension(&self, urn: &str) -> Option<&str> {
            urn.eq_ignore_ascii_case(ENT).then_some(ENT)
        }

        fn attribute(
            &self,
            urn: Option<&str>,
            name: &str,
            sub: Option<&str>,
        ) -> Option<AttrMeta<'_>> {
            let table = match urn {
                None => CORE_ATTRS,
                Some(u) if u.eq_ignore_ascii_case(CORE) => CORE_ATTRS,
                Some(u) if u.eq_ignore_ascii_case(ENT) => ENT_ATTRS,
                Some(_) => return None,
            };
            let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
            table
                .iter()
                .find(|(n, s, ..)| {
                    same(n, name)
                        && match (s, sub) {
                            (None, None) => true,
                            (Some(a), Some(b)) => same(a, b),
                            _ => false,
                        }
                })
                .map(|&(n, s, kind, multi_valued)| AttrMeta {
                    name: s.unwrap_or(n),
                    kind,
                    multi_valued,
                    case_exact: false,
                })
        }
    }

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

    // ---- parse_patch -------------------------------------------------------

    #[test]
    fn parse_accepts_op_names_in_any_case() {
        let ops = parse_patch(&body(json!([
            { "op": "Add", "path": "displayName", "value": "a" },
            { "op": "add", "path": "displayName", "value": "a" },
            { "op": "ADD", "path": "displayName", "value": "a" },
            { "op": "Replace", "path": "displayName", "value": "a" },
            { "op": "REPLACE", "path": "displayName", "value": "a" },
            { "op": "Remove", "path": "displayName" },
            { "op": "remove", "path": "displayName" },
        ])))
        .unwrap();
        let kinds: Vec<OpKind> = ops.iter().map(|o| o.op).collect();
        use OpKind::*;
        assert_eq!(kinds, [Add, Add, Add, Replace, Replace, Remove, Remove]);
    }

    #[test]
    fn parse_keeps_path_structure_and_value() {
        let ops = parse_patch(&body(json!([
            { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "x@y" }
        ])))
        .unwrap();
        let path = ops[0].path.as_ref().unwrap();
        assert_eq!(path.attr, AttrPath::new("emails"));
        assert_eq!(path.value_sub.as_deref(), Some("value"));
        assert!(path.filter.is_some());
        assert_eq!(ops[0].value, Some(json!("x@y")));
    }

    #[test]
    fn parse_accepts_case_insensitive_member_names() {
        let ops = parse_patch(&json!({
            "Schemas": [PATCH_OP_URN.to_uppercase()],
            "operations": [{ "Op": "Replace", "Path": "active", "Value": false }]
        }))
        .unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].op, OpKind::Replace);
        assert_eq!(ops[0].value, Some(json!(false)));
    }

    #[test]
    fn parse_keeps_null_value_as_present() {
        let ops = parse_patch(&body(
            json!([{ "op": "replace", "path": "displayName", "value": null }]),
        ))
        .unwrap();
        assert_eq!(ops[0].value, Some(Value::Null));
    }

    #[test]
    fn parse_treats_empty_path_as_absent() {
        let ops = parse_patch(&body(
            json!([{ "op": "add", "path": "", "value": { "displayName": "x" } }]),
        ))
        .unwrap();
        assert_eq!(ops[0].path, None);
    }

    #[test]
    fn parse_rejects_non_object_body() {
        assert_eq!(parse_err(json!([1, 2])).scim_type, "invalidSyntax");
    }

    #[test]
    fn parse_rejects_missing_schemas() {
        let e = parse_err(json!({ "Operations": [{ "op": "remove", "path": "x" }] }));
        assert_eq!(e.scim_type, "invalidSyntax");
        assert!(e.detail.contains(PATCH_OP_URN), "{}", e.detail);
    }

    #[test]
    fn parse_rejects_wrong_schema() {
        let e = parse_err(
            json!({ "schemas": [CORE], "Operations": [{ "op": "remove", "path": "x" }] }),
        );
        assert_eq!(e.scim_type, "invalidSyntax");
    }

    #[test]
    fn parse_rejects_missing_operations() {
        let e = parse_err(json!({ "schemas": [PATCH_OP_URN] }));
        assert_eq!(
            (e.scim_type, e.detail.as_str()),
            ("invalidSyntax", "\"Operations\" is missing")
        );
    }

    #[test]
    fn parse_rejects_empty_or_non_array_operations() {
        assert_eq!(
            parse_err(body(json!([]))).detail,
            "\"Operations\" must not be empty"
        );
        assert_eq!(
            parse_err(body(json!({ "op": "add" }))).detail,
            "\"Operations\" must be an array"
        );
    }

    #[test]
    fn parse_rejects_more_than_1000_operations() {
        let ops = vec![json!({ "op": "remove", "path": "displayName" }); 1001];
        let e = parse_err(body(Value::Array(ops)));
        assert_eq!(e.scim_type, "invalidSyntax");
        assert!(e.detail.contains("1001"), "{}", e.detail);
        let ok = vec![json!({ "op": "remove", "path": "displayName" }); 1000];
        assert_eq!(parse_patch(&body(Value::Array(ok))).unwrap().len(), 1000);
    }

    #[test]
    fn parse_rejects_unknown_op() {
        let e = parse_err(body(json!([
            { "op": "add", "path": "displayName", "value": "x" },
            { "op": "merge", "path": "displayName", "value": "x" }
        ])));
        assert_eq!(e.scim_type, "invalidSyntax");
        assert_eq!(e.detail, "operation 2: unknown op \"merge\"");
    }

    #[test]
    fn error_details_clip_huge_client_text() {
        let long = "x".repeat(10_000);
        let e = parse_err(body(json!([{ "op": long, "path": "a" }])));
        assert_eq!(
            e.detail,
            format!("operation 1: unknown op \"{}\"...", "x".repeat(200))
        );
        let e = parse_err(body(
            json!([{ "op": "add", "path": format!("a.{long}"), "value": 1 }]),
        ));
        assert_eq!(e.scim_type, "invalidPath");
        assert!(e.detail.len() < 1000, "{}", e.detail.len());
    }

    #[test]
    fn parse_rejects_missing_op_and_non_object_op() {
        assert_eq!(
            parse_err(body(json!([{ "path": "x" }]))).scim_type,
            "invalidSyntax"
        );
        assert_eq!(
            parse_err(body(json!(["add"]))).detail,
            "operation 1: must be a JSON object"
        );
    }

    #[test]
    fn parse_remove_without_path_is_no_target() {
        let e = parse_err(body(
            json!([{ "op": "Remove", "value": { "displayName": "x" } }]),
        ));
        assert_eq!(e.scim_type, "noTarget");
        assert_eq!(e.detail, "operation 1 (remove): remove requires a \"path\"");
    }

    #[test]
    fn parse_add_or_replace_without_value_is_invalid_syntax() {
        for op in ["add", "replace"] {
            let e = parse_err(body(json!([{ "op": op, "path": "displayName" }])));
            assert_eq!(e.scim_type, "invalidSyntax");
            assert_eq!(
                e.detail,
                format!("operation 1 ({op} \"displayName\"): \"value\" is required")
            );
        }
    }

    #[test]
    fn parse_bad_path_is_invalid_path_with_parser_message() {
        let e = parse_err(body(
            json!([{ "op": "replace", "path": "emails[type eq \"work\"", "value": "x" }]),
        ));
        assert_eq!(e.scim_type, "invalidPath");
        assert!(
            e.detail
                .starts_with("operation 1 (replace \"emails[type eq \\\"work\\\"\"): "),
            "{}",
            e.detail
        );
        assert!(e.detail.contains("(at character"), "{}", e.detail);
        let e = parse_err(body(json!([{ "op": "remove", "path": 7 }])));
        assert_eq!(e.scim_type, "invalidPath");
    }

    // ---- Entra shapes: booleans and simple attributes ----------------------

    #[test]
    fn entra_replace_active_string_false() {
        let out = patch(
            &user(),
            json!([{ "op": "Replace", "path": "active", "value": "False" }]),
        );
        assert_eq!(out["active"], json!(false));
    }

    #[test]
    fn entra_replace_active_bool_false() {
        let out = patch(
            &with(user(), json!({ "active": true })),
            json!([{ "op": "replace", "path": "active", "value": false }]),
        );
        assert_eq!(out["active"], json!(false));
    }

    #[test]
    fn replace_active_string_true_any_case() {
        let out = patch(
            &user(),
            json!([{ "op": "Replace", "path": "active", "value": "TRUE" }]),
        );
        assert_eq!(out["active"], json!(true));
    }

    #[test]
    fn pathless_replace_coerces_booleans_and_integers() {
        let out = patch(
            &user(),
            json!([{ "op": "Replace", "value": { "active": "True", "loginCount": "7" } }]),
        );
        assert_eq!(out["active"], json!(true));
        assert_eq!(out["loginCount"], json!(7));
    }

    #[test]
    fn entra_pathless_dotted_keys() {
        let start = with(user(), json!({ "name": { "formatted": "Babs J" } }));
        let out = patch(
            &start,
            json!([{ "op": "Replace", "value": { "displayName": "A", "name.givenName": "B", "name.familyName": "C" } }]),
        );
        assert_eq!(out["displayName"], json!("A"));
        assert_eq!(
            out["name"],
            json!({ "givenName": "B", "familyName": "C", "formatted": "Babs J" })
        );
    }

    #[test]
    fn pathless_add_dotted_keys_create_complex() {
        let out = patch(
            &user(),
            json!([{ "op": "Add", "value": { "name.givenName": "B" } }]),
        );
        assert_eq!(out["name"], json!({ "givenName": "B" }));
    }

    #[test]
    fn names_resolve_case_insensitively_to_canonical_spelling() {
        let out = patch(
            &user(),
            json!([
                { "op": "replace", "path": "USERNAME", "value": "babs" },
                { "op": "add", "path": "Name.GIVENNAME", "value": "Barbara" }
            ]),
        );
        assert_eq!(out["userName"], json!("babs"));
        assert_eq!(out["name"], json!({ "givenName": "Barbara" }));
        assert!(out.get("USERNAME").is_none());
    }

    #[test]
    fn existing_key_with_other_case_is_renamed_not_duplicated() {
        let start = json!({ "username": "old" });
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": "userName", "value": "new" }]),
        );
        assert_eq!(out, json!({ "userName": "new" }));
    }

    #[test]
    fn core_urn_prefixed_path_is_top_level() {
        let out = patch(
            &user(),
            json!([{ "op": "replace", "path": format!("{CORE}:displayName"), "value": "Babs" }]),
        );
        assert_eq!(out["displayName"], json!("Babs"));
    }

    // ---- value paths -------------------------------------------------------

    #[test]
    fn entra_add_filtered_phone_creates_element() {
        let out = patch(
            &user(),
            json!([{ "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555" }]),
        );
        assert_eq!(
            out["phoneNumbers"],
            json!([{ "type": "mobile", "value": "+1 555" }])
        );
    }

    #[test]
    fn add_filtered_sub_updates_only_matching_element() {
        let start = with(
            user(),
            json!({ "phoneNumbers": [{ "type": "work", "value": "1" }, { "type": "mobile", "value": "2" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "3" }]),
        );
        assert_eq!(
            out["phoneNumbers"],
            json!([{ "type": "work", "value": "1" }, { "type": "mobile", "value": "3" }])
        );
    }

    #[test]
    fn replace_filtered_sub_creates_when_nothing_matches() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "home", "value": "h@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x" }]),
        );
        assert_eq!(
            out["emails"],
            json!([{ "type": "home", "value": "h@x" }, { "type": "work", "value": "w@x" }])
        );
    }

    #[test]
    fn replace_filtered_sub_matches_filter_case_insensitively() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "Work", "value": "old@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": "emails[TYPE eq \"work\"].VALUE", "value": "new@x" }]),
        );
        assert_eq!(out["emails"], json!([{ "type": "Work", "value": "new@x" }]));
    }

    #[test]
    fn filtered_primary_sub_is_coerced_and_exclusive() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "home", "value": "h@x", "primary": true }, { "type": "work", "value": "w@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": "emails[type eq \"work\"].primary", "value": "True" }]),
        );
        assert_eq!(
            out["emails"],
            json!([{ "type": "home", "value": "h@x", "primary": false }, { "type": "work", "value": "w@x", "primary": true }])
        );
    }

    #[test]
    fn entra_remove_filtered_sub_value_without_value_member() {
        let start = with(
            user(),
            json!({ "phoneNumbers": [{ "type": "mobile", "value": "1" }, { "type": "work", "value": "2" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value" }]),
        );
        assert_eq!(
            out["phoneNumbers"],
            json!([{ "type": "work", "value": "2" }])
        );
    }

    #[test]
    fn entra_remove_filtered_sub_value_with_value_member() {
        let start = with(
            user(),
            json!({ "phoneNumbers": [{ "type": "mobile", "value": "1" }, { "type": "work", "value": "2" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "1" }]),
        );
        assert_eq!(
            out["phoneNumbers"],
            json!([{ "type": "work", "value": "2" }])
        );
    }

    #[test]
    fn remove_filtered_last_element_removes_attribute() {
        let start = with(
            user(),
            json!({ "phoneNumbers": [{ "type": "mobile", "value": "1" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "Remove", "path": "phoneNumbers[type eq \"mobile\"].value" }]),
        );
        assert!(out.get("phoneNumbers").is_none(), "{out}");
    }

    #[test]
    fn remove_filtered_other_sub_keeps_element() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "remove", "path": "emails[type eq \"work\"].type" }]),
        );
        assert_eq!(out["emails"], json!([{ "value": "w@x" }]));
    }

    #[test]
    fn remove_filtered_without_match_is_a_no_op() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }]),
        );
        assert_eq!(out, start);
    }

    #[test]
    fn add_value_path_without_sub_merges_into_match() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "add", "path": "emails[type eq \"work\"]", "value": { "primary": "true" } }]),
        );
        assert_eq!(
            out["emails"],
            json!([{ "type": "work", "value": "w@x", "primary": true }])
        );
    }

    #[test]
    fn replace_value_path_without_sub_replaces_match_keeping_eq_terms() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "work", "value": "w@x", "display": "W" }, { "type": "home", "value": "h@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": "emails[type eq \"work\"]", "value": { "value": "n@x" } }]),
        );
        assert_eq!(
            out["emails"],
            json!([{ "type": "work", "value": "n@x" }, { "type": "home", "value": "h@x" }])
        );
    }

    #[test]
    fn value_path_without_sub_creates_from_eq_terms_and_value() {
        let out = patch(
            &user(),
            json!([{ "op": "replace", "path": "emails[type eq \"work\"]", "value": { "Value": "w@x" } }]),
        );
        assert_eq!(out["emails"], json!([{ "type": "work", "value": "w@x" }]));
    }

    #[test]
    fn filter_without_eq_terms_and_no_match_is_no_target() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
        );
        let e = patch_err(
            &start,
            json!([{ "op": "add", "path": "emails[value co \"@nowhere\"].type", "value": "other" }]),
        );
        assert_eq!(e.scim_type, "noTarget");
        assert!(
            e.detail
                .starts_with("operation 1 (add \"emails[value co \\\"@nowhere\\\"].type\"): "),
            "{}",
            e.detail
        );
    }

    #[test]
    fn value_path_on_simple_attribute_is_invalid_path() {
        let e = patch_err(
            &user(),
            json!([{ "op": "replace", "path": "userName[value eq \"x\"]", "value": "y" }]),
        );
        assert_eq!(e.scim_type, "invalidPath");
        let e = patch_err(
            &user(),
            json!([{ "op": "replace", "path": "active.value", "value": true }]),
        );
        assert_eq!(e.scim_type, "invalidPath");
    }

    #[test]
    fn sub_path_on_multi_valued_sets_every_element() {
        let start = with(
            user(),
            json!({ "emails": [{ "value": "a@x" }, { "value": "b@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": "emails.type", "value": "work" }]),
        );
        assert_eq!(
            out["emails"],
            json!([{ "value": "a@x", "type": "work" }, { "value": "b@x", "type": "work" }])
        );
    }

    // ---- complex single-valued ---------------------------------------------

    #[test]
    fn add_complex_merges_sub_attributes() {
        let start = with(
            user(),
            json!({ "name": { "givenName": "Barbara", "familyName": "Jensen" } }),
        );
        let out = patch(
            &start,
            json!([{ "op": "add", "path": "name", "value": { "FamilyName": "J", "formatted": "B J" } }]),
        );
        assert_eq!(
            out["name"],
            json!({ "givenName": "Barbara", "familyName": "J", "formatted": "B J" })
        );
    }

    #[test]
    fn replace_complex_merges_and_null_sub_removes() {
        let start = with(
            user(),
            json!({ "name": { "givenName": "Barbara", "familyName": "Jensen" } }),
        );
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": "name", "value": { "givenName": "Babs", "familyName": null } }]),
        );
        assert_eq!(out["name"], json!({ "givenName": "Babs" }));
    }

    #[test]
    fn remove_sub_attribute_and_empty_parent() {
        let start = with(
            user(),
            json!({ "name": { "givenName": "Barbara", "familyName": "Jensen" } }),
        );
        let out = patch(
            &start,
            json!([{ "op": "remove", "path": "name.givenName" }]),
        );
        assert_eq!(out["name"], json!({ "familyName": "Jensen" }));
        let out = patch(&out, json!([{ "op": "remove", "path": "name.familyName" }]));
        assert!(out.get("name").is_none(), "{out}");
    }

    // ---- enterprise extension and manager ----------------------------------

    #[test]
    fn entra_enterprise_urn_path_employee_number() {
        let out = patch(
            &user(),
            json!([{ "op": "Add", "path": format!("{ENT}:employeeNumber"), "value": "701984" }]),
        );
        assert_eq!(out[ENT], json!({ "employeeNumber": "701984" }));
        assert_eq!(out["schemas"], json!([CORE, ENT]));
    }

    #[test]
    fn enterprise_urn_path_is_case_insensitive_and_canonical() {
        let start = with(
            user(),
            json!({ "schemas": [CORE, ENT], ENT: { "employeeNumber": "1" } }),
        );
        let path = format!("{}:EMPLOYEENUMBER", ENT.to_lowercase());
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": path, "value": "2" }]),
        );
        assert_eq!(out[ENT], json!({ "employeeNumber": "2" }));
        assert_eq!(out["schemas"], json!([CORE, ENT]));
    }

    #[test]
    fn entra_manager_bare_string_via_path() {
        let out = patch(
            &user(),
            json!([{ "op": "Add", "path": format!("{ENT}:manager"), "value": "m-1" }]),
        );
        assert_eq!(out[ENT]["manager"], json!({ "value": "m-1" }));
    }

    #[test]
    fn entra_manager_as_array() {
        let out = patch(
            &user(),
            json!([{ "op": "Replace", "path": format!("{ENT}:manager"), "value": [{ "value": "m-2" }] }]),
        );
        assert_eq!(out[ENT]["manager"], json!({ "value": "m-2" }));
    }

    #[test]
    fn entra_manager_empty_value_is_set_as_given() {
        let start = with(user(), json!({ ENT: { "manager": { "value": "m-1" } } }));
        let out = patch(
            &start,
            json!([{ "op": "Replace", "path": format!("{ENT}:manager"), "value": { "value": "" } }]),
        );
        assert_eq!(out[ENT]["manager"], json!({ "value": "" }));
    }

    #[test]
    fn entra_manager_bare_string_in_pathless_urn_key() {
        let out = patch(
            &user(),
            json!([{ "op": "Replace", "value": { format!("{ENT}:manager"): "m-3" } }]),
        );
        assert_eq!(out[ENT]["manager"], json!({ "value": "m-3" }));
    }

    #[test]
    fn entra_remove_manager_by_value_filter() {
        let start = with(
            user(),
            json!({ "schemas": [CORE, ENT], ENT: { "employeeNumber": "7", "manager": { "value": "m-1" } } }),
        );
        let path = format!("{ENT}:manager[value eq \"m-1\"]");
        let out = patch(&start, json!([{ "op": "Remove", "path": path }]));
        assert_eq!(out[ENT], json!({ "employeeNumber": "7" }));
        let path = format!("{ENT}:manager[value eq \"other\"]");
        assert_eq!(
            patch(&start, json!([{ "op": "Remove", "path": path }])),
            start
        );
    }

    #[test]
    fn replace_manager_null_removes_it() {
        let start = with(user(), json!({ ENT: { "manager": { "value": "m-1" } } }));
        let out = patch(
            &start,
            json!([{ "op": "Replace", "path": format!("{ENT}:manager"), "value": null }]),
        );
        assert_eq!(out[ENT], json!({}));
    }

    #[test]
    fn pathless_extension_object_key() {
        let out = patch(
            &user(),
            json!([{ "op": "add", "value": { ENT: { "employeeNumber": "9", "manager": "m-9" }, "displayName": "B" } }]),
        );
        assert_eq!(
            out[ENT],
            json!({ "employeeNumber": "9", "manager": { "value": "m-9" } })
        );
        assert_eq!(out["displayName"], json!("B"));
        assert_eq!(out["schemas"], json!([CORE, ENT]));
    }

    #[test]
    fn pathless_full_urn_attribute_key() {
        let out = patch(
            &user(),
            json!([{ "op": "Add", "value": { format!("{ENT}:employeeNumber"): "42" } }]),
        );
        assert_eq!(out[ENT]["employeeNumber"], json!("42"));
    }

    #[test]
    fn pathless_core_urn_object_is_top_level() {
        let out = patch(
            &user(),
            json!([{ "op": "replace", "value": { CORE: { "displayName": "Core" } } }]),
        );
        assert_eq!(out["displayName"], json!("Core"));
        assert!(out.get(CORE).is_none());
    }

    #[test]
    fn core_schema_as_path_targets_the_resource() {
        let out = patch(
            &user(),
            json!([{ "op": "replace", "path": CORE, "value": { "displayName": "X" } }]),
        );
        assert_eq!(out["displayName"], json!("X"));
        let e = patch_err(&user(), json!([{ "op": "remove", "path": CORE }]));
        assert_eq!(e.scim_type, "invalidValue");
    }

    #[test]
    fn add_whole_extension_path_with_object() {
        let out = patch(
            &user(),
            json!([{ "op": "add", "path": ENT, "value": { "EmployeeNumber": "5" } }]),
        );
        assert_eq!(out[ENT], json!({ "employeeNumber": "5" }));
        assert_eq!(out["schemas"], json!([CORE, ENT]));
    }

    #[test]
    fn schema_objects_do_not_nest() {
        let nested = json!({ ENT: { ENT: { "employeeNumber": "1" } } });
        let e = patch_err(&user(), json!([{ "op": "add", "value": nested }]));
        assert_eq!(e.scim_type, "invalidPath");
        let nested = json!({ CORE: { CORE: { "displayName": "x" } } });
        assert_eq!(
            patch_err(&user(), json!([{ "op": "add", "value": nested }])).scim_type,
            "invalidPath"
        );
    }

    #[test]
    fn remove_whole_extension_path() {
        let start = with(
            user(),
            json!({ "schemas": [CORE, ENT], ENT: { "employeeNumber": "7" } }),
        );
        let out = patch(&start, json!([{ "op": "remove", "path": ENT }]));
        assert!(out.get(ENT).is_none(), "{out}");
        assert_eq!(out["schemas"], json!([CORE]));
    }

    #[test]
    fn remove_from_missing_extension_is_a_no_op() {
        let out = patch(
            &user(),
            json!([{ "op": "remove", "path": format!("{ENT}:employeeNumber") }]),
        );
        assert_eq!(out, user());
    }

    // ---- members -----------------------------------------------------------

    #[test]
    fn entra_add_members_array_of_several() {
        let out = patch(
            &group(&["u1"]),
            json!([{ "op": "Add", "path": "members", "value": [{ "value": "u2" }, { "value": "u3" }, { "value": "u1" }] }]),
        );
        assert_eq!(
            out["members"],
            json!([{ "value": "u1" }, { "value": "u2" }, { "value": "u3" }])
        );
    }

    #[test]
    fn add_members_to_group_without_members_ignores_null_refs() {
        let start = json!({ "displayName": "G" });
        let out = patch(
            &start,
            json!([{ "op": "add", "path": "members", "value": [{ "$ref": null, "value": "u1" }] }]),
        );
        assert_eq!(out["members"], json!([{ "value": "u1" }]));
    }

    #[test]
    fn entra_remove_members_with_value_array_removes_only_listed() {
        let out = patch(
            &group(&["u1", "u2", "u3"]),
            json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": "u1" }, { "value": "u3" }] }]),
        );
        assert_eq!(out["members"], json!([{ "value": "u2" }]));
    }

    #[test]
    fn remove_members_value_match_is_case_sensitive() {
        let out = patch(
            &group(&["u1"]),
            json!([{ "op": "Remove", "path": "members", "value": [{ "value": "U1" }] }]),
        );
        assert_eq!(out["members"], json!([{ "value": "u1" }]));
    }

    #[test]
    fn remove_members_with_empty_value_list_removes_nothing() {
        let out = patch(
            &group(&["u1", "u2"]),
            json!([{ "op": "Remove", "path": "members", "value": [] }]),
        );
        assert_eq!(
            out["members"],
            json!([{ "value": "u1" }, { "value": "u2" }])
        );
    }

    #[test]
    fn remove_all_listed_members_unassigns_attribute() {
        let out = patch(
            &group(&["u1"]),
            json!([{ "op": "remove", "path": "members", "value": { "value": "u1" } }]),
        );
        assert!(out.get("members").is_none(), "{out}");
    }

    #[test]
    fn remove_members_value_filter() {
        let out = patch(
            &group(&["u1", "u2"]),
            json!([{ "op": "remove", "path": "members[value eq \"u1\"]" }]),
        );
        assert_eq!(out["members"], json!([{ "value": "u2" }]));
    }

    #[test]
    fn remove_members_without_value_removes_all() {
        let out = patch(
            &group(&["u1", "u2"]),
            json!([{ "op": "remove", "path": "members" }]),
        );
        assert!(out.get("members").is_none(), "{out}");
    }

    #[test]
    fn replace_members_with_array() {
        let out = patch(
            &group(&["u1", "u2"]),
            json!([{ "op": "Replace", "path": "members", "value": [{ "value": "u3" }, { "value": "u4" }] }]),
        );
        assert_eq!(
            out["members"],
            json!([{ "value": "u3" }, { "value": "u4" }])
        );
    }

    #[test]
    fn replace_members_with_empty_array_unassigns_attribute() {
        let out = patch(
            &group(&["u1"]),
            json!([{ "op": "replace", "path": "members", "value": [] }]),
        );
        assert!(out.get("members").is_none(), "{out}");
    }

    #[test]
    fn pathless_replace_members_replaces_array() {
        let out = patch(
            &group(&["u1"]),
            json!([{ "op": "replace", "value": { "members": [{ "value": "u9" }] } }]),
        );
        assert_eq!(out["members"], json!([{ "value": "u9" }]));
    }

    // ---- multi-valued general ----------------------------------------------

    #[test]
    fn add_single_email_object_appends_with_canonical_keys() {
        let start = with(user(), json!({ "emails": [{ "value": "a@x" }] }));
        let out = patch(
            &start,
            json!([{ "op": "add", "path": "emails", "value": { "VALUE": "b@x", "Type": "work" } }]),
        );
        assert_eq!(
            out["emails"],
            json!([{ "value": "a@x" }, { "value": "b@x", "type": "work" }])
        );
    }

    #[test]
    fn replace_multi_valued_with_single_value_wraps_it() {
        let start = with(
            user(),
            json!({ "emails": [{ "value": "a@x" }, { "value": "b@x" }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "replace", "path": "emails", "value": "c@x" }]),
        );
        assert_eq!(out["emails"], json!([{ "value": "c@x" }]));
    }

    #[test]
    fn added_primary_clears_other_primaries() {
        let start = with(
            user(),
            json!({ "emails": [{ "value": "a@x", "primary": true }] }),
        );
        let out = patch(
            &start,
            json!([{ "op": "add", "path": "emails", "value": [{ "value": "b@x", "primary": "True" }] }]),
        );
        assert_eq!(
            out["emails"],
            json!([{ "value": "a@x", "primary": false }, { "value": "b@x", "primary": true }])
        );
    }

    #[test]
    fn null_value_on_add_or_replace_removes_target() {
        let start = with(
            user(),
            json!({ "displayName": "B", "emails": [{ "value": "a@x" }] }),
        );
        let out = patch(
            &start,
            json!([
                { "op": "add", "path": "displayName", "value": null },
                { "op": "replace", "value": { "emails": null } }
            ]),
        );
        assert!(
            out.get("displayName").is_none() && out.get("emails").is_none(),
            "{out}"
        );
    }

    // ---- misc --------------------------------------------------------------

    #[test]
    fn op_names_in_every_case_apply() {
        let out = patch(
            &user(),
            json!([
                { "op": "ADD", "path": "displayName", "value": "a" },
                { "op": "Replace", "path": "preferredLanguage", "value": "en" },
                { "op": "add", "path": "externalId", "value": "e" },
                { "op": "REMOVE", "path": "externalId" },
                { "op": "replace", "path": "displayName", "value": "b" }
            ]),
        );
        assert_eq!(out["displayName"], json!("b"));
        assert_eq!(out["preferredLanguage"], json!("en"));
        assert!(out.get("externalId").is_none());
    }

    #[test]
    fn remove_plain_and_missing_attributes() {
        let start = with(user(), json!({ "displayName": "B" }));
        let out = patch(
            &start,
            json!([{ "op": "remove", "path": "displayName" }, { "op": "remove", "path": "nickName" }]),
        );
        assert_eq!(out, user());
    }

    #[test]
    fn server_owned_attributes_are_ignored() {
        let out = patch(
            &user(),
            json!([
                { "op": "replace", "path": "id", "value": "hijack" },
                { "op": "remove", "path": "meta" },
                { "op": "replace", "path": "meta.resourceType", "value": "Group" },
                { "op": "add", "value": { "schemas": ["x"], "ID": "y", "displayName": "ok" } }
            ]),
        );
        assert_eq!(out, with(user(), json!({ "displayName": "ok" })));
    }

    #[test]
    fn unknown_attributes_are_written_as_given() {
        let out = patch(
            &user(),
            json!([
                { "op": "add", "path": "nickName", "value": "Babs" },
                { "op": "add", "value": { "Title": "Dr", "x-custom.level": 3, "weird key!": true } },
                { "op": "add", "path": "roles[type eq \"app\"].value", "value": "admin" }
            ]),
        );
        assert_eq!(out["nickName"], json!("Babs"));
        assert_eq!(out["Title"], json!("Dr"));
        assert_eq!(out["x-custom"], json!({ "level": 3 }));
        assert_eq!(out["weird key!"], json!(true));
        assert_eq!(out["roles"], json!([{ "type": "app", "value": "admin" }]));
    }

    #[test]
    fn unknown_urn_path_writes_into_its_own_object() {
        let out = patch(
            &user(),
            json!([{ "op": "add", "path": "urn:example:ext:1.0:User:level", "value": "5" }]),
        );
        assert_eq!(out["urn:example:ext:1.0:User"], json!({ "level": "5" }));
        assert_eq!(out["schemas"], json!([CORE, "urn:example:ext:1.0:User"]));
    }

    #[test]
    fn unknown_urn_key_with_object_is_an_extension() {
        let out = patch(
            &user(),
            json!([{ "op": "add", "value": { "urn:example:ext:1.0:User": { "level": 5 } } }]),
        );
        assert_eq!(out["urn:example:ext:1.0:User"], json!({ "level": 5 }));
    }

    #[test]
    fn pathless_non_object_value_is_invalid_value() {
        let e = patch_err(&user(), json!([{ "op": "replace", "value": "x" }]));
        assert_eq!(e.scim_type, "invalidValue");
        assert!(
            e.detail.starts_with("operation 1 (replace): "),
            "{}",
            e.detail
        );
        let e = patch_err(&user(), json!([{ "op": "add", "value": { ENT: 5 } }]));
        assert_eq!(e.scim_type, "invalidValue");
    }

    #[test]
    fn error_in_third_operation_leaves_resource_untouched() {
        let start = with(
            user(),
            json!({ "emails": [{ "type": "work", "value": "w@x" }] }),
        );
        let mut resource = start.clone();
        let ops = parse_patch(&body(json!([
            { "op": "replace", "path": "displayName", "value": "changed" },
            { "op": "remove", "path": "emails" },
            { "op": "replace", "path": "emails[value sw \"z\"]", "value": { "value": "z@x" } }
        ])))
        .unwrap();
        let e = apply_patch(&mut resource, &ops, &TestSchema).unwrap_err();
        assert_eq!(e.scim_type, "noTarget");
        assert!(
            e.detail
                .starts_with("operation 3 (replace \"emails[value sw \\\"z\\\"]\"): "),
            "{}",
            e.detail
        );
        assert_eq!(resource, start);
    }

    #[test]
    fn non_object_resource_is_rejected_unchanged() {
        let mut resource = json!(["not", "a", "resource"]);
        let ops = parse_patch(&body(json!([{ "op": "remove", "path": "x" }]))).unwrap();
        assert_eq!(
            apply_patch(&mut resource, &ops, &TestSchema)
                .unwrap_err()
                .scim_type,
            "invalidValue"
        );
        assert_eq!(resource, json!(["not", "a", "resource"]));
    }

    #[test]
    fn pathless_value_path_key_behaves_like_path() {
        let out = patch(
            &user(),
            json!([{ "op": "add", "value": { "emails[type eq \"work\"].value": "w@x" } }]),
        );
        assert_eq!(out["emails"], json!([{ "type": "work", "value": "w@x" }]));
    }

    #[test]
    fn filtered_sub_on_single_valued_manager() {
        let start = with(user(), json!({ ENT: { "manager": { "value": "m-1" } } }));
        let path = format!("{ENT}:manager[value eq \"m-1\"].displayName");
        let out = patch(
            &start,
            json!([{ "op": "add", "path": path, "value": "Boss" }]),
        );
        assert_eq!(
            out[ENT]["manager"],
            json!({ "value": "m-1", "displayName": "Boss" })
        );
    }

    #[test]
    fn odd_inputs_never_panic_and_failures_leave_resource_unchanged() {
        let start = json!({
            "schemas": [CORE, ENT], "id": "1", "userName": "u", "roles": ["a", "b"],
            "name": { "givenName": "G" }, "emails": [{ "type": "work", "value": "w@x", "primary": true }, "bare"],
            "members": [{ "value": "u1" }, 7], ENT: { "manager": "legacy-id" }
        });
        let ent_manager = format!("{ENT}:manager");
        let ent_manager_value = format!("{ENT}:manager.value");
        let paths = [
            None,
            Some("emails"),
            Some("emails.value"),
            Some("emails[type eq \"work\"]"),
            Some("emails[value pr]"),
            Some("emails[not (type eq \"x\")].type"),
            Some("name"),
            Some("name.givenName"),
            Some("roles"),
            Some("roles[value eq \"a\"]"),
            Some("members[value eq \"u1\"].display"),
            Some("members"),
            Some(ENT),
            Some(&ent_manager),
            Some(&ent_manager_value),
            Some("urn:x:y"),
            Some("id"),
            Some("$ref"),
            Some("userName"),
        ];
        let values = [
            None,
            Some(json!(null)),
            Some(json!(true)),
            Some(json!("True")),
            Some(json!(1)),
            Some(json!("x")),
            Some(json!([])),
            Some(json!([null])),
            Some(json!([1, "a", {}])),
            Some(json!({})),
            Some(json!({ "value": null })),
            Some(json!({ "a": { "b": [1] }, "primary": "true" })),
            Some(json!([[1]])),
        ];
        let mut applied = 0;
        for op in ["add", "replace", "remove"] {
            for path in paths {
                for value in &values {
                    let mut raw = json!({ "op": op });
                    if let Some(p) = path {
                        raw["path"] = json!(p);
                    }
                    if let Some(v) = value {
                        raw["value"] = v.clone();
                    }
                    let Ok(ops) = parse_patch(&body(json!([raw]))) else {
                        continue;
                    };
                    let mut resource = start.clone();
                    match apply_patch(&mut resource, &ops, &TestSchema) {
                        Ok(()) => applied += 1,
                        Err(e) => assert_eq!(resource, start, "{raw}: {e}"),
                    }
                }
            }
        }
        assert!(applied > 500, "{applied}");
    }

    // ---- coerce ------------------------------------------------------------

    #[test]
    fn coerce_booleans() {
        assert_eq!(coerce(json!("True"), AttrKind::Boolean), json!(true));
        assert_eq!(coerce(json!("false"), AttrKind::Boolean), json!(false));
        assert_eq!(coerce(json!("yes"), AttrKind::Boolean), json!("yes"));
        assert_eq!(coerce(json!("true"), AttrKind::String), json!("true"));
        assert_eq!(
            coerce(json!(["True", "False"]), AttrKind::Boolean),
            json!([true, false])
        );
    }

    #[test]
    fn coerce_integers() {
        assert_eq!(coerce(json!("42"), AttrKind::Integer), json!(42));
        assert_eq!(coerce(json!("-7"), AttrKind::Integer), json!(-7));
        assert_eq!(
            coerce(json!("18446744073709551615"), AttrKind::Integer),
            json!(u64::MAX)
        );
        assert_eq!(coerce(json!("4.5"), AttrKind::Integer), json!("4.5"));
        assert_eq!(
            coerce(json!("99999999999999999999"), AttrKind::Integer),
            json!("99999999999999999999")
        );
    }

    #[test]
    fn coerce_decimals_only_when_lossless() {
        assert_eq!(coerce(json!("1.5"), AttrKind::Decimal), json!(1.5));
        assert_eq!(coerce(json!("10"), AttrKind::Decimal), json!(10));
        assert_eq!(coerce(json!("2.5e3"), AttrKind::Decimal), json!(2500.0));
        for lossy in [
            "0.12345678901234567",
            "1e400",
            "1e-400",
            "NaN",
            "inf",
            "1.2.3",
            ".",
            "abc",
        ] {
            assert_eq!(
                coerce(json!(lossy), AttrKind::Decimal),
                json!(lossy),
                "{lossy}"
            );
        }
    }
}
