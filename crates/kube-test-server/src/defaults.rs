//! The defaults the real API server fills in on every write, for the fields
//! a sync loop is likely to compare: Deployment strategy and limits, pod
//! template settings, container pull policy and port protocols, Service type.
//! Defaulted fields belong to no manager, as on a real server. Resource
//! quantities are stored in their canonical form (see [`super::quantity`]).

use serde_json::{Value, json};

use super::resources::ResourceType;

/// Sets `key` on `object` when it is absent.
pub fn set_if_absent(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.entry(key.to_string()).or_insert(value);
    }
}

fn pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or_default();
    let tagged = last.split('@').next().unwrap_or_default().contains(':');
    if image.contains('@') || (tagged && !last.ends_with(":latest")) {
        "IfNotPresent"
    } else {
        "Always"
    }
}

fn default_ports(ports: Option<&mut Value>) {
    for port in ports.and_then(Value::as_array_mut).into_iter().flatten() {
        set_if_absent(port, "protocol", json!("TCP"));
    }
}

fn default_container(container: &mut Value) {
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set_if_absent(container, "imagePullPolicy", json!(pull_policy(&image)));
    set_if_absent(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    set_if_absent(container, "terminationMessagePolicy", json!("File"));
    set_if_absent(container, "resources", json!({}));
    default_ports(container.get_mut("ports"));
}

/// Pod spec defaults.
pub fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_if_absent(spec, "restartPolicy", json!("Always"));
    set_if_absent(spec, "terminationGracePeriodSeconds", json!(30));
    set_if_absent(spec, "dnsPolicy", json!("ClusterFirst"));
    set_if_absent(spec, "securityContext", json!({}));
    set_if_absent(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        for container in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_container(container);
        }
    }
}

/// The address the service IP allocator gives a new Service: stable per
/// namespace and name, in the default service range 10.96.0.0/12.
fn service_ip(object: &Value) -> String {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let seed = format!("{}/{}", text("/metadata/namespace"), text("/metadata/name"));
    let hash = super::meta::short_hash(&seed);
    let bytes = hash.as_bytes();
    format!("10.96.{}.{}", bytes[0] % 250, bytes[1] % 250 + 2)
}

/// Applies the defaults of `resource` to `object` (main endpoint writes).
pub fn apply_defaults(resource: &ResourceType, object: &mut Value) {
    super::quantity::normalise_resources(object);
    let cluster_ip = service_ip(object);
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    match (resource.group, resource.kind) {
        ("apps", "Deployment") => {
            set_if_absent(spec, "replicas", json!(1));
            set_if_absent(spec, "revisionHistoryLimit", json!(10));
            set_if_absent(spec, "progressDeadlineSeconds", json!(600));
            set_if_absent(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
        }
        ("apps", "StatefulSet") => {
            set_if_absent(spec, "replicas", json!(1));
            set_if_absent(spec, "podManagementPolicy", json!("OrderedReady"));
            set_if_absent(spec, "revisionHistoryLimit", json!(10));
            set_if_absent(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
        }
        ("apps", "DaemonSet") => {
            set_if_absent(spec, "revisionHistoryLimit", json!(10));
            set_if_absent(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
        ("batch", "Job") => {
            set_if_absent(spec, "backoffLimit", json!(6));
            set_if_absent(spec, "completions", json!(1));
            set_if_absent(spec, "parallelism", json!(1));
        }
        ("", "Pod") => default_pod_spec(spec),
        ("", "Service") => {
            set_if_absent(spec, "type", json!("ClusterIP"));
            if spec["type"] != "ExternalName" {
                set_if_absent(spec, "clusterIP", json!(cluster_ip));
                let ip = spec["clusterIP"].clone();
                set_if_absent(spec, "clusterIPs", json!([ip]));
            }
            set_if_absent(spec, "sessionAffinity", json!("None"));
            for port in spec
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                set_if_absent(port, "protocol", json!("TCP"));
                // Absent, 0 or "": the port itself.
                let number = port.get("port").cloned().unwrap_or(Value::Null);
                if matches!(port.get("targetPort"), Some(t) if *t == 0 || *t == "") {
                    port["targetPort"] = number;
                } else {
                    set_if_absent(port, "targetPort", number);
                }
            }
        }
        _ => {}
    }
    if let Some(template_spec) = spec.pointer_mut("/template/spec") {
        default_pod_spec(template_spec);
    }
}
