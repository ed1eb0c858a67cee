use std::time::Duration;

use super::*;
use crate::repoconfig::RepoConfig;

const APPS: &str = "apps:\n  web:\n    image: ghcr.io/acme/web\n    environments:\n      - { name: prod, path: envs/prod }\n";

fn with_analysis(fields: &str) -> String {
    format!(
        "{APPS}analyses:\n  errors:\n    prometheus: {{ url: http://prometheus.monitoring:9090 }}\n    query: 'sum(rate(http_requests_total{{revision=\"{{{{revision}}}}\",code=~\"5..\"}}[1m]))'\n    success: \"< 0.01\"\n{fields}"
    )
}

#[test]
fn comparisons_parse_and_hold() {
    let cases = [
        ("below", "< 0.01", 0.005, true),
        ("not below", "< 0.01", 0.01, false),
        ("at most", "<= 0.01", 0.01, true),
        ("above", "> 100", 100.5, true),
        ("at least", ">= 100", 99.0, false),
        ("equal", "== 0", 0.0, true),
        ("not equal", "!= 0", 0.0, false),
        ("no space", "<=1e-3", 0.001, true),
        ("negative threshold", "> -1.5", -1.0, true),
        ("surrounding spaces", "  <  2 ", 1.0, true),
        ("NaN never holds", "!= 0", f64::NAN, false),
        ("infinity compares", "> 1", f64::INFINITY, true),
    ];
    for (name, text, value, want) in cases {
        let comparison: Comparison = text.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(comparison.holds(value), want, "{name}");
    }
}

#[test]
fn comparisons_that_do_not_parse() {
    for (name, text) in [
        ("empty", ""),
        ("no operator", "0.01"),
        ("no number", "<"),
        ("word", "< low"),
        ("single equals", "= 1"),
        ("NaN", "< NaN"),
        ("infinite", "< inf"),
        ("two numbers", "< 1 2"),
        ("arrow", "=> 1"),
    ] {
        assert!(text.parse::<Comparison>().is_err(), "{name}");
    }
}

#[test]
fn a_comparison_writes_back_as_it_reads() {
    let c: Comparison = "<=0.5".parse().unwrap();
    assert_eq!(c.op, ComparisonOp::LessOrEqual);
    assert_eq!(c.threshold, 0.5);
    assert_eq!(c.to_string(), "<= 0.5");
    assert_eq!(c.to_string().parse::<Comparison>().unwrap(), c);
}

#[test]
fn placeholders_are_listed_and_unknown_ones_refused() {
    // (name, query, the placeholders or a part of the error)
    type Case = (
        &'static str,
        &'static str,
        Result<Vec<&'static str>, &'static str>,
    );
    let cases: [Case; 6] = [
        ("none", "up", Ok(vec![])),
        (
            "all three",
            "x{a=\"{{app}}\",e=\"{{environment}}\",r=\"{{ revision }}\"}",
            Ok(vec!["app", "environment", "revision"]),
        ),
        ("unknown", "x{a=\"{{image}}\"}", Err("{{image}}")),
        ("unclosed", "x{a=\"{{app\"}", Err("unclosed")),
        ("empty", "x{{}}", Err("unknown placeholder {{}}")),
        ("single braces are PromQL", "x{a=\"b\"}", Ok(vec![])),
    ];
    for (name, query, want) in cases {
        match (placeholders(query), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
            (Err(got), Err(needle)) => assert!(got.contains(needle), "{name}: {got}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn placeholders_are_substituted() {
    let context = QueryContext {
        revision: "5d41402a",
        app: "web",
        environment: "prod",
    };
    let cases = [
        (
            "all",
            "x{r=\"{{revision}}\",a=\"{{ app }}\",e=\"{{environment}}\"}",
            "x{r=\"5d41402a\",a=\"web\",e=\"prod\"}",
        ),
        ("twice", "{{app}}/{{app}}", "web/web"),
        ("none", "sum(up)", "sum(up)"),
        ("unclosed kept", "x{{app", "x{{app"),
    ];
    for (name, query, want) in cases {
        assert_eq!(render_query(query, &context), want, "{name}");
    }
}

#[test]
fn an_analysis_loads_with_defaults() {
    let config = RepoConfig::parse(&with_analysis(""), "slipway.yaml").unwrap();
    let errors = &config.analyses["errors"];
    assert_eq!(errors.prometheus.url, "http://prometheus.monitoring:9090");
    assert_eq!(errors.success.op, ComparisonOp::Less);
    assert_eq!(errors.interval, DEFAULT_INTERVAL);
    assert_eq!(errors.count, DEFAULT_COUNT);
    assert_eq!(errors.failure_limit, 0);
    assert_eq!(errors.inconclusive, InconclusiveAs::Fail);
}

#[test]
fn every_field_of_an_analysis_loads() {
    let cases = [
        ("seconds", "    interval: 30s\n", Duration::from_secs(30)),
        ("minutes", "    interval: 2m\n", Duration::from_secs(120)),
        (
            "ISO 8601",
            "    interval: PT1M30S\n",
            Duration::from_secs(90),
        ),
        ("mixed", "    interval: 1m 5s\n", Duration::from_secs(65)),
        (
            "milliseconds",
            "    interval: 1500ms\n",
            Duration::from_millis(1500),
        ),
    ];
    for (name, line, want) in cases {
        let text = with_analysis(&format!(
            "{line}    count: 3\n    failure_limit: 1\n    inconclusive: pass\n"
        ));
        let config =
            RepoConfig::parse(&text, "slipway.yaml").unwrap_or_else(|e| panic!("{name}: {e}"));
        let errors = &config.analyses["errors"];
        assert_eq!(errors.interval, want, "{name}");
        assert_eq!((errors.count, errors.failure_limit), (3, 1), "{name}");
        assert_eq!(errors.inconclusive, InconclusiveAs::Pass, "{name}");
    }
}

#[test]
fn bad_analyses_are_refused_naming_the_analysis_and_field() {
    let cases = [
        (
            "zero count",
            "    count: 0\n",
            "analyses.errors.count: at least 1",
        ),
        (
            "zero interval",
            "    interval: 0s\n",
            "analyses.errors.interval: must be longer",
        ),
        (
            "negative interval",
            "    interval: -5s\n",
            "analyses.errors.interval: `-5s` is negative",
        ),
        (
            "limit not below count",
            "    count: 2\n    failure_limit: 2\n",
            "analyses.errors.failure_limit",
        ),
        (
            "bad duration",
            "    interval: soon\n",
            "analyses.errors.interval: `soon` is not a duration",
        ),
        (
            "bad inconclusive",
            "    inconclusive: maybe\n",
            "analyses.errors.inconclusive",
        ),
        (
            "unknown field",
            "    threshold: 1\n",
            "analyses.errors.threshold: unknown field",
        ),
    ];
    for (name, fields, needle) in cases {
        let err = RepoConfig::parse(&with_analysis(fields), "slipway.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{name}: {err}");
    }
}

#[test]
fn bad_urls_queries_and_comparisons_are_refused() {
    let good = with_analysis("");
    let cases = [
        (
            "no scheme",
            "http://prometheus.monitoring:9090",
            "prometheus:9090",
            "analyses.errors.prometheus.url",
        ),
        (
            "other scheme",
            "http://prometheus.monitoring:9090",
            "ftp://p:21",
            "analyses.errors.prometheus.url",
        ),
        (
            "credentials",
            "http://prometheus.monitoring:9090",
            "http://u:p@prom:9090",
            "credentials do not belong",
        ),
        (
            "query string",
            "http://prometheus.monitoring:9090",
            "http://prom:9090/?x=1",
            "without query",
        ),
        (
            "unknown placeholder",
            "{{revision}}",
            "{{image}}",
            "analyses.errors.query: unknown placeholder {{image}}",
        ),
        (
            "empty query",
            "'sum(rate(http_requests_total{revision=\"{{revision}}\",code=~\"5..\"}[1m]))'",
            "''",
            "analyses.errors.query: a PromQL",
        ),
        (
            "bad comparison",
            "\"< 0.01\"",
            "\"about 1\"",
            "analyses.errors.success: \"about 1\" is not a comparison",
        ),
    ];
    for (name, from, to, needle) in cases {
        let text = good.replace(from, to);
        assert_ne!(text, good, "{name}: the case changes nothing");
        let err = RepoConfig::parse(&text, "slipway.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{name}: {err}");
        assert!(
            !err.contains("u:p@"),
            "{name}: the error repeats credentials: {err}"
        );
    }
}

#[test]
fn analysis_names_are_plain() {
    let text = with_analysis("").replace("  errors:", "  Errors_1:");
    let err = RepoConfig::parse(&text, "slipway.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("analyses.Errors_1"), "{err}");
}

#[test]
fn an_analysis_writes_back_as_it_reads() {
    let text = with_analysis("    interval: 1500ms\n    count: 3\n");
    let config = RepoConfig::parse(&text, "slipway.yaml").unwrap();
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["analyses"]["errors"]["interval"], "1s 500ms");
    assert_eq!(json["analyses"]["errors"]["success"], "< 0.01");
    let back: RepoConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, config);
}

#[test]
fn a_canary_step_names_a_known_analysis() {
    let canary = "path: envs/prod, strategy: { canary: { steps: [{ weight: 10 }, { analysis: latency }] } } }";
    let text = with_analysis("").replace("path: envs/prod }", canary);
    let err = RepoConfig::parse(&text, "slipway.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "apps.web.environments[0].strategy.canary.steps[1].analysis: no analysis `latency`"
        ),
        "{err}"
    );
    let known = text.replace("analysis: latency", "analysis: errors");
    RepoConfig::parse(&known, "slipway.yaml").unwrap();
}
