//! Which tool renders an environment, and with which arguments: decided
//! from `slipway.yaml` and from what the environment's path holds.

use std::path::Path;

use super::plain::{child_path, parse_output};
use super::{RenderError, RenderedObject};
use crate::deployrepo::edit::KUSTOMIZATION_FILES;
use crate::repoconfig::{Environment, HelmRelease};
use crate::sync::tree::{self, ManifestTree, Node};

/// The file that marks a Helm chart's directory.
pub const CHART_FILE: &str = "Chart.yaml";
/// The namespace of a Helm release when neither `helm.namespace` nor the
/// environment's `namespace` names one.
pub const DEFAULT_HELM_NAMESPACE: &str = "default";

/// How one environment is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipe {
    /// Plain YAML below `path`.
    Plain {
        /// The environment's path.
        path: String,
    },
    /// `kustomize build dir`.
    Kustomize {
        /// The kustomization's directory.
        dir: String,
        /// The kustomization file's path.
        file: String,
    },
    /// `helm template`.
    Helm(HelmTemplate),
}

/// One `helm template` run; every path is a repository path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmTemplate {
    /// The chart's directory.
    pub chart: String,
    /// Values files, in order.
    pub values: Vec<String>,
    /// The release name.
    pub release_name: String,
    /// The release namespace.
    pub namespace: String,
}

/// Decide how `env` of app `app_name` renders in `tree`.
pub fn recipe(
    tree: &dyn ManifestTree,
    app_name: &str,
    env: &Environment,
) -> Result<Recipe, RenderError> {
    if let Some(helm) = &env.helm {
        return helm_recipe(tree, app_name, env, helm);
    }
    match tree.node(&env.path)? {
        None => Err(RenderError::Missing {
            path: env.path.clone(),
        }),
        Some(Node::Dir(names)) => {
            let has = |name: &str| names.iter().any(|n| n == name);
            if let Some(name) = KUSTOMIZATION_FILES.iter().find(|k| has(k)) {
                return Ok(Recipe::Kustomize {
                    dir: env.path.clone(),
                    file: child_path(&env.path, name),
                });
            }
            if has(CHART_FILE) {
                return helm_recipe(tree, app_name, env, &HelmRelease::default());
            }
            Ok(Recipe::Plain {
                path: env.path.clone(),
            })
        }
        Some(Node::File(_)) => Ok(Recipe::Plain {
            path: env.path.clone(),
        }),
    }
}

fn helm_recipe(
    tree: &dyn ManifestTree,
    app_name: &str,
    env: &Environment,
    helm: &HelmRelease,
) -> Result<Recipe, RenderError> {
    let invalid = |path: &str, key: &str, message: &str| RenderError::Invalid {
        path: path.into(),
        key: key.into(),
        message: message.into(),
    };
    let chart = helm.chart.clone().unwrap_or_else(|| env.path.clone());
    if !matches!(
        tree.node(&child_path(&chart, CHART_FILE))?,
        Some(Node::File(_))
    ) {
        return Err(invalid(
            &chart,
            "helm.chart",
            "no Chart.yaml in this directory",
        ));
    }
    let mut values = Vec::new();
    for file in &helm.values {
        let path = tree::join(&env.path, file)
            .ok_or_else(|| invalid(&env.path, "helm.values", "leaves the repository"))?;
        if !matches!(tree.node(&path)?, Some(Node::File(_))) {
            return Err(invalid(&path, "helm.values", "no such values file"));
        }
        values.push(path);
    }
    Ok(Recipe::Helm(HelmTemplate {
        chart,
        values,
        release_name: helm
            .release_name
            .clone()
            .unwrap_or_else(|| app_name.to_string()),
        namespace: helm
            .namespace
            .clone()
            .or_else(|| env.namespace.clone())
            .unwrap_or_else(|| DEFAULT_HELM_NAMESPACE.to_string()),
    }))
}

impl Recipe {
    /// The tool it needs, when it needs one.
    pub fn tool(&self) -> Option<&'static str> {
        match self {
            Recipe::Plain { .. } => None,
            Recipe::Kustomize { .. } => Some("kustomize"),
            Recipe::Helm(_) => Some("helm"),
        }
    }

    /// The paths the tool reads: a chart's directory and its values files
    /// (helm reads nothing else); the whole tree for a kustomization (it
    /// may load bases from anywhere in the repo).
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            Recipe::Helm(h) => std::iter::once(h.chart.as_str())
                .chain(h.values.iter().map(String::as_str))
                .collect(),
            _ => vec![""],
        }
    }

    /// The repository path that errors name.
    pub fn source(&self) -> &str {
        match self {
            Recipe::Plain { path } => path,
            Recipe::Kustomize { file, .. } => file,
            Recipe::Helm(h) => &h.chart,
        }
    }

    /// The tool's arguments (after its prefix) with the revision's files
    /// under `repo`; `helm` lets kustomize inflate local `helmCharts`.
    pub fn args(&self, repo: &Path, helm: Option<&Path>) -> Vec<String> {
        let at = |p: &str| repo.join(p).to_string_lossy().into_owned();
        match self {
            Recipe::Plain { .. } => Vec::new(),
            Recipe::Kustomize { dir, .. } => {
                let mut args = vec![at(dir)];
                if let Some(helm) = helm {
                    args.extend([
                        "--enable-helm".into(),
                        "--helm-command".into(),
                        helm.to_string_lossy().into_owned(),
                    ]);
                }
                args
            }
            Recipe::Helm(h) => {
                let mut args = vec![
                    "template".into(),
                    h.release_name.clone(),
                    at(&h.chart),
                    "--namespace".into(),
                    h.namespace.clone(),
                    "--include-crds".into(),
                    "--skip-tests".into(),
                ];
                for file in &h.values {
                    args.extend(["--values".into(), at(file)]);
                }
                args
            }
        }
    }

    /// The objects in the tool's output. A chart's objects name the
    /// template they came from (helm's `# Source:` comment, as a repository
    /// path); a kustomization's name the kustomization.
    pub fn parse(&self, output: &[u8]) -> Result<Vec<RenderedObject>, RenderError> {
        let Recipe::Helm(h) = self else {
            return parse_output(self.source(), output);
        };
        let text = String::from_utf8_lossy(output);
        let mut objects = Vec::new();
        for chunk in split_documents(&text) {
            let source = chunk
                .lines()
                .find_map(|l| l.strip_prefix("# Source: "))
                .and_then(|s| s.trim().split_once('/'))
                .map(|(_, inside)| child_path(&h.chart, inside))
                .unwrap_or_else(|| h.chart.clone());
            objects.extend(parse_output(&source, chunk.as_bytes())?);
        }
        Ok(objects)
    }
}

/// The YAML documents of a stream, split at the `---` lines between them.
fn split_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|d| !d.trim().is_empty());
    docs
}
