//! `docs/slipway.schema.json` describes exactly the fields the
//! `slipway.yaml` loader accepts, at every level.

use std::path::Path;

use serde_json::Value;
use slipway::repoconfig::{RepoConfig, RepoConfigError};

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/slipway.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The field names the loader lists when it meets an unknown one in `text`.
fn accepted_fields(text: &str) -> Vec<String> {
    let err = RepoConfig::parse(text, "slipway.yaml").unwrap_err();
    let RepoConfigError::Parse { message, .. } = err else {
        panic!("expected a parse error, got {err}");
    };
    let list = message.split("expected one of ").nth(1).unwrap();
    let list = list.lines().next().unwrap();
    let mut fields: Vec<String> = list
        .split(',')
        .map(|f| f.trim().trim_matches('`').to_string())
        .filter(|f| !f.is_empty())
        .collect();
    fields.sort();
    fields
}

#[test]
fn every_level_of_the_schema_lists_what_the_loader_accepts() {
    let schema = schema();
    let env = "apps:\n  web:\n    image: ghcr.io/acme/web\n    environments:\n      - name: dev\n        path: envs/dev\n";
    let cases = [
        ("root", format!("zzz_unknown: 1\n{}", "apps: {}\n"), &schema),
        (
            "app",
            "apps:\n  web:\n    image: ghcr.io/acme/web\n    zzz_unknown: 1\n    environments: []\n"
                .to_string(),
            &schema["$defs"]["app"],
        ),
        (
            "environment",
            format!("{env}        zzz_unknown: 1\n"),
            &schema["$defs"]["environment"],
        ),
        (
            "helm",
            format!("{env}        helm: {{ zzz_unknown: 1 }}\n"),
            &schema["$defs"]["helm"],
        ),
        (
            "helm_values",
            format!("{env}        helm_values: {{ file: v.yaml, repository: a, zzz_unknown: 1 }}\n"),
            &schema["$defs"]["helmValues"],
        ),
    ];
    for (name, text, section) in cases {
        assert_eq!(accepted_fields(&text), keys(section), "{name}");
    }
}
