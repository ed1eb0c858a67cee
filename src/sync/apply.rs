//! The real apply of a checked set, in order: hand `spec.replicas` over
//! where Slipway stops setting it, re-create what must be, apply, wait for
//! new CRDs, and record each object in the inventory. Exceptional applies
//! (drift put back, a re-create, a handover, a refusal) get an Event on
//! their object; the rest get one Normal `Applied` Event per pass, on the
//! app/environment's workload.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::autoscale;
use super::cluster::{KubeCluster, ObjectEvent};
use super::dryrun;
use super::fault::Fault;
use super::metrics::SyncMetrics;
use super::owned::OwnedForm;
use super::plan::{self, DesiredObject, InventoryEntry, ObjectRef};
use super::reconcile::{ReconcileError, SyncContext};

/// The real apply of a checked set, in order.
pub(super) struct ApplyStep<'a> {
    pub ctx: &'a SyncContext,
    pub cluster: &'a KubeCluster,
    pub target: (&'a str, &'a str),
    pub revision: &'a str,
    /// The app/environment's workload the pass's `Applied` Event is about
    /// when none of the applied objects is one.
    pub workload: Option<&'a ObjectRef>,
    pub drift_notes: &'a BTreeMap<String, String>,
    pub recreate: &'a BTreeSet<String>,
    pub handover: &'a BTreeSet<String>,
    pub autoscaled: &'a BTreeMap<String, String>,
}

/// One object applied: its inventory entry, its `uid`, and whether it was
/// an ordinary apply (told in the pass's `Applied` Event).
struct Applied {
    entry: InventoryEntry,
    uid: Option<String>,
    ordinary: bool,
}

impl ApplyStep<'_> {
    /// Apply `objects` in order; what was applied is recorded even when a
    /// later object fails, so it is pruned if it leaves git.
    pub async fn apply_all(
        &self,
        objects: &[DesiredObject],
    ) -> Result<BTreeSet<String>, ReconcileError> {
        let (app, env) = self.target;
        let mut done = Vec::new();
        let mut failure = None;
        for d in objects {
            match self.apply_one(d, objects).await {
                Ok(one) => done.push(one),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        self.applied_event(objects, &done).await;
        let applied: Vec<InventoryEntry> = done.into_iter().map(|a| a.entry).collect();
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

    /// One Normal `Applied` Event for the pass's ordinary applies, on the
    /// first applied workload (else the app/environment's workload, else
    /// the first object applied); none when there were none.
    async fn applied_event(&self, objects: &[DesiredObject], done: &[Applied]) {
        let ordinary: Vec<&Applied> = done.iter().filter(|a| a.ordinary).collect();
        let Some(first) = ordinary.first() else {
            return;
        };
        let is_workload = |o: &ObjectRef| super::verify::WAITED_KINDS.contains(&o.kind.as_str());
        let (regarding, uid) = match ordinary.iter().find(|a| is_workload(&a.entry.object)) {
            Some(a) => (&a.entry.object, a.uid.as_deref()),
            None => match self.workload {
                Some(workload) => (workload, None),
                None => (&first.entry.object, first.uid.as_deref()),
            },
        };
        let sources: BTreeSet<&str> = objects
            .iter()
            .filter(|d| ordinary.iter().any(|a| a.entry.object == d.object))
            .map(|d| d.source.as_str())
            .collect();
        let names: Vec<String> = ordinary
            .iter()
            .map(|a| a.entry.object.to_string())
            .collect();
        let note = format!(
            "slipway applied revision {} from {}: {} object{} ({})",
            self.revision,
            sources.into_iter().collect::<Vec<_>>().join(", "),
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
        let event = ObjectEvent {
            reason: "Applied",
            action: "Apply",
            note,
            warning: false,
        };
        self.cluster.event(regarding, uid, event).await;
    }

    async fn apply_one(
        &self,
        d: &DesiredObject,
        objects: &[DesiredObject],
    ) -> Result<Applied, ReconcileError> {
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
            Some(note) => Some(ObjectEvent {
                reason: "DriftCorrected",
                action: "Apply",
                note: format!("slipway put back {note} (revision {})", self.revision),
                warning: true,
            }),
            None if handed_over => Some(ObjectEvent {
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
            }),
            None if recreated => Some(ObjectEvent {
                reason: "Recreated",
                action: "Apply",
                note: format!(
                    "slipway deleted and re-created it for revision {} from {} (an immutable field changed)",
                    self.revision, d.source
                ),
                warning: true,
            }),
            None => None,
        };
        let uid = super::cluster::uid_of(&live);
        let ordinary = event.is_none();
        if let Some(event) = event {
            self.cluster.event(&d.object, uid, event).await;
        }
        Ok(Applied {
            uid: uid.map(String::from),
            ordinary,
            entry: InventoryEntry {
                object: d.object.clone(),
                hash: d.hash.clone(),
                resource_version: live
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(String::from),
                owned: OwnedForm::of(&live, plan::FIELD_MANAGER),
            },
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
