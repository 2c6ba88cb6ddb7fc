//! The SCIM operations of one resource type, executed against the backend
//! through the compiled mapping. No HTTP framing here: the server parses the
//! request, calls one of these, and renders the result.

use crate::backend::{translate_error, BackendClient, BackendResponse, Call};
use crate::config::Settings;
use crate::mapping::plan::{
    encode_segment, scalar_key, unquote_etag, OpPlan, Paging, PathPart, ResourcePlan, WriteMode,
};
use crate::scim::discovery::list_response;
use crate::scim::error::ScimError;
use crate::scim::filter::{eq_assignments, matches, CompareOp, Filter};
use crate::scim::patch::{apply_patch, parse_patch, PatchError};
use crate::scim::query::Projection;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value};
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

/// One request's view of a resource type.
pub struct ResourceCtx<'a> {
    pub res: &'a ResourcePlan,
    pub client: &'a BackendClient,
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
        let record = op
            .item
            .first(&json)
            .cloned()
            .filter(Value::is_object)
            .ok_or_else(|| {
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
        let op = self.res.ops.create.as_ref().ok_or_else(|| {
            ScimError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                format!("{} cannot be created through this bridge", self.res.name),
            )
        })?;
        let record = self.res.to_backend(body, None, WriteMode::Create)?;
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
        let op = self.res.ops.delete.as_ref().ok_or_else(|| {
            ScimError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                format!("{} cannot be deleted through this bridge", self.res.name),
            )
        })?;
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
                let op = self.res.ops.replace.as_ref().ok_or_else(|| {
                    ScimError::new(
                        StatusCode::METHOD_NOT_ALLOWED,
                        None,
                        format!("{} cannot be modified through this bridge", self.res.name),
                    )
                })?;
                (op, Self::body_bytes(op, new))
            }
            UpdateStyle::MergePatch => {
                let op = self.res.ops.patch.as_ref().ok_or_else(|| {
                    ScimError::new(
                        StatusCode::METHOD_NOT_ALLOWED,
                        None,
                        format!("{} cannot be modified through this bridge", self.res.name),
                    )
                })?;
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
        mut change: F,
    ) -> Result<(Value, Option<String>), ScimError>
    where
        F: FnMut(&Fetched, Value) -> Result<Value, ScimError>,
    {
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let attempts = self.settings.conflict_retries + 1;
        for attempt in 0..attempts {
            let cur = self.fetch(id).await?;
            self.check_if_match(if_match, &cur)?;
            let scim = self
                .res
                .to_scim(&cur.record, cur.etag.as_deref(), self.base_url, true);
            let changed = change(&cur, scim)?;
            let new = self
                .res
                .to_backend(&changed, Some(&cur.record), WriteMode::Replace)?;
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
                    let backoff = 5 + (attempt as u64 * 7 + (std::process::id() as u64 % 5)) % 40;
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
        self.read_modify_write(id, if_match, |_, _| Ok(body.clone()))
            .await
    }

    pub async fn patch(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), ScimError> {
        let ops = parse_patch(body)?;
        let res = self.res;
        self.read_modify_write(id, if_match, |_, mut scim| {
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

    // === search ===

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
    fn merge_diff_is_minimal() {
        let old = json!({"a": 1, "n": {"x": 1, "y": 2}, "arr": [1, 2], "gone": true});
        let new = json!({"a": 1, "n": {"x": 1, "y": 3}, "arr": [1], "added": "z"});
        assert_eq!(
            merge_diff(&old, &new),
            json!({"n": {"y": 3}, "arr": [1], "added": "z", "gone": null})
        );
    }
}
