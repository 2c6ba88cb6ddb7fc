//! Non-2xx backend answers → the SCIM error the client sees: the mapping's
//! error rules first, then the built-in table.

use super::BackendResponse;
use crate::mapping::plan::{BackendPlan, ReadExpr};
use crate::scim::error::ScimError;
use http::StatusCode;
use serde_json::Value;
use tracing::warn;

/// Marks the `502`s only an operator can fix (the bridge's backend
/// credentials or TLS settings): sending the call again cannot help.
pub(super) const OPERATOR_MUST_CHECK: &str = "an operator must check";

/// The `502` of a call the backend closed the connection on before any of
/// it was written, or whose HTTP/2 stream it refused unprocessed: the
/// backend did not act on it.
pub(super) const NEVER_SENT: &str =
    "the backend closed the connection or refused the request before acting on it";

/// The `502` of an answer larger than the bridge reads: the backend answered.
pub(super) const TOO_LARGE: &str = "the backend's answer is too large";

/// Whether a backend call that failed without a usable answer may still
/// have been carried out: it timed out (`504`), its connection broke, or its
/// answer could not be read (`502`). Not when the bridge never sent it: its
/// own caps or a pause the backend asked for (`503`, `429`), the backend
/// unreachable (`503`), the connection closed before the request was
/// written, TLS or credentials refused (a `502` for the operator).
pub fn may_have_reached(e: &ScimError) -> bool {
    match e.status {
        StatusCode::GATEWAY_TIMEOUT => true,
        StatusCode::BAD_GATEWAY => !needs_operator(e) && e.detail != NEVER_SENT,
        _ => false,
    }
}

/// [`may_have_reached`], and got no answer at all (a timeout, a connection
/// closed or broken after the request was written): the backend may still
/// carry it out after the bridge gave up on it. Not an answer too large to
/// read: the backend did answer.
pub fn unanswered(e: &ScimError) -> bool {
    may_have_reached(e) && e.detail != TOO_LARGE
}

/// Whether `e` is one of the `502`s only an operator can fix (see
/// `OPERATOR_MUST_CHECK`); every other `502` is a broken or unusable answer.
pub fn needs_operator(e: &ScimError) -> bool {
    e.status == StatusCode::BAD_GATEWAY && e.detail.contains(OPERATOR_MUST_CHECK)
}

/// The backend's error code, per the mapping's `errors.code` JSONPath.
pub fn error_code(backend: &BackendPlan, body: Option<&Value>) -> Option<String> {
    let body = body?;
    backend
        .errors
        .code
        .as_ref()
        .and_then(|e| e.first(body))
        .and_then(scalar_text)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_text(expr: Option<&ReadExpr>, body: &Value) -> Option<String> {
    expr.and_then(|e| e.first(body)).and_then(|v| match v {
        Value::Object(m) => Some(
            m.iter()
                .map(|(k, v)| format!("{k}: {}", scalar_text(v).unwrap_or_else(|| v.to_string())))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => scalar_text(other),
    })
}

/// Translates a non-2xx backend answer into the SCIM error the client sees:
/// the mapping's rules first, then the built-in table.
pub fn translate_error(backend: &BackendPlan, resp: &BackendResponse, what: &str) -> ScimError {
    let body = resp.json();
    let code = error_code(backend, body.as_ref());
    let status = resp.status;
    let mut message = body
        .as_ref()
        .and_then(|b| read_text(backend.errors.message.as_ref(), b))
        .unwrap_or_default();
    if let Some(fields) = body
        .as_ref()
        .and_then(|b| read_text(backend.errors.fields.as_ref(), b))
    {
        if !fields.is_empty() {
            message = if message.is_empty() {
                fields
            } else {
                format!("{message} ({fields})")
            };
        }
    }
    let backend_says = |default: &str| {
        if message.is_empty() {
            default.to_string()
        } else {
            format!("{default}: {message}")
        }
    };
    for rule in &backend.errors.rules {
        let status_ok = rule.status.is_none_or(|s| s == status.as_u16());
        let code_ok = match (&rule.code, &code) {
            (None, _) => true,
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => false,
        };
        if status_ok && code_ok {
            if rule.scim_status.is_server_error() {
                warn!(backend_status = status.as_u16(), code = ?code, "backend error mapped to {}", rule.scim_status);
            }
            let detail = match rule.scim_status.as_u16() {
                404 => format!("{what} not found"),
                409 if rule.scim_type == Some("uniqueness") => {
                    backend_says(&format!("{what} conflicts with an existing resource"))
                }
                _ => backend_says(&format!(
                    "the backend rejected the request ({})",
                    status.as_u16()
                )),
            };
            return ScimError::new(rule.scim_status, rule.scim_type, detail)
                .with_retry_after(resp.retry_after());
        }
    }
    match status.as_u16() {
        400 | 422 => ScimError::invalid_value(backend_says("the backend rejected a value")),
        404 => ScimError::not_found(format!("{what} not found")),
        409 => ScimError::new(
            StatusCode::CONFLICT,
            Some("uniqueness"),
            backend_says(&format!("{what} conflicts with an existing resource")),
        ),
        412 => ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("{what} was changed by someone else"),
        ),
        401 | 403 => {
            warn!(backend_status = status.as_u16(), "the backend rejected the bridge's own credentials (check backend.auth in the mapping)");
            ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                format!("the backend rejected the bridge's credentials ({OPERATOR_MUST_CHECK} the bridge's backend configuration)"),
            )
        }
        429 => ScimError::new(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            "the backend is rate limiting; retry later",
        )
        .with_retry_after(Some(resp.retry_after().unwrap_or(1))),
        500..=599 => {
            warn!(backend_status = status.as_u16(), code = ?code, "backend server error");
            ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "the backend is temporarily unavailable",
            )
            .with_retry_after(Some(resp.retry_after().unwrap_or(5)))
        }
        other => {
            warn!(backend_status = other, code = ?code, "unexpected backend answer (check the mapping's operations)");
            ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                format!("the backend answered {other} unexpectedly"),
            )
        }
    }
}

#[cfg(test)]
mod unanswered_tests {
    use super::super::BackendError;
    use super::*;

    /// Which failed calls the backend may still carry out after the bridge
    /// gave up (a membership undo cannot be sure of them), and which never
    /// reached it at all.
    #[test]
    fn only_calls_without_an_answer_are_in_doubt() {
        let e = |b: BackendError| ScimError::from(b);
        let timeout = e(BackendError::Timeout(std::time::Duration::from_secs(1)));
        let closed_after = e(BackendError::Closed {
            written: true,
            error: "reset".into(),
        });
        let closed_before = e(BackendError::Closed {
            written: false,
            error: "canceled".into(),
        });
        // (error, in doubt, may have reached the backend)
        for (err, in_doubt, reached) in [
            (&timeout, true, true),
            (&closed_after, true, true),
            (&e(BackendError::Io("broken".into())), true, true),
            (&closed_before, false, false),
            (&e(BackendError::TooLarge), false, true),
            (&e(BackendError::Connect("refused".into())), false, false),
            (
                &e(BackendError::Refused(super::super::Refusal::Busy {
                    retry_after: 1,
                })),
                false,
                false,
            ),
            (
                &e(BackendError::Refused(super::super::Refusal::Paused {
                    retry_after: 1,
                })),
                false,
                false,
            ),
            (
                &e(BackendError::Tls(
                    super::super::BackendTlsFailure::Untrusted("expired".into()),
                )),
                false,
                false,
            ),
        ] {
            assert_eq!(unanswered(err), in_doubt, "{err:?}");
            assert_eq!(may_have_reached(err), reached, "{err:?}");
        }
    }
}
