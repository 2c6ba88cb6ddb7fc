//! `scim-bridge explain`: shows the backend calls a SCIM request would cause,
//! and the SCIM answer, without sending anything. It runs the real request
//! path against a scripted backend that records each call, so what it prints
//! is what `serve` does.

use crate::backend::{BackendClient, BackendResponse, RecordedCall};
use crate::config::EnvMap;
use crate::mapping::plan::{ItemsExpr, ReadExpr, ResourcePlan};
use crate::server::{AppState, Live};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{json, Map, Value};

/// What `explain` found.
#[derive(Debug)]
pub struct Report {
    pub calls: Vec<RecordedCall>,
    pub status: StatusCode,
    pub body: Option<Value>,
}

/// A stand-in backend record built from the mapping: every mapped field holds
/// a placeholder, the id is the one asked for, the version is 1.
fn sample_record(res: &ResourcePlan, id: &str) -> Value {
    let mut rec = Value::Object(Map::new());
    for a in &res.attributes {
        if let Some(f) = &a.write {
            let v = if a.members.is_some() {
                json!([])
            } else if let Some((_, b)) = a
                .values
                .iter()
                .find(|(k, _)| k == "true")
                .or(a.values.first())
            {
                b.clone()
            } else {
                match a.kind {
                    crate::scim::attr::AttrKind::Boolean => json!(true),
                    _ => Value::String(format!("<{f}>")),
                }
            };
            let _ = f.set(&mut rec, v);
        }
    }
    let idv = match res.id.kind {
        crate::mapping::model::IdKind::Integer => {
            id.parse::<u64>().map(Value::from).unwrap_or(json!(1))
        }
        crate::mapping::model::IdKind::String => Value::String(id.to_string()),
    };
    let _ = res.id.field.set(&mut rec, idv);
    if let Some(vf) = res.version.as_ref().and_then(|v| v.field.as_ref()) {
        let _ = vf.set(&mut rec, json!(1));
    }
    rec
}

fn place(expr: &ReadExpr, v: Value) -> Value {
    match expr {
        ReadExpr::Field(p) => {
            let mut out = Value::Object(Map::new());
            let _ = p.set(&mut out, v);
            out
        }
        _ => v,
    }
}

fn ok(body: Value) -> BackendResponse {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::ETAG, http::HeaderValue::from_static("\"1\""));
    BackendResponse {
        status: StatusCode::OK,
        headers,
        body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    }
}

/// Runs `method path` (with an optional JSON body) through the bridge against
/// a recording backend. `response` is the sample backend answer to every call;
/// without it the answer is synthesized from the mapping.
pub async fn explain(
    settings_file: &std::path::Path,
    env: EnvMap,
    method: Method,
    path: &str,
    body: Option<String>,
    response: Option<Value>,
) -> Result<Report, crate::load::LoadError> {
    explain_tenant(settings_file, None, env, method, path, body, response).await
}

/// [`explain`] for one of the `[[tenants]]` (`tenant` is required when the
/// settings list tenants, and refused when they do not).
pub async fn explain_tenant(
    settings_file: &std::path::Path,
    tenant: Option<&str>,
    env: EnvMap,
    method: Method,
    path: &str,
    body: Option<String>,
    response: Option<Value>,
) -> Result<Report, crate::load::LoadError> {
    let (settings, plan) = crate::load::load(settings_file, env.clone())?;
    let names: Vec<&str> = settings.tenants.iter().map(|t| t.name.as_str()).collect();
    let refuse = |message: String| {
        crate::load::LoadError::Settings(crate::config::ConfigError::Invalid {
            file: settings_file.display().to_string(),
            key: "tenants".into(),
            message,
        })
    };
    let (settings, plan) = match (
        tenant,
        settings
            .tenants
            .iter()
            .find(|t| Some(t.name.as_str()) == tenant),
    ) {
        (None, _) if names.is_empty() => (settings, plan),
        (None, _) => {
            return Err(refuse(format!(
                "these settings serve several tenants: name one with --tenant ({})",
                names.join(", ")
            )))
        }
        (Some(_), Some(t)) => crate::load::load_tenant(t, &settings, env)?,
        (Some(name), None) if names.is_empty() => {
            return Err(refuse(format!(
                "--tenant {name}: these settings list no [[tenants]]"
            )))
        }
        (Some(name), None) => {
            return Err(refuse(format!(
                "no tenant {name:?} (tenants: {})",
                names.join(", ")
            )))
        }
    };
    let base_path = settings.base_path.clone();
    let token = settings
        .bearer_tokens
        .first()
        .map(|t| t.expose().to_string())
        .unwrap_or_default();
    let p2 = plan.clone();
    let (client, script) = BackendClient::scripted(Box::new(move |call: &RecordedCall| {
        if let Some(r) = &response {
            return ok(r.clone());
        }
        let path = call
            .url
            .split("://")
            .nth(1)
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            .unwrap_or("");
        let path = path.split('?').next().unwrap_or("");
        // The resource whose list path is a prefix of this call's path answers it.
        let Some(res) = p2
            .resources
            .iter()
            .find(|r| path.starts_with(&r.ops.list.path))
        else {
            return ok(json!({}));
        };
        let rest = path[res.ops.list.path.len()..].trim_start_matches('/');
        let id = rest.split('/').next().filter(|s| !s.is_empty()).map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        });
        match (call.method.as_str(), id) {
            ("DELETE", _) => BackendResponse {
                status: StatusCode::NO_CONTENT,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            },
            ("GET", None) => {
                let rec = sample_record(res, "1");
                let mut out = match &res.ops.list.items {
                    ItemsExpr::ArrayField(e) => place(e, json!([rec])),
                    ItemsExpr::JsonPath(_) => json!([rec]),
                };
                if let ReadExpr::Field(p) = &res.ops.list.total {
                    let _ = p.set(&mut out, json!(1));
                }
                ok(out)
            }
            (m, id) => {
                let mut rec = sample_record(res, id.as_deref().unwrap_or("1"));
                // A write answers with what was written (unwrapped), over the sample.
                if m != "GET" {
                    if let Some(Value::Object(mut sent)) = call
                        .body
                        .as_deref()
                        .and_then(|b| serde_json::from_str::<Value>(b).ok())
                    {
                        if let ReadExpr::Field(p) = &res.ops.get.item {
                            if let Some(Value::Object(inner)) = p.get(&Value::Object(sent.clone()))
                            {
                                sent = inner.clone();
                            }
                        }
                        crate::service::merge_into(&mut rec, Value::Object(sent));
                    }
                }
                ok(place(&res.ops.get.item, rec))
            }
        }
    }));
    let live = Live::with_client(settings, plan, client);
    let state = AppState::from_live(live);
    // A path typed on a command line may hold spaces and quotes (`filter=userName eq "x"`).
    let path = &path
        .replace(' ', "%20")
        .replace('"', "%22")
        .replace('<', "%3C")
        .replace('>', "%3E");
    let uri = if path.starts_with(&base_path) || base_path.is_empty() {
        path.to_string()
    } else {
        format!(
            "{base_path}{}",
            if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            }
        )
    };
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::HOST, "scim-bridge.local")
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    if body.is_some() {
        req = req.header(http::header::CONTENT_TYPE, "application/scim+json");
    }
    let req = req
        .body(http_body_util::Full::new(Bytes::from(
            body.unwrap_or_default(),
        )))
        .map_err(|e| {
            crate::load::LoadError::Mapping(vec![crate::mapping::MappingError {
                file: "explain".into(),
                at: "request".into(),
                message: e.to_string(),
            }])
        })?;
    let resp = crate::server::handle_request(&state, req).await;
    let status = resp.status();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let calls = script.calls.lock().map(|c| c.clone()).unwrap_or_default();
    Ok(Report {
        calls,
        status,
        body: serde_json::from_slice(&bytes).ok(),
    })
}
