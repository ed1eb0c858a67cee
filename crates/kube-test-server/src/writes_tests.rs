use serde_json::{Value, json};

use crate::resources;
use crate::store::Store;
use crate::writes::{self, WriteTarget};

fn target(kind: &str, api_version: &str, subresource: &str) -> WriteTarget {
    WriteTarget {
        resource: resources::by_kind(api_version, kind).unwrap_or_else(resources::namespaces),
        namespace: "default".into(),
        subresource: subresource.into(),
        manager: "test".into(),
        dry_run: false,
    }
}

fn store_with_default_namespace() -> Store {
    let store = Store::new(100);
    store
        .transaction(|txn| {
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
            let ns_target = WriteTarget {
                namespace: String::new(),
                ..target("Namespace", "v1", "")
            };
            writes::create(txn, &ns_target, namespace).map(|_| ())
        })
        .unwrap_or_default();
    store
}

fn deployment(image: &str, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels},
           "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
}

#[test]
fn generation_moves_with_spec_changes_only() {
    let store = store_with_default_namespace();
    let main = target("Deployment", "apps/v1", "");
    let status = target("Deployment", "apps/v1", "status");
    let rows: &[(&str, &WriteTarget, Value, i64)] = &[
        (
            "create starts at one",
            &main,
            deployment("web:1", json!({})),
            1,
        ),
        (
            "label change keeps it",
            &main,
            deployment("web:1", json!({"a": "b"})),
            1,
        ),
        (
            "image change bumps it",
            &main,
            deployment("web:2", json!({"a": "b"})),
            2,
        ),
        (
            "status write keeps it",
            &status,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 1}}),
            2,
        ),
        (
            "same spec again keeps it",
            &main,
            deployment("web:2", json!({"a": "b"})),
            2,
        ),
    ];
    for (case, write, body, expected) in rows {
        let stored = store.transaction(|txn| writes::apply(txn, write, "web", body.clone(), true));
        let generation = stored
            .ok()
            .and_then(|o| o.pointer("/metadata/generation").and_then(Value::as_i64));
        assert_eq!(generation, Some(*expected), "{case}");
    }
}

#[test]
fn writes_into_a_missing_namespace_are_not_found() {
    let store = store_with_default_namespace();
    let elsewhere = WriteTarget {
        namespace: "nowhere".into(),
        ..target("ConfigMap", "v1", "")
    };
    let map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let result = store.transaction(|txn| writes::apply(txn, &elsewhere, "c", map, false));
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(message, "namespaces \"nowhere\" not found");
}

#[test]
fn reapplying_a_bare_namespace_changes_nothing() {
    let store = store_with_default_namespace();
    let ns_target = WriteTarget {
        namespace: String::new(),
        manager: "kubectl".into(),
        ..target("Namespace", "v1", "")
    };
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    let versions: Vec<Option<Value>> = (0..2)
        .map(|_| {
            let stored = store.transaction(|txn| {
                writes::apply(txn, &ns_target, "shop", namespace.clone(), false)
            });
            stored
                .ok()
                .and_then(|o| o.pointer("/metadata/resourceVersion").cloned())
        })
        .collect();
    assert!(versions[0].is_some());
    assert_eq!(versions[0], versions[1]);
}

#[test]
fn applied_workloads_get_server_defaults_that_no_manager_owns() {
    let store = store_with_default_namespace();
    let main = WriteTarget {
        manager: "slipway".into(),
        ..target("Deployment", "apps/v1", "")
    };
    let mut config = deployment("web:1", json!({}));
    config["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8080}]);
    let first = store.transaction(|txn| writes::apply(txn, &main, "web", config.clone(), false));
    let first = first.map(|o| (*o).clone()).unwrap_or_default();
    let container = &first["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(first["spec"]["replicas"], json!(1));
    assert_eq!(first["spec"]["strategy"]["type"], json!("RollingUpdate"));
    assert_eq!(container["imagePullPolicy"], json!("IfNotPresent"));
    assert_eq!(
        container["ports"],
        json!([{"containerPort": 8080, "protocol": "TCP"}])
    );
    let owned = first
        .pointer("/metadata/managedFields/0/fieldsV1/f:spec")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        owned.get("f:replicas"),
        None,
        "defaults are not owned by the applier"
    );
    let again = store.transaction(|txn| writes::apply(txn, &main, "web", config, false));
    let again = again.map(|o| (*o).clone()).unwrap_or_default();
    assert_eq!(
        again["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"],
        "re-apply is a no-op"
    );
}

#[test]
fn misshapen_bodies_are_bad_requests() {
    let store = store_with_default_namespace();
    let main = target("Deployment", "apps/v1", "");
    let rows: &[(&str, Value, &str)] = &[
        (
            "metadata not a map",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": "web"}),
            "metadata",
        ),
        (
            "template not a map",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": 5}}),
            "spec.template",
        ),
    ];
    for (case, body, field) in rows {
        let result = store.transaction(|txn| writes::apply(txn, &main, "web", body.clone(), false));
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(message, format!("{field}: expected an object"), "{case}");
    }
}
