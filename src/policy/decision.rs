//! The gate's answer and the trace that explains it.

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::repoconfig::WriteMode;

/// What a waiting request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitFor {
    /// A pipeline result for the image's source commit.
    PipelineResult,
    /// A verified rollout in the environment the target is promoted from.
    Verification,
    /// The minimum soak time in that environment.
    Soak,
    /// The end of a freeze.
    Freeze,
    /// The next deploy window.
    Window,
    /// Room under the rate limit.
    RateLimit,
}

impl WaitFor {
    /// The name used in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitFor::PipelineResult => "pipeline result",
            WaitFor::Verification => "verification",
            WaitFor::Soak => "soak time",
            WaitFor::Freeze => "end of freeze",
            WaitFor::Window => "deploy window",
            WaitFor::RateLimit => "rate limit",
        }
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Deploy it, written this way.
    Allow {
        /// Direct commit or pull request.
        mode: WriteMode,
    },
    /// Do not deploy it.
    Deny {
        /// Every failed rule, as a sentence naming policy and rule.
        reasons: Vec<String>,
    },
    /// Not yet: evaluate again when something changes or at `until`.
    Wait {
        /// The first thing it waits for (pipeline before verification before window...).
        #[serde(rename = "for")]
        waiting_for: WaitFor,
        /// When the decision changes by itself at the latest (a window opens,
        /// a wait runs out and becomes a deny); none when only a new event helps.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
        /// Every waiting rule, as a sentence.
        reasons: Vec<String>,
    },
}

impl Verdict {
    /// `allow`, `deny` or `wait`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Allow { .. } => "allow",
            Verdict::Deny { .. } => "deny",
            Verdict::Wait { .. } => "wait",
        }
    }
}

/// What one rule concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StepResult {
    /// The rule is satisfied.
    Pass,
    /// The rule refuses the request.
    Deny,
    /// The rule may be satisfied later.
    Wait {
        /// What it waits for.
        #[serde(rename = "for")]
        waiting_for: WaitFor,
        /// When it changes by itself, if it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
    },
}

/// One rule consulted: which, what it compared, what it concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    /// The policy (file name without extension), or `slipway.yaml`.
    pub policy: String,
    /// The rule, as its field path (`image.tag_pattern`).
    pub rule: String,
    /// The values compared, in words.
    pub compared: String,
    /// What it concluded.
    #[serde(flatten)]
    pub result: StepResult,
}

impl TraceStep {
    fn sentence(&self) -> String {
        format!("{}: {}: {}", self.policy, self.rule, self.compared)
    }
}

/// A decision with the trace of every rule consulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The app.
    pub app: String,
    /// The environment.
    pub environment: String,
    /// The image, as `repo:tag@digest`.
    pub image: String,
    /// The originating event.
    pub event_id: String,
    /// When it was evaluated.
    pub evaluated_at: Timestamp,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Every rule consulted, in order.
    pub trace: Vec<TraceStep>,
}

impl Decision {
    /// Combine the steps: any deny denies, else any wait waits, else allow with `mode`.
    pub(crate) fn from_steps(head: DecisionHead, mode: WriteMode, trace: Vec<TraceStep>) -> Self {
        let denied: Vec<String> = trace
            .iter()
            .filter(|s| s.result == StepResult::Deny)
            .map(TraceStep::sentence)
            .collect();
        let mut waits: Vec<(WaitFor, Option<Timestamp>, String)> = trace
            .iter()
            .filter_map(|s| match s.result {
                StepResult::Wait { waiting_for, until } => Some((waiting_for, until, s.sentence())),
                _ => None,
            })
            .collect();
        waits.sort_by_key(|w| w.0);
        let verdict = if !denied.is_empty() {
            Verdict::Deny { reasons: denied }
        } else if let Some(first) = waits.first() {
            Verdict::Wait {
                waiting_for: first.0,
                until: waits.iter().filter_map(|w| w.1).min(),
                reasons: waits.iter().map(|w| w.2.clone()).collect(),
            }
        } else {
            Verdict::Allow { mode }
        };
        Decision {
            app: head.app,
            environment: head.environment,
            image: head.image,
            event_id: head.event_id,
            evaluated_at: head.evaluated_at,
            verdict,
            trace,
        }
    }

    /// The decision and its trace as text, for logs, the CLI and pull-request bodies.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{}/{} {}: {}",
            self.app,
            self.environment,
            self.image,
            self.verdict.name().to_uppercase()
        );
        match &self.verdict {
            Verdict::Allow { mode } => {
                let _ = write!(out, " (write by {})", mode.as_str());
            }
            Verdict::Wait {
                waiting_for, until, ..
            } => {
                let _ = write!(out, " for {}", waiting_for.as_str());
                if let Some(until) = until {
                    let _ = write!(out, " (decides itself by {until})");
                }
            }
            Verdict::Deny { .. } => {}
        }
        let _ = writeln!(out, "\nevent {} at {}", self.event_id, self.evaluated_at);
        for step in &self.trace {
            let result = match &step.result {
                StepResult::Pass => "pass".to_string(),
                StepResult::Deny => "DENY".to_string(),
                StepResult::Wait { waiting_for, .. } => format!("WAIT ({})", waiting_for.as_str()),
            };
            let _ = writeln!(
                out,
                "  {:<6} {}: {}: {}",
                result, step.policy, step.rule, step.compared
            );
        }
        out
    }
}

/// The parts of a decision that describe the request.
pub(crate) struct DecisionHead {
    pub app: String,
    pub environment: String,
    pub image: String,
    pub event_id: String,
    pub evaluated_at: Timestamp,
}
