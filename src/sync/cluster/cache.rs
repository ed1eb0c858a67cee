//! A watch-fed cache of the cluster: one kube-runtime reflector per kind
//! Slipway applies, on `app.kubernetes.io/managed-by=slipway` across
//! namespaces, and one on HorizontalPodAutoscalers (which nobody labels for
//! Slipway). Each starts with one LIST and then follows a WATCH, so a pass
//! that changes nothing reads the cluster without a request.
//!
//! A watch lags the server by a moment: what the cache says is drift is
//! confirmed with a GET before anything is written (see `sync::drift`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::ClusterError;

/// How long the first LIST of a new reflector may take before the pass
/// gives up (and is retried with backoff).
pub const CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// `(apiVersion, kind)`.
type KindKey = (String, String);

/// The reflectors, started on first use; their tasks stop with the last
/// clone of the cache.
#[derive(Default)]
pub struct WatchCache {
    stores: Mutex<HashMap<KindKey, Watched>>,
    tasks: Mutex<Vec<AbortHandle>>,
    changed: Arc<Notify>,
}

/// One reflector's store, and whether its first LIST completed.
#[derive(Clone)]
struct Watched {
    store: Store<DynamicObject>,
    ready: Arc<tokio::sync::OnceCell<()>>,
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(|p| p.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

impl WatchCache {
    /// Woken when a watched object's content changes (a new `generation`,
    /// labels or annotations, or any change of a kind without status),
    /// deletions included, and after each (re)list: what may be drift.
    /// Status-only updates do not wake it.
    pub fn changes(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// The store of `resource`'s objects matching `selector` (empty: all),
    /// across namespaces; started and filled by its first LIST when new.
    pub async fn store(
        &self,
        client: &kube::Client,
        (api_version, resource): (&str, &ApiResource),
        selector: &str,
    ) -> Result<Store<DynamicObject>, ClusterError> {
        let watched = self.watched(client, (api_version, resource), selector);
        // One waiter at a time: the store's readiness signal wakes only the
        // last task that polled it, so the others wait on the OnceCell.
        watched
            .ready
            .get_or_try_init(|| async {
                match tokio::time::timeout(CACHE_SYNC_TIMEOUT, watched.store.wait_until_ready())
                    .await
                {
                    Ok(Ok(())) => Ok(()),
                    _ => Err(ClusterError::CacheNotReady {
                        what: format!("{} {}", api_version, resource.kind),
                    }),
                }
            })
            .await?;
        Ok(watched.store)
    }

    fn stores_lock(&self) -> std::sync::MutexGuard<'_, HashMap<KindKey, Watched>> {
        self.stores.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start watching `resource` when it is not watched yet; the store
    /// fills in the background.
    pub fn start(
        &self,
        client: &kube::Client,
        (api_version, resource): (&str, &ApiResource),
        selector: &str,
    ) {
        self.watched(client, (api_version, resource), selector);
    }

    fn watched(
        &self,
        client: &kube::Client,
        (api_version, resource): (&str, &ApiResource),
        selector: &str,
    ) -> Watched {
        let key = (api_version.to_string(), resource.kind.clone());
        let mut stores = self.stores_lock();
        if let Some(watched) = stores.get(&key) {
            return watched.clone();
        }
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
        let mut config = watcher::Config::default();
        if !selector.is_empty() {
            config = config.labels(selector);
        }
        let kind = key.1.clone();
        let changed = self.changed.clone();
        let mut seen: HashMap<String, u64> = HashMap::new();
        let stream = watcher(api, config)
            .default_backoff()
            .reflect(writer)
            .for_each(move |event| {
                match event {
                    Ok(watcher::Event::Apply(o)) => {
                        let uid = o.metadata.uid.clone().unwrap_or_default();
                        let content = content_mark(&o);
                        if seen.insert(uid, content) != Some(content) {
                            changed.notify_one();
                        }
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        seen.remove(o.metadata.uid.as_deref().unwrap_or_default());
                        changed.notify_one();
                    }
                    Ok(watcher::Event::InitApply(o)) => {
                        let uid = o.metadata.uid.clone().unwrap_or_default();
                        seen.insert(uid, content_mark(&o));
                    }
                    // A (re)list may hold changes made before the watch
                    // started or while it was down: look once.
                    Ok(watcher::Event::InitDone) => changed.notify_one(),
                    Ok(watcher::Event::Init) => {}
                    Err(e) => tracing::warn!(%kind, error = %e, "watch failed; retrying"),
                }
                futures::future::ready(())
            });
        let task = tokio::spawn(stream);
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task.abort_handle());
        let watched = Watched {
            store,
            ready: Arc::default(),
        };
        stores.insert(key, watched.clone());
        watched
    }
}

/// What changes with an object's content but not with its status: its
/// `generation` (for kinds that keep one), labels and annotations; for a
/// kind without `generation` (a ConfigMap) its whole body.
fn content_mark(o: &DynamicObject) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let m = &o.metadata;
    match m.generation {
        Some(generation) => generation.hash(&mut hasher),
        None => o.data.to_string().hash(&mut hasher),
    }
    format!("{:?}{:?}", m.labels, m.annotations).hash(&mut hasher);
    hasher.finish()
}
