//! A kubelet stand-in that acts only through the Kubernetes API, for control
//! planes without kubelets: the test server started with
//! `Kubelet::External`, or a real kube-apiserver with kube-controller-manager
//! (see docs/kube-test-server.md, "Against a real cluster").
//!
//! It registers one Node and renews its Lease, binds every pending pod
//! (`POST pods/{name}/binding`) and writes the status its image tag asks for
//! (`PATCH pods/{name}/status`), by the test server's rule
//! ([`kube_test_server::outcome_for_images`]):
//!
//! | tag contains | a pod that restarts (`Always`) | a pod that does not (Jobs) |
//! |---|---|---|
//! | `crash` | `CrashLoopBackOff` | `Failed` |
//! | `fail` | `ImagePullBackOff` | `Failed` |
//! | `badimage` | `ImagePullBackOff` | `ImagePullBackOff` |
//! | `hang` | never bound: `Pending` | never bound |
//! | anything else | `Running`, ready | `Succeeded` |
//!
//! It also records the Events a kubelet records for such pods, and finishes
//! the graceful deletion of its pods as a kubelet does.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tokio::task::{JoinHandle, JoinSet};

use kube_test_server::{
    NODE_NAME, PodState, RolloutOutcome, STAND_IN_USER_AGENT, kubelet_events, now,
    outcome_for_images, settled_pod_state,
};

/// Field manager of the stand-in's writes.
pub const FIELD_MANAGER: &str = "slipway-test-kubelet";

/// The label and `NoSchedule` taint of the stand-in's Node.
pub const NODE_TAINT: &str = "slipway.dev/test-node";

/// How often the Node's Lease is renewed (a kubelet's default is 10 s).
const LEASE_RENEWAL: Duration = Duration::from_secs(10);

/// A running stand-in; stops when dropped.
pub struct SimulatedKubelet {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for SimulatedKubelet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What the kubelet makes of a pod that runs `images` with
/// `restart_policy`; `None` leaves it unbound (`hang`).
pub fn pod_state(images: &[&str], restart_policy: &str) -> Option<PodState> {
    match outcome_for_images(images) {
        RolloutOutcome::Hang => None,
        outcome => Some(settled_pod_state(outcome, restart_policy)),
    }
}

/// A client for a stand-in of the cluster's own components: its requests
/// carry [`STAND_IN_USER_AGENT`], so the test server counts them apart.
pub fn stand_in_client(mut config: kube::Config) -> kube::Result<kube::Client> {
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(STAND_IN_USER_AGENT),
    ));
    kube::Client::try_from(config)
}

/// The pods a stand-in runs.
#[derive(Debug, Clone, Default)]
pub enum PodScope {
    /// Every pod the client sees (a test server of one test's own).
    #[default]
    All,
    /// Those in these namespaces, which may grow (a real cluster that
    /// other tests, or other people, use too).
    Namespaces(Arc<Mutex<Vec<String>>>),
}

impl PodScope {
    fn covers(&self, namespace: &str) -> bool {
        match self {
            Self::All => true,
            Self::Namespaces(names) => names
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|n| n == namespace),
        }
    }
}

impl SimulatedKubelet {
    /// Registers the Node and starts acting on the pods of `scope` in the
    /// cluster `config` reaches; a bound pod's status is written `startup`
    /// after its binding.
    pub async fn start(
        config: kube::Config,
        startup: Duration,
        scope: PodScope,
    ) -> anyhow::Result<Self> {
        let client = stand_in_client(config)?;
        register_node(&client).await?;
        let leases = tokio::spawn(renew_lease(client.clone()));
        let pods = tokio::spawn(watch_pods(client, startup, scope));
        Ok(Self {
            tasks: vec![leases, pods],
        })
    }
}

async fn register_node(client: &kube::Client) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    // Tainted, so a real cluster's scheduler puts nothing here: the
    // stand-in binds its pods itself, which no taint stops.
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME,
            "kubernetes.io/os": "linux", NODE_TAINT: "true"}},
        "spec": {"taints": [{"key": NODE_TAINT, "value": "true", "effect": "NoSchedule"}]}});
    match nodes
        .create(&PostParams::default(), &serde_json::from_value(node)?)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let now = now();
    let status = json!({"status": {
        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "nodeInfo": {"kubeletVersion": "v1.33.0", "operatingSystem": "linux", "architecture": "amd64",
            "containerRuntimeVersion": "containerd://2.0.0", "kernelVersion": "6.1.0", "osImage": "Debian",
            "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""}}});
    nodes
        .patch_status(NODE_NAME, &PatchParams::default(), &Patch::Merge(status))
        .await?;
    Ok(())
}

/// Renews the Node's Lease, so the node lifecycle controller keeps it Ready.
async fn renew_lease(client: kube::Client) {
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    let params = PatchParams::apply(FIELD_MANAGER).force();
    loop {
        let renewed = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
            .to_string();
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": NODE_NAME, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": NODE_NAME, "leaseDurationSeconds": 40, "renewTime": renewed}});
        // A failed renewal is retried at the next tick, as a kubelet does.
        let _ = leases.patch(NODE_NAME, &params, &Patch::Apply(lease)).await;
        tokio::time::sleep(LEASE_RENEWAL).await;
    }
}

async fn watch_pods(client: kube::Client, startup: Duration, scope: PodScope) {
    let written = Arc::new(Mutex::new(HashSet::<String>::new()));
    let pods: Api<Pod> = Api::all(client.clone());
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    // Dropped, and so aborted, with this task.
    let mut acting = JoinSet::new();
    loop {
        while acting.try_join_next().is_some() {}
        let pod = match events.try_next().await {
            Ok(Some(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => pod,
            Ok(Some(watcher::Event::Delete(pod))) => {
                if let Some(uid) = pod.metadata.uid {
                    written
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&uid);
                }
                continue;
            }
            Ok(Some(watcher::Event::Init | watcher::Event::InitDone)) => continue,
            Ok(None) => return,
            // The watcher backs off and resumes by itself.
            Err(_) => continue,
        };
        if !scope.covers(pod.metadata.namespace.as_deref().unwrap_or_default()) {
            continue;
        }
        let (client, written) = (client.clone(), written.clone());
        acting.spawn(async move { act(client, pod, startup, &written).await });
    }
}

/// Attempts at one request before the stand-in leaves it.
const ATTEMPTS: u32 = 6;

/// First pause between two attempts; doubled after each.
const FIRST_RETRY: Duration = Duration::from_millis(50);

/// Whether an error is the server's final answer rather than a passing
/// failure: the object is gone, or has changed (`404`, `409`).
fn is_final(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404 || status.code == 409)
}

/// `request` until it succeeds, the server answers finally, or
/// [`ATTEMPTS`] have failed, as a kubelet retries its writes.
async fn retried<T, F>(mut request: impl FnMut() -> F) -> kube::Result<T>
where
    F: std::future::Future<Output = kube::Result<T>>,
{
    let mut pause = FIRST_RETRY;
    let mut attempt = 1;
    loop {
        match request().await {
            Err(e) if !is_final(&e) && attempt < ATTEMPTS => {
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// What a kubelet does on seeing `pod`.
async fn act(client: kube::Client, pod: Pod, startup: Duration, written: &Mutex<HashSet<String>>) {
    let (Some(namespace), Some(name), Some(uid)) = (
        pod.metadata.namespace.clone(),
        pod.metadata.name.clone(),
        pod.metadata.uid.clone(),
    ) else {
        return;
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let node = spec.node_name.as_deref().filter(|n| !n.is_empty());
    if node.is_some_and(|n| n != NODE_NAME) {
        return;
    }
    if pod.metadata.deletion_timestamp.is_some() {
        if node.is_some() {
            // This pod, not a newer one of the same name.
            let confirm = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            let (api, name, confirm) = (&api, &name, &confirm);
            let _ = retried(move || api.delete(name, confirm)).await;
        }
        return;
    }
    let images: Vec<&str> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .filter_map(|c| c.image.as_deref())
        .collect();
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let Some(state) = pod_state(&images, restart_policy) else {
        return;
    };
    if node.is_none() {
        let binding = json!({"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME}});
        let post = PostParams::default();
        let (api, name, post, binding) = (&api, &name, &post, &binding);
        let _ =
            retried(move || api.create_subresource::<Value, Value>("binding", name, post, binding))
                .await;
        return;
    }
    if !written
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(uid.clone())
    {
        return;
    }
    tokio::time::sleep(startup).await;
    let containers = serde_json::to_value(&spec.containers).unwrap_or_default();
    let containers = containers.as_array().cloned().unwrap_or_default();
    let now = now();
    let mut status = kube_test_server::pod_status(&containers, state, &name, &now);
    // The API server sets the QoS class at creation; it may not change.
    if let Some(status) = status.as_object_mut() {
        status.remove("qosClass");
    }
    // Written over the version seen, so a newer pod of the same name (a
    // StatefulSet's) never gets this one's status; a pod that changed but
    // is still this one is read again.
    let mut version = pod.metadata.resource_version.clone();
    let mut pause = FIRST_RETRY;
    let mut patched = None;
    for _ in 0..ATTEMPTS {
        let patch = json!({"metadata": {"resourceVersion": version}, "status": status});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(pod) => {
                patched = Some(pod);
                break;
            }
            Err(kube::Error::Api(e)) if e.code == 409 => match api.get_opt(&name).await {
                Ok(Some(now)) if now.metadata.uid.as_deref() == Some(uid.as_str()) => {
                    version = now.metadata.resource_version;
                }
                _ => break,
            },
            Err(e) if is_final(&e) => break,
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
    let Some(patched) = patched else {
        // Gone, or given up on: a later event of this pod tries again.
        written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&uid);
        return;
    };
    let events: Api<Event> = Api::namespaced(client, &namespace);
    for event in kubelet_events(&serde_json::to_value(&patched).unwrap_or_default(), &now) {
        if let Ok(event) = serde_json::from_value(event) {
            let _ = events.create(&PostParams::default(), &event).await;
        }
    }
}
