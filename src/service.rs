//! The SCIM operations of one resource type, executed against the backend
//! through the compiled mapping. No HTTP framing here: the server parses the
//! request, calls one of these, and renders the result.

use crate::backend::{translate_error, BackendClient, BackendResponse, Call};
use crate::config::Settings;
use crate::mapping::plan::member_ids;
use crate::mapping::plan::{
    encode_segment, scalar_key, unquote_etag, OpPlan, Paging, PathPart, ResourcePlan, WriteMode,
};
use crate::scim::discovery::list_response;
use crate::scim::error::ScimError;
use crate::scim::filter::{eq_assignments, matches, CompareOp, Filter};
use crate::scim::patch::{apply_patch, parse_patch, OpKind, PatchError, PatchOp};
use crate::scim::query::Projection;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use tracing::debug;

impl From<PatchError> for ScimError {
    fn from(e: PatchError) -> ScimError {
        ScimError::bad_request(e.scim_type, e.detail)
    }
}

/// A backend record with the ETag it was read with.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub record: Value,
    pub etag: Option<String>,
}

/// A SCIM search, parsed.
#[derive(Debug, Default)]
pub struct SearchQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: Option<usize>,
    pub projection: Projection,
}

/// Serializes the read-modify-write cycles (PATCH, PUT) of one resource within
/// this bridge process. Without it, N concurrent PATCHes of one user all read
/// the same version and race on the backend's version check, where only one
/// wins per round; with a bounded number of retries the others fail although
/// nothing but the bridge itself was writing. Writers outside this process are
/// still handled by the version-conflict retries.
#[derive(Debug, Default)]
pub struct WriteLocks {
    /// Weak entries: a lock lives as long as someone holds or awaits it.
    map: std::sync::Mutex<HashMap<LockKey, Weak<tokio::sync::Mutex<()>>>>,
}

/// (resource type, id).
type LockKey = (String, String);

impl WriteLocks {
    /// Waits for exclusive write access to `id` of resource type `resource`.
    pub async fn lock(&self, resource: &str, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            let key = (resource.to_string(), id.to_string());
            match map.get(&key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    // Forget locks nobody holds any more: the map stays as
                    // small as the number of resources being written.
                    map.retain(|_, w| w.strong_count() > 0);
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key, Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }
}

/// One request's view of a resource type.
pub struct ResourceCtx<'a> {
    pub res: &'a ResourcePlan,
    /// The whole plan (group members are checked against the member resource type).
    pub plan: &'a crate::mapping::Plan,
    pub client: &'a BackendClient,
    pub write_locks: &'a WriteLocks,
    pub settings: &'a Settings,
    /// Public SCIM base URL for `meta.location` (`https://host/scim/v2`).
    pub base_url: &'a str,
    pub request_id: Option<&'a str>,
}

/// What the PATCH/PUT write loop needs to know about a failed write.
enum WriteOutcome {
    Done(Fetched),
    Conflict,
}

impl ResourceCtx<'_> {
    fn what(&self, id: &str) -> String {
        format!("{} {id}", self.res.name)
    }

    /// `405` for a SCIM method whose backend operation the mapping leaves out.
    fn unsupported(&self, verb: &str) -> ScimError {
        ScimError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            format!("{} cannot be {verb} through this bridge", self.res.name),
        )
    }

    fn not_found(&self, id: &str) -> ScimError {
        ScimError::not_found(format!("{} not found", self.what(id)))
    }

    fn render_path(op: &OpPlan, id: Option<&str>, member: Option<&str>) -> String {
        let mut s = String::with_capacity(64);
        for p in &op.path {
            match p {
                PathPart::Lit(l) => s.push_str(l),
                PathPart::Id => s.push_str(&encode_segment(id.unwrap_or_default())),
                PathPart::Member => s.push_str(&encode_segment(member.unwrap_or_default())),
            }
        }
        if !op.query.is_empty() {
            s.push('?');
            s.push_str(&op.query);
        }
        s
    }

    fn body_bytes(op: &OpPlan, mut record: Value) -> Bytes {
        for f in &op.omit {
            f.remove(&mut record);
        }
        let body = match &op.wrap {
            Some(w) => {
                let mut m = Map::with_capacity(1);
                m.insert(w.clone(), record);
                Value::Object(m)
            }
            None => record,
        };
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }

    async fn call(
        &self,
        op: &OpPlan,
        id: Option<&str>,
        member: Option<&str>,
        body: Option<Bytes>,
        if_match: Option<&str>,
    ) -> Result<BackendResponse, ScimError> {
        let mut headers: Vec<(HeaderName, HeaderValue)> = op.headers.clone();
        if let Some(m) = if_match.and_then(|m| HeaderValue::from_str(m).ok()) {
            headers.push((http::header::IF_MATCH, m));
        }
        let call = Call {
            op: op.name,
            method: op.method.clone(),
            path_and_query: Self::render_path(op, id, member),
            headers: &headers,
            body: body.map(|b| (op.content_type.clone(), b)),
            request_id: self.request_id,
        };
        Ok(self.client.send(&self.res.backend, call).await?)
    }

    fn record_from(&self, op: &OpPlan, resp: &BackendResponse) -> Result<Fetched, ScimError> {
        let json = resp.json().ok_or_else(|| {
            tracing::warn!(
                status = resp.status.as_u16(),
                "backend answered without a JSON body where a record was expected"
            );
            ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                "the backend answered without the resource",
            )
        })?;
        let record = op.item.take(json).filter(Value::is_object).ok_or_else(|| {
            tracing::warn!("backend answer has no record at the mapping's `item` path");
            ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                "the backend answer does not contain the resource",
            )
        })?;
        Ok(Fetched {
            record,
            etag: resp.etag().map(str::to_string),
        })
    }

    /// GET one backend record; ids that cannot exist are 404 without a call.
    pub async fn fetch(&self, id: &str) -> Result<Fetched, ScimError> {
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let op = &self.res.ops.get;
        let resp = self.call(op, Some(id), None, None, None).await?;
        if !resp.status.is_success() {
            return Err(translate_error(&self.res.backend, &resp, &self.what(id)));
        }
        self.record_from(op, &resp)
    }

    pub fn render(&self, f: &Fetched, projection: &Projection) -> Value {
        let with_members = self
            .res
            .members_attr
            .is_none_or(|i| projection.wants(&self.res.attributes[i].target.name));
        let scim = self
            .res
            .to_scim(&f.record, f.etag.as_deref(), self.base_url, with_members);
        projection.apply(&self.res.schema, scim)
    }

    /// The version string a client's `If-Match` is compared with.
    pub fn version(&self, f: &Fetched) -> Option<String> {
        self.res.version_of(&f.record, f.etag.as_deref())
    }

    fn check_if_match(&self, if_match: Option<&str>, current: &Fetched) -> Result<(), ScimError> {
        let Some(want) = if_match else { return Ok(()) };
        if want.trim() == "*" {
            return Ok(());
        }
        let have = self.version(current);
        let ok = want
            .split(',')
            .any(|w| have.as_deref().is_some_and(|h| unquote_etag(w) == h));
        if ok {
            Ok(())
        } else {
            Err(ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "If-Match does not match the resource's current version",
            ))
        }
    }

    pub async fn get(
        &self,
        id: &str,
        projection: &Projection,
    ) -> Result<(Value, Option<String>), ScimError> {
        let f = self.fetch(id).await?;
        Ok((self.render(&f, projection), self.version(&f)))
    }

    pub async fn create(&self, body: &Value) -> Result<(Value, Option<String>), ScimError> {
        self.check_unmapped(body)?;
        let op = self
            .res
            .ops
            .create
            .as_ref()
            .ok_or_else(|| self.unsupported("created"))?;
        let record = self.res.to_backend(body, None, WriteMode::Create)?;
        if let Some(mi) = self.res.members_attr {
            self.check_members_exist(&member_ids(body, &self.res.attributes[mi].target.name))
                .await?;
        }
        let resp = self
            .call(op, None, None, Some(Self::body_bytes(op, record)), None)
            .await?;
        if !resp.status.is_success() {
            return Err(translate_error(&self.res.backend, &resp, &self.res.name));
        }
        let f = self.record_from(op, &resp)?;
        Ok((self.render(&f, &Projection::default()), self.version(&f)))
    }

    pub async fn delete(&self, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
        let op = self
            .res
            .ops
            .delete
            .as_ref()
            .ok_or_else(|| self.unsupported("deleted"))?;
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let mut backend_if_match = None;
        if if_match.is_some() {
            let cur = self.fetch(id).await?;
            self.check_if_match(if_match, &cur)?;
            backend_if_match = cur.etag.clone();
        }
        let resp = self
            .call(op, Some(id), None, None, backend_if_match.as_deref())
            .await?;
        if resp.status.is_success() {
            Ok(())
        } else if self.is_conflict(&resp) {
            Err(ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "the resource changed since it was read",
            ))
        } else {
            Err(translate_error(&self.res.backend, &resp, &self.what(id)))
        }
    }

    fn check_unmapped(&self, body: &Value) -> Result<(), ScimError> {
        let unmapped = self.res.unmapped_attributes(body);
        if unmapped.is_empty() {
            return Ok(());
        }
        if self.res.strict {
            return Err(ScimError::invalid_value(format!(
                "attribute(s) not supported by this backend: {}",
                unmapped.join(", ")
            )));
        }
        debug!(resource = %self.res.name, attributes = ?unmapped, "ignoring unmapped attributes");
        Ok(())
    }

    fn is_conflict(&self, resp: &BackendResponse) -> bool {
        if resp.status.as_u16() != self.res.conflict_status {
            return false;
        }
        match &self.res.conflict_code {
            None => true,
            Some(want) => {
                crate::backend::error_code(&self.res.backend, resp.json().as_ref()).as_deref()
                    == Some(want)
            }
        }
    }

    /// Writes `new` over `old` the way the mapping says (full replace with the
    /// version in the body, or a merge patch with `If-Match`).
    async fn write_back(
        &self,
        id: &str,
        old: &Fetched,
        new: Value,
    ) -> Result<WriteOutcome, ScimError> {
        use crate::mapping::model::UpdateStyle;
        let (op, body) = match self.res.update {
            UpdateStyle::Replace => {
                let op = self
                    .res
                    .ops
                    .replace
                    .as_ref()
                    .ok_or_else(|| self.unsupported("modified"))?;
                (op, Self::body_bytes(op, new))
            }
            UpdateStyle::MergePatch => {
                let op = self
                    .res
                    .ops
                    .patch
                    .as_ref()
                    .ok_or_else(|| self.unsupported("modified"))?;
                (op, Self::body_bytes(op, merge_diff(&old.record, &new)))
            }
        };
        let if_match = if self.res.version.as_ref().is_some_and(|v| v.etag) {
            old.etag.as_deref()
        } else {
            None
        };
        let resp = self.call(op, Some(id), None, Some(body), if_match).await?;
        if resp.status.is_success() {
            if resp.body.is_empty() {
                return Ok(WriteOutcome::Done(self.fetch(id).await?));
            }
            return Ok(WriteOutcome::Done(self.record_from(op, &resp)?));
        }
        if self.is_conflict(&resp) {
            return Ok(WriteOutcome::Conflict);
        }
        Err(translate_error(&self.res.backend, &resp, &self.what(id)))
    }

    /// Read → change the SCIM view → map back over the record → write with the
    /// version read; on a version conflict re-read and re-apply (bounded).
    async fn read_modify_write<F>(
        &self,
        id: &str,
        if_match: Option<&str>,
        members: bool,
        mut change: F,
    ) -> Result<(Value, Option<String>), ScimError>
    where
        F: FnMut(&Fetched, Value) -> Result<Value, ScimError>,
    {
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let _serialized = self.write_locks.lock(&self.res.name, id).await;
        let attempts = self.settings.conflict_retries + 1;
        for attempt in 0..attempts {
            let cur = self.fetch(id).await?;
            self.check_if_match(if_match, &cur)?;
            let scim = self
                .res
                .to_scim(&cur.record, cur.etag.as_deref(), self.base_url, members);
            let changed = change(&cur, scim.clone())?;
            if members {
                if let Some(mi) = self.res.members_attr {
                    let name = &self.res.attributes[mi].target.name;
                    let before: std::collections::HashSet<String> =
                        member_ids(&scim, name).into_iter().collect();
                    let added: Vec<String> = member_ids(&changed, name)
                        .into_iter()
                        .filter(|m| !before.contains(m))
                        .collect();
                    self.check_members_exist(&added).await?;
                }
            }
            let new = self.res.to_backend_opts(
                &changed,
                Some(&cur.record),
                WriteMode::Replace,
                members,
            )?;
            if new == cur.record {
                debug!(resource = %self.res.name, "no change; nothing written");
                return Ok((
                    self.render(&cur, &Projection::default()),
                    self.version(&cur),
                ));
            }
            match self.write_back(id, &cur, new).await? {
                WriteOutcome::Done(f) => {
                    return Ok((self.render(&f, &Projection::default()), self.version(&f)))
                }
                WriteOutcome::Conflict if if_match.is_some() => {
                    return Err(ScimError::new(
                        StatusCode::PRECONDITION_FAILED,
                        None,
                        "the resource changed since the version given in If-Match",
                    ));
                }
                WriteOutcome::Conflict => {
                    debug!(resource = %self.res.name, attempt, "version conflict; re-reading");
                    // Random, so writers that collided (other replicas
                    // too) do not retry in lock-step.
                    let spread = (40 * (attempt as u64 + 1)).min(200);
                    let backoff = 5 + crate::backend::random_below(spread + 1);
                    tokio::time::sleep(std::time::Duration::from_millis(backoff)).await;
                }
            }
        }
        Err(ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "too many concurrent updates of this resource; retry",
        )
        .with_retry_after(Some(1)))
    }

    pub async fn replace(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), ScimError> {
        self.check_unmapped(body)?;
        if let Some(bid) = body.get("id").and_then(Value::as_str) {
            if bid != id {
                return Err(ScimError::bad_request(
                    "mutability",
                    format!("id {bid:?} in the body does not match the URL"),
                ));
            }
        }
        self.read_modify_write(id, if_match, true, |_, _| Ok(body.clone()))
            .await
    }

    pub async fn patch(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), ScimError> {
        let ops = parse_patch(body)?;
        if let (Some(mi), Some(_), Some(_)) = (
            self.res.members_attr,
            &self.res.ops.add_member,
            &self.res.ops.remove_member,
        ) {
            let (member_ops, other_ops) =
                split_member_ops(&ops, &self.res.attributes[mi].target.name);
            if !member_ops.is_empty() {
                return self
                    .patch_membership(id, &member_ops, &other_ops, if_match)
                    .await;
            }
        }
        let res = self.res;
        self.read_modify_write(id, if_match, true, |_, mut scim| {
            apply_patch(&mut scim, &ops, res)?;
            // RFC 7644 §3.5.2.2: a required attribute may not become unassigned.
            if let Some(a) = res
                .attributes
                .iter()
                .find(|a| a.required && a.default.is_none() && a.target.extract(&scim).is_none())
            {
                return Err(ScimError::bad_request(
                    "mutability",
                    format!(
                        "attribute '{}' is required and cannot be removed",
                        a.scim_text
                    ),
                ));
            }
            Ok(scim)
        })
        .await
    }

    /// PATCH of a group whose backend has membership endpoints: member
    /// changes become one call per member (never a rewrite of a large list);
    /// other attributes go through the version-checked replace. All member ids
    /// are checked before the first call; a failure part-way undoes the calls
    /// already made (RFC 7644 §3.5.2: a PATCH is atomic).
    async fn patch_membership(
        &self,
        id: &str,
        member_ops: &[PatchOp],
        other_ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), ScimError> {
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let mi = self.res.members_attr.expect("checked by caller");
        let attr = &self.res.attributes[mi];
        let mp = attr.members.as_ref().expect("members attribute");
        let cur = self.fetch(id).await?;
        self.check_if_match(if_match, &cur)?;
        let current: Vec<String> = match &attr.read {
            Some(crate::mapping::plan::ReadSource::Expr(e)) => e
                .first(&cur.record)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|el| mp.id_of(el)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let (to_add, to_remove) = member_delta(&current, member_ops, &attr.target.name, self.res)?;
        self.check_members_exist(&to_add).await?;
        debug!(resource = %self.res.name, add = to_add.len(), remove = to_remove.len(), "membership calls");
        let mut done: Vec<(bool, String)> = Vec::new();
        let mut failure = None;
        for (adding, list) in [(true, &to_add), (false, &to_remove)] {
            if failure.is_some() {
                break;
            }
            let results = self.membership_calls(id, adding, list).await;
            for (m, r) in results {
                match r {
                    Ok(()) => done.push((adding, m)),
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
        }
        if failure.is_none() && !other_ops.is_empty() {
            let res = self.res;
            if let Err(e) = self
                .read_modify_write(id, None, false, |_, mut scim| {
                    apply_patch(&mut scim, other_ops, res)?;
                    Ok(scim)
                })
                .await
            {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            return Err(self.undo_membership(id, done, e).await);
        }
        let f = self.fetch(id).await?;
        Ok((self.render(&f, &Projection::default()), self.version(&f)))
    }

    /// Runs add/remove member calls, a few at a time; returns each member's result.
    async fn membership_calls(
        &self,
        id: &str,
        adding: bool,
        members: &[String],
    ) -> Vec<(String, Result<(), ScimError>)> {
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
            .map(|m| self.member_call(op, id, m.clone(), adding))
            .collect();
        stream::iter(futs).buffer_unordered(8).collect().await
    }

    async fn member_call(
        &self,
        op: &OpPlan,
        id: &str,
        m: String,
        adding: bool,
    ) -> (String, Result<(), ScimError>) {
        let body = op.body.as_ref().map(|b| {
            let typed = self.member_json(&m);
            Bytes::from(serde_json::to_vec(&render_body(b, &m, &typed)).unwrap_or_default())
        });
        let r = match self.call(op, Some(id), Some(&m), body, None).await {
            Ok(resp) if resp.status.is_success() => Ok(()),
            Ok(resp) => {
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
            Err(e) => Err(e),
        };
        (m, r)
    }

    /// Whether a membership call's 404 is about the member rather than the group.
    fn member_missing(&self, resp: &BackendResponse) -> bool {
        let code =
            crate::backend::error_code(&self.res.backend, resp.json().as_ref()).unwrap_or_default();
        !code.is_empty()
            && !code.to_ascii_uppercase().contains("TEAM")
            && !code.to_ascii_uppercase().contains("GROUP")
    }

    fn member_json(&self, id: &str) -> Value {
        let mp = self
            .res
            .members_attr
            .and_then(|i| self.res.attributes[i].members.as_ref());
        match mp.map(|m| m.id_type) {
            Some(crate::mapping::model::IdKind::Integer) => id
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(id.into())),
            _ => Value::String(id.into()),
        }
    }

    async fn undo_membership(
        &self,
        id: &str,
        done: Vec<(bool, String)>,
        cause: ScimError,
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
        for (m, r) in self.membership_calls(id, false, &adds).await {
            if r.is_err() {
                left.push(format!("added {m}"));
            }
        }
        for (m, r) in self.membership_calls(id, true, &removes).await {
            if r.is_err() {
                left.push(format!("removed {m}"));
            }
        }
        if left.is_empty() {
            cause
        } else {
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

    /// Checks that every id names an existing member resource (one read each,
    /// a few at a time), so a bad id fails before anything is written.
    async fn check_members_exist(&self, ids: &[String]) -> Result<(), ScimError> {
        use futures_util::stream::{self, StreamExt};
        if ids.is_empty() {
            return Ok(());
        }
        let Some(mp) = self
            .res
            .members_attr
            .and_then(|i| self.res.attributes[i].members.as_ref())
        else {
            return Ok(());
        };
        let Some(target) = self.plan.by_endpoint(mp.resource.trim_start_matches('/')) else {
            return Ok(());
        };
        let ctx = ResourceCtx {
            res: target,
            ..*self
        };
        let futs: Vec<_> = ids.iter().map(|m| member_exists(&ctx, m.clone())).collect();
        let results: Vec<Result<(), ScimError>> =
            stream::iter(futs).buffer_unordered(8).collect().await;
        results.into_iter().collect()
    }

    // === search ===

    /// `/readyz`'s backend probe: the list operation for one item.
    pub async fn probe(&self) -> Result<(), ScimError> {
        self.list_page(&[], 0, 1).await.map(|_| ())
    }

    async fn list_page(
        &self,
        params: &[(String, String)],
        offset: usize,
        size: usize,
    ) -> Result<(Vec<Value>, Option<usize>), ScimError> {
        let list = &self.res.ops.list;
        let mut q = list.query.clone();
        let mut push = |k: &str, v: &str| {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&encode_segment(k));
            q.push('=');
            q.push_str(&encode_segment(v));
        };
        match &list.paging {
            Paging::Page {
                page_param,
                size_param,
                ..
            } => {
                push(page_param, &(offset / size.max(1) + 1).to_string());
                push(size_param, &size.to_string());
            }
            Paging::Offset {
                offset_param,
                limit_param,
                ..
            } => {
                push(offset_param, &offset.to_string());
                push(limit_param, &size.to_string());
            }
        }
        for (k, v) in params {
            push(k, v);
        }
        let path = format!("{}?{q}", list.path);
        let call = Call {
            op: "list",
            method: list.method.clone(),
            path_and_query: path,
            headers: &list.headers,
            body: None,
            request_id: self.request_id,
        };
        let resp = self.client.send(&self.res.backend, call).await?;
        if !resp.status.is_success() {
            return Err(translate_error(&self.res.backend, &resp, &self.res.name));
        }
        let json = resp.json().ok_or_else(|| {
            ScimError::new(
                StatusCode::BAD_GATEWAY,
                None,
                "the backend list answer is not JSON",
            )
        })?;
        let items: Vec<Value> = list.items.select(&json).into_iter().cloned().collect();
        let total = list
            .total
            .first(&json)
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .map(|n| n as usize);
        Ok((items, total))
    }

    /// Backend records `[start, start+count)` (0-based), unfiltered but for `params`.
    async fn list_range(
        &self,
        params: &[(String, String)],
        start: usize,
        count: usize,
    ) -> Result<(Vec<Value>, Option<usize>), ScimError> {
        let max = self.res.ops.list.paging.max();
        if count == 0 {
            let (_, total) = self.list_page(params, 0, 1).await?;
            return Ok((Vec::new(), total));
        }
        let aligned = match self.res.ops.list.paging {
            Paging::Page { .. } => count <= max && start % count == 0,
            Paging::Offset { .. } => true,
        };
        let size = if aligned { count.min(max) } else { max };
        let mut offset = match self.res.ops.list.paging {
            Paging::Page { .. } => start / size * size,
            Paging::Offset { .. } => start,
        };
        let mut out = Vec::with_capacity(count.min(1000));
        let mut total = None;
        loop {
            let (items, t) = self.list_page(params, offset, size).await?;
            total = t.or(total);
            let n = items.len();
            for (i, it) in items.into_iter().enumerate() {
                let idx = offset + i;
                if idx >= start && out.len() < count {
                    out.push(it);
                }
            }
            offset += size;
            if out.len() >= count || n < size || n == 0 || total.is_some_and(|t| offset >= t) {
                break;
            }
        }
        Ok((out, total))
    }

    pub async fn search(&self, q: &SearchQuery) -> Result<Value, ScimError> {
        let start_index = q.start_index.max(1);
        let count = q
            .count
            .unwrap_or(self.settings.default_count)
            .min(self.settings.max_count);
        let Some(filter) = &q.filter else {
            let (records, total) = self.list_range(&[], start_index - 1, count).await?;
            let resources: Vec<Value> = records
                .into_iter()
                .map(|r| {
                    self.render(
                        &Fetched {
                            record: r,
                            etag: None,
                        },
                        &q.projection,
                    )
                })
                .collect();
            let total = total.unwrap_or(start_index - 1 + resources.len());
            return Ok(list_response(resources, total, start_index));
        };
        let pd = pushdown(self.res, filter);
        debug!(resource = %self.res.name, params = pd.params.len(), fully = pd.fully_pushed, id = pd.id.is_some(), "filter pushdown");
        if pd.impossible {
            return Ok(list_response(Vec::new(), 0, start_index));
        }
        let mut matched: Vec<Value> = Vec::new();
        let mut total = 0usize;
        let keep = |scim: Value, total: &mut usize, matched: &mut Vec<Value>| {
            if matches(filter, &scim, self.res) {
                *total += 1;
                if *total >= start_index && matched.len() < count {
                    matched.push(q.projection.apply(&self.res.schema, scim));
                }
            }
        };
        let with_members = self.res.members_attr.is_none_or(|i| {
            q.projection.wants(&self.res.attributes[i].target.name)
                || filter_mentions(filter, &self.res.attributes[i].target.name)
        });
        if let Some(id) = &pd.id {
            match self.fetch(id).await {
                Ok(f) => keep(
                    self.res
                        .to_scim(&f.record, f.etag.as_deref(), self.base_url, with_members),
                    &mut total,
                    &mut matched,
                ),
                Err(e) if e.status == StatusCode::NOT_FOUND => {}
                Err(e) => return Err(e),
            }
            return Ok(list_response(matched, total, start_index));
        }
        let max = self.res.ops.list.paging.max();
        let (first, backend_total) = self.list_page(&pd.params, 0, max).await?;
        if let Some(t) = backend_total.filter(|t| *t > self.res.scan_limit) {
            if !pd.fully_pushed {
                return Err(ScimError::bad_request(
                    "tooMany",
                    format!(
                        "the filter cannot be answered by the backend alone and would scan {t} records (limit {}); narrow it with attributes the backend can filter on",
                        self.res.scan_limit
                    ),
                ));
            }
            // Fully pushed down but large: page through the backend's answer and re-check each record.
            let (records, total) = self.list_range(&pd.params, start_index - 1, count).await?;
            let resources: Vec<Value> = records
                .into_iter()
                .map(|r| self.res.to_scim(&r, None, self.base_url, with_members))
                .filter(|s| matches(filter, s, self.res))
                .map(|s| q.projection.apply(&self.res.schema, s))
                .collect();
            return Ok(list_response(resources, total.unwrap_or(t), start_index));
        }
        let mut offset = 0;
        let mut page = first;
        let mut scanned = 0usize;
        loop {
            let n = page.len();
            scanned += n;
            for r in page {
                keep(
                    self.res.to_scim(&r, None, self.base_url, with_members),
                    &mut total,
                    &mut matched,
                );
            }
            offset += max;
            if n < max || n == 0 || backend_total.is_some_and(|t| offset >= t) {
                break;
            }
            if scanned >= self.res.scan_limit {
                return Err(ScimError::bad_request(
                    "tooMany",
                    format!(
                        "the filter would scan more than {} records",
                        self.res.scan_limit
                    ),
                ));
            }
            page = self.list_page(&pd.params, offset, max).await?.0;
        }
        Ok(list_response(matched, total, start_index))
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

/// Splits PATCH operations into those touching `members` and the rest
/// (a path-less value object is split key by key).
fn split_member_ops(ops: &[PatchOp], members: &str) -> (Vec<PatchOp>, Vec<PatchOp>) {
    let (mut m, mut other) = (Vec::new(), Vec::new());
    for op in ops {
        match &op.path {
            Some(p) if p.attr.name.eq_ignore_ascii_case(members) && p.attr.urn.is_none() => {
                m.push(op.clone())
            }
            Some(_) => other.push(op.clone()),
            None => match &op.value {
                Some(Value::Object(obj)) if obj.keys().any(|k| k.eq_ignore_ascii_case(members)) => {
                    let mut rest = obj.clone();
                    let key = obj
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(members))
                        .cloned()
                        .unwrap_or_default();
                    let v = rest.remove(&key);
                    m.push(PatchOp {
                        op: op.op,
                        path: crate::scim::filter::parse_patch_path(members).ok(),
                        value: v,
                    });
                    if !rest.is_empty() {
                        other.push(PatchOp {
                            op: op.op,
                            path: None,
                            value: Some(Value::Object(rest)),
                        });
                    }
                }
                _ => other.push(op.clone()),
            },
        }
    }
    (m, other)
}

/// Applies member operations to the current member list; returns (to add, to remove).
fn member_delta(
    current: &[String],
    ops: &[PatchOp],
    name: &str,
    schema: &ResourcePlan,
) -> Result<(Vec<String>, Vec<String>), ScimError> {
    use std::collections::HashSet;
    let mut set: Vec<String> = current.to_vec();
    let mut present: HashSet<String> = current.iter().cloned().collect();
    let values = |v: &Option<Value>| -> Result<Vec<String>, ScimError> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    crate::mapping::plan::member_value(x)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            ScimError::invalid_value(format!(
                                "{name}: each member needs a \"value\""
                            ))
                        })
                })
                .collect(),
            Some(x) => crate::mapping::plan::member_value(x)
                .map(|s| vec![s.to_string()])
                .ok_or_else(|| {
                    ScimError::invalid_value(format!("{name}: each member needs a \"value\""))
                }),
        }
    };
    for (i, op) in ops.iter().enumerate() {
        let p = op.path.as_ref().expect("member ops have a path");
        if p.attr.sub.is_some() || p.value_sub.is_some() {
            return Err(ScimError::bad_request(
                "invalidPath",
                format!(
                    "operation {}: sub-attributes of {name} cannot be changed",
                    i + 1
                ),
            ));
        }
        match (op.op, &p.filter) {
            (OpKind::Add, None) => {
                for m in values(&op.value)? {
                    if present.insert(m.clone()) {
                        set.push(m);
                    }
                }
            }
            (OpKind::Replace, None) => {
                let new = values(&op.value)?;
                present = new.iter().cloned().collect();
                set = Vec::with_capacity(new.len());
                let mut seen = HashSet::new();
                for m in new {
                    if seen.insert(m.clone()) {
                        set.push(m);
                    }
                }
            }
            (OpKind::Remove, None) => match &op.value {
                None | Some(Value::Null) => {
                    set.clear();
                    present.clear();
                }
                v => {
                    let gone: HashSet<String> = values(v)?.into_iter().collect();
                    set.retain(|m| !gone.contains(m));
                    present.retain(|m| !gone.contains(m));
                }
            },
            (OpKind::Remove, Some(f)) => {
                let gone: HashSet<String> = set
                    .iter()
                    .filter(|m| matches(f, &serde_json::json!({"value": m, "type": "User"}), schema))
                    .cloned()
                    .collect();
                set.retain(|m| !gone.contains(m));
                present.retain(|m| !gone.contains(m));
            }
            (_, Some(_)) => {
                return Err(ScimError::bad_request(
                    "invalidPath",
                    format!("operation {}: add/replace with a filter on {name} is not supported; add or remove members by value", i + 1),
                ))
            }
        }
    }
    let before: HashSet<&String> = current.iter().collect();
    let to_add = set
        .iter()
        .filter(|m| !before.contains(m))
        .cloned()
        .collect();
    let to_remove = current
        .iter()
        .filter(|m| !present.contains(*m))
        .cloned()
        .collect();
    Ok((to_add, to_remove))
}

/// Fills a membership body template: a string exactly `{member}` becomes the
/// typed member id; `{member}` inside a longer string is substituted as text.
fn render_body(template: &Value, member: &str, typed: &Value) -> Value {
    match template {
        Value::String(s) if s == "{member}" => typed.clone(),
        Value::String(s) => Value::String(s.replace("{member}", member)),
        Value::Array(a) => Value::Array(a.iter().map(|v| render_body(v, member, typed)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), render_body(v, member, typed)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A query at the server root (RFC 7644 §3.4.2, §3.4.3): every resource
/// type's results, one type after the other, paged as one list. Attributes a
/// type does not have simply match nothing there.
pub async fn search_all(ctxs: &[ResourceCtx<'_>], q: &SearchQuery) -> Result<Value, ScimError> {
    let start_index = q.start_index.max(1);
    let Some(first) = ctxs.first() else {
        return Ok(list_response(Vec::new(), 0, start_index));
    };
    let mut remaining = q
        .count
        .unwrap_or(first.settings.default_count)
        .min(first.settings.max_count);
    // 0-based position of the first wanted result in the whole list.
    let skip = start_index - 1;
    let mut before = 0usize; // results of the types already searched
    let mut resources = Vec::new();
    for ctx in ctxs {
        let part = ctx
            .search(&SearchQuery {
                filter: q.filter.clone(),
                start_index: skip.saturating_sub(before) + 1,
                count: Some(remaining),
                projection: q.projection.clone(),
            })
            .await?;
        before += part["totalResults"].as_u64().unwrap_or(0) as usize;
        if let Value::Array(items) = &part["Resources"] {
            remaining = remaining.saturating_sub(items.len());
            resources.extend(items.iter().cloned());
        }
    }
    Ok(list_response(resources, before, start_index))
}

fn filter_mentions(f: &Filter, name: &str) -> bool {
    match f {
        Filter::Present(p) | Filter::Compare(p, _, _) | Filter::ValuePath(p, _) => {
            p.name.eq_ignore_ascii_case(name)
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            filter_mentions(a, name) || filter_mentions(b, name)
        }
        Filter::Not(a) => filter_mentions(a, name),
    }
}

/// What part of a filter the backend can answer.
#[derive(Debug, Default)]
pub struct Pushdown {
    /// Backend query parameters (already transformed to backend values).
    pub params: Vec<(String, String)>,
    /// `id eq "…"`: answer with the get operation.
    pub id: Option<String>,
    /// No record can match (e.g. an id that cannot exist): no backend call at all.
    pub impossible: bool,
    /// Every term was pushed: the backend's total can be trusted for large results.
    pub fully_pushed: bool,
}

fn conjuncts<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
    match f {
        Filter::And(a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        other => out.push(other),
    }
}

/// Splits a filter into what the backend can answer (pushed) and what the
/// bridge re-checks. It never widens: terms it cannot push stay in the
/// bridge-side check, which always evaluates the whole filter.
pub fn pushdown(res: &ResourcePlan, filter: &Filter) -> Pushdown {
    let mut terms = Vec::new();
    conjuncts(filter, &mut terms);
    let mut pd = Pushdown {
        fully_pushed: true,
        ..Default::default()
    };
    for t in terms {
        let pushed = match t {
            Filter::Compare(p, CompareOp::Eq, v)
                if p.sub.is_none()
                    && p.name.eq_ignore_ascii_case("id")
                    && p.urn
                        .as_deref()
                        .is_none_or(|u| u.eq_ignore_ascii_case(&res.schema)) =>
            {
                let text = scalar_key(v).unwrap_or_default();
                match (&pd.id, res.check_id(&text)) {
                    (_, None) => pd.impossible = true,
                    (Some(prev), Some(_)) if *prev != text => pd.impossible = true,
                    _ => pd.id = Some(text),
                }
                true
            }
            Filter::Compare(p, CompareOp::Eq, v) => push_term(
                res,
                &mut pd,
                |a| {
                    a.target.selector.is_empty()
                        && a.target.name.eq_ignore_ascii_case(&p.name)
                        && opt_eq(a.target.sub.as_deref(), p.sub.as_deref())
                        && urn_eq(res, a.target.urn.as_deref(), p.urn.as_deref())
                },
                v,
            ),
            Filter::ValuePath(p, inner) => {
                let eqs = eq_assignments(inner);
                let mut pushed = false;
                for (sub_path, value) in &eqs {
                    let sub = sub_path.name.as_str();
                    let rest: Vec<_> = eqs.iter().filter(|(sp, _)| sp.name != sub).collect();
                    let hit = push_term(
                        res,
                        &mut pd,
                        |a| {
                            !a.target.selector.is_empty()
                                && a.target.name.eq_ignore_ascii_case(&p.name)
                                && a.target
                                    .sub
                                    .as_deref()
                                    .is_some_and(|s| s.eq_ignore_ascii_case(sub))
                                && urn_eq(res, a.target.urn.as_deref(), p.urn.as_deref())
                                && a.target.selector.len() == rest.len()
                                && a.target.selector.iter().all(|(k, sv)| {
                                    rest.iter().any(|(rp, rv)| {
                                        rp.name.eq_ignore_ascii_case(k)
                                            && crate::mapping::plan::loose_eq(rv, sv)
                                    })
                                })
                        },
                        value,
                    );
                    if hit {
                        pushed = true;
                        break;
                    }
                }
                pushed && eqs.len() == count_terms(inner)
            }
            _ => false,
        };
        if !pushed {
            pd.fully_pushed = false;
        }
    }
    if pd.id.is_some() {
        pd.params.clear();
    }
    pd
}

fn count_terms(f: &Filter) -> usize {
    match f {
        Filter::And(a, b) => count_terms(a) + count_terms(b),
        _ => 1,
    }
}

fn opt_eq(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

fn urn_eq(res: &ResourcePlan, target: Option<&str>, given: Option<&str>) -> bool {
    let given = given.filter(|g| !g.eq_ignore_ascii_case(&res.schema));
    opt_eq(target, given)
}

fn push_term(
    res: &ResourcePlan,
    pd: &mut Pushdown,
    pred: impl Fn(&crate::mapping::plan::AttrPlan) -> bool,
    v: &Value,
) -> bool {
    for f in &res.filters {
        let a = &res.attributes[f.attr];
        if !pred(a) {
            continue;
        }
        if pd.params.iter().any(|(k, _)| *k == f.param) {
            return false; // a backend may not AND repeated parameters: keep it bridge-side
        }
        let Ok(bv) = a.write_value(v) else {
            return false;
        };
        let Some(text) = scalar_key(&bv) else {
            return false;
        };
        pd.params.push((f.param.clone(), text));
        return true;
    }
    false
}

/// Applies an RFC 7396 merge patch to `target`.
pub fn merge_into(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge_into(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

/// RFC 7396 merge patch turning `old` into `new` (objects recursively; arrays and scalars whole).
pub fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) if ov == nv => {}
                    Some(ov @ Value::Object(_)) if nv.is_object() => {
                        out.insert(k.clone(), merge_diff(ov, nv));
                    }
                    _ => {
                        out.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_into_applies_rfc7396() {
        let mut t = json!({"a": 1, "n": {"x": 1, "y": 2}, "gone": true});
        merge_into(&mut t, json!({"n": {"y": 3}, "gone": null, "arr": [1]}));
        assert_eq!(t, json!({"a": 1, "n": {"x": 1, "y": 3}, "arr": [1]}));
        let old = json!({"a": {"b": 1}, "c": [1, 2]});
        let new = json!({"a": {"b": 2, "d": null}, "c": [2]});
        let mut applied = old.clone();
        merge_into(&mut applied, merge_diff(&old, &new));
        assert_eq!(applied, json!({"a": {"b": 2}, "c": [2]}));
    }

    #[test]
    fn merge_diff_is_minimal() {
        let old = json!({"a": 1, "n": {"x": 1, "y": 2}, "arr": [1, 2], "gone": true});
        let new = json!({"a": 1, "n": {"x": 1, "y": 3}, "arr": [1], "added": "z"});
        assert_eq!(
            merge_diff(&old, &new),
            json!({"n": {"y": 3}, "arr": [1], "added": "z", "gone": null})
        );
    }
}
