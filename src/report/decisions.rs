//! Reports about policy decisions, read from the settled deliveries'
//! outcomes: a notification per delivery that was decided, and the
//! `slipway/policy` status on the head of each promotion pull request it
//! opened or updated.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::commit_status::PolicyStatus;
use super::scan::{Call, DEPLOY_DECIDED, SCAN_BATCH, ScanPlan, notify_all, queue, status_link};
use crate::deployrepo::request::{WriteOutcome, Written};
use crate::policy::{Decision, Verdict};
use crate::store::StoreError;
use crate::store::outbox::{cursor, set_cursor};

/// Settled deliveries whose outcome holds policy decisions. The cursor
/// stops at the first delivery still pending, so none is skipped.
pub(super) fn scan_decisions(
    conn: &Connection,
    plan: &ScanPlan<'_>,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let from = cursor(conn, "decisions")?;
    let mut statement = conn.prepare_cached(
        "SELECT seq, provider, delivery_id, state, outcome_json FROM deliveries WHERE seq > ?1 \
         ORDER BY seq LIMIT ?2",
    )?;
    let rows = statement
        .query_map(params![from, SCAN_BATCH], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut queued = 0;
    for (seq, provider, delivery_id, state, outcome) in rows {
        if state == "pending" {
            break;
        }
        let outcome: Value = outcome
            .and_then(|o| serde_json::from_str(&o).ok())
            .unwrap_or(Value::Null);
        let decisions = &outcome["detail"]["decisions"];
        if decisions.as_array().is_some_and(|d| !d.is_empty()) {
            let body = json!({
                "type": DEPLOY_DECIDED,
                "provider": provider, "delivery_id": delivery_id,
                "summary": outcome["summary"], "decisions": decisions,
            });
            queued += notify_all(conn, plan, &format!("decision-{seq}"), &body, now_ms)?;
        }
        if plan.policy_statuses {
            let link = status_link(plan, Some(&delivery_id));
            for status in policy_statuses(&outcome["detail"], link) {
                let lane = format!("policy:{}", status.commit);
                let key = format!("{lane}:{seq}");
                queued += queue(conn, &key, &lane, &Call::PolicyStatus(status), now_ms)?;
            }
        }
        set_cursor(conn, "decisions", seq)?;
    }
    Ok(queued)
}

/// One status per promotion pull request the outcome's writes opened or
/// updated, saying what its decision was and which rules it consulted.
pub fn policy_statuses(detail: &Value, target_url: Option<String>) -> Vec<PolicyStatus> {
    let writes: Vec<WriteOutcome> =
        serde_json::from_value(detail["writes"].clone()).unwrap_or_default();
    let decisions: Vec<Decision> =
        serde_json::from_value(detail["decisions"].clone()).unwrap_or_default();
    writes
        .iter()
        .filter_map(|write| {
            let Ok(Written::PullRequest { commit, .. }) = &write.result else {
                return None;
            };
            let decision = decisions
                .iter()
                .find(|d| d.app == write.app && d.environment == write.environment)?;
            let rules: Vec<&str> = decision.trace.iter().map(|s| s.rule.as_str()).collect();
            let (allowed, said) = match &decision.verdict {
                Verdict::Allow { .. } => (true, "allowed".to_string()),
                Verdict::Deny { reasons } => (false, format!("denied: {}", reasons.join("; "))),
                Verdict::Wait { reasons, .. } => {
                    (false, format!("waiting: {}", reasons.join("; ")))
                }
            };
            Some(PolicyStatus {
                commit: commit.clone(),
                allowed,
                description: format!(
                    "{} {said} by policy ({} rules: {})",
                    decision.image,
                    rules.len(),
                    rules.join(", ")
                ),
                target_url: target_url.clone(),
            })
        })
        .collect()
}
