//! After an apply: wait for the cluster's verdict under the environment's
//! deadline (counted from when the rollout started, across restarts), then
//! record it and report it; a failed or timed-out rollout is rolled back to
//! the last verified revision and not tried again until the repo changes
//! its content (or `slipway retry` asks).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{KubeCluster, ObjectEvent};
use super::converge::{ConvergeOptions, Converged};
use super::evidence::{self, PodEvidence};
use super::fault;
use super::metrics::VerdictLabels;
use super::plan::{self, DesiredObject, ObjectRef};
use super::reconcile::{ReconcileError, SyncContext, Target, converge, error_chain, render_at};
use super::render::objects::pod_specs_mut;
use super::scope;
use super::verdict::wait_for_rollout;
use crate::event::{ImageRef, RolloutReported, RolloutVerdict};
use crate::store::sync_state::{SyncPhase, TargetStatus};

/// What the cluster said about a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every workload is complete and healthy.
    Verified,
    /// A workload failed, or the deadline passed.
    Failed {
        /// The workload that failed, when one did.
        object: Option<ObjectRef>,
        /// The cause, one line for a person.
        cause: String,
    },
}

/// How long is left of a rollout's deadline, counted from `started_at`
/// (RFC 3339); the whole `timeout` when the start is unknown.
pub fn remaining(started_at: Option<&str>, timeout: Duration, now: jiff::Timestamp) -> Duration {
    let Some(started) = started_at.and_then(|s| s.parse::<jiff::Timestamp>().ok()) else {
        return timeout;
    };
    let spent = Duration::try_from(now.duration_since(started)).unwrap_or_default();
    timeout.saturating_sub(spent)
}

/// What a rollout waits for.
#[derive(Debug, Clone, Copy)]
pub struct Awaited<'a> {
    /// The workloads whose health decides the verdict.
    pub workloads: &'a [ObjectRef],
    /// Keys of the objects this pass applied: a Job among them must be seen
    /// finishing; one not applied now that is gone has run already.
    pub applied: &'a BTreeSet<String>,
}

/// Wait for a verdict, record it, report it, and roll back a failure.
pub async fn conclude(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    status: TargetStatus,
    target: &Target,
    awaited: Awaited<'_>,
    image: Option<ImageRef>,
) -> Result<TargetStatus, ReconcileError> {
    let started = Instant::now();
    let timeout = Duration::from_secs(target.env.rollout_timeout_seconds);
    let left = remaining(
        status.rollout_started_at.as_deref(),
        timeout,
        jiff::Timestamp::now(),
    );
    let verdict = wait_for_rollout(ctx, cluster, awaited, (timeout, left)).await?;
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
        Verdict::Failed { .. } => "failed",
    };
    ctx.metrics
        .rollout_seconds
        .get_or_create(&VerdictLabels {
            verdict: label.into(),
        })
        .observe(started.elapsed().as_secs_f64());
    status.rollout_started_at = None;
    let reason = match verdict {
        Verdict::Verified => {
            status.record_verified();
            status.state = if status.refused.is_empty() {
                SyncPhase::Verified
            } else {
                SyncPhase::Refused
            };
            None
        }
        Verdict::Failed { object, cause } => {
            let cause = fault::bounded(&cause, fault::MAX_LINE_CHARS);
            ctx.metrics.failure(&app, &env, "rollout");
            tracing::warn!(
                app,
                environment = env,
                revision,
                cause,
                "rollout failed; rolling back"
            );
            if let Some(object) = &object {
                let event = ObjectEvent {
                    reason: "RolloutFailed",
                    action: "Verify",
                    note: format!("revision {revision}: {cause}"),
                    warning: true,
                };
                cluster.event(object, None, event).await;
            }
            status.failed_revision = status.applied_revision.clone();
            status.failed_hash = status.applied_hash.clone();
            status.failed_reason = Some(cause.clone());
            status.record_error(cause.clone());
            status.failure_evidence = match &object {
                Some(object) => evidence::gather(cluster, object).await,
                None => Vec::new(),
            };
            status = roll_back(ctx, cluster, status, target, object.as_ref()).await?;
            Some(cause)
        }
    };
    ctx.metrics.sync(&app, &env, status.state.as_str());
    ctx.store.put_sync_status(status.clone()).await?;
    let evidence = match reason {
        Some(_) => status.failure_evidence.clone(),
        None => Vec::new(),
    };
    send_report_with(ctx, target, &revision, image, (reason, evidence)).await;
    Ok(status)
}

/// Report a verdict on `revision` to `receive`: `failed` with its
/// `reason`, `verified` without one.
pub async fn send_report(
    ctx: &SyncContext,
    target: &Target,
    revision: &str,
    image: Option<ImageRef>,
    reason: Option<String>,
) {
    send_report_with(ctx, target, revision, image, (reason, Vec::new())).await;
}

/// Report a verdict as [`send_report`] does, a failure with its failing
/// pods' evidence.
pub async fn send_report_with(
    ctx: &SyncContext,
    target: &Target,
    revision: &str,
    image: Option<ImageRef>,
    (reason, evidence): (Option<String>, Vec<PodEvidence>),
) {
    let Some(reporter) = &ctx.reporter else {
        return;
    };
    let report = RolloutReported {
        app: target.app_name.clone(),
        environment: target.env.name.clone(),
        revision: revision.to_string(),
        image,
        verdict: if reason.is_some() {
            RolloutVerdict::Failed
        } else {
            RolloutVerdict::Verified
        },
        reason,
        evidence,
        at: jiff::Timestamp::now().to_string(),
    };
    if let Err(e) = reporter.send(&report).await {
        ctx.metrics
            .failure(&report.app, &report.environment, "report");
        tracing::error!(app = %report.app, environment = %report.environment, error = %error_chain(&e), "rollout report not delivered");
    }
}

/// Apply the last verified revision again; `failed` when there is none.
async fn roll_back(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    mut status: TargetStatus,
    target: &Target,
    failed: Option<&ObjectRef>,
) -> Result<TargetStatus, ReconcileError> {
    let (Some(revision), Some(hash)) = (
        status.verified_revision.clone(),
        status.verified_hash.clone(),
    ) else {
        status.state = SyncPhase::Failed;
        return Ok(status);
    };
    let (app, env) = (target.app_name.as_str(), target.env.name.as_str());
    let objects = match render_at(ctx, &revision, target).await? {
        Ok(objects) => objects,
        Err(e) => {
            status.state = SyncPhase::Failed;
            let cause = status.last_error.take().unwrap_or_default();
            status.record_error(fault::bounded(
                &format!(
                    "{cause}; rollback to {revision} could not render: {}",
                    fault::one_line(&e)
                ),
                fault::MAX_LINE_CHARS,
            ));
            return Ok(status);
        }
    };
    let desired = plan::desired(
        app,
        env,
        scope::check_in(&ctx.cluster, &target.app, &target.env, objects)
            .await
            .accepted,
    );
    let options = ConvergeOptions::of(&target.env, &status);
    if let Converged::Rejected(rejection) =
        converge(ctx, cluster, (app, env), desired, &revision, &options).await?
    {
        return Err(rejection.error.into());
    }
    tracing::warn!(
        app,
        environment = env,
        revision,
        "rolled back to the last verified revision"
    );
    if let Some(object) = failed {
        let event = ObjectEvent {
            reason: "RolledBack",
            action: "Rollback",
            note: format!("slipway rolled back to verified revision {revision}"),
            warning: true,
        };
        cluster.event(object, None, event).await;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_counts_from_the_rollouts_start() {
        let now: jiff::Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let timeout = Duration::from_secs(300);
        let cases = [
            ("unknown start", None, 300),
            ("just started", Some("2026-01-01T00:05:00Z"), 300),
            ("a minute in", Some("2026-01-01T00:04:00Z"), 240),
            ("over", Some("2026-01-01T00:00:00Z"), 0),
            ("long over", Some("2025-12-31T00:00:00Z"), 0),
            ("unreadable", Some("yesterday"), 300),
        ];
        for (name, started, left) in cases {
            assert_eq!(
                remaining(started, timeout, now),
                Duration::from_secs(left),
                "{name}"
            );
        }
    }
}
