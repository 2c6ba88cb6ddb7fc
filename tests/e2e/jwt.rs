//! `[auth.jwt]`: Entra-style RS256 bearer tokens. Keys are generated here
//! (the `rsa` crate), tokens signed with ring; JWKS from a file and from a
//! URL served by a tiny local HTTP server (refreshed on an unknown `kid`).

use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const AUDIENCE: &str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";

fn issuer() -> String {
    format!("https://sts.windows.net/{TENANT}/")
}

struct Key {
    kid: String,
    pair: ring::signature::RsaKeyPair,
    jwk: Value,
}

fn key(kid: &str, pkcs8: &[u8]) -> Key {
    let pair = ring::signature::RsaKeyPair::from_pkcs8(pkcs8).unwrap();
    let public: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
    let jwk = json!({
        "kty": "RSA", "use": "sig", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(&public.n),
        "e": URL_SAFE_NO_PAD.encode(&public.e),
    });
    Key {
        kid: kid.into(),
        pair,
        jwk,
    }
}

/// Keys "a", "b" and "c" (test keys committed under tests/fixtures/keys).
fn keys() -> &'static [Key; 3] {
    static K: OnceLock<[Key; 3]> = OnceLock::new();
    K.get_or_init(|| {
        [
            key("a", include_bytes!("../fixtures/keys/jwt-a.pk8.der")),
            key("b", include_bytes!("../fixtures/keys/jwt-b.pk8.der")),
            key("c", include_bytes!("../fixtures/keys/jwt-c.pk8.der")),
        ]
    })
}

fn jwks(ks: &[&Key]) -> String {
    json!({"keys": ks.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    json!({
        "aud": AUDIENCE,
        "iss": issuer(),
        "tid": TENANT,
        "iat": now() - 10,
        "nbf": now() - 10,
        "exp": now() + 3600,
        "appid": "00000014-0000-0000-c000-000000000000",
    })
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// An RS256 token signed by `k`, its header naming `kid`.
fn sign_as(k: &Key, kid: &str, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(&json!({"typ": "JWT", "alg": "RS256", "kid": kid})),
        b64(claims)
    );
    let mut sig = vec![0u8; k.pair.public().modulus_len()];
    k.pair
        .sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    register_secret(&token);
    token
}

fn sign(k: &Key, claims: &Value) -> String {
    sign_as(k, &k.kid, claims)
}

fn jwt_settings(jwks: &str) -> String {
    format!(
        "[auth.jwt]\nissuer = \"{}\"\naudience = [\"api://other\", \"{AUDIENCE}\"]\ntenant_id = \"{TENANT}\"\n{jwks}\n",
        issuer()
    )
}

/// Asserts a 401 `invalid_token` that does not echo the token.
fn assert_refused(r: &Resp, token: &str, what: &str) {
    assert_eq!(
        r.status,
        401,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.assert_scim_error(401, None);
    let www = r.header("www-authenticate").unwrap_or("");
    assert!(
        www.starts_with("Bearer") && www.contains("error=\"invalid_token\""),
        "{what}: {www}"
    );
    let body = String::from_utf8_lossy(&r.body);
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(!body.contains(part), "{what}: the answer echoes the token");
    }
}

#[tokio::test]
async fn jwks_file_tokens_accepted_and_refused() {
    let [a, _, c] = keys();
    let dir = TempDir::new();
    let file = dir.0.join("jwks.json");
    std::fs::write(&file, jwks(&[a])).unwrap();
    let extra = jwt_settings(&format!("jwks_file = {:?}", file.display().to_string()));
    let stack = PeripassStack::start_with(
        crate::support::peripass::Options {
            seed_users: 1,
            ..Default::default()
        },
        &extra,
    )
    .await;
    let scim = stack.scim();

    // Valid; also within the leeway after expiry; aud as a list.
    for (what, cl) in [
        ("valid", claims()),
        ("expired 30 s ago (leeway 60 s)", {
            let mut c = claims();
            c["exp"] = json!(now() - 30);
            c
        }),
        ("aud list", {
            let mut c = claims();
            c["aud"] = json!(["x", AUDIENCE]);
            c
        }),
    ] {
        let r = scim.with_token(&sign(a, &cl)).get("/Users").await;
        assert_eq!(
            r.status,
            200,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // The static token still works alongside.
    assert_eq!(scim.get("/Users").await.status, 200);

    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        c
    };
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let valid = sign(a, &claims());
    let tampered = {
        let p: Vec<&str> = valid.split('.').collect();
        let mut c = claims();
        c["appid"] = json!("someone-else");
        format!("{}.{}.{}", p[0], b64(&c), p[2])
    };
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims())
    );
    let hs256 = {
        // The classic confusion: HMAC keyed with the public key.
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "typ": "JWT", "kid": "a"})),
            b64(&claims())
        );
        let public = a.jwk.to_string();
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public.as_bytes());
        let tag = ring::hmac::sign(&k, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let cases: Vec<(&str, String)> = vec![
        ("expired", sign(a, &with("exp", json!(now() - 3600)))),
        ("no exp", sign(a, &no_exp)),
        (
            "nbf in the future",
            sign(a, &with("nbf", json!(now() + 3600))),
        ),
        (
            "wrong audience",
            sign(a, &with("aud", json!("api://other-app"))),
        ),
        (
            "wrong issuer",
            sign(a, &with("iss", json!("https://sts.windows.net/evil/"))),
        ),
        (
            "wrong tenant",
            sign(
                a,
                &with("tid", json!("00000000-0000-0000-0000-000000000000")),
            ),
        ),
        ("alg none", unsigned),
        ("HS256 with the public key", hs256),
        ("tampered payload", tampered),
        ("unknown kid", sign(c, &claims())),
        (
            "signed by another key under kid a",
            sign_as(c, "a", &claims()),
        ),
        ("garbage", "not.a.jwt".to_string()),
    ];
    stack.backend.clear_requests();
    for (what, token) in &cases {
        for r in [
            scim.with_token(token).get("/Users").await,
            scim.with_token(token).get("/Users/1").await,
            scim.with_token(token)
                .post(
                    "/Users",
                    &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@example.com"}),
                )
                .await,
        ] {
            assert_refused(&r, token, what);
        }
    }
    assert_eq!(
        stack.backend.request_count(),
        0,
        "a refused request reached the backend"
    );
    // A missing token: 401 without error="invalid_token" (RFC 6750 3.1).
    let r = scim.without_token().get("/Users").await;
    r.assert_scim_error(401, None);
    assert!(!r.header("www-authenticate").unwrap().contains("error="));
}

/// A JWKS endpoint whose document can be changed; counts fetches.
struct JwksServer {
    url: String,
    doc: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

async fn jwks_server(doc: String) -> JwksServer {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/discovery/keys", l.local_addr().unwrap());
    let doc = Arc::new(Mutex::new(doc));
    let hits = Arc::new(AtomicUsize::new(0));
    let (d, h) = (doc.clone(), hits.clone());
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let (d, h) = (d.clone(), h.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    h.fetch_add(1, Ordering::SeqCst);
                    let body = d.lock().unwrap().clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    JwksServer { url, doc, hits }
}

#[tokio::test]
async fn jwks_url_is_cached_and_refreshed_on_an_unknown_kid() {
    let [a, b, c] = keys();
    let server = jwks_server(jwks(&[a])).await;
    let stack = PeripassStack::start_with(
        Default::default(),
        &jwt_settings(&format!("jwks_url = \"{}\"", server.url)),
    )
    .await;
    let scim = stack.scim();
    let ok = |r: Resp, what: &str| {
        assert_eq!(
            r.status,
            200,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    };
    ok(
        scim.with_token(&sign(a, &claims())).get("/Users").await,
        "a",
    );
    ok(
        scim.with_token(&sign(a, &claims())).get("/Users").await,
        "a again",
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "keys are cached");
    // Key rotation: "b" is published; a token with kid "b" triggers a refresh.
    *server.doc.lock().unwrap() = jwks(&[a, b]);
    ok(
        scim.with_token(&sign(b, &claims())).get("/Users").await,
        "b",
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    // Another unknown kid within the minute: refused without a fetch.
    let t = sign(c, &claims());
    assert_refused(&scim.with_token(&t).get("/Users").await, &t, "c");
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        2,
        "at most one refresh a minute"
    );
    ok(
        scim.with_token(&sign(a, &claims())).get("/Users").await,
        "a after",
    );
}

/// A JWT whose signing keys cannot be fetched (the key endpoint takes the
/// connection and never answers) is answered when the request's deadline
/// passes, not after the key fetch's own 10 s timeout.
#[tokio::test]
async fn a_jwt_waiting_for_its_keys_is_answered_at_the_request_deadline() {
    let [a, _, _] = keys();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/discovery/keys", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let stack = PeripassStack::start_with(
        Default::default(),
        &format!(
            "[server]\nrequest_timeout_ms = 400\n{}",
            jwt_settings(&format!("jwks_url = \"{url}\""))
        ),
    )
    .await;
    let started = std::time::Instant::now();
    let r = stack
        .scim()
        .with_token(&sign(a, &claims()))
        .get("/Users")
        .await;
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        took < std::time::Duration::from_secs(5),
        "answered after {took:?}"
    );
}

#[tokio::test]
async fn jwt_settings_errors_name_the_key() {
    let dir = TempDir::new();
    let path = dir.0.join("settings.toml");
    let base = format!(
        "mappings = [{:?}]\n[auth]\nbearer_tokens = []\n",
        repo_path("config/mappings/peripass.yaml")
            .display()
            .to_string()
    );
    for (extra, key) in [
        ("", "auth.bearer_tokens"),
        (
            "[auth.jwt]\naudience = \"x\"\njwks_url = \"https://x/keys\"\n",
            "auth.jwt.issuer",
        ),
        (
            "[auth.jwt]\nissuer = \"https://i/\"\njwks_url = \"https://x/keys\"\n",
            "auth.jwt.audience",
        ),
        (
            "[auth.jwt]\nissuer = \"https://i/\"\naudience = \"x\"\njwks_url = \"http://example.com/keys\"\n",
            "auth.jwt.jwks_url",
        ),
        (
            "[auth.jwt]\nissuer = \"https://i/\"\naudience = \"x\"\njwks_file = \"missing.json\"\n",
            "auth.jwt.jwks_file",
        ),
    ] {
        std::fs::write(&path, format!("{base}{extra}")).unwrap();
        let e = scim_bridge::config::Settings::load(&path, Some(Default::default()))
            .unwrap_err()
            .to_string();
        assert!(e.contains(key) && e.contains("settings.toml"), "{extra}: {e}");
    }
    // JWT alone (no static token) is a valid configuration.
    std::fs::write(
        &path,
        format!("{base}[auth.jwt]\nissuer = \"https://i/\"\naudience = \"x\"\njwks_url = \"https://login.microsoftonline.com/common/discovery/keys\"\n"),
    )
    .unwrap();
    let s = scim_bridge::config::Settings::load(&path, Some(Default::default())).unwrap();
    assert!(s.bearer_tokens.is_empty() && s.jwt.is_some());
}

/// `[audit]` names a JWT client by its `sub` and `appid`, never the token.
#[tokio::test]
async fn audit_names_the_jwt_subject_and_app() {
    let [a, _, _] = keys();
    let dir = TempDir::new();
    let file = dir.0.join("jwks.json");
    std::fs::write(&file, jwks(&[a])).unwrap();
    let extra = format!(
        "{}[audit]\nfile = \"audit.jsonl\"\n",
        jwt_settings(&format!("jwks_file = {:?}", file.display().to_string()))
    );
    let stack = PeripassStack::start_with(Default::default(), &extra).await;
    let mut cl = claims();
    cl["sub"] = json!("provisioning-service-principal");
    let token = sign(a, &cl);
    let r = stack
        .scim()
        .with_token(&token)
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "jwt-audit@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let text = std::fs::read_to_string(stack.bridge.dir().join("audit.jsonl")).unwrap();
    let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        line["client"],
        json!({"kind": "jwt", "subject": "provisioning-service-principal", "appId": "00000014-0000-0000-c000-000000000000"})
    );
    assert!(!text.contains(&token));
}
