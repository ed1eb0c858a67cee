//! Prometheus metrics of the receive role, in one explicit registry.
//!
//! The root registry has no prefix: each module registers its metrics under
//! its own full prefix (`slipway_webhook_*` and `slipway_inbox_*` here,
//! `slipway_sync_*` in [`crate::sync::metrics`]), so that no two prefixes stack.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a delivery counted by outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Provider name.
    pub provider: String,
    /// Normalised event kind (`artifact_published`, ...), or `none` when refused.
    pub event: String,
    /// `accepted`, `duplicate`, `rejected`, `error`.
    pub outcome: String,
}

/// Labels of a refused signature.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerificationLabels {
    /// Provider name.
    pub provider: String,
    /// `missing`, `malformed`, `mismatch`, `stale`.
    pub reason: String,
}

/// Labels of a per-provider histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    /// Provider name.
    pub provider: String,
}

/// Labels of the worker's settled deliveries.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProcessedLabels {
    /// `done`, `ignored`, `failed`, `retry`, `wait`.
    pub result: String,
    /// What a `retry` or `failed` came from (`git`, `forge_rate_limit`, ...;
    /// see `worker::ErrorKind`), `none` for the other results.
    pub error_kind: String,
}

/// Prefix of every metric this module registers.
const PREFIX: &str = "slipway";

fn latency_histogram() -> Histogram {
    // 0.1 ms doubling 15 times: the last bucket is about 1.6 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

/// Every metric the server and worker update.
pub struct Metrics {
    registry: Registry,
    /// Deliveries by provider, event and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Signature and token failures by provider and reason.
    pub verification_failures: Family<VerificationLabels, Counter>,
    /// Time from request to answer, by provider.
    pub latency: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    /// Deliveries the worker settled or deferred.
    pub processed: Family<ProcessedLabels, Counter>,
    /// Deliveries per batch the worker took.
    pub batch_size: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let verification_failures = Family::<VerificationLabels, Counter>::default();
        let latency = Family::<ProviderLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let processed = Family::<ProcessedLabels, Counter>::default();
        // 1 doubling 11 times: the last bucket is 1,024, above the largest batch.
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let receive = registry.sub_registry_with_prefix(PREFIX);
        receive.register(
            "webhook_deliveries",
            "Webhook deliveries by provider, event and outcome",
            deliveries.clone(),
        );
        receive.register(
            "webhook_verification_failures",
            "Webhook signature or token checks that failed",
            verification_failures.clone(),
        );
        receive.register(
            "webhook_request_duration_seconds",
            "Time from webhook request to answer",
            latency.clone(),
        );
        receive.register(
            "inbox_processed",
            "Deliveries the worker settled or deferred",
            processed.clone(),
        );
        receive.register(
            "inbox_batch_size",
            "Deliveries per batch the worker took",
            batch_size.clone(),
        );
        Metrics {
            registry,
            deliveries,
            verification_failures,
            latency,
            processed,
            batch_size,
        }
    }
}

impl Metrics {
    /// Count one delivery.
    pub fn delivery(&self, provider: &str, event: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                provider: provider.to_string(),
                event: event.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The root registry, for modules that add their own metrics. It has no
    /// prefix: a module registers under its own full prefix (`slipway_sync`).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Render the OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_holds_counted_deliveries() {
        let metrics = Metrics::default();
        metrics.delivery("github", "ping", "accepted");
        metrics.delivery("github", "ping", "accepted");
        let text = metrics.render();
        assert!(
            text.contains(r#"slipway_webhook_deliveries_total{provider="github",event="ping",outcome="accepted"} 2"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn sync_metrics_in_the_shared_registry_carry_one_prefix() {
        let mut metrics = Metrics::default();
        let sync = crate::sync::metrics::SyncMetrics::register(metrics.registry_mut());
        sync.sync("web", "dev", "verified");
        let text = metrics.render();
        assert!(
            text.contains(
                r#"slipway_sync_syncs_total{app="web",environment="dev",outcome="verified"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains("slipway_slipway_"), "{text}");
    }
}
