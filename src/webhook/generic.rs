//! Standard Webhooks deliveries: the generic artifact event any CI system or
//! registry can send (`/hooks/generic`), sync's own rollout reports
//! (`/hooks/rollouts`) and operators' requests (`/hooks/operator`). Same
//! scheme, different secrets and bodies.

use serde::Deserialize;

use crate::event::{
    ArtifactPublished, Delivery, DomainEvent, OperatorRequested, PipelineCompleted, PipelineLevel,
    Provider, RolloutReported, RunClock, SourceInfo, TestSummary,
};

use super::normalise::{Required, non_empty, pipeline_status, reported_image};
use super::signature::{StandardHeaders, StandardKey, verify_standard};
use super::{Hook, Inbound, Rejection, checked_delivery_id, parse_json};

/// Event type of the generic body when it names none.
pub const ARTIFACT_PUBLISHED: &str = "artifact.published";
/// Event type of a generic pipeline result without an image.
pub const PIPELINE_COMPLETED: &str = "pipeline.completed";
/// Event type of sync's reports.
pub const ROLLOUT_REPORTED: &str = "rollout.reported";
/// Event type of operator requests.
pub const OPERATOR_REQUESTED: &str = "operator.requested";

/// A Standard Webhooks provider: generic CI, or sync's reports.
#[derive(Debug, Clone)]
pub struct StandardHook {
    provider: Provider,
    keys: Vec<StandardKey>,
    tolerance_secs: u64,
}

impl StandardHook {
    /// The generic artifact hook.
    pub fn generic(keys: Vec<StandardKey>, tolerance_secs: u64) -> Self {
        StandardHook {
            provider: Provider::Generic,
            keys,
            tolerance_secs,
        }
    }

    /// The hook that takes operators' rollback and promote requests.
    pub fn operator(keys: Vec<StandardKey>, tolerance_secs: u64) -> Self {
        StandardHook {
            provider: Provider::Operator,
            keys,
            tolerance_secs,
        }
    }

    /// The hook that takes sync's rollout reports.
    pub fn sync_reports(keys: Vec<StandardKey>, tolerance_secs: u64) -> Self {
        StandardHook {
            provider: Provider::Sync,
            keys,
            tolerance_secs,
        }
    }
}

impl Hook for StandardHook {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn receive(&self, request: &Inbound<'_>) -> Result<Delivery, Rejection> {
        request.require_json()?;
        let headers = StandardHeaders {
            id: request.required_header("webhook-id")?,
            timestamp: request.required_header("webhook-timestamp")?,
            signature: request.header("webhook-signature"),
        };
        verify_standard(
            &self.keys,
            headers,
            request.body,
            request.now,
            self.tolerance_secs,
        )?;
        let delivery_id = checked_delivery_id(headers.id)?;
        let (event_type, event) = match self.provider {
            Provider::Sync => (
                ROLLOUT_REPORTED.to_string(),
                normalise_report(request.body)?,
            ),
            Provider::Operator => (
                OPERATOR_REQUESTED.to_string(),
                normalise_operator(request.body)?,
            ),
            _ => {
                let body: GenericBody = parse_json(request.body)?;
                (body.kind.clone(), body.into_event()?)
            }
        };
        Ok(Delivery {
            provider: self.provider,
            delivery_id,
            event_type,
            event,
        })
    }
}

/// The documented JSON body of `/hooks/generic`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericBody {
    /// `artifact.published` (default) or `pipeline.completed`.
    #[serde(rename = "type", default = "default_kind")]
    pub kind: String,
    /// Image repository, or a full reference `repo[:tag][@digest]`.
    #[serde(default)]
    pub image: Option<String>,
    /// Tag; overrides a tag in `image`.
    #[serde(default)]
    pub tag: Option<String>,
    /// Manifest digest `sha256:<64 hex>`; overrides one in `image`.
    #[serde(default)]
    pub digest: Option<String>,
    /// Where it was built from.
    #[serde(default)]
    pub source: GenericSource,
    /// The pipeline that built it.
    #[serde(default)]
    pub pipeline: Option<GenericPipeline>,
    /// When it was built (RFC 3339).
    #[serde(default)]
    pub built_at: Option<String>,
}

fn default_kind() -> String {
    ARTIFACT_PUBLISHED.to_string()
}

/// `source` of the generic body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericSource {
    /// `owner/name` of the source repository.
    #[serde(default)]
    pub repository: Option<String>,
    /// Full commit SHA.
    #[serde(default)]
    pub commit: Option<String>,
    /// Full git ref.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// Link to the commit or build.
    #[serde(default)]
    pub url: Option<String>,
}

/// `pipeline` of the generic body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericPipeline {
    /// `success`, `failed`, `canceled`, ...; must not be empty.
    pub status: Required,
    /// The CI system's id of the run (a number or a string): results of one
    /// run are ordered by `attempt`, then `finished_at`.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// Which try of the run this is (1, 2, ...), when the CI system retries runs.
    #[serde(default)]
    pub attempt: Option<u64>,
    /// When the run finished (RFC 3339), by the CI system's clock.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Link to the run.
    #[serde(default)]
    pub url: Option<String>,
    /// Pipeline name.
    #[serde(default)]
    pub name: Option<String>,
    /// Test results.
    #[serde(default)]
    pub tests: Option<TestSummary>,
}

impl GenericBody {
    /// The domain event this body describes, or why it cannot be one.
    pub fn into_event(self) -> Result<DomainEvent, Rejection> {
        let source = SourceInfo {
            repository: non_empty(self.source.repository.as_deref()),
            commit: non_empty(self.source.commit.as_deref()),
            git_ref: non_empty(self.source.git_ref.as_deref()),
            url: non_empty(self.source.url.as_deref()),
        };
        let pipeline = self
            .pipeline
            .map(|p| {
                let finished_at = non_empty(p.finished_at.as_deref());
                if let Some(at) = &finished_at
                    && at.parse::<jiff::Timestamp>().is_err()
                {
                    return Err(Rejection::BadRequest(
                        "pipeline.finished_at: not an RFC 3339 time".into(),
                    ));
                }
                Ok(PipelineCompleted {
                    source: source.clone(),
                    status: pipeline_status(&p.status),
                    name: non_empty(p.name.as_deref()),
                    url: non_empty(p.url.as_deref()),
                    tests: p.tests,
                    level: PipelineLevel::Pipeline,
                    run: RunClock {
                        run_id: p.id.as_ref().and_then(run_id),
                        attempt: p.attempt,
                        at: finished_at,
                    },
                })
            })
            .transpose()?;
        match self.kind.as_str() {
            PIPELINE_COMPLETED => pipeline
                .map(DomainEvent::PipelineCompleted)
                .ok_or_else(|| Rejection::BadRequest("pipeline.completed needs a pipeline".into())),
            ARTIFACT_PUBLISHED => {
                let reference = non_empty(self.image.as_deref()).ok_or_else(|| {
                    Rejection::BadRequest("image: missing (artifact.published needs one)".into())
                })?;
                let image = reported_image(
                    "image",
                    &reference,
                    self.tag.as_deref(),
                    self.digest.as_deref(),
                )?;
                Ok(DomainEvent::ArtifactPublished(ArtifactPublished {
                    image,
                    source,
                    pipeline,
                    built_at: non_empty(self.built_at.as_deref()),
                }))
            }
            other => Err(Rejection::BadRequest(format!("unknown type {other:?}"))),
        }
    }
}

/// A run id as text: a JSON string or number, never empty.
fn run_id(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => non_empty(Some(s)),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Normalise a generic body without verifying it.
pub fn normalise_artifact(body: &[u8]) -> Result<DomainEvent, Rejection> {
    parse_json::<GenericBody>(body)?.into_event()
}

/// Normalise one of sync's rollout reports.
pub fn normalise_report(body: &[u8]) -> Result<DomainEvent, Rejection> {
    Ok(DomainEvent::RolloutReported(parse_json::<RolloutReported>(
        body,
    )?))
}

/// Normalise an operator request, refusing unsafe app or environment names.
pub fn normalise_operator(body: &[u8]) -> Result<DomainEvent, Rejection> {
    let request: OperatorRequested = parse_json(body)?;
    for (field, value) in [("app", &request.app), ("environment", &request.environment)] {
        if !crate::repoconfig::is_safe_name(value) {
            return Err(Rejection::BadRequest(format!(
                "{field} is not a valid name"
            )));
        }
    }
    Ok(DomainEvent::OperatorRequested(request))
}
