//! `mailroom watch`: the long-running service. One task per IMAP folder (catch up after
//! the cursor, then IDLE, or poll when the server has no IDLE), one per local folder,
//! one delivering the outbox and closing digest periods. Faults reconnect with capped
//! exponential backoff; SIGINT/SIGTERM finish the current batch and stop cleanly.
//! `--once` catches up every source, delivers what is due, and returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::sync::{Notify, watch};

use crate::channel::files;
use crate::channel::imap::{self, ImapError, ImapSession};
use crate::clock;
use crate::config::{AccountConfig, After, Config, MaildirConfig, Start};
use crate::deliver::{Deliverer, digest};
use crate::pipeline::{Batch, ingest_batch, prepare, sum};
use crate::rules::RuleSet;
use crate::source::Source;
use crate::store::cursors::{self, Cursor};
use crate::store::{self, Store, outbox};

/// Messages fetched and committed together (one transaction, one cursor move): at most
/// this many, and at most `CHUNK_BYTES` of them (one fetched while the one before is
/// stored, so a catch-up holds about twice this, whatever the folder holds).
const CHUNK: usize = 1000;
const CHUNK_BYTES: u64 = 24 << 20;

/// Everything a source task needs.
#[derive(Clone)]
pub struct Shared {
    pub config: Arc<Config>,
    pub db: PathBuf,
    pub rules: Arc<RuleSet>,
    /// Rung after new events are committed, so deliveries start at once.
    pub deliver: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
    /// In-process figures for `/metrics` (latencies); kept across SIGHUP reloads.
    pub live: Arc<crate::web::metrics::Live>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(crate) async fn stopped(&mut self) {
        while !*self.shutdown.borrow() {
            if self.shutdown.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sleeps `d`, or less when shutdown comes first; true when shutting down.
    pub(crate) async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.stopping(),
            _ = self.stopped() => true,
        }
    }
}

/// What a `--once` run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct OnceReport {
    pub messages: u64,
    pub events_new: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub errors: Vec<String>,
    pub delivery: crate::deliver::Report,
}

fn store_err(account: &str, e: store::StoreError) -> ImapError {
    ImapError::Other {
        account: account.to_string(),
        message: format!("database: {e}"),
    }
}

/// Reads everything after the cursor in the selected folder.
/// The selected folder, as `catch_up` needs it.
#[derive(Clone, Copy)]
struct Selected<'a> {
    account: &'a AccountConfig,
    folder: &'a str,
    uidvalidity: u32,
    uid_next: Option<u32>,
    has_move: bool,
    /// First catch-up of a connection: finish `seen`/`move` for messages up to the
    /// cursor that a crash or a dropped connection left unmarked after their commit.
    finish_earlier: bool,
}

async fn catch_up(
    session: &mut ImapSession,
    db: &Db,
    shared: &Shared,
    sel: &Selected<'_>,
) -> Result<Batch, ImapError> {
    let Selected {
        account,
        folder,
        uidvalidity,
        uid_next,
        has_move,
        finish_earlier,
    } = *sel;
    let name = account.name.as_str();
    let limit = shared.config.watch.command_timeout;
    let last = {
        let store = lock(db);
        let stored = cursors::get(store.conn(), name, folder).map_err(|e| store_err(name, e))?;
        let start = match stored {
            Some(c) if c.uidvalidity == uidvalidity => Some(c.last_uid),
            Some(c) => {
                tracing::warn!(
                    account = name,
                    folder,
                    old = c.uidvalidity,
                    new = uidvalidity,
                    "UIDVALIDITY changed: rescanning the folder"
                );
                None
            }
            None => None,
        };
        match (start, stored) {
            (Some(last), _) => last,
            (None, stored) => {
                let first = match (stored, account.start) {
                    (None, Start::New) => uid_next.unwrap_or(1).saturating_sub(1),
                    _ => 0,
                };
                let c = Cursor {
                    uidvalidity,
                    last_uid: first,
                };
                cursors::set(store.conn(), name, folder, c, 0).map_err(|e| store_err(name, e))?;
                first
            }
        }
    };
    if finish_earlier && last > 0 && account.after != After::Leave {
        let left =
            imap::uids_upto(session, name, last, account.after == After::Seen, limit).await?;
        if !left.is_empty() {
            tracing::info!(
                account = name,
                folder,
                messages = left.len(),
                after = if account.after == After::Seen {
                    "seen"
                } else {
                    "move"
                },
                "finishing post-processing of messages stored before the last disconnect"
            );
            post_process(session, account, &left, has_move, limit).await?;
        }
    }
    let uids = imap::uids_after(session, name, last, limit).await?;
    tracing::debug!(account = name, folder, new = uids.len(), "searched");
    let mut total = Batch::default();
    // Fetching chunk k+1 overlaps storing chunk k (on a blocking thread); each chunk's
    // messages, events, actions and cursor commit together, in order.
    let mut storing: Option<(tokio::task::JoinHandle<store::Result<Batch>>, Vec<u32>)> = None;
    let sizes = imap::sizes(session, name, &uids, limit).await?;
    let too_large: std::collections::HashMap<u32, u32> = sizes
        .iter()
        .filter(|(_, size)| *size as usize > crate::extract::MAX_MESSAGE_BYTES)
        .copied()
        .collect();
    let size_of: std::collections::HashMap<u32, u32> = sizes.iter().copied().collect();
    let mut storing_big = false;
    for chunk in imap::plan_chunks(&sizes, CHUNK, CHUNK_BYTES) {
        if shared.stopping() {
            break;
        }
        let chunk = chunk.as_slice();
        // Over the message cap: only its header is fetched, and it is quarantined.
        let header_only = chunk.len() == 1 && too_large.contains_key(&chunk[0]);
        // A chunk over the byte budget (one big message) is not fetched while another
        // is being stored, nor stored while the next is fetched: memory holds one.
        let bytes: u64 = chunk.iter().map(|u| u64::from(size_of[u])).sum();
        let big = bytes > CHUNK_BYTES && !header_only;
        if (big || storing_big)
            && let Some((handle, done)) = storing.take()
        {
            sum(
                &mut total,
                finish(handle, session, shared, account, &done, has_move).await?,
            );
        }
        storing_big = big;
        let fetched = imap::fetch(session, name, chunk, header_only, limit * 4).await?;
        tracing::debug!(account = name, folder, messages = fetched.len(), "fetched");
        if let Some((handle, done)) = storing.take() {
            sum(
                &mut total,
                finish(handle, session, shared, account, &done, has_move).await?,
            );
        }
        let got: Vec<u32> = fetched.iter().map(|(u, _)| *u).collect();
        let items: Vec<(Source, Vec<u8>)> = fetched
            .into_iter()
            .map(|(uid, raw)| {
                let source = Source::Imap {
                    account: name.to_string(),
                    folder: folder.to_string(),
                    uidvalidity,
                    uid,
                };
                (source, raw)
            })
            .collect();
        let cursor = Cursor {
            uidvalidity,
            last_uid: *chunk.last().unwrap_or(&last),
        };
        let (db, writer, account_name, folder_name) = (
            Arc::clone(db),
            shared.clone(),
            name.to_string(),
            folder.to_string(),
        );
        let oversized = header_only.then(|| too_large[&chunk[0]]);
        let handle = tokio::task::spawn_blocking(move || {
            let mut items = prepare(items, |hash| {
                store::is_known(lock(&db).conn(), hash).unwrap_or(false)
            });
            if let Some(size) = oversized {
                for extraction in items.iter_mut().filter_map(|i| i.extraction.as_mut()) {
                    extraction.events.clear();
                    extraction.conflicts.clear();
                    extraction.reason = Some(format!(
                        "message too large ({size} bytes, limit {} MiB): only its header was fetched and kept",
                        crate::extract::MAX_MESSAGE_BYTES >> 20
                    ));
                }
            }
            ingest_batch(
                &mut lock(&db),
                &writer.config,
                &writer.rules,
                items,
                Some((&account_name, &folder_name, cursor)),
            )
        });
        storing = Some((handle, got));
    }
    if let Some((handle, done)) = storing.take() {
        sum(
            &mut total,
            finish(handle, session, shared, account, &done, has_move).await?,
        );
    }
    if total.messages > 0 {
        tracing::info!(
            account = name,
            folder,
            messages = total.messages,
            new_events = total.events_new,
            duplicates = total.duplicates,
            quarantined = total.quarantined,
            "caught up"
        );
    }
    Ok(total)
}

/// Waits for a chunk to be committed, wakes the deliverer, then marks or moves the
/// chunk's messages on the server (only ever after they are safely stored).
async fn finish(
    handle: tokio::task::JoinHandle<store::Result<Batch>>,
    session: &mut ImapSession,
    shared: &Shared,
    account: &AccountConfig,
    uids: &[u32],
    has_move: bool,
) -> Result<Batch, ImapError> {
    let name = account.name.as_str();
    let batch = handle
        .await
        .map_err(|e| {
            store_err(
                name,
                store::StoreError::Sql(rusqlite::Error::ToSqlConversionFailure(Box::new(e))),
            )
        })?
        .map_err(|e| store_err(name, e))?;
    shared.deliver.notify_one();
    let limit = shared.config.watch.command_timeout;
    post_process(session, account, uids, has_move, limit).await?;
    Ok(batch)
}

/// `seen` or `move` for stored messages (nothing for `leave`).
async fn post_process(
    session: &mut ImapSession,
    account: &AccountConfig,
    uids: &[u32],
    has_move: bool,
    limit: Duration,
) -> Result<(), ImapError> {
    if uids.is_empty() {
        return Ok(());
    }
    let name = account.name.as_str();
    match account.after {
        After::Leave => Ok(()),
        After::Seen => imap::mark_seen(session, name, uids, limit).await,
        After::Move => {
            let to = account.move_to.as_deref().unwrap_or("Processed");
            imap::move_to(session, name, uids, to, has_move, limit).await
        }
    }
}

/// The database of a source task, shared with the blocking threads that write to it.
type Db = Arc<std::sync::Mutex<Store>>;

fn lock(db: &Db) -> std::sync::MutexGuard<'_, Store> {
    db.lock().unwrap_or_else(|e| e.into_inner())
}

enum Wake {
    /// The folder changed; when the server said so (or the poll began), for latency.
    Changed(std::time::Instant),
    Refresh,
    Shutdown,
}

/// Waits for the folder to change: IDLE (re-issued every `idle_refresh`), else a poll.
async fn wait_for_change(
    session: ImapSession,
    shared: &mut Shared,
    name: &str,
    has_idle: bool,
) -> Result<(ImapSession, Wake), ImapError> {
    let limit = shared.config.watch.command_timeout;
    let refresh = shared.config.watch.idle_refresh;
    if !has_idle {
        let mut session = session;
        if shared.sleep(shared.config.watch.poll_interval).await {
            return Ok((session, Wake::Shutdown));
        }
        let asked = std::time::Instant::now();
        imap::timed(name, "NOOP", limit, session.noop()).await?;
        return Ok((session, Wake::Changed(asked)));
    }
    let mut idle = session.idle();
    imap::timed(name, "IDLE", limit, idle.init()).await?;
    let wake = {
        // The server's keepalives reset the library's own timeout, so the whole wait is
        // bounded here as well: IDLE is ended and re-issued every `idle_refresh`.
        let (fut, stop) = idle.wait_with_timeout(refresh + Duration::from_secs(60));
        let wake = tokio::select! {
            r = tokio::time::timeout(refresh, fut) => match r {
                Ok(Ok(async_imap::extensions::idle::IdleResponse::NewData(_))) => Wake::Changed(std::time::Instant::now()),
                Ok(Ok(async_imap::extensions::idle::IdleResponse::Timeout)) => Wake::Refresh,
                Ok(Ok(async_imap::extensions::idle::IdleResponse::ManualInterrupt)) => {
                    return Err(ImapError::Other { account: name.into(), message: "connection closed during IDLE".into() });
                }
                Ok(Err(e)) => return Err(ImapError::Other { account: name.into(), message: format!("IDLE: {e}") }),
                Err(_) => Wake::Refresh,
            },
            _ = shared.stopped() => Wake::Shutdown,
        };
        drop(stop);
        wake
    };
    let session = imap::timed(name, "IDLE DONE", limit, idle.done()).await?;
    Ok((session, wake))
}

/// One connection's life: connect, select, catch up, then wait and catch up again until
/// shutdown (or, with `once`, after the first catch-up).
async fn folder_session(
    shared: &mut Shared,
    db: &Db,
    account: &AccountConfig,
    folder: &str,
    once: bool,
    delay: &mut Duration,
) -> Result<Batch, ImapError> {
    let name = account.name.as_str();
    let limit = shared.config.watch.command_timeout;
    let mut session = imap::connect(&shared.config, account).await?;
    let caps = imap::timed(name, "CAPABILITY", limit, session.capabilities()).await?;
    let has_idle = caps.has_str("IDLE");
    let has_move = caps.has_str("MOVE");
    let opened = tokio::time::timeout(
        limit,
        // `leave` promises not to touch the folder: EXAMINE opens it read-only (the
        // server then neither clears \Recent nor files new mail away).
        async {
            if account.after == After::Leave {
                session.examine(folder).await
            } else {
                session.select(folder).await
            }
        },
    )
    .await;
    let mailbox = match opened {
        Ok(Ok(m)) => m,
        Ok(Err(e @ async_imap::error::Error::No(_))) => {
            return Err(ImapError::Setup {
                account: name.to_string(),
                message: format!(
                    "folder {folder:?} cannot be opened on {}: {} (check folders = [...] for this account)",
                    account.host,
                    imap::server_text(&e)
                ),
            });
        }
        Ok(Err(e)) => {
            return Err(ImapError::Other {
                account: name.to_string(),
                message: format!("SELECT {folder}: {}", imap::server_text(&e)),
            });
        }
        Err(_) => {
            return Err(ImapError::Timeout {
                account: name.to_string(),
                what: format!("SELECT {folder}"),
                secs: limit.as_secs(),
            });
        }
    };
    if account.after == After::Move {
        let to = account.move_to.as_deref().unwrap_or("Processed");
        let found = imap::timed(name, "LIST", limit, async {
            let list = session.list(Some(""), Some(to)).await?;
            list.try_collect::<Vec<_>>().await
        })
        .await?;
        if found.is_empty() {
            return Err(ImapError::Setup {
                account: name.to_string(),
                message: format!(
                    "move_to folder {to:?} does not exist on {}: create it, or set after = \"seen\" or \"leave\"",
                    account.host
                ),
            });
        }
    }
    let uidvalidity = mailbox.uid_validity.unwrap_or(0);
    let mut sel = Selected {
        account,
        folder,
        uidvalidity,
        uid_next: mailbox.uid_next,
        has_move,
        finish_earlier: true,
    };
    let mut total = catch_up(&mut session, db, shared, &sel).await?;
    sel.uid_next = None;
    sel.finish_earlier = false;
    cursors::synced(lock(db).conn(), name, folder).map_err(|e| store_err(name, e))?;
    *delay = Duration::from_secs(1);
    if once {
        let _ = imap::timed(name, "LOGOUT", limit, session.logout()).await;
        return Ok(total);
    }
    tracing::info!(account = name, folder, idle = has_idle, "watching");
    loop {
        while session.unsolicited_responses.try_recv().is_ok() {}
        let (s, wake) = wait_for_change(session, shared, name, has_idle).await?;
        session = s;
        match wake {
            Wake::Shutdown => {
                let _ = imap::timed(name, "LOGOUT", limit, session.logout()).await;
                return Ok(total);
            }
            Wake::Changed(_) | Wake::Refresh => {
                tracing::debug!(account = name, folder, "folder changed");
                let b = catch_up(&mut session, db, shared, &sel).await?;
                if let Wake::Changed(at) = wake
                    && b.messages > 0
                {
                    let channel = if has_idle { "imap-idle" } else { "imap-poll" };
                    shared.live.intake(channel, at.elapsed());
                }
                sum(&mut total, b);
                cursors::synced(lock(db).conn(), name, folder).map_err(|e| store_err(name, e))?;
            }
        }
    }
}

/// Keeps one IMAP folder watched until shutdown, reconnecting after faults.
async fn folder_task(mut shared: Shared, account: AccountConfig, folder: String) {
    let db: Db = match Store::open(&shared.db) {
        Ok(s) => Arc::new(std::sync::Mutex::new(s)),
        Err(e) => {
            tracing::error!(account = %account.name, %folder, error = %e, "cannot open the database");
            return;
        }
    };
    let max = shared.config.watch.max_reconnect_delay;
    let mut delay = Duration::from_secs(1);
    loop {
        // A stop is waited on only briefly: a server that says nothing (a handshake, a
        // fetch stuck for the whole command timeout) must not hold the service. What is
        // committed stays; `seen`/`move` left undone is finished on the next start.
        let mut stop = shared.shutdown.clone();
        let abandon = async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(STOP_WAIT).await;
        };
        let result = tokio::select! {
            r = folder_session(&mut shared, &db, &account, &folder, false, &mut delay) => r,
            _ = abandon => {
                tracing::warn!(account = %account.name, %folder, "stopping without waiting for the server");
                return;
            }
        };
        match result {
            Ok(_) => return,
            Err(e) => {
                let _ = cursors::failed(lock(&db).conn(), &account.name, &folder, &e.to_string());
                shared.live.source_error(&account.name, &folder);
                // Wrong credentials and untrusted certificates need a person: retry
                // slowly rather than hammer the server.
                let wait = if e.needs_a_person() {
                    delay.max(Duration::from_secs(60))
                } else {
                    delay
                };
                let wait = wait.min(max.max(Duration::from_secs(1)));
                tracing::error!(account = %account.name, %folder, error = %e, retry_in_s = wait.as_secs_f32(), "IMAP error");
                let jitter =
                    Duration::from_millis(fastrand::u64(0..=wait.as_millis() as u64 / 5 + 1));
                if shared.sleep(wait + jitter).await {
                    return;
                }
                delay = (delay * 2).min(max);
            }
        }
    }
}

/// A local folder: a Maildir, or a directory `.eml` files are dropped into.
fn local_new_messages(store: &Store, dir: &Path) -> store::Result<Vec<(Source, PathBuf)>> {
    let d = dir.display().to_string();
    if files::is_maildir(dir) {
        let known = cursors::known_under(store.conn(), &format!("maildir:{d}#"))?;
        return Ok(files::maildir_files(dir)
            .into_iter()
            .filter(|(_, name)| !known.contains(name))
            .map(|(path, name)| {
                (
                    Source::Maildir {
                        dir: d.clone(),
                        name,
                    },
                    path,
                )
            })
            .collect());
    }
    let prefix = format!("{d}/");
    let known = cursors::known_under(store.conn(), &format!("file:{prefix}"))?;
    Ok(files::eml_files(dir)
        .into_iter()
        .map(|path| (path.display().to_string(), path))
        .filter(|(key, _)| {
            !key.strip_prefix(&prefix)
                .is_some_and(|rest| known.contains(rest))
        })
        .map(|(key, path)| (Source::File { path: key }, path))
        .collect())
}

fn local_catch_up(store: &mut Store, shared: &Shared, m: &MaildirConfig) -> Result<Batch, String> {
    let dir = shared.config.resolve(&m.path);
    let dir =
        std::fs::canonicalize(&dir).map_err(|e| format!("{}: {}: {e}", m.name, dir.display()))?;
    let new = local_new_messages(store, &dir).map_err(|e| format!("{}: {e}", m.name))?;
    let mut total = Batch::default();
    for chunk in new.chunks(CHUNK) {
        let mut items = Vec::with_capacity(chunk.len());
        for (source, path) in chunk {
            match std::fs::read(path) {
                Ok(raw) => items.push((source.clone(), raw)),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read"),
            }
        }
        let items = prepare(items, crate::pipeline::known_in(store.conn()));
        let b = ingest_batch(store, &shared.config, &shared.rules, items, None)
            .map_err(|e| format!("{}: database: {e}", m.name))?;
        sum(&mut total, b);
        shared.deliver.notify_one();
    }
    let _ = cursors::read(store.conn(), &m.name, "", total.messages);
    let _ = cursors::synced(store.conn(), &m.name, "");
    if total.messages > 0 {
        tracing::info!(source = %m.name, messages = total.messages, new_events = total.events_new, "caught up");
    }
    Ok(total)
}

async fn local_task(mut shared: Shared, m: MaildirConfig) {
    let mut store = match Store::open(&shared.db) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(source = %m.name, error = %e, "cannot open the database");
            return;
        }
    };
    loop {
        if let Err(e) = local_catch_up(&mut store, &shared, &m) {
            let _ = cursors::failed(store.conn(), &m.name, "", &e);
            shared.live.source_error(&m.name, "");
            tracing::error!(source = %m.name, error = %e, "local folder error");
        }
        let poll = shared.config.watch.poll_interval;
        if shared.sleep(poll).await {
            return;
        }
    }
}

/// Delivers the outbox and closes digest periods, waking when sources commit events,
/// when something falls due, and at least every 30 s.
async fn delivery_task(mut shared: Shared) {
    let mut store = match Store::open(&shared.db) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the database");
            return;
        }
    };
    let deliverer = match Deliverer::new(&shared.config, &store) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "delivery is not set up; nothing will be sent");
            return;
        }
    };
    loop {
        let now = clock::now();
        if let Err(e) = digest::tick(&mut store, &shared.rules, now) {
            tracing::error!(error = %e, "digest");
        }
        if let Err(e) = deliverer.run_due(&mut store).await {
            tracing::error!(error = %e, "delivery");
        }
        let mut wait = Duration::from_secs(30);
        if let Ok(Some(next)) = outbox::next_due(store.conn())
            && let Ok(t) = chrono::DateTime::parse_from_rfc3339(&next)
        {
            let d = (t.with_timezone(&chrono::Utc) - clock::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            wait = wait.min(d.max(Duration::from_millis(50)));
        }
        for d in &shared.rules.digests {
            if let Some(b) = d.schedule.next_boundary(clock::now()) {
                let until = (b - clock::now()).to_std().unwrap_or(Duration::ZERO)
                    + Duration::from_millis(100);
                wait = wait.min(until);
            }
        }
        let notify = Arc::clone(&shared.deliver);
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shared.stopped() => return,
        }
    }
}

/// An exclusive lock beside the database, held while `watch` runs: one watcher per
/// database. Released by the kernel when the process ends, however it ends.
pub struct WatchLock(#[allow(dead_code)] std::fs::File);

impl WatchLock {
    pub fn acquire(db: &Path) -> anyhow::Result<WatchLock> {
        use std::os::fd::AsRawFd;
        // One lock file per database whatever its path's spelling (relative, through a
        // symlink): named after the canonical path of the database file.
        let canonical = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
        let path = PathBuf::from(format!("{}.watch-lock", canonical.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            anyhow::bail!(
                "another mailroom watch is running on {} ({} is locked)",
                db.display(),
                path.display()
            );
        }
        Ok(WatchLock(file))
    }
}

/// Reads the config and rules again (for SIGHUP), with every check of the start.
pub type Reload = Box<dyn Fn() -> anyhow::Result<(Config, RuleSet)> + Send>;

/// How long a stop waits for tasks to finish their batch before abandoning them (an
/// abandoned transaction is rolled back by SQLite; nothing half-done is kept).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a folder's connection may take to finish once a stop is asked for.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The whole service until SIGINT/SIGTERM. SIGHUP reloads config and rules: a new set
/// that fails its checks is refused with its reason and the running one kept.
pub async fn run(
    mut config: Config,
    db: PathBuf,
    mut rules: RuleSet,
    reload: Reload,
) -> anyhow::Result<()> {
    let _lock = WatchLock::acquire(&db)?;
    // Claims left by a watch that was killed are void: no other watch can be running.
    let first = Store::open(&db)?;
    outbox::release_stale_claims(first.conn())?;
    // WAL checkpoints run beside the service, never inside a commit on the intake path.
    let _checkpoints = store::Checkpointer::start(&first)?;
    drop(first);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let live: Arc<crate::web::metrics::Live> = Arc::default();
    loop {
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Shared {
            config: Arc::new(config.clone()),
            db: db.clone(),
            rules: Arc::new(rules.clone()),
            deliver: Arc::new(Notify::new()),
            shutdown: stop_rx,
            live: Arc::clone(&live),
        };
        let mut tasks = spawn_all(&shared);
        let reloaded = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break None,
                _ = term.recv() => break None,
                _ = hup.recv() => match reload() {
                    Ok(new) => break Some(new),
                    Err(e) => tracing::error!(
                        error = %format!("{e:#}"),
                        "SIGHUP: the new config or rules are refused; running on with the old ones"
                    ),
                },
            }
        };
        let stopping = reloaded.is_none();
        tracing::info!(
            "{}: finishing the current batch",
            if stopping {
                "shutting down"
            } else {
                "reloading"
            }
        );
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(STOP_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace_s = STOP_GRACE.as_secs(),
                "tasks still busy after the grace period: abandoned (their open work is rolled back)"
            );
            tasks.abort_all();
        }
        match reloaded {
            None => {
                tracing::info!("stopped");
                return Ok(());
            }
            Some((new_config, new_rules)) => {
                if new_config.db_path(None) != config.db_path(None) {
                    tracing::warn!(
                        "SIGHUP: the database path changed in the config; restart mailroom watch to use it"
                    );
                }
                config = new_config;
                rules = new_rules;
                tracing::info!(
                    rules = rules.rules.len(),
                    "SIGHUP: config and rules reloaded"
                );
            }
        }
    }
}

fn spawn_all(shared: &Shared) -> tokio::task::JoinSet<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for account in &shared.config.accounts {
        for folder in &account.folders {
            tasks.spawn(folder_task(shared.clone(), account.clone(), folder.clone()));
        }
    }
    for m in &shared.config.maildirs {
        tasks.spawn(local_task(shared.clone(), m.clone()));
    }
    for p in &shared.config.polls {
        tasks.spawn(crate::channel::poll::task(shared.clone(), p.clone()));
    }
    if !shared.config.pushes.is_empty() || shared.config.http.present {
        tasks.spawn(crate::web::serve(shared.clone()));
    }
    tasks.spawn(delivery_task(shared.clone()));
    tracing::info!(
        imap_folders = shared
            .config
            .accounts
            .iter()
            .map(|a| a.folders.len())
            .sum::<usize>(),
        local_folders = shared.config.maildirs.len(),
        registrar_apis = shared.config.polls.len(),
        "mailroom watch started"
    );
    tasks
}

/// `watch --once`: every source caught up once, then what is due delivered.
pub async fn once(config: Config, db: PathBuf, rules: RuleSet) -> anyhow::Result<OnceReport> {
    let (_stop_tx, stop_rx) = watch::channel(false);
    let mut shared = Shared {
        config: Arc::new(config),
        db,
        rules: Arc::new(rules),
        deliver: Arc::new(Notify::new()),
        shutdown: stop_rx,
        live: Arc::default(),
    };
    let _lock = WatchLock::acquire(&shared.db)?;
    let db: Db = Arc::new(std::sync::Mutex::new(Store::open(&shared.db)?));
    outbox::release_stale_claims(lock(&db).conn())?;
    let _checkpoints = store::Checkpointer::start(&lock(&db))?;
    let mut report = OnceReport::default();
    let mut total = Batch::default();
    let accounts = shared.config.accounts.clone();
    for account in &accounts {
        for folder in &account.folders {
            let mut delay = Duration::from_secs(1);
            match folder_session(&mut shared, &db, account, folder, true, &mut delay).await {
                Ok(b) => sum(&mut total, b),
                Err(e) => {
                    let _ =
                        cursors::failed(lock(&db).conn(), &account.name, folder, &e.to_string());
                    report.errors.push(e.to_string());
                }
            }
        }
    }
    drop(db);
    let mut store = Store::open(&shared.db)?;
    for m in shared.config.maildirs.clone() {
        match local_catch_up(&mut store, &shared, &m) {
            Ok(b) => sum(&mut total, b),
            Err(e) => {
                let _ = cursors::failed(store.conn(), &m.name, "", &e);
                report.errors.push(e);
            }
        }
    }
    let (polled, poll_errors) = crate::channel::poll::once(&shared, &mut store).await;
    sum(&mut total, polled);
    report.errors.extend(poll_errors);
    let deliverer = Deliverer::new(&shared.config, &store)?;
    let digests = digest::tick(&mut store, &shared.rules, clock::now())?;
    report.delivery = deliverer.run_due(&mut store).await?;
    report.delivery.digests = digests;
    report.messages = total.messages;
    report.events_new = total.events_new;
    report.duplicates = total.duplicates;
    report.quarantined = total.quarantined;
    Ok(report)
}
