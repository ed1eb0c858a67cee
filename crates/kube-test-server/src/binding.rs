//! `POST /api/v1/namespaces/{ns}/pods/{name}/binding`: how a scheduler,
//! or a client standing in for one, puts a pending pod on a node. The body
//! is a `v1.Binding` (`{"target": {"kind": "Node", "name": ...}}`); the
//! answer is `201` with a `Success` Status, and the pod has its node and
//! the condition `PodScheduled=True`. As on a real server: a pod on a node
//! already is a `409 Conflict`, a pod being deleted cannot be bound, and a
//! Binding naming another pod than the URL is a `400`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::resources::ResourceType;
use super::store::Store;

/// Binds pod `namespace/name` to the node `body` names.
pub(crate) fn bind(
    store: &Store,
    pods: &'static ResourceType,
    namespace: &str,
    name: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let binding: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding JSON: {e}")))?;
    let named = binding
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(name);
    if named != name {
        return Err(ApiError::BadRequest(
            "name in URL does not match name in Binding object".into(),
        ));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|node| !node.is_empty())
        .ok_or_else(|| ApiError::FieldInvalid {
            kind: "Binding".into(),
            name: name.to_string(),
            field: "target.name".into(),
            message: "Required value".into(),
        })?
        .to_string();
    store.transaction(|txn| {
        let pod = txn
            .get(pods, namespace, name)
            .ok_or_else(|| ApiError::not_found(pods, name))?;
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::Internal(format!(
                "pod {name} is being deleted, cannot be assigned to a host"
            )));
        }
        let assigned = pod.pointer("/spec/nodeName").and_then(Value::as_str);
        if let Some(assigned) = assigned.filter(|n| !n.is_empty()) {
            return Err(ApiError::AlreadyAssigned {
                pod: name.to_string(),
                node: assigned.to_string(),
            });
        }
        let mut bound = (*pod).clone();
        bound["spec"]["nodeName"] = json!(node);
        let scheduled = json!({"type": "PodScheduled", "status": "True",
            "lastProbeTime": null, "lastTransitionTime": super::meta::now()});
        let conditions = bound["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut conditions: Vec<Value> = conditions
            .into_iter()
            .filter(|c| c["type"] != "PodScheduled")
            .collect();
        conditions.push(scheduled);
        bound["status"]["conditions"] = Value::Array(conditions);
        txn.put(pods, namespace, name, bound);
        Ok(())
    })?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok((StatusCode::CREATED, Json(status)).into_response())
}
