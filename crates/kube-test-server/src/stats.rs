//! Request counters by verb and resource, for tests and benchmarks.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// What a request did, as the counters name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read a collection.
    List,
    /// Open a watch.
    Watch,
    /// Server-side apply.
    Apply,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// Merge or strategic merge patch.
    Patch,
    /// DELETE (one object or a collection).
    Delete,
    /// Any write with `dryRun=All`: checked and answered, nothing stored.
    DryRun,
    /// Discovery and OpenAPI documents.
    Discovery,
}

impl Verb {
    /// Whether the verb writes.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::Apply | Self::Create | Self::Update | Self::Patch | Self::Delete
        )
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// All requests counted.
    pub total: u64,
    /// Requests per verb.
    pub by_verb: BTreeMap<Verb, u64>,
    /// Requests per resource (`deployments.apps`, `configmaps`), then per verb.
    pub by_resource: BTreeMap<String, BTreeMap<Verb, u64>>,
    /// Writes that left the stored object unchanged (no new resourceVersion).
    pub unchanged_writes: u64,
}

impl Stats {
    /// Count for one verb.
    pub fn verb(&self, verb: Verb) -> u64 {
        self.by_verb.get(&verb).copied().unwrap_or(0)
    }

    /// Count for one verb on one resource (`jobs.batch`, `configmaps`).
    pub fn verb_on(&self, resource: &str, verb: Verb) -> u64 {
        self.by_resource
            .get(resource)
            .and_then(|verbs| verbs.get(&verb))
            .copied()
            .unwrap_or(0)
    }

    /// All writes (apply, create, update, patch, delete).
    pub fn writes(&self) -> u64 {
        self.by_verb
            .iter()
            .filter(|(verb, _)| verb.is_write())
            .map(|(_, n)| n)
            .sum()
    }
}

/// Live counters shared by the request handlers.
#[derive(Debug, Default)]
pub struct Counters(Mutex<Stats>);

impl Counters {
    fn with<R>(&self, work: impl FnOnce(&mut Stats) -> R) -> R {
        let mut stats = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut stats)
    }

    /// Counts one request.
    pub fn record(&self, verb: Verb, resource: &str) {
        self.with(|stats| {
            stats.total += 1;
            *stats.by_verb.entry(verb).or_default() += 1;
            *stats
                .by_resource
                .entry(resource.to_string())
                .or_default()
                .entry(verb)
                .or_default() += 1;
        });
    }

    /// Counts a write that changed nothing.
    pub fn record_unchanged(&self) {
        self.with(|stats| stats.unchanged_writes += 1);
    }

    /// The counters now.
    pub fn snapshot(&self) -> Stats {
        self.with(|stats| stats.clone())
    }

    /// Sets every counter to zero.
    pub fn reset(&self) {
        self.with(|stats| *stats = Stats::default());
    }
}
