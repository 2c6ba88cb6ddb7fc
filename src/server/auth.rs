//! Bearer authentication: exactly one `Authorization` header; static
//! tokens (constant time), then `[auth.jwt]`.

use super::Live;
use crate::scim::error::ScimError;
use http::{Request, StatusCode};
use subtle::ConstantTimeEq;

/// Bearer auth: static tokens first (constant time, every one compared),
/// then, with `[auth.jwt]`, the token as an RS256 JWT.
pub(super) async fn authorize<B>(live: &Live, req: &Request<B>) -> Result<(), ScimError> {
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
    let token = token.trim();
    // Compare against every configured token without stopping early.
    let mut ok = subtle::Choice::from(0u8);
    for t in &live.settings.bearer_tokens {
        ok |= t.expose().as_bytes().ct_eq(token.as_bytes());
    }
    if bool::from(ok) {
        return Ok(());
    }
    match &live.jwt {
        Some(v) if token.bytes().filter(|&b| b == b'.').count() == 2 => {
            v.verify(token).await.map_err(|r| {
                tracing::info!(reason = r.detail(), "JWT bearer token refused");
                ScimError::invalid_token(r.detail())
            })
        }
        _ => Err(ScimError::invalid_token("missing or invalid bearer token")),
    }
}
