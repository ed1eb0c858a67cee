//! Prometheus metrics of the sync role, registered in a registry the caller
//! owns (the server exposes it with everything else).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Buckets of rollout durations, in seconds.
const ROLLOUT_BUCKETS: [f64; 10] = [1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

/// Labels naming an app/environment.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    /// App name.
    pub app: String,
    /// Environment name.
    pub environment: String,
}

/// Labels of a sync outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// App name.
    pub app: String,
    /// Environment name.
    pub environment: String,
    /// The state reached, or the kind of error.
    pub outcome: String,
}

/// Labels of a rollout verdict.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// `verified` or `failed`.
    pub verdict: String,
}

/// Every sync metric; cheap to clone (the metrics are shared).
#[derive(Clone)]
pub struct SyncMetrics {
    /// Syncs of an app/environment, by outcome.
    pub syncs: Family<OutcomeLabels, Counter>,
    /// Objects applied (server-side apply calls that changed something).
    pub applies: Family<TargetLabels, Counter>,
    /// Objects pruned.
    pub prunes: Family<TargetLabels, Counter>,
    /// Objects found drifted and put back.
    pub drifts: Family<TargetLabels, Counter>,
    /// Manifests refused by scope.
    pub refusals: Family<TargetLabels, Counter>,
    /// Failures, by kind (rollout, timeout, render, apply, fetch...).
    pub failures: Family<OutcomeLabels, Counter>,
    /// Time from apply to verdict.
    pub rollout_seconds: Family<VerdictLabels, Histogram>,
}

impl Default for SyncMetrics {
    fn default() -> Self {
        SyncMetrics {
            syncs: Family::default(),
            applies: Family::default(),
            prunes: Family::default(),
            drifts: Family::default(),
            refusals: Family::default(),
            failures: Family::default(),
            rollout_seconds: Family::new_with_constructor(|| Histogram::new(ROLLOUT_BUCKETS)),
        }
    }
}

impl SyncMetrics {
    /// Create the metrics and register them under `slipway_sync_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = SyncMetrics::default();
        let r = registry.sub_registry_with_prefix("slipway_sync");
        r.register(
            "syncs",
            "Syncs of an app/environment by outcome",
            m.syncs.clone(),
        );
        r.register(
            "applies",
            "Objects applied with server-side apply",
            m.applies.clone(),
        );
        r.register(
            "prunes",
            "Objects pruned after leaving git",
            m.prunes.clone(),
        );
        r.register(
            "drifts",
            "Objects changed in the cluster and put back",
            m.drifts.clone(),
        );
        r.register(
            "refusals",
            "Manifests refused as outside the app's scope",
            m.refusals.clone(),
        );
        r.register("failures", "Failures by kind", m.failures.clone());
        r.register(
            "rollout_duration_seconds",
            "Seconds from apply to a rollout verdict",
            m.rollout_seconds.clone(),
        );
        m
    }

    /// Labels of one app/environment.
    pub fn target(app: &str, environment: &str) -> TargetLabels {
        TargetLabels {
            app: app.into(),
            environment: environment.into(),
        }
    }

    /// Count a sync of an app/environment that reached `state`.
    pub fn sync(&self, app: &str, environment: &str, state: &str) {
        self.syncs
            .get_or_create(&OutcomeLabels {
                app: app.into(),
                environment: environment.into(),
                outcome: state.into(),
            })
            .inc();
    }

    /// Count a failure of `kind`.
    pub fn failure(&self, app: &str, environment: &str, kind: &str) {
        self.failures
            .get_or_create(&OutcomeLabels {
                app: app.into(),
                environment: environment.into(),
                outcome: kind.into(),
            })
            .inc();
    }
}
