//! Analyses against a real Prometheus scraping a test target: one passes on
//! a low error ratio, then fails for real once the ratio is high; a query
//! error and a query without data are misses; a resumed analysis runs only
//! the runs it still owes.

use crate::support;

use slipway::repoconfig::{Analysis, RepoConfig};
use slipway::sync::analysis::{
    AnalysisRun, AnalysisVerdict, PrometheusClient, QueryContext, QueryValue, RunVerdict,
    run_analysis,
};
use support::process::eventually;
use support::prometheus::{MetricsTarget, Prometheus};

const CONTEXT: QueryContext<'static> = QueryContext {
    revision: "5d41402a",
    app: "web",
    environment: "prod",
};
const SERIES: &str = r#"canary_error_ratio{app="web",environment="prod",revision="5d41402a"}"#;
const QUERY: &str =
    r#"canary_error_ratio{app="{{app}}",environment="{{environment}}",revision="{{revision}}"}"#;

/// An analysis of `query` as `slipway.yaml` would hold it: three runs a second apart.
fn analysis(url: &str, query: &str, failure_limit: u32) -> Analysis {
    let text = format!(
        "apps: {{}}\nanalyses:\n  errors:\n    prometheus: {{ url: '{url}' }}\n    query: '{query}'\n    success: '< 0.01'\n    interval: 1s\n    count: 3\n    failure_limit: {failure_limit}\n"
    );
    RepoConfig::parse(&text, "slipway.yaml").unwrap().analyses["errors"].clone()
}

/// Wait until Prometheus has scraped `value` for the rendered [`QUERY`].
async fn scraped(prometheus: &Prometheus, value: f64) {
    let client = PrometheusClient::new();
    let query = slipway::sync::analysis::render_query(QUERY, &CONTEXT);
    eventually(&format!("prometheus to scrape {value}"), async || {
        let got = client.instant_query(&prometheus.url, &query).await.ok()?;
        (got == QueryValue::Single(value)).then_some(())
    })
    .await;
}

async fn run(
    analysis: &Analysis,
    earlier: Vec<AnalysisRun>,
) -> (AnalysisVerdict, Vec<AnalysisRun>) {
    let mut recorded = Vec::new();
    let verdict = run_analysis(
        &PrometheusClient::new(),
        "errors",
        analysis,
        &CONTEXT,
        earlier,
        |run| recorded.push(run.clone()),
    )
    .await;
    (verdict, recorded)
}

#[tokio::test]
async fn an_analysis_passes_on_a_low_error_ratio_and_fails_once_it_is_high() {
    let target = MetricsTarget::start().await;
    target.set(SERIES, 0.001);
    let prometheus = Prometheus::start(&target).await;
    scraped(&prometheus, 0.001).await;

    let errors = analysis(&prometheus.url, QUERY, 0);
    let (verdict, runs) = run(&errors, Vec::new()).await;
    assert_eq!(verdict, AnalysisVerdict::Passed, "{runs:?}");
    assert_eq!(runs.len(), 3, "count runs, each recorded");
    assert!(
        runs.iter()
            .all(|r| r.verdict == RunVerdict::Pass && r.value == Some(0.001)),
        "{runs:?}"
    );

    // A sync that restarts after two recorded runs owes only the third.
    let (verdict, resumed) = run(&errors, runs[..2].to_vec()).await;
    assert_eq!(verdict, AnalysisVerdict::Passed);
    assert_eq!(resumed.len(), 1, "{resumed:?}");

    target.set(SERIES, 0.25);
    scraped(&prometheus, 0.25).await;
    let (verdict, runs) = run(&errors, Vec::new()).await;
    assert_eq!(
        runs.len(),
        1,
        "the first miss is certain failure at limit 0: {runs:?}"
    );
    assert_eq!(
        (runs[0].verdict, runs[0].value),
        (RunVerdict::Miss, Some(0.25))
    );
    let AnalysisVerdict::Failed { cause } = verdict else {
        panic!("a high error ratio passed");
    };
    assert!(cause.contains("analysis errors failed"), "{cause}");
    assert!(
        cause.contains(r#"revision="5d41402a""#),
        "the rendered query: {cause}"
    );
    assert!(cause.contains("values seen: 0.25"), "{cause}");
}

#[tokio::test]
async fn query_errors_and_missing_data_are_misses() {
    let target = MetricsTarget::start().await;
    target.set(SERIES, 0.001);
    let prometheus = Prometheus::start(&target).await;

    // Two series that differ only by name: `abs` drops the name, and
    // Prometheus refuses the result at evaluation (422, `execution`).
    target.set(&SERIES.replace("canary_error_ratio", "canary_other"), 1.0);
    scraped(&prometheus, 0.001).await;
    let broken = analysis(&prometheus.url, r#"abs({__name__=~"canary_.+"})"#, 1);
    let (verdict, runs) = run(&broken, Vec::new()).await;
    assert_eq!(
        runs.len(),
        2,
        "fails at the second miss with failure_limit 1: {runs:?}"
    );
    for run in &runs {
        assert_eq!(run.verdict, RunVerdict::Miss);
        let error = run.error.as_deref().unwrap_or_default();
        assert!(error.contains("422: execution"), "{error}");
    }
    let AnalysisVerdict::Failed { cause } = verdict else {
        panic!("a failing query passed");
    };
    assert!(cause.contains("same labelset"), "{cause}");

    let absent = analysis(&prometheus.url, r#"canary_error_ratio{revision="nope"}"#, 0);
    let (verdict, runs) = run(&absent, Vec::new()).await;
    assert_eq!(runs[0].verdict, RunVerdict::Inconclusive, "{runs:?}");
    assert!(
        matches!(verdict, AnalysisVerdict::Failed { .. }),
        "no data fails by default"
    );

    let nobody = format!("http://127.0.0.1:{}", support::process::free_port());
    let closed = analysis(&nobody, QUERY, 0);
    let (verdict, runs) = run(&closed, Vec::new()).await;
    assert!(
        runs[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("query prometheus"),
        "{runs:?}"
    );
    assert!(matches!(verdict, AnalysisVerdict::Failed { .. }));
}
