//! What the kubelet says about a simulated pod: the log lines of its
//! containers and the Events it records. Both follow from the pod's status,
//! so they are deterministic.

use serde_json::{Value, json};

use super::super::meta;
use super::status::NODE_NAME;

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The line a container's run starts with.
pub fn start_line(container: &str, image: &str) -> String {
    format!("starting {container} from image {image}")
}

/// The line a crash-looping container's run ends with; `restart` counts from 1.
pub fn panic_line(container: &str, restart: i64) -> String {
    format!("panic: {container} exited with status 1 (restart {restart})")
}

/// The lines of the container's last run as the simulator writes them:
/// a running or finished container logged its start; a crash-looping one
/// (waiting, with a terminated last state) its start and a panic. `None`
/// when the container never started (waiting on its image, being created).
pub fn base_lines(status: &Value) -> Option<Vec<String>> {
    let container = text(status, "/name");
    let image = text(status, "/image");
    if status.pointer("/state/running").is_some() || status.pointer("/state/terminated").is_some() {
        return Some(vec![start_line(container, image)]);
    }
    if status.pointer("/lastState/terminated").is_some() {
        let restarts = status
            .get("restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        return Some(vec![
            start_line(container, image),
            panic_line(container, restarts),
        ]);
    }
    None
}

/// Why the kubelet cannot serve the logs of a container that has not
/// started (`waiting`), worded as the kubelet does.
pub fn waiting_message(status: &Value, pod: &str) -> String {
    let container = text(status, "/name");
    let why = match text(status, "/state/waiting/reason") {
        "ErrImagePull" => "image can't be pulled".to_string(),
        "ImagePullBackOff" => "trying and failing to pull image".to_string(),
        "" => "ContainerCreating".to_string(),
        other => other.to_string(),
    };
    format!("container {container:?} in pod {pod:?} is waiting to start: {why}")
}

fn event(
    pod: &Value,
    container: &str,
    (kind, reason, message): (&str, &str, String),
    now: &str,
) -> Value {
    let name = text(pod, "/metadata/name");
    let suffix: String = meta::short_hash(&format!("{name}/{container}/{reason}/{kind}"))
        .chars()
        .take(16)
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{suffix}"), "namespace": text(pod, "/metadata/namespace")},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name,
            "namespace": text(pod, "/metadata/namespace"), "uid": text(pod, "/metadata/uid"),
            "fieldPath": format!("spec.containers{{{container}}}")},
        "reason": reason, "message": message, "type": kind, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now,
        "source": {"component": "kubelet", "host": NODE_NAME},
        "reportingComponent": "kubelet", "reportingInstance": NODE_NAME,
    })
}

/// The Events the kubelet records for `pod` as its status stands: a
/// crash-looping container's `Warning BackOff`; an image that cannot be
/// pulled: `Normal BackOff` and `Warning Failed`.
pub fn events(pod: &Value, now: &str) -> Vec<Value> {
    let name = text(pod, "/metadata/name");
    let namespace = text(pod, "/metadata/namespace");
    let uid = text(pod, "/metadata/uid");
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    let mut events = Vec::new();
    for status in statuses.into_iter().flatten() {
        let container = text(status, "/name");
        let image = text(status, "/image");
        match text(status, "/state/waiting/reason") {
            "CrashLoopBackOff" => events.push(event(
                pod,
                container,
                (
                    "Warning",
                    "BackOff",
                    format!("Back-off restarting failed container {container} in pod {name}_{namespace}({uid})"),
                ),
                now,
            )),
            "ImagePullBackOff" => {
                events.push(event(
                    pod,
                    container,
                    ("Normal", "BackOff", format!("Back-off pulling image {image:?}")),
                    now,
                ));
                events.push(event(
                    pod,
                    container,
                    ("Warning", "Failed", "Error: ImagePullBackOff".to_string()),
                    now,
                ));
            }
            _ => {}
        }
    }
    events
}
