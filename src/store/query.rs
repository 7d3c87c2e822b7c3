//! Reading the store: events with filters, counts per registrar and topic, one event with
//! every place it was seen, and the quarantine.

use serde::Serialize;

use super::db::{Dialect, Owned, Row, Sql, arg_list, args};
use super::{Result, StoreError};
use crate::event::{Event, Format, Kind, Registrar};

/// Filters of `mailroom events`; all optional, combined with AND. Text matches are
/// case-insensitive; `since`/`until` compare the time the event happened (or, when the
/// payload gives none, when it was first seen) as RFC 3339 UTC.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub registrar: Option<String>,
    pub topic: Option<String>,
    pub event_type: Option<String>,
    /// The domain is any of these names (the spellings of one name: Unicode and
    /// punycode), or, with `domain_suffix`, ends with any of them (`.de`).
    pub domain: Vec<String>,
    pub domain_suffix: bool,
    pub status: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u64>,
    /// Substring of the domain, the message's subject or the registrar's words (at
    /// least three characters; see `store::search`).
    pub search: Option<String>,
}

impl EventFilter {
    pub(super) fn where_clause(&self, d: Dialect) -> (String, Vec<Owned>) {
        let mut clauses = Vec::new();
        let mut args: Vec<Owned> = Vec::new();
        // Case-insensitive equality: SQLite's NOCASE keeps its indexes usable.
        let nocase = |col: &str| match d {
            Dialect::Sqlite => format!("{col} = ? COLLATE NOCASE"),
            Dialect::Postgres => format!("lower({col}) = lower(?)"),
        };
        let mut eq = |col: &str, v: &Option<String>| {
            if let Some(v) = v {
                clauses.push(nocase(col));
                args.push(Owned::Text(v.clone()));
            }
        };
        eq("registrar", &self.registrar);
        eq("type", &self.event_type);
        eq("status", &self.status);
        if !self.domain.is_empty() {
            let one = match (self.domain_suffix, d) {
                // Compared by characters, not LIKE: a name may hold `_`.
                (true, Dialect::Sqlite) => {
                    "lower(substr(domain, -length(?))) = lower(?)".to_string()
                }
                (true, Dialect::Postgres) => {
                    "lower(right(domain, length(?))) = lower(?)".to_string()
                }
                (false, _) => nocase("domain"),
            };
            let any: Vec<&str> = self.domain.iter().map(|_| one.as_str()).collect();
            clauses.push(format!("({})", any.join(" OR ")));
            for name in &self.domain {
                args.push(Owned::Text(name.clone()));
                if self.domain_suffix {
                    args.push(Owned::Text(name.clone()));
                }
            }
        }
        if let Some(t) = &self.topic {
            // `transfer` matches transfer.in and transfer.out.
            clauses.push(match d {
                Dialect::Sqlite => "(topic = ? COLLATE NOCASE OR topic LIKE ? || '.%')".into(),
                Dialect::Postgres => "(lower(topic) = lower(?) OR topic ILIKE ? || '.%')".into(),
            });
            args.push(Owned::Text(t.clone()));
            args.push(Owned::Text(t.clone()));
        }
        if let Some(s) = &self.since {
            clauses.push("COALESCE(occurred_at, first_seen) >= ?".into());
            args.push(Owned::Text(s.clone()));
        }
        if let Some(u) = &self.until {
            clauses.push("COALESCE(occurred_at, first_seen) < ?".into());
            args.push(Owned::Text(u.clone()));
        }
        if let Some(q) = &self.search {
            let (sql, more) = super::search::clause(d, q, None);
            clauses.push(sql);
            args.extend(more);
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        (sql, args)
    }
}

/// An event as stored: the DESIGN §3 event plus where it stands in the store.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    #[serde(flatten)]
    pub event: Event,
    pub seen_count: i64,
    pub first_seen: String,
    pub last_seen: String,
}

pub(super) const EVENT_COLUMNS: &str = "id, registrar, event_id, kind, object, type, topic, domain, domains, \
                             status, occurred_at, format, data, seen_count, first_seen, \
                             COALESCE((SELECT max(seen_at) FROM event_sources WHERE event = events.id), last_seen, first_seen), \
                             status_text, authenticated, authentication, occurred_at_source, rules_skipped";

/// Reads rows of [`EVENT_COLUMNS`] from `conn` (which holds the payload dictionaries).
pub(super) fn stored_event<S: Sql>(conn: &S) -> impl Fn(&Row<'_>) -> Result<StoredEvent> + '_ {
    move |r| stored_event_row(conn, r)
}

fn stored_event_row(conn: &impl Sql, r: &Row<'_>) -> Result<StoredEvent> {
    let text = |i: usize| -> Result<String> { r.get(i) };
    let unreadable =
        |i: usize, e: &dyn std::fmt::Display| StoreError::Column(format!("column {i}: {e}"));
    let json = |i: usize| -> Result<serde_json::Value> {
        let s: String = r.get(i)?;
        serde_json::from_str(&s).map_err(|e| unreadable(i, &e))
    };
    let payload = |i: usize| -> Result<serde_json::Value> {
        let s = super::packed::unpack(conn, &r.get::<Owned>(i)?).map_err(|e| unreadable(i, &e))?;
        serde_json::from_str(&s).map_err(|e| unreadable(i, &e))
    };
    let bad = |i: usize, what: &str| unreadable(i, &format!("bad {what}"));
    let registrar = Registrar::parse(&text(1)?).ok_or_else(|| bad(1, "registrar"))?;
    let kind = match text(3)?.as_str() {
        "event" => Kind::Event,
        "job" => Kind::Job,
        "test" => Kind::Test,
        _ => return Err(bad(3, "kind")),
    };
    let format: Format = serde_json::from_value(serde_json::Value::String(text(11)?))
        .map_err(|_| bad(11, "format"))?;
    let domain: Option<String> = r.get(7)?;
    // NULL: no more than `domain` (store/ingest.rs `kept_domains`).
    let domains: Vec<String> = match r.get::<Owned>(8)? {
        Owned::Null => domain.iter().cloned().collect(),
        _ => serde_json::from_value(json(8)?).map_err(|_| bad(8, "domains"))?,
    };
    Ok(StoredEvent {
        id: r.get(0)?,
        event: Event {
            registrar,
            event_id: text(2)?,
            kind,
            object: text(4)?,
            event_type: text(5)?,
            topic: text(6)?,
            domain,
            domains,
            status: r.get(9)?,
            // Not a stored column: the registrar's text stays in `data`.
            status_text: r.get(16)?,
            occurred_at: r.get(10)?,
            format,
            data: payload(12)?,
            authenticated: r.get(17)?,
            authentication: stored_reason(r.get(17)?, r.get(18)?),
            occurred_at_source: r.get(19)?,
            rules_skipped: r.get(20)?,
        },
        seen_count: r.get(13)?,
        first_seen: text(14)?,
        last_seen: text(15)?,
    })
}

/// Events matching `filter`, newest first (so a limit keeps the latest).
pub fn events(conn: &impl Sql, filter: &EventFilter) -> Result<Vec<StoredEvent>> {
    let (clause, args) = filter.where_clause(conn.dialect());
    let limit = filter
        .limit
        .map(|l| format!(" LIMIT {l}"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events {clause} ORDER BY COALESCE(occurred_at, first_seen) DESC, id DESC{limit}"
    );
    conn.rows(&sql, &arg_list(&args), stored_event(conn))
}

pub fn count(conn: &impl Sql, filter: &EventFilter) -> Result<i64> {
    let (clause, args) = filter.where_clause(conn.dialect());
    let sql = format!("SELECT COUNT(*) FROM events {clause}");
    conn.one(&sql, &arg_list(&args))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatRow {
    pub registrar: String,
    pub topic: String,
    pub events: i64,
    pub seen: i64,
}

/// Counts per registrar and topic.
pub fn stats(conn: &impl Sql, filter: &EventFilter) -> Result<Vec<StatRow>> {
    let (clause, args) = filter.where_clause(conn.dialect());
    let sql = format!(
        "SELECT registrar, topic, COUNT(*), CAST(SUM(seen_count) AS BIGINT) FROM events {clause}
         GROUP BY registrar, topic ORDER BY registrar, topic"
    );
    conn.rows(&sql, &arg_list(&args), |r| {
        Ok(StatRow {
            registrar: r.get(0)?,
            topic: r.get(1)?,
            events: r.get(2)?,
            seen: r.get(3)?,
        })
    })
}

/// A place an event was seen, with the message it was in.
#[derive(Debug, Clone, Serialize)]
pub struct Sighting {
    pub source: String,
    pub seen_at: String,
    pub message: i64,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub sender: Option<String>,
}

/// Another copy of an event whose payload differed from the stored one.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub message: i64,
    pub seen_at: String,
    pub authenticated: Option<bool>,
    pub authentication: Option<String>,
    /// This copy was stored first and replaced by an authenticated one.
    pub superseded: bool,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub stored: StoredEvent,
    pub sources: Vec<Sighting>,
    pub conflicts: Vec<Conflict>,
}

/// How many events have a conflicting copy.
pub fn conflicted_events(conn: &impl Sql) -> Result<i64> {
    conn.one("SELECT COUNT(DISTINCT event) FROM event_conflicts", args![])
}

/// An event that came under an id already used for another domain, type or status,
/// kept as its own event (under `<event_id>~<8 hex>`, see `Event::variant_id`).
#[derive(Debug, Clone, Serialize)]
pub struct ReusedId {
    pub id: i64,
    pub key: String,
    pub domain: Option<String>,
    pub topic: String,
}

/// How many events came under a reused id, and the newest `limit` of them.
pub fn reused_ids(conn: &impl Sql, limit: usize) -> Result<(i64, Vec<ReusedId>)> {
    let variant = match conn.dialect() {
        Dialect::Sqlite => {
            "event_id GLOB '*~[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'"
        }
        Dialect::Postgres => "event_id ~ '~[0-9a-f]{8}$'",
    };
    let count = conn.one(
        &format!("SELECT COUNT(*) FROM events WHERE {variant}"),
        args![],
    )?;
    let rows = conn.rows(
        &format!(
            "SELECT id, registrar || ':' || event_id, domain, topic FROM events WHERE {variant}
             ORDER BY id DESC LIMIT ?1"
        ),
        args![limit as i64],
        |r| {
            Ok(ReusedId {
                id: r.get(0)?,
                key: r.get(1)?,
                domain: r.get(2)?,
                topic: r.get(3)?,
            })
        },
    )?;
    Ok((count, rows))
}

/// One event by row id, `registrar:event_id`, or a bare event id.
pub fn event_detail(conn: &impl Sql, id: &str) -> Result<Option<EventDetail>> {
    let by = |sql: &str, args: &[&dyn super::db::Arg]| -> Result<Option<StoredEvent>> {
        conn.row(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE {sql}"),
            args,
            stored_event(conn),
        )
    };
    let mut found = None;
    if let Ok(row) = id.parse::<i64>() {
        found = by("id = ?1", args![row])?;
    }
    // Through the key index (schema 10): `registrar:event_id`, or a bare id tried with
    // each registrar, the first stored winning.
    let keyed = |registrar: Registrar, event_id: &str| {
        let key = super::ingest::event_key(registrar.as_str(), event_id);
        by(
            super::ingest::BY_EVENT_KEY,
            args![registrar.as_str(), event_id, key],
        )
    };
    if found.is_none()
        && let Some((registrar, event_id)) = id
            .split_once(':')
            .and_then(|(r, e)| Some((Registrar::parse(r)?, e)))
    {
        found = keyed(registrar, event_id)?;
    }
    if found.is_none() {
        for registrar in Registrar::ALL {
            if let Some(c) = keyed(registrar, id)?
                && found.as_ref().is_none_or(|f: &StoredEvent| c.id < f.id)
            {
                found = Some(c);
            }
        }
    }
    let Some(stored) = found else { return Ok(None) };
    let sources = conn.rows(
        "SELECT s.source, es.seen_at, m.id, m.message_id, m.subject, m.sender
         FROM event_sources es JOIN message_sources s ON s.id = es.source JOIN messages m ON m.id = es.message
         WHERE es.event = ?1 ORDER BY es.seen_at, s.id",
        args![stored.id],
        |r| {
            Ok(Sighting {
                source: r.get(0)?,
                seen_at: r.get(1)?,
                message: r.get(2)?,
                message_id: r.get(3)?,
                subject: r.get(4)?,
                sender: r.get(5)?,
            })
        },
    )?;
    let conflicts = conn.rows(
        "SELECT message, seen_at, authenticated, authentication, superseded, data
         FROM event_conflicts WHERE event = ?1 ORDER BY id",
        args![stored.id],
        |r| {
            let data = super::packed::unpack(conn, &r.get::<Owned>(5)?).unwrap_or_default();
            Ok(Conflict {
                message: r.get(0)?,
                seen_at: r.get(1)?,
                authenticated: r.get(2)?,
                authentication: stored_reason(r.get(2)?, r.get(3)?),
                superseded: r.get(4)?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            })
        },
    )?;
    Ok(Some(EventDetail {
        stored,
        sources,
        conflicts,
    }))
}

/// A message that gave no event.
#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    pub id: i64,
    pub reason: String,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub sender: Option<String>,
    pub size: i64,
    pub first_seen: String,
    pub sources: Vec<String>,
}

pub fn quarantined(conn: &impl Sql) -> Result<Vec<Quarantined>> {
    quarantined_where(conn, "ORDER BY m.id")
}

/// Quarantined messages in the order (and window) `tail` says, e.g. `ORDER BY m.id`.
pub(super) fn quarantined_where(conn: &impl Sql, tail: &str) -> Result<Vec<Quarantined>> {
    let sources = match conn.dialect() {
        Dialect::Sqlite => "json_group_array(source ORDER BY source)",
        Dialect::Postgres => "CAST(COALESCE(json_agg(source ORDER BY source), '[]') AS text)",
    };
    conn.rows(
        &format!(
            "SELECT m.id, COALESCE(m.reason, ''), m.message_id, m.subject, m.sender, m.size, m.first_seen,
                (SELECT {sources} FROM message_sources WHERE message = m.id)
             FROM messages m WHERE m.status = 'quarantined' {tail}"
        ),
        args![],
        |r| {
        let sources: String = r.get(7)?;
        Ok(Quarantined {
            id: r.get(0)?,
            reason: r.get(1)?,
            message_id: r.get(2)?,
            subject: r.get(3)?,
            sender: r.get(4)?,
            size: r.get(5)?,
            first_seen: r.get(6)?,
            sources: serde_json::from_str(&sources).unwrap_or_default(),
        })
    },
    )
}

/// A stored authentication reason: NULL beside `authenticated = 0` is the reason
/// given while `[trust]` is not set up (see `trust::NOT_SET_UP`).
pub fn stored_reason(authenticated: Option<bool>, reason: Option<String>) -> Option<String> {
    match (authenticated, reason) {
        (Some(false), None) => Some(crate::trust::NOT_SET_UP.to_string()),
        (_, reason) => reason,
    }
}

/// The raw bytes kept for a message, and whether they are the whole message.
pub fn raw_message(conn: &impl Sql, message: i64) -> Result<Option<(Vec<u8>, bool)>> {
    super::raw::read(conn, message)
}
