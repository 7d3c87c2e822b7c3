//! What delivery itself composes (forward mails and webhook bodies are composed when
//! queued, by `crate::action`): digests in text and HTML, the note of a forward that
//! carries several events, and fallback notices. Pure functions.

use serde_json::{Value, json};

use super::digest_mail::{DeadDelivery, Entry};
use crate::action::{Digest, header_safe};
use crate::store::outbox::Item;

/// What a forward carrying several events says about what it left out (the text and
/// the attached events.json are bounded); empty when nothing was.
pub fn group_note(mail: &Value) -> String {
    let count = |k: &str| mail.get(k).and_then(Value::as_i64);
    let Some(events) = count("events").filter(|&n| n > 1) else {
        return String::new();
    };
    let mut note = format!("\n\nThis mail carries {events} events of one message.\n");
    if let Some(listed) = count("events_listed").filter(|&n| n < events) {
        note += &format!(
            "{} are not listed above, to keep the mail small.\n",
            events - listed
        );
    }
    if let Some(in_json) = count("events_in_json").filter(|&n| n < events) {
        note += &format!("events.json holds the first {in_json}.\n");
    }
    note + "Every event is stored: `mailroom events` lists them.\n"
}

/// The digest mail over `entries` for the period ending `period_end` (see
/// `digest_mail::render`), as queued: recipients, subject, text and HTML.
pub fn digest(
    d: &Digest,
    entries: &[Entry],
    dead: &[DeadDelivery],
    period_start: Option<&str>,
    period_end: &str,
) -> Value {
    let r = super::digest_mail::render(d, entries, dead, period_start, period_end);
    json!({
        "to": d.to,
        "cc": [],
        "subject": r.subject,
        "text": r.text,
        "html": r.html,
    })
}

/// The notice sent to the fallback address when a delivery is given up.
pub fn fallback(to: &[String], item: &Item, error: &str, permanent: bool) -> Value {
    let channel = item.channel.as_str();
    let target = &item.target;
    let original = &item.payload;
    let how = if permanent {
        "was refused permanently (retrying would not help)"
    } else {
        "kept failing until the give-up window ended"
    };
    let what = match channel {
        "webhook" => format!(
            "The webhook call to {target} {how}.\n\nBody that was not delivered:\n{}\n",
            original
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        _ => format!(
            "The {channel} mail to {target} {how}.\n\nSubject: {}\n\n{}\n",
            original
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            original
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
    };
    let id = item.id;
    json!({
        "to": to,
        "cc": [],
        "subject": header_safe(&format!("[mailroom] undeliverable {channel} to {target}")),
        "text": format!(
            "mailroom gave up a delivery (outbox item {id}).\n\nLast error: {error}\n\n{what}\n\
             Once the cause is fixed, send it again with:\n\n    mailroom outbox retry {id}\n"
        ),
    })
}
