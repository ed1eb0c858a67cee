//! HTTP routes: discovery, OpenAPI, resource paths parsed by hand (the
//! resource path space is ambiguous for a route table), and test controls.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::ServerState;
use super::discovery;
use super::errors::ApiError;
use super::resources::{self, ResourceType};
use super::rollout::RolloutOutcome;
use super::stats::Verb;
use super::verbs;

/// The router of the whole server.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/version", get(|| async { Json(discovery::version()) }))
        .route("/api", get(core_discovery))
        .route("/apis", get(group_discovery))
        .route(
            "/openapi/v3",
            get(|State(s): State<ServerState>| async move {
                Json(discovery::openapi_root(&s.served.all()))
            }),
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
        .route("/_test/pod-log", post(append_pod_log))
        .fallback(dispatch)
        .with_state(state)
}

async fn core_discovery(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    state.counters.record(Verb::Discovery, "discovery");
    if discovery::wants_aggregated(&headers) {
        return aggregated(discovery::aggregated(&state.served.all(), true));
    }
    Json(discovery::core_versions(&state.address)).into_response()
}

async fn group_discovery(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    state.counters.record(Verb::Discovery, "discovery");
    let served = state.served.all();
    if discovery::wants_aggregated(&headers) {
        return aggregated(discovery::aggregated(&served, false));
    }
    Json(discovery::group_list(&served)).into_response()
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

#[derive(serde::Deserialize)]
struct PodLogLine {
    namespace: Option<String>,
    pod: String,
    container: String,
    line: String,
}

/// `POST /_test/pod-log {"namespace","pod","container","line"}`: append a
/// line to a container's log; `404` when there is no such pod.
async fn append_pod_log(
    State(state): State<ServerState>,
    Json(request): Json<PodLogLine>,
) -> StatusCode {
    let namespace = request.namespace.as_deref().unwrap_or("default");
    if state.logs.append(
        &state.store,
        namespace,
        &request.pod,
        &request.container,
        &request.line,
    ) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

/// A parsed resource path.
pub(crate) struct Target {
    /// The resource type.
    pub resource: &'static ResourceType,
    /// Namespace in the path, if any.
    pub namespace: Option<String>,
    /// Object name, if any.
    pub name: Option<String>,
    /// `status`, if addressed.
    pub subresource: Option<String>,
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

fn parse_target(
    served: &resources::Served,
    group: &str,
    version: &str,
    rest: &[String],
) -> Option<Target> {
    let find = |plural: &str| served.find(group, version, plural);
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
    State(mut state): State<ServerState>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers
        .get(header::USER_AGENT)
        .is_some_and(|agent| agent == super::STAND_IN_USER_AGENT)
    {
        state.counters = state.stand_in_counters.clone();
    }
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/openapi/v3/") {
        state.counters.record(Verb::Discovery, "openapi");
        let (group, version) = match split_group_version(rest) {
            Some((group, version, tail)) if tail.is_empty() => (group, version),
            _ => return ApiError::UnknownPath.into_response(),
        };
        return match discovery::openapi_group_version(&state.served.all(), &group, &version) {
            Some(document) => Json(document).into_response(),
            None => ApiError::UnknownPath.into_response(),
        };
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let ["apis", group] = segments.as_slice() {
        state.counters.record(Verb::Discovery, "discovery");
        return discovery::group(&state.served.all(), group)
            .map(|d| Json(d).into_response())
            .unwrap_or_else(|| ApiError::UnknownPath.into_response());
    }
    let Some((group, version, rest)) = split_group_version(path) else {
        return ApiError::UnknownPath.into_response();
    };
    if rest.is_empty() {
        state.counters.record(Verb::Discovery, "discovery");
        return match discovery::resource_list(&state.served.all(), &group, &version) {
            Some(document) => Json(document).into_response(),
            None => ApiError::UnknownPath.into_response(),
        };
    }
    let Some(target) = parse_target(&state.served, &group, &version, &rest) else {
        return ApiError::UnknownPath.into_response();
    };
    if target.resource.kind == "Pod" && target.subresource.as_deref() == Some("log") {
        return pod_log(&state, &method, &target, &query);
    }
    if target.resource.kind == "Pod" && target.subresource.as_deref() == Some("binding") {
        return pod_binding(&state, &method, &target, &body);
    }
    if method == Method::DELETE {
        state.held_deletes.wait(target.resource.kind).await;
    }
    match verbs::handle(&state, &method, &target, &query, &headers, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// `POST .../pods/{name}/binding`.
fn pod_binding(state: &ServerState, method: &Method, target: &Target, body: &[u8]) -> Response {
    let (Some(namespace), Some(name)) = (target.namespace.as_deref(), target.name.as_deref())
    else {
        return ApiError::UnknownPath.into_response();
    };
    if method != Method::POST {
        return ApiError::MethodNotAllowed.into_response();
    }
    state.counters.record(Verb::Create, "pods/binding");
    super::binding::bind(&state.store, target.resource, namespace, name, body)
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET .../pods/{name}/log`.
fn pod_log(
    state: &ServerState,
    method: &Method,
    target: &Target,
    query: &HashMap<String, String>,
) -> Response {
    let (Some(namespace), Some(name)) = (target.namespace.as_deref(), target.name.as_deref())
    else {
        return ApiError::UnknownPath.into_response();
    };
    if method != Method::GET {
        return ApiError::MethodNotAllowed.into_response();
    }
    state.counters.record(Verb::Get, "pods/log");
    super::logs::serve(&state.store, &state.logs, namespace, name, query)
        .unwrap_or_else(IntoResponse::into_response)
}
