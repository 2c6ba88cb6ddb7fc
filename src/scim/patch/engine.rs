//! Applying one operation to a resource in SCIM JSON shape.

use super::values::*;
use super::{invalid_value, Object, OpKind, PatchError, PatchOp, SERVER_OWNED};
use crate::scim::attr::{AttrKind, AttrMeta, AttrPath, SchemaInfo};
use crate::scim::filter::{eq_assignments, eq_value, matches, parse_patch_path, Filter, PatchPath};
use crate::scim::json::{find_key, get_in};
use serde_json::Value;

pub(super) type Res = Result<(), PatchError>;

/// What one key of a path-less value sets, lower-cased: the extension URN (""
/// for the core schema), the attribute (`None`: the whole extension), the
/// value filter in canonical form (`None`: every element) and the
/// sub-attribute (`None`: the whole attribute, or the whole element).
type Claim = (String, Option<String>, Option<String>, Option<String>);

/// Whether two claims may set the same value. Two different value filters
/// are taken to select different elements (`emails[type eq "work"].value`
/// beside `emails[type eq "home"].value`); one filter compares equal to
/// itself whatever its spelling (case of names and values, spaces).
fn overlap(a: &Claim, b: &Claim) -> bool {
    if a.0 != b.0 {
        return false;
    }
    let (Some(attr_a), Some(attr_b)) = (&a.1, &b.1) else {
        return true;
    };
    if attr_a != attr_b {
        return false;
    }
    if let (Some(fa), Some(fb)) = (&a.2, &b.2) {
        if fa != fb {
            return false;
        }
    }
    match (&a.3, &b.3) {
        (Some(sa), Some(sb)) => sa == sb,
        _ => true,
    }
}

pub(super) struct Engine<'s> {
    pub(super) schema: &'s dyn SchemaInfo,
}

/// A resolved attribute: where it lives and what the schema knows about it.
pub(super) struct Target<'a> {
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
    pub(super) fn apply(&self, root: &mut Object, op: &PatchOp) -> Res {
        match (&op.path, &op.value) {
            (Some(path), value) => self.apply_path(root, op.op, path, value.as_ref(), false),
            (None, _) if op.op == OpKind::Remove => {
                Err(PatchError::new("noTarget", "remove requires a path"))
            }
            (None, Some(Value::Object(obj))) => {
                self.refuse_overlaps(obj)?;
                self.apply_pathless(root, op.op, None, obj, false)
            }
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

    /// A path-less value that sets one attribute twice under two spellings
    /// (`displayName` and `urn:…:User:displayName`, `name: {givenName}` and
    /// `name.givenName`, an extension object and its full-URN attribute key) is
    /// refused: which one won would depend on key order.
    fn refuse_overlaps(&self, obj: &Object) -> Res {
        let mut claims = Vec::new();
        self.claims(obj, None, false, &mut claims);
        // Pairwise: a value filter makes the claims only partly ordered (the
        // keys of one value are few, and the body size bounds them).
        for (i, (a, ka)) in claims.iter().enumerate() {
            if let Some((_, kb)) = claims[i + 1..].iter().find(|(b, _)| overlap(a, b)) {
                return Err(invalid_value(format!(
                    "the value sets one attribute twice: as {} and as {}",
                    super::quote(ka),
                    super::quote(kb)
                )));
            }
        }
        Ok(())
    }

    /// What each key of a path-less value sets ([`Claim`]), with the client's key.
    /// Mirrors [`Self::apply_pathless`].
    fn claims(
        &self,
        obj: &Object,
        scope: Option<&str>,
        nested: bool,
        out: &mut Vec<(Claim, String)>,
    ) {
        for (key, value) in obj {
            if !nested {
                if let (true, Value::Object(inner)) =
                    (key.eq_ignore_ascii_case(self.schema.core_schema()), value)
                {
                    self.claims(inner, None, true, out);
                    continue;
                }
                if let Some(ext) = self.schema.extension(key) {
                    match value {
                        Value::Object(inner) => self.claims(inner, Some(ext), true, out),
                        _ => out.push(((ext.to_ascii_lowercase(), None, None, None), key.clone())),
                    }
                    continue;
                }
            }
            let Ok(path) = parse_patch_path(key) else {
                continue;
            };
            let filter = path
                .filter
                .as_ref()
                .map(|f| f.to_string().to_ascii_lowercase());
            let scope = match path.attr.urn.as_deref() {
                None => scope,
                urn => self.scope_of(urn),
            };
            let meta = self.schema.attribute(scope, &path.attr.name, None);
            let name = meta.map_or(path.attr.name.as_str(), |m| m.name);
            let sub = path.value_sub.as_deref().or(path.attr.sub.as_deref());
            let at = |sub: Option<&str>| {
                (
                    scope.unwrap_or("").to_ascii_lowercase(),
                    Some(name.to_ascii_lowercase()),
                    filter.clone(),
                    sub.map(str::to_ascii_lowercase),
                )
            };
            match (sub, value) {
                // A single complex value merges its sub-attributes (RFC 7644
                // §3.5.2.1/3): it claims each one, not the whole attribute.
                (None, Value::Object(inner))
                    if meta.is_some_and(|m| m.kind == AttrKind::Complex && !m.multi_valued) =>
                {
                    out.extend(inner.keys().map(|k| (at(Some(k)), key.clone())));
                }
                _ => out.push((at(sub), key.clone())),
            }
        }
    }

    /// The scope an attribute's URN prefix names: `None` for no prefix or the
    /// core schema, else the extension's canonical URN (the client's spelling
    /// for an extension the schema does not know).
    fn scope_of<'u>(&'u self, urn: Option<&'u str>) -> Option<&'u str> {
        match urn {
            Some(urn) if !urn.eq_ignore_ascii_case(self.schema.core_schema()) => {
                Some(self.schema.extension(urn).unwrap_or(urn))
            }
            _ => None,
        }
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
        let scope = self.scope_of(attr.urn.as_deref());
        if scope.is_none() && attr.name.eq_ignore_ascii_case("id") {
            // RFC 7644 §3.5.2: an operation that would change a readOnly
            // attribute is refused. Writing the id the resource already has
            // (clients echo it back) changes nothing.
            let current = root.get("id").and_then(Value::as_str);
            return match (kind, value, sub, &path.filter) {
                (OpKind::Add | OpKind::Replace, Some(Value::String(v)), None, None)
                    if current == Some(v.as_str()) =>
                {
                    Ok(())
                }
                _ => Err(PatchError::new(
                    "mutability",
                    "\"id\" is readOnly: an operation cannot change or remove it",
                )),
            };
        }
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
            let key = find_key(root, urn)?.clone();
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
                // Elements compare by their `value` (complex) or as they
                // are (simple), with that one's case rule.
                let rule = if t.complex() {
                    self.schema.attribute(t.scope, t.name, Some("value"))
                } else {
                    t.meta
                };
                let fold = !rule.is_some_and(|m| m.case_exact);
                let listed = Listed::new(as_slice(listed), fold);
                let mut elems = take_elements(map.remove(&t.key));
                elems.retain(|e| !listed.names(e));
                put_elements(map, &t.key, elems, true);
            }
            // A single value goes only when the remove's value names it.
            (OpKind::Remove, Some(given)) => {
                if map
                    .get(&t.key)
                    .is_some_and(|cur| self.names(t, None, cur, given))
                {
                    map.remove(&t.key);
                }
            }
            (OpKind::Remove, None) | (_, None) => {
                map.remove(&t.key);
            }
            (kind, Some(value)) if multi => {
                let old = take_elements(map.remove(&t.key));
                let mut elems = if kind == OpKind::Add { old } else { Vec::new() };
                let mut touched = Vec::new();
                let mut index = ValueIndex::of(&elems);
                for item in as_slice(value).iter().filter(|v| !v.is_null()) {
                    let item = self.normalize_item(t, item)?;
                    if !index.contains(&elems, &item) {
                        index.insert(&item, elems.len());
                        elems.push(item);
                        touched.push(elems.len() - 1);
                    }
                }
                settle_primary(&mut elems, &touched);
                put_elements(map, &t.key, elems, true);
            }
            (_, Some(value)) => match (self.normalize_single(t, value)?, map.get_mut(&t.key)) {
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
                let named = value.is_none_or(|given| {
                    let elem = Value::Object(cur.clone());
                    get_in(cur, sub).is_some_and(|v| {
                        names_simple(v, given, sub_meta)
                            || as_slice(given).iter().any(|g| {
                                self.schema.stored_alike(
                                    t.scope,
                                    t.name,
                                    Some(sub_name),
                                    Some(&elem),
                                    v,
                                    g,
                                )
                            })
                    })
                });
                if named {
                    remove_ci(cur, sub);
                }
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
                    || value.is_some_and(|given| !self.names(t, sub, e, given))
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

    /// Whether a `remove`'s value `given` names `cur`, the value it targets.
    ///
    /// RFC 7644 §3.5.2.2 gives a remove no value; Entra sends the value it
    /// means to remove (`remove emails[type eq "work"].value` with the old
    /// address), so a target goes only when it holds that value, compared as
    /// an `eq` filter compares (the attribute's case rule): never what an
    /// earlier operation of the same request, or another client, put there.
    /// A list names `cur` when one of its values does. With `sub`, `cur` is an
    /// element and its `sub` is compared. A complex value is named by an
    /// object's `value` when it has one, else by each of its members (at
    /// least one), and by a bare scalar equal to its `value`.
    fn names(
        &self,
        t: &Target,
        sub: Option<(&str, Option<AttrMeta>)>,
        cur: &Value,
        given: &Value,
    ) -> bool {
        // As stored: the value the client wrote names what the mapping
        // stored from it (see `SchemaInfo::stored_alike`).
        let alike = |sub: Option<&str>, elem: Option<&Value>, held: &Value| {
            as_slice(given).iter().any(|g| {
                self.schema
                    .stored_alike(t.scope, t.name, sub, elem, held, g)
            })
        };
        if let Some((name, meta)) = sub {
            return cur
                .as_object()
                .and_then(|o| get_in(o, name))
                .is_some_and(|v| names_simple(v, given, meta) || alike(Some(name), Some(cur), v));
        }
        let Value::Object(cur) = cur else {
            return names_simple(cur, given, t.meta) || alike(None, None, cur);
        };
        let member = |k: &str, want: &Value| {
            get_in(cur, k)
                .is_some_and(|v| eq_value(v, want, self.schema.attribute(t.scope, t.name, Some(k))))
        };
        as_slice(given).iter().any(|g| match g {
            Value::Object(o) => match get_in(o, "value").filter(|v| !v.is_null()) {
                Some(id) => member("value", id),
                None => {
                    let mut named = o.iter().filter(|(_, v)| !v.is_null()).peekable();
                    named.peek().is_some() && named.all(|(k, v)| member(k, v))
                }
            },
            scalar => member("value", scalar),
        })
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
    fn normalize_item(&self, t: &Target, item: &Value) -> Result<Value, PatchError> {
        Ok(match (item, t.meta) {
            (Value::Object(o), _) => Value::Object(strip_nulls_obj(self.canon(t, o.clone()))),
            (scalar, Some(m)) if m.kind == AttrKind::Complex => {
                Value::Object(self.canon(t, self.wrap_scalar(t, scalar)?))
            }
            (scalar, Some(m)) => coerce(scalar.clone(), m.kind),
            (scalar, None) => scalar.clone(),
        })
    }

    /// The value for a single-valued attribute. Complex ones accept Entra's
    /// shapes: a bare id (`"manager": "id"`) or a one-element array; `None`
    /// (an empty array) means clear.
    fn normalize_single(&self, t: &Target, value: &Value) -> Result<Option<Value>, PatchError> {
        Ok(match t.meta {
            Some(m) if m.kind == AttrKind::Complex => {
                let value = match value {
                    Value::Array(items) => match items.first() {
                        Some(v) => v,
                        None => return Ok(None),
                    },
                    value => value,
                };
                match value {
                    Value::Null => None,
                    Value::Object(o) => Some(Value::Object(self.canon(t, o.clone()))),
                    scalar => Some(Value::Object(self.canon(t, self.wrap_scalar(t, scalar)?))),
                }
            }
            Some(m) => Some(coerce(value.clone(), m.kind)),
            None => Some(value.clone()),
        })
    }

    /// A bare scalar given for a complex attribute: its `value` (Entra's
    /// `"manager": "id"`), when the attribute has one; else a type error
    /// (`"name": "x"` would otherwise be dropped without a word).
    fn wrap_scalar(&self, t: &Target, scalar: &Value) -> Result<Object, PatchError> {
        if self
            .schema
            .attribute(t.scope, t.name, Some("value"))
            .is_some()
        {
            Ok(wrap(scalar.clone()))
        } else {
            Err(invalid_value(format!(
                "\"{}\" is a complex attribute without a \"value\": give it as an object",
                t.name
            )))
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

/// Whether `given` (one value or a list) holds a value equal to the simple
/// value `cur` (see [`Engine::names`]).
fn names_simple(cur: &Value, given: &Value, meta: Option<AttrMeta>) -> bool {
    as_slice(given).iter().any(|g| eq_value(cur, g, meta))
}
