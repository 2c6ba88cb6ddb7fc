//! A backend record as the read path sees it.
//!
//! [`Json`] is what reading a record needs of a JSON value: a member, the
//! elements, a scalar. `serde_json::Value` has it, and so has [`Raw`], a
//! value read from an answer's text that borrows its keys and strings from
//! that text. A `GET` or a list page rendered straight from the answer
//! (docs/performance.md, tenth round) reads a `Raw`: no `String` per key
//! and per value, no `BTreeMap` node per member, as a `Value` costs. Its
//! containers are slices in an [`Arena`] made for the answer, so that a
//! `Raw` is built without a call to the allocator per container and freed
//! at once with the arena, not walked member by member (the twenty-seventh
//! round).
//!
//! A `Raw` means what the `Value` parsed from the same text means: a
//! repeated key's last value counts, numbers are `serde_json::Number`s
//! parsed the same way, and [`Json::to_value`] gives that very `Value`.

use jsonpath_rust::parser::model::JpQuery;
use serde_json::{Map, Number, Value};

mod parse;
pub use parse::NotJson;

/// What the read path asks of a JSON value.
pub trait Json: Sized {
    /// Member `key` of an object (exact key; the last one when repeated).
    fn member(&self, key: &str) -> Option<&Self>;
    fn elements(&self) -> Option<&[Self]>;
    fn text(&self) -> Option<&str>;
    fn number(&self) -> Option<&Number>;
    /// A number's text as `Number`'s `Display` writes it, when the value
    /// holds it already (a [`Raw`] integer); `None` otherwise.
    fn number_text(&self) -> Option<&str> {
        None
    }
    fn boolean(&self) -> Option<bool>;
    fn is_null_value(&self) -> bool;
    fn is_object_value(&self) -> bool;
    /// The same value as a `serde_json::Value`.
    fn to_value(&self) -> Value;
    /// `self == v`, as for `Value`s.
    fn same_as(&self, v: &Value) -> bool;
    /// The first value a JSONPath query selects. A [`Raw`] answers none:
    /// plans reading through JSONPath queries read `Value`s
    /// ([`crate::mapping::plan::ResourcePlan::lists_raw`], [`crate::mapping::plan::ResourcePlan::renders_raw`]).
    fn query_first(&self, q: &JpQuery) -> Option<&Self>;
}

impl Json for Value {
    fn member(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }
    fn elements(&self) -> Option<&[Self]> {
        self.as_array().map(Vec::as_slice)
    }
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn is_null_value(&self) -> bool {
        self.is_null()
    }
    fn is_object_value(&self) -> bool {
        self.is_object()
    }
    fn to_value(&self) -> Value {
        self.clone()
    }
    fn same_as(&self, v: &Value) -> bool {
        self == v
    }
    fn query_first(&self, q: &JpQuery) -> Option<&Self> {
        jsonpath_rust::query::js_path_process(q, self)
            .ok()?
            .into_iter()
            .next()
            .map(|r| r.val())
    }
}

/// A JSON value borrowing its keys and strings from the text it was read
/// from, and its containers from an [`Arena`] (a string with escapes is
/// unescaped into the arena too). Nothing in it owns memory: it is dropped
/// with the arena, in one go, not container by container.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw<'a> {
    Null,
    Bool(bool),
    /// A number, with its text when that is what `Number`'s `Display`
    /// writes (a plain integer): ids and versions are then borrowed, not
    /// formatted again ([`Json::number_text`]).
    Num(Number, Option<&'a str>),
    /// A string written without escapes in the text, borrowed from it:
    /// nothing in it needs escaping when it is written again.
    Str(&'a str),
    /// A string that had escapes in the text, unescaped.
    Unescaped(&'a str),
    Arr(&'a [Raw<'a>]),
    /// Members in the text's order, repeated keys included.
    Obj(&'a [(&'a str, Raw<'a>)]),
}

// A `Raw` is never dropped member by member: it must own nothing (a
// `Number` holding a `String`, as with `serde_json`'s
// `arbitrary_precision`, would leak in the arena).
const _: () = assert!(!std::mem::needs_drop::<Raw<'static>>());

/// Where a [`Raw`]'s containers and unescaped strings are kept: one
/// allocation for a usual answer, freed at once. A worker thread keeps the
/// last arena it dropped, emptied, for its next answer
/// ([`Arena::for_text`]), unless it grew past [`KEPT_ARENA_BYTES`].
pub struct Arena(bumpalo::Bump);

/// The largest arena a thread keeps for its next answer. A usual record
/// or list page needs a few KiB; the arena of a 10,000-member group's
/// answer (megabytes) is freed, not kept by the thread that read it.
pub const KEPT_ARENA_BYTES: usize = 64 * 1024;

thread_local! {
    /// This thread's emptied arena, waiting for its next answer.
    static KEPT_ARENA: std::cell::Cell<Option<bumpalo::Bump>> = const { std::cell::Cell::new(None) };
}

impl Arena {
    /// An arena for a record read from `len` bytes of text: the one this
    /// thread kept, emptied, when it has one (its room grows when that is
    /// not enough), else a new one sized for the text.
    pub fn for_text(len: usize) -> Arena {
        let bump = KEPT_ARENA
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                bumpalo::Bump::with_capacity(len.saturating_mul(8).clamp(4096, KEPT_ARENA_BYTES))
            });
        Arena(bump)
    }

    /// Bytes taken from the allocator so far.
    pub fn allocated_bytes(&self) -> usize {
        self.0.allocated_bytes()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // What is left in its place allocated nothing (`Bump::new`).
        let mut bump = std::mem::take(&mut self.0);
        if bump.allocated_bytes() > KEPT_ARENA_BYTES {
            return;
        }
        // Everything read into it goes: `Raw`s borrow the arena, so none
        // outlives it. `reset` keeps one chunk, the last (largest) one.
        bump.reset();
        // A thread being torn down keeps nothing (the arena is freed).
        let _ = KEPT_ARENA.try_with(|k| k.set(Some(bump)));
    }
}

impl<'a> Raw<'a> {
    /// Reads `text` as one JSON value (`serde_json::from_str`'s rules:
    /// trailing characters and nesting deeper than 127 are errors), its
    /// containers kept in `arena`.
    pub fn parse(text: &'a str, arena: &'a Arena) -> Result<Raw<'a>, NotJson> {
        parse::parse(text, arena)
    }
}

/// `a == b`, the first bytes compared before the rest: a record's keys
/// often share a length (`login`, `email`), and the call `==` makes for
/// the rest cost more than the lookup's own work.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.first() == b.first() && a == b
}

impl Json for Raw<'_> {
    fn member(&self, key: &str) -> Option<&Self> {
        match self {
            Raw::Obj(m) => m
                .iter()
                .rev()
                .find(|(k, _)| same_key(k, key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
    fn elements(&self) -> Option<&[Self]> {
        match self {
            Raw::Arr(a) => Some(a),
            _ => None,
        }
    }
    fn text(&self) -> Option<&str> {
        match self {
            Raw::Str(s) | Raw::Unescaped(s) => Some(s),
            _ => None,
        }
    }
    fn number(&self) -> Option<&Number> {
        match self {
            Raw::Num(n, _) => Some(n),
            _ => None,
        }
    }
    fn number_text(&self) -> Option<&str> {
        match self {
            Raw::Num(_, t) => *t,
            _ => None,
        }
    }
    fn boolean(&self) -> Option<bool> {
        match self {
            Raw::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn is_null_value(&self) -> bool {
        matches!(self, Raw::Null)
    }
    fn is_object_value(&self) -> bool {
        matches!(self, Raw::Obj(_))
    }
    fn to_value(&self) -> Value {
        match self {
            Raw::Null => Value::Null,
            Raw::Bool(b) => Value::Bool(*b),
            Raw::Num(n, _) => Value::Number(n.clone()),
            Raw::Str(s) | Raw::Unescaped(s) => Value::String(s.to_string()),
            Raw::Arr(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            // Inserted in order: a repeated key's last value stays.
            Raw::Obj(m) => {
                let mut o = Map::new();
                for (k, v) in m.iter() {
                    o.insert(k.to_string(), v.to_value());
                }
                Value::Object(o)
            }
        }
    }
    fn same_as(&self, v: &Value) -> bool {
        match (self, v) {
            (Raw::Null, Value::Null) => true,
            (Raw::Bool(a), Value::Bool(b)) => a == b,
            (Raw::Num(a, _), Value::Number(b)) => a == b,
            (Raw::Str(a) | Raw::Unescaped(a), Value::String(b)) => a == b,
            (Raw::Arr(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            (Raw::Obj(_), Value::Object(_)) => self.to_value() == *v,
            _ => false,
        }
    }
    fn query_first(&self, _: &JpQuery) -> Option<&Self> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// `text` read as a `Raw`, as a `Value` (`None` when refused).
    fn read(text: &str) -> Option<Value> {
        let arena = Arena::for_text(text.len());
        Raw::parse(text, &arena).ok().map(|r| r.to_value())
    }

    #[test]
    fn borrows_plain_text_and_unescapes_the_rest() {
        let text = r#"{"a":"plain","b\u0041":"x\"y","n":[1,-2,3.5,1e300],"o":{"k":null}}"#;
        let arena = Arena::for_text(text.len());
        let r = Raw::parse(text, &arena).unwrap();
        let Raw::Obj(m) = &r else { panic!("{r:?}") };
        // Borrowed from the text: the very bytes, not a copy.
        assert_eq!(m[0].0.as_ptr(), text[2..].as_ptr());
        assert!(matches!(m[0].1, Raw::Str(s) if s.as_ptr() == text[6..].as_ptr()));
        assert_eq!(m[1].0, "bA");
        assert!(matches!(m[1].1, Raw::Unescaped("x\"y")));
        assert_eq!(r.member("bA").and_then(Json::text), Some("x\"y"));
        assert_eq!(r.to_value(), serde_json::from_str::<Value>(text).unwrap());
    }

    /// Empty objects and arrays take no room in the arena: an answer full
    /// of them costs no more as a `Raw` than as a `Value`.
    #[test]
    fn empty_containers_take_no_room() {
        let n = 100_000;
        let empties = |e: &str| format!("[{}]", vec![e; n].join(","));
        for text in [empties("{}"), empties("[]"), empties("{\"a\":{}}")] {
            let arena = Arena::for_text(text.len());
            let r = Raw::parse(&text, &arena).unwrap();
            assert_eq!(r.elements().map(<[Raw]>::len), Some(n));
            // The outer array's elements (grown by doubling) and each
            // `{"a":{}}`'s one member; nothing for an empty container.
            let member = std::mem::size_of::<(&str, Raw)>();
            let per = std::mem::size_of::<Raw>() + if text.contains('a') { member } else { 0 };
            assert!(
                arena.allocated_bytes() <= 4 * n * per,
                "{}",
                arena.allocated_bytes()
            );
        }
        let arena = Arena::for_text(0);
        let r = Raw::parse("[{},[],{\"a\":{}}]", &arena).unwrap();
        assert_eq!(r.to_value(), serde_json::json!([{}, [], {"a": {}}]));
    }

    /// A thread reads its next answer into the arena it last dropped,
    /// emptied, unless that one grew past [`KEPT_ARENA_BYTES`].
    #[test]
    fn a_thread_keeps_its_last_small_arena_and_frees_a_large_one() {
        std::thread::spawn(|| {
            let text = format!("[{}]", vec!["\"x\""; 1000].join(","));
            {
                let arena = Arena::for_text(5000);
                assert!(arena.allocated_bytes() >= 40_000);
                let r = Raw::parse(&text, &arena).unwrap();
                assert_eq!(r.elements().map(<[Raw]>::len), Some(1000));
            }
            let kept = Arena::for_text(0);
            // The kept one (a new one would take 4 KiB), emptied: what it
            // reads is what a new one reads.
            assert!(
                kept.allocated_bytes() >= 40_000,
                "{}",
                kept.allocated_bytes()
            );
            let big = format!("[{}]", vec!["{\"a\":[1,2,3]}"; 20_000].join(","));
            let r = Raw::parse(&big, &kept).unwrap();
            assert_eq!(r.to_value(), serde_json::from_str::<Value>(&big).unwrap());
            assert!(kept.allocated_bytes() > KEPT_ARENA_BYTES);
            drop(kept);
            // Grown past the limit: freed, and the next one is new.
            let next = Arena::for_text(0);
            assert!(
                next.allocated_bytes() < 40_000,
                "{}",
                next.allocated_bytes()
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_repeated_key_means_its_last_value() {
        let text = r#"{"k":1,"k":2}"#;
        let arena = Arena::for_text(text.len());
        let r = Raw::parse(text, &arena).unwrap();
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(r.member("k").and_then(Json::number), v["k"].as_number());
        assert_eq!(r.to_value(), v);
        assert!(r.same_as(&json!({"k": 2})));
        assert!(!r.same_as(&json!({"k": 1})));
    }

    #[test]
    fn refuses_what_value_refuses() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1} x",
            "nul",
            "1e400",
            &"[".repeat(200),
        ] {
            assert!(read(bad).is_none(), "{bad:?}");
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad:?}");
        }
    }

    /// Texts at the edges of the grammar: each is read as `serde_json`
    /// reads it, or refused when it refuses it.
    #[test]
    fn reads_the_edges_as_serde_json_does() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let deep_objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        let texts: Vec<String> = [
            "0",
            "-0",
            "-0.0",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "1E-2",
            "1.5e300",
            "-1e-400",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "9999999999999999999",
            "99999999999999999999",
            "1e309",
            "123456789012345678901234567890",
            "0.1",
            "2.2250738585072011e-308",
            "+1",
            "0x10",
            "\"\\u00e9\"",
            "\"\\uD83D\\uDE00\"",
            "\"\\uD83D\"",
            "\"\\uDE00\"",
            "\"\\uD83Dx\"",
            "\"\\uD83D\\u0041\"",
            "\"\\uD83D\\n\"",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"\\x\"",
            "\"a\tb\"",
            "\"a\u{7f}b\"",
            "\"\\/\\b\\f\"",
            "\"unterminated",
            "\"\\",
            "\"\\u",
            " \t\r\n1 \n",
            "\u{feff}1",
            "1 2",
            "[1 2]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{,}",
            "[,]",
            "{1:2}",
            "{\"a\":}",
            "[]",
            "{}",
            "[[],{}]",
            "nulls",
            "tru",
            "falsey",
            "NaN",
            "Infinity",
            "\u{a0}1",
            // A control character past the first eight bytes (the scan that
            // takes eight at a time), the last control character, whitespace
            // JSON does not have, a hex digit that is not one.
            "\"abcdefgh\u{1}ijklmnopqrst\"",
            "\"abcdefghij\u{1f}klmnopqrst\"",
            "\"abcdefghij\u{1f}\"",
            "\"abcdefghijklmnop\"",
            "\u{c}1",
            "\u{b}1",
            "\"\\u00g0\"",
        ]
        .into_iter()
        .map(String::from)
        .chain([deep(127), deep(128), deep_objects(127), deep_objects(128)])
        .collect();
        for text in &texts {
            let want = serde_json::from_str::<Value>(text).ok();
            assert_eq!(read(text), want, "{text:?}");
        }
        // Both sides of each boundary were met.
        assert!(read(&deep(127)).is_some() && read(&deep(128)).is_none());
        assert!(read("\"\\uD83D\\uDE00\"").is_some() && read("\"\\uD83D\"").is_none());
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "[a-z\"\\\\\u{e9}\n ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[a-c\"\\\\]{0,3}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Every number's kept text is what its `Number` displays.
    fn texts_display(r: &Raw) -> bool {
        match r {
            Raw::Num(n, Some(t)) => n.to_string() == *t,
            Raw::Arr(a) => a.iter().all(texts_display),
            Raw::Obj(m) => m.iter().all(|(_, v)| texts_display(v)),
            _ => true,
        }
    }

    /// Plain integers keep their text; other numbers do not.
    #[test]
    fn integers_keep_their_text() {
        let arena = Arena::for_text(0);
        let r = Raw::parse(
            r#"[0,7,9999999999999999999,18446744073709551615,-1,1.0,1e2,"7"]"#,
            &arena,
        )
        .unwrap();
        let texts: Vec<_> = r
            .elements()
            .unwrap()
            .iter()
            .map(Json::number_text)
            .collect();
        assert_eq!(
            texts,
            [
                Some("0"),
                Some("7"),
                Some("9999999999999999999"),
                None,
                None,
                None,
                None,
                None
            ]
        );
        assert!(texts_display(&r));
    }

    proptest! {
        /// The `Raw` of a text is the `Value` of that text, and answers the
        /// read path's questions as the `Value` does.
        #[test]
        fn raw_reads_as_value_does(v in arb_value(), key in "[a-c]{0,2}") {
            let text = serde_json::to_string(&v).unwrap();
            let arena = Arena::for_text(text.len());
            let r = Raw::parse(&text, &arena).unwrap();
            prop_assert_eq!(r.to_value(), v.clone());
            prop_assert!(r.same_as(&v));
            prop_assert_eq!(r.member(&key).map(Json::to_value), v.member(&key).cloned());
            prop_assert_eq!(r.text(), v.text());
            prop_assert_eq!(r.number(), v.number());
            prop_assert!(texts_display(&r), "{:?}", r);
            prop_assert_eq!(r.elements().map(<[Raw]>::len), v.elements().map(<[Value]>::len));
        }

        /// Any text made of JSON's pieces: read or refused as `serde_json`
        /// reads or refuses it.
        #[test]
        fn any_text_reads_as_serde_json_reads_it(
            text in "([\\[\\]{}\",: 0-9.eE+\\-\\\\/ntrufalsDdCc\u{e9}\t]|\\\\u[0-9A-Fa-f]{4}|true|null){0,24}"
        ) {
            let want = serde_json::from_str::<Value>(&text).ok();
            let arena = Arena::for_text(text.len());
            if let Ok(r) = Raw::parse(&text, &arena) {
                prop_assert!(texts_display(&r), "{:?}", r);
            }
            prop_assert_eq!(read(&text), want, "{:?}", text);
        }

        /// Text with repeated keys (which a `Value` cannot print).
        #[test]
        fn repeated_keys_read_as_value_reads_them(
            pairs in prop::collection::vec(("[ab]", any::<i32>()), 0..6)
        ) {
            let body: Vec<String> = pairs.iter().map(|(k, n)| format!("\"{k}\":{n}")).collect();
            let text = format!("{{{}}}", body.join(","));
            let arena = Arena::for_text(text.len());
            let r = Raw::parse(&text, &arena).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(r.to_value(), v.clone());
            for k in ["a", "b"] {
                prop_assert_eq!(r.member(k).map(Json::to_value), v.member(k).cloned());
            }
        }
    }
}
