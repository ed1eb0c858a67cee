//! Colours, computed purely from the rendered objects: which Deployments a
//! progressive rollout runs side by side, which Services it switches, the
//! revision hash that names a colour, and the manifests of a colour and of a
//! Service pinned to one.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{LABEL_PHASE, LABEL_REVISION, LABEL_ROLE};
use crate::sync::plan::{DesiredObject, hash_value};

/// Hex digits of a revision hash (a label value and a name suffix).
pub const REVISION_HEX: usize = 10;
/// `terminationGracePeriodSeconds` when a pod does not set it (Kubernetes' default).
pub const DEFAULT_GRACE_SECONDS: u64 = 30;

/// Why the rendered objects cannot be rolled out progressively (a refusal
/// of the revision's content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A Service named in the strategy is not among the manifests.
    #[error("Service {0} named in the strategy is not in the environment's manifests")]
    MissingService(String),
    /// No Deployment is selected by the switched Services.
    #[error("no Deployment's pods are selected by the Services {0}")]
    NoWorkload(String),
    /// No Service selects a Deployment's pods.
    #[error("no Service selects a Deployment's pods; name them in the strategy's services")]
    NoService,
}

/// The rendered objects, sorted by the part they play in a rollout.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Deployments the rollout runs as colours.
    pub workloads: Vec<DesiredObject>,
    /// Services whose selector moves at the switch.
    pub services: Vec<DesiredObject>,
    /// The Service pointed at the new colour before the switch.
    pub preview: Option<DesiredObject>,
    /// Everything else, applied as it is.
    pub others: Vec<DesiredObject>,
}

fn string_map(value: Option<&Value>) -> Map<String, Value> {
    value
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn selector(service: &DesiredObject) -> Map<String, Value> {
    string_map(service.manifest.pointer("/spec/selector"))
}

fn pod_labels(workload: &DesiredObject) -> Map<String, Value> {
    string_map(workload.manifest.pointer("/spec/template/metadata/labels"))
}

fn selects(service: &DesiredObject, workload: &DesiredObject) -> bool {
    let (selector, labels) = (selector(service), pod_labels(workload));
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Sort `desired`: the Services named in `services` (or, without a list,
/// every Service selecting a Deployment's pods), the Deployments they
/// select, the `preview` Service, and the rest.
pub fn split(
    desired: Vec<DesiredObject>,
    services: Option<&[String]>,
    preview: Option<&str>,
) -> Result<Split, SplitError> {
    let is = |d: &DesiredObject, kind: &str| d.object.kind == kind;
    let deployments: Vec<&DesiredObject> = desired.iter().filter(|d| is(d, "Deployment")).collect();
    let mut switched: BTreeSet<String> = BTreeSet::new();
    match services {
        Some(names) => {
            for name in names {
                if !desired
                    .iter()
                    .any(|d| is(d, "Service") && &d.object.name == name)
                {
                    return Err(SplitError::MissingService(name.clone()));
                }
                switched.insert(name.clone());
            }
        }
        None => {
            for d in desired.iter().filter(|d| is(d, "Service")) {
                if Some(d.object.name.as_str()) != preview
                    && deployments.iter().any(|w| selects(d, w))
                {
                    switched.insert(d.object.name.clone());
                }
            }
            if switched.is_empty() {
                return Err(SplitError::NoService);
            }
        }
    }
    if let Some(name) = preview
        && !desired
            .iter()
            .any(|d| is(d, "Service") && d.object.name == name)
    {
        return Err(SplitError::MissingService(name.to_string()));
    }
    let mut split = Split::default();
    let switched_services: Vec<&DesiredObject> = desired
        .iter()
        .filter(|d| is(d, "Service") && switched.contains(&d.object.name))
        .collect();
    let managed: BTreeSet<String> = deployments
        .iter()
        .filter(|w| switched_services.iter().any(|s| selects(s, w)))
        .map(|w| w.object.key())
        .collect();
    if managed.is_empty() {
        let names: Vec<&str> = switched.iter().map(String::as_str).collect();
        return Err(SplitError::NoWorkload(names.join(", ")));
    }
    for d in desired {
        if is(&d, "Service") && switched.contains(&d.object.name) {
            split.services.push(d);
        } else if is(&d, "Service") && Some(d.object.name.as_str()) == preview {
            split.preview = Some(d);
        } else if managed.contains(&d.object.key()) {
            split.workloads.push(d);
        } else {
            split.others.push(d);
        }
    }
    Ok(split)
}

/// The revision hash of a set of Deployments: their names and pod
/// templates, so a change elsewhere (a ConfigMap, the replica count) does
/// not make a new colour.
pub fn revision_of(workloads: &[DesiredObject]) -> String {
    let mut hasher = Sha256::new();
    for w in workloads {
        hasher.update(w.object.name.as_bytes());
        hasher.update(b"=");
        let template = w
            .manifest
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        hasher.update(template.to_string().as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())[..REVISION_HEX].to_string()
}

/// The name of `workload`'s colour at `revision` (the workload's own name
/// for the unlabelled colour that predates the strategy).
pub fn colour_name(workload: &str, revision: &str) -> String {
    if revision.is_empty() {
        workload.to_string()
    } else {
        format!("{workload}-{revision}")
    }
}

fn insert_label(value: &mut Value, pointer: &str, key: &str, label: &str) {
    let mut at = &mut *value;
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at = at
            .as_object_mut()
            .expect("made an object above")
            .entry(part)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(map) = at.as_object_mut() {
        map.insert(key.into(), Value::String(label.into()));
    }
}

fn rehashed(mut d: DesiredObject, manifest: Value) -> DesiredObject {
    d.hash = hash_value(&manifest);
    d.manifest = manifest;
    d
}

/// `workload` as its colour at `revision`, in `role` (and, for a candidate,
/// `phase`): renamed, with `slipway.dev/revision` on its selector and pods.
pub fn coloured(
    workload: &DesiredObject,
    revision: &str,
    role: &str,
    phase: Option<&str>,
) -> DesiredObject {
    let mut manifest = workload.manifest.clone();
    let mut object = workload.object.clone();
    if !revision.is_empty() {
        object.name = colour_name(&workload.object.name, revision);
        manifest["metadata"]["name"] = Value::String(object.name.clone());
        insert_label(&mut manifest, "/metadata/labels", LABEL_REVISION, revision);
        insert_label(
            &mut manifest,
            "/spec/selector/matchLabels",
            LABEL_REVISION,
            revision,
        );
        insert_label(
            &mut manifest,
            "/spec/template/metadata/labels",
            LABEL_REVISION,
            revision,
        );
    }
    insert_label(&mut manifest, "/metadata/labels", LABEL_ROLE, role);
    if let Some(phase) = phase {
        insert_label(&mut manifest, "/metadata/labels", LABEL_PHASE, phase);
    }
    let mut d = rehashed(workload.clone(), manifest);
    d.object = object;
    d
}

/// `service` selecting only the pods of the colour at `revision` (as git
/// has it for the unlabelled colour).
pub fn pinned(service: &DesiredObject, revision: &str) -> DesiredObject {
    if revision.is_empty() {
        return service.clone();
    }
    let mut manifest = service.manifest.clone();
    insert_label(&mut manifest, "/spec/selector", LABEL_REVISION, revision);
    rehashed(service.clone(), manifest)
}

/// Suffix of a canary's Deployment and Service names, and of the label
/// values that set its pods apart from the stable Service's.
pub const CANARY_SUFFIX: &str = "-canary";

/// `workload` with `replicas` pods.
pub fn with_replicas(workload: &DesiredObject, replicas: i32) -> DesiredObject {
    let mut manifest = workload.manifest.clone();
    manifest["spec"]["replicas"] = Value::from(replicas);
    rehashed(workload.clone(), manifest)
}

/// The desired replicas of `workload` (1 when it leaves them unset).
pub fn replicas(workload: &DesiredObject) -> i32 {
    workload
        .manifest
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(1)
}

fn suffix_labels(manifest: &mut Value, pointer: &str, keys: &BTreeSet<String>) {
    if let Some(labels) = manifest.pointer_mut(pointer).and_then(Value::as_object_mut) {
        for (key, value) in labels.iter_mut() {
            if let (true, Some(text)) = (keys.contains(key), value.as_str()) {
                *value = Value::String(format!("{text}{CANARY_SUFFIX}"));
            }
        }
    }
}

/// `workload` as the canary of `revision` in `phase`: `<name>-canary` with
/// `replicas` pods, `slipway.dev/revision` on its selector and pods. The
/// labels named in `relabel` (those the stable Services select on, when
/// traffic is split by a Gateway API route) get the `-canary` suffix on its
/// selector and pods, so that only the canary's own Service selects them.
pub fn canary(
    workload: &DesiredObject,
    revision: &str,
    replicas: i32,
    relabel: &BTreeSet<String>,
    phase: &str,
) -> DesiredObject {
    let mut d = coloured(workload, revision, super::ROLE_CANDIDATE, Some(phase));
    d.object.name = format!("{}{CANARY_SUFFIX}", workload.object.name);
    let mut manifest = d.manifest.clone();
    manifest["metadata"]["name"] = Value::String(d.object.name.clone());
    manifest["spec"]["replicas"] = Value::from(replicas);
    suffix_labels(&mut manifest, "/spec/selector/matchLabels", relabel);
    suffix_labels(&mut manifest, "/spec/template/metadata/labels", relabel);
    rehashed(d, manifest)
}

/// The canary's own Service beside `service`: `<name>-canary`, selecting
/// only the canary of `revision` (whose `relabel` labels carry the suffix).
pub fn canary_service(
    service: &DesiredObject,
    revision: &str,
    relabel: &BTreeSet<String>,
) -> DesiredObject {
    let mut d = pinned(service, revision);
    d.object.name = format!("{}{CANARY_SUFFIX}", service.object.name);
    let mut manifest = d.manifest.clone();
    manifest["metadata"]["name"] = Value::String(d.object.name.clone());
    suffix_labels(&mut manifest, "/spec/selector", relabel);
    if let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) {
        // A copied clusterIP would clash with the stable Service's.
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    rehashed(d, manifest)
}

/// The label keys the Services select pods on.
pub fn selected_keys(services: &[DesiredObject]) -> BTreeSet<String> {
    services
        .iter()
        .flat_map(|s| selector(s).keys().cloned().collect::<Vec<_>>())
        .collect()
}

/// How long `workload`'s pods take to stop: the grace period plus the
/// longest preStop sleep (a `sleep` action, or an exec of `sleep N`).
pub fn pod_shutdown(workload: &DesiredObject) -> Duration {
    let spec = workload.manifest.pointer("/spec/template/spec");
    let grace = spec
        .and_then(|s| s.get("terminationGracePeriodSeconds"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_GRACE_SECONDS);
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sleep = containers
        .iter()
        .filter_map(|c| c.pointer("/lifecycle/preStop"))
        .map(pre_stop_sleep)
        .max()
        .unwrap_or(0);
    Duration::from_secs(grace + sleep)
}

fn pre_stop_sleep(hook: &Value) -> u64 {
    if let Some(seconds) = hook.pointer("/sleep/seconds").and_then(Value::as_u64) {
        return seconds;
    }
    let command: Vec<&str> = hook
        .pointer("/exec/command")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let words: Vec<&str> = command
        .iter()
        .flat_map(|part| part.split_whitespace())
        .collect();
    words
        .windows(2)
        .find(|w| w[0] == "sleep" || w[0].ends_with("/sleep"))
        .and_then(|w| w[1].trim_end_matches(['s', ';']).parse::<f64>().ok())
        .map_or(0, |s| s.ceil() as u64)
}

#[cfg(test)]
mod tests;
