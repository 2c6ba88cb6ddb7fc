//! Bearer authentication: exactly one `Authorization` header; static tokens
//! (constant time), then tokens issued by `[auth.oauth]`, then `[auth.jwt]`.
//! The answer names who it was ([`Principal`], for the audit trail), never
//! the credential.

use super::Live;
use crate::audit::Principal;
use crate::scim::error::ScimError;
use http::{Request, StatusCode};

/// Bearer auth: static tokens first (constant time, every one compared),
/// then, with `[auth.jwt]`, the token as an RS256 JWT.
pub(super) async fn authorize<B>(live: &Live, req: &Request<B>) -> Result<Principal, ScimError> {
    match check(live, req) {
        Checked::Done(answer) => answer,
        Checked::VerifyJwt(verifier, token) => verify_jwt(verifier, token).await,
    }
}

/// What [`check`] could tell at once.
pub(super) enum Checked<'r> {
    Done(Result<Principal, ScimError>),
    /// A JWT for [`verify_jwt`] with `[auth.jwt]`'s verifier, which may
    /// have to fetch its signing keys.
    VerifyJwt(&'r super::jwt::Verifier, &'r str),
}

/// [`authorize`] up to the one step that may wait: the answer for a static
/// token, an OAuth access token or a malformed header, or the JWT still to
/// verify. The request path waits (and builds a timeout) only for the
/// latter.
pub(super) fn check<'r, B>(live: &'r Live, req: &'r Request<B>) -> Checked<'r> {
    let token = match bearer(req) {
        Ok(token) => token,
        Err(e) => return Checked::Done(Err(e)),
    };
    // Compare against every configured token without stopping early.
    let mut ok = subtle::Choice::from(0u8);
    let mut index = 0usize;
    for (i, t) in live.settings.bearer_tokens.iter().enumerate() {
        let eq = t.matches(token.as_bytes());
        index = (eq.unwrap_u8() as usize) * i + (1 - eq.unwrap_u8() as usize) * index;
        ok |= eq;
    }
    if bool::from(ok) {
        return Checked::Done(Ok(Principal::StaticToken(index)));
    }
    if let (Some(issuer), true) = (&live.oauth, super::oauth::Issuer::is_ours(token)) {
        return Checked::Done(issuer.verify(token).map_err(|reason| {
            tracing::info!(reason, "OAuth access token refused");
            ScimError::invalid_token(reason)
        }));
    }
    match &live.jwt {
        Some(v) if token.bytes().filter(|&b| b == b'.').count() == 2 => {
            Checked::VerifyJwt(v, token)
        }
        _ => Checked::Done(Err(ScimError::invalid_token(
            "missing or invalid bearer token",
        ))),
    }
}

/// The token of the request's one `Authorization: Bearer` header.
fn bearer<B>(req: &Request<B>) -> Result<&str, ScimError> {
    let missing = || {
        ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "missing or invalid bearer token",
        )
    };
    // Two credentials are ambiguous (which one would a proxy in front, or
    // the backend, act on?): refused, whatever they hold.
    let mut all = req.headers().get_all(http::header::AUTHORIZATION).iter();
    let h = all.next();
    if all.next().is_some() {
        return Err(ScimError::invalid_token(
            "more than one Authorization header",
        ));
    }
    let h = h.and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    let (scheme, token) = h.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    Ok(token.trim())
}

/// The JWT [`check`] left, verified against `[auth.jwt]`.
pub(super) async fn verify_jwt(
    v: &super::jwt::Verifier,
    token: &str,
) -> Result<Principal, ScimError> {
    v.verify_claims(token)
        .await
        .map(|c| Principal::Jwt {
            subject: c.get("sub").and_then(|v| v.as_str()).map(str::to_string),
            app_id: c
                .get("appid")
                .or_else(|| c.get("azp"))
                .and_then(|v| v.as_str())
                .map(str::to_string),
        })
        .map_err(|r| {
            tracing::info!(reason = r.detail(), "JWT bearer token refused");
            ScimError::invalid_token(r.detail())
        })
}
