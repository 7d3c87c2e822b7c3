//! End-to-end probes (`[gandi] probe`, `mailroom gandi test`): where the store stood
//! when a registrar was asked for a test message, whether that message has since been
//! stored through any channel, and the probe's own record (in `meta`, under
//! `probe/<registrar>/<name>`, so a restarted `watch` resumes its wait).

use super::db::{Sql, args};
use serde::{Deserialize, Serialize};

use super::Result;

/// Where the store stands: the newest place any message was found. A test message
/// stored later is found at a place above it, whichever channel brought it (the same
/// test event seen again is a new place of a known event).
pub fn mark(conn: &impl Sql) -> Result<i64> {
    conn.only(
        "SELECT COALESCE(MAX(id), 0) FROM message_sources",
        args![],
        |r| r.get(0),
    )
}

/// A test message found after a mark: when it was stored and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arrival {
    pub stored_at: String,
    pub source: String,
}

/// The first test message (`kind = test`) of `registrar` for notification `name` stored
/// at a place above `after` (see [`mark`]).
pub fn test_arrived(
    conn: &impl Sql,
    registrar: &str,
    name: &str,
    after: i64,
) -> Result<Option<Arrival>> {
    conn.row(
        "SELECT es.seen_at, ms.source FROM events e
             JOIN event_sources es ON es.event = e.id
             JOIN message_sources ms ON ms.id = es.source
             WHERE e.topic = 'test' AND e.kind = 'test' AND e.registrar = ?1 AND e.type = ?2
               AND es.source > ?3
             ORDER BY es.source LIMIT 1",
        args![registrar, name, after],
        |r| {
            Ok(Arrival {
                stored_at: r.get(0)?,
                source: r.get(1)?,
            })
        },
    )
}

/// How a probe run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Asked for; the test message is awaited.
    Waiting,
    Arrived,
    Missing,
}

/// The last probe run of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// When the registrar was asked (RFC 3339).
    pub sent: String,
    /// [`mark`] just before it was asked.
    pub mark: i64,
    pub state: State,
}

fn key(registrar: &str, name: &str) -> String {
    format!("probe/{registrar}/{name}")
}

/// The last run recorded for `name`, if any.
pub fn last_run(conn: &impl Sql, registrar: &str, name: &str) -> Result<Option<Run>> {
    let value: Option<String> = conn.row(
        "SELECT value FROM meta WHERE key = ?1",
        args![key(registrar, name)],
        |r| r.get(0),
    )?;
    Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
}

/// Records the run (replacing the one before).
pub fn record(conn: &impl Sql, registrar: &str, name: &str, run: &Run) -> Result<()> {
    conn.exec(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = ?2",
        args![
            key(registrar, name),
            serde_json::to_string(run).unwrap_or_default()
        ],
    )?;
    Ok(())
}
