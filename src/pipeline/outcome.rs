//! One delivery's settlement from the gate's decisions and the writer's
//! outcomes: the status API's summary lines, what to record, and whether it
//! is done, waits or runs again.

use serde_json::json;

use crate::deployrepo::request::{DeployRequest as WriteRequest, WriteOutcome, Written};
use crate::event::DomainEvent;
use crate::policy::{Decision, DeployRequest, Verdict};
use crate::repoconfig::WriteMode;
use crate::store::inbox::StoredDelivery;
use crate::worker::{ProcessError, Processed};

use super::{done, process_error, short};

/// One delivery's deploy requests and the gate's decision on each, in order.
pub(super) struct Plan {
    pub wanted: Vec<DeployRequest>,
    pub decisions: Vec<Decision>,
}

impl Plan {
    /// The requests the gate allowed, with their write mode, in order.
    fn allowed(&self) -> impl Iterator<Item = (&DeployRequest, &Decision, WriteMode)> {
        self.wanted
            .iter()
            .zip(&self.decisions)
            .filter_map(|(request, decision)| match decision.verdict {
                Verdict::Allow { mode } => Some((request, decision, mode)),
                _ => None,
            })
    }

    /// How many writes the plan asks for.
    pub fn write_count(&self) -> usize {
        self.allowed().count()
    }

    /// The writes the plan asks for, in order.
    pub fn writes(&self) -> impl Iterator<Item = WriteRequest> + '_ {
        self.allowed()
            .map(|(request, decision, mode)| WriteRequest {
                event_id: request.event_id.clone(),
                app: request.app.clone(),
                environment: request.environment.clone(),
                image: request.image.clone(),
                mode,
                verdict: format!("allow ({})", mode.as_str()),
                trace: decision.render_text(),
                source: request.source.clone(),
                rollback: request.is_rollback(),
            })
    }
}

/// What settling one delivery concluded.
pub(super) struct Settled {
    /// Done, or why it waits or runs again.
    pub result: Processed,
    /// Each request now in the deploy repo's history, with its commit.
    pub written: Vec<(DeployRequest, String)>,
    /// Whether this delivery's writes made a new commit.
    pub committed: bool,
}

/// Settle `delivery` from its `plan` and the `outcomes` of the plan's writes
/// (one per write, in order). A denial is said; a wait or a failed write
/// keeps the delivery pending while the rest of it, and of its batch, goes on.
pub(super) fn settle_plan(
    delivery: &StoredDelivery,
    plan: &Plan,
    outcomes: Vec<WriteOutcome>,
) -> Settled {
    let mut lines = Vec::new();
    let mut written = Vec::new();
    let mut committed = false;
    let mut failure: Option<ProcessError> = None;
    for ((request, _, _), outcome) in plan.allowed().zip(&outcomes) {
        let target = format!("{}/{}", request.app, request.environment);
        match &outcome.result {
            Ok(Written::Committed { commit, .. }) => {
                committed = true;
                lines.push(format!(
                    "{target}: committed {} ({})",
                    short(commit),
                    request.image
                ));
                written.push((request.clone(), commit.clone()));
            }
            Ok(Written::AlreadyWritten { commit }) => {
                lines.push(format!("{target}: already written in {}", short(commit)));
                written.push((request.clone(), commit.clone()));
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
            Ok(Written::Unchanged) => lines.push(format!("{target}: already at {}", request.image)),
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
    for decision in &plan.decisions {
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
    // Parts of a push that were not artifacts are said, never dropped silently.
    if let DomainEvent::ArtifactsPublished { skipped, .. } = &delivery.event {
        lines.extend(skipped.iter().map(|reason| format!("skipped {reason}")));
    }
    let result = match failure {
        Some(failure) => Err(failure),
        None => Ok(done(
            lines.join("\n"),
            json!({ "decisions": plan.decisions, "writes": outcomes }),
        )),
    };
    Settled {
        result,
        written,
        committed,
    }
}
