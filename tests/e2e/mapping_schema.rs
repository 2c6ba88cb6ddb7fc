//! config/mapping.schema.json is generated from the Rust mapping types and
//! validates every mapping file shipped in the repository.
use crate::support::repo_path;
use serde_json::Value;

fn committed() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_path("config/mapping.schema.json")).unwrap())
        .unwrap()
}

#[test]
fn committed_schema_matches_the_rust_types() {
    let generated = scim_bridge::mapping::model::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(
            repo_path("config/mapping.schema.json"),
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
    }
    assert_eq!(committed(), generated, "config/mapping.schema.json is stale: run `scim-bridge schema > config/mapping.schema.json` (or UPDATE_SCHEMA=1 cargo test --test mapping_schema)");
}

fn yaml_files() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dir in ["config/mappings", "tests/fixtures"] {
        if let Ok(rd) = std::fs::read_dir(repo_path(dir)) {
            for e in rd.flatten() {
                let p = e.path();
                if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
                    out.push(p);
                }
            }
        }
    }
    out
}

#[test]
fn schema_validates_shipped_mappings_and_rejects_broken_ones() {
    let validator = jsonschema::validator_for(&committed()).unwrap();
    let files = yaml_files();
    assert!(!files.is_empty());
    for f in &files {
        let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
    let good: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap(),
    )
    .unwrap();
    let mut typo = good.clone();
    typo["resources"]["User"]["attributes"][0]["feild"] = Value::String("login".into());
    assert!(!validator.is_valid(&typo), "an unknown key is rejected");
    let mut wrong_type = good.clone();
    wrong_type["resources"]["User"]["strict"] = Value::String("yes".into());
    assert!(!validator.is_valid(&wrong_type), "a wrong type is rejected");
    let mut bad_paging = good;
    bad_paging["resources"]["User"]["operations"]["list"]["paging"]["style"] =
        Value::String("cursor".into());
    assert!(
        !validator.is_valid(&bad_paging),
        "an unknown enum value is rejected"
    );
}
