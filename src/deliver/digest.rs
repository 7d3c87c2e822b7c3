//! Digest periods: when a digest's schedule passes a boundary, the events collected
//! since the last period are rendered and queued as one mail, and the period recorded,
//! in one transaction, so each period is sent once even across restarts. After
//! downtime, the periods missed are sent as one digest on start.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::compose;
use super::digest_mail::{DeadDelivery, Entry};
use crate::action::Digest;
use crate::clock::stamp;
use crate::store::db::Sql as _;
use crate::store::outbox::{self, Channel, NewItem};
use crate::store::{Result, Store};
use crate::store::{digests, query};

/// Closes every digest period that has ended by `now`. Returns how many were queued.
pub fn tick(store: &mut Store, digests: &[Digest], now: DateTime<Utc>) -> Result<u64> {
    let mut queued = 0;
    for d in digests {
        let Some(boundary) = d.schedule.last_boundary(now) else {
            continue;
        };
        let end = stamp(boundary);
        let last = digests::last_period_end(store.db(), &d.name)?;
        if last.as_deref().is_some_and(|l| l >= end.as_str()) {
            continue;
        }
        if close_period(store, d, last.as_deref(), &end, now)?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Records the period `(start, end]` of `d` and queues its mail (unless it is empty and
/// the digest does not send empty ones). Returns the outbox id when a mail was queued.
pub fn close_period(
    store: &mut Store,
    d: &Digest,
    start: Option<&str>,
    end: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let tx = store.db().write()?;
    // Another instance may have closed this period since the caller looked: the write
    // lock is held from here on, so it is looked at again (and the period's unique key
    // holds it once whatever happens).
    if digests::last_period_end(&tx, &d.name)?.is_some_and(|l| l.as_str() >= end) {
        return Ok(None);
    }
    let ids = digests::open_digest_items(&tx, &d.name, end)?;
    let events = load(&tx, &ids)?;
    let mut queued = None;
    if !events.is_empty() || d.send_empty {
        let dead = dead_deliveries(&tx)?;
        let payload = compose::digest(d, &events, &dead, start, end);
        let item = NewItem {
            channel: Channel::Digest,
            rule: None,
            event: None,
            message: None,
            target: d.to.join(", "),
            payload,
        };
        queued = Some(outbox::enqueue(&tx, &item, now)?);
    }
    digests::record_digest_run(&tx, &d.name, start, end, &ids, queued, now)?;
    tx.commit()?;
    Ok(queued)
}

/// The digest's events, each with the subject of the mail it first came in.
pub fn load(conn: &impl crate::store::db::Sql, ids: &[i64]) -> Result<Vec<Entry>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(d) = query::event_detail(conn, &id.to_string())? {
            let subject = d.sources.iter().find_map(|s| s.subject.clone());
            out.push(Entry {
                stored: d.stored,
                subject,
            });
        }
    }
    Ok(out)
}

/// Deliveries given up and not retried: shown under "Needs attention".
pub fn dead_deliveries(conn: &impl crate::store::db::Sql) -> Result<Vec<DeadDelivery>> {
    Ok(outbox::list(conn, &["dead"])?
        .into_iter()
        .map(|i| DeadDelivery {
            id: i.id,
            kind: i.channel.as_str().to_string(),
            target: i.target,
            error: i.last_error.unwrap_or_default(),
        })
        .collect())
}

/// The digest mail of the events still waiting (for `digest NAME --preview`).
pub fn preview_open(store: &Store, d: &Digest, now: DateTime<Utc>) -> Result<Value> {
    let end = stamp(now);
    let start = digests::last_period_end(store.db(), &d.name)?;
    let ids = digests::open_digest_items(store.db(), &d.name, &end)?;
    let events = load(store.db(), &ids)?;
    let dead = dead_deliveries(store.db())?;
    Ok(compose::digest(d, &events, &dead, start.as_deref(), &end))
}

/// The digest mail of the last period sent.
pub fn preview_last(store: &Store, d: &Digest) -> Result<Option<Value>> {
    let Some((run, start, end)) = digests::last_digest_run(store.db(), &d.name)? else {
        return Ok(None);
    };
    let ids = digests::digest_run_events(store.db(), run)?;
    let events = load(store.db(), &ids)?;
    let dead = dead_deliveries(store.db())?;
    Ok(Some(compose::digest(
        d,
        &events,
        &dead,
        start.as_deref(),
        &end,
    )))
}

/// Every digest defined, for `mailroom status` and checks.
pub fn names(digests: &[Digest]) -> Vec<&str> {
    digests.iter().map(|d| d.name.as_str()).collect()
}
