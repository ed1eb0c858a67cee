//! Recording what went wrong: a cluster problem keeps the state it met (or
//! `degraded`) and is retried; a revision the dry run refused is `rejected`,
//! with nothing applied, and reported.

use super::cluster::{KubeCluster, ObjectEvent};
use super::dryrun::Rejection;
use super::reconcile::{ReconcileError, SyncContext, Target, error_chain};
use super::rollout;
use crate::store::StoreError;
use crate::store::sync_state::{SyncPhase, TargetStatus};

/// A cluster (or store) problem stopped a pass: record it in the status
/// (`degraded`, or the held failure's state), with when it first and last
/// occurred, and log its full chain once, when it is new.
pub(super) async fn record_problem(
    ctx: &SyncContext,
    mut status: TargetStatus,
    target: &Target,
    e: &ReconcileError,
) -> Result<(), StoreError> {
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    if status.record_error(e.summary()) {
        tracing::warn!(app, environment = env, error = %error_chain(e), "sync failed; retrying with backoff");
    } else {
        tracing::debug!(
            app,
            environment = env,
            repeats = status.error_count,
            "sync failed again"
        );
    }
    if !is_held_failure(status.state) {
        status.state = SyncPhase::Degraded;
    }
    ctx.metrics.failure(app, env, e.kind());
    ctx.metrics.sync(app, env, status.state.as_str());
    ctx.store.put_sync_status(status).await
}

fn is_held_failure(state: SyncPhase) -> bool {
    matches!(
        state,
        SyncPhase::Failed | SyncPhase::RolledBack | SyncPhase::Rejected
    )
}

/// The dry run refused the revision: nothing of it was written, so the live
/// revision stays; record, log, warn on the object and report.
pub(super) async fn reject(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    mut status: TargetStatus,
    target: &Target,
    (revision, content): (&str, String),
    rejection: Rejection,
    image: Option<crate::event::ImageRef>,
) -> Result<TargetStatus, ReconcileError> {
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    let line = rejection.error.summary();
    tracing::warn!(app, environment = env, revision, error = %error_chain(&rejection.error), "revision refused by the API server's dry run; nothing applied");
    let event = ObjectEvent {
        reason: "ApplyRejected",
        action: "DryRun",
        note: format!("slipway did not apply revision {revision}: {line}"),
        warning: true,
    };
    cluster.event(&rejection.object, None, event).await;
    status.failed_revision = Some(revision.to_string());
    status.failed_hash = Some(content);
    status.failed_reason = Some(line.clone());
    status.record_error(line.clone());
    status.state = SyncPhase::Rejected;
    ctx.metrics.failure(app, env, "rejected");
    ctx.metrics.sync(app, env, status.state.as_str());
    ctx.store.put_sync_status(status.clone()).await?;
    rollout::send_report(ctx, target, revision, image, Some(line)).await;
    Ok(status)
}
