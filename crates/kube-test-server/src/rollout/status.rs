//! Status documents as the workload controllers and the kubelet write them.

use serde_json::{Map, Value, json};

/// Node every simulated pod is scheduled on (the cluster has one).
pub const NODE_NAME: &str = "slipway-test-node";

/// What a simulated pod is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    /// Scheduled, containers being created.
    Creating,
    /// Running and ready.
    Running,
    /// Container keeps exiting: `CrashLoopBackOff`.
    CrashLoop,
    /// Image cannot be pulled: `ImagePullBackOff`.
    ImagePullBackOff,
    /// No node fits: `Unschedulable`.
    Unschedulable,
    /// Ran to completion (Job pods).
    Succeeded,
    /// Exited with an error (Job pods).
    Failed,
}

impl PodState {
    /// Whether the pod counts as ready.
    pub fn is_ready(self) -> bool {
        self == Self::Running
    }
}

fn condition(
    kind: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<&str>,
    now: &str,
) -> Value {
    let mut condition = json!({"type": kind, "status": if status { "True" } else { "False" }, "lastTransitionTime": now});
    if let Some(reason) = reason {
        condition["reason"] = json!(reason);
    }
    if let Some(message) = message {
        condition["message"] = json!(message);
    }
    condition
}

fn container_status(container: &Value, state: PodState, pod: &str, now: &str) -> Value {
    let name = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (ready, restarts, current, last) = match state {
        PodState::Running => (true, 0, json!({"running": {"startedAt": now}}), None),
        PodState::Creating => (
            false,
            0,
            json!({"waiting": {"reason": "ContainerCreating"}}),
            None,
        ),
        PodState::ImagePullBackOff => (
            false,
            0,
            json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image {image:?}")}}),
            None,
        ),
        PodState::CrashLoop => (
            false,
            3,
            json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off 40s restarting failed container={name} pod={pod}")}}),
            Some(
                json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}}),
            ),
        ),
        PodState::Succeeded => (
            false,
            0,
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}),
            None,
        ),
        PodState::Failed => (
            false,
            0,
            json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}}),
            None,
        ),
        PodState::Unschedulable => (false, 0, json!({}), None),
    };
    let mut status = json!({
        "name": name, "image": image, "imageID": "", "ready": ready, "restartCount": restarts,
        "started": ready, "state": current, "lastState": last.unwrap_or_else(|| json!({})),
    });
    if ready {
        status["imageID"] = json!(format!("{image}@sha256:{}", "0".repeat(64)));
    }
    status
}

/// `status` of a pod running `containers` in `state`.
pub fn pod_status(containers: &[Value], state: PodState, pod: &str, now: &str) -> Value {
    if state == PodState::Unschedulable {
        return json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [condition(
            "PodScheduled", false, Some("Unschedulable"),
            Some("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."),
            now)]});
    }
    let phase = match state {
        PodState::Running | PodState::CrashLoop => "Running",
        PodState::Succeeded => "Succeeded",
        PodState::Failed => "Failed",
        _ => "Pending",
    };
    let ready = state.is_ready();
    let not_ready = (!ready).then_some("ContainersNotReady");
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| container_status(c, state, pod, now))
        .collect();
    json!({
        "phase": phase, "hostIP": "10.0.0.1", "podIP": "10.244.0.10", "startTime": now, "qosClass": "BestEffort",
        "conditions": [
            condition("PodScheduled", true, None, None, now),
            condition("Initialized", true, None, None, now),
            condition("ContainersReady", ready, not_ready, None, now),
            condition("Ready", ready, not_ready, None, now),
        ],
        "containerStatuses": statuses,
    })
}

/// Replica counts a workload status is computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Replicas the spec asks for.
    pub desired: i64,
    /// Pods of the current template.
    pub updated: i64,
    /// Of those, ready.
    pub updated_ready: i64,
    /// Pods of older templates still present.
    pub old: i64,
    /// Of those, ready.
    pub old_ready: i64,
}

/// Where a Deployment's rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// New pods are being brought up.
    Progressing,
    /// Every replica is updated and available.
    Complete,
    /// The progress deadline passed.
    DeadlineExceeded,
}

/// Drops zero counts and empty strings, as Go's `omitempty` does.
fn omit_empty(mut status: Value) -> Value {
    if let Some(map) = status.as_object_mut() {
        map.retain(|_, v| !(v == &json!(0) || v == &json!("")));
    }
    status
}

/// Deployment `status`.
pub fn deployment(
    generation: i64,
    counts: Counts,
    replica_set: &str,
    progress: Progress,
    now: &str,
) -> Value {
    let available = counts.updated_ready + counts.old_ready;
    let min_available = counts.desired - counts.desired / 4;
    let (progress_status, reason, message) = match progress {
        Progress::Progressing => (
            true,
            "ReplicaSetUpdated",
            format!("ReplicaSet {replica_set:?} is progressing."),
        ),
        Progress::Complete => (
            true,
            "NewReplicaSetAvailable",
            format!("ReplicaSet {replica_set:?} has successfully progressed."),
        ),
        Progress::DeadlineExceeded => (
            false,
            "ProgressDeadlineExceeded",
            format!("ReplicaSet {replica_set:?} has timed out progressing."),
        ),
    };
    let available_condition = if available >= min_available {
        condition(
            "Available",
            true,
            Some("MinimumReplicasAvailable"),
            Some("Deployment has minimum availability."),
            now,
        )
    } else {
        condition(
            "Available",
            false,
            Some("MinimumReplicasUnavailable"),
            Some("Deployment does not have minimum availability."),
            now,
        )
    };
    let mut progressing = condition(
        "Progressing",
        progress_status,
        Some(reason),
        Some(&message),
        now,
    );
    progressing["lastUpdateTime"] = json!(now);
    let mut available_condition = available_condition;
    available_condition["lastUpdateTime"] = json!(now);
    let mut status = omit_empty(json!({
        "observedGeneration": generation,
        "replicas": counts.updated + counts.old,
        "updatedReplicas": counts.updated,
        "readyReplicas": available,
        "availableReplicas": available,
        "unavailableReplicas": (counts.desired - available).max(0),
    }));
    status["conditions"] = json!([available_condition, progressing]);
    status
}

/// ReplicaSet `status`.
pub fn replica_set(replicas: i64, ready: i64) -> Value {
    let mut status = omit_empty(
        json!({"fullyLabeledReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready}),
    );
    status["replicas"] = json!(replicas);
    status["observedGeneration"] = json!(1);
    status
}

/// StatefulSet `status`.
pub fn stateful_set(
    generation: i64,
    counts: Counts,
    current_revision: &str,
    update_revision: &str,
) -> Value {
    let ready = counts.updated_ready + counts.old_ready;
    let current = if current_revision == update_revision {
        counts.updated
    } else {
        counts.old
    };
    let mut status = omit_empty(json!({
        "observedGeneration": generation,
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": counts.updated,
        "availableReplicas": ready,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
    }));
    status["replicas"] = json!(counts.updated + counts.old);
    status
}

/// DaemonSet `status` (one node).
pub fn daemon_set(generation: i64, counts: Counts) -> Value {
    let ready = counts.updated_ready + counts.old_ready;
    let mut status = omit_empty(json!({
        "observedGeneration": generation,
        "updatedNumberScheduled": counts.updated,
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": (counts.desired - ready).max(0),
    }));
    let mut map = status.as_object().cloned().unwrap_or_else(Map::new);
    map.insert("currentNumberScheduled".into(), json!(counts.desired));
    map.insert("desiredNumberScheduled".into(), json!(counts.desired));
    map.insert("numberMisscheduled".into(), json!(0));
    status = Value::Object(map);
    status
}

/// Where a Job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobProgress {
    /// Pods are running or pending.
    Active(i64),
    /// Reached its completions.
    Complete(i64),
    /// Gave up after its backoff limit.
    Failed(i64),
}

/// Job `status`.
pub fn job(progress: JobProgress, started: &str, now: &str) -> Value {
    match progress {
        JobProgress::Active(active) => {
            omit_empty(json!({"startTime": started, "active": active, "ready": 0}))
        }
        JobProgress::Complete(succeeded) => {
            let message = "Reached expected number of succeeded pods";
            json!({"startTime": started, "completionTime": now, "succeeded": succeeded,
                   "uncountedTerminatedPods": {}, "conditions": [
                condition("SuccessCriteriaMet", true, Some("CompletionsReached"), Some(message), now),
                condition("Complete", true, Some("CompletionsReached"), Some(message), now)]})
        }
        JobProgress::Failed(failed) => {
            let message = "Job has reached the specified backoff limit";
            json!({"startTime": started, "failed": failed, "uncountedTerminatedPods": {}, "conditions": [
                condition("FailureTarget", true, Some("BackoffLimitExceeded"), Some(message), now),
                condition("Failed", true, Some("BackoffLimitExceeded"), Some(message), now)]})
        }
    }
}
