//! One policy file: its YAML shape, and its validation into typed rules.
//!
//! Every scalar that needs more than a type check (a regex, a range, a zone, a
//! time, an app name) is read with its position, so a semantic error names
//! the file, line and field just as a syntax error does.

mod errors;
mod sections;
mod windows;

use errors::{parse_error, regex_message};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::PolicyError;
use super::rules::{Patterns, Promotion, RateLimit, Rule, TestedArtifact};
use crate::repoconfig::{RepoConfig, WriteMode};

/// Longest wait or soak a policy may ask for, in minutes (a year).
pub const MAX_MINUTES: u64 = 366 * 24 * 60;
/// Longest part of a source line quoted in an error.
const MAX_QUOTED_LINE: usize = 120;
/// How long an image waits for its pipeline result when the policy does not say.
pub const DEFAULT_PIPELINE_WAIT_MINUTES: u64 = 60;
/// How long a promotion waits for its upstream verification when the policy does not say.
pub const DEFAULT_VERIFICATION_WAIT_MINUTES: u64 = 24 * 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    apps: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    environments: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    mode: Option<WriteMode>,
    #[serde(default)]
    image: Option<RawImage>,
    #[serde(default)]
    source: Option<RawSource>,
    #[serde(default)]
    tested_artifact: Option<RawTested>,
    #[serde(default)]
    no_downgrade: bool,
    #[serde(default)]
    promotion: Option<RawPromotion>,
    #[serde(default)]
    windows: Option<windows::RawWindows>,
    #[serde(default)]
    rate_limit: Option<RawRateLimit>,
}

/// Only the selectors, read leniently when the whole file does not parse,
/// so that a broken file still denies exactly what it meant to govern.
#[derive(Debug, Deserialize)]
struct RawSelectors {
    #[serde(default)]
    apps: Option<Vec<String>>,
    #[serde(default)]
    environments: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    #[serde(default)]
    registries: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    repositories: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    tag_pattern: Option<Spanned<String>>,
    #[serde(default)]
    semver: Option<Spanned<String>>,
    #[serde(default)]
    allow_prerelease: bool,
    #[serde(default)]
    require_digest: bool,
    #[serde(default)]
    mutable_tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(default)]
    providers: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    repositories: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    refs: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTested {
    #[serde(default)]
    wait_minutes: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPromotion {
    #[serde(default)]
    min_soak_minutes: Option<Spanned<u64>>,
    #[serde(default)]
    wait_minutes: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    max_per_hour: Spanned<u32>,
}

/// Which apps or environments a policy governs: named ones, or all (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every app (or environment).
    All,
    /// Only these.
    Named(Vec<String>),
}

impl Selector {
    /// Whether `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        match self {
            Selector::All => true,
            Selector::Named(names) => names.iter().any(|n| n == name),
        }
    }

    fn from_names(names: Option<Vec<String>>) -> Self {
        match names {
            Some(names) if !names.iter().any(|n| n == "*") => Selector::Named(names),
            _ => Selector::All,
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::All => f.write_str("[*]"),
            Selector::Named(names) => write!(f, "[{}]", names.join(", ")),
        }
    }
}

/// A validated policy: what it governs and its rules in evaluation order.
#[derive(Debug, Clone)]
pub struct Policy {
    /// File name without extension; names the policy in traces.
    pub name: String,
    /// Path of the file, as given to the loader.
    pub file: String,
    /// What it is for, in the author's words.
    pub description: Option<String>,
    /// Apps governed.
    pub apps: Selector,
    /// Environments governed.
    pub environments: Selector,
    /// `pull-request` forces reviews even where `slipway.yaml` says `commit`.
    pub mode: Option<WriteMode>,
    /// The rules.
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Whether this policy governs `app` in `environment`.
    pub fn governs(&self, app: &str, environment: &str) -> bool {
        self.apps.selects(app) && self.environments.selects(environment)
    }

    /// Parse and validate one policy file's text; `file` names it in errors.
    pub fn parse(
        text: &str,
        name: &str,
        file: &str,
        config: &RepoConfig,
    ) -> Result<Self, PolicyError> {
        let raw: RawPolicy =
            serde_saphyr::from_str(text).map_err(|e| parse_error(file, text, &e))?;
        Builder { file, config }.build(raw, name)
    }

    /// What a file that failed to load meant to govern, read as leniently as
    /// possible. A selector that cannot be read, or names something
    /// `slipway.yaml` does not declare (a typo), governs everything: a broken
    /// file must never deny less than its author meant.
    pub fn selectors_of_broken(text: &str, config: &RepoConfig) -> (Selector, Selector) {
        let Ok(raw) = serde_saphyr::from_str::<RawSelectors>(text) else {
            return (Selector::All, Selector::All);
        };
        let known_app = |n: &str| config.apps.contains_key(n);
        let known_env = |n: &str| config.apps.values().any(|a| a.environment(n).is_some());
        (
            lenient(raw.apps, known_app),
            lenient(raw.environments, known_env),
        )
    }
}

fn lenient(names: Option<Vec<String>>, known: impl Fn(&str) -> bool) -> Selector {
    match names {
        Some(names) if !names.is_empty() && names.iter().all(|n| n == "*" || known(n)) => {
            Selector::from_names(Some(names))
        }
        _ => Selector::All,
    }
}

/// Builds typed rules, turning every bad value into an error with its position.
struct Builder<'a> {
    file: &'a str,
    config: &'a RepoConfig,
}

impl Builder<'_> {
    fn invalid(&self, at: &Location, field: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_string(),
            line: at.line(),
            column: at.column(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn build(&self, raw: RawPolicy, name: &str) -> Result<Policy, PolicyError> {
        let apps = self.selector(raw.apps, "apps", |n| self.config.apps.contains_key(n))?;
        let environments = self.selector(raw.environments, "environments", |n| {
            self.config
                .apps
                .values()
                .any(|a| a.environment(n).is_some())
        })?;
        let mut rules = Vec::new();
        if let Some(image) = raw.image {
            self.image(image, &mut rules)?;
        }
        if let Some(source) = raw.source {
            self.source(source, &mut rules)?;
        }
        if let Some(tested) = raw.tested_artifact {
            let wait_minutes = self.minutes(tested.wait_minutes, "tested_artifact.wait_minutes")?;
            rules.push(Rule::TestedArtifact(TestedArtifact {
                wait_minutes: wait_minutes.unwrap_or(DEFAULT_PIPELINE_WAIT_MINUTES),
            }));
        }
        if raw.no_downgrade {
            rules.push(Rule::NoDowngrade);
        }
        if let Some(promotion) = raw.promotion {
            let soak = self.minutes(promotion.min_soak_minutes, "promotion.min_soak_minutes")?;
            let wait = self.minutes(promotion.wait_minutes, "promotion.wait_minutes")?;
            rules.push(Rule::Promotion(Promotion {
                min_soak_minutes: soak.unwrap_or(0),
                wait_minutes: wait.unwrap_or(DEFAULT_VERIFICATION_WAIT_MINUTES),
            }));
        }
        if let Some(w) = raw.windows {
            rules.push(Rule::Windows(windows::build(self, w)?));
        }
        if let Some(limit) = raw.rate_limit {
            if limit.max_per_hour.value == 0 {
                return Err(self.invalid(
                    &limit.max_per_hour.referenced,
                    "rate_limit.max_per_hour",
                    "must be at least 1; use a freeze to stop deploys",
                ));
            }
            rules.push(Rule::RateLimit(RateLimit {
                max_per_hour: limit.max_per_hour.value,
            }));
        }
        Ok(Policy {
            name: name.to_string(),
            file: self.file.to_string(),
            description: raw.description,
            apps,
            environments,
            mode: raw.mode,
            rules,
        })
    }

    fn selector(
        &self,
        names: Option<Vec<Spanned<String>>>,
        field: &str,
        known: impl Fn(&str) -> bool,
    ) -> Result<Selector, PolicyError> {
        let Some(names) = names else {
            return Ok(Selector::All);
        };
        if names.is_empty() {
            return Err(PolicyError::Invalid {
                file: self.file.to_string(),
                line: 0,
                column: 0,
                field: field.to_string(),
                message: "selects nothing; leave it out or use [\"*\"] for all".into(),
            });
        }
        for (i, n) in names.iter().enumerate() {
            if n.value != "*" && !known(&n.value) {
                return Err(self.invalid(
                    &n.referenced,
                    &format!("{field}[{i}]"),
                    format!("{:?} is not declared in slipway.yaml", n.value),
                ));
            }
        }
        Ok(Selector::from_names(Some(
            names.into_iter().map(|n| n.value).collect(),
        )))
    }

    fn patterns(&self, list: Vec<Spanned<String>>, field: &str) -> Result<Patterns, PolicyError> {
        for (i, p) in list.iter().enumerate() {
            if p.value.trim().is_empty() {
                return Err(self.invalid(&p.referenced, &format!("{field}[{i}]"), "empty pattern"));
            }
        }
        let location = list
            .first()
            .map(|p| p.referenced)
            .unwrap_or(Location::UNKNOWN);
        if list.is_empty() {
            return Err(self.invalid(
                &location,
                field,
                "an empty list allows nothing; leave it out instead",
            ));
        }
        Patterns::new(list.into_iter().map(|p| p.value).collect())
            .map_err(|e| self.invalid(&location, field, regex_message(&e)))
    }

    fn minutes(
        &self,
        value: Option<Spanned<u64>>,
        field: &str,
    ) -> Result<Option<u64>, PolicyError> {
        match value {
            Some(v) if v.value > MAX_MINUTES => Err(self.invalid(
                &v.referenced,
                field,
                format!("at most {MAX_MINUTES} minutes"),
            )),
            other => Ok(other.map(|v| v.value)),
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
