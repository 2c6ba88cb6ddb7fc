//! The SCIM operations of one resource type, executed against the backend
//! through the compiled mapping. No HTTP framing here: the server parses the
//! request, calls one of these, and renders the result.
//!
//! - `crud`: get, create, delete, and replace/PATCH as read-modify-write
//! - `search`: list and search with filter pushdown and paging, root search
//! - `membership`: group membership through per-member backend calls, with undo
//! - `references`: reference attributes (`manager`) must name existing resources
//! - `locks`: serialization of one resource's read-modify-write cycles
//! - `offload`: large bodies parsed and PATCHes applied on the blocking pool

use crate::backend::{translate_error, BackendClient, BackendResponse, Call};
use crate::config::Settings;
use crate::mapping::plan::{unquote_etag, AsNode, OpPlan, ResourcePlan};
use crate::mapping::record::{Arena, Json, Raw};
use crate::scim::error::ScimError;
use crate::scim::patch::PatchError;
use crate::scim::query::Projection;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;
use tracing::debug;

mod crud;
mod locks;
mod membership;
pub mod offload;
mod ongoing;
mod references;
mod search;

pub use crate::mapping::merge::{merge_diff, merge_into};
pub use crate::mapping::pushdown::{pushdown, Pushdown};
pub use locks::WriteLocks;
pub use ongoing::{Ongoing, OngoingToken};
pub use search::{search_all, Listed, SearchQuery};

impl From<PatchError> for ScimError {
    fn from(e: PatchError) -> ScimError {
        ScimError::bad_request(e.scim_type, e.detail)
    }
}

/// Why an answer holds no usable record ([`ResourceCtx::record_in`]).
enum NoRecord {
    NotJson,
    NotAtItem,
    NoId,
}

/// A backend record with the ETag it was read with.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub record: Value,
    pub etag: Option<String>,
}

/// One request's view of a resource type.
pub struct ResourceCtx<'a> {
    pub res: &'a ResourcePlan,
    /// The whole plan (group members are checked against the member resource type).
    pub plan: &'a crate::mapping::Plan,
    pub client: &'a BackendClient,
    pub write_locks: &'a WriteLocks,
    /// Work that outlives its request (a membership change), which a
    /// shutdown waits for.
    pub ongoing: &'a Ongoing,
    pub settings: &'a Settings,
    /// Public SCIM base URL for `meta.location` (`https://host/scim/v2`).
    pub base_url: &'a str,
    pub request_id: Option<&'a str>,
    /// The write's `If-None-Match` (PUT, PATCH, DELETE): checked with its
    /// `If-Match` against the record read under the write lock, the write
    /// then made over that record's version (see
    /// `Self::check_preconditions`). Never set for the resource types a
    /// write reads besides its own (members, references).
    pub if_none_match: Option<&'a str>,
}

impl ResourceCtx<'_> {
    fn what(&self, id: &str) -> String {
        format!("{} {id}", self.res.name)
    }

    /// `405` for a SCIM method whose backend operation the mapping leaves out.
    fn unsupported(&self, verb: &str) -> ScimError {
        let mut e = ScimError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            format!("{} cannot be {verb} through this bridge", self.res.name),
        );
        e.allow = Some(match verb {
            "created" => self.res.allow_collection(),
            _ => self.res.allow_item(),
        });
        e
    }

    fn not_found(&self, id: &str) -> ScimError {
        ScimError::not_found(format!("{} not found", self.what(id)))
    }

    fn body_bytes(op: &OpPlan, record: Value) -> Bytes {
        Bytes::from(serde_json::to_vec(&op.body_for(record)).unwrap_or_default())
    }

    async fn call(
        &self,
        op: &OpPlan,
        id: Option<&str>,
        member: Option<&str>,
        body: Option<Bytes>,
        if_match: Option<&str>,
    ) -> Result<BackendResponse, ScimError> {
        // The operation's own headers as they are; copied only to add `If-Match`.
        let with_if_match: Vec<(HeaderName, HeaderValue)>;
        let headers = match if_match.and_then(|m| HeaderValue::from_str(m).ok()) {
            Some(m) => {
                with_if_match = op
                    .headers
                    .iter()
                    .cloned()
                    .chain([(http::header::IF_MATCH, m)])
                    .collect();
                &with_if_match[..]
            }
            None => &op.headers[..],
        };
        let call = Call {
            op: op.name,
            method: op.method.clone(),
            path_and_query: op.path_and_query(id, member),
            headers,
            body: body.map(|b| (op.content_type.clone(), b)),
            request_id: self.request_id,
        };
        let sent = self.client.send(&self.res.backend, call).await;
        crate::audit::note_call(op, sent.as_ref().ok().map(|r| r.status.as_u16()));
        Ok(sent?)
    }

    /// `502` for a backend answer the mapping does not fit: `why` is logged
    /// with the mapping key to fix (`resources.<type>.<key>`), `detail`
    /// answered. The answer itself is not logged: it holds personal data.
    pub(super) fn mapping_mismatch(&self, key: &str, why: &str, detail: String) -> ScimError {
        tracing::error!(
            resource = %self.res.name,
            key = %format!("resources.{}.{key}", self.res.name),
            "{why}"
        );
        ScimError::new(StatusCode::BAD_GATEWAY, None, detail)
    }

    /// [`Self::mapping_mismatch`] for a record without the mapping's id
    /// field, in an `answer` or a `list answer`.
    pub(super) fn record_without_id(&self, answer: &str) -> ScimError {
        self.mapping_mismatch(
            "id.field",
            &format!("the backend's {answer} holds a record without its id: fix the mapping's id field (or the items path)"),
            format!("the backend's {answer} holds a record without an id"),
        )
    }

    /// The record in an answer, or why there is none.
    fn record_in(&self, op: &OpPlan, resp: &BackendResponse) -> Result<Fetched, NoRecord> {
        let json = resp.json().ok_or(NoRecord::NotJson)?;
        Ok(Fetched {
            record: self.fit_record::<_, Value>(op.item.take(json))?,
            etag: resp.etag().map(str::to_string),
        })
    }

    /// What an answer's `item` path found, if it is a record to serve: an
    /// object with its id. A record without its id would be served with
    /// `"id": ""` (RFC 7643 §3.1: `id` is required and unique): the
    /// mapping's `id.field` does not fit the backend's answers, or the
    /// answer is something else.
    fn fit_record<R: std::borrow::Borrow<J>, J: Json>(
        &self,
        found: Option<R>,
    ) -> Result<R, NoRecord> {
        let record = found
            .filter(|r| r.borrow().is_object_value())
            .ok_or(NoRecord::NotAtItem)?;
        if !self.res.has_id(record.borrow()) {
            return Err(NoRecord::NoId);
        }
        Ok(record)
    }

    /// [`Self::record_in`], where an answer must hold the record: `502`,
    /// logged, when it does not.
    fn record_from(&self, op: &OpPlan, resp: &BackendResponse) -> Result<Fetched, ScimError> {
        self.record_in(op, resp)
            .map_err(|why| self.no_record(why, resp))
    }

    /// The logged `502` for an answer without the record it must hold.
    fn no_record(&self, why: NoRecord, resp: &BackendResponse) -> ScimError {
        match why {
            NoRecord::NotJson => {
                tracing::warn!(
                    status = resp.status.as_u16(),
                    "backend answered without a JSON body where a record was expected"
                );
                ScimError::new(
                    StatusCode::BAD_GATEWAY,
                    None,
                    "the backend answered without the resource",
                )
            }
            NoRecord::NotAtItem => {
                tracing::warn!("backend answer has no record at the mapping's `item` path");
                ScimError::new(
                    StatusCode::BAD_GATEWAY,
                    None,
                    "the backend answer does not contain the resource",
                )
            }
            NoRecord::NoId => self.record_without_id("answer"),
        }
    }

    /// GET one backend record; ids that cannot exist are 404 without a call.
    pub async fn fetch(&self, id: &str) -> Result<Fetched, ScimError> {
        let f = self.fetch_any(id).await?;
        if self.res.is_hidden(&f.record) {
            return Err(self.not_found(id));
        }
        Ok(f)
    }

    /// [`Self::fetch`], soft-deleted records included.
    pub async fn fetch_any(&self, id: &str) -> Result<Fetched, ScimError> {
        let resp = self.get_answer(id).await?;
        self.record_from(&self.res.ops.get, &resp)
    }

    /// The backend's successful answer to the `get` of `id`.
    async fn get_answer(&self, id: &str) -> Result<BackendResponse, ScimError> {
        let id = self.res.check_id(id).ok_or_else(|| self.not_found(id))?;
        let resp = self
            .call(&self.res.ops.get, Some(id), None, None, None)
            .await?;
        if !resp.status.is_success() {
            return Err(translate_error(&self.res.backend, &resp, &self.what(id)));
        }
        Ok(resp)
    }

    /// [`Self::fetch`] then [`Self::render_json`], with the answer read as
    /// a [`Raw`] that borrows from it instead of a `Value` tree (the plan
    /// and the projection must allow it: [`ResourcePlan::renders_raw`]).
    /// The record's version is returned.
    pub(super) async fn fetch_rendered(
        &self,
        id: &str,
        projection: &Projection,
        out: &mut Vec<u8>,
    ) -> Result<Option<String>, ScimError> {
        let op = &self.res.ops.get;
        let resp = self.get_answer(id).await?;
        let text = resp.text();
        let arena = Arena::for_text(text.map_or(0, str::len));
        let doc = text
            .and_then(|t| Raw::parse(t, &arena).ok())
            .ok_or_else(|| self.no_record(NoRecord::NotJson, &resp))?;
        let record = self
            .fit_record::<_, Raw>(op.item.first(&doc))
            .map_err(|why| self.no_record(why, &resp))?;
        if self.res.is_hidden(record) {
            return Err(self.not_found(id));
        }
        let etag = resp.etag();
        self.render_record(record, etag, projection, out);
        Ok(self.res.version_of(record, etag))
    }

    /// Whether the members attribute is wanted (a group's costly part).
    fn with_members(&self, projection: &Projection) -> bool {
        self.res
            .members_attr
            .is_none_or(|i| projection.wants(&self.res.attributes[i].target.name))
    }

    pub fn render(&self, f: &Fetched, projection: &Projection) -> Value {
        self.render_of(&f.record, f.etag.as_deref(), projection)
    }

    fn render_of<J: Json>(&self, record: &J, etag: Option<&str>, projection: &Projection) -> Value {
        let scim = self
            .res
            .to_scim(record, etag, self.base_url, self.with_members(projection));
        projection.apply(&self.res.schema, scim)
    }

    /// [`Self::render`] as JSON appended to `out`.
    pub fn render_json(&self, f: &Fetched, projection: &Projection, out: &mut Vec<u8>) {
        self.render_record(&f.record, f.etag.as_deref(), projection, out)
    }

    /// A record rendered as JSON appended to `out`: written straight from
    /// it ([`ResourcePlan::write_scim`]: no `Value` tree), or through a
    /// `Value` for a projection the direct path does not apply.
    pub(super) fn render_record<J: AsNode>(
        &self,
        record: &J,
        etag: Option<&str>,
        projection: &Projection,
        out: &mut Vec<u8>,
    ) {
        let direct = self.res.write_scim(
            record,
            etag,
            self.base_url,
            self.with_members(projection),
            projection,
            out,
        );
        if !direct {
            // A `Value` always serialises (string keys, finite numbers).
            serde_json::to_writer(out, &self.render_of(record, etag, projection)).ok();
        }
    }

    /// The version string a client's `If-Match` is compared with.
    pub fn version(&self, f: &Fetched) -> Option<String> {
        self.res.version_of(&f.record, f.etag.as_deref())
    }

    /// A write's preconditions against `current`, read under the write
    /// lock: `412` when `if_none_match` names its version (`*`: it exists,
    /// RFC 7232 §3.2) or `if_match` does not (§3.1). A PUT or PATCH then
    /// carries the version read, so a change landing in between is refused
    /// by the backend; a DELETE or member call only where the backend's
    /// takes a version (else the write lock guards it, in this process).
    fn check_preconditions(
        &self,
        if_match: Option<&str>,
        if_none_match: Option<&str>,
        current: &Fetched,
    ) -> Result<(), ScimError> {
        let have = self.version(current);
        if if_none_match
            .is_some_and(|h| crate::mapping::plan::etag_list_matches(h, have.as_deref()))
        {
            return Err(ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "If-None-Match matches the resource's current version",
            ));
        }
        let Some(want) = if_match else { return Ok(()) };
        if want.trim() == "*" {
            return Ok(());
        }
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

    /// A POST or PUT body giving a complex attribute as something else
    /// than its JSON shape (`"name": "x"`, `"emails": "x"`) is `400
    /// invalidValue`: read as absent, it would clear what the mapping maps
    /// from it. A bare scalar still is the `value` of an attribute that has
    /// one (`"manager": "7"`, an element of an `emails` array).
    fn check_complex_shapes(&self, body: &Value) -> Result<(), ScimError> {
        use crate::scim::attr::{AttrKind, SchemaInfo};
        let Value::Object(top) = body else {
            return Ok(());
        };
        let check = |scope: Option<&str>, obj: &serde_json::Map<String, Value>| {
            for (k, v) in obj {
                let Some(m) = self.res.attribute(scope, k, None) else {
                    continue;
                };
                if m.kind != AttrKind::Complex || v.is_null() {
                    continue;
                }
                let has_value = self.res.attribute(scope, k, Some("value")).is_some();
                let element =
                    |e: &Value| e.is_object() || e.is_null() || (has_value && !e.is_array());
                let ok = match v {
                    Value::Array(items) => {
                        (m.multi_valued || items.len() <= 1) && items.iter().all(element)
                    }
                    // A multi-valued attribute is an array (RFC 7643 §2.4).
                    other => !m.multi_valued && element(other),
                };
                if !ok {
                    return Err(ScimError::invalid_value(format!(
                        "\"{}\" is a complex attribute: give it as {}",
                        m.name,
                        if m.multi_valued {
                            "an array of objects"
                        } else {
                            "an object"
                        }
                    )));
                }
            }
            Ok(())
        };
        check(None, top)?;
        for ext in &self.res.extensions {
            if let Some(Value::Object(e)) =
                crate::scim::json::find_key(top, ext).and_then(|k| top.get(k))
            {
                check(Some(ext.as_str()), e)?;
            }
        }
        Ok(())
    }

    fn check_unmapped(&self, body: &Value) -> Result<(), ScimError> {
        let unmapped = self.res.unmapped_attributes(body);
        if unmapped.is_empty() {
            return Ok(());
        }
        if self.res.strict {
            return Err(unsupported(&unmapped));
        }
        debug!(resource = %self.res.name, attributes = ?unmapped, "ignoring unmapped attributes");
        Ok(())
    }

    fn is_conflict(&self, resp: &BackendResponse) -> bool {
        if Some(resp.status.as_u16()) != self.res.conflict_status {
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
}

/// `400 invalidValue` for attributes a `strict` resource type does not map.
pub(super) fn unsupported(attributes: &[String]) -> ScimError {
    ScimError::invalid_value(format!(
        "attribute(s) not supported by this backend: {}",
        attributes.join(", ")
    ))
}
