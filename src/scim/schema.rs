//! The schema model that `/Schemas` publishes (RFC 7643 §7): what the mapping
//! layer builds from a mapping file and discovery renders, without either
//! knowing the other.

use crate::scim::attr::AttrKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    WriteOnly,
    Immutable,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::WriteOnly => "writeOnly",
            Mutability::Immutable => "immutable",
        }
    }
}

/// One SCIM attribute as `/Schemas` describes it.
#[derive(Debug, Clone)]
pub struct SchemaAttr {
    pub name: String,
    pub kind: AttrKind,
    pub multi_valued: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub required: bool,
    pub uniqueness: &'static str,
    pub description: Option<String>,
    pub canonical_values: Vec<String>,
    pub reference_types: Vec<String>,
    pub subs: Vec<SchemaAttr>,
}

#[derive(Debug, Clone)]
pub struct SchemaDef {
    pub urn: String,
    pub name: String,
    pub description: String,
    pub attrs: Vec<SchemaAttr>,
}
