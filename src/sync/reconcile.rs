//! Reconcile one app/environment at one revision: render, scope, plan, put
//! drifted objects back, dry-run, apply, prune, then hand over to
//! [`rollout`] to wait for a verdict. Each step is a named function; the
//! state reached is stored after every step that changes the cluster, so a
//! crash resumes cleanly.
//!
//! Only the revision's own failures mark it failed: its pods, its deadline,
//! or a refusal of its content. The cluster's problems (unreachable,
//! forbidden, a missing namespace, a discovery miss) are recorded as
//! `degraded` with the time they first and last occurred, and retried.
//!
//! [`rollout`]: super::rollout

use std::time::Duration;

use super::cluster::{ClusterError, ClusterTarget, KubeCluster};
pub use super::converge::{Changes, ConvergeOptions, Converged, converge, job_content};
use super::failures;
use super::fault::{self, Fault};
use super::metrics::SyncMetrics;
use super::plan::{self, DesiredObject, ObjectRef};
use super::podcheck::PodLimits;
use super::progressive::{bluegreen, canary};
pub use super::prune::retire_target;
use super::render::{RenderError, RenderedObject, Renderer};
use super::report::Reporter;
use super::retry::RetryRequests;
use super::rollout::{self, Verdict};
use super::scope;
use super::source::{DeployRepoSource, SourceError};
use crate::repoconfig::{App, Environment, Strategy};
use crate::store::sync_state::{PlanSummary, SyncPhase, TargetStatus};
use crate::store::{Store, StoreError};

/// Everything a reconcile needs; shared by every app/environment.
#[derive(Clone)]
pub struct SyncContext {
    /// The store.
    pub store: Store,
    /// The deploy repository.
    pub source: DeployRepoSource,
    /// The cluster, or plan-only.
    pub cluster: ClusterTarget,
    /// Where verdicts are reported, when configured.
    pub reporter: Option<Reporter>,
    /// Metrics.
    pub metrics: SyncMetrics,
    /// Time between two looks at a rollout's status.
    pub rollout_poll: Duration,
    /// When pods fail a rollout before its deadline.
    pub pod_limits: PodLimits,
    /// Failed revisions a person asked to run again.
    pub retries: RetryRequests,
    /// Promotions and aborts of progressive rollouts a person asked for.
    pub rollouts: super::progressive::RolloutRequests,
    /// Renders kustomizations and Helm charts with the real tools.
    pub renderer: Renderer,
}

/// One app/environment as `slipway.yaml` describes it.
#[derive(Debug, Clone)]
pub struct Target {
    /// App name.
    pub app_name: String,
    /// The app.
    pub app: App,
    /// The environment.
    pub env: Environment,
    /// The metric analyses `slipway.yaml` defines (canary steps name them).
    pub analyses: std::sync::Arc<std::collections::BTreeMap<String, crate::repoconfig::Analysis>>,
}

/// Why a reconcile stopped before reaching a verdict. All of these are worth
/// retrying with backoff; stalls (refused manifests, failed rollouts) are
/// recorded in the status instead.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The deploy repo could not be read.
    #[error("read the deploy repo")]
    Source(#[from] SourceError),
    /// The store failed.
    #[error("sync state")]
    Store(#[from] StoreError),
    /// The cluster failed.
    #[error("cluster")]
    Cluster(#[from] ClusterError),
    /// A blocking task was cancelled.
    #[error("render task stopped")]
    Task,
}

impl ReconcileError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ReconcileError::Source(_) => "source",
            ReconcileError::Store(_) => "store",
            ReconcileError::Cluster(e) => e.kind(),
            ReconcileError::Task => "task",
        }
    }

    /// One line for a person: the file and object when known, the cause once.
    pub fn summary(&self) -> String {
        match self {
            ReconcileError::Cluster(e) => e.summary(),
            other => fault::one_line(other),
        }
    }
}

/// Render `target` at `revision`: the tree is read and written out off the
/// runtime, then the tool (if any) runs. The inner error is a refusal of
/// the revision's content; the outer one is worth a retry.
pub async fn render_at(
    ctx: &SyncContext,
    revision: &str,
    target: &Target,
) -> Result<Result<Vec<RenderedObject>, RenderError>, ReconcileError> {
    ctx.renderer.tools().await;
    let (source, renderer) = (ctx.source.clone(), ctx.renderer.clone());
    let (revision, target) = (revision.to_string(), target.clone());
    let prepared = tokio::task::spawn_blocking(move || {
        source.with_tree(&revision, |tree| {
            renderer.prepare(tree, &target.app_name, &target.env)
        })
    })
    .await
    .map_err(|_| ReconcileError::Task)??;
    Ok(ctx.renderer.finish(prepared).await)
}

/// Bring one app/environment to `revision` and return the status reached.
/// An error is the cluster's (or the store's) problem: it is recorded in
/// the status (`degraded`, with the time it first and last occurred) and
/// logged once in full, and the caller retries with backoff.
pub async fn sync_target(
    ctx: &SyncContext,
    revision: &str,
    target: &Target,
) -> Result<TargetStatus, ReconcileError> {
    match reconcile_target(ctx, revision, target).await {
        Ok(status) => Ok(status),
        Err(e) => {
            let recorded = match stored_status(ctx, revision, target).await {
                Ok(status) => failures::record_problem(ctx, status, target, &e).await,
                Err(store) => Err(store),
            };
            if let Err(store) = recorded {
                tracing::warn!(app = %target.app_name, environment = %target.env.name, error = %error_chain(&store), "could not record a sync problem");
            }
            Err(e)
        }
    }
}

/// The stored status of `target` (a fresh one the first time), desiring `revision`.
async fn stored_status(
    ctx: &SyncContext,
    revision: &str,
    target: &Target,
) -> Result<TargetStatus, StoreError> {
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    let mut status = ctx
        .store
        .sync_status(app, env)
        .await?
        .unwrap_or_else(|| TargetStatus::new(app, env));
    status.desired_revision = Some(revision.to_string());
    Ok(status)
}

async fn reconcile_target(
    ctx: &SyncContext,
    revision: &str,
    target: &Target,
) -> Result<TargetStatus, ReconcileError> {
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    let mut status = stored_status(ctx, revision, target).await?;
    if ctx.retries.take(app, env) && status.failed_hash.is_some() {
        tracing::info!(app, environment = env, revision = ?status.failed_revision, "retrying the failed revision on request");
        status.failed_hash = None;
        status.failed_revision = None;
        status.failed_reason = None;
        status.clear_error();
    }
    let objects = match render_at(ctx, revision, target).await? {
        Ok(objects) => objects,
        Err(e) => {
            status.state = SyncPhase::Refused;
            status.record_error(fault::one_line(&e));
            ctx.metrics.failure(app, env, "render");
            ctx.metrics.sync(app, env, status.state.as_str());
            ctx.store.put_sync_status(status.clone()).await?;
            return Ok(status);
        }
    };
    let scoped = scope::check_in(&ctx.cluster, &target.app, &target.env, objects).await;
    status.refused = scoped.refused.iter().map(ToString::to_string).collect();
    ctx.metrics
        .refusals
        .get_or_create(&SyncMetrics::target(app, env))
        .inc_by(scoped.refused.len() as u64);
    let desired = plan::desired(app, env, scoped.accepted);
    match &ctx.cluster {
        ClusterTarget::PlanOnly => plan_only(ctx, status, desired).await,
        ClusterTarget::Kube(cluster) => {
            apply_target(ctx, cluster, status, desired, revision, target).await
        }
    }
}

/// Without a cluster: record what would be applied and pruned.
async fn plan_only(
    ctx: &SyncContext,
    mut status: TargetStatus,
    desired: Vec<DesiredObject>,
) -> Result<TargetStatus, ReconcileError> {
    let inventory = ctx
        .store
        .sync_inventory(&status.app, &status.environment)
        .await?;
    let plan = plan::plan(desired, &inventory);
    status.plan = Some(PlanSummary {
        apply: plan.apply.iter().map(|d| d.object.to_string()).collect(),
        prune: plan.prune.iter().map(|e| e.object.to_string()).collect(),
        unchanged: plan.unchanged.len(),
    });
    status.state = SyncPhase::Planned;
    status.clear_error();
    ctx.metrics
        .sync(&status.app, &status.environment, status.state.as_str());
    ctx.store.put_sync_status(status.clone()).await?;
    Ok(status)
}

/// Roll `desired` out as the environment's strategy says.
async fn apply_target(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    status: TargetStatus,
    desired: Vec<DesiredObject>,
    revision: &str,
    target: &Target,
) -> Result<TargetStatus, ReconcileError> {
    let content = plan::set_hash(&desired);
    if let Strategy::BlueGreen(config) = &target.env.strategy {
        let wanted = bluegreen::Wanted {
            revision: revision.to_string(),
            desired,
            content,
        };
        return bluegreen::reconcile(ctx, cluster, status, target, wanted, config).await;
    }
    let mut status = status;
    if let Strategy::Canary(config) = &target.env.strategy {
        let wanted = bluegreen::Wanted {
            revision: revision.to_string(),
            desired,
            content,
        };
        match canary::reconcile(ctx, cluster, status, target, &wanted, config).await? {
            canary::Outcome::Handled(status) => return Ok(status),
            canary::Outcome::Rolling(rolling) => status = rolling,
        }
        return rolling_apply(ctx, cluster, status, wanted.desired, revision, target).await;
    }
    rolling_apply(ctx, cluster, status, desired, revision, target).await
}

/// Apply in place and wait for the workloads' own rollout (the `rolling`
/// strategy, and a canary with nothing to roll out as one).
async fn rolling_apply(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    mut status: TargetStatus,
    desired: Vec<DesiredObject>,
    revision: &str,
    target: &Target,
) -> Result<TargetStatus, ReconcileError> {
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    let content = plan::set_hash(&desired);
    if status.failed_hash.as_deref() == Some(content.as_str()) {
        // The same content failed before: keep the last verified revision in
        // place (drift included) and wait for the repo to change the content.
        hold_rolled_back(ctx, cluster, &mut status, target).await?;
        status.clear_error();
        ctx.store.put_sync_status(status.clone()).await?;
        return Ok(status);
    }
    let workloads: Vec<ObjectRef> = desired
        .iter()
        .filter(|d| super::verify::WAITED_KINDS.contains(&d.object.kind.as_str()))
        .map(|d| d.object.clone())
        .collect();
    let image = rollout::app_image(&target.app.image, &desired);
    let jobs: Vec<String> = desired.iter().filter_map(job_content).collect();
    let options = ConvergeOptions::of(&target.env, &status);
    let changes = match converge(ctx, cluster, (app, env), desired, revision, &options).await {
        Ok(Converged::Applied(changes)) => changes,
        Ok(Converged::Rejected(rejection)) => {
            return failures::reject(
                ctx,
                cluster,
                status,
                target,
                (revision, content),
                rejection,
                image,
            )
            .await;
        }
        Err(ReconcileError::Cluster(e)) if e.fault() == Fault::Content => {
            // Refused by its real apply after the dry run passed (a custom
            // resource of a CRD in the same revision): part of the revision
            // is in place, so it fails as a rollout and is rolled back.
            status.applied_revision = Some(revision.to_string());
            status.applied_hash = Some(content);
            let verdict = Verdict::Failed {
                object: None,
                cause: e.summary(),
            };
            return rollout::record_verdict(
                ctx,
                cluster,
                status,
                target,
                verdict,
                std::time::Instant::now(),
                image,
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    status.drifted = changes.drifted.clone();
    status.autoscaled = changes.autoscaled.clone();
    status.plan = None;
    let new_content = status.applied_hash.as_deref() != Some(content.as_str());
    if new_content || status.rollout_started_at.is_some() {
        if new_content || status.rollout_started_at.is_none() {
            status.rollout_started_at = Some(crate::store::now_rfc3339());
        }
        let verifying = content.clone();
        status.state = SyncPhase::Progressing;
        status.applied_revision = Some(revision.to_string());
        status.applied_hash = Some(content);
        status.clear_error();
        ctx.store.put_sync_status(status.clone()).await?;
        let awaited = rollout::Awaited {
            workloads: &workloads,
            applied: &changes.applied,
        };
        let mut status = rollout::conclude(ctx, cluster, status, target, awaited, image).await?;
        if !jobs.is_empty() && status.verified_hash.as_deref() == Some(verifying.as_str()) {
            status.record_completed_jobs(jobs);
            ctx.store.put_sync_status(status.clone()).await?;
        }
        return Ok(status);
    }
    status.clear_error();
    status.state = settled_state(&status);
    ctx.metrics.sync(app, env, status.state.as_str());
    ctx.store.put_sync_status(status.clone()).await?;
    Ok(status)
}

/// After a rollback, converge on the verified revision again, so drift on
/// the rolled-back objects is put back while the failed content waits.
async fn hold_rolled_back(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    status: &mut TargetStatus,
    target: &Target,
) -> Result<(), ReconcileError> {
    let Some(verified) = status.verified_revision.clone() else {
        return Ok(());
    };
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    let Ok(objects) = render_at(ctx, &verified, target).await? else {
        return Ok(());
    };
    let desired = plan::desired(
        app,
        env,
        scope::check_in(&ctx.cluster, &target.app, &target.env, objects)
            .await
            .accepted,
    );
    let options = ConvergeOptions::of(&target.env, status);
    match converge(ctx, cluster, (app, env), desired, &verified, &options).await? {
        Converged::Applied(changes) => {
            status.drifted = changes.drifted;
            status.autoscaled = changes.autoscaled;
        }
        Converged::Rejected(rejection) => return Err(rejection.error.into()),
    }
    Ok(())
}

/// The state of an app/environment whose content did not change.
fn settled_state(status: &TargetStatus) -> SyncPhase {
    if !status.drifted.is_empty() {
        SyncPhase::Drifted
    } else if !status.refused.is_empty() {
        SyncPhase::Refused
    } else if status.verified_hash.is_some() && status.verified_hash == status.applied_hash {
        SyncPhase::Verified
    } else if status.state == SyncPhase::Degraded {
        SyncPhase::Progressing
    } else {
        status.state
    }
}

pub use crate::error_chain;
