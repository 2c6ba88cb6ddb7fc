//! Settings: the TOML file plus `SCIM_BRIDGE__SECTION__KEY` environment
//! overrides (the `config` crate's layering), validated into [`Settings`].
//!
//! Relative paths (mapping files, certificates and keys) resolve against the
//! settings file's folder, never the working directory. String values that
//! hold URLs or secrets may be written `${ENV_VAR}` or `${ENV_VAR:-default}`.

use crate::secret::Secret;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod defaults;
mod files;
mod parse;
mod raw;
#[cfg(test)]
mod tests;

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
    /// More than one problem, in the order found (one a line).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
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
    /// Most values one request may give one multi-valued attribute (`400` beyond).
    pub max_values_per_attribute: usize,
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
    /// The settings half of the load step ([`crate::load`]): reads the file,
    /// applies environment overrides, checks every value ([`parse`]: syntax
    /// and values only), then loads every certificate, key and JWKS file the
    /// settings name ([`files`]). `Err` holds every problem of both.
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
        let raw: raw::RawSettings = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(envsrc)
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Parse {
                file: file.clone(),
                message: crate::suggest::did_you_mean(&e.to_string()),
            })?;
        let mut check = parse::Check::new(path, &env);
        let settings = Settings::from_raw(&mut check, path, raw);
        files::check(&mut check, &settings);
        check.finish(settings)
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

/// `https://…`, or `http://` to a loopback host only (a key set fetched in
/// clear text over a network could be replaced in transit).
pub fn check_jwks_url(u: &str) -> Result<(), String> {
    let uri: http::Uri = u.parse().map_err(|_| "not a URL".to_string())?;
    let host = uri.host().ok_or("the URL has no host")?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") => Ok(()),
        Some("http") => Err("must be https:// (http:// is allowed to loopback only)".into()),
        _ => Err("must be an https:// URL".into()),
    }
}
