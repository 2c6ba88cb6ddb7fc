//! `[auth.jwt]`: RS256 JWT bearer tokens (Entra's own token when the app's
//! Secret Token field is blank), verified with `ring` against signing keys
//! from a JWKS file or URL.
//!
//! Only RS256 is accepted: `alg: none`, HMAC (the classic "HS256 signed with
//! the public key" confusion) and every other algorithm are refused before a
//! key is looked at. Claims are checked only after the signature: `exp`
//! (required) and `nbf` with `leeway`, `iss` exactly, `aud` (one of the
//! configured values), `tid` when `tenant_id` is set. Reasons are logged and
//! sent as a fixed text; the token itself never is.

pub use crate::config::check_jwks_url;
use crate::config::{defaults, JwksSource, JwtSettings};
pub use crate::jwks::{parse_jwks, Jwk};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};

/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// One JWKS download.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a token was refused (the text is what the client sees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Expired,
    MissingExp,
    NotYetValid,
    Issuer,
    Audience,
    Tenant,
}

impl Reject {
    pub fn detail(self) -> &'static str {
        match self {
            Reject::Malformed => "invalid bearer token: not a well-formed JWT",
            Reject::Algorithm => "invalid bearer token: only RS256-signed JWTs are accepted",
            Reject::UnknownKey => "invalid bearer token: signed with an unknown key",
            Reject::Signature => "invalid bearer token: bad signature",
            Reject::Expired => "invalid bearer token: expired",
            Reject::MissingExp => "invalid bearer token: no expiry (exp)",
            Reject::NotYetValid => "invalid bearer token: not valid yet (nbf)",
            Reject::Issuer => "invalid bearer token: issuer not accepted",
            Reject::Audience => "invalid bearer token: audience not accepted",
            Reject::Tenant => "invalid bearer token: tenant not accepted",
        }
    }
}

struct Keys {
    keys: Vec<Jwk>,
    loaded: Option<Instant>,
}

/// When loads happened, and the one under way.
struct Loads {
    /// The end of the last load, when it failed (cleared by a success):
    /// no load of any kind starts within [`Shared::retry`] of it, whether
    /// a key set ever loaded or not.
    last_failure: Option<Instant>,
    /// The last load caused by an unknown `kid`.
    last_unknown_kid: Option<Instant>,
    /// The load under way: when it started, and a receiver that turns
    /// `true` when it ends.
    running: Option<(Instant, tokio::sync::watch::Receiver<bool>)>,
}

/// How long a request that finds a key load under way waits for it,
/// counted from the start of that load: a load that takes longer (a slow
/// or unreachable key endpoint) has requests refused at once (`401`)
/// rather than each waiting for it.
const JWKS_JOIN_WAIT: Duration = Duration::from_secs(1);

/// What the verifier and its background loads share.
struct Shared {
    cfg: JwtSettings,
    /// Shared with the verifiers that succeed this one on a reload, while
    /// the key source stays the same ([`Verifier::succeeding`]).
    keys: Arc<RwLock<Keys>>,
    loads: Arc<Mutex<Loads>>,
    http: Option<Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>>,
}

/// Verifies tokens; caches the keys. One per configuration (a reload makes a new one).
pub struct Verifier {
    shared: Arc<Shared>,
}

#[derive(Clone, Copy)]
enum Why {
    FirstOrStale,
    UnknownKid,
}

impl Verifier {
    pub fn new(cfg: &JwtSettings) -> Verifier {
        let mut keys = Keys {
            keys: Vec::new(),
            loaded: None,
        };
        let mut last_failure = None;
        let http = match &cfg.jwks {
            JwksSource::File(p) => {
                match crate::files::read_bounded(p, crate::files::MAX_DOCUMENT_BYTES)
                    .map_err(|e| e.to_string())
                    .and_then(|b| parse_jwks(&b))
                {
                    Ok(k) => {
                        keys = Keys {
                            keys: k,
                            loaded: Some(Instant::now()),
                        }
                    }
                    Err(e) => {
                        last_failure = Some(Instant::now());
                        warn!(file = %p.display(), error = %e, "auth.jwt.jwks_file unusable")
                    }
                }
                None
            }
            JwksSource::Url(_) => {
                // System roots, hostname verification on (same stack as backend calls).
                let tls = crate::tls_files::client_config(None, None).ok();
                tls.map(|tls| {
                    Client::builder(TokioExecutor::new())
                        .build(crate::backend::https_connector(tls))
                })
            }
        };
        Verifier {
            shared: Arc::new(Shared {
                cfg: cfg.clone(),
                keys: Arc::new(RwLock::new(keys)),
                loads: Arc::new(Mutex::new(Loads {
                    last_failure,
                    last_unknown_kid: None,
                    running: None,
                })),
                http,
            }),
        }
    }
}

impl Verifier {
    /// The verifier a reload puts in `prev`'s place. With the same key
    /// source it keeps `prev`'s keys: for a `jwks_url` it shares them and
    /// their loads (before, each reload dropped them, so a key endpoint
    /// briefly unreachable at a reload turned every JWT into a `401` for
    /// the retry interval); a `jwks_file` is read again, and the old keys
    /// stay when that fails. Another source starts afresh.
    pub fn succeeding(cfg: &JwtSettings, prev: &Verifier) -> Verifier {
        let old = &prev.shared;
        if old.cfg.jwks != cfg.jwks {
            return Verifier::new(cfg);
        }
        let (keys, loads, http) = match &cfg.jwks {
            JwksSource::Url(_) => (old.keys.clone(), old.loads.clone(), old.http.clone()),
            JwksSource::File(_) => {
                let fresh = Verifier::new(cfg);
                let read = fresh.shared.keys.read().is_ok_and(|k| k.loaded.is_some());
                if read {
                    return fresh;
                }
                (old.keys.clone(), old.loads.clone(), None)
            }
        };
        Verifier {
            shared: Arc::new(Shared {
                cfg: cfg.clone(),
                keys,
                loads,
                http,
            }),
        }
    }
}

impl Shared {
    async fn fetch(&self) -> Result<Vec<Jwk>, String> {
        match &self.cfg.jwks {
            JwksSource::File(p) => {
                let path = p.clone();
                tokio::task::spawn_blocking(move || {
                    crate::files::read_bounded(&path, crate::files::MAX_DOCUMENT_BYTES)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("{}: {e}", p.display()))
                .and_then(|b| parse_jwks(&b))
            }
            JwksSource::Url(u) => {
                let http = self
                    .http
                    .as_ref()
                    .ok_or("no TLS client configuration for the JWKS URL")?;
                let req = http::Request::get(u.as_str())
                    .header(http::header::ACCEPT, "application/json")
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| e.to_string())?;
                let get = async {
                    let resp = http.request(req).await.map_err(|e| e.to_string())?;
                    if !resp.status().is_success() {
                        return Err(format!("answered {}", resp.status()));
                    }
                    let body = Limited::new(resp.into_body(), MAX_JWKS_BYTES)
                        .collect()
                        .await
                        .map_err(|e| e.to_string())?
                        .to_bytes();
                    parse_jwks(&body)
                };
                tokio::time::timeout(JWKS_FETCH_TIMEOUT, get)
                    .await
                    .map_err(|_| "timed out".to_string())?
            }
        }
    }

    /// After a failed load, how long no load starts: 60 s, or
    /// `jwks_refresh_s` when shorter.
    fn retry(&self) -> Duration {
        Duration::from_secs(defaults::JWKS_UNKNOWN_KID_INTERVAL_S).min(self.cfg.refresh)
    }

    fn loads(&self) -> std::sync::MutexGuard<'_, Loads> {
        self.loads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One load, in a task of its own: a request that started it and went
    /// away (its client closed the connection) does not cut it off.
    fn spawn_load(self: &Arc<Self>, tx: tokio::sync::watch::Sender<bool>) {
        /// Marks the load ended, however its task ends.
        struct Ended {
            shared: Arc<Shared>,
            tx: tokio::sync::watch::Sender<bool>,
            ok: bool,
        }
        impl Drop for Ended {
            fn drop(&mut self) {
                let mut l = self.shared.loads();
                l.running = None;
                l.last_failure = (!self.ok).then(Instant::now);
                drop(l);
                self.tx.send_replace(true);
            }
        }
        let shared = self.clone();
        tokio::spawn(async move {
            let mut ended = Ended {
                shared: shared.clone(),
                tx,
                ok: false,
            };
            match shared.fetch().await {
                Ok(k) => {
                    info!(keys = k.len(), "JWT signing keys loaded");
                    if let Ok(mut w) = shared.keys.write() {
                        *w = Keys {
                            keys: k,
                            loaded: Some(Instant::now()),
                        };
                    }
                    ended.ok = true;
                }
                Err(e) => {
                    let kept = shared.keys.read().map_or(0, |k| k.keys.len());
                    if kept > 0 {
                        warn!(
                            error = %e,
                            retry_in_s = shared.retry().as_secs(),
                            kept,
                            "loading the JWT signing keys failed; keeping the old ones"
                        )
                    } else {
                        warn!(
                            error = %e,
                            retry_in_s = shared.retry().as_secs(),
                            "loading the JWT signing keys failed; no keys yet: JWT bearer tokens are refused until a load succeeds"
                        )
                    }
                }
            }
        });
    }
}

impl Verifier {
    /// Loads the keys when due: the first time or when older than
    /// `jwks_refresh_s`, or for an unknown `kid` at most once per
    /// [`defaults::JWKS_UNKNOWN_KID_INTERVAL_S`]; never while a load is
    /// under way, nor within [`Shared::retry`] of a failed one (before the
    /// first successful load too). A failed load keeps the old keys.
    ///
    /// Who waits: with keys at hand, a periodic refresh is not waited for.
    /// Otherwise the request that started the load waits for it (at most
    /// [`JWKS_FETCH_TIMEOUT`]); one that finds a load under way waits for it
    /// until [`JWKS_JOIN_WAIT`] after its start. `true` when this request
    /// waited for a load that ended (the keys are as new as they get).
    async fn refresh(&self, why: Why) -> bool {
        let s = &self.shared;
        let loaded = s.keys.read().map(|k| k.loaded).unwrap_or(None);
        let now = Instant::now();
        let fresh = loaded.is_some_and(|l| now.duration_since(l) < s.cfg.refresh);
        if matches!(why, Why::FirstOrStale) && fresh {
            return false; // the common case: no lock taken
        }
        let (mut ended, until) = {
            let mut l = s.loads();
            match &l.running {
                Some((started, rx)) => (rx.clone(), *started + JWKS_JOIN_WAIT),
                None => {
                    let retry_ok = l
                        .last_failure
                        .is_none_or(|f| now.duration_since(f) >= s.retry());
                    let due = retry_ok
                        && match why {
                            Why::FirstOrStale => true, // stale or never loaded (above)
                            Why::UnknownKid => l.last_unknown_kid.is_none_or(|t| {
                                now.duration_since(t)
                                    >= Duration::from_secs(defaults::JWKS_UNKNOWN_KID_INTERVAL_S)
                            }),
                        };
                    if !due {
                        return false;
                    }
                    if matches!(why, Why::UnknownKid) {
                        l.last_unknown_kid = Some(now);
                    }
                    let (tx, rx) = tokio::sync::watch::channel(false);
                    l.running = Some((now, rx.clone()));
                    drop(l);
                    s.spawn_load(tx);
                    // (The fetch ends by its own timeout; a little slack.)
                    (rx, now + JWKS_FETCH_TIMEOUT + Duration::from_secs(1))
                }
            }
        };
        if loaded.is_some() && matches!(why, Why::FirstOrStale) {
            return false;
        }
        tokio::time::timeout_at(until.into(), ended.wait_for(|done| *done))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn find(&self, kid: Option<&str>) -> Option<Jwk> {
        let k = self.shared.keys.read().ok()?;
        match kid {
            Some(kid) => k
                .keys
                .iter()
                .find(|j| j.kid.as_deref() == Some(kid))
                .cloned(),
            // No kid: only unambiguous with a single key.
            None if k.keys.len() == 1 => k.keys.first().cloned(),
            None => None,
        }
    }

    /// Checks a token; `Ok` when every rule holds.
    pub async fn verify(&self, token: &str) -> Result<(), Reject> {
        self.verify_claims(token).await.map(drop)
    }

    /// [`Verifier::verify`], answering the token's claims.
    pub async fn verify_claims(&self, token: &str) -> Result<Value, Reject> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reject::Malformed);
        };
        let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| Reject::Malformed);
        let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| Reject::Malformed)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(Reject::Algorithm);
        }
        if header.get("crit").is_some() {
            return Err(Reject::Malformed);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(Reject::Malformed),
        };
        let sig = decode(sig)?;
        let just_loaded = self.refresh(Why::FirstOrStale).await;
        let key = match self.find(kid) {
            Some(k) => k,
            // (Keys this request just waited for are as new as they get.)
            None if just_loaded => return Err(Reject::UnknownKey),
            None => {
                self.refresh(Why::UnknownKid).await;
                self.find(kid).ok_or(Reject::UnknownKey)?
            }
        };
        let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
        ring::signature::RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signed, &sig)
        .map_err(|_| Reject::Signature)?;
        let claims: Value = serde_json::from_slice(&decode(p)?).map_err(|_| Reject::Malformed)?;
        self.check_claims(&claims, SystemTime::now())?;
        Ok(claims)
    }

    fn check_claims(&self, c: &Value, now: SystemTime) -> Result<(), Reject> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let leeway = self.shared.cfg.leeway.as_secs_f64();
        let exp = c
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or(Reject::MissingExp)?;
        if now > exp + leeway {
            return Err(Reject::Expired);
        }
        if let Some(nbf) = c.get("nbf") {
            let nbf = nbf.as_f64().ok_or(Reject::Malformed)?;
            if nbf > now + leeway {
                return Err(Reject::NotYetValid);
            }
        }
        if c.get("iss").and_then(Value::as_str) != Some(self.shared.cfg.issuer.as_str()) {
            return Err(Reject::Issuer);
        }
        let aud_ok = match c.get("aud") {
            Some(Value::String(a)) => self.shared.cfg.audiences.iter().any(|x| x == a),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.shared.cfg.audiences.iter().any(|x| x == a)),
            _ => false,
        };
        if !aud_ok {
            return Err(Reject::Audience);
        }
        if let Some(tid) = &self.shared.cfg.tenant_id {
            if !c
                .get("tid")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(tid))
            {
                return Err(Reject::Tenant);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_urls() {
        assert!(check_jwks_url("https://login.microsoftonline.com/common/discovery/keys").is_ok());
        assert!(check_jwks_url("http://127.0.0.1:9/keys").is_ok());
        assert!(check_jwks_url("http://keys.example.com/keys").is_err());
        assert!(check_jwks_url("ftp://x/keys").is_err());
    }

    #[test]
    fn jwks_without_rsa_keys_is_refused() {
        assert!(parse_jwks(br#"{"keys":[{"kty":"EC","crv":"P-256"}]}"#).is_err());
        assert!(parse_jwks(b"[]").is_err());
    }

    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A key endpoint on 127.0.0.1 answering every request with `answer`
    /// after `delay` (`None`: never answers); counts the requests.
    async fn key_endpoint(
        delay: Option<Duration>,
        answer: &'static str,
    ) -> (String, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", l.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut c, _)) = l.accept().await else {
                    return;
                };
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = c.read(&mut buf).await;
                    h.fetch_add(1, Ordering::SeqCst);
                    match delay {
                        None => std::future::pending::<()>().await,
                        Some(d) => tokio::time::sleep(d).await,
                    }
                    let _ = c.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, hits)
    }

    fn verifier(url: String) -> Verifier {
        Verifier::new(&JwtSettings {
            issuer: "https://i/".into(),
            audiences: vec!["a".into()],
            tenant_id: None,
            jwks: JwksSource::Url(url),
            refresh: Duration::from_secs(3600),
            leeway: Duration::from_secs(0),
        })
    }

    /// A well-formed RS256 JWT naming `kid` (its signature is never checked:
    /// no key has that kid).
    fn token(kid: &str) -> String {
        let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#));
        format!("{h}.e30.c2ln")
    }

    const FAILING: &str =
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

    /// While no key set ever loaded, a failed load is not followed by
    /// another at once (first load, then the unknown-kid one), nor by one
    /// per request: at most one per 60 s.
    #[tokio::test]
    async fn failed_first_load_is_not_retried_back_to_back() {
        let (url, hits) = key_endpoint(Some(Duration::ZERO), FAILING).await;
        let v = verifier(url);
        for kid in ["x", "y", "x", "z"] {
            assert_eq!(v.verify(&token(kid)).await, Err(Reject::UnknownKey));
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "one load, then none for 60 s"
        );
    }

    /// With a key endpoint that does not answer, requests arriving while
    /// the load is under way are refused at once, not after it times out;
    /// and the load goes on when the request that started it goes away.
    #[tokio::test]
    async fn requests_do_not_wait_for_a_load_that_hangs() {
        let (url, hits) = key_endpoint(None, FAILING).await;
        let v = Arc::new(verifier(url));
        let first = tokio::spawn({
            let v = v.clone();
            async move { v.verify(&token("x")).await }
        });
        tokio::time::sleep(JWKS_JOIN_WAIT + Duration::from_millis(200)).await;
        first.abort();
        let started = Instant::now();
        for kid in ["x", "y"] {
            assert_eq!(v.verify(&token(kid)).await, Err(Reject::UnknownKey));
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(v.shared.loads().running.is_some(), "the load goes on");
    }

    /// A key endpoint's answer holding one RSA key, kid `k`.
    fn one_key_answer() -> &'static str {
        let n = URL_SAFE_NO_PAD.encode([0xc1u8; 256]);
        let body = format!(r#"{{"keys":[{{"kty":"RSA","kid":"k","n":"{n}","e":"AQAB"}}]}}"#);
        Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        )
    }

    /// A reload's verifier keeps the keys loaded from the same URL: no new
    /// load, and a token signed with a known key gets as far as its
    /// signature. Another URL starts afresh.
    #[tokio::test]
    async fn a_reloads_verifier_keeps_the_keys_of_the_same_url() {
        let answer = one_key_answer();
        let (url, hits) = key_endpoint(Some(Duration::ZERO), answer).await;
        let v = verifier(url.clone());
        assert_eq!(v.verify(&token("k")).await, Err(Reject::Signature));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let cfg = v.shared.cfg.clone();
        let next = Verifier::succeeding(&cfg, &v);
        drop(v);
        assert_eq!(next.verify(&token("k")).await, Err(Reject::Signature));
        assert_eq!(hits.load(Ordering::SeqCst), 1, "no new load");
        let (other, other_hits) = key_endpoint(Some(Duration::ZERO), FAILING).await;
        let elsewhere = Verifier::succeeding(
            &JwtSettings {
                jwks: JwksSource::Url(other),
                ..cfg
            },
            &next,
        );
        assert_eq!(elsewhere.verify(&token("k")).await, Err(Reject::UnknownKey));
        assert_eq!(other_hits.load(Ordering::SeqCst), 1);
    }

    /// A load whose requester left still stores the keys; requests that
    /// joined it in time get them.
    #[tokio::test]
    async fn a_load_outlives_the_request_that_started_it() {
        let answer = one_key_answer();
        let (url, hits) = key_endpoint(Some(Duration::from_millis(300)), answer).await;
        let v = Arc::new(verifier(url));
        let first = tokio::spawn({
            let v = v.clone();
            async move { v.verify(&token("k")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Joins the load under way (well within JWKS_JOIN_WAIT).
        let joined = v.refresh(Why::UnknownKid).await;
        assert!(joined);
        first.abort();
        assert!(v.find(Some("k")).is_some());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // The requester left at once: the load is not cut off.
        let JwksSource::Url(url) = &v.shared.cfg.jwks else {
            unreachable!()
        };
        let v2 = Arc::new(verifier(url.clone()));
        let t = tokio::spawn({
            let v2 = v2.clone();
            async move { v2.verify(&token("k")).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        t.abort();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(v2.find(Some("k")).is_some(), "the keys were stored");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}
