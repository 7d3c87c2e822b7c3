//! Substring search over events — their domain, the subject of the message they came
//! in, and the registrar's words (status text, type, topic) — through an FTS5 trigram
//! index (schema 13), not a scan.
//!
//! The index is filled after the fact, in batches ([`catch_up`]: by `import` when it
//! ends and by `watch`'s delivery thread when it is idle), so storing an event never
//! waits for it. A search reads the index for what it covers and scans only the few
//! events stored since ([`matching_ids_sql`]), so it is complete at any moment.

use super::Result;
use super::db::{Dialect, Owned, Sql, args};

/// The shortest text searched: the index is made of three-character pieces.
pub const MIN_CHARS: usize = 3;

/// The highest event id the index covers.
pub fn indexed_up_to(conn: &impl Sql) -> Result<i64> {
    if conn.dialect() == Dialect::Postgres {
        return Ok(0);
    }
    conn.one(
        "SELECT COALESCE((SELECT last_id FROM search_state), 0)",
        args![],
    )
}

/// Indexes up to `batch` events stored since the last run, in one transaction of the
/// caller's connection. Returns how many were indexed (0: caught up).
/// (PostgreSQL has no such index: it searches by scanning.)
pub fn catch_up(conn: &impl Sql, batch: i64) -> Result<i64> {
    if conn.dialect() == Dialect::Postgres {
        return Ok(0);
    }
    let from = indexed_up_to(conn)?;
    let tx = conn.write()?;
    let n = tx.exec(
        "INSERT INTO event_search (rowid, domain, subject, words)
         SELECT e.id,
                COALESCE(e.domain, '') || ' ' || COALESCE(e.domains, ''),
                COALESCE(m.subject, ''),
                COALESCE(e.status_text, '') || ' ' || e.type || ' ' || e.topic
         FROM events e LEFT JOIN messages m ON m.id = e.message
         WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
        args![from, batch],
    )? as i64;
    if n > 0 {
        tx.exec(
            "INSERT INTO search_state (one, last_id)
             VALUES (1, (SELECT MAX(rowid) FROM event_search))
             ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id",
            args![],
        )?;
    }
    tx.commit()?;
    Ok(n)
}

/// Indexes everything not yet indexed (at the end of an import).
pub fn catch_up_all(conn: &impl Sql) -> Result<i64> {
    let mut total = 0;
    loop {
        let n = catch_up(conn, 20_000)?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// An FTS5 query for `text` as one substring: a quoted string (quotes doubled),
/// optionally limited to one column.
pub fn fts_query(text: &str, column: Option<&str>) -> String {
    let quoted = format!("\"{}\"", text.replace('"', "\"\""));
    match column {
        Some(c) => format!("{c} : {quoted}"),
        None => quoted,
    }
}

/// `id IN (…)` for events matching `text` (at least [`MIN_CHARS`]), with its
/// parameters: the index for what it covers, a scan of the events stored since.
/// PostgreSQL scans (case-insensitive `ILIKE`).
pub fn clause(d: Dialect, text: &str, column: Option<&str>) -> (String, Vec<Owned>) {
    let like = like_anywhere(text);
    let columns: &[&str] = match column {
        Some("domain") => &["e.domain", "e.domains"],
        Some("subject") => &["m.subject"],
        Some(_) => &["e.status_text", "e.type", "e.topic"],
        None => &[
            "e.domain",
            "e.domains",
            "m.subject",
            "e.status_text",
            "e.type",
            "e.topic",
        ],
    };
    let op = match d {
        Dialect::Sqlite => "LIKE",
        Dialect::Postgres => "ILIKE",
    };
    let scan: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} {op} ? ESCAPE '\\'"))
        .collect();
    if d == Dialect::Postgres {
        let sql = format!(
            "id IN (SELECT e.id FROM events e LEFT JOIN messages m ON m.id = e.message WHERE {})",
            scan.join(" OR ")
        );
        return (
            sql,
            columns.iter().map(|_| Owned::Text(like.clone())).collect(),
        );
    }
    let sql = format!(
        "id IN (SELECT rowid FROM event_search WHERE event_search MATCH ?
                UNION ALL
                SELECT e.id FROM events e LEFT JOIN messages m ON m.id = e.message
                WHERE e.id > COALESCE((SELECT last_id FROM search_state), 0) AND ({}))",
        scan.join(" OR ")
    );
    let mut args = vec![Owned::Text(fts_query(text, column))];
    args.extend(columns.iter().map(|_| Owned::Text(like.clone())));
    (sql, args)
}

/// A LIKE pattern for `text` anywhere (its `%`, `_` and `\` taken literally).
pub fn like_anywhere(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
