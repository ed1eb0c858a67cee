//! The record of a progressive rollout (blue-green or canary), kept in the
//! sync status so that a restarted sync finds the rollout where it stood:
//! which colour serves, which one is new, the phase reached and why a
//! cleanup runs. Every change of phase is stored before the step it names
//! touches the cluster.

use serde::{Deserialize, Serialize};

/// Where a progressive rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutPhase {
    /// No rollout in flight: the stable colour serves alone.
    Idle,
    /// The new revision is applied beside the stable one and verified; it
    /// gets no traffic (blue-green) or only its step's share (canary).
    Deploying,
    /// Verified; waiting for `slipway promote APP --env ENV`.
    Paused,
    /// Canary: running its steps (weights, pauses, analyses).
    Stepping,
    /// Blue-green: the Services' selectors are being moved to the new colour.
    Switching,
    /// Blue-green: switched; the old colour keeps running until `drain_until`.
    Draining,
    /// Canary: at 100 %, the stable Deployment takes the new template.
    Promoting,
    /// Undoing a rollout that failed, was aborted or was superseded:
    /// traffic back to the stable colour, then the new one deleted.
    CleaningUp,
}

impl RolloutPhase {
    /// The name used in the API, labels and history.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutPhase::Idle => "idle",
            RolloutPhase::Deploying => "deploying",
            RolloutPhase::Paused => "paused",
            RolloutPhase::Stepping => "stepping",
            RolloutPhase::Switching => "switching",
            RolloutPhase::Draining => "draining",
            RolloutPhase::Promoting => "promoting",
            RolloutPhase::CleaningUp => "cleaning_up",
        }
    }

    /// Whether a rollout is under way (including its cleanup).
    pub fn in_flight(self) -> bool {
        self != RolloutPhase::Idle
    }
}

/// One revision's Deployments (a colour, or a canary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Colour {
    /// Short hash of its pod templates: the value of `slipway.dev/revision`
    /// on its Deployments and pods; empty for a workload that predates the
    /// strategy and carries no such label.
    pub revision: String,
    /// The deploy-repo commit it was rendered from.
    pub commit: String,
    /// Its Deployments, as `namespace/name`.
    pub deployments: Vec<String>,
}

/// Why a rollout ended without being promoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutEnd {
    /// Verified, switched (or promoted) and drained.
    Promoted,
    /// Its verification or an analysis failed.
    Failed,
    /// `slipway abort APP --env ENV`.
    Aborted,
    /// A newer revision arrived before the switch.
    Superseded,
}

impl RolloutEnd {
    /// The name used in the API and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutEnd::Promoted => "promoted",
            RolloutEnd::Failed => "failed",
            RolloutEnd::Aborted => "aborted",
            RolloutEnd::Superseded => "superseded",
        }
    }
}

/// The state of an environment's progressive rollouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// `blue_green` or `canary`.
    pub strategy: String,
    /// The phase reached.
    pub phase: RolloutPhase,
    /// When the phase was entered (RFC 3339).
    pub phase_since: String,
    /// The colour that serves (before a switch: the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<Colour>,
    /// The revision being rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Colour>,
    /// When the candidate's rollout started (RFC 3339): its deadline counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Blue-green: when the drain ends and the old colour is deleted (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_until: Option<String>,
    /// Whether traffic reaches the candidate (switched, or a canary weight above 0).
    #[serde(default)]
    pub switched: bool,
    /// The candidate is the last verified revision, rolled out first to
    /// move traffic off a workload that predates the strategy; a newer
    /// revision waits for it instead of superseding it.
    #[serde(default)]
    pub adoption: bool,
    /// Canary: the index of the current step.
    #[serde(default)]
    pub step: usize,
    /// Canary: the percentage of traffic the canary gets.
    #[serde(default)]
    pub weight: u8,
    /// Canary: when a timed pause ends (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_until: Option<String>,
    /// Canary: the runs of the current step's analysis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysis_runs: Vec<serde_json::Value>,
    /// How the last rollout ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<RolloutEnd>,
    /// Why it failed or was cleaned up (one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl RolloutRecord {
    /// A record with nothing rolled out yet.
    pub fn idle(strategy: &str) -> Self {
        RolloutRecord {
            strategy: strategy.into(),
            phase: RolloutPhase::Idle,
            phase_since: super::now_rfc3339(),
            stable: None,
            candidate: None,
            started_at: None,
            drain_until: None,
            switched: false,
            adoption: false,
            step: 0,
            weight: 0,
            pause_until: None,
            analysis_runs: Vec::new(),
            end: None,
            cause: None,
        }
    }

    /// Enter `phase` now.
    pub fn enter(&mut self, phase: RolloutPhase) {
        self.phase = phase;
        self.phase_since = super::now_rfc3339();
    }
}
