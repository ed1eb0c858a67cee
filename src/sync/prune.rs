//! Pruning: objects that left git are deleted, but only those still
//! labelled as this app/environment's own, and never a Namespace in use; an
//! app/environment that left `slipway.yaml` is pruned and forgotten.

use super::cluster::{ClusterTarget, KubeCluster};
use super::converge::ConvergeOptions;
use super::metrics::SyncMetrics;
use super::plan::{self, InventoryEntry};
use super::reconcile::{ReconcileError, SyncContext};

/// Delete objects that left git, only when the live object still carries
/// this app/environment's ownership labels, and never a Namespace still in
/// use; forget them either way.
pub(super) async fn prune_all(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    (app, env): (&str, &str),
    entries: &[InventoryEntry],
    options: &ConvergeOptions,
) -> Result<usize, ReconcileError> {
    let mut forgotten = Vec::new();
    let mut pruned = 0;
    for entry in entries {
        let in_use = entry.object.kind == "Namespace"
            && (options.own_namespace.as_deref() == Some(entry.object.name.as_str())
                || ctx
                    .store
                    .namespace_used_by_others(&entry.object.name, app, env)
                    .await?);
        match cluster.get(&entry.object).await? {
            Some(_) if in_use => {
                tracing::info!(object = %entry.object, "not pruned: the namespace is still in use")
            }
            Some(live) if plan::owned_by(&live, app, env) => {
                cluster.delete(&entry.object).await?;
                pruned += 1;
            }
            Some(_) => {
                tracing::warn!(object = %entry.object, "not pruned: no longer labelled as slipway's")
            }
            None => {}
        }
        forgotten.push(entry.object.clone());
    }
    ctx.metrics
        .prunes
        .get_or_create(&SyncMetrics::target(app, env))
        .inc_by(pruned as u64);
    ctx.store
        .update_sync_inventory(app, env, Vec::new(), forgotten)
        .await?;
    Ok(pruned)
}

/// An app/environment left `slipway.yaml`: prune what Slipway applied for it
/// (only objects still labelled as its own) and forget it. Plan-only sync
/// applied nothing, so it only forgets.
pub async fn retire_target(
    ctx: &SyncContext,
    app: &str,
    env: &str,
) -> Result<usize, ReconcileError> {
    let pruned = match &ctx.cluster {
        ClusterTarget::Kube(cluster) => {
            let mut inventory = ctx.store.sync_inventory(app, env).await?;
            inventory.sort_by_key(|e| std::cmp::Reverse(plan::apply_rank(&e.object.kind)));
            let options = ConvergeOptions::default();
            prune_all(ctx, cluster, (app, env), &inventory, &options).await?
        }
        ClusterTarget::PlanOnly => 0,
    };
    ctx.store.forget_sync_target(app, env).await?;
    Ok(pruned)
}
