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
use std::sync::RwLock;
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

struct Attempts {
    /// The last load of any kind.
    last: Option<Instant>,
    /// The last load caused by an unknown `kid`.
    last_unknown_kid: Option<Instant>,
}

/// Verifies tokens; caches the keys. One per configuration (a reload makes a new one).
pub struct Verifier {
    cfg: JwtSettings,
    keys: RwLock<Keys>,
    /// Serializes loads; holds when they happened.
    attempts: tokio::sync::Mutex<Attempts>,
    http: Option<Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>>,
}

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
        let mut last = None;
        let http = match &cfg.jwks {
            JwksSource::File(p) => {
                match std::fs::read(p)
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
                        warn!(file = %p.display(), error = %e, "auth.jwt.jwks_file unusable")
                    }
                }
                last = Some(Instant::now());
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
            cfg: cfg.clone(),
            keys: RwLock::new(keys),
            attempts: tokio::sync::Mutex::new(Attempts {
                last,
                last_unknown_kid: None,
            }),
            http,
        }
    }

    async fn fetch(&self) -> Result<Vec<Jwk>, String> {
        match &self.cfg.jwks {
            JwksSource::File(p) => tokio::fs::read(p)
                .await
                .map_err(|e| format!("{}: {e}", p.display()))
                .and_then(|b| parse_jwks(&b)),
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

    /// Loads the keys when due: the first time or when older than
    /// `jwks_refresh_s`, or for an unknown `kid` at most once per
    /// [`defaults::JWKS_UNKNOWN_KID_INTERVAL_S`]. A failed load keeps the old keys.
    async fn refresh(&self, why: Why) {
        let (have_keys, fresh) = self
            .keys
            .read()
            .map(|k| {
                (
                    !k.keys.is_empty(),
                    k.loaded.is_some_and(|l| l.elapsed() < self.cfg.refresh),
                )
            })
            .unwrap_or((false, false));
        if matches!(why, Why::FirstOrStale) && fresh {
            return; // the common case: no lock taken
        }
        // With keys at hand, a periodic refresh already under way is not waited for.
        let mut at = if have_keys && matches!(why, Why::FirstOrStale) {
            match self.attempts.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            }
        } else {
            self.attempts.lock().await
        };
        let now = Instant::now();
        let due = match why {
            Why::FirstOrStale => {
                let loaded = self.keys.read().map(|k| k.loaded).unwrap_or(None);
                let stale = loaded.is_none_or(|l| now.duration_since(l) >= self.cfg.refresh);
                // Failed loads are retried once a minute, not on every request.
                stale
                    && at.last.is_none_or(|l| {
                        now.duration_since(l)
                            >= Duration::from_secs(defaults::JWKS_UNKNOWN_KID_INTERVAL_S)
                                .min(self.cfg.refresh)
                    })
            }
            Why::UnknownKid => at.last_unknown_kid.is_none_or(|l| {
                now.duration_since(l) >= Duration::from_secs(defaults::JWKS_UNKNOWN_KID_INTERVAL_S)
            }),
        };
        if !due {
            return;
        }
        at.last = Some(now);
        if matches!(why, Why::UnknownKid) {
            at.last_unknown_kid = Some(now);
        }
        match self.fetch().await {
            Ok(k) => {
                info!(keys = k.len(), "JWT signing keys loaded");
                if let Ok(mut w) = self.keys.write() {
                    *w = Keys {
                        keys: k,
                        loaded: Some(Instant::now()),
                    };
                }
            }
            Err(e) => {
                warn!(error = %e, "loading the JWT signing keys failed; keeping the old ones")
            }
        }
    }

    fn find(&self, kid: Option<&str>) -> Option<Jwk> {
        let k = self.keys.read().ok()?;
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
        self.refresh(Why::FirstOrStale).await;
        let key = match self.find(kid) {
            Some(k) => k,
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
        let leeway = self.cfg.leeway.as_secs_f64();
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
        if c.get("iss").and_then(Value::as_str) != Some(self.cfg.issuer.as_str()) {
            return Err(Reject::Issuer);
        }
        let aud_ok = match c.get("aud") {
            Some(Value::String(a)) => self.cfg.audiences.iter().any(|x| x == a),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.cfg.audiences.iter().any(|x| x == a)),
            _ => false,
        };
        if !aud_ok {
            return Err(Reject::Audience);
        }
        if let Some(tid) = &self.cfg.tenant_id {
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
}
