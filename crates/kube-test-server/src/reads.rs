//! List with selectors and pages, and watch as a stream of newline-delimited
//! JSON events with bookmarks, timeouts and `410 Expired` for old versions.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::errors::ApiError;
use super::resources::ResourceType;
use super::selectors::ObjectFilter;
use super::store::{Change, ChangeType, Store};

/// Longest a watch stays open when the client sets no `timeoutSeconds`.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Events a watch stream may have buffered towards a slow client.
const WATCH_BUFFER: usize = 256;

/// Parameters of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct ReadParams {
    /// Selectors.
    pub filter: ObjectFilter,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `limit`.
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
}

/// Lists are served without `apiVersion`/`kind` on built-in items, as the real server does.
fn list_item(resource: &ResourceType, object: &Value) -> Value {
    let mut item = object.clone();
    if resource.group != "example.slipway.dev"
        && let Some(map) = item.as_object_mut()
    {
        map.remove("apiVersion");
        map.remove("kind");
    }
    item
}

fn object_key(object: &Value) -> String {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    format!("{}/{}", text("/metadata/namespace"), text("/metadata/name"))
}

/// `GET` of a collection.
pub fn list(
    store: &Store,
    resource: &'static ResourceType,
    namespace: Option<&str>,
    params: &ReadParams,
) -> Result<Value, ApiError> {
    let (objects, current) =
        store.transaction(|txn| (txn.list(resource, namespace), txn.resource_version()));
    let (list_version, after) = match &params.continue_token {
        Some(token) => decode_continue(token)
            .ok_or_else(|| ApiError::BadRequest("invalid continue token".into()))?,
        None => (current, String::new()),
    };
    if list_version < store.compacted_below() {
        return Err(ApiError::Expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
        ));
    }
    let matching: Vec<&Arc<Value>> = objects
        .iter()
        .filter(|o| params.filter.matches(o))
        .filter(|o| after.is_empty() || object_key(o) > after)
        .collect();
    let page_size = params.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let items: Vec<Value> = matching
        .iter()
        .take(page_size)
        .map(|o| list_item(resource, o))
        .collect();
    let mut metadata = json!({"resourceVersion": list_version.to_string()});
    if matching.len() > page_size {
        let last = matching
            .get(page_size - 1)
            .map(|o| object_key(o))
            .unwrap_or_default();
        metadata["continue"] = json!(encode_continue(list_version, &last));
        metadata["remainingItemCount"] = json!(matching.len() - page_size);
    }
    Ok(
        json!({"kind": format!("{}List", resource.kind), "apiVersion": resource.api_version(), "metadata": metadata, "items": items}),
    )
}

fn encode_continue(version: u64, after: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({"rv": version, "start": after}).to_string())
}

fn decode_continue(token: &str) -> Option<(u64, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        value.get("rv")?.as_u64()?,
        value.get("start")?.as_str()?.to_string(),
    ))
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn bookmark(resource: &ResourceType, version: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": version.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event_line(
        "BOOKMARK",
        &json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata}),
    )
}

/// What a change looks like through a selector: objects moving out of the
/// selection are reported deleted, objects moving in are reported added.
fn visible_event(filter: &ObjectFilter, change: &Change) -> Option<&'static str> {
    let now = filter.matches(&change.object);
    let before = change.previous.as_ref().is_some_and(|p| filter.matches(p));
    match change.change {
        ChangeType::Deleted => before.then_some("DELETED"),
        ChangeType::Added => now.then_some("ADDED"),
        ChangeType::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }
}

/// `GET ...?watch=true`.
pub fn watch(
    store: &Store,
    resource: &'static ResourceType,
    namespace: Option<&str>,
    params: ReadParams,
    bookmark_interval: Duration,
) -> Response {
    let from = match params.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(_) if params.send_initial_events => None,
        Some(text) => text.parse::<u64>().ok(),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(WATCH_BUFFER);
    match store.watch(resource, namespace, from) {
        Err(oldest) => {
            let status = ApiError::Expired(format!(
                "too old resource version: {} ({oldest})",
                from.unwrap_or(0)
            ))
            .status();
            let _ = tx.try_send(event_line("ERROR", &status));
        }
        Ok(start) => {
            let namespace = namespace.map(str::to_string);
            tokio::spawn(stream_events(
                tx,
                resource,
                namespace,
                params,
                start,
                bookmark_interval,
            ));
        }
    }
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(body))
        .unwrap_or_default()
}

async fn stream_events(
    tx: mpsc::Sender<Bytes>,
    resource: &'static ResourceType,
    namespace: Option<String>,
    params: ReadParams,
    start: super::store::WatchStart,
    bookmark_interval: Duration,
) {
    let mut progress = start.resource_version;
    for object in start.initial.iter().filter(|o| params.filter.matches(o)) {
        if tx.send(event_line("ADDED", object)).await.is_err() {
            return;
        }
    }
    if params.send_initial_events
        && params.bookmarks
        && tx.send(bookmark(resource, progress, true)).await.is_err()
    {
        return;
    }
    for change in &start.replay {
        progress = progress.max(change.resource_version);
        if let Some(kind) = visible_event(&params.filter, change)
            && tx.send(event_line(kind, &change.object)).await.is_err()
        {
            return;
        }
    }
    let last_replayed = start.replay.last().map_or(0, |c| c.resource_version);
    let deadline = tokio::time::sleep(params.timeout.unwrap_or(DEFAULT_WATCH_TIMEOUT));
    tokio::pin!(deadline);
    let mut ticks = tokio::time::interval(bookmark_interval);
    ticks.tick().await;
    let mut live = start.live;
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = ticks.tick(), if params.bookmarks => {
                if tx.send(bookmark(resource, progress, false)).await.is_err() {
                    return;
                }
            }
            received = live.recv() => match received {
                Ok(change) => {
                    progress = progress.max(change.resource_version);
                    let relevant = std::ptr::eq(change.resource, resource)
                        && change.resource_version > last_replayed
                        && namespace.as_deref().is_none_or(|ns| ns == change.namespace);
                    if let Some(kind) = visible_event(&params.filter, &change).filter(|_| relevant)
                        && tx.send(event_line(kind, &change.object)).await.is_err()
                    {
                        return;
                    }
                }
                // A watcher too slow for the broadcast is closed; the client
                // re-watches from its last version, as after a server restart.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
