//! The SQLite store (DESIGN §4): one file, WAL, schema migrated at open. Events are
//! stored once per `(registrar, event_id)`; messages once per content hash; every
//! place either was seen is recorded beside it.

pub mod alerts;
pub mod bulk;
pub mod channels;
mod checkpoint;
pub mod cursors;
pub mod db;
pub mod digests;
pub mod feed;
pub mod figures;
mod ingest;
pub mod leases;
pub mod listing;
pub mod outbox;
pub mod packed;
pub mod pg;
pub mod probes;
pub mod query;
pub mod raw;
mod schema;
pub mod search;
mod sqlite_alloc;
pub mod to_postgres;
pub mod views;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use db::Sql;

pub use checkpoint::Checkpointer;
use checkpoint::checkpointer_running;
pub use ingest::{
    Found, Hash, Ingested, Later, NewEvent, Raw, Recorded, Reparsed, content_hash, event_key,
    hash_hex, ingest, is_known, over_limit, reparse,
};

/// Bytes SQLite holds in this process (the page caches of every connection, each bounded
/// by its `cache_size`, and its other allocations), so that memory that is a cache filling
/// can be told from memory that leaks. SQLite counts them only when asked at start
/// (`MAILROOM_SQLITE_STATISTICS=1`, see [`global_setup`]): the count costs a process-wide
/// mutex on every allocation. None otherwise.
pub fn sqlite_memory_bytes() -> Option<f64> {
    if !sqlite_statistics() {
        return None;
    }
    // SAFETY: sqlite3_memory_used reads a counter; SQLite is built thread-safe (the
    // bundled default) and may be asked at any time, with or without connections.
    Some((unsafe { rusqlite::ffi::sqlite3_memory_used() }) as f64)
}

/// Whether SQLite keeps its memory statistics in this process.
fn sqlite_statistics() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("MAILROOM_SQLITE_STATISTICS").is_ok_and(|v| v == "1"))
}

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
    /// PostgreSQL's own words (its message, detail and hint), never its debug text.
    #[error("PostgreSQL: {}", to_postgres::pg_reason(.0))]
    Pg(postgres::Error),
    /// A value that is not what its column should hold.
    #[error("the database returned {0}")]
    Column(String),
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

/// The store: an SQLite file, or a PostgreSQL database several instances share.
pub struct Store {
    db: db::Db,
    /// The file, or the PostgreSQL URL without its password: what messages name.
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`. A new file is
    /// created readable by its owner only (0600), and so are its WAL and shared-memory
    /// files, which SQLite creates with the database file's mode: they hold raw mail.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(url) = pg_url(path) {
            return Store::open_pg(&pg::target(url));
        }
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
        if let Some(url) = pg_url(path) {
            return Store::open_pg(&pg::target(url));
        }
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
            db: db::Db::Lite(conn),
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
        if let Some(conn) = self.db.lite() {
            conn.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Trains the dictionary event payloads are compressed with once enough are stored
    /// (store/packed.rs), in a transaction of its own: call it between transactions.
    /// True when the database has one. A failure is logged, never fatal: payloads stay
    /// uncompressed and a later call tries again.
    pub fn train_payloads(&mut self) -> bool {
        match packed::train_if_due(&self.db) {
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

    /// A connection for reading beside the writer: SQLite's read-only connection to the
    /// file, or a PostgreSQL connection from the idle ones (given back when dropped).
    pub fn reader(path: &Path) -> Result<Reader> {
        Ok(match pg_url(path) {
            Some(url) => Reader {
                db: Some(db::Db::Pg(Box::new(
                    pg::take_reader(url).map_err(StoreError::File)?,
                ))),
                url: Some(url.to_string()),
            },
            None => Reader {
                db: Some(db::Db::Lite(Store::open_reader(path)?)),
                url: None,
            },
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A store several instances share (PostgreSQL): sources are leased, claims are
    /// judged by the instances' heartbeats.
    pub fn is_shared(&self) -> bool {
        matches!(self.db, db::Db::Pg(_))
    }

    /// The connection is gone (PostgreSQL restarted, the network dropped it): open a
    /// new store in its place.
    pub fn is_broken(&self) -> bool {
        matches!(&self.db, db::Db::Pg(p) if p.is_closed())
    }

    /// The store's connection, for the store's functions (`&impl Sql`).
    pub fn db(&self) -> &db::Db {
        &self.db
    }

    /// The SQLite connection of an SQLite store.
    pub fn conn(&self) -> &Connection {
        match &self.db {
            db::Db::Lite(c) => c,
            db::Db::Pg(_) => unreachable!("an SQLite-only path reached a PostgreSQL store"),
        }
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        match &mut self.db {
            db::Db::Lite(c) => c,
            db::Db::Pg(_) => unreachable!("an SQLite-only path reached a PostgreSQL store"),
        }
    }

    /// Connects to the PostgreSQL store `target` and brings its schema up to date.
    pub fn open_pg(target: &pg::Target) -> Result<Store> {
        let conn = pg::open(target).map_err(StoreError::File)?;
        Ok(Store {
            db: db::Db::Pg(Box::new(conn)),
            path: PathBuf::from(target.shown()),
        })
    }

    /// This database's own identity: made once, at random, and kept in it (a copy of
    /// the file keeps it too; a new database gets its own).
    pub fn instance_id(&self) -> Result<String> {
        let fresh = format!("{:016x}", fastrand::u64(..));
        self.db.exec(
            "INSERT INTO meta (key, value) VALUES ('instance', ?1) ON CONFLICT DO NOTHING",
            db::args![fresh],
        )?;
        self.db
            .one("SELECT value FROM meta WHERE key = 'instance'", db::args![])
    }

    /// The schema version of the open file.
    pub fn version(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn migrate(&mut self) -> Result<()> {
        self.conn().execute_batch(
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
        self.conn().create_scalar_function(
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
            let tx = self.conn_mut().transaction()?;
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

/// The PostgreSQL URL given where a database file is expected (`db = "postgres://…"`).
pub fn pg_url(path: &Path) -> Option<&str> {
    path.to_str().filter(|p| pg::is_url(p))
}

/// A reading connection ([`Store::reader`]): derefs to the store's connection.
pub struct Reader {
    db: Option<db::Db>,
    url: Option<String>,
}

impl std::ops::Deref for Reader {
    type Target = db::Db;
    fn deref(&self) -> &db::Db {
        self.db
            .as_ref()
            .expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let (Some(db::Db::Pg(pg)), Some(url)) = (self.db.take(), &self.url) {
            pg::give_back(url, *pg);
        }
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
/// watch) the two threads then queue on it. mailroom reads them only for the soak
/// (`MAILROOM_SQLITE_STATISTICS=1`: [`sqlite_memory_bytes`] on `/metrics`).
fn global_setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        sqlite_alloc::install();
        if sqlite_statistics() {
            return;
        }
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

#[cfg(test)]
mod tests;
