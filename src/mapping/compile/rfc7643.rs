//! `check`: names RFC 7643 does not define in a standard schema are typos
//! ([`crate::scim::rfc7643`] holds the names).

use super::*;
use crate::scim::rfc7643::{defined, ENTERPRISE_USER};

fn suggestion(unknown: &str, names: &[&str]) -> String {
    match crate::suggest::closest(unknown, names) {
        Some(n) => format!(" — did you mean `{n}`?"),
        None => format!(" (it defines {})", names.join(", ")),
    }
}

/// Refuses an attribute or sub-attribute name RFC 7643 does not define in
/// the standard schema `schema` (the resource's core schema, or the
/// enterprise extension) the attribute maps into. A reference's `value` is
/// the compiler's, not the mapping's: only its name is checked.
pub(super) fn check_standard_name(
    cx: &mut Ctx,
    at: &str,
    schema: &str,
    t: &ScimTarget,
    reference: bool,
) {
    let Some(attrs) = defined(schema) else {
        return;
    };
    let short = schema.rsplit(':').next().unwrap_or(schema);
    let kind = if schema.eq_ignore_ascii_case(ENTERPRISE_USER) {
        "enterprise User extension"
    } else {
        "core schema"
    };
    let names: Vec<&str> = attrs.clone().map(|(n, _)| n).collect();
    let Some((name, subs)) = attrs.clone().find(|(n, _)| n.eq_ignore_ascii_case(&t.name)) else {
        cx.err(
            format!("{at}.scim"),
            format!(
                "RFC 7643 defines no attribute {:?} in the {kind} ({short}){}; custom attributes go under a custom extension URN (listed in `extensions`)",
                t.name,
                suggestion(&t.name, &names)
            ),
        );
        return;
    };
    let selector_subs = t.selector.iter().map(|(s, _)| s.as_str());
    let sub = t.sub.as_deref().filter(|_| !reference);
    for sub in sub.into_iter().chain(selector_subs) {
        if subs.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
            continue;
        }
        let detail = if subs.is_empty() {
            format!(" ({name} has no sub-attributes)")
        } else {
            suggestion(sub, subs)
        };
        cx.err(
            format!("{at}.scim"),
            format!(
                "RFC 7643 defines no sub-attribute {sub:?} of {name} in the {kind} ({short}){detail}"
            ),
        );
    }
}
