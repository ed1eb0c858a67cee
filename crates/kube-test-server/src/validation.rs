//! What the real API server refuses in a write that is well-formed JSON:
//! changes to immutable fields (a 422 naming the field's path, with the
//! value dumped the way Go prints it, as the real messages do), negative
//! replicas (422), an int-or-string field given a string it cannot be (a
//! port name that is all digits, a percentage without `%`: 422, as
//! apimachinery's `IsValidPortName` and `IsValidPercent` word it), and a
//! server-side apply whose `replicas` is not a number (a 500 "failed to
//! create typed patch object", as Kubernetes 1.24 answers).
//!
//! An int-or-string field keeps the form it was sent in: `8080` stays a
//! number and `"http"` a string, on a real server too.

use serde_json::Value;

use super::errors::ApiError;
use super::resources::ResourceType;

/// One immutable field: where it is, how Go names its type, and how the
/// server words the refusal.
struct Immutable {
    pointer: &'static str,
    field: &'static str,
    go_type: &'static str,
    refusal: &'static str,
}

const SELECTOR: Immutable = Immutable {
    pointer: "/spec/selector",
    field: "spec.selector",
    go_type: "v1.LabelSelector",
    refusal: "field is immutable",
};

const TEMPLATE: Immutable = Immutable {
    pointer: "/spec/template",
    field: "spec.template",
    go_type: "core.PodTemplateSpec",
    refusal: "field is immutable",
};

const CLUSTER_IP: Immutable = Immutable {
    pointer: "/spec/clusterIP",
    field: "spec.clusterIPs[0]",
    go_type: "[]string",
    refusal: "may not change once set",
};

fn immutable_fields(resource: &ResourceType) -> &'static [Immutable] {
    match (resource.group, resource.kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => &[SELECTOR],
        ("batch", "Job") => &[SELECTOR, TEMPLATE],
        ("", "Service") => &[CLUSTER_IP],
        _ => &[],
    }
}

/// `Kind.group` as validation messages name a kind (`Job.batch`, `Service`).
pub fn kind_with_group(resource: &ResourceType) -> String {
    if resource.group.is_empty() {
        resource.kind.to_string()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    }
}

/// Refuses an update of `old` to `new` that changes an immutable field or
/// sets an invalid value.
pub fn check_write(
    resource: &ResourceType,
    name: &str,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), ApiError> {
    let invalid = |field: &str, message: String| ApiError::FieldInvalid {
        kind: kind_with_group(resource),
        name: name.to_string(),
        field: field.to_string(),
        message,
    };
    if let Some(old) = old {
        for immutable in immutable_fields(resource) {
            let (was, now) = (
                old.pointer(immutable.pointer),
                new.pointer(immutable.pointer),
            );
            if was.is_some() && now.is_some() && was != now {
                let shown = go_dump(immutable.go_type, now.unwrap_or(&Value::Null));
                return Err(invalid(
                    immutable.field,
                    format!("Invalid value: {shown}: {}", immutable.refusal),
                ));
            }
        }
    }
    if let Some(replicas) = new.pointer("/spec/replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        return Err(invalid(
            "spec.replicas",
            format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    // The real server lists every reason; the first is given here.
    for (field, text, check) in int_or_strings(resource, new) {
        if let Some(why) = check(&text) {
            return Err(invalid(&field, format!("Invalid value: {text:?}: {why}")));
        }
    }
    Ok(())
}

/// What a string in an int-or-string field must be.
type StringCheck = fn(&str) -> Option<&'static str>;

/// A port given by name (`IsValidPortName`): the first reason it is not one.
pub fn port_name_refusal(name: &str) -> Option<&'static str> {
    let charset = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.chars().count() > 15 {
        Some("must be no more than 15 characters")
    } else if !charset {
        Some("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    } else if !name.chars().any(|c| c.is_ascii_lowercase()) {
        Some("must contain at least one letter (a-z)")
    } else if name.contains("--") {
        Some("must not contain consecutive hyphens")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("must not begin or end with a hyphen")
    } else {
        None
    }
}

/// A percentage (`IsValidPercent`, regex `[0-9]+%`).
pub fn percent_refusal(text: &str) -> Option<&'static str> {
    let digits = text.strip_suffix('%').unwrap_or_default();
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
    )
}

/// The int-or-string fields of `object` that hold a string, with their
/// paths as messages name them and what the string must be: a Service's
/// `targetPort`, the probe ports of its pod template, a Deployment's
/// `maxSurge` and `maxUnavailable`.
fn int_or_strings(resource: &ResourceType, object: &Value) -> Vec<(String, String, StringCheck)> {
    let mut found: Vec<(String, String, StringCheck)> = Vec::new();
    let mut string_at = |field: String, value: Option<&Value>, check: StringCheck| {
        if let Some(Value::String(text)) = value {
            found.push((field, text.clone(), check));
        }
    };
    match (resource.group, resource.kind) {
        ("", "Service") => {
            let ports = object.pointer("/spec/ports").and_then(Value::as_array);
            for (i, port) in ports.into_iter().flatten().enumerate() {
                // An empty one is defaulted to the port, not refused.
                let field = format!("spec.ports[{i}].targetPort");
                let target = port.get("targetPort").filter(|t| *t != "");
                string_at(field, target, port_name_refusal);
            }
        }
        ("apps", "Deployment") => {
            for key in ["maxSurge", "maxUnavailable"] {
                let field = format!("spec.strategy.rollingUpdate.{key}");
                let value = object.pointer(&format!("/spec/strategy/rollingUpdate/{key}"));
                string_at(field, value, percent_refusal);
            }
        }
        _ => {}
    }
    let (prefix, pointer) = match (resource.group, resource.kind) {
        ("", "Pod") => ("spec", "/spec"),
        ("batch", "CronJob") => (
            "spec.jobTemplate.spec.template.spec",
            "/spec/jobTemplate/spec/template/spec",
        ),
        ("apps", _) | ("batch", "Job") => ("spec.template.spec", "/spec/template/spec"),
        _ => return found,
    };
    for list in ["initContainers", "containers"] {
        let containers = object
            .pointer(&format!("{pointer}/{list}"))
            .and_then(Value::as_array);
        for (i, container) in containers.into_iter().flatten().enumerate() {
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                for handler in ["httpGet", "tcpSocket"] {
                    let field = format!("{prefix}.{list}[{i}].{probe}.{handler}.port");
                    let value = container.pointer(&format!("/{probe}/{handler}/port"));
                    string_at(field, value, port_name_refusal);
                }
            }
        }
    }
    found
}

/// Refuses an apply configuration the server cannot type: `replicas` that is
/// not a number.
pub fn check_apply_types(resource: &ResourceType, config: &Value) -> Result<(), ApiError> {
    match config.pointer("/spec/replicas") {
        Some(Value::String(_) | Value::Bool(_) | Value::Object(_) | Value::Array(_)) => {
            let group_version = if resource.group.is_empty() {
                format!("/{}", resource.version)
            } else {
                format!("{}/{}", resource.group, resource.version)
            };
            Err(ApiError::Internal(format!(
                "failed to create typed patch object ({group_version}, Kind={}): .spec.replicas: expected numeric (int or float), got string",
                resource.kind
            )))
        }
        _ => Ok(()),
    }
}

/// A value printed the way Go's `%#v` prints an API struct, as the real
/// server's validation messages quote it.
pub fn go_dump(go_type: &str, value: &Value) -> String {
    if go_type.starts_with("[]") && !value.is_array() {
        return format!("{go_type}{{{}}}", go_value(value));
    }
    format!("{go_type}{}", go_value(value))
}

fn go_value(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    let mut key: Vec<char> = k.chars().collect();
                    if let Some(first) = key.first_mut() {
                        *first = first.to_ascii_uppercase();
                    }
                    format!("{}:{}", key.into_iter().collect::<String>(), go_value(v))
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_value).collect();
            format!("[]{{{}}}", items.join(", "))
        }
        Value::String(text) => format!("{text:?}"),
        Value::Null => "nil".into(),
        other => other.to_string(),
    }
}
