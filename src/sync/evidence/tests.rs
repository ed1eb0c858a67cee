use k8s_openapi::api::core::v1::Event;
use serde_json::{Value, json};

use super::*;

fn pod(statuses: Value) -> Value {
    json!({"metadata": {"name": "web-1"}, "status": {"containerStatuses": statuses}})
}

#[test]
fn failing_containers_are_told_from_their_status() {
    let crash = json!({"name": "app", "ready": false, "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1}}});
    let pulling = json!({"name": "app", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff"}}});
    let ready = json!({"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}});
    let unready =
        json!({"name": "app", "ready": false, "restartCount": 0, "state": {"running": {}}});
    let creating = json!({"name": "app", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}}});
    let exited = json!({"name": "app", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": 2}}});
    let completed = json!({"name": "app", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0}}});
    let failing = |previous, has_log| {
        vec![FailingContainer {
            name: "app".into(),
            previous,
            has_log,
        }]
    };
    let cases = [
        (
            "crash loop reads the previous run",
            crash,
            failing(true, true),
        ),
        (
            "image never pulled has no log",
            pulling,
            failing(false, false),
        ),
        ("ready", ready, vec![]),
        ("running but never ready", unready, failing(false, true)),
        ("still being created", creating, vec![]),
        ("exited with an error", exited, failing(false, true)),
        ("completed", completed, vec![]),
    ];
    for (name, status, expected) in cases {
        assert_eq!(
            failing_containers(&pod(json!([status]))),
            expected,
            "{name}"
        );
    }
}

#[test]
fn a_running_init_container_is_at_work_not_failing() {
    let pod = json!({"status": {"initContainerStatuses": [
        {"name": "migrate", "ready": false, "restartCount": 0, "state": {"running": {}}}]}});
    assert_eq!(failing_containers(&pod), vec![]);
}

#[test]
fn logs_keep_their_last_lines_each_bounded() {
    let many: String = (1..=60).map(|i| format!("line {i}\n")).collect();
    let long = "x".repeat(MAX_LINE_CHARS + 50);
    let cases: [(&str, String, usize, &str, &str); 4] = [
        ("empty", String::new(), 0, "", ""),
        ("short", "a\nb\n".into(), 2, "a", "b"),
        ("too many lines", many, MAX_LINES, "line 11", "line 60"),
        ("too long a line", format!("{long}\nend"), 2, "", "end"),
    ];
    for (name, log, count, first, last) in cases {
        let lines = last_lines(&log);
        assert_eq!(lines.len(), count, "{name}");
        assert!(
            lines.iter().all(|l| l.chars().count() <= MAX_LINE_CHARS),
            "{name}"
        );
        if count > 0 {
            if !first.is_empty() {
                assert_eq!(lines[0], first, "{name}");
            }
            assert_eq!(lines[count - 1], last, "{name}");
        }
    }
    assert!(last_lines(&long)[0].ends_with('…'));
}

fn entry(container: &str, lines: usize, warnings: usize) -> PodEvidence {
    PodEvidence {
        pod: "web-1".into(),
        container: container.into(),
        previous: false,
        log: (0..lines)
            .map(|i| format!("{container} {i:>4} {}", "y".repeat(290)))
            .collect(),
        warnings: (0..warnings)
            .map(|i| format!("BackOff {i} {}", "w".repeat(290)))
            .collect(),
    }
}

#[test]
fn a_pods_evidence_is_bounded_oldest_lines_first() {
    let cases = [
        ("fits", vec![entry("app", 10, 2)], vec![10], vec![2]),
        ("one long log", vec![entry("app", 50, 2)], vec![25], vec![2]),
        (
            "two logs share the budget",
            vec![entry("app", 50, 0), entry("side", 50, 0)],
            vec![14, 13],
            vec![0, 0],
        ),
        (
            "warnings alone too many",
            vec![entry("app", 0, 40)],
            vec![0],
            vec![27],
        ),
    ];
    for (name, mut entries, lines, warnings) in cases {
        let before: Vec<Vec<String>> = entries.iter().map(|e| e.log.clone()).collect();
        bound_pod(&mut entries);
        let size: usize = entries
            .iter()
            .flat_map(|e| e.log.iter().chain(&e.warnings))
            .map(String::len)
            .sum();
        assert!(size <= MAX_BYTES_PER_POD, "{name}: {size}");
        assert_eq!(
            entries.iter().map(|e| e.log.len()).collect::<Vec<_>>(),
            lines,
            "{name}"
        );
        assert_eq!(
            entries.iter().map(|e| e.warnings.len()).collect::<Vec<_>>(),
            warnings,
            "{name}"
        );
        for (entry, old) in entries.iter().zip(before) {
            assert!(old.ends_with(&entry.log), "{name}: the newest lines stay");
        }
    }
}

#[test]
fn warnings_are_the_last_warning_events_as_reason_and_message() {
    let event = |kind: &str, reason: &str, at: &str| -> Event {
        serde_json::from_value(json!({"metadata": {"name": format!("e-{reason}")},
            "involvedObject": {"kind": "Pod", "name": "web-1"},
            "type": kind, "reason": reason, "message": format!("{reason} happened"), "lastTimestamp": at}))
        .unwrap()
    };
    let events = vec![
        event("Warning", "BackOff", "2026-01-01T00:00:02Z"),
        event("Normal", "Pulled", "2026-01-01T00:00:01Z"),
        event("Warning", "FailedMount", "2026-01-01T00:00:00Z"),
    ];
    assert_eq!(
        warning_lines(&events),
        vec![
            "FailedMount: FailedMount happened",
            "BackOff: BackOff happened"
        ]
    );
    let many: Vec<Event> = (0..MAX_WARNINGS + 5)
        .map(|i| {
            event(
                "Warning",
                &format!("R{i:02}"),
                &format!("2026-01-01T00:00:{i:02}Z"),
            )
        })
        .collect();
    let lines = warning_lines(&many);
    assert_eq!(lines.len(), MAX_WARNINGS);
    assert!(lines[0].starts_with("R05"), "{lines:?}");
}
