//! Plans of the controllers whose pods have fixed names: StatefulSets
//! (ordinals), DaemonSets (one per node) and Jobs.

use serde_json::{Map, Value, json};

use super::super::resources::Workload;
use super::RolloutOutcome;
use super::plan::{
    Observed, Plan, int, labels_with, owner_reference, pod, pod_state, suffix, template_hash, text,
};
use super::status::{self, Counts, JobProgress, PodState};

/// Default `spec.backoffLimit` of a Job.
const DEFAULT_BACKOFF_LIMIT: i64 = 6;

/// Pods replaced in place under fixed names, all of the new revision.
fn replace_pods(
    observed: &Observed,
    names: &[String],
    labels: &Map<String, Value>,
    state: PodState,
    now: &str,
    plan: &mut Plan,
) {
    let workload = &observed.workload;
    let template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    for name in names {
        let mut pod_labels = labels.clone();
        if workload["kind"] == "StatefulSet" {
            pod_labels.insert("statefulset.kubernetes.io/pod-name".into(), json!(name));
        }
        plan.objects.push(pod(
            name,
            text(workload, "/metadata/namespace"),
            &pod_labels,
            owner_reference(workload),
            &template,
            state,
            now,
        ));
    }
    for existing in &observed.pods {
        let name = text(existing, "/metadata/name");
        if !names.iter().any(|n| n == name) {
            plan.remove_pods.push(name.to_string());
        }
    }
}

pub(crate) fn stateful_set(
    observed: &Observed,
    outcome: RolloutOutcome,
    finished: bool,
    now: &str,
) -> Plan {
    let workload = &observed.workload;
    let name = text(workload, "/metadata/name");
    let desired = int(workload, "/spec/replicas", 1);
    let revision = format!("{name}-{}", template_hash(workload));
    let template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let labels = labels_with(&template, &[("controller-revision-hash", revision.clone())]);
    let state = pod_state(Workload::StatefulSet, outcome, finished);
    let names: Vec<String> = (0..desired).map(|i| format!("{name}-{i}")).collect();
    let mut plan = Plan::default();
    replace_pods(observed, &names, &labels, state, now, &mut plan);
    let ready = if state.is_ready() { desired } else { 0 };
    let counts = Counts {
        desired,
        updated: desired,
        updated_ready: ready,
        ..Counts::default()
    };
    let current = match text(workload, "/status/currentRevision") {
        _ if finished && outcome == RolloutOutcome::Succeed => revision.clone(),
        "" => revision.clone(),
        previous => previous.to_string(),
    };
    plan.status = status::stateful_set(
        int(workload, "/metadata/generation", 1),
        counts,
        &current,
        &revision,
    );
    plan
}

pub(crate) fn daemon_set(
    observed: &Observed,
    outcome: RolloutOutcome,
    finished: bool,
    now: &str,
) -> Plan {
    let workload = &observed.workload;
    let name = text(workload, "/metadata/name");
    let generation = int(workload, "/metadata/generation", 1);
    let hash = template_hash(workload);
    let template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let labels = labels_with(
        &template,
        &[
            ("controller-revision-hash", hash.clone()),
            ("pod-template-generation", generation.to_string()),
        ],
    );
    let state = pod_state(Workload::DaemonSet, outcome, finished);
    let names = vec![format!("{name}-{}", suffix(&format!("{name}-{hash}")))];
    let mut plan = Plan::default();
    replace_pods(observed, &names, &labels, state, now, &mut plan);
    let counts = Counts {
        desired: 1,
        updated: 1,
        updated_ready: i64::from(state.is_ready()),
        ..Counts::default()
    };
    plan.status = status::daemon_set(generation, counts);
    plan
}

pub(crate) fn job(observed: &Observed, outcome: RolloutOutcome, finished: bool, now: &str) -> Plan {
    let workload = &observed.workload;
    let (name, uid) = (
        text(workload, "/metadata/name"),
        text(workload, "/metadata/uid"),
    );
    let parallelism = int(workload, "/spec/parallelism", 1);
    let template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let labels = labels_with(
        &template,
        &[
            ("batch.kubernetes.io/controller-uid", uid.to_string()),
            ("batch.kubernetes.io/job-name", name.to_string()),
            ("controller-uid", uid.to_string()),
            ("job-name", name.to_string()),
        ],
    );
    let state = pod_state(Workload::Job, outcome, finished);
    let names: Vec<String> = (0..parallelism)
        .map(|i| format!("{name}-{}", suffix(&format!("{name}-{uid}-{i}"))))
        .collect();
    let mut plan = Plan::default();
    replace_pods(observed, &names, &labels, state, now, &mut plan);
    let started = match text(workload, "/status/startTime") {
        "" => now.to_string(),
        time => time.to_string(),
    };
    let progress = match (finished, outcome) {
        (true, RolloutOutcome::Succeed) => {
            JobProgress::Complete(int(workload, "/spec/completions", 1))
        }
        (true, RolloutOutcome::Fail | RolloutOutcome::Crash) => {
            JobProgress::Failed(int(workload, "/spec/backoffLimit", DEFAULT_BACKOFF_LIMIT) + 1)
        }
        _ => JobProgress::Active(parallelism),
    };
    plan.status = status::job(progress, &started, now);
    plan
}
