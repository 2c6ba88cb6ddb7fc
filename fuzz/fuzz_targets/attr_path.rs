//! Attribute paths in every form the bridge parses from client or mapping
//! text: PATCH paths (`emails[type eq "work"].value`), `attributes` /
//! `excludedAttributes` lists (applied to a resource), query strings,
//! backend field paths (`contact.email`, `roles[k=v].name`) and mapping read
//! expressions (`$.a.b`, JSONPath).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_bridge::mapping::compile::compile_read;
use scim_bridge::mapping::fieldpath::FieldPath;
use scim_bridge::scim::filter::parse_patch_path;
use scim_bridge::scim::query::{query_pairs, Projection};
use scim_bridge_fuzz::{rich_scim_user, user_record};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = parse_patch_path(text) {
        // A plain path prints back to itself, modulo the client's spelling.
        if path.filter.is_none() {
            let printed = path.attr.to_string();
            let again = parse_patch_path(&printed)
                .unwrap_or_else(|e| panic!("printed path {printed:?} does not parse: {e}"));
            assert_eq!(again.attr, path.attr);
        }
    }
    let _ = query_pairs(text).count();
    let user = rich_scim_user();
    if let Ok(p) = Projection::parse(Some(text), None) {
        let _ = p.wants("emails");
        let _ = p.apply("urn:ietf:params:scim:schemas:core:2.0:User", user.clone());
    }
    if let Ok(p) = Projection::parse(None, Some(text)) {
        let _ = p.apply("urn:ietf:params:scim:schemas:core:2.0:User", user);
    }
    if let Ok(fp) = FieldPath::parse(text) {
        let mut record = user_record();
        let _ = fp.root_key();
        let _ = fp.get(&record);
        // Without selectors (whose discriminator the new value could
        // overwrite), what was set is what is read.
        if fp.set(&mut record, json!("x")).is_ok() && !text.contains('[') {
            assert_eq!(
                fp.get(&record),
                Some(&json!("x")),
                "set then get of {text:?}"
            );
        }
        fp.remove(&mut record);
        fp.clear(&mut record);
    }
    if let Ok(expr) = compile_read(text) {
        let record = user_record();
        let _ = expr.first(&record);
        let _ = expr.take(record);
    }
});
