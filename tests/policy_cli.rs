//! `slipway policy check | explain | test` run as a user would, on a temporary
//! deploy repo holding the shipped example policies.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
}

fn slipway(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .output()
        .expect("run slipway");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    }
}

/// A deploy repo with `tests/fixtures/policy-repo/slipway.yaml` and the shipped `policies/`.
fn deploy_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("tests/fixtures/policy-repo/slipway.yaml"),
        dir.path().join("slipway.yaml"),
    )
    .unwrap();
    copy_dir(&root.join("policies"), &dir.path().join("policies"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn repo_arg(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const BRANCH_BUILD: &str = r#"{"kind":"artifact_published",
  "image":{"repository":"ghcr.io/acme/web","tag":"main-4f2a9c1"},
  "source":{"repository":"acme/web","commit":"4f2a9c1e0d1b2c3d4e5f60718293a4b5c6d7e8f9","git_ref":"refs/heads/main"}}"#;

const PASSED: &str =
    "pipelines:\n  - { name: ci, level: pipeline, status: success, at: 2026-06-09T07:55:00Z }\n";

#[test]
fn check_accepts_the_shipped_policies() {
    let repo = deploy_repo();
    let run = slipway(&["policy", "check", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    for file in [
        "policies/default.yaml",
        "policies/production.yaml",
        "policies/tests/production.yaml",
    ] {
        assert!(
            run.stdout.contains(&format!("ok    {file}")),
            "{file}: {}",
            run.stdout
        );
    }
}

#[test]
fn check_names_file_line_and_field_of_a_bad_policy() {
    let repo = deploy_repo();
    write(
        &repo,
        "policies/broken.yaml",
        "environments: [prod]\nwindows:\n  time_zone: Mars/Olympus\n",
    );
    let run = slipway(&["policy", "check", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("policies/broken.yaml:3:14: windows.time_zone: unknown time zone"),
        "{}",
        run.stdout
    );
}

#[test]
fn check_refuses_a_bad_slipway_yaml() {
    let repo = deploy_repo();
    write(
        &repo,
        "slipway.yaml",
        "apps:\n  web:\n    image: ghcr.io/acme/web:latest\n    environments: []\n",
    );
    let run = slipway(&["policy", "check", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stdout.contains("apps.web.image"), "{}", run.stdout);
}

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
    let denied = slipway(&[
        "policy",
        "explain",
        "--repo",
        &repo_arg(&repo),
        "--event",
        latest.to_str().unwrap(),
        "--now",
        now,
        "--json",
    ]);
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
    let run = slipway(&[
        "policy",
        "explain",
        "--repo",
        &repo_arg(&repo),
        "--event",
        raw.to_str().unwrap(),
    ]);
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
    let provider = slipway(&[
        "policy",
        "explain",
        "--repo",
        &repo_arg(&repo),
        "--event",
        raw.to_str().unwrap(),
        "--provider",
        "gitea",
    ]);
    assert_eq!(provider.code, 2, "{}", provider.stdout);
}

#[test]
fn test_runs_the_shipped_cases_and_they_pass() {
    let repo = deploy_repo();
    let run = slipway(&["policy", "test", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "  PASS  a release verified and soaked in staging is promoted by pull request"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.trim_end().ends_with("16 passed, 0 failed"),
        "{}",
        run.stdout
    );
}

#[test]
fn test_reports_a_failing_case_with_its_trace() {
    let repo = deploy_repo();
    let case = format!(
        "cases:\n  - name: latest is wrongly expected to pass\n    now: 2026-06-09T08:00:00Z\n    event: {}\n    expect: {{ verdict: allow }}\n",
        BRANCH_BUILD
            .replace("main-4f2a9c1", "latest")
            .replace('\n', " ")
    );
    write(&repo, "policies/tests/zz-wrong.yaml", &case);
    let run = slipway(&["policy", "test", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("  FAIL  latest is wrongly expected to pass"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("expected allow, got deny"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("| web/dev ghcr.io/acme/web:latest: DENY"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("16 passed, 1 failed"), "{}", run.stdout);
}

#[test]
fn test_refuses_an_unreadable_case_file() {
    let repo = deploy_repo();
    write(
        &repo,
        "policies/tests/bad.yaml",
        "cases:\n  - name: x\n    expect: maybe\n",
    );
    let run = slipway(&["policy", "test", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout.contains("policies/tests/bad.yaml:"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_symlinked_policy_is_refused_and_denies() {
    let repo = deploy_repo();
    std::os::unix::fs::symlink("/etc/hostname", repo.path().join("policies/linked.yaml")).unwrap();
    let run = slipway(&["policy", "check", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("policies/linked.yaml: is a symbolic link"),
        "{}",
        run.stdout
    );
    let event = write(&repo, "event.json", BRANCH_BUILD);
    let passed = write(&repo, "facts.yaml", PASSED);
    let explained = slipway(&[
        "policy",
        "explain",
        "--repo",
        &repo_arg(&repo),
        "--event",
        event.to_str().unwrap(),
        "--facts",
        passed.to_str().unwrap(),
        "--now",
        "2026-06-09T08:00:00Z",
    ]);
    assert_eq!(
        explained.code, 1,
        "an unreadable policy governs everything: {}",
        explained.stdout
    );
    assert!(
        explained.stdout.contains("DENY   linked: load"),
        "{}",
        explained.stdout
    );
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
    let run = slipway(&[
        "policy",
        "explain",
        "--repo",
        &repo_arg(&repo),
        "--event",
        fixture.to_str().unwrap(),
        "--provider",
        "dockerhub",
        "--event-type",
        "push",
    ]);
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
