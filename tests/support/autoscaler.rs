//! A stand-in for kube-controller-manager's HorizontalPodAutoscaler
//! controller, for the test server (which runs none; a real cluster runs
//! the real one). Without metrics it does what the real controller does
//! then: it keeps each target's `spec.replicas` within the autoscaler's
//! `minReplicas` (default 1) and `maxReplicas`, writing it as field manager
//! `kube-controller-manager`, whenever an autoscaler or its target changes.
//! Metric-driven scaling is left to the test.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::task::JoinHandle;

use super::kubelet::stand_in_client;

/// The field manager of the real controller's writes.
pub const FIELD_MANAGER: &str = "kube-controller-manager";

/// A running stand-in; stops when dropped.
pub struct SimulatedAutoscaler {
    task: JoinHandle<()>,
}

impl Drop for SimulatedAutoscaler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The replicas an autoscaler with `min` and `max` leaves `current` at: a
/// target scaled to 0 is left there (autoscaling is off for it, unless the
/// minimum is 0 too).
pub fn clamped(current: i32, min: Option<i32>, max: i32) -> i32 {
    let min = min.unwrap_or(1);
    if current == 0 && min != 0 {
        return 0;
    }
    current.clamp(min, max.max(min))
}

impl SimulatedAutoscaler {
    /// Starts acting on every autoscaler of a Deployment in the cluster
    /// `config` reaches.
    pub fn start(config: kube::Config) -> kube::Result<Self> {
        let client = stand_in_client(config)?;
        Ok(Self {
            task: tokio::spawn(run(client)),
        })
    }
}

async fn run(client: kube::Client) {
    let autoscalers = watcher(
        Api::<HorizontalPodAutoscaler>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .applied_objects()
    .map_ok(|hpa| hpa.metadata.namespace);
    let targets = watcher(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .applied_objects()
    .map_ok(|deployment| deployment.metadata.namespace);
    let mut changed = futures::stream::select(autoscalers.boxed(), targets.boxed());
    while let Some(namespace) = changed.next().await {
        // The watchers back off and resume by themselves after an error.
        if let Ok(Some(namespace)) = namespace {
            scale_in(&client, &namespace).await;
        }
    }
}

/// Brings every Deployment an autoscaler in `namespace` targets within its
/// bounds; errors are left to the next change.
async fn scale_in(client: &kube::Client, namespace: &str) {
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = autoscalers.list(&ListParams::default()).await else {
        return;
    };
    for hpa in list.items {
        let Some(spec) = hpa.spec else {
            continue;
        };
        let target = &spec.scale_target_ref;
        if target.kind != "Deployment" {
            continue;
        }
        let Ok(Some(deployment)) = deployments.get_opt(&target.name).await else {
            continue;
        };
        let current = deployment.spec.and_then(|s| s.replicas).unwrap_or(1);
        let wanted = clamped(current, spec.min_replicas, spec.max_replicas);
        if wanted != current {
            // Over the version read, as the real controller writes `/scale`:
            // a newer write wins, and the next change brings this back.
            let version = deployment.metadata.resource_version;
            let patch =
                json!({"metadata": {"resourceVersion": version}, "spec": {"replicas": wanted}});
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            let _ = deployments
                .patch(&target.name, &params, &Patch::Merge(patch))
                .await;
        }
    }
}
