//! The sync loop the binary starts: on every poll tick, nudge or push
//! webhook it fetches the deploy repo and reconciles each app/environment,
//! different ones in parallel up to a bound, each one at most once at a time.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::cluster::ClusterTarget;
use super::lock::RolloutLocks;
use super::reconcile::{
    ReconcileError, SyncContext, Target, error_chain, retire_target, sync_target,
};
use super::retry::{RetryRequests, WATCH_STREAK_WINDOW, backoff, watch_pause};
use super::source::SourceError;
use crate::store::sync_state::TargetStatus;

/// Why a pass could not start.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// Fetching the repo or reading `slipway.yaml` failed.
    #[error("read the deploy repo")]
    Source(#[from] SourceError),
    /// A blocking task was cancelled.
    #[error("fetch task stopped")]
    Task,
}

/// What one target's sync came to in a pass.
#[derive(Debug)]
pub enum TargetOutcome {
    /// Synced; the status reached.
    Synced(Box<TargetStatus>),
    /// Another task or replica is rolling it out; skipped this pass.
    Busy,
    /// Stopped on a cluster (or store) problem, recorded in the status and
    /// retried with backoff.
    Error(ReconcileError),
}

/// The result of one complete pass.
#[derive(Debug)]
pub struct PassReport {
    /// The deploy-repo commit synced.
    pub revision: String,
    /// Each app/environment and its outcome.
    pub targets: Vec<(String, String, TargetOutcome)>,
}

/// The sync loop.
#[derive(Clone)]
pub struct SyncLoop {
    ctx: SyncContext,
    locks: RolloutLocks,
    poll: Duration,
    nudge: Arc<Notify>,
    limit: Arc<Semaphore>,
    missed: Arc<Mutex<HashSet<String>>>,
    attempts: Arc<Mutex<HashMap<String, u32>>>,
}

impl SyncLoop {
    /// A loop over `ctx`, polling every `poll`, at most `max_parallel`
    /// app/environments at once.
    pub fn new(ctx: SyncContext, locks: RolloutLocks, poll: Duration, max_parallel: usize) -> Self {
        SyncLoop {
            ctx,
            locks,
            poll,
            nudge: Arc::new(Notify::new()),
            limit: Arc::new(Semaphore::new(max_parallel.max(1))),
            missed: Arc::default(),
            attempts: Arc::default(),
        }
    }

    /// Where `slipway retry` requests go (the status API's retry route).
    pub fn retry_handle(&self) -> RetryRequests {
        self.ctx.retries.clone()
    }

    /// Where `slipway promote --env` and `slipway abort` requests go.
    pub fn rollout_handle(&self) -> super::progressive::RolloutRequests {
        self.ctx.rollouts.clone()
    }

    /// The handle that wakes the loop (the nudge route and push webhooks).
    pub fn nudge_handle(&self) -> Arc<Notify> {
        self.nudge.clone()
    }

    /// Fetch and return the head revision and its targets.
    async fn targets(&self) -> Result<(String, Vec<Target>), PassError> {
        let source = self.ctx.source.clone();
        tokio::task::spawn_blocking(move || {
            let revision = source.fetch()?;
            let config = source.repo_config(&revision)?;
            let analyses = Arc::new(config.analyses);
            let targets = config
                .apps
                .into_iter()
                .flat_map(|(app_name, app)| {
                    let analyses = analyses.clone();
                    app.environments.clone().into_iter().map(move |env| Target {
                        app_name: app_name.clone(),
                        app: app.clone(),
                        env,
                        analyses: analyses.clone(),
                    })
                })
                .collect();
            Ok((revision, targets))
        })
        .await
        .map_err(|_| PassError::Task)?
    }

    /// Reconcile one target unless it is busy; when busy, remember to come back.
    async fn run_target(&self, revision: &str, target: &Target) -> TargetOutcome {
        let key = format!("{}/{}", target.app_name, target.env.name);
        let guard = match self
            .locks
            .try_acquire(&target.app_name, &target.env.name)
            .await
        {
            Ok(Some(guard)) => guard,
            Ok(None) => {
                self.missed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key);
                return TargetOutcome::Busy;
            }
            Err(e) => {
                tracing::warn!(target = %key, error = %error_chain(&e), "rollout lock unavailable");
                return TargetOutcome::Busy;
            }
        };
        let Ok(_permit) = self.limit.acquire().await else {
            return TargetOutcome::Busy;
        };
        let outcome = match sync_target(&self.ctx, revision, target).await {
            Ok(status) => {
                self.attempts_for(&key, |a| *a = 0);
                TargetOutcome::Synced(Box::new(status))
            }
            Err(e) => {
                // Logged and recorded by `sync_target`; come back after a pause.
                let mut attempt = 0;
                self.attempts_for(&key, |a| {
                    *a += 1;
                    attempt = *a;
                });
                let (nudge, pause) = (self.nudge.clone(), backoff(attempt, self.poll));
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    nudge.notify_one();
                });
                TargetOutcome::Error(e)
            }
        };
        drop(guard);
        if self
            .missed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
        {
            // A newer trigger arrived while this target was busy: run again.
            self.nudge.notify_one();
        }
        outcome
    }

    fn attempts_for(&self, key: &str, update: impl FnOnce(&mut u32)) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        update(attempts.entry(key.to_string()).or_default());
    }

    /// Prune and forget app/environments that left `slipway.yaml`.
    async fn retire_removed(&self, targets: &[Target]) {
        let known = match self.ctx.store.sync_statuses().await {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "could not list synced targets");
                return;
            }
        };
        for status in known {
            let listed = targets
                .iter()
                .any(|t| t.app_name == status.app && t.env.name == status.environment);
            if listed {
                continue;
            }
            let Ok(Some(_guard)) = self
                .locks
                .try_acquire(&status.app, &status.environment)
                .await
            else {
                continue;
            };
            match retire_target(&self.ctx, &status.app, &status.environment).await {
                Ok(pruned) => {
                    tracing::info!(app = %status.app, environment = %status.environment, pruned, "removed from slipway.yaml")
                }
                Err(e) => {
                    tracing::warn!(app = %status.app, environment = %status.environment, error = %error_chain(&e), "retiring will be retried")
                }
            }
        }
    }

    /// One complete pass, waiting for every target (tests and `--once`).
    pub async fn sync_once(&self) -> Result<PassReport, PassError> {
        let (revision, targets) = self.targets().await?;
        self.retire_removed(&targets).await;
        let mut tasks = JoinSet::new();
        for target in targets {
            let (this, revision) = (self.clone(), revision.clone());
            tasks.spawn(async move {
                let outcome = this.run_target(&revision, &target).await;
                (target.app_name, target.env.name, outcome)
            });
        }
        let mut report = PassReport {
            revision,
            targets: Vec::new(),
        };
        while let Some(done) = tasks.join_next().await {
            if let Ok(entry) = done {
                report.targets.push(entry);
            }
        }
        report
            .targets
            .sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(report)
    }

    /// Start a pass without waiting for its rollouts, so a nudge for one app
    /// is not held up by another app's long rollout.
    async fn start_pass(&self, running: &mut JoinSet<()>) {
        let (revision, targets) = match self.targets().await {
            Ok(found) => found,
            Err(e) => {
                self.ctx.metrics.failure("", "", "fetch");
                tracing::warn!(error = %error_chain(&e), "deploy repo unavailable; retrying on the next trigger");
                return;
            }
        };
        self.retire_removed(&targets).await;
        for target in targets {
            let (this, revision) = (self.clone(), revision.clone());
            running.spawn(async move {
                this.run_target(&revision, &target).await;
            });
        }
    }

    /// Run until `shutdown` completes: a pass at start, then on every poll
    /// tick, nudge and watch event of a managed object whose content
    /// changed (after [`watch_pause`]). Rollouts in progress at shutdown are
    /// abandoned; their state is `progressing` and the next start waits for
    /// them again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let changes = match &self.ctx.cluster {
            ClusterTarget::Kube(cluster) => Some(cluster.changes()),
            ClusterTarget::PlanOnly => None,
        };
        let changed = || async {
            match &changes {
                Some(changes) => changes.notified().await,
                None => std::future::pending().await,
            }
        };
        let (mut streak, mut last_change): (u32, Option<Instant>) = (0, None);
        let mut running = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            self.start_pass(&mut running).await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.poll) => {}
                _ = self.nudge.notified() => {}
                _ = changed() => {
                    let now = Instant::now();
                    let close = last_change.is_some_and(|t| now - t < WATCH_STREAK_WINDOW);
                    streak = if close { streak.saturating_add(1) } else { 0 };
                    last_change = Some(now);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(watch_pause(streak, self.poll)) => {}
                    }
                }
            }
        }
        running.abort_all();
    }
}
