//! What mailroom's own alerts look at: when each registrar was last heard from, the
//! notification-shaped mail quarantined lately, and the deliveries given up.

use super::db::{Sql, args};

use super::Result;

/// When each registrar's events arrived (first seen) since `since`, oldest first.
pub fn arrivals_since(conn: &impl Sql, since: &str) -> Result<Vec<(String, Vec<String>)>> {
    let stmt_sql = "SELECT registrar, first_seen FROM events
         WHERE first_seen >= ?1 AND registrar NOT IN ('mailroom', 'unknown') AND kind != 'test'
         ORDER BY registrar, first_seen";
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let rows = conn.rows(stmt_sql, args![since], |r| {
        Ok((r.get::<String>(0)?, r.get::<String>(1)?))
    })?;
    for (registrar, at) in rows {
        match out.last_mut() {
            Some((r, times)) if *r == registrar => times.push(at),
            _ => out.push((registrar, vec![at])),
        }
    }
    Ok(out)
}

/// When `registrar` was last heard from (an event first seen), if ever.
pub fn last_arrival(conn: &impl Sql, registrar: &str) -> Result<Option<String>> {
    conn.only(
        "SELECT MAX(first_seen) FROM events WHERE registrar = ?1 AND kind != 'test'",
        args![registrar],
        |r| r.get(0),
    )
}

/// A quarantined message: row, sender and reason.
#[derive(Debug, Clone)]
pub struct Held {
    pub id: i64,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub reason: String,
}

/// Messages quarantined since `since`.
pub fn quarantined_since(conn: &impl Sql, since: &str) -> Result<Vec<Held>> {
    let stmt_sql = "SELECT id, sender, subject, COALESCE(reason, '') FROM messages
         WHERE status = 'quarantined' AND first_seen >= ?1 ORDER BY id";
    let rows = conn.rows(stmt_sql, args![since], |r| {
        Ok(Held {
            id: r.get(0)?,
            sender: r.get(1)?,
            subject: r.get(2)?,
            reason: r.get(3)?,
        })
    })?;
    Ok(rows)
}

/// A delivery given up: the outbox row, what it was, where it went, why, and the topic
/// of its event (None for digests).
#[derive(Debug, Clone)]
pub struct Dead {
    pub id: i64,
    pub channel: String,
    pub target: String,
    pub rule: Option<String>,
    pub error: Option<String>,
    pub topic: Option<String>,
}

/// Every delivery given up.
pub fn dead_deliveries(conn: &impl Sql) -> Result<Vec<Dead>> {
    let stmt_sql = "SELECT o.id, o.channel, o.target, o.rule, o.last_error, e.topic
         FROM outbox o LEFT JOIN events e ON e.id = o.event
         WHERE o.state = 'dead' ORDER BY o.id";
    let rows = conn.rows(stmt_sql, args![], |r| {
        Ok(Dead {
            id: r.get(0)?,
            channel: r.get(1)?,
            target: r.get(2)?,
            rule: r.get(3)?,
            error: r.get(4)?,
            topic: r.get(5)?,
        })
    })?;
    Ok(rows)
}

/// Whether mailroom's alert `event_id` is stored.
pub fn raised(conn: &impl Sql, event_id: &str) -> Result<bool> {
    Ok(conn
        .row(
            &format!("SELECT 1 FROM events WHERE {}", super::ingest::BY_EVENT_KEY),
            args!["mailroom", event_id, super::event_key("mailroom", event_id)],
            |_| Ok(()),
        )?
        .is_some())
}
