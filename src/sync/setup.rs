//! Build the sync role from the controller's configuration.

use std::time::Duration;

use prometheus_client::registry::Registry;

use super::cluster::{ClusterError, ClusterTarget, KubeCluster};
use super::lock::{LeaseConfig, RolloutLocks};
use super::metrics::SyncMetrics;
use super::podcheck::PodLimits;
use super::reconcile::SyncContext;
use super::render::Renderer;
use super::report::{ReportError, Reporter};
use super::retry::RetryRequests;
use super::runner::SyncLoop;
use super::settings::SyncSettings;
use super::source::DeployRepoSource;
use super::status::{StatusSetupError, SyncHttpState};
use crate::config::Config;
use crate::secret::{self, SecretError};
use crate::store::Store;

/// Why the sync role could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The config has no `deploy_repo` section.
    #[error("config: the sync role needs a deploy_repo section")]
    NoDeployRepo,
    /// `report_url` and `report_secret` must come together.
    #[error("config: sync.report_url and sync.report_secret go together")]
    HalfReport,
    /// A secret could not be loaded.
    #[error("load secret")]
    Secret(#[from] SecretError),
    /// The report secret is unusable.
    #[error("report secret")]
    Report(#[from] ReportError),
    /// A nudge secret is unusable.
    #[error("nudge secrets")]
    Nudge(#[from] StatusSetupError),
    /// The configured cluster could not be reached.
    #[error("cluster")]
    Cluster(#[from] ClusterError),
    /// Leases need a cluster.
    #[error("config: sync.lease needs a cluster (it is plan-only)")]
    LeaseWithoutCluster,
}

/// The sync role, ready to run: the loop, and the state of its routes.
pub struct SyncRole {
    /// Run it with [`SyncLoop::run`].
    pub sync_loop: SyncLoop,
    /// Pass it to [`super::status::routes`].
    pub http: SyncHttpState,
}

/// Build the sync role: deploy-repo source, cluster (or plan-only when none
/// is configured or found), reporter, locks, metrics in `registry`.
pub async fn sync_role(
    config: &Config,
    store: Store,
    registry: &mut Registry,
) -> Result<SyncRole, SetupError> {
    let settings = config.sync.clone().unwrap_or_default();
    let repo = config
        .deploy_repo
        .as_ref()
        .ok_or(SetupError::NoDeployRepo)?;
    let source = DeployRepoSource::new(&config.state_dir, repo);
    let cluster = cluster_target(&settings).await?;
    let reporter = match (&settings.report_url, &settings.report_secret) {
        (Some(url), Some(secret)) => Some(Reporter::new(url, &secret.load()?)?),
        (None, None) => None,
        _ => return Err(SetupError::HalfReport),
    };
    let locks = match (&settings.lease, &cluster) {
        (None, _) => RolloutLocks::new(None),
        (Some(_), ClusterTarget::PlanOnly) => return Err(SetupError::LeaseWithoutCluster),
        (Some(lease), ClusterTarget::Kube(kube)) => RolloutLocks::new(Some(LeaseConfig {
            client: kube.client().clone(),
            namespace: lease.namespace.clone(),
            identity: lease
                .identity
                .clone()
                .or_else(|| std::env::var("POD_NAME").ok())
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| format!("slipway-{}", std::process::id())),
            duration_seconds: lease.duration_seconds,
        })),
    };
    let ctx = SyncContext {
        store: store.clone(),
        source,
        cluster,
        reporter,
        metrics: SyncMetrics::register(registry),
        rollout_poll: Duration::from_millis(settings.rollout_poll_millis),
        pod_limits: PodLimits {
            crash_loop_restarts: settings.crash_loop_restarts,
            image_pull_grace: Duration::from_secs(settings.image_pull_grace_seconds),
        },
        retries: RetryRequests::default(),
        rollouts: Default::default(),
        renderer: Renderer::new(&settings.render),
    };
    ctx.renderer.tools().await;
    let render_tools = ctx.renderer.versions();
    let sync_loop = SyncLoop::new(
        ctx,
        locks,
        Duration::from_secs(settings.poll_interval_seconds),
        settings.max_parallel,
    );
    let bearer = config
        .api
        .bearer_token
        .as_ref()
        .map(|s| s.load())
        .transpose()?;
    let http = SyncHttpState::new(
        store,
        sync_loop.nudge_handle(),
        &secret::load_all(&settings.nudge_secrets)?,
        settings.nudge_tolerance_seconds,
        bearer,
    )?
    .with_push_secrets(secret::load_all(&settings.push_secrets)?)
    .with_retries(sync_loop.retry_handle())
    .with_rollouts(sync_loop.rollout_handle())
    .with_render_tools(render_tools);
    Ok(SyncRole { sync_loop, http })
}

/// A configured kubeconfig must work; without one, an inferred cluster is
/// used when there is one, and plan-only (logged, and `planned` in the
/// status) when there is none.
async fn cluster_target(settings: &SyncSettings) -> Result<ClusterTarget, ClusterError> {
    if settings.plan_only {
        return Ok(ClusterTarget::PlanOnly);
    }
    match &settings.kubeconfig {
        Some(path) => Ok(ClusterTarget::Kube(KubeCluster::connect(Some(path)).await?)),
        None => match KubeCluster::connect(None).await {
            Ok(cluster) => Ok(ClusterTarget::Kube(cluster)),
            Err(e) => {
                tracing::warn!(error = %super::reconcile::error_chain(&e), "no cluster configured: sync plans only");
                Ok(ClusterTarget::PlanOnly)
            }
        },
    }
}
