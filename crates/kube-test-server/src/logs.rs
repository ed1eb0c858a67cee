//! Pod logs: `GET /api/v1/namespaces/{ns}/pods/{name}/log` with
//! `container`, `tailLines`, `previous`, `follow`, `limitBytes` (and
//! `timestamps`, accepted and ignored), answered as `text/plain` the way the
//! API server and the kubelet answer. A container's lines are the
//! simulator's (see [`kubelet`]) followed by those a test appended; a
//! follow stays open, sending appended lines, until the pod is deleted or
//! the client goes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use super::errors::ApiError;
use super::resources;
use super::rollout::kubelet;
use super::store::{ChangeType, Store};

/// Appended lines a follow may fall behind by before it re-reads.
const APPEND_CAPACITY: usize = 4096;
/// Chunks a follow may have buffered towards a slow client.
const FOLLOW_BUFFER: usize = 64;

/// `(namespace, pod uid, container)`: a pod re-created under the same name
/// starts with no appended lines.
type Key = (String, String, String);

/// One appended line, as followers see it.
#[derive(Debug)]
struct Appended {
    key: Key,
    index: usize,
    line: String,
}

/// Lines tests appended to containers' logs.
#[derive(Debug)]
pub struct PodLogs {
    appended: Mutex<HashMap<Key, Vec<String>>>,
    live: broadcast::Sender<Arc<Appended>>,
}

impl Default for PodLogs {
    fn default() -> Self {
        Self {
            appended: Mutex::default(),
            live: broadcast::channel(APPEND_CAPACITY).0,
        }
    }
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn pod(store: &Store, namespace: &str, name: &str) -> Option<Arc<Value>> {
    let pods = resources::by_kind("v1", "Pod")?;
    store.transaction(|txn| txn.get(pods, namespace, name))
}

impl PodLogs {
    /// Append `line` to the log of `container` in pod `namespace/name`;
    /// false when there is no such pod.
    pub fn append(
        &self,
        store: &Store,
        namespace: &str,
        name: &str,
        container: &str,
        line: &str,
    ) -> bool {
        let Some(pod) = pod(store, namespace, name) else {
            return false;
        };
        let key = (
            namespace.to_string(),
            text(&pod, "/metadata/uid").to_string(),
            container.to_string(),
        );
        let mut appended = self.appended.lock().unwrap_or_else(|p| p.into_inner());
        let lines = appended.entry(key.clone()).or_default();
        lines.push(line.to_string());
        let index = lines.len() - 1;
        // No follower listening is fine.
        let _ = self.live.send(Arc::new(Appended {
            key,
            index,
            line: line.to_string(),
        }));
        true
    }

    fn lines(&self, key: &Key) -> Vec<String> {
        let appended = self.appended.lock().unwrap_or_else(|p| p.into_inner());
        appended.get(key).cloned().unwrap_or_default()
    }
}

/// The query of a log request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// `container`; may be left out when the pod has one.
    pub container: Option<String>,
    /// `tailLines`: only the last N lines.
    pub tail_lines: Option<usize>,
    /// `previous`: the last terminated run.
    pub previous: bool,
    /// `follow`: keep streaming.
    pub follow: bool,
    /// `limitBytes`: stop after this many bytes.
    pub limit_bytes: Option<usize>,
}

impl LogQuery {
    /// Parse the query parameters; a bad number is a `400`.
    pub fn parse(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let number = |name: &str| -> Result<Option<usize>, ApiError> {
            query
                .get(name)
                .map(|v| {
                    v.parse::<usize>().map_err(|_| {
                        ApiError::BadRequest(format!(
                            "invalid {name} {v:?}: must be a non-negative integer"
                        ))
                    })
                })
                .transpose()
        };
        let flag = |name: &str| query.get(name).is_some_and(|v| v == "true" || v == "1");
        Ok(Self {
            container: query.get("container").filter(|c| !c.is_empty()).cloned(),
            tail_lines: number("tailLines")?,
            previous: flag("previous"),
            follow: flag("follow"),
            limit_bytes: number("limitBytes")?,
        })
    }
}

fn container_names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| text(c, "/name").to_string())
        .collect()
}

/// The container the request names, or the only one, as the API server
/// chooses it.
fn choose_container(pod: &Value, name: &str, wanted: Option<&str>) -> Result<String, ApiError> {
    let containers = container_names(pod, "containers");
    let init = container_names(pod, "initContainers");
    match wanted {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::BadRequest(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::BadRequest(message))
        }
    }
}

fn unscheduled(pod: &Value) -> bool {
    text(pod, "/spec/nodeName").is_empty()
        || pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            })
}

/// The lines the request reads, before `tailLines` and `limitBytes`, and
/// whether appended lines belong to that run; `Err` as the kubelet refuses.
fn run_lines(
    pod: &Value,
    container: &str,
    previous: bool,
) -> Result<(Vec<String>, bool), ApiError> {
    let name = text(pod, "/metadata/name");
    let status = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|list| {
            pod.pointer(&format!("/status/{list}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .find(|s| text(s, "/name") == container)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "container {container:?} in pod {name:?} is not available"
            ))
        })?;
    let current_ran =
        status.pointer("/state/running").is_some() || status.pointer("/state/terminated").is_some();
    if previous {
        if status.pointer("/lastState/terminated").is_none() {
            return Err(ApiError::BadRequest(format!(
                "previous terminated container {container:?} in pod {name:?} not found"
            )));
        }
        let restarts = status
            .get("restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let image = text(status, "/image");
        let lines = vec![
            kubelet::start_line(container, image),
            kubelet::panic_line(container, restarts),
        ];
        // While waiting to restart, the last run is also what a plain read shows.
        return Ok((lines, !current_ran));
    }
    match kubelet::base_lines(status) {
        Some(lines) => Ok((lines, true)),
        None => Err(ApiError::BadRequest(kubelet::waiting_message(status, name))),
    }
}

/// Keep the last `tail` lines, then at most `limit` bytes.
pub fn bounded_text(lines: &[String], tail: Option<usize>, limit: Option<usize>) -> String {
    let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
    let mut out: String = lines[skip..].iter().map(|l| format!("{l}\n")).collect();
    if let Some(limit) = limit
        && out.len() > limit
    {
        let mut end = limit;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// Answer a log request for pod `namespace/name`.
pub fn serve(
    store: &Arc<Store>,
    logs: &Arc<PodLogs>,
    namespace: &str,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let params = LogQuery::parse(query)?;
    let pods = resources::by_kind("v1", "Pod").ok_or(ApiError::UnknownPath)?;
    // Subscribe before reading, so a follow misses nothing appended meanwhile.
    let (appended_rx, changes_rx) = (logs.live.subscribe(), store.subscribe());
    let pod = pod(store, namespace, name).ok_or_else(|| ApiError::not_found(pods, name))?;
    let container = choose_container(&pod, name, params.container.as_deref())?;
    if unscheduled(&pod) {
        return Ok(text_response(Body::empty()));
    }
    let (mut lines, with_appended) = run_lines(&pod, &container, params.previous)?;
    let key = (
        namespace.to_string(),
        text(&pod, "/metadata/uid").to_string(),
        container,
    );
    let appended = if with_appended {
        logs.lines(&key)
    } else {
        Vec::new()
    };
    let seen = appended.len();
    lines.extend(appended);
    let first = bounded_text(&lines, params.tail_lines, params.limit_bytes);
    if !params.follow || !with_appended {
        return Ok(text_response(Body::from(first)));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(FOLLOW_BUFFER);
    let left = params.limit_bytes.map(|l| l.saturating_sub(first.len()));
    let _ = tx.try_send(Bytes::from(first));
    let follow = Follow {
        tx,
        key,
        name: name.to_string(),
        seen,
        left,
        logs: logs.clone(),
    };
    tokio::spawn(follow.run(appended_rx, changes_rx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(text_response(Body::from_stream(body)))
}

fn text_response(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(body)
        .unwrap_or_default()
}

/// A follow under way.
struct Follow {
    tx: mpsc::Sender<Bytes>,
    key: Key,
    name: String,
    /// Appended lines already sent.
    seen: usize,
    /// Bytes `limitBytes` still allows.
    left: Option<usize>,
    logs: Arc<PodLogs>,
}

impl Follow {
    async fn run(
        mut self,
        mut appended: broadcast::Receiver<Arc<Appended>>,
        mut changes: broadcast::Receiver<Arc<super::store::Change>>,
    ) {
        loop {
            tokio::select! {
                _ = self.tx.closed() => return,
                line = appended.recv() => match line {
                    Ok(line) if line.key == self.key && line.index >= self.seen => {
                        self.seen = line.index + 1;
                        if !self.send(&line.line).await {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let missed: Vec<String> = self.logs.lines(&self.key).split_off(self.seen);
                        self.seen += missed.len();
                        for line in missed {
                            if !self.send(&line).await {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                change = changes.recv() => match change {
                    Ok(change) if change.change == ChangeType::Deleted
                        && change.resource.kind == "Pod"
                        && change.namespace == self.key.0
                        && text(&change.object, "/metadata/name") == self.name => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// Send one line within `limitBytes`; false when the follow ends.
    async fn send(&mut self, line: &str) -> bool {
        let mut chunk = format!("{line}\n");
        if let Some(left) = self.left.as_mut() {
            if *left == 0 {
                return false;
            }
            if chunk.len() > *left {
                chunk = bounded_text(&[line.to_string()], None, Some(*left));
            }
            *left -= chunk.len();
        }
        self.tx.send(Bytes::from(chunk)).await.is_ok()
    }
}
