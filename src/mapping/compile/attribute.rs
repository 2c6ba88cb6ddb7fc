//! One attribute mapping: SCIM target, backend read and write, value maps.

use super::*;

pub(super) fn compile_attr(
    cx: &mut Ctx,
    at: &str,
    a: &AttributeSpec,
    r: &ResourceSpec,
) -> Option<AttrPlan> {
    let before = cx.errors.len();
    let path = match parse_patch_path(&a.scim) {
        Ok(p) => p,
        Err(e) => {
            cx.err(
                format!("{at}.scim"),
                format!("{:?} is not a SCIM attribute path: {e}", a.scim),
            );
            return None;
        }
    };
    let urn = match &path.attr.urn {
        None => None,
        Some(u) if u.eq_ignore_ascii_case(&r.schema) => None,
        Some(u) => {
            match r.extensions.iter().find(|e| e.eq_ignore_ascii_case(u)) {
                Some(e) => Some(e.clone()),
                None => {
                    cx.err(format!("{at}.scim"), format!("schema {u:?} is neither this resource's schema nor one of its extensions"));
                    None
                }
            }
        }
    };
    let selector: Vec<(String, Value)> = match &path.filter {
        None => Vec::new(),
        Some(f) => {
            let eqs = eq_assignments(f);
            if eqs.is_empty() {
                cx.err(
                    format!("{at}.scim"),
                    "the [selector] must be `sub eq \"value\"` terms joined by `and`",
                );
            }
            eqs.into_iter()
                .map(|(p, v)| (p.sub.clone().unwrap_or_else(|| p.name.clone()), v.clone()))
                .collect()
        }
    };
    if path.filter.is_some() && path.value_sub.is_none() {
        cx.err(format!("{at}.scim"), "a [selector] path must name a sub-attribute after it, e.g. emails[type eq \"work\"].value");
    }
    if path.attr.sub.is_some() && path.filter.is_some() {
        cx.err(format!("{at}.scim"), "unsupported path shape");
    }
    let mut target = ScimTarget {
        urn,
        name: path.attr.name.clone(),
        selector,
        sub: path.attr.sub.clone().or(path.value_sub.clone()),
    };
    let reference = a
        .reference
        .as_ref()
        .map(|r| r.resource.trim_end_matches('/').to_string());
    if reference.is_some() {
        // `manager` maps its `value`: `manager` and `manager.value` are the same.
        match target.sub.as_deref() {
            None => target.sub = Some("value".into()),
            Some(s) if s.eq_ignore_ascii_case("value") => target.sub = Some("value".into()),
            Some(_) => cx.err(
                format!("{at}.scim"),
                "a reference maps a whole complex attribute (e.g. `…:manager`) or its `value`",
            ),
        }
        if !target.selector.is_empty() || a.members.is_some() {
            cx.err(
                format!("{at}.reference"),
                "a reference is one single-valued id, not a selector or a member list",
            );
        }
    }
    let kind = if a.members.is_some() {
        AttrKind::Complex
    } else {
        parse_kind(cx, &format!("{at}.type"), a.kind.as_deref())
    };
    let mut mutability = match a.mutability.as_deref() {
        None | Some("readWrite") => Mutability::ReadWrite,
        Some("readOnly") => Mutability::ReadOnly,
        Some("writeOnly") => Mutability::WriteOnly,
        Some("immutable") => Mutability::Immutable,
        Some(other) => {
            cx.err(
                format!("{at}.mutability"),
                format!("{other:?} is not one of readWrite, readOnly, writeOnly, immutable"),
            );
            Mutability::ReadWrite
        }
    };
    let uniqueness = match a.uniqueness.as_deref() {
        None | Some("none") => "none",
        Some("server") => "server",
        Some("global") => "global",
        Some(other) => {
            cx.err(
                format!("{at}.uniqueness"),
                format!("{other:?} is not one of none, server, global"),
            );
            "none"
        }
    };
    let sources = [a.field.is_some(), a.template.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if sources == 0 && a.read.is_none() {
        cx.err(
            at,
            "map it with `field` (read and write), `read` (JSONPath) or `template`",
        );
    }
    if sources > 1 {
        cx.err(at, "`field` and `template` exclude each other");
    }
    let (read, write) = if let Some(t) = &a.template {
        mutability = Mutability::ReadOnly;
        (
            parse_template(cx, &format!("{at}.template"), t).map(ReadSource::Template),
            None,
        )
    } else {
        let write = a
            .field
            .as_ref()
            .and_then(|f| cx.field(&format!("{at}.field"), f));
        let read = match &a.read {
            Some(jp) => cx
                .read_expr(&format!("{at}.read"), jp)
                .map(ReadSource::Expr),
            None => write.clone().map(|w| ReadSource::Expr(ReadExpr::Field(w))),
        };
        (read, write)
    };
    if write.is_none() && a.template.is_none() && mutability != Mutability::ReadOnly {
        // `read` alone: the attribute can only be read.
        mutability = Mutability::ReadOnly;
    }
    let mut transforms = Vec::new();
    for (i, t) in a.transforms.iter().enumerate() {
        match Transform::parse(t) {
            Some(t) => transforms.push(t),
            None => cx.err(
                format!("{at}.transforms[{i}]"),
                format!(
                    "unknown transform {t:?}; expected one of {}",
                    TRANSFORM_NAMES.join(", ")
                ),
            ),
        }
    }
    let mut values = Vec::new();
    if let Some(map) = &a.values {
        for (k, v) in map {
            if kind == AttrKind::Boolean && k != "true" && k != "false" {
                cx.err(
                    format!("{at}.values.{k}"),
                    "keys of a boolean attribute's value map must be \"true\" and \"false\"",
                );
            }
            if v.is_object() || v.is_array() {
                cx.err(format!("{at}.values.{k}"), "backend values must be scalars");
            }
            values.push((k.clone(), v.clone()));
        }
    }
    let canonical_values = if a.canonical_values.is_empty() {
        values.iter().map(|(k, _)| k.clone()).collect()
    } else {
        if kind != AttrKind::String {
            cx.err(
                format!("{at}.canonical_values"),
                "canonical values apply to string attributes only",
            );
        }
        for (i, c) in a.canonical_values.iter().enumerate() {
            if !values.is_empty() && !values.iter().any(|(k, _)| k == c) {
                cx.err(
                    format!("{at}.canonical_values[{i}]"),
                    format!("{c:?} is not a key of `values`, so it cannot be stored"),
                );
            }
        }
        a.canonical_values.clone()
    };
    let members = a.members.as_ref().map(|m| MembersPlan {
        id_type: m.id_type,
        key: m.key.clone(),
        resource: m.resource.clone().unwrap_or_else(|| "/Users".into()),
        // Until `resolve_member_types` finds the resource type serving `resource`.
        member_type: DEFAULT_MEMBER_TYPE.into(),
    });
    if members.is_some() && (target.sub.is_some() || !target.selector.is_empty()) {
        cx.err(
            format!("{at}.scim"),
            "members must map a whole attribute (e.g. `members`)",
        );
    }
    if a.multiple {
        let mat = format!("{at}.multiple");
        if target.selector.is_empty() || target.sub.is_none() {
            cx.err(
                &mat,
                "`multiple` maps a typed path with a sub-attribute, e.g. phoneNumbers[type eq \"work\"].value",
            );
        }
        match &write {
            Some(f) if a.read.is_none() => {
                if let Err(m) = f.check_multiple() {
                    cx.err(format!("{at}.field"), m);
                }
            }
            _ => cx.err(
                &mat,
                "`multiple` needs `field` (read and written), e.g. phones[label=office].number, and no `read` or `template`",
            ),
        }
        if a.default.is_some() || a.reference.is_some() || a.members.is_some() {
            cx.err(
                &mat,
                "`multiple` does not go with `default`, `reference` or `members`",
            );
        }
        if mutability == Mutability::Immutable {
            cx.err(&mat, "`multiple` does not go with `mutability: immutable`");
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    let plan = AttrPlan {
        multiple: a.multiple,
        reference_display: a.reference.as_ref().is_some_and(|r| r.display),
        scim_text: a.scim.clone(),
        target,
        kind,
        read,
        write,
        mutability,
        required: a.required,
        uniqueness,
        case_exact: a.case_exact,
        values,
        canonical_values,
        transforms,
        default: a.default.clone(),
        description: a.description.clone(),
        members,
        personal: a.personal,
        reference,
    };
    if let Some(d) = &plan.default {
        if let Err(e) = plan.write_value(d) {
            cx.err(format!("{at}.default"), e.detail);
            return None;
        }
    }
    Some(plan)
}

pub(super) fn parse_template(cx: &mut Ctx, at: &str, t: &str) -> Option<Template> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        if i > 0 {
            parts.push(TemplatePart::Lit(rest[..i].to_string()));
        }
        let Some(end) = rest[i..].find('}') else {
            cx.err(at, format!("unclosed '{{' in template {t:?}"));
            return None;
        };
        parts.push(TemplatePart::Field(cx.field(at, &rest[i + 1..i + end])?));
        rest = &rest[i + end + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Lit(rest.to_string()));
    }
    if !parts.iter().any(|p| matches!(p, TemplatePart::Field(_))) {
        cx.err(
            at,
            format!("template {t:?} references no backend field (write fields as {{field}})"),
        );
        return None;
    }
    Some(Template { parts })
}
