//! The one ingest path (DESIGN §1): extract (pure, before the write lock) → policy
//! (sender trust, event cap) → store (dedup on registrar + event id) → rules (pure:
//! match, actions) → outbox rows, all of a batch in one transaction with the channel's
//! cursor; the channel acknowledges only after that commit. Channels reach it through
//! [`intake::Intake`]; `import` and `reparse` use the functions here directly. The
//! store persists and answers queries; it runs no extractor and no rule.

pub mod bulk;
pub mod group;
pub mod intake;
pub mod live;
pub mod policy;
pub mod rules;

use crate::config::Config;
use crate::extract::{self, Extraction};
use crate::rules::RuleSet;
use crate::source::Source;
use crate::store::cursors::{self, Cursor};
use crate::store::db::Sql;
use crate::store::{self, Store};

pub use policy::Limits;

/// A message hashed and, unless the store already has its content, extracted: the
/// slow, pure part of ingesting, done before the write transaction opens so a message
/// that takes long to read never holds back the others.
#[derive(Debug)]
pub struct Hashed {
    pub hash: store::Hash,
    /// None when the store already has this content (it is not read again).
    pub extraction: Option<Extraction>,
}

/// Hashes `raw` and, unless `known` says the store has that content, extracts it.
pub fn read(raw: &[u8], known: impl Fn(&store::Hash) -> bool) -> Hashed {
    let hash = store::content_hash(raw);
    Hashed {
        extraction: (!known(&hash)).then(|| extract::extract(raw)),
        hash,
    }
}

/// `known` for [`read`] and [`prepare`]: an indexed lookup on `conn` (a reader will do).
pub fn known_in<S: Sql>(conn: &S) -> impl Fn(&store::Hash) -> bool + '_ {
    move |hash| store::is_known(conn, hash).unwrap_or(false)
}

/// Runs the extractors again over stored message `message` and stores what they now
/// find (new events go through the rules as at first sight). A message whose raw bytes
/// were not kept whole (over `[store] raw_limit`) is left as it is.
pub fn reparse<S: Sql>(
    tx: &S,
    message: i64,
    limits: Limits<'_>,
    on_new: &mut dyn FnMut(&S, store::NewEvent<'_>) -> store::Result<()>,
) -> store::Result<store::Reparsed> {
    let raw = match store::query::raw_message(tx, message)? {
        Some((raw, true)) => raw,
        _ => {
            return Ok(store::Reparsed {
                incomplete: true,
                ..store::Reparsed::default()
            });
        }
    };
    let found = extract::extract(&raw);
    if found.events.len() > limits.max_events {
        // Over the cap now (the limit was lowered): events stored before stay; a
        // message without any is quarantined with the reason.
        let count = found.events.len();
        store::over_limit(
            tx,
            message,
            &policy::too_many(count, limits.max_events),
            count,
        )?;
        return Ok(store::Reparsed::default());
    }
    let mut found = found;
    policy::finish(&mut found, &raw, limits);
    store::reparse(
        tx,
        message,
        policy::found_of(found),
        &mut acting(on_new, &mut 0),
    )
}

/// Stores one read message at `source` inside the caller's transaction: the policy
/// applied to what was extracted (None for content already stored), then the store.
#[allow(clippy::too_many_arguments)]
pub fn store_message<S: Sql>(
    tx: &S,
    raw: store::Raw<'_>,
    source: &Source,
    extraction: Option<Extraction>,
    limits: Limits<'_>,
    later: Option<&mut store::Later>,
    on_new: &mut dyn FnMut(&S, store::NewEvent<'_>) -> store::Result<()>,
) -> store::Result<store::Ingested> {
    let found = extraction.map(|x| policy::apply(x, raw.bytes, limits));
    let mut old = 0;
    let mut report = store::ingest(
        tx,
        raw,
        source,
        found,
        limits.raw_limit,
        later,
        &mut acting(on_new, &mut old),
    )?;
    report.rules_skipped = old;
    Ok(report)
}

/// `on_new` for the events the rules may act on; the others (older than `[limits]
/// max_event_age`) are only counted in `skipped`.
fn acting<'a, S: Sql>(
    on_new: &'a mut dyn FnMut(&S, store::NewEvent<'_>) -> store::Result<()>,
    skipped: &'a mut usize,
) -> impl FnMut(&S, store::NewEvent<'_>) -> store::Result<()> + 'a {
    move |tx, new| {
        if new.event.rules_skipped.is_some() {
            *skipped += 1;
            Ok(())
        } else {
            on_new(tx, new)
        }
    }
}

/// What storing a batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Batch {
    pub messages: u64,
    pub events_new: u64,
    /// New events no rule acted on: older than `[limits] max_event_age`.
    pub rules_skipped: u64,
    pub duplicates: u64,
    pub quarantined: u64,
}

/// A message read and extracted, ready to store.
pub struct Prepared {
    pub source: Source,
    pub raw: Vec<u8>,
    pub hash: store::Hash,
    /// None for content the store already has.
    pub extraction: Option<Extraction>,
}

/// Reads every message of a batch (see [`read`]) before the write lock is taken: a slow
/// or hostile message costs its own source's time, never another's write lock.
pub fn prepare(
    items: Vec<(Source, Vec<u8>)>,
    known: impl Fn(&store::Hash) -> bool,
) -> Vec<Prepared> {
    items
        .into_iter()
        .map(|(source, raw)| {
            let Hashed { hash, extraction } = read(&raw, &known);
            Prepared {
                source,
                raw,
                hash,
                extraction,
            }
        })
        .collect()
}

/// Stores a batch of prepared messages and (for IMAP) moves the cursor, in one
/// transaction.
pub fn ingest_batch(
    store: &mut Store,
    config: &Config,
    rules: &RuleSet,
    items: Vec<Prepared>,
    cursor: Option<(&str, &str, Cursor)>,
) -> store::Result<Batch> {
    if store.db().dialect() == store::db::Dialect::Postgres {
        // Set-based: a round trip per table, not several per message.
        let ready = bulk::ready(items, config)?;
        return bulk::write(store, config, rules, ready, cursor);
    }
    let path = store.path().to_path_buf();
    store_batch(store, config, rules, items, cursor).map_err(|e| store::named(e, &path))
}

/// Which of `items` a PostgreSQL store has, in one lookup (a round trip per message
/// would cost more than the rest of the batch). None on a failed lookup: the content
/// is then read again, and the store, which looks again under the write lock, keeps it
/// once.
pub fn stored_of<S: Sql>(
    conn: &S,
    items: &[(Source, Vec<u8>)],
) -> std::collections::HashSet<store::Hash> {
    let hashes: Vec<store::Hash> = items
        .iter()
        .map(|(_, raw)| store::content_hash(raw))
        .collect();
    conn.begin()
        .and_then(|tx| {
            tx.batch("SET LOCAL plan_cache_mode = force_custom_plan")?;
            store::bulk::stored_hashes(&*tx, &hashes)
        })
        .unwrap_or_default()
}

/// [`ingest_batch`] one message at a time on either engine: the reference the
/// set-based PostgreSQL path is checked against (tests), and SQLite's own path.
pub fn ingest_each(
    store: &mut Store,
    config: &Config,
    rules: &RuleSet,
    items: Vec<Prepared>,
    cursor: Option<(&str, &str, Cursor)>,
) -> store::Result<Batch> {
    let path = store.path().to_path_buf();
    store_batch(store, config, rules, items, cursor).map_err(|e| store::named(e, &path))
}

fn store_batch(
    store: &mut Store,
    config: &Config,
    rules: &RuleSet,
    items: Vec<Prepared>,
    cursor: Option<(&str, &str, Cursor)>,
) -> store::Result<Batch> {
    let raw_limit = config.store.raw_limit;
    // The new messages' bytes, compressed together before the write lock is taken.
    let mut block = store::raw::Block::pack(
        items
            .iter()
            .filter(|p| p.extraction.is_some())
            .map(|p| p.raw.as_slice()),
        raw_limit,
    )?;
    let mut part = 0;
    let mut grouping = group::Grouping::default();
    let mut queued = 0;
    let tx = store.db().write()?;
    let mut b = Batch::default();
    let n = items.len() as u64;
    for Prepared {
        source,
        raw,
        hash,
        extraction,
    } in items
    {
        let reason = extraction.as_ref().and_then(|x| x.reason.clone());
        let raw_at = extraction.is_some().then(|| {
            part += 1;
            part - 1
        });
        let done = store_message(
            &*tx,
            store::Raw {
                bytes: &raw,
                hash: &hash,
                at: raw_at.map(|i| (&mut block, i)),
                unstored: false,
            },
            &source,
            extraction,
            Limits::of(config),
            None,
            &mut |tx, new| {
                queued += rules::react(rules, &mut grouping, tx, new)?;
                Ok(())
            },
        )?;
        b.messages += 1;
        b.events_new += done.events_new.len() as u64;
        b.rules_skipped += done.rules_skipped as u64;
        b.duplicates += done.duplicates as u64;
        b.quarantined += u64::from(done.quarantined);
        if done.quarantined && done.message_new {
            tracing::warn!(
                source = %source,
                reason = %crate::term::printable(reason.as_deref().unwrap_or("no notification found")),
                "quarantined"
            );
        }
    }
    if let Some((account, folder, c)) = cursor {
        cursors::set(&*tx, account, folder, c, n)?;
    }
    if queued > 0 && tx.dialect() == store::db::Dialect::Postgres {
        // Delivered at the commit to every instance listening (service/shared.rs).
        tx.batch(&format!("NOTIFY {}", store::pg::NOTIFY_CHANNEL))?;
    }
    tx.commit()?;
    if b.events_new > 0 {
        store.train_payloads();
    }
    Ok(b)
}

pub fn sum(total: &mut Batch, b: Batch) {
    total.messages += b.messages;
    total.events_new += b.events_new;
    total.rules_skipped += b.rules_skipped;
    total.duplicates += b.duplicates;
    total.quarantined += b.quarantined;
}
