//! Deploy results reported where people already look: a Deployment with its
//! statuses on the source repository's forge (GitHub or GitLab), the
//! `slipway/policy` commit status on each promotion pull request in the
//! deploy repository, and a Standard Webhooks notification per policy
//! decision and per rollout verdict to configured receivers.
//!
//! The reporter reads what the store records ([`scan`]), queues each call in
//! the store's outbox, and sends the due ones: a failure is retried with
//! backoff, a rate limit waits for its reset, and a refusal is kept with its
//! error. It runs beside the worker and never holds a deploy up.

pub mod commit_status;
mod decisions;
pub mod deployments;
pub mod scan;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::deployrepo::forge::ForgeError;
use crate::deployrepo::request::Disposition;
use crate::deployrepo::settings::{ForgeKind, ForgeSettings};
use crate::metrics::{Metrics, ReportLabels};
use crate::secret::SecretError;
use crate::store::outbox::{self, OutboxItem, Settle};
use crate::store::{Store, StoreError};
use crate::webhook::signature::{StandardKey, sign_standard};
use commit_status::{CommitStatuses, DeployRepoStatuses};
use deployments::{Deployments, GitHubDeployments, GitLabDeployments};
use scan::{Call, ScanPlan};
use settings::ReportSettings;

/// How often the reporter looks for new records and due calls.
pub const REPORT_POLL: Duration = Duration::from_secs(2);
/// First retry delay; it doubles with each attempt.
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// Longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(15 * 60);
/// How long a sent call is kept in the outbox (its key stops a repeat).
pub const KEEP_SENT: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Most rounds of sends in one pass (each sends one call per lane).
const MAX_ROUNDS: usize = 50;
/// Time allowed for one notification.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the reporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A token or secret could not be loaded.
    #[error("report.{what}")]
    LoadSecret {
        /// Which setting.
        what: &'static str,
        /// The cause (never the value).
        #[source]
        source: SecretError,
    },
    /// A notification secret is not a Standard Webhooks secret.
    #[error("report.webhooks: {0}")]
    BadSecret(&'static str),
    /// The forge client could not be built.
    #[error("report.forge")]
    Forge(#[source] ForgeError),
}

/// A notification receiver.
struct Receiver {
    url: String,
    key: StandardKey,
}

/// Queues and sends reports. Cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: ReportSettings,
    forge: Option<Arc<dyn Deployments>>,
    statuses: Option<Arc<dyn CommitStatuses>>,
    receivers: Vec<Receiver>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

impl Reporter {
    /// A reporter for `settings` over `store`, loading its token and
    /// secrets. With `deploy_forge` (the deploy repository's `forge:`),
    /// promotion pull requests get the `slipway/policy` status.
    pub fn new(
        settings: &ReportSettings,
        deploy_forge: Option<&ForgeSettings>,
        store: Store,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ReportError> {
        let forge = settings
            .forge
            .as_ref()
            .map(|f| {
                let token = f.token.load().map_err(|source| ReportError::LoadSecret {
                    what: "forge.token",
                    source,
                })?;
                let forge: Arc<dyn Deployments> = match f.kind {
                    ForgeKind::GitHub => Arc::new(
                        GitHubDeployments::new(&f.api_url, token).map_err(ReportError::Forge)?,
                    ),
                    ForgeKind::GitLab => Arc::new(
                        GitLabDeployments::new(&f.api_url, token).map_err(ReportError::Forge)?,
                    ),
                };
                Ok::<_, ReportError>(forge)
            })
            .transpose()?;
        let statuses = deploy_forge
            .map(|f| {
                let token = f.token.load().map_err(|source| ReportError::LoadSecret {
                    what: "forge.token",
                    source,
                })?;
                let statuses: Arc<dyn CommitStatuses> =
                    Arc::new(DeployRepoStatuses::new(f, token).map_err(ReportError::Forge)?);
                Ok::<_, ReportError>(statuses)
            })
            .transpose()?;
        let receivers = settings
            .webhooks
            .iter()
            .map(|t| {
                let secret = t.secret.load().map_err(|source| ReportError::LoadSecret {
                    what: "webhooks.secret",
                    source,
                })?;
                let key = StandardKey::from_secret(&secret).map_err(ReportError::BadSecret)?;
                Ok(Receiver {
                    url: t.url.clone(),
                    key,
                })
            })
            .collect::<Result<Vec<_>, ReportError>>()?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .timeout(NOTIFY_TIMEOUT)
            .build()
            .unwrap_or_default();
        Ok(Reporter {
            inner: Arc::new(Inner {
                store,
                settings: settings.clone(),
                forge,
                statuses,
                receivers,
                metrics,
                client,
            }),
        })
    }

    /// Report until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %crate::error_chain(&e), "reporter could not read the store");
            }
            tokio::select! {
                _ = tokio::time::sleep(REPORT_POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Queue what new records call for and send every due call once; how
    /// many calls were made.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let inner = self.inner.clone();
        let now_ms = jiff::Timestamp::now().as_millisecond();
        self.inner
            .store
            .write(move |conn| {
                let plan = ScanPlan {
                    settings: &inner.settings,
                    forge: inner.forge.is_some(),
                    receivers: inner.receivers.len(),
                    policy_statuses: inner.statuses.is_some(),
                };
                outbox::prune_sent(conn, now_ms - KEEP_SENT.as_millis() as i64)?;
                scan::scan(conn, &plan, now_ms)
            })
            .await?;
        // Each round sends the first due call of every lane; the next one
        // of a lane goes in the following round, after its predecessor.
        let mut calls = 0;
        for _ in 0..MAX_ROUNDS {
            let due = self
                .inner
                .store
                .read(move |conn| outbox::due(conn, now_ms))
                .await?;
            if due.is_empty() {
                break;
            }
            calls += due.len();
            for item in due {
                let (to, how) = self.send(&item).await?;
                let outcome = match &how {
                    Settle::Sent => "sent",
                    Settle::Retry { .. } => "retry",
                    Settle::Failed { .. } => "failed",
                };
                self.inner
                    .metrics
                    .report_calls
                    .get_or_create(&ReportLabels {
                        to: to.to_string(),
                        outcome: outcome.to_string(),
                    })
                    .inc();
                if let Settle::Failed { error } | Settle::Retry { error, .. } = &how {
                    tracing::warn!(key = %item.key, attempt = item.attempts + 1, %error, "report not delivered");
                }
                let id = item.id;
                self.inner
                    .store
                    .write(move |conn| outbox::settle(conn, id, &how))
                    .await?;
            }
        }
        Ok(calls)
    }

    /// Make the call of `item`: where it went (a metrics label) and how it ended.
    async fn send(&self, item: &OutboxItem) -> Result<(&'static str, Settle), StoreError> {
        match serde_json::from_value::<Call>(item.body.clone()) {
            Ok(call) => Ok((call.destination(), self.send_call(call, item).await?)),
            Err(e) => Ok((
                "unreadable",
                Settle::Failed {
                    error: format!("unreadable call: {e}"),
                },
            )),
        }
    }

    async fn send_call(&self, call: Call, item: &OutboxItem) -> Result<Settle, StoreError> {
        match call {
            Call::Forge(report) => {
                let Some(forge) = &self.inner.forge else {
                    return Ok(Settle::Failed {
                        error: "no forge configured".into(),
                    });
                };
                let lane = item.lane.clone();
                let known = self
                    .inner
                    .store
                    .read(move |conn| outbox::deployment_id(conn, &lane))
                    .await?;
                match forge.report(&report, known).await {
                    Ok(id) => {
                        let lane = item.lane.clone();
                        self.inner
                            .store
                            .write(move |conn| outbox::set_deployment_id(conn, &lane, id))
                            .await?;
                        Ok(Settle::Sent)
                    }
                    Err(e) => Ok(settle_forge_error(&e, item.attempts)),
                }
            }
            Call::PolicyStatus(status) => {
                let Some(statuses) = &self.inner.statuses else {
                    return Ok(Settle::Failed {
                        error: "no deploy repository forge configured".into(),
                    });
                };
                Ok(match statuses.set(&status).await {
                    Ok(()) => Settle::Sent,
                    Err(e) => settle_forge_error(&e, item.attempts),
                })
            }
            Call::Receiver { receiver, id, body } => {
                let Some(target) = self.inner.receivers.get(receiver) else {
                    return Ok(Settle::Failed {
                        error: "receiver no longer configured".into(),
                    });
                };
                Ok(self.notify(target, &id, &body, item.attempts).await)
            }
        }
    }

    async fn notify(&self, target: &Receiver, id: &str, body: &Value, attempts: u32) -> Settle {
        let bytes = body.to_string().into_bytes();
        let timestamp = jiff::Timestamp::now().as_second();
        let signature = sign_standard(&target.key, id, timestamp, &bytes);
        let sent = self
            .inner
            .client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(bytes)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Settle::Sent,
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let error = format!("{} answered {status}", target.url);
                if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                    let at_ms = match retry_after {
                        Some(secs) => {
                            jiff::Timestamp::now().as_millisecond() + (secs as i64) * 1000
                        }
                        None => backoff_at(attempts),
                    };
                    Settle::Retry { at_ms, error }
                } else {
                    Settle::Failed { error }
                }
            }
            Err(e) => Settle::Retry {
                at_ms: backoff_at(attempts),
                error: crate::error_chain(&e),
            },
        }
    }
}

/// A forge failure as an outbox settlement: a rate limit waits for its
/// reset; other retryable failures back off; a refusal is kept.
pub fn settle_forge_error(error: &ForgeError, attempts: u32) -> Settle {
    let message = crate::error_chain(error);
    match (error.disposition(), error.retry_at()) {
        (Disposition::Retry, Some(reset)) => Settle::Retry {
            at_ms: reset.as_millisecond(),
            error: message,
        },
        (Disposition::Retry, None) => Settle::Retry {
            at_ms: backoff_at(attempts),
            error: message,
        },
        (Disposition::Stall, _) => Settle::Failed { error: message },
    }
}

/// When the next try after `attempts` failed tries is due (Unix ms).
fn backoff_at(attempts: u32) -> i64 {
    let delay = FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(attempts.min(16)))
        .min(MAX_RETRY);
    jiff::Timestamp::now().as_millisecond() + delay.as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_failures_settle_by_kind() {
        let reset = jiff::Timestamp::from_second(2_000_000_000).unwrap();
        let cases = [
            (
                "rate limit waits for the reset",
                ForgeError::RateLimited {
                    what: "x",
                    reset_at: reset,
                },
                Some(reset.as_millisecond()),
            ),
            (
                "server error backs off",
                ForgeError::Server {
                    what: "x",
                    status: 502,
                },
                None,
            ),
            (
                "bad token is kept",
                ForgeError::Unauthorized { what: "x" },
                None,
            ),
        ];
        for (row, error, want_at) in cases {
            match (settle_forge_error(&error, 0), want_at) {
                (Settle::Retry { at_ms, .. }, Some(want)) => assert_eq!(at_ms, want, "{row}"),
                (Settle::Retry { at_ms, .. }, None) => {
                    assert!(matches!(error, ForgeError::Server { .. }), "{row}");
                    assert!(at_ms > jiff::Timestamp::now().as_millisecond(), "{row}");
                }
                (Settle::Failed { .. }, None) => {
                    assert!(matches!(error, ForgeError::Unauthorized { .. }), "{row}")
                }
                (got, _) => panic!("{row}: {got:?}"),
            }
        }
    }
}
