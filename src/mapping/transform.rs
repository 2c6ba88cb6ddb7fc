//! Value transforms between SCIM values and backend values.
//!
//! Each named transform has a write direction (SCIM → backend) and a read
//! direction (backend → SCIM). Lossy ones (`language_only`, `lowercase`) read
//! back unchanged. All are pure and allocation-light.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

/// The named transforms a mapping may list under `transforms:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Boolean negation both ways (`active` ⇄ `disabled`).
    Invert,
    /// Write lowercased (lossy).
    Lowercase,
    /// Write uppercased (lossy).
    Uppercase,
    /// Write trimmed (lossy).
    Trim,
    /// `en-US` ⇄ `en_US`, case normalised both ways (`en-us` → `en_US`, `EN` → `en`).
    LocaleUnderscore,
    /// Write only the primary language subtag, lowercased: `nl-BE` → `nl` (lossy).
    LanguageOnly,
    /// SCIM dateTime ⇄ integer seconds since the epoch.
    EpochSeconds,
    /// SCIM dateTime ⇄ integer milliseconds since the epoch.
    EpochMillis,
    /// Write any scalar as a string; read a numeric/boolean string back as a number/boolean.
    ToString,
    /// Write a numeric string as an integer; read an integer back as a string.
    ToInteger,
    /// Write `""` as `null` (clears the field).
    EmptyIsNull,
}

pub const TRANSFORM_NAMES: &[&str] = &[
    "invert",
    "lowercase",
    "uppercase",
    "trim",
    "locale_underscore",
    "language_only",
    "epoch_seconds",
    "epoch_millis",
    "to_string",
    "to_integer",
    "empty_is_null",
];

impl Transform {
    pub fn parse(name: &str) -> Option<Transform> {
        Some(match name {
            "invert" => Transform::Invert,
            "lowercase" => Transform::Lowercase,
            "uppercase" => Transform::Uppercase,
            "trim" => Transform::Trim,
            "locale_underscore" => Transform::LocaleUnderscore,
            "language_only" => Transform::LanguageOnly,
            "epoch_seconds" => Transform::EpochSeconds,
            "epoch_millis" => Transform::EpochMillis,
            "to_string" => Transform::ToString,
            "to_integer" => Transform::ToInteger,
            "empty_is_null" => Transform::EmptyIsNull,
            _ => return None,
        })
    }

    /// Whether reading gives back what was written.
    pub fn is_lossy(self) -> bool {
        matches!(
            self,
            Transform::Lowercase | Transform::Uppercase | Transform::Trim | Transform::LanguageOnly
        )
    }

    /// Whether [`Self::read`] gives every value back as it is (the lossy
    /// write-only ones and `empty_is_null`).
    pub fn reads_as_is(self) -> bool {
        matches!(
            self,
            Transform::Lowercase
                | Transform::Uppercase
                | Transform::Trim
                | Transform::LanguageOnly
                | Transform::EmptyIsNull
        )
    }

    /// SCIM → backend. `Err` carries a message for a 400 invalidValue.
    pub fn write(self, v: Value) -> Result<Value, String> {
        if v.is_null() {
            return Ok(v);
        }
        Ok(match self {
            Transform::Invert => match v {
                Value::Bool(b) => Value::Bool(!b),
                other => return Err(format!("expected a boolean, got {other}")),
            },
            Transform::Lowercase => map_str(v, |s| s.to_lowercase())?,
            Transform::Uppercase => map_str(v, |s| s.to_uppercase())?,
            Transform::Trim => map_str(v, |s| s.trim().to_string())?,
            Transform::LocaleUnderscore => map_str(v, |s| normalize_locale(s, '_'))?,
            Transform::LanguageOnly => map_str(v, |s| {
                s.split(['-', '_'])
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase()
            })?,
            Transform::EpochSeconds | Transform::EpochMillis => {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("expected a dateTime string, got {v}"))?;
                let t = DateTime::parse_from_rfc3339(s)
                    .map_err(|_| format!("{s:?} is not an RFC 3339 dateTime"))?;
                if self == Transform::EpochSeconds {
                    Value::from(t.timestamp())
                } else {
                    Value::from(t.timestamp_millis())
                }
            }
            Transform::ToString => match v {
                Value::String(_) => v,
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                other => return Err(format!("expected a scalar, got {other}")),
            },
            Transform::ToInteger => match &v {
                Value::Number(n) if n.is_i64() || n.is_u64() => v,
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("{s:?} is not an integer"))?,
                other => return Err(format!("expected an integer, got {other}")),
            },
            Transform::EmptyIsNull => match &v {
                Value::String(s) if s.is_empty() => Value::Null,
                _ => v,
            },
        })
    }

    /// Backend → SCIM. Never fails: a value of an unexpected shape is passed through.
    pub fn read(self, v: Value) -> Value {
        match (self, v) {
            (Transform::Invert, Value::Bool(b)) => Value::Bool(!b),
            (Transform::LocaleUnderscore, Value::String(s)) => {
                Value::String(normalize_locale(&s, '-'))
            }
            (Transform::EpochSeconds, Value::Number(n)) => n
                .as_i64()
                .and_then(|s| Utc.timestamp_opt(s, 0).single())
                .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
                .unwrap_or(Value::Number(n)),
            (Transform::EpochMillis, Value::Number(n)) => n
                .as_i64()
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
                .unwrap_or(Value::Number(n)),
            (Transform::ToString, Value::String(s)) => s
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| s.parse::<bool>().map(Value::Bool))
                .unwrap_or(Value::String(s)),
            (Transform::ToInteger, Value::Number(n)) => Value::String(n.to_string()),
            (_, v) => v,
        }
    }
}

/// A locale tag with either separator (`en-us`, `EN_us`, `zh-hant-tw`) in
/// its usual case, joined with `sep`: language lowercase, script title case,
/// region uppercase (`en_US`, `zh_Hant_TW`); other subtags kept as written.
pub fn normalize_locale(s: &str, sep: char) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, part) in s.trim().split(['-', '_']).enumerate() {
        if i > 0 {
            out.push(sep);
        }
        let alpha = part.bytes().all(|b| b.is_ascii_alphabetic());
        let digits = part.bytes().all(|b| b.is_ascii_digit());
        if i == 0 {
            out.push_str(&part.to_ascii_lowercase());
        } else if alpha && part.len() == 4 {
            out.push_str(&part[..1].to_ascii_uppercase());
            out.push_str(&part[1..].to_ascii_lowercase());
        } else if (alpha && part.len() == 2) || (digits && part.len() == 3) {
            out.push_str(&part.to_ascii_uppercase());
        } else {
            out.push_str(part);
        }
    }
    out
}

fn map_str(v: Value, f: impl FnOnce(&str) -> String) -> Result<Value, String> {
    match v {
        Value::String(s) => Ok(Value::String(f(&s))),
        other => Err(format!("expected a string, got {other}")),
    }
}

/// `YYYY-MM-DDThh:mm:ssZ` with a day of at most 28: RFC 3339 for certain,
/// told without a parse (a record's timestamps are usually of this form;
/// anything else is left to chrono).
fn plainly_rfc3339(s: &str) -> bool {
    /// The form, and per place the most a byte may be above it: a digit
    /// up to 9 above `0`, a separator not at all.
    const FORM: &[u8; 20] = b"0000-00-00T00:00:00Z";
    const ABOVE: [u8; 20] = [9, 9, 9, 9, 0, 9, 9, 0, 9, 9, 0, 9, 9, 0, 9, 9, 0, 9, 9, 0];
    let Ok(b) = <&[u8; 20]>::try_from(s.as_bytes()) else {
        return false;
    };
    let mut d = [0u8; 20];
    let mut off = false;
    // One pass over the twenty bytes, without a branch per byte.
    for i in 0..20 {
        d[i] = b[i].wrapping_sub(FORM[i]);
        off |= d[i] > ABOVE[i];
    }
    let two = |i: usize| d[i] * 10 + d[i + 1];
    !off && (1..=12).contains(&two(5))
        && (1..=28).contains(&two(8))
        && two(11) <= 23
        && two(14) <= 59
        && two(17) <= 59
}

/// Converts a backend timestamp to SCIM's RFC 3339 form.
pub fn timestamp_to_scim<J: crate::mapping::record::Json>(
    v: &J,
    format: crate::mapping::model::TimeFormat,
) -> Option<std::borrow::Cow<'_, str>> {
    use crate::mapping::model::TimeFormat;
    use std::borrow::Cow;
    match format {
        // Valid RFC 3339 text is passed on as it is, borrowed.
        TimeFormat::Rfc3339 => {
            let s = v.text()?;
            if !plainly_rfc3339(s) {
                DateTime::parse_from_rfc3339(s).ok()?;
            }
            Some(Cow::Borrowed(s))
        }
        TimeFormat::EpochSeconds => Transform::EpochSeconds
            .read(v.to_value())
            .as_str()
            .map(|s| Cow::Owned(s.to_string())),
        TimeFormat::EpochMillis => Transform::EpochMillis
            .read(v.to_value())
            .as_str()
            .map(|s| Cow::Owned(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `reads_as_is` is exactly the transforms whose `read` changes no
    /// value of any shape (the render borrows the backend's value for them).
    #[test]
    fn reads_as_is_is_what_read_leaves_alone() {
        let values = [
            json!(null),
            json!(true),
            json!(7),
            json!(1700000000),
            json!("nl-BE"),
            json!("en_us"),
            json!(" Mixed Case "),
            json!("42"),
            json!("true"),
            json!(""),
            json!(["a"]),
            json!({"a": 1}),
        ];
        for name in TRANSFORM_NAMES {
            let t = Transform::parse(name).unwrap();
            let unchanged = values.iter().all(|v| t.read(v.clone()) == *v);
            assert_eq!(t.reads_as_is(), unchanged, "{name}");
        }
    }

    /// The quick check as it was first written, a test per place.
    fn plainly_by_places(s: &str) -> bool {
        let Ok(b) = <&[u8; 20]>::try_from(s.as_bytes()) else {
            return false;
        };
        let digits = |at: &[usize]| at.iter().all(|&i| b[i].is_ascii_digit());
        let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        digits(&[0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
            && [b[4], b[7], b[10], b[13], b[16], b[19]] == *b"--T::Z"
            && (1..=12).contains(&two(5))
            && (1..=28).contains(&two(8))
            && two(11) <= 23
            && two(14) <= 59
            && two(17) <= 59
    }

    /// Usual timestamps, at the edges of each range, with each byte in
    /// turn changed to every ASCII byte: the one-pass check decides as
    /// the check per place does.
    #[test]
    fn the_quick_check_decides_as_the_check_per_place() {
        let mut taken = 0;
        for base in [
            "2026-12-04T12:34:56Z",
            "0000-01-01T00:00:00Z",
            "9999-12-28T23:59:59Z",
            "2026-10-20T19:49:09Z",
        ] {
            for at in 0..20 {
                for byte in 0u8..128 {
                    let mut b = base.as_bytes().to_vec();
                    b[at] = byte;
                    let s = String::from_utf8(b).unwrap();
                    assert_eq!(plainly_rfc3339(&s), plainly_by_places(&s), "{s:?}");
                    taken += usize::from(plainly_rfc3339(&s));
                }
            }
        }
        assert!(taken > 4 * 20, "{taken}");
    }

    /// What the quick check takes, chrono takes too; it takes the usual
    /// form and leaves the rest (lower-case separators, offsets,
    /// fractions, day 29 and later) to chrono.
    #[test]
    fn the_quick_rfc3339_check_takes_only_what_chrono_takes() {
        use proptest::prelude::*;
        let taken = std::cell::Cell::new(0);
        proptest!(|(y in 0u32..10_000, mo in 0u32..14, d in 0u32..33, h in 0u32..25,
                    mi in 0u32..61, se in 0u32..61)| {
            let s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z");
            if plainly_rfc3339(&s) {
                taken.set(taken.get() + 1);
                prop_assert!(DateTime::parse_from_rfc3339(&s).is_ok(), "{}", s);
            }
        });
        assert!(taken.get() > 10, "{}", taken.get());
        assert!(plainly_rfc3339("2026-12-04T22:24:08Z"));
        for s in [
            "2026-12-29T22:24:08Z",
            "2026-12-04t22:24:08Z",
            // A byte that is not a digit where one must be, on either side
            // of the digits ('/' and ':'), or a separator that is a digit.
            "2026-1/-04T22:24:08Z",
            "2026-12-04T22:2::08Z",
            "2:26-12-04T22:24:08Z",
            "202/-12-04T22:24:08Z",
            "2026012-04T22:24:08Z",
            "2026-12-04T22:24:080",
            "2026-12-04T22:24:0\u{7f}Z",
            "2026-12-04T22:24:08+01:00",
            "2026-12-04T22:24:08.5Z",
            "2026-13-04T22:24:08Z",
            "2026-12-04T24:00:00Z",
            "2026-12-04T22:24:60Z",
        ] {
            assert!(!plainly_rfc3339(s), "{s}");
        }
        for s in ["2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z", "x"] {
            let v = json!(s);
            assert!(timestamp_to_scim(&v, crate::mapping::model::TimeFormat::Rfc3339).is_none());
        }
    }

    #[test]
    fn locale_round_trip_and_language_is_lossy() {
        let t = Transform::LocaleUnderscore;
        assert_eq!(t.write(json!("en-US")).unwrap(), json!("en_US"));
        assert_eq!(t.read(json!("en_US")), json!("en-US"));
        assert_eq!(
            Transform::LanguageOnly.write(json!("nl-BE")).unwrap(),
            json!("nl")
        );
        assert_eq!(
            Transform::LanguageOnly.write(json!("FR")).unwrap(),
            json!("fr")
        );
        assert_eq!(Transform::LanguageOnly.read(json!("nl")), json!("nl"));
        assert!(Transform::LanguageOnly.is_lossy());
    }

    #[test]
    fn locale_case_is_normalised_with_either_separator() {
        let t = Transform::LocaleUnderscore;
        for (scim, backend) in [
            ("en-us", "en_US"),
            ("EN_us", "en_US"),
            ("EN", "en"),
            ("nl-BE", "nl_BE"),
            ("es-419", "es_419"),
            ("zh-HANT-tw", "zh_Hant_TW"),
        ] {
            assert_eq!(t.write(json!(scim)).unwrap(), json!(backend), "{scim}");
        }
        assert_eq!(t.read(json!("en_us")), json!("en-US"));
        assert_eq!(t.read(json!("EN")), json!("en"));
        assert_eq!(t.read(json!("zh_hant_TW")), json!("zh-Hant-TW"));
    }

    #[test]
    fn epoch_both_ways() {
        assert_eq!(
            Transform::EpochSeconds
                .write(json!("2023-11-14T22:13:20Z"))
                .unwrap(),
            json!(1_700_000_000)
        );
        assert_eq!(
            Transform::EpochSeconds.read(json!(1_700_000_000)),
            json!("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            Transform::EpochMillis.read(json!(1_700_000_000_123i64)),
            json!("2023-11-14T22:13:20.123Z")
        );
        assert_eq!(
            Transform::EpochMillis
                .write(json!("2023-11-14T22:13:20.123Z"))
                .unwrap(),
            json!(1_700_000_000_123i64)
        );
        assert!(Transform::EpochSeconds.write(json!("yesterday")).is_err());
    }

    #[test]
    fn invert_and_coercions() {
        assert_eq!(Transform::Invert.write(json!(true)).unwrap(), json!(false));
        assert_eq!(Transform::Invert.read(json!(true)), json!(false));
        assert!(Transform::Invert.write(json!("yes")).is_err());
        assert_eq!(Transform::ToInteger.write(json!("42")).unwrap(), json!(42));
        assert_eq!(Transform::ToInteger.read(json!(42)), json!("42"));
        assert!(Transform::ToInteger.write(json!("4x")).is_err());
        assert_eq!(Transform::ToString.write(json!(7)).unwrap(), json!("7"));
        assert_eq!(
            Transform::EmptyIsNull.write(json!("")).unwrap(),
            Value::Null
        );
        assert_eq!(
            Transform::Lowercase.write(json!("AbC")).unwrap(),
            json!("abc")
        );
    }

    #[test]
    fn null_passes_through_every_transform() {
        for name in TRANSFORM_NAMES {
            assert_eq!(
                Transform::parse(name).unwrap().write(Value::Null).unwrap(),
                Value::Null,
                "{name}"
            );
        }
    }
}
