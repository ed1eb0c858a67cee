//! Running a metric analysis of `slipway.yaml` against Prometheus: `count`
//! instant queries (`GET {url}/api/v1/query?query=...`), `interval` apart,
//! each judged against the analysis' comparison, until the verdict is
//! certain. Runs are handed to the caller as they happen, and a run list
//! given back resumes the count, so a restarted sync continues where it was.
//!
//! The response format is the Prometheus HTTP API's
//! (<https://prometheus.io/docs/prometheus/latest/querying/api/>): an
//! envelope `{"status": "success"|"error", "data": ..., "errorType", "error"}`
//! whose `data` is `{"resultType": "vector"|"scalar"|"matrix"|"string",
//! "result": ...}`; sample values are strings (`"0.5"`, `"NaN"`, `"+Inf"`).

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::repoconfig::{Analysis, InconclusiveAs};

/// Longest one query may take, connection included; a slower one is a miss.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response body read; a larger one is a miss (a query returning
/// that much is not the single number an analysis needs).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The values substituted for a query's placeholders.
#[derive(Debug, Clone, Copy)]
pub struct QueryContext<'a> {
    /// `{{revision}}`: the revision being analysed (the canary's
    /// `slipway.dev/revision` label value).
    pub revision: &'a str,
    /// `{{app}}`: the app's name in `slipway.yaml`.
    pub app: &'a str,
    /// `{{environment}}`: the environment's name.
    pub environment: &'a str,
}

/// `query` with `{{revision}}`, `{{app}}` and `{{environment}}` (inner
/// spaces allowed) replaced by their values; other text is left as is (the
/// loader has already refused unknown placeholders).
pub fn render_query(query: &str, context: &QueryContext<'_>) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let value = match after[..end].trim() {
            "revision" => context.revision,
            "app" => context.app,
            "environment" => context.environment,
            _ => &rest[start..start + 2 + end + 2],
        };
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// How one run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunVerdict {
    /// One number that passed the comparison.
    Pass,
    /// A number that failed it, a query error, or not a single number.
    Miss,
    /// No data: an empty result or `NaN`; counted as the analysis'
    /// `inconclusive` says.
    Inconclusive,
}

/// One recorded run of an analysis, as kept in the sync status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRun {
    /// When the query was answered (RFC 3339, UTC).
    pub at: String,
    /// The single value, when there was one (`NaN` is kept as absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The run's verdict.
    pub verdict: RunVerdict,
    /// Why there was no usable value: the query's error, or what came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of a whole analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisVerdict {
    /// Too few misses for it to fail.
    Passed,
    /// More misses than `failure_limit`.
    Failed {
        /// One line naming the analysis, the query and the values seen.
        cause: String,
    },
}

/// What an instant query returned, as far as an analysis cares.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// Exactly one sample (or a scalar), possibly `NaN` or infinite.
    Single(f64),
    /// An empty instant vector: no series matched.
    NoData,
    /// Anything else: several series, a range vector, a string, a histogram.
    NotASingleNumber(String),
}

/// Why an instant query gave no result.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request failed: connection, timeout, body.
    #[error("query prometheus")]
    Request(#[source] reqwest::Error),
    /// Prometheus answered an error (`bad_data`, `execution`, `timeout`...).
    #[error("prometheus answered {status}: {error_type}: {error}")]
    Prometheus {
        /// The HTTP status code.
        status: u16,
        /// The API's `errorType`.
        error_type: String,
        /// The API's `error`.
        error: String,
    },
    /// The answer is not the API's JSON envelope.
    #[error("answer {status} is not a Prometheus API response: {detail}")]
    Decode {
        /// The HTTP status code.
        status: u16,
        /// What did not fit.
        detail: String,
    },
    /// The answer was larger than [`MAX_RESPONSE_BYTES`].
    #[error("answer larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

/// Read a Prometheus `/api/v1/query` answer: its HTTP status and body.
pub fn parse_query_response(status: u16, body: &[u8]) -> Result<QueryValue, QueryError> {
    let decode = |detail: String| QueryError::Decode { status, detail };
    let envelope: Value =
        serde_json::from_slice(body).map_err(|e| decode(format!("not JSON ({e})")))?;
    match envelope["status"].as_str() {
        Some("success") => {}
        Some("error") => {
            return Err(QueryError::Prometheus {
                status,
                error_type: envelope["errorType"].as_str().unwrap_or("unknown").into(),
                error: envelope["error"].as_str().unwrap_or_default().into(),
            });
        }
        _ => return Err(decode("no status \"success\" or \"error\"".into())),
    }
    let data = &envelope["data"];
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => {
            let samples = result
                .as_array()
                .ok_or_else(|| decode("vector result is not a list".into()))?;
            match samples.as_slice() {
                [] => Ok(QueryValue::NoData),
                [sample] if sample.get("value").is_some() => {
                    sample_value(&sample["value"]).map(QueryValue::Single)
                }
                [sample] => Ok(QueryValue::NotASingleNumber(format!(
                    "a histogram sample of {}",
                    sample["metric"]
                ))),
                many => Ok(QueryValue::NotASingleNumber(format!(
                    "{} series: {}",
                    many.len(),
                    series_names(many)
                ))),
            }
        }
        Some("scalar") => sample_value(result).map(QueryValue::Single),
        Some(other) => Ok(QueryValue::NotASingleNumber(format!("a {other} result"))),
        None => Err(decode("no data.resultType".into())),
    }
}

/// The number of a `[<unix time>, "<value>"]` pair; Prometheus writes
/// `NaN`, `+Inf` and `-Inf` for the special values.
fn sample_value(pair: &Value) -> Result<f64, QueryError> {
    let text = pair[1].as_str().ok_or_else(|| QueryError::Decode {
        status: 200,
        detail: format!("sample {pair} is not [time, \"value\"]"),
    })?;
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|_| QueryError::Decode {
            status: 200,
            detail: format!("sample value {text:?} is not a number"),
        }),
    }
}

/// The label sets of the first few series, for a miss's message.
fn series_names(samples: &[Value]) -> String {
    const SHOWN: usize = 3;
    let mut names: Vec<String> = samples
        .iter()
        .take(SHOWN)
        .map(|s| s["metric"].to_string())
        .collect();
    if samples.len() > SHOWN {
        names.push("...".into());
    }
    names.join(", ")
}

/// Judge one query's outcome against the analysis, answered at `at`.
pub fn judge(
    analysis: &Analysis,
    outcome: Result<QueryValue, QueryError>,
    at: Timestamp,
) -> AnalysisRun {
    let run = |value, verdict, error| AnalysisRun {
        at: at.to_string(),
        value,
        verdict,
        error,
    };
    match outcome {
        Ok(QueryValue::Single(v)) if v.is_nan() => run(
            None,
            RunVerdict::Inconclusive,
            Some("the query returned NaN".into()),
        ),
        Ok(QueryValue::Single(v)) if analysis.success.holds(v) => {
            run(Some(v), RunVerdict::Pass, None)
        }
        Ok(QueryValue::Single(v)) => run(Some(v), RunVerdict::Miss, None),
        Ok(QueryValue::NoData) => run(
            None,
            RunVerdict::Inconclusive,
            Some("no data: the query matched no series".into()),
        ),
        Ok(QueryValue::NotASingleNumber(what)) => run(
            None,
            RunVerdict::Miss,
            Some(format!("not a single number: {what}")),
        ),
        Err(e) => run(
            None,
            RunVerdict::Miss,
            Some(crate::sync::fault::one_line(&e)),
        ),
    }
}

/// Whether a run counts against `failure_limit`.
fn is_miss(analysis: &Analysis, run: &AnalysisRun) -> bool {
    match run.verdict {
        RunVerdict::Pass => false,
        RunVerdict::Miss => true,
        RunVerdict::Inconclusive => analysis.inconclusive == InconclusiveAs::Fail,
    }
}

/// The verdict of the analysis `name` once it is certain from `runs`, or
/// `None` while more runs could change it. It fails as soon as misses
/// exceed `failure_limit`, and passes as soon as the runs left could no
/// longer make them exceed it. `query` is the rendered query, for the cause.
pub fn verdict(
    name: &str,
    analysis: &Analysis,
    query: &str,
    runs: &[AnalysisRun],
) -> Option<AnalysisVerdict> {
    let misses = runs.iter().filter(|r| is_miss(analysis, r)).count() as u64;
    let limit = u64::from(analysis.failure_limit);
    if misses > limit {
        return Some(AnalysisVerdict::Failed {
            cause: format!(
                "analysis {name} failed: {misses} of {} runs missed `{}` (failure_limit {limit}) for query `{query}`; values seen: {}",
                runs.len(),
                analysis.success,
                values_seen(runs),
            ),
        });
    }
    let left = u64::from(analysis.count).saturating_sub(runs.len() as u64);
    (misses + left <= limit).then_some(AnalysisVerdict::Passed)
}

/// The runs' values in order, `no data` or the error where there was none.
fn values_seen(runs: &[AnalysisRun]) -> String {
    let seen: Vec<String> = runs
        .iter()
        .map(|r| match (r.value, &r.error) {
            (Some(v), _) => v.to_string(),
            (None, Some(e)) => format!("({e})"),
            (None, None) => "(no value)".into(),
        })
        .collect();
    seen.join(", ")
}

/// How long to wait before the next run: nothing before the first, else
/// what is left of `interval` since the last recorded run (a resumed
/// analysis keeps its spacing). A run time that does not parse waits a
/// whole interval.
pub fn next_run_delay(runs: &[AnalysisRun], interval: Duration, now: Timestamp) -> Duration {
    let Some(last) = runs.last() else {
        return Duration::ZERO;
    };
    let Ok(at) = last.at.parse::<Timestamp>() else {
        return interval;
    };
    let elapsed = Duration::try_from(now.duration_since(at)).unwrap_or(Duration::ZERO);
    interval.saturating_sub(elapsed)
}

/// An HTTP client for Prometheus instant queries, bounded by
/// [`QUERY_TIMEOUT`] and [`MAX_RESPONSE_BYTES`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
}

impl Default for PrometheusClient {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusClient {
    /// A client with the bounds above.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .timeout(QUERY_TIMEOUT)
            .build()
            .unwrap_or_default();
        PrometheusClient { http }
    }

    /// Run `query` as an instant query at the server's current time against
    /// the Prometheus at `base_url` (`http://prometheus:9090`, path prefix kept).
    pub async fn instant_query(
        &self,
        base_url: &str,
        query: &str,
    ) -> Result<QueryValue, QueryError> {
        let url = query_url(base_url, query)
            .map_err(|detail| QueryError::Decode { status: 0, detail })?;
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(QueryError::Request)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(QueryError::Request)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(QueryError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_query_response(status, &body)
    }
}

/// `{base}/api/v1/query?query=...`, the query form-encoded.
fn query_url(base_url: &str, query: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(&format!("{}/api/v1/query", base_url.trim_end_matches('/')))
        .map_err(|e| format!("bad Prometheus URL ({e})"))?;
    url.query_pairs_mut().append_pair("query", query);
    Ok(url)
}

/// Run the analysis `name` to its verdict, continuing from `runs` (the runs
/// already recorded, oldest first; empty for a new analysis). Each new run
/// is handed to `record` before the wait for the next one, so the caller can
/// store it and give the list back after a restart.
pub async fn run_analysis(
    prometheus: &PrometheusClient,
    name: &str,
    analysis: &Analysis,
    context: &QueryContext<'_>,
    mut runs: Vec<AnalysisRun>,
    mut record: impl FnMut(&AnalysisRun),
) -> AnalysisVerdict {
    let query = render_query(&analysis.query, context);
    loop {
        if let Some(verdict) = verdict(name, analysis, &query, &runs) {
            return verdict;
        }
        tokio::time::sleep(next_run_delay(&runs, analysis.interval, Timestamp::now())).await;
        let outcome = prometheus
            .instant_query(&analysis.prometheus.url, &query)
            .await;
        let run = judge(analysis, outcome, Timestamp::now());
        tracing::debug!(analysis = name, verdict = ?run.verdict, value = ?run.value, "analysis run");
        record(&run);
        runs.push(run);
    }
}

#[cfg(test)]
mod tests;
