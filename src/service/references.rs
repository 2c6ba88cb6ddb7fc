//! Reference attributes (`manager`): an id written to the backend must name
//! an existing resource of the referenced type, checked before anything is
//! written; a single GET may fill the referenced resource's `displayName`.

use super::ResourceCtx;
use crate::scim::error::ScimError;
use http::StatusCode;
use serde_json::Value;

impl ResourceCtx<'_> {
    /// Checks every reference attribute `new` sets to an id that `old` (the
    /// resource before the change; `None` on create) did not hold already.
    pub(super) async fn check_references(
        &self,
        new: &Value,
        old: Option<&Value>,
    ) -> Result<(), ScimError> {
        for a in &self.res.attributes {
            let Some(endpoint) = &a.reference else {
                continue;
            };
            let Some(id) = a.target.extract(new).and_then(Value::as_str) else {
                continue;
            };
            if id.is_empty() {
                continue; // `""` clears
            }
            let before = old
                .and_then(|o| a.target.extract(o))
                .and_then(Value::as_str);
            if before == Some(id) {
                continue;
            }
            let unknown = || {
                ScimError::invalid_value(format!(
                    "attribute '{}': '{id}' is not the id of an existing resource at {endpoint}",
                    a.scim_text
                ))
            };
            let Some(target) = self.plan.by_endpoint(endpoint.trim_start_matches('/')) else {
                return Err(unknown());
            };
            if target.check_id(id).is_none() {
                return Err(unknown());
            }
            let ctx = ResourceCtx {
                res: target,
                if_none_match: None,
                ..*self
            };
            match ctx.fetch(id).await {
                Ok(_) => {}
                Err(e) if e.status == StatusCode::NOT_FOUND => return Err(unknown()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `reference: { display: true }`: fills `displayName` of each reference
    /// the rendered resource `scim` carries from the referenced resource (one
    /// backend call each). A reference that cannot be read (gone, hidden,
    /// backend failing) is left without it; the GET never fails for it.
    pub(super) async fn fill_reference_names(&self, scim: &mut Value) {
        for a in self.res.attributes.iter().filter(|a| a.reference_display) {
            let Some(endpoint) = &a.reference else {
                continue;
            };
            let id = {
                let container = match &a.target.urn {
                    None => Some(&*scim),
                    Some(u) => scim.get(u.as_str()),
                };
                match container
                    .and_then(|c| c.get(a.target.name.as_str()))
                    .and_then(|m| m.get("value"))
                    .and_then(Value::as_str)
                {
                    Some(id) => id.to_string(),
                    None => continue,
                }
            };
            let Some(target) = self.plan.by_endpoint(endpoint.trim_start_matches('/')) else {
                continue;
            };
            let ctx = ResourceCtx {
                res: target,
                if_none_match: None,
                ..*self
            };
            let name = match ctx.fetch(&id).await {
                Ok(f) => target
                    .to_scim(&f.record, None, self.base_url, false)
                    .get("displayName")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                Err(e) => {
                    tracing::debug!(status = e.status.as_u16(), "reference displayName not read");
                    None
                }
            };
            let container = match &a.target.urn {
                None => Some(&mut *scim),
                Some(u) => scim.get_mut(u.as_str()),
            };
            if let (Some(name), Some(Value::Object(m))) = (
                name,
                container.and_then(|c| c.get_mut(a.target.name.as_str())),
            ) {
                m.insert("displayName".into(), Value::String(name));
            }
        }
    }
}
