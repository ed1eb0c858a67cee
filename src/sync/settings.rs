//! Configuration of the sync role.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::SecretSource;

/// Default seconds between polls of the deploy repository.
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 60;

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
    /// Where `receive` listens for rollout reports (`http://host:port/hooks/sync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_url: Option<String>,
    /// Standard Webhooks secret that signs rollout reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_secret: Option<SecretSource>,
    /// Secrets accepted on sync's own `POST /hooks/sync` nudge.
    #[serde(default)]
    pub nudge_secrets: Vec<SecretSource>,
}

fn default_poll() -> u64 {
    DEFAULT_POLL_INTERVAL_SECS
}
