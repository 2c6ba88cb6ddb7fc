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

/// Everything the audit line of one write needs, owned: the line may be
/// written after its request is gone (see [`audit::Recorder::request_done`]).
pub(super) struct Finisher {
    sink: Arc<audit::Sink>,
    metrics: Arc<crate::metrics::Metrics>,
    live: Arc<Live>,
    resource: usize,
    operation: &'static str,
    id: Option<String>,
    request_id: String,
    rec: Arc<Recorder>,
}

impl Finisher {
    /// `None` unless the request is an audited write.
    pub(super) fn new(
        state: &AppState,
        live: &Arc<Live>,
        route: &Route,
        method: &Method,
        request_id: &str,
        rec: &Arc<Recorder>,
    ) -> Option<Finisher> {
        let (resource, operation, id) = write_op(route, method)?;
        Some(Finisher {
            sink: state.audit.clone()?,
            metrics: state.metrics.clone(),
            live: live.clone(),
            resource,
            operation,
            id: id.map(str::to_string),
            request_id: request_id.to_string(),
            rec: rec.clone(),
        })
    }

    /// Writes the line (off the async threads).
    pub(super) async fn write(self, status: StatusCode, error: Option<&str>) {
        let Some(resource) = self.live.plan.resources.get(self.resource) else {
            return;
        };
        let mut line = audit::line(
            &RequestFacts {
                request_id: &self.request_id,
                resource,
                operation: self.operation,
                id: self.id.as_deref(),
                status: status.as_u16(),
                error,
            },
            &self.rec.snapshot(),
            self.sink.settings().omit_personal,
        );
        if let Some(t) = &self.live.settings.tenant {
            line["tenant"] = t.as_str().into();
        }
        let sink = self.sink.clone();
        let ok = tokio::task::spawn_blocking(move || sink.write(&line))
            .await
            .unwrap_or(false);
        self.metrics
            .audit_lines
            .get_or_create(&crate::metrics::ResultLabels {
                result: if ok { "written" } else { "failed" }.into(),
            })
            .inc();
        self.metrics.audit_sink_failing.set(i64::from(!ok));
    }

    /// [`Self::write`] in a task of its own, for a line written when the
    /// request is already gone.
    pub(super) fn spawn(self, status: StatusCode, error: Option<String>) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { self.write(status, error.as_deref()).await });
        }
    }

    /// Hands the line over to a task still making the request's writes
    /// (it writes the line when it ends, with its outcome); `Some(self)`:
    /// there is none, the caller writes it now.
    pub(super) fn hand_over(self) -> Option<Finisher> {
        let rec = self.rec.clone();
        let mut me = Some(self);
        let write_now = rec.request_done(|| match me.take() {
            Some(f) => f.boxed(),
            None => Box::new(|_, _| {}),
        });
        if write_now {
            me
        } else {
            None
        }
    }

    /// [`Self::spawn`] as the recorder's hand-over.
    pub(super) fn boxed(self) -> audit::Finish {
        Box::new(move |status, error| {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            self.spawn(status, error)
        })
    }
}

/// `/readyz`'s view of the sink: `None` when off.
pub(super) fn readiness(state: &AppState) -> Option<(bool, bool)> {
    let sink = state.audit.as_ref()?;
    let failing = sink.failing();
    state.metrics.audit_sink_failing.set(i64::from(failing));
    Some((failing, sink.settings().refuse_writes))
}
