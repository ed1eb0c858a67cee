//! The durable inbox: every accepted delivery, de-duplicated by the sender's
//! delivery id, with what became of it.
//!
//! A delivery is `pending` until the worker settles it; a crash before that
//! leaves it pending, so it is picked up again on restart. Settling runs in the
//! same transaction as whatever the worker recorded for it, so it happens once.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, now_rfc3339};
use crate::event::{Delivery, DomainEvent, Provider};

/// Table of deliveries.
pub const SCHEMA: &str = "
CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_kind TEXT NOT NULL,
    event_json TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL,
    outcome_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    UNIQUE (provider, delivery_id)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_ms, seq);
CREATE INDEX deliveries_by_id ON deliveries (delivery_id);
";

/// Adds `not_before_ms`: the earliest time a wake ([`Store::wake_pending`])
/// may bring a retry forward to, when its cause named one (a forge's
/// rate-limit reset); 0 lets a wake bring it forward to now.
pub const NOT_BEFORE: &str =
    "ALTER TABLE deliveries ADD COLUMN not_before_ms INTEGER NOT NULL DEFAULT 0";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Stored, not yet acted on (or waiting for a retry).
    Pending,
    /// Acted on; the outcome says how.
    Done,
    /// Nothing to do for it (an ignored event type, a ping).
    Ignored,
    /// Could not be acted on and will not be retried without a change (a stall).
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Done => "done",
            DeliveryState::Ignored => "ignored",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "done" => DeliveryState::Done,
            "ignored" => DeliveryState::Ignored,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// What admitting a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Newly stored under this sequence number.
    Accepted(i64),
    /// The same provider and delivery id were stored before.
    Duplicate(i64),
}

/// A delivery as stored, with its history so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredDelivery {
    /// Arrival order.
    pub seq: i64,
    /// Who sent it.
    pub provider: Provider,
    /// The sender's delivery id.
    pub delivery_id: String,
    /// The sender's event name.
    pub event_type: String,
    /// The normalised event.
    pub event: DomainEvent,
    /// When it arrived (RFC 3339).
    pub received_at: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// What acting on it concluded (policy decision, commit, ...).
    pub outcome: Option<serde_json::Value>,
    /// How many times the worker tried it.
    pub attempts: i64,
    /// The last error, when a try failed.
    pub last_error: Option<String>,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

const COLUMNS: &str = "seq, provider, delivery_id, event_type, event_json, received_at, state, \
                       outcome_json, attempts, last_error, updated_at";

fn parse_provider(text: &str) -> Provider {
    serde_json::from_value(serde_json::Value::String(text.to_string())).unwrap_or(Provider::Generic)
}

fn row_to_delivery(row: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredDelivery, String)> {
    let event_json: String = row.get(4)?;
    let outcome: Option<String> = row.get(7)?;
    Ok((
        StoredDelivery {
            seq: row.get(0)?,
            provider: parse_provider(&row.get::<_, String>(1)?),
            delivery_id: row.get(2)?,
            event_type: row.get(3)?,
            event: DomainEvent::Ping,
            received_at: row.get(5)?,
            state: DeliveryState::parse(&row.get::<_, String>(6)?),
            outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
            attempts: row.get(8)?,
            last_error: row.get(9)?,
            updated_at: row.get(10)?,
        },
        event_json,
    ))
}

fn decode(rows: Vec<(StoredDelivery, String)>) -> Result<Vec<StoredDelivery>, StoreError> {
    rows.into_iter()
        .map(|(mut d, json)| {
            d.event = serde_json::from_str(&json).map_err(|source| StoreError::Decode {
                what: "event",
                source,
            })?;
            Ok(d)
        })
        .collect()
}

fn query(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement
        .query_map(params, row_to_delivery)?
        .collect::<Result<Vec<_>, _>>()?;
    decode(rows)
}

/// Settle a delivery inside a write: record its final state and outcome.
pub fn settle(
    conn: &Connection,
    seq: i64,
    state: DeliveryState,
    outcome: &serde_json::Value,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE deliveries SET state = ?2, outcome_json = ?3, attempts = attempts + 1, \
         last_error = NULL, updated_at = ?4 WHERE seq = ?1",
        params![seq, state.as_str(), outcome.to_string(), now_rfc3339()],
    )?;
    Ok(())
}

/// Record a failed try inside a write; the delivery stays pending until
/// `next_attempt_ms`, and a wake brings it forward to no earlier than
/// `not_before_ms` (0: to now). Times are Unix milliseconds.
pub fn retry_later(
    conn: &Connection,
    seq: i64,
    error: &str,
    next_attempt_ms: i64,
    not_before_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2, \
         next_attempt_ms = ?3, not_before_ms = ?4, updated_at = ?5 \
         WHERE seq = ?1 AND state = 'pending'",
        params![seq, error, next_attempt_ms, not_before_ms, now_rfc3339()],
    )?;
    Ok(())
}

impl Store {
    /// Store a verified delivery unless its id was seen before. Durable when this returns.
    pub async fn admit(&self, delivery: Delivery) -> Result<Admission, StoreError> {
        let event_json =
            serde_json::to_string(&delivery.event).map_err(|source| StoreError::Decode {
                what: "event",
                source,
            })?;
        self.write(move |conn| {
            let now = now_rfc3339();
            let inserted = conn.execute(
                "INSERT INTO deliveries (provider, delivery_id, event_type, event_kind, event_json, \
                 received_at, state, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?6) \
                 ON CONFLICT (provider, delivery_id) DO NOTHING",
                params![
                    delivery.provider.as_str(),
                    delivery.delivery_id,
                    delivery.event_type,
                    delivery.event.kind(),
                    event_json,
                    now
                ],
            )?;
            if inserted == 1 {
                return Ok(Admission::Accepted(conn.last_insert_rowid()));
            }
            let seq = conn.query_row(
                "SELECT seq FROM deliveries WHERE provider = ?1 AND delivery_id = ?2",
                params![delivery.provider.as_str(), delivery.delivery_id],
                |r| r.get(0),
            )?;
            Ok(Admission::Duplicate(seq))
        })
        .await
    }

    /// Pending deliveries whose retry time has come, oldest first.
    pub async fn due(&self, limit: usize, now_ms: i64) -> Result<Vec<StoredDelivery>, StoreError> {
        self.read(move |conn| {
            query(
                conn,
                &format!(
                    "SELECT {COLUMNS} FROM deliveries WHERE state = 'pending' \
                     AND next_attempt_ms <= ?1 ORDER BY seq LIMIT ?2"
                ),
                params![now_ms, limit as i64],
            )
        })
        .await
    }

    /// Make every pending delivery due now, or at its `not_before_ms` when
    /// that is later: a new fact may be what they wait for, but a forge's
    /// rate limit still holds.
    pub async fn wake_pending(&self) -> Result<(), StoreError> {
        self.write(|conn| {
            conn.execute(
                "UPDATE deliveries SET next_attempt_ms = not_before_ms \
                 WHERE state = 'pending' AND next_attempt_ms > not_before_ms",
                [],
            )?;
            Ok(())
        })
        .await
    }

    /// The newest deliveries, newest first.
    pub async fn recent_deliveries(&self, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.read(move |conn| {
            query(
                conn,
                &format!("SELECT {COLUMNS} FROM deliveries ORDER BY seq DESC LIMIT ?1"),
                params![limit as i64],
            )
        })
        .await
    }

    /// One delivery by the sender's delivery id (the newest, should two providers share it).
    pub async fn delivery(
        &self,
        delivery_id: String,
    ) -> Result<Option<StoredDelivery>, StoreError> {
        self.read(move |conn| {
            let found = conn
                .query_row(
                    "SELECT seq FROM deliveries WHERE delivery_id = ?1 ORDER BY seq DESC LIMIT 1",
                    params![delivery_id],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?;
            let Some(seq) = found else { return Ok(None) };
            Ok(query(
                conn,
                &format!("SELECT {COLUMNS} FROM deliveries WHERE seq = ?1"),
                params![seq],
            )?
            .pop())
        })
        .await
    }

    /// Count deliveries per state, for readiness and metrics.
    pub async fn count_pending(&self) -> Result<i64, StoreError> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT count(*) FROM deliveries WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }
}

#[cfg(test)]
#[path = "inbox_tests.rs"]
mod tests;
