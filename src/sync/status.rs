//! The sync role's HTTP surface: the status API and the nudge hook.
//!
//! `GET /api/v1/apps` and `GET /api/v1/apps/{app}/{env}` answer from the
//! store; `POST /api/v1/apps/{app}/{env}/retry` (`slipway retry`) asks for
//! a failed revision to run again; `POST /api/v1/apps/{app}/{env}/promote`
//! (`slipway promote --env`) lets a paused rollout go on and
//! `POST /api/v1/apps/{app}/{env}/abort` (`slipway abort`) cleans up the
//! rollout in flight; `GET /api/v1/apps/{app}/{env}/logs` (`slipway logs`)
//! streams the app/environment's pods' logs (see [`super::logs`]), the one
//! route that reads the cluster; `POST /hooks/sync` verifies a Standard
//! Webhooks signature against the nudge secrets and wakes the loop. Nothing
//! here touches git or writes to the cluster: the handlers only read, ask
//! and nudge.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;

use super::cluster::KubeCluster;
use super::logs::{self, LogsQuery};
use super::progressive::RolloutRequests;
use super::render::tools::ToolVersions;
use super::retry::{RetryRequests, TargetRequests};
use crate::secret::Secret;
use crate::server::{ApiError, authorize_bearer};
use crate::store::Store;
use crate::store::rollout::RolloutPhase;
use crate::webhook::Rejection;
use crate::webhook::signature::{
    SignatureError, StandardHeaders, StandardKey, verify_hub_signature, verify_standard,
    verify_token,
};

/// Largest nudge body accepted; a nudge carries little.
pub const MAX_NUDGE_BYTES: usize = 64 * 1024;

/// Largest push webhook body accepted (GitHub sends up to 25 MiB; a push
/// to a deploy repo is far smaller).
pub const MAX_PUSH_BYTES: usize = 5 * 1024 * 1024;

/// Shared state of the routes; cheap to clone.
#[derive(Clone)]
pub struct SyncHttpState {
    store: Store,
    nudge: Arc<Notify>,
    nudge_keys: Arc<Vec<StandardKey>>,
    tolerance_seconds: u64,
    bearer_token: Option<Arc<Secret>>,
    push_secrets: Arc<Vec<Secret>>,
    retries: RetryRequests,
    rollouts: RolloutRequests,
    render_tools: Option<ToolVersions>,
    cluster: Option<KubeCluster>,
}

impl std::fmt::Debug for SyncHttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHttpState").finish_non_exhaustive()
    }
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StatusSetupError {
    /// A nudge secret is not a Standard Webhooks secret.
    #[error("nudge secret {index} is not a whsec_ secret")]
    NudgeSecret {
        /// Its position in the list.
        index: usize,
    },
}

impl SyncHttpState {
    /// State answering from `store`, waking `nudge`, accepting nudges signed
    /// with any of `nudge_secrets`; the status API requires `bearer_token`
    /// when given.
    pub fn new(
        store: Store,
        nudge: Arc<Notify>,
        nudge_secrets: &[Secret],
        tolerance_seconds: u64,
        bearer_token: Option<Secret>,
    ) -> Result<Self, StatusSetupError> {
        let nudge_keys = nudge_secrets
            .iter()
            .enumerate()
            .map(|(index, s)| {
                StandardKey::from_secret(s).map_err(|_| StatusSetupError::NudgeSecret { index })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SyncHttpState {
            store,
            nudge,
            nudge_keys: Arc::new(nudge_keys),
            tolerance_seconds,
            bearer_token: bearer_token.map(Arc::new),
            push_secrets: Arc::default(),
            retries: RetryRequests::default(),
            rollouts: RolloutRequests::default(),
            render_tools: None,
            cluster: None,
        })
    }

    /// Also accept the deploy repo's GitHub or GitLab push webhook, signed
    /// with one of `secrets`.
    pub fn with_push_secrets(mut self, secrets: Vec<Secret>) -> Self {
        self.push_secrets = Arc::new(secrets);
        self
    }
}

impl SyncHttpState {
    /// Hand `slipway retry` requests to the loop through `retries`.
    pub fn with_retries(mut self, retries: RetryRequests) -> Self {
        self.retries = retries;
        self
    }

    /// Hand `slipway promote --env` and `slipway abort` to the loop.
    pub fn with_rollouts(mut self, rollouts: RolloutRequests) -> Self {
        self.rollouts = rollouts;
        self
    }

    /// Read pods' logs from `cluster` for `slipway logs`; without one that
    /// route answers `503`.
    pub fn with_cluster(mut self, cluster: Option<KubeCluster>) -> Self {
        self.cluster = cluster;
        self
    }

    /// Show the render tools' versions beside the apps.
    pub fn with_render_tools(mut self, versions: Option<ToolVersions>) -> Self {
        self.render_tools = versions;
        self
    }
}

/// The routes of the sync role, to be merged into the server's router.
pub fn routes(state: SyncHttpState) -> Router {
    Router::new()
        .route("/api/v1/apps", get(list_apps))
        .route("/api/v1/apps/{app}/{env}", get(show_app))
        .route("/api/v1/apps/{app}/{env}/retry", post(retry))
        .route("/api/v1/apps/{app}/{env}/promote", post(promote))
        .route("/api/v1/apps/{app}/{env}/abort", post(abort))
        .route("/api/v1/apps/{app}/{env}/logs", get(app_logs))
        .route(
            "/hooks/sync",
            post(nudge).layer(DefaultBodyLimit::max(MAX_NUDGE_BYTES)),
        )
        .route(
            "/hooks/sync/push",
            post(push).layer(DefaultBodyLimit::max(MAX_PUSH_BYTES)),
        )
        .with_state(state)
}

fn authorize(state: &SyncHttpState, headers: &HeaderMap) -> Result<(), ApiError> {
    authorize_bearer(state.bearer_token.as_deref(), headers)
}

async fn list_apps(
    State(state): State<SyncHttpState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let apps = state.store.sync_statuses().await.map_err(ApiError::Store)?;
    Ok(
        axum::Json(serde_json::json!({ "apps": apps, "render_tools": state.render_tools }))
            .into_response(),
    )
}

/// The status of an app/environment sync knows, for an authorised caller.
async fn known_status(
    state: &SyncHttpState,
    headers: &HeaderMap,
    app: &str,
    env: &str,
) -> Result<crate::store::sync_state::TargetStatus, ApiError> {
    authorize(state, headers)?;
    state
        .store
        .sync_status(app, env)
        .await
        .map_err(ApiError::Store)?
        .ok_or(ApiError::NotFound)
}

async fn show_app(
    State(state): State<SyncHttpState>,
    Path((app, env)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let status = known_status(&state, &headers, &app, &env).await?;
    let history = state
        .store
        .sync_history(&app, &env)
        .await
        .map_err(ApiError::Store)?;
    let mut body = serde_json::to_value(status).unwrap_or_default();
    body["history"] = serde_json::to_value(history).unwrap_or_default();
    Ok(axum::Json(body).into_response())
}

/// `slipway retry`: run the app/environment's failed revision again (and
/// retry a cluster problem now); answers `202` with what will be retried.
async fn retry(
    State(state): State<SyncHttpState>,
    Path((app, env)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let status = known_status(&state, &headers, &app, &env).await?;
    state.retries.request(&app, &env);
    state.nudge.notify_one();
    let body = serde_json::json!({
        "app": app,
        "environment": env,
        "state": status.state.as_str(),
        "failed_revision": status.failed_revision,
        "last_error": status.last_error,
        "retry": "requested",
    });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// `slipway promote APP --env ENV`: a rollout goes past its pause (now, or
/// when it reaches it); `409` in any other phase (nothing in flight, or
/// already switching, draining, promoting or cleaning up).
async fn promote(
    State(state): State<SyncHttpState>,
    Path((app, env)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let requests = state.rollouts.promote.clone();
    let waits = [
        RolloutPhase::Deploying,
        RolloutPhase::Paused,
        RolloutPhase::Stepping,
    ];
    rollout_request(
        &state,
        &headers,
        (&app, &env),
        &requests,
        ("promote", &waits),
    )
    .await
}

/// `slipway abort APP --env ENV`: clean up the rollout in flight (traffic
/// back to the stable colour, the new one deleted); `409` when none is.
async fn abort(
    State(state): State<SyncHttpState>,
    Path((app, env)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let requests = state.rollouts.abort.clone();
    let stoppable = [
        RolloutPhase::Deploying,
        RolloutPhase::Paused,
        RolloutPhase::Stepping,
        RolloutPhase::Switching,
        RolloutPhase::Draining,
        RolloutPhase::Promoting,
    ];
    rollout_request(
        &state,
        &headers,
        (&app, &env),
        &requests,
        ("abort", &stoppable),
    )
    .await
}

async fn rollout_request(
    state: &SyncHttpState,
    headers: &HeaderMap,
    (app, env): (&str, &str),
    requests: &TargetRequests,
    (what, phases): (&str, &[RolloutPhase]),
) -> Result<Response, ApiError> {
    let status = known_status(state, headers, app, env).await?;
    let phase = status
        .rollout
        .as_ref()
        .map_or(RolloutPhase::Idle, |r| r.phase);
    if !phases.contains(&phase) {
        return Err(ApiError::Conflict(format!(
            "{app}/{env} has no rollout to {what} in phase {}",
            phase.as_str()
        )));
    }
    requests.request(app, env);
    state.nudge.notify_one();
    let body = serde_json::json!({
        "app": app,
        "environment": env,
        "phase": phase.as_str(),
        what: "requested",
    });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// `slipway logs`: the app/environment's pods' logs as `text/plain`,
/// `pod/container: ` before each line; `?follow=true&revision=new|old&tail=N`.
async fn app_logs(
    State(state): State<SyncHttpState>,
    Path((app, env)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    known_status(&state, &headers, &app, &env)
        .await
        .map_err(IntoResponse::into_response)?;
    logs::stream(state.cluster.as_ref(), (&app, &env), query)
        .await
        .map_err(IntoResponse::into_response)
}

async fn nudge(
    State(state): State<SyncHttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp)) = (header("webhook-id"), header("webhook-timestamp")) else {
        return Err(missing_headers());
    };
    let sent = StandardHeaders {
        id,
        timestamp,
        signature: header("webhook-signature"),
    };
    let now = jiff::Timestamp::now().as_second();
    verify_standard(&state.nudge_keys, sent, &body, now, state.tolerance_seconds)
        .map_err(refusal)?;
    state.nudge.notify_one();
    Ok(StatusCode::ACCEPTED)
}

fn refusal(e: SignatureError) -> ApiError {
    match e {
        SignatureError::Missing => missing_headers(),
        other => ApiError::Rejected(Rejection::Unauthorized(other)),
    }
}

fn missing_headers() -> ApiError {
    ApiError::Rejected(Rejection::BadRequest("missing webhook headers".into()))
}

/// The deploy repo's own push webhook: GitHub (`X-Hub-Signature-256`, HMAC
/// of the body) or GitLab (`X-Gitlab-Token`). A push nudges the loop; pings
/// and other events are acknowledged and ignored.
async fn push(
    State(state): State<SyncHttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let event = if let Some(signature) = header("x-hub-signature-256") {
        verify_hub_signature(&state.push_secrets, Some(signature), &body).map_err(refusal)?;
        header("x-github-event")
    } else if let Some(token) = header("x-gitlab-token") {
        verify_token(&state.push_secrets, Some(token)).map_err(refusal)?;
        header("x-gitlab-event")
    } else {
        return Err(missing_headers());
    };
    match event {
        Some("push" | "Push Hook") => {
            state.nudge.notify_one();
            Ok(StatusCode::ACCEPTED)
        }
        _ => Ok(StatusCode::OK),
    }
}
