//! Get, create, delete, and replace/PATCH as a version-checked read-modify-write.

use super::{offload, Fetched, ResourceCtx};
use crate::backend::translate_error;
use crate::mapping::merge::merge_diff;
use crate::mapping::plan::{member_ids, OpPlan, ResourcePlan, WriteMode};
use crate::scim::error::ScimError;
use crate::scim::patch::{
    apply_patch, check_body_value_cap, check_value_cap, parse_patch, split_member_ops, PatchOp,
};
use crate::scim::query::Projection;
use http::StatusCode;
use serde_json::Value;
use tracing::debug;

/// Writes `lifecycle` field values over a record.
fn set_fields(
    record: &mut Value,
    fields: &[(crate::mapping::fieldpath::FieldPath, Value)],
) -> Result<(), ScimError> {
    for (f, v) in fields {
        f.set(record, v.clone())
            .map_err(|e| ScimError::new(StatusCode::BAD_GATEWAY, None, format!("mapping: {e}")))?;
    }
    Ok(())
}

/// What the PATCH/PUT write loop needs to know about a failed write.
enum WriteOutcome {
    Done(Fetched),
    Conflict,
}

impl ResourceCtx<'_> {
    /// The resource as JSON, with its version.
    pub async fn get(
        &self,
        id: &str,
        projection: &Projection,
    ) -> Result<(Vec<u8>, Option<String>), ScimError> {
        // One buffer sized for a typical resource: no regrowth while writing it.
        let mut body = Vec::with_capacity(1024);
        if self.res.renders_raw(&self.res.ops.get, projection) {
            let version = self.fetch_rendered(id, projection, &mut body).await?;
            return Ok((body, version));
        }
        let f = self.fetch(id).await?;
        if self.res.attributes.iter().any(|a| a.reference_display) {
            let mut scim = self.render(&f, projection);
            self.fill_reference_names(&mut scim).await;
            serde_json::to_writer(&mut body, &scim).ok();
        } else {
            self.render_json(&f, projection, &mut body);
        }
        Ok((body, self.version(&f)))
    }

    pub async fn create(&self, body: &Value) -> Result<(Value, Option<String>), ScimError> {
        check_body_value_cap(body, self.settings.max_values_per_attribute)?;
        self.check_complex_shapes(body)?;
        self.check_unmapped(body)?;
        let mut resolved = std::borrow::Cow::Borrowed(body);
        if self.res.members_attr.is_some()
            || self.res.attributes.iter().any(|a| a.reference.is_some())
        {
            self.res.resolve_references(resolved.to_mut(), None)?;
        }
        let body = resolved.as_ref();
        let op = self
            .res
            .ops
            .create
            .as_ref()
            .ok_or_else(|| self.unsupported("created"))?;
        let record = self.res.to_backend(body, None, WriteMode::Create)?;
        self.check_references(body, None).await?;
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
        let f = match self.record_in(op, &resp) {
            Ok(f) => f,
            // `201` with only a `Location` (a common legacy shape): the record
            // is made; it is read back from there.
            Err(why) => match created_at(&resp, &self.res.ops.get) {
                Some(id) => {
                    debug!(resource = %self.res.name, "create answered without the record; read back from its Location");
                    self.fetch_any(&id).await.map_err(|e| {
                        if e.status == StatusCode::NOT_FOUND {
                            ScimError::new(
                                StatusCode::BAD_GATEWAY,
                                None,
                                "the backend made the resource but its Location cannot be read",
                            )
                        } else {
                            e
                        }
                    })?
                }
                None => return Err(self.no_record(why, &resp)),
            },
        };
        let created = self.render(&f, &Projection::default());
        crate::audit::note_change(None, Some(&created));
        Ok((created, self.version(&f)))
    }

    pub async fn delete(&self, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
        if let Some(sd) = &self.res.soft_delete {
            return self.soft_delete(id, if_match, sd).await;
        }
        let op = self
            .res
            .ops
            .delete
            .as_ref()
            .ok_or_else(|| self.unsupported("deleted"))?;
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let mut backend_if_match = None;
        // A conditional delete holds the write lock from the version check to
        // the delete, so no PATCH or PUT of this process lands in between
        // (a backend whose DELETE carries no version cannot refuse it then).
        let conditional = if_match.is_some() || self.if_none_match.is_some();
        let _serialized = match conditional {
            true => Some(self.write_locks.lock(&self.res.name, id).await),
            false => None,
        };
        if conditional {
            let cur = self.fetch(id).await?;
            self.check_preconditions(if_match, self.if_none_match, &cur)?;
            backend_if_match = cur.etag.clone();
            // Read anyway: the audit trail shows what was deleted.
            crate::audit::note_change(Some(&self.render(&cur, &Projection::default())), None);
        }
        let resp = self
            .call(op, Some(id), None, None, backend_if_match.as_deref())
            .await?;
        self.bodiless_outcome(&resp, id)
    }

    /// A soft delete: calls the mapping's `lifecycle.call` and/or writes its
    /// `lifecycle.set` fields over the record (a record already soft-deleted
    /// is 404, as after a hard delete).
    async fn soft_delete(
        &self,
        id: &str,
        if_match: Option<&str>,
        sd: &crate::mapping::plan::SoftDeletePlan,
    ) -> Result<(), ScimError> {
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let _serialized = self.write_locks.lock(&self.res.name, id).await;
        let (mut if_match, mut if_none_match) = (if_match, self.if_none_match);
        if let Some(op) = &sd.call {
            let cur = self.fetch(id).await?;
            if self.res.is_soft_deleted(&cur.record) {
                return Err(self.not_found(id));
            }
            self.check_preconditions(if_match, if_none_match, &cur)?;
            self.lifecycle_call(op, id, &cur).await?;
            if sd.set.is_empty() {
                return Ok(());
            }
            // Checked already; `set` goes over whatever the call left.
            (if_match, if_none_match) = (None, None);
        }
        for _ in 0..self.settings.conflict_retries + 1 {
            let cur = self.fetch_any(id).await?;
            if sd.call.is_none() && self.res.is_soft_deleted(&cur.record) {
                return Err(self.not_found(id));
            }
            self.check_preconditions(if_match, if_none_match, &cur)?;
            let mut new = cur.record.clone();
            set_fields(&mut new, &sd.set)?;
            match self.write_back(id, &cur, new).await? {
                WriteOutcome::Done(_) => return Ok(()),
                WriteOutcome::Conflict if if_match.is_some() => {
                    return Err(ScimError::new(
                        StatusCode::PRECONDITION_FAILED,
                        None,
                        "the resource changed since the version given in If-Match",
                    ))
                }
                WriteOutcome::Conflict => continue,
            }
        }
        Err(ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "too many concurrent updates of this resource; retry",
        )
        .with_retry_after(Some(1)))
    }

    /// One `lifecycle` call (soft delete or restore) on record `id`, read as
    /// `cur`: no body, `If-Match` with the ETag read when the version is one.
    async fn lifecycle_call(
        &self,
        op: &crate::mapping::plan::OpPlan,
        id: &str,
        cur: &Fetched,
    ) -> Result<(), ScimError> {
        let etag = if self.res.version.as_ref().is_some_and(|v| v.etag) {
            cur.etag.as_deref()
        } else {
            None
        };
        let resp = self.call(op, Some(id), None, None, etag).await?;
        self.bodiless_outcome(&resp, id)
    }

    /// The answer to a call without a body on record `id` (a delete or a
    /// lifecycle call): success, `412` on a version conflict, or the
    /// backend's error translated.
    fn bodiless_outcome(
        &self,
        resp: &crate::backend::BackendResponse,
        id: &str,
    ) -> Result<(), ScimError> {
        if resp.status.is_success() {
            Ok(())
        } else if self.is_conflict(resp) {
            Err(ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "the resource changed since it was read",
            ))
        } else {
            Err(translate_error(&self.res.backend, resp, &self.what(id)))
        }
    }

    /// A write turning a soft-deleted record `active` again (`lifecycle.restore`).
    fn restores(&self, cur: &Fetched, changed: &Value) -> bool {
        self.res.soft_delete.as_ref().is_some_and(|sd| {
            (sd.restore_call.is_some() || !sd.restore_set.is_empty())
                && self.res.is_soft_deleted(&cur.record)
                && match crate::mapping::plan::get_ci(changed, "active") {
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
                    _ => false,
                }
        })
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
                let mut diff = merge_diff(&old.record, &new);
                // The version read goes with the change (the concurrency
                // token of a body-versioned type), although it did not change.
                if let Some(f) = self
                    .res
                    .version
                    .as_ref()
                    .filter(|v| !v.etag)
                    .and_then(|v| v.field.as_ref())
                {
                    if let Some(v) = f.get(&old.record) {
                        f.set(&mut diff, v.clone()).ok();
                    }
                }
                (op, Self::body_bytes(op, diff))
            }
        };
        let if_match = if self.res.version.as_ref().is_some_and(|v| v.etag) {
            old.etag.as_deref()
        } else {
            None
        };
        let resp = self.call(op, Some(id), None, Some(body), if_match).await?;
        if resp.status.is_success() {
            // The write is made: an answer without a usable record (no body,
            // another shape, no id) is followed by a read, never a 502.
            let written = match self.record_in(op, &resp) {
                Ok(f) => f,
                _ => {
                    debug!(resource = %self.res.name, "write answered without a usable record; read back");
                    self.fetch(id).await?
                }
            };
            return Ok(WriteOutcome::Done(written));
        }
        if self.is_conflict(&resp) {
            return Ok(WriteOutcome::Conflict);
        }
        Err(translate_error(&self.res.backend, &resp, &self.what(id)))
    }

    /// Read → change the SCIM view → map back over the record → write with the
    /// version read; on a version conflict re-read and re-apply (bounded).
    pub(super) async fn read_modify_write<F, Fut>(
        &self,
        id: &str,
        if_match: Option<&str>,
        members: bool,
        change: F,
    ) -> Result<(Value, Option<String>), ScimError>
    where
        F: FnMut(&Fetched, Value) -> Fut,
        Fut: std::future::Future<Output = Result<Value, ScimError>>,
    {
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let _serialized = self.write_locks.lock(&self.res.name, id).await;
        self.read_modify_write_locked(id, if_match, members, change)
            .await
    }

    /// [`Self::read_modify_write`] for a caller holding the write lock of `id`.
    /// `change` computes the new SCIM resource from the one read (it may
    /// run on the blocking pool, see [`super::offload`]).
    pub(super) async fn read_modify_write_locked<F, Fut>(
        &self,
        id: &str,
        mut if_match: Option<&str>,
        members: bool,
        mut change: F,
    ) -> Result<(Value, Option<String>), ScimError>
    where
        F: FnMut(&Fetched, Value) -> Fut,
        Fut: std::future::Future<Output = Result<Value, ScimError>>,
    {
        let attempts = self.settings.conflict_retries + 1;
        // Restoring a soft-deleted record (`lifecycle.restore`): its call is
        // made once, then the change is applied to the record read again.
        let (mut restoring, mut restore_called) = (false, false);
        let mut if_none_match = self.if_none_match;
        let mut attempt = 0;
        while attempt < attempts {
            let cur = self.fetch(id).await?;
            self.check_preconditions(if_match, if_none_match, &cur)?;
            let scim = self
                .res
                .to_scim(&cur.record, cur.etag.as_deref(), self.base_url, members);
            let changed = change(&cur, scim.clone()).await?;
            self.check_references(&changed, Some(&scim)).await?;
            restoring = restoring || self.restores(&cur, &changed);
            let sd = self.res.soft_delete.as_ref();
            if let Some(op) = sd
                .and_then(|sd| sd.restore_call.as_ref())
                .filter(|_| restoring && !restore_called)
            {
                self.lifecycle_call(op, id, &cur).await?;
                restore_called = true;
                // Checked against the version before the restore call.
                (if_match, if_none_match) = (None, None);
                continue;
            }
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
            // Only what the change touched is written; every other field goes
            // back exactly as read (see `ResourcePlan::to_backend_update`).
            let mut new = self
                .res
                .to_backend_update(&scim, &changed, &cur.record, members)?;
            if restoring {
                set_fields(&mut new, sd.map_or(&[][..], |sd| &sd.restore_set))?;
            }
            if new == cur.record {
                debug!(resource = %self.res.name, "no change; nothing written");
                return Ok((
                    self.render(&cur, &Projection::default()),
                    self.version(&cur),
                ));
            }
            match self.write_back(id, &cur, new).await? {
                WriteOutcome::Done(f) => {
                    let written = self.render(&f, &Projection::default());
                    crate::audit::note_change(Some(&scim), Some(&written));
                    return Ok((written, self.version(&f)));
                }
                WriteOutcome::Conflict if if_match.is_some() => {
                    return Err(ScimError::new(
                        StatusCode::PRECONDITION_FAILED,
                        None,
                        "the resource changed since the version given in If-Match",
                    ));
                }
                WriteOutcome::Conflict => {
                    attempt += 1;
                    debug!(resource = %self.res.name, attempt, "version conflict; re-reading");
                    // Random, so writers that collided (other replicas
                    // too) do not retry in lock-step.
                    let spread = (40 * attempt as u64).min(200);
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
        check_body_value_cap(body, self.settings.max_values_per_attribute)?;
        self.check_complex_shapes(body)?;
        self.check_unmapped(body)?;
        if let Some(bid) = body.get("id").and_then(Value::as_str) {
            if bid != id {
                return Err(ScimError::bad_request(
                    "mutability",
                    format!("id {bid:?} in the body does not match the URL"),
                ));
            }
        }
        self.read_modify_write(id, if_match, true, |_, before| {
            let mut new = body.clone();
            let resolved = self.res.resolve_references(&mut new, Some(&before));
            std::future::ready(resolved.map(|()| new))
        })
        .await
    }

    /// PATCH. A large body ([`offload::heavy`]) is parsed and applied on
    /// the blocking pool, a small one inline.
    pub async fn patch(
        &self,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), ScimError> {
        let heavy = offload::heavy(&body);
        let max_values = self.settings.max_values_per_attribute;
        let parse = move || {
            let ops = parse_patch(&body)?;
            check_value_cap(&ops, max_values)?;
            Ok(ops)
        };
        let mut ops = if heavy {
            offload::offload(parse).await?
        } else {
            parse()?
        };
        self.qualify_bare_enterprise_paths(&mut ops);
        self.check_patch_paths(&ops)?;
        if let (Some(mi), Some(_), Some(_)) = (
            self.res.members_attr,
            &self.res.ops.add_member,
            &self.res.ops.remove_member,
        ) {
            let (mut member_ops, other_ops) =
                split_member_ops(&ops, &self.res.attributes[mi].target.name);
            for op in &mut member_ops {
                if let Some(v) = op.value.as_mut() {
                    self.res.resolve_member_refs(v)?;
                }
            }
            if !member_ops.is_empty() {
                return self
                    .patch_membership(id, &member_ops, &other_ops, if_match)
                    .await;
            }
        }
        let res = self.plan.by_name(&self.res.name).cloned().ok_or_else(|| {
            ScimError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "resource type missing from its plan",
            )
        })?;
        let ops = std::sync::Arc::new(ops);
        self.read_modify_write(id, if_match, true, |_, before| {
            let (res, ops) = (res.clone(), ops.clone());
            let apply = move || apply_checked(&res, &ops, before);
            async move {
                if heavy {
                    offload::offload(apply).await
                } else {
                    apply()
                }
            }
        })
        .await
    }
}

/// `ops` applied to `before`, refusing to unassign a required attribute and,
/// for a `strict` resource type, to set an attribute the mapping does not map.
pub(super) fn apply_checked(
    res: &ResourcePlan,
    ops: &[PatchOp],
    before: Value,
) -> Result<Value, ScimError> {
    let mut scim = before.clone();
    apply_patch(&mut scim, ops, res)?;
    res.resolve_references(&mut scim, Some(&before))?;
    if res.strict {
        // Only what the operations added: a rendered resource may carry a
        // key of its own (a soft-deleted record's `active`).
        let had = res.unmapped_attributes(&before);
        let added: Vec<String> = res
            .unmapped_attributes(&scim)
            .into_iter()
            .filter(|k| !had.contains(k))
            .collect();
        if !added.is_empty() {
            return Err(super::unsupported(&added));
        }
    }
    // RFC 7644 §3.5.2.2: a required attribute may not become unassigned
    // (one the backend holds in a form the mapping cannot read is not
    // touched by an operation that leaves it alone).
    if let Some(a) = res.attributes.iter().find(|a| {
        a.required
            && a.default.is_none()
            && a.target.extract(&before).is_some()
            && a.target.extract(&scim).is_none()
    }) {
        return Err(ScimError::bad_request(
            "mutability",
            format!(
                "attribute '{}' is required and cannot be removed",
                a.scim_text
            ),
        ));
    }
    Ok(scim)
}

/// The id a `201 Created` answer's `Location` names, when its path is the
/// `get` operation's path for that id (`/api/v1/users/42` for
/// `/api/v1/users/{id}`, after any prefix of the backend's base URL;
/// scheme, host and query ignored), percent-decoded. Any other answer or
/// `Location` (a `202` pointing at a job) names no record.
fn created_at(resp: &crate::backend::BackendResponse, get: &OpPlan) -> Option<String> {
    use crate::mapping::plan::PathPart;
    if resp.status != StatusCode::CREATED {
        return None;
    }
    let loc = resp.headers.get(http::header::LOCATION)?.to_str().ok()?;
    // Query and fragment off first: a URL inside the query is not the path.
    let loc = loc.split(['?', '#']).next()?;
    let path = match loc.find("://") {
        Some(i) => &loc[i + 3..][loc[i + 3..].find('/')?..],
        None => loc,
    };
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let lit = |parts: &[PathPart]| -> Option<String> {
        parts
            .iter()
            .map(|p| match p {
                PathPart::Lit(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    };
    let at = get.path.iter().position(|p| matches!(p, PathPart::Id))?;
    let (prefix, suffix) = (lit(&get.path[..at])?, lit(&get.path[at + 1..])?);
    let rest = path.strip_suffix(suffix.as_str())?;
    let raw = &rest[rest.rfind(prefix.as_str())? + prefix.len()..];
    if raw.is_empty() || raw.contains('/') {
        return None;
    }
    let id = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    Some(id.into_owned())
}
