//! What the receive worker asks the writer to do, and what it gets back.

use serde::{Deserialize, Serialize};

use crate::event::{ImageRef, SourceInfo};
use crate::repoconfig::WriteMode;

use super::edit::ImageChange;

/// Longest event id accepted; it is written into commit trailers.
pub const MAX_EVENT_ID_LEN: usize = 200;

/// One allowed deploy: set `image` for `app` in `environment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The inbox event this deploy comes from: the idempotency key.
    pub event_id: String,
    /// App name from `slipway.yaml`.
    pub app: String,
    /// Environment name.
    pub environment: String,
    /// The image to deploy.
    pub image: ImageRef,
    /// Direct commit or pull request.
    pub mode: WriteMode,
    /// One-line policy verdict (`allow: tests passed, signed`).
    pub verdict: String,
    /// The policy's explanation, for commit bodies and PR bodies.
    pub trace: String,
    /// Where the artifact came from.
    #[serde(default)]
    pub source: SourceInfo,
    /// An explicit rollback: an older image is wanted on purpose, so the
    /// no-downgrade re-check lets it through.
    #[serde(default)]
    pub rollback: bool,
}

impl DeployRequest {
    /// What makes this write idempotent.
    pub fn key(&self) -> WriteKey {
        WriteKey {
            event_id: self.event_id.clone(),
            app: self.app.clone(),
            environment: self.environment.clone(),
        }
    }
}

/// The idempotency key of a write: one event's deploy of one app into one
/// environment. One event may deploy several apps (a web server and a
/// worker built from one image), and each is written once. The commit
/// trailers `Slipway-Event`, `Slipway-App` and `Slipway-Environment` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WriteKey {
    /// The inbox event (the sender's delivery id).
    pub event_id: String,
    /// App name.
    pub app: String,
    /// Environment name.
    pub environment: String,
}

impl std::fmt::Display for WriteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.event_id, self.app, self.environment)
    }
}

/// A write that happened (or did not need to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Written {
    /// Committed and pushed to the deploy branch.
    Committed {
        /// The commit id.
        commit: String,
        /// Image fields changed for this request.
        changes: Vec<ImageChange>,
    },
    /// Pushed to a Slipway branch with an open pull/merge request.
    PullRequest {
        /// The branch (`slipway/web/prod`).
        branch: String,
        /// The commit id at its head.
        commit: String,
        /// PR or MR number.
        number: u64,
        /// Link to it.
        url: String,
        /// Whether an existing open request was updated rather than opened.
        updated: bool,
        /// Image fields changed.
        changes: Vec<ImageChange>,
    },
    /// A commit carrying this event already exists: nothing written again.
    AlreadyWritten {
        /// The commit that carries the event.
        commit: String,
    },
    /// The manifests already held this image: no commit.
    Unchanged,
    /// The re-check at the current head refused the write (a newer image is
    /// already there). Final: not retried.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Whether a failed write is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Transient (network, rejected push, 5xx, rate limit): back off and retry.
    Retry,
    /// Needs a person (bad manifest, invalid reference, bad config): report and wait.
    Stall,
}

/// What a failed write came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A git operation on the deploy repository (fetch, push, credentials).
    Git,
    /// A forge API call (network, 5xx, token, permissions, refused content).
    Forge,
    /// The forge's rate limit; `retry_at` holds its reset.
    ForgeRateLimit,
    /// The request or the deploy repository's content: an invalid image or
    /// name, an unknown app or environment, a manifest that refuses the edit,
    /// a bad `slipway.yaml`, pull-request mode without a forge.
    Content,
}

/// A failed write, as shown in the status API. Holds no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailure {
    /// Retry or stall.
    pub disposition: Disposition,
    /// What failed.
    pub kind: FailureKind,
    /// The error and its causes, one line.
    pub message: String,
    /// Earliest time to retry (RFC 3339 in JSON), when the remote said (a
    /// forge's rate-limit reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<jiff::Timestamp>,
}

impl WriteFailure {
    /// Whether the caller should keep the request and try again later.
    pub fn is_retryable(&self) -> bool {
        self.disposition == Disposition::Retry
    }
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// The request's event id.
    pub event_id: String,
    /// The request's app.
    #[serde(default)]
    pub app: String,
    /// The request's environment.
    #[serde(default)]
    pub environment: String,
    /// What happened.
    pub result: Result<Written, WriteFailure>,
}

impl WriteOutcome {
    /// The outcome of the request with `key`.
    pub fn new(key: WriteKey, result: Result<Written, WriteFailure>) -> Self {
        WriteOutcome {
            event_id: key.event_id,
            app: key.app,
            environment: key.environment,
            result,
        }
    }
}

/// Whether an event id may go into a trailer: printable ASCII, no spaces.
pub fn is_safe_event_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_EVENT_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

pub use crate::error_chain;
