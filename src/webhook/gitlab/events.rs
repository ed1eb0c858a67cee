//! GitLab payloads: the fields Slipway reads, and their normalisation.

use serde::Deserialize;

use crate::event::{
    ChangeMerged, DomainEvent, PipelineCompleted, PipelineLevel, PipelineStatus, RefPushed,
    ReleasePublished, RunClock, SourceInfo,
};
use crate::webhook::normalise::{
    Required, branch_ref, non_empty, pipeline_status, real_sha, required_ref, tag_ref,
};
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
    git_ref: Required,
    #[serde(default)]
    before: Option<String>,
    after: Required,
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
    status: Required,
    #[serde(rename = "ref")]
    git_ref: Required,
    #[serde(default)]
    tag: bool,
    sha: Required,
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Job {
    build_status: Required,
    #[serde(default)]
    build_name: Option<String>,
    #[serde(default)]
    build_id: Option<u64>,
    #[serde(default)]
    pipeline_id: Option<u64>,
    #[serde(default)]
    build_finished_at: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Required,
    #[serde(default)]
    tag: bool,
    sha: Required,
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
    tag: Required,
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
    id: Required,
}

fn ignored(reason: impl Into<String>) -> DomainEvent {
    DomainEvent::Ignored {
        reason: reason.into(),
    }
}

/// Normalise a GitLab payload for the hook named in `X-Gitlab-Event`.
pub fn normalise(event_type: &str, body: &[u8]) -> Result<DomainEvent, Rejection> {
    Ok(match event_type {
        "Push Hook" | "Tag Push Hook" => push(parse_json(body)?)?,
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

fn push(p: Push) -> Result<DomainEvent, Rejection> {
    let deleted = super::super::normalise::is_zero_sha(&p.after);
    Ok(DomainEvent::RefPushed(RefPushed {
        source: SourceInfo {
            repository: project_path(&p.project, &p.repository),
            commit: real_sha(p.checkout_sha.as_deref()).or_else(|| real_sha(Some(&p.after))),
            git_ref: Some(required_ref("ref", &p.git_ref)?),
            url: p.project.web_url,
        },
        before: real_sha(p.before.as_deref()),
        deleted,
    }))
}

/// GitLab's time (`2016-08-12 15:26:29 UTC`, `... +0100`, or RFC 3339) as RFC 3339.
fn gitlab_time(text: Option<&str>) -> Option<String> {
    let text = non_empty(text)?;
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t.to_string());
    }
    let zoned = text.replace(" UTC", " +0000");
    jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S %z", &zoned)
        .and_then(|t| t.to_timestamp())
        .ok()
        .map(|t| t.to_string())
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
            commit: Some(a.sha.into()),
            git_ref: Some(run_ref(&a.git_ref, a.tag)),
            url: p.project.web_url,
        },
        status,
        name: non_empty(a.name.as_deref()),
        url,
        tests: None,
        level: PipelineLevel::Pipeline,
        run: RunClock {
            run_id: a.id.map(|id| id.to_string()),
            attempt: None,
            at: gitlab_time(a.finished_at.as_deref()),
        },
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
            commit: Some(j.sha.into()),
            git_ref: Some(run_ref(&j.git_ref, j.tag)),
            url: j.repository.homepage,
        },
        status,
        name: non_empty(j.build_name.as_deref()),
        url,
        tests: None,
        level: PipelineLevel::Job,
        // A retried job is a new job of the same pipeline, with a larger id.
        run: RunClock {
            run_id: j.pipeline_id.map(|id| id.to_string()),
            attempt: j.build_id,
            at: gitlab_time(j.build_finished_at.as_deref()),
        },
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
            commit: r.commit.map(|c| c.id.into()),
            git_ref: Some(tag_ref(&r.tag)),
            url: r.url,
        },
        name: non_empty(r.name.as_deref()).filter(|n| *n != *r.tag),
        tag: r.tag.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::gitlab_time;

    #[test]
    fn gitlab_times_become_rfc3339() {
        let cases = [
            (
                "utc words",
                Some("2016-08-12 15:26:29 UTC"),
                Some("2016-08-12T15:26:29Z"),
            ),
            (
                "offset",
                Some("2021-03-04 14:12:23 +0100"),
                Some("2021-03-04T13:12:23Z"),
            ),
            (
                "rfc3339",
                Some("2024-06-17T12:00:00Z"),
                Some("2024-06-17T12:00:00Z"),
            ),
            ("empty", Some(""), None),
            ("absent", None, None),
            ("nonsense", Some("yesterday"), None),
        ];
        for (row, text, want) in cases {
            assert_eq!(gitlab_time(text).as_deref(), want, "{row}");
        }
    }
}
