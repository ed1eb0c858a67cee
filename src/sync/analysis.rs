//! Running a metric analysis of `slipway.yaml` against Prometheus: `count`
//! instant queries (`GET {url}/api/v1/query?query=...`), `interval` apart,
//! each judged against the analysis' comparison, until the verdict is
//! certain. Runs are handed to the caller as they happen, and a run list
//! given back resumes the count, so a restarted sync continues where it was.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::repoconfig::{Analysis, InconclusiveAs};
pub use crate::repoconfig::{QueryContext, render_query};

mod prometheus;
pub use prometheus::{
    MAX_RESPONSE_BYTES, PrometheusClient, QUERY_TIMEOUT, QueryError, QueryValue,
    parse_query_response,
};

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
    /// The single value, when there was a finite one (`NaN` and infinities
    /// are kept as absent, with `error` saying which).
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
        Ok(QueryValue::Single(v)) => {
            let verdict = match analysis.success.holds(v) {
                true => RunVerdict::Pass,
                false => RunVerdict::Miss,
            };
            // JSON has no infinity: an infinite value is kept as its text.
            match v.is_finite() {
                true => run(Some(v), verdict, None),
                false => run(None, verdict, Some(format!("the query returned {v}"))),
            }
        }
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
