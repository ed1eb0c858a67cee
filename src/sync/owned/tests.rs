use serde_json::{Value, json};

use super::*;

/// What an API server answered to `slipway`'s apply of a Deployment whose
/// manifest said `cpu: "0.5"` and `memory: 0.5Gi`, after `alice` applied
/// an extra env var and the controller wrote status.
fn answer() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "shop", "resourceVersion": "7",
            "labels": {"app": "web"},
            "managedFields": [
                {"manager": "slipway", "operation": "Apply", "apiVersion": "apps/v1",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                   "f:spec": {"f:replicas": {}, "f:selector": {},
                     "f:template": {"f:spec": {"f:containers": {
                       "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {},
                         "f:args": {},
                         "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":
                           {".": {}, "f:containerPort": {}}},
                         "f:env": {"k:{\"name\":\"GREETING\"}": {".": {}, "f:name": {}, "f:value": {}}},
                         "f:resources": {"f:requests": {"f:cpu": {}, "f:memory": {}}}}}}}}}},
                {"manager": "alice", "operation": "Apply", "apiVersion": "apps/v1",
                 "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                   "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:env": {
                     "k:{\"name\":\"ALICE_DEBUG\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}},
                {"manager": "kube-controller-manager", "operation": "Update",
                 "subresource": "status", "apiVersion": "apps/v1",
                 "fieldsV1": {"f:status": {"f:replicas": {}}}}
            ]
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate"},
            "template": {"spec": {"restartPolicy": "Always", "containers": [{
                "name": "web", "image": "ghcr.io/acme/web:1.0.0",
                "imagePullPolicy": "IfNotPresent",
                "args": ["--port", "8080"],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "GREETING", "value": "hi"}, {"name": "ALICE_DEBUG", "value": "1"}],
                "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}
            }]}}
        },
        "status": {"replicas": 2}
    })
}

fn form() -> OwnedForm {
    OwnedForm::of(&answer(), "slipway").expect("slipway applied")
}

fn container(live: &mut Value) -> &mut Value {
    &mut live["spec"]["template"]["spec"]["containers"][0]
}

type Edit = fn(&mut Value);

#[test]
fn drift_is_a_change_to_a_field_slipway_owns_in_the_servers_form() {
    let rows: &[(&str, Edit, Option<&str>)] = &[
        ("nothing changed", |_| {}, None),
        (
            "status moved on",
            |l| l["status"]["replicas"] = json!(3),
            None,
        ),
        (
            "a normalised quantity reads back the same",
            |l| container(l)["resources"]["requests"]["cpu"] = json!("500m"),
            None,
        ),
        (
            "another manager's list item changed",
            |l| container(l)["env"][1]["value"] = json!("2"),
            None,
        ),
        (
            "another manager's list item removed",
            |l| {
                container(l)["env"].as_array_mut().unwrap().pop();
            },
            None,
        ),
        (
            "list items in another order",
            |l| {
                container(l)["env"].as_array_mut().unwrap().reverse();
            },
            None,
        ),
        (
            "a defaulted field nobody applied changed",
            |l| container(l)["imagePullPolicy"] = json!("Always"),
            None,
        ),
        (
            "an integer read back as a float",
            |l| l["spec"]["replicas"] = json!(2.0),
            None,
        ),
        (
            "the image set by hand",
            |l| container(l)["image"] = json!("ghcr.io/acme/web:evil"),
            Some("/spec/template/spec/containers[name=web]/image"),
        ),
        (
            "an owned env var removed",
            |l| {
                container(l)["env"].as_array_mut().unwrap().remove(0);
            },
            Some("/spec/template/spec/containers[name=web]/env[name=GREETING]"),
        ),
        (
            "scaled by hand",
            |l| l["spec"]["replicas"] = json!(5),
            Some("/spec/replicas"),
        ),
        (
            "a quantity changed",
            |l| container(l)["resources"]["requests"]["memory"] = json!("1Gi"),
            Some("/spec/template/spec/containers[name=web]/resources/requests/memory"),
        ),
        (
            "an atomic list changed",
            |l| container(l)["args"] = json!(["--port", "9090"]),
            Some("/spec/template/spec/containers[name=web]/args"),
        ),
        (
            "an owned port removed",
            |l| container(l)["ports"] = json!([]),
            Some("/spec/template/spec/containers[name=web]/ports[containerPort=8080,protocol=TCP]"),
        ),
        (
            "an owned label changed",
            |l| l["metadata"]["labels"]["app"] = json!("other"),
            Some("/metadata/labels/app"),
        ),
    ];
    let form = form();
    for (name, edit, want) in rows {
        let mut live = answer();
        edit(&mut live);
        assert_eq!(form.drift(&live).as_deref(), *want, "{name}");
    }
}

#[test]
fn the_form_keeps_only_the_managers_fields() {
    let values = form().values;
    let env = &values["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env, &json!([{"name": "GREETING", "value": "hi"}]));
    assert!(values.get("status").is_none());
    assert!(values["spec"].get("strategy").is_none());
    assert_eq!(
        values["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}})
    );
}

#[test]
fn ownership_of_a_field_is_read_from_the_tree() {
    let form = form();
    assert!(form.owns(&["spec", "replicas"]));
    assert!(!form.owns(&["spec", "strategy"]));
    assert!(!form.owns(&["status"]));
    assert!(OwnedForm::of(&answer(), "nobody").is_none());
}

#[test]
fn entries_of_a_subresource_or_an_update_are_not_the_managers_apply() {
    let mut object = answer();
    object["metadata"]["managedFields"] = json!([
        {"manager": "slipway", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "slipway", "operation": "Apply", "subresource": "status",
         "fieldsV1": {"f:status": {}}}
    ]);
    assert!(OwnedForm::of(&object, "slipway").is_none());
}
