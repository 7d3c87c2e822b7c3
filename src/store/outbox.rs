//! The outbox: every delivery a rule asked for, queued in the transaction that stored
//! its event, and kept until delivered or given up. Deliverers claim an item with a
//! short lease, so two of them never send the same item at once.

use chrono::{DateTime, Utc};
use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use super::Result;
use super::db::{Dialect, Row, Sql, args};
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

fn item(r: &Row<'_>) -> Result<Item> {
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

pub fn enqueue(conn: &impl Sql, item: &NewItem, now: DateTime<Utc>) -> Result<i64> {
    let now = stamp(now);
    conn.one(
        "INSERT INTO outbox (channel, rule, event, message, target, payload, next_attempt, window_start, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7) RETURNING id",
        args![
            item.channel.as_str(),
            item.rule,
            item.event,
            item.message,
            item.target,
            serde_json::to_string(&item.payload)?,
            now
        ],
    )
}

/// Claims the next due item for `lease` on behalf of `holder` (see [`holder`]); None
/// when nothing is due. An item whose claim ran out is taken over only when its holder
/// is gone: a live process that is slow (a server taking minutes over DATA) keeps it.
pub fn claim_due(
    conn: &impl Sql,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    holder: &str,
) -> Result<Option<Item>> {
    claim_where(conn, now, lease, holder, "")
}

/// [`claim_due`] for mail only (forwards, digests, fallbacks): sent one after another.
pub fn claim_due_mail(
    conn: &impl Sql,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    holder: &str,
) -> Result<Option<Item>> {
    claim_where(conn, now, lease, holder, " AND channel != 'webhook'")
}

/// Up to `limit` due webhook calls, claimed in one transaction (one commit, not one
/// per item): they are sent side by side.
pub fn claim_due_webhooks(
    conn: &impl Sql,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    holder: &str,
    limit: usize,
) -> Result<Vec<Item>> {
    let tx = conn.begin()?;
    let mut items = Vec::new();
    while items.len() < limit {
        match claim_where(&*tx, now, lease, holder, " AND channel = 'webhook'")? {
            Some(item) => items.push(item),
            None => break,
        }
    }
    tx.commit()?;
    Ok(items)
}

/// Gives a claim back untried: the item keeps its attempts and last error.
pub fn release(conn: &impl Sql, id: i64, holder: &str) -> Result<()> {
    conn.exec(
        "UPDATE outbox SET lease_until = NULL, claimed_by = NULL WHERE id = ?1 AND claimed_by = ?2",
        args![id, holder],
    )?;
    Ok(())
}

/// Extends the claims on `ids` (see [`renew`]) in one statement.
pub fn renew_all(conn: &impl Sql, ids: &[i64], holder: &str, until: DateTime<Utc>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    conn.exec(
        &format!(
            "UPDATE outbox SET lease_until = ?2 WHERE id IN ({list}) AND claimed_by = ?1 AND state = 'pending'"
        ),
        args![holder, stamp(until)],
    )?;
    Ok(())
}

fn claim_where(
    conn: &impl Sql,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    holder: &str,
    only: &str,
) -> Result<Option<Item>> {
    let now_s = stamp(now);
    // PostgreSQL: rows another instance is claiming this moment are passed over, not
    // waited for; the claim's own UPDATE below is what makes it one holder's.
    let (tx, lock) = match conn.dialect() {
        Dialect::Postgres => (Some(conn.begin()?), " FOR UPDATE SKIP LOCKED"),
        Dialect::Sqlite => (None, ""),
    };
    let mut skip: Vec<i64> = Vec::new();
    loop {
        let next: Option<(i64, Option<String>)> =
            conn.row(
                &format!(
                "SELECT id, claimed_by FROM outbox WHERE state = 'pending' AND next_attempt <= ?1
                   AND (lease_until IS NULL OR lease_until < ?1){only}{}
                 ORDER BY next_attempt, id LIMIT 1{lock}",
                if skip.is_empty() {
                    String::new()
                } else {
                    format!(
                        " AND id NOT IN ({})",
                        skip.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                    )
                }
            ),
                args![now_s],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
        let Some((id, previous)) = next else {
            if let Some(tx) = tx {
                tx.commit()?;
            }
            return Ok(None);
        };
        if let Some(p) = &previous
            && p != holder
            && claimer_alive(conn, p, lease)? != Some(false)
        {
            // Its holder still runs (or runs on another machine and may): not ours.
            skip.push(id);
            if skip.len() > 1000 {
                return Ok(None);
            }
            continue;
        }
        let claimed = conn.exec(
            "UPDATE outbox SET lease_until = ?2, claimed_by = ?4 WHERE id = ?1 AND state = 'pending'
               AND (lease_until IS NULL OR lease_until < ?3) AND claimed_by IS NOT DISTINCT FROM ?5",
            args![id, stamp(now + lease), now_s, holder, previous],
        )?;
        if claimed == 1 {
            let found = conn.row(
                &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
                args![id],
                item,
            )?;
            if let Some(tx) = tx {
                tx.commit()?;
            }
            return Ok(found);
        }
    }
}

/// Whether the holder of a claim still runs: on this machine its process tells; on
/// another, a shared database's `instances` row does (its claims are taken over once it
/// has been quiet for a lease); None when nothing can tell (an SQLite file reached from
/// another machine: its claim then ends only with its lease).
fn claimer_alive(conn: &impl Sql, id: &str, lease: chrono::Duration) -> Result<Option<bool>> {
    match holder_alive(id) {
        Some(known) => Ok(Some(known)),
        None if conn.dialect() == Dialect::Postgres => Ok(Some(super::leases::is_alive(
            conn,
            id,
            lease.num_milliseconds().max(1000),
        )?)),
        None => Ok(None),
    }
}

/// Extends a claim while its send runs; false when the claim is no longer ours.
pub fn renew(conn: &impl Sql, id: i64, holder: &str, until: DateTime<Utc>) -> Result<bool> {
    Ok(conn.exec(
        "UPDATE outbox SET lease_until = ?3 WHERE id = ?1 AND claimed_by = ?2 AND state = 'pending'",
        args![id, holder, stamp(until)],
    )? == 1)
}

/// Who claims deliveries from this process: host, process id and the process's start
/// time (so a reused process id is not mistaken for the old holder).
pub fn holder() -> String {
    format!(
        "{}:{}:{}",
        hostname(),
        std::process::id(),
        start_time(std::process::id()).unwrap_or_default()
    )
}

/// Whether the process named by a [`holder`] id still runs: None when it runs on
/// another machine (its claim then ends only with its lease).
pub fn holder_alive(id: &str) -> Option<bool> {
    let mut parts = id.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return Some(false);
    };
    if host != hostname() {
        return None;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return Some(false);
    };
    Some(start_time(pid).is_some_and(|s| s == start))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

pub fn mark_done(conn: &impl Sql, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.exec(
        "UPDATE outbox SET state = 'done', done_at = ?2, lease_until = NULL, claimed_by = NULL,
           attempts = attempts + 1, last_error = NULL WHERE id = ?1",
        args![id, stamp(now)],
    )?;
    Ok(())
}

pub fn mark_failed(
    conn: &impl Sql,
    id: i64,
    next_attempt: DateTime<Utc>,
    error: &str,
) -> Result<()> {
    conn.exec(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3, lease_until = NULL,
           claimed_by = NULL WHERE id = ?1",
        args![id, stamp(next_attempt), error],
    )?;
    Ok(())
}

pub fn mark_dead(conn: &impl Sql, id: i64, error: &str) -> Result<()> {
    conn.exec(
        "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?2, lease_until = NULL,
           claimed_by = NULL WHERE id = ?1",
        args![id, error],
    )?;
    Ok(())
}

/// Items in the given states (all when empty), oldest first.
pub fn list(conn: &impl Sql, states: &[&str]) -> Result<Vec<Item>> {
    let rows = conn.rows(
        &format!("SELECT {COLUMNS} FROM outbox ORDER BY id"),
        args![],
        item,
    )?;
    let mut out = Vec::new();
    for r in rows {
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
    conn: &impl Sql,
    webhook_origin: Option<&str>,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
    window_cutoff: DateTime<Utc>,
) -> Result<usize> {
    let url = conn.dialect().json_text("payload", "url");
    let (filter, origin) = match webhook_origin {
        None => ("channel != 'webhook'".to_string(), String::new()),
        Some(o) => (
            format!(
                "channel = 'webhook' AND ({url} = ?4
                   OR substr({url}, 1, length(?4) + 1) IN (?4 || '/', ?4 || '?'))"
            ),
            o.to_string(),
        ),
    };
    let sql = format!(
        "UPDATE outbox SET next_attempt = ?2
         WHERE state = 'pending' AND next_attempt <= ?1 AND (lease_until IS NULL OR lease_until < ?1)
           AND window_start >= ?3 AND {filter}"
    );
    let (now, next, cutoff) = (stamp(now), stamp(next), stamp(window_cutoff));
    let n = if webhook_origin.is_some() {
        conn.exec(&sql, args![now, next, cutoff, origin])?
    } else {
        conn.exec(&sql, args![now, next, cutoff])?
    };
    Ok(n as usize)
}

/// Puts a dead or failing item back in the queue, due now, with a fresh window.
/// `None` requeues every item not delivered. Returns how many were requeued.
pub fn retry(conn: &impl Sql, id: Option<i64>, now: DateTime<Utc>) -> Result<usize> {
    let now = stamp(now);
    let n = match id {
        Some(id) => conn.exec(
            "UPDATE outbox SET state = 'pending', next_attempt = ?2, window_start = ?2
             WHERE id = ?1 AND state != 'done'",
            args![id, now],
        )?,
        // Every item not delivered: dead, failing, and those held back untried behind
        // a destination found unreachable.
        None => conn.exec(
            "UPDATE outbox SET state = 'pending', next_attempt = ?1, window_start = ?1
             WHERE state = 'dead' OR (state = 'pending' AND (attempts > 0 OR next_attempt > ?1))",
            args![now],
        )?,
    };
    Ok(n as usize)
}

/// Forgets the claims whose holder is gone (a deliverer killed mid-send, an instance
/// that died): its items are due again at once, whatever their claim's own lease. Gone
/// is a process of this machine that no longer runs, or, on PostgreSQL, an instance of
/// another machine that said it was alive but not for `quiet_ms` (`[store] lease`).
/// Claims of live processes, and of other machines' processes that never say they are
/// alive (which end with their claim's lease), are left alone.
pub fn release_stale_claims(conn: &impl Sql, quiet_ms: i64) -> Result<usize> {
    let holders: Vec<Option<String>> = conn.rows(
        "SELECT DISTINCT claimed_by FROM outbox WHERE lease_until IS NOT NULL AND state = 'pending'",
        args![],
        |r| r.get(0),
    )?;
    let mut released = 0;
    for h in holders {
        let gone = match h.as_deref() {
            None => true,
            Some(h) => match holder_alive(h) {
                Some(alive) => !alive,
                None if conn.dialect() == Dialect::Postgres => {
                    super::leases::is_quiet(conn, h, quiet_ms.max(1000))?
                }
                None => false,
            },
        };
        if gone {
            released += conn.exec(
                "UPDATE outbox SET lease_until = NULL, claimed_by = NULL
                 WHERE lease_until IS NOT NULL AND claimed_by IS NOT DISTINCT FROM ?1",
                args![h],
            )? as usize;
        }
    }
    Ok(released)
}

/// Items waiting for a later try, by kind (`mail` or `webhook`) and last error: how
/// many, and the soonest next try.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub kind: String,
    pub count: i64,
    pub next_attempt: String,
    pub last_error: Option<String>,
}

/// What waits for a later try (pending, not due at `now`), grouped by [`Waiting`].
pub fn waiting(conn: &impl Sql, now: DateTime<Utc>) -> Result<Vec<Waiting>> {
    conn.rows(
        "SELECT CASE channel WHEN 'webhook' THEN 'webhook' ELSE 'mail' END AS kind,
                COUNT(*), MIN(next_attempt), last_error
         FROM outbox WHERE state = 'pending' AND next_attempt > ?1
         GROUP BY kind, last_error ORDER BY MIN(next_attempt)",
        args![stamp(now)],
        |r| {
            Ok(Waiting {
                kind: r.get(0)?,
                count: r.get(1)?,
                next_attempt: r.get(2)?,
                last_error: r.get(3)?,
            })
        },
    )
}

/// Items not yet delivered (pending, including retrying).
pub fn depth(conn: &impl Sql) -> Result<i64> {
    conn.one(
        "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
        args![],
    )
}

/// The soonest time something pending falls due.
pub fn next_due(conn: &impl Sql) -> Result<Option<String>> {
    conn.one(
        "SELECT MIN(next_attempt) FROM outbox WHERE state = 'pending'",
        args![],
    )
}

/// (event row, channel, recipients or webhook URL) of queued deliveries, and (digest,
/// event row) of digest entries: see [`given`].
pub type Given = (HashSet<(i64, String, String)>, HashSet<(String, i64)>);

/// Deliveries and digest entries already queued for stored events: (event row,
/// channel, recipients or webhook URL) of the outbox, and (digest, event row).
pub fn given(conn: &impl Sql) -> Result<Given> {
    let mut deliveries = HashSet::new();
    let url = conn.dialect().json_text("payload", "url");
    conn.each(
        &format!(
            "SELECT event, channel, CASE channel WHEN 'webhook' THEN {url} ELSE target END
             FROM outbox WHERE event IS NOT NULL"
        ),
        args![],
        &mut |r| {
            deliveries.insert((r.get(0)?, r.get(1)?, r.get(2)?));
            Ok(())
        },
    )?;
    let mut digests = HashSet::new();
    conn.each(
        "SELECT digest, event FROM digest_items",
        args![],
        &mut |r| {
            digests.insert((r.get(0)?, r.get(1)?));
            Ok(())
        },
    )?;
    Ok((deliveries, digests))
}

/// Whether forward row `id` of `message` is still untouched: pending, never tried, not
/// claimed (only then may more events join it).
pub fn forward_untouched(tx: &impl Sql, id: i64, message: i64) -> Result<bool> {
    Ok(tx
        .row(
            "SELECT 1 FROM outbox
             WHERE id = ?1 AND message = ?2 AND channel = 'forward' AND state = 'pending'
               AND attempts = 0 AND lease_until IS NULL",
            args![id, message],
            |_| Ok(()),
        )?
        .is_some())
}

/// One more event joining a forward row (see `ingest::group`): the new subject and
/// counts, the text to append (may be empty), and how `events.json` takes the event's
/// JSON (0: not at all; 1: the single object becomes an array; 2: appended).
pub struct ForwardGrowth<'a> {
    pub subject: &'a str,
    pub subject_one: &'a str,
    pub events: i64,
    pub listed: i64,
    pub in_json: i64,
    pub text: &'a str,
    pub json_mode: u8,
    pub json: &'a str,
}

/// Adds an event to forward row `id`, in place.
pub fn grow_forward(tx: &impl Sql, id: i64, g: &ForwardGrowth<'_>) -> Result<()> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "UPDATE outbox SET payload = json_set(payload,
            '$.subject', ?2, '$.subject_one', ?3, '$.events', ?4, '$.events_listed', ?5,
            '$.events_in_json', ?6,
            '$.text', CASE WHEN ?7 = '' THEN json_extract(payload, '$.text')
                           ELSE json_extract(payload, '$.text') || ?7 END,
            '$.payload_json', CASE ?8
                WHEN 0 THEN json_extract(payload, '$.payload_json')
                WHEN 1 THEN '[' || char(10) || json_extract(payload, '$.payload_json') || ','
                            || char(10) || ?9 || char(10) || ']'
                ELSE substr(json_extract(payload, '$.payload_json'), 1,
                            length(json_extract(payload, '$.payload_json')) - 2)
                     || ',' || char(10) || ?9 || char(10) || ']'
            END)
         WHERE id = ?1"
        }
        Dialect::Postgres => {
            "UPDATE outbox SET payload = CAST(CAST(payload AS jsonb) || jsonb_build_object(
            'subject', CAST(?2 AS text), 'subject_one', CAST(?3 AS text),
            'events', CAST(?4 AS bigint), 'events_listed', CAST(?5 AS bigint),
            'events_in_json', CAST(?6 AS bigint),
            'text', COALESCE(CAST(payload AS jsonb) ->> 'text', '') || CAST(?7 AS text),
            'payload_json', CASE CAST(?8 AS bigint)
                WHEN 0 THEN CAST(payload AS jsonb) ->> 'payload_json'
                WHEN 1 THEN '[' || chr(10) || (CAST(payload AS jsonb) ->> 'payload_json') || ','
                            || chr(10) || CAST(?9 AS text) || chr(10) || ']'
                ELSE substr(CAST(payload AS jsonb) ->> 'payload_json', 1,
                            length(CAST(payload AS jsonb) ->> 'payload_json') - 2)
                     || ',' || chr(10) || CAST(?9 AS text) || chr(10) || ']'
            END) AS text)
         WHERE id = ?1"
        }
    };
    tx.exec(
        sql,
        args![
            id,
            g.subject,
            g.subject_one,
            g.events,
            g.listed,
            g.in_json,
            g.text,
            g.json_mode,
            g.json,
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_alive_while_its_process_runs() {
        let me = holder();
        assert_eq!(holder_alive(&me), Some(true));
        // The same process id with another start time: a reused pid, not the holder.
        let reused = format!("{}:{}:1", hostname(), std::process::id());
        assert_eq!(holder_alive(&reused), Some(false));
        assert_eq!(
            holder_alive(&format!("{}:999999999:5", hostname())),
            Some(false)
        );
        assert_eq!(holder_alive("elsewhere.example:1:1"), None);
        assert_eq!(holder_alive("garbage"), Some(false));
    }
}
