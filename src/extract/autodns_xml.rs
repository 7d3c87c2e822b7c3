//! AutoDNS / InterNetX XML: `<response><result><data><message>…` poll responses sent
//! by email, job messages (`<job>…<status><code>`) and event messages (`<notify>`).

use super::xml::Element;
use super::{Context, Draft, autodns_json::job_status, time};
use crate::event::{Format, Kind, Registrar};
use crate::topics;

pub fn events(root: &Element, _ctx: &Context) -> Option<Vec<Draft>> {
    if root.local_name() != "response" {
        return None;
    }
    let data = root.path(&["result", "data"])?;
    let messages: Vec<&Element> = data.children_named("message").collect();
    if messages.is_empty() {
        return None;
    }
    Some(messages.into_iter().filter_map(message).collect())
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
        .or_else(|| object_domain(msg))
        .map(str::to_string);
    Some(draft)
}

fn job_event(msg: &Element) -> Option<Draft> {
    let job = msg.child("job");
    let status = job
        .and_then(|j| j.child("status"))
        .or_else(|| msg.child("status"))?;
    let code = status.text_at(&["code"])?.to_string();
    let mut draft = Draft::new(
        Registrar::Autodns,
        Kind::Job,
        code,
        Format::Xml,
        msg.to_json(),
    );
    draft.table_name = "job".into();
    draft.status = status.text_at(&["type"]).map(job_status);
    draft.object = status
        .text_at(&["object", "type"])
        .or_else(|| msg.text_at(&["object", "type"]))
        .map(str::to_ascii_lowercase);
    draft.domain = job
        .and_then(|j| j.text_at(&["domain", "name"]))
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
        .is_some_and(|t| t.eq_ignore_ascii_case("domain"))
        .then(|| o.text_at(&["value"]))?
}
