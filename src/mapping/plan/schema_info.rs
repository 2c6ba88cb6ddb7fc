//! What the protocol code asks of a resource type: attribute metadata for the
//! filter and PATCH engines, and the discovery documents.

use super::*;
use crate::scim::attr::{AttrKind, AttrMeta, SchemaInfo};
use crate::scim::discovery::{Catalog, ResourceTypeInfo};

const COMMON: &[(&str, AttrKind, bool)] = &[
    ("id", AttrKind::String, true),
    ("externalId", AttrKind::String, true),
];

const META_SUBS: &[(&str, AttrKind)] = &[
    ("resourceType", AttrKind::String),
    ("created", AttrKind::DateTime),
    ("lastModified", AttrKind::DateTime),
    ("location", AttrKind::Reference),
    ("version", AttrKind::String),
];

impl ResourceTypeInfo for ResourcePlan {
    fn name(&self) -> &str {
        &self.name
    }
    fn endpoint(&self) -> &str {
        &self.endpoint
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn schema(&self) -> &str {
        &self.schema
    }
    fn extensions(&self) -> &[String] {
        &self.extensions
    }
    fn schemas(&self) -> &[SchemaDef] {
        &self.schemas
    }
}

impl Catalog for Plan {
    fn resource_types(&self) -> Vec<&dyn ResourceTypeInfo> {
        self.resources
            .iter()
            .map(|r| &**r as &dyn ResourceTypeInfo)
            .collect()
    }
}

impl SchemaInfo for ResourcePlan {
    fn core_schema(&self) -> &str {
        &self.schema
    }

    fn extension(&self, urn: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|e| e.eq_ignore_ascii_case(urn))
            .map(String::as_str)
    }

    fn attribute(&self, urn: Option<&str>, name: &str, sub: Option<&str>) -> Option<AttrMeta<'_>> {
        let urn = urn.filter(|u| !u.eq_ignore_ascii_case(&self.schema));
        if urn.is_none() {
            if name.eq_ignore_ascii_case("meta") {
                let sub = sub?;
                let (n, k) = META_SUBS
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(sub))?;
                return Some(AttrMeta {
                    name: n,
                    kind: *k,
                    multi_valued: false,
                    case_exact: false,
                });
            }
            if let Some((n, k, ce)) = COMMON.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name)) {
                if sub.is_none() {
                    let ce = if *n == "externalId" {
                        self.attributes
                            .iter()
                            .find(|a| a.target.name == "externalId")
                            .map(|a| a.case_exact)
                            .unwrap_or(*ce)
                    } else {
                        *ce
                    };
                    return Some(AttrMeta {
                        name: n,
                        kind: *k,
                        multi_valued: false,
                        case_exact: ce,
                    });
                }
            }
        }
        let def = self.schema_def(urn)?;
        let top = def
            .attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))?;
        let a = match sub {
            None => top,
            Some(s) => top.subs.iter().find(|a| a.name.eq_ignore_ascii_case(s))?,
        };
        Some(AttrMeta {
            name: &a.name,
            kind: a.kind,
            multi_valued: sub.is_none() && a.multi_valued,
            case_exact: a.case_exact,
        })
    }

    fn stored_alike(
        &self,
        urn: Option<&str>,
        name: &str,
        sub: Option<&str>,
        elem: Option<&Value>,
        a: &Value,
        b: &Value,
    ) -> bool {
        let urn = urn.filter(|u| !u.eq_ignore_ascii_case(&self.schema));
        self.attributes.iter().any(|p| {
            !p.transforms.is_empty()
                && p.target.name.eq_ignore_ascii_case(name)
                && eq_opt_ci(p.target.urn.as_deref(), urn)
                && eq_opt_ci(p.target.sub.as_deref(), sub)
                // The element's own kind: a work phone's transform says
                // nothing about a mobile one.
                && (p.target.selector.is_empty() || elem.is_some_and(|e| p.target.selects(e)))
                && matches!(
                    (p.write_value(a), p.write_value(b)),
                    (Ok(x), Ok(y)) if !x.is_null() && x == y
                )
        })
    }
}

/// Two optional names, equal ignoring ASCII case (both absent: equal).
fn eq_opt_ci(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a.is_none() && b.is_none(),
    }
}
