//! What carries one backend call: the real HTTP(S) transport (the
//! connection [`Pool`], rustls), or the recording transport `explain` uses,
//! which sends nothing and answers every call from a script.

use super::outgoing::OutgoingRequest;
use super::pool::Pool;
use super::{BackendError, BackendResponse};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Carries calls to a backend.
#[derive(Clone)]
pub enum Transport {
    Http(Arc<Pool>),
    /// `explain`: record calls and answer from a script instead of the network.
    Recording(Arc<Script>),
}

impl Transport {
    /// A pooled HTTP(S) transport using `tls` for `https://` backends,
    /// keeping up to `max_idle_per_host` idle connections: sized to the
    /// backend concurrency cap, so every call the cap lets through at once
    /// finds a kept-alive connection next time instead of opening one. An
    /// idle connection is not used after `idle_timeout` (and is closed by
    /// the pool's sweeper); `ZERO` keeps none. See `pool::Pool`.
    pub fn http(
        tls: rustls::ClientConfig,
        max_idle_per_host: usize,
        idle_timeout: Duration,
    ) -> Transport {
        Transport::Http(Pool::new(tls, max_idle_per_host, idle_timeout))
    }

    /// One call, its answer's body read, within `timeout` of `started`
    /// (when the call began; see `Pool::call`).
    pub async fn call(
        &self,
        req: OutgoingRequest,
        started: Instant,
        timeout: Duration,
    ) -> Result<BackendResponse, BackendError> {
        match self {
            Transport::Recording(script) => Ok(script.answer(&req)),
            // Boxed: the call's state (1 kB) is copied once, into the box,
            // instead of into each future that awaits it on the way up.
            // The pool keeps the deadline (a timer per connection).
            Transport::Http(pool) => Box::pin(pool.call(req, started, timeout)).await,
        }
    }
}

/// A backend call as `explain` shows it (secret header values masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

pub type Responder = Box<dyn Fn(&RecordedCall) -> BackendResponse + Send + Sync>;

/// Recorded calls and the function that answers them.
pub struct Script {
    pub calls: Mutex<Vec<RecordedCall>>,
    responder: Responder,
}

impl Script {
    pub fn new(responder: Responder) -> Script {
        Script {
            calls: Default::default(),
            responder,
        }
    }

    /// Records `req` (secret header values masked) and answers it.
    fn answer(&self, req: &OutgoingRequest) -> BackendResponse {
        let rec = RecordedCall {
            method: req.method.to_string(),
            url: crate::secret::mask_userinfo(&req.url()),
            headers: req
                .headers
                .iter()
                .map(|(k, v)| {
                    let shown = if v.is_sensitive() {
                        "***".to_string()
                    } else {
                        v.to_str().unwrap_or("?").to_string()
                    };
                    (k.to_string(), shown)
                })
                .collect(),
            body: req
                .body
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
        };
        let resp = (self.responder)(&rec);
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rec);
        resp
    }
}
