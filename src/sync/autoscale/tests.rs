use serde_json::{Value, json};

use super::*;
use crate::sync::render::RenderedObject;

fn rendered(manifest: Value) -> RenderedObject {
    RenderedObject {
        source: "f.yaml".into(),
        manifest,
    }
}

fn workload(kind: &str, name: &str, replicas: Option<u32>) -> Value {
    let mut spec = json!({"template": {}});
    if let Some(r) = replicas {
        spec["replicas"] = json!(r);
    }
    json!({"apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

fn hpa(name: &str, api_version: &str, kind: &str, target: &str) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"minReplicas": 4, "maxReplicas": 8,
            "scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": target}}})
}

#[test]
fn an_autoscaled_workload_leaves_its_replicas_and_the_rest_keep_theirs() {
    let mut desired = plan::desired(
        "web",
        "dev",
        vec![
            rendered(workload("Deployment", "web", Some(2))),
            rendered(workload("Deployment", "worker", Some(3))),
            rendered(workload("StatefulSet", "db", Some(1))),
        ],
    );
    let before: Vec<String> = desired.iter().map(|d| d.hash.clone()).collect();
    let autoscalers = [
        hpa("web", "apps/v1", "Deployment", "web"),
        hpa("not-db", "apps/v1", "Deployment", "db"),
        hpa("other-group", "example.com/v1", "StatefulSet", "db"),
        json!({"metadata": {"name": "no-target", "namespace": "shop"}, "spec": {}}),
    ];
    let targets = scale_targets(&autoscalers);
    assert_eq!(targets.len(), 3);
    let notes = leave_replicas(&mut desired, &targets);
    assert_eq!(
        notes.values().collect::<Vec<_>>(),
        ["Deployment shop/web: spec.replicas left to HorizontalPodAutoscaler web"]
    );
    let web = desired.iter().find(|d| d.object.name == "web").unwrap();
    assert!(web.manifest.pointer("/spec/replicas").is_none());
    assert_ne!(
        web.hash,
        before[desired.iter().position(|d| d.object.name == "web").unwrap()]
    );
    for d in desired.iter().filter(|d| d.object.name != "web") {
        assert!(
            d.manifest.pointer("/spec/replicas").is_some(),
            "{}",
            d.object
        );
    }
}

#[test]
fn only_namespaces_of_objects_that_set_replicas_are_asked_for_autoscalers() {
    let desired = plan::desired(
        "web",
        "dev",
        vec![
            rendered(workload("Deployment", "web", None)),
            rendered(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "config"}})),
            rendered(workload("Deployment", "worker", Some(3))),
        ],
    );
    assert_eq!(namespaces_with_replicas(&desired), ["shop"]);
}

#[test]
fn the_handover_applies_only_the_live_replicas() {
    let desired = plan::desired(
        "web",
        "dev",
        vec![rendered(workload("Deployment", "web", None))],
    );
    let live = workload("Deployment", "web", Some(4));
    assert_eq!(
        handover_manifest(&desired[0], &live),
        Some(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 4}}))
    );
    assert_eq!(
        handover_manifest(&desired[0], &workload("Deployment", "web", None)),
        None
    );
}
