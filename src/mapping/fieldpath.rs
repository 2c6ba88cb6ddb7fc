//! Backend field paths: the small write-path syntax of mapping files.
//!
//! `login`, `contact.email`, `phones[label=mobile].number`: dot-separated
//! object keys, where a segment `array[key=value]` selects the element of an
//! array of objects whose `key` equals `value` (the discriminator). Reading
//! and writing one element never touches the array's other elements.

use crate::mapping::record::Json;
use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Elem {
        array: String,
        key: String,
        value: String,
    },
}

/// A compiled backend field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<Segment>,
    text: String,
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '@'))
}

impl FieldPath {
    /// Parses `a.b[k=v].c`. The error says what is wrong with which segment.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        if text.trim().is_empty() {
            return Err("empty field path".into());
        }
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (seg, tail) = match rest.find(['.', '[']) {
                Some(i) if rest.as_bytes()[i] == b'[' => {
                    let array = &rest[..i];
                    let close = rest[i..]
                        .find(']')
                        .ok_or_else(|| format!("missing ']' in field path {text:?}"))?
                        + i;
                    let inner = &rest[i + 1..close];
                    let (key, value) = inner.split_once('=').ok_or_else(|| {
                        format!("selector [{inner}] in field path {text:?} must be [key=value]")
                    })?;
                    let (key, value) = (key.trim(), value.trim().trim_matches('"'));
                    if !valid_key(array) || !valid_key(key) || value.is_empty() {
                        return Err(format!(
                            "bad selector segment {:?} in field path {text:?}",
                            &rest[..=close]
                        ));
                    }
                    (
                        Segment::Elem {
                            array: array.into(),
                            key: key.into(),
                            value: value.into(),
                        },
                        &rest[close + 1..],
                    )
                }
                Some(i) => (Segment::Key(rest[..i].into()), &rest[i..]),
                None => (Segment::Key(rest.into()), ""),
            };
            if let Segment::Key(k) = &seg {
                if !valid_key(k) {
                    return Err(format!("bad segment {k:?} in field path {text:?}"));
                }
            }
            segments.push(seg);
            rest = match tail.strip_prefix('.') {
                Some("") => return Err(format!("field path {text:?} ends with '.'")),
                Some(t) => t,
                None if tail.is_empty() => "",
                None => return Err(format!("expected '.' after ']' in field path {text:?}")),
            };
        }
        Ok(FieldPath {
            segments,
            text: text.into(),
        })
    }

    /// Whether one of the two paths addresses a value inside the other's
    /// (`profile` and `profile.first`; `phones` and `phones[label=work].number`),
    /// so that writing the shorter one replaces the longer one's value. Equal
    /// paths, and elements of one array picked by different selectors
    /// (`phones[label=work]` and `phones[label=mobile]`), do not nest.
    pub fn nests_with(&self, other: &FieldPath) -> bool {
        let (short, long) = if self.segments.len() <= other.segments.len() {
            (self, other)
        } else {
            (other, self)
        };
        if short.segments.len() == long.segments.len() {
            return false;
        }
        let last = short.segments.len() - 1;
        short
            .segments
            .iter()
            .zip(&long.segments)
            .enumerate()
            .all(|(i, (a, b))| match (a, b) {
                _ if a == b => true,
                // The whole array, written as one value, holds the element.
                (Segment::Key(k), Segment::Elem { array, .. }) => i == last && k == array,
                _ => false,
            })
    }

    /// The first top-level key (used to tell which backend fields a mapping covers).
    pub fn root_key(&self) -> &str {
        match &self.segments[0] {
            Segment::Key(k) => k,
            Segment::Elem { array, .. } => array,
        }
    }

    pub fn get<'a, J: Json>(&self, record: &'a J) -> Option<&'a J> {
        let mut cur = record;
        for seg in &self.segments {
            cur = match seg {
                Segment::Key(k) => cur.member(k)?,
                Segment::Elem { array, key, value } => cur
                    .member(array)?
                    .elements()?
                    .iter()
                    .find(|e| discriminator_matches(*e, key, value))?,
            };
        }
        Some(cur)
    }

    /// Mutable access to the value at this path, if present.
    pub fn get_mut<'a>(&self, record: &'a mut Value) -> Option<&'a mut Value> {
        let mut cur = record;
        for seg in &self.segments {
            cur = match seg {
                Segment::Key(k) => cur.get_mut(k.as_str())?,
                Segment::Elem { array, key, value } => cur
                    .get_mut(array.as_str())?
                    .as_array_mut()?
                    .iter_mut()
                    .find(|e| discriminator_matches(&**e, key, value))?,
            };
        }
        Some(cur)
    }

    /// Sets the value, creating intermediate objects and the selected element as needed.
    /// Fails only when an intermediate value exists with the wrong JSON type.
    pub fn set(&self, record: &mut Value, new: Value) -> Result<(), String> {
        let mut cur = record;
        let last = self.segments.len() - 1;
        for (i, seg) in self.segments.iter().enumerate() {
            if cur.is_null() {
                *cur = Value::Object(Map::new());
            }
            let obj = cur
                .as_object_mut()
                .ok_or_else(|| format!("backend field {} is not inside an object", self.text))?;
            match seg {
                Segment::Key(k) => {
                    if i == last {
                        obj.insert(k.clone(), new);
                        return Ok(());
                    }
                    cur = obj.entry(k.clone()).or_insert(Value::Null);
                }
                Segment::Elem { array, key, value } => {
                    let arr = array_field(obj, array)?;
                    let pos = match arr
                        .iter()
                        .position(|e| discriminator_matches(e, key, value))
                    {
                        Some(p) => p,
                        None => {
                            let mut m = Map::new();
                            m.insert(key.clone(), Value::String(value.clone()));
                            arr.push(Value::Object(m));
                            arr.len() - 1
                        }
                    };
                    if i == last {
                        arr[pos] = new;
                        return Ok(());
                    }
                    cur = &mut arr[pos];
                }
            }
        }
        Ok(())
    }

    /// Removes the key entirely (for `omit:`); selected elements are dropped.
    pub fn remove(&self, record: &mut Value) {
        if self.segments.len() == 1 {
            if let (Segment::Key(k), Some(o)) = (&self.segments[0], record.as_object_mut()) {
                o.remove(k);
                return;
            }
        }
        let (last, parents) = self.segments.split_last().expect("paths are never empty");
        let mut cur = record;
        for seg in parents {
            let next = match seg {
                Segment::Key(k) => cur.get_mut(k.as_str()),
                Segment::Elem { array, key, value } => cur
                    .get_mut(array.as_str())
                    .and_then(Value::as_array_mut)
                    .and_then(|a| {
                        a.iter_mut()
                            .find(|e| discriminator_matches(&**e, key, value))
                    }),
            };
            match next {
                Some(n) => cur = n,
                None => return,
            }
        }
        match last {
            Segment::Key(k) => {
                if let Some(o) = cur.as_object_mut() {
                    o.remove(k);
                }
            }
            Segment::Elem { .. } => self.clear(cur),
        }
    }

    /// Clears the value: a plain key becomes `null` (when its parent exists); a
    /// selected element loses the field, and is dropped once only its
    /// discriminator is left. Nothing else in the record changes.
    pub fn clear(&self, record: &mut Value) {
        self.clear_at(record, 0);
    }

    fn clear_at(&self, cur: &mut Value, i: usize) {
        let last = i + 1 == self.segments.len();
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        match &self.segments[i] {
            Segment::Key(k) => {
                if last {
                    if obj.contains_key(k) {
                        obj.insert(k.clone(), Value::Null);
                    }
                } else if let Some(next) = obj.get_mut(k) {
                    self.clear_at(next, i + 1);
                }
            }
            Segment::Elem { array, key, value } => {
                let Some(arr) = obj.get_mut(array).and_then(Value::as_array_mut) else {
                    return;
                };
                if last {
                    arr.retain(|e| !discriminator_matches(e, key, value));
                    return;
                }
                for e in arr
                    .iter_mut()
                    .filter(|e| discriminator_matches(&**e, key, value))
                {
                    self.clear_at(e, i + 1);
                }
                arr.retain(|e| {
                    !discriminator_matches(e, key, value)
                        || e.as_object()
                            .is_some_and(|o| o.iter().any(|(k, v)| k != key && !v.is_null()))
                });
            }
        }
    }
}

/// A field path selecting every element of one kind: `phones[label=office].number`
/// read as "the `number` of each `office` element" (a `multiple` attribute).
impl FieldPath {
    /// `Ok` when the path has exactly one `[key=value]` segment, followed by
    /// at least one plain key; the error says what is wrong.
    pub fn check_multiple(&self) -> Result<(), String> {
        let elems: Vec<usize> = self
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Segment::Elem { .. }))
            .map(|(i, _)| i)
            .collect();
        match elems[..] {
            [i] if i + 1 < self.segments.len() => Ok(()),
            [_] => Err(format!(
                "{:?} must name the element's field after the selector, e.g. phones[label=office].number",
                self.text
            )),
            _ => Err(format!(
                "{:?} must select the elements with exactly one [key=value] segment, e.g. phones[label=office].number",
                self.text
            )),
        }
    }

    fn elem_at(&self) -> Option<usize> {
        self.segments
            .iter()
            .position(|s| matches!(s, Segment::Elem { .. }))
    }

    /// The value of every element of the selected kind, in array order
    /// (elements without the field are skipped).
    pub fn get_all<'a, J: Json>(&self, record: &'a J) -> Vec<&'a J> {
        let Some(at) = self.elem_at() else {
            return self.get(record).into_iter().collect();
        };
        let Some(Segment::Elem { array, key, value }) = self.segments.get(at) else {
            return Vec::new();
        };
        let mut cur = record;
        for seg in &self.segments[..at] {
            match seg {
                Segment::Key(k) => match cur.member(k) {
                    Some(v) => cur = v,
                    None => return Vec::new(),
                },
                Segment::Elem { .. } => return Vec::new(),
            }
        }
        let Some(arr) = cur.member(array).and_then(J::elements) else {
            return Vec::new();
        };
        let rest = FieldPath {
            segments: self.segments[at + 1..].to_vec(),
            text: String::new(),
        };
        arr.iter()
            .filter(|e| discriminator_matches(*e, key, value))
            .filter_map(|e| rest.get(e).filter(|v| !v.is_null_value()))
            .collect()
    }

    /// Makes the elements of the selected kind hold exactly `values`: an
    /// element whose value is one of them is kept as it is (with its other
    /// fields, in its place), the other elements of the kind are removed,
    /// and each remaining value becomes a new element at the end. Elements
    /// of other kinds are never touched.
    pub fn set_all(&self, record: &mut Value, values: Vec<Value>) -> Result<(), String> {
        let Some(at) = self.elem_at() else {
            return Err(format!("{} selects no elements", self.text));
        };
        let Some(Segment::Elem { array, key, value }) = self.segments.get(at) else {
            return Err(format!("{} selects no elements", self.text));
        };
        let rest = FieldPath {
            segments: self.segments[at + 1..].to_vec(),
            text: self.text.clone(),
        };
        let mut cur = record;
        for seg in &self.segments[..at] {
            if cur.is_null() {
                *cur = Value::Object(Map::new());
            }
            let Segment::Key(k) = seg else {
                return Err(format!("{} selects no elements", self.text));
            };
            let obj = cur
                .as_object_mut()
                .ok_or_else(|| format!("backend field {} is not inside an object", self.text))?;
            cur = obj.entry(k.clone()).or_insert(Value::Null);
        }
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("backend field {} is not inside an object", self.text))?;
        if values.is_empty() && obj.get(array.as_str()).is_none_or(Value::is_null) {
            return Ok(());
        }
        let arr = array_field(obj, array)?;
        let mut wanted: Vec<Option<Value>> = values.into_iter().map(Some).collect();
        arr.retain(|e| {
            if !discriminator_matches(e, key, value) {
                return true;
            }
            let have = rest.get(e);
            match wanted
                .iter_mut()
                .find(|w| w.is_some() && w.as_ref() == have)
            {
                Some(w) => {
                    *w = None;
                    true
                }
                None => false,
            }
        });
        for v in wanted.into_iter().flatten() {
            let mut m = Map::new();
            m.insert(key.clone(), Value::String(value.clone()));
            let mut el = Value::Object(m);
            rest.set(&mut el, v)?;
            arr.push(el);
        }
        Ok(())
    }
}

fn discriminator_matches<J: Json>(elem: &J, key: &str, value: &str) -> bool {
    let Some(v) = elem.member(key) else {
        return false;
    };
    if let Some(s) = v.text() {
        s.eq_ignore_ascii_case(value)
    } else if let Some(n) = v.number() {
        n.to_string() == value
    } else {
        v.boolean().is_some_and(|b| b.to_string() == value)
    }
}

/// The array in field `array` of `obj`, made (or a `null` replaced) when
/// missing; an error when the field holds anything else.
fn array_field<'o>(
    obj: &'o mut serde_json::Map<String, Value>,
    array: &str,
) -> Result<&'o mut Vec<Value>, String> {
    let arr = obj
        .entry(array.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if arr.is_null() {
        *arr = Value::Array(Vec::new());
    }
    arr.as_array_mut()
        .ok_or_else(|| format!("backend field {array} is not an array"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_mut_reaches_what_get_reads() {
        let mut r =
            json!({"wrap": {"item": {"id": 1}}, "phones": [{"label": "mobile", "number": "2"}]});
        let p = FieldPath::parse("wrap.item").unwrap();
        assert_eq!(p.get_mut(&mut r).map(Value::take), Some(json!({"id": 1})));
        assert_eq!(p.get(&r), Some(&Value::Null));
        let n = FieldPath::parse("phones[label=mobile].number").unwrap();
        *n.get_mut(&mut r).unwrap() = json!("3");
        assert_eq!(n.get(&r), Some(&json!("3")));
        assert!(FieldPath::parse("phones[label=home].number")
            .unwrap()
            .get_mut(&mut r)
            .is_none());
    }

    #[test]
    fn parses_and_reads_nested_and_selected() {
        let r = json!({"contact": {"email": "a@b"}, "phones": [{"label": "home", "number": "1"}, {"label": "mobile", "number": "2"}]});
        assert_eq!(
            FieldPath::parse("contact.email").unwrap().get(&r),
            Some(&json!("a@b"))
        );
        assert_eq!(
            FieldPath::parse("phones[label=mobile].number")
                .unwrap()
                .get(&r),
            Some(&json!("2"))
        );
        assert_eq!(
            FieldPath::parse("phones[label=work].number")
                .unwrap()
                .get(&r),
            None
        );
    }

    #[test]
    fn set_creates_element_and_keeps_others() {
        let mut r = json!({"phones": [{"label": "home", "number": "1"}]});
        let p = FieldPath::parse("phones[label=mobile].number").unwrap();
        p.set(&mut r, json!("9")).unwrap();
        assert_eq!(
            r,
            json!({"phones": [{"label": "home", "number": "1"}, {"label": "mobile", "number": "9"}]})
        );
        p.clear(&mut r);
        assert_eq!(r, json!({"phones": [{"label": "home", "number": "1"}]}));
    }

    #[test]
    fn set_creates_objects_and_clear_nulls() {
        let mut r = json!({"contact": null});
        let p = FieldPath::parse("contact.email").unwrap();
        p.set(&mut r, json!("x")).unwrap();
        assert_eq!(r, json!({"contact": {"email": "x"}}));
        p.clear(&mut r);
        assert_eq!(r, json!({"contact": {"email": null}}));
        let mut empty = json!({});
        p.clear(&mut empty);
        assert_eq!(empty, json!({}));
    }

    #[test]
    fn nesting_is_a_strict_prefix_and_selectors_keep_elements_apart() {
        let p = |t: &str| FieldPath::parse(t).unwrap();
        for (a, b) in [
            ("profile", "profile.first"),
            ("profile.first", "profile"),
            ("a.b", "a.b.c.d"),
            ("phones", "phones[label=work].number"),
            ("phones[label=work]", "phones[label=work].number"),
        ] {
            assert!(p(a).nests_with(&p(b)), "{a} / {b}");
        }
        for (a, b) in [
            ("profile", "profile"),
            ("profile.first", "profile.last"),
            ("profile", "profiles.first"),
            ("phones[label=work].number", "phones[label=mobile].number"),
            ("phones[label=work]", "phones[label=mobile].number"),
            ("contact.email", "contact.mobile"),
            ("a.phones", "phones[label=work].number"),
        ] {
            assert!(!p(a).nests_with(&p(b)), "{a} / {b}");
        }
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in [
            "", "a.", ".a", "a..b", "a[b]", "a[=x]", "a[k=v]b", "a b", "a[k=v",
        ] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn set_through_scalar_is_an_error() {
        let mut r = json!({"contact": "oops"});
        assert!(FieldPath::parse("contact.email")
            .unwrap()
            .set(&mut r, json!(1))
            .is_err());
    }
}
