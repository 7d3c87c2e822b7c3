//! A page of the event list, newest first (the console's *Events*): by number from the
//! top, or by key right after or before an event shown, through the `events_when` index
//! (migration 11), so a page deep in the list costs what the first does.

use super::Result;
use super::db::{Owned, Sql, arg_list};
use super::query::{EVENT_COLUMNS, EventFilter, StoredEvent, stored_event};

/// The time an event is ordered by: when it happened, else when it was first seen
/// (the expression `events_when` indexes).
const WHEN: &str = "COALESCE(occurred_at, first_seen)";

/// Where a page of the event list starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After skipping this many of the newest (a page asked for by number).
    Skip(u64),
    /// Right after (older than) this event, found through `events_when`: a page deep in
    /// the list costs what the first does.
    Older(i64),
    /// Right before (newer than) this event.
    Newer(i64),
}

/// Events matching `filter`, newest first, `limit` of them from `start`; and how many
/// match in all.
pub fn events_page(
    conn: &impl Sql,
    filter: &EventFilter,
    start: Start,
    limit: u64,
) -> Result<(Vec<StoredEvent>, i64)> {
    let (clause, mut args) = filter.where_clause(conn.dialect());
    let total: i64 = conn.one(
        &format!("SELECT COUNT(*) FROM events {clause}"),
        &arg_list(&args),
    )?;
    let joiner = if clause.is_empty() { "WHERE" } else { "AND" };
    // The key of the event the page starts at, compared in `events_when`'s order.
    let from = |op: &str| {
        format!(
            "{joiner} {WHEN} {op}= (SELECT {WHEN} FROM events WHERE id = ?)
             AND ({WHEN} {op} (SELECT {WHEN} FROM events WHERE id = ?) OR id {op} ?)"
        )
    };
    let (keyset, order, offset) = match start {
        Start::Skip(n) => (String::new(), "DESC", n),
        Start::Older(id) => {
            args.extend([id, id, id].map(Owned::Int));
            (from("<"), "DESC", 0)
        }
        Start::Newer(id) => {
            args.extend([id, id, id].map(Owned::Int));
            (from(">"), "ASC", 0)
        }
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events {clause} {keyset}
         ORDER BY {WHEN} {order}, id {order} LIMIT {limit} OFFSET {offset}"
    );
    let mut events = conn.rows(&sql, &arg_list(&args), stored_event(conn))?;
    if order == "ASC" {
        events.reverse();
    }
    Ok((events, total))
}
