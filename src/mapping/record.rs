//! A backend record as the read path sees it.
//!
//! [`Json`] is what reading a record needs of a JSON value: a member, the
//! elements, a scalar. `serde_json::Value` has it, and so has [`Raw`], a
//! value read from an answer's text that borrows its keys and strings from
//! that text. A `GET` or a list page rendered straight from the answer
//! (docs/performance.md, tenth round) reads a `Raw`: no `String` per key
//! and per value, no `BTreeMap` node per member, as a `Value` costs.
//!
//! A `Raw` means what the `Value` parsed from the same text means: a
//! repeated key's last value counts, numbers are `serde_json::Number`s
//! parsed the same way, and [`Json::to_value`] gives that very `Value`.

use jsonpath_rust::parser::model::JpQuery;
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

/// What the read path asks of a JSON value.
pub trait Json: Sized {
    /// Member `key` of an object (exact key; the last one when repeated).
    fn member(&self, key: &str) -> Option<&Self>;
    fn elements(&self) -> Option<&[Self]>;
    fn text(&self) -> Option<&str>;
    fn number(&self) -> Option<&Number>;
    fn boolean(&self) -> Option<bool>;
    fn is_null_value(&self) -> bool;
    fn is_object_value(&self) -> bool;
    /// The same value as a `serde_json::Value`.
    fn to_value(&self) -> Value;
    /// `self == v`, as for `Value`s.
    fn same_as(&self, v: &Value) -> bool;
    /// The first value a JSONPath query selects. A [`Raw`] answers none:
    /// plans reading through JSONPath queries read `Value`s
    /// ([`crate::mapping::ResourcePlan::reads_raw`]).
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
/// from (a string with escapes is unescaped into its own allocation).
#[derive(Debug, Clone, PartialEq)]
pub enum Raw<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Arr(Vec<Raw<'a>>),
    /// Members in the text's order, repeated keys included.
    Obj(Vec<(Cow<'a, str>, Raw<'a>)>),
}

impl<'a> Raw<'a> {
    /// Reads `text` as one JSON value (`serde_json::from_str`'s rules:
    /// trailing characters and nesting deeper than 128 are errors).
    pub fn parse(text: &'a str) -> Result<Raw<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl Json for Raw<'_> {
    fn member(&self, key: &str) -> Option<&Self> {
        match self {
            Raw::Obj(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
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
            Raw::Str(s) => Some(s),
            _ => None,
        }
    }
    fn number(&self) -> Option<&Number> {
        match self {
            Raw::Num(n) => Some(n),
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
            Raw::Num(n) => Value::Number(n.clone()),
            Raw::Str(s) => Value::String(s.to_string()),
            Raw::Arr(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            // Inserted in order: a repeated key's last value stays.
            Raw::Obj(m) => {
                let mut o = Map::new();
                for (k, v) in m {
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
            (Raw::Num(a), Value::Number(b)) => a == b,
            (Raw::Str(a), Value::String(b)) => a == b,
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

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Raw<'de>, E> {
        Ok(Raw::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Raw<'de>, E> {
        Ok(Raw::Num(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Raw<'de>, E> {
        Ok(Raw::Num(n.into()))
    }
    // As `Value`'s visitor: a float that is not finite is `null`.
    fn visit_f64<E>(self, n: f64) -> Result<Raw<'de>, E> {
        Ok(Number::from_f64(n).map_or(Raw::Null, Raw::Num))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Owned(s)))
    }
    fn visit_none<E>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Null)
    }
    fn visit_unit<E>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw<'de>, D::Error> {
        Deserialize::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw<'de>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Raw::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        // An empty object allocates nothing (an answer of a million `{}`
        // must not cost a million allocations of members); one with members
        // gets room for a user record's dozen at once, about what `Value`
        // spends on its first `BTreeMap` node.
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Ok(Raw::Obj(Vec::new()));
        };
        let mut out = Vec::with_capacity(16);
        out.push((first, map.next_value()?));
        while let Some(k) = map.next_key_seed(KeySeed)? {
            out.push((k, map.next_value()?));
        }
        Ok(Raw::Obj(out))
    }
}

/// An object key, borrowed when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn borrows_plain_text_and_unescapes_the_rest() {
        let text = r#"{"a":"plain","b\u0041":"x\"y","n":[1,-2,3.5,1e300],"o":{"k":null}}"#;
        let r = Raw::parse(text).unwrap();
        let Raw::Obj(m) = &r else { panic!("{r:?}") };
        assert!(matches!(m[0].0, Cow::Borrowed("a")));
        assert!(matches!(m[0].1, Raw::Str(Cow::Borrowed("plain"))));
        assert!(matches!(m[1].0, Cow::Owned(ref k) if k == "bA"));
        assert_eq!(r.member("bA").and_then(Json::text), Some("x\"y"));
        assert_eq!(r.to_value(), serde_json::from_str::<Value>(text).unwrap());
    }

    /// Empty objects and arrays allocate nothing: an answer full of them
    /// costs no more as a `Raw` than as a `Value`.
    #[test]
    fn empty_containers_allocate_nothing() {
        let r = Raw::parse("[{},[],{\"a\":{}}]").unwrap();
        let Raw::Arr(items) = &r else { panic!("{r:?}") };
        let capacity = |v: &Raw| match v {
            Raw::Obj(m) => m.capacity(),
            Raw::Arr(a) => a.capacity(),
            _ => usize::MAX,
        };
        assert_eq!(capacity(&items[0]), 0);
        assert_eq!(capacity(&items[1]), 0);
        assert_eq!(items[2].member("a").map(capacity), Some(0));
    }

    #[test]
    fn a_repeated_key_means_its_last_value() {
        let text = r#"{"k":1,"k":2}"#;
        let r = Raw::parse(text).unwrap();
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
            assert!(Raw::parse(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad:?}");
        }
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

    proptest! {
        /// The `Raw` of a text is the `Value` of that text, and answers the
        /// read path's questions as the `Value` does.
        #[test]
        fn raw_reads_as_value_does(v in arb_value(), key in "[a-c]{0,2}") {
            let text = serde_json::to_string(&v).unwrap();
            let r = Raw::parse(&text).unwrap();
            prop_assert_eq!(r.to_value(), v.clone());
            prop_assert!(r.same_as(&v));
            prop_assert_eq!(r.member(&key).map(Json::to_value), v.member(&key).cloned());
            prop_assert_eq!(r.text(), v.text());
            prop_assert_eq!(r.number(), v.number());
            prop_assert_eq!(r.elements().map(<[Raw]>::len), v.elements().map(<[Value]>::len));
        }

        /// Text with repeated keys (which a `Value` cannot print).
        #[test]
        fn repeated_keys_read_as_value_reads_them(
            pairs in prop::collection::vec(("[ab]", any::<i32>()), 0..6)
        ) {
            let body: Vec<String> = pairs.iter().map(|(k, n)| format!("\"{k}\":{n}")).collect();
            let text = format!("{{{}}}", body.join(","));
            let r = Raw::parse(&text).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(r.to_value(), v.clone());
            for k in ["a", "b"] {
                prop_assert_eq!(r.member(k).map(Json::to_value), v.member(k).cloned());
            }
        }
    }
}
