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
    /// A shutdown waits until the line is written (it may be written by a
    /// task that outlives the request, or on the blocking pool).
    _ongoing: crate::service::OngoingToken,
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
            _ongoing: state.ongoing.token(),
        })
    }

    /// The line for `status`/`error`; `None` when the resource is gone.
    fn line(&self, status: StatusCode, error: Option<&str>) -> Option<serde_json::Value> {
        let resource = self.live.plan.resources.get(self.resource)?;
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
        Some(line)
    }

    fn counted(&self, ok: bool) {
        self.metrics
            .audit_lines
            .get_or_create(&crate::metrics::ResultLabels {
                result: if ok { "written" } else { "failed" }.into(),
            })
            .inc();
        self.metrics.audit_sink_failing.set(i64::from(!ok));
    }

    /// Writes the line (off the async threads).
    pub(super) async fn write(self, status: StatusCode, error: Option<&str>) {
        let Some(line) = self.line(status, error) else {
            return;
        };
        let sink = self.sink.clone();
        let ok = tokio::task::spawn_blocking(move || sink.write(&line))
            .await
            .unwrap_or(false);
        self.counted(ok);
    }

    /// Writes the line for a request that is already gone (from a drop, or
    /// the task that outlived it): on the blocking pool, not on an async
    /// worker (the write may `fsync`); on this thread when there is no
    /// runtime left to run it.
    pub(super) fn write_now(self, status: StatusCode, error: Option<&str>) {
        let Some(line) = self.line(status, error) else {
            return;
        };
        let write = move || {
            let ok = self.sink.write(&line);
            self.counted(ok);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(write)),
            Err(_) => write(),
        }
    }

    /// Hands the line over to a task still making the request's writes
    /// (it writes the line when it ends, with its outcome). `Some`: there
    /// is none; the caller writes the line now, with the outcome of the task
    /// that made the writes when there was one.
    #[allow(clippy::type_complexity)]
    pub(super) fn hand_over(self) -> Option<(Finisher, Option<(StatusCode, Option<String>)>)> {
        let rec = self.rec.clone();
        let mut me = Some(self);
        let outcome = rec.request_done(|| match me.take() {
            Some(f) => f.boxed(),
            None => Box::new(|_, _| {}),
        })?;
        let outcome = outcome.map(|(status, error)| {
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                error,
            )
        });
        me.map(|f| (f, outcome))
    }

    /// Whether the request authenticated.
    pub(super) fn authenticated(&self) -> bool {
        self.rec.authenticated()
    }

    /// [`Self::write_now`] as the recorder's hand-over.
    fn boxed(self) -> audit::Finish {
        Box::new(move |status, error| {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            self.write_now(status, error.as_deref())
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
