//! The collector every settings check writes into: the file being read, its
//! folder (relative paths), the environment for `${VAR}`s, and every problem
//! found so far. Shared by the settings parser and the `[[tenants]]` list.

use super::{expand_env, ConfigError, EnvMap};
use std::path::{Path, PathBuf};

/// The errors found so far, and what every check needs.
pub(super) struct Check<'a> {
    file: String,
    pub(super) dir: &'a Path,
    env: &'a EnvMap,
    errors: Vec<ConfigError>,
}

impl<'a> Check<'a> {
    pub(super) fn new(path: &'a Path, env: &'a EnvMap) -> Check<'a> {
        Check {
            file: path.display().to_string(),
            dir: path.parent().unwrap_or(Path::new(".")),
            env,
            errors: Vec::new(),
        }
    }

    /// Records a problem with `key`.
    pub(super) fn fail(&mut self, key: &str, message: String) {
        self.errors.push(ConfigError::Invalid {
            file: self.file.clone(),
            key: key.to_string(),
            message,
        });
    }

    /// `Ok` when nothing was recorded; otherwise every problem, in the order found.
    pub(super) fn finish<T>(mut self, value: T) -> Result<T, ConfigError> {
        match self.errors.len() {
            0 => Ok(value),
            1 => Err(self.errors.remove(0)),
            _ => Err(ConfigError::Several(self.errors)),
        }
    }

    /// `Some(v)` when `r` is fine; otherwise records the problem.
    pub(super) fn ok<T>(&mut self, key: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.fail(key, m)).ok()
    }

    /// `${VAR}` references expanded (`None`: recorded as a problem).
    pub(super) fn expand(&mut self, key: &str, v: &str) -> Option<String> {
        let r = expand_env(v, self.env);
        self.ok(key, r)
    }

    /// A path relative to the settings file's folder; `None` when unset or empty.
    pub(super) fn path(&mut self, key: &str, v: Option<&String>) -> Option<PathBuf> {
        let v = v.filter(|v| !v.is_empty())?;
        self.expand(key, v).map(|v| self.dir.join(v))
    }

    /// `v` or `d`, which must lie in `min..=max`.
    pub(super) fn between(
        &mut self,
        key: &str,
        v: Option<usize>,
        d: usize,
        (min, max): (usize, usize),
    ) -> usize {
        let v = v.unwrap_or(d);
        if v < min || v > max {
            self.fail(key, format!("must be between {min} and {max}, got {v}"));
        }
        v
    }

    /// `v` or `d`, which must not be 0.
    pub(super) fn positive(&mut self, key: &str, v: Option<usize>, d: usize) -> usize {
        if v == Some(0) {
            self.fail(key, "must be greater than 0".into());
        }
        v.filter(|n| *n > 0).unwrap_or(d)
    }
}
