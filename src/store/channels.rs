//! Counters of the registrar API channels for `mailroom status`: the queue depth a
//! registrar last reported, messages acknowledged, push answers by status code. Kept in
//! the `meta` table under `channel/<source>/<key>` (no schema change needed).

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::Result;

fn key(source: &str, name: &str) -> String {
    format!("channel/{source}/{name}")
}

/// Sets a counter.
pub fn set(conn: &Connection, source: &str, name: &str, value: u64) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = ?2",
        params![key(source, name), value.to_string()],
    )?;
    Ok(())
}

/// Adds `n` to a counter.
pub fn add(conn: &Connection, source: &str, name: &str, n: u64) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ?2 AS TEXT)",
        params![key(source, name), n.to_string()],
    )?;
    Ok(())
}

/// Every channel's counters: source → counter → value.
pub fn all(conn: &Connection) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let mut stmt = conn.prepare(
        "SELECT key, value FROM meta WHERE key >= 'channel/' AND key < 'channel0' ORDER BY key",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for row in rows {
        let (k, v) = row?;
        let Some(rest) = k.strip_prefix("channel/") else {
            continue;
        };
        if let Some((source, name)) = rest.rsplit_once('/') {
            out.entry(source.to_string())
                .or_default()
                .insert(name.to_string(), v.parse().unwrap_or(0));
        }
    }
    Ok(out)
}
