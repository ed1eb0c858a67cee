//! Why a rollout failed, in the pods' own words: for a failed workload, the
//! last log lines of its failing containers (the previous run's for a
//! crash loop) and its pods' Warning Events, bounded so that a status or a
//! report stays small. Reading them is best effort: what cannot be read is
//! logged and left out, never a sync failure.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams};
use serde_json::Value;

use super::cluster::KubeCluster;
use super::fault;
use super::plan::ObjectRef;
use super::podcheck::STUCK_REASONS;
use super::verdict::pods_of;
pub use crate::event::PodEvidence;

/// Most failing pods whose evidence is gathered.
pub const MAX_PODS: usize = 3;
/// Most log lines kept per container (its last ones).
pub const MAX_LINES: usize = 50;
/// Most Warning Events kept per pod (its last ones).
pub const MAX_WARNINGS: usize = 10;
/// Most characters of one log line or Warning; longer ones end in `…`.
pub const MAX_LINE_CHARS: usize = 300;
/// Most bytes of log lines and Warnings per pod (UTF-8, all its failing
/// containers together); the oldest lines go first.
pub const MAX_BYTES_PER_POD: usize = 8 * 1024;

/// One container that keeps its pod from coming up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingContainer {
    /// Container name.
    pub name: String,
    /// Read the previous run's log: the container restarted and waits in
    /// `CrashLoopBackOff`.
    pub previous: bool,
    /// The container ever started, so it has a log (one waiting on its
    /// image never did).
    pub has_log: bool,
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The pod's containers (init containers first) that are not ready and
/// failing: restarted, waiting in one of [`STUCK_REASONS`] or
/// `CrashLoopBackOff`, exited non-zero, or running but never ready. From
/// the pod's status as the kubelet reports it.
pub fn failing_containers(pod: &Value) -> Vec<FailingContainer> {
    let mut failing = Vec::new();
    for (list, init) in [
        ("initContainerStatuses", true),
        ("containerStatuses", false),
    ] {
        let statuses = pod
            .pointer(&format!("/status/{list}"))
            .and_then(Value::as_array);
        for status in statuses.into_iter().flatten() {
            if let Some(container) = failing_container(status, init) {
                failing.push(container);
            }
        }
    }
    failing
}

fn failing_container(status: &Value, init: bool) -> Option<FailingContainer> {
    if status.get("ready").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let restarts = status
        .get("restartCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let waiting = text(status, "/state/waiting/reason");
    let exit = status
        .pointer("/state/terminated/exitCode")
        .and_then(Value::as_i64);
    let running = status.pointer("/state/running").is_some();
    let stuck = waiting.is_some_and(|w| w == "CrashLoopBackOff" || STUCK_REASONS.contains(&w));
    // A running init container is never ready; it is still at work.
    let never_ready = running && !init;
    if !(restarts > 0 || stuck || exit.is_some_and(|e| e != 0) || never_ready) {
        return None;
    }
    Some(FailingContainer {
        name: text(status, "/name").unwrap_or("?").to_string(),
        previous: restarts > 0 && waiting == Some("CrashLoopBackOff"),
        has_log: running || exit.is_some() || status.pointer("/lastState/terminated").is_some(),
    })
}

/// The last [`MAX_LINES`] lines of a log, each at most [`MAX_LINE_CHARS`].
pub fn last_lines(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    let skip = lines.len().saturating_sub(MAX_LINES);
    lines[skip..]
        .iter()
        .map(|l| fault::bounded(l, MAX_LINE_CHARS))
        .collect()
}

fn bytes(entries: &[PodEvidence]) -> usize {
    entries
        .iter()
        .flat_map(|e| e.log.iter().chain(&e.warnings))
        .map(String::len)
        .sum()
}

/// Keep one pod's entries within [`MAX_BYTES_PER_POD`]: drop the oldest
/// line of the longest log first, then the oldest Warnings.
pub fn bound_pod(entries: &mut [PodEvidence]) {
    while bytes(entries) > MAX_BYTES_PER_POD {
        let longest = entries
            .iter_mut()
            .filter(|e| !e.log.is_empty())
            .max_by_key(|e| e.log.iter().map(String::len).sum::<usize>());
        match longest {
            Some(entry) => {
                entry.log.remove(0);
            }
            None => {
                let Some(entry) = entries.iter_mut().find(|e| !e.warnings.is_empty()) else {
                    return;
                };
                entry.warnings.remove(0);
            }
        }
    }
}

/// Warning Events as `Reason: message`, the last [`MAX_WARNINGS`], each bounded.
pub fn warning_lines(events: &[Event]) -> Vec<String> {
    let mut events: Vec<&Event> = events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
    });
    let skip = events.len().saturating_sub(MAX_WARNINGS);
    events[skip..]
        .iter()
        .map(|e| {
            let line = format!(
                "{}: {}",
                e.reason.as_deref().unwrap_or("Warning"),
                e.message.as_deref().unwrap_or_default()
            );
            fault::bounded(&line, MAX_LINE_CHARS)
        })
        .collect()
}

/// The evidence of `object`'s failing pods (at most [`MAX_PODS`], by name);
/// empty when nothing could be read.
pub async fn gather(cluster: &KubeCluster, object: &ObjectRef) -> Vec<PodEvidence> {
    let Some(namespace) = object.namespace.as_deref() else {
        return Vec::new();
    };
    let live = match cluster.get(object).await {
        Ok(live) => live,
        Err(e) => {
            tracing::warn!(%object, error = %fault::one_line(&e), "could not read a failed workload for its evidence");
            return Vec::new();
        }
    };
    let mut pods = match pods_of(cluster, object, live.as_ref()).await {
        Ok(pods) => pods,
        Err(e) => {
            tracing::warn!(%object, error = %fault::one_line(&e), "could not list the pods of a failed workload");
            return Vec::new();
        }
    };
    pods.sort_by(|a, b| text(a, "/metadata/name").cmp(&text(b, "/metadata/name")));
    let client = cluster.client().clone();
    let (pod_api, events) = (
        Api::<Pod>::namespaced(client.clone(), namespace),
        Api::<Event>::namespaced(client, namespace),
    );
    let mut gathered = Vec::new();
    for pod in pods
        .iter()
        .filter(|p| !failing_containers(p).is_empty())
        .take(MAX_PODS)
    {
        let name = text(pod, "/metadata/name").unwrap_or_default();
        let warnings = pod_warnings(&events, name).await;
        let mut entries = Vec::new();
        for container in failing_containers(pod) {
            let log = if container.has_log {
                container_log(&pod_api, name, &container).await
            } else {
                Vec::new()
            };
            entries.push(PodEvidence {
                pod: name.to_string(),
                container: container.name,
                previous: container.previous,
                log,
                warnings: Vec::new(),
            });
        }
        if let Some(first) = entries.first_mut() {
            first.warnings = warnings;
        }
        bound_pod(&mut entries);
        gathered.extend(entries);
    }
    gathered
}

/// The container's last lines; a log that cannot be read is logged and left empty.
async fn container_log(pods: &Api<Pod>, pod: &str, container: &FailingContainer) -> Vec<String> {
    let params = LogParams {
        container: Some(container.name.clone()),
        previous: container.previous,
        tail_lines: Some(MAX_LINES as i64),
        ..LogParams::default()
    };
    match pods.logs(pod, &params).await {
        Ok(log) => last_lines(&log),
        Err(e) => {
            tracing::warn!(pod, container = %container.name, error = %fault::one_line(&e), "could not read the log of a failing container");
            Vec::new()
        }
    }
}

/// The pod's Warning Events (`involvedObject` the pod); none when they cannot be read.
async fn pod_warnings(events: &Api<Event>, pod: &str) -> Vec<String> {
    let selector = format!("involvedObject.kind=Pod,involvedObject.name={pod},type=Warning");
    match events.list(&ListParams::default().fields(&selector)).await {
        Ok(list) => warning_lines(&list.items),
        Err(e) => {
            tracing::warn!(pod, error = %fault::one_line(&e), "could not read the Events of a failing pod");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests;
