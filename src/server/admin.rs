//! The separate admin listener (`metrics.listen`): `/metrics`, `/healthz`
//! and `/readyz` with details, no SCIM and no token.

use super::{conn, error_response, json_response, AppState, Resp};
use crate::config::defaults;
use crate::metrics::Metrics;
use crate::scim::error::ScimError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
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

/// The separate admin listener: `/metrics`, `/healthz` and `/readyz` with
/// its details, without a token (bind it to an address only operators
/// reach). Its own connection cap ([`defaults::ADMIN_MAX_CONNECTIONS`]) and
/// the main listener's deadlines, so a flood of either listener leaves the
/// other one serving.
pub(super) async fn serve_admin(listener: TcpListener, state: Arc<AppState>, stop: conn::Stop) {
    let (builder, limits) = {
        let live = state.live();
        (
            Arc::new(conn::builder(&live.settings)),
            live.settings.connections,
        )
    };
    let cap = conn::Cap::new("admin", defaults::ADMIN_MAX_CONNECTIONS);
    loop {
        let (stream, peer) = conn::accept_with_backoff("admin", || listener.accept()).await;
        let opened = tokio::time::Instant::now();
        let Some(slot) = cap.admit(peer) else {
            continue;
        };
        let state = state.clone();
        let builder = builder.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let handler = move |req: http::Request<Incoming>| {
                let state = state.clone();
                async move {
                    let head = req.method() == http::Method::HEAD;
                    let mut r = if !head && req.method() != http::Method::GET {
                        let mut e = ScimError::new(
                            http::StatusCode::METHOD_NOT_ALLOWED,
                            None,
                            "method not allowed here; allowed: GET, HEAD",
                        );
                        e.allow = Some("GET, HEAD");
                        error_response(&e)
                    } else {
                        match req.uri().path() {
                            "/metrics" => metrics_response(&state.metrics),
                            "/healthz" => health_response(),
                            "/readyz" => super::tenants::admin_readyz(&state),
                            _ => error_response(&ScimError::not_found("not found")),
                        }
                    };
                    // HEAD: the GET's answer without its body (HTTP/2 would send it).
                    if head {
                        super::without_body(&mut r);
                    }
                    r
                }
            };
            conn::serve(&builder, stream, peer, opened, limits, stop, handler).await;
        });
    }
}
