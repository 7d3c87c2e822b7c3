//! Gandi notifications: Python dict literals (`{'status': u'pending', …}`), plain or
//! relayed from SNS, named by `source_notification`; and the test message
//! `Hello, this is a Gandi Notification test message for notification NAME`.
//! Gandi gives no id, so the id is derived from the payload.

use serde_json::{Value, json};

use super::opensrs::scalar_string;
use super::{Context, Draft, pyliteral, time};
use crate::event::{Format, Kind, Registrar};
use crate::topics::{self, TEST_TOPIC};

/// A Gandi payload: it names its notification, or it came from Gandi and looks like one.
pub fn is_payload(v: &Value, ctx: &Context) -> bool {
    let Some(map) = v.as_object() else {
        return false;
    };
    map.contains_key("source_notification")
        || (ctx.hint == Some(Registrar::Gandi)
            && ["status", "domain", "domains", "handle", "platform"]
                .iter()
                .any(|k| map.contains_key(*k)))
}

pub fn event(v: &Value, ctx: &Context, format: Format) -> Option<Draft> {
    if !is_payload(v, ctx) {
        return None;
    }
    let name = v
        .get("source_notification")
        .and_then(Value::as_str)
        .map(str::trim)
        .map(str::to_string)
        .or_else(|| name_in_subject(ctx))
        .unwrap_or_else(|| "notification".to_string());
    let mut draft = Draft::new(Registrar::Gandi, Kind::Event, name, format, v.clone());
    let domains = domains_of(v);
    draft.domain = v
        .get("domain")
        .and_then(scalar_string)
        .or_else(|| domains.first().cloned());
    draft.domains = domains;
    draft.status = v
        .get("status")
        .and_then(scalar_string)
        .map(|s| s.to_ascii_lowercase());
    draft.occurred_at = v
        .get("date")
        .and_then(Value::as_str)
        .and_then(|t| time::normalize(t, time::LocalZone::Paris));
    Some(draft)
}

/// The test message Gandi sends for `notification.test(apikey, NAME)`.
pub fn test_event(name: &str, sentence: &str) -> Draft {
    let data = json!({"notification": name, "message": sentence});
    let mut draft = Draft::new(
        Registrar::Gandi,
        Kind::Test,
        name.to_string(),
        Format::Text,
        data,
    );
    draft.topic = Some(TEST_TOPIC);
    draft.status = None;
    draft.object = Some(topics::lookup(Registrar::Gandi, name).map_or_else(
        || name.split('.').next().unwrap_or("unknown").to_string(),
        |t| t.object.to_string(),
    ));
    draft.no_default_status = true;
    draft
}

/// `domains` is a list, or a string holding a Python list (`"['pizzza.xyz']"`).
fn domains_of(v: &Value) -> Vec<String> {
    let list = match v.get("domains") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(s)) => match pyliteral::parse_prefix(s) {
            Ok((Value::Array(items), _)) => items,
            _ => s
                .split([',', ' '])
                .filter(|d| d.contains('.'))
                .map(|d| Value::String(d.to_string()))
                .collect(),
        },
        _ => Vec::new(),
    };
    list.iter().filter_map(scalar_string).collect()
}

fn name_in_subject(ctx: &Context) -> Option<String> {
    let subject = ctx.subject.as_deref()?;
    topics::TOPICS
        .iter()
        .filter(|t| t.registrar == Registrar::Gandi)
        .filter(|t| subject.contains(t.name))
        .max_by_key(|t| t.name.len())
        .map(|t| t.name.to_string())
}
