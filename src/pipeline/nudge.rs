//! Telling sync the deploy repo changed, so a deploy starts now rather than
//! at the next poll. In one process it is a `Notify`; across processes a
//! signed POST to sync's `/hooks/sync`. A lost nudge costs one poll interval,
//! never a deploy, so failures are logged, not retried.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::secret::{SecretError, SecretSource};
use crate::webhook::signature::{StandardKey, sign_standard};

/// How long a nudge may take before it is given up.
const NUDGE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where receive nudges sync, when they run as separate processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NudgeSettings {
    /// Sync's nudge route, e.g. `http://slipway-sync:8081/hooks/sync`.
    pub url: String,
    /// Standard Webhooks secret sync accepts nudges with (its `nudge_secrets`).
    pub secret: SecretSource,
}

/// Wakes the sync loop.
pub trait SyncNudge: Send + Sync {
    /// Ask sync to look at the deploy repo now.
    fn nudge(&self, reason: &str) -> BoxFuture<'_, ()>;
}

/// Sync in the same process.
pub struct LocalNudge(pub Arc<Notify>);

impl SyncNudge for LocalNudge {
    fn nudge(&self, _reason: &str) -> BoxFuture<'_, ()> {
        self.0.notify_one();
        Box::pin(async {})
    }
}

/// Sync in another process, reached over HTTP with a signed request.
pub struct HttpNudge {
    url: String,
    key: StandardKey,
    client: reqwest::Client,
}

/// Why an HTTP nudge target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NudgeError {
    /// The secret could not be loaded.
    #[error("nudge secret")]
    Secret(#[from] SecretError),
    /// The secret is not a `whsec_` secret.
    #[error("nudge secret: {0}")]
    BadSecret(&'static str),
    /// The HTTP client could not be built.
    #[error("http client")]
    Client(#[source] reqwest::Error),
}

impl HttpNudge {
    /// A nudger for `settings`.
    pub fn new(settings: &NudgeSettings) -> Result<Self, NudgeError> {
        let key =
            StandardKey::from_secret(&settings.secret.load()?).map_err(NudgeError::BadSecret)?;
        let client = reqwest::Client::builder()
            .timeout(NUDGE_TIMEOUT)
            .build()
            .map_err(NudgeError::Client)?;
        Ok(HttpNudge {
            url: settings.url.clone(),
            key,
            client,
        })
    }
}

impl SyncNudge for HttpNudge {
    fn nudge(&self, reason: &str) -> BoxFuture<'_, ()> {
        let body = serde_json::json!({ "reason": reason }).to_string();
        Box::pin(async move {
            let mut id = [0u8; 12];
            let _ = getrandom::fill(&mut id);
            let id = format!("nudge_{}", hex::encode(id));
            let timestamp = jiff::Timestamp::now().as_second();
            let signature = sign_standard(&self.key, &id, timestamp, body.as_bytes());
            let sent = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "sync refused the nudge")
                }
                Err(e) => tracing::warn!(error = %crate::error_chain(&e), "could not nudge sync"),
            }
        })
    }
}
