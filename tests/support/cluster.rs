//! The cluster a portable test runs against: the Kubernetes API test server
//! by default, or the cluster `SLIPWAY_TEST_KUBECONFIG` names. Either way
//! the pods are run by [`SimulatedKubelet`] through the API, so the test
//! sees the same thing on both; on the test server [`SimulatedAutoscaler`]
//! plays the HorizontalPodAutoscaler controller a real cluster runs.
//!
//! On a real cluster each test works in namespaces with a random suffix,
//! labelled `slipway.dev/test=true`, deleted when the cluster value drops
//! (`kubectl delete ns -l slipway.dev/test=true` clears what a killed run
//! left). See docs/kube-test-server.md, "Against a real cluster".

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::autoscaler::SimulatedAutoscaler;
use super::kube_api::{KubeApiServer, Kubelet, ServerConfig, Verb};
use super::kubelet::{PodScope, SimulatedKubelet};
use super::process::create_namespace;

/// The variable naming a kubeconfig whose current context the portable
/// tests run against.
pub const KUBECONFIG_VARIABLE: &str = "SLIPWAY_TEST_KUBECONFIG";

/// Label on every namespace a test names.
pub const TEST_LABEL: &str = "slipway.dev/test";

/// How long a dropped cluster value waits for its namespaces' pods to go.
const NAMESPACE_CLEANUP: Duration = Duration::from_secs(30);

/// Time from a pod's binding to its status.
const POD_STARTUP: Duration = Duration::from_millis(100);

enum Backend {
    TestServer(KubeApiServer),
    External(PathBuf),
}

/// A cluster with a kubelet stand-in; namespaces it named are deleted on drop.
pub struct TestCluster {
    backend: Backend,
    client: kube::Client,
    _kubelet: Option<SimulatedKubelet>,
    _autoscaler: Option<SimulatedAutoscaler>,
    namespaces: Arc<Mutex<Vec<String>>>,
}

impl TestCluster {
    /// The cluster of `SLIPWAY_TEST_KUBECONFIG`, else a test server whose
    /// pods the stand-in runs.
    pub async fn start() -> Self {
        Self::start_with(ServerConfig {
            kubelet: Kubelet::External,
            ..ServerConfig::default()
        })
        .await
    }

    /// As [`Self::start`]; `config` applies to the test server only, and
    /// with `Kubelet::Simulated` the server runs its pods itself.
    pub async fn start_with(config: ServerConfig) -> Self {
        let (backend, kube_config) = match std::env::var_os(KUBECONFIG_VARIABLE) {
            Some(path) => {
                let path = PathBuf::from(path);
                let kube_config = config_from(&path).await;
                (Backend::External(path), kube_config)
            }
            None => {
                let server = KubeApiServer::start_with(config.clone())
                    .await
                    .expect("start the Kubernetes API test server");
                let kube_config = server.config().expect("a config for the test server");
                (Backend::TestServer(server), kube_config)
            }
        };
        let client = kube::Client::try_from(kube_config.clone()).expect("a client of the cluster");
        let namespaces = Arc::new(Mutex::new(Vec::new()));
        // On a real cluster, only this test's pods are its stand-in's.
        let scope = match &backend {
            Backend::TestServer(_) => PodScope::All,
            Backend::External(_) => PodScope::Namespaces(namespaces.clone()),
        };
        let kubelet = match &backend {
            Backend::TestServer(_) if config.kubelet == Kubelet::Simulated => None,
            _ => Some(
                SimulatedKubelet::start(kube_config, POD_STARTUP, scope)
                    .await
                    .expect("register the simulated kubelet's node"),
            ),
        };
        // A real cluster runs the real autoscaler.
        let autoscaler = match &backend {
            Backend::TestServer(server) => Some(
                SimulatedAutoscaler::start(server.config().expect("a config"))
                    .expect("start the simulated autoscaler"),
            ),
            Backend::External(_) => None,
        };
        Self {
            backend,
            client,
            _kubelet: kubelet,
            _autoscaler: autoscaler,
            namespaces,
        }
    }

    /// Whether this is a real cluster rather than the test server.
    pub fn is_external(&self) -> bool {
        matches!(self.backend, Backend::External(_))
    }

    /// The test server, when the tests run on it.
    pub fn test_server(&self) -> Option<&KubeApiServer> {
        match &self.backend {
            Backend::TestServer(server) => Some(server),
            Backend::External(_) => None,
        }
    }

    /// A kubeconfig for the cluster, for Slipway processes and kubectl.
    pub fn kubeconfig_path(&self) -> &Path {
        match &self.backend {
            Backend::TestServer(server) => server.kubeconfig_path(),
            Backend::External(path) => path,
        }
    }

    /// A client of the cluster.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A new namespace for this test: `base` with a random suffix,
    /// labelled [`TEST_LABEL`], deleted on drop; on a real cluster the
    /// kubelet stand-in runs the pods of these namespaces alone.
    pub async fn namespace(&self, base: &str) -> String {
        let mut bytes = [0u8; 3];
        getrandom::fill(&mut bytes).expect("random bytes");
        let name = format!("{base}-{}", hex::encode(bytes));
        create_namespace(&self.client, &name, &[(TEST_LABEL, "true")]).await;
        self.namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.clone());
        name
    }

    /// One object read through the API (the test server's is read
    /// directly, so request counts are left alone); `None` when absent.
    /// `namespace` is `""` for a cluster-scoped kind.
    pub async fn get(
        &self,
        (api_version, kind): (&str, &str),
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        if let Some(server) = self.test_server() {
            let namespace = Some(namespace).filter(|ns| !ns.is_empty());
            return server.get_object(api_version, kind, namespace, name);
        }
        let api = self.api((api_version, kind), namespace);
        let object = api.get_opt(name).await.expect("read the object")?;
        Some(serde_json::to_value(object).expect("an object is JSON"))
    }

    /// The objects of one kind in `namespace`, read as [`Self::get`] reads.
    pub async fn list(&self, (api_version, kind): (&str, &str), namespace: &str) -> Vec<Value> {
        if let Some(server) = self.test_server() {
            return server.list_objects(api_version, kind, Some(namespace));
        }
        let api = self.api((api_version, kind), namespace);
        let list = api
            .list(&ListParams::default())
            .await
            .expect("list the objects");
        list.items
            .into_iter()
            .map(|o| serde_json::to_value(o).expect("an object is JSON"))
            .collect()
    }

    /// Requests of `verb` the test server counted since its last reset;
    /// `None` on a real cluster, which counts nothing for us.
    pub fn requests(&self, verb: Verb) -> Option<u64> {
        self.test_server().map(|server| server.stats().verb(verb))
    }

    /// Writes the test server counted since its last reset; `None` on a
    /// real cluster.
    pub fn writes(&self) -> Option<u64> {
        self.test_server().map(|server| server.stats().writes())
    }

    /// Sets the test server's request counts to zero.
    pub fn reset_requests(&self) {
        if let Some(server) = self.test_server() {
            server.reset_stats();
        }
    }

    /// The API of `(apiVersion, kind)` in `namespace`; `""` for a
    /// cluster-scoped kind.
    pub fn api(&self, (api_version, kind): (&str, &str), namespace: &str) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        if namespace.is_empty() {
            return Api::all_with(self.client.clone(), &resource);
        }
        Api::namespaced_with(self.client.clone(), namespace, &resource)
    }
}

async fn config_from(path: &Path) -> kube::Config {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("read {KUBECONFIG_VARIABLE} {}: {e}", path.display()));
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("use {KUBECONFIG_VARIABLE} {}: {e}", path.display()))
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let Backend::External(path) = &self.backend else {
            return;
        };
        let namespaces =
            std::mem::take(&mut *self.namespaces.lock().unwrap_or_else(|p| p.into_inner()));
        let path = path.clone();
        // The test's runtime cannot be blocked on from here: delete from a
        // thread with its own runtime and client, and wait for it.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(async {
                let client = kube::Client::try_from(config_from(&path).await).expect("a client");
                let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
                for namespace in &namespaces {
                    // Gone already, or never created: nothing to clean.
                    let _ = api.delete(namespace, &DeleteParams::default()).await;
                }
                // The pods on the stand-in's node wait for a kubelet to
                // confirm their deletion, and the stand-in no longer covers
                // these namespaces: confirm it here.
                let force = DeleteParams::default().grace_period(0);
                let deadline = tokio::time::Instant::now() + NAMESPACE_CLEANUP;
                for namespace in &namespaces {
                    let pods: Api<k8s_openapi::api::core::v1::Pod> =
                        Api::namespaced(client.clone(), namespace);
                    while tokio::time::Instant::now() < deadline {
                        match pods.list(&ListParams::default()).await {
                            Ok(list) if !list.items.is_empty() => {
                                let _ =
                                    pods.delete_collection(&force, &ListParams::default()).await;
                                tokio::time::sleep(Duration::from_millis(500)).await;
                            }
                            _ => break,
                        }
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}
