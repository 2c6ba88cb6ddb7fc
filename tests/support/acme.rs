// "Acme Directory": a second, deliberately differently shaped legacy REST
// backend used only by integration tests. It proves that nothing
// backend-specific is hard-coded in the SCIM bridge. See ACME_API.md for the
// contract. Everything lives in memory; nothing here panics on input.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const BASE: &str = "/dir/v2";
const USER: &str = "bridge";
const MAX_BODY: usize = 1 << 20;

/// Start-up options of the fixture.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Options {
    /// HTTP Basic password of the user `bridge`.
    pub password: String,
    /// Number of people created at start (handles `user1`, `user2`, ...).
    pub seed_people: usize,
    /// The `Retry-After` (seconds) of `Busy` answers.
    pub retry_after_secs: u64,
}

#[allow(dead_code)]
impl Default for Options {
    fn default() -> Self {
        Options {
            password: "acme-secret".to_string(),
            seed_people: 0,
            retry_after_secs: 1,
        }
    }
}

/// One request as received (recorded before auth, so failed ones too).
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    /// Header names are lowercase.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[allow(dead_code)]
impl Recorded {
    /// First value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Entry {
    uuid: String,
    rev: u64,
    /// Full public document, including the read-only members.
    doc: Map<String, Value>,
}

impl Entry {
    fn etag(&self) -> String {
        format!("\"r{}\"", self.rev)
    }
}

struct Store {
    people: Vec<Entry>,
    circles: Vec<Entry>,
    rng: u64,
    last_millis: i64,
    requests: Vec<Recorded>,
    busy: usize,
    retry_after_secs: u64,
    /// `412 Stale` answers so far.
    stale: usize,
    /// Changes "another writer" makes just before the next PATCHes are
    /// checked (see [`Running::interfere_before_patches`]).
    interference: Vec<Value>,
}

impl Store {
    fn next_u64(&mut self) -> u64 {
        // xorshift64
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn new_uuid(&mut self) -> String {
        loop {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
            b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let id = format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            );
            let taken = self
                .people
                .iter()
                .chain(&self.circles)
                .any(|e| e.uuid == id);
            if !taken {
                return id;
            }
        }
    }

    /// Strictly increasing wall-clock milliseconds.
    fn tick(&mut self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.last_millis = now.max(self.last_millis + 1);
        self.last_millis
    }

    fn insert_person(&mut self, mut doc: Map<String, Value>) -> &Entry {
        let uuid = self.new_uuid();
        let millis = self.tick();
        doc.insert("uuid".into(), json!(uuid));
        doc.insert("createdEpoch".into(), json!(millis / 1000));
        doc.insert("modifiedMillis".into(), json!(millis));
        self.people.push(Entry { uuid, rev: 1, doc });
        &self.people[self.people.len() - 1]
    }
}

struct Shared {
    password: String,
    base_url: String,
    store: Mutex<Store>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fixture server. Dropping it stops accepting connections.
#[allow(dead_code)]
pub struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Bind 127.0.0.1:0 and serve the directory in a tokio task.
#[allow(dead_code)]
pub async fn spawn(opts: Options) -> std::io::Result<Running> {
    super::register_basic(USER, &opts.password);
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut store = Store {
        people: Vec::new(),
        circles: Vec::new(),
        rng: (nanos ^ 0x9E37_79B9_7F4A_7C15 ^ (u64::from(addr.port()) << 32)) | 1,
        last_millis: 0,
        requests: Vec::new(),
        busy: 0,
        retry_after_secs: opts.retry_after_secs,
        stale: 0,
        interference: Vec::new(),
    };
    for i in 1..=opts.seed_people {
        let doc = json!({
            "handle": format!("user{i}"),
            "names": {"first": "User", "last": i.to_string()},
            "fullName": format!("User {i}"),
            "addresses": [{"kind": "work", "email": format!("user{i}@acme.test")}],
            "phones": [],
            "disabled": false,
            "employeeNo": i.to_string(),
        });
        if let Value::Object(doc) = doc {
            store.insert_person(doc);
        }
    }
    let shared = Arc::new(Shared {
        password: opts.password,
        base_url: format!("http://{addr}"),
        store: Mutex::new(store),
    });
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let svc_shared = shared.clone();
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            tokio::select! {
                res = listener.accept() => match res {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let shared = svc_shared.clone();
                        let svc = service_fn(move |req| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(handle(shared, req).await) }
                        });
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), svc)
                            .into_owned();
                        let fut = graceful.watch(conn);
                        tokio::spawn(async move {
                            let _ = fut.await;
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                _ = &mut stop_rx => break,
            }
        }
        drop(listener);
        let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
    });
    Ok(Running {
        addr,
        shared,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

#[allow(dead_code)]
impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash, no base path).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// The stored person, unwrapped, as GET would return it.
    pub fn person(&self, uuid: &str) -> Option<Value> {
        let st = self.shared.lock();
        let e = st.people.iter().find(|e| e.uuid == uuid)?;
        Some(Value::Object(e.doc.clone()))
    }

    /// The stored person's revision (its ETag is `"r<revision>"`).
    pub fn revision(&self, uuid: &str) -> Option<u64> {
        let st = self.shared.lock();
        st.people.iter().find(|e| e.uuid == uuid).map(|e| e.rev)
    }

    /// Another Acme client's write: merge-patches the stored person directly
    /// (no validation), bumping its revision. `false` when there is none.
    pub fn edit_person(&self, uuid: &str, change: Value) -> bool {
        let mut st = self.shared.lock();
        let millis = st.tick();
        let Some(e) = st.people.iter_mut().find(|e| e.uuid == uuid) else {
            return false;
        };
        let mut doc = Value::Object(std::mem::take(&mut e.doc));
        merge_patch(&mut doc, &change);
        if let Value::Object(mut doc) = doc {
            doc.insert("modifiedMillis".into(), json!(millis));
            e.doc = doc;
        }
        e.rev += 1;
        true
    }

    pub fn circle(&self, uuid: &str) -> Option<Value> {
        let st = self.shared.lock();
        let e = st.circles.iter().find(|e| e.uuid == uuid)?;
        Some(Value::Object(e.doc.clone()))
    }

    /// All people in creation order.
    pub fn people(&self) -> Vec<Value> {
        let st = self.shared.lock();
        st.people
            .iter()
            .map(|e| Value::Object(e.doc.clone()))
            .collect()
    }

    /// All circles in creation order.
    pub fn circles(&self) -> Vec<Value> {
        let st = self.shared.lock();
        st.circles
            .iter()
            .map(|e| Value::Object(e.doc.clone()))
            .collect()
    }

    /// The next `n` requests (any path, before auth) get 503 `Busy`.
    pub fn inject_busy(&self, n: usize) {
        self.shared.lock().busy = n;
    }

    /// Sets the `Retry-After` (seconds) of `Busy` answers.
    pub fn set_retry_after_secs(&self, secs: u64) {
        self.shared.lock().retry_after_secs = secs;
    }

    /// Test hook for the "412 → re-read → retry" path: each of the next
    /// `changes.len()` PATCHes finds its target changed by another writer
    /// just before its `If-Match` is checked (the change is merged in and
    /// the revision bumped), as if someone wrote between the client's read
    /// and its write. Not reachable over HTTP.
    pub fn interfere_before_patches(&self, changes: Vec<Value>) {
        self.shared.lock().interference = changes;
    }

    /// Number of `412 Stale` answers so far.
    pub fn stale_answers(&self) -> usize {
        self.shared.lock().stale
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------- responses

type Resp = Response<Full<Bytes>>;

struct Fault {
    status: StatusCode,
    kind: &'static str,
    reason: String,
    field: Option<String>,
    allow: Option<&'static str>,
    retry_after: u64,
}

fn fault(status: StatusCode, kind: &'static str, reason: impl Into<String>) -> Fault {
    Fault {
        status,
        kind,
        reason: reason.into(),
        field: None,
        allow: None,
        retry_after: 1,
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> Fault {
    let mut f = fault(StatusCode::BAD_REQUEST, "Invalid", reason);
    f.field = Some(field.to_string());
    f
}

fn not_found() -> Fault {
    fault(StatusCode::NOT_FOUND, "NotFound", "no such resource")
}

fn set_header(resp: &mut Resp, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn json_resp(status: StatusCode, v: &Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(v.to_string())));
    *resp.status_mut() = status;
    set_header(&mut resp, http::header::CONTENT_TYPE, "application/json");
    resp
}

impl Fault {
    fn into_response(self) -> Resp {
        let mut body = json!({"kind": self.kind, "reason": self.reason});
        if let (Some(field), Some(obj)) = (self.field, body.as_object_mut()) {
            obj.insert("field".into(), json!(field));
        }
        let mut resp = json_resp(self.status, &json!({ "fault": body }));
        if self.status == StatusCode::UNAUTHORIZED {
            set_header(
                &mut resp,
                http::header::WWW_AUTHENTICATE,
                "Basic realm=\"acme\"",
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            set_header(
                &mut resp,
                http::header::RETRY_AFTER,
                &self.retry_after.to_string(),
            );
        }
        if let Some(allow) = self.allow {
            set_header(&mut resp, http::header::ALLOW, allow);
        }
        resp
    }
}

fn entity_resp(status: StatusCode, wrapper: &str, e: &Entry) -> Resp {
    let mut resp = json_resp(status, &json!({ wrapper: Value::Object(e.doc.clone()) }));
    set_header(&mut resp, http::header::ETAG, &e.etag());
    resp
}

// ---------------------------------------------------------------- dispatch

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let (bytes, too_big) = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => (c.to_bytes(), false),
        Err(_) => (Bytes::new(), true),
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let (busy, retry_after) = {
        let mut st = shared.lock();
        st.requests.push(Recorded {
            method: parts.method.as_str().to_string(),
            path_and_query,
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (k.as_str().to_ascii_lowercase(), v)
                })
                .collect(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        });
        let busy = st.busy > 0;
        st.busy = st.busy.saturating_sub(1);
        (busy, st.retry_after_secs)
    };
    let result = if busy {
        let mut f = fault(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "directory is busy, retry later",
        );
        f.retry_after = retry_after;
        Err(f)
    } else if !authorized(&parts.headers, &shared.password) {
        Err(fault(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "valid Basic credentials required",
        ))
    } else if too_big {
        Err(invalid("body", "request body too large or unreadable"))
    } else {
        route(&shared, &parts.method, &parts.uri, &parts.headers, &bytes)
    };
    result.unwrap_or_else(Fault::into_response)
}

fn authorized(headers: &HeaderMap, password: &str) -> bool {
    let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, cred)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(cred.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    decoded.split_once(':') == Some((USER, password))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Person,
    Circle,
}

fn route(
    shared: &Shared,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Resp, Fault> {
    let rest = uri.path().strip_prefix(BASE).ok_or_else(not_found)?;
    let segs: Vec<&str> = rest
        .strip_prefix('/')
        .ok_or_else(not_found)?
        .split('/')
        .collect();
    if let (["people", id, action], &Method::POST) = (segs.as_slice(), method) {
        return archive(shared, id, action, headers);
    }
    let (kind, id) = match segs.as_slice() {
        ["people"] => (Kind::Person, None),
        ["circles"] => (Kind::Circle, None),
        ["people", id] if !id.is_empty() => (Kind::Person, Some(*id)),
        ["circles", id] if !id.is_empty() => (Kind::Circle, Some(*id)),
        _ => return Err(not_found()),
    };
    let query = parse_query(uri.query().unwrap_or(""));
    match (id, method) {
        (None, &Method::GET) => list(shared, kind, &query),
        (None, &Method::POST) => create(shared, kind, headers, body),
        (Some(id), &Method::GET) => {
            let st = shared.lock();
            let e = entries(&st, kind).iter().find(|e| e.uuid == id);
            Ok(entity_resp(
                StatusCode::OK,
                wrapper(kind),
                e.ok_or_else(not_found)?,
            ))
        }
        (Some(id), &Method::PATCH) => patch(shared, kind, id, headers, body),
        (Some(id), &Method::DELETE) => delete(shared, kind, id, headers),
        _ => {
            let mut f = fault(
                StatusCode::METHOD_NOT_ALLOWED,
                "Unsupported",
                format!("method {method} not supported here"),
            );
            f.allow = Some(if id.is_some() {
                "GET, PATCH, DELETE"
            } else {
                "GET, POST"
            });
            Err(f)
        }
    }
}

/// `POST /dir/v2/people/{uuid}/archive` (archived and disabled) and
/// `…/unarchive` (neither): the dedicated soft-delete and restore calls.
fn archive(shared: &Shared, id: &str, action: &str, headers: &HeaderMap) -> Result<Resp, Fault> {
    let archived = match action {
        "archive" => true,
        "unarchive" => false,
        _ => return Err(not_found()),
    };
    let mut st = shared.lock();
    let idx = st
        .people
        .iter()
        .position(|e| e.uuid == id)
        .ok_or_else(not_found)?;
    if let Err(Some(f)) = if_match(headers, &st.people[idx].etag()) {
        return Err(f);
    }
    let millis = st.tick();
    let e = &mut st.people[idx];
    if archived {
        e.doc.insert("archived".into(), json!(true));
    } else {
        e.doc.remove("archived");
    }
    e.doc.insert("disabled".into(), json!(archived));
    e.doc.insert("modifiedMillis".into(), json!(millis));
    e.rev += 1;
    Ok(entity_resp(StatusCode::OK, "person", e))
}

fn wrapper(kind: Kind) -> &'static str {
    match kind {
        Kind::Person => "person",
        Kind::Circle => "circle",
    }
}

fn entries(st: &Store, kind: Kind) -> &Vec<Entry> {
    match kind {
        Kind::Person => &st.people,
        Kind::Circle => &st.circles,
    }
}

fn entries_mut(st: &mut Store, kind: Kind) -> &mut Vec<Entry> {
    match kind {
        Kind::Person => &mut st.people,
        Kind::Circle => &mut st.circles,
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    let dec = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn list(shared: &Shared, kind: Kind, q: &[(String, String)]) -> Result<Resp, Fault> {
    let start = match param(q, "start") {
        None => 0,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| invalid("start", "start must be a non-negative integer"))?,
    };
    let max = match param(q, "max") {
        None => 20,
        Some(s) => match s.parse::<usize>() {
            Ok(m) if (1..=100).contains(&m) => m,
            _ => return Err(invalid("max", "max must be an integer from 1 to 100")),
        },
    };
    let str_of = |e: &Entry, k: &str| e.doc.get(k).and_then(Value::as_str).map(str::to_string);
    let filters: Vec<(&str, String, bool)> = match kind {
        Kind::Person => [("handle", true), ("source", false)].to_vec(),
        Kind::Circle => [("title", true)].to_vec(),
    }
    .into_iter()
    .filter_map(|(k, ci)| param(q, k).map(|v| (k, v.to_string(), ci)))
    .collect();
    let archived = match param(q, "archived") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(invalid("archived", "archived must be true or false")),
    };
    let st = shared.lock();
    let matching: Vec<&Entry> = entries(&st, kind)
        .iter()
        .filter(|e| {
            archived.is_none_or(|want| (e.doc.get("archived") == Some(&Value::Bool(true))) == want)
        })
        .filter(|e| {
            filters.iter().all(|(k, want, ci)| match str_of(e, k) {
                Some(have) if *ci => have.to_lowercase() == want.to_lowercase(),
                Some(have) => have == *want,
                None => false,
            })
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(max)
        .map(|e| Value::Object(e.doc.clone()))
        .collect();
    let key = match kind {
        Kind::Person => "people",
        Kind::Circle => "circles",
    };
    Ok(json_resp(
        StatusCode::OK,
        &json!({ key: page, "count": matching.len() }),
    ))
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn parse_json(body: &[u8]) -> Result<Value, Fault> {
    serde_json::from_slice(body).map_err(|e| invalid("body", format!("malformed JSON: {e}")))
}

fn create(shared: &Shared, kind: Kind, headers: &HeaderMap, body: &[u8]) -> Result<Resp, Fault> {
    if media_type(headers) != "application/json" {
        return Err(fault(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported",
            "POST bodies must be application/json",
        ));
    }
    let w = wrapper(kind);
    let doc = match parse_json(body)? {
        Value::Object(mut o) => match o.remove(w) {
            Some(Value::Object(inner)) => inner,
            _ => return Err(invalid(w, format!("body must be {{\"{w}\":{{...}}}}"))),
        },
        _ => return Err(invalid(w, format!("body must be {{\"{w}\":{{...}}}}"))),
    };
    let mut st = shared.lock();
    let e = match kind {
        Kind::Person => {
            let doc = normalize_person(&doc)?;
            check_unique(&st, kind, &doc, None)?;
            st.insert_person(doc)
        }
        Kind::Circle => {
            let mut doc = normalize_circle(&st, &doc)?;
            check_unique(&st, kind, &doc, None)?;
            let uuid = st.new_uuid();
            doc.insert("uuid".into(), json!(uuid));
            st.circles.push(Entry { uuid, rev: 1, doc });
            &st.circles[st.circles.len() - 1]
        }
    };
    let mut resp = entity_resp(StatusCode::CREATED, w, e);
    let loc = format!(
        "{}{BASE}/{}/{}",
        shared.base_url,
        if kind == Kind::Person {
            "people"
        } else {
            "circles"
        },
        e.uuid
    );
    set_header(&mut resp, http::header::LOCATION, &loc);
    Ok(resp)
}

/// `Ok(())` when the If-Match header (if any) matches `etag`. A missing
/// header is `Err(None)`; a mismatch is `Err(Some(fault))`.
fn if_match(headers: &HeaderMap, etag: &str) -> Result<(), Option<Fault>> {
    let Some(raw) = headers.get(http::header::IF_MATCH) else {
        return Err(None);
    };
    let raw = raw.to_str().unwrap_or("");
    let ok = raw.split(',').map(str::trim).any(|t| t == "*" || t == etag);
    if ok {
        Ok(())
    } else {
        Err(Some(fault(
            StatusCode::PRECONDITION_FAILED,
            "Stale",
            format!("If-Match {raw} does not match current ETag {etag}"),
        )))
    }
}

fn patch(
    shared: &Shared,
    kind: Kind,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Resp, Fault> {
    let mut st = shared.lock();
    let idx = entries(&st, kind)
        .iter()
        .position(|e| e.uuid == id)
        .ok_or_else(not_found)?;
    if media_type(headers) != "application/merge-patch+json" {
        return Err(fault(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported",
            "PATCH bodies must be application/merge-patch+json",
        ));
    }
    if !st.interference.is_empty() {
        let change = st.interference.remove(0);
        let millis = st.tick();
        let e = &mut entries_mut(&mut st, kind)[idx];
        let mut doc = Value::Object(e.doc.clone());
        merge_patch(&mut doc, &change);
        if let Value::Object(mut doc) = doc {
            if kind == Kind::Person {
                doc.insert("modifiedMillis".into(), json!(millis));
            }
            e.doc = doc;
        }
        e.rev += 1;
    }
    let etag = entries(&st, kind)[idx].etag();
    let checked = if_match(headers, &etag);
    if matches!(checked, Err(Some(_))) {
        st.stale += 1;
    }
    checked.map_err(|f| {
        f.unwrap_or_else(|| {
            fault(
                StatusCode::PRECONDITION_REQUIRED,
                "PreconditionRequired",
                "If-Match header required",
            )
        })
    })?;
    let Value::Object(mut patch) = parse_json(body)? else {
        return Err(invalid("body", "merge patch must be a JSON object"));
    };
    for ro in ["uuid", "createdEpoch", "modifiedMillis"] {
        patch.remove(ro);
    }
    let mut target = Value::Object(entries(&st, kind)[idx].doc.clone());
    merge_patch(&mut target, &Value::Object(patch));
    let target = match target {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let mut doc = match kind {
        Kind::Person => normalize_person(&target)?,
        Kind::Circle => normalize_circle(&st, &target)?,
    };
    check_unique(&st, kind, &doc, Some(id))?;
    let millis = st.tick();
    let e = &mut entries_mut(&mut st, kind)[idx];
    for ro in ["uuid", "createdEpoch"] {
        if let Some(v) = e.doc.get(ro) {
            doc.insert(ro.into(), v.clone());
        }
    }
    if kind == Kind::Person {
        doc.insert("modifiedMillis".into(), json!(millis));
    }
    e.doc = doc;
    e.rev += 1;
    Ok(entity_resp(StatusCode::OK, wrapper(kind), e))
}

fn delete(shared: &Shared, kind: Kind, id: &str, headers: &HeaderMap) -> Result<Resp, Fault> {
    let mut st = shared.lock();
    let idx = entries(&st, kind)
        .iter()
        .position(|e| e.uuid == id)
        .ok_or_else(not_found)?;
    // If-Match is optional on DELETE, but honoured when sent.
    if let Err(Some(f)) = if_match(headers, &entries(&st, kind)[idx].etag()) {
        return Err(f);
    }
    entries_mut(&mut st, kind).remove(idx);
    if kind == Kind::Person {
        for c in st.circles.iter_mut() {
            let Some(Value::Array(members)) = c.doc.get_mut("members") else {
                continue;
            };
            let before = members.len();
            members.retain(|m| m.get("uuid").and_then(Value::as_str) != Some(id));
            if members.len() != before {
                c.rev += 1;
            }
        }
    }
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn check_unique(
    st: &Store,
    kind: Kind,
    doc: &Map<String, Value>,
    own: Option<&str>,
) -> Result<(), Fault> {
    let key = if kind == Kind::Person {
        "handle"
    } else {
        "title"
    };
    let want = doc
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    let clash = entries(st, kind).iter().any(|e| {
        Some(e.uuid.as_str()) != own
            && e.doc
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_lowercase)
                == Some(want.clone())
    });
    if clash {
        let mut f = fault(
            StatusCode::CONFLICT,
            "Duplicate",
            format!("{key} already in use"),
        );
        f.field = Some(key.to_string());
        return Err(f);
    }
    Ok(())
}

// ---------------------------------------------------------------- validation

/// Optional string member `key` of `o` (which is, or sits inside, the
/// top-level member `field`): absent/null → None, string → Some, else 400.
fn opt_str(o: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, Fault> {
    let name = if key == field {
        key.to_string()
    } else {
        format!("{field}.{key}")
    };
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, format!("{name} must be a string"))),
    }
}

fn req_str(o: &Map<String, Value>, key: &str, field: &str) -> Result<String, Fault> {
    match opt_str(o, key, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ if key == field => Err(invalid(field, format!("{key} is required"))),
        _ => Err(invalid(field, format!("{field}.{key} is required"))),
    }
}

/// Array of objects, each reduced to the `keys` (string members); the first
/// key is required.
fn obj_array(o: &Map<String, Value>, field: &str, keys: [&str; 2]) -> Result<Option<Value>, Fault> {
    let items = match o.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid(field, format!("{field} must be an array"))),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(item) = item else {
            return Err(invalid(field, format!("{field} entries must be objects")));
        };
        no_unknown(item, &keys, field)?;
        let mut m = Map::new();
        m.insert(keys[0].into(), json!(req_str(item, keys[0], field)?));
        if let Some(v) = opt_str(item, keys[1], field)? {
            m.insert(keys[1].into(), json!(v));
        }
        out.push(Value::Object(m));
    }
    Ok(Some(Value::Array(out)))
}

fn valid_locale(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[..2].iter().all(u8::is_ascii_lowercase)
        && b[2] == b'_'
        && b[3..].iter().all(u8::is_ascii_uppercase)
}

/// Refuses members of `o` not in `known` (400 `Invalid`, `field` = the
/// top-level member they sit in).
fn no_unknown(o: &Map<String, Value>, known: &[&str], field: &str) -> Result<(), Fault> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) if field == "person" => Err(invalid(k, format!("unknown member {k}"))),
        Some(k) => Err(invalid(field, format!("unknown member {field}.{k}"))),
        None => Ok(()),
    }
}

/// Validates a person (unknown members refused) and keeps its writable
/// members (the read-only ones are dropped).
fn normalize_person(o: &Map<String, Value>) -> Result<Map<String, Value>, Fault> {
    no_unknown(
        o,
        &[
            "handle",
            "names",
            "fullName",
            "employeeNo",
            "unit",
            "costCentre",
            "manager",
            "archived",
            "source",
            "locale",
            "addresses",
            "phones",
            "disabled",
            "uuid",
            "createdEpoch",
            "modifiedMillis",
        ],
        "person",
    )?;
    let mut out = Map::new();
    out.insert("handle".into(), json!(req_str(o, "handle", "handle")?));
    match o.get("names") {
        None | Some(Value::Null) => {}
        Some(Value::Object(n)) => {
            no_unknown(n, &["first", "last"], "names")?;
            let mut names = Map::new();
            for k in ["first", "last"] {
                if let Some(v) = opt_str(n, k, "names")? {
                    names.insert(k.into(), json!(v));
                }
            }
            out.insert("names".into(), Value::Object(names));
        }
        Some(_) => return Err(invalid("names", "names must be an object")),
    }
    for k in [
        "fullName",
        "employeeNo",
        "unit",
        "costCentre",
        "manager",
        "source",
    ] {
        if let Some(v) = opt_str(o, k, k)? {
            out.insert(k.into(), json!(v));
        }
    }
    if let Some(l) = opt_str(o, "locale", "locale")? {
        if !valid_locale(&l) {
            return Err(invalid("locale", "locale must look like en_US"));
        }
        out.insert("locale".into(), json!(l));
    }
    if let Some(a) = obj_array(o, "addresses", ["email", "kind"])? {
        out.insert("addresses".into(), a);
    }
    if let Some(p) = obj_array(o, "phones", ["number", "label"])? {
        out.insert("phones".into(), p);
    }
    let disabled = match o.get("disabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("disabled", "disabled must be a boolean")),
    };
    out.insert("disabled".into(), json!(disabled));
    match o.get("archived") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => {
            out.insert("archived".into(), json!(b));
        }
        Some(_) => return Err(invalid("archived", "archived must be a boolean")),
    }
    Ok(out)
}

fn normalize_circle(st: &Store, o: &Map<String, Value>) -> Result<Map<String, Value>, Fault> {
    let mut out = Map::new();
    out.insert("title".into(), json!(req_str(o, "title", "title")?));
    if let Some(n) = opt_str(o, "note", "note")? {
        out.insert("note".into(), json!(n));
    }
    let mut members: Vec<String> = Vec::new();
    match o.get("members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for m in a {
                let Some(id) = m.get("uuid").and_then(Value::as_str) else {
                    return Err(invalid(
                        "members",
                        "members entries must be {\"uuid\":\"...\"}",
                    ));
                };
                if !st.people.iter().any(|p| p.uuid == id) {
                    return Err(invalid("members", format!("unknown member {id}")));
                }
                if !members.iter().any(|x| x == id) {
                    members.push(id.to_string());
                }
            }
        }
        Some(_) => return Err(invalid("members", "members must be an array")),
    }
    let members: Vec<Value> = members
        .into_iter()
        .map(|id| json!({ "uuid": id }))
        .collect();
    out.insert("members".into(), Value::Array(members));
    Ok(out)
}
