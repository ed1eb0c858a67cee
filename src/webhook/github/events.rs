//! GitHub payloads: the fields Slipway reads, and their normalisation.

use serde::Deserialize;

use crate::event::{
    ArtifactPublished, ChangeMerged, DomainEvent, PipelineCompleted, PipelineLevel, PipelineStatus,
    RefPushed, ReleasePublished, RunClock, SourceInfo,
};
use crate::image::ImageRef;
use crate::webhook::normalise::{
    Required, bad_image, branch_ref, is_commit_sha, non_empty, pipeline_status, real_sha,
    required_ref, tag_ref, valid_digest,
};
use crate::webhook::{Rejection, parse_json};

#[derive(Deserialize)]
struct Repository {
    full_name: Required,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: Required,
    #[serde(default)]
    before: Option<String>,
    after: Required,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    compare: Option<String>,
    repository: Repository,
}

#[derive(Deserialize)]
struct Run {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    head_sha: Required,
    #[serde(default)]
    head_branch: Option<String>,
    /// The run's id (`workflow_run.id`, `check_suite.id`); a job's own id.
    #[serde(default)]
    id: Option<u64>,
    /// A job's run (`workflow_job.run_id`).
    #[serde(default)]
    run_id: Option<u64>,
    #[serde(default)]
    run_attempt: Option<u64>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RunEvent {
    #[serde(default)]
    action: Option<String>,
    #[serde(alias = "workflow_job", alias = "check_suite")]
    workflow_run: Run,
    repository: Repository,
}

#[derive(Deserialize)]
struct PullRequestBody {
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    head: Branch,
    base: Branch,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: Required,
}

#[derive(Deserialize)]
struct PullRequest {
    action: String,
    number: u64,
    pull_request: PullRequestBody,
    repository: Repository,
}

#[derive(Deserialize)]
struct Release {
    action: String,
    release: ReleaseBody,
    repository: Repository,
}

#[derive(Deserialize)]
struct ReleaseBody {
    tag_name: Required,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Package {
    action: String,
    #[serde(alias = "registry_package")]
    package: PackageBody,
    #[serde(default)]
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct PackageBody {
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    package_type: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    package_version: PackageVersion,
}

#[derive(Deserialize)]
struct PackageVersion {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    package_url: Option<String>,
    #[serde(default)]
    target_commitish: Option<String>,
    #[serde(default)]
    container_metadata: Option<ContainerMetadata>,
}

#[derive(Deserialize, Default)]
struct ContainerMetadata {
    #[serde(default)]
    tag: Option<NamedDigest>,
    #[serde(default)]
    manifest: Option<NamedDigest>,
    #[serde(default)]
    labels: Option<Labels>,
}

#[derive(Deserialize, Default)]
struct NamedDigest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Deserialize, Default)]
struct Labels {
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    all_labels: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

fn ignored(reason: impl Into<String>) -> DomainEvent {
    DomainEvent::Ignored {
        reason: reason.into(),
    }
}

/// Normalise a GitHub payload for the event named in `X-GitHub-Event`.
pub fn normalise(event_type: &str, body: &[u8]) -> Result<DomainEvent, Rejection> {
    Ok(match event_type {
        "ping" => {
            parse_json::<serde_json::Value>(body)?;
            DomainEvent::Ping
        }
        "push" => push(parse_json(body)?)?,
        "workflow_run" | "check_suite" => {
            run(parse_json(body)?, PipelineLevel::Pipeline, event_type)
        }
        "workflow_job" => run(parse_json(body)?, PipelineLevel::Job, event_type),
        "pull_request" => pull_request(parse_json(body)?),
        "release" => release(parse_json(body)?),
        "registry_package" | "package" => package(parse_json(body)?)?,
        other => {
            parse_json::<serde_json::Value>(body)?;
            ignored(format!("GitHub event {other:?} is not used"))
        }
    })
}

fn push(p: Push) -> Result<DomainEvent, Rejection> {
    Ok(DomainEvent::RefPushed(RefPushed {
        source: SourceInfo {
            repository: Some(p.repository.full_name.into()),
            commit: real_sha(Some(&p.after)),
            git_ref: Some(required_ref("ref", &p.git_ref)?),
            url: p.compare,
        },
        before: real_sha(p.before.as_deref()),
        deleted: p.deleted,
    }))
}

fn run(e: RunEvent, level: PipelineLevel, event_type: &str) -> DomainEvent {
    let run = e.workflow_run;
    let finished =
        e.action.as_deref() == Some("completed") || run.status.as_deref() == Some("completed");
    if !finished {
        return ignored(format!("{event_type} not completed yet"));
    }
    let status = run
        .conclusion
        .as_deref()
        .map_or(PipelineStatus::Other, pipeline_status);
    // A workflow run is its own run; a job belongs to its run.
    let run_id = match level {
        PipelineLevel::Pipeline => run.id,
        PipelineLevel::Job => run.run_id,
    };
    let clock = RunClock {
        run_id: run_id.map(|id| id.to_string()),
        attempt: run.run_attempt,
        at: non_empty(run.completed_at.as_deref()).or_else(|| non_empty(run.updated_at.as_deref())),
    };
    DomainEvent::PipelineCompleted(PipelineCompleted {
        source: SourceInfo {
            repository: Some(e.repository.full_name.into()),
            commit: Some(run.head_sha.into()),
            git_ref: non_empty(run.head_branch.as_deref()).map(|b| branch_ref(&b)),
            url: e.repository.html_url,
        },
        status,
        name: non_empty(run.name.as_deref()),
        url: run.html_url.or(run.url),
        tests: None,
        level,
        run: clock,
    })
}

fn pull_request(e: PullRequest) -> DomainEvent {
    let pr = e.pull_request;
    if e.action != "closed" || !pr.merged {
        return ignored(format!(
            "pull request {} {} without merge",
            e.number, e.action
        ));
    }
    DomainEvent::ChangeMerged(ChangeMerged {
        source: SourceInfo {
            repository: Some(e.repository.full_name.into()),
            commit: real_sha(pr.merge_commit_sha.as_deref()),
            git_ref: Some(branch_ref(&pr.base.name)),
            url: pr.html_url,
        },
        number: Some(e.number),
        source_branch: Some(pr.head.name.into()),
    })
}

fn release(e: Release) -> DomainEvent {
    if e.action != "published" {
        return ignored(format!("release {}", e.action));
    }
    DomainEvent::ReleasePublished(ReleasePublished {
        source: SourceInfo {
            repository: Some(e.repository.full_name.into()),
            commit: None,
            git_ref: Some(tag_ref(&e.release.tag_name)),
            url: e.release.html_url,
        },
        tag: e.release.tag_name.into(),
        name: non_empty(e.release.name.as_deref()),
    })
}

fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels.all_labels.as_ref()?.get(key)?.as_str()
}

/// Container packages only. GitHub's examples say `package_type: npm` beside
/// `ecosystem: docker`, so either marker counts.
fn package(e: Package) -> Result<DomainEvent, Rejection> {
    let body = e.package;
    let is_container = [body.ecosystem.as_deref(), body.package_type.as_deref()]
        .into_iter()
        .flatten()
        .any(|t| t.eq_ignore_ascii_case("docker") || t.eq_ignore_ascii_case("container"));
    if e.action != "published" || !is_container {
        return Ok(ignored(format!(
            "package {} is not a published container image",
            e.action
        )));
    }
    let version = body.package_version;
    let Some(url) = non_empty(version.package_url.as_deref()) else {
        return Ok(ignored("container package without a package_url"));
    };
    let metadata = version.container_metadata.unwrap_or_default();
    // A multi-arch push sends one delivery per manifest; only the index is
    // tagged. The per-platform manifests come with an empty tag name and a
    // package_url ending in ':'.
    let tag = metadata
        .tag
        .as_ref()
        .and_then(|t| non_empty(t.name.as_deref()));
    let url = url.trim_end_matches(':');
    // GitHub spells the owner as typed (`Codertocat`); repositories are lowercase.
    let mut image = ImageRef::parse(&url.to_ascii_lowercase())
        .map_err(|e| bad_image("package.package_version.package_url", e))?;
    if image.tag.is_none() {
        image.tag = tag;
    }
    // `version` holds the manifest digest; the metadata digests in GitHub's own
    // examples are too short to be digests, so they are used only when valid.
    image.digest = version
        .version
        .as_deref()
        .and_then(valid_digest)
        .or_else(|| {
            metadata
                .manifest
                .as_ref()?
                .digest
                .as_deref()
                .and_then(valid_digest)
        })
        .or_else(|| {
            metadata
                .tag
                .as_ref()?
                .digest
                .as_deref()
                .and_then(valid_digest)
        });
    let image = ImageRef::from_parts(
        &image.repository,
        image.tag.as_deref(),
        image.digest.as_deref(),
    )
    .map_err(|e| bad_image("package.package_version.container_metadata.tag.name", e))?;
    if image.tag.is_none() {
        return Ok(ignored(format!(
            "{image}: untagged manifest (one platform of a multi-arch push), not deployed; \
             the tagged index is"
        )));
    }
    let labels = metadata.labels.unwrap_or_default();
    let commit = non_empty(labels.revision.as_deref())
        .or_else(|| non_empty(label(&labels, "org.opencontainers.image.revision")))
        .filter(|c| is_commit_sha(c));
    let git_ref = non_empty(version.target_commitish.as_deref())
        .filter(|r| !is_commit_sha(r))
        .map(|r| branch_ref(&r));
    Ok(DomainEvent::ArtifactPublished(ArtifactPublished {
        image,
        source: SourceInfo {
            repository: e.repository.map(|r| r.full_name.into()),
            commit,
            git_ref,
            url: body.html_url,
        },
        pipeline: None,
        built_at: non_empty(label(&labels, "org.opencontainers.image.created")),
    }))
}
