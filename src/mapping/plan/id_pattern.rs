//! A mapping's `id.pattern`, matched against every id a request names.

use regex::Regex;
use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::{Anchored, Input};

/// A prebuilt DFA larger than this is not kept: the pattern is matched
/// by its regex alone (a Unicode class such as `\w` or `(?i)` over
/// non-ASCII text builds into hundreds of kilobytes).
const DFA_LIMIT: usize = 64 * 1024;

/// `id.pattern`, anchored at both ends (`^(?:pattern)$`): the regex, and
/// the same pattern prebuilt at load as a dense DFA when it is small
/// enough. The regex crate's `is_match` takes a search cache from a shared
/// pool and sets up its engines for each call, about 670 instructions for
/// a Peripass id; the DFA walks the id's bytes through a table, about a
/// tenth of that. Both accept exactly the same ids (a property test holds
/// them to it); a pattern the DFA cannot express (a Unicode word
/// boundary) or that outgrows `DFA_LIMIT` keeps the regex alone.
#[derive(Debug)]
pub struct IdPattern {
    regex: Regex,
    dfa: Option<dense::DFA<Vec<u32>>>,
}

impl IdPattern {
    /// `pattern` as the mapping writes it (anchored here).
    pub fn new(pattern: &str) -> Result<IdPattern, regex::Error> {
        let anchored = format!("^(?:{pattern})$");
        let regex = Regex::new(&anchored)?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(DFA_LIMIT))
                    .determinize_size_limit(Some(DFA_LIMIT)),
            )
            .build(&anchored)
            .ok();
        Ok(IdPattern { regex, dfa })
    }

    pub fn is_match(&self, id: &str) -> bool {
        let Some(dfa) = &self.dfa else {
            return self.regex.is_match(id);
        };
        let input = Input::new(id).anchored(Anchored::Yes).earliest(true);
        match dfa.try_search_fwd(&input) {
            Ok(found) => found.is_some(),
            // A search the DFA gives up on: the regex decides.
            Err(_) => self.regex.is_match(id),
        }
    }

    /// Whether the DFA is used (tests).
    #[cfg(test)]
    fn prebuilt(&self) -> bool {
        self.dfa.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The shipped mappings' patterns, and shapes a mapping might use.
    const PATTERNS: &[&str] = &[
        "[1-9][0-9]{0,18}",
        "T-[0-9]{4,}",
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "(?i)[a-z0-9._-]+",
        "u|usr|user-[0-9]+",
        r"\d+",
        r"[^/]+",
        ".*x",
        "é+|ü?",
        r"[\w.@-]{1,64}",
        r"\bab\b",
    ];

    #[test]
    fn the_shipped_patterns_are_prebuilt() {
        for p in &PATTERNS[..4] {
            assert!(IdPattern::new(p).unwrap().prebuilt(), "{p}");
        }
        // A Unicode word boundary: the regex alone, still matching.
        let b = IdPattern::new(r"\bab\b").unwrap();
        assert!(!b.prebuilt());
        assert!(b.is_match("ab") && !b.is_match("abc"));
    }

    #[test]
    fn whole_ids_only() {
        let p = IdPattern::new("[1-9][0-9]{0,18}").unwrap();
        for (id, ok) in [
            ("1", true),
            ("1234567890123456789", true),
            ("12345678901234567890", false),
            ("01", false),
            ("1\n", false),
            ("\n1", false),
            ("1/../2", false),
            ("", false),
            ("١", false),
        ] {
            assert_eq!(p.is_match(id), ok, "{id:?}");
        }
    }

    fn compiled() -> &'static [IdPattern] {
        static ALL: std::sync::LazyLock<Vec<IdPattern>> = std::sync::LazyLock::new(|| {
            PATTERNS
                .iter()
                .map(|p| IdPattern::new(p).unwrap())
                .collect()
        });
        &ALL
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The DFA accepts exactly the ids the regex accepts.
        #[test]
        fn the_dfa_agrees_with_the_regex(
            id in "([0-9a-fA-FxTuser._/@é٣ü\n -]|\\PC){0,24}",
        ) {
            for (p, compiled) in PATTERNS.iter().zip(compiled()) {
                prop_assert_eq!(compiled.is_match(&id), compiled.regex.is_match(&id), "{} {:?}", p, id);
            }
        }
    }
}
