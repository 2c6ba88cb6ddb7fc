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
    assert_eq!(s.backend_limits.max_rps, 100);
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
