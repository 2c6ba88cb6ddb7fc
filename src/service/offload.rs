//! CPU-heavy request work (parsing and applying a large body) moved off the
//! async workers onto tokio's blocking pool, so that one big PATCH does not
//! stall every other request served by the same worker. Small bodies stay
//! inline: handing work to the blocking pool costs a thread hand-off (tens
//! of microseconds), more than parsing or patching a few kilobytes.

use crate::scim::error::ScimError;
use http::StatusCode;
use serde_json::Value;

/// Bodies of more than this many bytes are parsed, and PATCH operations of
/// about this size applied, on the blocking pool.
pub const BLOCKING_BODY_BYTES: usize = 64 * 1024;

/// Whether `v` is about [`BLOCKING_BODY_BYTES`] or more as JSON text: string
/// and key lengths plus a few bytes per value, counted until the threshold
/// (so the check itself stays cheap for big values).
pub fn heavy(v: &Value) -> bool {
    fn walk(v: &Value, budget: &mut isize) {
        *budget -= 4;
        if *budget < 0 {
            return;
        }
        match v {
            Value::String(s) => *budget -= s.len() as isize,
            Value::Array(a) => {
                for x in a {
                    walk(x, budget);
                    if *budget < 0 {
                        return;
                    }
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    *budget -= k.len() as isize;
                    walk(x, budget);
                    if *budget < 0 {
                        return;
                    }
                }
            }
            _ => {}
        }
    }
    let mut budget = BLOCKING_BODY_BYTES as isize;
    walk(v, &mut budget);
    budget < 0
}

/// Runs `f` on the blocking pool and waits for it without holding the
/// worker. A panic in `f` becomes a `500`, as it would inline.
pub async fn offload<T, F>(f: F) -> Result<T, ScimError>
where
    F: FnOnce() -> Result<T, ScimError> + Send + 'static,
    T: Send + 'static,
{
    #[cfg(test)]
    let f = {
        let hold = test_hold::take();
        move || {
            if let Some((entered, release)) = hold {
                let _ = entered.send(());
                let _ = release.recv_timeout(std::time::Duration::from_secs(60));
            }
            f()
        }
    };
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "request work on the blocking pool failed");
        Err(ScimError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "the request could not be processed",
        ))
    })
}

/// Tests: hold the next offloaded job of this thread (a current-thread
/// runtime's worker) on the blocking pool until released.
#[cfg(test)]
pub(crate) mod test_hold {
    use std::cell::RefCell;
    use std::sync::mpsc::{Receiver, Sender};

    type Hold = (Sender<()>, Receiver<()>);

    thread_local! {
        static HOLD: RefCell<Option<(usize, Hold)>> = const { RefCell::new(None) };
    }

    /// The [`super::offload`] called on this thread after `skip` others
    /// signals `entered` from the blocking pool, then waits for `release`
    /// (60 s at most).
    pub(crate) fn hold(skip: usize, entered: Sender<()>, release: Receiver<()>) {
        HOLD.with(|h| *h.borrow_mut() = Some((skip, (entered, release))));
    }

    pub(super) fn take() -> Option<Hold> {
        HOLD.with(|h| {
            let mut h = h.borrow_mut();
            match h.as_mut() {
                Some((skip, _)) if *skip > 0 => {
                    *skip -= 1;
                    None
                }
                Some(_) => h.take().map(|(_, hold)| hold),
                None => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn heavy_counts_text_size() {
        assert!(!heavy(
            &json!({"Operations": [{"op": "add", "path": "emails", "value": "x"}]})
        ));
        let small: Vec<Value> = (0..100)
            .map(|i| json!({"value": format!("u{i}@example.com")}))
            .collect();
        assert!(!heavy(&json!({ "value": small })));
        let big: Vec<Value> = (0..3000)
            .map(|i| json!({"value": format!("user{i}@example.com"), "type": "work"}))
            .collect();
        assert!(heavy(&json!({ "value": big })));
        assert!(heavy(&json!("x".repeat(BLOCKING_BODY_BYTES))));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn offload_runs_the_work_and_turns_a_panic_into_500() {
        assert_eq!(offload(|| Ok(2 + 2)).await.unwrap(), 4);
        let e = offload::<(), _>(|| panic!("boom")).await.unwrap_err();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
