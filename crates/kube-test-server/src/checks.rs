//! Checks on an object a client writes, before anything is stored: its
//! shape, its type against the endpoint, and its namespace.

use serde_json::Value;

use super::errors::{ApiError, qualified};
use super::resources::{self, ResourceType};
use super::store::Transaction;
use super::writes::WriteTarget;

/// Paths that must be maps when present; the server (and the rollout
/// simulator) write below them.
const MAP_PATHS: &[&str] = &[
    "/metadata",
    "/metadata/labels",
    "/metadata/annotations",
    "/spec",
    "/status",
    "/spec/selector",
    "/spec/selector/matchLabels",
    "/spec/template",
    "/spec/template/metadata",
    "/spec/template/metadata/labels",
    "/spec/template/spec",
];

pub(crate) fn check_shape(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let misshapen = MAP_PATHS.iter().find(|path| {
        object
            .pointer(path)
            .is_some_and(|v| !v.is_object() && !v.is_null())
    });
    match (object.is_object(), misshapen) {
        (true, None) => Ok(()),
        (false, _) => Err(ApiError::BadRequest(format!(
            "the body of the request is not a {} object",
            resource.kind
        ))),
        (true, Some(path)) => Err(ApiError::BadRequest(format!(
            "{}: expected an object",
            path.trim_start_matches('/').replace('/', ".")
        ))),
    }
}

pub(crate) fn check_type(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    check_shape(resource, object)?;
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version != resource.api_version() || kind != resource.kind {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            resource.api_version()
        )));
    }
    Ok(())
}

pub(crate) fn check_namespace(
    txn: &Transaction,
    target: &WriteTarget,
    object: &mut Value,
) -> Result<(), ApiError> {
    if !target.resource.namespaced {
        if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
            metadata.remove("namespace");
        }
        return Ok(());
    }
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) if !ns.is_empty() && ns != target.namespace => {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        _ => object["metadata"]["namespace"] = Value::String(target.namespace.clone()),
    }
    let Some(namespace) = txn.get(resources::namespaces(), "", &target.namespace) else {
        return Err(ApiError::namespace_not_found(&target.namespace));
    };
    if namespace.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::NamespaceTerminating {
            resource: qualified(target.resource),
            name: object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            namespace: target.namespace.clone(),
        });
    }
    Ok(())
}
