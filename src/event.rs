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

/// A container image as a webhook describes it: repository plus tag and/or
/// digest. The repository includes its registry host when the sender names
/// one (`ghcr.io/acme/web`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// Registry host and path, without tag or digest.
    pub repository: String,
    /// The tag, when the artifact has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The manifest digest (`sha256:<64 hex>`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

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
    /// When sync reached the verdict (RFC 3339).
    pub at: String,
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
    /// Short name of the variant, for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::ArtifactPublished(_) => "artifact_published",
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
    fn image_ref_displays_tag_and_digest() {
        let cases = [
            ("repo only", None, None, "ghcr.io/acme/web"),
            ("tag", Some("1.2.3"), None, "ghcr.io/acme/web:1.2.3"),
            (
                "digest",
                None,
                Some("sha256:ab"),
                "ghcr.io/acme/web@sha256:ab",
            ),
            (
                "both",
                Some("1.2.3"),
                Some("sha256:ab"),
                "ghcr.io/acme/web:1.2.3@sha256:ab",
            ),
        ];
        for (name, tag, digest, want) in cases {
            let image = ImageRef {
                repository: "ghcr.io/acme/web".into(),
                tag: tag.map(String::from),
                digest: digest.map(String::from),
            };
            assert_eq!(image.to_string(), want, "{name}");
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
