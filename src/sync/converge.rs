//! Converging the cluster on a desired set of objects: put drifted objects
//! back, check the revision by dry run, apply what is new or changed, prune
//! what left git, and keep the inventory that makes an unchanged object
//! cost nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::apply::ApplyStep;
use super::autoscale;
use super::cluster::KubeCluster;
use super::dryrun::{self, Checked, Rejection};
use super::metrics::SyncMetrics;
use super::plan::{self, DesiredObject, InventoryEntry};
use super::reconcile::{ReconcileError, SyncContext};
use crate::repoconfig::Environment;
use crate::store::sync_state::TargetStatus;

/// What converging changed.
#[derive(Debug)]
pub struct Changes {
    /// Objects applied, by [`ObjectRef::key`].
    pub applied: BTreeSet<String>,
    /// Objects pruned.
    pub pruned: usize,
    /// Drifted objects put back, with the first field that differed.
    pub drifted: Vec<String>,
    /// Objects whose `spec.replicas` an autoscaler owns, with its name.
    pub autoscaled: Vec<String>,
}

/// How converging went.
#[derive(Debug)]
pub enum Converged {
    /// The cluster holds the desired set.
    Applied(Changes),
    /// The dry run refused an object; nothing was written.
    Rejected(Rejection),
}

/// What an environment's settings ask of converging.
#[derive(Debug, Clone, Default)]
pub struct ConvergeOptions {
    /// Create this namespace when missing, before the first write.
    pub ensure_namespace: Option<String>,
    /// The environment's own namespace: never pruned while it is configured.
    pub own_namespace: Option<String>,
    /// Delete and re-create objects whose immutable field changed.
    pub recreate_on_immutable: bool,
    /// Job contents (`key@hash`) that completed: not applied again.
    pub completed_jobs: BTreeSet<String>,
    /// Objects (by [`ObjectRef::key`]) a rollout still runs though they
    /// left the desired set (the colour that serves): never pruned here.
    ///
    /// [`ObjectRef::key`]: super::plan::ObjectRef::key
    pub retain: BTreeSet<String>,
}

impl ConvergeOptions {
    /// The options `slipway.yaml` sets for `env`, and what `status` knows
    /// ran already.
    pub fn of(env: &Environment, status: &TargetStatus) -> Self {
        ConvergeOptions {
            ensure_namespace: env.namespace.clone().filter(|_| env.create_namespace),
            own_namespace: env.namespace.clone(),
            recreate_on_immutable: env.recreate_on_immutable,
            completed_jobs: status.completed_jobs.iter().cloned().collect(),
            retain: BTreeSet::new(),
        }
    }
}

/// How a Job's content is remembered once it completed: `key@hash`.
pub fn job_content(d: &DesiredObject) -> Option<String> {
    (d.object.kind == "Job").then(|| format!("{}@{}", d.object.key(), d.hash))
}

/// Make the cluster hold `desired` for this app/environment: apply what is
/// new, changed or drifted (after a dry run of all of it), prune what left
/// git, and keep the inventory.
pub async fn converge(
    ctx: &SyncContext,
    cluster: &KubeCluster,
    (app, env): (&str, &str),
    mut desired: Vec<DesiredObject>,
    revision: &str,
    options: &ConvergeOptions,
) -> Result<Converged, ReconcileError> {
    let inventory = ctx.store.sync_inventory(app, env).await?;
    let autoscaled = leave_replicas_to_autoscalers(cluster, &mut desired).await?;
    let mut plan = plan::plan(desired, &inventory);
    plan.prune
        .retain(|e| !options.retain.contains(&e.object.key()));
    let workload = plan
        .unchanged
        .iter()
        .map(|(d, _)| &d.object)
        .chain(plan.apply.iter().map(|d| &d.object))
        .find(|o| super::verify::WAITED_KINDS.contains(&o.kind.as_str()))
        .cloned();
    let (drifted, refreshed, drift_notes) =
        super::drift::find_drift(cluster, app, env, plan.unchanged).await?;
    ctx.store
        .update_sync_inventory(app, env, refreshed, Vec::new())
        .await?;
    let labels = SyncMetrics::target(app, env);
    ctx.metrics
        .drifts
        .get_or_create(&labels)
        .inc_by(drifted.len() as u64);
    // A Job runs once per content: one that completed (a rollback to its
    // revision, a revert) is not applied again.
    let mut to_apply: Vec<DesiredObject> = plan
        .apply
        .into_iter()
        .filter(|d| job_content(d).is_none_or(|c| !options.completed_jobs.contains(&c)))
        .collect();
    to_apply.extend(drifted);
    to_apply.sort_by_key(|d| plan::apply_rank(&d.object.kind));
    let handover = replicas_to_hand_over(&to_apply, &inventory);
    let mut recreate = BTreeSet::new();
    if !to_apply.is_empty() {
        if let Some(namespace) = &options.ensure_namespace {
            cluster.ensure_namespace(namespace).await?;
        }
        let checked = dryrun::check(cluster, &to_apply, options.recreate_on_immutable).await;
        match checked.inspect_err(|_| forget_namespace(cluster, options))? {
            Checked::Rejected(rejection) => return Ok(Converged::Rejected(rejection)),
            Checked::Passed { recreate: keys } => recreate = keys,
        }
    }
    let step = ApplyStep {
        ctx,
        cluster,
        target: (app, env),
        revision,
        workload: workload.as_ref(),
        drift_notes: &drift_notes,
        recreate: &recreate,
        handover: &handover,
        autoscaled: &autoscaled,
    };
    let applied = step
        .apply_all(&to_apply)
        .await
        .inspect_err(|_| forget_namespace(cluster, options))?;
    let kinds: BTreeSet<(&str, &str)> = to_apply
        .iter()
        .map(|d| (d.object.api_version.as_str(), d.object.kind.as_str()))
        .collect();
    for (api_version, kind) in kinds {
        cluster.watch_owned(api_version, kind).await;
    }
    let pruned = super::prune::prune_all(ctx, cluster, (app, env), &plan.prune, options).await?;
    Ok(Converged::Applied(Changes {
        applied,
        pruned,
        drifted: drift_notes.into_values().collect(),
        autoscaled: autoscaled.into_values().collect(),
    }))
}

/// A write failed: the environment's namespace may be gone, so the next
/// pass looks it up again instead of trusting what it saw.
fn forget_namespace(cluster: &KubeCluster, options: &ConvergeOptions) {
    if let Some(namespace) = &options.ensure_namespace {
        cluster.forget_namespace(namespace);
    }
}

/// Take `spec.replicas` out of the objects an autoscaler scales: those of
/// HorizontalPodAutoscalers in the desired set, and in the namespaces of
/// objects that set replicas.
async fn leave_replicas_to_autoscalers(
    cluster: &KubeCluster,
    desired: &mut [DesiredObject],
) -> Result<BTreeMap<String, String>, ReconcileError> {
    let mut autoscalers: Vec<Value> = desired
        .iter()
        .filter(|d| autoscale::is_autoscaler(d))
        .map(|d| d.manifest.clone())
        .collect();
    for namespace in autoscale::namespaces_with_replicas(desired) {
        autoscalers.extend(cluster.autoscalers(&namespace).await?);
    }
    let targets = autoscale::scale_targets(&autoscalers);
    Ok(autoscale::leave_replicas(desired, &targets))
}

/// Keys of the objects to apply that no longer set `spec.replicas` while
/// Slipway owned it at their last apply: the field is handed over first.
fn replicas_to_hand_over(
    to_apply: &[DesiredObject],
    inventory: &[InventoryEntry],
) -> BTreeSet<String> {
    let owned: BTreeMap<String, &InventoryEntry> =
        inventory.iter().map(|e| (e.object.key(), e)).collect();
    to_apply
        .iter()
        .filter(|d| d.manifest.pointer("/spec/replicas").is_none())
        .map(|d| d.object.key())
        .filter(|key| {
            owned
                .get(key)
                .and_then(|e| e.owned.as_ref())
                .is_some_and(|form| form.owns(&["spec", "replicas"]))
        })
        .collect()
}
