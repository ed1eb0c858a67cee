//! The cluster, through kube: discovery, server-side apply, reads for drift
//! and verification, prune, and Events on the objects Slipway changes.
//!
//! [`ClusterTarget`] is either a real cluster or plan-only: without a
//! cluster, sync still renders and records what it would do (`planned`), so
//! a missing cluster is never a silent no-op.

mod cache;
mod error;
mod events;
mod wait;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiResource, Scope};
use kube::runtime::events::{Recorder, Reporter};
use serde_json::Value;
use tokio::sync::RwLock;

pub use self::cache::{CACHE_SYNC_TIMEOUT, WatchCache};
pub use self::error::ClusterError;
pub use self::events::{ObjectEvent, uid_of};
use super::autoscale::{HANDOVER_MANAGER, HPA_API_VERSION, HPA_KIND};
use super::plan::{
    DesiredObject, FIELD_MANAGER, LABEL_APP, LABEL_ENVIRONMENT, LABEL_MANAGED_BY, MANAGED_BY,
    ObjectRef,
};
use super::render::objects::{KindScopes, kind_of};

/// Where sync's changes go.
#[derive(Clone)]
pub enum ClusterTarget {
    /// A real cluster.
    Kube(KubeCluster),
    /// No cluster: render, plan and record only.
    PlanOnly,
}

impl ClusterTarget {
    /// Whether the kinds of `manifests` are cluster-scoped: discovery's
    /// answer for each kind the cluster serves (cached, see
    /// [`KubeCluster::resource`]), then the CRDs among `manifests` for a
    /// kind not served yet, then the built-in kinds.
    pub async fn kind_scopes<'a>(
        &self,
        manifests: impl IntoIterator<Item = &'a Value>,
    ) -> KindScopes {
        let manifests: Vec<&Value> = manifests.into_iter().collect();
        let mut scopes = KindScopes::declared_by(manifests.iter().copied());
        let Self::Kube(cluster) = self else {
            return scopes;
        };
        for manifest in manifests {
            let api_version = manifest
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let kind = kind_of(manifest);
            if kind.is_empty() || scopes.is_discovered(api_version, kind) {
                continue;
            }
            // A kind the server does not serve yet keeps the CRD's or the
            // built-in answer; applying it reports the error.
            if let Ok((_, namespaced)) = cluster.resource(api_version, kind).await {
                scopes.discovered(api_version, kind, !namespaced);
            }
        }
        scopes
    }
}

/// `(apiVersion, kind)`.
type KindKey = (String, String);

/// A cluster reached through a kube client, with discovery results cached.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    resources: Arc<RwLock<HashMap<KindKey, (ApiResource, bool)>>>,
    recorder: Arc<Recorder>,
    cache: Arc<WatchCache>,
    /// Namespaces seen existing (and not terminating) by [`Self::ensure_namespace`];
    /// forgotten when a write in one fails, so the next pass looks again.
    namespaces: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl KubeCluster {
    /// Use an existing client.
    pub fn new(client: kube::Client) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .ok(),
        };
        KubeCluster {
            recorder: Arc::new(Recorder::new(client.clone(), reporter)),
            client,
            resources: Arc::default(),
            cache: Arc::default(),
            namespaces: Arc::default(),
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

    /// The API resource of a kind and whether it is namespaced; asks
    /// discovery when the kind is not cached (a miss is never cached, so a
    /// kind a new CRD adds is found once the server serves it).
    pub async fn resource(
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
    /// the object as the server answered. With `dry_run`, the server checks
    /// and answers (`dryRun=All`) and stores nothing.
    pub async fn apply(
        &self,
        desired: &DesiredObject,
        dry_run: bool,
    ) -> Result<Value, ClusterError> {
        let o = &desired.object;
        let api = self
            .api(&o.api_version, &o.kind, o.namespace.as_deref())
            .await?;
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        let applied = api
            .patch(&o.name, &params, &Patch::Apply(&desired.manifest))
            .await
            .map_err(|source| ClusterError::ApplyObject {
                file: desired.source.clone(),
                object: o.to_string(),
                dry_run,
                source,
            })?;
        Ok(to_value(applied))
    }

    /// Apply `manifest` (the live `spec.replicas` of `desired`'s object)
    /// under the field manager [`HANDOVER_MANAGER`], without forcing: the
    /// field then stays when `slipway` stops applying it. A conflict means
    /// another manager owns the field already, which keeps it just as well.
    pub async fn hand_over(
        &self,
        desired: &DesiredObject,
        manifest: &Value,
    ) -> Result<(), ClusterError> {
        let o = &desired.object;
        let api = self
            .api(&o.api_version, &o.kind, o.namespace.as_deref())
            .await?;
        let params = PatchParams::apply(HANDOVER_MANAGER);
        match api.patch(&o.name, &params, &Patch::Apply(manifest)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(source) => Err(ClusterError::ApplyObject {
                file: desired.source.clone(),
                object: o.to_string(),
                dry_run: false,
                source,
            }),
        }
    }

    /// The HorizontalPodAutoscalers in `namespace`, from the watch-fed
    /// cache; none when the cluster does not serve `autoscaling/v2`.
    pub async fn autoscalers(&self, namespace: &str) -> Result<Vec<Value>, ClusterError> {
        let resource = match self.resource(HPA_API_VERSION, HPA_KIND).await {
            Ok((resource, _)) => resource,
            Err(ClusterError::Discover { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let store = self
            .cache
            .store(&self.client, (HPA_API_VERSION, &resource), "")
            .await?;
        Ok(store
            .state()
            .into_iter()
            .filter(|o| o.metadata.namespace.as_deref() == Some(namespace))
            .map(|o| to_value((*o).clone()))
            .collect())
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
    /// by name, from the watch-fed cache (no request once it is filled).
    pub async fn owned_live(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        (app, environment): (&str, &str),
    ) -> Result<HashMap<String, Value>, ClusterError> {
        let (resource, _) = self.resource(api_version, kind).await?;
        let selector = format!("{LABEL_MANAGED_BY}={MANAGED_BY}");
        let store = self
            .cache
            .store(&self.client, (api_version, &resource), &selector)
            .await?;
        let label = |o: &DynamicObject, k: &str| o.metadata.labels.as_ref()?.get(k).cloned();
        Ok(store
            .state()
            .into_iter()
            .filter(|o| o.metadata.namespace.as_deref() == namespace)
            .filter(|o| label(o, LABEL_APP).as_deref() == Some(app))
            .filter(|o| label(o, LABEL_ENVIRONMENT).as_deref() == Some(environment))
            .filter_map(|o| Some((o.metadata.name.clone()?, to_value((*o).clone()))))
            .collect())
    }

    /// One object Slipway manages, from the watch-fed cache (no request
    /// once its kind is watched); `None` when the cache does not hold it.
    pub async fn cached(&self, o: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        let (resource, _) = self.resource(&o.api_version, &o.kind).await?;
        let selector = format!("{LABEL_MANAGED_BY}={MANAGED_BY}");
        let store = self
            .cache
            .store(&self.client, (&o.api_version, &resource), &selector)
            .await?;
        let mut key = kube::runtime::reflector::ObjectRef::new_with(&o.name, resource);
        if let Some(ns) = &o.namespace {
            key = key.within(ns);
        }
        Ok(store.get(&key).map(|found| to_value((*found).clone())))
    }

    /// Start watching the objects Slipway manages of a kind, so that the
    /// next pass finds them cached; a kind discovery does not know is left
    /// for that pass to report.
    pub async fn watch_owned(&self, api_version: &str, kind: &str) {
        if let Ok((resource, _)) = self.resource(api_version, kind).await {
            let selector = format!("{LABEL_MANAGED_BY}={MANAGED_BY}");
            self.cache
                .start(&self.client, (api_version, &resource), &selector);
        }
    }

    /// Woken when an object Slipway manages changes content (not status),
    /// once its kind is watched: what may be drift.
    pub fn changes(&self) -> Arc<tokio::sync::Notify> {
        self.cache.changes()
    }

    /// Delete an object (its dependents in the background); `true` when it
    /// was there.
    pub async fn delete(&self, o: &ObjectRef) -> Result<bool, ClusterError> {
        let api = self
            .api(&o.api_version, &o.kind, o.namespace.as_deref())
            .await?;
        match api.delete(&o.name, &DeleteParams::background()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(false),
            Err(source) => Err(ClusterError::DeleteObject {
                object: o.to_string(),
                source,
            }),
        }
    }

    /// Make sure `name` exists and is not being deleted: create it, labelled
    /// `app.kubernetes.io/managed-by: slipway`, when it is missing.
    pub async fn ensure_namespace(&self, name: &str) -> Result<(), ClusterError> {
        if self.known_namespaces().contains(name) {
            return Ok(());
        }
        self.check_namespace(name).await?;
        self.known_namespaces().insert(name.to_string());
        Ok(())
    }

    /// Look `name` up again at the next [`Self::ensure_namespace`] (a write
    /// in it failed: it may have been deleted).
    pub fn forget_namespace(&self, name: &str) {
        self.known_namespaces().remove(name);
    }

    fn known_namespaces(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.namespaces.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn check_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let read = |source| ClusterError::Read {
            what: format!("Namespace {name}"),
            source,
        };
        if let Some(found) = api.get_opt(name).await.map_err(read)? {
            if found.metadata.deletion_timestamp.is_some() {
                return Err(ClusterError::NamespaceTerminating {
                    namespace: name.into(),
                });
            }
            return Ok(());
        }
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.into());
        namespace.metadata.labels = Some([(LABEL_MANAGED_BY.into(), MANAGED_BY.into())].into());
        match api.create(&PostParams::default(), &namespace).await {
            Ok(_) => {
                tracing::info!(namespace = name, "created the environment's namespace");
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
            Err(source) => Err(ClusterError::CreateNamespace {
                namespace: name.into(),
                source,
            }),
        }
    }

    /// Objects of one kind in a namespace matching a label selector.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let api = self.api(api_version, kind, Some(namespace)).await?;
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|source| ClusterError::Read {
                what: format!("{kind} {selector} in {namespace}"),
                source,
            })?;
        Ok(list.items.into_iter().map(to_value).collect())
    }
}

fn to_value(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}
