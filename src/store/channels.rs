//! Counters of the registrar API channels for `mailroom status`: the queue depth a
//! registrar last reported, messages acknowledged, push answers by status code. Kept in
//! the `meta` table under `channel/<source>/<key>` (no schema change needed).

use std::collections::BTreeMap;

use super::db::{Sql, args};

use super::Result;

fn key(source: &str, name: &str) -> String {
    format!("channel/{source}/{name}")
}

/// Sets a counter.
pub fn set(conn: &impl Sql, source: &str, name: &str, value: u64) -> Result<()> {
    conn.exec(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = ?2",
        args![key(source, name), value.to_string()],
    )?;
    Ok(())
}

/// Adds `n` to a counter.
pub fn add(conn: &impl Sql, source: &str, name: &str, n: u64) -> Result<()> {
    conn.exec(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + ?2 AS TEXT)",
        args![key(source, name), n.to_string()],
    )?;
    Ok(())
}

/// Every channel's counters: source → counter → value.
pub fn all(conn: &impl Sql) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let stmt_sql =
        "SELECT key, value FROM meta WHERE key >= 'channel/' AND key < 'channel0' ORDER BY key";
    let rows = conn.rows(stmt_sql, args![], |r| {
        Ok((r.get::<String>(0)?, r.get::<String>(1)?))
    })?;
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (k, v) in rows {
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
