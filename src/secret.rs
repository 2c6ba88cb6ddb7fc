//! `Secret`: a string that never prints.

use std::fmt;

/// Tokens, API keys and passwords. `Debug`/`Display` print `***`, so a secret
/// cannot reach a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The only way to read the value; grep for it when auditing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this secret, in a time that depends on the
    /// lengths only, never on where the two first differ.
    pub fn matches(&self, given: &[u8]) -> subtle::Choice {
        ct_eq_words(self.0.as_bytes(), given)
    }
}

/// `a == b` in constant time (for equal lengths): subtle's comparison eight
/// bytes at a time. Byte by byte, a 40-byte bearer token cost about 600
/// instructions on every request.
fn ct_eq_words(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    if a.len() != b.len() {
        return subtle::Choice::from(0);
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut eq = subtle::Choice::from(1);
    for (x, y) in (&mut a8).zip(&mut b8) {
        eq &= word(x).ct_eq(&word(y));
    }
    eq & a8.remainder().ct_eq(b8.remainder())
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `scheme://user:password@host/…` → `scheme://***@host/…` (credentials in a
/// URL never reach `explain`'s output or a message). A value that is not a
/// well-formed URL (`http//user:pw@host`, `user:pw@host`) loses everything
/// before its last `@`: where its credentials end cannot be told.
pub fn mask_userinfo(url: &str) -> String {
    let Some(s) = url.find("://") else {
        return match url.rfind('@') {
            Some(at) => format!("***@{}", &url[at + 1..]),
            None => url.to_string(),
        };
    };
    let authority_end = url[s + 3..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| s + 3 + i);
    match url[s + 3..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..s + 3], &url[s + 3 + at + 1..]),
        None => url.to_string(),
    }
}

/// A parser's error message (TOML syntax, serde type errors of a settings or
/// mapping file) without any value of the file: source excerpts (`3 | …`
/// and the caret line) are dropped, quoted strings and the numbers, booleans
/// and characters serde quotes are replaced by `(value not shown)`, and the
/// file path the `config` crate appends (` in …`) is removed (the caller
/// names the file). Kept: line and column, key names, the expected type or
/// token (`expected `,``), unknown key names and enum variants.
pub fn redact_parse_error(message: &str) -> String {
    let mut kept = Vec::new();
    for line in message.lines() {
        let t = line.trim_start();
        // TOML source excerpts: "  |", "3 | text", "  |    ^".
        let after_digits = t.trim_start_matches(|c: char| c.is_ascii_digit());
        if after_digits.trim_start().starts_with('|') {
            continue;
        }
        if t.starts_with("in ") && line.starts_with(' ') {
            continue;
        }
        kept.push(redact_line(line));
    }
    let text = kept
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    // `config` appends " in <path>" to type errors.
    match text.rfind(" in ") {
        Some(i) if text[i + 4..].contains(['/', '\\']) || text[i + 4..].ends_with(".toml") => {
            text[..i].to_string()
        }
        _ => text,
    }
}

const HIDDEN: &str = "(value not shown)";

fn redact_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                // A quoted value (serde prints strings with escapes): skip to its end.
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
                out.push_str(HIDDEN);
            }
            '`' => {
                let rest = &line[i + 1..];
                let Some(end) = rest.find('`') else {
                    out.push(c);
                    continue;
                };
                let inner = &rest[..end];
                let before = line[..i].trim_end();
                let is_value = ["integer", "point", "character", "boolean", "byte"]
                    .iter()
                    .any(|w| before.ends_with(w));
                // Punctuation the TOML grammar expected (`,` `=` `]`) and
                // names (keys, enum variants) are kept; scalars serde quotes are values.
                if is_value {
                    out.push_str(HIDDEN);
                } else {
                    out.push('`');
                    out.push_str(inner);
                    out.push('`');
                }
                for _ in 0..=inner.chars().count() {
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{ct_eq_words, mask_userinfo, redact_parse_error, Secret};
    use proptest::prelude::*;

    proptest! {
        /// Equal to `==` on any pair, on a slice and itself, and on a
        /// slice with one byte changed (wherever it is).
        #[test]
        fn word_wise_comparison_is_equality(
            a in proptest::collection::vec(any::<u8>(), 0..80),
            b in proptest::collection::vec(any::<u8>(), 0..80),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            prop_assert_eq!(bool::from(ct_eq_words(&a, &b)), a == b);
            prop_assert!(bool::from(ct_eq_words(&a, &a)));
            if !a.is_empty() {
                let mut c = a.clone();
                c[at.index(a.len())] ^= flip;
                prop_assert!(!bool::from(ct_eq_words(&a, &c)));
            }
        }
    }

    #[test]
    fn a_secret_matches_itself_only() {
        let s = Secret::new("0123456789abcdef0123456789abcdef01234567");
        assert!(bool::from(s.matches(s.expose().as_bytes())));
        assert!(!bool::from(
            s.matches(b"0123456789abcdef0123456789abcdef0123456")
        ));
        assert!(!bool::from(
            s.matches(b"0123456789abcdef0123456789abcdef01234568")
        ));
        assert!(!bool::from(s.matches(b"")));
    }

    #[test]
    fn userinfo_is_masked() {
        assert_eq!(
            mask_userinfo("https://bob:pw@api.example.com/x?a=b@c"),
            "https://***@api.example.com/x?a=b@c"
        );
        assert_eq!(mask_userinfo("http://h:1/p@q"), "http://h:1/p@q");
        assert_eq!(mask_userinfo("no url"), "no url");
        // Malformed: the secret goes all the same.
        for bad in [
            "http//svc:PW@peripass.internal",
            "http:/svc:PW@peripass.internal",
            "svc:PW@peripass.internal/x",
        ] {
            let shown = mask_userinfo(bad);
            assert!(!shown.contains("PW"), "{bad} -> {shown}");
            assert!(
                shown.starts_with("***@peripass.internal"),
                "{bad} -> {shown}"
            );
        }
    }

    #[test]
    fn parse_errors_lose_every_value() {
        let toml = "TOML parse error at line 3, column 58\n  |\n3 | bearer_tokens = [\"Sup3r-Secret\" \"New-Rotated\"]\n  |                                                          ^\nmissing comma between array elements, expected `,`\n in ../../tmp/x/s.toml";
        assert_eq!(
            redact_parse_error(toml),
            "TOML parse error at line 3, column 58: missing comma between array elements, expected `,`"
        );
        let serde = "invalid type: string \"Sup3r-\\\"Secret\", expected a sequence for key `auth.bearer_tokens` in ../../tmp/x/s.toml";
        assert_eq!(
            redact_parse_error(serde),
            "invalid type: string (value not shown), expected a sequence for key `auth.bearer_tokens`"
        );
        let int = "invalid type: 64-bit integer `-5`, expected an unsigned 64 bit or less integer for key `server.max_body_bytes`";
        assert!(!redact_parse_error(int).contains("-5"));
        let yaml =
            "resources.User: unknown key `feild` — did you mean `field`? at line 14 column 27";
        assert_eq!(redact_parse_error(yaml), yaml);
        let yaml = "resources.User.id: invalid type: string \"sk-live-123\", expected a map at line 3 column 5";
        let r = redact_parse_error(yaml);
        assert!(
            !r.contains("sk-live") && r.contains("line 3 column 5"),
            "{r}"
        );
    }
}
