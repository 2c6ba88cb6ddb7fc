//! A large PATCH is parsed and applied on the blocking pool: while that work
//! runs, the one worker of a current-thread runtime still serves other
//! requests. The work is held on the pool (`offload::test_hold`) so the test
//! waits on state, not on timing.

use super::{handle_request, AppState, Live};
use crate::backend::{BackendClient, BackendResponse, RecordedCall};
use crate::service::offload::test_hold;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

fn state() -> (Arc<AppState>, Arc<crate::backend::Script>) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scim-bridge.toml");
    let env = HashMap::from([
        (
            "SCIM_BRIDGE_TOKEN".to_string(),
            "test-token-0123456789".to_string(),
        ),
        (
            "SCIM_BRIDGE__AUTH__INSECURE_ALLOW_WEAK_TOKENS".to_string(),
            "true".to_string(),
        ),
        ("PERIPASS_URL".to_string(), "http://127.0.0.1:9".to_string()),
    ]);
    let (settings, plan) = crate::load::load(&file, Some(env)).expect("shipped settings");
    let (client, script) = BackendClient::scripted(Box::new(|call: &RecordedCall| {
        let mut user = json!({"userId": 7, "login": "bjensen", "displayName": "Babs",
            "status": "ACTIVE", "version": 3});
        if let Some(Value::Object(sent)) = call
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
        {
            // The backend answers a write with the record, its id included.
            user = Value::Object(sent);
            user["userId"] = json!(7);
        }
        BackendResponse {
            status: StatusCode::OK,
            headers: Default::default(),
            body: Bytes::from(user.to_string()),
        }
    }));
    let live = Live::with_client(settings, plan, client);
    (Arc::new(AppState::from_live(live)), script)
}

fn request(method: Method, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "scim-bridge.local")
        .header(http::header::AUTHORIZATION, "Bearer test-token-0123456789")
        .header(http::header::CONTENT_TYPE, "application/scim+json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// Holds the `skip`-th offloaded job of a big PATCH, checks that `/healthz`
/// and a small GET are answered meanwhile, then lets the PATCH finish.
async fn served_while_held(skip: usize) {
    let (state, script) = state();
    let name = "x".repeat(200 * 1024);
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": name}]});
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    test_hold::hold(skip, entered_tx, release_rx);
    let patch = {
        let state = state.clone();
        let req = request(Method::PATCH, "/scim/v2/Users/7", &body.to_string());
        // Polled first on this (the only) worker: it takes the hold.
        tokio::spawn(async move { handle_request(&state, req).await })
    };
    // Wait, yielding the worker, until the job is held on the blocking pool.
    let mut waited = Duration::ZERO;
    while entered.try_recv().is_err() {
        assert!(
            waited < Duration::from_secs(30),
            "the PATCH's work never reached the blocking pool"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    let health = handle_request(&state, request(Method::GET, "/healthz", "")).await;
    assert_eq!(health.status(), StatusCode::OK);
    let get = handle_request(&state, request(Method::GET, "/scim/v2/Users/7", "")).await;
    assert_eq!(get.status(), StatusCode::OK);
    assert!(!patch.is_finished(), "the PATCH is still held");
    release.send(()).unwrap();
    let resp = patch.await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let out: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(out["displayName"].as_str().map(str::len), Some(name.len()));
    let calls = script.calls.lock().unwrap();
    assert!(
        calls
            .iter()
            .any(|c| c.method == "PUT" && c.body.as_deref().is_some_and(|b| b.contains(&name))),
        "the change was written"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn other_requests_are_served_while_a_big_patch_body_is_parsed() {
    served_while_held(0).await;
}

#[tokio::test(flavor = "current_thread")]
async fn other_requests_are_served_while_a_big_patch_is_applied() {
    served_while_held(1).await;
}

/// A small PATCH stays on the worker: nothing is offloaded.
#[tokio::test(flavor = "current_thread")]
async fn a_small_patch_is_applied_inline() {
    let (state, _) = state();
    let (entered_tx, entered) = mpsc::channel();
    let (_release, release_rx) = mpsc::channel();
    test_hold::hold(0, entered_tx, release_rx);
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "New"}]});
    let resp = handle_request(
        &state,
        request(Method::PATCH, "/scim/v2/Users/7", &body.to_string()),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        entered.try_recv().is_err(),
        "nothing went to the blocking pool"
    );
}
