//! The steps blue-green phases are made of: lay the colours and Services
//! out and converge on them, wait for a verdict or the end of a drain
//! (either cut short by `slipway abort`), delete a colour, store the record,
//! and record how a rollout ended.

use std::collections::BTreeSet;

use super::Wanted;
use crate::repoconfig::BlueGreen;
use crate::store::rollout::{Colour, RolloutEnd, RolloutPhase, RolloutRecord};
use crate::store::sync_state::{SyncPhase, TargetStatus};
use crate::sync::cluster::ObjectEvent;
use crate::sync::plan::{DesiredObject, ObjectRef};
use crate::sync::progressive::colour::{self, Split};
use crate::sync::progressive::run::{Next, StrategyRun};
use crate::sync::progressive::run::{Waited, deployment, until};
use crate::sync::progressive::{ROLE_CANDIDATE, ROLE_STABLE};
use crate::sync::reconcile::ReconcileError;
use crate::sync::verify::{self, Health, WAITED_KINDS};

/// Which objects a phase wants in the cluster.
pub(super) struct Layout<'a> {
    /// The colour the switched Services select; `None` leaves them out
    /// (nothing serves yet, so nothing is switched before verification).
    pub services_on: Option<&'a str>,
    /// The colour the preview Service selects; `None` leaves it out.
    pub preview_on: Option<&'a str>,
    /// The serving colour, kept running (never pruned) though not applied.
    pub stable: Option<&'a Colour>,
    /// The candidate colour to apply, with its phase.
    pub candidate: Option<(&'a str, RolloutPhase)>,
}

impl Layout<'_> {
    /// The objects to converge on and the keys of those to keep.
    fn objects(&self, split: &Split) -> (Vec<DesiredObject>, BTreeSet<String>) {
        let mut out = split.others.clone();
        if let Some(on) = self.services_on {
            out.extend(split.services.iter().map(|s| colour::pinned(s, on)));
        }
        if let (Some(on), Some(preview)) = (self.preview_on, &split.preview) {
            out.push(colour::pinned(preview, on));
        }
        if let Some((revision, phase)) = self.candidate {
            let role = if phase == RolloutPhase::Idle {
                ROLE_STABLE
            } else {
                ROLE_CANDIDATE
            };
            let phase = (phase != RolloutPhase::Idle).then_some(phase.as_str());
            out.extend(
                split
                    .workloads
                    .iter()
                    .map(|w| colour::coloured(w, revision, role, phase)),
            );
        }
        let retain = self
            .stable
            .map(|s| s.deployments.iter().map(|d| deployment(d).key()).collect())
            .unwrap_or_default();
        (out, retain)
    }
}

impl StrategyRun<'_, BlueGreen> {
    /// Converge on `layout`; the one-line refusal when the dry run refused it.
    pub(super) async fn converge_layout(
        &self,
        status: &mut TargetStatus,
        record: &RolloutRecord,
        split: &Split,
        layout: &Layout<'_>,
    ) -> Result<Option<String>, ReconcileError> {
        let (desired, retain) = layout.objects(split);
        let commit = record
            .candidate
            .as_ref()
            .or(record.stable.as_ref())
            .map(|c| c.commit.clone())
            .unwrap_or_default();
        self.converge_objects(status, desired, retain, &commit)
            .await
    }

    /// Converge on `layout`; when the dry run refuses it, the rollout stops
    /// (the next phase to run is returned).
    pub(super) async fn apply_layout(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        split: &Split,
        layout: &Layout<'_>,
    ) -> Result<Option<Next>, ReconcileError> {
        match self.converge_layout(status, record, split, layout).await? {
            None => Ok(None),
            Some(rejected) => {
                let refused = Waited::Failed(rejected);
                self.stop(status, record, refused, "the dry run")
                    .await
                    .map(Some)
            }
        }
    }

    /// Wait for the colour at `revision` (and the environment's other
    /// workloads) under the rollout's deadline, or an abort.
    pub(super) async fn verify(
        &self,
        record: &RolloutRecord,
        split: &Split,
        revision: &str,
    ) -> Result<Waited, ReconcileError> {
        let mut workloads: Vec<ObjectRef> = split
            .workloads
            .iter()
            .map(|w| colour::coloured(w, revision, ROLE_CANDIDATE, None).object)
            .collect();
        workloads.extend(
            split
                .others
                .iter()
                .filter(|d| {
                    WAITED_KINDS.contains(&d.object.kind.as_str()) && d.object.kind != "Job"
                })
                .map(|d| d.object.clone()),
        );
        self.await_workloads(record, &workloads).await
    }

    /// Wait until `until` (RFC 3339), checking the colour at `revision`
    /// every poll; a failure or an abort cuts the drain short.
    pub(super) async fn watch_drain(
        &self,
        split: &Split,
        revision: &str,
        until_at: &str,
    ) -> Result<Waited, ReconcileError> {
        let (app, env) = self.key();
        let colours: Vec<ObjectRef> = split
            .workloads
            .iter()
            .map(|w| colour::coloured(w, revision, ROLE_CANDIDATE, None).object)
            .collect();
        loop {
            for object in &colours {
                match self.cluster.get(object).await? {
                    None => {
                        return Ok(Waited::Failed(format!(
                            "{object}: deleted during the drain"
                        )));
                    }
                    Some(live) => {
                        if let Health::Failed(why) = verify::health(&live) {
                            return Ok(Waited::Failed(format!("{object}: {why}")));
                        }
                    }
                }
            }
            let left = until(until_at);
            if left.is_zero() {
                return Ok(Waited::Done);
            }
            tokio::select! {
                _ = tokio::time::sleep(left.min(self.ctx.rollout_poll)) => {}
                _ = self.ctx.rollouts.abort.requested(app, env) => return Ok(Waited::Aborted),
            }
        }
    }

    /// Point the switched Services (and the preview) back at `revision`.
    pub(super) async fn switch_back(
        &self,
        split: &Split,
        revision: &str,
    ) -> Result<(), ReconcileError> {
        for service in split.services.iter().chain(split.preview.iter()) {
            self.cluster
                .apply(&colour::pinned(service, revision), false)
                .await?;
        }
        Ok(())
    }

    /// A Normal Event on each switched Service.
    pub(super) async fn switched_events(&self, split: &Split, revision: &str) {
        for service in &split.services {
            let event = ObjectEvent {
                reason: "Switched",
                action: "Switch",
                note: format!("selector moved to revision {revision}"),
                warning: false,
            };
            self.cluster.event(&service.object, None, event).await;
        }
    }

    /// A cleaned-up rollout: a failure or an abort is held (not tried again
    /// Switched and drained: the rollout is verified (an adoption is not
    /// A held failure: keep the serving colour as its own commit has it.
    pub(super) async fn hold_stable(
        &self,
        status: &mut TargetStatus,
        record: &RolloutRecord,
    ) -> Result<(), ReconcileError> {
        if let Some(stable) = record.stable.clone().filter(|s| !s.commit.is_empty())
            && let Ok(split) = self.split(self.objects_at(&stable.commit).await?)
        {
            let layout = Layout {
                services_on: Some(&stable.revision),
                preview_on: Some(&stable.revision),
                stable: None,
                candidate: Some((&stable.revision, RolloutPhase::Idle)),
            };
            self.converge_layout(status, record, &split, &layout)
                .await?;
        }
        self.save(status, record).await
    }

    /// The serving colour is what git wants: converge on it (drift is put
    /// back, stale colours pruned); a change outside the pod templates is
    /// applied in place and verified.
    pub(super) async fn steady(
        &self,
        status: &mut TargetStatus,
        record: &mut RolloutRecord,
        split: &Split,
        wanted: &Wanted,
    ) -> Result<(), ReconcileError> {
        let revision = record
            .stable
            .as_ref()
            .map(|s| s.revision.clone())
            .unwrap_or_default();
        let layout = Layout {
            services_on: Some(&revision),
            preview_on: Some(&revision),
            stable: None,
            candidate: Some((&revision, RolloutPhase::Idle)),
        };
        if let Some(rejected) = self.converge_layout(status, record, split, &layout).await? {
            status.failed_revision = Some(wanted.revision.clone());
            status.failed_hash = Some(wanted.content.clone());
            status.failed_reason = Some(rejected.clone());
            status.record_error(rejected);
            status.state = SyncPhase::Rejected;
            return self.save(status, record).await;
        }
        if status.applied_hash.as_deref() != Some(wanted.content.as_str()) {
            status.applied_revision = Some(wanted.revision.clone());
            status.applied_hash = Some(wanted.content.clone());
            record.started_at = Some(crate::store::now_rfc3339());
            status.state = SyncPhase::Progressing;
            self.save(status, record).await?;
            match self.verify(record, split, &revision).await? {
                Waited::Done => {
                    if let Some(stable) = record.stable.as_mut() {
                        stable.commit = wanted.revision.clone();
                    }
                    return self.verified(status, record, false).await;
                }
                Waited::Failed(cause) => {
                    return self.ended(status, record, RolloutEnd::Failed, cause).await;
                }
                Waited::Aborted => {
                    let (app, env) = self.key();
                    self.ctx.rollouts.abort.take(app, env);
                }
            }
        }
        status.clear_error();
        status.state = if !status.drifted.is_empty() {
            SyncPhase::Drifted
        } else if !status.refused.is_empty() {
            SyncPhase::Refused
        } else {
            SyncPhase::Verified
        };
        self.save(status, record).await
    }
}
