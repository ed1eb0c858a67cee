//! The loop that acts on stored deliveries.
//!
//! It takes every due delivery, oldest first and up to [`BATCH`], as one
//! batch, hands the batch to a [`Processor`], and settles every delivery of
//! it in one transaction with whatever the processor records for each. Only
//! what is already waiting is taken, so a single delivery on a quiet system
//! goes straight through. A retryable failure leaves a delivery pending with
//! its error and a backoff; a stall settles it as failed. A crash at any
//! point leaves the batch pending, and processors are idempotent (git writes
//! carry the event id in trailers), so a delivery picked up again after a
//! restart has its effect once.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::Connection;
use tokio::sync::{Notify, watch};

use crate::event::DomainEvent;
use crate::metrics::{Metrics, ProcessedLabels};
use crate::store::inbox::{DeliveryState, StoredDelivery, retry_later, settle};
use crate::store::{Store, StoreError};

/// Most deliveries taken from the store as one batch.
pub const BATCH: usize = 1000;
/// How often the worker looks for due retries when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// First retry delay; doubled per attempt.
const RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay.
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Longest pause before a waiting delivery is evaluated again.
const WAIT_MAX: Duration = Duration::from_secs(30);
/// Longest a retry is held back for a cause's `not_before` (a forge's
/// rate-limit reset): a remote naming a later time is asked again after this.
pub const NOT_BEFORE_MAX: Duration = Duration::from_secs(3600);

/// A write to run in the same transaction that settles the delivery.
pub type Record = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

/// What processing a delivery concluded.
pub struct Settlement {
    /// Final state.
    pub state: DeliveryState,
    /// What to show in the status API.
    pub outcome: serde_json::Value,
    /// Facts to record atomically with the settlement.
    pub record: Option<Record>,
}

/// What a failure came from: the `error_kind` label of
/// `slipway_inbox_processed_total` and a field of the worker's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The state store (SQLite).
    Store,
    /// Fetching the deploy repository to read `slipway.yaml` and the policies.
    PolicyView,
    /// `slipway.yaml` or the policies are invalid.
    Policy,
    /// A git operation of the writer on the deploy repository (fetch, push,
    /// credentials).
    Git,
    /// A forge API call (network, 5xx, token, permissions).
    Forge,
    /// The forge's rate limit: the retry waits for its reset.
    ForgeRateLimit,
    /// The request or the deploy repository's content refuses the write (an
    /// invalid image, an unknown app, a manifest that refuses the edit).
    DeployContent,
}

impl ErrorKind {
    /// The label value: `store`, `policy_view`, `policy`, `git`, `forge`,
    /// `forge_rate_limit`, `deploy_content`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Store => "store",
            ErrorKind::PolicyView => "policy_view",
            ErrorKind::Policy => "policy",
            ErrorKind::Git => "git",
            ErrorKind::Forge => "forge",
            ErrorKind::ForgeRateLimit => "forge_rate_limit",
            ErrorKind::DeployContent => "deploy_content",
        }
    }
}

/// Why processing did not conclude.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Worth trying again later (network, conflict, a rate limit).
    #[error("{message}")]
    Retry {
        /// What failed.
        kind: ErrorKind,
        /// The error and its causes, one line.
        message: String,
        /// The earliest time worth trying again, when the cause said (a
        /// forge's rate-limit reset). The worker waits for the later of this
        /// and its own backoff.
        not_before: Option<jiff::Timestamp>,
    },
    /// Will not work until something changes (bad config, refused manifest).
    #[error("{message}")]
    Stall {
        /// What failed.
        kind: ErrorKind,
        /// The error and its causes, one line.
        message: String,
    },
    /// Policy says not yet: look again at `until`, or sooner when a new
    /// fact arrives ([`Store::wake_pending`]).
    #[error("{reason}")]
    Wait {
        /// What it waits for.
        reason: String,
        /// When the decision changes by itself, if it does.
        until: Option<jiff::Timestamp>,
    },
}

impl ProcessError {
    /// A retry of `kind` for `error` (its whole chain), with no time named.
    pub fn retry(kind: ErrorKind, error: &dyn std::error::Error) -> Self {
        ProcessError::Retry {
            kind,
            message: crate::error_chain(error),
            not_before: None,
        }
    }

    /// The kind of a retry or a stall; `None` for a wait.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ProcessError::Retry { kind, .. } | ProcessError::Stall { kind, .. } => Some(*kind),
            ProcessError::Wait { .. } => None,
        }
    }
}

/// What processing one delivery of a batch concluded.
pub type Processed = Result<Settlement, ProcessError>;

/// Acts on deliveries. Implementations must be idempotent.
pub trait Processor: Send + Sync {
    /// Process one delivery.
    fn process<'a>(&'a self, delivery: &'a StoredDelivery) -> BoxFuture<'a, Processed>;

    /// Process a batch, oldest first: one result per delivery, in order.
    /// By default each delivery on its own, one after another.
    fn process_batch<'a>(
        &'a self,
        deliveries: &'a [StoredDelivery],
    ) -> BoxFuture<'a, Vec<Processed>> {
        Box::pin(async move {
            let mut results = Vec::with_capacity(deliveries.len());
            for delivery in deliveries {
                results.push(self.process(delivery).await);
            }
            results
        })
    }
}

/// Retry delay after `attempts` failed tries.
pub fn backoff(attempts: i64) -> Duration {
    let factor = 1u32 << attempts.clamp(0, 16) as u32;
    RETRY_BASE.saturating_mul(factor).min(RETRY_MAX)
}

/// When a delivery that failed `attempts` times before is due again: after
/// its backoff, and not before `not_before` (held to at most
/// [`NOT_BEFORE_MAX`] from `now`).
pub fn retry_due(
    now: jiff::Timestamp,
    attempts: i64,
    not_before: Option<jiff::Timestamp>,
) -> jiff::Timestamp {
    let after = |d: Duration| {
        let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
        now.checked_add(span).unwrap_or(jiff::Timestamp::MAX)
    };
    let backed_off = after(backoff(attempts));
    match not_before {
        Some(t) => backed_off.max(t.min(after(NOT_BEFORE_MAX))),
        None => backed_off,
    }
}

/// Settle pings and ignored events as ignored, anything else as done. The
/// processor used when nothing downstream is configured.
pub fn settle_without_action(event: &DomainEvent) -> Settlement {
    let state = match event {
        DomainEvent::Ping | DomainEvent::Ignored { .. } => DeliveryState::Ignored,
        _ => DeliveryState::Done,
    };
    Settlement {
        state,
        outcome: serde_json::json!({ "recorded": event.kind() }),
        record: None,
    }
}

/// A processor that records each delivery and acts on none: what `receive`
/// does when no deploy repository is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordOnly;

impl Processor for RecordOnly {
    fn process<'a>(&'a self, delivery: &'a StoredDelivery) -> BoxFuture<'a, Processed> {
        Box::pin(async move { Ok(settle_without_action(&delivery.event)) })
    }
}

/// The worker: a store, a processor and the signal that wakes it.
pub struct Worker {
    store: Store,
    processor: Arc<dyn Processor>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
}

impl Worker {
    /// A worker over `store`, woken by `wake`.
    pub fn new(
        store: Store,
        processor: Arc<dyn Processor>,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Worker {
            store,
            processor,
            wake,
            metrics,
        }
    }

    /// Run until `shutdown` turns true. Store errors are logged and retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let worked = match self.run_once().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = %crate::error_chain(&e), "worker could not read the inbox");
                    false
                }
            };
            if !worked {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    /// Process every delivery due now as one batch (at most [`BATCH`]) and
    /// settle them all in one transaction; returns how many were handled.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let due = self
            .store
            .due(BATCH, jiff::Timestamp::now().as_millisecond())
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        self.metrics.batch_size.observe(due.len() as f64);
        let results = self.processor.process_batch(&due).await;
        let mut settles = Vec::with_capacity(due.len());
        let mut labels = Vec::with_capacity(due.len());
        for (delivery, result) in due.iter().zip(results) {
            let (settle, label) = disposal(delivery, result);
            settles.push(settle);
            labels.push(label);
        }
        self.store
            .write(move |conn| {
                for settle in settles {
                    settle(conn)?;
                }
                Ok(())
            })
            .await?;
        for label in labels {
            self.metrics.processed.get_or_create(&label).inc();
        }
        Ok(due.len())
    }
}

/// How one delivery's result is kept: the write that settles it (or puts it
/// back with its retry time), and its `slipway_inbox_processed_total` labels.
fn disposal(delivery: &StoredDelivery, result: Processed) -> (Record, ProcessedLabels) {
    let seq = delivery.seq;
    let (settle, result, kind): (Record, _, _) = match result {
        Ok(Settlement {
            state,
            outcome,
            record,
        }) => (
            Box::new(move |conn| {
                if let Some(record) = record {
                    record(conn)?;
                }
                settle(conn, seq, state, &outcome)
            }),
            format!("{state:?}").to_lowercase(),
            None,
        ),
        Err(ProcessError::Retry {
            kind,
            message,
            not_before,
        }) => {
            let next = retry_due(jiff::Timestamp::now(), delivery.attempts, not_before);
            tracing::warn!(
                seq,
                delivery_id = delivery.delivery_id,
                error_kind = kind.as_str(),
                error = message,
                retry_at = %next,
                "will retry"
            );
            // A wake (a new fact) must not bring it forward past the cause's time.
            let hold = not_before.map_or(0, |_| next.as_millisecond());
            let next = next.as_millisecond();
            (
                Box::new(move |conn| retry_later(conn, seq, &message, next, hold)),
                "retry".to_string(),
                Some(kind),
            )
        }
        Err(ProcessError::Wait { reason, until }) => {
            let now = jiff::Timestamp::now().as_millisecond();
            let poll = now + backoff(delivery.attempts).min(WAIT_MAX).as_millis() as i64;
            let next = until.map_or(poll, |u| u.as_millisecond().clamp(now, poll));
            tracing::info!(seq, delivery_id = delivery.delivery_id, reason, "waiting");
            (
                Box::new(move |conn| retry_later(conn, seq, &reason, next, 0)),
                "wait".to_string(),
                None,
            )
        }
        Err(ProcessError::Stall { kind, message }) => {
            tracing::warn!(
                seq,
                delivery_id = delivery.delivery_id,
                error_kind = kind.as_str(),
                error = message,
                "stalled"
            );
            let outcome = serde_json::json!({ "error": message });
            (
                Box::new(move |conn| settle(conn, seq, DeliveryState::Failed, &outcome)),
                "failed".to_string(),
                Some(kind),
            )
        }
    };
    let labels = ProcessedLabels {
        result,
        error_kind: kind.map_or("none", ErrorKind::as_str).to_string(),
    };
    (settle, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let cases = [
            (0, 1),
            (1, 2),
            (3, 8),
            (8, 256),
            (9, 300),
            (60, 300),
            (-5, 1),
        ];
        for (attempts, secs) in cases {
            assert_eq!(
                backoff(attempts),
                Duration::from_secs(secs),
                "attempts {attempts}"
            );
        }
    }

    #[test]
    fn a_retry_waits_for_the_later_of_backoff_and_not_before() {
        let now: jiff::Timestamp = "2026-06-10T12:00:00Z".parse().unwrap();
        let cases = [
            ("no time named: backoff", 0, None, "2026-06-10T12:00:01Z"),
            ("third attempt: backoff", 3, None, "2026-06-10T12:00:08Z"),
            (
                "a reset after the backoff",
                0,
                Some("2026-06-10T12:10:00Z"),
                "2026-06-10T12:10:00Z",
            ),
            (
                "a reset before the backoff",
                8,
                Some("2026-06-10T12:00:30Z"),
                "2026-06-10T12:04:16Z",
            ),
            (
                "a reset already past",
                0,
                Some("2026-06-10T11:00:00Z"),
                "2026-06-10T12:00:01Z",
            ),
            (
                "a reset beyond the longest hold",
                0,
                Some("2100-01-01T00:00:00Z"),
                "2026-06-10T13:00:00Z",
            ),
        ];
        for (name, attempts, not_before, want) in cases {
            let not_before = not_before.map(|t: &str| t.parse().unwrap());
            assert_eq!(
                retry_due(now, attempts, not_before),
                want.parse::<jiff::Timestamp>().unwrap(),
                "{name}"
            );
        }
    }
}
