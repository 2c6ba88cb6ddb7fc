//! Protection of one backend, shared by every request calling it: a cap on
//! calls in flight (semaphore), a cap on calls started per second (token
//! bucket, GCRA form) and a pause set by a backend `429` with `Retry-After`.
//! A call that cannot start within the queue timeout is refused.

use crate::config::BackendLimits;
use crate::slots::{Slot, Slots};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Least time between two `warn` lines about one unreachable backend.
pub const UNREACHABLE_WARN_EVERY: Duration = Duration::from_secs(10);

/// Longest pause a backend `Retry-After` can impose.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);

/// Why a call was refused before being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The backend asked for a pause that outlasts the queue timeout.
    Paused { retry_after: u64 },
    /// No concurrency slot or rate token within the queue timeout.
    Busy { retry_after: u64 },
}

/// Whether the call had to wait for the rate cap or a backend pause; its
/// concurrency slot, given back when dropped.
pub struct Admitted<'g> {
    _slot: Slot<'g>,
    pub waited: bool,
}

pub struct Guard {
    limits: BackendLimits,
    slots: Arc<Slots>,
    /// Shared with the guards that succeed this one on a reload.
    state: Arc<Shared>,
    /// When a failure to connect was last logged at `warn` (see
    /// [`Guard::warn_unreachable`]).
    warned: Mutex<Option<Instant>>,
}

/// The bucket and the pause, with a flag that spares a call the lock when
/// there is neither a rate cap nor a pause.
struct Shared {
    /// Set while `paused_until` may be set (with the lock held).
    paused: AtomicBool,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct State {
    /// GCRA theoretical arrival time of the next call.
    tat: Instant,
    /// Calls wait until then (a backend `429` with `Retry-After`).
    paused_until: Option<Instant>,
}

impl Guard {
    pub fn new(limits: BackendLimits) -> Guard {
        Guard {
            limits,
            slots: slots(limits),
            state: Arc::new(Shared {
                paused: AtomicBool::new(false),
                state: Mutex::new(State {
                    tat: Instant::now(),
                    paused_until: None,
                }),
            }),
            warned: Mutex::new(None),
        }
    }

    /// The guard a reload puts in `prev`'s place, with `limits`: it shares
    /// `prev`'s bucket and backend pause (a reload neither forgets a
    /// backend's `Retry-After` nor grants a fresh burst), and its slots when
    /// `max_concurrency` is unchanged, so the calls still in flight from
    /// before the reload count against the cap. A changed `max_concurrency`
    /// gets slots of its own: the calls in flight under the old cap are
    /// not counted by the new one.
    pub fn succeeding(prev: &Guard, limits: BackendLimits) -> Guard {
        let slots = if prev.limits.max_concurrency == limits.max_concurrency {
            prev.slots.clone()
        } else {
            slots(limits)
        };
        Guard {
            limits,
            slots,
            state: prev.state.clone(),
            warned: Mutex::new(None),
        }
    }

    /// Whether a failure to connect to this backend should be logged at
    /// `warn` now: at most once per `UNREACHABLE_WARN_EVERY` (a backend
    /// down would otherwise log one line per request).
    pub fn warn_unreachable(&self) -> bool {
        let now = Instant::now();
        let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if w.is_some_and(|t| now.duration_since(t) < UNREACHABLE_WARN_EVERY) {
            return false;
        }
        *w = Some(now);
        true
    }

    /// Calls a bucket may start at once after an idle spell: a tenth of a
    /// second's worth, at least one.
    pub fn burst(max_rps: u32) -> u32 {
        max_rps.div_ceil(10).max(1)
    }

    /// Pauses every call until `secs` from now (capped at `MAX_PAUSE`).
    pub fn pause(&self, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs).min(MAX_PAUSE);
        let mut st = self.state.lock();
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
        self.state.paused.store(true, Ordering::Relaxed);
    }

    /// Waits for the pause, a rate token and a concurrency slot, all within
    /// the queue timeout.
    pub async fn admit(&self) -> Result<Admitted<'_>, Refusal> {
        // Neither a rate cap nor a pause: no clock, no lock, no timer
        // unless every slot is taken.
        if self.limits.max_rps == 0 && !self.state.paused.load(Ordering::Relaxed) {
            if let Some(slot) = self.slots.try_take() {
                return Ok(Admitted {
                    _slot: slot,
                    waited: false,
                });
            }
        }
        let now = Instant::now();
        let deadline = now + self.limits.queue_timeout;
        let start_at = {
            let mut st = self.state.lock();
            let mut earliest = now;
            if let Some(p) = st.paused_until {
                if p > now {
                    if p > deadline {
                        return Err(Refusal::Paused {
                            retry_after: ceil_secs(p - now),
                        });
                    }
                    earliest = p;
                } else {
                    st.paused_until = None;
                    self.state.paused.store(false, Ordering::Relaxed);
                }
            }
            if self.limits.max_rps > 0 {
                let interval = Duration::from_secs(1) / self.limits.max_rps;
                let tolerance = interval * (Self::burst(self.limits.max_rps) - 1);
                let tat = st.tat.max(earliest);
                // The earliest moment this call conforms to the bucket.
                let allowed = tat.checked_sub(tolerance).unwrap_or(tat).max(earliest);
                if allowed > deadline {
                    return Err(Refusal::Busy {
                        retry_after: ceil_secs(allowed - now).max(1),
                    });
                }
                st.tat = tat.max(allowed) + interval;
                earliest = allowed;
            }
            earliest
        };
        let waited = start_at > now;
        if waited {
            tokio::time::sleep_until(start_at.into()).await;
        }
        match self.slots.take_by(deadline).await {
            Some(slot) => Ok(Admitted {
                _slot: slot,
                waited,
            }),
            None => Err(Refusal::Busy { retry_after: 1 }),
        }
    }
}

/// `limits.max_concurrency` slots for calls in flight ([`Slots`]: waiters
/// are not served strictly in arrival order).
fn slots(limits: BackendLimits) -> Arc<Slots> {
    Arc::new(Slots::new(limits.max_concurrency.max(1)))
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(c: usize, rps: u32, q: u64) -> BackendLimits {
        BackendLimits {
            max_concurrency: c,
            max_rps: rps,
            queue_timeout: Duration::from_millis(q),
            ..BackendLimits::default()
        }
    }

    #[tokio::test]
    async fn bucket_spaces_calls_and_refuses_beyond_the_queue() {
        let g = Guard::new(limits(100, 10, 500));
        let t0 = Instant::now();
        let mut waited = 0;
        let mut starts = Vec::new();
        let mut permits = Vec::new();
        for _ in 0..6 {
            let a = g.admit().await.unwrap();
            waited += a.waited as u32;
            starts.push(Instant::now() - t0);
            permits.push(a);
        }
        assert!(starts[0] < Duration::from_millis(50));
        assert!(starts[5] >= Duration::from_millis(490), "{starts:?}");
        assert_eq!(waited, 5);
        // Ten calls at once: the first ones fit in the 500 ms queue, the rest are refused.
        let results = futures_util::future::join_all((0..10).map(|_| g.admit())).await;
        let refused = results.iter().filter(|r| r.is_err()).count();
        assert!((4..=6).contains(&refused), "{refused}");
    }

    #[tokio::test]
    async fn concurrency_cap_times_out() {
        let g = Guard::new(limits(1, 0, 200));
        let a = g.admit().await.unwrap();
        assert_eq!(
            g.admit().await.err(),
            Some(Refusal::Busy { retry_after: 1 })
        );
        drop(a);
        assert!(g.admit().await.is_ok());
    }

    /// A reload's client carries the caps on: a call admitted before the
    /// reload still holds its slot, and a backend pause goes on.
    #[tokio::test]
    async fn a_reloads_client_keeps_the_slots_and_the_pause() {
        use crate::backend::BackendClient;
        use crate::config::BackendTlsSettings;
        let url = "http://backend.test";
        let old = BackendClient::new(0, &BackendTlsSettings::default(), limits(1, 0, 100));
        let old_guard = old.guard(url);
        let held = old_guard.admit().await.unwrap();
        let new = BackendClient::new(0, &BackendTlsSettings::default(), limits(1, 0, 100))
            .succeeding(&old);
        assert_eq!(
            new.guard(url).admit().await.err(),
            Some(Refusal::Busy { retry_after: 1 }),
            "the call in flight from before the reload counts"
        );
        drop(held);
        assert!(new.guard(url).admit().await.is_ok());
        // A backend the old client meets only after the reload: the same guard.
        let other = "http://other.test";
        let other_guard = old.guard(other);
        let held = other_guard.admit().await.unwrap();
        assert!(new.guard(other).admit().await.is_err());
        drop(held);
        old.guard(url).pause(30);
        let newer = BackendClient::new(0, &BackendTlsSettings::default(), limits(1, 0, 100))
            .succeeding(&new);
        assert_eq!(
            newer.guard(url).admit().await.err(),
            Some(Refusal::Paused { retry_after: 30 })
        );
        // A changed cap: slots of its own, the pause still shared.
        let wider = BackendClient::new(0, &BackendTlsSettings::default(), limits(2, 0, 100))
            .succeeding(&newer);
        assert!(matches!(
            wider.guard(url).admit().await.err(),
            Some(Refusal::Paused { .. })
        ));
    }

    /// Threads meeting backend URLs for the first time at once each get
    /// the one guard of their URL: none made twice, none lost.
    #[test]
    fn a_url_met_at_once_by_many_threads_has_one_guard() {
        use crate::backend::BackendClient;
        use crate::config::BackendTlsSettings;
        use std::sync::Arc;
        let client = BackendClient::new(0, &BackendTlsSettings::default(), limits(1, 0, 100));
        let urls: Vec<String> = (0..6).map(|i| format!("http://b{i}.test")).collect();
        let got: Vec<Vec<Arc<Guard>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| urls.iter().map(|u| client.guard(u)).collect()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, url) in urls.iter().enumerate() {
            let kept = client.guard(url);
            assert!(got.iter().all(|g| Arc::ptr_eq(&g[i], &kept)), "{url}");
        }
        for (i, a) in urls.iter().enumerate() {
            for b in &urls[i + 1..] {
                assert!(!Arc::ptr_eq(&client.guard(a), &client.guard(b)));
            }
        }
    }

    #[tokio::test]
    async fn pause_delays_or_refuses() {
        let g = Guard::new(limits(10, 0, 2000));
        g.pause(1);
        let t0 = Instant::now();
        let a = g.admit().await.unwrap();
        assert!(a.waited);
        assert!(Instant::now() - t0 >= Duration::from_secs(1));
        g.pause(5);
        assert_eq!(
            g.admit().await.err(),
            Some(Refusal::Paused { retry_after: 5 })
        );
    }

    /// A call waiting for a slot gets the one given back before its
    /// deadline; a pause that has passed lets calls through without the
    /// lock again.
    #[tokio::test]
    async fn a_waiting_call_gets_the_slot_given_back() {
        let g = Arc::new(Guard::new(limits(1, 0, 2000)));
        let held = g.admit().await.unwrap();
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move {
                let t0 = Instant::now();
                let a = g.admit().await.map(|_| ());
                (a, t0.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(held);
        let (admitted, took) = waiter.await.unwrap();
        assert_eq!(admitted, Ok(()));
        assert!(took < Duration::from_millis(1000), "{took:?}");

        g.pause(1);
        assert!(g.state.paused.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(!g.admit().await.unwrap().waited);
        assert!(
            !g.state.paused.load(Ordering::Relaxed),
            "cleared once passed"
        );
    }

    /// Many calls at once on a few slots: never more in flight than the
    /// cap, and every one of them admitted (the queue timeout is long).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn slots_hold_the_cap_under_contention() {
        use std::sync::atomic::AtomicUsize;
        let g = Arc::new(Guard::new(limits(3, 0, 30_000)));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let calls = (0..64).map(|_| {
            let (g, inside, peak) = (g.clone(), inside.clone(), peak.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    let a = g.admit().await.expect("admitted");
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(a);
                }
            })
        });
        for c in futures_util::future::join_all(calls).await {
            c.unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert_eq!(g.slots.free(), 3);
        assert_eq!(g.slots.waiting(), 0);
    }
}
