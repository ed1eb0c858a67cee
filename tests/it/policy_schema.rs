//! `policies/schema.json` describes exactly what the loader accepts.

use std::path::Path;

use crate::support::schema_fields;

use schema_fields::{expected_fields, keys};
use serde_json::Value;
use slipway::policy::{Policy, PolicyError};
use slipway::repoconfig::RepoConfig;

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn config() -> RepoConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy-repo");
    RepoConfig::load(&path).unwrap()
}

/// The field names the loader lists when it meets an unknown one in `section`.
fn accepted_fields(section: Option<&str>) -> Vec<String> {
    let text = match section {
        None => "zzz_unknown: 1\n".to_string(),
        Some(s) => format!("{s}:\n  zzz_unknown: 1\n"),
    };
    let err = Policy::parse(&text, "p", "policies/p.yaml", &config()).unwrap_err();
    let PolicyError::Parse { message, .. } = err else {
        panic!("expected a parse error, got {err}");
    };
    expected_fields(&message)
}

#[test]
fn schema_sections_list_the_fields_the_loader_accepts() {
    let schema = schema();
    assert_eq!(keys(&schema), accepted_fields(None), "top level");
    for section in [
        "image",
        "source",
        "tested_artifact",
        "promotion",
        "windows",
        "rate_limit",
    ] {
        assert_eq!(
            keys(&schema["properties"][section]),
            accepted_fields(Some(section)),
            "{section}"
        );
    }
}

#[test]
fn the_shipped_policies_load_and_use_only_declared_fields() {
    let schema = schema();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        Policy::parse(&text, "p", &path.display().to_string(), &config()).unwrap();
        let document: Value = serde_saphyr::from_str(&text).unwrap();
        for (key, value) in document.as_object().unwrap() {
            let declared = &schema["properties"][key];
            assert!(
                !declared.is_null(),
                "{}: {key} is not in the schema",
                path.display()
            );
            if let (Some(fields), Some(props)) =
                (value.as_object(), declared["properties"].as_object())
            {
                for field in fields.keys() {
                    assert!(
                        props.contains_key(field),
                        "{}: {key}.{field} is not in the schema",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(seen >= 2, "default and production examples are shipped");
}
