//! Raw settings → [`Settings`]: syntax and values only (no file is read
//! here). Every problem is collected, so one run names all of them; a key
//! in error takes its default meanwhile so the rest can still be checked.

use super::check::Check;
use super::raw::{OneOrMany, RawAudit, RawJwt, RawOAuth, RawSettings};
use super::ConnectionLimits;
use super::{
    check_base_url, check_jwks_url, defaults, AuditSettings, AuditSink, BackendLimits,
    BackendTlsSettings, JwksSource, JwtSettings, LogFormat, OAuthClient, OAuthSettings, Settings,
    TlsSettings,
};
use crate::secret::Secret;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

impl Settings {
    /// The settings `raw` describes; every problem found is recorded in `c`
    /// (a key in error holds its default meanwhile).
    pub(super) fn from_raw(c: &mut Check, path: &Path, raw: RawSettings) -> Settings {
        let fallback_listen: SocketAddr = defaults::LISTEN.parse().expect("a valid default");
        let listen = c
            .expand(
                "server.listen",
                raw.server.listen.as_deref().unwrap_or(defaults::LISTEN),
            )
            .and_then(|text| {
                let r = text
                    .parse()
                    .map_err(|_| format!("{text:?} is not HOST:PORT (an IP address and a port)"));
                c.ok("server.listen", r)
            })
            .unwrap_or(fallback_listen);
        let connections = connection_limits(c, &raw.server);
        let base_path = raw
            .server
            .base_path
            .unwrap_or_else(|| defaults::BASE_PATH.into())
            .trim_end_matches('/')
            .to_string();
        if !base_path.is_empty() && !base_path.starts_with('/') {
            c.fail(
                "server.base_path",
                format!("{base_path:?} must start with '/'"),
            );
        }
        let public_url = raw
            .server
            .public_url
            .filter(|u| !u.is_empty())
            .and_then(|u| c.expand("server.public_url", &u))
            .and_then(|u| {
                if u.starts_with("http://") || u.starts_with("https://") {
                    Some(u.trim_end_matches('/').to_string())
                } else {
                    c.fail(
                        "server.public_url",
                        format!(
                            "{:?} must start with http:// or https://",
                            crate::secret::mask_userinfo(&u)
                        ),
                    );
                    None
                }
            });
        let max_body_bytes = raw
            .server
            .max_body_bytes
            .unwrap_or(defaults::MAX_BODY_BYTES);
        if max_body_bytes < 1024 {
            c.fail(
                "server.max_body_bytes",
                format!("must be at least 1024, got {max_body_bytes}"),
            );
        }
        let allow_weak = raw.auth.insecure_allow_weak_tokens.unwrap_or(false);
        let mut bearer_tokens = Vec::new();
        for (i, t) in raw.auth.bearer_tokens.iter().enumerate() {
            let key = format!("auth.bearer_tokens[{i}]");
            let Some(t) = c.expand(&key, t) else {
                continue;
            };
            let from = match super::references(&raw.auth.bearer_tokens[i]).as_slice() {
                [] => String::new(),
                refs => format!(" (from {})", refs.join(", ")),
            };
            match token_problem(&t, allow_weak) {
                Some(problem) => c.fail(&key, format!("{problem}{from}")),
                None => bearer_tokens.push(Secret::new(t)),
            }
        }
        if allow_weak && !listen.ip().is_loopback() {
            c.fail(
                "auth.insecure_allow_weak_tokens",
                format!("only allowed with a loopback server.listen (got {listen}): weak tokens must never face a network"),
            );
        }
        let jwt = raw.auth.jwt.as_ref().and_then(|j| jwt_settings(c, j));
        let oauth = raw
            .auth
            .oauth
            .as_ref()
            .and_then(|o| oauth_settings(c, o, &base_path));
        let audit = raw.audit.as_ref().and_then(|a| audit_settings(c, a));
        let tenants = super::tenants::tenants(c, &raw.tenants);
        let no_auth =
            raw.auth.bearer_tokens.is_empty() && raw.auth.jwt.is_none() && raw.auth.oauth.is_none();
        if !raw.tenants.is_empty() {
            // With tenants, credentials and mappings are each tenant's own;
            // bearer tokens here open only `/metrics` and `/readyz` (operators).
            if raw.auth.jwt.is_some() || raw.auth.oauth.is_some() {
                c.fail(
                    "auth",
                    "with [[tenants]], [auth.jwt] and [auth.oauth] go in each tenant's settings file (bearer_tokens here open only /metrics and /readyz)".into(),
                );
            }
            if !raw.mappings.is_empty() {
                c.fail(
                    "mappings",
                    "with [[tenants]], mappings go in each tenant's settings file".into(),
                );
            }
        } else if no_auth {
            c.fail(
                "auth.bearer_tokens",
                "at least one bearer token is required (or configure [auth.jwt] or [auth.oauth])"
                    .into(),
            );
        }
        let [max_header_bytes, max_headers, max_concurrent_requests, max_json_depth] = [
            (
                "server.max_header_bytes",
                raw.server.max_header_bytes,
                defaults::MAX_HEADER_BYTES,
                (4096, 1 << 20),
            ),
            (
                "server.max_headers",
                raw.server.max_headers,
                defaults::MAX_HEADERS,
                (16, 1000),
            ),
            (
                "server.max_concurrent_requests",
                raw.server.max_concurrent_requests,
                defaults::MAX_CONCURRENT_REQUESTS,
                (1, 1 << 20),
            ),
            (
                "server.max_json_depth",
                raw.server.max_json_depth,
                defaults::MAX_JSON_DEPTH,
                (2, 127),
            ),
        ]
        .map(|(key, v, d, range)| c.between(key, v, d, range));
        let membership_deadline_ms = raw
            .server
            .membership_deadline_ms
            .unwrap_or(defaults::MEMBERSHIP_DEADLINE_MS);
        if !(1..=defaults::MAX_MEMBERSHIP_DEADLINE_MS).contains(&membership_deadline_ms) {
            c.fail(
                "server.membership_deadline_ms",
                format!(
                    "must be between 1 and {}, got {membership_deadline_ms}",
                    defaults::MAX_MEMBERSHIP_DEADLINE_MS
                ),
            );
        }
        let membership_deadline = Duration::from_millis(
            membership_deadline_ms.clamp(1, defaults::MAX_MEMBERSHIP_DEADLINE_MS),
        );
        let (lo, hi) = defaults::SHUTDOWN_TIMEOUT_RANGE_MS;
        let shutdown_timeout_ms = raw
            .server
            .shutdown_timeout_ms
            .unwrap_or(defaults::SHUTDOWN_TIMEOUT_MS);
        if !(lo..=hi).contains(&shutdown_timeout_ms) {
            c.fail(
                "server.shutdown_timeout_ms",
                format!("must be between {lo} and {hi}, got {shutdown_timeout_ms}"),
            );
        }
        let shutdown_timeout = Duration::from_millis(shutdown_timeout_ms.clamp(lo, hi));
        let backend_base_url = raw
            .backend
            .base_url
            .as_deref()
            .and_then(|u| c.expand("backend.base_url", u))
            .and_then(|u| {
                let r = check_base_url(&u);
                c.ok("backend.base_url", r)
            });
        let tls = raw.tls.as_ref().and_then(|t| {
            let mut required = |key: &str, v: Option<&String>| {
                let p = c.path(key, v);
                if v.is_none_or(|v| v.is_empty()) {
                    c.fail(
                        key,
                        "required when [tls] is present (remove [tls] to serve plain HTTP)".into(),
                    );
                }
                p
            };
            let cert_file = required("tls.cert_file", t.cert_file.as_ref());
            let key_file = required("tls.key_file", t.key_file.as_ref());
            let client_ca_file = c.path("tls.client_ca_file", t.client_ca_file.as_ref());
            Some(TlsSettings {
                cert_file: cert_file?,
                key_file: key_file?,
                client_ca_file,
                reload_interval: match t
                    .reload_interval_ms
                    .unwrap_or(defaults::TLS_RELOAD_INTERVAL_MS)
                {
                    0 => None,
                    ms => Some(Duration::from_millis(ms)),
                },
            })
        });
        let backend_tls = BackendTlsSettings {
            ca_file: c.path("backend.ca_file", raw.backend.ca_file.as_ref()),
            client_cert_file: c.path(
                "backend.client_cert_file",
                raw.backend.client_cert_file.as_ref(),
            ),
            client_key_file: c.path(
                "backend.client_key_file",
                raw.backend.client_key_file.as_ref(),
            ),
        };
        match (&backend_tls.client_cert_file, &backend_tls.client_key_file) {
            (Some(_), None) => c.fail(
                "backend.client_key_file",
                "required when backend.client_cert_file is set".into(),
            ),
            (None, Some(_)) => c.fail(
                "backend.client_cert_file",
                "required when backend.client_key_file is set".into(),
            ),
            _ => {}
        }
        if raw.mappings.is_empty() && raw.tenants.is_empty() {
            c.fail("mappings", "list at least one mapping file".into());
        }
        let mappings = raw.mappings.iter().map(|m| c.dir.join(m)).collect();
        let log_format = match raw.log.format.as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                c.fail(
                    "log.format",
                    format!("{other:?} is not one of pretty, json"),
                );
                LogFormat::Pretty
            }
        };
        let metrics_listen = raw
            .metrics
            .listen
            .filter(|l| !l.is_empty())
            .and_then(|l| c.expand("metrics.listen", &l))
            .and_then(|l| {
                let r = l.parse().map_err(|_| format!("{l:?} is not HOST:PORT"));
                c.ok("metrics.listen", r)
            });
        let backend_limits = BackendLimits {
            max_concurrency: c.positive(
                "backend.max_concurrency",
                raw.backend.max_concurrency,
                defaults::BACKEND_MAX_CONCURRENCY,
            ),
            max_rps: raw.backend.max_rps.unwrap_or(defaults::BACKEND_MAX_RPS),
            queue_timeout: Duration::from_millis(
                raw.backend
                    .queue_timeout_ms
                    .unwrap_or(defaults::BACKEND_QUEUE_TIMEOUT_MS),
            ),
            pool_idle_timeout: Duration::from_millis(
                raw.backend
                    .pool_idle_timeout_ms
                    .unwrap_or(defaults::BACKEND_POOL_IDLE_TIMEOUT_MS),
            ),
        };
        let backend_probe_interval = match raw.backend.probe_interval_ms {
            Some(0) => None,
            Some(ms) if ms < 100 => {
                c.fail(
                    "backend.probe_interval_ms",
                    format!("must be 0 (no probe) or at least 100, got {ms}"),
                );
                None
            }
            ms => Some(Duration::from_millis(
                ms.unwrap_or(defaults::BACKEND_PROBE_INTERVAL_MS),
            )),
        };
        Settings {
            tenants,
            tenant: None,
            read_stamps: Default::default(),
            oauth,
            audit,
            connections,
            backend_limits,
            backend_probe_interval,
            metrics_enabled: raw.metrics.enabled.unwrap_or(true),
            metrics_listen,
            file: path.to_path_buf(),
            mappings,
            listen,
            base_path,
            public_url,
            max_body_bytes,
            request_timeout: Duration::from_millis(
                raw.server
                    .request_timeout_ms
                    .unwrap_or(defaults::REQUEST_TIMEOUT_MS)
                    .max(1),
            ),
            membership_deadline,
            shutdown_timeout,
            max_header_bytes,
            max_headers,
            max_concurrent_requests,
            max_json_depth,
            bearer_tokens,
            insecure_allow_weak_tokens: allow_weak,
            jwt,
            backend_base_url,
            backend_timeout: Duration::from_millis(
                raw.backend
                    .timeout_ms
                    .unwrap_or(defaults::BACKEND_TIMEOUT_MS)
                    .max(1),
            ),
            backend_read_retries: raw
                .backend
                .read_retries
                .unwrap_or(defaults::BACKEND_READ_RETRIES),
            backend_tls,
            tls,
            default_count: c.positive(
                "scim.default_count",
                raw.scim.default_count,
                defaults::DEFAULT_COUNT,
            ),
            max_count: c.positive("scim.max_count", raw.scim.max_count, defaults::MAX_COUNT),
            scan_limit: c.positive("scim.scan_limit", raw.scim.scan_limit, defaults::SCAN_LIMIT),
            conflict_retries: raw
                .scim
                .conflict_retries
                .unwrap_or(defaults::CONFLICT_RETRIES),
            max_values_per_attribute: c.positive(
                "scim.max_values_per_attribute",
                raw.scim.max_values_per_attribute,
                defaults::MAX_VALUES_PER_ATTRIBUTE,
            ),
            log_format,
            log_level: raw.log.level.unwrap_or_else(|| "info".into()),
        }
    }
}

/// Why a bearer token (expanded) must be refused, without quoting it:
/// empty, shorter than [`defaults::MIN_TOKEN_LEN`] or published in this
/// repository ([`defaults::PUBLISHED_TOKENS`]). With `allow_weak` (the demo
/// and the tests ask for it explicitly) only an empty token is refused.
pub(super) fn token_problem(token: &str, allow_weak: bool) -> Option<String> {
    const GENERATE: &str = "generate one with `openssl rand -base64 32`";
    if token.trim().is_empty() {
        return Some(format!("a bearer token must not be empty; {GENERATE}"));
    }
    if allow_weak {
        return None;
    }
    let n = token.chars().count();
    if n < defaults::MIN_TOKEN_LEN {
        return Some(format!(
            "a bearer token must be at least {} characters (this one has {n}); {GENERATE}",
            defaults::MIN_TOKEN_LEN
        ));
    }
    if defaults::PUBLISHED_TOKENS.contains(&token) {
        return Some(format!(
            "this bearer token is published in the scim-bridge repository (a demo or test value); {GENERATE}"
        ));
    }
    None
}

/// `server.max_connections` and the connection timeouts.
fn connection_limits(c: &mut Check, s: &super::raw::RawServer) -> ConnectionLimits {
    let max_connections = c.between(
        "server.max_connections",
        s.max_connections,
        defaults::MAX_CONNECTIONS,
        (1, 1 << 20),
    );
    let mut ms = |key: &str, v: Option<u64>, d: u64| {
        if v == Some(0) {
            c.fail(
                key,
                "must be greater than 0 (it cannot be turned off)".into(),
            );
        }
        Duration::from_millis(v.filter(|ms| *ms > 0).unwrap_or(d))
    };
    ConnectionLimits {
        max_connections,
        max_untrusted_per_ip: s
            .max_untrusted_connections_per_ip
            .unwrap_or(defaults::MAX_UNTRUSTED_CONNECTIONS_PER_IP),
        first_request_timeout: ms(
            "server.first_request_timeout_ms",
            s.first_request_timeout_ms,
            defaults::FIRST_REQUEST_TIMEOUT_MS,
        ),
        idle_timeout: ms(
            "server.idle_timeout_ms",
            s.idle_timeout_ms,
            defaults::IDLE_TIMEOUT_MS,
        ),
        header_read_timeout: {
            if s.header_read_timeout_ms == Some(0) {
                c.fail(
                    "server.header_read_timeout_ms",
                    "must be greater than 0 (slow-loris protection cannot be turned off)".into(),
                );
            }
            Duration::from_millis(
                s.header_read_timeout_ms
                    .filter(|ms| *ms > 0)
                    .unwrap_or(defaults::HEADER_READ_TIMEOUT_MS),
            )
        },
        http2_keepalive_interval: match s
            .http2_keepalive_interval_ms
            .unwrap_or(defaults::HTTP2_KEEPALIVE_INTERVAL_MS)
        {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    }
}

/// `[auth.jwt]`; `None` when a required key is missing or wrong (recorded).
fn jwt_settings(c: &mut Check, j: &RawJwt) -> Option<JwtSettings> {
    let issuer = match j.issuer.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => c.expand("auth.jwt.issuer", v),
        None => {
            c.fail(
                "auth.jwt.issuer",
                "required (Entra: https://sts.windows.net/<tenant id>/)".into(),
            );
            None
        }
    };
    let audiences: Vec<String> = match &j.audience {
        None => Vec::new(),
        Some(OneOrMany::One(a)) => vec![a.clone()],
        Some(OneOrMany::Many(a)) => a.clone(),
    }
    .iter()
    .filter(|a| !a.is_empty())
    .filter_map(|a| c.expand("auth.jwt.audience", a))
    .collect();
    let audience_set = match &j.audience {
        None => false,
        Some(OneOrMany::One(a)) => !a.is_empty(),
        Some(OneOrMany::Many(a)) => a.iter().any(|a| !a.is_empty()),
    };
    if !audience_set {
        c.fail("auth.jwt.audience", "required: one value or a list".into());
    }
    let tenant_id = j
        .tenant_id
        .as_deref()
        .filter(|v| !v.is_empty())
        .and_then(|v| c.expand("auth.jwt.tenant_id", v));
    let file = j.jwks_file.as_deref().filter(|v| !v.is_empty());
    let url = j.jwks_url.as_deref().filter(|v| !v.is_empty());
    let jwks = match (file, url) {
        (Some(_), Some(_)) | (None, None) => {
            c.fail(
                "auth.jwt.jwks_file",
                "set exactly one of auth.jwt.jwks_file and auth.jwt.jwks_url".into(),
            );
            None
        }
        (Some(f), None) => c
            .expand("auth.jwt.jwks_file", f)
            .map(|f| JwksSource::File(c.dir.join(f))),
        (None, Some(u)) => c.expand("auth.jwt.jwks_url", u).and_then(|u| {
            // The value is shown without any user:password@ in it.
            let r = check_jwks_url(&u)
                .map_err(|m| format!("{:?}: {m}", crate::secret::mask_userinfo(&u)));
            c.ok("auth.jwt.jwks_url", r).map(|()| JwksSource::Url(u))
        }),
    };
    Some(JwtSettings {
        issuer: issuer?,
        audiences: Some(audiences).filter(|a| !a.is_empty())?,
        tenant_id,
        jwks: jwks?,
        refresh: Duration::from_secs(j.jwks_refresh_s.unwrap_or(defaults::JWKS_REFRESH_S).max(1)),
        leeway: Duration::from_secs(j.leeway_s.unwrap_or(defaults::JWT_LEEWAY_S)),
    })
}

// --- [auth.oauth] and [audit] ---

/// `[auth.oauth]`; `None` when something required is missing (recorded).
fn oauth_settings(c: &mut Check, o: &RawOAuth, base_path: &str) -> Option<OAuthSettings> {
    let token_path = match o.token_path.as_deref().filter(|p| !p.is_empty()) {
        None => format!("{base_path}/oauth2/token"),
        Some(p) if p.starts_with('/') && !p.contains(['?', '#']) => {
            p.trim_end_matches('/').to_string()
        }
        Some(p) => {
            c.fail(
                "auth.oauth.token_path",
                format!("{p:?} must be a path starting with '/'"),
            );
            format!("{base_path}/oauth2/token")
        }
    };
    let ttl = o.token_ttl_s.unwrap_or(defaults::OAUTH_TOKEN_TTL_S);
    if !(60..=86_400).contains(&ttl) {
        c.fail(
            "auth.oauth.token_ttl_s",
            format!("must be between 60 and 86400 seconds, got {ttl}"),
        );
    }
    let mut signing_keys = Vec::new();
    for (i, k) in o.signing_keys.iter().enumerate() {
        let key = format!("auth.oauth.signing_keys[{i}]");
        match c.expand(&key, k) {
            Some(k) if k.len() < 32 => {
                c.fail(&key, "a signing key must be at least 32 characters".into())
            }
            Some(k) => signing_keys.push(Secret::new(k)),
            None => {}
        }
    }
    let signing_key_file = c.path("auth.oauth.signing_key_file", o.signing_key_file.as_ref());
    if o.signing_keys.is_empty() && signing_key_file.is_none() {
        c.fail(
            "auth.oauth.signing_keys",
            "set auth.oauth.signing_keys or auth.oauth.signing_key_file".into(),
        );
    }
    let mut clients: Vec<OAuthClient> = Vec::new();
    if o.clients.is_empty() {
        c.fail("auth.oauth.clients", "list at least one client".into());
    }
    for (i, cl) in o.clients.iter().enumerate() {
        let Some(id) = cl.id.as_deref().filter(|v| !v.is_empty()) else {
            c.fail(&format!("auth.oauth.clients[{i}].id"), "required".into());
            continue;
        };
        if clients.iter().any(|x| x.id == id) {
            c.fail(
                &format!("auth.oauth.clients[{i}].id"),
                format!("{id:?} is listed twice"),
            );
        }
        if cl.secrets.is_empty() {
            c.fail(
                &format!("auth.oauth.clients[{i}].secrets"),
                "list at least one secret".into(),
            );
        }
        let mut secrets = Vec::new();
        for (j, s) in cl.secrets.iter().enumerate() {
            let key = format!("auth.oauth.clients[{i}].secrets[{j}]");
            let Some(s) = c.expand(&key, s) else { continue };
            let r = check_client_secret(&s);
            if c.ok(&key, r).is_some() {
                secrets.push(Secret::new(s));
            }
        }
        clients.push(OAuthClient {
            id: id.to_string(),
            secrets,
        });
    }
    let max_failures = o.max_failures.unwrap_or(defaults::OAUTH_MAX_FAILURES);
    if max_failures == 0 {
        c.fail("auth.oauth.max_failures", "must be greater than 0".into());
    }
    Some(OAuthSettings {
        token_path,
        token_ttl: Duration::from_secs(ttl.clamp(60, 86_400)),
        signing_keys,
        signing_key_file,
        max_failures: max_failures.max(1),
        failure_window: Duration::from_secs(
            o.failure_window_s
                .unwrap_or(defaults::OAUTH_FAILURE_WINDOW_S)
                .max(1),
        ),
        clients,
    })
}

/// A client secret as configured: the secret itself (at least 16
/// characters), `sha256:<64 hex digits>` or `pbkdf2-sha256$…` (see
/// [`crate::client_secret`]); the error never repeats the value.
fn check_client_secret(s: &str) -> Result<(), String> {
    crate::client_secret::parse(s).map(|_| ())
}

/// `[audit]`; `None` when off or wrong (recorded).
fn audit_settings(c: &mut Check, a: &RawAudit) -> Option<AuditSettings> {
    let sink = match (a.sink.as_deref().unwrap_or("file"), &a.file) {
        ("stdout", _) => Some(AuditSink::Stdout),
        ("file", f) => match c.path("audit.file", f.as_ref()) {
            Some(p) => Some(AuditSink::File(p)),
            None => {
                c.fail("audit.file", "required when audit.sink = \"file\"".into());
                None
            }
        },
        (other, _) => {
            c.fail(
                "audit.sink",
                format!("{other:?} is not one of file, stdout"),
            );
            None
        }
    };
    let fsync = match a.fsync.as_deref() {
        None | Some("always") => true,
        Some("never") => false,
        Some(other) => {
            c.fail(
                "audit.fsync",
                format!("{other:?} is not one of always, never"),
            );
            true
        }
    };
    let refuse_writes = match a.on_failure.as_deref() {
        None | Some("continue") => false,
        Some("refuse_writes") => true,
        Some(other) => {
            c.fail(
                "audit.on_failure",
                format!("{other:?} is not one of continue, refuse_writes"),
            );
            false
        }
    };
    let omit_personal = match a.personal_data.as_deref() {
        None | Some("hash") => false,
        Some("omit") => true,
        Some(other) => {
            c.fail(
                "audit.personal_data",
                format!("{other:?} is not one of hash, omit"),
            );
            false
        }
    };
    let max_file_bytes = a.max_file_bytes.unwrap_or(defaults::AUDIT_MAX_FILE_BYTES);
    if max_file_bytes < 4096 {
        c.fail(
            "audit.max_file_bytes",
            format!("must be at least 4096, got {max_file_bytes}"),
        );
    }
    let max_files = c.between(
        "audit.max_files",
        a.max_files,
        defaults::AUDIT_MAX_FILES,
        (1, 1000),
    );
    if a.enabled == Some(false) {
        return None;
    }
    Some(AuditSettings {
        sink: sink?,
        max_file_bytes: max_file_bytes.max(4096),
        max_files,
        fsync,
        refuse_writes,
        omit_personal,
    })
}
