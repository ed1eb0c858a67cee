//! After an apply: wait for the cluster's verdict under the environment's
//! deadline, then record it and report it; a failed or timed-out rollout is
//! rolled back to the last verified revision and not tried again until the
//! repo changes its content.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::KubeCluster;
use super::metrics::VerdictLabels;
use super::plan::{self, DesiredObject, ObjectRef};
use super::reconcile::{ReconcileError, SyncContext, Target, converge, error_chain, render_at};
use super::render::transform::pod_specs_mut;
use super::scope;
use super::verify::{self, Health};
use crate::event::{ImageRef, RolloutReported, RolloutVerdict};
use crate::store::sync_state::{SyncPhase, TargetStatus};

/// What the cluster said about a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every workload is complete and healthy.
    Verified,
    /// A workload failed, or the deadline passed; the cause is for a person.
    Failed(String),
}

/// Wait for a verdict, record it, report it, and roll back a failure.
pub async fn conclude(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    status: TargetStatus,
    target: &Target,
    workloads: &[ObjectRef],
    image: Option<ImageRef>,
) -> Result<TargetStatus, ReconcileError> {
    let started = Instant::now();
    let timeout = Duration::from_secs(target.env.rollout_timeout_seconds);
    let verdict = wait_for_rollout(cluster, workloads, timeout, ctx.rollout_poll).await?;
    record_verdict(ctx, cluster, status, target, verdict, started, image).await
}

/// Record a verdict reached at `started` + now, report it, and roll back a failure.
pub async fn record_verdict(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    mut status: TargetStatus,
    target: &Target,
    verdict: Verdict,
    started: Instant,
    image: Option<ImageRef>,
) -> Result<TargetStatus, ReconcileError> {
    let (app, env) = (target.app_name.clone(), target.env.name.clone());
    let revision = status.applied_revision.clone().unwrap_or_default();
    let label = match verdict {
        Verdict::Verified => "verified",
        Verdict::Failed(_) => "failed",
    };
    ctx.metrics
        .rollout_seconds
        .get_or_create(&VerdictLabels {
            verdict: label.into(),
        })
        .observe(started.elapsed().as_secs_f64());
    let reason = match verdict {
        Verdict::Verified => {
            status.verified_revision = status.applied_revision.clone();
            status.verified_hash = status.applied_hash.clone();
            status.failed_revision = None;
            status.failed_hash = None;
            status.last_error = None;
            status.state = if status.refused.is_empty() {
                SyncPhase::Verified
            } else {
                SyncPhase::Refused
            };
            None
        }
        Verdict::Failed(cause) => {
            ctx.metrics.failure(&app, &env, "rollout");
            status.failed_revision = status.applied_revision.clone();
            status.failed_hash = status.applied_hash.clone();
            status.last_error = Some(cause.clone());
            status = roll_back(ctx, cluster, status, target).await?;
            Some(cause)
        }
    };
    ctx.metrics.sync(&app, &env, status.state.as_str());
    ctx.store.put_sync_status(status.clone()).await?;
    let report = RolloutReported {
        app: app.clone(),
        environment: env.clone(),
        revision,
        image,
        verdict: if reason.is_some() {
            RolloutVerdict::Failed
        } else {
            RolloutVerdict::Verified
        },
        reason,
        at: jiff::Timestamp::now().to_string(),
    };
    send_report(ctx, &report).await;
    Ok(status)
}

async fn send_report(ctx: &SyncContext, report: &RolloutReported) {
    let Some(reporter) = &ctx.reporter else {
        return;
    };
    if let Err(e) = reporter.send(report).await {
        ctx.metrics
            .failure(&report.app, &report.environment, "report");
        tracing::error!(app = %report.app, environment = %report.environment, error = %error_chain(&e), "rollout report not delivered");
    }
}

/// Poll the workloads until all are ready, one fails, or the deadline passes.
pub async fn wait_for_rollout(
    cluster: &KubeCluster,
    workloads: &[ObjectRef],
    timeout: Duration,
    poll: Duration,
) -> Result<Verdict, ReconcileError> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut waiting = None;
        for object in workloads {
            let Some(live) = cluster.get(object).await? else {
                waiting = Some(format!("{object}: not found"));
                break;
            };
            match verify::health(&live) {
                Health::Ready => {}
                Health::Progressing(why) => {
                    waiting = Some(format!("{object}: {why}"));
                    break;
                }
                Health::Failed(why) => {
                    return Ok(Verdict::Failed(
                        with_pod_reasons(cluster, &live, format!("{object}: {why}")).await,
                    ));
                }
            }
        }
        let Some(why) = waiting else {
            return Ok(Verdict::Verified);
        };
        if Instant::now() >= deadline {
            let cause = format!("timed out after {}s: {why}", timeout.as_secs());
            let stuck = workloads.iter().find(|o| why.starts_with(&o.to_string()));
            let live = match stuck {
                Some(o) => cluster.get(o).await?,
                None => None,
            };
            return Ok(Verdict::Failed(match live {
                Some(live) => with_pod_reasons(cluster, &live, cause).await,
                None => cause,
            }));
        }
        tokio::time::sleep(poll.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Add the pods' reasons (crash loops, image pulls) to a failure cause; a
/// failure to list pods only leaves them out.
async fn with_pod_reasons(cluster: &KubeCluster, live: &Value, cause: String) -> String {
    let namespace = live.pointer("/metadata/namespace").and_then(Value::as_str);
    let (Some(namespace), Some(selector)) = (namespace, verify::pod_selector(live)) else {
        return cause;
    };
    match cluster.pods(namespace, &selector).await {
        Ok(pods) => {
            let reasons = verify::pod_reasons(&pods);
            if reasons.is_empty() {
                cause
            } else {
                format!("{cause}; pods: {}", reasons.join(", "))
            }
        }
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "could not read pods of a failed rollout");
            cause
        }
    }
}

/// Apply the last verified revision again; `failed` when there is none.
async fn roll_back(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    mut status: TargetStatus,
    target: &Target,
) -> Result<TargetStatus, ReconcileError> {
    let (Some(revision), Some(hash)) = (
        status.verified_revision.clone(),
        status.verified_hash.clone(),
    ) else {
        status.state = SyncPhase::Failed;
        return Ok(status);
    };
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    let objects = match render_at(&ctx.source, &revision, &target.env.path).await? {
        Ok(objects) => objects,
        Err(e) => {
            status.state = SyncPhase::Failed;
            let cause = status.last_error.take().unwrap_or_default();
            status.last_error = Some(format!(
                "{cause}; rollback to {revision} could not render: {}",
                error_chain(&e)
            ));
            return Ok(status);
        }
    };
    let desired = plan::desired(
        app,
        env,
        scope::check(&target.app, &target.env, objects).accepted,
    );
    converge(ctx, cluster, app, env, desired, &revision).await?;
    status.applied_revision = Some(revision);
    status.applied_hash = Some(hash);
    status.state = SyncPhase::RolledBack;
    Ok(status)
}

/// The app's image as the rendered objects use it (first container whose
/// repository is the app's).
pub fn app_image(image_repository: &str, desired: &[DesiredObject]) -> Option<ImageRef> {
    for d in desired {
        let mut manifest = d.manifest.clone();
        for spec in pod_specs_mut(&mut manifest) {
            let containers = spec
                .get("containers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for c in containers {
                let Some(image) = c.get("image").and_then(Value::as_str) else {
                    continue;
                };
                if let Ok(found) = ImageRef::parse(image)
                    && crate::image::same_repository(&found.repository, image_repository)
                {
                    return Some(found);
                }
            }
        }
    }
    None
}
