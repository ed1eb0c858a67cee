//! Pull/merge request APIs behind one trait, with typed errors.
//!
//! GitHub ([`super::github`]) and GitLab ([`super::gitlab`]) speak their REST
//! APIs with reqwest; tests replace them with test servers by base URL.

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::secret::SecretError;

use super::request::{Disposition, FailureKind, WriteFailure};
use super::settings::{ForgeKind, ForgeSettings};

/// Time allowed for one API request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest error body kept for messages.
const MAX_ERROR_BODY: usize = 300;

/// What to open or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestSpec {
    /// The Slipway branch with the change (`slipway/web/prod`).
    pub head_branch: String,
    /// The deploy branch it targets.
    pub base_branch: String,
    /// Title (the commit subject).
    pub title: String,
    /// Markdown body.
    pub body: String,
}

/// An open pull/merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// PR number (GitHub) or MR iid (GitLab).
    pub number: u64,
    /// Link for people.
    pub url: String,
}

/// Why a forge call failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The token was not loaded.
    #[error("load forge token")]
    LoadToken(#[source] SecretError),
    /// The request did not complete (connection, timeout).
    #[error("forge request {what}")]
    Request {
        /// Which call.
        what: &'static str,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// 401: the token is wrong or expired.
    #[error("forge {what}: token rejected (401)")]
    Unauthorized {
        /// Which call.
        what: &'static str,
    },
    /// 403 without a rate limit: the token lacks permission.
    #[error("forge {what}: forbidden (403): {message}")]
    Forbidden {
        /// Which call.
        what: &'static str,
        /// The forge's message.
        message: String,
    },
    /// 404: wrong project, or a token that cannot see it.
    #[error("forge {what}: not found (404)")]
    NotFound {
        /// Which call.
        what: &'static str,
    },
    /// 409/422: the forge refused the content (e.g. the branch is gone).
    #[error("forge {what}: refused ({status}): {message}")]
    Unprocessable {
        /// Which call.
        what: &'static str,
        /// 409 or 422.
        status: u16,
        /// The forge's message.
        message: String,
    },
    /// Rate limited; retry after `reset_at`.
    #[error("forge {what}: rate limited until {reset_at}")]
    RateLimited {
        /// Which call.
        what: &'static str,
        /// When the limit resets.
        reset_at: jiff::Timestamp,
    },
    /// 5xx.
    #[error("forge {what}: server error ({status})")]
    Server {
        /// Which call.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// Another status, or a body that does not match the documented shape.
    #[error("forge {what}: unexpected response ({status}): {message}")]
    Unexpected {
        /// Which call.
        what: &'static str,
        /// The status.
        status: u16,
        /// What was wrong.
        message: String,
    },
}

impl ForgeError {
    /// Retry (network, 5xx, rate limit) or stall (token, permissions, project, content).
    pub fn disposition(&self) -> Disposition {
        match self {
            ForgeError::Request { .. }
            | ForgeError::RateLimited { .. }
            | ForgeError::Server { .. } => Disposition::Retry,
            _ => Disposition::Stall,
        }
    }

    /// When a rate limit resets, if this is one.
    pub fn retry_at(&self) -> Option<jiff::Timestamp> {
        match self {
            ForgeError::RateLimited { reset_at, .. } => Some(*reset_at),
            _ => None,
        }
    }

    /// As the writer reports it: a rate limit keeps its reset time.
    pub fn to_failure(&self) -> WriteFailure {
        let kind = match self {
            ForgeError::RateLimited { .. } => FailureKind::ForgeRateLimit,
            _ => FailureKind::Forge,
        };
        WriteFailure {
            disposition: self.disposition(),
            kind,
            message: crate::error_chain(self),
            retry_at: self.retry_at(),
        }
    }
}

/// A forge that hosts the deploy repository.
pub trait Forge: Send + Sync {
    /// The open request whose head is `head_branch`, if any.
    fn find_open<'a>(
        &'a self,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>>;
    /// Open a new request.
    fn create<'a>(
        &'a self,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>>;
    /// Replace title and body of an open request.
    fn update<'a>(
        &'a self,
        number: u64,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>>;
}

/// Update the open request for `spec.head_branch`, or open one. Returns it and
/// whether it already existed. A create that races another writer's create
/// (409/422) falls back to updating the one that won.
pub async fn open_or_update(
    forge: &dyn Forge,
    spec: &PullRequestSpec,
) -> Result<(PullRequest, bool), ForgeError> {
    if let Some(existing) = forge.find_open(spec).await? {
        return Ok((forge.update(existing.number, spec).await?, true));
    }
    match forge.create(spec).await {
        Ok(created) => Ok((created, false)),
        Err(ForgeError::Unprocessable { .. })
            if let Some(existing) = forge.find_open(spec).await? =>
        {
            Ok((forge.update(existing.number, spec).await?, true))
        }
        Err(e) => Err(e),
    }
}

/// Build the forge client a configuration names.
pub fn from_settings(settings: &ForgeSettings) -> Result<std::sync::Arc<dyn Forge>, ForgeError> {
    let token = settings.token.load().map_err(ForgeError::LoadToken)?;
    Ok(match settings.kind {
        ForgeKind::GitHub => std::sync::Arc::new(super::github::GitHub::new(
            &settings.api_url,
            &settings.project,
            token,
        )?),
        ForgeKind::GitLab => std::sync::Arc::new(super::gitlab::GitLab::new(
            &settings.api_url,
            &settings.project,
            token,
        )?),
    })
}

/// A reqwest client with Slipway's user agent and timeout.
pub(crate) fn http_client(what: &'static str) -> Result<reqwest::Client, ForgeError> {
    reqwest::Client::builder()
        .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|source| ForgeError::Request { what, source })
}

/// Turn a non-success response into a typed error. `rate_limited` says
/// whether the headers mark this response as a rate limit, and until when.
/// Send a forge API request and decode its JSON answer; a failure becomes
/// the typed error, with the forge's own rate-limit reading.
pub(crate) async fn send_json<T: for<'de> serde::Deserialize<'de>>(
    what: &'static str,
    request: reqwest::RequestBuilder,
    rate_limit: fn(StatusCode, &HeaderMap) -> Option<jiff::Timestamp>,
) -> Result<T, ForgeError> {
    let response = request
        .send()
        .await
        .map_err(|source| ForgeError::Request { what, source })?;
    if !response.status().is_success() {
        return Err(error_for(what, response, rate_limit).await);
    }
    let status = response.status().as_u16();
    response.json().await.map_err(|e| ForgeError::Unexpected {
        what,
        status,
        message: e.to_string(),
    })
}

pub(crate) async fn error_for(
    what: &'static str,
    response: reqwest::Response,
    rate_limit: impl Fn(StatusCode, &HeaderMap) -> Option<jiff::Timestamp>,
) -> ForgeError {
    let status = response.status();
    if let Some(reset_at) = rate_limit(status, response.headers()) {
        return ForgeError::RateLimited { what, reset_at };
    }
    let body = response.text().await.unwrap_or_default();
    let message = error_message(&body);
    match status.as_u16() {
        401 => ForgeError::Unauthorized { what },
        403 => ForgeError::Forbidden { what, message },
        404 => ForgeError::NotFound { what },
        409 | 422 => ForgeError::Unprocessable {
            what,
            status: status.as_u16(),
            message,
        },
        s if status.is_server_error() => ForgeError::Server { what, status: s },
        s => ForgeError::Unexpected {
            what,
            status: s,
            message,
        },
    }
}

/// The `message` of a JSON error body (both forges use that key), else the start of the body.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| match v.get("message") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
            None => None,
        });
    let text = from_json.unwrap_or_else(|| body.to_string());
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_ERROR_BODY)
        .collect()
}

/// A header as a number of seconds or an epoch time.
pub(super) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `now + seconds`.
pub(super) fn after_seconds(seconds: u64) -> jiff::Timestamp {
    let span = jiff::SignedDuration::from_secs(seconds.min(i64::MAX as u64) as i64);
    jiff::Timestamp::now()
        .checked_add(span)
        .unwrap_or(jiff::Timestamp::MAX)
}

/// An epoch-seconds header value as a timestamp.
pub(super) fn epoch(seconds: u64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds.min(i64::MAX as u64) as i64)
        .unwrap_or(jiff::Timestamp::MAX)
}

/// Default wait when a forge signals a limit without saying until when.
pub(super) const DEFAULT_RATE_LIMIT_WAIT_SECONDS: u64 = 60;

/// `path?k=v&...`, form-encoded.
pub(crate) fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}
