//! The settings file as written: every key optional, unknown keys refused.

use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    #[serde(default)]
    pub(super) mappings: Vec<String>,
    #[serde(default)]
    pub(super) server: RawServer,
    #[serde(default)]
    pub(super) auth: RawAuth,
    #[serde(default)]
    pub(super) backend: RawBackend,
    #[serde(default)]
    pub(super) scim: RawScim,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    /// Absent: plain HTTP.
    pub(super) tls: Option<RawTls>,
    /// Absent: no audit trail.
    pub(super) audit: Option<RawAudit>,
    /// Several tenants in one process (see `config::tenants`).
    #[serde(default)]
    pub(super) tenants: Vec<RawTenant>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) enabled: Option<bool>,
    pub(super) listen: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) cert_file: Option<String>,
    pub(super) key_file: Option<String>,
    pub(super) client_ca_file: Option<String>,
    pub(super) reload_interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: Option<String>,
    pub(super) base_path: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) request_timeout_ms: Option<u64>,
    pub(super) membership_deadline_ms: Option<u64>,
    pub(super) shutdown_timeout_ms: Option<u64>,
    pub(super) header_read_timeout_ms: Option<u64>,
    pub(super) max_header_bytes: Option<usize>,
    pub(super) max_headers: Option<usize>,
    pub(super) max_concurrent_requests: Option<usize>,
    pub(super) max_json_depth: Option<usize>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_untrusted_connections_per_ip: Option<usize>,
    pub(super) first_request_timeout_ms: Option<u64>,
    pub(super) idle_timeout_ms: Option<u64>,
    pub(super) http2_keepalive_interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    #[serde(default)]
    pub(super) bearer_tokens: Vec<String>,
    /// The demo and the tests only: accept short or published tokens.
    pub(super) insecure_allow_weak_tokens: Option<bool>,
    pub(super) jwt: Option<RawJwt>,
    pub(super) oauth: Option<RawOAuth>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJwt {
    pub(super) issuer: Option<String>,
    pub(super) audience: Option<OneOrMany>,
    pub(super) tenant_id: Option<String>,
    pub(super) jwks_file: Option<String>,
    pub(super) jwks_url: Option<String>,
    pub(super) jwks_refresh_s: Option<u64>,
    pub(super) leeway_s: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackend {
    pub(super) base_url: Option<String>,
    pub(super) timeout_ms: Option<u64>,
    pub(super) read_retries: Option<u32>,
    pub(super) ca_file: Option<String>,
    pub(super) client_cert_file: Option<String>,
    pub(super) client_key_file: Option<String>,
    pub(super) max_concurrency: Option<usize>,
    pub(super) max_rps: Option<u32>,
    pub(super) queue_timeout_ms: Option<u64>,
    pub(super) probe_interval_ms: Option<u64>,
    pub(super) pool_idle_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScim {
    pub(super) default_count: Option<usize>,
    pub(super) max_count: Option<usize>,
    pub(super) scan_limit: Option<usize>,
    pub(super) conflict_retries: Option<u32>,
    pub(super) max_values_per_attribute: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) format: Option<String>,
    pub(super) level: Option<String>,
}

// --- [auth.oauth] and [audit] ---

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuth {
    pub(super) token_path: Option<String>,
    pub(super) token_ttl_s: Option<u64>,
    #[serde(default)]
    pub(super) signing_keys: Vec<String>,
    pub(super) signing_key_file: Option<String>,
    pub(super) max_failures: Option<u32>,
    pub(super) failure_window_s: Option<u64>,
    #[serde(default)]
    pub(super) clients: Vec<RawOAuthClient>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuthClient {
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) secrets: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    pub(super) enabled: Option<bool>,
    pub(super) sink: Option<String>,
    pub(super) file: Option<String>,
    pub(super) max_file_bytes: Option<u64>,
    pub(super) max_files: Option<usize>,
    pub(super) fsync: Option<String>,
    pub(super) on_failure: Option<String>,
    pub(super) personal_data: Option<String>,
}

// --- [[tenants]] ---

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTenant {
    pub(super) name: Option<String>,
    pub(super) settings: Option<String>,
    pub(super) path_prefix: Option<String>,
    pub(super) host: Option<String>,
}
