//! `[auth.oauth]`: the bridge's own OAuth 2.0 token endpoint, client
//! credentials grant only (RFC 6749 §4.4), and the access tokens it issues.
//!
//! An access token is `sbo1.<payload>.<signature>`: the payload is base64url
//! JSON (`cid` client id, `iat`, `exp`), the signature HMAC-SHA256 of
//! `sbo1.<payload>` with the first signing key; every configured key
//! verifies, so a rotated-out key keeps its tokens valid while it stays
//! listed. Plain and `sha256:` client secrets are compared as SHA-256
//! digests in constant time, every such secret of the client compared;
//! PBKDF2 secrets (`pbkdf2-sha256$…`) are checked with ring's constant-time
//! verify on the blocking pool, never on an async worker, and a successful
//! check is remembered (in memory, bounded, until the next reload) so a
//! client asking for a token every hour costs one derivation. Failed client
//! authentications are counted per client id and per source address
//! ([`Limiter`]); a request is counted as failed before its secret is checked
//! and forgiven when it matches, so concurrent wrong secrets cannot start
//! more derivations than the limit allows.
//!
//! Neither a secret nor a token is ever logged: log lines carry the client
//! id and the reason only.

use super::Resp;
use crate::audit::Principal;
use crate::client_secret::{self, sha256, Pbkdf2, Stored};
use crate::config::{defaults, OAuthSettings};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

const PREFIX: &str = "sbo1.";
/// The largest token request body read.
const MAX_FORM_BYTES: usize = 8192;

/// What [`Issuer::quick_check`] can tell without a key derivation.
enum Quick<'a> {
    Known(bool),
    /// The client's PBKDF2 secrets must decide.
    Derive(&'a Client),
}

/// Token requests answered at once, per process (every tenant): beyond,
/// `503` at once. Their own pool, apart from the SCIM requests' permits.
pub(super) const TOKEN_SLOTS: usize = 32;

/// Token requests answered at once from one client address: one address
/// trickling forms cannot hold every slot.
const TOKEN_SLOTS_PER_ADDRESS: usize = 4;

/// The token endpoint's slots (`TOKEN_SLOTS` in all, at most
/// `TOKEN_SLOTS_PER_ADDRESS` per client address), shared by every tenant.
#[derive(Debug)]
pub struct TokenSlots {
    all: Arc<tokio::sync::Semaphore>,
    by_addr: Mutex<HashMap<IpAddr, usize>>,
}

impl Default for TokenSlots {
    fn default() -> Self {
        TokenSlots {
            all: Arc::new(tokio::sync::Semaphore::new(TOKEN_SLOTS)),
            by_addr: Mutex::default(),
        }
    }
}

/// One token request being answered; its slot comes back when dropped.
pub(super) struct TokenSlot {
    slots: Arc<TokenSlots>,
    addr: Option<IpAddr>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl TokenSlots {
    /// A slot for a request from `addr`, or `None` when its address or the
    /// process has none left.
    pub(super) fn take(self: &Arc<Self>, addr: Option<IpAddr>) -> Option<TokenSlot> {
        let mut by_addr = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = addr {
            if by_addr.get(&a).copied().unwrap_or(0) >= TOKEN_SLOTS_PER_ADDRESS {
                return None;
            }
        }
        let permit = self.all.clone().try_acquire_owned().ok()?;
        if let Some(a) = addr {
            *by_addr.entry(a).or_default() += 1;
        }
        Some(TokenSlot {
            slots: self.clone(),
            addr,
            _permit: permit,
        })
    }
}

impl Drop for TokenSlot {
    fn drop(&mut self) {
        let Some(a) = self.addr else { return };
        let mut by_addr = self.slots.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        if let std::collections::hash_map::Entry::Occupied(mut e) = by_addr.entry(a) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// How long a token request's form (under 1 KiB) may take to arrive.
const FORM_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);
/// Successful PBKDF2 checks remembered (forgotten all at once when full).
const VERIFIED_MAX: usize = 256;

/// The client connection's address, put in the request's extensions by the
/// front door (absent for requests without a connection): an IPv6 client
/// by its /64, as the connection limits count it, so that one host cannot
/// rotate through its addresses to escape the per-address limits.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

/// Keys and clients of one configuration (rebuilt on reload).
pub struct Issuer {
    keys: Vec<ring::hmac::Key>,
    clients: Vec<Client>,
    /// SHA-256 of (client id, secret) pairs a PBKDF2 secret accepted.
    verified: Mutex<HashSet<[u8; 32]>>,
    ttl: Duration,
    pub token_path: String,
    max_failures: u32,
    window: Duration,
}

struct Client {
    id: String,
    /// SHA-256 digests of its plain and `sha256:` secrets.
    digests: Vec<[u8; 32]>,
    /// Its PBKDF2 secrets.
    kdf: Arc<[Pbkdf2]>,
}

/// The remembered-success key of a (client id, secret) pair.
fn verified_key(client_id: &str, secret: &str) -> [u8; 32] {
    let mut b = Vec::with_capacity(client_id.len() + secret.len() + 9);
    b.extend_from_slice(&(client_id.len() as u64).to_be_bytes());
    b.extend_from_slice(client_id.as_bytes());
    b.push(0);
    b.extend_from_slice(secret.as_bytes());
    sha256(&b)
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Issuer {
    /// `None` (logged) when no signing key can be read.
    pub fn new(s: &OAuthSettings) -> Option<Issuer> {
        let keys = match s.all_keys() {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "[auth.oauth] has no usable signing key; the token endpoint is off");
                return None;
            }
        };
        Some(Issuer {
            keys: keys
                .iter()
                .map(|k| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k.expose().as_bytes()))
                .collect(),
            clients: s
                .clients
                .iter()
                .map(|c| {
                    let (mut digests, mut kdf) = (Vec::new(), Vec::new());
                    // Settings checked every secret; one unreadable here is skipped.
                    for sec in &c.secrets {
                        match client_secret::parse(sec.expose()) {
                            Ok(Stored::Sha256(d)) => digests.push(d),
                            Ok(Stored::Pbkdf2(p)) => kdf.push(p),
                            Err(_) => {}
                        }
                    }
                    Client {
                        id: c.id.clone(),
                        digests,
                        kdf: kdf.into(),
                    }
                })
                .collect(),
            verified: Mutex::default(),
            ttl: s.token_ttl,
            token_path: s.token_path.clone(),
            max_failures: s.max_failures,
            window: s.failure_window,
        })
    }

    /// The issuer a reload puts in `prev`'s place: the client secrets
    /// `prev` verified with PBKDF2 stay verified when the clients are
    /// unchanged (`same_clients`), so a reload that only touches a mapping
    /// costs no client a new derivation (nor reopens the window in which a
    /// locked client id refuses its not yet verified secret).
    pub fn succeeding(mut self, prev: &Issuer, same_clients: bool) -> Issuer {
        if same_clients {
            let kept = prev
                .verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            *self.verified.get_mut().unwrap_or_else(|p| p.into_inner()) = kept;
        }
        self
    }

    /// Whether `secret` is one of `client_id`'s secrets: the digests first
    /// (constant time over every digest of the client; an unknown client
    /// compares against a dummy), then its PBKDF2 secrets on the blocking
    /// pool unless this pair already passed since the last reload.
    async fn client_ok(&self, client_id: &str, secret: &str) -> bool {
        match self.quick_check(client_id, secret) {
            Quick::Known(ok) => ok,
            Quick::Derive(client) => self.slow_check(client, client_id, secret).await,
        }
    }

    /// What is known without a key derivation: `Known(true)` for a digest
    /// secret or a pair already verified since the last reload,
    /// `Known(false)` for an unknown client or a wrong secret of a client
    /// without PBKDF2 secrets; else the client whose PBKDF2 secrets decide.
    fn quick_check(&self, client_id: &str, secret: &str) -> Quick<'_> {
        let given = sha256(secret.as_bytes());
        let mut ok = subtle::Choice::from(0u8);
        let mut known = None;
        for c in &self.clients {
            if c.id.as_bytes().ct_eq(client_id.as_bytes()).into() {
                for d in &c.digests {
                    ok |= d.ct_eq(&given);
                }
                known = Some(c);
            }
        }
        let Some(client) = known else {
            let _ = [0u8; 32].ct_eq(&given);
            return Quick::Known(false);
        };
        if bool::from(ok) {
            return Quick::Known(true);
        }
        if client.kdf.is_empty() {
            return Quick::Known(false);
        }
        if self
            .verified_lock()
            .contains(&verified_key(client_id, secret))
        {
            return Quick::Known(true);
        }
        Quick::Derive(client)
    }

    /// `client`'s PBKDF2 check, on the blocking pool; a match is remembered.
    async fn slow_check(&self, client: &Client, client_id: &str, secret: &str) -> bool {
        let key = verified_key(client_id, secret);
        let (kdf, presented) = (client.kdf.clone(), secret.to_string());
        let ok = tokio::task::spawn_blocking(move || kdf.iter().any(|p| p.verify(&presented)))
            .await
            .unwrap_or(false);
        if ok {
            let mut seen = self.verified_lock();
            if seen.len() >= VERIFIED_MAX {
                seen.clear();
            }
            seen.insert(key);
        }
        ok
    }

    fn verified_lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A signed access token for `client_id`, valid from `iat` for the TTL.
    pub fn issue_at(&self, client_id: &str, iat: u64) -> String {
        let payload = json!({"cid": client_id, "iat": iat, "exp": iat + self.ttl.as_secs()});
        let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(payload.to_string()));
        let tag = ring::hmac::sign(&self.keys[0], signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Looks like one of ours (`sbo1.…`).
    pub fn is_ours(token: &str) -> bool {
        token.starts_with(PREFIX)
    }

    /// The client a valid, unexpired token was issued to.
    pub fn verify(&self, token: &str) -> Result<Principal, &'static str> {
        let (signed, sig) = token.rsplit_once('.').ok_or("malformed token")?;
        let payload = signed.strip_prefix(PREFIX).ok_or("malformed token")?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| "malformed token")?;
        if !self
            .keys
            .iter()
            .any(|k| ring::hmac::verify(k, signed.as_bytes(), &sig).is_ok())
        {
            return Err("bad signature");
        }
        let claims: Value = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("malformed token")?;
        let exp = claims["exp"].as_u64().ok_or("malformed token")?;
        if now_s() >= exp {
            return Err("token expired");
        }
        let cid = claims["cid"].as_str().ok_or("malformed token")?;
        if !self.clients.iter().any(|c| c.id == cid) {
            return Err("client no longer configured");
        }
        Ok(Principal::OAuthClient(cid.to_string()))
    }
}

/// Failed client authentications per client id and per source address
/// (kept across reloads; bounded: the oldest entries are forgotten first).
#[derive(Default)]
pub struct Limiter {
    seen: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Limiter {
    /// Seconds to wait when `keys` reached `max` failures within `window`.
    fn blocked(&self, keys: &[String], max: u32, window: Duration) -> Option<u64> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| seen.get(k))
            .filter(|(n, start)| *n >= max && start.elapsed() < window)
            .map(|(_, start)| (window - start.elapsed()).as_secs() + 1)
            .max()
    }

    /// Takes back one failure `failed` counted (the secret matched after all).
    fn forgive(&self, keys: &[String]) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            if let Some(e) = seen.get_mut(k) {
                e.0 = e.0.saturating_sub(1);
                if e.0 == 0 {
                    seen.remove(k);
                }
            }
        }
    }

    fn failed(&self, keys: &[String], window: Duration) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() + keys.len() > defaults::OAUTH_TRACKED_MAX {
            seen.retain(|_, (_, start)| start.elapsed() < window);
            while seen.len() + keys.len() > defaults::OAUTH_TRACKED_MAX {
                let Some(oldest) = seen
                    .iter()
                    .min_by_key(|(_, (_, start))| *start)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                seen.remove(&oldest);
            }
        }
        for k in keys {
            let e = seen.entry(k.clone()).or_insert((0, Instant::now()));
            if e.1.elapsed() >= window {
                *e = (0, Instant::now());
            }
            e.0 += 1;
        }
    }
}

/// An RFC 6749 §5.1/§5.2 answer (`Cache-Control: no-store` always).
fn answer(status: StatusCode, body: Value) -> Resp {
    let mut r = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error(status: StatusCode, code: &str, description: &str) -> Resp {
    let mut r = answer(
        status,
        json!({"error": code, "error_description": description}),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"scim-bridge\", charset=\"UTF-8\""),
        );
    }
    r
}

fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// `POST {token_path}`: the client credentials grant.
pub(super) async fn token_endpoint<B>(
    issuer: Option<&Issuer>,
    limiter: &Limiter,
    req: Request<B>,
) -> Resp
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let Some(issuer) = issuer else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the token endpoint has no signing key",
        );
    };
    if req.method() != http::Method::POST {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "use POST",
        );
        r.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let media_ok = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
    let basic = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if !media_ok {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let form = http_body_util::Limited::new(req.into_body(), MAX_FORM_BYTES).collect();
    let body = match tokio::time::timeout(FORM_DEADLINE, form).await {
        Ok(Ok(b)) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body did not arrive in time",
            )
        }
        Ok(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body is unreadable or too large",
            )
        }
    };
    let text = String::from_utf8_lossy(&body);
    let mut form: HashMap<String, Vec<String>> = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        form.entry(form_decode(k)).or_default().push(form_decode(v));
    }
    // RFC 6749 §3.2: parameters must not be repeated.
    if form.values().any(|v| v.len() > 1) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a parameter is repeated",
        );
    }
    let get = |k: &str| form.get(k).and_then(|v| v.first()).map(String::as_str);
    // Client authentication: client_secret_basic or client_secret_post, not both.
    let from_header = match basic.as_deref().map(str::trim) {
        None => None,
        Some(h) => {
            let parsed = h
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
                .and_then(|(_, b64)| STANDARD.decode(b64.trim()).ok())
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|pair| {
                    pair.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                });
            match parsed {
                Some(p) => Some(p),
                None => {
                    return error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "unreadable Basic credentials",
                    )
                }
            }
        }
    };
    let from_body = match (get("client_id"), get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_string(), secret.to_string())),
        _ => None,
    };
    let (client_id, secret) = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use one client authentication method, not both",
            )
        }
        (Some(c), None) | (None, Some(c)) => c,
        (None, None) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication is required",
            )
        }
    };
    // Bounded memory per tracked id, however long the id sent.
    let tracked: String = client_id.chars().take(128).collect();
    let mut keys = vec![format!("client:{tracked}")];
    if let Some(ip) = peer {
        keys.push(format!("addr:{ip}"));
    }
    // Basic credentials should be form-urlencoded first (RFC 6749 §2.3.1);
    // clients that send them as they are get the benefit of the doubt.
    let decoded = basic
        .is_some()
        .then(|| (form_decode(&client_id), form_decode(&secret)))
        .filter(|(u, p)| *u != client_id || *p != secret);
    // A secret known good without a derivation (a digest secret, or a pair
    // verified since the last reload) passes even while the client id is
    // locked out by failures from elsewhere: only the source address's own
    // failures still refuse it. A client id anyone can lock would hand an
    // anonymous party a lasting denial of service.
    let quick = decoded
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .chain(std::iter::once((client_id.as_str(), secret.as_str())))
        .find(|(u, p)| matches!(issuer.quick_check(u, p), Quick::Known(true)))
        .map(|(u, _)| u.to_string());
    let checked = if quick.is_some() {
        &keys[1..]
    } else {
        &keys[..]
    };
    if let Some(wait) = limiter.blocked(checked, issuer.max_failures, issuer.window) {
        tracing::info!(
            client_id,
            "token request refused: too many failed client authentications"
        );
        // A secret not known good, refused because its client id is locked,
        // still counts against its address: else guesses from an address of
        // their own would be free (429 for a wrong secret, 200 for the right
        // one) for as long as the id stays locked.
        if quick.is_none() {
            limiter.failed(&keys[1..], issuer.window);
        }
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_client",
            "too many failed client authentications; retry later",
        );
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    let client_id = if let Some(id) = quick {
        id
    } else {
        // Counted as a failure before the (possibly slow) check and forgiven
        // on success: concurrent wrong secrets stop at the limit, not after it.
        limiter.failed(&keys, issuer.window);
        let encoded_ok = match &decoded {
            Some((u, p)) => issuer.client_ok(u, p).await,
            None => false,
        };
        let client_id = match decoded {
            Some((u, _)) if encoded_ok => u,
            _ => client_id,
        };
        if !(encoded_ok || issuer.client_ok(&client_id, &secret).await) {
            tracing::info!(
                client_id,
                "token request refused: client authentication failed"
            );
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            );
        }
        limiter.forgive(&keys);
        client_id
    };
    match get("grant_type") {
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            )
        }
        Some("client_credentials") => {}
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            )
        }
    }
    // No scopes are defined: a requested scope other than empty is refused.
    if get("scope").is_some_and(|s| !s.trim().is_empty()) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "this server defines no scopes; omit scope",
        );
    }
    tracing::info!(client_id, "access token issued");
    answer(
        StatusCode::OK,
        json!({
            "access_token": issuer.issue_at(&client_id, now_s()),
            "token_type": "Bearer",
            "expires_in": issuer.ttl.as_secs(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OAuthClient;
    use crate::secret::Secret;

    fn settings(keys: &[&str]) -> OAuthSettings {
        OAuthSettings {
            token_path: "/scim/v2/oauth2/token".into(),
            token_ttl: Duration::from_secs(3600),
            signing_keys: keys.iter().map(|k| Secret::new(*k)).collect(),
            signing_key_file: None,
            max_failures: 3,
            failure_window: Duration::from_secs(60),
            clients: vec![OAuthClient {
                id: "entra".into(),
                secrets: vec![
                    Secret::new("first-secret-0123456789"),
                    Secret::new(format!(
                        "sha256:{}",
                        sha256(b"second-secret-0123456789")
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>()
                    )),
                ],
            }],
        }
    }

    const K1: &str = "key-one-0123456789-0123456789-0123456789";
    const K2: &str = "key-two-0123456789-0123456789-0123456789";

    #[tokio::test]
    async fn secrets_plain_and_hashed() {
        let i = Issuer::new(&settings(&[K1])).unwrap();
        assert!(i.client_ok("entra", "first-secret-0123456789").await);
        assert!(i.client_ok("entra", "second-secret-0123456789").await);
        assert!(!i.client_ok("entra", "third-secret-0123456789").await);
        assert!(!i.client_ok("other", "first-secret-0123456789").await);
    }

    #[tokio::test]
    async fn pbkdf2_secrets_verify_and_successes_are_remembered() {
        let mut s = settings(&[K1]);
        s.clients[0].secrets.push(Secret::new(
            client_secret::hash_pbkdf2("pbkdf2-secret-0123456789", 100_000).unwrap(),
        ));
        let i = Issuer::new(&s).unwrap();
        assert!(i.client_ok("entra", "first-secret-0123456789").await);
        assert!(
            i.verified_lock().is_empty(),
            "a digest match needs no derivation"
        );
        assert!(!i.client_ok("entra", "pbkdf2-secret-0123456788").await);
        assert!(!i.client_ok("other", "pbkdf2-secret-0123456789").await);
        assert!(i.verified_lock().is_empty(), "failures are not remembered");
        assert!(i.client_ok("entra", "pbkdf2-secret-0123456789").await);
        let key = verified_key("entra", "pbkdf2-secret-0123456789");
        assert!(i.verified_lock().contains(&key));
        assert!(i.client_ok("entra", "pbkdf2-secret-0123456789").await);
        assert_eq!(i.verified_lock().len(), 1);
        // The remembered pair is bound to the client id.
        assert_ne!(key, verified_key("entrb", "pbkdf2-secret-0123456789"));
        // A reload with the same clients keeps it; other clients do not.
        let kept = Issuer::new(&s).unwrap().succeeding(&i, true);
        assert!(kept.verified_lock().contains(&key));
        let fresh = Issuer::new(&s).unwrap().succeeding(&i, false);
        assert!(fresh.verified_lock().is_empty());
    }

    #[test]
    fn tokens_verify_expire_and_survive_key_rotation() {
        let old = Issuer::new(&settings(&[K1])).unwrap();
        let t = old.issue_at("entra", now_s());
        assert_eq!(old.verify(&t), Ok(Principal::OAuthClient("entra".into())));
        // Rotation: the new key signs, the old one still verifies.
        let rotated = Issuer::new(&settings(&[K2, K1])).unwrap();
        assert!(rotated.verify(&t).is_ok());
        let dropped = Issuer::new(&settings(&[K2])).unwrap();
        assert_eq!(dropped.verify(&t), Err("bad signature"));
        let expired = old.issue_at("entra", now_s() - 3601);
        assert_eq!(old.verify(&expired), Err("token expired"));
        let mut forged = t.clone();
        forged.replace_range(6..7, if &t[6..7] == "A" { "B" } else { "A" });
        assert!(old.verify(&forged).is_err());
    }

    #[test]
    fn limiter_blocks_after_max_failures_and_stays_bounded() {
        let l = Limiter::default();
        let keys = vec!["client:x".to_string()];
        for _ in 0..3 {
            assert!(l.blocked(&keys, 3, Duration::from_secs(60)).is_none());
            l.failed(&keys, Duration::from_secs(60));
        }
        assert!(l.blocked(&keys, 3, Duration::from_secs(60)).is_some());
        l.forgive(&keys);
        assert!(l.blocked(&keys, 3, Duration::from_secs(60)).is_none());
        for n in 0..defaults::OAUTH_TRACKED_MAX + 10 {
            l.failed(&[format!("client:{n}")], Duration::from_secs(60));
        }
        assert!(l.seen.lock().unwrap().len() <= defaults::OAUTH_TRACKED_MAX);
    }
}
