//! `[auth.oauth]`: the token endpoint (client credentials grant) end to end,
//! and SCIM requests with the tokens it issues.
use crate::support::*;
use base64::Engine as _;
use http::Method;
use serde_json::Value;

const CLIENT: &str = "entra-provisioning";
const SECRET_A: &str = "client-secret-a-0123456789abcdef";
const SECRET_B: &str = "client-secret-b-fedcba9876543210";
const KEY_OLD: &str = "signing-key-old-0123456789-0123456789-abcdef";
const KEY_NEW: &str = "signing-key-new-0123456789-0123456789-abcdef";

fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn register_all() {
    for s in [SECRET_A, SECRET_B, KEY_OLD, KEY_NEW] {
        register_secret(s);
    }
    register_basic(CLIENT, SECRET_A);
    register_basic(CLIENT, SECRET_B);
}

/// `[auth.oauth]` with the given signing keys; SECRET_A plain, SECRET_B as a hash.
fn oauth_settings(keys: &[&str], extra: &str) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    format!(
        "[auth.oauth]\nsigning_keys = [{}]\nmax_failures = 3\n{extra}\n[[auth.oauth.clients]]\nid = {CLIENT:?}\nsecrets = [{SECRET_A:?}, \"sha256:{}\"]\n",
        keys.join(", "),
        sha256_hex(SECRET_B)
    )
}

async fn start(keys: &[&str], extra: &str) -> PeripassStack {
    register_all();
    PeripassStack::start_with(
        peripass::Options {
            seed_users: 1,
            ..Default::default()
        },
        &oauth_settings(keys, extra),
    )
    .await
}

/// POSTs a form to the token endpoint, with optional Basic credentials.
async fn token_request(s: &PeripassStack, form: &str, basic: Option<(&str, &str)>) -> Resp {
    let c = s.scim().without_token();
    let auth;
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some((u, p)) = basic {
        auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        );
        headers.push(("authorization", auth.as_str()));
    }
    c.send(Method::POST, "/oauth2/token", Some(form), &headers)
        .await
}

fn issued(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 3600);
    let t = j["access_token"].as_str().unwrap().to_string();
    register_secret(&t);
    t
}

fn assert_oauth_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(j["error"], code, "{j}");
}

#[tokio::test]
async fn both_client_authentication_methods_issue_tokens_that_work_on_scim_routes() {
    let s = start(&[KEY_OLD], "").await;
    // client_secret_basic
    let t1 = issued(
        &token_request(
            &s,
            "grant_type=client_credentials",
            Some((CLIENT, SECRET_A)),
        )
        .await,
    );
    // client_secret_post, with the hashed secret
    let t2 = issued(
        &token_request(
            &s,
            &format!("grant_type=client_credentials&client_id={CLIENT}&client_secret={SECRET_B}"),
            None,
        )
        .await,
    );
    for t in [&t1, &t2] {
        let c = s.scim().with_token(t);
        let r = c.get("/Users").await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.json()["totalResults"], 1);
        assert_eq!(c.get("/ServiceProviderConfig").await.status, 200);
    }
    // A tampered token is refused like any bad bearer token.
    let mut bad = t1.clone();
    bad.push('x');
    let r = s.scim().with_token(&bad).get("/Users").await;
    r.assert_scim_error(401, None);
    // Static tokens still work beside issued ones.
    assert_eq!(s.scim().get("/Users").await.status, 200);
}

#[tokio::test]
async fn protocol_errors_follow_rfc_6749() {
    let s = start(&[KEY_OLD], "").await;
    let r = token_request(
        &s,
        "grant_type=client_credentials",
        Some((CLIENT, "wrong-secret-0123456789")),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let r = token_request(&s, "grant_type=client_credentials", None).await;
    assert_oauth_error(&r, 401, "invalid_client");
    let r = token_request(&s, "grant_type=password", Some((CLIENT, SECRET_A))).await;
    assert_oauth_error(&r, 400, "unsupported_grant_type");
    let r = token_request(&s, "", Some((CLIENT, SECRET_A))).await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = token_request(
        &s,
        "grant_type=client_credentials&scope=admin",
        Some((CLIENT, SECRET_A)),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_scope");
    let both = format!("grant_type=client_credentials&client_id={CLIENT}&client_secret={SECRET_A}");
    let r = token_request(&s, &both, Some((CLIENT, SECRET_A))).await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = s
        .scim()
        .without_token()
        .send(
            Method::POST,
            "/oauth2/token",
            Some("{}"),
            &[("content-type", "application/json")],
        )
        .await;
    assert_oauth_error(&r, 400, "invalid_request");
}

#[tokio::test]
async fn failed_client_authentications_are_rate_limited() {
    let s = start(&[KEY_OLD], "failure_window_s = 600").await;
    for _ in 0..3 {
        let r = token_request(
            &s,
            "grant_type=client_credentials",
            Some((CLIENT, "wrong-secret-0123456789")),
        )
        .await;
        assert_oauth_error(&r, 401, "invalid_client");
    }
    // Now even the right secret is refused until the window passes.
    let r = token_request(
        &s,
        "grant_type=client_credentials",
        Some((CLIENT, SECRET_A)),
    )
    .await;
    assert_oauth_error(&r, 429, "invalid_client");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 601, "{wait}");
    // The source address is blocked too: another client id from here is refused.
    let r = token_request(
        &s,
        "grant_type=client_credentials",
        Some(("someone-else", SECRET_A)),
    )
    .await;
    assert_oauth_error(&r, 429, "invalid_client");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let s = start(&[KEY_OLD], "token_ttl_s = 60").await;
    // A token whose lifetime is over, signed with the configured key.
    let cfg = scim_bridge::config::OAuthSettings {
        token_path: String::new(),
        token_ttl: std::time::Duration::from_secs(60),
        signing_keys: vec![scim_bridge::secret::Secret::new(KEY_OLD)],
        signing_key_file: None,
        max_failures: 3,
        failure_window: std::time::Duration::from_secs(60),
        clients: vec![scim_bridge::config::OAuthClient {
            id: CLIENT.into(),
            secrets: vec![scim_bridge::secret::Secret::new(SECRET_A)],
        }],
    };
    let issuer = scim_bridge::server::oauth::Issuer::new(&cfg).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = issuer.issue_at(CLIENT, now - 120);
    register_secret(&expired);
    let fresh = issuer.issue_at(CLIENT, now);
    register_secret(&fresh);
    assert_eq!(s.scim().with_token(&fresh).get("/Users").await.status, 200);
    let r = s.scim().with_token(&expired).get("/Users").await;
    r.assert_scim_error(401, None);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    // The endpoint reports the configured lifetime.
    let r = token_request(
        &s,
        "grant_type=client_credentials",
        Some((CLIENT, SECRET_A)),
    )
    .await;
    assert_eq!(r.json()["expires_in"], 60);
    register_secret(r.json()["access_token"].as_str().unwrap());
}

#[tokio::test]
async fn rotated_secret_and_rotated_key() {
    register_all();
    let backend = peripass::spawn(peripass::Options::default()).await.unwrap();
    register_secret(&backend.api_key());
    let env = std::collections::HashMap::from([
        ("PERIPASS_URL".to_string(), backend.base_url()),
        ("PERIPASS_API_KEY".to_string(), backend.api_key()),
    ]);
    let keys_file = |keys: &[&str]| keys.join("\n") + "\n";
    let settings = |secrets: &str| {
        format!(
            "{}[auth.oauth]\nsigning_key_file = \"keys.txt\"\n[[auth.oauth.clients]]\nid = {CLIENT:?}\nsecrets = [{secrets}]\n",
            peripass_settings("")
        )
    };
    let bridge = Bridge::start(
        &settings(&format!("{SECRET_A:?}, {SECRET_B:?}")),
        &[("keys.txt", &keys_file(&[KEY_OLD]))],
        env,
    )
    .await;
    let c = bridge.client.without_token();
    let basic = |secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{secret}"))
        )
    };
    let ask = |secret: &'static str| {
        let c = c.clone();
        let h = basic(secret);
        async move {
            c.send(
                Method::POST,
                "/oauth2/token",
                Some("grant_type=client_credentials"),
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("authorization", &h),
                ],
            )
            .await
        }
    };
    // Both secrets valid at once.
    let old_token = issued(&ask(SECRET_A).await);
    issued(&ask(SECRET_B).await);
    // Rotation: the new key signs first, the old one still verifies; SECRET_A retired.
    std::fs::write(
        bridge.dir().join("keys.txt"),
        keys_file(&[KEY_NEW, KEY_OLD]),
    )
    .unwrap();
    std::fs::write(
        bridge.dir().join("settings.toml"),
        settings(&format!("{SECRET_B:?}")),
    )
    .unwrap();
    let reloaded = async {
        loop {
            if ask(SECRET_A).await.status == 401 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), reloaded)
        .await
        .expect("the reload retires SECRET_A");
    let new_token = issued(&ask(SECRET_B).await);
    assert_ne!(new_token, old_token);
    assert_eq!(
        bridge
            .client
            .with_token(&old_token)
            .get("/Users")
            .await
            .status,
        200
    );
    assert_eq!(
        bridge
            .client
            .with_token(&new_token)
            .get("/Users")
            .await
            .status,
        200
    );
    // The old key removed: its tokens stop working, the new key's do not.
    std::fs::write(bridge.dir().join("keys.txt"), keys_file(&[KEY_NEW])).unwrap();
    let dropped = async {
        loop {
            if bridge
                .client
                .with_token(&old_token)
                .get("/Users")
                .await
                .status
                == 401
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), dropped)
        .await
        .expect("the reload drops the old key");
    assert_eq!(
        bridge
            .client
            .with_token(&new_token)
            .get("/Users")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn no_secret_or_token_is_logged() {
    let tap = LogTap::open();
    let s = start(&[KEY_OLD], "").await;
    let t = issued(
        &token_request(
            &s,
            "grant_type=client_credentials",
            Some((CLIENT, SECRET_A)),
        )
        .await,
    );
    token_request(
        &s,
        "grant_type=client_credentials",
        Some((CLIENT, "wrong-secret-0123456789")),
    )
    .await;
    assert_eq!(s.scim().with_token(&t).get("/Users").await.status, 200);
    let logs = tap.text();
    assert!(logs.contains(CLIENT), "the client id is logged");
    for secret in [SECRET_A, KEY_OLD, t.as_str(), "wrong-secret-0123456789"] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}
