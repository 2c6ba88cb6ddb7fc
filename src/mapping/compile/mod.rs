//! Mapping files → executable [`Plan`]: every JSONPath, field path, template,
//! regex and header is parsed here, once. All errors of a file are collected
//! (not just the first); each names the file, the key and the offending value.

use crate::config::{expand_env, EnvMap, Settings};
use crate::mapping::fieldpath::FieldPath;
use crate::mapping::model::*;
use crate::mapping::plan::*;
use crate::mapping::transform::{Transform, TRANSFORM_NAMES};
use crate::scim::attr::AttrKind;
use crate::scim::error::scim_type_from_str;
use crate::scim::filter::{eq_assignments, parse_patch_path};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod attribute;
mod backend;
mod ops;
mod resource;
mod rfc7643;
mod schemas;
#[cfg(test)]
mod tests;

use attribute::*;
use backend::*;
pub use ops::encode_query;
use ops::*;
use resource::*;
use rfc7643::*;
use schemas::*;

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub file: String,
    /// Dotted key path, e.g. `resources.User.attributes[3].transforms[0]`.
    pub at: String,
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.at, self.message)
        }
    }
}

/// Collects errors while compiling one file.
struct Ctx<'a> {
    file: String,
    errors: Vec<MappingError>,
    env: &'a EnvMap,
}

impl Ctx<'_> {
    fn err(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.errors.push(MappingError {
            file: self.file.clone(),
            at: at.into(),
            message: message.into(),
        });
    }

    fn expand(&mut self, at: &str, v: &str) -> Option<String> {
        match expand_env(v, self.env) {
            Ok(s) => Some(s),
            Err(m) => {
                self.err(at, m);
                None
            }
        }
    }

    fn field(&mut self, at: &str, text: &str) -> Option<FieldPath> {
        match FieldPath::parse(text) {
            Ok(p) => Some(p),
            Err(m) => {
                self.err(at, m);
                None
            }
        }
    }

    fn read_expr(&mut self, at: &str, text: &str) -> Option<ReadExpr> {
        match compile_read(text) {
            Ok(e) => Some(e),
            Err(m) => {
                self.err(at, m);
                None
            }
        }
    }
}

/// `$` / `$.a.b` → direct access; anything else → a parsed JSONPath.
pub fn compile_read(text: &str) -> Result<ReadExpr, String> {
    let t = text.trim();
    if t == "$" {
        return Ok(ReadExpr::Root);
    }
    if let Some(rest) = t.strip_prefix("$.") {
        if !rest.is_empty()
            && rest.split('.').all(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '@'))
            })
        {
            return FieldPath::parse(rest).map(ReadExpr::Field);
        }
    }
    if !t.starts_with('$') {
        return Err(format!(
            "{text:?} is not a JSONPath (it must start with '$', e.g. \"$.data[*]\")"
        ));
    }
    check_jsonpath_size(t).map_err(|why| format!("invalid JSONPath {text:?}: {why}"))?;
    jsonpath_rust::parser::parse_json_path(t)
        .map(|q| ReadExpr::JsonPath(Box::new(q)))
        .map_err(|e| format!("invalid JSONPath {text:?}: {e}"))
}

/// Longest JSONPath a mapping may hold, and its deepest nesting of brackets
/// and parentheses. Real mappings stay far below both; the JSONPath parser
/// takes seconds on long, deeply nested nonsense (found by fuzzing), which
/// would stall `check` and every reload.
pub const MAX_JSONPATH_LEN: usize = 256;
pub const MAX_JSONPATH_NESTING: usize = 6;

fn check_jsonpath_size(t: &str) -> Result<(), String> {
    if t.len() > MAX_JSONPATH_LEN {
        return Err(format!(
            "longer than {MAX_JSONPATH_LEN} characters ({})",
            t.len()
        ));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in t.chars() {
        match c {
            '[' | '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_JSONPATH_NESTING {
        return Err(format!(
            "brackets nested {deepest} deep (at most {MAX_JSONPATH_NESTING})"
        ));
    }
    Ok(())
}

fn compile_items(text: &str) -> Result<ItemsExpr, String> {
    let t = text.trim();
    let base = t.strip_suffix("[*]").unwrap_or(t);
    match compile_read(base)? {
        ReadExpr::JsonPath(_) => compile_read(t).map(|e| match e {
            ReadExpr::JsonPath(q) => ItemsExpr::JsonPath(q),
            other => ItemsExpr::ArrayField(other),
        }),
        direct => Ok(ItemsExpr::ArrayField(direct)),
    }
}

/// Loads and compiles every mapping file named by the settings.
pub fn load_plan(settings: &Settings, env: &EnvMap) -> Result<Plan, Vec<MappingError>> {
    let mut plan = Plan::default();
    let mut errors = Vec::new();
    let mut resources = Vec::new();
    for path in &settings.mappings {
        match compile_file(path, settings, env) {
            Ok(rs) => resources.extend(rs),
            Err(mut e) => errors.append(&mut e),
        }
    }
    // Members may live in another file than their groups.
    resolve_member_types(&mut resources);
    plan.resources = resources.into_iter().map(Arc::new).collect();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in &plan.resources {
        if let Some((_, f)) = seen
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(&r.endpoint))
        {
            errors.push(MappingError {
                file: r.file.clone(),
                at: format!("resources.{}.endpoint", r.name),
                message: format!("endpoint {:?} is already served by {f}", r.endpoint),
            });
        }
        seen.push((&r.endpoint, &r.file));
    }
    if errors.is_empty() {
        plan.warnings = crate::mapping::lint::warnings(&plan);
        Ok(plan)
    } else {
        Err(errors)
    }
}

pub fn compile_file(
    path: &Path,
    settings: &Settings,
    env: &EnvMap,
) -> Result<Vec<ResourcePlan>, Vec<MappingError>> {
    let file = path.display().to_string();
    let text = crate::files::read_text(path, crate::files::MAX_DOCUMENT_BYTES).map_err(|e| {
        vec![MappingError {
            file: file.clone(),
            at: String::new(),
            message: e,
        }]
    })?;
    compile_text(&file, &text, Some(settings), env)
}

/// Compiles mapping text (public for tests and `check`).
pub fn compile_text(
    file: &str,
    text: &str,
    settings: Option<&Settings>,
    env: &EnvMap,
) -> Result<Vec<ResourcePlan>, Vec<MappingError>> {
    let raw: MappingFile = serde_yaml_ng::from_str(text).map_err(|e| {
        vec![MappingError {
            file: file.to_string(),
            at: String::new(),
            // Never the file's text: serde quotes the offending value.
            message: crate::secret::redact_parse_error(&crate::suggest::did_you_mean(
                &e.to_string(),
            )),
        }]
    })?;
    let mut cx = Ctx {
        file: file.to_string(),
        errors: Vec::new(),
        env,
    };
    if raw.version != 1 {
        cx.err(
            "version",
            format!(
                "unsupported mapping version {} (only 1 exists)",
                raw.version
            ),
        );
    }
    let backend = compile_backend(&mut cx, &raw.backend, settings);
    if raw.resources.is_empty() {
        cx.err("resources", "declare at least one resource type");
    }
    let mut out = Vec::new();
    if let Some(backend) = backend {
        let backend = Arc::new(backend);
        for (name, spec) in &raw.resources {
            if let Some(r) = compile_resource(&mut cx, name, spec, backend.clone(), settings) {
                out.push(r);
            }
        }
    }
    if cx.errors.is_empty() {
        resolve_member_types(&mut out);
        Ok(out)
    } else {
        Err(cx.errors)
    }
}

/// A member element's `type` when no resource type serves the members' endpoint.
const DEFAULT_MEMBER_TYPE: &str = "User";

/// Names each members attribute's member type after the resource type that
/// serves its `resource` endpoint (`/Users` → `User`), so a member element's
/// `type` says what the mapping says the members are.
pub fn resolve_member_types(resources: &mut [ResourcePlan]) {
    let names: Vec<(String, String)> = resources
        .iter()
        .map(|r| (r.endpoint.clone(), r.name.clone()))
        .collect();
    for r in resources.iter_mut() {
        for a in &mut r.attributes {
            if let Some(mp) = a.members.as_mut() {
                if let Some((_, name)) = names
                    .iter()
                    .find(|(e, _)| e.eq_ignore_ascii_case(mp.resource.trim_end_matches('/')))
                {
                    mp.member_type = name.clone();
                }
            }
        }
    }
}
