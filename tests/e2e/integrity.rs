//! Data integrity (issue 10): a write changes only what the client asked
//! for; a membership PATCH cut short is all or nothing; large multi-valued
//! adds are answered; a merge patch carries the version; a uniqueness
//! conflict on a version-less type is answered, not retried; `explain`
//! into a closed pipe exits quietly.
use crate::support::*;
use http::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A one-user backend speaking the Peripass user API's GET and PUT, holding
/// whatever it is given (a real Peripass may hold statuses the mapping does
/// not know, such as `LOCKED`) under its own id. Returns its base URL and
/// the last body a PUT sent.
async fn one_user_backend(record: Value) -> (String, Arc<Mutex<Value>>) {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let state = Arc::new(Mutex::new(record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let st = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let st = st.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let st = st.clone();
                    async move {
                        let method = req.method().clone();
                        let body = req.into_body().collect().await?.to_bytes();
                        let mut rec = st.lock().unwrap();
                        if method == Method::PUT {
                            let mut new: Value = serde_json::from_slice(&body).unwrap();
                            new["version"] = json!(rec["version"].as_u64().unwrap_or(0) + 1);
                            *rec = new;
                        }
                        // The id is the backend's own, in every answer.
                        let mut answer = rec.clone();
                        answer["userId"] = json!(7);
                        let out = http::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(bytes::Bytes::from(answer.to_string())))
                            .unwrap();
                        Ok::<_, hyper::Error>(out)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (url, state)
}

#[tokio::test]
async fn patch_of_display_name_keeps_a_status_the_mapping_cannot_read() {
    let stored = json!({
        "userId": 7, "version": 3, "login": "jdoe", "displayName": "J Doe",
        "status": "LOCKED", "role": "Operator", "lockReason": {"by": "admin", "at": [1, 2]},
        "contact": {"email": "jdoe@example.com", "mobile": null}
    });
    let (url, state) = one_user_backend(stored.clone()).await;
    let env = backend_env(url);
    let bridge = Bridge::start(&peripass_settings(""), &[], env).await;
    // Reads leave the attribute out rather than guess.
    let r = bridge.client.get("/Users/7").await;
    assert_eq!(r.status, 200);
    assert!(r.json().get("active").is_none(), "{}", r.json());
    let r = bridge
        .client
        .patch(
            "/Users/7",
            &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Jane Doe"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let now = state.lock().unwrap().clone();
    assert_eq!(now["displayName"], "Jane Doe");
    assert_eq!(now["status"], "LOCKED", "{now}");
    // Every other field the contract lists is exactly what the backend
    // returned (`role`, unmapped, included); the shipped mapping's
    // `send_only` leaves out what the contract does not list (`lockReason`)
    // and the id (in the path).
    let mut want = stored;
    want["displayName"] = json!("Jane Doe");
    want["version"] = json!(4);
    let want_sent = {
        let mut w = want.clone();
        let o = w.as_object_mut().unwrap();
        o.remove("lockReason");
        o.remove("userId");
        w
    };
    assert_eq!(now, want_sent);
}

fn temp_settings(dir: &TempDir, mapping: &str, base_url: &str) -> std::path::PathBuf {
    std::fs::write(dir.0.join("m.yaml"), mapping).unwrap();
    let path = dir.0.join("settings.toml");
    std::fs::write(
        &path,
        format!(
            "mappings = [\"m.yaml\"]\n[auth]\nbearer_tokens = [\"{TOKEN}\"]\n[backend]\nbase_url = \"{base_url}\"\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn merge_patch_with_a_body_version_sends_the_version_read() {
    let peripass = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let mapping = peripass
        .replacen("    update: replace\n", "    update: merge_patch\n", 1)
        .replacen(
            "      replace:\n        method: PUT\n        path: \"/api/v1/users/{id}\"\n",
            "      patch:\n        method: PATCH\n        path: \"/api/v1/users/{id}\"\n",
            1,
        );
    assert_ne!(mapping, peripass);
    let dir = TempDir::new();
    let settings = temp_settings(&dir, &mapping, "http://127.0.0.1:9");
    let report = scim_bridge::explain::explain(
        &settings,
        Some(HashMap::from([(ALLOW_WEAK_TOKENS.to_string(), "true".to_string())])),
        Method::PATCH,
        "/Users/7",
        Some(patch_ops(json!([{"op": "replace", "path": "displayName", "value": "New"}])).to_string()),
        Some(json!({"userId": 7, "version": 5, "login": "jdoe", "displayName": "Old", "status": "ACTIVE"})),
    )
    .await
    .unwrap();
    let patch = report
        .calls
        .iter()
        .find(|c| c.method == "PATCH")
        .expect("a PATCH call");
    let body: Value = serde_json::from_str(patch.body.as_deref().unwrap()).unwrap();
    // The concurrency token goes with the change; nothing else unchanged does.
    assert_eq!(body, json!({"displayName": "New", "version": 5}));
}

#[tokio::test]
async fn renaming_a_version_less_group_to_a_taken_name_is_409_after_one_write() {
    let mapping = peripass_groups_without_version();
    let PeripassStack { backend, bridge } = PeripassStack::start_with_mapping(
        peripass::Options {
            seed_teams: 2,
            ..Default::default()
        },
        &mapping,
    )
    .await;
    backend.clear_requests();
    let r = bridge
        .client
        .patch(
            "/Groups/T-0001",
            &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Team 2"}])),
        )
        .await;
    r.assert_scim_error(409, Some("uniqueness"));
    let writes = backend
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(writes, 1, "one write attempt, no conflict retries");
}

#[test]
fn explain_into_a_closed_pipe_exits_quietly() {
    use std::process::{Command, Stdio};
    let dir = TempDir::new();
    let peripass = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let settings = temp_settings(&dir, &peripass, "http://127.0.0.1:9");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .env(ALLOW_WEAK_TOKENS, "true")
        .arg("explain")
        .arg("--config")
        .arg(&settings)
        .arg("GET")
        .arg("/Users?filter=userName%20eq%20%22a%22")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line is written (`… | head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    save_process_output("scim-bridge-explain-closed-pipe", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

/// Waits until the backend has had no request for a while (the bridge's
/// membership task finished), then returns the team's member count.
async fn settled_members(s: &PeripassStack, team: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (s.backend.request_count(), Instant::now());
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = s.backend.request_count();
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(1500) {
            break;
        }
    }
    s.backend.team(team).unwrap()["memberIds"]
        .as_array()
        .unwrap()
        .len()
}

async fn slow_stack(users: usize, extra: &str) -> (PeripassStack, String) {
    let s = PeripassStack::start_custom(
        peripass::Options {
            seed_users: users,
            seed_teams: 1,
            ..Default::default()
        },
        StackConfig {
            backend_extra: "max_rps = 0",
            extra,
            ..Default::default()
        },
    )
    .await;
    s.backend.set_latency_ms(200);
    (s, "T-0001".to_string())
}

fn add_members(ids: std::ops::RangeInclusive<u64>) -> Value {
    let members: Vec<Value> = ids.map(|i| json!({"value": i.to_string()})).collect();
    patch_ops(json!([{"op": "add", "path": "members", "value": members}]))
}

#[tokio::test]
async fn membership_patch_past_the_request_deadline_is_all_or_nothing() {
    let (s, team) = slow_stack(60, "[server]\nrequest_timeout_ms = 2500").await;
    let r = s
        .scim()
        .patch(&format!("/Groups/{team}"), &add_members(1..=60))
        .await;
    assert!(
        r.status == 504 || r.status == 200,
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let n = settled_members(&s, &team).await;
    assert!(n == 0 || n == 60, "{n} of 60 members persisted");
}

#[tokio::test]
async fn membership_patch_of_a_client_that_disconnects_is_all_or_nothing() {
    let (s, team) = slow_stack(40, "").await;
    let (path, body) = (format!("/Groups/{team}"), add_members(1..=40));
    let send = s.scim().patch(&path, &body);
    // The client gives up (and closes the connection) part-way.
    assert!(tokio::time::timeout(Duration::from_millis(1300), send)
        .await
        .is_err());
    let n = settled_members(&s, &team).await;
    assert!(n == 0 || n == 40, "{n} of 40 members persisted");
}

/// `server.membership_deadline_ms` is honoured: 60 member calls at 200 ms,
/// 8 at a time, need at least 1.6 s; with a 1 s deadline the PATCH stops
/// starting calls, undoes those made and answers `504`, well within the
/// request's own deadline (30 s). With the default (120 s) it would succeed.
#[tokio::test]
async fn membership_patch_past_its_own_deadline_is_undone() {
    let (s, team) = slow_stack(60, "[server]\nmembership_deadline_ms = 1000").await;
    let r = s
        .scim()
        .patch(&format!("/Groups/{team}"), &add_members(1..=60))
        .await;
    let e = r.assert_scim_error(504, None);
    assert!(
        e["detail"].as_str().unwrap().contains("took too long"),
        "{e}"
    );
    let n = settled_members(&s, &team).await;
    assert_eq!(n, 0, "{n} of 60 members persisted");
    let added = s
        .backend
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.contains("/members"))
        .count();
    // The member existence checks alone take about 1.6 s here, so the
    // deadline usually passes before the first addition; any made are undone.
    assert!(
        added < 60,
        "the deadline stopped the calls: {added} of 60 sent"
    );
}

fn many_emails(target_bytes: usize) -> (Value, usize) {
    let mut emails = Vec::new();
    let mut size = 0;
    while size < target_bytes - 200 {
        let e = json!({"value": format!("user{}@example.com", emails.len()), "type": "work"});
        size += e.to_string().len() + 1;
        emails.push(e);
    }
    let n = emails.len();
    (
        patch_ops(json!([{"op": "add", "path": "emails", "value": emails}])),
        n,
    )
}

#[tokio::test]
async fn a_one_mib_patch_of_distinct_emails_is_answered() {
    let s = PeripassStack::start_with(
        peripass::Options {
            seed_users: 1,
            ..Default::default()
        },
        "[scim]\nmax_values_per_attribute = 1000000",
    )
    .await;
    let (body, n) = many_emails(1024 * 1024);
    let text = body.to_string();
    assert!(text.len() <= 1024 * 1024, "{}", text.len());
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), s.scim().patch("/Users/1", &body))
        .await
        .expect("answered within 10 s");
    let took = started.elapsed();
    eprintln!(
        "1 MiB PATCH ({n} distinct emails, {} bytes): {took:?}",
        text.len()
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The backend holds one work email: the last one added.
    assert_eq!(
        s.backend.user(1).unwrap()["contact"]["email"],
        json!(format!("user{}@example.com", n - 1))
    );
}

#[tokio::test]
async fn more_values_than_the_cap_are_refused() {
    let s = PeripassStack::start_with(
        peripass::Options {
            seed_users: 1,
            ..Default::default()
        },
        "[scim]\nmax_values_per_attribute = 100",
    )
    .await;
    let (body, _) = many_emails(8 * 1024);
    let r = s.scim().patch("/Users/1", &body).await;
    let e = r.assert_scim_error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("at most 100"), "{e}");
    s.backend.clear_requests();
    // Within the cap, the same attribute is accepted.
    let (body, _) = many_emails(2 * 1024);
    assert_eq!(s.scim().patch("/Users/1", &body).await.status, 200);
}

/// A list answer the mapping does not fit (an `items` or `total` path with a
/// typo) is a `502` naming the mapping key, never an empty page: Entra's
/// `userName eq` lookup would take "no such user" for an answer and create
/// the user again.
#[tokio::test]
async fn a_list_answer_the_mapping_does_not_fit_is_502_not_an_empty_page() {
    let tap = LogTap::open();
    for (from, to, key) in [
        ("items: \"$.data[*]\"", "items: \"$.dat[*]\"", "items"),
        (
            "total: \"$.paging.totalItems\"",
            "total: \"$.paging.totalitems\"",
            "total",
        ),
    ] {
        let mapping = edited_peripass_mapping(from, to, "the Users list paths");
        let s = PeripassStack::start_with_mapping(
            peripass::Options {
                seed_users: 3,
                ..Default::default()
            },
            &mapping,
        )
        .await;
        for path in [
            "/Users",
            "/Users?filter=userName+eq+%22user1@example.com%22",
        ] {
            let r = s.scim().get(path).await;
            let e = r.assert_scim_error(502, None);
            assert!(
                e["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("operations.list.{key}")),
                "{path}: {e}"
            );
        }
        assert!(
            tap.text()
                .contains(&format!("resources.User.operations.list.{key}")),
            "the log names the mapping key"
        );
    }
    // An empty page is still an empty page.
    let s = PeripassStack::start(peripass::Options::default()).await;
    let r = s
        .scim()
        .get("/Users?filter=userName+eq+%22nobody@example.com%22")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["totalResults"], 0);
}

/// The environment pointing the shipped settings at a test backend.
fn backend_env(url: String) -> HashMap<String, String> {
    HashMap::from([
        ("PERIPASS_URL".to_string(), url),
        (
            "PERIPASS_API_KEY".to_string(),
            "integrity-test-key".to_string(),
        ),
    ])
}

type Script = fn(&Method, &str) -> (u16, Option<&'static str>, String);

/// A backend answering each request as `script` says (status, Location,
/// body). Returns its base URL.
async fn scripted_backend(script: Script) -> String {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(
                    move |req: http::Request<hyper::body::Incoming>| async move {
                        let (method, path) = (req.method().clone(), req.uri().to_string());
                        let _ = req.into_body().collect().await?;
                        let (status, location, body) = script(&method, &path);
                        let mut out = http::Response::builder().status(status);
                        if let Some(l) = location {
                            out = out.header("location", l);
                        }
                        if !body.is_empty() {
                            out = out.header("content-type", "application/json");
                        }
                        Ok::<_, hyper::Error>(
                            out.body(Full::new(bytes::Bytes::from(body))).unwrap(),
                        )
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    url
}

/// A create answered `201` with only a `Location` (no body) is read back
/// from there and answered `201` with the resource; a backend record
/// without its id (a 200 that is something else) is `502`, never a
/// resource with `"id": ""`, in a GET and in a list alike.
#[tokio::test]
async fn created_without_a_body_is_read_back_and_a_record_without_id_is_502() {
    let url = scripted_backend(|method, path| match (method.as_str(), path) {
        // Made: an answer without the record (here a body without the id).
        ("POST", "/api/v1/users") => (
            201,
            Some("/api/v1/users/77"),
            json!({"accepted": true}).to_string(),
        ),
        ("GET", "/api/v1/users/77") => (
            200,
            None,
            json!({"userId": 77, "version": 1, "login": "new@example.com", "status": "ACTIVE"})
                .to_string(),
        ),
        ("GET", "/api/v1/users/5") => (200, None, json!({"hello": 1}).to_string()),
        ("GET", p) if p.starts_with("/api/v1/users?") => (
            200,
            None,
            json!({"data": [{"login": "x@example.com"}],
                   "paging": {"page": 1, "pageSize": 50, "totalItems": 1}})
            .to_string(),
        ),
        _ => (404, None, json!({"error": "NOT_FOUND"}).to_string()),
    })
    .await;
    let env = backend_env(url);
    let bridge = Bridge::start(&peripass_settings(""), &[], env).await;
    let r = bridge
        .client
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "new@example.com", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["id"], "77");
    assert_eq!(r.json()["userName"], "new@example.com");
    bridge
        .client
        .get("/Users/5")
        .await
        .assert_scim_error(502, None);
    bridge
        .client
        .get("/Users")
        .await
        .assert_scim_error(502, None);
    // A Location that is not the record's (a job to poll, an answer other
    // than 201) names no record: 502, and the user at /9 is not read.
    let scripts: [Script; 3] = [
        |m, _| match m.as_str() {
            "POST" => (201, Some("/api/v1/jobs/9"), String::new()),
            _ => (
                200,
                None,
                json!({"userId": 9, "login": "o@example.com"}).to_string(),
            ),
        },
        |m, _| match m.as_str() {
            "POST" => (
                201,
                Some("/api/v1/jobs/9?next=https://h/api/v1/users/9"),
                String::new(),
            ),
            _ => (
                200,
                None,
                json!({"userId": 9, "login": "o@example.com"}).to_string(),
            ),
        },
        |m, _| match m.as_str() {
            "POST" => (202, Some("/api/v1/users/9"), String::new()),
            _ => (
                200,
                None,
                json!({"userId": 9, "login": "o@example.com"}).to_string(),
            ),
        },
    ];
    for script in scripts {
        let env = backend_env(scripted_backend(script).await);
        let other = Bridge::start(&peripass_settings(""), &[], env).await;
        other
            .client
            .post(
                "/Users",
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": "new@example.com"}),
            )
            .await
            .assert_scim_error(502, None);
    }
}

/// A list answer saying it has no records may leave the array out (an empty
/// page, not a mismatch); one record without its id is a `502` for the
/// requests that meet it, but does not make the bridge unready (the
/// readiness probe checks that the backend answers and fits the mapping).
#[tokio::test]
async fn an_empty_answer_without_items_is_empty_and_a_bad_record_keeps_readyz() {
    let url = scripted_backend(|method, path| match (method.as_str(), path) {
        ("GET", p) if p.starts_with("/api/v1/users?") => (
            200,
            None,
            json!({"paging": {"page": 1, "pageSize": 50, "totalItems": 0}}).to_string(),
        ),
        ("GET", p) if p.starts_with("/api/v1/teams?") => (
            200,
            None,
            json!({"items": [{"name": "no id"}], "total": 1}).to_string(),
        ),
        _ => (404, None, json!({"error": "NOT_FOUND"}).to_string()),
    })
    .await;
    let mut env = backend_env(url);
    env.insert(
        "SCIM_BRIDGE__BACKEND__PROBE_INTERVAL_MS".to_string(),
        "100".to_string(),
    );
    let bridge = Bridge::start(&peripass_settings(""), &[], env).await;
    let r = bridge
        .client
        .get("/Users?filter=userName+eq+%22nobody@example.com%22")
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["totalResults"], 0);
    bridge
        .client
        .get("/Groups")
        .await
        .assert_scim_error(502, None);
    let health = TestClient::new(format!("http://{}", bridge.addr));
    let started = Instant::now();
    // Once probed (a few rounds), `/readyz` says the backend is fine.
    loop {
        let r = health.get("/readyz").await;
        let body = r.json();
        if body["backend"] == "ok" && started.elapsed() > Duration::from_millis(400) {
            assert_eq!(r.status, 200, "{body}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A write the backend accepted but answered without a usable record (here
/// `{"ok": true}`) is read back and answered `200`, never `502`: the write
/// is made.
#[tokio::test]
async fn a_write_answered_without_the_record_is_read_back() {
    let url = scripted_backend(|method, _| match method.as_str() {
        "PUT" => (200, None, json!({"ok": true}).to_string()),
        _ => (
            200,
            None,
            json!({"userId": 7, "version": 3, "login": "jdoe@example.com", "status": "ACTIVE"})
                .to_string(),
        ),
    })
    .await;
    let env = backend_env(url);
    let bridge = Bridge::start(&peripass_settings(""), &[], env).await;
    let r = bridge
        .client
        .patch(
            "/Users/7",
            &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "J"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["id"], "7");
}

/// A mapping reading one attribute through a JSONPath query keeps records
/// as `Value`s (a `Raw` record answers no query); its answers are the
/// shipped mapping's, which reads GET and filtered searches as `Raw`s. The
/// unfiltered page and the projection (read as `Value`s by both) check
/// the JSONPath read itself.
#[tokio::test]
async fn a_jsonpath_read_answers_as_field_path_reads_do() {
    let mapping = edited_peripass_mapping(
        "      - scim: displayName\n        field: displayName\n",
        "      - scim: displayName\n        field: displayName\n        read: \"$['displayName']\"\n",
        "the Users displayName",
    );
    let opts = || peripass::Options {
        seed_users: 3,
        ..Default::default()
    };
    let by_query = PeripassStack::start_with_mapping(opts(), &mapping).await;
    let by_fields = PeripassStack::start(opts()).await;
    // What differs between two stacks: the port in URLs, the seeding time.
    fn normalised(mut v: Value) -> Value {
        fn strip(r: &mut Value) {
            if let Some(m) = r.get_mut("meta").and_then(Value::as_object_mut) {
                for k in ["location", "created", "lastModified"] {
                    assert!(m.remove(k).is_some(), "{k} in {m:?}");
                }
            }
        }
        match v.get_mut("Resources").and_then(Value::as_array_mut) {
            Some(rs) => rs.iter_mut().for_each(strip),
            None => strip(&mut v),
        }
        v
    }
    for path in [
        "/Users/2",
        "/Users?filter=userName+eq+%22user2@example.com%22",
        "/Users?startIndex=2&count=2",
        "/Users?filter=displayName+eq+%22First3+Last3%22",
        "/Users/1?attributes=displayName,name.givenName",
    ] {
        let (a, b) = (
            by_query.scim().get(path).await,
            by_fields.scim().get(path).await,
        );
        assert_eq!((a.status.as_u16(), b.status.as_u16()), (200, 200), "{path}");
        let (a, b) = (normalised(a.json()), normalised(b.json()));
        assert_eq!(a, b, "{path}");
        assert!(
            a.to_string().contains("\"displayName\":\"First"),
            "{path}: {a}"
        );
    }
}
