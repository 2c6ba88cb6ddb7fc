//! The one load step behind `serve`, `check`, reload and `explain`: the
//! settings file (values checked, then every certificate, key and JWKS file
//! it names loaded) and every mapping compiled. Each half reports all of its
//! errors at once.

use crate::{config, mapping};

/// Everything `serve`/`check` load, or every error found doing so.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Settings(#[from] config::ConfigError),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Mapping(Vec<mapping::MappingError>),
}

/// Loads settings (with the files they name) and compiles every mapping.
pub fn load(
    settings_file: &std::path::Path,
    env: config::EnvMap,
) -> Result<(config::Settings, mapping::Plan), LoadError> {
    let settings = config::Settings::load(settings_file, env.clone())?;
    let plan = mapping::load_plan(&settings, &env).map_err(LoadError::Mapping)?;
    Ok((settings, plan))
}
