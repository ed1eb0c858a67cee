//! The deploy repository's own description: `slipway.yaml` at its root.
//!
//! It names the apps, the image repository each one deploys, and its
//! environments in promotion order, each with the path of its manifests, how
//! changes reach it (a direct commit or a pull request) and what it may touch
//! in the cluster. Loading validates everything; a bad file is an error naming
//! the file, line and field, never a partial configuration.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

mod analysis;
mod helm;
pub use analysis::{
    Analysis, Comparison, ComparisonOp, DEFAULT_COUNT, DEFAULT_INTERVAL, InconclusiveAs,
    PLACEHOLDERS, ParseComparisonError, PrometheusSource, QueryContext, placeholders, render_query,
};
pub use helm::{HelmRelease, HelmValues, is_key_path};
mod strategy;
pub use strategy::{
    BlueGreen, Canary, CanaryStep, DrainSeconds, MIN_AUTO_DRAIN, Pause, Strategy, Traffic,
    parse_duration,
};

/// File name of the description at the deploy repo's root.
pub const FILE_NAME: &str = "slipway.yaml";

/// Kinds an app may apply when `slipway.yaml` does not list its own.
pub const DEFAULT_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Service",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "HorizontalPodAutoscaler",
];

/// How a change reaches an environment's branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    /// Commit straight to the deploy branch.
    Commit,
    /// Push a branch and open (or update) a pull/merge request.
    PullRequest,
}

impl WriteMode {
    /// The name used in `slipway.yaml`, trailers and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Commit => "commit",
            WriteMode::PullRequest => "pull-request",
        }
    }
}

/// One environment of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Name, unique within the app (`dev`, `staging`, `prod`).
    pub name: String,
    /// Directory of the manifests, relative to the repo root: plain YAML, a
    /// kustomization, or a Helm chart (a `Chart.yaml`, or `helm` below).
    pub path: String,
    /// How changes reach it.
    #[serde(default = "default_mode")]
    pub mode: WriteMode,
    /// The namespace its namespaced objects must live in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Seconds to wait for a rollout before calling it failed.
    #[serde(default = "default_rollout_timeout")]
    pub rollout_timeout_seconds: u64,
    /// Create `namespace` when it is missing (labelled as Slipway's, never pruned).
    #[serde(default = "default_true")]
    pub create_namespace: bool,
    /// Delete and re-create an object whose immutable field changed (a Job's
    /// template, a Deployment's selector); otherwise only objects annotated
    /// `slipway.dev/recreate: "true"` are, and the revision is refused.
    #[serde(default)]
    pub recreate_on_immutable: bool,
    /// Render with `helm template` from this chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmRelease>,
    /// Where the writer finds the app's image in a Helm values file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_values: Option<HelmValues>,
    /// How a new revision rolls out: `rolling` (the default), `blue_green`
    /// or `canary`.
    #[serde(default, skip_serializing_if = "is_rolling")]
    pub strategy: Strategy,
}

fn is_rolling(strategy: &Strategy) -> bool {
    *strategy == Strategy::Rolling
}

fn default_true() -> bool {
    true
}

fn default_mode() -> WriteMode {
    WriteMode::Commit
}

fn default_rollout_timeout() -> u64 {
    300
}

/// One app: an image repository deployed through ordered environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Image repository, registry host and port included, without tag or
    /// digest (`ghcr.io/acme/web`, `registry.example.com:5000/acme/web`);
    /// checked with [`crate::image::ImageName::parse`] at load.
    pub image: String,
    /// Source repository the image is built from (`acme/web`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Environments in promotion order: each is promoted from the one before it.
    pub environments: Vec<Environment>,
    /// Kinds this app may apply; [`DEFAULT_KINDS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
}

impl App {
    /// The environment called `name`.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The environment `name` is promoted from, if it is not the first.
    pub fn promoted_from(&self, name: &str) -> Option<&Environment> {
        let index = self.environments.iter().position(|e| e.name == name)?;
        index.checked_sub(1).map(|i| &self.environments[i])
    }

    /// The environment promoted from `name`, if it is not the last.
    pub fn promotes_to(&self, name: &str) -> Option<&Environment> {
        let index = self.environments.iter().position(|e| e.name == name)?;
        self.environments.get(index + 1)
    }

    /// Whether this app may apply objects of `kind`.
    pub fn allows_kind(&self, kind: &str) -> bool {
        match &self.kinds {
            Some(kinds) => kinds.iter().any(|k| k == kind),
            None => DEFAULT_KINDS.contains(&kind),
        }
    }
}

/// The whole `slipway.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Branch that holds the desired state.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Apps by name.
    pub apps: BTreeMap<String, App>,
    /// Metric analyses by name, shared by every app and environment; a
    /// canary step names one.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "analysis::deserialize_analyses"
    )]
    pub analyses: BTreeMap<String, Analysis>,
}

fn default_branch() -> String {
    "main".to_string()
}

/// Why `slipway.yaml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RepoConfigError {
    /// The file could not be read.
    #[error("read {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not parse into the schema; the message names line and field.
    #[error("parse {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The file parses but says something impossible.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl RepoConfig {
    /// Read and validate `slipway.yaml` at the root of a checkout.
    pub fn load(repo_root: &Path) -> Result<Self, RepoConfigError> {
        let path = repo_root.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|source| RepoConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse and validate the text of a `slipway.yaml`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RepoConfigError> {
        let config: RepoConfig =
            serde_saphyr::from_str(text).map_err(|e| RepoConfigError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), RepoConfigError> {
        let invalid = |field: String, message: &str| RepoConfigError::Invalid {
            path: origin.to_string(),
            field,
            message: message.to_string(),
        };
        if !is_safe_name(&self.branch.replace('/', "-")) {
            return Err(invalid("branch".into(), "not a plain branch name"));
        }
        for (name, app) in &self.apps {
            if !is_safe_name(name) {
                return Err(invalid(
                    format!("apps.{name}"),
                    "app names are lowercase letters, digits and '-'",
                ));
            }
            if let Err(e) = crate::image::ImageName::parse(&app.image) {
                return Err(invalid(
                    format!("apps.{name}.image"),
                    &format!(
                        "{e} (an image repository such as registry.example.com:5000/acme/web, without tag or digest)"
                    ),
                ));
            }
            if app.environments.is_empty() {
                return Err(invalid(
                    format!("apps.{name}.environments"),
                    "at least one environment",
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, env) in app.environments.iter().enumerate() {
                let field = format!("apps.{name}.environments[{i}]");
                if !is_safe_name(&env.name) {
                    return Err(invalid(
                        format!("{field}.name"),
                        "environment names are lowercase letters, digits and '-'",
                    ));
                }
                if !seen.insert(env.name.as_str()) {
                    return Err(invalid(format!("{field}.name"), "duplicate environment"));
                }
                if !is_safe_relative_path(&env.path) {
                    return Err(invalid(
                        format!("{field}.path"),
                        "a relative path inside the repo, without '..'",
                    ));
                }
                helm::validate(env, &field).map_err(|(f, m)| invalid(f, m))?;
                strategy::validate(&env.strategy)
                    .map_err(|(f, m)| invalid(format!("{field}.{f}"), &m))?;
                analysis::check_steps(&env.strategy, &self.analyses)
                    .map_err(|(f, m)| invalid(format!("{field}.{f}"), &m))?;
            }
        }
        for (name, analysis) in &self.analyses {
            analysis::validate(name, analysis).map_err(|(f, m)| invalid(f, &m))?;
        }
        Ok(())
    }
}

/// Lowercase letters, digits and inner '-', 1 to 63 characters: safe in branch
/// names, file paths, label values and commit trailers.
pub fn is_safe_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A relative path that stays inside the repository.
pub fn is_safe_relative_path(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && !path.contains(['\n', '\r', '\0', '\\'])
        && p.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

#[cfg(test)]
mod tests;
