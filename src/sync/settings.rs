//! Configuration of the sync role.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::podcheck::{DEFAULT_CRASH_LOOP_RESTARTS, DEFAULT_IMAGE_PULL_GRACE_SECS};
use super::render::tools::RenderSettings;
use crate::secret::SecretSource;

/// Default seconds between polls of the deploy repository.
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 60;
/// Default number of app/environments rolled out at once.
pub const DEFAULT_MAX_PARALLEL: usize = 4;
/// Default milliseconds between two looks at a rollout's status.
pub const DEFAULT_ROLLOUT_POLL_MILLIS: u64 = 1000;
/// Default tolerance for nudge timestamps, in seconds.
pub const DEFAULT_NUDGE_TOLERANCE_SECS: u64 = 300;
/// Default Lease duration, in seconds.
pub const DEFAULT_LEASE_DURATION_SECS: u64 = 15;

/// How sync reaches the cluster and reports back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// Seconds between polls of the deploy repository.
    #[serde(default = "default_poll")]
    pub poll_interval_seconds: u64,
    /// Kubeconfig file; in-cluster config or `$KUBECONFIG` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// Where `receive` listens for rollout reports (`http://host:port/hooks/rollouts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_url: Option<String>,
    /// Standard Webhooks secret that signs rollout reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_secret: Option<SecretSource>,
    /// Secrets accepted on sync's own `POST /hooks/sync` nudge.
    #[serde(default)]
    pub nudge_secrets: Vec<SecretSource>,
    /// Secrets of the deploy repo's own GitHub (`X-Hub-Signature-256`) or
    /// GitLab (`X-Gitlab-Token`) push webhook, on `POST /hooks/sync/push`.
    #[serde(default)]
    pub push_secrets: Vec<SecretSource>,
    /// Tolerance for nudge timestamps, in seconds.
    #[serde(default = "default_nudge_tolerance")]
    pub nudge_tolerance_seconds: u64,
    /// Plan only: render and record what would be applied, never touch a
    /// cluster. Also what happens when no cluster can be configured.
    #[serde(default)]
    pub plan_only: bool,
    /// App/environments rolled out at once.
    #[serde(default = "default_max_parallel")]
    pub max_parallel: usize,
    /// Milliseconds between two looks at a rollout's status.
    #[serde(default = "default_rollout_poll")]
    pub rollout_poll_millis: u64,
    /// A Kubernetes Lease per app/environment, for running several replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseSettings>,
    /// Restarts after which a new pod's container that is not ready fails
    /// the rollout at once (a crash loop).
    #[serde(default = "default_crash_loop_restarts")]
    pub crash_loop_restarts: i64,
    /// Seconds a new pod may wait in `ImagePullBackOff`, `ErrImagePull`,
    /// `InvalidImageName` or `CreateContainerConfigError` before the rollout fails.
    #[serde(default = "default_image_pull_grace")]
    pub image_pull_grace_seconds: u64,
    /// The tools that render kustomizations and Helm charts, and their limits.
    #[serde(default)]
    pub render: RenderSettings,
}

/// Where the per-app/environment Leases live and who holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseSettings {
    /// Namespace of the Lease objects.
    pub namespace: String,
    /// This replica's identity; `$POD_NAME`, then `$HOSTNAME`, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Seconds a Lease is held without renewal.
    #[serde(default = "default_lease_duration")]
    pub duration_seconds: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            poll_interval_seconds: DEFAULT_POLL_INTERVAL_SECS,
            kubeconfig: None,
            report_url: None,
            report_secret: None,
            nudge_secrets: Vec::new(),
            push_secrets: Vec::new(),
            nudge_tolerance_seconds: DEFAULT_NUDGE_TOLERANCE_SECS,
            plan_only: false,
            max_parallel: DEFAULT_MAX_PARALLEL,
            rollout_poll_millis: DEFAULT_ROLLOUT_POLL_MILLIS,
            lease: None,
            crash_loop_restarts: DEFAULT_CRASH_LOOP_RESTARTS,
            image_pull_grace_seconds: DEFAULT_IMAGE_PULL_GRACE_SECS,
            render: RenderSettings::default(),
        }
    }
}

fn default_crash_loop_restarts() -> i64 {
    DEFAULT_CRASH_LOOP_RESTARTS
}

fn default_image_pull_grace() -> u64 {
    DEFAULT_IMAGE_PULL_GRACE_SECS
}

fn default_poll() -> u64 {
    DEFAULT_POLL_INTERVAL_SECS
}

fn default_nudge_tolerance() -> u64 {
    DEFAULT_NUDGE_TOLERANCE_SECS
}

fn default_max_parallel() -> usize {
    DEFAULT_MAX_PARALLEL
}

fn default_rollout_poll() -> u64 {
    DEFAULT_ROLLOUT_POLL_MILLIS
}

fn default_lease_duration() -> u64 {
    DEFAULT_LEASE_DURATION_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_section_gets_the_defaults() {
        let settings: SyncSettings =
            serde_saphyr::from_str("report_url: http://127.0.0.1:1/hooks/rollouts\n").unwrap();
        assert_eq!(settings.poll_interval_seconds, DEFAULT_POLL_INTERVAL_SECS);
        assert_eq!(settings.max_parallel, DEFAULT_MAX_PARALLEL);
        assert!(!settings.plan_only && settings.lease.is_none());
        assert_eq!(settings.crash_loop_restarts, DEFAULT_CRASH_LOOP_RESTARTS);
        assert_eq!(
            settings.image_pull_grace_seconds,
            DEFAULT_IMAGE_PULL_GRACE_SECS
        );
    }
}
