//! Backend operations: method, path template, query, paging.

use super::*;

pub(super) fn method(cx: &mut Ctx, at: &str, m: Option<&str>, default: Method) -> Method {
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

pub(super) fn path_template(
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

pub(super) fn query_string(
    cx: &mut Ctx,
    at: &str,
    q: &std::collections::BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    for (k, v) in q {
        no_placeholder(cx, &format!("{at}.{k}"), "query", k);
        no_placeholder(cx, &format!("{at}.{k}"), "query", v);
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

/// The first `{name}` placeholder in `text` outside `${…}` references.
fn placeholder_in(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(i) = rest.find(['$', '{']) {
        let after = &rest[i + 1..];
        if rest[i..].starts_with('$') {
            // `$$` is a literal `$`; `${…}` an environment reference.
            rest = match after.strip_prefix('{') {
                Some(body) => body.find('}').map_or("", |e| &body[e + 1..]),
                None => after.strip_prefix('$').unwrap_or(after),
            };
            continue;
        }
        if let Some(end) = after.find('}') {
            let inner = &after[..end];
            if !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Some(&rest[i..i + end + 2]);
            }
        }
        rest = after;
    }
    None
}

/// Placeholders are filled in an operation's `path` (and a membership
/// `body`) only: one in `query` or `headers` would be sent as it is.
pub(super) fn no_placeholder(cx: &mut Ctx, at: &str, key: &str, text: &str) {
    if let Some(p) = placeholder_in(text) {
        cx.err(
            at,
            format!(
                "{text:?}: placeholders such as {p} are filled in the `path` (and a membership `body`) only; in `{key}` it would be sent as the text {p}: move it into the path"
            ),
        );
    }
}

/// Whether a string value in `v` (a body template) holds `placeholder`:
/// where the membership body fills it in (`request::render_body` fills
/// values, never keys).
pub(super) fn mentions(v: &Value, placeholder: &str) -> bool {
    match v {
        Value::String(s) => s.contains(placeholder),
        Value::Array(a) => a.iter().any(|v| mentions(v, placeholder)),
        Value::Object(o) => o.values().any(|v| mentions(v, placeholder)),
        _ => false,
    }
}

/// Operations that address one record (get, replace, patch, delete, and
/// the membership calls) need `{id}` in their path, and a membership call
/// `{member}` in its path or body: without them the call would address the
/// whole collection or the whole member list (often "all" on a REST API).
pub(super) fn check_addressing(cx: &mut Ctx, at: &str, op: &OpPlan, raw_path: &str) {
    if !op.path.iter().any(|p| matches!(p, PathPart::Id)) {
        cx.err(
            format!("{at}.path"),
            format!(
                "{raw_path:?} must name the record with {{id}} (`{}` acts on one record; without {{id}} the call would address the whole collection)",
                op.name
            ),
        );
    }
    if matches!(op.name, "add_member" | "remove_member")
        && !op.path.iter().any(|p| matches!(p, PathPart::Member))
        && !op.body.as_ref().is_some_and(|b| mentions(b, "{member}"))
    {
        cx.err(
            format!("{at}.path"),
            format!(
                "{raw_path:?} must name the member with {{member}}, in the path or in `body` (without it `{}` would address the whole member list)",
                op.name
            ),
        );
    }
}

/// Percent-encodes a query key or value (`&`, `=`, `+`, `#` and non-ASCII included).
pub fn encode_query(s: &str) -> String {
    encode_segment(s)
}

pub(super) fn compile_op(
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
        no_placeholder(cx, &format!("{at}.headers.{k}"), "headers", v);
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
    if op.send_only.is_some() && !matches!(name, "create" | "replace" | "patch") {
        cx.err(
            format!("{at}.send_only"),
            "only create, replace and patch send a record: `send_only` does not apply here",
        );
    }
    for (i, f) in op.send_only.iter().flatten().enumerate() {
        if f.is_empty() || f.contains(['.', '[', ']']) {
            cx.err(
                format!("{at}.send_only[{i}]"),
                format!("{f:?}: name a top-level backend field (`contact`, not `contact.email`)"),
            );
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
        send_only: op.send_only.clone(),
        body: op.body.clone(),
    }
}

/// `list.paging` → [`Paging`], with the default parameter names of its style.
pub(super) fn compile_paging(cx: &mut Ctx, at: &str, p: &PagingSpec) -> Paging {
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
