//! Value helpers of the PATCH engine: schema coercion, case-insensitive
//! members, multi-valued elements.

use super::Object;
use crate::scim::attr::{AttrKind, AttrMeta};
use crate::scim::filter::PatchPath;
use crate::scim::json::{find_key, get_in};
use serde_json::{Number, Value};

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

pub(super) fn coerce_scalar(value: Value, kind: AttrKind) -> Value {
    let Value::String(s) = &value else {
        return value;
    };
    // Text stays text for every other kind (checked before the trim: most
    // values read are strings).
    if !matches!(
        kind,
        AttrKind::Boolean | AttrKind::Integer | AttrKind::Decimal
    ) {
        return value;
    }
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

pub(super) fn integer(s: &str) -> Option<Value> {
    s.parse::<i64>()
        .map(Value::from)
        .or_else(|_| s.parse::<u64>().map(Value::from))
        .ok()
}

/// Plain decimal notation with at most 15 significant digits (what an f64
/// always round-trips), excluding overflow and underflow: lossless by construction.
pub(super) fn decimal(s: &str) -> Option<Value> {
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

pub(super) fn remove_ci(map: &mut Object, name: &str) -> Option<Value> {
    find_key(map, name).cloned().and_then(|k| map.remove(&k))
}

/// The key to write `name` under. A member spelled differently is moved to
/// `name` when that is the canonical spelling, otherwise its spelling is kept,
/// so one attribute never ends up under two keys.
pub(super) fn claim_key(map: &mut Object, name: &str, canonical: bool) -> String {
    match find_key(map, name).cloned() {
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

pub(super) fn as_slice(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        value => std::slice::from_ref(value),
    }
}

pub(super) fn take_elements(value: Option<Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(value) => vec![value],
    }
}

/// Writes elements back; an empty multi-valued attribute is unassigned (RFC
/// 7644 §3.5.2.2), so its key goes. Single-valued keeps the newest element.
pub(super) fn put_elements(map: &mut Object, key: &str, mut elems: Vec<Value>, multi: bool) {
    if multi {
        if !elems.is_empty() {
            map.insert(key.to_owned(), Value::Array(elems));
        }
    } else if let Some(last) = elems.pop() {
        map.insert(key.to_owned(), last);
    }
}

pub(super) fn wrap(value: Value) -> Object {
    Object::from_iter([("value".to_owned(), value)])
}

pub(super) fn strip_nulls_obj(mut obj: Object) -> Object {
    obj.retain(|_, v| !v.is_null());
    obj
}

/// Null sub-attributes are unassigned (RFC 7643 §2.5); dropping them keeps
/// `{"$ref": null, "value": "u1"}` equal to `{"value": "u1"}` for de-duplication.
pub(super) fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(strip_nulls_obj(o)),
        value => value,
    }
}

pub(super) fn coerce_with(value: Value, meta: Option<AttrMeta>) -> Value {
    match meta {
        Some(m) => coerce(value, m.kind),
        None => value,
    }
}

/// Sets or (for null) removes each member of `new` in `cur`.
pub(super) fn merge(cur: &mut Object, new: Object) {
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
pub(super) fn drop_sub(el: &mut Value, sub: &str) -> bool {
    let Value::Object(o) = el else {
        return true;
    };
    let had_value = get_in(o, "value").is_some();
    remove_ci(o, sub);
    !(o.is_empty() || (had_value && get_in(o, "value").is_none()))
}

/// Does a listed value of a `remove` name this element? Objects with a `value`
/// match elements with an equal `value` (case-sensitive: ids are opaque), other
/// objects match equal elements, scalars match equal elements or `value`s.
/// (The engine uses [`Listed`], which answers the same in constant time.)
#[cfg(test)]
pub(super) fn same_element(wanted: &Value, el: &Value) -> bool {
    fn value_of(v: &Value) -> Option<&Value> {
        v.as_object()
            .and_then(|o| get_in(o, "value"))
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
pub(super) fn settle_primary(elems: &mut [Value], touched: &[usize]) {
    let is_primary =
        |v: &Value| v.as_object().and_then(|o| get_in(o, "primary")) == Some(&Value::Bool(true));
    let Some(&winner) = touched
        .iter()
        .rev()
        .find(|&&i| elems.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (i, el) in elems.iter_mut().enumerate() {
        if let (false, Value::Object(o)) = (i == winner, el) {
            if let Some(k) = find_key(o, "primary")
                .filter(|k| o.get(*k) == Some(&Value::Bool(true)))
                .cloned()
            {
                o.insert(k, Value::Bool(false));
            }
        }
    }
}

/// The path as the client could have written it, for error details.
pub(super) fn render_path(p: &PatchPath) -> String {
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

/// A hash of a JSON value consistent with `==`: object members are hashed
/// in key order whatever order the map keeps them in.
pub(super) fn value_hash(v: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    fn feed(v: &Value, h: &mut std::collections::hash_map::DefaultHasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.to_string()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(a) => {
                (4u8, a.len()).hash(h);
                a.iter().for_each(|x| feed(x, h));
            }
            Value::Object(o) => {
                (5u8, o.len()).hash(h);
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort_unstable();
                for k in keys {
                    k.hash(h);
                    feed(&o[k], h);
                }
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    feed(v, &mut h);
    h.finish()
}

/// Positions of values by hash: membership tests in constant time on
/// average, so adding n values to a list of m is O(n + m), not O(n·m).
#[derive(Default)]
pub(super) struct ValueIndex {
    by_hash: std::collections::HashMap<u64, Vec<usize>>,
}

impl ValueIndex {
    pub(super) fn of(elems: &[Value]) -> ValueIndex {
        let mut ix = ValueIndex::default();
        for (i, e) in elems.iter().enumerate() {
            ix.insert(e, i);
        }
        ix
    }

    pub(super) fn insert(&mut self, v: &Value, pos: usize) {
        self.by_hash.entry(value_hash(v)).or_default().push(pos);
    }

    /// Whether `elems` (the list this indexes) holds a value equal to `v`.
    pub(super) fn contains(&self, elems: &[Value], v: &Value) -> bool {
        self.by_hash
            .get(&value_hash(v))
            .is_some_and(|ps| ps.iter().any(|&p| elems.get(p) == Some(v)))
    }
}

/// The values a `remove` lists, indexed for [`same_element`]'s rule.
pub(super) struct Listed {
    /// `value`s of listed objects, and listed scalars (lower-cased with `fold`).
    ids: std::collections::HashMap<u64, Vec<Value>>,
    /// Listed objects without `value` (nulls stripped), and listed scalars
    /// (lower-cased with `fold`).
    whole: std::collections::HashMap<u64, Vec<Value>>,
    /// The elements' `value` (`emails`), or the elements themselves (a
    /// simple attribute), are not case-exact: strings compare
    /// case-insensitively, as an `eq` filter on them would.
    fold: bool,
}

impl Listed {
    pub(super) fn new(listed: &[Value], fold: bool) -> Listed {
        let mut ids: std::collections::HashMap<u64, Vec<Value>> = Default::default();
        let mut whole: std::collections::HashMap<u64, Vec<Value>> = Default::default();
        for w in listed {
            match (w, element_value(w)) {
                (_, Some(id)) => {
                    let id = folded(id, fold).into_owned();
                    ids.entry(value_hash(&id)).or_default().push(id);
                }
                (Value::Object(o), None) => {
                    let v = Value::Object(strip_nulls_obj(o.clone()));
                    whole.entry(value_hash(&v)).or_default().push(v);
                }
                (scalar, None) => {
                    let id = folded(scalar, fold).into_owned();
                    ids.entry(value_hash(&id)).or_default().push(id.clone());
                    whole.entry(value_hash(&id)).or_default().push(id);
                }
            }
        }
        Listed { ids, whole, fold }
    }

    /// Same answer as `listed.iter().any(|w| same_element(w, el))` (with
    /// `fold`, strings compared case-insensitively).
    pub(super) fn names(&self, el: &Value) -> bool {
        let id_hit = element_value(el).is_some_and(|id| {
            let id = folded(id, self.fold);
            self.ids
                .get(&value_hash(&id))
                .is_some_and(|c| c.contains(&id))
        });
        let el = folded(el, self.fold);
        id_hit
            || self
                .whole
                .get(&value_hash(&el))
                .is_some_and(|c| c.contains(&el))
    }
}

/// A string lower-cased when `fold`; anything else as it is.
fn folded(v: &Value, fold: bool) -> std::borrow::Cow<'_, Value> {
    match v {
        Value::String(s) if fold => std::borrow::Cow::Owned(Value::String(s.to_lowercase())),
        v => std::borrow::Cow::Borrowed(v),
    }
}

fn element_value(v: &Value) -> Option<&Value> {
    v.as_object()
        .and_then(|o| get_in(o, "value"))
        .filter(|v| !v.is_null())
}
