//! Many messages at once into PostgreSQL (`import`): the batch is hashed, looked up
//! and extracted on every core before the write lock; under it, runs of messages whose
//! content and events are all new go in with a few set-based statements
//! ([`store::bulk`]), and every other message (content stored before, an event seen
//! before or twice in the batch, a conflicting copy) goes through the one-by-one path
//! of [`store::ingest`]: the same rows, the same rules, the same promises, in fewer
//! round trips.

use std::collections::HashSet;

use super::{Batch, Limits, acting, group, policy, rules};
use crate::config::Config;
use crate::extract::extract;
use crate::rules::RuleSet;
use crate::source::Source;
use crate::store::cursors::{self, Cursor};
use crate::store::db::{Db, Sql};
use crate::store::{self, Found, Hash, Store, bulk};

/// A message of the batch, read and judged before the write lock.
struct Read {
    source: Source,
    raw: Vec<u8>,
    hash: Hash,
    /// None: the store had this content when the batch was looked up.
    found: Option<Found>,
}

/// A batch read and extracted, with its new messages' bytes compressed: what
/// [`write`] stores. Made without the write lock (on another thread than the writer's,
/// so reading the next batch overlaps writing this one).
pub struct Ready {
    read: Vec<Read>,
    block: store::raw::Block,
    /// Log each new quarantined message (a channel's batch; `import` counts them).
    warn: bool,
}

/// A batch a channel prepared (see [`super::prepare`]) as [`write`] takes it.
pub fn ready(items: Vec<super::Prepared>, config: &Config) -> store::Result<Ready> {
    let limits = Limits::of(config);
    let mut first = HashSet::new();
    let read: Vec<Read> = items
        .into_iter()
        .map(|p| {
            // A second copy in the batch is known content by the time it is stored.
            let found = first
                .insert(p.hash)
                .then_some(p.extraction)
                .flatten()
                .map(|x| policy::apply(x, &p.raw, limits));
            Read {
                source: p.source,
                raw: p.raw,
                hash: p.hash,
                found,
            }
        })
        .collect();
    let block = store::raw::Block::pack(
        read.iter()
            .filter(|r| r.found.is_some())
            .map(|r| r.raw.as_slice()),
        config.store.raw_limit,
    )?;
    Ok(Ready {
        read,
        block,
        warn: true,
    })
}

/// Reads `items` (see [`Ready`]); `known` is a connection to look content up with (a
/// reader will do).
pub fn read(
    known: &impl Sql,
    config: &Config,
    items: Vec<(Source, Vec<u8>)>,
) -> store::Result<Ready> {
    let limits = Limits::of(config);
    let hashes: Vec<Hash> = items
        .iter()
        .map(|(_, raw)| store::content_hash(raw))
        .collect();
    let stored = {
        // Planned afresh (see `import`), in a transaction of its own for the setting.
        let tx = known.begin()?;
        tx.batch("SET LOCAL plan_cache_mode = force_custom_plan")?;
        bulk::stored_hashes(&*tx, &hashes)?
    };
    let read = read_all(items, hashes, &stored, limits);
    let block = store::raw::Block::pack(
        read.iter()
            .filter(|r| r.found.is_some())
            .map(|r| r.raw.as_slice()),
        config.store.raw_limit,
    )?;
    Ok(Ready {
        read,
        block,
        warn: false,
    })
}

/// Stores a batch [`read`] or made [`ready`] before, and (for IMAP) moves the cursor,
/// in one transaction; see the module.
pub fn write(
    store: &mut Store,
    config: &Config,
    rules: &RuleSet,
    ready: Ready,
    cursor: Option<(&str, &str, Cursor)>,
) -> store::Result<Batch> {
    let path = store.path().to_path_buf();
    store_ready(store, config, rules, ready, cursor).map_err(|e| store::named(e, &path))
}

fn store_ready(
    store: &mut Store,
    config: &Config,
    rules: &RuleSet,
    ready: Ready,
    cursor: Option<(&str, &str, Cursor)>,
) -> store::Result<Batch> {
    let limits = Limits::of(config);
    let Ready {
        read,
        mut block,
        warn,
    } = ready;
    let quarantined = |r: &Read| {
        if warn {
            let reason = r.found.as_ref().and_then(|f| f.reason.as_deref());
            tracing::warn!(
                source = %r.source,
                reason = %crate::term::printable(reason.unwrap_or("no notification found")),
                "quarantined"
            );
        }
    };
    // Each extracted message's place in the batch's compressed block.
    let mut parts = Vec::with_capacity(read.len());
    let mut next = 0;
    for r in &read {
        parts.push(r.found.is_some().then(|| {
            next += 1;
            next - 1
        }));
    }
    let mut grouping = group::Grouping::default();
    let mut queued = 0;
    let mut skipped = 0;
    let mut b = Batch {
        messages: read.len() as u64,
        ..Batch::default()
    };
    let tx = store.db().write()?;
    // The set-based statements are prepared once and run on tables that grow from
    // nothing: a plan cached while they were empty (a scan of the whole table) would
    // stay. Planned afresh each time instead, for this transaction only.
    tx.batch("SET LOCAL plan_cache_mode = force_custom_plan")?;
    let mut plan = plan(&*tx, &read)?;
    let mut on_new = |tx: &Db, new: store::NewEvent<'_>| {
        queued += rules::react(rules, &mut grouping, tx, new)?;
        Ok(())
    };
    let at = |i: usize, block: &store::raw::Block| -> store::Result<bulk::Fresh<'_>> {
        let r = &read[i];
        match (r.found.as_ref(), parts[i].and_then(|p| block.part(p))) {
            (Some(found), Some(part)) => Ok(bulk::Fresh {
                hash: &r.hash,
                size: r.raw.len(),
                source: &r.source,
                found,
                part,
            }),
            _ => Err(store::StoreError::File(format!(
                "internal error: message {} has no part in its raw block",
                store::hash_hex(&r.hash)
            ))),
        }
    };
    // 1. All new: set-based, then the rules.
    let fresh: Vec<usize> = indices(&plan, Way::Fresh);
    if !fresh.is_empty() {
        let run = fresh
            .iter()
            .map(|&i| at(i, &block))
            .collect::<store::Result<Vec<_>>>()?;
        let rows = bulk::insert(&*tx, &run, block.row(&*tx)?)?;
        let mut acts = acting(&mut on_new, &mut skipped);
        for ((f, inserted), &i) in run.iter().zip(rows).zip(&fresh) {
            if f.found.events.is_empty() {
                b.quarantined += 1;
                quarantined(&read[i]);
            }
            b.events_new += inserted.events.len() as u64;
            for (e, row) in f.found.events.iter().zip(inserted.events) {
                let new = store::NewEvent {
                    row,
                    message: inserted.message,
                    event: e,
                };
                acts(&tx, new)?;
            }
        }
    }
    // 2. New copies of stored events: set-based where each matches what is stored.
    let echoes: Vec<usize> = indices(&plan, Way::Echo);
    if !echoes.is_empty() {
        let run = echoes
            .iter()
            .map(|&i| at(i, &block))
            .collect::<store::Result<Vec<_>>>()?;
        let done = bulk::echo(&*tx, &run, block.row(&*tx)?)?;
        for (&i, d) in echoes.iter().zip(done) {
            match d {
                Some(inserted) => b.duplicates += inserted.events.len() as u64,
                None => plan[i] = Way::One,
            }
        }
    }
    // 3. The rest one by one, in their order.
    for i in indices(&plan, Way::One) {
        let r = &read[i];
        let done = store::ingest(
            &*tx,
            store::Raw {
                bytes: &r.raw,
                hash: &r.hash,
                at: parts[i].map(|p| (&mut block, p)),
                unstored: false,
            },
            &r.source,
            r.found.clone(),
            limits.raw_limit,
            None,
            &mut acting(&mut on_new, &mut skipped),
        )?;
        b.events_new += done.events_new.len() as u64;
        b.duplicates += done.duplicates as u64;
        b.quarantined += u64::from(done.quarantined);
        if done.quarantined && done.message_new {
            quarantined(r);
        }
    }
    // 4. Content stored before (or earlier in this batch), at new places.
    let again: Vec<bulk::Again<'_>> = indices(&plan, Way::Again)
        .into_iter()
        .map(|i| bulk::Again {
            hash: &read[i].hash,
            source: &read[i].source,
        })
        .collect();
    for seen in bulk::seen_again(&*tx, &again)? {
        b.duplicates += seen.events;
        b.quarantined += u64::from(seen.quarantined);
    }
    b.rules_skipped = skipped as u64;
    if let Some((account, folder, c)) = cursor {
        cursors::set(&*tx, account, folder, c, b.messages)?;
    }
    if queued > 0 {
        // Delivered at the commit to every instance listening (service/shared.rs).
        tx.batch(&format!("NOTIFY {}", store::pg::NOTIFY_CHANNEL))?;
    }
    tx.commit()?;
    if b.events_new > 0 {
        store.train_payloads();
    }
    Ok(b)
}

/// How a message of the batch is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Content and every event new (to the store and to the batch before it).
    Fresh,
    /// Content new, every event stored or earlier in the batch: maybe a plain copy.
    Echo,
    /// Content stored, or earlier in the batch.
    Again,
    /// Anything else (some events new and some not, conflicts, an id twice, content
    /// another writer stored since the batch was looked up): one by one.
    One,
}

fn indices(plan: &[Way], way: Way) -> Vec<usize> {
    (0..plan.len()).filter(|&i| plan[i] == way).collect()
}

/// Hashes known, extracts and judges the rest, on every core (in order).
fn read_all(
    items: Vec<(Source, Vec<u8>)>,
    hashes: Vec<Hash>,
    known: &HashSet<Hash>,
    limits: Limits<'_>,
) -> Vec<Read> {
    let mut first = HashSet::new();
    let firsts: Vec<bool> = hashes.iter().map(|h| first.insert(*h)).collect();
    let one = |(source, raw): (Source, Vec<u8>), hash: Hash, first: bool| {
        let found =
            (first && !known.contains(&hash)).then(|| policy::apply(extract(&raw), &raw, limits));
        Read {
            source,
            raw,
            hash,
            found,
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(cores.max(1)).max(1);
    let mut pairs: Vec<_> = items
        .into_iter()
        .zip(hashes)
        .zip(firsts)
        .map(|((i, h), f)| (i, h, f))
        .collect();
    let mut chunks = Vec::new();
    while pairs.len() > chunk {
        let rest = pairs.split_off(chunk);
        chunks.push(std::mem::replace(&mut pairs, rest));
    }
    chunks.push(pairs);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| {
                s.spawn(move || {
                    c.into_iter()
                        .map(|(i, h, f)| one(i, h, f))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// How each message goes in (see [`Way`]): the lookups are made again here, under the
/// write lock, so nothing another writer stored meanwhile is taken as new.
fn plan(tx: &impl Sql, read: &[Read]) -> store::Result<Vec<Way>> {
    let new: Vec<Hash> = read
        .iter()
        .filter(|r| r.found.is_some())
        .map(|r| r.hash)
        .collect();
    let stored = bulk::stored_hashes(tx, &new)?;
    let keys: Vec<(&str, &str)> = read
        .iter()
        .filter_map(|r| r.found.as_ref())
        .flat_map(|f| f.events.iter().chain(&f.conflicts))
        .map(|e| (e.registrar.as_str(), e.event_id.as_str()))
        .collect();
    let events = bulk::stored_events(tx, &keys)?;
    // Every event id met so far in the batch.
    let mut ids: HashSet<(&str, &str)> = HashSet::new();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(read.len());
    for r in read {
        let (Some(f), true) = (&r.found, seen.insert(r.hash)) else {
            out.push(Way::Again);
            continue;
        };
        if stored.contains(&r.hash) {
            // Another writer stored it since the batch was read.
            out.push(Way::Again);
            continue;
        }
        if !f.conflicts.is_empty() {
            ids.extend(
                f.events
                    .iter()
                    .chain(&f.conflicts)
                    .map(|e| (e.registrar.as_str(), e.event_id.as_str())),
            );
            out.push(Way::One);
            continue;
        }
        let (mut new, mut old) = (0, 0);
        let mut own = HashSet::new();
        for e in &f.events {
            let key = (e.registrar.as_str(), e.event_id.as_str());
            if !own.insert(key) {
                // An id twice in one message: the one-by-one path sorts it out.
                old += 1;
                new += 1;
            } else if ids.contains(&key) || events.contains(&(key.0.to_string(), key.1.to_string()))
            {
                old += 1;
            } else {
                new += 1;
            }
        }
        ids.extend(own);
        out.push(match (new, old) {
            (_, 0) => Way::Fresh,
            (0, _) => Way::Echo,
            _ => Way::One,
        });
    }
    Ok(out)
}
