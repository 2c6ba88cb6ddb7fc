//! Security of the settings and of what reaches the backend (issue 9,
//! config half): weak bearer tokens refused by `serve`, settings values
//! never shown when a file fails to parse, secrets read from files, dot and
//! out-of-range ids stopped before the backend, restart-only settings kept
//! on reload, `explain` masking configured headers and URL credentials, and
//! filters on attributes a resource type does not have.
use crate::support::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Settings in front of a copy of the Peripass mapping (`peripass.yaml`
/// beside them) whose tokens are `tokens` (TOML array items).
fn settings_with(tokens: &str, extra: &str) -> String {
    format!("mappings = [\"peripass.yaml\"]\n[auth]\nbearer_tokens = [{tokens}]\n[backend]\nbase_url = \"${{PERIPASS_URL}}\"\n{extra}")
}

/// The shipped Peripass mapping without any `id.pattern` (so only the
/// bridge's own checks stand between a SCIM id and a backend path).
fn mapping_without_patterns() -> String {
    let m = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let out: String = m
        .lines()
        .filter(|l| !l.trim_start().starts_with("pattern:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(out.len() < m.len(), "the mapping had id patterns to remove");
    out
}

async fn peripass(seed_users: usize, seed_teams: usize) -> peripass::Running {
    peripass::spawn(peripass::Options {
        seed_users,
        seed_teams,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Runs `scim-bridge serve` expecting it to refuse to start: its exit
/// status and everything it printed.
async fn serve_refused(settings: &std::path::Path, listen: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
    cmd.args(["serve", "--config"])
        .arg(settings)
        .args(["--listen", listen])
        .env_remove("SCIM_BRIDGE_TOKEN")
        .env_remove(ALLOW_WEAK_TOKENS)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            save_process_output("scim-bridge-serve-refused", &out);
            panic!("serve started with a weak token");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = child.wait_with_output().unwrap();
    save_process_output("scim-bridge-serve-refused", &out);
    assert!(!out.status.success());
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Finding 1: the shipped settings without a token, an empty token, a
/// short one, a published one: `serve` refuses to start and names the
/// variable; a token of one's own starts and serves.
#[tokio::test]
async fn serve_refuses_missing_short_and_published_tokens() {
    let shipped = repo_path("config/scim-bridge.toml");
    let published_long = "Sup3r-Secret-token-0123456789-abcdefghij";
    register_secret(published_long);
    for (env, want) in [
        (vec![], "environment variable SCIM_BRIDGE_TOKEN is not set"),
        (
            vec![("SCIM_BRIDGE_TOKEN", "")],
            "environment variable SCIM_BRIDGE_TOKEN is empty",
        ),
        (
            vec![("SCIM_BRIDGE_TOKEN", "scim-demo-token")],
            "at least 32 characters",
        ),
        (vec![("SCIM_BRIDGE_TOKEN", TOKEN)], "at least 32 characters"),
        (
            vec![("SCIM_BRIDGE_TOKEN", published_long)],
            "published in the scim-bridge repository",
        ),
        // The allowance is refused off loopback.
        (
            vec![
                ("SCIM_BRIDGE_TOKEN", "scim-demo-token"),
                (ALLOW_WEAK_TOKENS, "true"),
            ],
            "auth.insecure_allow_weak_tokens: only allowed with a loopback",
        ),
    ] {
        let mut env = env;
        env.push(("PERIPASS_URL", "http://127.0.0.1:9"));
        env.push(("PERIPASS_API_KEY", "unused-key"));
        // `--listen` overrides server.listen; off loopback for the allowance case.
        let listen = if env.iter().any(|(k, _)| *k == ALLOW_WEAK_TOKENS) {
            "0.0.0.0:0"
        } else {
            "127.0.0.1:0"
        };
        let text = serve_refused(&shipped, listen, &env).await;
        assert!(
            text.contains("auth.bearer_tokens[0]") || text.contains("insecure_allow_weak_tokens"),
            "{text}"
        );
        assert!(text.contains(want), "{want:?} not in:\n{text}");
        if want.contains("32") || want.contains("published") {
            assert!(text.contains("SCIM_BRIDGE_TOKEN"), "{text}");
            assert!(text.contains("openssl rand -base64 32"), "{text}");
        }
        for (_, v) in &env {
            if v.len() > 8 && !v.starts_with("http") && *v != "unused-key" {
                assert!(!text.contains(v), "the token was printed:\n{text}");
            }
        }
    }
    // A strong token of one's own: the real binary starts and serves with it.
    let backend = peripass(1, 0).await;
    let dir = TempDir::new();
    let settings = dir.0.join("settings.toml");
    std::fs::write(
        &settings,
        settings_with("\"${SCIM_BRIDGE_TOKEN}\"", "").replace(
            "peripass.yaml",
            &repo_path("config/mappings/peripass.yaml")
                .display()
                .to_string(),
        ),
    )
    .unwrap();
    let strong = strong_token();
    let p = BridgeProcess::start(
        &settings,
        &[
            ("SCIM_BRIDGE_TOKEN", strong.clone()),
            (ALLOW_WEAK_TOKENS, "false".into()),
            ("PERIPASS_URL", backend.base_url()),
            ("PERIPASS_API_KEY", backend.api_key()),
        ],
    )
    .await;
    assert_eq!(p.client.with_token(&strong).get("/Users").await.status, 200);
    assert_eq!(
        p.client.get("/Users").await.status,
        401,
        "TOKEN is not configured"
    );
}

/// Secrets from files: `${file:/path}` gives the bearer token (one
/// trailing newline dropped); an unreadable file names the file only.
#[tokio::test]
async fn bearer_token_from_a_file() {
    let backend = peripass(1, 0).await;
    let dir = TempDir::new();
    let token_file = dir.0.join("scim-token");
    let strong = strong_token();
    std::fs::write(&token_file, format!("{strong}\n")).unwrap();
    let mut env = peripass_env(&backend);
    env.insert(ALLOW_WEAK_TOKENS.into(), "false".into());
    let mapping = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let bridge = Bridge::start(
        &settings_with(&format!("\"${{file:{}}}\"", token_file.display()), ""),
        &[("peripass.yaml", &mapping)],
        env.clone(),
    )
    .await;
    assert_eq!(
        bridge.client.with_token(&strong).get("/Users").await.status,
        200
    );
    assert_eq!(bridge.client.get("/Users").await.status, 401);
    // A missing file: the error names it, and never shows a value.
    let settings = dir.0.join("bad.toml");
    std::fs::write(
        &settings,
        settings_with(
            &format!("\"${{file:{}}}\"", dir.0.join("gone").display()),
            "",
        ),
    )
    .unwrap();
    std::fs::write(dir.0.join("peripass.yaml"), &mapping).unwrap();
    let e = scim_bridge::load(&settings, Some(env))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read secret file") && e.contains("gone"),
        "{e}"
    );
    bridge.shutdown().await;
}

async fn metrics(bridge: &Bridge) -> String {
    let r = TestClient::new(format!("http://{}", bridge.addr))
        .get("/metrics")
        .await;
    assert_eq!(r.status, 200);
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn readyz(bridge: &Bridge) -> Value {
    TestClient::new(format!("http://{}", bridge.addr))
        .get("/readyz")
        .await
        .json()
}

/// Waits (generously) until `/readyz` satisfies `done`.
async fn wait_readyz(bridge: &Bridge, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let r = readyz(bridge).await;
        if done(&r) {
            return r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: not seen in {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Editor-style save: write a temp file, rename it over the original.
fn atomic_write(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Finding 2: a settings line holding tokens broken during a run: the
/// reload fails, `/readyz` names the file and line, and neither `/readyz`,
/// `/metrics` nor any log line holds the tokens.
#[tokio::test]
async fn broken_settings_never_show_their_values() {
    let secret = "Sup3r-Secret-token-0123456789-abcdefghij";
    let rotated = "New-Rotated-token-0123456789-abcdefghijk";
    register_secret(secret);
    register_secret(rotated);
    let backend = peripass(1, 0).await;
    let mapping = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let good = settings_with(&format!("\"{TOKEN}\", \"{secret}\""), "");
    let bridge = Bridge::start(
        &good,
        &[("peripass.yaml", &mapping)],
        peripass_env(&backend),
    )
    .await;
    let logs = LogTap::open();
    let path = bridge.dir().join("settings.toml");
    let broken = [
        // A missing comma: TOML quotes the whole line.
        settings_with(&format!("\"{secret}\" \"{rotated}\""), ""),
        // A string for a list: serde quotes the value.
        good.replace(
            &format!("bearer_tokens = [\"{TOKEN}\", \"{secret}\"]"),
            &format!("bearer_tokens = \"{secret}\""),
        ),
    ];
    for (n, text) in broken.iter().enumerate() {
        atomic_write(&path, text);
        let r = wait_readyz(&bridge, "reload failure", |r| {
            r["reloadFailures"].as_u64() == Some(n as u64 + 1)
        })
        .await;
        let err = r["lastReloadError"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(err.contains("settings.toml"), "{err}");
        match n {
            0 => assert!(err.contains("line 3"), "{err}"),
            _ => assert!(err.contains("auth.bearer_tokens"), "{err}"),
        }
        let body = readyz(&bridge).await.to_string();
        let metrics = metrics(&bridge).await;
        for s in [secret, rotated] {
            assert!(
                !body.contains(s) && !body.contains("Sup3r"),
                "/readyz: {body}"
            );
            assert!(!metrics.contains(s), "/metrics: {metrics}");
        }
    }
    let logged = logs.text();
    assert!(logged.contains("reload failed"), "{logged}");
    assert!(
        !logged.contains("Sup3r") && !logged.contains("New-Rotated"),
        "a token reached the logs"
    );
    // The running configuration still serves, with the old tokens.
    assert_eq!(
        bridge.client.with_token(secret).get("/Users").await.status,
        200
    );
    bridge.shutdown().await;
}

/// Findings 5 and 6: with a mapping without `id.pattern`, dot ids, an
/// integer beyond i64 and a page beyond i32 never reach the backend.
#[tokio::test]
async fn dot_ids_and_out_of_range_numbers_never_reach_the_backend() {
    let backend = peripass(2, 1).await;
    let bridge = Bridge::start(
        &settings_with(&format!("\"{TOKEN}\""), ""),
        &[("peripass.yaml", &mapping_without_patterns())],
        peripass_env(&backend),
    )
    .await;
    let c = &bridge.client;
    backend.clear_requests();
    for id in [".", "..", "%2E", "%2e%2E", "%2E%2E%2E", "%252E"] {
        for path in [format!("/Groups/{id}"), format!("/Users/{id}")] {
            c.get(&path)
                .await
                .assert_scim_error_for(&format!("GET {path}"), 404, None);
            c.delete(&path)
                .await
                .assert_scim_error_for(&format!("DELETE {path}"), 404, None);
            c.patch(
                &path,
                &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "x"}])),
            )
            .await
            .assert_scim_error_for(&format!("PATCH {path}"), 404, None);
        }
    }
    // Integer ids beyond the signed 64-bit range.
    for id in [
        "9223372036854775808",
        "18446744073709551616",
        "-9223372036854775809",
    ] {
        c.get(&format!("/Users/{id}"))
            .await
            .assert_scim_error_for(&format!("GET {id}"), 404, None);
        c.delete(&format!("/Users/{id}"))
            .await
            .assert_scim_error_for(&format!("DELETE {id}"), 404, None);
    }
    // Member ids: empty or only dots, in a PATCH and in a create.
    for m in ["", ".", "..", "%2E%2E"] {
        let add = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": m}]}]));
        c.patch("/Groups/T-0001", &add).await.assert_scim_error_for(
            &format!("add member {m:?}"),
            400,
            Some("invalidValue"),
        );
        let rm = patch_ops(json!([{"op": "remove", "path": "members", "value": [{"value": m}]}]));
        c.patch("/Groups/T-0001", &rm).await.assert_scim_error_for(
            &format!("remove member {m:?}"),
            400,
            Some("invalidValue"),
        );
        let create = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Dots", "members": [{"value": m}]});
        c.post("/Groups", &create).await.assert_scim_error_for(
            &format!("create with member {m:?}"),
            400,
            Some("invalidValue"),
        );
    }
    let calls = backend.requests();
    assert!(
        calls.is_empty(),
        "backend calls: {:?}",
        calls
            .iter()
            .map(|r| format!("{} {}", r.method, r.path_and_query))
            .collect::<Vec<_>>()
    );
    // A page or offset beyond 2^31-1: an empty page. The index never
    // reaches the backend; only the first one-record page is asked for,
    // for the total.
    for path in [
        "/Users?startIndex=4294967296000&count=10",
        "/Groups?startIndex=2147483649&count=1",
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        assert_eq!(
            r.json()["Resources"].as_array().map_or(0, Vec::len),
            0,
            "{path}"
        );
    }
    let calls: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /api/v1/users?page=1&pageSize=1",
            "GET /api/v1/teams?offset=0&limit=1"
        ]
    );
    // The checks do not stop valid ids: these do reach the backend.
    assert_eq!(c.get("/Users/1").await.status, 200);
    c.get("/Users/9223372036854775807")
        .await
        .assert_scim_error(404, None);
    assert_eq!(c.get("/Groups/T-0001").await.status, 200);
    assert!(backend.requests().len() >= 3);
    bridge.shutdown().await;
}

/// Finding 10: a filter on an attribute the resource type does not have is
/// `400 invalidFilter` (before any backend call); Entra's own queries and
/// RFC attributes the mapping leaves unmapped still answer 200.
#[tokio::test]
async fn filters_on_attributes_a_type_lacks_are_invalid() {
    let backend = peripass(2, 1).await;
    let mapping = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let bridge = Bridge::start(
        &settings_with(&format!("\"{TOKEN}\""), ""),
        &[("peripass.yaml", &mapping)],
        peripass_env(&backend),
    )
    .await;
    let c = &bridge.client;
    backend.clear_requests();
    for path in [
        format!("/Groups?filter={}", entra_filter("userName eq \"a\"")),
        format!("/Users?filter={}", entra_filter("members[value eq \"1\"]")),
        format!(
            "/Users?filter={}",
            entra_filter("active eq true and noSuchThing pr")
        ),
        format!(
            "/Groups?filter={}",
            entra_filter(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"x\""
            )
        ),
    ] {
        let e = c
            .get(&path)
            .await
            .assert_scim_error_for(&path, 400, Some("invalidFilter"));
        assert!(
            e["detail"].as_str().unwrap().contains("has no attribute"),
            "{path}: {e}"
        );
    }
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"a\""});
    c.post("/Groups/.search", &search)
        .await
        .assert_scim_error(400, Some("invalidFilter"));
    assert!(backend.requests().is_empty());
    // Entra's queries, and RFC attributes left unmapped (absent: no match).
    for path in [
        format!(
            "/Users?filter={}",
            entra_filter("userName eq \"user1@example.com\"")
        ),
        format!(
            "/Groups?excludedAttributes=members&filter={}",
            entra_filter("displayName eq \"Team 1\"")
        ),
        format!(
            "/Users?filter={}",
            entra_filter("externalId eq \"x\" or id eq \"1\"")
        ),
        format!("/Users?filter={}", entra_filter("nickName eq \"nobody\"")),
    ] {
        assert_eq!(c.get(&path).await.status, 200, "{path}");
    }
    bridge.shutdown().await;
}

/// Finding 8: adding `[tls]` or changing a listener or connection limit
/// at run time keeps the running value, and says so in `/readyz`, in a
/// metric and in the log; other keys of the same edit apply.
#[tokio::test]
async fn restart_only_settings_are_kept_and_reported() {
    let backend = peripass(1, 0).await;
    let mapping = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let good = settings_with(&format!("\"{TOKEN}\""), "");
    let bridge = Bridge::start(
        &good,
        &[("peripass.yaml", &mapping)],
        peripass_env(&backend),
    )
    .await;
    let logs = LogTap::open();
    let dir = bridge.dir().to_path_buf();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("s.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("s.key"), cert.signing_key.serialize_pem()).unwrap();
    let changed = format!(
        "{good}[scim]\nmax_count = 7\n[server]\nlisten = \"127.0.0.1:1\"\nmax_concurrent_requests = 3\n[tls]\ncert_file = \"s.crt\"\nkey_file = \"s.key\"\n"
    );
    atomic_write(&dir.join("settings.toml"), &changed);
    let r = wait_readyz(&bridge, "reload", |r| r["reloads"].as_u64() == Some(1)).await;
    let pending: Vec<&str> = r["restartPending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        pending,
        ["tls", "server.listen", "server.max_concurrent_requests"],
        "{r}"
    );
    // Still plain HTTP, and meta.location stays http://.
    let u = bridge.client.get("/Users?count=1").await;
    assert_eq!(u.status, 200);
    let loc = u.json()["Resources"][0]["meta"]["location"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(loc.starts_with("http://"), "{loc}");
    // The non-restart key applied.
    let spc = bridge.client.get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["filter"]["maxResults"], 7, "{spc}");
    let metrics = metrics(&bridge).await;
    assert!(
        metrics.contains("scim_bridge_config_restart_pending 3"),
        "{metrics}"
    );
    let logged = logs.text();
    assert!(
        logged.contains("take effect only after a restart")
            && logged.contains("tls, server.listen, server.max_concurrent_requests"),
        "{logged}"
    );
    assert!(!logged.contains("server.listen changes need a restart"));
    // Back to the original file: nothing pending any more.
    atomic_write(&dir.join("settings.toml"), &good);
    wait_readyz(&bridge, "second reload", |r| {
        r["reloads"].as_u64() == Some(2) && r["restartPending"] == json!([])
    })
    .await;
    bridge.shutdown().await;
}

/// Finding 8, second half: `serve --listen` is no change on reload (no
/// warning every time the files change).
#[tokio::test]
async fn listen_given_on_the_command_line_is_not_a_change() {
    let backend = peripass(1, 0).await;
    let dir = TempDir::new();
    let settings = dir.0.join("settings.toml");
    let text = settings_with(
        &format!("\"{TOKEN}\""),
        "[server]\nlisten = \"127.0.0.1:1\"\n",
    )
    .replace(
        "peripass.yaml",
        &repo_path("config/mappings/peripass.yaml")
            .display()
            .to_string(),
    );
    std::fs::write(&settings, &text).unwrap();
    let p = BridgeProcess::start(
        &settings,
        &[
            ("PERIPASS_URL", backend.base_url()),
            ("PERIPASS_API_KEY", backend.api_key()),
        ],
    )
    .await;
    atomic_write(
        &settings,
        &text.replace("[server]", "[scim]\nmax_count = 9\n[server]"),
    );
    let root = TestClient::new(format!("http://{}", p.addr));
    let started = Instant::now();
    let r = loop {
        let r = root.get("/readyz").await.json();
        if r["reloads"].as_u64() == Some(1) {
            break r;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r["restartPending"], json!([]), "{r}");
    let log = std::fs::read_to_string(&p.log).unwrap();
    assert!(
        !log.contains("need a restart") && !log.contains("after a restart"),
        "{log}"
    );
}

/// Finding 7: `explain` masks every configured header value; a base URL
/// with credentials (never sent) is refused without showing them; the
/// backend bearer token is expanded once (a `$` in it survives).
#[tokio::test]
async fn explain_masks_headers_and_url_credentials() {
    let dir = TempDir::new();
    let bearer = "tok$en-${NOT_A_VAR}-$$-value";
    let static_key = "static-header-secret-9876";
    register_secret(bearer);
    register_secret(static_key);
    let mapping = format!(
        r#"
version: 1
backend:
  base_url: http://svc-user:svc-password-1234@127.0.0.1:9
  auth: {{ type: bearer, token: "${{BACKEND_TOKEN}}" }}
  headers:
    X-Static-Key: {static_key}
    X-From-Env: "${{HEADER_FROM_ENV}}"
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    id: {{ field: id }}
    operations:
      list: {{ path: /u, items: "$.items[*]", total: "$.total", paging: {{ style: offset, max_page_size: 100 }} }}
      get: {{ path: "/u/{{id}}" }}
    attributes:
      - {{ scim: userName, field: login }}
"#
    );
    register_secret("svc-password-1234");
    register_secret("from-env-secret-5555");
    std::fs::write(dir.0.join("m.yaml"), &mapping).unwrap();
    std::fs::write(
        dir.0.join("s.toml"),
        format!("mappings = [\"m.yaml\"]\n[auth]\nbearer_tokens = [\"{TOKEN}\"]\n"),
    )
    .unwrap();
    let env = HashMap::from([
        ("BACKEND_TOKEN".to_string(), bearer.to_string()),
        (
            "HEADER_FROM_ENV".to_string(),
            "from-env-secret-5555".to_string(),
        ),
        (ALLOW_WEAK_TOKENS.to_string(), "true".to_string()),
    ]);
    let Err(refused) = scim_bridge::load(&dir.0.join("s.toml"), Some(env.clone())) else {
        panic!("a base URL with credentials is refused")
    };
    let refused = refused.to_string();
    assert!(
        refused.contains("backend.base_url") && refused.contains("credentials"),
        "{refused}"
    );
    for s in ["svc-password-1234", "svc-user"] {
        assert!(!refused.contains(s), "{s} shown: {refused}");
    }
    std::fs::write(
        dir.0.join("m.yaml"),
        mapping.replace("svc-user:svc-password-1234@", ""),
    )
    .unwrap();
    // The token is sent as it is: expanded once.
    let (_, plan) = scim_bridge::load(&dir.0.join("s.toml"), Some(env.clone())).unwrap();
    let auth = plan.resources[0]
        .backend
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.to_str().unwrap().to_string());
    assert_eq!(auth.as_deref(), Some(format!("Bearer {bearer}").as_str()));
    let report = scim_bridge::explain::explain(
        &dir.0.join("s.toml"),
        Some(env),
        http::Method::GET,
        "/Users/abc",
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.calls.len(), 1);
    let shown = format!("{:?}", report.calls);
    for s in [
        bearer,
        "tok$en",
        static_key,
        "from-env-secret-5555",
        "svc-password-1234",
        "svc-user",
    ] {
        assert!(!shown.contains(s), "{s} shown: {shown}");
    }
    let h = &report.calls[0].headers;
    for name in ["authorization", "x-static-key", "x-from-env"] {
        assert!(
            h.iter().any(|(k, v)| k == name && v == "***"),
            "{name}: {h:?}"
        );
    }
    assert!(
        report.calls[0].url.starts_with("http://127.0.0.1:9/u/abc"),
        "{}",
        report.calls[0].url
    );
    // The same through the command line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(["explain", "--config"])
        .arg(dir.0.join("s.toml"))
        .args(["GET", "/Users/abc"])
        .env("BACKEND_TOKEN", bearer)
        .env("HEADER_FROM_ENV", "from-env-secret-5555")
        .env(ALLOW_WEAK_TOKENS, "true")
        .output()
        .unwrap();
    save_process_output("scim-bridge-explain", &out);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("x-static-key: ***") && text.contains("authorization: ***"),
        "{text}"
    );
    for s in [
        static_key,
        "from-env-secret-5555",
        "svc-password-1234",
        "tok$en",
    ] {
        assert!(!text.contains(s), "{s} printed: {text}");
    }
}
