//! The SQLite store (DESIGN §4): one file, WAL, schema migrated at open. Events are
//! stored once per `(registrar, event_id)`; messages once per content hash; every
//! place either was seen is recorded beside it.

pub mod channels;
pub mod cursors;
pub mod feed;
mod ingest;
pub mod outbox;
pub mod packed;
pub mod query;
pub mod raw;
mod schema;
pub mod views;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use ingest::{
    Found, Hash, Ingested, Later, NewEvent, Raw, Recorded, Reparsed, content_hash, event_key,
    hash_hex, ingest, is_known, over_limit, reparse,
};

/// Most events one message may hold by default (`[limits] max_events_per_message`):
/// registrars send up to 100 per poll reply; a message with more is quarantined.
pub const MAX_EVENTS_PER_MESSAGE: usize = 1000;

/// A store error: which file, what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "{path}: database schema version {found} is newer than this mailroom ({known}); upgrade mailroom"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    // Not a `source`: the message says it already, and `{:#}` would repeat it.
    #[error("{}: cannot create the database: {error}", path.display())]
    Create {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("no database at {} (run mailroom import or watch first, or pass --db)", path.display())]
    Missing { path: PathBuf },
    #[error("{} is not a mailroom database ({reason})", path.display())]
    NotMailroom { path: PathBuf, reason: String },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// A fault of the database file itself, as [`file_problem`] words it.
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// `e`, reworded to name the database file when it is a fault of the file itself.
pub fn named(e: StoreError, path: &Path) -> StoreError {
    match file_problem(&e, path) {
        Some(line) => StoreError::File(line),
        None => e,
    }
}

/// For an error that is about the database file itself (disk full, read-only, gone),
/// a line naming the file and what to do; None for other errors.
pub fn file_problem(e: &(dyn std::error::Error + 'static), path: &Path) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let sqlite = err.downcast_ref::<rusqlite::Error>().or_else(|| {
            match err.downcast_ref::<StoreError>() {
                Some(StoreError::Sql(e) | StoreError::Open { source: e, .. }) => Some(e),
                _ => None,
            }
        });
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = sqlite {
            let what = match f.code {
                rusqlite::ErrorCode::DiskFull => {
                    "the disk holding it is full: free space there (nothing was stored in the failed step; it is retried)"
                }
                rusqlite::ErrorCode::ReadOnly => {
                    "it is read-only: mailroom needs to write it and its -wal file (check the file's and the folder's permissions, or the mount)"
                }
                rusqlite::ErrorCode::CannotOpen => {
                    "it cannot be opened: check that its folder exists and is writable"
                }
                rusqlite::ErrorCode::SystemIoFailure => "the disk reported an I/O error",
                rusqlite::ErrorCode::PermissionDenied => "permission denied",
                _ => return None,
            };
            return Some(format!("database {}: {what}", path.display()));
        }
        cur = err.source();
    }
    None
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`. A new file is
    /// created readable by its owner only (0600), and so are its WAL and shared-memory
    /// files, which SQLite creates with the database file's mode: they hold raw mail.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        create_private(path).map_err(|error| StoreError::Create {
            path: path.to_path_buf(),
            error,
        })?;
        Store::open_with(path, OpenFlags::default())
    }

    /// Opens and migrates the database at `path` only if it exists: the read-only
    /// commands create no file and no folder.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        global_setup();
        let conn = Connection::open_with_flags(path, flags).map_err(|e| opening(path, e))?;
        // An empty file or another program's database: say so rather than turn it into
        // a mailroom database.
        let ours: bool = conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| opening(path, e))?;
        if !ours {
            return Err(StoreError::NotMailroom {
                path: path.to_path_buf(),
                reason: "it has no mailroom tables".into(),
            });
        }
        drop(conn);
        Store::open_with(path, flags)
    }

    /// Two programs opening a new file at the same moment (a service and a command, say)
    /// can find it locked while the other turns on WAL or creates the tables, where
    /// SQLite does not wait: they try again for a few seconds.
    fn open_with(path: &Path, flags: OpenFlags) -> Result<Store> {
        let mut tries = 0;
        loop {
            match Store::open_once(path, flags) {
                Err(e) if e.busy() && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                done => return done,
            }
        }
    }

    fn open_once(path: &Path, flags: OpenFlags) -> Result<Store> {
        let open_err = |source| opening(path, source);
        global_setup();
        let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        configure(&mut conn).map_err(open_err)?;
        packed::forget(Path::new(conn.path().unwrap_or_default()));
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate().map_err(|e| match e {
            StoreError::Sql(source) => opening(path, source),
            e => e,
        })?;
        Ok(store)
    }

    /// Copies the whole WAL into the database file (at the end of a bulk load, so the
    /// next program opening the file starts with a short WAL).
    pub fn checkpoint(&mut self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Trains the dictionary event payloads are compressed with once enough are stored
    /// (store/packed.rs), in a transaction of its own: call it between transactions.
    /// True when the database has one. A failure is logged, never fatal: payloads stay
    /// uncompressed and a later call tries again.
    pub fn train_payloads(&mut self) -> bool {
        match packed::train_if_due(&mut self.conn) {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(db = %self.path.display(), error = %e, "payload dictionary not made");
                false
            }
        }
    }

    /// A second connection that only reads (for a reader thread beside the writer).
    pub fn open_reader(path: &Path) -> Result<Connection> {
        global_setup();
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "cache_size", -16_000)?;
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// This database's own identity: made once, at random, and kept in it (a copy of
    /// the file keeps it too; a new database gets its own).
    pub fn instance_id(&self) -> Result<String> {
        let fresh = format!("{:016x}", fastrand::u64(..));
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('instance', ?1) ON CONFLICT DO NOTHING",
            [&fresh],
        )?;
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'instance'", [], |r| {
                r.get(0)
            })?)
    }

    /// The schema version of the open file.
    pub fn version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn migrate(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
        )?;
        let known = schema::MIGRATIONS.len() as i64;
        let found = self.version()?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        // Migration 10 computes each event's key in SQL.
        self.conn.create_scalar_function(
            "mailroom_event_key",
            2,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8
                | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                Ok(ingest::event_key(
                    &ctx.get::<String>(0)?,
                    &ctx.get::<String>(1)?,
                ))
            },
        )?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            // IMMEDIATE: one migrating program at a time. Another one opening the same
            // new file at the same moment may have applied this migration meanwhile.
            let tx = self.conn.transaction()?;
            let now: i64 = tx
                .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            if now > i as i64 {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.execute("DELETE FROM schema_version", [])?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [i as i64 + 1],
            )?;
            tx.commit()?;
        }
        Ok(())
    }
}

impl StoreError {
    /// SQLite found the database locked by another program.
    fn busy(&self) -> bool {
        let source = match self {
            StoreError::Open { source, .. } | StoreError::Sql(source) => source,
            _ => return false,
        };
        matches!(source, rusqlite::Error::SqliteFailure(e, _)
            if e.code == rusqlite::ErrorCode::DatabaseBusy
                || e.code == rusqlite::ErrorCode::DatabaseLocked)
    }
}

/// The error for a file SQLite could not open or read: one line naming the file, with
/// SQLite's reason in words (never its error code).
fn opening(path: &Path, source: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match &source {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::NotMailroom {
                path,
                reason: "file is not a database".into(),
            }
        }
        _ => StoreError::Open { path, source },
    }
}

/// Creates `path` empty with mode 0600 unless it exists.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// How long a writer waits for another to finish before reporting the database busy.
/// Every writer takes the lock up front (below), so waiting is always safe: a big
/// `import` chunk or a `watch` batch beside it delays the other, never fails it.
/// SQLite keeps allocation statistics under one process-wide mutex by default, taken on
/// every allocation: with a reader and a writer connection in one process (import,
/// watch) the two threads then queue on it. mailroom reads none of those statistics.
fn global_setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: called once, before any connection is opened by this module (a later
        // call after SQLite initialised itself only returns SQLITE_MISUSE, harmless).
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
        }
    });
}

pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // 8 KiB pages for a new file (an existing one keeps its own): shallower B-trees and
    // fewer page splits; imports run about 6 % faster, the file is no larger.
    conn.pragma_update(None, "page_size", 8192)?;
    // Transactions take the write lock when they begin (BEGIN IMMEDIATE). A deferred
    // transaction that reads first and writes later cannot wait for the lock when
    // another connection wrote in between (SQLITE_BUSY at once, "database is locked"),
    // which is what two folders, or `import` beside `watch`, would otherwise hit.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    // WAL with a full sync at each commit: a committed transaction survives a crash of
    // the program and of the machine. Writers commit in batches to keep this cheap.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // References are declared for readers of the schema; the ingest code keeps them,
    // and checking them on every insert would cost a lookup each.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // The page cache: 24 MB. Imports of 100k and 500k messages ran no faster with 32 or
    // 48 MB (what a big import misses is spread over the whole file) and took more memory.
    conn.pragma_update(None, "cache_size", -24_000)?;
    // Where a `Checkpointer` runs (watch, import), commits never copy the WAL into the
    // database themselves: that stalls the committing thread for hundreds of ms.
    // Elsewhere checkpoint the WAL every ~64 MB rather than every 4 MB: hot index pages
    // are then copied into the database file once per checkpoint instead of many times.
    let auto = if checkpointer_running() { 0 } else { 16_000 };
    conn.pragma_update(None, "wal_autocheckpoint", auto)?;
    Ok(())
}

static CHECKPOINTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn checkpointer_running() -> bool {
    CHECKPOINTERS.load(std::sync::atomic::Ordering::SeqCst) > 0
}

/// Copies the WAL into the database file on a thread of its own (PASSIVE checkpoints:
/// they never block a writer or a reader), so no commit on the intake path waits for
/// one. Stopped when dropped.
pub struct Checkpointer {
    state: std::sync::Arc<(std::sync::Mutex<CheckpointState>, std::sync::Condvar)>,
    /// Held while a checkpoint runs (the thread's, or a writer's `catch_up`).
    running: std::sync::Arc<std::sync::Mutex<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct CheckpointState {
    poked: bool,
    /// A writer waits for this poke's commit to be copied (`Checkpointer::hurry`): no gap.
    hurried: bool,
    stop: bool,
    /// Commits said so far (`poke`), and how many of them the thread has copied whole.
    pokes: u64,
    copied: u64,
}

/// Checkpoints run after commits, at most one per `CHECKPOINT_GAP`, and at least every
/// `CHECKPOINT_EVERY`.
const CHECKPOINT_GAP: std::time::Duration = std::time::Duration::from_secs(1);
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Checkpointer {
    /// Starts checkpointing `store`'s database; `store` and every connection opened
    /// from now on leave checkpoints to it.
    pub fn start(store: &Store) -> Result<Checkpointer> {
        let path = store.path();
        store.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let conn = Connection::open_with_flags(path, OpenFlags::default()).map_err(|source| {
            StoreError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        CHECKPOINTERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let state = std::sync::Arc::new((
            std::sync::Mutex::new(CheckpointState::default()),
            std::sync::Condvar::new(),
        ));
        let theirs = std::sync::Arc::clone(&state);
        let running = std::sync::Arc::new(std::sync::Mutex::new(()));
        let their_running = std::sync::Arc::clone(&running);
        let thread = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &theirs, &their_running))
            .map_err(|e| StoreError::File(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            state,
            running,
            thread: Some(thread),
        })
    }

    /// For a writer that never pauses (`import`): the WAL restarts from its beginning
    /// only when a write transaction begins with every frame copied, which the
    /// checkpoint thread, always a commit behind, never sees; a WAL of gigabytes makes
    /// every page lookup slower. So now and then a writer waits for the thread to copy
    /// a big commit (`hurry`, then `copied`) while it goes on working, commits the
    /// little it did meanwhile, and copies that on its own connection with this, so the
    /// next transaction starts the WAL afresh. (Copying the big commit here instead
    /// stalled the writer for a third of a second each time.)
    pub fn catch_up(&self, conn: &Connection) {
        // After the thread's checkpoint (a busy checkpoint lock would make this one
        // do nothing), so only what was committed since is left to copy.
        let _running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }

    /// Says a commit happened: a checkpoint follows within a second. Returns the
    /// commit's number, for `copied`.
    pub fn poke(&self) -> u64 {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        s.poked = true;
        s.pokes += 1;
        cvar.notify_one();
        s.pokes
    }

    /// Asks the thread to copy what is committed now, without its usual gap.
    pub fn hurry(&self) {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        s.poked = true;
        s.hurried = true;
        cvar.notify_one();
    }

    /// True once the thread has copied into the database everything committed up to
    /// commit `poke` (the number `poke` returned).
    pub fn copied(&self, poke: u64) -> bool {
        let (lock, _) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).copied >= poke
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        {
            let (lock, cvar) = &*self.state;
            lock.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
            cvar.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        CHECKPOINTERS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn checkpoint_loop(
    conn: &Connection,
    state: &(std::sync::Mutex<CheckpointState>, std::sync::Condvar),
    running: &std::sync::Mutex<()>,
) {
    let (lock, cvar) = state;
    let mut last = std::time::Instant::now();
    let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if s.stop {
            return;
        }
        // At most one checkpoint a second after commits (each copies a hot page once,
        // however many commits wrote it since the last), and one every few seconds.
        let since = last.elapsed();
        let due = if s.hurried {
            std::time::Duration::ZERO
        } else if s.poked {
            CHECKPOINT_GAP.saturating_sub(since)
        } else {
            CHECKPOINT_EVERY.saturating_sub(since)
        };
        if !due.is_zero() {
            s = cvar
                .wait_timeout(s, due)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        s.poked = false;
        s.hurried = false;
        let upto = s.pokes;
        drop(s);
        let whole = {
            let _running = running.lock().unwrap_or_else(|e| e.into_inner());
            // (busy, frames in the WAL, frames copied): whole when nothing is left.
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok(r.get::<_, i64>(0)? == 0 && r.get::<_, i64>(1)? == r.get::<_, i64>(2)?)
            })
            .unwrap_or(false)
        };
        last = std::time::Instant::now();
        s = lock.lock().unwrap_or_else(|e| e.into_inner());
        if whole {
            s.copied = s.copied.max(upto);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_reopens_at_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as i64);
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_version_6_file_keeps_its_messages_known_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            // A file as schema 6 left it: hex hashes, raw bytes in raw_messages.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (6);")
                .unwrap();
            for sql in &schema::MIGRATIONS[..6] {
                conn.execute_batch(sql).unwrap();
            }
            let raw = b"Subject: old\r\n\r\nbody".as_slice();
            conn.execute(
                "INSERT INTO messages (id, content_hash, size, status, first_seen, last_seen)
                 VALUES (1, ?1, ?2, 'quarantined', 'x', 'x')",
                rusqlite::params![crate::store::hash_hex(&content_hash(raw)), raw.len()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO raw_messages (message, complete, raw) VALUES (1, 1, ?1)",
                [raw],
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as i64);
        let raw = b"Subject: old\r\n\r\nbody".as_slice();
        assert!(is_known(s.conn(), &content_hash(raw)).unwrap());
        assert_eq!(
            query::raw_message(s.conn(), 1).unwrap(),
            Some((raw.to_vec(), true))
        );
    }

    #[test]
    fn a_version_8_file_keeps_its_messages_and_events_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let raw = b"Subject: old\r\n\r\nbody".as_slice();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (8);")
                .unwrap();
            for sql in &schema::MIGRATIONS[..8] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute(
                "INSERT INTO messages (id, content_hash, size, status, first_seen, last_seen)
                 VALUES (1, ?1, ?2, 'parsed', '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')",
                rusqlite::params![content_hash(raw), raw.len()],
            )
            .unwrap();
            conn.execute_batch(
                "INSERT INTO events (registrar, event_id, kind, object, type, topic, domain, domains,
                                     format, data, message, seen_count, first_seen, last_seen)
                 VALUES ('opensrs', 'a', 'event', 'domain', 'RENEWED', 'domain.renewed', 'x.de',
                         '[\"x.de\"]', 'json', '{\"k\":1}', 1, 2, '2026-01-01T00:00:00Z',
                         '2026-02-01T00:00:00Z'),
                        ('opensrs', 'b', 'event', 'domain', 'RENEWED', 'domain.renewed', 'x.de',
                         '[\"x.de\",\"y.de\"]', 'json', '{}', 1, 1, '2026-01-01T00:00:00Z',
                         '2026-01-01T00:00:00Z');",
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as i64);
        assert!(is_known(s.conn(), &content_hash(raw)).unwrap());
        assert!(!is_known(s.conn(), &content_hash(b"other")).unwrap());
        let m = views::message(s.conn(), 1).unwrap().unwrap();
        assert_eq!(m.last_seen, "2026-02-01T00:00:00Z");
        let a = query::event_detail(s.conn(), "opensrs:a")
            .unwrap()
            .unwrap()
            .stored;
        assert_eq!(a.event.domains, ["x.de"]);
        assert_eq!(a.event.data, serde_json::json!({"k": 1}));
        assert_eq!(
            (a.seen_count, a.last_seen.as_str()),
            (2, "2026-02-01T00:00:00Z")
        );
        let b = query::event_detail(s.conn(), "opensrs:b")
            .unwrap()
            .unwrap()
            .stored;
        assert_eq!(b.event.domains, ["x.de", "y.de"]);
        assert_eq!(b.last_seen, "2026-01-01T00:00:00Z");
        let stored: Option<String> = s
            .conn
            .query_row("SELECT domains FROM events WHERE event_id = 'a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored, None, "[domain] alone is not stored again");
    }

    #[test]
    fn a_version_9_file_finds_its_events_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (9);")
                .unwrap();
            for sql in &schema::MIGRATIONS[..9] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute_batch(
                "INSERT INTO messages (id, content_hash, size, status, first_seen)
                 VALUES (1, x'00', 1, 'parsed', 'x');
                 INSERT INTO events (registrar, event_id, kind, object, type, topic, format, data,
                                     message, seen_count, first_seen)
                 VALUES ('opensrs', 'a', 'event', 'domain', 'RENEWED', 'domain.renewed', 'json',
                         '{}', 1, 3, 'x'),
                        ('gandi', 'a', 'event', 'domain', 'RENEWED', 'domain.renewed', 'json',
                         '{}', 1, 1, 'x');",
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let keys: Vec<(String, i64)> = s
            .conn
            .prepare("SELECT registrar, event_key FROM events ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            keys,
            [
                ("opensrs".to_string(), event_key("opensrs", "a")),
                ("gandi".to_string(), event_key("gandi", "a"))
            ]
        );
        assert_ne!(keys[0].1, keys[1].1);
        let indexes: Vec<String> = s
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(indexes, ["events_domain", "events_key", "events_topic"]);
        let a = query::event_detail(s.conn(), "opensrs:a")
            .unwrap()
            .unwrap()
            .stored;
        assert_eq!((a.id, a.seen_count), (1, 3));
        let g = query::event_detail(s.conn(), "gandi:a").unwrap().unwrap();
        assert_eq!(g.stored.id, 2);
        // A bare id names the first event stored with it.
        let bare = query::event_detail(s.conn(), "a").unwrap().unwrap();
        assert_eq!(bare.stored.id, 1);
        assert!(query::event_detail(s.conn(), "b").unwrap().is_none());
    }

    #[test]
    fn a_hurried_checkpoint_copies_the_commit_and_the_wal_then_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut s = Store::open(&path).unwrap();
        let checkpoints = Checkpointer::start(&s).unwrap();
        let write = |s: &mut Store, n: i64| {
            let tx = s.conn_mut().transaction().unwrap();
            for i in 0..n {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, zeroblob(4000))",
                    [format!("k{n}-{i}")],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        };
        write(&mut s, 500);
        let poke = checkpoints.poke();
        assert!(!checkpoints.copied(poke + 1), "a commit not yet said");
        checkpoints.hurry();
        // Without the usual gap: well within a second.
        let started = std::time::Instant::now();
        while !checkpoints.copied(poke) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "the thread never copied commit {poke}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let wal = dir.path().join("m.db-wal");
        let before = std::fs::metadata(&wal).unwrap().len();
        assert!(before > 500 * 4000, "the WAL held the commit: {before}");
        // The little committed since is copied by the writer itself, and the next
        // transaction writes the WAL from its beginning.
        write(&mut s, 50);
        checkpoints.catch_up(s.conn());
        write(&mut s, 1);
        let frames: i64 = s
            .conn()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap();
        assert!(
            frames < 10,
            "the WAL did not start afresh: {frames} frames after one small commit"
        );
    }

    #[test]
    fn a_new_database_and_its_wal_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let s = Store::open(&path).unwrap();
        s.conn
            .execute("INSERT INTO schema_version (version) VALUES (0)", [])
            .unwrap();
        for name in ["m.db", "m.db-wal", "m.db-shm"] {
            let meta = std::fs::metadata(dir.path().join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn open_existing_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("m.db");
        let e = Store::open_existing(&path).err().unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "no database at {} (run mailroom import or watch first, or pass --db)",
                path.display()
            )
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(Store::open(&path).unwrap());
        assert!(Store::open_existing(&path).is_ok());
    }

    #[test]
    fn a_text_file_is_not_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "hello\n".repeat(100)).unwrap();
        for e in [
            Store::open(&path).err().unwrap(),
            Store::open_existing(&path).err().unwrap(),
        ] {
            assert_eq!(
                e.to_string(),
                format!(
                    "{} is not a mailroom database (file is not a database)",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let s = Store::open(&path).unwrap();
        s.conn
            .execute("UPDATE schema_version SET version = 999", [])
            .unwrap();
        drop(s);
        let e = Store::open(&path).err().unwrap();
        assert!(e.to_string().contains("newer than this mailroom"), "{e}");
    }
}
