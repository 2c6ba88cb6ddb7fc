//! The front door's side of the audit trail ([`crate::audit`]): which
//! requests are writes, refusing them while a failing sink says so, and the
//! one line written after each.

use super::router::Route;
use super::{AppState, Live};
use crate::audit::{self, Recorder, RequestFacts};
use crate::scim::error::ScimError;
use http::{Method, StatusCode};
use std::sync::Arc;

/// A write route: (resource index, operation, id from the URL).
pub(super) fn write_op<'r>(
    route: &'r Route,
    method: &Method,
) -> Option<(usize, &'static str, Option<&'r str>)> {
    match (route, method) {
        (Route::Collection(i), &Method::POST) => Some((*i, "create", None)),
        (Route::Item(i, id), m) => {
            let op = match *m {
                Method::PUT => "replace",
                Method::PATCH => "patch",
                Method::DELETE => "delete",
                _ => return None,
            };
            Some((*i, op, Some(id.as_str())))
        }
        _ => None,
    }
}

/// A recorder for this request when it is an audited write.
pub(super) fn recorder(state: &AppState, route: &Route, method: &Method) -> Option<Arc<Recorder>> {
    state.audit.as_ref()?;
    write_op(route, method).map(|_| Arc::new(Recorder::default()))
}

/// `503` for a write while the sink fails and `on_failure = "refuse_writes"`.
pub(super) fn refuse(state: &AppState, route: &Route, method: &Method) -> Option<ScimError> {
    let sink = state.audit.as_ref()?;
    write_op(route, method)?;
    if !sink.settings().refuse_writes || sink.recover() {
        return None;
    }
    state.metrics.audit_sink_failing.set(1);
    Some(
        ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "writes are refused while the audit sink is failing",
        )
        .with_retry_after(Some(30)),
    )
}

/// Writes the audit line of a finished write (off the async threads).
pub(super) async fn finish(
    state: &AppState,
    live: &Live,
    route: &Route,
    method: &Method,
    request_id: &str,
    rec: &Recorder,
    (status, error): (StatusCode, Option<&str>),
) {
    let (Some(sink), Some((i, operation, id))) = (&state.audit, write_op(route, method)) else {
        return;
    };
    let Some(resource) = live.plan.resources.get(i) else {
        return;
    };
    let mut line = audit::line(
        &RequestFacts {
            request_id,
            resource,
            operation,
            id,
            status: status.as_u16(),
            error,
        },
        &rec.snapshot(),
        sink.settings().omit_personal,
    );
    if let Some(t) = &live.settings.tenant {
        line["tenant"] = t.as_str().into();
    }
    let sink = sink.clone();
    let ok = tokio::task::spawn_blocking(move || sink.write(&line))
        .await
        .unwrap_or(false);
    state
        .metrics
        .audit_lines
        .get_or_create(&crate::metrics::ResultLabels {
            result: if ok { "written" } else { "failed" }.into(),
        })
        .inc();
    state.metrics.audit_sink_failing.set(i64::from(!ok));
}

/// `/readyz`'s view of the sink: `None` when off.
pub(super) fn readiness(state: &AppState) -> Option<(bool, bool)> {
    let sink = state.audit.as_ref()?;
    let failing = sink.failing();
    state.metrics.audit_sink_failing.set(i64::from(failing));
    Some((failing, sink.settings().refuse_writes))
}
