//! Rollout simulation: when a workload's spec changes, play the part of its
//! controller and the kubelet after a delay, with an outcome chosen by image
//! tag or set by the test.
//!
//! With [`Kubelet::External`] the server plays the workload controllers
//! only: pods are created unbound and `Pending`, a client binds them and
//! sets their status through the API (as a kubelet does), and each change
//! of a pod settles its workload's status from the pods as they stand.
//!
//! Outcome rule ([`Kubelet::Simulated`] only), first match wins: an override for the workload's namespace
//! and name; the global override; an image tag (any container or init
//! container) containing `crash`, then `fail`, then `hang`, then `badimage`;
//! otherwise success.

pub(crate) mod kubelet;
pub(crate) mod plan;
mod sets;
pub(crate) mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::managed::{self, Writer};
use super::meta;
use super::resources::{self, ResourceType, Workload};
use super::store::{Change, ChangeType, Store, Transaction};
pub use plan::{Observed, Plan};

/// Field manager of the simulated controllers' writes.
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// Who plays the kubelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kubelet {
    /// The server: pods are stored scheduled, with the status their outcome
    /// asks for, and the outcome rule applies.
    #[default]
    Simulated,
    /// A client acting through the API: pods are created unbound and
    /// `Pending`; it binds them (`pods/{name}/binding`) and writes their
    /// status, and workload status follows from the pods.
    External,
}

/// How a simulated rollout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutOutcome {
    /// All replicas updated, ready and available; Jobs complete.
    Succeed,
    /// Images never pull: `ProgressDeadlineExceeded`; Jobs fail.
    Fail,
    /// Pods in `CrashLoopBackOff`, never available; Jobs fail.
    Crash,
    /// Pods never scheduled; status never completes.
    Hang,
    /// Pods stay in `ImagePullBackOff` while the rollout is still within its
    /// progress deadline (as for the first ten minutes on a real cluster).
    BadImage,
}

/// The outcome an image tag asks for.
pub fn outcome_for_images(images: &[&str]) -> RolloutOutcome {
    let tags: Vec<&str> = images
        .iter()
        .map(|image| {
            let without_digest = image.split('@').next().unwrap_or_default();
            let last_segment = without_digest.rsplit('/').next().unwrap_or_default();
            last_segment.split_once(':').map_or("", |(_, tag)| tag)
        })
        .collect();
    let any = |word: &str| tags.iter().any(|tag| tag.contains(word));
    if any("crash") {
        RolloutOutcome::Crash
    } else if any("fail") {
        RolloutOutcome::Fail
    } else if any("hang") {
        RolloutOutcome::Hang
    } else if any("badimage") {
        RolloutOutcome::BadImage
    } else {
        RolloutOutcome::Succeed
    }
}

fn images_of(workload: &Value) -> Vec<&str> {
    [
        "/spec/template/spec/containers",
        "/spec/template/spec/initContainers",
    ]
    .iter()
    .filter_map(|p| workload.pointer(p).and_then(Value::as_array))
    .flatten()
    .filter_map(|c| c.get("image").and_then(Value::as_str))
    .collect()
}

/// Outcomes set by tests, overriding the image tag rule.
#[derive(Debug, Default)]
pub struct Outcomes {
    global: Mutex<Option<RolloutOutcome>>,
    by_name: Mutex<HashMap<(String, String), RolloutOutcome>>,
}

impl Outcomes {
    /// Sets (or with `None` clears) the outcome of one workload.
    pub fn set_for(&self, namespace: &str, name: &str, outcome: Option<RolloutOutcome>) {
        let mut by_name = self.by_name.lock().unwrap_or_else(|p| p.into_inner());
        let key = (namespace.to_string(), name.to_string());
        match outcome {
            Some(outcome) => by_name.insert(key, outcome),
            None => by_name.remove(&key),
        };
    }

    /// Sets (or clears) the outcome of every workload without its own.
    pub fn set_global(&self, outcome: Option<RolloutOutcome>) {
        *self.global.lock().unwrap_or_else(|p| p.into_inner()) = outcome;
    }

    /// The outcome for `workload`.
    pub fn choose(&self, namespace: &str, name: &str, workload: &Value) -> RolloutOutcome {
        let by_name = self.by_name.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(outcome) = by_name.get(&(namespace.to_string(), name.to_string())) {
            return *outcome;
        }
        if let Some(outcome) = *self.global.lock().unwrap_or_else(|p| p.into_inner()) {
            return outcome;
        }
        outcome_for_images(&images_of(workload))
    }
}

type WorkloadKey = (&'static str, String, String);

/// Watches the store and runs one simulated rollout per workload generation.
pub struct Simulator {
    store: Arc<Store>,
    outcomes: Arc<Outcomes>,
    delay: Duration,
    kubelet: Kubelet,
    started: Mutex<HashMap<WorkloadKey, (String, i64)>>,
}

impl Simulator {
    /// Starts the simulator on `store`; each step waits `delay`.
    pub fn spawn(
        store: Arc<Store>,
        outcomes: Arc<Outcomes>,
        delay: Duration,
        kubelet: Kubelet,
    ) -> tokio::task::JoinHandle<()> {
        let changes = store.subscribe();
        let simulator = Arc::new(Self {
            store,
            outcomes,
            delay,
            kubelet,
            started: Mutex::new(HashMap::new()),
        });
        tokio::spawn(simulator.run(changes))
    }

    async fn run(self: Arc<Self>, mut changes: broadcast::Receiver<Arc<Change>>) {
        loop {
            match changes.recv().await {
                Ok(change) => self.observe(change.resource, change.change, &change.object),
                Err(broadcast::error::RecvError::Lagged(_)) => self.rescan(),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn rescan(self: &Arc<Self>) {
        let workloads = self.store.transaction(|txn| txn.all());
        for (resource, object) in workloads {
            self.observe(resource, ChangeType::Modified, &object);
        }
    }

    fn observe(
        self: &Arc<Self>,
        resource: &'static ResourceType,
        change: ChangeType,
        object: &Value,
    ) {
        if resource.kind == "Pod" && self.kubelet == Kubelet::External {
            if let Some((workload, kind, namespace, name)) = self.controller_of(object) {
                let simulator = self.clone();
                tokio::spawn(async move {
                    simulator.step(workload, kind, &namespace, &name, None, None);
                });
            }
            return;
        }
        let Some(kind) = resource.workload else {
            return;
        };
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let key = (
            resource.kind,
            text("/metadata/namespace"),
            text("/metadata/name"),
        );
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if change == ChangeType::Deleted {
            started.remove(&key);
            return;
        }
        let uid = text("/metadata/uid");
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if started.get(&key) == Some(&(uid.clone(), generation)) {
            return;
        }
        started.insert(key.clone(), (uid.clone(), generation));
        tokio::spawn(self.clone().roll(resource, kind, key, uid, generation));
    }

    async fn roll(
        self: Arc<Self>,
        resource: &'static ResourceType,
        kind: Workload,
        key: WorkloadKey,
        uid: String,
        generation: i64,
    ) {
        tokio::time::sleep(self.delay).await;
        let (_, namespace, name) = &key;
        let generation = Some((uid.as_str(), generation));
        let Some(outcome) = self.step(resource, kind, namespace, name, generation, None) else {
            return;
        };
        // An external kubelet's pod changes settle the workload from here on.
        if outcome == RolloutOutcome::Hang || self.kubelet == Kubelet::External {
            return;
        }
        tokio::time::sleep(self.delay).await;
        self.step(resource, kind, namespace, name, generation, Some(outcome));
    }

    /// The workload controlling `pod`, directly or through a ReplicaSet.
    fn controller_of(
        &self,
        pod: &Value,
    ) -> Option<(&'static ResourceType, Workload, String, String)> {
        let namespace = plan::text(pod, "/metadata/namespace").to_string();
        let owner = pod.pointer("/metadata/ownerReferences/0")?;
        let (mut kind, mut name) = (
            plan::text(owner, "/kind").to_string(),
            plan::text(owner, "/name").to_string(),
        );
        if kind == "ReplicaSet" {
            let replica_sets = resources::by_kind("apps/v1", "ReplicaSet")?;
            let replica_set = self
                .store
                .transaction(|txn| txn.get(replica_sets, &namespace, &name))?;
            let owner = replica_set.pointer("/metadata/ownerReferences/0")?;
            kind = plan::text(owner, "/kind").to_string();
            name = plan::text(owner, "/name").to_string();
        }
        let resource = resources::RESOURCES
            .iter()
            .find(|r| r.kind == kind && r.workload.is_some())?;
        Some((resource, resource.workload?, namespace, name))
    }

    /// One controller step, for the workload's `(uid, generation)` when
    /// given; `None` when the workload moved on or went away.
    fn step(
        &self,
        resource: &'static ResourceType,
        kind: Workload,
        namespace: &str,
        name: &str,
        expected: Option<(&str, i64)>,
        finishing: Option<RolloutOutcome>,
    ) -> Option<RolloutOutcome> {
        self.store.transaction(|txn| {
            let workload = txn.get(resource, namespace, name)?;
            let current_uid = workload.pointer("/metadata/uid").and_then(Value::as_str);
            let current_generation = workload
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if expected.is_some_and(|(uid, generation)| {
                current_uid != Some(uid) || current_generation != generation
            }) {
                return None;
            }
            let observed = observe_owned(txn, &workload);
            let now = meta::now();
            let (outcome, plan) = match self.kubelet {
                Kubelet::Simulated => {
                    let outcome = finishing
                        .unwrap_or_else(|| self.outcomes.choose(namespace, name, &workload));
                    let finished = finishing.is_some();
                    (
                        outcome,
                        plan::plan(kind, &observed, outcome, finished, &now),
                    )
                }
                Kubelet::External => {
                    let progressing =
                        plan::plan(kind, &observed, RolloutOutcome::Succeed, false, &now);
                    match settled(kind, &observed, &progressing) {
                        Some(outcome) => {
                            (outcome, plan::plan(kind, &observed, outcome, true, &now))
                        }
                        None => (RolloutOutcome::Succeed, progressing),
                    }
                }
            };
            write_plan(txn, resource, &workload, plan, self.kubelet);
            Some(outcome)
        })
    }
}

/// How a workload's rollout ended by its pods as an external kubelet left
/// them, `None` while it goes on: it has once every pod the `progressing`
/// plan wants exists, of its revision, and is ready (Jobs: has succeeded,
/// or one has failed).
fn settled(kind: Workload, observed: &Observed, progressing: &Plan) -> Option<RolloutOutcome> {
    let pods: Option<Vec<&Value>> = progressing
        .objects
        .iter()
        .filter(|o| o["kind"] == "Pod")
        .map(|want| {
            observed.pods.iter().find(|pod| {
                pod.pointer("/metadata/name") == want.pointer("/metadata/name")
                    && plan::same_revision(pod, want)
            })
        })
        .collect();
    let pods = pods?;
    let phase = |pod: &&Value| plan::text(pod, "/status/phase").to_string();
    if kind == Workload::Job {
        if pods.iter().any(|p| phase(p) == "Failed") {
            return Some(RolloutOutcome::Crash);
        }
        return pods
            .iter()
            .all(|p| phase(p) == "Succeeded")
            .then_some(RolloutOutcome::Succeed);
    }
    pods.iter()
        .all(|p| plan::is_ready(p))
        .then_some(RolloutOutcome::Succeed)
}

fn owned_by<'a>(objects: &'a [Arc<Value>], uids: &'a [String]) -> impl Iterator<Item = Value> + 'a {
    objects
        .iter()
        .filter(move |o| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|owners| {
                    owners.iter().any(|r| {
                        r["uid"]
                            .as_str()
                            .is_some_and(|u| uids.iter().any(|w| w == u))
                    })
                })
        })
        .map(|o| (**o).clone())
}

fn observe_owned(txn: &Transaction, workload: &Value) -> Observed {
    let namespace = workload
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let uid = workload
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut owners = vec![uid.clone()];
    let replica_sets: Vec<Value> = match resources::by_kind("apps/v1", "ReplicaSet") {
        Some(rs) => owned_by(&txn.list(rs, Some(namespace)), &[uid]).collect(),
        None => Vec::new(),
    };
    owners.extend(replica_sets.iter().filter_map(|rs| {
        rs.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string)
    }));
    let pods = match resources::by_kind("v1", "Pod") {
        Some(pod) => owned_by(&txn.list(pod, Some(namespace)), &owners).collect(),
        None => Vec::new(),
    };
    Observed {
        workload: workload.clone(),
        replica_sets,
        pods,
    }
}

/// A pod as an external kubelet finds it: unbound, `Pending`, no status
/// yet; `None` when the stored pod of this revision is to be kept as its
/// kubelet left it.
fn for_external_kubelet(mut pod: Value, old: Option<&Value>) -> Option<Value> {
    if old.is_some_and(|old| plan::same_revision(old, &pod)) {
        return None;
    }
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("nodeName");
    }
    pod["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
    Some(pod)
}

fn write_plan(
    txn: &mut Transaction,
    resource: &'static ResourceType,
    workload: &Value,
    plan: Plan,
    kubelet: Kubelet,
) {
    let now = meta::now();
    let namespace = workload
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for mut object in plan.objects {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(kind) =
            resources::by_kind(&api_version, object["kind"].as_str().unwrap_or_default())
        else {
            continue;
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut old = txn.get(kind, &namespace, &name);
        if kind.kind == "Pod" && kubelet == Kubelet::External {
            match for_external_kubelet(object, old.as_deref()) {
                // A pod of an older revision under the same name is replaced.
                Some(pod) if old.is_some() => {
                    txn.remove(kind, &namespace, &name);
                    old = None;
                    object = pod;
                }
                Some(pod) => object = pod,
                None => continue,
            }
        }
        let writer = Writer {
            manager: CONTROLLER_MANAGER,
            subresource: "",
            api_version: &api_version,
            now: &now,
        };
        match &old {
            Some(old) => {
                for field in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
                    object["metadata"][field] = old["metadata"][field].clone();
                }
                if let Some(managed_fields) = old.pointer("/metadata/managedFields") {
                    object["metadata"]["managedFields"] = managed_fields.clone();
                }
            }
            None => {
                if object.pointer("/metadata/uid").is_none() {
                    object["metadata"]["uid"] = json!(meta::new_uid());
                }
                object["metadata"]["creationTimestamp"] = json!(now);
                if kind.has_generation {
                    object["metadata"]["generation"] = json!(1);
                }
            }
        }
        managed::record_update(old.as_deref(), &mut object, &writer);
        if kind.kind == "Pod" && kubelet == Kubelet::Simulated {
            record_kubelet_events(txn, &object, &now);
        }
        if old.as_deref() != Some(&object) {
            txn.put(kind, &namespace, &name, object);
        }
    }
    if let Some(pods) = resources::by_kind("v1", "Pod") {
        for name in plan.remove_pods {
            txn.remove(pods, &namespace, &name);
        }
    }
    let mut updated = workload.clone();
    updated["status"] = plan.status;
    keep_condition_times(workload, &mut updated);
    let api_version = resource.api_version();
    let writer = Writer {
        manager: CONTROLLER_MANAGER,
        subresource: "status",
        api_version: &api_version,
        now: &now,
    };
    managed::record_update(Some(workload), &mut updated, &writer);
    if &updated != workload {
        let name = workload
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        txn.put(resource, &namespace, &name, updated);
    }
}

/// A condition whose status, reason and message are as they were keeps its
/// times, as a real controller leaves an unchanged condition alone.
fn keep_condition_times(old: &Value, new: &mut Value) {
    let Some(before) = old.pointer("/status/conditions").and_then(Value::as_array) else {
        return;
    };
    let Some(after) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for condition in after {
        let same = before.iter().find(|b| {
            ["type", "status", "reason", "message"]
                .iter()
                .all(|key| b.get(*key) == condition.get(*key))
        });
        if let Some(same) = same {
            for time in ["lastTransitionTime", "lastUpdateTime", "lastProbeTime"] {
                match same.get(time) {
                    Some(kept) => condition[time] = kept.clone(),
                    None => {
                        if let Some(map) = condition.as_object_mut() {
                            map.remove(time);
                        }
                    }
                }
            }
        }
    }
}

/// Store the Events the kubelet records for `pod`, each once.
fn record_kubelet_events(txn: &mut Transaction, pod: &Value, now: &str) {
    let Some(events) = resources::by_kind("v1", "Event") else {
        return;
    };
    for mut event in kubelet::events(pod, now) {
        let namespace = plan::text(&event, "/metadata/namespace").to_string();
        let name = plan::text(&event, "/metadata/name").to_string();
        if txn.get(events, &namespace, &name).is_some() {
            continue;
        }
        event["metadata"]["uid"] = json!(meta::new_uid());
        event["metadata"]["creationTimestamp"] = json!(now);
        txn.put(events, &namespace, &name, event);
    }
}
