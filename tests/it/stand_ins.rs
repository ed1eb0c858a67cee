//! The stand-ins for a cluster's own components, acting through the API:
//! the kubelet (`tests/support/kubelet.rs`) on the test server's
//! controllers (`Kubelet::External`) or on the cluster
//! `SLIPWAY_TEST_KUBECONFIG` names, where pods are bound and given the
//! status their image tag asks for and the workload controllers take their
//! status from them; the HorizontalPodAutoscaler controller
//! (`tests/support/autoscaler.rs`) on the test server; and
//! `pods/{name}/binding` itself.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::autoscaler::clamped;
use crate::support::cluster::TestCluster;
use crate::support::kube_api::{KubeApiServer, NODE_NAME, PodState};
use crate::support::kubelet::pod_state;
use crate::support::process::eventually_within;

/// Upper bound on waiting for the controllers and the stand-in; a guard,
/// not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

#[test]
fn image_tags_and_the_restart_policy_choose_the_pod_state() {
    use PodState::*;
    let cases = [
        ("web:1.0.0", "Always", Some(Running)),
        ("web:1.0.0", "OnFailure", Some(Succeeded)),
        ("web:1.0.0", "Never", Some(Succeeded)),
        ("web:1.0-crash", "Always", Some(CrashLoop)),
        ("web:1.0-crash", "OnFailure", Some(CrashLoop)),
        ("web:1.0-crash", "Never", Some(Failed)),
        ("web:fail", "Always", Some(ImagePullBackOff)),
        ("web:fail", "Never", Some(Failed)),
        ("web:badimage", "Never", Some(ImagePullBackOff)),
        ("web:hang", "Always", None),
        (
            "registry.example:5000/crash/web:1.0.0",
            "Always",
            Some(Running),
        ),
    ];
    for (image, policy, want) in cases {
        assert_eq!(pod_state(&[image], policy), want, "{image} {policy}");
    }
}

#[test]
fn an_autoscaler_keeps_its_targets_replicas_within_its_bounds() {
    // current, minReplicas, maxReplicas, kept at
    let cases = [
        (2, Some(4), 8, 4),
        (9, Some(4), 8, 8),
        (5, Some(4), 8, 5),
        (0, Some(2), 3, 0),
        (1, None, 3, 1),
        (3, Some(5), 2, 5),
    ];
    for (current, min, max, want) in cases {
        assert_eq!(
            clamped(current, min, max),
            want,
            "{current} in {min:?}..{max}"
        );
    }
}

#[tokio::test]
async fn an_autoscalers_bounds_are_kept_by_its_controller() {
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("autoscaled").await;
    apply(&cluster, deployment(&ns, "ghcr.io/acme/web:1.0.0")).await;
    let hpa = |min: i32, max: i32| {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": min, "maxReplicas": max}})
    };
    for (min, max, want) in [(4, 8, 4), (1, 3, 3)] {
        apply(&cluster, hpa(min, max)).await;
        until_object(&cluster, ("apps/v1", "Deployment"), (&ns, "web"), |d| {
            d["spec"]["replicas"] == want
        })
        .await;
    }
}

fn deployment(namespace: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]}}}})
}

fn job(namespace: &str, image: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": namespace},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "migrate", "image": image}]}}}})
}

async fn apply(cluster: &TestCluster, object: Value) {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap();
    cluster
        .api(
            (text("/apiVersion"), text("/kind")),
            text("/metadata/namespace"),
        )
        .patch(
            text("/metadata/name"),
            &PatchParams::apply("stand-ins-test").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap();
}

/// The pods of `namespace` once `check` holds for them.
async fn until_pods(
    cluster: &TestCluster,
    namespace: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    eventually_within(WAIT_LIMIT, what, async || {
        let pods = cluster.list(("v1", "Pod"), namespace).await;
        check(&pods).then_some(pods)
    })
    .await
}

/// The object once `check` holds for it.
async fn until_object(
    cluster: &TestCluster,
    kind: (&str, &str),
    (namespace, name): (&str, &str),
    check: impl Fn(&Value) -> bool,
) -> Value {
    let what = format!("{} {namespace}/{name}", kind.1);
    eventually_within(WAIT_LIMIT, &what, async || {
        let object = cluster.get(kind, namespace, name).await;
        object.filter(|o| check(o))
    })
    .await
}

/// The Events of `reason` in `namespace`, once there is one.
async fn until_events(cluster: &TestCluster, namespace: &str, reason: &str) -> Vec<Value> {
    eventually_within(WAIT_LIMIT, reason, async || {
        let events: Vec<Value> = cluster
            .list(("v1", "Event"), namespace)
            .await
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect();
        (!events.is_empty()).then_some(events)
    })
    .await
}

fn waiting_reason(pod: &Value) -> &str {
    pod.pointer("/status/containerStatuses/0/state/waiting/reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[tokio::test]
async fn a_deployments_pods_are_bound_and_run_and_it_becomes_available() {
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("kubelet").await;
    apply(&cluster, deployment(&ns, "ghcr.io/acme/web:1.0.0")).await;
    let available = until_object(&cluster, ("apps/v1", "Deployment"), (&ns, "web"), |d| {
        d.pointer("/status/availableReplicas") == Some(&json!(2))
            && condition(d, "Progressing").is_some_and(|c| c["reason"] == "NewReplicaSetAvailable")
    })
    .await;
    assert_eq!(available["status"]["readyReplicas"], 2);
    let pods = cluster.list(("v1", "Pod"), &ns).await;
    assert_eq!(pods.len(), 2, "{pods:#?}");
    for pod in &pods {
        assert_eq!(pod["spec"]["nodeName"], NODE_NAME);
        assert_eq!(pod["status"]["phase"], "Running");
    }

    // A new image: the new pods run, the old ones go.
    apply(&cluster, deployment(&ns, "ghcr.io/acme/web:1.1.0")).await;
    let pods = until_pods(&cluster, &ns, "the old pods go", |pods| {
        pods.len() == 2
            && pods.iter().all(|p| {
                p["spec"]["containers"][0]["image"] == "ghcr.io/acme/web:1.1.0"
                    && p["status"]["phase"] == "Running"
            })
    })
    .await;
    assert_eq!(pods.len(), 2);
}

#[tokio::test]
async fn crash_pull_failure_and_hang_tags_leave_the_deployment_unavailable() {
    let cluster = TestCluster::start().await;
    for (tag, expect) in [
        ("crash", "CrashLoopBackOff"),
        ("fail", "ImagePullBackOff"),
        ("hang", ""),
    ] {
        let ns = cluster.namespace(tag).await;
        apply(
            &cluster,
            deployment(&ns, &format!("ghcr.io/acme/web:{tag}")),
        )
        .await;
        let pods = until_pods(&cluster, &ns, tag, |pods| {
            pods.len() == 2
                && pods.iter().all(|p| {
                    if expect.is_empty() {
                        p["spec"]["nodeName"].is_null()
                    } else {
                        waiting_reason(p) == expect
                    }
                })
        })
        .await;
        for pod in &pods {
            let ready = condition(pod, "Ready").map(|c| c["status"].clone());
            let want = (!expect.is_empty()).then(|| json!("False"));
            assert_eq!(ready, want, "{tag}: {pod:#}");
        }
        let d = cluster
            .get(("apps/v1", "Deployment"), &ns, "web")
            .await
            .unwrap();
        assert!(
            d.pointer("/status/availableReplicas")
                .is_none_or(|a| a == 0),
            "{tag}: {d:#}"
        );
        if tag == "crash" {
            let events = until_events(&cluster, &ns, "BackOff").await;
            assert_eq!(events[0]["type"], "Warning", "{events:#?}");
        }
    }
}

#[tokio::test]
async fn a_jobs_pod_succeeds_or_fails_by_its_tag() {
    let cluster = TestCluster::start().await;
    for (tag, condition_type) in [("1.0.0", "Complete"), ("crash", "Failed")] {
        let ns = cluster.namespace("job").await;
        apply(&cluster, job(&ns, &format!("ghcr.io/acme/migrate:{tag}"))).await;
        let finished = until_object(&cluster, ("batch/v1", "Job"), (&ns, "migrate"), |j| {
            condition(j, condition_type).is_some_and(|c| c["status"] == "True")
        })
        .await;
        assert!(condition(&finished, "Complete").is_some() != (tag == "crash"));
    }
}

#[tokio::test]
async fn a_binding_puts_a_pending_pod_on_a_node_once() {
    let server = KubeApiServer::start().await.unwrap();
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(server.client().unwrap(), "default");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}});
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    let binding_of = |pod: &str, node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    };
    let binding = |node: &str| binding_of("lonely", node);
    let bound: Value = pods
        .create_subresource(
            "binding",
            "lonely",
            &PostParams::default(),
            &binding("node-a"),
        )
        .await
        .unwrap();
    assert_eq!(bound["status"], "Success");
    let scheduled = pods
        .get("lonely")
        .await
        .unwrap()
        .status
        .unwrap()
        .conditions
        .unwrap();
    assert!(
        scheduled
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True"),
        "{scheduled:?}"
    );
    assert_eq!(
        pods.get("lonely")
            .await
            .unwrap()
            .spec
            .unwrap()
            .node_name
            .as_deref(),
        Some("node-a")
    );

    let again = pods
        .create_subresource::<Value, Value>(
            "binding",
            "lonely",
            &PostParams::default(),
            &binding("node-b"),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = again else {
        panic!("{again}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status
            .message
            .contains("already assigned to node \"node-a\""),
        "{}",
        status.message
    );

    let missing = pods
        .create_subresource::<Value, Value>(
            "binding",
            "nobody",
            &PostParams::default(),
            &binding_of("nobody", "node-a"),
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, kube::Error::Api(s) if s.code == 404));

    let misnamed = pods
        .create_subresource::<Value, Value>(
            "binding",
            "nobody",
            &PostParams::default(),
            &binding("node-a"),
        )
        .await
        .unwrap_err();
    assert!(matches!(misnamed, kube::Error::Api(s) if s.code == 400));
}
