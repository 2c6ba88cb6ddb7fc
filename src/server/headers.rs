//! The request header limits of the SCIM listener (`server.max_header_bytes`,
//! `server.max_headers`), checked by the front door and by the tenant
//! selection before anything else looks at a request.

use super::Live;
use crate::scim::error::ScimError;
use http::{Request, StatusCode};

/// SCIM 431 beyond `server.max_header_bytes` / `server.max_headers` (hyper
/// answers a bare 431 beyond twice the size and beyond 100 fields, or twice
/// the count when that is larger).
pub(super) fn check_headers<B>(live: &Live, req: &Request<B>) -> Result<(), ScimError> {
    let h = req.headers();
    let bytes: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if bytes > live.settings.max_header_bytes || h.len() > live.settings.max_headers {
        return Err(ScimError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            None,
            format!(
                "request headers too large: at most {} fields and {} bytes",
                live.settings.max_headers, live.settings.max_header_bytes
            ),
        ));
    }
    Ok(())
}
