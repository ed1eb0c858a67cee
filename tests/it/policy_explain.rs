//! `slipway policy explain` run as a user would, on a temporary deploy repo
//! holding the shipped example policies.

use crate::policy_common;

use std::path::Path;

use policy_common::*;

#[test]
fn explain_prints_allow_wait_and_deny_with_their_traces() {
    let repo = deploy_repo();
    let event = write(&repo, "event.json", BRANCH_BUILD);
    let passed = write(&repo, "facts.yaml", PASSED);
    let now = "2026-06-09T08:00:00Z";
    let base = [
        "policy",
        "explain",
        "--repo",
        &repo_arg(&repo),
        "--event",
        event.to_str().unwrap(),
        "--provider",
        "github",
        "--now",
        now,
    ];
    let allowed = slipway(&[&base[..], &["--facts", passed.to_str().unwrap()]].concat());
    assert_eq!(allowed.code, 0, "{}", allowed.stdout);
    assert!(
        allowed
            .stdout
            .starts_with("web/dev ghcr.io/acme/web:main-4f2a9c1: ALLOW (write by commit)"),
        "{}",
        allowed.stdout
    );
    assert!(
        allowed
            .stdout
            .contains("tested_artifact.pipeline: pipeline \"ci\" succeeded"),
        "{}",
        allowed.stdout
    );
    let waiting = slipway(&base);
    assert_eq!(waiting.code, 1, "{}", waiting.stdout);
    assert!(
        waiting.stdout.contains("WAIT for pipeline result"),
        "{}",
        waiting.stdout
    );
    let latest = write(
        &repo,
        "latest.json",
        &BRANCH_BUILD.replace("main-4f2a9c1", "latest"),
    );
    let denied = explain(&repo, &latest, &["--now", now, "--json"]);
    assert_eq!(denied.code, 1, "{}", denied.stdout);
    let json: serde_json::Value = serde_json::from_str(&denied.stdout).unwrap();
    assert_eq!(json[0]["verdict"], "deny");
    assert!(
        json[0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("image.mutable_tags"),
        "{json}"
    );
}

#[test]
fn explain_refuses_what_it_cannot_read() {
    let repo = deploy_repo();
    let raw = write(&repo, "raw.json", r#"{"action":"published","package":{}}"#);
    let run = explain(&repo, &raw, &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("neither a normalised event nor a generic payload"),
        "{}",
        run.stdout
    );
    let usage = slipway(&["policy", "explain", "--repo", &repo_arg(&repo)]);
    assert_eq!(
        usage.code, 2,
        "a missing --event is a usage error: {}",
        usage.stdout
    );
    let provider = explain(&repo, &raw, &["--provider", "gitea"]);
    assert_eq!(provider.code, 2, "{}", provider.stdout);
}

#[test]
fn explain_normalises_a_raw_webhook_payload() {
    let repo = tempfile::tempdir().unwrap();
    write(
        &repo,
        "slipway.yaml",
        "apps:\n  testhook:\n    image: svendowideit/testhook\n    environments:\n      - { name: dev, path: envs/dev }\n",
    );
    std::fs::create_dir(repo.path().join("policies")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.yaml"),
        repo.path().join("policies/default.yaml"),
    )
    .unwrap();
    // A Docker Hub push of `latest`, as Docker Hub documents it.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks/dockerhub/push.json");
    let run = explain(
        &repo,
        &fixture,
        &["--provider", "dockerhub", "--event-type", "push"],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .starts_with("testhook/dev docker.io/svendowideit/testhook:latest: DENY"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("image.mutable_tags: tag latest is mutable"),
        "{}",
        run.stdout
    );
}
