//! The one load step behind `serve`, `check`, reload and `explain`: the
//! settings file (values checked, then every certificate, key and JWKS file
//! it names loaded) and every mapping compiled. Each half reports all of its
//! errors at once. With `[[tenants]]` the main file is followed by every
//! tenant's own file and mappings ([`load_tenants`], [`load_tenant`]).

use crate::config::tenants::{TenantRef, TenantSelector};
use crate::config::{self, ConfigError};
use crate::mapping;

/// Everything `serve`/`check` load, or every error found doing so.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Settings(#[from] config::ConfigError),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Mapping(Vec<mapping::MappingError>),
    /// The tenants that failed, each with its errors (every line names the tenant).
    #[error("{}", tenant_lines(.0))]
    Tenants(Vec<(String, LoadError)>),
}

fn tenant_lines(errors: &[(String, LoadError)]) -> String {
    let mut out = Vec::new();
    for (name, e) in errors {
        for line in e.to_string().lines() {
            out.push(format!("tenant {name}: {line}"));
        }
    }
    out.join("\n")
}

/// Loads settings (with the files they name) and compiles every mapping.
pub fn load(
    settings_file: &std::path::Path,
    env: config::EnvMap,
) -> Result<(config::Settings, mapping::Plan), LoadError> {
    let mut settings = config::Settings::load(settings_file, env.clone())?;
    stamp_mappings(&mut settings);
    let plan = mapping::load_plan(&settings, &env).map_err(LoadError::Mapping)?;
    Ok((settings, plan))
}

/// One tenant as loaded: its entry in the main file, its settings and plan.
#[derive(Debug)]
pub struct LoadedTenant {
    pub tenant: TenantRef,
    pub settings: config::Settings,
    pub plan: mapping::Plan,
}

/// Every tenant the main settings list, or every error of every tenant
/// (each line prefixed `tenant NAME:`).
pub fn load_tenants(
    main: &config::Settings,
    env: &config::EnvMap,
) -> Result<Vec<LoadedTenant>, LoadError> {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for t in &main.tenants {
        match load_tenant(t, main, env.clone()) {
            Ok((settings, plan)) => loaded.push(LoadedTenant {
                tenant: t.clone(),
                settings,
                plan,
            }),
            Err(e) => errors.push((t.name.clone(), e)),
        }
    }
    // A credential of one tenant must never open another: refused when
    // two tenants share a static token or an OAuth signing key, or a
    // tenant has one of the operators' tokens of the main file.
    for a in &loaded {
        if shared_credential(&a.settings, main) == Some("auth.bearer_tokens") {
            errors.push((
                a.tenant.name.clone(),
                LoadError::Settings(ConfigError::Invalid {
                    file: a.tenant.settings.display().to_string(),
                    key: "auth.bearer_tokens".into(),
                    message: "the main settings file has the same one: each tenant needs its own credentials".into(),
                }),
            ));
        }
    }
    for (i, a) in loaded.iter().enumerate() {
        for b in &loaded[..i] {
            if let Some(what) = shared_credential(&a.settings, &b.settings) {
                errors.push((
                    a.tenant.name.clone(),
                    LoadError::Settings(ConfigError::Invalid {
                        file: a.tenant.settings.display().to_string(),
                        key: what.into(),
                        message: format!(
                            "tenant {:?} has the same one: each tenant needs its own credentials",
                            b.tenant.name
                        ),
                    }),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadError::Tenants(errors))
    }
}

/// The setting two tenants share a secret in, if any (a tenant's reload
/// checks its new settings against the others' running ones with it).
pub fn shared_credential(a: &config::Settings, b: &config::Settings) -> Option<&'static str> {
    let same = |x: &[crate::secret::Secret], y: &[crate::secret::Secret]| {
        x.iter().any(|s| y.iter().any(|t| s.expose() == t.expose()))
    };
    if same(&a.bearer_tokens, &b.bearer_tokens) {
        return Some("auth.bearer_tokens");
    }
    let keys = |s: &config::Settings| {
        s.oauth
            .as_ref()
            .and_then(|o| o.all_keys().ok())
            .unwrap_or_default()
    };
    if same(&keys(a), &keys(b)) {
        return Some("auth.oauth.signing_keys");
    }
    None
}

/// The main settings, their plan (empty with tenants) and every tenant.
pub fn load_all(
    settings_file: &std::path::Path,
    env: config::EnvMap,
) -> Result<(config::Settings, mapping::Plan, Vec<LoadedTenant>), LoadError> {
    let (settings, plan) = load(settings_file, env.clone())?;
    let tenants = load_tenants(&settings, &env)?;
    Ok((settings, plan, tenants))
}

/// One tenant's settings file and mappings, as a tenant: the sections that
/// are per process are refused, the per-process values of `main` apply,
/// and a path prefix goes in front of the base path (and token endpoint).
/// Used at start and by that tenant's reloads.
pub fn load_tenant(
    t: &TenantRef,
    main: &config::Settings,
    env: config::EnvMap,
) -> Result<(config::Settings, mapping::Plan), LoadError> {
    let mut s = config::Settings::load_tenant_file(&t.settings, env.clone())?;
    let file = t.settings.display().to_string();
    let mut errors = Vec::new();
    let mut refuse = |present: bool, key: &str, message: &str| {
        if present {
            errors.push(ConfigError::Invalid {
                file: file.clone(),
                key: key.into(),
                message: message.into(),
            });
        }
    };
    let per_process = "per process: set it in the main settings file, not a tenant's";
    refuse(
        !s.tenants.is_empty(),
        "tenants",
        "a tenant's settings file cannot list tenants",
    );
    refuse(s.tls.is_some(), "tls", per_process);
    refuse(s.audit.is_some(), "audit", per_process);
    refuse(s.metrics_listen.is_some(), "metrics.listen", per_process);
    refuse(
        s.insecure_allow_weak_tokens && !main.listen.ip().is_loopback(),
        "auth.insecure_allow_weak_tokens",
        "only allowed when the main settings' server.listen is a loopback address",
    );
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0).into()),
        _ => return Err(ConfigError::Several(errors).into()),
    }
    // What the process holds once: its listener, connection and header
    // limits, request permits, metrics and logging.
    s.listen = main.listen;
    s.connections = main.connections;
    s.max_header_bytes = main.max_header_bytes;
    s.max_headers = main.max_headers;
    s.max_concurrent_requests = main.max_concurrent_requests;
    s.metrics_listen = main.metrics_listen;
    // `/metrics` shows every tenant: never behind one tenant's token.
    s.metrics_enabled = false;
    s.log_format = main.log_format;
    s.log_level = main.log_level.clone();
    s.tenant = Some(t.name.clone());
    if let TenantSelector::PathPrefix(p) = &t.selector {
        s.base_path = format!("{p}{}", s.base_path);
        if let Some(o) = &mut s.oauth {
            o.token_path = format!("{p}{}", o.token_path);
        }
    }
    stamp_mappings(&mut s);
    let plan = mapping::load_plan(&s, &env).map_err(LoadError::Mapping)?;
    Ok((s, plan))
}

/// Stamps the mapping files [`mapping::load_plan`] is about to read.
fn stamp_mappings(s: &mut config::Settings) {
    for m in &s.mappings {
        s.read_stamps.before_reading(m);
    }
}
