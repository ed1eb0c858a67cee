//! `slipway policy check | test` run as a user would, on a temporary deploy
//! repo holding the shipped example policies.

use crate::policy_common;

use policy_common::*;

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
    let explained = explain(
        &repo,
        &event,
        &[
            "--facts",
            passed.to_str().unwrap(),
            "--now",
            "2026-06-09T08:00:00Z",
        ],
    );
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
fn check_lists_every_target_no_policy_governs_and_exits_1() {
    let repo = deploy_repo();
    for shipped in ["default.yaml", "production.yaml"] {
        std::fs::remove_file(repo.path().join("policies").join(shipped)).unwrap();
    }
    // development.yaml governs dev and staging; prod has no policy.
    let run = slipway(&["policy", "check", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("error"))
        .collect();
    assert_eq!(
        errors,
        [
            "error no policy governs web/prod: every deploy there is denied (policies/default.yaml allows everything)",
            "error no policy governs worker/prod: every deploy there is denied (policies/default.yaml allows everything)",
        ],
        "{}",
        run.stdout
    );
}

#[test]
fn check_without_any_policy_lists_every_target_and_exits_1() {
    let repo = deploy_repo();
    std::fs::remove_dir_all(repo.path().join("policies")).unwrap();
    let run = slipway(&["policy", "check", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("error no policies in policies/*.yaml: every deploy is denied"),
        "{}",
        run.stdout
    );
    for target in [
        "web/dev",
        "web/staging",
        "web/prod",
        "worker/dev",
        "worker/prod",
    ] {
        assert!(
            run.stdout
                .contains(&format!("error no policy governs {target}:")),
            "{target}: {}",
            run.stdout
        );
    }
}

#[test]
fn test_without_cases_passes_with_a_note() {
    let repo = deploy_repo();
    std::fs::remove_dir_all(repo.path().join("policies/tests")).unwrap();
    let run = slipway(&["policy", "test", "--repo", &repo_arg(&repo)]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("note  no cases in policies/tests/*.yaml: nothing to test"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.trim_end().ends_with("0 passed, 0 failed"),
        "{}",
        run.stdout
    );
}
