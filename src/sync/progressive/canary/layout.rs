//! The objects a canary wants in the cluster at a weight: both revisions
//! as rendered, the stable and canary Deployments at their shares, and,
//! with Gateway API traffic, the canary Service and the HTTPRoutes' weights.

use std::collections::BTreeSet;

use super::CanaryRun;
use crate::repoconfig::Traffic;
use crate::store::rollout::RolloutRecord;
use crate::sync::plan::DesiredObject;
use crate::sync::progressive::colour::{self, Split};
use crate::sync::progressive::traffic::{HTTPROUTE_API_VERSION, replica_split, route_weights};
use crate::sync::reconcile::ReconcileError;

/// The two revisions of a canary, as rendered.
pub(super) struct Revisions {
    /// The last verified revision.
    pub stable: Split,
    /// The revision being rolled out.
    pub canary: Split,
}

impl CanaryRun<'_> {
    /// Both revisions' objects, rendered from their commits.
    pub(super) async fn revisions(
        &self,
        record: &RolloutRecord,
    ) -> Result<Option<Revisions>, ReconcileError> {
        let (Some(stable), Some(candidate)) = (&record.stable, &record.candidate) else {
            return Ok(None);
        };
        let stable = self.split(self.objects_at(&stable.commit).await?).ok();
        let canary = self.split(self.objects_at(&candidate.commit).await?).ok();
        Ok(stable
            .zip(canary)
            .map(|(stable, canary)| Revisions { stable, canary }))
    }

    /// The labels that set the canary's pods apart (Gateway API traffic only).
    fn relabel(&self, revisions: &Revisions) -> BTreeSet<String> {
        match self.config.traffic {
            Traffic::Replicas => BTreeSet::new(),
            Traffic::GatewayApi => colour::selected_keys(&revisions.canary.services),
        }
    }

    /// The objects of a canary at `weight`: the new revision's others and
    /// Services, the stable Deployments at their share, the canary at its
    /// share, and (Gateway API) the canary Service and the route's weights.
    pub(super) async fn layout(
        &self,
        record: &RolloutRecord,
        revisions: &Revisions,
        weight: u8,
        stable_template: bool,
    ) -> Result<Result<Vec<DesiredObject>, String>, ReconcileError> {
        let revision = record
            .candidate
            .as_ref()
            .map(|c| c.revision.clone())
            .unwrap_or_default();
        let relabel = self.relabel(revisions);
        let phase = record.phase.as_str();
        let mut out: Vec<DesiredObject> = Vec::new();
        let routes = self.weighted_routes(revisions, weight).await?;
        let routes = match routes {
            Ok(routes) => routes,
            Err(e) => return Ok(Err(e)),
        };
        for d in &revisions.canary.others {
            match routes.iter().find(|r| r.object == d.object) {
                Some(route) => out.push(route.clone()),
                None => out.push(d.clone()),
            }
        }
        out.extend(revisions.canary.services.iter().cloned());
        if self.config.traffic == Traffic::GatewayApi {
            out.extend(
                revisions
                    .canary
                    .services
                    .iter()
                    .map(|s| colour::canary_service(s, &revision, &relabel)),
            );
        }
        for new in &revisions.canary.workloads {
            let total = colour::replicas(new);
            let (stable_share, canary_share) = match self.config.traffic {
                Traffic::Replicas => replica_split(total, weight),
                Traffic::GatewayApi => (total, replica_split(total, weight.max(1)).1),
            };
            if stable_template {
                let old = revisions
                    .stable
                    .workloads
                    .iter()
                    .find(|w| w.object == new.object);
                if let Some(old) = old {
                    out.push(colour::with_replicas(old, stable_share));
                }
            } else {
                out.push(new.clone());
            }
            out.push(colour::canary(
                new,
                &revision,
                canary_share.max(1),
                &relabel,
                phase,
            ));
        }
        Ok(Ok(out))
    }

    /// The environment's HTTPRoutes naming a switched Service, with the
    /// canary's `weight` (Gateway API traffic only).
    async fn weighted_routes(
        &self,
        revisions: &Revisions,
        weight: u8,
    ) -> Result<Result<Vec<DesiredObject>, String>, ReconcileError> {
        if self.config.traffic != Traffic::GatewayApi {
            return Ok(Ok(Vec::new()));
        }
        let mut out = Vec::new();
        for service in &revisions.canary.services {
            let canary_name = format!("{}{}", service.object.name, colour::CANARY_SUFFIX);
            for route in revisions.canary.others.iter().filter(|d| {
                d.object.kind == "HTTPRoute" && d.object.api_version == HTTPROUTE_API_VERSION
            }) {
                let mut manifest = route.manifest.clone();
                if manifest["metadata"]["namespace"].is_null()
                    && let Some(ns) = &route.object.namespace
                {
                    manifest["metadata"]["namespace"] = ns.clone().into();
                }
                let Ok(body) = route_weights(&manifest, &service.object.name, &canary_name, weight)
                else {
                    continue;
                };
                manifest["spec"]["rules"] = body["spec"]["rules"].clone();
                let mut weighted = route.clone();
                weighted.hash = crate::sync::plan::hash_value(&manifest);
                weighted.manifest = manifest;
                out.push(weighted);
            }
        }
        if out.is_empty() {
            return Ok(Err(format!(
                "traffic gateway_api: no {HTTPROUTE_API_VERSION} HTTPRoute in the environment's manifests has a backendRef to its Services"
            )));
        }
        Ok(Ok(out))
    }
}
