//! What sync knows per app/environment: the revisions desired, applied and
//! last verified, where the rollout stands, the inventory of objects it
//! applied (so that unchanged objects cost nothing and removed ones are
//! pruned), and a short history of state changes.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::rollout::RolloutRecord;
use super::{Store, StoreError, now_rfc3339};

/// Tables of sync state.
pub const SCHEMA: &str = "
CREATE TABLE sync_targets (
    app TEXT NOT NULL,
    environment TEXT NOT NULL,
    status_json TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app, environment)
);
CREATE TABLE sync_inventory (
    app TEXT NOT NULL,
    environment TEXT NOT NULL,
    object_key TEXT NOT NULL,
    object_json TEXT NOT NULL,
    manifest_hash TEXT NOT NULL,
    resource_version TEXT,
    PRIMARY KEY (app, environment, object_key)
);
CREATE TABLE sync_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    environment TEXT NOT NULL,
    revision TEXT,
    state TEXT NOT NULL,
    detail TEXT,
    at TEXT NOT NULL
);
CREATE INDEX sync_history_by_target ON sync_history (app, environment, seq);
";

/// The server's form of the fields Slipway applied, per inventory object.
pub const OWNED_FORM: &str = "
ALTER TABLE sync_inventory ADD COLUMN owned_json TEXT;
";

/// Completed Job contents remembered per app/environment.
pub const COMPLETED_JOBS_KEPT: usize = 200;

/// Most history rows returned for one app/environment.
pub const HISTORY_LIMIT: usize = 50;

/// Where an app/environment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// No cluster configured: rendered and planned, nothing applied.
    Planned,
    /// Applied; waiting for the rollout to complete.
    Progressing,
    /// The cluster reports the applied revision complete and healthy.
    Verified,
    /// The rollout failed and there was no verified revision to go back to.
    Failed,
    /// The rollout failed and the last verified revision was applied again.
    RolledBack,
    /// The API server refused the revision in a server-side dry run before
    /// anything of it was written; the live revision stayed as it was.
    Rejected,
    /// The cluster keeps failing (unreachable, forbidden, a missing
    /// namespace, a discovery miss): retried with backoff, see `last_error`.
    Degraded,
    /// Objects had been changed in the cluster and were put back.
    Drifted,
    /// A progressive rollout waits for `slipway promote APP --env ENV`.
    Paused,
    /// The revision could not be rendered, or some manifests were out of scope.
    Refused,
}

impl SyncPhase {
    /// The name used in the API, metrics and history.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncPhase::Planned => "planned",
            SyncPhase::Progressing => "progressing",
            SyncPhase::Verified => "verified",
            SyncPhase::Failed => "failed",
            SyncPhase::RolledBack => "rolled_back",
            SyncPhase::Rejected => "rejected",
            SyncPhase::Degraded => "degraded",
            SyncPhase::Drifted => "drifted",
            SyncPhase::Paused => "paused",
            SyncPhase::Refused => "refused",
        }
    }
}

/// The status of one app/environment, as the status API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetStatus {
    /// App name.
    pub app: String,
    /// Environment name.
    pub environment: String,
    /// Where it stands.
    pub state: SyncPhase,
    /// Deploy-repo commit the branch pointed at when last synced.
    pub desired_revision: Option<String>,
    /// Commit whose manifests were last applied.
    pub applied_revision: Option<String>,
    /// Commit whose rollout was last verified.
    pub verified_revision: Option<String>,
    /// Hash of the rendered content last verified (what a rollback re-applies).
    pub verified_hash: Option<String>,
    /// Hash of the rendered content last applied.
    pub applied_hash: Option<String>,
    /// Commit whose rollout failed and is not retried until the content changes.
    pub failed_revision: Option<String>,
    /// Hash of the rendered content that failed.
    pub failed_hash: Option<String>,
    /// Why that revision failed (one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_reason: Option<String>,
    /// The failed rollout's failing pods, what their containers logged and
    /// their Warning Events (bounded, see `sync::evidence`); cleared when a
    /// rollout is verified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failure_evidence: Vec<crate::event::PodEvidence>,
    /// The current error, or the cause of the held failure, on one line:
    /// the deploy-repo file, the object and the server's message.
    pub last_error: Option<String>,
    /// When `last_error` first occurred (RFC 3339); it has repeated since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error_at: Option<String>,
    /// When `last_error` last occurred (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<String>,
    /// How many passes in a row met `last_error`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub error_count: u32,
    /// When the rollout awaiting its verdict started (RFC 3339): its
    /// deadline counts from here, across restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_started_at: Option<String>,
    /// Jobs that completed, as `key@manifest-hash`, newest last (at most
    /// [`COMPLETED_JOBS_KEPT`]): never created again for that content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completed_jobs: Vec<String>,
    /// Manifests refused by scope in the last sync.
    #[serde(default)]
    pub refused: Vec<String>,
    /// Objects found drifted (and put back) in the last sync.
    #[serde(default)]
    pub drifted: Vec<String>,
    /// Objects whose `spec.replicas` an autoscaler owns, as
    /// `Kind namespace/name: spec.replicas left to HorizontalPodAutoscaler NAME`.
    #[serde(default)]
    pub autoscaled: Vec<String>,
    /// Without a cluster: what would be applied and pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
    /// Blue-green and canary: the rollout's phase, its colours and steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutRecord>,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl TargetStatus {
    /// The applied revision is verified: it becomes the one to return to,
    /// and any held failure and error are forgotten.
    pub fn record_verified(&mut self) {
        self.verified_revision = self.applied_revision.clone();
        self.verified_hash = self.applied_hash.clone();
        self.failed_revision = None;
        self.failed_hash = None;
        self.failed_reason = None;
        self.failure_evidence.clear();
        self.clear_error();
    }

    /// A fresh status for an app/environment never synced before.
    pub fn new(app: &str, environment: &str) -> Self {
        TargetStatus {
            app: app.into(),
            environment: environment.into(),
            state: SyncPhase::Planned,
            desired_revision: None,
            applied_revision: None,
            verified_revision: None,
            verified_hash: None,
            applied_hash: None,
            failed_revision: None,
            failed_hash: None,
            failed_reason: None,
            failure_evidence: Vec::new(),
            last_error: None,
            first_error_at: None,
            last_error_at: None,
            error_count: 0,
            rollout_started_at: None,
            completed_jobs: Vec::new(),
            refused: Vec::new(),
            drifted: Vec::new(),
            autoscaled: Vec::new(),
            plan: None,
            rollout: None,
            updated_at: now_rfc3339(),
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TargetStatus {
    /// Record that `message` happened now: a repeat keeps its first time and
    /// counts up; a new message starts over. Returns whether it is new.
    pub fn record_error(&mut self, message: String) -> bool {
        let now = now_rfc3339();
        let repeat =
            self.last_error.as_deref() == Some(message.as_str()) && self.first_error_at.is_some();
        if repeat {
            self.error_count = self.error_count.saturating_add(1);
        } else {
            self.first_error_at = Some(now.clone());
            self.error_count = 1;
        }
        self.last_error = Some(message);
        self.last_error_at = Some(now);
        !repeat
    }

    /// Remember that these Job contents (`key@hash`) completed.
    pub fn record_completed_jobs(&mut self, jobs: impl IntoIterator<Item = String>) {
        for job in jobs {
            if !self.completed_jobs.contains(&job) {
                self.completed_jobs.push(job);
            }
        }
        let excess = self
            .completed_jobs
            .len()
            .saturating_sub(COMPLETED_JOBS_KEPT);
        self.completed_jobs.drain(..excess);
    }

    /// Forget the current error; a held failure keeps its cause.
    pub fn clear_error(&mut self) {
        if self.last_error.is_some() && self.last_error == self.failed_reason {
            return;
        }
        self.last_error = self.failed_reason.clone();
        self.first_error_at = None;
        self.last_error_at = None;
        self.error_count = 0;
    }
}

/// What a plan-only sync would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Objects that would be applied (new or changed).
    pub apply: Vec<String>,
    /// Objects that would be pruned.
    pub prune: Vec<String>,
    /// Objects unchanged since the last plan.
    pub unchanged: usize,
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// Order of recording.
    pub seq: i64,
    /// Commit concerned.
    pub revision: Option<String>,
    /// State reached.
    pub state: String,
    /// Why, when there is more to say.
    pub detail: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Decode { what, source })
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Decode { what, source })
}

fn upsert_status(conn: &Connection, status: &TargetStatus) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sync_targets (app, environment, status_json, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (app, environment) DO UPDATE SET status_json = ?3, updated_at = ?4",
        params![status.app, status.environment, encode("sync status", status)?, status.updated_at],
    )?;
    Ok(())
}

impl Store {
    /// The status of one app/environment, if it was ever synced.
    pub async fn sync_status(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Option<TargetStatus>, StoreError> {
        let (app, environment) = (app.to_string(), environment.to_string());
        self.read(move |conn| {
            let text: Option<String> = conn
                .query_row(
                    "SELECT status_json FROM sync_targets WHERE app = ?1 AND environment = ?2",
                    params![app, environment],
                    |r| r.get(0),
                )
                .optional()?;
            text.map(|t| decode("sync status", &t)).transpose()
        })
        .await
    }

    /// Every app/environment's status, by app then environment.
    pub async fn sync_statuses(&self) -> Result<Vec<TargetStatus>, StoreError> {
        self.read(|conn| {
            let mut s =
                conn.prepare("SELECT status_json FROM sync_targets ORDER BY app, environment")?;
            let rows = s.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for text in rows {
                out.push(decode("sync status", &text?)?);
            }
            Ok(out)
        })
        .await
    }

    /// Store a status; when its state or revision changed, append it to the
    /// history in the same transaction.
    pub async fn put_sync_status(&self, mut status: TargetStatus) -> Result<(), StoreError> {
        status.updated_at = now_rfc3339();
        self.write(move |conn| {
            let previous: Option<String> = conn
                .query_row(
                    "SELECT status_json FROM sync_targets WHERE app = ?1 AND environment = ?2",
                    params![status.app, status.environment],
                    |r| r.get(0),
                )
                .optional()?;
            let previous: Option<TargetStatus> =
                previous.map(|t| decode("sync status", &t)).transpose()?;
            let changed = previous.is_none_or(|p| {
                p.state != status.state
                    || p.applied_revision != status.applied_revision
                    || p.last_error != status.last_error
            });
            if changed {
                conn.execute(
                    "INSERT INTO sync_history (app, environment, revision, state, detail, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        status.app,
                        status.environment,
                        status
                            .applied_revision
                            .as_ref()
                            .or(status.desired_revision.as_ref()),
                        status.state.as_str(),
                        status.last_error,
                        status.updated_at
                    ],
                )?;
            }
            upsert_status(conn, &status)
        })
        .await
    }

    /// The most recent state changes of one app/environment, newest first.
    pub async fn sync_history(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let (app, environment) = (app.to_string(), environment.to_string());
        self.read(move |conn| {
            let mut s = conn.prepare(
                "SELECT seq, revision, state, detail, at FROM sync_history
                 WHERE app = ?1 AND environment = ?2 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = s.query_map(params![app, environment, HISTORY_LIMIT as i64], |r| {
                Ok(HistoryEntry {
                    seq: r.get(0)?,
                    revision: r.get(1)?,
                    state: r.get(2)?,
                    detail: r.get(3)?,
                    at: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Forget an app/environment that left `slipway.yaml`: its status and
    /// inventory go, its history stays (with a last `removed` entry).
    pub async fn forget_sync_target(&self, app: &str, environment: &str) -> Result<(), StoreError> {
        let (app, environment) = (app.to_string(), environment.to_string());
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM sync_targets WHERE app = ?1 AND environment = ?2",
                params![app, environment],
            )?;
            conn.execute(
                "DELETE FROM sync_inventory WHERE app = ?1 AND environment = ?2",
                params![app, environment],
            )?;
            conn.execute(
                "INSERT INTO sync_history (app, environment, revision, state, detail, at)
                 VALUES (?1, ?2, NULL, 'removed', 'no longer in slipway.yaml', ?3)",
                params![app, environment, now_rfc3339()],
            )?;
            Ok(())
        })
        .await
    }
}

mod inventory;

#[cfg(test)]
mod tests;
