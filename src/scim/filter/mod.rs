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
//! Evaluation ([`matches()`]) follows the RFC's loose typing: case-insensitive
//! attribute names, case-insensitive strings unless the schema says
//! `caseExact`, "any element matches" for multi-valued attributes, and a few
//! coercions real clients rely on (`"True"` strings as booleans, numeric
//! strings for integer attributes, RFC 3339 instants for dateTime).

use crate::scim::attr::AttrPath;
use serde_json::Value;
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

mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

#[cfg(test)]
use eval::parse_rfc3339;
pub use eval::{check_types, eq_text, eq_value, matches, resolve};
pub use parser::{parse_filter, parse_patch_path, parse_tokens};

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
