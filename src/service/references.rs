//! Reference attributes (`manager`): an id written to the backend must name
//! an existing resource of the referenced type, checked before anything is
//! written.

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
}
