//! Metric analyses in `slipway.yaml` (`analyses:` at the top level, shared
//! by every app and environment): a Prometheus instant query, the comparison
//! its single value must pass, and how many runs, how far apart, and how many
//! misses are allowed. A canary step names one by its key.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use std::time::Duration;

use serde::{Deserialize, Serialize};

mod placeholders;
use placeholders::check_promql;
pub use placeholders::{PLACEHOLDERS, QueryContext, placeholders, render_query};

/// Interval between runs when `interval` is absent.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// Runs when `count` is absent.
pub const DEFAULT_COUNT: u32 = 5;

/// One analysis (an entry of `analyses:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// The Prometheus server to query.
    pub prometheus: PrometheusSource,
    /// A PromQL expression whose result must be a single number (one
    /// sample of an instant vector, or a scalar); may hold `{{revision}}`,
    /// `{{app}}` and `{{environment}}`.
    pub query: String,
    /// The comparison each run's value must pass (`"< 0.01"`).
    pub success: Comparison,
    /// Time between runs: `30s`, `2m`, `1h 30m` or ISO 8601 (`PT30S`), as
    /// [`super::parse_duration`] reads it; default 30 s, must be positive.
    #[serde(default = "default_interval", with = "duration_text")]
    pub interval: Duration,
    /// Number of runs; default 5, at least 1.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Misses allowed: the analysis fails at miss number `failure_limit + 1`.
    /// Default 0 (the first miss fails it); must be below `count`.
    #[serde(default)]
    pub failure_limit: u32,
    /// What a run without data (an empty result, `NaN`) counts as: a miss
    /// (`fail`, the default) or a pass (`pass`).
    #[serde(default)]
    pub inconclusive: InconclusiveAs,
}

fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}

fn default_count() -> u32 {
    DEFAULT_COUNT
}

/// Where an analysis sends its queries (`prometheus:` in an analysis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// Base URL of the Prometheus HTTP API, `http` or `https`, without
    /// `/api/v1` (`http://prometheus.monitoring:9090`); a path prefix is kept.
    pub url: String,
}

/// What a run without data counts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InconclusiveAs {
    /// A miss, counted against `failure_limit`.
    #[default]
    Fail,
    /// A pass.
    Pass,
}

/// A comparison operator of [`Comparison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonOp {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
}

impl ComparisonOp {
    /// The operator as written in `success:`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonOp::Less => "<",
            ComparisonOp::LessOrEqual => "<=",
            ComparisonOp::Greater => ">",
            ComparisonOp::GreaterOrEqual => ">=",
            ComparisonOp::Equal => "==",
            ComparisonOp::NotEqual => "!=",
        }
    }
}

/// `success:` of an analysis: an operator and a finite threshold, written
/// `"< 0.01"` (`<`, `<=`, `>`, `>=`, `==`, `!=`; the space is optional).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Comparison {
    /// The operator.
    pub op: ComparisonOp,
    /// The right-hand side; never NaN or infinite.
    pub threshold: f64,
}

// The threshold is finite (checked when parsing), so equality is total.
impl Eq for Comparison {}

impl Comparison {
    /// Whether `value` passes: `value op threshold`. NaN never passes.
    pub fn holds(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        match self.op {
            ComparisonOp::Less => value < self.threshold,
            ComparisonOp::LessOrEqual => value <= self.threshold,
            ComparisonOp::Greater => value > self.threshold,
            ComparisonOp::GreaterOrEqual => value >= self.threshold,
            ComparisonOp::Equal => value == self.threshold,
            ComparisonOp::NotEqual => value != self.threshold,
        }
    }
}

/// Why a `success:` text is not a [`Comparison`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a comparison such as \"< 0.01\" (<, <=, >, >=, ==, != and a finite number)"
)]
pub struct ParseComparisonError {
    /// The text as written.
    pub text: String,
}

impl FromStr for Comparison {
    type Err = ParseComparisonError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ParseComparisonError {
            text: text.to_string(),
        };
        let trimmed = text.trim();
        // Two-character operators first, so `<=` is not read as `<` and `=...`.
        let ops = [
            ComparisonOp::LessOrEqual,
            ComparisonOp::GreaterOrEqual,
            ComparisonOp::Equal,
            ComparisonOp::NotEqual,
            ComparisonOp::Less,
            ComparisonOp::Greater,
        ];
        let (op, rest) = ops
            .into_iter()
            .find_map(|op| trimmed.strip_prefix(op.as_str()).map(|rest| (op, rest)))
            .ok_or_else(err)?;
        let threshold: f64 = rest.trim().parse().map_err(|_| err())?;
        if !threshold.is_finite() {
            return Err(err());
        }
        Ok(Comparison { op, threshold })
    }
}

impl TryFrom<String> for Comparison {
    type Error = ParseComparisonError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Comparison> for String {
    fn from(c: Comparison) -> String {
        c.to_string()
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.threshold)
    }
}

/// `interval` as text: jiff's friendly format (`30s`, `2m`) or ISO 8601.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let d = jiff::SignedDuration::try_from(*d).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&format!("{d:#}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::super::parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Reads `analyses:` entry by entry, so that an error in one names it and
/// the field (`analyses.errors.success: ...`), not only a line.
pub(super) fn deserialize_analyses<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Analysis>, D::Error> {
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
    raw.into_iter()
        .map(
            |(name, value)| match serde_path_to_error::deserialize(value) {
                Ok(analysis) => Ok((name, analysis)),
                Err(e) => {
                    let field = match e.path().to_string().as_str() {
                        "." => String::new(),
                        path => format!(".{path}"),
                    };
                    Err(serde::de::Error::custom(format!(
                        "analyses.{name}{field}: {}",
                        e.into_inner()
                    )))
                }
            },
        )
        .collect()
}

/// The checks at load of the analysis called `name`; the error names the
/// field (`analyses.NAME.FIELD`) and what is wrong.
pub(super) fn validate(name: &str, analysis: &Analysis) -> Result<(), (String, String)> {
    let field = |f: &str| format!("analyses.{name}.{f}");
    if !super::is_safe_name(name) {
        return Err((
            format!("analyses.{name}"),
            "analysis names are lowercase letters, digits and '-'".into(),
        ));
    }
    check_url(&analysis.prometheus.url).map_err(|m| (field("prometheus.url"), m))?;
    if analysis.query.trim().is_empty() {
        return Err((field("query"), "a PromQL expression".into()));
    }
    placeholders(&analysis.query).map_err(|m| (field("query"), m))?;
    check_promql(&analysis.query).map_err(|m| (field("query"), m))?;
    if analysis.interval.is_zero() {
        return Err((field("interval"), "must be longer than zero".into()));
    }
    if analysis.count == 0 {
        return Err((field("count"), "at least 1".into()));
    }
    if analysis.failure_limit >= analysis.count {
        return Err((
            field("failure_limit"),
            format!(
                "must be below count ({}), or the analysis could never fail",
                analysis.count
            ),
        ));
    }
    Ok(())
}

/// Every `analysis:` step of a canary names an entry of `analyses:`; the
/// error names the step (relative to the environment) and the analysis.
pub(super) fn check_steps(
    strategy: &super::Strategy,
    analyses: &BTreeMap<String, Analysis>,
) -> Result<(), (String, String)> {
    let super::Strategy::Canary(canary) = strategy else {
        return Ok(());
    };
    for (i, step) in canary.steps.iter().enumerate() {
        if let super::CanaryStep::Analysis(name) = step
            && !analyses.contains_key(name)
        {
            return Err((
                format!("strategy.canary.steps[{i}].analysis"),
                format!("no analysis `{name}` in analyses"),
            ));
        }
    }
    Ok(())
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("{url:?} is not a URL ({e}); such as http://prometheus:9090"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("{url:?} is not an http or https URL with a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials do not belong in slipway.yaml; give the URL without them".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url:?}: a base URL without query or fragment"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
