//! Work that goes on after its request has ended, and that a shutdown
//! waits for.
//!
//! A membership PATCH runs in a task of its own so that it completes (or
//! is undone) when its client leaves; an audit line for a request that is
//! already gone is written on the blocking pool. Both are invisible to the
//! connection count a graceful shutdown drains, and stopping the runtime
//! would cancel them part-way: a membership change half made and never
//! undone, an audit line lost. [`Ongoing`] counts them, and
//! [`Ongoing::settled`] is what the shutdown waits on after the
//! connections are closed.

use std::future::Future;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::{task_tracker::TaskTrackerToken, TaskTracker};

/// The process's work in flight outside any request (shared by tenants).
#[derive(Debug, Clone, Default)]
pub struct Ongoing(TaskTracker, std::sync::Arc<WindDown>);

/// Set by [`Ongoing::wind_down`]: when it was called, and `by`; and the
/// work waiting for it ([`Ongoing::wound_down`]).
#[derive(Debug, Default)]
struct WindDown {
    at: std::sync::OnceLock<(Instant, Instant)>,
    notify: tokio::sync::Notify,
}

/// Counts as one piece of ongoing work until dropped.
pub type OngoingToken = TaskTrackerToken;

impl Ongoing {
    /// Spawns `task` on the current runtime; a shutdown waits for it.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.spawn(task)
    }

    /// Held by work not spawned here (an audit line on its way to the
    /// blocking pool): a shutdown waits until it is dropped.
    pub fn token(&self) -> OngoingToken {
        self.0.token()
    }

    /// The shutdown is near its deadline: work must end by `by`, when the
    /// runtime stops. A membership change then starts no further member
    /// call and undoes the ones made, within `by` (see
    /// `service::membership`). Set once; later calls change nothing.
    pub fn wind_down(&self, by: Instant) {
        if self.1.at.set((Instant::now(), by)).is_ok() {
            self.1.notify.notify_waiters();
        }
    }

    /// Returns once [`Self::wind_down`] was called (at once if it was).
    pub async fn wound_down(&self) {
        loop {
            // Made before the check: a wind-down in between still wakes it.
            let notified = self.1.notify.notified();
            if self.1.at.get().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// When work must have ended, once [`Self::wind_down`] was called.
    pub fn ends_by(&self) -> Option<Instant> {
        self.1.at.get().map(|&(_, by)| by)
    }

    /// When calls already under way at the wind-down are given up: half
    /// way to [`Self::ends_by`], so that the other half is left for
    /// undoing what was done.
    pub fn calls_end_by(&self) -> Option<Instant> {
        self.1.at.get().map(|&(from, by)| from + (by - from) / 2)
    }

    /// How many pieces of work are going on.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits until every piece of work has ended, or `deadline`; `true`
    /// when all ended. Work started after this call is still waited for.
    pub async fn settled(&self, deadline: Instant) -> bool {
        self.0.close();
        tokio::time::timeout_at(deadline, self.0.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls under way are given up half way to the end of the wind-down,
    /// leaving the other half for the undo; a second wind-down changes
    /// nothing.
    #[tokio::test]
    async fn wind_down_leaves_half_for_the_undo() {
        let o = Ongoing::default();
        assert_eq!((o.ends_by(), o.calls_end_by()), (None, None));
        let by = Instant::now() + std::time::Duration::from_secs(10);
        let waiting = tokio::spawn({
            let o = o.clone();
            async move { o.wound_down().await }
        });
        o.clone().wind_down(by);
        o.wind_down(by + std::time::Duration::from_secs(60));
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("a wind-down wakes who waits for it")
            .unwrap();
        assert_eq!(o.ends_by(), Some(by));
        let cut = o.calls_end_by().unwrap();
        let half = by - cut;
        assert!(
            half >= std::time::Duration::from_millis(4900)
                && half <= std::time::Duration::from_secs(5),
            "{half:?} left for the undo"
        );
    }
}
