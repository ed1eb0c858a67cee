//! Converging the cluster on a desired set of objects: put drifted objects
//! back, check the revision by dry run, apply what is new or changed, prune
//! what left git, and keep the inventory that makes an unchanged object
//! cost nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::autoscale;
use super::cluster::{KubeCluster, ObjectEvent};
use super::dryrun::{self, Checked, Rejection};
use super::fault::Fault;
use super::metrics::SyncMetrics;
use super::owned::OwnedForm;
use super::plan::{self, DesiredObject, InventoryEntry, ObjectRef};
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
    let plan = plan::plan(desired, &inventory);
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
        match dryrun::check(cluster, &to_apply, options.recreate_on_immutable).await? {
            Checked::Rejected(rejection) => return Ok(Converged::Rejected(rejection)),
            Checked::Passed { recreate: keys } => recreate = keys,
        }
    }
    let step = ApplyStep {
        ctx,
        cluster,
        target: (app, env),
        revision,
        drift_notes: &drift_notes,
        recreate: &recreate,
        handover: &handover,
        autoscaled: &autoscaled,
    };
    let applied = step.apply_all(&to_apply).await?;
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

/// The real apply of a checked set, in order.
struct ApplyStep<'a> {
    ctx: &'a SyncContext,
    cluster: &'a KubeCluster,
    target: (&'a str, &'a str),
    revision: &'a str,
    drift_notes: &'a BTreeMap<String, String>,
    recreate: &'a BTreeSet<String>,
    handover: &'a BTreeSet<String>,
    autoscaled: &'a BTreeMap<String, String>,
}

impl ApplyStep<'_> {
    /// Apply `objects` in order; what was applied is recorded even when a
    /// later object fails, so it is pruned if it leaves git.
    async fn apply_all(
        &self,
        objects: &[DesiredObject],
    ) -> Result<BTreeSet<String>, ReconcileError> {
        let (app, env) = self.target;
        let mut applied = Vec::new();
        let mut failure = None;
        for d in objects {
            match self.apply_one(d, objects).await {
                Ok(entry) => applied.push(entry),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let keys = applied.iter().map(|e| e.object.key()).collect();
        self.ctx
            .metrics
            .applies
            .get_or_create(&SyncMetrics::target(app, env))
            .inc_by(applied.len() as u64);
        self.ctx
            .store
            .update_sync_inventory(app, env, applied, Vec::new())
            .await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(keys),
        }
    }

    async fn apply_one(
        &self,
        d: &DesiredObject,
        objects: &[DesiredObject],
    ) -> Result<InventoryEntry, ReconcileError> {
        let key = d.object.key();
        let recreated = self.recreate.contains(&key);
        if recreated {
            self.delete_for_recreate(&d.object).await?;
        }
        let handed_over = self.handover.contains(&key) && self.hand_over_replicas(d).await?;
        let live = match self.cluster.apply(d, false).await {
            Ok(live) => live,
            Err(e) => {
                if e.fault() == Fault::Content {
                    let note = e.summary();
                    tracing::warn!(object = %d.object, error = %super::reconcile::error_chain(&e), "apply rejected");
                    let event = ObjectEvent {
                        reason: "ApplyRejected",
                        action: "Apply",
                        note,
                        warning: true,
                    };
                    self.cluster.event(&d.object, None, event).await;
                }
                return Err(e.into());
            }
        };
        if d.object.kind == "CustomResourceDefinition" {
            self.await_crd(d, objects).await?;
        }
        let event = match self.drift_notes.get(&key) {
            Some(note) => ObjectEvent {
                reason: "DriftCorrected",
                action: "Apply",
                note: format!("slipway put back {note} (revision {})", self.revision),
                warning: true,
            },
            None if handed_over => ObjectEvent {
                reason: "ReplicasHandedOver",
                action: "Apply",
                note: match self.autoscaled.get(&key) {
                    Some(note) => format!(
                        "slipway applied revision {} from {}; {note}",
                        self.revision, d.source
                    ),
                    None => format!(
                        "slipway applied revision {} from {}; spec.replicas left git and keeps its live value",
                        self.revision, d.source
                    ),
                },
                warning: false,
            },
            None if recreated => ObjectEvent {
                reason: "Recreated",
                action: "Apply",
                note: format!(
                    "slipway deleted and re-created it for revision {} from {} (an immutable field changed)",
                    self.revision, d.source
                ),
                warning: true,
            },
            None => ObjectEvent {
                reason: "Applied",
                action: "Apply",
                note: format!(
                    "slipway applied revision {} from {}",
                    self.revision, d.source
                ),
                warning: false,
            },
        };
        let uid = super::cluster::uid_of(&live);
        self.cluster.event(&d.object, uid, event).await;
        Ok(InventoryEntry {
            object: d.object.clone(),
            hash: d.hash.clone(),
            resource_version: live
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from),
            owned: OwnedForm::of(&live, plan::FIELD_MANAGER),
        })
    }

    /// Hand `spec.replicas` over before an apply without it, so the server
    /// keeps the live value; `false` when the object has none to keep.
    async fn hand_over_replicas(&self, d: &DesiredObject) -> Result<bool, ReconcileError> {
        let Some(live) = self.cluster.get(&d.object).await? else {
            return Ok(false);
        };
        let Some(manifest) = autoscale::handover_manifest(d, &live) else {
            return Ok(false);
        };
        self.cluster.hand_over(d, &manifest).await?;
        tracing::info!(object = %d.object, "handed spec.replicas over before applying without it");
        Ok(true)
    }

    /// Delete an object whose immutable field changed, and wait until it is gone.
    async fn delete_for_recreate(&self, object: &ObjectRef) -> Result<(), ReconcileError> {
        let Some(live) = self.cluster.get(object).await? else {
            return Ok(());
        };
        tracing::warn!(%object, revision = self.revision, "deleting to re-create: an immutable field changed");
        self.cluster.delete(object).await?;
        if let Some(uid) = super::cluster::uid_of(&live) {
            self.cluster.wait_deleted(object, uid).await?;
        }
        Ok(())
    }

    /// After a CRD is applied: wait until it is established, then until
    /// discovery serves the kinds this revision uses from it.
    async fn await_crd(
        &self,
        crd: &DesiredObject,
        objects: &[DesiredObject],
    ) -> Result<(), ReconcileError> {
        self.cluster.wait_established(&crd.object.name).await?;
        let mut kinds = BTreeSet::new();
        for d in objects {
            let defined = dryrun::defined_by_crd_in(d, std::slice::from_ref(crd));
            if defined && kinds.insert((d.object.api_version.clone(), d.object.kind.clone())) {
                self.cluster
                    .wait_served(&d.object.api_version, &d.object.kind)
                    .await?;
            }
        }
        Ok(())
    }
}
