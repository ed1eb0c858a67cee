//! `slipway logs`: the logs of an app/environment's pods, streamed through
//! sync's status API (`GET /api/v1/apps/{app}/{env}/logs`) as `text/plain`,
//! each line prefixed with `pod/container: `. Pods are found from the
//! app/environment's live Deployments, StatefulSets and DaemonSets
//! (labelled `slipway.dev/app` and `slipway.dev/environment`) through
//! their selectors; `revision=new` keeps the rollout's candidate workloads,
//! `revision=old` its stable ones. Logs are read with kube's log API; a
//! follow merges every container's stream and ends when the client goes.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{AsyncBufReadExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use kube::core::Selector;
use serde::Deserialize;
use serde_json::Value;

use super::cluster::{ClusterError, KubeCluster};
use super::fault;
use super::plan::{LABEL_APP, LABEL_ENVIRONMENT, ObjectRef};
use super::progressive::{LABEL_ROLE, ROLE_CANDIDATE, ROLE_STABLE};
use super::verdict::pods_of;

/// The workload kinds whose pods `slipway logs` reads, as `(apiVersion, kind)`.
pub const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
];

/// Which revision's pods to read during a progressive rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Revision {
    /// The candidate being rolled out (`slipway.dev/rollout-role=candidate`).
    New,
    /// The stable revision serving until then (`slipway.dev/rollout-role=stable`).
    Old,
}

impl Revision {
    /// Its name in the query (`new`, `old`).
    pub fn as_str(self) -> &'static str {
        match self {
            Revision::New => "new",
            Revision::Old => "old",
        }
    }

    /// The value of `slipway.dev/rollout-role` its workloads carry.
    pub fn role(self) -> &'static str {
        match self {
            Revision::New => ROLE_CANDIDATE,
            Revision::Old => ROLE_STABLE,
        }
    }
}

/// The query of a logs request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogsQuery {
    /// Keep streaming new lines (`follow=true`).
    #[serde(default)]
    pub follow: bool,
    /// `new` or `old`; every workload of the app/environment when absent.
    pub revision: Option<Revision>,
    /// Only the last N lines of each container (`tail=N`).
    pub tail: Option<i64>,
}

/// Why the logs could not be streamed; each answers a one-line JSON error.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// Sync runs without a cluster (plan-only).
    #[error("sync has no cluster: there are no pods to read logs from")]
    NoCluster,
    /// `revision=new` while no candidate is rolling out.
    #[error("no new revision is rolling out")]
    NoCandidate,
    /// No live workload is labelled for the app/environment (and revision).
    #[error("no workloads of {0} in the cluster")]
    NoWorkloads(String),
    /// The cluster could not be read.
    #[error("read the cluster: {0}")]
    Cluster(String),
}

impl IntoResponse for LogsError {
    fn into_response(self) -> Response {
        let status = match self {
            LogsError::NoCluster => StatusCode::SERVICE_UNAVAILABLE,
            LogsError::NoCandidate | LogsError::NoWorkloads(_) => StatusCode::NOT_FOUND,
            LogsError::Cluster(_) => StatusCode::BAD_GATEWAY,
        };
        let body = serde_json::json!({ "error": self.to_string() });
        (status, Json(body)).into_response()
    }
}

fn cluster_error(e: &ClusterError) -> LogsError {
    LogsError::Cluster(fault::one_line(e))
}

/// The label selector of an app/environment's workloads, with the rollout
/// role of `revision` when one is asked for.
pub fn workload_selector(app: &str, environment: &str, revision: Option<Revision>) -> String {
    let mut labels = vec![
        (LABEL_APP.to_string(), app.to_string()),
        (LABEL_ENVIRONMENT.to_string(), environment.to_string()),
    ];
    if let Some(revision) = revision {
        labels.push((LABEL_ROLE.to_string(), revision.role().to_string()));
    }
    labels.into_iter().collect::<Selector>().to_string()
}

/// The live workloads of `app`/`environment` (and `revision`), in every
/// namespace (list items carry no `apiVersion` and `kind`: they come with
/// their reference).
async fn workloads(
    cluster: &KubeCluster,
    (app, environment): (&str, &str),
    revision: Option<Revision>,
) -> Result<Vec<(ObjectRef, Value)>, LogsError> {
    let selector = workload_selector(app, environment, revision);
    let mut found = Vec::new();
    for (api_version, kind) in WORKLOAD_KINDS {
        let (resource, _) = cluster
            .resource(api_version, kind)
            .await
            .map_err(|e| cluster_error(&e))?;
        let api = Api::<DynamicObject>::all_with(cluster.client().clone(), &resource);
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| LogsError::Cluster(fault::one_line(&e)))?;
        found.extend(list.items.into_iter().filter_map(|o| {
            let object = ObjectRef {
                api_version: (*api_version).to_string(),
                kind: (*kind).to_string(),
                namespace: o.metadata.namespace.clone(),
                name: o.metadata.name.clone()?,
            };
            Some((object, serde_json::to_value(o).ok()?))
        }));
    }
    match (found.is_empty(), revision) {
        (true, Some(Revision::New)) => Err(LogsError::NoCandidate),
        (true, _) => Err(LogsError::NoWorkloads(format!("{app}/{environment}"))),
        (false, _) => Ok(found),
    }
}

/// `(namespace, pod, container)` of every container of the workloads' pods.
async fn containers(
    cluster: &KubeCluster,
    workloads: &[(ObjectRef, Value)],
) -> Result<Vec<(String, String, String)>, LogsError> {
    let mut found = Vec::new();
    for (object, workload) in workloads {
        let pods = pods_of(cluster, object, Some(workload))
            .await
            .map_err(|e| cluster_error(&e))?;
        for pod in pods {
            let text = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or_default();
            let (namespace, name) = (text("/metadata/namespace"), text("/metadata/name"));
            let names = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str));
            for container in names {
                found.push((namespace.into(), name.into(), container.into()));
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// One container's lines, prefixed; a log that cannot be opened is one
/// line saying why, and a stream that breaks ends there.
async fn container_lines(
    cluster: KubeCluster,
    (namespace, pod, container): (String, String, String),
    query: LogsQuery,
) -> impl Stream<Item = String> + Send {
    let prefix = format!("{pod}/{container}: ");
    let params = LogParams {
        container: Some(container),
        follow: query.follow,
        tail_lines: query.tail,
        ..LogParams::default()
    };
    let pods = Api::<Pod>::namespaced(cluster.client().clone(), &namespace);
    match pods.log_stream(&pod, &params).await {
        Ok(reader) => reader
            .lines()
            .take_while(|line| std::future::ready(line.is_ok()))
            .filter_map(move |line| std::future::ready(line.ok().map(|l| format!("{prefix}{l}\n"))))
            .left_stream(),
        Err(e) => {
            let line = format!("{prefix}[no log: {}]\n", fault::one_line(&e));
            futures::stream::once(std::future::ready(line)).right_stream()
        }
    }
}

/// The `text/plain` response streaming `app`/`environment`'s logs.
pub async fn stream(
    cluster: Option<&KubeCluster>,
    (app, environment): (&str, &str),
    query: LogsQuery,
) -> Result<Response, LogsError> {
    let cluster = cluster.ok_or(LogsError::NoCluster)?;
    let workloads = workloads(cluster, (app, environment), query.revision).await?;
    let containers = containers(cluster, &workloads).await?;
    // Every log is opened before the answer starts, so a follow misses no
    // line written after the request.
    let opened = futures::future::join_all(
        containers
            .into_iter()
            .map(|c| container_lines(cluster.clone(), c, query.clone())),
    )
    .await;
    let merged = futures::stream::select_all(opened.into_iter().map(StreamExt::boxed))
        .map(|line| Ok::<_, Infallible>(Bytes::from(line)));
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(merged),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_selector_names_the_app_environment_and_role() {
        let cases = [
            (None, "slipway.dev/app=web,slipway.dev/environment=dev"),
            (
                Some(Revision::New),
                "slipway.dev/app=web,slipway.dev/environment=dev,slipway.dev/rollout-role=candidate",
            ),
            (
                Some(Revision::Old),
                "slipway.dev/app=web,slipway.dev/environment=dev,slipway.dev/rollout-role=stable",
            ),
        ];
        for (revision, expected) in cases {
            let selector = workload_selector("web", "dev", revision);
            let mut parts: Vec<&str> = selector.split(',').collect();
            parts.sort_unstable();
            assert_eq!(parts.join(","), expected, "{revision:?}");
        }
    }
}
