//! Where each watched folder stands: UIDVALIDITY and last UID for IMAP, committed in the
//! transaction that stores the messages up to it; and the health of its last sync for
//! `mailroom status`.

use serde::Serialize;

use super::Result;
use super::db::{Sql, args};
use crate::clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

pub fn get(conn: &impl Sql, source: &str, folder: &str) -> Result<Option<Cursor>> {
    conn.row(
        "SELECT uidvalidity, last_uid FROM cursors WHERE source = ?1 AND folder = ?2 AND uidvalidity IS NOT NULL",
        args![source, folder],
        |r| {
            Ok(Cursor {
                uidvalidity: r.get(0)?,
                last_uid: r.get(1)?,
            })
        },
    )
}

/// Moves the cursor (inside the caller's transaction) and counts `read` messages.
pub fn set(conn: &impl Sql, source: &str, folder: &str, cursor: Cursor, read: u64) -> Result<()> {
    conn.exec(
        "INSERT INTO cursors (source, folder, uidvalidity, last_uid, messages) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source, folder) DO UPDATE SET uidvalidity = ?3, last_uid = ?4, messages = cursors.messages + ?5",
        args![source, folder, cursor.uidvalidity, cursor.last_uid, read as i64],
    )?;
    Ok(())
}

/// Records a finished sync (and clears the last error).
pub fn synced(conn: &impl Sql, source: &str, folder: &str) -> Result<()> {
    conn.exec(
        "INSERT INTO cursors (source, folder, last_sync) VALUES (?1, ?2, ?3)
         ON CONFLICT (source, folder) DO UPDATE SET last_sync = ?3, last_error = NULL, last_error_at = NULL",
        args![source, folder, clock::now_stamp()],
    )?;
    Ok(())
}

/// Counts `read` messages of a source without a cursor (a local folder).
pub fn read(conn: &impl Sql, source: &str, folder: &str, read: u64) -> Result<()> {
    conn.exec(
        "INSERT INTO cursors (source, folder, messages) VALUES (?1, ?2, ?3)
         ON CONFLICT (source, folder) DO UPDATE SET messages = cursors.messages + ?3",
        args![source, folder, read as i64],
    )?;
    Ok(())
}

pub fn failed(conn: &impl Sql, source: &str, folder: &str, error: &str) -> Result<()> {
    conn.exec(
        "INSERT INTO cursors (source, folder, last_error, last_error_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source, folder) DO UPDATE SET last_error = ?3, last_error_at = ?4",
        args![source, folder, error, clock::now_stamp()],
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

pub fn all(conn: &impl Sql) -> Result<Vec<FolderStatus>> {
    conn.rows(
        "SELECT source, folder, uidvalidity, last_uid, messages, last_sync, last_error, last_error_at
         FROM cursors ORDER BY source, folder",
        args![],
        |r| {
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
    },
    )
}

/// The sources already recorded that start with `prefix` (`maildir:/dir#`,
/// `file:/dir/`), without the prefix: one range scan, so a poll of a local folder reads
/// only new files.
pub fn known_under(conn: &impl Sql, prefix: &str) -> Result<std::collections::HashSet<String>> {
    // Every key starting with `prefix` sorts below `prefix` with its last byte raised.
    let mut upper = prefix.to_string();
    let last = upper.pop().map_or('\u{0}', |c| {
        char::from_u32(c as u32 + 1).unwrap_or(char::MAX)
    });
    upper.push(last);
    let rows: Vec<String> = conn.rows(
        "SELECT source FROM message_sources WHERE source >= ?1 AND source < ?2",
        args![prefix, upper],
        |r| r.get(0),
    )?;
    let mut out = std::collections::HashSet::new();
    for r in rows {
        if let Some(name) = r.strip_prefix(prefix) {
            out.insert(name.to_string());
        }
    }
    Ok(out)
}
