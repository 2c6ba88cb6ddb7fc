//! `[[tenants]]`: several independent tenants served by one process. The
//! main settings file keeps the per-process settings and lists the tenants;
//! each tenant's own settings file has the single-tenant shape (mappings,
//! `[auth]`, `[backend]`, `[scim]`, base path). Loading those files is the
//! load step's job ([`crate::load::load_tenants`]).

use super::check::Check;
use super::raw::RawTenant;
use std::path::PathBuf;

/// How a request finds its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSelector {
    /// Paths under this prefix (`/t/acme`): the tenant's SCIM base path is
    /// the prefix followed by its own `server.base_path`.
    PathPrefix(String),
    /// Requests whose `Host` (port ignored, lower case) is this name.
    Host(String),
}

/// One `[[tenants]]` entry of the main settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRef {
    /// The label in metrics, logs and audit lines (`[a-z0-9-]{1,32}`).
    pub name: String,
    /// The tenant's own settings file (resolved against the main file's folder).
    pub settings: PathBuf,
    pub selector: TenantSelector,
}

impl TenantRef {
    /// The selector as written (`path_prefix = "/t/acme"`), for messages.
    pub fn describe(&self) -> String {
        match &self.selector {
            TenantSelector::PathPrefix(p) => format!("path_prefix {p}"),
            TenantSelector::Host(h) => format!("host {h}"),
        }
    }
}

fn valid_name(n: &str) -> bool {
    (1..=32).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_prefix(p: &str) -> Result<String, String> {
    let p = p.trim_end_matches('/');
    if !p.starts_with('/') || p.len() < 2 {
        return Err(format!(
            "{p:?} must start with '/' and name a path (like \"/t/acme\")"
        ));
    }
    if p.contains("//")
        || !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{p:?} may hold only letters, digits, '-', '_', '.' and single '/'"
        ));
    }
    if p.split('/').any(|s| s == "." || s == "..") {
        return Err(format!("{p:?} must not hold '.' or '..' segments"));
    }
    Ok(p.to_string())
}

fn check_host(h: &str) -> Result<String, String> {
    let h = h.to_ascii_lowercase();
    if h.is_empty()
        || h.len() > 253
        || !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(format!(
            "{h:?} must be a host name (letters, digits, '-' and '.'; no port)"
        ));
    }
    Ok(h)
}

/// Two path prefixes overlap when one is the other or lies beneath it.
fn overlaps(a: &str, b: &str) -> bool {
    let under = |x: &str, y: &str| x == y || x.starts_with(&format!("{y}/"));
    under(a, b) || under(b, a)
}

/// The `[[tenants]]` list, checked: names, files, one selector each, no
/// two tenants reachable by the same request.
pub(super) fn tenants(c: &mut Check, raw: &[RawTenant]) -> Vec<TenantRef> {
    let mut out: Vec<TenantRef> = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let key = |k: &str| format!("tenants[{i}].{k}");
        let name = t.name.clone().unwrap_or_default();
        if !valid_name(&name) {
            c.fail(
                &key("name"),
                format!("{name:?} must be 1 to 32 of a-z, 0-9 and '-' (it labels metrics, logs and audit lines)"),
            );
        } else if out.iter().any(|o| o.name == name) {
            c.fail(&key("name"), format!("tenant {name:?} is listed twice"));
        }
        let settings = c.path(&key("settings"), t.settings.as_ref());
        if settings.is_none() && t.settings.as_deref().is_none_or(str::is_empty) {
            c.fail(
                &key("settings"),
                "required: the tenant's own settings file (relative to this file)".into(),
            );
        }
        let selector = match (&t.path_prefix, &t.host) {
            (Some(p), None) => check_prefix(p)
                .map_err(|m| c.fail(&key("path_prefix"), m))
                .ok()
                .map(TenantSelector::PathPrefix),
            (None, Some(h)) => check_host(h)
                .map_err(|m| c.fail(&key("host"), m))
                .ok()
                .map(TenantSelector::Host),
            _ => {
                c.fail(
                    &key("path_prefix"),
                    "set exactly one of path_prefix and host".into(),
                );
                None
            }
        };
        let Some(selector) = selector else { continue };
        let clash = out.iter().find(|o| match (&o.selector, &selector) {
            (TenantSelector::PathPrefix(a), TenantSelector::PathPrefix(b)) => overlaps(a, b),
            (TenantSelector::Host(a), TenantSelector::Host(b)) => a == b,
            _ => false,
        });
        if let Some(o) = clash {
            let k = match selector {
                TenantSelector::PathPrefix(_) => "path_prefix",
                TenantSelector::Host(_) => "host",
            };
            c.fail(
                &key(k),
                format!("overlaps tenant {:?} ({})", o.name, o.describe()),
            );
            continue;
        }
        if let Some(settings) = settings {
            out.push(TenantRef {
                name,
                settings,
                selector,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_prefixes_and_hosts() {
        assert!(valid_name("acme-2"));
        assert!(!valid_name("Acme"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(33)));
        assert_eq!(check_prefix("/t/acme/").unwrap(), "/t/acme");
        assert!(check_prefix("/").is_err());
        assert!(check_prefix("t/acme").is_err());
        assert!(check_prefix("/t/../x").is_err());
        assert!(check_prefix("/t/a?b").is_err());
        assert_eq!(check_host("Acme.Example.com").unwrap(), "acme.example.com");
        assert!(check_host("acme.example.com:443").is_err());
        assert!(overlaps("/t/a", "/t/a/b"));
        assert!(overlaps("/t/a", "/t/a"));
        assert!(!overlaps("/t/a", "/t/ab"));
    }
}
