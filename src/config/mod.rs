//! Settings: the TOML file plus `SCIM_BRIDGE__SECTION__KEY` environment
//! overrides (the `config` crate's layering), validated into [`Settings`].
//!
//! Relative paths (mapping files, certificates and keys) resolve against the
//! settings file's folder, never the working directory. String values that
//! hold URLs or secrets may be written `${ENV_VAR}` or `${ENV_VAR:-default}`.

use crate::secret::Secret;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Documented defaults, in one place.
pub mod defaults {
    /// Loopback: a bridge is exposed on purpose, never by accident.
    pub const LISTEN: &str = "127.0.0.1:8080";
    /// The path Entra's tenant URL ends with.
    pub const BASE_PATH: &str = "/scim/v2";
    /// 1 MiB: far above any SCIM user or group PATCH Entra sends.
    pub const MAX_BODY_BYTES: usize = 1024 * 1024;
    /// Whole-request deadline for one SCIM request (several backend calls).
    pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
    /// One backend call.
    pub const BACKEND_TIMEOUT_MS: u64 = 10_000;
    /// Retries of idempotent backend reads on connect errors and 502/503/504.
    pub const BACKEND_READ_RETRIES: u32 = 2;
    /// SCIM `count` when the client sends none.
    pub const DEFAULT_COUNT: usize = 100;
    /// Largest SCIM `count` honoured (advertised as `filter.maxResults`).
    pub const MAX_COUNT: usize = 1000;
    /// Backend records a filter the backend cannot answer may scan before `400 tooMany`.
    pub const SCAN_LIMIT: usize = 10_000;
    /// Re-read-and-reapply attempts after a backend version conflict.
    pub const CONFLICT_RETRIES: u32 = 5;
    /// Demo token, used only when `SCIM_BRIDGE_TOKEN` is unset.
    pub const DEMO_TOKEN: &str = "scim-demo-token";
    /// How often `[tls]` certificate and key files are checked for changes
    /// (0 turns polling off; SIGHUP still reloads).
    pub const TLS_RELOAD_INTERVAL_MS: u64 = 1000;
    /// Backend calls in flight at once, per backend (further calls queue).
    pub const BACKEND_MAX_CONCURRENCY: usize = 32;
    /// Backend calls started per second, per backend (token bucket; 0: no cap).
    pub const BACKEND_MAX_RPS: u32 = 50;
    /// How long a call may queue for a concurrency slot, a rate token or a
    /// backend `Retry-After` pause before the SCIM client gets `503`/`429`.
    pub const BACKEND_QUEUE_TIMEOUT_MS: u64 = 2000;
    /// How often `/readyz`'s backend probe runs (0: no probe).
    pub const BACKEND_PROBE_INTERVAL_MS: u64 = 5000;
    /// Slow-loris guard: a client must send a request's whole header block
    /// within this time, or the connection is closed (no answer).
    pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
    /// Total size of a request's header names and values answered with a SCIM
    /// `431`. Entra's requests carry well under 8 KiB, a JWT included. hyper's
    /// own read buffer is twice this (beyond it hyper answers a bare `431`).
    pub const MAX_HEADER_BYTES: usize = 32 * 1024;
    /// Header fields per request answered with a SCIM `431` beyond this;
    /// hyper stops parsing at twice this (bare `431`).
    pub const MAX_HEADERS: usize = 64;
    /// Requests handled at once; beyond it `503` with `Retry-After: 1` at once
    /// (health checks and `/metrics` exempt). Entra runs a handful in parallel.
    pub const MAX_CONCURRENT_REQUESTS: usize = 256;
    /// Nesting of `{`/`[` in a request body; deeper is `400 invalidSyntax`
    /// before parsing (serde_json itself stops at 128). SCIM needs about 4.
    pub const MAX_JSON_DEPTH: usize = 64;
    /// After a `413`, up to this many times `server.max_body_bytes` of the rest
    /// of the body is read and discarded, so the answer reaches a client that
    /// is still sending instead of a connection reset.
    pub const BODY_DRAIN_FACTOR: usize = 4;
    /// …for at most this long.
    pub const BODY_DRAIN_TIMEOUT_MS: u64 = 10_000;
    /// `[auth.jwt]`: how often signing keys are re-read (Entra rotates its keys
    /// every few weeks and publishes new ones well ahead).
    pub const JWKS_REFRESH_S: u64 = 3600;
    /// `[auth.jwt]`: an unknown `kid` re-reads the keys at most this often.
    pub const JWKS_UNKNOWN_KID_INTERVAL_S: u64 = 60;
    /// `[auth.jwt]`: clock skew allowed on `exp` and `nbf`.
    pub const JWT_LEEWAY_S: u64 = 60;
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    mappings: Vec<String>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    backend: RawBackend,
    #[serde(default)]
    scim: RawScim,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    metrics: RawMetrics,
    /// Absent: plain HTTP.
    tls: Option<RawTls>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: Option<bool>,
    listen: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_ca_file: Option<String>,
    reload_interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    base_path: Option<String>,
    public_url: Option<String>,
    max_body_bytes: Option<usize>,
    request_timeout_ms: Option<u64>,
    header_read_timeout_ms: Option<u64>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    max_concurrent_requests: Option<usize>,
    max_json_depth: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    bearer_tokens: Vec<String>,
    jwt: Option<RawJwt>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawJwt {
    issuer: Option<String>,
    audience: Option<OneOrMany>,
    tenant_id: Option<String>,
    jwks_file: Option<String>,
    jwks_url: Option<String>,
    jwks_refresh_s: Option<u64>,
    leeway_s: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    base_url: Option<String>,
    timeout_ms: Option<u64>,
    read_retries: Option<u32>,
    ca_file: Option<String>,
    client_cert_file: Option<String>,
    client_key_file: Option<String>,
    max_concurrency: Option<usize>,
    max_rps: Option<u32>,
    queue_timeout_ms: Option<u64>,
    probe_interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScim {
    default_count: Option<usize>,
    max_count: Option<usize>,
    scan_limit: Option<usize>,
    conflict_retries: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<String>,
    level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `[tls]`: serve HTTPS. Paths are resolved (absolute or relative to the
/// settings file's folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, end-entity certificate first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key_file: PathBuf,
    /// PEM CA bundle; when set, clients must present a certificate it issued.
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are checked for changes; `None`: only on SIGHUP.
    pub reload_interval: Option<Duration>,
}

/// TLS towards the backend (`[backend]` keys). Hostname verification is
/// always on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendTlsSettings {
    /// PEM CA bundle that *replaces* the system roots for backend calls.
    pub ca_file: Option<PathBuf>,
    /// The bridge's client certificate chain and key (mTLS), both or neither.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

/// Caps protecting one backend (`[backend]` keys); shared by every request
/// calling that backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendLimits {
    /// Calls in flight at once.
    pub max_concurrency: usize,
    /// Calls started per second (0: no cap).
    pub max_rps: u32,
    /// Longest wait for a slot, a token or the end of a backend pause.
    pub queue_timeout: Duration,
}

impl BackendLimits {
    /// No caps (`explain`'s scripted client).
    pub const UNLIMITED: BackendLimits = BackendLimits {
        max_concurrency: usize::MAX >> 4,
        max_rps: 0,
        queue_timeout: Duration::from_millis(defaults::BACKEND_QUEUE_TIMEOUT_MS),
    };
}

impl Default for BackendLimits {
    fn default() -> Self {
        BackendLimits {
            max_concurrency: defaults::BACKEND_MAX_CONCURRENCY,
            max_rps: defaults::BACKEND_MAX_RPS,
            queue_timeout: Duration::from_millis(defaults::BACKEND_QUEUE_TIMEOUT_MS),
        }
    }
}

/// Where `[auth.jwt]` signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    /// `https://` (or `http://` to a loopback address only).
    Url(String),
}

/// `[auth.jwt]`: accept RS256 JWT bearer tokens (Entra's own token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// Exact `iss` (Entra: `https://sts.windows.net/<tenant id>/`).
    pub issuer: String,
    /// Accepted `aud` values (any one must match).
    pub audiences: Vec<String>,
    /// Checked against the `tid` claim when set.
    pub tenant_id: Option<String>,
    pub jwks: JwksSource,
    pub refresh: Duration,
    pub leeway: Duration,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The settings file (for messages).
    pub file: PathBuf,
    pub mappings: Vec<PathBuf>,
    pub listen: SocketAddr,
    /// `/scim/v2`, no trailing slash (may be empty).
    pub base_path: String,
    /// Public URL prefix for `meta.location` (`https://scim.example.com/scim/v2`);
    /// derived from the request's Host when unset.
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_concurrent_requests: usize,
    pub max_json_depth: usize,
    pub bearer_tokens: Vec<Secret>,
    /// `None`: JWT bearer tokens are not accepted.
    pub jwt: Option<JwtSettings>,
    pub backend_base_url: Option<String>,
    pub backend_timeout: Duration,
    pub backend_read_retries: u32,
    pub backend_tls: BackendTlsSettings,
    /// Caps protecting each backend (concurrency, rate, queueing).
    pub backend_limits: BackendLimits,
    /// How often `/readyz`'s backend probe runs (`None`: never; `/readyz`
    /// then reports the mappings only).
    pub backend_probe_interval: Option<Duration>,
    /// `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    pub default_count: usize,
    pub max_count: usize,
    pub scan_limit: usize,
    pub conflict_retries: u32,
    pub log_format: LogFormat,
    pub log_level: String,
    /// Serve `GET /metrics` (Prometheus text format).
    pub metrics_enabled: bool,
    /// A separate admin listener for `/metrics` (and health checks) instead of the main one.
    pub metrics_listen: Option<SocketAddr>,
}

/// Where `${VAR}` references and `SCIM_BRIDGE__…` overrides come from.
/// Tests pass a map; the binary passes `None` (the process environment).
pub type EnvMap = Option<HashMap<String, String>>;

pub fn env_lookup(env: &EnvMap, name: &str) -> Option<String> {
    match env {
        Some(m) => m.get(name).cloned(),
        None => std::env::var(name).ok(),
    }
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
/// The error names the variable, never a value.
pub fn expand_env(text: &str, env: &EnvMap) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "unterminated ${…} reference".to_string())?;
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid environment variable name {name:?} in ${{…}}"
                ));
            }
            match env_lookup(env, name).filter(|v| !v.is_empty()) {
                Some(v) => out.push_str(&v),
                None => match default {
                    Some(d) => out.push_str(d),
                    None => return Err(format!("environment variable {name} is not set")),
                },
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl Settings {
    /// Loads the settings file, applies environment overrides, validates.
    pub fn load(path: &Path, env: EnvMap) -> Result<Settings, ConfigError> {
        let file = path.display().to_string();
        if !path.is_file() {
            return Err(ConfigError::Io {
                file,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let mut envsrc = config::Environment::with_prefix("SCIM_BRIDGE")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("auth.bearer_tokens")
            .with_list_parse_key("mappings")
            .with_list_parse_key("auth.jwt.audience")
            .try_parsing(true);
        if let Some(map) = &env {
            envsrc = envsrc.source(Some(map.clone()));
        }
        let raw: RawSettings = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(envsrc)
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Parse {
                file: file.clone(),
                message: crate::suggest::did_you_mean(&e.to_string()),
            })?;
        Self::validate(path, raw, &env)
    }

    fn validate(path: &Path, raw: RawSettings, env: &EnvMap) -> Result<Settings, ConfigError> {
        let file = path.display().to_string();
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.clone(),
            key: key.to_string(),
            message,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let expand = |key: &str, v: &str| expand_env(v, env).map_err(|m| invalid(key, m));

        let listen_text = expand(
            "server.listen",
            raw.server.listen.as_deref().unwrap_or(defaults::LISTEN),
        )?;
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "server.listen",
                format!("{listen_text:?} is not HOST:PORT (an IP address and a port)"),
            )
        })?;
        let base_path = raw
            .server
            .base_path
            .unwrap_or_else(|| defaults::BASE_PATH.into());
        let base_path = base_path.trim_end_matches('/').to_string();
        if !base_path.is_empty() && !base_path.starts_with('/') {
            return Err(invalid(
                "server.base_path",
                format!("{base_path:?} must start with '/'"),
            ));
        }
        let public_url = match raw.server.public_url.filter(|u| !u.is_empty()) {
            Some(u) => {
                let u = expand("server.public_url", &u)?;
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(invalid(
                        "server.public_url",
                        format!("{u:?} must start with http:// or https://"),
                    ));
                }
                Some(u.trim_end_matches('/').to_string())
            }
            None => None,
        };
        let max_body_bytes = raw
            .server
            .max_body_bytes
            .unwrap_or(defaults::MAX_BODY_BYTES);
        if max_body_bytes < 1024 {
            return Err(invalid(
                "server.max_body_bytes",
                format!("must be at least 1024, got {max_body_bytes}"),
            ));
        }
        let mut bearer_tokens = Vec::new();
        for (i, t) in raw.auth.bearer_tokens.iter().enumerate() {
            let key = format!("auth.bearer_tokens[{i}]");
            let t = expand(&key, t)?;
            if t.len() < 8 {
                return Err(invalid(
                    &key,
                    "a bearer token must be at least 8 characters".into(),
                ));
            }
            bearer_tokens.push(Secret::new(t));
        }
        let jwt = match &raw.auth.jwt {
            None => None,
            Some(j) => Some(Self::jwt_settings(j, dir, &invalid, &expand)?),
        };
        if bearer_tokens.is_empty() && jwt.is_none() {
            return Err(invalid(
                "auth.bearer_tokens",
                "at least one bearer token is required (or configure [auth.jwt])".into(),
            ));
        }
        let server_limit = |key: &str, v: Option<usize>, d: usize, min: usize, max: usize| {
            let v = v.unwrap_or(d);
            if v < min || v > max {
                return Err(invalid(
                    key,
                    format!("must be between {min} and {max}, got {v}"),
                ));
            }
            Ok(v)
        };
        let max_header_bytes = server_limit(
            "server.max_header_bytes",
            raw.server.max_header_bytes,
            defaults::MAX_HEADER_BYTES,
            4096,
            1 << 20,
        )?;
        let max_headers = server_limit(
            "server.max_headers",
            raw.server.max_headers,
            defaults::MAX_HEADERS,
            16,
            1000,
        )?;
        let max_concurrent_requests = server_limit(
            "server.max_concurrent_requests",
            raw.server.max_concurrent_requests,
            defaults::MAX_CONCURRENT_REQUESTS,
            1,
            1 << 20,
        )?;
        let max_json_depth = server_limit(
            "server.max_json_depth",
            raw.server.max_json_depth,
            defaults::MAX_JSON_DEPTH,
            2,
            127,
        )?;
        let header_read_timeout = match raw.server.header_read_timeout_ms {
            Some(0) => {
                return Err(invalid(
                    "server.header_read_timeout_ms",
                    "must be greater than 0 (slow-loris protection cannot be turned off)".into(),
                ))
            }
            v => Duration::from_millis(v.unwrap_or(defaults::HEADER_READ_TIMEOUT_MS)),
        };
        let backend_base_url = match raw.backend.base_url {
            Some(u) => Some(
                check_base_url(&expand("backend.base_url", &u)?)
                    .map_err(|m| invalid("backend.base_url", m))?,
            ),
            None => None,
        };
        let path_of = |key: &str, v: Option<&String>| -> Result<Option<PathBuf>, ConfigError> {
            match v.filter(|v| !v.is_empty()) {
                Some(v) => Ok(Some(dir.join(expand(key, v)?))),
                None => Ok(None),
            }
        };
        let tls = match &raw.tls {
            None => None,
            Some(t) => {
                let required = |key: &str, v: Option<PathBuf>| {
                    v.ok_or_else(|| {
                        invalid(
                            key,
                            "required when [tls] is present (remove [tls] to serve plain HTTP)"
                                .into(),
                        )
                    })
                };
                let tls = TlsSettings {
                    cert_file: required(
                        "tls.cert_file",
                        path_of("tls.cert_file", t.cert_file.as_ref())?,
                    )?,
                    key_file: required(
                        "tls.key_file",
                        path_of("tls.key_file", t.key_file.as_ref())?,
                    )?,
                    client_ca_file: path_of("tls.client_ca_file", t.client_ca_file.as_ref())?,
                    reload_interval: match t
                        .reload_interval_ms
                        .unwrap_or(defaults::TLS_RELOAD_INTERVAL_MS)
                    {
                        0 => None,
                        ms => Some(Duration::from_millis(ms)),
                    },
                };
                // Load everything now, so `check` and startup name the bad file.
                crate::server::tls::TlsServer::new(&tls).map_err(|e| invalid(e.key, e.message))?;
                Some(tls)
            }
        };
        let backend_tls = BackendTlsSettings {
            ca_file: path_of("backend.ca_file", raw.backend.ca_file.as_ref())?,
            client_cert_file: path_of(
                "backend.client_cert_file",
                raw.backend.client_cert_file.as_ref(),
            )?,
            client_key_file: path_of(
                "backend.client_key_file",
                raw.backend.client_key_file.as_ref(),
            )?,
        };
        match (&backend_tls.client_cert_file, &backend_tls.client_key_file) {
            (Some(_), None) => {
                return Err(invalid(
                    "backend.client_key_file",
                    "required when backend.client_cert_file is set".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "backend.client_cert_file",
                    "required when backend.client_key_file is set".into(),
                ))
            }
            _ => {}
        }
        if backend_tls != BackendTlsSettings::default() {
            crate::backend::tls_client_config(&backend_tls)
                .map_err(|e| invalid(e.key, e.message))?;
        }
        if raw.mappings.is_empty() {
            return Err(invalid("mappings", "list at least one mapping file".into()));
        }
        let mappings = raw.mappings.iter().map(|m| dir.join(m)).collect();
        let positive = |key: &str, v: Option<usize>, d: usize| -> Result<usize, ConfigError> {
            match v {
                Some(0) => Err(invalid(key, "must be greater than 0".into())),
                Some(n) => Ok(n),
                None => Ok(d),
            }
        };
        let log_format = match raw.log.format.as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "log.format",
                    format!("{other:?} is not one of pretty, json"),
                ))
            }
        };
        let metrics_listen =
            match raw.metrics.listen.filter(|l| !l.is_empty()) {
                None => None,
                Some(l) => {
                    let l = expand("metrics.listen", &l)?;
                    Some(l.parse().map_err(|_| {
                        invalid("metrics.listen", format!("{l:?} is not HOST:PORT"))
                    })?)
                }
            };
        let backend_limits = BackendLimits {
            max_concurrency: positive(
                "backend.max_concurrency",
                raw.backend.max_concurrency,
                defaults::BACKEND_MAX_CONCURRENCY,
            )?,
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
                return Err(invalid(
                    "backend.probe_interval_ms",
                    format!("must be 0 (no probe) or at least 100, got {ms}"),
                ))
            }
            ms => Some(Duration::from_millis(
                ms.unwrap_or(defaults::BACKEND_PROBE_INTERVAL_MS),
            )),
        };
        Ok(Settings {
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
            default_count: positive(
                "scim.default_count",
                raw.scim.default_count,
                defaults::DEFAULT_COUNT,
            )?,
            max_count: positive("scim.max_count", raw.scim.max_count, defaults::MAX_COUNT)?,
            scan_limit: positive("scim.scan_limit", raw.scim.scan_limit, defaults::SCAN_LIMIT)?,
            conflict_retries: raw
                .scim
                .conflict_retries
                .unwrap_or(defaults::CONFLICT_RETRIES),
            log_format,
            log_level: raw.log.level.unwrap_or_else(|| "info".into()),
        })
    }
}

impl Settings {
    fn jwt_settings(
        j: &RawJwt,
        dir: &Path,
        invalid: &dyn Fn(&str, String) -> ConfigError,
        expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
    ) -> Result<JwtSettings, ConfigError> {
        let issuer = match j.issuer.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => expand("auth.jwt.issuer", v)?,
            None => {
                return Err(invalid(
                    "auth.jwt.issuer",
                    "required (Entra: https://sts.windows.net/<tenant id>/)".into(),
                ))
            }
        };
        let audiences: Vec<String> = match &j.audience {
            None => Vec::new(),
            Some(OneOrMany::One(a)) => vec![a.clone()],
            Some(OneOrMany::Many(a)) => a.clone(),
        }
        .iter()
        .filter(|a| !a.is_empty())
        .map(|a| expand("auth.jwt.audience", a))
        .collect::<Result<_, _>>()?;
        if audiences.is_empty() {
            return Err(invalid(
                "auth.jwt.audience",
                "required: one value or a list".into(),
            ));
        }
        let tenant_id = match j.tenant_id.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => Some(expand("auth.jwt.tenant_id", v)?),
            None => None,
        };
        let file = j.jwks_file.as_deref().filter(|v| !v.is_empty());
        let url = j.jwks_url.as_deref().filter(|v| !v.is_empty());
        let jwks = match (file, url) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid(
                    "auth.jwt.jwks_file",
                    "set exactly one of auth.jwt.jwks_file and auth.jwt.jwks_url".into(),
                ))
            }
            (Some(f), None) => {
                let path = dir.join(expand("auth.jwt.jwks_file", f)?);
                let bytes = std::fs::read(&path).map_err(|e| {
                    invalid("auth.jwt.jwks_file", format!("{}: {e}", path.display()))
                })?;
                crate::server::jwt::parse_jwks(&bytes).map_err(|m| {
                    invalid("auth.jwt.jwks_file", format!("{}: {m}", path.display()))
                })?;
                JwksSource::File(path)
            }
            (None, Some(u)) => {
                let u = expand("auth.jwt.jwks_url", u)?;
                crate::server::jwt::check_jwks_url(&u)
                    .map_err(|m| invalid("auth.jwt.jwks_url", format!("{u:?}: {m}")))?;
                JwksSource::Url(u)
            }
        };
        Ok(JwtSettings {
            issuer,
            audiences,
            tenant_id,
            jwks,
            refresh: Duration::from_secs(
                j.jwks_refresh_s.unwrap_or(defaults::JWKS_REFRESH_S).max(1),
            ),
            leeway: Duration::from_secs(j.leeway_s.unwrap_or(defaults::JWT_LEEWAY_S)),
        })
    }
}

/// Validates a backend origin (`http(s)://host[:port][/prefix]`), trailing slash removed.
pub fn check_base_url(u: &str) -> Result<String, String> {
    let uri: http::Uri = u.parse().map_err(|_| format!("{u:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("{u:?} must start with http:// or https://")),
    }
    if uri.host().is_none() {
        return Err(format!("{u:?} has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("{u:?} must not carry a query string"));
    }
    Ok(u.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn expands_references_with_defaults() {
        let e = env(&[("A", "x"), ("EMPTY", "")]);
        assert_eq!(expand_env("${A}-${B:-d}", &e).unwrap(), "x-d");
        assert_eq!(expand_env("$${A} $5", &e).unwrap(), "${A} $5");
        assert_eq!(expand_env("${EMPTY:-fallback}", &e).unwrap(), "fallback");
        let err = expand_env("${MISSING}", &e).unwrap_err();
        assert_eq!(err, "environment variable MISSING is not set");
        assert!(expand_env("${A", &e).is_err());
        assert!(expand_env("${a b}", &e).is_err());
    }

    fn write_settings(body: &str) -> (tempdir::Dir, PathBuf) {
        let d = tempdir::Dir::new();
        let p = d.path.join("s.toml");
        std::fs::write(&p, body).unwrap();
        (d, p)
    }

    #[test]
    fn env_overrides_and_relative_paths() {
        let (_d, p) = write_settings(
            "mappings = [\"m/x.yaml\"]\n[auth]\nbearer_tokens = [\"${TOK:-abcdefghij}\"]\n[server]\nlisten = \"127.0.0.1:9\"\n",
        );
        let s = Settings::load(
            &p,
            env(&[
                ("SCIM_BRIDGE__SERVER__LISTEN", "127.0.0.1:7777"),
                ("TOK", "secret-token-1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.port(), 7777);
        assert_eq!(s.mappings[0], p.parent().unwrap().join("m/x.yaml"));
        assert_eq!(s.bearer_tokens[0].expose(), "secret-token-1");
        assert_eq!(s.base_path, "/scim/v2");
        assert_eq!(s.max_body_bytes, defaults::MAX_BODY_BYTES);
    }

    #[test]
    fn errors_name_file_key_and_value_without_secrets() {
        let (_d, p) =
            write_settings("mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"short\"]\n");
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("s.toml") && e.contains("auth.bearer_tokens[0]"),
            "{e}"
        );
        assert!(!e.contains("short"), "{e}");
        let (_d, p) = write_settings("mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\n[server]\nlisten = \"nowhere\"\n");
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("server.listen") && e.contains("\"nowhere\""),
            "{e}"
        );
        let (_d, p) = write_settings("mappings = [\"x.yaml\"]\nbogus = 1\n");
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn unknown_settings_key_gets_a_suggestion() {
        let (_d, p) = write_settings(
            "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\n[server]\nlisten_addr = \"127.0.0.1:1\"\n",
        );
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("unknown key `listen_addr` — did you mean `listen`?"),
            "{e}"
        );
        let (_d, p) = write_settings("mapings = [\"x.yaml\"]\n");
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("unknown key `mapings` — did you mean `mappings`?"),
            "{e}"
        );
    }

    #[test]
    fn backend_limits_have_defaults_and_are_validated() {
        let (_d, p) =
            write_settings("mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\n");
        let s = Settings::load(&p, env(&[])).unwrap();
        assert_eq!(s.backend_limits, BackendLimits::default());
        assert_eq!(s.backend_limits.max_rps, 50);
        assert_eq!(s.backend_probe_interval, Some(Duration::from_secs(5)));
        let (_d, p) = write_settings(
            "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\n[backend]\nmax_concurrency = 0\n",
        );
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(e.contains("backend.max_concurrency"), "{e}");
        let s = Settings::load(
            &p,
            env(&[
                ("SCIM_BRIDGE__BACKEND__MAX_CONCURRENCY", "4"),
                ("SCIM_BRIDGE__BACKEND__MAX_RPS", "0"),
                ("SCIM_BRIDGE__BACKEND__QUEUE_TIMEOUT_MS", "250"),
            ]),
        )
        .unwrap();
        assert_eq!(s.backend_limits.max_concurrency, 4);
        assert_eq!(s.backend_limits.max_rps, 0);
        assert_eq!(s.backend_limits.queue_timeout, Duration::from_millis(250));
    }

    /// A throwaway folder removed on drop (no extra crate for two tests).
    mod tempdir {
        pub struct Dir {
            pub path: std::path::PathBuf,
        }
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let path = std::env::temp_dir().join(format!(
                    "scim-bridge-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir { path }
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.path);
            }
        }
    }
}
