//! Routing: SCIM paths → discovery documents or resource operations.

use super::{json_response, AppState, Live, Resp};
use crate::config::defaults;
use crate::scim::discovery;
use crate::scim::error::ScimError;
use crate::scim::filter::parse_filter;
use crate::scim::query::{parse_query, Projection};
use crate::service::{ResourceCtx, SearchQuery};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

/// Bearer auth: static tokens first (constant time, every one compared),
/// then, with `[auth.jwt]`, the token as an RS256 JWT.
async fn authorize<B>(live: &Live, req: &Request<B>) -> Result<(), ScimError> {
    let missing = || {
        ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "missing or invalid bearer token",
        )
    };
    let h = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, token) = h.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    let token = token.trim();
    // Compare against every configured token without stopping early.
    let mut ok = subtle::Choice::from(0u8);
    for t in &live.settings.bearer_tokens {
        ok |= t.expose().as_bytes().ct_eq(token.as_bytes());
    }
    if bool::from(ok) {
        return Ok(());
    }
    match &live.jwt {
        Some(v) if token.bytes().filter(|&b| b == b'.').count() == 2 => {
            v.verify(token).await.map_err(|r| {
                tracing::info!(reason = r.detail(), "JWT bearer token refused");
                ScimError::invalid_token(r.detail())
            })
        }
        _ => Err(ScimError::invalid_token("missing or invalid bearer token")),
    }
}

/// SCIM 431 beyond `server.max_header_bytes` / `server.max_headers` (hyper
/// answers a bare 431 at twice these).
fn check_headers<B>(live: &Live, req: &Request<B>) -> Result<(), ScimError> {
    let h = req.headers();
    let bytes: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if bytes > live.settings.max_header_bytes || h.len() > live.settings.max_headers {
        return Err(ScimError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            None,
            format!(
                "request headers too large: at most {} fields and {} bytes",
                live.settings.max_headers, live.settings.max_header_bytes
            ),
        ));
    }
    Ok(())
}

/// Whether `{`/`[` nest deeper than `max` (strings and escapes honoured);
/// a cheap scan run before parsing.
pub(crate) fn json_too_deep(b: &[u8], max: usize) -> bool {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &c in b {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Reads and discards the rest of a refused body in the background (up to
/// `cap` bytes, for at most [`defaults::BODY_DRAIN_TIMEOUT_MS`]), so the 413
/// reaches a client that is still sending instead of a connection reset.
fn drain<B>(mut body: std::pin::Pin<Box<B>>, cap: usize)
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
{
    tokio::spawn(async move {
        let read = async {
            let mut seen = 0usize;
            while let Some(Ok(f)) = body.frame().await {
                if let Some(d) = f.data_ref() {
                    seen += d.len();
                    if seen >= cap {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(defaults::BODY_DRAIN_TIMEOUT_MS),
            read,
        )
        .await;
    });
}

fn method_not_allowed(allowed: &str) -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        format!("method not allowed here; allowed: {allowed}"),
    )
}

/// The public SCIM base URL: configured, or derived from the request's Host.
fn base_url<B>(live: &Live, req: &Request<B>) -> String {
    if let Some(u) = &live.settings.public_url {
        return u.clone();
    }
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .filter(|h| {
            !h.is_empty()
                && h.len() < 256
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| live.settings.listen.to_string());
    let scheme = if live.settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}{}", live.settings.base_path)
}

async fn read_json<B>(live: &Live, req: Request<B>) -> Result<Value, ScimError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if let Some(ct) = req.headers().get(http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let media = ct.split(';').next().unwrap_or("").trim();
        if !(media == "application/scim+json" || media == "application/json" || media.is_empty()) {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                format!("unsupported content type {media:?}; send application/scim+json"),
            ));
        }
    }
    let limit = live.settings.max_body_bytes;
    let cap = limit.saturating_mul(defaults::BODY_DRAIN_FACTOR);
    let too_large = || {
        ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("the request body exceeds {limit} bytes"),
        )
    };
    // A client waiting for `100 Continue` sends nothing unless the body is read.
    let expects_continue = req
        .headers()
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut body = Box::pin(req.into_body());
    if declared.is_some_and(|len| len > limit as u64) {
        if !expects_continue {
            drain(body, cap);
        }
        return Err(too_large());
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ScimError::invalid_syntax("the request body could not be read"))?;
        if let Some(d) = frame.data_ref() {
            if buf.len() + d.len() > limit {
                drain(body, cap.saturating_sub(buf.len() + d.len()));
                return Err(too_large());
            }
            buf.extend_from_slice(d);
        }
    }
    let body = buf.freeze();
    if json_too_deep(&body, live.settings.max_json_depth) {
        return Err(ScimError::invalid_syntax(format!(
            "the request body nests deeper than {} levels",
            live.settings.max_json_depth
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; a JSON object is required",
        ));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
    })?;
    if !v.is_object() {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// A discovery collection (`/Schemas`, `/ResourceTypes`) as a ListResponse,
/// or the one document whose `id` matches (case-insensitively) the path's last segment.
fn discovery_answer(all: Vec<Value>, id: Option<&&str>, what: &str) -> Result<Resp, ScimError> {
    let Some(id) = id else {
        let n = all.len();
        return Ok(json_response(
            StatusCode::OK,
            &discovery::list_response(all, n, 1),
        ));
    };
    let id = decode_segment(id);
    all.into_iter()
        .find(|d| {
            d["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(&id))
        })
        .map(|d| json_response(StatusCode::OK, &d))
        .ok_or_else(|| ScimError::not_found(format!("{what} {id:?} not found")))
}

fn decode_segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn with_etag(mut r: Resp, version: Option<&str>) -> Resp {
    if let Some(v) =
        version.and_then(|v| HeaderValue::from_str(&crate::mapping::plan::weak_etag(v)).ok())
    {
        r.headers_mut().insert(http::header::ETAG, v);
    }
    r
}

fn parse_usize(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, got {v:?}")))
}

fn search_from_query(query: &str) -> Result<SearchQuery, ScimError> {
    let mut q = SearchQuery {
        start_index: 1,
        ..Default::default()
    };
    let (mut attrs, mut excl) = (None, None);
    for (k, v) in parse_query(query) {
        match k.as_str() {
            "filter" => {
                q.filter = Some(parse_filter(&v).map_err(|e| {
                    ScimError::bad_request("invalidFilter", format!("invalid filter: {e}"))
                })?)
            }
            "startIndex" => q.start_index = parse_usize("startIndex", &v)?.max(1) as usize,
            "count" => q.count = Some(parse_usize("count", &v)?.max(0) as usize),
            "attributes" => attrs = Some(v),
            "excludedAttributes" => excl = Some(v),
            _ => {}
        }
    }
    q.projection = Projection::parse(attrs.as_deref(), excl.as_deref())?;
    Ok(q)
}

fn search_from_body(body: &Value) -> Result<SearchQuery, ScimError> {
    let mut q = SearchQuery {
        start_index: 1,
        ..Default::default()
    };
    let get = |k: &str| crate::mapping::plan::get_ci(body, k).filter(|v| !v.is_null());
    if let Some(f) = get("filter") {
        let f = f
            .as_str()
            .ok_or_else(|| ScimError::bad_request("invalidFilter", "filter must be a string"))?;
        q.filter = Some(parse_filter(f).map_err(|e| {
            ScimError::bad_request("invalidFilter", format!("invalid filter: {e}"))
        })?);
    }
    let int = |k: &str| -> Result<Option<i64>, ScimError> {
        match get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ScimError::invalid_value(format!("{k} must be an integer"))),
            Some(Value::String(s)) => parse_usize(k, s).map(Some),
            Some(_) => Err(ScimError::invalid_value(format!("{k} must be an integer"))),
        }
    };
    if let Some(s) = int("startIndex")? {
        q.start_index = s.max(1) as usize;
    }
    if let Some(c) = int("count")? {
        q.count = Some(c.max(0) as usize);
    }
    q.projection = Projection::from_json(body)?;
    Ok(q)
}

pub(super) async fn handle_inner<B>(
    state: &AppState,
    live: &Live,
    req: Request<B>,
    request_id: &str,
    route: &mut String,
) -> Result<Resp, ScimError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        *route = "/healthz".into();
        return Ok(json_response(StatusCode::OK, &json!({"status": "ok"})));
    }
    if path == "/metrics" && live.settings.metrics_enabled && live.settings.metrics_listen.is_none()
    {
        *route = "/metrics".into();
        let mut r = json_response(StatusCode::OK, &Value::Null);
        *r.body_mut() = http_body_util::Full::new(Bytes::from(state.metrics.encode()));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        return Ok(r);
    }
    if path == "/readyz" {
        *route = "/readyz".into();
        return Ok(super::readyz(state, live));
    }
    let base_path = &live.settings.base_path;
    let Some(rest) = path
        .strip_prefix(base_path.as_str())
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return Err(ScimError::not_found(format!(
            "no SCIM endpoint here; the SCIM base path is {base_path}"
        )));
    };
    check_headers(live, &req)?;
    // Health checks and metrics above are exempt.
    let Ok(_permit) = state.concurrency.try_acquire() else {
        *route = "(overloaded)".into();
        return Err(ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "too many concurrent requests; retry later",
        )
        .with_retry_after(Some(1)));
    };
    if let Err(e) = authorize(live, &req).await {
        *route = "(unauthorized)".into();
        return Err(e);
    }
    let segments: Vec<&str> = rest
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method().clone();
    let base = base_url(live, &req);
    let query = req.uri().query().unwrap_or("").to_string();
    let if_match = req
        .headers()
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    // Discovery endpoints.
    match segments.as_slice() {
        ["ServiceProviderConfig"] => {
            *route = "/ServiceProviderConfig".into();
            return match method {
                Method::GET => Ok(json_response(
                    StatusCode::OK,
                    &discovery::service_provider_config(&base, live.settings.max_count),
                )),
                _ => Err(method_not_allowed("GET")),
            };
        }
        ["ResourceTypes", rest @ ..] if rest.len() <= 1 => {
            *route = "/ResourceTypes".into();
            if method != Method::GET {
                return Err(method_not_allowed("GET"));
            }
            let all = live
                .plan
                .resources
                .iter()
                .map(|r| discovery::resource_type(r, &base))
                .collect();
            return discovery_answer(all, rest.first(), "resource type");
        }
        ["Schemas", rest @ ..] if rest.len() <= 1 => {
            *route = "/Schemas".into();
            if method != Method::GET {
                return Err(method_not_allowed("GET"));
            }
            let all = discovery::all_schemas(&live.plan)
                .into_iter()
                .map(|s| discovery::schema(s, &base))
                .collect();
            return discovery_answer(all, rest.first(), "schema");
        }
        [] | [".search"] => {
            *route = format!("/{}", segments.first().unwrap_or(&""));
            let q = match (&method, segments.is_empty()) {
                (&Method::GET, true) => search_from_query(&query)?,
                (&Method::POST, false) => search_from_body(&read_json(live, req).await?)?,
                (_, true) => return Err(method_not_allowed("GET")),
                (_, false) => return Err(method_not_allowed("POST")),
            };
            let ctxs: Vec<ResourceCtx> = live
                .plan
                .resources
                .iter()
                .map(|res| ResourceCtx {
                    res,
                    plan: &live.plan,
                    client: &live.client,
                    write_locks: &state.write_locks,
                    settings: &live.settings,
                    base_url: &base,
                    request_id: Some(request_id),
                })
                .collect();
            return Ok(json_response(
                StatusCode::OK,
                &crate::service::search_all(&ctxs, &q).await?,
            ));
        }
        ["Bulk"] | ["Me"] => {
            *route = format!("/{}", segments[0]);
            return Err(ScimError::new(
                StatusCode::NOT_IMPLEMENTED,
                None,
                format!("/{} is not supported by this service provider", segments[0]),
            ));
        }
        _ => {}
    }

    let Some(first) = segments.first() else {
        return Err(ScimError::not_found("no resource type given; try /Users"));
    };
    let Some(res) = live.plan.by_endpoint(first) else {
        // Entra's Test Connection probes /Groups even for users-only apps.
        if first.eq_ignore_ascii_case("Groups") {
            *route = "/Groups (not mapped)".into();
            return match (segments.len(), &method) {
                (1, &Method::GET) => Ok(json_response(
                    StatusCode::OK,
                    &discovery::list_response(Vec::new(), 0, 1),
                )),
                (2, &Method::POST) if segments[1] == ".search" => Ok(json_response(
                    StatusCode::OK,
                    &discovery::list_response(Vec::new(), 0, 1),
                )),
                (2, _) => Err(ScimError::not_found(
                    "Group not found (groups are not provisioned by this bridge)",
                )),
                _ => Err(ScimError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    None,
                    "groups are not provisioned by this bridge",
                )),
            };
        }
        return Err(ScimError::not_found(format!(
            "no resource type at /{first}"
        )));
    };
    let ctx = ResourceCtx {
        res,
        plan: &live.plan,
        client: &live.client,
        write_locks: &state.write_locks,
        settings: &live.settings,
        base_url: &base,
        request_id: Some(request_id),
    };
    match segments.as_slice() {
        [_] => {
            *route = res.endpoint.to_string();
            match method {
                Method::GET => {
                    let q = search_from_query(&query)?;
                    Ok(json_response(StatusCode::OK, &ctx.search(&q).await?))
                }
                Method::POST => {
                    let body = read_json(live, req).await?;
                    let (scim, version) = ctx.create(&body).await?;
                    let mut r = with_etag(
                        json_response(StatusCode::CREATED, &scim),
                        version.as_deref(),
                    );
                    if let Some(loc) = scim["meta"]["location"]
                        .as_str()
                        .and_then(|l| HeaderValue::from_str(l).ok())
                    {
                        r.headers_mut().insert(http::header::LOCATION, loc);
                    }
                    Ok(r)
                }
                _ => Err(method_not_allowed("GET, POST")),
            }
        }
        [_, ".search"] => {
            *route = format!("{}/.search", res.endpoint);
            if method != Method::POST {
                return Err(method_not_allowed("POST"));
            }
            let body = read_json(live, req).await?;
            let q = search_from_body(&body)?;
            Ok(json_response(StatusCode::OK, &ctx.search(&q).await?))
        }
        [_, id] => {
            *route = format!("{}/{{id}}", res.endpoint);
            let id = decode_segment(id);
            let projection = Projection::parse(
                parse_query(&query)
                    .iter()
                    .find(|(k, _)| k == "attributes")
                    .map(|(_, v)| v.as_str()),
                parse_query(&query)
                    .iter()
                    .find(|(k, _)| k == "excludedAttributes")
                    .map(|(_, v)| v.as_str()),
            )?;
            match method {
                Method::GET => {
                    let (scim, version) = ctx.get(&id, &projection).await?;
                    Ok(with_etag(
                        json_response(StatusCode::OK, &scim),
                        version.as_deref(),
                    ))
                }
                Method::PUT => {
                    let body = read_json(live, req).await?;
                    let (scim, version) = ctx.replace(&id, &body, if_match.as_deref()).await?;
                    Ok(with_etag(
                        json_response(StatusCode::OK, &projection.apply(&res.schema, scim)),
                        version.as_deref(),
                    ))
                }
                Method::PATCH => {
                    let body = read_json(live, req).await?;
                    let (scim, version) = ctx.patch(&id, &body, if_match.as_deref()).await?;
                    Ok(with_etag(
                        json_response(StatusCode::OK, &projection.apply(&res.schema, scim)),
                        version.as_deref(),
                    ))
                }
                Method::DELETE => {
                    ctx.delete(&id, if_match.as_deref()).await?;
                    let mut r = json_response(StatusCode::NO_CONTENT, &Value::Null);
                    *r.body_mut() = http_body_util::Full::new(Bytes::new());
                    r.headers_mut().remove(http::header::CONTENT_TYPE);
                    Ok(r)
                }
                _ => Err(method_not_allowed("GET, PUT, PATCH, DELETE")),
            }
        }
        _ => Err(ScimError::not_found(format!("no SCIM endpoint at {rest}"))),
    }
}
