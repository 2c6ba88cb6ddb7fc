//! The direct render compiled once per resource type: where each
//! attribute lands in the SCIM resource, in the order its keys are written.
//!
//! [`ResourcePlan::render`] builds a tree per resource (an [`Obj`] per
//! object, each value inserted in key order) and writes it. A [`Layout`]
//! knows the keys and how the attributes nest at load, so a resource is
//! written straight from the record: the keys as pre-written bytes, each
//! container written and taken back when nothing in it has a value. The
//! bytes are the tree's (the property tests in `render_tests.rs` hold all
//! three paths to `to_scim`'s bytes). A mapping whose shape the layout does
//! not express (`multiple`, nested selectors, names that collide) has
//! none, and keeps the tree.

use super::render::{is_plain, write_plain, write_str, Rendering};
use super::*;
use std::collections::BTreeMap;

/// A resource type's output, keys in the order they are written.
#[derive(Debug)]
pub struct Layout {
    top: Vec<Entry>,
    /// For each of the plan's extensions, its container among `top`.
    extensions: Vec<Option<usize>>,
    /// The plan's names every resource repeats, as JSON strings: the
    /// schema, each extension's URN, the resource type.
    schema: Vec<u8>,
    extension_urns: Vec<Vec<u8>>,
    resource_type: Vec<u8>,
    /// Whether the endpoint holds nothing to escape ([`is_plain`]).
    plain_endpoint: bool,
}

#[derive(Debug)]
struct Entry {
    key: String,
    /// `"key":`, as JSON.
    head: Vec<u8>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Id,
    Meta,
    Schemas,
    Members(usize),
    /// Attributes placed at the key: the last one with a value counts.
    /// `soft_active`: `false` for a soft-deleted record (`active`).
    /// `as_is`: one attribute, a string read as it is ([`read_as_is`]).
    Leaf {
        attrs: Vec<usize>,
        soft_active: bool,
        as_is: bool,
    },
    /// A constant: a selector's value in its element, as JSON.
    Const(Vec<u8>),
    /// A reference, the only attribute at its key: `{"$ref", "value"}`
    /// for an id, else the value (as `{"sub": value}` with a `sub`).
    Reference {
        attr: usize,
        sub: Option<Vec<u8>>,
    },
    /// An object of entries (a complex attribute, an extension).
    Object(Vec<Entry>),
    /// The elements selectors pick, each written when one of its
    /// attributes has a value, in the order of the first such attribute.
    Selected(Vec<Group>),
}

#[derive(Debug)]
struct Group {
    /// The element's keys: the selector's and the sub-attributes'.
    entries: Vec<Entry>,
    /// The attributes of the element, in mapping order.
    attrs: Vec<usize>,
}

/// The layout being compiled: objects as key-ordered maps.
enum Draft {
    Members(usize),
    Reference(usize, Option<String>),
    Leaf(Vec<usize>),
    Object(BTreeMap<String, Draft>),
    /// The selector's key; per selector value, its sub-attributes.
    Selected(String, Vec<(Value, BTreeMap<String, Draft>)>),
}

/// A constant's JSON, written once at load.
fn constant(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    Node::Ref(v).write(&mut out);
    out
}

/// Not expressible: the tree renders this mapping.
struct Unfit;

fn slot<'m>(
    map: &'m mut BTreeMap<String, Draft>,
    key: &str,
    make: impl FnOnce() -> Draft,
) -> &'m mut Draft {
    map.entry(key.to_string()).or_insert_with(make)
}

fn leaf(map: &mut BTreeMap<String, Draft>, key: &str, i: usize) -> Result<(), Unfit> {
    match slot(map, key, || Draft::Leaf(Vec::new())) {
        Draft::Leaf(attrs) => {
            attrs.push(i);
            Ok(())
        }
        _ => Err(Unfit),
    }
}

fn object<'m>(
    map: &'m mut BTreeMap<String, Draft>,
    key: &str,
) -> Result<&'m mut BTreeMap<String, Draft>, Unfit> {
    match slot(map, key, || Draft::Object(BTreeMap::new())) {
        Draft::Object(m) => Ok(m),
        _ => Err(Unfit),
    }
}

/// `s` as a JSON string.
fn json_str(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_str(s, &mut out);
    out
}

fn head(key: &str) -> Vec<u8> {
    let mut h = json_str(key);
    h.push(b':');
    h
}

/// Whether attribute `a` (a leaf: never a reference) takes the record's
/// value as it is: read from a field, a string handed on unchanged.
fn read_as_is(a: &AttrPlan) -> bool {
    matches!(a.read, Some(ReadSource::Expr(_))) && a.hands_strings_on()
}

fn entries(map: BTreeMap<String, Draft>, soft_active: bool, plan: &ResourcePlan) -> Vec<Entry> {
    map.into_iter()
        .map(|(key, d)| {
            let kind = match d {
                Draft::Members(i) => Kind::Members(i),
                Draft::Reference(attr, sub) => Kind::Reference {
                    attr,
                    sub: sub.map(|s| head(&s)),
                },
                Draft::Leaf(attrs) => Kind::Leaf {
                    soft_active: soft_active && key == "active",
                    as_is: matches!(attrs[..], [i] if read_as_is(&plan.attributes[i])),
                    attrs,
                },
                Draft::Object(m) => Kind::Object(entries(m, false, plan)),
                Draft::Selected(k, groups) => Kind::Selected(
                    groups
                        .into_iter()
                        .map(|(v, subs)| {
                            let mut attrs: Vec<usize> = subs
                                .values()
                                .flat_map(|d| match d {
                                    Draft::Leaf(a) => a.clone(),
                                    _ => Vec::new(),
                                })
                                .collect();
                            attrs.sort_unstable();
                            let mut es = entries(subs, false, plan);
                            let at = es.partition_point(|e| e.key < k);
                            es.insert(
                                at,
                                Entry {
                                    head: head(&k),
                                    key: k.clone(),
                                    kind: Kind::Const(constant(&v)),
                                },
                            );
                            Group { entries: es, attrs }
                        })
                        .collect(),
                ),
            };
            Entry {
                head: head(&key),
                key,
                kind,
            }
        })
        .collect()
}

impl Layout {
    /// The layout of `plan`, or `None` when the tree must render it.
    pub fn compile(plan: &ResourcePlan) -> Option<Layout> {
        Self::draft(plan).ok()
    }

    fn draft(plan: &ResourcePlan) -> Result<Layout, Unfit> {
        let mut top: BTreeMap<String, Draft> = BTreeMap::new();
        for (i, a) in plan.attributes.iter().enumerate() {
            if a.mutability == Mutability::WriteOnly {
                continue;
            }
            if a.multiple {
                return Err(Unfit);
            }
            let t = &a.target;
            if Some(i) == plan.members_attr {
                if top.insert(t.name.clone(), Draft::Members(i)).is_some() {
                    return Err(Unfit);
                }
                continue;
            }
            let container = match &t.urn {
                None => &mut top,
                Some(u) => object(&mut top, u)?,
            };
            if a.reference.is_some() {
                let own = Draft::Reference(i, t.sub.clone());
                if !t.selector.is_empty() || container.insert(t.name.clone(), own).is_some() {
                    return Err(Unfit);
                }
                continue;
            }
            match (&t.selector[..], &t.sub) {
                ([], None) => leaf(container, &t.name, i)?,
                ([], Some(sub)) => leaf(object(container, &t.name)?, sub, i)?,
                ([(k, v)], Some(sub)) if !sub.eq_ignore_ascii_case(k) => {
                    let d = slot(container, &t.name, || {
                        Draft::Selected(k.clone(), Vec::new())
                    });
                    let Draft::Selected(key, groups) = d else {
                        return Err(Unfit);
                    };
                    if key != k {
                        return Err(Unfit);
                    }
                    let g = match groups.iter().position(|(gv, _)| gv == v) {
                        Some(g) => g,
                        // Elements the tree would take for one another.
                        None if groups.iter().any(|(gv, _)| loose_eq(gv, v)) => return Err(Unfit),
                        None => {
                            groups.push((v.clone(), BTreeMap::new()));
                            groups.len() - 1
                        }
                    };
                    leaf(&mut groups[g].1, sub, i)?;
                }
                _ => return Err(Unfit),
            }
        }
        let soft = plan.soft_delete.is_some();
        if soft {
            // A soft-deleted record is `active: false`, mapped or not.
            match slot(&mut top, "active", || Draft::Leaf(Vec::new())) {
                Draft::Leaf(_) => {}
                _ => return Err(Unfit),
            }
        }
        let mut seen: Vec<String> = Vec::new();
        for (key, d) in &top {
            let lower = key.to_ascii_lowercase();
            let is_object = matches!(d, Draft::Object(_));
            // `id`, `meta` and `schemas` are the layout's own; keys a
            // projection could name two ways; a URN that is not one of the
            // extensions' containers (the `schemas` list looks those up).
            if ["id", "meta", "schemas"].contains(&lower.as_str())
                || seen.contains(&lower)
                || (key.contains(':') && !(is_object && plan.extensions.contains(key)))
            {
                return Err(Unfit);
            }
            seen.push(lower);
        }
        let mut all = entries(top, soft, plan);
        for (key, kind) in [
            ("id", Kind::Id),
            ("meta", Kind::Meta),
            ("schemas", Kind::Schemas),
        ] {
            let at = all.partition_point(|e| e.key.as_str() < key);
            all.insert(
                at,
                Entry {
                    key: key.to_string(),
                    head: head(key),
                    kind,
                },
            );
        }
        let extensions = plan
            .extensions
            .iter()
            .map(|ext| all.iter().position(|e| e.key == *ext))
            .collect();
        Ok(Layout {
            top: all,
            extensions,
            schema: json_str(&plan.schema),
            extension_urns: plan.extensions.iter().map(|e| json_str(e)).collect(),
            resource_type: json_str(&plan.name),
            plain_endpoint: is_plain(&plan.endpoint),
        })
    }
}

/// What writing one resource needs.
struct Ctx<'a, J> {
    layout: &'a Layout,
    plan: &'a ResourcePlan,
    record: &'a J,
    r: &'a Rendering<'a>,
    id: Cow<'a, str>,
    soft_deleted: bool,
}

impl<J: AsNode> Ctx<'_, J> {
    /// The value of the last of `attrs` that has one.
    fn value(&self, attrs: &[usize]) -> Option<Node<'_>> {
        attrs.iter().rev().find_map(|&i| {
            self.plan
                .attr_node(&self.plan.attributes[i], self.record, self.r.base_url)
        })
    }

    /// Attribute `i` (one read as it is), written as [`Self::value`]
    /// would write it when the record holds no value for it or a string
    /// known to need no escaping ([`AsNode::plain_text`]): whether it has
    /// a value. `None` for anything else, which [`Self::value`] reads.
    fn as_is_text(&self, i: usize, out: &mut Vec<u8>) -> Option<bool> {
        let Some(ReadSource::Expr(e)) = &self.plan.attributes[i].read else {
            return None;
        };
        let Some(v) = e.first(self.record) else {
            return Some(false);
        };
        // `null` and an empty string are no value ([`AttrPlan::scim_node`]).
        if v.is_null_value() {
            return Some(false);
        }
        let s = v.plain_text()?;
        if s.is_empty() {
            return Some(false);
        }
        write_plain(s, out);
        Some(true)
    }

    /// Whether anything in `e` has a value.
    fn present(&self, e: &Entry) -> bool {
        match &e.kind {
            Kind::Leaf { attrs, .. } => self.value(attrs).is_some(),
            Kind::Reference { attr, .. } => self.value(&[*attr]).is_some(),
            Kind::Object(es) => es.iter().any(|e| self.present(e)),
            Kind::Selected(gs) => gs.iter().any(|g| self.value(&g.attrs).is_some()),
            _ => true,
        }
    }

    /// Writes the entries with a value, but those `skip` names, as an
    /// object's members; whether one of them came from the record (a
    /// selector's constant does not count).
    fn members(&self, es: &[Entry], skip: impl Fn(&Entry) -> bool, out: &mut Vec<u8>) -> bool {
        let mut any = false;
        let mut valued = false;
        for e in es.iter().filter(|e| !skip(e)) {
            let mark = out.len();
            if any {
                out.push(b',');
            }
            out.extend_from_slice(&e.head);
            if self.entry(e, out) {
                any = true;
                valued |= !matches!(e.kind, Kind::Const(_));
            } else {
                out.truncate(mark);
            }
        }
        valued
    }

    /// Writes the value of an entry; whether it has one.
    fn entry(&self, e: &Entry, out: &mut Vec<u8>) -> bool {
        let (plan, base_url) = (self.plan, self.r.base_url);
        match &e.kind {
            Kind::Id => write_str(&self.id, out),
            Kind::Meta => self.meta(out),
            Kind::Schemas => {
                let layout = self.layout;
                out.push(b'[');
                out.extend_from_slice(&layout.schema);
                for (urn, at) in layout.extension_urns.iter().zip(&layout.extensions) {
                    if at.is_some_and(|at| self.present(&layout.top[at])) {
                        out.push(b',');
                        out.extend_from_slice(urn);
                    }
                }
                out.push(b']');
            }
            Kind::Members(i) => {
                return self.r.with_members
                    && plan
                        .members_node(&plan.attributes[*i], self.record, base_url)
                        .map(|m| m.write(out))
                        .is_some()
            }
            Kind::Leaf {
                soft_active: true, ..
            } if self.soft_deleted => out.extend_from_slice(b"false"),
            Kind::Leaf { attrs, as_is, .. } => {
                if *as_is && J::PLAIN_TEXT {
                    if let Some(has) = self.as_is_text(attrs[0], out) {
                        return has;
                    }
                }
                match self.value(attrs) {
                    Some(v) => v.write(out),
                    None => return false,
                }
            }
            Kind::Const(v) => out.extend_from_slice(v),
            Kind::Reference { attr, sub } => {
                let a = &plan.attributes[*attr];
                match (plan.attr_value(a, self.record, base_url), sub) {
                    (None, _) => return false,
                    (Some((v, true)), _) | (Some((v, false)), None) => v.write(out),
                    (Some((v, false)), Some(sub)) => {
                        out.push(b'{');
                        out.extend_from_slice(sub);
                        v.write(out);
                        out.push(b'}');
                    }
                }
            }
            Kind::Object(es) => {
                out.push(b'{');
                let any = self.members(es, |_| false, out);
                out.push(b'}');
                return any;
            }
            Kind::Selected(groups) if groups.len() == 1 => {
                out.extend_from_slice(b"[{");
                let any = self.members(&groups[0].entries, |_| false, out);
                out.extend_from_slice(b"}]");
                return any;
            }
            Kind::Selected(groups) => {
                // Elements in the order their first valued attribute comes.
                let mut firsts: Vec<(usize, &Group)> = groups
                    .iter()
                    .filter_map(|g| {
                        let first = g.attrs.iter().find(|&&i| self.value(&[i]).is_some())?;
                        Some((*first, g))
                    })
                    .collect();
                if firsts.is_empty() {
                    return false;
                }
                firsts.sort_unstable_by_key(|(first, _)| *first);
                out.push(b'[');
                for (n, (_, g)) in firsts.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    out.push(b'{');
                    self.members(&g.entries, |_| false, out);
                    out.push(b'}');
                }
                out.push(b']');
            }
        }
        true
    }

    /// `meta`, as [`ResourcePlan::meta_members`] gives it, written without
    /// building its texts first: the location and the version straight
    /// into `out` when nothing in them needs escaping (always, but for a
    /// base URL, an endpoint or a version holding a quote, a backslash or
    /// a control character).
    fn meta(&self, out: &mut Vec<u8>) {
        let (plan, base_url) = (self.plan, self.r.base_url);
        out.push(b'{');
        if let Some(t) = plan.meta_time(&plan.created, self.record) {
            out.extend_from_slice(b"\"created\":");
            write_str(&t, out);
            out.push(b',');
        }
        if let Some(t) = plan.meta_time(&plan.last_modified, self.record) {
            out.extend_from_slice(b"\"lastModified\":");
            write_str(&t, out);
            out.push(b',');
        }
        out.extend_from_slice(b"\"location\":");
        if self.layout.plain_endpoint && is_plain(base_url) {
            // The id is percent-encoded: nothing in it to escape.
            out.push(b'"');
            push_resource_url(out, base_url, &plan.endpoint, &self.id);
            out.push(b'"');
        } else {
            write_str(&resource_url(base_url, &plan.endpoint, &self.id), out);
        }
        out.extend_from_slice(b",\"resourceType\":");
        out.extend_from_slice(&self.layout.resource_type);
        if let Some(v) = plan.version_text(self.record, self.r.etag) {
            out.extend_from_slice(b",\"version\":");
            if is_plain(&v) {
                out.extend_from_slice(b"\"W/\\\"");
                out.extend_from_slice(v.as_bytes());
                out.extend_from_slice(b"\\\"\"");
            } else {
                write_str(&weak_etag(&v), out);
            }
        }
        out.push(b'}');
    }
}

impl Layout {
    /// Appends the resource [`ResourcePlan::render`] writes, for a
    /// projection that excludes only top-level core attributes.
    pub(super) fn write<J: AsNode>(
        &self,
        plan: &ResourcePlan,
        record: &J,
        r: &Rendering,
        out: &mut Vec<u8>,
    ) {
        let cx = Ctx {
            layout: self,
            plan,
            record,
            r,
            id: id_text(plan.id.field.get(record)).unwrap_or_default(),
            soft_deleted: plan.is_soft_deleted(record),
        };
        // `id` and `schemas` are always returned.
        // The projection's list first: it is empty for most requests.
        let excluded = |e: &Entry| {
            r.projection
                .excluded
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&e.key))
                && !["id", "schemas"].contains(&e.key.as_str())
        };
        out.push(b'{');
        cx.members(&self.top, excluded, out);
        out.push(b'}');
    }
}
