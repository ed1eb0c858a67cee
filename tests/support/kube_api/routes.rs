//! HTTP routes: discovery, OpenAPI, resource paths parsed by hand (the
//! resource path space is ambiguous for a route table), and test controls.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::ServerState;
use super::discovery;
use super::errors::{ApiError, qualified};
use super::reads::{self, ReadParams};
use super::resources::{self, ResourceType};
use super::rollout::RolloutOutcome;
use super::selectors::{ObjectFilter, Selector};
use super::stats::Verb;
use super::writes::{self, PatchKind, WriteTarget};

/// The router of the whole server.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/version", get(|| async { Json(discovery::version()) }))
        .route("/api", get(core_discovery))
        .route("/apis", get(group_discovery))
        .route(
            "/openapi/v3",
            get(|| async { Json(discovery::openapi_root()) }),
        )
        .route(
            "/_test/stats",
            get(|State(s): State<ServerState>| async move { Json(s.counters.snapshot()) }),
        )
        .route(
            "/_test/reset-stats",
            post(|State(s): State<ServerState>| async move {
                s.counters.reset();
                StatusCode::NO_CONTENT
            }),
        )
        .route("/_test/rollout-outcome", post(set_outcome))
        .fallback(dispatch)
        .with_state(state)
}

async fn core_discovery(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    state.counters.record(Verb::Discovery, "discovery");
    if discovery::wants_aggregated(&headers) {
        return aggregated(discovery::aggregated(true));
    }
    Json(discovery::core_versions(&state.address)).into_response()
}

async fn group_discovery(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    state.counters.record(Verb::Discovery, "discovery");
    if discovery::wants_aggregated(&headers) {
        return aggregated(discovery::aggregated(false));
    }
    Json(discovery::group_list()).into_response()
}

fn aggregated(document: Value) -> Response {
    (
        [(header::CONTENT_TYPE, discovery::AGGREGATED_CONTENT_TYPE)],
        document.to_string(),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct OutcomeRequest {
    namespace: Option<String>,
    name: Option<String>,
    outcome: Option<RolloutOutcome>,
}

/// `POST /_test/rollout-outcome {"namespace","name","outcome"}`; without a
/// name it sets the global outcome; a null outcome clears.
async fn set_outcome(
    State(state): State<ServerState>,
    Json(request): Json<OutcomeRequest>,
) -> StatusCode {
    match request.name {
        Some(name) => state.outcomes.set_for(
            request.namespace.as_deref().unwrap_or("default"),
            &name,
            request.outcome,
        ),
        None => state.outcomes.set_global(request.outcome),
    }
    StatusCode::NO_CONTENT
}

/// A parsed resource path.
struct Target {
    resource: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

/// `/api/v1/...` or `/apis/{group}/{version}/...` split into group, version and the rest.
fn split_group_version(path: &str) -> Option<(String, String, Vec<String>)> {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    match segments.as_slice() {
        [api, version, rest @ ..] if api == "api" => {
            Some((String::new(), version.clone(), rest.to_vec()))
        }
        [apis, group, version, rest @ ..] if apis == "apis" => {
            Some((group.clone(), version.clone(), rest.to_vec()))
        }
        _ => None,
    }
}

fn parse_target(group: &str, version: &str, rest: &[String]) -> Option<Target> {
    let find = |plural: &str| resources::find(group, version, plural);
    let target = |resource,
                  namespace: Option<&String>,
                  name: Option<&String>,
                  sub: Option<&String>| Target {
        resource,
        namespace: namespace.cloned(),
        name: name.cloned(),
        subresource: sub.cloned(),
    };
    match rest {
        [ns_word, ns, plural, tail @ ..]
            if ns_word == "namespaces"
                && find(plural).is_some_and(|r| r.namespaced)
                && tail.len() <= 2 =>
        {
            Some(target(find(plural)?, Some(ns), tail.first(), tail.get(1)))
        }
        [plural, tail @ ..] if tail.len() <= 2 => {
            let resource = find(plural)?;
            if resource.namespaced && !tail.is_empty() {
                return None;
            }
            Some(target(resource, None, tail.first(), tail.get(1)))
        }
        _ => None,
    }
}

async fn dispatch(
    State(state): State<ServerState>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/openapi/v3/") {
        state.counters.record(Verb::Discovery, "openapi");
        let (group, version) = match split_group_version(rest) {
            Some((group, version, tail)) if tail.is_empty() => (group, version),
            _ => return ApiError::UnknownPath.into_response(),
        };
        return match discovery::openapi_group_version(&group, &version) {
            Some(document) => Json(document).into_response(),
            None => ApiError::UnknownPath.into_response(),
        };
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let ["apis", group] = segments.as_slice() {
        state.counters.record(Verb::Discovery, "discovery");
        return discovery::group(group)
            .map(|d| Json(d).into_response())
            .unwrap_or_else(|| ApiError::UnknownPath.into_response());
    }
    let Some((group, version, rest)) = split_group_version(path) else {
        return ApiError::UnknownPath.into_response();
    };
    if rest.is_empty() {
        state.counters.record(Verb::Discovery, "discovery");
        return match discovery::resource_list(&group, &version) {
            Some(document) => Json(document).into_response(),
            None => ApiError::UnknownPath.into_response(),
        };
    }
    let Some(target) = parse_target(&group, &version, &rest) else {
        return ApiError::UnknownPath.into_response();
    };
    match handle(&state, &method, &target, &query, &headers, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn read_params(query: &HashMap<String, String>) -> Result<ReadParams, ApiError> {
    let selector = |name: &str| -> Result<Selector, ApiError> {
        match query.get(name) {
            None => Ok(Selector::default()),
            Some(text) => Selector::parse(text).ok_or_else(|| {
                ApiError::BadRequest(format!("unable to parse requirement: {text:?}"))
            }),
        }
    };
    let filter = ObjectFilter {
        labels: selector("labelSelector")?,
        fields: selector("fieldSelector")?,
    };
    Ok(ReadParams {
        filter,
        resource_version: query.get("resourceVersion").cloned(),
        limit: query.get("limit").and_then(|l| l.parse().ok()),
        continue_token: query.get("continue").cloned().filter(|c| !c.is_empty()),
        timeout: query
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs),
        bookmarks: query
            .get("allowWatchBookmarks")
            .is_some_and(|v| v == "true"),
        send_initial_events: query.get("sendInitialEvents").is_some_and(|v| v == "true"),
    })
}

/// The field manager: `fieldManager`, else the client's user agent up to its first `/`.
fn manager(query: &HashMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return manager.clone();
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    agent.split('/').next().unwrap_or("unknown").to_string()
}

fn parse_body(body: &Bytes, yaml_allowed: bool) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("request body is not UTF-8".into()))?;
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(_) if yaml_allowed => serde_saphyr::from_str(text)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}"))),
        Err(e) => Err(ApiError::BadRequest(format!("error decoding JSON: {e}"))),
    }
}

fn handle(
    state: &ServerState,
    method: &Method,
    target: &Target,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    let label = qualified(resource);
    let namespace = target.namespace.clone().unwrap_or_default();
    let write = WriteTarget {
        resource,
        namespace: namespace.clone(),
        subresource: target.subresource.clone().unwrap_or_default(),
        manager: manager(query, headers),
        dry_run: query.get("dryRun").is_some_and(|d| d == "All"),
    };
    if target
        .subresource
        .as_deref()
        .is_some_and(|s| s != "status" || !resource.has_status)
    {
        return Err(ApiError::UnknownPath);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ns_filter = target.namespace.as_deref();
    let (verb, result) = match (method.as_str(), target.name.as_deref()) {
        ("GET", None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            state.counters.record(Verb::Watch, &label);
            let params = read_params(query)?;
            return Ok(reads::watch(
                &state.store,
                resource,
                ns_filter,
                params,
                state.config.bookmark_interval,
            ));
        }
        ("GET", None) => (
            Verb::List,
            reads::list(&state.store, resource, ns_filter, &read_params(query)?).map(Json),
        ),
        ("GET", Some(name)) => {
            let found = state
                .store
                .transaction(|txn| txn.get(resource, &namespace, name));
            (
                Verb::Get,
                found
                    .map(|o| Json((*o).clone()))
                    .ok_or_else(|| ApiError::not_found(resource, name)),
            )
        }
        ("POST", None) => {
            let object = parse_body(body, false)?;
            let created = state
                .store
                .transaction(|txn| writes::create(txn, &write, object));
            return respond(
                state,
                Verb::Create,
                &label,
                created.map(|o| (StatusCode::CREATED, o)),
                None,
            );
        }
        ("PUT", Some(name)) => {
            let object = parse_body(body, false)?;
            let version = current_version(state, resource, &namespace, name);
            let updated = state
                .store
                .transaction(|txn| writes::update(txn, &write, name, object));
            return respond(
                state,
                Verb::Update,
                &label,
                updated.map(|o| (StatusCode::OK, o)),
                version,
            );
        }
        ("PATCH", Some(name)) => {
            return patch(state, &write, &label, name, content_type, query, body);
        }
        ("DELETE", Some(name)) => {
            let deleted = state
                .store
                .transaction(|txn| writes::delete(txn, &write, name));
            (Verb::Delete, deleted.map(Json))
        }
        ("DELETE", None) => (
            Verb::Delete,
            delete_collection(state, &write, ns_filter, query).map(Json),
        ),
        _ => return Err(ApiError::MethodNotAllowed),
    };
    state.counters.record(verb, &label);
    result.map(IntoResponse::into_response)
}

fn current_version(
    state: &ServerState,
    resource: &'static ResourceType,
    namespace: &str,
    name: &str,
) -> Option<Value> {
    state
        .store
        .transaction(|txn| txn.get(resource, namespace, name))
        .and_then(|o| o.pointer("/metadata/resourceVersion").cloned())
}

/// Counts the request, notes a write that changed nothing, and answers.
fn respond(
    state: &ServerState,
    verb: Verb,
    label: &str,
    result: Result<(StatusCode, std::sync::Arc<Value>), ApiError>,
    version_before: Option<Value>,
) -> Result<Response, ApiError> {
    state.counters.record(verb, label);
    let (code, object) = result?;
    if version_before.is_some()
        && object.pointer("/metadata/resourceVersion") == version_before.as_ref()
    {
        state.counters.record_unchanged();
    }
    Ok((code, Json((*object).clone())).into_response())
}

fn patch(
    state: &ServerState,
    write: &WriteTarget,
    label: &str,
    name: &str,
    content_type: &str,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    let version = current_version(state, write.resource, &write.namespace, name);
    let (verb, result) = match media {
        "application/apply-patch+yaml" => {
            if query.get("fieldManager").is_none_or(|m| m.is_empty()) {
                state.counters.record(Verb::Apply, label);
                return Err(ApiError::BadRequest(
                    "PATCH, fieldManager is required for apply requests".into(),
                ));
            }
            let force = query.get("force").is_some_and(|f| f == "true");
            let config = parse_body(body, true)?;
            (
                Verb::Apply,
                state
                    .store
                    .transaction(|txn| writes::apply(txn, write, name, config, force)),
            )
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let kind = if media.starts_with("application/merge") {
                PatchKind::Merge
            } else {
                PatchKind::Strategic
            };
            let patch = parse_body(body, false)?;
            (
                Verb::Patch,
                state
                    .store
                    .transaction(|txn| writes::patch(txn, write, name, kind, &patch)),
            )
        }
        _ => {
            state.counters.record(Verb::Patch, label);
            return Err(ApiError::UnsupportedMediaType);
        }
    };
    let created = version.is_none();
    respond(
        state,
        verb,
        label,
        result.map(|o| {
            (
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                o,
            )
        }),
        version,
    )
}

fn delete_collection(
    state: &ServerState,
    write: &WriteTarget,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let params = read_params(query)?;
    let deleted = state.store.transaction(|txn| {
        let doomed: Vec<std::sync::Arc<Value>> = txn
            .list(write.resource, namespace)
            .into_iter()
            .filter(|o| params.filter.matches(o))
            .collect();
        let mut deleted = Vec::new();
        for object in doomed {
            let text = |p: &str| {
                object
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let target = WriteTarget {
                namespace: text("/metadata/namespace"),
                ..write.clone()
            };
            if writes::delete(txn, &target, &text("/metadata/name")).is_ok() {
                deleted.push((*object).clone());
            }
        }
        deleted
    });
    let resource = write.resource;
    Ok(
        serde_json::json!({"kind": format!("{}List", resource.kind), "apiVersion": resource.api_version(), "metadata": {}, "items": deleted}),
    )
}
