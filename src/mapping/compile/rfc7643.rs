//! The attribute names RFC 7643 defines for the core User and Group schemas
//! (§4.1, §4.2, with the common attributes of §3.1) and the enterprise User
//! extension (§4.3): a name outside them under those URNs is a typo.

use super::*;

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Sub-attributes of a multi-valued attribute (RFC 7643 §2.4).
const MULTI: &[&str] = &["value", "display", "type", "primary", "$ref"];
const META: &[&str] = &[
    "resourceType",
    "created",
    "lastModified",
    "location",
    "version",
];

/// (attribute, its sub-attributes; empty for a simple attribute)
type Attrs = &'static [(&'static str, &'static [&'static str])];

const COMMON: Attrs = &[("id", &[]), ("externalId", &[]), ("meta", META)];

const USER: Attrs = &[
    ("userName", &[]),
    (
        "name",
        &[
            "formatted",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix",
        ],
    ),
    ("displayName", &[]),
    ("nickName", &[]),
    ("profileUrl", &[]),
    ("title", &[]),
    ("userType", &[]),
    ("preferredLanguage", &[]),
    ("locale", &[]),
    ("timezone", &[]),
    ("active", &[]),
    ("password", &[]),
    ("emails", MULTI),
    ("phoneNumbers", MULTI),
    ("ims", MULTI),
    ("photos", MULTI),
    (
        "addresses",
        &[
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
            "type",
            "primary",
        ],
    ),
    ("groups", MULTI),
    ("entitlements", MULTI),
    ("roles", MULTI),
    ("x509Certificates", MULTI),
];

const GROUP: Attrs = &[("displayName", &[]), ("members", MULTI)];

const ENTERPRISE: Attrs = &[
    ("employeeNumber", &[]),
    ("costCenter", &[]),
    ("organization", &[]),
    ("division", &[]),
    ("department", &[]),
    ("manager", &["value", "$ref", "displayName"]),
];

/// The attributes RFC 7643 defines under `urn`, `None` for any other schema
/// (a custom extension defines its own).
fn defined(urn: &str) -> Option<Vec<(&'static str, &'static [&'static str])>> {
    let own = if urn.eq_ignore_ascii_case(CORE_USER) {
        USER
    } else if urn.eq_ignore_ascii_case(CORE_GROUP) {
        GROUP
    } else if urn.eq_ignore_ascii_case(ENTERPRISE_USER) {
        return Some(ENTERPRISE.to_vec());
    } else {
        return None;
    };
    Some(COMMON.iter().chain(own).copied().collect())
}

fn suggestion(unknown: &str, names: &[&str]) -> String {
    match crate::suggest::closest(unknown, names) {
        Some(n) => format!(" — did you mean `{n}`?"),
        None => format!(" (it defines {})", names.join(", ")),
    }
}

/// Refuses an attribute or sub-attribute name RFC 7643 does not define in
/// the standard schema `schema` (the resource's core schema, or the
/// enterprise extension) the attribute maps into. A reference's `value` is
/// the compiler's, not the mapping's: only its name is checked.
pub(super) fn check_standard_name(
    cx: &mut Ctx,
    at: &str,
    schema: &str,
    t: &ScimTarget,
    reference: bool,
) {
    let Some(attrs) = defined(schema) else {
        return;
    };
    let short = schema.rsplit(':').next().unwrap_or(schema);
    let kind = if schema.eq_ignore_ascii_case(ENTERPRISE_USER) {
        "enterprise User extension"
    } else {
        "core schema"
    };
    let names: Vec<&str> = attrs.iter().map(|(n, _)| *n).collect();
    let Some((name, subs)) = attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(&t.name)) else {
        cx.err(
            format!("{at}.scim"),
            format!(
                "RFC 7643 defines no attribute {:?} in the {kind} ({short}){}; custom attributes go under a custom extension URN (listed in `extensions`)",
                t.name,
                suggestion(&t.name, &names)
            ),
        );
        return;
    };
    let selector_subs = t.selector.iter().map(|(s, _)| s.as_str());
    let sub = t.sub.as_deref().filter(|_| !reference);
    for sub in sub.into_iter().chain(selector_subs) {
        if subs.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
            continue;
        }
        let detail = if subs.is_empty() {
            format!(" ({name} has no sub-attributes)")
        } else {
            suggestion(sub, subs)
        };
        cx.err(
            format!("{at}.scim"),
            format!(
                "RFC 7643 defines no sub-attribute {sub:?} of {name} in the {kind} ({short}){detail}"
            ),
        );
    }
}
