//! Readiness: the periodic backend probe and `/readyz`, which answers from
//! the probe's last result and never waits for one.

use super::reload::WATCH_INTERVAL;
use super::{json_response, AppState, Live, Resp};
use http::StatusCode;
use std::sync::Arc;
use tracing::{debug, info, warn};

/// What the last backend probe found.
#[derive(Debug, Clone, Default)]
pub enum ProbeStatus {
    /// No probe has finished yet.
    #[default]
    Pending,
    Ok,
    /// The backend answered `429` (or its `Retry-After` pause is still on):
    /// it is up and answering, so the bridge stays ready; the detail says so.
    RateLimited(String),
    /// A short reason, without secrets (a SCIM error detail).
    Failed(String),
}

impl ProbeStatus {
    /// The outcome of one probe call. A `429` (from the backend, or the
    /// bridge's refusal while the backend's pause lasts) is a backend that
    /// answers: not a reason to leave the load balancer, which would turn
    /// the bridge's `429` + `Retry-After` into connection errors for every
    /// client exactly when the backend is busy.
    fn from_probe(outcome: Result<(), crate::scim::error::ScimError>) -> ProbeStatus {
        match outcome {
            Ok(()) => ProbeStatus::Ok,
            Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
                let mut reason = "rate limiting".to_string();
                if let Some(s) = e.retry_after {
                    reason.push_str(&format!(" (calls paused for {s} s)"));
                }
                ProbeStatus::RateLimited(reason)
            }
            Err(e) => ProbeStatus::Failed(e.detail.chars().take(200).collect()),
        }
    }
}

/// Every `backend.probe_interval_ms`, calls the first resource type's list
/// operation for one item, authenticated like any request, and keeps the
/// outcome for `/readyz` (which never waits for a probe).
pub(super) async fn probe_backend(state: Arc<AppState>) {
    loop {
        let live = state.live();
        let Some(interval) = live.settings.backend_probe_interval else {
            // Probing is off (`probe_interval_ms = 0`); a reload may turn it on.
            *state.probe.lock().unwrap_or_else(|p| p.into_inner()) = ProbeStatus::Pending;
            drop(live);
            tokio::time::sleep(WATCH_INTERVAL).await;
            continue;
        };
        let outcome = match live.plan.resources.first() {
            None => ProbeStatus::Failed("no resource types are mapped".into()),
            Some(res) => {
                let ctx = crate::service::ResourceCtx {
                    res,
                    plan: &live.plan,
                    client: &live.client,
                    write_locks: &state.write_locks,
                    ongoing: &state.ongoing,
                    settings: &live.settings,
                    base_url: "",
                    request_id: Some("readyz-probe"),
                    if_none_match: None,
                };
                ProbeStatus::from_probe(ctx.probe().await)
            }
        };
        match &outcome {
            ProbeStatus::Failed(reason) => {
                let was_ok = !matches!(
                    *state.probe.lock().unwrap_or_else(|p| p.into_inner()),
                    ProbeStatus::Failed(_)
                );
                if was_ok {
                    warn!(reason = %reason, "backend probe failed; /readyz answers 503");
                }
            }
            ProbeStatus::Ok => {
                let was_failing = matches!(
                    *state.probe.lock().unwrap_or_else(|p| p.into_inner()),
                    ProbeStatus::Failed(_)
                );
                if was_failing {
                    info!("backend probe succeeded again; /readyz answers 200");
                } else {
                    debug!("backend probe succeeded");
                }
            }
            ProbeStatus::RateLimited(reason) => {
                let was_failing = matches!(
                    *state.probe.lock().unwrap_or_else(|p| p.into_inner()),
                    ProbeStatus::Failed(_)
                );
                if was_failing {
                    info!(reason = %reason, "backend answers again (rate limiting); /readyz answers 200");
                } else {
                    debug!(reason = %reason, "backend probe met rate limiting; /readyz stays ready");
                }
            }
            ProbeStatus::Pending => {}
        }
        *state.probe.lock().unwrap_or_else(|p| p.into_inner()) = outcome;
        drop(live);
        tokio::time::sleep(interval).await;
    }
}

/// `/readyz`: from the last backend probe, never waiting for one. Without
/// `details` (the main listener without a valid token) only `status`: the
/// details name backends and failing files, which is for operators.
pub(super) fn readyz(state: &AppState, live: &Live, details: bool) -> Resp {
    let (status, mut body) = readyz_body(state, live);
    if !details {
        body = serde_json::json!({ "status": body["status"] });
    }
    json_response(status, &body)
}

/// `/readyz`'s status and every detail.
pub(super) fn readyz_body(state: &AppState, live: &Live) -> (StatusCode, serde_json::Value) {
    let st = state
        .reload_status
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let probe = state.probe.lock().map(|p| p.clone()).unwrap_or_default();
    let mut body = serde_json::json!({
        "status": "ready",
        "resourceTypes": live.plan.resources.len(),
        "reloads": st.reloads,
        "reloadFailures": st.failures,
        "lastReloadError": st.last_error,
        "restartPending": st.restart_pending,
    });
    let reason = match probe {
        _ if live.settings.backend_probe_interval.is_none() => {
            body["backend"] = "not probed (backend.probe_interval_ms = 0)".into();
            None
        }
        ProbeStatus::Ok => {
            body["backend"] = "ok".into();
            None
        }
        ProbeStatus::RateLimited(r) => {
            body["backend"] = r.into();
            None
        }
        ProbeStatus::Pending => Some("not probed yet".to_string()),
        ProbeStatus::Failed(r) => Some(r),
    };
    let reason = reason.or_else(|| {
        live.plan
            .resources
            .is_empty()
            .then(|| "no resource types are mapped".to_string())
    });
    // `[audit]`: a failing sink shows; it makes the bridge unready only when
    // writes are refused (`on_failure = "refuse_writes"`).
    let mut audit_refuses = false;
    if let Some((failing, refuse)) = super::audited::readiness(state) {
        body["audit"] = if failing { "audit sink failing" } else { "ok" }.into();
        audit_refuses = failing && refuse;
    }
    let status = match reason {
        None if audit_refuses => {
            body["status"] = "not ready".into();
            StatusCode::SERVICE_UNAVAILABLE
        }
        None => StatusCode::OK,
        Some(r) => {
            body["status"] = "not ready".into();
            body["backend"] = r.into();
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (status, body)
}
