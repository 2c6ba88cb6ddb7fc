//! `explain` shows exactly the backend calls the bridge really makes.
use crate::support::*;
use http::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

/// (method, path and query, body as JSON) of a backend call.
type Call = (String, String, Option<Value>);

fn strip_origin(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest[rest.find('/').unwrap_or(0)..].to_string()
}

async fn explain(
    s: &PeripassStack,
    method: Method,
    path: &str,
    body: Option<&Value>,
    response: Option<Value>,
) -> (Vec<Call>, scim_bridge::explain::Report) {
    let dir = TempDir::new();
    let settings = dir.0.join("settings.toml");
    std::fs::write(&settings, peripass_settings("")).unwrap();
    let env = HashMap::from([
        ("PERIPASS_URL".to_string(), s.backend.base_url()),
        ("PERIPASS_API_KEY".to_string(), s.backend.api_key()),
        (ALLOW_WEAK_TOKENS.to_string(), "true".to_string()),
    ]);
    let report = scim_bridge::explain::explain(
        &settings,
        Some(env),
        method,
        path,
        body.map(|b| b.to_string()),
        response,
    )
    .await
    .unwrap();
    let calls = report
        .calls
        .iter()
        .map(|c| {
            (
                c.method.clone(),
                strip_origin(&c.url),
                c.body.as_deref().map(|b| serde_json::from_str(b).unwrap()),
            )
        })
        .collect();
    (calls, report)
}

fn recorded(s: &PeripassStack) -> Vec<Call> {
    s.backend
        .requests()
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.path_and_query.clone(),
                (!r.body.is_empty()).then(|| serde_json::from_str(&r.body).unwrap()),
            )
        })
        .collect()
}

#[tokio::test]
async fn explain_matches_real_calls() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 3,
        ..Default::default()
    })
    .await;

    // PATCH: explain with the real record as the sample answer.
    let user = s.legacy().user("2").await;
    let patch = patch_ops(
        json!([{"op":"Replace","path":"active","value":"False"},{"op":"replace","value":{"name.givenName":"Zed"}}]),
    );
    let (explained, report) =
        explain(&s, Method::PATCH, "/Users/2", Some(&patch), Some(user)).await;
    s.backend.clear_requests();
    assert_eq!(s.scim().patch("/Users/2", &patch).await.status, 200);
    let real = recorded(&s);
    assert_eq!(real.len(), 2, "{real:?}");
    assert_eq!(explained, real);
    assert_eq!(report.status, 200);
    // The API key is masked, never printed.
    let headers = &report.calls[0].headers;
    assert!(
        headers.iter().any(|(k, v)| k == "x-api-key" && v == "***"),
        "{headers:?}"
    );
    assert!(!format!("{:?}", report.calls).contains(&s.backend.api_key()));

    // A pushed-down filter.
    let path = format!(
        "/scim/v2/Users?filter={}",
        entra_filter("userName eq \"user1@example.com\"")
    );
    let (explained, _) = explain(&s, Method::GET, &path, None, None).await;
    s.backend.clear_requests();
    assert_eq!(s.scim().get(&path["/scim/v2".len()..]).await.status, 200);
    assert_eq!(explained, recorded(&s));

    // POST: the create body.
    let body = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new@x.com","active":"True","name":{"givenName":"N","familyName":"X"},"preferredLanguage":"fr-BE"});
    let (explained, report) = explain(&s, Method::POST, "/Users", Some(&body), None).await;
    assert_eq!(report.status, 201);
    s.backend.clear_requests();
    assert_eq!(s.scim().post("/Users", &body).await.status, 201);
    assert_eq!(explained, recorded(&s));

    // An id that cannot exist: no call at all.
    let (explained, report) = explain(&s, Method::GET, "/Users/abc", None, None).await;
    assert!(explained.is_empty());
    assert_eq!(report.status, 404);
}
