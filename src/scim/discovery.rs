//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`, rendered from
//! what the service says it serves ([`ResourceTypeInfo`], [`Catalog`]; the
//! mapping layer implements both from the compiled plan), so they advertise
//! exactly what the mapping serves.

use crate::scim::attr::AttrKind;
use crate::scim::schema::{SchemaAttr, SchemaDef};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// What `/ResourceTypes` and `/Schemas` need to know about one resource type.
pub trait ResourceTypeInfo {
    fn name(&self) -> &str;
    /// `/Users`.
    fn endpoint(&self) -> &str;
    fn description(&self) -> &str;
    /// The core schema URN.
    fn schema(&self) -> &str;
    /// Extension schema URNs.
    fn extensions(&self) -> &[String];
    /// Core schema first, then extensions.
    fn schemas(&self) -> &[SchemaDef];
}

impl<T: ResourceTypeInfo + ?Sized> ResourceTypeInfo for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn endpoint(&self) -> &str {
        (**self).endpoint()
    }
    fn description(&self) -> &str {
        (**self).description()
    }
    fn schema(&self) -> &str {
        (**self).schema()
    }
    fn extensions(&self) -> &[String] {
        (**self).extensions()
    }
    fn schemas(&self) -> &[SchemaDef] {
        (**self).schemas()
    }
}

/// Every resource type the service serves.
pub trait Catalog {
    fn resource_types(&self) -> Vec<&dyn ResourceTypeInfo>;
}

pub const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RT_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// `etag`: whether every resource type has a version (else some answers
/// carry no `ETag` and an `If-Match` can only be `*`).
pub fn service_provider_config(base: &str, max_results: usize, etag: bool) -> Value {
    json!({
        "schemas": [SPC_URN],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": etag},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token (the Secret Token in Entra)",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    })
}

pub fn resource_type<R: ResourceTypeInfo + ?Sized>(r: &R, base: &str) -> Value {
    let ext: Vec<Value> = r
        .extensions()
        .iter()
        .map(|e| json!({"schema": e, "required": false}))
        .collect();
    let mut v = json!({
        "schemas": [RT_URN],
        "id": r.name(),
        "name": r.name(),
        "endpoint": r.endpoint(),
        "description": r.description(),
        "schema": r.schema(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", r.name())}
    });
    if !ext.is_empty() {
        v["schemaExtensions"] = Value::Array(ext);
    }
    v
}

fn kind_name(k: AttrKind) -> &'static str {
    match k {
        AttrKind::String => "string",
        AttrKind::Boolean => "boolean",
        AttrKind::Decimal => "decimal",
        AttrKind::Integer => "integer",
        AttrKind::DateTime => "dateTime",
        AttrKind::Binary => "binary",
        AttrKind::Reference => "reference",
        AttrKind::Complex => "complex",
    }
}

fn attr_json(a: &SchemaAttr) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    m.insert("type".into(), json!(kind_name(a.kind)));
    m.insert("multiValued".into(), json!(a.multi_valued));
    m.insert(
        "description".into(),
        json!(a
            .description
            .clone()
            .unwrap_or_else(|| format!("{} (mapped)", a.name))),
    );
    m.insert("required".into(), json!(a.required));
    if a.kind != AttrKind::Complex {
        m.insert("caseExact".into(), json!(a.case_exact));
    }
    if !a.canonical_values.is_empty() {
        m.insert("canonicalValues".into(), json!(a.canonical_values));
    }
    m.insert("mutability".into(), json!(a.mutability.as_str()));
    let returned = if a.mutability.as_str() == "writeOnly" {
        "never"
    } else {
        "default"
    };
    m.insert("returned".into(), json!(returned));
    if a.kind != AttrKind::Complex {
        m.insert("uniqueness".into(), json!(a.uniqueness));
    }
    if a.kind == AttrKind::Reference {
        let rt = if a.reference_types.is_empty() {
            vec!["external".to_string()]
        } else {
            a.reference_types.clone()
        };
        m.insert("referenceTypes".into(), json!(rt));
    }
    if a.kind == AttrKind::Complex {
        m.insert(
            "subAttributes".into(),
            Value::Array(a.subs.iter().map(attr_json).collect()),
        );
    }
    Value::Object(m)
}

pub fn schema(def: &SchemaDef, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_URN],
        "id": def.urn,
        "name": def.name,
        "description": def.description,
        "attributes": def.attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", def.urn)}
    })
}

/// Every schema of every resource type, each once.
pub fn all_schemas<C: Catalog + ?Sized>(catalog: &C) -> Vec<&SchemaDef> {
    let mut out: Vec<&SchemaDef> = Vec::new();
    for r in catalog.resource_types() {
        for s in r.schemas() {
            if !out.iter().any(|o| o.urn == s.urn) {
                out.push(s);
            }
        }
    }
    out
}

/// A ListResponse. The resources are moved in: `json!` would serialize
/// them into a second tree (a deep copy of every resource of the page).
pub fn list_response(resources: Vec<Value>, total: usize, start_index: usize) -> Value {
    let mut m = Map::new();
    m.insert(
        "schemas".into(),
        Value::Array(vec![Value::String(LIST_URN.into())]),
    );
    m.insert("totalResults".into(), Value::from(total));
    m.insert("startIndex".into(), Value::from(start_index));
    m.insert("itemsPerPage".into(), Value::from(resources.len()));
    m.insert("Resources".into(), Value::Array(resources));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope, byte for byte as clients get it (keys sorted).
    #[test]
    fn list_response_bytes() {
        let r = list_response(vec![json!({"id": "1"}), json!({"id": "2"})], 7, 3);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"Resources":[{"id":"1"},{"id":"2"}],"itemsPerPage":2,"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"startIndex":3,"totalResults":7}"#
        );
        let empty = list_response(Vec::new(), 0, 1);
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"Resources":[],"itemsPerPage":0,"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"startIndex":1,"totalResults":0}"#
        );
    }
}
