//! What receive does with a stored delivery: record its facts, ask the
//! policy gate about every deploy it implies, write what is allowed into the
//! deploy repository, and nudge sync. The writer's commits carry the event id,
//! so running a delivery again (after a crash, a retry or a wait) writes once.

pub mod nudge;
mod process_error;
pub mod requests;
pub mod view;

use std::sync::Arc;

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::deployrepo::request::{DeployRequest as WriteRequest, Written};
use crate::deployrepo::writer::DeployWriter;
use crate::event::DomainEvent;
use crate::policy::{Decision, DeployRequest, Origin, Verdict, evaluate};
use crate::store::facts::{record_desired, record_event};
use crate::store::inbox::{DeliveryState, StoredDelivery};
use crate::store::{Store, StoreError};
use crate::worker::{ErrorKind, ProcessError, Processor, Settlement, settle_without_action};
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
fn retry(e: StoreError) -> ProcessError {
    ProcessError::retry(ErrorKind::Store, &e)
}

fn done(summary: String, detail: Value) -> Settlement {
    Settlement {
        state: DeliveryState::Done,
        outcome: json!({ "summary": summary, "detail": detail }),
        record: None,
    }
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

    async fn nudge(&self, reason: &str) {
        if let Some(nudge) = &self.nudge {
            nudge.nudge(reason).await;
        }
    }

    /// A new result may be what waiting deliveries wait for. Only a fresh
    /// delivery wakes them: a waiting one waking the others would loop.
    async fn wake_waiting(&self, delivery: &StoredDelivery) -> Result<(), ProcessError> {
        if delivery.attempts == 0 {
            self.store.wake_pending().await.map_err(retry)?;
        }
        Ok(())
    }

    async fn handle(&self, delivery: &StoredDelivery) -> Result<Settlement, ProcessError> {
        // Facts first, in their own (idempotent) write: a request that has to
        // wait must not keep what it taught the gate from other requests.
        let (seq, event) = (delivery.seq, delivery.event.clone());
        self.store
            .write(move |conn| record_event(conn, seq, &event))
            .await
            .map_err(retry)?;
        match &delivery.event {
            DomainEvent::Ping | DomainEvent::Ignored { .. } => {
                return Ok(settle_without_action(&delivery.event));
            }
            DomainEvent::RefPushed(_) | DomainEvent::ChangeMerged(_) => {
                self.nudge("a branch moved").await;
                return Ok(done("recorded; sync nudged".into(), Value::Null));
            }
            DomainEvent::PipelineCompleted(_) | DomainEvent::ReleasePublished(_) => {
                self.wake_waiting(delivery).await?;
                return Ok(done("recorded".into(), Value::Null));
            }
            DomainEvent::RolloutReported(_) => self.wake_waiting(delivery).await?,
            DomainEvent::ArtifactPublished(_)
            | DomainEvent::ArtifactsPublished { .. }
            | DomainEvent::OperatorRequested(_) => {}
        }
        // A broken slipway.yaml stalls: nothing can be decided until the repo changes.
        let (set, head) = self.view.load().await.map_err(process_error::view)?;
        let origin = Origin {
            provider: delivery.provider,
            event_id: delivery.delivery_id.clone(),
            received_at: requests::received_at(&delivery.received_at),
        };
        let wanted = requests::requests_for(&self.store, &set.config, &delivery.event, &origin)
            .await
            .map_err(retry)?;
        if wanted.is_empty() {
            return Ok(done(
                format!("no deploy follows (deploy repo at {})", short(&head)),
                Value::Null,
            ));
        }
        let now = Timestamp::now();
        let mut decisions = Vec::new();
        for request in &wanted {
            let facts = self
                .store
                .facts_for(&set.config, request, now)
                .await
                .map_err(retry)?;
            decisions.push(evaluate(&set, &facts, request, now));
        }
        let mut settlement = self.write_allowed(&wanted, &decisions).await?;
        // Parts of a push that were not artifacts are said, never dropped silently.
        if let DomainEvent::ArtifactsPublished { skipped, .. } = &delivery.event
            && let Some(summary) = settlement.outcome.get_mut("summary")
        {
            let mut lines = vec![summary.as_str().unwrap_or_default().to_string()];
            lines.extend(skipped.iter().map(|reason| format!("skipped {reason}")));
            *summary = Value::String(lines.join("\n"));
        }
        Ok(settlement)
    }

    async fn write_allowed(
        &self,
        wanted: &[DeployRequest],
        decisions: &[Decision],
    ) -> Result<Settlement, ProcessError> {
        let allowed: Vec<(usize, WriteRequest)> = wanted
            .iter()
            .zip(decisions)
            .enumerate()
            .filter_map(|(i, (request, decision))| match decision.verdict {
                Verdict::Allow { mode } => Some((i, write_request(request, decision, mode))),
                _ => None,
            })
            .collect();
        let outcomes = self
            .writer
            .write(allowed.iter().map(|(_, r)| r.clone()).collect())
            .await;
        let mut lines = Vec::new();
        let mut committed = false;
        let mut failure: Option<ProcessError> = None;
        for ((index, _), outcome) in allowed.iter().zip(&outcomes) {
            let request = &wanted[*index];
            let target = format!("{}/{}", request.app, request.environment);
            match &outcome.result {
                Ok(Written::Committed { commit, .. }) => {
                    committed = true;
                    lines.push(format!(
                        "{target}: committed {} ({})",
                        short(commit),
                        request.image
                    ));
                    self.record_written(request, commit).await?;
                }
                Ok(Written::AlreadyWritten { commit }) => {
                    lines.push(format!("{target}: already written in {}", short(commit)));
                    self.record_written(request, commit).await?;
                }
                Ok(Written::PullRequest {
                    url,
                    number,
                    updated,
                    ..
                }) => {
                    let verb = if *updated { "updated" } else { "opened" };
                    lines.push(format!("{target}: {verb} pull request #{number} {url}"));
                }
                Ok(Written::Unchanged) => {
                    lines.push(format!("{target}: already at {}", request.image))
                }
                Ok(Written::Refused { reason }) => {
                    lines.push(format!("{target}: refused at write: {reason}"))
                }
                Err(f) => {
                    failure = Some(process_error::merge(
                        failure,
                        process_error::write(&target, f),
                    ))
                }
            }
        }
        if committed {
            self.nudge("deploy repo commit").await;
        }
        for decision in decisions {
            match &decision.verdict {
                Verdict::Deny { reasons } => lines.push(format!(
                    "{}/{}: denied: {}",
                    decision.app,
                    decision.environment,
                    reasons.join("; ")
                )),
                Verdict::Wait {
                    waiting_for, until, ..
                } if failure.is_none() => {
                    failure = Some(ProcessError::Wait {
                        reason: format!(
                            "{}/{}: waiting for {}",
                            decision.app,
                            decision.environment,
                            waiting_for.as_str()
                        ),
                        until: *until,
                    });
                }
                _ => {}
            }
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        Ok(done(
            lines.join("\n"),
            json!({ "decisions": decisions, "writes": outcomes }),
        ))
    }

    async fn record_written(
        &self,
        request: &DeployRequest,
        commit: &str,
    ) -> Result<(), ProcessError> {
        let (request, commit) = (request.clone(), commit.to_string());
        self.store
            .write(move |conn| {
                record_desired(
                    conn,
                    &request.app,
                    &request.environment,
                    &request.image,
                    request.built_at,
                    &commit,
                    Timestamp::now(),
                )
            })
            .await
            .map_err(retry)
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn write_request(
    request: &DeployRequest,
    decision: &Decision,
    mode: crate::repoconfig::WriteMode,
) -> WriteRequest {
    WriteRequest {
        event_id: request.event_id.clone(),
        app: request.app.clone(),
        environment: request.environment.clone(),
        image: request.image.clone(),
        mode,
        verdict: format!("allow ({})", mode.as_str()),
        trace: decision.render_text(),
        source: request.source.clone(),
        rollback: request.is_rollback(),
    }
}

impl Processor for DeployPipeline {
    fn process<'a>(
        &'a self,
        delivery: &'a StoredDelivery,
    ) -> BoxFuture<'a, Result<Settlement, ProcessError>> {
        Box::pin(self.handle(delivery))
    }
}
