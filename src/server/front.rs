//! The front door of every request: the request id, the deadline, header
//! limits, load shedding and authentication, then [`routes::dispatch`]; and
//! the request's log line and metrics, labelled from its typed [`Route`].

use super::deadline::{within, DeadlineTimer};
use super::router::{Outcome, Route, Router};
use super::{audited, auth, error_response, routes, AppState, Live, Resp};
use crate::scim::error::ScimError;
use bytes::Bytes;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::time::{timeout_at, Instant};
use tracing::{info, warn};

/// A connection's hold on the state, and its requests' deadline timer.
/// Each request takes a clone of this `Arc`, whose count only the
/// connection's task writes, instead of one of the state's own, whose
/// count every request on every thread wrote.
#[derive(Clone)]
pub(super) struct ConnState(Arc<Conn>);

struct Conn {
    state: Arc<AppState>,
    deadline: DeadlineTimer,
}

impl ConnState {
    pub(super) fn new(state: Arc<AppState>) -> ConnState {
        ConnState(Arc::new(Conn {
            state,
            deadline: DeadlineTimer::default(),
        }))
    }
}

impl std::ops::Deref for ConnState {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0.state
    }
}

/// The state a request is served with, and its connection's deadline
/// timer when it has a connection.
trait RequestState: std::ops::Deref<Target = AppState> {
    fn deadline_timer(&self) -> Option<&DeadlineTimer> {
        None
    }
}

impl RequestState for ConnState {
    fn deadline_timer(&self) -> Option<&DeadlineTimer> {
        Some(&self.0.deadline)
    }
}

impl RequestState for &AppState {}

/// One request of a connection. Not an `async fn` around
/// [`handle_logged`]: that would hold its future in one of its own, copied
/// into it (1.6 kB) when first polled, and the answer moved once more.
pub(super) fn handle(
    state: ConnState,
    req: http::Request<Incoming>,
    peer: SocketAddr,
) -> impl std::future::Future<Output = Resp> + Send {
    handle_logged(state, req, Some(peer))
}

/// Serves one request without a connection (used by `explain`).
pub async fn handle_request<B>(state: &AppState, req: http::Request<B>) -> Resp
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    handle_logged(state, req, None).await
}

/// A request, its state owned (a connection's `Arc`) or borrowed.
async fn handle_logged<S, B>(state: S, mut req: http::Request<B>, peer: Option<SocketAddr>) -> Resp
where
    S: RequestState,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let timer = state.deadline_timer();
    let state: &AppState = &state;
    let started = std::time::Instant::now();
    // RFC 9112 §3.2: a request with several `Host` fields is refused (which
    // one a proxy in front acted on is unknowable; tenants are chosen by it).
    if req
        .headers()
        .get_all(http::header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        let request_id = state.request_id_of(&req);
        info!(request_id, method = %req.method(), status = 400, "request with more than one Host header");
        let mut resp = error_response(&ScimError::new(
            StatusCode::BAD_REQUEST,
            None,
            "more than one Host header",
        ));
        // The request's framing is suspect: do not read another from this connection.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        if req.method() == http::Method::HEAD {
            super::without_body(&mut resp);
        }
        AppState::tag_request_id(&mut resp, &request_id);
        return resp;
    }
    let state = match super::tenants::pick(state, &req) {
        Ok(s) => s,
        Err(picked) => {
            // Boxed: this wait would size every request's future.
            let mut answer = Box::pin(picked.answer(state, &req)).await;
            if req.method() == http::Method::HEAD {
                super::without_body(&mut answer);
            }
            return answer;
        }
    };
    let request_id = state.request_id_of(&req);
    let method = req.method().clone();
    // HEAD is GET without the body (RFC 9110 §9.3.2): served as GET, the
    // body taken out below (HTTP/2 would send it otherwise).
    let head = method == http::Method::HEAD;
    if head {
        *req.method_mut() = http::Method::GET;
    }
    state.metrics.in_flight.inc();
    let live = state.live();
    let oauth_path = live.oauth.as_ref().map(|o| o.token_path.as_str());
    let route = if oauth_path == Some(req.uri().path()) {
        // The token endpoint's slots and failure limits go by address
        // (counted as connections are: an IPv6 client by its /64). Only
        // its requests carry it: an extension costs three allocations.
        if let Some(p) = peer {
            req.extensions_mut()
                .insert(super::oauth::PeerAddr(super::conn::address_of(p)));
        }
        Route::OAuthToken
    } else {
        Router {
            base_path: &live.settings.base_path,
            plan: &live.plan,
            metrics_here: live.settings.metrics_enabled && live.settings.metrics_listen.is_none(),
        }
        .route(req.uri().path())
    };
    let stats = Arc::new(crate::backend::CallStats::default());
    let recorder = audited::recorder(state, &route, &method);
    let mut pending = Unanswered {
        state,
        live: &live,
        route: &route,
        method: &method,
        request_id: &request_id,
        peer,
        started,
        stats: &stats,
        audit: recorder
            .as_ref()
            .and_then(|r| audited::Finisher::new(state, &live, &route, &method, &request_id, r)),
        answered: false,
    };
    // Boxed: its state (1.5 kB) is copied once, into the box, not into
    // the task-local scopes and this future, and from there into the
    // connection's box of this one.
    let served = crate::backend::CALL_STATS.scope(
        stats.clone(),
        Box::pin(front_door(
            state,
            &live,
            req,
            &route,
            &request_id,
            started,
            timer,
        )),
    );
    let (outcome, result) = match &recorder {
        Some(r) => crate::audit::RECORDER.scope(r.clone(), served).await,
        None => served.await,
    };
    if let (Some(audit), Outcome::Routed(_)) = (pending.audit.take(), &outcome) {
        let (status, error) = match &result {
            Ok(r) => (r.status(), None),
            Err(e) => (e.status, Some(e.detail.as_str())),
        };
        // Unless a task making the writes goes on (it then writes the line);
        // when one made them, with its outcome.
        if let Some((audit, task_outcome)) = audit.hand_over() {
            match &task_outcome {
                Some((status, error)) => audit.write(*status, error.as_deref()).await,
                None => audit.write(status, error).await,
            }
        }
    }
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() {
                warn!(request_id, status = e.status.as_u16(), detail = %e.detail, "request failed");
            }
            error_response(&e)
        }
    };
    pending.answered = true;
    if head {
        super::without_body(&mut resp);
    }
    AppState::tag_request_id(&mut resp, &request_id);
    pending.finish(&outcome, resp.status().as_u16());
    resp
}

/// A request until it is answered. Dropped unanswered (the client closed
/// the connection, and the server dropped the request with it), it still
/// gets its log line and metrics, with status `499` (as nginx logs a
/// request its client closed), and its audit line: written at once, or by
/// the task still making its writes when that ends. Either way the
/// in-flight gauge goes down.
struct Unanswered<'a> {
    state: &'a AppState,
    live: &'a Arc<Live>,
    route: &'a Route,
    method: &'a http::Method,
    request_id: &'a str,
    peer: Option<SocketAddr>,
    started: std::time::Instant,
    stats: &'a crate::backend::CallStats,
    /// The audit line, while it is still to be written.
    audit: Option<audited::Finisher>,
    answered: bool,
}

/// The status logged for a request whose client left before the answer.
const CLIENT_CLOSED: u16 = 499;

impl Unanswered<'_> {
    /// The request's metrics and its one log line.
    fn finish(&self, outcome: &Outcome<'_>, status: u16) {
        let live = self.live;
        let labels = outcome.labels(self.method, &live.plan);
        let took = self.started.elapsed();
        if !labels.is_admin() {
            self.state
                .metrics
                .record_request(&labels.resource, labels.operation, status, took);
            if let Some(t) = &live.settings.tenant {
                self.state.metrics.record_tenant_request(
                    t,
                    &labels.resource,
                    labels.operation,
                    status,
                );
            }
        }
        let (backend_calls, backend_ms) = self.stats.snapshot();
        RequestLine {
            request_id: self.request_id,
            peer: self.peer,
            tenant: live.settings.tenant.as_deref(),
            method: self.method,
            route: &outcome.template(&live.plan),
            resource_type: &labels.resource,
            status,
            ms: took.as_millis() as u64,
            backend_calls: u64::from(backend_calls),
            backend_ms,
        }
        .log();
    }
}

/// The line logged for every request.
struct RequestLine<'a> {
    request_id: &'a str,
    peer: Option<SocketAddr>,
    tenant: Option<&'a str>,
    method: &'a http::Method,
    route: &'a str,
    resource_type: &'a str,
    status: u16,
    ms: u64,
    backend_calls: u64,
    backend_ms: u64,
}

impl RequestLine<'_> {
    fn log(&self) {
        use crate::logging::{offer_line, Offered, PlainLine};
        // Not rendered for nothing when the level is off (the fields of
        // `info!` are only evaluated when it is on).
        let on = tracing::enabled!(tracing::Level::INFO);
        let fill = |l: &mut PlainLine| self.fill(l);
        match offer_line(module_path!(), "request", on, &fill) {
            Offered::Done => {}
            // Inside a span: the same text, as the event's one field.
            Offered::AsEvent => {
                let mut l = PlainLine::new("request");
                fill(&mut l);
                info!(plain_line = l.as_str());
            }
            Offered::AsFields => self.log_fields(),
        }
    }

    /// As separate fields (`json` lines, and `pretty` ones in colour).
    fn log_fields(&self) {
        info!(
            request_id = self.request_id,
            peer = %Peer(self.peer),
            tenant = self.tenant,
            method = %self.method,
            route = self.route,
            resource_type = %self.resource_type,
            status = self.status,
            ms = self.ms,
            backend_calls = self.backend_calls,
            backend_ms = self.backend_ms,
            "request"
        );
    }

    /// The same text as [`Self::log_fields`]'s fields: a `pretty` line
    /// without colours.
    fn fill(&self, l: &mut crate::logging::PlainLine) {
        l.text("request_id", self.request_id);
        l.display_with("peer", |w| Peer(self.peer).write_to(w));
        if let Some(t) = self.tenant {
            l.text("tenant", t);
        }
        l.display("method", self.method.as_str());
        l.text("route", self.route);
        l.display("resource_type", self.resource_type);
        l.number("status", u64::from(self.status));
        l.number("ms", self.ms);
        l.number("backend_calls", self.backend_calls);
        l.number("backend_ms", self.backend_ms);
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        self.state.metrics.in_flight.dec();
        if self.answered {
            return;
        }
        // Only a request that authenticated is a write worth a line: one
        // dropped before (junk credentials, a client gone) changed nothing.
        let audit = self.audit.take().filter(audited::Finisher::authenticated);
        if let Some((audit, task_outcome)) = audit.and_then(audited::Finisher::hand_over) {
            match task_outcome {
                Some((status, error)) => audit.write_now(status, error.as_deref()),
                None => audit.write_now(
                    StatusCode::from_u16(CLIENT_CLOSED).unwrap_or(StatusCode::BAD_REQUEST),
                    Some("the connection closed before the answer (the client left, or the server stopped)"),
                ),
            }
        }
        self.finish(&Outcome::Routed(self.route), CLIENT_CLOSED);
    }
}

/// The peer address in the log line, written straight into the line
/// (empty without a connection).
struct Peer(Option<SocketAddr>);

impl Peer {
    /// What `SocketAddrV4`'s Display writes, without its padding support
    /// (a fifth of the log line's formatting) and without `fmt` at all for
    /// the plain line; an IPv6 address through its Display.
    #[inline]
    fn write_to<W: std::fmt::Write>(&self, w: &mut W) -> std::fmt::Result {
        match self.0 {
            Some(SocketAddr::V4(a)) => {
                let mut n = itoa::Buffer::new();
                for (i, octet) in a.ip().octets().into_iter().enumerate() {
                    if i > 0 {
                        w.write_char('.')?;
                    }
                    w.write_str(n.format(octet))?;
                }
                w.write_char(':')?;
                w.write_str(n.format(a.port()))
            }
            Some(p) => write!(w, "{p}"),
            None => Ok(()),
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_to(f)
    }
}

fn too_long() -> ScimError {
    ScimError::new(
        StatusCode::GATEWAY_TIMEOUT,
        None,
        "the request took too long",
    )
}

/// Health checks and paths outside the base path are answered at once;
/// `/readyz` and `/metrics` after looking at the token; every SCIM path passes the header limits, a concurrency permit
/// and authentication first. All within `server.request_timeout_ms` of
/// `started`.
async fn front_door<'r, B>(
    state: &AppState,
    live: &Live,
    req: Request<B>,
    route: &'r Route,
    request_id: &str,
    started: std::time::Instant,
    timer: Option<&DeadlineTimer>,
) -> (Outcome<'r>, Result<Resp, ScimError>)
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    // Counted from the request's start: the clock is read once (each read
    // is about 25 ns here; docs/performance.md, twenty-second round).
    let deadline = Instant::from_std(started) + live.settings.request_timeout;
    // On this (internet-facing) listener `/metrics` needs the bearer token
    // and `/readyz` shows its details only with it; the admin listener
    // (`[metrics] listen`) serves both without. Exempt from the concurrency
    // cap like the health check, so monitoring works under load.
    if matches!(route, Route::Ready | Route::Metrics) {
        if req.method() != http::Method::GET {
            return (
                Outcome::Routed(route),
                Err(routes::method_not_allowed("GET, HEAD")),
            );
        }
        let authorized = timeout_at(deadline, auth::authorize(live, &req)).await;
        let ok = matches!(authorized, Ok(Ok(_)));
        if ok {
            trust_connection(&req);
        }
        return match route {
            Route::Ready => (
                Outcome::Routed(route),
                Ok(super::probe::readyz(state, live, ok)),
            ),
            _ if ok => (
                Outcome::Routed(route),
                Ok(super::admin::metrics_response(&state.metrics)),
            ),
            _ => match authorized {
                Ok(Err(e)) => (Outcome::Unauthorized, Err(e)),
                _ => (Outcome::Unrouted, Err(too_long())),
            },
        };
    }
    // With tenants, a path outside a tenant's base path is answered only
    // after authentication: unauthenticated, it gets the same answer as a
    // tenant that does not exist ([`super::tenants::unauthorized`]).
    let open = match route {
        Route::Health => true,
        Route::OutsideBase => state.tenant.is_none(),
        _ => false,
    };
    // Held until the answer is ready; health checks and metrics are exempt.
    // Taken only once the request is authenticated (a JWT may wait for its
    // key set), and the token endpoint, open to all, has a pool of its own:
    // requests without credentials can never hold the SCIM permits.
    let (mut _permit, mut _token_slot) = (None, None);
    if !open {
        if let Err(e) = super::headers::check_headers(live, &req) {
            return (Outcome::Unrouted, Err(e));
        }
        let overloaded = || {
            let e = ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "too many concurrent requests; retry later",
            )
            .with_retry_after(Some(1));
            (Outcome::Overloaded, Err(e))
        };
        if *route == Route::OAuthToken {
            let peer = req
                .extensions()
                .get::<super::oauth::PeerAddr>()
                .map(|p| p.0);
            let Some(slot) = state.token_slots.take(peer) else {
                return overloaded();
            };
            _token_slot = Some(slot);
        } else {
            // A timeout (and the verification's future) only for a JWT:
            // a static token is answered at once.
            let authorized = match auth::check(live, &req) {
                auth::Checked::Done(answer) => Ok(answer),
                auth::Checked::VerifyJwt(v, t) => {
                    timeout_at(deadline, auth::verify_jwt(v, t)).await
                }
            };
            match authorized {
                Err(_) => return (Outcome::Unrouted, Err(too_long())),
                Ok(Err(_)) if state.tenant.is_some() => {
                    return (
                        Outcome::Unauthorized,
                        Err(super::tenants::unauthorized(&req)),
                    )
                }
                Ok(Err(e)) => return (Outcome::Unauthorized, Err(e)),
                Ok(Ok(who)) => {
                    crate::audit::note_principal(&who);
                    trust_connection(&req);
                }
            }
            let Some(permit) = state.concurrency.try_take() else {
                return overloaded();
            };
            _permit = Some(permit);
            if let Some(e) = audited::refuse(state, route, req.method()) {
                return (Outcome::Routed(route), Err(e));
            }
        }
    }
    // Boxed (1.4 kB since each route boxes its own work): this future and
    // those wrapping it (the task-local scopes, the connection's) stay small
    // and are moved cheaply; with the box a GET took 0.6k instructions less
    // under callgrind than without (docs/performance.md, thirteenth round).
    let answer = within(
        timer,
        deadline,
        Box::pin(routes::dispatch(
            state, live, req, route, request_id, deadline,
        )),
    )
    .await
    .unwrap_or_else(|| Err(too_long()));
    (Outcome::Routed(route), answer)
}

/// The request authenticated: its connection no longer counts against its
/// address's `server.max_untrusted_connections_per_ip`.
fn trust_connection<B>(req: &Request<B>) {
    if let Some(t) = req.extensions().get::<super::conn::ConnTrust>() {
        t.0.trust();
    }
}

#[cfg(test)]
mod tests {
    use super::{Peer, RequestLine};
    use crate::logging::capture::{dispatch, logged, Buf, Fmt};

    /// A request line of a GET of a user (status 200, 3 ms, one backend
    /// call of 2 ms).
    fn get_line<'a>(
        request_id: &'a str,
        peer: Option<std::net::SocketAddr>,
        tenant: Option<&'a str>,
        method: &'a http::Method,
    ) -> RequestLine<'a> {
        RequestLine {
            request_id,
            peer,
            tenant,
            method,
            route: "/Users/{id}",
            resource_type: "Users",
            status: 200,
            ms: 3,
            backend_calls: 1,
            backend_ms: 2,
        }
    }

    /// A filter that looks for the request line's fields by name (a field
    /// rule) still finds them: the line keeps its fields there.
    #[test]
    fn a_filter_on_a_field_still_finds_the_request_line() {
        use crate::config::LogFormat;
        let line = get_line("sb-1", None, None, &http::Method::GET);
        for (filter, logged) in [
            ("warn,[{backend_ms}]=info", true),
            ("warn", false),
            ("info", true),
        ] {
            let buf = Buf::default();
            let out = buf.clone();
            let sub =
                crate::logging::subscriber(LogFormat::Pretty, filter, move || out.clone(), false);
            tracing::subscriber::with_default(sub, || line.log());
            let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            assert_eq!(
                text.contains(" request request_id=\"sb-1\""),
                logged,
                "{filter}: {text}"
            );
            assert!(!text.contains(crate::logging::PLAIN_LINE), "{text}");
        }
    }

    /// The request line rendered beforehand is the text its fields make,
    /// byte for byte, through tracing-subscriber's own formatter too; and
    /// it is only taken where the formatter is `PlainFields`.
    #[test]
    fn the_plain_request_line_is_the_line_its_fields_make() {
        let v6 = "[2001:db8::1]:443".parse().unwrap();
        let method = http::Method::from_bytes(b"PROPFIND").unwrap();
        let lines = [
            (
                "sb-1f-7",
                Some("127.0.0.1:5000".parse().unwrap()),
                None,
                &http::Method::GET,
            ),
            (
                "with \"quote\" \\ \u{e9}",
                Some(v6),
                Some("acme"),
                &http::Method::PATCH,
            ),
            ("plain", None, Some("t\"x"), &method),
        ];
        for (request_id, peer, tenant, method) in lines {
            let line = get_line(request_id, peer, tenant, method);
            // `log` takes the plain line under `PlainFields` (below).
            let plain = logged(Fmt::Plain, || line.log());
            assert!(plain.contains(" request request_id="), "{plain}");
            assert_eq!(plain, logged(Fmt::Plain, || line.log_fields()));
            assert_eq!(plain, logged(Fmt::Default, || line.log_fields()));
            // The path is taken where it can be, and only there.
            for (f, plain) in [
                (Fmt::Plain, true),
                (Fmt::Default, false),
                (Fmt::Json, false),
            ] {
                let d = dispatch(f, &Buf::default());
                let offered = tracing::dispatcher::with_default(&d, || {
                    crate::logging::offer_line("t", "m", false, &|_| {})
                });
                assert_eq!(offered != crate::logging::Offered::AsFields, plain);
            }
            let json = logged(Fmt::Json, || line.log());
            assert!(json.contains(r#""backend_calls":1"#), "{json}");
            for f in [Fmt::Json, Fmt::Colours, Fmt::Default] {
                let text = logged(f, || line.log());
                assert!(!text.contains(crate::logging::PLAIN_LINE), "{text}");
                assert!(text.contains("backend_ms"), "{text}");
            }
        }
    }

    /// A field written as it is that holds a control character: the
    /// direct path's line is the fields' line with the character escaped
    /// (the line as one message, as before it was written directly).
    #[test]
    fn a_control_character_in_a_plain_field_is_escaped() {
        let mut line = get_line("sb-2", None, None, &http::Method::GET);
        line.resource_type = "Us\u{7}ers\u{1b}[2J";
        let plain = logged(Fmt::Plain, || line.log());
        assert!(
            plain.contains(" resource_type=Us\\x07ers\\x1b[2J "),
            "{plain}"
        );
        let fields = logged(Fmt::Plain, || line.log_fields());
        assert_eq!(
            plain,
            fields.replace('\u{7}', "\\x07").replace('\u{1b}', "\\x1b")
        );
    }

    #[test]
    fn peer_is_written_as_the_socket_address() {
        for addr in [
            "127.0.0.1:8443",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:443",
            "[fe80::1%2]:80",
        ] {
            let a: std::net::SocketAddr = addr.parse().unwrap();
            assert_eq!(Peer(Some(a)).to_string(), a.to_string());
        }
        assert_eq!(Peer(None).to_string(), "");
    }
}
