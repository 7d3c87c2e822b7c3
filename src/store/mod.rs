//! The SQLite store (DESIGN §4): one file, WAL, schema migrated at open. Events are
//! stored once per `(registrar, event_id)`; messages once per content hash; every
//! place either was seen is recorded beside it.

pub mod cursors;
mod ingest;
pub mod outbox;
pub mod query;
mod schema;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use ingest::{
    Ingested, Limits, MAX_EVENTS_PER_MESSAGE, NewEvent, Prepared, Reparsed, content_hash, ingest,
    ingest_with, is_known, prepare, reparse,
};

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
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// A second connection that only reads (for a reader thread beside the writer).
    pub fn open_reader(path: &Path) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
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
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction()?;
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

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    // WAL with a full sync at each commit: a committed transaction survives a crash of
    // the program and of the machine. Writers commit in batches to keep this cheap.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // References are declared for readers of the schema; the ingest code keeps them,
    // and checking them on every insert would cost a lookup each.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // A page cache large enough for the indexes of a big import (memory stays bounded).
    conn.pragma_update(None, "cache_size", -32_000)?;
    // Checkpoint the WAL every ~64 MB rather than every 4 MB: hot index pages are then
    // copied into the database file once per checkpoint instead of many times.
    conn.pragma_update(None, "wal_autocheckpoint", 16_000)?;
    Ok(())
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
