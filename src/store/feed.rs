//! The event feed for downstream systems: events in store order (`events.id`, which
//! only grows: one writer at a time assigns it, and a reader sees whole commits), behind
//! a cursor; and named consumers whose acknowledged cursor the store keeps, so a
//! consumer that dies between a poll and its ack is served the same events again
//! (at-least-once, resumable). Consumers are made by [`create`] only (a poll of an
//! unknown name changes nothing), at most [`MAX_CONSUMERS`]; their lag is counted in one
//! pass over the events after the furthest-behind cursor, not one pass per consumer.

use super::db::{Dialect, Sql, args};
use serde::Serialize;

use super::Result;
use super::query::{EVENT_COLUMNS, StoredEvent, stored_event};
use crate::clock;

/// Most events one page holds; `DEFAULT_LIMIT` when the client names none.
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;

/// The cursor for a position in store order: stable, but not meant to be computed by
/// clients (they pass back what they were given).
pub fn encode(position: i64) -> String {
    format!("ev1-{position:x}")
}

/// A position from a cursor; None for anything this server did not hand out. The empty
/// string and `0` are the start.
pub fn decode(cursor: &str) -> Option<i64> {
    let cursor = cursor.trim();
    if cursor.is_empty() || cursor == "0" {
        return Some(0);
    }
    let hex = cursor.strip_prefix("ev1-")?;
    if hex.is_empty() || hex.len() > 15 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(hex, 16).ok()
}

/// One page of the feed.
#[derive(Debug, Clone)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    /// The position after the last event of the page (the one asked after when empty).
    pub next: i64,
    /// More events follow `next`.
    pub more: bool,
}

/// Up to `limit` events after position `after`, in store order.
pub fn page(conn: &impl Sql, after: i64, limit: usize) -> Result<Page> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut events: Vec<StoredEvent> = conn.rows(
        &format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"),
        args![after, limit as i64 + 1],
        stored_event(conn),
    )?;
    let more = events.len() > limit;
    events.truncate(limit);
    let next = events.last().map_or(after, |e| e.id);
    Ok(Page { events, next, more })
}

/// The position of the newest event (0 when there is none).
pub fn last_position(conn: &impl Sql) -> Result<i64> {
    conn.one("SELECT COALESCE(MAX(id), 0) FROM events", args![])
}

/// Consumers kept at most: each is counted on every `/metrics` scrape.
pub const MAX_CONSUMERS: i64 = 100;

/// Events after position `after` up to and including `upto`, counted on the narrow
/// `events_order` index (migration 11) rather than the table's rows.
fn count_between(conn: &impl Sql, after: i64, upto: i64) -> Result<i64> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT COUNT(*) FROM events INDEXED BY events_order WHERE id > ?1 AND id <= ?2"
        }
        Dialect::Postgres => "SELECT COUNT(*) FROM events WHERE id > ?1 AND id <= ?2",
    };
    conn.one(sql, args![after, upto])
}

/// Events after each of `positions`: how far behind consumers are. One pass over the
/// events after the smallest position, in slices between consecutive positions.
fn lags(conn: &impl Sql, positions: &[i64]) -> Result<std::collections::HashMap<i64, i64>> {
    let mut sorted: Vec<i64> = positions.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut upto = last_position(conn)?;
    let mut behind = 0;
    let mut out = std::collections::HashMap::with_capacity(sorted.len());
    for &p in sorted.iter().rev() {
        if p < upto {
            behind += count_between(conn, p, upto)?;
            upto = p;
        }
        out.insert(p, behind);
    }
    Ok(out)
}

/// A consumer name: `[A-Za-z0-9._-]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A named consumer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consumer {
    pub name: String,
    /// Cursor of the last event acknowledged.
    pub acked: String,
    /// Events stored after it.
    pub lag: i64,
    pub created: String,
    pub updated: String,
    pub last_poll: Option<String>,
}

/// A consumer's row: acknowledged position, created, updated, last poll.
struct Row {
    acked: i64,
    created: String,
    updated: String,
    last_poll: Option<String>,
}

fn consumer_row(conn: &impl Sql, name: &str) -> Result<Option<Row>> {
    conn.row(
        "SELECT acked, created, updated, last_poll FROM consumers WHERE name = ?1",
        args![name],
        |r| {
            Ok(Row {
                acked: r.get(0)?,
                created: r.get(1)?,
                updated: r.get(2)?,
                last_poll: r.get(3)?,
            })
        },
    )
}

/// What became of a request to create a consumer.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    /// Made now, at the start of the feed.
    New(Consumer),
    /// It existed already (unchanged).
    Existing(Consumer),
    /// There are [`MAX_CONSUMERS`] already.
    Full,
}

/// Makes a consumer at the start of the feed, unless it exists or there are
/// [`MAX_CONSUMERS`] (checked in the same statement).
pub fn create(conn: &impl Sql, name: &str) -> Result<Created> {
    let made = conn.exec(
        "INSERT INTO consumers (name, acked, created, updated)
         SELECT ?1, 0, ?2, ?2 WHERE (SELECT COUNT(*) FROM consumers) < ?3
         ON CONFLICT (name) DO NOTHING",
        args![name, clock::now_stamp(), MAX_CONSUMERS],
    )?;
    Ok(match consumer(conn, name)? {
        Some(c) if made == 1 => Created::New(c),
        Some(c) => Created::Existing(c),
        None => Created::Full,
    })
}

/// Forgets a consumer and its cursor; false when there was none by that name.
pub fn delete(conn: &impl Sql, name: &str) -> Result<bool> {
    Ok(conn.exec("DELETE FROM consumers WHERE name = ?1", args![name])? == 1)
}

/// A consumer's next page: the events after its acknowledged cursor (the cursor does not
/// move); None when there is no consumer by that name.
pub fn poll(conn: &impl Sql, name: &str, limit: usize) -> Result<Option<Page>> {
    let Some(row) = consumer_row(conn, name)? else {
        return Ok(None);
    };
    conn.exec(
        "UPDATE consumers SET last_poll = ?2 WHERE name = ?1",
        args![name, clock::now_stamp()],
    )?;
    Ok(Some(page(conn, row.acked, limit)?))
}

/// Why an acknowledgement was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AckError {
    /// No consumer by that name.
    Unknown,
    /// The cursor lies beyond the newest event: it was never served.
    Beyond { last: i64 },
}

/// Moves a consumer's cursor forward to `position` (an earlier one leaves it where it
/// is). Returns the consumer after the move.
pub fn ack(
    conn: &impl Sql,
    name: &str,
    position: i64,
) -> Result<std::result::Result<Consumer, AckError>> {
    if consumer_row(conn, name)?.is_none() {
        return Ok(Err(AckError::Unknown));
    }
    let last = last_position(conn)?;
    if position > last {
        return Ok(Err(AckError::Beyond { last }));
    }
    conn.exec(
        "UPDATE consumers SET acked = ?2, updated = ?3 WHERE name = ?1 AND acked < ?2",
        args![name, position, clock::now_stamp()],
    )?;
    Ok(consumer(conn, name)?.ok_or(AckError::Unknown))
}

/// One consumer, with its lag.
pub fn consumer(conn: &impl Sql, name: &str) -> Result<Option<Consumer>> {
    let Some(row) = consumer_row(conn, name)? else {
        return Ok(None);
    };
    let lag = lags(conn, &[row.acked])?;
    Ok(Some(with_lag(name.to_string(), row, &lag)))
}

fn with_lag(name: String, row: Row, lags: &std::collections::HashMap<i64, i64>) -> Consumer {
    Consumer {
        name,
        acked: encode(row.acked),
        lag: lags.get(&row.acked).copied().unwrap_or(0),
        created: row.created,
        updated: row.updated,
        last_poll: row.last_poll,
    }
}

/// Every consumer, by name.
pub fn consumers(conn: &impl Sql) -> Result<Vec<Consumer>> {
    let rows: Vec<(String, Row)> = conn.rows(
        "SELECT name, acked, created, updated, last_poll FROM consumers ORDER BY name",
        args![],
        |r| {
            Ok((
                r.get(0)?,
                Row {
                    acked: r.get(1)?,
                    created: r.get(2)?,
                    updated: r.get(3)?,
                    last_poll: r.get(4)?,
                },
            ))
        },
    )?;
    let positions: Vec<i64> = rows.iter().map(|(_, r)| r.acked).collect();
    let lags = lags(conn, &positions)?;
    Ok(rows
        .into_iter()
        .map(|(name, row)| with_lag(name, row, &lags))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        for n in [0, 1, 41, 1 << 40] {
            assert_eq!(decode(&encode(n)), Some(n));
        }
        assert_eq!(decode(""), Some(0));
        for bad in [
            "12",
            "ev1-",
            "ev1-zz",
            "ev2-1",
            "ev1--1",
            "ev1-ffffffffffffffff",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn consumer_names() {
        assert!(valid_name("billing-sync.v2_a"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(65)));
    }

    #[test]
    fn ack_moves_forward_only_and_not_past_the_newest_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&dir.path().join("m.db")).unwrap();
        let conn = store.conn();
        assert_eq!(ack(conn, "x", 0).unwrap().unwrap_err(), AckError::Unknown);
        assert!(
            poll(conn, "x", 10).unwrap().is_none(),
            "a poll creates nothing"
        );
        assert!(matches!(create(conn, "x").unwrap(), Created::New(_)));
        assert!(matches!(create(conn, "x").unwrap(), Created::Existing(_)));
        let p = poll(conn, "x", 10).unwrap().unwrap();
        assert!(p.events.is_empty() && !p.more && p.next == 0);
        assert_eq!(
            ack(conn, "x", 5).unwrap().unwrap_err(),
            AckError::Beyond { last: 0 }
        );
        conn.execute_batch(
            "INSERT INTO messages (id, content_hash, size, status, first_seen, last_seen)
               VALUES (1, 'h', 1, 'parsed', 't', 't');
             INSERT INTO events (id, registrar, event_id, event_key, kind, object, type, topic, domains, format, data, message, first_seen, last_seen)
               VALUES (1, 'gandi', 'a', 1, 'event', 'domain', 't', 'other', '[]', 'json', '{}', 1, 't', 't'),
                      (2, 'gandi', 'b', 2, 'event', 'domain', 't', 'other', '[]', 'json', '{}', 1, 't', 't');",
        )
        .unwrap();
        assert_eq!(poll(conn, "x", 1).unwrap().unwrap().next, 1);
        assert!(poll(conn, "x", 1).unwrap().unwrap().more);
        let c = ack(conn, "x", 2).unwrap().unwrap();
        assert_eq!((c.acked.as_str(), c.lag), ("ev1-2", 0));
        let c = ack(conn, "x", 1).unwrap().unwrap();
        assert_eq!(c.acked, "ev1-2", "never moved back");
        assert!(poll(conn, "x", 10).unwrap().unwrap().events.is_empty());
    }

    #[test]
    fn lags_are_counted_per_consumer_and_consumers_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&dir.path().join("m.db")).unwrap();
        let conn = store.conn();
        conn.execute_batch(
            "INSERT INTO messages (id, content_hash, size, status, first_seen, last_seen)
               VALUES (1, 'h', 1, 'parsed', 't', 't');",
        )
        .unwrap();
        for id in [1, 2, 3, 5, 8] {
            conn.execute(
                "INSERT INTO events (id, registrar, event_id, event_key, kind, object, type, topic, domains, format, data, message, first_seen, last_seen)
                 VALUES (?1, 'gandi', ?1, ?1, 'event', 'domain', 't', 'other', '[]', 'json', '{}', 1, 't', 't')",
                [id],
            )
            .unwrap();
        }
        for (name, at) in [("a", 0), ("b", 2), ("c", 5), ("d", 8), ("e", 2)] {
            create(conn, name).unwrap();
            ack(conn, name, at).unwrap().unwrap();
        }
        let lag: Vec<(String, i64)> = consumers(conn)
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.lag))
            .collect();
        let want = [("a", 5), ("b", 3), ("c", 1), ("d", 0), ("e", 3)];
        assert_eq!(lag, want.map(|(n, l)| (n.to_string(), l)));
        assert_eq!(consumer(conn, "b").unwrap().unwrap().lag, 3);
        for n in 5..MAX_CONSUMERS {
            create(conn, &format!("c{n}")).unwrap();
        }
        assert_eq!(create(conn, "one-too-many").unwrap(), Created::Full);
        assert!(matches!(create(conn, "a").unwrap(), Created::Existing(_)));
        assert!(delete(conn, "a").unwrap());
        assert!(!delete(conn, "a").unwrap());
        assert!(matches!(
            create(conn, "one-too-many").unwrap(),
            Created::New(_)
        ));
    }
}
