//! Prometheus metrics of the receive role, in one explicit registry.

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

fn latency_histogram() -> Histogram {
    // 0.1 ms to about 3 s.
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
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("slipway");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let verification_failures = Family::<VerificationLabels, Counter>::default();
        let latency = Family::<ProviderLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let processed = Family::<ProcessedLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by provider, event and outcome",
            deliveries.clone(),
        );
        registry.register(
            "webhook_verification_failures",
            "Webhook signature or token checks that failed",
            verification_failures.clone(),
        );
        registry.register(
            "webhook_request_duration_seconds",
            "Time from webhook request to answer",
            latency.clone(),
        );
        registry.register(
            "inbox_processed",
            "Deliveries the worker settled or deferred",
            processed.clone(),
        );
        Metrics {
            registry,
            deliveries,
            verification_failures,
            latency,
            processed,
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

    /// The registry, for modules that add their own metrics.
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
}
