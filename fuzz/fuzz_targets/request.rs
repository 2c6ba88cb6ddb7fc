//! Request handling: raw method, path and query, headers and body through the
//! bridge's front door (router, auth, body limits, routes, service) with the
//! shipped settings and Peripass mapping, against a recording backend that
//! answers every call with a fixed Peripass record (`peripass_responder`).
//!
//! Input, HTTP-like text: `METHOD SP path?query LF`, header lines
//! `Name: value LF` up to an empty line, then the body. Requests the HTTP
//! layer itself would refuse (bad method token, unparsable URI) are skipped.
//! A valid bearer token is added unless the input sends `Authorization`.
//!
//! Checks besides "no panic":
//! - the answer is a valid HTTP response; every 4xx/5xx carries a SCIM error
//!   body (`schemas` the Error URN, `status` the response's status), except
//!   `/readyz`'s own `503` document;
//! - no 5xx (the backend never fails here, so any 5xx comes from client
//!   input), except `501` for what SCIM lets a server leave out (`/Bulk`)
//!   and `/readyz` before the first backend probe;
//! - every backend call is well-formed: a path of the mapping's shapes, each
//!   segment percent-encoded, a query only on list calls, a body only where
//!   the mapping writes one;
//! - a list call never widens a filter: when the client's filter has a
//!   top-level conjunct `userName eq "…"`, `externalId eq "…"` (users) or
//!   `displayName eq "…"` (teams), every list call to that collection carries
//!   the backend parameter;
//! - a GET or a request answered 4xx sends no write to the backend.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use scim_bridge::backend::{BackendClient, RecordedCall, Script};
use scim_bridge::scim::attr::AttrPath;
use scim_bridge::scim::filter::{parse_filter, CompareOp, Filter};
use scim_bridge::server::{AppState, Live};
use scim_bridge_fuzz::{call_path, percent_decode, peripass_responder};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

const TOKEN: &str = "fuzz-token-0123456789abcdefghijklmnopqrstuvwxyz";
const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

struct Harness {
    rt: tokio::runtime::Runtime,
    state: AppState,
    script: Arc<Script>,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let settings_file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/scim-bridge.toml");
        let env = HashMap::from([
            ("SCIM_BRIDGE_TOKEN".to_string(), TOKEN.to_string()),
            ("PERIPASS_URL".to_string(), "http://127.0.0.1:9".to_string()),
            ("PERIPASS_API_KEY".to_string(), "fuzz-api-key".to_string()),
            // The token above is written in this repository, so it is on the
            // published list that `serve` refuses unless this is set.
            (
                "SCIM_BRIDGE__AUTH__INSECURE_ALLOW_WEAK_TOKENS".to_string(),
                "true".to_string(),
            ),
        ]);
        let (settings, plan) =
            scim_bridge::load(&settings_file, Some(env)).expect("the shipped settings load");
        let (client, script) = BackendClient::scripted(peripass_responder());
        let state = AppState::from_live(Live::with_client(settings, plan, client));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        Harness { rt, state, script }
    })
}

struct RawRequest<'a> {
    method: &'a [u8],
    target: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: &'a [u8],
}

fn split(data: &[u8]) -> Option<RawRequest<'_>> {
    let line_end = data.iter().position(|&b| b == b'\n')?;
    let (line, mut rest) = (&data[..line_end], &data[line_end + 1..]);
    let sp = line.iter().position(|&b| b == b' ')?;
    let (method, target) = (&line[..sp], &line[sp + 1..]);
    let mut headers = Vec::new();
    loop {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let h = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or(&[]);
        if h.is_empty() {
            break;
        }
        if let Some(c) = h.iter().position(|&b| b == b':') {
            let v = &h[c + 1..];
            let v = v.strip_prefix(b" ").unwrap_or(v);
            headers.push((&h[..c], v));
        }
        if rest.is_empty() {
            break;
        }
    }
    Some(RawRequest {
        method,
        target,
        headers,
        body: rest,
    })
}

/// Top-level `and` terms of a filter.
fn conjuncts<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
    match f {
        Filter::And(a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        other => out.push(other),
    }
}

fn plain(p: &AttrPath, name: &str) -> bool {
    p.urn.is_none() && p.sub.is_none() && p.name.eq_ignore_ascii_case(name)
}

/// Backend list parameters the filter must turn into, per list path.
fn required_params(filter: &Filter) -> Vec<(&'static str, &'static str)> {
    let mut terms = Vec::new();
    conjuncts(filter, &mut terms);
    let mut out = Vec::new();
    for t in terms {
        if let Filter::Compare(p, CompareOp::Eq, Value::String(_)) = t {
            if plain(p, "userName") {
                out.push(("/api/v1/users", "login"));
            } else if plain(p, "externalId") {
                out.push(("/api/v1/users", "externalRef"));
            } else if plain(p, "displayName") {
                out.push(("/api/v1/teams", "name"));
            }
        }
    }
    out
}

/// The client's filter: `filter=` in the query (GET), or in a `.search` body.
fn client_filter(method: &http::Method, uri: &http::Uri, body: &[u8]) -> Option<Filter> {
    let text = if *method == http::Method::POST && uri.path().ends_with("/.search") {
        let v: Value = serde_json::from_slice(body).ok()?;
        v.get("filter")?.as_str()?.to_string()
    } else {
        scim_bridge::scim::query::query_pairs(uri.query()?)
            .filter(|(k, _)| k.eq_ignore_ascii_case("filter"))
            .last()?
            .1
            .into_owned()
    };
    parse_filter(&text).ok()
}

/// Is `seg` one percent-encoded path segment?
fn encoded_segment(seg: &str) -> bool {
    !seg.is_empty()
        && seg != "."
        && seg != ".."
        && seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@".contains(&b))
}

fn check_call(call: &RecordedCall) {
    let uri: http::Uri = call
        .url
        .parse()
        .unwrap_or_else(|e| panic!("call URL {:?}: {e}", call.url));
    assert_eq!(
        uri.authority().map(|a| a.as_str()),
        Some("127.0.0.1:9"),
        "{call:?}"
    );
    let path = call_path(&call.url);
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for s in &segs {
        assert!(encoded_segment(s), "segment {s:?} of {call:?}");
    }
    let m = call.method.as_str();
    let list = matches!(segs.as_slice(), ["api", "v1", "users" | "teams"]) && m == "GET";
    let shape_ok = match segs.as_slice() {
        ["api", "v1", "users" | "teams"] => matches!(m, "GET" | "POST"),
        ["api", "v1", "users", id] => {
            id.bytes().all(|b| b.is_ascii_digit()) && matches!(m, "GET" | "PUT" | "DELETE")
        }
        ["api", "v1", "teams", id] => {
            percent_decode(id).starts_with("T-") && matches!(m, "GET" | "PUT" | "DELETE")
        }
        ["api", "v1", "teams", _, "members"] => m == "POST",
        ["api", "v1", "teams", _, "members", member] => {
            m == "DELETE" && member.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    };
    assert!(shape_ok, "unexpected backend call {call:?}");
    assert!(
        list || uri.query().is_none(),
        "a query on a non-list call {call:?}"
    );
    let writes_body = matches!(m, "POST" | "PUT");
    assert_eq!(call.body.is_some(), writes_body, "body of {call:?}");
    if let Some(b) = &call.body {
        serde_json::from_str::<Value>(b).unwrap_or_else(|e| panic!("body of {call:?}: {e}"));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(raw) = split(data) else { return };
    let Ok(method) = http::Method::from_bytes(raw.method) else {
        return;
    };
    let Ok(uri) = http::Uri::try_from(raw.target) else {
        return;
    };
    if uri.scheme().is_some() || !uri.path().starts_with('/') {
        return;
    }
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(uri.clone());
    let mut has_auth = false;
    let mut has_host = false;
    for (k, v) in &raw.headers {
        let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k),
            http::HeaderValue::from_bytes(v),
        ) else {
            continue;
        };
        has_auth |= k == http::header::AUTHORIZATION;
        has_host |= k == http::header::HOST;
        req = req.header(k, v);
    }
    if !has_auth {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    if !has_host {
        req = req.header(http::header::HOST, "scim-bridge.local");
    }
    let Ok(req) = req.body(http_body_util::Full::new(Bytes::copy_from_slice(raw.body))) else {
        return;
    };
    let h = harness();
    h.script.calls.lock().unwrap().clear();
    let (status, headers, body) = h.rt.block_on(async {
        let resp = scim_bridge::server::handle_request(&h.state, req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("a response body")
            .to_bytes();
        (status, headers, body)
    });
    let calls = std::mem::take(&mut *h.script.calls.lock().unwrap());

    // A valid HTTP answer.
    assert!((100..600).contains(&status.as_u16()));
    for (k, v) in &headers {
        assert!(
            !k.as_str().is_empty() && v.to_str().is_ok(),
            "header {k}: {v:?}"
        );
    }
    // `/readyz` answers its own readiness document (`503` until the first
    // backend probe, which never runs here).
    let not_ready = uri.path() == "/readyz" && status == http::StatusCode::SERVICE_UNAVAILABLE;
    // A HEAD answer is the GET's without its body (RFC 9110 §9.3.2).
    let head = method == http::Method::HEAD;
    if head {
        assert!(body.is_empty(), "a HEAD answer with a body: {body:?}");
    }
    if (status.is_client_error() || status.is_server_error()) && !not_ready && !head {
        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{status} without a JSON body ({e}): {:?}",
                String::from_utf8_lossy(&body)
            )
        });
        let schemas = v.get("schemas").and_then(Value::as_array);
        assert!(
            schemas.is_some_and(|s| s.iter().any(|u| u == ERROR_URN)),
            "{status} body is not a SCIM error: {v}"
        );
        assert_eq!(
            v.get("status").and_then(Value::as_str),
            Some(status.as_str()),
            "SCIM error status of {v}"
        );
    }
    // `501` is SCIM's answer for what the service provider does not offer
    // (`/Bulk`, `/Me`); any other 5xx comes from the bridge itself.
    if status.is_server_error() && status != http::StatusCode::NOT_IMPLEMENTED {
        assert!(
            not_ready,
            "{status} for client input: {}",
            String::from_utf8_lossy(&body)
        );
    }

    // Every backend call well-formed.
    for c in &calls {
        check_call(c);
    }
    let writes = calls.iter().filter(|c| c.method != "GET").count();
    if method == http::Method::GET || method == http::Method::HEAD {
        assert_eq!(writes, 0, "a {method} wrote to the backend: {calls:?}");
    }
    if status.is_client_error() {
        assert_eq!(writes, 0, "{status} after backend writes: {calls:?}");
    }

    // No widened list call.
    if let Some(filter) = client_filter(&method, &uri, raw.body) {
        for (list_path, param) in required_params(&filter) {
            for c in calls
                .iter()
                .filter(|c| c.method == "GET" && call_path(&c.url) == list_path)
            {
                let q = c.url.split_once('?').map_or("", |(_, q)| q);
                assert!(
                    q.split('&').any(|kv| kv.split('=').next() == Some(param)),
                    "filter {filter:?} widened to {c:?}"
                );
            }
        }
    }
});
