//! One resource type: id, version, operations, pushdown filters, constants.

use super::*;

pub(super) fn parse_kind(cx: &mut Ctx, at: &str, k: Option<&str>) -> AttrKind {
    match k.unwrap_or("string") {
        "string" => AttrKind::String,
        "boolean" => AttrKind::Boolean,
        "integer" => AttrKind::Integer,
        "decimal" => AttrKind::Decimal,
        "dateTime" | "datetime" => AttrKind::DateTime,
        "reference" => AttrKind::Reference,
        "binary" => AttrKind::Binary,
        other => {
            cx.err(at, format!("{other:?} is not a SCIM type; expected one of string, boolean, integer, decimal, dateTime, reference, binary"));
            AttrKind::String
        }
    }
}

pub(super) fn compile_resource(
    cx: &mut Ctx,
    name: &str,
    r: &ResourceSpec,
    backend: Arc<BackendPlan>,
    settings: Option<&Settings>,
) -> Option<ResourcePlan> {
    let before = cx.errors.len();
    let at = format!("resources.{name}");
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        cx.err(
            &at,
            format!("resource type name {name:?} must be alphanumeric (e.g. User, Group)"),
        );
    }
    let ep = r.endpoint.trim_end_matches('/');
    if !ep.starts_with('/') || ep.len() < 2 || !ep[1..].chars().all(|c| c.is_ascii_alphanumeric()) {
        cx.err(
            format!("{at}.endpoint"),
            format!(
                "{:?} must be '/' and one alphanumeric segment, e.g. \"/Users\"",
                r.endpoint
            ),
        );
    }
    if !r.schema.starts_with("urn:") {
        cx.err(
            format!("{at}.schema"),
            format!("{:?} is not a schema URN (urn:…)", r.schema),
        );
    }
    for (i, e) in r.extensions.iter().enumerate() {
        if !e.starts_with("urn:") {
            cx.err(
                format!("{at}.extensions[{i}]"),
                format!("{e:?} is not a schema URN"),
            );
        }
    }
    let id_field = cx.field(&format!("{at}.id.field"), &r.id.field);
    let pattern = r.id.pattern.as_ref().and_then(|p| match IdPattern::new(p) {
        Ok(re) => Some(re),
        Err(e) => {
            cx.err(
                format!("{at}.id.pattern"),
                format!("invalid regex {p:?}: {e}"),
            );
            None
        }
    });
    let version = r.version.as_ref().map(|v| {
        if v.field.is_none() && !v.etag {
            cx.err(
                format!("{at}.version"),
                "set `field` (a version in the body) or `etag: true`",
            );
        }
        VersionPlan {
            field: v
                .field
                .as_ref()
                .and_then(|f| cx.field(&format!("{at}.version.field"), f)),
            etag: v.etag,
        }
    });
    let ts = |cx: &mut Ctx, key: &str, t: &Option<TimestampSpec>| {
        t.as_ref().and_then(|t| {
            cx.field(&format!("{at}.meta.{key}.field"), &t.field)
                .map(|f| (f, t.format))
        })
    };
    let created = ts(cx, "created", &r.meta.created);
    let last_modified = ts(cx, "last_modified", &r.meta.last_modified);

    // Operations.
    let o = &r.operations;
    let oat = format!("{at}.operations");
    let list = {
        let l = &o.list;
        let method = method(
            cx,
            &format!("{oat}.list.method"),
            l.method.as_deref(),
            Method::GET,
        );
        let _ = path_template(cx, &format!("{oat}.list.path"), &l.path, false, false);
        let query = query_string(cx, &format!("{oat}.list.query"), &l.query);
        let mut headers = Vec::new();
        for (k, v) in &l.headers {
            no_placeholder(cx, &format!("{oat}.list.headers.{k}"), "headers", v);
            headers.extend(header(cx, &format!("{oat}.list.headers.{k}"), k, v, false));
        }
        let items = match compile_items(&l.items) {
            Ok(i) => i,
            Err(m) => {
                cx.err(format!("{oat}.list.items"), m);
                ItemsExpr::ArrayField(ReadExpr::Root)
            }
        };
        let total = cx
            .read_expr(&format!("{oat}.list.total"), &l.total)
            .unwrap_or(ReadExpr::Root);
        let paging = compile_paging(cx, &format!("{oat}.list.paging"), &l.paging);
        if paging.max() == 0 {
            cx.err(
                format!("{oat}.list.paging.max_page_size"),
                "must be greater than 0",
            );
        }
        ListPlan {
            method,
            path: l.path.clone(),
            query,
            headers,
            items,
            total,
            paging,
        }
    };
    let get = compile_op(cx, "get", &format!("{oat}.get"), &o.get, Method::GET, false);
    let create = o.create.as_ref().map(|op| {
        compile_op(
            cx,
            "create",
            &format!("{oat}.create"),
            op,
            Method::POST,
            false,
        )
    });
    let replace = o.replace.as_ref().map(|op| {
        compile_op(
            cx,
            "replace",
            &format!("{oat}.replace"),
            op,
            Method::PUT,
            false,
        )
    });
    let patch = o.patch.as_ref().map(|op| {
        compile_op(
            cx,
            "patch",
            &format!("{oat}.patch"),
            op,
            Method::PATCH,
            false,
        )
    });
    let delete = o.delete.as_ref().map(|op| {
        compile_op(
            cx,
            "delete",
            &format!("{oat}.delete"),
            op,
            Method::DELETE,
            false,
        )
    });
    let add_member = o.add_member.as_ref().map(|op| {
        compile_op(
            cx,
            "add_member",
            &format!("{oat}.add_member"),
            op,
            Method::POST,
            true,
        )
    });
    let remove_member = o.remove_member.as_ref().map(|op| {
        compile_op(
            cx,
            "remove_member",
            &format!("{oat}.remove_member"),
            op,
            Method::DELETE,
            true,
        )
    });
    check_addressing(cx, &format!("{oat}.get"), &get, &o.get.path);
    for (key, plan, spec) in [
        ("replace", &replace, &o.replace),
        ("patch", &patch, &o.patch),
        ("delete", &delete, &o.delete),
        ("add_member", &add_member, &o.add_member),
        ("remove_member", &remove_member, &o.remove_member),
    ] {
        if let (Some(plan), Some(spec)) = (plan, spec) {
            check_addressing(cx, &format!("{oat}.{key}"), plan, &spec.path);
        }
    }
    match r.update {
        UpdateStyle::Replace if replace.is_none() && (o.create.is_some()) => cx.err(
            format!("{at}.update"),
            "update style `replace` needs operations.replace",
        ),
        UpdateStyle::MergePatch if patch.is_none() => cx.err(
            format!("{at}.update"),
            "update style `merge_patch` needs operations.patch",
        ),
        _ => {}
    }
    // A write carries the body version read (the concurrency token); an
    // `omit` dropping it from the update operation would make every write
    // blind (or, on a backend that requires it, refused as stale forever).
    let (update_key, update_name, update_op) = match r.update {
        UpdateStyle::Replace => ("replace", "replace", &replace),
        UpdateStyle::MergePatch => ("patch", "merge_patch", &patch),
    };
    if let (Some(p), Some(f)) = (update_op, version.as_ref().and_then(|v| v.field.as_ref())) {
        if p.omit.iter().any(|o| o.to_string() == f.to_string()) {
            cx.err(
                format!("{oat}.{update_key}.omit"),
                format!(
                    "`{f}` is the version field: with update `{update_name}` it must be sent so the backend can refuse a stale write (or use `version: {{ etag: true }}`)"
                ),
            );
        }
    }
    if add_member.is_some() != remove_member.is_some() {
        cx.err(&oat, "add_member and remove_member go together");
    }

    // Attributes.
    let mut attributes: Vec<AttrPlan> = Vec::new();
    let mut members_attr = None;
    for (i, a) in r.attributes.iter().enumerate() {
        let aat = format!("{at}.attributes[{i}] ({})", a.scim);
        if let Some(ap) = compile_attr(cx, &aat, a, r) {
            let schema = ap.target.urn.as_deref().unwrap_or(&r.schema);
            check_standard_name(cx, &aat, schema, &ap.target, a.reference.is_some());
            if attributes
                .iter()
                .any(|o| same_target(&o.target, &ap.target))
            {
                cx.err(&aat, format!("SCIM attribute {:?} is mapped twice", a.scim));
            }
            if ap.members.is_some() {
                members_attr = Some(attributes.len());
            }
            attributes.push(ap);
        }
    }
    if !attributes.iter().any(|a| a.required) && name == "User" {
        // userName is the one attribute SCIM requires of a User.
        if !attributes.iter().any(|a| a.target.name == "userName") {
            cx.err(
                format!("{at}.attributes"),
                "a User mapping must map userName (RFC 7643 requires it)",
            );
        }
    }

    // Filters.
    let mut filters = Vec::new();
    for (i, f) in r.filters.iter().enumerate() {
        let fat = format!("{at}.filters[{i}]");
        if !f.op.eq_ignore_ascii_case("eq") {
            cx.err(
                format!("{fat}.op"),
                format!(
                    "{:?}: only `eq` can be pushed down to a backend query parameter",
                    f.op
                ),
            );
        }
        if f.param.is_empty() {
            cx.err(format!("{fat}.param"), "must not be empty");
        }
        match r
            .attributes
            .iter()
            .position(|a| norm(&a.scim) == norm(&f.scim))
        {
            Some(idx) => {
                // position in `attributes` equals position in the spec when all compiled
                filters.push(PushdownPlan {
                    attr: idx,
                    param: f.param.clone(),
                });
            }
            None => cx.err(
                format!("{fat}.scim"),
                format!(
                    "{:?} is not one of this resource's mapped attributes",
                    f.scim
                ),
            ),
        }
    }

    // Constants.
    let mut constants = Vec::new();
    for (i, c) in r.constants.iter().enumerate() {
        let cat = format!("{at}.constants[{i}]");
        let value = match &c.value {
            Value::String(s) => cx.expand(&format!("{cat}.value"), s).map(Value::String),
            v => Some(v.clone()),
        };
        if let Some(old) = &c.old_on {
            let shown = old.as_str().map_or_else(|| old.to_string(), str::to_string);
            cx.err(
                format!("{cat}.on"),
                format!(
                    "the key `on` was renamed `when` (YAML 1.1 tools such as PyYAML and Go's \
                     yaml.v2 read `on` as the boolean true, so such a tool cannot validate \
                     the file); write `when: {shown}`"
                ),
            );
        }
        let always = match c.when.as_deref() {
            None | Some("create") => false,
            Some("always") => true,
            Some(other) => {
                cx.err(
                    format!("{cat}.when"),
                    format!("{other:?} is not one of create, always"),
                );
                false
            }
        };
        if let (Some(field), Some(value)) = (cx.field(&format!("{cat}.field"), &c.field), value) {
            constants.push(ConstantPlan {
                field,
                value,
                always,
            });
        }
    }

    // A written field must not hold (or sit inside) another mapped field:
    // writing `profile` would replace `profile.first`, and the other way round.
    {
        // (key, field, whether the bridge writes it, whether only read by an attribute)
        let mut fields: Vec<(String, &FieldPath, bool, bool)> = Vec::new();
        if let Some(f) = &id_field {
            fields.push(("id.field".into(), f, false, false));
        }
        if let Some(f) = version.as_ref().and_then(|v| v.field.as_ref()) {
            fields.push(("version.field".into(), f, true, false));
        }
        for (i, c) in constants.iter().enumerate() {
            fields.push((format!("constants[{i}].field"), &c.field, true, false));
        }
        for (i, a) in attributes.iter().enumerate() {
            if let Some(f) = &a.write {
                let written = a.mutability != Mutability::ReadOnly;
                let key = format!("attributes[{i}] ({}).field", a.scim_text);
                fields.push((key, f, written, !written));
            }
        }
        let mut problems = Vec::new();
        for (j, (key, f, f_written, f_read_only)) in fields.iter().enumerate() {
            for (other, g, g_written, g_read_only) in &fields[..j] {
                if !f.nests_with(g) {
                    continue;
                }
                let f_outer = f.to_string().len() < g.to_string().len();
                let (outer, inner) = if f_outer { (f, g) } else { (g, f) };
                let (outer_written, outer_read_only, inner_written) = if f_outer {
                    (f_written, f_read_only, g_written)
                } else {
                    (g_written, g_read_only, f_written)
                };
                // Writing the outer field replaces the inner one; writing the
                // inner one changes what the id, version or a constant holds.
                // Only a read-only attribute over a written inner field is harmless.
                if *outer_written || (*inner_written && !*outer_read_only) {
                    problems.push((
                        format!("{at}.{key}"),
                        format!(
                            "`{f}` overlaps `{g}`, the field of {other}: `{outer}` holds `{inner}`, so writing one overwrites the other; map each to its own backend field"
                        ),
                    ));
                }
            }
        }
        for (key, p) in problems {
            cx.err(key, p);
        }
    }

    // `send_only` must let through every field the bridge writes, or those
    // writes would be dropped without a word.
    for (key, op) in [
        ("create", &create),
        ("replace", &replace),
        ("patch", &patch),
    ] {
        let Some(only) = op.as_ref().and_then(|o| o.send_only.as_ref()) else {
            continue;
        };
        let sent = |f: &FieldPath| only.iter().any(|o| o == f.root_key());
        let mut written: Vec<(String, &FieldPath)> = Vec::new();
        for (i, a) in attributes.iter().enumerate() {
            if let Some(f) = &a.write {
                written.push((format!("attributes[{i}] ({})", a.target.name), f));
            }
        }
        for (i, c) in constants.iter().enumerate() {
            if key == "create" || c.always {
                written.push((format!("constants[{i}]"), &c.field));
            }
        }
        if key != "create" {
            if let Some(f) = version.as_ref().and_then(|v| v.field.as_ref()) {
                written.push(("version".into(), f));
            }
        }
        for (what, f) in written {
            if !sent(f) {
                cx.err(
                    format!("{oat}.{key}.send_only"),
                    format!("leaves out `{}`, which {what} writes: add it", f.root_key()),
                );
            }
        }
    }

    // Without a version there is nothing to be stale: a backend 409 then
    // means something else (a name taken) and goes through the error rules,
    // unless the mapping declares `conflict` explicitly.
    let conflict_status = match (&r.conflict, &version) {
        (Some(c), _) => Some(c.status),
        (None, Some(v)) if v.etag => Some(412),
        (None, Some(_)) => Some(409),
        (None, None) => None,
    };
    let scan_limit = r
        .scan_limit
        .or(settings.map(|s| s.scan_limit))
        .unwrap_or(crate::config::defaults::SCAN_LIMIT);
    let soft_delete = r
        .lifecycle
        .as_ref()
        .map(|l| compile_lifecycle(cx, &at, r, l));
    if let Some(sd) = &soft_delete {
        for (key, op) in [("replace", &replace), ("patch", &patch)] {
            let Some(only) = op.as_ref().and_then(|o| o.send_only.as_ref()) else {
                continue;
            };
            for (f, _) in sd.set.iter().chain(&sd.restore_set) {
                if !only.iter().any(|o| o == f.root_key()) {
                    cx.err(
                        format!("{oat}.{key}.send_only"),
                        format!(
                            "leaves out `{}`, which the lifecycle writes: add it",
                            f.root_key()
                        ),
                    );
                }
            }
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    let schemas = build_schemas(name, r, &attributes);
    Some(
        ResourcePlan {
            soft_delete,
            name: name.to_string(),
            endpoint: ep.to_string(),
            schema: r.schema.clone(),
            extensions: r.extensions.clone(),
            description: r
                .description
                .clone()
                .unwrap_or_else(|| format!("{name} resources")),
            strict: r.strict,
            backend,
            id: IdPlan {
                field: id_field?,
                kind: r.id.kind,
                pattern,
            },
            version,
            created,
            last_modified,
            update: r.update,
            conflict_status,
            conflict_code: r.conflict.as_ref().and_then(|c| c.code.clone()),
            ops: Operations {
                list,
                get,
                create,
                replace,
                patch,
                delete,
                add_member,
                remove_member,
            },
            filters,
            attributes,
            constants,
            scan_limit,
            schemas,
            members_attr,
            file: cx.file.clone(),
            layout: None,
            eq_targets: Vec::new(),
        }
        .with_layout(),
    )
}

pub(super) fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

pub(super) fn same_target(a: &ScimTarget, b: &ScimTarget) -> bool {
    a.urn == b.urn
        && a.name.eq_ignore_ascii_case(&b.name)
        && a.sub.as_deref().map(str::to_ascii_lowercase)
            == b.sub.as_deref().map(str::to_ascii_lowercase)
        && a.selector == b.selector
}

fn compile_lifecycle(
    cx: &mut Ctx,
    at: &str,
    r: &ResourceSpec,
    l: &LifecycleSpec,
) -> SoftDeletePlan {
    let lat = format!("{at}.lifecycle");
    let fields = |cx: &mut Ctx, key: &str, m: &std::collections::BTreeMap<String, Value>| {
        m.iter()
            .filter_map(|(k, v)| Some((cx.field(&format!("{lat}.{key}.{k}"), k)?, v.clone())))
            .collect::<Vec<_>>()
    };
    // A call needs `{id}`: it acts on one record.
    let call_op = |cx: &mut Ctx, name: &'static str, key: &str, op: &OpSpec| {
        if !op.path.contains("{id}") {
            cx.err(
                format!("{lat}.{key}.path"),
                format!("{:?} must name the record with {{id}}", op.path),
            );
        }
        if op.body.is_some()
            || op.wrap.is_some()
            || op.item.is_some()
            || !op.omit.is_empty()
            || op.send_only.is_some()
        {
            cx.err(
                format!("{lat}.{key}"),
                "a lifecycle call is sent without a body and its answer is not read: `body`, `wrap`, `item`, `omit` and `send_only` do not apply",
            );
        }
        compile_op(cx, name, &format!("{lat}.{key}"), op, Method::POST, false)
    };
    let inactive = l.deleted_reads == DeletedReads::Inactive;
    if l.set.is_empty() && l.call.is_none() {
        cx.err(
            &lat,
            "a soft delete needs `set` (backend fields to write) or `call` (a backend endpoint), or both",
        );
    }
    if !l.set.is_empty() && r.operations.replace.is_none() && r.operations.patch.is_none() {
        cx.err(
            format!("{lat}.set"),
            "a soft delete writes `set` through the update operation: add `replace` or `patch`",
        );
    }
    if l.call.is_some() && l.set.is_empty() && l.deleted.is_empty() {
        cx.err(
            format!("{lat}.deleted"),
            "with only `call`, name the backend field values that mark a soft-deleted record, e.g. `deleted: { archived: true }`",
        );
    }
    let set = fields(cx, "set", &l.set);
    let call = l
        .call
        .as_ref()
        .map(|op| call_op(cx, "soft_delete", "call", op));
    let marker = if l.deleted.is_empty() {
        set.clone()
    } else {
        fields(cx, "deleted", &l.deleted)
    };
    let (restore_call, restore_set) = match &l.restore {
        None => (None, Vec::new()),
        Some(rs) => {
            if !inactive {
                cx.err(
                    format!("{lat}.restore"),
                    "restore needs `deleted_reads: inactive` (with `not_found` a soft-deleted record answers 404, so no write can reach it)",
                );
            }
            if rs.call.is_none() && rs.set.is_empty() {
                cx.err(format!("{lat}.restore"), "give `call`, `set`, or both");
            }
            if !rs.set.is_empty() && r.operations.replace.is_none() && r.operations.patch.is_none()
            {
                cx.err(
                    format!("{lat}.restore.set"),
                    "`restore.set` is written through the update operation: add `replace` or `patch`",
                );
            }
            (
                rs.call
                    .as_ref()
                    .map(|op| call_op(cx, "restore", "restore.call", op)),
                fields(cx, "restore.set", &rs.set),
            )
        }
    };
    if inactive && !l.list_query.is_empty() {
        cx.err(
            format!("{lat}.list_query"),
            "with `deleted_reads: inactive` lists show soft-deleted records, so there is nothing to leave out; remove `list_query`",
        );
    }
    let mut list_params = Vec::new();
    for (k, v) in &l.list_query {
        no_placeholder(cx, &format!("{lat}.list_query.{k}"), "list_query", v);
        if k.is_empty() {
            cx.err(
                format!("{lat}.list_query"),
                "a parameter name must not be empty",
            );
        }
        if let Some(v) = cx.expand(&format!("{lat}.list_query.{k}"), v) {
            list_params.push((k.clone(), v));
        }
    }
    SoftDeletePlan {
        set,
        call,
        marker,
        restore_call,
        restore_set,
        list_params,
        reads_inactive: inactive,
    }
}
