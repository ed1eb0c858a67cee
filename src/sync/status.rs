//! The sync role's HTTP surface: the status API and the nudge hook.
//!
//! `GET /api/v1/apps` and `GET /api/v1/apps/{app}/{env}` answer from the
//! store; `POST /hooks/sync` verifies a Standard Webhooks signature against
//! the nudge secrets and wakes the loop. Nothing here touches git or the
//! cluster: the handler only nudges.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use super::report::{sign, signing_key};
use crate::secret::Secret;
use crate::store::{Store, StoreError};

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
    nudge_keys: Arc<Vec<Vec<u8>>>,
    tolerance_seconds: i64,
    bearer_token: Option<Arc<Secret>>,
    push_secrets: Arc<Vec<Secret>>,
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
            .map(|(index, s)| signing_key(s).map_err(|_| StatusSetupError::NudgeSecret { index }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SyncHttpState {
            store,
            nudge,
            nudge_keys: Arc::new(nudge_keys),
            tolerance_seconds: i64::try_from(tolerance_seconds).unwrap_or(i64::MAX),
            bearer_token: bearer_token.map(Arc::new),
            push_secrets: Arc::default(),
        })
    }

    /// Also accept the deploy repo's GitHub or GitLab push webhook, signed
    /// with one of `secrets`.
    pub fn with_push_secrets(mut self, secrets: Vec<Secret>) -> Self {
        self.push_secrets = Arc::new(secrets);
        self
    }
}

/// The routes of the sync role, to be merged into the server's router.
pub fn routes(state: SyncHttpState) -> Router {
    Router::new()
        .route("/api/v1/apps", get(list_apps))
        .route("/api/v1/apps/{app}/{env}", get(show_app))
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

/// An HTTP failure: a status and a short JSON body without secrets.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No or wrong bearer token.
    #[error("unauthorized")]
    Unauthorized,
    /// Nothing synced under that name.
    #[error("not found")]
    NotFound,
    /// A nudge without the Standard Webhooks headers.
    #[error("missing webhook headers")]
    MissingHeaders,
    /// A nudge whose timestamp is outside the tolerance.
    #[error("timestamp outside tolerance")]
    Stale,
    /// A nudge whose signature matches no secret.
    #[error("invalid signature")]
    BadSignature,
    /// The store failed.
    #[error("store unavailable")]
    Store(#[source] StoreError),
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let code = match &self {
            HttpError::Unauthorized | HttpError::BadSignature | HttpError::Stale => {
                StatusCode::UNAUTHORIZED
            }
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::MissingHeaders => StatusCode::BAD_REQUEST,
            HttpError::Store(e) => {
                tracing::error!(error = %super::reconcile::error_chain(e), "status API");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        (
            code,
            axum::Json(serde_json::json!({"error": self.to_string()})),
        )
            .into_response()
    }
}

fn authorize(state: &SyncHttpState, headers: &HeaderMap) -> Result<(), HttpError> {
    let Some(token) = &state.bearer_token else {
        return Ok(());
    };
    let given = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
        Ok(())
    } else {
        Err(HttpError::Unauthorized)
    }
}

async fn list_apps(
    State(state): State<SyncHttpState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers)?;
    let apps = state
        .store
        .sync_statuses()
        .await
        .map_err(HttpError::Store)?;
    Ok(axum::Json(serde_json::json!({ "apps": apps })).into_response())
}

async fn show_app(
    State(state): State<SyncHttpState>,
    Path((app, env)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers)?;
    let status = state
        .store
        .sync_status(&app, &env)
        .await
        .map_err(HttpError::Store)?;
    let status = status.ok_or(HttpError::NotFound)?;
    let history = state
        .store
        .sync_history(&app, &env)
        .await
        .map_err(HttpError::Store)?;
    let mut body = serde_json::to_value(status).unwrap_or_default();
    body["history"] = serde_json::to_value(history).unwrap_or_default();
    Ok(axum::Json(body).into_response())
}

async fn nudge(
    State(state): State<SyncHttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, HttpError> {
    verify_standard(
        &state.nudge_keys,
        state.tolerance_seconds,
        &headers,
        &body,
        jiff::Timestamp::now().as_second(),
    )?;
    state.nudge.notify_one();
    Ok(StatusCode::ACCEPTED)
}

/// Verify Standard Webhooks headers over the raw body against any key.
pub fn verify_standard(
    keys: &[Vec<u8>],
    tolerance: i64,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), HttpError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(HttpError::MissingHeaders);
    };
    let timestamp: i64 = timestamp.parse().map_err(|_| HttpError::MissingHeaders)?;
    if (now - timestamp).abs() > tolerance {
        return Err(HttpError::Stale);
    }
    let given: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .collect();
    for key in keys {
        let Ok(expected) = sign(key, id, timestamp, body) else {
            continue;
        };
        let expected = expected.strip_prefix("v1,").unwrap_or_default();
        let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(expected) else {
            continue;
        };
        if given
            .iter()
            .any(|g| bool::from(g.as_slice().ct_eq(&expected)))
        {
            return Ok(());
        }
    }
    Err(HttpError::BadSignature)
}

/// The deploy repo's own push webhook: GitHub (`X-Hub-Signature-256`, HMAC
/// of the body) or GitLab (`X-Gitlab-Token`). A push nudges the loop; pings
/// and other events are acknowledged and ignored.
async fn push(
    State(state): State<SyncHttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, HttpError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let event = if let Some(signature) = header("x-hub-signature-256") {
        verify_github(&state.push_secrets, signature, &body)?;
        header("x-github-event")
    } else if let Some(token) = header("x-gitlab-token") {
        let known = state
            .push_secrets
            .iter()
            .any(|s| bool::from(s.expose().as_bytes().ct_eq(token.as_bytes())));
        if !known {
            return Err(HttpError::BadSignature);
        }
        header("x-gitlab-event")
    } else {
        return Err(HttpError::MissingHeaders);
    };
    match event {
        Some("push" | "Push Hook") => {
            state.nudge.notify_one();
            Ok(StatusCode::ACCEPTED)
        }
        _ => Ok(StatusCode::OK),
    }
}

/// Verify GitHub's `sha256=<hex>` signature against any secret.
pub fn verify_github(secrets: &[Secret], signature: &str, body: &[u8]) -> Result<(), HttpError> {
    use hmac::{KeyInit, Mac};
    let given = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(HttpError::BadSignature)?;
    for secret in secrets {
        let Ok(mut mac) =
            <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        else {
            continue;
        };
        mac.update(body);
        if mac.verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err(HttpError::BadSignature)
}
