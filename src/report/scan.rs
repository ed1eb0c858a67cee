//! What to report, derived from what the store already records: every
//! deploy written (`deploy_history`), every rollout verdict (`rollouts`) and
//! every settled policy decision (the inbox's outcomes). Each reader keeps a
//! cursor, and each call has a unique outbox key, so scanning again queues
//! nothing twice.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::commit_status::PolicyStatus;
use super::deployments::{DeploymentReport, DeploymentState};
use super::settings::ReportSettings;
use crate::event::{ImageRef, SourceInfo};
use crate::store::StoreError;
use crate::store::facts::image_source;
use crate::store::outbox::{cursor, enqueue, set_cursor};

/// Rows read per reader in one scan.
pub(super) const SCAN_BATCH: i64 = 200;

/// Event type of a notification about a policy decision.
pub const DEPLOY_DECIDED: &str = "deploy.decided";
/// Event type of a notification about a rollout verdict.
pub const ROLLOUT_VERDICT: &str = "rollout.verdict";

/// What the scan needs to know of the configuration.
pub struct ScanPlan<'a> {
    /// The settings (environment names, links).
    pub settings: &'a ReportSettings,
    /// Whether a forge takes deployments.
    pub forge: bool,
    /// How many notification receivers there are.
    pub receivers: usize,
    /// Whether the deploy repository's forge takes `slipway/policy` statuses.
    pub policy_statuses: bool,
}

/// One outbox call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Call {
    /// A deployment state on the source forge.
    Forge(DeploymentReport),
    /// The `slipway/policy` status of a promotion's head in the deploy repository.
    PolicyStatus(PolicyStatus),
    /// A notification to receiver number `receiver`.
    Receiver {
        /// Index into `report.webhooks`.
        receiver: usize,
        /// The Standard Webhooks message id.
        id: String,
        /// The body sent.
        body: Value,
    },
}

impl Call {
    /// Where the call goes: `forge`, `policy_status` or `receiver`.
    pub fn destination(&self) -> &'static str {
        match self {
            Call::Forge(_) => "forge",
            Call::PolicyStatus(_) => "policy_status",
            Call::Receiver { .. } => "receiver",
        }
    }
}

/// Queue what the records since the last scan call for; how many calls.
pub fn scan(conn: &Connection, plan: &ScanPlan<'_>, now_ms: i64) -> Result<usize, StoreError> {
    let mut queued = 0;
    if plan.forge {
        queued += scan_deploys(conn, plan, now_ms)?;
    }
    if plan.forge || plan.receivers > 0 {
        queued += scan_rollouts(conn, plan, now_ms)?;
    }
    if plan.receivers > 0 || plan.policy_statuses {
        queued += super::decisions::scan_decisions(conn, plan, now_ms)?;
    }
    Ok(queued)
}

pub(super) fn queue(
    conn: &Connection,
    key: &str,
    lane: &str,
    call: &Call,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let body = serde_json::to_value(call).map_err(|source| StoreError::Decode {
        what: "report call",
        source,
    })?;
    Ok(usize::from(enqueue(conn, key, lane, &body, now_ms)?))
}

/// Queue `body` for every notification receiver, as message `id`.
pub(super) fn notify_all(
    conn: &Connection,
    plan: &ScanPlan<'_>,
    id: &str,
    body: &Value,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    for receiver in 0..plan.receivers {
        let call = Call::Receiver {
            receiver,
            id: id.to_string(),
            body: body.clone(),
        };
        let lane = format!("receiver:{receiver}");
        queued += queue(conn, &format!("{lane}:{id}"), &lane, &call, now_ms)?;
    }
    Ok(queued)
}

/// The status API's entry for a delivery, under `public_url`.
pub(super) fn status_link(plan: &ScanPlan<'_>, delivery_id: Option<&str>) -> Option<String> {
    let base = plan.settings.public_url.as_deref()?;
    let id: String = form_urlencoded::byte_serialize(delivery_id?.as_bytes()).collect();
    Some(format!(
        "{}/api/v1/deliveries/{id}",
        base.trim_end_matches('/')
    ))
}

/// A source repository a forge API path may safely name: `owner/name`
/// (GitLab: `group/.../project`) of plain segments.
pub fn is_repository_path(text: &str) -> bool {
    let plain = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    text.contains('/') && text.split('/').all(plain)
}

/// A deploy of `app` in `environment` as the forge sees it (which source
/// commit went where), in `state`; `None` when the source is unknown.
fn deployment(
    plan: &ScanPlan<'_>,
    source: &SourceInfo,
    app: &str,
    environment: &str,
    state: DeploymentState,
) -> Option<DeploymentReport> {
    Some(DeploymentReport {
        repository: source
            .repository
            .clone()
            .filter(|r| is_repository_path(r))?,
        commit: source.commit.clone()?,
        git_ref: source.git_ref.clone(),
        environment: plan.settings.environment_name(app, environment),
        state,
        description: String::new(),
        log_url: None,
    })
}

/// Queue a deployment report under `{lane}:{what}`.
fn queue_deployment(
    conn: &Connection,
    report: DeploymentReport,
    what: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let lane = report.lane();
    queue(
        conn,
        &format!("{lane}:{what}"),
        &lane,
        &Call::Forge(report),
        now_ms,
    )
}

fn scan_deploys(conn: &Connection, plan: &ScanPlan<'_>, now_ms: i64) -> Result<usize, StoreError> {
    let from = cursor(conn, "deploys")?;
    let mut statement = conn.prepare_cached(
        "SELECT id, app, environment, image, revision FROM deploy_history WHERE id > ?1 \
         ORDER BY id LIMIT ?2",
    )?;
    let rows = statement
        .query_map(params![from, SCAN_BATCH], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut queued = 0;
    for (id, app, environment, image, revision) in rows {
        let source = match ImageRef::parse(&image) {
            Ok(image) => image_source(conn, &image)?,
            Err(_) => SourceInfo::default(),
        };
        if let Some(report) = deployment(
            plan,
            &source,
            &app,
            &environment,
            DeploymentState::InProgress,
        ) {
            let description = format!(
                "{image} written to the deploy repository in {}",
                short(&revision)
            );
            let report = DeploymentReport {
                description,
                ..report
            };
            queued += queue_deployment(
                conn,
                report,
                &format!("{image}:in_progress:{revision}"),
                now_ms,
            )?;
        }
        set_cursor(conn, "deploys", id)?;
    }
    Ok(queued)
}

fn scan_rollouts(conn: &Connection, plan: &ScanPlan<'_>, now_ms: i64) -> Result<usize, StoreError> {
    let from = cursor(conn, "rollouts")?;
    let mut statement = conn.prepare_cached(
        "SELECT r.id, r.app, r.environment, r.revision, r.image_repo, r.tag, r.digest, r.verdict, \
         r.reason, d.delivery_id FROM rollouts r LEFT JOIN deliveries d ON d.seq = r.delivery_seq \
         WHERE r.id > ?1 ORDER BY r.id LIMIT ?2",
    )?;
    type Row = (
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = statement
        .query_map(params![from, SCAN_BATCH], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut queued = 0;
    for (id, app, environment, revision, repo, tag, digest, verdict, reason, delivery_id) in rows {
        let image = repo
            .and_then(|repo| ImageRef::from_parts(&repo, tag.as_deref(), digest.as_deref()).ok());
        let log_url = status_link(plan, delivery_id.as_deref());
        let verified = verdict == "verified";
        let shown = image
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "the image".into());
        let description = match (verified, &reason) {
            (true, _) => format!("{shown} rolled out and verified in {app}/{environment}"),
            (false, Some(reason)) => format!("rollout of {shown} failed: {reason}"),
            (false, None) => format!("rollout of {shown} failed"),
        };
        if plan.forge
            && let Some(image) = &image
        {
            let source = image_source(conn, image)?;
            let state = if verified {
                DeploymentState::Success
            } else {
                DeploymentState::Failure
            };
            if let Some(report) = deployment(plan, &source, &app, &environment, state) {
                let report = DeploymentReport {
                    description: description.clone(),
                    log_url: log_url.clone(),
                    ..report
                };
                queued += queue_deployment(conn, report, &format!("rollout:{id}"), now_ms)?;
            }
        }
        let body = json!({
            "type": ROLLOUT_VERDICT,
            "app": app, "environment": environment, "revision": revision,
            "image": image.as_ref().map(ToString::to_string),
            "verdict": verdict, "reason": reason, "description": description,
            "delivery_id": delivery_id, "log_url": log_url,
        });
        queued += notify_all(conn, plan, &format!("rollout-{id}"), &body, now_ms)?;
        set_cursor(conn, "rollouts", id)?;
    }
    Ok(queued)
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_repository_paths_reach_the_forge_api() {
        let cases = [
            ("owner/name", "acme/web", true),
            ("gitlab subgroup", "group/sub/project", true),
            ("dots", "acme/web.js", true),
            ("no owner", "web", false),
            ("parent", "acme/../../user", false),
            ("empty segment", "acme//web", false),
            ("query", "acme/web?x=1", false),
            ("space", "acme/my web", false),
        ];
        for (row, text, ok) in cases {
            assert_eq!(is_repository_path(text), ok, "{row}");
        }
    }
}
