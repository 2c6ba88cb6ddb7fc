//! The attribute names RFC 7643 defines for the core User and Group schemas
//! (§4.1, §4.2, with the common attributes of §3.1) and the enterprise User
//! extension (§4.3): `check` refuses a mapping naming anything else under
//! those URNs (a typo), and requests naming an attribute no schema of the
//! resource type has are refused (`invalidFilter`, `invalidPath`).

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
/// (a custom extension defines its own). Read from the tables as they are:
/// request checks (PATCH paths, filters) ask it without allocating.
pub fn defined(
    urn: &str,
) -> Option<impl Iterator<Item = (&'static str, &'static [&'static str])> + Clone> {
    let (common, own): (Attrs, Attrs) = if urn.eq_ignore_ascii_case(CORE_USER) {
        (COMMON, USER)
    } else if urn.eq_ignore_ascii_case(CORE_GROUP) {
        (COMMON, GROUP)
    } else if urn.eq_ignore_ascii_case(ENTERPRISE_USER) {
        (&[], ENTERPRISE)
    } else {
        return None;
    };
    Some(common.iter().chain(own).copied())
}

/// Whether RFC 7643 defines attribute `name` (case-insensitively) under the
/// standard schema `urn`; `false` for any other schema.
pub fn defines(urn: &str, name: &str) -> bool {
    defined(urn).is_some_and(|mut attrs| attrs.any(|(n, _)| n.eq_ignore_ascii_case(name)))
}

/// Whether `sub` can be a sub-attribute of `name` under the standard schema
/// `urn`: `Some(true/false)` when RFC 7643 defines `name` there, `None` when
/// it does not (a custom attribute: its mapping decides).
pub fn defines_sub(urn: &str, name: &str, sub: &str) -> Option<bool> {
    let (_, subs) = defined(urn)?.find(|(n, _)| n.eq_ignore_ascii_case(name))?;
    Some(subs.iter().any(|s| s.eq_ignore_ascii_case(sub)))
}
