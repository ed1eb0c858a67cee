use super::*;
use serde_json::json;

const NOW: &str = "2026-01-01T00:01:00Z";

fn pod(name: &str, created: &str, labels: Value, status: Value) -> Value {
    json!({"metadata": {"name": name, "creationTimestamp": created, "labels": labels},
           "status": {"containerStatuses": [status]}})
}

fn container(ready: bool, restarts: i64, waiting: Option<&str>) -> Value {
    let state = match waiting {
        Some(reason) => {
            json!({"waiting": {"reason": reason, "message": "Back-off pulling image \"x\""}})
        }
        None => json!({"running": {}}),
    };
    json!({"name": "web", "ready": ready, "restartCount": restarts, "state": state,
           "lastState": {"terminated": {"reason": "Error"}}})
}

#[test]
fn pods_fail_a_rollout_on_crash_loops_and_stuck_images_after_the_grace() {
    let limits = PodLimits {
        crash_loop_restarts: 2,
        image_pull_grace: Duration::from_secs(30),
    };
    let now: jiff::Timestamp = NOW.parse().unwrap();
    // name, pod created at, container status, failure expected (substring)
    let cases = [
        (
            "healthy",
            "2026-01-01T00:00:00Z",
            container(true, 0, None),
            None,
        ),
        (
            "one restart",
            "2026-01-01T00:00:00Z",
            container(false, 1, Some("CrashLoopBackOff")),
            None,
        ),
        (
            "crash loop",
            "2026-01-01T00:00:55Z",
            container(false, 2, Some("CrashLoopBackOff")),
            Some("web-1/web: CrashLoopBackOff after 2 restarts (last exit: Error)"),
        ),
        (
            "restarted but ready again",
            "2026-01-01T00:00:00Z",
            container(true, 5, None),
            None,
        ),
        (
            "pull within grace",
            "2026-01-01T00:00:40Z",
            container(false, 0, Some("ImagePullBackOff")),
            None,
        ),
        (
            "pull beyond grace",
            "2026-01-01T00:00:20Z",
            container(false, 0, Some("ImagePullBackOff")),
            Some("web-1/web: ImagePullBackOff for 40s"),
        ),
        (
            "bad config beyond grace",
            "2026-01-01T00:00:00Z",
            container(false, 0, Some("CreateContainerConfigError")),
            Some("CreateContainerConfigError for 60s"),
        ),
        (
            "still creating",
            "2026-01-01T00:00:00Z",
            container(false, 0, Some("ContainerCreating")),
            None,
        ),
    ];
    for (name, created, status, want) in cases {
        let p = pod("web-1", created, json!({}), status);
        let got = pod_failure(&[&p], &limits, now);
        match want {
            None => assert_eq!(got, None, "{name}"),
            Some(needle) => assert!(
                got.as_deref().is_some_and(|g| g.contains(needle)),
                "{name}: {got:?}"
            ),
        }
    }
}

#[test]
fn only_the_new_revisions_pods_are_judged() {
    let pods = [
        pod(
            "old",
            NOW,
            json!({"pod-template-hash": "aaa", "controller-revision-hash": "r1", "pod-template-generation": "1"}),
            json!({}),
        ),
        pod(
            "new",
            NOW,
            json!({"pod-template-hash": "bbb", "controller-revision-hash": "r2", "pod-template-generation": "2"}),
            json!({}),
        ),
    ];
    let rs = |hash: &str, revision: &str| {
        json!({"metadata": {"labels": {"pod-template-hash": hash},
               "annotations": {"deployment.kubernetes.io/revision": revision}}})
    };
    let names = |picked: Vec<&Value>| -> Vec<String> {
        picked
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let deployment = json!({"kind": "Deployment", "metadata": {"generation": 2}, "status": {"observedGeneration": 2}});
    let sets = [rs("aaa", "1"), rs("bbb", "2")];
    assert_eq!(names(new_revision_pods(&deployment, &sets, &pods)), ["new"]);
    let unobserved = json!({"kind": "Deployment", "metadata": {"generation": 3}, "status": {"observedGeneration": 2}});
    assert!(
        new_revision_pods(&unobserved, &sets, &pods).is_empty(),
        "not judged before the controller saw the spec"
    );
    let stateful = json!({"kind": "StatefulSet", "status": {"updateRevision": "r1"}});
    assert_eq!(names(new_revision_pods(&stateful, &[], &pods)), ["old"]);
    let daemon = json!({"kind": "DaemonSet", "metadata": {"generation": 2}, "status": {"observedGeneration": 2}});
    assert_eq!(names(new_revision_pods(&daemon, &[], &pods)), ["new"]);
    let job = json!({"kind": "Job"});
    assert_eq!(names(new_revision_pods(&job, &[], &pods)), ["old", "new"]);
}
