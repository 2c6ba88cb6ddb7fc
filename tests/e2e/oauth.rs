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

/// A token issued to `client` for `secret` by the client credentials grant
/// (Basic credentials); fails the test when none is issued.
async fn token_for(s: &PeripassStack, client: &str, secret: &str) -> String {
    issued(&token_request(s, "grant_type=client_credentials", Some((client, secret))).await)
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
    let t1 = token_for(&s, CLIENT, SECRET_A).await;
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

/// A token request from another source address (raw HTTP from `from`).
async fn token_request_from(s: &PeripassStack, from: &str, user: &str, secret: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut conn = sock.connect(s.bridge.addr).await.unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    let body = "grant_type=client_credentials";
    let req = format!(
        "POST /scim/v2/oauth2/token HTTP/1.1\r\nhost: x\r\nauthorization: Basic {basic}\r\n\
         content-type: application/x-www-form-urlencoded\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let head = String::from_utf8_lossy(&answer);
    head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap()
}

/// Client ids are not secrets: wrong secrets sent from one address must not
/// lock the real client, at another address, out of the token endpoint when
/// its secret is known good without a key derivation (a digest secret, or a
/// PBKDF2 secret verified since the last reload). A secret that needs a
/// derivation is still refused while the client id is locked.
#[tokio::test]
async fn wrong_secrets_from_elsewhere_do_not_lock_out_a_known_good_secret() {
    register_all();
    register_basic(KDF_CLIENT, SECRET_KDF);
    let line = scim_bridge::client_secret::hash_pbkdf2(SECRET_KDF, 100_000).unwrap();
    let s = start(
        &[KEY_OLD],
        &format!(
            "failure_window_s = 600\n[[auth.oauth.clients]]\nid = {KDF_CLIENT:?}\nsecrets = [{line:?}]\n"
        ),
    )
    .await;
    // The PBKDF2 secret is verified once, before the attack.
    token_for(&s, KDF_CLIENT, SECRET_KDF).await;
    for (from, client) in [("127.0.0.2", CLIENT), ("127.0.0.3", KDF_CLIENT)] {
        for n in 0..3 {
            let wrong = format!("wrong-secret-{n:02}-0123456789");
            register_basic(client, &wrong);
            assert_eq!(token_request_from(&s, from, client, &wrong).await, 401);
        }
    }
    // The attacker's address is locked.
    assert_eq!(
        token_request_from(&s, "127.0.0.2", CLIENT, SECRET_A).await,
        429
    );
    // The real clients, elsewhere, still get their tokens.
    token_for(&s, CLIENT, SECRET_A).await;
    token_for(&s, KDF_CLIENT, SECRET_KDF).await;
    // Guesses refused because the id is locked still lock their address:
    // after max_failures of them, even the right secret is refused there.
    for n in 0..3 {
        let wrong = format!("guess-{n:02}-0123456789");
        register_basic(CLIENT, &wrong);
        assert_eq!(
            token_request_from(&s, "127.0.0.4", CLIENT, &wrong).await,
            429
        );
    }
    assert_eq!(
        token_request_from(&s, "127.0.0.4", CLIENT, SECRET_A).await,
        429
    );
    // A secret that needs a derivation is not checked while the id is locked.
    let other = "another-secret-0123456789";
    register_basic(KDF_CLIENT, other);
    let r = token_request(
        &s,
        "grant_type=client_credentials",
        Some((KDF_CLIENT, other)),
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
    let env = peripass_env(&backend);
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
    let t = token_for(&s, CLIENT, SECRET_A).await;
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

const SECRET_KDF: &str = "client-secret-kdf-0123456789abcdef";
const KDF_CLIENT: &str = "entra-kdf";

/// Runs `scim-bridge hash-secret` with `input` on its standard input.
fn hash_secret_cli(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .arg("hash-secret")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    save_process_output("scim-bridge-hash-secret", &out);
    out
}

/// `hash-secret` prints one `pbkdf2-sha256$…` line (never the secret) that
/// the token endpoint then accepts, by Basic and by form, and refuses any
/// other secret.
#[tokio::test]
async fn hash_secret_makes_a_pbkdf2_line_the_token_endpoint_accepts() {
    register_all();
    register_basic(KDF_CLIENT, SECRET_KDF);
    let out = hash_secret_cli(&["--iterations", "100000"], &format!("{SECRET_KDF}\n"));
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    // Fed with a trailing line break, which is not part of the secret: the
    // token requests below send SECRET_KDF alone.
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(SECRET_KDF) && !stderr.contains(SECRET_KDF));
    let line = stdout.trim_end();
    assert_eq!(line.lines().count(), 1, "{stdout}");
    assert!(line.starts_with("pbkdf2-sha256$100000$"), "{line}");
    let s = PeripassStack::start_with(
        peripass::Options {
            seed_users: 1,
            ..Default::default()
        },
        &format!(
            "[auth.oauth]\nsigning_keys = [{KEY_OLD:?}]\nmax_failures = 3\n[[auth.oauth.clients]]\nid = {KDF_CLIENT:?}\nsecrets = [{line:?}]\n"
        ),
    )
    .await;
    let t = token_for(&s, KDF_CLIENT, SECRET_KDF).await;
    assert_eq!(s.scim().with_token(&t).get("/Users").await.status, 200);
    // Again (the remembered success), by form this time.
    issued(
        &token_request(
            &s,
            &format!(
                "grant_type=client_credentials&client_id={KDF_CLIENT}&client_secret={SECRET_KDF}"
            ),
            None,
        )
        .await,
    );
    register_basic(KDF_CLIENT, "wrong-secret-0123456789");
    let r = token_request(
        &s,
        "grant_type=client_credentials",
        Some((KDF_CLIENT, "wrong-secret-0123456789")),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
}

/// Concurrent wrong secrets for a client with a PBKDF2 secret: each request
/// is counted before its (slow) check, so only `max_failures` of them reach
/// the check and the rest are refused with 429 at once.
#[tokio::test]
async fn concurrent_wrong_secrets_stop_at_the_limit_before_the_slow_check() {
    register_all();
    register_basic(KDF_CLIENT, SECRET_KDF);
    let line = scim_bridge::client_secret::hash_pbkdf2(SECRET_KDF, 100_000).unwrap();
    let s = PeripassStack::start_with(
        peripass::Options::default(),
        &format!(
            "[auth.oauth]\nsigning_keys = [{KEY_OLD:?}]\nmax_failures = 3\nfailure_window_s = 600\n[[auth.oauth.clients]]\nid = {KDF_CLIENT:?}\nsecrets = [{line:?}]\n"
        ),
    )
    .await;
    for n in 0..10 {
        register_basic(KDF_CLIENT, &format!("wrong-secret-{n:02}-0123456789"));
    }
    let wrong = (0..10).map(|n| {
        let s = &s;
        async move {
            token_request(
                s,
                "grant_type=client_credentials",
                Some((KDF_CLIENT, &format!("wrong-secret-{n:02}-0123456789"))),
            )
            .await
            .status
        }
    });
    let mut statuses = futures_util::future::join_all(wrong).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [[401; 3].as_slice(), &[429; 7]].concat());
    let r = token_request(
        &s,
        "grant_type=client_credentials",
        Some((KDF_CLIENT, SECRET_KDF)),
    )
    .await;
    assert_oauth_error(&r, 429, "invalid_client");
}

#[test]
fn hash_secret_refuses_bad_iterations_and_empty_input() {
    register_secret(SECRET_KDF);
    let out = hash_secret_cli(&["--iterations", "1000"], SECRET_KDF);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("100000 … 10000000"), "{stderr}");
    let out = hash_secret_cli(&[], "");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("standard input is empty"), "{stderr}");
}

/// Malformed PBKDF2 secrets are settings errors naming the key, never
/// showing the salt or the hash.
#[test]
fn malformed_pbkdf2_secrets_are_settings_errors_without_their_value() {
    let salt = "c2FsdHNhbHRzYWx0c2FsdA";
    let hash = "T78tEi/mr8Yageny/jk6s5+Qanjd3ceXdjwOeEhX6bQ";
    let dir = std::env::temp_dir().join(format!("scim-bridge-kdf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("s.toml"),
        peripass_settings(&format!(
            "[auth.oauth]\nsigning_keys = [{KEY_OLD:?}]\n[[auth.oauth.clients]]\nid = {KDF_CLIENT:?}\nsecrets = [\"pbkdf2-sha256$1000${salt}${hash}\", \"pbkdf2-sha256$100000${salt}$AAAA\", \"pbkdf2-sha256$100000${hash}\"]\n"
        )),
    )
    .unwrap();
    register_secret(KEY_OLD);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(["check", "--config"])
        .arg(dir.join("s.toml"))
        .env("PERIPASS_URL", "http://127.0.0.1:9")
        .env("SCIM_BRIDGE__AUTH__INSECURE_ALLOW_WEAK_TOKENS", "true")
        .output()
        .unwrap();
    save_process_output("scim-bridge-check-kdf", &out);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "auth.oauth.clients[0].secrets[0]",
        "100000 … 10000000, got 1000",
        "auth.oauth.clients[0].secrets[1]",
        "must be 32 bytes, got 3",
        "auth.oauth.clients[0].secrets[2]",
        "must be pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(!text.contains(salt) && !text.contains(hash), "{text}");
}
