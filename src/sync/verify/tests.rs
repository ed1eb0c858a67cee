use serde_json::json;

use super::*;

fn deploy(generation: i64, status: Value) -> Value {
    json!({"kind": "Deployment", "metadata": {"generation": generation}, "spec": {"replicas": 2}, "status": status})
}

fn is_progressing(h: &Health) -> bool {
    matches!(h, Health::Progressing(_))
}

#[test]
fn deployments_are_judged_like_kubectl_rollout_status() {
    let ok = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
    let cases = [
        ("complete", deploy(2, ok.clone()), Health::Ready),
        (
            "spec not observed",
            deploy(3, ok.clone()),
            Health::Progressing("waiting for the spec update to be observed".into()),
        ),
        (
            "updating",
            deploy(
                2,
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}),
            ),
            Health::Progressing("1 of 2 new replicas updated".into()),
        ),
        (
            "old pods left",
            deploy(
                2,
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
            ),
            Health::Progressing("1 old replicas pending termination".into()),
        ),
        (
            "not available",
            deploy(
                2,
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
            ),
            Health::Progressing("1 of 2 updated replicas available".into()),
        ),
        (
            "deadline exceeded",
            deploy(
                2,
                json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "web has timed out progressing"}]}),
            ),
            Health::Failed("ProgressDeadlineExceeded: web has timed out progressing".into()),
        ),
    ];
    for (name, live, want) in cases {
        assert_eq!(health(&live), want, "{name}");
    }
}

#[test]
fn stateful_sets_daemon_sets_and_jobs_have_their_own_rules() {
    let sts = |status: Value, strategy: Value| {
        json!({"kind": "StatefulSet", "metadata": {"generation": 1},
        "spec": {"replicas": 3, "updateStrategy": strategy}, "status": status})
    };
    let ds = |status: Value| json!({"kind": "DaemonSet", "metadata": {"generation": 1}, "status": status});
    let job = |conditions: Value| json!({"kind": "Job", "status": {"conditions": conditions, "succeeded": 0}});
    type Check = fn(&Health) -> bool;
    let cases: Vec<(&str, Value, Check)> = vec![
        (
            "sts ready",
            sts(
                json!({"observedGeneration": 1, "readyReplicas": 3, "currentRevision": "a", "updateRevision": "a"}),
                json!({}),
            ),
            |h| *h == Health::Ready,
        ),
        (
            "sts revision pending",
            sts(
                json!({"observedGeneration": 1, "readyReplicas": 3, "currentRevision": "a", "updateRevision": "b"}),
                json!({}),
            ),
            is_progressing,
        ),
        (
            "sts partition done",
            sts(
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1}),
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
            ),
            |h| *h == Health::Ready,
        ),
        (
            "sts on delete",
            sts(
                json!({"observedGeneration": 1}),
                json!({"type": "OnDelete"}),
            ),
            |h| *h == Health::Ready,
        ),
        (
            "ds ready",
            ds(
                json!({"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}),
            ),
            |h| *h == Health::Ready,
        ),
        (
            "ds unavailable",
            ds(
                json!({"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}),
            ),
            is_progressing,
        ),
        (
            "job complete",
            job(json!([{"type": "Complete", "status": "True"}])),
            |h| *h == Health::Ready,
        ),
        (
            "job failed",
            job(json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}])),
            |h| matches!(h, Health::Failed(m) if m.contains("BackoffLimitExceeded")),
        ),
        ("job running", job(json!([])), is_progressing),
        ("configmap", json!({"kind": "ConfigMap"}), |h| {
            *h == Health::Ready
        }),
    ];
    for (name, live, check) in cases {
        let got = health(&live);
        assert!(check(&got), "{name}: {got:?}");
    }
}

#[test]
fn pod_reasons_name_the_pod_the_container_and_why() {
    let pods = vec![
        json!({"metadata": {"name": "web-1"}, "status": {"containerStatuses": [
            {"name": "web", "ready": false, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"reason": "Error"}}},
            {"name": "sidecar", "ready": true, "state": {"running": {}}}]}}),
        json!({"metadata": {"name": "web-2"}, "status": {"containerStatuses": [
            {"name": "web", "ready": false, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}),
    ];
    assert_eq!(
        pod_reasons(&pods),
        [
            "web-1/web: CrashLoopBackOff (last exit: Error)",
            "web-2/web: ImagePullBackOff"
        ]
    );
}

#[test]
fn the_pod_selector_comes_from_match_labels() {
    let live = json!({"spec": {"selector": {"matchLabels": {"app": "web", "tier": "front"}}}});
    assert_eq!(pod_selector(&live).as_deref(), Some("app=web,tier=front"));
    assert_eq!(pod_selector(&json!({"spec": {}})), None);
}

#[test]
fn the_pod_selector_keeps_match_expressions() {
    let live = json!({"spec": {"selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["front", "edge"]},
        {"key": "canary", "operator": "DoesNotExist"}]}}});
    assert_eq!(
        pod_selector(&live).as_deref(),
        Some("app=web,tier in (edge,front),!canary")
    );
    let template_only = json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}}}}});
    assert_eq!(pod_selector(&template_only).as_deref(), Some("app=web"));
}
