//! The Helm parts of an environment in `slipway.yaml`: the chart sync
//! renders with `helm template`, and where the writer finds the app's image
//! in a values file.

use serde::{Deserialize, Serialize};

use super::{Environment, is_safe_relative_path};

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
    /// Values files, relative to the environment's `path` (`../common.yaml`
    /// may climb, inside the repo), passed to `helm template --values` in
    /// order (a later file wins); the chart's own `values.yaml` always
    /// applies first.
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

/// Whether `relative`, taken from directory `base` (both relative to the
/// repo root), names a path inside the repo: not absolute, and never more
/// `..` than directories above it.
pub fn stays_inside(base: &str, relative: &str) -> bool {
    if relative.is_empty()
        || relative.starts_with('/')
        || relative.contains(['\\', '\0', '\n', '\r'])
    {
        return false;
    }
    let mut depth = base
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .count();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." if depth == 0 => return false,
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    true
}

/// A dotted key path (`image.tag`): non-empty keys separated by `.`.
pub fn is_key_path(path: &str) -> bool {
    !path.is_empty() && path.split('.').all(|k| !k.is_empty())
}

/// The Helm fields of one environment: paths inside the repo, key paths
/// that name keys. The error names the field and what is wrong.
pub(super) fn validate(env: &Environment, field: &str) -> Result<(), (String, &'static str)> {
    const INSIDE: &str = "a relative path inside the repo, without '..'";
    if let Some(helm) = &env.helm {
        if let Some(chart) = &helm.chart
            && !is_safe_relative_path(chart)
        {
            return Err((format!("{field}.helm.chart"), INSIDE));
        }
        for (i, values) in helm.values.iter().enumerate() {
            if !stays_inside(&env.path, values) {
                return Err((
                    format!("{field}.helm.values[{i}]"),
                    "a path relative to the environment's path that stays inside the repo",
                ));
            }
        }
    }
    if let Some(values) = &env.helm_values {
        if !is_safe_relative_path(&values.file) {
            return Err((format!("{field}.helm_values.file"), INSIDE));
        }
        for (name, path) in values.key_paths() {
            if !is_key_path(path) {
                return Err((
                    format!("{field}.helm_values.{name}"),
                    "a dotted key path such as image.tag",
                ));
            }
        }
        if values.tag.is_none() && values.digest.is_none() {
            return Err((
                format!("{field}.helm_values"),
                "names a tag or a digest key (or both)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::repoconfig::RepoConfig;

    const ENV: &str = "apps:\n  web:\n    image: ghcr.io/acme/web\n    environments:\n      - name: prod\n        path: envs/prod\n";

    #[test]
    fn values_paths_may_climb_but_not_leave_the_repo() {
        let cases = [
            ("beside", "envs/prod", "values.yaml", true),
            ("shared", "envs/prod", "../common.yaml", true),
            ("to the root", "envs/prod", "../../v.yaml", true),
            ("above the root", "envs/prod", "../../../v.yaml", false),
            ("absolute", "envs/prod", "/etc/v.yaml", false),
            ("empty", "envs/prod", "", false),
            ("down and up", "envs", "a/../../v.yaml", true),
        ];
        for (name, base, relative, want) in cases {
            assert_eq!(super::stays_inside(base, relative), want, "{name}");
        }
    }

    #[test]
    fn helm_fields_are_checked_at_load_and_name_the_field() {
        let cases = [
            (
                "chart outside",
                "helm: { chart: ../charts/web }",
                "helm.chart",
            ),
            (
                "values outside",
                "helm: { values: [../../../v.yaml] }",
                "helm.values[0]",
            ),
            (
                "values file outside",
                "helm_values: { file: /etc/v.yaml, repository: image.repository, tag: image.tag }",
                "helm_values.file",
            ),
            (
                "empty key",
                "helm_values: { file: v.yaml, repository: image..repository, tag: image.tag }",
                "helm_values.repository",
            ),
            (
                "neither tag nor digest",
                "helm_values: { file: v.yaml, repository: image.repository }",
                "names a tag or a digest",
            ),
        ];
        for (name, line, needle) in cases {
            let text = format!("{ENV}        {line}\n");
            let err = RepoConfig::parse(&text, "slipway.yaml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{name}: {err}");
        }
        let good = format!(
            "{ENV}        helm: {{ chart: charts/web, values: [../common.yaml, values.yaml], release_name: web }}\n        helm_values: {{ file: values.yaml, repository: image.repository, tag: image.tag }}\n"
        );
        let config = RepoConfig::parse(&good, "slipway.yaml").unwrap();
        let env = &config.apps["web"].environments[0];
        assert_eq!(
            env.helm.as_ref().unwrap().chart.as_deref(),
            Some("charts/web")
        );
        assert_eq!(
            env.helm_values.as_ref().unwrap().tag.as_deref(),
            Some("image.tag")
        );
    }
}
