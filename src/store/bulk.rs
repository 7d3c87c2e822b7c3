//! Set-based writes for PostgreSQL: a run of messages none of whose content or events is
//! stored yet goes in with one statement per table, not several round trips per
//! message (what makes `import` into a database across a network as fast as into a
//! file). Only for what [`super::ingest`] would insert fresh anyway: the caller checks
//! under the write lock (with [`stored_hashes`] and [`stored_events`]) that nothing of
//! the run is stored and that the run repeats no content and no event id; everything
//! else goes through `ingest` one message at a time. Rows get the ids the one-by-one
//! path would give them (inserted in the run's order).

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use serde_json::{Value, json};

use super::db::{Dialect, Sql, args};
use super::ingest::{Found, Hash, event_key, kept_domains, kept_reason};
use super::raw::Part;
use super::{Result, StoreError};
use crate::clock;
use crate::source::Source;
use crate::text::to_hex;

/// A message whose content is new, with where its bytes are kept.
#[derive(Clone, Copy)]
pub struct Fresh<'a> {
    pub hash: &'a Hash,
    pub size: usize,
    pub source: &'a Source,
    pub found: &'a Found,
    /// Its place in the run's compressed block.
    pub part: Part,
}

/// The rows a fresh message got: its own, and its events' in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    pub message: i64,
    pub events: Vec<i64>,
}

fn postgres_only(conn: &impl Sql) -> Result<()> {
    match conn.dialect() {
        Dialect::Postgres => Ok(()),
        Dialect::Sqlite => Err(StoreError::File(
            "internal error: set-based writes are for PostgreSQL".into(),
        )),
    }
}

/// A JSON array as the one parameter of a statement.
fn param(rows: Vec<Value>) -> Result<String> {
    Ok(serde_json::to_string(&Value::Array(rows))?)
}

/// Which of `hashes` are stored.
pub fn stored_hashes(conn: &impl Sql, hashes: &[Hash]) -> Result<HashSet<Hash>> {
    postgres_only(conn)?;
    if hashes.is_empty() {
        return Ok(HashSet::new());
    }
    let list = param(hashes.iter().map(|h| json!(to_hex(h))).collect())?;
    let found: Vec<Vec<u8>> = conn.rows(
        "SELECT content_hash FROM messages WHERE content_hash = ANY(ARRAY(
           SELECT decode(h, 'hex') FROM json_array_elements_text(CAST(CAST(?1 AS text) AS json)) AS h))",
        args![list],
        |r| r.get(0),
    )?;
    Ok(found
        .into_iter()
        .filter_map(|h| <Hash>::try_from(h.as_slice()).ok())
        .collect())
}

/// Which of `keys` (registrar, event id) are stored.
pub fn stored_events(conn: &impl Sql, keys: &[(&str, &str)]) -> Result<HashSet<(String, String)>> {
    postgres_only(conn)?;
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let wanted: HashSet<(&str, &str)> = keys.iter().copied().collect();
    let found = conn.rows(
        &format!("SELECT e.registrar, e.event_id FROM events e WHERE {BY_KEYS}"),
        args![key_list(keys.iter().copied())?],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    Ok(found
        .into_iter()
        .filter(|(r, i)| wanted.contains(&(r.as_str(), i.as_str())))
        .collect())
}

/// Events whose `event_key` is in the JSON array `?1` (an index scan whatever the
/// planner thinks of the array); the caller compares registrar and id.
const BY_KEYS: &str = "e.event_key = ANY(ARRAY(
    SELECT CAST(k AS bigint) FROM json_array_elements_text(CAST(CAST(?1 AS text) AS json)) AS k))";

/// The keys of `pairs` (registrar, event id) as the parameter of [`BY_KEYS`].
fn key_list<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Result<String> {
    param(pairs.map(|(r, i)| json!(event_key(r, i))).collect())
}

/// Inserts `run` (see the module's notes) with its sources and event links, the bytes
/// in raw block `block`; the rows each message got, in order.
pub fn insert(tx: &impl Sql, run: &[Fresh<'_>], block: i64) -> Result<Vec<Inserted>> {
    postgres_only(tx)?;
    if run.is_empty() {
        return Ok(Vec::new());
    }
    let now = clock::now_stamp();
    let messages = messages(tx, run, block, &now)?;
    let sources = sources(tx, run, &messages, &now)?;
    let events = events(tx, run, &messages, &now)?;
    let mut links = Vec::new();
    let mut out = Vec::with_capacity(run.len());
    for (f, (&message, &source)) in run.iter().zip(messages.iter().zip(&sources)) {
        let mut rows = Vec::with_capacity(f.found.events.len());
        for e in &f.found.events {
            let row = *events
                .get(&(e.registrar.as_str(), e.event_id.as_str()))
                .ok_or_else(|| StoreError::Column(format!("event {} not inserted", e.event_id)))?;
            links.push(json!({"e": row, "m": message, "s": source}));
            rows.push(row);
        }
        out.push(Inserted {
            message,
            events: rows,
        });
    }
    link_all(tx, links, &now)?;
    Ok(out)
}

/// The messages' rows, in the order of `run`.
fn messages(tx: &impl Sql, run: &[Fresh<'_>], block: i64, now: &str) -> Result<Vec<i64>> {
    let rows = run
        .iter()
        .map(|f| {
            let quarantined = f.found.events.is_empty();
            json!({
                "h": to_hex(f.hash),
                "mid": f.found.message_id,
                "subj": f.found.subject,
                "snd": f.found.sender,
                "dt": f.found.date,
                "size": f.size as i64,
                "st": if quarantined { "quarantined" } else { "parsed" },
                "why": f.found.reason,
                "n": f.found.events.len() as i64,
                "start": f.part.start,
                "len": f.part.len,
                "whole": i64::from(f.part.complete),
            })
        })
        .collect();
    let ids: HashMap<Vec<u8>, i64> = tx
        .rows(
            "INSERT INTO messages (content_hash, message_id, subject, sender, date, size, status,
                                   reason, event_count, first_seen,
                                   raw_block, raw_start, raw_len, raw_complete)
             SELECT decode(x.h, 'hex'), x.mid, x.subj, x.snd, x.dt, x.size, x.st, x.why, x.n,
                    ?2, ?3, x.start, x.len, x.whole
               FROM ROWS FROM (json_to_recordset(CAST(CAST(?1 AS text) AS json)) AS (
                      h text, mid text, subj text, snd text, dt text, size bigint, st text,
                      why text, n bigint, start bigint, len bigint, whole bigint))
                    WITH ORDINALITY AS x(h, mid, subj, snd, dt, size, st, why, n, start, len,
                                         whole, ord)
              ORDER BY x.ord
             RETURNING content_hash, id",
            args![param(rows)?, now, block],
            |r| Ok((r.get::<Vec<u8>>(0)?, r.get::<i64>(1)?)),
        )?
        .into_iter()
        .collect();
    run.iter()
        .map(|f| {
            ids.get(f.hash.as_slice()).copied().ok_or_else(|| {
                StoreError::Column(format!("message {} not inserted", to_hex(f.hash)))
            })
        })
        .collect()
}

/// Each message's one source row, in the order of `run`.
fn sources(tx: &impl Sql, run: &[Fresh<'_>], messages: &[i64], now: &str) -> Result<Vec<i64>> {
    let rows = run
        .iter()
        .zip(messages)
        .map(|(f, m)| {
            let (v, u) = match f.source {
                Source::Imap {
                    uidvalidity, uid, ..
                } => (Some(*uidvalidity), Some(*uid)),
                _ => (None, None),
            };
            json!({"m": m, "s": f.source.key(), "v": v, "u": u})
        })
        .collect();
    let ids: HashMap<i64, i64> = tx
        .rows(
            "INSERT INTO message_sources (message, source, uidvalidity, uid, seen_at)
             SELECT x.m, x.s, x.v, x.u, ?2
               FROM ROWS FROM (json_to_recordset(CAST(CAST(?1 AS text) AS json)) AS (
                      m bigint, s text, v bigint, u bigint))
                    WITH ORDINALITY AS x(m, s, v, u, ord)
              ORDER BY x.ord
             RETURNING message, id",
            args![param(rows)?, now],
            |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
        )?
        .into_iter()
        .collect();
    messages
        .iter()
        .map(|m| {
            ids.get(m)
                .copied()
                .ok_or_else(|| StoreError::Column(format!("no source row for message {m}")))
        })
        .collect()
}

/// The events' rows by (registrar, event id).
fn events<'r>(
    tx: &impl Sql,
    run: &'r [Fresh<'_>],
    messages: &[i64],
    now: &str,
) -> Result<HashMap<(&'r str, &'r str), i64>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut rows = Vec::new();
    for (f, m) in run.iter().zip(messages) {
        for e in &f.found.events {
            let data = match super::packed::pack(tx, serde_json::to_string(&e.data)?)? {
                super::packed::Packed::Text(t) => b64.encode(t),
                super::packed::Packed::Frame(b) => b64.encode(b),
            };
            rows.push(json!({
                "r": e.registrar.as_str(),
                "i": e.event_id,
                "k": event_key(e.registrar.as_str(), &e.event_id),
                "kind": e.kind.as_str(),
                "obj": e.object,
                "ty": e.event_type,
                "top": e.topic,
                "dom": e.domain,
                "doms": kept_domains(e)?,
                "st": e.status,
                "at": e.occurred_at,
                "fmt": e.format.as_str(),
                "data": data,
                "m": m,
                "stt": e.status_text,
                "auth": e.authenticated.map(i64::from),
                "why": kept_reason(e),
                "src": e.occurred_at_source,
                "skip": e.rules_skipped,
            }));
        }
    }
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let stored: HashMap<(String, String), i64> = tx
        .rows(
            "INSERT INTO events (registrar, event_id, event_key, kind, object, type, topic,
                                 domain, domains, status, occurred_at, format, data, message,
                                 first_seen, status_text, authenticated, authentication,
                                 occurred_at_source, rules_skipped)
             SELECT x.r, x.i, x.k, x.kind, x.obj, x.ty, x.top, x.dom, x.doms, x.st, x.at, x.fmt,
                    decode(x.data, 'base64'), x.m, ?2, x.stt, x.auth, x.why, x.src, x.skip
               FROM ROWS FROM (json_to_recordset(CAST(CAST(?1 AS text) AS json)) AS (
                      r text, i text, k bigint, kind text, obj text, ty text, top text,
                      dom text, doms text, st text, at text, fmt text, data text, m bigint,
                      stt text, auth bigint, why text, src text, skip text))
                    WITH ORDINALITY AS x(r, i, k, kind, obj, ty, top, dom, doms, st, at, fmt,
                                         data, m, stt, auth, why, src, skip, ord)
              ORDER BY x.ord
             RETURNING registrar, event_id, id",
            args![param(rows)?, now],
            |r| Ok(((r.get::<String>(0)?, r.get::<String>(1)?), r.get::<i64>(2)?)),
        )?
        .into_iter()
        .collect();
    let mut out = HashMap::new();
    for f in run {
        for e in &f.found.events {
            let key = (e.registrar.as_str(), e.event_id.as_str());
            let row = stored
                .get(&(key.0.to_string(), key.1.to_string()))
                .copied()
                .ok_or_else(|| StoreError::Column(format!("event {} not inserted", key.1)))?;
            out.insert(key, row);
        }
    }
    Ok(out)
}

/// Where an event of `run` is stored: its row, identity, payload and authentication.
struct Stored {
    row: i64,
    domain: Option<String>,
    event_type: String,
    status: Option<String>,
    data: super::db::Owned,
    authenticated: Option<bool>,
}

/// New content all of whose events are stored (another copy of a notification, in a
/// new email): what the one-by-one path does when each copy matches the stored event
/// (same identity, same payload, no better authentication) is to record the message,
/// its place, a link and a count. Each message of `run` for which that holds is stored
/// so; the others (false) are left for the one-by-one path, which records conflicts.
pub fn echo(tx: &impl Sql, run: &[Fresh<'_>], block: i64) -> Result<Vec<Option<Inserted>>> {
    postgres_only(tx)?;
    if run.is_empty() {
        return Ok(Vec::new());
    }
    let keys = key_list(
        run.iter()
            .flat_map(|f| &f.found.events)
            .map(|e| (e.registrar.as_str(), e.event_id.as_str())),
    )?;
    let stored: HashMap<(String, String), Stored> = tx
        .rows(
            &format!(
                "SELECT e.registrar, e.event_id, e.id, e.domain, e.type, e.status, e.data,
                        e.authenticated
                   FROM events e WHERE {BY_KEYS}"
            ),
            args![keys],
            |r| {
                Ok((
                    (r.get::<String>(0)?, r.get::<String>(1)?),
                    Stored {
                        row: r.get(2)?,
                        domain: r.get(3)?,
                        event_type: r.get(4)?,
                        status: r.get(5)?,
                        data: r.get(6)?,
                        authenticated: r.get(7)?,
                    },
                ))
            },
        )?
        .into_iter()
        .collect();
    let mut rows_of = Vec::with_capacity(run.len());
    for f in run {
        let mut rows = Vec::new();
        for e in &f.found.events {
            let Some(s) = stored.get(&(e.registrar.as_str().to_string(), e.event_id.clone()))
            else {
                break;
            };
            let data: Value = serde_json::from_str(&super::packed::unpack(tx, &s.data)?)?;
            let better = e.authenticated == Some(true) && s.authenticated != Some(true);
            if !e.same_identity(s.domain.as_deref(), &s.event_type, s.status.as_deref())
                || data != e.data
                || better
            {
                break;
            }
            rows.push(s.row);
        }
        rows_of.push((rows.len() == f.found.events.len() && !rows.is_empty()).then_some(rows));
    }
    let taken: Vec<Fresh<'_>> = run
        .iter()
        .zip(&rows_of)
        .filter(|(_, r)| r.is_some())
        .map(|(f, _)| *f)
        .collect();
    if taken.is_empty() {
        return Ok(vec![None; run.len()]);
    }
    let now = clock::now_stamp();
    let messages = messages(tx, &taken, block, &now)?;
    let sources = sources(tx, &taken, &messages, &now)?;
    let mut links = Vec::new();
    let mut counts: HashMap<i64, i64> = HashMap::new();
    let mut taken_rows = messages.iter().zip(&sources);
    let mut out = Vec::with_capacity(run.len());
    for rows in rows_of {
        let Some(rows) = rows else {
            out.push(None);
            continue;
        };
        let (&message, &source) = taken_rows
            .next()
            .ok_or_else(|| StoreError::Column("a copied message was not inserted".into()))?;
        for &row in &rows {
            links.push(json!({"e": row, "m": message, "s": source}));
            *counts.entry(row).or_default() += 1;
        }
        out.push(Some(Inserted {
            message,
            events: rows,
        }));
    }
    link_all(tx, links, &now)?;
    let counts = param(
        counts
            .into_iter()
            .map(|(e, n)| json!({"e": e, "n": n}))
            .collect(),
    )?;
    tx.exec(
        "UPDATE events SET seen_count = seen_count + x.n
           FROM json_to_recordset(CAST(CAST(?1 AS text) AS json)) AS x(e bigint, n bigint)
          WHERE events.id = x.e
            AND events.id = ANY(ARRAY(
                SELECT e FROM json_to_recordset(CAST(CAST(?1 AS text) AS json)) AS y(e bigint)))",
        args![counts],
    )?;
    Ok(out)
}

/// Links events to the places they were seen (event, message, source row).
fn link_all(tx: &impl Sql, links: Vec<Value>, now: &str) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    tx.exec(
        "INSERT INTO event_sources (event, message, source, seen_at)
         SELECT x.e, x.m, x.s, ?2
           FROM json_to_recordset(CAST(CAST(?1 AS text) AS json)) AS x(e bigint, m bigint, s bigint)
         ON CONFLICT DO NOTHING",
        args![param(links)?, now],
    )?;
    Ok(())
}

/// Content seen before, at a place of its own.
pub struct Again<'a> {
    pub hash: &'a Hash,
    pub source: &'a Source,
}

/// What [`seen_again`] found of each message: how many events it carries and whether
/// it is quarantined (what the one-by-one path reports of known content).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub events: u64,
    pub quarantined: bool,
}

/// Records new places of stored content (every item's content is stored): a source
/// row where the place is new, and for each of the message's events a link and one
/// more count, as the one-by-one path does.
pub fn seen_again(tx: &impl Sql, run: &[Again<'_>]) -> Result<Vec<Seen>> {
    postgres_only(tx)?;
    if run.is_empty() {
        return Ok(Vec::new());
    }
    let now = clock::now_stamp();
    let rows = param(
        run.iter()
            .map(|a| {
                let (v, u) = match a.source {
                    Source::Imap {
                        uidvalidity, uid, ..
                    } => (Some(*uidvalidity), Some(*uid)),
                    _ => (None, None),
                };
                json!({"h": to_hex(a.hash), "s": a.source.key(), "v": v, "u": u})
            })
            .collect(),
    )?;
    let seen: HashMap<Vec<u8>, Seen> = tx
        .rows(
            "SELECT m.content_hash, m.status,
                    (SELECT count(DISTINCT es.event) FROM event_sources es WHERE es.message = m.id)
               FROM messages m
              WHERE m.content_hash = ANY(ARRAY(
                    SELECT decode(x.h, 'hex')
                      FROM json_to_recordset(CAST(CAST(?1 AS text) AS json)) AS x(h text)))",
            args![rows],
            |r| {
                Ok((
                    r.get::<Vec<u8>>(0)?,
                    Seen {
                        quarantined: r.get::<String>(1)? == "quarantined",
                        events: r.get::<i64>(2)? as u64,
                    },
                ))
            },
        )?
        .into_iter()
        .collect();
    tx.exec(
        "WITH j AS MATERIALIZED (
              SELECT decode(j.h, 'hex') AS h, j.s, j.v, j.u, j.ord
                FROM ROWS FROM (json_to_recordset(CAST(CAST(?1 AS text) AS json)) AS (
                       h text, s text, v bigint, u bigint))
                     WITH ORDINALITY AS j(h, s, v, u, ord)),
         m AS MATERIALIZED (
              SELECT id, content_hash FROM messages
               WHERE content_hash = ANY(ARRAY(SELECT h FROM j))),
         x AS MATERIALIZED (
              SELECT m.id AS message, j.s, j.v, j.u, j.ord FROM j JOIN m ON m.content_hash = j.h),
         had AS MATERIALIZED (
              SELECT message, source FROM message_sources
               WHERE message = ANY(ARRAY(SELECT message FROM x))),
         place AS (
              SELECT DISTINCT ON (message, s) message, s, v, u, ord FROM x
               WHERE NOT EXISTS (SELECT 1 FROM had
                                  WHERE had.message = x.message AND had.source = x.s)
               ORDER BY message, s, ord),
         src AS (
              INSERT INTO message_sources (message, source, uidvalidity, uid, seen_at)
              SELECT message, s, v, u, ?2 FROM place ORDER BY ord
              RETURNING id, message),
         lnk AS (
              INSERT INTO event_sources (event, message, source, seen_at)
              SELECT e.event, src.message, src.id, ?2
                FROM src
                JOIN (SELECT DISTINCT event, message FROM event_sources
                       WHERE message = ANY(ARRAY(SELECT message FROM x))) e
                  ON e.message = src.message
              ON CONFLICT DO NOTHING
              RETURNING event),
         c AS MATERIALIZED (SELECT event, count(*) AS n FROM lnk GROUP BY event)
         UPDATE events SET seen_count = seen_count + c.n
           FROM c
          WHERE events.id = c.event AND events.id = ANY(ARRAY(SELECT event FROM c))",
        args![rows, now],
    )?;
    run.iter()
        .map(|a| {
            seen.get(a.hash.as_slice()).copied().ok_or_else(|| {
                StoreError::Column(format!("message {} is not stored", to_hex(a.hash)))
            })
        })
        .collect()
}
