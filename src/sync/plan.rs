//! The plan of a sync, computed purely: which objects to apply, which are
//! unchanged since the last apply, and which to prune. Whether a live object
//! drifted is judged in [`super::owned`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::owned::OwnedForm;
use super::render::RenderedObject;

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "slipway";
/// Standard label marking objects Slipway manages.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "slipway";
/// Label naming the app that owns an object.
pub const LABEL_APP: &str = "slipway.dev/app";
/// Label naming the environment that owns an object.
pub const LABEL_ENVIRONMENT: &str = "slipway.dev/environment";
/// Annotation (`"true"`) that lets Slipway delete and re-create an object
/// whose immutable field changed (Argo CD's `Replace=true`, Flux's `force`).
pub const RECREATE_ANNOTATION: &str = "slipway.dev/recreate";

/// Identity of one object in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `group/version` or `version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The identity of a manifest, when it has `apiVersion`, `kind` and a name.
    pub fn of(manifest: &Value) -> Option<Self> {
        let text = |p: &str| {
            manifest
                .pointer(p)
                .and_then(Value::as_str)
                .map(String::from)
        };
        Some(ObjectRef {
            api_version: text("/apiVersion")?,
            kind: text("/kind")?,
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name")?,
        })
    }

    /// The key the inventory stores it under (the version is left out, so
    /// moving `v1beta1` to `v1` is an update, not a prune and a create).
    pub fn key(&self) -> String {
        let group = self.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        format!(
            "{group}/{}/{}/{}",
            self.kind,
            self.namespace.as_deref().unwrap_or(""),
            self.name
        )
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// An object ready to apply: labelled, with the hash of its manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    /// Its identity.
    pub object: ObjectRef,
    /// The manifest to apply, ownership labels included.
    pub manifest: Value,
    /// SHA-256 of the canonical JSON of `manifest`.
    pub hash: String,
    /// The file that declared it.
    pub source: String,
}

/// What the inventory remembers about an object Slipway applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    /// Its identity.
    pub object: ObjectRef,
    /// Hash of the manifest last applied.
    pub hash: String,
    /// `metadata.resourceVersion` the cluster answered with, when known.
    pub resource_version: Option<String>,
    /// The server's form of the fields Slipway applied (from the answer to
    /// the apply or to a dry run of it): the reference drift is judged on.
    pub owned: Option<OwnedForm>,
}

/// Label the objects as Slipway's for this app/environment, hash them and
/// put namespaces and CRDs first.
pub fn desired(app: &str, environment: &str, objects: Vec<RenderedObject>) -> Vec<DesiredObject> {
    let mut out: Vec<DesiredObject> = objects
        .into_iter()
        .filter_map(|o| {
            let mut manifest = o.manifest;
            let labels = manifest
                .as_object_mut()?
                .entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()))
                .as_object_mut()?
                .entry("labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if !labels.is_object() {
                *labels = Value::Object(Default::default());
            }
            let labels = labels.as_object_mut()?;
            labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
            labels.insert(LABEL_APP.into(), app.into());
            labels.insert(LABEL_ENVIRONMENT.into(), environment.into());
            Some(DesiredObject {
                object: ObjectRef::of(&manifest)?,
                hash: hash_value(&manifest),
                manifest,
                source: o.source,
            })
        })
        .collect();
    out.sort_by_key(|d| apply_rank(&d.object.kind));
    out
}

/// Namespaces, then CRDs, then everything else (stable within each).
pub fn apply_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        _ => 2,
    }
}

/// SHA-256 of a value's canonical JSON (serde_json sorts object keys).
pub fn hash_value(value: &Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

/// One hash for a whole rendered set: it names "this content" across commits
/// that did not change the app/environment.
pub fn set_hash(objects: &[DesiredObject]) -> String {
    let mut hasher = Sha256::new();
    let sorted: BTreeMap<String, &str> = objects
        .iter()
        .map(|o| (o.object.key(), o.hash.as_str()))
        .collect();
    for (key, hash) in sorted {
        hasher.update(key.as_bytes());
        hasher.update(b"=");
        hasher.update(hash.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// What to do with the cluster.
#[derive(Debug, Default)]
pub struct Plan {
    /// New or changed since the last apply.
    pub apply: Vec<DesiredObject>,
    /// Unchanged since the last apply; to be checked for drift.
    pub unchanged: Vec<(DesiredObject, InventoryEntry)>,
    /// Applied before, gone from git: to prune.
    pub prune: Vec<InventoryEntry>,
}

/// Compare what git wants with what was last applied.
pub fn plan(desired: Vec<DesiredObject>, inventory: &[InventoryEntry]) -> Plan {
    let by_key: BTreeMap<String, &InventoryEntry> =
        inventory.iter().map(|e| (e.object.key(), e)).collect();
    let wanted: BTreeSet<String> = desired.iter().map(|d| d.object.key()).collect();
    let mut plan = Plan::default();
    for d in desired {
        match by_key.get(&d.object.key()) {
            Some(entry) if entry.hash == d.hash => plan.unchanged.push((d, (*entry).clone())),
            _ => plan.apply.push(d),
        }
    }
    plan.prune = inventory
        .iter()
        .filter(|e| !wanted.contains(&e.object.key()))
        .cloned()
        .collect();
    plan.prune
        .sort_by_key(|e| std::cmp::Reverse(apply_rank(&e.object.kind)));
    plan
}

/// Whether a live object still carries Slipway's ownership labels for this
/// app/environment (the only objects prune may delete).
pub fn owned_by(live: &Value, app: &str, environment: &str) -> bool {
    let label = |k: &str| {
        live.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
    };
    label(LABEL_MANAGED_BY) == Some(MANAGED_BY)
        && label(LABEL_APP) == Some(app)
        && label(LABEL_ENVIRONMENT) == Some(environment)
}

#[cfg(test)]
mod tests;
