//! Helpers of the `slipway policy` tests: the real binary, and a temporary
//! deploy repo holding the shipped example policies.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The exit code and everything printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
}

pub fn slipway(args: &[&str]) -> Run {
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
pub fn deploy_repo() -> tempfile::TempDir {
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

pub fn copy_dir(from: &Path, to: &Path) {
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

/// `slipway policy explain --repo <repo> --event <event> <more>`.
pub fn explain(repo: &tempfile::TempDir, event: &Path, more: &[&str]) -> Run {
    let repo = repo_arg(repo);
    let event = event.display().to_string();
    slipway(
        &[
            &["policy", "explain", "--repo", &repo, "--event", &event],
            more,
        ]
        .concat(),
    )
}

pub fn repo_arg(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

pub fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub const BRANCH_BUILD: &str = r#"{"kind":"artifact_published",
  "image":{"repository":"ghcr.io/acme/web","tag":"main-4f2a9c1"},
  "source":{"repository":"acme/web","commit":"4f2a9c1e0d1b2c3d4e5f60718293a4b5c6d7e8f9","git_ref":"refs/heads/main"}}"#;

pub const PASSED: &str =
    "pipelines:\n  - { name: ci, level: pipeline, status: success, at: 2026-06-09T07:55:00Z }\n";
