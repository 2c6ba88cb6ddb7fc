//! A request's deadline, on a timer its connection keeps.
//!
//! `tokio::time::timeout_at` builds a timer per request: registered in the
//! runtime's timer wheel when the request first waits (the wheel's lock,
//! an insertion) and taken out when the request ends (the lock again, a
//! removal). A connection's requests come one after the other, each with a
//! later deadline, so a connection keeps one timer and moves it on: moving
//! a registered timer later only records the new deadline (the wheel fires
//! it at the old one, sees the new one and files it again there), so a busy
//! connection touches the wheel about once per request timeout instead of
//! twice per request (docs/performance.md, twenty-fourth round).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use tokio::time::{Instant, Sleep};

/// A connection's deadline timer, between its requests. Concurrent
/// requests (HTTP/2 streams) find it taken and use one of their own.
#[derive(Default)]
pub(super) struct DeadlineTimer(Mutex<Option<Pin<Box<Sleep>>>>);

/// `fut`'s output, or `None` once `deadline` has passed first (what
/// `timeout_at` answers), on `timer` when there is one and it is free.
pub(super) async fn within<F: Future>(
    timer: Option<&DeadlineTimer>,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    let kept = timer.and_then(|t| t.0.lock().ok()?.take());
    let sleep = match kept {
        Some(mut s) => {
            s.as_mut().reset(deadline);
            s
        }
        None => Box::pin(tokio::time::sleep_until(deadline)),
    };
    let mut held = Held {
        timer,
        sleep: Some(sleep),
    };
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        let Some(sleep) = held.sleep.as_mut() else {
            return Poll::Pending;
        };
        // Not charged to the task's budget: a request that used it up
        // still learns that its time is over (as `timeout_at` does).
        Pin::new(&mut tokio::task::unconstrained(sleep.as_mut()))
            .poll(cx)
            .map(|()| None)
    })
    .await
}

/// The timer while a request holds it: given back to its connection when
/// the request ends or is dropped (unless another request gave one back
/// first).
struct Held<'t> {
    timer: Option<&'t DeadlineTimer>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let (Some(timer), Some(sleep)) = (self.timer, self.sleep.take()) else {
            return;
        };
        if let Ok(mut kept) = timer.0.lock() {
            if kept.is_none() {
                *kept = Some(sleep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A request given `deadline` seconds that needs `work` seconds: its
    /// answer (`None`: out of time) and the seconds it took.
    async fn request(timer: Option<&DeadlineTimer>, deadline: u64, work: u64) -> (Option<()>, u64) {
        let start = Instant::now();
        let answer = within(
            timer,
            start + Duration::from_secs(deadline),
            tokio::time::sleep(Duration::from_secs(work)),
        )
        .await;
        (answer, (Instant::now() - start).as_secs())
    }

    fn kept(timer: &DeadlineTimer) -> bool {
        timer.0.lock().unwrap().is_some()
    }

    /// The kept timer ends a request at its own deadline, not an earlier
    /// request's, and is given back after a request that ran out of time.
    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_keeps_each_requests_deadline() {
        let timer = DeadlineTimer::default();
        // It waits, so its deadline (5 s) is filed in the timer wheel.
        assert_eq!(request(Some(&timer), 5, 1).await, (Some(()), 1));
        assert!(kept(&timer), "given back");
        // The next one runs past the first one's deadline: that has no say.
        assert_eq!(request(Some(&timer), 10, 8).await, (Some(()), 8));
        // One that runs past its own deadline ends at it.
        assert_eq!(request(Some(&timer), 3, 60).await, (None, 3));
        assert!(kept(&timer), "given back");
        // And the timer, fired, still serves the next request.
        assert_eq!(request(Some(&timer), 2, 60).await, (None, 2));
        assert_eq!(request(Some(&timer), 2, 1).await, (Some(()), 1));
    }

    /// A second request while the first holds the timer (an HTTP/2
    /// stream) gets a timer of its own; one timer is kept afterwards.
    /// Without a connection's timer, a request has one of its own.
    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_each_have_a_deadline() {
        let timer = DeadlineTimer::default();
        let (a, b) = tokio::join!(request(Some(&timer), 3, 60), request(Some(&timer), 5, 4));
        assert_eq!((a, b), ((None, 3), (Some(()), 4)));
        assert!(kept(&timer));
        assert_eq!(request(None, 1, 60).await, (None, 1));
    }
}
