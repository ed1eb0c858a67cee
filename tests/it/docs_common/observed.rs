//! What `docs/operations.md` promises an operator sees, held against what a
//! run showed: the metric tables and alert rules against a `/metrics` scrape,
//! the table of log lines against the JSON log.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use serde_json::Value;

use super::{Table, doc, parse};

/// One documented metric: a row of a metrics table.
#[derive(Debug, Clone)]
pub struct DocumentedMetric {
    pub at: String,
    pub name: String,
    pub kind: String,
    pub labels: BTreeSet<String>,
    /// Every inline code in the meaning column: the documented label values.
    pub values: BTreeSet<String>,
}

/// One sample line of the exposition: name, labels, value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The sample lines of an OpenMetrics text exposition.
pub fn samples(text: &str) -> Vec<Sample> {
    let line = regex::Regex::new(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)").unwrap();
    let label = regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| line.captures(l))
        .map(|c| Sample {
            name: c[1].to_string(),
            labels: c
                .get(2)
                .map(|ls| {
                    label
                        .captures_iter(ls.as_str())
                        .map(|l| (l[1].to_string(), l[2].to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            value: c[3].parse().unwrap_or(f64::NAN),
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include `labels`.
pub fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

const OPERATIONS: &str = "docs/operations.md";

/// The rows of the metric tables in `docs/operations.md`.
pub fn documented_metrics() -> Vec<DocumentedMetric> {
    let parsed = parse(&doc(OPERATIONS));
    let tables: Vec<&Table> = parsed
        .tables
        .iter()
        .filter(|t| t.header.first().map(String::as_str) == Some("metric"))
        .collect();
    assert!(
        tables.len() >= 2,
        "{OPERATIONS}: the receive and sync metric tables"
    );
    tables
        .iter()
        .flat_map(|t| {
            let (kind, labels, meaning) =
                (t.column("type"), t.column("labels"), t.column("meaning"));
            t.rows.iter().map(move |row| DocumentedMetric {
                at: t.at.clone(),
                name: row[0].code.first().cloned().unwrap_or_default(),
                kind: row[kind].text.trim().to_string(),
                labels: row[labels].code.iter().cloned().collect(),
                values: row[meaning].code.iter().cloned().collect(),
            })
        })
        .collect()
}

/// Where the documented metric stands in a scrape: its TYPE line, and the
/// samples that count it (`name` for a counter, `name_count` for a histogram).
pub fn check_metric(metric: &DocumentedMetric, text: &str, samples: &[Sample]) -> Vec<String> {
    let mut problems = Vec::new();
    let (family, counted) = match metric.kind.as_str() {
        "counter" => (
            metric.name.trim_end_matches("_total").to_string(),
            metric.name.clone(),
        ),
        "histogram" => (metric.name.clone(), format!("{}_count", metric.name)),
        other => return vec![format!("{}: unknown type {other:?}", metric.name)],
    };
    if !text.contains(&format!("# TYPE {family} {}\n", metric.kind)) {
        problems.push(format!(
            "{}: no `# TYPE {family} {}` on /metrics",
            metric.name, metric.kind
        ));
    }
    let counting: Vec<&Sample> = samples.iter().filter(|s| s.name == counted).collect();
    if counting.iter().map(|s| s.value).sum::<f64>() <= 0.0 {
        problems.push(format!(
            "{}: not counted by the run ({counted})",
            metric.name
        ));
    }
    for sample in counting {
        let labels: BTreeSet<String> = sample.labels.keys().cloned().collect();
        if labels != metric.labels {
            problems.push(format!(
                "{}: labels {labels:?} on /metrics, {:?} in {}",
                metric.name, metric.labels, metric.at
            ));
            break;
        }
    }
    problems
}

/// A use of a metric in the docs: its name and the labels it matches on
/// (with the values asked for; none for a `by (...)` grouping).
#[derive(Debug)]
pub struct MetricUse {
    pub at: String,
    pub name: String,
    pub labels: Vec<(String, Vec<String>)>,
}

fn uses_in(expr: &Expr, at: &str, grouped_by: &[String], out: &mut Vec<MetricUse>) {
    let mut selector = |vs: &promql_parser::parser::VectorSelector| {
        let mut labels: Vec<(String, Vec<String>)> =
            grouped_by.iter().map(|l| (l.clone(), vec![])).collect();
        for m in vs.matchers.matchers.iter().filter(|m| m.name != "__name__") {
            let values = match &m.op {
                MatchOp::Re(_) | MatchOp::NotRe(_) => {
                    m.value.split('|').map(String::from).collect()
                }
                _ => vec![m.value.clone()],
            };
            labels.push((m.name.clone(), values));
        }
        out.push(MetricUse {
            at: at.to_string(),
            name: vs.name.clone().unwrap_or_default(),
            labels,
        });
    };
    match expr {
        Expr::VectorSelector(vs) => selector(vs),
        Expr::MatrixSelector(ms) => selector(&ms.vs),
        Expr::Aggregate(a) => {
            let mut by = grouped_by.to_vec();
            by.extend(
                a.modifier
                    .iter()
                    .flat_map(|m| m.labels().labels.iter().cloned()),
            );
            uses_in(&a.expr, at, &by, out);
        }
        Expr::Call(c) => c
            .args
            .args
            .iter()
            .for_each(|e| uses_in(e, at, grouped_by, out)),
        Expr::Binary(b) => {
            uses_in(&b.lhs, at, grouped_by, out);
            uses_in(&b.rhs, at, grouped_by, out);
        }
        Expr::Paren(p) => uses_in(&p.expr, at, grouped_by, out),
        Expr::Unary(u) => uses_in(&u.expr, at, grouped_by, out),
        Expr::Subquery(s) => uses_in(&s.expr, at, grouped_by, out),
        _ => {}
    }
}

/// Every metric the alert rules of `docs/operations.md` select.
pub fn alert_rule_uses() -> Vec<MetricUse> {
    let parsed = parse(&doc(OPERATIONS));
    let rules: Vec<Value> = parsed
        .blocks
        .iter()
        .filter(|b| b.section == "Alerts worth setting" && b.lang == "yaml")
        .flat_map(|b| serde_saphyr::from_str::<Vec<Value>>(&b.text).expect("alert rules"))
        .collect();
    assert!(rules.len() >= 5, "{OPERATIONS}: alert rules");
    let mut uses = Vec::new();
    for rule in rules {
        let (name, expr) = (
            rule["alert"].as_str().unwrap(),
            rule["expr"].as_str().unwrap(),
        );
        let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{name}: {e}"));
        uses_in(
            &parsed,
            &format!("{OPERATIONS} alert {name}"),
            &[],
            &mut uses,
        );
    }
    uses
}

/// Every `slipway_*` metric named in inline code or code blocks of any doc,
/// with its labels when written `name{label,...}` or `name{label="value"}`.
pub fn mentioned_uses() -> Vec<MetricUse> {
    let mention = regex::Regex::new(r"(slipway_[a-z_]+)(?:\{([^}]*)\})?").unwrap();
    let matcher = regex::Regex::new(r#"^\s*([a-z_]+)\s*(?:(=~|=)\s*"([^"]*)")?\s*$"#).unwrap();
    let mut uses = Vec::new();
    for d in super::docs() {
        let parsed = parse(&d);
        let texts = parsed.spans.iter().map(|s| (&s.at, &s.text));
        let texts = texts.chain(parsed.blocks.iter().map(|b| (&b.at, &b.text)));
        for (at, text) in texts {
            for m in mention.captures_iter(text) {
                let labels = m.get(2).map_or(vec![], |ls| {
                    ls.as_str()
                        .split(',')
                        .filter_map(|l| matcher.captures(l))
                        .map(|c| {
                            let values = c.get(3).map_or(vec![], |v| {
                                v.as_str().split('|').map(String::from).collect()
                            });
                            (c[1].to_string(), values)
                        })
                        .collect()
                });
                uses.push(MetricUse {
                    at: at.clone(),
                    name: m[1].to_string(),
                    labels,
                });
            }
        }
    }
    uses
}

/// A use names a documented metric, by its labels, with documented values.
pub fn check_use(use_: &MetricUse, documented: &[DocumentedMetric]) -> Vec<String> {
    let Some(metric) = documented.iter().find(|m| m.name == use_.name) else {
        return vec![format!(
            "{}: {} is in no metrics table of {OPERATIONS}",
            use_.at, use_.name
        )];
    };
    let mut problems = Vec::new();
    for (label, values) in &use_.labels {
        if !metric.labels.contains(label) {
            problems.push(format!("{}: {} has no label {label}", use_.at, use_.name));
        }
        for value in values.iter().filter(|v| !metric.values.contains(*v)) {
            problems.push(format!(
                "{}: {}{{{label}=\"{value}\"}}: `{value}` is not a value documented in {}",
                use_.at, use_.name, metric.at
            ));
        }
    }
    problems
}

/// One row of the table of log lines: message, level, fields.
#[derive(Debug)]
pub struct DocumentedLogLine {
    pub message: String,
    pub level: String,
    pub fields: Vec<String>,
}

/// The table of log lines in `docs/operations.md`.
pub fn documented_log_lines() -> Vec<DocumentedLogLine> {
    let parsed = parse(&doc(OPERATIONS));
    let table = parsed
        .tables
        .iter()
        .find(|t| t.section == "Logs" && t.header.first().map(String::as_str) == Some("message"))
        .expect("docs/operations.md: a table of log lines under Logs");
    let (level, fields) = (table.column("level"), table.column("fields"));
    table
        .rows
        .iter()
        .map(|row| DocumentedLogLine {
            message: row[0].code.first().cloned().unwrap_or_default(),
            level: row[level].code.first().cloned().unwrap_or_default(),
            fields: row[fields].code.clone(),
        })
        .collect()
}

/// The documented line appears in the JSON log with its level and every field.
pub fn check_log_line(line: &DocumentedLogLine, log: &[Value]) -> Result<(), String> {
    let matching: Vec<&Value> = log
        .iter()
        .filter(|l| l["fields"]["message"] == line.message.as_str())
        .collect();
    if matching.is_empty() {
        return Err(format!("`{}`: not in the log of the run", line.message));
    }
    let complete = matching.iter().any(|l| {
        l["level"] == line.level.as_str() && line.fields.iter().all(|f| !l["fields"][f].is_null())
    });
    if complete {
        Ok(())
    } else {
        Err(format!(
            "`{}`: documented as {} with {:?}, logged as {}",
            line.message, line.level, line.fields, matching[0]
        ))
    }
}
