//! OpenSRS event notifications: the JSON object of the email body (or of an attached
//! `event_data….json`), subject `Event notification: OBJECT: EVENT: <event_id>`.
//! The OPS XML poll envelope reuses [`event`] for each of its events.

use serde_json::Value;

use super::{Context, Draft, time};
use crate::event::{Format, Kind, Registrar};

/// The status fields of the API guide's event pages, most specific first.
const STATUS_KEYS: &[&str] = &[
    "message_status",
    "trade_status",
    "transfer_status",
    "order_status",
    "claim_status",
    "verification_status",
    "zone_check_status",
];

/// True when the JSON object has the shape of an OpenSRS event.
pub fn is_event(v: &Value) -> bool {
    v.get("event").is_some_and(Value::is_string)
        && v.get("object").is_some_and(Value::is_string)
        && (v.get("event_id").is_some() || v.get("object_data").is_some())
}

/// One OpenSRS event object (JSON, or converted from OPS XML) as a draft event.
pub fn event(v: &Value, ctx: &Context, format: Format) -> Option<Draft> {
    if !is_event(v) {
        return None;
    }
    let object = v["object"].as_str()?.trim();
    let name = v["event"].as_str()?.trim();
    let data = v.get("object_data");
    let field = |k: &str| data.and_then(|d| d.get(k)).and_then(scalar_string);
    let mut draft = Draft::new(
        Registrar::Opensrs,
        Kind::Event,
        name.to_string(),
        format,
        v.clone(),
    );
    draft.table_name = format!(
        "{} {}",
        object.to_ascii_uppercase(),
        name.to_ascii_uppercase()
    );
    draft.object = Some(object.to_ascii_lowercase());
    draft.event_id = v
        .get("event_id")
        .and_then(scalar_string)
        .or_else(|| ctx.subject_event_id());
    draft.domain = field("domain_name");
    // The event's own status field first (`message_status`, `trade_status`, …), then
    // any other `*_status`.
    draft.status = data
        .and_then(Value::as_object)
        .and_then(|d| {
            STATUS_KEYS
                .iter()
                .find_map(|k| d.get(*k).and_then(Value::as_str))
                .or_else(|| {
                    d.iter()
                        .find(|(k, val)| k.ends_with("_status") && val.is_string())
                        .and_then(|(_, val)| val.as_str())
                })
        })
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty());
    draft.occurred_at = v
        .get("event_date")
        .and_then(Value::as_str)
        .and_then(|t| time::normalize(t, time::LocalZone::Utc));
    Some(draft)
}

/// A string, or a number rendered as one.
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
