//! Digest periods: the events waiting in a digest and the periods already sent.

use super::Result;
use super::db::{Sql, args};
use crate::clock::stamp;
use chrono::{DateTime, Utc};

/// Adds an event to a digest's open items (once).
pub fn add_digest_item(
    conn: &impl Sql,
    digest: &str,
    event: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.exec(
        "INSERT INTO digest_items (digest, event, added) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        args![digest, event, stamp(now)],
    )?;
    Ok(())
}

/// The end of the last period sent for a digest.
pub fn last_period_end(conn: &impl Sql, digest: &str) -> Result<Option<String>> {
    conn.only(
        "SELECT MAX(period_end) FROM digest_runs WHERE digest = ?1",
        args![digest],
        |r| r.get(0),
    )
}

/// Row ids of events waiting in a digest, added before `before`.
pub fn open_digest_items(conn: &impl Sql, digest: &str, before: &str) -> Result<Vec<i64>> {
    let stmt_sql = "SELECT event FROM digest_items WHERE digest = ?1 AND run IS NULL AND added < ?2 ORDER BY event";
    let rows = conn.rows(stmt_sql, args![digest, before], |r| r.get(0))?;
    Ok(rows)
}

/// Records a digest period as sent (queued): fails if the period was recorded already.
pub fn record_digest_run(
    conn: &impl Sql,
    digest: &str,
    period_start: Option<&str>,
    period_end: &str,
    events: &[i64],
    outbox: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let run: i64 = conn.one(
        "INSERT INTO digest_runs (digest, period_start, period_end, events, outbox, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        args![
            digest,
            period_start,
            period_end,
            events.len() as i64,
            outbox,
            stamp(now)
        ],
    )?;
    for e in events {
        conn.exec(
            "UPDATE digest_items SET run = ?3 WHERE digest = ?1 AND event = ?2",
            args![digest, e, run],
        )?;
    }
    Ok(run)
}

/// The last period sent of digest `digest`: its run id, start and end.
pub fn last_digest_run(
    conn: &impl Sql,
    digest: &str,
) -> Result<Option<(i64, Option<String>, String)>> {
    conn
        .row("SELECT id, period_start, period_end FROM digest_runs WHERE digest = ?1 ORDER BY period_end DESC LIMIT 1", args![digest], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

/// The events of digest run `run`, by row.
pub fn digest_run_events(conn: &impl Sql, run: i64) -> Result<Vec<i64>> {
    let stmt_sql = "SELECT event FROM digest_items WHERE run = ?1 ORDER BY event";
    let ids = conn.rows(stmt_sql, args![run], |r| r.get(0))?;
    Ok(ids)
}
