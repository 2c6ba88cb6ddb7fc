//! Slots for work in flight, up to a cap: `server.max_concurrent_requests`
//! (taken without waiting: a request gets one at once or a `503`) and each
//! backend's `max_concurrency` (a call may wait for one until its queue
//! timeout).
//!
//! tokio's `Semaphore` locked its list of waiters on every release, and an
//! owned permit cloned and dropped the semaphore's `Arc`: writes to memory
//! both worker threads share, on every request and every backend call.
//! Here taking a free slot touches the count alone, and a release wakes a
//! waiter only when there is one. Waiters are not served in arrival order:
//! a caller arriving as a slot comes back may take it first; a waiter still
//! gives up at its deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Notify;

/// Up to `n` slots: a count, and those waiting for one.
pub struct Slots {
    free: AtomicUsize,
    /// Calls waiting in [`Slots::take_by`].
    waiting: AtomicUsize,
    returned: Notify,
}

/// A slot held; given back when dropped.
#[must_use]
pub struct Slot<'a>(&'a Slots);

impl Slots {
    pub fn new(n: usize) -> Slots {
        Slots {
            free: AtomicUsize::new(n),
            waiting: AtomicUsize::new(0),
            returned: Notify::new(),
        }
    }

    /// A slot, or `None` when all are taken.
    pub fn try_take(&self) -> Option<Slot<'_>> {
        self.free
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .map(|_| Slot(self))
    }

    /// A slot, waiting for one until `deadline`.
    pub async fn take_by(&self, deadline: Instant) -> Option<Slot<'_>> {
        if let Some(s) = self.try_take() {
            return Some(s);
        }
        // Counted before looking again: a release either sees this waiter
        // (and notifies) or came before that look (which then finds its slot).
        self.waiting.fetch_add(1, Ordering::SeqCst);
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _waiting = Waiting(&self.waiting);
        let timer = tokio::time::sleep_until(deadline.into());
        tokio::pin!(timer);
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(s) = self.try_take() {
                return Some(s);
            }
            tokio::select! {
                () = &mut returned => {}
                // One last look: a slot that came back at the deadline.
                () = &mut timer => return self.try_take(),
            }
        }
    }

    /// Slots free now.
    #[cfg(test)]
    pub(crate) fn free(&self) -> usize {
        self.free.load(Ordering::SeqCst)
    }

    /// Callers waiting in [`Slots::take_by`] now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let s = self.0;
        s.free.fetch_add(1, Ordering::SeqCst);
        if s.waiting.load(Ordering::SeqCst) > 0 {
            // Stored when nobody listens yet; passed on to another waiter
            // when the one woken leaves without it.
            s.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    #[test]
    fn slots_run_out_and_come_back() {
        let s = Slots::new(2);
        let a = s.try_take().expect("first");
        let b = s.try_take().expect("second");
        assert!(s.try_take().is_none());
        assert_eq!(s.free(), 0, "both taken");
        drop(a);
        let c = s.try_take().expect("one came back");
        assert!(s.try_take().is_none());
        drop((b, c));
        assert_eq!(s.free(), 2, "none taken");
        assert!(Slots::new(0).try_take().is_none());
    }

    /// Threads taking and giving back at once never hold more than `max`.
    #[test]
    fn slots_hold_the_cap_across_threads() {
        let s = Slots::new(3);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..20_000 {
                        if let Some(_slot) = s.try_take() {
                            peak.fetch_max(3 - s.free(), std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert!(peak.into_inner() <= 3);
        assert_eq!(s.free(), 3, "none taken");
    }
}
