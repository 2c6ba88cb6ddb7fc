//! Broken mapping files: every compile error names the file, the key path and
//! the offending value, errors are collected (not just the first), and no
//! secret is ever echoed.

use base64::Engine as _;
use scim_bridge::mapping::compile::compile_text;
use scim_bridge::mapping::MappingError;
use std::collections::HashMap;

const ACME: &str = include_str!("../fixtures/acme.yaml");
const PERIPASS: &str = include_str!("../../config/mappings/peripass.yaml");
const ACME_FILE: &str = "mappings/acme.yaml";
const PERIPASS_FILE: &str = "mappings/peripass.yaml";
const PASSWORD: &str = "hunter2-acme-password";

fn env() -> HashMap<String, String> {
    crate::support::register_secret(PASSWORD);
    crate::support::register_secret("peripass-key-123");
    HashMap::from([
        ("ACME_URL".to_string(), "http://127.0.0.1:9".to_string()),
        ("ACME_PASSWORD".to_string(), PASSWORD.to_string()),
        (
            "PERIPASS_API_KEY".to_string(),
            "peripass-key-123".to_string(),
        ),
    ])
}

/// The shipped Peripass mapping takes its URL from the settings file; compiled
/// alone it needs one of its own.
fn peripass() -> String {
    edit(
        PERIPASS,
        "backend:\n",
        "backend:\n  base_url: \"http://127.0.0.1:9\"\n",
    )
}

fn compile_with(file: &str, text: &str, env: HashMap<String, String>) -> Vec<MappingError> {
    match compile_text(file, text, None, &Some(env)) {
        Ok(plans) => panic!(
            "expected errors, but it compiled ({} resource types)",
            plans.len()
        ),
        Err(e) => e,
    }
}

/// Replaces `from` (which must occur) by `to`, once.
#[track_caller]
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the mapping");
    text.replacen(from, to, 1)
}

/// Asserts one error of the Acme mapping after `from` → `to` names the file,
/// `key` (in its key path) and `value` (anywhere in its text); returns it.
#[track_caller]
fn acme_error(from: &str, to: &str, key: &str, value: &str) -> String {
    let errors = compile_with(ACME_FILE, &edit(ACME, from, to), env());
    find(&errors, ACME_FILE, key, value)
}

#[track_caller]
fn find(errors: &[MappingError], file: &str, key: &str, value: &str) -> String {
    let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let hit = errors
        .iter()
        .find(|e| e.at.contains(key) && e.to_string().contains(value))
        .unwrap_or_else(|| panic!("no error at {key:?} naming {value:?} in {all:#?}"));
    assert_eq!(hit.file, file);
    let text = hit.to_string();
    assert!(text.starts_with(&format!("{file}: ")), "{text}");
    assert!(text.contains(key), "{text}");
    text
}

#[test]
fn the_shipped_mappings_compile() {
    let acme = compile_text(ACME_FILE, ACME, None, &Some(env())).unwrap();
    let mut endpoints: Vec<&str> = acme.iter().map(|r| r.endpoint.as_str()).collect();
    endpoints.sort();
    assert_eq!(endpoints, ["/Groups", "/Users"]);
    let p = compile_text(PERIPASS_FILE, &peripass(), None, &Some(env())).unwrap();
    let mut names: Vec<&str> = p.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Group", "User"]);
}

#[test]
fn unknown_transform() {
    let e = acme_error(
        "transforms: [locale_underscore]",
        "transforms: [locale_dash]",
        "resources.User.attributes[10] (preferredLanguage).transforms[0]",
        "\"locale_dash\"",
    );
    // It lists what exists.
    assert!(
        e.contains("locale_underscore") && e.contains("invert"),
        "{e}"
    );
}

#[test]
fn bad_jsonpath() {
    acme_error(
        "items: \"$.people[*]\"",
        "items: \"$.people[?(@.x ==]\"",
        "resources.User.operations.list.items",
        "$.people[?(@.x ==]",
    );
    acme_error(
        "code: \"$.fault.kind\"",
        "code: \"fault.kind\"",
        "backend.errors.code",
        "\"fault.kind\"",
    );
    acme_error(
        "get: { path: \"/dir/v2/people/{id}\", item: \"$.person\" }",
        "get: { path: \"/dir/v2/people/{id}\", item: \"$.person[\" }",
        "resources.User.operations.get.item",
        "$.person[",
    );
}

#[test]
fn bad_field_path() {
    acme_error(
        "field: names.first",
        "field: names..first",
        "resources.User.attributes[4] (name.givenName).field",
        "\"names..first\"",
    );
    acme_error(
        "field: addresses[kind=work].email",
        "field: addresses[kind].email",
        "resources.User.attributes[7] (emails[type eq \"work\"].value).field",
        "addresses[kind].email",
    );
    acme_error(
        "field: uuid",
        "field: \"uu id\"",
        "resources.User.id.field",
        "\"uu id\"",
    );
}

#[test]
fn unknown_placeholder_in_a_path() {
    let e = acme_error(
        "get: { path: \"/dir/v2/people/{id}\"",
        "get: { path: \"/dir/v2/people/{uuid}\"",
        "resources.User.operations.get.path",
        "{uuid}",
    );
    assert!(e.contains("{id}"), "says what is available: {e}");
    // `{member}` exists only for membership calls.
    acme_error(
        "delete: { method: DELETE, path: \"/dir/v2/people/{id}\" }",
        "delete: { method: DELETE, path: \"/dir/v2/people/{member}\" }",
        "resources.User.operations.delete.path",
        "{member}",
    );
}

#[test]
fn selector_path_without_sub_attribute() {
    acme_error(
        "- scim: emails[type eq \"home\"].value",
        "- scim: emails[type eq \"home\"]",
        "resources.User.attributes[8] (emails[type eq \"home\"])",
        "sub-attribute",
    );
}

#[test]
fn filter_on_an_unmapped_attribute() {
    acme_error(
        "- { scim: externalId, param: source }",
        "- { scim: nickName, param: nick }",
        "resources.User.filters[1].scim",
        "\"nickName\"",
    );
}

#[test]
fn unknown_scim_type() {
    let e = acme_error(
        "scim_type: uniqueness }",
        "scim_type: unique }",
        "backend.errors.rules[0].scim_type",
        "\"unique\"",
    );
    assert!(e.contains("uniqueness"), "lists the valid ones: {e}");
    // Same in the Peripass mapping.
    let errors = compile_with(
        PERIPASS_FILE,
        &edit(
            &peripass(),
            "scim_type: invalidValue",
            "scim_type: invalid_value",
        ),
        env(),
    );
    find(
        &errors,
        PERIPASS_FILE,
        "backend.errors.rules[2].scim_type",
        "\"invalid_value\"",
    );
}

#[test]
fn duplicate_attribute() {
    // SCIM attribute names are case-insensitive: DisplayName is displayName.
    acme_error(
        "      - scim: displayName\n        field: fullName\n",
        "      - scim: displayName\n        field: fullName\n      - scim: DisplayName\n        field: nick\n",
        "resources.User.attributes[3] (DisplayName)",
        "mapped twice",
    );
    let errors = compile_with(
        PERIPASS_FILE,
        &edit(
            &peripass(),
            "      - scim: displayName\n",
            "      - scim: phoneNumbers[type eq \"mobile\"].value\n        field: mobile\n      - scim: displayName\n",
        ),
        env(),
    );
    find(
        &errors,
        PERIPASS_FILE,
        "(phoneNumbers[type eq \"mobile\"].value)",
        "mapped twice",
    );
}

#[test]
fn unknown_yaml_key_reports_line_and_column() {
    let text = edit(ACME, "transforms: [invert]", "transfroms: [invert]");
    let line = text.lines().position(|l| l.contains("transfroms")).unwrap() + 1;
    let errors = compile_with(ACME_FILE, &text, env());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = errors[0].to_string();
    assert!(e.starts_with(ACME_FILE), "{e}");
    assert!(e.contains("transfroms"), "{e}");
    assert!(e.contains("resources.User.attributes[1]"), "key path: {e}");
    assert!(e.contains(&format!("line {line}")), "line {line}: {e}");
    assert!(e.contains("column"), "{e}");
    assert!(e.contains("did you mean `transforms`?"), "{e}");

    // A typo inside the tagged `auth` block is reported with its key path too.
    let text = edit(ACME, "    username: bridge\n", "    usernme: bridge\n");
    let line = text.lines().position(|l| l.contains("usernme")).unwrap() + 1;
    let e = compile_with(ACME_FILE, &text, env())[0].to_string();
    assert!(e.contains("usernme"), "{e}");
    assert!(e.contains("backend.auth"), "key path: {e}");
    assert!(e.contains("did you mean `username`?"), "{e}");
    assert!(e.contains(&format!("line {line}")), "line {line}: {e}");
}

#[test]
fn missing_env_var_without_default() {
    let mut env = env();
    env.remove("ACME_PASSWORD");
    let errors = compile_with(ACME_FILE, ACME, env.clone());
    find(&errors, ACME_FILE, "backend.auth.password", "ACME_PASSWORD");
    // With a default it compiles.
    let text = edit(
        ACME,
        "\"${ACME_PASSWORD}\"",
        "\"${ACME_PASSWORD:-fallback}\"",
    );
    assert!(compile_text(ACME_FILE, &text, None, &Some(env.clone())).is_ok());
    // An empty variable counts as unset.
    env.insert("ACME_PASSWORD".into(), String::new());
    let errors = compile_with(ACME_FILE, ACME, env);
    find(&errors, ACME_FILE, "backend.auth.password", "ACME_PASSWORD");
}

#[test]
fn merge_patch_needs_a_patch_operation() {
    let e = acme_error(
        "      patch:\n        method: PATCH\n        path: \"/dir/v2/people/{id}\"\n        content_type: application/merge-patch+json\n        item: \"$.person\"\n",
        "",
        "resources.User.update",
        "merge_patch",
    );
    assert!(e.contains("operations.patch"), "{e}");
}

#[test]
fn bad_regex() {
    acme_error(
        "pattern: \"[0-9a-f]{8}-",
        "pattern: \"[0-9a-f{8}-(",
        "resources.User.id.pattern",
        "[0-9a-f{8}-(",
    );
}

#[test]
fn extension_urn_not_declared() {
    acme_error(
        "    extensions:\n      - urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\n",
        "",
        "resources.User.attributes[11]",
        "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
    );
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let text = edit(ACME, "transforms: [invert]", "transforms: [negate]");
    let text = edit(&text, "field: names.first", "field: names..first");
    let text = edit(
        &text,
        "path: \"/dir/v2/people/{id}\" }",
        "path: \"/dir/v2/people/{pid}\" }",
    );
    let errors = compile_with(ACME_FILE, &text, env());
    find(&errors, ACME_FILE, "transforms[0]", "negate");
    find(&errors, ACME_FILE, "(name.givenName).field", "names..first");
    find(&errors, ACME_FILE, "operations.", "{pid}");
}

#[test]
fn secrets_never_appear_in_errors() {
    // A header value with a newline (from the environment or the file) is
    // refused without echoing it.
    let secret = "tenant-secret-42\r\nX-Injected: yes";
    let text = edit(
        ACME,
        "  timeout_ms: 5000\n",
        "  timeout_ms: 5000\n  headers:\n    X-Tenant-Key: \"${ACME_TENANT_KEY}\"\n    X-Other: \"literal-secret-7\\nmore\"\n",
    );
    let mut env = env();
    env.insert("ACME_TENANT_KEY".into(), secret.into());
    let errors = compile_with(ACME_FILE, &text, env.clone());
    let all: String = errors.iter().map(|e| format!("{e}\n")).collect();
    find(
        &errors,
        ACME_FILE,
        "backend.headers.X-Tenant-Key",
        "X-Tenant-Key",
    );
    find(&errors, ACME_FILE, "backend.headers.X-Other", "X-Other");
    for leak in [
        "tenant-secret-42",
        "X-Injected",
        "literal-secret-7",
        PASSWORD,
    ] {
        assert!(!all.contains(leak), "{leak:?} leaked: {all}");
    }

    // A Basic password with a newline is base64-encoded (never invalid), but a
    // bearer token or an API key with one is refused silently too.
    let text = edit(
        ACME,
        "    type: basic\n    username: bridge\n    password: \"${ACME_PASSWORD}\"\n",
        "    type: bearer\n    token: \"${ACME_PASSWORD}\"\n",
    );
    env.insert("ACME_PASSWORD".into(), "bearer-secret-9\nx".into());
    let errors = compile_with(ACME_FILE, &text, env.clone());
    let all: String = errors.iter().map(|e| format!("{e}\n")).collect();
    find(&errors, ACME_FILE, "backend.auth.token", "header");
    assert!(!all.contains("bearer-secret-9"), "{all}");

    let text = edit(
        &peripass(),
        "\"${PERIPASS_API_KEY:-peripass-demo-key}\"",
        "\"${PERIPASS_API_KEY}\"",
    );
    env.insert("PERIPASS_API_KEY".into(), "api-key-secret-3\n".into());
    let errors = compile_with(PERIPASS_FILE, &text, env.clone());
    let all: String = errors.iter().map(|e| format!("{e}\n")).collect();
    find(&errors, PERIPASS_FILE, "backend.auth.value", "X-Api-Key");
    assert!(!all.contains("api-key-secret-3"), "{all}");
}

#[test]
fn mistyped_secrets_are_not_echoed_by_the_parser() {
    // An unquoted number-looking password is text, not a type error that prints it.
    let text = edit(
        ACME,
        "password: \"${ACME_PASSWORD}\"",
        "password: 918273645",
    );
    let plans = compile_text(ACME_FILE, &text, None, &Some(env())).unwrap();
    let auth = plans[0]
        .backend
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.to_str().unwrap().to_string())
        .unwrap();
    assert_eq!(
        auth,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("bridge:918273645")
        )
    );
    assert_eq!(plans[0].backend.auth_summary, "basic ***");
    // A secret of a type that cannot be text is refused without echoing it.
    let text = edit(
        ACME,
        "password: \"${ACME_PASSWORD}\"",
        "password: [\"list-secret-5\"]",
    );
    let errors = compile_with(ACME_FILE, &text, env());
    let all: String = errors.iter().map(|e| format!("{e}\n")).collect();
    assert!(all.contains("backend.auth.password"), "{all}");
    assert!(!all.contains("list-secret-5"), "{all}");
}

#[test]
fn auth_keys_must_fit_the_auth_type() {
    acme_error(
        "    username: bridge\n",
        "    username: bridge\n    token: \"${ACME_PASSWORD}\"\n",
        "backend.auth.token",
        "basic",
    );
    let e = acme_error(
        "    password: \"${ACME_PASSWORD}\"\n",
        "",
        "backend.auth.password",
        "requires",
    );
    assert!(e.contains("basic"), "{e}");
    acme_error(
        "paging: { style: offset, offset_param: start,",
        "paging: { style: offset, page_param: p, offset_param: start,",
        "resources.User.operations.list.paging.page_param",
        "offset",
    );
}
