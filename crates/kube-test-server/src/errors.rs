//! Failures as the API server reports them: `Status` objects with a reason
//! and an HTTP code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::managed::Conflict;
use super::resources::ResourceType;

/// A request the server refuses, rendered as a `Status`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The object (or its namespace) does not exist.
    #[error("{resource} {name:?} not found")]
    NotFound {
        /// Qualified resource (`deployments.apps`).
        resource: String,
        /// The missing name.
        name: String,
    },
    /// Create of a name that is taken.
    #[error("{resource} {name:?} already exists")]
    AlreadyExists {
        /// Qualified resource.
        resource: String,
        /// The taken name.
        name: String,
    },
    /// A write with a stale `resourceVersion`.
    #[error(
        "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
    )]
    StaleResourceVersion {
        /// Qualified resource.
        resource: String,
        /// The object.
        name: String,
    },
    /// A binding of a pod that is on a node already.
    #[error(
        "Operation cannot be fulfilled on pods/binding {pod:?}: pod {pod} is already assigned to node {node:?}"
    )]
    AlreadyAssigned {
        /// The pod.
        pod: String,
        /// The node it is on.
        node: String,
    },
    /// Server-side apply hit fields owned by other managers.
    #[error("{}", conflict_message(.0))]
    ApplyConflict(Vec<Conflict>),
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The object fails validation.
    #[error("{kind} {name:?} is invalid: {detail}")]
    Invalid {
        /// Kind with group (`Deployment.apps`).
        kind: String,
        /// The object.
        name: String,
        /// Which field and why.
        detail: String,
    },
    /// One field of the object fails validation (an immutable field
    /// changed, a value out of range): `details.causes` names the field.
    #[error("{kind} {name:?} is invalid: {field}: {message}")]
    FieldInvalid {
        /// Kind with group (`Job.batch`).
        kind: String,
        /// The object.
        name: String,
        /// The field's path (`spec.template`).
        field: String,
        /// What is wrong, as the real server words it.
        message: String,
    },
    /// Creating in a namespace that is being deleted.
    #[error(
        "{resource} {name:?} is forbidden: unable to create new content in namespace {namespace} because it is being terminated"
    )]
    NamespaceTerminating {
        /// Qualified resource.
        resource: String,
        /// The object.
        name: String,
        /// The terminating namespace.
        namespace: String,
    },
    /// The server failed in a way it reports as internal (Kubernetes also
    /// answers some refusals of content this way).
    #[error("{0}")]
    Internal(String),
    /// A patch type this server does not speak.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
    )]
    UnsupportedMediaType,
    /// Verb not allowed on this path.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// A resource version older than the retained history.
    #[error("{0}")]
    Expired(String),
    /// No such path.
    #[error("the server could not find the requested resource")]
    UnknownPath,
}

fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager,
            only.field()
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        for conflict in conflicts.iter().filter(|c| c.manager == manager) {
            lines.push(format!("- {}", conflict.field()));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

impl ApiError {
    /// Not-found for an object of `resource`.
    pub fn not_found(resource: &ResourceType, name: &str) -> Self {
        Self::NotFound {
            resource: qualified(resource),
            name: name.to_string(),
        }
    }

    /// Not-found for a missing namespace, as writes into it report.
    pub fn namespace_not_found(namespace: &str) -> Self {
        Self::NotFound {
            resource: "namespaces".into(),
            name: namespace.to_string(),
        }
    }

    fn code(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } | Self::UnknownPath => StatusCode::NOT_FOUND,
            Self::AlreadyExists { .. }
            | Self::StaleResourceVersion { .. }
            | Self::AlreadyAssigned { .. }
            | Self::ApplyConflict(_) => StatusCode::CONFLICT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } | Self::FieldInvalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NamespaceTerminating { .. } => StatusCode::FORBIDDEN,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Expired(_) => StatusCode::GONE,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::NotFound { .. } | Self::UnknownPath => "NotFound",
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::StaleResourceVersion { .. }
            | Self::AlreadyAssigned { .. }
            | Self::ApplyConflict(_) => "Conflict",
            Self::BadRequest(_) => "BadRequest",
            Self::Invalid { .. } | Self::FieldInvalid { .. } => "Invalid",
            Self::NamespaceTerminating { .. } => "Forbidden",
            Self::Internal(_) => "InternalError",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::Expired(_) => "Expired",
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            Self::NotFound { resource, name }
            | Self::AlreadyExists { resource, name }
            | Self::StaleResourceVersion { resource, name } => Some(naming(resource, name)),
            Self::AlreadyAssigned { pod, .. } => Some(naming("pods/binding", pod)),
            Self::FieldInvalid {
                kind,
                name,
                field,
                message,
            } => {
                let mut details = naming(kind, name);
                details["causes"] =
                    json!([{"reason": "FieldValueInvalid", "message": message, "field": field}]);
                Some(details)
            }
            Self::NamespaceTerminating {
                resource,
                name,
                namespace,
            } => {
                let mut details = naming(resource, name);
                details["causes"] = json!([{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                    "message": format!("namespace {namespace} is being terminated")}]);
                Some(details)
            }
            Self::ApplyConflict(conflicts) => {
                let causes: Vec<Value> = conflicts
                    .iter()
                    .map(|c| {
                        json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager), "field": c.field()})
                    })
                    .collect();
                Some(json!({"causes": causes}))
            }
            _ => None,
        }
    }

    /// The `Status` object this error answers with.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        if let Some(details) = self.details() {
            status["details"] = details;
        }
        status
    }
}

/// `details` naming one object: `kind.group` (or `plural.group`) split.
fn naming(resource: &str, name: &str) -> Value {
    let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
    let mut details = json!({"name": name, "kind": kind});
    if !group.is_empty() {
        details["group"] = Value::String(group.to_string());
    }
    details
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code(), Json(self.status())).into_response()
    }
}

/// `plural.group` as messages name a resource (`deployments.apps`).
pub fn qualified(resource: &ResourceType) -> String {
    if resource.group.is_empty() {
        resource.plural.to_string()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}
