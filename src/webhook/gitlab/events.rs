//! GitLab payloads: the fields Slipway reads, and their normalisation.

use serde::Deserialize;

use crate::event::{
    ChangeMerged, DomainEvent, PipelineCompleted, PipelineLevel, PipelineStatus, RefPushed,
    ReleasePublished, SourceInfo,
};
use crate::webhook::normalise::{branch_ref, non_empty, pipeline_status, real_sha, tag_ref};
use crate::webhook::{Rejection, parse_json};

#[derive(Deserialize, Default)]
struct Project {
    #[serde(default)]
    path_with_namespace: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
}

#[derive(Deserialize, Default)]
struct Repository {
    #[serde(default)]
    homepage: Option<String>,
}

/// `group/project` from the project, or from the repository's home page URL
/// (job hooks carry no `project.path_with_namespace`).
fn project_path(project: &Project, repository: &Repository) -> Option<String> {
    non_empty(project.path_with_namespace.as_deref()).or_else(|| {
        let homepage = repository.homepage.as_deref()?;
        let after_scheme = homepage
            .split_once("://")
            .map_or(homepage, |(_, rest)| rest);
        let (_, path) = after_scheme.split_once('/')?;
        non_empty(Some(path.trim_end_matches('/')))
    })
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    checkout_sha: Option<String>,
    #[serde(default)]
    project: Project,
    #[serde(default)]
    repository: Repository,
}

#[derive(Deserialize)]
struct Pipeline {
    object_attributes: PipelineAttributes,
    #[serde(default)]
    project: Project,
}

#[derive(Deserialize)]
struct PipelineAttributes {
    #[serde(default)]
    id: Option<u64>,
    status: String,
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    tag: bool,
    sha: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Job {
    build_status: String,
    #[serde(default)]
    build_name: Option<String>,
    #[serde(default)]
    build_id: Option<u64>,
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    tag: bool,
    sha: String,
    #[serde(default)]
    project: Project,
    #[serde(default)]
    repository: Repository,
}

#[derive(Deserialize)]
struct MergeRequest {
    object_attributes: MergeAttributes,
    #[serde(default)]
    project: Project,
}

#[derive(Deserialize)]
struct MergeAttributes {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    source_branch: Option<String>,
    #[serde(default)]
    target_branch: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Release {
    #[serde(default)]
    action: Option<String>,
    tag: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    project: Project,
    #[serde(default)]
    commit: Option<Commit>,
}

#[derive(Deserialize)]
struct Commit {
    id: String,
}

fn ignored(reason: impl Into<String>) -> DomainEvent {
    DomainEvent::Ignored {
        reason: reason.into(),
    }
}

/// Normalise a GitLab payload for the hook named in `X-Gitlab-Event`.
pub fn normalise(event_type: &str, body: &[u8]) -> Result<DomainEvent, Rejection> {
    Ok(match event_type {
        "Push Hook" | "Tag Push Hook" => push(parse_json(body)?),
        "Pipeline Hook" => pipeline(parse_json(body)?),
        "Job Hook" => job(parse_json(body)?),
        "Merge Request Hook" => merge_request(parse_json(body)?),
        "Release Hook" => release(parse_json(body)?),
        other => {
            parse_json::<serde_json::Value>(body)?;
            ignored(format!("GitLab event {other:?} is not used"))
        }
    })
}

fn push(p: Push) -> DomainEvent {
    let deleted = p
        .after
        .as_deref()
        .is_some_and(super::super::normalise::is_zero_sha);
    DomainEvent::RefPushed(RefPushed {
        source: SourceInfo {
            repository: project_path(&p.project, &p.repository),
            commit: real_sha(p.checkout_sha.as_deref()).or_else(|| real_sha(p.after.as_deref())),
            git_ref: Some(p.git_ref),
            url: p.project.web_url,
        },
        before: real_sha(p.before.as_deref()),
        deleted,
    })
}

fn run_ref(name: &str, is_tag: bool) -> String {
    if is_tag {
        tag_ref(name)
    } else {
        branch_ref(name)
    }
}

fn pipeline(p: Pipeline) -> DomainEvent {
    let a = p.object_attributes;
    let status = pipeline_status(&a.status);
    if status == PipelineStatus::Running {
        return ignored(format!("pipeline {}", a.status));
    }
    let url = a.url.or_else(|| {
        let web = p.project.web_url.as_deref()?;
        Some(format!("{web}/-/pipelines/{}", a.id?))
    });
    DomainEvent::PipelineCompleted(PipelineCompleted {
        source: SourceInfo {
            repository: project_path(&p.project, &Repository::default()),
            commit: Some(a.sha),
            git_ref: Some(run_ref(&a.git_ref, a.tag)),
            url: p.project.web_url,
        },
        status,
        name: non_empty(a.name.as_deref()),
        url,
        tests: None,
        level: PipelineLevel::Pipeline,
    })
}

fn job(j: Job) -> DomainEvent {
    let status = pipeline_status(&j.build_status);
    if status == PipelineStatus::Running {
        return ignored(format!("job {}", j.build_status));
    }
    let repository = project_path(&j.project, &j.repository);
    let url = match (j.repository.homepage.as_deref(), j.build_id) {
        (Some(home), Some(id)) => Some(format!("{home}/-/jobs/{id}")),
        _ => None,
    };
    DomainEvent::PipelineCompleted(PipelineCompleted {
        source: SourceInfo {
            repository,
            commit: Some(j.sha),
            git_ref: Some(run_ref(&j.git_ref, j.tag)),
            url: j.repository.homepage,
        },
        status,
        name: non_empty(j.build_name.as_deref()),
        url,
        tests: None,
        level: PipelineLevel::Job,
    })
}

fn merge_request(m: MergeRequest) -> DomainEvent {
    let a = m.object_attributes;
    if a.action.as_deref() != Some("merge") {
        return ignored(format!(
            "merge request {}",
            a.action.as_deref().unwrap_or("update")
        ));
    }
    // The MR number is `iid`; the URL ends in it too, for payloads without `iid`.
    let number = a
        .iid
        .or_else(|| a.url.as_deref()?.rsplit('/').next()?.parse().ok());
    DomainEvent::ChangeMerged(ChangeMerged {
        source: SourceInfo {
            repository: project_path(&m.project, &Repository::default()),
            commit: real_sha(a.merge_commit_sha.as_deref()),
            git_ref: non_empty(a.target_branch.as_deref()).map(|b| branch_ref(&b)),
            url: a.url,
        },
        number,
        source_branch: non_empty(a.source_branch.as_deref()),
    })
}

fn release(r: Release) -> DomainEvent {
    if !matches!(r.action.as_deref(), Some("create") | None) {
        return ignored(format!(
            "release {}",
            r.action.as_deref().unwrap_or_default()
        ));
    }
    DomainEvent::ReleasePublished(ReleasePublished {
        source: SourceInfo {
            repository: project_path(&r.project, &Repository::default()),
            commit: r.commit.map(|c| c.id),
            git_ref: Some(tag_ref(&r.tag)),
            url: r.url,
        },
        name: non_empty(r.name.as_deref()).filter(|n| *n != r.tag),
        tag: r.tag,
    })
}
