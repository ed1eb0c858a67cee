//! What receive does with stored deliveries, a batch at a time: record each
//! one's facts, ask the policy gate about every deploy it implies (against
//! the state the deliveries before it in the batch leave), write what is
//! allowed into the deploy repository in one commit, and nudge sync once.
//! The writer's commits carry each event id, so running a delivery again
//! (after a crash, a retry or a wait) writes once.

mod batch;
pub mod nudge;
mod outcome;
mod process_error;
pub mod requests;
pub mod view;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::deployrepo::writer::DeployWriter;
use crate::event::DomainEvent;
use crate::store::facts::record_event;
use crate::store::inbox::{DeliveryState, StoredDelivery};
use crate::store::{Store, StoreError};
use crate::worker::{
    ErrorKind, ProcessError, Processed, Processor, Settlement, settle_without_action,
};
use nudge::SyncNudge;
use view::PolicyView;

/// The receive role's processor when a deploy repository is configured.
pub struct DeployPipeline {
    store: Store,
    view: PolicyView,
    writer: DeployWriter,
    nudge: Option<Arc<dyn SyncNudge>>,
}

/// A store failure: retried.
fn retry(e: &StoreError) -> ProcessError {
    ProcessError::retry(ErrorKind::Store, e)
}

fn done(summary: String, detail: Value) -> Settlement {
    Settlement {
        state: DeliveryState::Done,
        outcome: json!({ "summary": summary, "detail": detail }),
        record: None,
    }
}

/// A delivery the batch left without a result (never expected): tried again.
fn undecided() -> Processed {
    Err(ProcessError::Retry {
        kind: ErrorKind::Store,
        message: "the batch ended before this delivery was decided".into(),
        not_before: None,
    })
}

/// The first eight characters of a commit id.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl DeployPipeline {
    /// A pipeline over `store`, reading policies through `view`, writing with
    /// `writer`, nudging sync through `nudge` when there is one.
    pub fn new(
        store: Store,
        view: PolicyView,
        writer: DeployWriter,
        nudge: Option<Arc<dyn SyncNudge>>,
    ) -> Self {
        DeployPipeline {
            store,
            view,
            writer,
            nudge,
        }
    }

    async fn handle_batch(&self, deliveries: &[StoredDelivery]) -> Vec<Processed> {
        // Facts first, in their own (idempotent) write: a request that has to
        // wait must not keep what it taught the gate from other requests.
        let events: Vec<(i64, DomainEvent)> = deliveries
            .iter()
            .map(|d| (d.seq, d.event.clone()))
            .collect();
        let recorded = self
            .store
            .write(move |conn| {
                events
                    .iter()
                    .try_for_each(|(seq, event)| record_event(conn, *seq, event))
            })
            .await;
        if let Err(e) = recorded {
            return deliveries.iter().map(|_| Err(retry(&e))).collect();
        }
        let mut results: Vec<Option<Processed>> = deliveries.iter().map(|_| None).collect();
        let (mut deploying, mut wakes) = (Vec::new(), Vec::new());
        let mut branch_moved = false;
        for (index, delivery) in deliveries.iter().enumerate() {
            // A new result may be what waiting deliveries wait for. Only a fresh
            // delivery wakes them: a waiting one waking the others would loop.
            let fresh = delivery.attempts == 0;
            let settled = match &delivery.event {
                DomainEvent::Ping | DomainEvent::Ignored { .. } => {
                    settle_without_action(&delivery.event)
                }
                DomainEvent::RefPushed(_) | DomainEvent::ChangeMerged(_) => {
                    branch_moved = true;
                    done("recorded; sync nudged".into(), Value::Null)
                }
                DomainEvent::PipelineCompleted(_) | DomainEvent::ReleasePublished(_) => {
                    if fresh {
                        wakes.push(index);
                    }
                    done("recorded".into(), Value::Null)
                }
                DomainEvent::RolloutReported(_) => {
                    if fresh {
                        wakes.push(index);
                    }
                    deploying.push(index);
                    continue;
                }
                DomainEvent::ArtifactPublished(_)
                | DomainEvent::ArtifactsPublished { .. }
                | DomainEvent::OperatorRequested(_) => {
                    deploying.push(index);
                    continue;
                }
            };
            results[index] = Some(Ok(settled));
        }
        if !wakes.is_empty()
            && let Err(e) = self.store.wake_pending().await
        {
            for index in wakes {
                results[index] = Some(Err(retry(&e)));
            }
            deploying.retain(|index| results[*index].is_none());
        }
        let committed = !deploying.is_empty()
            && self
                .deploy_batch(deliveries, &deploying, &mut results)
                .await;
        if let Some(nudge) = &self.nudge
            && (branch_moved || committed)
        {
            let reason = if committed {
                "deploy repo commit"
            } else {
                "a branch moved"
            };
            nudge.nudge(reason).await;
        }
        results
            .into_iter()
            .map(|result| result.unwrap_or_else(undecided))
            .collect()
    }
}

impl Processor for DeployPipeline {
    fn process<'a>(&'a self, delivery: &'a StoredDelivery) -> BoxFuture<'a, Processed> {
        Box::pin(async move {
            let mut results = self.handle_batch(std::slice::from_ref(delivery)).await;
            results.pop().unwrap_or_else(undecided)
        })
    }

    fn process_batch<'a>(
        &'a self,
        deliveries: &'a [StoredDelivery],
    ) -> BoxFuture<'a, Vec<Processed>> {
        Box::pin(self.handle_batch(deliveries))
    }
}
