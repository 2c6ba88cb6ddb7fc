//! Tokens of a filter or PATCH path, with positions for error messages.

use super::{error, FilterError, MAX_FILTER_LEN};
use crate::scim::json;
use std::borrow::Cow;

/// A token borrows its text from the input (a string literal with an
/// escape is decoded into its own).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A run of anything but whitespace, brackets and quotes: attribute paths,
    /// keywords and bare literals. Its meaning depends on where it appears.
    Word(&'a str),
    /// A JSON string literal, already decoded.
    Str(Cow<'a, str>),
}

#[derive(Debug, Clone)]
pub(super) struct Token<'a> {
    pub(super) tok: Tok<'a>,
    /// Character positions: `start` inclusive, `end` exclusive.
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Quotes `s` for an error message, escaping control characters and
/// truncating so a hostile 8 KiB token does not end up verbatim in the reply.
pub(super) fn quote(s: &str) -> String {
    json::quote(s, 40)
}

pub(super) fn describe(tok: Option<&Token<'_>>) -> String {
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

pub(super) fn check_length(input: &str, what: &str) -> Result<(), FilterError> {
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
/// Positions count characters; the text of a token is sliced from the input.
/// With the tokens, the input's length in characters.
///
/// The scan reads bytes: every byte that ends a token (whitespace, a
/// bracket, a quote, a backslash) is ASCII and never part of a longer
/// character, so byte offsets are character boundaries. They are the
/// character positions when the input is ASCII, and counted into them
/// afterwards when it is not.
pub(super) fn lex(input: &str) -> Result<(Vec<Token<'_>>, usize), FilterError> {
    let b = input.as_bytes();
    let mut toks = Vec::new();
    let mut at = 0;
    while let Some(&c) = b.get(at) {
        let from = at;
        at += 1;
        let tok = match c {
            c if c.is_ascii_whitespace() => continue,
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b'"' => {
                let mut escaped = false;
                loop {
                    let Some(&ch) = b.get(at) else {
                        return Err(error(
                            "unterminated string: missing closing '\"'",
                            char_position(input, from),
                        ));
                    };
                    at += 1;
                    if ch == b'"' && !escaped {
                        break;
                    }
                    escaped = !escaped && ch == b'\\';
                }
                let raw = &input[from..at];
                // Without an escape or a control character the literal is
                // its text (serde_json would give the same, or the error).
                let inner = &raw[1..raw.len() - 1];
                if !inner.bytes().any(|b| b == b'\\' || b < 0x20) {
                    Tok::Str(Cow::Borrowed(inner))
                } else {
                    Tok::Str(Cow::Owned(serde_json::from_str::<String>(raw).map_err(
                        |e| {
                            // serde's message ends with "at line 1 column N"; the position says that.
                            let why = e.to_string();
                            let why = why.split(" at line").next().unwrap_or_default();
                            error(
                                format!("invalid string literal: {why}"),
                                char_position(input, from),
                            )
                        },
                    )?))
                }
            }
            _ => {
                while b.get(at).is_some_and(|&ch| {
                    !ch.is_ascii_whitespace() && !matches!(ch, b'(' | b')' | b'[' | b']' | b'"')
                }) {
                    at += 1;
                }
                Tok::Word(&input[from..at])
            }
        };
        toks.push(Token {
            tok,
            start: from,
            end: at,
        });
    }
    if input.is_ascii() {
        return Ok((toks, input.len()));
    }
    // Byte offsets into character positions, counting each stretch once.
    let (mut byte, mut chars) = (0, 0);
    let mut count_to = |to: usize| {
        chars += input[byte..to].chars().count();
        byte = to;
        chars
    };
    for t in &mut toks {
        t.start = count_to(t.start);
        t.end = count_to(t.end);
    }
    Ok((toks, count_to(input.len())))
}

/// The character position of byte offset `at` (a character boundary).
fn char_position(input: &str, at: usize) -> usize {
    input[..at].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The lexer as it was before it sliced the input (it collected the
    /// input into a `Vec<char>` and each token's text from it), its tokens
    /// as [`shape`] writes them.
    fn lex_by_chars(input: &str) -> Result<Vec<(String, usize, usize)>, FilterError> {
        let chars: Vec<char> = input.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            let start = i;
            i += 1;
            let tok = match c {
                c if c.is_ascii_whitespace() => continue,
                '(' => "LParen".to_string(),
                ')' => "RParen".to_string(),
                '[' => "LBracket".to_string(),
                ']' => "RBracket".to_string(),
                '"' => {
                    let mut escaped = false;
                    loop {
                        match chars.get(i) {
                            None => return Err(error("unterminated", start)),
                            Some('"') if !escaped => break,
                            Some(&ch) => escaped = !escaped && ch == '\\',
                        }
                        i += 1;
                    }
                    i += 1;
                    let raw: String = chars.iter().skip(start).take(i - start).collect();
                    match serde_json::from_str::<String>(&raw) {
                        Ok(v) => format!("Str({v:?})"),
                        Err(_) => return Err(error("invalid", start)),
                    }
                }
                _ => {
                    while chars
                        .get(i)
                        .is_some_and(|&ch| !ch.is_ascii_whitespace() && !"()[]\"".contains(ch))
                    {
                        i += 1;
                    }
                    let word: String = chars.iter().skip(start).take(i - start).collect();
                    format!("Word({word:?})")
                }
            };
            toks.push((tok, start, i));
        }
        Ok(toks)
    }

    /// Each token as its `Debug` text, with its positions.
    fn shape(r: Result<Vec<Token<'_>>, FilterError>) -> Result<Vec<(String, usize, usize)>, usize> {
        r.map(|t| {
            t.into_iter()
                .map(|t| (format!("{:?}", t.tok), t.start, t.end))
                .collect()
        })
        .map_err(|e| e.position)
    }

    /// `lex` with its character count checked against the input's.
    fn lex_counted(s: &str) -> Result<Vec<Token<'_>>, FilterError> {
        lex(s).map(|(toks, n)| {
            assert_eq!(n, s.chars().count(), "{s:?}");
            toks
        })
    }

    proptest! {
        #[test]
        fn slicing_lexer_gives_the_same_tokens_and_positions(
            s in "([a-z.:\\[\\]()\" \\\\\t]|é|\u{1F600}|\\\\u00e9|eq|and)*"
        ) {
            prop_assert_eq!(shape(lex_counted(&s)), lex_by_chars(&s).map_err(|e| e.position));
        }
    }
}
