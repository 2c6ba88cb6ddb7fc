//! scim-bridge: a SCIM 2.0 server (RFC 7643/7644) in front of a legacy REST
//! user API, driven by declarative mapping files.
//!
//! # Layout
//! - [`config`]: settings file + environment overrides → validated [`config::Settings`].
//! - [`mapping`]: mapping files → compiled [`mapping::Plan`] (SCIM ⇄ backend translation).
//! - [`scim`]: pure protocol code: filters, PATCH, errors, list responses, discovery.
//! - `backend`: pooled HTTP(S) client calling the legacy API and translating its errors.
//! - `server`: accept loop, TLS termination, auth, routing, SCIM handlers.
#![forbid(unsafe_code)]

pub mod backend;
pub mod config;
pub mod explain;
pub mod jwks;
pub mod load;
pub mod logging;
pub mod mapping;
pub mod metrics;
pub mod scim;
pub mod secret;
pub mod server;
pub mod service;
pub mod suggest;
pub mod tls_files;

pub use load::{load, LoadError};
pub use server::{run, run_with, AppState};
