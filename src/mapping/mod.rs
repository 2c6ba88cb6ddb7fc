//! The declarative mapping language: raw file model, compilation, and the
//! compiled plan that translates between SCIM and the legacy backend.

pub mod compile;
pub mod fieldpath;
pub mod lint;
pub mod merge;
pub mod model;
pub mod plan;
pub mod pushdown;
pub mod record;
pub mod request;
pub mod transform;

pub use compile::{load_plan, MappingError};
pub use plan::{Plan, ResourcePlan};
