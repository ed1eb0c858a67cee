//! Failing a rollout early from its pods: a crash loop or an image that
//! cannot be pulled fails a revision long before its deadline. Pure
//! predicates over the pods' status, as the kubelet reports it.

use std::time::Duration;

use serde_json::Value;

/// Default restarts after which a crash-looping container fails the rollout.
pub const DEFAULT_CRASH_LOOP_RESTARTS: i64 = 2;
/// Default seconds a container may wait on its image or config before the rollout fails.
pub const DEFAULT_IMAGE_PULL_GRACE_SECS: u64 = 30;

/// Waiting reasons that do not heal on their own once the grace is over.
pub const STUCK_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
];

/// When pods fail a rollout before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodLimits {
    /// A container not ready after this many restarts is crash-looping.
    pub crash_loop_restarts: i64,
    /// How long a container may wait in one of [`STUCK_REASONS`] (counted
    /// from the pod's creation).
    pub image_pull_grace: Duration,
}

impl Default for PodLimits {
    fn default() -> Self {
        PodLimits {
            crash_loop_restarts: DEFAULT_CRASH_LOOP_RESTARTS,
            image_pull_grace: Duration::from_secs(DEFAULT_IMAGE_PULL_GRACE_SECS),
        }
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// The pods of the workload's new revision: a Deployment's newest
/// ReplicaSet (by `deployment.kubernetes.io/revision`), a StatefulSet's
/// `updateRevision`, a DaemonSet's current `pod-template-generation`; every
/// pod of a Job. None until the controller has observed the latest spec
/// (before that, the newest ReplicaSet may be the previous revision's);
/// without the marks to tell, every pod given.
pub fn new_revision_pods<'a>(
    workload: &Value,
    replica_sets: &[Value],
    pods: &'a [Value],
) -> Vec<&'a Value> {
    let generation = workload
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = workload
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    if text(workload, "/kind") != Some("Job")
        && generation.is_some_and(|g| observed.is_none_or(|o| o < g))
    {
        return Vec::new();
    }
    let mark: Option<(&str, String)> = match text(workload, "/kind") {
        Some("Deployment") => replica_sets
            .iter()
            .filter_map(|rs| {
                let revision = text(
                    rs,
                    "/metadata/annotations/deployment.kubernetes.io~1revision",
                )?
                .parse::<i64>()
                .ok()?;
                Some((revision, label(rs, "pod-template-hash")?))
            })
            .max_by_key(|(revision, _)| *revision)
            .map(|(_, hash)| ("pod-template-hash", hash.to_string())),
        Some("StatefulSet") => text(workload, "/status/updateRevision")
            .map(|r| ("controller-revision-hash", r.to_string())),
        Some("DaemonSet") => workload
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .map(|g| ("pod-template-generation", g.to_string())),
        _ => None,
    };
    pods.iter()
        .filter(|pod| match &mark {
            Some((key, value)) => label(pod, key) == Some(value.as_str()),
            None => true,
        })
        .collect()
}

/// Why these pods fail the rollout now, as `pod/container: reason`; `None`
/// while they may still come up. `now` is compared with each pod's
/// `metadata.creationTimestamp` for the image-pull grace.
pub fn pod_failure(pods: &[&Value], limits: &PodLimits, now: jiff::Timestamp) -> Option<String> {
    for pod in pods {
        let name = text(pod, "/metadata/name").unwrap_or("?");
        let age = text(pod, "/metadata/creationTimestamp")
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .and_then(|created| Duration::try_from(now.duration_since(created)).ok())
            .unwrap_or_default();
        for list in ["initContainerStatuses", "containerStatuses"] {
            let statuses = pod
                .pointer(&format!("/status/{list}"))
                .and_then(Value::as_array);
            for status in statuses.into_iter().flatten() {
                let container = text(status, "/name").unwrap_or("?");
                let ready = status.get("ready").and_then(Value::as_bool) == Some(true);
                let restarts = status
                    .get("restartCount")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let waiting = text(status, "/state/waiting/reason");
                if !ready && restarts >= limits.crash_loop_restarts {
                    let last = text(status, "/lastState/terminated/reason").unwrap_or("unknown");
                    return Some(format!(
                        "{name}/{container}: {} after {restarts} restarts (last exit: {last})",
                        waiting.unwrap_or("crash loop")
                    ));
                }
                if let Some(reason) = waiting.filter(|w| STUCK_REASONS.contains(w))
                    && age >= limits.image_pull_grace
                {
                    let message = text(status, "/state/waiting/message").unwrap_or_default();
                    return Some(format!(
                        "{name}/{container}: {reason} for {}s: {message}",
                        age.as_secs()
                    ));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
