//! `server.max_concurrent_requests`: a count of requests being served,
//! taken without waiting.
//!
//! A request either gets a slot at once or is answered `503`, so nothing
//! ever waits for one: a counter is all it takes. tokio's `Semaphore` did
//! the same with a lock of its waiter list on every release, a lock both
//! worker threads took once per request.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Up to `max` slots (sized at start; shared by every tenant).
#[derive(Debug)]
pub struct Slots {
    taken: AtomicUsize,
    max: usize,
}

/// A slot held; given back when dropped.
#[must_use]
pub struct Slot<'a>(&'a Slots);

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            taken: AtomicUsize::new(0),
            max,
        }
    }

    /// A slot, or `None` when all `max` are taken.
    pub fn try_take(&self) -> Option<Slot<'_>> {
        self.taken
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self))
    }

    /// Slots taken now.
    #[cfg(test)]
    fn taken(&self) -> usize {
        self.taken.load(Ordering::Relaxed)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::Release);
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
        assert_eq!(s.taken(), 2);
        drop(a);
        let c = s.try_take().expect("one came back");
        assert!(s.try_take().is_none());
        drop((b, c));
        assert_eq!(s.taken(), 0);
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
                            peak.fetch_max(s.taken(), std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert!(peak.into_inner() <= 3);
        assert_eq!(s.taken(), 0);
    }
}
