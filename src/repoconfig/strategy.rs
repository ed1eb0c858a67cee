//! How an environment rolls out a new revision: `strategy` in
//! `slipway.yaml`. `rolling` (the default) applies the revision in place and
//! lets the workload's own controller roll it; `blue_green` and `canary` run
//! the new revision beside the old one and move traffic in steps that sync
//! keeps in its store, with a cleanup that always runs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An environment's rollout strategy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// Apply in place; the workload's controller rolls it (today's behaviour).
    #[default]
    Rolling,
    /// A second Deployment per revision, then one atomic switch of the Services.
    BlueGreen(BlueGreen),
    /// A canary Deployment beside the stable one, its share moved in steps.
    Canary(Canary),
}

impl Strategy {
    /// The name used in `slipway.yaml` and the status API.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Rolling => "rolling",
            Strategy::BlueGreen(_) => "blue_green",
            Strategy::Canary(_) => "canary",
        }
    }
}

/// `strategy: {blue_green: ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueGreen {
    /// Services whose selector switches; by default every Service of the
    /// environment that selects the workload's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// A Service pointed at the new colour before the switch, for checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
    /// How long the old colour keeps running after the switch.
    #[serde(default)]
    pub drain_seconds: DrainSeconds,
    /// Switch as soon as the new colour is verified; `false` waits for
    /// `slipway promote APP --env ENV`.
    #[serde(default = "default_true")]
    pub auto_promote: bool,
}

fn default_true() -> bool {
    true
}

/// Least drain with `drain_seconds: auto`.
pub const MIN_AUTO_DRAIN: Duration = Duration::from_secs(30);

/// The drain after a switch: `auto` (the default) or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DrainSeconds {
    /// max(30 s, the pods' `terminationGracePeriodSeconds` + their preStop sleep).
    #[default]
    Auto,
    /// Exactly this many seconds.
    Seconds(u64),
}

impl DrainSeconds {
    /// The drain for pods that take `pod_shutdown` to stop (their grace
    /// period plus preStop sleep).
    pub fn resolve(self, pod_shutdown: Duration) -> Duration {
        match self {
            DrainSeconds::Auto => MIN_AUTO_DRAIN.max(pod_shutdown),
            DrainSeconds::Seconds(s) => Duration::from_secs(s),
        }
    }
}

impl Serialize for DrainSeconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DrainSeconds::Auto => s.serialize_str("auto"),
            DrainSeconds::Seconds(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for DrainSeconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Seconds(u64),
            Word(String),
        }
        match Repr::deserialize(d)? {
            Repr::Seconds(n) => Ok(DrainSeconds::Seconds(n)),
            Repr::Word(w) if w == "auto" => Ok(DrainSeconds::Auto),
            Repr::Word(w) => Err(serde::de::Error::custom(format!(
                "drain_seconds must be `auto` or a number of seconds, not `{w}`"
            ))),
        }
    }
}

/// `strategy: {canary: ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// The steps, in order; the rollout is promoted after the last one.
    pub steps: Vec<CanaryStep>,
    /// How the canary's share of traffic is set.
    #[serde(default)]
    pub traffic: Traffic,
}

/// How a canary's share of traffic is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Traffic {
    /// By the ratio of canary to stable replicas behind the one Service.
    #[default]
    Replicas,
    /// By the weights of the Gateway API HTTPRoute whose backendRefs name the Service.
    GatewayApi,
}

/// One canary step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CanaryStep {
    /// Send this percentage (0–100) of traffic to the canary.
    Weight(u8),
    /// Wait: for a duration, or (`pause: {}`) for `slipway promote`.
    Pause(Pause),
    /// Run the named analysis from `analyses`; its failure aborts the rollout.
    Analysis(String),
}

/// A pause: `pause: 2m` (a duration) or `pause: {}` (until promoted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Wait this long.
    For(Duration),
    /// Wait for `slipway promote APP --env ENV`.
    UntilPromoted,
}

impl Serialize for Pause {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Pause::For(d) => s.serialize_str(&format!("{}s", d.as_secs())),
            Pause::UntilPromoted => BTreeMap::<String, String>::new().serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Pause {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Map(BTreeMap<String, serde_json::Value>),
        }
        match Repr::deserialize(d)? {
            Repr::Text(text) => parse_duration(&text)
                .map(Pause::For)
                .map_err(serde::de::Error::custom),
            Repr::Map(map) if map.is_empty() => Ok(Pause::UntilPromoted),
            Repr::Map(_) => Err(serde::de::Error::custom(
                "pause must be a duration (`2m`) or `{}` to wait for `slipway promote`",
            )),
        }
    }
}

/// A duration as `slipway.yaml` writes it: `30s`, `2m`, `1h 30m` or ISO 8601
/// (`PT2M`), as jiff's `SignedDuration` parses them; never negative.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as `30s` or `2m`"))?;
    Duration::try_from(parsed).map_err(|_| format!("`{text}` is negative"))
}

/// Check a strategy's settings; the field and the message on failure.
pub(super) fn validate(strategy: &Strategy) -> Result<(), (String, String)> {
    match strategy {
        Strategy::Rolling => Ok(()),
        Strategy::BlueGreen(bg) => {
            if bg.services.as_ref().is_some_and(Vec::is_empty) {
                return Err((
                    "strategy.blue_green.services".into(),
                    "list at least one Service, or leave it out to switch every Service selecting the workload".into(),
                ));
            }
            Ok(())
        }
        Strategy::Canary(canary) => {
            if canary.steps.is_empty() {
                return Err((
                    "strategy.canary.steps".into(),
                    "list at least one step".into(),
                ));
            }
            for (i, step) in canary.steps.iter().enumerate() {
                if let CanaryStep::Weight(w) = step
                    && *w > 100
                {
                    return Err((
                        format!("strategy.canary.steps[{i}].weight"),
                        format!("{w} is not a percentage from 0 to 100"),
                    ));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_read_as_slipway_yaml_writes_them() {
        let cases: [(&str, &str, Strategy); 4] = [
            ("the word", "rolling", Strategy::Rolling),
            (
                "blue-green defaults",
                "blue_green: {}",
                Strategy::BlueGreen(BlueGreen {
                    auto_promote: true,
                    ..BlueGreen::default()
                }),
            ),
            (
                "blue-green in full",
                "blue_green: {services: [web], preview_service: web-preview, drain_seconds: 45, auto_promote: false}",
                Strategy::BlueGreen(BlueGreen {
                    services: Some(vec!["web".into()]),
                    preview_service: Some("web-preview".into()),
                    drain_seconds: DrainSeconds::Seconds(45),
                    auto_promote: false,
                }),
            ),
            (
                "canary steps",
                "canary: {steps: [{weight: 10}, {pause: 2m}, {analysis: errors}, {pause: {}}], traffic: gateway_api}",
                Strategy::Canary(Canary {
                    steps: vec![
                        CanaryStep::Weight(10),
                        CanaryStep::Pause(Pause::For(Duration::from_secs(120))),
                        CanaryStep::Analysis("errors".into()),
                        CanaryStep::Pause(Pause::UntilPromoted),
                    ],
                    traffic: Traffic::GatewayApi,
                }),
            ),
        ];
        for (name, yaml, want) in cases {
            let got: Strategy =
                serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn bad_strategies_are_refused() {
        let cases = [
            ("unknown strategy", "recreate"),
            ("drain word", "blue_green: {drain_seconds: soon}"),
            ("pause map", "canary: {steps: [{pause: {for: 2m}}]}"),
            ("pause text", "canary: {steps: [{pause: later}]}"),
            ("unknown field", "blue_green: {switch: now}"),
        ];
        for (name, yaml) in cases {
            assert!(serde_saphyr::from_str::<Strategy>(yaml).is_err(), "{name}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (
                "no services",
                "blue_green: {services: []}",
                "strategy.blue_green.services",
            ),
            ("no steps", "canary: {steps: []}", "strategy.canary.steps"),
            (
                "weight over 100",
                "canary: {steps: [{weight: 150}]}",
                "strategy.canary.steps[0].weight",
            ),
        ];
        for (name, yaml, field) in cases {
            let strategy: Strategy = serde_saphyr::from_str(yaml).unwrap();
            assert_eq!(validate(&strategy).unwrap_err().0, field, "{name}");
        }
    }

    #[test]
    fn the_automatic_drain_covers_the_pods_shutdown() {
        let cases = [
            ("quick pods", DrainSeconds::Auto, 5, 30),
            ("slow pods", DrainSeconds::Auto, 75, 75),
            ("fixed", DrainSeconds::Seconds(10), 75, 10),
        ];
        for (name, drain, shutdown, want) in cases {
            assert_eq!(
                drain.resolve(Duration::from_secs(shutdown)),
                Duration::from_secs(want),
                "{name}"
            );
        }
    }
}
