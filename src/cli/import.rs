//! `mailroom import PATH…`: files, Maildirs, mboxes or stdin into the store.
//!
//! Two threads: one reads and extracts (skipping content the store already has), one
//! writes, committing in batches. A byte budget bounds what is in flight between them,
//! so memory stays flat whatever the input size. Killed at any moment, a rerun ends
//! with the same database: committed batches are recognised by their sources, the
//! rest is done again.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::channel::files::Input;
use crate::extract::Extraction;
use crate::source::Incoming;
use crate::store::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the summary as JSON: {"messages","events_new","duplicates","quarantined",
    /// "rules_skipped"}.
    #[arg(long)]
    json: bool,
    /// Email files, directories of them, Maildir folders, mbox files, or `-` (stdin).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// The summary of an import.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Messages read.
    pub messages: u64,
    /// Events stored for the first time.
    pub events_new: u64,
    /// Events found that were already stored (in an earlier import, or earlier in this one).
    pub duplicates: u64,
    /// Messages with no event, kept in quarantine with the reason.
    pub quarantined: u64,
    /// New events no rule acted on: older than `[limits] max_event_age`.
    pub rules_skipped: u64,
}

impl Summary {
    fn add(&mut self, r: store::Recorded) {
        self.duplicates += r.duplicates as u64;
        self.quarantined += r.quarantined as u64;
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages: {} new events, {} duplicates, {} quarantined",
            self.messages, self.events_new, self.duplicates, self.quarantined
        )?;
        if self.rules_skipped > 0 {
            write!(
                f,
                "; {} too old for the rules ([limits] max_event_age)",
                self.rules_skipped
            )?;
        }
        Ok(())
    }
}

/// A message ready for the writer: extracted unless the store already had its content.
struct Prepared {
    incoming: Incoming,
    hash: store::Hash,
    extraction: Option<Extraction>,
    /// Content met for the first time in this run, and unknown to the database when the
    /// run began (or when asked): stored by no one unless another writer committed.
    first: bool,
    consumed: u64,
}

/// Messages handed to the writer together, with the new ones' bytes compressed.
struct Chunk {
    items: Vec<Prepared>,
    block: store::raw::Block,
}

impl Chunk {
    fn pack(items: Vec<Prepared>, raw_limit: u64) -> store::Result<Chunk> {
        let block = store::raw::Block::pack(
            items
                .iter()
                .filter(|p| p.extraction.is_some())
                .map(|p| p.incoming.raw.as_slice()),
            raw_limit,
        )?;
        Ok(Chunk { items, block })
    }
}

/// The first 8 bytes of every content hash read in this import (8 MiB for 500,000
/// messages), so the reader asks the database only about a message whose hash it has
/// met before: a reader forever querying keeps SQLite from restarting the WAL, which
/// then grows by gigabytes and slows every page lookup. Emptied past [`SEEN_MAX`].
const SEEN_MAX: usize = 1 << 22;

fn prefix(h: &store::Hash) -> u64 {
    u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// Most bytes of messages in flight between reader and writer.
const IN_FLIGHT_BYTES: usize = 16 << 20;
/// A batch is committed after this many messages or this long, whichever comes first.
/// Every commit writes again the index pages the batch touched, which in a big file are
/// most of them: at 500k messages, 250k batches wrote a third less to disk than 100k ones
/// and ran 5 % faster. A kill loses at most one batch, which the next run redoes.
const BATCH_MESSAGES: usize = 250_000;
const BATCH_TIME: Duration = Duration::from_secs(8);
/// The WAL is started afresh about this often: it grows by a batch in between.
const RESTART_EVERY: Duration = Duration::from_secs(3);
/// Messages handed from reader to writer at a time: this many, or fewer when they
/// hold [`CHUNK_BYTES`] already (large messages go over sooner, keeping both busy).
const CHUNK: usize = 128;
const CHUNK_BYTES: usize = IN_FLIGHT_BYTES / 8;

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    // Validate every argument before acting on any.
    let inputs = args
        .paths
        .iter()
        .map(|p| Input::recognise(p))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut store = Store::open(&ctx.db_path())?;
    if store.is_shared() {
        return import_shared(args, ctx, &inputs, &mut store);
    }
    // Payloads are stored compressed once the database has a dictionary of its own,
    // made from its first events: a big import stops for it once, early.
    let mut compressing = store.train_payloads();
    let checkpoints = store::Checkpointer::start(&store)?;
    let mut react = ctx.reactor(&store)?;
    let limits = crate::ingest::Limits::of(&ctx.config);
    // The total size is for the progress bar only: on a terminal. (For a Maildir it
    // means listing and stat-ing every file once more.)
    let total: u64 = if std::io::stderr().is_terminal() {
        inputs.iter().map(Input::size).sum()
    } else {
        0
    };
    let progress = progress_bar(total);

    let budget = Arc::new((Mutex::new(0usize), Condvar::new()));
    let (tx, rx) = sync_channel::<store::Result<Chunk>>(4);
    let db_path = store.path().to_path_buf();
    let reader_budget = Arc::clone(&budget);
    let raw_limit = limits.raw_limit;
    // Read before anything is asked of the database: what another connection commits
    // after this changes it, and then the writer stops trusting the reader's "first".
    let since = data_version(store.conn())?;
    // An empty database knows no content: the reader then asks it only about content
    // met earlier in this import (a second connection's lookups also contend with the
    // writer for SQLite's shared page cache).
    let ask_db: bool =
        store
            .conn()
            .query_row("SELECT EXISTS (SELECT 1 FROM messages)", [], |r| r.get(0))?;

    let reader = std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
        let conn = Store::open_reader(&db_path)?;
        // It only looks up content hashes: a small cache will do (memory stays flat).
        conn.pragma_update(None, "cache_size", -4_000)?;
        let mut seen: std::collections::HashSet<u64> = std::collections::HashSet::new();
        // Once emptied, a prefix's absence no longer means content new to the run.
        let mut forgot = false;
        let mut failures = Vec::new();
        let mut base = 0u64;
        // Messages go over in chunks: one hand-over per message costs more than the work.
        let mut chunk: Vec<Prepared> = Vec::with_capacity(CHUNK);
        let mut chunk_bytes = 0usize;
        let mut open = true;
        for input in &inputs {
            let mut last = 0u64;
            input.read(
                &mut |incoming, consumed| {
                    last = consumed;
                    let crate::ingest::Hashed { hash, extraction } =
                        crate::ingest::read(&incoming.raw, |h| {
                            (ask_db || seen.contains(&prefix(h)))
                                && store::is_known(&conn, h).unwrap_or(false)
                        });
                    if seen.len() >= SEEN_MAX {
                        seen.clear();
                        forgot = true;
                    }
                    let met = !seen.insert(prefix(&hash));
                    let first = extraction.is_some() && !met && !forgot;
                    // Never wait for budget while holding messages the writer has not
                    // been given: only the writer releases budget, so hand them over first.
                    if !try_acquire(&reader_budget, incoming.raw.len()) {
                        if !chunk.is_empty() {
                            open = tx
                                .send(Chunk::pack(std::mem::take(&mut chunk), raw_limit))
                                .is_ok();
                            chunk_bytes = 0;
                            if !open {
                                return false;
                            }
                        }
                        acquire(&reader_budget, incoming.raw.len());
                    }
                    chunk_bytes += incoming.raw.len();
                    chunk.push(Prepared {
                        incoming,
                        hash,
                        extraction,
                        first,
                        consumed: base + consumed,
                    });
                    if chunk.len() >= CHUNK || chunk_bytes >= CHUNK_BYTES {
                        open = tx
                            .send(Chunk::pack(std::mem::take(&mut chunk), raw_limit))
                            .is_ok();
                        chunk_bytes = 0;
                    }
                    open
                },
                &mut |failure| failures.push(failure),
            )?;
            base += last;
            if !open {
                break;
            }
        }
        if !chunk.is_empty() {
            let _ = tx.send(Chunk::pack(chunk, raw_limit));
        }
        Ok(failures)
    });

    let mut summary = Summary::default();
    // Messages stored before the batch, met again: recorded when the batch ends, in
    // the order of their rows (see `store::Later`).
    let mut later = store::Later::default();
    let mut batch = store.conn_mut().transaction()?;
    // No other writer has committed since the run began (checked as each batch takes
    // the write lock, which it then holds).
    let mut alone = data_version(&batch)? == since;
    let mut in_batch = 0usize;
    let mut batch_started = Instant::now();
    // The WAL is started afresh every `RESTART_EVERY` or so (see `Checkpointer::catch_up`):
    // after a big commit, the commit the thread is to copy first.
    let mut restarted = Instant::now();
    let mut restart: Option<u64> = None;
    for chunk in rx {
        let Chunk { items, mut block } = chunk?;
        let mut chunk_bytes = 0;
        let mut part = 0;
        for prepared in items {
            chunk_bytes += prepared.incoming.raw.len();
            if let Some(p) = &progress {
                p.set_position(prepared.consumed);
            }
            if prepared.extraction.is_none() {
                summary.messages += 1;
                in_batch += 1;
                later.message(prepared.hash, prepared.incoming.source);
                continue;
            }
            // Extracted, so its bytes are the chunk block's next part.
            let raw_at = part;
            part += 1;
            let done = crate::ingest::store_message(
                &batch,
                store::Raw {
                    bytes: &prepared.incoming.raw,
                    hash: &prepared.hash,
                    at: Some((&mut block, raw_at)),
                    unstored: prepared.first && alone,
                },
                &prepared.incoming.source,
                prepared.extraction,
                limits,
                Some(&mut later),
                &mut *react,
            )?;
            summary.messages += 1;
            summary.events_new += done.events_new.len() as u64;
            summary.rules_skipped += done.rules_skipped as u64;
            summary.duplicates += done.duplicates as u64;
            summary.quarantined += u64::from(done.quarantined);
            in_batch += 1;
        }
        release(&budget, chunk_bytes);
        let train = !compressing && summary.events_new >= store::packed::TRAIN_AT as u64;
        let full = in_batch >= BATCH_MESSAGES || batch_started.elapsed() >= BATCH_TIME;
        // The thread has copied the big commit: what this batch wrote since is little.
        let tail = restart.is_some_and(|poke| checkpoints.copied(poke));
        if train || full || tail {
            summary.add(later.record(&batch)?);
            batch.commit()?;
            let poke = checkpoints.poke();
            if tail {
                checkpoints.catch_up(store.conn());
                restart = None;
                restarted = Instant::now();
            } else if full && restarted.elapsed() >= RESTART_EVERY {
                restart = Some(poke);
                checkpoints.hurry();
            }
            if train {
                // Tried once per import: without enough variety it stays uncompressed.
                store.train_payloads();
                compressing = true;
            }
            batch = store.conn_mut().transaction()?;
            alone = alone && data_version(&batch)? == since;
            in_batch = 0;
            batch_started = Instant::now();
        }
    }
    summary.add(later.record(&batch)?);
    batch.commit()?;
    let failures = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread failed"))??;
    drop(checkpoints);
    // The search index, in a few large batches now rather than per event.
    crate::store::search::catch_up_all(store.conn())?;
    store.checkpoint()?;
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    for f in &failures {
        eprintln!("mailroom import: {f}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!("{summary}");
    }
    Ok(if failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

/// Messages read per committed batch into a shared store.
const SHARED_BATCH: usize = 2000;

/// `import` into PostgreSQL: messages read and extracted in batches on one thread
/// (with a connection of its own to look content up) while the batch before is written
/// on another, each batch in one transaction with the write lock, set-based where it
/// can be (`ingest::bulk`). Content and events already stored are recognised, so a
/// rerun after a kill ends with the same store.
fn import_shared(
    args: &Args,
    ctx: &Context,
    inputs: &[Input],
    store: &mut Store,
) -> anyhow::Result<u8> {
    use crate::ingest::bulk;
    use std::sync::mpsc::sync_channel;
    let rules = ctx.rules()?;
    let config = &ctx.config;
    let mut failures = Vec::new();
    let lookup = Store::reader(store.path())?;
    let (raw_tx, raw_rx) = sync_channel::<Vec<(crate::source::Source, Vec<u8>)>>(1);
    let (ready_tx, ready_rx) = sync_channel::<store::Result<bulk::Ready>>(1);
    let (summary, read) = std::thread::scope(|s| {
        s.spawn(move || {
            for items in raw_rx {
                let ready = bulk::read(&*lookup, config, items);
                let failed = ready.is_err();
                if ready_tx.send(ready).is_err() || failed {
                    break;
                }
            }
        });
        let writer = s.spawn(|| -> store::Result<Summary> {
            let mut summary = Summary::default();
            for ready in ready_rx {
                let b = bulk::write(store, config, &rules, ready?, None)?;
                summary.messages += b.messages;
                summary.events_new += b.events_new;
                summary.duplicates += b.duplicates;
                summary.quarantined += b.quarantined;
                summary.rules_skipped += b.rules_skipped;
            }
            Ok(summary)
        });
        let mut pending = Vec::new();
        let mut read = Ok(());
        for input in inputs {
            let r = input.read(
                &mut |incoming, _| {
                    pending.push((incoming.source, incoming.raw));
                    // A writer that stopped (an error) stops the reading.
                    pending.len() < SHARED_BATCH
                        || raw_tx.send(std::mem::take(&mut pending)).is_ok()
                },
                &mut |failure| failures.push(failure),
            );
            if r.is_err() {
                read = r;
                break;
            }
        }
        if !pending.is_empty() {
            let _ = raw_tx.send(pending);
        }
        drop(raw_tx);
        let summary = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (summary, read)
    });
    let summary = summary?;
    read?;
    for f in &failures {
        eprintln!("mailroom import: {f}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!("{summary}");
    }
    Ok(if failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

/// SQLite's count of commits by other connections, as this one has seen them.
fn data_version(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// Takes `n` bytes of budget when that needs no wait. A message larger than the whole
/// budget is let through alone (when nothing else is in flight), so every message up
/// to the size cap gets in.
fn try_acquire(budget: &(Mutex<usize>, Condvar), n: usize) -> bool {
    let (lock, _) = budget;
    let mut used = lock.lock().unwrap_or_else(|e| e.into_inner());
    if *used > 0 && *used + n > IN_FLIGHT_BYTES {
        return false;
    }
    *used += n;
    true
}

/// Takes `n` bytes of budget, waiting for the writer to release some.
fn acquire(budget: &(Mutex<usize>, Condvar), n: usize) {
    let (lock, cvar) = budget;
    let mut used = lock.lock().unwrap_or_else(|e| e.into_inner());
    while *used > 0 && *used + n > IN_FLIGHT_BYTES {
        used = cvar.wait(used).unwrap_or_else(|e| e.into_inner());
    }
    *used += n;
}

fn release(budget: &(Mutex<usize>, Condvar), n: usize) {
    let (lock, cvar) = budget;
    let mut used = lock.lock().unwrap_or_else(|e| e.into_inner());
    *used = used.saturating_sub(n);
    cvar.notify_all();
}

/// A progress bar on a terminal; nothing when stderr is not one.
fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || total == 0 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}
