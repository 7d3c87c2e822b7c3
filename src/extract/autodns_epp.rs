//! EPP poll messages (`<epp><response><msgQ id=…>`, RFC 5730 §2.9.2.3): AutoDNS sends
//! its poll queue in this format by email when EPP is active and a message goes
//! unconfirmed, and the queue carries what any registry put there: RFC 5731 `panData`
//! and `trnData`, and registry elements mailroom need not know (`.se`
//! `iis:deleteNotify`, DNS Belgium `dnsbe:pollRes`, Norid / nic.at `message
//! type="domain-transferred-away"`), or no `resData` at all. One `msgQ` is one event.

use super::autodns_json::looks_like_domain;
use super::xml::{self, Element};
use super::{Context, Draft, time};
use crate::event::{Format, Kind, Registrar};
use crate::topics;

/// How many elements the domain search looks at, so a huge nested copy stays cheap.
const MAX_SEARCH: usize = 10_000;

pub fn events(root: &Element, _ctx: &Context) -> Option<Vec<Draft>> {
    if root.local_name() != "epp" {
        return None;
    }
    let response = root.child("response")?;
    let msg_q = response.child("msgQ")?;
    let id = msg_q.attr("id")?.trim().to_string();
    if id.is_empty() {
        return None;
    }
    // `panData` followed by `trnData` (or anything else) is still one message: the
    // first element names it.
    // FRED registries (.cz) put the message's element inside `<msg>` itself.
    let msg = msg_q.child("msg");
    // CoCCA registries put it there as escaped XML (CDATA): read it with the same
    // strict, entity-free parser.
    let escaped: Option<Element> = msg
        .filter(|m| m.children.is_empty() && m.text.trim_start().starts_with('<'))
        .and_then(|m| xml::parse_document(m.text.trim()).ok())
        .map(|(el, _)| el);
    let res = response
        .child("resData")
        .and_then(|r| r.children.first())
        .or_else(|| msg.and_then(|m| m.children.first()))
        .or(escaped.as_ref());
    // The reply to a poll *ack* names the acknowledged message (`<msgQ count="0"
    // id="…"/>`) but carries none: no date, no text, no data.
    if res.is_none() && msg_q.child("qDate").is_none() && msg_q.child("msg").is_none() {
        return Some(Vec::new());
    }
    let extension = response.child("extension");
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
    // The text of `<msg>`, not the values of a FRED payload inside it.
    draft.status_text = msg
        .filter(|_| escaped.is_none())
        .map(|m| m.text.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    draft.domain = res
        .and_then(domain_in)
        .or_else(|| extension.and_then(domain_in));
    // Every domain a registry lists (`<entry name="domain">` ×n, Nominet
    // `domainListData`), after the primary one.
    draft.domains = res
        .into_iter()
        .chain(extension)
        .flat_map(listed_domains)
        .collect();
    if let Some(res) = res {
        // `contact:delete` is about a contact, whatever the table says of its name.
        draft.object = res
            .name
            .split_once(':')
            .map(|(prefix, _)| prefix)
            .filter(|p| matches!(*p, "domain" | "contact" | "host"))
            .map(str::to_string);
        match res.local_name() {
            "panData" => {
                let ok = res
                    .child("name")
                    .and_then(|n| n.attr("paResult"))
                    .is_some_and(|r| matches!(r.trim(), "1" | "true"));
                draft.status = Some(if ok { "success" } else { "error" }.into());
                draft.occurred_at = res.text_at(&["paDate"]).and_then(utc);
            }
            "trnData" => {
                draft.status = res.text_at(&["trStatus"]).map(str::to_ascii_lowercase);
                draft.occurred_at = res.text_at(&["reDate"]).and_then(utc);
            }
            // DNS Belgium `pollRes`, EURid `pollData`: what happened is the `action`.
            "pollRes" | "pollData" => {
                draft.status = res.text_at(&["action"]).map(str::to_ascii_lowercase);
                draft.occurred_at = res.text_at(&["date"]).and_then(utc);
            }
            "message" => draft.topic = res.attr("type").and_then(message_topic),
            _ => {}
        }
    }
    if draft.occurred_at.is_none() {
        draft.occurred_at = msg_q.text_at(&["qDate"]).and_then(utc);
    }
    // An element nobody listed is about the domain it names, if any.
    if draft.object.is_none()
        && draft.domain.is_some()
        && topics::lookup(Registrar::Autodns, &draft.table_name).is_none()
    {
        draft.object = Some("domain".into());
    }
    Some(vec![draft])
}

/// Norid and nic.at say what a `message` is in its `type` attribute.
fn message_topic(kind: &str) -> Option<&'static str> {
    let kind = kind.to_ascii_lowercase();
    if kind.contains("transferred-away") || kind.contains("transfer-away") {
        Some("transfer.out")
    } else if kind.contains("deleted") {
        Some("domain.deleted")
    } else {
        None
    }
}

/// The domain an element is about, wherever the registry put it: a `name` in the
/// domain namespace (`domain:name`, any prefix bound to `…:domain-1.0`, or a default
/// namespace), however deep, also in a nested or copied EPP message; else a registry's
/// `domainname` / `domain` element; else a Norid / nic.at `<entry name="domain">`
/// (`objectname` of a domain). Host names, contact handles and name servers never count.
fn domain_in(el: &Element) -> Option<String> {
    let mut budget = MAX_SEARCH;
    if let Some(d) = domain_name(el, &mut Vec::new(), &mut budget, false) {
        return Some(d);
    }
    let all: Vec<&Element> = std::iter::once(el)
        .chain(el.descendants())
        .take(MAX_SEARCH)
        .collect();
    all.iter()
        .find_map(|e| {
            matches!(
                e.local_name().to_ascii_lowercase().as_str(),
                "domainname" | "domain"
            )
            .then(|| leaf_domain(e))
            .flatten()
        })
        .or_else(|| {
            // EURid: `<poll:objectType>DOMAIN</poll:objectType><poll:object>…`.
            all.iter().find_map(|e| {
                let is_domain = e
                    .child("objectType")
                    .is_some_and(|t| t.text.trim().eq_ignore_ascii_case("domain"));
                is_domain.then(|| e.child("object").and_then(leaf_domain))?
            })
        })
        .or_else(|| {
            all.iter().find_map(|e| {
                if e.local_name() != "entry" {
                    return None;
                }
                match e.attr("name")? {
                    "domain" => leaf_domain(e),
                    "objectname" if object_is_domain(all.as_slice()) => leaf_domain(e),
                    _ => None,
                }
            })
        })
        .or_else(|| {
            // Last: the `name` of a registry's own element about a domain
            // (`rgp-poll:name`), never one of a host, contact, nsset or keyset.
            let mut budget = MAX_SEARCH;
            domain_name(el, &mut Vec::new(), &mut budget, true)
        })
}

/// Domains listed one per element: `domainName` / `domainname` elements and Norid /
/// nic.at / TLD-box `<entry name="domain">`.
fn listed_domains(el: &Element) -> Vec<String> {
    std::iter::once(el)
        .chain(el.descendants())
        .take(MAX_SEARCH)
        .filter(|e| {
            e.local_name().eq_ignore_ascii_case("domainname")
                || (e.local_name() == "entry" && e.attr("name") == Some("domain"))
        })
        .filter_map(leaf_domain)
        .collect()
}

fn leaf_domain(e: &Element) -> Option<String> {
    let t = e.text.trim();
    (e.children.is_empty() && looks_like_domain(t)).then(|| t.to_string())
}

/// Depth first, with the namespace declarations in scope (`(prefix, uri)`, `""` for
/// the default namespace), the first `name` element of the domain namespace.
fn domain_name<'a>(
    el: &'a Element,
    scope: &mut Vec<(&'a str, &'a str)>,
    budget: &mut usize,
    loose: bool,
) -> Option<String> {
    if *budget == 0 {
        return None;
    }
    *budget -= 1;
    let declared = scope.len();
    for (k, v) in &el.attrs {
        if k == "xmlns" {
            scope.push(("", v));
        } else if let Some(prefix) = k.strip_prefix("xmlns:") {
            scope.push((prefix, v));
        }
    }
    let prefix = el.name.split_once(':').map_or("", |(p, _)| p);
    let uri = scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| *u);
    let last = uri
        .and_then(|u| u.rsplit([':', '/']).next())
        .unwrap_or(prefix)
        .to_ascii_lowercase();
    // `urn:ietf:params:xml:ns:domain-1.0`, `http://www.nic.cz/xml/epp/domain-1.4`
    let in_domain_ns = last == "domain" || last.starts_with("domain-");
    let other_object = ["host", "contact", "nsset", "keyset"]
        .iter()
        .any(|o| last.starts_with(o) || prefix.eq_ignore_ascii_case(o));
    let in_domain_ns = in_domain_ns || (loose && !other_object);
    let found = if el.local_name() == "name" && in_domain_ns {
        leaf_domain(el)
    } else {
        None
    };
    let found = found.or_else(|| {
        el.children
            .iter()
            .find_map(|c| domain_name(c, scope, budget, loose))
    });
    scope.truncate(declared);
    found
}

/// `<entry name="objecttype">domain</entry>` among the entries.
fn object_is_domain(all: &[&Element]) -> bool {
    all.iter().any(|e| {
        e.local_name() == "entry"
            && e.attr("name") == Some("objecttype")
            && e.text.trim().eq_ignore_ascii_case("domain")
    })
}

fn utc(t: &str) -> Option<String> {
    time::normalize(t, time::LocalZone::Utc)
}
