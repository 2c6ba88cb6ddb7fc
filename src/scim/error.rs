//! `ScimError`: the one place an error becomes an HTTP answer.
//!
//! Every failure a client can see is a SCIM error body
//! (`urn:ietf:params:scim:api:messages:2.0:Error`, RFC 7644 §3.12). 5xx details
//! meant for operators are logged, never sent.

use http::StatusCode;
use serde_json::{json, Value};

pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {scim_type:?}: {detail}")]
pub struct ScimError {
    pub status: StatusCode,
    /// RFC 7644 §3.12 `scimType` (only meaningful for 400 and 409).
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// `Retry-After` seconds for 429/503.
    pub retry_after: Option<u64>,
    /// RFC 6750 `error` of the `WWW-Authenticate` answer of a 401
    /// (`invalid_token` when a token was sent but refused).
    pub bearer_error: Option<&'static str>,
    /// The `Allow` header of a 405: the methods the resource takes.
    pub allow: Option<&'static str>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
            bearer_error: None,
            allow: None,
        }
    }

    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidValue", detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidSyntax", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    /// 401 for a bearer token that was sent but refused.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, None, detail);
        e.bearer_error = Some("invalid_token");
        e
    }

    pub fn with_retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after = secs;
        self
    }

    /// The SCIM error body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_URN],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        body
    }
}

/// Maps a scimType string from configuration to the static RFC value.
pub fn scim_type_from_str(s: &str) -> Option<&'static str> {
    SCIM_TYPES.iter().copied().find(|t| *t == s)
}

/// RFC 7644 §3.12 `scimType` values.
pub const SCIM_TYPES: &[&str] = &[
    "invalidFilter",
    "tooMany",
    "uniqueness",
    "mutability",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "invalidValue",
    "invalidVers",
    "sensitive",
];
