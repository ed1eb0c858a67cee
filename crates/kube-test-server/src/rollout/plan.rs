//! What a workload controller does at one step of a rollout, computed from
//! the workload and what it owns: objects to write, pods to remove, status.

use serde_json::{Map, Value, json};

use super::super::meta::{self, SUFFIX_LEN};
use super::super::resources::Workload;
use super::RolloutOutcome;
use super::status::{self, Counts, PodState, Progress};

/// A workload and the objects it already owns.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The Deployment, StatefulSet, DaemonSet or Job.
    pub workload: Value,
    /// Its ReplicaSets (Deployments only).
    pub replica_sets: Vec<Value>,
    /// Its pods, directly or through its ReplicaSets.
    pub pods: Vec<Value>,
}

/// The controller's writes for one step.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// ReplicaSets and pods to store (complete objects).
    pub objects: Vec<Value>,
    /// Names of pods to delete.
    pub remove_pods: Vec<String>,
    /// The workload's new `status`.
    pub status: Value,
}

pub(crate) fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn int(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

pub(crate) fn owner_reference(owner: &Value) -> Value {
    json!({"apiVersion": text(owner, "/apiVersion"), "kind": text(owner, "/kind"), "name": text(owner, "/metadata/name"),
           "uid": text(owner, "/metadata/uid"), "controller": true, "blockOwnerDeletion": true})
}

pub(crate) fn pod_state(kind: Workload, outcome: RolloutOutcome, finished: bool) -> PodState {
    match (finished, outcome) {
        (_, RolloutOutcome::Hang) => PodState::Unschedulable,
        (false, _) => PodState::Creating,
        // A Job's pods here do not restart (`restartPolicy: Never`).
        (true, outcome) if kind == Workload::Job => settled_pod_state(outcome, "Never"),
        (true, outcome) => settled_pod_state(outcome, "Always"),
    }
}

/// The state a pod running `outcome`'s containers settles in, by its
/// `restartPolicy` (`Always`, `OnFailure` or `Never`), as a kubelet reports
/// it. One table for the server's own pods and the kubelet stand-in's.
pub fn settled_pod_state(outcome: RolloutOutcome, restart_policy: &str) -> PodState {
    let always = restart_policy == "Always";
    match outcome {
        RolloutOutcome::Hang => PodState::Unschedulable,
        RolloutOutcome::Succeed if always => PodState::Running,
        RolloutOutcome::Succeed => PodState::Succeeded,
        RolloutOutcome::Crash if restart_policy == "Never" => PodState::Failed,
        RolloutOutcome::Crash => PodState::CrashLoop,
        RolloutOutcome::Fail if always => PodState::ImagePullBackOff,
        RolloutOutcome::Fail => PodState::Failed,
        RolloutOutcome::BadImage => PodState::ImagePullBackOff,
    }
}

/// Labels that name the revision a controller made a pod for.
const REVISION_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "batch.kubernetes.io/controller-uid",
];

/// Whether two pods of one name are of the same revision, by the labels
/// their controller set (other labels may come from anyone).
pub(crate) fn same_revision(a: &Value, b: &Value) -> bool {
    REVISION_LABELS.iter().all(|label| {
        let pointer = format!("/metadata/labels/{}", label.replace('/', "~1"));
        a.pointer(&pointer) == b.pointer(&pointer)
    })
}

/// Whether `pod` has the condition `Ready`.
pub(crate) fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

pub(crate) fn labels_with(template: &Value, extra: &[(&str, String)]) -> Map<String, Value> {
    let mut labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in extra {
        labels.insert((*key).to_string(), Value::String(value.clone()));
    }
    labels
}

pub(crate) fn pod(
    name: &str,
    namespace: &str,
    labels: &Map<String, Value>,
    owner: Value,
    template: &Value,
    state: PodState,
    now: &str,
) -> Value {
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    spec["nodeName"] = json!(status::NODE_NAME);
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]},
        "spec": spec,
        "status": status::pod_status(&containers, state, name, now),
    })
}

pub(crate) fn suffix(seed: &str) -> String {
    meta::short_hash(seed).chars().take(SUFFIX_LEN).collect()
}

/// The step's plan for `kind`; `finished` is false for the first step.
pub fn plan(
    kind: Workload,
    observed: &Observed,
    outcome: RolloutOutcome,
    finished: bool,
    now: &str,
) -> Plan {
    match kind {
        Workload::Deployment => deployment(observed, outcome, finished, now),
        Workload::StatefulSet => super::sets::stateful_set(observed, outcome, finished, now),
        Workload::DaemonSet => super::sets::daemon_set(observed, outcome, finished, now),
        Workload::Job => super::sets::job(observed, outcome, finished, now),
    }
}

/// The template hash that names a ReplicaSet or revision.
pub fn template_hash(workload: &Value) -> String {
    meta::short_hash(
        &workload
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_default()
            .to_string(),
    )
}

fn deployment(observed: &Observed, outcome: RolloutOutcome, finished: bool, now: &str) -> Plan {
    let workload = &observed.workload;
    let (name, namespace) = (
        text(workload, "/metadata/name"),
        text(workload, "/metadata/namespace"),
    );
    let desired = int(workload, "/spec/replicas", 1);
    let hash = template_hash(workload);
    let rs_name = format!("{name}-{hash}");
    let existing = observed
        .replica_sets
        .iter()
        .find(|rs| text(rs, "/metadata/name") == rs_name);
    // As the deployment controller does, the ReplicaSet of the current
    // template has the highest revision: an older one brought back (a
    // rollback) gets the next revision.
    let revision_of = |rs: &Value| {
        text(
            rs,
            "/metadata/annotations/deployment.kubernetes.io~1revision",
        )
        .parse::<i64>()
        .ok()
    };
    let others_max = observed
        .replica_sets
        .iter()
        .filter(|rs| text(rs, "/metadata/name") != rs_name)
        .filter_map(revision_of)
        .max()
        .unwrap_or(0);
    let revision = match existing.and_then(revision_of) {
        Some(own) if own > others_max => own,
        _ => others_max + 1,
    };
    let rs_uid = existing
        .map(|rs| text(rs, "/metadata/uid").to_string())
        .unwrap_or_else(meta::new_uid);
    let mut template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let labels = labels_with(&template, &[("pod-template-hash", hash.clone())]);
    template["metadata"]["labels"] = Value::Object(labels.clone());
    let mut selector = workload
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    selector["matchLabels"]["pod-template-hash"] = json!(hash);

    let state = pod_state(Workload::Deployment, outcome, finished);
    let ready = if state.is_ready() { desired } else { 0 };
    let mut replica_set = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": rs_name, "namespace": namespace, "uid": rs_uid, "labels": labels,
                     "annotations": {"deployment.kubernetes.io/revision": revision.to_string(),
                                     "deployment.kubernetes.io/desired-replicas": desired.to_string()},
                     "ownerReferences": [owner_reference(workload)]},
        "spec": {"replicas": desired, "selector": selector, "template": template},
        "status": status::replica_set(desired, ready),
    });
    let owner = owner_reference(&replica_set);
    let mut plan = Plan::default();
    let wanted: Vec<String> = (0..desired)
        .map(|i| format!("{rs_name}-{}", suffix(&format!("{rs_name}-{i}"))))
        .collect();
    for pod_name in &wanted {
        plan.objects.push(pod(
            pod_name,
            namespace,
            &labels,
            owner.clone(),
            &template,
            state,
            now,
        ));
    }
    let mut counts = Counts {
        desired,
        updated: desired,
        updated_ready: ready,
        ..Counts::default()
    };
    let succeeded = finished && outcome == RolloutOutcome::Succeed;
    for existing_pod in &observed.pods {
        let pod_name = text(existing_pod, "/metadata/name");
        let of_new = existing_pod
            .pointer("/metadata/ownerReferences/0/uid")
            .and_then(Value::as_str)
            == Some(text(&replica_set, "/metadata/uid"));
        if (of_new && !wanted.iter().any(|w| w == pod_name)) || (!of_new && succeeded) {
            plan.remove_pods.push(pod_name.to_string());
        } else if !of_new {
            counts.old += 1;
            counts.old_ready += i64::from(is_ready(existing_pod));
        }
    }
    if succeeded {
        for old in observed
            .replica_sets
            .iter()
            .filter(|rs| text(rs, "/metadata/name") != rs_name)
        {
            let mut scaled = old.clone();
            scaled["spec"]["replicas"] = json!(0);
            scaled["status"] = status::replica_set(0, 0);
            plan.objects.push(scaled);
        }
    }
    replica_set["metadata"]["uid"] = json!(rs_uid);
    plan.objects.insert(0, replica_set);
    let progress = match (finished, outcome) {
        (true, RolloutOutcome::Succeed) => Progress::Complete,
        (true, RolloutOutcome::Fail) => Progress::DeadlineExceeded,
        _ => Progress::Progressing,
    };
    plan.status = status::deployment(
        int(workload, "/metadata/generation", 1),
        counts,
        &rs_name,
        progress,
        now,
    );
    plan
}
