//! What the web console shows beyond `query`: a page of events, what needs attention
//! (failed jobs, open transfers out, expiring domains, failing zone checks), the
//! deliveries of an event, the outbox by state, messages, digest runs. Reads only,
//! except the acknowledgements a person gives on the attention page (kept in `meta`).

use super::Result;
use super::db::{Owned, Row, Sql, arg_list, args};
use super::query::{EVENT_COLUMNS, Quarantined, StoredEvent, stored_event};

/// The time an event is ordered by: when it happened, else when it was first seen.
const WHEN: &str = "COALESCE(occurred_at, first_seen)";

/// Events by a `WHERE` clause over `events`, newest first: the first `limit`, and the
/// count.
fn events_where(
    conn: &impl Sql,
    clause: &str,
    args: &[Owned],
    limit: u64,
) -> Result<(Vec<StoredEvent>, i64)> {
    let total: i64 = conn.only(
        &format!("SELECT COUNT(*) FROM events WHERE {clause}"),
        &arg_list(args),
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE {clause} ORDER BY {WHEN} DESC, id DESC LIMIT {limit}"
    );
    let stmt_sql = &sql;
    let rows = conn.rows(stmt_sql, &arg_list(args), stored_event(conn))?;
    Ok((rows, total))
}

/// Not acknowledged on the attention page.
const NOT_ACKED: &str = "NOT EXISTS (SELECT 1 FROM meta WHERE key = 'console/ack/' || events.id)";

/// No later event of the same domain among `topics` (SQL list): this one is the
/// domain's latest word on the matter.
fn latest_of_domain(topics: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM events l WHERE l.domain = events.domain AND l.topic IN ({topics})
           AND (COALESCE(l.occurred_at, l.first_seen) > {WHEN}
                OR (COALESCE(l.occurred_at, l.first_seen) = {WHEN} AND l.id > events.id)))"
    )
}

/// Attention items: events matching `clause`, not marked handled, that happened after
/// `since` (None: whenever), newest first.
fn open_items(
    conn: &impl Sql,
    clause: &str,
    since: Option<&str>,
    limit: u64,
) -> Result<(Vec<StoredEvent>, i64)> {
    let after = since.map_or(String::new(), |_| format!(" AND {WHEN} >= ?1"));
    let args: Vec<Owned> = since
        .map(|s| Owned::Text(s.to_string()))
        .into_iter()
        .collect();
    let clause = format!("{clause} AND {NOT_ACKED}{after}");
    events_where(conn, &clause, &args, limit)
}

/// Jobs the registrar reports as failed, unless a later job of the same type for the
/// same domain succeeded.
pub fn failed_jobs(
    conn: &impl Sql,
    since: Option<&str>,
    limit: u64,
) -> Result<(Vec<StoredEvent>, i64)> {
    let clause = format!(
        "topic = 'job.result' AND status IN ('error', 'failed')
         AND NOT EXISTS (SELECT 1 FROM events l WHERE l.topic = 'job.result'
           AND l.domain = events.domain AND l.type = events.type
           AND l.status IN ('success', 'successful', 'completed', 'ok')
           AND (COALESCE(l.occurred_at, l.first_seen) > {WHEN}
                OR (COALESCE(l.occurred_at, l.first_seen) = {WHEN} AND l.id > events.id)))"
    );
    open_items(conn, &clause, since, limit)
}

/// Transfers out whose domain's latest transfer-out event is still open (pending,
/// approved, or without a status).
pub fn open_transfers_out(
    conn: &impl Sql,
    since: Option<&str>,
    limit: u64,
) -> Result<(Vec<StoredEvent>, i64)> {
    let clause = format!(
        "topic = 'transfer.out' AND (status IS NULL OR status = 'approved' OR status LIKE 'pending%')
         AND {}",
        latest_of_domain("'transfer.out'")
    );
    open_items(conn, &clause, since, limit)
}

/// Domains reminded of renewal, expired or deleted, with no renewal or restore since.
pub fn expiring_domains(
    conn: &impl Sql,
    since: Option<&str>,
    limit: u64,
) -> Result<(Vec<StoredEvent>, i64)> {
    let clause = format!(
        "topic IN ('domain.renewal_reminder', 'domain.expired', 'domain.deleted') AND {}",
        latest_of_domain(
            "'domain.renewal_reminder', 'domain.expired', 'domain.deleted', 'domain.renewed', 'domain.restored'"
        )
    );
    open_items(conn, &clause, since, limit)
}

/// Domains whose latest zone check failed.
pub fn failing_zone_checks(
    conn: &impl Sql,
    since: Option<&str>,
    limit: u64,
) -> Result<(Vec<StoredEvent>, i64)> {
    let clause = format!(
        "topic = 'domain.zone_check' AND status IN ('error', 'invalid', 'failed') AND {}",
        latest_of_domain("'domain.zone_check'")
    );
    open_items(conn, &clause, since, limit)
}

/// mailroom's own alerts still open: a failing source not recovered since, a quiet
/// registrar, unread formats, deliveries given up, failed probes.
pub fn open_alerts(
    conn: &impl Sql,
    since: Option<&str>,
    limit: u64,
) -> Result<(Vec<StoredEvent>, i64)> {
    let clause = "registrar = 'mailroom' AND topic != 'mailroom.source_recovered'
         AND NOT (topic = 'mailroom.source_failing' AND EXISTS (
           SELECT 1 FROM events r WHERE r.topic = 'mailroom.source_recovered'
             AND r.event_id = 'source_recovered:' || substr(events.event_id, 16)))";
    open_items(conn, clause, since, limit)
}

/// Takes an event off the attention page (it stays stored as it was).
pub fn ack(conn: &impl Sql, event: i64, now: &str) -> Result<bool> {
    let exists: bool = conn.only(
        "SELECT COUNT(*) > 0 FROM events WHERE id = ?1",
        args![event],
        |r| r.get(0),
    )?;
    if exists {
        conn.exec("INSERT INTO meta (key, value) VALUES ('console/ack/' || ?1, ?2) ON CONFLICT DO NOTHING", args![event, now])?;
    }
    Ok(exists)
}

/// When the event was acknowledged on the attention page.
pub fn acked(conn: &impl Sql, event: i64) -> Result<Option<String>> {
    conn.row(
        "SELECT value FROM meta WHERE key = 'console/ack/' || ?1",
        args![event],
        |r| r.get(0),
    )
}

/// An outbox item as the console lists it (never its payload: it may hold what a
/// webhook is signed with).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub channel: String,
    pub rule: Option<String>,
    pub event: Option<i64>,
    pub target: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt: String,
    pub last_error: Option<String>,
    pub created: String,
    pub done_at: Option<String>,
}

impl Delivery {
    /// `pending`, `retrying` (pending after a failure), `done` or `dead`.
    pub fn shown_state(&self) -> &str {
        if self.state == "pending" && self.attempts > 0 {
            "retrying"
        } else {
            &self.state
        }
    }
}

pub(super) const DELIVERY_COLUMNS: &str =
    "id, channel, rule, event, target, state, attempts, next_attempt, last_error, created, done_at";

pub(super) fn delivery(r: &Row<'_>) -> Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        channel: r.get(1)?,
        rule: r.get(2)?,
        event: r.get(3)?,
        target: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt: r.get(7)?,
        last_error: r.get(8)?,
        created: r.get(9)?,
        done_at: r.get(10)?,
    })
}

/// The SQL condition for a state as the console names it.
fn state_clause(state: Option<&str>) -> &'static str {
    match state {
        Some("pending") => "state = 'pending' AND attempts = 0",
        Some("retrying") => "state = 'pending' AND attempts > 0",
        Some("done") => "state = 'done'",
        Some("dead") => "state = 'dead'",
        _ => "1",
    }
}

/// Outbox items in a state (`pending`, `retrying`, `done`, `dead`; all for None),
/// newest first; and how many in all.
pub fn outbox_page(
    conn: &impl Sql,
    state: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Delivery>, i64)> {
    let clause = state_clause(state);
    let total: i64 = conn.only(
        &format!("SELECT COUNT(*) FROM outbox WHERE {clause}"),
        args![],
        |r| r.get(0),
    )?;
    let stmt_sql = &format!(
        "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE {clause} ORDER BY id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = conn.rows(stmt_sql, args![], delivery)?;
    Ok((rows, total))
}

/// How many outbox items are in each state the console names.
pub fn outbox_counts(conn: &impl Sql) -> Result<[(&'static str, i64); 4]> {
    let mut out = [("pending", 0), ("retrying", 0), ("dead", 0), ("done", 0)];
    for (state, n) in out.iter_mut() {
        *n = conn.only(
            &format!(
                "SELECT COUNT(*) FROM outbox WHERE {}",
                state_clause(Some(state))
            ),
            args![],
            |r| r.get(0),
        )?;
    }
    Ok(out)
}

/// What the rules asked for an event, oldest first.
pub fn deliveries_of_event(conn: &impl Sql, event: i64) -> Result<Vec<Delivery>> {
    let stmt_sql = &format!("SELECT {DELIVERY_COLUMNS} FROM outbox WHERE event = ?1 ORDER BY id");
    let rows = conn.rows(stmt_sql, args![event], delivery)?;
    Ok(rows)
}

/// A digest an event was collected into, and the run that sent it (None: waiting).
#[derive(Debug, Clone)]
pub struct Collected {
    pub digest: String,
    pub added: String,
    pub run: Option<i64>,
}

pub fn digests_of_event(conn: &impl Sql, event: i64) -> Result<Vec<Collected>> {
    let stmt_sql = "SELECT digest, added, run FROM digest_items WHERE event = ?1 ORDER BY digest";
    let rows = conn.rows(stmt_sql, args![event], |r| {
        Ok(Collected {
            digest: r.get(0)?,
            added: r.get(1)?,
            run: r.get(2)?,
        })
    })?;
    Ok(rows)
}

/// A stored message, as its page shows it.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub sender: Option<String>,
    pub date: Option<String>,
    pub size: i64,
    pub status: String,
    pub reason: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    /// Whether the raw bytes are kept whole (None: not kept at all).
    pub complete: Option<bool>,
    pub sources: Vec<(String, String)>,
}

pub fn message(conn: &impl Sql, id: i64) -> Result<Option<Message>> {
    let found = conn
        .row("SELECT m.id, m.message_id, m.subject, m.sender, m.date, m.size, m.status, m.reason,
                    m.first_seen,
                    COALESCE((SELECT max(seen_at) FROM message_sources WHERE message = m.id),
                             m.last_seen, m.first_seen),
                    COALESCE(m.raw_complete, (SELECT complete FROM raw_messages WHERE message = m.id))
             FROM messages m WHERE m.id = ?1", args![id], |r| {
                Ok(Message {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    subject: r.get(2)?,
                    sender: r.get(3)?,
                    date: r.get(4)?,
                    size: r.get(5)?,
                    status: r.get(6)?,
                    reason: r.get(7)?,
                    first_seen: r.get(8)?,
                    last_seen: r.get(9)?,
                    complete: r.get(10)?,
                    sources: Vec::new(),
                })
            })?;
    let Some(mut m) = found else { return Ok(None) };
    let stmt_sql = "SELECT source, seen_at FROM message_sources WHERE message = ?1 ORDER BY id";
    m.sources = conn.rows(stmt_sql, args![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Some(m))
}

/// The events found in a message.
pub fn events_of_message(conn: &impl Sql, message: i64) -> Result<Vec<StoredEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id IN (SELECT event FROM event_sources WHERE message = ?1)
         ORDER BY id"
    );
    let stmt_sql = &sql;
    let rows = conn.rows(stmt_sql, args![message], stored_event(conn))?;
    Ok(rows)
}

/// The message an event was first seen in.
pub fn first_message(conn: &impl Sql, event: i64) -> Result<Option<i64>> {
    conn.row(
        "SELECT message FROM events WHERE id = ?1",
        args![event],
        |r| r.get(0),
    )
}

/// Quarantined messages, newest first; and how many in all.
pub fn quarantined_page(
    conn: &impl Sql,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Quarantined>, i64)> {
    let total: i64 = conn.only(
        "SELECT COUNT(*) FROM messages WHERE status = 'quarantined'",
        args![],
        |r| r.get(0),
    )?;
    let rows = super::query::quarantined_where(
        conn,
        &format!("ORDER BY m.id DESC LIMIT {limit} OFFSET {offset}"),
    )?;
    Ok((rows, total))
}

/// A digest period sent (queued), with its mail's delivery state.
#[derive(Debug, Clone)]
pub struct DigestRun {
    pub id: i64,
    pub digest: String,
    pub period_start: Option<String>,
    pub period_end: String,
    pub events: i64,
    pub created: String,
    pub outbox: Option<i64>,
    pub delivery: Option<Delivery>,
}

fn digest_runs_where(conn: &impl Sql, clause: &str, arg: Owned) -> Result<Vec<DigestRun>> {
    let stmt_sql = &format!(
        "SELECT id, digest, period_start, period_end, events, created, outbox FROM digest_runs
         WHERE {clause} ORDER BY period_end DESC, id DESC LIMIT 50"
    );
    let mut runs: Vec<DigestRun> = conn.rows(stmt_sql, args![arg], |r| {
        Ok(DigestRun {
            id: r.get(0)?,
            digest: r.get(1)?,
            period_start: r.get(2)?,
            period_end: r.get(3)?,
            events: r.get(4)?,
            created: r.get(5)?,
            outbox: r.get(6)?,
            delivery: None,
        })
    })?;
    let stmt_sql = &format!("SELECT {DELIVERY_COLUMNS} FROM outbox WHERE id = ?1");
    for run in &mut runs {
        if let Some(id) = run.outbox {
            run.delivery = conn.row(stmt_sql, args![id], delivery)?;
        }
    }
    Ok(runs)
}

/// The latest 50 runs of a digest, newest first.
pub fn digest_runs(conn: &impl Sql, digest: &str) -> Result<Vec<DigestRun>> {
    digest_runs_where(conn, "digest = ?1", Owned::Text(digest.to_string()))
}

pub fn digest_run(conn: &impl Sql, run: i64) -> Result<Option<DigestRun>> {
    Ok(digest_runs_where(conn, "id = ?1", Owned::Int(run))?
        .into_iter()
        .next())
}

/// The events a digest run contained.
pub fn digest_run_events(conn: &impl Sql, run: i64) -> Result<Vec<StoredEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id IN (SELECT event FROM digest_items WHERE run = ?1)
         ORDER BY {WHEN} DESC, id DESC"
    );
    let stmt_sql = &sql;
    let rows = conn.rows(stmt_sql, args![run], stored_event(conn))?;
    Ok(rows)
}

/// Events collected for a digest and not sent yet.
pub fn digest_waiting(conn: &impl Sql, digest: &str) -> Result<i64> {
    conn.only(
        "SELECT COUNT(*) FROM digest_items WHERE digest = ?1 AND run IS NULL",
        args![digest],
        |r| r.get(0),
    )
}

/// Every digest name the store knows (runs or collected events), configured or not.
pub fn digest_names(conn: &impl Sql) -> Result<Vec<String>> {
    let stmt_sql =
        "SELECT digest FROM digest_runs UNION SELECT digest FROM digest_items ORDER BY 1";
    let rows = conn.rows(stmt_sql, args![], |r| r.get(0))?;
    Ok(rows)
}

/// The topics and statuses stored events have, for the filter form's suggestions.
pub fn vocabulary(conn: &impl Sql) -> Result<(Vec<String>, Vec<String>)> {
    let list = |sql: &str| -> Result<Vec<String>> {
        let stmt_sql = sql;
        let rows = conn.rows(stmt_sql, args![], |r| r.get(0))?;
        Ok(rows)
    };
    Ok((
        list("SELECT DISTINCT topic FROM events ORDER BY 1 LIMIT 500")?,
        list("SELECT DISTINCT status FROM events WHERE status IS NOT NULL ORDER BY 1 LIMIT 500")?,
    ))
}

pub mod domains;
#[cfg(test)]
mod tests;
