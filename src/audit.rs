//! The audit trail (`[audit]`): one JSON line per SCIM write (create,
//! replace, PATCH, delete, membership change), successful or not.
//!
//! While a write request is served, [`RECORDER`] (a task-local set by the
//! server's front door) collects what the layers below see: the
//! authenticated client ([`Principal`], from authentication), every backend
//! call (from the service's one call site) and the SCIM views before and
//! after (from the service's write paths). The front door then turns that
//! into one line ([`line()`]) and hands it to the [`Sink`], which writes it
//! with one `write()` (and, by default, an `fsync`) before the answer leaves.

use crate::config::{AuditSettings, AuditSink};
use crate::mapping::plan::{AttrPlan, OpPlan, PathPart, ResourcePlan};
use serde_json::{json, Map, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Who made a request: never the credential itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `auth.bearer_tokens[index]`.
    StaticToken(usize),
    /// An `[auth.jwt]` token: its `sub` and `appid`/`azp` claims.
    Jwt {
        subject: Option<String>,
        app_id: Option<String>,
    },
    /// A token issued by the `[auth.oauth]` token endpoint to this client.
    OAuthClient(String),
}

impl Principal {
    pub fn to_json(&self) -> Value {
        match self {
            Principal::StaticToken(i) => json!({"kind": "bearer_token", "index": i}),
            Principal::Jwt { subject, app_id } => {
                json!({"kind": "jwt", "subject": subject, "appId": app_id})
            }
            Principal::OAuthClient(id) => json!({"kind": "oauth_client", "clientId": id}),
        }
    }
}

tokio::task_local! {
    /// What the current write request did, for its audit line.
    pub static RECORDER: Arc<Recorder>;
}

/// What one write request did, collected while it runs.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Recorded>,
    /// Who writes the line when a task that outlives the request makes the
    /// writes (a membership PATCH).
    detached: Mutex<Detached>,
}

/// Writes a request's audit line with the given status and error.
pub type Finish = Box<dyn FnOnce(u16, Option<String>) + Send>;

#[derive(Default)]
enum Detached {
    /// The request writes its line.
    #[default]
    No,
    /// A task making the request's writes runs; the request still waits.
    Running,
    /// That task ended (with this status and error) while the request
    /// still waited: the request writes the line, with this outcome.
    Finished(u16, Option<String>),
    /// The request ended (answered `504`, or the client left) while the
    /// task ran: the task writes the line, with its own outcome, through this.
    Abandoned(Finish),
}

impl std::fmt::Debug for Detached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Detached::No => "No",
            Detached::Running => "Running",
            Detached::Finished(..) => "Finished",
            Detached::Abandoned(_) => "Abandoned",
        })
    }
}

#[derive(Debug, Default, Clone)]
pub struct Recorded {
    pub principal: Option<Principal>,
    /// `{method, route, status}` of each backend call, in order.
    pub calls: Vec<Value>,
    /// The SCIM view before the write (replace, PATCH).
    pub before: Option<Value>,
    /// The SCIM view after the write (create, replace, PATCH).
    pub after: Option<Value>,
    /// Member ids added and removed by per-member calls.
    pub members_added: Vec<String>,
    pub members_removed: Vec<String>,
}

impl Recorder {
    pub fn snapshot(&self) -> Recorded {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn detached(&self) -> std::sync::MutexGuard<'_, Detached> {
        self.detached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A task that goes on when its request is dropped starts making this
    /// request's writes (before it is spawned).
    pub fn task_started(&self) {
        *self.detached() = Detached::Running;
    }

    /// That task ended with `status`: when its request ended first, the
    /// line is written now, with the task's outcome (what the backend holds);
    /// else the request writes it with this outcome.
    pub fn task_finished(&self, status: u16, error: Option<String>) {
        let mut d = self.detached();
        match std::mem::take(&mut *d) {
            Detached::Abandoned(finish) => {
                drop(d);
                finish(status, error);
            }
            Detached::Running => *d = Detached::Finished(status, error),
            other => *d = other,
        }
    }

    /// The request is over (answered or dropped). `Some(outcome)`: the
    /// request writes the line now, with the outcome of the task that made
    /// its writes when there was one (`Some(Some(..))`). `None`: that task
    /// still runs and will write the line through `finish` when it ends.
    #[allow(clippy::option_option)]
    pub fn request_done(
        &self,
        finish: impl FnOnce() -> Finish,
    ) -> Option<Option<(u16, Option<String>)>> {
        let mut d = self.detached();
        match std::mem::take(&mut *d) {
            Detached::Running => {
                *d = Detached::Abandoned(finish());
                None
            }
            Detached::Finished(status, error) => Some(Some((status, error))),
            _ => Some(None),
        }
    }

    /// Whether the request authenticated (its client is known).
    pub fn authenticated(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .principal
            .is_some()
    }
}

fn with(f: impl FnOnce(&mut Recorded)) {
    let _ = RECORDER.try_with(|r| f(&mut r.inner.lock().unwrap_or_else(|p| p.into_inner())));
}

/// The authenticated client of the current request.
pub fn note_principal(p: &Principal) {
    with(|r| r.principal = Some(p.clone()));
}

/// A backend call of the current request: method, path template (`/users/{id}`)
/// and status (`null` when no answer came).
pub fn note_call(op: &OpPlan, status: Option<u16>) {
    with(|r| {
        let route: String = op
            .path
            .iter()
            .map(|p| match p {
                PathPart::Lit(l) => l.as_str(),
                PathPart::Id => "{id}",
                PathPart::Member => "{member}",
            })
            .collect();
        r.calls
            .push(json!({"method": op.method.as_str(), "route": route, "status": status}))
    });
}

/// The SCIM views around a write; the first `before` and the last `after` are kept.
pub fn note_change(before: Option<&Value>, after: Option<&Value>) {
    with(|r| {
        if r.before.is_none() {
            r.before = before.cloned();
        }
        if after.is_some() {
            r.after = after.cloned();
        }
    });
}

/// Member ids added (or removed) by per-member backend calls.
pub fn note_members(added: &[String], removed: &[String]) {
    with(|r| {
        r.members_added.extend(added.iter().cloned());
        r.members_removed.extend(removed.iter().cloned());
    });
}

/// Whether the audit trail treats an attribute's values as personal data:
/// `personal:` as written, else by name (see the mapping docs).
pub fn is_personal(res: &ResourcePlan, a: &AttrPlan) -> bool {
    if let Some(p) = a.personal {
        return p;
    }
    let name = a.target.name.to_ascii_lowercase();
    let group_like = res.members_attr.is_some();
    match name.as_str() {
        "displayname" | "nickname" => !group_like,
        "username" | "name" | "emails" | "phonenumbers" | "addresses" | "photos" | "ims"
        | "x509certificates" | "password" | "employeenumber" | "profileurl" => true,
        _ => false,
    }
}

/// `sha256:` and the first 16 hex digits of the SHA-256 of the value's JSON.
pub fn hash_value(v: &Value) -> Value {
    let d = ring::digest::digest(&ring::digest::SHA256, v.to_string().as_bytes());
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    Value::String(format!("sha256:{hex}"))
}

/// What the front door knows about the request.
pub struct RequestFacts<'a> {
    pub request_id: &'a str,
    pub resource: &'a ResourcePlan,
    /// `create`, `replace`, `patch`, `delete`.
    pub operation: &'static str,
    /// From the URL, or the created resource's `id`.
    pub id: Option<&'a str>,
    pub status: u16,
    /// The SCIM error detail of a failed write.
    pub error: Option<&'a str>,
}

/// The audit line of one write.
pub fn line(facts: &RequestFacts, rec: &Recorded, omit_personal: bool) -> Value {
    let res = facts.resource;
    let empty = Value::Object(Map::new());
    let before = rec.before.as_ref().unwrap_or(&empty);
    let after = rec.after.as_ref().unwrap_or(&empty);
    let mut changes = Vec::new();
    if rec.before.is_some() || rec.after.is_some() {
        for a in &res.attributes {
            if a.members.is_some()
                && !(rec.members_added.is_empty() && rec.members_removed.is_empty())
            {
                continue;
            }
            let b = a.target.extract(before);
            let n = a.target.extract(after);
            if b == n {
                continue;
            }
            let personal = is_personal(res, a);
            let show = |v: Option<&Value>| match v {
                None => Value::Null,
                Some(v) if personal => hash_value(v),
                Some(v) => v.clone(),
            };
            let mut c = json!({"attribute": a.scim_text, "personal": personal});
            if !(personal && omit_personal) {
                c["before"] = show(b);
                c["after"] = show(n);
            }
            changes.push(c);
        }
    }
    let id = facts
        .id
        .map(str::to_string)
        .or_else(|| after.get("id").and_then(Value::as_str).map(str::to_string));
    let mut l = json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "requestId": facts.request_id,
        "client": rec.principal.as_ref().map(Principal::to_json),
        "resourceType": res.name,
        "id": id,
        "operation": facts.operation,
        "backendCalls": rec.calls,
        "changes": changes,
        "outcome": if (200..300).contains(&facts.status) { "success" } else { "failure" },
        "status": facts.status,
    });
    if !rec.members_added.is_empty() || !rec.members_removed.is_empty() {
        l["membersAdded"] = json!(rec.members_added);
        l["membersRemoved"] = json!(rec.members_removed);
    }
    if let Some(e) = facts.error {
        l["error"] = json!(e);
    }
    l
}

/// Where audit lines go. Writes block (one `write()` per line, then
/// `fsync` unless `fsync = "never"`): call from a blocking context.
pub struct Sink {
    cfg: AuditSettings,
    file: Mutex<Option<(std::fs::File, u64)>>,
    failing: AtomicBool,
    last_attempt: Mutex<Option<Instant>>,
}

/// A failing file sink is re-opened at most this often while writes are refused.
const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

impl Sink {
    /// Opens the sink; a file that cannot be opened marks it failing at once.
    pub fn new(cfg: AuditSettings) -> Sink {
        let s = Sink {
            cfg,
            file: Mutex::new(None),
            failing: AtomicBool::new(false),
            last_attempt: Mutex::new(None),
        };
        if let AuditSink::File(p) = &s.cfg.sink {
            match open(p) {
                Ok(f) => *s.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(f),
                Err(e) => {
                    tracing::error!(file = %p.display(), error = %e, "audit sink cannot be opened");
                    s.failing.store(true, Ordering::Relaxed);
                }
            }
        }
        s
    }

    pub fn settings(&self) -> &AuditSettings {
        &self.cfg
    }

    /// The last write (or open) failed.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// While failing, tries to re-open the file (at most once a second);
    /// `true` when the sink can be written again.
    pub fn recover(&self) -> bool {
        if !self.failing() {
            return true;
        }
        let AuditSink::File(p) = &self.cfg.sink else {
            return false;
        };
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < REOPEN_INTERVAL) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match open(p) {
            Ok(f) => {
                *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
                self.failing.store(false, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Writes one line; `false` (and the sink marked failing) when it could not.
    pub fn write(&self, line: &Value) -> bool {
        let mut text = line.to_string();
        text.push('\n');
        let r = match &self.cfg.sink {
            AuditSink::Stdout => {
                let mut out = std::io::stdout().lock();
                // After a log line given up part way (a stalled reader),
                // the audit line starts on a line of its own.
                crate::logging::end_torn_stdout_line(&mut out)
                    .and_then(|_| out.write_all(text.as_bytes()))
                    .and_then(|_| out.flush())
            }
            AuditSink::File(p) => self.write_file(p, text.as_bytes()),
        };
        match r {
            Ok(()) => {
                self.failing.store(false, Ordering::Relaxed);
                true
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, "audit sink failing");
                }
                false
            }
        }
    }

    fn write_file(&self, p: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(open(p)?);
        }
        let size = guard.as_ref().map(|(_, n)| *n).unwrap_or(0);
        if size > 0 && size + bytes.len() as u64 > self.cfg.max_file_bytes {
            *guard = None;
            rotate(p, self.cfg.max_files)?;
            *guard = Some(open(p)?);
        }
        let Some((f, n)) = guard.as_mut() else {
            return Err(std::io::Error::other("audit file not open"));
        };
        // One write() per line: a crash loses at most the line being written.
        let r = f.write_all(bytes).and_then(|_| {
            if self.cfg.fsync {
                f.sync_data()
            } else {
                Ok(())
            }
        });
        match r {
            Ok(()) => {
                *n += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Re-opened on the next write (the file may have been replaced).
                *guard = None;
                Err(e)
            }
        }
    }
}

fn open(p: &Path) -> std::io::Result<(std::fs::File, u64)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)?;
    let n = f.metadata()?.len();
    Ok((f, n))
}

fn numbered(p: &Path, n: usize) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// `audit.jsonl` → `.1`, `.1` → `.2`, …; the oldest beyond `keep` is removed.
fn rotate(p: &Path, keep: usize) -> std::io::Result<()> {
    let _ = std::fs::remove_file(numbered(p, keep));
    for n in (1..keep).rev() {
        let from = numbered(p, n);
        if from.exists() {
            std::fs::rename(&from, numbered(p, n + 1))?;
        }
    }
    std::fs::rename(p, numbered(p, 1))
}

#[cfg(test)]
mod tests {

    /// Who writes the audit line of a request whose writes a task makes:
    /// the request (with the task's outcome when the task ended first), or
    /// the task (with its own outcome when the request ended first).
    #[test]
    fn the_audit_line_goes_with_whoever_ends_last_and_carries_the_tasks_outcome() {
        type Written = Arc<Mutex<Vec<(u16, Option<String>)>>>;
        let written: Written = Arc::default();
        let finish = |w: &Written| {
            let w = w.clone();
            move || -> Finish { Box::new(move |s, e| w.lock().unwrap().push((s, e))) }
        };
        // No task: the request writes, with its own outcome.
        let r = Recorder::default();
        assert_eq!(r.request_done(finish(&written)), Some(None));
        // The task ends first: the request writes, with the task's outcome.
        let r = Recorder::default();
        r.task_started();
        r.task_finished(200, None);
        assert_eq!(r.request_done(finish(&written)), Some(Some((200, None))));
        assert!(written.lock().unwrap().is_empty());
        // The request ends first (504, or the client left): the task writes
        // when it ends, once, with its outcome.
        let r = Recorder::default();
        r.task_started();
        assert_eq!(r.request_done(finish(&written)), None);
        assert!(written.lock().unwrap().is_empty());
        r.task_finished(500, Some("cut short".into()));
        r.task_finished(200, None);
        assert_eq!(
            *written.lock().unwrap(),
            vec![(500, Some("cut short".to_string()))]
        );
        // Known client or not.
        assert!(!r.authenticated());
        RECORDER.sync_scope(Arc::new(Recorder::default()), || {
            note_principal(&Principal::StaticToken(0));
            assert!(RECORDER.with(|r| r.authenticated()));
        });
    }
    use super::*;

    fn settings(p: PathBuf, max: u64) -> AuditSettings {
        AuditSettings {
            sink: AuditSink::File(p),
            max_file_bytes: max,
            max_files: 2,
            fsync: true,
            refuse_writes: false,
            omit_personal: false,
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = std::env::temp_dir().join(format!("sb-audit-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("audit.jsonl");
        let sink = Sink::new(settings(p.clone(), 100));
        for i in 0..10 {
            assert!(sink.write(&json!({"n": i, "pad": "x".repeat(40)})));
        }
        assert!(p.exists() && numbered(&p, 1).exists() && numbered(&p, 2).exists());
        assert!(!numbered(&p, 3).exists());
        let last = std::fs::read_to_string(&p).unwrap();
        assert!(last
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()));
        assert!(last.contains("\"n\":9"));
        assert!(std::fs::metadata(&p).unwrap().len() <= 100);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_directory_fails_and_recovers_when_it_appears() {
        let dir =
            std::env::temp_dir().join(format!("sb-audit-unit-missing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sink = Sink::new(settings(dir.join("audit.jsonl"), 4096));
        assert!(sink.failing());
        assert!(!sink.write(&json!({})));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(sink.recover());
        assert!(sink.write(&json!({"ok": true})));
        assert!(!sink.failing());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hashes_are_stable_and_short() {
        assert_eq!(hash_value(&json!("a")), hash_value(&json!("a")));
        assert_ne!(hash_value(&json!("a")), hash_value(&json!("b")));
        assert_eq!(hash_value(&json!("a")).as_str().unwrap().len(), 7 + 16);
    }
}
