//! The cluster's own controllers a sync loop meets besides the workload
//! controllers: the namespace controller (a deleted namespace is
//! `Terminating` for a while, refusing new content, then goes with
//! everything in it), the TTL-after-finished controller (a finished Job
//! with `ttlSecondsAfterFinished` is deleted), and the apiextensions
//! controllers (a CustomResourceDefinition becomes `Established`, and
//! discovery serves its kind only some time later).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::deletes::remove_cascading;
use super::meta;
use super::resources::{self, ResourceType, Served};
use super::store::{Change, ChangeType, Store};

/// How long the controllers take.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// From a namespace's deletion until it and its contents are gone.
    pub namespace_termination: Duration,
    /// From a CRD's creation until it is `Established`.
    pub crd_establish: Duration,
    /// From `Established` until discovery (and the API paths) serve its kind.
    pub crd_discovery_lag: Duration,
}

struct Controllers {
    store: Arc<Store>,
    served: Arc<Served>,
    timings: Timings,
    /// `(kind, uid)` of objects already handed to a controller.
    scheduled: Mutex<HashSet<(&'static str, String)>>,
}

/// Starts the controllers on `store`.
pub fn spawn(
    store: Arc<Store>,
    served: Arc<Served>,
    timings: Timings,
) -> tokio::task::JoinHandle<()> {
    let changes = store.subscribe();
    let controllers = Arc::new(Controllers {
        store,
        served,
        timings,
        scheduled: Mutex::default(),
    });
    tokio::spawn(controllers.run(changes))
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn condition_true(object: &Value, kind: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

impl Controllers {
    async fn run(self: Arc<Self>, mut changes: broadcast::Receiver<Arc<Change>>) {
        loop {
            match changes.recv().await {
                Ok(change) => self.observe(&change),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Whether `object` is newly handed to the controller of `kind`.
    fn first_time(&self, kind: &'static str, object: &Value) -> bool {
        let uid = text(object, "/metadata/uid").to_string();
        let mut scheduled = self.scheduled.lock().unwrap_or_else(|p| p.into_inner());
        scheduled.insert((kind, uid))
    }

    fn observe(self: &Arc<Self>, change: &Change) {
        let object = &change.object;
        match (change.resource.kind, change.change) {
            ("CustomResourceDefinition", ChangeType::Deleted) => {
                if let Some(resource) = resources::from_crd(object) {
                    self.served.remove(resource);
                }
            }
            (_, ChangeType::Deleted) => {}
            ("Namespace", _)
                if object.pointer("/metadata/deletionTimestamp").is_some()
                    && self.first_time("Namespace", object) =>
            {
                let delay = self.timings.namespace_termination;
                self.later(delay, change.resource, object);
            }
            ("Job", _)
                if condition_true(object, "Complete") || condition_true(object, "Failed") =>
            {
                let ttl = object
                    .pointer("/spec/ttlSecondsAfterFinished")
                    .and_then(Value::as_u64);
                if let Some(ttl) = ttl
                    && self.first_time("Job", object)
                {
                    self.later(Duration::from_secs(ttl), change.resource, object);
                }
            }
            ("CustomResourceDefinition", _)
                if !condition_true(object, "Established")
                    && self.first_time("CustomResourceDefinition", object) =>
            {
                self.clone().establish(change.resource, (**object).clone());
            }
            _ => {}
        }
    }

    /// After `delay`, delete `object` (and what it owns or holds) if it is
    /// still the same object.
    fn later(self: &Arc<Self>, delay: Duration, resource: &'static ResourceType, object: &Value) {
        let (this, object) = (self.clone(), object.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let (namespace, name) = (
                text(&object, "/metadata/namespace"),
                text(&object, "/metadata/name"),
            );
            this.store.transaction(|txn| {
                let current = txn.get(resource, namespace, name)?;
                let same = current.pointer("/metadata/uid") == object.pointer("/metadata/uid");
                same.then(|| remove_cascading(txn, resource, namespace, name))
                    .flatten()
            });
        });
    }

    /// Mark the CRD established after a while, then serve its kind after the lag.
    fn establish(self: Arc<Self>, resource: &'static ResourceType, crd: Value) {
        tokio::spawn(async move {
            tokio::time::sleep(self.timings.crd_establish).await;
            let name = text(&crd, "/metadata/name").to_string();
            let established = self.store.transaction(|txn| {
                let current = txn.get(resource, "", &name)?;
                if current.pointer("/metadata/uid") != crd.pointer("/metadata/uid") {
                    return None;
                }
                let mut updated = (*current).clone();
                let now = meta::now();
                let condition = |kind: &str, reason: &str, message: &str| {
                    json!({"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now})
                };
                let version = resources::from_crd(&updated).map(|r| r.version);
                updated["status"] = json!({
                    "conditions": [
                        condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                        condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                    ],
                    "acceptedNames": updated.pointer("/spec/names").cloned().unwrap_or_default(),
                    "storedVersions": version.map(|v| vec![v]).unwrap_or_default(),
                });
                Some((*txn.put(resource, "", &name, updated)).clone())
            });
            let Some(crd) = established else {
                return;
            };
            tokio::time::sleep(self.timings.crd_discovery_lag).await;
            if let Some(custom) = resources::from_crd(&crd) {
                self.served.add(custom);
            }
        });
    }
}
