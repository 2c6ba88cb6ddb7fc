//! Likely mistakes in a valid mapping: `check` prints them as warnings (and a
//! reload logs them), but they never stop the bridge.
//!
//! - a SCIM attribute Entra sends by default that is not mapped;
//! - a filterable attribute (`uniqueness: server`, or `userName`,
//!   `externalId`, `displayName`) without a `filters` entry: every query on
//!   it scans the backend;
//! - a write path with no read path (written to one place, read from
//!   another or from nowhere);
//! - a value map (`values`) that is not invertible;
//! - a lossy transform on an attribute whose filter is pushed down;
//! - a soft delete hidden from reads (`deleted_reads: not_found`) without
//!   `lifecycle.list_query`: every list scans the backend to count;
//! - a soft delete hidden from reads whose `deleted` values an ordinary
//!   write of a mapped attribute also produces (`active: false` writing
//!   `enabled: "N"`): a deactivation then makes the record vanish.

use crate::mapping::plan::{AttrPlan, Mutability, Plan, ReadExpr, ReadSource, ResourcePlan};
use crate::mapping::transform::{Transform, TRANSFORM_NAMES};

/// SCIM User attributes Entra sends by default for a gallery app like Peripass.
pub const ENTRA_USER_DEFAULTS: &[&str] = &[
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

/// SCIM Group attributes Entra sends by default.
pub const ENTRA_GROUP_DEFAULTS: &[&str] = &["displayName", "members", "externalId"];

/// Attributes clients (Entra first) query with `eq` whatever their uniqueness,
/// per resource type: Entra matches users by userName (sometimes externalId)
/// and groups by displayName.
fn filtered_by_clients(resource: &str) -> &'static [&'static str] {
    match resource {
        "Group" => &["displayName", "externalId"],
        _ => &["userName", "externalId"],
    }
}

fn normalize(scim: &str) -> String {
    scim.replace(' ', "").to_ascii_lowercase()
}

pub fn warnings(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for r in &plan.resources {
        entra_defaults(r, &mut out);
        missing_pushdown(r, &mut out);
        for a in &r.attributes {
            write_without_read(r, a, &mut out);
            value_map_not_invertible(r, a, &mut out);
        }
        lossy_pushdown(r, &mut out);
        deleted_by_a_write(r, &mut out);
        if r.lists_must_scan() {
            out.push(format!(
                "{}: {}: soft-deleted records are hidden (deleted_reads: not_found) but the list operation cannot leave them out: every list and filter reads the whole collection (up to scan_limit records) to count honestly; add `lifecycle.list_query` if the backend can filter them (e.g. {{ archived: \"false\" }})",
                r.file, r.name
            ));
        }
    }
    out
}

fn entra_defaults(r: &ResourcePlan, out: &mut Vec<String>) {
    let defaults = match r.name.as_str() {
        "User" => ENTRA_USER_DEFAULTS,
        "Group" => ENTRA_GROUP_DEFAULTS,
        _ => return,
    };
    let mapped: Vec<String> = r
        .attributes
        .iter()
        .map(|a| normalize(&a.scim_text))
        .collect();
    for want in defaults {
        if !mapped.contains(&normalize(want)) {
            out.push(format!(
                "{}: {}: Entra sends {want} by default but it is not mapped (it will be ignored)",
                r.file, r.name
            ));
        }
    }
}

/// Core attribute without sub-attribute or selector, by name.
fn is_plain(a: &AttrPlan, name: &str) -> bool {
    a.target.urn.is_none()
        && a.target.sub.is_none()
        && a.target.selector.is_empty()
        && a.target.name.eq_ignore_ascii_case(name)
}

fn missing_pushdown(r: &ResourcePlan, out: &mut Vec<String>) {
    for (i, a) in r.attributes.iter().enumerate() {
        if a.members.is_some() || a.mutability == Mutability::WriteOnly {
            continue;
        }
        let named = filtered_by_clients(&r.name).iter().any(|n| is_plain(a, n));
        if !(named || a.uniqueness == "server") {
            continue;
        }
        if r.filters.iter().any(|f| f.attr == i) {
            continue;
        }
        let why = if a.uniqueness == "server" {
            "it is unique (uniqueness: server), so clients look records up by it"
        } else {
            "clients such as Entra look records up by it"
        };
        out.push(format!(
            "{}: {}: {} eq … has no pushdown (no `filters` entry) although {why}: every such query scans up to scan_limit backend records; add `- {{ scim: {}, param: <query parameter> }}` if the backend can filter on it",
            r.file, r.name, a.scim_text, a.scim_text
        ));
    }
}

fn write_without_read(r: &ResourcePlan, a: &AttrPlan, out: &mut Vec<String>) {
    let Some(w) = &a.write else {
        return;
    };
    if a.mutability == Mutability::WriteOnly {
        // Never returned on purpose (e.g. a password).
        return;
    }
    match &a.read {
        None => out.push(format!(
            "{}: {}: {} is written to field {w} but never read back (clients will see it vanish)",
            r.file, r.name, a.scim_text
        )),
        Some(ReadSource::Expr(ReadExpr::Field(f))) if f == w => {}
        Some(ReadSource::Expr(_)) => out.push(format!(
            "{}: {}: {} is written to field {w} but read from its `read` JSONPath: a value written is not what is read back unless the backend copies it there",
            r.file, r.name, a.scim_text
        )),
        Some(ReadSource::Template(_)) => out.push(format!(
            "{}: {}: {} has a template and a field",
            r.file, r.name, a.scim_text
        )),
    }
}

fn value_map_not_invertible(r: &ResourcePlan, a: &AttrPlan, out: &mut Vec<String>) {
    // Reads compare backend values as `loose_eq` does: strings case-insensitively.
    let key = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => format!("s:{}", s.to_lowercase()),
        other => format!("v:{other}"),
    };
    let mut seen: Vec<(String, &str, &serde_json::Value)> = Vec::new();
    for (scim, backend) in &a.values {
        let k = key(backend);
        if let Some((_, first, _)) = seen.iter().find(|(s, _, _)| *s == k) {
            out.push(format!(
                "{}: {}: the value map of {} is not invertible: {first:?} and {scim:?} both become {backend}, so reading {backend} always gives {first:?}",
                r.file, r.name, a.scim_text
            ));
        } else {
            seen.push((k, scim, backend));
        }
    }
}

/// With `deleted_reads: not_found`, a record holding every `deleted` value
/// answers 404. When a client can write each of those values through a
/// mapped attribute (`active: false` → `enabled: "N"`), an ordinary
/// deactivation hides the record for good: PATCH and GET answer 404, it
/// leaves lists and filters, and a new create collides with it.
fn deleted_by_a_write(r: &ResourcePlan, out: &mut Vec<String>) {
    let Some(sd) = r.soft_delete.as_ref().filter(|sd| !sd.reads_inactive) else {
        return;
    };
    if sd.marker.is_empty() {
        return;
    }
    let mut how = Vec::new();
    for (field, value) in &sd.marker {
        let writer = r.attributes.iter().find_map(|a| {
            if !a.writable() || a.write.as_ref() != Some(field) {
                return None;
            }
            // SCIM values a client may send: the value map's keys, both
            // booleans, and the marker itself (a free attribute writes it as is).
            let mut candidates: Vec<serde_json::Value> = a
                .values
                .iter()
                .map(|(k, _)| serde_json::Value::String(k.clone()))
                .collect();
            candidates.extend([true.into(), false.into(), value.clone()]);
            candidates
                .into_iter()
                .find(|c| a.write_value(c).is_ok_and(|w| &w == value))
                .map(|c| format!("{} {c} writes {field}: {value}", a.scim_text))
        });
        match writer {
            Some(w) => how.push(w),
            None => return,
        }
    }
    out.push(format!(
        "{}: {}: lifecycle: a client's ordinary write produces the soft-delete marker ({}): a PATCH active=false (Entra's deactivation of a user leaving scope) then makes the record read as deleted, so with deleted_reads: not_found it answers 404, leaves lists and filters, cannot be re-enabled, and a new create collides with it in the backend; use `deleted_reads: inactive` (a soft-deleted record reads as active: false) or a `deleted` marker no attribute writes",
        r.file,
        r.name,
        how.join("; ")
    ));
}

fn transform_name(t: Transform) -> &'static str {
    TRANSFORM_NAMES
        .iter()
        .find(|n| Transform::parse(n) == Some(t))
        .copied()
        .unwrap_or("?")
}

fn lossy_pushdown(r: &ResourcePlan, out: &mut Vec<String>) {
    for f in &r.filters {
        let a = &r.attributes[f.attr];
        for t in a.transforms.iter().filter(|t| t.is_lossy()) {
            out.push(format!(
                "{}: {}: {} eq … is pushed down as {}= through the lossy transform {}: the backend is asked for the transformed value, and records that differ from the client's value are then dropped by the bridge's re-check (e.g. a filter on a value the transform changes finds nothing); remove the filter entry or the transform",
                r.file,
                r.name,
                a.scim_text,
                f.param,
                transform_name(*t)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::compile::compile_text;
    use std::sync::Arc;

    /// A minimal mapping: `attrs` and `filters` are YAML list items at the
    /// attributes' indentation.
    fn lint(resource: &str, attrs: &str, filters: &str) -> Vec<String> {
        let text = format!(
            r#"
version: 1
backend:
  base_url: http://127.0.0.1:9
resources:
  {resource}:
    endpoint: /{resource}s
    schema: urn:ietf:params:scim:schemas:core:2.0:{resource}
    id: {{ field: id }}
    operations:
      list: {{ path: /x, items: "$.items[*]", total: "$.total", paging: {{ style: offset, max_page_size: 100 }} }}
      get: {{ path: "/x/{{id}}" }}
    filters:
{filters}
    attributes:
{attrs}
"#
        );
        let plans = compile_text("m.yaml", &text, None, &None).unwrap_or_else(|e| panic!("{e:?}"));
        warnings(&Plan {
            resources: plans.into_iter().map(Arc::new).collect(),
            warnings: Vec::new(),
        })
    }

    /// Every attribute Entra sends for users, mapped and filterable where it matters.
    const FULL_USER: &str = r#"
      - { scim: userName, field: login, uniqueness: server }
      - { scim: active, field: status, type: boolean }
      - { scim: displayName, field: dn }
      - { scim: externalId, field: ext }
      - { scim: preferredLanguage, field: lang }
      - { scim: name.givenName, field: first }
      - { scim: name.familyName, field: last }
      - { scim: name.formatted, template: "{first} {last}" }
      - { scim: 'emails[type eq "work"].value', field: mail }
      - { scim: 'phoneNumbers[type eq "mobile"].value', field: mobile }"#;
    const FULL_USER_FILTERS: &str = r#"
      - { scim: userName, param: login }
      - { scim: displayName, param: dn }
      - { scim: externalId, param: ext }"#;

    fn matching<'a>(w: &'a [String], needle: &str) -> Vec<&'a String> {
        w.iter().filter(|w| w.contains(needle)).collect()
    }

    #[test]
    fn hidden_soft_deletes_without_list_query_scan() {
        let lc = |extra: &str| {
            format!("{FULL_USER_FILTERS}\n    lifecycle:\n      call: {{ path: \"/x/{{id}}/off\" }}\n      deleted: {{ gone: true }}\n{extra}")
        };
        let w = lint("User", FULL_USER, &lc(""));
        assert_eq!(
            matching(&w, "add `lifecycle.list_query`").len(),
            1,
            "{w:#?}"
        );
        let w = lint(
            "User",
            FULL_USER,
            &lc("      list_query: { gone: \"false\" }\n"),
        );
        assert!(w.is_empty(), "{w:#?}");
        let w = lint("User", FULL_USER, &lc("      deleted_reads: inactive\n"));
        assert!(w.is_empty(), "{w:#?}");
    }

    /// "DELETE = disable": the lifecycle writes what `active: false` writes,
    /// so a deactivation hides the record (with `not_found`).
    #[test]
    fn soft_delete_marker_a_client_write_produces() {
        let attrs = FULL_USER.replace(
            "{ scim: active, field: status, type: boolean }",
            "{ scim: active, field: enabled, type: boolean, values: { \"true\": Y, \"false\": N } }",
        );
        let lc = |lifecycle: &str| {
            format!("{FULL_USER_FILTERS}\n    lifecycle:\n{lifecycle}      list_query: {{ enabled: Y }}\n")
        };
        let with = |deleted: &str| {
            lint(
                "User",
                &attrs,
                &lc(&format!(
                    "      call: {{ path: \"/x/{{id}}/off\" }}\n      deleted: {deleted}\n"
                )),
            )
        };
        let w = with("{ enabled: N }");
        let hits = matching(
            &w,
            "a client's ordinary write produces the soft-delete marker",
        );
        assert_eq!(hits.len(), 1, "{w:#?}");
        assert!(
            hits[0].starts_with("m.yaml: User: lifecycle:")
                && hits[0].contains("(active \"false\" writes enabled: \"N\")")
                && hits[0].contains("use `deleted_reads: inactive`"),
            "{w:#?}"
        );
        // A marker no attribute can write, or one only partly writable: no warning.
        assert!(with("{ enabled: X }").is_empty());
        assert!(with("{ enabled: N, archived: true }").is_empty());
        // A plain boolean field written `false` by active: false.
        let plain = FULL_USER.replace(
            "{ scim: active, field: status, type: boolean }",
            "{ scim: active, field: enabled, type: boolean }",
        );
        let w = lint(
            "User",
            &plain,
            &lc("      call: { path: \"/x/{id}/off\" }\n      deleted: { enabled: false }\n"),
        );
        assert_eq!(matching(&w, "soft-delete marker").len(), 1, "{w:#?}");
    }

    #[test]
    fn a_complete_mapping_has_no_warnings() {
        let w = lint("User", FULL_USER, FULL_USER_FILTERS);
        assert!(w.is_empty(), "{w:#?}");
    }

    #[test]
    fn unmapped_entra_user_attribute() {
        let attrs = FULL_USER.replace("      - { scim: preferredLanguage, field: lang }\n", "");
        let w = lint("User", &attrs, FULL_USER_FILTERS);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains(
                "m.yaml: User: Entra sends preferredLanguage by default but it is not mapped"
            ),
            "{w:#?}"
        );
    }

    #[test]
    fn unmapped_entra_group_attributes() {
        let w = lint(
            "Group",
            "      - { scim: displayName, field: name }",
            "      - { scim: displayName, param: name }",
        );
        assert_eq!(matching(&w, "Entra sends members").len(), 1, "{w:#?}");
        assert_eq!(matching(&w, "Entra sends externalId").len(), 1, "{w:#?}");
        assert!(matching(&w, "Entra sends displayName").is_empty(), "{w:#?}");
    }

    #[test]
    fn filterable_attribute_without_pushdown() {
        let filters = "      - { scim: userName, param: login }";
        let w = lint("User", FULL_USER, filters);
        let hits = matching(&w, "has no pushdown");
        assert_eq!(hits.len(), 1, "{w:#?}");
        assert!(hits.iter().any(|h| h.contains("externalId eq")), "{w:#?}");
        // Entra finds users by userName/externalId, not by displayName.
        assert!(!hits.iter().any(|h| h.contains("displayName eq")), "{w:#?}");
        // For groups, displayName is the matching attribute.
        let w = lint(
            "Group",
            "      - { scim: displayName, field: name }",
            "      []",
        );
        assert_eq!(matching(&w, "displayName eq").len(), 1, "{w:#?}");
        // uniqueness: server makes any attribute filterable.
        let attrs =
            format!("{FULL_USER}\n      - {{ scim: nickName, field: nick, uniqueness: server }}");
        let w = lint("User", &attrs, FULL_USER_FILTERS);
        let hits = matching(&w, "has no pushdown");
        assert_eq!(hits.len(), 1, "{w:#?}");
        assert!(hits[0].contains("nickName eq") && hits[0].contains("uniqueness: server"));
    }

    #[test]
    fn write_path_with_no_read_path() {
        let attrs = format!(
            "{FULL_USER}\n      - {{ scim: title, field: jobTitle, read: \"$.job.title\" }}"
        );
        let w = lint("User", &attrs, FULL_USER_FILTERS);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains("title is written to field jobTitle but read from"),
            "{w:#?}"
        );
        // Reading the very field written is fine; so is a writeOnly attribute.
        let attrs = format!(
            "{FULL_USER}\n      - {{ scim: title, field: jobTitle, read: \"$.jobTitle\" }}\n      - {{ scim: password, field: pw, read: \"$.nothing\", mutability: writeOnly }}"
        );
        let w = lint("User", &attrs, FULL_USER_FILTERS);
        assert!(w.is_empty(), "{w:#?}");
    }

    #[test]
    fn value_map_that_is_not_invertible() {
        let attrs = format!(
            "{FULL_USER}\n      - {{ scim: userType, field: kind, values: {{ Employee: STAFF, Contractor: EXT, Intern: staff }} }}"
        );
        let w = lint("User", &attrs, FULL_USER_FILTERS);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains("value map of userType is not invertible")
                && w[0].contains("\"Employee\" and \"Intern\""),
            "{w:#?}"
        );
        let attrs = format!(
            "{FULL_USER}\n      - {{ scim: userType, field: kind, values: {{ Employee: STAFF, Contractor: EXT }} }}"
        );
        assert!(lint("User", &attrs, FULL_USER_FILTERS).is_empty());
    }

    #[test]
    fn lossy_transform_on_a_pushed_down_filter() {
        let attrs = FULL_USER.replace(
            "{ scim: userName, field: login, uniqueness: server }",
            "{ scim: userName, field: login, uniqueness: server, transforms: [lowercase] }",
        );
        let w = lint("User", &attrs, FULL_USER_FILTERS);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains(
                "userName eq … is pushed down as login= through the lossy transform lowercase"
            ),
            "{w:#?}"
        );
        // A lossless transform is fine.
        let attrs = FULL_USER.replace(
            "{ scim: preferredLanguage, field: lang }",
            "{ scim: preferredLanguage, field: lang, transforms: [locale_underscore] }",
        );
        let filters =
            format!("{FULL_USER_FILTERS}\n      - {{ scim: preferredLanguage, param: lang }}");
        assert!(lint("User", &attrs, &filters).is_empty());
    }
}
