//! `scim-bridge check` prints the mapping's warnings and exits 0, and
//! reports an unknown key with a suggestion and exits non-zero.

use std::process::Command;

const MAPPING: &str = r#"
version: 1
backend:
  base_url: http://127.0.0.1:9
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    id: { field: id }
    operations:
      list: { path: /u, items: "$.items[*]", total: "$.total", paging: { style: offset, max_page_size: 100 } }
      get: { path: "/u/{id}" }
    attributes:
      - { scim: userName, field: login, uniqueness: server }
"#;

fn check(tag: &str, mapping: &str) -> (bool, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "scim-bridge-check-cli-{}-{tag}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.yaml"), mapping).unwrap();
    std::fs::write(
        dir.join("s.toml"),
        "mappings = [\"m.yaml\"]\n[auth]\nbearer_tokens = [\"${SCIM_BRIDGE_TOKEN}\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .arg("check")
        .arg("--config")
        .arg(dir.join("s.toml"))
        .env("SCIM_BRIDGE_TOKEN", crate::support::strong_token())
        .output()
        .unwrap();
    crate::support::save_process_output("scim-bridge-check", &out);
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_warnings_and_succeeds() {
    let (ok, stdout, stderr) = check("warnings", MAPPING);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("warning: ") && stdout.contains("User: userName eq … has no pushdown"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Entra sends active by default but it is not mapped"),
        "{stdout}"
    );
    assert!(stdout.ends_with("check: OK\n"), "{stdout}");
}

#[test]
fn check_suggests_the_key_meant_and_fails() {
    let (ok, stdout, stderr) = check("typo", &MAPPING.replace("field: login", "feild: login"));
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains("unknown key `feild` — did you mean `field`?")
            && stderr.contains("line 14 column 27"),
        "{stderr}"
    );
    assert!(stderr.contains("check: FAILED"), "{stderr}");
}

/// The constant's old key `on:` is refused with the new name and the reason.
#[test]
fn check_explains_the_renamed_constant_key() {
    let old = MAPPING.replace(
        "    attributes:\n",
        "    constants:\n      - { field: role, value: Operator, on: create }\n    attributes:\n",
    );
    assert_ne!(old, MAPPING);
    let (ok, stdout, stderr) = check("old-on", &old);
    assert!(!ok, "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("constants[0].on")
            && all.contains("renamed `when`")
            && all.contains("YAML 1.1")
            && all.contains("when: create"),
        "{all}"
    );
    let new = old.replace("on: create", "when: always");
    let (ok, stdout, stderr) = check("when", &new);
    assert!(ok, "{stdout}{stderr}");
}

/// The lifecycle, `multiple` and `reference.display` keys: wrong uses are
/// refused with the file and key, the hidden soft delete without
/// `list_query` is a warning.
#[test]
fn check_explains_lifecycle_and_multiple_mistakes() {
    let with = |attrs: &str, lifecycle: &str| {
        let m = MAPPING.replace(
            "    attributes:\n",
            &format!("{lifecycle}    attributes:\n{attrs}"),
        );
        assert_ne!(m, MAPPING);
        m
    };
    let (ok, stdout, stderr) = check(
        "lifecycle-bad",
        &with(
            "      - { scim: title, field: 'phones[kind=office]', multiple: true }\n",
            "    lifecycle:\n      call: { path: /u/archive }\n      restore: { call: { path: \"/u/{id}/restore\" } }\n",
        ),
    );
    assert!(!ok, "{stdout}{stderr}");
    for want in [
        "m.yaml: resources.User.lifecycle.call.path: \"/u/archive\" must name the record with {id}",
        "resources.User.lifecycle.deleted: with only `call`",
        "resources.User.lifecycle.restore: restore needs `deleted_reads: inactive`",
        "(title).multiple: `multiple` maps a typed path",
    ] {
        assert!(stderr.contains(want), "{want}\n{stderr}");
    }
    let (ok, stdout, stderr) = check(
        "lifecycle-ok",
        &with(
            "      - { scim: 'phoneNumbers[type eq \"work\"].value', field: 'phones[kind=office].number', multiple: true }\n",
            "    lifecycle:\n      call: { path: \"/u/{id}/archive\" }\n      deleted: { archived: true }\n",
        ),
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("soft-deleted records are hidden")
            && stdout.contains("lifecycle.list_query"),
        "{stdout}"
    );
}
