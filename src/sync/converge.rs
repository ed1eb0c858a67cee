//! Converging the cluster on a desired set of objects: put drifted objects
//! back, apply what is new or changed, prune what left git, and keep the
//! inventory that makes an unchanged object cost nothing.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::cluster::{ClusterTarget, KubeCluster};
use super::metrics::SyncMetrics;
use super::plan::{self, DesiredObject, InventoryEntry};
use super::reconcile::{ReconcileError, SyncContext};

/// `(apiVersion, kind, namespace)`: what one LIST reads.
type GroupKey = (String, String, Option<String>);

/// What converging changed.
pub struct Changes {
    /// Objects applied.
    pub applied: usize,
    /// Objects pruned.
    pub pruned: usize,
    /// Drifted objects put back, with the first field that differed.
    pub drifted: Vec<String>,
}

/// Make the cluster hold `desired` for this app/environment: apply what is
/// new, changed or drifted, prune what left git, and keep the inventory.
pub async fn converge(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    app: &str,
    env: &str,
    desired: Vec<DesiredObject>,
    revision: &str,
) -> Result<Changes, ReconcileError> {
    let inventory = ctx.store.sync_inventory(app, env).await?;
    let plan = plan::plan(desired, &inventory);
    let (drifted, refreshed, drift_notes) = find_drift(cluster, app, env, plan.unchanged).await?;
    ctx.store
        .update_sync_inventory(app, env, refreshed, Vec::new())
        .await?;
    let labels = SyncMetrics::target(app, env);
    ctx.metrics
        .drifts
        .get_or_create(&labels)
        .inc_by(drifted.len() as u64);
    let mut to_apply = plan.apply;
    to_apply.extend(drifted);
    to_apply.sort_by_key(|d| plan::apply_rank(&d.object.kind));
    let applied = apply_all(ctx, cluster, app, env, &to_apply, revision, &drift_notes).await?;
    let pruned = prune_all(ctx, cluster, app, env, &plan.prune).await?;
    Ok(Changes {
        applied,
        pruned,
        drifted: drift_notes.into_values().collect(),
    })
}

/// Read the live objects of unchanged entries (one LIST per kind and
/// namespace) and sort them into drifted ones and ones whose
/// resourceVersion merely moved on.
async fn find_drift(
    cluster: &KubeCluster,
    app: &str,
    env: &str,
    unchanged: Vec<(DesiredObject, InventoryEntry)>,
) -> Result<
    (
        Vec<DesiredObject>,
        Vec<InventoryEntry>,
        BTreeMap<String, String>,
    ),
    ReconcileError,
> {
    let mut groups: BTreeMap<GroupKey, Vec<(DesiredObject, InventoryEntry)>> = BTreeMap::new();
    for (d, e) in unchanged {
        let key = (
            d.object.api_version.clone(),
            d.object.kind.clone(),
            d.object.namespace.clone(),
        );
        groups.entry(key).or_default().push((d, e));
    }
    let (mut drifted, mut refreshed, mut notes) = (Vec::new(), Vec::new(), BTreeMap::new());
    for ((api_version, kind, namespace), members) in groups {
        let live: HashMap<String, Value> = cluster
            .list_owned(&api_version, &kind, namespace.as_deref(), app, env)
            .await?;
        for (d, mut entry) in members {
            let found = live.get(&d.object.name);
            let version = found
                .and_then(|l| l.pointer("/metadata/resourceVersion"))
                .and_then(Value::as_str);
            let difference = match found {
                None => Some("missing or relabelled".to_string()),
                Some(_) if version.is_some() && version == entry.resource_version.as_deref() => {
                    None
                }
                Some(l) => plan::drift(&d.manifest, l),
            };
            match difference {
                Some(field) => {
                    notes.insert(d.object.key(), format!("{}: {field}", d.object));
                    drifted.push(d);
                }
                None if version != entry.resource_version.as_deref() => {
                    entry.resource_version = version.map(String::from);
                    refreshed.push(entry);
                }
                None => {}
            }
        }
    }
    Ok((drifted, refreshed, notes))
}

async fn apply_all(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    app: &str,
    env: &str,
    objects: &[DesiredObject],
    revision: &str,
    drift_notes: &BTreeMap<String, String>,
) -> Result<usize, ReconcileError> {
    let mut applied = Vec::new();
    let mut failure = None;
    for d in objects {
        match cluster.apply(d).await {
            Ok(live) => {
                let (reason, message) = match drift_notes.get(&d.object.key()) {
                    Some(note) => (
                        "DriftCorrected",
                        format!("slipway put back {note} (revision {revision})"),
                    ),
                    None => (
                        "Applied",
                        format!("slipway applied revision {revision} from {}", d.source),
                    ),
                };
                cluster
                    .event(
                        &live,
                        reason,
                        &message,
                        drift_notes.contains_key(&d.object.key()),
                    )
                    .await;
                applied.push(InventoryEntry {
                    object: d.object.clone(),
                    hash: d.hash.clone(),
                    resource_version: live
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .map(String::from),
                });
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let count = applied.len();
    ctx.metrics
        .applies
        .get_or_create(&SyncMetrics::target(app, env))
        .inc_by(count as u64);
    // Record what was applied even when a later object failed, so it is pruned if it leaves git.
    ctx.store
        .update_sync_inventory(app, env, applied, Vec::new())
        .await?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(count),
    }
}

/// Delete objects that left git, only when the live object still carries
/// this app/environment's ownership labels; forget them either way.
async fn prune_all(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    app: &str,
    env: &str,
    entries: &[InventoryEntry],
) -> Result<usize, ReconcileError> {
    let mut forgotten = Vec::new();
    let mut pruned = 0;
    for entry in entries {
        match cluster.get(&entry.object).await? {
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
            prune_all(ctx, cluster, app, env, &inventory).await?
        }
        ClusterTarget::PlanOnly => 0,
    };
    ctx.store.forget_sync_target(app, env).await?;
    Ok(pruned)
}
