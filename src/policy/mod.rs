//! Policy files kept in the deploy repo, their evaluation (pure, no I/O) and
//! the explanations every decision carries.
//!
//! Loading ([`PolicySet::load`]) reads `slipway.yaml` and `policies/*.yaml`
//! from a checkout and validates them into typed rules; a file that fails to
//! load is kept as a [`BrokenPolicy`] that denies what it governs. Evaluation
//! ([`evaluate`]) is a pure function of the policies, the [`Facts`] the store
//! gathered, the [`DeployRequest`] and the time.

pub mod cli;
mod decision;
mod evaluate;
mod facts;
mod file;
mod request;
pub mod rules;

use std::path::Path;

pub use decision::{Decision, StepResult, TraceStep, Verdict, WaitFor};
pub use evaluate::{deny_unloadable, evaluate};
pub use facts::{ArtifactFact, DesiredFact, Facts, PipelineFact, RolloutFact};
pub use file::{
    DEFAULT_PIPELINE_WAIT_MINUTES, DEFAULT_VERIFICATION_WAIT_MINUTES, MAX_MINUTES, Policy, Selector,
};
pub use request::{DeployRequest, Origin, Trigger, requests_for_event};

use crate::repoconfig::{RepoConfig, RepoConfigError};

/// Directory of policy files at the deploy repo's root.
pub const POLICY_DIR: &str = "policies";
/// Largest policy file read; a larger one is refused (and denies what it governs).
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

fn read_policy(path: &Path, shown: &str) -> Result<String, PolicyError> {
    let read_error = |source| PolicyError::Read {
        file: shown.to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_POLICY_BYTES {
        return Err(PolicyError::Unsafe {
            file: shown.to_string(),
            message: format!("{size} bytes is larger than {MAX_POLICY_BYTES}"),
        });
    }
    std::fs::read_to_string(path).map_err(read_error)
}

/// Why policies could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// `slipway.yaml` is missing or invalid; nothing can be evaluated.
    #[error("slipway.yaml")]
    RepoConfig(#[source] RepoConfigError),
    /// The policies directory exists but cannot be listed.
    #[error("list {dir}")]
    ReadDir {
        /// The directory.
        dir: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A policy file cannot be read.
    #[error("read {file}")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A policy file is not valid YAML of the policy schema.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// The parser's message.
        message: String,
    },
    /// A policy file is not something Slipway reads (a link, too large).
    #[error("{file}: {message}")]
    Unsafe {
        /// The file.
        file: String,
        /// Why it is refused.
        message: String,
    },
    /// A policy file parses but a value is unusable.
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// Dotted path of the field (`windows.allow[0].from`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

pub use crate::error_chain;

/// A policy file that failed to load, and what it governs (all, if unknown).
#[derive(Debug, Clone)]
pub struct BrokenPolicy {
    /// File name without extension.
    pub name: String,
    /// Path of the file.
    pub file: String,
    /// Apps it meant to govern.
    pub apps: Selector,
    /// Environments it meant to govern.
    pub environments: Selector,
    /// Why it failed, with file, line and field.
    pub error: String,
}

impl BrokenPolicy {
    /// Whether this file meant to govern `app`/`environment`.
    pub fn governs(&self, app: &str, environment: &str) -> bool {
        self.apps.selects(app) && self.environments.selects(environment)
    }
}

/// An app/environment of `slipway.yaml` that no policy file governs: every
/// deploy to it is denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ungoverned {
    /// App name.
    pub app: String,
    /// Environment name.
    pub environment: String,
}

/// `slipway.yaml` and every policy file of one deploy-repo revision.
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// The deploy repo's description.
    pub config: RepoConfig,
    /// Policies that loaded, sorted by file name.
    pub policies: Vec<Policy>,
    /// Policies that failed to load; they deny what they govern.
    pub broken: Vec<BrokenPolicy>,
}

impl PolicySet {
    /// Load `slipway.yaml` and `policies/*.yaml` (and `*.yml`) from a checkout.
    /// Only a bad `slipway.yaml` or an unreadable directory is an error; a bad
    /// policy file becomes a [`BrokenPolicy`].
    pub fn load(repo_root: &Path) -> Result<Self, PolicyError> {
        let config = RepoConfig::load(repo_root).map_err(PolicyError::RepoConfig)?;
        let dir = repo_root.join(POLICY_DIR);
        let mut files = Vec::new();
        if dir.is_dir() {
            let read_dir = |source| PolicyError::ReadDir {
                dir: dir.display().to_string(),
                source,
            };
            for entry in std::fs::read_dir(&dir).map_err(read_dir)? {
                let entry = entry.map_err(read_dir)?;
                let path = entry.path();
                let is_yaml = matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                );
                // `file_type` does not follow symlinks: a policy that is a link is refused below.
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if is_yaml && (kind.is_file() || kind.is_symlink()) {
                    let shown = format!(
                        "{POLICY_DIR}/{}",
                        path.file_name().unwrap_or_default().to_string_lossy()
                    );
                    let text = if kind.is_symlink() {
                        Err(PolicyError::Unsafe {
                            file: shown.clone(),
                            message: "is a symbolic link; policies must be regular files".into(),
                        })
                    } else {
                        read_policy(&path, &shown)
                    };
                    files.push((shown, text));
                }
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self::from_files(config, files))
    }

    /// Whether any policy file governs `app`/`environment`. A file that
    /// failed to load governs what its selectors name (it denies there); a
    /// target that no file governs is denied too ([`evaluate`]).
    pub fn governs(&self, app: &str, environment: &str) -> bool {
        self.policies.iter().any(|p| p.governs(app, environment))
            || self.broken.iter().any(|b| b.governs(app, environment))
    }

    /// Every app/environment of `slipway.yaml` that no policy file governs,
    /// in the order of apps by name and environments in promotion order.
    pub fn ungoverned(&self) -> Vec<Ungoverned> {
        self.config
            .apps
            .iter()
            .flat_map(|(app, declared)| {
                declared
                    .environments
                    .iter()
                    .filter(|env| !self.governs(app, &env.name))
                    .map(|env| Ungoverned {
                        app: app.clone(),
                        environment: env.name.clone(),
                    })
            })
            .collect()
    }

    /// Build from file names and their texts (or read errors), without touching the disk.
    pub fn from_files(
        config: RepoConfig,
        files: Vec<(String, Result<String, PolicyError>)>,
    ) -> Self {
        let mut policies = Vec::new();
        let mut broken = Vec::new();
        for (file, text) in files {
            let name = Path::new(&file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.clone());
            let outcome = match text {
                Err(error) => Err((error, (Selector::All, Selector::All))),
                Ok(text) => Policy::parse(&text, &name, &file, &config)
                    .map_err(|e| (e, Policy::selectors_of_broken(&text, &config))),
            };
            match outcome {
                Ok(policy) => policies.push(policy),
                Err((error, (apps, environments))) => broken.push(BrokenPolicy {
                    name,
                    file,
                    apps,
                    environments,
                    error: error_chain(&error),
                }),
            }
        }
        PolicySet {
            config,
            policies,
            broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLIPWAY_YAML: &str = "apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: envs/dev/web }
      - { name: staging, path: envs/staging/web }
      - { name: prod, path: envs/prod/web }
  worker:
    image: ghcr.io/acme/worker
    environments:
      - { name: dev, path: envs/dev/worker }
      - { name: prod, path: envs/prod/worker }
";

    /// Policy files by name and text.
    type Files<'a> = &'a [(&'a str, &'a str)];

    fn ungoverned(files: Files<'_>) -> Vec<String> {
        let config = RepoConfig::parse(SLIPWAY_YAML, "slipway.yaml").unwrap();
        let files = files
            .iter()
            .map(|(name, text)| (format!("policies/{name}"), Ok(text.to_string())))
            .collect();
        PolicySet::from_files(config, files)
            .ungoverned()
            .into_iter()
            .map(|u| format!("{}/{}", u.app, u.environment))
            .collect()
    }

    #[test]
    fn ungoverned_lists_each_target_no_policy_file_selects() {
        let cases: &[(&str, Files<'_>, &[&str])] = &[
            (
                "no policies at all",
                &[],
                &[
                    "web/dev",
                    "web/staging",
                    "web/prod",
                    "worker/dev",
                    "worker/prod",
                ],
            ),
            (
                "one policy for everything",
                &[("default.yaml", "{}\n")],
                &[],
            ),
            (
                "dev and staging only",
                &[("development.yaml", "environments: [dev, staging]\n")],
                &["web/prod", "worker/prod"],
            ),
            (
                "one app only",
                &[("web.yaml", "apps: [web]\n")],
                &["worker/dev", "worker/prod"],
            ),
            (
                "a broken file governs what its selectors name",
                &[
                    ("development.yaml", "environments: [dev, staging]\n"),
                    ("production.yaml", "environments: [prod]\nno_such_rule: 1\n"),
                ],
                &[],
            ),
            (
                "a wildcard in a list selects everything",
                &[("all.yaml", "apps: [\"*\"]\nenvironments: [\"*\"]\n")],
                &[],
            ),
        ];
        for (name, files, want) in cases {
            assert_eq!(ungoverned(files), *want, "{name}");
        }
    }
}
