//! What sync reads from a rendered object, as pure functions over JSON
//! values: its kind, whether that kind is cluster-scoped, where its pod
//! specs live.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// Kinds Kubernetes serves outside namespaces, built in, by API group
/// and kind: the answer when neither the cluster's discovery nor a
/// CustomResourceDefinition in the same revision tells (planning without a
/// cluster).
pub const BUILT_IN_CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("storage.k8s.io", "StorageClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("apiregistration.k8s.io", "APIService"),
];

/// Whether each kind of a revision is cluster-scoped. First what the
/// cluster's discovery says (`APIResource.namespaced`), then the
/// `spec.scope` (`Cluster` or `Namespaced`) of a CustomResourceDefinition
/// among the revision's objects (its kind is not served until the CRD is
/// applied), then [`BUILT_IN_CLUSTER_SCOPED`].
#[derive(Debug, Clone, Default)]
pub struct KindScopes {
    /// `(group, kind)` to cluster-scoped; a kind's scope is the same in
    /// every version of its group.
    known: HashMap<(String, String), bool>,
    /// What discovery said, which a CRD does not override.
    discovered: HashSet<(String, String)>,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl KindScopes {
    /// The scopes the CustomResourceDefinitions among `manifests` declare.
    pub fn declared_by<'a>(manifests: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut scopes = Self::default();
        for crd in manifests.into_iter().filter(|m| {
            kind_of(m) == "CustomResourceDefinition"
                && group_of(text(m, "/apiVersion")) == "apiextensions.k8s.io"
        }) {
            let key = (
                text(crd, "/spec/group").to_string(),
                text(crd, "/spec/names/kind").to_string(),
            );
            match text(crd, "/spec/scope") {
                "Cluster" => scopes.known.insert(key, true),
                "Namespaced" => scopes.known.insert(key, false),
                _ => None,
            };
        }
        scopes
    }

    /// Records discovery's answer for `kind` in `api_version`'s group.
    pub fn discovered(&mut self, api_version: &str, kind: &str, cluster_scoped: bool) {
        let key = (group_of(api_version).to_string(), kind.to_string());
        self.known.insert(key.clone(), cluster_scoped);
        self.discovered.insert(key);
    }

    /// Whether discovery has answered for `kind`.
    pub fn is_discovered(&self, api_version: &str, kind: &str) -> bool {
        let key = (group_of(api_version).to_string(), kind.to_string());
        self.discovered.contains(&key)
    }

    /// Whether `kind` in `api_version` is served outside namespaces.
    pub fn is_cluster_scoped(&self, api_version: &str, kind: &str) -> bool {
        let key = (group_of(api_version).to_string(), kind.to_string());
        match self.known.get(&key) {
            Some(cluster_scoped) => *cluster_scoped,
            None => BUILT_IN_CLUSTER_SCOPED.contains(&(key.0.as_str(), kind)),
        }
    }
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
    fn a_kinds_scope_comes_from_discovery_then_a_crd_then_the_built_in_list() {
        let crd = |group: &str, kind: &str, scope: &str| {
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "spec": {"group": group, "scope": scope, "names": {"kind": kind}}})
        };
        let manifests = [
            crd("stable.example.com", "BackupPolicy", "Cluster"),
            crd("stable.example.com", "CronTab", "Namespaced"),
            crd("other.example.com", "Thing", "Cluster"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "spec": {"scope": "Cluster"}}),
        ];
        let mut scopes = KindScopes::declared_by(&manifests);
        scopes.discovered("other.example.com/v2", "Thing", false);
        scopes.discovered("example.com/v1", "Namespace", false);
        let cases = [
            (
                "stable.example.com/v1",
                "BackupPolicy",
                true,
                "a CRD in the revision",
            ),
            (
                "stable.example.com/v1beta1",
                "BackupPolicy",
                true,
                "any version of its group",
            ),
            (
                "other.stable.example.com/v1",
                "BackupPolicy",
                false,
                "another group",
            ),
            (
                "stable.example.com/v1",
                "CronTab",
                false,
                "declared namespaced",
            ),
            (
                "other.example.com/v1",
                "Thing",
                false,
                "discovery over the CRD",
            ),
            ("v1", "Namespace", true, "built in"),
            (
                "example.com/v1",
                "Namespace",
                false,
                "a custom kind of a built-in name",
            ),
            (
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                true,
                "built in",
            ),
            ("v1", "ConfigMap", false, "namespaced by default"),
            ("example.com/v1", "Unknown", false, "namespaced by default"),
        ];
        for (api_version, kind, want, why) in cases {
            assert_eq!(
                scopes.is_cluster_scoped(api_version, kind),
                want,
                "{api_version} {kind}: {why}"
            );
        }
        assert!(scopes.is_discovered("other.example.com/v1", "Thing"));
        assert!(!scopes.is_discovered("stable.example.com/v1", "BackupPolicy"));
        assert_eq!(kind_of(&json!({"kind": "Service"})), "Service");
        assert_eq!(kind_of(&json!({})), "");
    }
}
