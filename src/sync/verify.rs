//! Rollout verification: pure predicates over the status the cluster reports,
//! the same checks `kubectl rollout status` makes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::Selector;
use serde_json::Value;

/// Where one object's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Complete and healthy (or a kind without a rollout).
    Ready,
    /// Still rolling out; the text says what is awaited.
    Progressing(String),
    /// Failed for good; the text names the condition.
    Failed(String),
}

/// Kinds whose rollout Slipway waits for.
pub const WAITED_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet", "Job"];

/// The health of one live object.
pub fn health(live: &Value) -> Health {
    match live.get("kind").and_then(Value::as_str) {
        Some("Deployment") => deployment(live),
        Some("StatefulSet") => stateful_set(live),
        Some("DaemonSet") => daemon_set(live),
        Some("Job") => job(live),
        _ => Health::Ready,
    }
}

fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

fn status_int(v: &Value, field: &str) -> i64 {
    int(v, &format!("/status/{field}")).unwrap_or(0)
}

/// The status condition of `type_`, if present.
fn condition<'a>(v: &'a Value, type_: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// `None` when the controller has seen the latest spec.
fn unobserved(live: &Value) -> Option<Health> {
    let generation = int(live, "/metadata/generation").unwrap_or(0);
    let observed = int(live, "/status/observedGeneration").unwrap_or(-1);
    (observed < generation)
        .then(|| Health::Progressing("waiting for the spec update to be observed".into()))
}

fn deployment(live: &Value) -> Health {
    if let Some(waiting) = unobserved(live) {
        return waiting;
    }
    if let Some(c) = condition(live, "Progressing")
        && text(c, "reason") == "ProgressDeadlineExceeded"
    {
        return Health::Failed(format!("ProgressDeadlineExceeded: {}", text(c, "message")));
    }
    let desired = int(live, "/spec/replicas").unwrap_or(1);
    let updated = status_int(live, "updatedReplicas");
    let total = status_int(live, "replicas");
    let available = status_int(live, "availableReplicas");
    if updated < desired {
        return Health::Progressing(format!("{updated} of {desired} new replicas updated"));
    }
    if total > updated {
        return Health::Progressing(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    if available < updated {
        return Health::Progressing(format!(
            "{available} of {updated} updated replicas available"
        ));
    }
    Health::Ready
}

fn stateful_set(live: &Value) -> Health {
    if let Some(waiting) = unobserved(live) {
        return waiting;
    }
    if live
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        == Some("OnDelete")
    {
        return Health::Ready;
    }
    let desired = int(live, "/spec/replicas").unwrap_or(1);
    let ready = status_int(live, "readyReplicas");
    if ready < desired {
        return Health::Progressing(format!("{ready} of {desired} pods ready"));
    }
    let partition = int(live, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    if partition > 0 {
        let updated = status_int(live, "updatedReplicas");
        let target = desired - partition;
        return if updated < target {
            Health::Progressing(format!("{updated} of {target} partitioned pods updated"))
        } else {
            Health::Ready
        };
    }
    let update = live
        .pointer("/status/updateRevision")
        .and_then(Value::as_str);
    let current = live
        .pointer("/status/currentRevision")
        .and_then(Value::as_str);
    if update != current {
        return Health::Progressing("waiting for the update revision to become current".into());
    }
    Health::Ready
}

fn daemon_set(live: &Value) -> Health {
    if let Some(waiting) = unobserved(live) {
        return waiting;
    }
    let desired = status_int(live, "desiredNumberScheduled");
    let updated = status_int(live, "updatedNumberScheduled");
    let available = status_int(live, "numberAvailable");
    if updated < desired {
        return Health::Progressing(format!("{updated} of {desired} updated pods scheduled"));
    }
    if available < desired {
        return Health::Progressing(format!("{available} of {desired} updated pods available"));
    }
    Health::Ready
}

/// Whether a Job has finished: condition `Complete` or `Failed` is true.
pub fn job_finished(live: &Value) -> bool {
    ["Complete", "Failed"]
        .iter()
        .any(|t| condition(live, t).is_some_and(|c| text(c, "status") == "True"))
}

fn job(live: &Value) -> Health {
    let is_true = |c: &Value| text(c, "status") == "True";
    if let Some(c) = condition(live, "Failed").filter(|c| is_true(c)) {
        return Health::Failed(format!(
            "Job failed: {} {}",
            text(c, "reason"),
            text(c, "message")
        ));
    }
    if condition(live, "Complete").is_some_and(is_true) {
        return Health::Ready;
    }
    Health::Progressing(format!("{} pods succeeded", status_int(live, "succeeded")))
}

/// Why the pods of a failed rollout are unwell, from their container
/// statuses (`CrashLoopBackOff`, `ImagePullBackOff`, `OOMKilled`, ...),
/// de-duplicated, as `pod/container: reason`.
pub fn pod_reasons(pods: &[Value]) -> Vec<String> {
    let mut reasons = Vec::new();
    for pod in pods {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        for list in ["initContainerStatuses", "containerStatuses"] {
            let statuses = pod
                .pointer(&format!("/status/{list}"))
                .and_then(Value::as_array);
            for status in statuses.into_iter().flatten() {
                let container = text(status, "name");
                let waiting = status
                    .pointer("/state/waiting/reason")
                    .and_then(Value::as_str);
                let terminated = status
                    .pointer("/lastState/terminated/reason")
                    .and_then(Value::as_str);
                let reason = match (waiting, terminated) {
                    (Some(w), Some(t)) => format!("{w} (last exit: {t})"),
                    (Some(w), None) => w.to_string(),
                    (None, Some(t))
                        if !status
                            .get("ready")
                            .and_then(Value::as_bool)
                            .unwrap_or(false) =>
                    {
                        format!("last exit: {t}")
                    }
                    _ => continue,
                };
                let line = format!("{name}/{container}: {reason}");
                if !reasons.contains(&line) {
                    reasons.push(line);
                }
            }
        }
    }
    reasons
}

/// The pod label selector of a workload in the API's text form, through
/// kube's [`Selector`]: `spec.selector` with its `matchLabels` and
/// `matchExpressions` (`app=web,tier in (edge,front)`), else the pod
/// template's labels; `None` when it would select every pod.
pub fn pod_selector(live: &Value) -> Option<String> {
    let from_spec = live
        .pointer("/spec/selector")
        .and_then(|s| serde_json::from_value::<LabelSelector>(s.clone()).ok())
        .and_then(|s| Selector::try_from(s).ok());
    let from_template = || {
        let labels = live
            .pointer("/spec/template/metadata/labels")?
            .as_object()?;
        Some(
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect::<Selector>(),
        )
    };
    let selector = from_spec
        .filter(|s| !s.selects_all())
        .or_else(from_template)
        .filter(|s| !s.selects_all())?;
    Some(selector.to_string())
}

#[cfg(test)]
mod tests;
