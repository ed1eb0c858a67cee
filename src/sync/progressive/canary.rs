//! Canary on plain Deployments. The new revision runs as `<name>-canary`
//! beside the stable Deployment, which keeps the last verified template;
//! the steps then move traffic to it (by the replica ratio behind the one
//! Service, or by the weights of the Gateway API HTTPRoute in the
//! environment), pause, and run metric analyses against Prometheus. After
//! the last step the stable Deployment takes the new template, is verified,
//! and only then is the canary removed and the weights reset.
//!
//! A failed analysis or rollout, `slipway abort`, or a newer revision before
//! promotion cleans up: the stable revision's objects are applied again
//! (traffic back to stable first), then the canary is deleted. Every step
//! is stored before it touches the cluster and is idempotent, so a restarted
//! sync resumes at the stored step. With nothing verified yet, or no change
//! to the pod templates, the environment rolls as `rolling` does.

use std::collections::BTreeSet;

use super::colour::{self, Split};
use super::run::{Next, Run, StrategyRun, Waited, after, until};
use crate::repoconfig::{Canary, CanaryStep, Pause};
use crate::store::rollout::{Colour, RolloutEnd, RolloutPhase, RolloutRecord};
use crate::store::sync_state::{SyncPhase, TargetStatus};
use crate::sync::analysis::{AnalysisVerdict, PrometheusClient, QueryContext, run_analysis};
use crate::sync::cluster::KubeCluster;
use crate::sync::plan::{DesiredObject, ObjectRef};
use crate::sync::progressive::bluegreen::Wanted;
use crate::sync::reconcile::{ReconcileError, SyncContext, Target};
use crate::sync::rollout::{self};

mod layout;

/// Name of the strategy in the rollout record.
pub const STRATEGY: &str = "canary";

/// Most phase steps one pass walks through (a bound against a bug looping).
const MAX_PHASE_STEPS: usize = 64;

/// What a canary reconcile came to.
pub enum Outcome {
    /// The rollout went as far as it could this pass.
    Handled(TargetStatus),
    /// Nothing to roll out as a canary: apply as `rolling` does.
    Rolling(TargetStatus),
}

/// One canary reconcile of one app/environment.
type CanaryRun<'a> = StrategyRun<'a, Canary>;

/// Bring a canary app/environment one pass further towards `wanted`.
pub async fn reconcile(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    mut status: TargetStatus,
    target: &Target,
    wanted: &Wanted,
    config: &Canary,
) -> Result<Outcome, ReconcileError> {
    let run = CanaryRun {
        run: Run {
            ctx,
            cluster,
            target,
            strategy: STRATEGY,
            image: rollout::app_image(&target.app.image, &wanted.desired),
        },
        config,
    };
    let mut record = status
        .rollout
        .take()
        .filter(|r| r.strategy == STRATEGY)
        .unwrap_or_else(|| RolloutRecord::idle(STRATEGY));
    let (app, env) = run.key();
    if ctx.rollouts.abort.take(app, env) && in_rollout(&record) {
        let at = config
            .steps
            .get(record.step)
            .map(describe)
            .unwrap_or_default();
        let cause = format!(
            "aborted with slipway abort at step {} ({at})",
            record.step + 1
        );
        run.begin_cleanup(&mut status, &mut record, RolloutEnd::Aborted, cause)
            .await?;
    }
    let started_in_flight = record.phase.in_flight();
    if record.phase == RolloutPhase::Idle && !run.start(&mut status, &mut record, wanted).await? {
        status.rollout = Some(record);
        return Ok(Outcome::Rolling(status));
    }
    for _ in 0..MAX_PHASE_STEPS {
        let next = match record.phase {
            RolloutPhase::Idle => Next::Done,
            RolloutPhase::Stepping | RolloutPhase::Paused if run.superseded(&record, wanted) => {
                let cause = format!("superseded by revision {}", wanted.revision);
                run.begin_cleanup(&mut status, &mut record, RolloutEnd::Superseded, cause)
                    .await?;
                Next::Continue
            }
            RolloutPhase::Stepping | RolloutPhase::Paused => {
                run.step(&mut status, &mut record).await?
            }
            RolloutPhase::Promoting => run.promote(&mut status, &mut record).await?,
            RolloutPhase::CleaningUp => run.clean_up(&mut status, &mut record).await?,
            _ => {
                // Phases of another strategy: go back to the verified revision.
                record.enter(RolloutPhase::CleaningUp);
                Next::Continue
            }
        };
        if let Next::Done = next {
            break;
        }
    }
    let cleaned_up = record.phase == RolloutPhase::Idle
        && record.end.is_some_and(|end| end != RolloutEnd::Promoted)
        && record.candidate.is_none()
        && status.failed_hash.as_deref() != Some(wanted.content.as_str())
        && status.applied_hash.as_deref() != Some(wanted.content.as_str());
    if cleaned_up && started_in_flight {
        // Cleaned up while git moved on: roll the newer revision out from a
        // clean state (the cleanup held the lock, so it waited).
        status.rollout = Some(record);
        return Box::pin(reconcile(ctx, cluster, status, target, wanted, config)).await;
    }
    status.rollout = Some(record);
    Ok(Outcome::Handled(status))
}

fn in_rollout(record: &RolloutRecord) -> bool {
    record.phase.in_flight() && record.phase != RolloutPhase::CleaningUp
}

fn qualified(object: &ObjectRef) -> String {
    format!(
        "{}/{}",
        object.namespace.as_deref().unwrap_or_default(),
        object.name
    )
}

impl StrategyRun<'_, Canary> {
    fn split(&self, desired: Vec<DesiredObject>) -> Result<Split, colour::SplitError> {
        colour::split(desired, None, None)
    }

    /// Start a canary when git changed the pod templates of a verified
    /// revision; `false` when the environment should roll as `rolling` does.
    async fn start(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        wanted: &Wanted,
    ) -> Result<bool, ReconcileError> {
        if status.failed_hash.as_deref() == Some(wanted.content.as_str()) {
            return Ok(false);
        }
        let Some(verified) = status.verified_revision.clone() else {
            return Ok(false);
        };
        let canary = match self.split(wanted.desired.clone()) {
            Ok(split) => split,
            Err(e) => {
                self.refuse(status, record, e.to_string()).await?;
                return Ok(true);
            }
        };
        let Ok(stable) = self.split(self.objects_at(&verified).await?) else {
            return Ok(false);
        };
        let (stable_rev, canary_rev) = (
            colour::revision_of(&stable.workloads),
            colour::revision_of(&canary.workloads),
        );
        if stable_rev == canary_rev {
            return Ok(false);
        }
        record.stable = Some(Colour {
            revision: stable_rev,
            commit: verified,
            deployments: stable
                .workloads
                .iter()
                .map(|w| qualified(&w.object))
                .collect(),
        });
        let names = canary
            .workloads
            .iter()
            .map(|w| qualified(&colour::canary(w, &canary_rev, 0, &BTreeSet::new(), "").object))
            .collect();
        record.candidate = Some(Colour {
            revision: canary_rev.clone(),
            commit: wanted.revision.clone(),
            deployments: names,
        });
        // A promote queued before this rollout began belongs to an earlier one.
        let (app, env) = self.key();
        self.ctx.rollouts.promote.take(app, env);
        record.started_at = Some(crate::store::now_rfc3339());
        record.step = 0;
        record.weight = 0;
        record.switched = false;
        record.pause_until = None;
        record.analysis_runs.clear();
        record.end = None;
        record.cause = None;
        record.enter(RolloutPhase::Stepping);
        status.state = SyncPhase::Progressing;
        status.applied_revision = Some(wanted.revision.clone());
        status.applied_hash = Some(wanted.content.clone());
        status.rollout_started_at = record.started_at.clone();
        status.clear_error();
        self.save(status, record).await?;
        tracing::info!(app = %self.target.app_name, environment = %self.target.env.name, revision = canary_rev, "canary started");
        Ok(true)
    }

    /// Whether git moved on to other pod templates before promotion.
    fn superseded(&self, record: &RolloutRecord, wanted: &Wanted) -> bool {
        let Some(candidate) = &record.candidate else {
            return false;
        };
        candidate.commit != wanted.revision
            && self
                .split(wanted.desired.clone())
                .is_ok_and(|split| colour::revision_of(&split.workloads) != candidate.revision)
    }

    /// Converge on `desired` (stable template or not), then wait for its
    /// Deployments, or an abort.
    async fn apply_and_verify(
        &self,
        status: &mut TargetStatus,
        record: &RolloutRecord,
        desired: Vec<DesiredObject>,
    ) -> Result<Waited, ReconcileError> {
        let (_app, _env) = self.key();
        let workloads: Vec<ObjectRef> = desired
            .iter()
            .filter(|d| d.object.kind == "Deployment")
            .map(|d| d.object.clone())
            .collect();
        let commit = record
            .candidate
            .as_ref()
            .map(|c| c.commit.clone())
            .unwrap_or_default();
        if let Some(rejected) = self
            .converge_objects(status, desired, BTreeSet::new(), &commit)
            .await?
        {
            return Ok(Waited::Failed(rejected));
        }
        self.await_workloads(record, &workloads).await
    }

    /// Run the current step; the next one is stored before it starts.
    async fn step(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
    ) -> Result<Next, ReconcileError> {
        let Some(step) = self.config.steps.get(record.step).cloned() else {
            record.enter(RolloutPhase::Promoting);
            self.save(status, record).await?;
            return Ok(Next::Continue);
        };
        let Some(revisions) = self.revisions(record).await? else {
            return self.lost_candidate(status, record).await;
        };
        let at = format!("step {} ({})", record.step + 1, describe(&step));
        let waited = match &step {
            CanaryStep::Weight(weight) => {
                record.weight = *weight;
                record.switched = *weight > 0;
                self.save(status, record).await?;
                match self.layout(record, &revisions, *weight, true).await? {
                    Ok(desired) => self.apply_and_verify(status, record, desired).await?,
                    Err(cause) => Waited::Failed(cause),
                }
            }
            CanaryStep::Pause(Pause::For(duration)) => {
                if record.pause_until.is_none() {
                    record.pause_until = Some(after(*duration));
                    self.save(status, record).await?;
                }
                self.pause(record.pause_until.as_deref().unwrap_or_default())
                    .await
            }
            CanaryStep::Pause(Pause::UntilPromoted) => {
                let (app, env) = self.key();
                if !self.ctx.rollouts.promote.take(app, env) {
                    record.enter(RolloutPhase::Paused);
                    status.state = SyncPhase::Paused;
                    self.save(status, record).await?;
                    return Ok(Next::Done);
                }
                Waited::Done
            }
            CanaryStep::Analysis(name) => self.analyse(status, record, name).await?,
        };
        match waited {
            Waited::Done => {
                record.step += 1;
                record.pause_until = None;
                record.analysis_runs.clear();
                record.enter(RolloutPhase::Stepping);
                status.state = SyncPhase::Progressing;
                self.save(status, record).await?;
            }
            waited => return self.stop(status, record, waited, &at).await,
        }
        Ok(Next::Continue)
    }

    /// Wait out a timed pause (`slipway promote` ends it early).
    async fn pause(&self, until_at: &str) -> Waited {
        let (app, env) = self.key();
        tokio::select! {
            _ = tokio::time::sleep(until(until_at)) => Waited::Done,
            _ = self.ctx.rollouts.promote.requested(app, env) => {
                self.ctx.rollouts.promote.take(app, env);
                Waited::Done
            }
            _ = self.ctx.rollouts.abort.requested(app, env) => Waited::Aborted,
        }
    }

    /// Run the analysis `name` against the canary, storing every run.
    async fn analyse(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        name: &str,
    ) -> Result<Waited, ReconcileError> {
        let Some(analysis) = self.target.analyses.get(name) else {
            return Ok(Waited::Failed(format!(
                "no analysis named {name} in slipway.yaml"
            )));
        };
        let (app, env) = self.key();
        let revision = record
            .candidate
            .as_ref()
            .map(|c| c.revision.clone())
            .unwrap_or_default();
        let context = QueryContext {
            revision: &revision,
            app,
            environment: env,
        };
        let runs = record
            .analysis_runs
            .iter()
            .filter_map(|r| serde_json::from_value(r.clone()).ok())
            .collect();
        let prometheus = PrometheusClient::new();
        let (sender, mut runs_seen) = tokio::sync::mpsc::unbounded_channel();
        let analysis_run = run_analysis(&prometheus, name, analysis, &context, runs, |run| {
            let _ = sender.send(serde_json::to_value(run).unwrap_or_default());
        });
        tokio::pin!(analysis_run);
        let verdict = loop {
            tokio::select! {
                verdict = &mut analysis_run => break Some(verdict),
                Some(run) = runs_seen.recv() => {
                    record.analysis_runs.push(run);
                    self.save(status, record).await?;
                }
                _ = self.ctx.rollouts.abort.requested(app, env) => break None,
            }
        };
        while let Ok(run) = runs_seen.try_recv() {
            record.analysis_runs.push(run);
        }
        self.save(status, record).await?;
        Ok(match verdict {
            None => Waited::Aborted,
            Some(AnalysisVerdict::Passed) => Waited::Done,
            Some(AnalysisVerdict::Failed { cause }) => Waited::Failed(cause),
        })
    }

    /// Past the last step: the stable Deployments take the new template and
    /// are verified; then the canary goes and the weights are reset.
    async fn promote(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
    ) -> Result<Next, ReconcileError> {
        let Some(revisions) = self.revisions(record).await? else {
            return self.lost_candidate(status, record).await;
        };
        let desired = match self
            .layout(record, &revisions, record.weight, false)
            .await?
        {
            Ok(desired) => desired,
            Err(cause) => {
                self.begin_cleanup(status, record, RolloutEnd::Failed, cause)
                    .await?;
                return Ok(Next::Continue);
            }
        };
        match self.apply_and_verify(status, record, desired).await? {
            Waited::Done => {}
            waited => return self.stop(status, record, waited, "promotion").await,
        }
        // The new revision as git has it: routes reset, then the canary pruned.
        let commit = record
            .candidate
            .as_ref()
            .map(|c| c.commit.clone())
            .unwrap_or_default();
        self.converge_plain(status, &commit).await?;
        if let Some(candidate) = record.candidate.take() {
            self.delete_colour(&candidate).await?;
            record.stable = Some(Colour {
                deployments: revisions
                    .canary
                    .workloads
                    .iter()
                    .map(|w| qualified(&w.object))
                    .collect(),
                ..candidate
            });
        }
        record.switched = false;
        record.weight = 0;
        record.end = Some(RolloutEnd::Promoted);
        record.cause = None;
        record.enter(RolloutPhase::Idle);
        self.verified(status, record, false).await?;
        Ok(Next::Done)
    }

    /// Converge on `commit`'s objects as git has them: everything a canary
    /// added (its Deployment and Service, route weights) is undone — what
    /// it changed is applied first, what it added is pruned after.
    async fn converge_plain(
        &self,
        status: &mut TargetStatus,
        commit: &str,
    ) -> Result<(), ReconcileError> {
        let (_app, _env) = self.key();
        let desired = self.objects_at(commit).await?;
        if desired.is_empty() {
            return Ok(());
        }
        self.converge_objects(status, desired, BTreeSet::new(), commit)
            .await?;
        Ok(())
    }

    /// Traffic back to the stable revision, then the canary deleted. Idempotent.
    async fn clean_up(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
    ) -> Result<Next, ReconcileError> {
        if let Some(stable) = record.stable.clone() {
            self.converge_plain(status, &stable.commit).await?;
        }
        self.finish_cleanup(status, record).await?;
        Ok(Next::Done)
    }
}

/// A step as a person reads it.
fn describe(step: &CanaryStep) -> String {
    match step {
        CanaryStep::Weight(w) => format!("weight {w}%"),
        CanaryStep::Pause(Pause::For(d)) => format!("pause {}s", d.as_secs()),
        CanaryStep::Pause(Pause::UntilPromoted) => "pause until promoted".into(),
        CanaryStep::Analysis(name) => format!("analysis {name}"),
    }
}
