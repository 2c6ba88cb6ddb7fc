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

/// The length of the run at the start of `b` that a JSON string holds as
/// it is: up to the first `"`, `\\` or control character (below 0x20), or
/// all of `b`. Eight bytes at a time: such a byte sets its top bit in
/// `found`; a borrow can also set bits above the first one, never below,
/// so the lowest set bit is exact.
#[inline]
pub fn plain_run(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(chunk) = b.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(chunk);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let found = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & TOPS;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + b[at..]
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
        .unwrap_or(b.len() - at)
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

    /// Every byte that needs escaping, at every offset in and around an
    /// eight-byte chunk, with bytes on both sides of the bounds (0x1f/0x20,
    /// 0x21/0x22/0x23, 0x5b/0x5c/0x5d, 0x7f, 0x80, 0xff).
    #[test]
    fn plain_run_stops_at_the_first_byte_to_escape() {
        let naive = |b: &[u8]| {
            b.iter()
                .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
                .unwrap_or(b.len())
        };
        let fillers = [b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff];
        let stops = [0u8, 0x1f, b'"', b'\\', b'\n'];
        for len in 0..20 {
            for &f in &fillers {
                let plain = vec![f; len];
                assert_eq!(plain_run(&plain), len);
                for at in 0..len {
                    for &stop in &stops {
                        let mut b = plain.clone();
                        b[at] = stop;
                        // A second stop later on must not move the first.
                        if at + 3 < len {
                            b[at + 3] = b'"';
                        }
                        assert_eq!(plain_run(&b), naive(&b), "{b:?}");
                        assert_eq!(plain_run(&b), at);
                    }
                }
            }
        }
    }
}
