//! Dispatch: a typed [`Route`] → discovery documents or resource operations.

use super::admin::{health_response, metrics_response};
use super::body::read_json;
use super::probe::readyz;
use super::router::Route;
use super::{json_bytes, json_response, AppState, Live, Resp};
use crate::mapping::plan::ResourcePlan;
use crate::scim::discovery;
use crate::scim::error::ScimError;
use crate::scim::filter::parse_filter;
use crate::scim::query::{query_pairs, Projection};
use crate::service::{ResourceCtx, SearchQuery};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use serde_json::Value;
use std::borrow::Cow;

/// `405` with the `Allow` header RFC 9110 §15.5.6 asks for (`HEAD` is
/// taken wherever `GET` is).
pub(super) fn method_not_allowed(allowed: &'static str) -> ScimError {
    let mut e = ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        format!("method not allowed here; allowed: {allowed}"),
    );
    e.allow = Some(allowed);
    e
}

/// The public SCIM base URL: configured, or derived from the request's
/// authority: the request target's when it has one (absolute form, HTTP/2's
/// `:authority`; RFC 9112 §3.2.2 says to ignore `Host` then, and the tenant
/// is chosen the same way), else `Host`.
fn base_url<B>(live: &Live, req: &Request<B>) -> String {
    if let Some(u) = &live.settings.public_url {
        return u.clone();
    }
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .filter(|h| {
            !h.is_empty()
                && h.len() < 256
                && h.bytes().all(|b| {
                    matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .map(std::borrow::Cow::Borrowed)
        .unwrap_or_else(|| live.settings.listen.to_string().into());
    let scheme = if live.settings.tls.is_some() {
        "https://"
    } else {
        "http://"
    };
    let base = &live.settings.base_path;
    let mut url = String::with_capacity(scheme.len() + host.len() + base.len());
    url.push_str(scheme);
    url.push_str(&host);
    url.push_str(base);
    url
}

/// A discovery collection (`/Schemas`, `/ResourceTypes`) as a ListResponse,
/// or the one document whose `id` matches (case-insensitively) the path's last segment.
fn discovery_answer(all: Vec<Value>, id: Option<&str>, what: &str) -> Result<Resp, ScimError> {
    let Some(id) = id else {
        let n = all.len();
        return Ok(json_response(
            StatusCode::OK,
            &discovery::list_response(all, n, 1),
        ));
    };
    all.into_iter()
        .find(|d| d["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
        .map(|d| json_response(StatusCode::OK, &d))
        .ok_or_else(|| ScimError::not_found(format!("{what} {id:?} not found")))
}

fn with_etag(mut r: Resp, version: Option<&str>) -> Resp {
    if let Some(v) =
        version.and_then(|v| HeaderValue::from_str(&crate::mapping::plan::weak_etag(v)).ok())
    {
        r.headers_mut().insert(http::header::ETAG, v);
    }
    r
}

use crate::mapping::plan::etag_list_matches;

fn parse_usize(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, got {v:?}")))
}

/// A query's `attributes` and `excludedAttributes`, the last of each
/// counting, for [`Projection::parse`].
#[derive(Default)]
struct ProjectionParams<'q> {
    attributes: Option<Cow<'q, str>>,
    excluded: Option<Cow<'q, str>>,
}

impl<'q> ProjectionParams<'q> {
    /// Keeps `v` when `k` names one of the two (case-insensitively); gives
    /// it back otherwise.
    fn take(&mut self, k: &str, v: Cow<'q, str>) -> Option<Cow<'q, str>> {
        if k.eq_ignore_ascii_case("attributes") {
            self.attributes = Some(v);
        } else if k.eq_ignore_ascii_case("excludedAttributes") {
            self.excluded = Some(v);
        } else {
            return Some(v);
        }
        None
    }

    fn parse(&self) -> Result<Projection, ScimError> {
        Projection::parse(self.attributes.as_deref(), self.excluded.as_deref())
    }
}

/// The projection a query asks for (a GET of one resource).
fn projection_from_query(query: &str) -> Result<Projection, ScimError> {
    let mut p = ProjectionParams::default();
    for (k, v) in query_pairs(query) {
        p.take(&k, v);
    }
    p.parse()
}

fn search_from_query(query: &str) -> Result<SearchQuery, ScimError> {
    let mut q = SearchQuery {
        start_index: 1,
        ..Default::default()
    };
    let mut projection = ProjectionParams::default();
    // Parameter names are matched as SCIM matches attribute names (and as
    // `.search` bodies are read): case-insensitively. A `FILTER=` taken for
    // an unknown parameter would widen the query to the whole collection.
    for (k, v) in query_pairs(query) {
        let Some(v) = projection.take(&k, v) else {
            continue;
        };
        let is = |name: &str| k.eq_ignore_ascii_case(name);
        match () {
            _ if is("filter") => {
                q.filter = Some(parse_filter(&v).map_err(|e| {
                    ScimError::bad_request("invalidFilter", format!("invalid filter: {e}"))
                })?)
            }
            _ if is("startIndex") => q.start_index = parse_usize("startIndex", &v)?.max(1) as usize,
            _ if is("count") => q.count = Some(parse_usize("count", &v)?.max(0) as usize),
            _ => {}
        }
    }
    q.projection = projection.parse()?;
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

/// A filter comparing an attribute in a way its type makes meaningless
/// (`active gt "a"`, `meta.created gt "notadate"`) is `400 invalidFilter`.
fn check_filter_types(res: &ResourcePlan, q: &SearchQuery) -> Result<(), ScimError> {
    match &q.filter {
        Some(f) => crate::scim::filter::check_types(f, res)
            .map_err(|e| ScimError::bad_request("invalidFilter", e)),
        None => Ok(()),
    }
}

fn resource_ctx<'a>(
    state: &'a AppState,
    live: &'a Live,
    res: &'a ResourcePlan,
    base_url: &'a str,
    request_id: &'a str,
) -> ResourceCtx<'a> {
    ResourceCtx {
        res,
        plan: &live.plan,
        client: &live.client,
        write_locks: &state.write_locks,
        ongoing: &state.ongoing,
        settings: &live.settings,
        base_url,
        request_id: Some(request_id),
        if_none_match: None,
    }
}

/// Answers a request whose front door checks passed.
/// The write paths' futures (body read, create, replace, PATCH, delete)
/// and the root search are boxed: they are rare next to reads, and inline
/// they would make every request's future, which the server moves several
/// times per request, kilobytes larger.
pub(super) async fn dispatch<B>(
    state: &AppState,
    live: &Live,
    req: Request<B>,
    route: &Route,
    request_id: &str,
    deadline: tokio::time::Instant,
) -> Result<Resp, ScimError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let method = req.method().clone();
    let base = base_url(live, &req);
    let query = req.uri().query().unwrap_or("").to_string();
    let if_match = req
        .headers()
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let if_none_match = req
        .headers()
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ctx = |res| resource_ctx(state, live, res, &base, request_id);
    let only_get = |method: &Method| match *method {
        Method::GET => Ok(()),
        _ => Err(method_not_allowed("GET, HEAD")),
    };
    // RFC 7644 §4: the discovery endpoints take no filter, and "If a
    // "filter" is provided, the service provider SHOULD respond with HTTP
    // status code 403", so that no client takes the whole list for matches.
    let discovery_get = |method: &Method| {
        only_get(method)?;
        if query_pairs(&query).any(|(k, _)| k.eq_ignore_ascii_case("filter")) {
            return Err(ScimError::new(
                StatusCode::FORBIDDEN,
                None,
                "filtering is not supported on the discovery endpoints (RFC 7644 §4)",
            ));
        }
        Ok(())
    };
    // Each route's work is boxed where it waits: inline, the largest (a
    // GET's, 6.7 kB with its backend call) made this future 14 kB for every
    // request, copied whole at each move (now 1.4 kB).
    match route {
        Route::OAuthToken => Ok(Box::pin(super::oauth::token_endpoint(
            live.oauth.as_ref(),
            &state.oauth_limiter,
            req,
        ))
        .await),
        Route::Health => {
            only_get(&method)?;
            Ok(health_response())
        }
        // `front` answers these (details and metrics need the token there).
        Route::Metrics => Ok(metrics_response(&state.metrics)),
        Route::Ready => Ok(readyz(state, live, false)),
        // Answered without a token: it names nothing of the configuration.
        Route::OutsideBase => Err(ScimError::not_found("no SCIM endpoint here")),
        Route::ServiceProviderConfig => {
            discovery_get(&method)?;
            Ok(json_response(
                StatusCode::OK,
                &discovery::service_provider_config(
                    &base,
                    live.settings.max_count,
                    !live.plan.resources.is_empty()
                        && live.plan.resources.iter().all(|r| r.version.is_some()),
                ),
            ))
        }
        Route::ResourceTypes(id) => {
            discovery_get(&method)?;
            let all = live
                .plan
                .resources
                .iter()
                .map(|r| discovery::resource_type(r, &base))
                .collect();
            discovery_answer(all, id.as_deref(), "resource type")
        }
        Route::Schemas(id) => {
            discovery_get(&method)?;
            let all = discovery::all_schemas(&live.plan)
                .into_iter()
                .map(|s| discovery::schema(s, &base))
                .collect();
            discovery_answer(all, id.as_deref(), "schema")
        }
        Route::Root | Route::RootSearch => {
            let q = match (&method, route) {
                (&Method::GET, Route::Root) => search_from_query(&query)?,
                (&Method::POST, Route::RootSearch) => {
                    search_from_body(&Box::pin(read_json(live, req, deadline)).await?)?
                }
                (_, Route::Root) => return Err(method_not_allowed("GET, HEAD")),
                _ => return Err(method_not_allowed("POST")),
            };
            let ctxs: Vec<ResourceCtx> = live.plan.resources.iter().map(|r| ctx(r)).collect();
            Ok(json_bytes(
                StatusCode::OK,
                Box::pin(crate::service::search_all(&ctxs, &q))
                    .await?
                    .into_json(),
            ))
        }
        Route::Unsupported(what) => Err(ScimError::new(
            StatusCode::NOT_IMPLEMENTED,
            None,
            format!("/{what} is not supported by this service provider"),
        )),
        Route::UnmappedGroups { segments, search } => match (segments, &method) {
            (1, &Method::GET) => Ok(json_response(
                StatusCode::OK,
                &discovery::list_response(Vec::new(), 0, 1),
            )),
            (2, &Method::POST) if *search => Ok(json_response(
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
        },
        Route::UnknownResource(first) => Err(ScimError::not_found(format!(
            "no resource type at /{first}"
        ))),
        Route::NotFound(rest) => Err(ScimError::not_found(format!("no SCIM endpoint at {rest}"))),
        Route::Collection(i) => {
            let ctx = ctx(&live.plan.resources[*i]);
            match method {
                Method::GET => {
                    let q = search_from_query(&query)?;
                    ctx.check_filter_attributes(&q)?;
                    check_filter_types(ctx.res, &q)?;
                    Ok(json_bytes(
                        StatusCode::OK,
                        Box::pin(ctx.search(&q)).await?.into_json(),
                    ))
                }
                Method::POST => {
                    let body = Box::pin(read_json(live, req, deadline)).await?;
                    let (scim, version) = Box::pin(ctx.create(&body)).await?;
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
                _ => Err(method_not_allowed(ctx.res.allow_collection())),
            }
        }
        Route::Search(i) => {
            if method != Method::POST {
                return Err(method_not_allowed("POST"));
            }
            let body = Box::pin(read_json(live, req, deadline)).await?;
            let q = search_from_body(&body)?;
            let ctx = ctx(&live.plan.resources[*i]);
            ctx.check_filter_attributes(&q)?;
            check_filter_types(ctx.res, &q)?;
            Ok(json_bytes(
                StatusCode::OK,
                Box::pin(ctx.search(&q)).await?.into_json(),
            ))
        }
        Route::Item(i, id) => {
            let res = &live.plan.resources[*i];
            // `If-None-Match` goes with the writes (PUT, PATCH, DELETE),
            // which check it under their lock; a GET answers it below.
            let ctx = ResourceCtx {
                if_none_match: if_none_match.as_deref(),
                ..ctx(res)
            };
            let projection = projection_from_query(&query)?;
            match method {
                Method::GET => {
                    let (body, version) = Box::pin(ctx.get(id, &projection)).await?;
                    // RFC 7232 §3.1: a GET whose `If-Match` names no current
                    // version is `412`, as a write's is.
                    if if_match
                        .as_deref()
                        .is_some_and(|h| !etag_list_matches(h, version.as_deref()))
                    {
                        return Err(ScimError::new(
                            StatusCode::PRECONDITION_FAILED,
                            None,
                            "If-Match does not match the resource's current version",
                        ));
                    }
                    // RFC 7644 §3.14: unchanged since the version the
                    // client holds → `304`, an empty body.
                    if if_none_match
                        .as_deref()
                        .is_some_and(|h| etag_list_matches(h, version.as_deref()))
                    {
                        let mut r = json_bytes(StatusCode::NOT_MODIFIED, Vec::new());
                        r.headers_mut().remove(http::header::CONTENT_TYPE);
                        return Ok(with_etag(r, version.as_deref()));
                    }
                    Ok(with_etag(
                        json_bytes(StatusCode::OK, body),
                        version.as_deref(),
                    ))
                }
                Method::PUT => {
                    let body = Box::pin(read_json(live, req, deadline)).await?;
                    let (scim, version) =
                        Box::pin(ctx.replace(id, &body, if_match.as_deref())).await?;
                    Ok(with_etag(
                        json_response(StatusCode::OK, &projection.apply(&res.schema, scim)),
                        version.as_deref(),
                    ))
                }
                Method::PATCH => {
                    let body = Box::pin(read_json(live, req, deadline)).await?;
                    let (scim, version) =
                        Box::pin(ctx.patch(id, body, if_match.as_deref())).await?;
                    if scim.is_null() {
                        // Made, but not read back (see `patch_membership`).
                        return Ok(no_content());
                    }
                    Ok(with_etag(
                        json_response(StatusCode::OK, &projection.apply(&res.schema, scim)),
                        version.as_deref(),
                    ))
                }
                Method::DELETE => {
                    Box::pin(ctx.delete(id, if_match.as_deref())).await?;
                    Ok(no_content())
                }
                _ => Err(method_not_allowed(res.allow_item())),
            }
        }
    }
}

/// `204 No Content`: no body, no content type.
fn no_content() -> Resp {
    let mut r = json_response(StatusCode::NO_CONTENT, &Value::Null);
    *r.body_mut() = http_body_util::Full::new(Bytes::new());
    r.headers_mut().remove(http::header::CONTENT_TYPE);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz finding (`fuzz/regressions/request/widened-filter-param-case`):
    /// `fIlter=` was ignored as an unknown parameter, so a filtered query
    /// listed the whole collection.
    #[test]
    fn query_parameter_names_are_case_insensitive() {
        let q = search_from_query(
            "excludedAttributes=members&fIlter=displayName+eq+%22Team+1%22&STARTINDEX=2&Count=3",
        )
        .unwrap();
        assert!(q.filter.is_some(), "the filter is applied");
        assert_eq!((q.start_index, q.count), (2, Some(3)));
        assert!(!q.projection.wants("members"));
        assert!(search_from_query("FILTER=userName+zz+1").is_err());
    }

    /// A list and a single resource read `attributes` and
    /// `excludedAttributes` alike: names in any case, the last of a
    /// repeated one counting, other parameters left to the search.
    #[test]
    fn projection_parameters_are_read_alike_for_lists_and_resources() {
        let query = "Attributes=displayName&ATTRIBUTES=userName&excludedattributes=members&count=2";
        let one = projection_from_query(query).unwrap();
        let list = search_from_query(query).unwrap();
        for p in [&one, &list.projection] {
            let names = |l: &[crate::scim::attr::AttrPath]| {
                l.iter().map(|a| a.name.clone()).collect::<Vec<_>>()
            };
            assert_eq!(names(&p.attributes), ["userName"]);
            assert_eq!(names(&p.excluded), ["members"]);
        }
        assert_eq!(list.count, Some(2));
        assert!(projection_from_query("attributes=emails[type+eq+%22work%22]").is_err());
    }

    #[test]
    fn if_none_match_compares_weakly() {
        for (h, v, hit) in [
            ("W/\"3\"", Some("3"), true),
            ("\"3\"", Some("3"), true),
            ("W/\"2\", W/\"3\"", Some("3"), true),
            ("*", Some("3"), true),
            ("*", None, true),
            ("W/\"2\"", Some("3"), false),
            ("W/\"3\"", None, false),
        ] {
            assert_eq!(etag_list_matches(h, v), hit, "{h} {v:?}");
        }
    }
}
