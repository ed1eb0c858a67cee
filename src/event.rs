//! The domain events every webhook provider normalises into.
//!
//! Nothing here knows about HTTP, git or Kubernetes: a provider module turns a
//! verified delivery into one [`DomainEvent`], the store persists it as JSON,
//! and the policy gate and the writers read it back.

use serde::{Deserialize, Serialize};

/// Who sent a delivery. Each provider has its own route and verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// GitHub repository, organisation or app webhooks.
    GitHub,
    /// GitLab project or group webhooks.
    GitLab,
    /// Any CI system or registry speaking Standard Webhooks.
    Generic,
    /// Harbor registry webhooks.
    Harbor,
    /// Docker Hub repository webhooks (unsigned, per-hook URL token).
    DockerHub,
    /// Quay repository notifications (unsigned, per-hook URL token).
    Quay,
    /// Google Cloud Pub/Sub push deliveries (Cloud Build notifications),
    /// authenticated by a Google-signed OIDC token.
    PubSub,
    /// Slipway's own sync role reporting rollouts.
    Sync,
    /// An operator's `slipway rollback` or `slipway promote`.
    Operator,
}

impl Provider {
    /// The lowercase name used in routes, metrics labels and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Generic => "generic",
            Provider::Harbor => "harbor",
            Provider::DockerHub => "dockerhub",
            Provider::Quay => "quay",
            Provider::PubSub => "pubsub",
            Provider::Sync => "sync",
            Provider::Operator => "operator",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::image::ImageRef;

/// Where an artifact or pipeline came from in source control.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Source repository, as `owner/name` (GitHub) or `group/project` (GitLab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Full commit SHA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Full git ref (`refs/heads/main`, `refs/tags/v1.2.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// A link a person can follow (commit, pipeline or release page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Outcome of a CI pipeline or workflow run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineStatus {
    /// Finished and every required job passed.
    Success,
    /// Finished with a failed job.
    Failure,
    /// Stopped before finishing.
    Cancelled,
    /// Not finished yet (queued, running, waiting).
    Running,
    /// Finished in a state that is neither success nor failure (skipped, neutral).
    Other,
}

/// Test results reported with a pipeline, when the sender includes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSummary {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that were skipped.
    #[serde(default)]
    pub skipped: u64,
}

/// A container image was pushed to a registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactPublished {
    /// The image pushed.
    pub image: ImageRef,
    /// The source it was built from, when the sender knows it.
    #[serde(default)]
    pub source: SourceInfo,
    /// The pipeline that built it, when the sender reports it with the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineCompleted>,
    /// When the image was built or pushed (RFC 3339), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at: Option<String>,
}

/// A CI pipeline, workflow run or job finished (or changed state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineCompleted {
    /// The commit and ref the pipeline ran on.
    pub source: SourceInfo,
    /// What it concluded.
    pub status: PipelineStatus,
    /// Workflow, pipeline or job name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Link to the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Test results, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestSummary>,
    /// Whether this is a whole pipeline or one job of it.
    #[serde(default)]
    pub level: PipelineLevel,
    /// The sender's identity of the run and its own clock, which order this
    /// result against others for the same commit (see [`RunClock`]).
    #[serde(default, skip_serializing_if = "RunClock::is_unknown")]
    pub run: RunClock,
}

/// The sender's identity of a run and its own time for one result of it.
///
/// Results arrive in any order (redeliveries, retries, slow queues); these
/// fields, not the arrival order, say which result is the newest:
/// GitHub `workflow_run.id`, `run_attempt` and `updated_at`; GitLab pipeline
/// `id` and `finished_at`, and for a job its pipeline and job id (a retried
/// job gets a new, larger id); the generic body's `pipeline.id`, `attempt` and
/// `finished_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunClock {
    /// The sender's id of the run (a workflow run, a pipeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// A number that grows with every retry of the same run: GitHub
    /// `run_attempt`, a GitLab job's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u64>,
    /// When the sender says the result happened (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

impl RunClock {
    /// Whether the sender said nothing about the run.
    pub fn is_unknown(&self) -> bool {
        self.run_id.is_none() && self.attempt.is_none() && self.at.is_none()
    }

    /// Whether a result with this clock replaces one with `earlier`'s, by
    /// the sender's clock: within one run the higher attempt, then the later
    /// time; across runs the later time. `None` when the clocks cannot tell
    /// (the caller then keeps the arrival order).
    pub fn supersedes(&self, earlier: &RunClock) -> Option<bool> {
        let same_run = matches!((&self.run_id, &earlier.run_id), (Some(a), Some(b)) if a == b);
        if same_run
            && let (Some(a), Some(b)) = (self.attempt, earlier.attempt)
            && a != b
        {
            return Some(a > b);
        }
        let time = |clock: &RunClock| clock.at.as_deref()?.parse::<jiff::Timestamp>().ok();
        match (time(self), time(earlier)) {
            (Some(a), Some(b)) if a != b => Some(a > b),
            _ => None,
        }
    }
}

/// A whole pipeline's result, or one job's. A job's success says nothing
/// about the pipeline; a job's failure means the pipeline failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineLevel {
    /// A whole pipeline or workflow run.
    #[default]
    Pipeline,
    /// One job of a pipeline.
    Job,
}

/// A branch or tag was pushed (created, moved or deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefPushed {
    /// Repository and the ref pushed; `commit` is the new head.
    pub source: SourceInfo,
    /// The previous head, when the ref existed before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The ref was deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// A pull request or merge request was merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMerged {
    /// Repository, target branch (as `git_ref`) and the merge commit.
    pub source: SourceInfo,
    /// PR or MR number, when the payload carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// The branch that was merged, when the payload names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_branch: Option<String>,
}

/// A release was published for a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePublished {
    /// Repository and the release tag (as `git_ref`, `refs/tags/<tag>`).
    pub source: SourceInfo,
    /// Tag name.
    pub tag: String,
    /// Release name, if different from the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What sync concluded about one rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutVerdict {
    /// The cluster reports the rollout complete and healthy.
    Verified,
    /// The rollout failed or timed out and was rolled back.
    Failed,
}

/// Sync's signed report on a rollout of one app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutReported {
    /// App name from the deploy repo's `slipway.yaml`.
    pub app: String,
    /// Environment name.
    pub environment: String,
    /// Deploy-repo commit that was applied.
    pub revision: String,
    /// The app's image in that revision, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    /// Verified or failed.
    pub verdict: RolloutVerdict,
    /// Why it failed, for a person to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A failed rollout's failing pods: their last log lines and Warning
    /// Events, bounded (see `sync::evidence`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<PodEvidence>,
    /// When sync reached the verdict (RFC 3339).
    pub at: String,
}

/// What one failing container of a failed rollout said: its last log
/// lines and its pod's Warning Events, each line bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEvidence {
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// Whether `log` is the previous (terminated) run's, as for a
    /// crash-looping container.
    pub previous: bool,
    /// The last log lines, oldest first.
    #[serde(default)]
    pub log: Vec<String>,
    /// The pod's Warning Events as `Reason: message`, oldest first.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OperatorAction {
    /// Put an older image back into `environment`: the one named by `to` (a
    /// tag or digest of the app's image), or the last verified one before the
    /// current.
    Rollback {
        /// Tag or `sha256:` digest to return to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// Promote the image verified in the environment before `environment` into it.
    Promote,
}

/// An operator's request, signed by the `slipway` CLI and gated like any webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRequested {
    /// App name.
    pub app: String,
    /// Target environment.
    pub environment: String,
    /// Rollback or promote.
    #[serde(flatten)]
    pub action: OperatorAction,
    /// Who asked (the CLI sends the local user name).
    pub requested_by: String,
}

/// One normalised event. The variant is stored as `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DomainEvent {
    /// A container image was pushed.
    ArtifactPublished(ArtifactPublished),
    /// One push that named several artifacts (a Harbor push with several
    /// tags). Each is considered on its own; what could not be is listed.
    ArtifactsPublished {
        /// The artifacts, in the sender's order.
        artifacts: Vec<ArtifactPublished>,
        /// Why each part of the push that is not an artifact was skipped.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<String>,
    },
    /// A pipeline or workflow finished.
    PipelineCompleted(PipelineCompleted),
    /// A branch or tag was pushed.
    RefPushed(RefPushed),
    /// A pull/merge request was merged.
    ChangeMerged(ChangeMerged),
    /// A release was published.
    ReleasePublished(ReleasePublished),
    /// Sync reported a rollout.
    RolloutReported(RolloutReported),
    /// An operator asked for a rollback or a promotion.
    OperatorRequested(OperatorRequested),
    /// The sender checked the hook works (GitHub `ping`).
    Ping,
    /// A genuine delivery Slipway has no use for; kept so the history says so.
    Ignored {
        /// Why it was not acted on.
        reason: String,
    },
}

impl DomainEvent {
    /// The artifacts this event publishes: one, several or none.
    pub fn artifacts(&self) -> &[ArtifactPublished] {
        match self {
            DomainEvent::ArtifactPublished(artifact) => std::slice::from_ref(artifact),
            DomainEvent::ArtifactsPublished { artifacts, .. } => artifacts,
            _ => &[],
        }
    }

    /// Short name of the variant, for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::ArtifactPublished(_) => "artifact_published",
            DomainEvent::ArtifactsPublished { .. } => "artifacts_published",
            DomainEvent::PipelineCompleted(_) => "pipeline_completed",
            DomainEvent::RefPushed(_) => "ref_pushed",
            DomainEvent::ChangeMerged(_) => "change_merged",
            DomainEvent::ReleasePublished(_) => "release_published",
            DomainEvent::RolloutReported(_) => "rollout_reported",
            DomainEvent::OperatorRequested(_) => "operator_requested",
            DomainEvent::Ping => "ping",
            DomainEvent::Ignored { .. } => "ignored",
        }
    }
}

/// A verified delivery, ready to be stored: who sent it, the sender's own
/// delivery id (the de-duplication key), the sender's event name and the
/// normalised event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The sender.
    pub provider: Provider,
    /// The sender's delivery id (`X-GitHub-Delivery`, `webhook-id`, ...).
    pub delivery_id: String,
    /// The sender's event name (`push`, `Pipeline Hook`, ...).
    pub event_type: String,
    /// The normalised event.
    pub event: DomainEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_ordered_by_the_senders_clock() {
        let clock = |run: Option<&str>, attempt: Option<u64>, at: Option<&str>| RunClock {
            run_id: run.map(String::from),
            attempt,
            at: at.map(String::from),
        };
        let t9 = Some("2026-06-10T09:00:00Z");
        let t910 = Some("2026-06-10T09:10:00Z");
        let cases = [
            (
                "higher attempt of one run",
                clock(Some("7"), Some(2), t9),
                clock(Some("7"), Some(1), t910),
                Some(true),
            ),
            (
                "late lower attempt",
                clock(Some("7"), Some(1), t9),
                clock(Some("7"), Some(2), t910),
                Some(false),
            ),
            (
                "same attempt, later time",
                clock(Some("7"), Some(1), t910),
                clock(Some("7"), Some(1), t9),
                Some(true),
            ),
            (
                "other run, later time",
                clock(Some("8"), Some(1), t910),
                clock(Some("7"), Some(3), t9),
                Some(true),
            ),
            (
                "other run, earlier time",
                clock(Some("8"), Some(5), t9),
                clock(Some("7"), Some(1), t910),
                Some(false),
            ),
            ("no clocks", RunClock::default(), RunClock::default(), None),
            (
                "one time only",
                clock(None, None, t9),
                RunClock::default(),
                None,
            ),
            (
                "equal times",
                clock(None, None, t9),
                clock(None, None, t9),
                None,
            ),
        ];
        for (row, newer, older, want) in cases {
            assert_eq!(newer.supersedes(&older), want, "{row}");
        }
    }

    #[test]
    fn events_round_trip_through_json_with_their_kind() {
        let event = DomainEvent::Ignored {
            reason: "star".into(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "ignored");
        assert_eq!(serde_json::from_value::<DomainEvent>(json).unwrap(), event);
    }
}
