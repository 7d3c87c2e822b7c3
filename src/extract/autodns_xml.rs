//! AutoDNS / InterNetX XML: `<response><result><data><message>…` poll responses sent
//! by email, job messages (`<job>…<status><code>`, or only `<job><status>SUCCESS`) and
//! event messages (`<notify>`); and the immediate reply (`<result><status>` about an
//! object, no `<message>`), whose `<stid>` is the id.

use super::autodns_json::{job_status, looks_like_domain, object_may_name_domain};
use super::xml::Element;
use super::{Context, Draft, time};
use crate::event::{Format, Kind, Registrar};
use crate::topics;

pub fn events(root: &Element, _ctx: &Context) -> Option<Vec<Draft>> {
    if root.local_name() != "response" {
        return None;
    }
    let messages: Vec<&Element> = root
        .path(&["result", "data"])
        .map(|d| d.children_named("message").collect())
        .unwrap_or_default();
    if messages.is_empty() {
        return immediate_reply(root).map(|d| vec![d]);
    }
    Some(messages.into_iter().filter_map(message).collect())
}

/// `<response><result><status><code>N0101</code>…<object><type>domain</type>…` with
/// no message: the reply to a request, an event when it names its object.
fn immediate_reply(root: &Element) -> Option<Draft> {
    let stid = root.text_at(&["stid"])?.to_string();
    let status = root.path(&["result", "status"])?;
    let code = status.text_at(&["code"])?.to_string();
    let object_type = status
        .text_at(&["object", "type"])
        .map(str::to_ascii_lowercase)
        .filter(|t| t != "message")?;
    let mut draft = Draft::new(
        Registrar::Autodns,
        Kind::Job,
        code.clone(),
        Format::Xml,
        root.to_json(),
    );
    draft.table_name = "job".into();
    draft.event_id = Some(stid);
    draft.status = status
        .text_at(&["type"])
        .map(job_status)
        .or_else(|| code_status(&code));
    draft.status_text = status.text_at(&["text"]).map(str::to_string);
    draft.domain = names_domain(&object_type)
        .then(|| status.text_at(&["object", "value"]))
        .flatten()
        .filter(|d| looks_like_domain(d))
        .map(str::to_string);
    draft.object = Some(object_type);
    Some(draft)
}

fn names_domain(t: &str) -> bool {
    object_may_name_domain(t)
}

fn code_status(code: &str) -> Option<String> {
    match code.as_bytes().first()? {
        b'S' => Some("success".into()),
        b'E' => Some("error".into()),
        b'N' => Some("pending".into()),
        _ => None,
    }
}

fn message(msg: &Element) -> Option<Draft> {
    let id = msg.text_at(&["id"])?.to_string();
    let mut draft = match msg.child("notify") {
        Some(notify) => notify_event(msg, notify)?,
        None => job_event(msg)?,
    };
    draft.event_id = Some(id);
    draft.occurred_at = ["created", "updated"]
        .iter()
        .find_map(|k| msg.text_at(&[k]))
        .and_then(|t| time::normalize(t, time::LocalZone::Berlin));
    Some(draft)
}

fn notify_event(msg: &Element, notify: &Element) -> Option<Draft> {
    // `<notify><type>…</type>`; else any element below it naming a known event.
    let name = notify
        .text_at(&["type"])
        .map(topics::fold_spelling)
        .or_else(|| {
            notify.descendants().into_iter().find_map(|e| {
                let name = topics::fold_spelling(e.text.trim());
                topics::lookup(Registrar::Autodns, &name).map(|_| name)
            })
        })?;
    let mut draft = Draft::new(
        Registrar::Autodns,
        Kind::Event,
        name,
        Format::Xml,
        msg.to_json(),
    );
    draft.domain = notify
        .text_at(&["domain", "name"])
        .or_else(|| notify.text_at(&["transfer", "domain"]))
        .or_else(|| object_domain(msg))
        .map(str::to_string);
    draft.status_text = msg
        .text_at(&["status", "text"])
        .or_else(|| notify.text_at(&["status", "text"]))
        .map(str::to_string);
    Some(draft)
}

fn job_event(msg: &Element) -> Option<Draft> {
    let job = msg.child("job");
    let job_status_el = job.and_then(|j| j.child("status"));
    let status = job_status_el
        .filter(|s| s.child("code").is_some())
        .or_else(|| msg.child("status").filter(|s| s.child("code").is_some()));
    // Only the job's own state: `<job><status>RUNNING</status>`.
    let job_state = job_status_el
        .filter(|s| s.children.is_empty())
        .map(|s| s.text.trim())
        .filter(|s| !s.is_empty());
    let code = status.and_then(|s| s.text_at(&["code"]));
    let event_type = code.or(job_state)?.to_string();
    let mut draft = Draft::new(
        Registrar::Autodns,
        Kind::Job,
        event_type,
        Format::Xml,
        msg.to_json(),
    );
    draft.table_name = "job".into();
    draft.status = status
        .and_then(|s| s.text_at(&["type"]))
        .or(job_state)
        .map(job_status)
        .or_else(|| code.and_then(code_status));
    draft.status_text = status
        .and_then(|s| s.text_at(&["text"]))
        .map(str::to_string);
    let Some(status) = status.or(job_status_el) else {
        return Some(draft);
    };
    draft.object = status
        .text_at(&["object", "type"])
        .or_else(|| msg.text_at(&["object", "type"]))
        .map(str::to_ascii_lowercase);
    draft.domain = job
        .and_then(|j| j.text_at(&["domain", "name"]))
        .or_else(|| job.and_then(|j| j.text_at(&["transfer", "domain"])))
        .or_else(|| {
            let o = status.child("object")?;
            o.text_at(&["type"])
                .is_some_and(|t| t.eq_ignore_ascii_case("domain"))
                .then(|| o.text_at(&["value"]))?
        })
        .or_else(|| object_domain(msg))
        .map(str::to_string);
    Some(draft)
}

fn object_domain(msg: &Element) -> Option<&str> {
    let o = msg.child("object")?;
    o.text_at(&["type"])
        .is_some_and(object_may_name_domain)
        .then(|| o.text_at(&["value"]))?
        .filter(|v| looks_like_domain(v))
}
