//! What the real API server refuses in a write that is well-formed JSON:
//! changes to immutable fields (a 422 naming the field's path, with the
//! value dumped the way Go prints it, as the real messages do), negative
//! replicas (422), and a server-side apply whose `replicas` is not a number
//! (a 500 "failed to create typed patch object", as Kubernetes 1.24 answers).

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
    Ok(())
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
