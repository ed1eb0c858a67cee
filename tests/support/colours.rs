//! A blue-green app's colours as the Kubernetes API test server holds them:
//! which revision a Service selects, which Deployments exist and whether
//! they are available, and a log of what the Service selected, taken every
//! few milliseconds while a rollout runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use slipway::sync::progressive::LABEL_REVISION;

use super::kube_api::KubeApiServer;

/// One app's Service in one namespace.
#[derive(Clone, Copy)]
pub struct Colours<'a> {
    pub namespace: &'a str,
    pub service: &'a str,
}

impl Colours<'_> {
    /// The revision the Service selects (empty: no revision in its
    /// selector), when the Service exists.
    pub fn serving(&self, kube: &KubeApiServer) -> Option<String> {
        let service = kube.get_object("v1", "Service", Some(self.namespace), self.service)?;
        let pointer = format!("/spec/selector/{}", LABEL_REVISION.replace('/', "~1"));
        Some(
            service
                .pointer(&pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// Names of the Deployments in the namespace, sorted.
    pub fn deployments(&self, kube: &KubeApiServer) -> Vec<String> {
        let mut names: Vec<String> = kube
            .list_objects("apps/v1", "Deployment", Some(self.namespace))
            .iter()
            .filter_map(|d| d.pointer("/metadata/name").and_then(Value::as_str))
            .map(String::from)
            .collect();
        names.sort();
        names
    }

    /// Whether Deployment `name` has all its replicas available.
    pub fn available(&self, kube: &KubeApiServer, name: &str) -> bool {
        let Some(live) = kube.get_object("apps/v1", "Deployment", Some(self.namespace), name)
        else {
            return false;
        };
        let count = |p: &str| live.pointer(p).and_then(Value::as_i64);
        let wanted = count("/spec/replicas").unwrap_or(1);
        count("/status/availableReplicas").is_some_and(|n| n >= wanted && n > 0)
    }

    /// What the Service selects and whether that colour is available (an
    /// unlabelled selector counts as available: it is git's own workload).
    pub fn observe(&self, kube: &KubeApiServer, workload: &str) -> Option<(String, bool)> {
        let revision = self.serving(kube)?;
        let ready = revision.is_empty() || self.available(kube, &format!("{workload}-{revision}"));
        Some((revision, ready))
    }
}

/// What a Service selected, seen every few milliseconds: each observation
/// is (selected revision, whether its colour was available).
#[derive(Clone, Default)]
pub struct TrafficLog(Arc<Mutex<Vec<(String, bool)>>>);

impl TrafficLog {
    /// Record `observe()` every 5 ms until the returned task is aborted.
    pub fn watch(
        observe: impl Fn() -> Option<(String, bool)> + Send + 'static,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let log = TrafficLog::default();
        let kept = log.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(seen) = observe() {
                    kept.0.lock().unwrap().push(seen);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        (log, task)
    }

    /// The revisions selected, in order, each change once.
    pub fn revisions(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for (revision, _) in self.0.lock().unwrap().iter() {
            if seen.last() != Some(revision) {
                seen.push(revision.clone());
            }
        }
        seen
    }

    /// Whether the Service only ever selected an available colour.
    pub fn never_unready(&self) -> bool {
        self.0.lock().unwrap().iter().all(|(_, ready)| *ready)
    }

    /// How many observations were taken.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}
