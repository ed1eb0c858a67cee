//! The cluster, through kube: discovery, server-side apply, reads for drift
//! and verification, prune, and Events on the objects Slipway changes.
//!
//! [`ClusterTarget`] is either a real cluster or plan-only: without a
//! cluster, sync still renders and records what it would do (`planned`), so
//! a missing cluster is never a silent no-op.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiResource, Scope};
use serde_json::Value;
use tokio::sync::RwLock;

use super::plan::{DesiredObject, FIELD_MANAGER, LABEL_APP, LABEL_ENVIRONMENT, ObjectRef};

/// Where sync's changes go.
#[derive(Clone)]
pub enum ClusterTarget {
    /// A real cluster.
    Kube(KubeCluster),
    /// No cluster: render, plan and record only.
    PlanOnly,
}

/// Why a cluster call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig or in-cluster config could not be used.
    #[error("configure the cluster client")]
    Configure(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The API server does not serve this kind.
    #[error("discover {api_version} {kind}")]
    Discover {
        /// The apiVersion.
        api_version: String,
        /// The kind.
        kind: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A server-side apply failed.
    #[error("apply {object}")]
    ApplyObject {
        /// The object.
        object: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Reading objects failed.
    #[error("read {what}")]
    Read {
        /// What was read.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Deleting a pruned object failed.
    #[error("delete {object}")]
    DeleteObject {
        /// The object.
        object: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

impl ClusterError {
    /// Whether trying again may help (network, 5xx, conflict, throttling),
    /// as opposed to a manifest the API server rejects (a stall).
    pub fn is_retryable(&self) -> bool {
        let source = match self {
            ClusterError::Configure(_) => return false,
            ClusterError::Discover { source, .. }
            | ClusterError::ApplyObject { source, .. }
            | ClusterError::Read { source, .. }
            | ClusterError::DeleteObject { source, .. } => source,
        };
        match source {
            kube::Error::Api(status) => status.code >= 500 || matches!(status.code, 409 | 429),
            _ => true,
        }
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterError::Configure(_) => "configure",
            ClusterError::Discover { .. } => "discover",
            ClusterError::ApplyObject { .. } => "apply",
            ClusterError::Read { .. } => "read",
            ClusterError::DeleteObject { .. } => "delete",
        }
    }
}

/// `(apiVersion, kind)`.
type KindKey = (String, String);

/// A cluster reached through a kube client, with discovery results cached.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    resources: Arc<RwLock<HashMap<KindKey, (ApiResource, bool)>>>,
}

impl KubeCluster {
    /// Use an existing client.
    pub fn new(client: kube::Client) -> Self {
        KubeCluster {
            client,
            resources: Arc::default(),
        }
    }

    /// A client from a kubeconfig file, or inferred (in-cluster, `$KUBECONFIG`).
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Self, ClusterError> {
        let configure = |e: Box<dyn std::error::Error + Send + Sync>| ClusterError::Configure(e);
        let config = match kubeconfig {
            Some(path) => {
                let file =
                    kube::config::Kubeconfig::read_from(path).map_err(|e| configure(e.into()))?;
                kube::Config::from_custom_kubeconfig(file, &Default::default())
                    .await
                    .map_err(|e| configure(e.into()))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| configure(e.into()))?,
        };
        let client = kube::Client::try_from(config).map_err(|e| configure(e.into()))?;
        Ok(KubeCluster::new(client))
    }

    /// The client, for Leases.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The API resource of a kind and whether it is namespaced.
    async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), ClusterError> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self.resources.read().await.get(&key) {
            return Ok(found.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) =
            discovery::pinned_kind(&self.client, &gvk)
                .await
                .map_err(|source| ClusterError::Discover {
                    api_version: api_version.into(),
                    kind: kind.into(),
                    source,
                })?;
        let found = (resource, caps.scope == Scope::Namespaced);
        self.resources.write().await.insert(key, found.clone());
        Ok(found)
    }

    async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, ClusterError> {
        let (resource, namespaced) = self.resource(api_version, kind).await?;
        Ok(match (namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        })
    }

    /// Server-side apply under the field manager `slipway`, forcing conflicts;
    /// the object as the server answered.
    pub async fn apply(&self, desired: &DesiredObject) -> Result<Value, ClusterError> {
        let o = &desired.object;
        let api = self
            .api(&o.api_version, &o.kind, o.namespace.as_deref())
            .await?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api
            .patch(&o.name, &params, &Patch::Apply(&desired.manifest))
            .await
            .map_err(|source| ClusterError::ApplyObject {
                object: o.to_string(),
                source,
            })?;
        Ok(to_value(applied))
    }

    /// One object, or `None` when it does not exist.
    pub async fn get(&self, o: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        let api = self
            .api(&o.api_version, &o.kind, o.namespace.as_deref())
            .await?;
        let found = api
            .get_opt(&o.name)
            .await
            .map_err(|source| ClusterError::Read {
                what: o.to_string(),
                source,
            })?;
        Ok(found.map(to_value))
    }

    /// Objects of one kind in one namespace labelled for this app/environment,
    /// by name.
    pub async fn list_owned(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        app: &str,
        environment: &str,
    ) -> Result<HashMap<String, Value>, ClusterError> {
        let api = self.api(api_version, kind, namespace).await?;
        let selector = format!("{LABEL_APP}={app},{LABEL_ENVIRONMENT}={environment}");
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|source| ClusterError::Read {
                what: format!("{kind} in {}", namespace.unwrap_or("the cluster")),
                source,
            })?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|o| Some((o.metadata.name.clone()?, to_value(o))))
            .collect())
    }

    /// Delete an object (its dependents in the background).
    pub async fn delete(&self, o: &ObjectRef) -> Result<(), ClusterError> {
        let api = self
            .api(&o.api_version, &o.kind, o.namespace.as_deref())
            .await?;
        match api.delete(&o.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(source) => Err(ClusterError::DeleteObject {
                object: o.to_string(),
                source,
            }),
        }
    }

    /// Pods in a namespace matching a label selector.
    pub async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<Value>, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(self.client.clone(), namespace);
        let pods = api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|source| ClusterError::Read {
                what: format!("pods {selector} in {namespace}"),
                source,
            })?;
        Ok(pods
            .items
            .into_iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect())
    }

    /// Record a core/v1 Event on an object. Best effort: an Event that cannot
    /// be written is logged, never a sync failure.
    pub async fn event(&self, live: &Value, reason: &str, message: &str, warning: bool) {
        let Some(object) = ObjectRef::of(live) else {
            return;
        };
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
        let now = jiff::Timestamp::now();
        let event = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": format!("{}.", object.name), "namespace": namespace},
            "involvedObject": {
                "apiVersion": object.api_version, "kind": object.kind, "name": object.name,
                "namespace": object.namespace,
                "uid": live.pointer("/metadata/uid"),
                "resourceVersion": live.pointer("/metadata/resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": if warning { "Warning" } else { "Normal" },
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "firstTimestamp": now.to_string(),
            "lastTimestamp": now.to_string(),
            "count": 1,
        });
        let parsed: Result<k8s_openapi::api::core::v1::Event, _> = serde_json::from_value(event);
        let Ok(event) = parsed else {
            return;
        };
        let api: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.client.clone(), &namespace);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(object = %object, error = %e, "could not record an Event");
        }
    }
}

fn to_value(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}
