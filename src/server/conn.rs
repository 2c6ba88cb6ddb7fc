//! Connection handling shared by every listener: accepting with back-off,
//! the connection cap, and the life of one connection (first-request
//! deadline, idle timeout, HTTP/2 keep-alive, graceful shutdown).
//!
//! Nothing here knows about SCIM: a listener hands over a request handler.

use super::Resp;
use crate::config::{ConnectionLimits, Settings};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{debug, warn};

/// First pause after a failed `accept` (`EMFILE`, `ENFILE`, `ENOBUFS`, …);
/// it doubles with every further failure up to [`ACCEPT_BACKOFF_MAX`] and
/// starts over after the next success.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause between two `accept` attempts that failed.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// After a connection was asked to close (idle, or past its first-request
/// deadline), how long it may take before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Over-cap connections are logged at most this often (with a count).
const REFUSED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The next accepted item from `accept`; a failure is logged and followed
/// by a pause (exponential back-off, see [`ACCEPT_BACKOFF_MIN`]) so that a
/// persistent error such as "too many open files" never spins the CPU. One
/// log line per pause.
pub async fn accept_with_backoff<T, F, Fut>(listener: &str, mut accept: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<T>>,
{
    let mut pause = ACCEPT_BACKOFF_MIN;
    loop {
        match accept().await {
            Ok(x) => return x,
            Err(e) => {
                warn!(listener, error = %e, retry_in_ms = pause.as_millis() as u64, "accept failed; backing off");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// The connection cap of one listener: a permit per open connection.
pub(super) struct Cap {
    listener: &'static str,
    permits: Arc<Semaphore>,
    max: usize,
    /// Counts the open connections (main listener only).
    gauge: Option<Gauge>,
    refused: Option<prometheus_client::metrics::counter::Counter>,
    /// When an over-cap connection was last logged, and how many since.
    refused_log: Mutex<(Option<Instant>, u64)>,
    /// Connections per address that have not yet made an authenticated
    /// request, and how many one address may hold (`None`: no limit).
    untrusted: Option<(usize, Counts)>,
}

/// Which limit refused a connection (for its log line).
#[derive(Clone, Copy)]
enum Limit {
    /// `server.max_connections` (the listener's cap).
    Total,
    /// `server.max_untrusted_connections_per_ip`, with its value.
    PerAddress(usize),
}

/// Untrusted connections per address.
type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One open connection's place under the cap; freed on drop.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    gauge: Option<Gauge>,
    untrusted: Option<Arc<Untrusted>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.dec();
        }
    }
}

impl Slot {
    /// The handle a request uses to say its connection authenticated
    /// (`None`: this listener does not count untrusted connections).
    pub(super) fn untrusted(&self) -> Option<Arc<Untrusted>> {
        self.untrusted.clone()
    }
}

/// A connection counted against its address until it makes a request with
/// a valid token ([`Untrusted::trust`]) or closes.
pub struct Untrusted {
    ip: IpAddr,
    counts: Counts,
    trusted: AtomicBool,
}

impl Untrusted {
    /// The connection made an authenticated request: it no longer counts.
    pub fn trust(&self) {
        if !self.trusted.swap(true, Ordering::Relaxed) {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = counts.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&self.ip);
                }
            }
        }
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Relaxed)
    }
}

impl Drop for Untrusted {
    fn drop(&mut self) {
        self.trust();
    }
}

/// The address a connection counts against: its IPv4 address (an
/// IPv4-mapped IPv6 one included), or the /64 of an IPv6 one (one host
/// commonly holds a whole /64, so counting per /128 would not bound it).
pub(super) fn address_of(peer: SocketAddr) -> IpAddr {
    match peer.ip().to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
        v4 => v4,
    }
}

/// What a request carries (an extension) while its connection is untrusted.
#[derive(Clone)]
pub struct ConnTrust(pub Arc<Untrusted>);

impl Cap {
    pub(super) fn new(listener: &'static str, max: usize) -> Cap {
        Cap {
            listener,
            permits: Arc::new(Semaphore::new(max)),
            max,
            gauge: None,
            refused: None,
            refused_log: Mutex::new((None, 0)),
            untrusted: None,
        }
    }

    /// At most `max` connections from one address until each makes an
    /// authenticated request (0: no limit).
    pub(super) fn with_untrusted_per_ip(mut self, max: usize) -> Cap {
        self.untrusted = (max > 0).then(|| (max, Arc::default()));
        self
    }

    pub(super) fn with_metrics(mut self, m: &crate::metrics::Metrics) -> Cap {
        self.gauge = Some(m.connections_open.clone());
        self.refused = Some(m.connections_refused.clone());
        self
    }

    /// A slot for a new connection, or `None` (counted, logged at most every
    /// 10 s) when the cap is reached: the caller closes the connection.
    pub(super) fn admit(&self, peer: SocketAddr) -> Option<Slot> {
        let untrusted = match &self.untrusted {
            None => None,
            Some((max, counts)) => {
                let ip = address_of(peer);
                let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
                let n = map.entry(ip).or_insert(0);
                if *n >= *max {
                    drop(map);
                    self.refuse(peer, Limit::PerAddress(*max));
                    return None;
                }
                *n += 1;
                Some(Arc::new(Untrusted {
                    ip,
                    counts: counts.clone(),
                    trusted: AtomicBool::new(false),
                }))
            }
        };
        match self.permits.clone().try_acquire_owned() {
            Ok(p) => {
                if let Some(g) = &self.gauge {
                    g.inc();
                }
                Some(Slot {
                    _permit: p,
                    gauge: self.gauge.clone(),
                    untrusted,
                })
            }
            Err(_) => {
                self.refuse(peer, Limit::Total);
                None
            }
        }
    }

    /// Counts a refused connection; logged at most every 10 s (with a count),
    /// naming the limit that was reached and its value.
    fn refuse(&self, peer: SocketAddr, limit: Limit) {
        if let Some(c) = &self.refused {
            c.inc();
        }
        let mut log = self.refused_log.lock().unwrap_or_else(|p| p.into_inner());
        log.1 += 1;
        if log.0.is_none_or(|t| t.elapsed() >= REFUSED_LOG_INTERVAL) {
            match limit {
                Limit::Total => warn!(
                    listener = self.listener,
                    %peer,
                    max_connections = self.max,
                    refused = log.1,
                    "connection limit reached; closing new connections at once"
                ),
                Limit::PerAddress(max) => warn!(
                    listener = self.listener,
                    %peer,
                    max_untrusted_connections_per_ip = max,
                    refused = log.1,
                    "connections without a token from one address reached server.max_untrusted_connections_per_ip; closing new ones at once"
                ),
            }
            *log = (Some(Instant::now()), 0);
        }
    }

    /// Waits until every connection has closed, at most until `deadline`;
    /// `false` when some were still open.
    pub(super) async fn drained(&self, deadline: Instant) -> bool {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        tokio::time::timeout_at(deadline, self.permits.acquire_many(all))
            .await
            .is_ok()
    }
}

/// The protocol builder of a listener: HTTP/1 and HTTP/2 (h2c or ALPN),
/// header limits, HTTP/2 keep-alive pings.
pub(super) fn builder(s: &Settings) -> auto::Builder<TokioExecutor> {
    // Header limits: `front` answers a SCIM 431 beyond the configured ones;
    // hyper's hard limits, larger, answer a bare 431 (or close an HTTP/2
    // stream). Changes need a restart.
    //
    // HTTP/1 has no timer: its header read timeout is the connection
    // watchdog's (`Activity::expiry`). hyper's arms a timer for every
    // request head (an allocation, a timer wheel insert and removal, under
    // the wheel's lock); the watchdog's sleeps through requests.
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1().max_buf_size((2 * s.max_header_bytes).max(8192));
    if let Some(n) = http1_max_headers(s.max_headers) {
        b.http1().max_headers(n);
    }
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(2 * s.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(s.connections.http2_keepalive_interval);
    if let Some(i) = s.connections.http2_keepalive_interval {
        b.http2().keep_alive_timeout(i);
    }
    b
}

/// hyper parses up to 100 header fields on the stack; a larger limit makes
/// it allocate two arrays of that many fields (4 KiB each at 128) for every
/// request, the largest allocations of a request, and any limit it is given
/// (100 too) makes it fill both arrays for every request (1.7k instructions).
/// So below 100 none is given (hyper's own is 100, above the configured
/// one), and beyond it twice the configured one.
fn http1_max_headers(configured: usize) -> Option<usize> {
    const HYPER_INLINE: usize = 100;
    (configured >= HYPER_INLINE).then_some(2 * configured)
}

/// What one connection is doing, for its watchdog. The watchdog is not told
/// when a request starts or ends: when its timer fires it reads this and,
/// if the connection was busy since, sleeps again until the new deadline.
/// (Waking it at the end of each request woke the connection's own task
/// while it ran, and tokio answers such a wake by waking a second worker
/// thread: one futex call and a thread wake-up per request.)
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds after `opened` of the last request end (stored before
    /// `in_flight` goes down, so an idle connection with requests has one).
    last_ms: AtomicU64,
    /// A request came over HTTP/2: no header read timeout.
    http2: AtomicBool,
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    /// A request ended now.
    fn touch(&self) {
        self.last_ms
            .store(self.opened.elapsed().as_millis() as u64, Ordering::SeqCst);
    }

    fn begin(self: &Arc<Self>, version: http::Version) -> InFlight {
        if version == http::Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.requests.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// When the connection is to be closed if nothing happens; `None` while
    /// a request is in flight (its own deadline bounds it). Over HTTP/1 the
    /// next request's head is being waited for from the end of the last
    /// one (hyper reads it then): it must be whole within the header read
    /// timeout, the first one within that and the first-request timeout.
    fn expiry(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = self.opened + Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        Some(if self.requests.load(Ordering::SeqCst) == 0 {
            self.opened + limits.first_request_timeout.min(limits.header_read_timeout)
        } else if self.http2.load(Ordering::Relaxed) {
            since + limits.idle_timeout
        } else {
            since + http1_idle(limits)
        })
    }
}

/// How long an HTTP/1 connection waits for its next request head: the
/// header read timeout runs while it waits, so the shorter of that and the
/// idle timeout. No request end sets an earlier deadline than this.
fn http1_idle(limits: &ConnectionLimits) -> Duration {
    limits.idle_timeout.min(limits.header_read_timeout)
}

/// The shutdown signal every connection watches: `Some(deadline)` once a
/// shutdown started, with the moment its connections must have closed
/// (one deadline for all, whatever the settings were at their accept).
pub(super) type Stop = watch::Receiver<Option<Instant>>;

/// Serves one connection until it ends, is idle too long, misses its
/// first-request deadline (counted from `opened`, the accept), or `stop`
/// says a shutdown started (graceful: in-flight requests finish until its
/// deadline).
#[allow(clippy::too_many_arguments)]
pub(super) async fn serve<I, H, Fut>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    peer: SocketAddr,
    opened: Instant,
    limits: ConnectionLimits,
    mut stop: Stop,
    handler: H,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(http::Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    let activity = Arc::new(Activity {
        opened,
        in_flight: AtomicUsize::new(0),
        requests: AtomicU64::new(0),
        last_ms: AtomicU64::new(0),
        http2: AtomicBool::new(false),
    });
    let handler = Arc::new(handler);
    let act = activity.clone();
    let svc = service_fn(move |req| {
        let guard = act.begin(req.version());
        // Boxed: the request's future is kilobytes (the backend call's
        // state included) and hyper moves the service future several times
        // per request; a box is moved as a pointer.
        let answer = Box::pin(handler(req));
        async move {
            let r = answer.await;
            drop(guard);
            Ok::<_, std::convert::Infallible>(r)
        }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let mut closing: Option<Instant> = None;
    let mut stopping = stop.borrow().is_some();
    if stopping {
        return;
    }
    // A stop signalled before this connection's loop watched for it.
    let stop_seen = stop.clone();
    loop {
        // Never later than the shortest timeout from now: a request that
        // starts and ends meanwhile moves the deadline, and the watchdog,
        // not told, must not sleep past it (the first-request deadline may
        // be later).
        let wake = closing.unwrap_or_else(|| {
            let idle = Instant::now() + http1_idle(&limits);
            activity.expiry(&limits).map_or(idle, |t| t.min(idle))
        });
        let sleep = tokio::time::sleep_until(wake);
        tokio::pin!(sleep);
        let stopped = stop.wait_for(Option::is_some);
        tokio::pin!(stopped);
        // The connection is polled whenever the task wakes (two or three
        // times a request); the watchdog's sleep and the stop signal only
        // when they may be ready. Once polled, each holds the task's waker
        // and wakes it when it fires, so until then a glance (the sleep's
        // state, the signal's version) is all a wake-up needs, not a poll
        // of each (about 700 instructions a request, with `select!`).
        // Both are polled outside the task's budget, so a first poll always
        // registers them (a `Sleep` polled with the budget spent only asks
        // to be polled again, and would not be).
        let mut watching = false;
        let event = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = conn.as_mut().poll(cx) {
                return Poll::Ready(Event::Ended(r));
            }
            if (!watching || sleep.is_elapsed())
                && Pin::new(&mut tokio::task::unconstrained(sleep.as_mut()))
                    .poll(cx)
                    .is_ready()
            {
                return Poll::Ready(Event::Watchdog);
            }
            if !stopping && (!watching || stop_seen.has_changed().unwrap_or(true)) {
                let polled = Pin::new(&mut tokio::task::unconstrained(stopped.as_mut())).poll(cx);
                if let Poll::Ready(d) = polled {
                    return Poll::Ready(Event::Stop(d.ok().and_then(|d| *d)));
                }
            }
            watching = true;
            Poll::Pending
        })
        .await;
        match event {
            Event::Ended(r) => {
                if let Err(e) = r {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            Event::Watchdog => {
                if closing.is_some() {
                    debug!(%peer, "connection did not close in time; dropped");
                    return;
                }
                if activity
                    .expiry(&limits)
                    .is_some_and(|t| t <= Instant::now())
                {
                    let first = activity.requests.load(Ordering::SeqCst) == 0;
                    debug!(%peer, first_request = first, "closing a connection: {}",
                        if first { "no request within server.first_request_timeout_ms" } else { "idle for server.idle_timeout_ms" });
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + CLOSE_GRACE);
                }
            }
            Event::Stop(deadline) => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
                closing = Some(deadline.unwrap_or_else(Instant::now));
            }
        }
    }
}

/// What woke a connection's loop ([`serve`]).
enum Event<E> {
    /// The connection ended (`Err`: with an error).
    Ended(Result<(), E>),
    /// The watchdog's sleep ended.
    Watchdog,
    /// A shutdown started; its deadline, if it has one.
    Stop(Option<Instant>),
}

/// Warns at start when the process may open fewer files than the
/// connection caps need (Linux: `/proc/self/limits`).
pub(super) fn check_file_limit(connections: usize) {
    let Ok(text) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    // Each connection is one descriptor; backend connections, listeners,
    // settings and mapping files need a few dozen more.
    let needed = connections + 128;
    if let Some(soft) = soft.filter(|s| *s < needed) {
        warn!(
            open_files_limit = soft,
            needed,
            "the open-files limit is below server.max_connections plus headroom: raise it (systemd LimitNOFILE, ulimit -n) or lower server.max_connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Below hyper's inline capacity the hard limit is that capacity (no
    /// per-request allocation), always above the configured limit.
    #[test]
    fn hard_header_limit_stays_inline_when_it_can() {
        assert_eq!(http1_max_headers(64), None);
        assert_eq!(http1_max_headers(20), None);
        assert_eq!(http1_max_headers(99), None);
        assert_eq!(http1_max_headers(100), Some(200));
        assert_eq!(http1_max_headers(500), Some(1000));
        for n in 16..=1000 {
            // hyper's own limit when none is given: 100.
            assert!(http1_max_headers(n).unwrap_or(100) > n);
        }
    }

    /// A listener that always fails is retried with growing pauses, not in
    /// a busy loop: 10, 20, 40, … 640 ms, so 8 attempts in 1.5 s (fewer on
    /// a slow machine; a loop without pauses makes millions).
    #[tokio::test]
    async fn accept_errors_back_off() {
        let attempts = AtomicU32::new(0);
        let r = tokio::time::timeout(
            Duration::from_millis(1500),
            accept_with_backoff("test", || {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(std::io::Error::from_raw_os_error(24)) }
            }),
        )
        .await;
        assert!(r.is_err(), "never succeeds");
        let n = attempts.load(Ordering::SeqCst);
        assert!((1..=9).contains(&n), "{n} attempts in 1.5 s");
    }

    /// After failures, a success is returned (having paused 10 + 20 + 40 ms).
    #[tokio::test]
    async fn accept_succeeds_after_errors() {
        let attempts = AtomicU32::new(0);
        let started = Instant::now();
        let v = accept_with_backoff("test", || {
            let n = attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(std::io::Error::from_raw_os_error(24))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(v, 3);
        assert!(started.elapsed() >= Duration::from_millis(70));
    }

    #[test]
    fn the_cap_admits_up_to_its_size() {
        let cap = Cap::new("test", 2);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let a = cap.admit(peer).expect("first");
        let _b = cap.admit(peer).expect("second");
        assert!(cap.admit(peer).is_none(), "over the cap");
        drop(a);
        assert!(cap.admit(peer).is_some(), "a freed slot is reused");
    }

    #[test]
    fn one_address_holds_at_most_its_share_of_connections_without_a_token() {
        let cap = Cap::new("test", 10).with_untrusted_per_ip(2);
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        let a1 = cap.admit(a).expect("first");
        let a2 = cap.admit(a).expect("second");
        assert!(cap.admit(a).is_none(), "a third without a token");
        let _b1 = cap.admit(b).expect("another address is not affected");
        // The same address in its IPv4-mapped IPv6 form counts as the same.
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:2".parse().unwrap();
        assert!(
            cap.admit(mapped).is_none(),
            "mapped form of the same address"
        );
        // IPv6 addresses count per /64.
        let v6 = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let _c1 = cap
            .admit(v6("[2001:db8:1:2::1]:1"))
            .expect("first of the /64");
        let _c2 = cap
            .admit(v6("[2001:db8:1:2:ffff::9]:1"))
            .expect("second of the /64");
        assert!(
            cap.admit(v6("[2001:db8:1:2::abcd]:1")).is_none(),
            "third of the /64"
        );
        assert!(
            cap.admit(v6("[2001:db8:1:3::1]:1")).is_some(),
            "another /64"
        );
        // A connection that authenticated no longer counts…
        let t = a1.untrusted().unwrap();
        t.trust();
        t.trust(); // (once)
        let a3 = cap.admit(a).expect("after one authenticated");
        assert!(cap.admit(a).is_none());
        // …and neither does a closed one.
        drop(a2);
        let _a4 = cap.admit(a).expect("after one closed");
        assert!(cap.admit(a).is_none());
        // Closing a trusted connection frees nothing more.
        drop(t);
        drop(a1);
        assert!(cap.admit(a).is_none());
        drop(a3);
        assert!(cap.admit(a).is_some());
        // Off: no per-address limit.
        let open = Cap::new("test", 10).with_untrusted_per_ip(0);
        let held: Vec<_> = (0..10)
            .map(|_| open.admit(a).expect("under the cap"))
            .collect();
        assert_eq!(held.len(), 10);
    }

    /// The refusal's log line names the limit that was reached and its
    /// value: the per-address one, not `server.max_connections`.
    #[test]
    fn refusals_log_the_limit_that_was_reached() {
        use crate::logging::capture::Fmt;
        let logged = |f: &dyn Fn()| crate::logging::capture::logged(Fmt::Default, f);
        let a: SocketAddr = "192.0.2.7:1".parse().unwrap();
        let text = logged(&|| {
            let cap = Cap::new("test", 1024).with_untrusted_per_ip(2);
            let _held: Vec<_> = (0..2).map(|_| cap.admit(a).unwrap()).collect();
            assert!(cap.admit(a).is_none());
        });
        assert!(
            text.contains("max_untrusted_connections_per_ip=2"),
            "{text}"
        );
        assert!(!text.contains("max_connections=1024"), "{text}");
        let text = logged(&|| {
            let cap = Cap::new("test", 3).with_untrusted_per_ip(0);
            let _held: Vec<_> = (0..3).map(|_| cap.admit(a).unwrap()).collect();
            assert!(cap.admit(a).is_none());
        });
        assert!(text.contains("max_connections=3"), "{text}");
        assert!(text.contains("connection limit reached"), "{text}");
    }
}
