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
pub mod logging;
pub mod mapping;
pub mod metrics;
pub mod scim;
pub mod secret;
pub mod server;
pub mod service;
pub mod suggest;

pub use server::{run, run_with, AppState};

/// Everything `serve`/`check` load, or every error found doing so.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Settings(#[from] config::ConfigError),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Mapping(Vec<mapping::MappingError>),
}

/// Loads settings and compiles every mapping.
pub fn load(
    settings_file: &std::path::Path,
    env: config::EnvMap,
) -> Result<(config::Settings, mapping::Plan), LoadError> {
    let settings = config::Settings::load(settings_file, env.clone())?;
    let plan = mapping::load_plan(&settings, &env).map_err(LoadError::Mapping)?;
    Ok((settings, plan))
}
