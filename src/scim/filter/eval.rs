//! Evaluation of a parsed [`Filter`] against a resource in SCIM JSON shape.

use super::{CompareOp, Filter};
use crate::scim::attr::{AttrKind, AttrMeta, AttrPath, SchemaInfo};
use crate::scim::json::get_ci;
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// Pushes `value`, or its elements if it is an array (one level only).
pub(super) fn push_flat<'a>(out: &mut Vec<&'a Value>, value: &'a Value) {
    match value {
        Value::Array(items) => out.extend(items),
        _ => out.push(value),
    }
}

/// Resolves `path` against `resource` and returns the values it references,
/// flattening multi-valued attributes (`emails.value` yields each element's
/// `value`). Nulls are returned as-is; missing attributes yield nothing.
/// A URN other than the core schema's selects the extension object keyed by it.
pub fn resolve<'a>(
    resource: &'a Value,
    path: &AttrPath,
    schema: &dyn SchemaInfo,
) -> Vec<&'a Value> {
    let base = match &path.urn {
        Some(urn) if !urn.eq_ignore_ascii_case(schema.core_schema()) => get_ci(resource, urn),
        _ => Some(resource),
    };
    let Some(value) = base.and_then(|b| get_ci(b, &path.name)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match (&path.sub, value) {
        (None, _) => push_flat(&mut out, value),
        (Some(sub), Value::Array(items)) => {
            for sub_value in items.iter().filter_map(|item| get_ci(item, sub)) {
                push_flat(&mut out, sub_value);
            }
        }
        (Some(sub), _) => {
            if let Some(sub_value) = get_ci(value, sub) {
                push_flat(&mut out, sub_value);
            }
        }
    }
    out
}

/// Does `resource` (SCIM JSON object) satisfy `filter`?
pub fn matches(filter: &Filter, resource: &Value, schema: &dyn SchemaInfo) -> bool {
    eval(filter, resource, schema, None)
}

/// `outer` is the value-path attribute when evaluating against one of its elements.
pub(super) fn eval(
    filter: &Filter,
    ctx: &Value,
    schema: &dyn SchemaInfo,
    outer: Option<&AttrPath>,
) -> bool {
    match filter {
        Filter::Present(path) => lookup(ctx, path, schema, outer).into_iter().any(is_present),
        Filter::Compare(path, op, literal) => compare(ctx, path, *op, literal, schema, outer),
        Filter::And(left, right) => {
            eval(left, ctx, schema, outer) && eval(right, ctx, schema, outer)
        }
        Filter::Or(left, right) => {
            eval(left, ctx, schema, outer) || eval(right, ctx, schema, outer)
        }
        Filter::Not(inner) => !eval(inner, ctx, schema, outer),
        // Nested value paths are rejected by the parser; a hand-built one matches nothing.
        Filter::ValuePath(path, inner) => {
            outer.is_none()
                && resolve(ctx, path, schema)
                    .into_iter()
                    .any(|element| eval(inner, element, schema, Some(path)))
        }
    }
}

/// Like [`resolve`], but inside a value path over primitive elements
/// (`roles[value eq "admin"]`) `value` denotes the element itself (RFC 7644 §3.4.2.2).
pub(super) fn lookup<'a>(
    ctx: &'a Value,
    path: &AttrPath,
    schema: &dyn SchemaInfo,
    outer: Option<&AttrPath>,
) -> Vec<&'a Value> {
    let is_plain_value =
        path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value");
    match outer {
        Some(_) if !ctx.is_object() => {
            if is_plain_value {
                vec![ctx]
            } else {
                Vec::new()
            }
        }
        _ => resolve(ctx, path, schema),
    }
}

/// Empty strings, arrays and objects count as absent, like null (RFC 7644 §3.4.2.2 `pr`).
pub(super) fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// What comparison needs to know about an attribute; unknown ones are
/// untyped and case-insensitive.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Meta {
    kind: Option<AttrKind>,
    case_exact: bool,
}

impl Meta {
    fn numeric(self) -> bool {
        matches!(self.kind, Some(AttrKind::Integer | AttrKind::Decimal))
    }
}

pub(super) fn attr_meta(
    path: &AttrPath,
    schema: &dyn SchemaInfo,
    outer: Option<&AttrPath>,
) -> Meta {
    let found = match outer {
        Some(o) if path.sub.is_none() => {
            schema.attribute(o.urn.as_deref(), &o.name, Some(&path.name))
        }
        Some(_) => None,
        None => {
            let urn = path.urn.as_deref();
            match schema.attribute(urn, &path.name, path.sub.as_deref()) {
                // `emails eq "x"` compares each element's `value`.
                Some(m) if path.sub.is_none() && m.kind == AttrKind::Complex => {
                    schema.attribute(urn, &path.name, Some("value"))
                }
                other => other,
            }
        }
    };
    found.map_or_else(Meta::default, |m| Meta {
        kind: Some(m.kind),
        case_exact: m.case_exact,
    })
}

/// Whether `value` equals `literal` as an `eq` filter compares them on an
/// attribute described by `meta` (its case rule, numbers by value, boolean
/// strings); `None`: an unknown attribute (untyped, case-insensitive).
pub fn eq_value(value: &Value, literal: &Value, meta: Option<AttrMeta<'_>>) -> bool {
    values_equal(value, literal, meta_of(meta))
}

/// [`eq_value`] of a string value, without making it a `Value` (the
/// common case: `userName eq "x"` against a record's text).
pub fn eq_text(value: &str, literal: &Value, meta: Option<AttrMeta<'_>>) -> bool {
    let meta = meta_of(meta);
    if meta.numeric() {
        return values_equal(&Value::String(value.to_string()), literal, meta);
    }
    text_equal(value, literal, meta)
}

/// [`values_equal`] of a string value, once numbers are ruled out.
fn text_equal(value: &str, literal: &Value, meta: Meta) -> bool {
    match literal {
        Value::String(b) => text_order(value, b, meta).is_eq(),
        Value::Bool(b) => parse_bool(value) == Some(*b),
        _ => false,
    }
}

fn meta_of(meta: Option<AttrMeta<'_>>) -> Meta {
    meta.map_or_else(Meta::default, |m| Meta {
        kind: Some(m.kind),
        case_exact: m.case_exact,
    })
}

/// Comparisons the schema makes meaningless, refused as `400 invalidFilter`
/// before any evaluation (the message is the detail): `gt`/`ge`/`lt`/`le`
/// on a Boolean or Binary attribute (RFC 7644 §3.4.2.2), and a dateTime
/// attribute compared (`eq`, `ne`, ordering) with a string that is not an
/// RFC 3339 date-time, or with a number. Attributes the schema does not
/// know are left to the caller.
pub fn check_types(filter: &Filter, schema: &dyn SchemaInfo) -> Result<(), String> {
    fn walk(f: &Filter, schema: &dyn SchemaInfo, outer: Option<&AttrPath>) -> Result<(), String> {
        match f {
            Filter::Present(_) => Ok(()),
            Filter::Compare(path, op, literal) => {
                let ordering = matches!(
                    op,
                    CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
                );
                match attr_meta(path, schema, outer).kind {
                    Some(kind @ (AttrKind::Boolean | AttrKind::Binary)) if ordering => {
                        Err(format!(
                            "{path} is {}; it cannot be compared with \"{}\"",
                            if kind == AttrKind::Boolean {
                                "a Boolean"
                            } else {
                                "Binary"
                            },
                            op.keyword()
                        ))
                    }
                    Some(AttrKind::DateTime)
                        if (ordering || matches!(op, CompareOp::Eq | CompareOp::Ne))
                            && !literal.is_null()
                            && literal.as_str().and_then(parse_rfc3339).is_none() =>
                    {
                        Err(format!(
                            "{path} is a dateTime; {literal} is not an RFC 3339 date-time"
                        ))
                    }
                    _ => Ok(()),
                }
            }
            Filter::And(a, b) | Filter::Or(a, b) => {
                walk(a, schema, outer)?;
                walk(b, schema, outer)
            }
            Filter::Not(a) => walk(a, schema, outer),
            Filter::ValuePath(path, inner) => walk(inner, schema, Some(path)),
        }
    }
    walk(filter, schema, None)
}

pub(super) fn compare(
    ctx: &Value,
    path: &AttrPath,
    op: CompareOp,
    literal: &Value,
    schema: &dyn SchemaInfo,
    outer: Option<&AttrPath>,
) -> bool {
    let meta = attr_meta(path, schema, outer);
    // A complex value compared without a sub-attribute stands for its `value`.
    let values: Vec<&Value> = lookup(ctx, path, schema, outer)
        .into_iter()
        .filter_map(|v| {
            if v.is_object() && path.sub.is_none() {
                get_ci(v, "value")
            } else {
                Some(v)
            }
        })
        .collect();
    let equal = || {
        if literal.is_null() {
            values.is_empty() || values.iter().any(|v| v.is_null())
        } else {
            values.iter().any(|v| values_equal(v, literal, meta))
        }
    };
    match op {
        CompareOp::Eq => equal(),
        CompareOp::Ne => !equal(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let Value::String(needle) = literal else {
                return false;
            };
            values.iter().any(|v| match v {
                Value::String(s) => substring_match(op, s, needle, meta.case_exact),
                _ => false,
            })
        }
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            values.iter().any(|v| match values_order(v, literal, meta) {
                Some(ord) => match op {
                    CompareOp::Gt => ord.is_gt(),
                    CompareOp::Ge => ord.is_ge(),
                    CompareOp::Lt => ord.is_lt(),
                    _ => ord.is_le(),
                },
                None => false,
            })
        }
    }
}

pub(super) fn substring_match(
    op: CompareOp,
    haystack: &str,
    needle: &str,
    case_exact: bool,
) -> bool {
    let (h, n) = if case_exact {
        (haystack.to_string(), needle.to_string())
    } else {
        (haystack.to_lowercase(), needle.to_lowercase())
    };
    match op {
        CompareOp::Sw => h.starts_with(&n),
        CompareOp::Ew => h.ends_with(&n),
        _ => h.contains(&n),
    }
}

/// Clients send booleans as strings ("True" from Entra); accept those spellings.
pub(super) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A number, or a numeric string when the schema says the attribute is numeric.
pub(super) fn as_number(value: &Value, numeric: bool) -> Option<Number> {
    match value {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) if numeric => s.trim().parse().ok(),
        _ => None,
    }
}

/// Exact for integers (no f64 rounding of large ids), f64 otherwise (1 == 1.0).
pub(super) fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// String order with the attribute's case rule; dateTime values compare as
/// instants when both parse (so `+02:00` offsets and fractions work).
pub(super) fn text_order(a: &str, b: &str, meta: Meta) -> Ordering {
    if meta.kind == Some(AttrKind::DateTime) {
        if let (Some(x), Some(y)) = (parse_rfc3339(a), parse_rfc3339(b)) {
            return x.cmp(&y);
        }
    }
    if meta.case_exact {
        a.cmp(b)
    } else if a.is_ascii() && b.is_ascii() {
        // The same order as below for ASCII, bytes instead of chars.
        let (x, y) = (a.as_bytes(), b.as_bytes());
        if x.eq_ignore_ascii_case(y) {
            Ordering::Equal
        } else {
            x.iter()
                .map(u8::to_ascii_lowercase)
                .cmp(y.iter().map(u8::to_ascii_lowercase))
        }
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase))
    }
}

pub(super) fn values_equal(value: &Value, literal: &Value, meta: Meta) -> bool {
    if meta.numeric() {
        if let (Some(a), Some(b)) = (as_number(value, true), as_number(literal, true)) {
            return cmp_numbers(&a, &b) == Some(Ordering::Equal);
        }
    }
    match (value, literal) {
        (Value::String(a), literal) => text_equal(a, literal, meta),
        (Value::Number(a), Value::Number(b)) => cmp_numbers(a, b) == Some(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Bool(b), Value::String(s)) => parse_bool(s) == Some(*b),
        _ => false,
    }
}

/// `None` when the two values cannot be ordered (mixed types, booleans, ...).
pub(super) fn values_order(value: &Value, literal: &Value, meta: Meta) -> Option<Ordering> {
    if meta.numeric() {
        if let (Some(a), Some(b)) = (as_number(value, true), as_number(literal, true)) {
            return cmp_numbers(&a, &b);
        }
    }
    match (value, literal) {
        (Value::String(a), Value::String(b)) => Some(text_order(a, b, meta)),
        (Value::Number(a), Value::Number(b)) => cmp_numbers(a, b),
        _ => None,
    }
}

/// Parses an RFC 3339 date-time (`2011-05-13T04:42:34.123+02:00`) into
/// (seconds since the Unix epoch, nanoseconds); a leap second shows as
/// nanoseconds of one second or more, so it still orders correctly.
pub(super) fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    Some((t.timestamp(), t.timestamp_subsec_nanos()))
}
