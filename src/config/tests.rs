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
        "mappings = [\"m/x.yaml\"]\n[auth]\nbearer_tokens = [\"${TOK:-abcdefghij}\"]\n[server]\nlisten = \"127.0.0.1:9\"\n",
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
    let (_d, p) = write_settings("mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\n[server]\nlisten = \"nowhere\"\n");
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(
        e.contains("server.listen") && e.contains("\"nowhere\""),
        "{e}"
    );
    let (_d, p) = write_settings("mappings = [\"x.yaml\"]\nbogus = 1\n");
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn unknown_settings_key_gets_a_suggestion() {
    let (_d, p) = write_settings(
        "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\n[server]\nlisten_addr = \"127.0.0.1:1\"\n",
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
        write_settings("mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\n");
    let s = Settings::load(&p, env(&[])).unwrap();
    assert_eq!(s.backend_limits, BackendLimits::default());
    assert_eq!(s.backend_limits.max_rps, 50);
    assert_eq!(s.backend_probe_interval, Some(Duration::from_secs(5)));
    let (_d, p) = write_settings(
        "mappings = [\"x.yaml\"]\n[auth]\nbearer_tokens = [\"long-enough\"]\n[backend]\nmax_concurrency = 0\n",
    );
    let e = Settings::load(&p, env(&[])).unwrap_err().to_string();
    assert!(e.contains("backend.max_concurrency"), "{e}");
    let s = Settings::load(
        &p,
        env(&[
            ("SCIM_BRIDGE__BACKEND__MAX_CONCURRENCY", "4"),
            ("SCIM_BRIDGE__BACKEND__MAX_RPS", "0"),
            ("SCIM_BRIDGE__BACKEND__QUEUE_TIMEOUT_MS", "250"),
        ]),
    )
    .unwrap();
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
