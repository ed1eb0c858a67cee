//! Blue-green on plain Deployments. The new revision runs as a second
//! Deployment per workload (`<name>-<revision hash>`) that no Service
//! selects; once verified (and promoted, with `auto_promote: false`), every
//! switched Service's selector moves to it in one server-side apply each;
//! the old colour drains for `drain_seconds`, then it is deleted.
//!
//! Each phase is stored before the step it names touches the cluster, and
//! every step is idempotent, so a restarted sync continues where the last
//! one stopped. A failure or an abort cleans up: before the switch the new
//! colour is deleted and traffic never moved; during the drain the Services
//! switch back to the old colour first.

use std::collections::BTreeSet;
use std::time::Duration;

use super::ROLE_CANDIDATE;
use super::colour::{self, Split};
use super::run::{Next, Run, StrategyRun, Waited};
use crate::repoconfig::BlueGreen;
use crate::store::rollout::{Colour, RolloutEnd, RolloutPhase, RolloutRecord};
use crate::store::sync_state::{SyncPhase, TargetStatus};
use crate::sync::cluster::KubeCluster;
use crate::sync::plan::DesiredObject;
use crate::sync::reconcile::{ReconcileError, SyncContext, Target};

mod steps;

/// Name of the strategy in the rollout record.
pub const STRATEGY: &str = "blue_green";

/// Most phases one pass walks through (a bound against a bug looping).
const MAX_PHASE_STEPS: usize = 16;

/// What a reconcile wants: the head revision and its rendered objects.
pub struct Wanted {
    /// The deploy-repo commit.
    pub revision: String,
    /// Its objects, labelled and in scope.
    pub desired: Vec<DesiredObject>,
    /// The hash of the whole set.
    pub content: String,
}

/// One blue-green reconcile of one app/environment.
type BlueGreenRun<'a> = StrategyRun<'a, BlueGreen>;

/// Bring a blue-green app/environment one pass further towards `wanted`:
/// start, continue or clean up its rollout, or hold the serving colour.
pub async fn reconcile(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    mut status: TargetStatus,
    target: &Target,
    wanted: Wanted,
    config: &BlueGreen,
) -> Result<TargetStatus, ReconcileError> {
    let run = BlueGreenRun {
        run: Run {
            ctx,
            cluster,
            target,
            strategy: STRATEGY,
            image: crate::sync::rollout::app_image(&target.app.image, &wanted.desired),
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
        let cause = "aborted with slipway abort".to_string();
        run.begin_cleanup(&mut status, &mut record, RolloutEnd::Aborted, cause)
            .await?;
    }
    for _ in 0..MAX_PHASE_STEPS {
        let next = match record.phase {
            RolloutPhase::Idle => run.idle(&mut status, &mut record, &wanted).await?,
            RolloutPhase::Deploying | RolloutPhase::Paused if run.superseded(&record, &wanted) => {
                let cause = format!("superseded by revision {}", wanted.revision);
                run.begin_cleanup(&mut status, &mut record, RolloutEnd::Superseded, cause)
                    .await?;
                Next::Continue
            }
            RolloutPhase::Deploying => run.deploying(&mut status, &mut record, &wanted).await?,
            RolloutPhase::Paused => run.paused(&mut status, &mut record).await?,
            RolloutPhase::Switching => run.switching(&mut status, &mut record, &wanted).await?,
            RolloutPhase::Draining => run.draining(&mut status, &mut record, &wanted).await?,
            RolloutPhase::CleaningUp => run.clean_up(&mut status, &mut record, &wanted).await?,
            RolloutPhase::Stepping | RolloutPhase::Promoting => {
                // Phases of another strategy: start over from the serving colour.
                record.enter(RolloutPhase::CleaningUp);
                Next::Continue
            }
        };
        if let Next::Done = next {
            break;
        }
    }
    status.rollout = Some(record);
    Ok(status)
}

/// Whether a rollout (not its cleanup) is under way.
fn in_rollout(record: &RolloutRecord) -> bool {
    record.phase.in_flight() && record.phase != RolloutPhase::CleaningUp
}

impl StrategyRun<'_, BlueGreen> {
    fn split(&self, desired: Vec<DesiredObject>) -> Result<Split, colour::SplitError> {
        colour::split(
            desired,
            self.config.services.as_deref(),
            self.config.preview_service.as_deref(),
        )
    }

    /// Nothing in flight: hold the serving colour, or start a new one.
    async fn idle(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        wanted: &Wanted,
    ) -> Result<Next, ReconcileError> {
        if status.failed_hash.as_deref() == Some(wanted.content.as_str()) {
            self.hold_stable(status, record).await?;
            return Ok(Next::Done);
        }
        let split = match self.split(wanted.desired.clone()) {
            Ok(split) => split,
            Err(e) => {
                self.refuse(status, record, e.to_string()).await?;
                return Ok(Next::Done);
            }
        };
        let revision = colour::revision_of(&split.workloads);
        if record
            .stable
            .as_ref()
            .is_some_and(|s| s.revision == revision)
        {
            self.steady(status, record, &split, wanted).await?;
            return Ok(Next::Done);
        }
        if record.stable.is_none() {
            record.stable = self.adopted(&split).await?;
        }
        let adopt = record
            .stable
            .as_ref()
            .is_some_and(|s| s.revision.is_empty())
            && status
                .verified_revision
                .as_ref()
                .is_some_and(|v| *v != wanted.revision);
        let (commit, split, content) = if adopt {
            let verified = status.verified_revision.clone().unwrap_or_default();
            let objects = self.objects_at(&verified).await?;
            let content = status.verified_hash.clone().unwrap_or_default();
            match self.split(objects) {
                Ok(split) => (verified, split, content),
                Err(_) => (wanted.revision.clone(), split, wanted.content.clone()),
            }
        } else {
            (wanted.revision.clone(), split, wanted.content.clone())
        };
        let revision = colour::revision_of(&split.workloads);
        record.candidate = Some(colour_of(&split, &revision, &commit));
        record.adoption = adopt;
        record.started_at = Some(crate::store::now_rfc3339());
        record.switched = false;
        record.drain_until = None;
        record.end = None;
        record.cause = None;
        record.enter(RolloutPhase::Deploying);
        // A promote sent before this rollout started (during the last one's
        // switch or drain) is not for it: it still pauses.
        let (app, env) = self.key();
        self.ctx.rollouts.promote.take(app, env);
        status.state = SyncPhase::Progressing;
        status.applied_revision = Some(commit);
        status.applied_hash = Some(content);
        status.rollout_started_at = record.started_at.clone();
        status.clear_error();
        self.save(status, record).await?;
        tracing::info!(app = %self.target.app_name, environment = %self.target.env.name, revision, adoption = adopt, "blue-green rollout started");
        Ok(Next::Continue)
    }

    /// Whether git moved on to another colour while this one was not yet
    /// switched (an adoption is never superseded).
    fn superseded(&self, record: &RolloutRecord, wanted: &Wanted) -> bool {
        let Some(candidate) = &record.candidate else {
            return false;
        };
        if record.adoption || candidate.commit == wanted.revision {
            return false;
        }
        self.split(wanted.desired.clone())
            .is_ok_and(|split| colour::revision_of(&split.workloads) != candidate.revision)
    }

    /// A workload of the environment that predates the strategy (applied
    /// under its own name, without a revision label), as the serving colour.
    async fn adopted(&self, split: &Split) -> Result<Option<Colour>, ReconcileError> {
        let (app, env) = self.key();
        let inventory = self.ctx.store.sync_inventory(app, env).await?;
        let keys: BTreeSet<String> = inventory.iter().map(|e| e.object.key()).collect();
        let plain: Vec<&DesiredObject> = split
            .workloads
            .iter()
            .filter(|w| keys.contains(&w.object.key()))
            .collect();
        if plain.is_empty() {
            return Ok(None);
        }
        Ok(Some(Colour {
            revision: String::new(),
            commit: String::new(),
            deployments: plain.iter().map(|w| qualified(w)).collect(),
        }))
    }

    /// The candidate and its objects: what git wants when it is the same colour,
    /// else the candidate's own commit rendered again.
    async fn candidate_split(
        &self,
        record: &RolloutRecord,
        wanted: &Wanted,
    ) -> Result<Option<(Split, Colour)>, ReconcileError> {
        let Some(candidate) = record.candidate.clone() else {
            return Ok(None);
        };
        if let Ok(split) = self.split(wanted.desired.clone())
            && colour::revision_of(&split.workloads) == candidate.revision
        {
            return Ok(Some((split, candidate)));
        }
        let objects = self.objects_at(&candidate.commit).await?;
        Ok(self.split(objects).ok().map(|split| (split, candidate)))
    }

    /// Verify the candidate beside the serving colour; no Service selects it.
    async fn deploying(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        wanted: &Wanted,
    ) -> Result<Next, ReconcileError> {
        let Some((split, candidate)) = self.candidate_split(record, wanted).await? else {
            return self.lost_candidate(status, record).await;
        };
        let serving = record.stable.clone();
        let layout = steps::Layout {
            services_on: serving.as_ref().map(|s| s.revision.as_str()),
            preview_on: Some(&candidate.revision),
            stable: serving.as_ref(),
            candidate: Some((&candidate.revision, RolloutPhase::Deploying)),
        };
        if let Some(next) = self.apply_layout(status, record, &split, &layout).await? {
            return Ok(next);
        }
        match self.verify(record, &split, &candidate.revision).await? {
            Waited::Done => {
                let (app, env) = self.key();
                // Nothing serves yet, or the adopted revision was verified
                // before: no traffic to protect, so no promote to wait for.
                let promoted = self.config.auto_promote
                    || record.adoption
                    || record.stable.is_none()
                    || self.ctx.rollouts.promote.take(app, env);
                if promoted {
                    record.enter(RolloutPhase::Switching);
                } else {
                    record.enter(RolloutPhase::Paused);
                    status.state = SyncPhase::Paused;
                }
                self.save(status, record).await?;
                Ok(if promoted { Next::Continue } else { Next::Done })
            }
            waited => self.stop(status, record, waited, "verification").await,
        }
    }

    /// Verified, waiting for `slipway promote`.
    async fn paused(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
    ) -> Result<Next, ReconcileError> {
        let (app, env) = self.key();
        if self.ctx.rollouts.promote.take(app, env) {
            record.enter(RolloutPhase::Switching);
            self.save(status, record).await?;
            return Ok(Next::Continue);
        }
        status.state = SyncPhase::Paused;
        self.save(status, record).await?;
        Ok(Next::Done)
    }

    /// Move every switched Service to the candidate: the one step that
    /// touches live traffic.
    async fn switching(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        wanted: &Wanted,
    ) -> Result<Next, ReconcileError> {
        let Some((split, candidate)) = self.candidate_split(record, wanted).await? else {
            return self.lost_candidate(status, record).await;
        };
        let serving = record.stable.clone();
        let layout = steps::Layout {
            services_on: Some(&candidate.revision),
            preview_on: Some(&candidate.revision),
            stable: serving.as_ref(),
            candidate: Some((&candidate.revision, RolloutPhase::Draining)),
        };
        if let Some(next) = self.apply_layout(status, record, &split, &layout).await? {
            return Ok(next);
        }
        self.switched_events(&split, &candidate.revision).await;
        record.switched = true;
        let drain = match &record.stable {
            None => Duration::ZERO,
            Some(_) => {
                let shutdown = split.workloads.iter().map(colour::pod_shutdown).max();
                self.config
                    .drain_seconds
                    .resolve(shutdown.unwrap_or_default())
            }
        };
        record.drain_until = Some(super::run::after(drain));
        record.enter(RolloutPhase::Draining);
        self.save(status, record).await?;
        Ok(Next::Continue)
    }

    /// Keep the old colour up until the drain is over, watching the new one.
    async fn draining(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        wanted: &Wanted,
    ) -> Result<Next, ReconcileError> {
        let Some((split, candidate)) = self.candidate_split(record, wanted).await? else {
            return self.lost_candidate(status, record).await;
        };
        let until = record.drain_until.clone().unwrap_or_default();
        match self
            .watch_drain(&split, &candidate.revision, &until)
            .await?
        {
            Waited::Done => {}
            waited => return self.stop(status, record, waited, "the drain").await,
        }
        if let Some(old) = record.stable.take() {
            self.delete_colour(&old).await?;
        }
        record.stable = record.candidate.take();
        record.switched = false;
        record.drain_until = None;
        record.end = Some(RolloutEnd::Promoted);
        record.cause = None;
        let adoption = std::mem::take(&mut record.adoption);
        record.enter(RolloutPhase::Idle);
        self.verified(status, record, adoption).await?;
        Ok(Next::Continue)
    }

    /// Undo the rollout in flight: Services back to the serving colour
    /// first when they had moved, then the candidate deleted. Idempotent.
    async fn clean_up(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        wanted: &Wanted,
    ) -> Result<Next, ReconcileError> {
        if record.switched
            && let Some(stable) = record.stable.clone()
            && let Some((split, _)) = self.candidate_split(record, wanted).await?
        {
            self.switch_back(&split, &stable.revision).await?;
        }
        self.finish_cleanup(status, record).await?;
        Ok(Next::Continue)
    }
}

/// `namespace/name` of a workload, as a colour records it.
fn qualified(d: &DesiredObject) -> String {
    format!(
        "{}/{}",
        d.object.namespace.as_deref().unwrap_or_default(),
        d.object.name
    )
}

/// The colour of `split`'s workloads at `revision`, rendered from `commit`.
fn colour_of(split: &Split, revision: &str, commit: &str) -> Colour {
    Colour {
        revision: revision.to_string(),
        commit: commit.to_string(),
        deployments: split
            .workloads
            .iter()
            .map(|w| qualified(&colour::coloured(w, revision, ROLE_CANDIDATE, None)))
            .collect(),
    }
}
