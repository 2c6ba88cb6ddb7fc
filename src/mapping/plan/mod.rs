//! The compiled, executable mapping: what [`super::compile`] produces and the
//! request path uses. Nothing here parses text at request time.

use crate::mapping::fieldpath::FieldPath;
use crate::mapping::model::{IdKind, TimeFormat, UpdateStyle};
use crate::mapping::record::Json;
use http::{HeaderName, HeaderValue, Method};
use jsonpath_rust::parser::model::JpQuery;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

mod attr;
mod encode;
#[cfg(test)]
mod filter_tests;
mod id_pattern;
mod layout;
#[cfg(test)]
mod layout_tests;
mod references;
mod render;
#[cfg(test)]
mod render_tests;
mod schema_info;
#[cfg(test)]
mod tests;

/// The first resource type of a mapping text (the plan's unit tests).
#[cfg(test)]
fn compile_first(text: &str) -> ResourcePlan {
    crate::mapping::compile::compile_text("t.yaml", text, None, &None)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .remove(0)
}
mod translate;

/// Case-insensitive key lookup (SCIM attribute names are case-insensitive).
pub use crate::scim::json::get_ci;
pub use crate::scim::schema::{Mutability, SchemaAttr, SchemaDef};
pub use attr::{
    into_scalar_key, loose_eq, scalar_key, AttrPlan, MembersPlan, ReadSource, ScimTarget,
};
pub use encode::{encode_segment, push_encoded, AsciiSink};
pub use id_pattern::IdPattern;
pub use render::{AsNode, Node, Obj};
pub use translate::{member_ids, member_value};

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
    pub fn first<'a, J: Json>(&self, v: &'a J) -> Option<&'a J> {
        match self {
            ReadExpr::Field(p) => p.get(v),
            ReadExpr::Root => Some(v),
            ReadExpr::JsonPath(q) => v.query_first(q),
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

    /// What [`Self::take`] takes, borrowed from a document read as `J`.
    /// A JSONPath query selects nothing from a [`crate::mapping::record::Raw`]
    /// ([`ResourcePlan::lists_raw`] keeps such mappings on `Value`s).
    pub fn elements_in<'a, J: Json>(&self, doc: &'a J) -> Option<&'a [J]> {
        match self {
            ItemsExpr::ArrayField(e) => {
                let v = e.first(doc)?;
                if v.is_null_value() {
                    Some(&[])
                } else {
                    v.elements()
                }
            }
            ItemsExpr::JsonPath(_) => None,
        }
    }

    /// What [`Self::select`] selects, moved out of an owned answer instead
    /// of copied when the records are one array field (the usual case).
    /// `None` when the answer has no such array (the field is missing or
    /// holds something else): the mapping does not fit the backend, which
    /// must not pass for an empty page. `null` is an empty page.
    pub fn take(&self, v: &mut Value) -> Option<Vec<Value>> {
        let field = match self {
            ItemsExpr::ArrayField(ReadExpr::Root) => Some(v),
            ItemsExpr::ArrayField(ReadExpr::Field(p)) => p.get_mut(v),
            ItemsExpr::ArrayField(e @ ReadExpr::JsonPath(_)) => {
                return match e.first(v) {
                    Some(Value::Array(a)) => Some(a.clone()),
                    Some(Value::Null) => Some(Vec::new()),
                    _ => None,
                }
            }
            ItemsExpr::JsonPath(_) => return Some(self.select(v).into_iter().cloned().collect()),
        };
        match field {
            Some(Value::Array(a)) => Some(std::mem::take(a)),
            Some(Value::Null) => Some(Vec::new()),
            _ => None,
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
    pub fn render<J: Json>(&self, record: &J) -> Option<String> {
        // Room for a name or two at once: growing from nothing took two
        // reallocations for "First Last".
        let mut out = Collapsed {
            text: String::with_capacity(32),
            gap: false,
        };
        let mut any = false;
        for part in &self.parts {
            match part {
                TemplatePart::Lit(s) => out.push_str(s),
                TemplatePart::Field(p) => {
                    let Some(v) = p.get(record) else { continue };
                    if let Some(s) = v.text().filter(|s| !s.is_empty()) {
                        any = true;
                        out.push_str(s)
                    } else if let Some(n) = v.number() {
                        any = true;
                        out.push_str(&n.to_string())
                    }
                }
            }
        }
        (any && !out.text.is_empty()).then_some(out.text)
    }
}

/// Text with its whitespace collapsed as it is appended: what
/// `split_whitespace().join(" ")` gives for the whole, in one pass and
/// one allocation (words may span appended pieces).
#[derive(Default)]
struct Collapsed {
    text: String,
    /// Whitespace seen after the last word (a space before the next one).
    gap: bool,
}

impl Collapsed {
    fn push_str(&mut self, s: &str) {
        // One word (the common case: a field's value): no scan for spaces.
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) {
            if self.gap && !self.text.is_empty() {
                self.text.push(' ');
            }
            self.gap = false;
            self.text.push_str(s);
            return;
        }
        let mut rest = s;
        while !rest.is_empty() {
            let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if word_end > 0 {
                if self.gap && !self.text.is_empty() {
                    self.text.push(' ');
                }
                self.gap = false;
                self.text.push_str(&rest[..word_end]);
            }
            rest = &rest[word_end..];
            let space_end = rest
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len());
            if space_end > 0 {
                self.gap = true;
            }
            rest = &rest[space_end..];
        }
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
    /// `send_only`: the top-level fields a record body may carry (`None`: all).
    pub send_only: Option<Vec<String>>,
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
    /// The `Host` header for `base_url` (host, and the port when it is not
    /// the scheme's default), rendered once: the HTTP client would otherwise
    /// format it on every call.
    pub host: Option<HeaderValue>,
    /// `base_url` parsed once ([`UriBase::of`]); `None` when it does not
    /// parse, and each call's URL is then parsed whole (and refused).
    pub uri_base: Option<UriBase>,
    /// Auth and static headers; values marked sensitive so they never print.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    pub errors: ErrorPlan,
    /// A one-line description without secrets (for `check`).
    pub auth_summary: String,
}

/// A backend base URL's scheme and authority, parsed once, and its path
/// prefix: a call's URI is put together from them and the call's path and
/// query (parsed alone), the same URI as `base_url + path` parsed whole.
#[derive(Debug, Clone)]
pub struct UriBase {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// The path after the authority, without a trailing `/` (may be empty).
    pub prefix: String,
}

impl UriBase {
    /// `None` for a URL without a scheme or host, or with a query or
    /// fragment. Credentials (`user:password@`, refused by the settings'
    /// check) are left out of the authority: they are never sent.
    pub fn of(base_url: &str) -> Option<UriBase> {
        let uri: http::Uri = base_url.parse().ok()?;
        if uri.query().is_some() || base_url.contains('#') {
            return None;
        }
        let (_, rest) = base_url.split_once("://")?;
        let prefix = rest.find('/').map_or("", |at| &rest[at..]);
        let authority = uri.authority()?;
        let authority = match authority.as_str().rsplit_once('@') {
            Some((_, host_port)) => host_port.parse().ok()?,
            None => authority.clone(),
        };
        Some(UriBase {
            scheme: uri.scheme()?.clone(),
            authority,
            prefix: prefix.trim_end_matches('/').to_string(),
        })
    }

    /// The request target of `path_and_query` (starting with `/`) under
    /// this base: the prefix, then the path and query.
    pub fn target(&self, path_and_query: &str) -> String {
        let mut path = String::with_capacity(self.prefix.len() + path_and_query.len());
        path.push_str(&self.prefix);
        path.push_str(path_and_query);
        path
    }
}

/// The `Host` header an HTTP client sends for `uri`: the host, with the
/// port only when it is not the scheme's default.
pub fn host_header(uri: &http::Uri) -> Option<HeaderValue> {
    host_header_for(uri.scheme_str(), uri.host()?, uri.port_u16())
}

/// [`host_header`] of a URI's parts.
pub fn host_header_for(scheme: Option<&str>, host: &str, port: Option<u16>) -> Option<HeaderValue> {
    let default_port = match scheme {
        Some("https") => 443,
        _ => 80,
    };
    match port {
        Some(p) if p != default_port => HeaderValue::from_str(&format!("{host}:{p}")).ok(),
        _ => HeaderValue::from_str(host).ok(),
    }
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
    /// A membership call answered this way failed because the member is missing.
    pub member_not_found: bool,
}

impl ErrorRulePlan {
    /// Does a backend answer with `status` and error `code` match this rule?
    pub fn matches(&self, status: u16, code: Option<&str>) -> bool {
        self.status.is_none_or(|s| s == status)
            && match (&self.code, code) {
                (None, _) => true,
                (Some(want), Some(got)) => want == got,
                (Some(_), None) => false,
            }
    }
}

impl ErrorPlan {
    /// The first rule matching a backend answer (rules are checked in order).
    pub fn rule_for(&self, status: u16, code: Option<&str>) -> Option<&ErrorRulePlan> {
        self.rules.iter().find(|r| r.matches(status, code))
    }
}

#[derive(Debug)]
pub struct IdPlan {
    pub field: FieldPath,
    pub kind: IdKind,
    pub pattern: Option<IdPattern>,
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
    /// The backend status meaning "stale version"; `None`: the type has no
    /// version and no `conflict`, so no answer is taken for a conflict.
    pub conflict_status: Option<u16>,
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
    /// Soft delete (`lifecycle`), `None` for a hard delete.
    pub soft_delete: Option<SoftDeletePlan>,
    /// The direct render's layout (`layout::Layout`), where the mapping
    /// has one; set by [`Self::with_layout`].
    pub layout: Option<layout::Layout>,
    /// The top-level names an `eq` filter is checked on by their one
    /// attribute's value alone (the shortcut of [`Self::satisfies`]),
    /// found at load; set by [`Self::with_layout`].
    pub eq_targets: Vec<EqTarget>,
}

/// A top-level name whose `eq` filter compares one attribute's value.
#[derive(Debug)]
pub struct EqTarget {
    /// The attribute's name, as the mapping spells it.
    pub name: String,
    /// Its index in [`ResourcePlan::attributes`].
    pub attr: usize,
    /// What the schema says of it (`None`: nothing, it is untyped).
    pub schema: Option<EqSchema>,
}

/// The schema's facts an `eq` comparison reads (`AttrMeta` without its
/// borrowed name).
#[derive(Debug, Clone, Copy)]
pub struct EqSchema {
    pub kind: crate::scim::attr::AttrKind,
    pub multi_valued: bool,
    pub case_exact: bool,
}

#[derive(Debug)]
pub struct SoftDeletePlan {
    /// Backend fields written on `DELETE`.
    pub set: Vec<(FieldPath, Value)>,
    /// The dedicated call made on `DELETE` (before `set` is written).
    pub call: Option<OpPlan>,
    /// Values that mark a record soft-deleted (`deleted`, else `set`).
    pub marker: Vec<(FieldPath, Value)>,
    /// Restore call made before a write that sets `active: true`.
    pub restore_call: Option<OpPlan>,
    /// Fields written with such a write.
    pub restore_set: Vec<(FieldPath, Value)>,
    /// Query pairs that make the list operation leave soft-deleted records out.
    pub list_params: Vec<(String, String)>,
    /// Soft-deleted records are read as `active: false` (else 404).
    pub reads_inactive: bool,
}

/// An id that must never be put into a backend path: empty, or only dots
/// once percent-decoded (`.`, `..`, `%2E`, `%2e%2E`), which any hop that
/// normalises paths turns into a call on the collection or its parent.
pub fn is_dot_segment(id: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
    decoded.is_empty() || decoded.chars().all(|c| c == '.')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Replace,
}

impl ResourcePlan {
    /// The methods one resource (`/Users/{id}`) takes, for an `Allow`
    /// header: PUT needs the update operation; PATCH that, or membership
    /// calls (a members-only PATCH); DELETE a delete operation, or a
    /// lifecycle whose writes have the update operation to go through.
    pub fn allow_item(&self) -> &'static str {
        use crate::mapping::model::UpdateStyle;
        let update = match self.update {
            UpdateStyle::Replace => self.ops.replace.is_some(),
            UpdateStyle::MergePatch => self.ops.patch.is_some(),
        };
        let members = self.members_attr.is_some() && self.ops.add_member.is_some();
        let delete = self.ops.delete.is_some()
            || self
                .soft_delete
                .as_ref()
                .is_some_and(|sd| update || (sd.set.is_empty() && sd.call.is_some()));
        match (update, update || members, delete) {
            (true, _, true) => "GET, HEAD, PUT, PATCH, DELETE",
            (true, _, false) => "GET, HEAD, PUT, PATCH",
            (false, true, true) => "GET, HEAD, PATCH, DELETE",
            (false, true, false) => "GET, HEAD, PATCH",
            (false, false, true) => "GET, HEAD, DELETE",
            (false, false, false) => "GET, HEAD",
        }
    }

    /// The methods the collection (`/Users`) takes.
    pub fn allow_collection(&self) -> &'static str {
        if self.ops.create.is_some() {
            "GET, HEAD, POST"
        } else {
            "GET, HEAD"
        }
    }

    /// How the members attribute stores member ids (`None`: no members).
    pub fn members(&self) -> Option<&MembersPlan> {
        self.members_attr
            .and_then(|i| self.attributes[i].members.as_ref())
    }

    /// Validates a SCIM id before any backend call: `None` means "cannot exist" (404).
    /// Whatever the mapping says, an empty id or one made only of dots never
    /// reaches a backend path ([`is_dot_segment`]), and an integer id must fit
    /// a signed 64-bit integer.
    pub fn check_id<'a>(&self, id: &'a str) -> Option<&'a str> {
        if id.len() > 512 || is_dot_segment(id) {
            return None;
        }
        if let Some(re) = &self.id.pattern {
            if !re.is_match(id) {
                return None;
            }
        }
        if self.id.kind == IdKind::Integer && id.parse::<i64>().is_err() {
            return None;
        }
        Some(id)
    }

    /// Does the record hold every value a soft delete sets?
    pub fn is_soft_deleted<J: Json>(&self, record: &J) -> bool {
        self.soft_delete.as_ref().is_some_and(|sd| {
            sd.marker
                .iter()
                .all(|(f, v)| f.get(record).is_some_and(|got| got.same_as(v)))
        })
    }

    /// Hidden from reads: soft-deleted, and the mapping answers 404 for those.
    pub fn is_hidden<J: Json>(&self, record: &J) -> bool {
        self.soft_delete
            .as_ref()
            .is_some_and(|sd| !sd.reads_inactive)
            && self.is_soft_deleted(record)
    }

    /// Hidden records the backend's list cannot leave out itself: lists
    /// must scan to count honestly (`lifecycle` without `list_query`).
    pub fn lists_must_scan(&self) -> bool {
        self.soft_delete
            .as_ref()
            .is_some_and(|sd| !sd.reads_inactive && sd.list_params.is_empty())
    }

    /// Query pairs every list call carries (`lifecycle.list_query`).
    pub fn list_params(&self) -> &[(String, String)] {
        self.soft_delete
            .as_ref()
            .filter(|sd| !sd.reads_inactive)
            .map_or(&[], |sd| &sd.list_params[..])
    }

    /// The plan with its layout compiled, and its `eq` targets found.
    pub fn with_layout(mut self) -> Self {
        self.layout = layout::Layout::compile(&self);
        self.eq_targets = self.find_eq_targets();
        self
    }

    /// Whether a backend record has an id ([`Self::id_of`] without the copy).
    pub fn has_id<J: Json>(&self, record: &J) -> bool {
        id_text(self.id.field.get(record)).is_some()
    }

    /// The SCIM id of a backend record.
    pub fn id_of<J: Json>(&self, record: &J) -> Option<String> {
        id_text(self.id.field.get(record)).map(Cow::into_owned)
    }

    /// The backend version of a record (body field or ETag), unquoted.
    pub fn version_of<J: Json>(&self, record: &J, etag: Option<&str>) -> Option<String> {
        self.version_text(record, etag).map(Cow::into_owned)
    }

    /// [`Self::version_of`], borrowed where it can be.
    pub(super) fn version_text<'a, J: Json>(
        &self,
        record: &'a J,
        etag: Option<&'a str>,
    ) -> Option<Cow<'a, str>> {
        let vp = self.version.as_ref()?;
        if vp.etag {
            return etag.map(|e| Cow::Borrowed(unquote_etag(e)));
        }
        id_text(vp.field.as_ref()?.get(record))
    }
}

/// The text of an id-like backend value (an id, a version): a string as it
/// is, a number as its text; nothing for other values.
pub(super) fn id_text<J: Json>(v: Option<&J>) -> Option<Cow<'_, str>> {
    let v = v?;
    match v.text() {
        Some(s) => Some(Cow::Borrowed(s)),
        None => match v.number_text() {
            Some(t) => Some(Cow::Borrowed(t)),
            None => v.number().map(|n| Cow::Owned(number_text(n))),
        },
    }
}

/// `{base}{endpoint}/{id, percent-encoded}`: a resource's URL (`meta.location`,
/// a reference's or a member's `$ref`).
pub(super) fn resource_url(base_url: &str, endpoint: &str, id: &str) -> String {
    let mut s = String::with_capacity(base_url.len() + endpoint.len() + id.len() + 8);
    push_resource_url(&mut s, base_url, endpoint, id);
    s
}

/// [`resource_url`], appended to `out`.
pub(super) fn push_resource_url<O: AsciiSink>(
    out: &mut O,
    base_url: &str,
    endpoint: &str,
    id: &str,
) {
    out.put(base_url);
    out.put(endpoint);
    out.put_byte(b'/');
    push_encoded(out, id);
}

/// The text of a number (an id, a version): `Number`'s `Display`, without
/// `fmt` for integers.
pub fn number_text(n: &serde_json::Number) -> String {
    let mut b = itoa::Buffer::new();
    if let Some(i) = n.as_i64() {
        b.format(i).to_string()
    } else if let Some(u) = n.as_u64() {
        b.format(u).to_string()
    } else {
        n.to_string()
    }
}

/// `W/"3"`.
pub fn weak_etag(v: &str) -> String {
    let mut w = String::with_capacity(v.len() + 4);
    w.push_str("W/\"");
    w.push_str(v);
    w.push('"');
    w
}

/// `W/"3"` / `"3"` / `3` → `3`.
pub fn unquote_etag(e: &str) -> &str {
    let e = e.trim();
    let e = e.strip_prefix("W/").unwrap_or(e);
    e.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(e)
}

/// Whether an `If-None-Match` (or `If-Match`) header value matches the
/// resource's current `version` (RFC 7232 §3.1/§3.2: weak comparison; `*`
/// matches any current representation).
pub fn etag_list_matches(header: &str, version: Option<&str>) -> bool {
    header
        .split(',')
        .any(|t| t.trim() == "*" || version.is_some_and(|v| unquote_etag(t) == v))
}
