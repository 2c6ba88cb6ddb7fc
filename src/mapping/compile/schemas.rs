//! The `/Schemas` documents of a resource type, from its attributes.

use super::*;

pub(super) fn leaf(a: &AttrPlan, name: &str) -> SchemaAttr {
    SchemaAttr {
        name: name.to_string(),
        kind: a.kind,
        multi_valued: false,
        case_exact: a.case_exact,
        mutability: a.mutability,
        required: a.required,
        uniqueness: a.uniqueness,
        description: a.description.clone(),
        canonical_values: if a.kind == AttrKind::String {
            a.canonical_values.clone()
        } else {
            Vec::new()
        },
        reference_types: Vec::new(),
        subs: Vec::new(),
    }
}

pub(super) fn complex(name: &str, multi: bool) -> SchemaAttr {
    SchemaAttr {
        name: name.to_string(),
        kind: AttrKind::Complex,
        multi_valued: multi,
        case_exact: false,
        mutability: Mutability::ReadOnly,
        required: false,
        uniqueness: "none",
        description: None,
        canonical_values: Vec::new(),
        reference_types: Vec::new(),
        subs: Vec::new(),
    }
}

/// Builds `/Schemas` content from the mapped attributes: exactly what is mapped, truthfully.
pub(super) fn build_schemas(name: &str, r: &ResourceSpec, attrs: &[AttrPlan]) -> Vec<SchemaDef> {
    let mut defs = vec![SchemaDef {
        urn: r.schema.clone(),
        name: name.to_string(),
        description: r
            .description
            .clone()
            .unwrap_or_else(|| format!("{name} schema")),
        attrs: Vec::new(),
    }];
    for e in &r.extensions {
        let short = e.rsplit(':').next().unwrap_or(e);
        defs.push(SchemaDef {
            urn: e.clone(),
            name: format!("{short}Extension"),
            description: format!("{short} extension"),
            attrs: Vec::new(),
        });
    }
    for a in attrs {
        let t = &a.target;
        // externalId is a common attribute (RFC 7643 §3.1), but it is listed
        // when mapped: schema-driven clients (Microsoft's validator among
        // them) only offer the attributes /Schemas describes.
        let def = match &t.urn {
            None => &mut defs[0],
            Some(u) => match defs.iter_mut().find(|d| &d.urn == u) {
                Some(d) => d,
                None => continue,
            },
        };
        if let Some(mp) = &a.members {
            let mut m = complex(&t.name, true);
            m.mutability = a.mutability;
            let mut value = leaf(a, "value");
            value.kind = AttrKind::String;
            value.case_exact = true;
            value.mutability = Mutability::Immutable;
            value.required = false;
            let mut reference = leaf(a, "$ref");
            reference.kind = AttrKind::Reference;
            reference.mutability = Mutability::Immutable;
            reference.required = false;
            reference.reference_types = vec!["User".into()];
            let mut ty = leaf(a, "type");
            ty.kind = AttrKind::String;
            ty.mutability = Mutability::Immutable;
            ty.required = false;
            ty.canonical_values = vec!["User".into()];
            m.subs = vec![value, reference, ty];
            let _ = mp;
            def.attrs.push(m);
            continue;
        }
        if let Some(endpoint) = &a.reference {
            let mut m = complex(&t.name, false);
            m.mutability = a.mutability;
            m.description = a.description.clone();
            let mut value = leaf(a, "value");
            value.kind = AttrKind::String;
            value.case_exact = true;
            value.description = Some("The id of the referenced resource".into());
            // Writable like `value` (RFC 7643 §8.7.1): a `$ref` the client
            // sends names the resource (`resolve_references`).
            let mut reference = leaf(a, "$ref");
            reference.kind = AttrKind::Reference;
            reference.required = false;
            reference.description = None;
            reference.reference_types = vec![endpoint
                .trim_start_matches('/')
                .trim_end_matches('s')
                .to_string()];
            m.subs = vec![value, reference];
            if a.reference_display {
                let mut dn = leaf(a, "displayName");
                dn.kind = AttrKind::String;
                dn.mutability = Mutability::ReadOnly;
                dn.required = false;
                dn.case_exact = false;
                dn.canonical_values.clear();
                dn.description =
                    Some("The referenced resource's displayName (single GET only)".into());
                m.subs.push(dn);
            }
            def.attrs.push(m);
            continue;
        }
        match (&t.sub, t.selector.is_empty()) {
            (None, _) => def.attrs.push(leaf(a, &t.name)),
            (Some(sub), plain) => {
                let pos = match def.attrs.iter().position(|x| x.name == t.name) {
                    Some(p) => p,
                    None => {
                        def.attrs.push(complex(&t.name, !plain));
                        def.attrs.len() - 1
                    }
                };
                let parent = &mut def.attrs[pos];
                if a.mutability != Mutability::ReadOnly {
                    parent.mutability = Mutability::ReadWrite;
                }
                if !parent.subs.iter().any(|s| s.name == *sub) {
                    parent.subs.push(leaf(a, sub));
                }
                for (k, v) in &t.selector {
                    let key_pos = match parent.subs.iter().position(|s| s.name == *k) {
                        Some(p) => p,
                        None => {
                            let mut s = leaf(a, k);
                            s.kind = AttrKind::String;
                            s.required = false;
                            s.case_exact = false;
                            s.description = Some(format!("Only the stored {k} values are kept"));
                            s.canonical_values.clear();
                            parent.subs.push(s);
                            parent.subs.len() - 1
                        }
                    };
                    if let Some(v) = v.as_str() {
                        let cv = &mut parent.subs[key_pos].canonical_values;
                        if !cv.iter().any(|x| x == v) {
                            cv.push(v.to_string());
                        }
                    }
                }
            }
        }
    }
    defs
}
