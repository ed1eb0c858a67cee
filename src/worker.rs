//! The loop that acts on stored deliveries.
//!
//! It takes pending deliveries oldest first, hands each to a [`Processor`],
//! and settles it in one transaction with whatever the processor records. A
//! retryable failure leaves the delivery pending with its error and a backoff;
//! a stall settles it as failed. A crash at any point leaves it pending, and
//! processors are idempotent (git writes carry the event id in trailers), so a
//! delivery picked up again after a restart has its effect once.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::Connection;
use tokio::sync::{Notify, watch};

use crate::event::DomainEvent;
use crate::metrics::{Metrics, ProcessedLabels};
use crate::store::inbox::{DeliveryState, StoredDelivery, settle};
use crate::store::{Store, StoreError};

/// Deliveries taken from the store at a time.
const BATCH: usize = 64;
/// How often the worker looks for due retries when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// First retry delay; doubled per attempt.
const RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay.
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Longest pause before a waiting delivery is evaluated again.
const WAIT_MAX: Duration = Duration::from_secs(30);

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

/// Why processing did not conclude.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Worth trying again later (network, conflict, a result not in yet).
    #[error("{0}")]
    Retry(String),
    /// Will not work until something changes (bad config, refused manifest).
    #[error("{0}")]
    Stall(String),
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

/// Acts on one delivery. Implementations must be idempotent.
pub trait Processor: Send + Sync {
    /// Process one delivery.
    fn process<'a>(
        &'a self,
        delivery: &'a StoredDelivery,
    ) -> BoxFuture<'a, Result<Settlement, ProcessError>>;
}

/// Retry delay after `attempts` failed tries.
pub fn backoff(attempts: i64) -> Duration {
    let factor = 1u32 << attempts.clamp(0, 16) as u32;
    RETRY_BASE.saturating_mul(factor).min(RETRY_MAX)
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
    fn process<'a>(
        &'a self,
        delivery: &'a StoredDelivery,
    ) -> BoxFuture<'a, Result<Settlement, ProcessError>> {
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

    /// Process every delivery due now; returns how many were handled.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let due = self
            .store
            .due(BATCH, jiff::Timestamp::now().as_millisecond())
            .await?;
        for delivery in &due {
            self.handle(delivery).await?;
        }
        Ok(due.len())
    }

    async fn handle(&self, delivery: &StoredDelivery) -> Result<(), StoreError> {
        let seq = delivery.seq;
        let result = match self.processor.process(delivery).await {
            Ok(settlement) => {
                let Settlement {
                    state,
                    outcome,
                    record,
                } = settlement;
                self.store
                    .write(move |conn| {
                        if let Some(record) = record {
                            record(conn)?;
                        }
                        settle(conn, seq, state, &outcome)
                    })
                    .await?;
                format!("{state:?}").to_lowercase()
            }
            Err(ProcessError::Retry(message)) => {
                let delay = backoff(delivery.attempts);
                let next = jiff::Timestamp::now().as_millisecond() + delay.as_millis() as i64;
                tracing::warn!(
                    seq,
                    delivery_id = delivery.delivery_id,
                    error = message,
                    "will retry"
                );
                self.store.retry_later(seq, message, next).await?;
                "retry".to_string()
            }
            Err(ProcessError::Wait { reason, until }) => {
                let now = jiff::Timestamp::now().as_millisecond();
                let poll = now + backoff(delivery.attempts).min(WAIT_MAX).as_millis() as i64;
                let next = until.map_or(poll, |u| u.as_millisecond().clamp(now, poll));
                tracing::info!(seq, delivery_id = delivery.delivery_id, reason, "waiting");
                self.store.retry_later(seq, reason, next).await?;
                "wait".to_string()
            }
            Err(ProcessError::Stall(message)) => {
                tracing::warn!(
                    seq,
                    delivery_id = delivery.delivery_id,
                    error = message,
                    "stalled"
                );
                let outcome = serde_json::json!({ "error": message });
                self.store
                    .write(move |conn| settle(conn, seq, DeliveryState::Failed, &outcome))
                    .await?;
                "failed".to_string()
            }
        };
        self.metrics
            .processed
            .get_or_create(&ProcessedLabels { result })
            .inc();
        Ok(())
    }
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
}
