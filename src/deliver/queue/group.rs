//! One forward mail per message and recipients: a message holding many events (an
//! OPS poll reply, or a hostile mail with thousands) that a rule forwards to the same
//! people queues one mail with the original attached once, not one mail per event.
//!
//! The first event's forward is queued as usual and remembered; the next events of
//! the same message to the same recipients are added to that row while it is still
//! untouched (pending, never tried, not claimed), inside the same write transaction.
//! The row grows by a bounded amount: full summaries up to [`FULL_TEXT`], one line per
//! event up to [`LIST_TEXT`], event JSON up to [`JSON_TEXT`]; the counts tell the
//! mail builder what was left out, so it can say so.

use std::cell::RefCell;

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::Value;

use crate::deliver::compose;
use crate::store::Result;

/// Summaries (with payload) are added in full while the mail's text is under this.
const FULL_TEXT: i64 = 64 << 10;
/// Then one line per event, while the text is under this.
const LIST_TEXT: i64 = 256 << 10;
/// Events are added to the attached `events.json` while it is under this.
const JSON_TEXT: i64 = 512 << 10;

thread_local! {
    /// The forward rows of the message being stored on this thread, by recipients.
    static OPEN: RefCell<(i64, Vec<(String, i64)>)> = const { RefCell::new((0, Vec::new())) };
}

/// Remembers outbox row `id` as the forward of `message` to `recipients`.
pub(super) fn started(message: i64, recipients: &str, id: i64) {
    OPEN.with(|open| {
        let mut open = open.borrow_mut();
        if open.0 != message {
            *open = (message, Vec::new());
        }
        open.1.push((recipients.to_string(), id));
    });
}

/// Adds the forward `payload` (one event, from [`compose::forward`]) to the row already
/// queued for this message and recipients. False when there is none, or it can no
/// longer change (tried, claimed or sent): the caller queues a row of its own.
pub(super) fn join(
    tx: &Transaction<'_>,
    message: i64,
    recipients: &str,
    payload: &Value,
) -> Result<bool> {
    let id = OPEN.with(|open| {
        let open = open.borrow();
        (open.0 == message)
            .then(|| {
                open.1
                    .iter()
                    .find(|(r, _)| r == recipients)
                    .map(|(_, id)| *id)
            })
            .flatten()
    });
    let Some(id) = id else { return Ok(false) };
    // The remembered id is checked against the row: a rolled-back transaction may
    // have given the id to another row since.
    let row = tx
        .prepare_cached(
            "SELECT json_extract(payload, '$.events'), json_extract(payload, '$.events_listed'),
                    json_extract(payload, '$.events_in_json'), json_extract(payload, '$.subject_one'),
                    length(json_extract(payload, '$.text')), length(json_extract(payload, '$.payload_json'))
             FROM outbox
             WHERE id = ?1 AND message = ?2 AND channel = 'forward' AND state = 'pending'
               AND attempts = 0 AND lease_until IS NULL",
        )?
        .query_row(params![id, message], |r| {
            Ok((
                r.get::<_, Option<i64>>(0)?.unwrap_or(1),
                r.get::<_, Option<i64>>(1)?.unwrap_or(1),
                r.get::<_, Option<i64>>(2)?.unwrap_or(1),
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                r.get::<_, Option<i64>>(5)?.unwrap_or(0),
            ))
        })
        .optional()?;
    let Some((events, listed, in_json, subject_one, text_len, json_len)) = row else {
        return Ok(false);
    };
    let text = payload["text"].as_str().unwrap_or_default();
    let one = payload["subject"].as_str().unwrap_or_default();
    let subject_one = subject_one.unwrap_or_else(|| one.to_string());
    let (added, listed) = if text_len < FULL_TEXT {
        (format!("\n\n{RULE}\n\n{text}"), listed + 1)
    } else if text_len < LIST_TEXT {
        // Past the full summaries: one line per event (the subject it would have had).
        let key = payload["event_key"].as_str().unwrap_or_default();
        (format!("\n- {key}: {one}"), listed + 1)
    } else {
        (String::new(), listed)
    };
    // 0: leave events.json; 1: make the single object an array; 2: append.
    let (json_mode, in_json) = if json_len >= JSON_TEXT {
        (0, in_json)
    } else if in_json == 1 && events == 1 {
        (1, in_json + 1)
    } else {
        (2, in_json + 1)
    };
    tx.prepare_cached(
        "UPDATE outbox SET payload = json_set(payload,
            '$.subject', ?2, '$.subject_one', ?3, '$.events', ?4, '$.events_listed', ?5,
            '$.events_in_json', ?6,
            '$.text', json_extract(payload, '$.text') || ?7,
            '$.payload_json', CASE ?8
                WHEN 0 THEN json_extract(payload, '$.payload_json')
                WHEN 1 THEN '[' || char(10) || json_extract(payload, '$.payload_json') || ','
                            || char(10) || ?9 || char(10) || ']'
                ELSE substr(json_extract(payload, '$.payload_json'), 1,
                            length(json_extract(payload, '$.payload_json')) - 2)
                     || ',' || char(10) || ?9 || char(10) || ']'
            END)
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        compose::group_subject(&subject_one, events),
        subject_one,
        events + 1,
        listed,
        in_json,
        added,
        json_mode,
        payload["payload_json"].as_str().unwrap_or("null"),
    ])?;
    Ok(true)
}

const RULE: &str = "――――――――――――――――――――――――――――――――――――――――";
