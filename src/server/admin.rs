//! The separate admin listener (`metrics.listen`): `/metrics` and the
//! health check only, no SCIM.

use super::{error_response, json_response, AppState, Resp};
use crate::metrics::Metrics;
use crate::scim::error::ScimError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpListener;

/// `GET /metrics`: the Prometheus text (OpenMetrics) of every metric.
pub(super) fn metrics_response(metrics: &Metrics) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(metrics.encode())));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

/// `GET /healthz`: the process is up.
pub(super) fn health_response() -> Resp {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// The separate admin listener: `/metrics` and the health checks only.
pub(super) async fn serve_admin(listener: TcpListener, state: Arc<AppState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<Incoming>| {
                let state = state.clone();
                async move {
                    let r = match req.uri().path() {
                        "/metrics" => metrics_response(&state.metrics),
                        "/healthz" => health_response(),
                        _ => error_response(&ScimError::not_found("not found")),
                    };
                    Ok::<_, std::convert::Infallible>(r)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
