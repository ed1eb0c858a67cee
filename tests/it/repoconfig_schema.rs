//! `docs/slipway.schema.json` describes exactly the fields the
//! `slipway.yaml` loader accepts, at every level.

use std::path::Path;

use crate::support::schema_fields;

use schema_fields::{expected_fields, keys};
use serde_json::Value;
use slipway::repoconfig::{RepoConfig, RepoConfigError};

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/slipway.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The field names the loader lists when it meets an unknown one in `text`.
fn accepted_fields(text: &str) -> Vec<String> {
    let err = RepoConfig::parse(text, "slipway.yaml").unwrap_err();
    let RepoConfigError::Parse { message, .. } = err else {
        panic!("expected a parse error, got {err}");
    };
    expected_fields(&message)
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
        (
            "analysis",
            format!("{}analyses:\n  errors: {{ zzz_unknown: 1 }}\n", "apps: {}\n"),
            &schema["$defs"]["analysis"],
        ),
        (
            "prometheus",
            format!(
                "{}analyses:\n  errors: {{ prometheus: {{ zzz_unknown: 1 }}, query: up, success: '> 0' }}\n",
                "apps: {}\n"
            ),
            &schema["$defs"]["prometheus"],
        ),
    ];
    for (name, text, section) in cases {
        assert_eq!(accepted_fields(&text), keys(section), "{name}");
    }
}
