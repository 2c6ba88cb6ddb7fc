//! Several tenants in one process (`[[tenants]]`, see
//! [`crate::config::tenants`]). Each tenant is an [`AppState`] of its own:
//! its configuration that reloads on its own, reload status, backend probe,
//! write locks, OAuth limiter and backend client (with its caps). The
//! process's metrics registry, audit sink and request permits are shared.
//! The front door picks the tenant (`pick`) before anything else.

use super::{auth, error_response, json_response, probe, reload, AppState, Live, Resp};
use crate::config::tenants::{TenantRef, TenantSelector};
use crate::config::ConfigError;
use crate::config::Settings;
use crate::load::{LoadError, LoadedTenant};
use crate::scim::error::ScimError;
use http::{Request, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::{Arc, OnceLock, Weak};
use tracing::Instrument;

/// What a tenant's state keeps to reload itself.
pub struct TenantOf {
    pub tenant: TenantRef,
    /// The main settings as read at start (the per-process values a
    /// tenant's reload applies; changing them needs a restart anyway).
    pub main: Settings,
    /// Every tenant of the process (this one included), set once all exist.
    peers: Arc<OnceLock<Vec<Weak<AppState>>>>,
}

impl TenantOf {
    /// A reload's new settings must not share a credential with another
    /// tenant's running ones, nor with the operators' tokens.
    pub(super) fn check_peers(&self, new: &Settings) -> Result<(), LoadError> {
        let mut clash = None;
        if crate::load::shared_credential(new, &self.main) == Some("auth.bearer_tokens") {
            clash = Some(("auth.bearer_tokens", "the main settings file".to_string()));
        }
        for peer in self
            .peers
            .get()
            .into_iter()
            .flatten()
            .filter_map(Weak::upgrade)
        {
            let Some(other) = peer.tenant().filter(|o| o.name != self.tenant.name) else {
                continue;
            };
            if let Some(key) = crate::load::shared_credential(new, &peer.live().settings) {
                clash = Some((key, format!("tenant {:?}", other.name)));
            }
        }
        match clash {
            None => Ok(()),
            Some((key, whom)) => Err(LoadError::Settings(ConfigError::Invalid {
                file: self.tenant.settings.display().to_string(),
                key: key.into(),
                message: format!("{whom} has the same one: each tenant needs its own credentials"),
            })),
        }
    }
}

impl AppState {
    /// Adds the tenants `loaded` (after [`AppState::with_env`]): each gets
    /// its own state over the process's metrics, audit sink and permits.
    pub fn with_tenants(mut self, loaded: Vec<LoadedTenant>) -> AppState {
        let main = self.live().settings.clone();
        let peers = Arc::new(OnceLock::new());
        for t in loaded {
            let stamps = reload::loaded_stamps(&t.settings);
            let live =
                Live::with_stamps(t.settings, t.plan, stamps, Some(self.metrics.clone()), None);
            let mut s = AppState::from_live(live);
            s.metrics = self.metrics.clone();
            s.env = self.env.clone();
            s.audit = self.audit.clone();
            s.concurrency = self.concurrency.clone();
            s.token_slots = self.token_slots.clone();
            s.ongoing = self.ongoing.clone();
            s.tenant = Some(Arc::new(TenantOf {
                tenant: t.tenant,
                main: main.clone(),
                peers: peers.clone(),
            }));
            self.tenants.push(Arc::new(s));
        }
        let _ = peers.set(self.tenants.iter().map(Arc::downgrade).collect());
        self
    }

    /// The tenants of this process (empty: the single-tenant settings serve).
    pub fn tenants(&self) -> &[Arc<AppState>] {
        &self.tenants
    }

    /// The tenant this state serves (`None`: the process's own state).
    pub fn tenant(&self) -> Option<&TenantRef> {
        self.tenant.as_ref().map(|t| &t.tenant)
    }
}

/// The tenant's name as a label.
fn name(t: &AppState) -> &str {
    t.tenant().map_or("", |t| t.name.as_str())
}

/// The request's host name, port removed: the authority of the request
/// target when it has one (an absolute-form HTTP/1.1 target, where RFC 9112
/// §3.2.2 says to ignore `Host`; HTTP/2's `:authority`), else `Host`.
/// (Several `Host` fields were refused before: [`super::front`].)
fn host_of<B>(req: &Request<B>) -> Option<&str> {
    if let Some(a) = req.uri().authority() {
        return Some(a.host());
    }
    let h = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())?;
    Some(match h.rsplit_once(':') {
        Some((name, port)) if !name.contains(']') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => h,
    })
}

/// The state that serves `req`: the process's own without tenants; with
/// tenants the process's for `/healthz`, `/metrics` and `/readyz` (whatever
/// the host), else the one its host name or path prefix selects. `Err`: the
/// answer itself (`/readyz`, or for a request no tenant serves the answer a
/// tenant gives a request without valid credentials, [`unauthorized`]: an
/// unauthenticated client cannot tell which tenants exist).
///
/// Not `async` itself: only `/readyz` waits (for a token's check), and a
/// wait here would size every request's future for it (870 bytes, copied
/// with the future into the connection's slot on every request).
pub(super) fn pick<'a, B>(state: &'a AppState, req: &Request<B>) -> Result<&'a AppState, Picked> {
    if state.tenants.is_empty() {
        return Ok(state);
    }
    let path = req.uri().path();
    match path {
        // The main file's bearer tokens (the operators') open `/metrics`.
        "/healthz" | "/metrics" => return Ok(state),
        "/readyz" => return Err(Picked::Readyz),
        _ => {}
    }
    if let Some(host) = host_of(req) {
        let by_host = state.tenants.iter().find(|t| {
            matches!(t.tenant().map(|t| &t.selector),
                Some(TenantSelector::Host(h)) if h.eq_ignore_ascii_case(host))
        });
        if let Some(t) = by_host {
            return Ok(t);
        }
    }
    let by_path = state.tenants.iter().find(|t| {
        matches!(t.tenant().map(|t| &t.selector),
            Some(TenantSelector::PathPrefix(p)) if path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
    });
    if let Some(t) = by_path {
        return Ok(t);
    }
    // What a tenant answers a request without valid credentials: the
    // header limits first (per process, so the same everywhere), then 401.
    let live = state.live();
    let e = super::headers::check_headers(&live, req)
        .err()
        .unwrap_or_else(|| unauthorized(req));
    let request_id = state.request_id_of(req);
    tracing::info!(request_id, method = %req.method(), status = e.status.as_u16(), "request for no tenant");
    let mut resp = error_response(&e);
    AppState::tag_request_id(&mut resp, &request_id);
    Err(Picked::Answer(Box::new(resp)))
}

/// A request [`pick`] serves without a tenant.
pub(super) enum Picked {
    /// This answer.
    Answer(Box<Resp>),
    /// The process's `/readyz` ([`readyz`]).
    Readyz,
}

impl Picked {
    /// The answer to `req`.
    pub(super) async fn answer<B>(self, state: &AppState, req: &Request<B>) -> Resp {
        match self {
            Picked::Answer(r) => *r,
            Picked::Readyz => readyz(state, req).await,
        }
    }
}

/// With tenants, the one answer to a request that no tenant authenticates,
/// whether a tenant is there or not, whatever the path and the reason
/// (no credential, another tenant's, a refused JWT): a function of the
/// request alone, so that it tells nothing about the tenants. (The reason
/// is logged.)
pub(super) fn unauthorized<B>(req: &Request<B>) -> ScimError {
    const DETAIL: &str = "missing or invalid bearer token";
    if req.headers().contains_key(http::header::AUTHORIZATION) {
        ScimError::invalid_token(DETAIL)
    } else {
        ScimError::new(StatusCode::UNAUTHORIZED, None, DETAIL)
    }
}

/// `/readyz` of the process with tenants: without a token only `status`,
/// ready while at least one tenant is (one tenant's backend outage must not
/// take the process, and so the other tenants, out of rotation); with a
/// tenant's credential that tenant's details, and no other tenant's; with
/// one of the main file's bearer tokens (the operators') every tenant's.
async fn readyz<B>(state: &AppState, req: &Request<B>) -> Resp {
    if req.headers().contains_key(http::header::AUTHORIZATION) {
        if auth::authorize(&state.live(), req).await.is_ok() {
            return admin_readyz(state);
        }
        for t in &state.tenants {
            let live = t.live();
            if auth::authorize(&live, req).await.is_ok() {
                let (status, mut body) = probe::readyz_body(t, &live);
                body["tenant"] = name(t).into();
                return json_response(status, &body);
            }
        }
    }
    let ready = state
        .tenants
        .iter()
        .any(|t| probe::readyz_body(t, &t.live()).0 == StatusCode::OK);
    summary(ready, None)
}

fn summary(ready: bool, tenants: Option<Map<String, Value>>) -> Resp {
    let (status, text) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    let mut body = json!({ "status": text });
    if let Some(t) = tenants {
        body["tenants"] = Value::Object(t);
    }
    json_response(status, &body)
}

/// The admin listener's `/readyz`: every tenant's details by name.
pub(super) fn admin_readyz(state: &AppState) -> Resp {
    if state.tenants.is_empty() {
        return probe::readyz(state, &state.live(), true);
    }
    let mut all = Map::new();
    let mut ready = false;
    for t in &state.tenants {
        let (status, body) = probe::readyz_body(t, &t.live());
        ready |= status == StatusCode::OK;
        all.insert(name(t).to_string(), body);
    }
    summary(ready, Some(all))
}

/// Each tenant's file watcher (reloads on its own; SIGHUP reaches every
/// watcher) and backend probe, their log lines labelled with the tenant.
pub(super) fn spawn_tasks(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for t in &state.tenants {
        let span = tracing::info_span!("tenant", tenant = %name(t));
        tasks.push(tokio::spawn(
            reload::watch_config(t.clone()).instrument(span.clone()),
        ));
        tasks.push(tokio::spawn(
            probe::probe_backend(t.clone()).instrument(span),
        ));
    }
    tasks
}
