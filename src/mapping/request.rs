//! Backend request building from the compiled plan: paths with the id and
//! member filled in, list query strings with paging, record and membership
//! bodies. Pure functions, no I/O.

use crate::mapping::model::IdKind;
use crate::mapping::plan::{
    encode_segment, push_encoded, ListPlan, MembersPlan, OpPlan, Paging, PathPart,
};
use serde_json::{Map, Value};
use std::borrow::Cow;

impl OpPlan {
    /// The path and query of this call, with `{id}` and `{member}` percent-encoded.
    pub fn path_and_query(&self, id: Option<&str>, member: Option<&str>) -> String {
        let mut s = String::with_capacity(64);
        for p in &self.path {
            match p {
                PathPart::Lit(l) => s.push_str(l),
                PathPart::Id => s.push_str(&encode_segment(id.unwrap_or_default())),
                PathPart::Member => s.push_str(&encode_segment(member.unwrap_or_default())),
            }
        }
        if !self.query.is_empty() {
            s.push('?');
            s.push_str(&self.query);
        }
        s
    }

    /// The request body for `record`: only the `send_only` fields (when
    /// given), `omit` fields removed, wrapped when the mapping says so.
    pub fn body_for(&self, mut record: Value) -> Value {
        if let (Some(only), Value::Object(fields)) = (&self.send_only, &mut record) {
            fields.retain(|k, _| only.iter().any(|f| f == k));
        }
        for f in &self.omit {
            f.remove(&mut record);
        }
        match &self.wrap {
            Some(w) => {
                let mut m = Map::with_capacity(1);
                m.insert(w.clone(), record);
                Value::Object(m)
            }
            None => record,
        }
    }

    /// The body of a membership call for `member`, from the mapping's template;
    /// `None` when the call has no body.
    pub fn member_body(&self, member: &str, members: Option<&MembersPlan>) -> Option<Value> {
        let template = self.body.as_ref()?;
        let typed = match members.map(|m| m.id_type) {
            Some(IdKind::Integer) => member
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(member.into())),
            _ => Value::String(member.into()),
        };
        Some(render_body(template, member, &typed))
    }
}

/// Fills a membership body template: a string exactly `{member}` becomes the
/// typed member id; `{member}` inside a longer string is substituted as text.
fn render_body(template: &Value, member: &str, typed: &Value) -> Value {
    match template {
        Value::String(s) if s == "{member}" => typed.clone(),
        Value::String(s) => Value::String(s.replace("{member}", member)),
        Value::Array(a) => Value::Array(a.iter().map(|v| render_body(v, member, typed)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), render_body(v, member, typed)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl ListPlan {
    /// The path and query of one list page: the mapping's literal query, the
    /// paging parameters for records `[offset, offset+size)`, then `params`
    /// (pushed-down filter terms).
    /// Whether the page, offset and size [`ListPlan::page_path`] would send
    /// all fit a signed 32-bit integer (what most backends parse them
    /// into); beyond it the page is answered empty without a backend call.
    pub fn page_in_range(&self, offset: usize, size: usize) -> bool {
        const MAX: usize = i32::MAX as usize;
        let first = match &self.paging {
            Paging::Page { .. } => offset / size.max(1) + 1,
            Paging::Offset { .. } => offset,
        };
        first <= MAX && size <= MAX
    }

    pub fn page_path(&self, params: &[(&str, Cow<'_, str>)], offset: usize, size: usize) -> String {
        // One buffer for the whole path and query, each piece encoded into it.
        let wanted = params
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
        let mut q = String::with_capacity(self.path.len() + self.query.len() + 48 + wanted * 3 / 2);
        q.push_str(&self.path);
        q.push('?');
        q.push_str(&self.query);
        let mut first = self.query.is_empty();
        let mut push = |k: &str, v: Param| {
            if !std::mem::replace(&mut first, false) {
                q.push('&');
            }
            push_encoded(&mut q, k);
            q.push('=');
            match v {
                Param::Text(text) => push_encoded(&mut q, text),
                // Digits need no encoding.
                Param::Number(n) => q.push_str(itoa::Buffer::new().format(n)),
            }
        };
        match &self.paging {
            Paging::Page {
                page_param,
                size_param,
                ..
            } => {
                push(page_param, Param::Number(offset / size.max(1) + 1));
                push(size_param, Param::Number(size));
            }
            Paging::Offset {
                offset_param,
                limit_param,
                ..
            } => {
                push(offset_param, Param::Number(offset));
                push(limit_param, Param::Number(size));
            }
        }
        for (k, v) in params {
            push(k, Param::Text(v));
        }
        q
    }
}

/// A query parameter's value in [`ListPlan::page_path`].
enum Param<'a> {
    Text(&'a str),
    Number(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn member_body_types_the_id_only_where_it_stands_alone() {
        let t = json!({"userId": "{member}", "note": "add {member}", "list": ["{member}"]});
        assert_eq!(
            render_body(&t, "42", &json!(42)),
            json!({"userId": 42, "note": "add 42", "list": [42]})
        );
    }
}
