//! AutoDNS / InterNetX JSON: poll responses (`{"stid","status","object","data":[…]}`)
//! e-mailed when not confirmed within 24 h, holding job messages
//! (`data[i].message{id, job, object, status}`) and event messages
//! (`data[i]{id, notify{type, object}, object{type, value}}`); also a bare message.

use serde_json::Value;

use super::opensrs::scalar_string;
use super::{Context, Draft, time};
use crate::event::{Format, Kind, Registrar};
use crate::topics;

/// The messages of an AutoDNS JSON payload, each as a draft event; None when the
/// payload is not AutoDNS.
pub fn events(v: &Value, _ctx: &Context) -> Option<Vec<Draft>> {
    let items: Vec<&Value> = match v.get("data") {
        Some(Value::Array(items)) if items.iter().any(is_message_item) => {
            items.iter().filter(|i| is_message_item(i)).collect()
        }
        _ if is_message_item(v) => vec![v],
        _ => return None,
    };
    Some(items.into_iter().filter_map(message).collect())
}

fn is_message_item(v: &Value) -> bool {
    let msg = v.get("message").filter(|m| m.is_object()).unwrap_or(v);
    msg.get("id").is_some()
        && (msg.get("notify").is_some() || msg.get("job").is_some() || has_status_code(msg))
}

fn has_status_code(msg: &Value) -> bool {
    msg.get("status")
        .and_then(|s| s.get("code"))
        .is_some_and(Value::is_string)
}

/// One `data[i]` item (with or without the `message` wrapper).
fn message(item: &Value) -> Option<Draft> {
    let msg = item
        .get("message")
        .filter(|m| m.is_object())
        .unwrap_or(item);
    let id = msg.get("id").and_then(scalar_string)?;
    let mut draft = match msg.get("notify") {
        Some(notify) => notify_event(msg, notify, item)?,
        None => job_event(msg, item)?,
    };
    draft.event_id = Some(id);
    if draft.domain.is_none() {
        draft.domain = domain_of(msg);
    }
    draft.occurred_at = ["created", "updated"]
        .iter()
        .find_map(|k| msg.get(*k).and_then(Value::as_str))
        .and_then(|t| time::normalize(t, time::LocalZone::Berlin));
    Some(draft)
}

fn notify_event(msg: &Value, notify: &Value, item: &Value) -> Option<Draft> {
    let name = topics::fold_spelling(notify.get("type")?.as_str()?);
    let mut draft = Draft::new(
        Registrar::Autodns,
        Kind::Event,
        name,
        Format::Json,
        item.clone(),
    );
    draft.domain = domain_of(msg).or_else(|| {
        notify
            .get("object")
            .filter(|o| type_is(o, "domain"))
            .and_then(|o| o.get("value").or_else(|| o.get("data")?.get("name")))
            .and_then(scalar_string)
    });
    Some(draft)
}

fn job_event(msg: &Value, item: &Value) -> Option<Draft> {
    let status = msg
        .get("status")
        .or_else(|| msg.get("job")?.get("status"))?;
    let code = status.get("code").and_then(scalar_string)?;
    let mut draft = Draft::new(
        Registrar::Autodns,
        Kind::Job,
        code,
        Format::Json,
        item.clone(),
    );
    draft.table_name = "job".into();
    draft.status = status.get("type").and_then(Value::as_str).map(job_status);
    draft.object = msg
        .get("object")
        .and_then(|o| o.get("type"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    Some(draft)
}

/// Job status type to our vocabulary: `failed` (German docs) is `error`.
pub fn job_status(t: &str) -> String {
    match t.trim().to_ascii_lowercase().as_str() {
        "failed" | "failure" | "error" => "error".into(),
        "notify" => "pending".into(),
        other => other.to_string(),
    }
}

fn type_is(o: &Value, want: &str) -> bool {
    o.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case(want))
}

/// The message's domain: `object.value` when the object is a domain, else the job's.
fn domain_of(msg: &Value) -> Option<String> {
    if let Some(o) = msg.get("object").filter(|o| type_is(o, "domain"))
        && let Some(d) = o.get("value").and_then(scalar_string)
    {
        return Some(d);
    }
    msg.get("job")
        .and_then(|j| j.get("domain"))
        .and_then(|d| d.get("name"))
        .and_then(scalar_string)
}
