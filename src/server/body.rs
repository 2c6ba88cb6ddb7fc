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

/// The request body as a JSON object. A body still arriving at the
/// request's `deadline` is the client's delay: `408`, not a `504`.
pub(super) async fn read_json<B>(
    live: &Live,
    req: Request<B>,
    deadline: tokio::time::Instant,
) -> Result<Value, ScimError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let mut types = req.headers().get_all(http::header::CONTENT_TYPE).iter();
    if let Some(ct) = types.next() {
        if types.next().is_some() {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "Content-Type appears more than once; send one: application/scim+json",
            ));
        }
        check_content_type(ct.as_bytes())?;
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
    let too_slow = || {
        ScimError::new(
            StatusCode::REQUEST_TIMEOUT,
            None,
            "the request body did not arrive in time",
        )
    };
    while let Some(frame) = tokio::time::timeout_at(deadline, body.frame())
        .await
        .map_err(|_| too_slow())?
    {
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

/// A JSON media type (`application/scim+json`, `application/json`, or none
/// named), in UTF-8: a `charset` parameter other than `utf-8` (RFC 8259 §8.1:
/// JSON is UTF-8) or a header that is not text is `415`.
fn check_content_type(ct: &[u8]) -> Result<(), ScimError> {
    let refuse = |what: String| {
        Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            format!("{what}; send application/scim+json in UTF-8"),
        ))
    };
    let Ok(ct) = std::str::from_utf8(ct) else {
        return refuse("the content type is not readable text".into());
    };
    let ct = ct.to_ascii_lowercase();
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !(media == "application/scim+json" || media == "application/json" || media.is_empty()) {
        return refuse(format!("unsupported content type {media:?}"));
    }
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        if name.trim() == "charset" && !matches!(value, "utf-8" | "utf8") {
            return refuse(format!("unsupported charset {value:?}"));
        }
    }
    Ok(())
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
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = serde::de::DeserializeSeed::deserialize(NoDuplicates, &mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
        })?;
    if !v.is_object() {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// A JSON value whose objects name no member twice, spelled alike or in
/// another case: SCIM attribute names are case-insensitive (RFC 7643 §2.1),
/// so `{"filter": "…", "Filter": null}` or `{"active": null, "Active":
/// false}` is ambiguous, and taking either silently could drop a filter (a
/// widened search) or a value. (`serde_json` keeps the last of two equal
/// names without a word.)
struct NoDuplicates;

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicates {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicates {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(NoDuplicates)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.to_lowercase()) {
                let shown: String = key.chars().take(64).collect();
                return Err(serde::de::Error::custom(format!(
                    "the name {shown:?} appears twice in one object (names are case-insensitive)"
                )));
            }
            let v = map.next_value_seed(NoDuplicates)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(body: &str) -> Result<Value, ScimError> {
        parse_json(body.as_bytes(), 64)
    }

    #[test]
    fn a_name_twice_in_one_object_is_refused_in_any_case_at_any_depth() {
        for body in [
            r#"{"filter":"userName eq \"a\"","filter":null}"#,
            r#"{"Filter":"userName eq \"a\"","filter":null}"#,
            r#"{"userName":"a","active":null,"Active":false}"#,
            r#"{"name":{"givenName":"a","GIVENNAME":"b"}}"#,
            r#"{"Operations":[{"op":"add","OP":"remove","path":"x"}]}"#,
        ] {
            let e = parsed(body).expect_err(body);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.scim_type, Some("invalidSyntax"), "{body}");
            assert!(e.detail.contains("appears twice"), "{body}: {}", e.detail);
        }
        // The same name in different objects is fine.
        let v = parsed(r#"{"a":{"x":1},"b":{"x":2},"c":[{"x":3},{"x":4}]}"#).unwrap();
        assert_eq!(v["c"][1]["x"], 4);
        // A very long name is shown clipped.
        let long = "k".repeat(10_000);
        let e = parsed(&format!(r#"{{"{long}":1,"{long}":2}}"#)).unwrap_err();
        assert!(e.detail.len() < 300, "{}", e.detail);
    }

    #[test]
    fn charset_other_than_utf8_is_415() {
        for ok in [
            "application/scim+json",
            "application/json; charset=utf-8",
            "application/scim+json;charset=UTF-8",
            "application/scim+json; charset=\"utf-8\"",
            "",
        ] {
            assert!(check_content_type(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            "application/scim+json; charset=latin1",
            "application/json; charset=utf-16",
            "text/plain",
        ] {
            let e = check_content_type(bad.as_bytes()).unwrap_err();
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad}");
        }
        let e = check_content_type(b"application/json; charset=\xff").unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{1,3}", inner), 0..6).prop_map(|kv| {
                    // Distinct names, ignoring case.
                    let mut seen = std::collections::HashSet::new();
                    Value::Object(
                        kv.into_iter()
                            .filter(|(k, _)| seen.insert(k.to_lowercase()))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn without_duplicate_names_the_value_is_serde_jsons(v in json()) {
            let body = serde_json::json!({ "v": v }).to_string();
            let ours = parsed(&body).unwrap();
            let theirs: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(ours, theirs);
        }
    }
}
