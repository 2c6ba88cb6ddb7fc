//! SCIM resource ⇄ backend record, through the compiled attributes.

use super::*;
use crate::mapping::transform::timestamp_to_scim;
use crate::scim::attr::{AttrKind, AttrMeta, SchemaInfo};
use crate::scim::error::ScimError;
use crate::scim::filter::{eq_text, eq_value, matches, CompareOp, Filter};
use serde_json::Map;

impl ResourcePlan {
    /// Whether `record` satisfies `filter`: what [`matches()`](crate::scim::filter::matches) says of the
    /// resource [`Self::to_scim`] gives, evaluated on the attributes the
    /// filter names only (all of them when it names `schemas` or a bare
    /// URN). The filter Entra sends for every lookup, `attr eq "value"` on
    /// a single-valued core attribute, is compared on that attribute's
    /// value alone, with the comparison [`eq_value`] makes for `matches`:
    /// no resource is built for it.
    pub fn satisfies<J: AsNode>(
        &self,
        record: &J,
        etag: Option<&str>,
        base_url: &str,
        with_members: bool,
        filter: &Filter,
    ) -> bool {
        if let Some(m) = self.eq_on_one_attribute(record, base_url, filter) {
            return m;
        }
        // The names once, not a walk of the filter per attribute.
        let mut names = Vec::new();
        filter_names(filter, &mut names);
        let all = names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("schemas") || n.starts_with("urn:"));
        let wanted = (!all).then_some(&names[..]);
        let scim = self.to_scim_where(record, etag, base_url, with_members, wanted);
        matches(filter, &scim, self)
    }

    /// The names [`Self::eq_on_one_attribute`] answers for: each plain
    /// attribute placed at a top-level key of its own (no sub-attribute,
    /// selector, reference or extension; not `multiple`, not the members,
    /// not write-only; no other attribute at a key spelt the same but for
    /// case; not one the resource builds itself: `id`, `meta`, `schemas`,
    /// `active`; not complex in the schema).
    pub(super) fn find_eq_targets(&self) -> Vec<EqTarget> {
        let mut out = Vec::new();
        for (i, a) in self.attributes.iter().enumerate() {
            let name = &a.target.name;
            let shared = self
                .attributes
                .iter()
                .filter(|b| b.target.name.eq_ignore_ascii_case(name))
                .count()
                > 1;
            if shared
                || ["id", "meta", "schemas", "active"]
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(name))
                || Some(i) == self.members_attr
                || a.mutability == Mutability::WriteOnly
                || a.multiple
                || a.reference.is_some()
                || a.target.urn.is_some()
                || a.target.sub.is_some()
                || !a.target.selector.is_empty()
            {
                continue;
            }
            let meta = self.attribute(None, name, None);
            if meta.is_some_and(|m| m.kind == AttrKind::Complex) {
                continue;
            }
            out.push(EqTarget {
                name: name.clone(),
                attr: i,
                schema: meta.map(|m| EqSchema {
                    kind: m.kind,
                    multi_valued: m.multi_valued,
                    case_exact: m.case_exact,
                }),
            });
        }
        out
    }

    /// `filter`'s answer when it is `name eq <literal>` on one of the
    /// [`Self::find_eq_targets`]; `None` for any other filter.
    pub(super) fn eq_on_one_attribute<J: AsNode>(
        &self,
        record: &J,
        base_url: &str,
        filter: &Filter,
    ) -> Option<bool> {
        let Filter::Compare(path, CompareOp::Eq, literal) = filter else {
            return None;
        };
        if literal.is_null()
            || path.sub.is_some()
            || path
                .urn
                .as_deref()
                .is_some_and(|u| !u.eq_ignore_ascii_case(&self.schema))
        {
            return None;
        }
        let t = self
            .eq_targets
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&path.name))?;
        let a = &self.attributes[t.attr];
        let meta = t.schema.map(|m| AttrMeta {
            name: &t.name,
            kind: m.kind,
            multi_valued: m.multi_valued,
            case_exact: m.case_exact,
        });
        // The value as the resource is rendered with it (`attr_node`):
        // borrowed from the record when nothing converts it.
        let Some(v) = self.attr_node(a, record, base_url) else {
            return Some(false);
        };
        if let Some(t) = v.as_str() {
            return Some(eq_text(t, literal, meta));
        }
        match v {
            Node::Obj(_) | Node::Arr(_) => None,
            v => match v.to_value() {
                Value::Array(_) | Value::Object(_) => None,
                v => Some(eq_value(&v, literal, meta)),
            },
        }
    }

    /// Backend record → SCIM resource.
    pub fn to_scim<J: Json>(
        &self,
        record: &J,
        etag: Option<&str>,
        base_url: &str,
        with_members: bool,
    ) -> Value {
        self.to_scim_where(record, etag, base_url, with_members, None)
    }

    /// [`Self::to_scim`] with only the top-level attributes `wanted` names
    /// (all with `None`; ASCII case-insensitively, as filters name them),
    /// `id` always, `meta` and `schemas` when wanted: what a filter over
    /// those attributes needs to be evaluated, built without the rest.
    /// Attributes whose own name is a URN are always kept (they could take
    /// an extension's place).
    /// `schemas` lists the extensions of the attributes kept.
    pub fn to_scim_where<J: Json>(
        &self,
        record: &J,
        etag: Option<&str>,
        base_url: &str,
        with_members: bool,
        wanted: Option<&[&str]>,
    ) -> Value {
        let wanted = |name: &str| {
            wanted.is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
        };
        let mut out = Map::new();
        let id = self.id_of(record).unwrap_or_default();
        out.insert("id".into(), Value::String(id.clone()));
        for (i, a) in self.attributes.iter().enumerate() {
            if a.mutability == Mutability::WriteOnly
                || !(a.target.name.starts_with("urn:") || wanted(&a.target.name))
            {
                continue;
            }
            if Some(i) == self.members_attr {
                if with_members {
                    if let Some(m) = self.read_members(a, record, base_url) {
                        out.insert(a.target.name.clone(), m);
                    }
                }
                continue;
            }
            if a.multiple {
                for v in a.read_all(record) {
                    a.target.push_elem(&mut out, v);
                }
                continue;
            }
            if let Some(v) = a.read_value(record) {
                match (&a.reference, v) {
                    (Some(endpoint), Value::String(id)) => {
                        let whole = ScimTarget {
                            sub: None,
                            ..a.target.clone()
                        };
                        let mut m = Map::with_capacity(2);
                        m.insert(
                            "$ref".into(),
                            Value::String(resource_url(base_url, endpoint, &id)),
                        );
                        m.insert("value".into(), Value::String(id));
                        whole.place(&mut out, Value::Object(m));
                    }
                    (_, v) => a.target.place(&mut out, v),
                }
            }
        }
        if wanted("active") && self.is_soft_deleted(record) {
            out.insert("active".into(), Value::Bool(false));
        }
        if wanted("meta") {
            let mut meta = Map::new();
            meta.insert("resourceType".into(), Value::String(self.name.clone()));
            if let Some((f, fmt)) = &self.created {
                if let Some(t) = f.get(record).and_then(|v| timestamp_to_scim(v, *fmt)) {
                    meta.insert("created".into(), Value::String(t.into_owned()));
                }
            }
            if let Some((f, fmt)) = &self.last_modified {
                if let Some(t) = f.get(record).and_then(|v| timestamp_to_scim(v, *fmt)) {
                    meta.insert("lastModified".into(), Value::String(t.into_owned()));
                }
            }
            meta.insert(
                "location".into(),
                Value::String(resource_url(base_url, &self.endpoint, &id)),
            );
            if let Some(v) = self.version_of(record, etag) {
                meta.insert("version".into(), Value::String(weak_etag(&v)));
            }
            out.insert("meta".into(), Value::Object(meta));
        }
        if wanted("schemas") {
            // The core schema, then the extensions `out` has a value for.
            let mut schemas = vec![Value::String(self.schema.clone())];
            for ext in &self.extensions {
                if out.contains_key(ext) {
                    schemas.push(Value::String(ext.clone()));
                }
            }
            out.insert("schemas".into(), Value::Array(schemas));
        }
        Value::Object(out)
    }

    pub(super) fn read_members<J: Json>(
        &self,
        a: &AttrPlan,
        record: &J,
        base_url: &str,
    ) -> Option<Value> {
        let mp = a.members.as_ref()?;
        let arr = match a.read.as_ref()? {
            ReadSource::Expr(e) => e.first(record)?.elements()?,
            ReadSource::Template(_) => return None,
        };
        let mut out = Vec::with_capacity(arr.len());
        for el in arr {
            if let Some(id) = mp.id_of(el) {
                let mut m = Map::with_capacity(3);
                m.insert(
                    "$ref".into(),
                    Value::String(resource_url(base_url, &mp.resource, &id)),
                );
                m.insert("type".into(), Value::String(mp.member_type.clone()));
                m.insert("value".into(), Value::String(id));
                out.push(Value::Object(m));
            }
        }
        Some(Value::Array(out))
    }

    /// SCIM resource → backend record. `base` is the record just read (replace)
    /// so fields the mapping does not cover are sent back unchanged.
    pub fn to_backend(
        &self,
        scim: &Value,
        base: Option<&Value>,
        mode: WriteMode,
    ) -> Result<Value, ScimError> {
        self.to_backend_opts(scim, base, mode, true)
    }

    /// As [`Self::to_backend`]; with `members == false` the member list of
    /// `base` is kept untouched (membership is changed through its own calls).
    pub fn to_backend_opts(
        &self,
        scim: &Value,
        base: Option<&Value>,
        mode: WriteMode,
        members: bool,
    ) -> Result<Value, ScimError> {
        self.write_fields(scim, base, mode, members, None)
    }

    /// The record an update writes when a client changed the SCIM view
    /// `before` (read from `base`, the record just fetched) into `after`.
    ///
    /// Only attributes whose SCIM value differs between `before` and `after`
    /// are written; every other backend field is sent back exactly as the
    /// backend returned it. So a value the mapping cannot read (an enum value
    /// missing from `values`, an empty string, a shape it does not know) is
    /// carried through untouched, and a `default` is written only when the
    /// client removed the attribute.
    pub fn to_backend_update(
        &self,
        before: &Value,
        after: &Value,
        base: &Value,
        members: bool,
    ) -> Result<Value, ScimError> {
        self.write_fields(after, Some(base), WriteMode::Replace, members, Some(before))
    }

    /// Whether attribute `i` has the same SCIM value in both views (members:
    /// the same ids in the same order).
    fn unchanged(&self, i: usize, a: &AttrPlan, before: &Value, after: &Value) -> bool {
        if Some(i) == self.members_attr {
            return member_ids(before, &a.target.name) == member_ids(after, &a.target.name);
        }
        if a.multiple {
            return a.target.extract_all(before) == a.target.extract_all(after);
        }
        a.target.extract(before) == a.target.extract(after)
    }

    fn write_fields(
        &self,
        scim: &Value,
        base: Option<&Value>,
        mode: WriteMode,
        members: bool,
        before: Option<&Value>,
    ) -> Result<Value, ScimError> {
        if !scim.is_object() {
            return Err(ScimError::invalid_syntax(
                "the request body must be a JSON object",
            ));
        }
        let mut record = base.cloned().unwrap_or_else(|| Value::Object(Map::new()));
        for (i, a) in self.attributes.iter().enumerate() {
            let Some(field) = &a.write else { continue };
            if !members && Some(i) == self.members_attr {
                continue;
            }
            if before.is_some_and(|b| self.unchanged(i, a, b, scim)) {
                continue;
            }
            if a.multiple {
                self.write_multiple(a, field, scim, &mut record)?;
                continue;
            }
            let incoming = if Some(i) == self.members_attr {
                self.members_to_backend(a, scim, base.and_then(|b| field.get(b)))?
            } else {
                // `""` is how clients (Entra's null update among them) clear
                // an attribute: unassigned, like null, before any transform
                // or value map sees it (a backend refuses `""` where it
                // wants a code, a number or a date).
                a.target
                    .extract(scim)
                    .filter(|v| !is_empty_text(v))
                    .cloned()
            };
            // Unassigned on create, or left out by a PUT, or removed by a PATCH:
            // the mapping's default when it has one (a backend field that can
            // never be empty, such as a status), otherwise cleared below. On
            // an update, a field that has a default and holds a value keeps
            // it: a removal is no assertion, and `active: true` filled in
            // for a removed `active` would re-enable a disabled account.
            if incoming.is_none()
                && a.default.is_some()
                && base
                    .and_then(|b| field.get(b))
                    .is_some_and(|v| !v.is_null() && !is_empty_text(v))
            {
                continue;
            }
            let incoming = incoming.or_else(|| a.default.clone());
            if a.required && incoming.is_none() {
                return Err(ScimError::invalid_value(format!(
                    "attribute '{}' is required",
                    a.scim_text
                )));
            }
            if a.mutability == Mutability::ReadOnly {
                continue;
            }
            if a.mutability == Mutability::Immutable && mode == WriteMode::Replace {
                let current = base.and_then(|b| field.get(b)).filter(|v| !v.is_null());
                if let (Some(cur), Some(new)) = (current, &incoming) {
                    let new_backend = a.write_value(new)?;
                    if !loose_eq(cur, &new_backend) {
                        return Err(ScimError::bad_request(
                            "mutability",
                            format!("attribute '{}' is immutable", a.scim_text),
                        ));
                    }
                }
                if current.is_some() {
                    continue;
                }
            }
            match incoming {
                Some(v) => {
                    let bv = if Some(i) == self.members_attr {
                        v
                    } else {
                        a.write_value(&v)?
                    };
                    if bv.is_null() {
                        field.clear(&mut record);
                    } else {
                        field.set(&mut record, bv).map_err(|e| {
                            ScimError::new(
                                http::StatusCode::BAD_GATEWAY,
                                None,
                                format!("mapping: {e}"),
                            )
                        })?;
                    }
                }
                None => {
                    if mode == WriteMode::Replace {
                        field.clear(&mut record)
                    }
                }
            }
        }
        for c in &self.constants {
            if c.always || mode == WriteMode::Create {
                c.field.set(&mut record, c.value.clone()).ok();
            }
        }
        Ok(record)
    }

    /// A `multiple` attribute: the elements of its kind become exactly the
    /// client's values (checked `check`: readWrite, no default).
    fn write_multiple(
        &self,
        a: &AttrPlan,
        field: &FieldPath,
        scim: &Value,
        record: &mut Value,
    ) -> Result<(), ScimError> {
        let incoming = a.target.extract_all(scim);
        if a.required && incoming.is_empty() {
            return Err(ScimError::invalid_value(format!(
                "attribute '{}' is required",
                a.scim_text
            )));
        }
        if a.mutability == Mutability::ReadOnly {
            return Ok(());
        }
        let mut values = Vec::with_capacity(incoming.len());
        for v in incoming {
            let bv = a.write_value(v)?;
            if !bv.is_null() && !values.contains(&bv) {
                values.push(bv);
            }
        }
        field.set_all(record, values).map_err(|e| {
            ScimError::new(http::StatusCode::BAD_GATEWAY, None, format!("mapping: {e}"))
        })
    }

    /// The backend member list for the members the SCIM view holds. A member
    /// the backend list already holds (`current`, as read) keeps its element
    /// exactly as read, with whatever other fields it carries (a role, a
    /// date); only new members get a fresh element.
    pub(super) fn members_to_backend(
        &self,
        a: &AttrPlan,
        scim: &Value,
        current: Option<&Value>,
    ) -> Result<Option<Value>, ScimError> {
        let Some(mp) = &a.members else {
            return Ok(None);
        };
        let Some(v) = a.target.extract(scim) else {
            return Ok(None);
        };
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![v],
            _ => {
                return Err(ScimError::invalid_value(
                    "members must be an array of {\"value\": id}",
                ))
            }
        };
        let kept: std::collections::HashMap<String, &Value> = match current {
            Some(Value::Array(els)) => els
                .iter()
                .filter_map(|el| Some((mp.id_of(el)?, el)))
                .collect(),
            _ => Default::default(),
        };
        let mut out = Vec::with_capacity(items.len());
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for it in items {
            let id = member_value(it).ok_or_else(|| {
                ScimError::invalid_value(format!("member {} has no \"value\"", short(it)))
            })?;
            let el = mp
                .element(id)
                .ok_or_else(|| ScimError::invalid_value(format!("member '{id}' does not exist")))?;
            if seen.insert(id.to_string()) {
                out.push(match kept.get(id) {
                    Some(read) => (*read).clone(),
                    None => el,
                });
            }
        }
        Ok(Some(Value::Array(out)))
    }

    /// Unmapped top-level attributes of a client body (for strict mode and
    /// debug logs): of the core schema, and of each declared extension
    /// (named `<urn>:<name>`; enterprise `manager` is an attribute of its
    /// own, not a sub-attribute). A value that asserts nothing (`null`,
    /// `""`, `[]`, `{}`: Entra's create body carries `"roles": []`) is
    /// never one.
    pub fn unmapped_attributes(&self, scim: &Value) -> Vec<String> {
        let Some(obj) = scim.as_object() else {
            return Vec::new();
        };
        let mapped = |urn: Option<&str>, name: &str| {
            self.attributes.iter().any(|a| {
                a.target.name.eq_ignore_ascii_case(name)
                    && match (urn, a.target.urn.as_deref()) {
                        (Some(u), Some(t)) => u.eq_ignore_ascii_case(t),
                        (Some(_), None) => false,
                        // A core key: as before, any attribute of that name.
                        (None, _) => true,
                    }
            })
        };
        let mut out = Vec::new();
        for (k, v) in obj {
            if asserts_nothing(v)
                || ["schemas", "id", "meta"]
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(k))
            {
                continue;
            }
            if let Some(urn) = self.extensions.iter().find(|e| e.eq_ignore_ascii_case(k)) {
                if let Value::Object(ext) = v {
                    out.extend(
                        ext.iter()
                            .filter(|(n, x)| !asserts_nothing(x) && !mapped(Some(urn), n))
                            .map(|(n, _)| format!("{urn}:{n}")),
                    );
                }
                continue;
            }
            if !mapped(None, k) {
                out.push(k.clone());
            }
        }
        out
    }

    pub(super) fn schema_def(&self, urn: Option<&str>) -> Option<&SchemaDef> {
        match urn {
            None => self.schemas.first(),
            Some(u) => self.schemas.iter().find(|s| s.urn.eq_ignore_ascii_case(u)),
        }
    }
}

/// The top-level attribute names `filter` compares, in order.
fn filter_names<'f>(filter: &'f Filter, out: &mut Vec<&'f str>) {
    match filter {
        Filter::Present(p) | Filter::Compare(p, _, _) | Filter::ValuePath(p, _) => {
            out.push(&p.name)
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            filter_names(a, out);
            filter_names(b, out);
        }
        Filter::Not(a) => filter_names(a, out),
    }
}

/// A value that asserts nothing: `null`, `""`, `[]` or `{}`.
fn asserts_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `""`: the empty string SCIM clients send to clear a value.
fn is_empty_text(v: &Value) -> bool {
    v.as_str().is_some_and(str::is_empty)
}

/// Member ids of a SCIM resource's `members` (or any multi-valued reference list).
pub fn member_ids(scim: &Value, attr: &str) -> Vec<String> {
    match get_ci(scim, attr) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(member_value)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// `value` of a member object (or a bare id string).
pub use crate::scim::patch::member_value;
