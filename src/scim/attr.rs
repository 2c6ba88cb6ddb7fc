//! Attribute paths and the schema knowledge the pure protocol code needs.
//!
//! The filter evaluator and the PATCH engine never see the mapping: they ask a
//! [`SchemaInfo`] about attributes (canonical name, type, case-exactness). The
//! mapping layer implements it from the compiled plan; tests implement it by hand.

use serde_json::Value;
use std::fmt;

/// `[urn:...:]name[.sub]` — an attribute path as it appears in filters and PATCH paths.
///
/// `urn` is the schema URN prefix when the client wrote one (e.g. the enterprise
/// extension), without the trailing colon. Names keep the client's spelling;
/// resolution against the schema is case-insensitive (RFC 7643 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn new(name: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    pub fn with_sub(name: impl Into<String>, sub: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: Some(sub.into()),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// SCIM attribute data types (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// What the schema says about one attribute or sub-attribute.
#[derive(Debug, Clone, Copy)]
pub struct AttrMeta<'a> {
    /// The canonical spelling, e.g. `givenName` for a client's `GIVENNAME`.
    pub name: &'a str,
    pub kind: AttrKind,
    pub multi_valued: bool,
    pub case_exact: bool,
}

/// Schema knowledge for one resource type.
///
/// Resources are plain `serde_json::Value` objects in SCIM JSON shape: core
/// attributes at top level, extension attributes inside an object keyed by the
/// extension's URN (RFC 7643 §3.3).
pub trait SchemaInfo {
    /// The core schema URN of the resource type (a path prefixed with it means top level).
    fn core_schema(&self) -> &str;

    /// Is `urn` one of this resource type's extension schema URNs? (case-insensitive)
    /// Returns the canonical spelling.
    fn extension(&self, urn: &str) -> Option<&str>;

    /// Looks up an attribute (`sub == None`) or a sub-attribute, case-insensitively.
    /// `urn` is `None` or the core URN for core attributes, an extension URN otherwise.
    /// `None` means the schema does not know it (the caller decides what that means).
    fn attribute(&self, urn: Option<&str>, name: &str, sub: Option<&str>) -> Option<AttrMeta<'_>>;

    /// Whether a write would store `a` and `b` alike for this attribute (or
    /// sub-attribute of `elem`, the object holding it): a mapping's write
    /// transforms can make two values one (`language_only`: `nl-BE` and
    /// `nl`). A `remove`'s value names the value held when they are alike,
    /// so that the value a client wrote names what was stored from it. The
    /// default: never (only equal values name each other).
    fn stored_alike(
        &self,
        _urn: Option<&str>,
        _name: &str,
        _sub: Option<&str>,
        _elem: Option<&Value>,
        _a: &Value,
        _b: &Value,
    ) -> bool {
        false
    }
}
