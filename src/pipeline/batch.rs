//! One batch's deploys: one policy load for the head read, each delivery's
//! requests evaluated in order against the state the deliveries before it
//! leave, and one write for everything allowed (one commit for the direct
//! commits, one update per pull-request branch).

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::deployrepo::request::DeployRequest as WriteRequest;
use crate::policy::{
    Decision, DeployRequest, DesiredFact, Facts, Origin, PolicySet, Verdict, evaluate,
};
use crate::repoconfig::WriteMode;
use crate::store::facts::record_desired;
use crate::store::inbox::StoredDelivery;
use crate::worker::{ProcessError, Processed};

use super::outcome::{Plan, settle_plan};
use super::{DeployPipeline, done, process_error, requests, retry, short};

/// What the deliveries earlier in a batch leave for each app and
/// environment: the image their allowed direct commits desire. Evaluation
/// sees it in place of the store's, so a later version replaces an earlier
/// one and a downgrade is refused against the batch's own result. The
/// batch's commit is one deploy per app and environment, however many
/// requests it carries.
/// How to take back one [`BatchState::record`].
#[derive(Debug)]
pub(super) struct Undo {
    key: (String, String),
    previous: Option<DesiredFact>,
}

#[derive(Debug, Default)]
pub(super) struct BatchState {
    desired: HashMap<(String, String), DesiredFact>,
}

impl BatchState {
    /// Show `facts` (gathered from the store for `request`) what the batch
    /// has decided so far.
    pub(super) fn apply(&self, request: &DeployRequest, facts: &mut Facts) {
        let key = (request.app.clone(), request.environment.clone());
        if let Some(desired) = self.desired.get(&key) {
            facts.recent_deploys.push(desired.set_at);
            facts.desired = Some(desired.clone());
        }
    }

    /// Keep what `decision` on `request` leaves: an allowed direct commit
    /// becomes the desired image. A pull request changes nothing until merged.
    /// Returns how to undo it.
    pub(super) fn record(
        &mut self,
        request: &DeployRequest,
        decision: &Decision,
        now: Timestamp,
    ) -> Option<Undo> {
        let Verdict::Allow {
            mode: WriteMode::Commit,
        } = decision.verdict
        else {
            return None;
        };
        let key = (request.app.clone(), request.environment.clone());
        let desired = DesiredFact {
            image: request.image.clone(),
            built_at: request.built_at,
            set_at: now,
        };
        let previous = self.desired.insert(key.clone(), desired);
        Some(Undo { key, previous })
    }

    /// Forget records, newest first.
    pub(super) fn undo(&mut self, undos: Vec<Undo>) {
        for Undo { key, previous } in undos.into_iter().rev() {
            match previous {
                Some(desired) => self.desired.insert(key, desired),
                None => self.desired.remove(&key),
            };
        }
    }
}

impl DeployPipeline {
    /// Decide and write the deploys of `deliveries[i]` for each `i` in
    /// `deploying`, filling their `results`. Whether a commit was made.
    pub(super) async fn deploy_batch(
        &self,
        deliveries: &[StoredDelivery],
        deploying: &[usize],
        results: &mut [Option<Processed>],
    ) -> bool {
        // A broken slipway.yaml stalls: nothing can be decided until the repo changes.
        let (set, head) = match self.view.load().await {
            Ok(loaded) => loaded,
            Err(e) => {
                for &index in deploying {
                    results[index] = Some(Err(process_error::view(&e)));
                }
                return false;
            }
        };
        let now = Timestamp::now();
        let mut state = BatchState::default();
        let mut plans = Vec::new();
        for &index in deploying {
            match self.plan(&set, &deliveries[index], &mut state, now).await {
                Ok(plan) if plan.wanted.is_empty() => {
                    let summary = format!("no deploy follows (deploy repo at {})", short(&head));
                    results[index] = Some(Ok(done(summary, Value::Null)));
                }
                Ok(plan) => plans.push((index, plan)),
                Err(e) => results[index] = Some(Err(e)),
            }
        }
        let writes: Vec<WriteRequest> = plans.iter().flat_map(|(_, plan)| plan.writes()).collect();
        let mut outcomes = self.writer.write(writes).await.into_iter();
        let mut committed = false;
        let mut unsettled = Vec::new();
        for (index, plan) in plans {
            let mine = outcomes.by_ref().take(plan.write_count()).collect();
            let settled = settle_plan(&deliveries[index], &plan, mine);
            committed |= settled.committed;
            // What a delivery that will run again wrote is kept now; a
            // settled one keeps it in its settlement's transaction.
            let result = match settled.result {
                Ok(mut settlement) => {
                    settlement.record = record_written(settled.written);
                    Ok(settlement)
                }
                Err(e) => {
                    unsettled.extend(settled.written);
                    Err(e)
                }
            };
            results[index] = Some(result);
        }
        if let Some(record) = record_written(unsettled)
            && let Err(e) = self.store.write(record).await
        {
            tracing::warn!(error = %crate::error_chain(&e), "could not record the desired images of deliveries that will run again");
        }
        committed
    }

    /// The requests of `delivery` and the gate's decision on each, seen
    /// against `state`, which it then updates.
    async fn plan(
        &self,
        set: &PolicySet,
        delivery: &StoredDelivery,
        state: &mut BatchState,
        now: Timestamp,
    ) -> Result<Plan, ProcessError> {
        let origin = Origin {
            provider: delivery.provider,
            event_id: delivery.delivery_id.clone(),
            received_at: requests::received_at(&delivery.received_at),
        };
        let wanted = requests::requests_for(&self.store, &set.config, &delivery.event, &origin)
            .await
            .map_err(|e| retry(&e))?;
        let mut decisions = Vec::with_capacity(wanted.len());
        let mut undos = Vec::new();
        for request in &wanted {
            let mut facts = match self.store.facts_for(&set.config, request, now).await {
                Ok(facts) => facts,
                Err(e) => {
                    // Nothing of this delivery is written: forget what it decided.
                    state.undo(undos);
                    return Err(retry(&e));
                }
            };
            state.apply(request, &mut facts);
            let decision = evaluate(set, &facts, request, now);
            undos.extend(state.record(request, &decision, now));
            decisions.push(decision);
        }
        Ok(Plan { wanted, decisions })
    }
}

/// The store write recording that the deploy repo now desires each
/// request's image (at its commit), if there is any.
fn record_written(written: Vec<(DeployRequest, String)>) -> Option<crate::worker::Record> {
    if written.is_empty() {
        return None;
    }
    Some(Box::new(move |conn| {
        let now = Timestamp::now();
        for (request, commit) in &written {
            record_desired(
                conn,
                &request.app,
                &request.environment,
                &request.image,
                request.built_at,
                commit,
                now,
            )?;
        }
        Ok(())
    }))
}
