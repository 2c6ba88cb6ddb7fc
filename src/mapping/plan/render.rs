//! The cheap render path: a SCIM resource as a tree that borrows its keys
//! from the plan and its values from the backend record, written straight
//! to JSON bytes.
//!
//! [`ResourcePlan::to_scim`] stays the reference (and the `Value` the PATCH
//! engine, filters and projections work on); [`ResourcePlan::write_scim`]
//! yields the same bytes for a resource (objects keep `serde_json`'s sorted
//! key order), without building, projecting and dropping a `Value` tree: no
//! allocated keys, no copied values, only converted values are owned. The
//! merge rules are `to_scim`'s (see [`ScimTarget::place`] and
//! [`ScimTarget::push_elem`]); the property tests in `render_tests.rs` hold
//! both paths to the same output.

use super::*;
use crate::mapping::record::{Json, Raw};
use crate::mapping::transform::timestamp_to_scim;
use crate::scim::attr::AttrKind;
use crate::scim::query::Projection;
use std::borrow::Cow;

/// What [`ResourcePlan::write_scim`] writes a record with.
pub(super) struct Rendering<'a> {
    pub etag: Option<&'a str>,
    pub base_url: &'a str,
    pub with_members: bool,
    pub projection: &'a Projection,
}

/// A record's value as a rendered node: borrowed where it can be.
pub trait AsNode: Json {
    /// Whether [`Self::plain_text`] can answer (without it, the layout's
    /// shortcut for such strings is not taken).
    const PLAIN_TEXT: bool = false;
    fn as_node(&self) -> Node<'_>;
    /// A string with nothing to escape in JSON, when the value is one
    /// known as such without a look at its bytes (a [`Raw`] string read
    /// without an escape); `None` for anything else.
    fn plain_text(&self) -> Option<&str> {
        None
    }
}

impl AsNode for Value {
    fn as_node(&self) -> Node<'_> {
        Node::Ref(self)
    }
}

/// Strings and booleans are borrowed; other values are converted (a number
/// costs no allocation; an array or object, rare as one attribute's value,
/// becomes the `Value` the tree knows how to merge into).
impl AsNode for Raw<'_> {
    const PLAIN_TEXT: bool = true;
    fn as_node(&self) -> Node<'_> {
        match self {
            // Borrowed from the answer's text: the reader stopped at every
            // quote, backslash and control character, so there is nothing
            // in it to escape.
            Raw::Str(s) => Node::Plain(s),
            Raw::Unescaped(s) => Node::Text(Cow::Borrowed(s)),
            Raw::Bool(b) => Node::Bool(*b),
            other => Node::Val(other.to_value()),
        }
    }
    fn plain_text(&self) -> Option<&str> {
        match self {
            Raw::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One JSON value of a rendered resource.
#[derive(Debug)]
pub enum Node<'a> {
    /// A value as the backend record holds it.
    Ref(&'a Value),
    /// A value converted on the way (value map, transform, coercion).
    Val(Value),
    Text(Cow<'a, str>),
    /// Text with nothing to escape in JSON (no `"`, `\\` or control
    /// character): a string a backend answer held without an escape.
    Plain(&'a str),
    Bool(bool),
    Obj(Obj<'a>),
    Arr(Vec<Node<'a>>),
}

/// A JSON object: pairs kept sorted by key, as in `serde_json::Map` (a
/// `BTreeMap`), so the bytes come out in the same order; inserting an
/// existing key replaces its value.
#[derive(Debug, Default)]
pub struct Obj<'a>(Vec<(Cow<'a, str>, Node<'a>)>);

impl<'a> Obj<'a> {
    fn with_capacity(n: usize) -> Self {
        Obj(Vec::with_capacity(n))
    }

    fn slot(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, v: Node<'a>) {
        let key = key.into();
        match self.slot(&key) {
            Ok(i) => self.0[i].1 = v,
            Err(i) => self.0.insert(i, (key, v)),
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.slot(key).is_ok()
    }

    /// The value at `key`, made with `make` first when absent.
    fn entry_or(&mut self, key: &'a str, make: impl FnOnce() -> Node<'a>) -> &mut Node<'a> {
        let i = match self.slot(key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (Cow::Borrowed(key), make()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Index of the key naming `name`: exact first, then ASCII
    /// case-insensitive (as [`crate::scim::json::find_key`]).
    fn find_ci(&self, name: &str) -> Option<usize> {
        self.slot(name).ok().or_else(|| {
            self.0
                .iter()
                .position(|(k, _)| k.eq_ignore_ascii_case(name))
        })
    }

    fn get_ci(&self, name: &str) -> Option<&Node<'a>> {
        self.find_ci(name).map(|i| &self.0[i].1)
    }
}

impl<'a> Node<'a> {
    fn obj() -> Self {
        Node::Obj(Obj::default())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Ref(Value::String(s)) | Node::Val(Value::String(s)) => Some(s),
            Node::Text(t) => Some(t),
            Node::Plain(t) => Some(t),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value` (tests, and the rare
    /// comparison of a whole object).
    pub fn to_value(&self) -> Value {
        match self {
            Node::Ref(v) => (*v).clone(),
            Node::Val(v) => v.clone(),
            Node::Text(t) => Value::String(t.to_string()),
            Node::Plain(t) => Value::String(t.to_string()),
            Node::Bool(b) => Value::Bool(*b),
            Node::Obj(o) => Value::Object(
                o.0.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
            Node::Arr(a) => Value::Array(a.iter().map(Node::to_value).collect()),
        }
    }

    /// [`loose_eq`] against a plan value.
    fn loose_eq(&self, want: &Value) -> bool {
        match self {
            Node::Ref(v) => loose_eq(v, want),
            Node::Val(v) => loose_eq(v, want),
            Node::Text(t) => want.as_str().is_some_and(|w| t.eq_ignore_ascii_case(w)),
            Node::Plain(t) => want.as_str().is_some_and(|w| t.eq_ignore_ascii_case(w)),
            Node::Bool(b) => want.as_bool() == Some(*b),
            Node::Obj(_) | Node::Arr(_) => loose_eq(&self.to_value(), want),
        }
    }

    /// This node as an object to add to: a JSON object from the record (or
    /// converted) becomes an [`Obj`] first, as `to_scim` adds to its copy.
    fn as_obj_mut(&mut self) -> Option<&mut Obj<'a>> {
        match self {
            Node::Ref(r) => {
                let r: &'a Value = r;
                if let Value::Object(m) = r {
                    *self = Node::Obj(Obj(m
                        .iter()
                        .map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::Ref(v)))
                        .collect()));
                }
            }
            Node::Val(Value::Object(m)) => {
                let m = std::mem::take(m);
                *self = Node::Obj(Obj(m
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Node::Val(v)))
                    .collect()));
            }
            _ => {}
        }
        match self {
            Node::Obj(o) => Some(o),
            _ => None,
        }
    }

    /// As [`Self::as_obj_mut`], for arrays.
    fn as_arr_mut(&mut self) -> Option<&mut Vec<Node<'a>>> {
        match self {
            Node::Ref(r) => {
                let r: &'a Value = r;
                if let Value::Array(a) = r {
                    *self = Node::Arr(a.iter().map(Node::Ref).collect());
                }
            }
            Node::Val(Value::Array(a)) => {
                let a = std::mem::take(a);
                *self = Node::Arr(a.into_iter().map(Node::Val).collect());
            }
            _ => {}
        }
        match self {
            Node::Arr(a) => Some(a),
            _ => None,
        }
    }
}

impl Node<'_> {
    /// Appends this value as JSON: the bytes `serde_json` writes for
    /// [`Self::to_value`] (compact, object keys as ordered here).
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Node::Ref(v) => write_value(v, out),
            Node::Val(v) => write_value(v, out),
            Node::Text(t) => write_str(t, out),
            Node::Plain(t) => {
                debug_assert!(!t.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
                write_plain(t, out);
            }
            Node::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Node::Obj(o) => {
                out.push(b'{');
                for (i, (k, v)) in o.0.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
            Node::Arr(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write(out);
                }
                out.push(b']');
            }
        }
    }
}

/// A `Value` as `serde_json` writes it, strings through [`write_str`].
fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_value(x, out);
            }
            out.push(b'}');
        }
        // Writing to a `Vec` cannot fail.
        Value::Number(n) => serde_json::to_writer(&mut *out, n).unwrap_or_default(),
    }
}

/// Whether `s` holds nothing JSON escapes in a string (no control
/// character, quote or backslash).
pub(super) fn is_plain(s: &str) -> bool {
    crate::scim::json::plain_run(s.as_bytes()) == s.len()
}

/// A JSON string. Text `serde_json` would not escape (no control
/// character, quote or backslash: the common case) is copied as it is;
/// anything else is escaped by `serde_json` itself.
pub(super) fn write_str(s: &str, out: &mut Vec<u8>) {
    if !is_plain(s) {
        serde_json::to_writer(&mut *out, s).unwrap_or_default();
        return;
    }
    write_plain(s, out);
}

/// `s`, known to hold nothing to escape ([`is_plain`]), as a JSON string.
pub(super) fn write_plain(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

impl AttrPlan {
    /// [`Self::read_value`]'s conversion of one backend value, borrowing it
    /// when no value map, transform or coercion changes it.
    fn scim_node<'a, J: AsNode>(&'a self, raw: &'a J) -> Option<Node<'a>> {
        if raw.is_null_value() {
            return None;
        }
        // Transforms that read every value back as it is (`language_only`,
        // `lowercase`, …) change nothing here.
        let read_as_is = self.transforms_read_as_is();
        if read_as_is && !self.values.is_empty() {
            // The SCIM key of the backend value, as `scim_of` coerces it.
            let (k, _) = self.values.iter().find(|(_, b)| loose_eq(b, raw))?;
            match self.kind {
                AttrKind::Boolean => {
                    return Some(match k.trim() {
                        t if t.eq_ignore_ascii_case("true") => Node::Bool(true),
                        t if t.eq_ignore_ascii_case("false") => Node::Bool(false),
                        _ => Node::Text(Cow::Borrowed(k)),
                    })
                }
                AttrKind::String if k.is_empty() => return None,
                AttrKind::Integer | AttrKind::Decimal => {}
                _ => return Some(Node::Text(Cow::Borrowed(k))),
            }
        }
        let coerced = matches!(
            self.kind,
            AttrKind::Boolean | AttrKind::Integer | AttrKind::Decimal
        ) && (raw.text().is_some() || raw.elements().is_some());
        if self.values.is_empty() && read_as_is && !coerced {
            if self.kind == AttrKind::String && raw.text() == Some("") {
                return None;
            }
            return Some(raw.as_node());
        }
        self.scim_of(raw.to_value()).map(Node::Val)
    }

    /// Whether [`Self::scim_node`] hands a string the record holds on
    /// unchanged: a string attribute, no value map, no transform that
    /// changes what it reads (the layout writes such strings straight).
    pub(super) fn hands_strings_on(&self) -> bool {
        self.kind == AttrKind::String && self.values.is_empty() && self.transforms_read_as_is()
    }

    /// Whether every transform reads values back as they are.
    fn transforms_read_as_is(&self) -> bool {
        self.transforms.iter().all(|t| t.reads_as_is())
    }
}

impl ScimTarget {
    /// [`Self::container_mut`] on a rendered tree.
    fn node_container<'a, 'o>(&'a self, out: &'o mut Obj<'a>) -> Option<&'o mut Obj<'a>> {
        match &self.urn {
            None => Some(out),
            Some(u) => out.entry_or(u, Node::obj).as_obj_mut(),
        }
    }

    fn node_elements<'a, 'o>(&'a self, c: &'o mut Obj<'a>) -> Option<&'o mut Vec<Node<'a>>> {
        c.entry_or(&self.name, || Node::Arr(Vec::new()))
            .as_arr_mut()
    }

    /// A new element carrying the selector.
    fn selector_elem<'a>(&'a self) -> Obj<'a> {
        let mut el = Obj::with_capacity(self.selector.len() + 1);
        for (k, sv) in &self.selector {
            el.insert(k.as_str(), Node::Ref(sv));
        }
        el
    }

    fn node_selects(&self, el: &Node<'_>) -> bool {
        match el {
            Node::Obj(o) => self
                .selector
                .iter()
                .all(|(k, want)| o.get_ci(k).is_some_and(|got| got.loose_eq(want))),
            Node::Ref(v) => self.selects(v),
            Node::Val(v) => self.selects(v),
            _ => false,
        }
    }

    /// [`Self::push_elem`] on a rendered tree.
    fn push_node<'a>(&'a self, out: &mut Obj<'a>, v: Node<'a>) {
        let Some(arr) = self.node_container(out).and_then(|c| self.node_elements(c)) else {
            return;
        };
        let mut el = self.selector_elem();
        if let Some(sub) = &self.sub {
            el.insert(sub.as_str(), v);
        }
        arr.push(Node::Obj(el));
    }

    /// [`Self::place`] on a rendered tree; `whole` places at the attribute
    /// itself, ignoring `sub` (a reference's `{"$ref", "value"}`).
    fn place_node<'a>(&'a self, out: &mut Obj<'a>, v: Node<'a>, whole: bool) {
        let sub = if whole { None } else { self.sub.as_deref() };
        let Some(c) = self.node_container(out) else {
            return;
        };
        if self.selector.is_empty() {
            match sub {
                None => c.insert(self.name.as_str(), v),
                Some(sub) => {
                    if let Some(m) = c.entry_or(&self.name, Node::obj).as_obj_mut() {
                        m.insert(sub, v);
                    }
                }
            }
            return;
        }
        let Some(arr) = self.node_elements(c) else {
            return;
        };
        let pos = match arr.iter().position(|e| self.node_selects(e)) {
            Some(p) => p,
            None => {
                arr.push(Node::Obj(self.selector_elem()));
                arr.len() - 1
            }
        };
        if let (Some(sub), Some(el)) = (sub, arr[pos].as_obj_mut()) {
            el.insert(sub, v);
        }
    }
}

impl ResourcePlan {
    /// [`Self::to_scim`] as a borrowed tree.
    pub fn render<'a, J: AsNode>(
        &'a self,
        record: &'a J,
        etag: Option<&'a str>,
        base_url: &str,
        with_members: bool,
    ) -> Node<'a> {
        let mut out = Obj::with_capacity(self.attributes.len() + 4);
        let id = id_text(self.id.field.get(record)).unwrap_or_default();
        let meta_members = self.meta_members(record, etag, base_url, &id);
        out.insert("id", Node::Text(id));
        for (i, a) in self.attributes.iter().enumerate() {
            if a.mutability == Mutability::WriteOnly {
                continue;
            }
            if Some(i) == self.members_attr {
                if with_members {
                    if let Some(m) = self.members_node(a, record, base_url) {
                        out.insert(a.target.name.as_str(), m);
                    }
                }
                continue;
            }
            if a.multiple {
                for v in a.read_all(record) {
                    a.target.push_node(&mut out, Node::Val(v));
                }
                continue;
            }
            if let Some((v, whole)) = self.attr_value(a, record, base_url) {
                a.target.place_node(&mut out, v, whole);
            }
        }
        if self.is_soft_deleted(record) {
            out.insert("active", Node::Bool(false));
        }
        let mut schemas = Vec::with_capacity(1 + self.extensions.len());
        schemas.push(Node::Text(Cow::Borrowed(&self.schema)));
        for ext in &self.extensions {
            if out.contains_key(ext) {
                schemas.push(Node::Text(Cow::Borrowed(ext)));
            }
        }
        let mut meta = Obj::with_capacity(5);
        for (key, v) in meta_members {
            if let Some(v) = v {
                meta.insert(key, Node::Text(v));
            }
        }
        out.insert("meta", Node::Obj(meta));
        out.insert("schemas", Node::Arr(schemas));
        Node::Obj(out)
    }

    /// `meta`'s members in key order, as written: `created` and
    /// `lastModified` where the record has them, `location`,
    /// `resourceType`, and `version` where there is one.
    pub(super) fn meta_members<'a, J: Json>(
        &'a self,
        record: &'a J,
        etag: Option<&'a str>,
        base_url: &str,
        id: &str,
    ) -> [(&'static str, Option<Cow<'a, str>>); 5] {
        [
            ("created", self.meta_time(&self.created, record)),
            ("lastModified", self.meta_time(&self.last_modified, record)),
            (
                "location",
                Some(resource_url(base_url, &self.endpoint, id).into()),
            ),
            ("resourceType", Some(Cow::Borrowed(&self.name))),
            (
                "version",
                self.version_text(record, etag)
                    .map(|v| weak_etag(&v).into()),
            ),
        ]
    }

    /// A `meta` timestamp (`created`, `last_modified`) of `record`, in
    /// SCIM's form.
    pub(super) fn meta_time<'a, J: Json>(
        &self,
        t: &Option<(FieldPath, TimeFormat)>,
        record: &'a J,
    ) -> Option<Cow<'a, str>> {
        let (f, fmt) = t.as_ref()?;
        timestamp_to_scim(f.get(record)?, *fmt)
    }

    /// A single-valued attribute's value in the resource; `true` with a
    /// reference's `{"$ref", "value"}`, which is placed at the attribute
    /// itself.
    pub(super) fn attr_value<'a, J: AsNode>(
        &'a self,
        a: &'a AttrPlan,
        record: &'a J,
        base_url: &str,
    ) -> Option<(Node<'a>, bool)> {
        let v = match a.read.as_ref()? {
            ReadSource::Expr(e) => a.scim_node(e.first(record)?)?,
            ReadSource::Template(t) => Node::Text(t.render(record)?.into()),
        };
        let Some(endpoint) = &a.reference else {
            return Some((v, false));
        };
        let Some(id) = v.as_str() else {
            return Some((v, false));
        };
        let mut m = Obj::with_capacity(2);
        m.insert(
            "$ref",
            Node::Text(resource_url(base_url, endpoint, id).into()),
        );
        m.insert("value", v);
        Some((Node::Obj(m), true))
    }

    /// [`Self::attr_value`]'s value.
    pub(super) fn attr_node<'a, J: AsNode>(
        &'a self,
        a: &'a AttrPlan,
        record: &'a J,
        base_url: &str,
    ) -> Option<Node<'a>> {
        self.attr_value(a, record, base_url).map(|(v, _)| v)
    }

    /// [`Self::read_members`] as a tree.
    pub(super) fn members_node<'a, J: Json>(
        &'a self,
        a: &'a AttrPlan,
        record: &'a J,
        base_url: &str,
    ) -> Option<Node<'a>> {
        let mp = a.members.as_ref()?;
        let arr = match a.read.as_ref()? {
            ReadSource::Expr(e) => e.first(record)?.elements()?,
            ReadSource::Template(_) => return None,
        };
        let mut out = Vec::with_capacity(arr.len());
        for el in arr {
            let v = match &mp.key {
                Some(k) => el.member(k),
                None => Some(el),
            };
            let Some(id) = id_text(v) else { continue };
            let mut m = Obj::with_capacity(3);
            m.insert(
                "$ref",
                Node::Text(resource_url(base_url, &mp.resource, &id).into()),
            );
            m.insert("type", Node::Text(Cow::Borrowed(&mp.member_type)));
            m.insert("value", Node::Text(id));
            out.push(Node::Obj(m));
        }
        Some(Node::Arr(out))
    }

    /// Appends the resource `to_scim` + `projection.apply` would give, as
    /// JSON, to `out`. `false` (nothing written) for a projection the tree
    /// does not apply: only none, or `excludedAttributes` naming top-level
    /// core attributes (`members`, as Entra asks for groups), are.
    pub fn write_scim<J: AsNode>(
        &self,
        record: &J,
        etag: Option<&str>,
        base_url: &str,
        with_members: bool,
        projection: &Projection,
        out: &mut Vec<u8>,
    ) -> bool {
        if !tree_projects(projection, &self.schema) {
            return false;
        }
        let r = Rendering {
            etag,
            base_url,
            with_members,
            projection,
        };
        match &self.layout {
            Some(l) => l.write(self, record, &r, out),
            None => self.write_tree(record, &r, out),
        }
        true
    }

    /// [`Self::write_scim`] through a tree ([`Self::render`]).
    pub(super) fn write_tree<J: AsNode>(&self, record: &J, r: &Rendering, out: &mut Vec<u8>) {
        let mut node = self.render(record, r.etag, r.base_url, r.with_members);
        if let Node::Obj(obj) = &mut node {
            for p in &r.projection.excluded {
                // `tree_projects`: no URN, or the core schema's.
                if ["id", "schemas"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(&p.name))
                {
                    continue;
                }
                if let Some(i) = obj.find_ci(&p.name) {
                    obj.0.remove(i);
                }
            }
        }
        node.write(out);
    }
}

impl ResourcePlan {
    /// Whether a record `op` answers can be read as a [`Raw`] and written
    /// with `projection` straight from it: every read a field path or a
    /// template (JSONPath queries read `Value`s), no `reference.display`
    /// (it fills names into a `Value`), and a projection
    /// [`Self::write_scim`] applies itself.
    pub fn renders_raw(&self, op: &OpPlan, projection: &Projection) -> bool {
        by_fields(&op.item)
            && tree_projects(projection, &self.schema)
            && self.reads_by_fields()
            && !self.attributes.iter().any(|a| a.reference_display)
    }

    /// Whether the records of a list answer can be read as [`Raw`]s: the
    /// records and the total are found by field paths, and every
    /// attribute is read by one (or a template).
    pub fn lists_raw(&self) -> bool {
        let list = &self.ops.list;
        matches!(&list.items, ItemsExpr::ArrayField(e) if by_fields(e))
            && by_fields(&list.total)
            && self.reads_by_fields()
    }

    fn reads_by_fields(&self) -> bool {
        self.attributes.iter().all(|a| match &a.read {
            Some(ReadSource::Expr(e)) => by_fields(e),
            _ => true,
        })
    }
}

/// Not a JSONPath query (which reads `Value`s only).
fn by_fields(e: &ReadExpr) -> bool {
    !matches!(e, ReadExpr::JsonPath(_))
}

/// Whether [`ResourcePlan::write_scim`] applies `p` itself: no
/// `attributes`, and each excluded path a top-level attribute of the core
/// schema (the cases `Projection::apply`'s `remove_path` handles by removing
/// one top-level key, `id` and `schemas` kept).
fn tree_projects(p: &Projection, core: &str) -> bool {
    p.attributes.is_empty()
        && p.excluded.iter().all(|x| {
            x.sub.is_none()
                && match &x.urn {
                    None => !x.name.starts_with("urn:"),
                    Some(u) => u.eq_ignore_ascii_case(core),
                }
        })
}
