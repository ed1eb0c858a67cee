//! Google Cloud Build's `Build` resource (what Cloud Build publishes on the
//! `cloud-builds` Pub/Sub topic) turned into domain events. Only the meaning
//! lives here; [`super::pubsub`] verifies and unwraps the push envelope.
//!
//! Format: <https://cloud.google.com/build/docs/api/reference/rest/v1/projects.builds#Build>.
//! A finished build is a pipeline result for its source commit; each entry of
//! `results.images` of a successful build is an artifact built by it.

use std::collections::HashMap;

use serde::Deserialize;

use crate::event::{
    ArtifactPublished, DomainEvent, PipelineCompleted, PipelineLevel, RunClock, SourceInfo,
};

use super::Rejection;
use super::normalise::{
    Required, branch_ref, is_commit_sha, non_empty, pipeline_status, reported_image, tag_ref,
};

/// Build statuses that end a build; others (`QUEUED`, `WORKING`, ...) are ignored.
pub const FINISHED: &[&str] = &[
    "SUCCESS",
    "FAILURE",
    "TIMEOUT",
    "CANCELLED",
    "INTERNAL_ERROR",
];

/// The fields of a `Build` that Slipway reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Build {
    #[serde(default)]
    id: Option<String>,
    status: Required,
    #[serde(default)]
    substitutions: HashMap<String, String>,
    #[serde(default)]
    source_provenance: Option<SourceProvenance>,
    #[serde(default)]
    results: Option<Results>,
    #[serde(default)]
    log_url: Option<String>,
    #[serde(default)]
    finish_time: Option<String>,
    #[serde(default)]
    build_trigger_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SourceProvenance {
    #[serde(default)]
    resolved_repo_source: Option<RepoSource>,
    #[serde(default)]
    resolved_git_source: Option<GitSource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoSource {
    #[serde(default)]
    repo_name: Option<String>,
    #[serde(default)]
    commit_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GitSource {
    #[serde(default)]
    revision: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Results {
    #[serde(default)]
    images: Vec<BuiltImage>,
}

#[derive(Debug, Deserialize)]
struct BuiltImage {
    name: Required,
    #[serde(default)]
    digest: Option<String>,
}

/// Normalise a Cloud Build `Build` resource (JSON). A 400 names the field
/// (`status: missing`, `results.images[0].name: ...`).
pub fn normalise(build_json: &[u8]) -> Result<DomainEvent, Rejection> {
    let build: Build = super::parse_json(build_json)?;
    if !FINISHED.contains(&&*build.status) {
        return Ok(DomainEvent::Ignored {
            reason: format!(
                "Cloud Build status {} is not a finished build",
                build.status
            ),
        });
    }
    let source = source(&build);
    let pipeline = PipelineCompleted {
        source: source.clone(),
        status: pipeline_status(&build.status),
        name: non_empty(build.substitutions.get("TRIGGER_NAME").map(String::as_str))
            .or_else(|| non_empty(build.build_trigger_id.as_deref()))
            .or_else(|| Some("cloud-build".to_string())),
        url: non_empty(build.log_url.as_deref()),
        tests: None,
        level: PipelineLevel::Pipeline,
        run: RunClock {
            run_id: non_empty(build.id.as_deref()),
            attempt: None,
            at: non_empty(build.finish_time.as_deref()),
        },
    };
    let images = build.results.map(|r| r.images).unwrap_or_default();
    if &*build.status != "SUCCESS" || images.is_empty() {
        return Ok(DomainEvent::PipelineCompleted(pipeline));
    }
    let mut artifacts = Vec::new();
    let mut skipped = Vec::new();
    for (i, built) in images.iter().enumerate() {
        let field = format!("results.images[{i}].name");
        let image = reported_image(&field, &built.name, None, built.digest.as_deref())?;
        if image.tag.is_none() {
            // Cloud Build lists an image pushed without a tag both bare and as
            // `:latest`; only a tag is a release.
            skipped.push(format!("{image}: untagged name, not deployed"));
            continue;
        }
        artifacts.push(ArtifactPublished {
            image,
            source: source.clone(),
            pipeline: Some(pipeline.clone()),
            built_at: pipeline.run.at.clone(),
        });
    }
    Ok(match artifacts.len() {
        0 => DomainEvent::PipelineCompleted(pipeline),
        1 if skipped.is_empty() => DomainEvent::ArtifactPublished(artifacts.remove(0)),
        _ => DomainEvent::ArtifactsPublished { artifacts, skipped },
    })
}

/// The source commit and ref: the trigger's substitutions first, then what
/// Cloud Build resolved the source to.
fn source(build: &Build) -> SourceInfo {
    let sub = |key: &str| non_empty(build.substitutions.get(key).map(String::as_str));
    let provenance = build.source_provenance.as_ref();
    let repo_source = provenance.and_then(|p| p.resolved_repo_source.as_ref());
    let commit = sub("COMMIT_SHA")
        .or_else(|| repo_source.and_then(|r| non_empty(r.commit_sha.as_deref())))
        .or_else(|| {
            provenance
                .and_then(|p| p.resolved_git_source.as_ref())
                .and_then(|g| non_empty(g.revision.as_deref()))
        })
        .filter(|sha| is_commit_sha(sha));
    let git_ref = sub("TAG_NAME")
        .map(|t| tag_ref(&t))
        .or_else(|| sub("BRANCH_NAME").map(|b| branch_ref(&b)));
    SourceInfo {
        repository: sub("REPO_FULL_NAME")
            .or_else(|| sub("REPO_NAME"))
            .or_else(|| repo_source.and_then(|r| non_empty(r.repo_name.as_deref()))),
        commit,
        git_ref,
        url: non_empty(build.log_url.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::PipelineStatus;
    use serde_json::json;

    const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

    fn digest() -> String {
        format!("sha256:{}", "ab".repeat(32))
    }

    fn build(status: &str, images: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "b-1",
            "status": status,
            "substitutions": {"COMMIT_SHA": SHA, "REPO_NAME": "web", "BRANCH_NAME": "main", "TRIGGER_NAME": "push-main"},
            "results": {"images": images},
            "logUrl": "https://console.cloud.google.com/cloud-build/builds/b-1",
            "finishTime": "2026-06-10T09:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn statuses_map_to_results_or_are_ignored() {
        let cases = [
            ("success", "SUCCESS", Some(PipelineStatus::Success)),
            ("failure", "FAILURE", Some(PipelineStatus::Failure)),
            ("timeout", "TIMEOUT", Some(PipelineStatus::Failure)),
            (
                "internal error",
                "INTERNAL_ERROR",
                Some(PipelineStatus::Failure),
            ),
            ("cancelled", "CANCELLED", Some(PipelineStatus::Cancelled)),
            ("working", "WORKING", None),
            ("queued", "QUEUED", None),
            ("expired", "EXPIRED", None),
        ];
        for (row, status, want) in cases {
            let got = normalise(&build(status, json!([]))).unwrap();
            match (got, want) {
                (DomainEvent::PipelineCompleted(p), Some(want)) => {
                    assert_eq!(p.status, want, "{row}");
                    assert_eq!(p.source.commit.as_deref(), Some(SHA), "{row}");
                    assert_eq!(
                        p.source.git_ref.as_deref(),
                        Some("refs/heads/main"),
                        "{row}"
                    );
                    assert_eq!(p.name.as_deref(), Some("push-main"), "{row}");
                    assert_eq!(p.run.run_id.as_deref(), Some("b-1"), "{row}");
                }
                (DomainEvent::Ignored { .. }, None) => {}
                (got, want) => panic!("{row}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn images_of_a_successful_build_are_artifacts_with_their_pipeline() {
        let d = digest();
        let one = json!([{"name": "us-docker.pkg.dev/p/r/web:1.2.0", "digest": d}]);
        let DomainEvent::ArtifactPublished(a) = normalise(&build("SUCCESS", one)).unwrap() else {
            panic!("one artifact");
        };
        assert_eq!(
            a.image.to_string(),
            format!("us-docker.pkg.dev/p/r/web:1.2.0@{d}")
        );
        assert_eq!(a.source.commit.as_deref(), Some(SHA));
        assert_eq!(a.pipeline.unwrap().status, PipelineStatus::Success);

        let bare_and_latest = json!([
            {"name": "gcr.io/p/web", "digest": d},
            {"name": "gcr.io/p/web:latest", "digest": d},
            {"name": "gcr.io/p/web:1.2.0", "digest": d}
        ]);
        let DomainEvent::ArtifactsPublished { artifacts, skipped } =
            normalise(&build("SUCCESS", bare_and_latest)).unwrap()
        else {
            panic!("several artifacts");
        };
        assert_eq!(artifacts.len(), 2);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
    }

    #[test]
    fn a_failed_build_with_images_is_only_a_pipeline_result() {
        let images = json!([{"name": "gcr.io/p/web:1.2.0", "digest": digest()}]);
        let event = normalise(&build("FAILURE", images)).unwrap();
        assert!(
            matches!(event, DomainEvent::PipelineCompleted(p) if p.status == PipelineStatus::Failure)
        );
    }

    #[test]
    fn bad_images_and_missing_status_name_the_field() {
        let cases = [
            (
                "url as image",
                build("SUCCESS", json!([{"name": "http://example.com"}])),
                "results.images[0].name",
            ),
            (
                "no status",
                br#"{"id": "x"}"#.to_vec(),
                "payload: status: missing",
            ),
            (
                "empty status",
                br#"{"status": " "}"#.to_vec(),
                "payload: status: must not be empty",
            ),
        ];
        for (row, body, want) in cases {
            match normalise(&body) {
                Err(Rejection::BadRequest(message)) => {
                    assert!(message.contains(want), "{row}: {message}")
                }
                other => panic!("{row}: {other:?}"),
            }
        }
    }

    #[test]
    fn provenance_gives_the_commit_when_there_are_no_substitutions() {
        let body = serde_json::to_vec(&json!({
            "status": "SUCCESS",
            "sourceProvenance": {"resolvedRepoSource": {"repoName": "acme/web", "commitSha": SHA}},
            "substitutions": {"TAG_NAME": "v1.2.0"}
        }))
        .unwrap();
        let DomainEvent::PipelineCompleted(p) = normalise(&body).unwrap() else {
            panic!("a pipeline result");
        };
        assert_eq!(p.source.commit.as_deref(), Some(SHA));
        assert_eq!(p.source.repository.as_deref(), Some("acme/web"));
        assert_eq!(p.source.git_ref.as_deref(), Some("refs/tags/v1.2.0"));
    }
}
