//! *Domains*: "what happened to this domain?" — `/domains` finds domains by any part of
//! their name, with their latest state; `/domains/NAME` shows the domain's state per
//! subject (transfer, expiry, zone check, validation, …), every event about it in time
//! order across registrars and channels, and every delivery made about it.

use std::fmt::Write as _;

use hyper::StatusCode;

use super::html::{self, esc, href, link, opt, state, table, when};
use super::{Ask, Reply, Web};
use crate::store::query::StoredEvent;
use crate::store::views::domains as views;

/// Domains listed at most.
const LISTED: u64 = 200;
/// Events shown on a domain's page at most (the latest).
const EVENTS_SHOWN: u64 = 1000;

pub(super) fn list(web: &Web, ask: &Ask) -> Reply {
    let q = ask.param("q").trim().to_string();
    let mut problem = None;
    let search = if q.is_empty() {
        None
    } else if q.chars().count() < crate::store::search::MIN_CHARS {
        problem = Some(format!(
            "Give at least {} characters of the name.",
            crate::store::search::MIN_CHARS
        ));
        None
    } else {
        Some(q.to_lowercase())
    };
    let rows = match web
        .reader()
        .and_then(|c| views::domains(&c, search.as_deref(), LISTED))
    {
        Ok(r) => r,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let mut body = String::from("<h1>Domains</h1>");
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/domains\" role=\"search\">\
         <label>Name contains<input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"example.de\" minlength=\"3\" autofocus></label>\
         <button type=\"submit\">Find</button></form>",
        esc(&q)
    );
    if let Some(p) = problem {
        let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", esc(&p));
    }
    if rows.is_empty() {
        body.push_str("<p class=\"muted\" id=\"count\">No domain matches.</p>");
    } else {
        let _ = write!(
            body,
            "<p id=\"count\">{} domain(s){}, most recently active first.</p>",
            rows.len(),
            if rows.len() as u64 == LISTED {
                " (the first ones)"
            } else {
                ""
            }
        );
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let page = format!("/domains/{}", html::pct(&r.domain));
                vec![
                    link(&page, &r.domain),
                    format!(
                        "{} {}",
                        esc(&r.topic),
                        r.status.as_deref().map_or_else(|| opt(None), state)
                    ),
                    when(&r.last),
                    r.events.to_string(),
                ]
            })
            .collect();
        body.push_str(&table(&["Domain", "Latest", "When", "Events"], &cells));
    }
    Reply::Page(
        StatusCode::OK,
        html::page("Domains", "/domains", &ask.frame(), &body),
    )
}

/// What a topic is about, for the state table.
fn subject(topic: &str) -> &'static str {
    match topic {
        t if t.starts_with("transfer.") => "Transfer",
        "domain.expired"
        | "domain.renewal_reminder"
        | "domain.renewed"
        | "domain.automatic_renewal"
        | "domain.grouped_renewal_reminder"
        | "domain.renewal" => "Expiry and renewal",
        "domain.deleted" | "domain.restored" | "domain.restore" => "Deletion",
        "domain.zone_check" | "domain.dns_outage" | "domain.nameservers_changed" => "DNS and zone",
        "contact.validation" | "domain.registrant_verification" | "domain.contact_validation" => {
            "Owner validation"
        }
        "domain.created" | "domain.registered" | "domain.creation" => "Registration",
        "domain.owner_changed" | "domain.change_owner" => "Owner",
        t if t.starts_with("mailroom.") => "mailroom",
        _ => "Other",
    }
}

pub(super) fn page(web: &Web, ask: &Ask, name: &str) -> Reply {
    let (forms, _) = crate::filter::domain_forms(name);
    let read = || -> Result<_, crate::store::StoreError> {
        let conn = web.reader()?;
        let events = views::domain_events(&conn, &forms, EVENTS_SHOWN)?;
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        let deliveries = views::deliveries_of(&conn, &ids)?;
        Ok((events, deliveries))
    };
    let (events, deliveries) = match read() {
        Ok(r) => r,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let shown = forms.first().cloned().unwrap_or_else(|| name.to_string());
    let mut body = format!("<h1>{}</h1>", esc(&shown));
    if forms.len() > 1 {
        let _ = write!(
            body,
            "<p class=\"muted\">Also written {}.</p>",
            esc(&forms[1..].join(", "))
        );
    }
    if events.is_empty() {
        body.push_str("<p class=\"muted\" id=\"count\">No event about this domain is stored.</p>");
        let _ = write!(
            body,
            "<p><a href=\"{}\">Find domains with a similar name</a></p>",
            href("/domains", &[("q", &shown)])
        );
        return Reply::Page(
            StatusCode::OK,
            html::page(&shown, "/domains", &ask.frame(), &body),
        );
    }
    body.push_str("<h2>Current state</h2>");
    body.push_str(&state_table(&events));
    let _ = write!(
        body,
        "<h2>Events</h2><p id=\"count\">{} event(s), oldest first{}.</p>",
        events.len(),
        if events.len() as u64 == EVENTS_SHOWN {
            " (the latest ones)"
        } else {
            ""
        }
    );
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|s| {
            let e = &s.event;
            let [number, time] = super::events::number_and_time(s);
            vec![
                number,
                time,
                esc(e.registrar.as_str()),
                esc(&e.topic),
                esc(&e.event_type),
                e.status.as_deref().map_or_else(|| opt(None), state),
                opt(e.status_text.as_deref()),
                format!("seen {}×", s.seen_count),
            ]
        })
        .collect();
    body.push_str(&table(
        &[
            "#",
            "When",
            "Registrar",
            "Topic",
            "Type",
            "Status",
            "Registrar says",
            "Seen",
        ],
        &rows,
    ));
    body.push_str("<h2>Deliveries</h2>");
    if deliveries.is_empty() {
        body.push_str("<p class=\"muted\">None: no rule acted on these events.</p>");
    } else {
        let rows: Vec<Vec<String>> = deliveries
            .iter()
            .map(|d| {
                vec![
                    d.event.map_or_else(
                        || opt(None),
                        |e| link(&format!("/events/{e}"), &format!("#{e}")),
                    ),
                    esc(&d.channel),
                    esc(&d.target),
                    opt(d.rule.as_deref()),
                    state(d.shown_state()),
                    when(d.done_at.as_deref().unwrap_or(&d.created)),
                ]
            })
            .collect();
        body.push_str(&table(
            &["Event", "Channel", "To", "Rule", "State", "When"],
            &rows,
        ));
    }
    Reply::Page(
        StatusCode::OK,
        html::page(&shown, "/domains", &ask.frame(), &body),
    )
}

/// The latest event per subject, and whether it needs a person.
fn state_table(events: &[StoredEvent]) -> String {
    let mut latest: Vec<(&'static str, &StoredEvent)> = Vec::new();
    for s in events {
        let subj = subject(&s.event.topic);
        match latest.iter_mut().find(|(k, _)| *k == subj) {
            Some(slot) => slot.1 = s,
            None => latest.push((subj, s)),
        }
    }
    let rows: Vec<Vec<String>> = latest
        .iter()
        .map(|(subj, s)| {
            let e = &s.event;
            let now = match e.attention() {
                Some(why) => format!("<span class=\"state bad\">{}</span>", esc(why)),
                None => e.status.as_deref().map_or_else(|| opt(None), state),
            };
            vec![
                esc(subj),
                link(&format!("/events/{}", s.id), &e.topic),
                now,
                when(e.occurred_at.as_deref().unwrap_or(&s.first_seen)),
            ]
        })
        .collect();
    table(&["About", "Latest", "State", "When"], &rows)
}
