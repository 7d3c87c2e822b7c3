//! What the console shows per domain (`/domains`, `/domains/NAME`), per day (the
//! charts), and of a digest's open period.

use super::{DELIVERY_COLUMNS, Delivery, delivery};
use crate::store::Result;
use crate::store::db::{Dialect, Owned, Sql, arg_list, args};
use crate::store::query::{EVENT_COLUMNS, StoredEvent, stored_event};

/// Whether an event needs a person, in SQL: the same judgement as `Event::attention`
/// (a unit test holds them together).
pub const NEEDS_ATTENTION: &str = "(
    (topic = 'transfer.out' AND lower(COALESCE(status, '')) IN ('rejected', 'declined', 'nacked', 'pending'))
    OR lower(COALESCE(status, '')) IN ('error', 'failed', 'failure', 'rejected', 'invalid', 'declined')
    OR topic IN ('domain.expired', 'domain.renewal_reminder', 'hosting.renewal_reminder',
                 'site.renewal_reminder', 'certificate.renewal_reminder', 'domain.deleted',
                 'domain.dns_outage', 'billing.credit_alert')
    OR (topic = 'contact.validation' AND lower(COALESCE(status, '')) IN ('pending', 'suspended'))
)";

/// A domain as `/domains` lists it.
#[derive(Debug, Clone)]
pub struct DomainRow {
    pub domain: String,
    pub events: i64,
    pub last: String,
    /// The latest event's topic and status.
    pub topic: String,
    pub status: Option<String>,
    pub latest: i64,
}

/// Domains whose name contains `search`, most recently active first; without a
/// search, the domains of the latest events (read newest first along the time index,
/// so the page costs the same at any size).
pub fn domains(conn: &impl Sql, search: Option<&str>, limit: u64) -> Result<Vec<DomainRow>> {
    let (sql, args) = match search {
        Some(q) => {
            let (clause, args) = crate::store::search::clause(conn.dialect(), q, Some("domain"));
            (
                format!(
                    "SELECT MIN(domain), COUNT(*), MAX(COALESCE(occurred_at, first_seen)) AS last
                     FROM events WHERE domain IS NOT NULL AND {clause}
                     GROUP BY lower(domain) ORDER BY last DESC, lower(domain) LIMIT {limit}"
                ),
                args,
            )
        }
        None => (
            format!(
                "SELECT MIN(domain), COUNT(*), MAX(w) AS last FROM (
                     SELECT domain, COALESCE(occurred_at, first_seen) AS w FROM events
                     ORDER BY COALESCE(occurred_at, first_seen) DESC, id DESC LIMIT {}) AS latest
                 WHERE domain IS NOT NULL GROUP BY lower(domain) ORDER BY last DESC, lower(domain) LIMIT {limit}",
                limit * 20
            ),
            Vec::new(),
        ),
    };
    let stmt_sql = &sql;
    let rows: Vec<(String, i64, String)> = conn.rows(stmt_sql, &arg_list(&args), |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for (domain, seen, last) in rows {
        let (id, topic, status) = conn.only(
            "SELECT id, topic, status FROM events WHERE domain = ?1
             ORDER BY COALESCE(occurred_at, first_seen) DESC, id DESC LIMIT 1",
            args![domain],
            |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<String>(1)?,
                    r.get::<Option<String>>(2)?,
                ))
            },
        )?;
        // Without a search only the latest events were read: count them all.
        let events = if search.is_some() {
            seen
        } else {
            conn.one(
                "SELECT COUNT(*) FROM events WHERE domain = ?1",
                args![domain],
            )?
        };
        out.push(DomainRow {
            domain: domain.to_lowercase(),
            events,
            last,
            topic,
            status,
            latest: id,
        });
    }
    Ok(out)
}

/// Every event of a domain (any of its spellings, as the domain or among the
/// domains), oldest first; at most `limit`, the latest ones.
pub fn domain_events(conn: &impl Sql, forms: &[String], limit: u64) -> Result<Vec<StoredEvent>> {
    let mut clauses: Vec<String> = forms
        .iter()
        .map(|_| match conn.dialect() {
            Dialect::Sqlite => "domain = ? COLLATE NOCASE".to_string(),
            Dialect::Postgres => "lower(domain) = lower(?)".to_string(),
        })
        .collect();
    let mut args: Vec<Owned> = forms.iter().map(|f| Owned::Text(f.clone())).collect();
    // Events naming it among several domains: found through the search index, then
    // kept only when it is one of them exactly.
    if let Some(first) = forms
        .first()
        .filter(|f| f.chars().count() >= crate::store::search::MIN_CHARS)
    {
        let (sql, more) = crate::store::search::clause(conn.dialect(), first, Some("domain"));
        clauses.push(sql);
        args.extend(more);
    }
    // The set of ids first (each part through its own index), then their rows.
    let ids: Vec<String> = clauses
        .iter()
        .map(|c| format!("SELECT id FROM events WHERE {c}"))
        .collect();
    let sql = format!(
        "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({})
                        ORDER BY COALESCE(occurred_at, first_seen) DESC, id DESC LIMIT {}) AS found
         ORDER BY COALESCE(occurred_at, first_seen), id",
        ids.join(" UNION "),
        limit.saturating_mul(4)
    );
    let stmt_sql = &sql;
    let rows = conn.rows(stmt_sql, &arg_list(&args), stored_event(conn))?;
    let same = |d: &str| forms.iter().any(|f| f.eq_ignore_ascii_case(d));
    let mut out: Vec<StoredEvent> = rows
        .into_iter()
        .filter(|s| {
            s.event.domain.as_deref().is_some_and(same) || s.event.domains.iter().any(|d| same(d))
        })
        .collect();
    let extra = out.len().saturating_sub(limit as usize);
    out.drain(..extra);
    Ok(out)
}

/// The deliveries made about `events`, oldest first.
pub fn deliveries_of(conn: &impl Sql, events: &[i64]) -> Result<Vec<Delivery>> {
    let mut out = Vec::new();
    let stmt_sql = &format!("SELECT {DELIVERY_COLUMNS} FROM outbox WHERE event = ?1 ORDER BY id");
    for e in events {
        let rows = conn.rows(stmt_sql, args![e], delivery)?;
        out.extend(rows);
    }
    out.sort_by_key(|d| d.id);
    Ok(out)
}

/// Per day (`YYYY-MM-DD`, UTC) from `since` on: events, and those needing attention.
pub fn per_day(conn: &impl Sql, since: &str) -> Result<Vec<(String, i64, i64)>> {
    let stmt_sql = &format!(
        "SELECT substr(COALESCE(occurred_at, first_seen), 1, 10) AS day, COUNT(*),
                CAST(SUM(CASE WHEN {NEEDS_ATTENTION} THEN 1 ELSE 0 END) AS BIGINT)
         FROM events WHERE COALESCE(occurred_at, first_seen) >= ?1
         GROUP BY day ORDER BY day"
    );
    let rows = conn.rows(stmt_sql, args![since], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows)
}

/// The events waiting in a digest's open period, newest first, at most `limit`.
pub fn digest_open(conn: &impl Sql, digest: &str, limit: u64) -> Result<Vec<StoredEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE id IN (SELECT event FROM digest_items WHERE digest = ?1 AND run IS NULL)
         ORDER BY COALESCE(occurred_at, first_seen) DESC, id DESC LIMIT {limit}"
    );
    let stmt_sql = &sql;
    let rows = conn.rows(stmt_sql, args![digest], stored_event(conn))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::NEEDS_ATTENTION;
    use crate::event::{Event, Format, Kind, Registrar};
    use crate::store::db::{Sql, args};

    #[test]
    fn the_sql_judges_attention_as_the_event_does() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let topics = [
            "transfer.out",
            "transfer.in",
            "domain.expired",
            "domain.deleted",
            "domain.created",
            "contact.validation",
            "domain.zone_check",
            "billing.credit_alert",
            "job.result",
            "domain.renewal_reminder",
            "domain.dns_outage",
        ];
        let statuses = [
            None,
            Some("pending"),
            Some("Rejected"),
            Some("nacked"),
            Some("failed"),
            Some("completed"),
            Some("suspended"),
            Some("error"),
            Some("requested"),
        ];
        for topic in topics {
            for status in statuses {
                let e = Event {
                    registrar: Registrar::Autodns,
                    event_id: "x".into(),
                    kind: Kind::Event,
                    object: "domain".into(),
                    event_type: "t".into(),
                    topic: topic.into(),
                    domain: None,
                    domains: vec![],
                    status: status.map(str::to_string),
                    status_text: None,
                    occurred_at: None,
                    format: Format::Json,
                    data: serde_json::json!({}),
                    authenticated: None,
                    authentication: None,
                    occurred_at_source: None,
                    rules_skipped: None,
                };
                let sql: bool = conn
                    .only(
                        &format!(
                            "SELECT {NEEDS_ATTENTION} FROM (SELECT ?1 AS topic, ?2 AS status)"
                        ),
                        args![topic, status],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(sql, e.attention().is_some(), "{topic} {status:?}");
            }
        }
    }
}
