//! One rollout at a time per app/environment: a tokio mutex per key inside
//! the process, and, when several replicas run, a Kubernetes Lease per key
//! (`kube-lease-manager`) so that only one replica rolls it out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::{OwnedMutexGuard, watch};

/// How long to wait for a Lease another replica may hold before leaving
/// this app/environment to it for this pass.
pub const LEASE_ACQUIRE_WAIT: Duration = Duration::from_secs(2);
/// Prefix of Lease names (`slipway-<app>-<environment>`).
pub const LEASE_PREFIX: &str = "slipway";

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The Lease could not be created or read.
    #[error("lease {name}")]
    Lease {
        /// The Lease's name.
        name: String,
        /// The cause.
        #[source]
        source: LeaseManagerError,
    },
}

/// Cluster-wide Leases: where they live and who this replica is.
#[derive(Clone)]
pub struct LeaseConfig {
    /// Client of the cluster holding the Leases.
    pub client: kube::Client,
    /// Their namespace.
    pub namespace: String,
    /// This replica's identity.
    pub identity: String,
    /// Seconds a Lease is held without renewal.
    pub duration_seconds: u64,
}

/// Per-app/environment locks.
#[derive(Clone, Default)]
pub struct RolloutLocks {
    local: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    lease: Option<LeaseConfig>,
}

/// Held while one app/environment is synced; dropping it releases the
/// in-process lock and the Lease.
pub struct RolloutGuard {
    _local: OwnedMutexGuard<()>,
    _lease: Option<watch::Receiver<bool>>,
}

impl RolloutLocks {
    /// Locks, with Leases when `lease` is given.
    pub fn new(lease: Option<LeaseConfig>) -> Self {
        RolloutLocks {
            local: Arc::default(),
            lease,
        }
    }

    /// Take the lock of one app/environment without waiting for this
    /// process's own holder; `None` when it is busy here or held by another
    /// replica.
    pub async fn try_acquire(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Option<RolloutGuard>, LockError> {
        let key = format!("{app}/{environment}");
        let mutex = {
            let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
            local.entry(key).or_default().clone()
        };
        let Ok(local) = mutex.try_lock_owned() else {
            return Ok(None);
        };
        let lease = match &self.lease {
            None => None,
            Some(config) => match acquire_lease(config, &lease_name(app, environment)).await? {
                Some(held) => Some(held),
                None => return Ok(None),
            },
        };
        Ok(Some(RolloutGuard {
            _local: local,
            _lease: lease,
        }))
    }
}

/// The Lease name of an app/environment (both are DNS-label safe).
pub fn lease_name(app: &str, environment: &str) -> String {
    format!("{LEASE_PREFIX}-{app}-{environment}")
}

/// Start holding the Lease; `None` when another replica holds it. The
/// manager keeps renewing it while the receiver lives and releases it when
/// the receiver is dropped.
async fn acquire_lease(
    config: &LeaseConfig,
    name: &str,
) -> Result<Option<watch::Receiver<bool>>, LockError> {
    let lease_err = |source| LockError::Lease {
        name: name.to_string(),
        source,
    };
    let manager = LeaseManagerBuilder::new(config.client.clone(), name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration_seconds)
        .with_grace(config.duration_seconds.div_ceil(3).max(1))
        .build()
        .await
        .map_err(lease_err)?;
    let (mut held, _task) = manager.watch().await;
    let acquired = tokio::time::timeout(LEASE_ACQUIRE_WAIT, held.wait_for(|h| *h)).await;
    let is_holder = matches!(acquired, Ok(Ok(_)));
    drop(acquired);
    Ok(is_holder.then_some(held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_rollout_of_the_same_target_waits_its_turn() {
        let locks = RolloutLocks::new(None);
        let first = locks.try_acquire("web", "dev").await.unwrap();
        assert!(first.is_some());
        assert!(
            locks.try_acquire("web", "dev").await.unwrap().is_none(),
            "busy"
        );
        assert!(
            locks.try_acquire("web", "prod").await.unwrap().is_some(),
            "other targets proceed"
        );
        drop(first);
        assert!(
            locks.try_acquire("web", "dev").await.unwrap().is_some(),
            "released on drop"
        );
    }
}
