//! Query strings and `attributes`/`excludedAttributes` projection.

use crate::scim::attr::AttrPath;
use crate::scim::error::ScimError;
use crate::scim::filter::parse_patch_path;
use crate::scim::json::{find_key, get_ci};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Decodes `application/x-www-form-urlencoded` pairs (`+` is a space, as
/// Entra sends), in order, one by one (nothing collected). A name or value
/// without `%` or `+` is borrowed from `q`.
pub fn query_pairs(q: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    q.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (decode(k), decode(v))
    })
}

/// `application/x-www-form-urlencoded` decoding of one name or value: `+` is
/// a space, `%XX` a byte (a `%` without two hex digits stays as it is), and
/// bytes that are not UTF-8 become U+FFFD. One pass, one allocation, a byte
/// at a time (a filter's runs between escapes are a few bytes long: copying
/// each as a slice cost more than the bytes); a text without `%` or `+` is
/// borrowed as it is.
fn decode(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let Some(first) = b.iter().position(|c| *c == b'%' || *c == b'+') else {
        return Cow::Borrowed(s);
    };
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    while let Some(&c) = b.get(i) {
        i += 1;
        out.push(match c {
            b'+' => b' ',
            b'%' => match (b.get(i).and_then(hex), b.get(i + 1).and_then(hex)) {
                (Some(h), Some(l)) => {
                    i += 2;
                    h << 4 | l
                }
                _ => b'%',
            },
            c => c,
        });
    }
    Cow::Owned(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn hex(c: &u8) -> Option<u8> {
    (*c as char).to_digit(16).map(|d| d as u8)
}

/// A parsed `attributes` / `excludedAttributes` list.
#[derive(Debug, Default, Clone)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

fn parse_list(text: &str, key: &str) -> Result<Vec<AttrPath>, ScimError> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let p = parse_patch_path(item).map_err(|e| {
            ScimError::invalid_value(format!("{key}: {item:?} is not an attribute path: {e}"))
        })?;
        if p.filter.is_some() {
            return Err(ScimError::invalid_value(format!(
                "{key}: {item:?}: filters are not allowed here"
            )));
        }
        out.push(p.attr);
    }
    Ok(out)
}

impl Projection {
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        Ok(Projection {
            attributes: attributes
                .map(|a| parse_list(a, "attributes"))
                .transpose()?
                .unwrap_or_default(),
            excluded: excluded
                .map(|a| parse_list(a, "excludedAttributes"))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    pub fn from_json(body: &Value) -> Result<Projection, ScimError> {
        let join = |k: &str| -> Result<Option<String>, ScimError> {
            match get_ci(body, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                // Every element a name: `[1, 2]` read as "no names" would
                // widen the projection to the whole resource.
                Some(Value::Array(a)) => a
                    .iter()
                    .map(Value::as_str)
                    .collect::<Option<Vec<_>>>()
                    .map(|names| Some(names.join(",")))
                    .ok_or_else(|| {
                        ScimError::invalid_value(format!("{k} must be an array of attribute names"))
                    }),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "{k} must be an array of attribute names"
                ))),
            }
        };
        Projection::parse(
            join("attributes")?.as_deref(),
            join("excludedAttributes")?.as_deref(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether the top-level attribute `name` is wanted at all (so costly
    /// attributes such as group members can be skipped before they are built).
    pub fn wants(&self, name: &str) -> bool {
        if self
            .excluded
            .iter()
            .any(|p| p.sub.is_none() && p.name.eq_ignore_ascii_case(name))
        {
            return false;
        }
        self.attributes.is_empty()
            || self
                .attributes
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Applies the projection to a resource; `id` and `schemas` always stay (RFC 7643 §7 returned:always).
    pub fn apply(&self, core_schema: &str, resource: Value) -> Value {
        if self.is_empty() {
            return resource;
        }
        let Value::Object(mut obj) = resource else {
            return resource;
        };
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for key in ["id", "schemas"] {
                if let Some(v) = obj.remove(key) {
                    kept.insert(key.to_string(), v);
                }
            }
            for p in &self.attributes {
                copy_path(&obj, &mut kept, p, core_schema);
            }
            obj = kept;
        }
        for p in &self.excluded {
            remove_path(&mut obj, p, core_schema);
        }
        Value::Object(obj)
    }
}

fn container_key<'a>(
    obj: &'a Map<String, Value>,
    p: &AttrPath,
    core: &str,
) -> Option<Option<&'a String>> {
    match &p.urn {
        Some(u) if !u.eq_ignore_ascii_case(core) => {
            obj.keys().find(|k| k.eq_ignore_ascii_case(u)).map(Some)
        }
        _ => Some(None),
    }
}

fn copy_path(src: &Map<String, Value>, dst: &mut Map<String, Value>, p: &AttrPath, core: &str) {
    // A bare extension URN in `attributes` keeps the whole extension object.
    if p.urn.is_none() && p.name.starts_with("urn:") {
        if let Some(k) = find_key(src, &p.name) {
            dst.insert(k.clone(), src[k].clone());
        }
        return;
    }
    let Some(ck) = container_key(src, p, core) else {
        return;
    };
    let (src_c, dst_c): (&Map<String, Value>, &mut Map<String, Value>) = match ck {
        None => (src, dst),
        Some(k) => {
            let Some(Value::Object(s)) = src.get(k) else {
                return;
            };
            let d = dst
                .entry(k.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(d) = d else { return };
            (s, d)
        }
    };
    let Some(k) = find_key(src_c, &p.name) else {
        return;
    };
    match (&p.sub, &src_c[k]) {
        (None, v) => {
            dst_c.insert(k.clone(), v.clone());
        }
        (Some(sub), Value::Object(inner)) => {
            if let Some(sk) = find_key(inner, sub) {
                let d = dst_c
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(d) = d {
                    d.insert(sk.clone(), inner[sk].clone());
                }
            }
        }
        (Some(sub), Value::Array(items)) => {
            let picked: Vec<Value> = items
                .iter()
                .filter_map(|it| {
                    let o = it.as_object()?;
                    let sk = find_key(o, sub)?;
                    let mut m = Map::new();
                    m.insert(sk.clone(), o[sk].clone());
                    Some(Value::Object(m))
                })
                .collect();
            if !picked.is_empty() {
                dst_c.insert(k.clone(), Value::Array(picked));
            }
        }
        _ => {}
    }
}

fn remove_path(obj: &mut Map<String, Value>, p: &AttrPath, core: &str) {
    if p.urn.is_none() && p.name.starts_with("urn:") {
        if let Some(k) = find_key(obj, &p.name).cloned() {
            obj.remove(&k);
        }
        return;
    }
    // `returned: always` (RFC 7643 §3.1, §7): never excluded, also when
    // named with the core schema's URN.
    if p.urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(core))
        && p.sub.is_none()
        && ["id", "schemas"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&p.name))
    {
        return;
    }
    // An object (or array element) the exclusion leaves empty goes with
    // it: `excludedAttributes=name.givenName,name.familyName` on a `name`
    // holding only those renders no `name` rather than `"name": {}`.
    let ext = match container_key(obj, p, core) {
        None => return,
        Some(k) => k.cloned(),
    };
    let target = match &ext {
        None => &mut *obj,
        Some(k) => match obj.get_mut(k) {
            Some(Value::Object(m)) => m,
            _ => return,
        },
    };
    let Some(k) = find_key(target, &p.name).cloned() else {
        return;
    };
    let emptied = match &p.sub {
        None => {
            target.remove(&k);
            true
        }
        Some(sub) => match target.get_mut(&k) {
            Some(Value::Object(inner)) => find_key(inner, sub)
                .cloned()
                .is_some_and(|sk| inner.remove(&sk).is_some() && inner.is_empty()),
            Some(Value::Array(items)) => {
                let before = items.len();
                items.retain_mut(|it| match it {
                    Value::Object(o) => !find_key(o, sub)
                        .cloned()
                        .is_some_and(|sk| o.remove(&sk).is_some() && o.is_empty()),
                    _ => true,
                });
                before > 0 && items.is_empty()
            }
            _ => false,
        },
    };
    if emptied {
        target.remove(&k);
        if let Some(e) = ext {
            if obj
                .get(&e)
                .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
            {
                obj.remove(&e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// What `decode` did before it was one pass: `+` replaced, then
    /// percent-decoded, then lossily made UTF-8.
    fn decode_in_three_steps(s: &str) -> String {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    }

    proptest! {
        #[test]
        fn decode_is_form_urlencoded_decoding(s in "([a-zA-Z0-9+%=&~é\\u{1F600} ]|%[0-9a-fA-F]{2}|%[0-9a-fA-F]|%[g-z])*") {
            prop_assert_eq!(decode(&s), decode_in_three_steps(&s));
        }
    }

    #[test]
    fn decode_examples() {
        assert_eq!(decode("userName+eq+%22a%40b.c%22"), "userName eq \"a@b.c\"");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%C3%A9"), "é");
        assert_eq!(decode("%FF"), "\u{FFFD}");
        assert_eq!(decode("%2B+"), "+ ");
    }

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    /// A `.search` body's `attributes` whose elements are not all names is
    /// refused: dropped, they would widen the projection to everything.
    #[test]
    fn search_body_projection_lists_must_hold_names_only() {
        for body in [
            json!({"attributes": [1, 2]}),
            json!({"excludedAttributes": ["userName", 5]}),
            json!({"attributes": "userName", "excludedAttributes": {"a": 1}}),
        ] {
            let e = Projection::from_json(&body).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidValue"), "{body}");
        }
        let p = Projection::from_json(&json!({"attributes": ["userName", "emails"]})).unwrap();
        assert!(p.wants("emails") && !p.wants("displayName"));
    }

    #[test]
    fn decodes_plus_and_percent() {
        let q: Vec<_> =
            query_pairs("filter=userName+eq+%22a%2Bb%40c%22&count=5&aadOptscim062020").collect();
        assert_eq!(q[0], ("filter".into(), "userName eq \"a+b@c\"".into()));
        assert_eq!(q[1], ("count".into(), "5".into()));
        assert_eq!(q[2], ("aadOptscim062020".into(), "".into()));
    }

    #[test]
    fn attributes_keep_only_requested_plus_id() {
        let r = json!({"id": "1", "schemas": [CORE], "userName": "a", "name": {"givenName": "G", "familyName": "F"}, "emails": [{"type": "work", "value": "x"}], "meta": {}});
        let p = Projection::parse(Some("USERNAME,name.givenName,emails.value"), None).unwrap();
        assert_eq!(
            p.apply(CORE, r.clone()),
            json!({"id": "1", "schemas": [CORE], "userName": "a", "name": {"givenName": "G"}, "emails": [{"value": "x"}]})
        );
        let p = Projection::parse(None, Some("name.familyName,emails,id")).unwrap();
        assert_eq!(
            p.apply(CORE, r),
            json!({"id": "1", "schemas": [CORE], "userName": "a", "name": {"givenName": "G"}, "meta": {}})
        );
    }

    /// An object the exclusion empties is left out, not rendered `{}`
    /// (an element of a multi-valued attribute, an extension, likewise);
    /// one that was empty already stays as it was.
    #[test]
    fn objects_emptied_by_excluded_attributes_are_omitted() {
        const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let r = json!({"id": "1", "schemas": [CORE], "userName": "a",
            "name": {"givenName": "G", "familyName": "F", "formatted": "G F"},
            "emails": [{"value": "x"}, {"value": "y", "type": "work"}],
            "phoneNumbers": [{"value": "1"}],
            ENT: {"employeeNumber": "7"}, "meta": {}});
        let p = Projection::parse(
            None,
            Some(&format!(
                "name.givenName,NAME.familyName,name.formatted,emails.value,phoneNumbers.value,{ENT}:employeeNumber"
            )),
        )
        .unwrap();
        assert_eq!(
            p.apply(CORE, r.clone()),
            json!({"id": "1", "schemas": [CORE], "userName": "a",
                "emails": [{"type": "work"}], "meta": {}})
        );
        // Not emptied: kept.
        let p = Projection::parse(None, Some("name.givenName,emails.display")).unwrap();
        let out = p.apply(CORE, r);
        assert_eq!(out["name"], json!({"familyName": "F", "formatted": "G F"}));
        assert_eq!(out["emails"].as_array().unwrap().len(), 2);
    }

    /// `id` and `schemas` are `returned: always` (RFC 7643 §3.1, §7):
    /// excluding them does nothing, also when they are named with the core
    /// schema's URN; an extension's own `id` may go.
    #[test]
    fn always_returned_attributes_are_never_excluded() {
        const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let r = json!({"id": "1", "schemas": [CORE], "userName": "a", ENT: {"id": "x", "division": "d"}});
        for excluded in ["id,schemas", "ID", &format!("{CORE}:id,{CORE}:SCHEMAS")] {
            let p = Projection::parse(None, Some(excluded)).unwrap();
            assert_eq!(p.apply(CORE, r.clone()), r, "{excluded}");
        }
        let p = Projection::parse(None, Some(&format!("{ENT}:id,{CORE}:userName"))).unwrap();
        assert_eq!(
            p.apply(CORE, r.clone()),
            json!({"id": "1", "schemas": [CORE], ENT: {"division": "d"}})
        );
    }

    #[test]
    fn wants_reports_excluded_members() {
        let p = Projection::parse(None, Some("members")).unwrap();
        assert!(!p.wants("members"));
        assert!(p.wants("displayName"));
        let p = Projection::parse(Some("displayName"), None).unwrap();
        assert!(!p.wants("members"));
        assert!(Projection::parse(Some("emails[type eq \"work\"]"), None).is_err());
    }
}
