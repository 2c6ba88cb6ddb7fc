//! Reading a [`Raw`] from a backend answer's text.
//!
//! The grammar is RFC 8259's, with `serde_json::from_str`'s rules where the
//! RFC leaves room: nesting deeper than 127 containers, a number outside
//! `f64`'s range and an unpaired surrogate in a `\u` escape are errors, and
//! only whitespace may follow the value. A text this reads is one
//! `serde_json` reads as the same `Value`, and the other way round (the
//! `record` fuzz target and the property tests hold it to that).
//!
//! Written for the one job instead of through serde's `Deserializer`: a
//! key or a string is one scan for its closing quote, a small integer is
//! read in place, and nothing goes through a visitor. Numbers with a sign,
//! a fraction or an exponent are handed to `serde_json` itself, so that
//! they mean exactly what they mean in a `Value`.

use super::{Arena, Raw};
use serde_json::Number;

/// Why a text is not one JSON value (the byte offset where reading
/// stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotJson(pub usize);

impl std::fmt::Display for NotJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not JSON (at byte {})", self.0)
    }
}

impl std::error::Error for NotJson {}

/// Containers nested deeper than this are refused, as `serde_json` does.
const MAX_DEPTH: usize = 127;

pub(super) fn parse<'a>(text: &'a str, arena: &'a Arena) -> Result<Raw<'a>, NotJson> {
    let mut r = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
        arena: &arena.0,
    };
    r.skip_ws();
    let v = r.value()?;
    r.skip_ws();
    if r.at != r.bytes.len() {
        return Err(NotJson(r.at));
    }
    Ok(v)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    arena: &'a bumpalo::Bump,
}

/// Reads a value starting at the reader's current byte (whitespace
/// skipped) and runs `$put` with it as `$v`, written out in each kind's
/// arm: each kind of value is then stored where it goes straight from its
/// parts. A `Raw` built in one stack slot for all kinds, and copied from
/// it in wider pieces than it was written in, stalled the copy on every
/// member (a failed store forwarding): a third of the time spent reading
/// values; a Peripass list answer parses in about 315 ns without it
/// against 390 with it (docs/performance.md, twenty-eighth round). A function or a closure
/// taking the `Raw` brought the stack slot back.
macro_rules! read_value {
    ($r:ident, |$v:ident| $put:expr) => {
        match $r.peek() {
            Some(b'"') => {
                $r.at += 1;
                let (s, plain) = $r.string()?;
                let $v = if plain {
                    Raw::Str(s)
                } else {
                    Raw::Unescaped(s)
                };
                $put
            }
            Some(b'{') => {
                let $v = Raw::Obj($r.object()?);
                $put
            }
            Some(b'[') => {
                let $v = Raw::Arr($r.array()?);
                $put
            }
            Some(b'n') => {
                $r.literal(b"null")?;
                let $v = Raw::Null;
                $put
            }
            Some(b't') => {
                $r.literal(b"true")?;
                let $v = Raw::Bool(true);
                $put
            }
            Some(b'f') => {
                $r.literal(b"false")?;
                let $v = Raw::Bool(false);
                $put
            }
            Some(b'-' | b'0'..=b'9') => {
                let $v = match $r.plain_integer() {
                    Some((n, text)) => Raw::Num(Number::from(n), Some(text)),
                    None => $r.other_number()?,
                };
                $put
            }
            _ => return $r.fail(),
        }
    };
}

impl<'a> Reader<'a> {
    fn fail<T>(&self) -> Result<T, NotJson> {
        Err(NotJson(self.at))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// The byte after whitespace, not consumed.
    fn next_token(&mut self) -> Result<u8, NotJson> {
        self.skip_ws();
        match self.peek() {
            Some(b) => Ok(b),
            None => self.fail(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), NotJson> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            self.fail()
        }
    }

    /// A value starting at the current byte (whitespace skipped).
    fn value(&mut self) -> Result<Raw<'a>, NotJson> {
        read_value!(self, |v| Ok(v))
    }

    fn enter(&mut self) -> Result<(), NotJson> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail();
        }
        self.at += 1;
        Ok(())
    }

    /// An object's members. A slice, not a `Raw`: it comes back in two
    /// registers, not through a stack slot ([`read_value!`]).
    fn object(&mut self) -> Result<&'a [(&'a str, Raw<'a>)], NotJson> {
        self.enter()?;
        if self.next_token()? == b'}' {
            self.at += 1;
            self.depth -= 1;
            // An empty object allocates nothing (an answer of a million
            // `{}` must not cost a million allocations).
            return Ok(&[]);
        }
        // Room for a user record's dozen members at once.
        let mut members = bumpalo::collections::Vec::with_capacity_in(16, self.arena);
        loop {
            if self.next_token()? != b'"' {
                return self.fail();
            }
            self.at += 1;
            let (key, _) = self.string()?;
            if self.next_token()? != b':' {
                return self.fail();
            }
            self.at += 1;
            self.skip_ws();
            read_value!(self, |v| members.push((key, v)));
            match self.next_token()? {
                b',' => self.at += 1,
                b'}' => break,
                _ => return self.fail(),
            }
        }
        self.at += 1;
        self.depth -= 1;
        // Room not taken is given back when nothing was placed after it in
        // the arena: a `{"a":1}` does not keep sixteen members' room.
        members.shrink_to_fit();
        Ok(members.into_bump_slice())
    }

    /// An array's items (a slice, as for [`Self::object`]).
    fn array(&mut self) -> Result<&'a [Raw<'a>], NotJson> {
        self.enter()?;
        if self.next_token()? == b']' {
            self.at += 1;
            self.depth -= 1;
            return Ok(&[]);
        }
        let mut items = bumpalo::collections::Vec::new_in(self.arena);
        loop {
            self.skip_ws();
            read_value!(self, |v| items.push(v));
            match self.next_token()? {
                b',' => self.at += 1,
                b']' => break,
                _ => return self.fail(),
            }
        }
        self.at += 1;
        self.depth -= 1;
        items.shrink_to_fit();
        Ok(items.into_bump_slice())
    }

    /// The rest of a string whose opening quote was read, and whether it
    /// is plain (borrowed from the text: no escapes); one with escapes is
    /// unescaped into the arena.
    fn string(&mut self) -> Result<(&'a str, bool), NotJson> {
        let start = self.at;
        self.plain_run();
        match self.peek() {
            Some(b'"') => {
                let s = &self.text[start..self.at];
                self.at += 1;
                Ok((s, true))
            }
            Some(b'\\') => {
                let mut owned = String::with_capacity(self.at - start + 16);
                owned.push_str(&self.text[start..self.at]);
                let owned = self.escaped(owned)?;
                Ok((self.arena.alloc_str(&owned), false))
            }
            // A control character, or the end of the text.
            _ => self.fail(),
        }
    }

    /// Moves to the next quote, backslash or control character, or to the
    /// end of the text ([`crate::scim::json::plain_run`]).
    fn plain_run(&mut self) {
        self.at += crate::scim::json::plain_run(&self.bytes[self.at..]);
    }

    /// The rest of a string from its first escape on, into `out`.
    fn escaped(&mut self, mut out: String) -> Result<String, NotJson> {
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut out)?;
                }
                _ => return self.fail(),
            }
            let start = self.at;
            self.plain_run();
            out.push_str(&self.text[start..self.at]);
        }
    }

    /// One escape after its backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), NotJson> {
        let Some(b) = self.peek() else {
            return self.fail();
        };
        self.at += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = self.hex4()?;
                match n {
                    0xD800..=0xDBFF => {
                        // A leading surrogate: its trailing one must follow.
                        if !self.bytes[self.at..].starts_with(b"\\u") {
                            return self.fail();
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return self.fail();
                        }
                        let c =
                            0x1_0000 + ((u32::from(n) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                        match char::from_u32(c) {
                            Some(c) => c,
                            None => return self.fail(),
                        }
                    }
                    0xDC00..=0xDFFF => return self.fail(),
                    n => match char::from_u32(u32::from(n)) {
                        Some(c) => c,
                        None => return self.fail(),
                    },
                }
            }
            _ => return self.fail(),
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, NotJson> {
        let Some(digits) = self.bytes.get(self.at..self.at + 4) else {
            self.at = self.bytes.len();
            return self.fail();
        };
        let mut n = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return self.fail(),
            };
            n = (n << 4) | u16::from(v);
        }
        self.at += 4;
        Ok(n)
    }

    /// A number (RFC 8259 §6) that is an unsigned integer of at most 19
    /// digits without a leading zero (a record's ids and versions), with
    /// its text; `None`, having read nothing, for any other number, which
    /// [`Self::other_number`] hands to `serde_json`. Its parts come back
    /// in registers, and [`read_value!`]'s arm makes the `Raw`.
    #[inline(always)]
    fn plain_integer(&mut self) -> Option<(u64, &'a str)> {
        let start = self.at;
        let mut value = 0u64;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            self.at += 1;
        }
        let n = self.at - start;
        let leading_zero = n > 1 && self.bytes[start] == b'0';
        if (1..=19).contains(&n)
            && !leading_zero
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'))
        {
            return Some((value, &self.text[start..self.at]));
        }
        self.at = start;
        None
    }

    /// A number [`Self::plain_integer`] does not read: signed, with a
    /// fraction or an exponent, longer, or not a number at all. Its text
    /// is not kept: `Number` may display it otherwise (`1e2` as `100.0`).
    #[inline(never)]
    fn other_number(&mut self) -> Result<Raw<'a>, NotJson> {
        let start = self.at;
        let digits = |r: &mut Self| {
            let from = r.at;
            while let Some(b'0'..=b'9') = r.peek() {
                r.at += 1;
            }
            r.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_digits = digits(self);
        if int_digits == 0 || (int_digits > 1 && self.bytes[self.at - int_digits] == b'0') {
            return self.fail();
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return self.fail();
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if digits(self) == 0 {
                return self.fail();
            }
        }
        let token = &self.text[start..self.at];
        match serde_json::from_str::<Number>(token) {
            Ok(n) => Ok(Raw::Num(n, None)),
            Err(_) => Err(NotJson(start)),
        }
    }
}
