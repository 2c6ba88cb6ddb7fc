//! PATCH of a group whose backend has membership endpoints: one call per
//! member, undone on failure, in a task of its own so that a request cut
//! short (deadline, client gone) never leaves half a change behind.

use super::crud::apply_checked;
use super::{Ongoing, ResourceCtx, WriteLocks};
use crate::backend::{translate_error, BackendResponse, CALL_STATS};
use crate::mapping::plan::OpPlan;
use crate::scim::error::ScimError;
use crate::scim::patch::{member_delta, PatchOp};
use crate::scim::query::Projection;
use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::debug;

// How long a membership PATCH may go on starting member calls is
// `server.membership_deadline_ms` (`Settings::membership_deadline`), counted
// from its start and independent of the request's deadline
// (`server.request_timeout_ms`). The PATCH runs in a task of its own: when
// the request's deadline passes or the client disconnects, the task goes on
// until the whole change is made. Past its deadline it starts no further
// call; the calls already made are undone and the answer is `504`.

/// An undo that starts after the membership deadline (the PATCH ran out of
/// time) still retries transient failures for this long, or for the whole
/// membership deadline when that is shorter.
pub const UNDO_GRACE: Duration = Duration::from_secs(10);

/// Whether a failed member call may succeed when simply sent again: the
/// backend was rate limiting (`429`), unavailable or unreachable (`503`),
/// did not answer in time (`504`) or broke the connection (`502`), but not
/// a `502` about the bridge's own credentials or TLS settings, which a retry
/// cannot fix.
fn transient(e: &ScimError) -> bool {
    match e.status.as_u16() {
        429 | 503 | 504 => true,
        502 => !crate::backend::needs_operator(e),
        _ => false,
    }
}

/// How a batch of member calls runs.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// The change itself: no call starts once `stop` is set (a call failed)
    /// or `deadline` passed.
    Change {
        stop: &'a AtomicBool,
        deadline: Instant,
    },
    /// Its undo: every call is made; transient failures are retried with
    /// jittered back-off (at least the backend's `Retry-After`) until `until`.
    Undo { until: Instant },
}

/// What a membership PATCH task owns (a request's [`ResourceCtx`] borrows).
struct OwnedCtx {
    res: Arc<crate::mapping::plan::ResourcePlan>,
    plan: crate::mapping::Plan,
    client: crate::backend::BackendClient,
    settings: crate::config::Settings,
    base_url: String,
    request_id: Option<String>,
    /// The process's ongoing work: a shutdown near its deadline tells the
    /// change to wind down through it ([`Ongoing::ends_by`]).
    ongoing: Ongoing,
    if_none_match: Option<String>,
}

/// One member call's outcome.
struct MemberResult {
    member: String,
    /// `None`: not attempted (the PATCH was already failing, or past its deadline).
    result: Option<Result<(), ScimError>>,
    /// A failed call the backend may have carried out all the same: it gave
    /// no answer (timeout, broken connection) or a `5xx` one. The undo
    /// reverses such a call too; the membership calls are idempotent, so
    /// reversing one that was not carried out changes nothing.
    maybe_applied: bool,
    /// The call got no answer at all (timeout, broken connection): the
    /// backend may still carry it out after its undo.
    unanswered: bool,
}

impl MemberResult {
    /// A call not attempted: the change was already failing or stopping,
    /// or there was no time left to make it.
    fn not_started(member: &str) -> MemberResult {
        MemberResult {
            member: member.to_string(),
            result: None,
            maybe_applied: false,
            unanswered: false,
        }
    }

    /// Whether the change must reverse this call when it fails.
    fn to_undo(&self) -> bool {
        match &self.result {
            Some(Ok(())) => true,
            Some(Err(_)) => self.maybe_applied,
            None => false,
        }
    }
}

/// Tells the recorder the task ended abnormally if it is dropped before it
/// finished (a panic, or the runtime stopping mid-change): the audit line is
/// then written with a 500 and what the recorder saw.
struct TaskEnding(Option<Arc<crate::audit::Recorder>>);

impl TaskEnding {
    /// The task ended normally: it reports its own outcome.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TaskEnding {
    fn drop(&mut self) {
        if let Some(rec) = self.0.take() {
            rec.task_finished(
                StatusCode::INTERNAL_SERVER_ERROR.as_u16(),
                Some("the membership change ended before it finished (a fault, or the server stopped); the backend calls listed were made".into()),
            );
        }
    }
}

/// Clears the flag when dropped: the request no longer waits for the task
/// (it was answered, or dropped with its connection).
struct StopWaiting(Arc<AtomicBool>);

impl Drop for StopWaiting {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// One member call as made: [`ResourceCtx::member_call`].
pub(super) struct MemberCall {
    pub(super) member: String,
    pub(super) result: Result<(), ScimError>,
    /// See [`MemberResult::maybe_applied`].
    maybe_applied: bool,
    /// See [`MemberResult::unanswered`].
    unanswered: bool,
}

impl ResourceCtx<'_> {
    /// PATCH of a group whose backend has membership endpoints: member
    /// changes become one call per member (never a rewrite of a large list);
    /// other attributes go through the version-checked replace. All member ids
    /// are checked before the first call; a failure part-way undoes the calls
    /// already made (RFC 7644 §3.5.2: a PATCH is atomic).
    ///
    /// Runs under the resource's write lock, in a spawned task the request
    /// awaits, so it completes (or is undone) even if the request is dropped.
    pub(super) async fn patch_membership(
        &self,
        id: &str,
        member_ops: &[PatchOp],
        other_ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), ScimError> {
        let id = self
            .res
            .check_id(id)
            .ok_or_else(|| self.not_found(id))?
            .to_string();
        // Waiting for the lock may be cut short: nothing is written yet.
        let guard = self.write_locks.lock(&self.res.name, &id).await;
        let owned = OwnedCtx {
            res: self.plan.by_name(&self.res.name).cloned().ok_or_else(|| {
                ScimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "resource type missing from its plan",
                )
            })?,
            plan: self.plan.clone(),
            client: self.client.clone(),
            settings: self.settings.clone(),
            base_url: self.base_url.to_string(),
            request_id: self.request_id.map(str::to_string),
            ongoing: self.ongoing.clone(),
            if_none_match: self.if_none_match.map(str::to_string),
        };
        let (member_ops, other_ops) = (member_ops.to_vec(), other_ops.to_vec());
        let if_match = if_match.map(str::to_string);
        let deadline = Instant::now() + self.settings.membership_deadline;
        let task = async move {
            let _serialized = guard;
            // The lock is held above; nothing in the task takes it again.
            let unused = WriteLocks::default();
            let ctx = ResourceCtx {
                res: &owned.res,
                plan: &owned.plan,
                client: &owned.client,
                write_locks: &unused,
                ongoing: &owned.ongoing,
                settings: &owned.settings,
                base_url: &owned.base_url,
                request_id: owned.request_id.as_deref(),
                if_none_match: owned.if_none_match.as_deref(),
            };
            ctx.membership_locked(&id, &member_ops, &other_ops, if_match.as_deref(), deadline)
                .await
        };
        // The request's backend call count and its audit recorder follow
        // the task (both are task-locals of the request). Should the request
        // end first (its deadline, or the client leaving), the task writes
        // the audit line when it ends, with the outcome the backend holds.
        let recorder = crate::audit::RECORDER.try_with(Arc::clone).ok();
        if let Some(rec) = &recorder {
            rec.task_started();
        }
        // Cleared when the request stops waiting: the task then logs its end.
        let waiting = Arc::new(AtomicBool::new(true));
        let still_waiting = waiting.clone();
        let (request_id, resource) = (self.request_id.map(str::to_string), self.res.name.clone());
        let task = async move {
            let r = task.await;
            if !still_waiting.load(Ordering::Relaxed) {
                let status = r.as_ref().map_or_else(
                    |e| e.status.as_u16(),
                    |(v, _)| if v.is_null() { 204 } else { 200 },
                );
                tracing::info!(
                    request_id = request_id.as_deref().unwrap_or_default(),
                    resource = %resource,
                    status,
                    "membership change finished after its request ended"
                );
            }
            r
        };
        // Made before the task is spawned: a task dropped unfinished (a
        // fault, or the runtime stopping, even before its first poll) still
        // tells the recorder how it ended.
        let mut ending = TaskEnding(recorder.clone());
        let task = async move {
            match recorder {
                Some(rec) => {
                    let r = crate::audit::RECORDER.scope(rec.clone(), task).await;
                    let (status, error) = match &r {
                        // Made but not read back: answered `204`.
                        Ok((v, _)) if v.is_null() => (StatusCode::NO_CONTENT.as_u16(), None),
                        Ok(_) => (StatusCode::OK.as_u16(), None),
                        Err(e) => (e.status.as_u16(), Some(e.detail.clone())),
                    };
                    ending.disarm();
                    rec.task_finished(status, error);
                    r
                }
                None => {
                    let _ending = ending;
                    task.await
                }
            }
        };
        let handle = match CALL_STATS.try_with(Arc::clone) {
            Ok(stats) => self.ongoing.spawn(CALL_STATS.scope(stats, task)),
            Err(_) => self.ongoing.spawn(task),
        };
        let _stop_waiting = StopWaiting(waiting);
        handle.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "membership PATCH task failed");
            Err(ScimError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "the membership change failed",
            ))
        })
    }

    async fn membership_locked(
        &self,
        id: &str,
        member_ops: &[PatchOp],
        other_ops: &[PatchOp],
        if_match: Option<&str>,
        deadline: Instant,
    ) -> Result<(Value, Option<String>), ScimError> {
        let mi = self.res.members_attr.expect("checked by caller");
        let attr = &self.res.attributes[mi];
        let mp = attr.members.as_ref().expect("members attribute");
        // Member ids the operations name, refused before the group is even read.
        let named: Vec<String> = member_ops
            .iter()
            .filter_map(|op| op.value.as_ref())
            .flat_map(|v| match v {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                v => vec![v],
            })
            .filter_map(crate::mapping::plan::member_value)
            .map(str::to_string)
            .collect();
        self.check_member_ids(&named)?;
        // Read under the lock, right before the first write: `If-Match` is
        // checked against the version the change is made over.
        let cur = self.fetch(id).await?;
        self.check_preconditions(if_match, self.if_none_match, &cur)?;
        let current: Vec<String> = match &attr.read {
            Some(crate::mapping::plan::ReadSource::Expr(e)) => e
                .first(&cur.record)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|el| mp.id_of(el)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let (to_add, to_remove) = member_delta(
            &current,
            member_ops,
            &attr.target.name,
            &mp.member_type,
            self.res,
        )?;
        self.check_member_ids(&to_remove)?;
        if !other_ops.is_empty() {
            // The other operations are checked (required, strict) before the
            // first member call, not only after it (which would undo them).
            let scim = self
                .res
                .to_scim(&cur.record, cur.etag.as_deref(), self.base_url, false);
            let changed = apply_checked(self.res, other_ops, scim.clone())?;
            // And turned into the record they would write (value types,
            // value maps, transforms): a client mistake found there must
            // not come after member calls it would then undo.
            self.res
                .to_backend_update(&scim, &changed, &cur.record, false)?;
        }
        self.check_members_exist(&to_add).await?;
        debug!(resource = %self.res.name, add = to_add.len(), remove = to_remove.len(), "membership calls");
        let stop = AtomicBool::new(false);
        let mut done: Vec<(bool, String)> = Vec::new();
        // Calls that got no answer: their undo may reach the backend first.
        let mut unanswered: Vec<String> = Vec::new();
        let mut failure = None;
        for (adding, list) in [(true, &to_add), (false, &to_remove)] {
            let results = self
                .membership_calls(
                    id,
                    adding,
                    list,
                    Mode::Change {
                        stop: &stop,
                        deadline,
                    },
                )
                .await;
            for r in results {
                if r.to_undo() {
                    done.push((adding, r.member.clone()));
                }
                if r.unanswered {
                    unanswered.push(r.member.clone());
                }
                match r.result {
                    Some(Ok(())) => {}
                    Some(Err(e)) => {
                        failure.get_or_insert(e);
                    }
                    None => {
                        failure.get_or_insert_with(|| {
                            if self.ongoing.ends_by().is_some() {
                                ScimError::new(
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    None,
                                    "the bridge is shutting down: the membership change was stopped and undone; retry",
                                )
                                .with_retry_after(Some(1))
                            } else {
                                ScimError::new(
                                    StatusCode::GATEWAY_TIMEOUT,
                                    None,
                                    "the membership change took too long and was undone",
                                )
                            }
                        });
                    }
                }
            }
        }
        if failure.is_none() && !other_ops.is_empty() {
            let res = self.res;
            // Checked above, against the group before the member calls.
            let checked = ResourceCtx {
                if_none_match: None,
                ..*self
            };
            if let Err(e) = checked
                .read_modify_write_locked(id, None, false, |_, scim| {
                    std::future::ready(apply_checked(res, other_ops, scim))
                })
                .await
            {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            let grace = UNDO_GRACE.min(self.settings.membership_deadline);
            let mut until = deadline.max(Instant::now() + grace);
            if let Some(by) = self.ongoing.ends_by() {
                until = until.min(by);
            }
            let e = self.undo_membership(id, done, e, until).await;
            return Err(self.in_doubt(id, &unanswered, e));
        }
        crate::audit::note_members(&to_add, &to_remove);
        // The change is made: a failed re-read must not answer "retry
        // later" for it. `null` is answered `204 No Content` (RFC 7644
        // §3.5.2), which clients take for success.
        match self.fetch(id).await {
            Ok(f) => Ok((self.render(&f, &Projection::default()), self.version(&f))),
            Err(e) => {
                tracing::warn!(
                    resource = %self.res.name,
                    status = e.status.as_u16(),
                    error = %e.detail,
                    "membership change made; the group could not be read back for the answer: 204 No Content"
                );
                Ok((Value::Null, None))
            }
        }
    }

    /// Runs add/remove member calls, a few at a time; returns each member's
    /// result (see [`Mode`]).
    async fn membership_calls(
        &self,
        id: &str,
        adding: bool,
        members: &[String],
        mode: Mode<'_>,
    ) -> Vec<MemberResult> {
        use futures_util::stream::{self, StreamExt};
        let op = if adding {
            &self.res.ops.add_member
        } else {
            &self.res.ops.remove_member
        };
        let Some(op) = op.as_ref() else {
            return Vec::new();
        };
        let futs: Vec<_> = members
            .iter()
            .map(|m| async move {
                let r = match mode {
                    Mode::Change { stop, deadline } => {
                        if stop.load(Ordering::Relaxed)
                            || Instant::now() >= deadline
                            || self.ongoing.ends_by().is_some()
                        {
                            return MemberResult::not_started(m);
                        }
                        let r = self
                            .before_shutdown(m, false, self.member_call(op, id, m.clone(), adding))
                            .await;
                        if r.result.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        r
                    }
                    Mode::Undo { until } => {
                        if self
                            .ongoing
                            .ends_by()
                            .is_some_and(|by| Instant::now() >= by)
                        {
                            // No time left to make it: listed as still applied.
                            return MemberResult::not_started(m);
                        }
                        self.before_shutdown(
                            m,
                            true,
                            self.member_call_retried(op, id, m, adding, until),
                        )
                        .await
                    }
                };
                MemberResult {
                    member: r.member,
                    result: Some(r.result),
                    maybe_applied: r.maybe_applied,
                    unanswered: r.unanswered,
                }
            })
            .collect();
        stream::iter(futs).buffer_unordered(8).collect().await
    }

    pub(super) async fn member_call(
        &self,
        op: &OpPlan,
        id: &str,
        m: String,
        adding: bool,
    ) -> MemberCall {
        let members = self.res.members();
        let body = op
            .member_body(&m, members)
            .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap_or_default()));
        let (mut maybe_applied, mut unanswered) = (false, false);
        let result = match self.call(op, Some(id), Some(&m), body, None).await {
            Ok(resp) if resp.status.is_success() => Ok(()),
            Ok(resp) => {
                // A backend that failed while answering may have made the
                // change (`500`, `502`, `504`); `503`, `501` and `505` say
                // the request was not carried out.
                maybe_applied = resp.status.is_server_error()
                    && !matches!(resp.status.as_u16(), 501 | 503 | 505);
                let e = translate_error(&self.res.backend, &resp, &self.what(id));
                let missing = e.status == StatusCode::NOT_FOUND && self.member_missing(&resp);
                match (missing, adding) {
                    (true, true) => Err(ScimError::invalid_value(format!(
                        "member '{m}' does not exist"
                    ))),
                    // A member that no longer exists is in no group: removed.
                    (true, false) => Ok(()),
                    (false, _) => Err(e),
                }
            }
            Err(e) => {
                maybe_applied = crate::backend::may_have_reached(&e);
                unanswered = crate::backend::unanswered(&e);
                Err(e)
            }
        };
        MemberCall {
            member: m,
            result,
            maybe_applied,
            unanswered,
        }
    }

    /// [`Self::member_call`], sent again after a [`transient`] failure while
    /// the wait (jittered exponential back-off, at least the backend's
    /// `Retry-After`) ends before `until`.
    async fn member_call_retried(
        &self,
        op: &OpPlan,
        id: &str,
        m: &str,
        adding: bool,
        until: Instant,
    ) -> MemberCall {
        let mut attempt = 0u32;
        loop {
            let r = self.member_call(op, id, m.to_string(), adding).await;
            let wait = match &r.result {
                Err(e) if transient(e) => {
                    attempt += 1;
                    let backoff = crate::backend::retry_backoff(attempt + 1);
                    let asked = Duration::from_secs(e.retry_after.unwrap_or(0));
                    backoff.max(asked)
                }
                _ => return r,
            };
            if Instant::now() + wait >= until {
                return r;
            }
            debug!(resource = %self.res.name, id, member = %m, attempt, wait_ms = wait.as_millis() as u64, "retrying a membership undo call");
            tokio::time::sleep(wait).await;
        }
    }

    /// `call`, cut short once a shutdown winds down: a call of the change
    /// half way to the end ([`Ongoing::calls_end_by`], leaving the rest for
    /// the undo), an undo call when work must have ended
    /// ([`Ongoing::ends_by`]). It then counts as a call without an answer
    /// (the backend may carry it out): the change undoes it, the undo names
    /// it as left. Without a shutdown, just `call`.
    async fn before_shutdown(
        &self,
        member: &str,
        undo: bool,
        call: impl std::future::Future<Output = MemberCall>,
    ) -> MemberCall {
        let ends = async {
            self.ongoing.wound_down().await;
            let by = if undo {
                self.ongoing.ends_by()
            } else {
                self.ongoing.calls_end_by()
            };
            if let Some(by) = by {
                tokio::time::sleep_until(by).await;
            }
        };
        tokio::select! {
            r = call => r,
            () = ends => MemberCall {
                member: member.to_string(),
                result: Err(ScimError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "the bridge is shutting down: a member call got no answer in time",
                )),
                maybe_applied: true,
                unanswered: true,
            },
        }
    }

    /// Whether a membership call's 404 is about the member rather than the
    /// group: the mapping's error rule for the answer says so
    /// (`member_not_found`).
    pub(super) fn member_missing(&self, resp: &BackendResponse) -> bool {
        let code = crate::backend::error_code(&self.res.backend, resp.json().as_ref());
        self.res
            .backend
            .errors
            .rule_for(resp.status.as_u16(), code.as_deref())
            .is_some_and(|r| r.member_not_found)
    }

    pub(super) async fn undo_membership(
        &self,
        id: &str,
        done: Vec<(bool, String)>,
        cause: ScimError,
        until: Instant,
    ) -> ScimError {
        if done.is_empty() {
            return cause;
        }
        let adds: Vec<String> = done
            .iter()
            .filter(|(a, _)| *a)
            .map(|(_, m)| m.clone())
            .collect();
        let removes: Vec<String> = done
            .iter()
            .filter(|(a, _)| !*a)
            .map(|(_, m)| m.clone())
            .collect();
        let mut left = Vec::new();
        for r in self
            .membership_calls(id, false, &adds, Mode::Undo { until })
            .await
        {
            if !matches!(r.result, Some(Ok(()))) {
                left.push(format!("added {}", r.member));
            }
        }
        for r in self
            .membership_calls(id, true, &removes, Mode::Undo { until })
            .await
        {
            if !matches!(r.result, Some(Ok(()))) {
                left.push(format!("removed {}", r.member));
            }
        }
        if left.is_empty() {
            cause
        } else {
            if let Some(m) = self.client.metrics() {
                m.membership_undo_failures.inc();
            }
            tracing::error!(resource = %self.res.name, id, left = ?left, "membership change failed and could not be fully undone");
            ScimError::new(
                cause.status,
                cause.scim_type,
                format!(
                    "{}; the change could not be fully undone, still applied: {}",
                    cause.detail,
                    left.join(", ")
                ),
            )
            .with_retry_after(cause.retry_after)
        }
    }

    /// A member call that got no answer (it timed out, or its connection
    /// broke) was undone, but the backend may still carry it out after its
    /// undo: nothing the bridge can see tells. Said in the error and the log,
    /// and counted with the undo failures, so the group gets a look (a retry
    /// of the same PATCH converges: the calls are idempotent).
    fn in_doubt(&self, id: &str, unanswered: &[String], e: ScimError) -> ScimError {
        if unanswered.is_empty() {
            return e;
        }
        if let Some(m) = self.client.metrics() {
            m.membership_undo_failures.inc();
        }
        tracing::error!(
            resource = %self.res.name,
            id,
            members = ?unanswered,
            "membership change undone, but member calls got no answer: the backend may still carry them out after their undo; check the group or retry the PATCH"
        );
        ScimError::new(
            e.status,
            e.scim_type,
            format!(
                "{}; member calls without an answer, which the backend may still carry out: {}",
                e.detail,
                unanswered.join(", ")
            ),
        )
        .with_retry_after(e.retry_after)
    }

    /// Refuses (`400 invalidValue`, before any backend call) a member id that
    /// can name no member: empty, only dots, or out of range
    /// ([`crate::mapping::plan::MembersPlan::valid_id`]), whatever the mapping says.
    pub(super) fn check_member_ids(&self, ids: &[String]) -> Result<(), ScimError> {
        let Some(mp) = self.res.members() else {
            return Ok(());
        };
        match ids.iter().find(|m| !mp.valid_id(m)) {
            Some(m) => Err(ScimError::invalid_value(format!(
                "member '{m}' is not a valid id"
            ))),
            None => Ok(()),
        }
    }

    /// Checks that every id names an existing member resource (one read each,
    /// a few at a time), so a bad id fails before anything is written. The
    /// first missing member ends the check: no read starts after it.
    pub(super) async fn check_members_exist(&self, ids: &[String]) -> Result<(), ScimError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        self.check_member_ids(ids)?;
        if ids.is_empty() {
            return Ok(());
        }
        let Some(mp) = self.res.members() else {
            return Ok(());
        };
        let Some(target) = self.plan.by_endpoint(mp.resource.trim_start_matches('/')) else {
            return Ok(());
        };
        let ctx = ResourceCtx {
            res: target,
            if_none_match: None,
            ..*self
        };
        let futs: Vec<_> = ids.iter().map(|m| member_exists(&ctx, m.clone())).collect();
        stream::iter(futs)
            .buffer_unordered(8)
            .try_for_each(|()| std::future::ready(Ok(())))
            .await
    }
}

async fn member_exists(ctx: &ResourceCtx<'_>, m: String) -> Result<(), ScimError> {
    match ctx.fetch(&m).await {
        Ok(_) => Ok(()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(ScimError::invalid_value(format!(
            "member '{m}' does not exist"
        ))),
        Err(e) => Err(e),
    }
}
