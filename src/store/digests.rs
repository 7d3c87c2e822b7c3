//! Digest periods: the events waiting in a digest and the periods already sent.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use crate::clock::stamp;

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

/// The last period sent of digest `digest`: its run id, start and end.
pub fn last_digest_run(
    conn: &Connection,
    digest: &str,
) -> Result<Option<(i64, Option<String>, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, period_start, period_end FROM digest_runs WHERE digest = ?1 ORDER BY period_end DESC LIMIT 1",
            [digest],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// The events of digest run `run`, by row.
pub fn digest_run_events(conn: &Connection, run: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare("SELECT event FROM digest_items WHERE run = ?1 ORDER BY event")?;
    let ids = stmt
        .query_map([run], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}
