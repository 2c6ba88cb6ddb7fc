//! Recursive descent from tokens to a [`Filter`] or [`PatchPath`].

use super::lexer::{check_length, describe, lex, quote, Tok, Token};
use super::{error, CompareOp, Filter, FilterError, PatchPath, MAX_DEPTH};
use crate::scim::attr::AttrPath;
use serde_json::{Number, Value};
use std::fmt;

// ---------------------------------------------------------------------------
// Attribute paths and literals
// ---------------------------------------------------------------------------

/// ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_" / "$"), plus the `$ref` sub-attribute.
pub(super) fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.eq_ignore_ascii_case("$ref")
        || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$')))
}

/// Parses `[urn:...:]name[.sub]`. The URN is everything before the last colon,
/// which is unambiguous because URNs contain `.` (`2.0`) but names contain no `:`.
pub(super) fn parse_attr_path(word: &str, position: usize) -> Result<AttrPath, FilterError> {
    let bad = |why: &str| {
        error(
            format!("invalid attribute path {}: {why}", quote(word)),
            position,
        )
    };
    let has_urn = word
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    let (urn, rest) = match word.rsplit_once(':') {
        Some((urn, rest)) if has_urn && urn.len() > 3 => (Some(urn.to_string()), rest),
        _ if has_urn => return Err(bad("expected \"urn:<schema>:<attribute>\"")),
        _ => (None, word),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(bad("expected an attribute name"));
    }
    if sub.is_some_and(|s| s.contains('.')) {
        return Err(bad(
            "only one sub-attribute level (\"attr.sub\") is allowed",
        ));
    }
    if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
        return Err(bad(
            "names start with a letter and contain only letters, digits, \"-\", \"_\" and \"$\"",
        ));
    }
    Ok(AttrPath {
        urn,
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

/// A bare (unquoted) compValue: `true`, `false`, `null` (any case) or a JSON number.
pub(super) fn bare_literal(word: &str) -> Option<Value> {
    match word.to_ascii_lowercase().as_str() {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        // Number's FromStr follows JSON syntax and rejects out-of-range values.
        _ => word.parse::<Number>().ok().map(Value::Number),
    }
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

pub(super) const EXPECTED_OPERATOR: &str =
    "a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)";

/// Recursive descent over the token list; `depth` counts open `(`/`[`.
pub(super) struct Parser<'a> {
    toks: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
    in_value_path: bool,
    /// Character length of the input: the position reported for "end of input".
    end: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Parser<'a>, FilterError> {
        let (toks, end) = lex(input)?;
        Ok(Parser {
            toks,
            pos: 0,
            depth: 0,
            in_value_path: false,
            end,
        })
    }

    fn peek(&self) -> Option<&Token<'a>> {
        self.toks.get(self.pos)
    }

    fn peek_tok(&self) -> Option<&Tok<'a>> {
        self.peek().map(|t| &t.tok)
    }

    fn peek_word(&self, offset: usize) -> Option<&'a str> {
        match self.toks.get(self.pos + offset).map(|t| &t.tok) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        self.peek_word(0)
            .is_some_and(|w| w.eq_ignore_ascii_case(keyword))
    }

    /// Error at the next token: "<what>, found <next token>".
    fn fail<T>(&self, what: impl fmt::Display) -> Result<T, FilterError> {
        let position = self.peek().map_or(self.end, |t| t.start);
        Err(error(
            format!("{what}, found {}", describe(self.peek())),
            position,
        ))
    }

    /// Error for a token left over after a complete filter or path.
    fn trailing<T>(&self, hint: &str) -> Result<T, FilterError> {
        let position = self.peek().map_or(self.end, |t| t.start);
        let found = describe(self.peek());
        Err(error(
            format!("unexpected trailing input {found}{hint}"),
            position,
        ))
    }

    fn enter(&mut self, position: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(error(
                format!("filter nests deeper than {MAX_DEPTH} levels"),
                position,
            ));
        }
        Ok(())
    }

    /// filter = andExpr *("or" andExpr) — loops, so long chains do not recurse.
    fn parse_or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_and()?;
        while self.is_keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.parse_and()?));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary()?;
        while self.is_keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.parse_unary()?));
        }
        Ok(left)
    }

    /// `( filter )`, `not ( filter )` or an attribute expression.
    fn parse_unary(&mut self) -> Result<Filter, FilterError> {
        match self.peek_tok() {
            Some(Tok::LParen) => self.parse_group(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") && !self.not_is_attribute() => {
                self.pos += 1;
                if self.peek_tok() != Some(&Tok::LParen) {
                    return self.fail("expected \"(\" after \"not\"");
                }
                Ok(Filter::Not(Box::new(self.parse_group()?)))
            }
            Some(Tok::Word(_)) => self.parse_attr_expr(),
            _ => self.fail("expected an attribute path, \"not\" or \"(\""),
        }
    }

    /// `not` is also a legal attribute name; it is one when an operator or `[` follows.
    fn not_is_attribute(&self) -> bool {
        matches!(
            self.toks.get(self.pos + 1).map(|t| &t.tok),
            Some(Tok::LBracket)
        ) || self
            .peek_word(1)
            .is_some_and(|w| w.eq_ignore_ascii_case("pr") || CompareOp::from_word(w).is_some())
    }

    /// Parses `( filter )`; the current token is the `(`.
    fn parse_group(&mut self) -> Result<Filter, FilterError> {
        let open = self.peek().map_or(self.end, |t| t.start);
        self.enter(open)?;
        self.pos += 1;
        let inner = self.parse_or()?;
        match self.peek_tok() {
            Some(Tok::RParen) => {
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            None => self.fail(format_args!(
                "unbalanced parenthesis: expected \")\" to close the \"(\" at character {open}"
            )),
            Some(_) => self.fail(format_args!(
                "expected \"and\", \"or\" or \")\" to close the \"(\" at character {open}"
            )),
        }
    }

    /// `attrPath pr`, `attrPath op value` or `attrPath[valFilter]...`.
    fn parse_attr_expr(&mut self) -> Result<Filter, FilterError> {
        let (word, start) = match self.peek() {
            Some(Token {
                tok: Tok::Word(word),
                start,
                ..
            }) => (*word, *start),
            _ => return self.fail("expected an attribute path"),
        };
        self.pos += 1;
        let path = parse_attr_path(word, start)?;
        if self.peek_tok() != Some(&Tok::LBracket) {
            return self.parse_comparison(path, word);
        }
        if self.in_value_path {
            let position = self.peek().map_or(self.end, |t| t.start);
            return Err(error(
                format!(
                    "nested value filters are not allowed: found \"[\" after {} inside a value filter",
                    quote(word)
                ),
                position,
            ));
        }
        if path.sub.is_some() {
            return Err(error(
                format!(
                    "a value filter \"[...]\" cannot follow a sub-attribute ({})",
                    quote(word)
                ),
                start,
            ));
        }
        let (inner, close_end) = self.parse_bracket()?;
        // Entra quirk: `emails[type eq "work"].value eq "x"` means
        // `emails[type eq "work" and value eq "x"]`.
        match self.take_adjacent_sub(close_end)? {
            Some(sub) => {
                let text = format!("{word}[...].{sub}");
                let cmp = self.parse_comparison(AttrPath::new(sub), &text)?;
                Ok(Filter::ValuePath(
                    path,
                    Box::new(Filter::And(Box::new(inner), Box::new(cmp))),
                ))
            }
            None => Ok(Filter::ValuePath(path, Box::new(inner))),
        }
    }

    /// Parses `[ valFilter ]`; the current token is the `[`. Returns the inner
    /// filter and the character position just after the `]`.
    fn parse_bracket(&mut self) -> Result<(Filter, usize), FilterError> {
        let open = self.peek().map_or(self.end, |t| t.start);
        self.enter(open)?;
        self.pos += 1;
        self.in_value_path = true;
        let inner = self.parse_or()?;
        self.in_value_path = false;
        match self.peek() {
            Some(Token {
                tok: Tok::RBracket,
                end,
                ..
            }) => {
                let end = *end;
                self.pos += 1;
                self.depth -= 1;
                Ok((inner, end))
            }
            None => self.fail(format_args!(
                "unterminated value filter: expected \"]\" to close the \"[\" at character {open}"
            )),
            Some(_) => self.fail(format_args!(
                "expected \"and\", \"or\" or \"]\" to close the \"[\" at character {open}"
            )),
        }
    }

    /// A `.sub` written directly after a `]` (no whitespace in between).
    fn take_adjacent_sub(&mut self, close_end: usize) -> Result<Option<String>, FilterError> {
        let Some(Token {
            tok: Tok::Word(w),
            start,
            ..
        }) = self.peek()
        else {
            return Ok(None);
        };
        let (Some(sub), true) = (w.strip_prefix('.'), *start == close_end) else {
            return Ok(None);
        };
        if !is_attr_name(sub) {
            return Err(error(
                format!("invalid sub-attribute {} after \"]\"", quote(w)),
                *start,
            ));
        }
        let sub = sub.to_string();
        self.pos += 1;
        Ok(Some(sub))
    }

    /// The operator and value after an attribute path (`text` names it in errors).
    fn parse_comparison(&mut self, path: AttrPath, text: &str) -> Result<Filter, FilterError> {
        let op_word = self.peek_word(0).unwrap_or_default();
        if op_word.eq_ignore_ascii_case("pr") {
            self.pos += 1;
            let has_value = match self.peek_tok() {
                Some(Tok::Str(_)) => true,
                Some(Tok::Word(w)) => bare_literal(w).is_some(),
                _ => false,
            };
            if has_value {
                return self.fail("\"pr\" takes no comparison value");
            }
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_word(op_word) else {
            return self.fail(format_args!(
                "expected {EXPECTED_OPERATOR} after {}",
                quote(text)
            ));
        };
        self.pos += 1;
        // A string is taken, not copied: every error below is about a
        // bare literal, so no message describes the taken token.
        let value = match self.toks.get_mut(self.pos).map(|t| &mut t.tok) {
            Some(Tok::Str(s)) => Some(Value::String(std::mem::take(s).into_owned())),
            Some(Tok::Word(w)) => bare_literal(w),
            _ => None,
        };
        let Some(value) = value else {
            return self.fail(format_args!(
                "expected a comparison value (a JSON string, number, true, false or null) after \"{}\"",
                op.keyword()
            ));
        };
        // RFC 7644 §3.4.2.2: ordering needs strings/numbers/dates, substring ops need strings.
        let ordering = matches!(
            op,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        );
        let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
        if ordering && (value.is_boolean() || value.is_null()) {
            return self.fail(format_args!(
                "expected a string, number or dateTime value after \"{}\" (booleans and null cannot be ordered)",
                op.keyword()
            ));
        }
        if substring && !value.is_string() {
            return self.fail(format_args!(
                "expected a string value after \"{}\"",
                op.keyword()
            ));
        }
        self.pos += 1;
        Ok(Filter::Compare(path, op, value))
    }
}

/// Parses a SCIM filter (RFC 7644 §3.4.2.2) such as `userName eq "bjensen"`.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    if let Some(f) = plain_comparison(input) {
        return Ok(f);
    }
    parse_tokens(input)
}

/// The filter Entra sends for every lookup, `attr op "text"` (one space
/// each side of the operator; no URN; a string without escapes or control
/// characters), read without the lexer and its token list. `None` for any
/// other text, which the parser reads; it reads this shape to the same
/// tree (`plain_comparison_is_what_the_parser_reads`).
pub(super) fn plain_comparison(input: &str) -> Option<Filter> {
    if input.len() > super::MAX_FILTER_LEN {
        return None;
    }
    // Split at bytes: a space and a quote are never part of a longer
    // character, so each cut is a character boundary.
    let b = input.as_bytes();
    let space = b.iter().position(|&c| c == b' ')?;
    let (word, rest) = (&input[..space], &input[space + 1..]);
    let space = rest.bytes().take(3).position(|c| c == b' ')?;
    let (op_word, literal) = (&rest[..space], &rest[space + 1..]);
    let text = literal.strip_prefix('"')?.strip_suffix('"')?;
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return None;
    }
    let op = CompareOp::from_word(op_word)?;
    let (name, sub) = match word.bytes().position(|c| c == b'.') {
        Some(dot) => (&word[..dot], Some(&word[dot + 1..])),
        None => (word, None),
    };
    if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
        return None;
    }
    Some(Filter::Compare(
        AttrPath {
            urn: None,
            name: name.to_string(),
            sub: sub.map(str::to_string),
        },
        op,
        Value::String(text.to_string()),
    ))
}

/// [`parse_filter`] through the lexer's tokens, without its shortcut for
/// the plain comparison: what the shortcut is held to (tests, the `filter`
/// fuzz target).
#[doc(hidden)]
pub fn parse_tokens(input: &str) -> Result<Filter, FilterError> {
    check_length(input, "filter")?;
    let mut parser = Parser::new(input)?;
    if parser.toks.is_empty() {
        return Err(error("empty filter", 0));
    }
    let filter = parser.parse_or()?;
    match parser.peek_tok() {
        None => Ok(filter),
        Some(Tok::RParen) => parser.trailing(" (unbalanced parenthesis: no matching \"(\")"),
        Some(_) => parser.trailing(": expected \"and\", \"or\" or the end of the filter"),
    }
}

/// Parses a PATCH `path`: `attr[.sub]`, `attr[filter]` or `attr[filter].sub`,
/// each optionally URN-prefixed. The URN is kept; the caller resolves it.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    check_length(input, "path")?;
    let mut parser = Parser::new(input)?;
    let Some(Token {
        tok: Tok::Word(word),
        start,
        ..
    }) = parser.peek().cloned()
    else {
        return if parser.toks.is_empty() {
            Err(error("empty path", 0))
        } else {
            parser.fail("expected an attribute path")
        };
    };
    parser.pos += 1;
    let attr = parse_attr_path(word, start)?;
    let (mut filter, mut value_sub) = (None, None);
    if parser.peek_tok() == Some(&Tok::LBracket) {
        if attr.sub.is_some() {
            return Err(error(
                format!(
                    "a value filter \"[...]\" cannot follow a sub-attribute ({})",
                    quote(word)
                ),
                start,
            ));
        }
        let (inner, close_end) = parser.parse_bracket()?;
        filter = Some(inner);
        value_sub = parser.take_adjacent_sub(close_end)?;
    }
    if parser.peek().is_some() {
        return parser.trailing(" after the path");
    }
    Ok(PatchPath {
        attr,
        filter,
        value_sub,
    })
}
