//! List and search: filter pushdown, paging through the backend, and the
//! search at the server root across resource types.

use super::ResourceCtx;
use crate::backend::{translate_error, BackendResponse, Call};
use crate::mapping::plan::{AsNode, Paging};
use crate::mapping::pushdown::{filter_mentions, pushdown};
use crate::mapping::record::{Arena, Json, Raw};
#[cfg(test)]
use crate::scim::discovery::list_response;
use crate::scim::discovery::LIST_URN;
use crate::scim::error::ScimError;
use crate::scim::filter::Filter;
use crate::scim::query::Projection;
use http::StatusCode;
use serde_json::Value;
use std::borrow::Cow;
use tracing::debug;

/// A list answer that is not JSON.
fn not_json() -> ScimError {
    ScimError::new(
        StatusCode::BAD_GATEWAY,
        None,
        "the backend list answer is not JSON",
    )
}

/// A list answer's text read as a [`Raw`], its containers in `arena`.
fn raw_answer<'a>(text: Option<&'a str>, arena: &'a Arena) -> Result<Raw<'a>, ScimError> {
    text.and_then(|t| Raw::parse(t, arena).ok())
        .ok_or_else(not_json)
}

/// What a search keeps of the records it scans.
struct Scan<'q> {
    filter: Option<&'q Filter>,
    with_members: bool,
    start_index: usize,
    count: usize,
    projection: &'q Projection,
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

impl ResourceCtx<'_> {
    // === search ===

    /// `/readyz`'s backend probe: the list operation for one item.
    /// The readiness probe's call: the backend answers, and its answer fits
    /// the mapping. One record without its id (data, not the mapping) does
    /// not make every replica unready: requests that meet it get their `502`.
    pub async fn probe(&self) -> Result<(), ScimError> {
        self.list_page_unchecked(&[], 0, 1).await.map(|_| ())
    }

    /// One backend page; every record carries its id.
    pub(super) async fn list_page(
        &self,
        params: &[(&str, Cow<'_, str>)],
        offset: usize,
        size: usize,
    ) -> Result<(Vec<Value>, Option<usize>), ScimError> {
        let (items, total) = self.list_page_unchecked(params, offset, size).await?;
        self.check_ids(&items)?;
        Ok((items, total))
    }

    /// `502` when a record of a list answer has no id.
    fn check_ids<J: Json>(&self, records: &[J]) -> Result<(), ScimError> {
        if records.iter().any(|r| !self.res.has_id(r)) {
            return Err(self.record_without_id("list answer"));
        }
        Ok(())
    }

    /// [`Self::list_page`] without the check of each record's id.
    async fn list_page_unchecked(
        &self,
        params: &[(&str, Cow<'_, str>)],
        offset: usize,
        size: usize,
    ) -> Result<(Vec<Value>, Option<usize>), ScimError> {
        let (resp, beyond) = self.list_call(params, offset, size).await?;
        self.value_page(&resp, beyond)
    }

    /// The records of a list answer, as `Value`s, and its total.
    fn value_page(
        &self,
        resp: &BackendResponse,
        beyond: bool,
    ) -> Result<(Vec<Value>, Option<usize>), ScimError> {
        let mut json = resp.json().ok_or_else(not_json)?;
        let total = self.list_total(&json);
        // Moved out, not copied: the answer is not used again.
        let items = self.checked_page(|| self.res.ops.list.items.take(&mut json), total, beyond)?;
        Ok((items, total))
    }

    /// [`Self::value_page`], the records read as [`Raw`]s borrowing from
    /// the answer `doc` (read by [`Self::list_call`] and [`raw_answer`]).
    fn raw_page<'d>(
        &self,
        doc: &'d Raw<'d>,
        beyond: bool,
    ) -> Result<(&'d [Raw<'d>], Option<usize>), ScimError> {
        let total = self.list_total(doc);
        let items =
            self.checked_page(|| self.res.ops.list.items.elements_in(doc), total, beyond)?;
        Ok((items, total))
    }

    /// The total a list answer gives (a number, or a number as text).
    fn list_total<J: Json>(&self, doc: &J) -> Option<usize> {
        let v = self.res.ops.list.total.first(doc)?;
        v.number()
            .and_then(serde_json::Number::as_u64)
            .or_else(|| v.text()?.parse().ok())
            .map(|n| n as usize)
    }

    /// The records `found` at the mapping's `items` path (`None`: no array
    /// there), checked against the `total`; none for a page `beyond` the
    /// backend's range ([`Self::list_call`]), whose answer gives only the
    /// total.
    fn checked_page<T: Default + AsRef<[R]>, R>(
        &self,
        found: impl FnOnce() -> Option<T>,
        total: Option<usize>,
        beyond: bool,
    ) -> Result<T, ScimError> {
        if beyond {
            return Ok(T::default());
        }
        // An answer saying it has no records may leave the array out.
        let items = match found() {
            Some(items) => items,
            None if total == Some(0) => T::default(),
            None => return Err(self.list_mismatch("items", "holds no array of records")),
        };
        // A total the mapping names but the answer lacks would turn into a
        // guess (`totalResults` too small: clients stop paging).
        if total.is_none() && !items.as_ref().is_empty() {
            return Err(self.list_mismatch("total", "holds no number"));
        }
        Ok(items)
    }

    /// One list call, answered with success; and whether the page asked
    /// for lies beyond the backend's integer range (then the first page of
    /// one record was asked for, for the total only).
    async fn list_call(
        &self,
        params: &[(&str, Cow<'_, str>)],
        offset: usize,
        size: usize,
    ) -> Result<(BackendResponse, bool), ScimError> {
        let list = &self.res.ops.list;
        // A page beyond the backend's integer range is empty; the first
        // page of one record is asked for instead, for the total.
        let beyond = !list.page_in_range(offset, size);
        let (offset, size) = if beyond {
            debug!(resource = %self.res.name, offset, size, "page beyond the backend's integer range: empty; asking for the total only");
            (0, 1)
        } else {
            (offset, size)
        };
        // `lifecycle.list_query`: the backend leaves soft-deleted records out.
        let extra = self.res.list_params();
        let with_extra: Vec<(&str, Cow<'_, str>)>;
        let params = if extra.is_empty() {
            params
        } else {
            with_extra = extra
                .iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str())))
                .chain(params.iter().cloned())
                .collect();
            &with_extra[..]
        };
        let path = list.page_path(params, offset, size);
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
        Ok((resp, beyond))
    }

    /// [`Self::mapping_mismatch`] for a 2xx list answer whose `key` path
    /// (`items`, `total`) finds nothing usable.
    fn list_mismatch(&self, key: &str, what: &str) -> ScimError {
        self.mapping_mismatch(
            &format!("operations.list.{key}"),
            &format!("the backend's list answer does not fit the mapping: the `{key}` path {what}; fix the mapping (scim-bridge explain shows what is read)"),
            format!("the backend's list answer does not fit the mapping (operations.list.{key} {what})"),
        )
    }

    /// Backend records `[start, start+count)` (0-based), unfiltered but for `params`.
    pub(super) async fn list_range(
        &self,
        params: &[(&str, Cow<'_, str>)],
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
            offset = offset.saturating_add(size);
            if out.len() >= count || n < size || n == 0 || total.is_some_and(|t| offset >= t) {
                break;
            }
        }
        Ok((out, total))
    }

    /// Whether a backend record is a result of `filter` (none: every one),
    /// evaluated on the attributes the filter names only.
    fn is_result<J: AsNode>(
        &self,
        record: &J,
        etag: Option<&str>,
        filter: Option<&Filter>,
        with_members: bool,
    ) -> bool {
        filter.is_none_or(|filter| {
            self.res
                .satisfies(record, etag, self.base_url, with_members, filter)
        })
    }

    pub async fn search(&self, q: &SearchQuery) -> Result<Listed, ScimError> {
        let start_index = q.start_index.max(1);
        let count = q
            .count
            .unwrap_or(self.settings.default_count)
            .min(self.settings.max_count);
        let filter = match &q.filter {
            Some(f) => Some(f),
            // Soft-deleted records to hide that the backend cannot leave out
            // (no `lifecycle.list_query`): scan to count and page honestly.
            None if self.res.lists_must_scan() => None,
            None => return self.list_unfiltered(q, start_index, count).await,
        };
        let pd = match filter {
            Some(f) => pushdown(self.res, f),
            None => crate::mapping::pushdown::Pushdown {
                fully_pushed: true,
                ..Default::default()
            },
        };
        debug!(resource = %self.res.name, params = pd.params.len(), fully = pd.fully_pushed, id = pd.id.is_some(), "filter pushdown");
        let mut listed = Listed::new(start_index);
        if pd.impossible {
            return Ok(listed);
        }
        let with_members = self.res.members_attr.is_none_or(|i| {
            let name = &self.res.attributes[i].target.name;
            q.projection.wants(name) || filter.is_some_and(|f| filter_mentions(f, name))
        });
        let scan = Scan {
            filter,
            with_members,
            start_index,
            count,
            projection: &q.projection,
        };
        if let Some(id) = &pd.id {
            match self.fetch(id).await {
                Ok(f) => self.keep(&f.record, f.etag.as_deref(), &scan, &mut listed),
                Err(e) if e.status == StatusCode::NOT_FOUND => {}
                Err(e) => return Err(e),
            }
            return Ok(listed);
        }
        let max = self.res.ops.list.paging.max();
        let raw = self.res.lists_raw();
        let mut offset = 0;
        let mut scanned = 0usize;
        let mut backend_total = None;
        loop {
            let (resp, beyond) = self.list_call(&pd.params, offset, max).await?;
            // The records read as `Raw`s borrowing from the answer where
            // the mapping allows, as `Value`s otherwise.
            let (n, total) = if raw {
                let text = resp.text();
                let arena = Arena::for_text(text.map_or(0, str::len));
                let doc = raw_answer(text, &arena)?;
                let (page, total) = self.raw_page(&doc, beyond)?;
                self.check_ids(page)?;
                (
                    self.scan_page(page, total, offset, &scan, &mut listed),
                    total,
                )
            } else {
                let (page, total) = self.value_page(&resp, beyond)?;
                // The records are moved out: the answer's bytes can go.
                drop(resp);
                self.check_ids(&page)?;
                (
                    self.scan_page(&page, total, offset, &scan, &mut listed),
                    total,
                )
            };
            let n = match n {
                Some(n) => n,
                None => {
                    return self
                        .search_large(&pd, total.unwrap_or_default(), &scan)
                        .await
                }
            };
            if offset == 0 {
                backend_total = total;
            }
            scanned += n;
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
        }
        Ok(listed)
    }

    /// Counts `record` when it is a result, and renders it when it is on
    /// the page asked for.
    fn keep<J: AsNode>(&self, record: &J, etag: Option<&str>, scan: &Scan, listed: &mut Listed) {
        if self.is_result(record, etag, scan.filter, scan.with_members) {
            listed.total += 1;
            if listed.total >= scan.start_index && listed.items < scan.count {
                listed.push(self, record, etag, scan.projection);
            }
        }
    }

    /// One page of a search's scan through the backend's list, given with
    /// the backend's total: its records kept ([`Self::keep`]), soft-deleted
    /// ones left out. `None` (nothing kept) when the first page's total is
    /// more than the mapping's scan limit: [`Self::search_large`] goes on.
    fn scan_page<J: AsNode>(
        &self,
        page: &[J],
        total: Option<usize>,
        offset: usize,
        scan: &Scan,
        listed: &mut Listed,
    ) -> Option<usize> {
        if offset == 0 && total.is_some_and(|t| t > self.res.scan_limit) {
            return None;
        }
        for record in page.iter().filter(|r| !self.res.is_hidden(*r)) {
            self.keep(record, None, scan, listed);
        }
        Some(page.len())
    }

    /// A search whose backend total `t` is over the scan limit: only a
    /// filter the backend answers fully is paged through the backend (each
    /// record re-checked); others are refused.
    async fn search_large(
        &self,
        pd: &crate::mapping::pushdown::Pushdown<'_>,
        t: usize,
        scan: &Scan<'_>,
    ) -> Result<Listed, ScimError> {
        if !pd.fully_pushed {
            return Err(ScimError::bad_request(
                "tooMany",
                format!(
                    "the filter cannot be answered by the backend alone and would scan {t} records (limit {}); narrow it with attributes the backend can filter on",
                    self.res.scan_limit
                ),
            ));
        }
        let mut listed = Listed::new(scan.start_index);
        let (records, total) = self
            .list_range(&pd.params, scan.start_index - 1, scan.count)
            .await?;
        for record in records.iter().filter(|r| !self.res.is_hidden(*r)) {
            if self.is_result(record, None, scan.filter, scan.with_members) {
                listed.push(self, record, None, scan.projection);
            }
        }
        listed.total = total.unwrap_or(t);
        Ok(listed)
    }

    /// A list without filter, paged by the backend.
    async fn list_unfiltered(
        &self,
        q: &SearchQuery,
        start_index: usize,
        count: usize,
    ) -> Result<Listed, ScimError> {
        let (records, total) = self.list_range(&[], start_index - 1, count).await?;
        // Soft-deleted records are left out by the backend
        // (`lifecycle.list_query`) or shown (`deleted_reads: inactive`);
        // the filter below only guards against a backend ignoring it.
        let mut listed = Listed::new(start_index);
        for record in records.iter().filter(|r| !self.res.is_hidden(*r)) {
            listed.push(self, record, None, &q.projection);
        }
        listed.total = total.unwrap_or(start_index - 1 + listed.items);
        Ok(listed)
    }
}

/// A ListResponse (RFC 7644 §3.4.2) being written: its opening and its
/// resources as JSON, comma-separated, and its counts. [`Self::into_json`]
/// gives the bytes `serde_json` gives for [`crate::scim::discovery::list_response`].
#[derive(Debug)]
pub struct Listed {
    /// [`LIST_OPENING`], then the resources.
    json: Vec<u8>,
    /// Resources written (`itemsPerPage`).
    pub items: usize,
    pub total: usize,
    pub start_index: usize,
}

/// Keys in `serde_json`'s (sorted) order: `Resources` comes first.
const LIST_OPENING: &[u8] = b"{\"Resources\":[";

impl Listed {
    pub fn new(start_index: usize) -> Listed {
        // Sized for a page of typical resources: little regrowth.
        let mut json = Vec::with_capacity(1024);
        json.extend_from_slice(LIST_OPENING);
        Listed {
            json,
            items: 0,
            total: 0,
            start_index,
        }
    }

    fn comma(&mut self) {
        if self.items > 0 {
            self.json.push(b',');
        }
        self.items += 1;
    }

    /// Adds one resource, rendered from its backend record.
    fn push<J: AsNode>(
        &mut self,
        ctx: &ResourceCtx<'_>,
        record: &J,
        etag: Option<&str>,
        projection: &Projection,
    ) {
        self.comma();
        ctx.render_record(record, etag, projection, &mut self.json);
    }

    #[cfg(test)]
    fn push_value(&mut self, v: &Value) {
        self.comma();
        serde_json::to_writer(&mut self.json, v).ok();
    }

    /// Adds the resources of `other` after these.
    fn append(&mut self, other: Listed) {
        if other.items == 0 {
            return;
        }
        if self.items > 0 {
            self.json.push(b',');
        }
        self.json
            .extend_from_slice(&other.json[LIST_OPENING.len()..]);
        self.items += other.items;
    }

    /// The whole ListResponse.
    pub fn into_json(self) -> Vec<u8> {
        let mut num = itoa::Buffer::new();
        let mut out = self.json;
        out.extend_from_slice(b"],\"itemsPerPage\":");
        out.extend_from_slice(num.format(self.items).as_bytes());
        out.extend_from_slice(b",\"schemas\":[\"");
        out.extend_from_slice(LIST_URN.as_bytes());
        out.extend_from_slice(b"\"],\"startIndex\":");
        out.extend_from_slice(num.format(self.start_index).as_bytes());
        out.extend_from_slice(b",\"totalResults\":");
        out.extend_from_slice(num.format(self.total).as_bytes());
        out.push(b'}');
        out
    }
}

/// A query at the server root (RFC 7644 §3.4.2, §3.4.3): every resource
/// type's results, one type after the other, paged as one list. Attributes a
/// type does not have simply match nothing there.
pub async fn search_all(ctxs: &[ResourceCtx<'_>], q: &SearchQuery) -> Result<Listed, ScimError> {
    let start_index = q.start_index.max(1);
    let mut all = Listed::new(start_index);
    let Some(first) = ctxs.first() else {
        return Ok(all);
    };
    let mut remaining = q
        .count
        .unwrap_or(first.settings.default_count)
        .min(first.settings.max_count);
    // 0-based position of the first wanted result in the whole list.
    let skip = start_index - 1;
    let mut before = 0usize; // results of the types already searched
    for ctx in ctxs {
        let part = ctx
            .search(&SearchQuery {
                filter: q.filter.clone(),
                start_index: skip.saturating_sub(before) + 1,
                count: Some(remaining),
                projection: q.projection.clone(),
            })
            .await?;
        before += part.total;
        remaining = remaining.saturating_sub(part.items);
        all.append(part);
    }
    all.total = before;
    Ok(all)
}

impl ResourceCtx<'_> {
    /// `400 invalidFilter` when the filter names an attribute this resource
    /// type does not have: neither mapped, nor common (`id`, `externalId`,
    /// `meta`), nor in the RFC schema of its core schema or a declared
    /// extension (`GET /Groups?filter=userName eq "a"`). Checked before any
    /// backend call; top-level attributes only (sub-attributes of a known
    /// attribute are evaluated as absent when unmapped).
    pub fn check_filter_attributes(&self, q: &SearchQuery) -> Result<(), ScimError> {
        let Some(f) = &q.filter else {
            return Ok(());
        };
        let mut unknown = None;
        visit_paths(f, &mut |p| {
            if unknown.is_none() && !self.has_attribute(p) {
                unknown = Some(p.to_string());
            }
        });
        match unknown {
            None => Ok(()),
            Some(p) => Err(ScimError::bad_request(
                "invalidFilter",
                format!("{} has no attribute {p}", self.res.name),
            )),
        }
    }

    /// A PATCH path naming an enterprise attribute without its URN
    /// (`manager[value eq "…"]`, as Entra may send it) gets the URN when the
    /// resource type declares the enterprise extension and its core schema
    /// has no attribute of that name: it then applies where the mapping maps
    /// it, instead of to a core attribute that does not exist.
    pub fn qualify_bare_enterprise_paths(&self, ops: &mut [crate::scim::patch::PatchOp]) {
        use crate::scim::attr::SchemaInfo;
        use crate::scim::rfc7643::{defines, ENTERPRISE_USER};
        let Some(ext) = self.res.extension(ENTERPRISE_USER) else {
            return;
        };
        for path in ops.iter_mut().filter_map(|op| op.path.as_mut()) {
            let a = &mut path.attr;
            if a.urn.is_none()
                && defines(ENTERPRISE_USER, &a.name)
                && !defines(&self.res.schema, &a.name)
                && self.res.attribute(None, &a.name, None).is_none()
            {
                a.urn = Some(ext.to_string());
            }
        }
    }

    /// `400 invalidPath` for a PATCH path naming an attribute this resource
    /// type does not have (the rule of [`Self::check_filter_attributes`]), or
    /// a sub-attribute RFC 7643 does not define for a standard attribute
    /// (`name.givenNmae`) and the mapping does not map: applied, it would be
    /// answered `200` and change nothing. An attribute of the schema that
    /// the mapping leaves unmapped is still accepted and ignored, and so is
    /// anything under an extension URN the resource type does not declare
    /// (Entra may send attributes a target does not support: they are
    /// ignored, RFC 7644 §3.5.2 leaves it to the service provider).
    pub fn check_patch_paths(&self, ops: &[crate::scim::patch::PatchOp]) -> Result<(), ScimError> {
        use crate::scim::attr::SchemaInfo;
        for path in ops.iter().filter_map(|op| op.path.as_ref()) {
            let p = &path.attr;
            let foreign = p.urn.as_deref().is_some_and(|u| {
                !u.eq_ignore_ascii_case(&self.res.schema) && self.res.extension(u).is_none()
            });
            if foreign {
                continue;
            }
            let invalid = |what: String| {
                Err(ScimError::bad_request(
                    "invalidPath",
                    format!("{} has no {what}", self.res.name),
                ))
            };
            // Entra may name an enterprise attribute without its URN
            // (`manager[value eq "…"]`): where the resource type does not
            // declare the extension (else the path was qualified, see
            // [`Self::qualify_bare_enterprise_paths`]), accepted and ignored
            // like any attribute of a schema it leaves unmapped.
            let bare_standard = p.urn.is_none()
                && crate::scim::rfc7643::defines(crate::scim::rfc7643::ENTERPRISE_USER, &p.name);
            if bare_standard {
                continue;
            }
            if !self.has_attribute(p) {
                return invalid(format!("attribute {}", p.name));
            }
            let Some(sub) = path.value_sub.as_deref().or(p.sub.as_deref()) else {
                continue;
            };
            let urn = p.urn.as_deref().unwrap_or(&self.res.schema);
            let mapped = self
                .res
                .attribute(p.urn.as_deref(), &p.name, Some(sub))
                .is_some();
            if !mapped && crate::scim::rfc7643::defines_sub(urn, &p.name, sub) == Some(false) {
                return invalid(format!("sub-attribute {}.{sub}", p.name));
            }
        }
        Ok(())
    }

    fn has_attribute(&self, p: &crate::scim::attr::AttrPath) -> bool {
        use crate::scim::attr::SchemaInfo;
        let res = self.res;
        let urn = p
            .urn
            .as_deref()
            .filter(|u| !u.eq_ignore_ascii_case(&res.schema));
        if let Some(u) = urn {
            if res.extension(u).is_none() {
                return false;
            }
        }
        if res.attribute(p.urn.as_deref(), &p.name, None).is_some()
            || (urn.is_none()
                && ["id", "externalId", "meta", "schemas"]
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(&p.name)))
        {
            return true;
        }
        crate::scim::rfc7643::defines(urn.unwrap_or(&res.schema), &p.name)
    }
}

/// Calls `f` on every top-level attribute path of a filter.
fn visit_paths(filter: &Filter, f: &mut dyn FnMut(&crate::scim::attr::AttrPath)) {
    match filter {
        Filter::Present(p) | Filter::Compare(p, _, _) | Filter::ValuePath(p, _) => f(p),
        Filter::And(a, b) | Filter::Or(a, b) => {
            visit_paths(a, f);
            visit_paths(b, f);
        }
        Filter::Not(a) => visit_paths(a, f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The ListResponse written piece by piece (two parts joined, as the
    /// root search joins resource types) is `list_response`, byte for byte.
    #[test]
    fn listed_bytes_are_list_response_bytes() {
        let items = [
            json!({"id": "1", "x": "é\"\n"}),
            json!({"id": "2"}),
            json!({}),
        ];
        for n in 0..=items.len() {
            for split in 0..=n {
                for (total, start) in [(0, 1), (7, 3), (usize::MAX, 1)] {
                    let (mut first, mut second) = (Listed::new(9), Listed::new(9));
                    items[..split].iter().for_each(|v| first.push_value(v));
                    items[split..n].iter().for_each(|v| second.push_value(v));
                    let mut joined = Listed::new(start);
                    joined.append(first);
                    joined.append(second);
                    joined.total = total;
                    let want = list_response(items[..n].to_vec(), total, start);
                    assert_eq!(
                        String::from_utf8(joined.into_json()).unwrap(),
                        serde_json::to_string(&want).unwrap()
                    );
                }
            }
        }
    }
}
