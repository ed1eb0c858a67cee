//! Deploy repositories for tests: a bare "remote" seeded with `slipway.yaml`
//! and manifests, plus helpers that act like a person using the git CLI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use slipway::deployrepo::settings::{Author, DeployRepoSettings};
use slipway::deployrepo::{DeployRequest, WriteOutcome, Written};
use slipway::event::ImageRef;
use slipway::repoconfig::WriteMode;

/// Run git in `dir`, failing the test on error; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Ada Person")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Person")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The manifest of app `app` at `tag`.
pub fn deployment(app: &str, tag: &str) -> String {
    format!(
        "# {app} deployment, edited by people and by Slipway\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: {app}\n          image: ghcr.io/acme/{app}:{tag}   # current release\n"
    )
}

/// `slipway.yaml` for apps with a `dev` (commit) and `prod` (pull request) environment.
pub fn slipway_yaml(apps: &[String]) -> String {
    let mut out = String::from("apps:\n");
    for app in apps {
        out.push_str(&format!(
            "  {app}:\n    image: ghcr.io/acme/{app}\n    environments:\n      - {{ name: dev, path: envs/dev/{app} }}\n      - {{ name: prod, path: envs/prod/{app}, mode: pull-request }}\n"
        ));
    }
    out
}

/// A bare repository `<root>/deploy.git` on branch `main` holding `apps` at 1.0.0.
pub fn seed_remote(root: &Path, apps: &[String]) -> PathBuf {
    let bare = root.join("deploy.git");
    std::fs::create_dir_all(&bare).expect("mkdir");
    git(&bare, &["init", "--bare", "-q", "-b", "main"]);
    let work = root.join("seed");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("slipway.yaml"), slipway_yaml(apps)).expect("write");
    for app in apps {
        for env in ["dev", "prod"] {
            let dir = work.join(format!("envs/{env}/{app}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("deployment.yaml"), deployment(app, "1.0.0")).expect("write");
        }
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "seed"]);
    git(
        &work,
        &["push", "-q", bare.to_str().expect("utf-8 path"), "main"],
    );
    bare
}

/// Names `app0`, `app1`, ...
pub fn app_names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("app{i}")).collect()
}

/// A file at the tip of `branch` in the bare repository.
pub fn remote_file(bare: &Path, branch: &str, path: &str) -> String {
    git(bare, &["show", &format!("{branch}:{path}")])
}

/// Number of commits on `branch`.
pub fn commit_count(bare: &Path, branch: &str) -> usize {
    git(bare, &["rev-list", "--count", branch])
        .trim()
        .parse()
        .expect("count")
}

/// Full message of the tip of `branch`.
pub fn tip_message(bare: &Path, branch: &str) -> String {
    git(bare, &["log", "-1", "--format=%B", branch])
}

/// A person clones, changes a file with `change`, commits and pushes.
pub fn human_commit(
    bare: &Path,
    scratch: &Path,
    path: &str,
    change: impl FnOnce(String) -> String,
) {
    let dir = scratch.join(format!("human-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    git(
        scratch,
        &[
            "clone",
            "-q",
            bare.to_str().expect("utf-8"),
            dir.to_str().expect("utf-8"),
        ],
    );
    let file = dir.join(path);
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, change(text)).expect("write");
    git(&dir, &["commit", "-q", "-am", "human: tune replicas"]);
    git(&dir, &["push", "-q", "origin", "main"]);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Settings for a local (credential-free) remote.
pub fn local_settings(url: &str) -> DeployRepoSettings {
    DeployRepoSettings {
        url: url.into(),
        branch: "main".into(),
        credentials: None,
        author: Author::default(),
    }
}

/// A request to deploy `app` at `tag` in `env`.
pub fn request(event: &str, app: &str, env: &str, tag: &str, mode: WriteMode) -> DeployRequest {
    DeployRequest {
        event_id: event.into(),
        app: app.into(),
        environment: env.into(),
        image: ImageRef {
            repository: format!("ghcr.io/acme/{app}"),
            tag: Some(tag.into()),
            digest: None,
        },
        mode,
        verdict: "allow: tests passed".into(),
        trace: "rule tests-passed: pipeline 42 succeeded\nrule signed: skipped".into(),
        source: slipway::event::SourceInfo {
            repository: Some(format!("acme/{app}")),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            git_ref: Some("refs/heads/main".into()),
            url: Some("https://ci.example/acme/run/42".into()),
        },
        rollback: false,
    }
}

/// The written result of an outcome, failing the test on an error.
pub fn written(outcome: &WriteOutcome) -> &Written {
    match &outcome.result {
        Ok(written) => written,
        Err(failure) => panic!("{}: {failure:?}", outcome.event_id),
    }
}
