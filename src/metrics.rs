//! Prometheus metrics (`GET /metrics`, text format). Labels are route
//! templates, operation names and status codes only: never ids, names or
//! secrets, so cardinality stays bounded and nothing personal leaks.

mod shards;

pub use shards::{LatencyHistogram, ShardedCounter, ShardedGauge};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::borrow::Cow;
use std::time::Duration;

/// A label value: the fixed ones (operations, statuses, results) are
/// borrowed, so counting a request allocates nothing for them.
pub type Label = Cow<'static, str>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub resource: Label,
    pub operation: Label,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub resource: Label,
    pub operation: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub operation: Label,
    pub status: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpOnly {
    pub operation: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: Label,
}

/// With `[[tenants]]`: the tenant a request or backend call was for.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantRequestLabels {
    pub tenant: String,
    pub resource: String,
    pub operation: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantBackendLabels {
    pub tenant: String,
    pub operation: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    pub tenant: String,
}

/// Every metric the bridge exports.
pub struct Metrics {
    registry: Registry,
    /// The metrics each request updates are sharded per thread (`shards`).
    pub requests: Family<RequestLabels, ShardedCounter>,
    pub request_duration: Family<OpLabels, LatencyHistogram>,
    pub in_flight: ShardedGauge,
    /// Connections open on the main listener.
    pub connections_open: Gauge,
    /// Connections closed at once because `server.max_connections` were open.
    pub connections_refused: Counter,
    pub backend_calls: Family<BackendLabels, ShardedCounter>,
    pub backend_duration: Family<OpOnly, LatencyHistogram>,
    pub backend_retries: Family<OpOnly, Counter>,
    /// Backend answers 429 (the backend is rate limiting the bridge).
    pub backend_rate_limited: Counter,
    /// Calls the bridge refused or delayed to protect the backend.
    pub backend_rejections: Counter,
    pub backend_rate_limit_waits: Counter,
    pub reloads: Family<ResultLabels, Counter>,
    /// 1 when the last reload failed (the previous configuration is serving).
    pub config_stale: Gauge,
    /// Restart-only settings changed in the files but not applied (see
    /// `Settings::keep_restart_only`); 0 when the files match what runs.
    pub restart_pending: Gauge,
    /// `[audit]` lines by result (`written`, `failed`).
    pub audit_lines: Family<ResultLabels, Counter>,
    /// 1 while the audit sink cannot be written.
    pub audit_sink_failing: Gauge,
    /// Membership PATCHes that failed and whose undo failed too (the
    /// backend holds part of the change; the answer and the log list it).
    pub membership_undo_failures: Counter,
    /// `[[tenants]]`: `requests` by tenant too (empty without tenants).
    pub tenant_requests: Family<TenantRequestLabels, Counter>,
    /// `[[tenants]]`: `backend_calls` by tenant too.
    pub tenant_backend_calls: Family<TenantBackendLabels, Counter>,
    /// `[[tenants]]`: 1 while the tenant's last reload failed.
    pub tenant_config_stale: Family<TenantLabel, Gauge>,
    /// Tells this `Metrics` apart in the per-thread [`Hot`] caches.
    id: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("scim_bridge");
        let requests = Family::<RequestLabels, ShardedCounter>::default();
        registry.register(
            "requests",
            "SCIM requests by resource type, operation and status",
            requests.clone(),
        );
        let request_duration = Family::<OpLabels, LatencyHistogram>::default();
        registry.register(
            "request_duration_seconds",
            "SCIM request duration",
            request_duration.clone(),
        );
        let in_flight = ShardedGauge::default();
        registry.register(
            "in_flight_requests",
            "SCIM requests being served",
            in_flight.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "open_connections",
            "Connections open on the main listener",
            connections_open.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections closed at once: server.max_connections were open, or server.max_untrusted_connections_per_ip from that address",
            connections_refused.clone(),
        );
        let backend_calls = Family::<BackendLabels, ShardedCounter>::default();
        registry.register(
            "backend_calls",
            "Backend calls by operation and status (or error)",
            backend_calls.clone(),
        );
        let backend_duration = Family::<OpOnly, LatencyHistogram>::default();
        registry.register(
            "backend_call_duration_seconds",
            "Backend call duration",
            backend_duration.clone(),
        );
        let backend_retries = Family::<OpOnly, Counter>::default();
        registry.register(
            "backend_retries",
            "Backend calls retried",
            backend_retries.clone(),
        );
        let backend_rate_limited = Counter::default();
        registry.register(
            "backend_rate_limited",
            "Backend answers 429",
            backend_rate_limited.clone(),
        );
        let backend_rejections = Counter::default();
        registry.register(
            "backend_rejections",
            "Calls refused to protect the backend (concurrency or rate cap)",
            backend_rejections.clone(),
        );
        let backend_rate_limit_waits = Counter::default();
        registry.register(
            "backend_rate_limit_waits",
            "Calls that waited for the backend rate cap or a Retry-After pause",
            backend_rate_limit_waits.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads by result (ok, error)",
            reloads.clone(),
        );
        let config_stale = Gauge::default();
        registry.register(
            "config_reload_failed",
            "1 while the last reload failed and the previous configuration serves",
            config_stale.clone(),
        );
        let restart_pending = Gauge::default();
        registry.register(
            "config_restart_pending",
            "Settings changed in the files that only take effect after a restart (the running values are kept)",
            restart_pending.clone(),
        );
        let audit_lines = Family::<ResultLabels, Counter>::default();
        registry.register(
            "audit_lines",
            "Audit trail lines by result (written, failed)",
            audit_lines.clone(),
        );
        let audit_sink_failing = Gauge::default();
        registry.register(
            "audit_sink_failing",
            "1 while the audit sink cannot be written",
            audit_sink_failing.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because standard output (a pipe or socket) had no room: its reader stalled",
            crate::logging::dropped_lines().clone(),
        );
        let membership_undo_failures = Counter::default();
        registry.register(
            "membership_undo_failures",
            "Group membership PATCHes left partly applied because undoing a failure failed",
            membership_undo_failures.clone(),
        );
        let tenant_requests = Family::<TenantRequestLabels, Counter>::default();
        registry.register(
            "tenant_requests",
            "SCIM requests by tenant, resource type, operation and status ([[tenants]] only)",
            tenant_requests.clone(),
        );
        let tenant_backend_calls = Family::<TenantBackendLabels, Counter>::default();
        registry.register(
            "tenant_backend_calls",
            "Backend calls by tenant, operation and status ([[tenants]] only)",
            tenant_backend_calls.clone(),
        );
        let tenant_config_stale = Family::<TenantLabel, Gauge>::default();
        registry.register(
            "tenant_config_reload_failed",
            "1 while the tenant's last reload failed and its previous configuration serves",
            tenant_config_stale.clone(),
        );
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Metrics {
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            tenant_requests,
            tenant_backend_calls,
            tenant_config_stale,
            restart_pending,
            audit_lines,
            audit_sink_failing,
            membership_undo_failures,
            registry,
            requests,
            request_duration,
            in_flight,
            connections_open,
            connections_refused,
            backend_calls,
            backend_duration,
            backend_retries,
            backend_rate_limited,
            backend_rejections,
            backend_rate_limit_waits,
            reloads,
            config_stale,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn record_request(
        &self,
        resource: &str,
        operation: &'static str,
        status: u16,
        took: Duration,
    ) {
        let resource = label(resource);
        let key = Hot::key(self.id, &resource, operation, status);
        let make = || {
            let count = self
                .requests
                .get_or_create(&RequestLabels {
                    resource: resource.clone(),
                    operation: operation.into(),
                    status,
                })
                .clone();
            let took = self
                .request_duration
                .get_or_create(&OpLabels {
                    resource: resource.clone(),
                    operation: operation.into(),
                })
                .clone();
            (count, took)
        };
        Hot::count(key, make, took);
    }

    /// A request of a tenant (besides [`Metrics::record_request`]).
    pub fn record_tenant_request(
        &self,
        tenant: &str,
        resource: &str,
        operation: &str,
        status: u16,
    ) {
        self.tenant_requests
            .get_or_create(&TenantRequestLabels {
                tenant: tenant.into(),
                resource: resource.into(),
                operation: operation.into(),
                status,
            })
            .inc();
    }

    /// A backend call of a tenant (besides [`Metrics::record_backend`]).
    pub fn record_tenant_backend(&self, tenant: &str, operation: &str, status: &str) {
        self.tenant_backend_calls
            .get_or_create(&TenantBackendLabels {
                tenant: tenant.into(),
                operation: operation.into(),
                status: status.into(),
            })
            .inc();
    }

    /// A tenant's reload attempt: counted with every other reload, and its
    /// own `tenant_config_reload_failed` gauge follows it.
    pub fn record_tenant_reload(&self, tenant: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        self.tenant_config_stale
            .get_or_create(&TenantLabel {
                tenant: tenant.into(),
            })
            .set(i64::from(!ok));
    }

    /// A reload attempt: counted by result; `config_reload_failed` follows the last one.
    pub fn record_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        self.config_stale.set(if ok { 0 } else { 1 });
    }

    pub fn record_backend(&self, operation: &'static str, status: Label, took: Duration) {
        // Not `requests`' keys: a status label is text, a request's a number.
        let key = Hot::key(self.id, &status, operation, u16::MAX);
        let make = || {
            let count = self
                .backend_calls
                .get_or_create(&BackendLabels {
                    operation: operation.into(),
                    status: status.clone(),
                })
                .clone();
            let took = self
                .backend_duration
                .get_or_create(&OpOnly {
                    operation: operation.into(),
                })
                .clone();
            (count, took)
        };
        Hot::count(key, make, took);
    }
}

/// The counter and histogram of each label set a thread counted lately,
/// found by the labels' addresses instead of by hashing them into the
/// families' maps (two SipHash lookups per request and per backend call).
/// Only borrowed (`'static`) labels are kept; a `Metrics` is told apart by
/// its id, so a new one (a test's) never counts into an old one's metrics.
struct Hot;

/// (metrics id, label address and length, operation address and length,
/// status).
type HotKey = (u64, usize, usize, usize, usize, u16);

impl Hot {
    /// At most this many label sets per thread; others are looked up.
    const SIZE: usize = 32;

    fn key(id: u64, label: &Label, operation: &'static str, status: u16) -> Option<HotKey> {
        match label {
            Cow::Borrowed(l) => Some((
                id,
                l.as_ptr() as usize,
                l.len(),
                operation.as_ptr() as usize,
                operation.len(),
                status,
            )),
            Cow::Owned(_) => None,
        }
    }

    /// One more in the counter and `took` in the histogram of the label
    /// set `key` (found, or made by `make` and kept).
    fn count(
        key: Option<HotKey>,
        make: impl FnOnce() -> (ShardedCounter, LatencyHistogram),
        took: Duration,
    ) {
        let f = |(count, hist): &(ShardedCounter, LatencyHistogram)| {
            count.inc();
            hist.observe(took.as_secs_f64());
        };
        thread_local! {
            static HOT: std::cell::RefCell<Vec<(HotKey, (ShardedCounter, LatencyHistogram))>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let Some(key) = key else {
            return f(&make());
        };
        // `try_with`: counted from a destructor after the thread's cache
        // is gone, the lookup is made without it.
        let found = HOT
            .try_with(|hot| {
                hot.borrow()
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, m)| f(m))
            })
            .ok()
            .flatten();
        if found.is_none() {
            let m = make();
            f(&m);
            let _ = HOT.try_with(|hot| {
                let mut hot = hot.borrow_mut();
                if hot.len() < Hot::SIZE {
                    hot.push((key, m));
                }
            });
        }
    }
}

/// Resource type names seen as label values, kept for the life of the
/// process (a handful: the mapped types and the fixed route labels), so
/// counting a request does not allocate its label.
static NAMES: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());

fn label(resource: &str) -> Label {
    let find = |names: &[&'static str]| names.iter().copied().find(|n| *n == resource);
    // The names this thread met, so that a request takes no lock (a read
    // lock writes the lock's count, shared by every thread).
    thread_local! {
        static MET: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if let Some(n) = MET.try_with(|m| find(&m.borrow())).ok().flatten() {
        return Cow::Borrowed(n);
    }
    let known = find(&NAMES.read().unwrap_or_else(|p| p.into_inner()));
    if let Some(n) = known {
        let _ = MET.try_with(|m| m.borrow_mut().push(n));
        return Cow::Borrowed(n);
    }
    let mut names = NAMES.write().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = find(&names) {
        return Cow::Borrowed(n);
    }
    // Bounded: beyond a generous number of distinct names, stop keeping them.
    if names.len() >= 256 {
        return Cow::Owned(resource.to_string());
    }
    let n: &'static str = Box::leak(resource.to_string().into_boxed_str());
    names.push(n);
    Cow::Borrowed(n)
}

/// The label value for a backend answer's status code (the common ones
/// borrowed).
pub fn status_label(status: http::StatusCode) -> Label {
    const COMMON: &[&str] = &[
        "200", "201", "202", "204", "400", "401", "403", "404", "409", "412", "422", "429", "500",
        "502", "503", "504",
    ];
    let s = status.as_str();
    match COMMON.iter().find(|c| **c == s) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, starts: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(starts))
    }

    /// The per-thread cache counts into the `Metrics` it was asked by: a
    /// second one on the same thread starts from nothing, and the first
    /// keeps its counts.
    #[test]
    fn each_metrics_counts_its_own_requests() {
        let (a, b) = (Metrics::new(), Metrics::new());
        for _ in 0..3 {
            a.record_request("User", "get", 200, Duration::from_millis(2));
            a.record_backend(
                "get_user",
                status_label(http::StatusCode::OK),
                Duration::ZERO,
            );
        }
        b.record_request("User", "get", 200, Duration::from_millis(2));
        let req = r#"scim_bridge_requests_total{resource="User",operation="get",status="200"}"#;
        let be = r#"scim_bridge_backend_calls_total{operation="get_user",status="200"}"#;
        let count =
            r#"scim_bridge_request_duration_seconds_count{resource="User",operation="get"}"#;
        let (ta, tb) = (a.encode(), b.encode());
        assert_eq!(line(&ta, req), Some(&*format!("{req} 3")), "{ta}");
        assert_eq!(line(&ta, be), Some(&*format!("{be} 3")), "{ta}");
        assert_eq!(line(&ta, count), Some(&*format!("{count} 3")), "{ta}");
        assert_eq!(line(&tb, req), Some(&*format!("{req} 1")), "{tb}");
        assert_eq!(line(&tb, be), None, "{tb}");
    }

    /// Two operations at one address (one a prefix of the other) are two
    /// label sets.
    #[test]
    fn operations_sharing_an_address_count_apart() {
        static OP: &str = "getx";
        let m = Metrics::new();
        m.record_request("User", &OP[..3], 200, Duration::ZERO);
        m.record_request("User", OP, 200, Duration::ZERO);
        m.record_request("User", OP, 200, Duration::ZERO);
        let text = m.encode();
        for (op, n) in [("get", 1), ("getx", 2)] {
            let want = format!(
                r#"scim_bridge_requests_total{{resource="User",operation="{op}",status="200"}} {n}"#
            );
            assert!(text.lines().any(|l| l == want), "{want} in {text}");
        }
    }

    /// Beyond the cache's size, and for labels it does not keep (an
    /// uncommon status), counts still land.
    #[test]
    fn counts_beyond_the_cache_and_owned_labels_land() {
        let m = Metrics::new();
        let statuses: Vec<u16> = (200..200 + 2 * Hot::SIZE as u16).collect();
        for _ in 0..2 {
            for s in &statuses {
                m.record_request("Group", "search", *s, Duration::ZERO);
            }
            m.record_backend(
                "list_users",
                status_label(http::StatusCode::IM_A_TEAPOT),
                Duration::ZERO,
            );
        }
        let text = m.encode();
        for s in statuses {
            let want = format!(
                r#"scim_bridge_requests_total{{resource="Group",operation="search",status="{s}"}} 2"#
            );
            assert!(text.lines().any(|l| l == want), "{want} in {text}");
        }
        let teapot = r#"scim_bridge_backend_calls_total{operation="list_users",status="418"} 2"#;
        assert!(text.lines().any(|l| l == teapot), "{text}");
    }
}
