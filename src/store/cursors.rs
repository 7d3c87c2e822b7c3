//! Where each watched folder stands: UIDVALIDITY and last UID for IMAP, committed in the
//! transaction that stores the messages up to it; and the health of its last sync for
//! `mailroom status`.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::Result;
use crate::clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

pub fn get(conn: &Connection, source: &str, folder: &str) -> Result<Option<Cursor>> {
    Ok(conn
        .query_row(
            "SELECT uidvalidity, last_uid FROM cursors WHERE source = ?1 AND folder = ?2 AND uidvalidity IS NOT NULL",
            params![source, folder],
            |r| {
                Ok(Cursor {
                    uidvalidity: r.get(0)?,
                    last_uid: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Moves the cursor (inside the caller's transaction) and counts `read` messages.
pub fn set(conn: &Connection, source: &str, folder: &str, cursor: Cursor, read: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO cursors (source, folder, uidvalidity, last_uid, messages) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source, folder) DO UPDATE SET uidvalidity = ?3, last_uid = ?4, messages = messages + ?5",
    )?
    .execute(params![source, folder, cursor.uidvalidity, cursor.last_uid, read as i64])?;
    Ok(())
}

/// Records a finished sync (and clears the last error).
pub fn synced(conn: &Connection, source: &str, folder: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO cursors (source, folder, last_sync) VALUES (?1, ?2, ?3)
         ON CONFLICT (source, folder) DO UPDATE SET last_sync = ?3, last_error = NULL, last_error_at = NULL",
        params![source, folder, clock::now_stamp()],
    )?;
    Ok(())
}

/// Counts `read` messages of a source without a cursor (a local folder).
pub fn read(conn: &Connection, source: &str, folder: &str, read: u64) -> Result<()> {
    conn.execute(
        "INSERT INTO cursors (source, folder, messages) VALUES (?1, ?2, ?3)
         ON CONFLICT (source, folder) DO UPDATE SET messages = messages + ?3",
        params![source, folder, read as i64],
    )?;
    Ok(())
}

pub fn failed(conn: &Connection, source: &str, folder: &str, error: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO cursors (source, folder, last_error, last_error_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source, folder) DO UPDATE SET last_error = ?3, last_error_at = ?4",
        params![source, folder, error, clock::now_stamp()],
    )?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderStatus {
    pub source: String,
    pub folder: String,
    pub uidvalidity: Option<u32>,
    pub last_uid: u32,
    pub messages: i64,
    pub last_sync: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

pub fn all(conn: &Connection) -> Result<Vec<FolderStatus>> {
    let mut stmt = conn.prepare(
        "SELECT source, folder, uidvalidity, last_uid, messages, last_sync, last_error, last_error_at
         FROM cursors ORDER BY source, folder",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(FolderStatus {
            source: r.get(0)?,
            folder: r.get(1)?,
            uidvalidity: r.get(2)?,
            last_uid: r.get(3)?,
            messages: r.get(4)?,
            last_sync: r.get(5)?,
            last_error: r.get(6)?,
            last_error_at: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The sources already recorded that start with `prefix` (`maildir:/dir#`,
/// `file:/dir/`), without the prefix: one range scan, so a poll of a local folder reads
/// only new files.
pub fn known_under(conn: &Connection, prefix: &str) -> Result<std::collections::HashSet<String>> {
    // Every key starting with `prefix` sorts below `prefix` with its last byte raised.
    let mut upper = prefix.to_string();
    let last = upper.pop().map_or('\u{0}', |c| {
        char::from_u32(c as u32 + 1).unwrap_or(char::MAX)
    });
    upper.push(last);
    let mut stmt =
        conn.prepare("SELECT source FROM message_sources WHERE source >= ?1 AND source < ?2")?;
    let rows = stmt.query_map(params![prefix, upper], |r| r.get::<_, String>(0))?;
    let mut out = std::collections::HashSet::new();
    for r in rows {
        if let Some(name) = r?.strip_prefix(prefix) {
            out.insert(name.to_string());
        }
    }
    Ok(out)
}
