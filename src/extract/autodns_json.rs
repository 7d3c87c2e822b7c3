//! AutoDNS / InterNetX JSON: poll responses (`{"stid","status","object","data":[…]}`)
//! e-mailed when not confirmed within 24 h, holding job messages (`data[i].message{id,
//! job, object, status}`, or the same without the `message` wrapper, or with only
//! `job.status`) and event messages (`data[i]{id, notify{type, object}, object{type,
//! value}}`); a bare message; and the immediate reply to a request (`{stid, status,
//! object, data[]}`) when it reports on a job or an object.

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
        _ => return immediate_reply(v).map(|d| vec![d]),
    };
    Some(items.into_iter().filter_map(message).collect())
}

fn is_message_item(v: &Value) -> bool {
    let msg = v.get("message").filter(|m| m.is_object()).unwrap_or(v);
    msg.get("id").is_some_and(|id| scalar_string(id).is_some())
        && (msg.get("notify").is_some_and(Value::is_object)
            || msg.get("job").is_some_and(Value::is_object)
            || has_status_code(msg))
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
    let mut draft = match msg.get("notify").filter(|n| n.is_object()) {
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
            .filter(|o| names_domain(o))
            .and_then(|o| o.get("value").or_else(|| o.get("data")?.get("name")))
            .and_then(scalar_string)
            .filter(|d| looks_like_domain(d))
    });
    draft.status_text =
        status_text(msg).or_else(|| notify.get("status")?.get("text").and_then(scalar_string));
    Some(draft)
}

/// A job message: the code of its `status{code,type}` block (or of the job's), else
/// only the job's own state (`job.status`: `RUNNING`, `SUCCESS`, `FAILED`, …).
fn job_event(msg: &Value, item: &Value) -> Option<Draft> {
    let job = msg.get("job").filter(|j| j.is_object());
    let block = msg
        .get("status")
        .filter(|s| s.get("code").is_some())
        .or_else(|| job?.get("status").filter(|s| s.is_object()));
    let job_state = job
        .and_then(|j| j.get("status"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    // `messages[]` report on other objects (a contact created on the way): not the job.
    let code = block.and_then(|s| s.get("code")).and_then(scalar_string);
    let event_type = code.clone().or_else(|| job_state.map(str::to_string))?;
    let mut draft = Draft::new(
        Registrar::Autodns,
        Kind::Job,
        event_type,
        Format::Json,
        item.clone(),
    );
    draft.table_name = "job".into();
    draft.status = block
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .or(job_state)
        .map(job_status)
        .or_else(|| code.as_deref().and_then(status_of_code));
    draft.object = msg
        .get("object")
        .and_then(|o| o.get("type"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    draft.status_text = status_text(msg);
    Some(draft)
}

/// The reply AutoDNS gives at once to a request, e-mailed like a notification: an
/// event when it names the object or job it reports on. Its `stid` is the id.
fn immediate_reply(v: &Value) -> Option<Draft> {
    let stid = v.get("stid").and_then(scalar_string)?;
    let status = v.get("status").filter(|s| s.is_object())?;
    let code = status.get("code").and_then(scalar_string)?;
    let object = v.get("object").filter(|o| o.is_object());
    let object_type = object
        .and_then(|o| o.get("type"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    let jobs = v.get("data").and_then(Value::as_array).is_some_and(|d| {
        d.iter()
            .any(|i| i.get("status").is_some_and(Value::is_string))
    });
    let about_object = object_type.as_deref().is_some_and(|t| t != "message");
    if !about_object && !jobs {
        return None;
    }
    let mut draft = Draft::new(
        Registrar::Autodns,
        Kind::Job,
        code.clone(),
        Format::Json,
        v.clone(),
    );
    draft.table_name = "job".into();
    draft.event_id = Some(stid);
    draft.status = status
        .get("type")
        .and_then(Value::as_str)
        .map(job_status)
        .or_else(|| status_of_code(&code));
    draft.status_text = status.get("text").and_then(scalar_string);
    draft.object = object_type.filter(|t| t != "message");
    draft.domain = object
        .filter(|o| names_domain(o))
        .and_then(|o| o.get("value").or_else(|| o.get("data")?.get("name")))
        .and_then(scalar_string)
        .filter(|d| looks_like_domain(d))
        .or_else(|| {
            let data = v.get("data")?.as_array()?;
            data.iter().find_map(|i| {
                job_domain(i).or_else(|| {
                    i.get("name")
                        .and_then(scalar_string)
                        .filter(|d| looks_like_domain(d))
                })
            })
        });
    Some(draft)
}

/// The registrar's words: the message's `status.text`, else the job's status text.
fn status_text(msg: &Value) -> Option<String> {
    msg.get("status")
        .and_then(|s| s.get("text"))
        .and_then(scalar_string)
        .or_else(|| {
            msg.get("job")?
                .get("status")?
                .get("text")
                .and_then(scalar_string)
        })
}

/// Job status type to our vocabulary: `failed` (German docs) is `error`.
pub fn job_status(t: &str) -> String {
    match t.trim().to_ascii_lowercase().as_str() {
        "failed" | "failure" | "error" => "error".into(),
        "notify" => "pending".into(),
        other => other.to_string(),
    }
}

/// `S…` success, `E…` error, `N…` pending.
fn status_of_code(code: &str) -> Option<String> {
    match code.as_bytes().first()? {
        b'S' => Some("success".into()),
        b'E' => Some("error".into()),
        b'N' => Some("pending".into()),
        _ => None,
    }
}

/// An object whose value can be a domain name: a domain, a transfer, an owner change, a
/// preregistration (`DomainPrereg`), a certificate or a zone named after one; never a
/// contact, a host or name server, a user or the poll message itself.
fn names_domain(o: &Value) -> bool {
    o.get("type")
        .and_then(Value::as_str)
        .is_some_and(object_may_name_domain)
}

pub fn object_may_name_domain(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    ![
        "contact",
        "handle",
        "host",
        "nameserver",
        "nserver",
        "message",
        "user",
        "mark",
        "tmch",
    ]
    .iter()
    .any(|k| t.contains(k))
}

pub fn looks_like_domain(s: &str) -> bool {
    let s = s.trim().trim_end_matches('.');
    s.contains('.')
        && !s.contains('@')
        && !s.contains(char::is_whitespace)
        && !s.starts_with('.')
        && s.len() <= 253
}

/// The message's domain: `object.value` when the object names one, else the job's.
fn domain_of(msg: &Value) -> Option<String> {
    if let Some(o) = msg.get("object").filter(|o| names_domain(o))
        && let Some(d) = o
            .get("value")
            .and_then(scalar_string)
            .filter(|d| looks_like_domain(d))
    {
        return Some(d);
    }
    msg.get("job").and_then(job_domain)
}

/// A job's domain: `domain.name`, `transfer.domain`, `transfer.name`, `domains[0].name`.
fn job_domain(job: &Value) -> Option<String> {
    let candidates = [
        job.get("domain").and_then(|d| d.get("name")),
        job.get("domain").filter(|d| d.is_string()),
        job.get("transfer").and_then(|t| t.get("domain")),
        job.get("transfer").and_then(|t| t.get("name")),
        job.get("domains")
            .and_then(Value::as_array)
            .and_then(|d| d.first())
            .and_then(|d| d.get("name")),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(scalar_string)
        .find(|d| looks_like_domain(d))
}
