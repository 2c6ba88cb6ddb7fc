//! Request bodies: content type, `server.max_body_bytes` (with the rest of a
//! refused body drained), nesting depth, and JSON parsing.

use super::Live;
use crate::config::defaults;
use crate::scim::error::ScimError;
use crate::service::offload;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

/// The request body as a JSON object.
pub(super) async fn read_json<B>(live: &Live, req: Request<B>) -> Result<Value, ScimError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if let Some(ct) = req.headers().get(http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let media = ct.split(';').next().unwrap_or("").trim();
        if !(media == "application/scim+json" || media == "application/json" || media.is_empty()) {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                format!("unsupported content type {media:?}; send application/scim+json"),
            ));
        }
    }
    let limit = live.settings.max_body_bytes;
    let cap = limit.saturating_mul(defaults::BODY_DRAIN_FACTOR);
    let too_large = || {
        ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("the request body exceeds {limit} bytes"),
        )
    };
    // A client waiting for `100 Continue` sends nothing unless the body is read.
    let expects_continue = req
        .headers()
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut body = Box::pin(req.into_body());
    if declared.is_some_and(|len| len > limit as u64) {
        if !expects_continue {
            drain(body, cap);
        }
        return Err(too_large());
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ScimError::invalid_syntax("the request body could not be read"))?;
        if let Some(d) = frame.data_ref() {
            if buf.len() + d.len() > limit {
                drain(body, cap.saturating_sub(buf.len() + d.len()));
                return Err(too_large());
            }
            buf.extend_from_slice(d);
        }
    }
    let body = buf.freeze();
    let max_depth = live.settings.max_json_depth;
    // A large body is scanned and parsed on the blocking pool (see
    // `service::offload`): a megabyte of JSON is milliseconds of CPU.
    if body.len() > offload::BLOCKING_BODY_BYTES {
        offload::offload(move || parse_json(&body, max_depth)).await
    } else {
        parse_json(&body, max_depth)
    }
}

/// `body` as a JSON object, nesting at most `max_depth` levels.
fn parse_json(body: &[u8], max_depth: usize) -> Result<Value, ScimError> {
    if json_too_deep(body, max_depth) {
        return Err(ScimError::invalid_syntax(format!(
            "the request body nests deeper than {max_depth} levels"
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; a JSON object is required",
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
    })?;
    if !v.is_object() {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// Whether `{`/`[` nest deeper than `max` (strings and escapes honoured);
/// a cheap scan run before parsing.
pub(crate) fn json_too_deep(b: &[u8], max: usize) -> bool {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &c in b {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Reads and discards the rest of a refused body in the background (up to
/// `cap` bytes, for at most [`defaults::BODY_DRAIN_TIMEOUT_MS`]), so the 413
/// reaches a client that is still sending instead of a connection reset.
fn drain<B>(mut body: std::pin::Pin<Box<B>>, cap: usize)
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
{
    tokio::spawn(async move {
        let read = async {
            let mut seen = 0usize;
            while let Some(Ok(f)) = body.frame().await {
                if let Some(d) = f.data_ref() {
                    seen += d.len();
                    if seen >= cap {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(defaults::BODY_DRAIN_TIMEOUT_MS),
            read,
        )
        .await;
    });
}
