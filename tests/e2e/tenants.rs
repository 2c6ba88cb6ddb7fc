//! `[[tenants]]`: one process serving independent tenants, each with its
//! own path prefix (or host name), credentials, mappings and backend. A
//! credential of one tenant opens no other; one tenant's backend outage or
//! broken reload leaves the others serving; every request is labelled with
//! its tenant in metrics, the log line and the audit line.
use crate::support::*;
use http::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const PERI_TOKEN: &str = "peri-tenant-token-0123456789";
const ACME_TOKEN: &str = "acme-tenant-token-0123456789";
/// The main file's own bearer token: opens `/metrics` and `/readyz` only.
const OPS_TOKEN: &str = "ops-token-0123456789-abcdef";

/// A tenant's settings file (weak test tokens allowed: the main listener is loopback).
fn tenant_file(mapping: &str, token: &str, probe_ms: u64) -> String {
    // The Peripass mapping takes its backend URL from the settings.
    let url = if mapping.starts_with("peri") {
        "base_url = \"${PERIPASS_URL}\"\n"
    } else {
        ""
    };
    format!(
        "mappings = [{mapping:?}]\n[auth]\nbearer_tokens = [\"{token}\"]\ninsecure_allow_weak_tokens = true\n[backend]\n{url}probe_interval_ms = {probe_ms}\n"
    )
}

struct Tenants {
    peri: peripass::Running,
    acme: acme::Running,
    bridge: Bridge,
}

impl Tenants {
    /// Peripass at `/t/peri`, Acme at `/t/acme`; `main_extra` is appended to
    /// the main settings (e.g. `[audit]`).
    async fn start(probe_ms: u64, main_extra: &str) -> Tenants {
        Self::start_with(probe_ms, main_extra, "", "").await
    }

    /// With text appended to the Peripass and Acme tenants' settings files.
    async fn start_with(
        probe_ms: u64,
        main_extra: &str,
        peri_extra: &str,
        acme_extra: &str,
    ) -> Tenants {
        Self::start_editing(probe_ms, main_extra, peri_extra, acme_extra, |_| {}).await
    }

    /// [`Self::start_with`], with `meanwhile` called on the folder between
    /// the load and serving ([`Bridge::start_with`]).
    async fn start_editing(
        probe_ms: u64,
        main_extra: &str,
        peri_extra: &str,
        acme_extra: &str,
        meanwhile: impl FnOnce(&std::path::Path),
    ) -> Tenants {
        for t in [PERI_TOKEN, ACME_TOKEN, OPS_TOKEN] {
            register_secret(t);
        }
        let peri = peripass::spawn(peripass::Options {
            seed_users: 2,
            ..Default::default()
        })
        .await
        .unwrap();
        register_secret(&peri.api_key());
        let acme = acme::spawn(acme::Options {
            password: ACME_PASSWORD.into(),
            seed_people: 3,
            ..Default::default()
        })
        .await
        .unwrap();
        let env = HashMap::from([
            ("PERIPASS_URL".to_string(), peri.base_url()),
            ("PERIPASS_API_KEY".to_string(), peri.api_key()),
            ("ACME_URL".to_string(), acme.base_url()),
            ("ACME_PASSWORD".to_string(), ACME_PASSWORD.to_string()),
        ]);
        let main = format!(
            "[auth]\nbearer_tokens = [\"{OPS_TOKEN}\"]\n\n\
             [[tenants]]\nname = \"peri\"\nsettings = \"peri.toml\"\npath_prefix = \"/t/peri\"\n\n\
             [[tenants]]\nname = \"acme\"\nsettings = \"acme.toml\"\npath_prefix = \"/t/acme\"\n\n{main_extra}\n"
        );
        let peri_mapping =
            std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
        let bridge = Bridge::start_with(
            &main,
            &[
                (
                    "peri.toml",
                    &(tenant_file("peripass.yaml", PERI_TOKEN, probe_ms) + peri_extra),
                ),
                (
                    "acme.toml",
                    &(tenant_file("acme.yaml", ACME_TOKEN, probe_ms) + acme_extra),
                ),
                ("peripass.yaml", &peri_mapping),
                ("acme.yaml", ACME_MAPPING),
            ],
            env,
            meanwhile,
        )
        .await;
        Tenants { peri, acme, bridge }
    }

    fn root(&self) -> TestClient {
        TestClient::new(format!("http://{}", self.bridge.addr)).without_token()
    }

    fn peri(&self) -> TestClient {
        TestClient::new(format!("http://{}/t/peri/scim/v2", self.bridge.addr))
            .with_token(PERI_TOKEN)
    }

    fn acme(&self) -> TestClient {
        TestClient::new(format!("http://{}/t/acme/scim/v2", self.bridge.addr))
            .with_token(ACME_TOKEN)
    }
}

fn user(name: &str) -> Value {
    json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":name,
           "name":{"givenName":"Ada","familyName":"Lovelace"},"active":true})
}

/// Edits the Peripass mapping at `path` in place: `name.formatted` becomes
/// "Last, First".
fn swap_formatted_order(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let changed = text.replace(
        "template: \"{firstName} {lastName}\"",
        "template: \"{lastName}, {firstName}\"",
    );
    assert_ne!(text, changed);
    std::fs::write(path, changed).unwrap();
}

/// Polls `f` until it returns `true` (generously: 30 s).
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not within 30 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_tenants_serve_their_own_mappings_and_backends() {
    let t = Tenants::start(0, "").await;
    let p = t.peri().get("/Users").await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.json()["totalResults"], 2, "Peripass' two users");
    let a = t.acme().get("/Users").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.json()["totalResults"], 3, "Acme's three people");
    // Request ids the bridge makes stay unique across tenants.
    assert_ne!(p.header("x-request-id"), a.header("x-request-id"));
    assert!(a.header("x-request-id").is_some());
    // Each tenant's own mapping: Acme's declares the enterprise extension.
    let ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let rt = |r: Resp| r.json().to_string();
    assert!(rt(t.acme().get("/ResourceTypes").await).contains(ext));
    assert!(!rt(t.peri().get("/ResourceTypes").await).contains(ext));

    // A write goes to the tenant's own backend, and its location carries the prefix.
    let peri_before = t.peri.request_count();
    let acme_posts = t
        .acme
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    let c = t.acme().post("/Users", &user("ada@acme.test")).await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let loc = c.header("location").unwrap().to_string();
    assert!(
        loc.starts_with(&format!("http://{}/t/acme/scim/v2/Users/", t.bridge.addr)),
        "{loc}"
    );
    assert_eq!(
        t.acme
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        acme_posts + 1
    );
    assert_eq!(
        t.peri.request_count(),
        peri_before,
        "Peripass saw nothing of it"
    );
    let c = t.peri().post("/Users", &user("ada@peri.test")).await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    assert_eq!(t.peri().get("/Users").await.json()["totalResults"], 3);
    assert_eq!(t.acme().get("/Users").await.json()["totalResults"], 4);
    // The process's health check stays where it was.
    assert_eq!(t.root().get("/healthz").await.status, 200);
}

#[tokio::test]
async fn a_credential_of_one_tenant_is_refused_on_another() {
    let t = Tenants::start(0, "").await;
    let peri_before = t.peri.request_count();
    let acme_before = t.acme.requests().len();
    let r = t.peri().with_token(ACME_TOKEN).get("/Users").await;
    r.assert_scim_error(401, None);
    let r = t.acme().with_token(PERI_TOKEN).get("/Users").await;
    r.assert_scim_error(401, None);
    let r = t
        .acme()
        .with_token(PERI_TOKEN)
        .post("/Users", &user("x@y.test"))
        .await;
    r.assert_scim_error(401, None);
    // The operators' token of the main file opens no tenant either.
    let r = t.peri().with_token(OPS_TOKEN).get("/Users").await;
    r.assert_scim_error(401, None);
    assert_eq!(
        t.peri.request_count(),
        peri_before,
        "Peripass was not called"
    );
    assert_eq!(t.acme.requests().len(), acme_before, "Acme was not called");

    // No tenant there: the same 401 whatever the name, naming no tenant
    // (what a tenant answers a credential it does not know).
    let root = t.root().with_token(PERI_TOKEN);
    let a = root.get("/t/nope/scim/v2/Users").await;
    let b = root.get("/scim/v2/Users").await;
    let c = root.get("/t/peri-x/scim/v2/Users").await;
    a.assert_scim_error(401, None);
    assert_eq!(a.body, b.body);
    assert_eq!(a.body, c.body);
    let text = String::from_utf8_lossy(&a.body).to_string();
    assert!(!text.contains("peri") && !text.contains("acme"), "{text}");
    // Like every answer it carries a request id: a new one, or the client's.
    assert!(a.header("x-request-id").is_some_and(|v| !v.is_empty()));
    let d = root
        .send(
            Method::GET,
            "/t/nope/scim/v2/Users",
            None,
            &[("x-request-id", "trace-no-tenant-1")],
        )
        .await;
    d.assert_scim_error(401, None);
    assert_eq!(d.header("x-request-id"), Some("trace-no-tenant-1"));
}

/// An answer without what differs between any two answers (request id, date).
fn comparable(r: &Resp) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "x-request-id" | "date"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    h.sort();
    (r.status.as_u16(), h, r.body.to_vec())
}

/// Without valid credentials a tenant that exists and one that does not
/// answer alike (status, headers, body), whatever the path, the method and
/// the credential sent (none, junk, a JWT-shaped one, another tenant's):
/// tenant names cannot be enumerated.
#[tokio::test]
async fn an_unknown_tenant_is_indistinguishable_from_a_known_one_without_credentials() {
    let t = Tenants::start(0, "").await;
    let root = t.root();
    let jwt_shaped = "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJzdWIiOiJ4In0.c2ln";
    let creds: [Option<&str>; 4] = [None, Some("junk-token"), Some(jwt_shaped), Some(ACME_TOKEN)];
    let pairs = [
        ("/t/peri/x", "/t/nosuch/x"),
        ("/t/peri", "/t/nosuch"),
        ("/t/peri/", "/nosuch/"),
        ("/t/peri/scim/v2/Users", "/t/nosuch/scim/v2/Users"),
        ("/t/peri/scim/v2/Users/1", "/scim/v2/Users/1"),
        ("/t/peri/scim/v2", "/t/nosuch/scim/v2"),
        (
            "/t/peri/scim/v2/ServiceProviderConfig",
            "/t/peri-x/scim/v2/ServiceProviderConfig",
        ),
        ("/t/peri/readyz", "/t/nosuch/readyz"),
        ("/t/peri/scim/v2/nope/deeper/still", "/"),
    ];
    for cred in creds {
        let c = match cred {
            Some(tok) => root.with_token(tok),
            None => root.without_token(),
        };
        for (known, unknown) in pairs {
            for method in [Method::GET, Method::POST, Method::HEAD, Method::DELETE] {
                let body = (method == Method::POST).then_some("{}");
                let a = c.send(method.clone(), known, body, &[]).await;
                let b = c.send(method.clone(), unknown, body, &[]).await;
                assert_eq!(
                    comparable(&a),
                    comparable(&b),
                    "{method} {known} vs {unknown} with {cred:?}"
                );
                assert_eq!(a.status, 401, "{method} {known} with {cred:?}");
            }
        }
    }
    // Header limits are per process: the same 431 inside a tenant or not.
    let big = "x".repeat(40_000);
    let a = root
        .send(
            Method::GET,
            "/t/peri/scim/v2/Users",
            None,
            &[("x-big", &big)],
        )
        .await;
    let b = root
        .send(
            Method::GET,
            "/t/nosuch/scim/v2/Users",
            None,
            &[("x-big", &big)],
        )
        .await;
    assert_eq!(a.status, 431);
    assert_eq!(comparable(&a), comparable(&b));
    // With its credential, the tenant answers as before.
    assert_eq!(t.peri().get("/Users").await.status, 200);
    let r = root.with_token(PERI_TOKEN).get("/t/peri/x").await;
    r.assert_scim_error(404, None);
}

/// The same OAuth client id and secret at both tenants, each tenant with its
/// own signing key: a token issued by one tenant's endpoint opens that
/// tenant only.
#[tokio::test]
async fn an_oauth_token_of_one_tenant_is_refused_on_another() {
    const SECRET: &str = "tenant-client-secret-0123456789abc";
    const KEY_P: &str = "tenant-peri-signing-key-0123456789-0123456789";
    const KEY_A: &str = "tenant-acme-signing-key-0123456789-0123456789";
    for s in [SECRET, KEY_P, KEY_A] {
        register_secret(s);
    }
    register_basic("entra", SECRET);
    let oauth = |key: &str| {
        format!("[auth.oauth]\nsigning_keys = [{key:?}]\n[[auth.oauth.clients]]\nid = \"entra\"\nsecrets = [{SECRET:?}]\n")
    };
    let t = Tenants::start_with(0, "", &oauth(KEY_P), &oauth(KEY_A)).await;
    let form = format!("grant_type=client_credentials&client_id=entra&client_secret={SECRET}");
    let token = |c: TestClient| {
        let form = form.clone();
        async move {
            let r = c
                .without_token()
                .send(
                    http::Method::POST,
                    "/oauth2/token",
                    Some(&form),
                    &[("content-type", "application/x-www-form-urlencoded")],
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            let tok = r.json()["access_token"].as_str().unwrap().to_string();
            register_secret(&tok);
            tok
        }
    };
    let peri_token = token(t.peri()).await;
    let acme_token = token(t.acme()).await;
    assert_eq!(
        t.peri().with_token(&peri_token).get("/Users").await.status,
        200
    );
    assert_eq!(
        t.acme().with_token(&acme_token).get("/Users").await.status,
        200
    );
    let acme_before = t.acme.requests().len();
    let peri_before = t.peri.request_count();
    t.acme()
        .with_token(&peri_token)
        .get("/Users")
        .await
        .assert_scim_error(401, None);
    t.peri()
        .with_token(&acme_token)
        .get("/Users")
        .await
        .assert_scim_error(401, None);
    assert_eq!(t.acme.requests().len(), acme_before);
    assert_eq!(t.peri.request_count(), peri_before);
}

#[tokio::test]
async fn one_tenants_backend_down_leaves_the_other_serving() {
    let t = Tenants::start(200, "").await;
    let root = t.root();
    eventually("both tenants ready", || async {
        let p = root.with_token(PERI_TOKEN).get("/readyz").await;
        let a = root.with_token(ACME_TOKEN).get("/readyz").await;
        p.status == 200 && a.status == 200
    })
    .await;
    let Tenants {
        peri, acme, bridge, ..
    } = t;
    let t = (acme, bridge);
    peri.shutdown().await;
    let peri_client =
        TestClient::new(format!("http://{}/t/peri/scim/v2", t.1.addr)).with_token(PERI_TOKEN);
    let acme_client =
        TestClient::new(format!("http://{}/t/acme/scim/v2", t.1.addr)).with_token(ACME_TOKEN);
    let r = peri_client.get("/Users").await;
    assert!(r.status.is_server_error(), "{} {:?}", r.status, r.body);
    for i in 0..5 {
        let r = acme_client.get("/Users").await;
        assert_eq!(r.status, 200, "Acme serves (request {i}): {:?}", r.body);
        let c = acme_client
            .post("/Users", &user(&format!("u{i}@acme.test")))
            .await;
        assert_eq!(c.status, 201, "{:?}", c.body);
    }
    // `/readyz`: each tenant's token sees its own tenant only; without a
    // token the process stays ready while one tenant is.
    eventually("Peripass tenant unready", || async {
        root.with_token(PERI_TOKEN).get("/readyz").await.status == 503
    })
    .await;
    let p = root.with_token(PERI_TOKEN).get("/readyz").await.json();
    assert_eq!(p["tenant"], "peri", "{p}");
    assert_eq!(p["status"], "not ready", "{p}");
    let a = root.with_token(ACME_TOKEN).get("/readyz").await;
    assert_eq!(a.status, 200);
    let a = a.json();
    assert_eq!(a["tenant"], "acme", "{a}");
    assert!(!a.to_string().contains("peri"), "{a}");
    let anon = root.get("/readyz").await;
    assert_eq!(anon.status, 200);
    assert_eq!(anon.json(), json!({"status": "ready"}));
    let ops = root.with_token(OPS_TOKEN).get("/readyz").await.json();
    assert_eq!(ops["tenants"]["peri"]["status"], "not ready", "{ops}");
    assert_eq!(ops["tenants"]["acme"]["status"], "ready", "{ops}");
}

/// A tenant's mapping edited after the load read it but before the bridge
/// serves is reloaded (for that tenant only): its files are stamped before
/// they are read, as the main file's are.
#[tokio::test]
async fn a_tenant_edit_made_while_the_bridge_starts_is_picked_up() {
    let t = Tenants::start_editing(0, "", "", "", |dir| {
        swap_formatted_order(&dir.join("peripass.yaml"))
    })
    .await;
    eventually("the edit made during the start applied", || async {
        t.peri().get("/Users/1").await.json()["name"]["formatted"] == "Last1, First1"
    })
    .await;
    let root = t.root();
    let p = root.with_token(PERI_TOKEN).get("/readyz").await.json();
    assert_eq!(p["reloads"], 1, "{p}");
    let a = root.with_token(ACME_TOKEN).get("/readyz").await.json();
    assert_eq!(a["reloads"], 0, "Acme's files did not change: {a}");
}

#[tokio::test]
async fn a_broken_reload_of_one_tenant_leaves_the_other_reloading_its_own() {
    let t = Tenants::start(0, "").await;
    let root = t.root();
    // Acme's mapping breaks: Acme keeps its running configuration.
    let acme_yaml = t.bridge.dir().join("acme.yaml");
    std::fs::write(
        &acme_yaml,
        "version: 1\nresources: [ this is not a mapping\n",
    )
    .unwrap();
    eventually("Acme's reload failed", || async {
        let r = root.with_token(ACME_TOKEN).get("/readyz").await.json();
        r["reloadFailures"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    let r = root.with_token(ACME_TOKEN).get("/readyz").await.json();
    assert!(
        r["lastReloadError"]
            .as_str()
            .unwrap_or("")
            .contains("acme.yaml"),
        "{r}"
    );
    assert_eq!(
        t.acme().get("/Users").await.status,
        200,
        "Acme serves its previous one"
    );
    let m = root.with_token(OPS_TOKEN).get("/metrics").await;
    let m = String::from_utf8(m.body.to_vec()).unwrap();
    assert!(
        m.lines()
            .any(|l| l == "scim_bridge_tenant_config_reload_failed{tenant=\"acme\"} 1"),
        "{m}"
    );
    assert!(
        m.lines().any(|l| l == "scim_bridge_config_reload_failed 0"),
        "{m}"
    );
    // Peripass was not touched by it, and reloads a change of its own.
    let p = root.with_token(PERI_TOKEN).get("/readyz").await.json();
    assert_eq!(p["reloadFailures"], 0, "{p}");
    let formatted = || async {
        t.peri().get("/Users/1").await.json()["name"]["formatted"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(formatted().await, "First1 Last1");
    swap_formatted_order(&t.bridge.dir().join("peripass.yaml"));
    eventually("Peripass' change applied", || async {
        formatted().await == "Last1, First1"
    })
    .await;
    let p = root.with_token(PERI_TOKEN).get("/readyz").await.json();
    assert_eq!(p["reloads"], 1, "{p}");
    assert_eq!(p["reloadFailures"], 0, "{p}");
    assert_eq!(t.acme().get("/Users").await.status, 200);
    // Acme's fix is picked up too.
    std::fs::write(&acme_yaml, ACME_MAPPING).unwrap();
    eventually("Acme's fix applied", || async {
        let r = root.with_token(ACME_TOKEN).get("/readyz").await.json();
        r["reloads"].as_u64().unwrap_or(0) >= 1 && r["lastReloadError"].is_null()
    })
    .await;
    // A reload taking another tenant's token is refused; Acme keeps its own.
    let acme_toml = t.bridge.dir().join("acme.toml");
    let text = std::fs::read_to_string(&acme_toml).unwrap();
    std::fs::write(&acme_toml, text.replace(ACME_TOKEN, PERI_TOKEN)).unwrap();
    eventually("Acme's token change refused", || async {
        let r = root.with_token(ACME_TOKEN).get("/readyz").await.json();
        r["lastReloadError"]
            .as_str()
            .is_some_and(|e| e.contains("auth.bearer_tokens") && e.contains("\"peri\""))
    })
    .await;
    t.acme()
        .with_token(PERI_TOKEN)
        .get("/Users")
        .await
        .assert_scim_error(401, None);
    assert_eq!(t.acme().get("/Users").await.status, 200);
}

#[tokio::test]
async fn requests_are_labelled_with_their_tenant() {
    let t = Tenants::start(0, "[audit]\nfile = \"audit.jsonl\"\n").await;
    let tap = LogTap::open();
    let rid = format!("tenant-label-{}", std::process::id());
    let r = t
        .peri()
        .send(http::Method::GET, "/Users", None, &[("x-request-id", &rid)])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t.acme().get("/Users").await.status, 200);
    let c = t.acme().post("/Users", &user("grace@acme.test")).await;
    assert_eq!(c.status, 201, "{:?}", c.body);

    // Metrics: the operators' token reads them, a tenant's does not.
    let root = t.root();
    root.with_token(PERI_TOKEN)
        .get("/metrics")
        .await
        .assert_scim_error(401, None);
    let m = root.with_token(OPS_TOKEN).get("/metrics").await;
    assert_eq!(m.status, 200);
    let m = String::from_utf8(m.body.to_vec()).unwrap();
    for series in [
        "scim_bridge_tenant_requests_total{tenant=\"peri\",resource=\"Users\",operation=\"list\",status=\"200\"} 1",
        "scim_bridge_tenant_requests_total{tenant=\"acme\",resource=\"Users\",operation=\"list\",status=\"200\"} 1",
        "scim_bridge_tenant_requests_total{tenant=\"acme\",resource=\"Users\",operation=\"create\",status=\"201\"} 1",
        "scim_bridge_tenant_backend_calls_total{tenant=\"peri\",operation=\"list\",status=\"200\"} 1",
        "scim_bridge_tenant_backend_calls_total{tenant=\"acme\",operation=\"create\",status=\"201\"} 1",
        // The process-wide series count both.
        "scim_bridge_requests_total{resource=\"Users\",operation=\"list\",status=\"200\"} 2",
    ] {
        assert!(m.lines().any(|l| l == series), "no {series} in\n{m}");
    }
    // The log line.
    let line = tap
        .text()
        .lines()
        .find(|l| l.contains(&rid) && l.contains("\"request\""))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no request line for {rid}"));
    let line: Value = serde_json::from_str(&line).unwrap();
    let fields = if line.get("fields").is_some() {
        &line["fields"]
    } else {
        &line
    };
    assert_eq!(fields["tenant"], "peri", "{line}");
    // The audit line.
    let audit = std::fs::read_to_string(t.bridge.dir().join("audit.jsonl")).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{audit}");
    assert_eq!(lines[0]["tenant"], "acme", "{audit}");
    assert_eq!(lines[0]["operation"], "create", "{audit}");
}

/// An Acme backend (one person) and a bridge whose one tenant, `acme`, is
/// selected by the host name `acme.scim.test`.
async fn acme_tenant_by_host() -> (acme::Running, Bridge) {
    register_secret(ACME_TOKEN);
    let acme = acme::spawn(acme::Options {
        password: ACME_PASSWORD.into(),
        seed_people: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let env = HashMap::from([
        ("ACME_URL".to_string(), acme.base_url()),
        ("ACME_PASSWORD".to_string(), ACME_PASSWORD.to_string()),
    ]);
    let main =
        "[[tenants]]\nname = \"acme\"\nsettings = \"acme.toml\"\nhost = \"acme.scim.test\"\n";
    let bridge = Bridge::start(
        main,
        &[
            ("acme.toml", &tenant_file("acme.yaml", ACME_TOKEN, 0)),
            ("acme.yaml", ACME_MAPPING),
        ],
        env,
    )
    .await;
    (acme, bridge)
}

#[tokio::test]
async fn a_host_name_selects_a_tenant() {
    let (_acme, bridge) = acme_tenant_by_host().await;
    let c = TestClient::new(format!("http://{}/scim/v2", bridge.addr)).with_token(ACME_TOKEN);
    let r = c
        .send(
            http::Method::GET,
            "/Users",
            None,
            &[("host", "ACME.scim.test:8443")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["totalResults"], 1);
    let r = c.get("/Users").await;
    r.assert_scim_error(401, None);
    // Without credentials, the tenant's host and an unknown one answer alike.
    for path in ["/Users", "/x", "/../../readyz-not"] {
        for tok in [None, Some("junk")] {
            let c = match tok {
                Some(t) => c.with_token(t),
                None => c.without_token(),
            };
            let a = c
                .send(http::Method::GET, path, None, &[("host", "acme.scim.test")])
                .await;
            let b = c
                .send(
                    http::Method::GET,
                    path,
                    None,
                    &[("host", "nosuch.scim.test")],
                )
                .await;
            assert_eq!(comparable(&a), comparable(&b), "{path} {tok:?}");
            a.assert_scim_error(401, None);
        }
    }
}

/// `Host` per RFC 9112 §3.2: a request with two `Host` fields is refused
/// with `400` (whichever comes first), and the authority of an
/// absolute-form target wins over `Host` (§3.2.2).
#[tokio::test]
async fn duplicate_host_is_refused_and_an_absolute_target_wins_over_host() {
    use tokio::io::AsyncWriteExt;
    let (acme, bridge) = acme_tenant_by_host().await;
    let raw = |head: String| {
        let addr = bridge.addr;
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            read_response(&mut s).await
        }
    };
    let auth = format!("Authorization: Bearer {ACME_TOKEN}\r\n");
    let before = acme.requests().len();
    for hosts in [
        ["acme.scim.test", "127.0.0.1"],
        ["127.0.0.1", "acme.scim.test"],
        ["acme.scim.test", "acme.scim.test"],
    ] {
        let r = raw(format!(
            "GET /scim/v2/Users HTTP/1.1\r\nHost: {}\r\nHost: {}\r\n{auth}\r\n",
            hosts[0], hosts[1]
        ))
        .await;
        let e = r.scim_error(400);
        assert_eq!(e["detail"], "more than one Host header", "{hosts:?}");
        assert!(r.head.contains("x-request-id: "), "{}", r.head);
    }
    assert_eq!(acme.requests().len(), before, "the backend was not called");
    // Absolute form: the target's authority selects the tenant, not Host.
    let r = raw(format!(
        "GET http://acme.scim.test:8443/scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    // And the URLs the answer carries are built from that same authority.
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        body.contains("\"location\":\"http://acme.scim.test:8443/scim/v2/Users/")
            && !body.contains("127.0.0.1"),
        "{body}"
    );
    let r = raw(format!(
        "GET http://127.0.0.1/scim/v2/Users HTTP/1.1\r\nHost: acme.scim.test\r\n{auth}Connection: close\r\n\r\n"
    ))
    .await;
    assert_ne!(r.status, 200, "{}", r.head);
    assert_eq!(acme.requests().len(), before + 1);
    // One Host, origin form: as before.
    let r = raw(format!(
        "GET /scim/v2/Users HTTP/1.1\r\nHost: acme.scim.test\r\n{auth}Connection: close\r\n\r\n"
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
}

fn write_main(dir: &std::path::Path, tenants: &[(&str, &str)]) -> std::path::PathBuf {
    let mut main = String::new();
    for (name, file) in tenants {
        main.push_str(&format!(
            "[[tenants]]\nname = \"{name}\"\nsettings = \"{file}\"\npath_prefix = \"/t/{name}\"\n"
        ));
    }
    let p = dir.join("main.toml");
    std::fs::write(&p, main).unwrap();
    p
}

#[test]
fn check_names_the_tenant_of_every_error() {
    let dir = TempDir::new();
    let env = Some(HashMap::from([
        ("ACME_URL".to_string(), "http://127.0.0.1:9".to_string()),
        ("ACME_PASSWORD".to_string(), ACME_PASSWORD.to_string()),
    ]));
    std::fs::write(dir.0.join("acme.yaml"), ACME_MAPPING).unwrap();
    std::fs::write(
        dir.0.join("good.toml"),
        tenant_file("acme.yaml", ACME_TOKEN, 0),
    )
    .unwrap();
    std::fs::write(
        dir.0.join("bad.toml"),
        tenant_file("missing.yaml", PERI_TOKEN, 0),
    )
    .unwrap();
    std::fs::write(
        dir.0.join("same.toml"),
        tenant_file("acme.yaml", ACME_TOKEN, 0),
    )
    .unwrap();
    let main = write_main(&dir.0, &[("good", "good.toml"), ("bad", "bad.toml")]);
    let e = scim_bridge::load::load_all(&main, env.clone())
        .unwrap_err()
        .to_string();
    assert!(e.lines().all(|l| l.starts_with("tenant bad: ")), "{e}");
    assert!(e.contains("missing.yaml"), "{e}");
    // Two tenants with one token: refused (a credential opens one tenant).
    let main = write_main(&dir.0, &[("good", "good.toml"), ("same", "same.toml")]);
    let e = scim_bridge::load::load_all(&main, env.clone())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tenant same: ") && e.contains("auth.bearer_tokens"),
        "{e}"
    );
    // The main file's selectors are checked too.
    std::fs::write(
        &main,
        "[[tenants]]\nname = \"A\"\nsettings = \"good.toml\"\npath_prefix = \"/t/a\"\n\
         [[tenants]]\nname = \"b\"\nsettings = \"good.toml\"\npath_prefix = \"/t/a/b\"\n\
         [[tenants]]\nname = \"c\"\nsettings = \"good.toml\"\n",
    )
    .unwrap();
    let e = scim_bridge::load::load_all(&main, env.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains("tenants[0].name"), "{e}");
    assert!(
        e.contains("tenants[1].path_prefix") && e.contains("overlaps"),
        "{e}"
    );
    assert!(
        e.contains("tenants[2].path_prefix") && e.contains("exactly one"),
        "{e}"
    );
    // A tenant file may not hold per-process sections.
    std::fs::write(
        dir.0.join("tls.toml"),
        format!(
            "{}[audit]\nfile = \"a.jsonl\"\n",
            tenant_file("acme.yaml", ACME_TOKEN, 0)
        ),
    )
    .unwrap();
    let main = write_main(&dir.0, &[("t", "tls.toml")]);
    let e = scim_bridge::load::load_all(&main, env)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tenant t: ") && e.contains("audit: per process"),
        "{e}"
    );
}

#[tokio::test]
async fn explain_takes_the_tenant() {
    let dir = TempDir::new();
    let env = Some(HashMap::from([
        ("ACME_URL".to_string(), "http://acme.invalid".to_string()),
        ("ACME_PASSWORD".to_string(), ACME_PASSWORD.to_string()),
    ]));
    std::fs::write(dir.0.join("acme.yaml"), ACME_MAPPING).unwrap();
    std::fs::write(
        dir.0.join("acme.toml"),
        tenant_file("acme.yaml", ACME_TOKEN, 0),
    )
    .unwrap();
    let main = write_main(&dir.0, &[("acme", "acme.toml")]);
    let run = |tenant: Option<&'static str>| {
        scim_bridge::explain::explain_tenant(
            &main,
            tenant,
            env.clone(),
            http::Method::GET,
            "/Users",
            None,
            None,
        )
    };
    let report = run(Some("acme")).await.unwrap();
    assert_eq!(report.status, 200);
    assert!(
        report.calls[0].url.starts_with("http://acme.invalid/"),
        "{:?}",
        report.calls
    );
    let e = run(None).await.unwrap_err().to_string();
    assert!(e.contains("--tenant") && e.contains("acme"), "{e}");
    let e = run(Some("nope")).await.unwrap_err().to_string();
    assert!(e.contains("no tenant \"nope\""), "{e}");
}

#[test]
fn the_shipped_example_loads() {
    let token = |c: char| std::iter::repeat_n(c, 40).collect::<String>();
    let env: HashMap<String, String> = [
        ("SCIM_BRIDGE_OPS_TOKEN", token('o')),
        ("CONTOSO_SCIM_TOKEN", token('c')),
        ("FABRIKAM_SCIM_TOKEN", token('f')),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    register_env_secrets(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (main, plan, tenants) =
        scim_bridge::load::load_all(&repo_path("config/tenants/scim-bridge.toml"), Some(env))
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.resources.is_empty());
    assert_eq!(main.tenants.len(), 2);
    let names: Vec<_> = tenants.iter().map(|t| t.tenant.name.as_str()).collect();
    assert_eq!(names, ["contoso", "fabrikam"]);
    assert_eq!(tenants[0].settings.base_path, "/t/contoso/scim/v2");
    assert_eq!(tenants[1].settings.base_path, "/scim/v2");
    assert!(!tenants[0].plan.resources.is_empty());
}
