//! A Kubernetes API server for tests: the real wire protocol (discovery,
//! get, list, watch, server-side apply with managed fields and conflicts,
//! the status subresource, delete, pod binding and logs) over JSON on
//! 127.0.0.1, with simulated workload controllers and, unless a client
//! stands in for the kubelet ([`Kubelet::External`]), simulated pods. See
//! `docs/kube-test-server.md`.
//!
//! ```ignore
//! let server = KubeApiServer::start().await?;          // port 0, 127.0.0.1
//! server.url();                                         // "http://127.0.0.1:PORT"
//! server.kubeconfig_path();                             // kubeconfig for kubectl and kube::Config
//! let client = server.client()?;                        // kube::Client for the server
//! server.set_rollout_outcome("ns", "web", RolloutOutcome::Fail);   // or by image tag
//! server.set_global_rollout_outcome(Some(RolloutOutcome::Hang));
//! server.stats().verb(Verb::Apply);                     // request counters; reset_stats()
//! server.get_object("apps/v1", "Deployment", Some("ns"), "web");  // Option<serde_json::Value>
//! server.append_pod_log("ns", "web-abc12", "web", "a line");      // pods/log, follows get it
//! ```
//!
//! Rollout outcome by image tag: `crash` -> CrashLoopBackOff pods, never
//! available; `fail` -> ImagePullBackOff pods and `ProgressDeadlineExceeded`
//! (Jobs: `Failed`); `hang` -> unschedulable pods, status never completes;
//! anything else succeeds (with [`Kubelet::External`], the pods' own status
//! decides instead). Test endpoints: `GET /_test/stats`,
//! `POST /_test/reset-stats`, `POST /_test/rollout-outcome`,
//! `POST /_test/pod-log`.

pub(crate) mod binding;
pub(crate) mod checks;
pub mod controllers;
pub(crate) mod defaults;
pub(crate) mod deletes;
pub(crate) mod discovery;
pub(crate) mod errors;
pub(crate) mod fieldset;
pub(crate) mod holds;
pub(crate) mod logs;
pub(crate) mod managed;
pub(crate) mod merge;
pub(crate) mod meta;
pub(crate) mod quantity;
pub(crate) mod reads;
pub(crate) mod resources;
pub(crate) mod rollout;
mod routes;
pub(crate) mod selectors;
pub(crate) mod stats;
pub(crate) mod store;
pub(crate) mod validation;
mod verbs;
pub(crate) mod writes;

#[cfg(test)]
mod fieldset_tests;
#[cfg(test)]
mod managed_tests;
#[cfg(test)]
mod merge_tests;
#[cfg(test)]
mod quantity_tests;
#[cfg(test)]
mod rollout_tests;
#[cfg(test)]
mod selectors_tests;
#[cfg(test)]
mod validation_tests;
#[cfg(test)]
mod writes_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

pub use meta::now;
pub use rollout::kubelet::events as kubelet_events;
pub use rollout::plan::settled_pod_state;
pub use rollout::status::{NODE_NAME, PodState, pod_status};
pub use rollout::{Kubelet, RolloutOutcome, outcome_for_images};
pub use stats::{Stats, Verb};

/// Default pause before each simulated controller step.
pub const DEFAULT_ROLLOUT_DELAY: Duration = Duration::from_millis(200);

/// Default interval between watch bookmarks (the real server: about a minute).
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// Default number of change events kept for watches to resume from.
pub const DEFAULT_EVENT_HISTORY: usize = 100_000;

/// Default time a deleted namespace stays `Terminating`.
pub const DEFAULT_NAMESPACE_TERMINATION: Duration = Duration::from_millis(300);

/// Default time until a new CustomResourceDefinition is `Established`.
pub const DEFAULT_CRD_ESTABLISH: Duration = Duration::from_millis(100);

/// Default time discovery lags behind an established CRD.
pub const DEFAULT_CRD_DISCOVERY_LAG: Duration = Duration::from_millis(100);

/// The `User-Agent` of the clients standing in for the cluster's own
/// components (the kubelet with [`Kubelet::External`], the autoscaler):
/// their requests are counted apart ([`KubeApiServer::stand_in_stats`]), so
/// [`KubeApiServer::stats`] counts the clients under test alone.
pub const STAND_IN_USER_AGENT: &str = "slipway-test-stand-in";

/// Namespaces that exist from the start, as on a fresh cluster.
pub const INITIAL_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Pause before each simulated controller step (two steps per rollout).
    pub rollout_delay: Duration,
    /// Interval between bookmarks on watches that allow them.
    pub bookmark_interval: Duration,
    /// Change events kept; watches from older versions get `410 Expired`.
    pub event_history: usize,
    /// How long the namespace, TTL and CRD controllers take.
    pub controllers: controllers::Timings,
    /// Whether the server or a client plays the kubelet.
    pub kubelet: Kubelet,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 0,
            rollout_delay: DEFAULT_ROLLOUT_DELAY,
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
            event_history: DEFAULT_EVENT_HISTORY,
            controllers: controllers::Timings {
                namespace_termination: DEFAULT_NAMESPACE_TERMINATION,
                crd_establish: DEFAULT_CRD_ESTABLISH,
                crd_discovery_lag: DEFAULT_CRD_DISCOVERY_LAG,
            },
            kubelet: Kubelet::Simulated,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listening socket.
    #[error("bind 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// The kubeconfig file.
    #[error("write kubeconfig")]
    WriteKubeconfig(#[source] std::io::Error),
}

/// Why a client for the server could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL.
    #[error("parse server url")]
    ParseUrl(#[source] http::uri::InvalidUri),
    /// The kube client.
    #[error("build kube client")]
    Build(#[source] kube::Error),
}

/// State shared by the request handlers.
#[derive(Clone)]
struct ServerState {
    store: Arc<store::Store>,
    counters: Arc<stats::Counters>,
    stand_in_counters: Arc<stats::Counters>,
    outcomes: Arc<rollout::Outcomes>,
    served: Arc<resources::Served>,
    logs: Arc<logs::PodLogs>,
    held_deletes: Arc<holds::HeldDeletes>,
    config: Arc<ServerConfig>,
    address: String,
}

/// A running server; stops when dropped.
pub struct KubeApiServer {
    url: String,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    state: ServerState,
    tasks: Vec<JoinHandle<()>>,
}

impl KubeApiServer {
    /// Starts a server with the default configuration on a free port.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with(ServerConfig::default()).await
    }

    /// Starts a server with `config`.
    pub async fn start_with(config: ServerConfig) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(StartError::Bind)?;
        let address = listener.local_addr().map_err(StartError::Bind)?.to_string();
        let url = format!("http://{address}");
        let dir = tempfile::tempdir().map_err(StartError::WriteKubeconfig)?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text(&url)).map_err(StartError::WriteKubeconfig)?;

        let store = Arc::new(store::Store::new(config.event_history));
        create_initial_namespaces(&store);
        let outcomes = Arc::new(rollout::Outcomes::default());
        let simulator = rollout::Simulator::spawn(
            store.clone(),
            outcomes.clone(),
            config.rollout_delay,
            config.kubelet,
        );
        let served = Arc::new(resources::Served::default());
        let controllers = controllers::spawn(store.clone(), served.clone(), config.controllers);
        let state = ServerState {
            store,
            counters: Arc::default(),
            stand_in_counters: Arc::default(),
            outcomes,
            served,
            logs: Arc::default(),
            held_deletes: Arc::default(),
            config: Arc::new(config),
            address,
        };
        let app = routes::router(state.clone());
        let server = tokio::spawn(async move {
            // The server runs until the handle aborts it; an accept error ends it.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url,
            kubeconfig,
            _dir: dir,
            state,
            tasks: vec![server, simulator, controllers],
        })
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig whose current context points at this server.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A `kube::Config` for this server (namespace `default`).
    pub fn config(&self) -> Result<kube::Config, ClientError> {
        let uri = self
            .url
            .parse::<http::Uri>()
            .map_err(ClientError::ParseUrl)?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        Ok(config)
    }

    /// A `kube::Client` talking to this server.
    pub fn client(&self) -> Result<kube::Client, ClientError> {
        kube::Client::try_from(self.config()?).map_err(ClientError::Build)
    }

    /// Makes rollouts of workload `namespace/name` end with `outcome`.
    pub fn set_rollout_outcome(&self, namespace: &str, name: &str, outcome: RolloutOutcome) {
        self.state.outcomes.set_for(namespace, name, Some(outcome));
    }

    /// Returns workload `namespace/name` to the global or image-tag rule.
    pub fn clear_rollout_outcome(&self, namespace: &str, name: &str) {
        self.state.outcomes.set_for(namespace, name, None);
    }

    /// Sets the outcome of every workload without its own; `None` restores the image-tag rule.
    pub fn set_global_rollout_outcome(&self, outcome: Option<RolloutOutcome>) {
        self.state.outcomes.set_global(outcome);
    }

    /// Appends `line` to the log of `container` in pod `namespace/name`,
    /// sent at once to every follow of it; false when there is no such pod.
    pub fn append_pod_log(&self, namespace: &str, pod: &str, container: &str, line: &str) -> bool {
        self.state
            .logs
            .append(&self.state.store, namespace, pod, container, line)
    }

    /// Holds every DELETE of `kind` (`Deployment`) until [`Self::release_deletes`].
    pub fn hold_deletes(&self, kind: &str) {
        self.state.held_deletes.hold(kind);
    }

    /// Lets the held DELETEs of `kind` go.
    pub fn release_deletes(&self, kind: &str) {
        self.state.held_deletes.release(kind);
    }

    /// Request counters so far.
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// Sets the request counters to zero.
    pub fn reset_stats(&self) {
        self.state.counters.reset();
    }

    /// Requests of the stand-ins ([`STAND_IN_USER_AGENT`]) so far.
    pub fn stand_in_stats(&self) -> Stats {
        self.state.stand_in_counters.snapshot()
    }

    /// The stored object, read directly (not counted).
    pub fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let resource = resources::by_kind(api_version, kind)?;
        self.state
            .store
            .transaction(|txn| txn.get(resource, namespace.unwrap_or(""), name))
            .map(|o| (*o).clone())
    }

    /// Stored objects of one kind, in one namespace or all (not counted).
    pub fn list_objects(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        let Some(resource) = resources::by_kind(api_version, kind) else {
            return Vec::new();
        };
        self.state
            .store
            .transaction(|txn| txn.list(resource, namespace))
            .into_iter()
            .map(|o| (*o).clone())
            .collect()
    }

    /// Forgets the watch history, as an etcd compaction does: watches from
    /// any earlier version then get `410 Expired`.
    pub fn compact(&self) {
        self.state.store.compact();
    }
}

impl Drop for KubeApiServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn kubeconfig_text(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: slipway-test\n  cluster:\n    server: {url}\n\
         contexts:\n- name: slipway-test\n  context:\n    cluster: slipway-test\n    user: slipway-test\n    namespace: default\n\
         current-context: slipway-test\nusers:\n- name: slipway-test\n  user:\n    token: slipway-test-token\npreferences: {{}}\n"
    )
}

fn create_initial_namespaces(store: &store::Store) {
    let target = |_: &str| writes::WriteTarget {
        resource: resources::namespaces(),
        namespace: String::new(),
        subresource: String::new(),
        manager: "kube-apiserver".into(),
        dry_run: false,
    };
    store.transaction(|txn| {
        for name in INITIAL_NAMESPACES {
            let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            // The store is empty, so creation cannot collide.
            let _ = writes::create(txn, &target(name), namespace);
        }
    });
}
