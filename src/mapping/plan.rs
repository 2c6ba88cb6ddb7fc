//! The compiled, executable mapping: what [`super::compile`] produces and the
//! request path uses. Nothing here parses text at request time.

use crate::mapping::fieldpath::FieldPath;
use crate::mapping::model::{IdKind, TimeFormat, UpdateStyle};
use crate::mapping::transform::{timestamp_to_scim, Transform};
use crate::scim::attr::{AttrKind, AttrMeta, SchemaInfo};
use crate::scim::error::ScimError;
use http::{HeaderName, HeaderValue, Method};
use jsonpath_rust::parser::model::JpQuery;
use regex::Regex;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Every resource type the bridge serves, by endpoint.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub resources: Vec<Arc<ResourcePlan>>,
    /// Non-fatal findings of `check` (likely mistakes).
    pub warnings: Vec<String>,
}

impl Plan {
    /// Finds the resource type serving `/Users` (case-insensitive, as SCIM endpoints are by convention).
    pub fn by_endpoint(&self, segment: &str) -> Option<&Arc<ResourcePlan>> {
        self.resources
            .iter()
            .find(|r| r.endpoint[1..].eq_ignore_ascii_case(segment))
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<ResourcePlan>> {
        self.resources.iter().find(|r| r.name == name)
    }
}

/// A read expression: direct field access when the JSONPath was a plain path.
#[derive(Debug)]
pub enum ReadExpr {
    Field(FieldPath),
    Root,
    JsonPath(Box<JpQuery>),
}

impl ReadExpr {
    /// First value the expression selects.
    pub fn first<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        match self {
            ReadExpr::Field(p) => p.get(v),
            ReadExpr::Root => Some(v),
            ReadExpr::JsonPath(q) => jsonpath_rust::query::js_path_process(q, v)
                .ok()?
                .into_iter()
                .next()
                .map(|r| r.val()),
        }
    }
}

impl ReadExpr {
    /// Like [`Self::first`], but moves the value out of an owned document
    /// instead of copying it (a backend answer holding a large member list is
    /// then never held twice).
    pub fn take(&self, mut v: Value) -> Option<Value> {
        match self {
            ReadExpr::Root => Some(v),
            ReadExpr::Field(p) => p.get_mut(&mut v).map(Value::take),
            ReadExpr::JsonPath(_) => self.first(&v).cloned(),
        }
    }
}

/// `$.data[*]`-style expressions selecting the records of a list answer.
#[derive(Debug)]
pub enum ItemsExpr {
    /// A field holding an array (`$.data[*]`, `$.items`).
    ArrayField(ReadExpr),
    JsonPath(Box<JpQuery>),
}

impl ItemsExpr {
    pub fn select<'a>(&self, v: &'a Value) -> Vec<&'a Value> {
        match self {
            ItemsExpr::ArrayField(e) => match e.first(v) {
                Some(Value::Array(a)) => a.iter().collect(),
                _ => Vec::new(),
            },
            ItemsExpr::JsonPath(q) => jsonpath_rust::query::js_path_process(q, v)
                .map(|refs| refs.into_iter().map(|r| r.val()).collect())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
pub enum TemplatePart {
    Lit(String),
    Field(FieldPath),
}

/// `{firstName} {lastName}`: parsed once; rendering joins the parts, collapses
/// blanks left by missing fields and yields nothing when all are missing.
#[derive(Debug)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

impl Template {
    pub fn render(&self, record: &Value) -> Option<String> {
        let mut out = String::new();
        let mut any = false;
        for part in &self.parts {
            match part {
                TemplatePart::Lit(s) => out.push_str(s),
                TemplatePart::Field(p) => match p.get(record) {
                    Some(Value::String(s)) if !s.is_empty() => {
                        any = true;
                        out.push_str(s)
                    }
                    Some(Value::Number(n)) => {
                        any = true;
                        out.push_str(&n.to_string())
                    }
                    _ => {}
                },
            }
        }
        if !any {
            return None;
        }
        let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
        (!collapsed.is_empty()).then_some(collapsed)
    }
}

/// Where an attribute lives in a SCIM resource.
#[derive(Debug, Clone)]
pub struct ScimTarget {
    /// Extension URN (canonical), `None` for the core schema.
    pub urn: Option<String>,
    pub name: String,
    /// `[type eq "work"]`: the element of a multi-valued attribute it maps.
    pub selector: Vec<(String, Value)>,
    pub sub: Option<String>,
}

impl ScimTarget {
    pub fn container<'a>(&self, scim: &'a Value) -> Option<&'a Value> {
        match &self.urn {
            None => Some(scim),
            Some(u) => get_ci(scim, u),
        }
    }

    /// The client's value for this attribute, `None` when absent (or null).
    pub fn extract<'a>(&self, scim: &'a Value) -> Option<&'a Value> {
        let v = get_ci(self.container(scim)?, &self.name)?;
        let v = if self.selector.is_empty() {
            match &self.sub {
                Some(s) => get_ci(v, s)?,
                None => v,
            }
        } else {
            let el = match v {
                Value::Array(a) => self.pick(a)?,
                Value::Object(_) if self.selects(v) => v,
                _ => return None,
            };
            match &self.sub {
                Some(s) => get_ci(el, s)?,
                None => el,
            }
        };
        (!v.is_null()).then_some(v)
    }

    /// The element the backend field takes when several carry the selector:
    /// an `add` to `emails` appends a second work email next to the stored
    /// one, and a client may list two. The backend holds one, so the one
    /// marked primary wins, else the last listed (the newest after an add).
    /// Elements without a value for the mapped sub-attribute are skipped.
    fn pick<'a>(&self, elems: &'a [Value]) -> Option<&'a Value> {
        let with_value = |e: &&Value| match &self.sub {
            Some(s) => get_ci(e, s).is_some_and(|v| !v.is_null()),
            None => true,
        };
        let hits: Vec<&Value> = elems
            .iter()
            .filter(|e| self.selects(e))
            .filter(with_value)
            .collect();
        let primary = |e: &&&Value| is_primary(e);
        hits.iter()
            .rev()
            .find(primary)
            .or_else(|| hits.last())
            .copied()
    }

    fn selects(&self, el: &Value) -> bool {
        self.selector
            .iter()
            .all(|(k, want)| get_ci(el, k).is_some_and(|got| loose_eq(got, want)))
    }

    /// Puts a value read from the backend at this attribute's place.
    pub fn place(&self, scim: &mut Map<String, Value>, v: Value) {
        let container = match &self.urn {
            None => scim,
            Some(u) => match scim
                .entry(u.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                Value::Object(m) => m,
                _ => return,
            },
        };
        if self.selector.is_empty() {
            match &self.sub {
                None => {
                    container.insert(self.name.clone(), v);
                }
                Some(sub) => {
                    if let Value::Object(m) = container
                        .entry(self.name.clone())
                        .or_insert_with(|| Value::Object(Map::new()))
                    {
                        m.insert(sub.clone(), v);
                    }
                }
            }
            return;
        }
        let Value::Array(arr) = container
            .entry(self.name.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
        else {
            return;
        };
        let pos = match arr.iter().position(|e| self.selects(e)) {
            Some(p) => p,
            None => {
                let mut el = Map::new();
                for (k, sv) in &self.selector {
                    el.insert(k.clone(), sv.clone());
                }
                arr.push(Value::Object(el));
                arr.len() - 1
            }
        };
        if let (Some(sub), Value::Object(el)) = (&self.sub, &mut arr[pos]) {
            el.insert(sub.clone(), v);
        }
    }
}

/// `primary: true` (or Entra's `"True"`) on a multi-valued element.
fn is_primary(el: &Value) -> bool {
    match get_ci(el, "primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Case-insensitive key lookup (SCIM attribute names are case-insensitive).
pub fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let m = v.as_object()?;
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Equality for selector values and value maps: strings case-insensitively.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

/// Text key of a scalar for value maps (`true`, `ACTIVE`, `3`).
pub fn scalar_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    WriteOnly,
    Immutable,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::WriteOnly => "writeOnly",
            Mutability::Immutable => "immutable",
        }
    }
}

/// How group members are stored in a backend array.
#[derive(Debug, Clone)]
pub struct MembersPlan {
    pub id_type: IdKind,
    /// `[{"uuid": …}]` when set, plain ids otherwise.
    pub key: Option<String>,
    /// Endpoint of the member resource type (for `$ref`).
    pub resource: String,
}

impl MembersPlan {
    /// Backend array element → SCIM member id.
    pub fn id_of(&self, el: &Value) -> Option<String> {
        let v = match &self.key {
            Some(k) => el.get(k)?,
            None => el,
        };
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// SCIM member id → backend array element; `None` when the id cannot be valid.
    pub fn element(&self, id: &str) -> Option<Value> {
        let v = match self.id_type {
            IdKind::Integer => Value::from(id.parse::<u64>().ok()?),
            IdKind::String => Value::String(id.to_string()),
        };
        Some(match &self.key {
            Some(k) => {
                let mut m = Map::new();
                m.insert(k.clone(), v);
                Value::Object(m)
            }
            None => v,
        })
    }
}

#[derive(Debug)]
pub struct AttrPlan {
    /// The `scim:` text as written in the mapping (for messages).
    pub scim_text: String,
    pub target: ScimTarget,
    pub kind: AttrKind,
    pub read: Option<ReadSource>,
    pub write: Option<FieldPath>,
    pub mutability: Mutability,
    pub required: bool,
    pub uniqueness: &'static str,
    pub case_exact: bool,
    /// SCIM key → backend value.
    pub values: Vec<(String, Value)>,
    /// Advertised in `/Schemas` as `canonicalValues` (explicit, or the keys of `values`).
    pub canonical_values: Vec<String>,
    pub transforms: Vec<Transform>,
    pub default: Option<Value>,
    pub description: Option<String>,
    pub members: Option<MembersPlan>,
}

#[derive(Debug)]
pub enum ReadSource {
    Expr(ReadExpr),
    Template(Template),
}

impl AttrPlan {
    /// Backend record → SCIM value (`None` when absent or unmappable).
    pub fn read_value(&self, record: &Value) -> Option<Value> {
        let raw = match self.read.as_ref()? {
            ReadSource::Expr(e) => e.first(record)?.clone(),
            ReadSource::Template(t) => return t.render(record).map(Value::String),
        };
        if raw.is_null() {
            return None;
        }
        let mut v = if self.values.is_empty() {
            raw
        } else {
            let (k, _) = self.values.iter().find(|(_, b)| loose_eq(b, &raw))?;
            Value::String(k.clone())
        };
        for t in self.transforms.iter().rev() {
            v = t.read(v);
        }
        let v = crate::scim::patch::coerce(v, self.kind);
        match (&v, self.kind) {
            (Value::String(s), AttrKind::String) if s.is_empty() => None,
            _ => Some(v),
        }
    }

    /// SCIM value → backend value, checking the SCIM type first.
    pub fn write_value(&self, v: &Value) -> Result<Value, ScimError> {
        let v = crate::scim::patch::coerce(v.clone(), self.kind);
        let ok = match self.kind {
            AttrKind::Boolean => v.is_boolean(),
            AttrKind::Integer => v.is_i64() || v.is_u64(),
            AttrKind::Decimal => v.is_number(),
            AttrKind::Complex => v.is_object() || v.is_array(),
            _ => v.is_string(),
        };
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "attribute '{}' must be of type {:?}, got {}",
                self.scim_text,
                self.kind,
                short(&v)
            )));
        }
        let mut v = v;
        for t in &self.transforms {
            v = t.write(v).map_err(|e| {
                ScimError::invalid_value(format!("attribute '{}': {e}", self.scim_text))
            })?;
        }
        if self.values.is_empty() || v.is_null() {
            return Ok(v);
        }
        let key = scalar_key(&v).unwrap_or_default();
        self.values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, b)| b.clone())
            .ok_or_else(|| {
                let allowed: Vec<&str> = self.values.iter().map(|(k, _)| k.as_str()).collect();
                ScimError::invalid_value(format!(
                    "attribute '{}': value {} is not one of {}",
                    self.scim_text,
                    short(&v),
                    allowed.join(", ")
                ))
            })
    }

    pub fn writable(&self) -> bool {
        self.write.is_some() && self.mutability != Mutability::ReadOnly
    }
}

/// A value for messages: JSON, cut short.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

#[derive(Debug)]
pub enum PathPart {
    Lit(String),
    Id,
    Member,
}

/// One backend call, compiled.
#[derive(Debug)]
pub struct OpPlan {
    /// `get`, `create`, … (metrics and logs).
    pub name: &'static str,
    pub method: Method,
    pub path: Vec<PathPart>,
    /// Literal query pairs, already percent-encoded.
    pub query: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub content_type: HeaderValue,
    pub wrap: Option<String>,
    pub item: ReadExpr,
    pub omit: Vec<FieldPath>,
    /// Membership body template (`{"userId": "{member}"}`).
    pub body: Option<Value>,
}

#[derive(Debug, Clone)]
pub enum Paging {
    Page {
        page_param: String,
        size_param: String,
        max: usize,
    },
    Offset {
        offset_param: String,
        limit_param: String,
        max: usize,
    },
}

impl Paging {
    pub fn max(&self) -> usize {
        match self {
            Paging::Page { max, .. } | Paging::Offset { max, .. } => *max,
        }
    }
}

#[derive(Debug)]
pub struct ListPlan {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub items: ItemsExpr,
    pub total: ReadExpr,
    pub paging: Paging,
}

#[derive(Debug)]
pub struct Operations {
    pub list: ListPlan,
    pub get: OpPlan,
    pub create: Option<OpPlan>,
    pub replace: Option<OpPlan>,
    pub patch: Option<OpPlan>,
    pub delete: Option<OpPlan>,
    pub add_member: Option<OpPlan>,
    pub remove_member: Option<OpPlan>,
}

#[derive(Debug)]
pub struct PushdownPlan {
    /// Index into `ResourcePlan::attributes`, or `None` for `externalId`-less special cases.
    pub attr: usize,
    pub param: String,
}

#[derive(Debug)]
pub struct ConstantPlan {
    pub field: FieldPath,
    pub value: Value,
    pub always: bool,
}

/// The backend connection a resource type talks to.
#[derive(Debug)]
pub struct BackendPlan {
    /// `scheme://host:port` plus an optional path prefix, without trailing slash.
    pub base_url: String,
    /// Auth and static headers; values marked sensitive so they never print.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    pub errors: ErrorPlan,
    /// A one-line description without secrets (for `check`).
    pub auth_summary: String,
}

#[derive(Debug)]
pub struct ErrorPlan {
    pub code: Option<ReadExpr>,
    pub message: Option<ReadExpr>,
    pub fields: Option<ReadExpr>,
    pub rules: Vec<ErrorRulePlan>,
}

#[derive(Debug)]
pub struct ErrorRulePlan {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub scim_status: http::StatusCode,
    pub scim_type: Option<&'static str>,
}

/// One SCIM attribute as `/Schemas` describes it.
#[derive(Debug, Clone)]
pub struct SchemaAttr {
    pub name: String,
    pub kind: AttrKind,
    pub multi_valued: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub required: bool,
    pub uniqueness: &'static str,
    pub description: Option<String>,
    pub canonical_values: Vec<String>,
    pub reference_types: Vec<String>,
    pub subs: Vec<SchemaAttr>,
}

#[derive(Debug, Clone)]
pub struct SchemaDef {
    pub urn: String,
    pub name: String,
    pub description: String,
    pub attrs: Vec<SchemaAttr>,
}

#[derive(Debug)]
pub struct IdPlan {
    pub field: FieldPath,
    pub kind: IdKind,
    pub pattern: Option<Regex>,
}

#[derive(Debug)]
pub struct VersionPlan {
    pub field: Option<FieldPath>,
    pub etag: bool,
}

#[derive(Debug)]
pub struct ResourcePlan {
    pub name: String,
    /// `/Users`.
    pub endpoint: String,
    pub schema: String,
    pub extensions: Vec<String>,
    pub description: String,
    pub strict: bool,
    pub backend: Arc<BackendPlan>,
    pub id: IdPlan,
    pub version: Option<VersionPlan>,
    pub created: Option<(FieldPath, TimeFormat)>,
    pub last_modified: Option<(FieldPath, TimeFormat)>,
    pub update: UpdateStyle,
    pub conflict_status: u16,
    pub conflict_code: Option<String>,
    pub ops: Operations,
    pub filters: Vec<PushdownPlan>,
    pub attributes: Vec<AttrPlan>,
    pub constants: Vec<ConstantPlan>,
    pub scan_limit: usize,
    /// Core schema first, then extensions.
    pub schemas: Vec<SchemaDef>,
    /// Index of the `members` attribute, for groups.
    pub members_attr: Option<usize>,
    /// The mapping file this came from (for messages).
    pub file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Replace,
}

impl ResourcePlan {
    /// Validates a SCIM id before any backend call: `None` means "cannot exist" (404).
    pub fn check_id<'a>(&self, id: &'a str) -> Option<&'a str> {
        if id.is_empty() || id.len() > 512 {
            return None;
        }
        if let Some(re) = &self.id.pattern {
            if !re.is_match(id) {
                return None;
            }
        }
        if self.id.kind == IdKind::Integer && id.parse::<u64>().is_err() {
            return None;
        }
        Some(id)
    }

    /// The SCIM id of a backend record.
    pub fn id_of(&self, record: &Value) -> Option<String> {
        match self.id.field.get(record)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The backend version of a record (body field or ETag), unquoted.
    pub fn version_of(&self, record: &Value, etag: Option<&str>) -> Option<String> {
        let vp = self.version.as_ref()?;
        if vp.etag {
            return etag.map(|e| unquote_etag(e).to_string());
        }
        match vp.field.as_ref()?.get(record)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Backend record → SCIM resource.
    pub fn to_scim(
        &self,
        record: &Value,
        etag: Option<&str>,
        base_url: &str,
        with_members: bool,
    ) -> Value {
        let mut out = Map::new();
        let mut schemas = vec![Value::String(self.schema.clone())];
        let id = self.id_of(record).unwrap_or_default();
        out.insert("id".into(), Value::String(id.clone()));
        for (i, a) in self.attributes.iter().enumerate() {
            if a.mutability == Mutability::WriteOnly {
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
            if let Some(v) = a.read_value(record) {
                a.target.place(&mut out, v);
            }
        }
        for ext in &self.extensions {
            if out.contains_key(ext) {
                schemas.push(Value::String(ext.clone()));
            }
        }
        let mut meta = Map::new();
        meta.insert("resourceType".into(), Value::String(self.name.clone()));
        if let Some((f, fmt)) = &self.created {
            if let Some(t) = f.get(record).and_then(|v| timestamp_to_scim(v, *fmt)) {
                meta.insert("created".into(), Value::String(t));
            }
        }
        if let Some((f, fmt)) = &self.last_modified {
            if let Some(t) = f.get(record).and_then(|v| timestamp_to_scim(v, *fmt)) {
                meta.insert("lastModified".into(), Value::String(t));
            }
        }
        meta.insert(
            "location".into(),
            Value::String(format!(
                "{base_url}{}/{}",
                self.endpoint,
                encode_segment(&id)
            )),
        );
        if let Some(v) = self.version_of(record, etag) {
            meta.insert("version".into(), Value::String(weak_etag(&v)));
        }
        out.insert("meta".into(), Value::Object(meta));
        out.insert("schemas".into(), Value::Array(schemas));
        Value::Object(out)
    }

    fn read_members(&self, a: &AttrPlan, record: &Value, base_url: &str) -> Option<Value> {
        let mp = a.members.as_ref()?;
        let arr = match a.read.as_ref()? {
            ReadSource::Expr(e) => e.first(record)?.as_array()?,
            ReadSource::Template(_) => return None,
        };
        let mut out = Vec::with_capacity(arr.len());
        for el in arr {
            if let Some(id) = mp.id_of(el) {
                let mut m = Map::with_capacity(3);
                m.insert(
                    "$ref".into(),
                    Value::String(format!("{base_url}{}/{}", mp.resource, encode_segment(&id))),
                );
                m.insert("type".into(), Value::String("User".into()));
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
            let incoming = if Some(i) == self.members_attr {
                self.members_to_backend(a, scim)?
            } else {
                a.target.extract(scim).cloned()
            };
            // Unassigned on create, or left out by a PUT, or removed by a PATCH:
            // the mapping's default when it has one (a backend field that can
            // never be empty, such as a status), otherwise cleared below.
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

    fn members_to_backend(&self, a: &AttrPlan, scim: &Value) -> Result<Option<Value>, ScimError> {
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
                out.push(el);
            }
        }
        Ok(Some(Value::Array(out)))
    }

    /// Unmapped top-level attributes of a client body (for strict mode and debug logs).
    pub fn unmapped_attributes(&self, scim: &Value) -> Vec<String> {
        let Some(obj) = scim.as_object() else {
            return Vec::new();
        };
        obj.keys()
            .filter(|k| {
                let k = k.as_str();
                !["schemas", "id", "meta"]
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(k))
                    && !self.extensions.iter().any(|e| e.eq_ignore_ascii_case(k))
                    && !self
                        .attributes
                        .iter()
                        .any(|a| a.target.name.eq_ignore_ascii_case(k))
            })
            .cloned()
            .collect()
    }

    fn schema_def(&self, urn: Option<&str>) -> Option<&SchemaDef> {
        match urn {
            None => self.schemas.first(),
            Some(u) => self.schemas.iter().find(|s| s.urn.eq_ignore_ascii_case(u)),
        }
    }
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
pub fn member_value(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(_) => get_ci(v, "value")?.as_str(),
        _ => None,
    }
}

const COMMON: &[(&str, AttrKind, bool)] = &[
    ("id", AttrKind::String, true),
    ("externalId", AttrKind::String, true),
];

const META_SUBS: &[(&str, AttrKind)] = &[
    ("resourceType", AttrKind::String),
    ("created", AttrKind::DateTime),
    ("lastModified", AttrKind::DateTime),
    ("location", AttrKind::Reference),
    ("version", AttrKind::String),
];

impl SchemaInfo for ResourcePlan {
    fn core_schema(&self) -> &str {
        &self.schema
    }

    fn extension(&self, urn: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|e| e.eq_ignore_ascii_case(urn))
            .map(String::as_str)
    }

    fn attribute(&self, urn: Option<&str>, name: &str, sub: Option<&str>) -> Option<AttrMeta<'_>> {
        let urn = urn.filter(|u| !u.eq_ignore_ascii_case(&self.schema));
        if urn.is_none() {
            if name.eq_ignore_ascii_case("meta") {
                let sub = sub?;
                let (n, k) = META_SUBS
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(sub))?;
                return Some(AttrMeta {
                    name: n,
                    kind: *k,
                    multi_valued: false,
                    case_exact: false,
                });
            }
            if let Some((n, k, ce)) = COMMON.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name)) {
                if sub.is_none() {
                    let ce = if *n == "externalId" {
                        self.attributes
                            .iter()
                            .find(|a| a.target.name == "externalId")
                            .map(|a| a.case_exact)
                            .unwrap_or(*ce)
                    } else {
                        *ce
                    };
                    return Some(AttrMeta {
                        name: n,
                        kind: *k,
                        multi_valued: false,
                        case_exact: ce,
                    });
                }
            }
        }
        let def = self.schema_def(urn)?;
        let top = def
            .attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))?;
        let a = match sub {
            None => top,
            Some(s) => top.subs.iter().find(|a| a.name.eq_ignore_ascii_case(s))?,
        };
        Some(AttrMeta {
            name: &a.name,
            kind: a.kind,
            multi_valued: sub.is_none() && a.multi_valued,
            case_exact: a.case_exact,
        })
    }
}

/// `W/"3"`.
pub fn weak_etag(v: &str) -> String {
    format!("W/\"{v}\"")
}

/// `W/"3"` / `"3"` / `3` → `3`.
pub fn unquote_etag(e: &str) -> &str {
    let e = e.trim();
    let e = e.strip_prefix("W/").unwrap_or(e);
    e.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(e)
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn encode_segment(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEG: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, SEG).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAPPING: &str = r#"
version: 1
backend: { base_url: "http://127.0.0.1:1" }
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    id: { field: id }
    operations:
      list: { path: /u, items: "$.data[*]", total: "$.total", paging: { style: offset, max_page_size: 10 } }
      get: { path: "/u/{id}" }
      create: { path: /u }
      replace: { path: "/u/{id}" }
    attributes:
      - { scim: userName, field: login, required: true }
      - { scim: active, field: status, type: boolean, values: { "true": ACTIVE, "false": DISABLED }, default: true }
      - { scim: displayName, field: displayName }
"#;

    fn user_plan() -> ResourcePlan {
        crate::mapping::compile::compile_text("t.yaml", MAPPING, None, &None)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn replace_sets_defaults_of_left_out_attributes_and_clears_the_rest() {
        let res = user_plan();
        let current =
            json!({"id": 1, "login": "a", "status": "DISABLED", "displayName": "D", "role": "x"});
        let new = res
            .to_backend(
                &json!({"userName": "a"}),
                Some(&current),
                WriteMode::Replace,
            )
            .unwrap();
        assert_eq!(
            new,
            json!({"id": 1, "login": "a", "status": "ACTIVE", "displayName": null, "role": "x"})
        );
        let created = res
            .to_backend(&json!({"userName": "a"}), None, WriteMode::Create)
            .unwrap();
        assert_eq!(created, json!({"login": "a", "status": "ACTIVE"}));
    }

    fn work_email() -> ScimTarget {
        ScimTarget {
            urn: None,
            name: "emails".into(),
            selector: vec![("type".into(), json!("work"))],
            sub: Some("value".into()),
        }
    }

    #[test]
    fn extract_prefers_the_primary_then_the_newest_selected_element() {
        let t = work_email();
        let appended = json!({"emails": [
            {"type": "work", "value": "old@x"},
            {"type": "home", "value": "home@x"},
            {"type": "work", "value": "new@x"}
        ]});
        assert_eq!(t.extract(&appended), Some(&json!("new@x")));
        let primary = json!({"emails": [
            {"type": "work", "value": "a@x", "primary": "True"},
            {"type": "work", "value": "b@x"}
        ]});
        assert_eq!(t.extract(&primary), Some(&json!("a@x")));
        let single = json!({"emails": [{"type": "Work", "value": "only@x"}]});
        assert_eq!(t.extract(&single), Some(&json!("only@x")));
        assert_eq!(
            t.extract(&json!({"emails": [{"type": "home", "value": "h"}]})),
            None
        );
    }
}
