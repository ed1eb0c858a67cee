//! The object store: objects by resource, namespace and name, one global
//! resource version, and a bounded history of change events for watches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

use super::resources::ResourceType;

/// How many change events a watcher may fall behind before it is cut off.
const BROADCAST_CAPACITY: usize = 16_384;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

/// One committed change.
#[derive(Debug)]
pub struct Change {
    /// Resource version the change was committed at.
    pub resource_version: u64,
    /// The resource type.
    pub resource: &'static ResourceType,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// What happened.
    pub change: ChangeType,
    /// The object after the change (its last state for deletes).
    pub object: Arc<Value>,
    /// The object before the change, for modifications.
    pub previous: Option<Arc<Value>>,
}

type Key = (&'static str, &'static str, String, String);

fn key(resource: &'static ResourceType, namespace: &str, name: &str) -> Key {
    (
        resource.group,
        resource.plural,
        namespace.to_string(),
        name.to_string(),
    )
}

struct Inner {
    resource_version: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Arc<Change>>,
    /// Watches from below this version can no longer be served.
    compacted_below: u64,
}

/// Shared store; every read-modify-write runs inside [`Store::transaction`].
pub struct Store {
    inner: Mutex<Inner>,
    history_limit: usize,
    changes: broadcast::Sender<Arc<Change>>,
}

/// What a watch starts from.
pub struct WatchStart {
    /// Current objects, when the watch asked for initial state.
    pub initial: Vec<Arc<Value>>,
    /// Retained changes after the requested version.
    pub replay: Vec<Arc<Change>>,
    /// Changes committed from now on.
    pub live: broadcast::Receiver<Arc<Change>>,
    /// The store's version when the watch started.
    pub resource_version: u64,
}

impl Store {
    /// An empty store keeping `history_limit` change events.
    pub fn new(history_limit: usize) -> Self {
        let (changes, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            inner: Mutex::new(Inner {
                resource_version: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted_below: 0,
            }),
            history_limit,
            changes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` with exclusive access; its changes are published in order.
    pub fn transaction<R>(&self, work: impl FnOnce(&mut Transaction<'_>) -> R) -> R {
        let mut inner = self.lock();
        let mut txn = Transaction {
            inner: &mut inner,
            store: self,
        };
        work(&mut txn)
    }

    /// Subscribes to every change committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Starts a watch after `from` (or with the current objects when `from`
    /// is `None`); `Err` carries the oldest version still served.
    pub fn watch(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        from: Option<u64>,
    ) -> Result<WatchStart, u64> {
        let inner = self.lock();
        let live = self.changes.subscribe();
        let in_scope = |ns: &str| namespace.is_none_or(|wanted| wanted == ns);
        let (initial, replay) = match from {
            None => {
                let initial = objects_of(&inner, resource)
                    .filter(|((_, _, ns, _), _)| in_scope(ns))
                    .map(|(_, object)| object.clone())
                    .collect();
                (initial, Vec::new())
            }
            Some(version) if version < inner.compacted_below => return Err(inner.compacted_below),
            Some(version) => {
                let replay = inner
                    .history
                    .iter()
                    .filter(|c| c.resource_version > version)
                    .filter(|c| std::ptr::eq(c.resource, resource) && in_scope(&c.namespace))
                    .cloned()
                    .collect();
                (Vec::new(), replay)
            }
        };
        Ok(WatchStart {
            initial,
            replay,
            live,
            resource_version: inner.resource_version,
        })
    }

    /// Forgets the change history, as an etcd compaction does.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.compacted_below = inner.resource_version;
    }

    /// The oldest version a watch or continued list may start from.
    pub fn compacted_below(&self) -> u64 {
        self.lock().compacted_below
    }
}

fn objects_of<'a>(
    inner: &'a Inner,
    resource: &'static ResourceType,
) -> impl Iterator<Item = (&'a Key, &'a Arc<Value>)> {
    let start = (
        resource.group,
        resource.plural,
        String::new(),
        String::new(),
    );
    inner
        .objects
        .range(start..)
        .take_while(move |((group, plural, _, _), _)| {
            *group == resource.group && *plural == resource.plural
        })
}

/// Exclusive access to the store during one operation.
pub struct Transaction<'a> {
    inner: &'a mut Inner,
    store: &'a Store,
}

impl Transaction<'_> {
    /// The current resource version.
    pub fn resource_version(&self) -> u64 {
        self.inner.resource_version
    }

    /// One object.
    pub fn get(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        self.inner
            .objects
            .get(&key(resource, namespace, name))
            .cloned()
    }

    /// Objects of `resource`, in one namespace or all, ordered by namespace and name.
    pub fn list(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
    ) -> Vec<Arc<Value>> {
        objects_of(self.inner, resource)
            .filter(|((_, _, ns, _), _)| namespace.is_none_or(|wanted| wanted == ns))
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Stores `object` under a new resource version and publishes the change.
    pub fn put(
        &mut self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        mut object: Value,
    ) -> Arc<Value> {
        self.inner.resource_version += 1;
        let version = self.inner.resource_version;
        object["metadata"]["resourceVersion"] = Value::String(version.to_string());
        let object = Arc::new(object);
        let previous = self
            .inner
            .objects
            .insert(key(resource, namespace, name), object.clone());
        let change = if previous.is_some() {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.publish(resource, namespace, change, object.clone(), previous);
        object
    }

    /// Removes an object and publishes its deletion.
    pub fn remove(
        &mut self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        let previous = self.inner.objects.remove(&key(resource, namespace, name))?;
        self.inner.resource_version += 1;
        let mut last = (*previous).clone();
        last["metadata"]["resourceVersion"] =
            Value::String(self.inner.resource_version.to_string());
        let last = Arc::new(last);
        self.publish(
            resource,
            namespace,
            ChangeType::Deleted,
            last.clone(),
            Some(previous),
        );
        Some(last)
    }

    /// Every stored object with its resource type.
    pub fn all(&self) -> Vec<(&'static ResourceType, Arc<Value>)> {
        self.inner
            .objects
            .iter()
            .filter_map(|((group, plural, _, _), object)| {
                super::resources::by_group_plural(group, plural).map(|r| (r, object.clone()))
            })
            .collect()
    }

    fn publish(
        &mut self,
        resource: &'static ResourceType,
        namespace: &str,
        change: ChangeType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let change = Arc::new(Change {
            resource_version: self.inner.resource_version,
            resource,
            namespace: namespace.to_string(),
            change,
            object,
            previous,
        });
        self.inner.history.push_back(change.clone());
        while self.inner.history.len() > self.store.history_limit {
            if let Some(dropped) = self.inner.history.pop_front() {
                self.inner.compacted_below = dropped.resource_version;
            }
        }
        // No receivers is normal (nobody watching); nothing to handle.
        let _ = self.store.changes.send(change);
    }
}
