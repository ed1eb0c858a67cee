//! HTTP routes of the receive role: webhooks, health, metrics and the
//! read-only status API. A webhook handler verifies, stores and answers; it
//! never touches git or the cluster.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;

use crate::event::Provider;
use crate::metrics::{Metrics, ProviderLabels, VerificationLabels};
use crate::secret::Secret;
use crate::store::inbox::Admission;
use crate::store::{Store, StoreError};
use crate::webhook::signature::verify_token;
use crate::webhook::{Hook, Inbound, Rejection};

/// `/hooks/{name}` routes and their providers. Sync's rollout reports
/// arrive on `rollouts` (`/hooks/sync` is sync's own nudge route).
pub const HOOK_ROUTES: &[(&str, Provider)] = &[
    ("github", Provider::GitHub),
    ("gitlab", Provider::GitLab),
    ("generic", Provider::Generic),
    ("harbor", Provider::Harbor),
    ("pubsub", Provider::PubSub),
    ("rollouts", Provider::Sync),
    ("operator", Provider::Operator),
];

/// `/hooks/{name}/{token}` routes: providers that authenticate by a token
/// in the URL.
pub const TOKEN_ROUTES: &[(&str, Provider)] =
    &[("dockerhub", Provider::DockerHub), ("quay", Provider::Quay)];

/// Most deliveries one status API call returns.
pub const MAX_LIST_LIMIT: usize = 500;
/// Deliveries listed when the caller names no limit.
pub const DEFAULT_LIST_LIMIT: usize = 50;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The embedded store.
    pub store: Store,
    /// Enabled providers.
    pub hooks: Arc<HashMap<Provider, Arc<dyn Hook>>>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Bearer token required on `/api/v1/*`, when configured.
    pub api_token: Option<Secret>,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// Wakes the worker when a delivery was stored.
    pub wake_worker: Arc<Notify>,
}

/// Errors a handler answers with. Each maps to one status and a short JSON
/// body that never holds a secret; the cause is logged once, here.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The delivery was refused.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// No provider at this route, or no such delivery.
    #[error("not found")]
    NotFound,
    /// Missing or wrong bearer token on the status API.
    #[error("unauthorized")]
    Unauthorized,
    /// The request does not fit the current state (one line saying why).
    #[error("{0}")]
    Conflict(String),
    /// The store failed; the sender should retry.
    #[error("store unavailable")]
    Store(#[from] StoreError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Rejected(Rejection::Unauthorized(_)) | ApiError::Unauthorized => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Rejected(Rejection::BadRequest(_)) => StatusCode::BAD_REQUEST,
            ApiError::Rejected(Rejection::UnsupportedMediaType(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::Rejected(Rejection::PayloadTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Store(e) => {
                tracing::error!(error = %crate::error_chain(e), "store failed while answering a request");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// The status API's deliveries: the list here, one delivery at `/{id}` (the
/// sender's delivery id, percent-encoded).
pub const DELIVERIES_PATH: &str = "/api/v1/deliveries";

/// The receive role's router.
pub fn router(state: AppState) -> Router {
    let hooks = Router::new()
        .route("/hooks/{name}/{token}", post(token_hook))
        .route("/hooks/{name}", post(provider_hook));
    let ops = ops_router(state.store.clone(), state.metrics.clone());
    Router::new()
        .merge(hooks)
        .route(DELIVERIES_PATH, get(list_deliveries))
        .route(&format!("{DELIVERIES_PATH}/{{id}}"), get(get_delivery))
        .with_state(state)
        .merge(ops)
}

/// `/healthz`, `/readyz` (the store answers) and `/metrics`, for any role.
pub fn ops_router(store: Store, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state((store, metrics))
}

async fn provider_hook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let provider = route_provider(HOOK_ROUTES, &name)?;
    accept(&state, provider, &headers, body, None).await
}

async fn token_hook(
    State(state): State<AppState>,
    Path((name, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let provider = route_provider(TOKEN_ROUTES, &name)?;
    accept(&state, provider, &headers, body, Some(&token)).await
}

fn route_provider(routes: &[(&str, Provider)], name: &str) -> Result<Provider, ApiError> {
    routes
        .iter()
        .find(|(route, _)| *route == name)
        .map(|(_, provider)| *provider)
        .ok_or(ApiError::NotFound)
}

/// The whole body, or a 413 once it is known to exceed `limit` bytes: from
/// a declared `Content-Length` before anything is read, or while reading a
/// chunked body, as soon as the limit is passed.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Rejection> {
    let too_large = Rejection::PayloadTooLarge { limit };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large),
        Err(e) => Err(Rejection::BadRequest(format!("read body: {e}"))),
    }
}

async fn accept(
    state: &AppState,
    provider: Provider,
    headers: &HeaderMap,
    body: Body,
    path_token: Option<&str>,
) -> Result<Response, ApiError> {
    let hook = state.hooks.get(&provider).ok_or(ApiError::NotFound)?;
    let started = Instant::now();
    let name = provider.as_str();
    hook.prepare(headers).await;
    let received = read_body(headers, body, state.max_body_bytes)
        .await
        .and_then(|body| {
            hook.receive(&Inbound {
                headers,
                body: &body,
                path_token,
                now: jiff::Timestamp::now().as_second(),
            })
        });
    let result = match received {
        Err(rejection) => {
            if let Rejection::Unauthorized(reason) = &rejection {
                state
                    .metrics
                    .verification_failures
                    .get_or_create(&VerificationLabels {
                        provider: name.to_string(),
                        reason: reason.label().to_string(),
                    })
                    .inc();
            }
            tracing::warn!(provider = name, reason = %rejection, "webhook refused");
            state.metrics.delivery(name, "none", "rejected");
            Err(ApiError::Rejected(rejection))
        }
        Ok(delivery) => {
            let kind = delivery.event.kind();
            let delivery_id = delivery.delivery_id.clone();
            match state.store.admit(delivery).await {
                Ok(Admission::Accepted(seq)) => {
                    state.wake_worker.notify_one();
                    state.metrics.delivery(name, kind, "accepted");
                    tracing::info!(
                        provider = name,
                        delivery_id,
                        seq,
                        event = kind,
                        "webhook accepted"
                    );
                    Ok((
                        StatusCode::ACCEPTED,
                        Json(json!({"status": "accepted", "delivery_id": delivery_id, "event": kind})),
                    )
                        .into_response())
                }
                Ok(Admission::Duplicate(_)) => {
                    state.metrics.delivery(name, kind, "duplicate");
                    Ok((
                        StatusCode::OK,
                        Json(json!({"status": "duplicate", "delivery_id": delivery_id})),
                    )
                        .into_response())
                }
                Err(e) => {
                    state.metrics.delivery(name, kind, "error");
                    Err(ApiError::Store(e))
                }
            }
        }
    };
    state
        .metrics
        .latency
        .get_or_create(&ProviderLabels {
            provider: name.to_string(),
        })
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn readyz(State((store, _)): State<(Store, Arc<Metrics>)>) -> Result<&'static str, ApiError> {
    store.count_pending().await?;
    Ok("ready")
}

async fn render_metrics(State((_, metrics)): State<(Store, Arc<Metrics>)>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    authorize_bearer(state.api_token.as_ref(), headers)
}

/// The bearer-token check of both roles' status APIs: `Authorization:
/// Bearer <token>` compared with [`verify_token`] (constant time over
/// SHA-256 digests, so neither the token nor its length leaks); any
/// request passes when no token is configured.
pub fn authorize_bearer(token: Option<&Secret>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Ok(());
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    verify_token(std::slice::from_ref(token), presented).map_err(|_| ApiError::Unauthorized)
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list_deliveries(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let limit = query
        .limit
        .unwrap_or(DEFAULT_LIST_LIMIT)
        .clamp(1, MAX_LIST_LIMIT);
    let deliveries = state.store.recent_deliveries(limit).await?;
    Ok(Json(json!({ "deliveries": deliveries })).into_response())
}

async fn get_delivery(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let delivery = state.store.delivery(id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(delivery).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_check_takes_only_the_exact_token() {
        let token = Secret::new("s3cret-token");
        let rows: &[(&str, Option<&str>, bool)] = &[
            ("the token", Some("Bearer s3cret-token"), true),
            ("no header", None, false),
            ("a prefix of it", Some("Bearer s3cret"), false),
            ("it and more", Some("Bearer s3cret-token-and-more"), false),
            ("an empty token", Some("Bearer "), false),
            ("another scheme", Some("Basic s3cret-token"), false),
        ];
        for (name, header, ok) in rows {
            let mut headers = HeaderMap::new();
            if let Some(value) = header {
                headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            }
            assert_eq!(
                authorize_bearer(Some(&token), &headers).is_ok(),
                *ok,
                "{name}"
            );
        }
        assert!(authorize_bearer(None, &HeaderMap::new()).is_ok());
    }
}
