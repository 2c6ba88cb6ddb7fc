//! Routing: SCIM paths → discovery documents or resource operations.

use super::{json_response, AppState, Live, Resp};
use crate::scim::discovery;
use crate::scim::error::ScimError;
use crate::scim::filter::parse_filter;
use crate::scim::query::{parse_query, Projection};
use crate::service::{ResourceCtx, SearchQuery};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

fn authorized<B>(live: &Live, req: &Request<B>) -> bool {
    let Some(h) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = h.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let token = token.trim().as_bytes();
    // Compare against every configured token without stopping early.
    let mut ok = subtle::Choice::from(0u8);
    for t in &live.settings.bearer_tokens {
        ok |= t.expose().as_bytes().ct_eq(token);
    }
    ok.into()
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
    B: hyper::body::Body<Data = Bytes> + Send,
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
    let too_large = || {
        ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("the request body exceeds {limit} bytes"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    let body: Bytes = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                ScimError::invalid_syntax("the request body could not be read")
            }
        })?
        .to_bytes();
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
    B: hyper::body::Body<Data = Bytes> + Send,
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
    if !authorized(live, &req) {
        *route = "(unauthorized)".into();
        return Err(ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "missing or invalid bearer token",
        ));
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
            let all: Vec<Value> = live
                .plan
                .resources
                .iter()
                .map(|r| discovery::resource_type(r, &base))
                .collect();
            return match rest.first() {
                None => {
                    let n = all.len();
                    Ok(json_response(
                        StatusCode::OK,
                        &discovery::list_response(all, n, 1),
                    ))
                }
                Some(name) => {
                    let name = decode_segment(name);
                    all.into_iter()
                        .find(|r| r["id"] == name.as_str())
                        .map(|r| json_response(StatusCode::OK, &r))
                        .ok_or_else(|| {
                            ScimError::not_found(format!("resource type {name:?} not found"))
                        })
                }
            };
        }
        ["Schemas", rest @ ..] if rest.len() <= 1 => {
            *route = "/Schemas".into();
            if method != Method::GET {
                return Err(method_not_allowed("GET"));
            }
            let all: Vec<Value> = discovery::all_schemas(&live.plan)
                .into_iter()
                .map(|s| discovery::schema(s, &base))
                .collect();
            return match rest.first() {
                None => {
                    let n = all.len();
                    Ok(json_response(
                        StatusCode::OK,
                        &discovery::list_response(all, n, 1),
                    ))
                }
                Some(urn) => {
                    let urn = decode_segment(urn);
                    all.into_iter()
                        .find(|s| {
                            s["id"]
                                .as_str()
                                .is_some_and(|i| i.eq_ignore_ascii_case(&urn))
                        })
                        .map(|s| json_response(StatusCode::OK, &s))
                        .ok_or_else(|| ScimError::not_found(format!("schema {urn:?} not found")))
                }
            };
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
