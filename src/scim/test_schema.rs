//! The one hand-written [`SchemaInfo`] the filter and PATCH unit tests share:
//! the core User schema (plus group `members`) and the enterprise extension.

use crate::scim::attr::{AttrKind, AttrMeta, SchemaInfo};

pub const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// (extension?, attribute, sub-attribute, kind, multi-valued, caseExact)
type Row = (
    bool,
    &'static str,
    Option<&'static str>,
    AttrKind,
    bool,
    bool,
);

const ATTRS: &[Row] = &[
    (false, "id", None, AttrKind::String, false, true),
    (false, "externalId", None, AttrKind::String, false, true),
    (false, "userName", None, AttrKind::String, false, false),
    (false, "displayName", None, AttrKind::String, false, false),
    (false, "active", None, AttrKind::Boolean, false, false),
    (false, "loginCount", None, AttrKind::Integer, false, false),
    (
        false,
        "preferredLanguage",
        None,
        AttrKind::String,
        false,
        false,
    ),
    (false, "name", None, AttrKind::Complex, false, false),
    (
        false,
        "name",
        Some("givenName"),
        AttrKind::String,
        false,
        false,
    ),
    (
        false,
        "name",
        Some("familyName"),
        AttrKind::String,
        false,
        false,
    ),
    (
        false,
        "name",
        Some("formatted"),
        AttrKind::String,
        false,
        false,
    ),
    (false, "emails", None, AttrKind::Complex, true, false),
    (
        false,
        "emails",
        Some("value"),
        AttrKind::String,
        false,
        false,
    ),
    (
        false,
        "emails",
        Some("type"),
        AttrKind::String,
        false,
        false,
    ),
    (
        false,
        "emails",
        Some("primary"),
        AttrKind::Boolean,
        false,
        false,
    ),
    (false, "phoneNumbers", None, AttrKind::Complex, true, false),
    (
        false,
        "phoneNumbers",
        Some("value"),
        AttrKind::String,
        false,
        false,
    ),
    (
        false,
        "phoneNumbers",
        Some("type"),
        AttrKind::String,
        false,
        false,
    ),
    (false, "ims", None, AttrKind::Complex, true, false),
    // A simple multi-valued attribute (not case-exact).
    (false, "tags", None, AttrKind::String, true, false),
    (false, "ims", Some("value"), AttrKind::String, false, true),
    (false, "members", None, AttrKind::Complex, true, false),
    // Ids are opaque: case-exact, as the bridge's own Group schema says.
    (
        false,
        "members",
        Some("value"),
        AttrKind::String,
        false,
        true,
    ),
    (
        false,
        "members",
        Some("display"),
        AttrKind::String,
        false,
        false,
    ),
    (
        false,
        "members",
        Some("$ref"),
        AttrKind::Reference,
        false,
        false,
    ),
    (
        false,
        "meta",
        Some("lastModified"),
        AttrKind::DateTime,
        false,
        false,
    ),
    (
        false,
        "meta",
        Some("created"),
        AttrKind::DateTime,
        false,
        false,
    ),
    (true, "employeeNumber", None, AttrKind::String, false, true),
    (true, "manager", None, AttrKind::Complex, false, false),
    (
        true,
        "manager",
        Some("value"),
        AttrKind::String,
        false,
        false,
    ),
    (
        true,
        "manager",
        Some("displayName"),
        AttrKind::String,
        false,
        false,
    ),
];

/// Core User plus the enterprise extension, looked up case-insensitively.
pub struct TestSchema;

impl SchemaInfo for TestSchema {
    fn core_schema(&self) -> &str {
        CORE
    }

    fn extension(&self, urn: &str) -> Option<&str> {
        urn.eq_ignore_ascii_case(ENT).then_some(ENT)
    }

    fn attribute(&self, urn: Option<&str>, name: &str, sub: Option<&str>) -> Option<AttrMeta<'_>> {
        let ext = match urn {
            None => false,
            Some(u) if u.eq_ignore_ascii_case(CORE) => false,
            Some(u) if u.eq_ignore_ascii_case(ENT) => true,
            Some(_) => return None,
        };
        ATTRS
            .iter()
            .find(|r| {
                r.0 == ext
                    && r.1.eq_ignore_ascii_case(name)
                    && match (r.2, sub) {
                        (None, None) => true,
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        _ => false,
                    }
            })
            .map(|r| AttrMeta {
                name: r.2.unwrap_or(r.1),
                kind: r.3,
                multi_valued: r.4,
                case_exact: r.5,
            })
    }
}
