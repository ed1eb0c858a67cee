//! Facts the policy gate depends on, fed by ingress events and by the
//! deploy-repo writer: pipeline results per commit, artifacts, the desired
//! image per app and environment, rollout reports, and deploy history.
//!
//! [`record_event`] runs inside the same write that settles a delivery, so a
//! fact is recorded exactly when its delivery is settled. Times are stored as
//! milliseconds since the epoch so that SQL compares them correctly.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};
use crate::event::{
    ArtifactPublished, DomainEvent, ImageRef, PipelineCompleted, PipelineLevel, PipelineStatus,
    RolloutReported, RolloutVerdict, RunClock, SourceInfo,
};
use crate::policy::{ArtifactFact, DeployRequest, DesiredFact, Facts, PipelineFact, RolloutFact};
use crate::repoconfig::RepoConfig;

/// How far back deploys are loaded for the rate limit.
const DEPLOY_LOOKBACK: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);
/// Most rows of one kind loaded into one request's facts.
const MAX_ROWS: i64 = 1000;

/// Tables of facts.
pub const SCHEMA: &str = "
CREATE TABLE pipeline_results (
    commit_sha TEXT NOT NULL,
    source_repo TEXT NOT NULL,
    level TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    url TEXT,
    at_ms INTEGER NOT NULL,
    delivery_seq INTEGER NOT NULL,
    PRIMARY KEY (commit_sha, source_repo, level, name)
);
CREATE TABLE artifacts (
    image_repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    source_repo TEXT,
    commit_sha TEXT,
    git_ref TEXT,
    source_url TEXT,
    built_at_ms INTEGER,
    seen_at_ms INTEGER NOT NULL,
    delivery_seq INTEGER NOT NULL,
    PRIMARY KEY (image_repo, tag, digest)
);
CREATE INDEX artifacts_by_commit ON artifacts (image_repo, commit_sha, delivery_seq);
CREATE TABLE desired_images (
    app TEXT NOT NULL,
    environment TEXT NOT NULL,
    image_repo TEXT NOT NULL,
    tag TEXT,
    digest TEXT,
    built_at_ms INTEGER,
    revision TEXT NOT NULL,
    set_at_ms INTEGER NOT NULL,
    PRIMARY KEY (app, environment)
);
CREATE TABLE deploy_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    environment TEXT NOT NULL,
    image TEXT NOT NULL,
    revision TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX deploy_history_by_target ON deploy_history (app, environment, at_ms);
CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    environment TEXT NOT NULL,
    revision TEXT NOT NULL,
    image_repo TEXT,
    tag TEXT,
    digest TEXT,
    verdict TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    delivery_seq INTEGER NOT NULL
);
CREATE INDEX rollouts_by_target ON rollouts (app, environment, image_repo);
";

/// The sender's clock of each pipeline result (see [`RunClock`]), so a late
/// delivery of an older result never replaces a newer one.
pub const RUN_CLOCK_SCHEMA: &str = "
ALTER TABLE pipeline_results ADD COLUMN run_id TEXT;
ALTER TABLE pipeline_results ADD COLUMN run_attempt INTEGER;
ALTER TABLE pipeline_results ADD COLUMN sender_at TEXT;
";

fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The serde name of a unit enum value (`success`, `job`, `verified`).
fn name_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn parse_name<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

/// When the delivery arrived, or now if it is not in the inbox.
fn received_at(conn: &Connection, delivery_seq: i64) -> Result<Timestamp, StoreError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT received_at FROM deliveries WHERE seq = ?1",
            params![delivery_seq],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(Timestamp::now))
}

/// Record what an event teaches about the world. Call it inside the write
/// that settles the delivery; replaying a delivery records nothing new.
pub fn record_event(
    conn: &Connection,
    delivery_seq: i64,
    event: &DomainEvent,
) -> Result<(), StoreError> {
    match event {
        DomainEvent::ArtifactPublished(_) | DomainEvent::ArtifactsPublished { .. } => {
            let at = received_at(conn, delivery_seq)?;
            for artifact in event.artifacts() {
                record_artifact(conn, delivery_seq, artifact, at)?;
                if let Some(pipeline) = &artifact.pipeline {
                    let mut pipeline = pipeline.clone();
                    // A pipeline reported with its artifact ran on the artifact's commit.
                    if pipeline.source.commit.is_none() {
                        pipeline.source = artifact.source.clone();
                    }
                    record_pipeline(conn, delivery_seq, &pipeline, at)?;
                }
            }
            Ok(())
        }
        DomainEvent::PipelineCompleted(pipeline) => {
            let at = received_at(conn, delivery_seq)?;
            record_pipeline(conn, delivery_seq, pipeline, at)
        }
        DomainEvent::RolloutReported(report) => {
            let at = match report.at.parse() {
                Ok(at) => at,
                Err(_) => received_at(conn, delivery_seq)?,
            };
            record_rollout(conn, delivery_seq, report, at)
        }
        _ => Ok(()),
    }
}

fn record_artifact(
    conn: &Connection,
    seq: i64,
    artifact: &ArtifactPublished,
    at: Timestamp,
) -> Result<(), StoreError> {
    let image = &artifact.image;
    let source = &artifact.source;
    let built_at = artifact
        .built_at
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map(millis);
    // The first sighting keeps its digest and time; later ones only fill gaps.
    conn.execute(
        "INSERT INTO artifacts (image_repo, tag, digest, source_repo, commit_sha, git_ref, \
         source_url, built_at_ms, seen_at_ms, delivery_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (image_repo, tag, digest) DO UPDATE SET \
         source_repo = coalesce(source_repo, excluded.source_repo), \
         commit_sha = coalesce(commit_sha, excluded.commit_sha), \
         git_ref = coalesce(git_ref, excluded.git_ref), \
         source_url = coalesce(source_url, excluded.source_url), \
         built_at_ms = coalesce(built_at_ms, excluded.built_at_ms)",
        params![
            image.name().to_string(),
            image.tag.clone().unwrap_or_default(),
            image.digest.clone().unwrap_or_default(),
            source.repository,
            source.commit,
            source.git_ref,
            source.url,
            built_at,
            millis(at),
            seq
        ],
    )?;
    Ok(())
}

fn record_pipeline(
    conn: &Connection,
    seq: i64,
    pipeline: &PipelineCompleted,
    at: Timestamp,
) -> Result<(), StoreError> {
    let Some(commit) = &pipeline.source.commit else {
        return Ok(());
    };
    let commit = commit.to_ascii_lowercase();
    let repository = pipeline
        .source
        .repository
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (level, name) = (
        name_of(&pipeline.level),
        pipeline.name.clone().unwrap_or_default(),
    );
    let stored = conn
        .query_row(
            "SELECT status, delivery_seq, run_id, run_attempt, sender_at FROM pipeline_results \
             WHERE commit_sha = ?1 AND source_repo = ?2 AND level = ?3 AND name = ?4",
            params![commit, repository, level, name],
            |r| {
                let attempt: Option<i64> = r.get(3)?;
                Ok(StoredResult {
                    status: r.get(0)?,
                    delivery_seq: r.get(1)?,
                    clock: RunClock {
                        run_id: r.get(2)?,
                        attempt: attempt.and_then(|a| u64::try_from(a).ok()),
                        at: r.get(4)?,
                    },
                })
            },
        )
        .optional()?;
    if let Some(stored) = stored
        && !replaces(pipeline, seq, &stored)
    {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO pipeline_results (commit_sha, source_repo, level, name, status, url, at_ms, \
         delivery_seq, run_id, run_attempt, sender_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (commit_sha, source_repo, level, name) DO UPDATE SET \
         status = excluded.status, url = excluded.url, at_ms = excluded.at_ms, \
         delivery_seq = excluded.delivery_seq, run_id = excluded.run_id, \
         run_attempt = excluded.run_attempt, sender_at = excluded.sender_at",
        params![
            commit,
            repository,
            level,
            name,
            name_of(&pipeline.status),
            pipeline.url,
            millis(at),
            seq,
            pipeline.run.run_id,
            pipeline.run.attempt.and_then(|a| i64::try_from(a).ok()),
            pipeline.run.at,
        ],
    )?;
    Ok(())
}

/// The result already recorded for a pipeline of a commit.
struct StoredResult {
    status: String,
    delivery_seq: i64,
    clock: RunClock,
}

/// Whether `pipeline` (delivery `seq`) replaces the stored result: the
/// newer by the sender's clock, else the later delivery. A late `running`
/// never hides a finished result; the re-run's own end will.
fn replaces(pipeline: &PipelineCompleted, seq: i64, stored: &StoredResult) -> bool {
    let running = name_of(&PipelineStatus::Running);
    if name_of(&pipeline.status) == running && stored.status != running {
        return false;
    }
    pipeline
        .run
        .supersedes(&stored.clock)
        .unwrap_or(seq >= stored.delivery_seq)
}

fn record_rollout(
    conn: &Connection,
    seq: i64,
    report: &RolloutReported,
    at: Timestamp,
) -> Result<(), StoreError> {
    let already: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM rollouts WHERE delivery_seq = ?1)",
        params![seq],
        |r| r.get(0),
    )?;
    if already {
        return Ok(());
    }
    let image = report.image.as_ref();
    conn.execute(
        "INSERT INTO rollouts (app, environment, revision, image_repo, tag, digest, verdict, \
         at_ms, delivery_seq, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            report.app,
            report.environment,
            report.revision,
            image.map(|i| i.name().to_string()),
            image.and_then(|i| i.tag.clone()),
            image.and_then(|i| i.digest.clone()),
            name_of(&report.verdict),
            millis(at),
            seq,
            report.reason.as_deref().filter(|r| !r.trim().is_empty())
        ],
    )?;
    Ok(())
}

/// Record that the deploy repo now desires `image` for `app` in `environment`
/// (written at `revision`); it also counts as a deploy for rate limits.
pub fn record_desired(
    conn: &Connection,
    app: &str,
    environment: &str,
    image: &ImageRef,
    built_at: Option<Timestamp>,
    revision: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO desired_images (app, environment, image_repo, tag, digest, built_at_ms, \
         revision, set_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (app, environment) DO UPDATE SET image_repo = excluded.image_repo, \
         tag = excluded.tag, digest = excluded.digest, built_at_ms = excluded.built_at_ms, \
         revision = excluded.revision, set_at_ms = excluded.set_at_ms",
        params![
            app,
            environment,
            image.repository,
            image.tag,
            image.digest,
            built_at.map(millis),
            revision,
            millis(at)
        ],
    )?;
    conn.execute(
        "INSERT INTO deploy_history (app, environment, image, revision, at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![app, environment, image.to_string(), revision, millis(at)],
    )?;
    Ok(())
}

/// What the deploy repo desires for `app` in `environment`, as last recorded.
pub fn desired_image(
    conn: &Connection,
    app: &str,
    environment: &str,
) -> Result<Option<DesiredFact>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT image_repo, tag, digest, built_at_ms, set_at_ms FROM desired_images \
             WHERE app = ?1 AND environment = ?2",
            params![app, environment],
            |r| {
                Ok(DesiredFact {
                    image: ImageRef {
                        repository: r.get(0)?,
                        tag: r.get(1)?,
                        digest: r.get(2)?,
                    },
                    built_at: r.get::<_, Option<i64>>(3)?.map(from_millis),
                    set_at: from_millis(r.get(4)?),
                })
            },
        )
        .optional()?)
}

#[path = "facts_query.rs"]
mod query;

pub use query::{gather, image_source, verified_images};

impl Store {
    /// Gather the facts evaluation needs for `request` at `now`.
    pub async fn facts_for(
        &self,
        config: &RepoConfig,
        request: &DeployRequest,
        now: Timestamp,
    ) -> Result<Facts, StoreError> {
        let upstream = config
            .apps
            .get(&request.app)
            .and_then(|a| a.promoted_from(&request.environment))
            .map(|e| e.name.clone());
        let request = request.clone();
        self.read(move |conn| gather(conn, &request, upstream.as_deref(), now))
            .await
    }
}

/// Rows turned into facts; kept here so both query files share them.
fn pipeline_fact(level: &str, name: String, status: &str, at_ms: i64) -> Option<PipelineFact> {
    Some(PipelineFact {
        name,
        level: parse_name::<PipelineLevel>(level)?,
        status: parse_name::<PipelineStatus>(status).unwrap_or(PipelineStatus::Other),
        at: from_millis(at_ms),
    })
}

fn rollout_fact(verdict: &str, at_ms: i64) -> Option<RolloutFact> {
    Some(RolloutFact {
        verdict: parse_name::<RolloutVerdict>(verdict)?,
        at: from_millis(at_ms),
    })
}

fn artifact_fact(
    source: SourceInfo,
    digest: Option<String>,
    built_at_ms: Option<i64>,
) -> ArtifactFact {
    ArtifactFact {
        digest,
        source,
        built_at: built_at_ms.map(from_millis),
    }
}

#[cfg(test)]
#[path = "facts_tests.rs"]
mod tests;
