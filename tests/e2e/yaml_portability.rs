//! Mapping files mean the same to YAML 1.1 tools (PyYAML, Go's yaml.v2,
//! several editors) as to the bridge: no key of the mapping language is a
//! YAML 1.1 boolean word, and the shipped files hold no unquoted scalar that
//! a YAML 1.1 parser reads differently.
use crate::support::repo_path;
use serde_json::Value;

/// Plain scalars YAML 1.1 reads as booleans (`true`/`false` included: as
/// keys they would be booleans for every YAML version).
const BOOL_WORDS: &[&str] = &["y", "yes", "n", "no", "on", "off", "true", "false"];

fn is_bool_word(s: &str) -> bool {
    BOOL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// Every property name anywhere in a JSON Schema.
fn property_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(props)) = m.get("properties") {
                out.extend(props.keys().cloned());
            }
            for x in m.values() {
                property_names(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| property_names(x, out)),
        _ => {}
    }
}

#[test]
fn no_mapping_key_is_a_yaml_1_1_boolean_word() {
    let schema = scim_bridge::mapping::model::json_schema();
    let mut names = Vec::new();
    property_names(&schema, &mut names);
    assert!(names.len() > 40, "{names:?}");
    assert!(names.iter().any(|n| n == "when"), "{names:?}");
    let bad: Vec<&String> = names.iter().filter(|n| is_bool_word(n)).collect();
    assert!(bad.is_empty(), "keys YAML 1.1 reads as booleans: {bad:?}");
    // The committed schema is the generated one (checked elsewhere); walk it too.
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("config/mapping.schema.json")).unwrap(),
    )
    .unwrap();
    let mut names = Vec::new();
    property_names(&committed, &mut names);
    assert!(!names.iter().any(|n| is_bool_word(n)), "{names:?}");
}

/// The plain (unquoted) scalars of a YAML text, comments and quoted strings
/// left out: keys and values of block and flow style alike.
fn plain_scalars(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut block_scalar_indent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(i) = block_scalar_indent {
            if line.trim().is_empty() || indent > i {
                continue; // inside a `|` or `>` block: text, not scalars
            }
            block_scalar_indent = None;
        }
        let mut cur = String::new();
        let mut chars = line.chars().peekable();
        let mut prev_blank = true;
        let flush = |cur: &mut String, out: &mut Vec<(usize, String)>| {
            let t = cur.trim().trim_end_matches(':').trim().to_string();
            if !t.is_empty() {
                out.push((n + 1, t));
            }
            cur.clear();
        };
        while let Some(c) = chars.next() {
            match c {
                '#' if prev_blank => break,
                '"' | '\'' if cur.trim().is_empty() => {
                    // A quoted scalar: skip to its closing quote.
                    let mut esc = false;
                    for d in chars.by_ref() {
                        if c == '"' && d == '\\' && !esc {
                            esc = true;
                            continue;
                        }
                        if d == c && !esc {
                            break;
                        }
                        esc = false;
                    }
                    cur.clear();
                }
                '{' | '}' | '[' | ']' | ',' => flush(&mut cur, &mut out),
                ':' if chars.peek().is_none_or(|x| x.is_whitespace()) => flush(&mut cur, &mut out),
                '-' if cur.trim().is_empty() && chars.peek().is_none_or(|x| x.is_whitespace()) => {}
                _ => cur.push(c),
            }
            prev_blank = c.is_whitespace();
        }
        let t = cur.trim();
        if t == "|" || t == ">" || t.starts_with("|-") || t.starts_with(">-") {
            block_scalar_indent = Some(indent);
            cur.clear();
        }
        flush(&mut cur, &mut out);
    }
    out
}

/// Would a YAML 1.1 parser read this plain scalar as something other than
/// what the bridge (YAML 1.2 core schema) reads?
fn differs_in_yaml_1_1(s: &str) -> bool {
    let bool_1_1 = ["y", "yes", "n", "no", "on", "off"]
        .iter()
        .any(|w| w.eq_ignore_ascii_case(s));
    // 1.1 octal (`0755`), binary (`0b1`), sexagesimal (`1:30`), `_` in numbers.
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    let octal = s.len() > 1 && s.starts_with('0') && digits(&s[1..]);
    let binary = s.starts_with("0b") && s.len() > 2;
    let sexagesimal = s.contains(':') && s.split(':').all(digits) && !s.starts_with(':');
    let underscored = s.contains('_')
        && s.replace('_', "").parse::<f64>().is_ok()
        && s.chars().next().is_some_and(|c| c.is_ascii_digit());
    bool_1_1 || octal || binary || sexagesimal || underscored
}

fn shipped_mappings() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["config/mappings", "tests/fixtures"] {
        for e in std::fs::read_dir(repo_path(dir)).unwrap().flatten() {
            let p = e.path();
            if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    // The mapping embedded in the Kubernetes ConfigMap, and the ConfigMap itself.
    let cm = std::fs::read_to_string(repo_path("deploy/k8s/configmap.yaml")).unwrap();
    for (i, doc) in cm.split("\n---").enumerate() {
        let v: Value = serde_yaml_ng::from_str(doc).unwrap_or(Value::Null);
        if let Some(Value::Object(data)) = v.get("data") {
            for (k, text) in data {
                if k.ends_with(".yaml") {
                    out.push((format!("configmap {k}"), text.as_str().unwrap().to_string()));
                }
            }
        }
        out.push((
            format!("deploy/k8s/configmap.yaml document {i}"),
            doc.to_string(),
        ));
    }
    out
}

#[test]
fn scanner_finds_what_yaml_1_1_reads_differently() {
    let text = "a: { b: on, 'c': \"off\" }\nd: [x, yes]\n# on: comment\ne: |\n  on\nf: 0755 # mode\ng: 'no'\n";
    let bad: Vec<String> = plain_scalars(text)
        .into_iter()
        .filter(|(_, s)| differs_in_yaml_1_1(s))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(bad, vec!["on", "yes", "0755"]);
    assert!(plain_scalars("when: create\n")
        .iter()
        .any(|(_, s)| s == "when"));
}

#[test]
fn shipped_mappings_parse_identically_with_yaml_1_1() {
    let files = shipped_mappings();
    assert!(
        files.len() >= 3,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, text) in &files {
        let scalars = plain_scalars(text);
        assert!(scalars.len() > 10, "{name}: {scalars:?}");
        let bad: Vec<&(usize, String)> = scalars
            .iter()
            .filter(|(_, s)| differs_in_yaml_1_1(s))
            .collect();
        assert!(
            bad.is_empty(),
            "{name}: plain scalars a YAML 1.1 parser reads differently (line, text): {bad:?}"
        );
    }
    // Where Python's PyYAML (a YAML 1.1 parser) is installed, compare the
    // parsed documents too.
    for (name, text) in &files {
        let child = std::process::Command::new("python3")
            .args([
                "-c",
                "import yaml, json, sys; print(json.dumps(yaml.safe_load(sys.stdin.read())))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            return; // no python3 here: the scan above is the check
        };
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            // No PyYAML here: the scan above is the check.
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("No module named"),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ours: Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(theirs, ours, "{name}: YAML 1.1 reads it differently");
    }
}
