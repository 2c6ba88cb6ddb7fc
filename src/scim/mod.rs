//! Pure SCIM protocol code, no I/O: attribute paths, filters, PATCH, errors,
//! list responses and discovery documents.

pub mod attr;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod json;
pub mod patch;
pub mod query;
pub mod rfc7643;
pub mod schema;
#[cfg(test)]
pub(crate) mod test_schema;
