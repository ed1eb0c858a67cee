//! Workloads an autoscaler scales: their `spec.replicas` belongs to the
//! HorizontalPodAutoscaler (KEDA's ScaledObjects scale through one too),
//! never to Slipway, so sync and the autoscaler never fight over it.
//!
//! When a manifest stops setting `spec.replicas` that Slipway owned (an
//! autoscaler took the workload over, or the field left git), the field is
//! handed over first, as the Kubernetes server-side apply docs describe
//! ("Transferring ownership"): the live value is applied under a second
//! field manager, so Slipway's next apply, without the field, leaves it
//! in place instead of the server resetting it to its default of 1.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::plan::{self, DesiredObject};

/// `apiVersion` of the HorizontalPodAutoscalers sync respects.
pub const HPA_API_VERSION: &str = "autoscaling/v2";
/// Kind of a HorizontalPodAutoscaler.
pub const HPA_KIND: &str = "HorizontalPodAutoscaler";
/// Field manager that takes `spec.replicas` over from `slipway` for the
/// autoscaler (or the cluster's defaults) when Slipway stops setting it.
pub const HANDOVER_MANAGER: &str = "slipway-handover";

/// The object one HorizontalPodAutoscaler scales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleTarget {
    /// API group of the target (`apps`), empty for core.
    pub group: String,
    /// Kind of the target.
    pub kind: String,
    /// Namespace of the target (the autoscaler's own).
    pub namespace: String,
    /// Name of the target.
    pub name: String,
    /// Name of the HorizontalPodAutoscaler.
    pub autoscaler: String,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Whether a desired object is a HorizontalPodAutoscaler.
pub fn is_autoscaler(d: &DesiredObject) -> bool {
    d.object.kind == HPA_KIND && group_of(&d.object.api_version) == group_of(HPA_API_VERSION)
}

/// What each HorizontalPodAutoscaler scales (`spec.scaleTargetRef`); one
/// that lacks a target is skipped. (Items of a LIST carry no `kind`, so
/// the caller passes autoscalers only.)
pub fn scale_targets<'a>(autoscalers: impl IntoIterator<Item = &'a Value>) -> Vec<ScaleTarget> {
    autoscalers
        .into_iter()
        .filter_map(|hpa| {
            let text = |p: &str| hpa.pointer(p).and_then(Value::as_str);
            let target = |p: &str| text(&format!("/spec/scaleTargetRef/{p}"));
            Some(ScaleTarget {
                group: group_of(target("apiVersion").unwrap_or("")).to_string(),
                kind: target("kind")?.to_string(),
                namespace: text("/metadata/namespace")?.to_string(),
                name: target("name")?.to_string(),
                autoscaler: text("/metadata/name")?.to_string(),
            })
        })
        .collect()
}

/// Whether any autoscaler scales `d`.
fn autoscaler_of<'a>(d: &DesiredObject, targets: &'a [ScaleTarget]) -> Option<&'a ScaleTarget> {
    targets.iter().find(|t| {
        t.kind == d.object.kind
            && t.name == d.object.name
            && d.object.namespace.as_deref() == Some(t.namespace.as_str())
            && t.group == group_of(&d.object.api_version)
    })
}

/// Take `spec.replicas` out of every desired object an autoscaler scales
/// (and hash it again); the note per object, by [`plan::ObjectRef::key`],
/// says which autoscaler has it.
pub fn leave_replicas(
    desired: &mut [DesiredObject],
    targets: &[ScaleTarget],
) -> BTreeMap<String, String> {
    let mut notes = BTreeMap::new();
    for d in desired.iter_mut() {
        let Some(target) = autoscaler_of(d, targets) else {
            continue;
        };
        let note = format!(
            "{}: spec.replicas left to {HPA_KIND} {}",
            d.object, target.autoscaler
        );
        notes.insert(d.object.key(), note);
        let removed = d
            .manifest
            .get_mut("spec")
            .and_then(Value::as_object_mut)
            .and_then(|spec| spec.remove("replicas"));
        if removed.is_some() {
            d.hash = plan::hash_value(&d.manifest);
        }
    }
    notes
}

/// The namespaces whose autoscalers matter: those of desired objects that
/// set `spec.replicas`.
pub fn namespaces_with_replicas(desired: &[DesiredObject]) -> Vec<String> {
    let mut out: Vec<String> = desired
        .iter()
        .filter(|d| d.manifest.pointer("/spec/replicas").is_some())
        .filter_map(|d| d.object.namespace.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The apply that hands `spec.replicas` over: the live value under
/// [`HANDOVER_MANAGER`]; `None` when the live object has no replicas.
pub fn handover_manifest(d: &DesiredObject, live: &Value) -> Option<Value> {
    let replicas = live.pointer("/spec/replicas")?.clone();
    let mut metadata = json!({"name": d.object.name});
    if let Some(ns) = &d.object.namespace {
        metadata["namespace"] = json!(ns);
    }
    Some(json!({
        "apiVersion": d.object.api_version,
        "kind": d.object.kind,
        "metadata": metadata,
        "spec": {"replicas": replicas},
    }))
}

#[cfg(test)]
mod tests;
