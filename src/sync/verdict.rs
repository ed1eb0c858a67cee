//! Waiting for a rollout's verdict: every waited workload healthy, one of
//! them failed, its new pods crash-looping or stuck on their image, or the
//! deadline passed. Jobs are watched (kube-runtime's `await_condition`), so
//! a Job the TTL controller deletes right after it finishes is still seen
//! finishing; other workloads are read every poll from the watch-fed cache
//! (a GET confirms what it suggests).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::cluster::{ClusterError, KubeCluster};
use super::plan::ObjectRef;
use super::podcheck::{self, PodLimits};
use super::reconcile::{ReconcileError, SyncContext, error_chain};
use super::rollout::{Awaited, Verdict};
use super::verify::{self, Health};

type JobWatch = JoinHandle<Result<Option<Value>, ClusterError>>;

/// One Job of a rollout: watched until it finishes or goes.
enum JobState {
    Watching(JobWatch),
    /// The Job as last seen finished, or `None` when it went unseen.
    Ended(Option<Value>),
}

/// The Jobs of a rollout; their watches stop when the wait ends.
struct JobWatches {
    jobs: HashMap<String, JobState>,
    /// Keys of the Jobs applied in this pass.
    applied: BTreeSet<String>,
}

impl Drop for JobWatches {
    fn drop(&mut self) {
        for state in self.jobs.values() {
            if let JobState::Watching(handle) = state {
                handle.abort();
            }
        }
    }
}

impl JobWatches {
    fn start(cluster: &KubeCluster, awaited: Awaited<'_>) -> Self {
        let jobs = awaited
            .workloads
            .iter()
            .filter(|o| o.kind == "Job")
            .map(|job| {
                let (cluster, job) = (cluster.clone(), job.clone());
                let key = job.key();
                let watch = tokio::spawn(async move { cluster.job_outcome(&job).await });
                (key, JobState::Watching(watch))
            })
            .collect();
        JobWatches {
            jobs,
            applied: awaited.applied.clone(),
        }
    }

    /// The Job's health: `Progressing` until its watch ends. A Job gone
    /// unseen failed when this pass applied it; otherwise it ran before
    /// (its TTL or its owner removed it).
    async fn health(&mut self, job: &ObjectRef) -> Result<(Health, Option<Value>), ReconcileError> {
        let Some(state) = self.jobs.get_mut(&job.key()) else {
            return Ok((Health::Progressing("not watched".into()), None));
        };
        if let JobState::Watching(handle) = state {
            if !handle.is_finished() {
                return Ok((Health::Progressing("running".into()), None));
            }
            let ended = handle.await.map_err(|_| ReconcileError::Task)??;
            *state = JobState::Ended(ended);
        }
        match state {
            JobState::Ended(Some(live)) => Ok((verify::health(live), Some(live.clone()))),
            JobState::Ended(None) if !self.applied.contains(&job.key()) => {
                Ok((Health::Ready, None))
            }
            _ => Ok((
                Health::Failed("deleted before it was seen to finish".into()),
                None,
            )),
        }
    }
}

/// How long a rollout progresses before its pods are read for a fail-fast
/// rule (never longer than the image pull grace). No pod meets one sooner on
/// a real cluster: the kubelet's crash-loop back-off starts at 10 s, so two
/// restarts take longer; a rollout that completes within it reads no pods.
pub const POD_CHECK_AFTER: Duration = Duration::from_secs(1);

/// Poll the workloads until all are ready, one fails, or `left` (of the
/// environment's `timeout`) has passed.
pub async fn wait_for_rollout(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    awaited: Awaited<'_>,
    (timeout, left): (Duration, Duration),
) -> Result<Verdict, ReconcileError> {
    let started = Instant::now();
    let deadline = started + left;
    let pods_after = POD_CHECK_AFTER.min(ctx.pod_limits.image_pull_grace);
    let mut jobs = JobWatches::start(cluster, awaited);
    loop {
        let mut waiting = None;
        for object in awaited.workloads {
            let (health, live) = if object.kind == "Job" {
                jobs.health(object).await?
            } else {
                workload_health(cluster, object).await?
            };
            match health {
                Health::Ready => {}
                Health::Failed(why) => {
                    let cause = with_pod_reasons(
                        cluster,
                        object,
                        live.as_ref(),
                        format!("{object}: {why}"),
                    )
                    .await;
                    return Ok(failed(object, cause));
                }
                Health::Progressing(why) => {
                    let pods_due = started.elapsed() >= pods_after;
                    let failing = match pods_due {
                        true => {
                            pods_failing(cluster, object, live.as_ref(), &ctx.pod_limits).await?
                        }
                        false => None,
                    };
                    if let Some(reason) = failing {
                        return Ok(failed(object, format!("{object}: {reason}")));
                    }
                    waiting = Some((object, why, live));
                    break;
                }
            }
        }
        let Some((object, why, live)) = waiting else {
            return Ok(Verdict::Verified);
        };
        if Instant::now() >= deadline {
            let cause = format!("{object}: timed out after {}s: {why}", timeout.as_secs());
            let cause = with_pod_reasons(cluster, object, live.as_ref(), cause).await;
            return Ok(failed(object, cause));
        }
        let pause = ctx
            .rollout_poll
            .min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(pause).await;
    }
}

/// A workload's health from the watch-fed cache; a verdict the cache
/// suggests (ready or failed) is confirmed with a GET, since the cache may
/// still hold the object as it was before this pass's apply.
async fn workload_health(
    cluster: &KubeCluster,
    object: &ObjectRef,
) -> Result<(Health, Option<Value>), ReconcileError> {
    let cached = cluster.cached(object).await?;
    if let Some(Health::Progressing(why)) = cached.as_ref().map(verify::health) {
        return Ok((Health::Progressing(why), cached));
    }
    Ok(match cluster.get(object).await? {
        Some(live) => (verify::health(&live), Some(live)),
        None => (Health::Progressing("not found".into()), None),
    })
}

fn failed(object: &ObjectRef, cause: String) -> Verdict {
    Verdict::Failed {
        object: Some(object.clone()),
        cause,
    }
}

/// The pods of a workload: by its selector, or for a Job by `job-name`.
pub(crate) async fn pods_of(
    cluster: &KubeCluster,
    object: &ObjectRef,
    live: Option<&Value>,
) -> Result<Vec<Value>, ClusterError> {
    let Some(namespace) = object.namespace.as_deref() else {
        return Ok(Vec::new());
    };
    let selector = match (object.kind.as_str(), live.and_then(verify::pod_selector)) {
        ("Job", _) => format!("job-name={}", object.name),
        (_, Some(selector)) => selector,
        (_, None) => return Ok(Vec::new()),
    };
    cluster.list("v1", "Pod", namespace, &selector).await
}

/// Why the new revision's pods fail the rollout already, if they do.
async fn pods_failing(
    cluster: &KubeCluster,
    object: &ObjectRef,
    live: Option<&Value>,
    limits: &PodLimits,
) -> Result<Option<String>, ReconcileError> {
    if live.is_none() && object.kind != "Job" {
        return Ok(None);
    }
    let pods = pods_of(cluster, object, live).await?;
    if pods.is_empty() {
        return Ok(None);
    }
    let replica_sets = match (
        object.kind.as_str(),
        object.namespace.as_deref(),
        live.and_then(verify::pod_selector),
    ) {
        ("Deployment", Some(namespace), Some(selector)) => {
            cluster
                .list("apps/v1", "ReplicaSet", namespace, &selector)
                .await?
        }
        _ => Vec::new(),
    };
    let workload = live
        .cloned()
        .unwrap_or_else(|| serde_json::json!({"kind": object.kind}));
    let new_pods = podcheck::new_revision_pods(&workload, &replica_sets, &pods);
    Ok(podcheck::pod_failure(
        &new_pods,
        limits,
        jiff::Timestamp::now(),
    ))
}

/// Add the pods' reasons (crash loops, image pulls) to a failure cause; a
/// failure to list pods only leaves them out.
async fn with_pod_reasons(
    cluster: &KubeCluster,
    object: &ObjectRef,
    live: Option<&Value>,
    cause: String,
) -> String {
    match pods_of(cluster, object, live).await {
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
