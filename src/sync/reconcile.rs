//! Reconcile one app/environment at one revision: render, scope, plan, put
//! drifted objects back, apply, prune, then hand over to [`rollout`] to wait
//! for a verdict. Each step is a named function; the state reached is stored
//! after every step that changes the cluster, so a crash resumes cleanly.
//!
//! [`rollout`]: super::rollout

use std::time::Duration;

use super::cluster::{ClusterError, ClusterTarget, KubeCluster};
pub use super::converge::{Changes, converge, retire_target};
use super::metrics::SyncMetrics;
use super::plan::{self, DesiredObject, ObjectRef};
use super::render::{self, RenderError, RenderedObject};
use super::report::Reporter;
use super::scope;
use super::source::{DeployRepoSource, SourceError};
use crate::repoconfig::{App, Environment};
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
}

/// Why a reconcile stopped before reaching a verdict. All of these are worth
/// retrying on the next pass; stalls (refused manifests, failed rollouts)
/// are recorded in the status instead.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The deploy repo could not be read.
    #[error("read the deploy repo")]
    Source(#[from] SourceError),
    /// The store failed.
    #[error("sync state")]
    Store(#[from] StoreError),
    /// The cluster failed in a way worth retrying.
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
}

/// Render `path` at `revision` (blocking work, off the runtime).
pub async fn render_at(
    source: &DeployRepoSource,
    revision: &str,
    path: &str,
) -> Result<Result<Vec<RenderedObject>, RenderError>, ReconcileError> {
    let (source, revision, path) = (source.clone(), revision.to_string(), path.to_string());
    let rendered = tokio::task::spawn_blocking(move || {
        source.with_tree(&revision, |tree| render::render(tree, &path))
    })
    .await
    .map_err(|_| ReconcileError::Task)??;
    Ok(rendered)
}

/// Bring one app/environment to `revision` and return the status reached.
pub async fn sync_target(
    ctx: &SyncContext,
    revision: &str,
    target: &Target,
) -> Result<TargetStatus, ReconcileError> {
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    let mut status = ctx
        .store
        .sync_status(app, env)
        .await?
        .unwrap_or_else(|| TargetStatus::new(app, env));
    status.desired_revision = Some(revision.to_string());
    let objects = match render_at(&ctx.source, revision, &target.env.path).await? {
        Ok(objects) => objects,
        Err(e) => {
            status.state = SyncPhase::Refused;
            status.last_error = Some(error_chain(&e));
            ctx.metrics.failure(app, env, "render");
            ctx.metrics.sync(app, env, status.state.as_str());
            ctx.store.put_sync_status(status.clone()).await?;
            return Ok(status);
        }
    };
    let scoped = scope::check(&target.app, &target.env, objects);
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
    status.last_error = None;
    ctx.metrics
        .sync(&status.app, &status.environment, status.state.as_str());
    ctx.store.put_sync_status(status.clone()).await?;
    Ok(status)
}

async fn apply_target(
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
        // The same content failed before: keep the rolled-back revision in
        // place (drift included) and wait for the repo to change the content.
        hold_rolled_back(ctx, cluster, &mut status, target).await?;
        ctx.store.put_sync_status(status.clone()).await?;
        return Ok(status);
    }
    let workloads: Vec<ObjectRef> = desired
        .iter()
        .filter(|d| super::verify::WAITED_KINDS.contains(&d.object.kind.as_str()))
        .map(|d| d.object.clone())
        .collect();
    let image = super::rollout::app_image(&target.app.image, &desired);
    let changes = match converge(ctx, cluster, app, env, desired, revision).await {
        Ok(changes) => changes,
        Err(ReconcileError::Cluster(e)) if !e.is_retryable() => {
            // The API server rejects this content: a stall, handled as a failed rollout.
            status.state = SyncPhase::Progressing;
            status.applied_revision = Some(revision.to_string());
            status.applied_hash = Some(content);
            let verdict = super::rollout::Verdict::Failed(error_chain(&e));
            let started = std::time::Instant::now();
            return super::rollout::record_verdict(
                ctx, cluster, status, target, verdict, started, image,
            )
            .await;
        }
        Err(e) => {
            status.last_error = Some(error_chain(&e));
            ctx.store.put_sync_status(status).await?;
            return Err(e);
        }
    };
    status.drifted = changes.drifted;
    status.plan = None;
    let new_content = status.applied_hash.as_deref() != Some(content.as_str())
        || status.state == SyncPhase::Progressing;
    if new_content {
        status.state = SyncPhase::Progressing;
        status.applied_revision = Some(revision.to_string());
        status.applied_hash = Some(content);
        status.last_error = None;
        ctx.store.put_sync_status(status.clone()).await?;
        return super::rollout::conclude(ctx, cluster, status, target, &workloads, image).await;
    }
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
    let Ok(objects) = render_at(&ctx.source, &verified, &target.env.path).await? else {
        return Ok(());
    };
    let desired = plan::desired(
        app,
        env,
        scope::check(&target.app, &target.env, objects).accepted,
    );
    let changes = converge(ctx, cluster, app, env, desired, &verified).await?;
    status.drifted = changes.drifted;
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
    } else {
        status.state
    }
}

pub use crate::error_chain;
