//! The Helm parts of an environment in `slipway.yaml`: the chart sync
//! renders with `helm template`, and where the writer finds the app's image
//! in a values file.

use serde::{Deserialize, Serialize};

/// A Helm chart an environment renders with `helm template` (`helm:` in an
/// environment). Without it, an environment whose `path` holds a
/// `Chart.yaml` is rendered as a chart with the defaults below.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmRelease {
    /// Directory of the chart, relative to the repo root; the environment's
    /// `path` when absent. Its dependencies must be vendored under `charts/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// Values files, relative to the environment's `path`, passed to
    /// `helm template -f` in order (a later file wins); the chart's own
    /// `values.yaml` always applies first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The release name; the app's name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// The release namespace; the environment's `namespace`, else `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where the app's image lives in a Helm values file (`helm_values:` in an
/// environment): dotted key paths into one file. Without it, the writer
/// recognises the common shapes by itself (`image: {repository, tag}`,
/// `image: {registry, repository, tag}`, `image: "repo:tag"`, and the same
/// under a top-level key per container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmValues {
    /// The values file, relative to the environment's `path`.
    pub file: String,
    /// Dotted path of the repository (`image.repository`); with `registry`,
    /// the repository without its registry host.
    pub repository: String,
    /// Dotted path of the registry host (`image.registry`), when the values
    /// keep it apart from the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Dotted path of the tag (`image.tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Dotted path of the digest (`image.digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl HelmValues {
    /// The key paths as lists of keys, for the checks at load.
    pub fn key_paths(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("repository", Some(self.repository.as_str())),
            ("registry", self.registry.as_deref()),
            ("tag", self.tag.as_deref()),
            ("digest", self.digest.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, path)| path.map(|p| (name, p)))
    }
}

/// A dotted key path (`image.tag`): non-empty keys separated by `.`.
pub fn is_key_path(path: &str) -> bool {
    !path.is_empty() && path.split('.').all(|k| !k.is_empty())
}
