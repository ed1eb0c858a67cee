//! The report outbox: calls to forges and notification receivers, queued in
//! the store so that they survive restarts, are retried with backoff, and are
//! made once. Each item has a unique `key` (enqueueing it again does
//! nothing) and a `lane`: items of one lane (one forge deployment, one
//! receiver) are sent in the order they were queued.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// The outbox tables, the readers' cursors over the facts they report, the
/// forge's id of each deployment, and the reason of a rollout verdict.
pub const SCHEMA: &str = "
CREATE TABLE report_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    lane TEXT NOT NULL,
    body_json TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX report_outbox_pending ON report_outbox (state, id);
CREATE TABLE report_cursors (
    name TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
CREATE TABLE report_deployments (
    lane TEXT PRIMARY KEY,
    deployment_id INTEGER NOT NULL
);
ALTER TABLE rollouts ADD COLUMN reason TEXT;
";

/// Most pending items looked at in one round.
const MAX_PENDING: i64 = 500;

/// One queued call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Row id (queue order).
    pub id: i64,
    /// Unique key of the call.
    pub key: String,
    /// Items of a lane go in order.
    pub lane: String,
    /// What to send (JSON).
    pub body: serde_json::Value,
    /// Tries so far.
    pub attempts: u32,
}

/// Queue a call unless one with `key` was queued before; whether it is new.
pub fn enqueue(
    conn: &Connection,
    key: &str,
    lane: &str,
    body: &serde_json::Value,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let added = conn.execute(
        "INSERT OR IGNORE INTO report_outbox (key, lane, body_json, state, created_ms) \
         VALUES (?1, ?2, ?3, 'pending', ?4)",
        params![key, lane, body.to_string(), now_ms],
    )?;
    Ok(added > 0)
}

/// The pending items that may be sent at `now_ms`, in queue order: due, and
/// with no earlier pending item in their lane.
pub fn due(conn: &Connection, now_ms: i64) -> Result<Vec<OutboxItem>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, key, lane, body_json, attempts, next_attempt_ms FROM report_outbox \
         WHERE state = 'pending' ORDER BY id LIMIT ?1",
    )?;
    let rows = statement
        .query_map(params![MAX_PENDING], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut busy_lanes = std::collections::HashSet::new();
    let mut items = Vec::new();
    for (id, key, lane, body, attempts, next_ms) in rows {
        if !busy_lanes.insert(lane.clone()) {
            continue;
        }
        if next_ms > now_ms {
            continue;
        }
        let body = serde_json::from_str(&body).map_err(|source| StoreError::Decode {
            what: "report outbox item",
            source,
        })?;
        items.push(OutboxItem {
            id,
            key,
            lane,
            body,
            attempts,
        });
    }
    Ok(items)
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Sent; done.
    Sent,
    /// Try again at `at_ms`.
    Retry {
        /// When (Unix milliseconds).
        at_ms: i64,
        /// Why it failed.
        error: String,
    },
    /// Refused in a way a retry will not fix; kept with the error.
    Failed {
        /// Why.
        error: String,
    },
}

/// Record how the call of item `id` ended.
pub fn settle(conn: &Connection, id: i64, how: &Settle) -> Result<(), StoreError> {
    let (state, next_ms, error) = match how {
        Settle::Sent => ("sent", 0, None),
        Settle::Retry { at_ms, error } => ("pending", *at_ms, Some(error.as_str())),
        Settle::Failed { error } => ("failed", 0, Some(error.as_str())),
    };
    conn.execute(
        "UPDATE report_outbox SET state = ?2, next_attempt_ms = ?3, last_error = ?4, \
         attempts = attempts + 1 WHERE id = ?1",
        params![id, state, next_ms, error],
    )?;
    Ok(())
}

/// Forget calls sent before `before_ms`; failed ones are kept for people to read.
pub fn prune_sent(conn: &Connection, before_ms: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM report_outbox WHERE state = 'sent' AND created_ms < ?1",
        params![before_ms],
    )?)
}

/// The last sequence number reported by the reader `name` (0 at first).
pub fn cursor(conn: &Connection, name: &str) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT last_seq FROM report_cursors WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Move the reader `name` past `seq`.
pub fn set_cursor(conn: &Connection, name: &str, seq: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO report_cursors (name, last_seq) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
        params![name, seq],
    )?;
    Ok(())
}

/// The forge's id of the deployment reported in `lane`, once created.
pub fn deployment_id(conn: &Connection, lane: &str) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT deployment_id FROM report_deployments WHERE lane = ?1",
            params![lane],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .map(|id| id as u64))
}

/// Remember the forge's id of the deployment reported in `lane`.
pub fn set_deployment_id(conn: &Connection, lane: &str, id: u64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO report_deployments (lane, deployment_id) VALUES (?1, ?2)",
        params![lane, id as i64],
    )?;
    Ok(())
}

/// Every item in queue order with its state and error, for tests and tools.
pub fn all(conn: &Connection) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
    let mut statement =
        conn.prepare("SELECT key, state, last_error FROM report_outbox ORDER BY id")?;
    let rows = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::store::facts::SCHEMA).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    #[test]
    fn keys_are_queued_once_and_lanes_go_in_order() {
        let conn = conn();
        let body = serde_json::json!({});
        assert!(enqueue(&conn, "a1", "a", &body, 0).unwrap());
        assert!(!enqueue(&conn, "a1", "a", &body, 0).unwrap(), "same key");
        enqueue(&conn, "a2", "a", &body, 0).unwrap();
        enqueue(&conn, "b1", "b", &body, 0).unwrap();
        let keys = |items: Vec<OutboxItem>| items.into_iter().map(|i| i.key).collect::<Vec<_>>();
        assert_eq!(keys(due(&conn, 0).unwrap()), ["a1", "b1"]);
        let a1 = due(&conn, 0).unwrap()[0].id;
        let retry = Settle::Retry {
            at_ms: 1000,
            error: "503".into(),
        };
        settle(&conn, a1, &retry).unwrap();
        assert_eq!(keys(due(&conn, 10).unwrap()), ["b1"], "a2 waits behind a1");
        assert_eq!(keys(due(&conn, 1000).unwrap()), ["a1", "b1"]);
        settle(&conn, a1, &Settle::Sent).unwrap();
        assert_eq!(keys(due(&conn, 1000).unwrap()), ["a2", "b1"]);
        assert_eq!(prune_sent(&conn, 1).unwrap(), 1, "only the sent call");
        assert!(
            !enqueue(&conn, "a2", "a", &body, 0).unwrap(),
            "pending keys stay"
        );
    }

    #[test]
    fn cursors_only_move_forward() {
        let conn = conn();
        assert_eq!(cursor(&conn, "rollouts").unwrap(), 0);
        set_cursor(&conn, "rollouts", 5).unwrap();
        set_cursor(&conn, "rollouts", 3).unwrap();
        assert_eq!(cursor(&conn, "rollouts").unwrap(), 5);
    }
}
