//! Mapping files → executable [`Plan`]: every JSONPath, field path, template,
//! regex and header is parsed here, once. All errors of a file are collected
//! (not just the first); each names the file, the key and the offending value.

use crate::config::{expand_env, EnvMap, Settings};
use crate::mapping::fieldpath::FieldPath;
use crate::mapping::model::*;
use crate::mapping::plan::*;
use crate::mapping::transform::{Transform, TRANSFORM_NAMES};
use crate::scim::attr::AttrKind;
use crate::scim::error::scim_type_from_str;
use crate::scim::filter::{eq_assignments, parse_patch_path};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use regex::Regex;
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub file: String,
    /// Dotted key path, e.g. `resources.User.attributes[3].transforms[0]`.
    pub at: String,
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.at, self.message)
        }
    }
}

/// Collects errors while compiling one file.
struct Ctx<'a> {
    file: String,
    errors: Vec<MappingError>,
    env: &'a EnvMap,
}

impl Ctx<'_> {
    fn err(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.errors.push(MappingError {
            file: self.file.clone(),
            at: at.into(),
            message: message.into(),
        });
    }

    fn expand(&mut self, at: &str, v: &str) -> Option<String> {
        match expand_env(v, self.env) {
            Ok(s) => Some(s),
            Err(m) => {
                self.err(at, m);
                None
            }
        }
    }

    fn field(&mut self, at: &str, text: &str) -> Option<FieldPath> {
        match FieldPath::parse(text) {
            Ok(p) => Some(p),
            Err(m) => {
                self.err(at, m);
                None
            }
        }
    }

    fn read_expr(&mut self, at: &str, text: &str) -> Option<ReadExpr> {
        match compile_read(text) {
            Ok(e) => Some(e),
            Err(m) => {
                self.err(at, m);
                None
            }
        }
    }
}

/// `$` / `$.a.b` → direct access; anything else → a parsed JSONPath.
pub fn compile_read(text: &str) -> Result<ReadExpr, String> {
    let t = text.trim();
    if t == "$" {
        return Ok(ReadExpr::Root);
    }
    if let Some(rest) = t.strip_prefix("$.") {
        if !rest.is_empty()
            && rest.split('.').all(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '@'))
            })
        {
            return FieldPath::parse(rest).map(ReadExpr::Field);
        }
    }
    if !t.starts_with('$') {
        return Err(format!(
            "{text:?} is not a JSONPath (it must start with '$', e.g. \"$.data[*]\")"
        ));
    }
    jsonpath_rust::parser::parse_json_path(t)
        .map(|q| ReadExpr::JsonPath(Box::new(q)))
        .map_err(|e| format!("invalid JSONPath {text:?}: {e}"))
}

fn compile_items(text: &str) -> Result<ItemsExpr, String> {
    let t = text.trim();
    let base = t.strip_suffix("[*]").unwrap_or(t);
    match compile_read(base)? {
        ReadExpr::JsonPath(_) => compile_read(t).map(|e| match e {
            ReadExpr::JsonPath(q) => ItemsExpr::JsonPath(q),
            other => ItemsExpr::ArrayField(other),
        }),
        direct => Ok(ItemsExpr::ArrayField(direct)),
    }
}

/// Loads and compiles every mapping file named by the settings.
pub fn load_plan(settings: &Settings, env: &EnvMap) -> Result<Plan, Vec<MappingError>> {
    let mut plan = Plan::default();
    let mut errors = Vec::new();
    for path in &settings.mappings {
        match compile_file(path, settings, env) {
            Ok(rs) => plan.resources.extend(rs.into_iter().map(Arc::new)),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in &plan.resources {
        if let Some((_, f)) = seen
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(&r.endpoint))
        {
            errors.push(MappingError {
                file: r.file.clone(),
                at: format!("resources.{}.endpoint", r.name),
                message: format!("endpoint {:?} is already served by {f}", r.endpoint),
            });
        }
        seen.push((&r.endpoint, &r.file));
    }
    if errors.is_empty() {
        plan.warnings = crate::mapping::lint::warnings(&plan);
        Ok(plan)
    } else {
        Err(errors)
    }
}

pub fn compile_file(
    path: &Path,
    settings: &Settings,
    env: &EnvMap,
) -> Result<Vec<ResourcePlan>, Vec<MappingError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![MappingError {
            file: file.clone(),
            at: String::new(),
            message: format!("cannot read: {e}"),
        }]
    })?;
    compile_text(&file, &text, Some(settings), env)
}

/// Compiles mapping text (public for tests and `check`).
pub fn compile_text(
    file: &str,
    text: &str,
    settings: Option<&Settings>,
    env: &EnvMap,
) -> Result<Vec<ResourcePlan>, Vec<MappingError>> {
    let raw: MappingFile = serde_yaml_ng::from_str(text).map_err(|e| {
        vec![MappingError {
            file: file.to_string(),
            at: String::new(),
            message: crate::suggest::did_you_mean(&e.to_string()),
        }]
    })?;
    let mut cx = Ctx {
        file: file.to_string(),
        errors: Vec::new(),
        env,
    };
    if raw.version != 1 {
        cx.err(
            "version",
            format!(
                "unsupported mapping version {} (only 1 exists)",
                raw.version
            ),
        );
    }
    let backend = compile_backend(&mut cx, &raw.backend, settings);
    if raw.resources.is_empty() {
        cx.err("resources", "declare at least one resource type");
    }
    let mut out = Vec::new();
    if let Some(backend) = backend {
        let backend = Arc::new(backend);
        for (name, spec) in &raw.resources {
            if let Some(r) = compile_resource(&mut cx, name, spec, backend.clone(), settings) {
                out.push(r);
            }
        }
    }
    if cx.errors.is_empty() {
        Ok(out)
    } else {
        Err(cx.errors)
    }
}

fn header(
    cx: &mut Ctx,
    at: &str,
    name: &str,
    value: &str,
    sensitive: bool,
) -> Option<(HeaderName, HeaderValue)> {
    let n = match HeaderName::from_bytes(name.as_bytes()) {
        Ok(n) => n,
        Err(_) => {
            cx.err(at, format!("{name:?} is not a valid header name"));
            return None;
        }
    };
    let value = cx.expand(at, value)?;
    match HeaderValue::from_str(&value) {
        Ok(mut v) => {
            v.set_sensitive(sensitive);
            Some((n, v))
        }
        Err(_) => {
            // Never echo a possibly secret value.
            cx.err(
                at,
                format!("the value of header {name:?} contains characters not allowed in a header"),
            );
            None
        }
    }
}

fn compile_backend(
    cx: &mut Ctx,
    b: &BackendSpec,
    settings: Option<&Settings>,
) -> Option<BackendPlan> {
    let base = match (
        &b.base_url,
        settings.and_then(|s| s.backend_base_url.as_ref()),
    ) {
        (Some(u), _) => {
            cx.expand("backend.base_url", u)
                .and_then(|u| match crate::config::check_base_url(&u) {
                    Ok(u) => Some(u),
                    Err(m) => {
                        cx.err("backend.base_url", m);
                        None
                    }
                })
        }
        (None, Some(u)) => Some(u.clone()),
        (None, None) => {
            cx.err(
                "backend.base_url",
                "no backend URL: set backend.base_url here or [backend] base_url in the settings",
            );
            None
        }
    };
    let mut headers = Vec::new();
    let auth_summary = match &b.auth {
        None => "none".to_string(),
        Some(a) => compile_auth(cx, a, &mut headers),
    };
    for (k, v) in &b.headers {
        headers.extend(header(cx, &format!("backend.headers.{k}"), k, v, false));
    }
    let timeout = Duration::from_millis(
        b.timeout_ms
            .or(settings.map(|s| s.backend_timeout.as_millis() as u64))
            .unwrap_or(crate::config::defaults::BACKEND_TIMEOUT_MS),
    );
    if b.timeout_ms == Some(0) {
        cx.err("backend.timeout_ms", "must be greater than 0");
    }
    let errors = compile_errors(cx, b.errors.as_ref());
    Some(BackendPlan {
        base_url: base?,
        headers,
        timeout,
        errors,
        auth_summary,
    })
}

/// `backend.auth` → the auth header; returns a summary without the secret.
fn compile_auth(
    cx: &mut Ctx,
    a: &AuthSpec,
    headers: &mut Vec<(HeaderName, HeaderValue)>,
) -> String {
    let keys = [
        ("name", a.name.as_deref()),
        ("value", a.value.as_deref()),
        ("username", a.username.as_deref()),
        ("password", a.password.as_deref()),
        ("token", a.token.as_deref()),
    ];
    let (type_name, wanted): (&str, &[&str]) = match a.kind {
        AuthKind::Header => ("header", &["name", "value"]),
        AuthKind::Basic => ("basic", &["username", "password"]),
        AuthKind::Bearer => ("bearer", &["token"]),
        AuthKind::None => ("none", &[]),
    };
    let mut complete = true;
    for (k, v) in keys {
        match (v.is_some(), wanted.contains(&k)) {
            (true, false) => cx.err(
                format!("backend.auth.{k}"),
                format!(
                    "`{k}` does not apply to auth type {type_name} (it takes: {})",
                    if wanted.is_empty() {
                        "nothing".to_string()
                    } else {
                        wanted.join(", ")
                    }
                ),
            ),
            (false, true) => {
                complete = false;
                cx.err(
                    format!("backend.auth.{k}"),
                    format!("auth type {type_name} requires `{k}`"),
                );
            }
            _ => {}
        }
    }
    if !complete {
        return format!("{type_name} ***");
    }
    let get = |k: &str| keys.iter().find(|(n, _)| *n == k).and_then(|(_, v)| *v);
    match a.kind {
        AuthKind::None => "none".to_string(),
        AuthKind::Header => {
            let (name, value) = (get("name").unwrap_or(""), get("value").unwrap_or(""));
            headers.extend(header(cx, "backend.auth.value", name, value, true));
            format!("header {name}: ***")
        }
        AuthKind::Basic => {
            use base64::Engine;
            if let (Some(u), Some(p)) = (
                cx.expand("backend.auth.username", get("username").unwrap_or("")),
                cx.expand("backend.auth.password", get("password").unwrap_or("")),
            ) {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                headers.extend(header(
                    cx,
                    "backend.auth",
                    "authorization",
                    &format!("Basic {token}"),
                    true,
                ));
            }
            "basic ***".to_string()
        }
        AuthKind::Bearer => {
            if let Some(t) = cx.expand("backend.auth.token", get("token").unwrap_or("")) {
                headers.extend(header(
                    cx,
                    "backend.auth.token",
                    "authorization",
                    &format!("Bearer {t}"),
                    true,
                ));
            }
            "bearer ***".to_string()
        }
    }
}

fn compile_errors(cx: &mut Ctx, e: Option<&ErrorSpec>) -> ErrorPlan {
    let Some(e) = e else {
        return ErrorPlan {
            code: None,
            message: None,
            fields: None,
            rules: Vec::new(),
        };
    };
    let mut rules = Vec::new();
    for (i, r) in e.rules.iter().enumerate() {
        let at = format!("backend.errors.rules[{i}]");
        let Ok(status) = StatusCode::from_u16(r.scim_status) else {
            cx.err(
                format!("{at}.scim_status"),
                format!("{} is not an HTTP status", r.scim_status),
            );
            continue;
        };
        if !(status.is_client_error() || status.is_server_error()) {
            cx.err(
                format!("{at}.scim_status"),
                format!("{} is not an error status (4xx/5xx)", r.scim_status),
            );
        }
        let scim_type = match &r.scim_type {
            None => None,
            Some(t) => match scim_type_from_str(t) {
                Some(t) => Some(t),
                None => {
                    cx.err(
                        format!("{at}.scim_type"),
                        format!(
                            "{t:?} is not a SCIM scimType; expected one of {}",
                            crate::scim::error::SCIM_TYPES.join(", ")
                        ),
                    );
                    None
                }
            },
        };
        if r.status.is_none() && r.code.is_none() {
            cx.err(
                at.clone(),
                "a rule must match a backend status, a code, or both",
            );
        }
        rules.push(ErrorRulePlan {
            status: r.status,
            code: r.code.clone(),
            scim_status: status,
            scim_type,
        });
    }
    ErrorPlan {
        code: e
            .code
            .as_deref()
            .and_then(|t| cx.read_expr("backend.errors.code", t)),
        message: e
            .message
            .as_deref()
            .and_then(|t| cx.read_expr("backend.errors.message", t)),
        fields: e
            .fields
            .as_deref()
            .and_then(|t| cx.read_expr("backend.errors.fields", t)),
        rules,
    }
}

fn method(cx: &mut Ctx, at: &str, m: Option<&str>, default: Method) -> Method {
    match m {
        None => default,
        Some(m) => match m.to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            _ => {
                cx.err(
                    at,
                    format!("{m:?} is not one of GET, POST, PUT, PATCH, DELETE"),
                );
                default
            }
        },
    }
}

fn path_template(
    cx: &mut Ctx,
    at: &str,
    path: &str,
    allow_id: bool,
    allow_member: bool,
) -> Vec<PathPart> {
    let mut parts = Vec::new();
    if !path.starts_with('/') {
        cx.err(at, format!("{path:?} must start with '/'"));
    }
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        if i > 0 {
            parts.push(PathPart::Lit(rest[..i].to_string()));
        }
        let Some(end) = rest[i..].find('}') else {
            cx.err(at, format!("unclosed '{{' in {path:?}"));
            return parts;
        };
        match &rest[i + 1..i + end] {
            "id" if allow_id => parts.push(PathPart::Id),
            "member" if allow_member => parts.push(PathPart::Member),
            other => cx.err(
                at,
                format!(
                    "unknown placeholder {{{other}}} in {path:?}; available here: {}",
                    match (allow_id, allow_member) {
                        (true, true) => "{id}, {member}",
                        (true, false) => "{id}",
                        _ => "none",
                    }
                ),
            ),
        }
        rest = &rest[i + end + 1..];
    }
    if !rest.is_empty() {
        parts.push(PathPart::Lit(rest.to_string()));
    }
    if path.contains(['?', '#']) {
        cx.err(
            at,
            format!("{path:?}: put query parameters under `query:`, not in the path"),
        );
    }
    parts
}

fn query_string(cx: &mut Ctx, at: &str, q: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in q {
        if let Some(v) = cx.expand(&format!("{at}.{k}"), v) {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&encode_query(k));
            out.push('=');
            out.push_str(&encode_query(&v));
        }
    }
    out
}

/// Percent-encodes a query key or value (`&`, `=`, `+`, `#` and non-ASCII included).
pub fn encode_query(s: &str) -> String {
    encode_segment(s)
}

fn compile_op(
    cx: &mut Ctx,
    name: &'static str,
    at: &str,
    op: &OpSpec,
    default: Method,
    allow_member: bool,
) -> OpPlan {
    let method = method(cx, &format!("{at}.method"), op.method.as_deref(), default);
    let path = path_template(cx, &format!("{at}.path"), &op.path, true, allow_member);
    let query = query_string(cx, &format!("{at}.query"), &op.query);
    let mut headers = Vec::new();
    for (k, v) in &op.headers {
        headers.extend(header(cx, &format!("{at}.headers.{k}"), k, v, false));
    }
    let ct = op.content_type.as_deref().unwrap_or("application/json");
    let content_type = HeaderValue::from_str(ct).unwrap_or_else(|_| {
        cx.err(
            format!("{at}.content_type"),
            format!("{ct:?} is not a valid content type"),
        );
        HeaderValue::from_static("application/json")
    });
    let item = match &op.item {
        Some(t) => cx
            .read_expr(&format!("{at}.item"), t)
            .unwrap_or(ReadExpr::Root),
        None => ReadExpr::Root,
    };
    let omit = op
        .omit
        .iter()
        .enumerate()
        .filter_map(|(i, f)| cx.field(&format!("{at}.omit[{i}]"), f))
        .collect();
    if let Some(w) = &op.wrap {
        if w.is_empty() {
            cx.err(format!("{at}.wrap"), "must not be empty");
        }
    }
    OpPlan {
        name,
        method,
        path,
        query,
        headers,
        content_type,
        wrap: op.wrap.clone(),
        item,
        omit,
        body: op.body.clone(),
    }
}

/// `list.paging` → [`Paging`], with the default parameter names of its style.
fn compile_paging(cx: &mut Ctx, at: &str, p: &PagingSpec) -> Paging {
    let (style, own, other): (&str, [(&str, &Option<String>); 2], _) = match p.style {
        PagingStyle::Page => (
            "page",
            [("page_param", &p.page_param), ("size_param", &p.size_param)],
            [
                ("offset_param", &p.offset_param),
                ("limit_param", &p.limit_param),
            ],
        ),
        PagingStyle::Offset => (
            "offset",
            [
                ("offset_param", &p.offset_param),
                ("limit_param", &p.limit_param),
            ],
            [("page_param", &p.page_param), ("size_param", &p.size_param)],
        ),
    };
    for (k, v) in other {
        if v.is_some() {
            cx.err(
                format!("{at}.{k}"),
                format!(
                    "`{k}` does not apply to paging style {style} (it takes {} and {})",
                    own[0].0, own[1].0
                ),
            );
        }
    }
    for (k, v) in own {
        if v.as_deref().is_some_and(str::is_empty) {
            cx.err(format!("{at}.{k}"), "must not be empty");
        }
    }
    let param = |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.into());
    match p.style {
        PagingStyle::Page => Paging::Page {
            page_param: param(&p.page_param, "page"),
            size_param: param(&p.size_param, "pageSize"),
            max: p.max_page_size,
        },
        PagingStyle::Offset => Paging::Offset {
            offset_param: param(&p.offset_param, "offset"),
            limit_param: param(&p.limit_param, "limit"),
            max: p.max_page_size,
        },
    }
}

fn parse_kind(cx: &mut Ctx, at: &str, k: Option<&str>) -> AttrKind {
    match k.unwrap_or("string") {
        "string" => AttrKind::String,
        "boolean" => AttrKind::Boolean,
        "integer" => AttrKind::Integer,
        "decimal" => AttrKind::Decimal,
        "dateTime" | "datetime" => AttrKind::DateTime,
        "reference" => AttrKind::Reference,
        "binary" => AttrKind::Binary,
        other => {
            cx.err(at, format!("{other:?} is not a SCIM type; expected one of string, boolean, integer, decimal, dateTime, reference, binary"));
            AttrKind::String
        }
    }
}

fn compile_resource(
    cx: &mut Ctx,
    name: &str,
    r: &ResourceSpec,
    backend: Arc<BackendPlan>,
    settings: Option<&Settings>,
) -> Option<ResourcePlan> {
    let before = cx.errors.len();
    let at = format!("resources.{name}");
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        cx.err(
            &at,
            format!("resource type name {name:?} must be alphanumeric (e.g. User, Group)"),
        );
    }
    let ep = r.endpoint.trim_end_matches('/');
    if !ep.starts_with('/') || ep.len() < 2 || !ep[1..].chars().all(|c| c.is_ascii_alphanumeric()) {
        cx.err(
            format!("{at}.endpoint"),
            format!(
                "{:?} must be '/' and one alphanumeric segment, e.g. \"/Users\"",
                r.endpoint
            ),
        );
    }
    if !r.schema.starts_with("urn:") {
        cx.err(
            format!("{at}.schema"),
            format!("{:?} is not a schema URN (urn:…)", r.schema),
        );
    }
    for (i, e) in r.extensions.iter().enumerate() {
        if !e.starts_with("urn:") {
            cx.err(
                format!("{at}.extensions[{i}]"),
                format!("{e:?} is not a schema URN"),
            );
        }
    }
    let id_field = cx.field(&format!("{at}.id.field"), &r.id.field);
    let pattern =
        r.id.pattern
            .as_ref()
            .and_then(|p| match Regex::new(&format!("^(?:{p})$")) {
                Ok(re) => Some(re),
                Err(e) => {
                    cx.err(
                        format!("{at}.id.pattern"),
                        format!("invalid regex {p:?}: {e}"),
                    );
                    None
                }
            });
    let version = r.version.as_ref().map(|v| {
        if v.field.is_none() && !v.etag {
            cx.err(
                format!("{at}.version"),
                "set `field` (a version in the body) or `etag: true`",
            );
        }
        VersionPlan {
            field: v
                .field
                .as_ref()
                .and_then(|f| cx.field(&format!("{at}.version.field"), f)),
            etag: v.etag,
        }
    });
    let ts = |cx: &mut Ctx, key: &str, t: &Option<TimestampSpec>| {
        t.as_ref().and_then(|t| {
            cx.field(&format!("{at}.meta.{key}.field"), &t.field)
                .map(|f| (f, t.format))
        })
    };
    let created = ts(cx, "created", &r.meta.created);
    let last_modified = ts(cx, "last_modified", &r.meta.last_modified);

    // Operations.
    let o = &r.operations;
    let oat = format!("{at}.operations");
    let list = {
        let l = &o.list;
        let method = method(
            cx,
            &format!("{oat}.list.method"),
            l.method.as_deref(),
            Method::GET,
        );
        let _ = path_template(cx, &format!("{oat}.list.path"), &l.path, false, false);
        let query = query_string(cx, &format!("{oat}.list.query"), &l.query);
        let mut headers = Vec::new();
        for (k, v) in &l.headers {
            headers.extend(header(cx, &format!("{oat}.list.headers.{k}"), k, v, false));
        }
        let items = match compile_items(&l.items) {
            Ok(i) => i,
            Err(m) => {
                cx.err(format!("{oat}.list.items"), m);
                ItemsExpr::ArrayField(ReadExpr::Root)
            }
        };
        let total = cx
            .read_expr(&format!("{oat}.list.total"), &l.total)
            .unwrap_or(ReadExpr::Root);
        let paging = compile_paging(cx, &format!("{oat}.list.paging"), &l.paging);
        if paging.max() == 0 {
            cx.err(
                format!("{oat}.list.paging.max_page_size"),
                "must be greater than 0",
            );
        }
        ListPlan {
            method,
            path: l.path.clone(),
            query,
            headers,
            items,
            total,
            paging,
        }
    };
    let get = compile_op(cx, "get", &format!("{oat}.get"), &o.get, Method::GET, false);
    let create = o.create.as_ref().map(|op| {
        compile_op(
            cx,
            "create",
            &format!("{oat}.create"),
            op,
            Method::POST,
            false,
        )
    });
    let replace = o.replace.as_ref().map(|op| {
        compile_op(
            cx,
            "replace",
            &format!("{oat}.replace"),
            op,
            Method::PUT,
            false,
        )
    });
    let patch = o.patch.as_ref().map(|op| {
        compile_op(
            cx,
            "patch",
            &format!("{oat}.patch"),
            op,
            Method::PATCH,
            false,
        )
    });
    let delete = o.delete.as_ref().map(|op| {
        compile_op(
            cx,
            "delete",
            &format!("{oat}.delete"),
            op,
            Method::DELETE,
            false,
        )
    });
    let add_member = o.add_member.as_ref().map(|op| {
        compile_op(
            cx,
            "add_member",
            &format!("{oat}.add_member"),
            op,
            Method::POST,
            true,
        )
    });
    let remove_member = o.remove_member.as_ref().map(|op| {
        compile_op(
            cx,
            "remove_member",
            &format!("{oat}.remove_member"),
            op,
            Method::DELETE,
            true,
        )
    });
    match r.update {
        UpdateStyle::Replace if replace.is_none() && (o.create.is_some()) => cx.err(
            format!("{at}.update"),
            "update style `replace` needs operations.replace",
        ),
        UpdateStyle::MergePatch if patch.is_none() => cx.err(
            format!("{at}.update"),
            "update style `merge_patch` needs operations.patch",
        ),
        _ => {}
    }
    if add_member.is_some() != remove_member.is_some() {
        cx.err(&oat, "add_member and remove_member go together");
    }

    // Attributes.
    let mut attributes: Vec<AttrPlan> = Vec::new();
    let mut members_attr = None;
    for (i, a) in r.attributes.iter().enumerate() {
        let aat = format!("{at}.attributes[{i}] ({})", a.scim);
        if let Some(ap) = compile_attr(cx, &aat, a, r) {
            if attributes
                .iter()
                .any(|o| same_target(&o.target, &ap.target))
            {
                cx.err(&aat, format!("SCIM attribute {:?} is mapped twice", a.scim));
            }
            if ap.members.is_some() {
                members_attr = Some(attributes.len());
            }
            attributes.push(ap);
        }
    }
    if !attributes.iter().any(|a| a.required) && name == "User" {
        // userName is the one attribute SCIM requires of a User.
        if !attributes.iter().any(|a| a.target.name == "userName") {
            cx.err(
                format!("{at}.attributes"),
                "a User mapping must map userName (RFC 7643 requires it)",
            );
        }
    }

    // Filters.
    let mut filters = Vec::new();
    for (i, f) in r.filters.iter().enumerate() {
        let fat = format!("{at}.filters[{i}]");
        if !f.op.eq_ignore_ascii_case("eq") {
            cx.err(
                format!("{fat}.op"),
                format!(
                    "{:?}: only `eq` can be pushed down to a backend query parameter",
                    f.op
                ),
            );
        }
        if f.param.is_empty() {
            cx.err(format!("{fat}.param"), "must not be empty");
        }
        match r
            .attributes
            .iter()
            .position(|a| norm(&a.scim) == norm(&f.scim))
        {
            Some(idx) => {
                // position in `attributes` equals position in the spec when all compiled
                filters.push(PushdownPlan {
                    attr: idx,
                    param: f.param.clone(),
                });
            }
            None => cx.err(
                format!("{fat}.scim"),
                format!(
                    "{:?} is not one of this resource's mapped attributes",
                    f.scim
                ),
            ),
        }
    }

    // Constants.
    let mut constants = Vec::new();
    for (i, c) in r.constants.iter().enumerate() {
        let cat = format!("{at}.constants[{i}]");
        let value = match &c.value {
            Value::String(s) => cx.expand(&format!("{cat}.value"), s).map(Value::String),
            v => Some(v.clone()),
        };
        let always = match c.on.as_deref() {
            None | Some("create") => false,
            Some("always") => true,
            Some(other) => {
                cx.err(
                    format!("{cat}.on"),
                    format!("{other:?} is not one of create, always"),
                );
                false
            }
        };
        if let (Some(field), Some(value)) = (cx.field(&format!("{cat}.field"), &c.field), value) {
            constants.push(ConstantPlan {
                field,
                value,
                always,
            });
        }
    }

    let conflict_status = r.conflict.as_ref().map(|c| c.status).unwrap_or(
        if version.as_ref().is_some_and(|v| v.etag) {
            412
        } else {
            409
        },
    );
    let scan_limit = r
        .scan_limit
        .or(settings.map(|s| s.scan_limit))
        .unwrap_or(crate::config::defaults::SCAN_LIMIT);
    if cx.errors.len() > before {
        return None;
    }
    let schemas = build_schemas(name, r, &attributes);
    Some(ResourcePlan {
        name: name.to_string(),
        endpoint: ep.to_string(),
        schema: r.schema.clone(),
        extensions: r.extensions.clone(),
        description: r
            .description
            .clone()
            .unwrap_or_else(|| format!("{name} resources")),
        strict: r.strict,
        backend,
        id: IdPlan {
            field: id_field?,
            kind: r.id.kind,
            pattern,
        },
        version,
        created,
        last_modified,
        update: r.update,
        conflict_status,
        conflict_code: r.conflict.as_ref().and_then(|c| c.code.clone()),
        ops: Operations {
            list,
            get,
            create,
            replace,
            patch,
            delete,
            add_member,
            remove_member,
        },
        filters,
        attributes,
        constants,
        scan_limit,
        schemas,
        members_attr,
        file: cx.file.clone(),
    })
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

fn same_target(a: &ScimTarget, b: &ScimTarget) -> bool {
    a.urn == b.urn
        && a.name.eq_ignore_ascii_case(&b.name)
        && a.sub.as_deref().map(str::to_ascii_lowercase)
            == b.sub.as_deref().map(str::to_ascii_lowercase)
        && a.selector == b.selector
}

fn compile_attr(cx: &mut Ctx, at: &str, a: &AttributeSpec, r: &ResourceSpec) -> Option<AttrPlan> {
    let before = cx.errors.len();
    let path = match parse_patch_path(&a.scim) {
        Ok(p) => p,
        Err(e) => {
            cx.err(
                format!("{at}.scim"),
                format!("{:?} is not a SCIM attribute path: {e}", a.scim),
            );
            return None;
        }
    };
    let urn = match &path.attr.urn {
        None => None,
        Some(u) if u.eq_ignore_ascii_case(&r.schema) => None,
        Some(u) => {
            match r.extensions.iter().find(|e| e.eq_ignore_ascii_case(u)) {
                Some(e) => Some(e.clone()),
                None => {
                    cx.err(format!("{at}.scim"), format!("schema {u:?} is neither this resource's schema nor one of its extensions"));
                    None
                }
            }
        }
    };
    let selector: Vec<(String, Value)> = match &path.filter {
        None => Vec::new(),
        Some(f) => {
            let eqs = eq_assignments(f);
            if eqs.is_empty() {
                cx.err(
                    format!("{at}.scim"),
                    "the [selector] must be `sub eq \"value\"` terms joined by `and`",
                );
            }
            eqs.into_iter()
                .map(|(p, v)| (p.sub.clone().unwrap_or_else(|| p.name.clone()), v.clone()))
                .collect()
        }
    };
    if path.filter.is_some() && path.value_sub.is_none() {
        cx.err(format!("{at}.scim"), "a [selector] path must name a sub-attribute after it, e.g. emails[type eq \"work\"].value");
    }
    if path.attr.sub.is_some() && path.filter.is_some() {
        cx.err(format!("{at}.scim"), "unsupported path shape");
    }
    let target = ScimTarget {
        urn,
        name: path.attr.name.clone(),
        selector,
        sub: path.attr.sub.clone().or(path.value_sub.clone()),
    };
    let kind = if a.members.is_some() {
        AttrKind::Complex
    } else {
        parse_kind(cx, &format!("{at}.type"), a.kind.as_deref())
    };
    let mut mutability = match a.mutability.as_deref() {
        None | Some("readWrite") => Mutability::ReadWrite,
        Some("readOnly") => Mutability::ReadOnly,
        Some("writeOnly") => Mutability::WriteOnly,
        Some("immutable") => Mutability::Immutable,
        Some(other) => {
            cx.err(
                format!("{at}.mutability"),
                format!("{other:?} is not one of readWrite, readOnly, writeOnly, immutable"),
            );
            Mutability::ReadWrite
        }
    };
    let uniqueness = match a.uniqueness.as_deref() {
        None | Some("none") => "none",
        Some("server") => "server",
        Some("global") => "global",
        Some(other) => {
            cx.err(
                format!("{at}.uniqueness"),
                format!("{other:?} is not one of none, server, global"),
            );
            "none"
        }
    };
    let sources = [a.field.is_some(), a.template.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if sources == 0 && a.read.is_none() {
        cx.err(
            at,
            "map it with `field` (read and write), `read` (JSONPath) or `template`",
        );
    }
    if sources > 1 {
        cx.err(at, "`field` and `template` exclude each other");
    }
    let (read, write) = if let Some(t) = &a.template {
        mutability = Mutability::ReadOnly;
        (
            parse_template(cx, &format!("{at}.template"), t).map(ReadSource::Template),
            None,
        )
    } else {
        let write = a
            .field
            .as_ref()
            .and_then(|f| cx.field(&format!("{at}.field"), f));
        let read = match &a.read {
            Some(jp) => cx
                .read_expr(&format!("{at}.read"), jp)
                .map(ReadSource::Expr),
            None => write.clone().map(|w| ReadSource::Expr(ReadExpr::Field(w))),
        };
        (read, write)
    };
    if write.is_none() && a.template.is_none() && mutability != Mutability::ReadOnly {
        // `read` alone: the attribute can only be read.
        mutability = Mutability::ReadOnly;
    }
    let mut transforms = Vec::new();
    for (i, t) in a.transforms.iter().enumerate() {
        match Transform::parse(t) {
            Some(t) => transforms.push(t),
            None => cx.err(
                format!("{at}.transforms[{i}]"),
                format!(
                    "unknown transform {t:?}; expected one of {}",
                    TRANSFORM_NAMES.join(", ")
                ),
            ),
        }
    }
    let mut values = Vec::new();
    if let Some(map) = &a.values {
        for (k, v) in map {
            if kind == AttrKind::Boolean && k != "true" && k != "false" {
                cx.err(
                    format!("{at}.values.{k}"),
                    "keys of a boolean attribute's value map must be \"true\" and \"false\"",
                );
            }
            if v.is_object() || v.is_array() {
                cx.err(format!("{at}.values.{k}"), "backend values must be scalars");
            }
            values.push((k.clone(), v.clone()));
        }
    }
    let canonical_values = if a.canonical_values.is_empty() {
        values.iter().map(|(k, _)| k.clone()).collect()
    } else {
        if kind != AttrKind::String {
            cx.err(
                format!("{at}.canonical_values"),
                "canonical values apply to string attributes only",
            );
        }
        for (i, c) in a.canonical_values.iter().enumerate() {
            if !values.is_empty() && !values.iter().any(|(k, _)| k == c) {
                cx.err(
                    format!("{at}.canonical_values[{i}]"),
                    format!("{c:?} is not a key of `values`, so it cannot be stored"),
                );
            }
        }
        a.canonical_values.clone()
    };
    let members = a.members.as_ref().map(|m| MembersPlan {
        id_type: m.id_type,
        key: m.key.clone(),
        resource: m.resource.clone().unwrap_or_else(|| "/Users".into()),
    });
    if members.is_some() && (target.sub.is_some() || !target.selector.is_empty()) {
        cx.err(
            format!("{at}.scim"),
            "members must map a whole attribute (e.g. `members`)",
        );
    }
    if cx.errors.len() > before {
        return None;
    }
    let plan = AttrPlan {
        scim_text: a.scim.clone(),
        target,
        kind,
        read,
        write,
        mutability,
        required: a.required,
        uniqueness,
        case_exact: a.case_exact,
        values,
        canonical_values,
        transforms,
        default: a.default.clone(),
        description: a.description.clone(),
        members,
    };
    if let Some(d) = &plan.default {
        if let Err(e) = plan.write_value(d) {
            cx.err(format!("{at}.default"), e.detail);
            return None;
        }
    }
    Some(plan)
}

fn parse_template(cx: &mut Ctx, at: &str, t: &str) -> Option<Template> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        if i > 0 {
            parts.push(TemplatePart::Lit(rest[..i].to_string()));
        }
        let Some(end) = rest[i..].find('}') else {
            cx.err(at, format!("unclosed '{{' in template {t:?}"));
            return None;
        };
        parts.push(TemplatePart::Field(cx.field(at, &rest[i + 1..i + end])?));
        rest = &rest[i + end + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Lit(rest.to_string()));
    }
    if !parts.iter().any(|p| matches!(p, TemplatePart::Field(_))) {
        cx.err(
            at,
            format!("template {t:?} references no backend field (write fields as {{field}})"),
        );
        return None;
    }
    Some(Template { parts })
}

fn leaf(a: &AttrPlan, name: &str) -> SchemaAttr {
    SchemaAttr {
        name: name.to_string(),
        kind: a.kind,
        multi_valued: false,
        case_exact: a.case_exact,
        mutability: a.mutability,
        required: a.required,
        uniqueness: a.uniqueness,
        description: a.description.clone(),
        canonical_values: if a.kind == AttrKind::String {
            a.canonical_values.clone()
        } else {
            Vec::new()
        },
        reference_types: Vec::new(),
        subs: Vec::new(),
    }
}

fn complex(name: &str, multi: bool) -> SchemaAttr {
    SchemaAttr {
        name: name.to_string(),
        kind: AttrKind::Complex,
        multi_valued: multi,
        case_exact: false,
        mutability: Mutability::ReadOnly,
        required: false,
        uniqueness: "none",
        description: None,
        canonical_values: Vec::new(),
        reference_types: Vec::new(),
        subs: Vec::new(),
    }
}

/// Builds `/Schemas` content from the mapped attributes: exactly what is mapped, truthfully.
fn build_schemas(name: &str, r: &ResourceSpec, attrs: &[AttrPlan]) -> Vec<SchemaDef> {
    let mut defs = vec![SchemaDef {
        urn: r.schema.clone(),
        name: name.to_string(),
        description: r
            .description
            .clone()
            .unwrap_or_else(|| format!("{name} schema")),
        attrs: Vec::new(),
    }];
    for e in &r.extensions {
        let short = e.rsplit(':').next().unwrap_or(e);
        defs.push(SchemaDef {
            urn: e.clone(),
            name: format!("{short}Extension"),
            description: format!("{short} extension"),
            attrs: Vec::new(),
        });
    }
    for a in attrs {
        let t = &a.target;
        // externalId is a common attribute (RFC 7643 §3.1), not part of the schema.
        if t.urn.is_none() && t.name == "externalId" {
            continue;
        }
        let def = match &t.urn {
            None => &mut defs[0],
            Some(u) => match defs.iter_mut().find(|d| &d.urn == u) {
                Some(d) => d,
                None => continue,
            },
        };
        if let Some(mp) = &a.members {
            let mut m = complex(&t.name, true);
            m.mutability = a.mutability;
            let mut value = leaf(a, "value");
            value.kind = AttrKind::String;
            value.case_exact = true;
            value.mutability = Mutability::Immutable;
            value.required = false;
            let mut reference = leaf(a, "$ref");
            reference.kind = AttrKind::Reference;
            reference.mutability = Mutability::Immutable;
            reference.required = false;
            reference.reference_types = vec!["User".into()];
            let mut ty = leaf(a, "type");
            ty.kind = AttrKind::String;
            ty.mutability = Mutability::Immutable;
            ty.required = false;
            ty.canonical_values = vec!["User".into()];
            m.subs = vec![value, reference, ty];
            let _ = mp;
            def.attrs.push(m);
            continue;
        }
        match (&t.sub, t.selector.is_empty()) {
            (None, _) => def.attrs.push(leaf(a, &t.name)),
            (Some(sub), plain) => {
                let pos = match def.attrs.iter().position(|x| x.name == t.name) {
                    Some(p) => p,
                    None => {
                        def.attrs.push(complex(&t.name, !plain));
                        def.attrs.len() - 1
                    }
                };
                let parent = &mut def.attrs[pos];
                if a.mutability != Mutability::ReadOnly {
                    parent.mutability = Mutability::ReadWrite;
                }
                if !parent.subs.iter().any(|s| s.name == *sub) {
                    parent.subs.push(leaf(a, sub));
                }
                for (k, v) in &t.selector {
                    let key_pos = match parent.subs.iter().position(|s| s.name == *k) {
                        Some(p) => p,
                        None => {
                            let mut s = leaf(a, k);
                            s.kind = AttrKind::String;
                            s.required = false;
                            s.case_exact = false;
                            s.description = Some(format!("Only the stored {k} values are kept"));
                            s.canonical_values.clear();
                            parent.subs.push(s);
                            parent.subs.len() - 1
                        }
                    };
                    if let Some(v) = v.as_str() {
                        let cv = &mut parent.subs[key_pos].canonical_values;
                        if !cv.iter().any(|x| x == v) {
                            cv.push(v.to_string());
                        }
                    }
                }
            }
        }
    }
    defs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(language_attr: &str) -> String {
        format!(
            r#"
version: 1
backend:
  base_url: http://127.0.0.1:9
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    id: {{ field: id }}
    operations:
      list: {{ path: /u, items: "$.items[*]", total: "$.total", paging: {{ style: offset, max_page_size: 100 }} }}
      get: {{ path: "/u/{{id}}" }}
    attributes:
      - {{ scim: userName, field: login, required: true }}
      - {language_attr}
"#
        )
    }

    fn schema_attr<'a>(r: &'a ResourcePlan, name: &str) -> &'a SchemaAttr {
        r.schemas[0].attrs.iter().find(|a| a.name == name).unwrap()
    }

    #[test]
    fn unknown_key_gets_a_suggestion_and_keeps_line_and_column() {
        let errs = compile_text(
            "m.yaml",
            &mapping("{ scim: preferredLanguage, field: lang, trasforms: [language_only] }"),
            None,
            &None,
        )
        .unwrap_err();
        let m = &errs[0].message;
        assert!(
            m.contains("unknown key `trasforms` — did you mean `transforms`?"),
            "{m}"
        );
        assert!(m.contains("line 15 column"), "{m}");
        assert!(!m.contains("expected one of"), "{m}");
    }

    #[test]
    fn canonical_values_are_advertised_in_the_schema() {
        let plans = compile_text(
            "m.yaml",
            &mapping("{ scim: preferredLanguage, field: lang, canonical_values: [nl, fr] }"),
            None,
            &None,
        )
        .unwrap();
        assert_eq!(
            schema_attr(&plans[0], "preferredLanguage").canonical_values,
            ["nl", "fr"]
        );
    }

    #[test]
    fn canonical_values_default_to_the_value_map_keys() {
        let plans = compile_text(
            "m.yaml",
            &mapping("{ scim: title, field: t, values: { Boss: B, Clerk: C } }"),
            None,
            &None,
        )
        .unwrap();
        assert_eq!(
            schema_attr(&plans[0], "title").canonical_values,
            ["Boss", "Clerk"]
        );
    }

    #[test]
    fn canonical_values_are_checked() {
        let errs = compile_text(
            "m.yaml",
            &mapping("{ scim: active, field: a, type: boolean, canonical_values: [x] }"),
            None,
            &None,
        )
        .unwrap_err();
        assert!(
            errs[0].message.contains("string attributes only"),
            "{errs:?}"
        );
        let errs = compile_text(
            "m.yaml",
            &mapping("{ scim: title, field: t, values: { Boss: B }, canonical_values: [Clerk] }"),
            None,
            &None,
        )
        .unwrap_err();
        assert!(
            errs[0].message.contains("not a key of `values`"),
            "{errs:?}"
        );
    }
}
