//! The resource verbs behind one parsed path: get, list, watch, create,
//! update, patch, apply and delete, each counted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::ServerState;
use super::deletes;
use super::errors::{ApiError, qualified};
use super::reads::{self, ReadParams};
use super::routes::Target;
use super::selectors::{ObjectFilter, Selector};
use super::stats::Verb;
use super::store::Transaction;
use super::writes::{self, PatchKind, WriteTarget};

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

pub(crate) fn handle(
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
                counted(Verb::Create, &write),
                &label,
                created.map(|o| (StatusCode::CREATED, o)),
                None,
            );
        }
        ("PUT", Some(name)) => {
            let object = parse_body(body, false)?;
            let (version, updated) = versioned_write(state, &write, name, |txn| {
                writes::update(txn, &write, name, object)
            });
            return respond(
                state,
                counted(Verb::Update, &write),
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
                .transaction(|txn| deletes::delete(txn, &write, name));
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

/// The counter of a write: [`Verb::DryRun`] when nothing is stored.
fn counted(verb: Verb, write: &WriteTarget) -> Verb {
    if write.dry_run { Verb::DryRun } else { verb }
}

/// Runs a write, reading the object's version before it in the same
/// transaction, so that concurrent controller writes do not blur whether
/// this write changed anything.
fn versioned_write(
    state: &ServerState,
    write: &WriteTarget,
    name: &str,
    work: impl FnOnce(&mut Transaction) -> Result<Arc<Value>, ApiError>,
) -> (Option<Value>, Result<Arc<Value>, ApiError>) {
    state.store.transaction(|txn| {
        let before = txn
            .get(write.resource, &write.namespace, name)
            .and_then(|o| o.pointer("/metadata/resourceVersion").cloned());
        (before, work(txn))
    })
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
    if verb != Verb::DryRun
        && version_before.is_some()
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
    let (verb, (version, result)) = match media {
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
                versioned_write(state, write, name, |txn| {
                    writes::apply(txn, write, name, config, force)
                }),
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
                versioned_write(state, write, name, |txn| {
                    writes::patch(txn, write, name, kind, &patch)
                }),
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
        counted(verb, write),
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
            if deletes::delete(txn, &target, &text("/metadata/name")).is_ok() {
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
