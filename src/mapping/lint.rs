//! Likely mistakes in a valid mapping: `check` prints them as warnings.

use crate::mapping::plan::{Plan, ReadSource};

/// SCIM User attributes Entra sends by default for a gallery app like Peripass.
const ENTRA_USER_DEFAULTS: &[&str] = &[
    "userName",
    "active",
    "displayName",
    "externalId",
    "preferredLanguage",
    "name.givenName",
    "name.familyName",
    "name.formatted",
    "emails[type eq \"work\"].value",
    "phoneNumbers[type eq \"mobile\"].value",
];

pub fn warnings(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for r in &plan.resources {
        let mapped: Vec<String> = r
            .attributes
            .iter()
            .map(|a| a.scim_text.replace(' ', "").to_ascii_lowercase())
            .collect();
        if r.name == "User" {
            for want in ENTRA_USER_DEFAULTS {
                if !mapped.contains(&want.replace(' ', "").to_ascii_lowercase()) {
                    out.push(format!("{}: User: Entra sends {want} by default but it is not mapped (it will be ignored)", r.file));
                }
            }
            if !r
                .filters
                .iter()
                .any(|f| r.attributes[f.attr].target.name == "userName")
            {
                out.push(format!("{}: User: userName eq … (Entra's matching filter) has no pushdown: every match scans the backend", r.file));
            }
        }
        for a in &r.attributes {
            if a.write.is_some() && a.read.is_none() {
                out.push(format!(
                    "{}: {}: {} is written but never read back",
                    r.file, r.name, a.scim_text
                ));
            }
            if !a.values.is_empty() {
                let mut backend: Vec<String> = a
                    .values
                    .iter()
                    .map(|(_, v)| v.to_string().to_ascii_lowercase())
                    .collect();
                backend.sort();
                backend.dedup();
                if backend.len() != a.values.len() {
                    out.push(format!("{}: {}: the value map of {} is not invertible (two SCIM values share a backend value)", r.file, r.name, a.scim_text));
                }
            }
            if matches!(a.read, Some(ReadSource::Template(_))) && a.write.is_some() {
                out.push(format!(
                    "{}: {}: {} has a template and a field",
                    r.file, r.name, a.scim_text
                ));
            }
        }
    }
    out
}
