//! Raw settings → [`Settings`]: syntax and values only (no file is read
//! here). Every problem is collected, so one run names all of them; a key
//! in error takes its default meanwhile so the rest can still be checked.

use super::raw::{OneOrMany, RawJwt, RawSettings};
use super::{
    check_base_url, check_jwks_url, defaults, expand_env, BackendLimits, BackendTlsSettings,
    ConfigError, EnvMap, JwksSource, JwtSettings, LogFormat, Settings, TlsSettings,
};
use crate::secret::Secret;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The errors found so far, and what every check needs.
pub(super) struct Check<'a> {
    file: String,
    dir: &'a Path,
    env: &'a EnvMap,
    errors: Vec<ConfigError>,
}

impl<'a> Check<'a> {
    pub(super) fn new(path: &'a Path, env: &'a EnvMap) -> Check<'a> {
        Check {
            file: path.display().to_string(),
            dir: path.parent().unwrap_or(Path::new(".")),
            env,
            errors: Vec::new(),
        }
    }

    /// Records a problem with `key`.
    pub(super) fn fail(&mut self, key: &str, message: String) {
        self.errors.push(ConfigError::Invalid {
            file: self.file.clone(),
            key: key.to_string(),
            message,
        });
    }

    /// `Ok` when nothing was recorded; otherwise every problem, in the order found.
    pub(super) fn finish<T>(mut self, value: T) -> Result<T, ConfigError> {
        match self.errors.len() {
            0 => Ok(value),
            1 => Err(self.errors.remove(0)),
            _ => Err(ConfigError::Several(self.errors)),
        }
    }

    /// `Some(v)` when `r` is fine; otherwise records the problem.
    fn ok<T>(&mut self, key: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.fail(key, m)).ok()
    }

    /// `${VAR}` references expanded (`None`: recorded as a problem).
    fn expand(&mut self, key: &str, v: &str) -> Option<String> {
        let r = expand_env(v, self.env);
        self.ok(key, r)
    }

    /// A path relative to the settings file's folder; `None` when unset or empty.
    fn path(&mut self, key: &str, v: Option<&String>) -> Option<PathBuf> {
        let v = v.filter(|v| !v.is_empty())?;
        self.expand(key, v).map(|v| self.dir.join(v))
    }

    /// `v` or `d`, which must lie in `min..=max`.
    fn between(
        &mut self,
        key: &str,
        v: Option<usize>,
        d: usize,
        (min, max): (usize, usize),
    ) -> usize {
        let v = v.unwrap_or(d);
        if v < min || v > max {
            self.fail(key, format!("must be between {min} and {max}, got {v}"));
        }
        v
    }

    /// `v` or `d`, which must not be 0.
    fn positive(&mut self, key: &str, v: Option<usize>, d: usize) -> usize {
        if v == Some(0) {
            self.fail(key, "must be greater than 0".into());
        }
        v.filter(|n| *n > 0).unwrap_or(d)
    }
}

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
                        format!("{u:?} must start with http:// or https://"),
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
        let mut bearer_tokens = Vec::new();
        for (i, t) in raw.auth.bearer_tokens.iter().enumerate() {
            let key = format!("auth.bearer_tokens[{i}]");
            match c.expand(&key, t) {
                Some(t) if t.len() < 8 => {
                    c.fail(&key, "a bearer token must be at least 8 characters".into())
                }
                Some(t) => bearer_tokens.push(Secret::new(t)),
                None => {}
            }
        }
        let jwt = raw.auth.jwt.as_ref().and_then(|j| jwt_settings(c, j));
        if raw.auth.bearer_tokens.is_empty() && raw.auth.jwt.is_none() {
            c.fail(
                "auth.bearer_tokens",
                "at least one bearer token is required (or configure [auth.jwt])".into(),
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
        if raw.server.header_read_timeout_ms == Some(0) {
            c.fail(
                "server.header_read_timeout_ms",
                "must be greater than 0 (slow-loris protection cannot be turned off)".into(),
            );
        }
        let header_read_timeout = Duration::from_millis(
            raw.server
                .header_read_timeout_ms
                .filter(|ms| *ms > 0)
                .unwrap_or(defaults::HEADER_READ_TIMEOUT_MS),
        );
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
        if raw.mappings.is_empty() {
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
            header_read_timeout,
            max_header_bytes,
            max_headers,
            max_concurrent_requests,
            max_json_depth,
            bearer_tokens,
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
            let r = check_jwks_url(&u).map_err(|m| format!("{u:?}: {m}"));
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
