//! Which instance works which source. Each source (an IMAP folder, a local folder, a
//! registrar poll) has one lease row: its holder renews it well inside the lease time;
//! when the holder dies or loses the database the row runs out and another instance
//! takes it. Rows, not session advisory locks: those break behind a pooler in
//! transaction mode and die silently with a connection. Times are the database's
//! (`pg::now_ms`), so instances whose clocks disagree still agree on who holds what.
//!
//! Beside the leases, each instance says it is alive (`instances`): a delivery claim
//! made by an instance that stopped saying so is taken over.

use serde::Serialize;

use super::Result;
use super::db::{Sql, args};
use super::pg::now_ms;

/// Takes the lease on `source` for `holder` for `lease_ms`, or renews it when `holder`
/// has it already; false while another holder's lease runs.
pub fn take(conn: &impl Sql, source: &str, holder: &str, lease_ms: i64) -> Result<bool> {
    let now = now_ms(conn)?;
    let changed = conn.exec(
        "INSERT INTO leases (source, holder, until, taken) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source) DO UPDATE SET
             taken = CASE WHEN leases.holder = excluded.holder THEN leases.taken ELSE excluded.taken END,
             holder = excluded.holder, until = excluded.until
         WHERE leases.holder = excluded.holder OR leases.until < ?4",
        args![source, holder, now + lease_ms, now],
    )?;
    Ok(changed > 0)
}

/// Who holds (or last held) `source`.
pub fn holder_of(conn: &impl Sql, source: &str) -> Result<Option<String>> {
    conn.row(
        "SELECT holder FROM leases WHERE source = ?1",
        args![source],
        |r| r.get(0),
    )
}

/// Takes `source` from `dead` (a holder known to be gone), whatever its lease says.
pub fn take_from(
    conn: &impl Sql,
    source: &str,
    dead: &str,
    holder: &str,
    lease_ms: i64,
) -> Result<bool> {
    let now = now_ms(conn)?;
    Ok(conn.exec(
        "UPDATE leases SET holder = ?3, until = ?4, taken = ?5 WHERE source = ?1 AND holder = ?2",
        args![source, dead, holder, now + lease_ms, now],
    )? == 1)
}

/// Whether `holder` still holds `source` (its lease has not run out).
pub fn holds(conn: &impl Sql, source: &str, holder: &str) -> Result<bool> {
    let now = now_ms(conn)?;
    Ok(conn
        .row(
            "SELECT 1 FROM leases WHERE source = ?1 AND holder = ?2 AND until >= ?3",
            args![source, holder, now],
            |_| Ok(()),
        )?
        .is_some())
}

/// Gives `source` up (a clean stop), so another instance need not wait for it to run out.
pub fn release(conn: &impl Sql, source: &str, holder: &str) -> Result<()> {
    conn.exec(
        "DELETE FROM leases WHERE source = ?1 AND holder = ?2",
        args![source, holder],
    )?;
    Ok(())
}

/// Gives up every lease of `holder`.
pub fn release_all(conn: &impl Sql, holder: &str) -> Result<()> {
    conn.exec("DELETE FROM leases WHERE holder = ?1", args![holder])?;
    Ok(())
}

/// One lease, for `mailroom status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Lease {
    pub source: String,
    pub holder: String,
    /// Milliseconds left (negative: ran out that long ago).
    pub left_ms: i64,
    /// Milliseconds since this holder took it.
    pub held_ms: i64,
}

pub fn all(conn: &impl Sql) -> Result<Vec<Lease>> {
    let now = now_ms(conn)?;
    conn.rows(
        "SELECT source, holder, until, taken FROM leases ORDER BY source",
        args![],
        |r| {
            Ok(Lease {
                source: r.get(0)?,
                holder: r.get(1)?,
                left_ms: r.get::<i64>(2)? - now,
                held_ms: now - r.get::<i64>(3)?,
            })
        },
    )
}

/// This instance says it is alive (at start and with every renewal).
pub fn alive(conn: &impl Sql, id: &str, host: &str, pid: u32) -> Result<()> {
    let now = now_ms(conn)?;
    conn.exec(
        "INSERT INTO instances (id, host, pid, started, seen) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (id) DO UPDATE SET seen = excluded.seen",
        args![id, host, pid, now],
    )?;
    Ok(())
}

/// A clean stop: the instance is gone at once.
pub fn gone(conn: &impl Sql, id: &str) -> Result<()> {
    conn.exec("DELETE FROM instances WHERE id = ?1", args![id])?;
    release_all(conn, id)
}

/// Milliseconds since instance `id` last said it was alive; None when it never did (or
/// stopped cleanly, which removes its row).
fn quiet_for(conn: &impl Sql, id: &str) -> Result<Option<i64>> {
    let now = now_ms(conn)?;
    Ok(conn
        .row("SELECT seen FROM instances WHERE id = ?1", args![id], |r| {
            r.get::<i64>(0)
        })?
        .map(|seen| now - seen))
}

/// Whether instance `id` said it was alive within `within_ms`.
pub fn is_alive(conn: &impl Sql, id: &str, within_ms: i64) -> Result<bool> {
    Ok(quiet_for(conn, id)?.is_some_and(|q| q <= within_ms))
}

/// Whether instance `id` said it was alive once but not within `within_ms`: an
/// instance that died (a clean stop removes its row; a process that never says it is
/// alive, such as `mailroom deliver`, has none, and its claims end with their lease).
pub fn is_quiet(conn: &impl Sql, id: &str, within_ms: i64) -> Result<bool> {
    Ok(quiet_for(conn, id)?.is_some_and(|q| q > within_ms))
}

/// An instance as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// Milliseconds since it last said it was alive.
    pub quiet_ms: i64,
}

pub fn instances(conn: &impl Sql) -> Result<Vec<Instance>> {
    let now = now_ms(conn)?;
    conn.rows(
        "SELECT id, host, pid, seen FROM instances ORDER BY host, pid",
        args![],
        |r| {
            Ok(Instance {
                id: r.get(0)?,
                host: r.get(1)?,
                pid: r.get(2)?,
                quiet_ms: now - r.get::<i64>(3)?,
            })
        },
    )
}
