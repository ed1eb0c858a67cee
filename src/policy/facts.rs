//! What the store knows that a decision depends on, as plain data.
//!
//! The store gathers one [`Facts`] per request (see `Store::facts_for`); tests
//! and `policies/tests/*.yaml` write them by hand.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::{ImageRef, PipelineLevel, PipelineStatus, RolloutVerdict, SourceInfo};

/// The latest known state of one pipeline (or one job) on the image's source commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineFact {
    /// Workflow, pipeline or job name (empty when the sender gave none).
    #[serde(default)]
    pub name: String,
    /// Whole pipeline or one job.
    #[serde(default)]
    pub level: PipelineLevel,
    /// Its latest status.
    pub status: PipelineStatus,
    /// When that status was recorded.
    pub at: Timestamp,
}

/// What the store recorded when the image was published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactFact {
    /// The digest the tag pointed to when first published, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The source it was built from.
    #[serde(default)]
    pub source: SourceInfo,
    /// When it was built, if the sender said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at: Option<Timestamp>,
}

/// The image the deploy repo currently holds for the target app and environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredFact {
    /// The image.
    pub image: ImageRef,
    /// When that image was built, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at: Option<Timestamp>,
    /// When it was written.
    pub set_at: Timestamp,
}

/// One rollout report for the requested image in the environment it is promoted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutFact {
    /// Verified or failed.
    pub verdict: RolloutVerdict,
    /// When sync reached the verdict.
    pub at: Timestamp,
}

/// Everything evaluation needs to know about one request's world.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// Pipelines and jobs seen for the image's source commit, latest state each.
    #[serde(default)]
    pub pipelines: Vec<PipelineFact>,
    /// The artifact as first recorded (by tag, or by digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactFact>,
    /// Digests published for the same image repository from the same commit, oldest first.
    #[serde(default)]
    pub commit_digests: Vec<String>,
    /// What the target environment holds now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<DesiredFact>,
    /// Rollout reports of this image in the environment the target is promoted from, oldest first.
    #[serde(default)]
    pub upstream_rollouts: Vec<RolloutFact>,
    /// When recent deploys to the target app and environment were written.
    #[serde(default)]
    pub recent_deploys: Vec<Timestamp>,
}

impl Facts {
    /// The source of the image: the event's, completed by what the store recorded.
    pub fn source_of(&self, request_source: &SourceInfo) -> SourceInfo {
        let recorded = self.artifact.as_ref().map(|a| &a.source);
        let pick = |own: &Option<String>, get: fn(&SourceInfo) -> &Option<String>| {
            own.clone()
                .or_else(|| recorded.and_then(|r| get(r).clone()))
        };
        SourceInfo {
            repository: pick(&request_source.repository, |s| &s.repository),
            commit: pick(&request_source.commit, |s| &s.commit),
            git_ref: pick(&request_source.git_ref, |s| &s.git_ref),
            url: pick(&request_source.url, |s| &s.url),
        }
    }
}
