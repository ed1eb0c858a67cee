//! Reading one request's facts out of the tables.

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::{
    DEPLOY_LOOKBACK, MAX_ROWS, artifact_fact, desired_image, from_millis, millis, pipeline_fact,
    rollout_fact,
};
use crate::event::{ImageRef, SourceInfo};
use crate::policy::{ArtifactFact, DeployRequest, Facts};
use crate::store::StoreError;

/// Gather, inside one read, everything evaluation needs for `request`;
/// `upstream` is the environment the target is promoted from.
pub fn gather(
    conn: &Connection,
    request: &DeployRequest,
    upstream: Option<&str>,
    now: Timestamp,
) -> Result<Facts, StoreError> {
    let repo = request.image.name().to_string();
    let artifact = artifact(conn, &repo, &request.image)?;
    let mut facts = Facts {
        artifact,
        ..Facts::default()
    };
    let source = facts.source_of(&request.source);
    if let Some(commit) = &source.commit {
        facts.pipelines = pipelines(conn, commit, source.repository.as_deref())?;
        facts.commit_digests = commit_digests(conn, &repo, commit)?;
    }
    facts.desired = desired_image(conn, &request.app, &request.environment)?;
    if let Some(upstream) = upstream {
        facts.upstream_rollouts = rollouts(conn, &request.app, upstream, &repo, request)?;
    }
    facts.recent_deploys = recent_deploys(conn, &request.app, &request.environment, now)?;
    Ok(facts)
}

/// Where `image` was built from, as the artifacts recorded for it say
/// (the source of its first sighting that names a commit).
pub fn image_source(conn: &Connection, image: &ImageRef) -> Result<SourceInfo, StoreError> {
    Ok(artifact(conn, &image.name().to_string(), image)?
        .map(|fact| fact.source)
        .unwrap_or_default())
}

fn artifact(
    conn: &Connection,
    repo: &str,
    image: &ImageRef,
) -> Result<Option<ArtifactFact>, StoreError> {
    let (column, value) = match (&image.tag, &image.digest) {
        (Some(tag), _) => ("tag", tag.clone()),
        (None, Some(digest)) => ("digest", digest.clone()),
        (None, None) => return Ok(None),
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT digest, source_repo, commit_sha, git_ref, source_url, built_at_ms FROM artifacts \
         WHERE image_repo = ?1 AND {column} = ?2 ORDER BY delivery_seq LIMIT ?3"
    ))?;
    let rows = statement
        .query_map(params![repo, value, MAX_ROWS], |r| {
            Ok((
                r.get::<_, String>(0)?,
                SourceInfo {
                    repository: r.get(1)?,
                    commit: r.get(2)?,
                    git_ref: r.get(3)?,
                    url: r.get(4)?,
                },
                r.get::<_, Option<i64>>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if rows.is_empty() {
        return Ok(None);
    }
    // The earliest sighting with a digest names the digest; any sighting may name the source.
    let digest = rows.iter().map(|r| r.0.clone()).find(|d| !d.is_empty());
    let source = rows
        .iter()
        .map(|r| r.1.clone())
        .find(|s| s.commit.is_some())
        .unwrap_or_default();
    let built_at = rows.iter().find_map(|r| r.2);
    Ok(Some(artifact_fact(source, digest, built_at)))
}

fn pipelines(
    conn: &Connection,
    commit: &str,
    source_repo: Option<&str>,
) -> Result<Vec<crate::policy::PipelineFact>, StoreError> {
    let repo = source_repo.unwrap_or_default().to_ascii_lowercase();
    let mut statement = conn.prepare_cached(
        "SELECT level, name, status, at_ms FROM pipeline_results WHERE commit_sha = ?1 \
         AND (?2 = '' OR source_repo = '' OR source_repo = ?2) ORDER BY at_ms LIMIT ?3",
    )?;
    let rows = statement
        .query_map(params![commit.to_ascii_lowercase(), repo, MAX_ROWS], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(level, name, status, at)| pipeline_fact(&level, name, &status, at))
        .collect())
}

fn commit_digests(conn: &Connection, repo: &str, commit: &str) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT digest FROM artifacts WHERE image_repo = ?1 AND lower(commit_sha) = ?2 \
         AND digest != '' GROUP BY digest ORDER BY min(delivery_seq) LIMIT ?3",
    )?;
    let rows = statement
        .query_map(params![repo, commit.to_ascii_lowercase(), MAX_ROWS], |r| {
            r.get::<_, String>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn rollouts(
    conn: &Connection,
    app: &str,
    environment: &str,
    repo: &str,
    request: &DeployRequest,
) -> Result<Vec<crate::policy::RolloutFact>, StoreError> {
    // The same image: the same digest when both are known, else the same tag.
    let mut statement = conn.prepare_cached(
        "SELECT verdict, at_ms FROM rollouts WHERE app = ?1 AND environment = ?2 \
         AND image_repo = ?3 AND ( (?4 IS NOT NULL AND digest IS NOT NULL AND digest = ?4) \
         OR ((?4 IS NULL OR digest IS NULL) AND tag IS ?5) ) ORDER BY at_ms LIMIT ?6",
    )?;
    let rows = statement
        .query_map(
            params![
                app,
                environment,
                repo,
                request.image.digest,
                request.image.tag,
                MAX_ROWS
            ],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(verdict, at)| rollout_fact(&verdict, at))
        .collect())
}

fn recent_deploys(
    conn: &Connection,
    app: &str,
    environment: &str,
    now: Timestamp,
) -> Result<Vec<Timestamp>, StoreError> {
    let since = now.checked_sub(DEPLOY_LOOKBACK).unwrap_or(Timestamp::MIN);
    let mut statement = conn.prepare_cached(
        "SELECT at_ms FROM deploy_history WHERE app = ?1 AND environment = ?2 AND at_ms > ?3 \
         ORDER BY at_ms LIMIT ?4",
    )?;
    let rows = statement
        .query_map(params![app, environment, millis(since), MAX_ROWS], |r| {
            r.get::<_, i64>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows.into_iter().map(from_millis).collect())
}

/// Images verified in `app`/`environment`, newest first, each once.
pub fn verified_images(
    conn: &Connection,
    app: &str,
    environment: &str,
) -> Result<Vec<ImageRef>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT image_repo, tag, digest FROM rollouts WHERE app = ?1 AND environment = ?2 \
         AND verdict = 'verified' AND image_repo IS NOT NULL ORDER BY at_ms DESC, id DESC LIMIT ?3",
    )?;
    let rows = statement.query_map(params![app, environment, MAX_ROWS], |r| {
        Ok(ImageRef {
            repository: r.get(0)?,
            tag: r.get(1)?,
            digest: r.get(2)?,
        })
    })?;
    let mut images: Vec<ImageRef> = Vec::new();
    for image in rows {
        let image = image?;
        if !images.contains(&image) {
            images.push(image);
        }
    }
    Ok(images)
}
