//! The outbox: every delivery a rule asked for, queued in the transaction that stored
//! its event, and kept until delivered or given up. Deliverers claim an item with a
//! short lease, so two of them never send the same item at once.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::Value;

use super::Result;
use crate::clock::stamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Forward,
    Webhook,
    Digest,
    /// A mail to the fallback address about a delivery given up.
    Fallback,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Forward => "forward",
            Channel::Webhook => "webhook",
            Channel::Digest => "digest",
            Channel::Fallback => "fallback",
        }
    }

    fn parse(s: &str) -> Channel {
        match s {
            "forward" => Channel::Forward,
            "webhook" => Channel::Webhook,
            "digest" => Channel::Digest,
            _ => Channel::Fallback,
        }
    }
}

/// Something to deliver.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub channel: Channel,
    pub rule: Option<String>,
    pub event: Option<i64>,
    pub message: Option<i64>,
    pub target: String,
    pub payload: Value,
}

/// A queued delivery as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: i64,
    pub channel: Channel,
    pub rule: Option<String>,
    pub event: Option<i64>,
    pub message: Option<i64>,
    pub target: String,
    #[serde(skip)]
    pub payload: Value,
    pub state: String,
    pub attempts: i64,
    pub next_attempt: String,
    pub window_start: String,
    pub last_error: Option<String>,
    pub created: String,
    pub done_at: Option<String>,
}

const COLUMNS: &str = "id, channel, rule, event, message, target, payload, state, attempts, next_attempt, \
                       window_start, last_error, created, done_at";

fn item(r: &Row<'_>) -> rusqlite::Result<Item> {
    let payload: String = r.get(6)?;
    let channel: String = r.get(1)?;
    Ok(Item {
        id: r.get(0)?,
        channel: Channel::parse(&channel),
        rule: r.get(2)?,
        event: r.get(3)?,
        message: r.get(4)?,
        target: r.get(5)?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        state: r.get(7)?,
        attempts: r.get(8)?,
        next_attempt: r.get(9)?,
        window_start: r.get(10)?,
        last_error: r.get(11)?,
        created: r.get(12)?,
        done_at: r.get(13)?,
    })
}

pub fn enqueue(conn: &Connection, item: &NewItem, now: DateTime<Utc>) -> Result<i64> {
    let now = stamp(now);
    conn.prepare_cached(
        "INSERT INTO outbox (channel, rule, event, message, target, payload, next_attempt, window_start, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7)",
    )?
    .execute(params![
        item.channel.as_str(),
        item.rule,
        item.event,
        item.message,
        item.target,
        serde_json::to_string(&item.payload)?,
        now
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Claims the next due item for `lease`; None when nothing is due.
pub fn claim_due(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<Option<Item>> {
    let now_s = stamp(now);
    loop {
        let next: Option<i64> = conn
            .query_row(
                "SELECT id FROM outbox WHERE state = 'pending' AND next_attempt <= ?1
                   AND (lease_until IS NULL OR lease_until < ?1)
                 ORDER BY next_attempt, id LIMIT 1",
                [&now_s],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = next else { return Ok(None) };
        let claimed = conn.execute(
            "UPDATE outbox SET lease_until = ?2 WHERE id = ?1 AND state = 'pending'
               AND (lease_until IS NULL OR lease_until < ?3)",
            params![id, stamp(now + lease), now_s],
        )?;
        if claimed == 1 {
            return Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
                    [id],
                    item,
                )
                .optional()?);
        }
    }
}

pub fn mark_done(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET state = 'done', done_at = ?2, lease_until = NULL, attempts = attempts + 1,
           last_error = NULL WHERE id = ?1",
        params![id, stamp(now)],
    )?;
    Ok(())
}

pub fn mark_failed(
    conn: &Connection,
    id: i64,
    next_attempt: DateTime<Utc>,
    error: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3, lease_until = NULL
         WHERE id = ?1",
        params![id, stamp(next_attempt), error],
    )?;
    Ok(())
}

pub fn mark_dead(conn: &Connection, id: i64, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?2, lease_until = NULL WHERE id = ?1",
        params![id, error],
    )?;
    Ok(())
}

/// Items in the given states (all when empty), oldest first.
pub fn list(conn: &Connection, states: &[&str]) -> Result<Vec<Item>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id"))?;
    let rows = stmt.query_map([], item)?;
    let mut out = Vec::new();
    for r in rows {
        let r = r?;
        if states.is_empty() || states.contains(&r.state.as_str()) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Reschedules every due item going to a destination found unreachable in this pass,
/// in one statement, without trying them: mail (forward, digest and fallback items,
/// all through the one SMTP server) when `webhook_origin` is None, else webhooks to
/// that origin (scheme, host and port). Their attempt counts and last errors stay their
/// own. Items whose give-up window started before `window_cutoff` are left due, so
/// they are tried and given up.
pub fn defer_destination(
    conn: &Connection,
    webhook_origin: Option<&str>,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
    window_cutoff: DateTime<Utc>,
) -> Result<usize> {
    let (filter, origin) = match webhook_origin {
        None => ("channel != 'webhook'", String::new()),
        Some(o) => (
            "channel = 'webhook' AND (json_extract(payload, '$.url') = ?4
               OR substr(json_extract(payload, '$.url'), 1, length(?4) + 1) IN (?4 || '/', ?4 || '?'))",
            o.to_string(),
        ),
    };
    let sql = format!(
        "UPDATE outbox SET next_attempt = ?2, lease_until = NULL
         WHERE state = 'pending' AND next_attempt <= ?1 AND (lease_until IS NULL OR lease_until < ?1)
           AND window_start >= ?3 AND {filter}"
    );
    let mut args: Vec<rusqlite::types::Value> = vec![
        stamp(now).into(),
        stamp(next).into(),
        stamp(window_cutoff).into(),
    ];
    if webhook_origin.is_some() {
        args.push(origin.into());
    }
    Ok(conn.execute(&sql, rusqlite::params_from_iter(args))?)
}

/// Puts a dead or failing item back in the queue, due now, with a fresh window.
/// `None` requeues every item not delivered. Returns how many were requeued.
pub fn retry(conn: &Connection, id: Option<i64>, now: DateTime<Utc>) -> Result<usize> {
    let now = stamp(now);
    let n = match id {
        Some(id) => conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt = ?2, window_start = ?2, lease_until = NULL
             WHERE id = ?1 AND state != 'done'",
            params![id, now],
        )?,
        None => conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt = ?1, window_start = ?1, lease_until = NULL
             WHERE state = 'dead' OR (state = 'pending' AND attempts > 0)",
            params![now],
        )?,
    };
    Ok(n)
}

/// Forgets every claim: for a deliverer that starts after a crash and knows no other
/// deliverer is running (`watch` holds the database's watch lock).
pub fn release_leases(conn: &Connection) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE outbox SET lease_until = NULL WHERE lease_until IS NOT NULL",
        [],
    )?)
}

/// Items not yet delivered (pending, including retrying).
pub fn depth(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

/// The soonest time something pending falls due.
pub fn next_due(conn: &Connection) -> Result<Option<String>> {
    Ok(conn.query_row(
        "SELECT MIN(next_attempt) FROM outbox WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

/// Adds an event to a digest's open items (once).
pub fn add_digest_item(
    conn: &Connection,
    digest: &str,
    event: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached("INSERT INTO digest_items (digest, event, added) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
        .execute(params![digest, event, stamp(now)])?;
    Ok(())
}

/// The end of the last period sent for a digest.
pub fn last_period_end(conn: &Connection, digest: &str) -> Result<Option<String>> {
    Ok(conn.query_row(
        "SELECT MAX(period_end) FROM digest_runs WHERE digest = ?1",
        [digest],
        |r| r.get(0),
    )?)
}

/// Row ids of events waiting in a digest, added before `before`.
pub fn open_digest_items(conn: &Connection, digest: &str, before: &str) -> Result<Vec<i64>> {
    let mut stmt =
        conn.prepare("SELECT event FROM digest_items WHERE digest = ?1 AND run IS NULL AND added < ?2 ORDER BY event")?;
    let rows = stmt.query_map(params![digest, before], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records a digest period as sent (queued): fails if the period was recorded already.
pub fn record_digest_run(
    conn: &Connection,
    digest: &str,
    period_start: Option<&str>,
    period_end: &str,
    events: &[i64],
    outbox: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO digest_runs (digest, period_start, period_end, events, outbox, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            digest,
            period_start,
            period_end,
            events.len() as i64,
            outbox,
            stamp(now)
        ],
    )?;
    let run = conn.last_insert_rowid();
    let mut stmt =
        conn.prepare_cached("UPDATE digest_items SET run = ?3 WHERE digest = ?1 AND event = ?2")?;
    for e in events {
        stmt.execute(params![digest, e, run])?;
    }
    Ok(run)
}
