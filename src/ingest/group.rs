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

use crate::store::db::Sql;
use serde_json::Value;

use crate::action;
use crate::store::Result;
use crate::store::outbox::{self, ForwardGrowth};

/// Summaries (with payload) are added in full while the mail's text is under this.
const FULL_TEXT: usize = 32 << 10;
/// Then one line per event, while the text is under this.
const LIST_TEXT: usize = 96 << 10;
/// Events are added to the attached `events.json` while it is under this.
const JSON_TEXT: usize = 128 << 10;

/// A forward row being grown, as it was last written (so adding to it needs no read of
/// its payload).
struct Group {
    recipients: String,
    id: i64,
    events: i64,
    listed: i64,
    in_json: i64,
    subject_one: String,
    text_len: usize,
    json_len: usize,
}

/// The forward rows of the message being stored, one per recipients: kept by whoever
/// runs the rules over a batch (one per transaction), and handed to every reaction.
#[derive(Default)]
pub struct Grouping {
    message: i64,
    open: Vec<Group>,
}

/// Remembers outbox row `id`, just queued with `payload`, as the forward of `message`
/// to `recipients`.
pub(super) fn started(
    grouping: &mut Grouping,
    message: i64,
    recipients: &str,
    id: i64,
    payload: &Value,
) {
    let group = Group {
        recipients: recipients.to_string(),
        id,
        events: 1,
        listed: 1,
        in_json: 1,
        subject_one: payload["subject"].as_str().unwrap_or_default().to_string(),
        text_len: payload["text"].as_str().map_or(0, str::len),
        json_len: payload["payload_json"].as_str().map_or(0, str::len),
    };
    if grouping.message != message {
        grouping.message = message;
        grouping.open.clear();
    }
    grouping.open.retain(|g| g.recipients != recipients);
    grouping.open.push(group);
}

/// Adds the forward `payload` (one event, from [`action::forward`]) to the row already
/// queued for this message and recipients. False when there is none, or it can no
/// longer change (tried, claimed or sent): the caller queues a row of its own.
pub(super) fn join(
    tx: &impl Sql,
    grouping: &mut Grouping,
    message: i64,
    recipients: &str,
    payload: &Value,
) -> Result<bool> {
    if grouping.message != message {
        return Ok(false);
    }
    let Some(g) = grouping
        .open
        .iter_mut()
        .find(|g| g.recipients == recipients)
    else {
        return Ok(false);
    };
    // The remembered row must still be this forward, untouched: a rolled-back
    // transaction may have dropped it, a deliverer may have claimed it.
    if !outbox::forward_untouched(tx, g.id, message)? {
        return Ok(false);
    }
    add(tx, g, payload)?;
    Ok(true)
}

fn add(tx: &impl Sql, g: &mut Group, payload: &Value) -> Result<()> {
    let text = payload["text"].as_str().unwrap_or_default();
    let one = payload["subject"].as_str().unwrap_or_default();
    let added = if g.text_len < FULL_TEXT {
        format!("\n\n{RULE}\n\n{text}")
    } else if g.text_len < LIST_TEXT {
        // Past the full summaries: one line per event (the subject it would have had).
        let key = payload["event_key"].as_str().unwrap_or_default();
        format!("\n- {key}: {one}")
    } else {
        String::new()
    };
    if !added.is_empty() {
        g.listed += 1;
        g.text_len += added.len();
    }
    let json = payload["payload_json"].as_str().unwrap_or("null");
    // 0: leave events.json; 1: make the single object an array; 2: append.
    let json_mode = if g.json_len >= JSON_TEXT {
        0
    } else if g.in_json == 1 && g.events == 1 {
        1
    } else {
        2
    };
    if json_mode > 0 {
        g.in_json += 1;
        g.json_len += json.len() + 4;
    }
    outbox::grow_forward(
        tx,
        g.id,
        &ForwardGrowth {
            subject: &action::group_subject(&g.subject_one, g.events),
            subject_one: &g.subject_one,
            events: g.events + 1,
            listed: g.listed,
            in_json: g.in_json,
            text: &added,
            json_mode,
            json,
        },
    )?;
    g.events += 1;
    Ok(())
}

const RULE: &str = "――――――――――――――――――――――――――――――――――――――――";
