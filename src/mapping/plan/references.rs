//! A reference attribute's `$ref` as the client writes it (RFC 7643 §4.3:
//! `manager` names the manager by `value`, the id, and by `$ref`, its URI;
//! both RECOMMENDED, so a client may send either).

use super::*;
use crate::scim::error::ScimError;
use crate::scim::json::find_key;
use serde_json::Map;

impl ResourcePlan {
    /// Gives every reference attribute of `scim` the `value` its `$ref`
    /// names, when the client set that `$ref`: one absent from `before` (the
    /// resource as read; `None` on create) or different from it. A `value`
    /// changed along with it must name the same resource, else `400
    /// invalidValue`; a `value` left as read gives way to the new `$ref`. A
    /// `$ref` left as read changes nothing (the `value` wins, and the answer
    /// renders the `$ref` again from it).
    pub fn resolve_references(
        &self,
        scim: &mut Value,
        before: Option<&Value>,
    ) -> Result<(), ScimError> {
        if let Some(mi) = self.members_attr {
            let name = &self.attributes[mi].target.name;
            let read = before.and_then(|b| get_ci(b, name));
            let members = scim.as_object_mut().and_then(|o| {
                let key = find_key(o, name)?.clone();
                o.get_mut(&key)
            });
            // Members left as read (rendered with `value` and `$ref` in
            // agreement) need no check: a PATCH of a large group's name
            // does not parse every member's URI.
            if let Some(members) = members.filter(|m| read != Some(&**m)) {
                self.resolve_member_refs(members)?;
            }
        }
        for a in &self.attributes {
            let Some(endpoint) = &a.reference else {
                continue;
            };
            let whole = ScimTarget {
                sub: None,
                ..a.target.clone()
            };
            let part = |v: &Value, key: &str| -> Option<String> {
                let obj = whole.extract(v)?;
                let obj = match obj {
                    Value::Array(items) if items.len() == 1 => &items[0],
                    o => o,
                };
                get_ci(obj, key)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let Some(uri) = part(scim, "$ref") else {
                continue;
            };
            let old_ref = before.and_then(|b| part(b, "$ref"));
            if old_ref.as_deref() == Some(uri.as_str()) {
                continue;
            }
            let Some(id) = id_of_reference(&uri, endpoint) else {
                return Err(ScimError::invalid_value(format!(
                    "attribute '{}': '$ref' {} is not the URI of a resource at {endpoint}",
                    a.scim_text,
                    crate::scim::json::quote(&uri, 200),
                )));
            };
            let value = part(scim, "value");
            let old_value = before.and_then(|b| part(b, "value"));
            match value {
                Some(v) if v == id => {}
                Some(v) if Some(&v) != old_value.as_ref() => {
                    return Err(ScimError::invalid_value(format!(
                        "attribute '{}': 'value' {} and '$ref' {} name different resources",
                        a.scim_text,
                        crate::scim::json::quote(&v, 200),
                        crate::scim::json::quote(&uri, 200),
                    )));
                }
                _ => set_value(&whole, scim, id),
            }
        }
        Ok(())
    }
}

impl ResourcePlan {
    /// Gives each member (an object, or an array of them) that names its
    /// resource by `$ref` (RFC 7643 §4.2, `members.$ref`) the `value` that
    /// `$ref` names. A `$ref` that is not the URI of a resource at the
    /// members' endpoint, or that names another resource than the member's
    /// `value`, is `400 invalidValue`; so is a `type` other than the member
    /// resource type's name (compared case-insensitively). Members as the bridge renders them
    /// (both, naming the same resource) pass unchanged.
    pub fn resolve_member_refs(&self, members: &mut Value) -> Result<(), ScimError> {
        let Some(plan) = self.members() else {
            return Ok(());
        };
        let items: Vec<&mut Value> = match members {
            Value::Array(a) => a.iter_mut().collect(),
            m @ Value::Object(_) => vec![m],
            _ => return Ok(()),
        };
        for m in items {
            let Some(obj) = m.as_object_mut() else {
                continue;
            };
            // RFC 7643 §4.2: `type` names the member's resource type; a
            // member of another type than the mapping's would otherwise be
            // taken as the member resource with that id.
            match find_key(obj, "type").and_then(|k| obj.get(k)) {
                None | Some(Value::Null) => {}
                Some(Value::String(t))
                    if t.is_empty() || t.eq_ignore_ascii_case(&plan.member_type) => {}
                Some(t) => {
                    let shown = match t {
                        Value::String(t) => crate::scim::json::quote(t, 200),
                        other => other.to_string().chars().take(200).collect(),
                    };
                    return Err(ScimError::invalid_value(format!(
                        "member 'type' {shown} is not {:?}, the type of this group's members",
                        plan.member_type,
                    )));
                }
            }
            let Some(uri) = find_key(obj, "$ref")
                .and_then(|k| obj.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
            else {
                continue;
            };
            let Some(id) = id_of_reference(&uri, &plan.resource) else {
                return Err(ScimError::invalid_value(format!(
                    "member '$ref' {} is not the URI of a resource at {}",
                    crate::scim::json::quote(&uri, 200),
                    plan.resource,
                )));
            };
            let key = find_key(obj, "value").cloned();
            let same = match key.as_ref().and_then(|k| obj.get(k)) {
                None | Some(Value::Null) => {
                    obj.insert(key.unwrap_or_else(|| "value".into()), Value::String(id));
                    continue;
                }
                v => id_text(v).as_deref() == Some(id.as_str()),
            };
            if !same {
                return Err(ScimError::invalid_value(format!(
                    "member 'value' and '$ref' {} name different resources",
                    crate::scim::json::quote(&uri, 200),
                )));
            }
        }
        Ok(())
    }
}

/// The id a reference URI names at `endpoint` (`/Users`): its last path
/// segment, percent-decoded, when the segment before it is the endpoint's
/// (`https://host/scim/v2/Users/42`, `/Users/42`, `Users/42`).
fn id_of_reference(uri: &str, endpoint: &str) -> Option<String> {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let (parent, last) = path.trim_end_matches('/').rsplit_once('/')?;
    let collection = parent.rsplit('/').next().unwrap_or(parent);
    if !collection.eq_ignore_ascii_case(endpoint.trim_start_matches('/')) {
        return None;
    }
    let id = percent_encoding::percent_decode_str(last)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!id.is_empty() && !is_dot_segment(&id)).then_some(id)
}

/// Sets `value` in the client's object (or one-element array of it) at `whole`.
fn set_value(whole: &ScimTarget, scim: &mut Value, id: String) {
    let Some(root) = scim.as_object_mut() else {
        return;
    };
    let container = match &whole.urn {
        None => Some(root),
        Some(u) => find_key(root, u)
            .cloned()
            .and_then(|k| root.get_mut(&k))
            .and_then(Value::as_object_mut),
    };
    let Some(container) = container else { return };
    let Some(key) = find_key(container, &whole.name).cloned() else {
        return;
    };
    let obj: Option<&mut Map<String, Value>> = match container.get_mut(&key) {
        Some(Value::Array(items)) if items.len() == 1 => items[0].as_object_mut(),
        Some(Value::Object(m)) => Some(m),
        _ => None,
    };
    if let Some(m) = obj {
        match find_key(m, "value").cloned() {
            Some(k) => m.insert(k, Value::String(id)),
            None => m.insert("value".into(), Value::String(id)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn plan() -> ResourcePlan {
        let mapping = r#"
version: 1
backend: { base_url: "http://127.0.0.1:1" }
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    extensions: [urn:ietf:params:scim:schemas:extension:enterprise:2.0:User]
    id: { field: id }
    operations:
      list: { path: /u, items: "$.data[*]", total: "$.total", paging: { style: offset, max_page_size: 10 } }
      get: { path: "/u/{id}" }
      create: { path: /u }
      replace: { path: "/u/{id}" }
    attributes:
      - { scim: userName, field: login, required: true }
      - scim: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager
        field: boss
        reference: { resource: /Users }
"#;
        compile_first(mapping)
    }

    fn with_manager(m: Value) -> Value {
        json!({"userName": "a", ENT: {"manager": m}})
    }

    fn resolved(m: Value, before: Option<Value>) -> Result<Value, ScimError> {
        let mut scim = with_manager(m);
        plan().resolve_references(&mut scim, before.as_ref())?;
        Ok(scim[ENT]["manager"].clone())
    }

    #[test]
    fn a_ref_alone_gives_the_value() {
        for uri in [
            "https://h/scim/v2/Users/42",
            "/Users/42",
            "Users/42/",
            "https://h/users/42?x=1",
        ] {
            assert_eq!(
                resolved(json!({"$ref": uri}), None).unwrap()["value"],
                "42",
                "{uri}"
            );
        }
        let out = resolved(json!([{"$ref": "https://h/Users/a%20b"}]), None).unwrap();
        assert_eq!(out[0]["value"], "a b");
        let mut scim = with_manager(json!({"$ref": "https://h/Users/7"}));
        plan().resolve_references(&mut scim, None).unwrap();
        assert_eq!(
            plan().to_backend(&scim, None, WriteMode::Create).unwrap()["boss"],
            "7"
        );
    }

    #[test]
    fn value_and_ref_must_agree_when_both_are_new() {
        let ok = resolved(json!({"value": "42", "$ref": "https://h/Users/42"}), None).unwrap();
        assert_eq!(ok["value"], "42");
        let e = resolved(json!({"value": "41", "$ref": "https://h/Users/42"}), None).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.scim_type),
            (400, Some("invalidValue"))
        );
        for bad in [
            "https://h/Groups/42",
            "https://h/Users/",
            "42",
            "https://h/Users/..",
        ] {
            let e = resolved(json!({"$ref": bad}), None).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
        }
    }

    #[test]
    fn the_ref_as_read_gives_way_to_a_new_value_and_a_new_ref_to_the_value_as_read() {
        let read = with_manager(json!({"value": "1", "$ref": "https://h/Users/1"}));
        // `manager.value` replaced, `$ref` left as rendered: the value wins.
        let out = resolved(
            json!({"value": "2", "$ref": "https://h/Users/1"}),
            Some(read.clone()),
        );
        assert_eq!(out.unwrap()["value"], "2");
        // `manager.$ref` replaced, `value` left as read: the new `$ref` wins.
        let out = resolved(
            json!({"value": "1", "$ref": "https://h/Users/3"}),
            Some(read.clone()),
        );
        assert_eq!(out.unwrap()["value"], "3");
        // Unchanged: untouched.
        let out = resolved(
            json!({"value": "1", "$ref": "https://h/Users/1"}),
            Some(read),
        );
        assert_eq!(out.unwrap()["value"], "1");
    }

    fn group_plan() -> ResourcePlan {
        let mapping = r#"
version: 1
backend: { base_url: "http://127.0.0.1:1" }
resources:
  Group:
    endpoint: /Groups
    schema: urn:ietf:params:scim:schemas:core:2.0:Group
    id: { field: id }
    operations:
      list: { path: /g, items: "$.data[*]", total: "$.total", paging: { style: offset, max_page_size: 10 } }
      get: { path: "/g/{id}" }
      create: { path: /g }
      replace: { path: "/g/{id}" }
    attributes:
      - { scim: displayName, field: name, required: true }
      - { scim: members, field: memberIds, members: { id_type: integer, resource: /Users } }
"#;
        compile_first(mapping)
    }

    #[test]
    fn a_member_ref_gives_its_value() {
        let p = group_plan();
        let mut m = json!([
            {"$ref": "https://h/scim/v2/Users/7"},
            {"$ref": "/Users/8", "value": null},
            {"value": "9", "$ref": "Users/9"},
            {"value": 10, "$ref": "https://h/Users/10"},
            {"value": "11"},
            {"$ref": null, "value": "12"},
            "13"
        ]);
        p.resolve_member_refs(&mut m).unwrap();
        let values: Vec<Value> = m
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.get("value").cloned().unwrap_or(v.clone()))
            .collect();
        assert_eq!(
            values,
            [
                json!("7"),
                json!("8"),
                json!("9"),
                json!(10),
                json!("11"),
                json!("12"),
                json!("13")
            ]
        );
        // One object instead of an array, and inside a whole resource.
        let mut one = json!({"$ref": "/Users/5"});
        p.resolve_member_refs(&mut one).unwrap();
        assert_eq!(one["value"], "5");
        // The member resource type's name, in any case, or none.
        let mut typed = json!([
            {"value": "1", "type": "User"},
            {"value": "2", "type": "user"},
            {"value": "3", "type": null},
            {"value": "4", "type": ""}
        ]);
        p.resolve_member_refs(&mut typed).unwrap();
        let mut g = json!({"displayName": "g", "Members": [{"$ref": "/Users/6"}]});
        p.resolve_references(&mut g, None).unwrap();
        assert_eq!(g["Members"][0]["value"], "6");
    }

    #[test]
    fn a_member_ref_elsewhere_or_at_odds_with_its_value_is_invalid() {
        let p = group_plan();
        for bad in [
            json!([{"$ref": "https://h/scim/v2/Groups/7"}]),
            json!([{"$ref": "7"}]),
            json!([{"$ref": "/Users/.."}]),
            json!([{"value": "1", "$ref": "/Users/2"}]),
            json!([{"value": 1, "$ref": "/Users/2"}]),
            json!([{"value": true, "$ref": "/Users/2"}]),
            json!([{"value": "1", "type": "Group"}]),
            json!([{"value": "1", "type": "Group", "$ref": "/Users/1"}]),
            json!({"value": "1", "TYPE": "group"}),
            json!([{"value": "1", "type": 1}]),
            json!([{"value": "2"}, {"value": "1", "type": "Users"}]),
        ] {
            let mut m = bad.clone();
            let e = p.resolve_member_refs(&mut m).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidValue"), "{bad}");
        }
    }
}
