//! The [`Intake`]: the one door through which a channel stores anything. A channel
//! hands it raw bytes and where they were found ([`Item`]), with the cursor to move
//! when they are committed ([`Position`]); the intake extracts them before it takes the
//! write lock, stores messages, events, outbox rows and the cursor in one transaction
//! (on a blocking thread, never the async runtime's), then wakes delivery. A channel
//! acknowledges what it read (IMAP `seen`/`move`, a registrar ACK, HTTP 200) only after
//! the returned [`Storing`] resolves to `Ok`.
//!
//! The same handle carries what a channel reports about itself for `mailroom status`
//! and `/metrics`: messages read, last sync, last error, registrar counters, latencies.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::sync::Notify;

use super::live::Live;
use super::{Batch, Prepared, ingest_batch, prepare};
use crate::config::Config;
use crate::event::Event;
use crate::extract::{Extraction, MessageMeta};
use crate::rules::RuleSet;
use crate::source::Source;
use crate::store::cursors::{self, Cursor};
use crate::store::{self, Store, channels};

/// One message as a channel read it.
pub struct Item {
    source: Source,
    raw: Vec<u8>,
    /// Set when only the header was read, of a message this large.
    whole_size: Option<u64>,
}

impl Item {
    pub fn new(source: Source, raw: Vec<u8>) -> Item {
        Item {
            source,
            raw,
            whole_size: None,
        }
    }

    /// The header alone of a message over [`crate::extract::MAX_MESSAGE_BYTES`] (its
    /// whole `size` given): it is kept in quarantine with the reason, nothing extracted.
    pub fn header_only(source: Source, header: Vec<u8>, size: u64) -> Item {
        Item {
            source,
            raw: header,
            whole_size: Some(size),
        }
    }
}

/// Where a channel stands in a folder once a batch is committed (IMAP: UIDVALIDITY and
/// the last UID read), moved in the batch's own transaction.
#[derive(Debug, Clone)]
pub struct Position {
    pub account: String,
    pub folder: String,
    pub cursor: Cursor,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    /// The thread storing the batch ended without an answer (a panic): nothing of the
    /// batch is committed, and the channel must not acknowledge it.
    #[error("storing stopped unexpectedly (a bug: please report it): {0}")]
    Lost(String),
}

/// What every channel task shares (config, rules, delivery wake-up, figures) and its
/// own database connection. `Clone` shares the connection; [`Intake::connect`] opens
/// another for a task that writes beside the others.
#[derive(Clone)]
pub struct Intake {
    pub config: Arc<Config>,
    pub rules: Arc<RuleSet>,
    pub live: Arc<Live>,
    db: PathBuf,
    store: Arc<Mutex<Store>>,
    wake: Arc<Notify>,
}

impl Intake {
    /// An intake over the database at `db`, with a delivery wake-up of its own.
    pub fn open(
        config: Arc<Config>,
        rules: Arc<RuleSet>,
        db: &Path,
        live: Arc<Live>,
    ) -> store::Result<Intake> {
        Ok(Intake {
            store: Arc::new(Mutex::new(Store::open(db)?)),
            db: db.to_path_buf(),
            config,
            rules,
            live,
            wake: Arc::new(Notify::new()),
        })
    }

    /// The same intake on a new database connection.
    pub fn connect(&self) -> store::Result<Intake> {
        Ok(Intake {
            store: Arc::new(Mutex::new(Store::open(&self.db)?)),
            ..self.clone()
        })
    }

    /// The database file.
    pub fn db(&self) -> &Path {
        &self.db
    }

    /// This intake's connection, for queries and for the console's own writes (a retry,
    /// a reparse). Channels store through [`Intake::ingest`] only.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if store.is_broken() {
            // A PostgreSQL connection that died is replaced on next use; while the
            // server is away the old one keeps failing each step, which is retried.
            match Store::open(&self.db) {
                Ok(fresh) => {
                    tracing::info!("database connection made again");
                    *store = fresh;
                }
                Err(e) => tracing::warn!(error = %e, "database still unreachable"),
            }
        }
        store
    }

    /// Whether several instances may share this store (PostgreSQL).
    pub fn shared(&self) -> bool {
        crate::store::pg_url(&self.db).is_some()
    }

    /// Takes or renews the lease on `source` for this process; false while another
    /// instance holds it. A holder that was a process of this machine and is gone
    /// (this instance before a crash) is taken over at once.
    pub fn lease(&self, source: &str, lease: std::time::Duration) -> store::Result<bool> {
        let me = store::outbox::holder();
        let ms = lease.as_millis() as i64;
        off_runtime(|| {
            let store = self.store();
            let db = store.db();
            if store::leases::take(db, source, &me, ms)? {
                return Ok(true);
            }
            match store::leases::holder_of(db, source)? {
                Some(h) if store::outbox::holder_alive(&h) == Some(false) => {
                    store::leases::take_from(db, source, &h, &me, ms)
                }
                _ => Ok(false),
            }
        })
    }

    /// Gives the lease on `source` up (a clean stop).
    pub fn release(&self, source: &str) -> store::Result<()> {
        let me = store::outbox::holder();
        off_runtime(|| store::leases::release(self.store().db(), source, &me))
    }

    /// Starts delivery now rather than at its next timer (after a commit that queued
    /// something, or a retry asked for in the console).
    pub fn wake_delivery(&self) {
        self.wake.notify_one();
    }

    /// Returns when [`Intake::wake_delivery`] was called (by any clone or connection).
    pub async fn delivery_wanted(&self) {
        self.wake.notified().await
    }

    /// Stores `items` and moves `at`, in one transaction, on a blocking thread; then
    /// wakes delivery. Extraction runs before the write lock is taken, so a slow message
    /// costs its own channel's time, never another's lock.
    pub fn ingest(&self, items: Vec<Item>, at: Option<Position>) -> Storing {
        let intake = self.clone();
        Storing(tokio::task::spawn_blocking(move || {
            intake.ingest_here(items, at)
        }))
    }

    /// Stores one of mailroom's own alerts (registrar `mailroom`) as a message of its
    /// own, through the rules like any event, on a blocking thread. The same alert
    /// raised again (same event id) stays one event.
    pub fn raise(&self, alert: Event) -> Storing {
        let intake = self.clone();
        Storing(tokio::task::spawn_blocking(move || {
            intake.raise_here(alert)
        }))
    }

    /// [`Intake::raise`] on the calling thread.
    pub fn raise_here(&self, alert: Event) -> Result<Batch, IngestError> {
        let raw = serde_json::to_vec_pretty(&serde_json::json!({ "mailroom_alert": &alert }))
            .unwrap_or_default();
        let meta = MessageMeta {
            message_id: None,
            subject: alert.status_text.clone(),
            from: Some("mailroom".into()),
            date: alert.occurred_at.clone(),
        };
        let prepared = Prepared {
            source: Source::Alert {
                id: alert.event_id.clone(),
            },
            hash: store::content_hash(&raw),
            raw,
            extraction: Some(Extraction {
                meta,
                events: vec![alert],
                conflicts: Vec::new(),
                reason: None,
            }),
        };
        let batch = ingest_batch(
            &mut self.store(),
            &self.config,
            &self.rules,
            vec![prepared],
            None,
        )?;
        self.wake_delivery();
        Ok(batch)
    }

    /// [`Intake::ingest`] on the calling thread (which must not be the async runtime's).
    pub fn ingest_here(
        &self,
        items: Vec<Item>,
        at: Option<Position>,
    ) -> Result<Batch, IngestError> {
        let mut sizes = Vec::with_capacity(items.len());
        let raw: Vec<(Source, Vec<u8>)> = items
            .into_iter()
            .map(|i| {
                sizes.push(i.whole_size);
                (i.source, i.raw)
            })
            .collect();
        let shared = self.store().is_shared();
        let mut prepared = if shared {
            let stored = super::stored_of(self.store().db(), &raw);
            prepare(raw, |hash| stored.contains(hash))
        } else {
            prepare(raw, |hash| {
                store::is_known(self.store().db(), hash).unwrap_or(false)
            })
        };
        for (p, size) in prepared.iter_mut().zip(sizes) {
            if let Some(size) = size {
                header_only(p, size);
            }
        }
        let cursor = at
            .as_ref()
            .map(|p| (p.account.as_str(), p.folder.as_str(), p.cursor));
        let batch = ingest_batch(
            &mut self.store(),
            &self.config,
            &self.rules,
            prepared,
            cursor,
        )?;
        self.wake_delivery();
        Ok(batch)
    }

    /// Where the channel stood in `folder` after its last commit.
    pub fn position(&self, account: &str, folder: &str) -> store::Result<Option<Cursor>> {
        off_runtime(|| cursors::get(self.store().db(), account, folder))
    }

    /// Sets where the channel starts in `folder` (first sight, or a new UIDVALIDITY).
    pub fn start_at(&self, account: &str, folder: &str, cursor: Cursor) -> store::Result<()> {
        off_runtime(|| cursors::set(self.store().db(), account, folder, cursor, 0))
    }

    /// Names under `prefix` of messages already read from a local folder.
    pub fn known_under(&self, prefix: &str) -> store::Result<std::collections::HashSet<String>> {
        off_runtime(|| cursors::known_under(self.store().db(), prefix))
    }

    /// Counts `n` messages read from the source.
    pub fn read(&self, source: &str, folder: &str, n: u64) -> store::Result<()> {
        off_runtime(|| cursors::read(self.store().db(), source, folder, n))
    }

    /// The source is up to date now (clears its last error).
    pub fn synced(&self, source: &str, folder: &str) -> store::Result<()> {
        off_runtime(|| cursors::synced(self.store().db(), source, folder))
    }

    /// The source's last attempt failed with `error` (shown by `mailroom status`).
    pub fn failed(&self, source: &str, folder: &str, error: &str) -> store::Result<()> {
        off_runtime(|| cursors::failed(self.store().db(), source, folder, error))
    }

    /// Sets a figure the source reported (a registrar's queue depth).
    pub fn gauge(&self, source: &str, name: &str, value: u64) -> store::Result<()> {
        off_runtime(|| channels::set(self.store().db(), source, name, value))
    }

    /// Adds to a counter of the source (acknowledged messages, HTTP answers).
    pub fn count(&self, source: &str, name: &str, n: u64) -> store::Result<()> {
        off_runtime(|| channels::add(self.store().db(), source, name, n))
    }
}

/// Runs a channel's small database step where the channel calls it. On a thread of the
/// async runtime it first hands that thread's other tasks to another (`block_in_place`):
/// a write lock another process holds for minutes then stalls the calling task only,
/// never the tasks beside it.
fn off_runtime<T>(step: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(step)
        }
        _ => step(),
    }
}

/// Over the message cap only the header was read: nothing is extracted from it, and
/// it is kept in quarantine saying so.
fn header_only(p: &mut Prepared, size: u64) {
    if let Some(extraction) = p.extraction.as_mut() {
        extraction.events.clear();
        extraction.conflicts.clear();
        extraction.reason = Some(format!(
            "message too large ({size} bytes, limit {} MiB): only its header was fetched and kept",
            crate::extract::MAX_MESSAGE_BYTES >> 20
        ));
    }
}

/// A batch being stored; resolves once it is committed (or failed).
pub struct Storing(tokio::task::JoinHandle<Result<Batch, IngestError>>);

impl Future for Storing {
    type Output = Result<Batch, IngestError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(result) => result,
            Err(e) => Err(IngestError::Lost(e.to_string())),
        })
    }
}
