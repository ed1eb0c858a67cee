//! The write verbs (create, update, patch, apply, delete) on one transaction:
//! what the API server checks, fills in and bumps on each.

use std::sync::Arc;

use serde_json::{Value, json};

use super::checks::{check_namespace, check_shape, check_type};
use super::defaults;
use super::errors::{ApiError, qualified};
use super::managed::{self, Writer};
use super::merge::{json_merge_patch, strategic_merge_patch};
use super::meta;
use super::resources::ResourceType;
use super::store::Transaction;
use super::validation;

/// Where a write goes and on whose behalf.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    /// The resource type.
    pub resource: &'static ResourceType,
    /// Namespace, empty when cluster-scoped.
    pub namespace: String,
    /// `status` or empty.
    pub subresource: String,
    /// Field manager.
    pub manager: String,
    /// `dryRun=All`: compute and answer, store nothing.
    pub dry_run: bool,
}

/// A non-apply patch dialect.
#[derive(Debug, Clone, Copy)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

impl WriteTarget {
    fn writer<'a>(&'a self, api_version: &'a str, now: &'a str) -> Writer<'a> {
        Writer {
            manager: &self.manager,
            subresource: &self.subresource,
            api_version,
            now,
        }
    }

    fn on_status(&self) -> bool {
        self.subresource == "status"
    }
}

fn name_of(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// Takes the body for the endpoint: status only through `/status`, never through the main one.
fn endpoint_view(target: &WriteTarget, old: &Value, mut body: Value) -> Value {
    if !target.resource.has_status {
        return body;
    }
    if target.on_status() {
        let mut view = old.clone();
        view["status"] = body.get("status").cloned().unwrap_or_else(|| json!({}));
        return view;
    }
    match old.get("status") {
        Some(status) => body["status"] = status.clone(),
        None => {
            if let Some(map) = body.as_object_mut() {
                map.remove("status");
            }
        }
    }
    body
}

/// Stores `new` unless nothing changed; answers with what is stored.
fn commit(
    txn: &mut Transaction,
    target: &WriteTarget,
    name: &str,
    old: Option<&Value>,
    new: Value,
) -> Arc<Value> {
    if old == Some(&new) || target.dry_run {
        return Arc::new(new);
    }
    txn.put(target.resource, &target.namespace, name, new)
}

/// POST: create a new object.
pub fn create(
    txn: &mut Transaction,
    target: &WriteTarget,
    mut object: Value,
) -> Result<Arc<Value>, ApiError> {
    check_type(target.resource, &object)?;
    if name_of(&object).is_none() {
        let Some(prefix) = object
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        else {
            return Err(ApiError::Invalid {
                kind: validation::kind_with_group(target.resource),
                name: String::new(),
                detail: "metadata.name: Required value: name or generateName is required".into(),
            });
        };
        object["metadata"]["name"] = Value::String(format!("{prefix}{}", meta::random_suffix()));
    }
    check_namespace(txn, target, &mut object)?;
    let name = name_of(&object).unwrap_or_default().to_string();
    if txn.get(target.resource, &target.namespace, &name).is_some() {
        return Err(ApiError::AlreadyExists {
            resource: qualified(target.resource),
            name,
        });
    }
    if target.resource.has_status
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    let now = meta::now();
    for field in ["managedFields", "resourceVersion", "uid", "generation"] {
        if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
            metadata.remove(field);
        }
    }
    meta::prepare_new(target.resource, &mut object, &now);
    defaults::apply_defaults(target.resource, &mut object);
    validation::check_write(target.resource, &name, None, &object)?;
    let api_version = target.resource.api_version();
    managed::record_update(None, &mut object, &target.writer(&api_version, &now));
    Ok(commit(txn, target, &name, None, object))
}

pub(crate) fn existing(
    txn: &Transaction,
    target: &WriteTarget,
    name: &str,
) -> Result<Arc<Value>, ApiError> {
    txn.get(target.resource, &target.namespace, name)
        .ok_or_else(|| ApiError::not_found(target.resource, name))
}

fn check_precondition(
    target: &WriteTarget,
    old: &Value,
    body: &Value,
    name: &str,
) -> Result<(), ApiError> {
    let wanted = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    let current = old
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    match wanted {
        Some(version) if Some(version) != current => Err(ApiError::StaleResourceVersion {
            resource: qualified(target.resource),
            name: name.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Finishes an update-style write of `body` over `old`.
fn write_over(
    txn: &mut Transaction,
    target: &WriteTarget,
    name: &str,
    old: &Value,
    body: Value,
) -> Result<Arc<Value>, ApiError> {
    let mut new = endpoint_view(target, old, body);
    if !target.on_status() {
        defaults::apply_defaults(target.resource, &mut new);
        validation::check_write(target.resource, name, Some(old), &new)?;
    }
    if target.resource.namespaced {
        new["metadata"]["namespace"] = Value::String(target.namespace.clone());
    }
    new["metadata"]["name"] = Value::String(name.to_string());
    if let Some(managed_fields) = old.pointer("/metadata/managedFields") {
        new["metadata"]["managedFields"] = managed_fields.clone();
    }
    meta::carry_metadata(target.resource, old, &mut new);
    let now = meta::now();
    let api_version = target.resource.api_version();
    managed::record_update(Some(old), &mut new, &target.writer(&api_version, &now));
    let stored = commit(txn, target, name, Some(old), new);
    Ok(super::deletes::finish_deletion_if_released(txn, target, name, &stored).unwrap_or(stored))
}

/// PUT: replace an object.
pub fn update(
    txn: &mut Transaction,
    target: &WriteTarget,
    name: &str,
    body: Value,
) -> Result<Arc<Value>, ApiError> {
    check_type(target.resource, &body)?;
    if name_of(&body) != Some(name) {
        return Err(ApiError::BadRequest(
            "the name of the object does not match the name on the URL".into(),
        ));
    }
    let old = existing(txn, target, name)?;
    check_precondition(target, &old, &body, name)?;
    write_over(txn, target, name, &old, body)
}

/// PATCH with a merge or strategic merge patch.
pub fn patch(
    txn: &mut Transaction,
    target: &WriteTarget,
    name: &str,
    kind: PatchKind,
    patch: &Value,
) -> Result<Arc<Value>, ApiError> {
    let old = existing(txn, target, name)?;
    check_precondition(target, &old, patch, name)?;
    let body = match kind {
        PatchKind::Merge => json_merge_patch(&old, patch),
        PatchKind::Strategic => strategic_merge_patch(&old, patch),
    };
    check_shape(target.resource, &body)?;
    write_over(txn, target, name, &old, body)
}

/// PATCH with `application/apply-patch+yaml`: server-side apply, creating
/// the object when it is absent.
pub fn apply(
    txn: &mut Transaction,
    target: &WriteTarget,
    name: &str,
    mut config: Value,
    force: bool,
) -> Result<Arc<Value>, ApiError> {
    check_type(target.resource, &config)?;
    validation::check_apply_types(target.resource, &config)?;
    // Like the real server, an apply body without a name takes the URL's.
    match name_of(&config) {
        None => config["metadata"]["name"] = Value::String(name.to_string()),
        Some(body_name) if body_name != name => {
            return Err(ApiError::BadRequest(
                "the name of the object does not match the name on the URL".into(),
            ));
        }
        Some(_) => {}
    }
    let old = txn.get(target.resource, &target.namespace, name);
    if let Some(old) = &old {
        check_precondition(target, old, &config, name)?;
    }
    if let Some(Value::Object(metadata)) = config.get_mut("metadata") {
        for field in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
        ] {
            metadata.remove(field);
        }
    }
    if target.resource.has_status
        && let Some(map) = config.as_object_mut()
    {
        if target.on_status() {
            map.retain(|field, _| {
                matches!(
                    field.as_str(),
                    "apiVersion" | "kind" | "metadata" | "status"
                )
            });
        } else {
            map.remove("status");
        }
    }
    let now = meta::now();
    let live = match &old {
        Some(old) => (**old).clone(),
        None => {
            let mut skeleton = json!({"apiVersion": target.resource.api_version(), "kind": target.resource.kind, "metadata": {"name": name}});
            check_namespace(txn, target, &mut skeleton)?;
            meta::prepare_new(target.resource, &mut skeleton, &now);
            skeleton
        }
    };
    if target.resource.namespaced {
        config["metadata"]["namespace"] = Value::String(target.namespace.clone());
    }
    let api_version = target.resource.api_version();
    let mut new = managed::apply(&live, &config, &target.writer(&api_version, &now), force)
        .map_err(ApiError::ApplyConflict)?;
    if !target.on_status() {
        defaults::apply_defaults(target.resource, &mut new);
        validation::check_write(target.resource, name, old.as_deref(), &new)?;
    }
    if let Some(old) = &old {
        meta::carry_metadata(target.resource, old, &mut new);
    }
    let stored = commit(txn, target, name, old.as_deref(), new);
    Ok(super::deletes::finish_deletion_if_released(txn, target, name, &stored).unwrap_or(stored))
}
