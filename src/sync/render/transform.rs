//! Transformations kustomize applies to rendered objects, as pure functions
//! over JSON values.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::image::ImageRef;

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

/// Kinds whose `spec.selector` is a label selector kustomize extends.
const SELECTOR_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"];

/// The object's `kind`.
pub fn kind_of(obj: &Value) -> &str {
    obj.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// Set `metadata.namespace` on a namespaced object.
pub fn set_namespace(obj: &mut Value, namespace: &str) {
    if is_cluster_scoped(kind_of(obj)) {
        return;
    }
    if let Some(meta) = object_at(obj, &["metadata"]) {
        meta.insert("namespace".into(), Value::String(namespace.into()));
    }
}

/// Where labels go, as kustomize's `labels` entry says.
#[derive(Debug, Clone, Copy, Default)]
pub struct LabelTargets {
    /// Also into selectors (and, necessarily, pod templates).
    pub selectors: bool,
    /// Also into pod templates.
    pub templates: bool,
}

/// Add labels to `metadata.labels` and, as asked, to selectors and pod templates.
pub fn add_labels(obj: &mut Value, labels: &Map<String, Value>, targets: LabelTargets) {
    merge_into(obj, &["metadata", "labels"], labels);
    let kind = kind_of(obj).to_string();
    if targets.selectors {
        if SELECTOR_KINDS.contains(&kind.as_str()) {
            merge_into(obj, &["spec", "selector", "matchLabels"], labels);
        } else if kind == "Service" {
            merge_into(obj, &["spec", "selector"], labels);
        }
    }
    if targets.selectors || targets.templates {
        for path in template_meta_paths(&kind) {
            let mut full = path.to_vec();
            full.push("labels");
            merge_into(obj, &full, labels);
        }
    }
}

/// Add annotations to `metadata.annotations` and every pod template.
pub fn add_annotations(obj: &mut Value, annotations: &Map<String, Value>) {
    merge_into(obj, &["metadata", "annotations"], annotations);
    let kind = kind_of(obj).to_string();
    for path in template_meta_paths(&kind) {
        let mut full = path.to_vec();
        full.push("annotations");
        merge_into(obj, &full, annotations);
    }
}

fn template_meta_paths(kind: &str) -> &'static [&'static [&'static str]] {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &[&["spec", "template", "metadata"]]
        }
        "CronJob" => &[&["spec", "jobTemplate", "spec", "template", "metadata"]],
        _ => &[],
    }
}

/// One entry of a kustomization's `images`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageOverride {
    /// The image name to match (repository without tag or digest).
    pub name: String,
    /// Replacement repository.
    #[serde(default)]
    pub new_name: Option<String>,
    /// Replacement tag.
    #[serde(default)]
    pub new_tag: Option<String>,
    /// Replacement digest; wins over a tag.
    #[serde(default)]
    pub digest: Option<String>,
}

/// Apply image overrides to every container of every pod spec in the object.
pub fn set_images(obj: &mut Value, overrides: &[ImageOverride]) {
    for spec in pod_specs_mut(obj) {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for container in containers {
                let Some(image) = container.get("image").and_then(Value::as_str) else {
                    continue;
                };
                if let Some(new) = override_image(image, overrides) {
                    container["image"] = Value::String(new);
                }
            }
        }
    }
}

fn override_image(image: &str, overrides: &[ImageOverride]) -> Option<String> {
    // A reference that does not parse (a template placeholder) is left alone.
    let current = ImageRef::parse(image).ok()?;
    let rule = overrides.iter().find(|o| o.name == current.repository)?;
    let name = rule.new_name.as_deref().unwrap_or(&current.repository);
    Some(match (&rule.digest, &rule.new_tag) {
        (Some(d), _) => format!("{name}@{d}"),
        (None, Some(t)) => format!("{name}:{t}"),
        (None, None) => current.with_repository(name).to_string(),
    })
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

/// Merge `entries` into the mapping at `path`, creating it when absent.
fn merge_into(obj: &mut Value, path: &[&str], entries: &Map<String, Value>) {
    if entries.is_empty() {
        return;
    }
    if let Some(map) = object_at(obj, path) {
        for (k, v) in entries {
            map.insert(k.clone(), v.clone());
        }
    }
}

/// The mapping at `path`, created (as empty mappings) when absent; `None`
/// when something on the way is not a mapping.
fn object_at<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut at = obj;
    for key in path {
        let map = at.as_object_mut()?;
        let entry = map
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        at = entry;
    }
    at.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> ImageOverride {
        ImageOverride {
            name: "ghcr.io/acme/web".into(),
            new_name: new_name.map(String::from),
            new_tag: tag.map(String::from),
            digest: digest.map(String::from),
        }
    }

    #[test]
    fn image_overrides_follow_kustomize() {
        let cases = [
            (
                "new tag",
                "ghcr.io/acme/web:1",
                rule(None, Some("2"), None),
                Some("ghcr.io/acme/web:2"),
            ),
            (
                "digest wins",
                "ghcr.io/acme/web:1",
                rule(None, Some("2"), Some("sha256:ab")),
                Some("ghcr.io/acme/web@sha256:ab"),
            ),
            (
                "new name keeps tag",
                "ghcr.io/acme/web:1",
                rule(Some("mirror/web"), None, None),
                Some("mirror/web:1"),
            ),
            (
                "other image untouched",
                "nginx:1",
                rule(None, Some("2"), None),
                None,
            ),
        ];
        for (name, image, rule, want) in cases {
            assert_eq!(override_image(image, &[rule]).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn labels_reach_selectors_and_templates_only_when_asked() {
        let deployment = json!({"kind": "Deployment", "metadata": {"name": "w"},
            "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": {"metadata": {"labels": {"app": "w"}}}}});
        let labels: Map<String, Value> = [("team".to_string(), json!("a"))].into_iter().collect();
        let mut plain = deployment.clone();
        add_labels(&mut plain, &labels, LabelTargets::default());
        assert_eq!(plain["metadata"]["labels"]["team"], "a");
        assert!(
            plain["spec"]["selector"]["matchLabels"]
                .get("team")
                .is_none()
        );
        let mut common = deployment.clone();
        add_labels(
            &mut common,
            &labels,
            LabelTargets {
                selectors: true,
                templates: true,
            },
        );
        assert_eq!(common["spec"]["selector"]["matchLabels"]["team"], "a");
        assert_eq!(
            common["spec"]["template"]["metadata"]["labels"]["team"],
            "a"
        );
    }

    #[test]
    fn namespaces_are_set_on_namespaced_kinds_only() {
        let mut cm = json!({"kind": "ConfigMap", "metadata": {"name": "c"}});
        let mut ns = json!({"kind": "Namespace", "metadata": {"name": "n"}});
        set_namespace(&mut cm, "team");
        set_namespace(&mut ns, "team");
        assert_eq!(cm["metadata"]["namespace"], "team");
        assert!(ns["metadata"].get("namespace").is_none());
    }
}
