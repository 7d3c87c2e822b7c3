//! Recording one message and its events, inside a transaction the caller owns (so the
//! rules' outbox rows and the IMAP cursor can be committed with it).
//!
//! A message is known by its content hash: seen again anywhere, it is not extracted
//! again; only the new place is recorded and its events' `seen_count` raised. An event
//! is known by `(registrar, event_id)`: found again in another message, it gains a
//! source and a count, and nothing else about it changes.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::Result;
use super::db::{Owned, Sql, args};
use super::raw::Block;
use crate::clock;
use crate::event::Event;
use crate::source::Source;
use crate::text::to_hex;

/// What a message holds, as the store keeps it: its header fields, its events (judged
/// and within the limits already: the ingest stage applies the policy), further copies
/// of them whose payload differs, and why nothing was found when nothing was.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub sender: Option<String>,
    /// The Date header as RFC 3339, when it parses.
    pub date: Option<String>,
    pub events: Vec<Event>,
    pub conflicts: Vec<Event>,
    pub reason: Option<String>,
}

/// What storing one message did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Row id of the message.
    pub message: i64,
    /// The content was never seen before (so it was extracted now).
    pub message_new: bool,
    /// This place was never recorded for this content before.
    pub source_new: bool,
    /// Row ids of events stored for the first time.
    pub events_new: Vec<i64>,
    /// Events in this message that were already stored.
    pub duplicates: usize,
    /// The message has no event; the reason is kept with it.
    pub quarantined: bool,
    /// New events no rule acted on (set by the caller's policy, see `ingest`).
    pub rules_skipped: usize,
}

/// An event stored for the first time: what the rules are run on.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub row: i64,
    pub message: i64,
    pub event: &'a Event,
}

/// A message's content hash: SHA-256 of its raw bytes (stored as this 32-byte blob).
pub type Hash = [u8; 32];

/// SHA-256 of the raw bytes.
pub fn content_hash(raw: &[u8]) -> Hash {
    Sha256::digest(raw).into()
}

/// The key an event is found by: the first 8 bytes of the SHA-256 of its registrar and
/// id (a NUL between them), as a signed integer. Indexed (`events_key`, schema 10); the
/// texts are compared in the row, so two pairs sharing a key stay two events.
pub fn event_key(registrar: &str, event_id: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(registrar.as_bytes());
    h.update([0]);
    h.update(event_id.as_bytes());
    let d = h.finalize();
    i64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Finds an event by `(registrar ?1, event_id ?2, event_key ?3)`.
pub(super) const BY_EVENT_KEY: &str = "event_key = ?3 AND registrar = ?1 AND event_id = ?2";

/// The hash in lowercase hex, for people.
pub fn hash_hex(hash: &Hash) -> String {
    to_hex(hash)
}

/// True when a message with this content is already stored (a cheap indexed lookup,
/// done before extraction so known messages are never extracted again).
pub fn is_known(conn: &impl Sql, hash: &Hash) -> Result<bool> {
    Ok(conn
        .row(
            &format!("SELECT 1 FROM messages WHERE {}", by_hash(conn.dialect())),
            args![hash],
            |_| Ok(()),
        )?
        .is_some())
}

/// Finds a message by its content hash `?1` through the index on the hash's first 8
/// bytes (`messages_hash`), comparing the whole hash in the row.
fn by_hash(d: super::db::Dialect) -> &'static str {
    match d {
        super::db::Dialect::Sqlite => {
            "substr(content_hash, 1, 8) = substr(?1, 1, 8) AND content_hash = ?1"
        }
        super::db::Dialect::Postgres => {
            "substr(content_hash, 1, 8) = substr(CAST(?1 AS bytea), 1, 8) AND content_hash = ?1"
        }
    }
}

/// A message's bytes as read, their hash, and where in a compressed block (built by the
/// reader of a batch) they are to be kept; without one, a block of their own.
pub struct Raw<'a> {
    pub bytes: &'a [u8],
    pub hash: &'a Hash,
    pub at: Option<(&'a mut Block, usize)>,
    /// The caller knows this content is not stored: it looked after every commit that
    /// could have stored it (`import`: met for the first time in the run, unknown when
    /// it started or when asked, and no other writer has committed since). The store
    /// then skips its own lookup.
    pub unstored: bool,
}

/// Stores `raw` as found at `source`, with what was `found` in it (required for new
/// content; ignored for known content). Raw messages up to `raw_limit` bytes are kept
/// whole. `on_new` is called for every event stored for the first time, inside the
/// same transaction.
#[allow(clippy::too_many_arguments)]
pub fn ingest<S: Sql>(
    tx: &S,
    message: Raw<'_>,
    source: &Source,
    found: Option<Found>,
    raw_limit: u64,
    mut later: Option<&mut Later>,
    on_new: &mut dyn FnMut(&S, NewEvent<'_>) -> Result<()>,
) -> Result<Ingested> {
    let Raw {
        bytes: raw,
        hash,
        at: raw_at,
        unstored,
    } = message;
    let now = clock::now_stamp();
    // Known content (or content another writer stored since the caller looked: this
    // transaction holds the write lock from here on) is only recorded at the new place.
    if !unstored && let Some((message, status)) = known_message(tx, hash)? {
        let mut counts = Vec::new();
        let report = seen_again(tx, message, &status, source, &now, &mut counts)?;
        raise(tx, later, counts)?;
        return Ok(report);
    }
    let Some(found) = found else {
        // The pipeline extracts before storing; content it found known cannot have
        // become unknown since (nothing is ever removed).
        return Err(super::StoreError::File(format!(
            "internal error: message {} reached the store without being read",
            hash_hex(hash)
        )));
    };
    let quarantined = found.events.is_empty();
    let mut alone;
    let (block, part) = match raw_at {
        Some(at) => at,
        None => {
            alone = Block::pack([raw], raw_limit)?;
            (&mut alone, 0)
        }
    };
    let kept = block.part(part).ok_or_else(|| {
        super::StoreError::File(format!(
            "internal error: message {} has no part {part} in its raw block",
            hash_hex(hash)
        ))
    })?;
    let block_row = block.row(tx)?;
    let message: i64 = tx.one(
        "INSERT INTO messages (content_hash, message_id, subject, sender, date, size, status,
                               reason, event_count, first_seen,
                               raw_block, raw_start, raw_len, raw_complete)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
        args![
            hash,
            found.message_id,
            found.subject,
            found.sender,
            found.date,
            raw.len() as i64,
            if quarantined { "quarantined" } else { "parsed" },
            found.reason,
            found.events.len() as i64,
            now,
            block_row,
            kept.start,
            kept.len,
            kept.complete,
        ],
    )?;
    let source_row =
        add_source(tx, message, source, &now)?.expect("a new message has no sources yet");
    let mut report = Ingested {
        message,
        message_new: true,
        source_new: true,
        quarantined,
        ..Ingested::default()
    };
    for (i, event) in found.events.iter().chain(&found.conflicts).enumerate() {
        let copy = i >= found.events.len();
        let (stored, event) = place(tx, event, message, &now)?;
        match stored {
            Stored::New(row) => {
                link(tx, row, message, source_row, &now)?;
                report.events_new.push(row);
                on_new(
                    tx,
                    NewEvent {
                        row,
                        message,
                        event: &event,
                    },
                )?;
            }
            // A different payload under the same id in this very message: recorded as
            // a conflict of the event just stored.
            Stored::Before(row) if copy => compare(tx, row, &event, message, &now)?,
            Stored::Before(row) => {
                if link(tx, row, message, source_row, &now)? {
                    raise(tx, later.as_deref_mut(), [row])?;
                }
                compare(tx, row, &event, message, &now)?;
                report.duplicates += 1;
            }
        }
    }
    Ok(report)
}

/// Another copy of a stored event: a different payload is recorded as a conflict (never
/// a silent overwrite or drop); an authenticated copy supersedes an unauthenticated one.
fn compare(tx: &impl Sql, row: i64, e: &Event, message: i64, now: &str) -> Result<()> {
    let (data, authenticated): (Owned, Option<bool>) = tx
        .row(
            "SELECT data, authenticated FROM events WHERE id = ?1",
            args![row],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .ok_or_else(|| super::StoreError::Column(format!("no event {row}")))?;
    let stored: serde_json::Value = serde_json::from_str(&super::packed::unpack(tx, &data)?)?;
    let same = stored == e.data;
    let better = e.authenticated == Some(true) && authenticated != Some(true);
    if same && !better {
        return Ok(());
    }
    if !better {
        tx.exec(
            "INSERT INTO event_conflicts (event, message, data, authenticated, authentication, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![
            row,
            message,
            serde_json::to_string(&e.data)?,
            e.authenticated,
            kept_reason(e),
            now
        ])?;
        return Ok(());
    }
    if !same {
        tx.exec(
            "INSERT INTO event_conflicts (event, message, data, authenticated, authentication, superseded, seen_at)
             SELECT id, message, data, authenticated, authentication, 1, ?2 FROM events WHERE id = ?1",
            args![row, now])?;
    }
    tx.exec(
        "UPDATE events SET kind = ?2, object = ?3, type = ?4, topic = ?5, domain = ?6, domains = ?7,
           status = ?8, occurred_at = ?9, format = ?10, data = ?11, status_text = ?12,
           authenticated = ?13, authentication = ?14, message = ?15, occurred_at_source = ?16
         WHERE id = ?1",
        args![
        row,
        e.kind.as_str(),
        e.object,
        e.event_type,
        e.topic,
        e.domain,
        kept_domains(e)?,
        e.status,
        e.occurred_at,
        e.format.as_str(),
        super::packed::pack(tx, serde_json::to_string(&e.data)?)?,
        e.status_text,
        e.authenticated,
        kept_reason(e),
        message,
        e.occurred_at_source,
    ])?;
    Ok(())
}

/// Messages stored before a writer's batch began, met again by it (`import`: the
/// reader found their content stored), recorded when the batch ends, inside the same
/// transaction, in the order of their rows. A big import meets old messages at random
/// places in the file: one at a time, nearly every one reads and rewrites pages the
/// cache no longer holds; sorted, each page is visited once per batch. The result is
/// the same rows and counts, committed with the batch or not at all. (Only messages
/// stored before the batch: what the batch itself stores is recorded at once, and a
/// message's event links never change within an import.)
///
/// The `seen_count` raises of the batch's repeated events wait here too (`ingest` with
/// a `Later`), and are written in row order with the rest: one at a time, each read
/// and rewrote a page of `events` anywhere in the file.
#[derive(Debug, Default)]
pub struct Later {
    messages: Vec<(Hash, Source)>,
    /// Events seen at one more place each (a row id per sighting).
    counts: Vec<i64>,
}

/// What recording the gathered sightings added to a batch's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Events found again in known messages.
    pub duplicates: usize,
    /// Known messages that are in quarantine.
    pub quarantined: usize,
}

impl Later {
    /// Content stored before the batch began, met again at `source`.
    pub fn message(&mut self, hash: Hash, source: Source) {
        self.messages.push((hash, source));
    }

    /// Records every sighting gathered, and forgets them.
    pub fn record(&mut self, tx: &impl Sql) -> Result<Recorded> {
        let now = clock::now_stamp();
        let mut done = Recorded::default();
        // Stored messages: looked up in the order of their hashes (the index), then
        // recorded in the order of their rows (the sources and links of each).
        self.messages.sort_unstable_by_key(|m| m.0);
        let mut found = Vec::with_capacity(self.messages.len());
        for (hash, source) in self.messages.drain(..) {
            let Some((row, status)) = known_message(tx, &hash)? else {
                // Nothing is ever removed: the reader saw it stored.
                return Err(super::StoreError::File(format!(
                    "internal error: message {} is no longer stored",
                    hash_hex(&hash)
                )));
            };
            found.push((row, status, source));
        }
        found.sort_by_key(|f| f.0);
        for (row, status, source) in found {
            let r = seen_again(tx, row, &status, &source, &now, &mut self.counts)?;
            done.duplicates += r.duplicates;
            done.quarantined += usize::from(r.quarantined);
        }
        self.counts.sort_unstable();
        for same in self.counts.chunk_by(|a, b| a == b) {
            bump(tx, same[0], same.len() as i64)?;
        }
        self.counts.clear();
        Ok(done)
    }
}

fn known_message(tx: &impl Sql, hash: &Hash) -> Result<Option<(i64, String)>> {
    tx.row(
        &format!(
            "SELECT id, status FROM messages WHERE {}",
            by_hash(tx.dialect())
        ),
        args![hash],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Known content at a (maybe) new place: record the place; every event of the message
/// gains it as a source, and a count in `counts` (for the caller to `bump`).
fn seen_again(
    tx: &impl Sql,
    message: i64,
    status: &str,
    source: &Source,
    now: &str,
    counts: &mut Vec<i64>,
) -> Result<Ingested> {
    let events: Vec<i64> = tx.rows(
        "SELECT DISTINCT event FROM event_sources WHERE message = ?1 ORDER BY event",
        args![message],
        |r| r.get(0),
    )?;
    let mut report = Ingested {
        message,
        duplicates: events.len(),
        quarantined: status == "quarantined",
        ..Ingested::default()
    };
    let Some(source_row) = add_source(tx, message, source, now)? else {
        return Ok(report);
    };
    report.source_new = true;
    for row in events {
        if link(tx, row, message, source_row, now)? {
            counts.push(row);
        }
    }
    Ok(report)
}

/// Records `source` for `message`; the new row id, or None when already recorded.
fn add_source(tx: &impl Sql, message: i64, source: &Source, now: &str) -> Result<Option<i64>> {
    // The key names the place whole (account, folder, UIDVALIDITY and UID, or the
    // path); the numbers are kept beside it for queries, the texts are not repeated.
    let (uidvalidity, uid) = match source {
        Source::Imap {
            uidvalidity, uid, ..
        } => (Some(*uidvalidity), Some(*uid)),
        _ => (None, None),
    };
    // Checked here, inside the writer's transaction (no unique index: see schema 9).
    let key = source.key();
    if tx
        .row(
            "SELECT 1 FROM message_sources WHERE message = ?1 AND source = ?2",
            args![message, key],
            |_| Ok(()),
        )?
        .is_some()
    {
        return Ok(None);
    }
    Ok(Some(tx.one(
        "INSERT INTO message_sources (message, source, uidvalidity, uid, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        args![message, key, uidvalidity, uid, now],
    )?))
}

/// An event's row: stored now, or found stored before.
enum Stored {
    New(i64),
    Before(i64),
}

/// Stores `e` (see [`insert_event`]), or finds it stored. When the event stored under its
/// id names another domain, type or status, `e` is a different event reusing the id,
/// never hidden as a copy: it gets a row of its own under [`Event::variant_id`] (and
/// the first of them is noted as a conflict of the stored one). Returns the event as
/// placed.
fn place<'e>(
    tx: &impl Sql,
    e: &'e Event,
    message: i64,
    now: &str,
) -> Result<(Stored, Cow<'e, Event>)> {
    let row = match insert_event(tx, e, message, now)? {
        Stored::Before(row) => row,
        new => return Ok((new, Cow::Borrowed(e))),
    };
    let (domain, event_type, status): (Option<String>, String, Option<String>) = tx
        .row(
            "SELECT domain, type, status FROM events WHERE id = ?1",
            args![row],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .ok_or_else(|| super::StoreError::Column(format!("no event {row}")))?;
    if e.same_identity(domain.as_deref(), &event_type, status.as_deref()) {
        return Ok((Stored::Before(row), Cow::Borrowed(e)));
    }
    let mut variant = e.clone();
    variant.event_id = e.variant_id();
    let stored = insert_event(tx, &variant, message, now)?;
    if matches!(stored, Stored::New(_)) {
        compare(tx, row, e, message, now)?;
    }
    Ok((stored, Cow::Owned(variant)))
}

/// Inserts the event unless `(registrar, event_id)` is stored (checked here, inside the
/// writer's transaction: there is no unique index, see schema 10).
fn insert_event(tx: &impl Sql, e: &Event, message: i64, now: &str) -> Result<Stored> {
    let key = event_key(e.registrar.as_str(), &e.event_id);
    if let Some(row) = find_event(tx, e, key)? {
        return Ok(Stored::Before(row));
    }
    let row: i64 = tx.one(
        "INSERT INTO events (registrar, event_id, event_key, kind, object, type, topic, domain,
                             domains, status, occurred_at, format, data, message, first_seen,
                             status_text, authenticated, authentication, occurred_at_source,
                             rules_skipped)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                 ?19, ?20) RETURNING id",
        args![
            e.registrar.as_str(),
            e.event_id,
            key,
            e.kind.as_str(),
            e.object,
            e.event_type,
            e.topic,
            e.domain,
            kept_domains(e)?,
            e.status,
            e.occurred_at,
            e.format.as_str(),
            super::packed::pack(tx, serde_json::to_string(&e.data)?)?,
            message,
            now,
            e.status_text,
            e.authenticated,
            kept_reason(e),
            e.occurred_at_source,
            e.rules_skipped,
        ],
    )?;
    Ok(Stored::New(row))
}

/// The domains as stored: NULL when they say no more than `domain` (read back in
/// `query::stored_event`).
pub(super) fn kept_domains(e: &Event) -> Result<Option<String>> {
    let implied = match &e.domain {
        Some(d) => e.domains.len() == 1 && e.domains[0] == *d,
        None => e.domains.is_empty(),
    };
    Ok(if implied {
        None
    } else {
        Some(serde_json::to_string(&e.domains)?)
    })
}

/// The authentication reason as stored: NULL for the one of an unconfigured `[trust]`
/// (read back by `query::stored_reason`).
pub(super) fn kept_reason(e: &Event) -> Option<&str> {
    e.authentication
        .as_deref()
        .filter(|r| !(e.authenticated == Some(false) && *r == crate::trust::NOT_SET_UP))
}

fn find_event(tx: &impl Sql, e: &Event, key: i64) -> Result<Option<i64>> {
    tx.row(
        &format!("SELECT id FROM events WHERE {BY_EVENT_KEY}"),
        args![e.registrar.as_str(), e.event_id, key],
        |r| r.get(0),
    )
}

/// Links an event to a place it was seen; false when already linked.
fn link(tx: &impl Sql, event: i64, message: i64, source: i64, now: &str) -> Result<bool> {
    let n = tx.exec(
        "INSERT INTO event_sources (event, message, source, seen_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        args![event, message, source, now],
    )?;
    Ok(n == 1)
}

/// One more place each of `rows` was seen: counted now, or, with a `Later`, when the
/// batch ends.
fn raise(
    tx: &impl Sql,
    later: Option<&mut Later>,
    rows: impl IntoIterator<Item = i64>,
) -> Result<()> {
    match later {
        Some(later) => later.counts.extend(rows),
        None => {
            for row in rows {
                bump(tx, row, 1)?;
            }
        }
    }
    Ok(())
}

/// `by` more places an event was seen. (When it was last seen is read from its sources:
/// rows never grow after they are written, so their pages stay full.)
fn bump(tx: &impl Sql, event: i64, by: i64) -> Result<()> {
    tx.exec(
        "UPDATE events SET seen_count = seen_count + ?2 WHERE id = ?1",
        args![event, by],
    )?;
    Ok(())
}

/// What running the extractors again over one stored message did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reparsed {
    pub events_new: Vec<i64>,
    pub events_found: usize,
    /// The raw message was not kept whole (over the size limit), so nothing was done.
    pub incomplete: bool,
}

/// Stores what the extractors, run again over stored message `message` (after an
/// extractor fix, see `ingest::reparse`), now find: events it now finds are stored and
/// linked to every place the message was seen, new ones are handed to `on_new`; the
/// message's status and reason are brought up to date.
pub fn reparse<S: Sql>(
    tx: &S,
    message: i64,
    found: Found,
    on_new: &mut dyn FnMut(&S, NewEvent<'_>) -> Result<()>,
) -> Result<Reparsed> {
    let now = clock::now_stamp();
    let sources: Vec<i64> = tx.rows(
        "SELECT id FROM message_sources WHERE message = ?1 ORDER BY id",
        args![message],
        |r| r.get(0),
    )?;
    let mut report = Reparsed {
        events_found: found.events.len(),
        ..Reparsed::default()
    };
    for event in &found.events {
        let (row, new, event) = match place(tx, event, message, &now)? {
            (Stored::New(row), e) => (row, true, e),
            (Stored::Before(row), e) => (row, false, e),
        };
        for (i, &source) in sources.iter().enumerate() {
            let linked = link(tx, row, message, source, &now)?;
            // A new event's first sighting is its row's seen_count of 1.
            if linked && !(new && i == 0) {
                bump(tx, row, 1)?;
            }
        }
        if new {
            report.events_new.push(row);
            on_new(
                tx,
                NewEvent {
                    row,
                    message,
                    event: &event,
                },
            )?;
        }
    }
    let quarantined = found.events.is_empty();
    tx.exec(
        "UPDATE messages SET status = ?2, reason = ?3, event_count = ?4 WHERE id = ?1",
        args![
            message,
            if quarantined { "quarantined" } else { "parsed" },
            found.reason,
            found.events.len() as i64
        ],
    )?;
    Ok(report)
}

/// A message found again over the event cap (the limit was lowered): events stored
/// before stay; one without any (quarantined) gets `reason` and the count.
pub fn over_limit(tx: &impl Sql, message: i64, reason: &str, count: usize) -> Result<()> {
    tx.exec(
        "UPDATE messages SET reason = ?2, event_count = ?3
         WHERE id = ?1 AND status = 'quarantined'",
        args![message, reason, count as i64],
    )?;
    Ok(())
}
