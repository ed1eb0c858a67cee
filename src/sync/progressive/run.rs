//! What every progressive rollout does, whatever its strategy: store the
//! record with the status, render a commit again, delete a colour, start a
//! cleanup (keeping the failing pods' logs first), and record how the
//! rollout ended.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::event::ImageRef;
use crate::store::rollout::{Colour, RolloutEnd, RolloutPhase, RolloutRecord};
use crate::store::sync_state::{SyncPhase, TargetStatus};
use crate::sync::cluster::KubeCluster;
use crate::sync::converge::{ConvergeOptions, Converged, converge};
use crate::sync::evidence;
use crate::sync::fault;
use crate::sync::plan::{self, DesiredObject, ObjectRef};
use crate::sync::reconcile::{ReconcileError, SyncContext, Target, render_at};
use crate::sync::rollout::{self, Awaited, Verdict};
use crate::sync::scope;
use crate::sync::verdict::wait_for_rollout;

/// Whether a phase step handed over to the next phase or ended the pass.
pub(super) enum Next {
    /// Go on with the phase now stored.
    Continue,
    /// This pass is over.
    Done,
}

/// How a wait in a rollout ended.
pub(super) enum Waited {
    /// Healthy, or the wait is over.
    Done,
    /// Failed; the cause on one line.
    Failed(String),
    /// `slipway abort` asked to stop.
    Aborted,
}

/// One progressive reconcile of one app/environment.
pub(super) struct Run<'a> {
    pub ctx: &'a SyncContext,
    pub cluster: &'a KubeCluster,
    pub target: &'a Target,
    /// `blue_green` or `canary`.
    pub strategy: &'static str,
    /// The app's image in what git wants, for reports.
    pub image: Option<ImageRef>,
}

/// The Deployment a colour records as `namespace/name`.
pub(crate) fn deployment(qualified: &str) -> ObjectRef {
    let (namespace, name) = qualified.split_once('/').unwrap_or(("", qualified));
    ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
        name: name.to_string(),
    }
}

/// RFC 3339 time `d` from now.
pub(crate) fn after(d: Duration) -> String {
    let d = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    jiff::Timestamp::now()
        .checked_add(d)
        .unwrap_or(jiff::Timestamp::MAX)
        .to_string()
}

/// Time from now until `until` (RFC 3339); zero when past or unreadable.
pub(crate) fn until(until: &str) -> Duration {
    let Ok(at) = until.parse::<jiff::Timestamp>() else {
        return Duration::ZERO;
    };
    Duration::try_from(jiff::Timestamp::now().duration_until(at)).unwrap_or_default()
}

/// A [`Run`] with its strategy's settings (`BlueGreen`, `Canary`).
pub(super) struct StrategyRun<'a, C> {
    pub run: Run<'a>,
    pub config: &'a C,
}

impl<'a, C> std::ops::Deref for StrategyRun<'a, C> {
    type Target = Run<'a>;

    fn deref(&self) -> &Run<'a> {
        &self.run
    }
}

impl Run<'_> {
    pub(super) fn key(&self) -> (&str, &str) {
        (&self.target.app_name, &self.target.env.name)
    }

    /// Converge on `desired` (rendered from `commit`), keeping the objects
    /// in `retain`; the one-line refusal when the dry run refused it.
    pub(super) async fn converge_objects(
        &self,
        status: &mut TargetStatus,
        desired: Vec<DesiredObject>,
        retain: BTreeSet<String>,
        commit: &str,
    ) -> Result<Option<String>, ReconcileError> {
        let (app, env) = self.key();
        let mut options = ConvergeOptions::of(&self.target.env, status);
        options.retain = retain;
        match converge(
            self.ctx,
            self.cluster,
            (app, env),
            desired,
            commit,
            &options,
        )
        .await?
        {
            Converged::Applied(changes) => {
                status.drifted = changes.drifted;
                status.autoscaled = changes.autoscaled;
                Ok(None)
            }
            Converged::Rejected(rejection) => Ok(Some(rejection.error.summary())),
        }
    }

    /// Wait until `workloads` are healthy under the rollout's deadline
    /// (counted from its start, across restarts), or an abort.
    pub(super) async fn await_workloads(
        &self,
        record: &RolloutRecord,
        workloads: &[ObjectRef],
    ) -> Result<Waited, ReconcileError> {
        let (app, env) = self.key();
        let applied = BTreeSet::new();
        let awaited = Awaited {
            workloads,
            applied: &applied,
        };
        let timeout = Duration::from_secs(self.target.env.rollout_timeout_seconds);
        let left = rollout::remaining(
            record.started_at.as_deref(),
            timeout,
            jiff::Timestamp::now(),
        );
        tokio::select! {
            verdict = wait_for_rollout(self.ctx, self.cluster, awaited, (timeout, left)) => {
                Ok(match verdict? {
                    Verdict::Verified => Waited::Done,
                    Verdict::Failed { cause, .. } => Waited::Failed(cause),
                })
            }
            _ = self.ctx.rollouts.abort.requested(app, env) => Ok(Waited::Aborted),
        }
    }

    /// A wait that did not end well starts the cleanup; `at` says where
    /// the rollout was (`step 2 (weight 50%)`, `the drain`).
    pub(super) async fn stop(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        waited: Waited,
        at: &str,
    ) -> Result<Next, ReconcileError> {
        let (end, cause) = match waited {
            Waited::Done => return Ok(Next::Continue),
            Waited::Failed(cause) => (RolloutEnd::Failed, format!("{at}: {cause}")),
            Waited::Aborted => {
                let (app, env) = self.key();
                self.ctx.rollouts.abort.take(app, env);
                (
                    RolloutEnd::Aborted,
                    format!("aborted with slipway abort during {at}"),
                )
            }
        };
        self.begin_cleanup(status, record, end, cause).await?;
        Ok(Next::Continue)
    }

    /// The last step of every cleanup, once traffic is back on the stable
    /// revision: delete the candidate, leave the phase and record the end.
    pub(super) async fn finish_cleanup(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
    ) -> Result<(), ReconcileError> {
        if let Some(candidate) = record.candidate.take() {
            self.delete_colour(&candidate).await?;
        }
        record.switched = false;
        record.adoption = false;
        record.drain_until = None;
        record.weight = 0;
        record.pause_until = None;
        record.enter(RolloutPhase::Idle);
        let end = record.end.unwrap_or(RolloutEnd::Failed);
        let cause = record.cause.clone().unwrap_or_default();
        self.ended(status, record, end, cause).await
    }

    /// Store the status with `record`.
    pub(super) async fn save(
        &self,
        status: &mut TargetStatus,
        record: &RolloutRecord,
    ) -> Result<(), ReconcileError> {
        let (app, env) = self.key();
        status.rollout = Some(record.clone());
        self.ctx.metrics.sync(app, env, status.state.as_str());
        self.ctx.store.put_sync_status(status.clone()).await?;
        Ok(())
    }

    /// `commit`'s objects for this app/environment (none when it no longer renders).
    pub(super) async fn objects_at(
        &self,
        commit: &str,
    ) -> Result<Vec<DesiredObject>, ReconcileError> {
        let (app, env) = self.key();
        let Ok(objects) = render_at(self.ctx, commit, self.target).await? else {
            return Ok(Vec::new());
        };
        let accepted = scope::check_in(
            &self.ctx.cluster,
            &self.target.app,
            &self.target.env,
            objects,
        )
        .await
        .accepted;
        Ok(plan::desired(app, env, accepted))
    }

    /// Delete a colour's Deployments (gone already is fine) and forget them.
    pub(super) async fn delete_colour(&self, colour: &Colour) -> Result<(), ReconcileError> {
        let (app, env) = self.key();
        let objects: Vec<ObjectRef> = colour.deployments.iter().map(|d| deployment(d)).collect();
        for object in &objects {
            if self.cluster.delete(object).await? {
                tracing::info!(app, environment = env, %object, "deleted a colour");
            }
        }
        self.ctx
            .store
            .update_sync_inventory(app, env, Vec::new(), objects)
            .await?;
        Ok(())
    }

    /// Start cleaning up: the end and its cause are stored first.
    pub(super) async fn begin_cleanup(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        end: RolloutEnd,
        cause: String,
    ) -> Result<(), ReconcileError> {
        let (app, env) = self.key();
        let cause = fault::bounded(&cause, fault::MAX_LINE_CHARS);
        tracing::warn!(
            app,
            environment = env,
            phase = record.phase.as_str(),
            end = end.as_str(),
            cause,
            "cleaning up the rollout"
        );
        if end == RolloutEnd::Failed
            && let Some(candidate) = &record.candidate
        {
            // Read while the failing pods still exist: the cleanup deletes them.
            let mut found = Vec::new();
            for qualified in &candidate.deployments {
                found.extend(evidence::gather(self.cluster, &deployment(qualified)).await);
            }
            found.truncate(evidence::MAX_PODS);
            status.failure_evidence = found;
        }
        record.end = Some(end);
        record.cause = Some(cause);
        record.enter(RolloutPhase::CleaningUp);
        self.save(status, record).await
    }

    /// The candidate's objects cannot be produced again: clean up.
    pub(super) async fn lost_candidate(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
    ) -> Result<Next, ReconcileError> {
        let cause = "the new revision no longer renders".to_string();
        self.begin_cleanup(status, record, RolloutEnd::Failed, cause)
            .await?;
        Ok(Next::Continue)
    }

    /// until the content changes or `slipway retry`) and reported.
    pub(super) async fn ended(
        &self,
        status: &mut TargetStatus,
        record: &RolloutRecord,
        end: RolloutEnd,
        cause: String,
    ) -> Result<(), ReconcileError> {
        let (app, env) = self.key();
        status.rollout_started_at = None;
        if end == RolloutEnd::Superseded {
            return self.save(status, record).await;
        }
        let revision = status.applied_revision.clone().unwrap_or_default();
        status.failed_revision = status.applied_revision.clone();
        status.failed_hash = status.applied_hash.clone();
        status.failed_reason = Some(cause.clone());
        status.record_error(cause.clone());
        status.state = if record.stable.is_some() {
            SyncPhase::RolledBack
        } else {
            SyncPhase::Failed
        };
        if let Some(verified) = status.verified_revision.clone() {
            status.applied_revision = Some(verified);
            status.applied_hash = status.verified_hash.clone();
        }
        self.ctx.metrics.failure(app, env, "rollout");
        self.save(status, record).await?;
        let image = self.image.clone();
        let evidence = status.failure_evidence.clone();
        rollout::send_report_with(
            self.ctx,
            self.target,
            &revision,
            image,
            (Some(cause), evidence),
        )
        .await;
        Ok(())
    }

    /// reported: its revision was verified before).
    pub(super) async fn verified(
        &self,
        status: &mut TargetStatus,
        record: &RolloutRecord,
        adoption: bool,
    ) -> Result<(), ReconcileError> {
        status.record_verified();
        status.rollout_started_at = None;
        status.state = SyncPhase::Verified;
        self.save(status, record).await?;
        if !adoption {
            let revision = status.applied_revision.clone().unwrap_or_default();
            rollout::send_report(self.ctx, self.target, &revision, self.image.clone(), None).await;
        }
        Ok(())
    }

    /// The revision cannot be rolled out this way: refused, as a render
    /// failure is, until the repo changes.
    pub(super) async fn refuse(
        &self,
        status: &mut TargetStatus,
        record: &RolloutRecord,
        cause: String,
    ) -> Result<(), ReconcileError> {
        let (app, env) = self.key();
        status.state = SyncPhase::Refused;
        status.record_error(format!("strategy {}: {cause}", self.strategy));
        self.ctx.metrics.failure(app, env, "render");
        self.save(status, record).await
    }
}
