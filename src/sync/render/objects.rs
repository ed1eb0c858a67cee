//! What sync reads from a rendered object, as pure functions over JSON
//! values: its kind, whether that kind is cluster-scoped, where its pod
//! specs live.

use serde_json::Value;

/// Kinds that live outside namespaces (the built-in ones Slipway knows
/// without asking the cluster).
pub const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "Node",
];

/// Whether a kind is cluster-scoped (by the built-in list).
pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED_KINDS.contains(&kind)
}

/// The object's `kind`.
pub fn kind_of(obj: &Value) -> &str {
    obj.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// The pod specs inside a workload (or a Pod), mutably.
pub fn pod_specs_mut(obj: &mut Value) -> Vec<&mut Value> {
    let path: &[&str] = match kind_of(obj) {
        "Pod" => &["spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &["spec", "template", "spec"]
        }
        _ => return Vec::new(),
    };
    let mut at = obj;
    for key in path {
        match at.get_mut(*key) {
            Some(next) => at = next,
            None => return Vec::new(),
        }
    }
    vec![at]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_specs_are_found_where_each_kind_keeps_them() {
        let cases = [
            ("pod", json!({"kind": "Pod", "spec": {"n": 1}}), 1),
            (
                "cronjob",
                json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"n": 1}}}}}}),
                1,
            ),
            (
                "deployment",
                json!({"kind": "Deployment", "spec": {"template": {"spec": {"n": 1}}}}),
                1,
            ),
            ("no template", json!({"kind": "Deployment", "spec": {}}), 0),
            ("service", json!({"kind": "Service", "spec": {}}), 0),
        ];
        for (name, mut obj, want) in cases {
            let specs = pod_specs_mut(&mut obj);
            assert_eq!(specs.len(), want, "{name}");
            if let Some(spec) = specs.into_iter().next() {
                assert_eq!(spec["n"], 1, "{name}");
            }
        }
    }

    #[test]
    fn cluster_scoped_kinds_are_known_without_the_cluster() {
        assert!(is_cluster_scoped("Namespace"));
        assert!(!is_cluster_scoped("ConfigMap"));
        assert_eq!(kind_of(&json!({"kind": "Service"})), "Service");
        assert_eq!(kind_of(&json!({})), "");
    }
}
