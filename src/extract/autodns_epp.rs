//! EPP poll messages (`<epp><response><msgQ id=…>` with `resData`): AutoDNS sends its
//! poll queue in this format by email when EPP is active and a message goes unconfirmed.

use super::xml::Element;
use super::{Context, Draft, time};
use crate::event::{Format, Kind, Registrar};

pub fn events(root: &Element, _ctx: &Context) -> Option<Vec<Draft>> {
    if root.local_name() != "epp" {
        return None;
    }
    let response = root.child("response")?;
    let msg_q = response.child("msgQ")?;
    let id = msg_q.attr("id")?.trim().to_string();
    let res = response.child("resData").and_then(|r| r.children.first());
    let event_type = res.map_or("message", |r| r.local_name()).to_string();
    let kind = if event_type == "panData" {
        Kind::Job
    } else {
        Kind::Event
    };
    let mut draft = Draft::new(
        Registrar::Autodns,
        kind,
        event_type,
        Format::Epp,
        response.to_json(),
    );
    draft.event_id = Some(id);
    if let Some(res) = res {
        let name = res.child("name");
        draft.domain = name
            .map(|n| n.text.trim().to_string())
            .filter(|n| !n.is_empty());
        match res.local_name() {
            "panData" => {
                let ok = name
                    .and_then(|n| n.attr("paResult"))
                    .is_some_and(|r| matches!(r.trim(), "1" | "true"));
                draft.status = Some(if ok { "success" } else { "error" }.into());
                draft.occurred_at = res.text_at(&["paDate"]).and_then(utc);
            }
            "trnData" => {
                draft.status = res.text_at(&["trStatus"]).map(str::to_ascii_lowercase);
                draft.occurred_at = res.text_at(&["reDate"]).and_then(utc);
            }
            _ => {}
        }
    }
    if draft.occurred_at.is_none() {
        draft.occurred_at = msg_q.text_at(&["qDate"]).and_then(utc);
    }
    Some(vec![draft])
}

fn utc(t: &str) -> Option<String> {
    time::normalize(t, time::LocalZone::Utc)
}
