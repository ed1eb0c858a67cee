//! The docs' examples work as shown: every YAML or JSON example in the README,
//! `docs/` and the policy guide loads with the loader of what it shows, and
//! every `slipway` command they show parses (run with `--help` appended).

use crate::docs_common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use docs_common::{CodeBlock, docs, parse};
use serde::Deserialize;
use serde_json::Value;

/// Top-level keys of the controller's configuration file.
const CONFIG_KEYS: &[&str] = &[
    "listen",
    "state_dir",
    "max_body_bytes",
    "api",
    "webhooks",
    "deploy_repo",
    "forge",
    "nudge_sync",
    "sync",
    "report",
];

/// What an example shows, and so how it is loaded.
#[derive(Debug, PartialEq)]
enum Example {
    /// `slipway receive|sync|run --config` (or a section of it).
    ControllerConfig,
    /// The deploy repo's `slipway.yaml`.
    RepoConfig,
    /// A file (or a section of one) in `policies/*.yaml`.
    Policy,
    /// A file in `policies/tests/*.yaml`.
    PolicyTests,
    /// Prometheus alerting rules.
    AlertRules,
    /// A body for `POST /hooks/generic`.
    GenericEvent,
    /// An answer of the status API: output, not input.
    StatusAnswer,
}

fn classify(block: &CodeBlock, value: &Value) -> Example {
    let keys: BTreeSet<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    match (block.lang.as_str(), value) {
        ("json", _) if keys.contains("seq") => Example::StatusAnswer,
        ("json", _) => Example::GenericEvent,
        (_, Value::Array(_)) => Example::AlertRules,
        _ if keys.contains("cases") => Example::PolicyTests,
        _ if CONFIG_KEYS.iter().any(|k| keys.contains(k)) => Example::ControllerConfig,
        _ if value["apps"].is_object() || keys.contains("branch") => Example::RepoConfig,
        _ => Example::Policy,
    }
}

/// One Prometheus alerting rule, as Prometheus reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AlertRule {
    alert: String,
    expr: String,
    #[serde(default, rename = "for")]
    pending: Option<String>,
    #[serde(default)]
    labels: Option<Value>,
    #[serde(default)]
    annotations: Option<Value>,
}

fn fixture_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy-repo")
}

/// Load `block` as what it shows; the loader's error when it does not load.
fn load(block: &CodeBlock, kind: &Example) -> Result<(), String> {
    let text = &block.text;
    match kind {
        Example::ControllerConfig => slipway::config::Config::parse(text, &block.at)
            .map(drop)
            .map_err(|e| slipway::error_chain(&e)),
        Example::RepoConfig => slipway::repoconfig::RepoConfig::parse(text, &block.at)
            .map(drop)
            .map_err(|e| slipway::error_chain(&e)),
        Example::Policy => {
            let config = slipway::repoconfig::RepoConfig::load(&fixture_root()).unwrap();
            slipway::policy::Policy::parse(text, "example", "policies/example.yaml", &config)
                .map(drop)
                .map_err(|e| slipway::error_chain(&e))
        }
        Example::PolicyTests => {
            let repo = tempfile::tempdir().unwrap();
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            std::fs::create_dir_all(repo.path().join("policies/tests")).unwrap();
            std::fs::copy(
                fixture_root().join("slipway.yaml"),
                repo.path().join("slipway.yaml"),
            )
            .unwrap();
            std::fs::copy(
                root.join("policies/default.yaml"),
                repo.path().join("policies/default.yaml"),
            )
            .unwrap();
            std::fs::write(repo.path().join("policies/tests/example.yaml"), text).unwrap();
            let mut out = Vec::new();
            match slipway::policy::cli::check(repo.path(), &mut out) {
                0 => Ok(()),
                _ => Err(String::from_utf8_lossy(&out).into_owned()),
            }
        }
        Example::AlertRules => serde_saphyr::from_str::<Vec<AlertRule>>(text)
            .map_err(|e| e.to_string())
            .and_then(|rules| {
                rules.iter().try_for_each(|rule| {
                    promql_parser::parser::parse(&rule.expr)
                        .map(drop)
                        .map_err(|e| format!("{}: {e}", rule.alert))
                })
            }),
        Example::GenericEvent => slipway::webhook::normalise::normalise(
            slipway::event::Provider::Generic,
            "",
            text.as_bytes(),
        )
        .map(drop)
        .map_err(|e| e.to_string()),
        Example::StatusAnswer => Ok(()),
    }
}

#[test]
fn every_yaml_and_json_example_in_the_docs_loads() {
    let mut loaded = Vec::new();
    let mut failures = Vec::new();
    for doc in docs() {
        for block in parse(&doc).blocks {
            if !matches!(block.lang.as_str(), "yaml" | "yml" | "json") {
                continue;
            }
            let value: Value = match serde_saphyr::from_str(&block.text) {
                Ok(value) => value,
                Err(e) => {
                    failures.push(format!("{}: not {}: {e}", block.at, block.lang));
                    continue;
                }
            };
            let kind = classify(&block, &value);
            match load(&block, &kind) {
                Ok(()) => loaded.push((block.at.clone(), kind)),
                Err(e) => failures.push(format!("{} ({kind:?}): {e}", block.at)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "examples that do not load:\n{}",
        failures.join("\n")
    );
    for kind in [
        Example::ControllerConfig,
        Example::Policy,
        Example::PolicyTests,
        Example::AlertRules,
        Example::GenericEvent,
    ] {
        assert!(
            loaded.iter().any(|(_, k)| *k == kind),
            "no {kind:?} example found; the classifier lost it: {loaded:?}"
        );
    }
}

/// The `slipway` command lines the docs show, each as its arguments: from
/// inline code and from lines of code blocks (a line that starts with
/// whitespace continues the one before). `<placeholders>` become one word,
/// `[optional parts]` are kept, `a|b` alternatives each make a command, and
/// `cargo run -- x` is `slipway x`.
fn shown_commands() -> Vec<(String, Vec<String>)> {
    let mut shown: Vec<(String, String)> = Vec::new();
    for doc in docs() {
        let parsed = parse(&doc);
        shown.extend(parsed.spans.into_iter().map(|s| (s.at, s.text)));
        for block in parsed.blocks {
            let mut lines: Vec<String> = Vec::new();
            for line in block.text.lines() {
                match lines.last_mut() {
                    Some(last) if line.starts_with(char::is_whitespace) => {
                        last.push(' ');
                        last.push_str(line.trim());
                    }
                    _ => lines.push(line.to_string()),
                }
            }
            shown.extend(lines.into_iter().map(|l| (block.at.clone(), l)));
        }
    }
    let placeholder = regex::Regex::new(r"<[^>]*>").unwrap();
    let mut commands = Vec::new();
    for (at, text) in shown {
        let text = text.split(" # ").next().unwrap_or_default().trim();
        let args = if let Some(rest) = text.strip_prefix("slipway ") {
            rest
        } else if let Some(rest) = text.strip_prefix("cargo run -- ") {
            rest
        } else {
            continue;
        };
        let args = placeholder
            .replace_all(args, "PLACEHOLDER")
            .replace(['[', ']'], "");
        let mut variants: Vec<Vec<String>> = vec![Vec::new()];
        for word in args.split_whitespace() {
            variants = variants
                .into_iter()
                .flat_map(|v| {
                    word.split('|').map(move |alternative| {
                        let mut v = v.clone();
                        v.push(alternative.to_string());
                        v
                    })
                })
                .collect();
        }
        commands.extend(variants.into_iter().map(|v| (at.clone(), v)));
    }
    commands
}

#[test]
fn every_slipway_command_the_docs_show_parses() {
    let commands = shown_commands();
    let distinct: BTreeSet<&Vec<String>> = commands.iter().map(|(_, c)| c).collect();
    assert!(
        distinct.len() >= 15,
        "the docs show more commands than were found: {distinct:?}"
    );
    let mut failures = Vec::new();
    for (at, args) in &commands {
        let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(args)
            .arg("--help")
            .env_remove("SLIPWAY_CONFIG")
            .output()
            .expect("run slipway");
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            failures.push(format!(
                "{at}: slipway {}: {}",
                args.join(" "),
                stderr.lines().next().unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "commands that do not parse:\n{}",
        failures.join("\n")
    );
}
