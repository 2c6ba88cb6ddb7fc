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

mod check;
pub mod defaults;
mod files;
mod parse;
mod raw;
pub mod stamp;
pub mod tenants;
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

/// Caps protecting one backend (`[backend]` keys), shared by every request
/// calling that backend, and how long its connections are kept idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendLimits {
    /// Calls in flight at once.
    pub max_concurrency: usize,
    /// Calls started per second (0: no cap).
    pub max_rps: u32,
    /// Longest wait for a slot, a token or the end of a backend pause.
    pub queue_timeout: Duration,
    /// Longest a kept-alive connection stays idle in the pool (`ZERO`: no
    /// connection is kept, every call opens its own).
    pub pool_idle_timeout: Duration,
}

impl BackendLimits {
    /// No caps (`explain`'s scripted client).
    pub const UNLIMITED: BackendLimits = BackendLimits {
        max_concurrency: usize::MAX >> 4,
        max_rps: 0,
        queue_timeout: Duration::from_millis(defaults::BACKEND_QUEUE_TIMEOUT_MS),
        pool_idle_timeout: Duration::from_millis(defaults::BACKEND_POOL_IDLE_TIMEOUT_MS),
    };
}

impl Default for BackendLimits {
    fn default() -> Self {
        BackendLimits {
            max_concurrency: defaults::BACKEND_MAX_CONCURRENCY,
            max_rps: defaults::BACKEND_MAX_RPS,
            queue_timeout: Duration::from_millis(defaults::BACKEND_QUEUE_TIMEOUT_MS),
            pool_idle_timeout: Duration::from_millis(defaults::BACKEND_POOL_IDLE_TIMEOUT_MS),
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
    /// `server.membership_deadline_ms`: how long a membership PATCH may go
    /// on starting member calls and retrying its undo, whatever the
    /// request's deadline (see `service::membership`).
    pub membership_deadline: Duration,
    /// `server.shutdown_timeout_ms`: how long a shutdown lets requests and
    /// membership changes in flight finish (see `server::run_with`).
    pub shutdown_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_concurrent_requests: usize,
    pub max_json_depth: usize,
    pub bearer_tokens: Vec<Secret>,
    /// `auth.insecure_allow_weak_tokens`: short or published bearer tokens
    /// accepted (the demo and the tests; loopback listeners only).
    pub insecure_allow_weak_tokens: bool,
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
    /// `[auth.oauth]`: the bridge's own OAuth 2.0 token endpoint.
    pub oauth: Option<OAuthSettings>,
    /// `[audit]`: one JSON line per write (`None`: off).
    pub audit: Option<AuditSettings>,
    /// Connection limits of the listeners (restart to change).
    pub connections: ConnectionLimits,
    /// `[[tenants]]` of the main settings file (empty: one tenant, this file).
    pub tenants: Vec<tenants::TenantRef>,
    /// A tenant's settings: its name (set by the load step, never read from a file).
    pub tenant: Option<String>,
    /// The files the load step read (this settings file, the signing key
    /// file, the mappings), each stamped just before it was read: what the
    /// reload watcher compares the files with.
    pub read_stamps: stamp::ReadStamps,
}

// --- [auth.oauth] and [audit] ---

/// `[auth.oauth]`: the client credentials grant (RFC 6749 §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// Full request path of the token endpoint (`{base_path}/oauth2/token`).
    pub token_path: String,
    pub token_ttl: Duration,
    /// Inline signing keys (usually `${ENV}`); the first signs, all verify.
    pub signing_keys: Vec<Secret>,
    /// A file with one signing key a line (after `signing_keys`).
    pub signing_key_file: Option<PathBuf>,
    pub max_failures: u32,
    pub failure_window: Duration,
    pub clients: Vec<OAuthClient>,
}

/// One OAuth client: its id and the secrets valid now (plain, or `sha256:<hex>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: String,
    pub secrets: Vec<Secret>,
}

impl OAuthSettings {
    /// Every signing key: `signing_keys`, then the lines of
    /// `signing_key_file` (blank lines and `#` comments skipped). The first
    /// signs; all verify. Each must be at least 32 characters.
    pub fn all_keys(&self) -> Result<Vec<Secret>, String> {
        let mut keys = self.signing_keys.clone();
        if let Some(f) = &self.signing_key_file {
            let text = crate::files::read_text(f, crate::files::MAX_SECRET_BYTES)
                .map_err(|e| format!("{}: {e}", f.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if line.len() < 32 {
                    return Err(format!(
                        "{} line {}: a signing key must be at least 32 characters",
                        f.display(),
                        n + 1
                    ));
                }
                keys.push(Secret::new(line));
            }
        }
        if keys.is_empty() {
            return Err("no signing key configured".into());
        }
        Ok(keys)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    Stdout,
    File(PathBuf),
}

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    pub sink: AuditSink,
    pub max_file_bytes: u64,
    pub max_files: usize,
    /// `fsync` after every line (`fsync = "always"`, the default) or never.
    pub fsync: bool,
    /// `on_failure = "refuse_writes"`: writes answer 503 while the sink fails.
    pub refuse_writes: bool,
    /// `personal_data = "omit"` (else hashed).
    pub omit_personal: bool,
}

/// What one connection may hold (`server.max_connections`, the timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once on the main listener.
    pub max_connections: usize,
    /// Connections from one address not (yet) authenticated; 0: no limit.
    pub max_untrusted_per_ip: usize,
    /// From accept to the first whole request head (TLS handshake included).
    pub first_request_timeout: Duration,
    /// No request in flight for this long closes the connection.
    pub idle_timeout: Duration,
    /// An HTTP/1 request head must be whole this long after the previous
    /// request ended (the first: after the accept) (slow-loris).
    pub header_read_timeout: Duration,
    /// HTTP/2 PING interval (and timeout); `None`: no pings.
    pub http2_keepalive_interval: Option<Duration>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: defaults::MAX_CONNECTIONS,
            max_untrusted_per_ip: defaults::MAX_UNTRUSTED_CONNECTIONS_PER_IP,
            first_request_timeout: Duration::from_millis(defaults::FIRST_REQUEST_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(defaults::IDLE_TIMEOUT_MS),
            header_read_timeout: Duration::from_millis(defaults::HEADER_READ_TIMEOUT_MS),
            http2_keepalive_interval: Some(Duration::from_millis(
                defaults::HTTP2_KEEPALIVE_INTERVAL_MS,
            )),
        }
    }
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

/// Expands `${VAR}`, `${VAR:-default}` and `${file:/absolute/path}` (the
/// file's content without its trailing line break: Docker and Kubernetes
/// secrets); `$$` is a literal `$`. The text is scanned once, so a value
/// (an environment variable's, a file's) is never expanded again.
/// The error names the variable or the file, never a value.
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
            if let Some(path) = inner.strip_prefix("file:") {
                out.push_str(&read_secret_file(path)?);
                rest = &body[end + 1..];
                continue;
            }
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                // Not echoed: a literal value that happens to hold `${` could be a secret.
                return Err(
                    "invalid ${…} reference: expected ${NAME}, ${NAME:-default} or ${file:/path} ($$ is a literal $)".into(),
                );
            }
            match env_lookup(env, name) {
                Some(v) if !v.is_empty() => out.push_str(&v),
                set => match default {
                    Some(d) => out.push_str(d),
                    None if set.is_some() => {
                        return Err(format!("environment variable {name} is empty"))
                    }
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

/// Largest `${file:…}` secret file read (a token, key or password is far smaller).
pub const MAX_SECRET_FILE_BYTES: u64 = crate::files::MAX_SECRET_BYTES;

/// `${file:/path}`: the file's content, one trailing line break removed.
/// Errors name the file, never its content.
fn read_secret_file(path: &str) -> Result<String, String> {
    let p = Path::new(path);
    if path.is_empty() || !p.is_absolute() {
        return Err(format!(
            "${{file:{path}}}: the secret file's path must be absolute"
        ));
    }
    // A regular file (a mounted secret, or a link to one) of a bounded
    // size (see `crate::files`).
    let bytes = crate::files::read_bounded(p, MAX_SECRET_FILE_BYTES).map_err(|e| match e {
        crate::files::ReadError::Io(io) => format!(
            "cannot read secret file {path}: {}",
            std::io::Error::from(io.kind())
        ),
        _ => format!("secret file {path} is {e}"),
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("secret file {path} is not UTF-8 text"))?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if text.is_empty() {
        return Err(format!("secret file {path} is empty"));
    }
    Ok(text.to_string())
}

/// The `${…}` references of a setting as written (`SCIM_BRIDGE_TOKEN`,
/// `file /run/secrets/x`), for messages about its value.
pub fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let body = &rest[i + 2..];
        let Some(end) = body.find('}') else { break };
        let inner = &body[..end];
        match inner.strip_prefix("file:") {
            Some(p) => out.push(format!("file {p}")),
            None => out.push(inner.split(":-").next().unwrap_or("").to_string()),
        }
        rest = &body[end + 1..];
    }
    out
}

impl Settings {
    /// The settings half of the load step ([`crate::load()`]): reads the file,
    /// applies environment overrides, checks every value (`parse`: syntax
    /// and values only), then loads every certificate, key and JWKS file the
    /// settings name (`files`). `Err` holds every problem of both.
    pub fn load(path: &Path, env: EnvMap) -> Result<Settings, ConfigError> {
        Self::load_file(path, env, true)
    }

    /// A tenant's settings file ([`tenants`]): like [`Settings::load`], but
    /// `SCIM_BRIDGE__…` overrides are not applied (they would reach every
    /// tenant at once); `${VAR}` references are.
    pub fn load_tenant_file(path: &Path, env: EnvMap) -> Result<Settings, ConfigError> {
        Self::load_file(path, env, false)
    }

    fn load_file(path: &Path, env: EnvMap, overrides: bool) -> Result<Settings, ConfigError> {
        let file = path.display().to_string();
        let mut read_stamps = stamp::ReadStamps::default();
        read_stamps.before_reading(path);
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
            .with_list_parse_key("auth.oauth.signing_keys")
            .try_parsing(true);
        if let Some(map) = &env {
            envsrc = envsrc.source(Some(map.clone()));
        }
        let mut builder = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml));
        if overrides {
            builder = builder.add_source(envsrc);
        }
        let raw: raw::RawSettings =
            builder
                .build()
                .and_then(|c| c.try_deserialize())
                .map_err(|e| ConfigError::Parse {
                    file: file.clone(),
                    // Never the file's text: TOML and serde errors quote it.
                    message: crate::secret::redact_parse_error(&crate::suggest::did_you_mean(
                        &e.to_string(),
                    )),
                })?;
        let mut check = check::Check::new(path, &env);
        let mut settings = Settings::from_raw(&mut check, path, raw);
        if let Some(f) = settings
            .oauth
            .as_ref()
            .and_then(|o| o.signing_key_file.as_ref())
        {
            read_stamps.before_reading(f);
        }
        settings.read_stamps = read_stamps;
        files::check(&mut check, &settings);
        check.finish(settings)
    }
}

impl Settings {
    /// Keeps `running`'s value for every setting read only once at start
    /// (listeners, TLS, connection limits, logging) and returns the keys the
    /// files changed: a reload applies everything else, and these need a
    /// restart. Compared with what runs, so a key changed back clears.
    pub fn keep_restart_only(&mut self, running: &Settings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        macro_rules! keep {
            ($($field:ident => $key:literal),* $(,)?) => {$(
                if self.$field != running.$field {
                    changed.push($key);
                    self.$field = running.$field.clone();
                }
            )*};
        }
        // `[tls]`: the listener's TLS and the certificate watcher are set up at start.
        match (&self.tls, &running.tls) {
            (Some(_), None) | (None, Some(_)) => changed.push("tls"),
            (Some(new), Some(old)) => {
                if new.cert_file != old.cert_file {
                    changed.push("tls.cert_file");
                }
                if new.key_file != old.key_file {
                    changed.push("tls.key_file");
                }
                if new.client_ca_file != old.client_ca_file {
                    changed.push("tls.client_ca_file");
                }
                if new.reload_interval != old.reload_interval {
                    changed.push("tls.reload_interval_ms");
                }
            }
            (None, None) => {}
        }
        self.tls = running.tls.clone();
        keep!(
            listen => "server.listen",
            max_header_bytes => "server.max_header_bytes",
            max_headers => "server.max_headers",
            max_concurrent_requests => "server.max_concurrent_requests",
            metrics_listen => "metrics.listen",
            log_format => "log.format",
            log_level => "log.level",
            // The audit sink is opened at start.
            audit => "audit",
            // Each tenant's state is built at start.
            tenants => "tenants",
        );
        // The listeners' connection cap and timeouts are set up at start.
        let (new, old) = (self.connections, running.connections);
        for (differs, key) in [
            (
                new.max_connections != old.max_connections,
                "server.max_connections",
            ),
            (
                new.max_untrusted_per_ip != old.max_untrusted_per_ip,
                "server.max_untrusted_connections_per_ip",
            ),
            (
                new.first_request_timeout != old.first_request_timeout,
                "server.first_request_timeout_ms",
            ),
            (
                new.idle_timeout != old.idle_timeout,
                "server.idle_timeout_ms",
            ),
            (
                new.header_read_timeout != old.header_read_timeout,
                "server.header_read_timeout_ms",
            ),
            (
                new.http2_keepalive_interval != old.http2_keepalive_interval,
                "server.http2_keepalive_interval_ms",
            ),
        ] {
            if differs {
                changed.push(key);
            }
        }
        self.connections = old;
        // The admin listener starts (or not) at start; on the main listener
        // `metrics.enabled` applies at once.
        if running.metrics_listen.is_some() && self.metrics_enabled != running.metrics_enabled {
            changed.push("metrics.enabled");
            self.metrics_enabled = running.metrics_enabled;
        }
        changed
    }
}

/// Validates a backend origin (`http(s)://host[:port][/prefix]`), trailing slash removed.
pub fn check_base_url(u: &str) -> Result<String, String> {
    // Messages show the URL without its credentials.
    let shown = crate::secret::mask_userinfo(u);
    let uri: http::Uri = u.parse().map_err(|_| format!("{shown:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("{shown:?} must start with http:// or https://")),
    }
    if uri.host().is_none() {
        return Err(format!("{shown:?} has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("{shown:?} must not carry a query string"));
    }
    // `http::Uri` drops a fragment: every call would go to the base itself
    // (a `DELETE /users/{id}` to the collection).
    if u.contains('#') {
        return Err(format!("{shown:?} must not carry a fragment (`#…`)"));
    }
    // Never sent over HTTP/1.1 and forbidden in HTTP/2's `:authority`
    // (RFC 9113 §8.3.1): credentials go in the mapping's `auth` headers.
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!(
            "{shown:?} must not carry credentials (`user:password@`): they are never sent; \
             set the backend's credentials in the mapping's `auth` section"
        ));
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
