//! The pure router: (method, path, compiled plan) → a typed [`Route`]. No
//! I/O, so every path is unit-tested here; the log line's `route` and the
//! metrics labels come from the typed route, never from parsing a path again.

use crate::mapping::Plan;
use http::Method;
use percent_encoding::percent_decode_str;
use std::borrow::Cow;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/healthz` (outside the base path; no auth).
    Health,
    /// `/metrics` on the main listener (bearer token required).
    Metrics,
    /// `/readyz` (no auth; details with the bearer token).
    Ready,
    /// A path outside the SCIM base path.
    OutsideBase,
    ServiceProviderConfig,
    /// `/ResourceTypes` or `/ResourceTypes/{id}` (percent-decoded).
    ResourceTypes(Option<String>),
    /// `/Schemas` or `/Schemas/{id}` (percent-decoded).
    Schemas(Option<String>),
    /// The base path itself (`GET` searches every resource type).
    Root,
    /// `/.search` at the root (`POST` searches every resource type).
    RootSearch,
    /// `/Bulk` or `/Me` (not supported).
    Unsupported(&'static str),
    /// `/Groups…` when no resource type is mapped there (Entra's Test
    /// Connection probes it): `segments` after the base path, whether the
    /// second one is `.search`.
    UnmappedGroups {
        segments: usize,
        search: bool,
    },
    /// A first segment no resource type is mapped at (as sent).
    UnknownResource(String),
    /// `/{endpoint}`: the resource type's index in the plan.
    Collection(usize),
    /// `/{endpoint}/.search`.
    Search(usize),
    /// `/{endpoint}/{id}` (the id percent-decoded).
    Item(usize, String),
    /// Deeper than any SCIM path: what followed the base path.
    NotFound(String),
    /// `[auth.oauth]`'s token endpoint (no bearer auth).
    OAuthToken,
}

/// What the router needs besides the request line.
pub struct Router<'a> {
    pub base_path: &'a str,
    pub plan: &'a Plan,
    /// `/metrics` is served on the main listener.
    pub metrics_here: bool,
}

impl Router<'_> {
    pub fn route(&self, path: &str) -> Route {
        match path {
            "/healthz" => return Route::Health,
            "/metrics" if self.metrics_here => return Route::Metrics,
            "/readyz" => return Route::Ready,
            _ => {}
        }
        let Some(rest) = path
            .strip_prefix(self.base_path)
            .filter(|r| r.is_empty() || r.starts_with('/'))
        else {
            return Route::OutsideBase;
        };
        // No route has more than two segments under the base path: the
        // first four are kept (no allocation), and how many there are.
        let mut kept = [""; 4];
        let mut count = 0;
        for s in rest.trim_matches('/').split('/').filter(|s| !s.is_empty()) {
            if let Some(k) = kept.get_mut(count) {
                *k = s;
            }
            count += 1;
        }
        // The patterns below match lists of at most two: four kept stand
        // for any longer path, which matches none of them either.
        let segments = &kept[..count.min(kept.len())];
        let id = |s: Option<&&str>| s.map(|s| decode_segment(s));
        match segments {
            ["ServiceProviderConfig"] => return Route::ServiceProviderConfig,
            ["ResourceTypes", id_seg @ ..] if id_seg.len() <= 1 => {
                return Route::ResourceTypes(id(id_seg.first()))
            }
            ["Schemas", id_seg @ ..] if id_seg.len() <= 1 => {
                return Route::Schemas(id(id_seg.first()))
            }
            [] => return Route::Root,
            [".search"] => return Route::RootSearch,
            ["Bulk"] => return Route::Unsupported("Bulk"),
            ["Me"] => return Route::Unsupported("Me"),
            _ => {}
        }
        let first = segments[0];
        let mapped = self.plan.by_endpoint(first);
        let Some(index) = mapped.and_then(|m| {
            self.plan
                .resources
                .iter()
                .position(|r| std::sync::Arc::ptr_eq(r, m))
        }) else {
            return if first.eq_ignore_ascii_case("Groups") {
                Route::UnmappedGroups {
                    segments: count,
                    search: segments.get(1) == Some(&".search"),
                }
            } else {
                Route::UnknownResource(first.to_string())
            };
        };
        match segments {
            [_] => Route::Collection(index),
            [_, ".search"] => Route::Search(index),
            [_, id] => Route::Item(index, decode_segment(id)),
            _ => Route::NotFound(rest.to_string()),
        }
    }
}

fn decode_segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `endpoint` + `suffix` (`/Users/{id}`), made once per endpoint and kept
/// for the life of the process (a handful), so the log line of a request
/// does not format its route.
fn suffixed(endpoint: &str, suffix: &'static str) -> Cow<'static, str> {
    type Seen = Vec<(&'static str, &'static str, &'static str)>;
    static SEEN: std::sync::RwLock<Seen> = std::sync::RwLock::new(Vec::new());
    let find = |seen: &Seen| {
        seen.iter()
            .find(|(e, s, _)| *e == endpoint && *s == suffix)
            .map(|(_, _, t)| *t)
    };
    if let Some(t) = find(&SEEN.read().unwrap_or_else(|p| p.into_inner())) {
        return Cow::Borrowed(t);
    }
    let mut seen = SEEN.write().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = find(&seen) {
        return Cow::Borrowed(t);
    }
    // Bounded by the endpoints ever configured; beyond a generous number
    // (reloads renaming endpoints again and again), formatted each time.
    if seen.len() >= 512 {
        return Cow::Owned(format!("{endpoint}{suffix}"));
    }
    let endpoint: &'static str = Box::leak(endpoint.to_string().into_boxed_str());
    let t: &'static str = Box::leak(format!("{endpoint}{suffix}").into_boxed_str());
    seen.push((endpoint, suffix, t));
    Cow::Borrowed(t)
}

/// Metrics labels of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels<'a> {
    /// Borrowed from the plan or a fixed name.
    pub resource: Cow<'a, str>,
    pub operation: &'static str,
}

impl<'a> Labels<'a> {
    fn new(resource: impl Into<Cow<'a, str>>, operation: &'static str) -> Labels<'a> {
        Labels {
            resource: resource.into(),
            operation,
        }
    }

    /// `admin` requests (health, readiness, metrics) are not counted.
    pub fn is_admin(&self) -> bool {
        self.resource == "admin"
    }
}

/// What a request came to, as logged and counted: a route, or a refusal by
/// the front door before any route was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Refused before routing (headers too large, or the deadline passed
    /// while authenticating): logged as `-`.
    Unrouted,
    /// Load shedding refused it.
    Overloaded,
    /// Authentication failed.
    Unauthorized,
    Routed(&'a Route),
}

/// `GET` of a collection lists, `POST` creates.
fn collection_op(method: &Method) -> &'static str {
    match *method {
        Method::GET => "list",
        Method::POST => "create",
        _ => "other",
    }
}

impl Outcome<'_> {
    /// The `route` field of the request's log line: a path template, never an id.
    pub fn template<'p>(&self, plan: &'p Plan) -> Cow<'p, str> {
        let endpoint = |i: usize| Cow::Borrowed(plan.resources[i].endpoint.as_str());
        let route = match self {
            Outcome::Unrouted => return "-".into(),
            Outcome::Overloaded => return "(overloaded)".into(),
            Outcome::Unauthorized => return "(unauthorized)".into(),
            Outcome::Routed(r) => r,
        };
        match route {
            Route::Health => "/healthz".into(),
            Route::Metrics => "/metrics".into(),
            Route::Ready => "/readyz".into(),
            Route::ServiceProviderConfig => "/ServiceProviderConfig".into(),
            Route::ResourceTypes(_) => "/ResourceTypes".into(),
            Route::Schemas(_) => "/Schemas".into(),
            Route::Root => "/".into(),
            Route::RootSearch => "/.search".into(),
            Route::Unsupported("Bulk") => "/Bulk".into(),
            Route::Unsupported("Me") => "/Me".into(),
            Route::Unsupported(what) => format!("/{what}").into(),
            Route::UnmappedGroups { .. } => "/Groups (not mapped)".into(),
            Route::Collection(i) => endpoint(*i),
            Route::Search(i) => suffixed(&plan.resources[*i].endpoint, "/.search"),
            Route::Item(i, _) => suffixed(&plan.resources[*i].endpoint, "/{id}"),
            Route::OAuthToken => "/oauth2/token".into(),
            Route::OutsideBase | Route::UnknownResource(_) | Route::NotFound(_) => "-".into(),
        }
    }

    /// (resource, operation) metrics labels: bounded, never an id.
    pub fn labels<'p>(&self, method: &Method, plan: &'p Plan) -> Labels<'p> {
        let name = |i: usize| plan.resources[i].endpoint.trim_start_matches('/');
        let route = match self {
            Outcome::Overloaded => return Labels::new("(overloaded)", collection_op(method)),
            Outcome::Unrouted | Outcome::Unauthorized => return Labels::new("none", "other"),
            Outcome::Routed(r) => r,
        };
        match route {
            Route::Health | Route::Metrics | Route::Ready => Labels::new("admin", "get"),
            Route::ServiceProviderConfig | Route::ResourceTypes(_) | Route::Schemas(_) => {
                Labels::new("discovery", "get")
            }
            Route::RootSearch => Labels::new(".search", collection_op(method)),
            Route::Unsupported(what) => Labels::new(*what, collection_op(method)),
            Route::UnmappedGroups { .. } => Labels::new("Groups", collection_op(method)),
            Route::Collection(i) => Labels::new(name(*i), collection_op(method)),
            Route::Search(i) => Labels::new(name(*i), "search"),
            Route::Item(i, _) => Labels::new(
                name(*i),
                match *method {
                    Method::GET => "get",
                    Method::PUT => "replace",
                    Method::PATCH => "patch",
                    Method::DELETE => "delete",
                    _ => "other",
                },
            ),
            Route::OAuthToken => Labels::new("oauth", "token"),
            Route::Root | Route::OutsideBase | Route::UnknownResource(_) | Route::NotFound(_) => {
                Labels::new("none", "other")
            }
        }
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
