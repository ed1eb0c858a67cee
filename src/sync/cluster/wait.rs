//! Waiting on the cluster: a CRD until it is established and its kinds are
//! served, an object until it is gone, a Job until it finishes. Object waits
//! use kube-runtime's `await_condition` (a watch, so no state is missed
//! between two looks) under a deadline.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::Value;

use super::{ClusterError, KubeCluster, to_value};
use crate::sync::plan::ObjectRef;

/// Longest wait for a new CustomResourceDefinition to be `Established`.
pub const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for discovery to serve the kinds of an established CRD.
pub const DISCOVERY_WAIT: Duration = Duration::from_secs(30);
/// First pause between two discovery lookups; doubled up to [`DISCOVERY_POLL_MAX`].
pub const DISCOVERY_POLL: Duration = Duration::from_millis(100);
/// Longest pause between two discovery lookups.
pub const DISCOVERY_POLL_MAX: Duration = Duration::from_secs(2);
/// Longest wait for an object deleted to be re-created to be gone.
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(120);

/// Run a wait for `what` under `limit`.
async fn within<T>(
    limit: Duration,
    what: impl FnOnce() -> String,
    wait: impl std::future::Future<Output = Result<T, kube::runtime::wait::Error>>,
) -> Result<(), ClusterError> {
    match tokio::time::timeout(limit, wait).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(ClusterError::Wait {
            what: what(),
            source: Some(source),
        }),
        Err(_) => Err(ClusterError::Wait {
            what: what(),
            source: None,
        }),
    }
}

impl KubeCluster {
    /// Wait until the CRD `name` has condition `Established`.
    pub async fn wait_established(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let what = || format!("CustomResourceDefinition {name} to be established");
        let wait = await_condition(api, name, conditions::is_crd_established());
        within(CRD_ESTABLISHED_TIMEOUT, what, wait).await
    }

    /// Ask discovery for `kind` until the server serves it (discovery lags
    /// behind a new CRD), with growing pauses, up to [`DISCOVERY_WAIT`].
    pub async fn wait_served(&self, api_version: &str, kind: &str) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + DISCOVERY_WAIT;
        let mut pause = DISCOVERY_POLL;
        loop {
            match self.resource(api_version, kind).await {
                Ok(_) => return Ok(()),
                Err(e) if tokio::time::Instant::now() + pause >= deadline => return Err(e),
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(DISCOVERY_POLL_MAX);
                }
            }
        }
    }

    /// Wait until the object with `uid` is gone (or replaced by another).
    pub async fn wait_deleted(&self, object: &ObjectRef, uid: &str) -> Result<(), ClusterError> {
        let api: Api<DynamicObject> = self
            .api(
                &object.api_version,
                &object.kind,
                object.namespace.as_deref(),
            )
            .await?;
        let what = || format!("{object} to be deleted");
        let wait = await_condition(api, &object.name, conditions::is_deleted(uid));
        within(DELETE_TIMEOUT, what, wait).await
    }

    /// Watch a Job until it is `Complete` or `Failed` (then `Some(job)`) or
    /// gone (`None`). A watch sees the final condition even when the TTL
    /// controller deletes the Job right after it.
    pub async fn job_outcome(&self, job: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        let api: Api<DynamicObject> = self
            .api(&job.api_version, &job.kind, job.namespace.as_deref())
            .await?;
        let finished = |o: Option<&DynamicObject>| {
            o.is_none_or(|o| crate::sync::verify::job_finished(&o.data))
        };
        await_condition(api, &job.name, finished)
            .await
            .map(|found| found.map(to_value))
            .map_err(|source| ClusterError::Wait {
                what: format!("{job} to finish"),
                source: Some(source),
            })
    }
}
