//! Backend connection, authentication and error rules.

use super::*;

/// A configured header: `value` is `${…}`-expanded once, then [`header_expanded`].
pub(super) fn header(
    cx: &mut Ctx,
    at: &str,
    name: &str,
    value: &str,
    sensitive: bool,
) -> Option<(HeaderName, HeaderValue)> {
    let value = cx.expand(at, value)?;
    header_expanded(cx, at, name, &value, sensitive)
}

/// A header from an already expanded value (never expanded again: a secret
/// holding `$` stays as it is).
pub(super) fn header_expanded(
    cx: &mut Ctx,
    at: &str,
    name: &str,
    value: &str,
    sensitive: bool,
) -> Option<(HeaderName, HeaderValue)> {
    let n = match HeaderName::from_bytes(name.as_bytes()) {
        Ok(n) => n,
        Err(_) => {
            cx.err(at, format!("{name:?} is not a valid header name"));
            return None;
        }
    };
    match HeaderValue::from_str(value) {
        Ok(mut v) => {
            v.set_sensitive(sensitive);
            Some((n, v))
        }
        Err(_) => {
            // Never echo a possibly secret value.
            cx.err(
                at,
                format!("the value of header {name:?} contains characters not allowed in a header"),
            );
            None
        }
    }
}

pub(super) fn compile_backend(
    cx: &mut Ctx,
    b: &BackendSpec,
    settings: Option<&Settings>,
) -> Option<BackendPlan> {
    let base = match (
        &b.base_url,
        settings.and_then(|s| s.backend_base_url.as_ref()),
    ) {
        (Some(u), _) => {
            cx.expand("backend.base_url", u)
                .and_then(|u| match crate::config::check_base_url(&u) {
                    Ok(u) => Some(u),
                    Err(m) => {
                        cx.err("backend.base_url", m);
                        None
                    }
                })
        }
        (None, Some(u)) => Some(u.clone()),
        (None, None) => {
            cx.err(
                "backend.base_url",
                "no backend URL: set backend.base_url here or [backend] base_url in the settings",
            );
            None
        }
    };
    let mut headers = Vec::new();
    let auth_summary = match &b.auth {
        None => "none".to_string(),
        Some(a) => compile_auth(cx, a, &mut headers),
    };
    // Static headers often carry keys (`X-Api-Key: ${…}`): every value is
    // marked sensitive, so `explain` masks it and HTTP/2 never indexes it.
    for (k, v) in &b.headers {
        headers.extend(header(cx, &format!("backend.headers.{k}"), k, v, true));
    }
    let timeout = Duration::from_millis(
        b.timeout_ms
            .or(settings.map(|s| s.backend_timeout.as_millis() as u64))
            .unwrap_or(crate::config::defaults::BACKEND_TIMEOUT_MS),
    );
    if b.timeout_ms == Some(0) {
        cx.err("backend.timeout_ms", "must be greater than 0");
    }
    let errors = compile_errors(cx, b.errors.as_ref());
    let base_url = base?;
    Some(BackendPlan {
        host: host_header(&base_url),
        uri_base: crate::mapping::plan::UriBase::of(&base_url),
        base_url,
        headers,
        timeout,
        errors,
        auth_summary,
    })
}

/// The `Host` header the HTTP client sends for `base_url`: the host, with
/// the port only when it is not the scheme's default (as hyper-util writes it).
fn host_header(base_url: &str) -> Option<HeaderValue> {
    crate::mapping::plan::host_header(&base_url.parse().ok()?)
}

/// `backend.auth` → the auth header; returns a summary without the secret.
pub(super) fn compile_auth(
    cx: &mut Ctx,
    a: &AuthSpec,
    headers: &mut Vec<(HeaderName, HeaderValue)>,
) -> String {
    let keys = [
        ("name", a.name.as_deref()),
        ("value", a.value.as_deref()),
        ("username", a.username.as_deref()),
        ("password", a.password.as_deref()),
        ("token", a.token.as_deref()),
    ];
    let (type_name, wanted): (&str, &[&str]) = match a.kind {
        AuthKind::Header => ("header", &["name", "value"]),
        AuthKind::Basic => ("basic", &["username", "password"]),
        AuthKind::Bearer => ("bearer", &["token"]),
        AuthKind::None => ("none", &[]),
    };
    let mut complete = true;
    for (k, v) in keys {
        match (v.is_some(), wanted.contains(&k)) {
            (true, false) => cx.err(
                format!("backend.auth.{k}"),
                format!(
                    "`{k}` does not apply to auth type {type_name} (it takes: {})",
                    if wanted.is_empty() {
                        "nothing".to_string()
                    } else {
                        wanted.join(", ")
                    }
                ),
            ),
            (false, true) => {
                complete = false;
                cx.err(
                    format!("backend.auth.{k}"),
                    format!("auth type {type_name} requires `{k}`"),
                );
            }
            _ => {}
        }
    }
    if !complete {
        return format!("{type_name} ***");
    }
    let get = |k: &str| keys.iter().find(|(n, _)| *n == k).and_then(|(_, v)| *v);
    match a.kind {
        AuthKind::None => "none".to_string(),
        AuthKind::Header => {
            let (name, value) = (get("name").unwrap_or(""), get("value").unwrap_or(""));
            headers.extend(header(cx, "backend.auth.value", name, value, true));
            format!("header {name}: ***")
        }
        AuthKind::Basic => {
            use base64::Engine;
            if let (Some(u), Some(p)) = (
                cx.expand("backend.auth.username", get("username").unwrap_or("")),
                cx.expand("backend.auth.password", get("password").unwrap_or("")),
            ) {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                headers.extend(header_expanded(
                    cx,
                    "backend.auth",
                    "authorization",
                    &format!("Basic {token}"),
                    true,
                ));
            }
            "basic ***".to_string()
        }
        AuthKind::Bearer => {
            if let Some(t) = cx.expand("backend.auth.token", get("token").unwrap_or("")) {
                headers.extend(header_expanded(
                    cx,
                    "backend.auth.token",
                    "authorization",
                    &format!("Bearer {t}"),
                    true,
                ));
            }
            "bearer ***".to_string()
        }
    }
}

pub(super) fn compile_errors(cx: &mut Ctx, e: Option<&ErrorSpec>) -> ErrorPlan {
    let Some(e) = e else {
        return ErrorPlan {
            code: None,
            message: None,
            fields: None,
            rules: Vec::new(),
        };
    };
    let mut rules = Vec::new();
    for (i, r) in e.rules.iter().enumerate() {
        let at = format!("backend.errors.rules[{i}]");
        let Ok(status) = StatusCode::from_u16(r.scim_status) else {
            cx.err(
                format!("{at}.scim_status"),
                format!("{} is not an HTTP status", r.scim_status),
            );
            continue;
        };
        if !(status.is_client_error() || status.is_server_error()) {
            cx.err(
                format!("{at}.scim_status"),
                format!("{} is not an error status (4xx/5xx)", r.scim_status),
            );
        }
        let scim_type = match &r.scim_type {
            None => None,
            Some(t) => match scim_type_from_str(t) {
                Some(t) => Some(t),
                None => {
                    cx.err(
                        format!("{at}.scim_type"),
                        format!(
                            "{t:?} is not a SCIM scimType; expected one of {}",
                            crate::scim::error::SCIM_TYPES.join(", ")
                        ),
                    );
                    None
                }
            },
        };
        if r.status.is_none() && r.code.is_none() {
            cx.err(
                at.clone(),
                "a rule must match a backend status, a code, or both",
            );
        }
        rules.push(ErrorRulePlan {
            status: r.status,
            code: r.code.clone(),
            scim_status: status,
            scim_type,
            member_not_found: r.member_not_found,
        });
    }
    ErrorPlan {
        code: e
            .code
            .as_deref()
            .and_then(|t| cx.read_expr("backend.errors.code", t)),
        message: e
            .message
            .as_deref()
            .and_then(|t| cx.read_expr("backend.errors.message", t)),
        fields: e
            .fields
            .as_deref()
            .and_then(|t| cx.read_expr("backend.errors.fields", t)),
        rules,
    }
}

#[cfg(test)]
mod host_tests {
    use super::host_header;

    #[test]
    fn host_header_is_what_the_http_client_would_write() {
        for (base_url, host) in [
            ("http://127.0.0.1:8081", "127.0.0.1:8081"),
            ("http://legacy.internal/api", "legacy.internal"),
            ("http://legacy.internal:80", "legacy.internal"),
            ("https://legacy.internal:443/v1", "legacy.internal"),
            ("https://legacy.internal:8443", "legacy.internal:8443"),
            ("http://[::1]:9000", "[::1]:9000"),
        ] {
            let got = host_header(base_url).map(|v| v.to_str().unwrap().to_string());
            assert_eq!(got.as_deref(), Some(host), "{base_url}");
        }
    }
}
