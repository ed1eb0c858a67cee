//! `policies/tests/*.yaml`: cases of an event (or a request), optional facts,
//! and the verdict expected, run like a policy engine's test runner.

use std::io::Write;
use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;

use super::{EXIT_DENIED, EXIT_INVALID, EXIT_OK};
use crate::event::{DomainEvent, Provider};
use crate::policy::{
    Decision, DeployRequest, Facts, Origin, POLICY_DIR, PolicySet, Verdict, WaitFor, error_chain,
    evaluate, requests_for_event,
};
use crate::repoconfig::WriteMode;

/// Directory of test files under `policies/`.
pub const TEST_DIR: &str = "tests";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFileRaw {
    cases: Vec<TestCase>,
}

/// One test file, parsed.
pub(super) struct TestFile {
    pub path: String,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestCase {
    name: String,
    /// The instant to evaluate at.
    now: Timestamp,
    /// The event; it produces the requests evaluated.
    #[serde(default)]
    event: Option<DomainEvent>,
    /// A request given directly (a promotion, a rollback) instead of an event.
    #[serde(default)]
    request: Option<DeployRequest>,
    /// Who sent the event.
    #[serde(default)]
    provider: Option<Provider>,
    /// When the event arrived; `now` when absent.
    #[serde(default)]
    received_at: Option<Timestamp>,
    #[serde(default)]
    facts: Facts,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// `allow`, `deny`, `wait`, or `none` when the event produces no request.
    verdict: String,
    #[serde(default)]
    mode: Option<WriteMode>,
    #[serde(default, rename = "for")]
    waiting_for: Option<WaitFor>,
    /// Text one of the reasons must contain.
    #[serde(default)]
    reason: Option<String>,
}

/// Parse every test file; all errors, each naming its file and line.
pub(super) fn load_all(repo: &Path) -> Result<Vec<TestFile>, Vec<String>> {
    let dir = repo.join(POLICY_DIR).join(TEST_DIR);
    let mut paths: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    paths.sort();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let shown = format!(
            "{POLICY_DIR}/{TEST_DIR}/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| format!("{shown}: {e}"))
            .and_then(|text| {
                serde_saphyr::from_str::<TestFileRaw>(&text).map_err(|e| {
                    let line = e.location().map(|l| l.line()).unwrap_or(0);
                    format!("{shown}:{line}: {e}")
                })
            });
        match parsed {
            Ok(raw) => files.push(TestFile {
                path: shown,
                cases: raw.cases,
            }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// Run every case; print one line per case and the trace of failures.
pub(super) fn run_all(repo: &Path, out: &mut impl Write) -> u8 {
    let set = match PolicySet::load(repo) {
        Ok(set) => set,
        Err(e) => {
            let _ = writeln!(out, "error: {}", error_chain(&e));
            return EXIT_INVALID;
        }
    };
    for broken in &set.broken {
        let _ = writeln!(out, "warn  {} (it denies what it governs)", broken.error);
    }
    let files = match load_all(repo) {
        Ok(files) => files,
        Err(errors) => {
            for e in errors {
                let _ = writeln!(out, "error {e}");
            }
            return EXIT_INVALID;
        }
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let _ = writeln!(out, "{}", file.path);
        for case in &file.cases {
            match run_case(&set, case) {
                Ok(()) => {
                    passed += 1;
                    let _ = writeln!(out, "  PASS  {}", case.name);
                }
                Err(failure) => {
                    failed += 1;
                    let _ = writeln!(out, "  FAIL  {}\n        {}", case.name, failure.message);
                    for d in &failure.decisions {
                        for line in d.render_text().lines() {
                            let _ = writeln!(out, "        | {line}");
                        }
                    }
                }
            }
        }
    }
    if passed + failed == 0 {
        let _ = writeln!(
            out,
            "note  no cases in {POLICY_DIR}/{TEST_DIR}/*.yaml: nothing to test"
        );
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if failed == 0 { EXIT_OK } else { EXIT_DENIED }
}

struct Failure {
    message: String,
    decisions: Vec<Decision>,
}

fn run_case(set: &PolicySet, case: &TestCase) -> Result<(), Failure> {
    let fail = |message: String, decisions: Vec<Decision>| Failure { message, decisions };
    let requests = match (&case.event, &case.request) {
        (Some(event), None) => {
            let origin = Origin {
                provider: case.provider.unwrap_or(Provider::Generic),
                event_id: case.name.clone(),
                received_at: case.received_at.unwrap_or(case.now),
            };
            requests_for_event(&set.config, event, &origin)
        }
        (None, Some(request)) => vec![request.clone()],
        _ => {
            return Err(fail(
                "give exactly one of `event` and `request`".into(),
                vec![],
            ));
        }
    };
    if case.expect.verdict == "none" {
        return match requests.len() {
            0 => Ok(()),
            n => Err(fail(
                format!("expected no request, the event produced {n}"),
                vec![],
            )),
        };
    }
    if requests.is_empty() {
        return Err(fail("the event produced no request".into(), vec![]));
    }
    let decisions: Vec<Decision> = requests
        .iter()
        .map(|r| evaluate(set, &case.facts, r, case.now))
        .collect();
    for d in &decisions {
        if let Some(problem) = mismatch(&case.expect, &d.verdict) {
            return Err(fail(
                format!("{}/{}: {problem}", d.app, d.environment),
                decisions.clone(),
            ));
        }
    }
    Ok(())
}

fn mismatch(expect: &Expect, verdict: &Verdict) -> Option<String> {
    if verdict.name() != expect.verdict {
        return Some(format!(
            "expected {}, got {}",
            expect.verdict,
            verdict.name()
        ));
    }
    match verdict {
        Verdict::Allow { mode } => expect
            .mode
            .filter(|m| m != mode)
            .map(|m| format!("expected mode {}, got {}", m.as_str(), mode.as_str())),
        Verdict::Wait {
            waiting_for,
            reasons,
            ..
        } => expect
            .waiting_for
            .filter(|w| w != waiting_for)
            .map(|w| {
                format!(
                    "expected to wait for {}, got {}",
                    w.as_str(),
                    waiting_for.as_str()
                )
            })
            .or_else(|| missing_reason(expect, reasons)),
        Verdict::Deny { reasons } => missing_reason(expect, reasons),
    }
}

fn missing_reason(expect: &Expect, reasons: &[String]) -> Option<String> {
    let wanted = expect.reason.as_ref()?;
    (!reasons.iter().any(|r| r.contains(wanted.as_str())))
        .then(|| format!("no reason contains {wanted:?}: {reasons:?}"))
}
