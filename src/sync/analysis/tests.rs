use std::time::Duration;

use jiff::Timestamp;

use super::prometheus::query_url;
use super::*;
use crate::repoconfig::RepoConfig;

fn analysis(count: u32, failure_limit: u32, inconclusive: &str) -> Analysis {
    let text = format!(
        "apps: {{}}\nanalyses:\n  errors:\n    prometheus: {{ url: http://prometheus:9090 }}\n    query: 'errors{{revision=\"{{{{revision}}}}\"}}'\n    success: '< 0.01'\n    count: {count}\n    failure_limit: {failure_limit}\n    inconclusive: {inconclusive}\n"
    );
    RepoConfig::parse(&text, "slipway.yaml").unwrap().analyses["errors"].clone()
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

#[test]
fn real_prometheus_answers_parse() {
    let cases: [(&str, u16, &str, Result<QueryValue, &str>); 12] = [
        (
            "one sample",
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"app":"web"},"value":[1700000000.123,"0.005"]}]}}"#,
            Ok(QueryValue::Single(0.005)),
        ),
        (
            "no labels after sum",
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"3"]}]}}"#,
            Ok(QueryValue::Single(3.0)),
        ),
        (
            "empty vector",
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            Ok(QueryValue::NoData),
        ),
        (
            "scalar",
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"42"]}}"#,
            Ok(QueryValue::Single(42.0)),
        ),
        (
            "positive infinity",
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"+Inf"]}]}}"#,
            Ok(QueryValue::Single(f64::INFINITY)),
        ),
        (
            "two series",
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"code":"500"},"value":[1,"1"]},{"metric":{"code":"503"},"value":[1,"2"]}]}}"#,
            Err("2 series: {\"code\":\"500\"}, {\"code\":\"503\"}"),
        ),
        (
            "range vector",
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#,
            Err("a matrix result"),
        ),
        (
            "string",
            200,
            r#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#,
            Err("a string result"),
        ),
        (
            "native histogram",
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"2","sum":"3","buckets":[]}]}]}}"#,
            Err("a histogram sample"),
        ),
        (
            "parse error",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}"#,
            Err("prometheus answered 400: bad_data: invalid parameter"),
        ),
        (
            "not JSON (a proxy's page)",
            502,
            "<html>Bad Gateway</html>",
            Err("answer 502 is not a Prometheus API response: not JSON"),
        ),
        (
            "value not a number",
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"many"]}}"#,
            Err("sample value \"many\" is not a number"),
        ),
    ];
    for (name, status, body, want) in cases {
        let got = parse_query_response(status, body.as_bytes());
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
            (Ok(QueryValue::NotASingleNumber(what)), Err(needle)) => {
                assert!(what.contains(needle), "{name}: {what}")
            }
            (Err(e), Err(needle)) => assert!(e.to_string().contains(needle), "{name}: {e}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn nan_is_a_value_the_judge_calls_no_data() {
    let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
    let value = parse_query_response(200, nan.as_bytes()).unwrap();
    let run = judge(&analysis(3, 0, "fail"), Ok(value), at(0));
    assert_eq!((run.verdict, run.value), (RunVerdict::Inconclusive, None));
}

#[test]
fn runs_are_judged_against_the_comparison() {
    let a = analysis(3, 0, "fail");
    let error = QueryError::Prometheus {
        status: 422,
        error_type: "execution".into(),
        error: "many-to-many matching\nnot allowed".into(),
    };
    let cases = [
        (
            "below the threshold",
            Ok(QueryValue::Single(0.001)),
            RunVerdict::Pass,
            Some(0.001),
            None,
        ),
        (
            "at the threshold",
            Ok(QueryValue::Single(0.01)),
            RunVerdict::Miss,
            Some(0.01),
            None,
        ),
        (
            "no data",
            Ok(QueryValue::NoData),
            RunVerdict::Inconclusive,
            None,
            Some("no data"),
        ),
        (
            "several series",
            Ok(QueryValue::NotASingleNumber("2 series".into())),
            RunVerdict::Miss,
            None,
            Some("not a single number: 2 series"),
        ),
        (
            "query error, on one line",
            Err(error),
            RunVerdict::Miss,
            None,
            Some("prometheus answered 422: execution: many-to-many matching not allowed"),
        ),
    ];
    for (name, outcome, verdict, value, error) in cases {
        let run = judge(&a, outcome, at(0));
        assert_eq!(run.verdict, verdict, "{name}");
        assert_eq!(run.value, value, "{name}");
        match error {
            Some(needle) => assert!(
                run.error.as_deref().unwrap().contains(needle),
                "{name}: {:?}",
                run.error
            ),
            None => assert_eq!(run.error, None, "{name}"),
        }
        assert_eq!(run.at, "2023-11-14T22:13:20Z", "{name}");
    }
}

fn runs(verdicts: &str) -> Vec<AnalysisRun> {
    verdicts
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let (verdict, value) = match c {
                'p' => (RunVerdict::Pass, Some(0.001)),
                'm' => (RunVerdict::Miss, Some(0.5)),
                _ => (RunVerdict::Inconclusive, None),
            };
            AnalysisRun {
                at: at(i as i64).to_string(),
                value,
                verdict,
                error: None,
            }
        })
        .collect()
}

#[test]
fn the_verdict_comes_as_soon_as_it_is_certain() {
    // p: pass, m: miss, i: inconclusive
    let cases = [
        ("nothing yet", 3, 0, "fail", "", None),
        ("one pass of three", 3, 0, "fail", "p", None),
        ("all passed", 3, 0, "fail", "ppp", Some(true)),
        (
            "first miss fails at limit 0",
            3,
            0,
            "fail",
            "m",
            Some(false),
        ),
        ("a miss within the limit", 3, 1, "fail", "pm", None),
        (
            "passes early: the last run cannot fail it",
            3,
            1,
            "fail",
            "pp",
            Some(true),
        ),
        (
            "second miss fails at limit 1",
            5,
            1,
            "fail",
            "mpm",
            Some(false),
        ),
        ("no data fails by default", 3, 0, "fail", "i", Some(false)),
        ("no data passes when told", 3, 0, "pass", "iii", Some(true)),
        (
            "a miss still counts when no data passes",
            3,
            0,
            "pass",
            "im",
            Some(false),
        ),
    ];
    for (name, count, limit, inconclusive, seen, want) in cases {
        let a = analysis(count, limit, inconclusive);
        let got = verdict("errors", &a, "q", &runs(seen));
        let got = got.map(|v| v == AnalysisVerdict::Passed);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn a_failure_names_the_analysis_the_query_and_the_values() {
    let a = analysis(3, 0, "fail");
    let mut seen = runs("p");
    seen.push(judge(&a, Ok(QueryValue::Single(0.25)), at(1)));
    let Some(AnalysisVerdict::Failed { cause }) =
        verdict("errors", &a, "errors{revision=\"abc\"}", &seen)
    else {
        panic!("expected a failure");
    };
    assert_eq!(
        cause,
        "analysis errors failed: 1 of 2 runs missed `< 0.01` (failure_limit 0) for query `errors{revision=\"abc\"}`; values seen: 0.001, 0.25"
    );
}

#[test]
fn a_resumed_analysis_keeps_its_spacing() {
    let interval = Duration::from_secs(30);
    let cases = [
        ("first run at once", "", 100, Duration::ZERO),
        ("just ran", "p", 0, interval),
        ("ran 10s ago", "p", 10, Duration::from_secs(20)),
        ("overdue after a restart", "p", 300, Duration::ZERO),
    ];
    for (name, seen, now, want) in cases {
        assert_eq!(
            next_run_delay(&runs(seen), interval, at(now)),
            want,
            "{name}"
        );
    }
    let garbled = vec![AnalysisRun {
        at: "yesterday".into(),
        value: None,
        verdict: RunVerdict::Pass,
        error: None,
    }];
    assert_eq!(
        next_run_delay(&garbled, interval, at(0)),
        interval,
        "unparsable time"
    );
}

#[test]
fn runs_round_trip_through_the_status_json() {
    let run = AnalysisRun {
        at: at(0).to_string(),
        value: Some(0.5),
        verdict: RunVerdict::Miss,
        error: None,
    };
    let json = serde_json::to_value(&run).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"at": "2023-11-14T22:13:20Z", "value": 0.5, "verdict": "miss"})
    );
    assert_eq!(serde_json::from_value::<AnalysisRun>(json).unwrap(), run);
}

#[test]
fn the_query_is_form_encoded_under_the_base_path() {
    let cases = [
        (
            "root",
            "http://prom:9090",
            "http://prom:9090/api/v1/query?query=sum%28up%7Ba%3D%22b%22%7D%29",
        ),
        (
            "trailing slash",
            "http://prom:9090/",
            "http://prom:9090/api/v1/query?query=sum%28up%7Ba%3D%22b%22%7D%29",
        ),
        (
            "path prefix",
            "https://mon/prometheus",
            "https://mon/prometheus/api/v1/query?query=sum%28up%7Ba%3D%22b%22%7D%29",
        ),
    ];
    for (name, base, want) in cases {
        assert_eq!(
            query_url(base, "sum(up{a=\"b\"})").unwrap().as_str(),
            want,
            "{name}"
        );
    }
}
