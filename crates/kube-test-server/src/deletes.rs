//! DELETE: immediate removal, finalizers holding an object back, owner
//! references cascading, namespaces terminating (see `controllers`).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::meta;
use super::resources::ResourceType;
use super::store::Transaction;
use super::writes::{WriteTarget, existing};

/// DELETE: removes the object, or marks it when finalizers hold it; owned
/// objects and a namespace's contents go with it.
pub fn delete(txn: &mut Transaction, target: &WriteTarget, name: &str) -> Result<Value, ApiError> {
    let old = existing(txn, target, name)?;
    let finalizers = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let uid = old.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
    if target.dry_run {
        return Ok(success_status(target.resource, name, &uid));
    }
    if target.resource.kind == "Namespace" {
        return Ok(terminate(txn, target, name, &old));
    }
    if finalizers {
        if old.pointer("/metadata/deletionTimestamp").is_none() {
            let mut marked = (*old).clone();
            marked["metadata"]["deletionTimestamp"] = Value::String(meta::now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Ok((*txn.put(target.resource, &target.namespace, name, marked)).clone());
        }
        return Ok((*old).clone());
    }
    remove_cascading(txn, target.resource, &target.namespace, name);
    Ok(success_status(target.resource, name, &uid))
}

/// A namespace is not removed at once: it turns `Terminating` (new content
/// is refused), and the namespace controller removes it and its contents.
fn terminate(txn: &mut Transaction, target: &WriteTarget, name: &str, old: &Value) -> Value {
    if old.pointer("/metadata/deletionTimestamp").is_some() {
        return old.clone();
    }
    let mut marked = old.clone();
    marked["metadata"]["deletionTimestamp"] = Value::String(meta::now());
    marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    marked["status"]["phase"] = Value::String("Terminating".into());
    (*txn.put(target.resource, &target.namespace, name, marked)).clone()
}

/// Removes an object, everything it owns, and for a namespace its contents.
pub fn remove_cascading(
    txn: &mut Transaction,
    resource: &'static ResourceType,
    namespace: &str,
    name: &str,
) -> Option<Arc<Value>> {
    let removed = txn.remove(resource, namespace, name)?;
    let uid = removed.pointer("/metadata/uid").cloned();
    let is_namespace = resource.kind == "Namespace";
    let dependents: Vec<(&'static ResourceType, String, String)> = txn
        .all()
        .into_iter()
        .filter(|(_, object)| {
            let in_namespace = is_namespace
                && object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    == Some(name);
            let owned = object
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|owners| owners.iter().any(|o| o.get("uid") == uid.as_ref()));
            in_namespace || owned
        })
        .map(|(r, object)| {
            let text = |p: &str| {
                object
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (r, text("/metadata/namespace"), text("/metadata/name"))
        })
        .collect();
    for (dependent, ns, dependent_name) in dependents {
        remove_cascading(txn, dependent, &ns, &dependent_name);
    }
    Some(removed)
}

/// A marked object whose last finalizer is gone is removed for good.
pub(crate) fn finish_deletion_if_released(
    txn: &mut Transaction,
    target: &WriteTarget,
    name: &str,
    stored: &Value,
) -> Option<Arc<Value>> {
    let marked = stored.pointer("/metadata/deletionTimestamp").is_some();
    let held = stored
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if !marked || held || target.dry_run {
        return None;
    }
    remove_cascading(txn, target.resource, &target.namespace, name)
}

fn success_status(resource: &ResourceType, name: &str, uid: &Value) -> Value {
    let mut details = Map::new();
    details.insert("name".into(), Value::String(name.to_string()));
    if !resource.group.is_empty() {
        details.insert("group".into(), Value::String(resource.group.to_string()));
    }
    details.insert("kind".into(), Value::String(resource.plural.to_string()));
    details.insert("uid".into(), uid.clone());
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
