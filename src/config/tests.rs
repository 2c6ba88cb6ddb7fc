use super::*;

fn env(pairs: &[(&str, &str)]) -> EnvMap {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn expands_references_with_defaults() {
    let e = env(&[("A", "x"), ("EMPTY", "")]);
    assert_eq!(expand_env("${A}-${B:-d}", &e).unwrap(), "x-d");
    assert_eq!(expand_env("$${A} $5", &e).unwrap(), "${A} $5");
    assert_eq!(expand_env("${EMPTY:-fallback}", &e).unwrap(), "fallback");
    let err = expand_env("${MISSING}", &e).unwrap_err();
    assert_eq!(err, "environment variable MISSING is not set");
    let err = expand_env("${EMPTY}", &e).unwrap_err();
    assert_eq!(err, "environment variable EMPTY is empty");
    // A value is never expanded again, and an invalid reference is not echoed.
    let e2 = env(&[("S", "a${B}$$c")]);
    assert_eq!(expand_env("${S}", &e2).unwrap(), "a${B}$$c");
    let err = expand_env("x${not-a-name}", &e).unwrap_err();
    assert!(!err.contains("not-a-name"), "{err}");
    assert!(expand_env("${A", &e).is_err());
    assert!(expand_env("${a b}", &e).is_err());
}

fn write_settings(body: &str) -> (tempdir::Dir, PathBuf) {
    let d = tempdir::Dir::new();
    let p = d.path.join("s.toml");
    std::fs::write(&p, body).unwrap();
    (d, p)
}

#[test]
fn env_overrides_and_relative_paths() {
    let (_d, p) = write_settings(
        "mappings = [\"m/x.yaml\"]\n[auth]\nbearer_tokens = [\"${TOK:-abcdefghij}\"]\ninsecure_allow_weak_tokens = true\n[server]\nlisten = \"127.0.0.1:9\"\n",
    );
    let s = Settings::load(
        &p,
        env(&[
            ("SCIM_BRIDGE__SERVER__LISTEN", "127.0.0.1:7777"),
            ("TOK", "secret-token-1"),
        ]),
    )
    .unwrap();
    assert_eq!(s.listen.port(), 7777);
    assert_eq!(s.mappings[0], p.parent().unwrap().join("m/x.yaml"));
    assert_eq!(s.bearer_tokens[0].expose(), "secret-token-1");
    assert_eq!(s.base_path, "/scim/v2");
    assert_eq!(s.max_body_bytes, defaults::MAX_BODY_BYTES);
}

#[test]
fn errors_name_file_key_and_value_without_secrets() {
    let (_d, p) = write_settings("mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"short\"]\n");
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(
        e.contains("s.toml") && e.contains("auth.bearer_tokens[0]"),
        "{e}"
    );
    assert!(!e.contains("short"), "{e}");
    let (_d, p) = write_settings("mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\ninsecure_allow_weak_tokens = true\n[server]\nlisten = \"nowhere\"\n");
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(
        e.contains("server.listen") && e.contains("\"nowhere\""),
        "{e}"
    );
    let (_d, p) = write_settings("mappings = [\"x.yaml\"]\nbogus = 1\n");
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(e.contains("bogus"), "{e}");
}

/// `backend.base_url` with a fragment (dropped by the URI parser, so every
/// call would go to the base itself) or with credentials (never sent) is
/// refused, naming the key, without the password.
#[test]
fn base_url_fragment_and_credentials_are_refused() {
    for (url, says) in [
        ("http://h.example/api#x", "fragment"),
        ("http://svc:LEAKME-base@h.example/api", "credentials"),
        ("http://h.example/api?k=v", "query"),
    ] {
        let (_d, p) = write_settings(&format!(
            "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\ninsecure_allow_weak_tokens = true\n[backend]\nbase_url = \"{url}\"\n"
        ));
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("backend.base_url") && e.contains(says),
            "{url}: {e}"
        );
        assert!(!e.contains("LEAKME"), "{url}: {e}");
    }
    assert_eq!(
        super::check_base_url("http://h.example/api/").as_deref(),
        Ok("http://h.example/api")
    );
}

/// `auth.jwt.jwks_url` errors quote the URL without its user:password@,
/// well formed or not.
#[test]
fn jwks_url_errors_mask_credentials() {
    for url in [
        "http://u:LEAKME-jwks@example.com/keys",
        "ftp://u:LEAKME-jwks@example.com/keys",
        "https//u:LEAKME-jwks@example.com/keys",
        "u:LEAKME-jwks@example.com",
    ] {
        let (_d, p) = write_settings(&format!(
            "mappings = [\"x.yaml\"]\n[auth.jwt]\nissuer = \"https://i/\"\naudience = \"x\"\njwks_url = \"{url}\"\n"
        ));
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(e.contains("auth.jwt.jwks_url"), "{url}: {e}");
        assert!(!e.contains("LEAKME"), "{url}: {e}");
        assert!(e.contains("example.com"), "{url}: {e}");
    }
}

#[test]
fn unknown_settings_key_gets_a_suggestion() {
    let (_d, p) = write_settings(
        "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\ninsecure_allow_weak_tokens = true\n[server]\nlisten_addr = \"127.0.0.1:1\"\n",
    );
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(
        e.contains("unknown key `listen_addr` — did you mean `listen`?"),
        "{e}"
    );
    let (_d, p) = write_settings("mapings = [\"x.yaml\"]\n");
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(
        e.contains("unknown key `mapings` — did you mean `mappings`?"),
        "{e}"
    );
}

#[test]
fn backend_limits_have_defaults_and_are_validated() {
    let (_d, p) =
        write_settings("mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\ninsecure_allow_weak_tokens = true\n");
    let s = Settings::load(&p, env(&[])).unwrap();
    assert_eq!(s.backend_limits, BackendLimits::default());
    assert_eq!(s.backend_limits.max_rps, 100);
    assert_eq!(s.backend_probe_interval, Some(Duration::from_secs(5)));
    assert_eq!(s.backend_limits.pool_idle_timeout, Duration::from_secs(4));
    let (_d, p) = write_settings(
        "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\ninsecure_allow_weak_tokens = true\n[backend]\nmax_concurrency = 0\n",
    );
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(e.contains("backend.max_concurrency"), "{e}");
    let s = Settings::load(
        &p,
        env(&[
            ("SCIM_BRIDGE__BACKEND__MAX_CONCURRENCY", "4"),
            ("SCIM_BRIDGE__BACKEND__MAX_RPS", "0"),
            ("SCIM_BRIDGE__BACKEND__QUEUE_TIMEOUT_MS", "250"),
            ("SCIM_BRIDGE__BACKEND__POOL_IDLE_TIMEOUT_MS", "0"),
        ]),
    )
    .unwrap();
    assert_eq!(s.backend_limits.pool_idle_timeout, Duration::ZERO);
    assert_eq!(s.backend_limits.max_concurrency, 4);
    assert_eq!(s.backend_limits.max_rps, 0);
    assert_eq!(s.backend_limits.queue_timeout, Duration::from_millis(250));
}

#[test]
fn every_settings_error_is_reported_at_once() {
    let (_d, p) = write_settings(
        "mappings = []\n[auth]\nbearer_tokens = [\"short\"]\n[server]\nlisten = \"nowhere\"\nmax_headers = 1\n[log]\nformat = \"xml\"\n[tls]\ncert_file = \"missing.crt\"\n",
    );
    let e = Settings::load(&p, env(&[])).unwrap_err();
    let ConfigError::Several(all) = &e else {
        panic!("one error only: {e}");
    };
    let text = e.to_string();
    for key in [
        "server.listen",
        "auth.bearer_tokens[0]",
        "server.max_headers",
        "tls.key_file: required",
        "mappings",
        "log.format",
    ] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }
    assert_eq!(all.len(), text.lines().count(), "{text}");
    assert!(!text.contains("short"), "{text}");
}

fn settings_with_token(token_line: &str, extra: &str) -> (tempdir::Dir, PathBuf) {
    write_settings(&format!(
        "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [{token_line}]\n{extra}"
    ))
}

#[test]
fn weak_tokens_are_refused_naming_the_variable() {
    let strong = "Zq3xV9pL2mT8rW4yB6nC1dF5gH7jK0sA-uE"; // built below, never a literal token
    let strong: String = strong.chars().rev().collect();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        ("\"${SCIM_BRIDGE_TOKEN}\"", &[], "SCIM_BRIDGE_TOKEN is not set"),
        ("\"${SCIM_BRIDGE_TOKEN}\"", &[("SCIM_BRIDGE_TOKEN", "")], "SCIM_BRIDGE_TOKEN is empty"),
        ("\"${SCIM_BRIDGE_TOKEN}\"", &[("SCIM_BRIDGE_TOKEN", "scim-demo-token")], "at least 32 characters (this one has 15); generate one with `openssl rand -base64 32` (from SCIM_BRIDGE_TOKEN)"),
        ("\"Sup3r-Secret-token-0123456789-abcdefghij\"", &[], "published in the scim-bridge repository"),
        ("\"   \"", &[], "must not be empty"),
    ];
    for (line, pairs, want) in cases {
        let (_d, p) = settings_with_token(line, "");
        let e = Settings::load(&p, env(pairs)).unwrap_err().to_string();
        assert!(
            e.contains("auth.bearer_tokens[0]") && e.contains(want),
            "{line}: {e}"
        );
        assert!(
            !e.contains("scim-demo-token") && !e.contains("Sup3r"),
            "{e}"
        );
    }
    // A strong token of one's own is fine, from the environment or a file.
    let (d, p) = settings_with_token("\"${SCIM_BRIDGE_TOKEN}\"", "");
    let s = Settings::load(&p, env(&[("SCIM_BRIDGE_TOKEN", &strong)])).unwrap();
    assert_eq!(s.bearer_tokens[0].expose(), strong);
    let secret = d.path.join("token");
    std::fs::write(&secret, format!("{strong}\n")).unwrap();
    let (_d2, p) = settings_with_token(&format!("\"${{file:{}}}\"", secret.display()), "");
    let s = Settings::load(&p, env(&[])).unwrap();
    assert_eq!(
        s.bearer_tokens[0].expose(),
        strong,
        "one trailing newline removed"
    );
    // The demo's explicit allowance: weak tokens on loopback only, never empty ones.
    let allow = "insecure_allow_weak_tokens = true\n";
    let (_d, p) = settings_with_token("\"scim-demo-token\"", allow);
    assert!(
        Settings::load(&p, env(&[]))
            .unwrap()
            .insecure_allow_weak_tokens
    );
    let (_d, p) = settings_with_token("\"\"", allow);
    assert!(Settings::load(&p, env(&[])).is_err());
    let (_d, p) = settings_with_token("\"scim-demo-token\"", allow);
    let e = Settings::load(&p, env(&[("SCIM_BRIDGE__SERVER__LISTEN", "0.0.0.0:8080")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("auth.insecure_allow_weak_tokens: only allowed with a loopback"),
        "{e}"
    );
}

#[test]
fn secret_files_errors_never_show_content() {
    let d = tempdir::Dir::new();
    let empty = d.path.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let e = expand_env(&format!("${{file:{}}}", empty.display()), &None).unwrap_err();
    assert!(e.contains("is empty") && e.contains("empty"), "{e}");
    let missing = d.path.join("missing");
    let e = expand_env(&format!("${{file:{}}}", missing.display()), &None).unwrap_err();
    assert!(
        e.contains("cannot read secret file") && e.contains("missing"),
        "{e}"
    );
    let e = expand_env("${file:relative/path}", &None).unwrap_err();
    assert!(e.contains("must be absolute"), "{e}");
    let binary = d.path.join("bin");
    std::fs::write(&binary, [0xffu8, 0xfe, b'S', b'e', b'c']).unwrap();
    let e = expand_env(&format!("${{file:{}}}", binary.display()), &None).unwrap_err();
    assert!(e.contains("not UTF-8") && !e.contains("Sec"), "{e}");
    // Only a regular file of a bounded size: /dev/zero never ends, and a
    // FIFO would block the load (fuzz review F2).
    let e = expand_env("${file:/dev/zero}", &None).unwrap_err();
    assert!(e.contains("not a regular file"), "{e}");
    let big = d.path.join("big");
    std::fs::write(&big, "x".repeat(MAX_SECRET_FILE_BYTES as usize + 1)).unwrap();
    let e = expand_env(&format!("${{file:{}}}", big.display()), &None).unwrap_err();
    assert!(
        e.contains("larger than 64 KiB") && !e.contains("xxx"),
        "{e}"
    );
    let fits = d.path.join("fits");
    std::fs::write(&fits, "y".repeat(MAX_SECRET_FILE_BYTES as usize)).unwrap();
    assert!(expand_env(&format!("${{file:{}}}", fits.display()), &None).is_ok());
}

#[test]
fn parse_errors_name_the_line_not_the_values() {
    for body in [
        "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"Sup3r-Secret-token-0123456789-abcdefghij\" \"New-Rotated-token-0123456789-abcdefghijk\"]\n",
        "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = \"Sup3r-Secret-token-0123456789-abcdefghij\"\n",
    ] {
        let (_d, p) = write_settings(body);
        let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
        assert!(e.contains("s.toml"), "{e}");
        assert!(!e.contains("Sup3r") && !e.contains("New-Rotated"), "{e}");
        assert!(e.contains("line 3") || e.contains("auth.bearer_tokens"), "{e}");
    }
}

#[test]
fn membership_deadline_has_a_default_is_validated_and_reloads() {
    let base = "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\ninsecure_allow_weak_tokens = true\n";
    let (_d, p) = write_settings(base);
    let running = Settings::load(&p, env(&[])).unwrap();
    assert_eq!(running.membership_deadline, Duration::from_secs(120));
    let key = "SCIM_BRIDGE__SERVER__MEMBERSHIP_DEADLINE_MS";
    let mut new = Settings::load(&p, env(&[(key, "1500")])).unwrap();
    assert_eq!(new.membership_deadline, Duration::from_millis(1500));
    // Read by each membership PATCH as it starts: a reload applies it.
    assert!(new.keep_restart_only(&running).is_empty());
    assert_eq!(new.membership_deadline, Duration::from_millis(1500));
    for bad in ["0", "3600001"] {
        let e = Settings::load(&p, env(&[(key, bad)]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server.membership_deadline_ms") && e.contains(bad),
            "{e}"
        );
    }
}

#[test]
fn shutdown_timeout_has_a_default_and_is_validated() {
    let base = "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\ninsecure_allow_weak_tokens = true\n";
    let (_d, p) = write_settings(base);
    let running = Settings::load(&p, env(&[])).unwrap();
    assert_eq!(running.shutdown_timeout, Duration::from_secs(25));
    let key = "SCIM_BRIDGE__SERVER__SHUTDOWN_TIMEOUT_MS";
    let new = Settings::load(&p, env(&[(key, "5000")])).unwrap();
    assert_eq!(new.shutdown_timeout, Duration::from_secs(5));
    for bad in ["999", "3600001"] {
        let e = Settings::load(&p, env(&[(key, bad)]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server.shutdown_timeout_ms") && e.contains(bad),
            "{e}"
        );
    }
}

#[test]
fn restart_only_keys_keep_their_running_value() {
    let (_d, p) = write_settings(
        "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\ninsecure_allow_weak_tokens = true\n",
    );
    let running = Settings::load(&p, env(&[])).unwrap();
    let mut same = running.clone();
    assert!(same.keep_restart_only(&running).is_empty());
    let mut new = Settings::load(
        &p,
        env(&[
            ("SCIM_BRIDGE__SERVER__LISTEN", "127.0.0.1:9999"),
            ("SCIM_BRIDGE__SERVER__MAX_CONCURRENT_REQUESTS", "7"),
            ("SCIM_BRIDGE__SCIM__MAX_COUNT", "5"),
        ]),
    )
    .unwrap();
    let changed = new.keep_restart_only(&running);
    assert_eq!(changed, ["server.listen", "server.max_concurrent_requests"]);
    assert_eq!(new.listen, running.listen);
    assert_eq!(new.max_concurrent_requests, running.max_concurrent_requests);
    assert_eq!(new.max_count, 5, "other keys apply");
}

/// Every bearer token written in this repository (settings, docs, examples,
/// tests) that is long enough to pass the length check must be listed in
/// `defaults::PUBLISHED_TOKENS`, so `serve` refuses it.
#[test]
fn every_published_token_is_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let patterns = [
        r#"bearer_tokens\s*=\s*\[([^\]]*)\]"#,
        r#"Bearer ([A-Za-z0-9._~+/=-]{8,})"#,
        r#"const [A-Z_]*TOKEN: &str = "([^"]+)""#,
        r#"SCIM_BRIDGE_TOKEN[=:]\s*'?([A-Za-z0-9._~+/=-]{8,})"#,
        r#""SCIM_BRIDGE_TOKEN"\.into\(\),\s*"([^"]+)""#,
    ]
    .map(|p| regex::Regex::new(p).unwrap());
    let quoted = regex::Regex::new(r#"\\?"([^"\\]+)\\?""#).unwrap();
    let mut files = vec![root.join("README.md")];
    let mut dirs: Vec<PathBuf> = [
        "config",
        "deploy",
        "docs",
        "examples",
        "tests",
        "src",
        "fuzz/fuzz_targets",
        "fuzz/src",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let mut unlisted = Vec::new();
    let mut seen = 0;
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for re in &patterns {
            for cap in re.captures_iter(&text) {
                let found = &cap[1];
                let values: Vec<String> = if found.contains('"') {
                    quoted
                        .captures_iter(found)
                        .map(|c| c[1].to_string())
                        .collect()
                } else {
                    vec![found.to_string()]
                };
                for v in values {
                    seen += 1;
                    if v.contains(['$', '{', '<', '…'])
                        || v.chars().count() < defaults::MIN_TOKEN_LEN
                    {
                        continue;
                    }
                    if !defaults::PUBLISHED_TOKENS.contains(&v.as_str()) {
                        unlisted.push(format!("{}: {v}", f.display()));
                    }
                }
            }
        }
    }
    assert!(seen > 10, "the scan found only {seen} tokens");
    assert!(
        unlisted.is_empty(),
        "add to defaults::PUBLISHED_TOKENS:\n{}",
        unlisted.join("\n")
    );
}

/// A throwaway folder removed on drop (no extra crate for two tests).
mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> Dir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "scim-bridge-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[test]
fn oauth_and_audit_sections() {
    let (_d, p) = write_settings(
        "mappings = [\"m.yaml\"]\n[auth.oauth]\nsigning_keys = [\"${K}\"]\n[[auth.oauth.clients]]\nid = \"c\"\nsecrets = [\"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\", \"plain-secret-0123456789\"]\n[audit]\nfile = \"a/audit.jsonl\"\non_failure = \"refuse_writes\"\n",
    );
    let s = Settings::load(&p, env(&[("K", "k-0123456789-0123456789-0123456789")])).unwrap();
    let o = s.oauth.unwrap();
    assert_eq!(o.token_path, "/scim/v2/oauth2/token");
    assert_eq!(o.token_ttl, Duration::from_secs(3600));
    assert_eq!(o.clients[0].secrets.len(), 2);
    let a = s.audit.unwrap();
    assert_eq!(
        a.sink,
        AuditSink::File(p.parent().unwrap().join("a/audit.jsonl"))
    );
    assert!(a.refuse_writes && a.fsync && !a.omit_personal);
    assert!(s.bearer_tokens.is_empty());
}

#[test]
fn oauth_and_audit_mistakes_are_named() {
    let (_d, p) = write_settings(
        "mappings = [\"m.yaml\"]\n[auth.oauth]\nsigning_keys = [\"short\"]\ntoken_ttl_s = 10\n[[auth.oauth.clients]]\nid = \"c\"\nsecrets = [\"sha256:beef\", \"short\"]\n[audit]\nsink = \"syslog\"\nfsync = \"sometimes\"\n",
    );
    let e = Settings::load(&p, None).unwrap_err().to_string();
    for key in [
        "auth.oauth.signing_keys[0]",
        "auth.oauth.token_ttl_s",
        "auth.oauth.clients[0].secrets[0]",
        "auth.oauth.clients[0].secrets[1]",
        "audit.sink",
        "audit.fsync",
    ] {
        assert!(e.contains(key), "{key} not named in:\n{e}");
    }
    assert!(!e.contains("short\""), "a secret value in an error: {e}");
}
