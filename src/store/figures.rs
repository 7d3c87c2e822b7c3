//! The counts `/metrics` shows, each read from an index rather than the tables' rows so
//! a scrape stays cheap at 100k events: events by registrar and topic, messages by
//! channel and result (kept up to date from the rows added since the last scrape),
//! quarantine, the outbox by state and deliveries by kind.

use std::collections::BTreeMap;

use super::Result;
use super::db::{Dialect, Sql, args};

/// Runs `read` on one snapshot of the database: the figures agree with each other.
pub fn snapshot<S: Sql, T>(conn: &S, read: impl FnOnce(&S) -> Result<T>) -> Result<T> {
    conn.batch(match conn.dialect() {
        Dialect::Sqlite => "BEGIN",
        Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    })?;
    let result = read(conn);
    let _ = conn.batch("COMMIT");
    result
}

/// Events stored and places seen, by registrar and topic, in that order: one pass over
/// the `events_tally` index.
pub fn events_by_topic(conn: &impl Sql) -> Result<Vec<(String, String, i64, i64)>> {
    let stmt_sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT registrar, topic, COUNT(*), SUM(seen_count) FROM events INDEXED BY events_tally
             GROUP BY registrar, topic ORDER BY registrar, topic"
        }
        Dialect::Postgres => {
            "SELECT registrar, topic, COUNT(*), CAST(SUM(seen_count) AS BIGINT) FROM events
             GROUP BY registrar, topic ORDER BY registrar, topic"
        }
    };
    let rows = conn.rows(stmt_sql, args![], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows)
}

/// Messages read by channel (`imap`, `maildir`, …, the source key's scheme) and result:
/// the message's status (`parsed`, `quarantined`) where it was first found, `known`
/// for every further place. Message sources are only ever added, so a tally is brought
/// up to date by counting the rows added since; a change in the quarantine (a message
/// read again and found) starts it over.
#[derive(Debug, Clone, Default)]
pub struct MessageTally {
    /// The last message source counted.
    upto: i64,
    /// How many messages are quarantined, and the sum of their ids.
    quarantine: (i64, f64),
    pub counts: BTreeMap<(String, String), i64>,
}

/// `previous` brought up to date (or counted afresh).
pub fn message_tally(conn: &impl Sql, previous: Option<MessageTally>) -> Result<MessageTally> {
    let upto: i64 = conn.only(
        "SELECT COALESCE(MAX(id), 0) FROM message_sources",
        args![],
        |r| r.get(0),
    )?;
    let quarantine: (i64, f64) = conn.only(
        "SELECT COUNT(*), CAST(COALESCE(SUM(id), 0) AS DOUBLE PRECISION) FROM messages WHERE status = 'quarantined'",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut tally = match previous {
        Some(p) if p.quarantine == quarantine && p.upto <= upto => p,
        _ => MessageTally::default(),
    };
    if tally.upto < upto {
        let find = match conn.dialect() {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        };
        let stmt_sql = &format!(
            "SELECT substr(s.source, 1, {find}(s.source || ':', ':') - 1),
                    CASE WHEN EXISTS (SELECT 1 FROM message_sources p
                                      WHERE p.message = s.message AND p.id < s.id)
                         THEN 'known' ELSE m.status END,
                    COUNT(*)
             FROM message_sources s JOIN messages m ON m.id = s.message
             WHERE s.id > ?1 AND s.id <= ?2
             GROUP BY 1, 2"
        );
        let rows = conn.rows(stmt_sql, args![tally.upto, upto], |r| {
            Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?))
        })?;
        for (channel, result, n) in rows {
            *tally.counts.entry((channel, result)).or_insert(0) += n;
        }
    }
    tally.upto = upto;
    tally.quarantine = quarantine;
    Ok(tally)
}

/// Messages in quarantine.
pub fn quarantined(conn: &impl Sql) -> Result<i64> {
    conn.only(
        "SELECT COUNT(*) FROM messages WHERE status = 'quarantined'",
        args![],
        |r| r.get(0),
    )
}

/// Outbox items by state.
pub fn outbox_states(conn: &impl Sql) -> Result<Vec<(String, i64)>> {
    let stmt_sql = "SELECT state, COUNT(*) FROM outbox GROUP BY state";
    let rows = conn.rows(stmt_sql, args![], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows)
}

/// Deliveries by kind (the outbox channel) and result: delivered, dead, retrying,
/// queued.
pub fn deliveries(conn: &impl Sql) -> Result<Vec<(String, String, i64)>> {
    let stmt_sql = "SELECT channel,
                CASE WHEN state = 'done' THEN 'delivered' WHEN state = 'dead' THEN 'dead'
                     WHEN attempts > 0 THEN 'retrying' ELSE 'queued' END,
                COUNT(*)
         FROM outbox GROUP BY 1, 2 ORDER BY 1, 2";
    let rows = conn.rows(stmt_sql, args![], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_brought_up_to_date_counts_what_a_fresh_one_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&dir.path().join("m.db")).unwrap();
        let conn = store.conn();
        let add = |id: i64, status: &str, sources: &[(i64, &str)]| {
            conn.exec("INSERT INTO messages (id, content_hash, size, status, first_seen) VALUES (?1, ?1, 1, ?2, 't')", args![id, status])
            .unwrap();
            for (sid, source) in sources {
                conn.exec("INSERT INTO message_sources (id, message, source, seen_at) VALUES (?1, ?2, ?3, 't')", args![sid, id, source])
                .unwrap();
            }
        };
        add(1, "parsed", &[(1, "imap:a/INBOX;uid=1"), (2, "mbox:/x#1")]);
        add(2, "quarantined", &[(3, "maildir:/m#2")]);
        let first = message_tally(conn, None).unwrap();
        add(3, "parsed", &[(4, "push:p#3"), (5, "imap:a/INBOX;uid=9")]);
        conn.exec("INSERT INTO message_sources (id, message, source, seen_at) VALUES (6, 1, 'stdin', 't')", args![])
        .unwrap();
        let updated = message_tally(conn, Some(first)).unwrap();
        let fresh = message_tally(conn, None).unwrap();
        assert_eq!(updated.counts, fresh.counts);
        let want: BTreeMap<(String, String), i64> = [
            ("imap", "parsed", 1),
            ("imap", "known", 1),
            ("mbox", "known", 1),
            ("maildir", "quarantined", 1),
            ("push", "parsed", 1),
            ("stdin", "known", 1),
        ]
        .into_iter()
        .map(|(c, r, n)| ((c.to_string(), r.to_string()), n))
        .collect();
        assert_eq!(fresh.counts, want);
        // A quarantined message read again and found: counted afresh.
        conn.exec(
            "UPDATE messages SET status = 'parsed' WHERE id = 2",
            args![],
        )
        .unwrap();
        let after = message_tally(conn, Some(updated)).unwrap();
        assert_eq!(
            after.counts.get(&("maildir".into(), "parsed".into())),
            Some(&1)
        );
        assert_eq!(
            after.counts.get(&("maildir".into(), "quarantined".into())),
            None
        );
    }
}
