//! JSON helpers shared by the protocol code and the mapping: SCIM attribute
//! names are case-insensitive (RFC 7643 §2.1), and client text echoed in an
//! error detail is quoted and clipped.

use serde_json::{Map, Value};

/// The key of `obj` that names `name`: exact first, then ASCII case-insensitive.
pub fn find_key<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a String> {
    match obj.get_key_value(name) {
        Some((k, _)) => Some(k),
        None => obj.keys().find(|k| k.eq_ignore_ascii_case(name)),
    }
}

/// Member `name` of `obj`: exact first, then ASCII case-insensitive.
pub fn get_in<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Member `key` of `value` if it is an object: exact first, then ASCII
/// case-insensitive.
pub fn get_ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    get_in(value.as_object()?, key)
}

/// JSON-quotes client text for an error message, clipped after `max_chars`
/// characters (marked by `...`) so a hostile input is not echoed whole.
pub fn quote(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", Value::from(s.get(..cut).unwrap_or_default())),
        None => Value::from(s).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups_prefer_the_exact_key() {
        let v = json!({"userName": 1, "USERNAME": 2, "other": 3});
        let obj = v.as_object().unwrap();
        assert_eq!(
            find_key(obj, "USERNAME").map(String::as_str),
            Some("USERNAME")
        );
        assert_eq!(find_key(obj, "Other").map(String::as_str), Some("other"));
        assert_eq!(find_key(obj, "missing"), None);
        assert_eq!(get_ci(&v, "userName"), Some(&json!(1)));
        assert_eq!(get_ci(&v, "OTHER"), Some(&json!(3)));
        assert_eq!(get_ci(&json!([1]), "x"), None);
    }

    #[test]
    fn quote_escapes_and_clips() {
        assert_eq!(quote("a\"b", 10), r#""a\"b""#);
        assert_eq!(quote("éééé", 2), "\"éé\"...");
        assert_eq!(quote("éé", 2), "\"éé\"");
    }
}
