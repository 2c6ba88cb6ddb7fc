//! "Did you mean …?" for unknown keys and values in settings and mapping files.
//! A leaf: used by `config` and `mapping`, imports nothing of the crate.

/// Rewrites serde's "unknown field `trasforms`, expected one of `scim`, …"
/// (and "unknown variant …") into "unknown key `trasforms` — did you mean
/// `transforms`?" when one expected name is close; otherwise keeps the list.
/// Whatever follows the list (serde_yaml's "at line 5 column 7") is kept.
pub fn did_you_mean(message: &str) -> String {
    for (marker, noun) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        let Some(start) = message.find(marker) else {
            continue;
        };
        let after = &message[start + marker.len()..];
        let Some(end) = after.find('`') else {
            continue;
        };
        let unknown = &after[..end];
        let rest = &after[end + 1..];
        let Some(list) = rest.strip_prefix(", expected ") else {
            continue;
        };
        let list_body = list.strip_prefix("one of ").unwrap_or(list);
        let (expected, tail) = backticked_list(list_body);
        if expected.is_empty() {
            continue;
        }
        let head = &message[..start];
        let best = expected
            .iter()
            .map(|e| (closeness(unknown, e), e))
            .min_by_key(|(d, _)| *d)
            .filter(|(d, e)| *d <= 2.max(e.chars().count() / 3));
        let listed = expected
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return match best {
            Some((_, e)) => format!("{head}unknown {noun} `{unknown}` — did you mean `{e}`?{tail}"),
            None => format!("{head}unknown {noun} `{unknown}` (expected one of {listed}){tail}"),
        };
    }
    message.to_string()
}

/// The name of `expected` closest to `unknown`, when close enough to be the
/// intended one (the rule `did_you_mean` applies).
pub fn closest<'a>(unknown: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|e| (closeness(unknown, e), *e))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, e)| *d <= 2.max(e.chars().count() / 3))
        .map(|(_, e)| e)
}

/// "`a`, `b` or `c` at line 3" → (["a", "b", "c"], " at line 3").
fn backticked_list(text: &str) -> (Vec<&str>, &str) {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(body) = rest.strip_prefix('`') {
        let Some(end) = body.find('`') else {
            break;
        };
        names.push(&body[..end]);
        rest = &body[end + 1..];
        match [", ", " or "].iter().find_map(|sep| rest.strip_prefix(sep)) {
            Some(next) if next.starts_with('`') => rest = next,
            _ => break,
        }
    }
    (names, rest)
}

/// Edit distance ignoring case; a name that extends an expected one
/// (`listen_addr` for `listen`) counts as one edit.
fn closeness(unknown: &str, expected: &str) -> usize {
    let (u, e) = (unknown.to_lowercase(), expected.to_lowercase());
    let d = edit_distance(&u, &e);
    if e.chars().count() >= 4 && (u.starts_with(&e) || e.starts_with(&u)) {
        d.min(1)
    } else {
        d
    }
}

/// Levenshtein distance (characters, not bytes).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("trasforms", "transforms"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn unknown_key_far_from_every_name_lists_them() {
        let m = did_you_mean(
            "resources.User: unknown field `zzzzzzzz`, expected one of `endpoint`, `schema`, `id` at line 9 column 5",
        );
        assert_eq!(
            m,
            "resources.User: unknown key `zzzzzzzz` (expected one of `endpoint`, `schema`, `id`) at line 9 column 5"
        );
        let m = did_you_mean("unknown field `fild`, expected `field` or `read`");
        assert_eq!(m, "unknown key `fild` — did you mean `field`?");
        let m = did_you_mean("unknown variant `bearr`, expected one of `header`, `basic`, `bearer`, `none` at line 3 column 9");
        assert_eq!(
            m,
            "unknown value `bearr` — did you mean `bearer`? at line 3 column 9"
        );
        assert_eq!(did_you_mean("missing field `scim`"), "missing field `scim`");
    }
}
