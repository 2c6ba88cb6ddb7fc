//! SCIM filter expressions (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2).
//!
//! Input comes straight from clients, so the parser is defensive: it works on a
//! token list with explicit positions, never indexes blindly, caps the input at
//! [`MAX_FILTER_LEN`] bytes and the nesting of `( )` / `[ ]` at [`MAX_DEPTH`]
//! levels (the only source of recursion while parsing). Every syntax error is a
//! [`FilterError`] naming what was expected, what was found and where (0-based
//! character index), because the message goes back to the client as the
//! `detail` of a 400 `invalidFilter`/`invalidPath` error.
//!
//! Evaluation ([`matches`]) follows the RFC's loose typing: case-insensitive
//! attribute names, case-insensitive strings unless the schema says
//! `caseExact`, "any element matches" for multi-valued attributes, and a few
//! coercions real clients rely on (`"True"` strings as booleans, numeric
//! strings for integer attributes, RFC 3339 instants for dateTime).

use crate::scim::attr::{AttrKind, AttrPath, SchemaInfo};
use serde_json::{Number, Value};
use std::cmp::Ordering;
use std::fmt;

/// Longest filter or PATCH path accepted, in bytes. Also bounds the size (and
/// thus the recursion depth of evaluation/Display/Drop) of any parsed tree.
pub const MAX_FILTER_LEN: usize = 8192;
/// Deepest nesting of `( )` and `[ ]` accepted; keeps parser recursion bounded.
pub const MAX_DEPTH: usize = 64;

/// Attribute comparison operators (the `pr` operator is [`Filter::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The canonical (lower-case) keyword.
    fn keyword(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Case-insensitive keyword lookup.
    fn from_word(word: &str) -> Option<CompareOp> {
        Self::ALL
            .into_iter()
            .find(|op| op.keyword().eq_ignore_ascii_case(word))
    }
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    /// Value is String, Number, Bool or Null.
    Compare(AttrPath, CompareOp, Value),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work" and value co "@x"]` — attr has no sub; inner is evaluated against each element
    ValuePath(AttrPath, Box<Filter>),
}

/// A syntax error with a client-facing message and a 0-based character position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct FilterError {
    pub message: String,
    pub position: usize,
}

fn error(message: impl Into<String>, position: usize) -> FilterError {
    FilterError {
        message: message.into(),
        position,
    }
}

/// A PATCH operation `path` (RFC 7644 §3.5.2: `attrPath / valuePath [subAttr]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// `attr.sub` is the sub-attribute for plain `name.givenName` paths.
    pub attr: AttrPath,
    /// `emails[type eq "work"]`
    pub filter: Option<Filter>,
    /// `.value` after the `]`
    pub value_sub: Option<String>,
}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A run of anything but whitespace, brackets and quotes: attribute paths,
    /// keywords and bare literals. Its meaning depends on where it appears.
    Word(String),
    /// A JSON string literal, already decoded.
    Str(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Character positions: `start` inclusive, `end` exclusive.
    start: usize,
    end: usize,
}

/// Quotes `s` for an error message, escaping control characters and
/// truncating so a hostile 8 KiB token does not end up verbatim in the reply.
fn quote(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        format!("{:?}...", s.chars().take(MAX).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

fn describe(tok: Option<&Token>) -> String {
    match tok.map(|t| &t.tok) {
        None => "end of input".to_string(),
        Some(Tok::LParen) => "\"(\"".to_string(),
        Some(Tok::RParen) => "\")\"".to_string(),
        Some(Tok::LBracket) => "\"[\"".to_string(),
        Some(Tok::RBracket) => "\"]\"".to_string(),
        Some(Tok::Word(w)) => quote(w),
        Some(Tok::Str(s)) => format!("string {}", quote(s)),
    }
}

fn check_length(input: &str, what: &str) -> Result<(), FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(error(
            format!("{what} longer than {MAX_FILTER_LEN} bytes"),
            0,
        ));
    }
    Ok(())
}

/// Splits the input into tokens. String literals are located here (so `]`,
/// `)` or `"` inside them never confuse the parser) and decoded with
/// serde_json, which gives exact JSON escape semantics incl. surrogate pairs.
fn lex(input: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        i += 1;
        let tok = match c {
            c if c.is_ascii_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '"' => {
                let mut escaped = false;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(error("unterminated string: missing closing '\"'", start))
                        }
                        Some('"') if !escaped => break,
                        Some(&ch) => escaped = !escaped && ch == '\\',
                    }
                    i += 1;
                }
                i += 1; // the closing quote
                let raw: String = chars.iter().skip(start).take(i - start).collect();
                let value = serde_json::from_str::<String>(&raw).map_err(|e| {
                    // serde's message ends with "at line 1 column N"; the position says that.
                    let why = e.to_string();
                    let why = why.split(" at line").next().unwrap_or_default();
                    error(format!("invalid string literal: {why}"), start)
                })?;
                Tok::Str(value)
            }
            _ => {
                while chars
                    .get(i)
                    .is_some_and(|&ch| !ch.is_ascii_whitespace() && !"()[]\"".contains(ch))
                {
                    i += 1;
                }
                Tok::Word(chars.iter().skip(start).take(i - start).collect())
            }
        };
        toks.push(Token { tok, start, end: i });
    }
    Ok(toks)
}

// ---------------------------------------------------------------------------
// Attribute paths and literals
// ---------------------------------------------------------------------------

/// ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_" / "$"), plus the `$ref` sub-attribute.
fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.eq_ignore_ascii_case("$ref")
        || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "-_$".contains(c)))
}

/// Parses `[urn:...:]name[.sub]`. The URN is everything before the last colon,
/// which is unambiguous because URNs contain `.` (`2.0`) but names contain no `:`.
fn parse_attr_path(word: &str, position: usize) -> Result<AttrPath, FilterError> {
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
fn bare_literal(word: &str) -> Option<Value> {
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

const EXPECTED_OPERATOR: &str = "a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)";

/// Recursive descent over the token list; `depth` counts open `(`/`[`.
struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    in_value_path: bool,
    /// Character length of the input: the position reported for "end of input".
    end: usize,
}

impl Parser {
    fn new(input: &str) -> Result<Parser, FilterError> {
        Ok(Parser {
            toks: lex(input)?,
            pos: 0,
            depth: 0,
            in_value_path: false,
            end: input.chars().count(),
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn peek_word(&self, offset: usize) -> Option<&str> {
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
        let Some(Token {
            tok: Tok::Word(word),
            start,
            ..
        }) = self.peek().cloned()
        else {
            return self.fail("expected an attribute path");
        };
        self.pos += 1;
        let path = parse_attr_path(&word, start)?;
        if self.peek_tok() != Some(&Tok::LBracket) {
            return self.parse_comparison(path, &word);
        }
        if self.in_value_path {
            let position = self.peek().map_or(self.end, |t| t.start);
            return Err(error(
                format!(
                    "nested value filters are not allowed: found \"[\" after {} inside a value filter",
                    quote(&word)
                ),
                position,
            ));
        }
        if path.sub.is_some() {
            return Err(error(
                format!(
                    "a value filter \"[...]\" cannot follow a sub-attribute ({})",
                    quote(&word)
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
        let op_word = self.peek_word(0).unwrap_or_default().to_ascii_lowercase();
        if op_word == "pr" {
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
        let Some(op) = CompareOp::from_word(&op_word) else {
            return self.fail(format_args!(
                "expected {EXPECTED_OPERATOR} after {}",
                quote(text)
            ));
        };
        self.pos += 1;
        let value = match self.peek_tok() {
            Some(Tok::Str(s)) => Some(Value::String(s.clone())),
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
    let attr = parse_attr_path(&word, start)?;
    let (mut filter, mut value_sub) = (None, None);
    if parser.peek_tok() == Some(&Tok::LBracket) {
        if attr.sub.is_some() {
            return Err(error(
                format!(
                    "a value filter \"[...]\" cannot follow a sub-attribute ({})",
                    quote(&word)
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

// ---------------------------------------------------------------------------
// Display
// ---------------------------------------------------------------------------

/// Writes `filter`, in parentheses if `wrap`.
fn write_operand(f: &mut fmt::Formatter<'_>, filter: &Filter, wrap: bool) -> fmt::Result {
    if wrap {
        write!(f, "({filter})")
    } else {
        write!(f, "{filter}")
    }
}

/// Canonical form: lower-case keywords, single spaces, JSON literals, and
/// parentheses only where precedence/left-associativity require them, so that
/// `parse_filter(&f.to_string()) == Ok(f)` for every parsed filter.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Present(path) => write!(f, "{path} pr"),
            // Value's Display is compact JSON, i.e. a valid compValue for scalars.
            Filter::Compare(path, op, value) => write!(f, "{path} {} {value}", op.keyword()),
            Filter::And(left, right) => {
                write_operand(f, left, matches!(**left, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(
                    f,
                    right,
                    matches!(**right, Filter::Or(..) | Filter::And(..)),
                )
            }
            Filter::Or(left, right) => {
                write_operand(f, left, false)?;
                f.write_str(" or ")?;
                write_operand(f, right, matches!(**right, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath(path, inner) => write!(f, "{path}[{inner}]"),
        }
    }
}

/// For a conjunction of `attr eq value` terms (e.g. the filter of
/// `emails[type eq "work"]`), returns those pairs in order; for anything else
/// an empty vec. PATCH uses it to build the element a filter describes.
pub fn eq_assignments(filter: &Filter) -> Vec<(&AttrPath, &Value)> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(left, right) => {
                stack.push(right);
                stack.push(left);
            }
            Filter::Compare(path, CompareOp::Eq, value) => out.push((path, value)),
            _ => return Vec::new(),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/// Object member lookup, exact first, then ASCII case-insensitive (RFC 7643 §2.1).
fn get_ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = value.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Pushes `value`, or its elements if it is an array (one level only).
fn push_flat<'a>(out: &mut Vec<&'a Value>, value: &'a Value) {
    match value {
        Value::Array(items) => out.extend(items),
        _ => out.push(value),
    }
}

/// Resolves `path` against `resource` and returns the values it references,
/// flattening multi-valued attributes (`emails.value` yields each element's
/// `value`). Nulls are returned as-is; missing attributes yield nothing.
/// A URN other than the core schema's selects the extension object keyed by it.
pub fn resolve<'a>(
    resource: &'a Value,
    path: &AttrPath,
    schema: &dyn SchemaInfo,
) -> Vec<&'a Value> {
    let base = match &path.urn {
        Some(urn) if !urn.eq_ignore_ascii_case(schema.core_schema()) => get_ci(resource, urn),
        _ => Some(resource),
    };
    let Some(value) = base.and_then(|b| get_ci(b, &path.name)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match (&path.sub, value) {
        (None, _) => push_flat(&mut out, value),
        (Some(sub), Value::Array(items)) => {
            for sub_value in items.iter().filter_map(|item| get_ci(item, sub)) {
                push_flat(&mut out, sub_value);
            }
        }
        (Some(sub), _) => {
            if let Some(sub_value) = get_ci(value, sub) {
                push_flat(&mut out, sub_value);
            }
        }
    }
    out
}

/// Does `resource` (SCIM JSON object) satisfy `filter`?
pub fn matches(filter: &Filter, resource: &Value, schema: &dyn SchemaInfo) -> bool {
    eval(filter, resource, schema, None)
}

/// `outer` is the value-path attribute when evaluating against one of its elements.
fn eval(filter: &Filter, ctx: &Value, schema: &dyn SchemaInfo, outer: Option<&AttrPath>) -> bool {
    match filter {
        Filter::Present(path) => lookup(ctx, path, schema, outer).into_iter().any(is_present),
        Filter::Compare(path, op, literal) => compare(ctx, path, *op, literal, schema, outer),
        Filter::And(left, right) => {
            eval(left, ctx, schema, outer) && eval(right, ctx, schema, outer)
        }
        Filter::Or(left, right) => {
            eval(left, ctx, schema, outer) || eval(right, ctx, schema, outer)
        }
        Filter::Not(inner) => !eval(inner, ctx, schema, outer),
        // Nested value paths are rejected by the parser; a hand-built one matches nothing.
        Filter::ValuePath(path, inner) => {
            outer.is_none()
                && resolve(ctx, path, schema)
                    .into_iter()
                    .any(|element| eval(inner, element, schema, Some(path)))
        }
    }
}

/// Like [`resolve`], but inside a value path over primitive elements
/// (`roles[value eq "admin"]`) `value` denotes the element itself (RFC 7644 §3.4.2.2).
fn lookup<'a>(
    ctx: &'a Value,
    path: &AttrPath,
    schema: &dyn SchemaInfo,
    outer: Option<&AttrPath>,
) -> Vec<&'a Value> {
    let is_plain_value =
        path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value");
    match outer {
        Some(_) if !ctx.is_object() => {
            if is_plain_value {
                vec![ctx]
            } else {
                Vec::new()
            }
        }
        _ => resolve(ctx, path, schema),
    }
}

/// Empty strings, arrays and objects count as absent, like null (RFC 7644 §3.4.2.2 `pr`).
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// What comparison needs to know about an attribute; unknown ones are
/// untyped and case-insensitive.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    kind: Option<AttrKind>,
    case_exact: bool,
}

impl Meta {
    fn numeric(self) -> bool {
        matches!(self.kind, Some(AttrKind::Integer | AttrKind::Decimal))
    }
}

fn attr_meta(path: &AttrPath, schema: &dyn SchemaInfo, outer: Option<&AttrPath>) -> Meta {
    let found = match outer {
        Some(o) if path.sub.is_none() => {
            schema.attribute(o.urn.as_deref(), &o.name, Some(&path.name))
        }
        Some(_) => None,
        None => {
            let urn = path.urn.as_deref();
            match schema.attribute(urn, &path.name, path.sub.as_deref()) {
                // `emails eq "x"` compares each element's `value`.
                Some(m) if path.sub.is_none() && m.kind == AttrKind::Complex => {
                    schema.attribute(urn, &path.name, Some("value"))
                }
                other => other,
            }
        }
    };
    found.map_or_else(Meta::default, |m| Meta {
        kind: Some(m.kind),
        case_exact: m.case_exact,
    })
}

fn compare(
    ctx: &Value,
    path: &AttrPath,
    op: CompareOp,
    literal: &Value,
    schema: &dyn SchemaInfo,
    outer: Option<&AttrPath>,
) -> bool {
    let meta = attr_meta(path, schema, outer);
    // A complex value compared without a sub-attribute stands for its `value`.
    let values: Vec<&Value> = lookup(ctx, path, schema, outer)
        .into_iter()
        .filter_map(|v| {
            if v.is_object() && path.sub.is_none() {
                get_ci(v, "value")
            } else {
                Some(v)
            }
        })
        .collect();
    let equal = || {
        if literal.is_null() {
            values.is_empty() || values.iter().any(|v| v.is_null())
        } else {
            values.iter().any(|v| values_equal(v, literal, meta))
        }
    };
    match op {
        CompareOp::Eq => equal(),
        CompareOp::Ne => !equal(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let Value::String(needle) = literal else {
                return false;
            };
            values.iter().any(|v| match v {
                Value::String(s) => substring_match(op, s, needle, meta.case_exact),
                _ => false,
            })
        }
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            values.iter().any(|v| match values_order(v, literal, meta) {
                Some(ord) => match op {
                    CompareOp::Gt => ord.is_gt(),
                    CompareOp::Ge => ord.is_ge(),
                    CompareOp::Lt => ord.is_lt(),
                    _ => ord.is_le(),
                },
                None => false,
            })
        }
    }
}

fn substring_match(op: CompareOp, haystack: &str, needle: &str, case_exact: bool) -> bool {
    let (h, n) = if case_exact {
        (haystack.to_string(), needle.to_string())
    } else {
        (haystack.to_lowercase(), needle.to_lowercase())
    };
    match op {
        CompareOp::Sw => h.starts_with(&n),
        CompareOp::Ew => h.ends_with(&n),
        _ => h.contains(&n),
    }
}

/// Clients send booleans as strings ("True" from Entra); accept those spellings.
fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A number, or a numeric string when the schema says the attribute is numeric.
fn as_number(value: &Value, numeric: bool) -> Option<Number> {
    match value {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) if numeric => s.trim().parse().ok(),
        _ => None,
    }
}

/// Exact for integers (no f64 rounding of large ids), f64 otherwise (1 == 1.0).
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// String order with the attribute's case rule; dateTime values compare as
/// instants when both parse (so `+02:00` offsets and fractions work).
fn text_order(a: &str, b: &str, meta: Meta) -> Ordering {
    if meta.kind == Some(AttrKind::DateTime) {
        if let (Some(x), Some(y)) = (parse_rfc3339(a), parse_rfc3339(b)) {
            return x.cmp(&y);
        }
    }
    if meta.case_exact {
        a.cmp(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase))
    }
}

fn values_equal(value: &Value, literal: &Value, meta: Meta) -> bool {
    if meta.numeric() {
        if let (Some(a), Some(b)) = (as_number(value, true), as_number(literal, true)) {
            return cmp_numbers(&a, &b) == Some(Ordering::Equal);
        }
    }
    match (value, literal) {
        (Value::String(a), Value::String(b)) => text_order(a, b, meta).is_eq(),
        (Value::Number(a), Value::Number(b)) => cmp_numbers(a, b) == Some(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::String(s), Value::Bool(b)) | (Value::Bool(b), Value::String(s)) => {
            parse_bool(s) == Some(*b)
        }
        _ => false,
    }
}

/// `None` when the two values cannot be ordered (mixed types, booleans, ...).
fn values_order(value: &Value, literal: &Value, meta: Meta) -> Option<Ordering> {
    if meta.numeric() {
        if let (Some(a), Some(b)) = (as_number(value, true), as_number(literal, true)) {
            return cmp_numbers(&a, &b);
        }
    }
    match (value, literal) {
        (Value::String(a), Value::String(b)) => Some(text_order(a, b, meta)),
        (Value::Number(a), Value::Number(b)) => cmp_numbers(a, b),
        _ => None,
    }
}

/// Parses an RFC 3339 date-time (`2011-05-13T04:42:34.123+02:00`) into
/// (seconds since the Unix epoch, nanoseconds). Std has no date parsing and
/// the crate takes no date dependency; this is all dateTime comparison needs.
fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if at(i, b".") {
        i += 1;
        let first = i;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            if i - first < 9 {
                nanos = nanos * 10 + u32::from(d - b'0');
            }
            i += 1;
        }
        if i == first {
            return None;
        }
        for _ in (i - first).min(9)..9 {
            nanos *= 10;
        }
    }
    let offset = if at(i, b"Zz") {
        i += 1;
        0
    } else if at(i, b"+-") && at(i + 3, b":") {
        let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
        if h > 23 || m > 59 {
            return None;
        }
        let sign = if at(i, b"-") { -1 } else { 1 };
        i += 6;
        sign * (h * 3600 + m * 60)
    } else {
        return None;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let valid = i == b.len()
        && (1..=12).contains(&month)
        && (1..=month_days).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60; // leap second
    if !valid {
        return None;
    }
    // Days from 1970-01-01 (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::attr::AttrMeta;
    use serde_json::json;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    /// (extension?, attribute, sub-attribute, kind, multi-valued, caseExact)
    type Row = (
        bool,
        &'static str,
        Option<&'static str>,
        AttrKind,
        bool,
        bool,
    );
    const ATTRS: &[Row] = &[
        (false, "id", None, AttrKind::String, false, true),
        (false, "externalId", None, AttrKind::String, false, true),
        (false, "userName", None, AttrKind::String, false, false),
        (false, "active", None, AttrKind::Boolean, false, false),
        (false, "loginCount", None, AttrKind::Integer, false, false),
        (false, "name", None, AttrKind::Complex, false, false),
        (
            false,
            "name",
            Some("givenName"),
            AttrKind::String,
            false,
            false,
        ),
        (false, "emails", None, AttrKind::Complex, true, false),
        (
            false,
            "emails",
            Some("value"),
            AttrKind::String,
            false,
            false,
        ),
        (
            false,
            "emails",
            Some("type"),
            AttrKind::String,
            false,
            false,
        ),
        (
            false,
            "emails",
            Some("primary"),
            AttrKind::Boolean,
            false,
            false,
        ),
        (false, "ims", None, AttrKind::Complex, true, false),
        (false, "ims", Some("value"), AttrKind::String, false, true),
        (
            false,
            "meta",
            Some("lastModified"),
            AttrKind::DateTime,
            false,
            false,
        ),
        (
            false,
            "meta",
            Some("created"),
            AttrKind::DateTime,
            false,
            false,
        ),
        (true, "employeeNumber", None, AttrKind::String, false, true),
        (true, "manager", None, AttrKind::Complex, false, false),
        (
            true,
            "manager",
            Some("value"),
            AttrKind::String,
            false,
            false,
        ),
    ];

    /// Hand-written schema: core User plus the enterprise extension.
    struct TestSchema;

    impl SchemaInfo for TestSchema {
        fn core_schema(&self) -> &str {
            CORE
        }

        fn extension(&self, urn: &str) -> Option<&str> {
            urn.eq_ignore_ascii_case(ENT).then_some(ENT)
        }

        fn attribute(
            &self,
            urn: Option<&str>,
            name: &str,
            sub: Option<&str>,
        ) -> Option<AttrMeta<'_>> {
            let ext = match urn {
                None => false,
                Some(u) if u.eq_ignore_ascii_case(CORE) => false,
                Some(u) if u.eq_ignore_ascii_case(ENT) => true,
                Some(_) => return None,
            };
            ATTRS
                .iter()
                .find(|r| {
                    r.0 == ext
                        && r.1.eq_ignore_ascii_case(name)
                        && match (r.2, sub) {
                            (None, None) => true,
                            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                            _ => false,
                        }
                })
                .map(|r| AttrMeta {
                    name: r.2.unwrap_or(r.1),
                    kind: r.3,
                    multi_valued: r.4,
                    case_exact: r.5,
                })
        }
    }

    fn user() -> Value {
        json!({
            "schemas": [CORE, ENT],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Bjensen",
            "userName": "bjensen@example.com",
            "active": true,
            "disabled": false,
            "flag": "True",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "ims": [{"value": "SomeIM", "type": "aim"}],
            "roles": ["admin", "Dev"],
            "phoneNumbers": [],
            "title": null,
            "nickName": "",
            "extra": {},
            "loginCount": "42",
            "zip": "12345",
            "score": 7.5,
            "count": 3,
            "big": 9_007_199_254_740_993_u64,
            "meta": {
                "lastModified": "2011-05-13T04:42:34Z",
                "created": "2010-01-23T04:56:22+02:00"
            },
            ENT: {
                "employeeNumber": "E701984",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
            }
        })
    }

    fn parse(input: &str) -> Filter {
        parse_filter(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn parse_err(input: &str) -> FilterError {
        match parse_filter(input) {
            Ok(f) => panic!("{input:?} should fail, parsed as {f:?}"),
            Err(e) => e,
        }
    }

    fn is_match(input: &str) -> bool {
        matches(&parse(input), &user(), &TestSchema)
    }

    fn path(name: &str) -> AttrPath {
        AttrPath::new(name)
    }

    fn cmp(name: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare(path(name), op, value)
    }

    fn pr(name: &str) -> Filter {
        Filter::Present(path(name))
    }

    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }

    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }

    fn not(f: Filter) -> Filter {
        Filter::Not(Box::new(f))
    }

    fn vp(name: &str, inner: Filter) -> Filter {
        Filter::ValuePath(path(name), Box::new(inner))
    }

    fn urn_path(urn: &str, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            urn: Some(urn.to_string()),
            name: name.to_string(),
            sub: sub.map(str::to_string),
        }
    }

    // ----- parsing ---------------------------------------------------------

    #[test]
    fn parses_simple_equality() {
        assert_eq!(
            parse(r#"userName eq "bjensen""#),
            cmp("userName", CompareOp::Eq, json!("bjensen"))
        );
    }

    #[test]
    fn parses_every_comparison_operator() {
        for (word, op) in [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                parse(&format!("title {word} \"x\"")),
                cmp("title", op, json!("x"))
            );
        }
    }

    #[test]
    fn parses_present() {
        assert_eq!(parse("title pr"), pr("title"));
    }

    #[test]
    fn operators_and_keywords_are_case_insensitive() {
        assert_eq!(
            parse(r#"userName EQ "x" AnD title PR Or NOT (a Gt 1)"#),
            or(
                and(cmp("userName", CompareOp::Eq, json!("x")), pr("title")),
                not(cmp("a", CompareOp::Gt, json!(1)))
            )
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3"),
            or(
                cmp("a", CompareOp::Eq, json!(1)),
                and(
                    cmp("b", CompareOp::Eq, json!(2)),
                    cmp("c", CompareOp::Eq, json!(3))
                )
            )
        );
        assert_eq!(
            parse("a eq 1 and b eq 2 or c eq 3"),
            or(
                and(
                    cmp("a", CompareOp::Eq, json!(1)),
                    cmp("b", CompareOp::Eq, json!(2))
                ),
                cmp("c", CompareOp::Eq, json!(3))
            )
        );
    }

    #[test]
    fn and_or_are_left_associative() {
        assert_eq!(
            parse("a pr or b pr or c pr"),
            or(or(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(
            parse("a pr and b pr and c pr"),
            and(and(pr("a"), pr("b")), pr("c"))
        );
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c eq 3"),
            and(
                or(
                    cmp("a", CompareOp::Eq, json!(1)),
                    cmp("b", CompareOp::Eq, json!(2))
                ),
                cmp("c", CompareOp::Eq, json!(3))
            )
        );
        assert_eq!(parse("((a pr))"), pr("a"));
    }

    #[test]
    fn not_binds_tighter_than_and() {
        assert_eq!(parse("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
        assert_eq!(parse("not(a pr)"), not(pr("a")));
        assert_eq!(parse("not (not (a pr))"), not(not(pr("a"))));
    }

    #[test]
    fn not_is_an_attribute_name_when_an_operator_follows() {
        assert_eq!(
            parse(r#"not eq "x""#),
            cmp("not", CompareOp::Eq, json!("x"))
        );
        assert_eq!(parse("not pr"), pr("not"));
        assert_eq!(parse("a pr and and pr"), and(pr("a"), pr("and")));
    }

    #[test]
    fn not_requires_parentheses() {
        let e = parse_err("not a pr");
        assert!(e.message.contains(r#"expected "(" after "not""#), "{e}");
        assert!(e.message.contains(r#"found "a""#), "{e}");
        assert_eq!(e.position, 4);
    }

    #[test]
    fn parses_bare_literals_case_insensitively() {
        assert_eq!(parse("a eq TRUE"), cmp("a", CompareOp::Eq, json!(true)));
        assert_eq!(parse("a eq False"), cmp("a", CompareOp::Eq, json!(false)));
        assert_eq!(parse("a eq NULL"), cmp("a", CompareOp::Eq, Value::Null));
    }

    #[test]
    fn parses_json_numbers() {
        assert_eq!(parse("a eq 42"), cmp("a", CompareOp::Eq, json!(42)));
        assert_eq!(parse("a gt -1.5"), cmp("a", CompareOp::Gt, json!(-1.5)));
        assert_eq!(parse("a lt 1e3"), cmp("a", CompareOp::Lt, json!(1000.0)));
        assert_eq!(parse("a le 2.5E-1"), cmp("a", CompareOp::Le, json!(0.25)));
        assert_eq!(parse("a eq 0"), cmp("a", CompareOp::Eq, json!(0)));
    }

    #[test]
    fn rejects_malformed_numbers() {
        for bad in [
            "a eq 01",
            "a eq 1e400",
            "a eq +1",
            "a eq .5",
            "a eq 1.",
            "a eq 0x10",
        ] {
            let e = parse_err(bad);
            assert!(
                e.message.contains("expected a comparison value"),
                "{bad}: {e}"
            );
            assert_eq!(e.position, 5, "{bad}");
        }
    }

    #[test]
    fn decodes_json_string_escapes() {
        assert_eq!(
            parse(r#"a eq "q\"b\\s\/\b\f\n\r\t""#),
            cmp("a", CompareOp::Eq, json!("q\"b\\s/\u{8}\u{c}\n\r\t"))
        );
    }

    #[test]
    fn decodes_unicode_escapes_and_surrogate_pairs() {
        assert_eq!(
            parse(r#"a eq "\u00e9\ud83d\ude00""#),
            cmp("a", CompareOp::Eq, json!("é😀"))
        );
        assert_eq!(
            parse(r#"a eq "日本""#),
            cmp("a", CompareOp::Eq, json!("日本"))
        );
    }

    #[test]
    fn rejects_bad_string_literals() {
        for bad in [
            r#"a eq "\ud800""#,
            r#"a eq "\q""#,
            "a eq \"tab\there\"",
            "a eq \"\u{1}\"",
        ] {
            let e = parse_err(bad);
            assert!(e.message.contains("invalid string literal"), "{bad:?}: {e}");
            assert_eq!(e.position, 5, "{bad:?}");
        }
    }

    #[test]
    fn strings_may_contain_filter_syntax() {
        assert_eq!(
            parse(r#"userName eq "a\") or (\"b""#),
            cmp("userName", CompareOp::Eq, json!("a\") or (\"b"))
        );
        assert_eq!(
            parse(r#"a eq "x]) or (""#),
            cmp("a", CompareOp::Eq, json!("x]) or ("))
        );
    }

    #[test]
    fn injection_attempt_with_bare_number_is_an_error() {
        let e = parse_err(r#"userName eq "x" or 1 eq 1"#);
        assert!(e.message.contains(r#"invalid attribute path "1""#), "{e}");
        assert_eq!(e.position, 19);
    }

    #[test]
    fn whitespace_is_lenient() {
        let expected = and(cmp("userName", CompareOp::Eq, json!("x")), pr("b"));
        assert_eq!(parse("  userName\t eq   \"x\"\tand  b   pr  "), expected);
        assert_eq!(parse("(userName eq\"x\")and(b pr)"), expected);
    }

    #[test]
    fn parses_urn_prefixed_paths() {
        assert_eq!(
            parse(&format!("{ENT}:employeeNumber eq \"701984\"")),
            Filter::Compare(
                urn_path(ENT, "employeeNumber", None),
                CompareOp::Eq,
                json!("701984")
            )
        );
        assert_eq!(
            parse(&format!("{ENT}:manager.value pr")),
            Filter::Present(urn_path(ENT, "manager", Some("value")))
        );
        let upper = "URN:IETF:params:scim:schemas:core:2.0:User";
        assert_eq!(
            parse(&format!("{upper}:name.givenName pr")),
            Filter::Present(urn_path(upper, "name", Some("givenName")))
        );
    }

    #[test]
    fn rejects_malformed_urn_paths() {
        let e = parse_err("urn:foo pr");
        assert!(e.message.contains("urn:<schema>:<attribute>"), "{e}");
        let e = parse_err(&format!("{ENT}: pr"));
        assert!(e.message.contains("expected an attribute name"), "{e}");
        assert_eq!(e.position, 0);
    }

    #[test]
    fn accepts_ref_and_attribute_name_characters() {
        assert_eq!(
            parse("members.$ref pr"),
            Filter::Present(AttrPath::with_sub("members", "$ref"))
        );
        assert_eq!(parse("x-a_b$1 pr"), pr("x-a_b$1"));
        assert_eq!(
            parse(r#"members[$ref eq "u"]"#),
            vp("members", cmp("$ref", CompareOp::Eq, json!("u")))
        );
    }

    #[test]
    fn rejects_invalid_attribute_paths() {
        for (bad, why) in [
            ("1abc pr", "names start with a letter"),
            ("user@name pr", "names start with a letter"),
            ("a..b pr", "only one sub-attribute level"),
            ("a.b.c pr", "only one sub-attribute level"),
            (".a pr", "expected an attribute name"),
            ("a. pr", "names start with a letter"),
            ("$foo pr", "names start with a letter"),
        ] {
            let e = parse_err(bad);
            assert!(
                e.message.starts_with("invalid attribute path"),
                "{bad}: {e}"
            );
            assert!(e.message.contains(why), "{bad}: {e}");
            assert_eq!(e.position, 0, "{bad}");
        }
    }

    #[test]
    fn parses_value_paths() {
        assert_eq!(
            parse(r#"emails[type eq "work" and value co "@example.com"]"#),
            vp(
                "emails",
                and(
                    cmp("type", CompareOp::Eq, json!("work")),
                    cmp("value", CompareOp::Co, json!("@example.com"))
                )
            )
        );
    }

    #[test]
    fn value_paths_combine_with_logical_operators() {
        assert_eq!(
            parse(r#"userType eq "Employee" and (emails[type eq "work"] or not (ims[value pr]))"#),
            and(
                cmp("userType", CompareOp::Eq, json!("Employee")),
                or(
                    vp("emails", cmp("type", CompareOp::Eq, json!("work"))),
                    not(vp("ims", pr("value")))
                )
            )
        );
    }

    #[test]
    fn entra_value_path_with_sub_attribute_comparison() {
        assert_eq!(
            parse(r#"emails[type eq "work"].value eq "x""#),
            vp(
                "emails",
                and(
                    cmp("type", CompareOp::Eq, json!("work")),
                    cmp("value", CompareOp::Eq, json!("x"))
                )
            )
        );
        assert_eq!(
            parse(r#"emails[type eq "work"].value pr and active eq true"#),
            and(
                vp(
                    "emails",
                    and(cmp("type", CompareOp::Eq, json!("work")), pr("value"))
                ),
                cmp("active", CompareOp::Eq, json!(true))
            )
        );
    }

    #[test]
    fn entra_sub_attribute_must_be_followed_by_an_operator() {
        let e = parse_err(r#"emails[type eq "work"].value"#);
        assert!(e.message.contains(r#"after "emails[...].value""#), "{e}");
        assert!(e.message.contains("found end of input"), "{e}");
        assert_eq!(e.position, 28);
        let e = parse_err(r#"emails[type eq "work"].va!ue eq "x""#);
        assert!(e.message.contains("invalid sub-attribute"), "{e}");
        assert_eq!(e.position, 22);
    }

    #[test]
    fn rejects_nested_value_paths() {
        let e = parse_err("emails[sub[a pr]]");
        assert!(
            e.message.contains("nested value filters are not allowed"),
            "{e}"
        );
        assert_eq!(e.position, 10);
    }

    #[test]
    fn rejects_value_path_after_sub_attribute() {
        let e = parse_err("name.given[a pr]");
        assert!(e.message.contains("cannot follow a sub-attribute"), "{e}");
        assert_eq!(e.position, 0);
    }

    #[test]
    fn rejects_unterminated_value_path() {
        let e = parse_err(r#"emails[type eq "work""#);
        assert!(e.message.contains("unterminated value filter"), "{e}");
        assert_eq!(e.position, 21);
        let e = parse_err(r#"emails[type eq "work")"#);
        assert!(e.message.contains(r#"expected "and", "or" or "]""#), "{e}");
        assert!(e.message.contains(r#"found ")""#), "{e}");
        assert_eq!(e.position, 21);
    }

    // ----- error messages ----------------------------------------------------

    #[test]
    fn error_for_unknown_operator() {
        let e = parse_err(r#"userName equals "x""#);
        assert_eq!(
            e.message,
            r#"expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after "userName", found "equals""#
        );
        assert_eq!(e.position, 9);
        assert_eq!(e.to_string(), format!("{} (at character 9)", e.message));
    }

    #[test]
    fn error_for_unterminated_string() {
        let e = parse_err(r#"userName eq "abc"#);
        assert!(e.message.contains("unterminated string"), "{e}");
        assert_eq!(e.position, 12);
        let e = parse_err(r#"a eq "abc\""#);
        assert!(e.message.contains("unterminated string"), "{e}");
        assert_eq!(e.position, 5);
    }

    #[test]
    fn error_for_missing_closing_parenthesis() {
        let e = parse_err("(userName pr");
        assert!(e.message.contains("unbalanced parenthesis"), "{e}");
        assert!(e.message.contains("found end of input"), "{e}");
        assert_eq!(e.position, 12);
        let e = parse_err("(a pr b pr)");
        assert!(e.message.contains(r#"expected "and", "or" or ")""#), "{e}");
        assert_eq!(e.position, 6);
    }

    #[test]
    fn error_for_extra_closing_parenthesis() {
        let e = parse_err("userName pr)");
        assert!(e.message.contains("unbalanced parenthesis"), "{e}");
        assert!(
            e.message.contains(r#"unexpected trailing input ")""#),
            "{e}"
        );
        assert_eq!(e.position, 11);
    }

    #[test]
    fn error_for_trailing_input() {
        let e = parse_err("userName pr foo");
        assert_eq!(
            e.message,
            r#"unexpected trailing input "foo": expected "and", "or" or the end of the filter"#
        );
        assert_eq!(e.position, 12);
    }

    #[test]
    fn error_for_empty_filter() {
        for input in ["", "   ", "\t\n"] {
            assert_eq!(parse_err(input), error("empty filter", 0));
        }
        let e = parse_err("()");
        assert!(
            e.message
                .contains(r#"expected an attribute path, "not" or "(", found ")""#),
            "{e}"
        );
        assert_eq!(e.position, 1);
    }

    #[test]
    fn error_for_missing_or_bare_value() {
        let e = parse_err("userName eq");
        assert!(e.message.contains(r#"expected a comparison value (a JSON string, number, true, false or null) after "eq""#), "{e}");
        assert!(e.message.contains("found end of input"), "{e}");
        assert_eq!(e.position, 11);
        let e = parse_err("userName eq bob");
        assert!(e.message.contains(r#"found "bob""#), "{e}");
        assert_eq!(e.position, 12);
    }

    #[test]
    fn error_for_present_with_value() {
        for bad in [r#"title pr "x""#, "title pr true", "title pr 1"] {
            let e = parse_err(bad);
            assert!(
                e.message.contains(r#""pr" takes no comparison value"#),
                "{bad}: {e}"
            );
            assert_eq!(e.position, 9, "{bad}");
        }
    }

    #[test]
    fn error_for_ordering_with_boolean_or_null() {
        for bad in ["a gt true", "a ge false", "a lt null", "a le NULL"] {
            let e = parse_err(bad);
            assert!(
                e.message.contains("booleans and null cannot be ordered"),
                "{bad}: {e}"
            );
            assert_eq!(e.position, 5, "{bad}");
        }
    }

    #[test]
    fn error_for_substring_with_non_string() {
        for (bad, op) in [("a co 5", "co"), ("a sw true", "sw"), ("a ew null", "ew")] {
            let e = parse_err(bad);
            assert!(
                e.message
                    .contains(&format!("expected a string value after \"{op}\"")),
                "{e}"
            );
            assert_eq!(e.position, 5);
        }
    }

    #[test]
    fn error_for_dangling_logical_operator() {
        let e = parse_err("a pr and");
        assert!(e.message.contains("expected an attribute path"), "{e}");
        assert!(e.message.contains("found end of input"), "{e}");
        assert_eq!(e.position, 8);
        let e = parse_err("or a pr");
        assert!(e.message.contains(r#"after "or", found "a""#), "{e}");
        assert_eq!(e.position, 3);
    }

    #[test]
    fn error_positions_count_characters_not_bytes() {
        let e = parse_err(r#"a eq "é" ]"#);
        assert!(e.message.contains("unexpected trailing input"), "{e}");
        assert_eq!(e.position, 9);
    }

    #[test]
    fn error_messages_truncate_long_tokens() {
        let long = "x".repeat(500);
        let e = parse_err(&format!("a pr {long}"));
        assert!(e.message.len() < 200, "{}", e.message);
        assert!(
            e.message.contains(&format!("\"{}\"...", "x".repeat(40))),
            "{e}"
        );
    }

    #[test]
    fn control_characters_outside_strings_are_errors() {
        for bad in ["userName\u{0}eq \"x\"", "a\u{7} pr", "a pr \u{1b}[0m"] {
            assert!(parse_filter(bad).is_err(), "{bad:?}");
        }
    }

    // ----- limits ------------------------------------------------------------

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let e = parse_err(&"(".repeat(8000));
        assert_eq!(e.message, "filter nests deeper than 64 levels");
        assert_eq!(e.position, 64);
        let e = parse_err(&"not (".repeat(1600));
        assert_eq!(e.message, "filter nests deeper than 64 levels");
        assert_eq!(e.position, 64 * 5 + 4);
        // 10,000 levels are refused by the length limit first.
        assert!(parse_filter(&"(".repeat(10_000)).is_err());
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let ok = format!("{}a pr{}", "(".repeat(64), ")".repeat(64));
        assert_eq!(parse(&ok), pr("a"));
        let too_deep = format!("{}a pr{}", "(".repeat(65), ")".repeat(65));
        assert!(parse_err(&too_deep).message.contains("deeper than 64"));
        // A value filter's bracket counts as a level too.
        let bracket = format!("{}emails[a pr]{}", "(".repeat(64), ")".repeat(64));
        assert_eq!(parse_err(&bracket).position, 70);
    }

    #[test]
    fn length_limit_is_enforced() {
        let value = "x".repeat(MAX_FILTER_LEN - 7);
        let ok = format!("a eq \"{value}\"");
        assert_eq!(ok.len(), MAX_FILTER_LEN);
        assert_eq!(parse(&ok), cmp("a", CompareOp::Eq, json!(value)));
        let e = parse_err(&format!("a eq \"{value}x\""));
        assert_eq!(e, error("filter longer than 8192 bytes", 0));
    }

    #[test]
    fn longest_possible_and_chain_parses_displays_and_evaluates() {
        // ~900 left-nested And nodes: the deepest tree the length limit allows.
        let input =
            format!("{}userName pr", "userName pr and ".repeat(500)).replace("userName", "a");
        assert!(input.len() <= MAX_FILTER_LEN);
        let f = parse(&input);
        assert_eq!(parse(&f.to_string()), f);
        assert!(matches(&f, &json!({"a": 1}), &TestSchema));
        assert!(!matches(&f, &json!({"b": 1}), &TestSchema));
        assert_eq!(eq_assignments(&f), vec![]);
    }

    #[test]
    fn every_prefix_of_a_complex_filter_is_handled_without_panic() {
        let full = r#"not (emails[type eq "wörk" and value co "@x"].value pr) or (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value ge "b\"\u00e9" and a lt -1.5e2)"#;
        let mut ok = 0;
        for (i, _) in full.char_indices() {
            if let Ok(f) = parse_filter(&full[..i]) {
                assert_eq!(parse(&f.to_string()), f);
                ok += 1;
            }
        }
        assert!(parse_filter(full).is_ok());
        assert!(ok > 0);
    }

    // ----- Display -----------------------------------------------------------

    #[test]
    fn display_is_canonical() {
        for (input, shown) in [
            (r#"userName EQ "a\"b""#, r#"userName eq "a\"b""#),
            ("  title   PR ", "title pr"),
            ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
            ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
            ("(a pr and b pr) and c pr", "a pr and b pr and c pr"),
            ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
            ("a pr or (b pr and c pr)", "a pr or b pr and c pr"),
            ("NOT(a pr)", "not (a pr)"),
            ("a eq TRUE", "a eq true"),
            ("a eq 1.50", "a eq 1.5"),
            (
                r#"emails[type eq "work"].value eq "x""#,
                r#"emails[type eq "work" and value eq "x"]"#,
            ),
            (r#"a eq "\u0001\/""#, r#"a eq "\u0001/""#),
        ] {
            assert_eq!(parse(input).to_string(), shown, "{input}");
        }
    }

    #[test]
    fn display_round_trips() {
        for input in [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            "title pr",
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            r#"a eq null or b ne false and c gt -3.25e-7"#,
            r#"x eq "\"\\\/\b\f\n\r\t\u2028😀""#,
            "not (not (a pr) or b pr) and (c pr or d pr) and (e pr and f pr)",
            r#"members[$ref eq "https://x/Users/1"]"#,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
            "a eq 18446744073709551615 and b eq -9223372036854775808",
        ] {
            let f = parse(input);
            assert_eq!(parse(&f.to_string()), f, "{input} -> {f}");
        }
    }

    #[test]
    fn display_parenthesises_hand_built_right_nested_trees() {
        let f = or(pr("a"), or(pr("b"), pr("c")));
        assert_eq!(f.to_string(), "a pr or (b pr or c pr)");
        assert_eq!(parse(&f.to_string()), f);
        let f = and(or(pr("a"), pr("b")), and(pr("c"), pr("d")));
        assert_eq!(f.to_string(), "(a pr or b pr) and (c pr and d pr)");
        assert_eq!(parse(&f.to_string()), f);
    }

    // ----- eq_assignments ----------------------------------------------------

    #[test]
    fn eq_assignments_of_conjunctions() {
        let f = parse(r#"type eq "work" and primary eq true and display eq "x""#);
        let pairs: Vec<(String, Value)> = eq_assignments(&f)
            .into_iter()
            .map(|(p, v)| (p.to_string(), v.clone()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("type".to_string(), json!("work")),
                ("primary".to_string(), json!(true)),
                ("display".to_string(), json!("x")),
            ]
        );
        let single = parse(r#"value eq "2819c223""#);
        assert_eq!(
            eq_assignments(&single),
            vec![(&path("value"), &json!("2819c223"))]
        );
    }

    #[test]
    fn eq_assignments_reject_anything_else() {
        for input in [
            r#"type eq "work" or type eq "home""#,
            r#"type eq "work" and value ne "x""#,
            "type pr",
            r#"not (type eq "work")"#,
            r#"emails[type eq "work"]"#,
        ] {
            assert!(eq_assignments(&parse(input)).is_empty(), "{input}");
        }
    }

    // ----- evaluation --------------------------------------------------------

    #[test]
    fn eq_strings_are_case_insensitive_by_default() {
        assert!(is_match(r#"userName eq "BJENSEN@example.com""#));
        assert!(is_match(r#"USERNAME eq "bjensen@example.com""#));
        assert!(!is_match(r#"userName eq "bjensen""#));
    }

    #[test]
    fn case_exact_attributes_compare_exactly() {
        assert!(is_match(r#"externalId eq "Bjensen""#));
        assert!(!is_match(r#"externalId eq "bjensen""#));
        assert!(!is_match(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
        assert!(is_match(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
        assert!(is_match(r#"externalId co "jen""#));
        assert!(!is_match(r#"externalId sw "bj""#));
        assert!(is_match(r#"externalId gt "B""#));
        assert!(!is_match(r#"externalId gt "b""#));
    }

    #[test]
    fn ne_is_the_negation_of_eq() {
        assert!(is_match(r#"userName ne "x""#));
        assert!(!is_match(r#"userName ne "BJENSEN@EXAMPLE.COM""#));
        assert!(is_match(r#"missing ne "x""#));
        assert!(!is_match(r#"emails.type ne "work""#));
        assert!(is_match(r#"emails.type ne "other""#));
    }

    #[test]
    fn substring_operators() {
        assert!(is_match(r#"userName co "JENSEN@""#));
        assert!(is_match(r#"userName sw "BJ""#));
        assert!(is_match(r#"userName ew ".COM""#));
        assert!(!is_match(r#"userName sw "jensen""#));
        assert!(!is_match(r#"userName ew "example""#));
        assert!(!is_match(r#"missing co "x""#));
        assert!(!is_match(r#"count co "3""#));
    }

    #[test]
    fn ordering_on_strings() {
        assert!(is_match(r#"userName gt "a""#));
        assert!(!is_match(r#"userName lt "a""#));
        assert!(is_match(r#"userName ge "BJENSEN@EXAMPLE.COM""#));
        assert!(is_match(r#"userName le "BJENSEN@EXAMPLE.COM""#));
        assert!(!is_match(r#"userName gt "BJENSEN@EXAMPLE.COM""#));
        assert!(!is_match(r#"missing gt "a""#));
        assert!(!is_match(r#"active gt "a""#));
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(is_match("score gt 7"));
        assert!(is_match("score eq 7.5"));
        assert!(!is_match("score lt 7.5"));
        assert!(is_match("score le 7.5"));
        assert!(is_match("count eq 3.0"));
        assert!(is_match("count ge 3"));
        assert!(!is_match("count gt 3"));
        assert!(!is_match(r#"count eq "3""#));
    }

    #[test]
    fn large_integers_compare_exactly() {
        assert!(is_match("big eq 9007199254740993"));
        assert!(!is_match("big eq 9007199254740992"));
        assert!(is_match("big gt 9007199254740992"));
    }

    #[test]
    fn integer_attributes_accept_numeric_strings() {
        assert!(is_match("loginCount eq 42"));
        assert!(is_match("loginCount gt 9"));
        assert!(is_match(r#"loginCount lt "100""#));
        // Without schema knowledge a numeric string is just a string.
        assert!(!is_match("zip eq 12345"));
        assert!(!is_match("zip gt 1"));
    }

    #[test]
    fn booleans_and_boolean_strings() {
        assert!(is_match("active eq true"));
        assert!(!is_match("active eq false"));
        assert!(is_match("active ne false"));
        assert!(is_match(r#"active eq "True""#));
        assert!(is_match("flag eq TRUE"));
        assert!(!is_match("flag eq false"));
        assert!(is_match("disabled eq false"));
        assert!(is_match("emails.primary eq true"));
    }

    #[test]
    fn null_and_absence() {
        assert!(is_match("title eq null"));
        assert!(is_match("missing eq null"));
        assert!(!is_match("userName eq null"));
        assert!(!is_match("title ne null"));
        assert!(is_match("userName ne null"));
        assert!(!is_match(r#"title eq "x""#));
    }

    #[test]
    fn present_ignores_null_and_empty_values() {
        assert!(is_match("userName pr"));
        assert!(is_match("emails pr"));
        assert!(is_match("disabled pr"));
        assert!(is_match("count pr"));
        assert!(!is_match("title pr"));
        assert!(!is_match("nickName pr"));
        assert!(!is_match("phoneNumbers pr"));
        assert!(!is_match("extra pr"));
        assert!(!is_match("missing pr"));
        assert!(!is_match("name.middleName pr"));
        assert!(is_match("emails.type pr"));
    }

    #[test]
    fn multi_valued_attributes_match_any_element() {
        assert!(is_match(r#"emails.value eq "babs@jensen.org""#));
        assert!(!is_match(r#"emails.type eq "other""#));
        assert!(is_match(r#"emails eq "BABS@jensen.org""#));
        assert!(is_match(r#"emails co "jensen.org""#));
        assert!(is_match(r#"roles eq "admin""#));
        assert!(is_match(r#"roles eq "DEV""#));
        assert!(!is_match(r#"roles eq "ops""#));
    }

    #[test]
    fn value_path_requires_one_element_to_satisfy_all_terms() {
        assert!(is_match(
            r#"emails[type eq "work" and value co "example.com"]"#
        ));
        assert!(!is_match(
            r#"emails[type eq "home" and value co "example.com"]"#
        ));
        // Without a value path the terms may match different elements.
        assert!(is_match(
            r#"emails.type eq "home" and emails.value co "example.com""#
        ));
        assert!(is_match(r#"emails[not (type eq "work")]"#));
        assert!(!is_match(r#"phoneNumbers[type pr]"#));
    }

    #[test]
    fn value_path_over_primitive_elements_uses_value() {
        assert!(is_match(r#"roles[value eq "ADMIN"]"#));
        assert!(!is_match(r#"roles[value eq "ops"]"#));
        assert!(!is_match(r#"roles[type eq "admin"]"#));
    }

    #[test]
    fn entra_value_path_sub_attribute_evaluates() {
        assert!(is_match(
            r#"emails[type eq "work"].value eq "bjensen@example.com""#
        ));
        assert!(!is_match(
            r#"emails[type eq "work"].value eq "babs@jensen.org""#
        ));
        assert!(is_match(r#"emails[type eq "home"].value ew "JENSEN.ORG""#));
    }

    #[test]
    fn value_path_uses_sub_attribute_case_rule() {
        assert!(is_match(r#"ims[value eq "SomeIM"]"#));
        assert!(!is_match(r#"ims[value eq "someim"]"#));
        assert!(!is_match(r#"ims.value eq "someim""#));
        assert!(!is_match(r#"ims eq "someim""#));
        assert!(is_match(r#"ims[type eq "AIM"]"#));
    }

    #[test]
    fn single_complex_attributes() {
        assert!(is_match(r#"name.givenName eq "barbara""#));
        assert!(is_match(r#"NAME.GIVENNAME sw "Bar""#));
        assert!(is_match(
            r#"name[givenName eq "Barbara" and familyName eq "JENSEN"]"#
        ));
        assert!(!is_match(r#"name eq "Barbara""#));
    }

    #[test]
    fn urn_paths_resolve_extensions_and_core() {
        assert!(is_match(&format!("{ENT}:employeeNumber eq \"E701984\"")));
        assert!(!is_match(&format!("{ENT}:employeeNumber eq \"e701984\"")));
        assert!(is_match(&format!(
            "{}:EMPLOYEENUMBER pr",
            ENT.to_uppercase()
        )));
        assert!(is_match(&format!("{ENT}:manager.value sw \"26118915\"")));
        assert!(is_match(&format!("{ENT}:manager[value pr]")));
        assert!(is_match(&format!(
            "{CORE}:userName eq \"bjensen@example.com\""
        )));
        assert!(is_match(&format!(
            "{}:name.givenName pr",
            CORE.to_lowercase()
        )));
        // Unprefixed names do not search extensions; unknown URNs find nothing.
        assert!(!is_match("employeeNumber pr"));
        assert!(!is_match("urn:x:y:employeeNumber pr"));
    }

    #[test]
    fn date_times_compare_as_instants() {
        assert!(is_match(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#));
        assert!(!is_match(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
        assert!(is_match(
            r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#
        ));
        assert!(is_match(
            r#"meta.lastModified eq "2011-05-13t04:42:34.000z""#
        ));
        // 04:56:22+02:00 is 02:56:22Z, earlier than 03:00Z though it sorts later as text.
        assert!(is_match(r#"meta.created lt "2010-01-23T03:00:00Z""#));
        // Unparseable values fall back to text order.
        assert!(is_match(r#"meta.lastModified gt "2011""#));
    }

    #[test]
    fn rfc3339_parsing() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2011-05-13T04:42:34Z"),
            Some((1_305_261_754, 0))
        );
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z"),
            Some((951_868_800, 0))
        );
        assert_eq!(
            parse_rfc3339("1900-01-01T00:00:00Z"),
            Some((-2_208_988_800, 0))
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some((-1, 0)));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00.5Z"),
            Some((0, 500_000_000))
        );
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00.1234567891Z"),
            Some((0, 123_456_789))
        );
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
        for bad in [
            "2001-02-29T00:00:00Z",
            "2011-13-01T00:00:00Z",
            "2011-05-13T24:00:00Z",
            "2011-05-13T04:42:34",
            "2011-05-13T04:42:34.Z",
            "2011-05-13T04:42:34+0200",
            "2011-05-13T04:42:34Zjunk",
            "2011-05-13",
            "２011-05-13T04:42:34Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn logical_operators_evaluate() {
        assert!(is_match(r#"not (userName eq "x") and active eq true"#));
        assert!(!is_match(r#"not (userName pr)"#));
        assert!(is_match(r#"userName eq "x" or active eq true"#));
        assert!(!is_match(r#"userName eq "x" or active eq false"#));
        assert!(is_match(
            r#"userName eq "x" or active eq false or count eq 3"#
        ));
        assert!(!is_match(
            r#"(userName eq "x" or active eq true) and count eq 4"#
        ));
    }

    #[test]
    fn odd_json_never_panics() {
        let filters = [
            r#"a eq "x""#,
            "a eq 1",
            "a pr",
            "a.b gt 2",
            r#"a[b eq "x"]"#,
            r#"a co "x""#,
            "a eq null",
        ];
        let resources = [
            json!(null),
            json!("string"),
            json!([1, 2]),
            json!({"a": [[1, 2], [3]]}),
            json!({"a": {"b": [{"c": 1}]}}),
            json!({"a": "1", "A": 1}),
            json!({"a": [null, {}, [], ""]}),
            json!({"a": {"value": {"x": 1}}}),
        ];
        for f in filters {
            let f = parse(f);
            for r in &resources {
                let _ = matches(&f, r, &TestSchema);
            }
        }
        assert!(!matches(&parse("a pr"), &json!(null), &TestSchema));
        assert!(!matches(
            &parse("a eq 1"),
            &json!({"a": [[1, 2], [3]]}),
            &TestSchema
        ));
        assert!(matches(
            &parse("a pr"),
            &json!({"a": [[1, 2], [3]]}),
            &TestSchema
        ));
        assert!(!matches(
            &parse("a pr"),
            &json!({"a": [null, {}, [], ""]}),
            &TestSchema
        ));
        assert!(matches(
            &parse("a eq null"),
            &json!({"a": [null, {}, [], ""]}),
            &TestSchema
        ));
        assert!(matches(
            &parse("a.b pr"),
            &json!({"a": {"b": [{"c": 1}]}}),
            &TestSchema
        ));
        assert!(!matches(
            &parse(r#"a[b eq "x"]"#),
            &json!({"a": "x"}),
            &TestSchema
        ));
    }

    #[test]
    fn resolve_flattens_multi_valued_attributes() {
        let user = user();
        let values = resolve(&user, &AttrPath::with_sub("emails", "value"), &TestSchema);
        assert_eq!(
            values,
            vec![&json!("bjensen@example.com"), &json!("babs@jensen.org")]
        );
        assert_eq!(resolve(&user, &path("roles"), &TestSchema).len(), 2);
        assert_eq!(
            resolve(&user, &path("Title"), &TestSchema),
            vec![&Value::Null]
        );
        assert!(resolve(&user, &path("missing"), &TestSchema).is_empty());
        let manager = urn_path(ENT, "manager", Some("value"));
        assert_eq!(
            resolve(&user, &manager, &TestSchema),
            vec![&json!("26118915-6090-4610-87e4-49d8ca9f808d")]
        );
        assert_eq!(
            resolve(
                &user,
                &urn_path(CORE, "name", Some("givenName")),
                &TestSchema
            ),
            vec![&json!("Barbara")]
        );
    }

    // ----- PATCH paths -------------------------------------------------------

    fn patch(input: &str) -> PatchPath {
        parse_patch_path(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn patch_err(input: &str) -> FilterError {
        match parse_patch_path(input) {
            Ok(p) => panic!("{input:?} should fail, parsed as {p:?}"),
            Err(e) => e,
        }
    }

    fn plain(attr: AttrPath) -> PatchPath {
        PatchPath {
            attr,
            filter: None,
            value_sub: None,
        }
    }

    #[test]
    fn patch_path_plain_attributes() {
        assert_eq!(patch("active"), plain(path("active")));
        assert_eq!(patch("emails"), plain(path("emails")));
        assert_eq!(
            patch("name.familyName"),
            plain(AttrPath::with_sub("name", "familyName"))
        );
        assert_eq!(
            patch("  name.familyName \t"),
            plain(AttrPath::with_sub("name", "familyName"))
        );
    }

    #[test]
    fn patch_path_with_filters() {
        let work = cmp("type", CompareOp::Eq, json!("work"));
        assert_eq!(
            patch(r#"emails[type eq "work"]"#),
            PatchPath {
                attr: path("emails"),
                filter: Some(work.clone()),
                value_sub: None
            }
        );
        assert_eq!(
            patch(r#" emails[type eq "work"].value "#),
            PatchPath {
                attr: path("emails"),
                filter: Some(work),
                value_sub: Some("value".to_string())
            }
        );
        assert_eq!(
            patch(r#"members[value eq "2819c223"]"#).filter,
            Some(cmp("value", CompareOp::Eq, json!("2819c223")))
        );
    }

    #[test]
    fn patch_path_urn_forms() {
        assert_eq!(
            patch(&format!("{ENT}:employeeNumber")),
            plain(urn_path(ENT, "employeeNumber", None))
        );
        assert_eq!(
            patch(&format!("{ENT}:manager")),
            plain(urn_path(ENT, "manager", None))
        );
        assert_eq!(
            patch(&format!("{ENT}:manager.value")),
            plain(urn_path(ENT, "manager", Some("value")))
        );
        assert_eq!(
            patch(&format!("{ENT}:manager[value eq \"x\"]")),
            PatchPath {
                attr: urn_path(ENT, "manager", None),
                filter: Some(cmp("value", CompareOp::Eq, json!("x"))),
                value_sub: None
            }
        );
        assert_eq!(
            patch(&format!("{CORE}:name.givenName")),
            plain(urn_path(CORE, "name", Some("givenName")))
        );
    }

    #[test]
    fn patch_path_filter_values_may_contain_delimiters() {
        assert_eq!(
            patch(r#"emails[value eq "a.b:c]d[" or display co "]."].display"#),
            PatchPath {
                attr: path("emails"),
                filter: Some(or(
                    cmp("value", CompareOp::Eq, json!("a.b:c]d[")),
                    cmp("display", CompareOp::Co, json!("]."))
                )),
                value_sub: Some("display".to_string())
            }
        );
    }

    #[test]
    fn patch_path_filter_feeds_eq_assignments() {
        let p = patch(r#"emails[type eq "work" and primary eq true]"#);
        let filter = p.filter.expect("filter");
        assert_eq!(
            eq_assignments(&filter),
            vec![
                (&path("type"), &json!("work")),
                (&path("primary"), &json!(true))
            ]
        );
    }

    #[test]
    fn patch_path_errors() {
        assert_eq!(patch_err(""), error("empty path", 0));
        assert_eq!(patch_err("   "), error("empty path", 0));
        for (bad, fragment, position) in [
            ("emails[", "found end of input", 7),
            (r#"emails[type eq "work""#, "unterminated value filter", 21),
            (
                r#"emails[type eq "work"]foo"#,
                r#"unexpected trailing input "foo" after the path"#,
                22,
            ),
            (
                r#"emails[type eq "work"] .value"#,
                "unexpected trailing input",
                23,
            ),
            (
                r#"emails[type eq "work"]]"#,
                "unexpected trailing input",
                22,
            ),
            (
                r#"emails[type eq "work"].value.x"#,
                "invalid sub-attribute",
                22,
            ),
            (r#"emails[type eq "work"]."#, "invalid sub-attribute", 22),
            ("a..b", "only one sub-attribute level", 0),
            (".a", "expected an attribute name", 0),
            ("a.b.c", "only one sub-attribute level", 0),
            ("emails value", "unexpected trailing input", 7),
            (
                r#"name.givenName[type eq "x"]"#,
                "cannot follow a sub-attribute",
                0,
            ),
            ("emails[a[b pr]]", "nested value filters", 8),
            (
                "emails[]",
                r#"expected an attribute path, "not" or "(", found "]""#,
                7,
            ),
            ("(emails)", r#"expected an attribute path, found "(""#, 0),
            (r#""emails""#, "expected an attribute path", 0),
            ("emails[type gt true]", "cannot be ordered", 15),
            ("urn:foo", "urn:<schema>:<attribute>", 0),
        ] {
            let e = patch_err(bad);
            assert!(e.message.contains(fragment), "{bad}: {e}");
            assert_eq!(e.position, position, "{bad}: {e}");
        }
    }

    #[test]
    fn patch_path_length_limit() {
        let e = patch_err(&"a".repeat(MAX_FILTER_LEN + 1));
        assert_eq!(e, error("path longer than 8192 bytes", 0));
    }
}
